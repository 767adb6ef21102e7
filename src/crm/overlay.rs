//! The client-copy overlay: what a phone wrote stays, except the mapped properties whose
//! rendering the CRM changed since that write. Alarms, X- properties, attendee parameters,
//! overrides and anything else the CRM cannot hold survive; an item the CRM did not change
//! comes back byte for byte.
//!
//! Works on content lines ([`crate::contentline`]): lines are compared unfolded and written
//! back with their original folding.

use crate::contentline;
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Debug, Clone)]
struct Line {
    /// As written, folds included, no final line break.
    raw: String,
    /// Unfolded.
    logical: String,
    /// Upper-case name without a group.
    name: String,
}

fn lines(text: &str) -> Vec<Line> {
    contentline::lines(text)
        .filter(|l| !l.unfolded.is_empty())
        .map(|l| Line {
            raw: l.folded_crlf().into_owned(),
            name: l.name(),
            logical: l.unfolded.into_owned(),
        })
        .collect()
}

fn value(l: &Line) -> &str {
    contentline::value_colon(&l.logical).map_or("", |colon| &l.logical[colon + 1..])
}

fn is_begin(l: &Line, comp: Option<&str>) -> bool {
    l.name == "BEGIN" && comp.is_none_or(|c| value(l).trim().eq_ignore_ascii_case(c))
}

fn is_end(l: &Line) -> bool {
    l.name == "END"
}

/// A component in a line list: where it begins and ends, and its own (not nested) lines.
struct Span {
    begin: usize,
    end: usize,
    own: Vec<usize>,
    first_nested: Option<usize>,
}

fn components(ls: &[Line], comp: &str) -> Vec<Span> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ls.len() {
        if is_begin(&ls[i], Some(comp)) {
            let begin = i;
            let mut depth = 0usize;
            let mut own = Vec::new();
            let mut first_nested = None;
            let mut j = i + 1;
            while j < ls.len() {
                if is_begin(&ls[j], None) {
                    depth += 1;
                    first_nested.get_or_insert(j);
                } else if is_end(&ls[j]) {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                } else if depth == 0 {
                    own.push(j);
                }
                j += 1;
            }
            out.push(Span {
                begin,
                end: j.min(ls.len()),
                own,
                first_nested,
            });
            i = j + 1;
        } else {
            i += 1;
        }
    }
    out
}

fn tzid_of(l: &Line) -> Option<String> {
    contentline::parse_line(&l.logical)?
        .params
        .iter()
        .find(|p| p.name.eq_ignore_ascii_case("TZID"))
        .and_then(|p| p.value)
        .map(|v| v.trim_matches('"').to_string())
}

/// VTIMEZONE blocks by TZID: (begin, end) line indices.
fn timezones(ls: &[Line]) -> HashMap<String, (usize, usize)> {
    let mut out = HashMap::new();
    for s in components(ls, "VTIMEZONE") {
        if let Some(id) = s
            .own
            .iter()
            .map(|&i| &ls[i])
            .find(|l| l.name == "TZID")
            .map(|l| value(l).to_string())
        {
            out.insert(id, (s.begin, s.end));
        }
    }
    out
}

/// The client's copy with the CRM's changes laid over it: every mapped property whose lines
/// differ between `base` (the CRM record as of the client's write, rendered) and `cur` (the
/// record now, rendered) is replaced in the client's master `comp` by its `cur` lines.
/// `None` when the client's copy has no such component.
pub fn overlay(
    client: &str,
    base: &str,
    cur: &str,
    comp: &str,
    mapped: &BTreeSet<String>,
) -> Option<String> {
    let cl = lines(client);
    let bl = lines(base);
    let ul = lines(cur);
    let master = components(&cl, comp)
        .into_iter()
        .find(|s| !s.own.iter().any(|&i| cl[i].name == "RECURRENCE-ID"))?;
    let own_of = |ls: &[Line]| -> HashMap<String, Vec<usize>> {
        let mut m: HashMap<String, Vec<usize>> = HashMap::new();
        if let Some(s) = components(ls, comp).into_iter().next() {
            for i in s.own {
                m.entry(ls[i].name.clone()).or_default().push(i);
            }
        }
        m
    };
    let b_own = own_of(&bl);
    let u_own = own_of(&ul);
    let empty = Vec::new();
    let mut remove: HashSet<usize> = HashSet::new();
    let mut insert_before: HashMap<usize, Vec<String>> = HashMap::new();
    let mut tzids: Vec<String> = Vec::new();
    let tail = master.first_nested.unwrap_or(master.end);
    for p in mapped {
        if matches!(p.as_str(), "UID" | "VERSION" | "BEGIN" | "END") {
            continue;
        }
        let b: Vec<&str> = b_own
            .get(p)
            .unwrap_or(&empty)
            .iter()
            .map(|&i| bl[i].logical.as_str())
            .collect();
        let u_idx = u_own.get(p).unwrap_or(&empty);
        let u: Vec<&str> = u_idx.iter().map(|&i| ul[i].logical.as_str()).collect();
        if b == u {
            continue;
        }
        let mut at = None;
        for &i in &master.own {
            if cl[i].name == *p {
                remove.insert(i);
                at.get_or_insert(i);
            }
        }
        if !u.is_empty() && (p == "DTEND" || p == "DUE") {
            for &i in &master.own {
                if cl[i].name == "DURATION" {
                    remove.insert(i);
                }
            }
        }
        for &i in u_idx {
            if let Some(t) = tzid_of(&ul[i]) {
                tzids.push(t);
            }
        }
        if !u_idx.is_empty() {
            insert_before
                .entry(at.unwrap_or(tail))
                .or_default()
                .extend(u_idx.iter().map(|&i| ul[i].raw.clone()));
        }
        if p == "DTSTART" {
            keep_duration(&cl, &master, mapped, &mut remove, &mut insert_before);
        }
    }
    if remove.is_empty() && insert_before.is_empty() {
        return Some(client.to_string());
    }
    // Time zones the new lines name and the client's copy lacks come from the rendering.
    let have = timezones(&cl);
    let theirs = timezones(&ul);
    let mut tz_blocks: Vec<String> = Vec::new();
    let mut added = HashSet::new();
    for t in tzids {
        if have.contains_key(&t) || !added.insert(t.clone()) {
            continue;
        }
        if let Some(&(b, e)) = theirs.get(&t) {
            tz_blocks.extend(ul[b..=e.min(ul.len() - 1)].iter().map(|l| l.raw.clone()));
        }
    }
    if !tz_blocks.is_empty() {
        // Before the first non-VTIMEZONE component of the calendar.
        let first = cl
            .iter()
            .enumerate()
            .skip(1)
            .find(|(_, l)| is_begin(l, None) && !value(l).trim().eq_ignore_ascii_case("VTIMEZONE"))
            .map(|(i, _)| i)
            .unwrap_or(master.begin);
        let mut v = tz_blocks;
        if let Some(existing) = insert_before.remove(&first) {
            v.extend(existing);
        }
        insert_before.insert(first, v);
    }
    let mut out = String::with_capacity(client.len() + 256);
    for (i, l) in cl.iter().enumerate() {
        if let Some(v) = insert_before.get(&i) {
            for r in v {
                out.push_str(r);
                out.push_str("\r\n");
            }
        }
        if !remove.contains(&i) {
            out.push_str(&l.raw);
            out.push_str("\r\n");
        }
    }
    Some(out)
}

/// The CRM moved the start of an item whose end it does not hold (no DTEND/DUE field in the
/// mapping): the client's own end would stay put and could fall before the new start
/// (RFC 5545 §3.6.1 forbids it). Keep the client's length instead: its DTEND (DUE) becomes a
/// DURATION computed from the client's own start and end, so the end moves with the start.
fn keep_duration(
    cl: &[Line],
    master: &Span,
    mapped: &BTreeSet<String>,
    remove: &mut HashSet<usize>,
    insert_before: &mut HashMap<usize, Vec<String>>,
) {
    if mapped.contains("DURATION") {
        return;
    }
    let find = |name: &str| master.own.iter().copied().find(|&i| cl[i].name == name);
    let Some(start) = find("DTSTART") else {
        return;
    };
    for end_name in ["DTEND", "DUE"] {
        if mapped.contains(end_name) {
            continue;
        }
        let Some(end) = find(end_name) else {
            continue;
        };
        let Some(secs) = span_secs(&cl[start], &cl[end]) else {
            continue;
        };
        remove.insert(end);
        insert_before
            .entry(end)
            .or_default()
            .push(format!("DURATION:{}", contentline::format_duration(secs)));
    }
}

/// Seconds from a DTSTART line to a DTEND/DUE line: whole days between two DATE values, else
/// the difference of the two date-times (each in its own TZID when chrono-tz knows it, else
/// as wall time). `None` when a value cannot be read or the end is before the start.
fn span_secs(start: &Line, end: &Line) -> Option<i64> {
    let at = |l: &Line| -> Option<(i64, bool)> {
        let v = value(l).trim();
        if v.len() == 8 {
            let d = chrono::NaiveDate::parse_from_str(v, "%Y%m%d").ok()?;
            return Some((
                d.and_time(chrono::NaiveTime::MIN).and_utc().timestamp(),
                true,
            ));
        }
        let (body, utc) = match v.strip_suffix(['Z', 'z']) {
            Some(b) => (b, true),
            None => (v, false),
        };
        let local = chrono::NaiveDateTime::parse_from_str(body, "%Y%m%dT%H%M%S").ok()?;
        let zone = (!utc)
            .then(|| tzid_of(l))
            .flatten()
            .and_then(|t| t.parse::<chrono_tz::Tz>().ok());
        let ts = match zone {
            Some(tz) => chrono::TimeZone::from_local_datetime(&tz, &local)
                .earliest()
                .map(|d| d.timestamp())?,
            None => local.and_utc().timestamp(),
        };
        Some((ts, false))
    };
    let (s, s_date) = at(start)?;
    let (e, e_date) = at(end)?;
    (s_date == e_date && e >= s).then_some(e - s)
}

/// The VERSION of a vCard.
pub fn vcard_version(text: &str) -> Option<String> {
    lines(text)
        .iter()
        .find(|l| l.name == "VERSION")
        .map(|l| value(l).trim().to_string())
}

/// Replace the first UID line's value.
pub fn replace_uid(text: &str, uid: &str) -> String {
    let mut done = false;
    let mut out = String::with_capacity(text.len());
    for l in lines(text) {
        if !done && l.name == "UID" {
            out.push_str("UID:");
            out.push_str(uid);
            done = true;
        } else {
            out.push_str(&l.raw);
        }
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const CLIENT: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Apple//iOS//EN\r\nBEGIN:VEVENT\r\nUID:abc\r\nDTSTAMP:20300101T000000Z\r\nSUMMARY:Lunch\r\nDTSTART;TZID=W. Europe Standard Time:20300220T090000\r\nDTEND;TZID=W. Europe Standard Time:20300220T100000\r\nX-APPLE-TRAVEL-ADVISORY:1\r\nATTENDEE;CN=\"Bob, B\";PARTSTAT=ACCEPTED:mailto:bob@example.com\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT15M\r\nDESCRIPTION:x\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn render(summary: &str, loc: Option<&str>) -> String {
        format!(
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:abc\r\nSUMMARY:{summary}\r\nDTSTART;TZID=Europe/Berlin:20300220T090000\r\nDTEND;TZID=Europe/Berlin:20300220T100000\r\n{}END:VEVENT\r\nEND:VCALENDAR\r\n",
            loc.map(|l| format!("LOCATION:{l}\r\n")).unwrap_or_default()
        )
    }

    #[test]
    fn unchanged_is_byte_for_byte() {
        let m = set(&["SUMMARY", "DTSTART", "DTEND", "LOCATION"]);
        let b = render("Lunch", None);
        assert_eq!(overlay(CLIENT, &b, &b, "VEVENT", &m).unwrap(), CLIENT);
    }

    #[test]
    fn changed_field_replaced_rest_kept() {
        let m = set(&["SUMMARY", "DTSTART", "DTEND", "LOCATION"]);
        let out = overlay(
            CLIENT,
            &render("Lunch", None),
            &render("Dinner", Some("Room 3")),
            "VEVENT",
            &m,
        )
        .unwrap();
        assert!(out.contains("SUMMARY:Dinner\r\n"), "{out}");
        assert!(!out.contains("SUMMARY:Lunch"));
        assert!(out.contains("LOCATION:Room 3\r\nBEGIN:VALARM"), "{out}");
        assert!(out.contains("TRIGGER:-PT15M"));
        assert!(out.contains("X-APPLE-TRAVEL-ADVISORY:1"));
        assert!(out.contains("ATTENDEE;CN=\"Bob, B\";PARTSTAT=ACCEPTED"));
        // Times did not change in the CRM: the client's own spelling stays.
        assert!(out.contains("DTSTART;TZID=W. Europe Standard Time:20300220T090000"));
        assert!(!out.contains("BEGIN:VTIMEZONE"));
    }

    #[test]
    fn moved_time_brings_its_timezone() {
        let m = set(&["SUMMARY", "DTSTART", "DTEND"]);
        let cur = render("Lunch", None).replace("T090000", "T110000");
        let out = overlay(CLIENT, &render("Lunch", None), &cur, "VEVENT", &m).unwrap();
        assert!(out.contains("DTSTART;TZID=Europe/Berlin:20300220T110000"));
        assert!(
            out.contains("BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT"),
            "{out}"
        );
    }

    #[test]
    fn moved_start_without_crm_end_keeps_the_clients_length() {
        // The CRM holds only the start (no DTEND in the mapping) and moves it two days later.
        let m = set(&["SUMMARY", "DTSTART"]);
        let base =
            render("Lunch", None).replace("DTEND;TZID=Europe/Berlin:20300220T100000\r\n", "");
        let cur = base.replace("20300220T090000", "20300222T090000");
        let out = overlay(CLIENT, &base, &cur, "VEVENT", &m).unwrap();
        assert!(
            out.contains("DTSTART;TZID=Europe/Berlin:20300222T090000"),
            "{out}"
        );
        assert!(
            !out.contains("DTEND"),
            "the old end would fall before the new start: {out}"
        );
        assert!(out.contains("DURATION:PT1H\r\n"), "{out}");
        // An unmoved start keeps the client's DTEND as written.
        let same = overlay(CLIENT, &base, &base, "VEVENT", &m).unwrap();
        assert_eq!(same, CLIENT);
    }

    #[test]
    fn moved_all_day_start_keeps_its_days() {
        let client = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20300220\r\nDTEND;VALUE=DATE:20300223\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let m = set(&["DTSTART"]);
        let base = "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:d\r\nDTSTART;VALUE=DATE:20300220\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let cur = base.replace("20300220", "20300301");
        let out = overlay(client, base, &cur, "VEVENT", &m).unwrap();
        assert!(
            out.contains("DTSTART;VALUE=DATE:20300301\r\nDURATION:P3D\r\n"),
            "{out}"
        );
    }

    #[test]
    fn uid_and_version() {
        let v = "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:x\r\nFN:A\r\nEND:VCARD\r\n";
        assert_eq!(vcard_version(v).as_deref(), Some("4.0"));
        assert!(replace_uid(v, "y@z").contains("UID:y@z\r\n"));
    }
}
