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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_prefix_escapes() {
        assert_eq!(like_prefix("a_b%/"), "a\\_b\\%/%");
    }
}
