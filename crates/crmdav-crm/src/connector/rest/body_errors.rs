//! `[body_errors]`: errors inside a successful HTTP answer (JSON-RPC's `{"error": {"code": …,
//! "message": …, "data": {"name": …}}}` in a 200), recognised by an error member and mapped
//! by its name, code or message to the engine's outcomes, like `status_overrides`.

use super::def::StatusMeaning;
use super::{jsonpath, RestConnector};
use crate::connector::ConnectorError;
use serde::Deserialize;
use serde_json::Value;

/// How a CRM reports an error inside a 2xx answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyErrorsDef {
    /// JSON path of the error member; an answer where it is present and neither `null` nor
    /// `false` is an error (JSON-RPC: `error`).
    pub path: String,
    /// Paths of the human message, tried in order (default: `<path>.data.message`,
    /// `<path>.message`, `<path>`).
    #[serde(default)]
    pub message_paths: Vec<String>,
    /// Path of the error's name or class (Odoo: `error.data.name`,
    /// `odoo.exceptions.AccessDenied`).
    #[serde(default)]
    pub name_path: Option<String>,
    /// Path of the error's code (JSON-RPC: `error.code`).
    #[serde(default)]
    pub code_path: Option<String>,
    /// What an error means, first match wins (`[[body_errors.rules]]`).
    #[serde(default)]
    pub rules: Vec<BodyErrorRule>,
    /// What an error no rule matches means (default `refused`: the phone gets 403 with the
    /// CRM's message).
    #[serde(default = "refused")]
    pub default: StatusMeaning,
}

fn refused() -> StatusMeaning {
    StatusMeaning::Refused
}

/// One rule: every condition given must hold.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodyErrorRule {
    /// The error's name equals this, or ends with `.` + this (`AccessDenied` matches
    /// `odoo.exceptions.AccessDenied`).
    #[serde(default)]
    pub name: Option<String>,
    /// The error's code, compared as text (`-32601`, `"INVALID_SESSION_ID"`).
    #[serde(default)]
    pub code: Option<toml::Value>,
    /// Text the message must contain (case-insensitive).
    #[serde(default)]
    pub message_contains: Option<String>,
    /// What such an error means: `auth` (with a login auth: log in again and retry once),
    /// `forbidden`, `conflict`, `not_found`, `refused`, `unavailable` (reads are retried),
    /// `version_mismatch` (412 on the phone).
    pub means: StatusMeaning,
}

/// A recognised error: its meaning and message.
pub(super) struct BodyError {
    pub(super) means: StatusMeaning,
    pub(super) message: String,
}

impl BodyErrorsDef {
    /// Check the paths of the definition.
    pub(super) fn validate(&self) -> Result<(), String> {
        for p in std::iter::once(&self.path)
            .chain(self.message_paths.iter())
            .chain(self.name_path.iter())
            .chain(self.code_path.iter())
        {
            jsonpath::parse(p).map_err(|m| format!("body_errors: {m}"))?;
        }
        if self.path.is_empty() {
            return Err("body_errors.path must name the error member".into());
        }
        for r in &self.rules {
            if r.name.is_none() && r.code.is_none() && r.message_contains.is_none() {
                return Err(
                    "body_errors.rules: a rule needs name, code or message_contains".into(),
                );
            }
        }
        Ok(())
    }

    /// The error `body` reports, if any.
    pub(super) fn find(&self, body: &Value) -> Option<BodyError> {
        let member = jsonpath::get(body, &self.path)?;
        if matches!(member, Value::Null | Value::Bool(false)) {
            return None;
        }
        let text = |p: &str| {
            jsonpath::get(body, p)
                .and_then(jsonpath::scalar_string)
                .filter(|s| !s.is_empty())
        };
        let defaults = [
            format!("{}.data.message", self.path),
            format!("{}.message", self.path),
            self.path.clone(),
        ];
        let paths = if self.message_paths.is_empty() {
            &defaults[..]
        } else {
            &self.message_paths[..]
        };
        let name = self.name_path.as_deref().and_then(text);
        let code = self.code_path.as_deref().and_then(text);
        let message = paths
            .iter()
            .find_map(|p| text(p))
            .or_else(|| name.clone())
            .unwrap_or_else(|| "the CRM reported an error".into());
        let lower = message.to_lowercase();
        let means = self
            .rules
            .iter()
            .find(|r| {
                r.name.as_deref().is_none_or(|n| {
                    name.as_deref()
                        .is_some_and(|have| have == n || have.ends_with(&format!(".{n}")))
                }) && r.code.as_ref().is_none_or(|c| {
                    let want = match c {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    code.as_deref() == Some(want.as_str())
                }) && r
                    .message_contains
                    .as_deref()
                    .is_none_or(|m| lower.contains(&m.to_lowercase()))
            })
            .map(|r| r.means)
            .unwrap_or(self.default);
        Some(BodyError { means, message })
    }
}

impl RestConnector {
    /// The error a successful answer's JSON carries, per `[body_errors]`.
    pub(super) fn body_error(&self, body: &Value) -> Option<BodyError> {
        self.def.body_errors.as_ref()?.find(body)
    }

    /// The same, from the raw bytes of an answer (for the retry loop).
    pub(super) fn body_error_raw(&self, body: &[u8]) -> Option<BodyError> {
        let def = self.def.body_errors.as_ref()?;
        let v = serde_json::from_slice::<Value>(body).ok()?;
        def.find(&v)
    }
}

impl BodyError {
    /// As the connector's error.
    pub(super) fn into_error(self) -> ConnectorError {
        self.means.error(self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def() -> BodyErrorsDef {
        toml::from_str(
            r#"
path = "error"
name_path = "error.data.name"
code_path = "error.code"
[[rules]]
name = "AccessDenied"
means = "auth"
[[rules]]
name = "odoo.exceptions.MissingError"
means = "not_found"
[[rules]]
code = 100
means = "auth"
[[rules]]
message_contains = "was modified"
means = "version_mismatch"
"#,
        )
        .unwrap()
    }

    #[test]
    fn maps_by_name_code_and_message() {
        let d = def();
        let e = |v: Value| d.find(&v).map(|e| (e.means, e.message));
        assert!(e(json!({"result": [1]})).is_none());
        assert!(e(json!({"error": null, "result": 1})).is_none());
        assert_eq!(
            e(
                json!({"error": {"code": 200, "message": "Odoo Server Error",
                "data": {"name": "odoo.exceptions.AccessDenied", "message": "Access Denied"}}})
            ),
            Some((StatusMeaning::Auth, "Access Denied".into()))
        );
        assert_eq!(
            e(
                json!({"error": {"code": 200, "data": {"name": "odoo.exceptions.MissingError",
                "message": "Record does not exist or has been deleted."}}})
            )
            .map(|x| x.0),
            Some(StatusMeaning::NotFound)
        );
        assert_eq!(
            e(json!({"error": {"code": 100, "message": "Odoo Session Expired"}})).map(|x| x.0),
            Some(StatusMeaning::Auth)
        );
        assert_eq!(
            e(
                json!({"error": {"code": 200, "data": {"name": "odoo.exceptions.UserError",
                "message": "This record was modified in the meantime"}}})
            )
            .map(|x| x.0),
            Some(StatusMeaning::VersionMismatch)
        );
        assert_eq!(
            e(
                json!({"error": {"code": 200, "data": {"name": "odoo.exceptions.ValidationError",
                "message": "The end must be after the start"}}})
            ),
            Some((
                StatusMeaning::Refused,
                "The end must be after the start".into()
            ))
        );
    }
}
