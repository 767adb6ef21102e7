//! Checking a PUT body against its collection before anything is stored: media type, size,
//! and the CalDAV / CardDAV object rules, with the RFC's precondition element on refusal; and
//! the DAV form of a quota refusal.

use crate::collections::{OverQuota, QuotaError};
use crate::config::Limits;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{calendar_index, card_index, Collection, CollectionKind, ItemIndex};

/// What the store needs to keep for a valid body.
pub struct Validated {
    /// The index entries.
    pub index: ItemIndex,
    /// The media type to serve it with.
    pub content_type: String,
}

fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Refuse a body holding a character XML 1.0 forbids (§2.2: the C0 controls other than TAB,
/// LF and CR, U+FFFE, U+FFFF): REPORTs and PROPFINDs carry item data inside XML, where such a
/// character has no representation at all, so one stored item would make every answer about
/// its collection ill-formed. iCalendar (RFC 5545 §3.1) and vCard (RFC 6350 §3.3) exclude the
/// controls from property values too. The message names the code point, not the character.
fn refuse_forbidden_chars(text: &str, condition: Precondition, what: &str) -> DavResult<()> {
    let Some((offset, c)) = crate::xml::first_forbidden(text) else {
        return Ok(());
    };
    let line = text[..offset].matches('\n').count() + 1;
    let message = format!(
        "the {what} contains the control character U+{:04X} on line {line}, which neither \
         it nor XML may carry",
        c as u32
    );
    tracing::info!(code = c as u32, line, "{what} refused: forbidden character");
    Err(DavError::forbidden(condition, message))
}

/// Validate `body` for a PUT (or COPY/MOVE) into `coll`.
pub fn validate(
    limits: &Limits,
    coll: &Collection,
    content_type: Option<&str>,
    body: &[u8],
) -> DavResult<Validated> {
    match coll.kind {
        CollectionKind::Plain => {
            // RFC 4918 defines no size precondition: a body larger than the server keeps for
            // one resource is 413 (RFC 9110 §15.5.14), the same limit as calendar objects.
            if body.len() > limits.max_resource_bytes {
                tracing::info!(size = body.len(), "resource refused: too large");
                return Err(DavError::PayloadTooLarge {
                    limit: limits.max_resource_bytes,
                });
            }
            Ok(Validated {
                index: ItemIndex::default(),
                content_type: content_type
                    .unwrap_or("application/octet-stream")
                    .to_string(),
            })
        }
        CollectionKind::Calendar => {
            if let Some(ct) = content_type {
                if media_type(ct) != "text/calendar" {
                    return Err(DavError::forbidden(
                        Precondition::SupportedCalendarData,
                        format!("a calendar takes text/calendar, not {ct}"),
                    ));
                }
            }
            if body.len() > limits.max_resource_bytes {
                return Err(DavError::forbidden(
                    Precondition::CalMaxResourceSize,
                    format!(
                        "the calendar object is larger than {} bytes",
                        limits.max_resource_bytes
                    ),
                ));
            }
            let text = std::str::from_utf8(body).map_err(|_| {
                DavError::forbidden(Precondition::ValidCalendarData, "the body is not UTF-8")
            })?;
            refuse_forbidden_chars(text, Precondition::ValidCalendarData, "calendar object")?;
            let index = calendar_index(text, coll, limits.max_instances).map_err(|e| {
                tracing::info!(error = %e, "calendar object refused");
                DavError::forbidden(e.precondition(), e.to_string())
            })?;
            Ok(Validated {
                index,
                content_type: "text/calendar; charset=utf-8".into(),
            })
        }
        CollectionKind::Addressbook => {
            if let Some(ct) = content_type {
                let mt = media_type(ct);
                if mt != "text/vcard" && mt != "text/x-vcard" {
                    return Err(DavError::forbidden(
                        Precondition::SupportedAddressData,
                        format!("an address book takes text/vcard, not {ct}"),
                    ));
                }
            }
            if body.len() > limits.max_resource_bytes {
                return Err(DavError::forbidden(
                    Precondition::CardMaxResourceSize,
                    format!(
                        "the vCard is larger than {} bytes",
                        limits.max_resource_bytes
                    ),
                ));
            }
            let text = std::str::from_utf8(body).map_err(|_| {
                DavError::forbidden(Precondition::ValidAddressData, "the body is not UTF-8")
            })?;
            refuse_forbidden_chars(text, Precondition::ValidAddressData, "vCard")?;
            let index = card_index(text).map_err(|e| {
                tracing::info!(error = %e, "vCard refused");
                DavError::forbidden(e.precondition(), e.to_string())
            })?;
            Ok(Validated {
                index,
                content_type: "text/vcard; charset=utf-8".into(),
            })
        }
    }
}

/// A write over a quota: 507 with `DAV:quota-not-exceeded` (RFC 4331 §6).
pub fn over_quota(e: OverQuota) -> DavError {
    tracing::info!(reason = %e, "write refused: over quota");
    DavError::InsufficientStorage {
        message: e.to_string(),
        condition: Some(Precondition::QuotaNotExceeded),
    }
}

/// A failed quota check: over a limit, or the usage could not be read.
pub fn quota_error(e: QuotaError) -> DavError {
    match e {
        QuotaError::Over(o) => over_quota(o),
        QuotaError::Db(e) => DavError::from(e),
    }
}
