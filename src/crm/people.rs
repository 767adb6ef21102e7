//! People linked to CRM users: the tenant file's people (an explicit `crm_id` wins) matched to
//! the CRM's user list by e-mail (ASCII case-insensitive; inactive CRM users are never linked,
//! and an address two active CRM users share links nobody). The tenant re-reads the list once
//! per `users_ttl_secs`; `crmdav users` prints the same result with the reasons.

use super::scope::Person;
use super::tenant::CrmTenant;
use crate::connector::{ConnectorError, CrmUser};
use std::fmt;
use std::time::{Duration, Instant};

/// How a person is linked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Link {
    /// `crm_id` in the tenant file.
    Explicit(String),
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

/// Link `configured` people to `crm` users (`None`: the definition has no users listing).
pub fn link_people(
    configured: &[Person],
    crm: Option<&Result<Vec<CrmUser>, String>>,
) -> Vec<LinkReport> {
    configured
        .iter()
        .map(|p| {
            let mut person = p.clone();
            let link = link_one(p, crm);
            if let Ok(l) = &link {
                let id = match l {
                    Link::Explicit(id) | Link::ByEmail(id) => id.clone(),
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

fn link_one(p: &Person, crm: Option<&Result<Vec<CrmUser>, String>>) -> Result<Link, Unlinked> {
    if let Some(id) = p.crm_id.as_ref().filter(|i| !i.is_empty()) {
        return Ok(Link::Explicit(id.clone()));
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
    /// Re-link the tenant's people from the CRM's user list when it is older than
    /// `users_ttl_secs` (one listing per TTL, shared by every person; a failure keeps the last
    /// links and is retried after a minute). Without a users listing the tenant file's links
    /// stand.
    pub async fn ensure_people(&self) {
        if !self.connector.has_users_listing() {
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
        let listed: Result<Vec<CrmUser>, ConnectorError> = self.connector.list_users().await;
        self.user_listings
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ok = listed.is_ok();
        match listed {
            Ok(users) => {
                let reports = link_people(&self.configured(), Some(&Ok(users)));
                let linked = reports.iter().filter(|r| r.link.is_ok()).count();
                for r in reports.iter().filter(|r| r.link.is_err()) {
                    if let Err(why) = &r.link {
                        tracing::info!(tenant = %self.name, person = %r.person.name, reason = %why, "not linked to a CRM user");
                    }
                }
                tracing::debug!(tenant = %self.name, linked, people = reports.len(), "people linked to CRM users");
                self.set_linked(reports.into_iter().map(|r| r.person));
            }
            Err(e) => {
                tracing::warn!(tenant = %self.name, error = %e, "the CRM's user list could not be read; the last links stand");
            }
        }
        *self.users_checked.lock().unwrap_or_else(|p| p.into_inner()) = Some((started, ok));
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
        let r = link_people(&people, Some(&crm));
        let links: Vec<_> = r.iter().map(|r| r.link.clone()).collect();
        assert_eq!(
            links,
            [
                Ok(Link::Explicit("9".into())),
                Ok(Link::ByEmail("1".into())),
                Err(Unlinked::NoEmail),
                Err(Unlinked::NoCrmUser("s@firm.example".into())),
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
        assert_eq!(r[3].person.crm_id, None);
        let none = link_people(&people[1..2], None);
        assert_eq!(none[0].link, Err(Unlinked::NoUsersListing));
    }
}
