//! The system catalog: the base tables read from their pages, and the logical schema and
//! physical table layouts built from them.
//!
//! Bootstrap order: the boot page names the first page of `sysallocunits` (whose pages are
//! chained by `m_nextPage`); `sysallocunits` gives the allocation units of `sysrowsets`
//! (rowset id `5 << 16`); from there every base table is found as rowset → allocation
//! unit → IAM chain → pages.

pub mod build;
pub mod raw;

use std::collections::HashMap;

use crate::alloc::PfsCache;
use crate::boot::BootInfo;
use crate::page::PageType;
use crate::record::{Record, RecordType};
use crate::scan::{DataPages, PageCache};
use crate::store::PageStore;
use crate::types::PageId;
use crate::{Error, ErrorKind, Result};

pub use build::TableLayout;
#[cfg(feature = "internals")]
pub use build::{ColumnLayout, ColumnPlace};
use raw::{
    AllocUnit, ClsObj, ColPar, IdxStat, IsCol, ObjValue, Row, RowsetColumn, RsCol, ScalarType, SchObj, SeObjValue,
    SingleObjRef, object,
};

/// Allocation unit id of `sysallocunits` itself (`7 << 16`).
pub const SYSALLOCUNITS_AU: u64 = 7 << 16;
/// Rowset id of `sysrowsets` (`5 << 16`).
pub const SYSROWSETS_ROWSET: i64 = 5 << 16;

/// First internal version of SQL Server 2008: from it on, `sysrscols` replaces
/// `syshobtcolumns`/`sysrowsetcolumns` (MANIFEST finding 7).
pub const VERSION_2008: u16 = 655;

/// First internal version of SQL Server 2012, which added `sysseobjvalues` (object 9).
pub const VERSION_2012: u16 = 706;

/// Every base table row this reader uses.
#[derive(Debug, Default, Clone)]
pub struct RawCatalog {
    /// Internal database version the layouts were chosen for.
    #[cfg_attr(not(feature = "internals"), allow(dead_code, reason = "shown by examples/dump_catalog only"))]
    pub version: u16,
    /// `sysallocunits`.
    pub alloc_units: Vec<AllocUnit>,
    /// `sysrowsets`.
    pub rowsets: Vec<raw::Rowset>,
    /// `sysrscols`, or `syshobtcolumns` mapped through `sysrowsetcolumns` (2005).
    pub rscols: Vec<RsCol>,
    /// `sysschobjs`.
    pub objects: Vec<SchObj>,
    /// `syscolpars`.
    pub colpars: Vec<ColPar>,
    /// `sysidxstats`.
    pub idxstats: Vec<IdxStat>,
    /// `sysiscols`.
    pub iscols: Vec<IsCol>,
    /// `sysobjvalues`.
    pub objvalues: Vec<ObjValue>,
    /// `syssingleobjrefs`.
    pub singlerefs: Vec<SingleObjRef>,
    /// `sysclsobjs`.
    pub clsobjs: Vec<ClsObj>,
    /// `sysscalartypes`.
    pub scalartypes: Vec<ScalarType>,
    /// `sysseobjvalues` (2012+; empty before).
    pub seobjvalues: Vec<SeObjValue>,
    /// `sysxprops`: extended properties (empty when they could not be read).
    pub xprops: Vec<raw::XProp>,
    /// Why `sysxprops` could not be read, when it could not: extended properties are
    /// documentation and never keep the data from being read.
    pub xprops_error: Option<String>,
    /// Salvage reads only: catalog pages and rows that were missing and skipped, each
    /// naming its system table.
    pub skipped: Vec<String>,
}

struct Loader<'a> {
    store: &'a PageStore,
    pfs: &'a PfsCache,
    alloc_units: Vec<AllocUnit>,
    rowsets: Vec<raw::Rowset>,
    salvage: bool,
    skipped: std::cell::RefCell<Vec<String>>,
}

impl<'a> Loader<'a> {
    fn scan_au(
        &self,
        au: &AllocUnit,
        table: &'static str,
        f: &mut dyn FnMut(&Row, &mut PageCache) -> Result<()>,
    ) -> Result<()> {
        let mut pages = if self.salvage {
            DataPages::salvage(self.store, self.pfs, au.id, au.first_iam)
        } else {
            DataPages::new(self.store, self.pfs, au.id, au.first_iam)
                .map_err(|e| e.context(format!("reading {table}")))?
        };
        let mut lobs = PageCache::new(self.store, 8);
        let mut row_skips = Vec::new();
        while let Some(page) = pages.next().map_err(|e| e.context(format!("reading {table}")))? {
            scan_page_rows(&page, table, &mut |row| match f(row, &mut lobs) {
                // A row whose off-row value is missing: skip it, say so.
                Err(e) if self.salvage && e.kind == ErrorKind::Incomplete => {
                    row_skips.push(format!("{table}: a row skipped: {e}"));
                    Ok(())
                }
                other => other,
            })?;
        }
        self.skipped.borrow_mut().extend(row_skips);
        self.skipped.borrow_mut().extend(pages.skipped().iter().map(|s| format!("{table}: {s}")));
        Ok(())
    }

    fn scan_object(
        &self,
        object_id: i32,
        table: &'static str,
        f: &mut dyn FnMut(&Row, &mut PageCache) -> Result<()>,
    ) -> Result<()> {
        let rowsets: Vec<i64> = self
            .rowsets
            .iter()
            .filter(|r| r.object_id == object_id && (r.index_id == 0 || r.index_id == 1))
            .map(|r| r.id)
            .collect();
        if rowsets.is_empty() {
            return Err(Error::catalog(format!("system table {table} (object {object_id}) has no rowset")));
        }
        for rs in rowsets {
            for au in self.alloc_units.iter().filter(|a| a.owner == rs && a.kind == 1) {
                self.scan_au(au, table, f)?;
            }
        }
        Ok(())
    }

    fn collect<T>(&self, object_id: i32, table: &'static str, decode: fn(&Row) -> Result<T>) -> Result<Vec<T>> {
        let mut out = Vec::new();
        self.scan_object(object_id, table, &mut |row, _| {
            out.push(decode(row)?);
            Ok(())
        })?;
        Ok(out)
    }
}

/// Calls `f` for every live data row (primary or forwarded, not ghost) of `page`.
///
/// # Errors
/// Format errors of the page's records, naming the page.
pub fn scan_page_rows(
    page: &crate::page::Page,
    table: &'static str,
    f: &mut dyn FnMut(&Row) -> Result<()>,
) -> Result<()> {
    crate::record::check_data_page(page).map_err(|e| e.context(table))?;
    for slot in 0..page.slot_count() {
        let Some(area) = page.record_area(slot)? else { continue };
        if RecordType::of(area[0]) == RecordType::ForwardingStub {
            continue;
        }
        let rec = Record::parse(area).map_err(|e| e.on_page(page.id()).context(format!("{table} slot {slot}")))?;
        match rec.record_type() {
            RecordType::Primary | RecordType::Forwarded if !rec.is_ghost_forwarded() => {}
            _ => continue,
        }
        f(&Row { rec, table }).map_err(|e| e.on_page(page.id()))?;
    }
    Ok(())
}

/// Pages of `sysallocunits`: the page chain from `first`, or, when the backup has no boot
/// page, every formatted data page of the backup that names `sysallocunits`' allocation
/// unit in its header.
fn sysallocunits_pages(store: &PageStore, first: Option<PageId>, salvage: bool) -> Result<Vec<PageId>> {
    let mut pages = Vec::new();
    match first {
        Some(mut next) => {
            while !next.is_null() {
                if pages.contains(&next) || pages.len() > 1_000_000 {
                    return Err(Error::corrupt("the sysallocunits page chain loops").on_page(next));
                }
                match store.read(next) {
                    Ok(p) => {
                        pages.push(next);
                        next = p.header().next;
                    }
                    Err(e) if salvage && e.kind == ErrorKind::Incomplete => {
                        // The chain is cut: fall back to every page that says it is
                        // sysallocunits'.
                        return sysallocunits_pages(store, None, salvage);
                    }
                    Err(e) => return Err(e.context("sysallocunits page chain")),
                }
            }
        }
        None => {
            for ext in store.extents() {
                for k in 0..8 {
                    let id = PageId::new(ext.file, ext.page + k);
                    if let Some(p) = store.read_if_formatted(id)?
                        && p.header().page_type == PageType::Data
                        && p.header().alloc_unit_id() == SYSALLOCUNITS_AU
                        && p.header().level == 0
                    {
                        pages.push(id);
                    }
                }
            }
        }
    }
    Ok(pages)
}

/// Reads every base table the reader uses.
///
/// `boot` is the boot page when the backup has it; without it, `version` (from the backup
/// header) picks the layouts and `sysallocunits` is found by scanning page headers.
///
/// # Errors
/// [`ErrorKind::Incomplete`] when catalog pages are missing; [`ErrorKind::Catalog`] when a
/// base table is absent or inconsistent; page errors.
pub fn load(
    store: &PageStore,
    pfs: &PfsCache,
    boot: Option<&BootInfo>,
    version: u16,
    salvage: bool,
) -> Result<RawCatalog> {
    let au_pages = sysallocunits_pages(store, boot.map(|b| b.first_sysallocunits_page), salvage)?;
    let mut alloc_units = Vec::new();
    {
        let mut pages = DataPages::from_list(store, pfs, SYSALLOCUNITS_AU, au_pages, salvage);
        while let Some(page) = pages.next().map_err(|e| e.context("reading sysallocunits"))? {
            scan_page_rows(&page, "sysallocunits", &mut |row| {
                alloc_units.push(AllocUnit::decode(row)?);
                Ok(())
            })?;
        }
    }
    alloc_units.sort_by_key(|a| a.id);
    alloc_units.dedup_by_key(|a| a.id);
    let mut loader = Loader { store, pfs, alloc_units, rowsets: Vec::new(), salvage, skipped: Default::default() };

    let mut rowsets = Vec::new();
    let rowset_aus: Vec<AllocUnit> =
        loader.alloc_units.iter().filter(|a| a.owner == SYSROWSETS_ROWSET && a.kind == 1).copied().collect();
    if rowset_aus.is_empty() {
        return Err(Error::catalog("sysallocunits has no allocation unit for sysrowsets"));
    }
    for au in &rowset_aus {
        loader.scan_au(au, "sysrowsets", &mut |row, _| {
            rowsets.push(raw::Rowset::decode(row)?);
            Ok(())
        })?;
    }
    loader.rowsets = rowsets;

    let rscols = if version >= VERSION_2008 {
        loader.collect(object::SYSRSCOLS, "sysrscols", RsCol::decode)?
    } else {
        let hobt = loader.collect(object::SYSHOBTCOLUMNS, "syshobtcolumns", RsCol::decode_2005)?;
        let map = loader.collect(object::SYSROWSETCOLUMNS, "sysrowsetcolumns", RowsetColumn::decode)?;
        let by_hobt: HashMap<(i64, i32), &RsCol> = hobt.iter().map(|c| ((c.rowset, c.hobt_column_id), c)).collect();
        let mut out = Vec::with_capacity(map.len());
        for m in &map {
            if let Some(c) = by_hobt.get(&(m.rowset, m.hobt_column_id)) {
                out.push(RsCol { rowset: m.rowset, column_id: m.column_id, ..**c });
            }
        }
        out
    };

    let objects = loader.collect(object::SYSSCHOBJS, "sysschobjs", SchObj::decode)?;
    let mut colpars = Vec::new();
    loader.scan_object(object::SYSCOLPARS, "syscolpars", &mut |row, lobs| {
        colpars.push(ColPar::decode(row, lobs)?);
        Ok(())
    })?;
    let idxstats = loader.collect(object::SYSIDXSTATS, "sysidxstats", IdxStat::decode)?;
    let iscols = loader.collect(object::SYSISCOLS, "sysiscols", IsCol::decode)?;
    let mut objvalues = Vec::new();
    loader.scan_object(object::SYSOBJVALUES, "sysobjvalues", &mut |row, lobs| {
        objvalues.push(ObjValue::decode(row, lobs)?);
        Ok(())
    })?;
    let singlerefs = loader.collect(object::SYSSINGLEOBJREFS, "syssingleobjrefs", SingleObjRef::decode)?;
    let clsobjs = loader.collect(object::SYSCLSOBJS, "sysclsobjs", ClsObj::decode)?;
    let scalartypes = loader.collect(object::SYSSCALARTYPES, "sysscalartypes", ScalarType::decode)?;
    let mut seobjvalues = Vec::new();
    if version >= VERSION_2012 {
        loader.scan_object(object::SYSSEOBJVALUES, "sysseobjvalues", &mut |row, lobs| {
            seobjvalues.push(SeObjValue::decode(row, lobs)?);
            Ok(())
        })?;
    }

    // Extended properties are documentation: a failure to read them is kept as a reason
    // for the schema to report, not an error of the catalog.
    let mut xprops = Vec::new();
    let xprops_error = loader
        .scan_object(object::SYSXPROPS, "sysxprops", &mut |row, lobs| {
            xprops.push(raw::XProp::decode(row, lobs)?);
            Ok(())
        })
        .err()
        .map(|e| e.to_string());
    if xprops_error.is_some() {
        xprops.clear();
    }

    if objects.is_empty() || colpars.is_empty() {
        return Err(Error::new(ErrorKind::Catalog, "the system catalog holds no objects or columns"));
    }
    Ok(RawCatalog {
        version,
        alloc_units: loader.alloc_units,
        rowsets: loader.rowsets,
        rscols,
        objects,
        colpars,
        idxstats,
        iscols,
        objvalues,
        singlerefs,
        clsobjs,
        scalartypes,
        seobjvalues,
        xprops,
        xprops_error,
        skipped: loader.skipped.into_inner(),
    })
}
