//! The `connectors/<crm>.toml` format: what a REST CRM looks like, as data.
//!
//! See `docs/connectors.md` for the reference and a worked example. Every string may use
//! `${VAR}` (or `${VAR:-default}`) placeholders filled from the tenant's options when the
//! connector is built; an unknown variable without a default is a configuration error.

pub use super::body_errors::{BodyErrorRule, BodyErrorsDef};
use super::scope_def::check_scope;
pub use super::scope_def::{MatchDef, MeDef, PersonOAuthDef, ScopeDef, UsersDef, WindowDef};
pub use super::status_map::{StatusMeaning, StatusOverrideDef};
pub use crate::record::typed_values::{DateCodecDef, ValueCodecDef};
use crate::record::vars::{substitute, substitute_toml};
use serde::Deserialize;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

/// A whole connector definition.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorDef {
    /// Short name of the CRM (e.g. `amagi-crm`).
    pub name: String,
    /// Base URL of the API; endpoint paths are appended to it. The only upstream host used.
    pub base_url: String,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: AuthDef,
    /// Which of `auth_variants` to use (usually `${auth:-…}` from the tenant's options);
    /// resolved before the definition is read, so the unused variants' `${VAR}`s need no value.
    #[serde(default)]
    pub auth_variant: Option<String>,
    /// Named alternatives for `[auth]` (e.g. a static token or an OAuth2 refresh token).
    #[serde(default)]
    pub auth_variants: BTreeMap<String, toml::Value>,
    /// Extra headers sent on every request (e.g. an API version).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
    /// At most this many requests in flight to this tenant's CRM.
    #[serde(default = "default_concurrency")]
    pub max_concurrency: usize,
    /// Retries after a 429 (any method) or a 5xx/timeout (GET only).
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff step in milliseconds for 5xx/timeouts; doubled on each retry.
    #[serde(default = "default_backoff")]
    pub retry_backoff_ms: u64,
    /// Longest `Retry-After` the engine will sleep for; longer waits fail at once with
    /// `RateLimited` so the CRM layer can serve stale data instead.
    #[serde(default = "default_max_retry_after")]
    pub max_retry_after_secs: u64,
    /// JSON paths tried in order to find the CRM's message in an error body. A path ending
    /// in `*` (`errors.*`, or `*` for the whole body) reads messages kept under a key per
    /// field and keeps the field name (`last_name: may not be empty`). Booleans (`"error":
    /// true`) are never taken as a message.
    #[serde(default = "default_error_paths")]
    pub error_message_paths: Vec<String>,
    /// What an error status means for this CRM when it differs from the usual reading
    /// (`[[status_overrides]]`: `status`, optional `message_contains`, `means`); the first
    /// match wins, other answers keep the default mapping.
    #[serde(default)]
    pub status_overrides: Vec<StatusOverrideDef>,
    /// Rate-limit headers the CRM sends on every answer.
    #[serde(default)]
    pub rate_limit: Option<RateLimitDef>,
    /// Time zone for naive timestamps the CRM sends or expects (IANA or Windows name).
    #[serde(default = "default_tz")]
    pub timezone: String,
    /// Entities by name (the names the CRM layer and mappings use).
    pub entities: BTreeMap<String, EntityDef>,
    /// A request header the CRM reads as an idempotency key on creates (e.g.
    /// `Idempotency-Key`): the gateway sends one derived from the phone's item and body, so a
    /// repeated create is dropped by the CRM itself, and creates may then be retried after a
    /// 5xx or a timeout like reads.
    #[serde(default)]
    pub idempotency_key_header: Option<String>,
    /// The CRM's user list (`[users]`), for linking people to CRM users by e-mail.
    #[serde(default)]
    pub users: Option<UsersDef>,
    /// Errors inside a successful answer (`[body_errors]`: JSON-RPC's `{"error": …}` in an
    /// HTTP 200), mapped by name or code like `status_overrides`.
    #[serde(default)]
    pub body_errors: Option<BodyErrorsDef>,
    /// How the CRM encodes dates and empty values (`[values]`), for `modified_field` and the
    /// deleted-records feed's times; mapping files declare the same table for their fields.
    #[serde(default)]
    pub values: ValueCodecDef,
    /// Who the credential belongs to (`[me]`): the request that tells a person's role, so a
    /// read-only role makes their collections read-only on the phone.
    #[serde(default)]
    pub me: Option<MeDef>,
    /// OAuth2 authorization code with PKCE on a person's behalf (`[person_oauth]`): the
    /// sign-in page's "connect your CRM account"; offered when its `client_id` is not empty.
    #[serde(default)]
    pub person_oauth: Option<PersonOAuthDef>,
}

fn default_timeout() -> u64 {
    30
}
fn default_concurrency() -> usize {
    4
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    250
}
fn default_max_retry_after() -> u64 {
    60
}
fn default_tz() -> String {
    "UTC".into()
}
fn default_error_paths() -> Vec<String> {
    [
        "detail",
        "message",
        "error.message",
        "error",
        "errors[0].message",
        "errors.*",
        "title",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Authentication styles.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum AuthDef {
    /// No authentication.
    #[default]
    None,
    /// `Authorization: Bearer <token>` with a static token.
    Bearer { token: String },
    /// An API key in a header or a query parameter.
    ApiKey {
        /// Header or parameter name.
        name: String,
        /// The key.
        value: String,
        /// `header` (default) or `query`.
        #[serde(default)]
        location: KeyLocation,
        /// Optional prefix for a header value (e.g. `Token `).
        #[serde(default)]
        prefix: String,
    },
    /// HTTP Basic.
    Basic { username: String, password: String },
    /// OAuth2 client-credentials grant.
    Oauth2ClientCredentials {
        token_url: String,
        client_id: String,
        client_secret: String,
        #[serde(default)]
        scopes: Vec<String>,
        /// Authorization scheme before the access token (`Bearer`; Zoho: `Zoho-oauthtoken`).
        #[serde(default = "bearer_scheme")]
        scheme: String,
        /// How the client id/secret reach the token endpoint: `basic` (default) or
        /// `request_body`.
        #[serde(default)]
        client_auth: ClientAuth,
        /// A field of the token response holding the API's origin (Salesforce `instance_url`).
        #[serde(default)]
        base_url_from: Option<String>,
        /// Hosts that `base_url_from` may name (`*.my.salesforce.com`); required with it.
        #[serde(default)]
        base_url_hosts: Vec<String>,
    },
    /// OAuth2 refresh-token grant; rotated refresh tokens go to the `TokenStore`.
    Oauth2RefreshToken {
        token_url: String,
        client_id: String,
        #[serde(default)]
        client_secret: Option<String>,
        /// The refresh token to start from when the `TokenStore` has none.
        refresh_token: String,
        #[serde(default)]
        scopes: Vec<String>,
        /// Authorization scheme before the access token (`Bearer`; Zoho: `Zoho-oauthtoken`).
        #[serde(default = "bearer_scheme")]
        scheme: String,
        /// How the client id/secret reach the token endpoint: `basic` (default) or
        /// `request_body`.
        #[serde(default)]
        client_auth: ClientAuth,
        /// A field of the token response holding the API's origin (Salesforce `instance_url`).
        #[serde(default)]
        base_url_from: Option<String>,
        /// Hosts that `base_url_from` may name (`*.my.salesforce.com`); required with it.
        #[serde(default)]
        base_url_hosts: Vec<String>,
    },
    /// A login call that answers a session id or token (JSON-RPC `common.login`, a
    /// `/session/authenticate` that sets a cookie, a `POST /login` answering a token); see
    /// [`LoginDef`].
    Login(LoginDef),
}

pub use super::auth_login::LoginDef;

fn bearer_scheme() -> String {
    "Bearer".into()
}

/// How an OAuth2 client sends its id and secret to the token endpoint.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic (RFC 6749 §2.3.1 `client_secret_basic`, the default).
    #[default]
    Basic,
    /// `client_id` and `client_secret` as form fields in the request body
    /// (`client_secret_post`: HubSpot, Salesforce, Entra ID, Zoho).
    RequestBody,
}

/// Where an API key goes.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeyLocation {
    #[default]
    Header,
    Query,
}

/// Rate-limit headers.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitDef {
    /// Header with the requests left in the window (e.g. `X-RateLimit-Remaining`).
    pub remaining_header: String,
    /// Header telling when the window resets.
    pub reset_header: Option<String>,
    /// `seconds` (delta, default), `millis` (delta or window length in ms) or `unix`.
    #[serde(default)]
    pub reset_format: ResetFormat,
    /// How the remaining header reads: `number` (default) or `used_of_limit`
    /// (`api-usage=25/15000`: the first `used/limit` pair in the value).
    #[serde(default)]
    pub remaining_format: RemainingFormat,
    /// Answers other than 429 that mean "limit exceeded" (e.g. Salesforce's 403 with
    /// `REQUEST_LIMIT_EXCEEDED`): they fail at once with `RateLimited`, without retries.
    #[serde(default)]
    pub exceeded: Vec<ExceededDef>,
}

/// A non-429 answer that means the CRM's rate limit is exhausted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExceededDef {
    pub status: u16,
    /// Text the body must contain (e.g. an error code); empty = any body.
    #[serde(default)]
    pub body_contains: String,
}

/// How a rate-limit remaining header is expressed.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum RemainingFormat {
    #[default]
    Number,
    UsedOfLimit,
}

/// How a rate-limit reset header is expressed.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ResetFormat {
    #[default]
    Seconds,
    Millis,
    Unix,
}

/// One entity (a CRM object type).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityDef {
    /// JSON path of the id inside a record.
    #[serde(default = "default_id")]
    pub id_field: String,
    /// JSON path of the modified time inside a record, when the CRM has one.
    #[serde(default)]
    pub modified_field: Option<String>,
    /// JSON path of an opaque version (sent back on update through `version_header`).
    #[serde(default)]
    pub version_field: Option<String>,
    /// Header carrying the version on update (e.g. `If-Match`).
    #[serde(default)]
    pub version_header: Option<String>,
    /// JSON path of the record array in a list answer; empty for a bare array.
    #[serde(default)]
    pub records_path: String,
    /// JSON path of the record in a single-record answer (get/create/update); empty for the body.
    #[serde(default)]
    pub record_path: String,
    /// The record (or at least its id) in create/update answers when it is not at
    /// `record_path` (Zoho: `data[0].details`); default `record_path`.
    #[serde(default)]
    pub write_record_path: Option<String>,
    /// Wrap create/update bodies at this JSON path: `properties` → `{"properties": {…}}`,
    /// `data[0]` → `{"data": [{…}]}`.
    #[serde(default)]
    pub body_wrap: Option<String>,
    /// List endpoint.
    pub list: Endpoint,
    /// Single-record GET; without it `get` scans the list (capabilities say so).
    #[serde(default)]
    pub get: Option<Endpoint>,
    /// Create endpoint.
    #[serde(default)]
    pub create: Option<Endpoint>,
    /// Update endpoint.
    #[serde(default)]
    pub update: Option<Endpoint>,
    /// How records are deleted.
    #[serde(default)]
    pub delete: DeleteDef,
    /// How lists are paged.
    #[serde(default)]
    pub paging: PagingDef,
    /// How "modified since" is asked for; absent when the CRM cannot filter.
    #[serde(default)]
    pub modified_since: Option<ModifiedSinceDef>,
    /// The CRM has a deleted-records feed (not used by the engine yet; reported in capabilities).
    #[serde(default)]
    pub deletion_feed: bool,
    /// Upper bound on pages read when `get` has to scan the list.
    #[serde(default = "default_scan_pages")]
    pub max_scan_pages: u32,
    /// After a create or update, read the record back with `get` (for CRMs whose write
    /// answers carry only the id, e.g. Zoho's `data[0].details` or Salesforce's
    /// `{"id": …, "success": true}`, or 204). One more call per write.
    #[serde(default)]
    pub refetch_after_write: bool,
    /// JSON path of the new id inside a create answer's record (`write_record_path`), when it
    /// differs from `id_field` (Salesforce answers `{"id": …}` while records carry `Id`).
    #[serde(default)]
    pub created_id_path: Option<String>,
    /// The CRM's deleted-records feed (`Connector::list_deleted`); implies `deletion_feed`.
    #[serde(default)]
    pub deleted: Option<DeletedDef>,
    /// How to find a record this gateway just created when the create's answer was lost (a
    /// timeout, a 5xx or a reset after the body was sent, or an answer without an id).
    #[serde(default)]
    pub find_created: Option<FindCreatedDef>,
    /// What a per-person scope means for this entity (`mine`, `team`): the CRM filter and/or
    /// the local predicate, and the fields a create in that scope assigns. A tenant file's
    /// collection with `scope = "mine"` over an entity without `scopes.mine` is refused.
    #[serde(default)]
    pub scopes: BTreeMap<String, ScopeDef>,
    /// How a calendar's time window is asked of the CRM (the list parameters that carry its
    /// bounds); without it the window is applied locally only.
    #[serde(default)]
    pub window: Option<WindowDef>,
    /// The JSON type of a record id where a body template places `{id}`: `string` (default)
    /// or `integer` (Odoo, JSON-RPC ERPs).
    #[serde(default)]
    pub id_type: IdType,
    /// The JSON type of `{version}` in a body template (the record's `version_field`).
    #[serde(default)]
    pub version_type: IdType,
}

pub use super::body_template::IdType;

/// A lookup for a record the gateway created but never heard back about
/// (`Connector::find_created`): a list or search request filtered by what was sent, and the
/// fields a found record must carry with the values sent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FindCreatedDef {
    /// The request. `{sent.<path>}` in a query value, a header or a body string is the value
    /// sent at that JSON path (before `body_wrap`); a query parameter whose value is missing
    /// from what was sent is left out. In a body, `{since}` is the start of the window
    /// (formatted per `format`) and the paging placeholders work as in a search body.
    #[serde(default)]
    pub list: Option<Endpoint>,
    /// Instead of `list`: the entity's own listing of records modified since the start of the
    /// window (its `modified_since` filter), for CRMs whose search needs a query language.
    #[serde(default)]
    pub modified_since: bool,
    /// JSON paths (in what was sent, and in a found record) whose values must be equal; at
    /// least one. A unique field the mapping writes (the iCalendar UID stored in the CRM) makes
    /// the match exact; otherwise list every field the mapping writes.
    #[serde(rename = "match")]
    pub match_fields: Vec<String>,
    /// JSON path of the record's creation time; records created outside the window around the
    /// lost create are not taken.
    #[serde(default)]
    pub created_field: Option<String>,
    /// Half-width of that window, in seconds (clock skew plus the CRM's own delay).
    #[serde(default = "default_window")]
    pub window_secs: u64,
    /// Record array in the answer; default the entity's `records_path`.
    #[serde(default)]
    pub records_path: Option<String>,
    /// Paging of the lookup; default the entity's `paging`.
    #[serde(default)]
    pub paging: Option<PagingDef>,
    /// Format of `{since}` in a body (see `timefmt::format_instant`).
    #[serde(default)]
    pub format: String,
    /// Upper bound on pages read.
    #[serde(default = "default_lookup_pages")]
    pub max_pages: u32,
}

fn default_window() -> u64 {
    600
}
fn default_lookup_pages() -> u32 {
    10
}

/// A deleted-records feed: an endpoint listing ids (and ideally deletion times) of removed
/// records. It is listed like the entity; `records_path`, `id_field` and `paging` default to
/// the entity's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeletedDef {
    /// The feed's endpoint (e.g. `GET /objects/x?archived=true`, `GET /sobjects/X/deleted/`,
    /// `GET /Contacts/deleted?type=all`).
    pub list: Endpoint,
    /// Record array in the answer; default the entity's `records_path`.
    #[serde(default)]
    pub records_path: Option<String>,
    /// Id path inside one entry; default the entity's `id_field`.
    #[serde(default)]
    pub id_field: Option<String>,
    /// Deletion time inside one entry (reported as `modified`); entries at or before `since`
    /// are dropped.
    #[serde(default)]
    pub deleted_field: Option<String>,
    /// Paging of the feed; default the entity's `paging`.
    #[serde(default)]
    pub paging: Option<PagingDef>,
    /// How the time window is asked for (e.g. `start`/`end` query parameters or an
    /// `If-Modified-Since` header); not taken from the entity: without it the whole feed is
    /// read and filtered by `deleted_field`.
    #[serde(default)]
    pub since: Option<ModifiedSinceDef>,
    /// Without a `since` from the caller, ask for this many days back (feeds that need a start).
    #[serde(default)]
    pub lookback_days: Option<u32>,
}

fn default_id() -> String {
    "id".into()
}
fn default_scan_pages() -> u32 {
    100
}

/// One HTTP endpoint: method, path template (`{id}` is the record id, percent-encoded),
/// fixed query parameters and an optional fixed body (for POST-based lists).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    #[serde(default = "default_get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    /// A body template (JSON). Strings that are exactly a placeholder become its typed value:
    /// `{record}` (create/update: the mapped record), `{id}` (typed per `id_type`), `{version}`,
    /// `{since}`, `{limit}`, `{offset}`, `{page}`, `{cursor}`, `{session}` (a login session);
    /// inside longer strings they are replaced as text. A member whose placeholder has no value
    /// is left out. Without a body, create and update send the mapped record.
    #[serde(default)]
    pub body: Option<Value>,
    /// Create and update: fields merged into the mapped record before it is wrapped, by JSON
    /// path (`{ type = "person", "owner.id" = 3 }`); a value the mapping wrote wins.
    #[serde(default)]
    pub constants: BTreeMap<String, Value>,
    /// Headers for this endpoint (e.g. `Prefer`, `If-Match = "*"`); a record version sent
    /// through `version_header` replaces a header of the same name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

fn default_get() -> String {
    "GET".into()
}

/// How deletion is expressed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum DeleteDef {
    /// Deleting is refused with `NotSupported`.
    #[default]
    Forbidden,
    /// A plain request (usually `DELETE /things/{id}`).
    Delete {
        #[serde(default = "default_delete")]
        method: String,
        path: String,
        #[serde(default)]
        headers: BTreeMap<String, String>,
        /// A body template (`{id}`, `{session}`): RPC APIs that delete by a POST.
        #[serde(default)]
        body: Option<Value>,
    },
    /// A status change: `body` is sent to `path` with `method` (e.g. PATCH `{"status":"cancelled"}`,
    /// or POST to a `/cancel` action).
    StatusChange {
        #[serde(default = "default_patch")]
        method: String,
        path: String,
        #[serde(default)]
        body: Option<Value>,
        /// Headers for the request (e.g. `If-Match = "*"` so an OData PATCH cannot create).
        #[serde(default)]
        headers: BTreeMap<String, String>,
    },
}

fn default_delete() -> String {
    "DELETE".into()
}
fn default_patch() -> String {
    "PATCH".into()
}

/// Paging styles. The page token handed to the CRM layer is opaque: an offset, a page
/// number, a cursor or a next URL.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum PagingDef {
    /// One request returns everything.
    #[default]
    None,
    /// `?offset=N&limit=M`; another page follows while a page is full (or, with `total_path`,
    /// while offset + count < total).
    Offset {
        #[serde(default = "p_offset")]
        offset_param: String,
        #[serde(default = "p_limit")]
        limit_param: String,
        #[serde(default = "p_size")]
        limit: u32,
        #[serde(default)]
        total_path: Option<String>,
    },
    /// `?page=N&per_page=M`; pages counted from `first_page`.
    Page {
        #[serde(default = "p_page")]
        page_param: String,
        #[serde(default)]
        size_param: Option<String>,
        #[serde(default = "p_size")]
        size: u32,
        #[serde(default = "p_first")]
        first_page: u32,
        /// Path of a "there is more" boolean; without it a full page means more.
        #[serde(default)]
        has_more_path: Option<String>,
    },
    /// A cursor taken from the answer at `cursor_path`, sent back as `cursor_param`.
    Cursor {
        cursor_param: String,
        cursor_path: String,
        #[serde(default)]
        limit_param: Option<String>,
        #[serde(default = "p_size")]
        limit: u32,
        /// Path of a "there is more" boolean; when it says false, paging stops even if the
        /// answer carries a cursor (Zoho `info.more_records`).
        #[serde(default)]
        has_more_path: Option<String>,
    },
    /// The next page's URL, from a JSON path in the answer or the `Link: <…>; rel="next"` header.
    /// It must stay on the base URL's origin and path.
    NextLink {
        #[serde(default)]
        next_path: Option<String>,
        #[serde(default)]
        limit_param: Option<String>,
        #[serde(default = "p_size")]
        limit: u32,
    },
}

fn p_offset() -> String {
    "offset".into()
}
fn p_limit() -> String {
    "limit".into()
}
fn p_page() -> String {
    "page".into()
}
fn p_size() -> u32 {
    100
}
fn p_first() -> u32 {
    1
}

/// How to ask for records modified after a time.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum ModifiedSinceDef {
    /// A query parameter, formatted per `format` (see `timefmt::format_instant`).
    Query {
        param: String,
        #[serde(default)]
        format: String,
        /// The parameter's value with `{since}` in it (e.g. a SOQL or OData filter); it replaces
        /// a fixed parameter of the same name. Without it the value is the time alone.
        #[serde(default)]
        template: Option<String>,
        /// Also send the current time in this parameter (feeds that need a window end).
        #[serde(default)]
        until_param: Option<String>,
    },
    /// A JSON search body; every string equal to `{since}` becomes the formatted time (with
    /// `format = "values"`: the `[values] dates` encoding, a typed object), and
    /// `{limit}`/`{offset}`/`{page}`/`{cursor}` receive the paging values (which then stay out
    /// of the query string). `method`/`path` override the list endpoint when set.
    Body {
        #[serde(default)]
        method: Option<String>,
        #[serde(default)]
        path: Option<String>,
        /// Query parameters for the search request; when set they replace the list's (a
        /// search endpoint rarely takes the list's parameters). Unset: the list's are kept.
        #[serde(default)]
        query: Option<BTreeMap<String, String>>,
        body: Value,
        #[serde(default)]
        format: String,
    },
    /// A request header (e.g. `If-Modified-Since` with `http_date`); a 304 is an empty page.
    Header {
        header: String,
        #[serde(default = "http_date")]
        format: String,
    },
}

fn http_date() -> String {
    "http_date".into()
}

/// `auth_variant = "<name>"` picks `[auth_variants.<name>]` as `[auth]`; the other variants are
/// dropped before `${VAR}` substitution.
fn select_auth_variant(
    value: &mut toml::Value,
    vars: &HashMap<String, String>,
) -> Result<(), String> {
    let Some(table) = value.as_table_mut() else {
        return Ok(());
    };
    let variants = table.remove("auth_variants");
    let chosen = match table.get("auth_variant") {
        Some(toml::Value::String(s)) => substitute(s, vars)?,
        Some(_) => return Err("auth_variant must be a string".into()),
        None => String::new(),
    };
    table.insert("auth_variant".into(), toml::Value::String(chosen.clone()));
    if chosen.is_empty() {
        return Ok(());
    }
    let mut variants = match variants {
        Some(toml::Value::Table(t)) => t,
        _ => return Err(format!("auth_variant {chosen:?} but no [auth_variants]")),
    };
    let names: Vec<String> = variants.keys().cloned().collect();
    let picked = variants
        .remove(&chosen)
        .ok_or_else(|| format!("auth_variant {chosen:?} is not one of {}", names.join(", ")))?;
    if table.contains_key("auth") {
        return Err("set either [auth] or auth_variant, not both".into());
    }
    table.insert("auth".into(), picked);
    Ok(())
}

impl ConnectorDef {
    /// Parse a definition, filling `${VAR}` placeholders from `vars`.
    pub fn from_toml_str(text: &str, vars: &HashMap<String, String>) -> Result<Self, String> {
        let mut value: toml::Value = toml::from_str(text).map_err(|e| e.to_string())?;
        select_auth_variant(&mut value, vars)?;
        substitute_toml(&mut value, vars)?;
        let def: ConnectorDef = value
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        def.validate()?;
        Ok(def)
    }

    /// Read and parse a definition file.
    pub fn load(
        path: impl AsRef<std::path::Path>,
        vars: &HashMap<String, String>,
    ) -> Result<Self, String> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        Self::from_toml_str(&text, vars).map_err(|e| format!("{}: {e}", path.display()))
    }

    fn validate(&self) -> Result<(), String> {
        let url = reqwest::Url::parse(&self.base_url)
            .map_err(|e| format!("base_url {:?}: {e}", self.base_url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "base_url must be http or https, not {}",
                url.scheme()
            ));
        }
        if self.max_concurrency == 0 {
            return Err("max_concurrency must be at least 1".into());
        }
        if let AuthDef::Login(l) = &self.auth {
            l.validate()?;
        } else if let Some(name) = super::body_template::entity_wanting_session(self) {
            return Err(format!(
                "entity {name}: a body template uses {{session}} but [auth] is not type = \"login\""
            ));
        }
        if let Some(b) = &self.body_errors {
            b.validate()?;
        }
        self.values.validate().map_err(|m| format!("values: {m}"))?;
        crate::record::timefmt::resolve_tz(&self.timezone)
            .ok_or_else(|| format!("unknown time zone {:?}", self.timezone))?;
        if let AuthDef::Oauth2ClientCredentials {
            base_url_from: Some(_),
            base_url_hosts,
            ..
        }
        | AuthDef::Oauth2RefreshToken {
            base_url_from: Some(_),
            base_url_hosts,
            ..
        } = &self.auth
        {
            if base_url_hosts.is_empty() {
                return Err(
                    "auth.base_url_from needs auth.base_url_hosts (the hosts it may name)".into(),
                );
            }
        }
        for (name, e) in &self.entities {
            for (scope, d) in &e.scopes {
                check_scope(d).map_err(|m| format!("entity {name}.scopes.{scope}: {m}"))?;
            }
            if let Some(f) = &e.find_created {
                if f.match_fields.is_empty() {
                    return Err(format!(
                        "entity {name}.find_created: `match` needs at least one field"
                    ));
                }
                for p in f
                    .match_fields
                    .iter()
                    .chain(f.created_field.iter())
                    .chain(f.records_path.iter())
                {
                    crate::record::jsonpath::parse(p)
                        .map_err(|m| format!("entity {name}.find_created: {m}"))?;
                }
                match (&f.list, f.modified_since) {
                    (Some(l), false) if l.path.contains("://") => {
                        return Err(format!(
                            "entity {name}.find_created: endpoint paths are relative to base_url"
                        ))
                    }
                    (Some(_), false) => {}
                    (None, true) if e.modified_since.is_some() => {}
                    (None, true) => {
                        return Err(format!(
                            "entity {name}.find_created: modified_since needs the entity's modified_since"
                        ))
                    }
                    _ => {
                        return Err(format!(
                            "entity {name}.find_created: set either list or modified_since = true"
                        ))
                    }
                }
            }
            if let Some(d) = &e.deleted {
                for p in d
                    .id_field
                    .iter()
                    .chain(d.records_path.iter())
                    .chain(d.deleted_field.iter())
                {
                    crate::record::jsonpath::parse(p)
                        .map_err(|m| format!("entity {name}.deleted: {m}"))?;
                }
                reqwest::Method::from_bytes(d.list.method.as_bytes()).map_err(|_| {
                    format!("entity {name}.deleted: bad method {:?}", d.list.method)
                })?;
                if d.list.path.contains("://") {
                    return Err(format!(
                        "entity {name}.deleted: endpoint paths are relative to base_url"
                    ));
                }
            }
            for p in [&e.id_field, &e.records_path, &e.record_path]
                .into_iter()
                .chain(e.modified_field.iter())
                .chain(e.version_field.iter())
                .chain(e.write_record_path.iter())
                .chain(e.created_id_path.iter())
                .chain(e.body_wrap.iter())
            {
                crate::record::jsonpath::parse(p).map_err(|m| format!("entity {name}: {m}"))?;
            }
            for ep in [
                Some(&e.list),
                e.get.as_ref(),
                e.create.as_ref(),
                e.update.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                reqwest::Method::from_bytes(ep.method.as_bytes())
                    .map_err(|_| format!("entity {name}: bad method {:?}", ep.method))?;
                if ep.path.contains("://") {
                    return Err(format!(
                        "entity {name}: endpoint paths are relative to base_url ({:?})",
                        ep.path
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_absolute_endpoint_paths() {
        let t = r#"
name = "x"
base_url = "https://crm.example/api"
[entities.a]
list = { path = "https://evil.example/x" }
"#;
        let e = ConnectorDef::from_toml_str(t, &HashMap::new()).unwrap_err();
        assert!(e.contains("relative"), "{e}");
    }

    #[test]
    fn auth_variants_are_picked_before_substitution() {
        let t = r#"
name = "x"
base_url = "https://crm.example"
auth_variant = "${auth:-token}"
[auth_variants.token]
type = "bearer"
token = "${token}"
[auth_variants.oauth]
type = "oauth2_refresh_token"
token_url = "https://crm.example/token"
client_id = "${client_id}"
refresh_token = "${refresh}"
[entities.a]
list = { path = "/a" }
"#;
        let vars: HashMap<String, String> = [("token".to_string(), "t".to_string())].into();
        let d = ConnectorDef::from_toml_str(t, &vars).unwrap();
        assert!(matches!(d.auth, AuthDef::Bearer { ref token } if token == "t"));
        let vars: HashMap<String, String> = [
            ("auth".to_string(), "oauth".to_string()),
            ("client_id".to_string(), "c".to_string()),
            ("refresh".to_string(), "r".to_string()),
        ]
        .into();
        let d = ConnectorDef::from_toml_str(t, &vars).unwrap();
        assert!(matches!(d.auth, AuthDef::Oauth2RefreshToken { .. }));
        let vars: HashMap<String, String> = [("auth".to_string(), "nope".to_string())].into();
        let e = ConnectorDef::from_toml_str(t, &vars).unwrap_err();
        assert!(e.contains("not one of"), "{e}");
    }

    #[test]
    fn a_session_placeholder_needs_a_login_auth() {
        let t = r#"
name = "x"
base_url = "https://crm.example"
[entities.a]
list = { method = "POST", path = "/rpc", body = { uid = "{session}" } }
"#;
        let e = ConnectorDef::from_toml_str(t, &HashMap::new()).unwrap_err();
        assert!(e.contains("{session}"), "{e}");
        let with_login = t.replace(
            "[entities.a]",
            "[auth]\ntype = \"login\"\npath = \"/login\"\nsession_path = \"uid\"\n[entities.a]",
        );
        assert!(ConnectorDef::from_toml_str(&with_login, &HashMap::new()).is_ok());
    }
}
