//! A calendar object resource parsed once for everything one request does with it.
//!
//! calendar-query tests each candidate with [`super::matches`] and then renders the matches'
//! calendar-data with [`super::render_calendar_data`], both from the same body: the last
//! body parsed on this thread is kept (compared by content, so a different body is never
//! mistaken for it) and the second call reuses its tree and zones instead of parsing again.
//! The tree also keeps its last recurrence expansion: the filter's time-range and the
//! `expand` of the same query usually ask for the same one.

use std::cell::RefCell;
use std::rc::Rc;

use super::ical::{self, Comp};
use super::time::{self, DtVal, EndKind, Expansion, Instance, Window, Zones};

/// A parsed VCALENDAR (or any top-level component) with the zones its VTIMEZONEs define.
#[derive(Debug)]
pub(super) struct Parsed {
    pub root: Comp,
    pub zones: Zones,
    /// The last [`Parsed::expand`] made of this tree.
    expansion: RefCell<Option<KeptExpansion>>,
}

/// An expansion with its arguments, its instances naming their component by position in
/// `root.comps` (an [`Instance`] borrows the tree, which the cache cannot).
#[derive(Debug)]
struct KeptExpansion {
    name: String,
    win: Window,
    max: usize,
    instances: Vec<KeptInstance>,
    unbounded: bool,
    bad_rule: bool,
}

/// [`Instance`] with its component as an index into `root.comps`.
#[derive(Debug)]
struct KeptInstance {
    comp: usize,
    start: Option<DtVal>,
    start_utc: Option<i64>,
    end_utc: Option<i64>,
    end_kind: EndKind,
    rid: Option<DtVal>,
    floating: bool,
}

impl Parsed {
    /// The tree with the zones its VTIMEZONEs define.
    pub fn new(root: Comp) -> Parsed {
        let zones = Zones::from_calendar(&root);
        Parsed {
            root,
            zones,
            expansion: RefCell::new(None),
        }
    }

    /// [`time::expand`] of this tree, reused when the last call asked for the same one.
    pub fn expand(&self, name: &str, win: Window, max: usize) -> Expansion<'_> {
        let comps = &self.root.comps;
        if let Some(kept) = self
            .expansion
            .borrow()
            .as_ref()
            .filter(|k| k.name == name && k.win == win && k.max == max)
        {
            return Expansion {
                instances: kept
                    .instances
                    .iter()
                    .map(|k| Instance {
                        comp: &comps[k.comp],
                        start: k.start,
                        start_utc: k.start_utc,
                        end_utc: k.end_utc,
                        end_kind: k.end_kind,
                        rid: k.rid,
                        floating: k.floating,
                    })
                    .collect(),
                unbounded: kept.unbounded,
                bad_rule: kept.bad_rule,
            };
        }
        let exp = time::expand(&self.root, name, &self.zones, win, max);
        // Every instance's component is one of the root's (expansion looks at no other).
        let instances: Option<Vec<KeptInstance>> = exp
            .instances
            .iter()
            .map(|i| {
                Some(KeptInstance {
                    comp: comps.iter().position(|c| std::ptr::eq(c, i.comp))?,
                    start: i.start,
                    start_utc: i.start_utc,
                    end_utc: i.end_utc,
                    end_kind: i.end_kind,
                    rid: i.rid,
                    floating: i.floating,
                })
            })
            .collect();
        *self.expansion.borrow_mut() = instances.map(|instances| KeptExpansion {
            name: name.to_string(),
            win,
            max,
            instances,
            unbounded: exp.unbounded,
            bad_rule: exp.bad_rule,
        });
        exp
    }
}

/// What a caller reads of a body's VTIMEZONEs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ZoneRead {
    /// Only their zones (expansion, time-range filters): the rules of a zone the table knows
    /// are not read ([`ical::parse_without_zone_rules`]).
    ByName,
    /// Everything: they are written back or filtered on.
    Whole,
}

/// A body, its tree and how much of its VTIMEZONEs the tree holds.
type Kept = (Box<str>, Rc<Parsed>, ZoneRead);

thread_local! {
    /// The last body parsed on this thread, its tree, and whether the tree is whole: one
    /// entry, so at most one body and its tree stay in memory per worker thread.
    static LAST: RefCell<Option<Kept>> = const { RefCell::new(None) };
}

/// `body` parsed, from the last parse on this thread when it was the same body and read as
/// much of the VTIMEZONEs as `zones` asks for.
pub(super) fn parse(body: &str, zones: ZoneRead) -> Result<Rc<Parsed>, String> {
    if let Some(hit) = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(b, _, kept)| {
                **b == *body && (*kept == ZoneRead::Whole || zones == ZoneRead::ByName)
            })
            .map(|(_, p, _)| Rc::clone(p))
    }) {
        return Ok(hit);
    }
    let root = match zones {
        ZoneRead::ByName => ical::parse_without_zone_rules(body)?,
        ZoneRead::Whole => ical::parse(body)?,
    };
    let parsed = Rc::new(Parsed::new(root));
    LAST.set(Some((body.into(), Rc::clone(&parsed), zones)));
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caldav::parse_utc;

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:w\r\nDTSTART:20260302T090000Z\r\nDTEND:20260302T100000Z\r\nRRULE:FREQ=WEEKLY;COUNT=10\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:w\r\nRECURRENCE-ID:20260316T090000Z\r\nDTSTART:20260316T110000Z\r\nDTEND:20260316T120000Z\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    fn window(start: &str, end: &str) -> Window {
        Window {
            start: parse_utc(start),
            end: parse_utc(end),
            slack: 0,
        }
    }

    /// (component position, start) of each instance.
    fn starts(parsed: &Parsed, exp: &Expansion<'_>) -> Vec<(usize, Option<i64>)> {
        exp.instances
            .iter()
            .map(|i| {
                let at = parsed
                    .root
                    .comps
                    .iter()
                    .position(|c| std::ptr::eq(c, i.comp));
                (at.expect("a root component"), i.start_utc)
            })
            .collect()
    }

    /// The kept expansion answers only the same question: another window, component name or
    /// cap is expanded afresh, and a repeated one gives what a fresh expansion gives (the
    /// override's instance pointing at the override, not the master).
    #[test]
    fn kept_expansion_is_reused_only_for_the_same_arguments() {
        let parsed = parse(WEEKLY, ZoneRead::Whole).expect("parses");
        let march = window("20260301T000000Z", "20260401T000000Z");
        let april = window("20260401T000000Z", "20260501T000000Z");
        let fresh = |name, win, max| {
            let exp = time::expand(&parsed.root, name, &parsed.zones, win, max);
            starts(&parsed, &exp)
        };
        for (name, win, max) in [
            ("VEVENT", march, 100),
            ("VEVENT", march, 100),
            ("VEVENT", april, 100),
            ("VEVENT", march, 2),
            ("VTODO", march, 100),
            ("VEVENT", march, 100),
        ] {
            let kept = parsed.expand(name, win, max);
            assert_eq!(
                starts(&parsed, &kept),
                fresh(name, win, max),
                "{name} {win:?} {max}"
            );
        }
        let march_starts = starts(&parsed, &parsed.expand("VEVENT", march, 100));
        assert_eq!(march_starts.len(), 5, "{march_starts:?}");
        assert!(march_starts.contains(&(1, parse_utc("20260316T110000Z"))));
        assert_eq!(
            starts(&parsed, &parsed.expand("VEVENT", april, 100)).len(),
            4
        );
    }
}
