//! SQL `LIKE` prefix patterns, shared by the backends (paths are matched by prefix for trees).

/// Escape `%`, `_` and `\` for a LIKE prefix match with `ESCAPE '\'`.
pub(super) fn like_prefix(p: &str) -> String {
    let mut s = String::with_capacity(p.len() + 1);
    for c in p.chars() {
        if matches!(c, '%' | '_' | '\\') {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('%');
    s
}

/// The first string after every string that starts with `p`, for `p` ending in `/`: the
/// range `p <= s < end` (byte order, SQLite's `BINARY`) then holds exactly the paths below
/// `p`. Unlike SQLite's `LIKE`, which folds ASCII case and so cannot use the path index, a
/// range is an index seek and matches paths case-sensitively (as PostgreSQL's `LIKE` does).
pub(super) fn prefix_end(p: &str) -> Option<String> {
    // '/' + 1 is '0': one ASCII byte replaced, still UTF-8.
    p.strip_suffix('/').map(|head| format!("{head}0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_bounds_the_paths_below() {
        let end = prefix_end("cal/demo/").unwrap();
        for below in [
            "cal/demo/",
            "cal/demo/x/",
            "cal/demo/~z",
            "cal/demo/\u{10FFFF}",
        ] {
            assert!(below >= "cal/demo/" && below < end.as_str(), "{below}");
        }
        for outside in [
            "cal/demo",
            "cal/demo0",
            "cal/demo-2/",
            "cal/Demo/x/",
            "cal/dema/",
        ] {
            assert!(
                !(outside >= "cal/demo/" && outside < end.as_str()),
                "{outside}"
            );
        }
        assert_eq!(prefix_end("cal/demo"), None);
    }

    #[test]
    fn like_prefix_escapes() {
        assert_eq!(like_prefix("a_b%/"), "a\\_b\\%/%");
    }
}
