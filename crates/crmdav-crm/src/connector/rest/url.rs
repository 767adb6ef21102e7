//! URLs come from the configured base URL only: ids are percent-encoded into path templates,
//! query ids are restricted to safe characters, and every URL the CRM hands back (next links,
//! the API origin a token names) must stay under the base URL or an allowed origin (no SSRF).

use super::def::Endpoint;
use super::transport::{parse_method, Req};
use super::RestConnector;
use crate::connector::ConnectorError;
use reqwest::Url;
use serde_json::Value;

/// Characters escaped when an id is put into a path: everything but RFC 3986 §2.3 unreserved ones,
/// so an id can never add path segments or a query.
pub(super) const ID_ESCAPE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

impl RestConnector {
    /// Base URL + path template, with `{id}` percent-encoded.
    pub(super) fn url_for(&self, template: &str, id: Option<&str>) -> Result<Url, ConnectorError> {
        let mut path = template.to_string();
        if let Some(id) = id {
            let enc = percent_encoding::utf8_percent_encode(id, ID_ESCAPE).to_string();
            path = path.replace("{id}", &enc);
        }
        let joined = format!(
            "{}/{}",
            self.base.as_str().trim_end_matches('/'),
            path.trim_start_matches('/')
        );
        let url = Url::parse(&joined).map_err(|e| ConnectorError::Protocol {
            message: format!("bad endpoint URL: {e}"),
        })?;
        self.check_origin(&url)?;
        Ok(url)
    }

    /// Refuse any URL that is not under the configured base URL (no SSRF through next links),
    /// or under the origin the token endpoint named (`auth.base_url_from`) with the base path.
    pub(super) fn check_origin(&self, url: &Url) -> Result<(), ConnectorError> {
        let under = |origin: &Url| {
            url.scheme() == origin.scheme()
                && url.host_str() == origin.host_str()
                && url.port_or_known_default() == origin.port_or_known_default()
        };
        let path_ok = url
            .path()
            .starts_with(self.base.path().trim_end_matches('/'));
        let override_ok = self
            .origin_override
            .lock()
            .ok()
            .and_then(|g| g.clone())
            .is_some_and(|o| under(&o));
        if path_ok && (under(&self.base) || override_ok) {
            Ok(())
        } else {
            Err(ConnectorError::Protocol {
                message: "the CRM pointed outside its configured base URL".into(),
            })
        }
    }

    pub(super) fn endpoint_req(
        &self,
        ep: &Endpoint,
        id: Option<&str>,
        body: Option<Value>,
        idempotent: bool,
    ) -> Result<Req, ConnectorError> {
        let mut url = self.url_for(&ep.path, id)?;
        if !ep.query.is_empty() {
            let mut pairs = Vec::with_capacity(ep.query.len());
            for (k, v) in &ep.query {
                match id {
                    // `{id}` inside a query value (a SOQL/OData filter): only ids made of
                    // letters, digits, `-`, `_`, `.` may go there, so none can change the query.
                    Some(id) if v.contains("{id}") => {
                        let safe = !id.is_empty()
                            && id
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
                        if !safe {
                            return Err(ConnectorError::NotFound {
                                message: "an id of that form cannot exist in this CRM".into(),
                            });
                        }
                        pairs.push((k, v.replace("{id}", id)));
                    }
                    _ => pairs.push((k, v.clone())),
                }
            }
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, &v);
            }
        }
        Ok(Req {
            method: parse_method(&ep.method)?,
            url,
            body: body.or_else(|| ep.body.clone()),
            headers: ep
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            idempotent,
        })
    }
}

/// Put `url` on `origin`'s scheme, host and port (the path and query stay).
pub(super) fn rebase(url: &mut Url, origin: &Url) -> Result<(), ConnectorError> {
    let bad = |_| ConnectorError::Protocol {
        message: "cannot move the request onto the API origin".into(),
    };
    url.set_scheme(origin.scheme()).map_err(bad)?;
    url.set_host(origin.host_str()).map_err(|_| bad(()))?;
    url.set_port(origin.port()).map_err(bad)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connector::rest::{auth, test_connector};

    #[test]
    fn rebase_and_allowed_origins() {
        let mut u =
            Url::parse("https://login.salesforce.com/services/data/v62.0/query?q=x").unwrap();
        rebase(
            &mut u,
            &Url::parse("https://acme.my.salesforce.com").unwrap(),
        )
        .unwrap();
        assert_eq!(
            u.as_str(),
            "https://acme.my.salesforce.com/services/data/v62.0/query?q=x"
        );
        let pats = vec!["*.my.salesforce.com".to_string()];
        let ok = |s: &str| auth::origin_allowed(&Url::parse(s).unwrap(), &pats);
        assert!(ok("https://acme.my.salesforce.com"));
        assert!(!ok("https://my.salesforce.com"));
        assert!(!ok("http://acme.my.salesforce.com"));
        assert!(!ok("https://acme.my.salesforce.com.evil.example"));
        assert!(!ok("https://user:pw@acme.my.salesforce.com"));
    }

    #[test]
    fn ids_cannot_escape_the_path() {
        let c = test_connector("https://crm.example/api/v1");
        let u = c
            .url_for("/things/{id}", Some("../../admin?x=1#y"))
            .unwrap();
        assert_eq!(
            u.as_str(),
            "https://crm.example/api/v1/things/..%2F..%2Fadmin%3Fx%3D1%23y"
        );
        assert!(c
            .check_origin(&Url::parse("https://evil.example/api/v1/x").unwrap())
            .is_err());
        assert!(c
            .check_origin(&Url::parse("https://crm.example/other").unwrap())
            .is_err());
        assert!(c
            .check_origin(&Url::parse("https://crm.example/api/v1/x?page=2").unwrap())
            .is_ok());
    }
}
