//! The write path: a phone's PUT or DELETE goes to the CRM first, then to the identity map and
//! the client's copy, under the collection's lock so a refresh cannot interleave its apply
//! step (a refresh lists without the lock; what a phone writes meanwhile is noted in the
//! flight's `WriteLog` and left to the next refresh). The log lines carry `lock_wait_ms`.

use super::binding::{record_hash, Binding};
use super::listing::ListingKey;
use super::pending::{self, PendingCreate};
use super::refresh::owner_of;
use super::scope::Resolved;
use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, DeleteStyle, Record};
use crate::mapping::MappingError;
use crate::store::{
    Collection, CrmIdentity, ItemIndex, RenderedItem, Store, StoreError, WriteCondition,
};

/// Why a write to a CRM collection failed.
#[derive(Debug, thiserror::Error)]
pub enum CrmWriteError {
    /// The gateway's state refused it (412, UID conflict, …).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The body cannot become a CRM record.
    #[error("{0}")]
    Mapping(#[from] MappingError),
    /// The CRM refused or failed.
    #[error(transparent)]
    Connector(#[from] ConnectorError),
}

impl From<sqlx::Error> for CrmWriteError {
    fn from(e: sqlx::Error) -> Self {
        CrmWriteError::Store(StoreError::Db(e))
    }
}

/// How long a create whose outcome is unknown blocks a new create of the same item when the
/// CRM cannot be searched for it (a refresh imports the record meanwhile if it was made).
const UNRESOLVED_HOLD: chrono::Duration = chrono::Duration::minutes(10);

/// The 503 for a create whose outcome could not be learned: nothing was duplicated, and the
/// phone's retry looks the record up before creating (or, where the CRM cannot be searched,
/// is refused the same way for [`UNRESOLVED_HOLD`]).
fn outcome_unknown(cause: &ConnectorError, why: &str) -> CrmWriteError {
    let then = if matches!(cause, ConnectorError::NotSupported { .. })
        || why.contains("cannot be searched")
    {
        "this item is not created again for 10 minutes"
    } else {
        "a retry of this PUT looks the record up before creating it again"
    };
    CrmWriteError::Connector(ConnectorError::Unavailable {
        message: format!(
            "the outcome of the create is unknown ({cause}) and {why}; nothing was duplicated: {then}"
        ),
        retry_after: None,
    })
}

impl CrmTenant {
    /// The writer's scope: a person without one (no CRM link for a `mine` collection) may not
    /// write, before any CRM call.
    async fn write_scope(
        &self,
        b: &Binding,
        coll: &Collection,
    ) -> Result<(ListingKey, Resolved), CrmWriteError> {
        if b.scope.scope != crate::config::ScopeConfig::All {
            self.ensure_people().await;
        }
        let owner = owner_of(coll);
        self.ensure_personal(&owner).await;
        let scope = b
            .scope
            .resolve(&self.person(&owner), chrono::Utc::now())
            .map_err(|e| {
                CrmWriteError::Connector(ConnectorError::Forbidden {
                    message: e.to_string(),
                })
            })?;
        let key = ListingKey {
            lister: self.lister(&owner),
            entity: b.entity.clone(),
            query: scope.query.clone(),
        };
        Ok((key, scope))
    }

    /// A phone's PUT: the CRM first (create or update), then the identity, the client's copy
    /// and the stored item, all or nothing. Returns the stored ETag and whether it was created.
    #[allow(clippy::too_many_arguments)]
    pub async fn put(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        body: &[u8],
        index: &ItemIndex,
        content_type: &str,
        cond: &WriteCondition,
    ) -> Result<(String, bool), CrmWriteError> {
        let f = self.flight(coll.id);
        let waited = std::time::Instant::now();
        let _g = f.lock.lock().await;
        let lock_wait_ms = waited.elapsed().as_millis() as u64;
        // Preconditions before any CRM call.
        let current = store.item_meta(coll, name).await?;
        if !cond.check(current.as_ref().map(|m| m.etag.as_str())) {
            return Err(StoreError::PreconditionFailed.into());
        }
        let uid = index.uid.clone().unwrap_or_default();
        if let Some(other) = store.item_name_by_uid(coll, &uid, name).await? {
            return Err(StoreError::UidConflict(other).into());
        }
        let text = std::str::from_utf8(body)
            .map_err(|_| MappingError::Parse("the body is not UTF-8".into()))?;
        let (key, scope) = self.write_scope(b, coll).await?;
        let mut patch = b.mapping.to_record(text)?;
        let existing = store.crm_identity(coll, name).await?;
        if existing.is_none() {
            // A create in a scoped collection belongs to its person (`assign`).
            for (k, v) in &scope.assign {
                let segs = crate::record::jsonpath::parse(k)
                    .map_err(|m| MappingError::Parse(format!("scope assign {k:?}: {m}")))?;
                crate::record::jsonpath::set(&mut patch, &segs, v.clone())
                    .map_err(|m| MappingError::Parse(format!("scope assign {k:?}: {m}")))?;
            }
        }
        // A shared listing of this query from before the write (or from during it: the second
        // bump below) may miss it, so it is not reused.
        self.listings.written(&key);
        let record = match &existing {
            Some(i) => match self
                .connector_for(&owner_of(coll))
                .update(&b.entity, &i.crm_id, &patch, i.version.as_deref())
                .await
            {
                Err(ConnectorError::NotFound { message }) => {
                    // Deleted in the CRM while the phone edited it: the phone's copy is stale
                    // (412), the item goes now so its next sync reports it removed, and nothing
                    // is re-created behind the CRM user's back.
                    f.writes.note(&i.crm_id);
                    store.crm_remove(coll, name, false).await?;
                    tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %i.crm_id, %message, "the record was deleted in the CRM while the phone edited it; the item is removed");
                    return Err(StoreError::PreconditionFailed.into());
                }
                r => r?,
            },
            None => {
                self.create_once(store, b, coll, name, &uid, body, &patch)
                    .await?
            }
        };
        self.listings.written(&key);
        // A refresh listing meanwhile leaves this record to the next one (`WriteLog`).
        f.writes.note(&record.id);
        let ident = CrmIdentity {
            name: name.to_string(),
            crm_id: record.id.clone(),
            uid,
            client_copy: Some(body.to_vec()),
            base_record: Some(serde_json::to_string(&record.data).unwrap_or_default()),
            record_hash: Some(record_hash(&record)),
            version: record.version.clone(),
            deleted: false,
        };
        let saved = store
            .crm_save(
                coll,
                &ident,
                Some(RenderedItem {
                    content_type,
                    body,
                    index,
                }),
            )
            .await;
        let etag = match saved {
            Ok(Some(e)) => e,
            Ok(None) => crate::store::etag_of(body),
            Err(e) => {
                // The CRM has the record but our state could not be written: the next refresh
                // would import it under a CRM href. Say so loudly.
                tracing::error!(tenant = %self.name, crm_id = %record.id, error = %e, "the CRM accepted a write the state store then refused");
                return Err(e.into());
            }
        };
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %record.id, created = existing.is_none(), lock_wait_ms, "written to the CRM");
        Ok((etag, current.is_none()))
    }

    /// A phone's create, made at most once in the CRM. A create of this item whose outcome
    /// was never learned is looked up first; the create itself is remembered (pending) until
    /// its outcome is known, and an unknown outcome (no answer, a 5xx, an answer without an
    /// id) is resolved by the same lookup before the phone hears anything. What cannot be
    /// resolved is a 503 that leaves the pending create behind for the phone's retry.
    #[allow(clippy::too_many_arguments)]
    async fn create_once(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        uid: &str,
        body: &[u8],
        patch: &serde_json::Value,
    ) -> Result<Record, CrmWriteError> {
        let hash = pending::body_hash(body);
        if let Some(p) = pending::load(store, &self.name, coll, name).await? {
            match self.resolve_pending(store, b, coll, name, &p).await {
                Ok(Some(found)) => {
                    pending::clear(store, &self.name, coll, name).await?;
                    if p.body_hash == hash {
                        return Ok(found);
                    }
                    // The phone changed the item since: the found record takes the new body.
                    let updated = self
                        .connector_for(&owner_of(coll))
                        .update(&b.entity, &found.id, patch, found.version.as_deref())
                        .await?;
                    return Ok(updated);
                }
                Ok(None) => {}
                Err(CrmWriteError::Connector(e)) => return Err(outcome_unknown(
                    &e,
                    "an earlier create of this item may have been made and could not be looked up",
                )),
                Err(e) => return Err(e),
            }
        }
        let p = PendingCreate {
            uid: uid.to_string(),
            entity: b.entity.clone(),
            body_hash: hash,
            data: patch.clone(),
            at: chrono::Utc::now(),
        };
        pending::save(store, &self.name, coll, name, &p).await?;
        let key = pending::idempotency_key(&self.name, coll, name, &p.body_hash);
        match self
            .connector_for(&owner_of(coll))
            .create_keyed(&b.entity, patch, &key)
            .await
        {
            Ok(rec) => {
                pending::clear(store, &self.name, coll, name).await?;
                Ok(rec)
            }
            Err(e) if e.was_not_sent() => {
                // The CRM was never reached: nothing can have been created.
                pending::clear(store, &self.name, coll, name).await?;
                Err(e.into())
            }
            Err(e @ (ConnectorError::Unavailable { .. } | ConnectorError::Protocol { .. })) => {
                tracing::warn!(tenant = %self.name, collection = %coll.path, %name, error = %e, "the outcome of a CRM create is unknown; looking the record up");
                match self.resolve_pending(store, b, coll, name, &p).await {
                    Ok(Some(found)) => {
                        pending::clear(store, &self.name, coll, name).await?;
                        Ok(found)
                    }
                    Ok(None) => Err(outcome_unknown(&e, "it was not found by its lookup")),
                    Err(CrmWriteError::Connector(ConnectorError::NotSupported { .. })) => {
                        Err(outcome_unknown(&e, "this CRM cannot be searched for it"))
                    }
                    Err(CrmWriteError::Connector(l)) => {
                        Err(outcome_unknown(&e, &format!("its lookup failed too ({l})")))
                    }
                    Err(other) => Err(other),
                }
            }
            Err(e) => {
                // A refusal: nothing was created.
                pending::clear(store, &self.name, coll, name).await?;
                Err(e.into())
            }
        }
    }

    /// The CRM record a pending create made, if the lookup finds one no other item is linked
    /// to. A record the refresh imported in the meantime (linked to an item no phone wrote)
    /// is taken over: that item goes, the phone's item takes its record. `Ok(None)` when the
    /// lookup finds nothing; without a lookup, a pending create younger than
    /// [`UNRESOLVED_HOLD`] is still unknown (503), an older one is taken as not made.
    async fn resolve_pending(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        p: &PendingCreate,
    ) -> Result<Option<Record>, CrmWriteError> {
        let found = match self
            .connector_for(&owner_of(coll))
            .find_created(&b.entity, &p.data, p.at)
            .await
        {
            Ok(found) => found,
            Err(ConnectorError::NotSupported { .. })
                if chrono::Utc::now() - p.at > UNRESOLVED_HOLD =>
            {
                tracing::warn!(tenant = %self.name, collection = %coll.path, %name, "an unresolved CRM create is older than the hold and this CRM cannot be searched: creating again");
                return Ok(None);
            }
            Err(e) => return Err(e.into()),
        };
        let linked = store.crm_identities(coll).await?;
        for rec in found {
            match linked.iter().find(|i| i.crm_id == rec.id) {
                None => {
                    tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %rec.id, "found the record of a create whose answer was lost");
                    return Ok(Some(rec));
                }
                Some(i) if i.client_copy.is_none() && !i.deleted && i.name != name => {
                    tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %rec.id, imported = %i.name, "the record of a lost create was imported by a refresh; the phone's item takes it over");
                    store.crm_remove(coll, &i.name, false).await?;
                    return Ok(Some(rec));
                }
                Some(_) => {}
            }
        }
        Ok(None)
    }

    /// A phone's DELETE: delete (or cancel) in the CRM, then remove the item.
    pub async fn delete(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        name: &str,
        cond: &WriteCondition,
    ) -> Result<(), CrmWriteError> {
        let f = self.flight(coll.id);
        let waited = std::time::Instant::now();
        let _g = f.lock.lock().await;
        let lock_wait_ms = waited.elapsed().as_millis() as u64;
        let current = store
            .item_meta(coll, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !cond.check(Some(&current.etag)) {
            return Err(StoreError::PreconditionFailed.into());
        }
        let (key, _) = self.write_scope(b, coll).await?;
        let ident = store.crm_identity(coll, name).await?;
        self.listings.written(&key);
        let Some(ident) = ident else {
            store.crm_remove(coll, name, false).await?;
            return Ok(());
        };
        let deleted = self
            .connector_for(&owner_of(coll))
            .delete_versioned(&b.entity, &ident.crm_id, ident.version.as_deref())
            .await;
        self.listings.written(&key);
        // A refresh listing meanwhile does not bring it back (`WriteLog`).
        f.writes.note(&ident.crm_id);
        match deleted {
            Ok(()) | Err(ConnectorError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A CRM that only cancels keeps listing the record: remember it was deleted here.
        let keep = self.connector.capabilities(&b.entity).delete == DeleteStyle::StatusChange;
        store.crm_remove(coll, name, keep).await?;
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %ident.crm_id, lock_wait_ms, "deleted in the CRM");
        Ok(())
    }
}
