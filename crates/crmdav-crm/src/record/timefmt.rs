//! Date/time parsing and formatting shared by connector definitions and mappings.
//!
//! CRMs send ISO 8601 in many shapes: with an offset, with `Z`, naive (meaning the CRM's local
//! zone), with or without seconds and fractions, or a date alone. Time zones are IANA names;
//! Windows names ("W. Europe Standard Time") and `/vendor/.../Europe/Berlin` forms are
//! normalised through calcard's table.

use chrono::{
    DateTime, Duration, FixedOffset, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Utc,
};
use chrono_tz::Tz;
use std::str::FromStr;

/// A parsed ISO 8601 value, before any zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// A date-time with a known offset (`Z` or `+01:00`).
    Offset(DateTime<FixedOffset>),
    /// A date-time without offset: local time in whatever zone the context says.
    Naive(NaiveDateTime),
    /// A date alone.
    Date(NaiveDate),
}

const OFFSET_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%:z",
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M%:z",
    "%Y-%m-%dT%H:%M%z",
    "%Y-%m-%d %H:%M:%S%.f%:z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y%m%dT%H%M%S%z",
];
const NAIVE_FORMATS: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%Y%m%dT%H%M%S%.f",
    "%Y%m%dT%H%M",
];

/// Parse any common ISO 8601 form; `None` when it is not one.
pub fn parse_iso(input: &str) -> Option<Parsed> {
    let s = input.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        return Some(Parsed::Offset(dt));
    }
    if let Some(body) = s.strip_suffix(['Z', 'z']) {
        for f in NAIVE_FORMATS {
            if let Ok(n) = NaiveDateTime::parse_from_str(body, f) {
                return Some(Parsed::Offset(Utc.from_utc_datetime(&n).fixed_offset()));
            }
        }
        return None;
    }
    for f in OFFSET_FORMATS {
        if let Ok(dt) = DateTime::parse_from_str(s, f) {
            return Some(Parsed::Offset(dt));
        }
    }
    for f in NAIVE_FORMATS {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(Parsed::Naive(n));
        }
    }
    for f in ["%Y-%m-%d", "%Y%m%d"] {
        if let Ok(d) = NaiveDate::parse_from_str(s, f) {
            return Some(Parsed::Date(d));
        }
    }
    None
}

/// Resolve a time-zone name: IANA first, then Windows and other vendor names.
pub fn resolve_tz(name: &str) -> Option<Tz> {
    if let Ok(tz) = Tz::from_str(name.trim()) {
        return Some(tz);
    }
    match calcard::common::timezone::Tz::from_str(name) {
        Ok(calcard::common::timezone::Tz::Tz(tz)) => Some(tz),
        _ => None,
    }
}

/// A local time in `tz`; in a DST gap the time moves forward past the gap, in a fold the
/// earlier instant wins (what most CRMs and RFC 5545 do).
pub fn local_to_zone(naive: NaiveDateTime, tz: Tz) -> DateTime<Tz> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(dt) => dt,
        LocalResult::Ambiguous(early, _) => early,
        LocalResult::None => {
            // Walk forward in 15-minute steps until the clock exists (gaps are at most a few hours).
            let mut probe = naive;
            for _ in 0..32 {
                probe += Duration::minutes(15);
                if let Some(dt) = tz.from_local_datetime(&probe).earliest() {
                    return dt;
                }
            }
            tz.from_utc_datetime(&naive)
        }
    }
}

/// A parsed value as an instant, reading naive values and dates as local time in `tz`.
pub fn to_utc(parsed: Parsed, tz: Tz) -> DateTime<Utc> {
    match parsed {
        Parsed::Offset(dt) => dt.with_timezone(&Utc),
        Parsed::Naive(n) => local_to_zone(n, tz).with_timezone(&Utc),
        Parsed::Date(d) => local_to_zone(d.and_time(NaiveTime::MIN), tz).with_timezone(&Utc),
    }
}

/// Parse a CRM timestamp (any ISO 8601 form, or epoch seconds/milliseconds as a JSON number)
/// into UTC, reading naive values in `tz`.
pub fn value_to_utc(value: &serde_json::Value, tz: Tz) -> Option<DateTime<Utc>> {
    match value {
        serde_json::Value::String(s) => parse_iso(s).map(|p| to_utc(p, tz)),
        serde_json::Value::Number(n) => {
            let v = n.as_i64()?;
            // Heuristic: values past year 33658 in seconds are milliseconds.
            if v.abs() > 1_000_000_000_000 {
                DateTime::from_timestamp_millis(v)
            } else {
                DateTime::from_timestamp(v, 0)
            }
        }
        _ => None,
    }
}

/// Format an instant for a CRM. `format`: `rfc3339` (UTC, `Z`), `rfc3339_millis`, `unix`,
/// `unix_ms`, `http_date`, `local` (naive local time in `tz`), `offset` (RFC 3339 with the
/// offset of `tz`), `date` (local date), or a chrono strftime pattern applied in `tz`.
pub fn format_instant(t: DateTime<Utc>, format: &str, tz: Tz) -> String {
    match format {
        "" | "rfc3339" | "utc" => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        "rfc3339_millis" => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        "unix" => t.timestamp().to_string(),
        "unix_ms" => t.timestamp_millis().to_string(),
        "http_date" => t.format("%a, %d %b %Y %H:%M:%S GMT").to_string(),
        "local" => t.with_timezone(&tz).format("%Y-%m-%dT%H:%M:%S").to_string(),
        "offset" => t
            .with_timezone(&tz)
            .format("%Y-%m-%dT%H:%M:%S%:z")
            .to_string(),
        "date" => t.with_timezone(&tz).format("%Y-%m-%d").to_string(),
        pattern => t.with_timezone(&tz).format(pattern).to_string(),
    }
}

/// Parse an HTTP `Retry-After` value: delta seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<std::time::Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(std::time::Duration::from_secs(secs));
    }
    let when = DateTime::parse_from_rfc2822(v).ok()?.with_timezone(&Utc);
    Some((when - now).to_std().unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn berlin() -> Tz {
        chrono_tz::Europe::Berlin
    }

    #[test]
    fn iso_forms() {
        let cases = [
            "2026-11-26T08:34:41.375257+01:00",
            "2026-11-26T07:34:41.375257Z",
            "2026-11-26T08:34:41.375257+0100",
            "20261126T073441.375257Z",
        ];
        for c in &cases[..3] {
            let p = parse_iso(c).unwrap();
            assert_eq!(
                to_utc(p, berlin()).format("%H:%M:%S").to_string(),
                "07:34:41",
                "{c}"
            );
        }
        assert!(parse_iso(cases[3]).is_some());
        assert_eq!(
            to_utc(parse_iso("2026-12-01T10:00").unwrap(), berlin()).to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
        assert_eq!(
            parse_iso("2026-12-05"),
            Some(Parsed::Date(NaiveDate::from_ymd_opt(2026, 12, 5).unwrap()))
        );
        assert_eq!(
            to_utc(parse_iso("2026-12-01T10:00+01:00").unwrap(), berlin()).to_rfc3339(),
            "2026-12-01T09:00:00+00:00"
        );
        assert!(parse_iso("not a date").is_none());
        assert!(parse_iso("").is_none());
    }

    #[test]
    fn dst_gap_and_fold() {
        // 02:30 does not exist on 2027-03-28 in Berlin: moves to 03:00 CEST.
        let gap = NaiveDate::from_ymd_opt(2027, 3, 28)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            local_to_zone(gap, berlin()).to_rfc3339(),
            "2027-03-28T03:00:00+02:00"
        );
        // 02:30 happens twice on 2027-10-31: the earlier (CEST) wins.
        let fold = NaiveDate::from_ymd_opt(2027, 10, 31)
            .unwrap()
            .and_hms_opt(2, 30, 0)
            .unwrap();
        assert_eq!(
            local_to_zone(fold, berlin()).to_rfc3339(),
            "2027-10-31T02:30:00+02:00"
        );
    }

    #[test]
    fn zones_and_formats() {
        assert_eq!(resolve_tz("Europe/Berlin"), Some(berlin()));
        assert_eq!(resolve_tz("W. Europe Standard Time"), Some(berlin()));
        assert_eq!(
            resolve_tz("Pacific Standard Time"),
            Some(chrono_tz::America::Los_Angeles)
        );
        assert_eq!(resolve_tz("Mars/Olympus"), None);
        let t = Utc.with_ymd_and_hms(2026, 12, 1, 9, 0, 0).unwrap();
        assert_eq!(
            format_instant(t, "rfc3339", berlin()),
            "2026-12-01T09:00:00Z"
        );
        assert_eq!(format_instant(t, "local", berlin()), "2026-12-01T10:00:00");
        assert_eq!(
            format_instant(t, "offset", berlin()),
            "2026-12-01T10:00:00+01:00"
        );
        assert_eq!(format_instant(t, "unix", berlin()), "1796115600");
        assert_eq!(
            format_instant(t, "http_date", berlin()),
            "Tue, 01 Dec 2026 09:00:00 GMT"
        );
        assert_eq!(format_instant(t, "%d.%m.%Y", berlin()), "01.12.2026");
        assert_eq!(
            parse_retry_after("3", t),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Tue, 01 Dec 2026 09:00:05 GMT", t),
            Some(std::time::Duration::from_secs(5))
        );
    }
}
