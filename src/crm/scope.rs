//! What one person's scoped collection holds: a scope declaration of the connector definition
//! (`entities.<e>.scopes.<scope>`) resolved for that person into the CRM query it sends, the
//! local predicates every record must pass and the fields a create assigns; and a calendar's
//! time window.

use crate::config::{ScopeConfig, WindowConfig};
use crate::connector::rest::def::{MatchDef, ScopeDef, WindowDef};
use crate::connector::ListQuery;
use crate::record::{jsonpath, timefmt};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

/// A person as scopes see them: the values their templates name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Person {
    /// Login name in the tenant.
    pub name: String,
    /// The CRM user the person is linked to.
    pub crm_id: Option<String>,
    /// E-mail address.
    pub email: Option<String>,
    /// The person's CRM team.
    pub team_id: Option<String>,
}

/// A collection's scope and window as declared (the binding holds it; each person resolves it).
#[derive(Debug, Clone, Default)]
pub struct ScopeSpec {
    /// `all`, `mine` or `team`.
    pub scope: ScopeConfig,
    /// The entity's declaration of that scope (none for `all`).
    pub def: Option<ScopeDef>,
    /// The calendar's window, if any.
    pub window: Option<WindowConfig>,
    /// How the CRM takes the window's bounds, if it can.
    pub window_def: Option<WindowDef>,
}

/// One local predicate, its template filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predicate {
    path: String,
    value: String,
    ignore_case: bool,
}

/// A scope resolved for one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolved {
    /// Parameters added to the list request (scope filter and window bounds): people with the
    /// same query share one listing.
    pub query: ListQuery,
    /// What every record must pass locally.
    pub predicates: Vec<Predicate>,
    /// Fields set on a create.
    pub assign: Vec<(String, Value)>,
    /// The window as epoch seconds `[start, end)`, applied to rendered items.
    pub window: Option<(i64, i64)>,
}

/// Why a person has no scope: a template names a value they lack.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("person '{person}' has no {what} for the '{scope}' scope (see `crmdav users`)")]
pub struct Unresolved {
    /// The person.
    pub person: String,
    /// The missing value (`CRM user id`, `e-mail address`, `CRM team id`).
    pub what: &'static str,
    /// The scope.
    pub scope: &'static str,
}

/// Fill `{user.*}` in `template` for `p`.
fn fill(template: &str, p: &Person, scope: ScopeConfig) -> Result<String, Unresolved> {
    let mut out = template.to_string();
    for (ph, value, what) in [
        ("{user.crm_id}", &p.crm_id, "CRM user id"),
        ("{user.email}", &p.email, "e-mail address"),
        ("{user.team_id}", &p.team_id, "CRM team id"),
    ] {
        if out.contains(ph) {
            let v = value
                .as_deref()
                .filter(|v| !v.is_empty())
                .ok_or(Unresolved {
                    person: p.name.clone(),
                    what,
                    scope: scope.as_str(),
                })?;
            out = out.replace(ph, v);
        }
    }
    Ok(out)
}

/// A `numeric` assigned value: a number when it reads as one, else the text (the CRM refuses
/// it then, rather than the gateway guessing).
fn number(s: String) -> Value {
    s.parse::<i64>()
        .map(Value::from)
        .unwrap_or(Value::String(s))
}

impl ScopeSpec {
    /// Whether the collection holds everything of its entity, with no window.
    pub fn is_unscoped(&self) -> bool {
        self.scope == ScopeConfig::All && self.window.is_none()
    }

    /// This collection's scope for `p` at `now`.
    pub fn resolve(&self, p: &Person, now: DateTime<Utc>) -> Result<Resolved, Unresolved> {
        let mut r = Resolved::default();
        if let Some(d) = self.def.as_ref().filter(|_| self.scope != ScopeConfig::All) {
            for (k, v) in &d.filter_params {
                r.query.insert(k.clone(), fill(v, p, self.scope)?);
            }
            for m in &d.matches {
                r.predicates.push(predicate(m, p, self.scope)?);
            }
            for (k, v) in &d.assign {
                let v = fill(v, p, self.scope)?;
                let v = if d.numeric.contains(k) {
                    number(v)
                } else {
                    Value::String(v)
                };
                r.assign.push((k.clone(), v));
            }
        }
        if let Some(w) = self.window {
            // Day granularity: the query (and so the shared listing) changes once a day.
            let today = now
                .date_naive()
                .and_hms_opt(0, 0, 0)
                .map(|d| d.and_utc())
                .unwrap_or(now);
            let start = today - Duration::days(i64::from(w.past_days));
            let end = today + Duration::days(i64::from(w.future_days) + 1);
            r.window = Some((start.timestamp(), end.timestamp()));
            if let Some(wd) = &self.window_def {
                let f = |t| timefmt::format_instant(t, &wd.format, chrono_tz::UTC);
                r.query.insert(wd.start_param.clone(), f(start));
                r.query.insert(wd.end_param.clone(), f(end));
            }
        }
        Ok(r)
    }
}

fn predicate(m: &MatchDef, p: &Person, scope: ScopeConfig) -> Result<Predicate, Unresolved> {
    let (template, ignore_case) = match (&m.equals, &m.contains) {
        (Some(e), _) => (e, false),
        (None, Some(c)) => (c, true),
        // Refused when the definition is read; an empty predicate matches nothing.
        (None, None) => {
            return Ok(Predicate {
                path: m.path.clone(),
                value: String::new(),
                ignore_case: false,
            })
        }
    };
    Ok(Predicate {
        path: m.path.clone(),
        value: fill(template, p, scope)?,
        ignore_case,
    })
}

impl Resolved {
    /// Whether a CRM record's data passes every local predicate.
    pub fn admits(&self, data: &Value) -> bool {
        self.predicates.iter().all(|pr| {
            !pr.value.is_empty()
                && values_at(data, &pr.path).iter().any(|v| {
                    if pr.ignore_case {
                        v.eq_ignore_ascii_case(&pr.value)
                    } else {
                        *v == pr.value
                    }
                })
        })
    }

    /// Whether a rendered item's span (`first_start`, `last_end`; `None` = unbounded) meets
    /// the window. Items without dates (a task with no due date) are always inside.
    pub fn in_window(&self, first_start: Option<i64>, last_end: Option<i64>) -> bool {
        let Some((ws, we)) = self.window else {
            return true;
        };
        first_start.is_none_or(|s| s < we) && last_end.is_none_or(|e| e > ws)
    }
}

/// The scalar values at `path` as text (`[]` walks every element of an array).
fn values_at(data: &Value, path: &str) -> Vec<String> {
    let Ok(segs) = jsonpath::parse(path) else {
        return Vec::new();
    };
    jsonpath::get_all(data, &segs)
        .into_iter()
        .filter_map(jsonpath::scalar_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mine(toml_text: &str) -> ScopeSpec {
        ScopeSpec {
            scope: ScopeConfig::Mine,
            def: Some(toml::from_str(toml_text).unwrap()),
            ..Default::default()
        }
    }

    fn alice() -> Person {
        Person {
            name: "alice".into(),
            crm_id: Some("2".into()),
            email: Some("Alice@Example.com".into()),
            team_id: None,
        }
    }

    #[test]
    fn a_mine_scope_resolves_per_person() {
        let s = mine(
            r#"filter_params = { owner = "{user.crm_id}" }
match = [{ path = "assignee_id", equals = "{user.crm_id}" }]
assign = { assignee_id = "{user.crm_id}" }
numeric = ["assignee_id"]"#,
        );
        let r = s.resolve(&alice(), Utc::now()).unwrap();
        assert_eq!(r.query.get("owner").map(String::as_str), Some("2"));
        assert!(r.admits(&json!({"assignee_id": 2})));
        assert!(!r.admits(&json!({"assignee_id": 3})));
        assert!(!r.admits(&json!({"assignee_id": null})));
        assert_eq!(r.assign, vec![("assignee_id".into(), json!(2))]);
        let bob = Person {
            name: "bob".into(),
            ..Default::default()
        };
        assert_eq!(s.resolve(&bob, Utc::now()).unwrap_err().what, "CRM user id");
    }

    #[test]
    fn attendee_lists_match_by_address() {
        let s = mine(r#"match = [{ path = "attendees[].email", contains = "{user.email}" }]"#);
        let r = s.resolve(&alice(), Utc::now()).unwrap();
        assert!(r.admits(&json!({"attendees": [{"email": "x@y"}, {"email": "alice@example.COM"}]})));
        assert!(!r.admits(&json!({"attendees": [{"email": "x@y"}]})));
        assert!(!r.admits(&json!({})));
    }

    #[test]
    fn the_window_is_whole_days_and_goes_to_the_query() {
        let s = ScopeSpec {
            window: Some(WindowConfig {
                past_days: 1,
                future_days: 1,
            }),
            window_def: Some(WindowDef {
                start_param: "start".into(),
                end_param: "end".into(),
                format: "%Y-%m-%d".into(),
            }),
            ..Default::default()
        };
        let now = DateTime::parse_from_rfc3339("2030-01-10T15:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = s.resolve(&Person::default(), now).unwrap();
        assert_eq!(r.query.get("start").map(String::as_str), Some("2030-01-09"));
        assert_eq!(r.query.get("end").map(String::as_str), Some("2030-01-12"));
        let day = |d: &str| DateTime::parse_from_rfc3339(d).unwrap().timestamp();
        assert!(r.in_window(
            Some(day("2030-01-09T00:00:00Z")),
            Some(day("2030-01-09T01:00:00Z"))
        ));
        assert!(!r.in_window(
            Some(day("2030-01-08T00:00:00Z")),
            Some(day("2030-01-08T01:00:00Z"))
        ));
        assert!(!r.in_window(Some(day("2030-01-12T00:00:00Z")), None));
        assert!(r.in_window(None, None));
    }
}
