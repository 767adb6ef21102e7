//! A calendar object resource parsed once for everything one request does with it.
//!
//! calendar-query tests each candidate with [`super::matches`] and then renders the matches'
//! calendar-data with [`super::render_calendar_data`], both from the same body: the last
//! body parsed on this thread is kept (compared by content, so a different body is never
//! mistaken for it) and the second call reuses its tree and zones instead of parsing again.

use std::cell::RefCell;
use std::rc::Rc;

use super::ical::{self, Comp};
use super::time::Zones;

/// A parsed VCALENDAR (or any top-level component) with the zones its VTIMEZONEs define.
#[derive(Debug)]
pub(super) struct Parsed {
    pub root: Comp,
    pub zones: Zones,
}

thread_local! {
    /// The last body parsed on this thread and its tree: one entry, so at most one body and
    /// its tree stay in memory per worker thread.
    static LAST: RefCell<Option<(Box<str>, Rc<Parsed>)>> = const { RefCell::new(None) };
}

/// `body` parsed, from the last parse on this thread when it was the same body.
pub(super) fn parse(body: &str) -> Result<Rc<Parsed>, String> {
    if let Some(hit) = LAST.with_borrow(|last| {
        last.as_ref()
            .filter(|(b, _)| **b == *body)
            .map(|(_, p)| Rc::clone(p))
    }) {
        return Ok(hit);
    }
    let root = ical::parse(body)?;
    let zones = Zones::from_calendar(&root);
    let parsed = Rc::new(Parsed { root, zones });
    LAST.set(Some((body.into(), Rc::clone(&parsed))));
    Ok(parsed)
}
