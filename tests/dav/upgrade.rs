//! Upgrade: the state file of the previous release (tests/fixtures/state-v0/, written by crmdav
//! 0.1.0) is opened in place and served exactly as that release served it: every collection's
//! sync token and CTag, every member's href, ETag and body, every dead property, and a
//! sync-collection (RFC 6578) from a token that release handed out.

use crate::support::dav::*;
use crate::support::gateway::{free_port, repo, Gateway, StateDir};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read fixture dir") {
        let entry = entry.expect("dir entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), dest).expect("copy fixture file");
        }
    }
}

/// The fixture folder in a fresh state dir, the database where its config's `state` points.
fn install_fixture(dir: &Path) {
    let fixture = repo("tests/fixtures/state-v0");
    copy_dir(&fixture, dir);
    let cfg: toml::Table = std::fs::read_to_string(dir.join("crmdav.toml"))
        .expect("fixture config")
        .parse()
        .expect("fixture config parses");
    let state = cfg["state"].as_str().expect("state = \"sqlite://…\"");
    let db = dir.join(state.strip_prefix("sqlite://").expect("a sqlite state"));
    if db != dir.join("crmdav.db") {
        std::fs::create_dir_all(db.parent().expect("state folder")).expect("state folder");
        std::fs::rename(dir.join("crmdav.db"), &db).expect("move crmdav.db");
    }
}

/// `{ns}name` → (ns, name).
fn clark(key: &str) -> (&str, &str) {
    key.strip_prefix('{')
        .and_then(|k| k.split_once('}'))
        .unwrap_or_else(|| panic!("not a {{ns}}name key: {key}"))
}

/// DAV:prop children asking for these properties, each with its own namespace declaration.
fn prop_request(names: &[(&str, &str)]) -> String {
    names
        .iter()
        .enumerate()
        .map(|(i, (ns, name))| format!(r#"<P{i}:{name} xmlns:P{i}="{}"/>"#, esc(ns)))
        .collect()
}

/// The dead properties in `expected` (an object of `{ns}name` → text) are served as recorded.
#[track_caller]
fn assert_dead_props(c: &Client, href: &str, expected: &Value) {
    let dead = expected.as_object().expect("dead properties object");
    if dead.is_empty() {
        return;
    }
    let names: Vec<(&str, &str)> = dead.keys().map(|k| clark(k)).collect();
    let ms = c.propfind(href, "0", &prop_request(&names)).multistatus();
    let r = ms.get(href);
    for (key, want) in dead {
        let (ns, name) = clark(key);
        assert_eq!(
            r.ok(ns, name).text,
            want.as_str().expect("text value"),
            "{href} {key}"
        );
    }
}

/// The property's text when it came with 200, None when the server has no such property.
fn optional_prop(r: &Response, ns: &str, name: &str) -> Option<String> {
    r.prop(ns, name)
        .filter(|p| p.status == 200)
        .map(|p| p.text.trim().to_string())
}

fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

#[test]
fn state_of_the_previous_release_is_served_unchanged() {
    let dir = StateDir::new("upgrade");
    install_fixture(dir.path());
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.path().join("expected.json")).expect("expected.json"),
    )
    .expect("expected.json parses");
    let gw = Gateway::new(dir.path(), free_port()).start();
    let c = as_user(
        expected["user"].as_str().expect("user"),
        expected["password"].as_str().expect("password"),
    )
    .at(&gw.base);

    let collections = expected["collections"]
        .as_object()
        .expect("collections object");
    assert!(!collections.is_empty());
    for (coll, e) in collections {
        let ms = c
            .propfind(coll, "0", "<D:sync-token/><CS:getctag/>")
            .multistatus();
        let r = ms.get(coll);
        assert_eq!(
            optional_prop(&r, DAV, "sync-token"),
            e["sync_token"].as_str().map(String::from),
            "{coll} sync-token"
        );
        assert_eq!(
            optional_prop(&r, CS, "getctag"),
            e["ctag"].as_str().map(String::from),
            "{coll} getctag"
        );
        assert_dead_props(&c, coll, &e["dead"]);

        let members = e["members"].as_object().expect("members object");
        let served: BTreeSet<String> = members_of(&c, coll).into_iter().collect();
        let recorded: BTreeSet<String> = members.keys().cloned().collect();
        assert_eq!(served, recorded, "{coll} members");
        for (href, m) in members {
            let r = c.get(href);
            r.expect(200);
            assert_eq!(r.etag(), m["etag"].as_str().expect("etag"), "{href} ETag");
            assert_eq!(
                sha256_hex(&r.body),
                m["sha256"].as_str().expect("sha256"),
                "{href} body"
            );
            assert_dead_props(&c, href, &m["dead"]);
        }
    }

    // A sync-collection from the older token answers the same changes (RFC 6578 §3.5).
    let s = &expected["sync_from_3"];
    let token = s["token"].as_str().expect("token");
    let prefix = &token[..token.rfind(':').expect("token counter")];
    let (coll, _) = collections
        .iter()
        .find(|(_, e)| {
            e["sync_token"]
                .as_str()
                .is_some_and(|t| t.starts_with(prefix))
        })
        .expect("the collection of the recorded token");
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:"><D:sync-token>{}</D:sync-token><D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>"#,
        esc(token)
    );
    let ms = c.report(coll, "0", &body).multistatus();
    assert_eq!(
        ms.sync_token().as_deref(),
        s["new_token"].as_str(),
        "new token"
    );
    let mut changes = BTreeMap::new();
    for r in ms.responses() {
        let outcome = if r.props.iter().any(|p| p.status == 200) {
            "changed".to_string()
        } else {
            response_status_line(&ms, r.href())
        };
        changes.insert(r.href().to_string(), outcome);
    }
    let recorded: BTreeMap<String, String> = s["changes"]
        .as_object()
        .expect("changes object")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().expect("outcome").to_string()))
        .collect();
    assert_eq!(changes, recorded, "sync-collection from {token}");
}

/// The hrefs of a collection's members (Depth 1 PROPFIND), without the collection.
fn members_of(c: &Client, coll: &str) -> Vec<String> {
    let ms = c.propfind(coll, "1", "<D:getetag/>").multistatus();
    ms.hrefs().into_iter().filter(|h| h != coll).collect()
}

/// The response-level DAV:status line of `href`, as written (e.g. `HTTP/1.1 404 Not Found`).
fn response_status_line(ms: &Ms, href: &str) -> String {
    let doc = ms.doc();
    doc.root_element()
        .children()
        .filter(|r| r.has_tag_name((DAV, "response")))
        .find(|r| {
            r.children()
                .any(|h| h.has_tag_name((DAV, "href")) && path_of(&all_text(h)) == href)
        })
        .and_then(|r| r.children().find(|s| s.has_tag_name((DAV, "status"))))
        .map(|s| all_text(s).trim().to_string())
        .unwrap_or_else(|| panic!("no status for {href} in:\n{}", ms.text))
}
