//! The value model shared by every decoder: [`Value`], the lossy-decoding counters
//! ([`DecodeStats`]), SQL Server's calendar constants and the small conversions (day
//! numbers, `datetime` ticks, GUID text, UTF-16) that the value, `sql_variant` and binary
//! XML decoders all use. A leaf: it depends on no other decoder.

use serde::{Deserialize, Serialize};

use crate::types::SqlType;

/// One column value of one row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
#[non_exhaustive]
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
    Decimal {
        /// The unscaled value.
        mantissa: i128,
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
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
    Date {
        /// Days since the epoch the variant names.
        days: i32,
    },
    /// `time(scale)`: `ticks` units of 10^-scale seconds since midnight.
    Time {
        /// Ticks since midnight, in the unit the variant names.
        ticks: u64,
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
    /// `datetime`: `days` since 1900-01-01 (negative back to 1753-01-01) and `ticks` of
    /// 1/300 second since midnight (0..=25_919_999).
    DateTime {
        /// Days since the epoch the variant names.
        days: i32,
        /// Ticks since midnight, in the unit the variant names.
        ticks: u32,
    },
    /// `smalldatetime`: days since 1900-01-01 and minutes since midnight.
    SmallDateTime {
        /// Days since the epoch the variant names.
        days: u16,
        /// Minutes since midnight.
        minutes: u16,
    },
    /// `datetime2(scale)`: days since 0001-01-01 and 10^-scale second ticks since midnight.
    DateTime2 {
        /// Days since the epoch the variant names.
        days: i32,
        /// Ticks since midnight, in the unit the variant names.
        ticks: u64,
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
    /// `datetimeoffset(scale)`: the UTC date and time (as `DateTime2`) and the offset
    /// from UTC in minutes (local time = UTC + offset).
    DateTimeOffset {
        /// Days since the epoch the variant names.
        days: i32,
        /// Ticks since midnight, in the unit the variant names.
        ticks: u64,
        /// Fractional digits (of the number, or of a second).
        scale: u8,
        /// Offset from UTC in minutes.
        offset_minutes: i16,
    },
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
#[non_exhaustive]
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
    // SQL Server stores a GUID as .NET does: the first three fields little-endian, which is
    // what `Uuid::from_bytes_le` takes.
    uuid::Uuid::from_bytes_le(*bytes).hyphenated().to_string()
}
