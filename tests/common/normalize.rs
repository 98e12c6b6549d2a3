//! One canonical text per value, given the column's SQL Server type, from three sources:
//! a [`Value`] read by the native reader ([`normalize_value`]), a script [`Literal`]
//! ([`normalize_literal`]) and the text PostgreSQL gives back for the migrated column
//! ([`normalize_pg_text`]). Two values are equal when their canonical texts are.
//!
//! Canonical texts, by SQL Server type (`None` is NULL):
//!
//! | type | canonical text | notes |
//! |---|---|---|
//! | `bit` | `0` / `1` | |
//! | `tinyint` … `bigint` | `-12` | |
//! | `decimal(p,s)`/`numeric` | `-12.50`: exactly `s` decimals | exact, never through floats |
//! | `money`, `smallmoney` | `32.3800`: 4 decimals | exact |
//! | `real` | shortest text that reads back as the same `f32` (`0.05`) | a literal rounds to `f32` first |
//! | `float` | shortest text that reads back as the same `f64` | |
//! | `char(n)`, `nchar(n)` | the text without trailing blanks | SQL Server pads to `n`, PostgreSQL `char(n)` too |
//! | `varchar`, `nvarchar`, `text`, `ntext`, `xml` | the text, exactly | |
//! | `binary`, `varbinary`, `image`, `rowversion`, CLR types | `0x` + lower-case hex | `binary(n)` literals are zero-padded to `n` |
//! | `uniqueidentifier` | `6f9619ff-8b86-d011-b42d-00c04fc964ff` | lower case |
//! | `date` | `1996-07-04` | |
//! | `datetime` | `1996-07-04 00:00:00.000` | milliseconds as SQL Server shows them (.000/.003/.007) |
//! | `smalldatetime` | `1996-07-04 13:45:00` | |
//! | `datetime2(n)` | `1996-07-04 13:45:00.1234567` with `min(n,6)` decimals | PostgreSQL keeps microseconds |
//! | `time(n)` | `13:45:00.123456` with `min(n,6)` decimals | |
//! | `datetimeoffset(n)` | the UTC instant, `min(n,6)` decimals, then `+00` | PostgreSQL `timestamptz` keeps no offset |
//! | `sql_variant` | the canonical text of the value under its base type | |
//!
//! Seven-digit fractions (`datetime2(7)`, `time(7)`, `datetimeoffset(7)`) are rounded half
//! up to six digits on every side, because the PostgreSQL columns (`timestamp(6)`, `time`)
//! hold microseconds; a seventh digit cannot be compared there.
//!
//! Literals follow SQL Server's conversion rules with `SET LANGUAGE us_english` and
//! `DATEFORMAT mdy` (the default, and what `instnwnd.sql`/`instpubs.sql` set): see
//! [`parse_datetime`] for the date and time formats.

use mssql_backup::value::{
    DAYS_0001_TO_1900, datetime_ticks_to_millis, days_to_ymd, guid_string, time_len_for_scale, ymd_to_days,
};
use mssql_backup::{SqlType, Value};

use crate::oracle::Literal;

/// The canonical text of a value read by the native reader for a column of type `ty`
/// (`None` for NULL). A value whose variant does not fit the type (an `Int` for a `real`
/// column) gives `!` followed by its debug form, which equals no canonical text, so that
/// a reader bug shows as a mismatch instead of a panic.
pub fn normalize_value(ty: &SqlType, v: &Value) -> Option<String> {
    let wrong = || Some(format!("!{v:?} for {ty}"));
    let s = match (ty, v) {
        (_, Value::Null) => return None,
        (SqlType::Bit, Value::Bit(b)) => u8::from(*b).to_string(),
        (SqlType::TinyInt, Value::TinyInt(x)) => x.to_string(),
        (SqlType::SmallInt, Value::SmallInt(x)) => x.to_string(),
        (SqlType::Int, Value::Int(x)) => x.to_string(),
        (SqlType::BigInt, Value::BigInt(x)) => x.to_string(),
        (SqlType::Real, Value::Real(x)) => fmt_f32(*x),
        (SqlType::Float, Value::Float(x)) => fmt_f64(*x),
        (SqlType::Decimal { scale, .. }, Value::Decimal { mantissa, scale: vs }) => {
            match Dec::from_i128(*mantissa, u32::from(*vs)).rescale(u32::from(*scale)) {
                Ok(d) => d.to_string(),
                Err(_) => return wrong(),
            }
        }
        (SqlType::Money | SqlType::SmallMoney, Value::Money(x)) => Dec::from_i128(i128::from(*x), 4).to_string(),
        (SqlType::Char { .. } | SqlType::NChar { .. }, Value::String(s)) => s.trim_end_matches(' ').to_string(),
        (
            SqlType::VarChar { .. } | SqlType::NVarChar { .. } | SqlType::Text { .. } | SqlType::NText { .. },
            Value::String(s),
        ) => s.clone(),
        (SqlType::Xml, Value::Xml(s)) => s.clone(),
        (
            SqlType::Binary { .. }
            | SqlType::VarBinary { .. }
            | SqlType::Image
            | SqlType::RowVersion
            | SqlType::HierarchyId
            | SqlType::Geometry
            | SqlType::Geography
            | SqlType::Clr { .. },
            Value::Binary(b),
        ) => hex(b),
        (SqlType::UniqueIdentifier, Value::Guid(g)) => guid_string(g),
        (SqlType::Date, Value::Date { days }) => fmt_date(*days),
        (SqlType::Time { .. }, Value::Time { ticks, scale }) => {
            let (units, digits) = to_pg_digits(u128::from(*ticks), *scale);
            fmt_time(units, digits)
        }
        (SqlType::DateTime, Value::DateTime { days, ticks }) => {
            let ms = datetime_ticks_to_millis(*ticks);
            format!("{} {}", fmt_date(days + DAYS_0001_TO_1900), fmt_time(u128::from(ms), 3))
        }
        (SqlType::SmallDateTime, Value::SmallDateTime { days, minutes }) => {
            format!("{} {}", fmt_date(i32::from(*days) + DAYS_0001_TO_1900), fmt_time(u128::from(*minutes) * 60, 0))
        }
        (SqlType::DateTime2 { .. }, Value::DateTime2 { days, ticks, scale })
        | (SqlType::DateTimeOffset { .. }, Value::DateTimeOffset { days, ticks, scale, .. }) => {
            let per_day = 86_400 * pow10(u32::from(*scale));
            let total = i128::from(*days) * per_day as i128 + i128::from(*ticks);
            let mut s = fmt_instant(total, u32::from(*scale));
            if matches!(ty, SqlType::DateTimeOffset { .. }) {
                s.push_str("+00");
            }
            s
        }
        (SqlType::SqlVariant, Value::Variant(b)) => return normalize_value(&b.0, &b.1),
        _ => return wrong(),
    };
    Some(s)
}

/// The canonical text of a script literal stored into a column of type `ty` (`Ok(None)`
/// for NULL), converting as SQL Server does on `INSERT`:
///
/// * numbers (`9.8`, `-3`, `1e5`) and money literals (`$20.00`) to integers (truncated
///   toward zero, range-checked), exact decimals rounded half away from zero to the
///   column's scale, `money` (4 decimals), `real` (rounded to `f32`), `float`, `bit`
///   (non-zero is 1); strings holding a number convert the same way;
/// * `'…'` (a `varchar` literal) must be representable in the column's code page, as must
///   `N'…'` stored into a `char`/`varchar` column (SQL Server would best-fit other
///   characters; the harness refuses to guess);
/// * strings to dates and times by [`parse_datetime`]; a number into `datetime` is a day
///   count from 1900-01-01;
/// * `0x…` to binary types (zero-padded to `binary(n)`), strings to `uniqueidentifier`.
///
/// # Errors
/// A literal that SQL Server would reject or that the harness cannot evaluate: an
/// expression ([`Literal::Expr`]), `DEFAULT` (resolve it first), an out-of-range number,
/// an unparsable date, a character outside the code page, a type with no conversion here.
pub fn normalize_literal(ty: &SqlType, lit: &Literal) -> Result<Option<String>, String> {
    let text = match lit {
        Literal::Null => return Ok(None),
        Literal::Default => return Err("DEFAULT must be resolved to the column's default first".into()),
        Literal::Expr(e) => return Err(format!("expression {e} has no known value")),
        Literal::Binary(b) => {
            return match ty {
                SqlType::Binary { len } => {
                    if b.len() > usize::from(*len) {
                        return Err(format!("{} bytes do not fit {ty}", b.len()));
                    }
                    let mut b = b.clone();
                    b.resize(usize::from(*len), 0);
                    Ok(Some(hex(&b)))
                }
                SqlType::VarBinary { len } => {
                    if let Some(n) = len
                        && b.len() > usize::from(*n)
                    {
                        return Err(format!("{} bytes do not fit {ty}", b.len()));
                    }
                    Ok(Some(hex(b)))
                }
                SqlType::Image
                | SqlType::HierarchyId
                | SqlType::Geometry
                | SqlType::Geography
                | SqlType::Clr { .. } => Ok(Some(hex(b))),
                _ => Err(format!("binary literal into {ty}")),
            };
        }
        Literal::Number(n) | Literal::Money(n) => n.as_str(),
        Literal::String { text, .. } => text.as_str(),
    };
    let is_string = matches!(lit, Literal::String { .. });
    let s = match ty {
        SqlType::Bit => {
            let t = text.trim();
            if is_string && t.eq_ignore_ascii_case("true") {
                "1".into()
            } else if is_string && t.eq_ignore_ascii_case("false") {
                "0".into()
            } else {
                let d = Dec::parse(t)?;
                if d.mant == 0 { "0".into() } else { "1".into() }
            }
        }
        SqlType::TinyInt => int_literal(text, is_string, 0, 255)?,
        SqlType::SmallInt => int_literal(text, is_string, i16::MIN.into(), i16::MAX.into())?,
        SqlType::Int => int_literal(text, is_string, i32::MIN.into(), i32::MAX.into())?,
        SqlType::BigInt => int_literal(text, is_string, i64::MIN.into(), i64::MAX.into())?,
        SqlType::Decimal { precision, scale, .. } => {
            let d = Dec::parse(text.trim())?.rescale(u32::from(*scale))?;
            if d.mant >= 10u128.pow(u32::from(*precision)) {
                return Err(format!("{text} overflows {ty}"));
            }
            d.to_string()
        }
        SqlType::Money | SqlType::SmallMoney => {
            let d = Dec::parse(text.trim())?.rescale(4)?;
            // money is an i64 of 1/10000, smallmoney an i32: one more on the negative side.
            let max: u128 = if matches!(ty, SqlType::Money) { i64::MAX as u128 } else { i32::MAX as u128 };
            if d.mant > max + u128::from(d.neg) {
                return Err(format!("{text} overflows {ty}"));
            }
            d.to_string()
        }
        SqlType::Real => fmt_f32(parse_float::<f32>(text)?),
        SqlType::Float => fmt_f64(parse_float::<f64>(text)?),
        SqlType::Char { collation, .. } | SqlType::NChar { collation, .. } => {
            code_page_check(lit, ty, collation.code_page)?;
            text.trim_end_matches(' ').to_string()
        }
        SqlType::VarChar { collation, .. }
        | SqlType::NVarChar { collation, .. }
        | SqlType::Text { collation }
        | SqlType::NText { collation } => {
            code_page_check(lit, ty, collation.code_page)?;
            text.to_string()
        }
        SqlType::Xml if is_string => text.to_string(),
        SqlType::UniqueIdentifier if is_string => parse_guid(text)?,
        SqlType::Date
        | SqlType::Time { .. }
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2 { .. }
        | SqlType::DateTimeOffset { .. } => {
            let parts = if is_string {
                parse_datetime(text)?
            } else if matches!(ty, SqlType::DateTime | SqlType::SmallDateTime) {
                // int → datetime: days since 1900-01-01 (whole days only here).
                let d = Dec::parse(text)?.rescale(0)?;
                let days = i32::try_from(d.mant).map_err(|_| format!("{text}: day count out of range"))?;
                DateTimeParts {
                    days: Some(DAYS_0001_TO_1900 + if d.neg { -days } else { days }),
                    nanos: 0,
                    offset_minutes: None,
                }
            } else {
                return Err(format!("number {text} into {ty}"));
            };
            datetime_text(ty, &parts)?
        }
        _ => return Err(format!("no conversion of {lit} to {ty} in the harness")),
    };
    Ok(Some(s))
}

/// The canonical text of a value read back from PostgreSQL as text (`SELECT col::text`,
/// or COPY text output already unescaped; `None` is NULL) from the column that the SQL
/// Server type `ty` maps to:
///
/// | SQL Server | PostgreSQL text parsed |
/// |---|---|
/// | `bit` | `boolean`: `t`/`f` (also `true`/`false`, `1`/`0`) |
/// | integers | `smallint` (for `tinyint`), `integer`, `bigint` |
/// | `decimal(p,s)`, `money`, `smallmoney` | `numeric(p,s)`, `numeric(19,4)`, `numeric(10,4)` |
/// | `real`, `float` | `real`, `double precision` (shortest round-trip text, `NaN`, `Infinity`) |
/// | `char/nchar(n)` | `char(n)` (blank-padded) |
/// | other strings, `xml` | `varchar`/`text`/`xml`, exact |
/// | `binary`, `varbinary`, `image`, `rowversion` | `bytea` hex output `\x…` |
/// | `uniqueidentifier` | `uuid` |
/// | `date`, `time(n)` | `date`, `time` |
/// | `datetime`, `smalldatetime`, `datetime2(n)` | `timestamp(3)`, `timestamp(0)`, `timestamp(min(n,6))` (`2016-07-04 10:15:30.12`: PostgreSQL drops trailing zeros) |
/// | `datetimeoffset(n)` | `timestamptz` with the session `TimeZone` UTC (`… 10:15:30+00`) |
///
/// Text that does not parse gives `!unparsable …`, which equals no canonical text.
pub fn normalize_pg_text(ty: &SqlType, text: Option<&str>) -> Option<String> {
    let text = text?;
    let bad = |why: String| Some(format!("!unparsable {ty} from PostgreSQL: {text:?} ({why})"));
    let s = match ty {
        SqlType::Bit => match text {
            "t" | "true" | "1" => "1".into(),
            "f" | "false" | "0" => "0".into(),
            _ => return bad("not a boolean".into()),
        },
        SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt => match text.parse::<i64>() {
            Ok(x) => x.to_string(),
            Err(e) => return bad(e.to_string()),
        },
        SqlType::Decimal { scale, .. } => match Dec::parse(text).and_then(|d| d.rescale(u32::from(*scale))) {
            Ok(d) => d.to_string(),
            Err(e) => return bad(e),
        },
        SqlType::Money | SqlType::SmallMoney => match Dec::parse(text).and_then(|d| d.rescale(4)) {
            Ok(d) => d.to_string(),
            Err(e) => return bad(e),
        },
        SqlType::Real => match parse_float::<f32>(text) {
            Ok(x) => fmt_f32(x),
            Err(e) => return bad(e),
        },
        SqlType::Float => match parse_float::<f64>(text) {
            Ok(x) => fmt_f64(x),
            Err(e) => return bad(e),
        },
        SqlType::Char { .. } | SqlType::NChar { .. } => text.trim_end_matches(' ').to_string(),
        SqlType::VarChar { .. }
        | SqlType::NVarChar { .. }
        | SqlType::Text { .. }
        | SqlType::NText { .. }
        | SqlType::Xml => text.to_string(),
        SqlType::Binary { .. }
        | SqlType::VarBinary { .. }
        | SqlType::Image
        | SqlType::RowVersion
        | SqlType::HierarchyId
        | SqlType::Geometry
        | SqlType::Geography
        | SqlType::Clr { .. } => match text.strip_prefix("\\x").and_then(unhex) {
            Some(b) => hex(&b),
            None => return bad("not bytea hex output".into()),
        },
        SqlType::UniqueIdentifier => match parse_guid(text) {
            Ok(g) => g,
            Err(e) => return bad(e),
        },
        SqlType::Date
        | SqlType::Time { .. }
        | SqlType::DateTime
        | SqlType::SmallDateTime
        | SqlType::DateTime2 { .. }
        | SqlType::DateTimeOffset { .. } => match parse_datetime(text).and_then(|p| datetime_text(ty, &p)) {
            Ok(s) => s,
            Err(e) => return bad(e),
        },
        _ => return bad("no PostgreSQL mapping known to the harness".into()),
    };
    Some(s)
}

// ---------------------------------------------------------------------------------------
// Exact decimals

/// An exact decimal `±mant / 10^scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Dec {
    neg: bool,
    mant: u128,
    scale: u32,
}

/// 10^38: more than this does not fit SQL Server's `decimal(38)`, and `u128` holds it.
const DEC_LIMIT: u128 = 100_000_000_000_000_000_000_000_000_000_000_000_000;

fn pow10(n: u32) -> u128 {
    10u128.pow(n)
}

impl Dec {
    fn from_i128(m: i128, scale: u32) -> Dec {
        Dec { neg: m < 0, mant: m.unsigned_abs(), scale }
    }

    /// `[+-]digits[.digits][e[+-]digits]`, exactly.
    fn parse(text: &str) -> Result<Dec, String> {
        let bad = || format!("not a number: {text:?}");
        let t = text.trim();
        let (neg, t) = match t.as_bytes().first() {
            Some(b'-') => (true, &t[1..]),
            Some(b'+') => (false, &t[1..]),
            _ => (false, t),
        };
        let (num, exp) = match t.find(['e', 'E']) {
            Some(k) => (&t[..k], t[k + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (t, 0),
        };
        let (int, frac) = num.split_once('.').unwrap_or((num, ""));
        if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let mut mant: u128 = 0;
        for b in int.bytes().chain(frac.bytes()) {
            mant = mant.checked_mul(10).and_then(|m| m.checked_add(u128::from(b - b'0'))).ok_or_else(bad)?;
            if mant >= DEC_LIMIT {
                return Err(format!("{text:?} has more than 38 digits"));
            }
        }
        let mut scale = frac.len() as i64 - i64::from(exp);
        while scale < 0 {
            mant = mant.checked_mul(10).filter(|m| *m < DEC_LIMIT).ok_or_else(bad)?;
            scale += 1;
        }
        let scale = u32::try_from(scale).map_err(|_| bad())?;
        if scale > 76 {
            return Err(bad());
        }
        Ok(Dec { neg, mant, scale })
    }

    /// The same value with `scale` decimals: exact when growing, rounded half away from
    /// zero when shrinking (SQL Server's rounding of decimal conversions).
    fn rescale(self, scale: u32) -> Result<Dec, String> {
        let mant = if scale >= self.scale {
            self.mant
                .checked_mul(pow10(scale - self.scale))
                .filter(|m| *m < DEC_LIMIT)
                .ok_or_else(|| format!("{self} does not fit 38 digits at scale {scale}"))?
        } else {
            let drop = self.scale - scale;
            if drop > 38 {
                0
            } else {
                let p = pow10(drop);
                self.mant / p + u128::from(self.mant % p >= p / 2)
            }
        };
        Ok(Dec { neg: self.neg && mant != 0, mant, scale })
    }
}

impl std::fmt::Display for Dec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let digits = format!("{:0>width$}", self.mant, width = self.scale as usize + 1);
        let (int, frac) = digits.split_at(digits.len() - self.scale as usize);
        let sign = if self.neg && self.mant != 0 { "-" } else { "" };
        if frac.is_empty() { write!(f, "{sign}{int}") } else { write!(f, "{sign}{int}.{frac}") }
    }
}

/// An integer literal: numbers truncate toward zero (numeric → int conversion), strings
/// must hold an integer.
fn int_literal(text: &str, is_string: bool, min: i128, max: i128) -> Result<String, String> {
    let t = text.trim();
    let v: i128 = if is_string {
        t.parse().map_err(|_| format!("{t:?} is not an integer"))?
    } else {
        let d = Dec::parse(t)?;
        let m = i128::try_from(d.mant / pow10(d.scale.min(38))).map_err(|_| format!("{t} overflows"))?;
        if d.neg { -m } else { m }
    };
    if v < min || v > max {
        return Err(format!("{t} is out of range {min}..={max}"));
    }
    Ok(v.to_string())
}

// ---------------------------------------------------------------------------------------
// Floats

fn parse_float<T: std::str::FromStr>(text: &str) -> Result<T, String> {
    let t = text.trim();
    // PostgreSQL spells the specials NaN / Infinity / -Infinity; Rust reads those too.
    t.parse::<T>().map_err(|_| format!("not a floating-point number: {t:?}"))
}

/// Rust's `Display` of a float is the shortest decimal that reads back as the same value,
/// without exponent: a canonical form for both `f32` and `f64`.
fn fmt_f32(x: f32) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        fmt_inf(x > 0.0)
    } else {
        format!("{x}")
    }
}

fn fmt_f64(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        fmt_inf(x > 0.0)
    } else {
        format!("{x}")
    }
}

fn fmt_inf(positive: bool) -> String {
    if positive { "Infinity".into() } else { "-Infinity".into() }
}

// ---------------------------------------------------------------------------------------
// Strings, binary, GUIDs

/// Refuses characters that a conversion to `code_page` would replace: a `'…'` literal is
/// in the database's code page before it reaches any column, and an `N'…'` literal stored
/// into `char`/`varchar` is converted to the column's.
fn code_page_check(lit: &Literal, ty: &SqlType, code_page: u16) -> Result<(), String> {
    let Literal::String { text, unicode } = lit else { return Ok(()) };
    let target_is_8bit = matches!(ty, SqlType::Char { .. } | SqlType::VarChar { .. } | SqlType::Text { .. });
    if *unicode && !target_is_8bit {
        return Ok(());
    }
    if let Some(c) = text.chars().find(|&c| !in_code_page(c, code_page)) {
        return Err(format!(
            "{:?} (U+{:04X}) in {lit_kind} literal is not in code page {code_page}; SQL Server would best-fit it",
            c,
            u32::from(c),
            lit_kind = if *unicode { "an N''" } else { "a ''" }
        ));
    }
    Ok(())
}

/// Whether `c` survives a round trip through the Windows code page (1252 and UTF-8 are
/// known; other code pages accept ASCII only).
fn in_code_page(c: char, code_page: u16) -> bool {
    if c.is_ascii() {
        return true;
    }
    match code_page {
        65001 => true,
        1252 => {
            let u = u32::from(c);
            // Latin-1 range, the five bytes cp1252 leaves undefined (Windows maps them to
            // the C1 controls of the same number), and the 27 characters at 0x80..0x9F.
            (0xA0..=0xFF).contains(&u)
                || [0x81, 0x8D, 0x8F, 0x90, 0x9D].contains(&u)
                || "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ".contains(c)
        }
        _ => false,
    }
}

fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(2 + 2 * b.len());
    s.push_str("0x");
    for x in b {
        s.push(char::from_digit(u32::from(x >> 4), 16).unwrap_or('?'));
        s.push(char::from_digit(u32::from(x & 15), 16).unwrap_or('?'));
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.as_bytes()
        .chunks(2)
        .map(|p| Some((char::from(p[0]).to_digit(16)? * 16 + char::from(p[1]).to_digit(16)?) as u8))
        .collect()
}

/// `6F9619FF-8B86-D011-B42D-00C04FC964FF`, optionally in braces, to lower case.
fn parse_guid(text: &str) -> Result<String, String> {
    let t = text.trim();
    let t = t.strip_prefix('{').and_then(|t| t.strip_suffix('}')).unwrap_or(t);
    let ok = t.len() == 36
        && t.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    if ok { Ok(t.to_ascii_lowercase()) } else { Err(format!("not a uniqueidentifier: {text:?}")) }
}

// ---------------------------------------------------------------------------------------
// Dates and times

/// A date and/or time read from text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTimeParts {
    /// Days since 0001-01-01, when a date was given.
    pub days: Option<i32>,
    /// Time of day in nanoseconds (0 when no time was given).
    pub nanos: u64,
    /// Offset from UTC in minutes, when one was given (`Z` is 0).
    pub offset_minutes: Option<i16>,
}

/// Parses a date/time string as SQL Server does under `us_english` with `DATEFORMAT mdy`:
///
/// * dates: `19960704` (ISO, unseparated; `960704` with a two-digit year),
///   `1996-07-04`/`1996/07/04`/`1996.07.04` (a four-digit year first is y-m-d), `7/4/1996`,
///   `07-04-96`, `7.4.96` (month first: mdy), `Jul 4 1996`, `July 4, 1996`,
///   `4 Jul 1996`; two-digit years 00–49 are 20xx, 50–99 are 19xx (the default `two digit
///   year cutoff` 2049);
/// * times: `13:45`, `13:45:30`, `13:45:30.1234567`, `1:45PM`, `1:45:30 pm`; ISO 8601
///   `1996-07-04T13:45:30.123`;
/// * offsets after the time: `+02:00`, `-0530`, `+02` (PostgreSQL's `timestamptz`
///   output), `Z`.
///
/// # Errors
/// Text in none of these forms, or an impossible date or time (`2/30/1996`, `25:00`).
pub fn parse_datetime(text: &str) -> Result<DateTimeParts, String> {
    let bad = |why: &str| format!("not a date/time ({why}): {text:?}");
    let mut t = text.trim().to_string();
    // ISO 8601 `T` between date and time.
    if t.len() > 10 && t.as_bytes()[10] == b'T' && t.as_bytes()[4] == b'-' {
        t.replace_range(10..11, " ");
    }
    let mut offset_minutes = None;
    if let Some(first_colon) = t.find(':') {
        if t.ends_with(['Z', 'z']) {
            t.pop();
            offset_minutes = Some(0);
        } else if let Some(k) = t[first_colon..].find(['+', '-']).map(|k| k + first_colon) {
            let off = t[k + 1..].trim().replace(':', "");
            let (h, m) = match off.len() {
                1 | 2 => (off.as_str(), "0"),
                4 => off.split_at(2),
                _ => return Err(bad("offset")),
            };
            let h: i16 = h.parse().map_err(|_| bad("offset hours"))?;
            let m: i16 = m.parse().map_err(|_| bad("offset minutes"))?;
            if h > 14 || m > 59 {
                return Err(bad("offset out of range"));
            }
            let v = h * 60 + m;
            offset_minutes = Some(if t.as_bytes()[k] == b'-' { -v } else { v });
            t.truncate(k);
        }
    }
    // AM/PM, attached to the time or separate.
    let upper = t.trim_end().to_ascii_uppercase();
    let mut ampm = None;
    if t.contains(':') && (upper.ends_with("AM") || upper.ends_with("PM")) {
        ampm = Some(upper.ends_with("PM"));
        let n = t.trim_end().len() - 2;
        t.truncate(n);
    }
    let mut date_words = Vec::new();
    let mut time_word = None;
    for w in t.split([' ', ',']).filter(|w| !w.is_empty()) {
        if w.contains(':') {
            if time_word.replace(w).is_some() {
                return Err(bad("two times"));
            }
        } else {
            date_words.push(w);
        }
    }
    let days = if date_words.is_empty() { None } else { Some(parse_date(&date_words).map_err(|w| bad(&w))?) };
    let nanos = match time_word {
        Some(w) => parse_time(w, ampm).map_err(|w| bad(&w))?,
        None if ampm.is_some() => return Err(bad("AM/PM without a time")),
        None => 0,
    };
    if days.is_none() && time_word.is_none() {
        return Err(bad("empty"));
    }
    Ok(DateTimeParts { days, nanos, offset_minutes })
}

fn two_digit_year(y: &str) -> Result<i32, String> {
    let v: i32 = y.parse().map_err(|_| format!("year {y:?}"))?;
    Ok(match y.len() {
        1 | 2 => {
            if v < 50 {
                2000 + v
            } else {
                1900 + v
            }
        }
        4 => v,
        _ => return Err(format!("year {y:?}")),
    })
}

const MONTHS: [&str; 12] = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"];

fn month_name(w: &str) -> Option<u8> {
    let l = w.to_ascii_lowercase();
    let full = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    (0..12).find(|&k| l == MONTHS[k] || l == full[k]).map(|k| k as u8 + 1)
}

fn ymd(y: i32, m: &str, d: &str) -> Result<i32, String> {
    let m: u8 = m.parse().map_err(|_| format!("month {m:?}"))?;
    let d: u8 = d.parse().map_err(|_| format!("day {d:?}"))?;
    ymd_num(y, m, d)
}

fn ymd_num(y: i32, m: u8, d: u8) -> Result<i32, String> {
    if !(1..=9999).contains(&y) {
        return Err(format!("year {y}"));
    }
    ymd_to_days(y, m, d).ok_or_else(|| format!("no day {y}-{m}-{d}"))
}

fn parse_date(words: &[&str]) -> Result<i32, String> {
    match words {
        [w] if w.bytes().all(|b| b.is_ascii_digit()) => match w.len() {
            8 => ymd(w[..4].parse().map_err(|_| "year")?, &w[4..6], &w[6..]),
            6 => ymd(two_digit_year(&w[..2])?, &w[2..4], &w[4..]),
            _ => Err("unseparated date of neither 6 nor 8 digits".into()),
        },
        [w] => {
            let sep = w.chars().find(|c| ['/', '-', '.'].contains(c)).ok_or("no date separator")?;
            let p: Vec<&str> = w.split(sep).collect();
            let [a, b, c] = p[..] else { return Err("a date needs three parts".into()) };
            if a.len() == 4 {
                ymd(a.parse().map_err(|_| "year")?, b, c)
            } else {
                // DATEFORMAT mdy.
                ymd(two_digit_year(c)?, a, b)
            }
        }
        [a, b, c] => {
            if let Some(m) = month_name(a) {
                ymd_num(two_digit_year(c)?, m, b.parse().map_err(|_| "day")?)
            } else if let Some(m) = month_name(b) {
                ymd_num(two_digit_year(c)?, m, a.parse().map_err(|_| "day")?)
            } else {
                Err("three words but no month name".into())
            }
        }
        _ => Err("unrecognised date".into()),
    }
}

/// `h:mm[:ss[.fffffff]]` (also `h:mm:ss:fff`, milliseconds after a colon) to nanoseconds.
fn parse_time(w: &str, pm: Option<bool>) -> Result<u64, String> {
    let (hms, frac) = match w.split_once('.') {
        Some((a, f)) => (a, Some(f)),
        None => (w, None),
    };
    let parts: Vec<&str> = hms.split(':').collect();
    let num = |s: &str| s.parse::<u64>().map_err(|_| format!("time part {s:?}"));
    let (h, m, s, ms_colon) = match parts[..] {
        [h, m] => (num(h)?, num(m)?, 0, None),
        [h, m, s] => (num(h)?, num(m)?, num(s)?, None),
        [h, m, s, ms] if frac.is_none() => (num(h)?, num(m)?, num(s)?, Some(ms)),
        _ => return Err("time".into()),
    };
    let h = match pm {
        Some(true) if h < 12 => h + 12,
        Some(false) if h == 12 => 0,
        Some(_) if h > 12 => return Err("hour over 12 with AM/PM".into()),
        _ => h,
    };
    if h > 23 || m > 59 || s > 59 {
        return Err("time out of range".into());
    }
    let frac_ns = match (frac, ms_colon) {
        (Some(f), _) | (None, Some(f)) => {
            if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("fraction {f:?}"));
            }
            // `:fff` after the seconds counts milliseconds (SQL Server: 12:30:00:5 is .005).
            let digits = if ms_colon.is_some() { format!("{f:0>3}") } else { f.to_string() };
            let v: u64 = digits.parse().map_err(|_| "fraction")?;
            v * 10u64.pow(9 - digits.len() as u32)
        }
        (None, None) => 0,
    };
    Ok(((h * 60 + m) * 60 + s) * 1_000_000_000 + frac_ns)
}

/// The canonical text of parsed date/time `parts` stored into a column of type `ty`,
/// rounding the time to the type's precision as SQL Server does.
fn datetime_text(ty: &SqlType, p: &DateTimeParts) -> Result<String, String> {
    // A time alone is on 1900-01-01 (SQL Server's default date).
    let days = p.days.unwrap_or(DAYS_0001_TO_1900);
    let nanos = u128::from(p.nanos);
    Ok(match ty {
        SqlType::Date => fmt_date(days),
        SqlType::DateTime => {
            // Nearest 1/300 s, half up: .995–.998 show as .997, .999 rolls over.
            let mut ticks = (nanos * 3 + 5_000_000) / 10_000_000;
            let mut days = days;
            if ticks >= 25_920_000 {
                ticks -= 25_920_000;
                days += 1;
            }
            if !(DAYS_0001_TO_1900 - 53_690..=DAYS_0001_TO_1900 + 2_958_463).contains(&days) {
                return Err("out of the datetime range 1753-01-01..9999-12-31".into());
            }
            let ms = datetime_ticks_to_millis(ticks as u32);
            format!("{} {}", fmt_date(days), fmt_time(u128::from(ms), 3))
        }
        SqlType::SmallDateTime => {
            // Seconds of 29.998 or less round down, 29.999 or more up (smalldatetime docs).
            let ms = nanos / 1_000_000;
            let mut minutes = ms / 60_000 + u128::from(ms % 60_000 >= 29_999);
            let mut days = days;
            if minutes >= 1440 {
                minutes -= 1440;
                days += 1;
            }
            if !(DAYS_0001_TO_1900..=DAYS_0001_TO_1900 + 65_535).contains(&days) {
                return Err("out of the smalldatetime range 1900-01-01..2079-06-06".into());
            }
            format!("{} {}", fmt_date(days), fmt_time(minutes * 60, 0))
        }
        SqlType::Time { scale } => {
            let ticks = round_div(nanos, pow10(9 - u32::from(*scale)));
            let (units, digits) = to_pg_digits(ticks, *scale);
            fmt_time(units, digits)
        }
        SqlType::DateTime2 { scale } | SqlType::DateTimeOffset { scale } => {
            let scale = u32::from(*scale);
            if time_len_for_scale(scale as u8).is_none() {
                return Err(format!("impossible type {ty}"));
            }
            let per_day = 86_400 * pow10(scale);
            let ticks = round_div(nanos, pow10(9 - scale));
            let mut total = i128::from(days) * per_day as i128 + ticks as i128;
            if matches!(ty, SqlType::DateTimeOffset { .. }) {
                total -= i128::from(p.offset_minutes.unwrap_or(0)) * 60 * pow10(scale) as i128;
            }
            let mut s = fmt_instant(total, scale);
            if matches!(ty, SqlType::DateTimeOffset { .. }) {
                s.push_str("+00");
            }
            s
        }
        _ => return Err(format!("{ty} is not a date/time type")),
    })
}

/// `a / b` rounded half up.
fn round_div(a: u128, b: u128) -> u128 {
    (a + b / 2) / b
}

/// Ticks of 10^-scale s as units of 10^-min(scale,6) s (rounded half up) and that digit
/// count.
fn to_pg_digits(ticks: u128, scale: u8) -> (u128, u32) {
    let scale = u32::from(scale);
    if scale <= 6 { (ticks, scale) } else { (round_div(ticks, pow10(scale - 6)), 6) }
}

/// `YYYY-MM-DD HH:MM:SS[.f]` of `total` units of 10^-scale s since 0001-01-01, with
/// `min(scale, 6)` decimals.
fn fmt_instant(total: i128, scale: u32) -> String {
    let (total, digits) = if scale <= 6 { (total, scale) } else { ((total + 5) / 10, 6) };
    let per_day = (86_400 * pow10(digits)) as i128;
    let days = total.div_euclid(per_day) as i32;
    let units = total.rem_euclid(per_day) as u128;
    format!("{} {}", fmt_date(days), fmt_time(units, digits))
}

fn fmt_date(days: i32) -> String {
    let (y, m, d) = days_to_ymd(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS[.f…]` of `units` of 10^-digits s since midnight (a full day is `24:00:00`,
/// which PostgreSQL's `time` allows).
fn fmt_time(units: u128, digits: u32) -> String {
    let p = pow10(digits);
    let secs = units / p;
    let frac = units % p;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if digits == 0 {
        format!("{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{frac:0width$}", width = digits as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mssql_backup::Collation;

    fn cp1252() -> Collation {
        mssql_backup::Collation::from_id(0x3400D008).unwrap()
    }
    fn num(s: &str) -> Literal {
        Literal::Number(s.into())
    }
    fn st(s: &str) -> Literal {
        Literal::String { text: s.into(), unicode: false }
    }
    fn nst(s: &str) -> Literal {
        Literal::String { text: s.into(), unicode: true }
    }
    fn lit(ty: &SqlType, l: &Literal) -> String {
        normalize_literal(ty, l).unwrap_or_else(|e| panic!("{ty} {l}: {e}")).unwrap()
    }
    fn pg(ty: &SqlType, s: &str) -> String {
        normalize_pg_text(ty, Some(s)).unwrap()
    }
    fn val(ty: &SqlType, v: Value) -> String {
        normalize_value(ty, &v).unwrap()
    }

    #[test]
    fn exact_decimals_and_money() {
        // Order Details: `9.8` into money is Value::Money(98000) and PostgreSQL 9.8000.
        assert_eq!(lit(&SqlType::Money, &num("9.8")), "9.8000");
        assert_eq!(val(&SqlType::Money, Value::Money(98_000)), "9.8000");
        assert_eq!(pg(&SqlType::Money, "9.8000"), "9.8000");
        assert_eq!(lit(&SqlType::Money, &Literal::Money("20.00".into())), "20.0000");
        assert_eq!(lit(&SqlType::SmallMoney, &num("-0.00005")), "-0.0001");
        assert_eq!(val(&SqlType::Money, Value::Money(-5)), "-0.0005");
        assert_eq!(lit(&SqlType::SmallMoney, &num("-214748.3648")), "-214748.3648");
        assert!(normalize_literal(&SqlType::SmallMoney, &num("214748.3648")).is_err());
        assert_eq!(lit(&SqlType::Money, &num("922337203685477.5807")), "922337203685477.5807");
        assert!(normalize_literal(&SqlType::Money, &num("922337203685477.5808")).is_err());
        let d = SqlType::Decimal { precision: 4, scale: 2, numeric: false };
        assert_eq!(lit(&d, &num("10.5")), "10.50");
        assert_eq!(lit(&d, &num("6.725")), "6.73");
        assert_eq!(lit(&d, &num("-0.001")), "0.00");
        assert_eq!(lit(&d, &num("1e1")), "10.00");
        assert_eq!(lit(&d, &st(" 5.0")), "5.00");
        assert!(normalize_literal(&d, &num("100")).unwrap_err().contains("overflows"));
        assert_eq!(val(&d, Value::Decimal { mantissa: 1050, scale: 2 }), "10.50");
        assert_eq!(val(&d, Value::Decimal { mantissa: -5, scale: 2 }), "-0.05");
        assert_eq!(pg(&d, "10.50"), "10.50");
        // Never through floats: 38 digits survive.
        let big = SqlType::Decimal { precision: 38, scale: 10, numeric: true };
        let n = "1234567890123456789012345678.0123456789";
        assert_eq!(lit(&big, &num(n)), n);
        assert_eq!(val(&big, Value::Decimal { mantissa: 12345678901234567890123456780123456789, scale: 10 }), n);
    }

    #[test]
    fn integers_bits_and_floats() {
        assert_eq!(lit(&SqlType::Int, &num("-12")), "-12");
        assert_eq!(lit(&SqlType::Int, &num("2.7")), "2");
        assert_eq!(lit(&SqlType::SmallInt, &st("42")), "42");
        assert!(normalize_literal(&SqlType::TinyInt, &num("256")).is_err());
        assert!(normalize_literal(&SqlType::Int, &st("2.5")).is_err());
        assert_eq!(val(&SqlType::TinyInt, Value::TinyInt(255)), "255");
        assert_eq!(pg(&SqlType::TinyInt, "255"), "255");
        assert_eq!(lit(&SqlType::Bit, &num("3")), "1");
        assert_eq!(lit(&SqlType::Bit, &st("false")), "0");
        assert_eq!(val(&SqlType::Bit, Value::Bit(true)), "1");
        assert_eq!(pg(&SqlType::Bit, "f"), "0");
        // Order Details.Discount is real: 0.05 rounds to the f32 0.05 (0.0500000007…),
        // which prints as 0.05 everywhere.
        assert_eq!(lit(&SqlType::Real, &num("0.05")), "0.05");
        assert_eq!(val(&SqlType::Real, Value::Real(0.05)), "0.05");
        assert_eq!(pg(&SqlType::Real, "0.05"), "0.05");
        // An f64-only value does not survive real: 0.1 + tiny rounds to 0.1f32.
        assert_eq!(lit(&SqlType::Real, &num("0.10000000000000001")), "0.1");
        assert_ne!(lit(&SqlType::Float, &num("0.1")), lit(&SqlType::Float, &num("0.10000001")));
        assert_eq!(lit(&SqlType::Float, &num("1e5")), "100000");
        assert_eq!(pg(&SqlType::Float, "1e+20"), val(&SqlType::Float, Value::Float(1e20)));
        assert_eq!(pg(&SqlType::Float, "-Infinity"), "-Infinity");
        assert_eq!(pg(&SqlType::Real, "NaN"), "NaN");
    }

    #[test]
    fn strings_padding_and_code_pages() {
        let c = cp1252();
        let ch = SqlType::NChar { len: 5, collation: c.clone() };
        assert_eq!(val(&ch, Value::String("ALFK ".into())), "ALFK");
        assert_eq!(lit(&ch, &nst("ALFK")), "ALFK");
        assert_eq!(pg(&ch, "ALFK "), "ALFK");
        let vc = SqlType::VarChar { len: Some(40), collation: c.clone() };
        assert_eq!(lit(&vc, &st("9273 Thorne Ave. ")), "9273 Thorne Ave. ");
        assert_eq!(lit(&vc, &st("México D.F.")), "México D.F.");
        // '€' is in cp1252, 'ł' is not.
        assert_eq!(lit(&vc, &st("5 €")), "5 €");
        assert!(normalize_literal(&vc, &st("Sałas")).unwrap_err().contains("code page 1252"));
        let nv = SqlType::NVarChar { len: Some(40), collation: c.clone() };
        assert_eq!(lit(&nv, &nst("Sałas-Szlejter")), "Sałas-Szlejter");
        assert!(normalize_literal(&nv, &st("Sałas")).is_err());
        assert!(normalize_literal(&vc, &nst("Sałas")).is_err());
        assert_eq!(lit(&nv, &st("a\r\nb")), "a\r\nb");
    }

    #[test]
    fn binary_and_guid() {
        assert_eq!(lit(&SqlType::Binary { len: 4 }, &Literal::Binary(vec![1, 2])), "0x01020000");
        assert_eq!(lit(&SqlType::Image, &Literal::Binary(vec![0xAB])), "0xab");
        assert!(normalize_literal(&SqlType::VarBinary { len: Some(1) }, &Literal::Binary(vec![1, 2])).is_err());
        assert_eq!(val(&SqlType::Image, Value::Binary(vec![0x15, 0x1C])), "0x151c");
        assert_eq!(pg(&SqlType::Image, "\\x151c"), "0x151c");
        let g = [0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF];
        let s = "6f9619ff-8b86-d011-b42d-00c04fc964ff";
        assert_eq!(val(&SqlType::UniqueIdentifier, Value::Guid(g)), s);
        assert_eq!(lit(&SqlType::UniqueIdentifier, &st("{6F9619FF-8B86-D011-B42D-00C04FC964FF}")), s);
        assert_eq!(pg(&SqlType::UniqueIdentifier, s), s);
    }

    #[test]
    fn date_literal_formats() {
        let dt = SqlType::DateTime;
        // The scripts' forms: m/d/yyyy, mm/dd/yyyy, mm/dd/yy, yyyymmdd.
        for (text, want) in [
            ("7/4/1996", "1996-07-04 00:00:00.000"),
            ("12/08/1948", "1948-12-08 00:00:00.000"),
            ("06/12/94", "1994-06-12 00:00:00.000"),
            ("11/11/89", "1989-11-11 00:00:00.000"),
            ("01/01/49", "2049-01-01 00:00:00.000"),
            ("19960704", "1996-07-04 00:00:00.000"),
            ("2016-07-04 00:00:00.000", "2016-07-04 00:00:00.000"),
            ("2016-07-04T13:45:30.5", "2016-07-04 13:45:30.500"),
            ("Jul 4 1996 1:45PM", "1996-07-04 13:45:00.000"),
            ("4 July, 1996 12:00 am", "1996-07-04 00:00:00.000"),
            ("13:45", "1900-01-01 13:45:00.000"),
            // datetime rounding (datetime docs' table).
            ("1998-01-01 23:59:59.999", "1998-01-02 00:00:00.000"),
            ("1998-01-01 23:59:59.995", "1998-01-01 23:59:59.997"),
            ("1998-01-01 23:59:59.992", "1998-01-01 23:59:59.993"),
            ("1998-01-01 23:59:59.991", "1998-01-01 23:59:59.990"),
        ] {
            assert_eq!(lit(&dt, &st(text)), want, "{text}");
        }
        for bad in ["2/30/1996", "25:00", "1996-13-01", "nonsense", "7/4"] {
            assert!(normalize_literal(&dt, &st(bad)).is_err(), "{bad}");
        }
        assert_eq!(lit(&SqlType::Date, &st("20140704")), "2014-07-04");
        assert_eq!(lit(&SqlType::SmallDateTime, &st("2000-05-08 12:35:29.998")), "2000-05-08 12:35:00");
        assert_eq!(lit(&SqlType::SmallDateTime, &st("2000-05-08 12:35:29.999")), "2000-05-08 12:36:00");
        assert_eq!(lit(&dt, &num("1")), "1900-01-02 00:00:00.000");
    }

    #[test]
    fn reader_values_and_postgres_text_of_dates() {
        let dt = SqlType::DateTime;
        let days = ymd_to_days(1996, 7, 4).unwrap() - DAYS_0001_TO_1900;
        assert_eq!(val(&dt, Value::DateTime { days, ticks: 0 }), "1996-07-04 00:00:00.000");
        assert_eq!(val(&dt, Value::DateTime { days, ticks: 2 }), "1996-07-04 00:00:00.007");
        assert_eq!(pg(&dt, "1996-07-04 00:00:00"), "1996-07-04 00:00:00.000");
        assert_eq!(pg(&dt, "1996-07-04 00:00:00.007"), "1996-07-04 00:00:00.007");
        assert_eq!(val(&SqlType::SmallDateTime, Value::SmallDateTime { days: 1, minutes: 61 }), "1900-01-02 01:01:00");
        assert_eq!(pg(&SqlType::SmallDateTime, "1900-01-02 01:01:00"), "1900-01-02 01:01:00");
        assert_eq!(val(&SqlType::Date, Value::Date { days: 0 }), "0001-01-01");
        // datetime2(7) and time(7) keep 6 decimals (PostgreSQL microseconds), half up.
        let d2 = SqlType::DateTime2 { scale: 7 };
        let v = Value::DateTime2 { days: 730_119, ticks: 863_999_999_995, scale: 7 };
        assert_eq!(val(&d2, v), "2000-01-02 00:00:00.000000");
        assert_eq!(lit(&d2, &st("2000-01-01 23:59:59.9999995")), "2000-01-02 00:00:00.000000");
        assert_eq!(pg(&d2, "2000-01-02 00:00:00"), "2000-01-02 00:00:00.000000");
        let d2_3 = SqlType::DateTime2 { scale: 3 };
        assert_eq!(lit(&d2_3, &st("2000-01-01 10:00:00.1235")), "2000-01-01 10:00:00.124");
        assert_eq!(pg(&d2_3, "2000-01-01 10:00:00.124"), "2000-01-01 10:00:00.124");
        let t7 = SqlType::Time { scale: 7 };
        assert_eq!(val(&t7, Value::Time { ticks: 662_295_833_333, scale: 7 }), "18:23:49.583333");
        assert_eq!(lit(&t7, &st("18:23:49.5833333")), "18:23:49.583333");
        assert_eq!(pg(&t7, "18:23:49.583333"), "18:23:49.583333");
        assert_eq!(val(&SqlType::Time { scale: 0 }, Value::Time { ticks: 0, scale: 0 }), "00:00:00");
        // datetimeoffset: compared as the UTC instant.
        let dto = SqlType::DateTimeOffset { scale: 7 };
        let days = ymd_to_days(2007, 5, 8).unwrap();
        let ticks = (20 * 3600 + 35 * 60 + 29) * 10_000_000 + 1_234_567u64;
        let v = Value::DateTimeOffset { days, ticks, scale: 7, offset_minutes: -480 };
        assert_eq!(val(&dto, v), "2007-05-08 20:35:29.123457+00");
        assert_eq!(lit(&dto, &st("2007-05-08 12:35:29.1234567 -08:00")), "2007-05-08 20:35:29.123457+00");
        assert_eq!(pg(&dto, "2007-05-08 20:35:29.123457+00"), "2007-05-08 20:35:29.123457+00");
    }

    #[test]
    fn mismatched_values_and_nulls() {
        assert_eq!(normalize_value(&SqlType::Real, &Value::Null), None);
        assert_eq!(normalize_pg_text(&SqlType::Real, None), None);
        assert_eq!(normalize_literal(&SqlType::Real, &Literal::Null), Ok(None));
        assert!(normalize_value(&SqlType::Real, &Value::Int(1)).unwrap().starts_with('!'));
        assert!(normalize_pg_text(&SqlType::Int, Some("x")).unwrap().starts_with('!'));
        assert!(normalize_literal(&SqlType::Int, &Literal::Expr("GETDATE()".into())).is_err());
        assert!(normalize_literal(&SqlType::Int, &Literal::Default).is_err());
        let v = Value::Variant(Box::new((SqlType::Int, Value::Int(7))));
        assert_eq!(val(&SqlType::SqlVariant, v), "7");
    }
}
