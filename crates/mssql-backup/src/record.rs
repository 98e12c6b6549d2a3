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
//! `u16` file, `u16` slot) of the forwarded record; it has no FixedVar layout, so its type
//! is looked at before anything else (`northwind-sql2008-forwarded.bak`: 573 stubs, e.g.
//! page 1:354 slot 12 = `04 6b 01 00 00 01 00 00 00` → 1:363 slot 0).
//!
//! A forwarded record (type 1) is an ordinary FixedVar record whose last variable-length
//! column is a 10-byte complex column, the back-pointer to its stub: `00 04` (complex
//! column id 0x0400) then the stub's RID (same fixture: 1:363 slot 0 ends with
//! `00 04 62 01 00 00 01 00 0c 00` → 1:354 slot 12).
//!
//! Variable-length columns at the end of a record whose values have zero length are left
//! out of the offset array: a column past the recorded variable-column count holds `''`
//! (or `0x`) unless its null bit says NULL (`hotel-zeynab-ef-sql2017.bak`, reservation
//! Id 24: 12 variable columns, 10 offsets, null bitmap clear). A column whose null bit lies
//! past the record's column count was added to the table after the row was written: the
//! row does not hold it at all ([`Record::lacks_column`]).

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
    back_pointer: Option<Rid>,
}

impl<'a> Record<'a> {
    /// Parses the record starting at `area[0]`; `area` runs to the end of the record area
    /// of the page, so every offset is bounds-checked against it.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Corrupt`] when an offset or count points outside `area`, for a
    /// forwarding stub (it has no FixedVar layout: see [`forwarding_stub_target`]), and for
    /// a forwarded record without its back-pointer.
    pub fn parse(area: &'a [u8]) -> Result<Record<'a>> {
        let bad = |what: String| Error::corrupt(format!("malformed record: {what}"));
        if area.len() < 4 {
            return Err(bad(format!("only {} bytes", area.len())));
        }
        let status_a = area[0];
        if RecordType::of(status_a) == RecordType::ForwardingStub {
            return Err(bad("a forwarding stub has no FixedVar layout".into()));
        }
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
        let mut rec = Record {
            bytes: area,
            status_a,
            status_b,
            fixed_end,
            column_count,
            null_bitmap,
            var_count,
            var_table,
            len,
            back_pointer: None,
        };
        if rec.record_type() == RecordType::Forwarded {
            let last = var_count.checked_sub(1).and_then(|i| rec.var(i));
            match last {
                Some((b, true)) if b.len() == 10 && b[..2] == [0x00, 0x04] => {
                    rec.back_pointer = Rid::from_bytes(&b[2..]);
                }
                _ => return Err(bad("a forwarded record without its back-pointer to the forwarding stub".into())),
            }
        }
        Ok(rec)
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
    #[cfg(any(test, feature = "internals"))]
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

    /// Whether the row lacks column `bit` (1-based null bit, as `sysrscols.nullbit`)
    /// altogether: its null bitmap records fewer columns, so the column was added to the
    /// table after the row was written. What such a column holds is the catalog's
    /// business (NULL, or the default SQL Server 2012+ keeps for a column added with
    /// one), not the row's. False without a null bitmap (nothing can be told).
    pub fn lacks_column(&self, bit: usize) -> bool {
        bit > 0 && self.column_count != usize::MAX && bit > self.column_count
    }

    /// Whether the null bitmap has column `bit`'s bit set. False for a column the row
    /// lacks ([`Record::lacks_column`]) and for bit 0 (no null bit).
    pub fn null_bit_set(&self, bit: usize) -> bool {
        if bit == 0 || self.lacks_column(bit) || self.column_count == usize::MAX {
            return false;
        }
        let i = bit - 1;
        self.null_bitmap.get(i / 8).is_some_and(|b| b & (1 << (i % 8)) != 0)
    }

    /// Whether the row has a null bitmap (status bit A 0x10).
    pub fn has_null_bitmap(&self) -> bool {
        self.column_count != usize::MAX
    }

    /// Whether column `bit` is NULL or lacking: for the system tables, whose columns
    /// added by later versions are NULL in rows written before.
    pub fn is_null(&self, bit: usize) -> bool {
        self.lacks_column(bit) || self.null_bit_set(bit)
    }

    /// Number of variable-length entries that hold column values: [`Record::var_count`]
    /// less a forwarded record's back-pointer. Value columns at or past this index have
    /// zero length (see the module documentation).
    pub fn value_var_count(&self) -> usize {
        self.var_count - usize::from(self.back_pointer.is_some())
    }

    /// A forwarded record's back-pointer: the RID of its forwarding stub.
    #[cfg(any(test, feature = "internals"))]
    pub fn back_pointer(&self) -> Option<Rid> {
        self.back_pointer
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
}

/// Reads the RID of a forwarding stub (9 bytes: status byte then the RID) at `area`.
pub fn forwarding_stub_target(area: &[u8]) -> Option<Rid> {
    Rid::from_bytes(area.get(1..9)?)
}

/// Checks an uncompressed (FixedVar) data page's records against its header, as SQL
/// Server keeps them: every used slot points into the record area (offset 96 up to
/// `m_freeData`); each record, as long as its own header says (9 bytes for a forwarding
/// stub), ends at or before `m_freeData` and before the next record starts; and
/// `m_freeCnt` = 8096 − 2 · `m_slotCnt` − the sum of the record lengths (free space
/// includes the gaps deleted records leave; exact on all 551 data pages of the fixtures).
/// Catches what a page checksum cannot: a page without one (torn-page protection only
/// covers 2 bits per sector), or damage before the checksum was computed.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] naming the page, the slot and what does not add up.
pub fn check_data_page(page: &crate::page::Page) -> Result<()> {
    let mut records = Vec::with_capacity(page.slot_count());
    for slot in 0..page.slot_count() {
        let Some(area) = page.record_area(slot)? else { continue };
        let len = if RecordType::of(area[0]) == RecordType::ForwardingStub {
            FORWARDING_STUB_LEN
        } else {
            Record::parse(area).map_err(|e| e.on_page(page.id()).context(format!("slot {slot}")))?.len()
        };
        records.push(PlacedRecord::new(page, slot, area, len));
    }
    check_page_space(page, &mut records)
}

/// Bytes of a forwarding stub: the status byte and the 8-byte RID of the moved row.
pub(crate) const FORWARDING_STUB_LEN: usize = 9;

/// Where one used slot's record lies on its page and how long it is (from its own header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct PlacedRecord {
    /// Byte offset of the record on the page.
    offset: usize,
    /// Record length in bytes.
    len: usize,
    /// Slot number.
    slot: usize,
}

impl PlacedRecord {
    /// The record of `slot`, whose record area (from [`crate::page::Page::record_area`])
    /// is `area`, `len` bytes long.
    pub(crate) fn new(page: &crate::page::Page, slot: usize, area: &[u8], len: usize) -> Self {
        // The area runs from the record to the start of the slot array.
        let offset = crate::page::PAGE_SIZE - 2 * page.slot_count() - area.len();
        PlacedRecord { offset, len, slot }
    }
}

/// The accounting half of [`check_data_page`], on the records of every used slot of
/// `page` (in any order; sorted here). The row iterator feeds it the records it parses
/// anyway, so a page's records are parsed once.
///
/// # Errors
/// As [`check_data_page`].
pub(crate) fn check_page_space(page: &crate::page::Page, records: &mut [PlacedRecord]) -> Result<()> {
    let h = page.header();
    let bad = |what: String| Error::corrupt(format!("page structure: {what}")).on_page(page.id());
    let slots = page.slot_count();
    let free_data = usize::from(h.free_data);
    if free_data < crate::page::HEADER_SIZE || free_data + 2 * slots > crate::page::PAGE_SIZE {
        return Err(bad(format!("m_freeData {free_data} and {slots} slots do not fit the page")));
    }
    records.sort_unstable();
    if let Some(r) = records.iter().find(|r| r.offset >= free_data) {
        return Err(bad(format!("slot {} points at offset {}, at or past m_freeData {free_data}", r.slot, r.offset)));
    }
    for w in records.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a.offset + a.len > b.offset {
            return Err(bad(format!(
                "the record of slot {} (offset {}, {} bytes) overlaps that of slot {} (offset {})",
                a.slot, a.offset, a.len, b.slot, b.offset
            )));
        }
    }
    if let Some(last) = records.last()
        && last.offset + last.len > free_data
    {
        return Err(bad(format!(
            "the record of slot {} (offset {}, {} bytes) runs past m_freeData {free_data}",
            last.slot, last.offset, last.len
        )));
    }
    let used: usize = records.iter().map(|r| r.len).sum();
    let expected = (crate::page::PAGE_SIZE - crate::page::HEADER_SIZE).checked_sub(2 * slots + used);
    if expected != Some(usize::from(h.free_count)) {
        return Err(bad(format!(
            "m_freeCnt is {} but {slots} slots and {} records of {used} bytes leave {}",
            h.free_count,
            records.len(),
            expected.map_or("less than nothing".to_string(), |n| n.to_string())
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A data page holding `records` at back-to-back offsets from 96, slot `k` pointing
    /// at record `k`, `m_freeData` and `m_freeCnt` as SQL Server keeps them.
    fn data_page(records: &[Vec<u8>]) -> Box<[u8; crate::page::PAGE_SIZE]> {
        let mut p = Box::new([0u8; crate::page::PAGE_SIZE]);
        p[0] = 1;
        p[1] = 1; // data page
        p[32..36].copy_from_slice(&5u32.to_le_bytes());
        p[36..38].copy_from_slice(&1u16.to_le_bytes());
        let mut at = 96;
        for (k, r) in records.iter().enumerate() {
            p[at..at + r.len()].copy_from_slice(r);
            let slot = crate::page::PAGE_SIZE - 2 * (k + 1);
            p[slot..slot + 2].copy_from_slice(&(at as u16).to_le_bytes());
            at += r.len();
        }
        let used: usize = records.iter().map(Vec::len).sum();
        p[22..24].copy_from_slice(&(records.len() as u16).to_le_bytes());
        p[28..30].copy_from_slice(&((8096 - 2 * records.len() - used) as u16).to_le_bytes());
        p[30..32].copy_from_slice(&(at as u16).to_le_bytes());
        p
    }

    fn check(p: Box<[u8; crate::page::PAGE_SIZE]>) -> Result<()> {
        check_data_page(&crate::page::Page::verify(p, PageId::new(1, 5)).unwrap())
    }

    #[test]
    fn page_structure_adds_up_or_is_refused_naming_what_does_not() {
        let stub = vec![0x04, 1, 0, 0, 0, 1, 0, 0, 0];
        let mut record = sample();
        record.truncate(17); // without the next record's bytes
        let good = data_page(&[record.clone(), stub, record]);
        check(good.clone()).unwrap();

        let mut free = good.clone();
        free[28] ^= 1;
        let e = check(free).unwrap_err();
        assert!(e.message.contains("m_freeCnt"), "{e}");
        assert_eq!(e.page, Some(PageId::new(1, 5)));

        // Slot 2 pointing at slot 0's record: each parses, together they overlap.
        let mut overlap = good.clone();
        overlap[8186..8188].copy_from_slice(&96u16.to_le_bytes());
        let e = check(overlap).unwrap_err();
        assert!(e.message.contains("overlaps"), "{e}");
        // Slot 1 moved 4 bytes back, into slot 0's record: that is no record at all.
        let mut inside = good.clone();
        let at = u16::from_le_bytes([inside[8188], inside[8189]]) - 4;
        inside[8188..8190].copy_from_slice(&at.to_le_bytes());
        assert!(check(inside).unwrap_err().message.contains("slot 1"));

        let mut past = good;
        past[30] = 100; // m_freeData inside the first record
        let e = check(past).unwrap_err();
        assert!(e.message.contains("m_freeData"), "{e}");
    }

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
        assert!(r.null_bit_set(2) && !r.lacks_column(2));
        assert!(r.lacks_column(4) && !r.null_bit_set(4), "a column past the recorded count is lacking, not NULL");
        assert!(r.is_null(4));
        assert_eq!(r.value_var_count(), 1);
        assert_eq!(r.var(0), Some((&b"ab"[..], false)));
        assert_eq!(r.var(1), None);
        assert_eq!(r.len(), bytes.len() - 5);
    }

    #[test]
    fn forwarding_stub_is_not_a_fixedvar_record() {
        // 1:354 slot 12 of northwind-sql2008-forwarded.bak.
        let stub = [0x04, 0x6b, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00];
        assert!(Record::parse(&stub).unwrap_err().message.contains("forwarding stub"));
        let rid = forwarding_stub_target(&stub).unwrap();
        assert_eq!((rid.page, rid.slot), (PageId::new(1, 363), 0));
        assert!(forwarding_stub_target(&stub[..8]).is_none());
    }

    #[test]
    fn forwarded_record_back_pointer_is_not_a_value_column() {
        // Type 1, 2 columns, 1 value column "ab" then the back-pointer to 1:354 slot 12.
        let mut r = vec![0x32, 0, 4, 0];
        r.extend(2u16.to_le_bytes());
        r.push(0);
        r.extend(2u16.to_le_bytes());
        let data = r.len() + 4;
        r.extend(((data + 2) as u16).to_le_bytes());
        r.extend(((data + 12) as u16 | 0x8000).to_le_bytes());
        r.extend(b"ab");
        r.extend([0x00, 0x04, 0x62, 0x01, 0x00, 0x00, 0x01, 0x00, 0x0c, 0x00]);
        let rec = Record::parse(&r).unwrap();
        assert_eq!(rec.record_type(), RecordType::Forwarded);
        assert_eq!((rec.var_count(), rec.value_var_count()), (2, 1));
        let back = rec.back_pointer().unwrap();
        assert_eq!((back.page, back.slot), (PageId::new(1, 354), 12));
        // Without its back-pointer a forwarded record is refused.
        r[12] &= 0x7f; // the complex bit of the second offset

        assert!(Record::parse(&r).unwrap_err().message.contains("back-pointer"));
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
