//! `${VAR}` and `${VAR:-default}` placeholders in connector definitions and mappings, filled
//! from a tenant's options; an unknown variable without a default is an error.

use std::collections::HashMap;

/// Fill `${VAR}` / `${VAR:-default}` placeholders from `vars`.
pub fn substitute(input: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed ${{ in {input:?}"))?;
        let inner = &after[..end];
        let (name, default) = match inner.split_once(":-") {
            Some((n, d)) => (n, Some(d)),
            None => (inner, None),
        };
        match (vars.get(name), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(format!("unknown variable ${{{name}}}")),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Apply [`substitute`] to every string inside a TOML value (before deserialising).
pub fn substitute_toml(
    value: &mut toml::Value,
    vars: &HashMap<String, String>,
) -> Result<(), String> {
    match value {
        toml::Value::String(s) => *s = substitute(s, vars)?,
        toml::Value::Array(a) => {
            for v in a {
                substitute_toml(v, vars)?;
            }
        }
        toml::Value::Table(t) => {
            for (_, v) in t.iter_mut() {
                substitute_toml(v, vars)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitution() {
        let vars: HashMap<String, String> =
            [("host".to_string(), "crm.example".to_string())].into();
        assert_eq!(
            substitute("https://${host}/api", &vars).unwrap(),
            "https://crm.example/api"
        );
        assert_eq!(substitute("${tz:-UTC}", &vars).unwrap(), "UTC");
        assert!(substitute("${missing}", &vars).is_err());
        assert!(substitute("${open", &vars).is_err());
    }
}
