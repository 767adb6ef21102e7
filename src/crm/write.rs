//! The write path: a phone's PUT or DELETE goes to the CRM first, then to the identity map and
//! the client's copy, under the collection's lock so a refresh cannot interleave.

use super::binding::{record_hash, Binding};
use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, DeleteStyle};
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

impl CrmTenant {
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
        let _g = f.lock.lock().await;
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
        let patch = b.mapping.to_record(text)?;
        let existing = store.crm_identity(coll, name).await?;
        let record = match &existing {
            Some(i) => {
                self.connector
                    .update(&b.entity, &i.crm_id, &patch, i.version.as_deref())
                    .await?
            }
            None => self.connector.create(&b.entity, &patch).await?,
        };
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
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %record.id, created = existing.is_none(), "written to the CRM");
        Ok((etag, current.is_none()))
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
        let _g = f.lock.lock().await;
        let current = store
            .item_meta(coll, name)
            .await?
            .ok_or(StoreError::NotFound)?;
        if !cond.check(Some(&current.etag)) {
            return Err(StoreError::PreconditionFailed.into());
        }
        let ident = store.crm_identity(coll, name).await?;
        let Some(ident) = ident else {
            store.crm_remove(coll, name, false).await?;
            return Ok(());
        };
        match self.connector.delete(&b.entity, &ident.crm_id).await {
            Ok(()) | Err(ConnectorError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        // A CRM that only cancels keeps listing the record: remember it was deleted here.
        let keep = self.connector.capabilities(&b.entity).delete == DeleteStyle::StatusChange;
        store.crm_remove(coll, name, keep).await?;
        tracing::info!(tenant = %self.name, collection = %coll.path, %name, crm_id = %ident.crm_id, "deleted in the CRM");
        Ok(())
    }
}
