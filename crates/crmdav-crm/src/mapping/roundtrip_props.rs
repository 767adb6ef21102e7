//! Property tests: a record rendered through a mapping and parsed back gives the record's
//! writable mapped fields (text on every shipped mapping; dates, lists, structured names and
//! integers on the amagi-crm mappings).

use super::rules::{Access, FieldType, ValueType};
use super::*;
use crate::record::{jsonpath, Record};
use chrono::{DateTime, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{json, Value};

/// The repository root, where the shipped `mappings/` live (this crate sits in `crates/`).
const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");

fn shipped() -> Vec<(String, Mapping)> {
    let mut files: Vec<_> = std::fs::read_dir(format!("{REPO}/mappings"))
        .expect("mappings/")
        .flat_map(|crm| std::fs::read_dir(crm.expect("entry").path()).expect("crm folder"))
        .map(|f| f.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let m = Mapping::load(&p).unwrap_or_else(|e| panic!("{e}"));
            (p.display().to_string(), m)
        })
        .collect()
}

fn rec(data: Value) -> Record {
    Record {
        id: "42".into(),
        data,
        modified: None,
        version: None,
    }
}

/// Text a person types: letters of several scripts and widths, digits, TEXT's escaped
/// characters (`,` `;` `\`), quotes and colons; no leading or trailing space (clients trim).
fn text() -> impl Strategy<Value = String> {
    "[A-Za-z0-9éüßÆ中文😀,;:\\\\\"'.@+-]([A-Za-z0-9éüßÆ中文😀,;:\\\\\"'.@+ -]{0,60}[A-Za-z0-9éüßÆ中文😀,;:\\\\\"'.@+-])?"
}

/// Multi-line text (notes, descriptions): `text()` lines joined by LF.
fn note() -> impl Strategy<Value = String> {
    prop::collection::vec(text(), 1..4).prop_map(|ls| ls.join("\n"))
}

/// An instant on a whole minute between 2000 and 2040.
fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64 / 60..2_208_988_800i64 / 60)
        .prop_map(|m| Utc.timestamp_opt(m * 60, 0).single().expect("in range"))
}

fn instant_of(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str()
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|d| d.with_timezone(&Utc))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Every writable plain-text field of every shipped mapping survives render → parse.
    #[test]
    fn text_fields_of_every_shipped_mapping(values in prop::collection::vec(text(), 24)) {
        for (file, m) in shipped() {
            let rules: Vec<_> = m
                .fields
                .iter()
                .filter(|r| r.access != Access::ReadOnly && r.kind == FieldType::Text)
                .filter(|r| matches!(r.value_type, ValueType::Auto | ValueType::String))
                .filter_map(|r| r.path.as_deref())
                .collect();
            let mut data = json!({});
            for (path, v) in rules.iter().zip(&values) {
                let segs = jsonpath::parse(path).expect("checked on load");
                if jsonpath::get_segs(&data, &segs).is_none() {
                    jsonpath::set(&mut data, &segs, Value::String(v.clone())).expect("set");
                }
            }
            let body = m.to_component(&rec(data.clone()));
            let patch = m.to_record(&body).map_err(|e| TestCaseError::fail(format!("{file}: {e}")))?;
            for path in &rules {
                let segs = jsonpath::parse(path).expect("checked on load");
                prop_assert_eq!(
                    jsonpath::get_segs(&patch, &segs),
                    jsonpath::get_segs(&data, &segs),
                    "{} field {} in\n{}", file, path, body
                );
            }
        }
    }

    /// amagi-crm appointments: title, notes, location, the contact id and both ends (as
    /// instants: the CRM answers in UTC, the gateway writes the firm's offset).
    #[test]
    fn amagi_appointments(
        title in text(),
        notes in note(),
        location in text(),
        contact in proptest::option::of(1i64..1_000_000),
        start in instant(),
        minutes in 1i64..20_000,
    ) {
        let m = Mapping::load(format!("{REPO}/mappings/amagi-crm/appointments.toml")).expect("mapping");
        let end = start + chrono::Duration::minutes(minutes);
        let data = json!({
            "id": 42, "title": title, "notes": notes, "location": location,
            "contact_id": contact, "status": "booked",
            "start": start.to_rfc3339(), "end": end.to_rfc3339(),
        });
        let body = m.to_component(&rec(data));
        let patch = m.to_record(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(&patch["title"], &json!(title), "{}", body);
        prop_assert_eq!(&patch["notes"], &json!(notes), "{}", body);
        prop_assert_eq!(&patch["location"], &json!(location), "{}", body);
        prop_assert_eq!(patch.get("contact_id").cloned().unwrap_or(Value::Null), json!(contact), "{}", body);
        prop_assert_eq!(instant_of(&patch["start"]), Some(start), "{}", body);
        prop_assert_eq!(instant_of(&patch["end"]), Some(end), "{}", body);
    }

    /// amagi-crm contacts: the structured name and company, email, phone, the comma list of
    /// tags and notes, through vCard 3.0 and 4.0.
    #[test]
    fn amagi_contacts(
        first in text(),
        last in text(),
        company in text(),
        email in text(),
        phone in text(),
        tags in prop::collection::vec(text(), 0..4),
        notes in note(),
        v4 in any::<bool>(),
    ) {
        let m = Mapping::load(format!("{REPO}/mappings/amagi-crm/contacts.toml")).expect("mapping");
        let data = json!({
            "id": 42, "first_name": first, "last_name": last, "company": company,
            "email": email, "phone": phone, "tags": tags, "notes": notes,
        });
        let version = if v4 { VCardVersion::V4 } else { VCardVersion::V3 };
        let body = m.to_vcard(&rec(data.clone()), version);
        let patch = m.to_record(&body).map_err(|e| TestCaseError::fail(e.to_string()))?;
        for key in ["first_name", "last_name", "company", "email", "phone", "tags", "notes"] {
            prop_assert_eq!(&patch[key], &data[key], "{} in\n{}", key, body);
        }
    }
}
