//! Where a recurrence set ends, without expanding it (RFC 5545 §3.3.10, §3.8.5.3).
//!
//! Index bounds need only the first and the last instant of a set. Expanding a rule with no
//! COUNT or UNTIL up to the instance cap only to drop the upper bound cost ~35 ms per PUT;
//! here a never-ending rule is recognised from its parts, and the last start of a finite one
//! is computed by arithmetic when the rule is simple (FREQ, INTERVAL, COUNT/UNTIL, WKST and
//! no BYxxx part), or bounded by its UNTIL otherwise. Only a COUNT rule with BYxxx parts is
//! left to expansion, up to [`MAX_EXPANDED_COUNT`] instances.

use super::time::{DtVal, Zone, Zones};
use chrono::{Datelike, Duration, Months, NaiveDateTime, NaiveTime};

/// Largest COUNT of a rule with BYxxx parts that is expanded to find its last instance.
pub const MAX_EXPANDED_COUNT: u64 = 500;

/// How far one RRULE reaches.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reach {
    /// No COUNT and no UNTIL: the set never ends (or a COUNT with BYxxx parts above
    /// [`MAX_EXPANDED_COUNT`]: kept without an upper bound rather than expanded).
    Open,
    /// No instance of the rule starts after this one. `exact` when it is the last instance
    /// itself, not only a bound (so its end is computed like any instance's).
    LastStart { start: DtVal, exact: bool },
    /// Only expansion tells (COUNT with BYxxx parts, or a part this module does not read).
    Expand,
}

/// A simple rule's step in wall-clock time.
#[derive(Debug, Clone, Copy)]
enum Step {
    Seconds(i64),
    Months(u32),
}

/// How far the rule `rule` of a set starting at `dtstart` reaches.
pub fn rule_reach(rule: &str, dtstart: &DtVal) -> Reach {
    let mut freq: Option<String> = None;
    let mut interval: i64 = 1;
    let mut count: Option<u64> = None;
    let mut until: Option<DtVal> = None;
    let mut simple = true;
    for part in rule.split(';').filter(|p| !p.trim().is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Reach::Expand;
        };
        let v = v.trim();
        match k.trim().to_ascii_uppercase().as_str() {
            "FREQ" => freq = Some(v.to_ascii_uppercase()),
            "INTERVAL" => match v.parse::<i64>() {
                Ok(n) if n >= 1 => interval = n,
                _ => return Reach::Expand,
            },
            "COUNT" => match v.parse::<u64>() {
                Ok(n) => count = Some(n),
                Err(_) => return Reach::Expand,
            },
            "UNTIL" => match super::time::parse_dt_text(v, None, &Zones::default()) {
                Some(u) => until = Some(u),
                None => return Reach::Expand,
            },
            "WKST" => {}
            _ => simple = false,
        }
    }
    let Some(freq) = freq else {
        return Reach::Expand;
    };
    if count.is_none() && until.is_none() {
        return Reach::Open;
    }
    let step = if simple {
        step_of(&freq, interval, dtstart)
    } else {
        None
    };
    match (step, until) {
        (Some(step), _) => last_simple(step, dtstart, count, until),
        (None, Some(u)) => Reach::LastStart {
            start: until_as_start(&u, dtstart),
            exact: false,
        },
        // Expansion stops at COUNT; past a few hundred instances it would cost more than a
        // PUT may, and an open upper bound is as correct (only less selective).
        (None, None) if count.is_some_and(|n| n > MAX_EXPANDED_COUNT) => Reach::Open,
        (None, None) => Reach::Expand,
    }
}

/// The wall-clock step of a rule with no BYxxx part, when every step lands on a valid date:
/// MONTHLY and YEARLY skip invalid dates (RFC 5545 §3.3.10), so they qualify only from a day
/// of the month every month has.
fn step_of(freq: &str, interval: i64, dtstart: &DtVal) -> Option<Step> {
    let secs = |unit: i64| interval.checked_mul(unit).map(Step::Seconds);
    match freq {
        "SECONDLY" => secs(1),
        "MINUTELY" => secs(60),
        "HOURLY" => secs(3600),
        "DAILY" => secs(86_400),
        "WEEKLY" => secs(7 * 86_400),
        "MONTHLY" | "YEARLY" if dtstart.local.day() <= 28 => {
            let months = if freq == "YEARLY" {
                interval.checked_mul(12)?
            } else {
                interval
            };
            u32::try_from(months).ok().map(Step::Months)
        }
        _ => None,
    }
}

/// The k-th start (0 = DTSTART) of a simple rule, `None` past the calendar's range.
fn nth(step: Step, dtstart: &DtVal, k: u64) -> Option<DtVal> {
    let local = match step {
        Step::Seconds(s) => {
            let total = i64::try_from(k).ok()?.checked_mul(s)?;
            dtstart
                .local
                .checked_add_signed(Duration::try_seconds(total)?)?
        }
        Step::Months(m) => {
            let total = u32::try_from(k).ok()?.checked_mul(m)?;
            dtstart.local.checked_add_months(Months::new(total))?
        }
    };
    Some(dtstart.with_local(local))
}

/// A rule whose starts are computed by arithmetic instead of the `rrule` crate: FREQ DAILY or
/// WEEKLY (or MONTHLY/YEARLY from a day every month has; RFC 5545 §3.3.10), an INTERVAL up to
/// 1,000, a COUNT or an UNTIL, no other part (no BYxxx, no WKST), written as `rrule` reads
/// it; DTSTART between 1900 and 2200. Anything else is left to `rrule`.
#[derive(Debug, Clone, Copy)]
pub(super) struct SimpleRule {
    step: Step,
    pub count: Option<u64>,
    pub until: Option<DtVal>,
}

impl SimpleRule {
    /// The k-th start (0 = DTSTART), `None` past the calendar's range.
    pub fn nth(&self, dtstart: &DtVal, k: u64) -> Option<DtVal> {
        nth(self.step, dtstart, k)
    }
}

/// `rule` as a [`SimpleRule`], when it is one.
pub(super) fn simple_rule(rule: &str, dtstart: &DtVal) -> Option<SimpleRule> {
    if !(1900..=2200).contains(&dtstart.local.year()) {
        return None;
    }
    let (mut freq, mut interval, mut count, mut until) = (None, None, None, None);
    for part in rule.split(';') {
        let (k, v) = part.split_once('=')?;
        let v = v.trim();
        let slot_was_empty = match k.trim().to_ascii_uppercase().as_str() {
            "FREQ" => freq.replace(v).is_none(),
            "INTERVAL" => interval
                .replace(v.parse::<i64>().ok().filter(|n| (1..=1000).contains(n))?)
                .is_none(),
            "COUNT" => count
                .replace(
                    v.parse::<u64>()
                        .ok()
                        .filter(|n| (1..=1_000_000).contains(n))?,
                )
                .is_none(),
            "UNTIL" => until
                .replace(super::time::parse_dt_text(v, None, &Zones::default())?)
                .is_none(),
            _ => return None,
        };
        if !slot_was_empty {
            return None;
        }
    }
    let freq = freq.filter(|f| matches!(*f, "DAILY" | "WEEKLY" | "MONTHLY" | "YEARLY"))?;
    Some(SimpleRule {
        step: step_of(freq, interval.unwrap_or(1), dtstart)?,
        count,
        until,
    })
}

/// Is `d` on or before UNTIL, compared as `time::rule_starts` compares.
pub(super) fn until_ok(d: &DtVal, u: &DtVal, dtstart: &DtVal) -> bool {
    if u.date_only {
        d.local.date() <= u.local.date()
    } else if u.zone == Zone::Utc && !dtstart.is_floating() {
        d.utc() <= u.utc()
    } else {
        d.local <= u.local
    }
}

/// The last start of a simple rule: COUNT gives its index, UNTIL the largest index on or
/// before it (estimated from the wall-clock distance, then corrected by a few steps for DST).
fn last_simple(step: Step, dtstart: &DtVal, count: Option<u64>, until: Option<DtVal>) -> Reach {
    let mut last = count.map(|n| n.saturating_sub(1));
    if let Some(u) = until {
        let by_until = if !until_ok(dtstart, &u, dtstart) {
            0
        } else {
            match correct(step, dtstart, &u, estimate(step, dtstart, &u)) {
                Some(k) => k,
                None => return Reach::Expand,
            }
        };
        last = Some(last.map_or(by_until, |c| c.min(by_until)));
    }
    match last.and_then(|k| nth(step, dtstart, k)) {
        Some(start) => Reach::LastStart { start, exact: true },
        None => Reach::Expand,
    }
}

/// Most steps [`correct`] walks from the estimate (a DST hour of MINUTELY is 60).
const MAX_CORRECTION: usize = 10_000;

/// Move the estimate `k` to the largest index on or before UNTIL; `None` when that is further
/// than [`MAX_CORRECTION`] steps away (expansion decides then).
fn correct(step: Step, dtstart: &DtVal, u: &DtVal, mut k: u64) -> Option<u64> {
    let ok = |k: u64| nth(step, dtstart, k).is_some_and(|n| until_ok(&n, u, dtstart));
    for _ in 0..MAX_CORRECTION {
        if !ok(k + 1) {
            for _ in 0..MAX_CORRECTION {
                if k == 0 || ok(k) {
                    return Some(k);
                }
                k -= 1;
            }
            return None;
        }
        k += 1;
    }
    None
}

/// Index of the last start on or before UNTIL by wall-clock arithmetic (off by a DST hour or
/// a month's length at most).
fn estimate(step: Step, dtstart: &DtVal, u: &DtVal) -> u64 {
    let mut end = until_as_start(u, dtstart).local;
    if u.zone == Zone::Utc && !dtstart.is_floating() {
        // UNTIL in UTC: into DTSTART's wall clock, at DTSTART's offset.
        let offset = dtstart.local.and_utc().timestamp() - dtstart.utc();
        end = end
            .checked_add_signed(Duration::try_seconds(offset).unwrap_or_default())
            .unwrap_or(end);
    }
    let k = match step {
        Step::Seconds(s) => (end - dtstart.local).num_seconds() / s,
        Step::Months(m) => {
            let months = (end.year() as i64 - dtstart.local.year() as i64) * 12
                + end.month() as i64
                - dtstart.local.month() as i64;
            months / m as i64
        }
    };
    u64::try_from(k.max(0)).unwrap_or(0)
}

/// UNTIL as a start of the set's kind: the latest wall-clock time on or before it.
fn until_as_start(u: &DtVal, dtstart: &DtVal) -> DtVal {
    let local: NaiveDateTime = if u.date_only {
        u.local
            .date()
            .and_time(NaiveTime::from_hms_opt(23, 59, 59).unwrap_or_default())
    } else if u.zone == Zone::Utc && !dtstart.is_floating() {
        return DtVal {
            local: u.local,
            date_only: false,
            zone: Zone::Utc,
        };
    } else {
        u.local
    };
    dtstart.with_local(local)
}
