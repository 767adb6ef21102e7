//! The state store's data model: collections, items and what is indexed of them, the change log
//! as callers see it, dead properties and the CRM identity map. Plain data, no storage code.

use sha2::{Digest, Sha256};

pub use crate::vocab::CollectionKind;

/// A collection row.
#[derive(Debug, Clone)]
pub struct Collection {
    /// Row id.
    pub id: i64,
    /// Path below the DAV root, with a trailing slash (`calendars/alice/work/`).
    pub path: String,
    /// Kind.
    pub kind: CollectionKind,
    /// Supported components (calendars): `VEVENT,VTODO`.
    pub components: Vec<String>,
    /// Last sequence number handed out.
    pub seq: i64,
    /// Oldest sequence a sync token may still name.
    pub min_seq: i64,
    /// Random per-collection id, so that a token of a deleted-and-recreated collection is refused.
    pub instance: String,
    /// The timeline since the last restore (empty: never restored); see [`Collection::token`].
    pub epoch: String,
    /// The epoch before the last restore and the sequence it had reached in the backup: its
    /// tokens up to that sequence name changes the restored state still has.
    pub prev: Option<(String, i64)>,
    /// Last modification, epoch seconds.
    pub modified: i64,
    /// Creation, epoch seconds.
    pub created: i64,
}

impl Collection {
    /// The sync token for sequence `seq` (RFC 6578 §6.2: a URI). After a restore it carries the
    /// epoch, so that the sequence numbers the restored state hands out again never pass for
    /// the ones handed out after the backup; before any, it keeps the pre-epoch format that
    /// clients may hold from older releases.
    pub fn token(&self, seq: i64) -> String {
        if self.epoch.is_empty() {
            format!("urn:crmdav:sync:{}:{}", self.instance, seq)
        } else {
            format!("urn:crmdav:sync:{}:{}:{}", self.instance, self.epoch, seq)
        }
    }
    /// The current sync token.
    pub fn sync_token(&self) -> String {
        self.token(self.seq)
    }
    /// The CalendarServer `getctag`, moving exactly when the sync token moves.
    pub fn ctag(&self) -> String {
        if self.epoch.is_empty() {
            format!("\"{}-{}\"", self.instance, self.seq)
        } else {
            format!("\"{}-{}-{}\"", self.instance, self.epoch, self.seq)
        }
    }
    /// Parse a token of this collection; `None` when it is not ours, expired, ahead of the
    /// collection, or handed out after the backup the state was restored from (RFC 6578 §3.2:
    /// the caller answers `DAV:valid-sync-token` and the client syncs from scratch).
    pub fn parse_token(&self, token: &str) -> Option<i64> {
        let rest = token.strip_prefix("urn:crmdav:sync:")?;
        let (head, seq) = rest.rsplit_once(':')?;
        // Only the spelling `token` writes: `i64::from_str` also takes "+7" and "007", which
        // this server never issued (RFC 6578 §3.2: an unknown token is refused).
        let canonical = !seq.starts_with('+') && (seq == "0" || !seq.starts_with(['0', '-']));
        let seq: i64 = seq.parse().ok().filter(|_| canonical)?;
        // `<instance>` or `<instance>:<epoch>`: matched against our own instance, which may
        // itself hold a colon.
        let epoch = match head.strip_prefix(self.instance.as_str())? {
            "" => "",
            tail => tail.strip_prefix(':')?,
        };
        if seq < self.min_seq || seq > self.seq {
            return None;
        }
        let upto = if epoch == self.epoch {
            self.seq
        } else {
            match &self.prev {
                Some((prev, at)) if prev == epoch => *at,
                _ => return None,
            }
        };
        (seq <= upto).then_some(seq)
    }
    /// True for calendars and address books.
    pub fn is_dav_collection(&self) -> bool {
        self.kind != CollectionKind::Plain
    }
}

/// An item's metadata (no body).
#[derive(Debug, Clone)]
pub struct ItemMeta {
    /// Member name within the collection.
    pub name: String,
    /// Media type.
    pub content_type: String,
    /// Quoted strong ETag.
    pub etag: String,
    /// Length of the body in bytes.
    pub size: i64,
    /// Last modification, epoch seconds.
    pub modified: i64,
    /// Creation, epoch seconds.
    pub created: i64,
}

/// An item with its body.
#[derive(Debug, Clone)]
pub struct Item {
    /// Metadata.
    pub meta: ItemMeta,
    /// The bytes as served.
    pub body: Vec<u8>,
}

/// What the DAV layer indexes about an item on write.
#[derive(Debug, Clone, Default)]
pub struct ItemIndex {
    /// iCalendar/vCard UID.
    pub uid: Option<String>,
    /// The component the item holds.
    pub component: Option<crate::vocab::ComponentKind>,
    /// Earliest instance start (epoch seconds), `None` = unbounded.
    pub first_start: Option<i64>,
    /// Latest instance end (epoch seconds), `None` = unbounded.
    pub last_end: Option<i64>,
    /// Searchable vCard fields as (PROPERTY, value), for addressbook-query; the store folds
    /// the values into its keys.
    pub fields: Vec<(String, String)>,
}

/// A change since a sync token.
#[derive(Debug, Clone)]
pub enum Change {
    /// Created or modified.
    Changed(ItemMeta, i64),
    /// Deleted.
    Deleted(String, i64),
}

/// An item named by its collection and member name.
#[derive(Debug, Clone, Copy)]
pub struct ItemRef<'a> {
    /// The collection.
    pub coll: &'a Collection,
    /// The member name.
    pub name: &'a str,
}

/// A write precondition (RFC 7232 / RFC 4918 §10.4), checked inside the write transaction.
#[derive(Debug, Clone, Default)]
pub struct WriteCondition {
    /// `If-Match` ETags (`*` = must exist).
    pub if_match: Option<Vec<String>>,
    /// `If-None-Match` ETags (`*` = must not exist).
    pub if_none_match: Option<Vec<String>>,
}

impl WriteCondition {
    /// Check against the current ETag of the target (`None` = it does not exist).
    pub fn check(&self, current: Option<&str>) -> bool {
        if let Some(m) = &self.if_match {
            match current {
                None => return false,
                Some(cur) => {
                    if !m.iter().any(|t| t == "*" || t == cur) {
                        return false;
                    }
                }
            }
        }
        if let Some(m) = &self.if_none_match {
            if let Some(cur) = current {
                if m.iter().any(|t| t == "*" || t == cur) {
                    return false;
                }
            }
        }
        true
    }
}

/// The quoted strong ETag of a body.
pub fn etag_of(body: &[u8]) -> String {
    let d = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&d[..16]))
}

/// A dead property (RFC 4918 §4.2): one a client set with PROPPATCH and the server only keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadProperty {
    /// Namespace URI.
    pub ns: String,
    /// Local name.
    pub name: String,
    /// The whole property element as XML, served back verbatim.
    pub value: String,
}

/// One row of the identity map: a member of a CRM-backed collection and the CRM record it is.
/// Written once and never re-derived, so restarts create no duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmIdentity {
    /// Member name (the client's own for phone-created items, `<uid>.ics`/`.vcf` otherwise).
    pub name: String,
    /// The CRM's record id.
    pub crm_id: String,
    /// The item's UID (the client's own for phone-created items).
    pub uid: String,
    /// The body the client last PUT, if any.
    pub client_copy: Option<Vec<u8>>,
    /// The CRM record's JSON as it was right after that PUT (the overlay's base).
    pub base_record: Option<String>,
    /// Hash of the CRM record as last seen.
    pub record_hash: Option<String>,
    /// The CRM's opaque version of the record, when it has one.
    pub version: Option<String>,
    /// Deleted on the phone; kept so a record the CRM only cancels is not imported again.
    pub deleted: bool,
}

/// What a refresh reads of a CRM-backed collection's identity map
/// ([`crate::store::CrmIdentityStore::crm_known`]): per identity row only what deciding
/// "unchanged", "gone" and "name taken" needs, so a refresh of 100,000 records does not hold
/// every row's UID and overlay columns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmKnown {
    /// The identity rows (deleted ones included), sorted by CRM id (byte order).
    pub rows: Vec<CrmKnownRow>,
    /// Names of the collection's items without an identity row, sorted (byte order).
    pub other_names: Vec<Box<str>>,
}

/// One identity row as [`CrmKnown`] holds it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmKnownRow {
    /// Member name.
    pub name: Box<str>,
    /// The CRM's record id.
    pub crm_id: Box<str>,
    /// Hash of the CRM record as last seen.
    pub record_hash: Option<Box<str>>,
    /// Deleted on the phone (the identity kept so the record is not imported again).
    pub deleted: bool,
    /// Whether the collection holds an item of that name.
    pub present: bool,
}

impl CrmKnown {
    /// Put the rows and names in the documented order (each backend reads them unordered:
    /// PostgreSQL's text order follows its collation, not bytes).
    pub fn sorted(mut self) -> Self {
        self.rows.sort_unstable_by(|a, b| a.crm_id.cmp(&b.crm_id));
        self.other_names.sort_unstable();
        self
    }
}

/// Refresh bookkeeping of a CRM-backed collection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CrmCollectionState {
    /// Largest modified time seen (RFC 3339), for modified-since listings.
    pub watermark: Option<String>,
    /// When the last full scan finished (epoch seconds).
    pub full_scan_at: Option<i64>,
    /// Hash of the connector entity definition and mapping the items were rendered with
    /// (`crm::rerender`); another value re-renders every item once.
    pub definition_hash: Option<String>,
    /// Latest deletion time read from the CRM's deleted-records feed (RFC 3339).
    pub deletions_watermark: Option<String>,
}

/// A rendered item to store with an identity.
pub struct RenderedItem<'a> {
    /// Media type.
    pub content_type: &'a str,
    /// Bytes as served.
    pub body: &'a [u8],
    /// Index.
    pub index: &'a ItemIndex,
}

/// Parent collection path of a path (`a/b/c/` → `a/b/`, `a/b/x.ics` → `a/b/`).
pub fn parent_of(path: &str) -> String {
    let t = path.trim_end_matches('/');
    match t.rfind('/') {
        Some(i) => t[..=i].to_string(),
        None => String::new(),
    }
}

/// Split an item path into (collection path, member name).
pub fn split_item_path(path: &str) -> (String, String) {
    match path.rfind('/') {
        Some(i) => (path[..=i].to_string(), path[i + 1..].to_string()),
        None => (String::new(), path.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions() {
        let c = WriteCondition {
            if_match: Some(vec!["\"a\"".into()]),
            if_none_match: None,
        };
        assert!(c.check(Some("\"a\"")));
        assert!(!c.check(Some("\"b\"")));
        assert!(!c.check(None));
        let c = WriteCondition {
            if_match: None,
            if_none_match: Some(vec!["*".into()]),
        };
        assert!(c.check(None));
        assert!(!c.check(Some("\"a\"")));
    }

    #[test]
    fn paths() {
        assert_eq!(parent_of("a/b/c/"), "a/b/");
        assert_eq!(parent_of("a/b/x.ics"), "a/b/");
        assert_eq!(
            split_item_path("a/b/x.ics"),
            ("a/b/".into(), "x.ics".into())
        );
    }
}

/// An app password as stored: one per person and device. `hash` is the argon2 PHC hash of the
/// secret part; the secret itself is never stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppPassword {
    /// The tenant.
    pub tenant: String,
    /// Public id (the part before `-`), unique within the tenant.
    pub id: String,
    /// The person it logs in as.
    pub user: String,
    /// What the person called it (the device).
    pub label: String,
    /// Argon2 PHC hash of the secret part.
    pub hash: String,
    /// Creation, epoch seconds.
    pub created: i64,
    /// Last successful login with it, epoch seconds (updated at most once a minute).
    pub last_used: Option<i64>,
}

/// What a row of the sign-in page's server-side state holds (`setup_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupKind {
    /// A signed-in person's page session.
    Session,
    /// A sign-in sent to the identity provider (OIDC `state`, nonce, PKCE verifier).
    SignIn,
    /// A Login Flow v2 grant under its poll token.
    LoginFlow,
    /// A person connecting their own CRM account (OAuth `state` and PKCE verifier).
    CrmSignIn,
}

impl SetupKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupKind::Session => "session",
            SetupKind::SignIn => "signin",
            SetupKind::LoginFlow => "flow",
            SetupKind::CrmSignIn => "crmsignin",
        }
    }
}

/// One row of the sign-in page's server-side state. The store keeps it opaque: `id` and
/// `lookup` are what the caller derived from its random keys (hashes, never the keys), and
/// `body` is what the caller wrote (its secrets sealed). A row is live until `expires_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupEntry {
    /// What the row is.
    pub kind: SetupKind,
    /// The row's key within its kind.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The person it belongs to, if any (a session's user): what revoking a person removes.
    pub owner: Option<String>,
    /// The client address that made it, for the per-client bound.
    pub client: Option<String>,
    /// A second key to find the row by within (kind, tenant).
    pub lookup: Option<String>,
    /// The caller's data.
    pub body: String,
    /// When the row stops being live, epoch milliseconds.
    pub expires_ms: i64,
    /// When it was last used, epoch milliseconds.
    pub used_ms: Option<i64>,
}

/// What [`crate::store::SetupStateStore::setup_insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupInsert {
    /// The row is stored.
    Stored,
    /// The kind holds `capacity` live rows: nothing stored, no live row evicted.
    Full,
    /// The client holds `per_client` live rows of the kind: nothing stored.
    TooManyFromClient,
}

/// One write of a refresh's batch ([`crate::store::CrmIdentityStore::crm_batch`]).
pub enum CrmBatchOp<'a> {
    /// As `crm_save`, or with `import` as `crm_import` (a record the refresh had not seen).
    Save {
        /// The identity row.
        ident: &'a CrmIdentity,
        /// The rendered item, written only when its bytes differ from what is stored.
        item: Option<RenderedItem<'a>>,
        /// Refuse (as [`CrmBatchOutcome::Exists`]) when the CRM id is held under another name.
        import: bool,
    },
    /// As `crm_remove` without keeping the identity: the row and its item go (a tombstone).
    Remove {
        /// The member name.
        name: &'a str,
    },
}

/// What one write of a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CrmBatchOutcome {
    /// Saved: the item's ETag now, and whether its bytes were written (the sequence moved).
    Saved {
        /// The item's current ETag.
        etag: Option<String>,
        /// Whether new bytes were written.
        written: bool,
    },
    /// An import whose CRM id another name holds: nothing of it was written.
    Exists,
    /// Removed (or already absent).
    Removed,
}
