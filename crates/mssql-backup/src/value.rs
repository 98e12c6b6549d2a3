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
}

/// Decodes a complete stored value of type `ty` (in-row bytes, or the reassembled bytes of
/// an off-row LOB). `bit` is not decoded here: bits are packed in the record.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] when the length does not fit the type (an `int` of 3
/// bytes, a `decimal` with a bad sign byte…); [`crate::ErrorKind::Unsupported`] for
/// types kept as bytes by design are never errors.
pub fn decode(ty: &SqlType, bytes: &[u8], stats: &mut DecodeStats) -> Result<Value> {
    let _ = (ty, bytes, stats);
    Err(Error::unsupported("value decoding is not implemented yet"))
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
