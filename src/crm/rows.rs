//! Which listed rows a refresh renders, and their whole records: rows whose hash the identity
//! map already holds (with their item present) are not rendered again, so they cost nothing;
//! the others go through `Connector::complete`, which reads the single record of each where
//! the definition says list rows are partial (`detail`), with bounded concurrency.

use super::binding::Binding;
use super::known::Known;
use super::listing::Row;
use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, Record};
use std::collections::HashMap;

/// What a refresh knows of the rows it is about to reconcile.
pub(super) struct Held<'a> {
    /// The identity map as the refresh found it (with whether each item is there).
    pub(super) known: &'a Known,
    /// CRM ids this refresh saved already (to member names): rendered again if listed again.
    pub(super) saved: &'a HashMap<String, String>,
    /// Render every row (a re-render after a definition change, or a windowed calendar that
    /// must place each record against its window).
    pub(super) every: bool,
}

impl Held<'_> {
    /// Whether `r`, whose `record_hash` is `hash`, needs no rendering: held, unchanged, its
    /// item there (or deleted here).
    pub(super) fn unchanged(&self, r: &Record, hash: &str) -> bool {
        if self.saved.contains_key(&r.id) {
            return false;
        }
        match self.known.get(&r.id) {
            Some(i) if i.deleted => true,
            Some(i) => !self.every && i.unchanged(hash),
            None => false,
        }
    }
}

impl CrmTenant {
    /// The whole records, by CRM id, of the listed `rows` (one page) this refresh renders
    /// (those `admits` lets in that are new or changed), read as `owner`. A row whose record
    /// is gone by the time its detail is read is absent from the answer.
    pub(super) async fn rows_to_render(
        &self,
        b: &Binding,
        owner: &str,
        rows: &[Row],
        held: &Held<'_>,
        admits: impl Fn(&Record) -> bool,
    ) -> Result<HashMap<String, Record>, ConnectorError> {
        let need: Vec<Record> = rows
            .iter()
            .filter(|r| admits(&r.record) && !held.unchanged(&r.record, &r.hash))
            .map(|r| r.record.clone())
            .collect();
        if need.is_empty() {
            return Ok(HashMap::new());
        }
        // Through the connector the owner's reads go through (their own credential, if any).
        let whole = self.connector_for(owner).complete(&b.entity, need).await?;
        Ok(whole.into_iter().map(|r| (r.id.clone(), r)).collect())
    }
}
