//! XML at the edge: a bounded, namespace-resolving parser into a small element tree, and
//! the writer helpers used to render multistatus bodies.
//!
//! DAV bodies are parsed with `quick-xml`'s `NsReader` so that every prefix style clients send
//! (iOS declares prefixes on inner elements) resolves to `{namespace}local-name`. DOCTYPE
//! declarations are refused outright, which also rules out entity expansion (RFC 4918 §20.6).

mod chars;
mod parse;
mod write;

pub use chars::{first_forbidden, is_xml_char, sanitize};
pub use parse::{parse, Element, Limits, Node};
pub use write::{escape_attr, escape_text, push_escaped, XmlWriter};

/// `DAV:` namespace (RFC 4918).
pub const NS_DAV: &str = "DAV:";
/// CalDAV namespace (RFC 4791).
pub const NS_CALDAV: &str = "urn:ietf:params:xml:ns:caldav";
/// CardDAV namespace (RFC 6352).
pub const NS_CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// CalendarServer extensions (getctag).
pub const NS_CS: &str = "http://calendarserver.org/ns/";
/// Apple iCal extensions (calendar-color, calendar-order).
pub const NS_ICAL: &str = "http://apple.com/ns/ical/";

/// Why an XML body was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("malformed XML: {0}")]
    Malformed(String),
    #[error("XML with a DOCTYPE or entity declarations is refused")]
    Doctype,
    #[error("XML nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("XML with more than {0} elements")]
    TooManyElements(usize),
    #[error("empty XML body")]
    Empty,
    #[error("unexpected root element {{{0}}}{1}")]
    UnexpectedRoot(String, String),
    /// A character XML 1.0 forbids (§2.2), raw or as a reference. The message names its code
    /// point and offset, never the character itself, so that it is not echoed back.
    #[error("the XML body contains the character U+{code:04X} (at byte {offset}), which XML 1.0 forbids")]
    ForbiddenChar {
        /// The character's code point.
        code: u32,
        /// Its byte offset in the body (of the reference, for a character reference).
        offset: usize,
    },
}
