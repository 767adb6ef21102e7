//! One vCard: validation ([`inspect`]), version conversion ([`convert`]) and the values the
//! server indexes ([`index_fields`]).

use super::{apple, clip, CardError, VCardVersion};
use crate::contentline::{lines, parse_line, push_folded, Param};
use calcard::vcard::{
    VCard, VCardEntry, VCardParameter, VCardParameterName, VCardParameterValue, VCardProperty,
    VCardValue, VCardValueType,
};
use calcard::{Entry, Parser};
use std::borrow::Cow;

/// What the server needs to know about a valid address object resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardInfo {
    /// The UID property value (unique per address book, RFC 6352 §5.1).
    pub uid: String,
    /// VERSION, 3.0 or 4.0.
    pub version: VCardVersion,
    /// The FN property value (unescaped).
    pub formatted_name: String,
}

/// Validates a PUT body as an address object resource (RFC 6352 §5.1, §6.3.2.1): exactly one
/// vCard, VERSION 3.0 or 4.0, one non-empty UID, an FN.
pub fn inspect(body: &str) -> Result<CardInfo, CardError> {
    let mut parser = Parser::new(body).strict();
    let card = match parser.entry() {
        Entry::VCard(card) => card,
        Entry::UnterminatedComponent(_) => return Err(CardError::Unterminated),
        Entry::ICalendar(_) => {
            return Err(CardError::NotVCard(
                "the body is an iCalendar object, not a vCard".into(),
            ))
        }
        Entry::InvalidLine(line) => {
            return Err(CardError::NotVCard(format!(
                "malformed or unexpected line {:?}",
                clip(&line)
            )))
        }
        Entry::Eof => return Err(CardError::NotVCard("the body is empty".into())),
        _ => return Err(CardError::NotVCard("no BEGIN:VCARD found".into())),
    };
    match parser.entry() {
        Entry::Eof => {}
        Entry::VCard(_) | Entry::UnterminatedComponent(_) => return Err(CardError::MultipleCards),
        _ => {
            return Err(CardError::NotVCard(
                "unexpected content after END:VCARD".into(),
            ))
        }
    }

    let version = card_version(&card)?;

    let mut uids = card.entries.iter().filter(|e| e.name == VCardProperty::Uid);
    let uid = match (uids.next(), uids.next()) {
        (None, _) => return Err(CardError::MissingUid),
        (Some(_), Some(_)) => return Err(CardError::MultipleUids),
        (Some(e), None) => entry_text(e).trim().to_string(),
    };
    if uid.is_empty() {
        return Err(CardError::MissingUid);
    }

    let formatted_name = card
        .entries
        .iter()
        .find(|e| e.name == VCardProperty::Fn)
        .map(entry_text)
        .ok_or(CardError::MissingFn)?;

    Ok(CardInfo {
        uid,
        version,
        formatted_name,
    })
}

/// The card's VERSION: missing → `valid-address-data`, other than 3.0/4.0 →
/// `supported-address-data`.
fn card_version(card: &VCard) -> Result<VCardVersion, CardError> {
    let text = card
        .entries
        .iter()
        .find(|e| e.name == VCardProperty::Version)
        .map(entry_text)
        .ok_or(CardError::MissingVersion)?;
    VCardVersion::parse(&text).ok_or_else(|| CardError::UnsupportedVersion(clip(text.trim())))
}

/// Parses the first vCard of a stored body, leniently (the body was validated when stored).
pub(crate) fn parse_lenient(body: &str) -> Option<VCard> {
    match Parser::new(body).entry() {
        Entry::VCard(card) => Some(card),
        _ => None,
    }
}

/// The version declared on the body's VERSION line, read without a full parse (stops at
/// that line, normally the second).
pub(crate) fn declared_version(body: &str) -> Option<VCardVersion> {
    lines(body)
        .find(|l| l.name() == "VERSION")
        .and_then(|l| VCardVersion::parse(&l.unfolded[l.value_colon()? + 1..]))
}

/// Converts a vCard to `to`. A body already at that version comes back unchanged, byte for
/// byte. Otherwise calcard re-writes it, with these fixes on top:
///
/// * 4.0 binary values (PHOTO, LOGO, SOUND, KEY) become `data:<type>;base64,<data>` URIs with
///   an unescaped comma (calcard writes `base64\,`, which breaks clients' photos), and the
///   3.0 media-type TYPE (`TYPE=JPEG`) is dropped;
/// * 3.0 `TYPE=pref` ⇄ 4.0 `PREF=1`;
/// * 4.0 `TEL;VALUE=uri:tel:+1…` → 3.0 `TEL:+1…`; a 4.0 URI photo gets 3.0 `VALUE=uri`;
/// * no `CHARSET=UTF-8` parameters in 3.0 output (RFC 2426 has none; the body is UTF-8);
/// * Apple's 3.0 forms for KIND, MEMBER, ANNIVERSARY and dates without a year, both ways
///   (the table in `apple.rs`).
pub fn convert(body: &str, to: VCardVersion) -> Result<String, CardError> {
    let source = match to {
        VCardVersion::V4 => binary_as_data_uris(body),
        VCardVersion::V3 => Cow::Borrowed(body),
    };
    let mut card = parse_lenient(&source).ok_or_else(|| {
        CardError::Conversion(to, "the stored body is not a parsable vCard".into())
    })?;
    let from = card
        .entries
        .iter()
        .find(|e| e.name == VCardProperty::Version)
        .map(entry_text)
        .and_then(|v| VCardVersion::parse(&v));
    if from == Some(to) {
        return Ok(body.to_string());
    }
    match to {
        VCardVersion::V4 => apple::to_v4(&mut card),
        VCardVersion::V3 => apple::to_v3(&mut card),
    }
    for entry in &mut card.entries {
        match to {
            VCardVersion::V4 => to_v4(entry),
            VCardVersion::V3 => to_v3(entry),
        }
    }
    let mut written = String::with_capacity(body.len() + 64);
    card.write_to(&mut written, super::calcard_version(to))
        .map_err(|e| CardError::Conversion(to, e.to_string()))?;
    if to == VCardVersion::V4 {
        return Ok(written);
    }
    let mut out = String::with_capacity(written.len());
    for line in lines(&written) {
        push_folded(&mut out, &strip_charset(&line.unfolded));
    }
    Ok(out)
}

/// 3.0 inline binary values (`ENCODING=b`, RFC 2426 §5.8.3) rewritten as the 4.0 `data:` URIs
/// they become (RFC 6350 §6.2.4), before calcard reads the card: calcard decodes the base64
/// and keeps bytes that happen to be UTF-8 (a tiny image, an ASCII key) as text, which would
/// write the raw bytes, NUL and all, into the 4.0 card. A media TYPE (`JPEG`) becomes the
/// URI's media type; other TYPE values stay.
fn binary_as_data_uris(body: &str) -> Cow<'_, str> {
    let is_base64 = |p: &Param<'_>| {
        p.name.eq_ignore_ascii_case("ENCODING")
            && p.value.is_some_and(|v| {
                let v = v.trim_matches('"');
                v.eq_ignore_ascii_case("b") || v.eq_ignore_ascii_case("base64")
            })
    };
    let binary =
        |unfolded: &str| parse_line(unfolded).is_some_and(|l| l.params.iter().any(is_base64));
    if !lines(body).any(|l| binary(&l.unfolded)) {
        return Cow::Borrowed(body);
    }
    let mut out = String::with_capacity(body.len() + 64);
    for line in lines(body) {
        let Some(parsed) = parse_line(&line.unfolded).filter(|l| l.params.iter().any(is_base64))
        else {
            out.push_str(line.raw);
            continue;
        };
        let mut media: Option<String> = None;
        let mut head = parsed.full_name().into_owned();
        for p in &parsed.params {
            if is_base64(p) || p.name.eq_ignore_ascii_case("VALUE") {
                continue;
            }
            if p.name.eq_ignore_ascii_case("TYPE") {
                let mut kept = Vec::new();
                for v in p.values() {
                    match legacy_media_type(&v) {
                        Some(m) if media.is_none() => media = Some(m),
                        Some(_) => {}
                        None => kept.push(v),
                    }
                }
                if !kept.is_empty() {
                    head.push_str(";TYPE=");
                    head.push_str(&kept.join(","));
                }
                continue;
            }
            head.push(';');
            head.push_str(p.name);
            if let Some(v) = p.value {
                head.push('=');
                head.push_str(v);
            }
        }
        let data: String = parsed
            .value
            .chars()
            .filter(|c| !c.is_ascii_whitespace())
            .collect();
        let media = media.as_deref().unwrap_or("application/octet-stream");
        push_folded(&mut out, &format!("{head}:data:{media};base64,{data}"));
    }
    Cow::Owned(out)
}

/// The media type a 3.0 TYPE value names for an inline binary value (RFC 2426 §3.1.4: IANA
/// image, sound and key formats), or a full `type/subtype` given there.
fn legacy_media_type(token: &str) -> Option<String> {
    let token = token.trim();
    if token.contains('/') {
        return Some(token.to_ascii_lowercase());
    }
    let media = match token.to_ascii_uppercase().as_str() {
        "JPEG" | "JPG" => "image/jpeg",
        "PNG" => "image/png",
        "GIF" => "image/gif",
        "BMP" => "image/bmp",
        "TIFF" => "image/tiff",
        "WAVE" | "WAV" => "audio/wav",
        "OGG" => "audio/ogg",
        "MP3" | "MPEG" => "audio/mpeg",
        "PGP" => "application/pgp-keys",
        "X509" => "application/pkix-cert",
        _ => return None,
    };
    Some(media.to_string())
}

fn is_binary_property(name: &VCardProperty) -> bool {
    matches!(
        name,
        VCardProperty::Photo | VCardProperty::Logo | VCardProperty::Sound | VCardProperty::Key
    )
}

fn is_pref_type(value: &VCardParameterValue) -> bool {
    matches!(value, VCardParameterValue::Text(t) if t.eq_ignore_ascii_case("pref"))
}

fn to_v4(entry: &mut VCardEntry) {
    if entry
        .values
        .iter()
        .any(|v| matches!(v, VCardValue::Binary(_)))
    {
        for value in &mut entry.values {
            if let VCardValue::Binary(data) = value {
                *value = VCardValue::Text(data.to_unwrapped_string());
            }
        }
        // The media type now lives in the data: URI; 3.0's TYPE=JPEG and VALUE=binary go.
        entry.params.retain(|p| match p.name {
            VCardParameterName::Type => !matches!(p.value, VCardParameterValue::Text(_)),
            VCardParameterName::Value => false,
            _ => true,
        });
    }
    if entry
        .params
        .iter()
        .any(|p| p.name == VCardParameterName::Type && is_pref_type(&p.value))
    {
        entry
            .params
            .retain(|p| !(p.name == VCardParameterName::Type && is_pref_type(&p.value)));
        if !entry
            .params
            .iter()
            .any(|p| p.name == VCardParameterName::Pref)
        {
            entry.params.push(VCardParameter {
                name: VCardParameterName::Pref,
                value: VCardParameterValue::Integer(1),
            });
        }
    }
}

fn to_v3(entry: &mut VCardEntry) {
    if entry
        .params
        .iter()
        .any(|p| p.name == VCardParameterName::Pref)
    {
        entry.params.retain(|p| p.name != VCardParameterName::Pref);
        entry.params.push(VCardParameter {
            name: VCardParameterName::Type,
            value: VCardParameterValue::Text("pref".into()),
        });
    }
    let uri_value = entry.params.iter().any(|p| {
        p.name == VCardParameterName::Value
            && matches!(p.value, VCardParameterValue::ValueType(VCardValueType::Uri))
    });
    if entry.name == VCardProperty::Tel && uri_value {
        let mut stripped = false;
        for value in &mut entry.values {
            if let VCardValue::Text(t) = value {
                if t.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("tel:")) {
                    *t = t.get(4..).unwrap_or_default().to_string();
                    stripped = true;
                }
            }
        }
        if stripped {
            entry.params.retain(|p| p.name != VCardParameterName::Value);
        }
    }
    if is_binary_property(&entry.name)
        && !uri_value
        && entry
            .values
            .iter()
            .all(|v| matches!(v, VCardValue::Text(_)))
        && entry
            .values
            .iter()
            .any(|v| matches!(v, VCardValue::Text(t) if !t.is_empty()))
    {
        entry.params.push(VCardParameter {
            name: VCardParameterName::Value,
            value: VCardParameterValue::ValueType(VCardValueType::Uri),
        });
    }
}

/// Removes the CHARSET parameters of an unfolded line.
fn strip_charset(unfolded: &str) -> String {
    let is_charset = |p: &Param<'_>| p.name.eq_ignore_ascii_case("CHARSET");
    let Some(line) = parse_line(unfolded).filter(|l| l.params.iter().any(is_charset)) else {
        return unfolded.to_string();
    };
    let mut out = String::with_capacity(unfolded.len());
    out.push_str(&line.full_name());
    for p in line.params.iter().filter(|p| !is_charset(p)) {
        out.push(';');
        out.push_str(p.name);
        if let Some(v) = p.value {
            out.push('=');
            out.push_str(v);
        }
    }
    out.push(':');
    out.push_str(line.value);
    out
}

/// Property names [`index_fields`] reports.
pub(crate) const INDEXED: [&str; 7] = ["FN", "N", "EMAIL", "TEL", "ORG", "NICKNAME", "UID"];

/// The values the server stores in its contact index to prefilter `addressbook-query`
/// text-matches: `(PROPERTY, value)` for FN, N, EMAIL, TEL, ORG, NICKNAME and UID, in document
/// order, groups ignored, values unescaped, structured values joined as in [`matches`]
/// (`N` → `Doe;Zoë;;Dr.;`). Empty values are left out; an unparsable body gives nothing.
///
/// [`matches`]: super::matches
pub fn index_fields(body: &str) -> Vec<(String, String)> {
    let Some(card) = parse_lenient(body) else {
        return Vec::new();
    };
    card.entries
        .iter()
        .filter_map(|e| {
            let name = e.name.as_str().to_ascii_uppercase();
            if !INDEXED.contains(&name.as_str()) {
                return None;
            }
            let value = entry_text(e);
            (!value.is_empty()).then_some((name, value))
        })
        .collect()
}

/// The strings a text-match tests per property (see `filter::prop_matches`): what
/// [`index_fields`] reports and, for a property with several values (N, ORG, …), each
/// non-empty value on its own, so that an index of them answers equals, starts-with and
/// ends-with as exactly as contains.
pub fn search_fields(body: &str) -> Vec<(String, String)> {
    let Some(card) = parse_lenient(body) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in &card.entries {
        let name = e.name.as_str().to_ascii_uppercase();
        if !INDEXED.contains(&name.as_str()) {
            continue;
        }
        let whole = entry_text(e);
        if whole.is_empty() {
            continue;
        }
        if e.values.len() > 1 {
            for v in &e.values {
                let part = value_text(&e.name, v);
                if !part.is_empty() {
                    out.push((name.clone(), part));
                }
            }
        }
        out.push((name, whole));
    }
    out
}

/// The whole text value of a property, unescaped: structured values (N, ADR, ORG, GENDER,
/// CLIENTPIDMAP) joined with `;`, lists with `,`.
pub(crate) fn entry_text(entry: &VCardEntry) -> String {
    let separator = match entry.name {
        VCardProperty::N
        | VCardProperty::Adr
        | VCardProperty::Org
        | VCardProperty::Gender
        | VCardProperty::Clientpidmap => ";",
        _ => ",",
    };
    let mut out = String::new();
    for (i, value) in entry.values.iter().enumerate() {
        if i > 0 {
            out.push_str(separator);
        }
        out.push_str(&value_text(&entry.name, value));
    }
    out
}

/// One value as text.
pub(crate) fn value_text(property: &VCardProperty, value: &VCardValue) -> String {
    match value {
        VCardValue::Text(t) => t.clone(),
        VCardValue::Component(items) => items.join(","),
        VCardValue::Integer(i) => i.to_string(),
        VCardValue::Float(f) => f.to_string(),
        VCardValue::Boolean(b) => if *b { "TRUE" } else { "FALSE" }.to_string(),
        VCardValue::PartialDateTime(dt) => {
            let fmt = if *property == VCardProperty::Rev {
                VCardValueType::Timestamp
            } else {
                VCardValueType::DateAndOrTime
            };
            let mut s = String::new();
            let _ = dt.format_as_vcard(&mut s, &fmt);
            s
        }
        VCardValue::Binary(data) => data.to_unwrapped_string(),
        other => other.as_text().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;

    fn unfolded(body: &str) -> Vec<String> {
        lines(body).map(|l| l.unfolded.into_owned()).collect()
    }

    fn has_line(body: &str, line: &str) -> bool {
        unfolded(body).iter().any(|l| l == line)
    }

    #[test]
    fn inspect_ios_v3() {
        let info = inspect(IOS_V3).expect("valid iOS card");
        assert_eq!(
            info,
            CardInfo {
                uid: "5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE".into(),
                version: VCardVersion::V3,
                formatted_name: "Zoë Doe".into(),
            }
        );
    }

    #[test]
    fn inspect_v4_cjk_and_lf_endings() {
        let info = inspect(V4_CJK).expect("valid 4.0 card");
        assert_eq!(info.uid, "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1");
        assert_eq!(info.version, VCardVersion::V4);
        assert_eq!(info.formatted_name, "李小龍");
        let info = inspect(PLAIN_V3).expect("LF line ends accepted");
        assert_eq!(info.uid, "bob-42");
        assert_eq!(info.formatted_name, "Bob Martin");
    }

    fn card(lines: &[&str]) -> String {
        let mut s = String::from("BEGIN:VCARD\r\n");
        for l in lines {
            s.push_str(l);
            s.push_str("\r\n");
        }
        s.push_str("END:VCARD\r\n");
        s
    }

    #[test]
    fn inspect_errors() {
        let cases: Vec<(String, CardError, &str)> = vec![
            (
                String::new(),
                CardError::NotVCard("the body is empty".into()),
                "valid-address-data",
            ),
            (
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n".into(),
                CardError::NotVCard("the body is an iCalendar object, not a vCard".into()),
                "valid-address-data",
            ),
            (
                "hello world".into(),
                CardError::NotVCard("malformed or unexpected line \"hello world\"".into()),
                "valid-address-data",
            ),
            (
                "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:a\r\nFN:A\r\n".into(),
                CardError::Unterminated,
                "valid-address-data",
            ),
            (
                format!(
                    "{}{}",
                    card(&["VERSION:3.0", "UID:a", "FN:A"]),
                    card(&["VERSION:3.0", "UID:b", "FN:B"])
                ),
                CardError::MultipleCards,
                "valid-address-data",
            ),
            (
                format!("{}junk\r\n", card(&["VERSION:3.0", "UID:a", "FN:A"])),
                CardError::NotVCard("unexpected content after END:VCARD".into()),
                "valid-address-data",
            ),
            (
                card(&["UID:a", "FN:A"]),
                CardError::MissingVersion,
                "valid-address-data",
            ),
            (
                card(&["VERSION:2.1", "UID:a", "FN:A"]),
                CardError::UnsupportedVersion("2.1".into()),
                "supported-address-data",
            ),
            (
                card(&["VERSION:3.0", "FN:A"]),
                CardError::MissingUid,
                "valid-address-data",
            ),
            (
                card(&["VERSION:4.0", "UID:", "FN:A"]),
                CardError::MissingUid,
                "valid-address-data",
            ),
            (
                card(&["VERSION:4.0", "UID:a", "UID:b", "FN:A"]),
                CardError::MultipleUids,
                "valid-address-data",
            ),
            (
                card(&["VERSION:3.0", "UID:a", "N:Doe;Jane;;;"]),
                CardError::MissingFn,
                "valid-address-data",
            ),
        ];
        for (body, expected, precondition) in cases {
            let err = inspect(&body).expect_err(&body);
            assert_eq!(err, expected, "for {body:?}");
            assert_eq!(err.precondition().name(), precondition, "for {body:?}");
        }
        assert_eq!(
            CardError::UnsupportedVersion("2.1".into()).to_string(),
            "vCard version \"2.1\" is not supported; use 3.0 or 4.0"
        );
        assert_eq!(
            CardError::MissingUid.to_string(),
            "the vCard has no UID property, which CardDAV requires"
        );
    }

    #[test]
    fn convert_same_version_is_byte_identical() {
        assert_eq!(convert(IOS_V3, VCardVersion::V3).as_deref(), Ok(IOS_V3));
        assert_eq!(convert(V4_CJK, VCardVersion::V4).as_deref(), Ok(V4_CJK));
        assert_eq!(convert(PLAIN_V3, VCardVersion::V3).as_deref(), Ok(PLAIN_V3));
    }

    #[test]
    fn convert_ios_v3_to_v4() {
        let out = convert(IOS_V3, VCardVersion::V4).expect("converts");
        let lines = unfolded(&out);
        assert_eq!(lines.first().map(String::as_str), Some("BEGIN:VCARD"));
        assert_eq!(lines.get(1).map(String::as_str), Some("VERSION:4.0"));
        assert_eq!(lines.last().map(String::as_str), Some("END:VCARD"));
        for expected in [
            "FN:Zoë Doe",
            "N:Doe;Zoë;;Dr.;",
            "ORG:Acme\\, Inc.;Sales",
            "item1.TEL;TYPE=CELL,VOICE;PREF=1:+1 (555) 123-4567",
            "item1.X-ABLabel:_$!<Mobile>!$_",
            "item2.EMAIL;TYPE=INTERNET,WORK:zoe.doe@example.com",
            "BDAY:19850412",
            "UID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE",
            "X-ABUID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE:ABPerson",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected} in\n{out}");
        }
        let photo = format!("PHOTO:data:image/jpeg;base64,{IOS_PHOTO_B64}");
        assert!(has_line(&out, &photo), "{photo} in\n{out}");
        assert!(!out.contains("base64\\,"), "escaped comma in\n{out}");
        assert!(!out.contains("TYPE=JPEG"), "{out}");
        assert!(!out.contains("CHARSET"), "{out}");
        for physical in out.split("\r\n") {
            assert!(physical.len() <= 75, "long line {physical:?}");
        }
        assert_eq!(inspect(&out).map(|i| i.version), Ok(VCardVersion::V4));
    }

    #[test]
    fn convert_v4_to_v3() {
        let out = convert(V4_CJK, VCardVersion::V3).expect("converts");
        let lines = unfolded(&out);
        assert_eq!(lines.get(1).map(String::as_str), Some("VERSION:3.0"));
        for expected in [
            "FN:李小龍",
            "N:李;小龍;;;",
            "TEL;TYPE=CELL,pref:+852-5555-0100",
            "EMAIL;TYPE=HOME:lee@example.hk",
            "URL:https://example.hk/lee?a=1,2;b",
            "UID:urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1",
        ] {
            assert!(lines.iter().any(|l| l == expected), "{expected} in\n{out}");
        }
        let photo = format!("PHOTO;ENCODING=b;TYPE=PNG:{V4_PHOTO_B64}");
        assert!(has_line(&out, &photo), "{photo} in\n{out}");
        assert!(!out.contains("CHARSET"), "{out}");
        assert!(!out.contains("tel:"), "{out}");
        assert_eq!(inspect(&out).map(|i| i.version), Ok(VCardVersion::V3));
    }

    #[test]
    fn convert_round_trips_both_ways() {
        let v4 = convert(IOS_V3, VCardVersion::V4).expect("to 4.0");
        let back = convert(&v4, VCardVersion::V3).expect("back to 3.0");
        assert_eq!(index_fields(&back), index_fields(IOS_V3));
        let photo = format!("PHOTO;ENCODING=b;TYPE=JPEG:{IOS_PHOTO_B64}");
        assert!(has_line(&back, &photo), "{photo} in\n{back}");
        assert!(has_line(
            &back,
            "item1.TEL;TYPE=CELL,VOICE,pref:+1 (555) 123-4567"
        ));
        assert!(has_line(&back, "item1.X-ABLabel:_$!<Mobile>!$_"));
        assert!(has_line(&back, "BDAY:1985-04-12"));
        assert!(has_line(
            &back,
            "NOTE:Met at the trade fair\\, booth 12. Prefers calls in the morning and emails after lunch."
        ));

        let v3 = convert(V4_CJK, VCardVersion::V3).expect("to 3.0");
        let again = convert(&v3, VCardVersion::V4).expect("back to 4.0");
        // The tel: URI became 3.0 text, which 4.0 keeps as text.
        let expected: Vec<(String, String)> = index_fields(V4_CJK)
            .into_iter()
            .map(|(k, v)| (k, v.trim_start_matches("tel:").to_string()))
            .collect();
        assert_eq!(index_fields(&again), expected);
        let photo = format!("PHOTO:data:image/png;base64,{V4_PHOTO_B64}");
        assert!(has_line(&again, &photo), "{photo} in\n{again}");
        assert!(
            has_line(&again, "TEL;TYPE=CELL;PREF=1:+852-5555-0100"),
            "{again}"
        );
    }

    #[test]
    fn convert_uri_photo_gets_value_uri_in_v3() {
        let body = card(&[
            "VERSION:4.0",
            "UID:u1",
            "FN:Uri Photo",
            "PHOTO:https://example.com/p.jpg",
        ]);
        let out = convert(&body, VCardVersion::V3).expect("converts");
        assert!(
            has_line(&out, "PHOTO;VALUE=URI:https://example.com/p.jpg"),
            "{out}"
        );
    }

    #[test]
    fn binary_that_is_utf8_stays_encoded_in_v4() {
        // "AAEC" decodes to the bytes 0, 1, 2 and "QUJD" to "ABC": valid UTF-8, which calcard
        // keeps as text; they used to reach the 4.0 card raw (a NUL in the XML of a REPORT).
        let body = card(&[
            "VERSION:3.0",
            "UID:u1",
            "FN:Tiny",
            "PHOTO;ENCODING=b;TYPE=JPEG:AAEC",
            "KEY;ENCODING=B;TYPE=PGP:QUJD",
            "LOGO;ENCODING=b:QUJD",
        ]);
        let out = convert(&body, VCardVersion::V4).expect("converts");
        assert!(has_line(&out, "PHOTO:data:image/jpeg;base64,AAEC"), "{out}");
        assert!(
            has_line(&out, "KEY:data:application/pgp-keys;base64,QUJD"),
            "{out}"
        );
        assert!(
            has_line(&out, "LOGO:data:application/octet-stream;base64,QUJD"),
            "{out}"
        );
        assert!(
            !out.bytes().any(|b| b < 0x20 && b != b'\r' && b != b'\n'),
            "{out:?}"
        );
        let back = convert(&out, VCardVersion::V3).expect("converts back");
        assert!(has_line(&back, "PHOTO;ENCODING=b;TYPE=JPEG:AAEC"), "{back}");
    }

    #[test]
    fn convert_refuses_garbage() {
        let err = convert("not a card", VCardVersion::V4).unwrap_err();
        assert_eq!(
            err.precondition().name(),
            "supported-address-data-conversion"
        );
        assert_eq!(
            err.to_string(),
            "cannot convert the vCard to version 4.0: the stored body is not a parsable vCard"
        );
    }

    #[test]
    fn index_fields_values() {
        let fields = index_fields(IOS_V3);
        let expected: Vec<(String, String)> = [
            ("N", "Doe;Zoë;;Dr.;"),
            ("FN", "Zoë Doe"),
            ("NICKNAME", "Zo"),
            ("ORG", "Acme, Inc.;Sales"),
            ("TEL", "+1 (555) 123-4567"),
            ("TEL", "+1 555 000 1111"),
            ("EMAIL", "zoe.doe@example.com"),
            ("UID", "5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
        assert_eq!(fields, expected);

        let fields = index_fields(V4_CJK);
        assert_eq!(
            fields,
            vec![
                ("FN".to_string(), "李小龍".to_string()),
                ("N".to_string(), "李;小龍;;;".to_string()),
                ("TEL".to_string(), "tel:+852-5555-0100".to_string()),
                ("EMAIL".to_string(), "lee@example.hk".to_string()),
                (
                    "UID".to_string(),
                    "urn:uuid:4fbe8971-0bc3-424c-9c26-36c3e1eff6b1".to_string()
                ),
            ]
        );
        assert!(index_fields("garbage").is_empty());
    }

    #[test]
    fn search_fields_add_the_values_of_structured_properties() {
        let fields = search_fields(IOS_V3);
        let n: Vec<&str> = fields
            .iter()
            .filter(|(p, _)| p == "N")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(n, ["Doe", "Zoë", "Dr.", "Doe;Zoë;;Dr.;"]);
        let fn_: Vec<&str> = fields
            .iter()
            .filter(|(p, _)| p == "FN")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(fn_, ["Zoë Doe"], "one value: the whole only");
        for f in index_fields(IOS_V3) {
            assert!(fields.contains(&f), "{f:?}");
        }
    }

    #[test]
    fn declared_version_reads_the_line() {
        assert_eq!(declared_version(IOS_V3), Some(VCardVersion::V3));
        assert_eq!(declared_version(V4_CJK), Some(VCardVersion::V4));
        assert_eq!(declared_version("BEGIN:VCARD\r\nEND:VCARD\r\n"), None);
    }

    #[test]
    fn never_panics_on_truncated_or_odd_input() {
        let odd = "BEGIN:VCARD\r\nVERSION:4.0\r\nTEL;VALUE=uri:ab李\r\nPHOTO:data:;base64,@@\r\n\
                   N:;;;;\r\nitem1.:x\r\n;:\r\n:\r\nEND:VCARD\r\n";
        for body in [IOS_V3, V4_CJK, PLAIN_V3, odd] {
            let cut_points: Vec<usize> = body.char_indices().map(|(i, _)| i).collect();
            for &cut in cut_points.iter().step_by(7) {
                let part = &body[..cut];
                let _ = inspect(part);
                let _ = convert(part, VCardVersion::V3);
                let _ = convert(part, VCardVersion::V4);
                let _ = index_fields(part);
                let _ = declared_version(part);
            }
        }
        assert_eq!(inspect(odd).unwrap_err(), CardError::MissingUid);
        let v3 = convert(odd, VCardVersion::V3).expect("converts");
        // "ab李" is no tel: URI, so it keeps VALUE=URI; slicing it must not panic.
        assert!(v3.contains("TEL;VALUE=URI:ab李\r\n"), "{v3}");
    }

    #[test]
    fn strip_charset_only_in_params() {
        assert_eq!(strip_charset("FN;CHARSET=UTF-8:Zoë"), "FN:Zoë");
        assert_eq!(
            strip_charset("NOTE;LANGUAGE=en;charset=utf-8:CHARSET=x;y"),
            "NOTE;LANGUAGE=en:CHARSET=x;y"
        );
        assert_eq!(strip_charset("NOTE:;CHARSET=UTF-8"), "NOTE:;CHARSET=UTF-8");
    }
}
