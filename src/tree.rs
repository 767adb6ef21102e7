//! The URL space. Display names are free; URL segments are stable ids.
//!
//! ```text
//! /                                   server root (answers current-user-principal)
//! /.well-known/caldav, /carddav       301 → /dav/ (RFC 6764 §5)
//! /dav/                               context path
//! /dav/principals/<user>/             principal (RFC 3744 / RFC 5397)
//! /dav/calendars/<user>/              calendar home (RFC 4791 §6.2.1)
//! /dav/calendars/<user>/<cal>/<item>  calendars and their items; plain collections at any depth
//! /dav/addressbooks/<user>/           address book home (RFC 6352 §7.1.1)
//! ```

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, CONTROLS};

/// The context path every DAV resource lives under.
pub const CONTEXT: &str = "/dav/";

/// Which home a store path is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HomeKind {
    /// `calendars/<user>/`.
    Calendars,
    /// `addressbooks/<user>/`.
    Addressbooks,
}

impl HomeKind {
    /// First URL segment.
    pub fn segment(self) -> &'static str {
        match self {
            HomeKind::Calendars => "calendars",
            HomeKind::Addressbooks => "addressbooks",
        }
    }
}

/// What a request path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// `/`.
    Root,
    /// `/dav/`.
    Context,
    /// `/dav/principals/`.
    Principals,
    /// `/dav/principals/<user>/`.
    Principal(String),
    /// `/dav/calendars/` or `/dav/addressbooks/`.
    Homes(HomeKind),
    /// Anything in a user's home: `path` is relative to `/dav/`, decoded, without a leading
    /// slash; `collection` says the URL ended with a slash.
    Store {
        home: HomeKind,
        owner: String,
        path: String,
        collection: bool,
    },
}

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathError {
    /// Not a path this server serves.
    NotFound,
    /// `..`, `.`, empty segments, control characters or bad percent-encoding.
    Invalid,
}

/// Parse a request path (without query).
pub fn parse(raw: &str) -> Result<Target, PathError> {
    let raw = raw.split(['?', '#']).next().unwrap_or("");
    if raw == "/" || raw.is_empty() {
        return Ok(Target::Root);
    }
    let Some(rest) = raw
        .strip_prefix(CONTEXT)
        .or_else(|| (raw == "/dav").then_some(""))
    else {
        return Err(PathError::NotFound);
    };
    if rest.is_empty() {
        return Ok(Target::Context);
    }
    let trailing = rest.ends_with('/');
    let mut segs = Vec::new();
    for s in rest.trim_end_matches('/').split('/') {
        let d = percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| PathError::Invalid)?;
        if d.is_empty()
            || d == "."
            || d == ".."
            || d.contains('/')
            || d.chars().any(char::is_control)
        {
            return Err(PathError::Invalid);
        }
        segs.push(d.into_owned());
    }
    let home = match segs[0].as_str() {
        "principals" => {
            return match segs.len() {
                1 => Ok(Target::Principals),
                2 => Ok(Target::Principal(segs[1].clone())),
                _ => Err(PathError::NotFound),
            }
        }
        "calendars" => HomeKind::Calendars,
        "addressbooks" => HomeKind::Addressbooks,
        _ => return Err(PathError::NotFound),
    };
    if segs.len() == 1 {
        return Ok(Target::Homes(home));
    }
    let owner = segs[1].clone();
    let collection = trailing || segs.len() == 2;
    let mut path = segs.join("/");
    if collection {
        path.push('/');
    }
    Ok(Target::Store {
        home,
        owner,
        path,
        collection,
    })
}

const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b'\\')
    .add(b'^')
    .add(b'|')
    .add(b'[')
    .add(b']');

/// The href of a store path (percent-encoding each segment; keeps a trailing slash).
pub fn href(path: &str) -> String {
    let mut out = String::from(CONTEXT);
    let trailing = path.ends_with('/');
    let segs: Vec<String> = path
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect();
    out.push_str(&segs.join("/"));
    if trailing && !segs.is_empty() {
        out.push('/');
    }
    out
}

/// The href of member `name` of the collection whose href is `coll_href` (which ends with a
/// slash): only the member name is encoded, for listings of many members.
pub fn member_href(coll_href: &str, name: &str) -> String {
    let enc = utf8_percent_encode(name, SEGMENT);
    let mut out = String::with_capacity(coll_href.len() + name.len() + 8);
    out.push_str(coll_href);
    for part in enc {
        out.push_str(part);
    }
    out
}

/// The principal URL of a user.
pub fn principal_href(user: &str) -> String {
    href(&format!("principals/{user}/"))
}

/// The home store path of a user.
pub fn home_path(kind: HomeKind, user: &str) -> String {
    format!("{}/{}/", kind.segment(), user)
}

/// Parse an href from a request body or a Destination header (absolute URL or absolute path)
/// into a target.
pub fn parse_href(h: &str) -> Result<Target, PathError> {
    let h = h.trim();
    let path = if let Some(i) = h.find("://") {
        let after = &h[i + 3..];
        match after.find('/') {
            Some(j) => &after[j..],
            None => "/",
        }
    } else {
        h
    };
    parse(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_paths() {
        assert_eq!(parse("/"), Ok(Target::Root));
        assert_eq!(parse("/dav/"), Ok(Target::Context));
        assert_eq!(
            parse("/dav/principals/alice/"),
            Ok(Target::Principal("alice".into()))
        );
        assert_eq!(
            parse("/dav/calendars/alice/work/a%20b.ics"),
            Ok(Target::Store {
                home: HomeKind::Calendars,
                owner: "alice".into(),
                path: "calendars/alice/work/a b.ics".into(),
                collection: false
            })
        );
        assert_eq!(
            parse("/dav/calendars/alice"),
            Ok(Target::Store {
                home: HomeKind::Calendars,
                owner: "alice".into(),
                path: "calendars/alice/".into(),
                collection: true
            })
        );
        assert_eq!(
            parse("/dav/calendars/alice/../bob/"),
            Err(PathError::Invalid)
        );
        assert_eq!(
            parse("/dav/calendars/alice/%2e%2e/x"),
            Err(PathError::Invalid)
        );
        assert_eq!(parse("/etc/passwd"), Err(PathError::NotFound));
    }

    #[test]
    fn member_hrefs_match_full_hrefs() {
        let c = href("calendars/alice/work/");
        for name in ["a b.ics", "x%y@z.ics", "plain.ics", "ü.vcf"] {
            assert_eq!(
                member_href(&c, name),
                href(&format!("calendars/alice/work/{name}"))
            );
        }
    }

    #[test]
    fn hrefs_round_trip() {
        let p = "calendars/alice/work/a b%c.ics";
        let h = href(p);
        assert_eq!(h, "/dav/calendars/alice/work/a%20b%25c.ics");
        match parse(&h).unwrap() {
            Target::Store { path, .. } => assert_eq!(path, p),
            t => panic!("{t:?}"),
        }
        assert_eq!(
            parse_href("http://localhost:8080/dav/principals/a/"),
            Ok(Target::Principal("a".into()))
        );
    }
}
