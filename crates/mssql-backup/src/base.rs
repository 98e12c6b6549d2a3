//! Decoding of the base types' stored bytes (every type but `sql_variant` and `xml`,
//! which [`crate::value::decode`] hands to their own decoders): what a `sql_variant`'s
//! value and a plain column have in common. Layouts are documented on
//! [`crate::value::decode`].

use crate::scalar::*;
use crate::types::SqlType;
use crate::{Error, Result};

/// [`crate::value::decode`] for every type but `sql_variant` and `xml`.
///
/// # Errors
/// As [`crate::value::decode`]; `sql_variant` and `xml` are a catalog error here.
pub(crate) fn decode_base(ty: &SqlType, bytes: &[u8], stats: &mut DecodeStats) -> Result<Value> {
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
        SqlType::SqlVariant | SqlType::Xml => {
            Err(Error::catalog(format!("{} is not a base type: its own decoder reads it", ty.sql_name())))
        }
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
    if !bytes.len().is_multiple_of(2) {
        return Err(corrupt(ty, bytes, "an even number of bytes (UTF-16LE)"));
    }
    Ok(utf16_lossy(bytes, stats))
}
