//! CALDAV:calendar-data in REPORT requests (RFC 4791 §9.6): selection, expand, limits.

use super::filter::{instance_in_range, parse_time_range, FilterError, TimeRange};
use super::ical::{self, Comp};
use super::time::{self, EndKind, Window, Zones};
use crate::xml::{Element, NS_CALDAV};

/// `<C:prop name novalue>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropSelect {
    pub name: String,
    pub novalue: bool,
}

/// `<C:comp name>` with its `allprop`/`prop` and `allcomp`/`comp` children. A `<C:comp>` with
/// no children at all selects the whole component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompSelect {
    pub name: String,
    pub all_props: bool,
    pub props: Vec<PropSelect>,
    pub all_comps: bool,
    pub comps: Vec<CompSelect>,
}

/// A parsed `<C:calendar-data>` request element.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CalendarDataRequest {
    pub content_type: Option<String>,
    pub version: Option<String>,
    /// `None`: the whole calendar.
    pub comp: Option<CompSelect>,
    pub expand: Option<TimeRange>,
    pub limit_recurrence_set: Option<TimeRange>,
    pub limit_freebusy_set: Option<TimeRange>,
}

impl CalendarDataRequest {
    /// True when the stored body can be served as is.
    pub fn is_whole(&self) -> bool {
        self.comp.is_none()
            && self.expand.is_none()
            && self.limit_recurrence_set.is_none()
            && self.limit_freebusy_set.is_none()
    }
}

fn invalid(msg: impl Into<String>) -> FilterError {
    FilterError::InvalidFilter(msg.into())
}

fn parse_comp(el: &Element, depth: usize) -> Result<CompSelect, FilterError> {
    if depth > 8 {
        return Err(invalid("calendar-data comp nested too deeply"));
    }
    let name = el
        .attr("name")
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid("comp without a name"))?;
    let has_children = el.elements().any(|c| c.ns == NS_CALDAV);
    let mut props = Vec::new();
    for p in el.children_named(NS_CALDAV, "prop") {
        let name = p
            .attr("name")
            .map(|n| n.trim().to_ascii_uppercase())
            .filter(|n| !n.is_empty())
            .ok_or_else(|| invalid("prop without a name"))?;
        let novalue = match p.attr("novalue").map(str::trim) {
            None | Some("no") => false,
            Some("yes") => true,
            Some(o) => return Err(invalid(format!("novalue={o:?}"))),
        };
        props.push(PropSelect { name, novalue });
    }
    let comps = el
        .children_named(NS_CALDAV, "comp")
        .map(|c| parse_comp(c, depth + 1))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CompSelect {
        name,
        all_props: !has_children || el.child(NS_CALDAV, "allprop").is_some(),
        props,
        all_comps: !has_children || el.child(NS_CALDAV, "allcomp").is_some(),
        comps,
    })
}

fn full_range(el: &Element) -> Result<TimeRange, FilterError> {
    let tr = parse_time_range(el)?;
    if tr.start.is_none() || tr.end.is_none() {
        return Err(invalid(format!("{} needs both start and end", el.name)));
    }
    Ok(tr)
}

/// Parse `<C:calendar-data>` from a REPORT's prop list.
pub fn parse_calendar_data(el: &Element) -> Result<CalendarDataRequest, FilterError> {
    if !el.is(NS_CALDAV, "calendar-data") {
        return Err(invalid(format!(
            "expected CALDAV:calendar-data, got {}",
            el.name
        )));
    }
    let content_type = el.attr("content-type").map(|s| s.trim().to_string());
    if let Some(ct) = &content_type {
        if !ct.eq_ignore_ascii_case("text/calendar") {
            return Err(FilterError::UnsupportedCalendarData(ct.clone()));
        }
    }
    let version = el.attr("version").map(|s| s.trim().to_string());
    if let Some(v) = &version {
        if v != "2.0" {
            return Err(FilterError::UnsupportedCalendarData(format!("version {v}")));
        }
    }
    let comp = el
        .child(NS_CALDAV, "comp")
        .map(|c| parse_comp(c, 0))
        .transpose()?;
    let expand = el.child(NS_CALDAV, "expand").map(full_range).transpose()?;
    let limit_recurrence_set = el
        .child(NS_CALDAV, "limit-recurrence-set")
        .map(full_range)
        .transpose()?;
    let limit_freebusy_set = el
        .child(NS_CALDAV, "limit-freebusy-set")
        .map(full_range)
        .transpose()?;
    Ok(CalendarDataRequest {
        content_type,
        version,
        comp,
        expand,
        limit_recurrence_set,
        limit_freebusy_set,
    })
}

/// The calendar-data to return for one stored body. With no selection, expansion or limit the
/// body comes back byte for byte; an unreadable body is also returned unchanged.
pub fn render_calendar_data(req: &CalendarDataRequest, body: &str, max_instances: usize) -> String {
    if req.is_whole() {
        return body.to_string();
    }
    let Ok(parsed) = super::object::parse(body) else {
        return body.to_string();
    };
    let (root, zones) = (&parsed.root, &parsed.zones);
    if root.name != "VCALENDAR" {
        return body.to_string();
    }
    let mut cal = if let Some(tr) = req.expand {
        expanded(root, zones, tr, max_instances.max(1))
    } else if let Some(tr) = req.limit_recurrence_set {
        limited(root, zones, tr)
    } else {
        root.clone()
    };
    if let Some(tr) = req.limit_freebusy_set {
        for fb in cal.comps.iter_mut().filter(|c| c.name == "VFREEBUSY") {
            fb.props.retain(|p| {
                if p.name != "FREEBUSY" {
                    return true;
                }
                let probe = Comp {
                    name: "VFREEBUSY".into(),
                    props: vec![p.clone()],
                    comps: vec![],
                };
                super::freebusy::periods_of(&probe, zones)
                    .into_iter()
                    .any(|(s, e)| tr.overlaps(s, e))
            });
        }
    }
    if let Some(sel) = &req.comp {
        if sel.name == cal.name {
            cal = select(&cal, sel);
        }
    }
    let mut out = String::new();
    ical::write_comp(&mut out, &cal);
    out
}

fn dt_prop(name: &str, ts: i64, date_only: bool) -> ical::Prop {
    if date_only {
        ical::make_prop(
            name,
            &[("VALUE", "DATE")],
            &time::fmt_date(time::date_of(ts)),
        )
    } else {
        ical::make_prop(name, &[], &time::fmt_utc(ts))
    }
}

/// Every instance in `tr` as its own component, in UTC, without recurrence properties or
/// VTIMEZONE.
fn expanded(root: &Comp, zones: &Zones, tr: TimeRange, max: usize) -> Comp {
    let mut cal = Comp {
        name: root.name.clone(),
        props: root.props.clone(),
        comps: Vec::new(),
    };
    let win = Window {
        start: tr.start,
        end: tr.end,
        slack: 0,
    };
    for kind in ["VEVENT", "VTODO", "VJOURNAL"] {
        let exp = time::expand(root, kind, zones, win, max);
        let mut insts: Vec<_> = exp
            .instances
            .iter()
            .filter(|i| instance_in_range(kind, i, &tr, zones))
            .collect();
        insts.sort_by_key(|i| i.start_utc);
        for i in insts {
            let mut c = i.comp.clone();
            let pos = c.props.iter().position(|p| p.name == "DTSTART");
            c.props.retain(|p| {
                !matches!(
                    p.name.as_str(),
                    "RRULE"
                        | "RDATE"
                        | "EXDATE"
                        | "EXRULE"
                        | "DTSTART"
                        | "DTEND"
                        | "DUE"
                        | "RECURRENCE-ID"
                )
            });
            let date_only = i.start.is_some_and(|d| d.date_only);
            let mut new = Vec::new();
            if let Some(s) = i.start_utc {
                new.push(dt_prop("DTSTART", s, date_only));
            }
            match (i.end_kind, i.end_utc) {
                (EndKind::DtEnd, Some(e)) => new.push(dt_prop("DTEND", e, date_only)),
                (EndKind::Due, Some(e)) => new.push(dt_prop("DUE", e, date_only)),
                _ => {}
            }
            if let Some(r) = i.rid {
                new.push(dt_prop("RECURRENCE-ID", r.utc(), r.date_only));
            }
            let at = pos.unwrap_or(c.props.len()).min(c.props.len());
            for (k, p) in new.into_iter().enumerate() {
                c.props.insert(at + k, p);
            }
            cal.comps.push(c);
        }
    }
    cal
}

/// limit-recurrence-set: the master, plus the overrides whose instance overlaps `tr`.
fn limited(root: &Comp, zones: &Zones, tr: TimeRange) -> Comp {
    let mut cal = root.clone();
    cal.comps.retain(|c| {
        if c.prop("RECURRENCE-ID").is_none() {
            return true;
        }
        let rid = c
            .prop("RECURRENCE-ID")
            .and_then(|p| time::parse_dt_prop(p, zones));
        let i = time::single(c, zones, rid);
        instance_in_range(&c.name, &i, &tr, zones)
    });
    cal
}

fn select(c: &Comp, sel: &CompSelect) -> Comp {
    let props = if sel.all_props {
        c.props.clone()
    } else {
        c.props
            .iter()
            .filter_map(|p| {
                let s = sel.props.iter().find(|s| s.name == p.name)?;
                if s.novalue {
                    let params: Vec<(&str, &str)> = p
                        .params
                        .iter()
                        .map(|(n, v)| (n.as_str(), v.as_str()))
                        .collect();
                    Some(ical::make_prop(&p.name, &params, ""))
                } else {
                    Some(p.clone())
                }
            })
            .collect()
    };
    let comps = if sel.all_comps {
        c.comps.clone()
    } else {
        c.comps
            .iter()
            .filter_map(|sub| {
                let s = sel.comps.iter().find(|s| s.name == sub.name)?;
                Some(select(sub, s))
            })
            .collect()
    };
    Comp {
        name: c.name.clone(),
        props,
        comps,
    }
}
