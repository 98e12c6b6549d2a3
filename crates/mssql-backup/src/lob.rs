//! Off-row values: row-overflow data, `(max)` LOB roots and legacy text pointers.
//!
//! Structures (per OrcaMDF's `BlobInlineRootProxy`, `TextPointerProxy` and `LobStructures`,
//! checked against the fixtures' LOB columns):
//! - In the row, a complex variable column (end offset bit 0x8000) holds either a
//!   row-overflow / inline LOB root — byte 0 type (2 = row overflow, 4 = inline root of a
//!   `(max)` value), bytes 1–2 index level, 4–7 sequence, 8–11 timestamp, then 12-byte links
//!   `{u32 length, u32 page, u16 file, u16 slot}` — or a sparse column vector (`u16` 5), or a
//!   forwarding back-pointer (`u16` 0x400).
//! - `text`/`ntext`/`image` store a 16-byte text pointer in the row: 8 bytes timestamp then
//!   the RID (`u32` page, `u16` file, `u16` slot) of the value's root LOB record.
//! - LOB records on text pages have the FixedVar record header; their fixed data starts with
//!   an 8-byte blob id and a `u16` structure type: 0 SMALL_ROOT (length `u16` at 10, data
//!   from 16), 2 INTERNAL (link count `u16` at 12, 16-byte links `{u64 offset, u32 page,
//!   u16 file, u16 slot}` from 16), 3 DATA (data from 10), 5 LARGE_ROOT_YUKON (link count
//!   `u16` at 12, 12-byte links `{u32 size, u32 page, u16 file, u16 slot}` from 20), and
//!   4 LARGE_ROOT_SHILOH, left by SQL Server 2000, with the same links as type 5 (observed in
//!   the Northwind fixtures created on SQL Server 2000: one link of 86 bytes to a DATA
//!   fragment of 86 bytes; two links ending at 8080 and 10746 to fragments of 8080 and 2666).
//!   Link sizes are cumulative end offsets.

use crate::page::Page;
use crate::record::Record;
use crate::types::PageId;
use crate::{Error, ErrorKind, Result};

/// Reads LOB pages; implemented by the table reader with its page cache.
pub trait LobPages {
    /// The verified page `id`.
    fn lob_page(&mut self, id: PageId) -> Result<std::sync::Arc<Page>>;
}

/// What a complex in-row column holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ComplexKind {
    /// A row-overflow pointer or `(max)` inline root: links to LOB records.
    Links,
    /// A sparse column vector.
    SparseVector,
    /// A forwarded record's back-pointer (not a column).
    BackPointer,
}

/// Classifies a complex column's bytes.
///
/// # Errors
/// [`ErrorKind::Unsupported`] for an unknown complex column type.
pub fn classify(bytes: &[u8]) -> Result<ComplexKind> {
    match bytes.first() {
        Some(2) | Some(4) => Ok(ComplexKind::Links),
        Some(5) if bytes.get(1) == Some(&0) => Ok(ComplexKind::SparseVector),
        Some(0) if bytes.get(1) == Some(&4) => Ok(ComplexKind::BackPointer),
        other => Err(Error::unsupported(format!("complex column of unknown type {other:?} ({} bytes)", bytes.len()))),
    }
}

/// Upper bound of one assembled value: SQL Server caps LOBs at 2 GiB − 1.
const MAX_LOB: u64 = (1 << 31) - 1;

/// Reassembles the value behind a row-overflow pointer or inline root.
///
/// # Errors
/// [`ErrorKind::Corrupt`] for malformed structures; [`ErrorKind::Incomplete`] when a LOB
/// page is missing; [`ErrorKind::Unsupported`] for pre-2005 LOB structure types.
pub fn read_links(pages: &mut dyn LobPages, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if bytes.len() < 12 || !(bytes.len() - 12).is_multiple_of(12) {
        return Err(Error::corrupt(format!("LOB root of {} bytes is not 12 + 12n", bytes.len())));
    }
    for link in bytes[12..].chunks_exact(12) {
        let page = PageId::from_bytes(&link[4..10]).expect("6 bytes");
        let slot = u16::from_le_bytes([link[10], link[11]]);
        read_structure(pages, page, slot, out, 0)?;
    }
    Ok(())
}

/// Reassembles a `text`/`ntext`/`image` value from its 16-byte text pointer.
///
/// # Errors
/// As [`read_links`]; [`ErrorKind::Unsupported`] when the pointer is not 16 bytes
/// (`text in row` values).
pub fn read_text_pointer(pages: &mut dyn LobPages, bytes: &[u8], out: &mut Vec<u8>) -> Result<()> {
    if bytes.len() != 16 {
        return Err(Error::unsupported(format!(
            "text pointer of {} bytes (the 'text in row' table option is not supported)",
            bytes.len()
        )));
    }
    let page = PageId::from_bytes(&bytes[8..14]).expect("6 bytes");
    let slot = u16::from_le_bytes([bytes[14], bytes[15]]);
    read_structure(pages, page, slot, out, 0)
}

fn read_structure(pages: &mut dyn LobPages, page_id: PageId, slot: u16, out: &mut Vec<u8>, depth: u32) -> Result<()> {
    if depth > 16 {
        return Err(Error::corrupt("LOB tree deeper than 16 levels").on_page(page_id));
    }
    let page = pages.lob_page(page_id)?;
    let area = page
        .record_area(usize::from(slot))
        .map_err(|e| e.context("LOB record"))?
        .ok_or_else(|| Error::corrupt(format!("LOB slot {slot} is empty")).on_page(page_id))?;
    let rec = Record::parse(area).map_err(|e| e.on_page(page_id).context(format!("LOB record in slot {slot}")))?;
    let fixed = &rec.bytes()[4..rec.fixed_end()];
    let bad = |what: &str| Error::corrupt(format!("LOB record in slot {slot}: {what}")).on_page(page_id);
    if fixed.len() < 10 {
        return Err(bad("shorter than its 10-byte header"));
    }
    let kind = u16::from_le_bytes([fixed[8], fixed[9]]);
    let push = |out: &mut Vec<u8>, data: &[u8]| -> Result<()> {
        if out.len() as u64 + data.len() as u64 > MAX_LOB {
            return Err(Error::corrupt("LOB value larger than 2 GiB").on_page(page_id));
        }
        out.extend_from_slice(data);
        Ok(())
    };
    match kind {
        0 => {
            // SMALL_ROOT
            let len = usize::from(u16::from_le_bytes([*fixed.get(10).ok_or_else(|| bad("short"))?, fixed[11]]));
            let data = fixed.get(16..16 + len).ok_or_else(|| bad("SMALL_ROOT length runs past the record"))?;
            push(out, data)
        }
        3 => push(out, &fixed[10..]),
        2 | 4 | 5 => {
            let count = usize::from(u16::from_le_bytes([
                *fixed.get(12).ok_or_else(|| bad("short link header"))?,
                *fixed.get(13).ok_or_else(|| bad("short link header"))?,
            ]));
            // INTERNAL links are 16 bytes from offset 16 with a u64 end offset; the large
            // roots' are 12 bytes from offset 20 with a u32 end offset. End offsets are
            // cumulative within this structure: link i holds bytes end[i-1]..end[i].
            let (start, size) = if kind == 2 { (16, 16) } else { (20, 12) };
            let links = fixed.get(start..start + count * size).ok_or_else(|| bad("links run past the record"))?;
            let base = out.len();
            let mut prev_end = 0u64;
            for link in links.chunks_exact(size) {
                let end = if kind == 2 {
                    u64::from_le_bytes(link[..8].try_into().expect("8 bytes"))
                } else {
                    u64::from(u32::from_le_bytes(link[..4].try_into().expect("4 bytes")))
                };
                let p = &link[size - 8..];
                let child = PageId::from_bytes(&p[0..6]).expect("6 bytes");
                let child_slot = u16::from_le_bytes([p[6], p[7]]);
                let before = out.len();
                read_structure(pages, child, child_slot, out, depth + 1)?;
                let want = end.checked_sub(prev_end).ok_or_else(|| bad("LOB link end offsets decrease"))?;
                let got = (out.len() - before) as u64;
                if got < want {
                    return Err(bad(&format!("LOB fragment holds {got} bytes, its link says {want}")));
                }
                // A fragment may hold more than the link uses (space left by an update).
                out.truncate(before + want as usize);
                prev_end = end;
            }
            debug_assert_eq!((out.len() - base) as u64, prev_end);
            Ok(())
        }
        1 | 6 => Err(Error::new(
            ErrorKind::Unsupported,
            format!("LOB structure type {kind} (a SQL Server 2000-era LARGE_ROOT) is not supported"),
        )
        .on_page(page_id)),
        other => Err(bad(&format!("unknown LOB structure type {other}"))),
    }
}

/// Splits a sparse column vector into (column id, value bytes) pairs.
///
/// Layout (per OrcaMDF's `SparseVectorParser`): `u16` 5, `u16` count, `count` column ids
/// (`u16`), `count` end offsets (`u16`, from the vector start), then the values.
///
/// # Errors
/// [`ErrorKind::Corrupt`] when offsets run outside the vector.
pub fn sparse_columns(bytes: &[u8]) -> Result<Vec<(u16, &[u8])>> {
    let bad = || Error::corrupt("malformed sparse column vector");
    if bytes.len() < 4 {
        return Err(bad());
    }
    let n = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    let ids = bytes.get(4..4 + 2 * n).ok_or_else(bad)?;
    let ends = bytes.get(4 + 2 * n..4 + 4 * n).ok_or_else(bad)?;
    let mut start = 4 + 4 * n;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let id = u16::from_le_bytes([ids[2 * i], ids[2 * i + 1]]);
        let end = usize::from(u16::from_le_bytes([ends[2 * i], ends[2 * i + 1]]));
        out.push((id, bytes.get(start..end).ok_or_else(bad)?));
        start = end;
    }
    Ok(out)
}
