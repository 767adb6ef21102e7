//! People linked to CRM users: the tenant file's people matched to the CRM's user list by
//! e-mail (ASCII case-insensitive; inactive CRM users are never linked, and an address two
//! active CRM users share links nobody). Two sources override the match: a link an
//! administrator stored with `crmdav link` (in the state store, so every instance sees it), and
//! above both, a `crm_id` in the tenant file. The tenant re-reads the list and the stored links
//! once per `users_ttl_secs`; `crmdav users` prints the same result with the reasons.

use super::scope::Person;
use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, CrmUser};
use crate::store::{DbError, Store};
use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

/// The state store key (per tenant) of the links stored with `crmdav link`: a JSON object
/// from person to CRM user id.
const LINKS_KEY: &str = "people.links";

/// The longest CRM user id `crmdav link` accepts.
pub const MAX_CRM_ID: usize = 200;

/// Links stored with `crmdav link`, person → CRM user id.
pub type StoredLinks = BTreeMap<String, String>;

/// Why a stored link could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum LinkStoreError {
    /// The state store failed.
    #[error("state store: {0}")]
    Store(#[from] DbError),
    /// The stored value is not a JSON object of strings.
    #[error("the stored links of tenant {0} are not readable: {1}")]
    Corrupt(String, String),
    /// The CRM user id is empty, too long or has control characters.
    #[error("a CRM user id is 1 to {MAX_CRM_ID} characters without control characters")]
    BadId,
}

/// The links stored for `tenant` with `crmdav link`.
pub async fn stored_links(store: &Store, tenant: &str) -> Result<StoredLinks, LinkStoreError> {
    match store.kv_get(tenant, LINKS_KEY).await? {
        None => Ok(StoredLinks::new()),
        Some(v) => serde_json::from_str(&v)
            .map_err(|e| LinkStoreError::Corrupt(tenant.to_string(), e.to_string())),
    }
}

/// Link `person` of `tenant` to CRM user `crm_id` (`Some`), or remove the stored link
/// (`None`). Returns the link it replaced. Read, change and write: two administrators linking
/// at the same instant may lose one change (rerun `crmdav users` to see).
pub async fn store_link(
    store: &Store,
    tenant: &str,
    person: &str,
    crm_id: Option<&str>,
) -> Result<Option<String>, LinkStoreError> {
    if let Some(id) = crm_id {
        if id.trim().is_empty() || id.len() > MAX_CRM_ID || id.chars().any(char::is_control) {
            return Err(LinkStoreError::BadId);
        }
    }
    let mut links = stored_links(store, tenant).await?;
    let old = match crm_id {
        Some(id) => links.insert(person.to_string(), id.trim().to_string()),
        None => links.remove(person),
    };
    let v = serde_json::to_string(&links)
        .map_err(|e| LinkStoreError::Corrupt(tenant.to_string(), e.to_string()))?;
    store.kv_set(tenant, LINKS_KEY, &v).await?;
    Ok(old)
}

/// How a person is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// `crm_id` in the tenant file.
    Explicit(String),
    /// Stored with `crmdav link`.
    Stored(String),
    /// The one active CRM user with the person's e-mail address.
    ByEmail(String),
}

/// Why a person is not linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unlinked {
    /// The tenant file gives neither a `crm_id` nor an e-mail address.
    NoEmail,
    /// The connector definition has no `[users]` listing to match against.
    NoUsersListing,
    /// The CRM's user list could not be read.
    ListingFailed(String),
    /// No CRM user has the address.
    NoCrmUser(String),
    /// Only inactive CRM users have the address.
    Inactive(String, Vec<String>),
    /// Several active CRM users have the address.
    Ambiguous(String, Vec<String>),
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Link::Explicit(id) => write!(f, "CRM user {id} (crm_id in the tenant file)"),
            Link::Stored(id) => write!(f, "CRM user {id} (linked with `crmdav link`)"),
            Link::ByEmail(id) => write!(f, "CRM user {id} (by e-mail)"),
        }
    }
}

impl fmt::Display for Unlinked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unlinked::NoEmail => write!(f, "no e-mail address and no crm_id in the tenant file"),
            Unlinked::NoUsersListing => write!(
                f,
                "no crm_id in the tenant file, and the connector has no users listing to match the e-mail address against"
            ),
            Unlinked::ListingFailed(e) => write!(f, "the CRM's user list could not be read: {e}"),
            Unlinked::NoCrmUser(m) => write!(f, "no CRM user has the e-mail address {m}"),
            Unlinked::Inactive(m, ids) => write!(
                f,
                "the CRM user with {m} is inactive ({})",
                ids.join(", ")
            ),
            Unlinked::Ambiguous(m, ids) => write!(
                f,
                "{} active CRM users have the e-mail address {m} ({}); set crm_id in the tenant file",
                ids.len(),
                ids.join(", ")
            ),
        }
    }
}

/// One person's link, as `crmdav users` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkReport {
    /// The person, with `crm_id` (and a team from the CRM) filled when linked.
    pub person: Person,
    /// The link, or why there is none.
    pub link: Result<Link, Unlinked>,
}

/// Link `configured` people to `crm` users (`None`: the definition has no users listing),
/// with the links `stored` by `crmdav link` overriding the e-mail match.
pub fn link_people(
    configured: &[Person],
    crm: Option<&Result<Vec<CrmUser>, String>>,
    stored: &StoredLinks,
) -> Vec<LinkReport> {
    configured
        .iter()
        .map(|p| {
            let mut person = p.clone();
            let link = link_one(p, crm, stored.get(&p.name));
            if let Ok(l) = &link {
                let id = match l {
                    Link::Explicit(id) | Link::Stored(id) | Link::ByEmail(id) => id.clone(),
                };
                if person.team_id.is_none() {
                    person.team_id = crm
                        .and_then(|r| r.as_ref().ok())
                        .and_then(|us| us.iter().find(|u| u.id == id))
                        .and_then(|u| u.team_id.clone());
                }
                person.crm_id = Some(id);
            }
            LinkReport { person, link }
        })
        .collect()
}

fn link_one(
    p: &Person,
    crm: Option<&Result<Vec<CrmUser>, String>>,
    stored: Option<&String>,
) -> Result<Link, Unlinked> {
    if let Some(id) = p.crm_id.as_ref().filter(|i| !i.is_empty()) {
        return Ok(Link::Explicit(id.clone()));
    }
    if let Some(id) = stored.filter(|i| !i.is_empty()) {
        return Ok(Link::Stored(id.clone()));
    }
    let email = p
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .ok_or(Unlinked::NoEmail)?;
    let users = match crm {
        None => return Err(Unlinked::NoUsersListing),
        Some(Err(e)) => return Err(Unlinked::ListingFailed(e.clone())),
        Some(Ok(u)) => u,
    };
    let same: Vec<&CrmUser> = users
        .iter()
        .filter(|u| {
            u.email
                .as_deref()
                .is_some_and(|m| m.trim().eq_ignore_ascii_case(email))
        })
        .collect();
    let active: Vec<String> = same
        .iter()
        .filter(|u| u.active)
        .map(|u| u.id.clone())
        .collect();
    match active.as_slice() {
        [one] => Ok(Link::ByEmail(one.clone())),
        [] if same.is_empty() => Err(Unlinked::NoCrmUser(email.to_string())),
        [] => Err(Unlinked::Inactive(
            email.to_string(),
            same.iter().map(|u| u.id.clone()).collect(),
        )),
        _ => Err(Unlinked::Ambiguous(email.to_string(), active)),
    }
}

impl CrmTenant {
    /// Re-link the tenant's people when the links are older than `users_ttl_secs`: the links
    /// stored with `crmdav link` (one state-store read) and, where the definition has a users
    /// listing, the CRM's user list (one listing per TTL, shared by every person). A failure
    /// keeps the last links and is retried after a minute.
    pub async fn ensure_people(&self) {
        let listing = self.connector.has_users_listing();
        let links = self.link_store();
        if !listing && links.is_none() {
            return;
        }
        let ttl = Duration::from_secs(self.opts.users_ttl_secs);
        let fresh = |c: &Option<(Instant, bool)>| match c {
            Some((t, ok)) => {
                t.elapsed()
                    < if *ok {
                        ttl
                    } else {
                        ttl.min(Duration::from_secs(60))
                    }
            }
            None => false,
        };
        if fresh(&self.users_checked.lock().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        let _g = self.users_lock.lock().await;
        if fresh(&self.users_checked.lock().unwrap_or_else(|p| p.into_inner())) {
            return;
        }
        let started = Instant::now();
        let ok = self.relink(listing, links.as_deref()).await;
        *self.users_checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((started, ok));
    }

    /// Read the stored links and the CRM's user list and link everyone; false (the last links
    /// stand) when either could not be read.
    async fn relink(&self, listing: bool, links: Option<&Store>) -> bool {
        let stored = match links {
            Some(store) => match stored_links(store, &self.name).await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(tenant = %self.name, error = %e, "the stored people links could not be read; the last links stand");
                    return false;
                }
            },
            None => StoredLinks::new(),
        };
        let users = if listing {
            let listed: Result<Vec<CrmUser>, ConnectorError> = self.connector.list_users().await;
            self.user_listings
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match listed {
                Ok(u) => Some(Ok(u)),
                Err(e) => {
                    tracing::warn!(tenant = %self.name, error = %e, "the CRM's user list could not be read; the last links stand");
                    return false;
                }
            }
        } else {
            None
        };
        let reports = link_people(&self.configured(), users.as_ref(), &stored);
        let linked = reports.iter().filter(|r| r.link.is_ok()).count();
        for r in reports.iter().filter(|r| r.link.is_err()) {
            if let Err(why) = &r.link {
                tracing::info!(tenant = %self.name, person = %r.person.name, reason = %why, "not linked to a CRM user");
            }
        }
        tracing::debug!(tenant = %self.name, linked, people = reports.len(), "people linked to CRM users");
        self.set_linked(reports.into_iter().map(|r| r.person));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, email: Option<&str>, crm_id: Option<&str>) -> Person {
        Person {
            name: name.into(),
            email: email.map(String::from),
            crm_id: crm_id.map(String::from),
            team_id: None,
        }
    }

    fn u(id: &str, email: &str, active: bool) -> CrmUser {
        CrmUser {
            id: id.into(),
            email: Some(email.into()),
            active,
            team_id: Some(format!("team-{id}")),
            ..Default::default()
        }
    }

    #[test]
    fn people_link_by_email_with_reasons_when_they_do_not() {
        let people = [
            p("explicit", Some("x@x"), Some("9")),
            p("alice", Some("Alice@Firm.Example"), None),
            p("nomail", None, None),
            p("stranger", Some("s@firm.example"), None),
            p("gone", Some("gone@firm.example"), None),
            p("twice", Some("twice@firm.example"), None),
        ];
        let crm = Ok(vec![
            u("1", "alice@firm.example", true),
            u("2", "gone@firm.example", false),
            u("3", "twice@firm.example", true),
            u("4", "TWICE@firm.example", true),
            u("9", "x@x", true),
        ]);
        let mut stored = StoredLinks::new();
        // A stored link overrides the e-mail match but not the tenant file's crm_id.
        stored.insert("explicit".into(), "77".into());
        stored.insert("stranger".into(), "42".into());
        let r = link_people(&people, Some(&crm), &stored);
        let links: Vec<_> = r.iter().map(|r| r.link.clone()).collect();
        assert_eq!(
            links,
            [
                Ok(Link::Explicit("9".into())),
                Ok(Link::ByEmail("1".into())),
                Err(Unlinked::NoEmail),
                Ok(Link::Stored("42".into())),
                Err(Unlinked::Inactive(
                    "gone@firm.example".into(),
                    vec!["2".into()]
                )),
                Err(Unlinked::Ambiguous(
                    "twice@firm.example".into(),
                    vec!["3".into(), "4".into()]
                )),
            ]
        );
        assert_eq!(r[1].person.crm_id.as_deref(), Some("1"));
        assert_eq!(r[1].person.team_id.as_deref(), Some("team-1"));
        assert_eq!(r[2].person.crm_id, None);
        assert_eq!(r[3].person.crm_id.as_deref(), Some("42"));
        let none = link_people(&people[1..2], None, &StoredLinks::new());
        assert_eq!(none[0].link, Err(Unlinked::NoUsersListing));
        let r = link_people(&people[3..4], Some(&crm), &StoredLinks::new());
        assert_eq!(r[0].link, Err(Unlinked::NoCrmUser("s@firm.example".into())));
    }

    #[tokio::test]
    async fn links_are_stored_per_tenant_and_removed() {
        let store = Store::open("sqlite://:memory:").await.unwrap();
        assert!(stored_links(&store, "t").await.unwrap().is_empty());
        assert_eq!(
            store_link(&store, "t", "alice", Some(" 7 ")).await.unwrap(),
            None
        );
        assert_eq!(
            store_link(&store, "t", "alice", Some("8"))
                .await
                .unwrap()
                .as_deref(),
            Some("7")
        );
        store_link(&store, "t", "bob", Some("9")).await.unwrap();
        let l = stored_links(&store, "t").await.unwrap();
        assert_eq!(l.get("alice").map(String::as_str), Some("8"));
        assert!(stored_links(&store, "other").await.unwrap().is_empty());
        for bad in ["", "  ", "a\nb"] {
            assert!(matches!(
                store_link(&store, "t", "bob", Some(bad)).await,
                Err(LinkStoreError::BadId)
            ));
        }
        assert_eq!(
            store_link(&store, "t", "alice", None)
                .await
                .unwrap()
                .as_deref(),
            Some("8")
        );
        assert_eq!(stored_links(&store, "t").await.unwrap().len(), 1);
    }
}
