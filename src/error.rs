//! Errors of the DAV layer and their mapping to HTTP: the one place where an error becomes a
//! status code and a body.

mod precondition;

pub use precondition::Precondition;

use crate::connector::ConnectorError;
use crate::xml::{escape_text, XmlWriter};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

/// Everything a DAV request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum DavError {
    /// 401 with a Basic challenge for `realm`.
    #[error("authentication required")]
    Unauthorized { realm: String },
    /// 404.
    #[error("not found")]
    NotFound,
    /// 403, with the precondition that failed when there is one (RFC 4918 §16).
    #[error("forbidden: {message}")]
    Forbidden {
        message: String,
        condition: Option<Precondition>,
    },
    /// 405 with the methods that are allowed.
    #[error("method not allowed")]
    MethodNotAllowed { allow: &'static str },
    /// 409, with the condition that failed when there is one.
    #[error("conflict: {message}")]
    Conflict {
        message: String,
        condition: Option<Precondition>,
    },
    /// 412: `If-Match` / `If-None-Match` did not hold.
    #[error("precondition failed")]
    PreconditionFailed,
    /// 400, with the condition that failed when there is one.
    #[error("bad request: {message}")]
    BadRequest {
        message: String,
        condition: Option<Precondition>,
    },
    /// 413.
    #[error("request body too large (limit {limit} bytes)")]
    PayloadTooLarge { limit: usize },
    /// 415.
    #[error("unsupported media type: {message}")]
    UnsupportedMediaType { message: String },
    /// 422.
    #[error("request body refused: {message}")]
    Unprocessable { message: String },
    /// 501.
    #[error("not implemented: {message}")]
    NotImplemented { message: String },
    /// 507, with the condition that failed (RFC 4331 §6: `DAV:quota-not-exceeded`).
    #[error("insufficient storage: {message}")]
    InsufficientStorage {
        message: String,
        condition: Option<Precondition>,
    },
    /// The CRM refused or failed: its own status, and a `crmdav:` element in the body.
    #[error(transparent)]
    Upstream(#[from] ConnectorError),
    /// 500; the detail is logged, not sent.
    #[error("internal error: {0}")]
    Internal(String),
    /// 408: the request body did not arrive in time.
    #[error("request body not received in time")]
    RequestTimeout,
    /// 429 with `Retry-After`: too many failed logins from this client or for this user.
    #[error("too many failed logins, retry in {retry_after} s")]
    TooManyRequests { retry_after: u64 },
}

impl DavError {
    /// 403 with a precondition element.
    pub fn forbidden(condition: Precondition, message: impl Into<String>) -> Self {
        DavError::Forbidden {
            message: message.into(),
            condition: Some(condition),
        }
    }
    /// 400 with a message.
    pub fn bad_request(message: impl Into<String>) -> Self {
        DavError::BadRequest {
            message: message.into(),
            condition: None,
        }
    }
    /// 409 with a message.
    pub fn conflict(message: impl Into<String>) -> Self {
        DavError::Conflict {
            message: message.into(),
            condition: None,
        }
    }
    /// 500 from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        DavError::Internal(e.to_string())
    }

    fn condition(&self) -> Option<&Precondition> {
        match self {
            DavError::Forbidden { condition, .. }
            | DavError::Conflict { condition, .. }
            | DavError::BadRequest { condition, .. }
            | DavError::InsufficientStorage { condition, .. } => condition.as_ref(),
            // The CRM refused the credential's right to do this (a read-only role, or a
            // record the person may not change): RFC 3744 §7.1.1.
            DavError::Upstream(ConnectorError::Forbidden { .. }) => {
                Some(&Precondition::NeedPrivileges)
            }
            _ => None,
        }
    }

    fn upstream_retry_after(&self) -> Option<u64> {
        match self {
            DavError::Upstream(ConnectorError::RateLimited { retry_after })
            | DavError::Upstream(ConnectorError::Unavailable { retry_after, .. }) => {
                Some(retry_after.map(|d| d.as_secs().max(1)).unwrap_or(30))
            }
            // An unreadable answer is a 503 too: the client may try again later.
            DavError::Upstream(ConnectorError::Protocol { .. }) => Some(30),
            _ => None,
        }
    }
}

impl From<sqlx::Error> for DavError {
    fn from(e: sqlx::Error) -> Self {
        DavError::Internal(format!("state store: {e}"))
    }
}

impl ResponseError for DavError {
    fn status_code(&self) -> StatusCode {
        match self {
            DavError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            DavError::NotFound => StatusCode::NOT_FOUND,
            DavError::Forbidden { .. } => StatusCode::FORBIDDEN,
            DavError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            DavError::Conflict { .. } => StatusCode::CONFLICT,
            DavError::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
            DavError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            DavError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            DavError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            DavError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            DavError::NotImplemented { .. } => StatusCode::NOT_IMPLEMENTED,
            DavError::InsufficientStorage { .. } => StatusCode::INSUFFICIENT_STORAGE,
            DavError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            DavError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            DavError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            DavError::Upstream(e) => match e {
                ConnectorError::Invalid { .. } => StatusCode::FORBIDDEN,
                ConnectorError::Conflict { .. } => StatusCode::CONFLICT,
                ConnectorError::Forbidden { .. } => StatusCode::FORBIDDEN,
                ConnectorError::NotFound { .. } => StatusCode::NOT_FOUND,
                ConnectorError::VersionMismatch { .. } => StatusCode::PRECONDITION_FAILED,
                ConnectorError::NotSupported { .. } => StatusCode::FORBIDDEN,
                ConnectorError::RateLimited { .. }
                | ConnectorError::Unavailable { .. }
                | ConnectorError::Auth { .. }
                | ConnectorError::Protocol { .. } => StatusCode::SERVICE_UNAVAILABLE,
            },
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let mut b = HttpResponse::build(status);
        match self {
            DavError::Unauthorized { realm } => {
                b.insert_header((
                    "WWW-Authenticate",
                    format!("Basic realm=\"{realm}\", charset=\"UTF-8\""),
                ));
            }
            DavError::MethodNotAllowed { allow } => {
                b.insert_header(("Allow", *allow));
            }
            DavError::TooManyRequests { retry_after } => {
                b.insert_header(("Retry-After", retry_after.to_string()));
            }
            DavError::RequestTimeout => {
                b.insert_header(("Connection", "close"));
            }
            _ => {}
        }
        if let Some(secs) = self.upstream_retry_after() {
            b.insert_header(("Retry-After", secs.to_string()));
        }
        // Logged once, with the request's line, by the HTTP layer.
        // RFC 4918 §8.7 / §16: a DAV:error body with the condition, plus a readable description.
        let message = match self {
            DavError::Internal(_) => "internal error".to_string(),
            other => other.to_string(),
        };
        let mut w = XmlWriter::new();
        w.raw(&format!("<d:error{}>", XmlWriter::root_decls()));
        if let Some(c) = self.condition() {
            c.write(&mut w);
        }
        if let DavError::Upstream(e) = self {
            let name = match e {
                ConnectorError::Invalid { .. } => "crm-refused",
                ConnectorError::Conflict { .. } => "crm-conflict",
                ConnectorError::Forbidden { .. } => "crm-forbidden",
                // Named for what happened (a 403 for an unsupported operation is no outage).
                ConnectorError::NotSupported { .. } => "crm-not-supported",
                ConnectorError::NotFound { .. } => "crm-not-found",
                ConnectorError::VersionMismatch { .. } => "crm-changed",
                ConnectorError::Auth { .. } => "crm-auth-failed",
                ConnectorError::RateLimited { .. } => "crm-rate-limited",
                ConnectorError::Protocol { .. } => "crm-unreadable",
                ConnectorError::Unavailable { .. } => "crm-unavailable",
            };
            w.raw(&format!(
                "<x:{name} xmlns:x=\"https://crmdav.dev/ns/\">{}</x:{name}>",
                escape_text(&e.to_string())
            ));
        }
        w.raw("<d:responsedescription>");
        w.text(&message);
        w.raw("</d:responsedescription></d:error>");
        b.content_type("application/xml; charset=utf-8").body(w.buf)
    }
}

/// Result alias for the DAV layer.
pub type DavResult<T> = Result<T, DavError>;

#[cfg(test)]
mod upstream_tests {
    use super::*;

    fn answer(e: ConnectorError) -> ((), Option<String>, String) {
        let r = DavError::Upstream(e).error_response();
        let retry = r
            .headers()
            .get("Retry-After")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        use actix_web::body::MessageBody;
        let body = match r.into_body().try_into_bytes() {
            Ok(b) => String::from_utf8_lossy(b.as_ref()).into_owned(),
            Err(_) => String::new(),
        };
        ((), retry, body)
    }

    #[test]
    fn refusals_are_named_for_what_happened() {
        let m = || "x".to_string();
        let (_, _, b) = answer(ConnectorError::NotSupported { message: m() });
        assert!(b.contains("x:crm-not-supported"), "{b}");
        assert!(!b.contains("crm-unavailable"), "{b}");
        let (_, _, b) = answer(ConnectorError::Auth { message: m() });
        assert!(b.contains("x:crm-auth-failed"), "{b}");
        let (_, _, b) = answer(ConnectorError::Forbidden { message: m() });
        assert!(b.contains("x:crm-forbidden"), "{b}");
        // A write the CRM's role refused is the RFC 3744 §7.1.1 precondition as well.
        assert!(b.contains("need-privileges"), "{b}");
        let (_, _, b) = answer(ConnectorError::Invalid { message: m() });
        assert!(!b.contains("need-privileges"), "{b}");
    }

    #[test]
    fn an_unreadable_answer_is_a_503_with_retry_after() {
        let e = ConnectorError::Protocol {
            message: "malformed JSON".into(),
        };
        assert_eq!(
            DavError::Upstream(e.clone()).status_code(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        let (_, retry, b) = answer(e);
        assert_eq!(retry.as_deref(), Some("30"));
        assert!(b.contains("x:crm-unreadable"), "{b}");
    }
}
