//! Fallback chains on write: a required CRM field filled from another property when the
//! client's own is missing (a last name from the company or the full name).

use super::text::{split_unescaped, unescape, Prop};

/// The first non-empty value among `sources` in the client's properties. A source is a
/// property name (its first component: `ORG` → the company) or `NAME.n` (component `n`,
/// from 0, of a structured property: `N.1` → the given name). Properties are only read here,
/// never claimed, so the source's own rule still maps it.
pub(super) fn first_available(props: &[Prop], sources: &[String]) -> Option<String> {
    sources.iter().find_map(|src| {
        let (name, index) = match src.rsplit_once('.') {
            Some((n, i)) => match i.parse::<usize>() {
                Ok(i) => (n, i),
                Err(_) => (src.as_str(), 0),
            },
            None => (src.as_str(), 0),
        };
        props
            .iter()
            .filter(|p| p.name.eq_ignore_ascii_case(name))
            .find_map(|p| {
                let parts = split_unescaped(&p.value, ';');
                parts
                    .get(index)
                    .map(|s| unescape(s).trim().to_string())
                    .filter(|s| !s.is_empty())
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prop(name: &str, value: &str) -> Prop {
        Prop {
            name: name.into(),
            params: vec![],
            value: value.into(),
        }
    }

    #[test]
    fn first_non_empty_source_wins() {
        let props = vec![
            prop("N", ";Ada;;;"),
            prop("ORG", "Acme\\; Sons;Sales"),
            prop("FN", "Ada L."),
        ];
        let chain = |s: &[&str]| {
            first_available(&props, &s.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(chain(&["N.0", "ORG", "FN"]), Some("Acme; Sons".into()));
        assert_eq!(chain(&["TITLE", "FN"]), Some("Ada L.".into()));
        assert_eq!(chain(&["N.1"]), Some("Ada".into()));
        assert_eq!(chain(&["NOTE"]), None);
    }
}
