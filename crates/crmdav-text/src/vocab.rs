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

/// Which component an item holds, by its iCalendar (RFC 5545 §3.6) or vCard name: what a
/// calendar object resource carries (RFC 4791 §4.1), what a CRM mapping renders, what the
/// store indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ComponentKind {
    /// VEVENT.
    Vevent,
    /// VTODO.
    Vtodo,
    /// VJOURNAL.
    Vjournal,
    /// VFREEBUSY.
    Vfreebusy,
    /// VCARD, the one component of an address object resource.
    Vcard,
}

impl ComponentKind {
    /// The calendar components, in the order a supported-calendar-component-set lists them.
    pub const CALENDAR: [ComponentKind; 4] = [
        ComponentKind::Vevent,
        ComponentKind::Vtodo,
        ComponentKind::Vjournal,
        ComponentKind::Vfreebusy,
    ];

    /// The component name, upper case (`VEVENT`); also the name kept in the state store.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentKind::Vevent => "VEVENT",
            ComponentKind::Vtodo => "VTODO",
            ComponentKind::Vjournal => "VJOURNAL",
            ComponentKind::Vfreebusy => "VFREEBUSY",
            ComponentKind::Vcard => "VCARD",
        }
    }

    /// The kind a component name denotes, case-insensitive, surrounding whitespace ignored.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_uppercase().as_str() {
            "VEVENT" => Some(ComponentKind::Vevent),
            "VTODO" => Some(ComponentKind::Vtodo),
            "VJOURNAL" => Some(ComponentKind::Vjournal),
            "VFREEBUSY" => Some(ComponentKind::Vfreebusy),
            "VCARD" => Some(ComponentKind::Vcard),
            _ => None,
        }
    }

    /// Like [`ComponentKind::parse`], for calendar components only (VCARD is not one).
    pub fn parse_calendar(s: &str) -> Option<Self> {
        Self::parse(s).filter(|k| k.is_calendar())
    }

    /// Whether a calendar may hold this component.
    pub fn is_calendar(self) -> bool {
        self != ComponentKind::Vcard
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_names() {
        for k in ComponentKind::CALENDAR {
            assert_eq!(ComponentKind::parse(k.as_str()), Some(k));
            assert_eq!(ComponentKind::parse_calendar(k.as_str()), Some(k));
        }
        assert_eq!(ComponentKind::parse(" vcard "), Some(ComponentKind::Vcard));
        assert_eq!(ComponentKind::parse_calendar("VCARD"), None);
        assert_eq!(ComponentKind::parse("VALARM"), None);
    }

    #[test]
    fn vcard_versions() {
        assert_eq!(VCardVersion::parse(" 4 "), Some(VCardVersion::V4));
        assert_eq!(VCardVersion::default().to_string(), "3.0");
    }
}
