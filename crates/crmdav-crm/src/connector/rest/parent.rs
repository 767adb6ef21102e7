//! Per-parent listings (`[entities.<name>.parent]`): an entity the CRM lists only under a
//! record of another entity (logged meetings per contact, cards per board column). The list
//! path holds `{parent.id}`; a listing reads the parents first, at most `max_parents` of them
//! (a log line says when there are more), then each parent's children, every page, and hands
//! them on as one page.
//!
//! With `changed_only` and a parent entity that can filter by modified time, an incremental
//! listing re-lists only the parents modified since then; children of other parents are not
//! read, so a deletion there is seen by the next full scan (the sync layer's fallback).

use super::def::{EntityDef, ModifiedSinceDef};
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, ListQuery, Page, Record};
use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use std::collections::BTreeMap;

/// The placeholder of the parent's id in the child's list path.
const PARENT_ID: &str = "{parent.id}";

/// How an entity is listed under the records of a parent entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParentDef {
    /// The parent entity (`[entities.<entity>]` of this definition).
    pub entity: String,
    /// At most this many parents are listed under (the first ones the parent listing gives).
    #[serde(default = "default_max_parents")]
    pub max_parents: usize,
    /// On an incremental listing, re-list only the parents modified since (when the parent
    /// entity has `modified_since`); otherwise every parent is listed each time.
    #[serde(default = "yes")]
    pub changed_only: bool,
    /// Write the parent's id into each child record at this JSON path (for children whose
    /// rows do not name their parent).
    #[serde(default)]
    pub parent_id_path: Option<String>,
}

fn default_max_parents() -> usize {
    200
}
fn yes() -> bool {
    true
}

impl ParentDef {
    /// Check the declaration against its entity and the others (definition validation).
    pub(super) fn check(
        &self,
        name: &str,
        e: &EntityDef,
        all: &BTreeMap<String, EntityDef>,
    ) -> Result<(), String> {
        let parent = all
            .get(&self.entity)
            .ok_or_else(|| format!("unknown parent entity {:?}", self.entity))?;
        if self.entity == name || parent.parent.is_some() {
            return Err("a parent entity cannot itself be listed per parent".into());
        }
        if !e.list.path.contains(PARENT_ID) {
            return Err(format!("the list path must contain {PARENT_ID}"));
        }
        if self.max_parents == 0 {
            return Err("max_parents must be at least 1".into());
        }
        if let Some(p) = &self.parent_id_path {
            jsonpath::parse(p)?;
        }
        Ok(())
    }
}

impl RestConnector {
    /// Whether an incremental listing of `e` is possible: its own filter, or its parents'.
    pub(super) fn parent_filters(&self, e: &EntityDef) -> bool {
        e.parent.as_ref().is_some_and(|p| {
            p.changed_only
                && self
                    .def
                    .entities
                    .get(&p.entity)
                    .is_some_and(|pe| pe.modified_since.is_some())
        })
    }

    /// Every child of `e` under its parents (modified after `since` where a filter applies),
    /// as one page.
    pub(super) async fn list_per_parent(
        &self,
        e: &EntityDef,
        since: Option<DateTime<Utc>>,
        query: &ListQuery,
    ) -> Result<Page, ConnectorError> {
        let Some(p) = &e.parent else {
            return self.list_page(e, since, None).await;
        };
        let pe = self.entity(&p.entity)?;
        let parent_since = if p.changed_only { since } else { None };
        let mut parents: Vec<String> = Vec::new();
        let mut page = None;
        let mut more = false;
        for _ in 0..pe.max_scan_pages {
            let got = self.list_page(pe, parent_since, page).await?;
            for r in got.records {
                if parents.len() < p.max_parents {
                    parents.push(r.id);
                } else {
                    more = true;
                }
            }
            match got.next {
                Some(n) if parents.len() < p.max_parents => page = Some(n),
                Some(_) => {
                    more = true;
                    break;
                }
                None => break,
            }
        }
        if more {
            tracing::warn!(crm = %self.def.name, entity = %p.entity, max_parents = p.max_parents, "more parents than max_parents: the children of the rest are not listed");
        }
        let mut lists = Vec::with_capacity(parents.len());
        for id in &parents {
            lists.push(self.children_of(e, id, since, query));
        }
        let done: Vec<Result<Vec<Record>, ConnectorError>> = stream::iter(lists)
            .buffered(self.def.max_concurrency.max(1))
            .collect()
            .await;
        let mut records = Vec::new();
        for r in done {
            records.extend(r?);
        }
        Ok(Page {
            records,
            next: None,
        })
    }

    /// Every page of the children of one parent.
    async fn children_of(
        &self,
        e: &EntityDef,
        parent_id: &str,
        since: Option<DateTime<Utc>>,
        query: &ListQuery,
    ) -> Result<Vec<Record>, ConnectorError> {
        let enc =
            percent_encoding::utf8_percent_encode(parent_id, super::url::ID_ESCAPE).to_string();
        let mut child = e.clone();
        child.list.path = child.list.path.replace(PARENT_ID, &enc);
        child.list.query.extend(query.clone());
        if let Some(ModifiedSinceDef::Body {
            path: Some(path), ..
        }) = &mut child.modified_since
        {
            *path = path.replace(PARENT_ID, &enc);
        }
        let mut out = Vec::new();
        let mut page = None;
        for _ in 0..e.max_scan_pages {
            let got = self.list_page(&child, since, page).await?;
            out.extend(got.records);
            match got.next {
                Some(n) => page = Some(n),
                None => break,
            }
        }
        if let Some(path) = e.parent.as_ref().and_then(|p| p.parent_id_path.as_deref()) {
            if let Ok(segs) = jsonpath::parse(path) {
                for r in &mut out {
                    let _ = jsonpath::set(
                        &mut r.data,
                        &segs,
                        serde_json::Value::String(parent_id.to_string()),
                    );
                }
            }
        }
        Ok(out)
    }
}
