//! The protocols: WebDAV class 1 (RFC 4918), CalDAV (RFC 4791), CardDAV (RFC 6352),
//! sync-collection (RFC 6578), extended MKCOL (RFC 5689), and the minimum of ACL (RFC 3744)
//! that clients read. Request bodies are parsed into typed requests at the edge, evaluated
//! against the store, and written as multistatus responses.

mod copymove;
mod items;
mod mkcol;
mod multistatus;
pub mod propfind;
mod proppatch;
pub mod props;
pub mod provision;
mod report;
pub mod resource;
pub mod stream;
pub mod validate;

use crate::error::{DavError, DavResult};
use crate::http::auth::Principal;
use crate::http::AppState;
use crate::tree;
use crate::xml::{self, Element};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use resource::Resource;

/// The DAV compliance classes we advertise (no LOCK, so no class 2).
pub const DAV_HEADER: &str = "1, 3, access-control, calendar-access, addressbook, extended-mkcol";

/// Methods we implement.
pub const ALLOW: &str =
    "OPTIONS, GET, HEAD, PUT, DELETE, PROPFIND, PROPPATCH, REPORT, MKCOL, MKCALENDAR, COPY, MOVE";

/// One request as the DAV layer sees it.
pub struct Req<'a> {
    /// Shared state.
    pub state: &'a AppState,
    /// The same state, owned, for work that outlives the handler (streamed responses).
    pub shared: actix_web::web::Data<AppState>,
    /// Who is asking.
    pub principal: &'a Principal<'a>,
    /// The HTTP request (headers, method, path).
    pub http: &'a HttpRequest,
    /// The body.
    pub body: actix_web::web::Bytes,
}

impl Req<'_> {
    /// A header as a string.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name).and_then(|v| v.to_str().ok())
    }

    /// The body parsed as XML within the configured limits.
    pub fn xml(&self) -> DavResult<Element> {
        let l = &self.state.cfg.limits;
        xml::parse(
            &self.body,
            xml::Limits {
                max_depth: l.xml_max_depth,
                max_elements: l.xml_max_elements,
            },
        )
        .map_err(|e| {
            tracing::info!(error = %e, "XML body refused");
            DavError::bad_request(e.to_string())
        })
    }

    /// Context for rendering live properties.
    pub fn prop_ctx(&self) -> props::PropCtx<'_> {
        props::PropCtx {
            principal: self.principal,
            max_resource_size: self.state.cfg.limits.max_resource_bytes,
        }
    }

    /// The tenant name.
    pub fn tenant(&self) -> &str {
        &self.principal.tenant.name
    }
}

/// Route a DAV request by method.
pub async fn dispatch(
    shared: &actix_web::web::Data<AppState>,
    principal: &Principal<'_>,
    http: &HttpRequest,
    body: actix_web::web::Bytes,
) -> DavResult<HttpResponse> {
    let target = match tree::parse(http.path()) {
        Ok(t) => t,
        Err(tree::PathError::NotFound) => return Err(DavError::NotFound),
        Err(tree::PathError::Invalid) => return Err(DavError::bad_request("invalid path")),
    };
    let state: &AppState = shared;
    let req = Req {
        state,
        shared: shared.clone(),
        principal,
        http,
        body,
    };
    let method = http.method().as_str();
    if method == "OPTIONS" {
        resource::check_access(principal, &target)?;
        return Ok(HttpResponse::Ok()
            .insert_header(("DAV", DAV_HEADER))
            .insert_header(("Allow", ALLOW))
            .insert_header(("Accept-Patch", "application/xml"))
            .finish());
    }
    crm_before(&req, method, &target).await?;
    let found = resource::resolve(state, principal, &target).await?;
    match (method, found) {
        ("PROPFIND", Some(res)) => propfind::propfind(&req, res).await,
        ("PROPPATCH", Some(res)) => proppatch::proppatch(&req, res).await,
        ("REPORT", Some(res)) => report::report(&req, res).await,
        ("GET" | "HEAD", Some(res)) => items::get(&req, res).await,
        ("PUT", found) => items::put(&req, &target, found).await,
        ("DELETE", Some(res)) => items::delete(&req, res).await,
        ("MKCOL", found) => mkcol::mkcol(&req, &target, found, false).await,
        ("MKCALENDAR", found) => mkcol::mkcol(&req, &target, found, true).await,
        ("COPY", Some(res)) => copymove::copy_move(&req, res, false).await,
        ("MOVE", Some(res)) => copymove::copy_move(&req, res, true).await,
        (
            "PROPFIND" | "PROPPATCH" | "REPORT" | "GET" | "HEAD" | "DELETE" | "COPY" | "MOVE",
            None,
        ) => Err(DavError::NotFound),
        ("POST", _) => Err(DavError::MethodNotAllowed { allow: ALLOW }),
        (m, _) => {
            tracing::info!(method = m, "unsupported method");
            Err(DavError::MethodNotAllowed { allow: ALLOW })
        }
    }
}

/// CRM-backed collections: refresh before a read (within the TTL this costs nothing), and
/// refuse what a CRM cannot express (MOVE/COPY in or out, deleting the collection itself).
async fn crm_before(req: &Req<'_>, method: &str, target: &tree::Target) -> DavResult<()> {
    let tree::Target::Store {
        path,
        collection,
        owner,
        home,
    } = target
    else {
        return Ok(());
    };
    let tenant = req.tenant();
    let Some(crm) = req.state.crm.tenant(tenant) else {
        return Ok(());
    };
    // The CRM collection the target is, or is in.
    let coll_path = if *collection {
        crm.binding(path).map(|_| path.clone())
    } else {
        let as_coll = format!("{path}/");
        if crm.binding(&as_coll).is_some() {
            Some(as_coll)
        } else {
            let (parent, _) = crate::store::split_item_path(path);
            crm.binding(&parent).map(|_| parent)
        }
    };
    match method {
        "PROPFIND" | "REPORT" | "GET" | "HEAD" => {
            if let Some(p) = &coll_path {
                req.state
                    .crm
                    .ensure_fresh(&req.state.store, tenant, p)
                    .await;
            } else if method == "PROPFIND" {
                // A home listed with Depth 1 shows each collection's CTag: refresh them.
                let home_path = tree::home_path(*home, owner);
                let depth1 = req.header("depth").map(str::trim) == Some("1");
                if depth1 && path.trim_end_matches('/') == home_path.trim_end_matches('/') {
                    for p in crm.bound_paths_under(&home_path) {
                        req.state
                            .crm
                            .ensure_fresh(&req.state.store, tenant, &p)
                            .await;
                    }
                }
            }
        }
        "COPY" | "MOVE" => {
            let dest_in_crm = req
                .header("destination")
                .and_then(|d| tree::parse_href(d).ok())
                .is_some_and(|t| match t {
                    tree::Target::Store { path, .. } => {
                        let (parent, _) = crate::store::split_item_path(path.trim_end_matches('/'));
                        crm.binding(&parent).is_some()
                            || crm
                                .binding(&format!("{}/", path.trim_end_matches('/')))
                                .is_some()
                    }
                    _ => false,
                });
            if coll_path.is_some() || dest_in_crm {
                return Err(DavError::Forbidden {
                    message: "items of a CRM-backed collection cannot be copied or moved; create or delete them instead".into(),
                    condition: None,
                });
            }
        }
        "DELETE" | "MKCOL" | "MKCALENDAR"
            if coll_path.as_deref().map(|c| c.trim_end_matches('/'))
                == Some(path.trim_end_matches('/')) =>
        {
            return Err(DavError::Forbidden {
                message: "a CRM-backed collection is declared in the tenant file and cannot be deleted or recreated".into(),
                condition: None,
            });
        }
        _ => {}
    }
    Ok(())
}

/// A bare status response.
pub fn status(code: StatusCode) -> HttpResponse {
    HttpResponse::build(code).finish()
}

/// The resource `res` must be a store collection.
pub fn as_collection(res: &Resource) -> Option<&crate::store::Collection> {
    match res {
        Resource::Collection(c) => Some(c),
        _ => None,
    }
}
