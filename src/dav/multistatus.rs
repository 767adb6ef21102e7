//! Building `207 Multi-Status` bodies (RFC 4918 §13).

use crate::error::Precondition;
use crate::xml::XmlWriter;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue, VARY};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// The bytes a new answer's buffer is made with.
const ANSWER_CAPACITY: usize = 8 * 1024;

/// A multistatus document being written.
pub struct Multistatus {
    w: XmlWriter,
    /// RFC 8144 §3.1: leave out the properties that would be 404.
    minimal: bool,
}

/// True when the request prefers a minimal multistatus: `Prefer: return=minimal` (RFC 7240
/// §4.2, RFC 8144 §3), or `Brief: t`, the older header RFC 8144 Appendix B treats as the same.
pub fn wants_minimal(headers: &HeaderMap) -> bool {
    let prefer = headers
        .get_all("prefer")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|pref| {
            // `return=minimal` possibly quoted and with parameters after `;`.
            let token = pref.split(';').next().unwrap_or("");
            let (name, value) = token.split_once('=').unwrap_or((token, ""));
            name.trim().eq_ignore_ascii_case("return")
                && value
                    .trim()
                    .trim_matches('"')
                    .eq_ignore_ascii_case("minimal")
        });
    let brief = headers
        .get("brief")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("t"));
    prefer || brief
}

/// The headers of a multistatus whose shape follows the preference: `Vary` on both request
/// headers (for caches, whatever this request sent; RFC 7240 §2, RFC 8144 Appendix B), and
/// `Preference-Applied` when the minimal form was sent (RFC 7240 §3).
pub fn mark_preference(resp: &mut HttpResponse, minimal: bool) {
    let h = resp.headers_mut();
    h.append(VARY, HeaderValue::from_static("Brief, Prefer"));
    if minimal {
        h.insert(
            HeaderName::from_static("preference-applied"),
            HeaderValue::from_static("return=minimal"),
        );
    }
}

/// One `propstat` group being collected for a response.
#[derive(Default)]
pub struct PropStats {
    ok: XmlWriter,
    not_found: XmlWriter,
    other: Vec<(u16, String)>,
    /// Why the properties of a status were refused (RFC 4918 §14.22 `responsedescription`).
    why: Vec<(u16, String)>,
}

impl PropStats {
    /// Add a found property (already rendered).
    pub fn ok(&mut self, xml: &str) {
        self.ok.buf.push_str(xml);
    }
    /// The writer for found properties, to render into directly.
    pub fn ok_writer(&mut self) -> &mut XmlWriter {
        &mut self.ok
    }
    /// Add a missing property `{ns}name`.
    pub fn not_found(&mut self, ns: &str, name: &str) {
        self.not_found.empty(ns, name);
    }
    /// Add a property with another status.
    pub fn status(&mut self, code: u16, ns: &str, name: &str) {
        let mut w = XmlWriter::default();
        w.empty(ns, name);
        match self.other.iter_mut().find(|(c, _)| *c == code) {
            Some((_, s)) => s.push_str(&w.buf),
            None => self.other.push((code, w.buf)),
        }
    }
}

impl PropStats {
    /// Empty it for the next resource, keeping its buffers (a listing renders every member
    /// into one).
    pub fn clear(&mut self) {
        self.ok.buf.clear();
        self.not_found.buf.clear();
        self.other.clear();
        self.why.clear();
    }

    /// Say why the properties with status `code` were refused.
    pub fn describe(&mut self, code: u16, why: impl Into<String>) {
        self.why.push((code, why.into()));
    }
}

/// The status line text for a code.
pub fn status_line(code: u16) -> std::borrow::Cow<'static, str> {
    let fixed = match code {
        200 => "HTTP/1.1 200 OK",
        403 => "HTTP/1.1 403 Forbidden",
        404 => "HTTP/1.1 404 Not Found",
        424 => "HTTP/1.1 424 Failed Dependency",
        507 => "HTTP/1.1 507 Insufficient Storage",
        _ => "",
    };
    if !fixed.is_empty() {
        return fixed.into();
    }
    let reason = StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("HTTP/1.1 {code} {reason}").into()
}

impl Default for Multistatus {
    fn default() -> Self {
        Self::new()
    }
}

impl Multistatus {
    /// Start a document.
    pub fn new() -> Self {
        // The same for every answer: made once.
        static OPEN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
        let open = OPEN.get_or_init(|| format!("<d:multistatus{}>", XmlWriter::root_decls()));
        // Most answers are a few KiB: one allocation instead of a doubling from 40 bytes.
        let mut w = XmlWriter {
            buf: String::with_capacity(ANSWER_CAPACITY),
        };
        w.buf.push_str(XmlWriter::new().buf.as_str());
        w.raw(open);
        Multistatus { w, minimal: false }
    }

    /// Leave out the properties that would be 404 (RFC 8144 §3.1), when `minimal`.
    pub fn minimal(mut self, minimal: bool) -> Self {
        self.minimal = minimal;
        self
    }

    /// A fragment of responses without the document around it (for nesting).
    pub fn bare() -> Self {
        Multistatus {
            w: XmlWriter::default(),
            minimal: false,
        }
    }

    /// The XML written so far.
    pub fn into_inner(self) -> String {
        self.w.buf
    }

    /// A response with propstats.
    pub fn propstat_response(&mut self, href: &str, ps: PropStats) {
        self.propstat_response_of(href, &ps);
    }

    /// [`Multistatus::propstat_response`] from borrowed propstats (to be cleared and reused).
    pub fn propstat_response_of(&mut self, href: &str, ps: &PropStats) {
        self.w.raw("<d:response><d:href>");
        self.w.text(href);
        self.w.raw("</d:href>");
        let mut any = false;
        if !ps.ok.buf.is_empty() {
            self.propstat(&ps.ok.buf, 200);
            any = true;
        }
        if !ps.not_found.buf.is_empty() && !self.minimal {
            self.propstat(&ps.not_found.buf, 404);
            any = true;
        }
        for (code, xml) in &ps.other {
            let why = ps.why.iter().find(|(c, _)| c == code);
            self.propstat_described(xml, *code, why.map(|(_, w)| w.as_str()));
            any = true;
        }
        if !any {
            // A response needs a propstat (RFC 4918 §14.24); one whose properties were all
            // left out (RFC 8144 §3.1, §3.2) keeps an empty 200 one.
            self.propstat("", 200);
        }
        self.w.raw("</d:response>");
    }

    fn propstat(&mut self, inner: &str, code: u16) {
        self.propstat_described(inner, code, None);
    }

    fn propstat_described(&mut self, inner: &str, code: u16, why: Option<&str>) {
        self.w.raw("<d:propstat><d:prop>");
        self.w.raw(inner);
        self.w.raw("</d:prop><d:status>");
        self.w.raw(&status_line(code));
        self.w.raw("</d:status>");
        if let Some(why) = why {
            self.w.raw("<d:responsedescription>");
            self.w.text(why);
            self.w.raw("</d:responsedescription>");
        }
        self.w.raw("</d:propstat>");
    }

    /// A response with only a status (e.g. a deleted member in sync-collection), and the
    /// condition that explains it in a `DAV:error` (RFC 4918 §14.5).
    pub fn status_response(&mut self, href: &str, code: u16, error: Option<&Precondition>) {
        self.w.raw("<d:response><d:href>");
        self.w.text(href);
        self.w.raw("</d:href><d:status>");
        self.w.raw(&status_line(code));
        self.w.raw("</d:status>");
        if let Some(c) = error {
            self.w.raw("<d:error>");
            c.write(&mut self.w);
            self.w.raw("</d:error>");
        }
        self.w.raw("</d:response>");
    }

    /// Raw XML after the responses (e.g. `<d:sync-token>`).
    pub fn tail(&mut self, xml: &str) {
        self.w.raw(xml);
    }

    /// Bytes rendered and not yet taken.
    pub fn pending_bytes(&self) -> usize {
        self.w.buf.len()
    }

    /// Take what is rendered so far (for streaming). The next chunk starts with the capacity
    /// this one reached, so it is not grown (and copied) again from nothing.
    pub fn take(&mut self) -> String {
        let cap = self.w.buf.capacity();
        std::mem::replace(&mut self.w.buf, String::with_capacity(cap))
    }

    /// Close the document and take the rest (for streaming).
    pub fn close(mut self) -> String {
        self.w.raw("</d:multistatus>");
        self.w.buf
    }

    /// Finish and wrap in a 207 response.
    pub fn finish(mut self) -> HttpResponse {
        self.w.raw("</d:multistatus>");
        HttpResponse::build(StatusCode::MULTI_STATUS)
            .content_type("application/xml; charset=utf-8")
            .body(self.w.buf)
    }
}
