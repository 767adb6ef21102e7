//! Live properties: what each resource says about itself (RFC 4918 §15, RFC 4791 §5.2,
//! RFC 6352 §6.2, RFC 6578 §4, RFC 5397, RFC 3744 §5).

use super::resource::Resource;
use crate::auth::Principal;
use crate::store::CollectionKind;
use crate::tree::{self, HomeKind};
use crate::xml::{escape_text, XmlWriter, NS_CALDAV, NS_CARDDAV, NS_CS, NS_DAV, NS_ICAL};

/// A property name.
pub type PropName = (String, String);

/// Properties that PROPPATCH may never change (RFC 4918 §15, and the CalDAV/CardDAV ones).
pub fn is_protected(ns: &str, name: &str) -> bool {
    match ns {
        NS_DAV => matches!(
            name,
            "resourcetype"
                | "getetag"
                | "getcontentlength"
                | "getcontenttype"
                | "getlastmodified"
                | "creationdate"
                | "lockdiscovery"
                | "supportedlock"
                | "sync-token"
                | "current-user-principal"
                | "current-user-privilege-set"
                | "principal-URL"
                | "owner"
                | "supported-report-set"
                | "principal-collection-set"
                | "acl"
                | "quota-used-bytes"
                | "quota-available-bytes"
        ),
        NS_CALDAV => matches!(
            name,
            "supported-calendar-component-set"
                | "supported-calendar-data"
                | "max-resource-size"
                | "calendar-home-set"
                | "calendar-user-address-set"
                | "min-date-time"
                | "max-date-time"
                | "max-instances"
                | "calendar-data"
        ),
        NS_CARDDAV => matches!(
            name,
            "supported-address-data"
                | "max-resource-size"
                | "addressbook-home-set"
                | "address-data"
        ),
        NS_CS => name == "getctag",
        _ => false,
    }
}

/// Names stored as dead properties but given meaning by clients: writable, kept verbatim.
pub fn is_writable_meta(ns: &str, name: &str) -> bool {
    matches!(
        (ns, name),
        (NS_DAV, "displayname")
            | (NS_CALDAV, "calendar-description")
            | (NS_CALDAV, "calendar-timezone")
            | (NS_CALDAV, "schedule-calendar-transp")
            | (NS_CARDDAV, "addressbook-description")
            | (NS_ICAL, "calendar-color")
            | (NS_ICAL, "calendar-order")
    )
}

/// Everything needed to render live properties for one request.
pub struct PropCtx<'a> {
    /// Who is asking.
    pub principal: &'a Principal,
    /// `max-resource-size`.
    pub max_resource_size: usize,
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

fn privileges(names: &[(&str, &str)]) -> String {
    names
        .iter()
        .map(|(p, n)| format!("<d:privilege><{p}:{n}/></d:privilege>"))
        .collect()
}

fn reports(names: &[(&str, &str)]) -> String {
    names
        .iter()
        .map(|(p, n)| {
            format!("<d:supported-report><d:report><{p}:{n}/></d:report></d:supported-report>")
        })
        .collect()
}

/// The names of the live properties a resource has (for `propname` and `allprop`).
/// The second element says whether `allprop` includes it (RFC 4918 §9.1: only the RFC 4918
/// properties; the expensive or client-specific ones must be asked for by name).
pub fn live_names(res: &Resource) -> Vec<(&'static str, &'static str, bool)> {
    let mut v = vec![
        (NS_DAV, "resourcetype", true),
        (NS_DAV, "current-user-principal", false),
        (NS_DAV, "current-user-privilege-set", false),
        (NS_DAV, "supported-report-set", false),
        (NS_DAV, "principal-collection-set", false),
        (NS_DAV, "owner", false),
    ];
    match res {
        Resource::Root | Resource::Context | Resource::Principal(_) => {
            v.extend([
                (NS_DAV, "displayname", true),
                (NS_DAV, "principal-URL", false),
                (NS_CALDAV, "calendar-home-set", false),
                (NS_CARDDAV, "addressbook-home-set", false),
                (NS_CALDAV, "calendar-user-address-set", false),
            ]);
            if matches!(res, Resource::Principal(_)) {
                v.push((NS_CALDAV, "calendar-user-type", false));
            }
        }
        Resource::Principals | Resource::Homes(_) => v.push((NS_DAV, "displayname", true)),
        Resource::Collection(c) => {
            v.extend([
                (NS_DAV, "creationdate", true),
                (NS_DAV, "getlastmodified", true),
            ]);
            match c.kind {
                CollectionKind::Calendar => v.extend([
                    (NS_DAV, "sync-token", false),
                    (NS_CS, "getctag", false),
                    (NS_CALDAV, "supported-calendar-component-set", false),
                    (NS_CALDAV, "supported-calendar-data", false),
                    (NS_CALDAV, "max-resource-size", false),
                    (NS_CALDAV, "supported-collation-set", false),
                ]),
                CollectionKind::Addressbook => v.extend([
                    (NS_DAV, "sync-token", false),
                    (NS_CS, "getctag", false),
                    (NS_CARDDAV, "supported-address-data", false),
                    (NS_CARDDAV, "max-resource-size", false),
                    (NS_CARDDAV, "supported-collation-set", false),
                ]),
                CollectionKind::Plain => {}
            }
        }
        Resource::Item(..) => v.extend([
            (NS_DAV, "getetag", true),
            (NS_DAV, "getcontenttype", true),
            (NS_DAV, "getcontentlength", true),
            (NS_DAV, "getlastmodified", true),
            (NS_DAV, "creationdate", true),
        ]),
    }
    v
}

/// Render the inner XML of live property `{ns}name` of `res`, or `None` when it has none.
pub fn live_value(ctx: &PropCtx<'_>, res: &Resource, ns: &str, name: &str) -> Option<String> {
    let user = &ctx.principal.user.name;
    let is_principalish = matches!(
        res,
        Resource::Root | Resource::Context | Resource::Principal(_)
    );
    let owner_href = || href_el(&tree::principal_href(user));
    match (ns, name) {
        (NS_DAV, "resourcetype") => Some(match res {
            Resource::Item(..) => String::new(),
            Resource::Principal(_) => "<d:collection/><d:principal/>".into(),
            Resource::Collection(c) => match c.kind {
                CollectionKind::Calendar => "<d:collection/><c:calendar/>".into(),
                CollectionKind::Addressbook => "<d:collection/><card:addressbook/>".into(),
                CollectionKind::Plain => "<d:collection/>".into(),
            },
            _ => "<d:collection/>".into(),
        }),
        (NS_DAV, "current-user-principal") => Some(owner_href()),
        (NS_DAV, "principal-URL") if is_principalish => Some(owner_href()),
        (NS_DAV, "owner") => Some(owner_href()),
        (NS_DAV, "principal-collection-set") => Some(href_el(&tree::href("principals/"))),
        (NS_DAV, "displayname") => match res {
            Resource::Principal(u) => {
                Some(escape_text(ctx.principal.display_name_of(u).unwrap_or(u)))
            }
            Resource::Root | Resource::Context => Some("crmdav".into()),
            Resource::Principals => Some("Principals".into()),
            Resource::Homes(HomeKind::Calendars) => Some("Calendars".into()),
            Resource::Homes(HomeKind::Addressbooks) => Some("Address books".into()),
            _ => None,
        },
        (NS_CALDAV, "calendar-home-set") if is_principalish => Some(href_el(&tree::href(
            &tree::home_path(HomeKind::Calendars, user),
        ))),
        (NS_CARDDAV, "addressbook-home-set") if is_principalish => Some(href_el(&tree::href(
            &tree::home_path(HomeKind::Addressbooks, user),
        ))),
        (NS_CALDAV, "calendar-user-address-set") if is_principalish => {
            let mut s = String::new();
            if let Some(e) = &ctx.principal.user.email {
                s.push_str(&href_el(&format!("mailto:{e}")));
            }
            s.push_str(&owner_href());
            Some(s)
        }
        (NS_CALDAV, "calendar-user-type") if matches!(res, Resource::Principal(_)) => {
            Some("INDIVIDUAL".into())
        }
        (NS_DAV, "current-user-privilege-set") => Some(match res {
            Resource::Root
            | Resource::Context
            | Resource::Principals
            | Resource::Homes(_)
            | Resource::Principal(_) => {
                privileges(&[("d", "read"), ("d", "read-current-user-privilege-set")])
            }
            _ => privileges(&[
                ("d", "read"),
                ("d", "write"),
                ("d", "write-properties"),
                ("d", "write-content"),
                ("d", "bind"),
                ("d", "unbind"),
                ("d", "read-current-user-privilege-set"),
                ("c", "read-free-busy"),
            ]),
        }),
        (NS_DAV, "supported-report-set") => Some(match res {
            Resource::Collection(c) if c.kind == CollectionKind::Calendar => reports(&[
                ("c", "calendar-multiget"),
                ("c", "calendar-query"),
                ("c", "free-busy-query"),
                ("d", "sync-collection"),
                ("d", "expand-property"),
                ("d", "principal-property-search"),
                ("d", "principal-search-property-set"),
            ]),
            Resource::Collection(c) if c.kind == CollectionKind::Addressbook => reports(&[
                ("card", "addressbook-multiget"),
                ("card", "addressbook-query"),
                ("d", "sync-collection"),
                ("d", "expand-property"),
                ("d", "principal-property-search"),
                ("d", "principal-search-property-set"),
            ]),
            Resource::Item(..) => reports(&[("d", "expand-property")]),
            _ => reports(&[
                ("d", "expand-property"),
                ("d", "principal-property-search"),
                ("d", "principal-search-property-set"),
            ]),
        }),
        (NS_DAV, "creationdate") => match res {
            Resource::Collection(c) => Some(fmt_rfc3339(c.created)),
            Resource::Item(_, m) => Some(fmt_rfc3339(m.created)),
            _ => None,
        },
        (NS_DAV, "getlastmodified") => match res {
            Resource::Collection(c) => Some(fmt_http_date(c.modified)),
            Resource::Item(_, m) => Some(fmt_http_date(m.modified)),
            _ => None,
        },
        (NS_DAV, "getetag") => match res {
            Resource::Item(_, m) => Some(escape_text(&m.etag)),
            _ => None,
        },
        (NS_DAV, "getcontenttype") => match res {
            Resource::Item(_, m) => Some(escape_text(&m.content_type)),
            _ => None,
        },
        (NS_DAV, "getcontentlength") => match res {
            Resource::Item(_, m) => Some(m.size.to_string()),
            _ => None,
        },
        (NS_DAV, "sync-token") => match res {
            Resource::Collection(c) if c.is_dav_collection() => Some(escape_text(&c.sync_token())),
            _ => None,
        },
        (NS_CS, "getctag") => match res {
            Resource::Collection(c) if c.is_dav_collection() => Some(escape_text(&c.ctag())),
            _ => None,
        },
        (NS_CALDAV, "supported-calendar-component-set") => match res {
            Resource::Collection(c) if c.kind == CollectionKind::Calendar => Some(
                c.components
                    .iter()
                    .map(|n| format!("<c:comp name=\"{}\"/>", escape_text(n)))
                    .collect(),
            ),
            _ => None,
        },
        (NS_CALDAV, "supported-calendar-data") => match res {
            Resource::Collection(c) if c.kind == CollectionKind::Calendar => {
                Some("<c:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into())
            }
            _ => None,
        },
        (NS_CARDDAV, "supported-address-data") => match res {
            Resource::Collection(c) if c.kind == CollectionKind::Addressbook => Some(
                "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/>\
                 <card:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>"
                    .into(),
            ),
            _ => None,
        },
        (NS_CALDAV, "max-resource-size") => match res {
            Resource::Collection(c) if c.kind == CollectionKind::Calendar => {
                Some(ctx.max_resource_size.to_string())
            }
            _ => None,
        },
        (NS_CARDDAV, "max-resource-size") => match res {
            Resource::Collection(c) if c.kind == CollectionKind::Addressbook => {
                Some(ctx.max_resource_size.to_string())
            }
            _ => None,
        },
        (NS_CALDAV, "supported-collation-set") | (NS_CARDDAV, "supported-collation-set") => {
            let p = if ns == NS_CALDAV { "c" } else { "card" };
            match res {
                Resource::Collection(c) if c.is_dav_collection() => Some(
                    ["i;ascii-casemap", "i;unicode-casemap", "i;octet"]
                        .iter()
                        .map(|x| format!("<{p}:supported-collation>{x}</{p}:supported-collation>"))
                        .collect(),
                ),
                _ => None,
            }
        }
        _ => None,
    }
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
