//! CardDAV evaluation (RFC 6352), with no HTTP: validation of address object resources,
//! `addressbook-query` filters, `address-data` selection and vCard 3.0 ⇄ 4.0 conversion.
//!
//! The `dav` layer parses request bodies with [`crate::xml`] and hands the elements here;
//! everything in this module is pure and never panics on input.
//!
//! * [`inspect`] validates a PUT body (RFC 6352 §5.1, §6.3.2.1): one vCard, VERSION 3.0 or 4.0,
//!   UID and FN present.
//! * [`parse_filter`] / [`matches`] evaluate `CARDDAV:filter` (§10.5); [`parse_limit`] reads
//!   `CARDDAV:limit` (§8.6.1).
//! * [`parse_address_data`] / [`render_address_data`] serve `CARDDAV:address-data` (§10.4):
//!   the stored bytes untouched when nothing is asked for, otherwise a property selection
//!   and/or a version conversion ([`convert`]).
//! * [`accepted_version`] reads the vCard version a GET's `Accept` header asks for.
//! * [`index_fields`] gives the values the server indexes to prefilter text-match queries.
//!
//! Every error names the RFC 6352 precondition element (in the `CARDDAV:` namespace,
//! [`crate::xml::NS_CARDDAV`]) that the server puts in its `DAV:error` body.

mod accept;
mod address_data;
mod apple;
mod card;
mod filter;
#[cfg(test)]
mod fixtures;
mod prefilter;
#[cfg(test)]
mod roundtrip_tests;

pub use accept::accepted_version;
pub use address_data::{parse_address_data, render_address_data, AddressDataRequest};
pub(crate) use card::declared_version;
pub use card::{convert, index_fields, inspect, search_fields, CardInfo};
pub use filter::{
    matches, parse_filter, parse_limit, CardFilter, Collation, MatchType, ParamFilter, PropFilter,
    Test, TextMatch,
};
pub use prefilter::{exact_probe, fold, probes, ExactProbe, Probe};

use crate::vocab::VCardVersion;

/// calcard's name for a version (the conversion lives here: only this layer writes cards
/// with calcard).
pub(crate) fn calcard_version(v: VCardVersion) -> calcard::vcard::VCardVersion {
    match v {
        VCardVersion::V3 => calcard::vcard::VCardVersion::V3_0,
        VCardVersion::V4 => calcard::vcard::VCardVersion::V4_0,
    }
}

/// The version a VERSION value names, or why it is refused.
pub fn parse_version(s: &str) -> Result<VCardVersion, CardError> {
    VCardVersion::parse(s).ok_or_else(|| CardError::UnsupportedVersion(clip(s.trim())))
}

/// Why a vCard body was refused or could not be served.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardError {
    /// The body is not a vCard at all (empty, another format, a malformed line).
    #[error("not a valid vCard: {0}")]
    NotVCard(String),
    /// BEGIN:VCARD without its END:VCARD.
    #[error("the vCard is not terminated by END:VCARD")]
    Unterminated,
    /// An address object resource holds exactly one vCard (RFC 6352 §5.1).
    #[error("an address object resource must contain exactly one vCard, found more than one")]
    MultipleCards,
    /// No VERSION property.
    #[error("the vCard has no VERSION property")]
    MissingVersion,
    /// VERSION other than 3.0 or 4.0 (e.g. 2.1).
    #[error("vCard version {0:?} is not supported; use 3.0 or 4.0")]
    UnsupportedVersion(String),
    /// No UID property, or an empty one (RFC 6352 §5.1 requires it).
    #[error("the vCard has no UID property, which CardDAV requires")]
    MissingUid,
    /// More than one UID property.
    #[error("the vCard has more than one UID property")]
    MultipleUids,
    /// No FN property (required by RFC 2426 and RFC 6350).
    #[error("the vCard has no FN (formatted name) property")]
    MissingFn,
    /// The stored vCard could not be converted to the requested version.
    #[error("cannot convert the vCard to version {0}: {1}")]
    Conversion(VCardVersion, String),
    /// A GET's `Accept` names only vCard forms the server cannot write (RFC 6352 §5.1.1).
    #[error("cannot serve the vCard as {0:?}; available: text/vcard version 3.0 or 4.0")]
    NotAcceptable(String),
}

impl CardError {
    /// The RFC 6352 precondition element (`CARDDAV:` namespace) for this error.
    pub fn precondition(&self) -> crate::error::Precondition {
        use crate::error::Precondition as P;
        match self {
            CardError::UnsupportedVersion(_) => P::SupportedAddressData,
            CardError::Conversion(..) | CardError::NotAcceptable(_) => {
                P::SupportedAddressDataConversion
            }
            CardError::NotVCard(_)
            | CardError::Unterminated
            | CardError::MultipleCards
            | CardError::MissingVersion
            | CardError::MissingUid
            | CardError::MultipleUids
            | CardError::MissingFn => P::ValidAddressData,
        }
    }
}

/// Why an `addressbook-query` filter or an `address-data` element was refused.
///
/// RFC 6352 has no `valid-filter` precondition (that is CalDAV's); a filter it cannot
/// evaluate is answered with `CARDDAV:supported-filter`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    /// A malformed or unsupported filter construct (§8.6 `supported-filter`).
    #[error("unsupported filter: {0}")]
    UnsupportedFilter(String),
    /// A text-match collation the server does not offer (§8.6 `supported-collation`).
    #[error("unsupported collation {0:?}; supported: i;ascii-casemap, i;unicode-casemap, i;octet")]
    UnsupportedCollation(String),
    /// An address-data content type or version the server cannot produce
    /// (§8.6/§8.7 `supported-address-data`).
    #[error("unsupported address data: {0}")]
    UnsupportedAddressData(String),
}

impl FilterError {
    /// The RFC 6352 precondition element (`CARDDAV:` namespace) for this error.
    pub fn precondition(&self) -> crate::error::Precondition {
        use crate::error::Precondition as P;
        match self {
            FilterError::UnsupportedFilter(_) => P::CardSupportedFilter,
            FilterError::UnsupportedCollation(_) => P::CardSupportedCollation,
            FilterError::UnsupportedAddressData(_) => P::SupportedAddressData,
        }
    }
}

/// At most 60 characters of untrusted text, for error messages.
pub(crate) fn clip(s: &str) -> String {
    match s.char_indices().nth(60) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parse_and_display() {
        assert_eq!(VCardVersion::parse(" 3.0 "), Some(VCardVersion::V3));
        assert_eq!(VCardVersion::parse("4.0"), Some(VCardVersion::V4));
        assert_eq!(VCardVersion::parse("2.1"), None);
        assert_eq!(VCardVersion::V3.as_str(), "3.0");
        assert_eq!(VCardVersion::V4.to_string(), "4.0");
        assert_eq!(parse_version("4.0"), Ok(VCardVersion::V4));
        let err = parse_version("2.1").unwrap_err();
        assert_eq!(err, CardError::UnsupportedVersion("2.1".into()));
        assert_eq!(err.precondition().name(), "supported-address-data");
    }

    #[test]
    fn filter_error_preconditions() {
        assert_eq!(
            FilterError::UnsupportedFilter("x".into())
                .precondition()
                .name(),
            "supported-filter"
        );
        assert_eq!(
            FilterError::UnsupportedCollation("i;foo".into())
                .precondition()
                .name(),
            "supported-collation"
        );
        assert_eq!(
            FilterError::UnsupportedAddressData("x".into())
                .precondition()
                .name(),
            "supported-address-data"
        );
        assert_eq!(
            CardError::Conversion(VCardVersion::V4, "x".into())
                .precondition()
                .name(),
            "supported-address-data-conversion"
        );
    }

    #[test]
    fn clip_is_char_safe() {
        let long = "李".repeat(100);
        let c = clip(&long);
        assert_eq!(c.chars().count(), 61);
        assert!(c.ends_with('…'));
        assert_eq!(clip("short"), "short");
    }
}
