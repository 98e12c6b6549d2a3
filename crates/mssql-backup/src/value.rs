//! Column values, exactly as SQL Server holds them, and their decoding from stored bytes.
//!
//! A [`Value`] keeps the source's own representation (days since 1900 for `datetime`,
//! 1/300-second ticks, a decimal mantissa and scale, GUID bytes in SQL Server's order) so
//! that nothing is rounded here; conversions to a target system belong to the caller.

use crate::Result;
use crate::types::SqlType;

pub use crate::scalar::{
    DATETIME_MAX_DAYS, DATETIME_MIN_DAYS, DATETIME_TICKS_PER_DAY, DAYS_0001_TO_1900, DecodeStats, MAX_DATE_DAYS, Value,
    datetime_ticks_to_100ns, datetime_ticks_to_millis, datetime_ticks_to_nanos, days_to_ymd, decimal_magnitude_len,
    guid_string, time_len_for_scale, ymd_to_days,
};

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
///   (bytes it leaves undefined become U+FFFD, counted in
///   [`DecodeStats::replaced_codepage`]); `nchar`/`nvarchar`/`ntext`: UTF-16LE, unpaired
///   surrogates become U+FFFD (counted in [`DecodeStats::replaced_utf16`]);
/// * `date`: 3-byte day number since 0001-01-01; `time(n)`: 3, 4 or 5 bytes (n ≤ 2, ≤ 4,
///   ≤ 7) of 10⁻ⁿ-second ticks; `datetime2(n)`: time then date; `datetimeoffset(n)`: time,
///   date (both UTC, [MS-TDS] 2.2.5.5.1.9) then an `i16` offset in minutes;
/// * `smalldatetime`: `u16` minutes then `u16` days since 1900; `datetime`: `u32` ticks of
///   1/300 s then `i32` days since 1900 — time first, as in the Northwind fixtures
///   (1996-07-04 is stored `00 00 00 00 B0 89 00 00`), the reverse of TDS;
/// * `uniqueidentifier`, `binary`, `varbinary`, `image`, `rowversion`, and CLR types: raw;
/// * `sql_variant`: the base type's system type id, a version byte (1), the base type's
///   properties (scale; precision and scale; max length, and a collation id for strings),
///   then the value as a column of that type stores it; `xml`: SQL Server binary XML
///   ([MS-BINXML]), decoded to text.
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
        SqlType::SqlVariant => crate::variant::decode_variant(bytes, stats),
        SqlType::Xml => Ok(Value::Xml(crate::binxml::to_xml(bytes, stats)?)),
        _ => crate::base::decode_base(ty, bytes, stats),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::types::Collation;

    fn dec(ty: &SqlType, b: &[u8]) -> Result<Value> {
        decode(ty, b, &mut DecodeStats::default())
    }

    fn ok(ty: &SqlType, b: &[u8]) -> Value {
        dec(ty, b).unwrap_or_else(|e| panic!("{ty} {b:02x?}: {e}"))
    }

    fn kind(ty: &SqlType, b: &[u8]) -> ErrorKind {
        dec(ty, b).expect_err("should fail").kind
    }

    fn coll(id: u32) -> Collation {
        crate::collation::lookup(id).unwrap()
    }

    #[test]
    fn integers_are_little_endian() {
        // SQL Server stores `int` 1 as `01 00 00 00` (DBCC PAGE of a one-int row,
        // dba.stackexchange.com q. 14778).
        assert_eq!(ok(&SqlType::Int, &[1, 0, 0, 0]), Value::Int(1));
        assert_eq!(ok(&SqlType::TinyInt, &[0xFF]), Value::TinyInt(255));
        assert_eq!(ok(&SqlType::SmallInt, &[0x00, 0x80]), Value::SmallInt(i16::MIN));
        assert_eq!(ok(&SqlType::Int, &[0xFF, 0xFF, 0xFF, 0x7F]), Value::Int(i32::MAX));
        assert_eq!(ok(&SqlType::BigInt, &[0, 0, 0, 0, 0, 0, 0, 0x80]), Value::BigInt(i64::MIN));
        assert_eq!(kind(&SqlType::Int, &[1, 0, 0]), ErrorKind::Corrupt);
        let e = dec(&SqlType::BigInt, &[0; 9]).unwrap_err();
        assert!(e.message.contains("exactly 8 bytes"), "{}", e.message);
    }

    #[test]
    fn floats_are_ieee_little_endian() {
        // 1.5 is 0x3FC00000 (binary32) and 0x3FF8000000000000 (binary64).
        assert_eq!(ok(&SqlType::Real, &[0, 0, 0xC0, 0x3F]), Value::Real(1.5));
        assert_eq!(ok(&SqlType::Float, &[0, 0, 0, 0, 0, 0, 0xF8, 0x3F]), Value::Float(1.5));
        assert_eq!(kind(&SqlType::Real, &[0; 8]), ErrorKind::Corrupt);
    }

    #[test]
    fn decimals_from_orcamdf_page_vectors() {
        // OrcaMDF SqlDecimalTests (bytes read from real pages).
        let d = |p, s| SqlType::Decimal { precision: p, scale: s, numeric: false };
        assert_eq!(ok(&d(5, 0), &[0x01, 0x39, 0x30, 0, 0]), Value::Decimal { mantissa: 12345, scale: 0 });
        assert_eq!(ok(&d(5, 3), &[0x00, 0x39, 0x30, 0, 0]), Value::Decimal { mantissa: -12345, scale: 3 });
        assert_eq!(ok(&d(9, 1), &[0x01, 0x4e, 0xe4, 0x01, 0x00]), Value::Decimal { mantissa: 123982, scale: 1 });
        assert_eq!(
            ok(&d(17, 5), &[0x01, 0xb9, 0xe3, 0x5d, 0xb6, 0x40, 0x70, 0x00, 0x00]),
            Value::Decimal { mantissa: 123423239824313, scale: 5 }
        );
    }

    #[test]
    fn decimal_38_extremes_and_errors() {
        let ty = SqlType::Decimal { precision: 38, scale: 10, numeric: true };
        let max: u128 = 10u128.pow(38) - 1;
        let mut b = vec![1u8];
        b.extend_from_slice(&max.to_le_bytes());
        assert_eq!(ok(&ty, &b), Value::Decimal { mantissa: max as i128, scale: 10 });
        b[0] = 0;
        assert_eq!(ok(&ty, &b), Value::Decimal { mantissa: -(max as i128), scale: 10 });
        // 10^38 is one digit too many.
        let mut over = vec![1u8];
        over.extend_from_slice(&(max + 1).to_le_bytes());
        assert_eq!(kind(&ty, &over), ErrorKind::Corrupt);
        // Sign byte 2, and a 9-byte value for precision 38.
        b[0] = 2;
        assert!(dec(&ty, &b).unwrap_err().message.contains("sign byte"));
        assert_eq!(kind(&ty, &b[..9]), ErrorKind::Corrupt);
        // Widths by precision: 5, 9, 13, 17 bytes.
        for (p, n) in [(9u8, 5usize), (10, 9), (19, 9), (20, 13), (28, 13), (29, 17)] {
            let ty = SqlType::Decimal { precision: p, scale: 0, numeric: false };
            let mut v = vec![1u8; n];
            v[1..].fill(0);
            assert_eq!(ok(&ty, &v), Value::Decimal { mantissa: 0, scale: 0 }, "p={p}");
            assert_eq!(kind(&ty, &vec![1u8; n + 4]), ErrorKind::Corrupt);
        }
        assert_eq!(kind(&SqlType::Decimal { precision: 39, scale: 0, numeric: false }, &[1; 17]), ErrorKind::Catalog);
        assert_eq!(kind(&SqlType::Decimal { precision: 5, scale: 6, numeric: false }, &[1; 5]), ErrorKind::Catalog);
    }

    #[test]
    fn money_is_one_little_endian_i64() {
        // 2000000.0000 VND as stored in the hotel-qlks-vietnamese fixture.
        assert_eq!(ok(&SqlType::Money, &[0x00, 0xC8, 0x17, 0xA8, 0x04, 0, 0, 0]), Value::Money(20_000_000_000));
        // -1.0000 and the documented extremes -922,337,203,685,477.5808 / 922,337,203,685,477.5807.
        assert_eq!(ok(&SqlType::Money, &(-10_000i64).to_le_bytes()), Value::Money(-10_000));
        assert_eq!(ok(&SqlType::Money, &i64::MIN.to_le_bytes()), Value::Money(i64::MIN));
        assert_eq!(ok(&SqlType::Money, &i64::MAX.to_le_bytes()), Value::Money(i64::MAX));
        // smallmoney -214,748.3648.
        assert_eq!(ok(&SqlType::SmallMoney, &i32::MIN.to_le_bytes()), Value::Money(-2_147_483_648));
        assert_eq!(kind(&SqlType::SmallMoney, &[0; 8]), ErrorKind::Corrupt);
    }

    #[test]
    fn guid_keeps_storage_order() {
        // uniqueidentifier docs: '6F9619FF-8B86-D011-B42D-00C04FC964FF' converts to
        // binary(16) 0xFF19966F868B11D0B42D00C04FC964FF.
        let b = [0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF];
        assert_eq!(ok(&SqlType::UniqueIdentifier, &b), Value::Guid(b));
        assert_eq!(guid_string(&b), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(kind(&SqlType::UniqueIdentifier, &b[..15]), ErrorKind::Corrupt);
    }

    #[test]
    fn strings_by_code_page_and_utf16() {
        let latin = coll(0x3400D008);
        let ty = SqlType::Char { len: 6, collation: latin.clone() };
        assert_eq!(ok(&ty, b"Gasp\xe9 "), Value::String("Gaspé ".into()));
        assert_eq!(kind(&ty, b"short"), ErrorKind::Corrupt);
        let ty = SqlType::VarChar { len: Some(3), collation: coll(0xD020) };
        // cp1258: "Vi" + 0xEA (ê).
        assert_eq!(ok(&ty, b"Vi\xea"), Value::String("Viê".into()));
        assert_eq!(kind(&ty, b"Vi\xea!"), ErrorKind::Corrupt);
        let ty = SqlType::VarChar { len: None, collation: latin.clone() };
        assert_eq!(ok(&ty, &[b'a'; 9000]), Value::String("a".repeat(9000)));
        assert_eq!(ok(&SqlType::Text { collation: latin.clone() }, b""), Value::String(String::new()));
        // OrcaMDF SqlNCharTests: nchar(3) 0x0447 0x042F 0x00E6.
        let ty = SqlType::NChar { len: 3, collation: latin.clone() };
        assert_eq!(ok(&ty, &[0x47, 0x04, 0x2f, 0x04, 0xe6, 0x00]), Value::String("\u{447}\u{42F}\u{E6}".into()));
        assert_eq!(kind(&ty, &[0x47, 0x04, 0x2f, 0x04]), ErrorKind::Corrupt);
        // nvarchar: "Nguyễn" with ễ = U+1EC5; an odd length is corrupt.
        let ty = SqlType::NVarChar { len: Some(10), collation: latin.clone() };
        let mut b = Vec::new();
        for u in "Nguyễn".encode_utf16() {
            b.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(ok(&ty, &b), Value::String("Nguyễn".into()));
        assert_eq!(kind(&ty, &b[..3]), ErrorKind::Corrupt);
        assert_eq!(kind(&SqlType::NVarChar { len: Some(1), collation: latin }, &b), ErrorKind::Corrupt);
    }

    #[test]
    fn utf16_surrogates() {
        let ty = SqlType::NText { collation: coll(0x3400D008) };
        let mut st = DecodeStats::default();
        // U+1F600 as the pair D83D DE00 decodes; a lone D800 becomes U+FFFD and is counted.
        assert_eq!(decode(&ty, &[0x3D, 0xD8, 0x00, 0xDE], &mut st).unwrap(), Value::String("😀".into()));
        assert_eq!(
            decode(&ty, &[0x00, 0xD8, 0x41, 0x00, 0x00, 0xDC], &mut st).unwrap(),
            Value::String("\u{FFFD}A\u{FFFD}".into())
        );
        assert_eq!(st.replaced_utf16, 2);
    }

    #[test]
    fn binary_types_are_raw() {
        assert_eq!(ok(&SqlType::Binary { len: 2 }, &[0xCA, 0xFE]), Value::Binary(vec![0xCA, 0xFE]));
        assert_eq!(kind(&SqlType::Binary { len: 3 }, &[0xCA, 0xFE]), ErrorKind::Corrupt);
        assert_eq!(kind(&SqlType::VarBinary { len: Some(1) }, &[0xCA, 0xFE]), ErrorKind::Corrupt);
        assert_eq!(
            ok(&SqlType::RowVersion, &[0, 0, 0, 0, 0, 0, 0x07, 0xD1]),
            Value::Binary(vec![0, 0, 0, 0, 0, 0, 7, 0xD1])
        );
        for ty in [SqlType::Image, SqlType::HierarchyId, SqlType::Geometry, SqlType::Geography] {
            assert_eq!(ok(&ty, &[0x58]), Value::Binary(vec![0x58]));
        }
        let clr = SqlType::Clr { name: "dbo.Point".into(), max_length: 2 };
        assert_eq!(kind(&clr, &[1, 2, 3]), ErrorKind::Corrupt);
        let clr = SqlType::Clr { name: "dbo.Big".into(), max_length: -1 };
        assert_eq!(ok(&clr, &[1, 2, 3]), Value::Binary(vec![1, 2, 3]));
    }

    #[test]
    fn dates_from_orcamdf_page_vectors() {
        // OrcaMDF SqlDateTests: f6 4c 0b = 2028-09-09.
        let Value::Date { days } = ok(&SqlType::Date, &[0xf6, 0x4c, 0x0b]) else { panic!() };
        assert_eq!(days_to_ymd(days), (2028, 9, 9));
        assert_eq!(ok(&SqlType::Date, &[0, 0, 0]), Value::Date { days: 0 });
        // 9999-12-31 is day 3652058 = 0x37B9DA; one more is corrupt.
        assert_eq!(ok(&SqlType::Date, &[0xDA, 0xB9, 0x37]), Value::Date { days: MAX_DATE_DAYS });
        assert_eq!(kind(&SqlType::Date, &[0xDB, 0xB9, 0x37]), ErrorKind::Corrupt);
        assert_eq!(kind(&SqlType::Date, &[0, 0]), ErrorKind::Corrupt);
    }

    #[test]
    fn time_scales_from_orcamdf_page_vectors() {
        // OrcaMDF SqlTimeTests: 11:22:33 at each scale (with .1, .12, … fractions).
        let cases: [(u8, &[u8], u64); 8] = [
            (0, &[0xf9, 0x9f, 0x00], 40_953),
            (1, &[0xbb, 0x3f, 0x06], 409_531),
            (2, &[0x50, 0x7d, 0x3e], 4_095_312),
            (3, &[0x23, 0xe5, 0x70, 0x02], 40_953_123),
            (4, &[0x63, 0xf3, 0x68, 0x18], 409_531_235),
            (5, &[0xda, 0x81, 0x19, 0xf4, 0x00], 4_095_312_346),
            (6, &[0x81, 0x12, 0xff, 0x88, 0x09], 40_953_123_457),
            (7, &[0x07, 0xb9, 0xf6, 0x59, 0x5f], 409_531_234_567),
        ];
        for (scale, b, ticks) in cases {
            assert_eq!(ok(&SqlType::Time { scale }, b), Value::Time { ticks, scale });
            assert_eq!(kind(&SqlType::Time { scale }, &b[1..]), ErrorKind::Corrupt);
        }
        // 24:00:00 at scale 0 (86400 s) is not a time of day; scale 8 is not a type.
        assert_eq!(kind(&SqlType::Time { scale: 0 }, &[0x80, 0x51, 0x01]), ErrorKind::Corrupt);
        assert_eq!(kind(&SqlType::Time { scale: 8 }, &[0; 5]), ErrorKind::Catalog);
    }

    #[test]
    fn datetime2_and_datetimeoffset() {
        // datetime2(7) 9999-12-31 23:59:59.9999999: ticks 863999999999, day 3652058.
        let mut b = 863_999_999_999u64.to_le_bytes()[..5].to_vec();
        b.extend_from_slice(&MAX_DATE_DAYS.to_le_bytes()[..3]);
        assert_eq!(
            ok(&SqlType::DateTime2 { scale: 7 }, &b),
            Value::DateTime2 { days: MAX_DATE_DAYS, ticks: 863_999_999_999, scale: 7 }
        );
        assert_eq!(kind(&SqlType::DateTime2 { scale: 2 }, &b), ErrorKind::Corrupt);
        // datetimeoffset docs example '2007-05-08 12:35:29.1234567 -08:00' is stored as
        // its UTC instant 20:35:29.1234567 of 2007-05-08 and offset -480.
        let ticks = (20 * 3600 + 35 * 60 + 29) * 10_000_000 + 1_234_567u64;
        let days = ymd_to_days(2007, 5, 8).unwrap();
        let mut b = ticks.to_le_bytes()[..5].to_vec();
        b.extend_from_slice(&days.to_le_bytes()[..3]);
        b.extend_from_slice(&(-480i16).to_le_bytes());
        assert_eq!(
            ok(&SqlType::DateTimeOffset { scale: 7 }, &b),
            Value::DateTimeOffset { days, ticks, scale: 7, offset_minutes: -480 }
        );
        // Offsets beyond ±14:00 are corrupt.
        let n = b.len();
        b[n - 2..].copy_from_slice(&(-841i16).to_le_bytes());
        assert_eq!(kind(&SqlType::DateTimeOffset { scale: 7 }, &b), ErrorKind::Corrupt);
        // datetimeoffset(0): 3 + 3 + 2 bytes, +14:00.
        let b = [0, 0, 0, 0, 0, 0, 0x48, 0x03];
        assert_eq!(
            ok(&SqlType::DateTimeOffset { scale: 0 }, &b),
            Value::DateTimeOffset { days: 0, ticks: 0, scale: 0, offset_minutes: 840 }
        );
    }

    #[test]
    fn datetime_from_orcamdf_page_vectors_and_extremes() {
        // OrcaMDF SqlDateTimeTests: 2001-09-25 05:39:26.820 and 9999-12-31 23:59:59.997.
        let Value::DateTime { days, ticks } = ok(&SqlType::DateTime, &[0x5e, 0x3b, 0x5d, 0x00, 0x25, 0x91, 0x00, 0x00])
        else {
            panic!()
        };
        assert_eq!(days_to_ymd(days + DAYS_0001_TO_1900), (2001, 9, 25));
        assert_eq!(datetime_ticks_to_millis(ticks), (5 * 3600 + 39 * 60 + 26) * 1000 + 820);
        let max = ok(&SqlType::DateTime, &[0xff, 0x81, 0x8b, 0x01, 0x7f, 0x24, 0x2d, 0x00]);
        assert_eq!(max, Value::DateTime { days: DATETIME_MAX_DAYS, ticks: DATETIME_TICKS_PER_DAY - 1 });
        assert_eq!(datetime_ticks_to_millis(DATETIME_TICKS_PER_DAY - 1), 86_399_997);
        // 1753-01-01 00:00:00.000: days -53690 since 1900-01-01.
        let mut b = [0u8; 8];
        b[4..].copy_from_slice(&DATETIME_MIN_DAYS.to_le_bytes());
        assert_eq!(ok(&SqlType::DateTime, &b), Value::DateTime { days: DATETIME_MIN_DAYS, ticks: 0 });
        assert_eq!(days_to_ymd(DATETIME_MIN_DAYS + DAYS_0001_TO_1900), (1753, 1, 1));
        b[4..].copy_from_slice(&(DATETIME_MIN_DAYS - 1).to_le_bytes());
        assert_eq!(kind(&SqlType::DateTime, &b), ErrorKind::Corrupt);
        // Northwind fixture: OrderDate 1996-07-04 stored 00 00 00 00 B0 89 00 00.
        let v = ok(&SqlType::DateTime, &[0, 0, 0, 0, 0xB0, 0x89, 0, 0]);
        assert_eq!(v, Value::DateTime { days: ymd_to_days(1996, 7, 4).unwrap() - DAYS_0001_TO_1900, ticks: 0 });
        assert_eq!(kind(&SqlType::DateTime, &DATETIME_TICKS_PER_DAY.to_le_bytes()), ErrorKind::Corrupt);
    }

    #[test]
    fn smalldatetime_from_orcamdf_page_vectors() {
        // OrcaMDF SqlSmallDateTimeTests: ab 02 5d 26 = 1926-11-22 11:23.
        let Value::SmallDateTime { days, minutes } = ok(&SqlType::SmallDateTime, &[0xab, 0x02, 0x5d, 0x26]) else {
            panic!()
        };
        assert_eq!(days_to_ymd(i32::from(days) + DAYS_0001_TO_1900), (1926, 11, 22));
        assert_eq!(minutes, 11 * 60 + 23);
        // 2079-06-06 23:59 is the documented maximum: day 65535, minute 1439.
        assert_eq!(days_to_ymd(65_535 + DAYS_0001_TO_1900), (2079, 6, 6));
        assert_eq!(
            ok(&SqlType::SmallDateTime, &[0x9F, 0x05, 0xFF, 0xFF]),
            Value::SmallDateTime { days: 65535, minutes: 1439 }
        );
        assert_eq!(kind(&SqlType::SmallDateTime, &[0xA0, 0x05, 0, 0]), ErrorKind::Corrupt);
    }

    #[test]
    fn calendar_helpers() {
        assert_eq!(days_to_ymd(0), (1, 1, 1));
        assert_eq!(days_to_ymd(DAYS_0001_TO_1900), (1900, 1, 1));
        assert_eq!(days_to_ymd(730_119), (2000, 1, 1));
        assert_eq!(days_to_ymd(MAX_DATE_DAYS), (9999, 12, 31));
        assert_eq!(days_to_ymd(-1), (0, 12, 31));
        assert_eq!(ymd_to_days(9999, 12, 31), Some(MAX_DATE_DAYS));
        assert_eq!(ymd_to_days(2000, 2, 29), Some(730_178));
        assert_eq!(ymd_to_days(1900, 2, 29), None);
        assert_eq!(ymd_to_days(2100, 2, 29), None);
        assert_eq!(ymd_to_days(2023, 13, 1), None);
        assert_eq!(ymd_to_days(2023, 4, 31), None);
        // Every day of 0001..=9999 and beyond round-trips.
        for d in (-800_000..4_000_000).step_by(7) {
            let (y, m, dd) = days_to_ymd(d);
            assert_eq!(ymd_to_days(y, m, dd), Some(d), "{d}");
        }
    }

    #[test]
    fn datetime_tick_conversions() {
        assert_eq!([0, 1, 2, 3, 299, 300].map(datetime_ticks_to_millis), [0, 3, 7, 10, 997, 1000]);
        assert_eq!([1, 2, 3].map(datetime_ticks_to_nanos), [3_333_333, 6_666_667, 10_000_000]);
        assert_eq!([1, 2, 3].map(datetime_ticks_to_100ns), [33_333, 66_667, 100_000]);
        // The displayed milliseconds always end in 0, 3 or 7.
        for t in 0..3000 {
            assert!(matches!(datetime_ticks_to_millis(t) % 10, 0 | 3 | 7), "{t}");
        }
    }

    #[test]
    fn bit_variant_xml_unknown() {
        assert_eq!(ok(&SqlType::Bit, &[1]), Value::Bit(true));
        assert_eq!(kind(&SqlType::Bit, &[2]), ErrorKind::Corrupt);
        assert_eq!(
            ok(&SqlType::SqlVariant, &[0x38, 1, 7, 0, 0, 0]),
            Value::Variant(Box::new((SqlType::Int, Value::Int(7))))
        );
        // <a/> in binary XML (see binxml tests for the token layout).
        let x = [0xDF, 0xFF, 1, 0xB0, 0x04, 0xF0, 1, b'a', 0, 0xEF, 0, 0, 1, 0xF8, 1, 0xF7];
        assert_eq!(ok(&SqlType::Xml, &x), Value::Xml("<a/>".into()));
        let json = SqlType::Unknown { type_id: 244, name: "json".into(), max_length: -1 };
        assert_eq!(kind(&json, b"{}"), ErrorKind::Unsupported);
    }

    /// Every type `decode` can be asked for, with small declared lengths so that random
    /// inputs also hit the success paths.
    fn all_types() -> Vec<SqlType> {
        let c = coll(0x3400D008);
        let mut v = vec![
            SqlType::Bit,
            SqlType::TinyInt,
            SqlType::SmallInt,
            SqlType::Int,
            SqlType::BigInt,
            SqlType::Real,
            SqlType::Float,
            SqlType::Money,
            SqlType::SmallMoney,
            SqlType::Char { len: 4, collation: c.clone() },
            SqlType::VarChar { len: Some(8), collation: c.clone() },
            SqlType::VarChar { len: None, collation: coll(0xD010) },
            SqlType::VarChar { len: None, collation: coll(0x2000D008) },
            SqlType::VarChar { len: None, collation: coll(0x4D108 | (1 << 10)) },
            SqlType::Text { collation: coll(0xD024) },
            SqlType::NChar { len: 2, collation: c.clone() },
            SqlType::NVarChar { len: Some(4), collation: c.clone() },
            SqlType::NVarChar { len: None, collation: c.clone() },
            SqlType::NText { collation: c },
            SqlType::Binary { len: 4 },
            SqlType::VarBinary { len: Some(8) },
            SqlType::VarBinary { len: None },
            SqlType::Image,
            SqlType::UniqueIdentifier,
            SqlType::Date,
            SqlType::SmallDateTime,
            SqlType::DateTime,
            SqlType::RowVersion,
            SqlType::SqlVariant,
            SqlType::Xml,
            SqlType::HierarchyId,
            SqlType::Geometry,
            SqlType::Geography,
            SqlType::Clr { name: "dbo.T".into(), max_length: 8 },
            SqlType::Unknown { type_id: 244, name: "json".into(), max_length: -1 },
        ];
        for scale in 0..=8 {
            v.push(SqlType::Time { scale });
            v.push(SqlType::DateTime2 { scale });
            v.push(SqlType::DateTimeOffset { scale });
        }
        for (precision, scale) in [(1, 0), (9, 2), (19, 4), (28, 28), (38, 10), (0, 0), (40, 1)] {
            v.push(SqlType::Decimal { precision, scale, numeric: false });
        }
        v
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40)) {
            let mut st = DecodeStats::default();
            for ty in all_types() {
                let _ = decode(&ty, &bytes, &mut st);
            }
        }

        #[test]
        fn variant_and_xml_never_panic_past_their_headers(
            base in proptest::sample::select(crate::variant::BASE_TYPES.to_vec()),
            tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
        ) {
            let mut st = DecodeStats::default();
            let mut v = vec![base, 1];
            v.extend_from_slice(&tail);
            let _ = decode(&SqlType::SqlVariant, &v, &mut st);
            let mut x = vec![0xDF, 0xFF, 2, 0xB0, 0x04];
            x.extend_from_slice(&tail);
            let _ = decode(&SqlType::Xml, &x, &mut st);
        }

        #[test]
        fn calendar_round_trips(d in proptest::prelude::any::<i32>()) {
            let (y, m, dd) = days_to_ymd(d);
            proptest::prop_assert_eq!(ymd_to_days(y, m, dd), Some(d));
        }
    }
}
