//! FixedVar records, the row format of uncompressed heaps, B-trees and system tables.
//!
//! Layout (per OrcaMDF's `Record`/`PrimaryRecord` and Kalen Delaney's *SQL Server Internals*,
//! checked on the fixtures):
//!
//! ```text
//! 0        status bits A: bits 1-3 record type, 0x10 null bitmap, 0x20 variable columns,
//!          0x40 14-byte versioning tag at the end
//! 1        status bits B: 0x01 ghost forwarded record
//! 2..4     u16: offset of the column count = end of the fixed-length data
//! 4..      fixed-length column data
//! f..f+2   u16: number of columns
//! ..       null bitmap, ceil(columns / 8) bytes, bit i (LSB first) set = column i+1 is NULL
//! ..       u16 number of variable-length columns, then one u16 end offset per variable
//!          column (from the record start; bit 0x8000 marks a "complex" column: a
//!          row-overflow or LOB pointer, a sparse vector or a forwarding back-pointer)
//! ..       variable-length column data, back to back
//! ```
//!
//! A forwarding stub is 9 bytes: status byte A (type 2), then the 8-byte RID (`u32` page,
//! `u16` file, `u16` slot) of the forwarded record.

use crate::types::PageId;
use crate::{Error, Result};

/// Record types (bits 1–3 of status byte A).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    /// 0: a row of a heap or B-tree leaf.
    Primary,
    /// 1: a heap row moved off its original page (the stub stayed there).
    Forwarded,
    /// 2: the stub left where a forwarded row was.
    ForwardingStub,
    /// 3: an index row (B-tree non-leaf or nonclustered leaf).
    Index,
    /// 4: a LOB fragment (text/image pages).
    BlobFragment,
    /// 5: a deleted index row awaiting cleanup.
    GhostIndex,
    /// 6: a deleted data row awaiting cleanup.
    GhostData,
    /// 7: a ghost version record.
    GhostVersion,
}

impl RecordType {
    /// The type encoded in status byte A.
    pub fn of(status_a: u8) -> RecordType {
        match (status_a >> 1) & 7 {
            0 => RecordType::Primary,
            1 => RecordType::Forwarded,
            2 => RecordType::ForwardingStub,
            3 => RecordType::Index,
            4 => RecordType::BlobFragment,
            5 => RecordType::GhostIndex,
            6 => RecordType::GhostData,
            _ => RecordType::GhostVersion,
        }
    }
}

/// A record ID: page and slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rid {
    /// Page.
    pub page: PageId,
    /// Slot on that page.
    pub slot: u16,
}

impl Rid {
    /// Decodes the 8-byte on-disk form (`u32` page, `u16` file, `u16` slot).
    pub fn from_bytes(b: &[u8]) -> Option<Rid> {
        let page = PageId::from_bytes(b)?;
        let slot = u16::from_le_bytes([*b.get(6)?, *b.get(7)?]);
        Some(Rid { page, slot })
    }
}

/// A parsed FixedVar record, borrowing the page bytes.
#[derive(Debug, Clone, Copy)]
pub struct Record<'a> {
    bytes: &'a [u8],
    status_a: u8,
    status_b: u8,
    fixed_end: usize,
    column_count: usize,
    null_bitmap: &'a [u8],
    var_count: usize,
    var_table: usize,
    len: usize,
}

impl<'a> Record<'a> {
    /// Parses the record starting at `area[0]`; `area` runs to the end of the record area
    /// of the page, so every offset is bounds-checked against it.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Corrupt`] when an offset or count points outside `area`.
    pub fn parse(area: &'a [u8]) -> Result<Record<'a>> {
        let bad = |what: String| Error::corrupt(format!("malformed record: {what}"));
        if area.len() < 4 {
            return Err(bad(format!("only {} bytes", area.len())));
        }
        let status_a = area[0];
        let status_b = area[1];
        let fixed_end = usize::from(u16::from_le_bytes([area[2], area[3]]));
        if fixed_end < 4 || fixed_end > area.len() {
            return Err(bad(format!("fixed-length data ends at {fixed_end}, outside the record")));
        }
        let mut pos = fixed_end;
        let (column_count, null_bitmap) = if status_a & 0x10 != 0 {
            let n = area.get(pos..pos + 2).ok_or_else(|| bad("column count overruns".into()))?;
            let n = usize::from(u16::from_le_bytes([n[0], n[1]]));
            pos += 2;
            let nb = n.div_ceil(8);
            let bitmap = area.get(pos..pos + nb).ok_or_else(|| bad(format!("null bitmap of {n} columns overruns")))?;
            pos += nb;
            (n, bitmap)
        } else {
            (usize::MAX, &area[..0])
        };
        let (var_count, var_table, len) = if status_a & 0x20 != 0 {
            let vc = area.get(pos..pos + 2).ok_or_else(|| bad("variable column count overruns".into()))?;
            let vc = usize::from(u16::from_le_bytes([vc[0], vc[1]]));
            let table = pos + 2;
            let data_start = table + 2 * vc;
            if data_start > area.len() {
                return Err(bad(format!("{vc} variable column offsets overrun")));
            }
            let end = if vc == 0 {
                data_start
            } else {
                let at = table + 2 * (vc - 1);
                usize::from(u16::from_le_bytes([area[at], area[at + 1]]) & 0x7fff)
            };
            if end < data_start || end > area.len() {
                return Err(bad(format!("variable data ends at {end}, outside {data_start}..{}", area.len())));
            }
            (vc, table, end)
        } else {
            (0, pos, pos)
        };
        let len = if status_a & 0x40 != 0 { len + 14 } else { len };
        if len > area.len() {
            return Err(bad("versioning tag overruns".into()));
        }
        Ok(Record { bytes: area, status_a, status_b, fixed_end, column_count, null_bitmap, var_count, var_table, len })
    }

    /// The record type.
    pub fn record_type(&self) -> RecordType {
        RecordType::of(self.status_a)
    }

    /// Status byte B has the ghost-forwarded bit.
    pub fn is_ghost_forwarded(&self) -> bool {
        self.status_b & 1 != 0
    }

    /// The record's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when the record has no bytes (never, for a parsed record).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The record's bytes.
    pub fn bytes(&self) -> &'a [u8] {
        &self.bytes[..self.len]
    }

    /// Offset where the fixed-length data ends (the column count's position).
    pub fn fixed_end(&self) -> usize {
        self.fixed_end
    }

    /// Number of columns recorded in the row (rows written before an ADD COLUMN have
    /// fewer than the table). `usize::MAX` when the record has no null bitmap.
    pub fn column_count(&self) -> usize {
        self.column_count
    }

    /// Number of variable-length columns recorded in the row.
    pub fn var_count(&self) -> usize {
        self.var_count
    }

    /// The `len` bytes at record offset `offset`, when they lie inside the fixed part.
    pub fn fixed(&self, offset: usize, len: usize) -> Option<&'a [u8]> {
        if offset < 4 || offset + len > self.fixed_end {
            return None;
        }
        Some(&self.bytes[offset..offset + len])
    }

    /// Whether the null bitmap marks column `bit` (1-based null bit, as
    /// `sysrscols.nullbit`) as NULL. A column beyond the recorded column count is NULL.
    pub fn is_null(&self, bit: usize) -> bool {
        if bit == 0 {
            return false;
        }
        if self.column_count == usize::MAX {
            return false;
        }
        if bit > self.column_count {
            return true;
        }
        let i = bit - 1;
        self.null_bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Variable-length column `index` (0-based among the variable columns): its bytes and
    /// whether it is complex (bit 0x8000 of its end offset). `None` when the row records
    /// fewer variable columns.
    pub fn var(&self, index: usize) -> Option<(&'a [u8], bool)> {
        if index >= self.var_count {
            return None;
        }
        let entry = |i: usize| {
            let at = self.var_table + 2 * i;
            u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]])
        };
        let start =
            if index == 0 { self.var_table + 2 * self.var_count } else { usize::from(entry(index - 1) & 0x7fff) };
        let raw_end = entry(index);
        let end = usize::from(raw_end & 0x7fff);
        // Offsets only grow; a shrinking one means the record is damaged.
        let bytes = self.bytes.get(start..end.max(start))?;
        if end < start {
            return Some((&self.bytes[..0], false));
        }
        Some((bytes, raw_end & 0x8000 != 0))
    }

    /// The RID a forwarding stub points at.
    pub fn forwarding_target(&self) -> Option<Rid> {
        Rid::from_bytes(self.bytes.get(1..9)?)
    }
}

/// Reads the RID of a forwarding stub (9 bytes: status byte then the RID) at `area`.
pub fn forwarding_stub_target(area: &[u8]) -> Option<Rid> {
    Rid::from_bytes(area.get(1..9)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record with fixed int 7 at offset 4, 3 columns (2nd NULL), one var column "ab".
    fn sample() -> Vec<u8> {
        let mut r = vec![0x30, 0, 8, 0];
        r.extend(7i32.to_le_bytes());
        r.extend(3u16.to_le_bytes());
        r.push(0b010);
        r.extend(1u16.to_le_bytes());
        let end = (r.len() + 2 + 2) as u16;
        r.extend(end.to_le_bytes());
        r.extend(b"ab");
        r.extend([0xAA; 5]); // next record's bytes
        r
    }

    #[test]
    fn parses_fixed_null_and_variable_parts() {
        let bytes = sample();
        let r = Record::parse(&bytes).unwrap();
        assert_eq!(r.record_type(), RecordType::Primary);
        assert_eq!(r.fixed(4, 4).unwrap(), 7i32.to_le_bytes());
        assert!(r.fixed(6, 4).is_none());
        assert!(!r.is_null(1));
        assert!(r.is_null(2));
        assert!(r.is_null(4), "columns beyond the recorded count are NULL");
        assert_eq!(r.var(0), Some((&b"ab"[..], false)));
        assert_eq!(r.var(1), None);
        assert_eq!(r.len(), bytes.len() - 5);
    }

    #[test]
    fn rejects_offsets_outside_the_area() {
        let mut bytes = sample();
        bytes[2] = 200;
        assert!(Record::parse(&bytes).is_err());
        let mut bytes = sample();
        let n = bytes.len();
        bytes.truncate(n - 6);
        assert!(Record::parse(&bytes).is_err());
    }
}
