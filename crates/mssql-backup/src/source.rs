//! Random-access byte sources: the backup file itself, or the MTF stream decompressed
//! on demand from a compressed (`MSSQLBAK`) backup.

use std::fs::File;
use std::path::{Path, PathBuf};

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
pub struct MmapSource {
    path: PathBuf,
    map: Option<memmap2::Mmap>,
}

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
        Ok(MmapSource { path: path.to_path_buf(), map })
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
