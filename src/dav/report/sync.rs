//! sync-collection (RFC 6578), answered from the collection's change log by sequence number.

use super::{item_response, prop_request, DataRequest};
use crate::dav::multistatus::Multistatus;
use crate::dav::resource::Resource;
use crate::dav::Req;
use crate::error::{Condition, DavError, DavResult};
use crate::sync::{Change, Item};
use crate::tree;
use crate::xml::{escape_text, Element, NS_DAV};
use actix_web::HttpResponse;

/// `DAV:limit/DAV:nresults` of a REPORT body.
pub fn nresults(root: &Element) -> DavResult<Option<usize>> {
    match root
        .child(NS_DAV, "limit")
        .and_then(|l| l.child(NS_DAV, "nresults"))
    {
        None => Ok(None),
        Some(n) => n
            .text()
            .trim()
            .parse::<usize>()
            .map(Some)
            .map_err(|_| DavError::bad_request("DAV:nresults must be a number")),
    }
}

/// REPORT sync-collection.
pub async fn sync_collection(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
) -> DavResult<HttpResponse> {
    let coll = match res {
        Resource::Collection(c) if c.is_dav_collection() => c,
        _ => {
            return Err(DavError::forbidden(
                Condition::dav("supported-report"),
                "sync-collection works on calendars and address books",
            ))
        }
    };
    let token = root
        .child(NS_DAV, "sync-token")
        .map(|t| t.text().trim().to_string())
        .unwrap_or_default();
    let since = if token.is_empty() {
        None
    } else {
        match coll.parse_token(&token) {
            Some(s) => Some(s),
            None => {
                tracing::info!(%token, "unknown or expired sync token");
                return Err(DavError::forbidden(
                    Condition::dav("valid-sync-token"),
                    "the sync token is unknown or has expired; start again with an empty token",
                ));
            }
        }
    };
    if let Some(level) = root.child(NS_DAV, "sync-level") {
        let l = level.text();
        if !matches!(l.trim(), "1" | "infinite" | "infinity") {
            return Err(DavError::bad_request(
                "DAV:sync-level must be 1 or infinite",
            ));
        }
    }
    let limit = nresults(root)?;
    let pr = prop_request(root);
    let data = DataRequest::parse(&pr)?;
    let (changes, upto) = req.state.store.changes_since(coll, since, limit).await?;
    let truncated = limit.is_some() && upto < coll.seq;
    let changed: Vec<String> = changes
        .iter()
        .filter_map(|c| match c {
            Change::Changed(m, _) => Some(m.name.clone()),
            Change::Deleted(..) => None,
        })
        .collect();
    // Bodies are read only when the client asked for item data.
    let bodies: Vec<Item> = if matches!(data, DataRequest::None) {
        Vec::new()
    } else {
        req.state.store.items_named(coll, &changed).await?
    };
    let dead = req
        .state
        .store
        .dead_props_under(req.tenant(), &coll.path)
        .await?;
    let mut ms = Multistatus::new();
    for c in &changes {
        match c {
            Change::Changed(m, _) => {
                let item = bodies
                    .iter()
                    .find(|i| i.meta.name == m.name)
                    .cloned()
                    .unwrap_or_else(|| Item {
                        meta: m.clone(),
                        body: Vec::new(),
                    });
                item_response(req, &mut ms, coll, &item, &pr, &data, &dead);
            }
            Change::Deleted(name, _) => {
                ms.status_response(&tree::href(&format!("{}{}", coll.path, name)), 404, "")
            }
        }
    }
    if truncated {
        // RFC 6578 §3.6: the result was truncated; the token continues from here.
        ms.status_response(
            &tree::href(&coll.path),
            507,
            "<d:error><d:number-of-matches-within-limits/></d:error>",
        );
    }
    ms.tail(&format!(
        "<d:sync-token>{}</d:sync-token>",
        escape_text(&coll.token(upto))
    ));
    Ok(ms.finish())
}
