//! Property tests of the vCard 3.0 ⇄ 4.0 conversion: a generated card converted to the other
//! version and back keeps every property both versions can express.
//!
//! The feature set generated, per version (the properties the round trip must keep):
//!
//! * both: UID, FN, N, ORG, NOTE, URL (text with `\`, `,`, `;`, line breaks and non-ASCII),
//!   EMAIL and TEL with TYPE values and a preference, a JPEG or PNG PHOTO, IMPP, a BDAY and an
//!   ANNIVERSARY with or without a year, a group with MEMBERs, an organization;
//! * 4.0 writes these as `TEL;VALUE=uri:tel:…` or text, `PREF=1`, `PHOTO:data:…`,
//!   `KIND:group|org|individual`, `MEMBER`, `BDAY:--MMDD`, `ANNIVERSARY`, and adds GENDER;
//! * 3.0 writes them as Apple does: `TYPE=pref`, `PHOTO;ENCODING=b;TYPE=JPEG`, grouped TELs
//!   with `X-ABLabel`, `X-ADDRESSBOOKSERVER-KIND/-MEMBER`, `X-ABShowAs:COMPANY`,
//!   `X-APPLE-OMIT-YEAR=1604`, and the anniversary as `X-ANNIVERSARY` plus
//!   `itemN.X-ABDATE` / `itemN.X-ABLabel:_$!<Anniversary>!$_`.
//!
//! What the comparison treats as equal (the forms one version cannot tell apart): a TEL's
//! `tel:` URI and its text number (3.0 TEL is text), `KIND:individual` and no KIND (RFC 6350
//! §6.1.4: the default), the letter case of TYPE values, the order of parameters and of
//! properties, and the VALUE / ENCODING / CHARSET parameters (how a value is written, not what
//! it is). Not generated because 3.0 cannot carry them: PREF other than 1 (3.0 has one
//! `TYPE=pref`), ALTID/PID, dates with a time or a reduced precision.

use super::card::{entry_text, parse_lenient};
use super::{convert, inspect, VCardVersion};
use calcard::common::IanaString;
use calcard::vcard::{VCardParameterName, VCardParameterValue, VCardProperty};
use proptest::prelude::*;
use proptest::sample::select;

/// The properties of a card as comparable strings, sorted (see the module doc for what is
/// treated as equal).
fn normalize(body: &str) -> Vec<String> {
    let card = parse_lenient(body).expect("the converted card parses");
    let mut out: Vec<String> = card
        .entries
        .iter()
        .filter(|e| {
            !matches!(
                e.name,
                VCardProperty::Begin | VCardProperty::End | VCardProperty::Version
            )
        })
        .filter_map(|e| {
            let name = e.name.as_str().to_ascii_uppercase();
            let mut value = entry_text(e);
            if name == "KIND" {
                value = value.to_ascii_lowercase();
                if value == "individual" {
                    return None;
                }
            }
            if name == "TEL" {
                value = value.strip_prefix("tel:").unwrap_or(&value).to_string();
            }
            let mut params: Vec<String> = e
                .params
                .iter()
                .filter(|p| p.name != VCardParameterName::Value)
                .filter(|p| {
                    !matches!(&p.name, VCardParameterName::Other(n)
                        if n.eq_ignore_ascii_case("ENCODING") || n.eq_ignore_ascii_case("CHARSET"))
                })
                .map(|p| {
                    let v = match &p.value {
                        VCardParameterValue::Text(t) => t.to_ascii_lowercase(),
                        VCardParameterValue::Integer(i) => i.to_string(),
                        VCardParameterValue::Type(t) => t.as_str().to_ascii_lowercase(),
                        other => format!("{other:?}").to_ascii_lowercase(),
                    };
                    match (&p.name, v.as_str()) {
                        (VCardParameterName::Type, "pref") => "PREF=1".to_string(),
                        _ => format!("{}={v}", p.name.as_str().to_ascii_uppercase()),
                    }
                })
                .collect();
            params.sort();
            let group = e
                .group
                .as_deref()
                .map(|g| format!("{}.", g.to_ascii_lowercase()))
                .unwrap_or_default();
            Some(format!("{group}{name};{}:{value}", params.join(";")))
        })
        .collect();
    out.sort();
    out
}

/// TEXT escaping (RFC 6350 §3.4, RFC 2426 §5): backslash, comma, semicolon, line break.
fn esc(s: &str) -> String {
    crate::contentline::escape_text(s)
}

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Text with the characters that need escaping, non-ASCII, and no edge spaces.
fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        select(vec![
            'a', 'b', 'z', 'Q', '0', '7', ' ', ',', ';', '\\', '\n', ':', '"', 'ü', '李', '-',
        ]),
        1..14,
    )
    .prop_map(|cs| cs.into_iter().collect::<String>().trim().to_string())
    .prop_filter("not blank", |s| !s.is_empty())
}

fn word() -> impl Strategy<Value = String> {
    proptest::collection::vec(select(vec!['a', 'k', 'x', '1', '9']), 1..8)
        .prop_map(|cs| cs.into_iter().collect())
}

fn phone() -> impl Strategy<Value = String> {
    proptest::collection::vec(select(vec!['0', '1', '5', '9', '-']), 3..12)
        .prop_map(|cs| format!("+{}", cs.into_iter().collect::<String>()))
}

/// `(year, month, day)`, the year optional.
fn date() -> impl Strategy<Value = (Option<u16>, u8, u8)> {
    (proptest::option::of(1900u16..2030), 1u8..=12, 1u8..=28)
}

#[derive(Debug, Clone)]
enum Kind {
    None,
    Individual,
    Org,
    Group(Vec<String>),
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::None),
        Just(Kind::Individual),
        Just(Kind::Org),
        proptest::collection::vec(word(), 0..3).prop_map(Kind::Group),
    ]
}

/// Everything a generated card holds, written by [`Card::v4`] or [`Card::v3`].
#[derive(Debug, Clone)]
struct Card {
    uid: String,
    fn_: String,
    n: Option<[String; 3]>,
    org: Option<(String, Option<String>)>,
    note: Option<String>,
    url: Option<String>,
    kind: Kind,
    tels: Vec<(String, &'static str, bool, bool)>,
    emails: Vec<(String, &'static str, bool)>,
    bday: Option<(Option<u16>, u8, u8)>,
    anniversary: Option<(Option<u16>, u8, u8)>,
    photo: Option<(&'static str, Vec<u8>)>,
    impp: Option<(String, bool)>,
    gender: Option<&'static str>,
}

fn card() -> impl Strategy<Value = Card> {
    let names = (
        word(),
        text(),
        proptest::option::of([text(), text(), text()]),
        proptest::option::of((text(), proptest::option::of(text()))),
        proptest::option::of(text()),
        proptest::option::of(word().prop_map(|w| format!("https://example.com/{w}?a=1,2"))),
    );
    let contact = (
        kind(),
        proptest::collection::vec(
            (
                phone(),
                select(vec!["cell", "work", "home", "voice"]),
                any::<bool>(),
                any::<bool>(),
            ),
            0..3,
        ),
        proptest::collection::vec((word(), select(vec!["work", "home"]), any::<bool>()), 0..3),
        proptest::option::of(date()),
        proptest::option::of(date()),
        proptest::option::of((
            select(vec!["jpeg", "png"]),
            proptest::collection::vec(any::<u8>(), 1..40),
        )),
        proptest::option::of((word(), any::<bool>())),
        proptest::option::of(select(vec!["M", "F", "O", "N", "U"])),
    );
    (names, contact).prop_map(
        |(
            (uid, fn_, n, org, note, url),
            (kind, tels, emails, bday, anniversary, photo, impp, gender),
        )| Card {
            uid,
            fn_,
            n,
            org,
            note,
            url,
            kind,
            tels,
            emails: emails
                .into_iter()
                .map(|(w, t, p)| (format!("{w}@example.com"), t, p))
                .collect(),
            bday,
            anniversary,
            photo,
            impp,
            gender,
        },
    )
}

impl Card {
    /// The properties both versions write alike.
    fn common(&self, out: &mut Vec<String>) {
        out.push(format!("UID:urn:uuid:{}", self.uid));
        out.push(format!("FN:{}", esc(&self.fn_)));
        if let Some([a, b, c]) = &self.n {
            out.push(format!("N:{};{};{};;", esc(a), esc(b), esc(c)));
        }
        if let Some((a, b)) = &self.org {
            match b {
                Some(b) => out.push(format!("ORG:{};{}", esc(a), esc(b))),
                None => out.push(format!("ORG:{}", esc(a))),
            }
        }
        if let Some(note) = &self.note {
            out.push(format!("NOTE:{}", esc(note)));
        }
        if let Some(url) = &self.url {
            out.push(format!("URL:{url}"));
        }
    }

    fn v4(&self) -> String {
        let mut out = vec!["BEGIN:VCARD".to_string(), "VERSION:4.0".to_string()];
        self.common(&mut out);
        match &self.kind {
            Kind::None => {}
            Kind::Individual => out.push("KIND:individual".into()),
            Kind::Org => out.push("KIND:org".into()),
            Kind::Group(members) => {
                out.push("KIND:group".into());
                for m in members {
                    out.push(format!("MEMBER:urn:uuid:{m}"));
                }
            }
        }
        for (number, ty, pref, uri) in &self.tels {
            let pref = if *pref { ";PREF=1" } else { "" };
            if *uri {
                out.push(format!("TEL;VALUE=uri;TYPE={ty}{pref}:tel:{number}"));
            } else {
                out.push(format!("TEL;TYPE={ty}{pref}:{number}"));
            }
        }
        for (email, ty, pref) in &self.emails {
            let pref = if *pref { ";PREF=1" } else { "" };
            out.push(format!("EMAIL;TYPE={ty}{pref}:{email}"));
        }
        let v4_date = |(y, m, d): (Option<u16>, u8, u8)| match y {
            Some(y) => format!("{y:04}{m:02}{d:02}"),
            None => format!("--{m:02}{d:02}"),
        };
        if let Some(d) = self.bday {
            out.push(format!("BDAY:{}", v4_date(d)));
        }
        if let Some(d) = self.anniversary {
            out.push(format!("ANNIVERSARY:{}", v4_date(d)));
        }
        if let Some((ty, bytes)) = &self.photo {
            out.push(format!("PHOTO:data:image/{ty};base64,{}", base64(bytes)));
        }
        if let Some((who, pref)) = &self.impp {
            let pref = if *pref { ";PREF=1" } else { "" };
            out.push(format!("IMPP{pref}:xmpp:{who}@example.com"));
        }
        if let Some(g) = self.gender {
            out.push(format!("GENDER:{g}"));
        }
        out.push("END:VCARD".into());
        out.join("\r\n") + "\r\n"
    }

    fn v3(&self) -> String {
        let mut out = vec!["BEGIN:VCARD".to_string(), "VERSION:3.0".to_string()];
        self.common(&mut out);
        match &self.kind {
            // 3.0 has no word for an individual: the Apple form exists, and maps to nothing.
            Kind::None | Kind::Individual => {}
            Kind::Org => out.push("X-ABShowAs:COMPANY".into()),
            Kind::Group(members) => {
                out.push("X-ADDRESSBOOKSERVER-KIND:group".into());
                for m in members {
                    out.push(format!("X-ADDRESSBOOKSERVER-MEMBER:urn:uuid:{m}"));
                }
            }
        }
        let mut item = 0;
        for (number, ty, pref, grouped) in &self.tels {
            let pref = if *pref { ",pref" } else { "" };
            if *grouped {
                item += 1;
                out.push(format!("item{item}.TEL;type={ty}{pref}:{number}"));
                out.push(format!("item{item}.X-ABLabel:_$!<Mobile>!$_"));
            } else {
                out.push(format!("TEL;TYPE={ty}{pref}:{number}"));
            }
        }
        for (email, ty, pref) in &self.emails {
            let pref = if *pref { ",pref" } else { "" };
            out.push(format!("EMAIL;TYPE=INTERNET,{ty}{pref}:{email}"));
        }
        let v3_date = |(y, m, d): (Option<u16>, u8, u8)| match y {
            Some(y) => (String::new(), format!("{y:04}-{m:02}-{d:02}")),
            None => (
                ";X-APPLE-OMIT-YEAR=1604".to_string(),
                format!("1604-{m:02}-{d:02}"),
            ),
        };
        if let Some(d) = self.bday {
            let (param, value) = v3_date(d);
            out.push(format!("BDAY{param}:{value}"));
        }
        if let Some(d) = self.anniversary {
            let (param, value) = v3_date(d);
            item += 1;
            out.push(format!("X-ANNIVERSARY{param}:{value}"));
            out.push(format!("item{item}.X-ABDATE{param}:{value}"));
            out.push(format!("item{item}.X-ABLabel:_$!<Anniversary>!$_"));
        }
        if let Some((ty, bytes)) = &self.photo {
            let ty = ty.to_ascii_uppercase();
            out.push(format!("PHOTO;ENCODING=b;TYPE={ty}:{}", base64(bytes)));
        }
        if let Some((who, pref)) = &self.impp {
            let pref = if *pref { ";TYPE=pref" } else { "" };
            out.push(format!("IMPP{pref}:xmpp:{who}@example.com"));
        }
        out.push("END:VCARD".into());
        out.join("\r\n") + "\r\n"
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn v4_to_v3_and_back_keeps_what_both_can_say(c in card()) {
        let v4 = c.v4();
        prop_assert!(inspect(&v4).is_ok(), "generated 4.0 card is valid:\n{}", v4);
        let v3 = convert(&v4, VCardVersion::V3).expect("to 3.0");
        prop_assert_eq!(inspect(&v3).map(|i| i.version), Ok(VCardVersion::V3), "{}", v3);
        // Apple's forms, never the 4.0 ones, in the 3.0 card.
        for line in crate::contentline::lines(&v3) {
            let name = line.name();
            prop_assert!(name != "KIND" && name != "MEMBER" && name != "ANNIVERSARY", "{}", v3);
        }
        let back = convert(&v3, VCardVersion::V4).expect("back to 4.0");
        prop_assert_eq!(normalize(&back), normalize(&v4), "3.0 was:\n{}", v3);
    }

    #[test]
    fn v3_to_v4_and_back_keeps_what_both_can_say(c in card()) {
        let v3 = c.v3();
        prop_assert!(inspect(&v3).is_ok(), "generated 3.0 card is valid:\n{}", v3);
        let v4 = convert(&v3, VCardVersion::V4).expect("to 4.0");
        prop_assert_eq!(inspect(&v4).map(|i| i.version), Ok(VCardVersion::V4), "{}", v4);
        // The 4.0 forms, never Apple's, in the 4.0 card.
        let upper = v4.to_ascii_uppercase();
        for apple in [
            "X-ADDRESSBOOKSERVER-", "X-ABSHOWAS", "X-ANNIVERSARY", "X-ABDATE",
            "X-APPLE-OMIT-YEAR", "<ANNIVERSARY>",
        ] {
            prop_assert!(!upper.contains(apple), "{} in\n{}", apple, v4);
        }
        let back = convert(&v4, VCardVersion::V3).expect("back to 3.0");
        prop_assert_eq!(normalize(&back), normalize(&v3), "4.0 was:\n{}", v4);
    }
}

#[test]
fn base64_matches_rfc_4648_vectors() {
    for (raw, enc) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(raw.as_bytes()), enc);
    }
}
