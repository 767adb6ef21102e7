//! The precondition and postcondition elements the server reports in a `DAV:error` body
//! (RFC 4918 §16): one variant per element, each rendering itself in its own namespace.

use crate::vocab::CollectionKind;
use crate::xml::{XmlWriter, NS_CALDAV, NS_CARDDAV, NS_DAV};

/// A condition that a request failed, named as its RFC names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    // WebDAV and its extensions.
    /// `DAV:need-privileges` (RFC 3744 §7.1.1): the resource belongs to someone else.
    NeedPrivileges,
    /// `DAV:propfind-finite-depth` (RFC 4918 §9.1): `Depth: infinity` is refused.
    PropfindFiniteDepth,
    /// `DAV:resource-must-be-null` (RFC 4791 §5.3.1.1, RFC 5689 §3): something is there already.
    ResourceMustBeNull,
    /// `DAV:supported-report` (RFC 3253 §3.6): the REPORT is not offered on this resource.
    SupportedReport,
    /// `DAV:valid-sync-token` (RFC 6578 §3.2): the token is unknown or expired.
    ValidSyncToken,
    /// `DAV:number-of-matches-within-limits` (RFC 6578 §3.6, RFC 6352 §8.6.1): a result
    /// was truncated.
    NumberOfMatchesWithinLimits,

    // CalDAV (RFC 4791).
    /// `CALDAV:calendar-collection-location-ok` (§5.3.1.1, §5.3.2.1).
    CalendarCollectionLocationOk,
    /// `CALDAV:supported-calendar-component` (§5.3.2.1).
    SupportedCalendarComponent,
    /// `CALDAV:supported-calendar-data` (§5.3.2.1, §7.8).
    SupportedCalendarData,
    /// `CALDAV:valid-calendar-data` (§5.3.2.1).
    ValidCalendarData,
    /// `CALDAV:valid-calendar-object-resource` (§5.3.2.1).
    ValidCalendarObjectResource,
    /// `CALDAV:max-resource-size` (§5.3.2.1).
    CalMaxResourceSize,
    /// `CALDAV:no-uid-conflict` (§5.3.2.1), with the href of the resource holding the UID.
    CalNoUidConflict {
        /// The resource that already has the UID (not yet escaped).
        href: String,
    },
    /// `CALDAV:valid-filter` (§7.8).
    ValidFilter,
    /// `CALDAV:supported-filter` (§7.8).
    CalSupportedFilter,
    /// `CALDAV:supported-collation` (§7.5.1).
    CalSupportedCollation,

    // CardDAV (RFC 6352).
    /// `CARDDAV:addressbook-collection-location-ok` (§6.3.1, §6.3.2.1).
    AddressbookCollectionLocationOk,
    /// `CARDDAV:supported-address-data` (§6.3.2.1, §8.6, §8.7).
    SupportedAddressData,
    /// `CARDDAV:supported-address-data-conversion` (§8.6, §8.7).
    SupportedAddressDataConversion,
    /// `CARDDAV:valid-address-data` (§6.3.2.1).
    ValidAddressData,
    /// `CARDDAV:max-resource-size` (§6.3.2.1).
    CardMaxResourceSize,
    /// `CARDDAV:no-uid-conflict` (§6.3.2.1), with the href of the resource holding the UID.
    CardNoUidConflict {
        /// The resource that already has the UID (not yet escaped).
        href: String,
    },
    /// `CARDDAV:valid-filter`: an addressbook-query without a filter. RFC 6352 defines no
    /// such element (§8.6 has `supported-filter`); the CalDAV name is kept because clients
    /// have been sent it.
    CardValidFilter,
    /// `CARDDAV:supported-filter` (§8.6).
    CardSupportedFilter,
    /// `CARDDAV:supported-collation` (§8.3, §8.6).
    CardSupportedCollation,

    /// `DAV:quota-not-exceeded` (RFC 4331 §6): the write would pass a quota (with 507).
    QuotaNotExceeded,
}

impl Precondition {
    /// The UID conflict in the terms of the collection's protocol (RFC 4791 §5.3.2.1,
    /// RFC 6352 §6.3.2.1); `href` names the resource that holds the UID.
    pub fn no_uid_conflict(kind: CollectionKind, href: String) -> Self {
        match kind {
            CollectionKind::Addressbook => Precondition::CardNoUidConflict { href },
            CollectionKind::Calendar | CollectionKind::Plain => {
                Precondition::CalNoUidConflict { href }
            }
        }
    }

    /// The element's namespace.
    pub fn ns(&self) -> &'static str {
        use Precondition as P;
        match self {
            P::NeedPrivileges
            | P::PropfindFiniteDepth
            | P::ResourceMustBeNull
            | P::SupportedReport
            | P::ValidSyncToken
            | P::NumberOfMatchesWithinLimits
            | P::QuotaNotExceeded => NS_DAV,
            P::CalendarCollectionLocationOk
            | P::SupportedCalendarComponent
            | P::SupportedCalendarData
            | P::ValidCalendarData
            | P::ValidCalendarObjectResource
            | P::CalMaxResourceSize
            | P::CalNoUidConflict { .. }
            | P::ValidFilter
            | P::CalSupportedFilter
            | P::CalSupportedCollation => NS_CALDAV,
            P::AddressbookCollectionLocationOk
            | P::SupportedAddressData
            | P::SupportedAddressDataConversion
            | P::ValidAddressData
            | P::CardMaxResourceSize
            | P::CardNoUidConflict { .. }
            | P::CardValidFilter
            | P::CardSupportedFilter
            | P::CardSupportedCollation => NS_CARDDAV,
        }
    }

    /// The element's local name.
    pub fn name(&self) -> &'static str {
        use Precondition as P;
        match self {
            P::NeedPrivileges => "need-privileges",
            P::PropfindFiniteDepth => "propfind-finite-depth",
            P::ResourceMustBeNull => "resource-must-be-null",
            P::SupportedReport => "supported-report",
            P::ValidSyncToken => "valid-sync-token",
            P::NumberOfMatchesWithinLimits => "number-of-matches-within-limits",
            P::CalendarCollectionLocationOk => "calendar-collection-location-ok",
            P::SupportedCalendarComponent => "supported-calendar-component",
            P::SupportedCalendarData => "supported-calendar-data",
            P::ValidCalendarData => "valid-calendar-data",
            P::ValidCalendarObjectResource => "valid-calendar-object-resource",
            P::CalMaxResourceSize | P::CardMaxResourceSize => "max-resource-size",
            P::CalNoUidConflict { .. } | P::CardNoUidConflict { .. } => "no-uid-conflict",
            P::ValidFilter | P::CardValidFilter => "valid-filter",
            P::CalSupportedFilter | P::CardSupportedFilter => "supported-filter",
            P::CalSupportedCollation | P::CardSupportedCollation => "supported-collation",
            P::AddressbookCollectionLocationOk => "addressbook-collection-location-ok",
            P::SupportedAddressData => "supported-address-data",
            P::SupportedAddressDataConversion => "supported-address-data-conversion",
            P::ValidAddressData => "valid-address-data",
            P::QuotaNotExceeded => "quota-not-exceeded",
        }
    }

    /// Write the element (with its `DAV:href` for a UID conflict).
    pub fn write(&self, w: &mut XmlWriter) {
        match self {
            Precondition::CalNoUidConflict { href } | Precondition::CardNoUidConflict { href } => {
                w.open(self.ns(), self.name());
                w.text_elem(NS_DAV, "href", href);
                w.close(self.ns(), self.name());
            }
            _ => w.empty(self.ns(), self.name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xml(p: &Precondition) -> String {
        let mut w = XmlWriter::default();
        p.write(&mut w);
        w.buf
    }

    #[test]
    fn each_renders_in_its_namespace() {
        assert_eq!(xml(&Precondition::ValidSyncToken), "<d:valid-sync-token/>");
        assert_eq!(
            xml(&Precondition::CalSupportedCollation),
            "<c:supported-collation/>"
        );
        assert_eq!(
            xml(&Precondition::CardMaxResourceSize),
            "<card:max-resource-size/>"
        );
    }

    #[test]
    fn uid_conflict_names_the_other_resource_escaped() {
        let p = Precondition::no_uid_conflict(CollectionKind::Addressbook, "/dav/a&b.vcf".into());
        assert_eq!(
            xml(&p),
            "<card:no-uid-conflict><d:href>/dav/a&amp;b.vcf</d:href></card:no-uid-conflict>"
        );
        let p = Precondition::no_uid_conflict(CollectionKind::Calendar, "/dav/x.ics".into());
        assert_eq!(
            xml(&p),
            "<c:no-uid-conflict><d:href>/dav/x.ics</d:href></c:no-uid-conflict>"
        );
    }
}
