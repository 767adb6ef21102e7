//! sync-collection (RFC 6578), answered from the collection's change log by sequence number.

use super::{prop_request, DataRequest, ItemRenderer};
use crate::dav::multistatus::Multistatus;
use crate::dav::resource::Resource;
use crate::dav::stream;
use crate::dav::Req;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{Change, Item};
use crate::tree;
use crate::xml::{escape_text, Element, NS_DAV};
use actix_web::HttpResponse;
use std::collections::HashMap;

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
    minimal: bool,
) -> DavResult<HttpResponse> {
    let coll = match res {
        Resource::Collection(c) if c.is_dav_collection() => c,
        _ => {
            return Err(DavError::forbidden(
                Precondition::SupportedReport,
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
                    Precondition::ValidSyncToken,
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
    // Without a limit or item data the change log is streamed (an initial sync of 100,000
    // members never lists them all at once). A limit needs the listing to know where it cut;
    // item data reads bodies in batches on a second connection, which a streaming request
    // must not wait for while it holds one (eight of them would hold the whole pool).
    let (source, upto) = if limit.is_none() && matches!(data, DataRequest::None) {
        (Changes::Streamed(since), coll.seq)
    } else {
        let (changes, upto) = req.state.store.changes_since(coll, since, limit).await?;
        (Changes::Listed(changes), upto)
    };
    let truncated = limit.is_some() && upto < coll.seq;
    let dead = req
        .state
        .store
        .dead_props_under(req.tenant(), &coll.path)
        .await?;
    let coll = coll.clone();
    let shared = req.shared.clone();
    let principal = req.principal.clone();
    // Streamed: an initial sync of a large collection is sent in chunks, and item bodies (only
    // read when the client asked for item data) are fetched a batch at a time.
    Ok(stream::multistatus(move |sink| async move {
        let state = shared.as_ref();
        let renderer = ItemRenderer::new(state, &principal, &pr, &data, &dead);
        use futures_util::StreamExt;
        let rows = match source {
            Changes::Listed(changes) => {
                futures_util::stream::iter(changes.into_iter().map(Ok)).boxed()
            }
            Changes::Streamed(since) => state.store.stream_changes(&coll, since),
        };
        let mut batches = rows.chunks(256);
        let mut ms = Multistatus::new().minimal(minimal);
        while let Some(batch) = batches.next().await {
            let batch = batch.into_iter().collect::<Result<Vec<Change>, _>>()?;
            let mut bodies: HashMap<String, Vec<u8>> = HashMap::new();
            if !matches!(data, DataRequest::None) {
                let names: Vec<String> = batch
                    .iter()
                    .filter_map(|c| match c {
                        Change::Changed(m, _) => Some(m.name.clone()),
                        Change::Deleted(..) => None,
                    })
                    .collect();
                for it in state.store.items_named(&coll, &names).await? {
                    bodies.insert(it.meta.name, it.body);
                }
            }
            for c in batch {
                match c {
                    Change::Changed(m, _) => {
                        let body = if bodies.is_empty() {
                            Vec::new()
                        } else {
                            bodies.remove(&m.name).unwrap_or_default()
                        };
                        let item = Item { body, meta: m };
                        renderer.respond(&mut ms, &coll, &item);
                    }
                    Change::Deleted(name, _) => ms.status_response(
                        &tree::href(&format!("{}{}", coll.path, name)),
                        404,
                        None,
                    ),
                }
            }
            if ms.pending_bytes() >= stream::CHUNK && !sink.send(ms.take()).await {
                return Ok(());
            }
        }
        if truncated {
            // RFC 6578 §3.6: the result was truncated; the token continues from here.
            ms.status_response(
                &tree::href(&coll.path),
                507,
                Some(&Precondition::NumberOfMatchesWithinLimits),
            );
        }
        ms.tail(&format!(
            "<d:sync-token>{}</d:sync-token>",
            escape_text(&coll.token(upto))
        ));
        sink.finish(ms.close()).await;
        Ok(())
    })
    .await)
}

/// Where the changes of an answer come from.
enum Changes {
    /// Listed before the answer starts (a limit, or item data, was asked for).
    Listed(Vec<Change>),
    /// Read from the store while the answer is written: the changes after this sequence.
    Streamed(Option<i64>),
}
