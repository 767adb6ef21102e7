//! The actix-web front end: routing by method and path, authentication, request limits,
//! logging, health and metrics. The state it serves is built by [`crate::app`].

mod metrics;

use crate::app::AppState;
use crate::auth;
use crate::dav;
use crate::error::DavError;
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use std::sync::Arc;
use std::time::Instant;

/// Run the HTTP server until interrupted.
pub async fn serve(state: Arc<AppState>, listen: &str) -> anyhow::Result<()> {
    let limit = state.cfg.limits.max_body_bytes;
    let data = web::Data::from(state);
    tracing::info!(%listen, "crmdav listening");
    HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(web::PayloadConfig::new(limit))
            .route("/healthz", web::get().to(healthz))
            .route("/healthz", web::head().to(healthz))
            .route("/readyz", web::get().to(ready))
            .route("/readyz", web::head().to(ready))
            .route("/metrics", web::get().to(metrics::render))
            .default_service(web::to(handle))
    })
    // Answers leave in one or a few writes; don't let Nagle hold them for the client's ACK.
    .on_connect(|conn, _| {
        if let Some(sock) = conn.downcast_ref::<actix_web::rt::net::TcpStream>() {
            let _ = sock.set_nodelay(true);
        }
    })
    .bind(listen)?
    .run()
    .await?;
    Ok(())
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().body("ok")
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.store.kv_get("", "ready-probe").await {
        Ok(_) => HttpResponse::Ok().body("ready"),
        Err(e) => HttpResponse::ServiceUnavailable().body(format!("state store: {e}")),
    }
}

/// Every DAV request: authenticate, read the body within the limit, dispatch.
async fn handle(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let method = req.method().as_str().to_string();
    let path = req.path().to_string();
    let request_id = uuid::Uuid::new_v4().simple().to_string();
    let span = tracing::info_span!("req", id = %&request_id[..12], %method, %path);
    let _g = span.enter();
    let resp = match handle_inner(&req, body, &state).await {
        Ok(r) => r,
        Err(e) => actix_web::ResponseError::error_response(&e),
    };
    let status = resp.status();
    state
        .metrics
        .record(&method, status.as_u16(), started.elapsed());
    tracing::info!(
        status = status.as_u16(),
        ms = started.elapsed().as_millis() as u64,
        "done"
    );
    let mut resp = resp;
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    resp
}

async fn handle_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
) -> Result<HttpResponse, DavError> {
    // RFC 6764 §5: well-known URIs redirect to the context path (no authentication needed to
    // learn where to go; the target requires it).
    let p = req.path();
    if p == "/.well-known/caldav"
        || p == "/.well-known/carddav"
        || p == "/.well-known/caldav/"
        || p == "/.well-known/carddav/"
    {
        return Ok(HttpResponse::build(StatusCode::MOVED_PERMANENTLY)
            .insert_header(("Location", crate::tree::CONTEXT))
            .finish());
    }
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let creds = header("authorization").and_then(auth::parse_basic);
    let host = header("host");
    let principal = match &creds {
        Some((u, p)) => auth::authenticate(&state.cfg, &state.auth, u, p, host),
        None => None,
    };
    let Some(principal) = principal else {
        if creds.is_some() {
            tracing::warn!("authentication failed");
        }
        // Clients probe OPTIONS on the root without credentials; everything else needs them.
        return Err(DavError::Unauthorized {
            realm: state.cfg.realm.clone(),
        });
    };
    state
        .ensure_user(&principal)
        .await
        .map_err(DavError::internal)?;
    let body = read_body(payload, state.cfg.limits.max_body_bytes).await?;
    dav::dispatch(&state.clone().into_inner(), &principal, req, body).await
}

async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, DavError> {
    use futures_util::StreamExt;
    let mut buf = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| DavError::bad_request(format!("reading the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(DavError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}
