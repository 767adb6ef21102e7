//! The protocols: WebDAV class 1 (RFC 4918), CalDAV (RFC 4791), CardDAV (RFC 6352),
//! sync-collection (RFC 6578), extended MKCOL (RFC 5689), and the minimum of ACL (RFC 3744)
//! that clients read. Request bodies are parsed into typed requests at the edge, evaluated
//! against the store, and written as multistatus responses.

mod copymove;
#[doc(hidden)]
pub mod fuzzing;
mod items;
mod mkcol;
mod multistatus;
pub mod propfind;
mod proppatch;
pub mod props;
mod report;
pub mod resource;
pub mod stream;
pub mod validate;

use crate::app::AppState;
use crate::auth::Principal;
use crate::collections::Refused;
use crate::error::{DavError, DavResult};
use crate::tree;
use crate::xml::{self, Element};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use resource::Resource;
use std::sync::Arc;

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
    pub shared: Arc<AppState>,
    /// Who is asking.
    pub principal: &'a Principal,
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
            quota: None,
        }
    }

    /// The tenant name.
    pub fn tenant(&self) -> &str {
        &self.principal.tenant
    }
}

/// Route a DAV request by method.
pub async fn dispatch(
    shared: &Arc<AppState>,
    principal: &Principal,
    http: &HttpRequest,
    body: actix_web::web::Bytes,
) -> DavResult<HttpResponse> {
    let target = match tree::parse(http.path()) {
        Ok(t) => t,
        Err(tree::PathError::NotFound) => return Err(DavError::NotFound),
        Err(tree::PathError::Invalid) => return Err(DavError::bad_request("invalid path")),
    };
    let state: &AppState = shared;
    // A person whose CRM role may only read sees their CRM collections without write
    // privileges (RFC 3744 §5.4), and their writes there are refused in `before`.
    let read_only = state
        .collections
        .read_only_collections(&principal.tenant, &principal.user.name)
        .await;
    let limited;
    let principal = if read_only.is_empty() {
        principal
    } else {
        limited = Principal {
            read_only: read_only.into(),
            ..principal.clone()
        };
        &limited
    };
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
    before(&req, method, &target).await?;
    if method == "PUT" {
        return items::put(&req, &target).await;
    }
    if method == "GET" || method == "HEAD" {
        if let Some(answer) = items::get_member(&req, &target).await? {
            return Ok(answer);
        }
    }
    let found = resource::resolve(state, principal, &target).await?;
    match (method, found) {
        ("PROPFIND", Some(res)) => propfind::propfind(&req, res).await,
        ("PROPPATCH", Some(res)) => proppatch::proppatch(&req, res).await,
        ("REPORT", Some(res)) => report::report(&req, res).await,
        ("GET" | "HEAD", Some(res)) => items::get(&req, res).await,
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

/// What the collections seam does before a method runs: bring a collection up to date before
/// a read, and refuse what its backend cannot express.
async fn before(req: &Req<'_>, method: &str, target: &tree::Target) -> DavResult<()> {
    let Some(path) = target.store_path() else {
        return Ok(());
    };
    let tenant = req.tenant();
    let collections = &req.state.collections;
    let refused = |e: Refused| DavError::Forbidden {
        message: e.to_string(),
        condition: None,
    };
    if matches!(method, "PUT" | "DELETE" | "MOVE" | "PROPPATCH") {
        collections
            .guard_write(tenant, &req.principal.user.name, path)
            .await
            .map_err(|e| {
                DavError::forbidden(crate::error::Precondition::NeedPrivileges, e.to_string())
            })?;
    }
    match method {
        "PROPFIND" | "REPORT" | "GET" | "HEAD" => {
            let lists_home =
                method == "PROPFIND" && req.header("depth").map(str::trim) == Some("1");
            collections.before_read(tenant, path, lists_home).await;
        }
        "COPY" | "MOVE" => {
            let dest = req
                .header("destination")
                .and_then(|d| tree::parse_href(d).ok());
            collections
                .guard_copy_move(
                    tenant,
                    path,
                    dest.as_ref().and_then(tree::Target::store_path),
                )
                .map_err(refused)?;
        }
        "DELETE" | "MKCOL" | "MKCALENDAR" => {
            collections.guard_replace(tenant, path).map_err(refused)?;
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
