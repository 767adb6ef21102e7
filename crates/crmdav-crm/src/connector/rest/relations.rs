//! Relations through lookups (`[[entities.<name>.relations]]`): a field whose values are
//! related records (tags, users, contacts, companies), read as objects or ids and written as
//! ids, shown to the mapping as a list of names (CATEGORIES, ATTENDEE e-mails).
//!
//! The related entity is an ordinary `[entities.<name>]` of the same definition, listed in full
//! as the lookup: once per full listing of an entity that uses it (the table is dropped when
//! such a listing starts and read again on first need), and again during an incremental
//! listing only when a record names an id the table does not know; never per record. On write
//! the names the
//! mapping produced become ids; a name no related record has is dropped with a log line,
//! created through the related entity's `create`, or refused, as the relation declares.

use super::def::EntityDef;
use super::{jsonpath, RestConnector};
use crate::connector::{ConnectorError, Page, Record};
use crate::record::jsonpath::Seg;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// One relation of an entity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelationDef {
    /// The related entity (`[entities.<entity>]` of this definition), listed as the lookup.
    pub entity: String,
    /// JSON path of a related record's name (`name`, `email`, `properties.email`).
    pub name_field: String,
    /// Where a record holds the related ids on read (`tag_ids`, `tags[].id`).
    #[serde(default)]
    pub read_ids: Option<String>,
    /// Where a record already holds the names on read (`tags[].name`): reading then needs no
    /// lookup (writing still does).
    #[serde(default)]
    pub read_names: Option<String>,
    /// Where the names go in the record: the path the mapping reads and writes (a plain key
    /// path, e.g. `tag_names`); never sent to the CRM.
    pub names: String,
    /// Where the ids go in create and update bodies (`tag_ids`); without it the relation is
    /// read-only and the names are left out of writes.
    #[serde(default)]
    pub write_ids: Option<String>,
    /// A name on write that no related record has: `drop` (default, with a log line),
    /// `create` (through the related entity's `create`, with `name_field` set) or `refuse`
    /// (the write fails: the phone gets 403 with the message).
    #[serde(default)]
    pub unknown: UnknownName,
}

/// What a write does with a name no related record has.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum UnknownName {
    /// Leave it out (logged).
    #[default]
    Drop,
    /// Create the related record.
    Create,
    /// Refuse the write.
    Refuse,
}

impl RelationDef {
    /// Check the paths (called from the definition's validation).
    pub(super) fn check(&self, entities: &[&String]) -> Result<(), String> {
        if !entities.iter().any(|e| **e == self.entity) {
            return Err(format!("relation to unknown entity {:?}", self.entity));
        }
        if self.read_ids.is_none() && self.read_names.is_none() {
            return Err("a relation needs read_ids or read_names".into());
        }
        let names = jsonpath::parse(&self.names)?;
        if names.is_empty() || names.iter().any(|s| !matches!(s, Seg::Key(_))) {
            return Err(format!("names {:?} must be a plain key path", self.names));
        }
        for p in [&self.name_field]
            .into_iter()
            .chain(self.read_ids.iter())
            .chain(self.read_names.iter())
            .chain(self.write_ids.iter())
        {
            jsonpath::parse(p)?;
        }
        Ok(())
    }
}

/// One related entity's records by id and by name.
#[derive(Debug, Default)]
struct Table {
    /// The listing round (`Lookups::round`) the table was read in.
    round: u64,
    names: HashMap<String, String>,
    /// Lower-case name → the id as the CRM wrote it (number or string).
    ids: HashMap<String, Value>,
}

/// The lookup tables of the connector, by related entity.
#[derive(Debug, Default)]
pub(super) struct Lookups {
    tables: Mutex<HashMap<String, Arc<Mutex<Table>>>>,
    /// One lookup listing at a time (a concurrent reader waits for it, then uses it).
    loading: tokio::sync::Mutex<()>,
    /// Listings started so far: a table read in an earlier round may be re-read once when a
    /// record names an id it does not know.
    round: std::sync::atomic::AtomicU64,
}

impl Lookups {
    fn cached(&self, entity: &str) -> Option<Arc<Mutex<Table>>> {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(entity)
            .cloned()
    }

    /// A listing of an entity with relations starts (`full`: a full one, whose lookups are read
    /// again on first need).
    fn starts(&self, e: &EntityDef, full: bool) {
        self.round.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        if !full {
            return;
        }
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        for r in &e.relations {
            t.remove(&r.entity);
        }
    }

    fn forget_one(&self, entity: &str) {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(entity);
    }
}

/// Whether the first steps of `path` before any `[]` lead somewhere in `v` (so an absent field
/// is told from an empty list).
fn present(v: &Value, path: &str) -> bool {
    let Ok(segs) = jsonpath::parse(path) else {
        return false;
    };
    let head: Vec<Seg> = segs
        .iter()
        .take_while(|s| !matches!(s, Seg::Each))
        .cloned()
        .collect();
    jsonpath::get_segs(v, &head).is_some_and(|x| !x.is_null())
}

fn strings(v: &Value, path: &str) -> Vec<String> {
    jsonpath::parse(path)
        .map(|segs| {
            jsonpath::get_all(v, &segs)
                .into_iter()
                .flat_map(|x| match x {
                    // `tag_ids = [1, 2]` at a path without `[]`.
                    Value::Array(a) => a
                        .iter()
                        .filter_map(jsonpath::scalar_string)
                        .collect::<Vec<_>>(),
                    other => jsonpath::scalar_string(other).into_iter().collect(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn set(v: &mut Value, path: &str, new: Value) {
    if let Ok(segs) = jsonpath::parse(path) {
        // A path through a scalar cannot be set; the record stays as it is.
        let _ = jsonpath::set(v, &segs, new);
    }
}

/// Take the value at a plain key path out of `v`.
fn take(v: &mut Value, path: &str) -> Option<Value> {
    let segs = jsonpath::parse(path).ok()?;
    let (last, parents) = segs.split_last()?;
    let mut cur = v;
    for s in parents {
        let Seg::Key(k) = s else { return None };
        cur = cur.as_object_mut()?.get_mut(k)?;
    }
    let Seg::Key(k) = last else { return None };
    cur.as_object_mut()?.remove(k)
}

impl RestConnector {
    /// A listing of `e` starts (its first page): on a full listing the lookups its relations
    /// use are read anew.
    pub(super) fn relations_listing_starts(&self, e: &EntityDef, full: bool) {
        self.lookups.starts(e, full);
    }

    /// The lookup table of `entity`, listed in full when not held.
    async fn table(&self, entity: &str) -> Result<Arc<Mutex<Table>>, ConnectorError> {
        if let Some(t) = self.lookups.cached(entity) {
            return Ok(t);
        }
        let _g = self.lookups.loading.lock().await;
        if let Some(t) = self.lookups.cached(entity) {
            return Ok(t);
        }
        let t = Arc::new(Mutex::new(self.list_table(entity).await?));
        self.lookups
            .tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(entity.to_string(), t.clone());
        Ok(t)
    }

    async fn list_table(&self, entity: &str) -> Result<Table, ConnectorError> {
        let e = self.entity(entity)?;
        let name_fields: Vec<&str> = self
            .def
            .entities
            .values()
            .flat_map(|x| x.relations.iter())
            .filter(|r| r.entity == entity)
            .map(|r| r.name_field.as_str())
            .collect();
        let mut table = Table {
            round: self
                .lookups
                .round
                .load(std::sync::atomic::Ordering::Acquire),
            ..Default::default()
        };
        let mut page = None;
        for _ in 0..e.max_scan_pages {
            let p = self.list_page(e, None, page).await?;
            for r in p.records {
                let raw = jsonpath::get(&r.data, &e.id_field)
                    .cloned()
                    .unwrap_or_else(|| Value::String(r.id.clone()));
                for f in &name_fields {
                    if let Some(name) = jsonpath::get(&r.data, f).and_then(jsonpath::scalar_string)
                    {
                        table.ids.insert(name.to_lowercase(), raw.clone());
                        table.names.insert(r.id.clone(), name);
                    }
                }
            }
            match p.next {
                Some(n) => page = Some(n),
                None => return Ok(table),
            }
        }
        tracing::warn!(crm = %self.def.name, entity, pages = e.max_scan_pages, "a lookup listing was cut at max_scan_pages; names past it are unknown");
        Ok(table)
    }

    /// Put each relation's names into the records of a page.
    pub(super) async fn relations_in_page(
        &self,
        e: &EntityDef,
        mut page: Page,
    ) -> Result<Page, ConnectorError> {
        for r in &mut page.records {
            self.relations_in(e, r).await?;
        }
        Ok(page)
    }

    /// Put each relation's names into one record (`names`), read from the names it carries or
    /// from its ids through the lookup. A record without the read field is left as it is.
    pub(super) async fn relations_in(
        &self,
        e: &EntityDef,
        rec: &mut Record,
    ) -> Result<(), ConnectorError> {
        for rel in &e.relations {
            let names: Vec<String> = match (&rel.read_names, &rel.read_ids) {
                (Some(p), _) if present(&rec.data, p) => strings(&rec.data, p),
                (_, Some(p)) if present(&rec.data, p) => {
                    let ids = strings(&rec.data, p);
                    if ids.is_empty() {
                        Vec::new()
                    } else {
                        let mut table = self.table(&rel.entity).await?;
                        let (unknown, round) = {
                            let t = table.lock().unwrap_or_else(|p| p.into_inner());
                            (ids.iter().any(|id| !t.names.contains_key(id)), t.round)
                        };
                        let now = self
                            .lookups
                            .round
                            .load(std::sync::atomic::Ordering::Acquire);
                        if unknown && round < now {
                            // Read in an earlier listing: a related record may be new since.
                            self.lookups.forget_one(&rel.entity);
                            table = self.table(&rel.entity).await?;
                        }
                        let t = table.lock().unwrap_or_else(|p| p.into_inner());
                        ids.iter()
                            .filter_map(|id| {
                                let n = t.names.get(id).cloned();
                                if n.is_none() {
                                    tracing::debug!(crm = %self.def.name, entity = %rel.entity, id = %id, "a related id is not in the lookup");
                                }
                                n
                            })
                            .collect()
                    }
                }
                _ => continue,
            };
            set(
                &mut rec.data,
                &rel.names,
                Value::Array(names.into_iter().map(Value::String).collect()),
            );
        }
        Ok(())
    }

    /// A create or update body before it is sent: each relation's names (where the mapping
    /// wrote them) become ids at `write_ids`, and the names themselves are left out.
    pub(super) async fn relations_out(
        &self,
        e: &EntityDef,
        data: &Value,
    ) -> Result<Value, ConnectorError> {
        let mut out = data.clone();
        // Lookups listed during this write are not listed again for a second unknown name.
        let mut fresh = HashSet::new();
        for rel in &e.relations {
            let Some(v) = take(&mut out, &rel.names) else {
                continue;
            };
            let Some(write) = &rel.write_ids else {
                continue;
            };
            let names: Vec<String> = match v {
                Value::Array(a) => a
                    .iter()
                    .filter_map(jsonpath::scalar_string)
                    .collect::<Vec<_>>(),
                Value::Null => Vec::new(),
                other => jsonpath::scalar_string(&other).into_iter().collect(),
            };
            let mut ids = Vec::with_capacity(names.len());
            for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
                if let Some(id) = self.id_of(rel, name, &mut fresh).await? {
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
            }
            set(&mut out, write, Value::Array(ids));
        }
        Ok(out)
    }

    /// The id of the related record named `name`, per the relation's `unknown` rule.
    async fn id_of(
        &self,
        rel: &RelationDef,
        name: &str,
        fresh: &mut HashSet<String>,
    ) -> Result<Option<Value>, ConnectorError> {
        let key = name.to_lowercase();
        let find = |t: &Mutex<Table>| {
            t.lock()
                .unwrap_or_else(|p| p.into_inner())
                .ids
                .get(&key)
                .cloned()
        };
        let held = self.lookups.cached(&rel.entity).is_some() && !fresh.contains(&rel.entity);
        let mut t = self.table(&rel.entity).await?;
        if !held {
            fresh.insert(rel.entity.clone());
        }
        if let Some(id) = find(&t) {
            return Ok(Some(id));
        }
        if held {
            // The table is from the last listing: someone may have added the name since.
            self.lookups.forget_one(&rel.entity);
            t = self.table(&rel.entity).await?;
            fresh.insert(rel.entity.clone());
            if let Some(id) = find(&t) {
                return Ok(Some(id));
            }
        }
        match rel.unknown {
            UnknownName::Drop => {
                tracing::warn!(crm = %self.def.name, entity = %rel.entity, name, "a name no related record has was left out of the write");
                Ok(None)
            }
            UnknownName::Refuse => Err(ConnectorError::Invalid {
                message: format!("{} has no record named {name:?}", rel.entity),
            }),
            UnknownName::Create => {
                let mut body = Value::Object(Map::new());
                set(&mut body, &rel.name_field, Value::String(name.to_string()));
                let created = self.create_sent(&rel.entity, &body, None).await?;
                let related = self.entity(&rel.entity)?;
                let raw = jsonpath::get(&created.data, &related.id_field)
                    .cloned()
                    .unwrap_or_else(|| Value::String(created.id.clone()));
                {
                    let mut g = t.lock().unwrap_or_else(|p| p.into_inner());
                    g.ids.insert(key, raw.clone());
                    g.names.insert(created.id, name.to_string());
                }
                Ok(Some(raw))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_are_told_from_empty_lists() {
        let v = json!({"tags": [], "x": {"ids": [1, 2]}});
        assert!(present(&v, "tags[].id"));
        assert!(!present(&v, "labels[].id"));
        assert_eq!(strings(&v, "x.ids"), vec!["1", "2"]);
        assert_eq!(
            strings(&json!({"tags": [{"id": 3}, {"id": "a"}]}), "tags[].id"),
            vec!["3", "a"]
        );
    }

    #[test]
    fn names_are_taken_out_of_a_write() {
        let mut v = json!({"a": {"names": ["x"]}, "b": 1});
        assert_eq!(take(&mut v, "a.names"), Some(json!(["x"])));
        assert_eq!(v, json!({"a": {}, "b": 1}));
        assert_eq!(take(&mut v, "nope"), None);
    }
}
