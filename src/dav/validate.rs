//! Checking a PUT body against its collection before anything is stored: media type, size,
//! and the CalDAV / CardDAV object rules, with the RFC's precondition element on refusal.

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

/// Validate `body` for a PUT (or COPY/MOVE) into `coll`.
pub fn validate(
    limits: &Limits,
    coll: &Collection,
    content_type: Option<&str>,
    body: &[u8],
) -> DavResult<Validated> {
    match coll.kind {
        CollectionKind::Plain => Ok(Validated {
            index: ItemIndex::default(),
            content_type: content_type
                .unwrap_or("application/octet-stream")
                .to_string(),
        }),
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
