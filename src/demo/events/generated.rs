//! Randomly generated, but deterministic, sales meetings that fill the demo calendar.

use super::*;
use crate::demo::data::{pick, pick_company, Person};
use crate::demo::ical::{at, Alarm, End, When};
use crate::demo::tz::Zone;
use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A kind of generated sales meeting.
struct Template {
    summary: &'static str,
    category: &'static str,
    minutes: &'static [i64],
    place: Place,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Phone,
    Video,
    OnSite,
    Restaurant,
    AllDay,
}

static TEMPLATES: &[Template] = &[
    Template {
        summary: "Call with {company}",
        category: "Call",
        minutes: &[15, 30, 30, 45],
        place: Place::Phone,
    },
    Template {
        summary: "Follow-up call: {contact}",
        category: "Call",
        minutes: &[15, 30],
        place: Place::Phone,
    },
    Template {
        summary: "Demo for {company}",
        category: "Demo",
        minutes: &[45, 60, 60, 90],
        place: Place::Video,
    },
    Template {
        summary: "Meeting with {contact} ({company})",
        category: "Meeting",
        minutes: &[30, 60],
        place: Place::OnSite,
    },
    Template {
        summary: "Quote review: {company}",
        category: "Meeting",
        minutes: &[30, 45],
        place: Place::Video,
    },
    Template {
        summary: "Onboarding session – {company}",
        category: "Onboarding",
        minutes: &[60, 90, 120],
        place: Place::Video,
    },
    Template {
        summary: "Contract negotiation – {company}",
        category: "Meeting",
        minutes: &[60, 90],
        place: Place::OnSite,
    },
    Template {
        summary: "QBR with {company}",
        category: "Review",
        minutes: &[60, 90],
        place: Place::OnSite,
    },
    Template {
        summary: "Lunch with {contact}",
        category: "Lunch",
        minutes: &[60, 75, 90],
        place: Place::Restaurant,
    },
    Template {
        summary: "Site visit at {company}",
        category: "Visit",
        minutes: &[120, 180],
        place: Place::OnSite,
    },
    Template {
        summary: "Offer for {company} expires",
        category: "Deadline",
        minutes: &[],
        place: Place::AllDay,
    },
    Template {
        summary: "Go-live at {company}",
        category: "Project",
        minutes: &[],
        place: Place::AllDay,
    },
];

static AGENDAS: &[&str] = &[
    "Agenda:\n1. Recap of last call; open questions\n2. Pricing: {plan}, {seats} seats, 24 months\n3. Next steps",
    "Goals: confirm budget, timeline and decision makers.\nBring: case study (logistics), ROI sheet; NDA signed? yes",
    "Topics: calendar sync on iOS, Android & Outlook; SSO (SAML, OIDC); data export.",
    "Discuss renewal; current plan {plan}, {seats} seats.\nUpsell: mobile add-on, premium support.",
    "Kick-off: project plan, milestones (M1 import; M2 training; M3 go-live).",
    "Prepare: last invoice, open tickets; feedback from the users (\"too many clicks\").",
];

static PLANS: &[&str] = &["Starter", "Team", "Business", "Enterprise"];
static RESTAURANTS: &[&str] = &[
    "Trattoria",
    "Brasserie",
    "Bistro",
    "Sushi bar",
    "Steakhouse",
    "Café",
];

pub(super) fn generated_events(b: &mut Builder, today: NaiveDate, people: &[Person], count: usize) {
    let mut rng = StdRng::seed_from_u64(0x0CA1_E7D5);
    for _ in 0..count {
        let company = pick_company(&mut rng);
        let staff = by_company(people, company.name);
        let contact = match staff.as_slice() {
            [] => &people[0],
            s => *pick(&mut rng, s),
        };
        let t = pick(&mut rng, TEMPLATES);
        let summary = t
            .summary
            .replace("{company}", company.name)
            .replace("{contact}", &contact.full);

        let offset = rng.gen_range(-60..=120i64);
        let mut d = today + TimeDelta::days(offset);
        if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
            d = if offset > 117 {
                d - TimeDelta::days(2)
            } else {
                next_workday(d)
            };
        }

        let (start, end) = if t.place == Place::AllDay {
            (When::Date(d), End::At(When::Date(d + TimeDelta::days(1))))
        } else {
            let (hours, zone) = match company.zone {
                Some(Zone::Berlin) => (8..=17u32, Some(Zone::Berlin)),
                Some(Zone::NewYork) => (9..=12, Some(Zone::NewYork)),
                Some(Zone::Tokyo) => (15..=17, Some(Zone::Tokyo)),
                None => (7..=15, None),
            };
            let hours = if t.place == Place::Restaurant {
                12..=13
            } else {
                hours
            };
            let h = rng.gen_range(hours);
            let m = 15 * rng.gen_range(0..4u32);
            let start = match zone {
                Some(z) => When::Local(at(d, h, m), z),
                None => When::Utc(at(d, h, m)),
            };
            let minutes = *pick(&mut rng, t.minutes);
            let end = if rng.gen_ratio(3, 10) {
                End::Duration(TimeDelta::minutes(minutes))
            } else {
                End::At(start.plus(TimeDelta::minutes(minutes)))
            };
            (start, end)
        };

        let mut e = b.event(summary, start, end);
        e.location = match t.place {
            Place::Phone => Some(format!("Phone: {}", contact.work_tel)),
            Place::Video => Some(if rng.gen_bool(0.5) {
                "Microsoft Teams".to_string()
            } else {
                format!(
                    "Zoom: https://zoom.example/j/84{:08}",
                    rng.gen_range(0..100_000_000u32)
                )
            }),
            Place::OnSite => Some(address(contact)),
            Place::Restaurant => Some(format!("{}, {}", pick(&mut rng, RESTAURANTS), company.city)),
            Place::AllDay => None,
        };
        if t.place != Place::AllDay && rng.gen_ratio(2, 3) {
            let agenda = pick(&mut rng, AGENDAS)
                .replace("{plan}", pick::<&str>(&mut rng, PLANS))
                .replace("{seats}", &(5 * rng.gen_range(2..60u32)).to_string());
            e.description = Some(format!(
                "{agenda}\n\nContact: {} <{}>, {}",
                contact.full, contact.email, contact.cell
            ));
        }
        let relation = contact.categories.first().copied().unwrap_or("Customer");
        e.categories = vec![t.category.to_string(), relation.to_string()];
        e.class = if rng.gen_ratio(1, 10) {
            Some("PRIVATE")
        } else {
            None
        };

        let roll = rng.gen_range(0..100u32);
        e.status = Some(if roll < 80 {
            "CONFIRMED"
        } else if roll < 92 {
            "TENTATIVE"
        } else {
            "CANCELLED"
        });
        let past = offset < 0;
        let partstat = match (e.status, past) {
            (Some("CANCELLED"), _) => "DECLINED",
            (Some("TENTATIVE"), _) => "TENTATIVE",
            (_, true) => "ACCEPTED",
            _ => *pick(
                &mut rng,
                &["ACCEPTED", "ACCEPTED", "NEEDS-ACTION", "TENTATIVE"],
            ),
        };

        if t.place == Place::AllDay {
            e.transparent = true;
            e.organizer = None;
            e.alarms = vec![Alarm::Display {
                trigger: "-PT15H",
                related_end: false,
                text: e.summary.clone(),
            }];
        } else {
            e.attendees.push(person(contact, partstat));
            if staff.len() > 1 && rng.gen_ratio(1, 3) {
                let other = *pick(&mut rng, &staff);
                if other.n != contact.n {
                    e.attendees.push(person(other, "NEEDS-ACTION"));
                }
            }
            if rng.gen_ratio(1, 4) {
                e.attendees
                    .push(colleague(pick(&mut rng, TEAM), "ACCEPTED"));
            }
            if e.status != Some("CANCELLED") {
                if rng.gen_ratio(3, 5) {
                    e.alarms.push(remind("-PT15M"));
                }
                if rng.gen_ratio(1, 10) {
                    e.alarms.push(Alarm::Display {
                        trigger: "-PT5M",
                        related_end: true,
                        text: "Wrap up: next steps?".into(),
                    });
                }
            } else {
                e.sequence = 1;
            }
            if t.place == Place::Restaurant && rng.gen_ratio(1, 2) {
                e.transparent = true;
            }
        }
        b.push(e);
    }
}
