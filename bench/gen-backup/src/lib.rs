//! `gen-backup`: writes large, valid SQL Server full backups (`.bak`) in the real on-disk
//! format, for benchmarks (issue 12). A bench tool, not test data: its output is never
//! committed.
//!
//! # What it writes
//!
//! It *grows a real backup*. The template is an uncompressed full backup written by SQL
//! Server (one backup set, one data file, e.g. `hotel-qlks-vietnamese-sql2019.bak` from the
//! shared fixtures); one of its tables, a heap or a clustered table (picked by `--table`,
//! or by `--shape`), receives `N` extra rows on new data pages, and with `--lob-bytes` an
//! off-row value in every `(max)` column of each new row, on new LOB pages. With
//! `--compressed` the same backup is written in the `MSSQLBAK` container of
//! `BACKUP … WITH COMPRESSION` ([`container`], [`xca`]). Everything else — the MTF blocks, the `MSCI`/`MSLS`
//! descriptions, the boot page, the system catalog, the other tables, the log — is SQL
//! Server's own bytes, so the catalog layout, column types, collations and page formats are
//! SQL Server's. The output streams out: the template (a few MB) is held in memory, the
//! generated pages never are (one page buffer, one record buffer; the allocation plan is
//! one entry per extent).
//!
//! # On-disk facts it sets, and where each comes from
//!
//! | structure | what is written | source of the layout |
//! |---|---|---|
//! | data pages (type 1) | header copied from one of the table's own data pages (object / index ids, `pminlen`, LSN), then `m_pageId`, `m_slotCnt`, `m_freeCnt`, `m_freeData`, ghost count 0, `m_prevPage`/`m_nextPage` 0 in a heap; records back to back from offset 96; slot array from the page end | `mssql_backup::internals::page` |
//! | clustered leaf level | the new data pages continue the leaf level in key order: the template's last leaf (the one without `m_nextPage`, offset 16) points to the first new page, each new page to the next and back (`m_prevPage`, offset 8). Only a unique clustered index on one ascending `int`/`bigint` column is grown (no uniqueifier to write; the generated keys rise with the row number, and the template's keys are checked to be below them) | `internals::page`; OrcaMDF's page header |
//! | off-row `(max)` values | in the record, the column's variable end offset has bit 0x8000 and its bytes are an inline root: type 4, level 0, update sequence 1, then one 12-byte link per fragment `{u32 end offset in the value, u32 page, u16 file, u16 slot}`. On text pages (type 3, `m_objId`/`m_indexId` of the table's `LOB_DATA` allocation unit, `pminlen` 0): `DATA` records (status A 0x08, i.e. record type 4 BLOB_FRAGMENT; `u16` fixed length; `u64` blob id; `u16` type 3; up to 8,040 bytes of the value). Full fragments have a page each, the short last fragments are packed after them | `internals::lob`, the `DATA` records of northwind-sql2008-forwarded's text pages |
//! | LOB allocation unit | a new IAM page for interval 0 (first page of a new mixed extent, whose SGAM bit is set) and one per further interval (offset 3 of the interval's first extent), made from the table's IAM page with the LOB unit's ids; `sysallocunits.pgfirstiam` (binary(6) at record offset 39) and its page counts. Only a LOB unit without pages is grown | `internals::catalog::raw` |
//! | compressed container | see [`container`]: file header, `0x21` chunks of at most 64 KiB of MTF stream ([MS-XCA] LZ77+Huffman, [`xca`]), raw soft filemarks on their block size with container offsets, `0x24` padding | `internals::compressed` |
//! | records | FixedVar: status A 0x10/0x30, `pminlen`, fixed part at the `sysrscols` leaf offsets, column count (= the rowset's `sysrscols` rows), null bitmap at the `sysrscols` null bits, variable offset array, variable data | [`encode`], `internals::record` |
//! | page protection | every generated or modified page gets `m_flagBits` 0x200 and the page checksum at offset 60 (torn-page templates: the torn bits are restored first, then the page is re-protected by checksum) | `internals::page::checksum` |
//! | extents | new extents from the template file's end (`SFIN` size), appended to the first `MQDA` stream of the first `MSDA` block (whole extents, so the stream stays 2 bytes + whole extents) | `internals::mtf`, `internals::store` |
//! | PFS | page 1 updated; a new PFS page at every multiple of 8,088 pages (first page of its extent, the rest of that extent unused): data pages `0x40 \| fullness` (0–4 by SQL Server's 0/50/80/95/100 % bands), the IAM pages `0x70`, GAM/SGAM/DCM/BCM pages as the template's pages 2/3/6/7 | `internals::alloc` (`PFS_INTERVAL`) |
//! | GAM / SGAM / DCM / BCM | page 2 updated (bit clear = allocated); for each new GAM interval (every 511,232 pages) a GAM, SGAM, DCM and BCM page at offsets 0, 1, 6, 7 of its first extent, copied from the template's pages 2, 3, 6, 7 with fresh bitmaps | `internals::alloc` (`GAM_INTERVAL`) |
//! | IAM | the table's IAM page for interval 0 gets the new extents' bits; for each further interval a new IAM page (offset 2 of the interval's first extent, a mixed extent), copied from the template IAM with its header record (page offset 96) rewritten: sequence number (`u32` at record offset 4), single-page count (0x26) and slots (0x2E, cleared: no mixed pages), start page (0x28, the interval's first page), and a fresh bitmap (page offset 194), chained by `m_nextPage`/`m_prevPage` | `internals::alloc::read_iam_chain` |
//! | catalog | `sysrowsets.rcrows` (bigint at record offset 31) += N; `sysallocunits` `pcused`/`pcdata`/`pcreserved` (bigints at 45/53/61) grown by the new pages | `internals::catalog::raw` |
//! | MTF | the `MQDA` stream's length and header checksum; the format logical address (`u64` at 20, KiB from the `SSET`) and header checksum of every block after it; `SFIN` size (0x28) of the data file and the `SCIN` backup size (0x60) in both `MQCI` copies | `internals::mtf`, `mssql_backup::header` |
//!
//! Values are a function of the generated row number `r` (0-based), see [`encode`]:
//! integer columns `1,000,000 + r + 7·column`, `money` `r + 0.25`, `date` 2000-01-01 plus
//! `r mod 10,000` days, strings the zero-padded decimal `r` (one fixed length per column,
//! at most 24 characters), off-row values those 24 digits repeated to `--lob-bytes`,
//! nullable columns NULL in one row of ten (off-row columns never). A single-column
//! foreign key on an integer column takes the referenced table's key values in turn (read
//! from the template), so the rows satisfy the constraints SQL Server trusted.
//!
//! # What it does not do (yet)
//!
//! - It only grows an existing table of the template: no new table, so the shapes are the
//!   template's tables (`--shape narrow`: the heap with the shortest all-fixed record,
//!   `clustered`: the clustered table with the shortest all-fixed record, `wide`: the
//!   table with the most columns, e.g. 33 in hotel-zeynab-ef-sql2017's `dbo.reservation`).
//!   An exact `int, bigint, date, decimal` table would need new `sysschobjs`/`syscolpars`/
//!   `sysrowsets`/`sysallocunits`/`sysrscols` rows.
//! - A clustered index's upper levels are not rebuilt: the new leaves are on the leaf
//!   chain and in the IAM, but no index page points to them (an index seek in SQL Server
//!   would miss them and `DBCC CHECKDB` would complain; the reader reads leaves by IAM).
//!   Nonclustered indexes of the grown table do not index the new rows either.
//! - Off-row values: `(max)` types only, at most 5 fragments (40,200 bytes) per value, all
//!   linked from the in-row root (no INTERNAL or LARGE_ROOT levels); no row-overflow
//!   pages; a template table whose LOB unit already has pages is refused.
//! - Compressed output: the container's unidentified header and chunk-header bytes are
//!   zero and no `0x2c` chunk index is written; whether SQL Server's RESTORE accepts that
//!   is not known (no SQL Server here). The reader reads it like SQL Server's own.
//! - Foreign keys: only single-column keys on integer columns are honoured; a table with
//!   another kind of foreign key (e.g. pubs' `roysched.title_id varchar`) is refused.
//! - Sizes read back complete by `bak2pg inspect`: up to 20 GiB (6 GAM intervals, chained
//!   IAM pages), plain and compressed; off-row values past one GAM interval have not yet
//!   been generated (the LOB unit's further IAM pages are untested).
//! - The file header page (page 0) keeps the template's file size; the `SFIN` size is
//!   what the reader uses.

pub mod container;
pub mod encode;
pub mod xca;

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, ensure};
use mssql_backup::internals::alloc::{GAM_INTERVAL, PFS_INTERVAL, read_iam_chain};
use mssql_backup::internals::mtf::MtfImage;
use mssql_backup::internals::page::{PAGE_SIZE, Page, PageType, checksum};
use mssql_backup::schema::{StorageKind, Table};
use mssql_backup::{Backup, PageId};

use container::CompressedWriter;
use encode::Encoder;

/// Where the image goes: as it is, or through the compressed container.
enum Sink {
    Plain(BufWriter<File>),
    Compressed(CompressedWriter<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Compressed(w) => w.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Compressed(w) => w.flush(),
        }
    }
}

/// Which table of the template to grow when none is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// The heap with the shortest record made of fixed-length columns only.
    Narrow,
    /// The clustered table with the shortest record made of fixed-length columns only.
    Clustered,
    /// The table (heap or clustered) with the most columns.
    Wide,
}

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// The real backup to grow.
    pub template: PathBuf,
    /// `schema.name` of the heap to grow; `None`: chosen by `shape`.
    pub table: Option<String>,
    /// How to choose the table when `table` is `None`.
    pub shape: Shape,
    /// Rows to add.
    pub rows: u64,
    /// Output file.
    pub out: PathBuf,
    /// Write the compressed (`MSSQLBAK`) container instead of plain MTF.
    pub compressed: bool,
    /// Bytes of an off-row value for every `(max)` column of the table (see
    /// [`encode::Encoder::new`]); `None`: short in-row values.
    pub lob_bytes: Option<usize>,
}

/// What was generated.
#[derive(Debug, Clone)]
pub struct Summary {
    /// `[schema].[name]` of the grown table.
    pub table: String,
    /// Rows added.
    pub rows: u64,
    /// Rows the catalog now counts (`rcrows`).
    pub catalog_rows: u64,
    /// Bytes of one generated record.
    pub record_len: usize,
    /// Records per full page.
    pub rows_per_page: u64,
    /// New data pages.
    pub data_pages: u64,
    /// New extents (data, PFS and GAM-interval extents).
    pub extents: u64,
    /// New IAM pages (one per GAM interval beyond the first).
    pub iam_pages: u64,
    /// Size of the output file in bytes.
    pub out_bytes: u64,
    /// Compressed chunk records written (0 for an uncompressed backup).
    pub chunks: u64,
    /// New LOB pages (off-row values).
    pub lob_pages: u64,
}

/// One table of a template, as [`candidates`] lists it: name, column count, and the
/// generated record length or why the table cannot be grown.
pub type Candidate = (String, usize, Result<usize, String>);

/// The tables of `template`: for each, its name, column count, and the generated record
/// length, or why this generator cannot grow it.
///
/// # Errors
/// The template cannot be read.
pub fn candidates(template: &Path) -> Result<Vec<Candidate>> {
    let backup = Backup::open(&[template])?;
    let raw = mssql_backup::internals::raw_catalog(&backup)?;
    let db = backup.database()?;
    let mut out = Vec::new();
    for t in &db.tables {
        let len = Plan::table(&backup, &raw, t, None).map(|p| p.encoder.len()).map_err(|e| format!("{e:#}"));
        out.push((t.qualified_name(), t.columns.len(), len));
    }
    Ok(out)
}

/// Rows that fill about `bytes` of new data and LOB pages in the table `opts` selects.
///
/// # Errors
/// As [`generate`].
pub fn rows_for_bytes(opts: &Options, bytes: u64) -> Result<u64> {
    let backup = Backup::open(&[opts.template.as_path()])?;
    let raw = mssql_backup::internals::raw_catalog(&backup)?;
    let db = backup.database()?;
    let (_, plan) = choose(&backup, &raw, db, opts)?;
    let rpp = ((PAGE_SIZE - 96) / (plan.encoder.len() + 2)) as f64;
    let lob_pages_per_row = match (opts.lob_bytes, plan.encoder.lob_roots().len()) {
        (Some(len), m) if m > 0 => {
            let lob = LobPlan::new(0, plan.encoder.lob_roots(), len, 1);
            m as f64 * (lob.full as f64 + if lob.rem > 0 { 1.0 / lob.per_page as f64 } else { 0.0 })
        }
        _ => 0.0,
    };
    let pages = bytes as f64 / PAGE_SIZE as f64;
    Ok((pages / (1.0 / rpp + lob_pages_per_row)).floor() as u64)
}

/// Where the off-row values go: one value of `len` bytes per row and `(max)` column, in
/// fragments of 8,040 bytes (a `DATA` LOB record each). Every full fragment has a LOB page
/// of its own (region A, in value order), the short last fragments are packed
/// `per_page` to a page after them (region B); so a fragment's place is a formula of its
/// value number and the pages can be written in file order.
struct LobPlan {
    /// The table's `LOB_DATA` allocation unit.
    au: u64,
    roots: Vec<encode::LobRoot>,
    len: usize,
    /// Full fragments per value.
    full: u64,
    /// Bytes of the last, short fragment (0: none).
    rem: usize,
    /// Short fragments per page.
    per_page: u64,
    /// Values (rows × `(max)` columns).
    values: u64,
}

impl LobPlan {
    /// Bytes of a LOB `DATA` record before its data: status A, B, fixed length, blob id,
    /// structure type (see `mssql_backup::internals::lob`).
    const RECORD_HEADER: usize = 14;

    fn new(au: u64, roots: Vec<encode::LobRoot>, len: usize, rows: u64) -> Self {
        let full = (len / encode::LOB_FRAGMENT) as u64;
        let rem = len % encode::LOB_FRAGMENT;
        let per_page = if rem > 0 { ((PAGE_SIZE - 96) / (Self::RECORD_HEADER + rem + 2)) as u64 } else { 0 };
        let values = rows * roots.len() as u64;
        LobPlan { au, roots, len, full, rem, per_page, values }
    }
    fn fragments(&self) -> u64 {
        self.full + u64::from(self.rem > 0)
    }
    fn region_a(&self) -> u64 {
        self.values * self.full
    }
    fn pages(&self) -> u64 {
        self.region_a() + if self.rem > 0 { self.values.div_ceil(self.per_page) } else { 0 }
    }
    /// LOB page number and slot of fragment `j` of value `v`.
    fn place(&self, v: u64, j: u64) -> (u64, u16) {
        if j < self.full {
            (v * self.full + j, 0)
        } else {
            (self.region_a() + v / self.per_page, (v % self.per_page) as u16)
        }
    }
    /// The fragments on LOB page `p`: `(value, fragment)`, in slot order.
    fn on_page(&self, p: u64) -> Vec<(u64, u64)> {
        if p < self.region_a() {
            vec![(p / self.full, p % self.full)]
        } else {
            let first = (p - self.region_a()) * self.per_page;
            (first..(first + self.per_page).min(self.values)).map(|v| (v, self.full)).collect()
        }
    }
    /// Bytes `start..end` of the value that fragment `j` holds.
    fn span(&self, j: u64) -> (usize, usize) {
        let start = j as usize * encode::LOB_FRAGMENT;
        (start, (start + encode::LOB_FRAGMENT).min(self.len))
    }
}

fn choose<'a>(
    backup: &Backup,
    raw: &mssql_backup::internals::catalog::RawCatalog,
    db: &'a mssql_backup::schema::Database,
    opts: &Options,
) -> Result<(&'a Table, Plan)> {
    match &opts.table {
        Some(name) => {
            let t = db
                .tables
                .iter()
                .find(|t| format!("{}.{}", t.schema, t.name) == *name || t.qualified_name() == *name)
                .with_context(|| format!("no table {name} in the template"))?;
            Ok((t, Plan::table(backup, raw, t, opts.lob_bytes)?))
        }
        None => {
            let mut best: Option<(&Table, Plan)> = None;
            for t in &db.tables {
                let Ok(p) = Plan::table(backup, raw, t, opts.lob_bytes) else { continue };
                let heap = t.storage.kind == StorageKind::Heap;
                let better = match (&best, opts.shape) {
                    (None, Shape::Narrow) => p.all_fixed && heap,
                    (None, Shape::Clustered) => p.all_fixed && !heap,
                    (None, Shape::Wide) => true,
                    (Some((_, b)), Shape::Narrow) => p.all_fixed && heap && p.encoder.len() < b.encoder.len(),
                    (Some((_, b)), Shape::Clustered) => p.all_fixed && !heap && p.encoder.len() < b.encoder.len(),
                    (Some((bt, _)), Shape::Wide) => t.columns.len() > bt.columns.len(),
                };
                if better {
                    best = Some((t, p));
                }
            }
            best.with_context(|| format!("no table of the template fits shape {:?}", opts.shape))
        }
    }
}

/// What the generator needs to know about the grown table.
struct Plan {
    encoder: Encoder,
    /// The table's in-row allocation unit.
    au: u64,
    first_iam: PageId,
    rowset_id: i64,
    /// Header (96 bytes) of one of the table's data pages.
    header: [u8; 96],
    all_fixed: bool,
    /// For a clustered table, the last page of its leaf level, which the new leaves follow.
    last_leaf: Option<PageId>,
    /// The `LOB_DATA` allocation unit that receives off-row values, when asked for.
    lob_au: Option<u64>,
}

/// A clustered table is grown at the end of its leaf level, which needs keys that sort
/// after every existing one and records without a uniqueifier: a unique index on one
/// ascending `int`/`bigint` column, whose generated values ([`encode::int_value`]) rise
/// with the row number, all above the template's keys.
fn check_clustered_key(backup: &Backup, t: &Table) -> Result<()> {
    let name = t.qualified_name();
    let key = t
        .primary_key
        .iter()
        .chain(&t.unique_constraints)
        .find(|k| k.clustered)
        .map(|k| &k.columns)
        .or_else(|| t.indexes.iter().find(|i| i.index_id == 1 && i.unique).map(|i| &i.columns))
        .with_context(|| {
            format!("{name}: the clustered index is not unique (its records carry a uniqueifier, not generated)")
        })?;
    let key: Vec<_> = key.iter().filter(|c| !c.included).collect();
    ensure!(key.len() == 1 && !key[0].descending, "{name}: the clustered key is not one ascending column");
    let ord = t.columns.iter().position(|c| c.name == key[0].name).context("clustered key column")?;
    let ty = &t.columns[ord].ty;
    ensure!(
        matches!(ty, mssql_backup::SqlType::Int | mssql_backup::SqlType::BigInt),
        "{name}: clustered key {} is {}; only int and bigint keys are generated in key order",
        key[0].name,
        ty.sql_name()
    );
    ensure!(
        !t.foreign_keys.iter().any(|fk| fk.columns.contains(&key[0].name)),
        "{name}: the clustered key {} is also a foreign key (its values would repeat)",
        key[0].name
    );
    let first_new = encode::int_value(0, ord as u64);
    let mut rows = backup.rows(t)?;
    while let Some(r) = rows.next_row()? {
        let k = match r[ord] {
            mssql_backup::Value::Int(v) => i64::from(v),
            mssql_backup::Value::BigInt(v) => v,
            ref other => anyhow::bail!("{name}: key value {other:?}"),
        };
        ensure!(k < first_new, "{name}: the template holds key {k}, not below the first generated key {first_new}");
    }
    Ok(())
}

impl Plan {
    fn table(
        backup: &Backup,
        raw: &mssql_backup::internals::catalog::RawCatalog,
        t: &Table,
        lob: Option<usize>,
    ) -> Result<Plan> {
        let clustered = match t.storage.kind {
            StorageKind::Heap => false,
            StorageKind::Clustered => {
                check_clustered_key(backup, t)?;
                true
            }
            other => anyhow::bail!("{} is stored as {other:?}", t.qualified_name()),
        };
        ensure!(
            t.storage.compression == mssql_backup::schema::Compression::None,
            "{} is compressed",
            t.qualified_name()
        );
        let layout = mssql_backup::internals::layout(backup, t)?;
        ensure!(layout.rowsets.len() == 1, "{} has {} partitions", t.qualified_name(), layout.rowsets.len());
        let rs = &layout.rowsets[0];
        let au = rs.in_row.context("no in-row allocation unit")?;
        ensure!(!au.first_iam.is_null(), "{} has no IAM page (empty table)", t.qualified_name());
        let store = mssql_backup::internals::store(backup);
        let map = read_iam_chain(store, au.first_iam)?;
        let mut header = None;
        let mut last_leaves = Vec::new();
        for id in map.pages() {
            if let Ok(Some(p)) = store.read_if_formatted(id)
                && p.header().page_type == PageType::Data
                && p.header().alloc_unit_id() == au.id
            {
                if header.is_none() {
                    let mut h = [0u8; 96];
                    h.copy_from_slice(&p.bytes()[..96]);
                    header = Some(h);
                }
                // The leaf level's last page: no m_nextPage (offset 16).
                if clustered && p.bytes()[16..22].iter().all(|&b| b == 0) {
                    last_leaves.push(id);
                }
            }
        }
        let last_leaf = if clustered {
            ensure!(
                last_leaves.len() == 1,
                "{}: {} leaf pages without a next page (one expected)",
                t.qualified_name(),
                last_leaves.len()
            );
            Some(last_leaves[0])
        } else {
            None
        };
        let header = header.with_context(|| format!("{}: no data page to copy a header from", t.qualified_name()))?;
        let pminlen = usize::from(u16::from_le_bytes([header[14], header[15]]));
        let column_count = raw.rscols.iter().filter(|c| c.rowset == rs.rowset_id).count();
        let choices = fk_choices(backup, t)?;
        let encoder = Encoder::new(&t.columns, &rs.columns, pminlen, column_count, &choices, lob)
            .with_context(|| t.qualified_name())?;
        let lob_au = if lob.is_some() {
            ensure!(!encoder.lob_roots().is_empty(), "{} has no (max) column for off-row values", t.qualified_name());
            let au = rs.lob.with_context(|| format!("{} has no LOB allocation unit", t.qualified_name()))?;
            // A LOB unit with pages would need its IAM chain extended and its pages kept.
            ensure!(
                au.first_iam.is_null(),
                "{}: its LOB allocation unit already holds pages (only an empty one is grown)",
                t.qualified_name()
            );
            Some(au.id)
        } else {
            None
        };
        let all_fixed =
            rs.columns.iter().all(|c| !matches!(c.place, mssql_backup::internals::catalog::ColumnPlace::Var { .. }));
        Ok(Plan {
            encoder,
            au: au.id,
            first_iam: au.first_iam,
            rowset_id: rs.rowset_id,
            header,
            all_fixed,
            last_leaf,
            lob_au,
        })
    }
}

/// Per column of `t`: for a single-column foreign key, the referenced table's key values
/// (read from the template), so generated rows satisfy it.
fn fk_choices(backup: &Backup, t: &Table) -> Result<Vec<Option<Vec<i64>>>> {
    let db = backup.database()?;
    let mut out = vec![None; t.columns.len()];
    for fk in &t.foreign_keys {
        ensure!(fk.columns.len() == 1, "{}: multi-column foreign key {} is not generated", t.qualified_name(), fk.name);
        let i = t.columns.iter().position(|c| c.name == fk.columns[0]).context("foreign key column")?;
        let rt = db
            .table(&fk.referenced_schema, &fk.referenced_table)
            .with_context(|| format!("{}: referenced table of {}", t.qualified_name(), fk.name))?;
        let k = rt.columns.iter().position(|c| c.name == fk.referenced_columns[0]).context("referenced column")?;
        let mut values = Vec::new();
        let mut rows = backup.rows(rt)?;
        while let Some(r) = rows.next_row()? {
            values.push(match r[k] {
                mssql_backup::Value::TinyInt(v) => i64::from(v),
                mssql_backup::Value::SmallInt(v) => i64::from(v),
                mssql_backup::Value::Int(v) => i64::from(v),
                mssql_backup::Value::BigInt(v) => v,
                ref other => anyhow::bail!("{}: foreign key {} on a {other:?} key", t.qualified_name(), fk.name),
            });
        }
        out[i] = Some(values);
    }
    Ok(out)
}

const MAP_OFFSET: usize = 194;
const MAP_BYTES: usize = 7988;
const FLAG_TORN: u16 = 0x100;
const FLAG_CHECKSUM: u16 = 0x200;

fn u16_at(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"))
}
fn put_page_id(b: &mut [u8], o: usize, id: PageId) {
    b[o..o + 4].copy_from_slice(&id.page.to_le_bytes());
    b[o + 4..o + 6].copy_from_slice(&id.file.to_le_bytes());
}

/// Protects `page` by checksum (flag 0x200, torn-page flag cleared, checksum at 60).
fn seal(page: &mut [u8; PAGE_SIZE]) {
    let flags = (u16_at(page, 4) & !FLAG_TORN) | FLAG_CHECKSUM;
    page[4..6].copy_from_slice(&flags.to_le_bytes());
    let c = checksum(page);
    page[60..64].copy_from_slice(&c.to_le_bytes());
}

/// PFS free-space band of a page with `free` bytes free of 8,096.
fn fullness(free: usize) -> u8 {
    let used = 8096 - free.min(8096);
    match used * 100 / 8096 {
        0 if used == 0 => 0,
        0..=50 => 1,
        51..=80 => 2,
        81..=95 => 3,
        _ => 4,
    }
}

/// The kind of a new extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// The first extent of GAM interval `k`: GAM, SGAM, the table's IAM page for this
    /// interval, DCM, BCM.
    IntervalStart,
    /// Holds a PFS page (its first page); the rest unused.
    Pfs,
    /// The `n`-th data extent of the table.
    Data(u64),
    /// Page 0: the IAM page of the LOB allocation unit for GAM interval 0; the rest unused.
    LobIam,
    /// The `n`-th extent of LOB pages.
    Lob(u64),
}

/// The template, in memory, with the positions of its pages.
struct Template {
    bytes: Vec<u8>,
    /// Offsets of every copy of each page in the template's `MQDA` streams.
    pages: HashMap<PageId, Vec<usize>>,
}

impl Template {
    /// Rewrites every copy of page `id` with `f` applied to its (torn-bit restored) bytes,
    /// then seals it with a checksum.
    fn patch(&mut self, id: PageId, f: impl Fn(&mut [u8; PAGE_SIZE])) -> Result<()> {
        let offs = self.pages.get(&id).cloned().with_context(|| format!("page {id} is not in the template"))?;
        for o in offs {
            let buf: Box<[u8; PAGE_SIZE]> = Box::new(self.bytes[o..o + PAGE_SIZE].try_into().expect("page"));
            let page = Page::verify(buf, id).with_context(|| format!("template page {id}"))?;
            let mut b = *page.bytes();
            f(&mut b);
            seal(&mut b);
            self.bytes[o..o + PAGE_SIZE].copy_from_slice(&b);
        }
        Ok(())
    }

    fn page(&self, id: PageId) -> Result<[u8; PAGE_SIZE]> {
        let o =
            *self.pages.get(&id).and_then(|v| v.last()).with_context(|| format!("page {id} is not in the template"))?;
        let buf: Box<[u8; PAGE_SIZE]> = Box::new(self.bytes[o..o + PAGE_SIZE].try_into().expect("page"));
        Ok(*Page::verify(buf, id).with_context(|| format!("template page {id}"))?.bytes())
    }
}

/// Generates the backup described by `opts`.
///
/// # Errors
/// Templates this generator cannot grow (compressed, several sets or files, no suitable
/// heap), I/O errors.
pub fn generate(opts: &Options) -> Result<Summary> {
    let backup = Backup::open(&[opts.template.as_path()])?;
    ensure!(
        backup.backup_sets().len() == 1,
        "the template holds {} backup sets; one is needed",
        backup.backup_sets().len()
    );
    let raw = mssql_backup::internals::raw_catalog(&backup)?;
    let db = backup.database()?;

    // The table and what its layout says.
    let (table, plan) = choose(&backup, &raw, db, opts)?;
    let store = mssql_backup::internals::store(&backup);
    let iam_chain = read_iam_chain(store, plan.first_iam)?.iam_pages;

    // The data file: exactly one.
    let desc = backup.description();
    let data_files: Vec<_> = desc.files.iter().filter(|f| f.file_type == mssql_backup::FileType::Data).collect();
    ensure!(data_files.len() == 1, "the template has {} data files; one is needed", data_files.len());
    let file_id = data_files[0].file_id;
    let old_size_pages = data_files[0].size_bytes / PAGE_SIZE as u64;
    let max_present = store.extents().filter(|e| e.file == file_id).map(|e| u64::from(e.page) + 8).max().unwrap_or(0);
    let start_page = old_size_pages.max(max_present).div_ceil(8) * 8;
    ensure!(
        start_page < u64::from(PFS_INTERVAL),
        "the template's data file has {start_page} pages; templates under one PFS interval (8,088 pages) are supported"
    );

    // The template bytes and where its pages are.
    let bytes = std::fs::read(&opts.template).with_context(|| opts.template.display().to_string())?;
    ensure!(bytes.starts_with(b"TAPE"), "the template is not an uncompressed MTF backup");
    let image = MtfImage::parse(&bytes)?;
    let mut tpl = Template { bytes, pages: HashMap::new() };
    let mut main_stream = None;
    for b in &image.blocks {
        for s in b.streams.iter().filter(|s| &s.id == b"MQDA" && s.len > 0) {
            ensure!((s.len - 2) % (8 * PAGE_SIZE as u64) == 0, "an MQDA stream of {} bytes", s.len);
            if main_stream.is_none() {
                main_stream = Some(*s);
            }
            let first = (s.data_offset + 2) as usize;
            for k in 0..((s.len - 2) / PAGE_SIZE as u64) as usize {
                let o = first + k * PAGE_SIZE;
                let p = &tpl.bytes[o..o + PAGE_SIZE];
                let id = PageId::new(u16_at(p, 36), u32_at(p, 32));
                if p[0] == 1 && id.file != 0 && (id.page & 7) as usize == k % 8 {
                    tpl.pages.entry(id).or_default().push(o);
                }
            }
        }
    }
    let main_stream = main_stream.context("the template has no data (MQDA) stream")?;

    // The allocation plan.
    let rpp = ((PAGE_SIZE - 96) / (plan.encoder.len() + 2)) as u64;
    let data_pages = opts.rows.div_ceil(rpp);
    let data_extents = data_pages.div_ceil(8);
    let lob = plan.lob_au.map(|au| LobPlan::new(au, plan.encoder.lob_roots(), opts.lob_bytes.unwrap_or(0), opts.rows));
    let lob_pages = lob.as_ref().map_or(0, LobPlan::pages);
    let lob_extents = lob_pages.div_ceil(8);
    let mut extents: Vec<(u32, Ext)> = Vec::new();
    let mut p = start_page;
    if lob.is_some() {
        // The LOB unit's first IAM page, in an extent of its own (a mixed extent).
        extents.push((p as u32, Ext::LobIam));
        p += 8;
    }
    let mut n = 0u64;
    while n < data_extents + lob_extents {
        let kind = if p % u64::from(GAM_INTERVAL) == 0 {
            ensure!(p % u64::from(PFS_INTERVAL) != 0, "a PFS page at a GAM interval start ({p})");
            Ext::IntervalStart
        } else if p % u64::from(PFS_INTERVAL) == 0 {
            Ext::Pfs
        } else {
            n += 1;
            if n <= data_extents { Ext::Data(n - 1) } else { Ext::Lob(n - 1 - data_extents) }
        };
        let page = u32::try_from(p).context("the file would pass 2^32 pages")?;
        extents.push((page, kind));
        p += 8;
    }
    let end_page = p;
    let added = extents.len() as u64 * 8 * PAGE_SIZE as u64;
    // Page id of the `q`-th new data page (4 bytes per data extent: 1.3 MB for 20 GB).
    let data_extent_pages: Vec<u32> = extents.iter().filter(|e| matches!(e.1, Ext::Data(_))).map(|e| e.0).collect();
    let data_page_id = |q: u64| PageId::new(file_id, data_extent_pages[(q / 8) as usize] + (q % 8) as u32);
    let lob_extent_pages: Vec<u32> = extents.iter().filter(|e| matches!(e.1, Ext::Lob(_))).map(|e| e.0).collect();
    let lob_page_id = |q: u64| PageId::new(file_id, lob_extent_pages[(q / 8) as usize] + (q % 8) as u32);
    let lob_iam_id = |interval: u64| match interval {
        0 => PageId::new(file_id, start_page as u32),
        k => PageId::new(file_id, (k * u64::from(GAM_INTERVAL)) as u32 + 3),
    };
    // Free bytes of LOB page `q` (its records and their slots).
    let lob_free = |q: u64| {
        let lob = lob.as_ref().expect("LOB pages only with a LOB plan");
        let used: usize =
            lob.on_page(q).iter().map(|&(_, j)| LobPlan::RECORD_HEADER + lob.span(j).1 - lob.span(j).0 + 2).sum();
        PAGE_SIZE - 96 - used
    };
    // A clustered table's leaf level goes on through the new pages, in key order.
    if let Some(last) = plan.last_leaf {
        tpl.patch(last, |b| put_page_id(b, 16, data_page_id(0)))?;
    }
    let last_rows = opts.rows - (data_pages.saturating_sub(1)) * rpp;
    let free_of = |rows: u64| PAGE_SIZE - 96 - rows as usize * (plan.encoder.len() + 2);
    let full_band = fullness(free_of(rpp));
    let last_band = fullness(free_of(last_rows));
    let data_status = |q: u64| 0x40 | if q + 1 == data_pages { last_band } else { full_band };

    // Template pages whose status bytes new PFS pages copy.
    let pfs1 = tpl.page(PageId::new(file_id, 1))?;
    let tpl_status = |page: u32| pfs1[100 + page as usize];
    // Allocated, mixed extent, IAM page.
    let iam_status = 0x70;
    // Status of a new page.
    let status = |page: u64| -> u8 {
        let e = page / 8 * 8;
        let Ok(i) = extents.binary_search_by_key(&(e as u32), |x| x.0) else { return 0 };
        let k = (page - e) as u32;
        match extents[i].1 {
            Ext::IntervalStart => match k {
                0 => tpl_status(2),
                1 => tpl_status(3),
                2 => iam_status,
                3 if lob.is_some() => iam_status,
                6 => tpl_status(6),
                7 => tpl_status(7),
                _ => 0,
            },
            Ext::Pfs => {
                if k == 0 {
                    tpl_status(1)
                } else {
                    0
                }
            }
            Ext::Data(d) => {
                let q = d * 8 + u64::from(k);
                if q < data_pages { data_status(q) } else { 0 }
            }
            Ext::LobIam => {
                if k == 0 {
                    iam_status
                } else {
                    0
                }
            }
            Ext::Lob(d) => {
                let q = d * 8 + u64::from(k);
                if q < lob_pages { 0x40 | fullness(lob_free(q)) } else { 0 }
            }
        }
    };

    // Interval 0: PFS page 1, GAM page 2, the IAM of interval 0.
    let in_first_pfs: Vec<u64> = (start_page..end_page.min(u64::from(PFS_INTERVAL))).collect();
    if !in_first_pfs.is_empty() {
        tpl.patch(PageId::new(file_id, 1), |b| {
            for &pg in &in_first_pfs {
                b[100 + pg as usize] = status(pg);
            }
        })?;
    }
    let gam_bits = |b: &mut [u8; PAGE_SIZE], interval: u64| {
        let base = interval * u64::from(GAM_INTERVAL);
        let lo = start_page.max(base);
        let hi = end_page.min(base + u64::from(GAM_INTERVAL));
        let mut e = lo;
        while e < hi {
            let i = ((e - base) / 8) as usize;
            b[MAP_OFFSET + i / 8] &= !(1 << (i % 8));
            e += 8;
        }
    };
    tpl.patch(PageId::new(file_id, 2), |b| gam_bits(b, 0))?;
    // The IAM pages of the chain, by interval start.
    let mut chain: Vec<(PageId, u64)> = Vec::new();
    for &id in &iam_chain {
        let b = tpl.page(id)?;
        let start = PageId::from_bytes(&b[136..142]).context("IAM start page")?;
        chain.push((id, u64::from(start.page)));
    }
    // The bits of the data extents (or, `for_lob`, the LOB extents) of one GAM interval.
    let map_bits = |b: &mut [u8; PAGE_SIZE], base: u64, for_lob: bool| {
        for &(pg, kind) in &extents {
            let pg = u64::from(pg);
            let mine = if for_lob { matches!(kind, Ext::Lob(_)) } else { matches!(kind, Ext::Data(_)) };
            if mine && pg >= base && pg < base + u64::from(GAM_INTERVAL) {
                let i = ((pg - base) / 8) as usize;
                b[MAP_OFFSET + i / 8] |= 1 << (i % 8);
            }
        }
    };
    if extents.iter().any(|&(pg, k)| matches!(k, Ext::Data(_)) && pg < GAM_INTERVAL) {
        let (id0, _) = *chain.iter().find(|c| c.1 == 0).context("the table has no IAM page for GAM interval 0")?;
        tpl.patch(id0, |b| map_bits(b, 0, false))?;
    }
    if lob.is_some() {
        // SGAM: the LOB IAM's extent is a mixed extent with free pages.
        let i = (start_page / 8) as usize;
        tpl.patch(PageId::new(file_id, 3), |b| b[MAP_OFFSET + i / 8] |= 1 << (i % 8))?;
    }
    // New intervals: their IAM pages chained after the template's last one.
    let new_intervals: Vec<u64> = extents
        .iter()
        .filter(|e| e.1 == Ext::IntervalStart)
        .map(|e| u64::from(e.0) / u64::from(GAM_INTERVAL))
        .collect();
    let iam_tpl = tpl.page(plan.first_iam)?;
    let (last_iam, _) = *chain.last().context("empty IAM chain")?;
    let last_seq = u32_at(&tpl.page(last_iam)?, 100);
    let new_iam_id = |k: u64| PageId::new(file_id, (k * u64::from(GAM_INTERVAL)) as u32 + 2);
    if let Some(&k) = new_intervals.first() {
        tpl.patch(last_iam, |b| put_page_id(b, 16, new_iam_id(k)))?;
    }
    // An IAM page made from the table's own: allocation unit `au` in its header (`m_objId`
    // at 24, `m_indexId` at 6), chain links, and its header record (page offset 96):
    // sequence number, start page, no single pages; the bitmap of `base`'s interval.
    let iam_page = |au: u64, seq: u32, base: u64, prev: PageId, next: PageId, for_lob: bool| {
        let mut page = iam_tpl;
        page[6..8].copy_from_slice(&((au >> 48) as u16).to_le_bytes());
        page[24..28].copy_from_slice(&((au >> 16) as u32).to_le_bytes());
        put_page_id(&mut page, 8, prev);
        put_page_id(&mut page, 16, next);
        page[100..104].copy_from_slice(&seq.to_le_bytes());
        put_page_id(&mut page, 136, PageId::new(file_id, base as u32));
        page[134] = 0; // single-page count
        page[142..190].fill(0);
        page[MAP_OFFSET..MAP_OFFSET + MAP_BYTES].fill(0);
        map_bits(&mut page, base, for_lob);
        page
    };
    let none = PageId::new(0, 0);
    // The LOB unit's chain: interval 0's page, then one per new interval.
    let lob_chain: Vec<u64> = std::iter::once(0).chain(new_intervals.iter().copied()).collect();
    let lob_iam = |interval: u64| {
        let pos = lob_chain.iter().position(|&i| i == interval).expect("planned");
        let prev = if pos == 0 { none } else { lob_iam_id(lob_chain[pos - 1]) };
        let next = lob_chain.get(pos + 1).map_or(none, |&i| lob_iam_id(i));
        let au = lob.as_ref().expect("a LOB plan").au;
        iam_page(au, pos as u32, interval * u64::from(GAM_INTERVAL), prev, next, true)
    };

    // Catalog: sysrowsets.rcrows and sysallocunits page counts.
    let mut catalog_rows = 0u64;
    let rowsets_au = raw
        .alloc_units
        .iter()
        .find(|a| a.owner == 5 << 16 && a.kind == 1)
        .context("no allocation unit for sysrowsets")?
        .id;
    let mut found_rowset = false;
    let mut found_au = false;
    let mut found_lob_au = lob.is_none();
    let ids: Vec<PageId> = tpl.pages.keys().copied().collect();
    let new_pages_used = data_pages + new_intervals.len() as u64;
    let new_pages_reserved = data_extents * 8 + new_intervals.len() as u64;
    for id in ids {
        let page = tpl.page(id)?;
        if page[1] != 1 {
            continue;
        }
        let au = (u64::from(u16_at(&page, 6)) << 48) | (u64::from(u32_at(&page, 24)) << 16);
        let slots = usize::from(u16_at(&page, 22));
        let records: Vec<usize> =
            (0..slots).map(|s| usize::from(u16_at(&page, PAGE_SIZE - 2 * (s + 1)))).filter(|&o| o >= 96).collect();
        if au == rowsets_au {
            for &o in &records {
                if page[o] & 0x0e == 0 && o + 39 <= PAGE_SIZE && u64_at(&page, o + 4) as i64 == plan.rowset_id {
                    let rc = u64_at(&page, o + 31);
                    catalog_rows = rc + opts.rows;
                    found_rowset = true;
                    tpl.patch(id, |b| b[o + 31..o + 39].copy_from_slice(&(rc + opts.rows).to_le_bytes()))?;
                }
            }
        } else if au == 7 << 16 {
            for &o in &records {
                if let Some(lob) = &lob
                    && page[o] & 0x0e == 0
                    && o + 69 <= PAGE_SIZE
                    && u64_at(&page, o + 4) == lob.au
                {
                    // pgfirstiam (binary(6) at 39), then the page counts.
                    found_lob_au = true;
                    let iam_pages = 1 + new_intervals.len() as u64;
                    let (used, data, reserved) = (u64_at(&page, o + 45), u64_at(&page, o + 53), u64_at(&page, o + 61));
                    tpl.patch(id, |b| {
                        put_page_id(b, o + 39, lob_iam_id(0));
                        b[o + 45..o + 53].copy_from_slice(&(used + lob_pages + iam_pages).to_le_bytes());
                        b[o + 53..o + 61].copy_from_slice(&(data + lob_pages).to_le_bytes());
                        b[o + 61..o + 69].copy_from_slice(&(reserved + lob_extents * 8 + iam_pages).to_le_bytes());
                    })?;
                }
                if page[o] & 0x0e == 0 && o + 69 <= PAGE_SIZE && u64_at(&page, o + 4) == plan.au {
                    found_au = true;
                    let (used, data, reserved) = (u64_at(&page, o + 45), u64_at(&page, o + 53), u64_at(&page, o + 61));
                    tpl.patch(id, |b| {
                        b[o + 45..o + 53].copy_from_slice(&(used + new_pages_used).to_le_bytes());
                        b[o + 53..o + 61].copy_from_slice(&(data + data_pages).to_le_bytes());
                        b[o + 61..o + 69].copy_from_slice(&(reserved + new_pages_reserved).to_le_bytes());
                    })?;
                }
            }
        }
    }
    ensure!(found_rowset, "the sysrowsets row of {} was not found", table.qualified_name());
    ensure!(found_au, "the sysallocunits row of {} was not found", table.qualified_name());
    ensure!(found_lob_au, "the sysallocunits row of {}'s LOB unit was not found", table.qualified_name());

    // MTF: descriptions (file size, backup size), block addresses after the insertion.
    let insert_at = (main_stream.data_offset + main_stream.len) as usize;
    let new_size_bytes = end_page.max(old_size_pages) * PAGE_SIZE as u64;
    for b in &image.blocks {
        if b.offset as usize > insert_at {
            let o = b.offset as usize;
            let fla = u64_at(&tpl.bytes, o + 20);
            if fla != 0 {
                tpl.bytes[o + 20..o + 28].copy_from_slice(&(fla + added / 1024).to_le_bytes());
                reseal_header(&mut tpl.bytes[o..o + 52], 50);
            }
        }
        for s in b.streams.iter().filter(|s| &s.id == b"MQCI") {
            let (start, end) = (s.data_offset as usize, (s.data_offset + s.len) as usize);
            let mut r = start;
            while r + 8 <= end {
                let tag = [tpl.bytes[r], tpl.bytes[r + 1], tpl.bytes[r + 2], tpl.bytes[r + 3]];
                let len = u32_at(&tpl.bytes, r + 4) as usize;
                ensure!(len >= 8 && r + len <= end, "an MQCI record of {len} bytes");
                let rec = &mut tpl.bytes[r..r + len];
                if &tag == b"SFIN" && u32_at(rec, 0x14) == u32::from(file_id) && u32_at(rec, 0x1c) == 1 {
                    rec[0x28..0x30].copy_from_slice(&new_size_bytes.to_le_bytes());
                } else if &tag == b"SCIN" {
                    let size = u64_at(rec, 0x60);
                    if size != 0 {
                        rec[0x60..0x68].copy_from_slice(&(size + added).to_le_bytes());
                    }
                }
                r += len;
            }
        }
    }
    // The main MQDA stream's length.
    let h = main_stream.header_offset as usize;
    tpl.bytes[h + 8..h + 16].copy_from_slice(&(main_stream.len + added).to_le_bytes());
    reseal_header(&mut tpl.bytes[h..h + 22], 20);

    // Write: template up to the insertion point, the new extents, the rest.
    let file = File::create(&opts.out).with_context(|| opts.out.display().to_string())?;
    let file = BufWriter::with_capacity(1 << 20, file);
    let mut out = if opts.compressed {
        // The soft filemarks are stored raw in the container; where they land in the image.
        let sfmb_len = u64::from(u16_at(&tpl.bytes, 64)).max(1) * 512;
        let filemarks = image
            .blocks
            .iter()
            .filter(|b| &b.kind == b"SFMB")
            .map(|b| (if b.offset as usize >= insert_at { b.offset + added } else { b.offset }, sfmb_len))
            .collect();
        Sink::Compressed(CompressedWriter::new(file, filemarks)?)
    } else {
        Sink::Plain(file)
    };
    out.write_all(&tpl.bytes[..insert_at])?;
    let gam_tpl = tpl.page(PageId::new(file_id, 2))?;
    let sgam_tpl = tpl.page(PageId::new(file_id, 3))?;
    let dcm_tpl = tpl.page(PageId::new(file_id, 6))?;
    let bcm_tpl = tpl.page(PageId::new(file_id, 7))?;
    let set_id = |b: &mut [u8; PAGE_SIZE], page: u64| put_page_id(b, 32, PageId::new(file_id, page as u32));
    let zero = [0u8; PAGE_SIZE];
    let mut page = [0u8; PAGE_SIZE];
    let mut rec = vec![0u8; plan.encoder.len()];
    let rec_len = plan.encoder.len();
    for &(first, kind) in &extents {
        let first = u64::from(first);
        for k in 0..8u64 {
            let pg = first + k;
            let wrote = match kind {
                Ext::IntervalStart => {
                    let interval = pg / u64::from(GAM_INTERVAL);
                    match k {
                        0 | 1 | 6 | 7 => {
                            page = match k {
                                0 => gam_tpl,
                                1 => sgam_tpl,
                                6 => dcm_tpl,
                                _ => bcm_tpl,
                            };
                            let fill = if k == 0 { 0xff } else { 0 };
                            page[MAP_OFFSET..MAP_OFFSET + MAP_BYTES].fill(fill);
                            if k == 0 {
                                gam_bits(&mut page, interval);
                            } else if k == 1 {
                                // This mixed extent has free pages (3 to 5).
                                page[MAP_OFFSET] |= 1;
                            }
                            true
                        }
                        2 => {
                            let pos = new_intervals.iter().position(|&i| i == interval).expect("planned");
                            let prev = if pos == 0 { last_iam } else { new_iam_id(new_intervals[pos - 1]) };
                            let next = new_intervals.get(pos + 1).map_or(none, |&i| new_iam_id(i));
                            let base = interval * u64::from(GAM_INTERVAL);
                            page = iam_page(plan.au, last_seq + 1 + pos as u32, base, prev, next, false);
                            true
                        }
                        3 if lob.is_some() => {
                            page = lob_iam(interval);
                            true
                        }
                        _ => false,
                    }
                }
                Ext::Pfs if k == 0 => {
                    page = pfs1;
                    page[100..100 + PFS_INTERVAL as usize].fill(0);
                    for i in 0..u64::from(PFS_INTERVAL) {
                        page[100 + i as usize] = status(pg + i);
                    }
                    true
                }
                Ext::Pfs => false,
                Ext::LobIam => {
                    if k == 0 {
                        page = lob_iam(0);
                    }
                    k == 0
                }
                Ext::Lob(d) => {
                    let q = d * 8 + k;
                    if let (true, Some(lob)) = (q < lob_pages, &lob) {
                        // A text page (type 3) of the LOB unit: DATA records back to back.
                        page.fill(0);
                        page[..96].copy_from_slice(&plan.header);
                        page[1] = 3; // m_type: TEXT_MIX_PAGE
                        page[3] = 0; // m_level
                        page[6..8].copy_from_slice(&((lob.au >> 48) as u16).to_le_bytes());
                        page[24..28].copy_from_slice(&((lob.au >> 16) as u32).to_le_bytes());
                        page[8..22].fill(0); // no prev/next, pminlen 0
                        page[38..40].fill(0);
                        page[50..52].fill(0);
                        page[58..60].fill(0);
                        let frags = lob.on_page(q);
                        let mut o = 96;
                        for (slot, &(v, j)) in frags.iter().enumerate() {
                            let (from, to) = lob.span(j);
                            let n = LobPlan::RECORD_HEADER + to - from;
                            page[o] = 0x08; // record type 4: BLOB_FRAGMENT
                            page[o + 2..o + 4].copy_from_slice(&(n as u16).to_le_bytes());
                            page[o + 4..o + 12].copy_from_slice(&(v + 1).to_le_bytes()); // blob id
                            page[o + 12..o + 14].copy_from_slice(&3u16.to_le_bytes()); // DATA
                            let root = &lob.roots[(v % lob.roots.len() as u64) as usize];
                            let row = v / lob.roots.len() as u64;
                            encode::lob_value(&root.ty, row, from, &mut page[o + 14..o + n]);
                            let so = PAGE_SIZE - 2 * (slot + 1);
                            page[so..so + 2].copy_from_slice(&(o as u16).to_le_bytes());
                            o += n;
                        }
                        page[22..24].copy_from_slice(&(frags.len() as u16).to_le_bytes());
                        page[28..30].copy_from_slice(&(lob_free(q) as u16).to_le_bytes());
                        page[30..32].copy_from_slice(&(o as u16).to_le_bytes());
                        true
                    } else {
                        false
                    }
                }
                Ext::Data(d) => {
                    let q = d * 8 + k;
                    if q < data_pages {
                        let rows = if q + 1 == data_pages { last_rows } else { rpp };
                        page.fill(0);
                        page[..96].copy_from_slice(&plan.header);
                        page[14..16].copy_from_slice(&(plan.encoder.fixed_end() as u16).to_le_bytes());
                        // m_prevPage, m_nextPage: none in a heap; the leaf chain in a
                        // clustered index.
                        page[8..22].fill(0);
                        if let Some(last) = plan.last_leaf {
                            put_page_id(&mut page, 8, if q == 0 { last } else { data_page_id(q - 1) });
                            if q + 1 < data_pages {
                                put_page_id(&mut page, 16, data_page_id(q + 1));
                            }
                        }
                        page[22..24].copy_from_slice(&(rows as u16).to_le_bytes());
                        let free = free_of(rows);
                        page[28..30].copy_from_slice(&(free as u16).to_le_bytes());
                        let free_data = 96 + rows as usize * rec_len;
                        page[30..32].copy_from_slice(&(free_data as u16).to_le_bytes());
                        page[38..40].fill(0); // m_reservedCnt
                        page[50..52].fill(0); // m_xactReserved
                        page[58..60].fill(0); // m_ghostRecCnt
                        let row0 = q * rpp;
                        for s in 0..rows as usize {
                            plan.encoder.write(row0 + s as u64, &mut rec);
                            if let Some(lob) = &lob {
                                // The inline roots' links to the value's fragments.
                                let m = lob.roots.len() as u64;
                                for (c, root) in lob.roots.iter().enumerate() {
                                    let v = (row0 + s as u64) * m + c as u64;
                                    for j in 0..lob.fragments() {
                                        let (q, slot) = lob.place(v, j);
                                        let at = root.offset + 12 + 12 * j as usize;
                                        rec[at..at + 4].copy_from_slice(&(lob.span(j).1 as u32).to_le_bytes());
                                        put_page_id(&mut rec, at + 4, lob_page_id(q));
                                        rec[at + 10..at + 12].copy_from_slice(&slot.to_le_bytes());
                                    }
                                }
                            }
                            let o = 96 + s * rec_len;
                            page[o..o + rec_len].copy_from_slice(&rec);
                            let so = PAGE_SIZE - 2 * (s + 1);
                            page[so..so + 2].copy_from_slice(&(o as u16).to_le_bytes());
                        }
                        true
                    } else {
                        false
                    }
                }
            };
            if wrote {
                set_id(&mut page, pg);
                seal(&mut page);
                out.write_all(&page)?;
            } else {
                out.write_all(&zero)?;
            }
        }
    }
    out.write_all(&tpl.bytes[insert_at..])?;
    let chunks = match out {
        Sink::Plain(mut f) => {
            f.flush()?;
            0
        }
        Sink::Compressed(c) => {
            let n = c.chunks();
            c.finish()?;
            n
        }
    };
    let out_bytes = std::fs::metadata(&opts.out)?.len();
    Ok(Summary {
        table: table.qualified_name(),
        rows: opts.rows,
        catalog_rows,
        record_len: rec_len,
        rows_per_page: rpp,
        data_pages,
        extents: extents.len() as u64,
        iam_pages: new_intervals.len() as u64,
        out_bytes,
        chunks,
        lob_pages,
    })
}

/// Recomputes the XOR checksum of an MTF header: the `u16` at `at` is the XOR of the words
/// before it.
fn reseal_header(h: &mut [u8], at: usize) {
    let x = h[..at].chunks_exact(2).fold(0u16, |a, w| a ^ u16::from_le_bytes([w[0], w[1]]));
    h[at..at + 2].copy_from_slice(&x.to_le_bytes());
}
