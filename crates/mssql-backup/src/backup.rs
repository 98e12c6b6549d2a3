//! Opening a backup: the entry point of the reader.
//!
//! ```no_run
//! use mssql_backup::Backup;
//! let backup = Backup::open(&["NEXT70.bak".as_ref()])?;
//! for table in &backup.database()?.tables {
//!     let mut rows = backup.rows(table)?;
//!     while let Some(row) = rows.next_row()? {
//!         let _ = row; // one Value per column
//!     }
//! }
//! # Ok::<(), mssql_backup::Error>(())
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::alloc::PfsCache;
use crate::boot::{self, BootInfo};
use crate::catalog::{self, RawCatalog, TableLayout};
use crate::completeness::{self, Completeness};
use crate::compressed::{self, CompressedSource};
use crate::header::{self, BackupDescription, FileType};
use crate::mtf::MtfImage;
use crate::rows::TableRows;
use crate::scan::Part;
use crate::schema::{Database, Table};
use crate::source::{ByteSource, MmapSource};
use crate::store::{PageStore, StoreFile};
use crate::{Error, ErrorKind, Result};

/// How to open a backup. Build it as `OpenOptions { salvage: true, ..Default::default() }`:
/// a field added later then keeps its default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Read what is there from an incomplete backup: missing pages are skipped and
    /// reported (see [`Backup::completeness`]) instead of failing. Never use the result as
    /// if it were whole.
    pub salvage: bool,
    /// The backup set to read when a file holds several, by its position (`RESTORE …
    /// WITH FILE = n`, 1-based; [`crate::header::BackupHeader::position`]). `None`: the
    /// last full database backup set of the file (see [`choose_set`]).
    pub backup_set: Option<u16>,
}

/// Every backup set of the file at `path`, in file order: `RESTORE HEADERONLY` from the
/// MTF blocks alone (no page index, no catalog), for an uncompressed or a compressed
/// (`MSSQLBAK`, told by its magic) backup. Cheaper than [`Backup::open`] when only the
/// description is wanted; [`choose_set`] picks the one [`Backup::open`] would read.
///
/// # Errors
/// As [`Backup::open`], naming the file.
pub fn read_backup_sets(path: &Path) -> Result<Vec<BackupDescription>> {
    let source: Box<dyn ByteSource> = Box::new(MmapSource::open(path)?);
    let (source, is_compressed) = unwrap_container(source, path)?;
    let image = MtfImage::parse(source.as_ref()).map_err(|e| e.with_file(path))?;
    header::read_sets(&image, source.as_ref(), is_compressed).map_err(|e| e.with_file(path))
}

/// `source` itself, or the MTF stream inside it when it is an `MSSQLBAK` container (and
/// whether it was).
fn unwrap_container(source: Box<dyn ByteSource>, path: &Path) -> Result<(Box<dyn ByteSource>, bool)> {
    let mut head = [0u8; 8];
    let n = source.len().min(8) as usize;
    source.read_exact_at(0, &mut head[..n]).map_err(|e| e.with_file(path))?;
    if compressed::is_compressed(&head[..n]) {
        Ok((Box::new(CompressedSource::from_source(source, path)?), true))
    } else {
        Ok((source, false))
    }
}

/// The backup set to read among `sets` (one file's, in file order): the one at position
/// `wanted`, else the last full database backup (what a user who appended backups to one
/// file means by "the backup"), else the last set, which [`crate::header::BackupHeader::ensure_restorable`]
/// then refuses naming its type.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] when no set has position `wanted`.
pub fn choose_set(sets: &[BackupDescription], wanted: Option<u16>) -> Result<usize> {
    if let Some(n) = wanted {
        return sets.iter().position(|d| d.header.position == n).ok_or_else(|| {
            let have: Vec<String> = sets.iter().map(|d| d.header.position.to_string()).collect();
            Error::new(
                ErrorKind::InvalidInput,
                format!("there is no backup set {n} in the file: it holds backup set(s) {}", have.join(", ")),
            )
        });
    }
    let full = |d: &BackupDescription| d.header.ensure_restorable().is_ok();
    Ok(sets.iter().rposition(full).unwrap_or(sets.len().saturating_sub(1)))
}

/// An opened backup (one file, or all the stripe files of one backup).
pub struct Backup {
    options: OpenOptions,
    store: PageStore,
    pfs: PfsCache,
    boot: Option<BootInfo>,
    paths: Vec<PathBuf>,
    /// The chosen set's description, one per file given.
    descriptions: Vec<BackupDescription>,
    /// Every set of the first file, in file order; `sets[set_index]` is the one read.
    sets: Vec<BackupDescription>,
    set_index: usize,
    media_problem: Option<Error>,
    schema: OnceLock<Result<catalog::build::Built>>,
}

impl Backup {
    /// Opens the backup made of `paths`: one file, or every stripe file of a backup
    /// written to several files at once (a media set with several families).
    ///
    /// Only the container structure and the page index are read here; the catalog is read
    /// on first use.
    ///
    /// # Errors
    /// [`ErrorKind::NotABackup`], [`ErrorKind::Truncated`], [`ErrorKind::Corrupt`] naming the
    /// file and offset; I/O errors.
    pub fn open(paths: &[&Path]) -> Result<Backup> {
        Self::open_with(paths, OpenOptions::default())
    }

    /// [`Backup::open`] with options.
    ///
    /// # Errors
    /// As [`Backup::open`].
    pub fn open_with(paths: &[&Path], options: OpenOptions) -> Result<Backup> {
        if paths.is_empty() {
            return Err(Error::new(ErrorKind::Io, "no backup file given"));
        }
        let mut sources: Vec<(PathBuf, Box<dyn ByteSource>)> = Vec::new();
        for path in paths {
            sources.push((path.to_path_buf(), Box::new(MmapSource::open(path)?)));
        }
        Self::from_sources(sources, options)
    }

    /// Opens a backup from byte sources already open (in-memory images in tests, or
    /// decompressed streams), each named by the path used in errors.
    pub(crate) fn from_sources(sources: Vec<(PathBuf, Box<dyn ByteSource>)>, options: OpenOptions) -> Result<Backup> {
        if sources.is_empty() {
            return Err(Error::new(ErrorKind::Io, "no backup file given"));
        }
        let paths: Vec<PathBuf> = sources.iter().map(|(p, _)| p.clone()).collect();
        let mut files = Vec::new();
        let mut descriptions = Vec::new();
        let mut first_sets: Vec<BackupDescription> = Vec::new();
        let mut set_index = 0;
        for (k, (path, source)) in sources.into_iter().enumerate() {
            let (source, is_compressed) = unwrap_container(source, &path)?;
            let image = MtfImage::parse(source.as_ref()).map_err(|e| e.with_file(&path))?;
            let sets = header::read_sets(&image, source.as_ref(), is_compressed).map_err(|e| e.with_file(&path))?;
            // Every stripe file holds the same sets: the first file decides which is read,
            // the others must hold it at the same position.
            let index = if k == 0 {
                choose_set(&sets, options.backup_set).map_err(|e| e.with_file(&path))?
            } else {
                choose_set(&sets, Some(first_sets[set_index].header.position)).map_err(|e| e.with_file(&path))?
            };
            let span = image.sets()[index];
            let runs = image.page_runs_in(span).map_err(|e| e.with_file(&path))?;
            descriptions.push(sets[index].clone());
            if k == 0 {
                set_index = index;
                first_sets = sets;
            }
            files.push((StoreFile { path, source }, runs));
        }
        let headers: Vec<&header::BackupHeader> = descriptions.iter().map(|d| &d.header).collect();
        let media_problem = header::check_media_set(&headers).err();
        if let Some(e) = &media_problem
            && e.kind != ErrorKind::Incomplete
        {
            // Files of different backups, or one family twice: nothing to read.
            return Err(e.clone().with_file(&paths[0]));
        }
        let store = PageStore::build(files)?;
        let boot = if store.has_extent(boot::BOOT_PAGE) {
            Some(boot::parse(&store.read(boot::BOOT_PAGE)?).map_err(|e| e.with_file(&paths[0]))?)
        } else {
            None
        };
        Ok(Backup {
            options,
            store,
            pfs: PfsCache::default(),
            boot,
            paths,
            descriptions,
            sets: first_sets,
            set_index,
            media_problem,
            schema: OnceLock::new(),
        })
    }

    /// What `RESTORE HEADERONLY` and `RESTORE FILELISTONLY` would say of the backup set
    /// being read (from the first file; every stripe file carries the same description).
    pub fn description(&self) -> &BackupDescription {
        &self.descriptions[0]
    }

    /// Every backup set of the (first) file, in file order, as `RESTORE HEADERONLY` lists
    /// them; [`Backup::set_index`] says which one is read.
    pub fn backup_sets(&self) -> &[BackupDescription] {
        &self.sets
    }

    /// The index in [`Backup::backup_sets`] of the set being read.
    pub fn set_index(&self) -> usize {
        self.set_index
    }

    /// The database name: the boot page's, else the backup header's.
    pub fn database_name(&self) -> &str {
        self.boot.as_ref().map(|b| b.name.as_str()).unwrap_or(&self.descriptions[0].header.database_name)
    }

    /// The backup files, in the order given.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// The boot page's facts, when the backup holds the boot page.
    pub fn boot(&self) -> Option<&BootInfo> {
        self.boot.as_ref()
    }

    /// The page store.
    #[cfg(any(test, feature = "internals"))]
    pub(crate) fn store(&self) -> &PageStore {
        &self.store
    }

    fn internal_version(&self) -> Result<u16> {
        match (&self.boot, self.options.salvage) {
            (Some(b), _) => Ok(b.version),
            // Without a boot page the header's copy of dbi_version picks the layouts.
            (None, true) => Ok(self.descriptions[0].header.database_version),
            (None, false) => {
                Err(Error::new(ErrorKind::Incomplete, "the backup has no boot page (page 1:9 is missing)")
                    .with_file(&self.paths[0]))
            }
        }
    }

    /// Reads the system base tables.
    pub(crate) fn raw_catalog(&self) -> Result<RawCatalog> {
        let version = self.internal_version()?;
        catalog::load(&self.store, &self.pfs, self.boot.as_ref(), version, self.options.salvage)
            .map_err(|e| e.with_file(&self.paths[0]))
    }

    fn schema_and_layouts(&self) -> Result<&catalog::build::Built> {
        self.schema
            .get_or_init(|| {
                self.descriptions[0].header.ensure_restorable().map_err(|e| e.with_file(&self.paths[0]))?;
                let raw = self.raw_catalog()?;
                let collation = match self.boot.as_ref().map(|b| b.collation_id) {
                    Some(id) if id != 0 => Some(crate::collation::lookup(id).map_err(|e| e.with_file(&self.paths[0]))?),
                    _ => None,
                };
                catalog::build::build(&raw, self.database_name(), collation, self.options.salvage)
                    .map_err(|e| e.with_file(&self.paths[0]))
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The database's schema (read once, then cached).
    ///
    /// # Errors
    /// [`ErrorKind::Incomplete`] when catalog pages are missing; [`ErrorKind::Catalog`] and
    /// page errors otherwise.
    pub fn database(&self) -> Result<&Database> {
        Ok(&self.schema_and_layouts()?.database)
    }

    /// The physical layout of `table` (a table of [`Backup::database`]); a
    /// [`ErrorKind::Catalog`] error for a table not of this backup.
    pub(crate) fn layout(&self, table: &Table) -> Result<&TableLayout> {
        let layouts = &self.schema_and_layouts()?.layouts;
        layouts
            .iter()
            .find(|l| l.object_id == table.object_id)
            .ok_or_else(|| Error::catalog(format!("table {} is not in this backup", table.qualified_name())))
    }

    /// A reader over the rows of `table`.
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for tables the reader cannot decode (compressed rows,
    /// memory-optimized tables); catalog errors.
    pub fn rows<'a>(&'a self, table: &'a Table) -> Result<TableRows<'a>> {
        self.rows_part(table, Part::WHOLE)
    }

    /// A reader over the rows of one `part` of `table`'s pages (see [`Part`]): readers of
    /// the parts `0..n` of the same `n`, on as many threads, read every row once between
    /// them. The table's checks are per page, so each part makes them for its pages.
    ///
    /// # Errors
    /// As [`Backup::rows`].
    pub fn rows_part<'a>(&'a self, table: &'a Table, part: Part) -> Result<TableRows<'a>> {
        let layout = self.layout(table)?;
        TableRows::new(&self.store, &self.pfs, table, layout, self.options.salvage, part)
            .map_err(|e| e.with_file(&self.paths[0]))
    }

    /// Whether `table` has any data page in the backup (its IAM chains mapping an
    /// allocated data page of its in-row allocation units). A table without one reads as
    /// empty whatever its storage (a ROW or PAGE compressed table that holds no pages
    /// needs no decoder).
    ///
    /// # Errors
    /// As [`Backup::database`]; [`ErrorKind::Catalog`] for a table not of this backup;
    /// missing or damaged IAM and PFS pages.
    pub fn holds_data_pages(&self, table: &Table) -> Result<bool> {
        let layout = self.layout(table)?;
        crate::rows::holds_data_pages(&self.store, &self.pfs, layout).map_err(|e| e.with_file(&self.paths[0]))
    }

    /// Checks that every allocated extent and every page of every table is in the backup.
    /// Never fails: what cannot be checked is reported as a problem.
    pub fn completeness(&self) -> Completeness {
        let mut out = Completeness {
            complete: true,
            problems: Vec::new(),
            missing_extents: 0,
            missing_sample: Vec::new(),
            tables: Vec::new(),
            damage: None,
        };
        if let Some(e) = &self.media_problem {
            out.problems.push(e.message.clone());
        }
        if self.boot.is_none() {
            out.problems.push("the boot page (1:9) is not in the backup".into());
        }
        let mut files: Vec<(u16, Option<u64>)> = self.descriptions[0]
            .files
            .iter()
            .filter(|f| f.file_type == FileType::Data)
            .map(|f| (f.file_id, Some(f.size_bytes / 8192)))
            .collect();
        // The file list names every file of the database (of any type): pages of another
        // one are pages whose header was damaged.
        let all: Vec<u16> = self.descriptions[0].files.iter().map(|f| f.file_id).collect();
        let listed: Vec<String> = all.iter().map(u16::to_string).collect();
        for id in self.store.file_ids() {
            if !files.iter().any(|f| f.0 == id) {
                if !all.is_empty() && !all.contains(&id) {
                    out.note_damage(&Error::corrupt(format!(
                        "the backup holds pages of data file {id}, which its file list does not have \
                         (files {}): a damaged page header",
                        listed.join(", ")
                    )));
                }
                files.push((id, None));
            }
        }
        completeness::check_files(&self.store, &files, &mut out);
        match self.schema_and_layouts() {
            Ok(built) => {
                completeness::check_tables(&self.store, &built.database, &built.layouts, &mut out);
                out.problems
                    .extend(built.undescribed.iter().map(|u| format!("not described (catalog pages missing): {u}")));
                // What the missing catalog pages held is absent from the schema: said, not
                // left to show as fewer tables.
                out.problems.extend(built.catalog_skips.iter().map(|s| format!("system catalog incomplete: {s}")));
            }
            Err(e) => out.problem("the system catalog cannot be read".into(), &e),
        }
        out.complete = out.problems.is_empty();
        out
    }
}
