//! The ACL reports clients use to find principals (RFC 3744 §9.3–9.5) and expand-property
//! (§3.8). A user finds only their own principal: tenants and users never see each other.

use crate::dav::multistatus::{Multistatus, PropStats};
use crate::dav::propfind::{render_props, PropRequest};
use crate::dav::props::{self, PropName};
use crate::dav::resource::{self, Resource};
use crate::dav::Req;
use crate::error::{DavError, DavResult};
use crate::tree;
use crate::xml::{Element, XmlWriter, NS_CALDAV, NS_DAV};
use actix_web::HttpResponse;

/// REPORT principal-property-search.
pub async fn property_search(
    req: &Req<'_>,
    root: &Element,
    minimal: bool,
) -> DavResult<HttpResponse> {
    let user = &req.principal.user;
    let any_of = root
        .attr("test")
        .is_some_and(|t| t.eq_ignore_ascii_case("anyof"));
    let mut results = Vec::new();
    for s in root.children_named(NS_DAV, "property-search") {
        let needle = s
            .child(NS_DAV, "match")
            .map(|m| m.text().to_lowercase())
            .unwrap_or_default();
        let props: Vec<PropName> = s
            .child(NS_DAV, "prop")
            .map(|p| p.elements().map(PropName::of).collect())
            .unwrap_or_default();
        let hit = props.iter().any(|PropName { ns, name }| {
            let value = match (ns.as_str(), name.as_str()) {
                (NS_DAV, "displayname") => user
                    .display_name
                    .clone()
                    .unwrap_or_else(|| user.name.clone()),
                (NS_CALDAV, "calendar-user-address-set") => format!(
                    "mailto:{} {}",
                    user.email.as_deref().unwrap_or(""),
                    tree::principal_href(&user.name)
                ),
                (NS_DAV, "principal-URL") | (NS_DAV, "href") => tree::principal_href(&user.name),
                _ => return false,
            };
            value.to_lowercase().contains(&needle)
        });
        results.push(hit);
    }
    let matched = if results.is_empty() {
        true
    } else if any_of {
        results.iter().any(|x| *x)
    } else {
        results.iter().all(|x| *x)
    };
    // Properties to return: those in DAV:prop, plus (leniently, as the python `caldav`
    // library sends them) property elements placed directly under the report element.
    let mut wanted: Vec<Element> = Vec::new();
    if let Some(p) = root.child(NS_DAV, "prop") {
        wanted.extend(p.elements().cloned());
    }
    for e in root.elements() {
        let structural = e.ns == NS_DAV
            && matches!(
                e.name.as_str(),
                "prop" | "property-search" | "apply-to-principal-collection-set"
            );
        if !structural && !wanted.iter().any(|w| w.is(&e.ns, &e.name)) {
            wanted.push(e.clone());
        }
    }
    let pr = PropRequest::Prop(wanted);
    let mut ms = Multistatus::new().minimal(minimal);
    if matched {
        let res = Resource::Principal(user.name.clone());
        let mut ps = PropStats::default();
        render_props(&req.prop_ctx(), &res, &[], &pr, None, &mut ps);
        ms.propstat_response(&res.href(), ps);
    }
    Ok(ms.finish())
}

/// REPORT principal-search-property-set.
pub fn search_property_set() -> HttpResponse {
    let mut w = XmlWriter::new();
    w.raw(&format!(
        "<d:principal-search-property-set{}>",
        XmlWriter::root_decls()
    ));
    for (p, name, desc) in [
        ("d", "displayname", "Display name"),
        ("c", "calendar-user-address-set", "Calendar user address"),
    ] {
        w.raw(&format!(
            "<d:principal-search-property><d:prop><{p}:{name}/></d:prop><d:description xml:lang=\"en\">{desc}</d:description></d:principal-search-property>"
        ));
    }
    w.raw("</d:principal-search-property-set>");
    HttpResponse::Ok()
        .content_type("application/xml; charset=utf-8")
        .body(w.buf)
}

/// REPORT expand-property.
pub async fn expand_property(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
    minimal: bool,
) -> DavResult<HttpResponse> {
    let mut ms = Multistatus::new().minimal(minimal);
    let mut ps = PropStats::default();
    expand_into(req, res, root, &mut ps, 0).await?;
    ms.propstat_response(&res.href(), ps);
    Ok(ms.finish())
}

fn expand_into<'a>(
    req: &'a Req<'_>,
    res: &'a Resource,
    spec: &'a Element,
    ps: &'a mut PropStats,
    depth: usize,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = DavResult<()>> + 'a>> {
    Box::pin(async move {
        if depth > 4 {
            return Err(DavError::bad_request("expand-property nested too deeply"));
        }
        let ctx = req.prop_ctx();
        for p in spec.children_named(NS_DAV, "property") {
            let name = p.attr("name").unwrap_or("").to_string();
            let ns = p.attr("namespace").unwrap_or(NS_DAV).to_string();
            let Some(value) = props::live_value(&ctx, res, &ns, &name) else {
                ps.not_found(&ns, &name);
                continue;
            };
            let mut w = XmlWriter::default();
            if p.elements().next().is_some() && props::find(&ns, &name).is_some_and(|l| l.hrefs) {
                // Replace each href by a response describing that resource.
                let hrefs = href_texts(&value);
                let mut inner = String::new();
                for h in hrefs {
                    let target = tree::parse_href(&h).ok();
                    let found = match &target {
                        Some(t) => resource::resolve(req.state, req.principal, t)
                            .await
                            .ok()
                            .flatten(),
                        None => None,
                    };
                    let mut sub = PropStats::default();
                    match &found {
                        Some(r) => expand_into(req, r, p, &mut sub, depth + 1).await?,
                        None => continue,
                    }
                    let mut m = Multistatus::bare();
                    m.propstat_response(&h, sub);
                    inner.push_str(&m.into_inner());
                }
                props::write_prop(&mut w, &ns, &name, &inner);
            } else {
                props::write_prop(&mut w, &ns, &name, &value);
            }
            ps.ok(&w.buf);
        }
        Ok(())
    })
}

/// The texts of the `<d:href>` elements in rendered property XML.
fn href_texts(xml: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find("<d:href>") {
        let after = &rest[i + 8..];
        let Some(j) = after.find("</d:href>") else {
            break;
        };
        out.push(unescape(&after[..j]));
        rest = &after[j..];
    }
    out
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}
