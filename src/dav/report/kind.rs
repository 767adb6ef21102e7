//! The REPORTs the server answers (RFC 3253 §3.6), each named by the root element of its
//! request body, and which resources offer which (`DAV:supported-report-set`, §3.1.5).

use crate::dav::resource::Resource;
use crate::store::CollectionKind;
use crate::xml::{Element, NS_CALDAV, NS_CARDDAV, NS_DAV};

/// A REPORT the server knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// `CALDAV:calendar-multiget` (RFC 4791 §7.9).
    CalendarMultiget,
    /// `CALDAV:calendar-query` (RFC 4791 §7.8).
    CalendarQuery,
    /// `CALDAV:free-busy-query` (RFC 4791 §7.10).
    FreeBusyQuery,
    /// `CARDDAV:addressbook-multiget` (RFC 6352 §8.7).
    AddressbookMultiget,
    /// `CARDDAV:addressbook-query` (RFC 6352 §8.6).
    AddressbookQuery,
    /// `DAV:sync-collection` (RFC 6578 §3).
    SyncCollection,
    /// `DAV:expand-property` (RFC 3253 §3.8).
    ExpandProperty,
    /// `DAV:principal-property-search` (RFC 3744 §9.4).
    PrincipalPropertySearch,
    /// `DAV:principal-search-property-set` (RFC 3744 §9.5).
    PrincipalSearchPropertySet,
}

impl ReportKind {
    /// Every REPORT, in the order `supported-report-set` lists them.
    pub const ALL: [ReportKind; 9] = [
        ReportKind::CalendarMultiget,
        ReportKind::CalendarQuery,
        ReportKind::FreeBusyQuery,
        ReportKind::AddressbookMultiget,
        ReportKind::AddressbookQuery,
        ReportKind::SyncCollection,
        ReportKind::ExpandProperty,
        ReportKind::PrincipalPropertySearch,
        ReportKind::PrincipalSearchPropertySet,
    ];

    /// The namespace of the body's root element.
    pub fn ns(self) -> &'static str {
        match self {
            ReportKind::CalendarMultiget
            | ReportKind::CalendarQuery
            | ReportKind::FreeBusyQuery => NS_CALDAV,
            ReportKind::AddressbookMultiget | ReportKind::AddressbookQuery => NS_CARDDAV,
            ReportKind::SyncCollection
            | ReportKind::ExpandProperty
            | ReportKind::PrincipalPropertySearch
            | ReportKind::PrincipalSearchPropertySet => NS_DAV,
        }
    }

    /// The local name of the body's root element.
    pub fn name(self) -> &'static str {
        match self {
            ReportKind::CalendarMultiget => "calendar-multiget",
            ReportKind::CalendarQuery => "calendar-query",
            ReportKind::FreeBusyQuery => "free-busy-query",
            ReportKind::AddressbookMultiget => "addressbook-multiget",
            ReportKind::AddressbookQuery => "addressbook-query",
            ReportKind::SyncCollection => "sync-collection",
            ReportKind::ExpandProperty => "expand-property",
            ReportKind::PrincipalPropertySearch => "principal-property-search",
            ReportKind::PrincipalSearchPropertySet => "principal-search-property-set",
        }
    }

    /// The REPORT a request body asks for, `None` when the server does not know it.
    pub fn of(root: &Element) -> Option<Self> {
        Self::ALL.into_iter().find(|k| root.is(k.ns(), k.name()))
    }

    /// True when `res` lists this REPORT in its `supported-report-set`: calendars and
    /// address books their own queries and sync, every resource but items the principal
    /// searches, and every resource expand-property.
    pub fn offered_on(self, res: &Resource) -> bool {
        let kind = match res {
            Resource::Collection(c) => Some(c.kind),
            _ => None,
        };
        match self {
            ReportKind::CalendarMultiget
            | ReportKind::CalendarQuery
            | ReportKind::FreeBusyQuery => kind == Some(CollectionKind::Calendar),
            ReportKind::AddressbookMultiget | ReportKind::AddressbookQuery => {
                kind == Some(CollectionKind::Addressbook)
            }
            ReportKind::SyncCollection => res_is_dav_collection(res),
            ReportKind::ExpandProperty => true,
            ReportKind::PrincipalPropertySearch | ReportKind::PrincipalSearchPropertySet => {
                !matches!(res, Resource::Item(..))
            }
        }
    }
}

fn res_is_dav_collection(res: &Resource) -> bool {
    matches!(res, Resource::Collection(c) if c.is_dav_collection())
}
