//! `CARDDAV:address-data` in addressbook-query and addressbook-multiget (RFC 6352 §10.4).

use std::borrow::Cow;

use super::card::{convert, declared_version};
use super::{clip, CardError, FilterError, VCardVersion};
use crate::contentline::lines;
use crate::xml::{Element, NS_CARDDAV};

/// What a client asked for in `<CARDDAV:address-data>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddressDataRequest {
    /// The `version` attribute, 3.0 when absent: RFC 6352 §10.4 defaults `address-data` to
    /// `text/vcard` version 3.0, the only version iOS/macOS Contacts read, so a card stored
    /// as 4.0 (DAVx5 writes 4.0) is converted for a client that does not ask.
    pub version: VCardVersion,
    /// Property names (upper case) from `<CARDDAV:prop name=…>`; `None` = all properties
    /// (no `prop` children, or `<CARDDAV:allprop/>`).
    pub props: Option<Vec<String>>,
    /// Names (upper case, also in `props`) asked with `novalue="yes"`: sent without a value.
    pub novalue: Vec<String>,
}

impl AddressDataRequest {
    /// True when the stored bytes can be served as they are for a card of `stored` version.
    pub fn is_passthrough(&self, stored: Option<VCardVersion>) -> bool {
        self.props.is_none() && stored == Some(self.version)
    }
}

/// Parses `<CARDDAV:address-data content-type="text/vcard" version="4.0">` with its `prop` /
/// `allprop` children. A content type other than text/vcard, or a version other than 3.0/4.0,
/// gives `supported-address-data` (RFC 6352 §8.6, §8.7: the attributes name a media type the
/// server does not support); no version means 3.0 (§10.4).
pub fn parse_address_data(el: &Element) -> Result<AddressDataRequest, FilterError> {
    if !el.is(NS_CARDDAV, "address-data") {
        return Err(FilterError::UnsupportedFilter(format!(
            "expected {{{NS_CARDDAV}}}address-data, found {{{}}}{}",
            clip(&el.ns),
            clip(&el.name)
        )));
    }
    if let Some(ct) = el.attr("content-type") {
        let media = ct.split(';').next().unwrap_or("").trim();
        if !media.eq_ignore_ascii_case("text/vcard") {
            return Err(FilterError::UnsupportedAddressData(format!(
                "content-type {:?} is not supported; use text/vcard",
                clip(ct.trim())
            )));
        }
    }
    let version = match el.attr("version") {
        None => VCardVersion::V3,
        Some(v) => VCardVersion::parse(v).ok_or_else(|| {
            FilterError::UnsupportedAddressData(format!(
                "vCard version {:?} is not supported; use 3.0 or 4.0",
                clip(v.trim())
            ))
        })?,
    };
    let mut allprop = false;
    let mut props: Vec<String> = Vec::new();
    let mut novalue: Vec<String> = Vec::new();
    for child in el.elements().filter(|c| c.ns == NS_CARDDAV) {
        match child.name.as_str() {
            "allprop" => allprop = true,
            "prop" => {
                let name = match child.attr("name").map(str::trim) {
                    Some(n) if !n.is_empty() => n.to_ascii_uppercase(),
                    _ => {
                        return Err(FilterError::UnsupportedFilter(
                            "address-data prop needs a name attribute".into(),
                        ))
                    }
                };
                if child.attr("novalue").map(str::trim) == Some("yes") && !novalue.contains(&name) {
                    novalue.push(name.clone());
                }
                if !props.contains(&name) {
                    props.push(name);
                }
            }
            other => {
                return Err(FilterError::UnsupportedFilter(format!(
                    "unexpected {:?} in address-data",
                    clip(other)
                )))
            }
        }
    }
    if allprop || props.is_empty() {
        return Ok(AddressDataRequest {
            version,
            props: None,
            novalue: Vec::new(),
        });
    }
    Ok(AddressDataRequest {
        version,
        props: Some(props),
        novalue,
    })
}

/// Properties every selection keeps.
const ALWAYS: [&str; 4] = ["BEGIN", "END", "VERSION", "UID"];

/// Renders a stored vCard as `req` asks. With no property selection and the stored version,
/// the body comes back unchanged, byte for byte. Otherwise it is converted with [`convert`]
/// when the version differs, then reduced to BEGIN, END, VERSION, UID and the named
/// properties (any group, e.g. `item1.TEL` for TEL), keeping their original lines. The
/// whole card is borrowed, not copied (a report's cards with photos are megabytes).
pub fn render_address_data<'b>(
    req: &AddressDataRequest,
    body: &'b str,
) -> Result<Cow<'b, str>, CardError> {
    let stored = declared_version(body);
    if req.is_passthrough(stored) {
        return Ok(Cow::Borrowed(body));
    }
    let converted = if stored == Some(req.version) {
        None
    } else {
        Some(convert(body, req.version)?)
    };
    let source = converted.as_deref().unwrap_or(body);
    let Some(props) = &req.props else {
        return Ok(match converted {
            Some(c) => Cow::Owned(c),
            None => Cow::Borrowed(body),
        });
    };
    let mut out = String::with_capacity(source.len());
    for line in lines(source) {
        let name = line.name();
        if ALWAYS.contains(&name.as_str()) {
            out.push_str(line.raw);
        } else if props.contains(&name) {
            if req.novalue.contains(&name) {
                match line.value_colon() {
                    Some(colon) => {
                        out.push_str(&line.unfolded[..=colon]);
                        out.push_str(if line.raw.ends_with("\r\n") || !line.raw.ends_with('\n') {
                            "\r\n"
                        } else {
                            "\n"
                        });
                    }
                    None => out.push_str(line.raw),
                }
            } else {
                out.push_str(line.raw);
            }
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::*;
    use super::*;
    use crate::xml::{parse, Limits};

    fn address_data(xml: &str) -> Result<AddressDataRequest, FilterError> {
        let doc = format!(
            "<C:addressbook-multiget xmlns:D=\"DAV:\" xmlns:C=\"urn:ietf:params:xml:ns:carddav\">\
             <D:prop><D:getetag/>{xml}</D:prop></C:addressbook-multiget>"
        );
        let root = parse(doc.as_bytes(), Limits::default()).expect("test XML parses");
        let prop = root.child("DAV:", "prop").expect("has prop");
        let el = prop
            .child(NS_CARDDAV, "address-data")
            .expect("has address-data");
        parse_address_data(el)
    }

    #[test]
    fn parses_requests() {
        // No version attribute: 3.0 (RFC 6352 §10.4).
        assert_eq!(
            address_data("<C:address-data/>"),
            Ok(AddressDataRequest {
                version: VCardVersion::V3,
                props: None,
                novalue: vec![],
            })
        );
        assert_eq!(AddressDataRequest::default().version, VCardVersion::V3);
        assert_eq!(
            address_data(
                "<C:address-data content-type=\"text/vcard\" version=\"4.0\">\
                 <C:prop name=\"email\"/><C:prop name=\"FN\"/>\
                 <C:prop name=\"PHOTO\" novalue=\"yes\"/></C:address-data>"
            ),
            Ok(AddressDataRequest {
                version: VCardVersion::V4,
                props: Some(vec!["EMAIL".into(), "FN".into(), "PHOTO".into()]),
                novalue: vec!["PHOTO".into()],
            })
        );
        assert_eq!(
            address_data(
                "<C:address-data content-type=\"text/vcard; charset=utf-8\" version=\"3.0\">\
                 <C:allprop/></C:address-data>"
            ),
            Ok(AddressDataRequest {
                version: VCardVersion::V3,
                props: None,
                novalue: vec![],
            })
        );
    }

    #[test]
    fn refuses_unsupported_requests() {
        let err =
            address_data("<C:address-data content-type=\"application/vcard+json\"/>").unwrap_err();
        assert_eq!(
            err,
            FilterError::UnsupportedAddressData(
                "content-type \"application/vcard+json\" is not supported; use text/vcard".into()
            )
        );
        assert_eq!(err.precondition().name(), "supported-address-data");
        let err = address_data("<C:address-data version=\"2.1\"/>").unwrap_err();
        assert_eq!(
            err,
            FilterError::UnsupportedAddressData(
                "vCard version \"2.1\" is not supported; use 3.0 or 4.0".into()
            )
        );
        assert_eq!(err.precondition().name(), "supported-address-data");
        let err = address_data("<C:address-data><C:prop/></C:address-data>").unwrap_err();
        assert_eq!(err.precondition().name(), "supported-filter");
    }

    #[test]
    fn passthrough_is_byte_identical() {
        let all = AddressDataRequest::default();
        for body in [IOS_V3, PLAIN_V3] {
            assert_eq!(render_address_data(&all, body).as_deref(), Ok(body));
        }
        // Odd bytes survive: bare LF, no final newline, lower-case VERSION, unescaped comma.
        let odd = "BEGIN:VCARD\nversion:4.0\nUID:x\nFN:a\\,b\nX-FOO:a,b\nEND:VCARD";
        let v4 = AddressDataRequest {
            version: VCardVersion::V4,
            ..Default::default()
        };
        assert_eq!(render_address_data(&v4, odd).as_deref(), Ok(odd));
        assert_eq!(render_address_data(&v4, V4_CJK).as_deref(), Ok(V4_CJK));
    }

    #[test]
    fn no_version_serves_a_stored_4_0_card_as_3_0() {
        let out = render_address_data(&AddressDataRequest::default(), V4_CJK).expect("renders");
        assert_eq!(out, convert(V4_CJK, VCardVersion::V3).expect("converts"));
        assert!(out.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{out}");
    }

    #[test]
    fn selects_properties_keeping_groups_and_bytes() {
        let req = AddressDataRequest {
            version: VCardVersion::V3,
            props: Some(vec!["TEL".into(), "NOTE".into()]),
            novalue: vec![],
        };
        let out = render_address_data(&req, IOS_V3).expect("renders");
        assert_eq!(
            out,
            "BEGIN:VCARD\r\n\
             VERSION:3.0\r\n\
             item1.TEL;type=CELL;type=VOICE;type=pref:+1 (555) 123-4567\r\n\
             TEL;type=WORK;type=VOICE:+1 555 000 1111\r\n\
             NOTE:Met at the trade fair\\, booth 12. Prefers calls in the morning and\r\n  \
             emails after lunch.\r\n\
             UID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\r\n\
             END:VCARD\r\n"
        );
    }

    #[test]
    fn novalue_drops_the_value() {
        let req = AddressDataRequest {
            version: VCardVersion::V3,
            props: Some(vec!["PHOTO".into(), "FN".into()]),
            novalue: vec!["PHOTO".into()],
        };
        let out = render_address_data(&req, IOS_V3).expect("renders");
        assert_eq!(
            out,
            "BEGIN:VCARD\r\n\
             VERSION:3.0\r\n\
             FN:Zoë Doe\r\n\
             PHOTO;ENCODING=b;TYPE=JPEG:\r\n\
             UID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE\r\n\
             END:VCARD\r\n"
        );
    }

    #[test]
    fn converts_then_selects() {
        let req = AddressDataRequest {
            version: VCardVersion::V4,
            props: Some(vec!["PHOTO".into(), "FN".into()]),
            novalue: vec![],
        };
        let out = render_address_data(&req, IOS_V3).expect("renders");
        let lines: Vec<String> = lines(&out).map(|l| l.unfolded.into_owned()).collect();
        assert_eq!(
            lines,
            vec![
                "BEGIN:VCARD".to_string(),
                "VERSION:4.0".to_string(),
                "FN:Zoë Doe".to_string(),
                format!("PHOTO:data:image/jpeg;base64,{IOS_PHOTO_B64}"),
                "UID:5AD380FD-B2DE-4261-BA99-DE1D1DB52FBE".to_string(),
                "END:VCARD".to_string(),
            ]
        );

        let to_v3 = AddressDataRequest {
            version: VCardVersion::V3,
            ..Default::default()
        };
        let out = render_address_data(&to_v3, V4_CJK).expect("renders");
        assert!(out.starts_with("BEGIN:VCARD\r\nVERSION:3.0\r\n"), "{out}");
        assert!(out.contains("FN:李小龍\r\n"), "{out}");
    }

    #[test]
    fn conversion_failure_is_reported() {
        let req = AddressDataRequest {
            version: VCardVersion::V4,
            ..Default::default()
        };
        let err = render_address_data(&req, "VERSION:3.0\r\nnot a card").unwrap_err();
        assert_eq!(
            err.precondition().name(),
            "supported-address-data-conversion"
        );
    }
}
