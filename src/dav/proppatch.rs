//! PROPPATCH (RFC 4918 §9.2): atomic, in document order; protected properties refused.

use super::multistatus::{mark_preference, wants_minimal, Multistatus, PropStats};
use super::props::is_protected;
use super::resource::Resource;
use super::Req;
use crate::error::{DavError, DavResult};
use crate::xml::NS_DAV;
use actix_web::HttpResponse;

/// One instruction of a propertyupdate: set (with the element) or remove.
#[derive(Debug, Clone)]
pub struct PropChange {
    /// Namespace.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// The element's XML for a set; `None` for a remove.
    pub value: Option<String>,
    /// False for a value the store must not keep: one holding a character XML 1.0 forbids,
    /// which only an XML 1.1 body can carry (as a character reference) and no XML 1.0
    /// response could give back.
    pub storable: bool,
}

/// True when no text or attribute value in `e`'s subtree holds a character XML 1.0 forbids.
fn xml10_clean(e: &crate::xml::Element) -> bool {
    use crate::xml::{first_forbidden, Node};
    e.attrs.iter().all(|(_, _, v)| first_forbidden(v).is_none())
        && e.children.iter().all(|c| match c {
            Node::Text(t) => first_forbidden(t).is_none(),
            Node::Element(ch) => xml10_clean(ch),
        })
}

/// Parse the `set`/`remove` instructions under `root` (a `propertyupdate`, or the `mkcol` /
/// `mkcalendar` of RFC 5689 / RFC 4791, which only have `set`).
pub fn parse_updates(root: &crate::xml::Element) -> Vec<PropChange> {
    let mut out = Vec::new();
    for op in root.elements() {
        let set = op.is(NS_DAV, "set");
        if !set && !op.is(NS_DAV, "remove") {
            continue;
        }
        for prop in op.children_named(NS_DAV, "prop") {
            for p in prop.elements() {
                out.push(PropChange {
                    ns: p.ns.clone(),
                    name: p.name.clone(),
                    value: set.then(|| p.to_xml()),
                    storable: !set || xml10_clean(p),
                });
            }
        }
    }
    out
}

/// PROPPATCH.
pub async fn proppatch(req: &Req<'_>, res: Resource) -> DavResult<HttpResponse> {
    let root = req.xml()?;
    if !root.is(NS_DAV, "propertyupdate") {
        return Err(DavError::bad_request(
            "the body is not a DAV:propertyupdate",
        ));
    }
    let changes = parse_updates(&root);
    let path = res.store_path();
    // RFC 4918 §9.2.1: a protected property is 403; a value the server cannot keep is 409
    // ("a value whose semantics are not appropriate for the property": 403 there means
    // protected, which would tell the client the name can never be set); the rest is 424.
    let refused: Vec<Option<u16>> = changes
        .iter()
        .map(|c| {
            if path.is_none() || is_protected(&c.ns, &c.name) {
                Some(403)
            } else if !c.storable {
                Some(409)
            } else {
                None
            }
        })
        .collect();
    let ok = refused.iter().all(Option::is_none);
    let minimal = wants_minimal(req.http.headers());
    let mut ps = PropStats::default();
    for (c, r) in changes.iter().zip(&refused) {
        let code = match (ok, r) {
            (true, _) => 200,
            (false, Some(code)) => *code,
            (false, None) => 424,
        };
        if code == 200 && minimal {
            // RFC 8144 §3.2: a minimal answer lists only the properties that failed.
            continue;
        }
        if code == 200 {
            let mut w = crate::xml::XmlWriter::default();
            w.empty(&c.ns, &c.name);
            ps.ok(&w.buf);
        } else {
            ps.status(code, &c.ns, &c.name);
        }
    }
    if refused.contains(&Some(409)) {
        ps.describe(
            409,
            "the value contains a control character that XML 1.0 cannot carry",
        );
    }
    if ok {
        if let Some(p) = &path {
            let list: Vec<(String, String, Option<String>)> = changes
                .iter()
                .map(|c| (c.ns.clone(), c.name.clone(), c.value.clone()))
                .collect();
            req.state
                .store
                .patch_dead_props(req.tenant(), p, &list)
                .await?;
        }
    } else {
        tracing::info!(
            protected = refused.contains(&Some(403)),
            unstorable = refused.contains(&Some(409)),
            "PROPPATCH refused"
        );
    }
    let mut ms = Multistatus::new().minimal(minimal);
    ms.propstat_response(&res.href(), ps);
    let mut resp = ms.finish();
    // A refusal lists every property as RFC 4918 does, so the preference was not applied.
    mark_preference(&mut resp, minimal && ok);
    Ok(resp)
}
