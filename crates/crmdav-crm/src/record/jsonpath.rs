//! A small JSON path dialect shared by connector definitions and mappings.
//!
//! Syntax: keys separated by dots (`data.items`), an array index in brackets (`items[0].id`),
//! and `[]` for "every element" (`attendees[].email`). The empty path is the value itself.
//! A key that itself contains a dot can be written in brackets with quotes: `["@odata.etag"]`.

use serde_json::{Map, Value};

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// An object key.
    Key(String),
    /// An array index.
    Index(usize),
    /// Every element of an array.
    Each,
}

/// Parse a path; `Err` with a message on bad syntax.
pub fn parse(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut chars = path.chars().peekable();
    let mut key = String::new();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
            }
            '[' => {
                if !key.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut key)));
                }
                let mut inner = String::new();
                let mut closed = false;
                for c in chars.by_ref() {
                    let in_quotes = inner.starts_with('"') && !inner[1..].ends_with('"');
                    if c == ']' && !in_quotes {
                        closed = true;
                        break;
                    }
                    inner.push(c);
                }
                if !closed {
                    return Err(format!("unclosed '[' in path {path:?}"));
                }
                let inner = inner.trim();
                if inner.is_empty() {
                    segs.push(Seg::Each);
                } else if let Some(q) = inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
                    segs.push(Seg::Key(q.to_string()));
                } else {
                    let idx = inner
                        .parse::<usize>()
                        .map_err(|_| format!("bad index [{inner}] in path {path:?}"))?;
                    segs.push(Seg::Index(idx));
                }
            }
            _ => key.push(c),
        }
    }
    if !key.is_empty() {
        segs.push(Seg::Key(key));
    }
    Ok(segs)
}

/// The value at `path`, if every step exists (`[]` steps are not allowed here: use [`get_all`]).
pub fn get<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let segs = parse(path).ok()?;
    get_segs(value, &segs)
}

/// The value at pre-parsed `segs`.
pub fn get_segs<'a>(value: &'a Value, segs: &[Seg]) -> Option<&'a Value> {
    let mut cur = value;
    for seg in segs {
        cur = match seg {
            Seg::Key(k) => cur.as_object()?.get(k)?,
            Seg::Index(i) => cur.as_array()?.get(*i)?,
            Seg::Each => return None,
        };
    }
    Some(cur)
}

/// Every value matched by `segs`, expanding `[]` steps; nulls are skipped.
pub fn get_all<'a>(value: &'a Value, segs: &[Seg]) -> Vec<&'a Value> {
    let mut out = Vec::new();
    collect(value, segs, &mut out);
    out
}

fn collect<'a>(value: &'a Value, segs: &[Seg], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = segs.split_first() else {
        if !value.is_null() {
            out.push(value);
        }
        return;
    };
    match first {
        Seg::Key(k) => {
            if let Some(v) = value.as_object().and_then(|o| o.get(k)) {
                collect(v, rest, out);
            }
        }
        Seg::Index(i) => {
            if let Some(v) = value.as_array().and_then(|a| a.get(*i)) {
                collect(v, rest, out);
            }
        }
        Seg::Each => {
            if let Some(arr) = value.as_array() {
                for v in arr {
                    collect(v, rest, out);
                }
            }
        }
    }
}

/// Set `new` at `segs` inside `target`, creating objects (and arrays for index steps) on the
/// way. A `[]` step takes `new` as an array and spreads it: setting `attendees[].email` to
/// `["a", "b"]` gives `attendees: [{"email": "a"}, {"email": "b"}]`.
pub fn set(target: &mut Value, segs: &[Seg], new: Value) -> Result<(), String> {
    let Some((first, rest)) = segs.split_first() else {
        *target = new;
        return Ok(());
    };
    match first {
        Seg::Key(k) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let obj = target
                .as_object_mut()
                .ok_or_else(|| "not an object".to_string())?;
            let slot = obj.entry(k.clone()).or_insert(Value::Null);
            set(slot, rest, new)
        }
        Seg::Index(i) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let arr = target
                .as_array_mut()
                .ok_or_else(|| "not an array".to_string())?;
            while arr.len() <= *i {
                arr.push(Value::Null);
            }
            set(&mut arr[*i], rest, new)
        }
        Seg::Each => {
            let items = match new {
                Value::Array(items) => items,
                Value::Null => Vec::new(),
                other => vec![other],
            };
            let mut arr = Vec::with_capacity(items.len());
            for item in items {
                let mut slot = Value::Null;
                set(&mut slot, rest, item)?;
                arr.push(slot);
            }
            *target = Value::Array(arr);
            Ok(())
        }
    }
}

/// A JSON scalar as a string (`"abc"` → `abc`, `42` → `42`); `None` for null, arrays, objects.
pub fn scalar_string(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parse_forms() {
        assert_eq!(parse("").unwrap(), vec![]);
        assert_eq!(
            parse("data.items[2].x").unwrap(),
            vec![
                Seg::Key("data".into()),
                Seg::Key("items".into()),
                Seg::Index(2),
                Seg::Key("x".into())
            ]
        );
        assert_eq!(
            parse("a[].email").unwrap(),
            vec![Seg::Key("a".into()), Seg::Each, Seg::Key("email".into())]
        );
        assert_eq!(
            parse("[\"@odata.etag\"]").unwrap(),
            vec![Seg::Key("@odata.etag".into())]
        );
        assert!(parse("a[x]").is_err());
        assert!(parse("a[1").is_err());
    }

    #[test]
    fn get_and_set() {
        let v = json!({"data": {"items": [1, 2]}, "a": [{"email": "x"}, {"email": null}, {"email": "y"}]});
        assert_eq!(get(&v, "data.items[1]"), Some(&json!(2)));
        assert_eq!(get(&v, ""), Some(&v));
        assert_eq!(get(&v, "nope.x"), None);
        let all = get_all(&v, &parse("a[].email").unwrap());
        assert_eq!(all, vec![&json!("x"), &json!("y")]);
        let mut t = Value::Null;
        set(&mut t, &parse("x.y").unwrap(), json!(1)).unwrap();
        set(&mut t, &parse("att[].email").unwrap(), json!(["a", "b"])).unwrap();
        assert_eq!(
            t,
            json!({"x": {"y": 1}, "att": [{"email": "a"}, {"email": "b"}]})
        );
    }
}
