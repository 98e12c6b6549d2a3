//! `sql_variant` values as stored in a record.
//!
//! Layout: byte 0 is the base type's system type id, byte 1 the format version (always 1:
//! Kalen Delaney, *SQL Server 2008 Internals* p. 278, quoted on dba.stackexchange.com
//! question 14778, where `INSERT … VALUES (1)` is stored `38 01 01 00 00 00`), then the
//! base type's properties, then the value exactly as a column of that type stores it:
//!
//! | base types | properties | value at |
//! |---|---|---|
//! | `tinyint` … `bigint`, `bit`, `real`, `float`, `money`, `smallmoney`, `date`, `smalldatetime`, `datetime`, `uniqueidentifier` | none | 2 |
//! | `time(n)`, `datetime2(n)`, `datetimeoffset(n)` | scale n (1 byte) | 3 |
//! | `decimal(p,s)`, `numeric(p,s)` | precision, scale (1 byte each) | 4 |
//! | `binary(n)`, `varbinary(n)` | max length in bytes (`u16`) | 4 |
//! | `char`, `varchar`, `nchar`, `nvarchar` | max length in bytes (`u16`), then the 4-byte stored collation id | 8 |
//!
//! The string layout was read from real backups in this project's fixtures: rows of a
//! system table hold `E7 01 08 02 08 D0 00 34` followed by UTF-16 text — `nvarchar`,
//! version 1, max length 0x0208 = 520 bytes (`nvarchar(260)`), collation 0x3400D008
//! (`SQL_Latin1_General_CP1_CI_AS`). The overheads match Peter Henell, "Storage Overhead
//! of the SQL_Variant Data type" (2 bytes for decimal, 2 for binary, 6 for strings, none
//! otherwise). The order of the one- and two-byte properties follows the `SSVARIANT` layout of
//! [MS-TDS] (precision then scale; max length).

use crate::base::decode_base as decode;
use crate::scalar::{DecodeStats, Value, decimal_magnitude_len};
use crate::types::SqlType;
use crate::{Error, Result};

/// The base types a `sql_variant` can hold, by system type id (`sql_variant` docs: every
/// type except the LOB types, `xml`, CLR types, `rowversion` and `sql_variant` itself).
#[cfg(test)]
pub const BASE_TYPES: &[u8] =
    &[48, 52, 56, 127, 104, 59, 62, 60, 122, 106, 108, 40, 41, 42, 43, 58, 61, 36, 173, 165, 175, 167, 239, 231];

/// Decodes a stored `sql_variant` to `Value::Variant((base type, value))`.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] for a short header, a version other than 1, a base type
/// a `sql_variant` cannot hold, impossible properties (scale above 7, precision above 38)
/// or a value that does not fit its base type; [`crate::ErrorKind::Catalog`] for an
/// unknown collation id in a string header.
pub fn decode_variant(bytes: &[u8], stats: &mut DecodeStats) -> Result<Value> {
    let corrupt = |what: String| Error::corrupt(format!("sql_variant of {} bytes: {what}", bytes.len()));
    let (&base, rest) = bytes.split_first().ok_or_else(|| corrupt("no base type byte".into()))?;
    let (&version, props) = rest.split_first().ok_or_else(|| corrupt("no version byte".into()))?;
    if version != 1 {
        return Err(corrupt(format!("format version {version}, expected 1")));
    }
    let need = |n: usize| -> Result<(&[u8], &[u8])> {
        if props.len() < n {
            Err(corrupt(format!("base type {base} needs {n} property bytes")))
        } else {
            Ok(props.split_at(n))
        }
    };
    let (ty, value): (SqlType, &[u8]) = match base {
        48 => (SqlType::TinyInt, props),
        52 => (SqlType::SmallInt, props),
        56 => (SqlType::Int, props),
        127 => (SqlType::BigInt, props),
        104 => (SqlType::Bit, props),
        59 => (SqlType::Real, props),
        62 => (SqlType::Float, props),
        60 => (SqlType::Money, props),
        122 => (SqlType::SmallMoney, props),
        40 => (SqlType::Date, props),
        58 => (SqlType::SmallDateTime, props),
        61 => (SqlType::DateTime, props),
        36 => (SqlType::UniqueIdentifier, props),
        41..=43 => {
            let (p, v) = need(1)?;
            let scale = p[0];
            if scale > 7 {
                return Err(corrupt(format!("scale {scale} above 7")));
            }
            let ty = match base {
                41 => SqlType::Time { scale },
                42 => SqlType::DateTime2 { scale },
                _ => SqlType::DateTimeOffset { scale },
            };
            (ty, v)
        }
        106 | 108 => {
            let (p, v) = need(2)?;
            let (precision, scale) = (p[0], p[1]);
            if decimal_magnitude_len(precision).is_none() || scale > precision {
                return Err(corrupt(format!("impossible decimal({precision},{scale})")));
            }
            (SqlType::Decimal { precision, scale, numeric: base == 108 }, v)
        }
        173 | 165 => {
            let (p, v) = need(2)?;
            let len = u16::from_le_bytes([p[0], p[1]]);
            let ty = if base == 173 { SqlType::Binary { len } } else { SqlType::VarBinary { len: Some(len) } };
            // A binary(n) variant keeps its padded value: same rule as the column type.
            (ty, v)
        }
        175 | 167 | 239 | 231 => {
            let (p, v) = need(6)?;
            let max_bytes = u16::from_le_bytes([p[0], p[1]]);
            let id = u32::from_le_bytes([p[2], p[3], p[4], p[5]]);
            let collation = crate::collation::lookup(id).map_err(|e| e.context("sql_variant string"))?;
            let ty = match base {
                175 => SqlType::Char { len: max_bytes, collation },
                167 => SqlType::VarChar { len: Some(max_bytes), collation },
                239 => SqlType::NChar { len: max_bytes / 2, collation },
                _ => SqlType::NVarChar { len: Some(max_bytes / 2), collation },
            };
            (ty, v)
        }
        other => return Err(corrupt(format!("base type id {other} cannot be held by a sql_variant"))),
    };
    let inner = decode(&ty, value, stats).map_err(|e| e.context("sql_variant"))?;
    Ok(Value::Variant(Box::new((ty, inner))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn dec(bytes: &[u8]) -> Result<Value> {
        decode_variant(bytes, &mut DecodeStats::default())
    }

    fn inner(bytes: &[u8]) -> (SqlType, Value) {
        match dec(bytes).unwrap() {
            Value::Variant(b) => *b,
            v => panic!("not a variant: {v:?}"),
        }
    }

    #[test]
    fn int_from_the_internals_book_example() {
        // dba.stackexchange.com q. 14778: VALUES (1) into a sql_variant is stored as
        // 0x38 (int), 0x01 (version), 01 00 00 00.
        assert_eq!(inner(&[0x38, 0x01, 1, 0, 0, 0]), (SqlType::Int, Value::Int(1)));
    }

    #[test]
    fn nvarchar_as_found_in_the_fixtures() {
        let mut b = vec![0xE7, 0x01, 0x08, 0x02, 0x08, 0xD0, 0x00, 0x34];
        for c in "Python".encode_utf16() {
            b.extend_from_slice(&c.to_le_bytes());
        }
        let (ty, v) = inner(&b);
        assert_eq!(v, Value::String("Python".into()));
        match ty {
            SqlType::NVarChar { len: Some(260), collation } => {
                assert_eq!(collation.name.as_deref(), Some("SQL_Latin1_General_CP1_CI_AS"))
            }
            t => panic!("{t:?}"),
        }
    }

    #[test]
    fn varchar_uses_its_own_collation() {
        // varchar(10) under Greek_CI_AS (0xD007): 0xC1 is Α in cp1253.
        let b = [0xA7, 0x01, 10, 0, 0x07, 0xD0, 0, 0, 0xC1];
        assert_eq!(inner(&b).1, Value::String("\u{391}".into()));
    }

    #[test]
    fn scaled_and_decimal_types() {
        // decimal(5,2) 123.45: precision, scale, sign 1, magnitude 12345.
        let b = [0x6A, 0x01, 5, 2, 1, 0x39, 0x30, 0, 0];
        assert_eq!(inner(&b).1, Value::Decimal { mantissa: 12345, scale: 2 });
        // time(0) 01:00:00 = 3600 s.
        let b = [0x29, 0x01, 0, 0x10, 0x0E, 0x00];
        assert_eq!(inner(&b), (SqlType::Time { scale: 0 }, Value::Time { ticks: 3600, scale: 0 }));
        // varbinary(4) 0xCAFE.
        let b = [0xA5, 0x01, 4, 0, 0xCA, 0xFE];
        assert_eq!(inner(&b).1, Value::Binary(vec![0xCA, 0xFE]));
        // bit 1, tinyint 255, money -1.0000.
        assert_eq!(inner(&[0x68, 0x01, 1]).1, Value::Bit(true));
        assert_eq!(inner(&[0x30, 0x01, 255]).1, Value::TinyInt(255));
        assert_eq!(inner(&[0x3C, 0x01, 0xF0, 0xD8, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).1, Value::Money(-10000));
    }

    #[test]
    fn every_base_type_is_handled() {
        for &t in BASE_TYPES {
            // A header with zeroed properties: must never be "cannot be held".
            let e = dec(&[t, 1, 0, 0, 0, 0, 0, 0]);
            if let Err(e) = e {
                assert!(!e.message.contains("cannot be held"), "{t}: {e}");
            }
        }
    }

    #[test]
    fn bad_headers_are_corrupt() {
        for b in [&[][..], &[0x38], &[0x38, 2, 1, 0, 0, 0], &[0xF1, 1, 0], &[0x29, 1], &[0x29, 1, 9, 0, 0, 0]] {
            assert_eq!(dec(b).unwrap_err().kind, ErrorKind::Corrupt, "{b:x?}");
        }
        // Unknown collation id in a string header.
        assert_eq!(dec(&[0xA7, 1, 1, 0, 0xFF, 0, 0, 0, b'a']).unwrap_err().kind, ErrorKind::Catalog);
    }
}
