//! CardDAV (RFC 6352): PUT validation, addressbook-multiget, addressbook-query,
//! address-data selection and version conversion, byte-for-byte round trips.

use crate::support::dav::*;
use crate::support::demo::*;

const AQ_HEAD: &str = r#"<?xml version="1.0" encoding="utf-8"?><CR:addressbook-query xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav">"#;

fn names(ms: &Ms) -> Vec<String> {
    let mut v: Vec<String> = ms
        .responses()
        .into_iter()
        .filter(|r| r.status.is_none())
        .map(|r| r.href().rsplit('/').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

fn query(c: &Client, book: &str, prop: &str, filter: &str) -> Resp {
    c.report(
        book,
        "1",
        &format!("{AQ_HEAD}<D:prop>{prop}</D:prop>{filter}</CR:addressbook-query>"),
    )
}

const PHOTO_B64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==";

fn card3(uid: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:Anna Müller\r\nN:Müller;Anna;;;\r\nORG:ACME GmbH\r\nEMAIL;TYPE=INTERNET,WORK:anna@acme.example\r\nitem1.TEL;TYPE=CELL:+49 170 1234567\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\nTEL;TYPE=WORK:+49 30 555000\r\nPHOTO;ENCODING=b;TYPE=PNG:{PHOTO_B64}\r\nNOTE:Met at the fair\\, likes tea\r\nEND:VCARD\r\n"
    )
}

fn card4(uid: &str) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{uid}\r\nFN:Bert Baker\r\nN:Baker;Bert;;;\r\nEMAIL;TYPE=work:bert@bakery.example\r\nTEL;VALUE=uri;TYPE=cell:tel:+1-555-0100\r\nNICKNAME:Bertie,The Baker\r\nEND:VCARD\r\n"
    )
}

/// An address book with three known cards.
fn book(d: &Client) -> String {
    let b = d.new_addressbook();
    d.put_vcf(&format!("{b}anna.vcf"), &card3(&unique("anna")))
        .expect(201);
    d.put_vcf(&format!("{b}bert.vcf"), &card4(&unique("bert")))
        .expect(201);
    d.put_vcf(
        &format!("{b}carl.vcf"),
        &vcard3(&unique("carl"), "Carl Anderson"),
    )
    .expect(201);
    b
}

#[test]
fn put_vcard_3_and_4_round_trip_byte_for_byte() {
    let d = demo();
    let b = d.new_addressbook();
    for (name, body) in [
        ("v3.vcf", card3(&unique("v3"))),
        ("v4.vcf", card4(&unique("v4"))),
    ] {
        let path = format!("{b}{name}");
        let r = d.put_vcf(&path, &body);
        r.expect(201);
        let g = d.get(&path);
        g.expect(200);
        assert_eq!(g.text(), body, "{name} comes back byte for byte");
        assert_eq!(g.etag(), r.etag());
        assert!(g.header("content-type").unwrap().starts_with("text/vcard"));
    }
    // item1.TEL and its label survive exactly
    let g = d.get(&format!("{b}v3.vcf")).text();
    assert!(
        g.contains("\r\nitem1.TEL;TYPE=CELL:+49 170 1234567\r\nitem1.X-ABLabel:_$!<Mobile>!$_\r\n")
    );
    assert!(g.contains(PHOTO_B64));
}

#[test]
fn invalid_vcards_are_refused() {
    let d = demo();
    let b = d.new_addressbook();
    for (i, bad) in [
        "not a vcard".to_string(),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:No Uid\r\nEND:VCARD\r\n".to_string(),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:nofn\r\nEND:VCARD\r\n".to_string(),
        "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:open\r\nFN:Open\r\n".to_string(),
        format!("{}{}", vcard3("two-a", "A"), vcard3("two-b", "B")),
        vevent("an-event", "x", "20270101T100000Z", "20270101T110000Z"),
    ]
    .iter()
    .enumerate()
    {
        let path = format!("{b}bad{i}.vcf");
        let r = d.put_vcf(&path, bad);
        r.expect_error(403, CARDDAV, "valid-address-data");
        assert_eq!(d.get(&path).status, 404);
    }
    // vCard 2.1 → supported-address-data
    let path = format!("{b}v21.vcf");
    d.put_vcf(
        &path,
        "BEGIN:VCARD\r\nVERSION:2.1\r\nUID:v21\r\nFN:Old\r\nEND:VCARD\r\n",
    )
    .expect_error(403, CARDDAV, "supported-address-data");
    assert_eq!(d.get(&path).status, 404);
    // wrong media type
    let path = format!("{b}plain.vcf");
    d.put(&path, "text/plain", &vcard3(&unique("p"), "P"))
        .expect_error(403, CARDDAV, "supported-address-data");
    assert_eq!(d.get(&path).status, 404);
}

#[test]
fn duplicate_uid_in_address_book_is_refused() {
    let d = demo();
    let b = d.new_addressbook();
    let uid = unique("dup");
    d.put_vcf(&format!("{b}one.vcf"), &vcard3(&uid, "One"))
        .expect(201);
    let r = d.put_vcf(&format!("{b}two.vcf"), &vcard3(&uid, "Two"));
    r.expect_error(403, CARDDAV, "no-uid-conflict");
    assert!(
        r.text().contains(&format!("{b}one.vcf")),
        "the conflict names the existing href: {}",
        r.text()
    );
    assert_eq!(d.get(&format!("{b}two.vcf")).status, 404);
}

#[test]
fn addressbook_multiget() {
    let d = demo();
    let names = [
        "demo-card-0001@crmdav.vcf",
        "demo-card-0002@crmdav.vcf",
        "demo-card-0150@crmdav.vcf",
    ];
    let mut hrefs: String = names
        .iter()
        .map(|n| format!("<D:href>{CONTACTS}{n}</D:href>"))
        .collect();
    hrefs.push_str(&format!("<D:href>{CONTACTS}missing.vcf</D:href>"));
    let body = format!(
        r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/><CR:address-data/></D:prop>{hrefs}</CR:addressbook-multiget>"#
    );
    let ms = d.report(CONTACTS, "1", &body).multistatus();
    for n in names {
        let href = format!("{CONTACTS}{n}");
        // address-data without a version is 3.0 (RFC 6352 §10.4), as a GET asking for 3.0.
        let g = get_accept(&d, &href, "text/vcard; version=3.0");
        let r = ms.get(&href);
        assert_eq!(r.ok(DAV, "getetag").text, g.etag());
        assert_eq!(r.ok(CARDDAV, "address-data").text, g.text());
    }
    assert_eq!(ms.get(&format!("{CONTACTS}missing.vcf")).status, Some(404));
}

fn fn_filter(match_type: &str, text: &str) -> String {
    format!(
        r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="{match_type}">{text}</CR:text-match></CR:prop-filter></CR:filter>"#
    )
}

#[test]
fn addressbook_query_match_types() {
    let d = demo();
    let b = book(&d);
    let q = |f: String| names(&query(&d, &b, "<D:getetag/>", &f).multistatus());
    assert_eq!(q(fn_filter("contains", "an")), vec!["anna.vcf", "carl.vcf"]);
    assert_eq!(q(fn_filter("equals", "bert baker")), vec!["bert.vcf"]);
    assert!(q(fn_filter("equals", "bert")).is_empty());
    assert_eq!(q(fn_filter("starts-with", "ANNA")), vec!["anna.vcf"]);
    assert_eq!(q(fn_filter("ends-with", "son")), vec!["carl.vcf"]);
    assert_eq!(
        q(fn_filter("contains", "müller")),
        vec!["anna.vcf"],
        "non-ASCII text is matched"
    );
    // negate
    let f = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains" negate-condition="yes">an</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["bert.vcf"]);
    // i;octet is case-sensitive
    let f = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match collation="i;octet" match-type="contains">anna</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert!(q(f.into()).is_empty());
    // grouped property: TEL matches item1.TEL
    let f = r#"<CR:filter><CR:prop-filter name="TEL"><CR:text-match match-type="contains">1234567</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["anna.vcf"]);
    // list value item
    let f = r#"<CR:filter><CR:prop-filter name="NICKNAME"><CR:text-match match-type="equals">the baker</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["bert.vcf"]);
    // param-filter and is-not-defined
    let f = r#"<CR:filter><CR:prop-filter name="TEL"><CR:param-filter name="TYPE"><CR:text-match match-type="equals">work</CR:text-match></CR:param-filter></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["anna.vcf"]);
    let f = r#"<CR:filter><CR:prop-filter name="EMAIL"><CR:is-not-defined/></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["carl.vcf"]);
}

#[test]
fn addressbook_query_anyof_allof() {
    let d = demo();
    let b = book(&d);
    let q = |f: String| names(&query(&d, &b, "<D:getetag/>", &f).multistatus());
    let two = |test: &str| {
        format!(
            r#"<CR:filter test="{test}"><CR:prop-filter name="FN"><CR:text-match match-type="contains">anna</CR:text-match></CR:prop-filter><CR:prop-filter name="EMAIL"><CR:text-match match-type="contains">bakery</CR:text-match></CR:prop-filter></CR:filter>"#
        )
    };
    assert_eq!(q(two("anyof")), vec!["anna.vcf", "bert.vcf"]);
    assert!(q(two("allof")).is_empty());
    // default is anyof
    let f = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">anna</CR:text-match></CR:prop-filter><CR:prop-filter name="FN"><CR:text-match match-type="contains">carl</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["anna.vcf", "carl.vcf"]);
    // allof within one prop-filter
    let f = r#"<CR:filter><CR:prop-filter name="FN" test="allof"><CR:text-match match-type="starts-with">anna</CR:text-match><CR:text-match match-type="ends-with">müller</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert_eq!(q(f.into()), vec!["anna.vcf"]);
    let f = r#"<CR:filter><CR:prop-filter name="FN" test="allof"><CR:text-match match-type="starts-with">anna</CR:text-match><CR:text-match match-type="ends-with">baker</CR:text-match></CR:prop-filter></CR:filter>"#;
    assert!(q(f.into()).is_empty());
}

#[test]
fn addressbook_query_limit_gives_507() {
    let d = demo();
    let body = format!(
        "{AQ_HEAD}<D:prop><D:getetag/></D:prop><CR:filter/><CR:limit><CR:nresults>5</CR:nresults></CR:limit></CR:addressbook-query>"
    );
    let ms = d.report(CONTACTS, "1", &body).multistatus();
    let items: Vec<Response> = ms
        .responses()
        .into_iter()
        .filter(|r| r.status.is_none())
        .collect();
    assert_eq!(items.len(), 5, "{}", ms.text);
    let over = ms.get(CONTACTS);
    assert_eq!(
        over.status,
        Some(507),
        "the truncation is reported on the collection's href"
    );
    assert!(
        over.errors
            .iter()
            .any(|(n, l)| n == DAV && l == "number-of-matches-within-limits"),
        "{over:?}"
    );
    // no 507 when everything fits
    let b = book(&d);
    let body = format!(
        "{AQ_HEAD}<D:prop><D:getetag/></D:prop><CR:filter/><CR:limit><CR:nresults>5</CR:nresults></CR:limit></CR:addressbook-query>"
    );
    let ms = d.report(&b, "1", &body).multistatus();
    assert_eq!(names(&ms).len(), 3);
    assert!(ms.find(&b).is_none());
}

#[test]
fn seeded_address_book_answers_queries() {
    let d = demo();
    let ms = query(&d, CONTACTS, "<D:getetag/>", "<CR:filter/>").multistatus();
    assert_eq!(names(&ms).len(), 240);
    let ms = query(
        &d,
        CONTACTS,
        "<D:getetag/>",
        &fn_filter("contains", "zzzz-nobody"),
    )
    .multistatus();
    assert!(names(&ms).is_empty());
}

fn address_data(d: &Client, href: &str, el: &str) -> String {
    let body = format!(
        r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop>{el}</D:prop><D:href>{href}</D:href></CR:addressbook-multiget>"#
    );
    let ms = d
        .report(href.rsplit_once('/').unwrap().0, "1", &body)
        .multistatus();
    ms.get(href).ok(CARDDAV, "address-data").text.clone()
}

#[test]
fn address_data_property_selection() {
    let d = demo();
    let b = book(&d);
    let href = format!("{b}anna.vcf");
    let data = address_data(
        &d,
        &href,
        r#"<CR:address-data><CR:prop name="FN"/><CR:prop name="EMAIL"/></CR:address-data>"#,
    );
    let lines = unfold(&data);
    assert!(lines.contains(&"BEGIN:VCARD".to_string()) && lines.contains(&"END:VCARD".to_string()));
    assert!(lines.iter().any(|l| l == "FN:Anna Müller"), "{data}");
    assert!(lines.iter().any(|l| l.starts_with("EMAIL")), "{data}");
    assert!(
        lines.iter().any(|l| l.starts_with("VERSION:")),
        "VERSION is always returned: {data}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("UID:")),
        "UID is always returned: {data}"
    );
    for gone in ["TEL", "item1.TEL", "PHOTO", "NOTE", "ORG", "N:"] {
        assert!(
            !lines.iter().any(|l| l.starts_with(gone)),
            "{gone} must be left out: {data}"
        );
    }
}

#[test]
fn address_data_version_conversion() {
    let d = demo();
    let b = book(&d);
    let href = format!("{b}anna.vcf");
    let v4 = address_data(
        &d,
        &href,
        r#"<CR:address-data content-type="text/vcard" version="4.0"/>"#,
    );
    let l4 = unfold(&v4);
    assert!(l4.contains(&"VERSION:4.0".to_string()), "{v4}");
    assert!(l4.iter().any(|l| l == "FN:Anna Müller"));
    assert!(
        l4.iter().any(|l| l.contains("+49 170 1234567")),
        "the grouped TEL survives conversion: {v4}"
    );
    assert!(
        v4.contains("iVBORw0KGgo"),
        "the photo survives conversion to 4.0: {v4}"
    );
    // 4.0 card fetched as 3.0
    let href4 = format!("{b}bert.vcf");
    let v3 = address_data(
        &d,
        &href4,
        r#"<CR:address-data content-type="text/vcard" version="3.0"/>"#,
    );
    let l3 = unfold(&v3);
    assert!(l3.contains(&"VERSION:3.0".to_string()), "{v3}");
    assert!(l3.iter().any(|l| l == "FN:Bert Baker"));
    assert!(
        l3.iter()
            .any(|l| l.starts_with("TEL") && l.contains("+1-555-0100") && !l.contains("tel:")),
        "3.0 TEL is text, not a tel: URI: {v3}"
    );
    // asking for the stored version gives the bytes unchanged
    let same = address_data(
        &d,
        &href,
        r#"<CR:address-data content-type="text/vcard" version="3.0"/>"#,
    );
    assert_eq!(same, d.get(&href).text());
    // an unsupported version → 403 supported-address-data
    let body = format!(
        r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><CR:address-data content-type="text/vcard" version="2.1"/></D:prop><D:href>{href}</D:href></CR:addressbook-multiget>"#
    );
    d.report(&b, "1", &body)
        .expect_error(403, CARDDAV, "supported-address-data");
}

#[test]
fn photo_and_grouped_tel_survive_get_and_query() {
    let d = demo();
    let b = book(&d);
    let href = format!("{b}anna.vcf");
    let stored = d.get(&href).text();
    assert!(stored.contains(&format!("PHOTO;ENCODING=b;TYPE=PNG:{PHOTO_B64}")));
    assert!(stored.contains("item1.TEL;TYPE=CELL:+49 170 1234567\r\n"));
    // a query returning address-data gives the same bytes
    let ms = query(&d, &b, "<CR:address-data/>", &fn_filter("contains", "anna")).multistatus();
    assert_eq!(ms.get(&href).ok(CARDDAV, "address-data").text, stored);
}

#[test]
fn addressbook_query_with_unsupported_collation() {
    let d = demo();
    let f = r#"<CR:filter><CR:prop-filter name="FN"><CR:text-match collation="i;nonsense">x</CR:text-match></CR:prop-filter></CR:filter>"#;
    query(&d, CONTACTS, "<D:getetag/>", f).expect_error(403, CARDDAV, "supported-collation");
}

/// Text queries are answered from the store's field index: it must follow edits, COPY and
/// MOVE of whole address books, and agree with a full scan.
#[test]
fn field_index_follows_edits_copies_and_moves() {
    let d = demo();
    let b = book(&d);
    let q = |book: &str, f: String| names(&query(&d, book, "<D:getetag/>", &f).multistatus());
    assert_eq!(q(&b, fn_filter("contains", "anna")), vec!["anna.vcf"]);
    // An edit moves the index: the old name no longer matches, the new one does.
    let uid = unique("renamed");
    d.put_vcf(&format!("{b}carl.vcf"), &vcard3(&uid, "Carla Zed"))
        .expect(403); // a PUT may not change the UID of an existing card
    d.dav("DELETE", &format!("{b}carl.vcf"), None, "", &[])
        .expect(204);
    d.put_vcf(&format!("{b}carl.vcf"), &vcard3(&uid, "Carla Zed"))
        .expect(201);
    assert!(q(&b, fn_filter("contains", "anderson")).is_empty());
    assert_eq!(q(&b, fn_filter("starts-with", "carla")), vec!["carl.vcf"]);
    // COPY and MOVE of the whole address book keep the index.
    let copy = format!("{}copy/", b.trim_end_matches('/'));
    let dest = format!("{}{}", server().base, copy);
    d.dav("COPY", &b, Some("infinity"), "", &[("Destination", &dest)])
        .expect(201);
    assert_eq!(q(&copy, fn_filter("contains", "zed")), vec!["carl.vcf"]);
    let moved = format!("{}moved/", b.trim_end_matches('/'));
    let dest = format!("{}{}", server().base, moved);
    d.dav("MOVE", &copy, None, "", &[("Destination", &dest)])
        .expect(201);
    assert_eq!(q(&moved, fn_filter("contains", "müller")), vec!["anna.vcf"]);
    // The index answer equals the scan answer (NOTE is not indexed, so anyof with a NOTE
    // branch that matches nothing forces a scan).
    let scan = r#"<CR:filter test="anyof"><CR:prop-filter name="FN"><CR:text-match match-type="contains">a</CR:text-match></CR:prop-filter><CR:prop-filter name="NOTE"><CR:text-match>no such note</CR:text-match></CR:prop-filter></CR:filter>"#;
    let indexed = fn_filter("contains", "a");
    assert_eq!(q(&moved, scan.into()), q(&moved, indexed));
}

fn get_accept(c: &Client, path: &str, accept: &str) -> Resp {
    c.dav("GET", path, None, Vec::new(), &[("Accept", accept)])
}

fn multiget(c: &Client, book: &str, address_data: &str, hrefs: &[&str]) -> Ms {
    let hrefs: String = hrefs
        .iter()
        .map(|h| format!("<D:href>{h}</D:href>"))
        .collect();
    c.report(
        book,
        "1",
        &format!(
            r#"<CR:addressbook-multiget xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:prop><D:getetag/>{address_data}</D:prop>{hrefs}</CR:addressbook-multiget>"#
        ),
    )
    .multistatus()
}

/// Issue 9 item 11: `address-data` without a `version` is 3.0 (RFC 6352 §10.4), in
/// addressbook-multiget and addressbook-query; `version="4.0"` gives 4.0.
#[test]
fn address_data_without_version_is_vcard_3() {
    let d = demo();
    let b = book(&d);
    let (anna, bert) = (format!("{b}anna.vcf"), format!("{b}bert.vcf"));
    let stored4 = d.get(&bert).text();
    assert!(stored4.contains("VERSION:4.0\r\n"), "{stored4}");
    let stored3 = d.get(&anna).text();

    let ms = multiget(&d, &b, "<CR:address-data/>", &[&anna, &bert]);
    let v3 = ms.get(&bert).ok(CARDDAV, "address-data").text.clone();
    let lines = unfold(&v3);
    assert!(lines.contains(&"VERSION:3.0".to_string()), "{v3}");
    assert!(lines.contains(&"FN:Bert Baker".to_string()), "{v3}");
    assert!(
        lines.contains(&"TEL;TYPE=CELL:+1-555-0100".to_string()),
        "3.0 TEL, no tel: URI: {v3}"
    );
    // A stored 3.0 card is served byte for byte.
    assert_eq!(ms.get(&anna).ok(CARDDAV, "address-data").text, stored3);

    let ms = multiget(
        &d,
        &b,
        r#"<CR:address-data content-type="text/vcard" version="4.0"/>"#,
        &[&bert],
    );
    assert_eq!(ms.get(&bert).ok(CARDDAV, "address-data").text, stored4);

    let ms = query(&d, &b, "<CR:address-data/>", &fn_filter("contains", "bert")).multistatus();
    assert_eq!(ms.get(&bert).ok(CARDDAV, "address-data").text, v3);

    // sync-collection: address-data follows the same default; without it, nothing changes.
    let sync = |prop: &str| {
        d.report(
            &b,
            "1",
            &format!(
                r#"<D:sync-collection xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:sync-token/><D:sync-level>1</D:sync-level><D:prop>{prop}</D:prop></D:sync-collection>"#
            ),
        )
        .multistatus()
    };
    let ms = sync("<D:getetag/><CR:address-data/>");
    assert_eq!(ms.get(&bert).ok(CARDDAV, "address-data").text, v3);
    let ms = sync("<D:getetag/>");
    assert_eq!(ms.get(&bert).ok(DAV, "getetag").text, d.get(&bert).etag());
    assert!(ms.get(&bert).prop(CARDDAV, "address-data").is_none());

    // The book advertises both versions (RFC 6352 §6.2.2).
    let ms = d
        .propfind(&b, "0", "<CR:supported-address-data/>")
        .multistatus();
    let responses = ms.responses();
    let sad = responses[0].ok(CARDDAV, "supported-address-data");
    let versions: Vec<(&str, &str)> = sad
        .children
        .iter()
        .filter(|c| c.is(CARDDAV, "address-data-type"))
        .filter_map(|c| Some((c.attr("content-type")?, c.attr("version")?)))
        .collect();
    assert_eq!(versions, [("text/vcard", "3.0"), ("text/vcard", "4.0")]);
    let ms = query(
        &d,
        &b,
        r#"<CR:address-data version="4.0"/>"#,
        &fn_filter("contains", "bert"),
    )
    .multistatus();
    assert_eq!(ms.get(&bert).ok(CARDDAV, "address-data").text, stored4);
}

/// Issue 9 item 11: GET honours `Accept: text/vcard; version=…` with a matching
/// Content-Type; without a version it serves the stored card. Every version carries the
/// stored ETag, so If-Match on the next PUT holds.
#[test]
fn get_honours_accept_version() {
    let d = demo();
    let b = book(&d);
    let (anna, bert) = (format!("{b}anna.vcf"), format!("{b}bert.vcf"));
    let stored = d.get(&bert);
    let etag = stored.etag();

    let g = get_accept(&d, &bert, "text/vcard; version=3.0");
    g.expect(200);
    assert_eq!(
        g.header("content-type").as_deref(),
        Some("text/vcard; charset=utf-8; version=3.0")
    );
    assert!(
        unfold(&g.text()).contains(&"VERSION:3.0".to_string()),
        "{}",
        g.text()
    );
    assert_eq!(g.etag(), etag);
    assert_eq!(g.header("vary").as_deref(), Some("Accept"));

    let g = get_accept(&d, &bert, "text/vcard;version=4.0");
    assert_eq!(g.text(), stored.text());
    assert_eq!(
        g.header("content-type").as_deref(),
        Some("text/vcard; charset=utf-8; version=4.0")
    );
    for accept in [
        "text/vcard",
        "text/x-vcard",
        "*/*",
        "text/html",
        "text/vcard; version=2.1, */*;q=0.1",
    ] {
        let g = get_accept(&d, &bert, accept);
        assert_eq!(g.text(), stored.text(), "Accept: {accept}");
        assert_eq!(g.header("content-type"), stored.header("content-type"));
    }

    // Only forms the server cannot write: RFC 6352's GET precondition.
    for accept in ["text/vcard; version=2.1", "application/vcard+json"] {
        get_accept(&d, &bert, accept).expect_error(
            403,
            CARDDAV,
            "supported-address-data-conversion",
        );
    }

    let g = get_accept(&d, &anna, "text/vcard; version=4.0");
    let lines = unfold(&g.text());
    assert!(lines.contains(&"VERSION:4.0".to_string()), "{}", g.text());
    assert!(
        lines.contains(&format!("PHOTO:data:image/png;base64,{PHOTO_B64}")),
        "{}",
        g.text()
    );
    assert_eq!(g.etag(), d.get(&anna).etag());

    // HEAD gives the converted length.
    let h = d.dav(
        "HEAD",
        &bert,
        None,
        Vec::new(),
        &[("Accept", "text/vcard; version=3.0")],
    );
    let len: usize = h.header("content-length").unwrap().parse().unwrap();
    assert_eq!(
        len,
        get_accept(&d, &bert, "text/vcard; version=3.0").body.len()
    );

    // The ETag read with a 3.0 GET is the one a PUT's If-Match names.
    let g = get_accept(&d, &bert, "text/vcard; version=3.0");
    let edited = g.text().replace("FN:Bert Baker", "FN:Bert B. Baker");
    let r = d.dav(
        "PUT",
        &bert,
        None,
        edited.clone().into_bytes(),
        &[("Content-Type", "text/vcard"), ("If-Match", &g.etag())],
    );
    r.expect(204);
    assert_eq!(d.get(&bert).text(), edited);
}

/// A group, an organization and a person as DAVx5 writes them in vCard 4.0.
fn davx5_cards(tag: &str) -> [(String, String); 3] {
    let person = format!("urn:uuid:{}", unique(&format!("{tag}-erin")));
    [
        (
            "erin.vcf".into(),
            format!(
                "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:{person}\r\nPRODID:ez-vcard 0.12.1\r\nFN:Erin Example\r\nN:Example;Erin;;;\r\nKIND:individual\r\nTEL;TYPE=cell;PREF=1;VALUE=uri:tel:+1-555-0101\r\nEMAIL;TYPE=work:erin@example.com\r\nBDAY:--0415\r\nANNIVERSARY:20100612\r\nPHOTO:data:image/png;base64,{PHOTO_B64}\r\nIMPP;PREF=1:xmpp:erin@example.com\r\nGENDER:F\r\nEND:VCARD\r\n"
            ),
        ),
        (
            "acme.vcf".into(),
            format!(
                "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:{}\r\nFN:Acme Corp\r\nORG:Acme Corp\r\nKIND:org\r\nEND:VCARD\r\n",
                unique(&format!("{tag}-acme"))
            ),
        ),
        (
            "team.vcf".into(),
            format!(
                "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:urn:uuid:{}\r\nFN:Team\r\nKIND:group\r\nMEMBER:{person}\r\nEND:VCARD\r\n",
                unique(&format!("{tag}-team"))
            ),
        ),
    ]
}

/// Issue 9 items 11 and 12: cards DAVx5 PUTs as 4.0 reach an iPhone, which multigets
/// without a version, as 3.0 in Apple's forms.
#[test]
fn davx5_cards_reach_ios_in_apple_forms() {
    let d = demo();
    let b = d.new_addressbook();
    let cards = davx5_cards("apple");
    for (name, body) in &cards {
        d.put_vcf(&format!("{b}{name}"), body).expect(201);
    }
    let hrefs: Vec<String> = cards.iter().map(|(n, _)| format!("{b}{n}")).collect();
    // The body iOS Contacts sends (its prefixes, no address-data attributes).
    let body = format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<A:addressbook-multiget xmlns:A="urn:ietf:params:xml:ns:carddav">
  <B:prop xmlns:B="DAV:">
    <B:getetag/>
    <A:address-data/>
  </B:prop>
{}</A:addressbook-multiget>
"#,
        hrefs
            .iter()
            .map(|h| format!("  <B:href xmlns:B=\"DAV:\">{h}</B:href>\n"))
            .collect::<String>()
    );
    let ms = d.report(&b, "1", &body).multistatus();
    let card = |i: usize| unfold(&ms.get(&hrefs[i]).ok(CARDDAV, "address-data").text);
    let member = cards[0]
        .1
        .lines()
        .nth(2)
        .unwrap()
        .trim_start_matches("UID:")
        .to_string();

    let erin = card(0);
    for line in [
        "VERSION:3.0",
        "TEL;TYPE=CELL,pref:+1-555-0101",
        "BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15",
        "X-ANNIVERSARY:2010-06-12",
        "item1.X-ABDATE:2010-06-12",
        "item1.X-ABLabel:_$!<Anniversary>!$_",
        &format!("PHOTO;ENCODING=b;TYPE=PNG:{PHOTO_B64}"),
        "IMPP;TYPE=pref:xmpp:erin@example.com",
        "GENDER:F",
    ] {
        assert!(erin.iter().any(|l| l == line), "{line} in {erin:#?}");
    }
    assert!(!erin.iter().any(|l| l.starts_with("KIND")), "{erin:#?}");
    assert!(
        !erin
            .iter()
            .any(|l| l.contains("tel:") || l.contains("data:")),
        "{erin:#?}"
    );

    let acme = card(1);
    assert!(
        acme.contains(&"X-ABShowAs:COMPANY".to_string()),
        "{acme:#?}"
    );
    assert!(!acme.iter().any(|l| l.starts_with("KIND")), "{acme:#?}");

    let team = card(2);
    assert!(
        team.contains(&"X-ADDRESSBOOKSERVER-KIND:group".to_string()),
        "{team:#?}"
    );
    assert!(
        team.contains(&format!("X-ADDRESSBOOKSERVER-MEMBER:{member}")),
        "{team:#?}"
    );
    assert!(
        !team
            .iter()
            .any(|l| l.starts_with("KIND") || l.starts_with("MEMBER")),
        "{team:#?}"
    );

    // What DAVx5 stored is untouched, and comes back to it as 4.0.
    for (i, (_, body)) in cards.iter().enumerate() {
        assert_eq!(&d.get(&hrefs[i]).text(), body);
    }
}
