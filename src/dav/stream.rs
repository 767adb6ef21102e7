//! Streamed multistatus bodies: a producer task renders responses into chunks that go to the
//! client as they are made, so a PROPFIND or sync over a large collection holds one chunk in
//! memory, not the whole answer.

use crate::error::DavResult;
use actix_web::web::Bytes;
use actix_web::HttpResponse;
use std::future::Future;
use tokio::sync::mpsc;

/// Flush to the client once this much is rendered.
pub const CHUNK: usize = 64 * 1024;

/// Where a producer writes.
pub struct Sink {
    tx: mpsc::Sender<Bytes>,
}

impl Sink {
    /// Send a chunk; `false` when the client went away (the producer should stop).
    pub async fn send(&self, s: String) -> bool {
        if s.is_empty() {
            return true;
        }
        self.tx.send(Bytes::from(s)).await.is_ok()
    }
}

/// A 207 response whose body `producer` writes into the sink.
pub fn multistatus<F, Fut>(producer: F) -> HttpResponse
where
    F: FnOnce(Sink) -> Fut,
    Fut: Future<Output = DavResult<()>> + 'static,
{
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let fut = producer(Sink { tx });
    actix_web::rt::spawn(async move {
        if let Err(e) = fut.await {
            // The status line is gone already; the client sees a truncated document.
            tracing::error!(error = %e, "streamed response failed midway");
        }
    });
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, actix_web::Error>(b), rx))
    });
    HttpResponse::build(actix_web::http::StatusCode::MULTI_STATUS)
        .content_type("application/xml; charset=utf-8")
        .streaming(body)
}
