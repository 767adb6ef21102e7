//! MKCOL (RFC 4918 §9.3), extended MKCOL (RFC 5689) and MKCALENDAR (RFC 4791 §5.3.1).

use super::multistatus::{Multistatus, PropStats};
use super::proppatch::{parse_updates, PropChange};
use super::props::is_protected;
use super::resource::Resource;
use super::Req;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::CollectionKind;
use crate::tree::Target;
use crate::xml::{Element, NS_CALDAV, NS_CARDDAV, NS_DAV};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// What the body asks the new collection to be.
struct Plan {
    kind: CollectionKind,
    components: Vec<String>,
    props: Vec<PropChange>,
}

fn components_of(root: &Element) -> Vec<String> {
    let mut out = Vec::new();
    for op in root.children_named(NS_DAV, "set") {
        for prop in op.children_named(NS_DAV, "prop") {
            if let Some(s) = prop.child(NS_CALDAV, "supported-calendar-component-set") {
                for c in s.children_named(NS_CALDAV, "comp") {
                    if let Some(n) = c.attr("name") {
                        out.push(n.to_ascii_uppercase());
                    }
                }
            }
        }
    }
    out
}

fn resourcetype_of(root: &Element) -> Option<CollectionKind> {
    for op in root.children_named(NS_DAV, "set") {
        for prop in op.children_named(NS_DAV, "prop") {
            if let Some(rt) = prop.child(NS_DAV, "resourcetype") {
                if rt.child(NS_CALDAV, "calendar").is_some() {
                    return Some(CollectionKind::Calendar);
                }
                if rt.child(NS_CARDDAV, "addressbook").is_some() {
                    return Some(CollectionKind::Addressbook);
                }
                return Some(CollectionKind::Plain);
            }
        }
    }
    None
}

/// Properties that say what the new collection is, rather than being stored on it.
fn shapes_collection(p: &PropChange) -> bool {
    (p.ns == NS_DAV && p.name == "resourcetype")
        || (p.ns == NS_CALDAV && p.name == "supported-calendar-component-set")
}

/// MKCOL and MKCALENDAR.
pub async fn mkcol(
    req: &Req<'_>,
    target: &Target,
    found: Option<Resource>,
    calendar: bool,
) -> DavResult<HttpResponse> {
    let Some(path) = target.store_path() else {
        return Err(DavError::MethodNotAllowed {
            allow: super::ALLOW,
        });
    };
    if found.is_some() {
        return Err(if calendar {
            DavError::forbidden(
                Precondition::ResourceMustBeNull,
                "something already exists at this URL",
            )
        } else {
            DavError::MethodNotAllowed {
                allow: super::ALLOW,
            }
        });
    }
    let path = path.as_collection();
    let has_body = !req.body.iter().all(u8::is_ascii_whitespace);
    let mut plan = Plan {
        kind: if calendar {
            CollectionKind::Calendar
        } else {
            CollectionKind::Plain
        },
        components: Vec::new(),
        props: Vec::new(),
    };
    if has_body {
        let ct = req.header("content-type").unwrap_or("application/xml");
        if !ct.contains("xml") {
            return Err(DavError::UnsupportedMediaType {
                message: format!("MKCOL body of type {ct}"),
            });
        }
        let root = req.xml().map_err(|e| {
            if calendar {
                e
            } else {
                DavError::UnsupportedMediaType {
                    message: e.to_string(),
                }
            }
        })?;
        let expected = if calendar {
            root.is(NS_CALDAV, "mkcalendar")
        } else {
            root.is(NS_DAV, "mkcol")
        };
        if !expected {
            return Err(DavError::UnsupportedMediaType {
                message: format!("unexpected body element {}", root.name),
            });
        }
        if !calendar {
            plan.kind = resourcetype_of(&root).unwrap_or(CollectionKind::Plain);
        }
        plan.components = components_of(&root);
        plan.props = parse_updates(&root);
    }
    if plan.kind == CollectionKind::Calendar && plan.components.is_empty() {
        plan.components = vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()];
    }
    for c in &plan.components {
        if !matches!(c.as_str(), "VEVENT" | "VTODO" | "VJOURNAL") {
            return Err(DavError::forbidden(
                Precondition::SupportedCalendarComponent,
                format!("component {c} is not supported"),
            ));
        }
    }
    // Calendars and address books hold items only (RFC 4791 §4.2, RFC 6352 §5.2).
    let parent = match path.parent() {
        Some(p) => req.state.store.collection(req.tenant(), p.as_str()).await?,
        None => None,
    };
    if let Some(pc) = parent {
        if pc.kind != CollectionKind::Plain {
            return Err(DavError::forbidden(
                if pc.kind == CollectionKind::Calendar {
                    Precondition::CalendarCollectionLocationOk
                } else {
                    Precondition::AddressbookCollectionLocationOk
                },
                "collections cannot be nested inside a calendar or address book",
            ));
        }
    }
    // Everything in the body must be settable, or nothing is created (RFC 5689 §3).
    let bad: Vec<&PropChange> = plan
        .props
        .iter()
        .filter(|p| !shapes_collection(p) && (is_protected(&p.ns, &p.name) || !p.storable))
        .collect();
    if !bad.is_empty() {
        let mut ps = PropStats::default();
        for p in &plan.props {
            let code = if bad.iter().any(|b| b.ns == p.ns && b.name == p.name) {
                403
            } else {
                424
            };
            ps.status(code, &p.ns, &p.name);
        }
        let mut ms = Multistatus::new();
        ms.propstat_response(&path.href(), ps);
        let mut r = ms.finish();
        *r.status_mut() = StatusCode::FORBIDDEN;
        return Ok(r);
    }
    let coll = req
        .state
        .store
        .create_collection(
            req.tenant(),
            path.as_str(),
            plan.kind,
            &plan.components,
            true,
        )
        .await
        .map_err(|e| super::items::store_error(e, path.as_str()))?;
    let dead: Vec<(String, String, Option<String>)> = plan
        .props
        .iter()
        .filter(|p| !shapes_collection(p))
        .map(|p| (p.ns.clone(), p.name.clone(), p.value.clone()))
        .collect();
    if !dead.is_empty() {
        req.state
            .store
            .patch_dead_props(req.tenant(), &coll.path, &dead)
            .await?;
    }
    tracing::info!(path = %coll.path, kind = ?coll.kind, "collection created");
    Ok(HttpResponse::Created()
        .insert_header(("Cache-Control", "no-cache"))
        .finish())
}
