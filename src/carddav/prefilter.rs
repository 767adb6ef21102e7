//! A necessary condition for an addressbook-query, answerable from the store's index of
//! card fields, so that a query reads and parses only the cards that can match.

use super::card::INDEXED;
use super::filter::{CardFilter, Collation, MatchType, PropFilter, Test};

/// One index probe: some field `prop` whose folded value contains `needle`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Property name, upper case (`FN`, `EMAIL`, …).
    pub prop: String,
    /// The text to find, folded with [`fold`].
    pub needle: String,
}

/// The folding used for the index: `i;unicode-casemap`, which folds at least as much as every
/// collation we support, so a match under any of them is also a match of the folded values.
pub fn fold(s: &str) -> String {
    Collation::UnicodeCasemap.key(s)
}

fn prop_probes(pf: &PropFilter) -> Option<Vec<Probe>> {
    let prop = pf.name.to_ascii_uppercase();
    if pf.is_not_defined
        || pf.text_matches.is_empty()
        || !INDEXED.contains(&prop.as_str())
        || pf.text_matches.iter().any(|t| t.negate)
    {
        return None;
    }
    let probe = |t: &super::filter::TextMatch| Probe {
        prop: prop.clone(),
        needle: fold(&t.text),
    };
    match pf.test {
        // Any one condition may hold, so every text-match is a way in; a param-filter alone
        // could also satisfy it, which the index cannot see.
        Test::AnyOf if pf.param_filters.is_empty() => {
            Some(pf.text_matches.iter().map(probe).collect())
        }
        Test::AnyOf => None,
        // All must hold: the first text-match is necessary.
        Test::AllOf => pf.text_matches.first().map(|t| vec![probe(t)]),
    }
}

/// Probes of which at least one must hit for a card to match `filter`; `None` when the
/// filter cannot be answered from the index (then every card must be examined).
pub fn probes(filter: &CardFilter) -> Option<Vec<Probe>> {
    if filter.prop_filters.is_empty() {
        return None;
    }
    match filter.test {
        Test::AnyOf => {
            let mut out = Vec::new();
            for pf in &filter.prop_filters {
                out.extend(prop_probes(pf)?);
            }
            Some(out)
        }
        Test::AllOf => filter.prop_filters.iter().find_map(prop_probes),
    }
}

/// A filter the store's index answers exactly (no card is read to decide): one text-match
/// on one indexed property, not negated, no param-filter, a non-empty text. Every collation
/// and match type qualifies: the index keeps each tested string unfolded beside its
/// `i;unicode-casemap` key (`store::card_fields`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExactProbe {
    /// Property name, upper case.
    pub prop: String,
    pub collation: Collation,
    pub match_type: MatchType,
    /// The text-match's text as the client sent it (the store folds it per collation).
    pub text: String,
}

/// The [`ExactProbe`] that decides `filter` on its own, if any.
pub fn exact_probe(filter: &CardFilter) -> Option<ExactProbe> {
    let [pf] = filter.prop_filters.as_slice() else {
        return None;
    };
    let prop = pf.name.to_ascii_uppercase();
    let [tm] = pf.text_matches.as_slice() else {
        return None;
    };
    if pf.is_not_defined
        || !pf.param_filters.is_empty()
        || tm.negate
        // An empty text matches a property whose value is empty, which is not indexed.
        || tm.text.is_empty()
        || !INDEXED.contains(&prop.as_str())
    {
        return None;
    }
    Some(ExactProbe {
        prop,
        collation: tm.collation,
        match_type: tm.match_type,
        text: tm.text.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{parse, Limits};

    fn filter(xml: &str) -> CardFilter {
        let el = parse(xml.as_bytes(), Limits::default()).unwrap();
        crate::carddav::parse_filter(&el).unwrap()
    }

    #[test]
    fn simple_contains_uses_the_index() {
        let f = filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav"><C:prop-filter name="FN"><C:text-match match-type="contains">ZOË</C:text-match></C:prop-filter></C:filter>"#,
        );
        assert_eq!(
            probes(&f),
            Some(vec![Probe {
                prop: "FN".into(),
                needle: fold("zoë")
            }])
        );
    }

    #[test]
    fn anyof_needs_every_branch_indexable() {
        let f = filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav" test="anyof"><C:prop-filter name="FN"><C:text-match>a</C:text-match></C:prop-filter><C:prop-filter name="NOTE"><C:text-match>b</C:text-match></C:prop-filter></C:filter>"#,
        );
        assert_eq!(probes(&f), None);
        let f = filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav" test="allof"><C:prop-filter name="NOTE"><C:text-match>b</C:text-match></C:prop-filter><C:prop-filter name="EMAIL"><C:text-match>x@y</C:text-match></C:prop-filter></C:filter>"#,
        );
        assert_eq!(probes(&f).map(|p| p[0].prop.clone()), Some("EMAIL".into()));
    }

    #[test]
    fn negation_and_is_not_defined_scan() {
        let f = filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav"><C:prop-filter name="FN"><C:text-match negate-condition="yes">a</C:text-match></C:prop-filter></C:filter>"#,
        );
        assert_eq!(probes(&f), None);
        let f = filter(
            r#"<C:filter xmlns:C="urn:ietf:params:xml:ns:carddav"><C:prop-filter name="EMAIL"><C:is-not-defined/></C:prop-filter></C:filter>"#,
        );
        assert_eq!(probes(&f), None);
    }
}
