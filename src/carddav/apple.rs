//! Apple's vCard 3.0 spellings of what only vCard 4.0 can say, applied by [`convert`] on top
//! of calcard's version rewrite. iOS and macOS Contacts read 3.0 only and write these forms;
//! Android clients (DAVx5) write 4.0. Both directions:
//!
//! | vCard 4.0 (RFC 6350)              | vCard 3.0 as Apple writes it                              |
//! |-----------------------------------|-----------------------------------------------------------|
//! | `KIND:group` (§6.1.4)             | `X-ADDRESSBOOKSERVER-KIND:group`                          |
//! | `MEMBER:urn:uuid:…` (§6.6.5)      | `X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:…`                   |
//! | `KIND:org`                        | `X-ABShowAs:COMPANY`                                      |
//! | `KIND:individual` (the default)   | nothing                                                   |
//! | `BDAY:--0415` (no year, §4.3.1)   | `BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15`                  |
//! | `ANNIVERSARY:20090808` (§6.2.6)   | `X-ANNIVERSARY:2009-08-08` and `itemN.X-ABDATE:2009-08-08` with `itemN.X-ABLabel:_$!<Anniversary>!$_` |
//!
//! Other kinds (`location`, `application`, `device`) have no 3.0 form and pass through as
//! they are, as do GENDER and IMPP (RFC 4770 gives IMPP to 3.0). The per-property forms
//! (`TEL;VALUE=uri`, `data:` photos, `PREF` ⇄ `TYPE=pref`) are in `card.rs`.
//!
//! [`convert`]: super::convert

use calcard::common::PartialDateTime;
use calcard::vcard::{
    VCard, VCardEntry, VCardKind, VCardParameter, VCardParameterName, VCardParameterValue,
    VCardProperty, VCardValue, VCardValueType,
};

/// The year Apple writes for a date without one, named again in `X-APPLE-OMIT-YEAR`.
const OMITTED_YEAR: u16 = 1604;
/// Apple's parameter that marks the year of a date as a placeholder.
const OMIT_YEAR: &str = "X-APPLE-OMIT-YEAR";
/// Apple's label for an `X-ABDATE` that is the anniversary.
const ANNIVERSARY_LABEL: &str = "_$!<Anniversary>!$_";

const X_KIND: &str = "X-ADDRESSBOOKSERVER-KIND";
const X_MEMBER: &str = "X-ADDRESSBOOKSERVER-MEMBER";
const X_SHOW_AS: &str = "X-ABShowAs";
const X_ANNIVERSARY: &str = "X-ANNIVERSARY";
const X_ABDATE: &str = "X-ABDATE";
const X_ABLABEL: &str = "X-ABLabel";

/// Rewrites a card read as 4.0 into Apple's 3.0 forms (see the module table).
pub(super) fn to_v3(card: &mut VCard) {
    let mut used_groups: Vec<String> = card
        .entries
        .iter()
        .filter_map(|e| e.group.as_deref().map(str::to_ascii_lowercase))
        .collect();
    let entries = std::mem::take(&mut card.entries);
    let mut out = Vec::with_capacity(entries.len() + 2);
    for mut entry in entries {
        match entry.name {
            VCardProperty::Kind => match kind_of(&entry) {
                Some(VCardKind::Individual) => {}
                Some(VCardKind::Group) => out.push(text_entry(entry.group, X_KIND, "group")),
                Some(VCardKind::Org) => out.push(text_entry(entry.group, X_SHOW_AS, "COMPANY")),
                _ => out.push(entry),
            },
            VCardProperty::Member => {
                entry.name = VCardProperty::Other(X_MEMBER.into());
                out.push(entry);
            }
            VCardProperty::Bday | VCardProperty::Deathdate => {
                add_placeholder_year(&mut entry);
                out.push(entry);
            }
            VCardProperty::Anniversary => {
                add_placeholder_year(&mut entry);
                let Some(text) = legacy_date(&entry) else {
                    out.push(entry);
                    continue;
                };
                let omit: Vec<VCardParameter> = entry
                    .params
                    .iter()
                    .filter(|p| is_omit_year(&p.name))
                    .cloned()
                    .collect();
                let group = free_group(&mut used_groups);
                out.push(VCardEntry {
                    group: entry.group,
                    name: VCardProperty::Other(X_ANNIVERSARY.into()),
                    params: entry
                        .params
                        .into_iter()
                        .filter(|p| p.name != VCardParameterName::Value)
                        .collect(),
                    values: vec![VCardValue::Text(text.clone())],
                });
                out.push(VCardEntry {
                    group: Some(group.clone()),
                    name: VCardProperty::Other(X_ABDATE.into()),
                    params: omit,
                    values: vec![VCardValue::Text(text)],
                });
                out.push(text_entry(Some(group), X_ABLABEL, ANNIVERSARY_LABEL));
            }
            _ => out.push(entry),
        }
    }
    card.entries = out;
}

/// Rewrites a card read as 3.0 with Apple's forms into 4.0 (see the module table). A second
/// property that would make a second KIND (RFC 6350 §6.1.4 allows one) stays as it was.
pub(super) fn to_v4(card: &mut VCard) {
    // The groups whose X-ABDATE is the anniversary and becomes ANNIVERSARY; their label goes.
    let anniversary_groups: Vec<String> = card
        .entries
        .iter()
        .filter(|e| is_named(e, X_ABLABEL) && first_text(e) == Some(ANNIVERSARY_LABEL))
        .filter_map(|e| e.group.as_deref().map(str::to_ascii_lowercase))
        .filter(|g| {
            card.entries
                .iter()
                .any(|e| is_named(e, X_ABDATE) && in_group(e, g) && anniversary_value(e).is_some())
        })
        .collect();
    let in_anniversary_group = |e: &VCardEntry| {
        e.group
            .as_deref()
            .is_some_and(|g| anniversary_groups.contains(&g.to_ascii_lowercase()))
    };
    let mut has_kind = card.entries.iter().any(|e| e.name == VCardProperty::Kind);
    let entries = std::mem::take(&mut card.entries);
    let mut out: Vec<VCardEntry> = Vec::with_capacity(entries.len());
    for mut entry in entries {
        if matches!(
            entry.name,
            VCardProperty::Bday | VCardProperty::Anniversary | VCardProperty::Deathdate
        ) {
            drop_placeholder_year(&mut entry);
            out.push(entry);
            continue;
        }
        let VCardProperty::Other(name) = &entry.name else {
            out.push(entry);
            continue;
        };
        let value = first_text(&entry).map(str::to_ascii_lowercase);
        if name.eq_ignore_ascii_case(X_KIND) {
            match value.as_deref() {
                Some("individual") => continue,
                Some("group") if !has_kind => {
                    has_kind = true;
                    out.push(kind_entry(entry.group, "group"));
                }
                _ => out.push(entry),
            }
        } else if name.eq_ignore_ascii_case(X_SHOW_AS) {
            match value.as_deref() {
                Some("company") if !has_kind => {
                    has_kind = true;
                    out.push(kind_entry(entry.group, "org"));
                }
                _ => out.push(entry),
            }
        } else if name.eq_ignore_ascii_case(X_MEMBER) {
            entry.name = VCardProperty::Member;
            out.push(entry);
        } else if name.eq_ignore_ascii_case(X_ANNIVERSARY)
            || (name.eq_ignore_ascii_case(X_ABDATE) && in_anniversary_group(&entry))
        {
            let Some(date) = anniversary_value(&entry) else {
                out.push(entry);
                continue;
            };
            // X-ANNIVERSARY and X-ABDATE name the same date: one ANNIVERSARY.
            let seen = out.iter().any(|e| {
                e.name == VCardProperty::Anniversary
                    && matches!(e.values.first(), Some(VCardValue::PartialDateTime(d)) if *d == date)
            });
            if !seen {
                // The X-ABDATE's group only tied it to its label, which goes.
                let keep_group = is_named(&entry, X_ANNIVERSARY);
                out.push(VCardEntry {
                    group: entry.group.filter(|_| keep_group),
                    name: VCardProperty::Anniversary,
                    params: entry
                        .params
                        .into_iter()
                        .filter(|p| !is_omit_year(&p.name))
                        .collect(),
                    values: vec![VCardValue::PartialDateTime(date)],
                });
            }
        } else if name.eq_ignore_ascii_case(X_ABLABEL)
            && in_anniversary_group(&entry)
            && first_text(&entry) == Some(ANNIVERSARY_LABEL)
        {
            continue;
        } else {
            out.push(entry);
        }
    }
    card.entries = out;
}

/// The KIND a 4.0 entry names (calcard reads the known ones as [`VCardKind`]).
fn kind_of(entry: &VCardEntry) -> Option<VCardKind> {
    match entry.values.first()? {
        VCardValue::Kind(k) => Some(*k),
        VCardValue::Text(t) => match t.to_ascii_lowercase().as_str() {
            "individual" => Some(VCardKind::Individual),
            "group" => Some(VCardKind::Group),
            "org" => Some(VCardKind::Org),
            _ => None,
        },
        _ => None,
    }
}

/// KIND in the lower case clients write (calcard would write `GROUP`).
fn kind_entry(group: Option<String>, kind: &str) -> VCardEntry {
    VCardEntry {
        group,
        name: VCardProperty::Kind,
        params: Vec::new(),
        values: vec![VCardValue::Text(kind.into())],
    }
}

fn text_entry(group: Option<String>, name: &str, value: &str) -> VCardEntry {
    VCardEntry {
        group,
        name: VCardProperty::Other(name.into()),
        params: Vec::new(),
        values: vec![VCardValue::Text(value.into())],
    }
}

fn is_named(entry: &VCardEntry, name: &str) -> bool {
    matches!(&entry.name, VCardProperty::Other(n) if n.eq_ignore_ascii_case(name))
}

fn in_group(entry: &VCardEntry, group_lower: &str) -> bool {
    entry
        .group
        .as_deref()
        .is_some_and(|g| g.eq_ignore_ascii_case(group_lower))
}

fn first_text(entry: &VCardEntry) -> Option<&str> {
    match entry.values.first()? {
        VCardValue::Text(t) => Some(t.as_str()),
        _ => None,
    }
}

fn is_omit_year(name: &VCardParameterName) -> bool {
    matches!(name, VCardParameterName::Other(n) if n.eq_ignore_ascii_case(OMIT_YEAR))
}

/// The first `itemN` group name not used in the card (Apple's grouping of a value with its
/// label).
fn free_group(used: &mut Vec<String>) -> String {
    let mut n = 1;
    loop {
        let name = format!("item{n}");
        if !used.contains(&name) {
            used.push(name.clone());
            return name;
        }
        n += 1;
    }
}

/// A date without a year, which 3.0 (RFC 2426 §3.1.5, ISO 8601 dates) cannot write, gets
/// Apple's placeholder year and the parameter that names it.
fn add_placeholder_year(entry: &mut VCardEntry) {
    let Some(VCardValue::PartialDateTime(date)) = entry.values.first_mut() else {
        return;
    };
    if date.year.is_some() || date.month.is_none() || date.day.is_none() {
        return;
    }
    date.year = Some(OMITTED_YEAR);
    entry.params.push(VCardParameter {
        name: VCardParameterName::Other(OMIT_YEAR.into()),
        value: VCardParameterValue::Text(OMITTED_YEAR.to_string()),
    });
}

/// The inverse of [`add_placeholder_year`]: the year goes when it is the one the parameter
/// names; the parameter goes in any case (it means nothing in 4.0).
fn drop_placeholder_year(entry: &mut VCardEntry) {
    let omitted = entry
        .params
        .iter()
        .find(|p| is_omit_year(&p.name))
        .and_then(|p| match &p.value {
            VCardParameterValue::Text(t) => t.trim().parse::<u16>().ok(),
            VCardParameterValue::Integer(i) => u16::try_from(*i).ok(),
            _ => None,
        });
    entry.params.retain(|p| !is_omit_year(&p.name));
    if let (Some(year), Some(VCardValue::PartialDateTime(date))) =
        (omitted, entry.values.first_mut())
    {
        if date.year == Some(year) {
            date.year = None;
        }
    }
}

/// A date property's value written as 3.0 writes it (`2009-08-08`).
fn legacy_date(entry: &VCardEntry) -> Option<String> {
    let Some(VCardValue::PartialDateTime(date)) = entry.values.first() else {
        return None;
    };
    let mut out = String::new();
    date.format_as_legacy_vcard(&mut out, &VCardValueType::DateAndOrTime)
        .ok()?;
    (!out.is_empty()).then_some(out)
}

/// The date of a 3.0 `X-ANNIVERSARY` or `X-ABDATE` (text to calcard), with Apple's
/// placeholder year removed.
fn anniversary_value(entry: &VCardEntry) -> Option<PartialDateTime> {
    let mut date = parse_date(first_text(entry)?)?;
    let omitted = entry
        .params
        .iter()
        .find(|p| is_omit_year(&p.name))
        .and_then(|p| match &p.value {
            VCardParameterValue::Text(t) => t.trim().parse::<u16>().ok(),
            _ => None,
        });
    if omitted.is_some() && date.year == omitted {
        date.year = None;
    }
    Some(date)
}

/// `YYYY-MM-DD`, `YYYYMMDD`, `--MM-DD` or `--MMDD` (a date without a time, as Apple writes
/// these properties); anything else is left alone by the caller.
fn parse_date(text: &str) -> Option<PartialDateTime> {
    let text = text.trim();
    let (year, rest) = match text.strip_prefix("--") {
        Some(rest) => (None, rest),
        None => (Some(text.get(..4)?.parse::<u16>().ok()?), text.get(4..)?),
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    let (month, rest) = (rest.get(..2)?, rest.get(2..)?);
    let day = rest.strip_prefix('-').unwrap_or(rest);
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !(digits(month) && digits(day)) {
        return None;
    }
    let (month, day) = (month.parse::<u8>().ok()?, day.parse::<u8>().ok()?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(PartialDateTime {
        year,
        month: Some(month),
        day: Some(day),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {
    use crate::carddav::convert;
    use crate::contentline::lines;
    use crate::vocab::VCardVersion::{V3, V4};

    fn card(version: &str, props: &[&str]) -> String {
        let mut s = format!("BEGIN:VCARD\r\nVERSION:{version}\r\nUID:u-1\r\nFN:Someone\r\n");
        for p in props {
            s.push_str(p);
            s.push_str("\r\n");
        }
        s.push_str("END:VCARD\r\n");
        s
    }

    /// The unfolded lines other than BEGIN, VERSION, UID, FN and END.
    fn props(body: &str) -> Vec<String> {
        lines(body)
            .map(|l| l.unfolded.into_owned())
            .filter(|l| {
                !["BEGIN:", "VERSION:", "UID:", "FN:", "END:"]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            .collect()
    }

    fn to_v3(props4: &[&str]) -> Vec<String> {
        props(&convert(&card("4.0", props4), V3).expect("converts to 3.0"))
    }

    fn to_v4(props3: &[&str]) -> Vec<String> {
        props(&convert(&card("3.0", props3), V4).expect("converts to 4.0"))
    }

    #[test]
    fn group_and_members() {
        assert_eq!(
            to_v3(&["KIND:group", "MEMBER:urn:uuid:a", "MEMBER:urn:uuid:b"]),
            [
                "X-ADDRESSBOOKSERVER-KIND:group",
                "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a",
                "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b",
            ]
        );
        assert_eq!(
            to_v4(&[
                "X-ADDRESSBOOKSERVER-KIND:group",
                "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:a",
                "X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:b",
            ]),
            ["KIND:group", "MEMBER:urn:uuid:a", "MEMBER:urn:uuid:b"]
        );
    }

    #[test]
    fn organization() {
        assert_eq!(
            to_v3(&["KIND:org", "ORG:Acme"]),
            ["X-ABShowAs:COMPANY", "ORG:Acme"]
        );
        assert_eq!(
            to_v4(&["X-ABShowAs:COMPANY", "ORG:Acme"]),
            ["KIND:org", "ORG:Acme"]
        );
        // Another X-ABShowAs value has no 4.0 meaning and stays.
        assert_eq!(to_v4(&["X-ABShowAs:PERSON"]), ["X-ABShowAs:PERSON"]);
    }

    #[test]
    fn individual_is_implicit() {
        assert_eq!(to_v3(&["KIND:individual", "NOTE:x"]), ["NOTE:x"]);
        assert_eq!(
            to_v4(&["X-ADDRESSBOOKSERVER-KIND:individual", "NOTE:x"]),
            ["NOTE:x"]
        );
        // A kind 3.0 has no word for passes through.
        assert_eq!(to_v3(&["KIND:location"]), ["KIND:LOCATION"]);
    }

    #[test]
    fn second_kind_stays_an_extension() {
        assert_eq!(
            to_v4(&["X-ABShowAs:COMPANY", "X-ADDRESSBOOKSERVER-KIND:group"]),
            ["KIND:org", "X-ADDRESSBOOKSERVER-KIND:group"]
        );
    }

    #[test]
    fn birthday_without_year() {
        assert_eq!(
            to_v3(&["BDAY:--0415"]),
            ["BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15"]
        );
        assert_eq!(
            to_v4(&["BDAY;X-APPLE-OMIT-YEAR=1604:1604-04-15"]),
            ["BDAY:--0415"]
        );
        // A real year is kept even with the parameter, which goes.
        assert_eq!(
            to_v4(&["BDAY;X-APPLE-OMIT-YEAR=1604:1985-04-15"]),
            ["BDAY:19850415"]
        );
        assert_eq!(to_v3(&["BDAY:19850415"]), ["BDAY:1985-04-15"]);
    }

    #[test]
    fn anniversary() {
        assert_eq!(
            to_v3(&["ANNIVERSARY:20090808"]),
            [
                "X-ANNIVERSARY:2009-08-08",
                "item1.X-ABDATE:2009-08-08",
                "item1.X-ABLabel:_$!<Anniversary>!$_",
            ]
        );
        // The new group does not collide with the card's own.
        assert_eq!(
            to_v3(&["item1.EMAIL:a@b.c", "ANNIVERSARY:--0808"]),
            [
                "item1.EMAIL:a@b.c",
                "X-ANNIVERSARY;X-APPLE-OMIT-YEAR=1604:1604-08-08",
                "item2.X-ABDATE;X-APPLE-OMIT-YEAR=1604:1604-08-08",
                "item2.X-ABLabel:_$!<Anniversary>!$_",
            ]
        );
        assert_eq!(
            to_v4(&[
                "X-ANNIVERSARY:2009-08-08",
                "item1.X-ABDATE:2009-08-08",
                "item1.X-ABLabel:_$!<Anniversary>!$_",
            ]),
            ["ANNIVERSARY:20090808"]
        );
        // iOS alone writes only the X-ABDATE; without a year.
        assert_eq!(
            to_v4(&[
                "item3.X-ABDATE;X-APPLE-OMIT-YEAR=1604:1604-08-08",
                "item3.X-ABLabel:_$!<Anniversary>!$_",
            ]),
            ["ANNIVERSARY:--0808"]
        );
        // Another labelled date is not an anniversary.
        assert_eq!(
            to_v4(&["item1.X-ABDATE:2001-01-01", "item1.X-ABLabel:_$!<Other>!$_"]),
            ["item1.X-ABDATE:2001-01-01", "item1.X-ABLabel:_$!<Other>!$_"]
        );
    }

    #[test]
    fn other_v4_forms() {
        assert_eq!(
            to_v3(&["TEL;VALUE=uri;TYPE=cell;PREF=1:tel:+1-555-0100"]),
            ["TEL;TYPE=CELL,pref:+1-555-0100"]
        );
        assert_eq!(
            to_v4(&["TEL;TYPE=CELL,pref:+1-555-0100"]),
            ["TEL;TYPE=CELL;PREF=1:+1-555-0100"]
        );
        assert_eq!(
            to_v3(&["PHOTO:data:image/jpeg;base64,/9j/4AAQ"]),
            ["PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ"]
        );
        assert_eq!(
            to_v4(&["PHOTO;ENCODING=b;TYPE=JPEG:/9j/4AAQ"]),
            ["PHOTO:data:image/jpeg;base64,/9j/4AAQ"]
        );
        assert_eq!(to_v3(&["GENDER:F"]), ["GENDER:F"]);
        assert_eq!(to_v4(&["GENDER:F"]), ["GENDER:F"]);
        assert_eq!(
            to_v3(&["IMPP;PREF=1:xmpp:a@example.com"]),
            ["IMPP;TYPE=pref:xmpp:a@example.com"]
        );
        assert_eq!(
            to_v4(&["IMPP;TYPE=pref:xmpp:a@example.com"]),
            ["IMPP;PREF=1:xmpp:a@example.com"]
        );
    }

    #[test]
    fn parse_date_forms() {
        use super::parse_date;
        let d = |y: Option<u16>, m: u8, day: u8| {
            Some(super::PartialDateTime {
                year: y,
                month: Some(m),
                day: Some(day),
                ..Default::default()
            })
        };
        assert_eq!(parse_date("2009-08-08"), d(Some(2009), 8, 8));
        assert_eq!(parse_date("20090808"), d(Some(2009), 8, 8));
        assert_eq!(parse_date("--08-08"), d(None, 8, 8));
        assert_eq!(parse_date("--0808"), d(None, 8, 8));
        for bad in [
            "",
            "2009",
            "2009-13-01",
            "2009-08-8",
            "2009-08-+8",
            "--",
            "2009-08-08T10",
            "李李李李",
        ] {
            assert_eq!(parse_date(bad), None, "{bad:?}");
        }
    }
}
