//! The behaviour every state backend owes its callers, run on SQLite (memory and file) and on
//! a throwaway PostgreSQL cluster: each method of every trait in `backend.rs`, and on
//! PostgreSQL the same guarantees with two stores (two pools, as two instances would have) on
//! one database writing at once.

use std::collections::HashSet;
use std::sync::Arc;

use futures_util::StreamExt;

use super::*;

#[path = "../../tests/support/postgres.rs"]
mod pg_cluster;

const T: &str = "t";
const CT: &str = "text/calendar";

fn cond(if_match: Option<&str>, if_none_match: Option<&str>) -> WriteCondition {
    WriteCondition {
        if_match: if_match.map(|e| vec![e.to_string()]),
        if_none_match: if_none_match.map(|e| vec![e.to_string()]),
    }
}

fn event(uid: &str, start: i64, end: i64) -> ItemIndex {
    ItemIndex {
        uid: Some(uid.into()),
        component: Some(crate::vocab::ComponentKind::Vevent),
        first_start: Some(start),
        last_end: Some(end),
        fields: Vec::new(),
    }
}

fn card(uid: &str, fields: &[(&str, &str)]) -> ItemIndex {
    ItemIndex {
        uid: Some(uid.into()),
        component: Some(crate::vocab::ComponentKind::Vcard),
        fields: fields
            .iter()
            .map(|(p, v)| (p.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    }
}

async fn coll(s: &Store, path: &str) -> Collection {
    s.collection(T, path).await.unwrap().unwrap()
}

async fn calendar(s: &Store, path: &str) -> Collection {
    s.create_collection(T, path, CollectionKind::Calendar, &["VEVENT".into()], false)
        .await
        .unwrap()
}

/// Every member of `c` is listed with the length of its body as `size`, by name
/// (`list_items`, `stream_items`) and in the change log: the listings read the stored size
/// (migration 0011), which every write path keeps. Returns the names and sizes by name.
async fn listed_sizes(s: &Store, c: &Collection) -> Vec<(String, i64)> {
    let bodies: Vec<(String, i64)> = s
        .list_items_with_body(c)
        .await
        .unwrap()
        .into_iter()
        .map(|i| (i.meta.name, i.body.len() as i64))
        .collect();
    let listed: Vec<(String, i64)> = s
        .list_items(c)
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.name, m.size))
        .collect();
    assert_eq!(listed, bodies, "list_items");
    let streamed: Vec<(String, i64)> = s
        .stream_items(c, false)
        .map(|r| r.unwrap())
        .map(|i| (i.meta.name, i.meta.size))
        .collect()
        .await;
    assert_eq!(streamed, bodies, "stream_items");
    let (changes, _) = s.changes_since(c, None, None).await.unwrap();
    let mut logged: Vec<(String, i64)> = changes
        .into_iter()
        .filter_map(|ch| match ch {
            Change::Changed(m, _) => Some((m.name, m.size)),
            Change::Deleted(..) => None,
        })
        .collect();
    logged.sort();
    assert_eq!(logged, bodies, "the change log");
    bodies
}

fn seq_of(c: &Change) -> i64 {
    match c {
        Change::Changed(_, s) | Change::Deleted(_, s) => *s,
    }
}

/// Every part of the contract, in order, on one store.
async fn contract(s: &Store) {
    assert_eq!(s.schema_version().await.unwrap(), s.latest_schema_version());
    collections(s).await;
    items(s).await;
    change_log(s).await;
    dead_properties(s).await;
    kv(s).await;
    usage(s).await;
    app_passwords(s).await;
    identity_map(s).await;
    identity_known(s).await;
    identity_batch(s).await;
    identity_batch_takeover(s).await;
    leases(s).await;
    setup_state(s).await;
    card_fields(s).await;
    card_matches_every_collation_and_match_type(s).await;
    streams_over_many_pages(s).await;
    copy_and_move_items(s).await;
    copy_and_move_trees(s).await;
    // Last: a new epoch moves every collection of the store.
    epochs(s).await;
}

/// Restore safety (RFC 6578 §3.2): after `new_epoch`, tokens of the previous epoch are valid up
/// to the sequence it had reached, tokens beyond it never, even once the sequence passes them.
async fn epochs(s: &Store) {
    let c = calendar(s, "epoch/").await;
    let (idx, w) = (ItemIndex::default(), cond(None, None));
    s.put_item(&c, "a.ics", CT, b"A", &idx, &w).await.unwrap();
    let backed_up = coll(s, "epoch/").await;
    assert!(backed_up.epoch.is_empty(), "never restored: the old format");
    let t1 = backed_up.sync_token();
    s.put_item(&backed_up, "b.ics", CT, b"B", &idx, &w)
        .await
        .unwrap();
    let t2 = coll(s, "epoch/").await.sync_token();
    // As a restore of a backup taken now: a new epoch, with the state as it is.
    let e = s.new_epoch().await.unwrap();
    let c = coll(s, "epoch/").await;
    assert_eq!(c.epoch, e);
    assert_eq!(c.prev, Some((String::new(), c.seq)));
    let at_backup = c.seq;
    // The restored timeline goes past the backup's sequence: the old epoch's tokens beyond
    // it (handed out after the backup, in the lost timeline) stay refused.
    for n in ["c.ics", "d.ics", "e.ics"] {
        s.put_item(&coll(s, "epoch/").await, n, CT, b"X", &idx, &w)
            .await
            .unwrap();
    }
    let c = coll(s, "epoch/").await;
    assert_eq!(c.parse_token(&backed_up.token(at_backup + 1)), None);
    assert_eq!(c.parse_token(&t2), Some(at_backup));
    assert_eq!(c.parse_token(&t1), Some(backed_up.seq));
    assert!(c.sync_token().contains(&e));
    assert_eq!(c.parse_token(&c.sync_token()), Some(c.seq));
    assert!(c.ctag().contains(&e));
    assert_eq!(c.parse_token(&c.token(c.seq + 1)), None);
}

async fn collections(s: &Store) {
    let home = s
        .create_collection(T, "c/u/", CollectionKind::Plain, &[], false)
        .await
        .unwrap();
    assert_eq!((home.seq, home.kind), (0, CollectionKind::Plain));
    let comps = vec!["VEVENT".to_string(), "VTODO".to_string()];
    let work = s
        .create_collection(T, "c/u/work/", CollectionKind::Calendar, &comps, true)
        .await
        .unwrap();
    assert_eq!(work.components, comps);
    assert_ne!(work.instance, home.instance);
    assert!(matches!(
        s.create_collection(T, "c/u/work/", CollectionKind::Calendar, &[], true)
            .await,
        Err(StoreError::Exists)
    ));
    assert!(matches!(
        s.create_collection(T, "c/none/x/", CollectionKind::Plain, &[], true)
            .await,
        Err(StoreError::NoParent)
    ));
    // A member of the parent with the collection's name is in the way.
    s.put_item(
        &work,
        "thing",
        CT,
        b"x",
        &ItemIndex::default(),
        &cond(None, None),
    )
    .await
    .unwrap();
    assert!(matches!(
        s.create_collection(T, "c/u/work/thing/", CollectionKind::Plain, &[], true)
            .await,
        Err(StoreError::Exists)
    ));
    // LIKE wildcards in paths are literal.
    for p in ["c/u/a_b/", "c/u/axb/", "c/u/a_b/deep/"] {
        s.create_collection(T, p, CollectionKind::Plain, &[], true)
            .await
            .unwrap();
    }
    let kids: Vec<String> = s
        .child_collections(T, "c/u/")
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.path)
        .collect();
    assert_eq!(kids, ["c/u/a_b/", "c/u/axb/", "c/u/work/"]);
    assert!(s.collection("other", "c/u/").await.unwrap().is_none());
    s.patch_dead_props(
        T,
        "c/u/a_b/deep/",
        &[("n".into(), "p".into(), Some("<p/>".into()))],
    )
    .await
    .unwrap();
    s.delete_collection(T, "c/u/a_b/").await.unwrap();
    assert!(s.collection(T, "c/u/a_b/deep/").await.unwrap().is_none());
    assert!(s.collection(T, "c/u/axb/").await.unwrap().is_some());
    assert!(s.dead_props(T, "c/u/a_b/deep/").await.unwrap().is_empty());
    assert!(matches!(
        s.delete_collection(T, "c/u/a_b/").await,
        Err(StoreError::NotFound)
    ));
}

async fn items(s: &Store) {
    let c = calendar(s, "items/").await;
    let a = event("uid-a", 100, 200);
    let (e1, created) = s
        .put_item(&c, "a.ics", CT, b"AAA", &a, &cond(None, Some("*")))
        .await
        .unwrap();
    assert!(created);
    assert_eq!(e1, etag_of(b"AAA"));
    assert!(matches!(
        s.put_item(&c, "a.ics", CT, b"A2", &a, &cond(None, Some("*")))
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_item(&c, "a.ics", CT, b"A2", &a, &cond(Some("\"nope\""), None))
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    assert!(matches!(
        s.put_item(&c, "new.ics", CT, b"N", &a, &cond(Some("*"), None))
            .await,
        Err(StoreError::PreconditionFailed)
    ));
    let (e2, created) = s
        .put_item(&c, "a.ics", CT, b"AAAA", &a, &cond(Some(&e1), None))
        .await
        .unwrap();
    assert!(!created);
    assert_ne!(e1, e2);
    // UID uniqueness within the collection (RFC 4791 §5.3.2.1).
    match s
        .put_item(&c, "b.ics", CT, b"B", &a, &cond(None, None))
        .await
    {
        Err(StoreError::UidConflict(n)) => assert_eq!(n, "a.ics"),
        other => panic!("expected a UID conflict, got {other:?}"),
    }
    s.put_item(
        &c,
        "b.ics",
        CT,
        b"BB",
        &event("uid-b", 500, 600),
        &cond(None, None),
    )
    .await
    .unwrap();
    let todo = ItemIndex {
        component: Some(crate::vocab::ComponentKind::Vtodo),
        uid: Some("uid-t".into()),
        ..Default::default()
    };
    s.put_item(&c, "t.ics", CT, b"T", &todo, &cond(None, None))
        .await
        .unwrap();
    let got = s.item(&c, "a.ics").await.unwrap().unwrap();
    assert_eq!(
        (got.body.as_slice(), got.meta.etag.as_str()),
        (&b"AAAA"[..], e2.as_str())
    );
    assert_eq!((got.meta.size, got.meta.content_type.as_str()), (4, CT));
    assert!(got.meta.created <= got.meta.modified);
    assert_eq!(s.item_meta(&c, "a.ics").await.unwrap().unwrap().size, 4);
    assert!(s.item(&c, "zz.ics").await.unwrap().is_none());
    let names = |v: Vec<ItemMeta>| v.into_iter().map(|m| m.name).collect::<Vec<_>>();
    assert_eq!(
        names(s.list_items(&c).await.unwrap()),
        ["a.ics", "b.ics", "t.ics"]
    );
    let with_body = s.list_items_with_body(&c).await.unwrap();
    assert_eq!(with_body[1].body, b"BB");
    let streamed: Vec<Item> = s.stream_items(&c, true).map(|r| r.unwrap()).collect().await;
    assert_eq!(streamed.len(), 3);
    assert_eq!(streamed[2].body, b"T");
    let bare: Vec<Item> = s
        .stream_items(&c, false)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert!(bare.iter().all(|i| i.body.is_empty()) && bare[0].meta.size == 4);
    let sizes = listed_sizes(s, &c).await;
    assert_eq!(sizes[..2], [("a.ics".into(), 4), ("b.ics".into(), 2)]);
    let mut named: Vec<String> = s
        .items_named(&c, &["b.ics".into(), "a.ics".into(), "none".into()])
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.meta.name)
        .collect();
    named.sort();
    assert_eq!(named, ["a.ics", "b.ics"]);
    assert_eq!(
        s.item_name_by_uid(&c, "uid-a", "x.ics")
            .await
            .unwrap()
            .as_deref(),
        Some("a.ics")
    );
    assert_eq!(
        s.item_name_by_uid(&c, "uid-a", "a.ics").await.unwrap(),
        None
    );
    let idx = s.item_index(&c, "b.ics").await.unwrap();
    assert_eq!(idx.uid.as_deref(), Some("uid-b"));
    assert_eq!(idx.component, Some(crate::vocab::ComponentKind::Vevent));
    assert_eq!((idx.first_start, idx.last_end), (Some(500), Some(600)));
    assert!(s.item_index(&c, "none").await.unwrap().uid.is_none());
    // Candidates: instance bounds overlap [start, end], the component matches, unbounded
    // items always qualify.
    let cands = |v: Vec<Item>| v.into_iter().map(|i| i.meta.name).collect::<Vec<_>>();
    assert_eq!(
        cands(
            s.candidates(&c, Some("VEVENT"), Some(150), Some(300))
                .await
                .unwrap()
        ),
        ["a.ics"]
    );
    assert_eq!(
        cands(s.candidates(&c, None, Some(550), None).await.unwrap()),
        ["b.ics", "t.ics"]
    );
    assert_eq!(
        cands(s.candidates(&c, None, None, None).await.unwrap()).len(),
        3
    );
    assert_eq!(
        cands(s.candidates(&c, Some("VTODO"), None, None).await.unwrap()),
        ["t.ics"]
    );
    // The streamed form answers the same, bodies included, in name order.
    for (component, start, end) in [
        (Some("VEVENT"), Some(150), Some(300)),
        (None, Some(550), None),
        (None, None, None),
        (Some("VTODO"), None, None),
        (Some("VEVENT"), Some(10_000), Some(20_000)),
    ] {
        let listed = s.candidates(&c, component, start, end).await.unwrap();
        let streamed: Vec<Item> = s
            .stream_candidates(&c, component, start, end)
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(
            streamed
                .iter()
                .map(|i| (&i.meta.name, &i.body))
                .collect::<Vec<_>>(),
            listed
                .iter()
                .map(|i| (&i.meta.name, &i.body))
                .collect::<Vec<_>>(),
            "{component:?} {start:?} {end:?}"
        );
    }
    // Deletes check their condition and want the item.
    assert!(matches!(
        s.delete_item(&c, "a.ics", &cond(Some(&e1), None)).await,
        Err(StoreError::PreconditionFailed)
    ));
    s.delete_item(&c, "a.ics", &cond(Some(&e2), None))
        .await
        .unwrap();
    assert!(matches!(
        s.delete_item(&c, "a.ics", &cond(None, None)).await,
        Err(StoreError::NotFound)
    ));
    // The UID is free again.
    s.put_item(&c, "b2.ics", CT, b"B2", &a, &cond(None, None))
        .await
        .unwrap();
}

async fn change_log(s: &Store) {
    let c = calendar(s, "log/").await;
    let idx = ItemIndex::default();
    let w = cond(None, None);
    s.put_item(&c, "a.ics", CT, b"A", &idx, &w).await.unwrap();
    s.put_item(&c, "b.ics", CT, b"B", &idx, &w).await.unwrap();
    let c1 = coll(s, "log/").await;
    assert_eq!(c1.seq, 2);
    let t1 = c1.sync_token();
    assert_eq!(c1.parse_token(&t1), Some(2));
    assert_eq!(c1.ctag(), format!("\"{}-2\"", c1.instance));
    s.delete_item(&c1, "a.ics", &w).await.unwrap();
    let c2 = coll(s, "log/").await;
    let (ch, upto) = s.changes_since(&c2, Some(2), None).await.unwrap();
    assert_eq!(upto, 3);
    assert!(matches!(&ch[..], [Change::Deleted(n, 3)] if n == "a.ics"));
    // Initial sync: members only, no deletions.
    let (ch, upto) = s.changes_since(&c2, None, Some(1)).await.unwrap();
    assert!(matches!(&ch[..], [Change::Changed(m, 2)] if m.name == "b.ics"));
    assert_eq!(upto, 3);
    s.put_item(&c2, "c.ics", CT, b"C", &idx, &w).await.unwrap();
    let c3 = coll(s, "log/").await;
    let (ch, upto) = s.changes_since(&c3, None, Some(1)).await.unwrap();
    assert_eq!(
        (ch.len(), upto),
        (1, 2),
        "truncated: continue after the last sent"
    );
    let (ch, upto) = s.changes_since(&c3, Some(0), Some(2)).await.unwrap();
    assert_eq!(ch.iter().map(seq_of).collect::<Vec<_>>(), [2, 3]);
    assert_eq!(upto, 3);
    // Re-creating a deleted member clears its tombstone.
    s.put_item(&c3, "a.ics", CT, b"A again", &idx, &w)
        .await
        .unwrap();
    let c4 = coll(s, "log/").await;
    let (ch, _) = s.changes_since(&c4, Some(0), None).await.unwrap();
    assert!(ch.iter().all(|c| !matches!(c, Change::Deleted(..))));
    let (ch, upto) = s.changes_since(&c4, Some(c4.seq), None).await.unwrap();
    assert!(ch.is_empty());
    assert_eq!(upto, c4.seq);
    assert_eq!(c4.parse_token("urn:crmdav:sync:other:1"), None);
    assert_eq!(c4.parse_token(&c4.token(c4.seq + 1)), None);
    // The streamed change log lists what the unlimited listing does, tombstones only after a
    // token.
    for since in [None, Some(0), Some(2), Some(c4.seq)] {
        let (listed, _) = s.changes_since(&c4, since, None).await.unwrap();
        let streamed: Vec<Change> = s
            .stream_changes(&c4, since)
            .map(|r| r.unwrap())
            .collect()
            .await;
        let key = |v: &[Change]| {
            v.iter()
                .map(|c| match c {
                    Change::Changed(m, q) => (m.name.clone(), *q, false),
                    Change::Deleted(n, q) => (n.clone(), *q, true),
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(key(&streamed), key(&listed), "since {since:?}");
    }
    s.delete_item(&c4, "b.ics", &w).await.unwrap();
    let c5 = coll(s, "log/").await;
    let streamed: Vec<Change> = s
        .stream_changes(&c5, Some(c4.seq))
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert!(matches!(&streamed[..], [Change::Deleted(n, q)] if n == "b.ics" && *q == c5.seq));
    let initial: Vec<Change> = s
        .stream_changes(&c5, None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert!(initial.iter().all(|c| matches!(c, Change::Changed(..))));
    assert_eq!(initial.len(), 2, "a.ics and c.ics");
}

async fn dead_properties(s: &Store) {
    let p =
        |ns: &str, n: &str, v: Option<&str>| (ns.to_string(), n.to_string(), v.map(String::from));
    s.patch_dead_props(
        T,
        "d/x/",
        &[p("urn:b", "z", Some("<z/>")), p("urn:a", "y", Some("<y/>"))],
    )
    .await
    .unwrap();
    s.patch_dead_props(T, "d/x/i.ics", &[p("urn:a", "i", Some("<i/>"))])
        .await
        .unwrap();
    s.patch_dead_props(T, "d/xy/", &[p("urn:a", "o", Some("<o/>"))])
        .await
        .unwrap();
    let got = s.dead_props(T, "d/x/").await.unwrap();
    assert_eq!(
        got.iter().map(|d| d.name.as_str()).collect::<Vec<_>>(),
        ["y", "z"]
    );
    // Replace one, remove another, in one patch.
    s.patch_dead_props(
        T,
        "d/x/",
        &[p("urn:a", "y", Some("<y>2</y>")), p("urn:b", "z", None)],
    )
    .await
    .unwrap();
    assert_eq!(
        s.dead_props(T, "d/x/").await.unwrap(),
        [DeadProperty {
            ns: "urn:a".into(),
            name: "y".into(),
            value: "<y>2</y>".into()
        }]
    );
    let under = s.dead_props_under(T, "d/x/").await.unwrap();
    let mut keys: Vec<&String> = under.keys().collect();
    keys.sort();
    assert_eq!(keys, ["d/x/", "d/x/i.ics"]);
    s.copy_props(T, "d/x/", "d/c/", true).await.unwrap();
    assert_eq!(s.dead_props(T, "d/c/i.ics").await.unwrap()[0].name, "i");
    s.copy_props(T, "d/xy/", "d/c/", false).await.unwrap();
    assert_eq!(s.dead_props(T, "d/c/").await.unwrap()[0].name, "o");
    s.drop_props(T, "d/c/").await.unwrap();
    assert!(s.dead_props(T, "d/c/").await.unwrap().is_empty());
    assert!(s.dead_props("other", "d/x/").await.unwrap().is_empty());
}

async fn kv(s: &Store) {
    assert_eq!(s.kv_get(T, "k").await.unwrap(), None);
    s.kv_set(T, "k", "1").await.unwrap();
    s.kv_set(T, "k", "2").await.unwrap();
    assert_eq!(s.kv_get(T, "k").await.unwrap().as_deref(), Some("2"));
    assert_eq!(s.kv_get("other", "k").await.unwrap(), None);
    s.kv_delete(T, "k").await.unwrap();
    s.kv_delete(T, "k").await.unwrap();
    assert_eq!(s.kv_get(T, "k").await.unwrap(), None);
}

async fn app_passwords(s: &Store) {
    let pw = |tenant: &str, id: &str, user: &str, created: i64| AppPassword {
        tenant: tenant.into(),
        id: id.into(),
        user: user.into(),
        label: format!("{user}'s phone"),
        hash: "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$aGFzaA".into(),
        created,
        last_used: None,
    };
    for (t, id, user, at) in [
        ("t", "a1", "alice", 1),
        ("t", "a2", "alice", 2),
        ("t", "b1", "bob", 3),
        ("u", "a1", "alice", 4),
    ] {
        s.create_app_password(&pw(t, id, user, at)).await.unwrap();
    }
    assert!(matches!(
        s.create_app_password(&pw("t", "a1", "bob", 5)).await,
        Err(StoreError::Exists)
    ));
    assert_eq!(
        s.app_password("t", "a1").await.unwrap(),
        Some(pw("t", "a1", "alice", 1))
    );
    assert_eq!(s.app_password("t", "zz").await.unwrap(), None);
    let ids = |v: Vec<AppPassword>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.app_passwords("t", Some("alice")).await.unwrap()),
        ["a1", "a2"]
    );
    assert_eq!(
        ids(s.app_passwords("t", None).await.unwrap()),
        ["a1", "a2", "b1"]
    );
    s.touch_app_password("t", "a2", 99).await.unwrap();
    assert_eq!(
        s.app_password("t", "a2").await.unwrap().unwrap().last_used,
        Some(99)
    );
    assert_eq!(
        s.app_password("u", "a1").await.unwrap().unwrap().last_used,
        None
    );
    assert!(s.revoke_app_password("t", "b1").await.unwrap());
    assert!(!s.revoke_app_password("t", "b1").await.unwrap());
    assert_eq!(s.revoke_app_passwords("t", "alice").await.unwrap(), 2);
    assert!(s.app_passwords("t", None).await.unwrap().is_empty());
    assert!(s.app_password("u", "a1").await.unwrap().is_some());
    s.flush().await.unwrap();
}

async fn usage(s: &Store) {
    s.create_collection(T, "q/", CollectionKind::Plain, &[], false)
        .await
        .unwrap();
    let a = calendar(s, "q/a/").await;
    let b = calendar(s, "q/a_/").await;
    let w = cond(None, None);
    let none = ItemIndex::default();
    s.put_item(&a, "1.ics", CT, b"12345", &none, &w)
        .await
        .unwrap();
    s.put_item(&a, "2.ics", CT, b"123", &none, &w)
        .await
        .unwrap();
    s.put_item(&b, "3.ics", CT, b"1", &none, &w).await.unwrap();
    assert_eq!(s.usage(T, "q/a/", false).await.unwrap(), (8, 2));
    assert_eq!(s.usage(T, "q/", true).await.unwrap(), (9, 3));
    assert_eq!(s.usage(T, "q/", false).await.unwrap(), (0, 0));
    assert_eq!(s.usage("other", "q/", true).await.unwrap(), (0, 0));
}

async fn identity_map(s: &Store) {
    let c = calendar(s, "crm/").await;
    let ident = CrmIdentity {
        name: "r1.ics".into(),
        crm_id: "R1".into(),
        uid: "u1".into(),
        client_copy: Some(b"copy".to_vec()),
        base_record: Some("{}".into()),
        record_hash: Some("h".into()),
        version: Some("v1".into()),
        deleted: false,
    };
    let idx = event("u1", 1, 2);
    let it = || RenderedItem {
        content_type: CT,
        body: b"R1 body",
        index: &idx,
    };
    let etag = s.crm_save(&c, &ident, Some(it())).await.unwrap();
    assert_eq!(etag.as_deref(), Some(etag_of(b"R1 body").as_str()));
    let seq = coll(s, "crm/").await.seq;
    // The same bytes again move nothing.
    assert_eq!(s.crm_save(&c, &ident, Some(it())).await.unwrap(), etag);
    assert_eq!(coll(s, "crm/").await.seq, seq);
    assert_eq!(
        s.crm_identity(&c, "r1.ics").await.unwrap(),
        Some(ident.clone())
    );
    // Identity only: the item stays.
    let no_item = CrmIdentity {
        version: Some("v2".into()),
        ..ident.clone()
    };
    assert_eq!(s.crm_save(&c, &no_item, None).await.unwrap(), etag);
    // The CRM id moves to another name: the old row gives way.
    let moved = CrmIdentity {
        name: "r1b.ics".into(),
        ..ident.clone()
    };
    s.crm_save(&c, &moved, None).await.unwrap();
    let all = s.crm_identities(&c).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].name, "r1b.ics");
    // ... and its item with it: one CRM record is one item.
    assert!(s.item(&c, "r1.ics").await.unwrap().is_none());
    // An import of a CRM id held under another name writes nothing.
    let again = CrmIdentity {
        name: "r1c.ics".into(),
        ..ident.clone()
    };
    assert!(matches!(
        s.crm_import(&c, &again, Some(it())).await,
        Err(StoreError::Exists)
    ));
    assert!(s.item(&c, "r1c.ics").await.unwrap().is_none());
    assert_eq!(s.crm_identities(&c).await.unwrap().len(), 1);
    s.crm_remove(&c, "r1.ics", false).await.unwrap();
    assert!(s.item(&c, "r1.ics").await.unwrap().is_none());
    // keep_identity: the row stays, marked deleted, without the client's copy.
    s.crm_remove(&c, "r1b.ics", true).await.unwrap();
    assert_eq!(s.crm_identity(&c, "r1b.ics").await.unwrap(), None);
    let all = s.crm_identities(&c).await.unwrap();
    assert!(all[0].deleted && all[0].client_copy.is_none() && all[0].base_record.is_none());
    s.crm_forget(&c, "R1").await.unwrap();
    assert!(s.crm_identities(&c).await.unwrap().is_empty());
    assert_eq!(
        s.crm_state(&c).await.unwrap(),
        CrmCollectionState::default()
    );
    let st = CrmCollectionState {
        watermark: Some("2026-01-01T00:00:00Z".into()),
        full_scan_at: Some(42),
        ..Default::default()
    };
    s.set_crm_state(&c, &st).await.unwrap();
    s.set_crm_state(&c, &st).await.unwrap();
    assert_eq!(s.crm_state(&c).await.unwrap(), st);
    // The rendering's definition hash and the deletion feed's watermark (migration 0009)
    // are kept beside them, and replaced with them.
    let st = CrmCollectionState {
        definition_hash: Some("d1".into()),
        deletions_watermark: Some("2026-01-02T00:00:00Z".into()),
        ..st
    };
    s.set_crm_state(&c, &st).await.unwrap();
    assert_eq!(s.crm_state(&c).await.unwrap(), st);
    let cleared = CrmCollectionState {
        definition_hash: None,
        ..st.clone()
    };
    s.set_crm_state(&c, &cleared).await.unwrap();
    assert_eq!(s.crm_state(&c).await.unwrap(), cleared);
}

/// The narrow identity map a refresh reads (`crm_known`): per row the name, CRM id, hash,
/// deleted flag and whether its item is there, sorted by CRM id in byte order; the names of
/// items without an identity row; nothing of another collection.
async fn identity_known(s: &Store) {
    let c = calendar(s, "crm-known/").await;
    let other = calendar(s, "crm-known-other/").await;
    assert_eq!(s.crm_known(&c).await.unwrap(), CrmKnown::default());
    // Each item its own UID (a collection holds a UID once).
    let idx: Vec<ItemIndex> = (0..6).map(|i| event(&format!("known-{i}"), 1, 2)).collect();
    let it = |i: usize| RenderedItem {
        content_type: CT,
        body: b"body",
        index: &idx[i],
    };
    let ident = |name: &str, crm_id: &str, hash: Option<&str>| CrmIdentity {
        name: name.into(),
        crm_id: crm_id.into(),
        uid: format!("uid-{crm_id}"),
        client_copy: Some(b"copy".to_vec()),
        base_record: Some("{}".into()),
        record_hash: hash.map(Into::into),
        version: Some("v".into()),
        deleted: false,
    };
    // Lower case sorts after upper case in byte order (not in most locales' collations).
    s.crm_save(&c, &ident("lower.ics", "a0", Some("h0")), Some(it(0)))
        .await
        .unwrap();
    s.crm_save(&c, &ident("b.ics", "B2", Some("hb")), Some(it(1)))
        .await
        .unwrap();
    // An identity without its item.
    s.crm_save(&c, &ident("z.ics", "A1", None), None)
        .await
        .unwrap();
    // Deleted on the phone: the identity stays, the item goes.
    s.crm_save(&c, &ident("c.ics", "C3", Some("hc")), Some(it(2)))
        .await
        .unwrap();
    s.crm_remove(&c, "c.ics", true).await.unwrap();
    // A phone's item without an identity row.
    s.put_item(&c, "phone.ics", CT, b"P", &idx[3], &cond(None, Some("*")))
        .await
        .unwrap();
    // Another collection's rows and items are not this one's.
    s.crm_save(&other, &ident("b.ics", "B9", Some("x")), Some(it(4)))
        .await
        .unwrap();
    s.put_item(
        &other,
        "mine.ics",
        CT,
        b"M",
        &idx[5],
        &cond(None, Some("*")),
    )
    .await
    .unwrap();
    let row = |name: &str, crm_id: &str, hash: Option<&str>, deleted, present| CrmKnownRow {
        name: name.into(),
        crm_id: crm_id.into(),
        record_hash: hash.map(Into::into),
        deleted,
        present,
    };
    assert_eq!(
        s.crm_known(&c).await.unwrap(),
        CrmKnown {
            rows: vec![
                row("z.ics", "A1", None, false, false),
                row("b.ics", "B2", Some("hb"), false, true),
                row("c.ics", "C3", Some("hc"), true, false),
                row("lower.ics", "a0", Some("h0"), false, true),
            ],
            other_names: vec!["phone.ics".into()],
        }
    );
    // The whole rows of some names at once: deleted ones, unknown names and other
    // collections' rows left out.
    let mut named = s
        .crm_identities_named(
            &c,
            &["lower.ics", "c.ics", "nobody.ics", "b.ics", "phone.ics"],
        )
        .await
        .unwrap();
    named.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        named,
        vec![
            ident("b.ics", "B2", Some("hb")),
            ident("lower.ics", "a0", Some("h0"))
        ]
    );
    assert!(s.crm_identities_named(&c, &[]).await.unwrap().is_empty());
}

/// A refresh's batch: saves, an import refused (and only it skipped), same bytes moving
/// nothing, removals with tombstones, all in one transaction with the change log in step.
async fn identity_batch(s: &Store) {
    let c = calendar(s, "crm-batch/").await;
    let ident = |n: u32| CrmIdentity {
        name: format!("b{n}.ics"),
        crm_id: format!("B{n}"),
        uid: format!("ub{n}"),
        record_hash: Some(format!("h{n}")),
        ..Default::default()
    };
    let idx = event("ub", 1, 2);
    let ids: Vec<CrmIdentity> = (1..=3).map(ident).collect();
    let bodies: Vec<Vec<u8>> = (1..=3).map(|n| format!("B{n} body").into_bytes()).collect();
    let save = |i: usize, import: bool| CrmBatchOp::Save {
        ident: &ids[i],
        item: Some(RenderedItem {
            content_type: CT,
            body: &bodies[i],
            index: &idx,
        }),
        import,
    };
    let seq0 = coll(s, "crm-batch/").await.seq;
    let out = s
        .crm_batch(&c, vec![save(0, true), save(1, true), save(2, false)])
        .await
        .unwrap();
    for (o, b) in out.iter().zip(&bodies) {
        assert_eq!(
            o,
            &CrmBatchOutcome::Saved {
                etag: Some(etag_of(b)),
                written: true
            }
        );
    }
    let seq1 = coll(s, "crm-batch/").await.seq;
    assert_eq!(seq1, seq0 + 3, "one change per item written");
    assert_eq!(s.crm_identities(&c).await.unwrap().len(), 3);
    assert_eq!(s.item(&c, "b2.ics").await.unwrap().unwrap().body, bodies[1]);
    assert_eq!(listed_sizes(s, &c).await.len(), 3);
    // Again: the same bytes write nothing; an import of a CRM id held under another name is
    // refused on its own, the rest of the batch goes through.
    let moved = CrmIdentity {
        name: "elsewhere.ics".into(),
        ..ids[0].clone()
    };
    let out = s
        .crm_batch(
            &c,
            vec![
                save(0, false),
                CrmBatchOp::Save {
                    ident: &moved,
                    item: None,
                    import: true,
                },
                CrmBatchOp::Remove { name: "b3.ics" },
                CrmBatchOp::Remove { name: "never.ics" },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            CrmBatchOutcome::Saved {
                etag: Some(etag_of(&bodies[0])),
                written: false
            },
            CrmBatchOutcome::Exists,
            CrmBatchOutcome::Removed,
            CrmBatchOutcome::Removed,
        ]
    );
    assert!(s.crm_identity(&c, "elsewhere.ics").await.unwrap().is_none());
    assert!(s.item(&c, "b3.ics").await.unwrap().is_none());
    assert!(s.crm_identity(&c, "b3.ics").await.unwrap().is_none());
    let (changes, _) = s.changes_since(&c, Some(seq1), None).await.unwrap();
    assert_eq!(changes.len(), 1, "only the removal: {changes:?}");
    assert!(matches!(&changes[0], Change::Deleted(n, _) if n == "b3.ics"));
    assert_eq!(coll(s, "crm-batch/").await.seq, seq1 + 1);
    assert_eq!(s.crm_identities(&c).await.unwrap().len(), 2);
}

/// Within one batch, later operations see what earlier ones wrote: a CRM id saved under a
/// second name takes the record over (the first name's item goes with a tombstone), an
/// import of a CRM id saved earlier in the batch under another name is refused, and every
/// change has a sequence of its own, in order.
async fn identity_batch_takeover(s: &Store) {
    let c = calendar(s, "crm-takeover/").await;
    let seq0 = c.seq;
    let first = CrmIdentity {
        name: "first.ics".into(),
        crm_id: "X".into(),
        uid: "ux".into(),
        record_hash: Some("h1".into()),
        ..Default::default()
    };
    let second = CrmIdentity {
        name: "second.ics".into(),
        record_hash: Some("h2".into()),
        ..first.clone()
    };
    let third = CrmIdentity {
        name: "third.ics".into(),
        ..first.clone()
    };
    let idx = event("ux", 1, 2);
    let item = |body: &'static [u8]| {
        Some(RenderedItem {
            content_type: CT,
            body,
            index: &idx,
        })
    };
    let out = s
        .crm_batch(
            &c,
            vec![
                CrmBatchOp::Save {
                    ident: &first,
                    item: item(b"one"),
                    import: true,
                },
                CrmBatchOp::Save {
                    ident: &second,
                    item: item(b"two"),
                    import: false,
                },
                CrmBatchOp::Save {
                    ident: &third,
                    item: item(b"three"),
                    import: true,
                },
            ],
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        [
            CrmBatchOutcome::Saved {
                etag: Some(etag_of(b"one")),
                written: true
            },
            CrmBatchOutcome::Saved {
                etag: Some(etag_of(b"two")),
                written: true
            },
            CrmBatchOutcome::Exists,
        ]
    );
    let idents = s.crm_identities(&c).await.unwrap();
    assert_eq!(idents.len(), 1, "{idents:?}");
    assert_eq!(idents[0].name, "second.ics");
    assert!(s.item(&c, "first.ics").await.unwrap().is_none());
    assert!(s.item(&c, "third.ics").await.unwrap().is_none());
    assert_eq!(
        s.item(&c, "second.ics").await.unwrap().unwrap().body,
        b"two"
    );
    // first written (1), first deleted (2), second written (3); the refused import nothing.
    let after = coll(s, "crm-takeover/").await;
    assert_eq!(after.seq, seq0 + 3);
    let (changes, _) = s.changes_since(&after, Some(seq0), None).await.unwrap();
    let got: Vec<(String, i64, bool)> = changes
        .iter()
        .map(|c| match c {
            Change::Changed(m, q) => (m.name.clone(), *q, false),
            Change::Deleted(n, q) => (n.clone(), *q, true),
        })
        .collect();
    assert_eq!(
        got,
        [
            ("first.ics".to_string(), seq0 + 2, true),
            ("second.ics".to_string(), seq0 + 3, false),
        ]
    );
    // A batch that fails midway (a collection gone) leaves nothing of itself, sequence
    // included.
    let gone = Collection {
        id: i64::MAX,
        ..after.clone()
    };
    assert!(s
        .crm_batch(
            &gone,
            vec![CrmBatchOp::Save {
                ident: &third,
                item: item(b"three"),
                import: false,
            }],
        )
        .await
        .is_err());
    assert_eq!(coll(s, "crm-takeover/").await.seq, seq0 + 3);
}

async fn card_fields(s: &Store) {
    let c = s
        .create_collection(T, "cards/", CollectionKind::Addressbook, &[], false)
        .await
        .unwrap();
    let w = cond(None, None);
    s.put_item(
        &c,
        "a.vcf",
        "text/vcard",
        b"A",
        &card("ua", &[("FN", "ada lovelace")]),
        &w,
    )
    .await
    .unwrap();
    s.put_item(
        &c,
        "b.vcf",
        "text/vcard",
        b"B",
        &card("ub", &[("FN", "bob"), ("EMAIL", "bob@love.example")]),
        &w,
    )
    .await
    .unwrap();
    assert_eq!(
        s.card_candidates(&c, "FN", "love").await.unwrap(),
        ["a.vcf"]
    );
    let mut both = s.card_candidates(&c, "EMAIL", "love").await.unwrap();
    both.extend(s.card_candidates(&c, "FN", "bob").await.unwrap());
    assert_eq!(both, ["b.vcf", "b.vcf"]);
    assert_eq!(s.item_index(&c, "b.vcf").await.unwrap().fields.len(), 2);
    // A card without fields (written before the index existed) is found and indexed.
    s.put_item(&c, "old.vcf", "text/vcard", b"OLD", &card("uo", &[]), &w)
        .await
        .unwrap();
    s.put_item(&c, "old2.vcf", "text/vcard", b"OLD2", &card("uo2", &[]), &w)
        .await
        .unwrap();
    // Paged by id: one at a time, the second page after the first's id, then nothing.
    let missing = s.cards_without_fields(0, 1).await.unwrap();
    assert_eq!(missing.len(), 1);
    assert_eq!(missing[0].1, b"OLD");
    let second = s.cards_without_fields(missing[0].0, 1).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].1, b"OLD2");
    assert!(s
        .cards_without_fields(second[0].0, 1)
        .await
        .unwrap()
        .is_empty());
    s.set_fields(missing[0].0, &[("FN".into(), "old timer".into())])
        .await
        .unwrap();
    s.set_fields(second[0].0, &[("FN".into(), "older".into())])
        .await
        .unwrap();
    assert!(s.cards_without_fields(0, 100).await.unwrap().is_empty());
    assert_eq!(
        s.card_candidates(&c, "FN", "timer").await.unwrap(),
        ["old.vcf"]
    );
}

/// The streamed listings read in pages (SQLite: 1,024 rows of metadata, 64 with bodies, per
/// statement): over more members than a page they list exactly what the one-statement forms
/// list, in the same order.
async fn streams_over_many_pages(s: &Store) {
    let c = calendar(s, "pages/").await;
    let w = cond(None, None);
    for i in 0..2100 {
        let idx = event(&format!("u{i}"), i, i + 10);
        s.put_item(
            &c,
            &format!("{i:05}.ics"),
            CT,
            format!("B{i}").as_bytes(),
            &idx,
            &w,
        )
        .await
        .unwrap();
    }
    for i in (0..2100).step_by(7) {
        s.delete_item(&c, &format!("{i:05}.ics"), &w).await.unwrap();
    }
    let c = coll(s, "pages/").await;
    let listed: Vec<String> = s
        .list_items(&c)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    for with_body in [false, true] {
        let streamed: Vec<Item> = s
            .stream_items(&c, with_body)
            .map(|r| r.unwrap())
            .collect()
            .await;
        assert_eq!(
            streamed
                .iter()
                .map(|i| i.meta.name.clone())
                .collect::<Vec<_>>(),
            listed
        );
        if with_body {
            assert_eq!(streamed[0].body, b"B1");
        }
    }
    let (want, _) = s.changes_since(&c, None, None).await.unwrap();
    let got: Vec<Change> = s
        .stream_changes(&c, None)
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(
        got.iter().map(seq_of).collect::<Vec<_>>(),
        want.iter().map(seq_of).collect::<Vec<_>>()
    );
    assert_eq!(got.len(), listed.len());
    let (want, _) = s.changes_since(&c, Some(100), None).await.unwrap();
    let got: Vec<Change> = s
        .stream_changes(&c, Some(100))
        .map(|r| r.unwrap())
        .collect()
        .await;
    assert_eq!(
        got.iter().map(seq_of).collect::<Vec<_>>(),
        want.iter().map(seq_of).collect::<Vec<_>>()
    );
    assert!(got.iter().any(|c| matches!(c, Change::Deleted(..))));
    let want: Vec<String> = s
        .candidates(&c, Some("VEVENT"), Some(500), Some(1500))
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.meta.name)
        .collect();
    let got: Vec<String> = s
        .stream_candidates(&c, Some("VEVENT"), Some(500), Some(1500))
        .map(|r| r.unwrap().meta.name)
        .collect()
        .await;
    assert_eq!(got, want);
    assert!(got.len() > 800, "{}", got.len());
}

/// The index decides a one-text-match filter exactly as `carddav::matches` does on the card,
/// for every collation and match type, on values that fold differently under each collation.
async fn card_matches_every_collation_and_match_type(s: &Store) {
    use crate::carddav::{
        matches, CardFilter, Collation, ExactProbe, MatchType, PropFilter, Test, TextMatch,
    };
    let c = s
        .create_collection(T, "exact/", CollectionKind::Addressbook, &[], false)
        .await
        .unwrap();
    let cards = [
        (
            "zoe",
            "Zoë Doe",
            "Doe;Zoë;;Dr.;",
            "Acme, Inc.;Sales",
            "Zoe.Doe@Example.com",
        ),
        ("upper", "ZOË DOE", "DOE;ZOË;;;", "ACME", "ZOE@EXAMPLE.COM"),
        (
            "plain",
            "Zoe Doe",
            "Doe;Zoe;;;",
            "acme, inc.",
            "zoe@example.com",
        ),
        (
            "strasse",
            "Straße Müller",
            "Müller;Straße;;;",
            "Straßenbau",
            "s@x.de",
        ),
        (
            "wide",
            "ＡＢＣ Ｄｏｅ",
            "Ｄｏｅ;ＡＢＣ;;;",
            "Ｓａｌｅｓ",
            "abc@x.jp",
        ),
        (
            "istanbul",
            "İstanbul Office",
            "Office;İstanbul;;;",
            "İş",
            "ist@x.tr",
        ),
        (
            "percent",
            "100% _under",
            "_under;100%;;;",
            "50%_off",
            "p%@x",
        ),
        // vCard escapes: the values are `C:\Temp\Zoë`, `Back\slash; Ltd` and `Say "Hi"`.
        (
            "slash",
            "C:\\\\Temp\\\\Zoë",
            "Slash;Back\\\\;;;",
            "Back\\\\slash\\; Ltd",
            "say-\"hi\"@x",
        ),
        ("quote", "Say \"Hi\"", "Hi;Say;;;", "Quote \"Co\"", "q@x"),
    ];
    let mut bodies = Vec::new();
    for (name, fn_, n, org, email) in cards {
        let body = format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{name}\r\nFN:{fn_}\r\nN:{n}\r\n\
             ORG:{org}\r\nEMAIL:{email}\r\nEND:VCARD\r\n"
        );
        let idx = crate::store::card_index(&body).unwrap();
        let file = format!("{name}.vcf");
        s.put_item(
            &c,
            &file,
            "text/vcard",
            body.as_bytes(),
            &idx,
            &cond(None, None),
        )
        .await
        .unwrap();
        bodies.push((file, body));
    }
    let needles = [
        "zoë",
        "ZOË",
        "Zoe",
        "zoe doe",
        "Doe",
        "doe",
        "ë",
        "E",
        "Dr.",
        "sales",
        "Acme, Inc.",
        "acme",
        "STRASSE",
        "straße",
        "ss",
        "Müller",
        "abc",
        "ＡＢＣ",
        "İstanbul",
        "i̇",
        "%",
        "_under",
        "100%",
        "example.com",
        "@",
        "Zoë Doe",
        "Doe;Zoë;;Dr.;",
        // Non-ASCII of 3 characters or more (through the trigram index).
        "müller",
        "ÜLLER",
        "raße",
        "oë D",
        "ＢＣ Ｄ",
        "İst",
        "i̇stanbul",
        // 1 or 2 characters (scanned).
        "ß",
        "Ü",
        "ō",
        "%_",
        "_",
        "\\",
        // LIKE and FTS5 metacharacters, literally.
        "%_o",
        "0% _",
        "\\Te",
        ":\\t",
        "\\slash",
        "h; L",
        "\"Hi\"",
        "say \"",
        "y-\"h",
        "AND",
        "NOT Co",
    ];
    let mut decided = 0usize;
    for collation in Collation::ALL {
        for match_type in [
            MatchType::Equals,
            MatchType::Contains,
            MatchType::StartsWith,
            MatchType::EndsWith,
        ] {
            for prop in ["FN", "N", "ORG", "EMAIL"] {
                for text in needles {
                    let tm = TextMatch {
                        text: text.to_string(),
                        collation,
                        negate: false,
                        match_type,
                    };
                    let filter = CardFilter {
                        test: Test::AnyOf,
                        prop_filters: vec![PropFilter {
                            name: prop.to_string(),
                            text_matches: vec![tm],
                            ..Default::default()
                        }],
                    };
                    let probe: ExactProbe =
                        crate::carddav::exact_probe(&filter).expect("an exact probe");
                    let mut want: Vec<&String> = bodies
                        .iter()
                        .filter(|(_, b)| matches(&filter, b))
                        .map(|(f, _)| f)
                        .collect();
                    want.sort();
                    let got = s.card_matches(&c, &probe).await.unwrap();
                    assert_eq!(
                        got.iter().collect::<Vec<_>>(),
                        want,
                        "{prop} {} {match_type:?} {text:?}",
                        collation.as_str()
                    );
                    decided += got.len();
                }
            }
        }
    }
    assert!(decided > 100, "the cases find cards ({decided})");

    // Long needles with metacharacters or non-ASCII letters find their cards (the trigram
    // index answers these), and the index follows rewrites and deletions of cards.
    let contains = |prop: &str, text: &str| ExactProbe {
        prop: prop.into(),
        collation: Collation::UnicodeCasemap,
        match_type: MatchType::Contains,
        text: text.into(),
    };
    for (prop, text, want) in [
        ("FN", "\\Te", "slash.vcf"),
        ("ORG", "%_o", "percent.vcf"),
        ("FN", "MÜLLER", "strasse.vcf"),
        ("FN", "\"hi\"", "quote.vcf"),
        ("EMAIL", "-\"hi", "slash.vcf"),
    ] {
        let got = s.card_matches(&c, &contains(prop, text)).await.unwrap();
        assert_eq!(got, [want], "{prop} {text:?}");
    }
    let renamed = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:plain\r\nFN:Renamed Person\r\nEND:VCARD\r\n";
    let idx = crate::store::card_index(renamed).unwrap();
    s.put_item(
        &c,
        "plain.vcf",
        "text/vcard",
        renamed.as_bytes(),
        &idx,
        &cond(None, None),
    )
    .await
    .unwrap();
    s.delete_item(&c, "upper.vcf", &cond(None, None))
        .await
        .unwrap();
    assert_eq!(
        s.card_matches(&c, &contains("FN", "zoë doe"))
            .await
            .unwrap(),
        ["zoe.vcf"]
    );
    assert_eq!(
        s.card_matches(&c, &contains("FN", "named pers"))
            .await
            .unwrap(),
        ["plain.vcf"]
    );
    assert_eq!(
        s.card_candidates(&c, "FN", "named pers").await.unwrap(),
        ["plain.vcf"]
    );
    assert!(s
        .card_candidates(&c, "EMAIL", "zoe@example")
        .await
        .unwrap()
        .is_empty());
}

async fn copy_and_move_items(s: &Store) {
    let a = calendar(s, "m/a/").await;
    let b = calendar(s, "m/b/").await;
    let idx = event("u-m", 1, 2);
    let (etag, _) = s
        .put_item(&a, "x.ics", CT, b"X", &idx, &cond(None, None))
        .await
        .unwrap();
    s.patch_dead_props(
        T,
        "m/a/x.ics",
        &[("n".into(), "p".into(), Some("<p/>".into()))],
    )
    .await
    .unwrap();
    let src = ItemRef {
        coll: &a,
        name: "x.ics",
    };
    // COPY to another collection: a new member with the same bytes and dead properties.
    let created = s
        .copy_item(
            T,
            src,
            &etag,
            ItemRef {
                coll: &b,
                name: "y.ics",
            },
            &idx,
            false,
        )
        .await
        .unwrap();
    assert!(created);
    assert_eq!(s.item(&b, "y.ics").await.unwrap().unwrap().meta.etag, etag);
    assert_eq!(s.dead_props(T, "m/b/y.ics").await.unwrap().len(), 1);
    // A second copy overwrites.
    assert!(!s
        .copy_item(
            T,
            src,
            &etag,
            ItemRef {
                coll: &b,
                name: "y.ics"
            },
            &idx,
            false
        )
        .await
        .unwrap());
    // Within one collection, a COPY would duplicate the UID; a MOVE keeps it.
    assert!(matches!(
        s.copy_item(
            T,
            src,
            &etag,
            ItemRef {
                coll: &a,
                name: "z.ics"
            },
            &idx,
            false
        )
        .await,
        Err(StoreError::UidConflict(_))
    ));
    assert!(matches!(
        s.copy_item(
            T,
            src,
            "\"stale\"",
            ItemRef {
                coll: &b,
                name: "w.ics"
            },
            &idx,
            true
        )
        .await,
        Err(StoreError::PreconditionFailed)
    ));
    let a1 = coll(s, "m/a/").await;
    s.copy_item(
        T,
        ItemRef {
            coll: &a1,
            name: "x.ics",
        },
        &etag,
        ItemRef {
            coll: &a1,
            name: "z.ics",
        },
        &idx,
        true,
    )
    .await
    .unwrap();
    assert!(s.item(&a1, "x.ics").await.unwrap().is_none());
    assert!(s.dead_props(T, "m/a/x.ics").await.unwrap().is_empty());
    assert_eq!(s.dead_props(T, "m/a/z.ics").await.unwrap().len(), 1);
    let a2 = coll(s, "m/a/").await;
    let (ch, _) = s.changes_since(&a2, Some(a1.seq), None).await.unwrap();
    assert_eq!(ch.len(), 2, "a move is a new member and a deletion: {ch:?}");
    assert_eq!(listed_sizes(s, &a2).await, [("z.ics".into(), 1)]);
    assert_eq!(
        listed_sizes(s, &coll(s, "m/b/").await).await,
        [("y.ics".into(), 1)]
    );
    // The source is gone now.
    assert!(matches!(
        s.copy_item(
            T,
            src,
            &etag,
            ItemRef {
                coll: &b,
                name: "v.ics"
            },
            &idx,
            true
        )
        .await,
        Err(StoreError::NotFound)
    ));
}

async fn copy_and_move_trees(s: &Store) {
    s.create_collection(T, "tr/", CollectionKind::Plain, &[], false)
        .await
        .unwrap();
    let cal = s
        .create_collection(
            T,
            "tr/cal/",
            CollectionKind::Calendar,
            &["VEVENT".into()],
            true,
        )
        .await
        .unwrap();
    s.create_collection(T, "tr/cal/sub/", CollectionKind::Plain, &[], true)
        .await
        .unwrap();
    let idx = event("u-tree", 10, 20);
    s.put_item(&cal, "e.ics", CT, b"E", &idx, &cond(None, None))
        .await
        .unwrap();
    s.patch_dead_props(
        T,
        "tr/cal/",
        &[("n".into(), "dn".into(), Some("<dn/>".into()))],
    )
    .await
    .unwrap();
    s.patch_dead_props(
        T,
        "tr/cal/e.ics",
        &[("n".into(), "ep".into(), Some("<ep/>".into()))],
    )
    .await
    .unwrap();
    s.copy_tree(T, "tr/cal/", "tr/copy/", false).await.unwrap();
    let copy = coll(s, "tr/copy/").await;
    assert_eq!(
        (copy.kind, copy.components.clone()),
        (CollectionKind::Calendar, vec!["VEVENT".to_string()])
    );
    assert_ne!(copy.instance, cal.instance, "a copy is a new collection");
    assert!(s.collection(T, "tr/copy/sub/").await.unwrap().is_some());
    assert_eq!(s.item(&copy, "e.ics").await.unwrap().unwrap().body, b"E");
    assert_eq!(listed_sizes(s, &copy).await, [("e.ics".into(), 1)]);
    assert_eq!(
        s.item_index(&copy, "e.ics").await.unwrap().uid.as_deref(),
        Some("u-tree")
    );
    assert_eq!(s.dead_props(T, "tr/copy/").await.unwrap()[0].name, "dn");
    assert_eq!(
        s.dead_props(T, "tr/copy/e.ics").await.unwrap()[0].name,
        "ep"
    );
    assert_eq!(s.changes_since(&copy, None, None).await.unwrap().0.len(), 1);
    s.copy_tree(T, "tr/cal/", "tr/shallow/", true)
        .await
        .unwrap();
    let shallow = coll(s, "tr/shallow/").await;
    assert!(s.list_items(&shallow).await.unwrap().is_empty());
    assert!(s.collection(T, "tr/shallow/sub/").await.unwrap().is_none());
    assert_eq!(s.dead_props(T, "tr/shallow/").await.unwrap().len(), 1);
    assert!(matches!(
        s.copy_tree(T, "tr/none/", "tr/x/", false).await,
        Err(StoreError::NotFound)
    ));
    // A moved tree keeps its instance, so its sync tokens stay valid.
    let before = coll(s, "tr/cal/").await;
    s.move_tree(T, "tr/cal/", "tr/moved/").await.unwrap();
    assert!(s.collection(T, "tr/cal/").await.unwrap().is_none());
    let moved = coll(s, "tr/moved/").await;
    assert_eq!(moved.sync_token(), before.sync_token());
    assert_eq!(moved.parse_token(&before.sync_token()), Some(before.seq));
    assert!(s.collection(T, "tr/moved/sub/").await.unwrap().is_some());
    assert_eq!(s.dead_props(T, "tr/moved/e.ics").await.unwrap().len(), 1);
    assert!(s.dead_props(T, "tr/cal/e.ics").await.unwrap().is_empty());
    assert_eq!(s.item(&moved, "e.ics").await.unwrap().unwrap().body, b"E");
}

#[tokio::test]
async fn sqlite_in_memory_meets_the_contract() {
    contract(&Store::open("sqlite://:memory:").await.unwrap()).await;
}

#[tokio::test]
async fn sqlite_file_meets_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    contract(&Store::open(&url).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_meets_the_contract() {
    let Some(pg) = pg_cluster::PgCluster::start_or_skip("postgres_meets_the_contract") else {
        return;
    };
    let url = pg.create_db("contract");
    let s = Store::open(&url).await.unwrap();
    contract(&s).await;
    // A second instance's open finds the schema applied and changes nothing.
    let again = Store::open(&url).await.unwrap();
    assert_eq!(
        again.schema_version().await.unwrap(),
        again.latest_schema_version()
    );
    assert_eq!(again.latest_schema_version(), 12);
    // A wrong password is refused: the URL's password is really what logs in.
    let db = url.rsplit('/').next().unwrap_or_default();
    assert!(Store::open(&pg.url(db, "wrong")).await.is_err());
    concurrency(&s, &again).await;
    identity_race(&s, &again).await;
    lease_race(&s, &again).await;
    setup_race(&s, &again).await;
}

/// One SQLite file store shared by tasks on several threads: the races of `concurrency`, and
/// readers on other threads meanwhile see each member whole, old bytes or new.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_file_under_concurrent_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("s.db").display());
    let s = Arc::new(Store::open(&url).await.unwrap());
    concurrency(&s, &s).await;
    let c = calendar(&s, "threads/").await;
    for i in 0..300 {
        s.put_item(
            &c,
            &format!("{i:04}.ics"),
            CT,
            b"old",
            &ItemIndex::default(),
            &cond(None, None),
        )
        .await
        .unwrap();
    }
    let writers = (0..4).map(|w| {
        let (s, c) = (s.clone(), c.clone());
        tokio::spawn(async move {
            for i in (w..300).step_by(4) {
                let name = format!("{i:04}.ics");
                let m = s.item_meta(&c, &name).await.unwrap().unwrap();
                s.put_item(
                    &c,
                    &name,
                    CT,
                    b"new",
                    &ItemIndex::default(),
                    &cond(Some(&m.etag), None),
                )
                .await
                .unwrap();
            }
        })
    });
    let readers = (0..4).map(|_| {
        let (s, c) = (s.clone(), c.clone());
        tokio::spawn(async move {
            let mut seen = 0;
            for _ in 0..5 {
                let all: Vec<Item> = s.stream_items(&c, true).map(|r| r.unwrap()).collect().await;
                assert_eq!(all.len(), 300);
                for it in &all {
                    assert!(it.body == b"old" || it.body == b"new", "{:?}", it.body);
                    assert_eq!(it.meta.etag, etag_of(&it.body), "metadata and bytes agree");
                }
                seen += all.len();
            }
            seen
        })
    });
    let writers = futures_util::future::join_all(writers).await;
    let readers = futures_util::future::join_all(readers).await;
    assert!(writers.iter().all(|w| w.is_ok()));
    assert!(readers.iter().all(|r| matches!(r, Ok(1500))), "{readers:?}");
    let c = coll(&s, "threads/").await;
    let (changes, _) = s.changes_since(&c, None, None).await.unwrap();
    assert_eq!(changes.len(), 300);
    assert!(s
        .list_items_with_body(&c)
        .await
        .unwrap()
        .iter()
        .all(|i| i.body == b"new"));
}

async fn leases(s: &Store) {
    // Free: claimed; held: busy for another holder; released undone: claimable again.
    assert_eq!(
        s.lease_claim("k", "a", 1000, 500, 0).await.unwrap(),
        Lease::Claimed
    );
    assert_eq!(
        s.lease_claim("k", "b", 1100, 500, 0).await.unwrap(),
        Lease::Busy
    );
    s.lease_release("k", "a", None).await.unwrap();
    assert_eq!(
        s.lease_claim("k", "b", 1200, 500, 0).await.unwrap(),
        Lease::Claimed
    );
    // Done at 1200: fresh for whoever asks for work after 1100, stale for work after 1200.
    s.lease_release("k", "b", Some(1200)).await.unwrap();
    assert_eq!(
        s.lease_claim("k", "a", 1300, 500, 1100).await.unwrap(),
        Lease::Done(1200)
    );
    assert_eq!(
        s.lease_claim("k", "a", 1300, 500, 1200).await.unwrap(),
        Lease::Claimed
    );
    // A holder that never releases: its lease runs out (1300 + 500).
    assert_eq!(
        s.lease_claim("k", "b", 1799, 500, 1200).await.unwrap(),
        Lease::Busy
    );
    assert_eq!(
        s.lease_claim("k", "b", 1800, 500, 1200).await.unwrap(),
        Lease::Claimed
    );
    // Only the holder releases.
    s.lease_release("k", "a", Some(1900)).await.unwrap();
    assert_eq!(
        s.lease_claim("k", "c", 1900, 500, 1200).await.unwrap(),
        Lease::Busy
    );
}

/// Two stores (as two instances) claiming one lease at once: exactly one holds it.
async fn lease_race(one: &Store, two: &Store) {
    const N: usize = 16;
    let both = [one, two];
    let results = futures_util::future::join_all((0..N).map(|i| {
        let s = both[i % 2];
        async move {
            s.lease_claim("race", &format!("h{i}"), 1000, 60_000, 0)
                .await
                .unwrap()
        }
    }))
    .await;
    let claimed = results.iter().filter(|l| **l == Lease::Claimed).count();
    assert_eq!(claimed, 1, "{results:?}");
}

/// Two stores (as two instances) importing one CRM record under different names at once, and
/// a phone's save racing them: the record is always one identity and one item.
async fn identity_race(one: &Store, two: &Store) {
    const N: usize = 16;
    let both = [one, two];
    let c = calendar(one, "identity-race/").await;
    let idx = event("rec", 1, 2);
    let results = futures_util::future::join_all((0..N).map(|i| {
        let (s, c, idx) = (both[i % 2], &c, &idx);
        async move {
            let ident = CrmIdentity {
                name: format!("n{i}.ics"),
                crm_id: "REC".into(),
                uid: "rec".into(),
                ..Default::default()
            };
            let body = format!("imported {i}");
            let item = RenderedItem {
                content_type: CT,
                body: body.as_bytes(),
                index: idx,
            };
            if i == N / 2 {
                s.crm_save(c, &ident, Some(item)).await
            } else {
                s.crm_import(c, &ident, Some(item)).await
            }
        }
    }))
    .await;
    assert!(
        results
            .iter()
            .all(|r| r.is_ok() || matches!(r, Err(StoreError::Exists))),
        "{results:?}"
    );
    let idents = one.crm_identities(&c).await.unwrap();
    assert_eq!(idents.len(), 1, "{idents:?}");
    let items = two.list_items(&c).await.unwrap();
    assert_eq!(
        items.len(),
        1,
        "{:?}",
        items.iter().map(|m| &m.name).collect::<Vec<_>>()
    );
    assert_eq!(items[0].name, idents[0].name);
}

/// Two stores on one database (as two instances) writing one collection at once.
async fn concurrency(one: &Store, two: &Store) {
    const N: usize = 16;
    // Store is not Clone: share both through an Arc'd pair, alternating per task.
    let both: Arc<[&Store; 2]> = Arc::new([one, two]);
    let c = calendar(one, "race/").await;
    let (base, _) = one
        .put_item(
            &c,
            "r.ics",
            CT,
            b"base",
            &ItemIndex::default(),
            &cond(None, None),
        )
        .await
        .unwrap();
    // N If-Match PUTs of one resource: exactly one wins, the rest fail their precondition.
    let results = futures_util::future::join_all((0..N).map(|i| {
        let (s, c, base) = (both[i % 2], &c, &base);
        async move {
            let body = format!("writer {i}");
            s.put_item(
                c,
                "r.ics",
                CT,
                body.as_bytes(),
                &ItemIndex::default(),
                &cond(Some(base), None),
            )
            .await
        }
    }))
    .await;
    let wins = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(wins, 1, "{results:?}");
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(StoreError::PreconditionFailed))));
    // N creations of one name with If-None-Match: *.
    let results = futures_util::future::join_all((0..N).map(|i| {
        let (s, c) = (both[i % 2], &c);
        async move {
            s.put_item(
                c,
                "new.ics",
                CT,
                b"n",
                &ItemIndex::default(),
                &cond(None, Some("*")),
            )
            .await
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    // N different names with one UID: exactly one is stored.
    let results = futures_util::future::join_all((0..N).map(|i| {
        let (s, c) = (both[i % 2], &c);
        async move {
            let idx = event("same-uid", 1, 2);
            s.put_item(c, &format!("u{i}.ics"), CT, b"u", &idx, &cond(None, None))
                .await
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(StoreError::UidConflict(_)))));
    // N MOVEs of one item: one moves it, the others find it gone.
    let m = one.item_meta(&c, "new.ics").await.unwrap().unwrap();
    let results = futures_util::future::join_all((0..N).map(|i| {
        let (s, c, etag) = (both[i % 2], &c, &m.etag);
        async move {
            let dst = format!("moved{i}.ics");
            let src = ItemRef {
                coll: c,
                name: "new.ics",
            };
            let dst = ItemRef {
                coll: c,
                name: &dst,
            };
            s.copy_item(T, src, etag, dst, &ItemIndex::default(), true)
                .await
        }
    }))
    .await;
    assert_eq!(
        results.iter().filter(|r| r.is_ok()).count(),
        1,
        "{results:?}"
    );
    assert!(results
        .iter()
        .all(|r| r.is_ok() || matches!(r, Err(StoreError::NotFound))));
    // Many writers of distinct members: every sequence number is handed out once, the
    // collection's sequence is the last one, and the change log has every member.
    let before = coll(one, "race/").await.seq;
    let results = futures_util::future::join_all((0..4 * N).map(|i| {
        let (s, c) = (both[i % 2], &c);
        async move {
            s.put_item(
                c,
                &format!("p{i}.ics"),
                CT,
                i.to_string().as_bytes(),
                &ItemIndex::default(),
                &cond(None, None),
            )
            .await
        }
    }))
    .await;
    assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
    let after = coll(two, "race/").await;
    assert_eq!(after.seq, before + 4 * N as i64);
    let (changes, upto) = two.changes_since(&after, Some(before), None).await.unwrap();
    assert_eq!(upto, after.seq);
    let seqs: HashSet<i64> = changes.iter().map(seq_of).collect();
    assert_eq!(seqs.len(), 4 * N);
    assert_eq!(seqs, (before + 1..=after.seq).collect());
    // The same token and CTag from either instance.
    assert_eq!(coll(one, "race/").await.ctag(), after.ctag());
}

fn setup_row(kind: SetupKind, id: &str, owner: Option<&str>, client: &str, exp: i64) -> SetupEntry {
    SetupEntry {
        kind,
        id: id.into(),
        tenant: T.into(),
        owner: owner.map(str::to_string),
        client: Some(client.into()),
        lookup: Some(format!("l-{id}")),
        body: format!("body-{id}"),
        expires_ms: exp,
        used_ms: None,
    }
}

/// The sign-in page's state: bounded per kind and client, expiring, single-use take, compare
/// and swap, lookup, a person's rows removed together.
async fn setup_state(s: &Store) {
    use SetupKind::*;
    let now = 1_000_000;
    let row = |id: &str, client: &str| setup_row(SignIn, id, None, client, now + 600_000);
    assert_eq!(
        s.setup_insert(&row("a", "c1"), now, 3, Some(2))
            .await
            .unwrap(),
        SetupInsert::Stored
    );
    assert_eq!(
        s.setup_insert(&row("b", "c1"), now, 3, Some(2))
            .await
            .unwrap(),
        SetupInsert::Stored
    );
    assert_eq!(
        s.setup_insert(&row("c", "c1"), now, 3, Some(2))
            .await
            .unwrap(),
        SetupInsert::TooManyFromClient
    );
    assert_eq!(
        s.setup_insert(&row("c", "c2"), now, 3, Some(2))
            .await
            .unwrap(),
        SetupInsert::Stored
    );
    assert_eq!(
        s.setup_insert(&row("d", "c3"), now, 3, Some(2))
            .await
            .unwrap(),
        SetupInsert::Full,
        "a live row is never evicted"
    );
    // Another kind has its own bound.
    let flow = setup_row(LoginFlow, "a", None, "c1", now + 1);
    assert_eq!(
        s.setup_insert(&flow, now, 3, None).await.unwrap(),
        SetupInsert::Stored
    );
    assert_eq!(
        s.setup_get(LoginFlow, "a", now).await.unwrap(),
        Some(flow.clone())
    );
    assert_eq!(
        s.setup_get(LoginFlow, "a", now + 1).await.unwrap(),
        None,
        "expired"
    );
    assert_eq!(s.setup_take(LoginFlow, "a", now + 1).await.unwrap(), None);
    // Single use.
    assert_eq!(
        s.setup_take(SignIn, "a", now)
            .await
            .unwrap()
            .map(|e| e.body),
        Some("body-a".into())
    );
    assert_eq!(s.setup_take(SignIn, "a", now).await.unwrap(), None);
    assert_eq!(s.setup_get(SignIn, "a", now).await.unwrap(), None);
    // Expired rows make room at the next insert.
    let later = now + 600_000;
    let e = setup_row(SignIn, "e", None, "c1", later + 600_000);
    assert_eq!(
        s.setup_insert(&e, later, 3, Some(2)).await.unwrap(),
        SetupInsert::Stored
    );
    assert_eq!(s.setup_get(SignIn, "b", later).await.unwrap(), None);
    // Compare and swap, lookup, touch.
    assert!(!s
        .setup_update(SignIn, "e", "stale", "x", later)
        .await
        .unwrap());
    assert!(s
        .setup_update(SignIn, "e", "body-e", "x", later)
        .await
        .unwrap());
    assert!(!s
        .setup_update(SignIn, "e", "body-e", "y", later)
        .await
        .unwrap());
    assert_eq!(
        s.setup_find(SignIn, T, "l-e", later)
            .await
            .unwrap()
            .map(|e| e.body),
        Some("x".into())
    );
    assert_eq!(
        s.setup_find(SignIn, "other", "l-e", later).await.unwrap(),
        None
    );
    assert_eq!(s.setup_find(Session, T, "l-e", later).await.unwrap(), None);
    s.setup_touch(SignIn, "e", later + 5).await.unwrap();
    assert_eq!(
        s.setup_get(SignIn, "e", later)
            .await
            .unwrap()
            .and_then(|e| e.used_ms),
        Some(later + 5)
    );
    s.setup_remove(SignIn, "e").await.unwrap();
    assert_eq!(s.setup_get(SignIn, "e", later).await.unwrap(), None);
    // A person's sessions: listed and removed together, nobody else's.
    for (id, owner) in [("s1", "bob"), ("s2", "bob"), ("s3", "ann")] {
        let e = setup_row(Session, id, Some(owner), "c9", later + 1000);
        assert_eq!(
            s.setup_insert(&e, later, 10, None).await.unwrap(),
            SetupInsert::Stored
        );
    }
    let bobs: Vec<String> = s
        .setup_owned(T, "bob", later)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(bobs, ["s1", "s2"]);
    assert!(s
        .setup_owned("other", "bob", later)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        s.setup_remove_owned("other", "bob", later).await.unwrap(),
        0
    );
    assert_eq!(s.setup_remove_owned(T, "bob", later).await.unwrap(), 2);
    assert!(s.setup_get(Session, "s1", later).await.unwrap().is_none());
    assert!(s.setup_get(Session, "s3", later).await.unwrap().is_some());
    s.setup_remove(Session, "s3").await.unwrap();
}

/// Two instances: a row one stores the other reads and takes, exactly one of two takes at once
/// gets it, and the bound holds across both.
async fn setup_race(one: &Store, two: &Store) {
    let now = 5_000_000;
    for i in 0..20 {
        let e = setup_row(
            SetupKind::LoginFlow,
            &format!("r{i}"),
            None,
            "c",
            now + 60_000,
        );
        assert_eq!(
            one.setup_insert(&e, now, 1000, None).await.unwrap(),
            SetupInsert::Stored
        );
        let (a, b) = tokio::join!(
            one.setup_take(SetupKind::LoginFlow, &e.id, now),
            two.setup_take(SetupKind::LoginFlow, &e.id, now)
        );
        let won = [a.unwrap(), b.unwrap()].into_iter().flatten().count();
        assert_eq!(won, 1, "exactly one instance takes {}", e.id);
    }
    let mut tasks = Vec::new();
    for i in 0..16 {
        let s = if i % 2 == 0 { one } else { two };
        let e = setup_row(
            SetupKind::SignIn,
            &format!("p{i}"),
            None,
            &format!("k{i}"),
            now + 60_000,
        );
        tasks.push(async move { s.setup_insert(&e, now, 5, None).await.unwrap() });
    }
    let stored = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .filter(|r| *r == SetupInsert::Stored)
        .count();
    assert_eq!(stored, 5, "the bound holds across instances");
}
