//! One HTTP exchange with the CRM: the request built with credentials and headers, sent under
//! a concurrency permit, counted, and the answer read in full.

use super::auth::Applied;
use super::body_template::{put_session, wants_session};
use super::url::rebase;
use super::RestConnector;
use crate::connector::ConnectorError;
use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;
use std::sync::atomic::Ordering;

/// A request about to be sent.
pub(super) struct Req {
    pub(super) method: Method,
    pub(super) url: Url,
    pub(super) body: Option<Value>,
    pub(super) headers: Vec<(String, String)>,
    /// Safe to repeat after a 5xx or a timeout (reads only).
    pub(super) idempotent: bool,
}

/// An answer, body read in full.
pub(super) struct Resp {
    pub(super) status: StatusCode,
    pub(super) headers: HeaderMap,
    pub(super) body: Vec<u8>,
}

impl RestConnector {
    /// One attempt at `req` with the credentials `applied`: `Err` when it cannot be sent at all
    /// (the API origin is unusable, the connector is shut down), `Ok(Err)` for a transport
    /// failure the caller may retry, `Ok(Ok)` for any answer.
    pub(super) async fn send_once(
        &self,
        req: &Req,
        applied: &Applied,
    ) -> Result<Result<Resp, reqwest::Error>, ConnectorError> {
        let mut url = req.url.clone();
        if let Some(origin) = self.auth.base_override().await {
            rebase(&mut url, &origin)?;
            if let Ok(mut g) = self.origin_override.lock() {
                *g = Some(origin);
            }
        }
        let mut rb;
        match applied {
            Applied::Query(k, v) => {
                url.query_pairs_mut().append_pair(k, v);
                rb = self.http.request(req.method.clone(), url);
            }
            Applied::Header(k, v) => {
                rb = self.http.request(req.method.clone(), url).header(k, v);
            }
            Applied::Basic(u, p) => {
                rb = self
                    .http
                    .request(req.method.clone(), url)
                    .basic_auth(u, Some(p));
            }
            Applied::None => rb = self.http.request(req.method.clone(), url),
            Applied::Login { header, .. } => {
                rb = self.http.request(req.method.clone(), url);
                if let Some((k, v)) = header {
                    rb = rb.header(k, v);
                }
            }
        }
        rb = rb.header("Accept", "application/json");
        for (k, v) in self.def.headers.iter() {
            rb = rb.header(k, v);
        }
        for (k, v) in &req.headers {
            // A later header of the same name wins (a record version over `If-Match: *`).
            let overridden = req
                .headers
                .iter()
                .rev()
                .find(|(k2, _)| k2.eq_ignore_ascii_case(k));
            if overridden.is_some_and(|(_, v2)| !std::ptr::eq(v2, v)) {
                continue;
            }
            rb = rb.header(k, v);
        }
        match (&req.body, applied) {
            // `{session}` in a body template takes this attempt's session.
            (Some(b), Applied::Login { session, .. }) if wants_session(b) => {
                let mut b = b.clone();
                put_session(&mut b, session);
                rb = rb.json(&b);
            }
            (Some(b), _) => rb = rb.json(b),
            (None, _) => {}
        }
        let result = {
            let _permit =
                self.permits
                    .acquire()
                    .await
                    .map_err(|_| ConnectorError::Unavailable {
                        message: "connector shut down".into(),
                        retry_after: None,
                    })?;
            self.calls.fetch_add(1, Ordering::Relaxed);
            match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let headers = resp.headers().clone();
                    match resp.bytes().await {
                        Ok(b) => Ok(Resp {
                            status,
                            headers,
                            body: b.to_vec(),
                        }),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            }
        };
        Ok(result)
    }
}

/// A definition's method name (any case) as an HTTP method.
pub(super) fn parse_method(m: &str) -> Result<Method, ConnectorError> {
    Method::from_bytes(m.to_ascii_uppercase().as_bytes()).map_err(|_| ConnectorError::Protocol {
        message: format!("bad HTTP method {m:?}"),
    })
}

/// A header's value, when it is present and visible ASCII.
pub(super) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}
