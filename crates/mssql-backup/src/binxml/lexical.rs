//! The text binary XML's values are written as: XML escaping, and the XML Schema lexical
//! forms of numbers, money, dates and times, binaries.

use super::tokens::*;
use crate::scalar::{datetime_ticks_to_millis, days_to_ymd};

pub(super) fn qualified(prefix: &str, local: &str) -> String {
    if prefix.is_empty() { local.to_string() } else { format!("{prefix}:{local}") }
}

pub(super) fn push_literal(out: &mut String, s: &str) {
    let q = if s.contains('"') { '\'' } else { '"' };
    out.push(q);
    out.push_str(s);
    out.push(q);
}

/// Escapes element content: `& < >`, CR (which a parser would turn into LF), and the
/// control characters XML 1.0 cannot hold, as character references.
pub(super) fn escape_text(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            '\t' | '\n' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// Escapes an attribute value written in double quotes; TAB, LF and CR become character
/// references so that attribute-value normalisation leaves them intact.
pub(super) fn escape_attr(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                out.push_str(&format!("&#x{:X};", c as u32));
            }
            c => out.push(c),
        }
    }
}

/// `xs:double`/`xs:float` lexical form: shortest round-trip digits, exponent form outside
/// 1e-5..1e15, `INF`, `-INF`, `NaN`.
pub(super) fn fmt_float(v: f64, single: bool) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "INF".into() } else { "-INF".into() };
    }
    let a = v.abs();
    let exp = a != 0.0 && !(1e-5..1e15).contains(&a);
    // Shortest digits of the stored precision: an f32 printed as f64 would show noise.
    match (single, exp) {
        (true, false) => format!("{}", v as f32),
        (true, true) => format!("{:E}", v as f32),
        (false, false) => format!("{v}"),
        (false, true) => format!("{v:E}"),
    }
}

/// `money` as SQL Server's `SqlMoney` prints it: 2 to 4 decimals (`#0.00##`).
pub(super) fn fmt_money(units: i64) -> String {
    let neg = units < 0;
    let a = units.unsigned_abs();
    let mut frac = format!("{:04}", a % 10_000);
    while frac.len() > 2 && frac.ends_with('0') {
        frac.pop();
    }
    format!("{}{}.{}", if neg { "-" } else { "" }, a / 10_000, frac)
}

/// A decimal in binary XML: length byte (already consumed as the `mb64`), then precision,
/// scale, sign (1 = positive), then 1 to 4 little-endian `u32` (SqlUtils.cs
/// `BinXmlSqlDecimal`). `trim` drops trailing fractional zeros (`xs:decimal`).
pub(super) fn fmt_binxml_decimal(data: &[u8], trim: bool) -> Option<String> {
    let (&_precision, rest) = data.split_first()?;
    let (&scale, rest) = rest.split_first()?;
    let (&sign, mag) = rest.split_first()?;
    if !matches!(mag.len(), 4 | 8 | 12 | 16) || sign > 1 || scale > 38 {
        return None;
    }
    let mut buf = [0u8; 16];
    buf.get_mut(..mag.len())?.copy_from_slice(mag);
    let m = u128::from_le_bytes(buf);
    Some(fmt_decimal(m, scale, sign == 0, trim))
}

/// Decimal text of `m / 10^scale` with a sign; `-` is not written for zero.
pub(crate) fn fmt_decimal(m: u128, scale: u8, negative: bool, trim: bool) -> String {
    let digits = m.to_string();
    let scale = usize::from(scale);
    let (int, frac) = if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        (i.to_string(), f.to_string())
    } else {
        ("0".to_string(), format!("{}{}", "0".repeat(scale - digits.len()), digits))
    };
    let frac = if trim { frac.trim_end_matches('0').to_string() } else { frac };
    let mut s = String::with_capacity(int.len() + frac.len() + 2);
    if negative && m != 0 {
        s.push('-');
    }
    s.push_str(&int);
    if !frac.is_empty() {
        s.push('.');
        s.push_str(&frac);
    }
    s
}

pub(super) fn push_date(s: &mut String, days_since_0001: i64) -> Option<()> {
    let (y, m, d) = days_to_ymd(i32::try_from(days_since_0001).ok()?);
    if !(1..=9999).contains(&y) {
        return None;
    }
    s.push_str(&format!("{y:04}-{m:02}-{d:02}"));
    Some(())
}

/// Time of day from 100-ns units, fraction trimmed of trailing zeros (none when zero).
pub(super) fn push_time_100ns(s: &mut String, t: u64) {
    let secs = t / 10_000_000;
    let frac = t % 10_000_000;
    s.push_str(&format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60));
    if frac != 0 {
        let f = format!("{frac:07}");
        s.push('.');
        s.push_str(f.trim_end_matches('0'));
    }
}

pub(super) fn push_zone(s: &mut String, minutes: i32) {
    if minutes == 0 {
        s.push('Z');
    } else {
        let a = minutes.unsigned_abs();
        s.push_str(&format!("{}{:02}:{:02}", if minutes < 0 { '-' } else { '+' }, a / 60, a % 60));
    }
}

/// `datetime` (days since 1900, 1/300-s ticks) as `xs:dateTime`, milliseconds as SQL Server
/// rounds them.
pub(super) fn fmt_sql_datetime(days: i32, ticks: u32) -> Option<String> {
    if ticks >= crate::scalar::DATETIME_TICKS_PER_DAY {
        return None;
    }
    let mut s = String::with_capacity(24);
    push_date(&mut s, i64::from(days) + i64::from(crate::scalar::DAYS_0001_TO_1900))?;
    s.push('T');
    let ms = u64::from(datetime_ticks_to_millis(ticks));
    push_time_100ns(&mut s, ms * 10_000);
    Some(s)
}

/// The packed 8-byte `xs:dateTime`, `xs:time` and `xs:date` of binary XML (SqlUtils.cs
/// `BinXmlDateTime.BreakDownXsd*`): the value divided by 4 (two indicator bits) holds
/// milliseconds, seconds, minutes, hours, days (31), months (12) and year + 9999 in mixed
/// radix; a date's low part is instead the zone offset + 840 minutes in radix 29 × 60.
pub(super) fn fmt_xsd_packed(t: u8, v: i64) -> Option<String> {
    if v < 0 {
        return None;
    }
    let v = v / 4;
    let mut s = String::with_capacity(30);
    match t {
        XSD_DATETIME | XSD_TIME => {
            let ms = v % 1000;
            let mut rest = v / 1000;
            let sec = rest % 60;
            rest /= 60;
            let min = rest % 60;
            rest /= 60;
            if t == XSD_TIME {
                if rest > 23 {
                    return None;
                }
                s.push_str(&format!("{rest:02}:{min:02}:{sec:02}"));
            } else {
                let hour = rest % 24;
                rest /= 24;
                let day = rest % 31 + 1;
                rest /= 31;
                let month = rest % 12 + 1;
                let year = rest / 12 - 9999;
                if !(-9999..=9999).contains(&year) {
                    return None;
                }
                push_year(&mut s, year);
                s.push_str(&format!("-{month:02}-{day:02}T{hour:02}:{min:02}:{sec:02}"));
            }
            if ms != 0 {
                s.push_str(&format!(".{ms:03}"));
            }
            s.push('Z');
        }
        _ => {
            // The stored minutes are the amount to add to local time to reach UTC, so a
            // negative value is a zone east of UTC (XmlBinaryReader writes '+' for it).
            let zone = (v % (29 * 60)) - 840;
            let mut days = v / (29 * 60);
            let day = days % 31 + 1;
            days /= 31;
            let month = days % 12 + 1;
            let year = days / 12 - 9999;
            if !(-9999..=9999).contains(&year) {
                return None;
            }
            push_year(&mut s, year);
            s.push_str(&format!("-{month:02}-{day:02}"));
            push_zone(&mut s, i32::try_from(-zone).ok()?);
        }
    }
    Some(s)
}

pub(super) fn push_year(s: &mut String, year: i64) {
    if year < 0 {
        s.push_str(&format!("-{:04}", -year));
    } else {
        s.push_str(&format!("{year:04}"));
    }
}

/// Standard base64 (RFC 4648, with padding), as `xs:base64Binary` is written.
pub(super) fn base64(data: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(data)
}
