//! The data of the oracle scripts: every `INSERT … VALUES` statement of a T-SQL script,
//! as typed literals, grouped by table and resolved against the table's columns.
//!
//! The scripts in `../shared/fixtures/oracle` are the T-SQL that created the databases in
//! the backups (MANIFEST.md). This module reads them without a database:
//!
//! * [`parse_script`] tokenizes the whole script (so that `--` and `/* */` comments, `GO`,
//!   and quotes inside strings never confuse it) and picks out the statements
//!   `INSERT [INTO] <table> [(<columns>)] VALUES (<row>)[, (<row>)…]`. Table and column
//!   names may be bare, `"quoted"` or `[bracketed]`, with or without a schema. Each value
//!   becomes a [`Literal`]. It also follows `SET IDENTITY_INSERT <table> ON|OFF`, because
//!   that decides whether a positional `VALUES` list includes the identity column. Other
//!   statements (DDL, `SET`, procedures, triggers) are skipped; an `INSERT` whose rows do
//!   not come from `VALUES` (`INSERT … SELECT`, `INSERT … EXEC`) is listed in
//!   [`Script::skipped`] so that a caller can account for it (TSQLV4's `dbo.Nums`).
//! * [`Script::table`] groups the rows of one table; [`OracleTable::resolve`] maps every
//!   row onto the table's full column list ([`TableDef`]), filling columns a statement
//!   leaves out with the column's DEFAULT (or NULL), and numbering IDENTITY columns the way
//!   SQL Server does when the statement does not give them.
//!
//! Names are matched case-insensitively (the databases use case-insensitive collations);
//! a name without a schema is in `dbo`, the default schema of the scripts' users.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// One value of a `VALUES` row, as written in the script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `NULL`.
    Null,
    /// A numeric literal with its sign: `-12`, `9.8`, `.5`, `1e5`, `2.5E-3`. The text is
    /// kept so that conversions to the column's type are exact.
    Number(String),
    /// A money literal `$20.00` / `-$1.5`: the number without the `$`, with its sign.
    Money(String),
    /// `'text'` (`unicode` false: a `varchar` literal in the database's code page) or
    /// `N'text'` (`unicode` true), with `''` already unescaped. Line breaks inside the
    /// quotes are kept as they are in the script.
    String {
        /// The characters between the quotes.
        text: String,
        /// `N'…'`.
        unicode: bool,
    },
    /// `0x…` as bytes (an odd number of digits gets a leading zero, as in SQL Server).
    Binary(Vec<u8>),
    /// The `DEFAULT` keyword, or a column the statement leaves out: the column's default
    /// applies (see [`OracleTable::resolve`]).
    Default,
    /// Anything else (a function call such as `GETDATE()`, a variable, `CAST(…)`), kept as
    /// its source text. It has no value the harness can know.
    Expr(String),
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Null => f.write_str("NULL"),
            Literal::Number(n) => f.write_str(n),
            Literal::Money(n) => write!(f, "${n}"),
            Literal::String { text, unicode } => {
                write!(f, "{}'{}'", if *unicode { "N" } else { "" }, text.replace('\'', "''"))
            }
            Literal::Binary(b) => {
                f.write_str("0x")?;
                for x in b {
                    write!(f, "{x:02X}")?;
                }
                Ok(())
            }
            Literal::Default => f.write_str("DEFAULT"),
            Literal::Expr(e) => f.write_str(e),
        }
    }
}

/// A table name as a statement writes it. `schema` is `None` when not given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TableName {
    /// Schema, when the statement names one (`HR` in `HR.Employees`).
    pub schema: Option<String>,
    /// Table name, unquoted (`Order Details`).
    pub name: String,
}

impl TableName {
    /// The schema, `dbo` when none is written.
    pub fn schema_or_dbo(&self) -> &str {
        self.schema.as_deref().unwrap_or("dbo")
    }

    /// True when this names `schema.name` (case-insensitively; no schema means `dbo`).
    pub fn is(&self, schema: &str, name: &str) -> bool {
        self.schema_or_dbo().eq_ignore_ascii_case(schema) && self.name.eq_ignore_ascii_case(name)
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema_or_dbo(), self.name)
    }
}

/// One row of one `INSERT … VALUES` statement.
#[derive(Debug, Clone, PartialEq)]
pub struct OracleRow {
    /// The statement's column list, `None` for a positional `INSERT t VALUES (…)`.
    /// Shared between the rows of a statement.
    pub columns: Option<Arc<[String]>>,
    /// The values, in the order of `columns` (or of the table's columns).
    pub values: Vec<Literal>,
    /// 1-based line of the script where the statement starts.
    pub line: usize,
    /// Whether `SET IDENTITY_INSERT` was `ON` for this table when the row was inserted.
    pub identity_insert: bool,
}

/// An `INSERT` statement the parser did not turn into rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedInsert {
    /// The target table.
    pub table: TableName,
    /// 1-based line of the `INSERT`.
    pub line: usize,
    /// What followed the table name instead of `VALUES` (`SELECT`, `EXEC`, …).
    pub reason: String,
}

/// Everything [`parse_script`] found.
#[derive(Debug, Clone, Default)]
pub struct Script {
    /// Rows by target table, in script order (the order SQL Server inserted them).
    pub rows: Vec<(TableName, OracleRow)>,
    /// `INSERT` statements without `VALUES` rows.
    pub skipped: Vec<SkippedInsert>,
    /// Corrections [`OracleFile::load`] applied to the parsed data, one line each.
    pub errata: Vec<String>,
}

/// The rows a script inserts into one table.
#[derive(Debug, Clone)]
pub struct OracleTable {
    /// Schema (`dbo` when the script gives none).
    pub schema: String,
    /// Table name as the first statement writes it.
    pub name: String,
    /// Rows in script order.
    pub rows: Vec<OracleRow>,
}

impl Script {
    /// The tables the script fills, as `(schema, name)` in order of first insert, with
    /// names as first written (`dbo` for no schema).
    pub fn tables(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for (t, _) in &self.rows {
            if !out.iter().any(|(s, n)| t.is(s, n)) {
                out.push((t.schema_or_dbo().to_string(), t.name.clone()));
            }
        }
        out
    }

    /// The rows inserted into `schema.name` (case-insensitive), or `None` if the script
    /// inserts no `VALUES` row into it.
    pub fn table(&self, schema: &str, name: &str) -> Option<OracleTable> {
        let rows: Vec<OracleRow> =
            self.rows.iter().filter(|(t, _)| t.is(schema, name)).map(|(_, r)| r.clone()).collect();
        let first = self.rows.iter().find(|(t, _)| t.is(schema, name))?;
        Some(OracleTable { schema: first.0.schema_or_dbo().to_string(), name: first.0.name.clone(), rows })
    }
}

/// A parse error with the 1-based line where it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

// ---------------------------------------------------------------------------------------
// Tokenizer

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    /// A bare word: keyword or identifier (`INSERT`, `dbo`, `GO`, `N` before a quote is
    /// folded into `Str`).
    Word(String),
    /// `"quoted"` or `[bracketed]` identifier, unquoted.
    Quoted(String),
    Str {
        text: String,
        unicode: bool,
    },
    Number(String),
    Money(String),
    Binary(Vec<u8>),
    /// `@name` / `@@name`.
    Variable(String),
    Punct(char),
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
    /// Byte range in the source, for the text of unparsed expressions.
    start: usize,
    end: usize,
}

fn is_ident_start(c: char) -> bool {
    c.is_alphabetic() || c == '_' || c == '#'
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '#' || c == '$' || c == '@'
}

/// Splits T-SQL into tokens, dropping whitespace and comments. Strings may span lines;
/// `/* */` comments nest, as in T-SQL.
fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let err = |line, message: String| ParseError { line, message };
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        let start_line = line;
        match b {
            b'\n' => {
                line += 1;
                i += 1;
            }
            b' ' | b'\t' | b'\r' | 0x0B | 0x0C => i += 1,
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let mut depth = 0usize;
                loop {
                    match (bytes.get(i), bytes.get(i + 1)) {
                        (Some(b'/'), Some(b'*')) => {
                            depth += 1;
                            i += 2;
                        }
                        (Some(b'*'), Some(b'/')) => {
                            depth -= 1;
                            i += 2;
                            if depth == 0 {
                                break;
                            }
                        }
                        (Some(b'\n'), _) => {
                            line += 1;
                            i += 1;
                        }
                        (Some(_), _) => i += 1,
                        (None, _) => return Err(err(start_line, "unterminated /* comment".into())),
                    }
                }
            }
            b'\'' => {
                let (text, next, lines) = read_quoted(src, i, b'\'', b'\'')
                    .ok_or_else(|| err(start_line, "unterminated string literal".into()))?;
                line += lines;
                i = next;
                out.push(Token { tok: Tok::Str { text, unicode: false }, line: start_line, start, end: i });
            }
            b'N' | b'n' if bytes.get(i + 1) == Some(&b'\'') => {
                let (text, next, lines) = read_quoted(src, i + 1, b'\'', b'\'')
                    .ok_or_else(|| err(start_line, "unterminated N'' string literal".into()))?;
                line += lines;
                i = next;
                out.push(Token { tok: Tok::Str { text, unicode: true }, line: start_line, start, end: i });
            }
            b'"' => {
                let (text, next, lines) = read_quoted(src, i, b'"', b'"')
                    .ok_or_else(|| err(start_line, "unterminated \"identifier\"".into()))?;
                line += lines;
                i = next;
                out.push(Token { tok: Tok::Quoted(text), line: start_line, start, end: i });
            }
            b'[' => {
                let (text, next, lines) = read_quoted(src, i, b'[', b']')
                    .ok_or_else(|| err(start_line, "unterminated [identifier]".into()))?;
                line += lines;
                i = next;
                out.push(Token { tok: Tok::Quoted(text), line: start_line, start, end: i });
            }
            b'0' if matches!(bytes.get(i + 1), Some(b'x' | b'X')) => {
                i += 2;
                let digits_start = i;
                while i < bytes.len() && bytes[i].is_ascii_hexdigit() {
                    i += 1;
                }
                let bin = hex_bytes(&src[digits_start..i]);
                out.push(Token { tok: Tok::Binary(bin), line: start_line, start, end: i });
            }
            b'0'..=b'9' | b'.' if b != b'.' || bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                i = scan_number(bytes, i);
                out.push(Token { tok: Tok::Number(src[start..i].to_string()), line: start_line, start, end: i });
            }
            b'$' if bytes.get(i + 1).is_some_and(|c| c.is_ascii_digit() || *c == b'.') => {
                i = scan_number(bytes, i + 1);
                out.push(Token { tok: Tok::Money(src[start + 1..i].to_string()), line: start_line, start, end: i });
            }
            b'@' => {
                i += 1;
                while i < bytes.len() {
                    let c = src[i..].chars().next().unwrap_or(' ');
                    if !is_ident_char(c) {
                        break;
                    }
                    i += c.len_utf8();
                }
                out.push(Token { tok: Tok::Variable(src[start..i].to_string()), line: start_line, start, end: i });
            }
            _ => {
                let c = src[i..].chars().next().unwrap_or('\u{FFFD}');
                if is_ident_start(c) {
                    i += c.len_utf8();
                    while i < bytes.len() {
                        let c = src[i..].chars().next().unwrap_or(' ');
                        if !is_ident_char(c) {
                            break;
                        }
                        i += c.len_utf8();
                    }
                    out.push(Token { tok: Tok::Word(src[start..i].to_string()), line: start_line, start, end: i });
                } else {
                    i += c.len_utf8();
                    out.push(Token { tok: Tok::Punct(c), line: start_line, start, end: i });
                }
            }
        }
    }
    Ok(out)
}

/// Reads a quoted run starting at `open` (the opening quote byte at `src[start]`) up to
/// the closing quote, where a doubled closing quote stands for one. Returns the text, the
/// index after the closing quote and the number of line feeds inside.
fn read_quoted(src: &str, start: usize, open: u8, close: u8) -> Option<(String, usize, usize)> {
    let bytes = src.as_bytes();
    debug_assert_eq!(bytes[start], open);
    let mut text = String::new();
    let mut i = start + 1;
    let mut run = i;
    let mut lines = 0;
    loop {
        let b = *bytes.get(i)?;
        if b == close {
            text.push_str(&src[run..i]);
            if bytes.get(i + 1) == Some(&close) {
                text.push(close as char);
                i += 2;
                run = i;
                continue;
            }
            return Some((text, i + 1, lines));
        }
        if b == b'\n' {
            lines += 1;
        }
        i += 1;
    }
}

/// `[digits][.digits][e[+-]digits]` from `i`; returns the end index.
fn scan_number(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        let mut j = i + 1;
        if matches!(bytes.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        if bytes.get(j).is_some_and(u8::is_ascii_digit) {
            i = j;
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
    i
}

/// Hex digits to bytes; an odd count gets a leading zero nibble (`0x123` = `01 23`), as
/// SQL Server reads binary constants.
fn hex_bytes(digits: &str) -> Vec<u8> {
    let nib = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    };
    let d = digits.as_bytes();
    let mut out = Vec::with_capacity(d.len().div_ceil(2));
    let mut k = 0;
    if d.len() % 2 == 1 {
        out.push(nib(d[0]));
        k = 1;
    }
    while k + 1 < d.len() {
        out.push(nib(d[k]) << 4 | nib(d[k + 1]));
        k += 2;
    }
    out
}

// ---------------------------------------------------------------------------------------
// Statements

fn is_word(t: Option<&Token>, w: &str) -> bool {
    matches!(t, Some(Token { tok: Tok::Word(x), .. }) if x.eq_ignore_ascii_case(w))
}

fn is_punct(t: Option<&Token>, c: char) -> bool {
    matches!(t, Some(Token { tok: Tok::Punct(x), .. }) if *x == c)
}

/// A name part: a bare word or a quoted identifier.
fn name_part(t: Option<&Token>) -> Option<String> {
    match t.map(|t| &t.tok) {
        Some(Tok::Word(w) | Tok::Quoted(w)) => Some(w.clone()),
        _ => None,
    }
}

/// Reads a one- to four-part name at `*i` (`t`, `s.t`, `db.s.t`, `srv.db.s.t`) and keeps
/// the last two parts.
fn table_name(toks: &[Token], i: &mut usize) -> Option<TableName> {
    let mut parts = vec![name_part(toks.get(*i))?];
    *i += 1;
    while is_punct(toks.get(*i), '.') {
        // `db..t` skips the schema.
        if is_punct(toks.get(*i + 1), '.') {
            parts.push(String::new());
            *i += 1;
            continue;
        }
        parts.push(name_part(toks.get(*i + 1))?);
        *i += 2;
    }
    let name = parts.pop()?;
    let schema = parts.pop().filter(|s| !s.is_empty());
    Some(TableName { schema, name })
}

/// Parses a T-SQL script into the rows of its `INSERT … VALUES` statements (see the
/// module docs for what is recognised).
///
/// # Errors
/// An unterminated string, identifier or comment; an `INSERT … VALUES` whose column list
/// or rows are malformed (unbalanced parentheses, a missing comma) or whose row width
/// differs from its column list.
pub fn parse_script(src: &str) -> Result<Script, ParseError> {
    let toks = tokenize(src)?;
    let mut script = Script::default();
    // Tables with IDENTITY_INSERT on, by lower-cased `schema.name`.
    let mut identity_insert: HashMap<String, bool> = HashMap::new();
    let key = |t: &TableName| format!("{}.{}", t.schema_or_dbo(), t.name).to_lowercase();
    let mut i = 0;
    while i < toks.len() {
        if is_word(toks.get(i), "SET") && is_word(toks.get(i + 1), "IDENTITY_INSERT") {
            let mut j = i + 2;
            if let Some(t) = table_name(&toks, &mut j) {
                let on = is_word(toks.get(j), "ON");
                if on || is_word(toks.get(j), "OFF") {
                    identity_insert.insert(key(&t), on);
                    i = j + 1;
                    continue;
                }
            }
            i += 2;
            continue;
        }
        if !is_word(toks.get(i), "INSERT") {
            i += 1;
            continue;
        }
        let line = toks[i].line;
        let mut j = i + 1;
        if is_word(toks.get(j), "INTO") {
            j += 1;
        }
        // `FOR INSERT, UPDATE` in a trigger, `GRANT INSERT ON`: not a statement.
        if is_word(toks.get(j), "ON") || is_word(toks.get(j), "VALUES") || is_word(toks.get(j), "SELECT") {
            i = j;
            continue;
        }
        let Some(table) = table_name(&toks, &mut j) else {
            i += 1;
            continue;
        };
        // Optional column list; `(` followed by SELECT would be a parenthesised query.
        let mut columns = None;
        if is_punct(toks.get(j), '(') && !is_word(toks.get(j + 1), "SELECT") {
            let mut cols = Vec::new();
            j += 1;
            loop {
                let c = name_part(toks.get(j))
                    .ok_or_else(|| ParseError { line, message: format!("INSERT {table}: bad column list") })?;
                cols.push(c);
                j += 1;
                if is_punct(toks.get(j), ',') {
                    j += 1;
                } else if is_punct(toks.get(j), ')') {
                    j += 1;
                    break;
                } else {
                    return Err(ParseError { line, message: format!("INSERT {table}: bad column list") });
                }
            }
            columns = Some(Arc::<[String]>::from(cols));
        }
        if !is_word(toks.get(j), "VALUES") {
            let reason = match toks.get(j).map(|t| &t.tok) {
                Some(Tok::Word(w)) => w.to_uppercase(),
                Some(other) => format!("{other:?}"),
                None => "end of script".into(),
            };
            script.skipped.push(SkippedInsert { table, line, reason });
            i = j;
            continue;
        }
        j += 1;
        let ii = identity_insert.get(&key(&table)).copied().unwrap_or(false);
        loop {
            if !is_punct(toks.get(j), '(') {
                return Err(ParseError { line, message: format!("INSERT {table}: expected ( after VALUES") });
            }
            j += 1;
            let mut values = Vec::new();
            loop {
                let (lit, next) = literal(src, &toks, j).map_err(|message| ParseError {
                    line: toks.get(j).map_or(line, |t| t.line),
                    message: format!("INSERT {table}: {message}"),
                })?;
                values.push(lit);
                j = next;
                if is_punct(toks.get(j), ',') {
                    j += 1;
                } else if is_punct(toks.get(j), ')') {
                    j += 1;
                    break;
                } else {
                    return Err(ParseError {
                        line: toks.get(j).map_or(line, |t| t.line),
                        message: format!("INSERT {table}: expected , or ) in a VALUES row"),
                    });
                }
            }
            if let Some(c) = &columns
                && c.len() != values.len()
            {
                return Err(ParseError {
                    line,
                    message: format!("INSERT {table}: {} columns but {} values", c.len(), values.len()),
                });
            }
            script
                .rows
                .push((table.clone(), OracleRow { columns: columns.clone(), values, line, identity_insert: ii }));
            if is_punct(toks.get(j), ',') && is_punct(toks.get(j + 1), '(') {
                j += 1;
                continue;
            }
            break;
        }
        i = j;
    }
    Ok(script)
}

/// One value expression at `toks[i]`; returns it and the index of the token after it
/// (a `,` or `)` of the row).
fn literal(src: &str, toks: &[Token], i: usize) -> Result<(Literal, usize), String> {
    // Signs in front of a number: `-12`, `- 12`, `+5`, `-$3`.
    let mut j = i;
    let mut negative = false;
    while let Some(Token { tok: Tok::Punct(c @ ('-' | '+')), .. }) = toks.get(j) {
        negative ^= *c == '-';
        j += 1;
    }
    let signed = |n: &str| if negative { format!("-{n}") } else { n.to_string() };
    let simple = match toks.get(j).map(|t| &t.tok) {
        Some(Tok::Number(n)) => Some(Literal::Number(signed(n))),
        Some(Tok::Money(n)) => Some(Literal::Money(signed(n))),
        Some(Tok::Str { text, unicode }) if j == i => Some(Literal::String { text: text.clone(), unicode: *unicode }),
        Some(Tok::Binary(b)) if j == i => Some(Literal::Binary(b.clone())),
        Some(Tok::Word(w)) if j == i && w.eq_ignore_ascii_case("NULL") => Some(Literal::Null),
        Some(Tok::Word(w)) if j == i && w.eq_ignore_ascii_case("DEFAULT") => Some(Literal::Default),
        _ => None,
    };
    if let Some(lit) = simple
        && (is_punct(toks.get(j + 1), ',') || is_punct(toks.get(j + 1), ')'))
    {
        return Ok((lit, j + 1));
    }
    // `(literal)` unwraps; anything else is kept as text up to the `,` or `)` that ends it.
    if is_punct(toks.get(i), '(')
        && let Ok((inner, k)) = literal(src, toks, i + 1)
        && is_punct(toks.get(k), ')')
        && (is_punct(toks.get(k + 1), ',') || is_punct(toks.get(k + 1), ')'))
        && !matches!(inner, Literal::Expr(_))
    {
        return Ok((inner, k + 1));
    }
    let mut depth = 0usize;
    let mut k = i;
    loop {
        match toks.get(k).map(|t| &t.tok) {
            None => return Err("unterminated VALUES row".into()),
            Some(Tok::Punct('(')) => depth += 1,
            Some(Tok::Punct(')')) if depth == 0 => break,
            Some(Tok::Punct(')')) => depth -= 1,
            Some(Tok::Punct(',')) if depth == 0 => break,
            _ => {}
        }
        k += 1;
    }
    if k == i {
        return Err("empty value".into());
    }
    Ok((Literal::Expr(src[toks[i].start..toks[k - 1].end].to_string()), k))
}

// ---------------------------------------------------------------------------------------
// The fixtures' oracle scripts

/// The oracle scripts of `../shared/fixtures/oracle` (MANIFEST.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OracleFile {
    /// `instnwnd.sql`: Northwind (Microsoft).
    Northwind,
    /// `instpubs.sql`: pubs (Microsoft).
    Pubs,
    /// `TSQLV4.sql`: TSQLV4 (Itzik Ben-Gan).
    Tsqlv4,
    /// `bikestores-load-data.sql`: BikeStores data (sqlservertutorial.net).
    BikeStores,
}

impl OracleFile {
    /// The script's file name in `oracle/`.
    pub fn file_name(self) -> &'static str {
        match self {
            OracleFile::Northwind => "instnwnd.sql",
            OracleFile::Pubs => "instpubs.sql",
            OracleFile::Tsqlv4 => "TSQLV4.sql",
            OracleFile::BikeStores => "bikestores-load-data.sql",
        }
    }

    /// Reads and parses the script (in place, from the fixtures directory), then applies
    /// the corrections below, each recorded in [`Script::errata`]. They are the
    /// differences between these copies of the scripts and the scripts that were run,
    /// established by comparing with every backup made from them and with other published
    /// copies of the scripts; each is checked to apply exactly as often as expected, so a
    /// changed file fails loudly.
    ///
    /// * Northwind: the two addresses that span lines (Employees 6 and 7) have LF in this
    ///   copy, converted from the Windows original; SQL Server stored the script's CR LF,
    ///   and so do all the backups. Employees 1's address is `'507 - 20th Ave. E.Apt. 2A'`
    ///   here, but the script that was run had a line break between `E.` and `Apt.` (all
    ///   five Northwind backups hold `E.\r\nApt. 2A`, as do other published Northwind
    ///   dumps).
    /// * pubs: in the five `pr_info` texts that span lines, every line break is `\n\n`
    ///   in this copy where the backup has `\r\n` (two characters either way: each CR
    ///   and LF of the original became a LF). Publisher 9901's city has `M\u{FFFD}nchen`:
    ///   the original has the single byte 0x81 there (`ü` in the OEM code page 437/850,
    ///   a byte cp1252 leaves undefined), lost when this copy was converted to UTF-8;
    ///   SQL Server stored 0x81, which reads as U+0081. The same word in 9901's `pr_info`
    ///   is `München` with a cp1252 `ü` in the original (other published copies show it)
    ///   and in the backup.
    /// * TSQLV4: `dbo.Nums` is filled by a loop, not by `VALUES` rows: one
    ///   `INSERT INTO dbo.Nums VALUES(1)`, then `INSERT INTO dbo.Nums SELECT n + @rc FROM
    ///   dbo.Nums` while `@rc * 2 <= @max` (doubling), then the rest up to `@max` =
    ///   100000. The two `INSERT … SELECT` statements are removed from
    ///   [`Script::skipped`] and the table's rows become 1..=100000, after checking that
    ///   the script still has exactly that loop. (This file kept its CR LF line ends.)
    /// * BikeStores: none (no string spans lines).
    ///
    /// # Errors
    /// The file cannot be read or parsed, or a correction does not apply as expected.
    pub fn load(self) -> Result<Script, String> {
        let path = crate::fixture(&format!("oracle/{}", self.file_name()));
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut script = parse_script(&text).map_err(|e| format!("{}: {e}", self.file_name()))?;
        match self {
            OracleFile::Northwind => {
                let n = map_strings(&mut script, |s, _| {
                    if s.contains('\n') {
                        *s = s.replace('\n', "\r\n");
                        true
                    } else {
                        false
                    }
                });
                expect_count("Northwind strings spanning lines", n, 2)?;
                script.errata.push("Employees 6 and 7 addresses: LF → CR LF".into());
                let n = map_strings(&mut script, |s, _| {
                    if s == "507 - 20th Ave. E.Apt. 2A" {
                        *s = "507 - 20th Ave. E.\r\nApt. 2A".into();
                        true
                    } else {
                        false
                    }
                });
                expect_count("Employees 1 address line break", n, 1)?;
                script.errata.push("Employees 1 address: 'E.Apt. 2A' → 'E.\\r\\nApt. 2A'".into());
            }
            OracleFile::Pubs => {
                let n = map_strings(&mut script, |s, _| {
                    if s.contains("\n\n") {
                        *s = s.replace("\n\n", "\r\n");
                        true
                    } else {
                        false
                    }
                });
                expect_count("pubs pr_info texts spanning lines", n, 5)?;
                script.errata.push("pub_info.pr_info of 0736, 0877, 1389, 1622, 9999: LF LF → CR LF".into());
                let n = map_strings(&mut script, |s, unicode| {
                    if !unicode && s == "M\u{FFFD}nchen" {
                        *s = "M\u{81}nchen".into();
                        true
                    } else {
                        false
                    }
                });
                expect_count("publisher 9901 city", n, 1)?;
                script.errata.push("publishers 9901 city: 'M\\u{FFFD}nchen' → 'M\\u{81}nchen' (the byte 0x81)".into());
                let n = map_strings(&mut script, |s, unicode| {
                    if !unicode && s.contains("M\u{FFFD}nchen") {
                        *s = s.replace("M\u{FFFD}nchen", "München");
                        true
                    } else {
                        false
                    }
                });
                expect_count("publisher 9901 pr_info", n, 1)?;
                script.errata.push("pub_info 9901 pr_info: 'M\\u{FFFD}nchen' → 'München'".into());
            }
            OracleFile::Tsqlv4 => tsqlv4_nums(&text, &mut script)?,
            OracleFile::BikeStores => {}
        }
        // No other line break may be left without its CR.
        let bare = script
            .rows
            .iter()
            .flat_map(|(_, r)| &r.values)
            .filter(|v| matches!(v, Literal::String { text, .. } if text.replace("\r\n", "").contains('\n')))
            .count();
        expect_count("string literals with a bare LF after the corrections", bare, 0)?;
        Ok(script)
    }
}

fn expect_count(what: &str, got: usize, want: usize) -> Result<(), String> {
    if got == want { Ok(()) } else { Err(format!("oracle correction {what}: applied {got} times, expected {want}")) }
}

/// Applies `f` to every string literal (with its `N` flag); returns how many it changed.
fn map_strings(script: &mut Script, mut f: impl FnMut(&mut String, bool) -> bool) -> usize {
    let mut n = 0;
    for (_, row) in &mut script.rows {
        for v in &mut row.values {
            if let Literal::String { text, unicode } = v
                && f(text, *unicode)
            {
                n += 1;
            }
        }
    }
    n
}

/// The TSQLV4 `dbo.Nums` special case (see [`OracleFile::load`]).
fn tsqlv4_nums(text: &str, script: &mut Script) -> Result<(), String> {
    // The loop as the script writes it; if it changes, the special case must be revisited.
    let normalized: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for needle in [
        "SET @max = 100000;",
        "INSERT INTO dbo.Nums VALUES(1); WHILE @rc * 2 <= @max BEGIN INSERT INTO dbo.Nums SELECT n + @rc FROM dbo.Nums; SET @rc = @rc * 2; END",
        "INSERT INTO dbo.Nums SELECT n + @rc FROM dbo.Nums WHERE n + @rc <= @max;",
    ] {
        if !normalized.contains(needle) {
            return Err(format!("TSQLV4.sql: the dbo.Nums loop has changed (no {needle:?})"));
        }
    }
    let loops = script.skipped.iter().filter(|s| s.table.is("dbo", "Nums")).count();
    expect_count("dbo.Nums INSERT … SELECT statements", loops, 2)?;
    script.skipped.retain(|s| !s.table.is("dbo", "Nums"));
    let first = script.rows.iter().position(|(t, _)| t.is("dbo", "Nums")).ok_or("TSQLV4.sql: no dbo.Nums VALUES(1)")?;
    let (table, seed) = script.rows[first].clone();
    if seed.values != [Literal::Number("1".into())] {
        return Err(format!("TSQLV4.sql: dbo.Nums starts with {:?}, not VALUES(1)", seed.values));
    }
    script.rows.retain(|(t, _)| !t.is("dbo", "Nums"));
    script.rows.extend(
        (1..=100_000)
            .map(|n| (table.clone(), OracleRow { values: vec![Literal::Number(n.to_string())], ..seed.clone() })),
    );
    script.errata.push("dbo.Nums: the doubling loop's rows 1..=100000 (special case)".into());
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Resolution against the table's columns

/// What resolution needs to know of a table column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDef {
    /// Column name.
    pub name: String,
    /// `IDENTITY(seed, increment)`.
    pub identity: Option<(i128, i128)>,
    /// The value a row gets when the statement leaves the column out: the DEFAULT
    /// constraint's value (an [`Literal::Expr`] for a function such as `getdate()`), or
    /// NULL without a default.
    pub default: Literal,
    /// A computed column: never inserted, so a positional `VALUES` list skips it.
    pub computed: bool,
}

/// The columns of a table, in `column_id` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Columns in table order.
    pub columns: Vec<ColumnDef>,
}

impl TableDef {
    /// The definition of a table as the native reader describes it (column order,
    /// identity seed and increment, DEFAULT definitions such as `((0))` or `('USA')`
    /// parsed into literals, `(getdate())` kept as an expression).
    pub fn from_schema(table: &mssql_backup::schema::Table) -> TableDef {
        let columns = table
            .columns
            .iter()
            .map(|c| ColumnDef {
                name: c.name.clone(),
                identity: c.identity.map(|id| (id.seed, id.increment)),
                default: c.default.as_ref().map_or(Literal::Null, |d| default_literal(&d.definition)),
                computed: c.computed.is_some(),
            })
            .collect();
        TableDef { columns }
    }
}

/// The literal of a DEFAULT definition as SQL Server stores it: `((0))`, `('USA')`,
/// `(N'x')`, `(getdate())`. A definition that is not one literal is an [`Literal::Expr`].
pub fn default_literal(definition: &str) -> Literal {
    // Parse `VALUES <definition>`-like text: wrap it as one row.
    let src = format!("({definition})");
    let Ok(toks) = tokenize(&src) else { return Literal::Expr(definition.to_string()) };
    match literal(&src, &toks, 1) {
        Ok((lit, k)) if k + 1 == toks.len() => lit,
        _ => Literal::Expr(definition.to_string()),
    }
}

/// A table's oracle rows mapped onto all its columns.
#[derive(Debug, Clone)]
pub struct ResolvedTable {
    /// Schema.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// All column names, in table order.
    pub columns: Vec<String>,
    /// One literal per column for every row, in script order. Identity values SQL Server
    /// generated are [`Literal::Number`]s; left-out columns carry their default.
    pub rows: Vec<Vec<Literal>>,
    /// The script line of each row.
    pub lines: Vec<usize>,
}

impl OracleTable {
    /// Maps every row onto `def`'s columns.
    ///
    /// * A statement's column list is matched to the table's columns by name
    ///   (case-insensitively); a positional row fills the table's columns in order,
    ///   leaving out computed columns and, unless `IDENTITY_INSERT` was on, the identity
    ///   column.
    /// * A column a row does not give (or gives as `DEFAULT`) gets the column's default.
    /// * An identity column a row does not give gets the next identity value: the seed
    ///   for the table's first generated value, else the last value plus the increment,
    ///   where explicitly inserted values (under `IDENTITY_INSERT ON`) move the last value
    ///   forward as SQL Server does (for a positive increment: the maximum so far).
    ///
    /// # Errors
    /// A column name the table does not have, or a positional row whose width is not the
    /// number of insertable columns.
    pub fn resolve(&self, def: &TableDef) -> Result<ResolvedTable, String> {
        let n = def.columns.len();
        let mut rows = Vec::with_capacity(self.rows.len());
        let mut lines = Vec::with_capacity(self.rows.len());
        let identity = def.columns.iter().position(|c| c.identity.is_some());
        let mut last_identity: Option<i128> = None;
        for r in &self.rows {
            let mut out: Vec<Option<Literal>> = vec![None; n];
            match &r.columns {
                Some(cols) => {
                    for (c, v) in cols.iter().zip(&r.values) {
                        let k = def.columns.iter().position(|d| d.name.eq_ignore_ascii_case(c)).ok_or_else(|| {
                            format!("{}.{} line {}: no column {c} in the table", self.schema, self.name, r.line)
                        })?;
                        out[k] = Some(v.clone());
                    }
                }
                None => {
                    let targets: Vec<usize> = (0..n)
                        .filter(|&k| !def.columns[k].computed && (Some(k) != identity || r.identity_insert))
                        .collect();
                    if targets.len() != r.values.len() {
                        return Err(format!(
                            "{}.{} line {}: {} values for the {} insertable columns {:?}",
                            self.schema,
                            self.name,
                            r.line,
                            r.values.len(),
                            targets.len(),
                            targets.iter().map(|&k| &def.columns[k].name).collect::<Vec<_>>()
                        ));
                    }
                    for (k, v) in targets.into_iter().zip(&r.values) {
                        out[k] = Some(v.clone());
                    }
                }
            }
            if let Some(k) = identity {
                let (seed, inc) = def.columns[k].identity.unwrap_or((1, 1));
                match &out[k] {
                    Some(Literal::Number(v)) => {
                        if let Ok(v) = v.parse::<i128>() {
                            last_identity = Some(match last_identity {
                                Some(l) if (inc > 0 && l >= v) || (inc < 0 && l <= v) => l,
                                _ => v,
                            });
                        }
                    }
                    None | Some(Literal::Default) => {
                        let v = last_identity.map_or(seed, |l| l + inc);
                        last_identity = Some(v);
                        out[k] = Some(Literal::Number(v.to_string()));
                    }
                    Some(_) => {}
                }
            }
            let row = out
                .into_iter()
                .zip(&def.columns)
                .map(|(v, d)| match v {
                    None | Some(Literal::Default) => d.default.clone(),
                    Some(v) => v,
                })
                .collect();
            rows.push(row);
            lines.push(r.line);
        }
        Ok(ResolvedTable {
            schema: self.schema.clone(),
            name: self.name.clone(),
            columns: def.columns.iter().map(|c| c.name.clone()).collect(),
            rows,
            lines,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Literal {
        Literal::String { text: text.into(), unicode: false }
    }
    fn n(text: &str) -> Literal {
        Literal::String { text: text.into(), unicode: true }
    }
    fn num(text: &str) -> Literal {
        Literal::Number(text.into())
    }

    #[test]
    fn insert_forms_of_the_scripts() {
        // instnwnd.sql: "quoted" names, a column list; positional; `INSERT INTO` with the
        // column list and the values on separate lines.
        let src = r#"
INSERT "Categories"("CategoryID","CategoryName") VALUES(1,'Beverages')
INSERT "Order Details" VALUES(10248,42,9.8,10,0)
INSERT INTO "Orders"
("OrderID","CustomerID",
	"Freight")
VALUES (10248,N'VINET',
	32.38)
Insert Into Region Values (1,'Eastern')
insert titles values ('PC8888', $20.00, '06/12/94')
INSERT INTO HR.Employees(empid, lastname) VALUES(1, N'Davis');
INSERT INTO [dbo].[T] ([a b], [c]]d]) VALUES (-1, - 2.5), (+3, 1e5);
"#;
        let sc = parse_script(src).unwrap();
        assert!(sc.skipped.is_empty());
        let rows: Vec<(String, Vec<Literal>)> =
            sc.rows.iter().map(|(t, r)| (t.to_string(), r.values.clone())).collect();
        assert_eq!(
            rows,
            vec![
                ("dbo.Categories".into(), vec![num("1"), s("Beverages")]),
                ("dbo.Order Details".into(), vec![num("10248"), num("42"), num("9.8"), num("10"), num("0")]),
                ("dbo.Orders".into(), vec![num("10248"), n("VINET"), num("32.38")]),
                ("dbo.Region".into(), vec![num("1"), s("Eastern")]),
                ("dbo.titles".into(), vec![s("PC8888"), Literal::Money("20.00".into()), s("06/12/94")]),
                ("HR.Employees".into(), vec![num("1"), n("Davis")]),
                ("dbo.T".into(), vec![num("-1"), num("-2.5")]),
                ("dbo.T".into(), vec![num("3"), num("1e5")]),
            ]
        );
        assert_eq!(
            sc.rows[2].1.columns.as_deref(),
            Some(&["OrderID".to_string(), "CustomerID".into(), "Freight".into()][..])
        );
        assert_eq!(sc.rows[2].1.line, 4);
        assert_eq!(sc.rows[1].1.columns, None);
        assert_eq!(sc.rows[6].1.columns.as_deref(), Some(&["a b".to_string(), "c]d".into()][..]));
        assert_eq!(sc.tables().len(), 7);
        assert_eq!(sc.table("DBO", "order details").unwrap().rows.len(), 1);
    }

    #[test]
    fn strings_binary_null_and_escapes() {
        let src = "INSERT t VALUES('O''Leary', N'Münster', '', 0x0aFF, 0x123, 0x, NULL, DEFAULT, 'a\nb -- not a comment /* nor this */')";
        let sc = parse_script(src).unwrap();
        assert_eq!(
            sc.rows[0].1.values,
            vec![
                s("O'Leary"),
                n("Münster"),
                s(""),
                Literal::Binary(vec![0x0A, 0xFF]),
                Literal::Binary(vec![0x01, 0x23]),
                Literal::Binary(vec![]),
                Literal::Null,
                Literal::Default,
                s("a\nb -- not a comment /* nor this */"),
            ]
        );
    }

    #[test]
    fn comments_go_set_and_non_statements_are_skipped() {
        let src = r#"
/* INSERT x VALUES(1) /* nested */ still comment INSERT y VALUES(2) */
-- INSERT z VALUES(3)
SET NOCOUNT ON
GO
CREATE TRIGGER employee_insupd ON employee FOR insert, UPDATE AS
select 1 from inserted i
GO
GRANT INSERT ON t TO public
INSERT INTO dbo.Nums VALUES(1);
INSERT INTO dbo.Nums SELECT n + @rc FROM dbo.Nums;
INSERT dbo.Nums (n) SELECT 1
INSERT INTO t(a) VALUES (GETDATE()), ((5)), (CAST('1' AS int)), (@v)
"#;
        let sc = parse_script(src).unwrap();
        let rows: Vec<String> = sc.rows.iter().map(|(t, r)| format!("{t}:{:?}", r.values)).collect();
        assert_eq!(
            rows,
            vec![
                "dbo.Nums:[Number(\"1\")]",
                "dbo.t:[Expr(\"GETDATE()\")]",
                "dbo.t:[Number(\"5\")]",
                "dbo.t:[Expr(\"CAST('1' AS int)\")]",
                "dbo.t:[Expr(\"@v\")]",
            ]
        );
        assert_eq!(
            sc.skipped,
            vec![
                SkippedInsert {
                    table: TableName { schema: Some("dbo".into()), name: "Nums".into() },
                    line: 11,
                    reason: "SELECT".into()
                },
                SkippedInsert {
                    table: TableName { schema: Some("dbo".into()), name: "Nums".into() },
                    line: 12,
                    reason: "SELECT".into()
                },
            ]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse_script("\n\nINSERT t VALUES('abc").unwrap_err();
        assert_eq!(e.line, 3);
        let e = parse_script("INSERT t(a, b) VALUES(1)").unwrap_err();
        assert!(e.message.contains("2 columns but 1 values"), "{e}");
        let e = parse_script("INSERT t VALUES(1,\n 2").unwrap_err();
        assert!(e.message.contains("unterminated VALUES row"), "{e}");
        assert_eq!(e.line, 2);
        // Two values without a comma are one expression the harness does not evaluate.
        let sc = parse_script("INSERT t VALUES(1 2)").unwrap();
        assert_eq!(sc.rows[0].1.values, vec![Literal::Expr("1 2".into())]);
        assert!(parse_script("/* open").is_err());
    }

    fn col(name: &str) -> ColumnDef {
        ColumnDef { name: name.into(), identity: None, default: Literal::Null, computed: false }
    }

    #[test]
    fn resolution_fills_defaults_and_identities() {
        // pubs `jobs`: positional rows without the identity column; `titles`: a column
        // list that leaves out columns with and without defaults.
        let sc = parse_script(
            "insert jobs values ('New Hire', 10, 10)\ninsert jobs values ('CEO', 200, 250)\n\
             SET IDENTITY_INSERT jobs ON\ninsert jobs values (20, 'X', 1, 2)\nSET IDENTITY_INSERT jobs OFF\n\
             insert jobs (job_desc, min_lvl, max_lvl) values ('Y', 3, DEFAULT)",
        )
        .unwrap();
        let def = TableDef {
            columns: vec![
                ColumnDef { identity: Some((1, 1)), ..col("job_id") },
                ColumnDef { default: default_literal("('New Position')"), ..col("job_desc") },
                col("min_lvl"),
                ColumnDef { default: default_literal("((10))"), ..col("max_lvl") },
            ],
        };
        let r = sc.table("dbo", "jobs").unwrap().resolve(&def).unwrap();
        assert_eq!(r.columns, ["job_id", "job_desc", "min_lvl", "max_lvl"]);
        assert_eq!(
            r.rows,
            vec![
                vec![num("1"), s("New Hire"), num("10"), num("10")],
                vec![num("2"), s("CEO"), num("200"), num("250")],
                vec![num("20"), s("X"), num("1"), num("2")],
                vec![num("21"), s("Y"), num("3"), num("10")],
            ]
        );
        assert_eq!(r.lines, [1, 2, 4, 6]);
        let bad = parse_script("insert jobs values (1)").unwrap();
        assert!(bad.table("dbo", "jobs").unwrap().resolve(&def).unwrap_err().contains("1 values for the 3"));
        let bad = parse_script("insert jobs (nope) values (1)").unwrap();
        assert!(bad.table("dbo", "jobs").unwrap().resolve(&def).unwrap_err().contains("no column nope"));
    }

    #[test]
    fn default_definitions() {
        assert_eq!(default_literal("((0))"), num("0"));
        assert_eq!(default_literal("('USA')"), s("USA"));
        assert_eq!(default_literal("(N'x')"), n("x"));
        assert_eq!(default_literal("((-1.5))"), num("-1.5"));
        assert_eq!(default_literal("(getdate())"), Literal::Expr("(getdate())".into()));
    }

    #[test]
    fn crlf_and_utf8_are_kept_inside_strings() {
        let sc = parse_script("INSERT t VALUES('a\r\nb', N'Göteborg')\r\nGO\r\n").unwrap();
        assert_eq!(sc.rows[0].1.values, vec![s("a\r\nb"), n("Göteborg")]);
    }
}
