//! Content checksums: one canonical text form per PostgreSQL type, hashed per row with an
//! unambiguous framing, combined per table independently of row order.
//!
//! The same numbers are computed on both sides: from the converted source values (what
//! PostgreSQL should hold, [`canonical`]) and from what PostgreSQL holds, either by the
//! server itself (one aggregate query per table over the same row text, see
//! [`crate::validate`]) or from the table read back as `column::text`
//! ([`canonical_from_pg_text`]). The canonical form is, by design, the text PostgreSQL
//! itself prints for the value under the session settings fixed by
//! [`crate::validate::SESSION_SETTINGS`] (`DateStyle = ISO, YMD`, `TimeZone = UTC`,
//! `bytea_output = hex`), so that PostgreSQL's own rendering checks our binary encoders
//! (an encoder bug cannot cancel out against a decoder of ours). Floats are the exception:
//! PostgreSQL's shortest float text switches between notations, so they are compared by
//! their bits, rendered by PostgreSQL's own `float4send`/`float8send`.
//!
//! # Canonical text form
//! | PostgreSQL type | form |
//! | --- | --- |
//! | `boolean` | `true` / `false` |
//! | `smallint`, `integer`, `bigint` | decimal, `-` for negatives, no leading zeros |
//! | `numeric(p,s)` | `-`? integer part (at least `0`), then `.` and exactly `s` digits when `s > 0` (`0.50`, `-12.3400`) |
//! | `real`, `double precision` | the IEEE 754 bits, big-endian, as `bytea` text (`\x3ff8000000000000` for 1.5): what `float8send(col)::text` (`float4send` for `real`) prints |
//! | `text`, `varchar` | the UTF-8 text |
//! | `char(n)` | the text without trailing blanks (U+0020), as PostgreSQL's `bpchar::text` gives it: blanks are not significant in `char(n)` on either system |
//! | `bytea` | `\x` and lower-case hex (`\x` alone when empty) |
//! | `uuid` | lower-case `8-4-4-4-12` hex |
//! | `date` | `YYYY-MM-DD` (year at least 4 digits; ` BC` suffix for years ≤ 0) |
//! | `time` | `HH:MM:SS`, then `.` and the microseconds without trailing zeros when not zero (`24:00:00` possible) |
//! | `timestamp` | date, space, time as above (`2020-01-02 03:04:05.5`) |
//! | `timestamptz` | the UTC timestamp as above followed by `+00` |
//! | `xml` | the XML text as loaded |
//! | PostGIS `geography`, `geometry` | the EWKB as `bytea` text (`\x` and lower-case hex), little-endian; read back as `ST_AsEWKB(col::geometry, 'NDR')::text` (see [`crate::validate`]), so PostGIS itself renders what it holds: a changed coordinate, SRID or structure changes the text |
//!
//! # Framing and combination
//! A row's text is, for each compared column in order, separated by `,`: nothing for
//! NULL; for the free-text types (`text`, `varchar`, `char`, `xml`, see [`is_free_text`])
//! the text's length in bytes in decimal, `:`, and the text; for every other type its
//! canonical text, which is never empty and never holds a `,` (so NULL, the empty string
//! and a comma inside a text cannot be confused). The row hash is PostgreSQL's
//! `hashtextextended(row_text, 0)` ([`crate::pghash`]), a signed 64-bit number; a
//! table's checksum is the row count and the exact sum of its row hashes (kept modulo
//! 2^128, which the sum of fewer than 2^64 rows never reaches): order-independent, and
//! duplicate rows count twice (unlike XOR). The server computes the same sum with
//! `sum(hashtextextended(…))`.

use std::io::Write as _;

use serde::{Deserialize, Serialize};

/// The name of this checksum definition (row text framing, PostgreSQL's
/// `hashtextextended`, exact sum), stored with a load's results
/// ([`crate::load::LoadedTable::checksum_definition`]) so that numbers computed under
/// another definition (bak2pg before it hashed rows this way: xxh3-128) are never compared
/// with these: a step-by-step run whose load ran on an older agent is told to load again
/// instead of reporting a difference in data that has none.
pub const DEFINITION: &str = "rowtext-hashtextextended-sum";

use crate::pgvalue::{PgType, PgValue, USECS_PER_DAY};

/// Days from 1970-01-01 to 2000-01-01.
const DAYS_1970_TO_2000: i64 = 10_957;

/// (year, month, day) of a day count since 1970-01-01 (proleptic Gregorian; year 0 is
/// 1 BC). Howard Hinnant's `civil_from_days`, not jiff's dates: those end at year 9999,
/// and a `datetimeoffset` of 9999-12-31 at a negative offset is in year 10000 in UTC.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (y + i64::from(m <= 2), m, d)
}

/// Appends the decimal digits of `x` (no sign, no padding), with `itoa` (no `core::fmt`:
/// the checksum writes one of these per integer, date and time field).
fn write_u64(out: &mut Vec<u8>, x: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
}

/// Appends `x` in decimal with a `-` for negatives.
fn write_i64(out: &mut Vec<u8>, x: i64) {
    if x < 0 {
        out.push(b'-');
    }
    write_u64(out, x.unsigned_abs());
}

/// Appends `x` (< 100) as two digits.
fn write_2(out: &mut Vec<u8>, x: u32) {
    let x = (x % 100) as u8;
    out.extend_from_slice(&[b'0' + x / 10, b'0' + x % 10]);
}

/// Appends `x` zero-padded to at least `width` digits.
fn write_padded(out: &mut Vec<u8>, x: u64, width: usize) {
    let start = out.len();
    write_u64(out, x);
    let len = out.len() - start;
    if len < width {
        out.splice(start..start, std::iter::repeat_n(b'0', width - len));
    }
}

/// Writes `YYYY-MM-DD` for `days` since 2000-01-01; returns true for a BC date (the
/// caller appends ` BC` after the whole value, as PostgreSQL does).
fn write_date(out: &mut Vec<u8>, days: i64) -> bool {
    let (y, m, d) = civil_from_days(days + DAYS_1970_TO_2000);
    let (y, bc) = if y <= 0 { (1 - y, true) } else { (y, false) };
    write_padded(out, y as u64, 4);
    out.push(b'-');
    write_2(out, m);
    out.push(b'-');
    write_2(out, d);
    bc
}

/// Writes `HH:MM:SS[.ffffff]` (trailing zeros of the fraction removed) for `us`
/// microseconds since midnight.
fn write_time(out: &mut Vec<u8>, us: i64) {
    let secs = us / 1_000_000;
    let mut frac = us % 1_000_000;
    // Hours may reach 24 (`24:00:00`); never more than two digits.
    write_padded(out, (secs / 3600) as u64, 2);
    out.push(b':');
    write_2(out, (secs / 60 % 60) as u32);
    out.push(b':');
    write_2(out, (secs % 60) as u32);
    if frac != 0 {
        let mut width = 6;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        out.push(b'.');
        write_padded(out, frac as u64, width);
    }
}

/// Writes the canonical text of a `timestamp` (microseconds since 2000-01-01), with
/// `+00` for a `timestamptz`.
fn write_timestamp(out: &mut Vec<u8>, us: i64, tz: bool) {
    let bc = write_date(out, us.div_euclid(USECS_PER_DAY));
    out.push(b' ');
    write_time(out, us.rem_euclid(USECS_PER_DAY));
    if tz {
        out.extend_from_slice(b"+00");
    }
    if bc {
        out.extend_from_slice(b" BC");
    }
}

/// The canonical text of a `timestamp` (microseconds since 2000-01-01), with `+00` for a
/// `timestamptz`.
pub fn timestamp_text(us: i64, tz: bool) -> String {
    let mut v = Vec::with_capacity(32);
    write_timestamp(&mut v, us, tz);
    String::from_utf8(v).expect("ASCII")
}

/// Appends `\x` and the lower-case hex of `bytes`.
fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(2 + bytes.len() * 2);
    out.extend_from_slice(b"\\x");
    for byte in bytes {
        out.push(HEX[(byte >> 4) as usize]);
        out.push(HEX[(byte & 15) as usize]);
    }
}

/// The canonical text of a `numeric` `mantissa / 10^scale`, with exactly `scale` decimals.
pub fn numeric_text(mantissa: i128, scale: u8) -> String {
    let mut v = Vec::new();
    canonical_value(&PgValue::Numeric { mantissa, scale }, &mut v);
    String::from_utf8(v).expect("ASCII")
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the canonical text of a non-NULL value (see the module docs) to `out`. NULL
/// appends nothing: the framing marks it. `char(n)` blank trimming is done by
/// [`canonical`], which knows the column type.
pub fn canonical_value(v: &PgValue<'_>, out: &mut Vec<u8>) {
    match v {
        PgValue::Null => {}
        PgValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        PgValue::Int2(x) => write_i64(out, i64::from(*x)),
        PgValue::Int4(x) => write_i64(out, i64::from(*x)),
        PgValue::Int8(x) => write_i64(out, *x),
        PgValue::Float4(x) => write_hex(out, &x.to_be_bytes()),
        PgValue::Float8(x) => write_hex(out, &x.to_be_bytes()),
        PgValue::Numeric { mantissa, scale } => {
            let abs = mantissa.unsigned_abs();
            if *mantissa < 0 {
                out.push(b'-');
            }
            let p = 10u128.pow(*scale as u32);
            let (int, frac) = (abs / p, abs % p);
            // 64-bit digits when the parts fit (money, most decimals), u128 `fmt` otherwise.
            match (u64::try_from(int), u64::try_from(frac)) {
                (Ok(i), Ok(f)) => {
                    write_u64(out, i);
                    if *scale > 0 {
                        out.push(b'.');
                        write_padded(out, f, *scale as usize);
                    }
                }
                _ if *scale == 0 => {
                    let _ = write!(out, "{int}");
                }
                _ => {
                    let _ = write!(out, "{int}.{frac:0width$}", width = *scale as usize);
                }
            }
        }
        PgValue::Text(s) => out.extend_from_slice(s.as_bytes()),
        PgValue::Xml(s) => out.extend_from_slice(s.as_bytes()),
        PgValue::Bytea(b) | PgValue::Ewkb(b) => write_hex(out, b),
        PgValue::Uuid(u) => {
            for (i, byte) in u.iter().enumerate() {
                if matches!(i, 4 | 6 | 8 | 10) {
                    out.push(b'-');
                }
                out.push(HEX[(byte >> 4) as usize]);
                out.push(HEX[(byte & 15) as usize]);
            }
        }
        PgValue::Date(d) => {
            if write_date(out, *d as i64) {
                out.extend_from_slice(b" BC");
            }
        }
        PgValue::Time(us) => write_time(out, *us),
        PgValue::Timestamp(us) => write_timestamp(out, *us, false),
        PgValue::TimestampTz(us) => write_timestamp(out, *us, true),
    }
}

/// Appends the canonical text of `v`, a value of a column of type `ty`, to `out`.
pub fn canonical(v: &PgValue<'_>, ty: &PgType, out: &mut Vec<u8>) {
    let start = out.len();
    canonical_value(v, out);
    if matches!(ty, PgType::Char { .. }) {
        while out.len() > start && out[out.len() - 1] == b' ' {
            out.pop();
        }
    }
}

/// Error for a PostgreSQL text that does not parse as its type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("PostgreSQL returned {text:?} for a {ty} column")]
pub struct UnexpectedText {
    /// The column type.
    pub ty: String,
    /// The text received (cut to 80 bytes).
    pub text: String,
}

/// True for the types whose text is framed with its length in a row's text: those whose
/// values may be empty or hold a `,` (see the module docs).
pub fn is_free_text(ty: &PgType) -> bool {
    matches!(ty, PgType::Text | PgType::VarChar { .. } | PgType::Char { .. } | PgType::Xml)
}

/// Appends the canonical text of a value read back from PostgreSQL with
/// [`crate::validate::read_back_expr`] under the validation session settings: every type
/// already prints canonically (char(n) included: `bpchar::text` drops trailing blanks;
/// floats through `float4send`/`float8send`), so the text is taken as it is, after a check
/// of the float forms.
///
/// # Errors
/// [`UnexpectedText`] when a float column's text is not the `bytea` text of 4 (`real`) or
/// 8 (`double precision`) bytes.
pub fn canonical_from_pg_text(ty: &PgType, text: &[u8], out: &mut Vec<u8>) -> Result<(), UnexpectedText> {
    let bits = match ty {
        PgType::Real => Some(4),
        PgType::Double => Some(8),
        _ => None,
    };
    if let Some(n) = bits {
        let ok = text.len() == 2 + 2 * n && text.starts_with(b"\\x") && text[2..].iter().all(|c| HEX.contains(c));
        if !ok {
            return Err(UnexpectedText {
                ty: ty.sql(),
                text: String::from_utf8_lossy(&text[..text.len().min(80)]).into_owned(),
            });
        }
    }
    out.extend_from_slice(text);
    Ok(())
}

/// Builds one row's text (see the module docs) and hashes it. Reused across rows to avoid
/// allocating per row.
#[derive(Debug, Default)]
pub struct RowHasher {
    buf: Vec<u8>,
    /// A free-text value's text, before its length is known.
    scratch: Vec<u8>,
    /// Fields pushed for the current row.
    fields: usize,
}

impl RowHasher {
    /// A new, empty hasher.
    pub fn new() -> Self {
        Self::default()
    }

    fn separate(&mut self) {
        if self.fields > 0 {
            self.buf.push(b',');
        }
        self.fields += 1;
    }

    /// Appends a NULL field.
    pub fn push_null(&mut self) {
        self.separate();
    }

    /// Appends a non-NULL field of a column of type `ty` whose canonical text `write`
    /// appends to the buffer it is given.
    pub fn push_with<E>(&mut self, ty: &PgType, write: impl FnOnce(&mut Vec<u8>) -> Result<(), E>) -> Result<(), E> {
        if is_free_text(ty) {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            let r = write(&mut scratch);
            if r.is_ok() {
                self.push_framed(&scratch);
            }
            self.scratch = scratch;
            r
        } else {
            self.separate();
            write(&mut self.buf)
        }
    }

    /// Appends a free-text field whose canonical text is `text`: its length, `:`, the text.
    fn push_framed(&mut self, text: &[u8]) {
        self.separate();
        write_u64(&mut self.buf, text.len() as u64);
        self.buf.push(b':');
        self.buf.extend_from_slice(text);
    }

    /// Appends a source value of a column of type `ty`.
    pub fn push_value(&mut self, v: &PgValue<'_>, ty: &PgType) {
        // Texts are framed straight from the value (the canonical text is the text itself,
        // `char(n)` without trailing blanks): no copy through the scratch buffer.
        let text = match v {
            PgValue::Text(t) => Some(t.as_ref()),
            PgValue::Xml(t) => Some(*t),
            _ => None,
        };
        if let (Some(text), true) = (text, is_free_text(ty)) {
            let mut text = text.as_bytes();
            if matches!(ty, PgType::Char { .. }) {
                while let [rest @ .., b' '] = text {
                    text = rest;
                }
            }
            self.push_framed(text);
        } else if matches!(v, PgValue::Null) {
            self.push_null();
        } else {
            let _ = self.push_with::<()>(ty, |out| {
                canonical(v, ty, out);
                Ok(())
            });
        }
    }

    /// The current row's text.
    pub fn text(&self) -> &[u8] {
        &self.buf
    }

    /// The hash of the current row (`hashtextextended(row_text, 0)`); clears it for the
    /// next.
    pub fn finish(&mut self) -> i64 {
        let h = crate::pghash::hash_bytes_extended(&self.buf, 0);
        self.buf.clear();
        self.fields = 0;
        h
    }
}

/// A table's row count and order-independent content checksum.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableChecksum {
    /// Rows counted.
    pub rows: u64,
    /// Sum of the (signed) row hashes modulo 2^128 (two's complement: the exact sum, which
    /// stays far inside ±2^127), as 32 lower-case hex digits in JSON.
    #[serde(with = "hex128")]
    pub sum: u128,
}

impl TableChecksum {
    /// Adds one row's hash.
    pub fn add_row(&mut self, hash: i64) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(i128::from(hash) as u128);
    }

    /// The checksum of `rows` rows whose hashes sum to `sum` (as the server's
    /// `sum(hashtextextended(…))` gives it).
    pub fn from_sum(rows: u64, sum: i128) -> Self {
        TableChecksum { rows, sum: sum as u128 }
    }
    /// Adds another partial checksum (of other rows of the same table).
    pub fn merge(&mut self, other: &TableChecksum) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }
    /// The sum as 32 hex digits.
    pub fn hex(&self) -> String {
        format!("{:032x}", self.sum)
    }
    /// The sum's low 48 bits as 12 hex digits, for reports read by people: the high digits
    /// of a sum of 64-bit hashes only repeat its sign (all `0` or all `f`).
    pub fn short(&self) -> String {
        format!("{:012x}", self.sum & ((1 << 48) - 1))
    }
}

mod hex128 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &u128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{v:032x}"))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u128, D::Error> {
        let s = String::deserialize(d)?;
        u128::from_str_radix(&s, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    fn text(v: PgValue<'_>, ty: PgType) -> String {
        let mut out = Vec::new();
        canonical(&v, &ty, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn short_form_shows_the_digits_that_differ() {
        let sum = |hashes: &[i64]| {
            let mut c = TableChecksum::default();
            hashes.iter().for_each(|&h| c.add_row(h));
            c
        };
        // Small sums of either sign: the full form starts with 20 sign digits.
        let (a, b) = (sum(&[5, -9]), sum(&[6, -9]));
        assert!(a.hex().starts_with(&"f".repeat(20)));
        assert_eq!((a.short(), b.short()), ("fffffffffffc".to_string(), "fffffffffffd".to_string()));
        assert_eq!(sum(&[0x1234_5678_9abc_def0]).short(), "56789abcdef0");
    }

    #[test]
    fn forms() {
        assert_eq!(
            text(PgValue::Numeric { mantissa: -5, scale: 2 }, PgType::Numeric { precision: 5, scale: 2 }),
            "-0.05"
        );
        assert_eq!(text(PgValue::Numeric { mantissa: 5, scale: 0 }, PgType::Numeric { precision: 5, scale: 0 }), "5");
        assert_eq!(text(PgValue::Timestamp(0), PgType::Timestamp { precision: 6 }), "2000-01-01 00:00:00");
        assert_eq!(text(PgValue::Timestamp(-1), PgType::Timestamp { precision: 6 }), "1999-12-31 23:59:59.999999");
        assert_eq!(
            text(PgValue::TimestampTz(500_000), PgType::TimestampTz { precision: 6 }),
            "2000-01-01 00:00:00.5+00"
        );
        assert_eq!(text(PgValue::Date(-730_119), PgType::Date), "0001-01-01");
        assert_eq!(text(PgValue::Time(USECS_PER_DAY), PgType::Time { precision: 6 }), "24:00:00");
        assert_eq!(text(PgValue::Time(123_000), PgType::Time { precision: 6 }), "00:00:00.123");
        assert_eq!(text(PgValue::Time(45_296_000_007), PgType::Time { precision: 6 }), "12:34:56.000007");
        assert_eq!(text(PgValue::Date(-730_120), PgType::Date), "0001-12-31 BC");
        assert_eq!(text(PgValue::Date(2_921_939), PgType::Date), "9999-12-31");
        assert_eq!(text(PgValue::Text(Cow::Borrowed("ab  ")), PgType::Char { len: 4 }), "ab");
        assert_eq!(text(PgValue::Text(Cow::Borrowed("ab  ")), PgType::Text), "ab  ");
        assert_eq!(text(PgValue::Bytea(Cow::Borrowed(&[0, 255])), PgType::Bytea), "\\x00ff");
        assert_eq!(text(PgValue::Float8(1.5), PgType::Double), "\\x3ff8000000000000");
        assert_eq!(text(PgValue::Float8(-0.0), PgType::Double), "\\x8000000000000000");
        assert_eq!(text(PgValue::Float4(1.5), PgType::Real), "\\x3fc00000");
    }

    #[test]
    fn framing_is_unambiguous() {
        let ty = PgType::Text;
        let mut h = RowHasher::new();
        h.push_value(&PgValue::Text(Cow::Borrowed("ab")), &ty);
        h.push_value(&PgValue::Text(Cow::Borrowed("")), &ty);
        let a = h.finish();
        h.push_value(&PgValue::Text(Cow::Borrowed("a")), &ty);
        h.push_value(&PgValue::Text(Cow::Borrowed("b")), &ty);
        let b = h.finish();
        h.push_value(&PgValue::Text(Cow::Borrowed("ab")), &ty);
        h.push_null();
        let c = h.finish();
        h.push_value(&PgValue::Text(Cow::Borrowed("a,")), &ty);
        h.push_value(&PgValue::Text(Cow::Borrowed("b")), &ty);
        let d = h.finish();
        h.push_value(&PgValue::Text(Cow::Borrowed("a")), &ty);
        h.push_value(&PgValue::Text(Cow::Borrowed(",b")), &ty);
        let e = h.finish();
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(d, e);
        // The row text the server builds: length-framed texts, other types as they print.
        h.push_value(&PgValue::Text(Cow::Borrowed("a,b")), &ty);
        h.push_null();
        h.push_value(&PgValue::Int4(-7), &PgType::Integer);
        h.push_value(&PgValue::Text(Cow::Borrowed("")), &ty);
        assert_eq!(h.text(), b"3:a,b,,-7,0:");
        assert_eq!(h.finish(), crate::pghash::hash_bytes_extended(b"3:a,b,,-7,0:", 0));
        // A source text and the same text read back frame alike (char(n): blanks trimmed).
        let char4 = PgType::Char { len: 4 };
        h.push_value(&PgValue::Text(Cow::Borrowed("ab  ")), &char4);
        h.push_value(&PgValue::Xml("<a/>"), &PgType::Xml);
        assert_eq!(h.text(), b"2:ab,4:<a/>");
        let direct = h.finish();
        h.push_with::<UnexpectedText>(&char4, |out| canonical_from_pg_text(&char4, b"ab", out)).unwrap();
        h.push_with::<UnexpectedText>(&PgType::Xml, |out| canonical_from_pg_text(&PgType::Xml, b"<a/>", out)).unwrap();
        assert_eq!(h.finish(), direct);
    }

    #[test]
    fn digit_writers_match_core_fmt() {
        let mut ints: Vec<i64> = vec![0, 1, 9, 10, 99, 100, 101, 999, 1000, i64::MIN, i64::MAX, -1, -10, -100];
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..20_000 {
            // xorshift: values of every length and sign.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ints.push((x >> (x % 64)) as i64 * if x & 1 == 0 { 1 } else { -1 });
        }
        for &v in &ints {
            let mut out = Vec::new();
            write_i64(&mut out, v);
            assert_eq!(out, v.to_string().as_bytes());
            for width in [2usize, 4, 6] {
                let mut out = Vec::new();
                write_padded(&mut out, v.unsigned_abs(), width);
                assert_eq!(out, format!("{:0width$}", v.unsigned_abs()).as_bytes());
            }
        }
        for (mantissa, scale) in [(0i128, 2u8), (-5, 4), (123_456, 2), (i128::MAX, 10), (i128::MIN + 1, 0), (-7, 38)] {
            let abs = mantissa.unsigned_abs();
            let p = 10u128.pow(u32::from(scale));
            let sign = if mantissa < 0 { "-" } else { "" };
            let want = if scale == 0 {
                format!("{sign}{abs}")
            } else {
                format!("{sign}{}.{:0w$}", abs / p, abs % p, w = scale as usize)
            };
            assert_eq!(numeric_text(mantissa, scale), want);
        }
    }

    #[test]
    fn sum_counts_duplicates() {
        let mut one = TableChecksum::default();
        one.add_row(7);
        let mut two = one;
        two.add_row(7);
        assert_ne!(one.sum, two.sum);
        let mut x = TableChecksum::default();
        x.add_row(7);
        x.add_row(7);
        assert_eq!(x, two);
        // Signed hashes: the sum is exact, as the server's numeric sum is.
        let mut y = TableChecksum::default();
        y.add_row(i64::MIN);
        y.add_row(i64::MIN);
        y.add_row(5);
        assert_eq!(y, TableChecksum::from_sum(3, 2 * i128::from(i64::MIN) + 5));
    }
}
