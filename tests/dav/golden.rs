//! Golden requests: request bodies as real clients send them (iOS/macOS via Apple's
//! CalendarServer load-test data, DAVx5/dav4jvm, python caldav, Apple's CalDAVTester), run
//! against the demo server and compared with a stable text summary of each answer.
//!
//! Each pair lives in `tests/golden/requests/`: `<client>-<what>.xml` holds the request
//! (comment lines, a request line, headers, a blank line, the body byte for byte) and
//! `<client>-<what>.expected` the summary. `GOLDEN_BLESS=1 cargo test --test dav golden` rewrites
//! the summaries; review every change by hand. `tests/golden/README.md` lists the sources.
//!
//! Placeholders keep the pairs independent of other tests and of the date:
//! `{golden-calendar}` and `{golden-book}` are collections this test creates once with the
//! fixed items of `tests/golden/fixtures/`; `{scratch-calendar}` is a fresh calendar per
//! request (for PROPPATCH); `{new-calendar}` a fresh unused path (for MKCALENDAR);
//! `{sync-token}` the target's current token, read just before the request.

use crate::support::dav::*;
use crate::support::demo::*;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Properties whose value changes with time or with other tests' writes: the summary shows
/// that they have a value, not the value.
const VOLATILE: &[&str] = &[
    "getetag",
    "getctag",
    "sync-token",
    "getlastmodified",
    "creationdate",
    "quota-used-bytes",
    "quota-available-bytes",
];

/// iCalendar lines whose value is stamped by the server at answer time.
const VOLATILE_LINES: &[&str] = &["DTSTAMP:"];

fn golden_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

/// One request file, parsed.
struct GoldenRequest {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn parse_request(text: &str) -> Result<GoldenRequest, String> {
    let (head, body) = text
        .split_once("\n\n")
        .ok_or("no blank line between the header block and the body")?;
    let mut lines = head.lines().filter(|l| !l.starts_with('#'));
    let request_line = lines.next().ok_or("no request line")?;
    let (method, path) = request_line
        .split_once(' ')
        .ok_or("request line is not `METHOD PATH`")?;
    let mut headers = Vec::new();
    for line in lines {
        let (k, v) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok(GoldenRequest {
        method: method.to_string(),
        path: path.trim().to_string(),
        headers,
        body: body.to_string(),
    })
}

/// The fixture collections, created once per test process.
struct Fixtures {
    calendar: String,
    book: String,
}

fn fixtures() -> &'static Fixtures {
    static F: OnceLock<Fixtures> = OnceLock::new();
    F.get_or_init(|| {
        let d = demo();
        let calendar = create_calendar("golden", "Golden fixtures", &["VEVENT", "VTODO"]);
        let book = format!("{CARD_HOME}{}/", unique("golden"));
        let mkcol = r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>Golden fixtures</D:displayname></D:prop></D:set></D:mkcol>"#;
        d.dav("MKCOL", &book, None, mkcol, &[]).expect(201);
        let mut names: Vec<PathBuf> = std::fs::read_dir(golden_dir().join("fixtures"))
            .expect("tests/golden/fixtures")
            .map(|e| e.expect("fixture entry").path())
            .collect();
        names.sort();
        for p in names {
            let name = p.file_name().and_then(|n| n.to_str()).expect("fixture name");
            let body = std::fs::read_to_string(&p).expect("fixture body");
            if name.ends_with(".ics") {
                d.put_ics(&format!("{calendar}{name}"), &body).expect(201);
            } else if name.ends_with(".vcf") {
                d.put_vcf(&format!("{book}{name}"), &body).expect(201);
            }
        }
        Fixtures { calendar, book }
    })
}

/// MKCALENDAR under the demo calendar home with a unique name; returns its path. The
/// golden test makes its own collections, so their properties do not follow a shared helper.
fn create_calendar(prefix: &str, display_name: &str, components: &[&str]) -> String {
    let path = format!("{CAL_HOME}{}/", unique(prefix));
    let comps: String = components
        .iter()
        .map(|c| format!(r#"<C:comp name="{c}"/>"#))
        .collect();
    let body = format!(
        r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>{display_name}</D:displayname><C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#
    );
    demo().dav("MKCALENDAR", &path, None, body, &[]).expect(201);
    path
}

/// Placeholder → actual value, for one request.
fn bindings(req: &GoldenRequest) -> Vec<(String, String)> {
    let f = fixtures();
    let mut b = vec![
        ("{golden-calendar}".to_string(), f.calendar.clone()),
        ("{golden-book}".to_string(), f.book.clone()),
    ];
    let uses = |p: &str| req.path.contains(p) || req.body.contains(p);
    if uses("{scratch-calendar}") {
        b.push((
            "{scratch-calendar}".into(),
            create_calendar("golden-scratch", "Scratch", &["VEVENT"]),
        ));
    }
    if uses("{new-calendar}") {
        b.push((
            "{new-calendar}".into(),
            format!("{CAL_HOME}{}/", unique("golden-new")),
        ));
    }
    if uses("{sync-token}") {
        let target = substitute(&req.path, &b);
        let ms = demo()
            .propfind(&target, "0", "<D:sync-token/>")
            .multistatus();
        let token = ms.get(&target).ok(DAV, "sync-token").text.clone();
        b.push(("{sync-token}".into(), token));
    }
    b
}

fn substitute(s: &str, b: &[(String, String)]) -> String {
    b.iter()
        .fold(s.to_string(), |acc, (k, v)| acc.replace(k.as_str(), v))
}

/// Actual paths back to their placeholders, longest first so that no path is replaced inside a
/// longer one. Tokens are not put back: they are masked as volatile.
fn unsubstitute(s: &str, b: &[(String, String)]) -> String {
    let mut pairs: Vec<&(String, String)> = b.iter().filter(|(k, _)| k != "{sync-token}").collect();
    pairs.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
    pairs
        .iter()
        .fold(s.to_string(), |acc, (k, v)| acc.replace(v.as_str(), k))
}

fn short_ns(ns: &str) -> String {
    match ns {
        DAV => "D:".into(),
        CALDAV => "C:".into(),
        CARDDAV => "CR:".into(),
        CS => "CS:".into(),
        ICAL => "A:".into(),
        "" => String::new(),
        other => format!("{{{other}}}"),
    }
}

fn qname(n: roxmltree::Node) -> String {
    let t = n.tag_name();
    format!("{}{}", short_ns(t.namespace().unwrap_or("")), t.name())
}

/// A summary under construction, with the placeholder bindings of its request.
struct Summary<'a> {
    out: String,
    bindings: &'a [(String, String)],
}

impl Summary<'_> {
    fn line(&mut self, indent: usize, text: &str) {
        let text = unsubstitute(text, self.bindings);
        self.out.push_str(&"  ".repeat(indent));
        self.out.push_str(&text);
        self.out.push('\n');
    }

    /// Multi-line text (iCalendar, vCard) one line per line, stamped lines masked.
    fn text_block(&mut self, indent: usize, text: &str) {
        for l in text.lines().map(|l| l.trim_end_matches('\r')) {
            match VOLATILE_LINES.iter().find(|p| l.starts_with(*p)) {
                Some(p) => self.line(indent, &format!("{p}<stamp>")),
                None => self.line(indent, l),
            }
        }
    }

    /// An element and what it holds: attributes, text, child elements.
    fn element(&mut self, indent: usize, n: roxmltree::Node) {
        let mut head = qname(n);
        let attrs: Vec<String> = n
            .attributes()
            .map(|a| format!("{}=\"{}\"", a.name(), a.value()))
            .collect();
        if !attrs.is_empty() {
            head.push_str(&format!(" [{}]", attrs.join(" ")));
        }
        let children: Vec<roxmltree::Node> = n.children().filter(|c| c.is_element()).collect();
        let text = all_text(n);
        let text = text.trim();
        if !children.is_empty() {
            self.line(indent, &head);
            for c in children {
                self.element(indent + 1, c);
            }
        } else if text.is_empty() {
            self.line(indent, &head);
        } else if VOLATILE.contains(&n.tag_name().name()) {
            self.line(indent, &format!("{head} = <volatile>"));
        } else if text.contains('\n') {
            self.line(indent, &format!("{head} ="));
            self.text_block(indent + 1, text);
        } else {
            let value = if n.tag_name().name() == "href" {
                path_of(text)
            } else {
                text.to_string()
            };
            self.line(indent, &format!("{head} = {value}"));
        }
    }
}

/// Hrefs other tests create carry this process's `unique()` marker.
fn is_other_tests(href: &str) -> bool {
    href.contains(&format!("-{}-", std::process::id()))
}

fn summarize(resp: &Resp, b: &[(String, String)]) -> String {
    let mut s = Summary {
        out: String::new(),
        bindings: b,
    };
    s.line(0, &format!("status: {}", resp.status));
    if (300..400).contains(&resp.status) {
        s.line(
            0,
            &format!("location: {}", resp.header("location").unwrap_or_default()),
        );
    }
    let ct = resp.header("content-type").unwrap_or_default();
    let text = resp.text();
    if text.trim().is_empty() {
        return s.out;
    }
    s.line(0, &format!("content-type: {ct}"));
    let doc = match roxmltree::Document::parse(&text) {
        Ok(doc) if ct.contains("xml") => doc,
        _ => {
            s.text_block(0, &text);
            return s.out;
        }
    };
    let root = doc.root_element();
    if !root.has_tag_name((DAV, "multistatus")) {
        s.element(0, root);
        return s.out;
    }
    let mut responses: BTreeMap<String, roxmltree::Node> = BTreeMap::new();
    for r in root
        .children()
        .filter(|c| c.has_tag_name((DAV, "response")))
    {
        let href = r
            .children()
            .find(|c| c.has_tag_name((DAV, "href")))
            .map(|h| unsubstitute(&path_of(&all_text(h)), b))
            .unwrap_or_default();
        if !is_other_tests(&href) {
            responses.insert(href, r);
        }
    }
    for (href, r) in responses {
        s.line(0, &format!("response {href}"));
        for c in r.children().filter(|c| c.is_element()) {
            if c.has_tag_name((DAV, "href")) {
                continue;
            }
            if c.has_tag_name((DAV, "status")) {
                s.line(1, &format!("status {}", status_code(&all_text(c))));
            } else if c.has_tag_name((DAV, "propstat")) {
                let status = c
                    .children()
                    .find(|x| x.has_tag_name((DAV, "status")))
                    .map(|x| status_code(&all_text(x)).to_string())
                    .unwrap_or_else(|| "<none>".into());
                s.line(1, &format!("propstat {status}"));
                let props = c.children().filter(|x| x.has_tag_name((DAV, "prop")));
                for p in props.flat_map(|p| p.children().filter(|x| x.is_element())) {
                    s.element(2, p);
                }
                for x in c.children().filter(|x| x.is_element()) {
                    if !x.has_tag_name((DAV, "prop")) && !x.has_tag_name((DAV, "status")) {
                        s.element(2, x);
                    }
                }
            } else {
                s.element(1, c);
            }
        }
    }
    if root.children().any(|c| c.has_tag_name((DAV, "sync-token"))) {
        s.line(0, "sync-token: <volatile>");
    }
    s.out
}

/// A line diff (longest common subsequence), `-` expected, `+` actual.
fn diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

fn run_one(file: &Path) -> Result<String, String> {
    let text = std::fs::read_to_string(file).map_err(|e| e.to_string())?;
    let req = parse_request(&text)?;
    let b = bindings(&req);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), substitute(v, &b)))
        .collect();
    let header_refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp = demo().dav(
        &req.method,
        &substitute(&req.path, &b),
        None,
        substitute(&req.body, &b).into_bytes(),
        &header_refs,
    );
    Ok(summarize(&resp, &b))
}

#[test]
fn golden_requests() {
    let bless = std::env::var_os("GOLDEN_BLESS").is_some();
    let mut files: Vec<PathBuf> = std::fs::read_dir(golden_dir().join("requests"))
        .expect("tests/golden/requests")
        .map(|e| e.expect("request entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no golden requests found");
    let mut failures = Vec::new();
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let actual = match run_one(file) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let expected_path = file.with_extension("expected");
        if bless {
            std::fs::write(&expected_path, &actual).expect("write .expected");
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            failures.push(format!(
                "{name}: answer differs from {} (- expected, + actual):\n{}",
                expected_path
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("?"),
                diff(&expected, &actual)
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden requests failed (GOLDEN_BLESS=1 rewrites the summaries):\n\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
