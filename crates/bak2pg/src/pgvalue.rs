//! The PostgreSQL value model: the column types bak2pg creates ([`PgType`]) and values as
//! PostgreSQL holds them ([`PgValue`]). A leaf shared by the type mapping (which makes
//! them), the COPY encoder and the checksum (which read them).

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};

/// A PostgreSQL column type we create.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PgType {
    /// `boolean`.
    Boolean,
    /// `smallint`.
    SmallInt,
    /// `integer`.
    Integer,
    /// `bigint`.
    BigInt,
    /// `real` (binary32).
    Real,
    /// `double precision` (binary64).
    Double,
    /// `numeric(precision, scale)`.
    Numeric {
        /// Total digits, 1..=1000 (SQL Server: 1..=38).
        precision: u8,
        /// Digits after the decimal point.
        scale: u8,
    },
    /// `char(n)`, `n` characters.
    Char {
        /// Length in characters.
        len: u32,
    },
    /// `varchar(n)`, `n` characters.
    VarChar {
        /// Maximum length in characters.
        len: u32,
    },
    /// `text`.
    Text,
    /// `bytea`.
    Bytea,
    /// `uuid`.
    Uuid,
    /// `xml`.
    Xml,
    /// `date`.
    Date,
    /// `time(p)`, `p` in 0..=6.
    Time {
        /// Fractional-second digits.
        precision: u8,
    },
    /// `timestamp(p)` (without time zone).
    Timestamp {
        /// Fractional-second digits.
        precision: u8,
    },
    /// `timestamptz(p)`.
    TimestampTz {
        /// Fractional-second digits.
        precision: u8,
    },
    /// PostGIS `geography` (no typmod: SQL Server declares no subtype or SRID for a
    /// column; each value carries its SRID).
    Geography,
    /// PostGIS `geometry` (no typmod, as for [`PgType::Geography`]).
    Geometry,
}

impl PgType {
    /// The type as written in DDL (`numeric(19,4)`, `timestamp(3)`, `double precision`).
    pub fn sql(&self) -> String {
        match self {
            PgType::Boolean => "boolean".into(),
            PgType::SmallInt => "smallint".into(),
            PgType::Integer => "integer".into(),
            PgType::BigInt => "bigint".into(),
            PgType::Real => "real".into(),
            PgType::Double => "double precision".into(),
            PgType::Numeric { precision, scale } => format!("numeric({precision},{scale})"),
            PgType::Char { len } => format!("char({len})"),
            PgType::VarChar { len } => format!("varchar({len})"),
            PgType::Text => "text".into(),
            PgType::Bytea => "bytea".into(),
            PgType::Uuid => "uuid".into(),
            PgType::Xml => "xml".into(),
            PgType::Date => "date".into(),
            PgType::Time { precision } => format!("time({precision})"),
            PgType::Timestamp { precision } => format!("timestamp({precision})"),
            PgType::TimestampTz { precision } => format!("timestamptz({precision})"),
            PgType::Geography => "geography".into(),
            PgType::Geometry => "geometry".into(),
        }
    }

    /// True for the PostGIS types (which need the extension in the database).
    pub fn is_postgis(&self) -> bool {
        matches!(self, PgType::Geography | PgType::Geometry)
    }

    /// True for the integer types (which may carry an identity).
    pub fn is_integer(&self) -> bool {
        matches!(self, PgType::SmallInt | PgType::Integer | PgType::BigInt)
    }

    /// Smallest and largest value of an integer type.
    pub fn integer_range(&self) -> Option<(i64, i64)> {
        match self {
            PgType::SmallInt => Some((i16::MIN as i64, i16::MAX as i64)),
            PgType::Integer => Some((i32::MIN as i64, i32::MAX as i64)),
            PgType::BigInt => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

impl fmt::Display for PgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql())
    }
}

/// Days from 0001-01-01 to 2000-01-01 (PostgreSQL's date epoch).
pub const DAYS_0001_TO_2000: i32 = 730_119;
/// Days from 1900-01-01 (`datetime`'s epoch) to 2000-01-01.
pub const DAYS_1900_TO_2000: i32 = 36_524;
/// Microseconds in a day.
pub const USECS_PER_DAY: i64 = 86_400_000_000;

/// A value as PostgreSQL will hold it, borrowing from the source [`mssql_backup::Value`] where it can.
///
/// Date and time values use PostgreSQL's own representation: days and microseconds since
/// 2000-01-01 00:00:00 (UTC for `TimestampTz`), microseconds since midnight for `Time`.
#[derive(Debug, Clone, PartialEq)]
pub enum PgValue<'a> {
    /// NULL.
    Null,
    /// `boolean`.
    Bool(bool),
    /// `smallint`.
    Int2(i16),
    /// `integer`.
    Int4(i32),
    /// `bigint`.
    Int8(i64),
    /// `real`.
    Float4(f32),
    /// `double precision`.
    Float8(f64),
    /// `numeric`: `mantissa / 10^scale`, where `scale` is the column's scale.
    Numeric {
        /// Unscaled value.
        mantissa: i128,
        /// Digits after the point (the column's scale).
        scale: u8,
    },
    /// `text`, `varchar`, `char` (without NUL).
    Text(Cow<'a, str>),
    /// `bytea`.
    Bytea(Cow<'a, [u8]>),
    /// `uuid`, bytes in RFC 4122 (text) order.
    Uuid([u8; 16]),
    /// `xml` text, checked as content.
    Xml(&'a str),
    /// `date`: days since 2000-01-01.
    Date(i32),
    /// `time`: microseconds since midnight, 0..=86_400_000_000.
    Time(i64),
    /// `timestamp`: microseconds since 2000-01-01 00:00:00.
    Timestamp(i64),
    /// `timestamptz`: microseconds since 2000-01-01 00:00:00 UTC.
    TimestampTz(i64),
    /// PostGIS `geography`/`geometry`: EWKB, little-endian, as [`crate::spatial`] writes
    /// it (PostGIS's `geometry_recv`/`geography_recv` read (E)WKB).
    Ewkb(Cow<'a, [u8]>),
}
