//! The time zones the demo data uses, with VTIMEZONE components that match the current
//! IANA rules of each zone.

use super::text::Lines;

/// A zone that events may reference by TZID (each object then carries its VTIMEZONE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Zone {
    Berlin,
    NewYork,
    Tokyo,
}

impl Zone {
    pub(crate) const ALL: [Zone; 3] = [Zone::Berlin, Zone::NewYork, Zone::Tokyo];

    pub(crate) fn tzid(self) -> &'static str {
        match self {
            Zone::Berlin => "Europe/Berlin",
            Zone::NewYork => "America/New_York",
            Zone::Tokyo => "Asia/Tokyo",
        }
    }

    /// The zone's VTIMEZONE lines.
    ///
    /// Europe/Berlin: CEST from the last Sunday of March 02:00 to the last Sunday of
    /// October 03:00 (EU rules since 1996). America/New_York: EDT from the second Sunday
    /// of March to the first Sunday of November, both at 02:00 (US rules since 2007).
    /// Asia/Tokyo: JST, +09:00, no daylight saving time since 1951.
    pub(crate) fn write_vtimezone(self, out: &mut Lines) {
        out.line("BEGIN:VTIMEZONE");
        out.line(&format!("TZID:{}", self.tzid()));
        match self {
            Zone::Berlin => {
                out.line(&format!("X-LIC-LOCATION:{}", self.tzid()));
                observance(
                    out,
                    "DAYLIGHT",
                    "+0100",
                    "+0200",
                    "CEST",
                    "19700329T020000",
                    Some("FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU"),
                );
                observance(
                    out,
                    "STANDARD",
                    "+0200",
                    "+0100",
                    "CET",
                    "19701025T030000",
                    Some("FREQ=YEARLY;BYMONTH=10;BYDAY=-1SU"),
                );
            }
            Zone::NewYork => {
                out.line(&format!("X-LIC-LOCATION:{}", self.tzid()));
                observance(
                    out,
                    "DAYLIGHT",
                    "-0500",
                    "-0400",
                    "EDT",
                    "20070311T020000",
                    Some("FREQ=YEARLY;BYMONTH=3;BYDAY=2SU"),
                );
                observance(
                    out,
                    "STANDARD",
                    "-0400",
                    "-0500",
                    "EST",
                    "20071104T020000",
                    Some("FREQ=YEARLY;BYMONTH=11;BYDAY=1SU"),
                );
            }
            Zone::Tokyo => {
                out.line(&format!("X-LIC-LOCATION:{}", self.tzid()));
                observance(
                    out,
                    "STANDARD",
                    "+0900",
                    "+0900",
                    "JST",
                    "19700101T000000",
                    None,
                );
            }
        }
        out.line("END:VTIMEZONE");
    }
}

fn observance(
    out: &mut Lines,
    kind: &str,
    from: &str,
    to: &str,
    name: &str,
    dtstart: &str,
    rrule: Option<&str>,
) {
    out.line(&format!("BEGIN:{kind}"));
    out.line(&format!("TZOFFSETFROM:{from}"));
    out.line(&format!("TZOFFSETTO:{to}"));
    out.line(&format!("TZNAME:{name}"));
    out.line(&format!("DTSTART:{dtstart}"));
    if let Some(rule) = rrule {
        out.line(&format!("RRULE:{rule}"));
    }
    out.line(&format!("END:{kind}"));
}
