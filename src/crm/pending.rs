//! Pending creates: a phone's create is written to the tenant's key-value table before it is
//! sent to the CRM and removed once its outcome is known. One still there means the CRM may
//! hold the record without the gateway knowing its id (the answer was lost, or the gateway
//! stopped mid-call), so the next PUT of that item looks the record up before creating again.

use crate::store::{Collection, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// A create whose outcome is not known yet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct PendingCreate {
    /// The phone item's UID.
    pub uid: String,
    /// The CRM entity it was sent to.
    pub entity: String,
    /// Hash of the phone's body (the idempotency key is derived from it).
    pub body_hash: String,
    /// The record as sent (the lookup filters by it).
    pub data: serde_json::Value,
    /// When it was sent.
    pub at: DateTime<Utc>,
}

fn key(coll: &Collection, name: &str) -> String {
    format!("crm-pending-create/{}/{}", coll.id, name)
}

/// Hex SHA-256 of a phone's body.
pub(super) fn body_hash(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// The idempotency key of one create: the same tenant, collection, item and body give the
/// same key, so a CRM that honours keys drops a repeat.
pub(super) fn idempotency_key(tenant: &str, coll: &Collection, name: &str, hash: &str) -> String {
    let mut h = Sha256::new();
    for part in [tenant, coll.path.as_str(), name, hash] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    format!("crmdav-{}", hex::encode(&h.finalize()[..16]))
}

/// The pending create of item `name`, if any (an unreadable entry counts as none).
pub(super) async fn load(
    store: &Store,
    tenant: &str,
    coll: &Collection,
    name: &str,
) -> Result<Option<PendingCreate>, StoreError> {
    let v = store.kv_get(tenant, &key(coll, name)).await?;
    Ok(v.and_then(|s| serde_json::from_str(&s).ok()))
}

/// Remember a create about to be sent.
pub(super) async fn save(
    store: &Store,
    tenant: &str,
    coll: &Collection,
    name: &str,
    p: &PendingCreate,
) -> Result<(), StoreError> {
    let v = serde_json::to_string(p).unwrap_or_default();
    store.kv_set(tenant, &key(coll, name), &v).await?;
    Ok(())
}

/// The create's outcome is known: forget it.
pub(super) async fn clear(
    store: &Store,
    tenant: &str,
    coll: &Collection,
    name: &str,
) -> Result<(), StoreError> {
    store.kv_delete(tenant, &key(coll, name)).await?;
    Ok(())
}
