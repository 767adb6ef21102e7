//! PROPFIND (RFC 4918 §9.1) and the property rendering shared with REPORTs.

use super::multistatus::{mark_preference, wants_minimal, Multistatus, PropStats};
use super::props::{
    self, has_live, live_names, live_value, PropCtx, PropName, UserQuota, QUOTA_PROPS,
};
use super::resource::Resource;
use super::Req;
use crate::error::{DavError, DavResult, Precondition};
use crate::store::DeadProperty;
use crate::tree::HomeKind;
use crate::xml::{sanitize, Element, Node, XmlWriter, NS_DAV};
use actix_web::HttpResponse;
use std::collections::HashMap;

/// What a PROPFIND (or a REPORT's `prop`) asks for.
#[derive(Debug, Clone)]
pub enum PropRequest {
    /// `allprop`, with `include` names.
    AllProp(Vec<PropName>),
    /// `propname`.
    PropName,
    /// Named properties, as their elements: properties with parameters (`calendar-data`,
    /// `address-data`) are read from them.
    Prop(Vec<Element>),
}

impl PropRequest {
    /// Parse the `DAV:prop` element of a request.
    pub fn from_prop(prop: &Element) -> Self {
        PropRequest::Prop(prop.elements().cloned().collect())
    }

    /// The element asking for `{ns}name`, when asked by name.
    pub fn find(&self, ns: &str, name: &str) -> Option<&Element> {
        match self {
            PropRequest::Prop(v) => v.iter().find(|e| e.is(ns, name)),
            _ => None,
        }
    }
}

/// Parse a PROPFIND body (empty = allprop).
pub fn parse_propfind(req: &Req<'_>) -> DavResult<PropRequest> {
    if req.body.iter().all(u8::is_ascii_whitespace) {
        return Ok(PropRequest::AllProp(Vec::new()));
    }
    let mut root = req.xml()?;
    // The usual body names its properties: they are moved out of the parsed tree, not
    // copied.
    if root.is(NS_DAV, "propfind") {
        if let Some(prop) = root.children.iter_mut().find_map(|c| match c {
            Node::Element(e) if e.is(NS_DAV, "prop") => Some(e),
            _ => None,
        }) {
            return Ok(PropRequest::Prop(
                std::mem::take(&mut prop.children)
                    .into_iter()
                    .filter_map(|c| match c {
                        Node::Element(e) => Some(e),
                        Node::Text(_) => None,
                    })
                    .collect(),
            ));
        }
    }
    propfind_of(&root)
}

/// The request a parsed PROPFIND body makes (RFC 4918 §14.20).
pub fn propfind_of(root: &Element) -> DavResult<PropRequest> {
    if !root.is(NS_DAV, "propfind") {
        return Err(DavError::bad_request("the body is not a DAV:propfind"));
    }
    if let Some(p) = root.child(NS_DAV, "prop") {
        return Ok(PropRequest::from_prop(p));
    }
    if root.child(NS_DAV, "propname").is_some() {
        return Ok(PropRequest::PropName);
    }
    if root.child(NS_DAV, "allprop").is_some() {
        let include = root
            .child(NS_DAV, "include")
            .map(|i| i.elements().map(PropName::of).collect())
            .unwrap_or_default();
        return Ok(PropRequest::AllProp(include));
    }
    Err(DavError::bad_request(
        "DAV:propfind needs prop, allprop or propname",
    ))
}

/// A computed property value supplied by a REPORT (e.g. `calendar-data`).
pub struct Computed<'a> {
    /// Namespace.
    pub ns: &'a str,
    /// Local name.
    pub name: &'a str,
    /// Inner XML (already escaped); `None` = 404 for this resource.
    pub value: Option<String>,
}

/// Render the properties `pr` asks for of `res` into `ps`.
pub fn render_props(
    ctx: &PropCtx<'_>,
    res: &Resource,
    dead: &[DeadProperty],
    pr: &PropRequest,
    computed: Option<&Computed<'_>>,
    ps: &mut PropStats,
) {
    let mut w = XmlWriter::default();
    match pr {
        PropRequest::PropName => {
            for p in live_names(res) {
                w.empty(p.ns, p.name);
            }
            for DeadProperty { ns, name, .. } in dead {
                if !has_live(res, ns, name) {
                    w.empty(ns, name);
                }
            }
            ps.ok(&w.buf);
        }
        PropRequest::AllProp(include) => {
            for p in live_names(res) {
                if p.allprop || include.iter().any(|n| n.is(p.ns, p.name)) {
                    p.write(ctx, res, &mut w);
                }
            }
            for d in dead {
                if live_value(ctx, res, &d.ns, &d.name).is_none() {
                    // Stored before values were checked, it may hold what XML forbids.
                    w.raw(&sanitize(&d.value));
                }
            }
            ps.ok(&w.buf);
            for PropName { ns, name } in include {
                if !has_live(res, ns, name) && !dead.iter().any(|d| d.ns == *ns && d.name == *name)
                {
                    ps.not_found(ns, name);
                }
            }
        }
        PropRequest::Prop(list) => {
            for Element { ns, name, .. } in list {
                if let Some(c) = computed {
                    if c.ns == ns && c.name == name {
                        match &c.value {
                            Some(v) => props::write_prop(ps.ok_writer(), ns, name, v),
                            None => ps.not_found(ns, name),
                        }
                        continue;
                    }
                }
                if props::find(ns, name).is_some_and(|p| p.write(ctx, res, ps.ok_writer())) {
                    continue;
                }
                if let Some(DeadProperty { value: xml, .. }) =
                    dead.iter().find(|d| d.ns == *ns && d.name == *name)
                {
                    ps.ok(&sanitize(xml));
                } else {
                    ps.not_found(ns, name);
                }
            }
        }
    }
}

/// Children of a resource for Depth 1.
pub async fn children(req: &Req<'_>, res: &Resource) -> DavResult<Vec<Resource>> {
    let tenant = &req.principal.tenant;
    let user = &req.principal.user.name;
    Ok(match res {
        Resource::Root => vec![Resource::Context],
        Resource::Context => vec![
            Resource::Principals,
            Resource::Homes(HomeKind::Calendars),
            Resource::Homes(HomeKind::Addressbooks),
        ],
        Resource::Principals => vec![Resource::Principal(user.clone())],
        Resource::Homes(k) => {
            let path = crate::tree::home_path(*k, user);
            match req.state.store.collection(tenant, &path).await? {
                Some(c) => vec![Resource::Collection(c)],
                None => vec![],
            }
        }
        Resource::Principal(_) | Resource::Item(..) => vec![],
        Resource::Collection(c) => {
            let mut v: Vec<Resource> = req
                .state
                .store
                .child_collections(tenant, &c.path)
                .await?
                .into_iter()
                .map(Resource::Collection)
                .collect();
            for m in req.state.store.list_items(c).await? {
                v.push(Resource::Item(c.clone(), m));
            }
            v
        }
    })
}

/// The Depth header: 0, 1 or infinity (`None`).
pub fn depth(req: &Req<'_>, default_infinity: bool) -> DavResult<Option<u8>> {
    match req.header("depth").map(str::trim) {
        Some("0") => Ok(Some(0)),
        Some("1") => Ok(Some(1)),
        Some(d) if d.eq_ignore_ascii_case("infinity") => Ok(None),
        None if default_infinity => Ok(None),
        None => Ok(Some(0)),
        Some(other) => Err(DavError::bad_request(format!("bad Depth header '{other}'"))),
    }
}

/// PROPFIND.
pub async fn propfind(req: &Req<'_>, res: Resource) -> DavResult<HttpResponse> {
    let depth = match depth(req, true)? {
        Some(d) => d,
        None => {
            return Err(DavError::forbidden(
                Precondition::PropfindFiniteDepth,
                "Depth: infinity is not supported; use 0 or 1",
            ))
        }
    };
    let pr = parse_propfind(req)?;
    let minimal = wants_minimal(req.http.headers());
    let quota = user_quota(req, &pr).await?;
    let dead: HashMap<String, Vec<DeadProperty>> = match res.store_path() {
        Some(p) => {
            req.state
                .store
                .dead_props_under(&req.principal.tenant, &p)
                .await?
        }
        None => HashMap::new(),
    };
    if let (1, Resource::Collection(coll)) = (depth, &res) {
        let mut resp = stream_collection(req, coll.clone(), pr, dead, minimal, quota).await?;
        mark_preference(&mut resp, minimal);
        return Ok(resp);
    }
    let mut list = vec![res.clone()];
    if depth == 1 {
        list.extend(children(req, &res).await?);
    }
    let ctx = PropCtx {
        quota,
        ..req.prop_ctx()
    };
    let mut ms = Multistatus::new().minimal(minimal);
    for r in &list {
        respond(&ctx, r, &dead, &pr, &mut ms);
    }
    let mut resp = ms.finish();
    mark_preference(&mut resp, minimal);
    Ok(resp)
}

/// The user's byte quota and usage, when one is configured and `pr` names a quota property
/// (RFC 4331 §3, §4); only then is the usage read.
async fn user_quota(req: &Req<'_>, pr: &PropRequest) -> DavResult<Option<UserQuota>> {
    let Some(limit) = req.state.collections.quota().user_bytes else {
        return Ok(None);
    };
    let asked = QUOTA_PROPS.iter().any(|n| match pr {
        PropRequest::Prop(_) => pr.find(NS_DAV, n).is_some(),
        PropRequest::AllProp(include) => include.iter().any(|p| p.is(NS_DAV, n)),
        PropRequest::PropName => false,
    });
    if !asked {
        return Ok(None);
    }
    let (used, _) = req
        .state
        .collections
        .user_usage(req.tenant(), &req.principal.user.name)
        .await?;
    Ok(Some(UserQuota { used, limit }))
}

/// One resource's response in a PROPFIND.
fn respond(
    ctx: &PropCtx<'_>,
    r: &Resource,
    dead: &HashMap<String, Vec<DeadProperty>>,
    pr: &PropRequest,
    ms: &mut Multistatus,
) {
    respond_at(ctx, r, &r.href(), dead, pr, ms);
}

/// [`respond`] with the href already made.
fn respond_at(
    ctx: &PropCtx<'_>,
    r: &Resource,
    href: &str,
    dead: &HashMap<String, Vec<DeadProperty>>,
    pr: &PropRequest,
    ms: &mut Multistatus,
) {
    respond_with(ctx, r, href, dead, pr, &mut PropStats::default(), ms);
}

/// [`respond_at`] rendering into `ps` (cleared first), which a listing reuses for every
/// member.
fn respond_with(
    ctx: &PropCtx<'_>,
    r: &Resource,
    href: &str,
    dead: &HashMap<String, Vec<DeadProperty>>,
    pr: &PropRequest,
    ps: &mut PropStats,
    ms: &mut Multistatus,
) {
    ps.clear();
    // Most collections have no dead properties: then no member's path is made to look up.
    let d = if dead.is_empty() {
        None
    } else {
        r.store_path().and_then(|p| dead.get(&p))
    };
    render_props(ctx, r, d.map_or(&[], Vec::as_slice), pr, None, ps);
    ms.propstat_response_of(href, ps);
}

/// PROPFIND Depth 1 on a stored collection, streamed: members are read from the store row by
/// row and sent in chunks, so memory does not grow with the collection.
async fn stream_collection(
    req: &Req<'_>,
    coll: crate::store::Collection,
    pr: PropRequest,
    dead: HashMap<String, Vec<DeadProperty>>,
    minimal: bool,
    quota: Option<UserQuota>,
) -> DavResult<HttpResponse> {
    let subs = req
        .state
        .store
        .child_collections(req.tenant(), &coll.path)
        .await?;
    let shared = req.shared.clone();
    let principal = req.principal.clone();
    Ok(super::stream::multistatus(move |sink| async move {
        use futures_util::StreamExt;
        let state = shared.as_ref();
        let ctx = PropCtx {
            principal: &principal,
            max_resource_size: state.cfg.limits.max_resource_bytes,
            quota,
        };
        let mut ms = Multistatus::new().minimal(minimal);
        // One set of propstats for every response of the listing.
        let mut ps = PropStats::default();
        // The collection's href is encoded once; per member only its name.
        let base = crate::tree::href(&coll.path);
        let this = Resource::Collection(coll.clone());
        respond_with(&ctx, &this, &base, &dead, &pr, &mut ps, &mut ms);
        for c in subs {
            let r = Resource::Collection(c);
            respond_with(&ctx, &r, &r.href(), &dead, &pr, &mut ps, &mut ms);
        }
        let mut rows = state.store.stream_items(&coll, false);
        // One item resource for every row: the collection is cloned once, not per member.
        let mut res: Option<Resource> = None;
        // Likewise one href buffer.
        let mut href = String::new();
        while let Some(item) = rows.next().await {
            let item = item?;
            href.clear();
            crate::tree::push_member_href(&mut href, &base, &item.meta.name);
            match &mut res {
                Some(Resource::Item(_, meta)) => *meta = item.meta,
                _ => res = Some(Resource::Item(coll.clone(), item.meta)),
            }
            let Some(res) = res.as_ref() else { continue };
            respond_with(&ctx, res, &href, &dead, &pr, &mut ps, &mut ms);
            if ms.pending_bytes() >= super::stream::CHUNK && !sink.send(ms.take()).await {
                return Ok(());
            }
        }
        sink.finish(ms.close()).await;
        Ok(())
    })
    .await)
}
