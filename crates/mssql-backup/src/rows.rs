//! Streaming the rows of a user table.
//!
//! Rows are read page by page in allocation order (the IAM chain of each partition's
//! in-row allocation unit), never all at once: memory is one page, the LOB page cache and
//! the current row. Every live row is returned exactly once: primary records, and the
//! forwarded records of heaps at the place they were moved to (their forwarding stubs are
//! skipped); ghost records are skipped.

use crate::alloc::PfsCache;
use crate::catalog::build::{ColumnLayout, ColumnPlace, TableLayout};
use crate::lob::{self, ComplexKind};
use crate::page::Page;
use crate::record::{FORWARDING_STUB_LEN, PlacedRecord, Record, RecordType, forwarding_stub_target};
use crate::scan::{DataPages, PageCache};
use crate::schema::Table;
use crate::store::PageStore;
use crate::types::SqlType;
use crate::value::{self, DecodeStats, Value};
use crate::{Error, Result};

/// Counters of a table read.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReadStats {
    /// Rows returned.
    pub rows: u64,
    /// Data pages read.
    pub pages: u64,
    /// Ghost records skipped.
    pub ghosts: u64,
    /// Forwarding stubs skipped (their rows are read at their new place).
    pub forwarding_stubs: u64,
    /// Forwarded records read (rows moved off their original heap page).
    pub forwarded: u64,
    /// Bytes of off-row (LOB and row-overflow) values reassembled.
    pub lob_bytes: u64,
    /// Lossy decodings, all columns together.
    pub decode: DecodeStats,
    /// Lossy decodings per column, in the table's column order.
    pub columns: Vec<DecodeStats>,
    /// Salvage reads only: pages that were missing and skipped.
    pub missing_pages: u64,
}

/// A reader over the rows of one table.
pub struct TableRows<'a> {
    store: &'a PageStore,
    pfs: &'a PfsCache,
    table: &'a Table,
    layout: &'a TableLayout,
    rowset: usize,
    pages: Option<DataPages<'a>>,
    page: Option<Page>,
    slot: usize,
    values: Vec<Value>,
    lobs: PageCache<'a>,
    lob_buf: Vec<u8>,
    stats: ReadStats,
    decode_values: bool,
    salvage: bool,
    /// The current page's records seen so far, for its structure check when it ends.
    placed: Vec<crate::record::PlacedRecord>,
    /// The part of the pages read.
    part: crate::scan::Part,
}

impl<'a> TableRows<'a> {
    pub(crate) fn new(
        store: &'a PageStore,
        pfs: &'a PfsCache,
        table: &'a Table,
        layout: &'a TableLayout,
        salvage: bool,
        part: crate::scan::Part,
    ) -> Result<Self> {
        if table.storage.memory_optimized {
            return Err(Error::unsupported(format!(
                "table {}: memory-optimized tables keep their rows in checkpoint files, not in data pages",
                table.qualified_name()
            )));
        }
        // An allocation unit without data pages needs no decoder, whatever its compression
        // (SQL Server creates temporal history tables PAGE compressed, often empty).
        if table.storage.compression != crate::schema::Compression::None && holds_data_pages(store, pfs, layout)? {
            return Err(Error::unsupported(format!(
                "table {}: {:?} data compression is not supported by the native reader",
                table.qualified_name(),
                table.storage.compression
            )));
        }
        Ok(TableRows {
            store,
            pfs,
            table,
            layout,
            rowset: 0,
            pages: None,
            page: None,
            slot: 0,
            values: Vec::with_capacity(table.columns.len()),
            lobs: PageCache::new(store, 16),
            lob_buf: Vec::new(),
            stats: ReadStats { columns: vec![DecodeStats::default(); table.columns.len()], ..ReadStats::default() },
            decode_values: true,
            salvage,
            placed: Vec::new(),
            part,
        })
    }

    /// Counters so far.
    pub fn stats(&self) -> &ReadStats {
        &self.stats
    }

    /// Counts the remaining rows without decoding their values (LOBs are not followed).
    ///
    /// # Errors
    /// As [`TableRows::next_row`], except value decoding errors.
    pub fn count(mut self) -> Result<ReadStats> {
        self.decode_values = false;
        while self.next_row()?.is_some() {}
        Ok(self.stats.clone())
    }

    fn next_page(&mut self) -> Result<bool> {
        loop {
            if self.pages.is_none() {
                let Some(rs) = self.layout.rowsets.get(self.rowset) else { return Ok(false) };
                let Some(au) = rs.in_row else {
                    self.rowset += 1;
                    continue;
                };
                self.pages = Some(
                    if self.salvage {
                        DataPages::salvage(self.store, self.pfs, au.id, au.first_iam)
                    } else {
                        DataPages::new(self.store, self.pfs, au.id, au.first_iam)?
                    }
                    .part(self.part),
                );
            }
            match self.pages.as_mut().expect("set above").next()? {
                Some(p) => {
                    self.placed.clear();
                    self.stats.pages += 1;
                    self.page = Some(p);
                    self.slot = 0;
                    return Ok(true);
                }
                None => {
                    self.stats.missing_pages += self.pages.as_ref().map_or(0, |p| p.skipped().len() as u64);
                    self.pages = None;
                    self.rowset += 1;
                }
            }
        }
    }

    /// The next row: one value per column of the table, in column order. The slice lives
    /// until the next call.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Incomplete`] for missing pages, checksum and format errors naming the
    /// page and slot, value decoding errors naming the column.
    #[allow(clippy::should_implement_trait)]
    pub fn next_row(&mut self) -> Result<Option<&[Value]>> {
        match self.next_row_inner() {
            Ok(Some(())) => Ok(Some(&self.values)),
            Ok(None) => Ok(None),
            // The file is named only on error: a path copied per row costs an allocation.
            Err(e) => Err(match self.store.paths().next() {
                Some(f) => e.with_file(f.to_path_buf()),
                None => e,
            }),
        }
    }

    fn next_row_inner(&mut self) -> Result<Option<()>> {
        loop {
            let Some(page) = self.page.as_ref() else {
                if !self.next_page()? {
                    return Ok(None);
                }
                continue;
            };
            if self.slot >= page.slot_count() {
                // Every record of the page has been parsed (once): its structure must add
                // up before the next page. (Every page here is FixedVar: compressed tables
                // with pages are refused in `new`.) A row already returned from a page
                // that fails goes no further: the read ends in this error.
                crate::record::check_page_space(page, &mut self.placed)
                    .map_err(|e| self.store.locate_error(page.id(), e))?;
                self.page = None;
                continue;
            }
            let slot = self.slot;
            self.slot += 1;
            let Some(area) = page.record_area(slot)? else { continue };
            // The type first: a forwarding stub has no FixedVar layout to parse.
            if RecordType::of(area[0]) == RecordType::ForwardingStub {
                if forwarding_stub_target(area).is_none() {
                    return Err(Error::corrupt("a forwarding stub shorter than its 9 bytes")
                        .on_page(page.id())
                        .context(format!("slot {slot}")));
                }
                self.placed.push(PlacedRecord::new(page, slot, area, FORWARDING_STUB_LEN));
                self.stats.forwarding_stubs += 1;
                continue;
            }
            let rec = Record::parse(area).map_err(|e| e.on_page(page.id()).context(format!("slot {slot}")))?;
            self.placed.push(PlacedRecord::new(page, slot, area, rec.len()));
            match rec.record_type() {
                _ if rec.is_ghost_forwarded() => {
                    self.stats.ghosts += 1;
                    continue;
                }
                RecordType::Primary => {}
                RecordType::Forwarded => self.stats.forwarded += 1,
                RecordType::GhostData | RecordType::GhostIndex | RecordType::GhostVersion => {
                    self.stats.ghosts += 1;
                    continue;
                }
                other => {
                    return Err(Error::corrupt(format!("unexpected {other:?} record on a data page"))
                        .on_page(page.id())
                        .context(format!("slot {slot}")));
                }
            }
            self.stats.rows += 1;
            if !self.decode_values {
                continue;
            }
            let rs = &self.layout.rowsets[self.rowset];
            let page_id = page.id();
            self.values.clear();
            for (i, (col, layout)) in self.table.columns.iter().zip(rs.columns.iter()).enumerate() {
                let c = ColumnRead { col, layout, added_default: rs.added_defaults.get(i).and_then(Option::as_ref) };
                let context = |e: Error| {
                    e.on_page(page_id).context(format!(
                        "table {}, slot {slot}, column {} ({})",
                        self.table.qualified_name(),
                        col.name,
                        col.ty
                    ))
                };
                let v =
                    decode_column(&rec, &c, &mut self.lobs, &mut self.lob_buf, &mut self.stats, i).map_err(context)?;
                // SQL Server never stores NULL in a NOT NULL column: a NULL here is a reading
                // error, caught now rather than as a load error in PostgreSQL.
                if v.is_null() && !col.nullable && layout.place != ColumnPlace::NotStored {
                    return Err(context(Error::corrupt(
                        "decoded NULL for a NOT NULL column: the record does not match the catalog's layout",
                    )));
                }
                self.values.push(v);
            }
            return Ok(Some(()));
        }
    }
}

/// One column to decode: the table's column, where the rowset keeps it, and the value of
/// rows written before it was added when the catalog keeps one.
struct ColumnRead<'a> {
    col: &'a crate::schema::Column,
    layout: &'a ColumnLayout,
    added_default: Option<&'a Value>,
}

fn decode_column(
    rec: &Record<'_>,
    c: &ColumnRead<'_>,
    lobs: &mut PageCache<'_>,
    lob_buf: &mut Vec<u8>,
    stats: &mut ReadStats,
    column: usize,
) -> Result<Value> {
    let mut local = DecodeStats::default();
    let v = decode_column_inner(rec, c, lobs, lob_buf, &mut stats.lob_bytes, &mut local);
    if local != DecodeStats::default() {
        stats.decode.replaced_utf16 += local.replaced_utf16;
        stats.decode.replaced_codepage += local.replaced_codepage;
        if let Some(c) = stats.columns.get_mut(column) {
            c.replaced_utf16 += local.replaced_utf16;
            c.replaced_codepage += local.replaced_codepage;
        }
    }
    v
}

fn decode_column_inner(
    rec: &Record<'_>,
    c: &ColumnRead<'_>,
    lobs: &mut PageCache<'_>,
    lob_buf: &mut Vec<u8>,
    lob_bytes: &mut u64,
    decode: &mut DecodeStats,
) -> Result<Value> {
    let (col, layout) = (c.col, c.layout);
    let bit = usize::from(layout.null_bit);
    if rec.lacks_column(bit) {
        // The column was added after this row was written (its null bit lies past the
        // row's column count): the row does not hold it; the catalog says what it is.
        return match c.added_default {
            Some(v) => Ok(v.clone()),
            None if col.nullable => Ok(Value::Null),
            None => Err(Error::corrupt(format!(
                "the row holds {} columns and lacks this NOT NULL column (null bit {bit}), and the catalog \
                 keeps no default value for rows written before it was added",
                rec.column_count()
            ))),
        };
    }
    if rec.null_bit_set(bit) {
        return Ok(Value::Null);
    }
    match layout.place {
        ColumnPlace::NotStored => Ok(Value::Null),
        ColumnPlace::Bit { offset, bit } => {
            let b = rec
                .fixed(usize::from(offset), 1)
                .ok_or_else(|| Error::corrupt(format!("bit column at offset {offset} is outside the fixed data")))?;
            Ok(Value::Bit(b[0] >> bit & 1 != 0))
        }
        ColumnPlace::Fixed { offset, len } => {
            let b = rec.fixed(usize::from(offset), usize::from(len)).ok_or_else(|| {
                Error::corrupt(format!(
                    "fixed column at offset {offset} ({len} bytes) is outside the fixed data ({} bytes)",
                    rec.fixed_end()
                ))
            })?;
            value::decode(&col.ty, b, decode)
        }
        ColumnPlace::Var { index } => {
            let index = usize::from(index);
            if index >= rec.value_var_count() {
                // Past the offset array: SQL Server leaves zero-length values at the end of
                // a record out of it. The null bit (checked above) said not NULL, so the
                // value is the zero-length one of its type. Without a null bitmap a
                // lacking column could not be told from an empty one.
                if !rec.has_null_bitmap() {
                    return Err(Error::unsupported(format!(
                        "the record has no null bitmap and only {} variable-length columns: whether variable \
                         column {} is empty or was added later cannot be told",
                        rec.value_var_count(),
                        index + 1
                    )));
                }
                return value::decode(&col.ty, &[], decode);
            }
            let Some((bytes, complex)) = rec.var(index) else {
                return Err(Error::corrupt(format!("variable column {} is outside the record", index + 1)));
            };
            if matches!(col.ty, SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Image) && bytes.len() == 16 {
                // A 16-byte text pointer (stored with or without the complex-column bit).
                lob_buf.clear();
                lob::read_text_pointer(lobs, bytes, lob_buf)?;
                *lob_bytes += lob_buf.len() as u64;
                value::decode(&col.ty, lob_buf, decode)
            } else if complex {
                match lob::classify(bytes)? {
                    ComplexKind::Links => {
                        lob_buf.clear();
                        lob::read_links(lobs, bytes, lob_buf)?;
                        *lob_bytes += lob_buf.len() as u64;
                        value::decode(&col.ty, lob_buf, decode)
                    }
                    other => Err(Error::corrupt(format!("column holds a {other:?} instead of a value"))),
                }
            } else if matches!(col.ty, SqlType::Text { .. } | SqlType::NText { .. } | SqlType::Image) {
                // 'text in row': the value itself is in the row.
                value::decode(&col.ty, bytes, decode)
            } else {
                value::decode(&col.ty, bytes, decode)
            }
        }
        ColumnPlace::Sparse { column_id } => {
            for i in 0..rec.var_count() {
                if let Some((bytes, true)) = rec.var(i)
                    && lob::classify(bytes)? == ComplexKind::SparseVector
                {
                    for (id, v) in lob::sparse_columns(bytes)? {
                        if id == column_id {
                            return value::decode(&col.ty, v, decode);
                        }
                    }
                    return Ok(Value::Null);
                }
            }
            Ok(Value::Null)
        }
    }
}

/// Whether any rowset of `layout` has an allocated data page in its in-row allocation
/// unit (its IAM chain read, the pages' PFS status and headers checked).
///
/// # Errors
/// IAM and PFS pages missing or damaged.
pub(crate) fn holds_data_pages(store: &PageStore, pfs: &PfsCache, layout: &TableLayout) -> Result<bool> {
    for rs in &layout.rowsets {
        let Some(au) = rs.in_row else { continue };
        if DataPages::new(store, pfs, au.id, au.first_iam)?.next()?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}
