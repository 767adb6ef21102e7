//! The blocking DAV client DSL of the demo-server tests: `demo().report(path, depth, body)
//! .multistatus()`, [`Resp::expect`], `Ms::get(href).ok(ns, name)`. Requests go over HTTP with
//! reqwest's blocking client to [`server`] (or any base URL with [`Client::at`]); XML is read
//! with roxmltree and matched by namespace URI.

use super::demo::server;
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

pub const DAV: &str = "DAV:";
pub const CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
pub const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
pub const CS: &str = "http://calendarserver.org/ns/";
pub const ICAL: &str = "http://apple.com/ns/ical/";

use super::demo::{ALICE_PASS, CAL_HOME, CARD_HOME, DEMO_PASS, DEMO_USER, PRINCIPAL};

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

/// The shared blocking HTTP client (no redirects followed).
pub fn http() -> &'static reqwest::blocking::Client {
    static C: OnceLock<reqwest::blocking::Client> = OnceLock::new();
    C.get_or_init(|| {
        // The crate builds reqwest with rustls and no default provider: install ring's.
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::blocking::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap()
    })
}

/// A name unique within this test process.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        UNIQUE.fetch_add(1, Ordering::SeqCst)
    )
}

/// A response, fully read.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap_or("<non-ascii>").to_string())
    }
    /// All values of a header joined with ", ".
    pub fn header_all(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap_or("").to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
    /// The ETag header (panics when absent).
    pub fn etag(&self) -> String {
        self.header("etag")
            .unwrap_or_else(|| panic!("no ETag header ({}): {}", self.status, self.text()))
    }
    /// Assert the status, showing the body on failure.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "unexpected status; body:\n{}",
            self.text()
        );
        self
    }
    /// The body as a DAV:multistatus, parsed (asserts 207 and the root element).
    #[track_caller]
    pub fn multistatus(&self) -> Ms {
        self.expect(207);
        Ms::parse(&self.text())
    }
    /// True when the body is a DAV:error holding `{ns}name`.
    pub fn has_error(&self, ns: &str, name: &str) -> bool {
        let t = self.text();
        let Ok(doc) = roxmltree::Document::parse(&t) else {
            return false;
        };
        let root = doc.root_element();
        root.has_tag_name((DAV, "error")) && root.children().any(|c| c.has_tag_name((ns, name)))
    }
    /// Assert status and a DAV:error precondition element.
    #[track_caller]
    pub fn expect_error(&self, status: u16, ns: &str, name: &str) {
        self.expect(status);
        assert!(
            self.has_error(ns, name),
            "expected a DAV:error with {{{ns}}}{name}; body:\n{}",
            self.text()
        );
    }
}

/// A parsed multistatus, owned (text kept, parsed on demand).
pub struct Ms {
    pub text: String,
}

/// One `DAV:response` of a multistatus, extracted into owned data.
#[derive(Debug, Clone)]
pub struct Response {
    pub hrefs: Vec<String>,
    /// Response-level status, when present.
    pub status: Option<u16>,
    /// (ns, name, status, inner text, serialized children) per property.
    pub props: Vec<Prop>,
    /// The response-level DAV:error children as (ns, name).
    pub errors: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct Prop {
    pub ns: String,
    pub name: String,
    pub status: u16,
    /// Concatenated text of the property element.
    pub text: String,
    /// Direct child elements as (ns, name, attribute list, text).
    pub children: Vec<Child>,
}

#[derive(Debug, Clone)]
pub struct Child {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub text: String,
    pub children: Vec<Child>,
}

impl Child {
    fn from(n: roxmltree::Node) -> Child {
        Child {
            ns: n.tag_name().namespace().unwrap_or("").to_string(),
            name: n.tag_name().name().to_string(),
            attrs: n
                .attributes()
                .map(|a| (a.name().to_string(), a.value().to_string()))
                .collect(),
            text: all_text(n),
            children: n
                .children()
                .filter(|c| c.is_element())
                .map(Child::from)
                .collect(),
        }
    }
    /// True for the element `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
    /// An attribute's value.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    /// Every descendant element `{ns}name`.
    pub fn find(&self, ns: &str, name: &str) -> Vec<&Child> {
        let mut out = Vec::new();
        fn walk<'a>(c: &'a Child, ns: &str, name: &str, out: &mut Vec<&'a Child>) {
            for ch in &c.children {
                if ch.is(ns, name) {
                    out.push(ch);
                }
                walk(ch, ns, name, out);
            }
        }
        walk(self, ns, name, &mut out);
        out
    }
}

impl Prop {
    /// The direct child element `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Child> {
        self.children.iter().find(|c| c.is(ns, name))
    }
    /// All `DAV:href` texts anywhere below this property.
    pub fn hrefs(&self) -> Vec<String> {
        let mut out = Vec::new();
        for c in &self.children {
            if c.is(DAV, "href") {
                out.push(c.text.trim().to_string());
            }
            for h in c.find(DAV, "href") {
                out.push(h.text.trim().to_string());
            }
        }
        out
    }
}

/// The concatenated text below a node.
pub fn all_text(n: roxmltree::Node) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .map(|d| d.text().unwrap_or(""))
        .collect()
}

/// `HTTP/1.1 207 Multi-Status` → 207.
pub fn status_code(s: &str) -> u16 {
    s.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {s:?}"))
}

/// Strip scheme and host from an href, so that absolute URLs and paths compare equal.
pub fn path_of(href: &str) -> String {
    let h = href.trim();
    if let Some(i) = h.find("://") {
        let after = &h[i + 3..];
        return match after.find('/') {
            Some(j) => after[j..].to_string(),
            None => "/".into(),
        };
    }
    h.to_string()
}

impl Ms {
    #[track_caller]
    pub fn parse(text: &str) -> Ms {
        let doc = roxmltree::Document::parse(text)
            .unwrap_or_else(|e| panic!("multistatus is not well-formed XML ({e}):\n{text}"));
        assert!(
            doc.root_element().has_tag_name((DAV, "multistatus")),
            "root is not DAV:multistatus:\n{text}"
        );
        Ms {
            text: text.to_string(),
        }
    }

    /// The parsed document.
    pub fn doc(&self) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(&self.text).unwrap()
    }

    /// Every DAV:response, in document order.
    pub fn responses(&self) -> Vec<Response> {
        let doc = self.doc();
        doc.root_element()
            .children()
            .filter(|c| c.has_tag_name((DAV, "response")))
            .map(|r| {
                let hrefs = r
                    .children()
                    .filter(|c| c.has_tag_name((DAV, "href")))
                    .map(|h| path_of(&all_text(h)))
                    .collect();
                let status = r
                    .children()
                    .find(|c| c.has_tag_name((DAV, "status")))
                    .map(|s| status_code(&all_text(s)));
                let mut props = Vec::new();
                for ps in r.children().filter(|c| c.has_tag_name((DAV, "propstat"))) {
                    let st = ps
                        .children()
                        .find(|c| c.has_tag_name((DAV, "status")))
                        .map(|s| status_code(&all_text(s)))
                        .expect("propstat without status");
                    if let Some(prop) = ps.children().find(|c| c.has_tag_name((DAV, "prop"))) {
                        for p in prop.children().filter(|c| c.is_element()) {
                            props.push(Prop {
                                ns: p.tag_name().namespace().unwrap_or("").to_string(),
                                name: p.tag_name().name().to_string(),
                                status: st,
                                text: all_text(p),
                                children: p
                                    .children()
                                    .filter(|c| c.is_element())
                                    .map(Child::from)
                                    .collect(),
                            });
                        }
                    }
                }
                let errors = r
                    .children()
                    .filter(|c| c.has_tag_name((DAV, "error")))
                    .flat_map(|e| e.children().filter(|c| c.is_element()))
                    .map(|c| {
                        (
                            c.tag_name().namespace().unwrap_or("").to_string(),
                            c.tag_name().name().to_string(),
                        )
                    })
                    .collect();
                Response {
                    hrefs,
                    status,
                    props,
                    errors,
                }
            })
            .collect()
    }

    /// The response for `href` (compared as paths).
    #[track_caller]
    pub fn get(&self, href: &str) -> Response {
        self.find(href)
            .unwrap_or_else(|| panic!("no response for {href} in:\n{}", self.text))
    }

    /// The response for `href` (compared as paths), if any.
    pub fn find(&self, href: &str) -> Option<Response> {
        let want = path_of(href);
        self.responses()
            .into_iter()
            .find(|r| r.hrefs.contains(&want))
    }

    /// The hrefs of all responses, as paths.
    pub fn hrefs(&self) -> Vec<String> {
        self.responses().into_iter().flat_map(|r| r.hrefs).collect()
    }

    /// The top-level DAV:sync-token.
    pub fn sync_token(&self) -> Option<String> {
        let doc = self.doc();
        let t = doc
            .root_element()
            .children()
            .find(|c| c.has_tag_name((DAV, "sync-token")))
            .map(|t| all_text(t).trim().to_string());
        t
    }
}

impl Response {
    /// A property of any status.
    pub fn prop(&self, ns: &str, name: &str) -> Option<&Prop> {
        self.props.iter().find(|p| p.ns == ns && p.name == name)
    }
    /// The property's value when it came with 200 (panics otherwise).
    #[track_caller]
    pub fn ok(&self, ns: &str, name: &str) -> &Prop {
        let p = self
            .prop(ns, name)
            .unwrap_or_else(|| panic!("no {{{ns}}}{name} in {self:#?}"));
        assert_eq!(
            p.status, 200,
            "{{{ns}}}{name} has status {}: {self:#?}",
            p.status
        );
        p
    }
    /// The status of a property (panics when absent).
    #[track_caller]
    pub fn prop_status(&self, ns: &str, name: &str) -> u16 {
        self.prop(ns, name)
            .unwrap_or_else(|| panic!("no {{{ns}}}{name} in {self:#?}"))
            .status
    }
    /// The first href.
    pub fn href(&self) -> &str {
        &self.hrefs[0]
    }
}

/// Who sends a request, and to which server (the demo server unless [`Client::at`]).
#[derive(Clone, Debug)]
pub struct Client {
    pub auth: Option<(String, String)>,
    pub base: Option<String>,
}

/// The demo tenant's user.
pub fn demo() -> Client {
    as_user(DEMO_USER, DEMO_PASS)
}

/// Tenant acme's user.
pub fn alice() -> Client {
    as_user("alice@acme", ALICE_PASS)
}

/// No credentials.
pub fn anon() -> Client {
    Client {
        auth: None,
        base: None,
    }
}

/// Any credentials.
pub fn as_user(u: &str, p: &str) -> Client {
    Client {
        auth: Some((u.into(), p.into())),
        base: None,
    }
}

impl Client {
    /// The same client, speaking to the server at `base` (`http://host:port`).
    pub fn at(mut self, base: &str) -> Client {
        self.base = Some(base.to_string());
        self
    }

    /// Send any request. `depth` sets the Depth header; `headers` are added as given.
    pub fn dav(
        &self,
        method: &str,
        path: &str,
        depth: Option<&str>,
        body: impl Into<Vec<u8>>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = if path.starts_with("http") {
            path.to_string()
        } else {
            // Lazily: a client with its own base never starts the demo server.
            let base = match &self.base {
                Some(b) => b.as_str(),
                None => server().base.as_str(),
            };
            format!("{base}{path}")
        };
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut rb = http().request(m, url);
        if let Some((u, p)) = &self.auth {
            rb = rb.basic_auth(u, Some(p));
        }
        if let Some(d) = depth {
            rb = rb.header("Depth", d);
        }
        let body: Vec<u8> = body.into();
        let has_ct = headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("content-type"));
        if !body.is_empty() && !has_ct && body.starts_with(b"<") {
            rb = rb.header("Content-Type", "application/xml; charset=utf-8");
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if !body.is_empty() {
            rb = rb.body(body);
        }
        let r = rb
            .send()
            .unwrap_or_else(|e| panic!("{method} {path} failed: {e:?}"));
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.bytes().map(|b| b.to_vec()).unwrap_or_default();
        Resp {
            status,
            headers,
            body,
        }
    }

    /// GET.
    pub fn get(&self, path: &str) -> Resp {
        self.dav("GET", path, None, Vec::new(), &[])
    }

    /// DELETE.
    pub fn delete(&self, path: &str) -> Resp {
        self.dav("DELETE", path, None, Vec::new(), &[])
    }

    /// PUT with a Content-Type.
    pub fn put(&self, path: &str, content_type: &str, body: &str) -> Resp {
        self.dav(
            "PUT",
            path,
            None,
            body.as_bytes().to_vec(),
            &[("Content-Type", content_type)],
        )
    }

    /// PUT of an iCalendar object.
    pub fn put_ics(&self, path: &str, body: &str) -> Resp {
        self.put(path, "text/calendar; charset=utf-8", body)
    }

    /// PUT of a vCard.
    pub fn put_vcf(&self, path: &str, body: &str) -> Resp {
        self.put(path, "text/vcard; charset=utf-8", body)
    }

    /// PROPFIND for named properties; `props` is the inner XML of DAV:prop (with its own
    /// namespace declarations).
    pub fn propfind(&self, path: &str, depth: &str, props: &str) -> Resp {
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:CR="urn:ietf:params:xml:ns:carddav" xmlns:CS="http://calendarserver.org/ns/" xmlns:A="http://apple.com/ns/ical/"><D:prop>{props}</D:prop></D:propfind>"#
        );
        self.dav("PROPFIND", path, Some(depth), body, &[])
    }

    /// REPORT with a Depth.
    pub fn report(&self, path: &str, depth: &str, body: &str) -> Resp {
        self.dav("REPORT", path, Some(depth), body.as_bytes().to_vec(), &[])
    }

    /// MKCALENDAR (RFC 4791 §5.3.1).
    pub fn mkcalendar(&self, path: &str, body: &str) -> Resp {
        self.dav("MKCALENDAR", path, None, body.as_bytes().to_vec(), &[])
    }

    /// MKCOL without a body.
    pub fn mkcol(&self, path: &str) -> Resp {
        self.dav("MKCOL", path, None, Vec::new(), &[])
    }

    /// MKCALENDAR with a fresh unique name under the calendar home; returns its href.
    pub fn new_calendar(&self, components: &[&str]) -> String {
        let path = format!("{CAL_HOME}{}/", unique("cal"));
        let comps: String = components
            .iter()
            .map(|c| format!(r#"<C:comp name="{c}"/>"#))
            .collect();
        let body = format!(
            r#"<?xml version="1.0" encoding="utf-8"?><C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:set><D:prop><D:displayname>test</D:displayname><C:supported-calendar-component-set>{comps}</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>"#
        );
        self.mkcalendar(&path, &body).expect(201);
        path
    }

    /// Extended MKCOL of an address book with a unique name; returns its href.
    pub fn new_addressbook(&self) -> String {
        let path = format!("{CARD_HOME}{}/", unique("book"));
        let body = r#"<?xml version="1.0" encoding="utf-8"?><D:mkcol xmlns:D="DAV:" xmlns:CR="urn:ietf:params:xml:ns:carddav"><D:set><D:prop><D:resourcetype><D:collection/><CR:addressbook/></D:resourcetype><D:displayname>test book</D:displayname></D:prop></D:set></D:mkcol>"#;
        self.dav("MKCOL", &path, None, body, &[]).expect(201);
        path
    }
}

/// A minimal single VEVENT calendar object.
pub fn vevent(uid: &str, summary: &str, start: &str, end: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav itests//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDTEND:{end}\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// A minimal VTODO calendar object.
pub fn vtodo(uid: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav itests//EN\r\nBEGIN:VTODO\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nSUMMARY:{summary}\r\nEND:VTODO\r\nEND:VCALENDAR\r\n"
    )
}

/// A vCard 3.0.
pub fn vcard3(uid: &str, fn_: &str) -> String {
    format!("BEGIN:VCARD\r\nVERSION:3.0\r\nUID:{uid}\r\nFN:{fn_}\r\nN:{fn_};;;;\r\nEND:VCARD\r\n")
}

/// The unfolded lines of an iCalendar/vCard text.
pub fn unfold(s: &str) -> Vec<String> {
    let s = s
        .replace("\r\n ", "")
        .replace("\r\n\t", "")
        .replace("\n ", "");
    s.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// `XML`-escape text for embedding in a request body.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The names of the direct members of a collection (Depth 1 PROPFIND, without the collection).
pub fn members(c: &Client, coll: &str) -> Vec<String> {
    let ms = c.propfind(coll, "1", "<D:getetag/>").multistatus();
    ms.hrefs().into_iter().filter(|h| h != coll).collect()
}

/// Assert the server is still up and answering authenticated requests.
#[track_caller]
pub fn assert_alive() {
    let r = anon().get("/healthz");
    assert_eq!(r.status, 200, "healthz");
    demo()
        .propfind(PRINCIPAL, "0", "<D:displayname/>")
        .expect(207);
}

/// Send raw bytes as one HTTP/1.1 request (for paths a URL library would normalise) and
/// return (status, whole response text). Adds Host, Authorization for demo, Connection: close.
pub fn raw_request(method: &str, raw_path: &str, extra: &str, body: &[u8]) -> (u16, String) {
    use std::io::Read;
    let addr = server().base.trim_start_matches("http://").to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("{DEMO_USER}:{DEMO_PASS}"))
    };
    let head = format!(
        "{method} {raw_path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\nContent-Length: {}\r\nConnection: close\r\n{extra}\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    (status, text)
}
