//! Column values, exactly as SQL Server holds them, and their decoding from stored bytes.
//!
//! A [`Value`] keeps the source's own representation (days since 1900 for `datetime`,
//! 1/300-second ticks, a decimal mantissa and scale, GUID bytes in SQL Server's order) so
//! that nothing is rounded here; conversions to a target system belong to the caller.

use serde::{Deserialize, Serialize};

use crate::types::SqlType;
use crate::{Error, Result};

/// One column value of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Value {
    /// SQL NULL.
    Null,
    /// `bit`.
    Bit(bool),
    /// `tinyint` (unsigned).
    TinyInt(u8),
    /// `smallint`.
    SmallInt(i16),
    /// `int`.
    Int(i32),
    /// `bigint`.
    BigInt(i64),
    /// `real`.
    Real(f32),
    /// `float`.
    Float(f64),
    /// `decimal`/`numeric`: the value is `mantissa / 10^scale`, exactly (38 digits fit).
    Decimal { mantissa: i128, scale: u8 },
    /// `money`/`smallmoney`: a count of 1/10000 units (`12.3456` is `123456`).
    Money(i64),
    /// `char`/`varchar`/`text` (decoded from the collation's code page) and
    /// `nchar`/`nvarchar`/`ntext` (UTF-16LE). Fixed-length types keep their blank padding.
    String(String),
    /// `binary`/`varbinary`/`image`/`rowversion` and CLR types (`hierarchyid`,
    /// `geometry`, `geography`) as raw bytes.
    Binary(Vec<u8>),
    /// `uniqueidentifier`: the 16 bytes in SQL Server's storage order (the first three
    /// groups little-endian), as [`guid_string`] formats them.
    Guid([u8; 16]),
    /// `date`: days since 0001-01-01 (proleptic Gregorian).
    Date { days: i32 },
    /// `time(scale)`: `ticks` units of 10^-scale seconds since midnight.
    Time { ticks: u64, scale: u8 },
    /// `datetime`: `days` since 1900-01-01 (negative back to 1753-01-01) and `ticks` of
    /// 1/300 second since midnight (0..=25_919_999).
    DateTime { days: i32, ticks: u32 },
    /// `smalldatetime`: days since 1900-01-01 and minutes since midnight.
    SmallDateTime { days: u16, minutes: u16 },
    /// `datetime2(scale)`: days since 0001-01-01 and 10^-scale second ticks since midnight.
    DateTime2 { days: i32, ticks: u64, scale: u8 },
    /// `datetimeoffset(scale)`: the UTC date and time (as `DateTime2`) and the offset
    /// from UTC in minutes (local time = UTC + offset).
    DateTimeOffset { days: i32, ticks: u64, scale: u8, offset_minutes: i16 },
    /// `xml`, decoded from SQL Server's binary XML to text.
    Xml(String),
    /// `sql_variant`: the base type and the value of that type.
    Variant(Box<(SqlType, Value)>),
}

impl Value {
    /// True for SQL NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// Counters of lossy decodings met while decoding values (reported, never hidden).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecodeStats {
    /// UTF-16 code units that were unpaired surrogates, replaced by U+FFFD.
    pub replaced_utf16: u64,
    /// Byte sequences of 8-bit character data (`char`, `varchar`, `text`, and the 8-bit
    /// strings inside `sql_variant` and `xml`) that their code page leaves undefined or that
    /// are malformed multi-byte/UTF-8 sequences, each replaced by one U+FFFD.
    #[serde(default)]
    pub replaced_codepage: u64,
}

/// Days from 0001-01-01 to 1900-01-01, the epoch of `datetime` and `smalldatetime`.
pub const DAYS_0001_TO_1900: i32 = 693_595;
/// Days from 0001-01-01 to 9999-12-31: the largest `date`/`datetime2` day number.
pub const MAX_DATE_DAYS: i32 = 3_652_058;
/// `datetime` days (since 1900-01-01) of 1753-01-01, its first valid day.
pub const DATETIME_MIN_DAYS: i32 = -53_690;
/// `datetime` days (since 1900-01-01) of 9999-12-31, its last valid day.
pub const DATETIME_MAX_DAYS: i32 = 2_958_463;
/// `datetime` ticks (1/300 s) in a day: ticks run from 0 to this minus one.
pub const DATETIME_TICKS_PER_DAY: u32 = 25_920_000;

/// Decodes a complete stored value of type `ty` (in-row bytes, or the reassembled bytes of
/// an off-row LOB).
///
/// Layouts (all little-endian; sources in the item docs of [`Value`] variants and below):
/// * integers, `real`/`float` (IEEE 754), `money` (one `i64` of 1/10000 units — *not* two
///   swapped halves as in TDS: verified on the Vietnamese hotel fixture, where 2000000.0000
///   is stored `00 C8 17 A8 04 00 00 00`), `smallmoney` (`i32`);
/// * `decimal(p,s)`/`numeric`: a sign byte (1 = positive, 0 = negative) then the magnitude
///   as an unsigned integer of 4, 8, 12 or 16 bytes for p ≤ 9, ≤ 19, ≤ 28, ≤ 38 (OrcaMDF
///   `SqlDecimal.cs`; [MS-TDS] 2.2.5.5.1.2 uses the same sign convention);
/// * `char`/`varchar`/`text`: bytes in the collation's code page
///   ([`crate::collation::decode_text`]); `nchar`/`nvarchar`/`ntext`: UTF-16LE, unpaired
///   surrogates become U+FFFD (counted in [`DecodeStats::replaced_utf16`]);
/// * `date`: 3-byte day number since 0001-01-01; `time(n)`: 3, 4 or 5 bytes (n ≤ 2, ≤ 4,
///   ≤ 7) of 10⁻ⁿ-second ticks; `datetime2(n)`: time then date; `datetimeoffset(n)`: time,
///   date (both UTC, [MS-TDS] 2.2.5.5.1.9) then an `i16` offset in minutes;
/// * `smalldatetime`: `u16` minutes then `u16` days since 1900; `datetime`: `u32` ticks of
///   1/300 s then `i32` days since 1900 — time first, as in the Northwind fixtures
///   (1996-07-04 is stored `00 00 00 00 B0 89 00 00`), the reverse of TDS;
/// * `uniqueidentifier`, `binary`, `varbinary`, `image`, `rowversion`, and CLR types: raw;
/// * `sql_variant`: see [`crate::variant`]; `xml`: binary XML, see [`crate::binxml`].
///
/// `bit` is normally extracted by the record decoder (bits are packed); a single byte 0
/// or 1 (as inside a `sql_variant`) is accepted here.
///
/// Fixed-size types allocate nothing; strings take an ASCII fast path.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] when the bytes cannot be a value of the type: a length
/// the type does not allow (the message says what was expected), a decimal sign byte other
/// than 0/1 or a magnitude over 38 digits, an odd UTF-16 length, a time of day, date or
/// offset out of SQL Server's range, malformed binary XML or `sql_variant`.
/// [`crate::ErrorKind::Catalog`] when the type itself is impossible (`time(9)`,
/// `decimal(0,0)`) or a collation id is unknown. [`crate::ErrorKind::Unsupported`] for
/// [`SqlType::Unknown`] and code pages without a decoder.
pub fn decode(ty: &SqlType, bytes: &[u8], stats: &mut DecodeStats) -> Result<Value> {
    match ty {
        SqlType::Bit => match bytes {
            [b @ (0 | 1)] => Ok(Value::Bit(*b == 1)),
            _ => Err(corrupt(ty, bytes, "one byte 0 or 1")),
        },
        SqlType::TinyInt => Ok(Value::TinyInt(u8::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::SmallInt => Ok(Value::SmallInt(i16::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::Int => Ok(Value::Int(i32::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::BigInt => Ok(Value::BigInt(i64::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::Real => Ok(Value::Real(f32::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::Float => Ok(Value::Float(f64::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::Money => Ok(Value::Money(i64::from_le_bytes(fixed(ty, bytes)?))),
        SqlType::SmallMoney => Ok(Value::Money(i64::from(i32::from_le_bytes(fixed(ty, bytes)?)))),
        SqlType::Decimal { precision, scale, .. } => decode_decimal(ty, *precision, *scale, bytes),
        SqlType::Char { len, collation } => {
            expect_len(ty, bytes, usize::from(*len))?;
            Ok(Value::String(crate::collation::decode_text(collation.code_page, bytes, stats)?))
        }
        SqlType::VarChar { len, collation } => {
            expect_max(ty, bytes, len.map(usize::from))?;
            Ok(Value::String(crate::collation::decode_text(collation.code_page, bytes, stats)?))
        }
        SqlType::Text { collation } => {
            Ok(Value::String(crate::collation::decode_text(collation.code_page, bytes, stats)?))
        }
        SqlType::NChar { len, .. } => {
            expect_len(ty, bytes, usize::from(*len) * 2)?;
            Ok(Value::String(utf16(ty, bytes, stats)?))
        }
        SqlType::NVarChar { len, .. } => {
            expect_max(ty, bytes, len.map(|n| usize::from(n) * 2))?;
            Ok(Value::String(utf16(ty, bytes, stats)?))
        }
        SqlType::NText { .. } => Ok(Value::String(utf16(ty, bytes, stats)?)),
        SqlType::Binary { len } => {
            expect_len(ty, bytes, usize::from(*len))?;
            Ok(Value::Binary(bytes.to_vec()))
        }
        SqlType::VarBinary { len } => {
            expect_max(ty, bytes, len.map(usize::from))?;
            Ok(Value::Binary(bytes.to_vec()))
        }
        SqlType::RowVersion => {
            expect_len(ty, bytes, 8)?;
            Ok(Value::Binary(bytes.to_vec()))
        }
        SqlType::Clr { max_length, .. } => {
            // A max_length of -1 means unbounded; otherwise it is the byte limit.
            expect_max(ty, bytes, usize::try_from(*max_length).ok())?;
            Ok(Value::Binary(bytes.to_vec()))
        }
        SqlType::Image | SqlType::HierarchyId | SqlType::Geometry | SqlType::Geography => {
            Ok(Value::Binary(bytes.to_vec()))
        }
        SqlType::UniqueIdentifier => Ok(Value::Guid(fixed(ty, bytes)?)),
        SqlType::Date => {
            let days = date_days(ty, fixed::<3>(ty, bytes)?)?;
            Ok(Value::Date { days })
        }
        SqlType::Time { scale } => {
            let n = time_len(ty, *scale)?;
            expect_len(ty, bytes, n)?;
            let ticks = time_ticks(ty, *scale, bytes)?;
            Ok(Value::Time { ticks, scale: *scale })
        }
        SqlType::DateTime2 { scale } => {
            let n = time_len(ty, *scale)?;
            expect_len(ty, bytes, n + 3)?;
            let (time, date) = bytes.split_at(n);
            let ticks = time_ticks(ty, *scale, time)?;
            let days = date_days(ty, [date[0], date[1], date[2]])?;
            Ok(Value::DateTime2 { days, ticks, scale: *scale })
        }
        SqlType::DateTimeOffset { scale } => {
            let n = time_len(ty, *scale)?;
            expect_len(ty, bytes, n + 5)?;
            let (time, rest) = bytes.split_at(n);
            let ticks = time_ticks(ty, *scale, time)?;
            let days = date_days(ty, [rest[0], rest[1], rest[2]])?;
            let offset_minutes = i16::from_le_bytes([rest[3], rest[4]]);
            // SQL Server limits offsets to -14:00..+14:00 (datetimeoffset docs).
            if !(-840..=840).contains(&offset_minutes) {
                return Err(corrupt(ty, bytes, "an offset within -840..=840 minutes"));
            }
            Ok(Value::DateTimeOffset { days, ticks, scale: *scale, offset_minutes })
        }
        SqlType::SmallDateTime => {
            let b: [u8; 4] = fixed(ty, bytes)?;
            let minutes = u16::from_le_bytes([b[0], b[1]]);
            let days = u16::from_le_bytes([b[2], b[3]]);
            // 2079-06-06 is day 65535, the last valid day, so only the minutes can be wrong.
            if minutes >= 1440 {
                return Err(corrupt(ty, bytes, "minutes since midnight below 1440"));
            }
            Ok(Value::SmallDateTime { days, minutes })
        }
        SqlType::DateTime => {
            let b: [u8; 8] = fixed(ty, bytes)?;
            let ticks = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            let days = i32::from_le_bytes([b[4], b[5], b[6], b[7]]);
            if ticks >= DATETIME_TICKS_PER_DAY || !(DATETIME_MIN_DAYS..=DATETIME_MAX_DAYS).contains(&days) {
                return Err(corrupt(
                    ty,
                    bytes,
                    "ticks below 25920000 and days from -53690 (1753-01-01) to 2958463 (9999-12-31)",
                ));
            }
            Ok(Value::DateTime { days, ticks })
        }
        SqlType::SqlVariant => crate::variant::decode_variant(bytes, stats),
        SqlType::Xml => Ok(Value::Xml(crate::binxml::to_xml(bytes, stats)?)),
        SqlType::Unknown { type_id, name, .. } => {
            Err(Error::unsupported(format!("values of type {name} (type id {type_id}) are not decoded")))
        }
    }
}

/// A `Corrupt` error naming the type, the length found and what was expected.
fn corrupt(ty: &SqlType, bytes: &[u8], expected: &str) -> Error {
    Error::corrupt(format!("{} value of {} bytes: expected {expected}", ty.sql_name(), bytes.len()))
}

/// The bytes as a fixed-size array, or a `Corrupt` error naming the expected length.
#[inline]
fn fixed<const N: usize>(ty: &SqlType, bytes: &[u8]) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| corrupt(ty, bytes, &format!("exactly {N} bytes")))
}

#[inline]
fn expect_len(ty: &SqlType, bytes: &[u8], n: usize) -> Result<()> {
    if bytes.len() == n { Ok(()) } else { Err(corrupt(ty, bytes, &format!("exactly {n} bytes"))) }
}

#[inline]
fn expect_max(ty: &SqlType, bytes: &[u8], max: Option<usize>) -> Result<()> {
    match max {
        Some(m) if bytes.len() > m => Err(corrupt(ty, bytes, &format!("at most {m} bytes"))),
        _ => Ok(()),
    }
}

/// Storage bytes of a `decimal(p, s)` magnitude: 4, 8, 12 or 16 (OrcaMDF `SqlDecimal.cs`,
/// `getNumberOfRequiredStorageInts`; `sys.types` max_length 5/9/13/17 with the sign byte).
pub fn decimal_magnitude_len(precision: u8) -> Option<usize> {
    match precision {
        1..=9 => Some(4),
        10..=19 => Some(8),
        20..=28 => Some(12),
        29..=38 => Some(16),
        _ => None,
    }
}

/// 10^38 - 1, the largest magnitude of `decimal(38, s)`.
const DECIMAL_MAX: u128 = 99_999_999_999_999_999_999_999_999_999_999_999_999;

fn decode_decimal(ty: &SqlType, precision: u8, scale: u8, bytes: &[u8]) -> Result<Value> {
    let n = decimal_magnitude_len(precision)
        .filter(|_| scale <= precision)
        .ok_or_else(|| Error::catalog(format!("impossible type {}", ty.sql_name())))?;
    expect_len(ty, bytes, n + 1)?;
    decimal_from_parts(ty, bytes, scale)
}

/// Sign byte plus a magnitude of 4, 8, 12 or 16 bytes (length already checked).
pub(crate) fn decimal_from_parts(ty: &SqlType, bytes: &[u8], scale: u8) -> Result<Value> {
    let (sign, magnitude) = bytes.split_first().ok_or_else(|| corrupt(ty, bytes, "a sign byte"))?;
    let mut buf = [0u8; 16];
    buf.get_mut(..magnitude.len()).ok_or_else(|| corrupt(ty, bytes, "at most 17 bytes"))?.copy_from_slice(magnitude);
    let m = u128::from_le_bytes(buf);
    if m > DECIMAL_MAX {
        return Err(corrupt(ty, bytes, "a magnitude of at most 38 decimal digits"));
    }
    // m ≤ 10^38 - 1 < 2^127, so the conversion cannot fail.
    let m = i128::try_from(m).map_err(|_| corrupt(ty, bytes, "a magnitude below 2^127"))?;
    let mantissa = match sign {
        1 => m,
        0 => -m,
        _ => return Err(corrupt(ty, bytes, &format!("sign byte 0 or 1, found {sign}"))),
    };
    Ok(Value::Decimal { mantissa, scale })
}

/// Bytes of the time part of `time(n)`, `datetime2(n)` and `datetimeoffset(n)`: 3 for
/// n ≤ 2, 4 for n ≤ 4, 5 for n ≤ 7 ([MS-TDS] 2.2.5.5.1.8; OrcaMDF `SqlTime.cs`).
pub fn time_len_for_scale(scale: u8) -> Option<usize> {
    match scale {
        0..=2 => Some(3),
        3..=4 => Some(4),
        5..=7 => Some(5),
        _ => None,
    }
}

fn time_len(ty: &SqlType, scale: u8) -> Result<usize> {
    time_len_for_scale(scale)
        .ok_or_else(|| Error::catalog(format!("impossible type {} (scale above 7)", ty.sql_name())))
}

/// 10^n for n ≤ 7.
const POW10: [u64; 8] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000, 10_000_000];

/// Reads the 3–5 byte tick count and checks it is a time of day.
fn time_ticks(ty: &SqlType, scale: u8, bytes: &[u8]) -> Result<u64> {
    let mut buf = [0u8; 8];
    if let Some(dst) = buf.get_mut(..bytes.len()) {
        dst.copy_from_slice(bytes);
    }
    let ticks = u64::from_le_bytes(buf);
    let per_day = 86_400 * POW10.get(usize::from(scale)).copied().unwrap_or(u64::MAX / 86_400);
    if ticks >= per_day {
        return Err(corrupt(ty, bytes, &format!("a time of day below {per_day} ticks of 10^-{scale} s")));
    }
    Ok(ticks)
}

fn date_days(ty: &SqlType, b: [u8; 3]) -> Result<i32> {
    let days = i32::from_le_bytes([b[0], b[1], b[2], 0]);
    if days > MAX_DATE_DAYS {
        return Err(corrupt(ty, &b, "a day number of at most 3652058 (9999-12-31)"));
    }
    Ok(days)
}

/// Decodes UTF-16LE, replacing unpaired surrogates by U+FFFD (counted in `stats`).
fn utf16(ty: &SqlType, bytes: &[u8], stats: &mut DecodeStats) -> Result<String> {
    if bytes.len() % 2 != 0 {
        return Err(corrupt(ty, bytes, "an even number of bytes (UTF-16LE)"));
    }
    Ok(utf16_lossy(bytes, stats))
}

/// UTF-16LE (even length assumed; a trailing odd byte is ignored) to a `String`, with an
/// ASCII fast path; unpaired surrogates become U+FFFD and are counted.
pub(crate) fn utf16_lossy(bytes: &[u8], stats: &mut DecodeStats) -> String {
    let mut out = String::with_capacity(bytes.len() / 2);
    let mut units = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
    // Fast path over the ASCII prefix: most text is ASCII.
    let mut pending = None;
    for u in units.by_ref() {
        if u < 0x80 {
            out.push(u as u8 as char);
        } else {
            pending = Some(u);
            break;
        }
    }
    if let Some(first) = pending {
        for r in char::decode_utf16(std::iter::once(first).chain(units)) {
            match r {
                Ok(c) => out.push(c),
                Err(_) => {
                    out.push('\u{FFFD}');
                    stats.replaced_utf16 += 1;
                }
            }
        }
    }
    out
}

/// The proleptic Gregorian (year, month, day) of `days` since 0001-01-01 (day 0). Any
/// `i32` is accepted (years before 1 and after 9999 come out as such).
///
/// Standard civil-from-days arithmetic on 400-year eras of 146097 days, counted from
/// 0000-03-01 so that the leap day ends the year.
pub fn days_to_ymd(days: i32) -> (i32, u8, u8) {
    // 0001-01-01 is day 306 after 0000-03-01 (March..December of year 0).
    let z = i64::from(days) + 306;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // day of era, 0..=146096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // year of era, 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // day of the March-based year
    let mp = (5 * doy + 2) / 153; // month from March = 0
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // |days| < 2^31 keeps the year within ±5.9 million: it fits an i32.
    (year as i32, month as u8, day as u8)
}

/// Days since 0001-01-01 of a proleptic Gregorian date; `None` for an impossible date
/// (month 13, 2023-02-29, …) or one out of `i32` range.
pub fn ymd_to_days(year: i32, month: u8, day: u8) -> Option<i32> {
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    i32::try_from(era * 146_097 + doe - 306).ok()
}

fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if year.rem_euclid(4) == 0 && (year.rem_euclid(100) != 0 || year.rem_euclid(400) == 0) => 29,
        2 => 28,
        _ => 31,
    }
}

/// The milliseconds SQL Server shows for `ticks` of 1/300 s: the nearest millisecond,
/// which always ends in 0, 3 or 7 (`datetime` docs: "rounded to increments of .000, .003,
/// or .007 seconds"). `ticks * 10 / 3` has remainder 0, ⅓ or ⅔ ms, so there is never a
/// tie: ⅓ rounds down (1 tick → 3 ms), ⅔ up (2 ticks → 7 ms). 25919999 ticks → 86399997
/// ms (23:59:59.997).
pub fn datetime_ticks_to_millis(ticks: u32) -> u32 {
    ((u64::from(ticks) * 10 + 1) / 3) as u32
}

/// `ticks` of 1/300 s as nanoseconds, rounded to the nearest (the exact value `ticks *
/// 10^7 / 3` ns is a repeating fraction unless `ticks` is a multiple of 3).
pub fn datetime_ticks_to_nanos(ticks: u32) -> u64 {
    (u64::from(ticks) * 10_000_000 + 1) / 3
}

/// `ticks` of 1/300 s as 100-ns units rounded to the nearest, which is what SQL Server
/// gives when converting `datetime` to `datetime2(7)` (1 tick → .0033333, 2 → .0066667).
pub fn datetime_ticks_to_100ns(ticks: u32) -> u64 {
    (u64::from(ticks) * 100_000 + 1) / 3
}

/// Formats a `uniqueidentifier` stored as `bytes` (SQL Server order) the way SQL Server
/// prints it, lower-case: `6f9619ff-8b86-d011-b42d-00c04fc964ff`.
pub fn guid_string(bytes: &[u8; 16]) -> String {
    let b = bytes;
    format!(
        "{:02x}{:02x}{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}-{:02x}{:02x}{:02x}{:02x}{:02x}{:02x}",
        b[3], b[2], b[1], b[0], b[5], b[4], b[7], b[6], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]
    )
}
