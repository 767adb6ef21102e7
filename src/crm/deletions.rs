//! Deletions between full scans: where the connector definition has a deleted-records feed
//! (`[entities.x.deleted]`: HubSpot and Pipedrive archives, Salesforce `getDeleted`, Zoho's
//! deleted list), an incremental refresh reads it from the collection's deletions watermark
//! and removes the items of the records it names, so a record deleted in the CRM leaves the
//! phone at the next sync. Full scans stay as the fallback, on the longer
//! `feed_full_scan_secs` schedule (default 36 × `full_scan_secs`).

use super::binding::Binding;
use super::known::Known;
use super::refresh::RefreshError;
use super::tenant::CrmTenant;
use crate::connector::Capabilities;
use crate::store::{Collection, CrmCollectionState, Store};
use chrono::{DateTime, Utc};

/// Feed pages read in one refresh at most (a feed longer than that waits for the next one, or
/// for the full scan).
const MAX_PAGES: u32 = 50;

/// Deletions can be recorded a little before the gateway's clock says the scan ran: the feed
/// is read from this far before the watermark (removing an item twice is a no-op).
const OVERLAP_SECS: i64 = 60;

impl CrmTenant {
    /// Seconds between full scans for an entity with these capabilities: the longer
    /// `feed_full_scan_secs` only while the feed works (a feed that failed clears the
    /// deletions watermark until the next full scan sets it again).
    pub(super) fn full_scan_interval(&self, caps: &Capabilities, st: &CrmCollectionState) -> u64 {
        if caps.deletion_feed && caps.modified_since && st.deletions_watermark.is_some() {
            self.opts.feed_full_scan_secs.unwrap_or(
                self.opts
                    .full_scan_secs
                    .saturating_mul(crate::config::FEED_SCAN_FACTOR),
            )
        } else {
            self.opts.full_scan_secs
        }
    }

    /// Read the deleted-records feed since `st`'s deletions watermark and remove what it names
    /// from `coll`; returns how many items were removed. The watermark moves to the latest
    /// deletion time read (after a full scan, to the scan's start). A feed the CRM does not
    /// answer is logged and clears the watermark (full scans on the short schedule until one
    /// sets it again); a store failure is an error.
    pub(super) async fn apply_deletion_feed(
        &self,
        store: &Store,
        b: &Binding,
        coll: &Collection,
        owner: &str,
        st: &mut CrmCollectionState,
        known: &Known,
    ) -> Result<usize, RefreshError> {
        // The owner's own credential, if any, reads the feed (the CRM decides what it shows).
        let connector = self.connector_for(owner);
        let from = st
            .deletions_watermark
            .as_deref()
            .and_then(|w| DateTime::parse_from_rfc3339(w).ok())
            .map(|d| d.with_timezone(&Utc))
            .or_else(|| {
                st.full_scan_at
                    .and_then(|t| DateTime::<Utc>::from_timestamp(t, 0))
            });
        let since = from.map(|t| t - chrono::Duration::seconds(OVERLAP_SECS));
        let mut latest = from;
        let mut removed = 0;
        let mut page = None;
        for _ in 0..MAX_PAGES {
            let p = match connector.list_deleted(&b.entity, since, page).await {
                Ok(p) => p,
                Err(e) => {
                    // The listing itself worked: serve it. Without a watermark full scans come
                    // back to `full_scan_secs` and the next one tries the feed again.
                    tracing::warn!(tenant = %self.name, collection = %coll.path, error = %e, "the CRM's deleted-records feed could not be read; deletions wait for the next full scan");
                    st.deletions_watermark = None;
                    return Ok(removed);
                }
            };
            for r in &p.records {
                if let Some(m) = r.modified {
                    latest = Some(latest.map_or(m, |l| l.max(m)));
                }
                let Some(i) = known.get(&r.id) else {
                    continue;
                };
                store.crm_remove(coll, &i.name, false).await?;
                store
                    .drop_props(&self.name, &format!("{}{}", coll.path, i.name))
                    .await?;
                removed += 1;
                tracing::debug!(tenant = %self.name, collection = %coll.path, crm_id = %r.id, "deleted in the CRM (deletions feed); removed");
            }
            match p.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        st.deletions_watermark = latest.map(|t| t.to_rfc3339());
        Ok(removed)
    }
}
