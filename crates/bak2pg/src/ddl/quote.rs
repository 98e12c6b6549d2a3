//! Identifiers and literals as PostgreSQL reads them: always-quoted identifiers, literals
//! safe under any `standard_conforming_strings`, and names fitted to the 63-byte limit.

/// PostgreSQL's identifier limit in bytes (`NAMEDATALEN - 1`).
pub const MAX_IDENT_BYTES: usize = 63;

/// Quotes an identifier for PostgreSQL: wrapped in `"`, inner `"` doubled. Always quoted,
/// so case and reserved words are kept exactly.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Quotes a string literal for PostgreSQL whatever `standard_conforming_strings` is:
/// `'…'` with `'` doubled, and the `E'…'` form with `\` doubled when a backslash occurs
/// (what PostgreSQL's own `quote_literal` does). NUL cannot occur in PostgreSQL text and
/// is removed.
pub fn quote_literal(s: &str) -> String {
    let s = s.replace('\0', "");
    let mut out = String::with_capacity(s.len() + 3);
    if s.contains('\\') {
        out.push_str(" E");
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out.trim_start().to_string()
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Fits `name` into 63 bytes: unchanged when it fits; else cut at a character boundary
/// and suffixed with `_` and 8 hex digits of a hash of the full name, so that two long
/// names sharing a prefix stay distinct and the result is the same on every run.
pub fn fit_identifier(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32;
    format!("{}_{hash:08x}", cut(name, MAX_IDENT_BYTES - 9))
}

/// The longest prefix of `s` of at most `max` bytes that ends on a character boundary.
pub(super) fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn long_names_fit_deterministically() {
        let long = "x".repeat(100);
        let a = fit_identifier(&long);
        assert!(a.len() <= 63);
        assert_eq!(a, fit_identifier(&long));
        assert_ne!(a, fit_identifier(&format!("{long}y")));
        let multibyte = "é".repeat(40);
        assert!(fit_identifier(&multibyte).len() <= 63);
    }
}
