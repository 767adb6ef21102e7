//! PROPPATCH (RFC 4918 §9.2): atomic, in document order; protected properties refused.

use super::multistatus::{Multistatus, PropStats};
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
    let refused: Vec<bool> = changes
        .iter()
        .map(|c| path.is_none() || is_protected(&c.ns, &c.name))
        .collect();
    let ok = !refused.iter().any(|r| *r);
    let mut ps = PropStats::default();
    for (c, r) in changes.iter().zip(&refused) {
        let code = match (ok, r) {
            (true, _) => 200,
            (false, true) => 403,
            (false, false) => 424,
        };
        if code == 200 {
            let mut w = crate::xml::XmlWriter::default();
            w.empty(&c.ns, &c.name);
            ps.ok(&w.buf);
        } else {
            ps.status(code, &c.ns, &c.name);
        }
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
        tracing::info!("PROPPATCH refused: protected property");
    }
    let mut ms = Multistatus::new();
    ms.propstat_response(&res.href(), ps);
    Ok(ms.finish())
}
