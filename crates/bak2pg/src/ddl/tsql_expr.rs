//! The T-SQL expression translator: defaults, CHECKs, index filters and computed columns as
//! SQL Server stores them in the catalog, re-tokenised and re-emitted for PostgreSQL when
//! every token is of a known, safe subset; refused with a reason otherwise.

use super::model::TablePlan;
use super::quote::{quote_ident, quote_literal};
use crate::typemap::PgType;

/// Where a T-SQL expression is used; decides what may be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprContext {
    /// A CHECK predicate.
    Check,
    /// A filtered index predicate (PostgreSQL requires IMMUTABLE functions).
    Filter,
    /// A computed column: only arithmetic (+ - *) over numeric columns and constants, so
    /// that PostgreSQL computes exactly what SQL Server stored.
    Computed,
    /// A column default.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Word(String),
    Str(String),
    Num(String),
    Hex(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '[' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated [identifier]".into()),
                        Some(']') if b.get(i + 1) == Some(&']') => {
                            name.push(']');
                            i += 2;
                        }
                        Some(']') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            name.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Ident(name));
            }
            '\'' | 'N' | 'n' if c == '\'' || b.get(i + 1) == Some(&'\'') => {
                if c != '\'' {
                    i += 1;
                }
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\'') if b.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '0' if matches!(b.get(i + 1), Some('x' | 'X')) => {
                let mut j = i + 2;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
                out.push(Tok::Hex(b[i + 2..j].iter().collect()));
                i = j;
            }
            '0'..='9' | '.' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == '.') {
                    j += 1;
                }
                if j < b.len() && matches!(b[j], 'e' | 'E') {
                    j += 1;
                    if j < b.len() && matches!(b[j], '+' | '-') {
                        j += 1;
                    }
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                let n: String = b[i..j].iter().collect();
                if n == "." || n.matches('.').count() > 1 {
                    return Err(format!("bad number {n}"));
                }
                out.push(Tok::Num(n));
                i = j;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '<' | '>' | '!' | '=' => {
                let two: String = b[i..(i + 2).min(b.len())].iter().collect();
                if matches!(two.as_str(), "<=" | ">=" | "<>" | "!=") {
                    out.push(Tok::Op(two));
                    i += 2;
                } else if c == '!' {
                    return Err(format!("operator {two} is not translated"));
                } else {
                    out.push(Tok::Op(c.to_string()));
                    i += 1;
                }
            }
            '+' | '-' | '*' | '/' | '%' => {
                out.push(Tok::Op(c.to_string()));
                i += 1
            }
            _ if c.is_alphabetic() || c == '_' || c == '@' || c == '#' => {
                let mut j = i;
                while j < b.len() && (b[j].is_alphanumeric() || matches!(b[j], '_' | '@' | '#' | '$')) {
                    j += 1;
                }
                out.push(Tok::Word(b[i..j].iter().collect()));
                i = j;
            }
            _ => return Err(format!("unexpected character {c:?}")),
        }
    }
    Ok(out)
}

/// Functions and niladic keywords we translate, by lower-case T-SQL name.
fn translate_function(name: &str, ctx: ExprContext) -> Option<&'static str> {
    let volatile_ok = matches!(ctx, ExprContext::Default | ExprContext::Check);
    let f = match name {
        "getdate" | "sysdatetime" | "current_timestamp" | "sysdatetimeoffset" => "CURRENT_TIMESTAMP",
        "getutcdate" | "sysutcdatetime" => "(now() AT TIME ZONE 'utc')",
        "newid" | "newsequentialid" => "gen_random_uuid()",
        "suser_sname" | "user_name" | "suser_name" | "current_user" | "session_user" | "system_user" | "user" => {
            "CURRENT_USER"
        }
        _ => return None,
    };
    // now(), CURRENT_TIMESTAMP, gen_random_uuid() are not IMMUTABLE; a partial index or
    // a generated column cannot use them.
    volatile_ok.then_some(f)
}

/// Scalar functions with arguments translated one for one in CHECKs, filters and
/// defaults (all IMMUTABLE in PostgreSQL, so partial indexes may use them): the opening
/// text replacing `name(`, and what to add after the call's closing parenthesis.
/// `len` ignores trailing blanks in SQL Server, hence `length(rtrim(…))`.
fn scalar_function(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "upper" => ("upper(", ""),
        "lower" => ("lower(", ""),
        "ltrim" => ("ltrim(", ""),
        "rtrim" => ("rtrim(", ""),
        "abs" => ("abs(", ""),
        "isnull" => ("coalesce(", ""),
        "len" => ("length(rtrim(", ")"),
        _ => return None,
    })
}

/// Translates a T-SQL expression (as SQL Server stores it in the catalog) into
/// PostgreSQL, or says why not.
///
/// Translated: bracketed column names of `table` (a `bit` column becomes
/// `("col")::integer` so comparisons with 0/1 keep working), numeric constants, `'…'` and
/// `N'…'` strings, `0x…` binary constants, parentheses, comparison operators,
/// `AND`/`OR`/`NOT`/`IS [NOT] NULL`/`IN`/`BETWEEN`/`LIKE` (patterns without `[`), the
/// arithmetic operators, the scalar functions of `scalar_function` (`upper`, `lower`,
/// `ltrim`, `rtrim`, `abs`, `isnull` → `coalesce`, `len` → `length(rtrim(…))`) outside
/// computed columns, and the niladic functions of [`translate_default`] where the
/// context allows volatile functions. Everything else is refused with a reason.
///
/// # Errors
/// The reason, as text for the report.
pub fn translate_expr(def: &str, table: &TablePlan, ctx: ExprContext) -> Result<String, String> {
    let toks = tokenize(def)?;
    // PostgreSQL before 18 refuses LIKE on a nondeterministic collation (SQLSTATE 0A000,
    // at run time): in an expression with LIKE, columns with one (`--case-insensitive
    // icu`) are compared under the database's default collation, as without the option.
    let has_like = toks.iter().any(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("like")));
    let mut out = String::new();
    let mut has_string = false;
    let mut has_plus = false;
    let mut i = 0;
    // Parenthesis depth, and the depths at which a call we opened with extra parentheses
    // (`len(` → `length(rtrim(`) must close them.
    let mut depth = 0usize;
    let mut extra_close: Vec<(usize, &'static str)> = Vec::new();
    let push = |out: &mut String, s: &str| {
        if !out.is_empty() && !out.ends_with('(') && s != ")" && s != "," {
            out.push(' ');
        }
        out.push_str(s);
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(n) => {
                let c = table.column(n).ok_or_else(|| format!("unknown column [{n}]"))?;
                if ctx == ExprContext::Computed {
                    if !matches!(
                        c.pg_type,
                        PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Numeric { .. }
                    ) {
                        return Err(format!("computed over a {} column", c.sql_type));
                    }
                    if c.generated.is_some() {
                        return Err("refers to another computed column".into());
                    }
                }
                if ctx == ExprContext::Default {
                    return Err("a default cannot refer to a column".into());
                }
                match c.pg_type {
                    PgType::Boolean => push(&mut out, &format!("({})::integer", quote_ident(&c.name))),
                    PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text => {
                        has_string = true;
                        if has_like && c.collation.is_some() {
                            push(&mut out, &format!("({} COLLATE \"default\")", quote_ident(&c.name)))
                        } else {
                            push(&mut out, &quote_ident(&c.name))
                        }
                    }
                    _ => push(&mut out, &quote_ident(&c.name)),
                }
            }
            Tok::Str(s) => {
                if ctx == ExprContext::Computed {
                    return Err("string operations are not translated".into());
                }
                has_string = true;
                push(&mut out, &quote_literal(s));
            }
            Tok::Num(n) => push(&mut out, n),
            Tok::Hex(h) => {
                if ctx == ExprContext::Computed {
                    return Err("binary constants are not translated".into());
                }
                push(&mut out, &hex_literal(h));
            }
            Tok::LParen => {
                depth += 1;
                push(&mut out, "(")
            }
            Tok::RParen => {
                if depth == 0 {
                    return Err("unbalanced parentheses".into());
                }
                push(&mut out, ")");
                if extra_close.last().is_some_and(|(d, _)| *d == depth) {
                    out.push_str(extra_close.pop().expect("checked").1);
                }
                depth -= 1;
            }
            Tok::Comma => push(&mut out, ","),
            Tok::Op(o) => {
                if ctx == ExprContext::Computed && !matches!(o.as_str(), "+" | "-" | "*") {
                    return Err(format!("operator {o} is not translated in computed columns"));
                }
                has_plus |= o == "+";
                push(&mut out, o)
            }
            Tok::Word(w) => {
                let lw = w.to_ascii_lowercase();
                let is_call = toks.get(i + 1) == Some(&Tok::LParen) && toks.get(i + 2) == Some(&Tok::RParen);
                if ctx == ExprContext::Computed {
                    return Err(format!("{w} is not translated in computed columns"));
                }
                match lw.as_str() {
                    "and" | "or" | "not" | "is" | "null" | "in" | "between" => push(&mut out, &lw.to_uppercase()),
                    "like" => {
                        if let Some(Tok::Str(p)) = toks.get(i + 1)
                            && !p.contains('[')
                        {
                            push(&mut out, "LIKE")
                        } else {
                            return Err("LIKE with a [ ] pattern or a non-constant pattern".into());
                        }
                    }
                    _ if toks.get(i + 1) == Some(&Tok::LParen) && scalar_function(&lw).is_some() => {
                        // A function with arguments, translated one for one; its arguments
                        // go through this same loop.
                        let (open, close) = scalar_function(&lw).expect("checked");
                        push(&mut out, open);
                        depth += 1;
                        if !close.is_empty() {
                            extra_close.push((depth, close));
                        }
                        i += 1;
                    }
                    _ => {
                        let niladic = matches!(
                            lw.as_str(),
                            "current_timestamp" | "current_user" | "session_user" | "system_user" | "user"
                        );
                        if !(is_call || niladic) {
                            return Err(format!("{w} is not translated"));
                        }
                        let f =
                            translate_function(&lw, ctx).ok_or_else(|| format!("function {w} is not translated"))?;
                        push(&mut out, f);
                        if is_call {
                            i += 2;
                        }
                    }
                }
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if has_string && has_plus {
        return Err("+ on strings (concatenation) is not translated".into());
    }
    if out.is_empty() {
        return Err("empty expression".into());
    }
    Ok(out)
}

/// A T-SQL `0x…` constant as PostgreSQL `bytea`, without backslashes (so that it means
/// the same whatever `standard_conforming_strings` is); SQL Server reads an odd number of
/// digits with a leading 0.
fn hex_literal(h: &str) -> String {
    let pad = if h.len() % 2 == 1 { "0" } else { "" };
    format!("decode('{pad}{}', 'hex')", h.to_ascii_lowercase())
}

/// Removes redundant outer parentheses: `((0))` → `0`.
fn strip_parens(s: &str) -> &str {
    let mut s = s.trim();
    loop {
        if !(s.starts_with('(') && s.ends_with(')')) {
            return s;
        }
        // The first ( must close at the very end.
        let mut depth = 0i32;
        let mut in_str = false;
        let mut closes_at_end = true;
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        for (k, &(_, ch)) in chars.iter().enumerate() {
            match ch {
                '\'' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 && k != chars.len() - 1 {
                        closes_at_end = false;
                        break;
                    }
                }
                _ => {}
            }
        }
        if !closes_at_end {
            return s;
        }
        s = s[1..s.len() - 1].trim();
    }
}

/// Translates a column DEFAULT for a column of PostgreSQL type `ty`.
///
/// Constants (numbers, `'…'`, `N'…'`, `0x…`, with any nesting of parentheses) are kept,
/// `bit` defaults `(0)`/`(1)` become `false`/`true`, and the functions of the module
/// docs (`getdate()` → `CURRENT_TIMESTAMP`, `getutcdate()` → `(now() AT TIME ZONE
/// 'utc')`, `newid()` → `gen_random_uuid()`, `suser_sname()` → `CURRENT_USER`, …) are
/// translated; other expressions go through [`translate_expr`].
///
/// # Errors
/// Why the default was not translated.
pub fn translate_default(def: &str, ty: &PgType, table: &TablePlan) -> Result<String, String> {
    let inner = strip_parens(def);
    if *ty == PgType::Boolean {
        let v = strip_parens(inner.trim_start_matches('N').trim_matches('\''));
        return match v.to_ascii_lowercase().as_str() {
            "0" | "false" => Ok("false".into()),
            "1" | "true" => Ok("true".into()),
            _ => Err(format!("bit default {def} is not 0 or 1")),
        };
    }
    // A signed number: `-1`, `(-1)`, `-(1)`.
    let toks = tokenize(inner)?;
    let numeric = matches!(toks.as_slice(), [Tok::Num(_)] | [Tok::Op(_), Tok::Num(_)])
        || matches!(toks.as_slice(), [Tok::Op(_), Tok::LParen, Tok::Num(_), Tok::RParen]);
    if numeric {
        let sign = matches!(toks.first(), Some(Tok::Op(o)) if o == "-");
        let n = toks.iter().find_map(|t| if let Tok::Num(n) = t { Some(n.clone()) } else { None }).unwrap_or_default();
        if matches!(toks.first(), Some(Tok::Op(o)) if o != "-" && o != "+") {
            return Err(format!("default {def} is not translated"));
        }
        return Ok(if sign { format!("-{n}") } else { n });
    }
    if let [Tok::Hex(h)] = toks.as_slice() {
        return Ok(hex_literal(h));
    }
    translate_expr(inner, table, ExprContext::Default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::ColumnPlan;
    use mssql_backup::SqlType;

    fn table() -> TablePlan {
        let col = |n: &str, t: PgType| ColumnPlan {
            source_name: n.into(),
            name: n.into(),
            sql_type: SqlType::Int,
            pg_type: t,
            note: None,
            nullable: true,
            identity: None,
            identity_sequence: None,
            generated: None,
            computed_persisted: false,
            collation: None,
        };
        TablePlan {
            index: 0,
            source_schema: "dbo".into(),
            source_name: "T".into(),
            schema: "public".into(),
            name: "T".into(),
            columns: vec![
                col("Qty", PgType::Integer),
                col("Price", PgType::Numeric { precision: 19, scale: 4 }),
                col("Active", PgType::Boolean),
                col("Name", PgType::VarChar { len: 10 }),
            ],
        }
    }

    #[test]
    fn defaults() {
        let t = table();
        let int = PgType::Integer;
        assert_eq!(translate_default("((0))", &int, &t).unwrap(), "0");
        assert_eq!(translate_default("((-1))", &int, &t).unwrap(), "-1");
        assert_eq!(translate_default("((1.50))", &int, &t).unwrap(), "1.50");
        assert_eq!(translate_default("(N'it''s')", &PgType::Text, &t).unwrap(), "'it''s'");
        assert_eq!(translate_default("((1))", &PgType::Boolean, &t).unwrap(), "true");
        assert_eq!(translate_default("((0))", &PgType::Boolean, &t).unwrap(), "false");
        let ts = PgType::Timestamp { precision: 3 };
        assert_eq!(translate_default("(getdate())", &ts, &t).unwrap(), "CURRENT_TIMESTAMP");
        assert_eq!(translate_default("(getutcdate())", &ts, &t).unwrap(), "(now() AT TIME ZONE 'utc')");
        assert_eq!(translate_default("(newid())", &PgType::Uuid, &t).unwrap(), "gen_random_uuid()");
        assert_eq!(translate_default("(suser_sname())", &PgType::Text, &t).unwrap(), "CURRENT_USER");
        assert_eq!(translate_default("(0x00FF)", &PgType::Bytea, &t).unwrap(), "decode('00ff', 'hex')");
        assert_eq!(translate_default("(0x1)", &PgType::Bytea, &t).unwrap(), "decode('01', 'hex')");
        assert!(translate_default("(CONVERT([bit],(0)))", &int, &t).is_err());
        assert!(translate_default("(dateadd(day,(1),getdate()))", &ts, &t).is_err());
    }

    #[test]
    fn predicates() {
        let t = table();
        assert_eq!(
            translate_expr("([Qty]>=(0) AND [Price]<=(100))", &t, ExprContext::Check).unwrap(),
            r#"("Qty" >= (0) AND "Price" <= (100))"#
        );
        assert_eq!(
            translate_expr("([Active]=(1))", &t, ExprContext::Filter).unwrap(),
            r#"(("Active")::integer = (1))"#
        );
        assert_eq!(translate_expr("([Name] IS NOT NULL)", &t, ExprContext::Filter).unwrap(), r#"("Name" IS NOT NULL)"#);
        assert!(translate_expr("([Name] like '[a-z]%')", &t, ExprContext::Check).is_err());
        // A nondeterministic collation (--case-insensitive icu): LIKE compares under the
        // database default, which PostgreSQL before 18 requires; `=` keeps the collation.
        let mut ci = table();
        ci.columns[3].collation = Some("SQL_Latin1_General_CP1_CI_AS".into());
        assert_eq!(
            translate_expr("([Name] like 'a%' OR [Name]='b')", &ci, ExprContext::Check).unwrap(),
            r#"(("Name" COLLATE "default") LIKE 'a%' OR ("Name" COLLATE "default") = 'b')"#
        );
        assert_eq!(translate_expr("([Name]='b')", &ci, ExprContext::Check).unwrap(), r#"("Name" = 'b')"#);
        assert!(translate_expr("([Nope]=(1))", &t, ExprContext::Check).is_err());
        assert_eq!(translate_expr("([qty]>(0))", &t, ExprContext::Check).unwrap(), r#"("Qty" > (0))"#);
        assert!(translate_expr("([d]<getdate())", &t, ExprContext::Filter).is_err());
        assert!(translate_expr("([Name]+'x')", &t, ExprContext::Check).is_err());
        assert_eq!(translate_expr("([Qty]*[Price])", &t, ExprContext::Computed).unwrap(), r#"("Qty" * "Price")"#);
        assert!(translate_expr("([Qty]/(2))", &t, ExprContext::Computed).is_err());
        assert!(translate_expr("(upper([Name]))", &t, ExprContext::Computed).is_err());
        assert_eq!(
            translate_expr("(len(ltrim([Name]))>(0) AND upper([Name])=[Name])", &t, ExprContext::Check).unwrap(),
            r#"(length(rtrim(ltrim("Name"))) > (0) AND upper("Name") = "Name")"#
        );
        assert_eq!(
            translate_expr("(isnull([Qty],(0))>=(0))", &t, ExprContext::Filter).unwrap(),
            r#"(coalesce("Qty", (0)) >= (0))"#
        );
        assert!(translate_expr("(len([Name]>(0))", &t, ExprContext::Check).is_err());
        assert!(translate_expr("(foo([Name]))", &t, ExprContext::Check).is_err());
    }
}
