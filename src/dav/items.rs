//! GET, HEAD, PUT and DELETE (RFC 4918 §9.4–9.7, RFC 4791 §5.3.2, RFC 6352 §6.3.2).

use super::resource::{self, Resource};
use super::validate::{self, Validated};
use super::Req;
use crate::collections::WriteError;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{Collection, CollectionKind, StoreError, WriteCondition};
use crate::tree::{CollectionPath, StorePath, Target};
use crate::xml::escape_text;
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// Parse an entity-tag list header (`*` or `"a", "b"`).
fn etag_list(v: Option<&str>) -> Option<Vec<String>> {
    let v = v?.trim();
    if v.is_empty() {
        return None;
    }
    Some(
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect(),
    )
}

/// The write precondition from `If-Match` / `If-None-Match`.
pub fn write_condition(req: &Req<'_>) -> WriteCondition {
    WriteCondition {
        if_match: etag_list(req.header("if-match")),
        if_none_match: etag_list(req.header("if-none-match")),
    }
}

/// Map a store refusal to the DAV error (a UID conflict in CalDAV's terms; a write into a
/// known collection uses [`item_store_error`]).
pub fn store_error(e: StoreError, coll_path: &str) -> DavError {
    refusal(e, coll_path, CollectionKind::Calendar)
}

/// Map a store refusal of a write into `coll` to the DAV error, a UID conflict in the terms
/// of the collection's protocol.
pub fn item_store_error(e: StoreError, coll: &Collection) -> DavError {
    refusal(e, &coll.path, coll.kind)
}

fn refusal(e: StoreError, coll_path: &str, kind: CollectionKind) -> DavError {
    match e {
        StoreError::PreconditionFailed => DavError::PreconditionFailed,
        StoreError::UidConflict(other) => DavError::forbidden(
            Precondition::no_uid_conflict(
                kind,
                CollectionPath::of_stored(coll_path).member(&other).href(),
            ),
            "another resource in this collection already has this UID",
        ),
        StoreError::NotFound => DavError::NotFound,
        StoreError::Exists => DavError::MethodNotAllowed {
            allow: super::ALLOW,
        },
        StoreError::NoParent => DavError::conflict("the parent collection does not exist"),
        StoreError::Db(e) => DavError::from(e),
    }
}

/// GET and HEAD: actix-web sends no body for HEAD but keeps the body's Content-Length
/// (RFC 9110 §9.3.2: the same header fields as GET).
pub async fn get(req: &Req<'_>, res: Resource) -> DavResult<HttpResponse> {
    match res {
        Resource::Item(c, m) => {
            if let Some(inm) = etag_list(req.header("if-none-match")) {
                if inm.iter().any(|t| t == "*" || *t == m.etag) {
                    return Ok(HttpResponse::build(StatusCode::NOT_MODIFIED)
                        .insert_header(("ETag", m.etag.clone()))
                        .finish());
                }
            }
            let item = req
                .state
                .store
                .item(&c, &m.name)
                .await?
                .ok_or(DavError::NotFound)?;
            item_response(req, &c, item)
        }
        other => {
            // A small HTML index, so that a browser pointed at the server sees something.
            let mut html = format!(
                "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body><ul>",
                env!("CARGO_PKG_NAME")
            );
            for ch in super::propfind::children(req, &other).await? {
                let h = ch.href();
                html.push_str(&format!(
                    "<li><a href=\"{0}\">{0}</a></li>",
                    escape_text(&h)
                ));
            }
            html.push_str("</ul></body></html>");
            let mut b = HttpResponse::Ok();
            b.content_type("text/html; charset=utf-8");
            if let Resource::Collection(c) = &other {
                b.insert_header(("ETag", c.ctag()));
            }
            Ok(b.body(html))
        }
    }
}

/// GET or HEAD of a member path without `If-None-Match`, answered from one read of the item
/// (body and metadata) after its collection's, where resolving the target read its metadata
/// first and the body after. `None`: no such item (it may name a collection without its
/// trailing slash), for the dispatcher to resolve as usual.
pub async fn get_member(req: &Req<'_>, target: &Target) -> DavResult<Option<HttpResponse>> {
    let Target::Store {
        path: StorePath::Member(m),
        ..
    } = target
    else {
        return Ok(None);
    };
    if req.header("if-none-match").is_some() {
        return Ok(None);
    }
    resource::check_access(req.principal, target)?;
    let store = &req.state.store;
    let Some(c) = store
        .collection(req.tenant(), m.collection.as_str())
        .await?
    else {
        return Ok(None);
    };
    match store.item(&c, &m.name).await? {
        Some(item) => item_response(req, &c, item).map(Some),
        None => Ok(None),
    }
}

/// The 200 answer to a GET of `item` in `c`: its stored bytes (a vCard in the version
/// `Accept` asks for), ETag and Last-Modified.
fn item_response(
    req: &Req<'_>,
    c: &Collection,
    item: crate::store::Item,
) -> DavResult<HttpResponse> {
    let mut b = HttpResponse::Ok();
    b.insert_header(("ETag", item.meta.etag.clone()))
        .insert_header(("Last-Modified", http_date(item.meta.modified)));
    if c.kind != CollectionKind::Addressbook {
        b.content_type(item.meta.content_type.clone());
        return Ok(b.body(item.body));
    }
    b.insert_header(("Vary", "Accept"));
    match negotiated_vcard(req, &item.body)? {
        Some((content_type, Some(converted))) => Ok(b.content_type(content_type).body(converted)),
        Some((content_type, None)) => Ok(b.content_type(content_type).body(item.body)),
        None => Ok(b
            .content_type(item.meta.content_type.clone())
            .body(item.body)),
    }
}

/// The representation of an address object a GET's `Accept` asks for
/// ([`crate::carddav::accepted_version`]): its Content-Type with the version parameter
/// (RFC 6350 §10.1) and the converted body, `None` for the stored bytes. `Ok(None)` overall
/// when no version was asked for: the stored card and Content-Type go out unchanged. A
/// version the card cannot be converted to is 403 `supported-address-data-conversion`
/// (RFC 6352 §5.1.1).
///
/// Every version carries the stored ETag, as sabre/dav does: a client's If-Match on its next
/// PUT names that ETag whichever version it read, and a weak or per-version tag would fail it
/// (`Vary: Accept` keeps caches from mixing the versions).
fn negotiated_vcard(req: &Req<'_>, body: &[u8]) -> DavResult<Option<(String, Option<String>)>> {
    let Some(text) = std::str::from_utf8(body).ok() else {
        return Ok(None);
    };
    let Some(stored) = crate::carddav::declared_version(text) else {
        return Ok(None);
    };
    let refuse = |e: crate::carddav::CardError| {
        tracing::info!(error = %e, accept = req.header("accept").unwrap_or_default(),
            "GET: vCard representation refused");
        DavError::forbidden(e.precondition(), e.to_string())
    };
    let Some(want) =
        crate::carddav::accepted_version(req.header("accept"), stored).map_err(refuse)?
    else {
        return Ok(None);
    };
    let content_type = format!("text/vcard; charset=utf-8; version={want}");
    if want == stored {
        return Ok(Some((content_type, None)));
    }
    let converted = crate::carddav::convert(text, want).map_err(refuse)?;
    Ok(Some((content_type, Some(converted))))
}

fn http_date(t: i64) -> String {
    // RFC 9110 §5.6.7 IMF-fixdate, written directly: chrono's strftime interpreted the
    // pattern on every GET.
    use chrono::{Datelike, Timelike};
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let dt = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
    let mut out = String::with_capacity(29);
    let two = |out: &mut String, n: u32| {
        out.push(char::from(b'0' + (n / 10 % 10) as u8));
        out.push(char::from(b'0' + (n % 10) as u8));
    };
    out.push_str(DAYS[dt.weekday().num_days_from_monday() as usize]);
    out.push_str(", ");
    two(&mut out, dt.day());
    out.push(' ');
    out.push_str(MONTHS[dt.month0() as usize]);
    out.push(' ');
    // Years 0–9999 (HTTP dates have four digits).
    let year = dt.year().clamp(0, 9999) as u32;
    two(&mut out, year / 100);
    two(&mut out, year % 100);
    out.push(' ');
    two(&mut out, dt.hour());
    out.push(':');
    two(&mut out, dt.minute());
    out.push(':');
    two(&mut out, dt.second());
    out.push_str(" GMT");
    out
}

/// PUT. The target is resolved here rather than by the dispatcher, so that each thing is read
/// once: the parent collection, then the existing item's index.
pub async fn put(req: &Req<'_>, target: &Target) -> DavResult<HttpResponse> {
    resource::check_access(req.principal, target)?;
    let not_allowed = || DavError::MethodNotAllowed {
        allow: super::ALLOW,
    };
    let Some(StorePath::Member(member)) = target.store_path() else {
        return Err(not_allowed());
    };
    let store = &req.state.store;
    let parent = store
        .collection(req.tenant(), member.collection.as_str())
        .await?;
    // A collection named without its trailing slash is not replaced by an item. Calendars and
    // address books hold no collections (RFC 4791 §4.2, RFC 6352 §5.2), so only a plain parent
    // (or a missing one) needs the look.
    if parent
        .as_ref()
        .is_none_or(|c| c.kind == CollectionKind::Plain)
    {
        let existing = match &parent {
            Some(c) => store.item_meta(c, &member.name).await?,
            None => None,
        };
        if existing.is_none()
            && store
                .collection(req.tenant(), member.as_collection().as_str())
                .await?
                .is_some()
        {
            return Err(not_allowed());
        }
    }
    let coll = parent.ok_or_else(|| DavError::conflict("the parent collection does not exist"))?;
    let name = &member.name;
    let content_type = req.header("content-type").map(str::to_string);
    let Validated {
        index,
        content_type,
    } = validate::validate(
        &req.state.cfg.limits,
        &coll,
        content_type.as_deref(),
        &req.body,
    )?;
    // RFC 4791 §5.3.2.1: a PUT must not change the UID of an existing resource (a missing item
    // has an empty index).
    if coll.kind != CollectionKind::Plain {
        let old = store.item_index(&coll, name).await?;
        if old.uid.is_some() && old.uid != index.uid {
            return Err(DavError::forbidden(
                Precondition::no_uid_conflict(coll.kind, member.href()),
                "a PUT may not change the UID of an existing resource",
            ));
        }
    }
    let cond = write_condition(req);
    let (etag, created) = req
        .state
        .collections
        .put(
            req.tenant(),
            &coll,
            name,
            &req.body,
            &index,
            &content_type,
            &cond,
        )
        .await
        .map_err(|e| write_error(e, &coll))?;
    Ok(HttpResponse::build(if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    })
    .insert_header(("ETag", etag))
    .finish())
}

/// Map a refused or failed write to the DAV error.
fn write_error(e: WriteError, coll: &Collection) -> DavError {
    match e {
        WriteError::Store(e) => item_store_error(e, coll),
        e @ WriteError::Unrepresentable { .. } => DavError::forbidden(
            if coll.kind == CollectionKind::Addressbook {
                Precondition::ValidAddressData
            } else {
                Precondition::ValidCalendarData
            },
            e.to_string(),
        ),
        WriteError::Upstream(c) => DavError::Upstream(c),
        WriteError::OverQuota(o) => validate::over_quota(o),
    }
}

/// DELETE.
pub async fn delete(req: &Req<'_>, res: Resource) -> DavResult<HttpResponse> {
    match res {
        Resource::Item(c, m) => {
            let cond = write_condition(req);
            req.state
                .collections
                .delete(req.tenant(), &c, &m.name, &cond)
                .await
                .map_err(|e| write_error(e, &c))?;
            Ok(HttpResponse::NoContent().finish())
        }
        Resource::Collection(c) => {
            // Homes are provisioned by the server and cannot be deleted.
            if CollectionPath::of_stored(&c.path).is_home_or_above() {
                return Err(DavError::Forbidden {
                    message: "a home collection cannot be deleted".into(),
                    condition: None,
                });
            }
            if let Some(m) = etag_list(req.header("if-match")) {
                if !m.iter().any(|t| t == "*" || *t == c.ctag()) {
                    return Err(DavError::PreconditionFailed);
                }
            }
            req.state
                .store
                .delete_collection(req.tenant(), &c.path)
                .await
                .map_err(|e| store_error(e, &c.path))?;
            tracing::info!(path = %c.path, "collection deleted");
            Ok(HttpResponse::NoContent().finish())
        }
        _ => Err(DavError::Forbidden {
            message: "this resource cannot be deleted".into(),
            condition: None,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::http_date;

    #[test]
    fn http_dates_are_imf_fixdates() {
        for t in [0, 1_700_000_000, 951_782_400, 4_102_444_799, -86_400] {
            let expected = chrono::DateTime::from_timestamp(t, 0)
                .unwrap()
                .format("%a, %d %b %Y %H:%M:%S GMT")
                .to_string();
            assert_eq!(http_date(t), expected, "{t}");
        }
        assert_eq!(http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
    }
}
