//! Deterministic benchmark data: iCalendar events and vCards, the same bytes on every run.
//!
//! Events (`bench-evt-NNNNNN.ics`) spread over 2026:
//! - 20 % weekly recurring (COUNT=20) in Europe/Berlin, with an EXDATE on the 3rd instance and
//!   an overridden (moved, retitled) 5th instance in the same resource;
//! - 10 % all-day (DATE values);
//! - 20 % in America/New_York, the rest in UTC;
//! - one in three with a VALARM, one in four with an organizer and two attendees.
//!
//! Every resource that uses a TZID carries its VTIMEZONE.
//!
//! Contacts (`bench-card-NNNNNN.vcf`): vCard 3.0, 10 % with a ~50 KB base64 JPEG-typed PHOTO.
//! Lines are CRLF-terminated and folded at 75 octets.

#![allow(dead_code)]

use base64::Engine;
use chrono::{Datelike, Duration, NaiveDate};

/// One generated resource.
#[derive(Clone, Debug)]
pub struct GenItem {
    /// Resource name (`<uid>.ics` / `<uid>.vcf`).
    pub name: String,
    /// UID.
    pub uid: String,
    /// Body.
    pub body: String,
}

const BERLIN: &str = "BEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nTZNAME:CEST\r\nDTSTART:19700329T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nTZNAME:CET\r\nDTSTART:19701025T030000\r\nRRULE:FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";
const NEW_YORK: &str = "BEGIN:VTIMEZONE\r\nTZID:America/New_York\r\nBEGIN:DAYLIGHT\r\nTZOFFSETFROM:-0500\r\nTZOFFSETTO:-0400\r\nTZNAME:EDT\r\nDTSTART:19700308T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=2SU\r\nEND:DAYLIGHT\r\nBEGIN:STANDARD\r\nTZOFFSETFROM:-0400\r\nTZOFFSETTO:-0500\r\nTZNAME:EST\r\nDTSTART:19701101T020000\r\nRRULE:FREQ=YEARLY;BYMONTH=11;BYDAY=1SU\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n";

const FIRST: &[&str] = &[
    "Anna", "Ben", "Clara", "David", "Elif", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla",
    "Lukas", "Mia", "Noah", "Olga", "Paul", "Quentin", "Rosa", "Sven", "Tara", "Umut", "Vera",
    "Wim", "Xenia", "Yusuf", "Zoë", "Jürgen", "Søren", "Chloé", "Mateo",
];
const LAST: &[&str] = &[
    "Müller",
    "Schmidt",
    "Schneider",
    "Fischer",
    "Weber",
    "Meyer",
    "Wagner",
    "Becker",
    "Schulz",
    "Hoffmann",
    "Koch",
    "Richter",
    "Klein",
    "Wolf",
    "Neumann",
    "Schwarz",
    "Zimmermann",
    "Braun",
    "Hofmann",
    "Hartmann",
    "Lange",
    "Schmitt",
    "Werner",
    "Krause",
    "Meier",
    "Lehmann",
    "Köhler",
    "Herrmann",
    "König",
    "Walter",
    "Mayer",
    "Huber",
    "Kaiser",
    "Fuchs",
    "Peters",
    "Lang",
    "Scholz",
    "Möller",
    "Weiß",
    "Jung",
    "Hahn",
    "Vogel",
    "Friedrich",
    "Keller",
    "Günther",
    "Frank",
    "Berger",
    "Winkler",
    "Roth",
    "Okafor",
];
const COMPANIES: &[&str] = &[
    "Acme GmbH",
    "Globex AG",
    "Initech Ltd",
    "Umbrella SE",
    "Stark Industries",
    "Wayne Enterprises",
    "Hooli Inc.",
    "Vandelay Industries",
    "Soylent Corp",
    "Tyrell Corporation",
];
const TOPICS: &[&str] = &[
    "Quarterly business review",
    "Renewal negotiation",
    "Product demo",
    "Onboarding call",
    "Pricing discussion",
    "Kick-off",
    "Support escalation",
    "Contract signature",
    "Site visit",
    "Strategy workshop",
];

/// The text the benchmark's addressbook-query looks for in FN (about 2 % of the cards).
pub const FN_NEEDLE: &str = "okafor";
/// The calendar-query window: one month.
pub const MONTH_START: &str = "20260301T000000Z";
pub const MONTH_END: &str = "20260401T000000Z";

/// Fold a content line at 75 octets (on UTF-8 character boundaries) and end it with CRLF.
pub fn fold_into(out: &mut String, line: &str) {
    let mut rest = line;
    let mut first = true;
    while !rest.is_empty() {
        let max = if first { 75 } else { 74 };
        let mut cut = rest.len().min(max);
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        if !first {
            out.push(' ');
        }
        out.push_str(&rest[..cut]);
        out.push_str("\r\n");
        rest = &rest[cut..];
        first = false;
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n")
}

fn fmt_local(d: NaiveDate, h: u32, m: u32) -> String {
    format!(
        "{:04}{:02}{:02}T{:02}{:02}00",
        d.year(),
        d.month(),
        d.day(),
        h,
        m
    )
}

fn fmt_date(d: NaiveDate) -> String {
    format!("{:04}{:02}{:02}", d.year(), d.month(), d.day())
}

/// Event number `i`.
pub fn event(i: usize) -> GenItem {
    let uid = format!("bench-evt-{i:06}");
    let anchor = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    let day = anchor + Duration::days(((i * 7919) % 365) as i64);
    let hour = 8 + (i % 10) as u32;
    let minute = if i.is_multiple_of(2) { 0 } else { 30 };
    let topic = TOPICS[i % TOPICS.len()];
    let company = COMPANIES[(i / 3) % COMPANIES.len()];
    let summary = format!("{topic} – {company} #{i}");
    let kind = i % 10;
    let mut b = String::with_capacity(2048);
    b.push_str(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//crmdav//bench//EN\r\nCALSCALE:GREGORIAN\r\n",
    );
    let tz = match kind {
        0 | 1 => Some(("Europe/Berlin", BERLIN)),
        3 | 4 => Some(("America/New_York", NEW_YORK)),
        _ => None,
    };
    if let Some((_, vtz)) = tz {
        b.push_str(vtz);
    }
    let common = |b: &mut String, summary: &str| {
        fold_into(b, &format!("SUMMARY:{}", esc(summary)));
        fold_into(
            b,
            &format!(
                "DESCRIPTION:{}",
                esc(&format!(
                    "Agenda:\n1. Status of open opportunities with {company}\n2. Next steps and owners\n3. AOB\nDial-in: +49 30 1234567, PIN {}",
                    1000 + i % 9000
                ))
            ),
        );
        fold_into(
            b,
            &format!(
                "LOCATION:{}",
                esc(&format!("{company}, Room {}", 100 + i % 50))
            ),
        );
        b.push_str("STATUS:CONFIRMED\r\n");
        if i.is_multiple_of(4) {
            b.push_str("ORGANIZER;CN=Demo User:mailto:demo@crmdav.example\r\n");
            fold_into(b, &format!("ATTENDEE;CN={};ROLE=REQ-PARTICIPANT;PARTSTAT=ACCEPTED:mailto:p{i}@customer.example", FIRST[i % FIRST.len()]));
            fold_into(b, &format!("ATTENDEE;CN={};ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION:mailto:q{i}@customer.example", LAST[i % LAST.len()]));
        }
        if i.is_multiple_of(3) {
            b.push_str("BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Reminder\r\nTRIGGER:-PT15M\r\nEND:VALARM\r\n");
        }
    };
    b.push_str("BEGIN:VEVENT\r\n");
    fold_into(&mut b, &format!("UID:{uid}"));
    b.push_str("DTSTAMP:20260101T000000Z\r\nCREATED:20251201T090000Z\r\nLAST-MODIFIED:20251215T090000Z\r\nSEQUENCE:0\r\n");
    match (kind, tz) {
        (2, _) => {
            b.push_str(&format!("DTSTART;VALUE=DATE:{}\r\n", fmt_date(day)));
            b.push_str(&format!(
                "DTEND;VALUE=DATE:{}\r\n",
                fmt_date(day + Duration::days(1))
            ));
            b.push_str("TRANSP:TRANSPARENT\r\n");
        }
        (_, Some((tzid, _))) => {
            b.push_str(&format!(
                "DTSTART;TZID={tzid}:{}\r\n",
                fmt_local(day, hour, minute)
            ));
            b.push_str(&format!(
                "DTEND;TZID={tzid}:{}\r\n",
                fmt_local(day, hour + 1, minute)
            ));
        }
        _ => {
            b.push_str(&format!("DTSTART:{}Z\r\n", fmt_local(day, hour, minute)));
            b.push_str(&format!("DTEND:{}Z\r\n", fmt_local(day, hour + 1, minute)));
        }
    }
    let recurring = kind <= 1;
    if recurring {
        let tzid = "Europe/Berlin";
        b.push_str("RRULE:FREQ=WEEKLY;COUNT=20\r\n");
        b.push_str(&format!(
            "EXDATE;TZID={tzid}:{}\r\n",
            fmt_local(day + Duration::days(14), hour, minute)
        ));
    }
    common(&mut b, &summary);
    b.push_str("END:VEVENT\r\n");
    if recurring {
        let tzid = "Europe/Berlin";
        let orig = day + Duration::days(28);
        b.push_str("BEGIN:VEVENT\r\n");
        fold_into(&mut b, &format!("UID:{uid}"));
        b.push_str("DTSTAMP:20260101T000000Z\r\nSEQUENCE:1\r\n");
        b.push_str(&format!(
            "RECURRENCE-ID;TZID={tzid}:{}\r\n",
            fmt_local(orig, hour, minute)
        ));
        b.push_str(&format!(
            "DTSTART;TZID={tzid}:{}\r\n",
            fmt_local(orig, hour + 1, minute)
        ));
        b.push_str(&format!(
            "DTEND;TZID={tzid}:{}\r\n",
            fmt_local(orig, hour + 2, minute)
        ));
        common(&mut b, &format!("{summary} (moved)"));
        b.push_str("END:VEVENT\r\n");
    }
    b.push_str("END:VCALENDAR\r\n");
    GenItem {
        name: format!("{uid}.ics"),
        uid,
        body: b,
    }
}

fn photo(i: usize) -> String {
    // ~37.5 KB of pseudo-random bytes = ~50 KB of base64, JPEG magic first.
    let mut bytes = Vec::with_capacity(37_500);
    bytes.extend_from_slice(&[0xFF, 0xD8, 0xFF, 0xE0]);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ (i as u64);
    while bytes.len() < 37_500 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        bytes.extend_from_slice(&x.to_le_bytes());
    }
    bytes.truncate(37_500);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Contact number `i`.
pub fn contact(i: usize) -> GenItem {
    let uid = format!("bench-card-{i:06}");
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len() + i * 7) % LAST.len()];
    let company = COMPANIES[i % COMPANIES.len()];
    let mut b = String::with_capacity(1024);
    b.push_str("BEGIN:VCARD\r\nVERSION:3.0\r\nPRODID:-//crmdav//bench//EN\r\n");
    fold_into(&mut b, &format!("UID:{uid}"));
    fold_into(&mut b, &format!("FN:{first} {last}"));
    fold_into(&mut b, &format!("N:{last};{first};;;"));
    fold_into(&mut b, &format!("ORG:{}", esc(company)));
    b.push_str("TITLE:Account Manager\r\n");
    fold_into(
        &mut b,
        &format!(
            "EMAIL;TYPE=INTERNET,WORK:{}.{}{i}@customer.example",
            first.to_lowercase(),
            i % 97
        ),
    );
    b.push_str(&format!(
        "TEL;TYPE=WORK,VOICE:+49 30 {:07}\r\n",
        1_000_000 + i
    ));
    b.push_str(&format!("TEL;TYPE=CELL:+49 170 {:07}\r\n", 2_000_000 + i));
    fold_into(
        &mut b,
        &format!(
            "ADR;TYPE=WORK:;;Hauptstraße {};Berlin;;{:05};Germany",
            1 + i % 200,
            10_115 + i % 900
        ),
    );
    fold_into(
        &mut b,
        &format!(
            "NOTE:Customer since {}. Key account for {}.",
            2010 + i % 15,
            esc(company)
        ),
    );
    if i % 10 == 5 {
        fold_into(&mut b, &format!("PHOTO;ENCODING=b;TYPE=JPEG:{}", photo(i)));
    }
    b.push_str("REV:20260101T000000Z\r\nEND:VCARD\r\n");
    GenItem {
        name: format!("{uid}.vcf"),
        uid,
        body: b,
    }
}

/// `n` events.
pub fn events(n: usize) -> Vec<GenItem> {
    (0..n).map(event).collect()
}

/// `n` contacts.
pub fn contacts(n: usize) -> Vec<GenItem> {
    (0..n).map(contact).collect()
}
