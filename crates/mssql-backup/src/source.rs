//! Random-access byte sources: the backup file itself, or the MTF stream decompressed
//! on demand from a compressed (`MSSQLBAK`) backup.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{Error, ErrorKind, Result};

/// Bytes readable at any offset, shared between threads.
pub trait ByteSource: Send + Sync {
    /// Total length in bytes.
    fn len(&self) -> u64;
    /// True when the source holds no bytes.
    #[cfg(any(test, feature = "internals"))]
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    ///
    /// # Errors
    /// [`ErrorKind::Truncated`] when the range ends past [`ByteSource::len`];
    /// [`ErrorKind::Corrupt`] when a compressed source cannot decode the chunk holding it.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// True when offsets count bytes of a decompressed stream rather than of the file.
    fn is_decompressed(&self) -> bool {
        false
    }
    /// For a decompressed source: the compressed chunk holding stream byte `offset`, as
    /// its index and its record's file offset (for error messages).
    fn chunk_at(&self, _offset: u64) -> Option<(usize, u64)> {
        None
    }
}

/// A file mapped into memory, read in place.
///
/// Mapped file pages count in the process's resident set (`RssFile`) once touched, so
/// reading a whole backup would make RSS as large as the backup (1.09 GB for a 1 GB one,
/// issue 12). Every `DROP_EVERY` bytes (64 MiB) charged to reads, the mapping's pages are
/// released with `madvise(MADV_DONTNEED)` (`drop_resident_pages`).
pub struct MmapSource {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
    /// Bytes charged to reads since the mapping's pages were last released.
    read_since_drop: AtomicU64,
}

/// How many bytes reads may make resident between two releases of the mapping's pages
/// (each read is charged its length plus [`FAULT_AROUND`]): bounds the file-backed RSS to
/// about this much whatever the backup's size.
const DROP_EVERY: u64 = 64 << 20;

/// What one read is charged on top of its length: a page fault on a file mapping maps the
/// page-cache pages around it too, up to Linux's `fault_around_bytes` (64 KiB by default).
/// Charging only the bytes copied would miss the page store's 40-byte header reads, one per
/// 8 KiB page, which make the whole file resident while copying 0.5 % of it.
const FAULT_AROUND: u64 = 64 << 10;

impl MmapSource {
    /// Maps `path` read-only.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] naming the file when it cannot be opened or mapped.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::from(e).with_file(path))?;
        let len = file.metadata().map_err(|e| Error::from(e).with_file(path))?.len();
        // An empty file cannot be mapped on every platform; keep it as no bytes.
        let map = if len == 0 {
            None
        } else {
            // SAFETY: the map is read-only and private to this process. Another process
            // truncating the file while we read would raise SIGBUS; backups are treated as
            // immutable inputs, as RESTORE does.
            Some(unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::from(e).with_file(path))?)
        };
        Ok(MmapSource { path: path.to_path_buf(), map, read_since_drop: AtomicU64::new(0) })
    }

    /// Counts a read of `n` bytes and releases the mapping's resident pages every
    /// [`DROP_EVERY`] bytes charged.
    fn note_read(&self, n: usize) {
        let n = n as u64 + FAULT_AROUND;
        let before = self.read_since_drop.fetch_add(n, Ordering::Relaxed);
        // Exactly one reader crosses the threshold; counts added by others meanwhile are
        // lost, which only delays the next release a little.
        if before < DROP_EVERY && before + n >= DROP_EVERY {
            self.read_since_drop.store(0, Ordering::Relaxed);
            self.drop_resident_pages();
        }
    }

    /// Removes this process's page-table entries for the whole mapping, taking its pages
    /// out of the resident set.
    ///
    /// On Linux, `MADV_DONTNEED` on a private file mapping discards only the process's
    /// private (copy-on-write) pages and its mappings of page-cache pages; the next access
    /// faults the page in again from the file (from the page cache when it is still
    /// there). The mapping is read-only, so there are no private pages and a re-fault
    /// yields the same bytes: what is read cannot change, also for another thread copying
    /// from the mapping at that moment. Elsewhere it is a hint. Failure only leaves the
    /// pages resident, so it is ignored.
    fn drop_resident_pages(&self) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            // SAFETY: see above: the map is read-only (PROT_READ, never written), so a
            // re-fault reads the file's bytes again, the same ones as long as the file is
            // not modified, the assumption `open` already makes.
            let _ = unsafe { map.unchecked_advise(memmap2::UncheckedAdvice::DontNeed) };
        }
    }

    /// The whole file as a slice.
    pub fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }
}

impl ByteSource for MmapSource {
    fn len(&self) -> u64 {
        self.bytes().len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let bytes = self.bytes();
        let start = usize::try_from(offset).ok().filter(|&s| s <= bytes.len());
        match start.and_then(|s| bytes.get(s..s.checked_add(buf.len())?)) {
            Some(src) => {
                buf.copy_from_slice(src);
                self.note_read(buf.len());
                Ok(())
            }
            None => Err(Error::new(
                ErrorKind::Truncated,
                format!("the file ends at byte {} but {} bytes are needed at offset {offset}", bytes.len(), buf.len()),
            )
            .with_file(&self.path)
            .at(offset)),
        }
    }
}

/// An in-memory source (tests, and the small MTF descriptor blocks).
impl ByteSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= self.as_slice().len());
        match start.and_then(|s| self.get(s..s.checked_add(buf.len())?)) {
            Some(src) => {
                buf.copy_from_slice(src);
                Ok(())
            }
            None => Err(Error::truncated(format!(
                "{} bytes needed at offset {offset} of a {}-byte buffer",
                buf.len(),
                self.as_slice().len()
            ))
            .at(offset)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads across several releases of the mapping's pages return the file's bytes.
    #[test]
    fn reads_across_page_releases_return_the_files_bytes() {
        let len = 3 << 20;
        let data: Vec<u8> = (0..len).map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let mut file = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut file, &data).unwrap();
        let src = MmapSource::open(file.path()).unwrap();
        let mut charged = 0u64;
        let mut page = [0u8; 8192];
        let mut header = [0u8; 40];
        for _ in 0..4 {
            for at in (0..len).step_by(page.len()) {
                src.read_exact_at(at as u64, &mut header).unwrap();
                assert_eq!(header, data[at..at + header.len()]);
                src.read_exact_at(at as u64, &mut page).unwrap();
                assert_eq!(page, data[at..at + page.len()]);
                charged += (header.len() + page.len()) as u64 + 2 * FAULT_AROUND;
            }
        }
        // Every read was charged and the pages were released on the way (the count
        // restarted).
        assert!(charged > 2 * DROP_EVERY, "{charged}");
        let left = src.read_since_drop.load(Ordering::Relaxed);
        assert!(left > 0 && left < DROP_EVERY, "{left}");
    }
}
