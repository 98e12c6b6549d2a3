//! Small value types of the backup header: log sequence numbers, GUIDs, MTF date-times,
//! the product version and the database collation. Each knows its on-disk form and a
//! text form; the text form is what `inspect --json` prints.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::value::guid_string;

/// A log sequence number as SQL Server stores it: 10 bytes, `u32` virtual log file
/// sequence number, `u32` log block offset (in 512-byte units), `u16` slot of the record
/// in that block, little-endian.
///
/// Text form `vlf:block:slot` in decimal (`90:380:210`), as `DBCC PAGE` and `fn_dblog`
/// print it; [`Lsn::numeric`] gives the single number `RESTORE HEADERONLY` prints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Lsn {
    /// Virtual log file sequence number.
    pub vlf: u32,
    /// Log block offset within the VLF.
    pub block: u32,
    /// Log record slot within the block.
    pub slot: u16,
}

impl Lsn {
    /// Decodes the 10 stored bytes.
    pub fn from_bytes(b: &[u8; 10]) -> Lsn {
        Lsn {
            vlf: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            block: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
            slot: u16::from_le_bytes([b[8], b[9]]),
        }
    }
    /// True for `0:0:0`, which SQL Server stores for "no LSN".
    pub fn is_zero(self) -> bool {
        self.vlf == 0 && self.block == 0 && self.slot == 0
    }
    /// The decimal form of `RESTORE HEADERONLY` and `msdb.dbo.backupset`:
    /// `vlf × 10^15 + block × 10^5 + slot` (`90:380:210` is `90000000038000210`).
    pub fn numeric(self) -> u128 {
        u128::from(self.vlf) * 1_000_000_000_000_000 + u128::from(self.block) * 100_000 + u128::from(self.slot)
    }
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.vlf, self.block, self.slot)
    }
}

impl From<Lsn> for String {
    fn from(l: Lsn) -> String {
        l.to_string()
    }
}

impl FromStr for Lsn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not an LSN of the form vlf:block:slot");
        let mut parts = s.split(':');
        let (Some(a), Some(b), Some(c), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(bad());
        };
        Ok(Lsn {
            vlf: a.parse().map_err(|_| bad())?,
            block: b.parse().map_err(|_| bad())?,
            slot: c.parse().map_err(|_| bad())?,
        })
    }
}

impl TryFrom<String> for Lsn {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A GUID in SQL Server's storage order (the first three groups little-endian). Text form
/// as [`guid_string`] prints it: `6f9619ff-8b86-d011-b42d-00c04fc964ff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// True for the all-zero GUID (SQL Server's "none").
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&guid_string(&self.0))
    }
}

impl From<Guid> for String {
    fn from(g: Guid) -> String {
        g.to_string()
    }
}

impl FromStr for Guid {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a GUID of the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
        let groups: Vec<&str> = s.split('-').collect();
        if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
            return Err(bad());
        }
        let hex: String = groups.concat();
        let mut text = [0u8; 16];
        for (i, byte) in text.iter_mut().enumerate() {
            let pair = hex.get(2 * i..2 * i + 2).ok_or_else(bad)?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| bad())?;
        }
        // Text order back to storage order: the first three groups are little-endian.
        let t = text;
        Ok(Guid([t[3], t[2], t[1], t[0], t[5], t[4], t[7], t[6], t[8], t[9], t[10], t[11], t[12], t[13], t[14], t[15]]))
    }
}

impl TryFrom<String> for Guid {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// A date and time to the second, as the backup records it: the server's local wall-clock
/// time, with the server's offset from UTC when the backup states it.
///
/// Text form ISO 8601: `2015-02-05T21:35:33-05:00`, or `2015-02-05T21:35:33` when the
/// offset is unknown.
///
/// On disk this is the 5-byte `MTF_DATE_TIME` of the Microsoft Tape Format 1.00a: 40 bits,
/// big-endian, year 14 bits, month 4, day 5, hour 5, minute 6, second 6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct Timestamp {
    /// Year (the format allows 0..=16383).
    pub year: u16,
    /// Month, 1..=12.
    pub month: u8,
    /// Day of the month, 1..=31.
    pub day: u8,
    /// Hour, 0..=23.
    pub hour: u8,
    /// Minute, 0..=59.
    pub minute: u8,
    /// Second, 0..=59.
    pub second: u8,
    /// Offset of the local time from UTC in minutes (UTC = local − offset), when known.
    pub utc_offset_minutes: Option<i16>,
}

/// Why 5 stored bytes are not a date-time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MtfDateError {
    /// A field is out of its range (month 13, hour 24…).
    OutOfRange,
}

impl Timestamp {
    /// Decodes an `MTF_DATE_TIME`. All-zero bytes mean "no date" and give `Ok(None)`.
    pub(crate) fn from_mtf(b: &[u8; 5]) -> Result<Option<Timestamp>, MtfDateError> {
        let v = b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
        if v == 0 {
            return Ok(None);
        }
        let t = Timestamp {
            year: (v >> 26) as u16,
            month: ((v >> 22) & 0xf) as u8,
            day: ((v >> 17) & 0x1f) as u8,
            hour: ((v >> 12) & 0x1f) as u8,
            minute: ((v >> 6) & 0x3f) as u8,
            second: (v & 0x3f) as u8,
            utc_offset_minutes: None,
        };
        if t.is_valid() { Ok(Some(t)) } else { Err(MtfDateError::OutOfRange) }
    }

    fn is_valid(&self) -> bool {
        (1..=12).contains(&self.month)
            && (1..=31).contains(&self.day)
            && self.hour < 24
            && self.minute < 60
            && self.second < 60
            && self.utc_offset_minutes.is_none_or(|m| m.abs() < 24 * 60)
    }

    /// This time with `offset` as its UTC offset.
    pub fn with_offset(self, offset: Option<i16>) -> Timestamp {
        Timestamp { utc_offset_minutes: offset, ..self }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if let Some(m) = self.utc_offset_minutes {
            let sign = if m < 0 { '-' } else { '+' };
            write!(f, "{sign}{:02}:{:02}", m.unsigned_abs() / 60, m.unsigned_abs() % 60)?;
        }
        Ok(())
    }
}

impl From<Timestamp> for String {
    fn from(t: Timestamp) -> String {
        t.to_string()
    }
}

impl FromStr for Timestamp {
    type Err = String;
    /// Parses exactly the forms [`Display`](fmt::Display) writes.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("{s:?} is not a date-time of the form YYYY-MM-DDTHH:MM:SS[±HH:MM]");
        let num = |range: std::ops::Range<usize>| -> Result<u16, String> {
            let part = s.get(range).ok_or_else(bad)?;
            if part.bytes().all(|c| c.is_ascii_digit()) { part.parse().map_err(|_| bad()) } else { Err(bad()) }
        };
        let sep = |i: usize, c: u8| s.as_bytes().get(i) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return Err(bad());
        }
        let small = |r| num(r).and_then(|v| u8::try_from(v).map_err(|_| bad()));
        let utc_offset_minutes = match s.len() {
            19 => None,
            25 if sep(22, b':') => {
                let minutes = i16::try_from(num(20..22)? * 60 + num(23..25)?).map_err(|_| bad())?;
                match s.as_bytes()[19] {
                    b'+' => Some(minutes),
                    b'-' => Some(-minutes),
                    _ => return Err(bad()),
                }
            }
            _ => return Err(bad()),
        };
        let t = Timestamp {
            year: num(0..4)?,
            month: small(5..7)?,
            day: small(8..10)?,
            hour: small(11..13)?,
            minute: small(14..16)?,
            second: small(17..19)?,
            utc_offset_minutes,
        };
        if t.is_valid() { Ok(t) } else { Err(bad()) }
    }
}

impl TryFrom<String> for Timestamp {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

/// The SQL Server product version that wrote the backup (`SERVERPROPERTY('ProductVersion')`
/// without the revision): `10.50.2500` is SQL Server 2008 R2 SP1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProductVersion {
    /// Major version: 9 (2005), 10 (2008, 2008 R2), 11 (2012), 12 (2014), 13 (2016),
    /// 14 (2017), 15 (2019), 16 (2022), 17 (2025).
    pub major: u8,
    /// Minor version: 50 for 2008 R2, 0 otherwise.
    pub minor: u8,
    /// Build number.
    pub build: u16,
}

impl fmt::Display for ProductVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.build)
    }
}

/// The database's default collation as the backup header stores it: the 5-byte collation
/// of the TDS protocol ([MS-TDS] 2.2.5.1.2 "Collation Rule Definition"): a `u32`
/// little-endian holding the LCID (bits 0..20), comparison flags (bits 20..28) and version
/// (bits 28..32), then a sort-id byte.
///
/// This is not the 32-bit collation id of the catalog ([`crate::Collation`]); the
/// `collation` module maps either to a name and code page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DatabaseCollation {
    /// Windows locale id (`0x409` en-US, `0xc0a` es-ES modern sort, `0x40c` fr-FR…).
    pub lcid: u32,
    /// Comparison flags, least significant bit first: ignore case (0x01), ignore accent
    /// (0x02), ignore kana type (0x04), ignore width (0x08), binary (0x10), binary code
    /// point (0x20), UTF-8 (0x40). `0x0d` is `_CI_AS`.
    pub flags: u8,
    /// Collation version (the `_90`, `_100`, `_140` families), 0 for the oldest.
    pub version: u8,
    /// SQL sort order id (52 is `SQL_Latin1_General_CP1_CI_AS`); 0 for Windows collations.
    pub sort_id: u8,
}

impl DatabaseCollation {
    /// Decodes the 5 stored bytes; `None` when all are zero (no collation stored).
    pub fn from_bytes(b: &[u8; 5]) -> Option<DatabaseCollation> {
        if b == &[0; 5] {
            return None;
        }
        let word = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        Some(DatabaseCollation {
            lcid: word & 0x000f_ffff,
            flags: ((word >> 20) & 0xff) as u8,
            version: (word >> 28) as u8,
            sort_id: b[4],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtf_date_decodes_the_packed_fields() {
        // SSET media write date of northwind-sql2008r2.bak.
        let t = Timestamp::from_mtf(&[0x1f, 0x7c, 0x8b, 0x58, 0xe1]).unwrap().unwrap();
        assert_eq!(t.to_string(), "2015-02-05T21:35:33");
        assert_eq!(t.with_offset(Some(-300)).to_string(), "2015-02-05T21:35:33-05:00");
        assert_eq!(t.with_offset(Some(330)).to_string(), "2015-02-05T21:35:33+05:30");
        assert_eq!(Timestamp::from_mtf(&[0; 5]), Ok(None));
        // Month 15 does not exist.
        assert_eq!(Timestamp::from_mtf(&[0x1f, 0x7f, 0xcb, 0x58, 0xe1]), Err(MtfDateError::OutOfRange));
    }

    #[test]
    fn text_forms_round_trip() {
        for s in ["2015-02-05T21:35:33-05:00", "2011-08-10T19:46:56+05:30", "2019-05-05T17:55:37"] {
            let t: Timestamp = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        for bad in ["2015-02-05 21:35:33", "2015-13-05T21:35:33", "2015-02-05T21:35:33Z", "x"] {
            assert!(bad.parse::<Timestamp>().is_err(), "{bad}");
        }
        let g: Guid = "6f51309a-132d-4ecc-a14a-50041948cf8e".parse().unwrap();
        assert_eq!(g.0[..4], [0x9a, 0x30, 0x51, 0x6f]);
        assert_eq!(g.to_string(), "6f51309a-132d-4ecc-a14a-50041948cf8e");
        assert!("6f51309a-132d-4ecc-a14a-50041948cf8".parse::<Guid>().is_err());
        let l: Lsn = "90:380:210".parse().unwrap();
        assert_eq!(l, Lsn { vlf: 90, block: 380, slot: 210 });
        assert_eq!(l.numeric(), 90_000_000_038_000_210);
        assert!("90:380".parse::<Lsn>().is_err());
        let json = serde_json::to_string(&(l, g, "2015-02-05T21:35:33-05:00".parse::<Timestamp>().unwrap())).unwrap();
        assert_eq!(json, r#"["90:380:210","6f51309a-132d-4ecc-a14a-50041948cf8e","2015-02-05T21:35:33-05:00"]"#);
        let back: (Lsn, Guid, Timestamp) = serde_json::from_str(&json).unwrap();
        assert_eq!(back.0, l);
    }

    #[test]
    fn collation_splits_the_tds_word() {
        // SQL_Latin1_General_CP1_CI_AS as stored in the SCIN record.
        let c = DatabaseCollation::from_bytes(&[0x09, 0x04, 0xd0, 0x00, 0x34]).unwrap();
        assert_eq!(c, DatabaseCollation { lcid: 0x409, flags: 0x0d, version: 0, sort_id: 52 });
        assert_eq!(DatabaseCollation::from_bytes(&[0; 5]), None);
    }
}
