//! Quotas (RFC 4331): what a write would add to its owner's total and to its collection,
//! checked before anything is stored, for local and CRM-backed collections alike and for
//! COPY and MOVE as well as PUT.
//!
//! The check reads the usage and the write follows outside one transaction, so writers racing
//! each other can pass a limit by what they write at the same moment; a quota here bounds what
//! one user can take, it is not an accounting ledger.

use super::Collections;
use crate::config::Quota;
use crate::store::{Collection, DbError};
use crate::tree::{CollectionPath, HomeKind};

/// A write refused because it would pass a quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct OverQuota(pub String);

/// Why a quota check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum QuotaError {
    /// Over a limit.
    #[error(transparent)]
    Over(#[from] OverQuota),
    /// The usage could not be read.
    #[error(transparent)]
    Db(#[from] DbError),
}

/// What a write adds (negative: frees).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Growth {
    /// Bytes added to the owner's total.
    pub user_bytes: i64,
    /// Items added to the owner's total.
    pub user_items: i64,
    /// Items added directly to the target collection.
    pub collection_items: i64,
}

/// The user whose homes hold `path` (`calendars/<user>/…` or `addressbooks/<user>/…`).
fn owner_of(path: &str) -> Option<String> {
    let mut p = Some(CollectionPath::of_stored(path));
    while let Some(c) = p {
        if let Some((_, owner)) = c.as_home() {
            return Some(owner.to_string());
        }
        p = c.parent();
    }
    None
}

/// Refuse `used + added` above `limit`, unless the write does not grow the usage (a user over
/// a lowered quota may still replace or delete).
fn check(limit: Option<u64>, used: u64, added: i64, what: &str) -> Result<(), OverQuota> {
    let Some(limit) = limit else { return Ok(()) };
    if added <= 0 {
        return Ok(());
    }
    let after = used.saturating_add(added.unsigned_abs());
    if after <= limit {
        return Ok(());
    }
    Err(OverQuota(format!(
        "the quota of {limit} {what} would be exceeded ({used} in use, this adds {added})"
    )))
}

impl Collections {
    /// The quotas this server enforces.
    pub fn quota(&self) -> &Quota {
        &self.quota
    }

    /// Enforce `quota` on every write through this seam (no limits by default).
    pub fn with_quota(mut self, quota: Quota) -> Self {
        self.quota = quota;
        self
    }

    /// Bytes and items of all of `user`'s collections.
    pub async fn user_usage(&self, tenant: &str, user: &str) -> Result<(u64, u64), DbError> {
        let mut total = (0, 0);
        for kind in [HomeKind::Calendars, HomeKind::Addressbooks] {
            let (b, n) = self
                .store
                .usage(tenant, CollectionPath::home(kind, user).as_str(), true)
                .await?;
            total = (total.0 + b, total.1 + n);
        }
        Ok(total)
    }

    /// Check that `growth` fits the quotas of `coll` (a stored collection path) and its owner.
    pub async fn admit(&self, tenant: &str, coll: &str, growth: Growth) -> Result<(), QuotaError> {
        let q = &self.quota;
        if q.collection_items.is_some() && growth.collection_items > 0 {
            let (_, n) = self.store.usage(tenant, coll, false).await?;
            check(
                q.collection_items,
                n,
                growth.collection_items,
                "items in a collection",
            )?;
        }
        let user_limited = q.user_bytes.is_some() || q.user_items.is_some();
        if user_limited && (growth.user_bytes > 0 || growth.user_items > 0) {
            if let Some(owner) = owner_of(coll) {
                let (bytes, items) = self.user_usage(tenant, &owner).await?;
                check(q.user_bytes, bytes, growth.user_bytes, "bytes for a user")?;
                check(q.user_items, items, growth.user_items, "items for a user")?;
            }
        }
        Ok(())
    }

    /// Before storing `len` bytes as item `name` of `coll` (replacing it when it exists).
    pub(super) async fn admit_put(
        &self,
        tenant: &str,
        coll: &Collection,
        name: &str,
        len: usize,
    ) -> Result<(), QuotaError> {
        if !self.quota.any() {
            return Ok(());
        }
        let old = self.store.item_meta(coll, name).await?;
        let new = i64::try_from(len).unwrap_or(i64::MAX);
        let growth = match old {
            Some(m) => Growth {
                user_bytes: new - m.size,
                ..Growth::default()
            },
            None => Growth {
                user_bytes: new,
                user_items: 1,
                collection_items: 1,
            },
        };
        self.admit(tenant, &coll.path, growth).await
    }

    /// Before a COPY (or MOVE) of an item of `len` bytes from collection `src` into `dest`,
    /// replacing an item of `replaced` bytes there if any.
    pub async fn admit_item_transfer(
        &self,
        tenant: &str,
        src: &str,
        dest: &str,
        len: i64,
        replaced: Option<i64>,
        is_move: bool,
    ) -> Result<(), QuotaError> {
        if !self.quota.any() {
            return Ok(());
        }
        let stays_with_owner = is_move && owner_of(src) == owner_of(dest);
        let growth = Growth {
            user_bytes: if stays_with_owner {
                0
            } else {
                len - replaced.unwrap_or(0)
            },
            user_items: i64::from(!stays_with_owner && replaced.is_none()),
            collection_items: i64::from(replaced.is_none() && !(is_move && src == dest)),
        };
        self.admit(tenant, dest, growth).await
    }

    /// Before a COPY (or MOVE) of the collection tree `src` to `dest` (`depth_zero`: the
    /// collection alone).
    pub async fn admit_tree_transfer(
        &self,
        tenant: &str,
        src: &str,
        dest: &str,
        is_move: bool,
        depth_zero: bool,
    ) -> Result<(), QuotaError> {
        if !self.quota.any() || depth_zero || (is_move && owner_of(src) == owner_of(dest)) {
            return Ok(());
        }
        let (bytes, items) = self.store.usage(tenant, src, true).await?;
        let growth = Growth {
            user_bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
            user_items: i64::try_from(items).unwrap_or(i64::MAX),
            collection_items: 0,
        };
        self.admit(tenant, dest, growth).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_and_limits() {
        assert_eq!(owner_of("calendars/u/work/").as_deref(), Some("u"));
        assert_eq!(owner_of("addressbooks/u/a/b/").as_deref(), Some("u"));
        assert_eq!(owner_of("calendars/").as_deref(), None);
        assert!(check(None, 10, 5, "x").is_ok());
        assert!(check(Some(15), 10, 5, "x").is_ok());
        assert!(check(Some(15), 10, 6, "x").is_err());
        // Already over a lowered limit: what does not grow is still allowed.
        assert!(check(Some(5), 10, 0, "x").is_ok());
        assert!(check(Some(5), 10, -3, "x").is_ok());
    }
}
