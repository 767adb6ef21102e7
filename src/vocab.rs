//! The domain's shared words, defined once and used by every layer: what a collection is, which
//! component an item holds, which vCard version a card speaks.

/// What a collection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
