//! One-to-many fields: element filters (`item_filter`: the entries of one array whose `type`
//! is `email` are EMAILs, those whose `type` is `mobile` are TEL;TYPE=cell) and how a list is
//! written (merged with the other rules sharing its array; placed in a `write_template` such
//! as Odoo's replace command, so an update replaces the entries instead of adding them again).

use super::parse::set_path;
use super::rules::FieldRule;
use super::MappingError;
use crate::record::jsonpath;
use serde_json::Value;

/// The placeholder of the list inside a `write_template`.
const ITEMS: &str = "{items}";

impl FieldRule {
    /// Whether element `el` of the rule's array is this rule's (every `item_filter` value
    /// matches; numbers and strings compare by their text).
    pub(super) fn filter_matches(&self, el: &Value) -> bool {
        self.item_filter.iter().all(|(path, want)| {
            jsonpath::get(el, path).is_some_and(|have| {
                have == want
                    || jsonpath::scalar_string(have)
                        .zip(jsonpath::scalar_string(want))
                        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(&b))
            })
        })
    }

    /// Give a written element the rule's `item_filter` values.
    pub(super) fn stamp_filter(&self, el: &mut Value) -> Result<(), MappingError> {
        for (path, value) in &self.item_filter {
            set_path(el, path, value.clone())?;
        }
        Ok(())
    }

    /// Write `items` at `path`: appended to the entries other filtered rules already wrote
    /// there, then placed in `write_template` when the rule has one.
    pub(super) fn write_list(
        &self,
        out: &mut Value,
        path: &str,
        mut items: Vec<Value>,
    ) -> Result<(), MappingError> {
        if !self.item_filter.is_empty() {
            let segs = jsonpath::parse(path).map_err(MappingError::Config)?;
            if let Some(Value::Array(before)) = jsonpath::get_segs(out, &segs) {
                let mut all = before.clone();
                all.append(&mut items);
                items = all;
            }
        }
        let list = Value::Array(items);
        let value = match &self.write_template {
            Some(t) => place_items(t, &list),
            None => list,
        };
        set_path(out, path, value)
    }
}

/// `template` with every `"{items}"` replaced by `list`.
fn place_items(template: &Value, list: &Value) -> Value {
    match template {
        Value::String(s) if s == ITEMS => list.clone(),
        Value::Array(a) => Value::Array(a.iter().map(|x| place_items(x, list)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), place_items(x, list)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::Mapping;
    use serde_json::json;
    use std::collections::HashMap;

    const CONTACT: &str = r#"
component = "VCARD"
[[field]]
property = "FN"
path = "name"
[[field]]
property = "EMAIL"
type = "list"
path = "contact_methods"
item_value = "value"
item_filter = { type = "email" }
[[field]]
property = "TEL"
type = "list"
path = "contact_methods"
item_value = "value"
item_filter = { type = "mobile" }
params = { TYPE = "cell" }
params_match = "strict"
[[field]]
property = "CATEGORIES"
type = "list"
style = "comma"
path = "category_id"
value_type = "integer"
write_template = [[6, 0, "{items}"]]
"#;

    #[test]
    fn filtered_elements_both_ways_and_replacing_writes() {
        let m = Mapping::from_toml_str(CONTACT, &HashMap::new(), None, None).unwrap();
        let rec = crate::record::Record {
            id: "7".into(),
            data: json!({"name": "Ada", "category_id": [3, 5], "contact_methods": [
                {"type": "email", "value": "ada@example.org"},
                {"type": "fax", "value": "+49 30 1"},
                {"type": "mobile", "value": "+49 170 2"}]}),
            modified: None,
            version: None,
        };
        let card = m.to_component(&rec);
        assert!(card.contains("EMAIL:ada@example.org\r\n"), "{card}");
        assert!(card.contains("TEL;TYPE=cell:+49 170 2\r\n"), "{card}");
        assert!(!card.contains("+49 30 1"), "a fax is no rule's: {card}");
        assert!(card.contains("CATEGORIES:3,5\r\n"), "{card}");
        let patch = m.to_record(&card).unwrap();
        assert_eq!(
            patch["contact_methods"],
            json!([{"type": "email", "value": "ada@example.org"},
                   {"type": "mobile", "value": "+49 170 2"}])
        );
        assert_eq!(patch["category_id"], json!([[6, 0, [3, 5]]]));
    }
}
