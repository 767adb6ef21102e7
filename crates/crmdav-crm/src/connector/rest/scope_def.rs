//! The per-person parts of a connector definition: what a scope (`mine`, `team`) means for an
//! entity, the list parameters of a calendar's time window, and the CRM's user list
//! (`docs/connectors.md`, "Scopes, windows and users"). Re-exported by `def`.

use super::def::{Endpoint, PagingDef};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;

fn default_id() -> String {
    "id".into()
}

fn default_pages() -> u32 {
    10
}

/// One scope of an entity. Values are templates: `{user.crm_id}`, `{user.email}` and
/// `{user.team_id}` are the person's; a person without the value gets nothing in the scope.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDef {
    /// Query parameters added to the list request where the CRM can filter
    /// (e.g. `{ owner_id = "{user.crm_id}" }`); people whose parameters resolve alike share
    /// one listing.
    #[serde(default)]
    pub filter_params: BTreeMap<String, String>,
    /// Predicates every record of the scope must pass, checked locally on each listed record
    /// (all must hold). Declare them beside `filter_params` too: they are how a record that
    /// left the scope is told apart from one the listing missed.
    #[serde(default, rename = "match")]
    pub matches: Vec<MatchDef>,
    /// Fields a create in this scope sets (e.g. `{ assignee_id = "{user.crm_id}" }`), as
    /// text unless named in `numeric`.
    #[serde(default)]
    pub assign: BTreeMap<String, String>,
    /// Keys of `assign` sent as JSON numbers (amagi's integer `assignee_id`).
    #[serde(default)]
    pub numeric: Vec<String>,
}

/// A local predicate over a record: the values at `path` (`a.b`, `list[].email` for every
/// element) must include one equal to `equals` (exact) or to `contains` (ASCII
/// case-insensitive, for e-mail addresses in attendee lists).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchDef {
    /// Path of the value(s) in the record; `[]` stands for every element of an array.
    pub path: String,
    /// The value must equal this template (numbers compare by their text).
    #[serde(default)]
    pub equals: Option<String>,
    /// One of the values must equal this template, ignoring ASCII case.
    #[serde(default)]
    pub contains: Option<String>,
}

/// The list parameters that carry a calendar's time window (bounds at day granularity, so
/// everyone with the same window shares one listing all day).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowDef {
    /// Parameter for the window's start.
    pub start_param: String,
    /// Parameter for the window's end.
    pub end_param: String,
    /// Format of the bounds (see `timefmt::format_instant`; empty: RFC 3339).
    #[serde(default)]
    pub format: String,
}

/// The CRM's list of its users, so people can be linked to CRM users by e-mail.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersDef {
    /// The list request.
    pub list: Endpoint,
    /// Record array in the answer; empty for a bare array.
    #[serde(default)]
    pub records_path: String,
    /// How the list is paged.
    #[serde(default)]
    pub paging: PagingDef,
    /// Path of a user's id.
    #[serde(default = "default_id")]
    pub id_field: String,
    /// Path of a user's e-mail address.
    pub email_field: String,
    /// Path of a user's display name.
    #[serde(default)]
    pub name_field: Option<String>,
    /// Path of a user's active flag; a user whose value there is not `active_value` (default
    /// `true`) is inactive and never linked. Without it every user is active.
    #[serde(default)]
    pub active_field: Option<String>,
    /// The value of `active_field` that means active (`true`, `"ACTIVE"`, …).
    #[serde(default)]
    pub active_value: Option<Value>,
    /// Path of a user's team (`{user.team_id}` in a `team` scope).
    #[serde(default)]
    pub team_field: Option<String>,
    /// Upper bound on pages read.
    #[serde(default = "default_pages")]
    pub max_pages: u32,
}

/// The request that tells whose credential this is and their role (`[me]`): asked with a
/// person's own credential, its answer's `role_path` names the role, and a role in
/// `read_only_roles` makes that person's CRM collections read-only on the phone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MeDef {
    /// The GET request's path under the base URL (`/me`).
    pub path: String,
    /// Query parameters of the request.
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// Path of the role in the answer (`role`).
    pub role_path: String,
    /// Roles that may only read (`["readonly"]`).
    #[serde(default)]
    pub read_only_roles: Vec<String>,
    /// How long a person's role is kept before it is asked again, seconds.
    #[serde(default = "default_me_ttl")]
    pub ttl_secs: u64,
}

fn default_me_ttl() -> u64 {
    300
}

/// OAuth2 authorization code with PKCE (RFC 6749 §4.1, RFC 7636) on a person's behalf: where
/// the sign-in page sends them to connect their CRM account, and how the code and later the
/// refresh token are exchanged. Their tokens then authenticate their reads and writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonOAuthDef {
    /// The CRM's authorization endpoint.
    pub authorize_url: String,
    /// The CRM's token endpoint.
    pub token_url: String,
    /// The OAuth client (usually `${client_id:-}` from the tenant's options); an empty one
    /// means the tenant does not offer it.
    pub client_id: String,
    /// The client's secret, if it has one.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes asked for.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Authorization scheme before the access token (`Bearer`).
    #[serde(default = "bearer")]
    pub scheme: String,
    /// How the client id/secret reach the token endpoint.
    #[serde(default)]
    pub client_auth: super::def::ClientAuth,
    /// Extra parameters of the authorization request (e.g. `access_type = "offline"`).
    #[serde(default)]
    pub authorize_params: BTreeMap<String, String>,
}

fn bearer() -> String {
    "Bearer".into()
}

impl PersonOAuthDef {
    /// Whether the tenant's options give it a client (and so the page offers it).
    pub fn offered(&self) -> bool {
        !self.client_id.trim().is_empty()
    }
}

/// A scope's predicates each need one comparison and parseable paths; it must narrow
/// something (a filter or a predicate), or every person would see every record.
pub(super) fn check_scope(d: &ScopeDef) -> Result<(), String> {
    if d.filter_params.is_empty() && d.matches.is_empty() {
        return Err("declare filter_params or match (or both)".into());
    }
    for m in &d.matches {
        if m.equals.is_some() == m.contains.is_some() {
            return Err(format!(
                "match on {:?}: give exactly one of `equals` and `contains`",
                m.path
            ));
        }
        crate::record::jsonpath::parse(&m.path)?;
    }
    for k in d.assign.keys() {
        crate::record::jsonpath::parse(k)?;
    }
    if let Some(k) = d.numeric.iter().find(|k| !d.assign.contains_key(*k)) {
        return Err(format!("numeric names {k:?}, which assign does not set"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::def::ConnectorDef;
    use std::collections::HashMap;

    fn with_scope(scope: &str) -> Result<ConnectorDef, String> {
        ConnectorDef::from_toml_str(
            &format!(
                "name = \"x\"\nbase_url = \"http://127.0.0.1:9\"\n[entities.t]\nlist = {{ path = \"/t\" }}\n[entities.t.scopes.mine]\n{scope}\n"
            ),
            &HashMap::new(),
        )
    }

    #[test]
    fn a_scope_must_narrow_and_each_match_compare_once() {
        assert!(with_scope("match = [{ path = \"owner\", equals = \"{user.crm_id}\" }]").is_ok());
        let e = with_scope("assign = { owner = \"{user.crm_id}\" }").unwrap_err();
        assert!(
            e.contains("entity t.scopes.mine: declare filter_params or match"),
            "{e}"
        );
        let e = with_scope("match = [{ path = \"owner\" }]").unwrap_err();
        assert!(e.contains("exactly one of `equals` and `contains`"), "{e}");
        let e = with_scope(
            "match = [{ path = \"o\", equals = \"x\" }]\nassign = { o = \"x\" }\nnumeric = [\"p\"]",
        )
        .unwrap_err();
        assert!(e.contains("numeric names \"p\""), "{e}");
    }
}
