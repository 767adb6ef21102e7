//! REPORT (RFC 3253 §3.6) and the reports CalDAV, CardDAV, WebDAV Sync and ACL define.

mod kind;
mod principal;
mod query;
mod sync;

pub use kind::ReportKind;

use super::multistatus::{mark_preference, wants_minimal, Multistatus, PropStats};
use super::propfind::{render_props, Computed, PropRequest};
use super::props::PropCtx;
use super::resource::Resource;
use super::Req;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::{Collection, CollectionKind, DeadProperty, Item};
use crate::tree::{self, StorePath, Target};
use crate::xml::{escape_text, Element, NS_CALDAV, NS_CARDDAV, NS_DAV};
use actix_web::HttpResponse;
use std::cell::RefCell;
use std::collections::HashMap;

/// REPORT: dispatch on the body's root element.
pub async fn report(req: &Req<'_>, res: Resource) -> DavResult<HttpResponse> {
    let root = req.xml()?;
    let Some(kind) = ReportKind::of(&root) else {
        let (ns, name) = (&root.ns, &root.name);
        tracing::info!(report = %format!("{{{ns}}}{name}"), "unsupported REPORT");
        return Err(DavError::forbidden(
            Precondition::SupportedReport,
            format!("the REPORT {{{ns}}}{name} is not supported here"),
        ));
    };
    let minimal = wants_minimal(req.http.headers());
    let mut resp = match kind {
        ReportKind::CalendarMultiget | ReportKind::AddressbookMultiget => {
            multiget(req, &res, &root, minimal).await
        }
        ReportKind::CalendarQuery => query::calendar_query(req, &res, &root, minimal).await,
        ReportKind::AddressbookQuery => query::addressbook_query(req, &res, &root, minimal).await,
        // Not a multistatus: a VFREEBUSY (RFC 4791 §7.10) or a property list (RFC 3744 §9.5).
        ReportKind::FreeBusyQuery => return query::free_busy_query(req, &res, &root).await,
        ReportKind::PrincipalSearchPropertySet => return Ok(principal::search_property_set()),
        ReportKind::SyncCollection => sync::sync_collection(req, &res, &root, minimal).await,
        ReportKind::PrincipalPropertySearch => {
            principal::property_search(req, &root, minimal).await
        }
        ReportKind::ExpandProperty => principal::expand_property(req, &res, &root, minimal).await,
    }?;
    // RFC 8144 §3.1: every REPORT answered with a multistatus of properties.
    mark_preference(&mut resp, minimal);
    Ok(resp)
}

/// The `DAV:prop` of a REPORT body (allprop when absent).
pub fn prop_request(root: &Element) -> PropRequest {
    match root.child(NS_DAV, "prop") {
        Some(p) => PropRequest::from_prop(p),
        None if root.child(NS_DAV, "propname").is_some() => PropRequest::PropName,
        None => PropRequest::AllProp(Vec::new()),
    }
}

/// How the item data asked for in a REPORT's `prop` is rendered.
pub enum DataRequest {
    /// Not asked for.
    None,
    /// `calendar-data`.
    Calendar(crate::caldav::CalendarDataRequest),
    /// `address-data`.
    Address(crate::carddav::AddressDataRequest),
}

impl DataRequest {
    /// Parse from the REPORT's prop request.
    pub fn parse(pr: &PropRequest) -> DavResult<Self> {
        if let Some(el) = pr.find(NS_CALDAV, "calendar-data") {
            return crate::caldav::parse_calendar_data(el)
                .map(DataRequest::Calendar)
                .map_err(|e| DavError::forbidden(e.precondition(), e.to_string()));
        }
        if let Some(el) = pr.find(NS_CARDDAV, "address-data") {
            return crate::carddav::parse_address_data(el)
                .map(DataRequest::Address)
                .map_err(|e| DavError::forbidden(e.precondition(), e.to_string()));
        }
        Ok(DataRequest::None)
    }

    /// The computed property for one item.
    pub fn compute(&self, item: &Item, max_instances: usize) -> Option<Computed<'static>> {
        match self {
            DataRequest::None => None,
            DataRequest::Calendar(r) => Some(Computed {
                ns: NS_CALDAV,
                name: "calendar-data",
                value: std::str::from_utf8(&item.body).ok().map(|b| {
                    crate::caldav::render_calendar_data_xml(r, b, max_instances)
                }),
            }),
            DataRequest::Address(r) => Some(Computed {
                ns: NS_CARDDAV,
                name: "address-data",
                // A card that cannot be converted (never one that passed PUT validation)
                // shows as a 404 address-data for that item alone, not a failed REPORT.
                value: std::str::from_utf8(&item.body).ok().and_then(|b| {
                    crate::carddav::render_address_data(r, b)
                        .map_err(|e| {
                            tracing::warn!(item = %item.meta.name, error = %e,
                                precondition = e.precondition().name(), "address-data not rendered");
                        })
                        .ok()
                        .map(|s| escape_text(&s))
                }),
            }),
        }
    }
}

/// Renders item responses for a REPORT: the requested properties, item data and dead props.
pub struct ItemRenderer<'a> {
    /// Live property context.
    pub ctx: PropCtx<'a>,
    /// Recurrence expansion cap for calendar-data.
    pub max_instances: usize,
    /// The properties asked for.
    pub pr: &'a PropRequest,
    /// How item data is rendered.
    pub data: &'a DataRequest,
    /// Dead properties by path.
    pub dead: &'a HashMap<String, Vec<DeadProperty>>,
    /// The item resource and the collection's href, made once and reused for every item of
    /// the answer (a REPORT over 10,000 items otherwise clones the collection 10,000 times).
    pub scratch: RefCell<Option<(Resource, String)>>,
    /// The href and propstats buffers, reused for every item.
    buffers: RefCell<(String, PropStats)>,
}

impl<'a> ItemRenderer<'a> {
    /// A renderer for one REPORT answer, with the gateway's limits.
    pub fn new(
        state: &crate::app::AppState,
        principal: &'a crate::auth::Principal,
        pr: &'a PropRequest,
        data: &'a DataRequest,
        dead: &'a HashMap<String, Vec<DeadProperty>>,
    ) -> ItemRenderer<'a> {
        ItemRenderer {
            ctx: PropCtx {
                principal,
                max_resource_size: state.cfg.limits.max_resource_bytes,
                quota: None,
            },
            max_instances: state.cfg.limits.max_instances,
            pr,
            data,
            dead,
            scratch: Default::default(),
            buffers: Default::default(),
        }
    }

    /// Write one item's response.
    pub fn respond(&self, ms: &mut Multistatus, coll: &Collection, item: &Item) {
        self.respond_with(ms, coll, item, None);
    }

    /// [`Self::respond`] with the item's calendar-data already rendered (escaped), when the
    /// query that matched it made it.
    pub fn respond_with(
        &self,
        ms: &mut Multistatus,
        coll: &Collection,
        item: &Item,
        calendar_data: Option<String>,
    ) {
        let mut scratch = self.scratch.borrow_mut();
        let fresh = !matches!(&*scratch, Some((Resource::Item(c, _), _)) if c.id == coll.id);
        if fresh {
            *scratch = Some((
                Resource::Item(coll.clone(), item.meta.clone()),
                tree::href(&coll.path),
            ));
        }
        let Some((res, base)) = scratch.as_mut() else {
            return;
        };
        if let Resource::Item(_, meta) = res {
            if !fresh {
                meta.clone_from(&item.meta);
            }
        }
        let computed = match (calendar_data, self.data) {
            (Some(value), DataRequest::Calendar(_)) => Some(Computed {
                ns: NS_CALDAV,
                name: "calendar-data",
                value: Some(value),
            }),
            _ => self.data.compute(item, self.max_instances),
        };
        let mut buffers = self.buffers.borrow_mut();
        let (href, ps) = &mut *buffers;
        ps.clear();
        let d = if self.dead.is_empty() {
            &[][..]
        } else {
            let path = format!("{}{}", coll.path, item.meta.name);
            self.dead.get(&path).map(Vec::as_slice).unwrap_or(&[])
        };
        render_props(&self.ctx, res, d, self.pr, computed.as_ref(), ps);
        href.clear();
        tree::push_member_href(href, base, &item.meta.name);
        ms.propstat_response_of(href, ps);
    }
}

/// Members read per statement in a multiget: the bodies of one batch are what the answer
/// holds at a time (a multiget naming every card of an address book with photos would
/// otherwise hold them all, and the whole answer with them).
const MULTIGET_BATCH: usize = 32;

/// calendar-multiget (RFC 4791 §7.9) and addressbook-multiget (RFC 6352 §8.7). Streamed: the
/// members are read `MULTIGET_BATCH` at a time and written out as they are rendered.
async fn multiget(
    req: &Req<'_>,
    res: &Resource,
    root: &Element,
    minimal: bool,
) -> DavResult<HttpResponse> {
    let pr = prop_request(root);
    let data = DataRequest::parse(&pr)?;
    let hrefs: Vec<String> = root
        .children_named(NS_DAV, "href")
        .map(|h| h.text().trim().to_string())
        .collect();
    if hrefs.is_empty() {
        return Err(DavError::bad_request(
            "a multiget needs at least one DAV:href",
        ));
    }
    // Group the requested names by collection so each collection is read once.
    let mut by_coll: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut ms = Multistatus::new().minimal(minimal);
    for h in &hrefs {
        match tree::parse_href(h) {
            Ok(
                t @ Target::Store {
                    path: StorePath::Member(_),
                    ..
                },
            ) => {
                if super::resource::check_access(req.principal, &t).is_err() {
                    ms.status_response(h, 403, None);
                    continue;
                }
                let Target::Store {
                    path: StorePath::Member(m),
                    ..
                } = t
                else {
                    continue;
                };
                let (parent, name) = (m.collection.to_string(), m.name);
                match by_coll.iter_mut().find(|(p, _)| *p == parent) {
                    Some((_, v)) => v.push((name, h.clone())),
                    None => by_coll.push((parent, vec![(name, h.clone())])),
                }
            }
            _ => ms.status_response(h, 404, None),
        }
    }
    if let Resource::Collection(c) = res {
        tracing::debug!(collection = %c.path, n = hrefs.len(), "multiget");
    }
    drop(hrefs);
    let shared = req.shared.clone();
    let principal = req.principal.clone();
    Ok(super::stream::multistatus(move |sink| async move {
        let state = shared.as_ref();
        let tenant = principal.tenant.as_str();
        for (parent, names) in by_coll {
            let Some(coll) = state.store.collection(tenant, &parent).await? else {
                for (_, h) in &names {
                    ms.status_response(h, 404, None);
                }
                continue;
            };
            let dead = state.store.dead_props_under(tenant, &coll.path).await?;
            let renderer = ItemRenderer::new(state, &principal, &pr, &data, &dead);
            for batch in names.chunks(MULTIGET_BATCH) {
                let wanted: Vec<String> = batch.iter().map(|(n, _)| n.clone()).collect();
                let items = state.store.items_named(&coll, &wanted).await?;
                let by_name: HashMap<&str, &Item> =
                    items.iter().map(|i| (i.meta.name.as_str(), i)).collect();
                for (name, h) in batch {
                    match by_name.get(name.as_str()) {
                        Some(item) => renderer.respond(&mut ms, &coll, item),
                        None => ms.status_response(h, 404, None),
                    }
                    if ms.pending_bytes() >= super::stream::LARGE_CHUNK
                        && !sink.send(ms.take()).await
                    {
                        return Ok(());
                    }
                }
            }
        }
        sink.finish(ms.close()).await;
        Ok(())
    })
    .await)
}

/// The collection a query runs over, or the single item it tests.
pub fn query_scope(res: &Resource, kind: CollectionKind) -> DavResult<(&Collection, Option<&str>)> {
    match res {
        Resource::Collection(c) if c.kind == kind => Ok((c, None)),
        Resource::Item(c, m) if c.kind == kind => Ok((c, Some(m.name.as_str()))),
        _ => Err(DavError::forbidden(
            Precondition::SupportedReport,
            "this REPORT is not supported on this resource",
        )),
    }
}
