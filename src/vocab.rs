//! The domain's shared words, defined once and used by every layer: what a collection is, which
//! component an item holds, which vCard version a card speaks.

/// What a collection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectionKind {
    /// A plain WebDAV collection (homes, and what MKCOL makes).
    Plain,
    /// A CalDAV calendar.
    Calendar,
    /// A CardDAV address book.
    Addressbook,
}

impl CollectionKind {
    /// The name kept in the state store.
    pub fn as_str(self) -> &'static str {
        match self {
            CollectionKind::Plain => "plain",
            CollectionKind::Calendar => "calendar",
            CollectionKind::Addressbook => "addressbook",
        }
    }
    /// The kind a stored name denotes (anything unknown is a plain collection).
    pub fn parse(s: &str) -> Self {
        match s {
            "calendar" => CollectionKind::Calendar,
            "addressbook" => CollectionKind::Addressbook,
            _ => CollectionKind::Plain,
        }
    }
}

/// The vCard versions a card may speak: 3.0 (RFC 2426, the one RFC 6352 requires) and 4.0
/// (RFC 6350). Mapping files name them `"3.0"` and `"4.0"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Deserialize)]
pub enum VCardVersion {
    /// vCard 3.0 (RFC 2426), what iOS/macOS Contacts send.
    #[default]
    #[serde(rename = "3.0")]
    V3,
    /// vCard 4.0 (RFC 6350).
    #[serde(rename = "4.0")]
    V4,
}

impl VCardVersion {
    /// The VERSION property value: "3.0" or "4.0".
    pub fn as_str(self) -> &'static str {
        match self {
            VCardVersion::V3 => "3.0",
            VCardVersion::V4 => "4.0",
        }
    }

    /// Parses a VERSION value ("3.0", "4.0", also "3"/"4"), ignoring surrounding whitespace.
    pub fn parse(s: &str) -> Option<VCardVersion> {
        match s.trim() {
            "3.0" | "3" => Some(VCardVersion::V3),
            "4.0" | "4" => Some(VCardVersion::V4),
            _ => None,
        }
    }
}

impl std::fmt::Display for VCardVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
