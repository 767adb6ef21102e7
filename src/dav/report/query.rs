//! calendar-query (RFC 4791 §7.8), free-busy-query (§7.10) and addressbook-query
//! (RFC 6352 §8.6). The store's index narrows a time-range query to candidates; only those
//! are parsed and expanded.

use super::{prop_request, query_scope, DataRequest, ItemRenderer};
use crate::dav::multistatus::Multistatus;
use crate::dav::resource::Resource;
use crate::dav::stream;
use crate::dav::Req;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{CollectionKind, Item};
use crate::tree;
use crate::xml::{Element, NS_CALDAV, NS_CARDDAV};
use actix_web::HttpResponse;

/// REPORT calendar-query.
pub async fn calendar_query(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
    minimal: bool,
) -> DavResult<HttpResponse> {
    let (coll, only) = query_scope(res, CollectionKind::Calendar)?;
    let filter_el = root.child(NS_CALDAV, "filter").ok_or_else(|| {
        DavError::forbidden(
            Precondition::ValidFilter,
            "calendar-query needs a CALDAV:filter",
        )
    })?;
    let filter = crate::caldav::parse_filter(filter_el).map_err(|e| {
        tracing::info!(error = %e, "calendar-query filter refused");
        DavError::forbidden(e.precondition(), e.to_string())
    })?;
    let pr = prop_request(root);
    let data = DataRequest::parse(&pr)?;
    let max = req.state.cfg.limits.max_instances;
    let hint = crate::caldav::time_bounds_hint(&filter);
    let component = filter
        .comp_filters
        .first()
        .filter(|_| filter.comp_filters.len() == 1)
        .filter(|c| !c.is_not_defined)
        .map(|c| c.name.to_ascii_uppercase());
    let (start, end) = (
        hint.as_ref().and_then(|h| h.start),
        hint.as_ref().and_then(|h| h.end),
    );
    let only = only.map(str::to_string);
    let dead = req
        .state
        .store
        .dead_props_under(req.tenant(), &coll.path)
        .await?;
    let coll = coll.clone();
    let shared = req.shared.clone();
    let principal = req.principal.clone();
    // Streamed like addressbook-query: candidates are read a row at a time and each match is
    // written out at once, so neither the bodies nor the answer are held whole.
    Ok(stream::multistatus(move |sink| async move {
        use futures_util::StreamExt;
        let state = shared.as_ref();
        let renderer = ItemRenderer {
            max_instances: max,
            ..ItemRenderer::new(state, &principal, &pr, &data, &dead)
        };
        let cap = state.cfg.limits.max_report_results;
        let mut rows = match only {
            // Depth 0 on one item.
            Some(name) => {
                futures_util::stream::iter(state.store.item(&coll, &name).await?.map(Ok)).boxed()
            }
            None => state
                .store
                .stream_candidates(&coll, component.as_deref(), start, end),
        };
        let mut ms = Multistatus::new().minimal(minimal);
        let (mut candidates, mut n) = (0usize, 0usize);
        while let Some(item) = rows.next().await {
            let item = item?;
            candidates += 1;
            let Ok(body) = std::str::from_utf8(&item.body) else {
                continue;
            };
            let calendar_data = match &data {
                DataRequest::Calendar(d) => Some(d),
                _ => None,
            };
            let crate::caldav::Candidate::Matched { calendar_data } =
                crate::caldav::query_candidate(&filter, calendar_data, body, max)
            else {
                continue;
            };
            n += 1;
            if n > cap {
                ms.status_response(
                    &tree::href(&coll.path),
                    507,
                    Some(&Precondition::NumberOfMatchesWithinLimits),
                );
                break;
            }
            renderer.respond_with(&mut ms, &coll, &item, calendar_data);
            if ms.pending_bytes() >= stream::CHUNK && !sink.send(ms.take()).await {
                return Ok(());
            }
        }
        tracing::debug!(candidates, matched = n, "calendar-query");
        sink.finish(ms.close()).await;
        Ok(())
    })
    .await)
}

/// REPORT free-busy-query: a VFREEBUSY for the range (200 text/calendar).
pub async fn free_busy_query(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
) -> DavResult<HttpResponse> {
    let (coll, _) = query_scope(res, CollectionKind::Calendar)?;
    let tr = root
        .child(NS_CALDAV, "time-range")
        .ok_or_else(|| DavError::bad_request("free-busy-query needs a CALDAV:time-range"))?;
    let start = tr.attr("start").and_then(crate::caldav::parse_utc);
    let end = tr.attr("end").and_then(crate::caldav::parse_utc);
    if start.is_none() && end.is_none() {
        return Err(DavError::bad_request(
            "the time-range needs a start or an end in UTC",
        ));
    }
    let range = crate::caldav::TimeRange { start, end };
    let items = req.state.store.candidates(coll, None, start, end).await?;
    let bodies: Vec<&str> = items
        .iter()
        .filter_map(|i| std::str::from_utf8(&i.body).ok())
        .collect();
    let out = crate::caldav::free_busy(&bodies, range, req.state.cfg.limits.max_instances);
    Ok(HttpResponse::Ok()
        .content_type("text/calendar; charset=utf-8")
        .body(out))
}

/// REPORT addressbook-query.
pub async fn addressbook_query(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
    minimal: bool,
) -> DavResult<HttpResponse> {
    let (coll, only) = query_scope(res, CollectionKind::Addressbook)?;
    let filter = match root.child(NS_CARDDAV, "filter") {
        Some(f) => crate::carddav::parse_filter(f).map_err(|e| {
            tracing::info!(error = %e, "addressbook-query filter refused");
            DavError::forbidden(e.precondition(), e.to_string())
        })?,
        None => {
            return Err(DavError::forbidden(
                Precondition::CardValidFilter,
                "addressbook-query needs a CARDDAV:filter",
            ))
        }
    };
    let limit = crate::carddav::parse_limit(root);
    let pr = prop_request(root);
    let data = DataRequest::parse(&pr)?;
    let cap = limit
        .unwrap_or(usize::MAX)
        .min(req.state.cfg.limits.max_report_results);
    // Which cards to examine: one (Depth 0 on an item), the index's candidates, or all.
    let exact = crate::carddav::exact_probe(&filter);
    let source = match (only, crate::carddav::probes(&filter)) {
        (Some(name), _) => Source::Named(vec![name.to_string()]),
        (None, _) if exact.is_some() => {
            let probe = exact.as_ref().expect("checked");
            Source::Decided(req.state.store.card_matches(coll, probe).await?)
        }
        (None, Some(probes)) => {
            let mut names = std::collections::BTreeSet::new();
            for p in &probes {
                names.extend(
                    req.state
                        .store
                        .card_candidates(coll, &p.prop, &p.needle)
                        .await?,
                );
            }
            Source::Named(names.into_iter().collect())
        }
        (None, None) => Source::All,
    };
    let dead = req
        .state
        .store
        .dead_props_under(req.tenant(), &coll.path)
        .await?;
    let coll = coll.clone();
    let shared = req.shared.clone();
    let principal = req.principal.clone();
    // Streamed: cards are read a batch (or a row) at a time and each match is written out
    // at once, so neither the cards nor the answer are held whole.
    Ok(stream::multistatus(move |sink| async move {
        use futures_util::StreamExt;
        let state = shared.as_ref();
        let renderer = ItemRenderer::new(state, &principal, &pr, &data, &dead);
        let mut ms = Multistatus::new().minimal(minimal);
        let mut n = 0usize;
        let mut overflow = false;
        // Write `item` if it matches (`decided`: the index said so); false once the cap is
        // passed (stop looking).
        let mut consider = |item: &Item, decided: bool, ms: &mut Multistatus| -> bool {
            let hit = decided
                || std::str::from_utf8(&item.body)
                    .map(|b| crate::carddav::matches(&filter, b))
                    .unwrap_or(false);
            if hit {
                if n == cap {
                    overflow = true;
                    return false;
                }
                n += 1;
                renderer.respond(ms, &coll, item);
            }
            true
        };
        let (named, decided) = match source {
            Source::Named(names) => (Some(names), false),
            Source::Decided(names) => (Some(names), true),
            Source::All => (None, false),
        };
        match named {
            Some(names) => {
                // A batch's bodies are held while it is written (32 cards with 50 KB photos
                // are 1.6 MB), and the answer is flushed once a megabyte is pending.
                'batches: for batch in names.chunks(QUERY_BATCH) {
                    let mut items = state.store.items_named(&coll, batch).await?;
                    items.sort_by(|a, b| a.meta.name.cmp(&b.meta.name));
                    for it in &items {
                        if !consider(it, decided, &mut ms) {
                            break 'batches;
                        }
                        if ms.pending_bytes() >= stream::LARGE_CHUNK && !sink.send(ms.take()).await
                        {
                            return Ok(());
                        }
                    }
                }
            }
            None => {
                let mut rows = state.store.stream_items(&coll, true);
                while let Some(it) = rows.next().await {
                    if !consider(&it?, false, &mut ms) {
                        break;
                    }
                    if ms.pending_bytes() >= stream::CHUNK && !sink.send(ms.take()).await {
                        return Ok(());
                    }
                }
            }
        }
        if overflow {
            // RFC 6352 §8.6.1: more results than the limit: say so with a 507.
            ms.status_response(
                &tree::href(&coll.path),
                507,
                Some(&Precondition::NumberOfMatchesWithinLimits),
            );
        }
        sink.finish(ms.close()).await;
        Ok(())
    })
    .await)
}

/// Cards read per statement when an addressbook-query knows their names.
const QUERY_BATCH: usize = 32;

/// The cards an addressbook-query examines.
enum Source {
    /// These members (in name order).
    Named(Vec<String>),
    /// These members, which match: the index decided the filter (`carddav::exact_probe`).
    Decided(Vec<String>),
    /// Every member.
    All,
}
