//! Opening a backup: the entry point of the reader.

use std::path::{Path, PathBuf};

use crate::alloc::PfsCache;
use crate::boot::{self, BootInfo};
use crate::catalog::{self, RawCatalog, TableLayout};
use crate::mtf::MtfImage;
use crate::rows::TableRows;
use crate::schema::{Database, Table};
use crate::source::{ByteSource, MmapSource};
use crate::store::{PageStore, StoreFile};
use crate::{Error, ErrorKind, Result};

/// An opened backup (one file, or all the stripe files of one backup).
pub struct Backup {
    store: PageStore,
    pfs: PfsCache,
    boot: Option<BootInfo>,
    paths: Vec<PathBuf>,
}

impl Backup {
    /// Opens the backup made of `paths` (one file, or every stripe file of a striped backup).
    ///
    /// # Errors
    /// [`ErrorKind::NotABackup`], [`ErrorKind::Truncated`], [`ErrorKind::Corrupt`] naming the
    /// file and offset; I/O errors.
    pub fn open(paths: &[&Path]) -> Result<Backup> {
        let mut files = Vec::new();
        for path in paths {
            let src = MmapSource::open(path)?;
            let image = MtfImage::parse(&src).map_err(|e| e.with_file(path))?;
            let runs = image.page_runs().map_err(|e| e.with_file(path))?;
            let source: Box<dyn ByteSource> = Box::new(src);
            files.push((StoreFile { path: path.to_path_buf(), source }, runs));
        }
        let store = PageStore::build(files)?;
        let boot =
            if store.has_extent(boot::BOOT_PAGE) { Some(boot::parse(&store.read(boot::BOOT_PAGE)?)?) } else { None };
        Ok(Backup { store, pfs: PfsCache::default(), boot, paths: paths.iter().map(|p| p.to_path_buf()).collect() })
    }

    /// The boot page's facts, when the backup holds the boot page.
    pub fn boot(&self) -> Option<&BootInfo> {
        self.boot.as_ref()
    }

    /// The page store.
    pub fn store(&self) -> &PageStore {
        &self.store
    }

    /// Reads the catalog and builds the schema and the tables' physical layouts.
    ///
    /// # Errors
    /// As [`catalog::load`] and [`catalog::build::build`].
    pub fn schema(&self) -> Result<(Database, Vec<TableLayout>)> {
        let raw = self.raw_catalog()?;
        let boot = self.boot.as_ref().expect("raw_catalog checked");
        catalog::build::build(&raw, &boot.name, None).map_err(|e| e.with_file(&self.paths[0]))
    }

    /// Rows of `table`, whose layout is `layout` (both from [`Backup::schema`]).
    ///
    /// # Errors
    /// [`ErrorKind::Unsupported`] for tables the reader cannot decode.
    pub fn rows<'a>(&'a self, table: &'a Table, layout: &'a TableLayout) -> Result<TableRows<'a>> {
        TableRows::new(&self.store, &self.pfs, table, layout).map_err(|e| e.with_file(&self.paths[0]))
    }

    /// Reads the system base tables.
    ///
    /// # Errors
    /// As [`catalog::load`].
    pub fn raw_catalog(&self) -> Result<RawCatalog> {
        let version = self.boot.as_ref().map(|b| b.version).ok_or_else(|| {
            Error::new(ErrorKind::Incomplete, "the backup has no boot page").with_file(&self.paths[0])
        })?;
        catalog::load(&self.store, &self.pfs, self.boot.as_ref(), version).map_err(|e| e.with_file(&self.paths[0]))
    }
}
