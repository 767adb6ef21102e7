use super::chars::{first_forbidden, is_xml_char};
use super::XmlError;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

/// Bounds on a request body's XML; checked while parsing, before any tree grows past them.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Maximum element nesting depth.
    pub max_depth: usize,
    /// Maximum number of elements in the document.
    pub max_elements: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 32,
            max_elements: 20_000,
        }
    }
}

/// A child of an element: another element or a run of text (entities already unescaped).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    Text(String),
}

/// An XML element with its namespace resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI ("" when none).
    pub ns: String,
    /// Local name.
    pub name: String,
    /// Attributes as (namespace, local name, value); unprefixed attributes have namespace "".
    pub attrs: Vec<(String, String, String)>,
    /// Children in document order.
    pub children: Vec<Node>,
    /// Namespace declarations in scope at this element, as (prefix, uri); "" is the default
    /// namespace. Kept so that dead properties can be stored and replayed faithfully.
    pub ns_decls: Vec<(String, String)>,
}

impl Element {
    /// True when this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }

    /// Child elements in order.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|c| match c {
            Node::Element(e) => Some(e),
            Node::Text(_) => None,
        })
    }

    /// First child element `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.elements().find(|e| e.is(ns, name))
    }

    /// All child elements `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.elements().filter(move |e| e.is(ns, name))
    }

    /// The value of the unprefixed attribute `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(ns, n, _)| ns.is_empty() && n == name)
            .map(|(_, _, v)| v.as_str())
    }

    /// Concatenated text of this element and its descendants.
    pub fn text(&self) -> String {
        let mut out = String::new();
        fn walk(e: &Element, out: &mut String) {
            for c in &e.children {
                match c {
                    Node::Text(t) => out.push_str(t),
                    Node::Element(e) => walk(e, out),
                }
            }
        }
        walk(self, &mut out);
        out
    }

    /// True when the element has no child elements and only whitespace text.
    pub fn is_empty(&self) -> bool {
        self.children.iter().all(|c| match c {
            Node::Element(_) => false,
            Node::Text(t) => t.trim().is_empty(),
        })
    }

    /// Serialise this element (with its subtree) as standalone XML, declaring every namespace
    /// it uses, so that it can be stored as a dead property and written back later.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        let mut counter = 0usize;
        write_elem(self, &mut out, &mut Vec::new(), &mut counter);
        out
    }
}

fn write_elem(
    e: &Element,
    out: &mut String,
    scope: &mut Vec<(String, String)>,
    counter: &mut usize,
) {
    use super::write::{escape_attr, escape_text};
    let depth = scope.len();
    let mut decls = String::new();
    let mut prefix_for = |ns: &str, scope: &mut Vec<(String, String)>, decls: &mut String| {
        if ns.is_empty() {
            return String::new();
        }
        if ns == "http://www.w3.org/XML/1998/namespace" {
            return "xml".to_string();
        }
        if let Some((p, _)) = scope.iter().rev().find(|(_, u)| u == ns) {
            return p.clone();
        }
        *counter += 1;
        let p = format!("x{counter}");
        decls.push_str(&format!(" xmlns:{p}=\"{}\"", escape_attr(ns)));
        scope.push((p.clone(), ns.to_string()));
        p
    };
    let p = prefix_for(&e.ns, scope, &mut decls);
    let qname = if p.is_empty() {
        e.name.clone()
    } else {
        format!("{p}:{}", e.name)
    };
    let mut attrs = String::new();
    for (ans, an, av) in &e.attrs {
        let ap = prefix_for(ans, scope, &mut decls);
        if ap.is_empty() {
            attrs.push_str(&format!(" {an}=\"{}\"", escape_attr(av)));
        } else {
            attrs.push_str(&format!(" {ap}:{an}=\"{}\"", escape_attr(av)));
        }
    }
    // An unprefixed element in no namespace must not inherit a default namespace; we never
    // declare a default namespace, so nothing to undo here.
    out.push('<');
    out.push_str(&qname);
    out.push_str(&decls);
    out.push_str(&attrs);
    if e.children.is_empty() {
        out.push_str("/>");
    } else {
        out.push('>');
        for c in &e.children {
            match c {
                Node::Text(t) => out.push_str(&escape_text(t)),
                Node::Element(ch) => write_elem(ch, out, scope, counter),
            }
        }
        out.push_str("</");
        out.push_str(&qname);
        out.push('>');
    }
    scope.truncate(depth);
}

fn ns_of(r: &ResolveResult) -> Result<String, XmlError> {
    match r {
        ResolveResult::Bound(ns) => Ok(AsRef::<str>::as_ref(ns).to_string()),
        ResolveResult::Unbound => Ok(String::new()),
        ResolveResult::Unknown(p) => Err(XmlError::Malformed(format!(
            "undeclared namespace prefix '{p}'"
        ))),
    }
}

/// Parse a request body into its root element, enforcing `limits`.
///
/// Refuses DOCTYPE (and so any entity declaration), undeclared prefixes, mismatched tags,
/// trailing garbage and characters XML forbids (raw anywhere, or as a character reference;
/// an XML 1.1 document may reference the C0 controls, which the handlers then refuse to
/// store, since responses are XML 1.0). Whitespace-only text between elements is dropped; other text is kept as is.
pub fn parse(body: &[u8], limits: Limits) -> Result<Element, XmlError> {
    let text =
        std::str::from_utf8(body).map_err(|_| XmlError::Malformed("body is not UTF-8".into()))?;
    let text = text.trim_start_matches('\u{feff}');
    if text.trim().is_empty() {
        return Err(XmlError::Empty);
    }
    // XML 1.0 §2.2 (and 1.1 §2.2, which allows its restricted characters only as references):
    // a raw forbidden character anywhere, names included, makes the body not well-formed.
    if let Some((offset, c)) = first_forbidden(text) {
        return Err(XmlError::ForbiddenChar {
            code: c as u32,
            offset,
        });
    }
    let mut reader = NsReader::from_str(text);
    reader.config_mut().check_end_names = true;
    reader.config_mut().expand_empty_elements = false;
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    let mut xml11 = false;

    loop {
        let (resolved, ev) = reader
            .read_resolved_event()
            .map_err(|e| XmlError::Malformed(e.to_string()))?;
        match ev {
            Event::DocType(_) => return Err(XmlError::Doctype),
            Event::Start(ref s) | Event::Empty(ref s) => {
                if root.is_some() {
                    return Err(XmlError::Malformed("content after the root element".into()));
                }
                count += 1;
                if count > limits.max_elements {
                    return Err(XmlError::TooManyElements(limits.max_elements));
                }
                if stack.len() + 1 > limits.max_depth {
                    return Err(XmlError::TooDeep(limits.max_depth));
                }
                let ns = ns_of(&resolved)?;
                let name = AsRef::<str>::as_ref(&s.local_name()).to_string();
                let mut attrs = Vec::new();
                let mut ns_decls = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| XmlError::Malformed(e.to_string()))?;
                    let key = a.key;
                    let value = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| XmlError::Malformed(e.to_string()))?
                        .into_owned();
                    if let Some(c) = value.chars().find(|c| !allowed_ref(*c, xml11)) {
                        return Err(XmlError::ForbiddenChar {
                            code: c as u32,
                            offset: reader.buffer_position() as usize,
                        });
                    }
                    if let Some(p) = key.as_namespace_binding() {
                        let prefix = match p {
                            quick_xml::name::PrefixDeclaration::Default => String::new(),
                            quick_xml::name::PrefixDeclaration::Named(p) => p.to_string(),
                        };
                        ns_decls.push((prefix, value));
                        continue;
                    }
                    let (ans, _) = reader.resolver().resolve_attribute(key);
                    let ans = ns_of(&ans)?;
                    let an = AsRef::<str>::as_ref(&key.local_name()).to_string();
                    attrs.push((ans, an, value));
                }
                let el = Element {
                    ns,
                    name,
                    attrs,
                    children: Vec::new(),
                    ns_decls,
                };
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(el)),
                        None => root = Some(el),
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack
                    .pop()
                    .ok_or_else(|| XmlError::Malformed("unbalanced end tag".into()))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(el)),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                let s = t.xml10_content().into_owned();
                push_text(&mut stack, &root, s)?;
            }
            Event::GeneralRef(r) => {
                // Only the five predefined entities and character references are allowed;
                // anything else would need a DTD, which we refuse.
                let name = r.xml10_content();
                let s = if let Some(ch) = r
                    .resolve_char_ref()
                    .map_err(|e| XmlError::Malformed(e.to_string()))?
                {
                    // XML 1.0 WFC "Legal Character": a reference must name a Char too.
                    if !allowed_ref(ch, xml11) {
                        return Err(XmlError::ForbiddenChar {
                            code: ch as u32,
                            offset: reader.buffer_position() as usize,
                        });
                    }
                    ch.to_string()
                } else {
                    match name.as_ref() {
                        "lt" => "<".into(),
                        "gt" => ">".into(),
                        "amp" => "&".into(),
                        "apos" => "'".into(),
                        "quot" => "\"".into(),
                        other => {
                            return Err(XmlError::Malformed(format!("unknown entity &{other};")))
                        }
                    }
                };
                push_text(&mut stack, &root, s)?;
            }
            Event::CData(c) => {
                let s = c.xml10_content().into_owned();
                push_text(&mut stack, &root, s)?;
            }
            Event::Eof => break,
            Event::Decl(d) => {
                xml11 = d.version().is_ok_and(|v| v.as_ref() == "1.1");
            }
            Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError::Malformed("unexpected end of document".into()));
    }
    root.ok_or(XmlError::Empty)
}

/// A character a reference may name: any XML 1.0 `Char`, and in an XML 1.1 document also
/// the C0 controls but NUL (XML 1.1 §2.2, `RestrictedChar`; quick-xml refuses `&#0;`).
fn allowed_ref(c: char, xml11: bool) -> bool {
    is_xml_char(c) || (xml11 && ('\u{1}'..='\u{1f}').contains(&c))
}

fn push_text(stack: &mut [Element], root: &Option<Element>, s: String) -> Result<(), XmlError> {
    match stack.last_mut() {
        Some(parent) => {
            if let Some(Node::Text(prev)) = parent.children.last_mut() {
                prev.push_str(&s);
            } else if !s.is_empty() {
                parent.children.push(Node::Text(s));
            }
            Ok(())
        }
        None => {
            if s.trim().is_empty() {
                Ok(())
            } else if root.is_some() {
                Err(XmlError::Malformed("text after the root element".into()))
            } else {
                Err(XmlError::Malformed("text before the root element".into()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_inner_prefixes() {
        let x = br#"<?xml version="1.0"?><A:propfind xmlns:A="DAV:"><A:prop><B:calendar-home-set xmlns:B="urn:ietf:params:xml:ns:caldav"/></A:prop></A:propfind>"#;
        let e = parse(x, Limits::default()).unwrap();
        assert!(e.is("DAV:", "propfind"));
        let p = e.child("DAV:", "prop").unwrap();
        assert!(p
            .child("urn:ietf:params:xml:ns:caldav", "calendar-home-set")
            .is_some());
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let x = br#"<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a xmlns="DAV:">&x;</a>"#;
        assert_eq!(parse(x, Limits::default()), Err(XmlError::Doctype));
        let x = br#"<a xmlns="DAV:">&x;</a>"#;
        assert!(matches!(
            parse(x, Limits::default()),
            Err(XmlError::Malformed(_))
        ));
    }

    #[test]
    fn limits_depth_and_count() {
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(
            parse(deep.as_bytes(), Limits::default()),
            Err(XmlError::TooDeep(32))
        );
        let many = format!("<a>{}</a>", "<b/>".repeat(30));
        assert_eq!(
            parse(
                many.as_bytes(),
                Limits {
                    max_depth: 8,
                    max_elements: 10
                }
            ),
            Err(XmlError::TooManyElements(10))
        );
    }

    #[test]
    fn keeps_spaces_around_entities() {
        let x = br#"<t xmlns="DAV:">a &amp; b</t>"#;
        assert_eq!(parse(x, Limits::default()).unwrap().text(), "a & b");
    }

    #[test]
    fn rejects_malformed_and_unbound_prefix() {
        assert!(parse(b"<a><b></a>", Limits::default()).is_err());
        assert!(parse(b"<x:a/>", Limits::default()).is_err());
        assert!(parse(b"<a/><b/>", Limits::default()).is_err());
    }

    #[test]
    fn refuses_forbidden_characters_without_echoing_them() {
        for x in [
            "<a xmlns=\"DAV:\"><b\u{0}c/></a>",
            "<a xmlns=\"DAV:\">x\u{1b}y</a>",
            "<a xmlns=\"DAV:\" k=\"\u{c}\"/>",
            "<a xmlns=\"DAV:\">x&#x1B;y</a>",
            "<a xmlns=\"DAV:\">x&#1;y</a>",
            "<a xmlns=\"DAV:\" k=\"&#x1B;\"/>",
            "<a xmlns=\"DAV:\">&#xFFFE;</a>",
            "<?xml version=\"1.1\"?><a xmlns=\"DAV:\">\u{1b}</a>",
        ] {
            let e = parse(x.as_bytes(), Limits::default()).unwrap_err();
            assert!(matches!(e, XmlError::ForbiddenChar { .. }), "{x:?}: {e:?}");
            assert!(first_forbidden(&e.to_string()).is_none(), "{e}");
        }
        // XML 1.1 allows the C0 controls as references; the handlers refuse to store them.
        let x = "<?xml version=\"1.1\"?><a xmlns=\"DAV:\">x&#x1B;y</a>";
        assert_eq!(
            parse(x.as_bytes(), Limits::default()).unwrap().text(),
            "x\u{1b}y"
        );
        let x = "<a xmlns=\"DAV:\">tab&#9;ok</a>";
        assert_eq!(
            parse(x.as_bytes(), Limits::default()).unwrap().text(),
            "tab\tok"
        );
    }

    #[test]
    fn dead_property_round_trip() {
        let x = br#"<foo xmlns="http://example.com/ns" xmlns:z="urn:z"><z:bar attr="1">x &lt; y</z:bar></foo>"#;
        let e = parse(x, Limits::default()).unwrap();
        let again = parse(e.to_xml().as_bytes(), Limits::default()).unwrap();
        assert_eq!(again.ns, "http://example.com/ns");
        let bar = again.child("urn:z", "bar").unwrap();
        assert_eq!(bar.text(), "x < y");
        assert_eq!(bar.attr("attr"), Some("1"));
    }
}
