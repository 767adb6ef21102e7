//! The refresh and write paths against a fake connector and an in-memory store.

use super::*;
use crate::config::SyncOptions;
use crate::connector::{Capabilities, Connector, ConnectorError, Page, Record};
use crate::store::{etag_of, CollectionKind, ItemIndex, Store, StoreError, WriteCondition};
use crate::tree::CollectionPath;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;

#[derive(Default)]
struct Fake {
    records: Mutex<Vec<Record>>,
    calls: AtomicU64,
    since_seen: Mutex<Vec<Option<DateTime<Utc>>>>,
    next_id: AtomicU64,
    /// Faults for the next creates, in order: (the CRM commits the record, the error returned).
    create_faults: Mutex<Vec<(bool, ConnectorError)>>,
}

fn rec(id: &str, title: &str, modified: &str) -> Record {
    Record {
        id: id.into(),
        data: json!({"id": id, "title": title, "start": "2030-01-15T10:00:00+01:00", "end": "2030-01-15T11:00:00+01:00", "updated_at": modified}),
        modified: Some(
            DateTime::parse_from_rfc3339(modified)
                .unwrap()
                .with_timezone(&Utc),
        ),
        version: None,
    }
}

#[async_trait::async_trait]
impl Connector for Fake {
    fn capabilities(&self, _: &str) -> Capabilities {
        Capabilities {
            modified_since: true,
            ..Default::default()
        }
    }
    async fn list(
        &self,
        _: &str,
        since: Option<DateTime<Utc>>,
        _: Option<String>,
    ) -> Result<Page, ConnectorError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.since_seen.lock().unwrap().push(since);
        let records = self
            .records
            .lock()
            .unwrap()
            .iter()
            .filter(|r| since.is_none_or(|s| r.modified.unwrap() > s))
            .cloned()
            .collect();
        Ok(Page {
            records,
            next: None,
        })
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<Record>, ConnectorError> {
        unreachable!()
    }
    async fn create(&self, _: &str, data: &Value) -> Result<Record, ConnectorError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let id = format!("n{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut d = data.clone();
        d["id"] = json!(id);
        d["updated_at"] = json!("2030-01-01T00:00:00Z");
        let r = Record {
            id,
            modified: Some(Utc::now()),
            data: d,
            version: None,
        };
        let fault = {
            let mut f = self.create_faults.lock().unwrap();
            (!f.is_empty()).then(|| f.remove(0))
        };
        match fault {
            Some((commit, e)) => {
                if commit {
                    self.records.lock().unwrap().push(r);
                }
                Err(e)
            }
            None => {
                self.records.lock().unwrap().push(r.clone());
                Ok(r)
            }
        }
    }
    async fn update(
        &self,
        _: &str,
        _: &str,
        _: &Value,
        _: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        unreachable!()
    }
    async fn delete(&self, _: &str, _: &str) -> Result<(), ConnectorError> {
        unreachable!()
    }
}

const MAPPING: &str = r#"
component = "VEVENT"
timezone = "Europe/Berlin"
[[field]]
property = "SUMMARY"
path = "title"
[[field]]
property = "DTSTART"
path = "start"
type = "datetime"
[[field]]
property = "DTEND"
path = "end"
type = "datetime"
"#;

fn tenant(fake: Arc<Fake>, full_scan_secs: u64) -> CrmTenant {
    let f2 = fake.clone();
    let mut t = CrmTenant::new(
        "t",
        fake,
        Box::new(move || f2.calls.load(Ordering::Relaxed)),
        SyncOptions {
            refresh_ttl_secs: 0,
            full_scan_secs,
            ..Default::default()
        },
        1000,
    );
    t.bind(
        CollectionKind::Calendar,
        "m",
        Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
    );
    t
}

/// The calendar `calendars/u/m/` of tenant `t` (bound as `m` by [`tenant`]).
async fn person_calendar(store: &Store) -> crate::store::Collection {
    store
        .create_collection(
            "t",
            "calendars/u/m/",
            CollectionKind::Calendar,
            &["VEVENT".into()],
            false,
        )
        .await
        .unwrap()
}

/// The binding of [`person_calendar`] in a tenant made by [`tenant`].
fn person_binding(t: &CrmTenant) -> Arc<Binding> {
    t.binding(&CollectionPath::of_stored("calendars/u/m/"))
        .unwrap()
}

#[tokio::test]
async fn refresh_incremental_full_and_writes() {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    let coll = person_calendar(&store).await;
    let fake = Arc::new(Fake::default());
    fake.records
        .lock()
        .unwrap()
        .push(rec("1", "One", "2030-01-01T10:00:00Z"));
    fake.records
        .lock()
        .unwrap()
        .push(rec("2", "Two", "2030-01-01T11:00:00Z"));
    let t = tenant(fake.clone(), 600);
    let b = person_binding(&t);
    assert!(t
        .binding(&CollectionPath::of_stored("calendars/u/other/"))
        .is_none());

    let (_, r) = t.ensure_fresh(&store, &b, &coll).await.unwrap();
    assert_eq!(
        r.unwrap(),
        RefreshStats {
            listed: 2,
            written: 2,
            removed: 0,
            full: true,
            crm_calls: 1,
        }
    );
    let c1 = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    let items = store.list_items(&c1).await.unwrap();
    let names: Vec<_> = items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(
        names,
        ["fake-things-1@crmdav.ics", "fake-things-2@crmdav.ics"]
    );

    // Idle: an incremental listing from the watermark (10 s overlap: record 2 again, skipped by
    // its hash), nothing written, no seq move.
    let (_, r) = t.ensure_fresh(&store, &b, &c1).await.unwrap();
    assert_eq!(
        r.unwrap(),
        RefreshStats {
            listed: 1,
            written: 0,
            removed: 0,
            full: false,
            crm_calls: 1,
        }
    );
    let since = fake
        .since_seen
        .lock()
        .unwrap()
        .last()
        .copied()
        .flatten()
        .unwrap();
    assert_eq!(since.to_rfc3339(), "2030-01-01T10:59:50+00:00");
    assert_eq!(
        store
            .collection("t", "calendars/u/m/")
            .await
            .unwrap()
            .unwrap()
            .seq,
        c1.seq
    );
    assert_eq!(fake.calls.load(Ordering::Relaxed), 2);

    // A change upstream moves exactly one item.
    fake.records.lock().unwrap()[0] = rec("1", "One (edited)", "2030-01-02T09:00:00Z");
    let (_, r) = t.ensure_fresh(&store, &b, &c1).await.unwrap();
    assert_eq!(r.unwrap().written, 1);
    let c2 = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(c2.seq, c1.seq + 1);
    let body = store
        .item(&c2, "fake-things-1@crmdav.ics")
        .await
        .unwrap()
        .unwrap()
        .body;
    assert!(String::from_utf8(body)
        .unwrap()
        .contains("SUMMARY:One (edited)"));

    // A phone create goes to the CRM once, and the next refresh does not import it again.
    let phone = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:p1\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Phone\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nX-KEEP:yes\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let idx = ItemIndex {
        uid: Some("p1".into()),
        component: Some(crate::vocab::ComponentKind::Vevent),
        ..Default::default()
    };
    let (etag, created) = t
        .put(
            &store,
            &b,
            &c2,
            "p1.ics",
            phone.as_bytes(),
            &idx,
            "text/calendar",
            &WriteCondition::default(),
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(etag, etag_of(phone.as_bytes()));
    let stale = WriteCondition {
        if_match: Some(vec!["\"old\"".into()]),
        if_none_match: None,
    };
    let calls = fake.calls.load(Ordering::Relaxed);
    assert!(matches!(
        t.put(
            &store,
            &b,
            &c2,
            "p1.ics",
            phone.as_bytes(),
            &idx,
            "text/calendar",
            &stale
        )
        .await,
        Err(CrmWriteError::Store(StoreError::PreconditionFailed))
    ));
    assert_eq!(
        fake.calls.load(Ordering::Relaxed),
        calls,
        "412 before any CRM call"
    );

    // Deletions need a full scan.
    fake.records.lock().unwrap().remove(1);
    let t_full = tenant(fake.clone(), 0);
    let c3 = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    let (_, r) = t_full.ensure_fresh(&store, &b, &c3).await.unwrap();
    let r = r.unwrap();
    assert_eq!((r.full, r.removed), (true, 1));
    let c4 = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    let names: Vec<_> = store
        .list_items(&c4)
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(
        names,
        ["fake-things-1@crmdav.ics", "p1.ics"],
        "no duplicate of the phone's item"
    );
    assert_eq!(
        store.item(&c4, "p1.ics").await.unwrap().unwrap().body,
        phone.as_bytes()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_share_one_refresh() {
    let store = Arc::new(Store::open("sqlite://:memory:").await.unwrap());
    let coll = person_calendar(&store).await;
    let fake = Arc::new(Fake::default());
    fake.records
        .lock()
        .unwrap()
        .push(rec("1", "One", "2030-01-01T10:00:00Z"));
    let f2 = fake.clone();
    let mut t = CrmTenant::new(
        "t",
        fake.clone(),
        Box::new(move || f2.calls.load(Ordering::Relaxed)),
        SyncOptions {
            refresh_ttl_secs: 30,
            full_scan_secs: 600,
            ..Default::default()
        },
        1000,
    );
    t.bind(
        CollectionKind::Calendar,
        "m",
        Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
    );
    let t = Arc::new(t);
    let b = person_binding(&t);
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let (t, b, store, coll) = (t.clone(), b.clone(), store.clone(), coll.clone());
        tasks.push(tokio::spawn(async move {
            t.ensure_fresh(&store, &b, &coll).await.is_some()
        }));
    }
    let mut ran = 0;
    for h in tasks {
        ran += h.await.unwrap() as usize;
    }
    assert_eq!(ran, 1, "one refresh for 16 concurrent readers");
    assert_eq!(fake.calls.load(Ordering::Relaxed), 1);
    assert_eq!(store.list_items(&coll).await.unwrap().len(), 1);
    t.invalidate(coll.id);
    assert!(t.ensure_fresh(&store, &b, &coll).await.is_some());
    assert_eq!(t.calls(), 2);
}

/// Without a lookup (the fake has no `find_created`), a create whose answer was lost after it
/// was sent holds the item: its retry is a 503 and makes no second record. A create that never
/// reached the CRM (no connection) changed nothing, so the retry creates at once.
#[tokio::test]
async fn unknown_outcome_holds_the_item_but_an_unsent_create_does_not() {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    person_calendar(&store).await;
    let coll = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    let fake = Arc::new(Fake::default());
    let t = tenant(fake.clone(), 600);
    let b = person_binding(&t);
    let phone = |uid: &str| {
        format!("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Phone\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
    };
    let idx = |uid: &str| ItemIndex {
        uid: Some(uid.into()),
        component: Some(crate::vocab::ComponentKind::Vevent),
        ..Default::default()
    };
    let put = |name: &'static str, uid: &'static str| {
        let (t, store, b, coll) = (&t, &store, &b, &coll);
        let (body, idx) = (phone(uid), idx(uid));
        async move {
            t.put(
                store,
                b,
                coll,
                name,
                body.as_bytes(),
                &idx,
                "text/calendar",
                &WriteCondition::default(),
            )
            .await
        }
    };
    let lost = ConnectorError::Unavailable {
        message: "HTTP 504".into(),
        retry_after: None,
    };
    fake.create_faults.lock().unwrap().push((true, lost));
    let e = put("a.ics", "a").await.unwrap_err().to_string();
    assert!(e.contains("outcome of the create is unknown"), "{e}");
    let e = put("a.ics", "a").await.unwrap_err().to_string();
    assert!(e.contains("could not be looked up"), "{e}");
    assert!(e.contains("not created again for 10 minutes"), "{e}");
    assert_eq!(
        fake.records.lock().unwrap().len(),
        1,
        "one record, no second create"
    );

    fake.create_faults
        .lock()
        .unwrap()
        .push((false, ConnectorError::not_sent("connection refused")));
    assert!(put("b.ics", "b").await.is_err());
    let (_, created) = put("b.ics", "b").await.unwrap();
    assert!(created, "an unsent create does not hold the item");
    assert_eq!(fake.records.lock().unwrap().len(), 2);
}

/// The calendars `calendars/u0/m/` … of `n` people of tenant `t` (one query, bound as `m`).
async fn user_calendars(store: &Store, n: usize) -> Vec<crate::store::Collection> {
    let mut out = Vec::with_capacity(n);
    for u in 0..n {
        out.push(
            store
                .create_collection(
                    "t",
                    &format!("calendars/u{u}/m/"),
                    CollectionKind::Calendar,
                    &["VEVENT".into()],
                    false,
                )
                .await
                .unwrap(),
        );
    }
    out
}

/// People sharing a query share one listing per TTL, and a write through one of their
/// collections makes the next refresh list again, so a record a phone just created is never
/// missing from the listing a full refresh reconciles against (which would remove it).
#[tokio::test]
async fn shared_listings_and_a_write_between_them() {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    let fake = Arc::new(Fake::default());
    fake.records
        .lock()
        .unwrap()
        .push(rec("1", "One", "2030-01-01T10:00:00Z"));
    let f2 = fake.clone();
    let mut t = CrmTenant::new(
        "t",
        fake.clone(),
        Box::new(move || f2.calls.load(Ordering::Relaxed)),
        SyncOptions {
            refresh_ttl_secs: 30,
            full_scan_secs: 0,
            ..Default::default()
        },
        1000,
    );
    t.bind(
        CollectionKind::Calendar,
        "m",
        Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
    );
    let colls = user_calendars(&store, 20).await;
    let b = t
        .binding(&CollectionPath::of_stored("calendars/u0/m/"))
        .unwrap();
    for c in &colls[..10] {
        let (_, r) = t.ensure_fresh(&store, &b, c).await.unwrap();
        assert_eq!(r.unwrap().written, 1);
    }
    assert_eq!(
        fake.calls.load(Ordering::Relaxed),
        1,
        "ten people, one listing"
    );
    assert_eq!(t.listings_run(), 1);

    // u10 creates an item; its first refresh comes after, within the TTL of the shared
    // listing that predates the create.
    let phone = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:p1\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Phone\r\nDTSTART:20300301T090000Z\r\nDTEND:20300301T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
    let idx = ItemIndex {
        uid: Some("p1".into()),
        component: Some(crate::vocab::ComponentKind::Vevent),
        ..Default::default()
    };
    t.put(
        &store,
        &b,
        &colls[10],
        "p1.ics",
        phone.as_bytes(),
        &idx,
        "text/calendar",
        &WriteCondition::default(),
    )
    .await
    .unwrap();
    let (_, r) = t.ensure_fresh(&store, &b, &colls[10]).await.unwrap();
    assert_eq!(
        r.unwrap().removed,
        0,
        "the phone's item is not taken for deleted"
    );
    let names: Vec<_> = store
        .list_items(&colls[10])
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.name)
        .collect();
    assert_eq!(names, ["fake-things-1@crmdav.ics", "p1.ics"]);
    assert_eq!(
        fake.calls.load(Ordering::Relaxed),
        3,
        "list, create, list again"
    );
    for c in &colls[11..] {
        t.ensure_fresh(&store, &b, c).await.unwrap().1.unwrap();
    }
    assert_eq!(
        fake.calls.load(Ordering::Relaxed),
        3,
        "the rest share the new listing"
    );
}

/// A person with their own CRM credential lists with it, in a listing of their own (the CRM
/// decides what it holds); the people on the tenant's credential keep sharing one. Every
/// call is counted in the tenant's total, the personal ones also on their own.
#[tokio::test]
async fn a_personal_credential_lists_on_its_own() {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    let service = Arc::new(Fake::default());
    service
        .records
        .lock()
        .unwrap()
        .push(rec("1", "Everyone's", "2030-01-01T10:00:00Z"));
    let own = Arc::new(Fake::default());
    own.records
        .lock()
        .unwrap()
        .push(rec("2", "Only alice may see", "2030-01-01T10:00:00Z"));
    let s2 = service.clone();
    let mut t = CrmTenant::new(
        "t",
        service.clone(),
        Box::new(move || s2.calls.load(Ordering::Relaxed)),
        SyncOptions {
            refresh_ttl_secs: 30,
            full_scan_secs: 0,
            ..Default::default()
        },
        1000,
    );
    t.bind(
        CollectionKind::Calendar,
        "m",
        Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
    );
    let o2 = own.clone();
    t.add_personal(
        "alice",
        own.clone(),
        Box::new(move || o2.calls.load(Ordering::Relaxed)),
    );
    let b = t
        .binding(&CollectionPath::of_stored("calendars/alice/m/"))
        .unwrap();
    let mut titles = HashMap::new();
    for u in ["alice", "bob", "carol"] {
        let c = store
            .create_collection(
                "t",
                &format!("calendars/{u}/m/"),
                CollectionKind::Calendar,
                &["VEVENT".into()],
                false,
            )
            .await
            .unwrap();
        t.ensure_fresh(&store, &b, &c).await.unwrap().1.unwrap();
        let mut held = Vec::new();
        for i in store.list_items_with_body(&c).await.unwrap() {
            let body = String::from_utf8(i.body).unwrap();
            held.extend(
                body.lines()
                    .filter_map(|l| l.strip_prefix("SUMMARY:"))
                    .map(String::from),
            );
        }
        titles.insert(u, held);
    }
    assert_eq!(titles["alice"], ["Only alice may see"]);
    assert_eq!(titles["bob"], ["Everyone's"]);
    assert_eq!(titles["carol"], ["Everyone's"]);
    assert_eq!(own.calls.load(Ordering::Relaxed), 1, "alice's own listing");
    assert_eq!(
        service.calls.load(Ordering::Relaxed),
        1,
        "bob and carol share one"
    );
    assert_eq!(t.listings_run(), 2);
    assert_eq!(t.calls(), 2);
    assert_eq!(t.personal_calls(), 1);
    assert!(t.has_personal("alice") && !t.has_personal("bob"));
}

/// The stored hashes stay valid across the streamed hashing: the SHA-256 of the compact JSON,
/// as before, so an upgrade re-renders nothing.
#[test]
fn record_hash_is_the_hash_of_the_compact_json() {
    use sha2::{Digest, Sha256};
    let r = Record {
        id: "7".into(),
        data: json!({"id": 7, "title": "Zürich \"quoted\" \\ 🎉", "n": [1, 2.5, null, true],
            "nested": {"b": "x", "a": {"c": []}}}),
        modified: None,
        version: None,
    };
    let compact = serde_json::to_string(&r.data).unwrap();
    assert_eq!(
        record_hash(&r),
        hex::encode(&Sha256::digest(compact.as_bytes())[..16])
    );
    assert_eq!(record_hash(&r).len(), 32);
    // The listing's hash of the text it keeps is the same.
    assert_eq!(super::binding::json_hash(&compact), record_hash(&r));
}

/// A CRM that lists its records two to a page, and fails the page numbered in `fail_at` (from
/// 1) while it is set.
struct Paged {
    records: Vec<Record>,
    calls: AtomicU64,
    fail_at: Mutex<Option<usize>>,
}

#[async_trait::async_trait]
impl Connector for Paged {
    fn capabilities(&self, _: &str) -> Capabilities {
        Capabilities::default()
    }
    async fn list(
        &self,
        _: &str,
        _: Option<DateTime<Utc>>,
        page: Option<String>,
    ) -> Result<Page, ConnectorError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let at: usize = page.as_deref().map_or(0, |p| p.parse().unwrap());
        if *self.fail_at.lock().unwrap() == Some(at / 2 + 1) {
            return Err(ConnectorError::Unavailable {
                message: "page failed".into(),
                retry_after: None,
            });
        }
        let end = (at + 2).min(self.records.len());
        Ok(Page {
            records: self.records[at..end].to_vec(),
            next: (end < self.records.len()).then(|| end.to_string()),
        })
    }
    async fn get(&self, _: &str, _: &str) -> Result<Option<Record>, ConnectorError> {
        unreachable!("a full scan finds every record")
    }
    async fn create(&self, _: &str, _: &Value) -> Result<Record, ConnectorError> {
        unreachable!()
    }
    async fn update(
        &self,
        _: &str,
        _: &str,
        _: &Value,
        _: Option<&str>,
    ) -> Result<Record, ConnectorError> {
        unreachable!()
    }
    async fn delete(&self, _: &str, _: &str) -> Result<(), ConnectorError> {
        unreachable!()
    }
}

/// A tenant over five records listed two to a page, `colls` calendars bound to it.
async fn paged(
    ttl: u64,
    colls: usize,
) -> (
    Arc<Paged>,
    CrmTenant,
    Arc<Binding>,
    Store,
    Vec<crate::store::Collection>,
) {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    let crm = Arc::new(Paged {
        records: (1..=5)
            .map(|i| {
                rec(
                    &i.to_string(),
                    &format!("Meeting {i}"),
                    "2030-01-01T10:00:00Z",
                )
            })
            .collect(),
        calls: AtomicU64::new(0),
        fail_at: Mutex::new(None),
    });
    let c2 = crm.clone();
    let mut t = CrmTenant::new(
        "t",
        crm.clone(),
        Box::new(move || c2.calls.load(Ordering::Relaxed)),
        SyncOptions {
            refresh_ttl_secs: ttl,
            ..Default::default()
        },
        1000,
    );
    t.bind(
        CollectionKind::Calendar,
        "m",
        Binding::new("fake", "things", MAPPING, &HashMap::new()).unwrap(),
    );
    let out = user_calendars(&store, colls).await;
    let b = t
        .binding(&CollectionPath::of_stored("calendars/u0/m/"))
        .unwrap();
    (crm, t, b, store, out)
}

/// A listing read page by page is kept for the TTL (as text) and read again page by page by
/// the next person with the same scope: three pages, one listing, the same five items in both
/// collections, and an unchanged refresh of the second writes nothing.
#[tokio::test]
async fn a_paged_listing_is_shared_page_by_page() {
    let (crm, t, b, store, colls) = paged(30, 2).await;
    let (_, r) = t.ensure_fresh(&store, &b, &colls[0]).await.unwrap();
    let s = r.unwrap();
    assert_eq!((s.listed, s.written, s.crm_calls, s.full), (5, 5, 3, true));
    let (_, r) = t.ensure_fresh(&store, &b, &colls[1]).await.unwrap();
    let s = r.unwrap();
    assert_eq!((s.listed, s.written, s.crm_calls), (5, 5, 0));
    assert_eq!(crm.calls.load(Ordering::Relaxed), 3);
    assert_eq!(t.listings_run(), 1);
    let names = |c| {
        let store = &store;
        async move {
            let mut n: Vec<String> = store
                .list_items(c)
                .await
                .unwrap()
                .into_iter()
                .map(|m| m.name)
                .collect();
            n.sort();
            n
        }
    };
    assert_eq!(names(&colls[0]).await, names(&colls[1]).await);
    assert_eq!(names(&colls[1]).await.len(), 5);
}

/// A page that fails ends the refresh: what the earlier pages wrote stays (each page is
/// applied before the next is read), nothing is removed, the refresh state is not moved, no
/// listing is kept for others, and the next refresh completes the collection.
#[tokio::test]
async fn a_failed_page_keeps_the_pages_before_it() {
    let (crm, t, b, store, colls) = paged(0, 1).await;
    *crm.fail_at.lock().unwrap() = Some(2);
    let (_, r) = t.ensure_fresh(&store, &b, &colls[0]).await.unwrap();
    assert!(matches!(r, Err(RefreshError::Connector(_))), "{r:?}");
    assert_eq!(store.list_items(&colls[0]).await.unwrap().len(), 2);
    assert_eq!(store.crm_state(&colls[0]).await.unwrap().full_scan_at, None);
    *crm.fail_at.lock().unwrap() = None;
    let (_, r) = t.ensure_fresh(&store, &b, &colls[0]).await.unwrap();
    let s = r.unwrap();
    assert_eq!((s.listed, s.written, s.removed), (5, 3, 0));
    assert_eq!(store.list_items(&colls[0]).await.unwrap().len(), 5);
    assert_eq!(t.listings_run(), 2);
}

/// A held record listed twice on one page with two contents (the listing shifted while it
/// paged): the later copy wins, as with records listed twice across pages.
#[tokio::test]
async fn a_held_record_listed_twice_on_a_page_ends_as_its_later_copy() {
    let store = Store::open("sqlite://:memory:").await.unwrap();
    let coll = person_calendar(&store).await;
    let fake = Arc::new(Fake::default());
    fake.records
        .lock()
        .unwrap()
        .push(rec("1", "One", "2030-01-01T10:00:00Z"));
    let t = tenant(fake.clone(), 0);
    let b = person_binding(&t);
    t.ensure_fresh(&store, &b, &coll).await.unwrap().1.unwrap();
    *fake.records.lock().unwrap() = vec![
        rec("1", "Older", "2030-01-02T10:00:00Z"),
        rec("1", "Later", "2030-01-03T10:00:00Z"),
    ];
    let coll = store
        .collection("t", "calendars/u/m/")
        .await
        .unwrap()
        .unwrap();
    t.ensure_fresh(&store, &b, &coll).await.unwrap().1.unwrap();
    let items = store.list_items_with_body(&coll).await.unwrap();
    assert_eq!(items.len(), 1);
    let body = String::from_utf8_lossy(&items[0].body);
    assert!(body.contains("SUMMARY:Later"), "{body}");
    // The identity holds the later copy's hash (the item's bytes alone would not tell: the
    // page's records to render are keyed by CRM id, the later copy's).
    let later = rec("1", "Later", "2030-01-03T10:00:00Z");
    let ident = store
        .crm_identity(&coll, &items[0].meta.name)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ident.record_hash,
        Some(super::binding::json_hash(
            &serde_json::to_string(&later.data).unwrap()
        ))
    );
}
