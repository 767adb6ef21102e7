//! Rate limits and retries: 429s are retried after `Retry-After` (bounded), 5xx answers and
//! timeouts only for reads, with exponential backoff; a CRM's own rate-limit headers pause
//! the next request.

use super::def::{RemainingFormat, ResetFormat, StatusMeaning};
use super::transport::{header_str, Req, Resp};
use super::{timefmt, RestConnector};
use crate::connector::ConnectorError;
use chrono::Utc;
use reqwest::header::HeaderMap;
use std::time::{Duration, Instant};

impl RestConnector {
    /// Send `req` until an answer is final: waits out a CRM rate limit, retries once after a
    /// refused token, retries 429s and (reads only) 5xx answers and transport failures with
    /// backoff. Returns the final answer (any status except the ones retried away) or a
    /// transport/limit error.
    pub(super) async fn execute(&self, req: &Req) -> Result<Resp, ConnectorError> {
        let mut attempt: u32 = 0;
        let mut auth_retried = false;
        loop {
            self.wait_for_rate_limit().await;
            let applied = self.auth.apply(&self.http, &self.calls).await?;
            let result = self.send_once(req, &applied).await?;
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    // without_url: an API key may sit in the query string.
                    let unreached = e.is_connect();
                    let message = e.without_url().to_string();
                    tracing::debug!(method = %req.method, path = req.url.path(), error = %message, "crm call failed");
                    if req.idempotent && attempt < self.def.max_retries {
                        self.backoff(attempt, None).await;
                        attempt += 1;
                        continue;
                    }
                    if unreached {
                        return Err(ConnectorError::not_sent(message));
                    }
                    return Err(ConnectorError::Unavailable {
                        message,
                        retry_after: None,
                    });
                }
            };
            tracing::debug!(method = %req.method, path = req.url.path(), status = resp.status.as_u16(), "crm call");
            self.note_rate_limit(&resp.headers);
            let retry_after = header_str(&resp.headers, "retry-after")
                .and_then(|v| timefmt::parse_retry_after(v, Utc::now()));
            match resp.status.as_u16() {
                401 if !auth_retried && self.auth.invalidate(&applied).await => {
                    auth_retried = true;
                    continue;
                }
                s if self.limit_exceeded(s, &resp.body) => {
                    return Err(ConnectorError::RateLimited { retry_after });
                }
                429 => {
                    let max = Duration::from_secs(self.def.max_retry_after_secs);
                    let within = retry_after.is_none_or(|d| d <= max);
                    if attempt < self.def.max_retries && within {
                        self.backoff(attempt, retry_after).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ConnectorError::RateLimited { retry_after });
                }
                500..=599 => {
                    if req.idempotent && attempt < self.def.max_retries {
                        self.backoff(attempt, retry_after).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(ConnectorError::Unavailable {
                        message: format!(
                            "HTTP {}: {}",
                            resp.status.as_u16(),
                            self.error_message(&resp.body).unwrap_or_default()
                        ),
                        retry_after,
                    });
                }
                200..=299 => match self.body_error_raw(&resp.body).map(|e| e.means) {
                    // A session the CRM reports expired inside a 200: log in again, once.
                    Some(StatusMeaning::Auth)
                        if !auth_retried && self.auth.invalidate(&applied).await =>
                    {
                        auth_retried = true;
                        continue;
                    }
                    Some(StatusMeaning::Unavailable)
                        if req.idempotent && attempt < self.def.max_retries =>
                    {
                        self.backoff(attempt, retry_after).await;
                        attempt += 1;
                        continue;
                    }
                    _ => return Ok(resp),
                },
                _ => return Ok(resp),
            }
        }
    }
}

impl RestConnector {
    /// A non-429 answer the definition declares as "rate limit exhausted".
    pub(super) fn limit_exceeded(&self, status: u16, body: &[u8]) -> bool {
        let Some(rl) = &self.def.rate_limit else {
            return false;
        };
        rl.exceeded.iter().any(|x| {
            x.status == status
                && (x.body_contains.is_empty()
                    || String::from_utf8_lossy(body).contains(&x.body_contains))
        })
    }

    pub(super) async fn backoff(&self, attempt: u32, retry_after: Option<Duration>) {
        let wait = match retry_after {
            Some(d) => d.min(Duration::from_secs(self.def.max_retry_after_secs)),
            None => Duration::from_millis(
                self.def
                    .retry_backoff_ms
                    .saturating_mul(1u64 << attempt.min(10)),
            ),
        };
        tokio::time::sleep(wait).await;
    }

    pub(super) async fn wait_for_rate_limit(&self) {
        let until = self.blocked_until.lock().ok().and_then(|g| *g);
        if let Some(until) = until {
            let now = Instant::now();
            if until > now {
                tokio::time::sleep(until - now).await;
            }
        }
    }

    pub(super) fn note_rate_limit(&self, headers: &HeaderMap) {
        let Some(rl) = &self.def.rate_limit else {
            return;
        };
        let remaining =
            header_str(headers, &rl.remaining_header).and_then(|v| match rl.remaining_format {
                RemainingFormat::Number => v.trim().parse::<i64>().ok(),
                RemainingFormat::UsedOfLimit => remaining_from_used_of_limit(v),
            });
        let mut guard = match self.blocked_until.lock() {
            Ok(g) => g,
            Err(_) => return,
        };
        if remaining.is_some_and(|r| r <= 0) {
            let max_ms = (self.def.max_retry_after_secs as i64).saturating_mul(1000);
            let wait_ms = rl
                .reset_header
                .as_deref()
                .and_then(|h| header_str(headers, h))
                .and_then(|v| v.trim().parse::<i64>().ok())
                .map(|v| match rl.reset_format {
                    ResetFormat::Seconds => v.saturating_mul(1000),
                    ResetFormat::Millis => v,
                    ResetFormat::Unix => (v - Utc::now().timestamp()).saturating_mul(1000),
                })
                .unwrap_or(1000)
                .clamp(0, max_ms);
            *guard = Some(Instant::now() + Duration::from_millis(wait_ms as u64));
        } else {
            *guard = None;
        }
    }
}

/// `api-usage=25/15000` (Salesforce `Sforce-Limit-Info`) → 14975: the first `used/limit` pair
/// (the org-wide one; per-app pairs follow it).
fn remaining_from_used_of_limit(v: &str) -> Option<i64> {
    v.split([',', ';', ' '])
        .filter_map(|part| {
            let pair = part.rsplit('=').next()?.trim();
            let (used, limit) = pair.split_once('/')?;
            Some(limit.trim().parse::<i64>().ok()? - used.trim().parse::<i64>().ok()?)
        })
        .next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn used_of_limit_header() {
        assert_eq!(
            remaining_from_used_of_limit("api-usage=25/15000"),
            Some(14975)
        );
        assert_eq!(
            remaining_from_used_of_limit("api-usage=15000/15000"),
            Some(0)
        );
        assert_eq!(
            remaining_from_used_of_limit("api-usage=3/100, per-app-api-usage=2/50(appName=x)"),
            Some(97)
        );
        assert_eq!(remaining_from_used_of_limit("nonsense"), None);
    }
}
