//! Live properties: what each resource says about itself (RFC 4918 §15, RFC 4791 §5.2,
//! RFC 6352 §6.2, RFC 6578 §4, RFC 5397, RFC 3744 §5).
//!
//! Every property the server knows is one entry of [`LIVE`]: its name, whether `allprop`
//! includes it, whether PROPPATCH may touch it, which resources have it and how its value
//! renders. A new live property is one new entry; PROPFIND, PROPPATCH, MKCOL and the
//! REPORTs read everything from the table.

use super::report::ReportKind;
use super::resource::Resource;
use crate::auth::Principal;
use crate::store::{CollectionKind, ItemMeta};
use crate::tree::{self, HomeKind};
use crate::xml::{escape_text, Element, XmlWriter, NS_CALDAV, NS_CARDDAV, NS_CS, NS_DAV};

/// A property name as a client sends it: namespace and local name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PropName {
    /// Namespace URI ("" when none).
    pub ns: String,
    /// Local name.
    pub name: String,
}

impl PropName {
    /// The name of an element (a property inside `DAV:prop`).
    pub fn of(e: &Element) -> Self {
        PropName {
            ns: e.ns.clone(),
            name: e.name.clone(),
        }
    }

    /// True when this is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
}

/// Everything needed to render live properties for one request.
pub struct PropCtx<'a> {
    /// Who is asking.
    pub principal: &'a Principal,
    /// `max-resource-size`.
    pub max_resource_size: usize,
    /// The asking user's byte quota and usage, when there is one and the request asked for
    /// the quota properties (reading it costs a query).
    pub quota: Option<UserQuota>,
}

/// A user's byte quota and what they use of it (RFC 4331).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserQuota {
    /// Bytes of item bodies stored across the user's collections.
    pub used: u64,
    /// The quota.
    pub limit: u64,
}

/// The quota properties (RFC 4331 §3, §4), which exist only where a quota is configured.
pub const QUOTA_PROPS: [&str; 2] = ["quota-available-bytes", "quota-used-bytes"];

/// How a live property's value is computed.
#[derive(Clone, Copy)]
pub enum Render {
    /// Its inner XML on a resource, `None` where the resource has no such property.
    Xml(fn(&PropCtx<'_>, &Resource) -> Option<String>),
    /// A text field of a member's metadata, as character data; members only. Written
    /// straight into the answer: a listing allocates nothing for it per member.
    ItemText(fn(&ItemMeta) -> &str),
    /// Inner XML that depends only on the kind of resource, made once: written without
    /// building it again per resource.
    Fixed(fn(&PropCtx<'_>, &Resource) -> Option<&'static str>),
}

/// One property the server knows.
pub struct LiveProp {
    /// Namespace.
    pub ns: &'static str,
    /// Local name.
    pub name: &'static str,
    /// Included in `allprop` (RFC 4918 §9.1: only the RFC 4918 properties; the expensive or
    /// client-specific ones must be asked for by name).
    pub allprop: bool,
    /// PROPPATCH and extended MKCOL refuse to set or remove it (403).
    pub protected: bool,
    /// Its value is a list of `DAV:href` that expand-property may follow (RFC 3253 §3.8).
    pub hrefs: bool,
    /// The resources that list it in `propname` and `allprop`.
    pub on: fn(&Resource) -> bool,
    /// Its value.
    pub render: Render,
}

impl LiveProp {
    /// A protected property, not in `allprop`, listed on the resources `on` says.
    const fn new(
        ns: &'static str,
        name: &'static str,
        on: fn(&Resource) -> bool,
        value: fn(&PropCtx<'_>, &Resource) -> Option<String>,
    ) -> Self {
        LiveProp {
            ns,
            name,
            allprop: false,
            protected: true,
            hrefs: false,
            on,
            render: Render::Xml(value),
        }
    }

    /// [`LiveProp::new`] whose value depends only on the kind of resource.
    const fn fixed(
        ns: &'static str,
        name: &'static str,
        on: fn(&Resource) -> bool,
        value: fn(&PropCtx<'_>, &Resource) -> Option<&'static str>,
    ) -> Self {
        LiveProp {
            render: Render::Fixed(value),
            ..LiveProp::new(ns, name, on, |_, _| None)
        }
    }

    /// A protected property of members whose value is the text of one metadata field.
    const fn item_text(ns: &'static str, name: &'static str, field: fn(&ItemMeta) -> &str) -> Self {
        LiveProp {
            render: Render::ItemText(field),
            ..LiveProp::new(ns, name, on::item, |_, _| None)
        }
    }

    /// Its inner XML on `res`, `None` where `res` has no such property.
    pub fn value(&self, ctx: &PropCtx<'_>, res: &Resource) -> Option<String> {
        match (self.render, res) {
            (Render::Xml(f), _) => f(ctx, res),
            (Render::Fixed(f), _) => f(ctx, res).map(str::to_owned),
            (Render::ItemText(f), Resource::Item(_, m)) => Some(escape_text(f(m))),
            (Render::ItemText(_), _) => None,
        }
    }

    /// Write the property with its value on `res` into `w` (as [`write_prop`] would write
    /// [`LiveProp::value`]); `false`, with nothing written, where `res` has none.
    pub fn write(&self, ctx: &PropCtx<'_>, res: &Resource, w: &mut XmlWriter) -> bool {
        match (self.render, res) {
            (Render::ItemText(f), Resource::Item(_, m)) => {
                let text = f(m);
                if text.is_empty() {
                    w.empty(self.ns, self.name);
                } else {
                    w.text_elem(self.ns, self.name, text);
                }
                true
            }
            (Render::ItemText(_), _) => false,
            (Render::Fixed(f), _) => match f(ctx, res) {
                Some(v) => {
                    write_prop(w, self.ns, self.name, v);
                    true
                }
                None => false,
            },
            (Render::Xml(f), _) => match f(ctx, res) {
                Some(v) => {
                    write_prop(w, self.ns, self.name, &v);
                    true
                }
                None => false,
            },
        }
    }

    /// A name PROPPATCH refuses although no resource here has it (the RFCs make it live).
    const fn reserved(ns: &'static str, name: &'static str) -> Self {
        LiveProp::new(ns, name, on::nowhere, |_, _| None)
    }

    /// Included in `allprop`.
    const fn in_allprop(self) -> Self {
        LiveProp {
            allprop: true,
            ..self
        }
    }

    /// PROPPATCH may set it (the value is kept as a dead property).
    const fn writable(self) -> Self {
        LiveProp {
            protected: false,
            ..self
        }
    }

    /// Its value is a list of hrefs.
    const fn href_valued(self) -> Self {
        LiveProp {
            hrefs: true,
            ..self
        }
    }
}

/// Which resources have a property.
mod on {
    use super::Resource;
    use crate::store::CollectionKind;

    pub fn any(_: &Resource) -> bool {
        true
    }
    pub fn nowhere(_: &Resource) -> bool {
        false
    }
    /// The resources the server names itself: root, context, principals, homes.
    pub fn named(r: &Resource) -> bool {
        !matches!(r, Resource::Collection(_) | Resource::Item(..))
    }
    /// The resources that describe the user (root and context stand in for the principal).
    pub fn principalish(r: &Resource) -> bool {
        matches!(
            r,
            Resource::Root | Resource::Context | Resource::Principal(_)
        )
    }
    pub fn principal(r: &Resource) -> bool {
        matches!(r, Resource::Principal(_))
    }
    pub fn collection(r: &Resource) -> bool {
        matches!(r, Resource::Collection(_))
    }
    /// Calendars and address books.
    pub fn dav_collection(r: &Resource) -> bool {
        matches!(r, Resource::Collection(c) if c.is_dav_collection())
    }
    pub fn calendar(r: &Resource) -> bool {
        matches!(r, Resource::Collection(c) if c.kind == CollectionKind::Calendar)
    }
    pub fn addressbook(r: &Resource) -> bool {
        matches!(r, Resource::Collection(c) if c.kind == CollectionKind::Addressbook)
    }
    pub fn item(r: &Resource) -> bool {
        matches!(r, Resource::Item(..))
    }
}

/// Every property the server knows, in the order `propname` and `allprop` list them.
///
/// The two dates have an entry for collections and one for items: collections list them
/// before their sync properties, items after the entity headers.
pub static LIVE: &[LiveProp] = &[
    LiveProp::new(NS_DAV, "resourcetype", on::any, resourcetype).in_allprop(),
    LiveProp::new(NS_DAV, "current-user-principal", on::any, |c, _| {
        Some(owner(c))
    })
    .href_valued(),
    LiveProp::fixed(NS_DAV, "current-user-privilege-set", on::any, privilege_set),
    LiveProp::fixed(NS_DAV, "supported-report-set", on::any, report_set),
    LiveProp::new(NS_DAV, "principal-collection-set", on::any, |_, _| {
        Some(href_el(&tree::href("principals/")))
    })
    .href_valued(),
    LiveProp::new(NS_DAV, "owner", on::any, |c, _| Some(owner(c))).href_valued(),
    LiveProp::new(NS_DAV, "displayname", on::named, displayname)
        .in_allprop()
        .writable(),
    LiveProp::new(NS_DAV, "principal-URL", on::principalish, |c, r| {
        on::principalish(r).then(|| owner(c))
    })
    .href_valued(),
    LiveProp::new(NS_CALDAV, "calendar-home-set", on::principalish, |c, r| {
        on::principalish(r).then(|| home(c, HomeKind::Calendars))
    })
    .href_valued(),
    LiveProp::new(
        NS_CARDDAV,
        "addressbook-home-set",
        on::principalish,
        |c, r| on::principalish(r).then(|| home(c, HomeKind::Addressbooks)),
    )
    .href_valued(),
    LiveProp::new(
        NS_CALDAV,
        "calendar-user-address-set",
        on::principalish,
        |c, r| {
            on::principalish(r).then(|| {
                let mut s = String::new();
                if let Some(e) = &c.principal.user.email {
                    s.push_str(&href_el(&format!("mailto:{e}")));
                }
                s.push_str(&owner(c));
                s
            })
        },
    ),
    // Not protected: PROPPATCH has always accepted it (and stored it as dead).
    LiveProp::new(NS_CALDAV, "calendar-user-type", on::principal, |_, r| {
        on::principal(r).then(|| "INDIVIDUAL".into())
    })
    .writable(),
    LiveProp::new(NS_DAV, "creationdate", on::collection, creationdate).in_allprop(),
    LiveProp::new(NS_DAV, "getlastmodified", on::collection, getlastmodified).in_allprop(),
    LiveProp::new(NS_DAV, "sync-token", on::dav_collection, |_, r| match r {
        Resource::Collection(c) if c.is_dav_collection() => Some(escape_text(&c.sync_token())),
        _ => None,
    }),
    LiveProp::new(NS_CS, "getctag", on::dav_collection, |_, r| match r {
        Resource::Collection(c) if c.is_dav_collection() => Some(escape_text(&c.ctag())),
        _ => None,
    }),
    LiveProp::new(
        NS_CALDAV,
        "supported-calendar-component-set",
        on::calendar,
        |_, r| match r {
            Resource::Collection(c) if c.kind == CollectionKind::Calendar => Some(
                c.components
                    .iter()
                    .map(|n| format!("<c:comp name=\"{}\"/>", escape_text(n)))
                    .collect(),
            ),
            _ => None,
        },
    ),
    LiveProp::new(
        NS_CALDAV,
        "supported-calendar-data",
        on::calendar,
        |_, r| {
            on::calendar(r)
                .then(|| "<c:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into())
        },
    ),
    LiveProp::new(NS_CALDAV, "max-resource-size", on::calendar, |c, r| {
        on::calendar(r).then(|| c.max_resource_size.to_string())
    }),
    // Not protected, and answered on address books too when asked by name: as it has always
    // behaved.
    LiveProp::new(
        NS_CALDAV,
        "supported-collation-set",
        on::calendar,
        |_, r| collations(r, "c"),
    )
    .writable(),
    LiveProp::new(
        NS_CARDDAV,
        "supported-address-data",
        on::addressbook,
        |_, r| {
            on::addressbook(r).then(|| {
                "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/>\
             <card:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>"
                    .into()
            })
        },
    ),
    LiveProp::new(NS_CARDDAV, "max-resource-size", on::addressbook, |c, r| {
        on::addressbook(r).then(|| c.max_resource_size.to_string())
    }),
    LiveProp::new(
        NS_CARDDAV,
        "supported-collation-set",
        on::addressbook,
        |_, r| collations(r, "card"),
    )
    .writable(),
    LiveProp::item_text(NS_DAV, "getetag", |m| &m.etag).in_allprop(),
    LiveProp::item_text(NS_DAV, "getcontenttype", |m| &m.content_type).in_allprop(),
    LiveProp::new(NS_DAV, "getcontentlength", on::item, |_, r| match r {
        Resource::Item(_, m) => Some(m.size.to_string()),
        _ => None,
    })
    .in_allprop(),
    LiveProp::new(NS_DAV, "getlastmodified", on::item, getlastmodified).in_allprop(),
    LiveProp::new(NS_DAV, "creationdate", on::item, creationdate).in_allprop(),
    // Live in the RFCs but not offered here: PROPPATCH must still refuse them.
    LiveProp::reserved(NS_DAV, "lockdiscovery"),
    LiveProp::reserved(NS_DAV, "supportedlock"),
    LiveProp::reserved(NS_DAV, "acl"),
    // RFC 4331 §3, §4: on the user's collections when a byte quota is set, answered when
    // asked by name (never in allprop; propname cannot tell whether a quota is set).
    LiveProp::new(NS_DAV, "quota-used-bytes", on::nowhere, |c, r| {
        quota_of(c, r).map(|q| q.used.to_string())
    }),
    LiveProp::new(NS_DAV, "quota-available-bytes", on::nowhere, |c, r| {
        quota_of(c, r).map(|q| q.limit.saturating_sub(q.used).to_string())
    }),
    LiveProp::reserved(NS_CALDAV, "min-date-time"),
    LiveProp::reserved(NS_CALDAV, "max-date-time"),
    LiveProp::reserved(NS_CALDAV, "max-instances"),
    LiveProp::reserved(NS_CALDAV, "calendar-data"),
    LiveProp::reserved(NS_CARDDAV, "address-data"),
];

/// The asking user's quota, on a collection of theirs.
fn quota_of(ctx: &PropCtx<'_>, res: &Resource) -> Option<UserQuota> {
    let Resource::Collection(c) = res else {
        return None;
    };
    let owner = c.path.split('/').nth(1)?;
    (owner == ctx.principal.user.name).then_some(ctx.quota?)
}

/// The entry for `{ns}name`. Looked up per property and member in a listing: the lengths of
/// the local names rule most entries out before any bytes are compared (most share `DAV:`).
pub fn find(ns: &str, name: &str) -> Option<&'static LiveProp> {
    LIVE.iter()
        .find(|p| p.name.len() == name.len() && p.name == name && p.ns == ns)
}

/// Properties that PROPPATCH may never change (RFC 4918 §15, and the CalDAV/CardDAV ones).
pub fn is_protected(ns: &str, name: &str) -> bool {
    find(ns, name).is_some_and(|p| p.protected)
}

/// The live properties `res` has, in listing order (for `propname` and `allprop`).
pub fn live_names(res: &Resource) -> impl Iterator<Item = &'static LiveProp> + '_ {
    LIVE.iter().filter(move |p| (p.on)(res))
}

/// True when `res` lists the live property `{ns}name`.
pub fn has_live(res: &Resource, ns: &str, name: &str) -> bool {
    live_names(res).any(|p| p.ns == ns && p.name == name)
}

/// Render the inner XML of live property `{ns}name` of `res`, or `None` when it has none.
pub fn live_value(ctx: &PropCtx<'_>, res: &Resource, ns: &str, name: &str) -> Option<String> {
    find(ns, name).and_then(|p| p.value(ctx, res))
}

/// Write `<{ns}name>inner</{ns}name>` for a live property.
pub fn write_prop(w: &mut XmlWriter, ns: &str, name: &str, inner: &str) {
    if inner.is_empty() {
        w.empty(ns, name);
    } else {
        w.open(ns, name);
        w.raw(inner);
        w.close(ns, name);
    }
}

fn fmt_http_date(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}

fn fmt_rfc3339(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

fn href_el(h: &str) -> String {
    format!("<d:href>{}</d:href>", escape_text(h))
}

/// The asking user's principal, as an href.
fn owner(ctx: &PropCtx<'_>) -> String {
    href_el(&tree::principal_href(&ctx.principal.user.name))
}

/// The asking user's home of `kind`, as an href.
fn home(ctx: &PropCtx<'_>, kind: HomeKind) -> String {
    href_el(&tree::href(&tree::home_path(
        kind,
        &ctx.principal.user.name,
    )))
}

fn resourcetype(_: &PropCtx<'_>, res: &Resource) -> Option<String> {
    Some(match res {
        Resource::Item(..) => String::new(),
        Resource::Principal(_) => "<d:collection/><d:principal/>".into(),
        Resource::Collection(c) => match c.kind {
            CollectionKind::Calendar => "<d:collection/><c:calendar/>".into(),
            CollectionKind::Addressbook => "<d:collection/><card:addressbook/>".into(),
            CollectionKind::Plain => "<d:collection/>".into(),
        },
        _ => "<d:collection/>".into(),
    })
}

fn displayname(ctx: &PropCtx<'_>, res: &Resource) -> Option<String> {
    match res {
        Resource::Principal(u) => Some(escape_text(ctx.principal.display_name_of(u).unwrap_or(u))),
        Resource::Root | Resource::Context => Some(env!("CARGO_PKG_NAME").into()),
        Resource::Principals => Some("Principals".into()),
        Resource::Homes(HomeKind::Calendars) => Some("Calendars".into()),
        Resource::Homes(HomeKind::Addressbooks) => Some("Address books".into()),
        // A collection's name is a dead property.
        _ => None,
    }
}

fn creationdate(_: &PropCtx<'_>, res: &Resource) -> Option<String> {
    match res {
        Resource::Collection(c) => Some(fmt_rfc3339(c.created)),
        Resource::Item(_, m) => Some(fmt_rfc3339(m.created)),
        _ => None,
    }
}

fn getlastmodified(_: &PropCtx<'_>, res: &Resource) -> Option<String> {
    match res {
        Resource::Collection(c) => Some(fmt_http_date(c.modified)),
        Resource::Item(_, m) => Some(fmt_http_date(m.modified)),
        _ => None,
    }
}

/// RFC 3744 §5.4: read-only outside the stored collections, and in the CRM collections of a
/// person whose CRM role may only read.
fn privilege_set(ctx: &PropCtx<'_>, res: &Resource) -> Option<&'static str> {
    const READ_ONLY: &str = "<d:privilege><d:read/></d:privilege>\
<d:privilege><d:read-current-user-privilege-set/></d:privilege>\
<d:privilege><c:read-free-busy/></d:privilege>";
    const STORED: &str = "<d:privilege><d:read/></d:privilege>\
<d:privilege><d:write/></d:privilege><d:privilege><d:write-properties/></d:privilege>\
<d:privilege><d:write-content/></d:privilege><d:privilege><d:bind/></d:privilege>\
<d:privilege><d:unbind/></d:privilege>\
<d:privilege><d:read-current-user-privilege-set/></d:privilege>\
<d:privilege><c:read-free-busy/></d:privilege>";
    const OUTSIDE: &str = "<d:privilege><d:read/></d:privilege>\
<d:privilege><d:read-current-user-privilege-set/></d:privilege>";
    Some(match res {
        Resource::Collection(c) | Resource::Item(c, _) if ctx.principal.reads_only(&c.path) => {
            READ_ONLY
        }
        Resource::Collection(_) | Resource::Item(..) => STORED,
        _ => OUTSIDE,
    })
}

/// RFC 3253 §3.1.5: the REPORTs each resource answers. They depend on the kind of resource
/// alone (five kinds), so each list is written once per process.
fn report_set(_: &PropCtx<'_>, res: &Resource) -> Option<&'static str> {
    static SETS: [std::sync::OnceLock<String>; 5] = [const { std::sync::OnceLock::new() }; 5];
    let class = match res {
        Resource::Item(..) => 0,
        Resource::Collection(c) => match c.kind {
            CollectionKind::Plain => 1,
            CollectionKind::Calendar => 2,
            CollectionKind::Addressbook => 3,
        },
        _ => 4,
    };
    let set = SETS[class].get_or_init(|| {
        let mut w = XmlWriter::default();
        for k in ReportKind::ALL.into_iter().filter(|k| k.offered_on(res)) {
            w.raw("<d:supported-report><d:report>");
            w.empty(k.ns(), k.name());
            w.raw("</d:report></d:supported-report>");
        }
        w.buf
    });
    Some(set.as_str())
}

/// The text-match collations (RFC 4791 §7.5.1, RFC 6352 §8.3), in prefix `p`'s namespace.
fn collations(res: &Resource, p: &str) -> Option<String> {
    on::dav_collection(res).then(|| {
        ["i;ascii-casemap", "i;unicode-casemap", "i;octet"]
            .iter()
            .map(|x| format!("<{p}:supported-collation>{x}</{p}:supported-collation>"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::NS_ICAL;

    #[test]
    fn protected_as_before() {
        for (ns, name) in [
            (NS_DAV, "resourcetype"),
            (NS_DAV, "getetag"),
            (NS_DAV, "lockdiscovery"),
            (NS_DAV, "sync-token"),
            (NS_DAV, "principal-URL"),
            (NS_DAV, "quota-available-bytes"),
            (NS_CALDAV, "calendar-data"),
            (NS_CALDAV, "max-resource-size"),
            (NS_CALDAV, "calendar-home-set"),
            (NS_CARDDAV, "max-resource-size"),
            (NS_CARDDAV, "address-data"),
            (NS_CS, "getctag"),
        ] {
            assert!(is_protected(ns, name), "{{{ns}}}{name}");
        }
        // The names clients set on collections are writable (kept as dead properties).
        for (ns, name) in [
            (NS_DAV, "displayname"),
            (NS_CALDAV, "calendar-description"),
            (NS_CALDAV, "calendar-timezone"),
            (NS_CALDAV, "schedule-calendar-transp"),
            (NS_CARDDAV, "addressbook-description"),
            (NS_ICAL, "calendar-color"),
            (NS_ICAL, "calendar-order"),
            (NS_CALDAV, "calendar-user-type"),
            (NS_CALDAV, "supported-collation-set"),
            (NS_CARDDAV, "supported-collation-set"),
            ("urn:x", "anything"),
        ] {
            assert!(!is_protected(ns, name), "{{{ns}}}{name}");
        }
    }

    fn collection(kind: CollectionKind) -> crate::store::Collection {
        crate::store::Collection {
            id: 1,
            path: "calendars/demo/x/".into(),
            kind,
            components: vec!["VEVENT".into()],
            seq: 0,
            min_seq: 0,
            instance: "i".into(),
            epoch: String::new(),
            prev: None,
            modified: 0,
            created: 0,
        }
    }

    fn meta() -> crate::store::ItemMeta {
        crate::store::ItemMeta {
            name: "a.ics".into(),
            content_type: "text/calendar".into(),
            etag: "\"e\"".into(),
            size: 1,
            modified: 0,
            created: 0,
        }
    }

    /// Every entry writes what its value renders (one rule per property, whichever way a
    /// caller asks), on every kind of resource, a member with characters to escape and one
    /// with an empty media type included.
    #[test]
    fn write_renders_the_value() {
        let principal = Principal {
            tenant: "t".into(),
            user: crate::auth::User {
                name: "demo".into(),
                display_name: Some("D & <o>".into()),
                email: Some("demo@example.com".into()),
            },
            read_only: std::sync::Arc::from(Vec::new()),
        };
        let ctx = PropCtx {
            principal: &principal,
            max_resource_size: 1024,
            quota: Some(UserQuota { used: 5, limit: 9 }),
        };
        let odd = crate::store::ItemMeta {
            etag: "\"a<&>\u{1}\"".into(),
            content_type: String::new(),
            ..meta()
        };
        let resources = [
            Resource::Root,
            Resource::Context,
            Resource::Principals,
            Resource::Principal("demo".into()),
            Resource::Homes(HomeKind::Calendars),
            Resource::Homes(HomeKind::Addressbooks),
            Resource::Collection(collection(CollectionKind::Calendar)),
            Resource::Collection(collection(CollectionKind::Addressbook)),
            Resource::Collection(collection(CollectionKind::Plain)),
            Resource::Item(collection(CollectionKind::Calendar), meta()),
            Resource::Item(collection(CollectionKind::Calendar), odd),
        ];
        let mut written_items = 0;
        for res in &resources {
            for p in LIVE {
                let mut direct = XmlWriter::default();
                let wrote = p.write(&ctx, res, &mut direct);
                let mut via_value = XmlWriter::default();
                let value = p.value(&ctx, res);
                if let Some(v) = &value {
                    write_prop(&mut via_value, p.ns, p.name, v);
                }
                assert_eq!(wrote, value.is_some(), "{{{}}}{}", p.ns, p.name);
                assert_eq!(
                    direct.buf, via_value.buf,
                    "{{{}}}{} on {res:?}",
                    p.ns, p.name
                );
                written_items += usize::from(wrote && matches!(res, Resource::Item(..)));
            }
        }
        assert!(
            written_items > 4,
            "members have live properties: {written_items}"
        );
        let mut w = XmlWriter::default();
        let etag = find(NS_DAV, "getetag").expect("getetag");
        assert!(etag.write(&ctx, &resources[10], &mut w));
        assert_eq!(w.buf, "<d:getetag>\"a&lt;&amp;&gt;\u{FFFD}\"</d:getetag>");
    }

    fn listed(res: &Resource) -> Vec<(&'static str, &'static str, bool)> {
        live_names(res).map(|p| (p.ns, p.name, p.allprop)).collect()
    }

    /// The order clients have always seen in `propname` and `allprop`.
    #[test]
    fn listing_order_per_resource() {
        let common = [
            (NS_DAV, "resourcetype", true),
            (NS_DAV, "current-user-principal", false),
            (NS_DAV, "current-user-privilege-set", false),
            (NS_DAV, "supported-report-set", false),
            (NS_DAV, "principal-collection-set", false),
            (NS_DAV, "owner", false),
        ];
        let with = |extra: &[(&'static str, &'static str, bool)]| {
            let mut v = common.to_vec();
            v.extend_from_slice(extra);
            v
        };
        let principalish = [
            (NS_DAV, "displayname", true),
            (NS_DAV, "principal-URL", false),
            (NS_CALDAV, "calendar-home-set", false),
            (NS_CARDDAV, "addressbook-home-set", false),
            (NS_CALDAV, "calendar-user-address-set", false),
        ];
        assert_eq!(listed(&Resource::Root), with(&principalish));
        assert_eq!(listed(&Resource::Context), with(&principalish));
        let mut principal = principalish.to_vec();
        principal.push((NS_CALDAV, "calendar-user-type", false));
        assert_eq!(
            listed(&Resource::Principal("demo".into())),
            with(&principal)
        );
        let named = [(NS_DAV, "displayname", true)];
        assert_eq!(listed(&Resource::Principals), with(&named));
        assert_eq!(listed(&Resource::Homes(HomeKind::Calendars)), with(&named));
        let dates = [
            (NS_DAV, "creationdate", true),
            (NS_DAV, "getlastmodified", true),
        ];
        let plain = Resource::Collection(collection(CollectionKind::Plain));
        assert_eq!(listed(&plain), with(&dates));
        let mut cal = dates.to_vec();
        cal.extend([
            (NS_DAV, "sync-token", false),
            (NS_CS, "getctag", false),
            (NS_CALDAV, "supported-calendar-component-set", false),
            (NS_CALDAV, "supported-calendar-data", false),
            (NS_CALDAV, "max-resource-size", false),
            (NS_CALDAV, "supported-collation-set", false),
        ]);
        let calendar = collection(CollectionKind::Calendar);
        assert_eq!(listed(&Resource::Collection(calendar.clone())), with(&cal));
        let mut card = dates.to_vec();
        card.extend([
            (NS_DAV, "sync-token", false),
            (NS_CS, "getctag", false),
            (NS_CARDDAV, "supported-address-data", false),
            (NS_CARDDAV, "max-resource-size", false),
            (NS_CARDDAV, "supported-collation-set", false),
        ]);
        let book = Resource::Collection(collection(CollectionKind::Addressbook));
        assert_eq!(listed(&book), with(&card));
        let item = Resource::Item(calendar, meta());
        assert_eq!(
            listed(&item),
            with(&[
                (NS_DAV, "getetag", true),
                (NS_DAV, "getcontenttype", true),
                (NS_DAV, "getcontentlength", true),
                (NS_DAV, "getlastmodified", true),
                (NS_DAV, "creationdate", true),
            ])
        );
    }

    #[test]
    fn supported_report_sets_as_before() {
        let set = |res: &Resource| {
            ReportKind::ALL
                .into_iter()
                .filter(|k| k.offered_on(res))
                .map(|k| k.name())
                .collect::<Vec<_>>()
        };
        let principal = [
            "expand-property",
            "principal-property-search",
            "principal-search-property-set",
        ];
        let cal = collection(CollectionKind::Calendar);
        let mut want = vec![
            "calendar-multiget",
            "calendar-query",
            "free-busy-query",
            "sync-collection",
        ];
        want.extend(principal);
        assert_eq!(set(&Resource::Collection(cal.clone())), want);
        let mut want = vec![
            "addressbook-multiget",
            "addressbook-query",
            "sync-collection",
        ];
        want.extend(principal);
        let book = Resource::Collection(collection(CollectionKind::Addressbook));
        assert_eq!(set(&book), want);
        let plain = Resource::Collection(collection(CollectionKind::Plain));
        assert_eq!(set(&plain), principal);
        assert_eq!(set(&Resource::Root), principal);
        let item = Resource::Item(cal, meta());
        assert_eq!(set(&item), ["expand-property"]);
    }

    #[test]
    fn one_entry_per_name_except_the_dates() {
        for p in LIVE {
            let twice = LIVE
                .iter()
                .filter(|q| q.ns == p.ns && q.name == p.name)
                .count()
                > 1;
            assert_eq!(
                twice,
                p.ns == NS_DAV && matches!(p.name, "creationdate" | "getlastmodified"),
                "{}",
                p.name
            );
        }
    }
}
