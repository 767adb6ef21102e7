//! Criterion micro-benchmarks of crmdav's CPU-bound pieces, no HTTP; SQLite only in the
//! `crm_batch` group (the state store's side of a CRM refresh, on a file store) and in
//! `refresh_10k` (a whole refresh over an in-memory store).
//!
//! ```text
//! cargo bench --bench micro                 # all
//! cargo bench --bench micro -- inspect      # a subset (criterion's name filter)
//! cargo bench --bench micro -- refresh_10k  # a CRM collection's refresh (in-memory SQLite)
//! ```
//!
//! Data: the same generator as `dav_compare` (benches/common/gen.rs): 10,000 events (20 %
//! weekly recurring with EXDATE + override, VTIMEZONEs, alarms, all-day) and 10,000 vCards
//! (10 % with a 50 KB photo).
//!
//! The multistatus writer (`dav::multistatus::Multistatus`) is not public, so
//! `multistatus_write_10k` replays the exact sequence of `crmdav::xml::XmlWriter` calls it
//! makes for a PROPFIND Depth 1 answer (`getetag` + `getcontenttype` per member).

#[path = "common/gen.rs"]
mod gen;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crmdav::caldav;
use crmdav::carddav;
use crmdav::store::{
    card_index, CollectionKind, CrmBatchOp, CrmIdentity, ItemIndex, RenderedItem, Store,
};
use crmdav::vocab::ComponentKind;
use crmdav::xml::{self, Limits, XmlWriter, NS_CALDAV, NS_CARDDAV, NS_DAV};
use std::hint::black_box;
use std::time::Duration;

const N: usize = 10_000;

fn multiget_body(n: usize) -> String {
    let mut b = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><c:calendar-multiget xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/><c:calendar-data/></d:prop>"#,
    );
    for i in 0..n {
        b.push_str(&format!(
            "<d:href>/dav/calendars/demo/bench/bench-evt-{i:06}.ics</d:href>"
        ));
    }
    b.push_str("</c:calendar-multiget>");
    b
}

fn calquery_body() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
 <D:prop><D:getetag/><C:calendar-data><C:expand start="{s}" end="{e}"/></C:calendar-data></D:prop>
 <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">
  <C:time-range start="{s}" end="{e}"/>
 </C:comp-filter></C:comp-filter></C:filter>
</C:calendar-query>"#,
        s = gen::MONTH_START,
        e = gen::MONTH_END
    )
}

fn cardquery_body() -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<C:addressbook-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:carddav">
 <D:prop><D:getetag/><C:address-data/></D:prop>
 <C:filter><C:prop-filter name="FN">
  <C:text-match collation="i;unicode-casemap" match-type="contains">{}</C:text-match>
 </C:prop-filter></C:filter>
</C:addressbook-query>"#,
        gen::FN_NEEDLE
    )
}

fn xml_parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("xml_parse");
    let limits = Limits {
        max_depth: 32,
        max_elements: 50_000,
    };
    for (name, body) in [
        ("calendar_query", calquery_body()),
        ("multiget_100", multiget_body(100)),
        ("multiget_1000", multiget_body(1000)),
    ] {
        g.throughput(Throughput::Bytes(body.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| xml::parse(black_box(body.as_bytes()), limits).unwrap())
        });
    }
    g.finish();
}

fn inspect(c: &mut Criterion) {
    let events = gen::events(N);
    let contacts = gen::contacts(N);
    let mut g = c.benchmark_group("inspect");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("caldav_10k_events", |b| {
        b.iter(|| {
            for e in &events {
                black_box(
                    caldav::inspect(black_box(&e.body), &[ComponentKind::Vevent], 5000).unwrap(),
                );
            }
        })
    });
    g.bench_function("carddav_10k_contacts", |b| {
        b.iter(|| {
            for e in &contacts {
                black_box(carddav::inspect(black_box(&e.body)).unwrap());
            }
        })
    });
    g.finish();
}

/// One event with the RRULE `rule`, in Europe/Berlin with its VTIMEZONE, as a phone PUTs it.
fn series(rule: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VTIMEZONE\r\n\
         TZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\n\
         TZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\n\
         END:STANDARD\r\nBEGIN:DAYLIGHT\r\nDTSTART:19700329T020000\r\nTZOFFSETFROM:+0100\r\n\
         TZOFFSETTO:+0200\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\n\
         END:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:series\r\nDTSTAMP:20260101T000000Z\r\n\
         DTSTART;TZID=Europe/Berlin:20260109T093000\r\nDTEND;TZID=Europe/Berlin:20260109T103000\r\n\
         RRULE:{rule}\r\nEXDATE;TZID=Europe/Berlin:20260116T093000\r\nSUMMARY:Stand-up\r\n\
         END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// `caldav::inspect` of one PUT body per kind of series (the index bounds are most of a PUT's
/// CPU): a never-ending rule used to be expanded to the instance cap (5,000).
fn put_inspect(c: &mut Criterion) {
    let mut g = c.benchmark_group("put_inspect");
    g.sample_size(20);
    g.measurement_time(Duration::from_secs(3));
    for (name, rule) in [
        ("daily_open", "FREQ=DAILY"),
        ("weekly_byday_open", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
        ("daily_count_5000", "FREQ=DAILY;COUNT=5000"),
        ("daily_until_2100", "FREQ=DAILY;UNTIL=21000101T000000Z"),
        (
            "weekly_byday_count_500",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR;COUNT=500",
        ),
        (
            "monthly_byday_until_2100",
            "FREQ=MONTHLY;BYDAY=2TU;UNTIL=21000101T000000Z",
        ),
        ("weekly_count_20", "FREQ=WEEKLY;COUNT=20"),
    ] {
        let body = series(rule);
        g.bench_function(name, |b| {
            b.iter(|| {
                black_box(
                    caldav::inspect(black_box(&body), &[ComponentKind::Vevent], 5000).unwrap(),
                )
            })
        });
    }
    g.finish();
}

fn filter_of(body: &str, ns: &str) -> xml::Element {
    let root = xml::parse(body.as_bytes(), Limits::default()).unwrap();
    root.child(ns, "filter").unwrap().clone()
}

fn matches(c: &mut Criterion) {
    let events = gen::events(N);
    let recurring: Vec<&gen::GenItem> = events
        .iter()
        .filter(|e| e.body.contains("RRULE:"))
        .collect();
    let contacts = gen::contacts(N);
    let cal_filter = caldav::parse_filter(&filter_of(&calquery_body(), NS_CALDAV)).unwrap();
    let card_filter = carddav::parse_filter(&filter_of(&cardquery_body(), NS_CARDDAV)).unwrap();
    let mut g = c.benchmark_group("matches");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(8));
    g.throughput(Throughput::Elements(recurring.len() as u64));
    g.bench_function("caldav_time_range_2k_recurring", |b| {
        b.iter(|| {
            recurring
                .iter()
                .filter(|e| caldav::matches(&cal_filter, black_box(&e.body), 5000))
                .count()
        })
    });
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("caldav_time_range_10k_all", |b| {
        b.iter(|| {
            events
                .iter()
                .filter(|e| caldav::matches(&cal_filter, black_box(&e.body), 5000))
                .count()
        })
    });
    g.bench_function("carddav_fn_contains_10k", |b| {
        b.iter(|| {
            contacts
                .iter()
                .filter(|e| carddav::matches(&card_filter, black_box(&e.body)))
                .count()
        })
    });
    let no_photo: Vec<&gen::GenItem> = contacts
        .iter()
        .filter(|e| !e.body.contains("PHOTO"))
        .collect();
    g.throughput(Throughput::Elements(no_photo.len() as u64));
    g.bench_function("carddav_fn_contains_9k_without_photo", |b| {
        b.iter(|| {
            no_photo
                .iter()
                .filter(|e| carddav::matches(&card_filter, black_box(&e.body)))
                .count()
        })
    });
    g.finish();
}

/// The calls `Multistatus::new` / `propstat_response` / `finish` make, per member:
/// `<d:response><d:href>…</d:href><d:propstat><d:prop>getetag, getcontenttype</d:prop>
/// <d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>`.
fn multistatus(c: &mut Criterion) {
    let hrefs: Vec<String> = (0..N)
        .map(|i| format!("/dav/calendars/demo/bench-cal-10000/bench-evt-{i:06}.ics"))
        .collect();
    let etags: Vec<String> = (0..N).map(|i| format!("\"{:064x}\"", i * 7919)).collect();
    let mut g = c.benchmark_group("multistatus");
    g.sample_size(20);
    g.throughput(Throughput::Elements(N as u64));
    g.bench_function("write_10k_responses", |b| {
        b.iter_batched(
            || (),
            |_| {
                let mut w = XmlWriter::new();
                w.raw(&format!("<d:multistatus{}>", XmlWriter::root_decls()));
                for (h, e) in hrefs.iter().zip(&etags) {
                    // PropStats::ok: one XmlWriter per property, as render_props does.
                    let mut ok = String::new();
                    let mut p = XmlWriter::default();
                    p.text_elem(NS_DAV, "getetag", e);
                    ok.push_str(&p.buf);
                    let mut p = XmlWriter::default();
                    p.text_elem(
                        NS_DAV,
                        "getcontenttype",
                        "text/calendar; charset=utf-8; component=VEVENT",
                    );
                    ok.push_str(&p.buf);
                    w.raw("<d:response><d:href>");
                    w.text(h);
                    w.raw("</d:href>");
                    w.raw("<d:propstat><d:prop>");
                    w.raw(&ok);
                    w.raw("</d:prop><d:status>");
                    w.raw(&format!("HTTP/1.1 {} {}", 200, "OK"));
                    w.raw("</d:status></d:propstat>");
                    w.raw("</d:response>");
                }
                w.raw("</d:multistatus>");
                black_box(w.buf.len())
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// Batches of a refresh's writes, as `crm::refresh` sends them.
const CRM_BATCH: usize = 256;

/// 10,000 CRM contacts as a refresh renders them: identity, vCard, index (the generator's
/// cards without a PHOTO, which a CRM record does not carry).
fn crm_records() -> Vec<(CrmIdentity, String, ItemIndex)> {
    (0..)
        .map(gen::contact)
        .filter(|c| !c.body.contains("PHOTO"))
        .take(N)
        .enumerate()
        .map(|(i, c)| {
            let index = card_index(&c.body).expect("a generated card is valid");
            let ident = CrmIdentity {
                name: c.name,
                crm_id: format!("crm-{i}"),
                uid: c.uid,
                record_hash: Some(format!("hash-{i}")),
                ..Default::default()
            };
            (ident, c.body, index)
        })
        .collect()
}

/// Write every record through `crm_batch`, `CRM_BATCH` at a time (`import` as a first import).
async fn write_all(
    s: &Store,
    coll: &crmdav::store::Collection,
    recs: &[(CrmIdentity, String, ItemIndex)],
    import: bool,
) {
    for chunk in recs.chunks(CRM_BATCH) {
        let ops = chunk
            .iter()
            .map(|(ident, body, index)| CrmBatchOp::Save {
                ident,
                item: Some(RenderedItem {
                    content_type: "text/vcard",
                    body: body.as_bytes(),
                    index,
                }),
                import,
            })
            .collect();
        s.crm_batch(coll, ops).await.expect("batch written");
    }
}

/// The state store's side of a CRM refresh of 10,000 records on a SQLite file: the first
/// import (every record written, `crm_batch` 256 at a time, in a fresh store each time), the
/// reads an unchanged refresh made (`crm_identities` and `list_items`, after which it writes
/// nothing) and makes now (`crm_known`), and the same 10,000 saved again with unchanged bytes (identity rows only, as a
/// re-render writes them).
fn crm_batch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let recs = crm_records();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut g = c.benchmark_group("crm_batch");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(20))
        .throughput(Throughput::Elements(N as u64));
    let fresh = |i: &mut usize| {
        *i += 1;
        let url = format!("sqlite://{}", dir.path().join(format!("s{i}.db")).display());
        rt.block_on(async {
            let s = Store::open(&url).await.expect("store opens");
            let coll = s
                .create_collection("t", "crm/", CollectionKind::Addressbook, &[], false)
                .await
                .expect("collection");
            (s, coll)
        })
    };
    let mut n = 0;
    g.bench_function("first_import_10k", |b| {
        b.iter_batched(
            || fresh(&mut n),
            |(s, coll)| {
                rt.block_on(write_all(&s, &coll, &recs, true));
                (s, coll)
            },
            BatchSize::PerIteration,
        )
    });
    let (s, coll) = fresh(&mut n);
    rt.block_on(write_all(&s, &coll, &recs, true));
    let coll = rt
        .block_on(s.collection("t", "crm/"))
        .expect("read")
        .expect("collection");
    g.bench_function("unchanged_refresh_reads_10k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let idents = s.crm_identities(&coll).await.expect("identities");
                let present = s.list_items(&coll).await.expect("items");
                black_box((idents.len(), present.len()))
            })
        })
    });
    // What an unchanged refresh reads now: the narrow identity map with each item's presence.
    g.bench_function("known_read_10k", |b| {
        b.iter(|| {
            rt.block_on(async {
                let known = s.crm_known(&coll).await.expect("identity map");
                black_box(known.rows.len())
            })
        })
    });
    g.bench_function("resave_unchanged_10k", |b| {
        b.iter(|| rt.block_on(write_all(&s, &coll, &recs, false)))
    });
    g.finish();
}

// ---- refresh_10k: a CRM collection's refresh over an in-memory fake connector -------------
//
// The one group with a store (in-memory SQLite): the refresh's own CPU (hashing, mapping,
// index extraction, identity maps) beside the store's, as the gateway runs it. The records
// are amagi-crm contacts and appointments through the shipped amagi-crm mappings; the fake
// lists all of them in one page (a full scan, as amagi's contacts have no modified-since).

/// A connector that lists the same records every time.
struct Listed(Vec<crmdav::connector::Record>);

#[async_trait::async_trait]
impl crmdav::connector::Connector for Listed {
    fn capabilities(&self, _: &str) -> crmdav::connector::Capabilities {
        crmdav::connector::Capabilities::default()
    }
    async fn list(
        &self,
        _: &str,
        _: Option<chrono::DateTime<chrono::Utc>>,
        _: Option<String>,
    ) -> Result<crmdav::connector::Page, crmdav::connector::ConnectorError> {
        Ok(crmdav::connector::Page {
            records: self.0.clone(),
            next: None,
        })
    }
    async fn get(
        &self,
        _: &str,
        id: &str,
    ) -> Result<Option<crmdav::connector::Record>, crmdav::connector::ConnectorError> {
        Ok(self.0.iter().find(|r| r.id == id).cloned())
    }
    async fn create(
        &self,
        _: &str,
        _: &serde_json::Value,
    ) -> Result<crmdav::connector::Record, crmdav::connector::ConnectorError> {
        unreachable!("the bench does not write")
    }
    async fn update(
        &self,
        _: &str,
        _: &str,
        _: &serde_json::Value,
        _: Option<&str>,
    ) -> Result<crmdav::connector::Record, crmdav::connector::ConnectorError> {
        unreachable!("the bench does not write")
    }
    async fn delete(&self, _: &str, _: &str) -> Result<(), crmdav::connector::ConnectorError> {
        unreachable!("the bench does not write")
    }
}

/// amagi-crm shaped records (as its API answers).
fn amagi_records(kind: crmdav::store::CollectionKind) -> Vec<crmdav::connector::Record> {
    use serde_json::json;
    let stamp = "2026-11-26T08:34:56.236764+01:00";
    (0..N)
        .map(|i| {
            let data = match kind {
                crmdav::store::CollectionKind::Addressbook => json!({"id": i + 1,
                    "first_name": format!("First{i}"), "last_name": format!("Last{i}"),
                    "email": format!("person{i}@scale.example"), "phone": "+49 30 1234567",
                    "company": format!("Firm {}", i % 97), "tags": ["customer"],
                    "notes": "Met at the fair", "created_at": stamp, "updated_at": stamp}),
                _ => json!({"id": i + 1, "title": format!("Meeting {i}"),
                    "start": format!("2030-{:02}-{:02}T10:00:00+01:00", 1 + i % 12, 1 + i % 28),
                    "end": format!("2030-{:02}-{:02}T11:00:00+01:00", 1 + i % 12, 1 + i % 28),
                    "location": "Office", "notes": "Agenda: pricing", "status": "booked",
                    "contact_id": i % 500 + 1, "created_at": stamp, "updated_at": stamp}),
            };
            crmdav::connector::Record {
                id: (i + 1).to_string(),
                data,
                modified: None,
                version: None,
            }
        })
        .collect()
}

/// A tenant over the fake, its binding, a fresh in-memory store and the bound collection.
async fn refresh_setup(
    kind: crmdav::store::CollectionKind,
) -> (
    crmdav::crm::CrmTenant,
    std::sync::Arc<crmdav::crm::Binding>,
    crmdav::store::Store,
    crmdav::store::Collection,
) {
    use crmdav::store::CollectionKind;
    let (entity, mapping, path, comps) = match kind {
        CollectionKind::Addressbook => (
            "contacts",
            include_str!("../mappings/amagi-crm/contacts.toml"),
            "addressbooks/u/c/",
            vec![],
        ),
        _ => (
            "appointments",
            include_str!("../mappings/amagi-crm/appointments.toml"),
            "calendars/u/c/",
            vec!["VEVENT".to_string()],
        ),
    };
    let mut t = crmdav::crm::CrmTenant::new(
        "t",
        std::sync::Arc::new(Listed(amagi_records(kind))),
        Box::new(|| 0),
        crmdav::config::SyncOptions {
            refresh_ttl_secs: 0,
            ..Default::default()
        },
        1000,
    );
    let b = crmdav::crm::Binding::new("amagi-crm", entity, mapping, &Default::default())
        .expect("the shipped mapping loads");
    t.bind(kind, "c", b);
    let b = t
        .binding(&crmdav::tree::CollectionPath::of_stored(path))
        .expect("bound");
    let store = crmdav::store::Store::open("sqlite://:memory:")
        .await
        .expect("in-memory store");
    let coll = store
        .create_collection("t", path, kind, &comps, false)
        .await
        .expect("collection");
    (t, b, store, coll)
}

fn refresh_10k(c: &mut Criterion) {
    use crmdav::store::CollectionKind;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut g = c.benchmark_group("refresh_10k");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(20));
    g.throughput(Throughput::Elements(N as u64));
    for (label, kind) in [
        ("contacts", CollectionKind::Addressbook),
        ("appointments", CollectionKind::Calendar),
    ] {
        g.bench_function(format!("{label}_first_import"), |bch| {
            bch.iter_batched(
                || rt.block_on(refresh_setup(kind)),
                |(t, b, store, coll)| {
                    rt.block_on(async {
                        let (_, r) = t.ensure_fresh(&store, &b, &coll).await.expect("ran");
                        assert_eq!(r.expect("imported").written, N);
                    });
                    (t, b, store, coll)
                },
                BatchSize::PerIteration,
            )
        });
        let (t, b, store, coll) = rt.block_on(refresh_setup(kind));
        rt.block_on(t.ensure_fresh(&store, &b, &coll))
            .expect("ran")
            .1
            .expect("imported");
        g.bench_function(format!("{label}_unchanged"), |bch| {
            bch.iter(|| {
                rt.block_on(async {
                    let (_, r) = t.ensure_fresh(&store, &b, &coll).await.expect("ran");
                    let s = r.expect("refreshed");
                    assert_eq!((s.listed, s.written, s.removed), (N, 0, 0));
                })
            })
        });
    }
    g.finish();
}

criterion_group!(
    benches,
    xml_parse,
    inspect,
    put_inspect,
    matches,
    multistatus,
    crm_batch,
    refresh_10k
);
criterion_main!(benches);
