//! The page store: which extents the backup holds and where, across all its files.
//!
//! A backup's `MQDA` streams carry whole extents (8 pages, 64 KiB) of the database files,
//! each aligned on an 8-page boundary of the stream (checked on every fixture). Pages carry
//! their own id in their header, but unused pages inside an allocated extent may hold
//! zeros or stale bytes from the disk with nonsense headers; so an extent's identity is
//! decided by a vote of its pages (a page votes for extent `id & !7` only when its header
//! is version 1 and names position `id & 7` equal to its own position), and every page read
//! later is verified against the id it was fetched for.
//!
//! Extents sent twice (SQL Server re-sends the first extents of file 1 in a second `MSDA`
//! block at the end, with the boot page slightly updated) resolve to the later copy. Several
//! backup files (the stripes of one media set) simply contribute their extents to one index.
//!
//! The index is run-length encoded (runs of consecutive extents stored consecutively), so
//! its size follows the fragmentation of the backup, not its size.

use std::path::{Path, PathBuf};

use crate::mtf::PageRun;
use crate::page::{PAGE_SIZE, Page};
use crate::source::ByteSource;
use crate::types::PageId;
use crate::{Error, ErrorKind, Result};

/// One backup file (stripe) with its byte source.
pub struct StoreFile {
    /// Path, for error messages.
    pub path: PathBuf,
    /// The bytes: the file, or its decompressed MTF stream.
    pub source: Box<dyn ByteSource>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ExtentRun {
    file: u16,
    /// First page of the first extent.
    first_page: u32,
    /// Number of consecutive extents.
    extents: u32,
    /// Index into `files`.
    source: u16,
    /// Offset of the first page in that source.
    offset: u64,
}

/// Extents present in the backup and how to read their pages.
pub struct PageStore {
    files: Vec<StoreFile>,
    runs: Vec<ExtentRun>,
}

/// A page-sized, boxed buffer.
pub type PageBuf = Box<[u8; PAGE_SIZE]>;

/// Allocates a zeroed page buffer on the heap.
pub fn page_buf() -> PageBuf {
    Box::new([0u8; PAGE_SIZE])
}

impl PageStore {
    /// Indexes the extents in `runs` (per file, the page runs of its `MQDA` streams in
    /// stream order).
    ///
    /// # Errors
    /// I/O and truncation errors of the sources; [`ErrorKind::Corrupt`] when a page run
    /// is not a whole number of extents.
    pub fn build(files: Vec<(StoreFile, Vec<PageRun>)>) -> Result<PageStore> {
        let mut found: Vec<(PageId, u16, u64)> = Vec::new();
        let mut header = [0u8; 40];
        let mut store_files = Vec::with_capacity(files.len());
        for (source_index, (file, runs)) in files.into_iter().enumerate() {
            let source_index = u16::try_from(source_index).map_err(|_| Error::unsupported("more than 65535 files"))?;
            for run in runs {
                if run.pages % 8 != 0 {
                    return Err(Error::corrupt(format!(
                        "a data stream of {} pages is not a whole number of 8-page extents",
                        run.pages
                    ))
                    .with_file(&file.path)
                    .at(run.offset));
                }
                for e in 0..run.pages / 8 {
                    let offset = run.offset + e * 8 * PAGE_SIZE as u64;
                    let mut votes: [(PageId, u8); 8] = [(PageId::new(0, 0), 0); 8];
                    for j in 0..8u64 {
                        file.source
                            .read_exact_at(offset + j * PAGE_SIZE as u64, &mut header)
                            .map_err(|e| e.with_file(&file.path))?;
                        let id = PageId {
                            page: u32::from_le_bytes([header[32], header[33], header[34], header[35]]),
                            file: u16::from_le_bytes([header[36], header[37]]),
                        };
                        if header[0] == 1 && id.file != 0 && u64::from(id.page & 7) == j {
                            let ext = id.extent();
                            if let Some(v) = votes.iter_mut().find(|v| v.1 > 0 && v.0 == ext) {
                                v.1 += 1;
                            } else if let Some(v) = votes.iter_mut().find(|v| v.1 == 0) {
                                *v = (ext, 1);
                            }
                        }
                    }
                    // An extent whose pages name no consistent extent (all zero or stale)
                    // cannot be placed: it is left out, as if absent.
                    if let Some(&(ext, _)) = votes.iter().filter(|v| v.1 > 0).max_by_key(|v| v.1) {
                        found.push((ext, source_index, offset));
                    }
                }
            }
            store_files.push(file);
        }
        // Stable sort keeps stream order among copies of one extent; the last copy wins.
        found.sort_by_key(|&(ext, _, _)| ext);
        let mut runs: Vec<ExtentRun> = Vec::new();
        for i in 0..found.len() {
            if i + 1 < found.len() && found[i + 1].0 == found[i].0 {
                continue;
            }
            let (ext, source, offset) = found[i];
            if let Some(last) = runs.last_mut()
                && last.file == ext.file
                && last.source == source
                && u64::from(last.first_page) + u64::from(last.extents) * 8 == u64::from(ext.page)
                && last.offset + u64::from(last.extents) * 8 * PAGE_SIZE as u64 == offset
            {
                last.extents += 1;
                continue;
            }
            runs.push(ExtentRun { file: ext.file, first_page: ext.page, extents: 1, source, offset });
        }
        Ok(PageStore { files: store_files, runs })
    }

    fn locate(&self, id: PageId) -> Option<(&StoreFile, u64)> {
        let ext = id.extent();
        let i = self.runs.partition_point(|r| (r.file, r.first_page) <= (ext.file, ext.page));
        let r = self.runs.get(i.checked_sub(1)?)?;
        if r.file != id.file || id.page < r.first_page {
            return None;
        }
        let k = u64::from(id.page - r.first_page);
        if k >= u64::from(r.extents) * 8 {
            return None;
        }
        Some((&self.files[usize::from(r.source)], r.offset + k * PAGE_SIZE as u64))
    }

    fn missing(&self, id: PageId) -> Error {
        let mut e =
            Error::new(ErrorKind::Incomplete, format!("page {id} is not in the backup (its extent is missing)"))
                .on_page(id);
        if let Some(f) = self.files.first() {
            e = e.with_file(&f.path);
        }
        e
    }

    /// True when the backup holds the extent containing `id`.
    pub fn has_extent(&self, id: PageId) -> bool {
        self.locate(id).is_some()
    }

    /// Reads page `id`, verifying its header, checksum or torn bits.
    ///
    /// # Errors
    /// [`ErrorKind::Incomplete`] when the backup does not hold the page's extent;
    /// [`ErrorKind::Checksum`]/[`ErrorKind::Corrupt`] from [`Page::verify`], with the file
    /// and offset of the page.
    pub fn read(&self, id: PageId) -> Result<Page> {
        let (file, offset) = self.locate(id).ok_or_else(|| self.missing(id))?;
        let mut buf = page_buf();
        file.source.read_exact_at(offset, &mut buf[..]).map_err(|e| e.with_file(&file.path).on_page(id))?;
        Page::verify(buf, id).map_err(|e| locate_err(e, file, offset))
    }

    /// `e`, an error about page `id`, with the file and the page's offset in it, as
    /// [`PageStore::read`]'s errors have them.
    pub fn locate_error(&self, id: PageId, e: Error) -> Error {
        match self.locate(id) {
            Some((file, offset)) => locate_err(e, file, offset),
            None => e,
        }
    }

    /// Reads page `id` when its slot holds a formatted page of that id; `Ok(None)` when the
    /// position holds zeros or a stale page of another id (an unused page of an allocated
    /// extent). Checksum errors of a page that does name `id` are still errors.
    ///
    /// # Errors
    /// As [`PageStore::read`], except for the not-formatted case.
    pub fn read_if_formatted(&self, id: PageId) -> Result<Option<Page>> {
        let (file, offset) = self.locate(id).ok_or_else(|| self.missing(id))?;
        let mut buf = page_buf();
        file.source.read_exact_at(offset, &mut buf[..]).map_err(|e| e.with_file(&file.path).on_page(id))?;
        let names_it = buf[0] == 1
            && u32::from_le_bytes([buf[32], buf[33], buf[34], buf[35]]) == id.page
            && u16::from_le_bytes([buf[36], buf[37]]) == id.file;
        if !names_it {
            return Ok(None);
        }
        Page::verify(buf, id).map(Some).map_err(|e| locate_err(e, file, offset))
    }

    /// The extents present, in (file, page) order, as the first page of each.
    pub fn extents(&self) -> impl Iterator<Item = PageId> + '_ {
        self.runs.iter().flat_map(|r| (0..r.extents).map(move |k| PageId::new(r.file, r.first_page + k * 8)))
    }

    /// Data file ids present.
    pub fn file_ids(&self) -> Vec<u16> {
        let mut ids: Vec<u16> = self.runs.iter().map(|r| r.file).collect();
        ids.dedup();
        ids
    }

    /// Paths of the backup files, in the order given.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.files.iter().map(|f| f.path.as_path())
    }
}

fn locate_err(e: Error, file: &StoreFile, offset: u64) -> Error {
    let e = e.with_file(&file.path);
    if file.source.is_decompressed() {
        e.at_stream(offset).in_chunk(file.source.chunk_at(offset))
    } else {
        e.at(offset)
    }
}
