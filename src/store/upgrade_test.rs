//! A state file written by crmdav 0.1.0 (before schema migrations) opens through the
//! [`StateStore`](super::StateStore) boundary, is upgraded in place, and holds exactly what
//! that release served (`tests/fixtures/state-v0/expected.json`).

use std::collections::{BTreeMap, BTreeSet};

use percent_encoding::percent_decode_str;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::{Change, DeadProperty, Store};

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/state-v0");
const TENANT: &str = "fx";

/// The store path an expected href names (`/dav/` + the percent-encoded store path).
fn store_path(href: &str) -> String {
    let rest = href.strip_prefix("/dav/").expect("href under /dav/");
    percent_decode_str(rest)
        .decode_utf8()
        .expect("UTF-8 href")
        .into_owned()
}

/// Dead properties as the release showed them: `{ns}name` → the element's text.
fn dead_map(props: &[DeadProperty]) -> BTreeMap<String, String> {
    props
        .iter()
        .map(|p| {
            let doc = roxmltree::Document::parse(&p.value).expect("stored property XML");
            let text = doc.root_element().text().unwrap_or_default().to_string();
            (format!("{{{}}}{}", p.ns, p.name), text)
        })
        .collect()
}

fn expected_dead(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .expect("dead object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("text value").to_string()))
        .collect()
}

async fn check(store: &Store, expected: &Value) {
    assert_eq!(
        store.schema_version().await.unwrap(),
        store.latest_schema_version(),
        "the schema is current"
    );
    let colls = expected["collections"].as_object().unwrap();

    // The same collections below the homes, no more and no fewer.
    let mut found = BTreeSet::new();
    for home in ["calendars/ann/", "addressbooks/ann/"] {
        for c in store.child_collections(TENANT, home).await.unwrap() {
            found.insert(c.path);
        }
    }
    let wanted: BTreeSet<String> = colls.keys().map(|h| store_path(h)).collect();
    assert_eq!(found, wanted);

    for (href, want) in colls {
        let path = store_path(href);
        let coll = store.collection(TENANT, &path).await.unwrap().unwrap();
        let dav = coll.is_dav_collection();
        assert_eq!(
            dav.then(|| coll.sync_token()).as_deref(),
            want["sync_token"].as_str(),
            "{href} sync token"
        );
        assert_eq!(
            dav.then(|| coll.ctag()).as_deref(),
            want["ctag"].as_str(),
            "{href} CTag"
        );
        let dead = store.dead_props(TENANT, &path).await.unwrap();
        assert_eq!(dead_map(&dead), expected_dead(&want["dead"]), "{href}");

        let members = want["members"].as_object().unwrap();
        let names: BTreeSet<String> = store
            .list_items(&coll)
            .await
            .unwrap()
            .into_iter()
            .map(|m| format!("{path}{}", m.name))
            .collect();
        let wanted: BTreeSet<String> = members.keys().map(|h| store_path(h)).collect();
        assert_eq!(names, wanted, "{href} members");
        for (mhref, m) in members {
            let mpath = store_path(mhref);
            let name = &mpath[path.len()..];
            let item = store.item(&coll, name).await.unwrap().unwrap();
            assert_eq!(Some(item.meta.etag.as_str()), m["etag"].as_str(), "{mhref}");
            assert_eq!(
                Some(hex::encode(Sha256::digest(&item.body)).as_str()),
                m["sha256"].as_str(),
                "{mhref} body"
            );
            let dead = store.dead_props(TENANT, &mpath).await.unwrap();
            assert_eq!(dead_map(&dead), expected_dead(&m["dead"]), "{mhref}");
        }
    }

    // sync-collection from an older token: the same changes and the same new token.
    let sync = &expected["sync_from_3"];
    let token = sync["token"].as_str().unwrap();
    let changes = sync["changes"].as_object().unwrap();
    let first = changes.keys().next().unwrap();
    let coll_path = super::split_item_path(&store_path(first)).0;
    let coll = store.collection(TENANT, &coll_path).await.unwrap().unwrap();
    let since = coll
        .parse_token(token)
        .expect("the old token is still valid");
    let (list, upto) = store.changes_since(&coll, Some(since), None).await.unwrap();
    let got: BTreeMap<String, String> = list
        .iter()
        .map(|c| match c {
            Change::Changed(m, _) => (format!("{coll_path}{}", m.name), "changed".to_string()),
            Change::Deleted(n, _) => (
                format!("{coll_path}{n}"),
                "HTTP/1.1 404 Not Found".to_string(),
            ),
        })
        .collect();
    let want: BTreeMap<String, String> = changes
        .iter()
        .map(|(h, v)| (store_path(h), v.as_str().unwrap().to_string()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(Some(coll.token(upto).as_str()), sync["new_token"].as_str());
}

#[tokio::test]
async fn a_state_file_of_the_previous_release_opens_unchanged() {
    let expected: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{FIXTURE}/expected.json")).unwrap())
            .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crmdav.db");
    std::fs::copy(format!("{FIXTURE}/crmdav.db"), &db).unwrap();
    let url = format!("sqlite://{}", db.display());

    let store = Store::open(&url).await.unwrap();
    assert_eq!(store.latest_schema_version(), 12);
    check(&store, &expected).await;
    drop(store);

    // Opening again finds the migration recorded and changes nothing.
    let store = Store::open(&url).await.unwrap();
    check(&store, &expected).await;
}

/// A store file written at schema `version` with `rows` inserted, then opened (and so
/// migrated) by this release: its folder (kept alive by the caller), URL and store.
async fn upgraded_from(version: i64, rows: &str) -> (tempfile::TempDir, String, Store) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!(
        "sqlite://{}",
        dir.path().join(format!("v{version}.db")).display()
    );
    let pool = sqlx::SqlitePool::connect(&format!("{url}?mode=rwc"))
        .await
        .unwrap();
    sqlx::migrate!("./migrations")
        .run_to(version, &pool)
        .await
        .unwrap();
    sqlx::raw_sql(sqlx::AssertSqlSafe(rows.to_string()))
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let store = Store::open(&url).await.unwrap();
    assert_eq!(
        store.schema_version().await.unwrap(),
        store.latest_schema_version()
    );
    (dir, url, store)
}

/// Migration 0010 indexes the card fields a store already holds: a store at schema 9 with a
/// card's field rows answers a text-match of 3 characters or more (through the trigram index)
/// once upgraded, and a short one (the scan) as before.
#[tokio::test]
async fn the_trigram_index_covers_the_fields_stored_before_it() {
    use crate::carddav::{Collation, ExactProbe, MatchType};
    let (_dir, _, store) = upgraded_from(
        9,
        "INSERT INTO collections (id, tenant, path, kind, seq, instance, created, modified) \
         VALUES (1, 'fx', 'addressbooks/ann/book/', 'addressbook', 1, 'abc', 1, 1);
         INSERT INTO items (id, collection_id, name, etag, content_type, body, seq, component, \
         created, modified) VALUES (7, 1, 'ada.vcf', 'e1', 'text/vcard', X'', 1, 'VCARD', 1, 1);
         INSERT INTO card_fields (item_id, prop, key, value) \
         VALUES (7, 'FN', 'ada lovelace', 'Ada Lovelace'), (7, 'EMAIL', 'ada@x', 'ada@x');",
    )
    .await;
    let coll = store
        .collection("fx", "addressbooks/ann/book/")
        .await
        .unwrap()
        .unwrap();
    let probe = |text: &str, collation| ExactProbe {
        prop: "FN".into(),
        collation,
        match_type: MatchType::Contains,
        text: text.into(),
    };
    for (text, collation) in [
        ("LOVELACE", Collation::UnicodeCasemap),
        ("Lovel", Collation::Octet),
        ("a LOV", Collation::AsciiCasemap),
        ("Lo", Collation::Octet),
    ] {
        assert_eq!(
            store
                .card_matches(&coll, &probe(text, collation))
                .await
                .unwrap(),
            ["ada.vcf"],
            "{text:?}"
        );
    }
    assert!(store
        .card_matches(&coll, &probe("lovel", Collation::Octet))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        store.card_candidates(&coll, "EMAIL", "ada@").await.unwrap(),
        ["ada.vcf"]
    );
}

/// Migration 0011 stores each body's length for the listings: a store at schema 10 lists,
/// once upgraded, the octet length of every member's body (a body an older release stored
/// as TEXT included), by name and in the change log, and a write afterwards keeps it.
#[tokio::test]
async fn the_listings_read_sizes_stored_before_them() {
    use crate::store::{ItemIndex, WriteCondition};
    // "é" is two octets: a TEXT body's size is its octet length, not its characters.
    let (_dir, _, store) = upgraded_from(
        10,
        "INSERT INTO collections (id, tenant, path, kind, seq, instance, created, modified) \
         VALUES (1, 'fx', 'calendars/ann/cal/', 'calendar', 3, 'abc', 1, 1);
         INSERT INTO items (id, collection_id, name, etag, content_type, body, seq, created, \
         modified) VALUES (1, 1, 'a.ics', 'e1', 'text/calendar', X'41424344', 1, 1, 1), \
         (2, 1, 'b.ics', 'e2', 'text/calendar', 'caf' || char(233), 2, 1, 1), \
         (3, 1, 'c.ics', 'e3', 'text/calendar', X'', 3, 1, 1);",
    )
    .await;
    let coll = store
        .collection("fx", "calendars/ann/cal/")
        .await
        .unwrap()
        .unwrap();
    let sizes = |v: Vec<super::ItemMeta>| -> Vec<(String, i64)> {
        v.into_iter().map(|m| (m.name, m.size)).collect()
    };
    let want: Vec<(String, i64)> = vec![
        ("a.ics".into(), 4),
        ("b.ics".into(), 5),
        ("c.ics".into(), 0),
    ];
    assert_eq!(
        sizes(store.list_items(&coll).await.unwrap()),
        want,
        "by name"
    );
    let (changes, _) = store.changes_since(&coll, None, None).await.unwrap();
    let logged: Vec<(String, i64)> = changes
        .into_iter()
        .filter_map(|c| match c {
            Change::Changed(m, _) => Some((m.name, m.size)),
            Change::Deleted(..) => None,
        })
        .collect();
    assert_eq!(logged, want, "the change log");
    store
        .put_item(
            &coll,
            "c.ics",
            "text/calendar",
            b"1234567",
            &ItemIndex::default(),
            &WriteCondition::default(),
        )
        .await
        .unwrap();
    assert_eq!(
        store.item_meta(&coll, "c.ics").await.unwrap().unwrap().size,
        7
    );
}

/// Migration 0012 moves the trigram index's inserts from a per-row trigger to the writer: a
/// store at schema 10 whose fields the trigger indexed opens with the trigger gone, the rows
/// it indexed still found, a card written and one replaced after the upgrade found by their
/// new text only, and FTS5's own check finding the index equal to the field rows.
#[tokio::test]
async fn the_trigram_index_stays_exact_after_its_trigger_is_dropped() {
    use crate::store::{card_index, CollectionKind, WriteCondition};
    let (_dir, url, store) = upgraded_from(
        10,
        "INSERT INTO collections (id, tenant, path, kind, seq, instance, created, modified) \
         VALUES (1, 'fx', 'addressbooks/ann/book/', 'addressbook', 1, 'abc', 1, 1);
         INSERT INTO items (id, collection_id, name, etag, content_type, body, seq, component, \
         created, modified) VALUES (7, 1, 'ada.vcf', 'e1', 'text/vcard', X'', 1, 'VCARD', 1, 1),
         (8, 1, 'bea.vcf', 'e2', 'text/vcard', X'', 1, 'VCARD', 1, 1);
         INSERT INTO card_fields (item_id, prop, key, value) \
         VALUES (7, 'FN', 'ada lovelace', 'Ada Lovelace'), (8, 'FN', 'bea brandt', 'Bea Brandt');",
    )
    .await;
    let coll = store
        .collection("fx", "addressbooks/ann/book/")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(coll.kind, CollectionKind::Addressbook);
    let put = |name: &'static str, fname: &'static str| {
        let (store, coll) = (&store, &coll);
        async move {
            let body =
                format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{name}\r\nFN:{fname}\r\nEND:VCARD\r\n");
            let index = card_index(&body).unwrap();
            store
                .put_item(
                    coll,
                    name,
                    "text/vcard",
                    body.as_bytes(),
                    &index,
                    &WriteCondition::default(),
                )
                .await
                .unwrap();
        }
    };
    put("cleo.vcf", "Cleo Okafor").await;
    put("bea.vcf", "Bea Okonkwo").await;
    for (text, hits) in [
        ("lovelace", &["ada.vcf"][..]),
        ("okafor", &["cleo.vcf"]),
        ("okonkwo", &["bea.vcf"]),
        ("brandt", &[]),
    ] {
        assert_eq!(
            store.card_candidates(&coll, "FN", text).await.unwrap(),
            hits,
            "{text}"
        );
    }
    let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
    let triggers: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'card_fields' \
         ORDER BY name",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        triggers,
        ["card_fields_trgm_delete", "card_fields_trgm_update"]
    );
    sqlx::query(
        "INSERT INTO card_fields_trgm (card_fields_trgm, rank) VALUES ('integrity-check', 1)",
    )
    .execute(&pool)
    .await
    .expect("the trigram index matches card_fields");
}
