//! Size limits and quotas (issue 9, item 15; RFC 4331) on a gateway of its own with small
//! limits: plain collections get `max_resource_bytes` too, and a write that would pass a
//! per-user or per-collection quota is refused with 507 and `DAV:quota-not-exceeded`, whether
//! it is a PUT, a COPY or a MOVE, and nothing is stored. Users see their usage in
//! `DAV:quota-used-bytes` and `DAV:quota-available-bytes`.

use crate::support::dav::*;
use crate::support::gateway::{free_port, Gateway, StateDir};

const USER: &str = "quser";
const CAL: &str = "/dav/calendars/quser/cal/";
const BOOK: &str = "/dav/addressbooks/quser/book/";
const FILES: &str = "/dav/calendars/quser/files/";
const MAX_RESOURCE: usize = 4096;

/// A gateway whose server file ends with `quota` (a `[quota]` table, or nothing).
fn gateway(quota: &str) -> (Gateway, StateDir, Client) {
    let dir = StateDir::new("quota");
    let d = dir.path();
    std::fs::write(
        d.join("crmdav.toml"),
        format!(
            "state = \"sqlite://{}\"\ntenants_dir = \"tenants\"\ndefault_tenant = \"q\"\nrealm = \"q\"\n\n[limits]\nmax_body_bytes = 65536\nmax_resource_bytes = {MAX_RESOURCE}\n\n{quota}\n",
            d.join("state.db").display()
        ),
    )
    .expect("server file");
    std::fs::create_dir_all(d.join("tenants")).expect("tenants");
    // The password is "demo" (the hash deploy/demo ships).
    let tenant = format!(
        r#"name = "q"
connector = "local"

[[users]]
name = "{USER}"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$d6F8Dc0t1M+DLaQVU8ljjw$6t6WTUWFCaJPYHcC92PFeYHpDChoGZua6yjoTk8hBQs"

[[collections]]
id = "cal"
kind = "calendar"
display_name = "cal"
components = ["VEVENT"]
users = ["{USER}"]

[[collections]]
id = "book"
kind = "addressbook"
display_name = "book"
users = ["{USER}"]
"#
    );
    std::fs::write(d.join("tenants/q.toml"), tenant).expect("tenant file");
    let gw = Gateway::new(d, free_port()).start();
    let c = as_user(USER, "demo").at(&gw.base);
    c.mkcol(FILES).expect(201);
    (gw, dir, c)
}

fn event(uid: &str) -> String {
    vevent(uid, "quota", "20300101T100000Z", "20300101T110000Z")
}

#[track_caller]
fn assert_over_quota(r: &Resp) {
    r.expect_error(507, DAV, "quota-not-exceeded");
    assert!(r.text().contains("quota of"), "{}", r.text());
}

/// `DAV:quota-used-bytes` and `DAV:quota-available-bytes` of `path`.
fn quota_props(c: &Client, path: &str) -> (u64, u64) {
    let ms = c
        .propfind(path, "0", "<D:quota-used-bytes/><D:quota-available-bytes/>")
        .multistatus();
    let r = ms.get(path);
    let n = |name: &str| r.ok(DAV, name).text.trim().parse::<u64>().expect(name);
    (n("quota-used-bytes"), n("quota-available-bytes"))
}

#[test]
fn plain_collections_have_the_resource_size_limit() {
    let (_gw, _dir, c) = gateway("");
    let big = "x".repeat(MAX_RESOURCE + 1);
    let r = c.put(&format!("{FILES}big.bin"), "application/octet-stream", &big);
    assert_eq!(r.status, 413, "{}", r.text());
    c.get(&format!("{FILES}big.bin")).expect(404);
    let fits = "x".repeat(MAX_RESOURCE);
    c.put(
        &format!("{FILES}fits.bin"),
        "application/octet-stream",
        &fits,
    )
    .expect(201);
    // Without a [quota] table nothing else is limited, and no quota is published.
    for i in 0..5 {
        c.put_ics(&format!("{CAL}e{i}.ics"), &event(&format!("e{i}")))
            .expect(201);
    }
    let ms = c.propfind(CAL, "0", "<D:quota-used-bytes/>").multistatus();
    assert_eq!(ms.get(CAL).prop_status(DAV, "quota-used-bytes"), 404);
}

#[test]
fn a_collection_holds_at_most_its_item_quota() {
    let (_gw, _dir, c) = gateway("[quota]\ncollection_items = 3");
    for i in 0..3 {
        c.put_ics(&format!("{CAL}e{i}.ics"), &event(&format!("e{i}")))
            .expect(201);
    }
    let r = c.put_ics(&format!("{CAL}e3.ics"), &event("e3"));
    assert_over_quota(&r);
    c.get(&format!("{CAL}e3.ics")).expect(404);
    // Replacing a member adds nothing; another collection has its own count.
    c.put_ics(&format!("{CAL}e0.ics"), &event("e0")).expect(204);
    c.put_vcf(&format!("{BOOK}a.vcf"), &vcard3("a", "A"))
        .expect(201);
    // COPY into the full collection is refused too; a MOVE inside it is a rename.
    c.put(&format!("{FILES}e9.ics"), "text/calendar", &event("e9"))
        .expect(201);
    let copy =
        |src: &str, dest: &str, m: &str| c.dav(m, src, None, Vec::new(), &[("Destination", dest)]);
    assert_over_quota(&copy(
        &format!("{FILES}e9.ics"),
        &format!("{CAL}e9.ics"),
        "COPY",
    ));
    assert_over_quota(&copy(
        &format!("{FILES}e9.ics"),
        &format!("{CAL}e9.ics"),
        "MOVE",
    ));
    c.get(&format!("{CAL}e9.ics")).expect(404);
    c.get(&format!("{FILES}e9.ics")).expect(200);
    copy(&format!("{CAL}e1.ics"), &format!("{CAL}e1b.ics"), "MOVE").expect(201);
    // Room again after a DELETE.
    c.delete(&format!("{CAL}e2.ics")).expect(204);
    c.put_ics(&format!("{CAL}e3.ics"), &event("e3")).expect(201);
    assert_eq!(members(&c, CAL).len(), 3);
}

#[test]
fn a_user_stores_at_most_their_byte_and_item_quota() {
    let limit = 2000u64;
    let (_gw, _dir, c) = gateway(&format!("[quota]\nuser_bytes = {limit}\nuser_items = 8"));
    assert_eq!(quota_props(&c, CAL), (0, limit));
    let ev = event("u0");
    let card = vcard3("u1", "U One");
    let blob = "y".repeat(900);
    c.put_ics(&format!("{CAL}u0.ics"), &ev).expect(201);
    c.put_vcf(&format!("{BOOK}u1.vcf"), &card).expect(201);
    c.put(
        &format!("{FILES}blob.bin"),
        "application/octet-stream",
        &blob,
    )
    .expect(201);
    let used = (ev.len() + card.len() + blob.len()) as u64;
    // Every collection of the user reports the same total, and so does the home.
    for path in [CAL, BOOK, FILES, "/dav/calendars/quser/"] {
        assert_eq!(quota_props(&c, path), (used, limit - used), "{path}");
    }
    // A write that would pass the total is refused, in any collection and by any method.
    let over = "z".repeat((limit - used) as usize + 1);
    assert_over_quota(&c.put(
        &format!("{FILES}over.bin"),
        "application/octet-stream",
        &over,
    ));
    c.get(&format!("{FILES}over.bin")).expect(404);
    let copy =
        |m: &str, src: &str, dest: &str| c.dav(m, src, None, Vec::new(), &[("Destination", dest)]);
    assert_over_quota(&copy(
        "COPY",
        &format!("{FILES}blob.bin"),
        &format!("{FILES}blob2.bin"),
    ));
    c.mkcol(&format!("{FILES}sub/")).expect(201);
    assert_over_quota(&copy("COPY", FILES, "/dav/calendars/quser/files2/"));
    c.propfind("/dav/calendars/quser/files2/", "0", "<D:getetag/>")
        .expect(404);
    // Moving what is already stored adds nothing to the total.
    copy(
        "MOVE",
        &format!("{FILES}blob.bin"),
        &format!("{FILES}sub/blob.bin"),
    )
    .expect(201);
    assert_eq!(quota_props(&c, CAL), (used, limit - used));
    // Shrinking is always allowed; then the freed room can be used.
    c.put(
        &format!("{FILES}sub/blob.bin"),
        "application/octet-stream",
        "small",
    )
    .expect(204);
    let used = used - blob.len() as u64 + 5;
    assert_eq!(quota_props(&c, BOOK), (used, limit - used));
    c.put(
        &format!("{FILES}more.bin"),
        "application/octet-stream",
        &"m".repeat(500),
    )
    .expect(201);
    // The item count is a quota of its own.
    for i in 0..4 {
        c.put(&format!("{FILES}n{i}.bin"), "application/octet-stream", "n")
            .expect(201);
    }
    assert_over_quota(&c.put(&format!("{FILES}n4.bin"), "application/octet-stream", "n"));
}
