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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
    /// Anything in a user's home (the home itself included).
    Store {
        home: HomeKind,
        owner: String,
        path: StorePath,
    },
}

impl Target {
    /// The store path, for a target in a user's home.
    pub fn store_path(&self) -> Option<&StorePath> {
        match self {
            Target::Store { path, .. } => Some(path),
            _ => None,
        }
    }
}

/// A collection's path in the store: decoded segments relative to `/dav/`, ending with a
/// slash (`calendars/alice/work/`). Built only here, so it is always well-formed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CollectionPath(String);

impl CollectionPath {
    /// A user's home.
    pub fn home(kind: HomeKind, user: &str) -> Self {
        CollectionPath(home_path(kind, user))
    }

    /// The path of a stored collection row (store rows keep paths as text).
    pub fn of_stored(path: &str) -> Self {
        if path.ends_with('/') {
            CollectionPath(path.to_string())
        } else {
            CollectionPath(format!("{path}/"))
        }
    }

    /// The path as the store keys it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|s| !s.is_empty())
    }

    /// How many segments deep it is: 1 for `calendars/`, 2 for a home, 3 for a collection in it.
    pub fn depth(&self) -> usize {
        self.segments().count()
    }

    /// True for a user's home and anything above it (the server provisions those).
    pub fn is_home_or_above(&self) -> bool {
        self.depth() <= 2
    }

    /// The home kind, owner and collection id of a collection directly in a home
    /// (`calendars/<user>/<id>/`).
    pub fn in_home(&self) -> Option<(HomeKind, &str, &str)> {
        let mut s = self.segments();
        let home = match s.next()? {
            "calendars" => HomeKind::Calendars,
            "addressbooks" => HomeKind::Addressbooks,
            _ => return None,
        };
        let (owner, id) = (s.next()?, s.next()?);
        s.next().is_none().then_some((home, owner, id))
    }

    /// The home kind and owner of a user's home (`calendars/<user>/`).
    pub fn as_home(&self) -> Option<(HomeKind, &str)> {
        let mut s = self.segments();
        let home = match s.next()? {
            "calendars" => HomeKind::Calendars,
            "addressbooks" => HomeKind::Addressbooks,
            _ => return None,
        };
        let owner = s.next()?;
        s.next().is_none().then_some((home, owner))
    }

    /// The collection this one is in (`None` at the top).
    pub fn parent(&self) -> Option<CollectionPath> {
        let t = self.0.trim_end_matches('/');
        t.rfind('/').map(|i| CollectionPath(t[..=i].to_string()))
    }

    /// Member `name` of this collection.
    pub fn member(&self, name: &str) -> MemberPath {
        MemberPath {
            collection: self.clone(),
            name: name.to_string(),
        }
    }

    /// Sub-collection `name` of this collection.
    pub fn child(&self, name: &str) -> CollectionPath {
        CollectionPath(format!("{}{name}/", self.0))
    }

    /// This collection seen as a member of its parent (for an item COPY/MOVE whose Destination
    /// ends with a slash).
    pub fn as_member(&self) -> MemberPath {
        let t = self.0.trim_end_matches('/');
        match t.rfind('/') {
            Some(i) => CollectionPath(t[..=i].to_string()).member(&t[i + 1..]),
            None => CollectionPath(String::new()).member(t),
        }
    }

    /// True when one of the two contains the other (or they are the same).
    pub fn overlaps(&self, other: &CollectionPath) -> bool {
        self.0.starts_with(&other.0) || other.0.starts_with(&self.0)
    }

    /// The href.
    pub fn href(&self) -> String {
        href(&self.0)
    }
}

impl std::fmt::Display for CollectionPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A member of a collection: its collection and its name (one decoded segment).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MemberPath {
    /// The collection it is in.
    pub collection: CollectionPath,
    /// Its name in the collection.
    pub name: String,
}

impl MemberPath {
    /// The full store path (`calendars/alice/work/x.ics`), as dead properties are keyed.
    pub fn path(&self) -> String {
        format!("{}{}", self.collection.0, self.name)
    }

    /// The same URL naming a collection (a collection's URL without its trailing slash).
    pub fn as_collection(&self) -> CollectionPath {
        self.collection.child(&self.name)
    }

    /// The href.
    pub fn href(&self) -> String {
        href(&self.path())
    }
}

/// What a URL in a home names: a collection (the URL ends with a slash, or is a home), or a
/// member, which may still turn out to be a collection named without its trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StorePath {
    /// `…/name/`.
    Collection(CollectionPath),
    /// `…/name`.
    Member(MemberPath),
}

impl StorePath {
    /// The URL read as a collection (a member URL with a slash added).
    pub fn as_collection(&self) -> CollectionPath {
        match self {
            StorePath::Collection(c) => c.clone(),
            StorePath::Member(m) => m.as_collection(),
        }
    }

    /// The URL read as a member (a collection URL without its slash).
    pub fn as_member(&self) -> MemberPath {
        match self {
            StorePath::Collection(c) => c.as_member(),
            StorePath::Member(m) => m.clone(),
        }
    }

    /// The href.
    pub fn href(&self) -> String {
        match self {
            StorePath::Collection(c) => c.href(),
            StorePath::Member(m) => m.href(),
        }
    }
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
    let path = if trailing || segs.len() == 2 {
        StorePath::Collection(CollectionPath(format!("{}/", segs.join("/"))))
    } else {
        let name = segs.pop().unwrap_or_default();
        StorePath::Member(CollectionPath(format!("{}/", segs.join("/"))).member(&name))
    };
    Ok(Target::Store { home, owner, path })
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
    // Written into one buffer: no string per segment (every PROPFIND makes a few).
    let mut out = String::with_capacity(CONTEXT.len() + path.len() + 8);
    out.push_str(CONTEXT);
    let mut any = false;
    for seg in path
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
    {
        if any {
            out.push('/');
        }
        out.extend(utf8_percent_encode(seg, SEGMENT));
        any = true;
    }
    if any && path.ends_with('/') {
        out.push('/');
    }
    out
}

/// The href of member `name` of the collection whose href is `coll_href` (which ends with a
/// slash): only the member name is encoded, for listings of many members.
pub fn member_href(coll_href: &str, name: &str) -> String {
    let mut out = String::with_capacity(coll_href.len() + name.len() + 8);
    push_member_href(&mut out, coll_href, name);
    out
}

/// [`member_href`] appended to `out` (a listing reuses one buffer for every member).
pub fn push_member_href(out: &mut String, coll_href: &str, name: &str) {
    out.push_str(coll_href);
    for part in utf8_percent_encode(name, SEGMENT) {
        out.push_str(part);
    }
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
                path: StorePath::Member(
                    CollectionPath::of_stored("calendars/alice/work/").member("a b.ics")
                ),
            })
        );
        assert_eq!(
            parse("/dav/calendars/alice"),
            Ok(Target::Store {
                home: HomeKind::Calendars,
                owner: "alice".into(),
                path: StorePath::Collection(CollectionPath::home(HomeKind::Calendars, "alice")),
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
    fn typed_paths() {
        let work = CollectionPath::of_stored("calendars/alice/work");
        assert_eq!(work.as_str(), "calendars/alice/work/");
        assert_eq!(work.depth(), 3);
        assert_eq!(work.in_home(), Some((HomeKind::Calendars, "alice", "work")));
        let home = work.parent().unwrap();
        assert_eq!(home, CollectionPath::home(HomeKind::Calendars, "alice"));
        assert!(home.is_home_or_above() && !work.is_home_or_above());
        assert_eq!(home.as_home(), Some((HomeKind::Calendars, "alice")));
        assert_eq!(home.in_home(), None);
        assert_eq!(home.parent().unwrap().as_str(), "calendars/");
        let m = work.member("x.ics");
        assert_eq!(m.path(), "calendars/alice/work/x.ics");
        assert_eq!(m.as_collection().as_str(), "calendars/alice/work/x.ics/");
        assert_eq!(work.as_member(), home.member("work"));
        assert!(work.overlaps(&home) && !work.overlaps(&home.child("other")));
        assert_eq!(m.href(), "/dav/calendars/alice/work/x.ics");
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
            Target::Store {
                path: StorePath::Member(m),
                ..
            } => assert_eq!(m.path(), p),
            t => panic!("{t:?}"),
        }
        assert_eq!(
            parse_href("http://localhost:8080/dav/principals/a/"),
            Ok(Target::Principal("a".into()))
        );
    }
}
