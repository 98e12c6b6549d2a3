//! 8 KiB database pages: the 96-byte header, the slot array, torn-page restoration and
//! page checksums.
//!
//! Header layout (little-endian; per OrcaMDF's `PageHeader` and checked on every fixture):
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 1 | `m_headerVersion` (always 1) |
//! | 1 | 1 | `m_type` ([`PageType`]) |
//! | 2 | 1 | `m_typeFlagBits` |
//! | 3 | 1 | `m_level` (B-tree level, 0 = leaf) |
//! | 4 | 2 | `m_flagBits` (0x100 torn-page detection, 0x200 checksum) |
//! | 6 | 2 | `m_indexId` (allocation unit id, high part) |
//! | 8 | 6 | `m_prevPage` |
//! | 14 | 2 | `pminlen` (fixed part of the records) |
//! | 16 | 6 | `m_nextPage` |
//! | 22 | 2 | `m_slotCnt` |
//! | 24 | 4 | `m_objId` (allocation unit id, low part) |
//! | 28 | 2 | `m_freeCnt` |
//! | 30 | 2 | `m_freeData` (offset of the free space) |
//! | 32 | 6 | `m_pageId` (this page) |
//! | 38 | 2 | `m_reservedCnt` |
//! | 40 | 10 | `m_lsn` (`u32` VLF sequence, `u32` log block, `u16` slot) |
//! | 58 | 2 | `m_ghostRecCnt` |
//! | 60 | 4 | `m_tornBits`: the checksum, or the torn-page bits |

use crate::types::PageId;
use crate::{Error, ErrorKind, Result};

/// Size of a page in bytes.
pub const PAGE_SIZE: usize = 8192;
/// Size of the page header in bytes.
pub const HEADER_SIZE: usize = 96;
/// `m_flagBits`: the page carries torn-page bits.
pub const FLAG_TORN_PAGE: u16 = 0x100;
/// `m_flagBits`: the page carries a checksum.
pub const FLAG_CHECKSUM: u16 = 0x200;

/// Page types (`m_type`), after `DBCC PAGE` and OrcaMDF's `PageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PageType {
    /// 1: data page (heap or clustered-index leaf).
    Data,
    /// 2: index page (B-tree non-leaf, or nonclustered leaf).
    Index,
    /// 3: LOB page holding several LOB fragments (text mix).
    TextMix,
    /// 4: LOB page of one LOB tree.
    TextTree,
    /// 7: sort page.
    Sort,
    /// 8: GAM (global allocation map).
    Gam,
    /// 9: SGAM (shared global allocation map).
    Sgam,
    /// 10: IAM (index allocation map).
    Iam,
    /// 11: PFS (page free space).
    Pfs,
    /// 13: boot page (page 9 of file 1).
    Boot,
    /// 15: file header page (page 0 of every file).
    FileHeader,
    /// 16: differential changed map.
    DiffMap,
    /// 17: bulk-changed map.
    MlMap,
    /// Any other value.
    Other(u8),
}

impl From<u8> for PageType {
    fn from(t: u8) -> Self {
        match t {
            1 => PageType::Data,
            2 => PageType::Index,
            3 => PageType::TextMix,
            4 => PageType::TextTree,
            7 => PageType::Sort,
            8 => PageType::Gam,
            9 => PageType::Sgam,
            10 => PageType::Iam,
            11 => PageType::Pfs,
            13 => PageType::Boot,
            15 => PageType::FileHeader,
            16 => PageType::DiffMap,
            17 => PageType::MlMap,
            other => PageType::Other(other),
        }
    }
}

pub use crate::header::Lsn;

/// The decoded 96-byte page header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageHeader {
    /// `m_headerVersion`.
    pub header_version: u8,
    /// `m_type`.
    pub page_type: PageType,
    /// `m_typeFlagBits`.
    pub type_flags: u8,
    /// `m_level`.
    pub level: u8,
    /// `m_flagBits`.
    pub flags: u16,
    /// `m_indexId`.
    pub index_id: u16,
    /// `m_prevPage`.
    pub prev: PageId,
    /// `pminlen`.
    pub pminlen: u16,
    /// `m_nextPage`.
    pub next: PageId,
    /// `m_slotCnt`.
    pub slot_count: u16,
    /// `m_objId`.
    pub obj_id: u32,
    /// `m_freeCnt`.
    pub free_count: u16,
    /// `m_freeData`.
    pub free_data: u16,
    /// `m_pageId`.
    pub page_id: PageId,
    /// `m_lsn`.
    pub lsn: Lsn,
    /// `m_ghostRecCnt`.
    pub ghost_count: u16,
    /// `m_tornBits`.
    pub torn_bits: u32,
}

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

impl PageHeader {
    /// Decodes the header of a full page.
    pub fn parse(page: &[u8; PAGE_SIZE]) -> PageHeader {
        let pid = |o: usize| PageId { page: u32_at(page, o), file: u16_at(page, o + 4) };
        let lsn: &[u8; 10] = page[40..50].try_into().expect("10 bytes");
        PageHeader {
            header_version: page[0],
            page_type: PageType::from(page[1]),
            type_flags: page[2],
            level: page[3],
            flags: u16_at(page, 4),
            index_id: u16_at(page, 6),
            prev: pid(8),
            pminlen: u16_at(page, 14),
            next: pid(16),
            slot_count: u16_at(page, 22),
            obj_id: u32_at(page, 24),
            free_count: u16_at(page, 28),
            free_data: u16_at(page, 30),
            page_id: pid(32),
            lsn: Lsn::from_bytes(lsn),
            ghost_count: u16_at(page, 58),
            torn_bits: u32_at(page, 60),
        }
    }

    /// The allocation unit this page belongs to: `m_indexId << 48 | m_objId << 16`, the
    /// form of `sysallocunits.auid` (per OrcaMDF; e.g. sysallocunits' own pages carry
    /// `m_objId` 7, `m_indexId` 0, auid 458752).
    pub fn alloc_unit_id(&self) -> u64 {
        (u64::from(self.index_id) << 48) | (u64::from(self.obj_id) << 16)
    }
}

/// SQL Server's page checksum: for each 512-byte sector `i` the XOR of its 128
/// little-endian `u32` words (the checksum field itself, page offset 60, counted as 0),
/// rotated left by `15 - i` bits; the 16 results XORed together. Verified on every
/// checksum page of the fixtures.
pub fn checksum(page: &[u8; PAGE_SIZE]) -> u32 {
    let mut total = 0u32;
    for (i, sector) in page.chunks_exact(512).enumerate() {
        let mut x = 0u32;
        for w in sector.chunks_exact(4) {
            x ^= u32::from_le_bytes([w[0], w[1], w[2], w[3]]);
        }
        if i == 0 {
            // Remove the stored checksum word from sector 0's XOR.
            x ^= u32_at(page, 60);
        }
        total ^= x.rotate_left(15 - i as u32);
    }
    total
}

/// Checks and undoes torn-page protection in place.
///
/// With `TORN_PAGE_DETECTION`, SQL Server overwrites the low 2 bits of the last byte of
/// sectors 1–15 with a 2-bit signature (bits 0–1 of `m_tornBits`) and keeps the original
/// bits of sector `k` in bits `2k..2k+2` of `m_tornBits`. A sector whose signature differs
/// was not fully written: the page is torn. (Checked on every torn-page page of the four
/// fixtures created on SQL Server 2000.)
///
/// # Errors
/// [`ErrorKind::Checksum`] naming the first torn sector.
pub fn restore_torn_bits(page: &mut [u8; PAGE_SIZE]) -> Result<()> {
    let torn = u32_at(page, 60);
    let signature = (torn & 3) as u8;
    for sector in 1..16usize {
        let at = sector * 512 + 511;
        if page[at] & 3 != signature {
            return Err(Error::new(
                ErrorKind::Checksum,
                format!(
                    "torn page: sector {sector} ends with bits {:02b}, expected signature {signature:02b}",
                    page[at] & 3
                ),
            ));
        }
        page[at] = (page[at] & !3) | ((torn >> (2 * sector)) & 3) as u8;
    }
    Ok(())
}

/// A page read into memory, verified and restored.
#[derive(Clone)]
pub struct Page {
    bytes: Box<[u8; PAGE_SIZE]>,
    header: PageHeader,
}

impl std::fmt::Debug for Page {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Page").field("header", &self.header).finish_non_exhaustive()
    }
}

impl Page {
    /// Takes ownership of raw page bytes read from position `expected`, then verifies and
    /// restores them: the header must name `expected`, the checksum must match when the
    /// page has one, torn bits are restored when it has those.
    ///
    /// # Errors
    /// [`ErrorKind::Checksum`] for a checksum mismatch or a torn page;
    /// [`ErrorKind::Corrupt`] when the header names another page or is not version 1.
    pub fn verify(mut bytes: Box<[u8; PAGE_SIZE]>, expected: PageId) -> Result<Page> {
        let header = PageHeader::parse(&bytes);
        if header.header_version != 1 || header.page_id != expected {
            return Err(Error::corrupt(format!(
                "the page at the position of {expected} has header version {} and names page {}",
                header.header_version, header.page_id
            ))
            .on_page(expected));
        }
        if header.flags & FLAG_CHECKSUM != 0 {
            let computed = checksum(&bytes);
            if computed != header.torn_bits {
                return Err(Error::new(
                    ErrorKind::Checksum,
                    format!("page checksum mismatch: stored 0x{:08x}, computed 0x{computed:08x}", header.torn_bits),
                )
                .on_page(expected));
            }
        } else if header.flags & FLAG_TORN_PAGE != 0 {
            restore_torn_bits(&mut bytes).map_err(|e| e.on_page(expected))?;
        }
        Ok(Page { bytes, header })
    }

    /// The header.
    pub fn header(&self) -> &PageHeader {
        &self.header
    }

    /// This page's id.
    pub fn id(&self) -> PageId {
        self.header.page_id
    }

    /// All 8192 bytes (after torn-bit restoration).
    pub fn bytes(&self) -> &[u8; PAGE_SIZE] {
        &self.bytes
    }

    /// Number of slots in the slot array.
    pub fn slot_count(&self) -> usize {
        usize::from(self.header.slot_count)
    }

    /// The record offset stored in slot `slot` (the slot array grows backwards from the
    /// end of the page: slot 0 is the last two bytes). Offset 0 marks an emptied slot.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when the slot array would overlap the header or the offset
    /// points outside the record area.
    pub fn slot_offset(&self, slot: usize) -> Result<u16> {
        let count = self.slot_count();
        if slot >= count || HEADER_SIZE + 2 * count > PAGE_SIZE {
            return Err(Error::corrupt(format!("slot {slot} of {count} is outside the slot array")).on_page(self.id()));
        }
        let at = PAGE_SIZE - 2 * (slot + 1);
        let off = u16_at(&self.bytes[..], at);
        if off != 0 && (usize::from(off) < HEADER_SIZE || usize::from(off) >= PAGE_SIZE - 2 * count) {
            return Err(Error::corrupt(format!("slot {slot} points at offset {off}, outside the record area"))
                .on_page(self.id()));
        }
        Ok(off)
    }

    /// The bytes from the record in `slot` to the start of the slot array: the record's
    /// own header says how long it is. `None` for an emptied slot (offset 0).
    ///
    /// # Errors
    /// As [`Page::slot_offset`].
    pub fn record_area(&self, slot: usize) -> Result<Option<&[u8]>> {
        let off = self.slot_offset(slot)?;
        if off == 0 {
            return Ok(None);
        }
        let end = PAGE_SIZE - 2 * self.slot_count();
        Ok(Some(&self.bytes[usize::from(off)..end]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blank(id: PageId) -> Box<[u8; PAGE_SIZE]> {
        let mut p = Box::new([0u8; PAGE_SIZE]);
        p[0] = 1;
        p[1] = 1;
        p[32..36].copy_from_slice(&id.page.to_le_bytes());
        p[36..38].copy_from_slice(&id.file.to_le_bytes());
        p
    }

    #[test]
    fn checksum_round_trip_and_single_bit_flip() {
        let id = PageId::new(1, 42);
        let mut p = blank(id);
        p[4..6].copy_from_slice(&FLAG_CHECKSUM.to_le_bytes());
        for (i, b) in p[96..].iter_mut().enumerate() {
            *b = (i * 7 % 251) as u8;
        }
        let c = checksum(&p);
        p[60..64].copy_from_slice(&c.to_le_bytes());
        assert!(Page::verify(p.clone(), id).is_ok());
        let mut bad = p.clone();
        bad[5000] ^= 0x10;
        let e = Page::verify(bad, id).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Checksum);
        assert_eq!(e.page, Some(id));
    }

    #[test]
    fn torn_bits_are_restored_and_tears_detected() {
        let id = PageId::new(1, 7);
        let mut p = blank(id);
        p[4..6].copy_from_slice(&FLAG_TORN_PAGE.to_le_bytes());
        // Original low bits of sector k = k % 4; signature 0b01.
        let mut torn = 1u32;
        for k in 1..16 {
            torn |= ((k % 4) as u32) << (2 * k);
            p[k * 512 + 511] = 0xa8 | 1;
        }
        p[60..64].copy_from_slice(&torn.to_le_bytes());
        let page = Page::verify(p.clone(), id).unwrap();
        for k in 1..16 {
            assert_eq!(page.bytes()[k * 512 + 511], 0xa8 | (k % 4) as u8);
        }
        p[3 * 512 + 511] = 0xa8 | 2;
        assert_eq!(Page::verify(p, id).unwrap_err().kind, ErrorKind::Checksum);
    }

    #[test]
    fn wrong_page_id_is_corrupt() {
        let p = blank(PageId::new(1, 8));
        let e = Page::verify(p, PageId::new(1, 9)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Corrupt);
    }
}
