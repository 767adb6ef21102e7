//! The actix-web front end: routing by method and path, authentication, request limits,
//! logging, health and metrics. The state it serves is built by [`crate::app`].
//!
//! The HTTP service is built here rather than with `HttpServer` so that `Expect:
//! 100-continue` is answered by [`limits::expect_continue`] (a body declared too large gets
//! 413, never `100 Continue`). Each request is logged once, in its own span, which is attached
//! to the request's future (never entered across an `.await`, where it would leak into the
//! lines of every request the worker runs meanwhile).

mod client;
mod limits;
mod metrics;
pub mod setup;
mod tls;

use crate::app::AppState;
use crate::auth::{self, Outcome};
use crate::dav;
use crate::error::DavError;
use actix_service::{fn_service, map_config, IntoServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::http::{Method, StatusCode};
use actix_web::{web, App, HttpRequest, HttpResponse};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::Instrument;

/// One listener's HTTP/1 service, before its transport (`.tcp()` or `.rustls_0_23(..)`):
/// the connection timeouts, our `Expect` step, the app. A macro because the service's type
/// cannot be named.
macro_rules! http_service {
    ($data:expr, $setup:expr, $routes:expr) => {{
        let data: web::Data<AppState> = $data;
        let setup: web::Data<setup::Setup> = $setup;
        let routes: Routes = $routes;
        let opts = &data.cfg.http;
        let limit = data.cfg.limits.max_body_bytes;
        let header_timeout = Duration::from_secs(opts.header_timeout_secs);
        let keep_alive = Duration::from_secs(opts.keep_alive_secs);
        let app = App::new()
            .app_data(data.clone())
            .app_data(setup)
            .configure(|cfg| configure(cfg, routes));
        actix_http::HttpService::build()
            // Slow clients: the request head must arrive within this, idle connections close.
            .client_request_timeout(header_timeout)
            .keep_alive(keep_alive)
            .client_disconnect_timeout(Duration::from_secs(1))
            .expect(fn_service(move |req| limits::expect_continue(req, limit)))
            .h1(map_config(
                app.into_factory()
                    .map_err(|e: actix_web::Error| e.error_response()),
                |_| AppConfig::default(),
            ))
    }};
}

/// The first step of every listener: TCP_NODELAY on the accepted socket. actix-http's
/// `tcp_nodelay` setting is applied by its protocol-detecting service only, not by the HTTP/1
/// service's `.tcp()` or `.rustls_0_23()`: without this, a streamed answer's chunks waited
/// for the client's delayed ACK (a 108 KB multiget in 64 KB chunks took 44 ms, not 1 ms).
fn nodelay<E>() -> impl actix_service::ServiceFactory<
    actix_web::rt::net::TcpStream,
    Config = (),
    Response = actix_web::rt::net::TcpStream,
    Error = E,
    InitError = (),
> {
    fn_service(|io: actix_web::rt::net::TcpStream| {
        // Best effort: a socket that refuses the option still serves, only slower.
        let _ = io.set_nodelay(true);
        std::future::ready(Ok(io))
    })
}

/// Run the HTTP server (and the operations and redirect listeners, if configured) until
/// interrupted.
pub async fn serve(state: Arc<AppState>, listen: &str) -> anyhow::Result<()> {
    let data = web::Data::from(state);
    // The sign-in page's sessions are shared by every worker and listener.
    let setup = web::Data::new(setup::Setup::new(data.store.clone())?);
    let opts = data.cfg.http.clone();
    let ops_listen = opts.ops_listen.clone();
    let tls_opts = data.cfg.tls.clone();
    let metrics_here = ops_listen.is_none();
    let mut server = actix_web::dev::Server::build();
    match &tls_opts {
        None => {
            let (data, setup) = (data.clone(), setup.clone());
            server = server.bind("crmdav", listen, move || {
                nodelay().and_then(
                    http_service!(data.clone(), setup.clone(), Routes::Dav { metrics_here }).tcp(),
                )
            })?;
        }
        Some(t) => {
            let tls = tls::Tls::load(t)?;
            let config = tls.config.clone();
            tls.watch(t.clone());
            let (data, setup) = (data.clone(), setup.clone());
            server = server.bind("crmdav-tls", listen, move || {
                nodelay().and_then(
                    http_service!(data.clone(), setup.clone(), Routes::Dav { metrics_here })
                        .rustls_0_23(config.clone()),
                )
            })?;
        }
    }
    let https_port = server_port(listen);
    if let Some(redirect) = tls_opts
        .as_ref()
        .and_then(|t| t.redirect_http_listen.clone())
    {
        server = server.bind("crmdav-redirect", &redirect, move || {
            tls::redirect_service(https_port)
        })?;
    }
    if let Some(ops) = &ops_listen {
        let data = data.clone();
        server = server.bind("crmdav-ops", ops, move || {
            nodelay().and_then(http_service!(data.clone(), setup.clone(), Routes::Operations).tcp())
        })?;
    }
    tracing::info!(
        %listen,
        tls = tls_opts.is_some(),
        redirect = ?tls_opts.as_ref().and_then(|t| t.redirect_http_listen.as_deref()),
        ops = ?ops_listen,
        "crmdav listening"
    );
    log_shutdown_signal();
    server.run().await?;
    tracing::info!("crmdav stopped");
    Ok(())
}

/// One line when a stop is asked for (actix stops the listeners and gives open requests up
/// to 30 s); "crmdav stopped" follows when they are done.
fn log_shutdown_signal() {
    #[cfg(unix)]
    tokio::spawn(async {
        use tokio::signal::unix::{signal, SignalKind};
        let (Ok(mut term), Ok(mut int)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) else {
            return;
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        tracing::info!(
            signal = name,
            "shutting down: no new connections, finishing open requests"
        );
    });
}

/// The port of a `host:port` listen address (443 when it cannot be read).
fn server_port(listen: &str) -> u16 {
    listen
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or(443)
}

/// What a listener serves.
#[derive(Clone, Copy)]
enum Routes {
    /// DAV, health probes, and `/metrics` unless it has an operations address.
    Dav { metrics_here: bool },
    /// Health probes and `/metrics` only.
    Operations,
}

fn configure(cfg: &mut web::ServiceConfig, routes: Routes) {
    cfg.route("/healthz", web::get().to(healthz))
        .route("/healthz", web::head().to(healthz))
        .route("/readyz", web::get().to(ready))
        .route("/readyz", web::head().to(ready));
    match routes {
        Routes::Dav { metrics_here } => {
            if metrics_here {
                cfg.route("/metrics", web::get().to(metrics::render));
            }
            setup::routes(cfg);
            cfg.default_service(web::to(handle));
        }
        Routes::Operations => {
            cfg.route("/metrics", web::get().to(metrics::render));
        }
    }
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

/// A refused login, for the request's log line (whose span names the client address).
struct LoginRefusal {
    login: String,
    tenant: Option<String>,
    throttled: bool,
}

/// Every DAV request: authenticate, read the body within the limits, dispatch; then one log
/// line and the request counters.
async fn handle(req: HttpRequest, body: web::Payload, state: web::Data<AppState>) -> HttpResponse {
    let started = Instant::now();
    let method = metrics::method_label(req.method());
    let request_id = request_id();
    let client = client::address(&req, &state.cfg.http.trusted_proxies);
    // Tenant and user are filled in once the credentials are checked, so every line of the
    // request (and its last, with the status) names them.
    let span = tracing::info_span!(
        "req",
        id = %&request_id[..12],
        method = %auth::bounded(req.method().as_str(), 32),
        path = %auth::bounded(req.path(), 256),
        client = %client,
        tenant = tracing::field::Empty,
        user = tracing::field::Empty,
    );
    let mut refusal = None;
    let mut tenant = None;
    let result = handle_inner(&req, body, &state, client, &mut refusal, &mut tenant)
        .instrument(span.clone())
        .await;
    let ms = started.elapsed().as_millis() as u64;
    let (mut resp, error) = match result {
        Ok(r) => (r, None),
        Err(e) => (actix_web::ResponseError::error_response(&e), Some(e)),
    };
    let status = resp.status();
    let tenant = tenant.or_else(|| refusal.as_ref().and_then(|r| r.tenant.clone()));
    let named = state.cfg.http.metrics_tenant_names;
    state.metrics.record(
        method,
        status.as_u16(),
        started.elapsed(),
        tenant.as_deref().filter(|_| named),
    );
    span.in_scope(|| log_done(status, ms, refusal.as_ref(), error.as_ref()));
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    resp
}

/// A request's id: 128 random bits as 32 hex digits (a UUID v4's `simple` form had them
/// from the OS, a `getrandom` system call per request; the thread's generator is seeded
/// from it once).
fn request_id() -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bits: u128 = rand::random();
    (0..32)
        .rev()
        .map(|i| char::from(HEX[((bits >> (4 * i)) & 0xf) as usize]))
        .collect()
}

/// The request's one log line.
fn log_done(status: StatusCode, ms: u64, refusal: Option<&LoginRefusal>, error: Option<&DavError>) {
    let status = status.as_u16();
    match (refusal, error) {
        (Some(r), _) if r.throttled => tracing::warn!(
            status, ms, login = ?r.login, tenant = %r.tenant.as_deref().unwrap_or("-"),
            "login throttled"
        ),
        (Some(r), _) => tracing::warn!(
            status, ms, login = ?r.login, tenant = %r.tenant.as_deref().unwrap_or("-"),
            "authentication failed"
        ),
        // A quota refusal (507) is the client's to resolve, not a server fault.
        (None, Some(e)) if status >= 500 && !matches!(e, DavError::InsufficientStorage { .. }) => {
            tracing::error!(status, ms, error = %e, "request failed")
        }
        (None, Some(e)) => tracing::info!(status, ms, error = %e, "request refused"),
        (None, None) => tracing::info!(status, ms, "done"),
    }
}

/// The largest body read before a well-known redirect (bytes): a PROPFIND asking for a
/// handful of properties is a few hundred.
const REDIRECT_BODY_READ: u64 = 8 * 1024;

/// The request's `Content-Length`, when it declares one.
fn declared_length(headers: &actix_web::http::header::HeaderMap) -> Option<u64> {
    headers
        .get(actix_web::http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

async fn handle_inner(
    req: &HttpRequest,
    payload: web::Payload,
    state: &web::Data<AppState>,
    client: IpAddr,
    refusal: &mut Option<LoginRefusal>,
    tenant_seen: &mut Option<String>,
) -> Result<HttpResponse, DavError> {
    // RFC 6764 §5: well-known URIs redirect to the context path (no authentication needed to
    // learn where to go; the target requires it).
    let p = req.path();
    if p == "/.well-known/caldav"
        || p == "/.well-known/carddav"
        || p == "/.well-known/caldav/"
        || p == "/.well-known/carddav/"
    {
        // iOS sends its PROPFIND body here. actix closes a connection whose request body was
        // left unread, so a small declared body is read first: the client keeps its
        // connection for the requests that follow (a new TCP connection per discovery cost
        // more than the redirect). A larger or undeclared body is not read before
        // authentication; that connection closes as before.
        if declared_length(req.headers()).is_some_and(|n| n <= REDIRECT_BODY_READ) {
            let _ = limits::read_body(payload, REDIRECT_BODY_READ as usize, &state.cfg.http).await;
        }
        return Ok(HttpResponse::build(StatusCode::MOVED_PERMANENTLY)
            .insert_header(("Location", crate::tree::CONTEXT))
            .finish());
    }
    let limit = state.cfg.limits.max_body_bytes;
    // Refused before authentication and before any of the body is read.
    limits::check_declared_length(req.headers(), limit)?;
    let header = |n: &str| req.headers().get(n).and_then(|v| v.to_str().ok());
    let creds = header("authorization").and_then(auth::parse_basic);
    let host = header("host");
    let Some((login, password)) = creds else {
        // Clients probe OPTIONS on the root without credentials; everything needs them.
        return Err(DavError::Unauthorized {
            realm: state.cfg.realm.clone(),
        });
    };
    let cfg = state.config();
    let principal = match state
        .auth
        .authenticate(&cfg, &login, &password, host, client)
        .await
    {
        Outcome::Authenticated(p) => {
            let span = tracing::Span::current();
            span.record("tenant", tracing::field::display(&p.tenant));
            span.record("user", tracing::field::display(&p.user.name));
            *tenant_seen = Some(p.tenant.clone());
            p
        }
        Outcome::Failed { tenant } => {
            *refusal = Some(LoginRefusal {
                login: auth::bounded(&login, 64),
                tenant,
                throttled: false,
            });
            return Err(DavError::Unauthorized {
                realm: state.cfg.realm.clone(),
            });
        }
        Outcome::Throttled {
            retry_after: wait,
            tenant,
        } => {
            *refusal = Some(LoginRefusal {
                login: auth::bounded(&login, 64),
                tenant,
                throttled: true,
            });
            return Err(DavError::TooManyRequests {
                retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
            });
        }
    };
    // actix hands a CONNECT the rest of the connection as its body (a tunnel), which would
    // never end: refuse it before reading (RFC 9110 §9.3.6 makes it proxy-only).
    if req.method() == Method::CONNECT {
        return Err(DavError::MethodNotAllowed { allow: dav::ALLOW });
    }
    state
        .ensure_user(&principal)
        .await
        .map_err(DavError::internal)?;
    let body = limits::read_body(payload, limit, &state.cfg.http).await?;
    dav::dispatch(&state.clone().into_inner(), &principal, req, body).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_32_hex_digits_and_differ() {
        let (a, b) = (super::request_id(), super::request_id());
        assert_eq!(a.len(), 32);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, b);
    }
}
