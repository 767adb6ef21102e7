//! free-busy-query (RFC 4791 §7.10).

use super::filter::TimeRange;
use super::ical::{self, Comp};
use super::time::{self, Window, Zones};
use crate::contentline;

/// FREEBUSY periods of a VFREEBUSY as (start, end, FBTYPE upper-cased).
fn typed_periods(c: &Comp, zones: &Zones) -> Vec<(i64, i64, String)> {
    let mut out = Vec::new();
    for p in c.props_named("FREEBUSY") {
        let fbtype = p.param("FBTYPE").unwrap_or("BUSY").to_ascii_uppercase();
        for part in p.value().split(',') {
            let Some((a, b)) = part.split_once('/') else {
                continue;
            };
            let Some(s) = time::parse_dt_text(a, None, zones) else {
                continue;
            };
            let e = time::parse_dt_text(b, None, zones)
                .map(|d| d.utc())
                .or_else(|| time::parse_duration(b).map(|d| time::add_dur(&s, d)));
            if let Some(e) = e {
                out.push((s.utc(), e, fbtype.clone()));
            }
        }
    }
    out
}

/// FREEBUSY periods of a VFREEBUSY as (start, end).
pub(crate) fn periods_of(c: &Comp, zones: &Zones) -> Vec<(i64, i64)> {
    typed_periods(c, zones)
        .into_iter()
        .map(|(s, e, _)| (s, e))
        .collect()
}

fn merge(mut v: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    v.sort_unstable();
    let mut out: Vec<(i64, i64)> = Vec::new();
    for (s, e) in v {
        match out.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => out.push((s, e)),
        }
    }
    out
}

/// One VCALENDAR with one VFREEBUSY for `range`: busy time of the VEVENTs (expanded,
/// TRANSP:TRANSPARENT and STATUS:CANCELLED left out, STATUS:TENTATIVE as BUSY-TENTATIVE) and
/// the FREEBUSY periods of VFREEBUSY components, clipped to the range, merged per FBTYPE.
pub fn free_busy(bodies: &[&str], range: TimeRange, max_instances: usize) -> String {
    let rs = range.start.unwrap_or(i64::MIN);
    let re = range.end.unwrap_or(i64::MAX);
    let mut busy: Vec<(i64, i64)> = Vec::new();
    let mut tentative: Vec<(i64, i64)> = Vec::new();
    let mut unavailable: Vec<(i64, i64)> = Vec::new();
    let clip_push = |list: &mut Vec<(i64, i64)>, s: i64, e: i64| {
        let (s, e) = (s.max(rs), e.min(re));
        if e > s {
            list.push((s, e));
        }
    };
    for body in bodies {
        let Ok(root) = ical::parse(body) else {
            continue;
        };
        if root.name != "VCALENDAR" {
            continue;
        }
        let zones = Zones::from_calendar(&root);
        let win = Window {
            start: range.start,
            end: range.end,
            slack: 0,
        };
        let exp = time::expand(&root, "VEVENT", &zones, win, max_instances.max(1));
        for i in &exp.instances {
            let upper = |n: &str| {
                i.comp
                    .value(n)
                    .map(|v| v.trim().to_ascii_uppercase())
                    .unwrap_or_default()
            };
            if upper("TRANSP") == "TRANSPARENT" {
                continue;
            }
            let status = upper("STATUS");
            if status == "CANCELLED" {
                continue;
            }
            let Some((s, e)) = i.event_span() else {
                continue;
            };
            if status == "TENTATIVE" {
                clip_push(&mut tentative, s, e);
            } else {
                clip_push(&mut busy, s, e);
            }
        }
        for fb in root.comps.iter().filter(|c| c.name == "VFREEBUSY") {
            for (s, e, t) in typed_periods(fb, &zones) {
                match t.as_str() {
                    "FREE" => {}
                    "BUSY-TENTATIVE" => clip_push(&mut tentative, s, e),
                    "BUSY-UNAVAILABLE" => clip_push(&mut unavailable, s, e),
                    _ => clip_push(&mut busy, s, e),
                }
            }
        }
    }
    let mut out = String::new();
    contentline::push_folded(&mut out, "BEGIN:VCALENDAR");
    contentline::push_folded(&mut out, "VERSION:2.0");
    contentline::push_folded(&mut out, "PRODID:-//crmdav//CalDAV//EN");
    contentline::push_folded(&mut out, "BEGIN:VFREEBUSY");
    let now = chrono::Utc::now().timestamp();
    contentline::push_folded(&mut out, &format!("DTSTAMP:{}", time::fmt_utc(now)));
    if let Some(s) = range.start {
        contentline::push_folded(&mut out, &format!("DTSTART:{}", time::fmt_utc(s)));
    }
    if let Some(e) = range.end {
        contentline::push_folded(&mut out, &format!("DTEND:{}", time::fmt_utc(e)));
    }
    for (list, fbtype) in [
        (busy, None),
        (tentative, Some("BUSY-TENTATIVE")),
        (unavailable, Some("BUSY-UNAVAILABLE")),
    ] {
        for (s, e) in merge(list) {
            let param = fbtype.map(|t| format!(";FBTYPE={t}")).unwrap_or_default();
            contentline::push_folded(
                &mut out,
                &format!("FREEBUSY{param}:{}/{}", time::fmt_utc(s), time::fmt_utc(e)),
            );
        }
    }
    contentline::push_folded(&mut out, "END:VFREEBUSY");
    contentline::push_folded(&mut out, "END:VCALENDAR");
    out
}
