//! Date-times, zones, durations and recurrence expansion (RFC 5545 §3.3, §3.8.5).
//!
//! Expansion steps a simple RRULE (no BYxxx part, see [`super::reach::simple_rule`]) by
//! arithmetic and uses `rrule` for any other; DTSTART, RDATE, EXDATE and RECURRENCE-ID overrides
//! are merged here (calcard's own expansion is wrong with SEQUENCE-bumped overrides and in DST
//! gaps). Floating and DATE values are evaluated as if they were UTC.

use super::ical::{Comp, Prop};
use super::reach::{rule_reach, Reach};
use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeZone, Utc};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;

/// Hard ceiling on RRULE iterations per master, whatever `max_instances` says.
const MAX_ITERATIONS: usize = 200_000;
/// How far a floating time can be from UTC (UTC-12 … UTC+14).
pub const FLOATING_SLACK: i64 = 14 * 3600;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Utc,
    Floating,
    Iana(chrono_tz::Tz),
    /// Seconds east of UTC.
    Fixed(i32),
}

/// A DATE or DATE-TIME value with its zone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DtVal {
    pub local: NaiveDateTime,
    pub date_only: bool,
    pub zone: Zone,
}

impl DtVal {
    pub fn utc(&self) -> i64 {
        local_to_utc(self.local, self.zone)
    }

    pub fn is_floating(&self) -> bool {
        self.date_only || self.zone == Zone::Floating
    }

    /// Same kind of value, another local time.
    pub(super) fn with_local(&self, local: NaiveDateTime) -> DtVal {
        DtVal { local, ..*self }
    }
}

/// Local wall time to epoch seconds. A time in a DST gap uses the offset before the gap and
/// an ambiguous one its first occurrence (RFC 5545 §3.3.5).
pub fn local_to_utc(local: NaiveDateTime, zone: Zone) -> i64 {
    match zone {
        Zone::Utc | Zone::Floating => local.and_utc().timestamp(),
        Zone::Fixed(off) => local.and_utc().timestamp() - off as i64,
        Zone::Iana(tz) => match tz.from_local_datetime(&local).earliest() {
            Some(dt) => dt.timestamp(),
            None => {
                let off = local
                    .checked_sub_signed(Duration::hours(3))
                    .and_then(|before| tz.from_local_datetime(&before).earliest())
                    .map(|d| d.offset().fix().local_minus_utc())
                    .unwrap_or(0);
                local.and_utc().timestamp() - off as i64
            }
        },
    }
}

/// Epoch seconds to a `YYYYMMDDTHHMMSSZ` string.
pub fn fmt_utc(ts: i64) -> String {
    let mut out = String::with_capacity(16);
    push_utc(&mut out, ts);
    out
}

/// [`fmt_utc`] appended to `out`.
pub fn push_utc(out: &mut String, ts: i64) {
    use chrono::Timelike;
    let Some(d) = DateTime::<Utc>::from_timestamp(ts, 0) else {
        out.push_str("19700101T000000Z");
        return;
    };
    if !push_ymd(out, d.date_naive()) {
        out.push_str(&d.format("%Y%m%dT%H%M%SZ").to_string());
        return;
    }
    out.push('T');
    for n in [d.hour(), d.minute(), d.second()] {
        push_2(out, n);
    }
    out.push('Z');
}

pub fn fmt_date(d: NaiveDate) -> String {
    let mut out = String::with_capacity(8);
    push_date(&mut out, d);
    out
}

/// [`fmt_date`] appended to `out`.
pub fn push_date(out: &mut String, d: NaiveDate) {
    if !push_ymd(out, d) {
        out.push_str(&d.format("%Y%m%d").to_string());
    }
}

/// `YYYYMMDD` for a year of four digits (what chrono's `%Y%m%d` writes then); false, with
/// nothing written, for any other year.
fn push_ymd(out: &mut String, d: NaiveDate) -> bool {
    use chrono::Datelike;
    let Ok(y) = u32::try_from(d.year()) else {
        return false;
    };
    if y > 9999 {
        return false;
    }
    push_2(out, y / 100);
    push_2(out, y % 100);
    push_2(out, d.month());
    push_2(out, d.day());
    true
}

/// `n` (< 100) as two digits.
fn push_2(out: &mut String, n: u32) {
    out.push(char::from(b'0' + (n / 10 % 10) as u8));
    out.push(char::from(b'0' + (n % 10) as u8));
}

pub fn date_of(ts: i64) -> NaiveDate {
    DateTime::<Utc>::from_timestamp(ts, 0)
        .map(|d| d.date_naive())
        .unwrap_or_default()
}

/// Zones of one VCALENDAR, by TZID.
#[derive(Debug, Default)]
pub struct Zones {
    by_tzid: HashMap<String, Zone>,
}

impl Zones {
    pub fn from_calendar(root: &Comp) -> Zones {
        let mut by_tzid = HashMap::new();
        for vtz in root.comps.iter().filter(|c| c.name == "VTIMEZONE") {
            let Some(tzid) = vtz.value("TZID") else {
                continue;
            };
            let zone = known_zone(tzid).unwrap_or_else(|| {
                // A custom zone: its STANDARD offset (no DST rules), else UTC.
                vtz.comps
                    .iter()
                    .find(|c| c.name == "STANDARD")
                    .or_else(|| vtz.comps.first())
                    .and_then(|c| c.value("TZOFFSETTO"))
                    .and_then(parse_offset)
                    .map(Zone::Fixed)
                    .unwrap_or(Zone::Utc)
            });
            by_tzid.insert(tzid.to_string(), zone);
        }
        Zones { by_tzid }
    }

    pub fn resolve(&self, tzid: &str) -> Zone {
        if let Some(z) = self.by_tzid.get(tzid) {
            return *z;
        }
        known_zone(tzid).unwrap_or(Zone::Utc)
    }
}

/// IANA, Windows and Olson-prefixed names, via calcard's table.
pub(super) fn known_zone(tzid: &str) -> Option<Zone> {
    match calcard::common::timezone::Tz::from_str(tzid).ok()? {
        calcard::common::timezone::Tz::Tz(tz) => Some(if tz == chrono_tz::UTC {
            Zone::Utc
        } else {
            Zone::Iana(tz)
        }),
        calcard::common::timezone::Tz::Fixed(off) => Some(Zone::Fixed(off.local_minus_utc())),
        calcard::common::timezone::Tz::Floating => None,
    }
}

/// `+HHMM[SS]` / `-HHMM[SS]` to seconds east.
fn parse_offset(s: &str) -> Option<i32> {
    let s = s.trim();
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    if !(rest.len() == 4 || rest.len() == 6) || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i32 = rest[0..2].parse().ok()?;
    let m: i32 = rest[2..4].parse().ok()?;
    let sec: i32 = if rest.len() == 6 {
        rest[4..6].parse().ok()?
    } else {
        0
    };
    Some(sign * (h * 3600 + m * 60 + sec))
}

fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    if !digits(s, 8) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        s[0..4].parse().ok()?,
        s[4..6].parse().ok()?,
        s[6..8].parse().ok()?,
    )
}

/// `YYYYMMDDTHHMMSS` with an optional `Z`; returns (naive, is_utc).
pub fn parse_datetime(s: &str) -> Option<(NaiveDateTime, bool)> {
    let (body, utc) = match s.strip_suffix('Z').or_else(|| s.strip_suffix('z')) {
        Some(b) => (b, true),
        None => (s, false),
    };
    let (d, t) = body.split_once(['T', 't'])?;
    let date = parse_date(d)?;
    if !digits(t, 6) {
        return None;
    }
    let h: u32 = t[0..2].parse().ok()?;
    let m: u32 = t[2..4].parse().ok()?;
    let sec: u32 = t[4..6].parse().ok()?;
    // A leap second (60) is read as 59.
    let time = NaiveTime::from_hms_opt(h, m, sec.min(59))?;
    Some((NaiveDateTime::new(date, time), utc))
}

/// One DATE / DATE-TIME text, with its TZID parameter.
pub fn parse_dt_text(v: &str, tzid: Option<&str>, zones: &Zones) -> Option<DtVal> {
    let v = v.trim();
    if let Some(d) = parse_date(v) {
        return Some(DtVal {
            local: d.and_time(NaiveTime::MIN),
            date_only: true,
            zone: Zone::Floating,
        });
    }
    let (local, utc) = parse_datetime(v)?;
    let zone = if utc {
        Zone::Utc
    } else if let Some(t) = tzid {
        zones.resolve(t)
    } else {
        Zone::Floating
    };
    Some(DtVal {
        local,
        date_only: false,
        zone,
    })
}

pub fn parse_dt_prop(p: &Prop, zones: &Zones) -> Option<DtVal> {
    parse_dt_text(p.value(), p.param("TZID"), zones)
}

pub use crate::contentline::{parse_duration, Duration as Dur};

/// `dt + dur` in epoch seconds: days are nominal (wall clock) in a real zone.
pub fn add_dur(dt: &DtVal, dur: Dur) -> i64 {
    let local = Duration::try_days(dur.days)
        .and_then(|d| dt.local.checked_add_signed(d))
        .unwrap_or(dt.local);
    local_to_utc(local, dt.zone).saturating_add(dur.secs)
}

/// How a component's end is expressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndKind {
    None,
    DtEnd,
    Duration,
    Due,
}

/// One instance of a component (a recurrence, an override, or the only occurrence).
#[derive(Debug, Clone)]
pub struct Instance<'a> {
    /// The component whose properties describe this instance (master or override).
    pub comp: &'a Comp,
    pub start: Option<DtVal>,
    pub start_utc: Option<i64>,
    /// DTEND, DTSTART+DURATION or DUE of this instance.
    pub end_utc: Option<i64>,
    pub end_kind: EndKind,
    /// The RECURRENCE-ID of this instance when it belongs to a recurring set.
    pub rid: Option<DtVal>,
    pub floating: bool,
}

impl Instance<'_> {
    /// Span used by free-busy and expansion: VEVENT rules for missing ends.
    pub fn event_span(&self) -> Option<(i64, i64)> {
        let s = self.start_utc?;
        let e = match self.end_kind {
            EndKind::None if self.start.map(|d| d.date_only).unwrap_or(false) => s + 86400,
            EndKind::None => s,
            _ => self.end_utc.unwrap_or(s),
        };
        Some((s, e.max(s)))
    }
}

/// Which instances to keep, and when to stop iterating.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Window {
    pub start: Option<i64>,
    pub end: Option<i64>,
    /// Extra margin on both sides (alarm leads, floating times).
    pub slack: i64,
}

impl Window {
    fn keeps(&self, s: i64, e: i64) -> bool {
        let lo = s.min(e) - self.slack;
        let hi = s.max(e) + self.slack;
        self.start.is_none_or(|ws| hi >= ws) && self.end.is_none_or(|we| lo <= we)
    }
    fn past(&self, s: i64) -> bool {
        self.end.is_some_and(|we| s.saturating_sub(self.slack) > we)
    }
}

/// Result of expanding the components of one name.
#[derive(Debug, Default)]
pub struct Expansion<'a> {
    pub instances: Vec<Instance<'a>>,
    /// True when the set goes on past what was generated (infinite rule, or a cap was hit).
    pub unbounded: bool,
    /// True when a recurrence rule could not be read (only DTSTART was used).
    pub bad_rule: bool,
}

fn comp_start(c: &Comp, zones: &Zones) -> Option<DtVal> {
    c.prop("DTSTART").and_then(|p| parse_dt_prop(p, zones))
}

/// The end of one instance starting at `start`, given its component.
fn instance_end(
    c: &Comp,
    start: Option<&DtVal>,
    zones: &Zones,
    master_len: Option<i64>,
) -> (Option<i64>, EndKind) {
    let start_utc = start.map(|s| s.utc());
    if let Some(p) = c.prop("DTEND") {
        let e = match (master_len, start_utc) {
            (Some(len), Some(s)) => Some(s + len),
            _ => parse_dt_prop(p, zones).map(|d| d.utc()),
        };
        return (e, EndKind::DtEnd);
    }
    if let Some(p) = c.prop("DUE") {
        let e = match (master_len, start_utc) {
            (Some(len), Some(s)) => Some(s + len),
            _ => parse_dt_prop(p, zones).map(|d| d.utc()),
        };
        return (e, EndKind::Due);
    }
    if let Some(d) = c.value("DURATION").and_then(parse_duration) {
        return (start.map(|s| add_dur(s, d)), EndKind::Duration);
    }
    (None, EndKind::None)
}

/// Values of a date list property (RDATE / EXDATE): start, and an explicit end for PERIODs.
fn date_list(p: &Prop, zones: &Zones) -> Vec<(DtVal, Option<i64>)> {
    let tzid = p.param("TZID");
    let mut out = Vec::new();
    for part in p.value().split(',') {
        if let Some((a, b)) = part.split_once('/') {
            if let Some(s) = parse_dt_text(a, tzid, zones) {
                let end = parse_dt_text(b, tzid, zones)
                    .map(|e| e.utc())
                    .or_else(|| parse_duration(b).map(|d| add_dur(&s, d)));
                out.push((s, end));
            }
        } else if let Some(s) = parse_dt_text(part, tzid, zones) {
            out.push((s, None));
        }
    }
    out
}

/// Expand every component named `name` under `root` (all UIDs), keeping instances that touch
/// `win`, and at most `max_instances` of them per UID.
pub fn expand<'a>(
    root: &'a Comp,
    name: &str,
    zones: &Zones,
    win: Window,
    max_instances: usize,
) -> Expansion<'a> {
    let mut exp = Expansion::default();
    for group in by_uid(root, name) {
        expand_group(&group, zones, win, max_instances, Rules::Expand, &mut exp);
    }
    exp
}

/// One RRULE of a master component and how far it reaches.
pub struct MasterRule<'a> {
    pub master: &'a Comp,
    pub dtstart: DtVal,
    pub reach: Reach,
}

/// The components named `name`, grouped by UID in order of first appearance.
fn by_uid<'a>(root: &'a Comp, name: &str) -> Vec<Vec<&'a Comp>> {
    let mut groups: Vec<(&str, Vec<&'a Comp>)> = Vec::new();
    for c in root.comps.iter().filter(|c| c.name == name) {
        let u = c.value("UID").unwrap_or("");
        match groups.iter_mut().find(|(g, _)| *g == u) {
            Some((_, g)) => g.push(c),
            None => groups.push((u, vec![c])),
        }
    }
    groups.into_iter().map(|(_, g)| g).collect()
}

/// The explicit instances of the components named `name` (DTSTART, RDATE, overrides; RRULEs
/// are not iterated), and, per master with an RRULE, its DTSTART and how far each rule
/// reaches. `None` when a rule needs expanding ([`Reach::Expand`]).
pub fn explicit<'a>(
    root: &'a Comp,
    name: &str,
    zones: &Zones,
    max_instances: usize,
) -> Option<(Expansion<'a>, Vec<MasterRule<'a>>)> {
    let mut rules = Vec::new();
    for m in root
        .comps
        .iter()
        .filter(|c| c.name == name && c.prop("RECURRENCE-ID").is_none())
    {
        let Some(dtstart) = comp_start(m, zones) else {
            continue;
        };
        for p in m.props_named("RRULE") {
            match rule_reach(p.value(), &dtstart) {
                Reach::Expand => return None,
                reach => rules.push(MasterRule {
                    master: m,
                    dtstart,
                    reach,
                }),
            }
        }
    }
    let mut exp = Expansion::default();
    for group in by_uid(root, name) {
        expand_group(
            &group,
            zones,
            Window::default(),
            max_instances,
            Rules::Skip,
            &mut exp,
        );
    }
    Some((exp, rules))
}

/// An instance of the master `m` starting at `start` (EXDATE and overrides not consulted).
pub fn instance_at<'a>(m: &'a Comp, start: DtVal, zones: &Zones) -> Instance<'a> {
    let master_len = match (m.prop("DURATION"), comp_start(m, zones)) {
        (None, Some(dtstart)) => instance_end(m, Some(&dtstart), zones, None)
            .0
            .map(|e| e - dtstart.utc()),
        _ => None,
    };
    let (end_utc, end_kind) = instance_end(m, Some(&start), zones, master_len);
    Instance {
        comp: m,
        start: Some(start),
        start_utc: Some(start.utc()),
        end_utc,
        end_kind,
        rid: Some(start),
        floating: start.is_floating(),
    }
}

/// Whether [`expand_group`] iterates RRULEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rules {
    Expand,
    Skip,
}

pub fn single<'a>(c: &'a Comp, zones: &Zones, rid: Option<DtVal>) -> Instance<'a> {
    let start = comp_start(c, zones).or(rid);
    let (end_utc, end_kind) = instance_end(c, start.as_ref(), zones, None);
    let floating = start.map(|s| s.is_floating()).unwrap_or(false)
        || c.prop("DUE")
            .and_then(|p| parse_dt_prop(p, zones))
            .is_some_and(|d| d.is_floating());
    Instance {
        comp: c,
        start,
        start_utc: start.map(|s| s.utc()),
        end_utc,
        end_kind,
        rid,
        floating,
    }
}

fn keep(win: &Window, i: &Instance<'_>) -> bool {
    match (i.start_utc, i.end_utc) {
        (Some(s), e) => {
            let mut e = e.unwrap_or(s);
            if i.start.is_some_and(|d| d.date_only) {
                e = e.max(s + 86400);
            }
            win.keeps(s, e)
        }
        (None, Some(e)) => win.keeps(e, e),
        (None, None) => true,
    }
}

fn expand_group<'a>(
    group: &[&'a Comp],
    zones: &Zones,
    win: Window,
    max: usize,
    rules: Rules,
    exp: &mut Expansion<'a>,
) {
    let mut overrides: Vec<(i64, &'a Comp, DtVal)> = Vec::new();
    let mut master: Option<&'a Comp> = None;
    for c in group {
        match c
            .prop("RECURRENCE-ID")
            .and_then(|p| parse_dt_prop(p, zones))
        {
            Some(rid) => overrides.push((rid.utc(), c, rid)),
            None if master.is_none() => master = Some(c),
            None => {
                // A second master (invalid): evaluate it on its own.
                let i = single(c, zones, None);
                if keep(&win, &i) {
                    exp.instances.push(i);
                }
            }
        }
    }
    let mut count = 0usize;
    for (_, c, rid) in &overrides {
        let i = single(c, zones, Some(*rid));
        if keep(&win, &i) && count < max {
            exp.instances.push(i);
            count += 1;
        }
    }
    let Some(m) = master else {
        return;
    };
    let has_rrule = m.prop("RRULE").is_some();
    let has_rdate = m.prop("RDATE").is_some();
    let Some(dtstart) = comp_start(m, zones).filter(|_| has_rrule || has_rdate) else {
        let i = single(m, zones, None);
        if keep(&win, &i) {
            exp.instances.push(i);
        }
        return;
    };

    // Length of the master instance (exact seconds), used for every recurrence.
    let (master_end, _) = instance_end(m, Some(&dtstart), zones, None);
    let master_len = match m.prop("DURATION") {
        Some(_) => None, // recomputed per instance (nominal days)
        None => master_end.map(|e| e - dtstart.utc()),
    };

    // Each EXDATE with its instant, converted once (a zone lookup is not free).
    let mut exdates: Vec<(DtVal, i64)> = Vec::new();
    for p in m.props_named("EXDATE") {
        exdates.extend(date_list(p, zones).into_iter().map(|(d, _)| (d, d.utc())));
    }
    let excluded = |d: &DtVal, d_utc: i64| {
        exdates.iter().any(|(x, x_utc)| {
            if x.date_only || d.date_only {
                x.local.date() == d.local.date()
            } else {
                *x_utc == d_utc
            }
        })
    };
    let overridden = |u: i64| overrides.iter().any(|(r, _, _)| *r == u);

    let mut starts: Vec<(DtVal, Option<i64>)> = vec![(dtstart, None)];
    for p in m.props_named("RDATE") {
        starts.extend(date_list(p, zones));
    }
    let push = |start: DtVal,
                start_utc: i64,
                explicit_end: Option<i64>,
                exp: &mut Expansion<'a>,
                count: &mut usize| {
        if excluded(&start, start_utc) || overridden(start_utc) {
            return;
        }
        let (end_utc, end_kind) = match (explicit_end, master_len) {
            (Some(e), _) => (Some(e), EndKind::DtEnd),
            // What `instance_end` computes from the master's length, without converting
            // the start again.
            (None, Some(len)) if m.prop("DTEND").is_some() => {
                (Some(start_utc + len), EndKind::DtEnd)
            }
            (None, _) => instance_end(m, Some(&start), zones, master_len),
        };
        let i = Instance {
            comp: m,
            start: Some(start),
            start_utc: Some(start_utc),
            end_utc,
            end_kind,
            rid: Some(start),
            floating: start.is_floating(),
        };
        if keep(&win, &i) {
            if *count >= max {
                exp.unbounded = true;
                return;
            }
            exp.instances.push(i);
            *count += 1;
        }
    };

    let mut seen: HashSet<i64> = HashSet::new();
    for (s, e) in &starts {
        let u = s.utc();
        if seen.insert(u) {
            push(*s, u, *e, exp, &mut count);
        }
    }

    for p in m.props_named("RRULE").filter(|_| rules == Rules::Expand) {
        match rule_starts(p.value(), &dtstart, win) {
            Some((list, infinite)) => {
                if infinite {
                    exp.unbounded = true;
                }
                // Each start comes with its instant, converted once.
                for (s, u) in list {
                    if !seen.insert(u) {
                        continue;
                    }
                    push(s, u, None, exp, &mut count);
                    if count >= max {
                        exp.unbounded = true;
                        break;
                    }
                }
            }
            None => {
                exp.bad_rule = true;
                exp.unbounded = true;
            }
        }
    }
}

/// Starts generated by one RRULE value, until the window is passed. Returns (starts,
/// rule-is-infinite-or-cut-short); `None` when the rule cannot be read. A simple rule
/// ([`super::reach::simple_rule`]) is stepped by arithmetic, any other by `rrule`.
fn rule_starts(rule: &str, dtstart: &DtVal, win: Window) -> Option<(Vec<(DtVal, i64)>, bool)> {
    match super::reach::simple_rule(rule, dtstart) {
        Some(simple) => Some(simple_starts(&simple, dtstart, win)),
        None => rrule_starts(rule, dtstart, win),
    }
}

/// [`rule_starts`] of a simple rule: what `rrule` yields for it, without building one.
fn simple_starts(
    rule: &super::reach::SimpleRule,
    dtstart: &DtVal,
    win: Window,
) -> (Vec<(DtVal, i64)>, bool) {
    let mut out = Vec::new();
    let mut cut = true;
    for k in 0..MAX_ITERATIONS as u64 {
        if rule.count.is_some_and(|c| k >= c) {
            cut = false;
            break;
        }
        let Some(v) = rule.nth(dtstart, k) else {
            cut = false;
            break;
        };
        if rule
            .until
            .is_some_and(|u| !super::reach::until_ok(&v, &u, dtstart))
        {
            cut = false;
            break;
        }
        let u = v.utc();
        if win.past(u) {
            break;
        }
        out.push((v, u));
    }
    let infinite = rule.until.is_none() && rule.count.is_none();
    (out, infinite || cut)
}

/// [`rule_starts`] through the `rrule` crate.
fn rrule_starts(rule: &str, dtstart: &DtVal, win: Window) -> Option<(Vec<(DtVal, i64)>, bool)> {
    // UNTIL is applied here (rrule is strict about its zone); everything else goes to rrule.
    let mut until: Option<DtVal> = None;
    let mut has_count = false;
    let mut parts = Vec::new();
    for part in rule.split(';') {
        let (k, v) = part.split_once('=')?;
        let k = k.trim().to_ascii_uppercase();
        if k == "UNTIL" {
            until = Some(parse_dt_text(v, None, &Zones::default())?);
        } else {
            if k == "COUNT" {
                has_count = true;
            }
            parts.push(format!("{k}={}", v.trim()));
        }
    }
    let unvalidated: rrule::RRule<rrule::Unvalidated> = parts.join(";").parse().ok()?;
    // Recurrences are computed on wall-clock time (as if UTC) and only then placed in the
    // zone, so a DST gap or fold never shifts the following instances.
    let start_dt = rrule::Tz::UTC.from_utc_datetime(&dtstart.local);
    let validated = unvalidated.validate(start_dt).ok()?;
    let set = rrule::RRuleSet::new(start_dt).rrule(validated);
    let until_ok = |d: &DtVal| match until {
        None => true,
        Some(u) if u.date_only => d.local.date() <= u.local.date(),
        Some(u) if u.zone == Zone::Utc && !dtstart.is_floating() => d.utc() <= u.utc(),
        Some(u) => d.local <= u.local,
    };
    let mut out = Vec::new();
    let mut cut = false;
    for (n, dt) in (&set).into_iter().enumerate() {
        if n >= MAX_ITERATIONS {
            cut = true;
            break;
        }
        let v = dtstart.with_local(dt.naive_utc());
        if !until_ok(&v) {
            break;
        }
        let u = v.utc();
        if win.past(u) {
            cut = true;
            break;
        }
        out.push((v, u));
    }
    let infinite = until.is_none() && !has_count;
    Some((out, infinite || cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A simple rule stepped by arithmetic gives exactly what `rrule` gives: every FREQ,
    /// INTERVAL and COUNT/UNTIL form, from UTC, floating, zoned (across a DST change and a
    /// fold) and DATE starts, with windows that cut the set and windows past it.
    #[test]
    fn simple_rules_step_as_rrule_does() {
        let zones = Zones::default();
        let starts = [
            ("20260105T090000Z", None),
            ("20251231T233000", None),
            ("20260302T090000", Some("Europe/Berlin")),
            ("20251101T013000", Some("America/New_York")),
            ("20260115", None),
            ("20260131", None),
            ("20240229T120000Z", None),
        ];
        let ends = [
            "",
            ";COUNT=1",
            ";COUNT=7",
            ";COUNT=40",
            ";UNTIL=20260415T000000Z",
            ";UNTIL=20260415",
            ";UNTIL=20260415T090000",
            ";UNTIL=20250101T000000Z",
        ];
        let windows = [
            ("20260301T000000Z", "20260401T000000Z"),
            ("20250101T000000Z", "20280101T000000Z"),
        ];
        let mut simple = 0;
        for (start, tzid) in starts {
            let dtstart = parse_dt_text(start, tzid, &zones).expect("start");
            for freq in ["DAILY", "WEEKLY", "MONTHLY", "YEARLY"] {
                for interval in ["", ";INTERVAL=1", ";INTERVAL=2", ";INTERVAL=3"] {
                    for end in ends {
                        let rule = format!("FREQ={freq}{interval}{end}");
                        if super::super::reach::simple_rule(&rule, &dtstart).is_none() {
                            continue;
                        }
                        simple += 1;
                        for (ws, we) in windows {
                            let win = Window {
                                start: crate::caldav::parse_utc(ws),
                                end: crate::caldav::parse_utc(we),
                                slack: 0,
                            };
                            assert_eq!(
                                rule_starts(&rule, &dtstart, win),
                                rrule_starts(&rule, &dtstart, win),
                                "{rule} from {start} {tzid:?} in {ws}..{we}"
                            );
                        }
                    }
                }
            }
        }
        // DAILY and WEEKLY from every start, MONTHLY/YEARLY from days every month has.
        assert!(simple > 300, "{simple} simple rules");
        for rule in [
            "FREQ=WEEKLY;BYDAY=MO,WE",
            "FREQ=WEEKLY;WKST=SU",
            "FREQ=daily",
            "FREQ=DAILY;COUNT=0",
            "FREQ=DAILY;INTERVAL=0",
            "FREQ=DAILY;COUNT=3;COUNT=4",
            "FREQ=HOURLY",
        ] {
            let dtstart = parse_dt_text("20260105T090000Z", None, &zones).expect("start");
            assert!(
                super::super::reach::simple_rule(rule, &dtstart).is_none(),
                "{rule}"
            );
        }
    }
}
