//! Request limits at the edge: a declared body larger than `max_body_bytes` is refused before
//! any of it is read (and, with `Expect: 100-continue`, before the client is told to send it),
//! and a body is read within a total deadline and an idle deadline per chunk.

use crate::config::HttpOptions;
use crate::error::DavError;
use actix_web::http::header::{HeaderMap, CONTENT_LENGTH};
use actix_web::{web, ResponseError};
use futures_util::StreamExt;
use std::time::Duration;
use tokio::time::{timeout_at, Instant};

/// 413 when the request declares a `Content-Length` beyond `limit` (RFC 9110 §15.5.14).
pub fn check_declared_length(headers: &HeaderMap, limit: usize) -> Result<(), DavError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    match declared {
        Some(n) if n > limit as u64 => Err(DavError::PayloadTooLarge { limit }),
        _ => Ok(()),
    }
}

/// The `Expect: 100-continue` step (RFC 9110 §10.1.1): a body declared too large gets its
/// final 413 instead of `100 Continue`; anything else proceeds (and the server then sends
/// `100 Continue`).
pub async fn expect_continue(
    req: actix_http::Request,
    limit: usize,
) -> Result<actix_http::Request, actix_http::Response<actix_web::body::BoxBody>> {
    match check_declared_length(&req.head().headers, limit) {
        Ok(()) => Ok(req),
        Err(e) => {
            tracing::info!(
                method = %crate::auth::bounded(req.method().as_str(), 32),
                path = %crate::auth::bounded(req.path(), 256),
                status = 413,
                error = %e,
                "request refused before its body"
            );
            Err(e.error_response().into())
        }
    }
}

/// Read the whole body: 413 beyond `limit`, 408 when it is not complete within
/// `body_timeout_secs` or pauses longer than `body_idle_secs` between chunks.
pub async fn read_body(
    mut payload: web::Payload,
    limit: usize,
    opts: &HttpOptions,
) -> Result<web::Bytes, DavError> {
    let deadline = Instant::now() + Duration::from_secs(opts.body_timeout_secs);
    let idle = Duration::from_secs(opts.body_idle_secs);
    let mut buf = web::BytesMut::new();
    loop {
        let until = deadline.min(Instant::now() + idle);
        let next = timeout_at(until, payload.next())
            .await
            .map_err(|_| DavError::RequestTimeout)?;
        let Some(chunk) = next else {
            return Ok(buf.freeze());
        };
        let chunk = chunk.map_err(|e| DavError::bad_request(format!("reading the body: {e}")))?;
        if buf.len() + chunk.len() > limit {
            return Err(DavError::PayloadTooLarge { limit });
        }
        buf.extend_from_slice(&chunk);
    }
}
