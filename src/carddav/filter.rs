//! `addressbook-query` filters (RFC 6352 §10.5) and `limit` (§8.6.1).

use super::card::{entry_text, parse_lenient, value_text};
use super::{clip, FilterError};
use crate::xml::{Element, NS_CARDDAV};
use calcard::vcard::{VCard, VCardEntry};
use unicode_normalization::UnicodeNormalization;

/// How a list of conditions combines (`test` attribute, default `anyof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Test {
    /// At least one condition holds.
    #[default]
    AnyOf,
    /// Every condition holds.
    AllOf,
}

/// `match-type` of a text-match (default `contains`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    Equals,
    #[default]
    Contains,
    StartsWith,
    EndsWith,
}

/// Collations offered for text-match (RFC 4790); advertise them in
/// `CARDDAV:supported-collation-set` with [`Collation::ALL`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    /// `i;ascii-casemap`: ASCII letters compared case-insensitively, other bytes exactly.
    AsciiCasemap,
    /// `i;unicode-casemap` (RFC 5051, the CardDAV default): Unicode case folding and NFKD.
    #[default]
    UnicodeCasemap,
    /// `i;octet`: exact bytes.
    Octet,
}

impl Collation {
    /// Every supported collation.
    pub const ALL: [Collation; 3] = [
        Collation::AsciiCasemap,
        Collation::UnicodeCasemap,
        Collation::Octet,
    ];

    /// The collation identifier, e.g. `i;unicode-casemap`.
    pub fn as_str(self) -> &'static str {
        match self {
            Collation::AsciiCasemap => "i;ascii-casemap",
            Collation::UnicodeCasemap => "i;unicode-casemap",
            Collation::Octet => "i;octet",
        }
    }

    /// Parses a collation identifier; `None` when unsupported.
    pub fn parse(s: &str) -> Option<Collation> {
        match s.trim() {
            "i;ascii-casemap" => Some(Collation::AsciiCasemap),
            "i;unicode-casemap" => Some(Collation::UnicodeCasemap),
            "i;octet" => Some(Collation::Octet),
            _ => None,
        }
    }

    /// The comparison key of `s` under this collation: two strings are equal for the
    /// collation when their keys are equal, and substring tests work on the keys. The server
    /// can store keys of [`index_fields`](super::index_fields) values to prefilter.
    pub fn key(self, s: &str) -> String {
        match self {
            Collation::Octet => s.to_string(),
            Collation::AsciiCasemap => s.to_ascii_lowercase(),
            Collation::UnicodeCasemap => s
                .chars()
                .flat_map(char::to_uppercase)
                .flat_map(char::to_lowercase)
                .nfkd()
                .collect(),
        }
    }
}

/// `CARDDAV:text-match`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TextMatch {
    /// The text to look for (surrounding XML whitespace trimmed).
    pub text: String,
    pub collation: Collation,
    /// `negate-condition="yes"`.
    pub negate: bool,
    pub match_type: MatchType,
}

impl TextMatch {
    /// Whether `value` satisfies this text-match, negation included.
    pub fn matches(&self, value: &str) -> bool {
        self.matches_any(std::iter::once(value))
    }

    /// True when any of `values` matches (before negation), then negated if asked.
    fn matches_any<'a>(&self, values: impl IntoIterator<Item = &'a str>) -> bool {
        let needle = self.collation.key(&self.text);
        let hit = values.into_iter().any(|v| {
            let hay = self.collation.key(v);
            match self.match_type {
                MatchType::Equals => hay == needle,
                MatchType::Contains => hay.contains(&needle),
                MatchType::StartsWith => hay.starts_with(&needle),
                MatchType::EndsWith => hay.ends_with(&needle),
            }
        });
        hit != self.negate
    }
}

/// `CARDDAV:param-filter`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParamFilter {
    /// Parameter name, e.g. `TYPE` (compared case-insensitively).
    pub name: String,
    /// `CARDDAV:is-not-defined`: matches when the parameter is absent.
    pub is_not_defined: bool,
    /// Condition on the parameter's values (any value may match).
    pub text_match: Option<TextMatch>,
}

/// `CARDDAV:prop-filter`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PropFilter {
    /// Property name, e.g. `TEL` (compared case-insensitively, groups ignored).
    pub name: String,
    /// How the text-matches and param-filters combine.
    pub test: Test,
    /// `CARDDAV:is-not-defined`: matches when no such property exists.
    pub is_not_defined: bool,
    pub text_matches: Vec<TextMatch>,
    pub param_filters: Vec<ParamFilter>,
}

/// `CARDDAV:filter`. With no prop-filters it matches every card.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CardFilter {
    /// How the prop-filters combine.
    pub test: Test,
    pub prop_filters: Vec<PropFilter>,
}

impl CardFilter {
    /// Whether this filter is empty (matches everything).
    pub fn is_empty(&self) -> bool {
        self.prop_filters.is_empty()
    }
}

fn bad(msg: impl Into<String>) -> FilterError {
    FilterError::UnsupportedFilter(msg.into())
}

fn parse_test(el: &Element) -> Result<Test, FilterError> {
    match el.attr("test").map(str::trim) {
        None => Ok(Test::AnyOf),
        Some(t) if t.eq_ignore_ascii_case("anyof") => Ok(Test::AnyOf),
        Some(t) if t.eq_ignore_ascii_case("allof") => Ok(Test::AllOf),
        Some(t) => Err(bad(format!(
            "test must be \"anyof\" or \"allof\", not {:?}",
            clip(t)
        ))),
    }
}

fn required_name(el: &Element) -> Result<String, FilterError> {
    match el.attr("name").map(str::trim) {
        Some(n) if !n.is_empty() => Ok(n.to_string()),
        _ => Err(bad(format!("{} needs a name attribute", el.name))),
    }
}

/// CardDAV children of `el` (elements of other namespaces are ignored, RFC 4918 §17).
fn carddav_children(el: &Element) -> impl Iterator<Item = &Element> {
    el.elements().filter(|e| e.ns == NS_CARDDAV)
}

fn parse_text_match(el: &Element) -> Result<TextMatch, FilterError> {
    let collation = match el.attr("collation") {
        None => Collation::UnicodeCasemap,
        Some(c) => {
            Collation::parse(c).ok_or_else(|| FilterError::UnsupportedCollation(clip(c.trim())))?
        }
    };
    let negate = match el.attr("negate-condition").map(str::trim) {
        None | Some("no") => false,
        Some("yes") => true,
        Some(v) => {
            return Err(bad(format!(
                "negate-condition must be \"yes\" or \"no\", not {:?}",
                clip(v)
            )))
        }
    };
    let match_type = match el.attr("match-type").map(str::trim) {
        None | Some("contains") => MatchType::Contains,
        Some("equals") => MatchType::Equals,
        Some("starts-with") => MatchType::StartsWith,
        Some("ends-with") => MatchType::EndsWith,
        Some(v) => return Err(bad(format!("unknown match-type {:?}", clip(v)))),
    };
    if el.elements().next().is_some() {
        return Err(bad("text-match holds only text"));
    }
    let text = el
        .text()
        .trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '\n'))
        .to_string();
    Ok(TextMatch {
        text,
        collation,
        negate,
        match_type,
    })
}

fn parse_param_filter(el: &Element) -> Result<ParamFilter, FilterError> {
    let mut pf = ParamFilter {
        name: required_name(el)?,
        ..ParamFilter::default()
    };
    for child in carddav_children(el) {
        match child.name.as_str() {
            "is-not-defined" if !pf.is_not_defined && pf.text_match.is_none() => {
                pf.is_not_defined = true
            }
            "text-match" if !pf.is_not_defined && pf.text_match.is_none() => {
                pf.text_match = Some(parse_text_match(child)?)
            }
            "is-not-defined" | "text-match" => {
                return Err(bad(
                    "param-filter takes one is-not-defined or one text-match",
                ))
            }
            other => return Err(bad(format!("unexpected {:?} in param-filter", clip(other)))),
        }
    }
    Ok(pf)
}

fn parse_prop_filter(el: &Element) -> Result<PropFilter, FilterError> {
    let mut pf = PropFilter {
        name: required_name(el)?,
        test: parse_test(el)?,
        ..PropFilter::default()
    };
    for child in carddav_children(el) {
        match child.name.as_str() {
            "is-not-defined" => pf.is_not_defined = true,
            "text-match" => pf.text_matches.push(parse_text_match(child)?),
            "param-filter" => pf.param_filters.push(parse_param_filter(child)?),
            other => return Err(bad(format!("unexpected {:?} in prop-filter", clip(other)))),
        }
    }
    if pf.is_not_defined && (!pf.text_matches.is_empty() || !pf.param_filters.is_empty()) {
        return Err(bad(
            "prop-filter with is-not-defined takes no text-match or param-filter",
        ));
    }
    Ok(pf)
}

/// Parses `<CARDDAV:filter>` (RFC 6352 §10.5). Unknown collations give
/// `supported-collation`; anything malformed gives `supported-filter`.
pub fn parse_filter(filter_el: &Element) -> Result<CardFilter, FilterError> {
    if !filter_el.is(NS_CARDDAV, "filter") {
        return Err(bad(format!(
            "expected {{{NS_CARDDAV}}}filter, found {{{}}}{}",
            clip(&filter_el.ns),
            clip(&filter_el.name)
        )));
    }
    let test = parse_test(filter_el)?;
    let prop_filters = carddav_children(filter_el)
        .map(|child| {
            if child.name == "prop-filter" {
                parse_prop_filter(child)
            } else {
                Err(bad(format!("unexpected {:?} in filter", clip(&child.name))))
            }
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(CardFilter { test, prop_filters })
}

/// Reads `<CARDDAV:limit><CARDDAV:nresults>N</CARDDAV:nresults></CARDDAV:limit>` from an
/// `addressbook-query` element; `None` when absent or not a number.
pub fn parse_limit(query_el: &Element) -> Option<usize> {
    query_el
        .child(NS_CARDDAV, "limit")?
        .child(NS_CARDDAV, "nresults")?
        .text()
        .trim()
        .parse()
        .ok()
}

/// Whether the vCard `body` satisfies `filter`. An empty filter matches every body; a body
/// that cannot be parsed matches no non-empty filter.
///
/// Property names compare case-insensitively and without groups (`item1.TEL` is `TEL`).
/// A prop-filter holds when one instance of the property satisfies its conditions (combined
/// by its `test`); text-matches see the whole unescaped value (`N` as `Doe;Zoë;;Dr.;`) and,
/// for list values (NICKNAME, CATEGORIES), also each item.
pub fn matches(filter: &CardFilter, body: &str) -> bool {
    if filter.is_empty() {
        return true;
    }
    match parse_lenient(body) {
        Some(card) => matches_card(filter, &card),
        None => false,
    }
}

pub(crate) fn matches_card(filter: &CardFilter, card: &VCard) -> bool {
    let mut results = filter.prop_filters.iter().map(|pf| prop_matches(pf, card));
    match filter.test {
        Test::AnyOf => results.any(|r| r),
        Test::AllOf => results.all(|r| r),
    }
}

fn prop_matches(pf: &PropFilter, card: &VCard) -> bool {
    let mut props = card
        .entries
        .iter()
        .filter(|e| e.name.as_str().eq_ignore_ascii_case(&pf.name))
        .peekable();
    if pf.is_not_defined {
        return props.peek().is_none();
    }
    if pf.text_matches.is_empty() && pf.param_filters.is_empty() {
        return props.peek().is_some();
    }
    props.any(|entry| {
        let whole = entry_text(entry);
        let items: Vec<String> = if entry.values.len() > 1 {
            entry
                .values
                .iter()
                .map(|v| value_text(&entry.name, v))
                .collect()
        } else {
            Vec::new()
        };
        let mut conditions = pf
            .text_matches
            .iter()
            .map(|tm| {
                tm.matches_any(
                    std::iter::once(whole.as_str()).chain(items.iter().map(String::as_str)),
                )
            })
            .chain(pf.param_filters.iter().map(|f| param_matches(f, entry)));
        match pf.test {
            Test::AnyOf => conditions.any(|r| r),
            Test::AllOf => conditions.all(|r| r),
        }
    })
}

fn param_matches(pf: &ParamFilter, entry: &VCardEntry) -> bool {
    let values: Vec<String> = entry
        .params
        .iter()
        .filter(|p| p.name.as_str().eq_ignore_ascii_case(&pf.name))
        .map(|p| p.value.clone().into_text().into_owned())
        .collect();
    if pf.is_not_defined {
        return values.is_empty();
    }
    if values.is_empty() {
        return false;
    }
    match &pf.text_match {
        None => true,
        Some(tm) => tm.matches_any(values.iter().map(String::as_str)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::xml::{parse, Limits};

    /// Parses `<C:filter …>inner</C:filter>` inside an addressbook-query.
    fn filter(attrs: &str, inner: &str) -> Result<CardFilter, FilterError> {
        let xml = format!(
            "<?xml version=\"1.0\"?>\
             <C:addressbook-query xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:carddav\">\
             <D:prop><D:getetag/></D:prop><C:filter {attrs}>{inner}</C:filter>\
             </C:addressbook-query>"
        );
        let root = parse(xml.as_bytes(), Limits::default()).expect("test XML parses");
        let el = root.child(NS_CARDDAV, "filter").expect("has filter");
        parse_filter(el)
    }

    fn f(attrs: &str, inner: &str) -> CardFilter {
        filter(attrs, inner).expect("filter parses")
    }

    fn tm(name: &str, attrs: &str, text: &str) -> String {
        format!("<C:prop-filter name=\"{name}\"><C:text-match {attrs}>{text}</C:text-match></C:prop-filter>")
    }

    #[test]
    fn parses_full_filter() {
        let parsed = f(
            "test=\"allof\"",
            "<C:prop-filter name=\"TEL\" test=\"allof\">\
               <C:text-match collation=\"i;octet\" negate-condition=\"yes\" match-type=\"starts-with\">\n  +1 \n</C:text-match>\
               <C:param-filter name=\"TYPE\"><C:text-match match-type=\"equals\">cell</C:text-match></C:param-filter>\
               <C:param-filter name=\"X-FOO\"><C:is-not-defined/></C:param-filter>\
             </C:prop-filter>\
             <C:prop-filter name=\"PHOTO\"><C:is-not-defined/></C:prop-filter>\
             <X:unknown xmlns:X=\"urn:x\"/>",
        );
        assert_eq!(
            parsed,
            CardFilter {
                test: Test::AllOf,
                prop_filters: vec![
                    PropFilter {
                        name: "TEL".into(),
                        test: Test::AllOf,
                        is_not_defined: false,
                        text_matches: vec![TextMatch {
                            text: "+1".into(),
                            collation: Collation::Octet,
                            negate: true,
                            match_type: MatchType::StartsWith,
                        }],
                        param_filters: vec![
                            ParamFilter {
                                name: "TYPE".into(),
                                is_not_defined: false,
                                text_match: Some(TextMatch {
                                    text: "cell".into(),
                                    collation: Collation::UnicodeCasemap,
                                    negate: false,
                                    match_type: MatchType::Equals,
                                }),
                            },
                            ParamFilter {
                                name: "X-FOO".into(),
                                is_not_defined: true,
                                text_match: None,
                            },
                        ],
                    },
                    PropFilter {
                        name: "PHOTO".into(),
                        is_not_defined: true,
                        ..PropFilter::default()
                    },
                ],
            }
        );
    }

    #[test]
    fn filter_errors() {
        let cases = [
            (
                filter("", &tm("FN", "collation=\"i;klingon\"", "x")),
                FilterError::UnsupportedCollation("i;klingon".into()),
            ),
            (
                filter("", &tm("FN", "match-type=\"regex\"", "x")),
                FilterError::UnsupportedFilter("unknown match-type \"regex\"".into()),
            ),
            (
                filter("", &tm("FN", "negate-condition=\"maybe\"", "x")),
                FilterError::UnsupportedFilter(
                    "negate-condition must be \"yes\" or \"no\", not \"maybe\"".into(),
                ),
            ),
            (
                filter("", "<C:prop-filter><C:is-not-defined/></C:prop-filter>"),
                FilterError::UnsupportedFilter("prop-filter needs a name attribute".into()),
            ),
            (
                filter("test=\"oneof\"", ""),
                FilterError::UnsupportedFilter(
                    "test must be \"anyof\" or \"allof\", not \"oneof\"".into(),
                ),
            ),
            (
                filter(
                    "",
                    "<C:prop-filter name=\"FN\"><C:is-not-defined/><C:text-match>a</C:text-match></C:prop-filter>",
                ),
                FilterError::UnsupportedFilter(
                    "prop-filter with is-not-defined takes no text-match or param-filter".into(),
                ),
            ),
            (
                filter("", "<C:comp-filter name=\"VCARD\"/>"),
                FilterError::UnsupportedFilter("unexpected \"comp-filter\" in filter".into()),
            ),
        ];
        for (got, expected) in cases {
            assert_eq!(got, Err(expected.clone()));
        }
        assert_eq!(
            filter("", &tm("FN", "collation=\"i;klingon\"", "x"))
                .unwrap_err()
                .precondition()
                .name(),
            "supported-collation"
        );

        // A filter element in the wrong namespace is refused.
        let root = parse(b"<D:filter xmlns:D=\"DAV:\"/>", Limits::default()).expect("parses");
        assert_eq!(
            parse_filter(&root).unwrap_err().precondition().name(),
            "supported-filter"
        );
    }

    #[test]
    fn empty_filter_matches_everything() {
        let empty = f("", "");
        assert!(empty.is_empty());
        assert!(matches(&empty, IOS_V3));
        assert!(matches(&empty, V4_CJK));
        assert!(matches(&empty, "not even a card"));
        assert!(!matches(&f("", &tm("FN", "", "a")), "not even a card"));
    }

    #[test]
    fn match_types() {
        let cases = [
            ("equals", "Zoë Doe", true),
            ("equals", "Zoë", false),
            ("contains", "ë D", true),
            ("contains", "Smith", false),
            ("starts-with", "zoË", true),
            ("starts-with", "Doe", false),
            ("ends-with", "DOE", true),
            ("ends-with", "Zoë", false),
        ];
        for (mt, text, expected) in cases {
            let filter = f("", &tm("FN", &format!("match-type=\"{mt}\""), text));
            assert_eq!(matches(&filter, IOS_V3), expected, "{mt} {text}");
        }
        // Default match-type is contains.
        assert!(matches(&f("", &tm("FN", "", "oë d")), IOS_V3));
    }

    #[test]
    fn collations() {
        let cases = [
            // i;unicode-casemap folds non-ASCII case and normalises (NFD input "Zoe\u{308}").
            ("i;unicode-casemap", "ZOË DOE", true),
            ("i;unicode-casemap", "Zoe\u{308} doe", true),
            // i;ascii-casemap folds ASCII only: Ë ≠ ë.
            ("i;ascii-casemap", "ZOË DOE", false),
            ("i;ascii-casemap", "ZOë DOE", true),
            // i;octet is exact.
            ("i;octet", "Zoë Doe", true),
            ("i;octet", "zoë doe", false),
        ];
        for (collation, text, expected) in cases {
            let filter = f(
                "",
                &tm(
                    "FN",
                    &format!("collation=\"{collation}\" match-type=\"equals\""),
                    text,
                ),
            );
            assert_eq!(matches(&filter, IOS_V3), expected, "{collation} {text}");
        }
        let cjk = f("", &tm("FN", "match-type=\"starts-with\"", "李"));
        assert!(matches(&cjk, V4_CJK));
        assert!(!matches(&cjk, IOS_V3));
        assert_eq!(
            Collation::UnicodeCasemap.key("ΣΊΣΥΦΟΣ"),
            Collation::UnicodeCasemap.key("σίσυφος")
        );
    }

    #[test]
    fn negate_condition() {
        let not_doe = f("", &tm("FN", "negate-condition=\"yes\"", "doe"));
        assert!(!matches(&not_doe, IOS_V3));
        assert!(matches(&not_doe, PLAIN_V3));
        // A card without the property does not match a negated text-match either.
        let not_nick = f("", &tm("NICKNAME", "negate-condition=\"yes\"", "x"));
        assert!(!matches(&not_nick, PLAIN_V3));
        assert!(matches(&not_nick, IOS_V3));
    }

    #[test]
    fn anyof_allof() {
        let inner = format!("{}{}", tm("FN", "", "bob"), tm("EMAIL", "", "example.com"));
        let any = f("test=\"anyof\"", &inner);
        let all = f("test=\"allof\"", &inner);
        assert!(matches(&any, IOS_V3)); // EMAIL matches
        assert!(matches(&any, PLAIN_V3)); // FN matches
        assert!(!matches(&any, V4_CJK)); // neither (example.hk)
        assert!(!matches(&all, IOS_V3));
        assert!(!matches(&all, PLAIN_V3)); // example.org
        let all2 = f(
            "test=\"allof\"",
            &format!("{}{}", tm("FN", "", "bob"), tm("EMAIL", "", "example.org")),
        );
        assert!(matches(&all2, PLAIN_V3));

        // Inside a prop-filter: allof needs one TEL satisfying both conditions.
        let tel_all = f(
            "",
            "<C:prop-filter name=\"TEL\" test=\"allof\">\
               <C:text-match>555</C:text-match><C:text-match>000</C:text-match>\
             </C:prop-filter>",
        );
        assert!(matches(&tel_all, IOS_V3)); // +1 555 000 1111
        let tel_all_split = f(
            "",
            "<C:prop-filter name=\"TEL\" test=\"allof\">\
               <C:text-match>123</C:text-match><C:text-match>1111</C:text-match>\
             </C:prop-filter>",
        );
        assert!(!matches(&tel_all_split, IOS_V3)); // no single TEL has both
        let tel_any_split = f(
            "",
            "<C:prop-filter name=\"TEL\" test=\"anyof\">\
               <C:text-match>123</C:text-match><C:text-match>nothing</C:text-match>\
             </C:prop-filter>",
        );
        assert!(matches(&tel_any_split, IOS_V3));
    }

    #[test]
    fn is_not_defined_and_presence() {
        let no_photo = f(
            "",
            "<C:prop-filter name=\"PHOTO\"><C:is-not-defined/></C:prop-filter>",
        );
        assert!(!matches(&no_photo, IOS_V3));
        assert!(matches(&no_photo, PLAIN_V3));
        let has_photo = f("", "<C:prop-filter name=\"photo\"/>");
        assert!(matches(&has_photo, IOS_V3));
        assert!(matches(&has_photo, V4_CJK));
        assert!(!matches(&has_photo, PLAIN_V3));
    }

    #[test]
    fn param_filter_tel_type_cell() {
        let cell = f(
            "",
            "<C:prop-filter name=\"TEL\"><C:param-filter name=\"TYPE\">\
               <C:text-match match-type=\"equals\">cell</C:text-match>\
             </C:param-filter></C:prop-filter>",
        );
        assert!(matches(&cell, IOS_V3)); // item1.TEL;type=CELL
        assert!(matches(&cell, V4_CJK)); // TEL;TYPE=cell
        assert!(!matches(&cell, PLAIN_V3)); // TYPE=HOME only
        let no_type = f(
            "",
            "<C:prop-filter name=\"EMAIL\"><C:param-filter name=\"type\"><C:is-not-defined/></C:param-filter></C:prop-filter>",
        );
        assert!(!matches(&no_type, IOS_V3));
        let bare =
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:x\r\nFN:X\r\nEMAIL:x@example.com\r\nEND:VCARD\r\n";
        assert!(matches(&no_type, bare));
        let has_pref = f(
            "",
            "<C:prop-filter name=\"TEL\"><C:param-filter name=\"PREF\"/></C:prop-filter>",
        );
        assert!(matches(&has_pref, V4_CJK));
        assert!(!matches(&has_pref, IOS_V3));
    }

    #[test]
    fn groups_and_structured_values() {
        // item1.X-ABLabel is X-ABLABEL, whatever the case in the filter.
        let label = f("", &tm("x-ablabel", "", "Mobile"));
        assert!(matches(&label, IOS_V3));
        // N is matched on its whole value.
        let n = f("", &tm("N", "match-type=\"equals\"", "doe;zoë;;dr.;"));
        assert!(matches(&n, IOS_V3));
        let adr = f("", &tm("ADR", "", "Springfield;IL"));
        assert!(matches(&adr, IOS_V3));
        // ORG's escaped comma is unescaped before matching.
        let org = f("", &tm("ORG", "match-type=\"starts-with\"", "Acme, Inc."));
        assert!(matches(&org, IOS_V3));
        // List values: each item can match on its own.
        let cat = f("", &tm("CATEGORIES", "match-type=\"equals\"", "vip"));
        assert!(matches(&cat, PLAIN_V3));
    }

    #[test]
    fn limit() {
        let xml = b"<C:addressbook-query xmlns:C=\"urn:ietf:params:xml:ns:carddav\">\
            <C:filter/><C:limit><C:nresults> 25 </C:nresults></C:limit></C:addressbook-query>";
        let root = parse(xml, Limits::default()).expect("parses");
        assert_eq!(parse_limit(&root), Some(25));
        let xml = b"<C:addressbook-query xmlns:C=\"urn:ietf:params:xml:ns:carddav\">\
            <C:limit><C:nresults>lots</C:nresults></C:limit></C:addressbook-query>";
        let root = parse(xml, Limits::default()).expect("parses");
        assert_eq!(parse_limit(&root), None);
        let xml = b"<C:addressbook-query xmlns:C=\"urn:ietf:params:xml:ns:carddav\"/>";
        let root = parse(xml, Limits::default()).expect("parses");
        assert_eq!(parse_limit(&root), None);
    }
}
