//! `[[status_overrides]]`: what an HTTP status means for one CRM, when it differs from the
//! usual reading (a bad token answered 403, a duplicate answered 400 "already exists").

use crate::connector::ConnectorError;
use serde::Deserialize;

/// One override: an answer with `status` (and, when given, a message containing
/// `message_contains`, any case) means `means`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusOverrideDef {
    /// The HTTP status this override applies to.
    pub status: u16,
    /// Text the CRM's error message must contain (case-insensitive); any message when absent.
    #[serde(default)]
    pub message_contains: Option<String>,
    /// What such an answer means.
    pub means: StatusMeaning,
}

/// The error kinds an override can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusMeaning {
    /// The credentials were refused (the phone gets 503; `crmdav check` says so).
    Auth,
    /// The credentials lack a right.
    Forbidden,
    /// A duplicate or an overlap: the phone gets 409.
    Conflict,
    /// The record does not exist.
    NotFound,
    /// The CRM refused the data (validation).
    Refused,
    /// A temporary failure.
    Unavailable,
    /// The record's version check failed (a concurrency token in the body did not match): the
    /// phone gets 412.
    VersionMismatch,
}

impl StatusMeaning {
    /// The connector error of this meaning, carrying the CRM's message.
    pub fn error(self, message: String) -> ConnectorError {
        match self {
            StatusMeaning::Auth => ConnectorError::Auth { message },
            StatusMeaning::Forbidden => ConnectorError::Forbidden { message },
            StatusMeaning::Conflict => ConnectorError::Conflict { message },
            StatusMeaning::NotFound => ConnectorError::NotFound { message },
            StatusMeaning::Refused => ConnectorError::Invalid { message },
            StatusMeaning::Unavailable => ConnectorError::Unavailable {
                message,
                retry_after: None,
            },
            StatusMeaning::VersionMismatch => ConnectorError::VersionMismatch { message },
        }
    }
}

/// The first override matching `status` and `message`, as an error.
pub(super) fn overridden(
    overrides: &[StatusOverrideDef],
    status: u16,
    message: &str,
) -> Option<ConnectorError> {
    let lower = message.to_lowercase();
    overrides
        .iter()
        .find(|o| {
            o.status == status
                && o.message_contains
                    .as_deref()
                    .is_none_or(|m| lower.contains(&m.to_lowercase()))
        })
        .map(|o| o.means.error(message.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_matching_override_wins() {
        let o = vec![
            StatusOverrideDef {
                status: 400,
                message_contains: Some("Already Exists".into()),
                means: StatusMeaning::Conflict,
            },
            StatusOverrideDef {
                status: 403,
                message_contains: None,
                means: StatusMeaning::Auth,
            },
        ];
        assert!(matches!(
            overridden(&o, 400, "email already exists"),
            Some(ConnectorError::Conflict { .. })
        ));
        assert!(overridden(&o, 400, "name is blank").is_none());
        assert!(matches!(
            overridden(&o, 403, "x"),
            Some(ConnectorError::Auth { .. })
        ));
    }
}
