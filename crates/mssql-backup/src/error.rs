//! Errors of the backup reader.
//!
//! Every error names what it can of the place at fault: the backup file, the byte offset
//! (in the file for uncompressed backups, in the decompressed MTF stream for compressed
//! ones, as [`Error::offset`] says), the page id, and what was expected there.

use std::fmt;
use std::path::PathBuf;

use crate::PageId;

/// What went wrong, for callers that branch on it (exit codes, `auto` engine choice,
/// the pipeline's permanent/transient failure classes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system failed to read the file.
    Io,
    /// The file is not a SQL Server backup at all (wrong magic, a pg_dump, a Git LFS pointer…).
    NotABackup,
    /// The file ends before a structure it declares.
    Truncated,
    /// A structure is malformed (bad block, bad stream, impossible offsets).
    Corrupt,
    /// A page checksum or torn-page signature does not match: the page's bytes are damaged.
    Checksum,
    /// The backup uses a feature this reader does not decode (TDE, encryption,
    /// differential/log backups, compressed rows, …). The message names it.
    Unsupported,
    /// Pages the backup needs are missing (one stripe of a striped backup, a partial file).
    Incomplete,
    /// The system catalog is inconsistent (a table without columns, an unknown type id…).
    Catalog,
    /// What was asked of the backup is not in it (a backup set number the file does not
    /// hold).
    InvalidInput,
    /// The backup set is not a full database backup (differential, log, file or partial):
    /// no engine can make a database of it alone; the message says what to give instead.
    NotFullBackup,
}

impl ErrorKind {
    /// What a user can do about an error of this kind, when there is something: one
    /// sentence for the command line, after the error itself.
    pub fn hint(self) -> Option<&'static str> {
        Some(match self {
            ErrorKind::Truncated => {
                "The file is shorter than the backup it holds: copy it again completely (compare its size with the original's)."
            }
            ErrorKind::Corrupt | ErrorKind::Checksum => {
                "The file was damaged after SQL Server wrote it: copy it again from the original, or take a new backup (SQL Server's RESTORE would refuse this copy too)."
            }
            ErrorKind::Incomplete => "A striped backup must be given with all its stripe files together.",
            _ => return None,
        })
    }
}

/// An error with the location at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct Error {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// Human-readable description of what was found and what was expected.
    pub message: String,
    /// The backup file concerned, when known.
    pub file: Option<PathBuf>,
    /// Byte offset of the structure at fault: in the file for uncompressed backups, in the
    /// decompressed MTF stream for compressed ones (then `in_stream` is true).
    pub offset: Option<u64>,
    /// True when `offset` counts bytes of the decompressed MTF stream, not of the file.
    pub in_stream: bool,
    /// The database page concerned, when known.
    pub page: Option<PageId>,
    /// For an offset in the decompressed stream: the compressed chunk holding it (its
    /// index and its record's file offset), when known.
    pub chunk: Option<(usize, u64)>,
}

impl Error {
    /// A new error of `kind` with `message` and no location yet.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error { kind, message: message.into(), file: None, offset: None, in_stream: false, page: None, chunk: None }
    }
    /// Shorthand for [`ErrorKind::Corrupt`].
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    /// Shorthand for [`ErrorKind::Truncated`].
    pub fn truncated(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Truncated, message)
    }
    /// Shorthand for [`ErrorKind::Unsupported`].
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// Shorthand for [`ErrorKind::Catalog`].
    pub fn catalog(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Catalog, message)
    }
    /// Sets the file unless one is already set (the innermost context wins).
    pub fn with_file(mut self, file: impl Into<PathBuf>) -> Self {
        if self.file.is_none() {
            self.file = Some(file.into());
        }
        self
    }
    /// Sets the byte offset (a file offset) unless one is already set.
    pub fn at(mut self, offset: u64) -> Self {
        if self.offset.is_none() {
            self.offset = Some(offset);
        }
        self
    }
    /// Sets the byte offset as an offset in the decompressed MTF stream unless one is set.
    pub fn at_stream(mut self, offset: u64) -> Self {
        if self.offset.is_none() {
            self.offset = Some(offset);
            self.in_stream = true;
        }
        self
    }
    /// Sets the compressed chunk (index, record file offset) holding the stream offset,
    /// unless one is set.
    pub fn in_chunk(mut self, chunk: Option<(usize, u64)>) -> Self {
        if self.chunk.is_none() {
            self.chunk = chunk;
        }
        self
    }
    /// Sets the page unless one is already set.
    pub fn on_page(mut self, page: PageId) -> Self {
        if self.page.is_none() {
            self.page = Some(page);
        }
        self
    }
    /// Prefixes the message with what was being done (`"reading table dbo.Orders: …"`).
    pub fn context(mut self, what: impl fmt::Display) -> Self {
        self.message = format!("{what}: {}", self.message);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}", file.display())?;
        } else {
            write!(f, "backup")?;
        }
        if let Some(page) = self.page {
            write!(f, ", page {page}")?;
        }
        if let Some(offset) = self.offset {
            if self.in_stream {
                write!(f, ", offset {offset} (0x{offset:x}) of the decompressed stream")?;
                if let Some((chunk, at)) = self.chunk {
                    write!(f, ", chunk {chunk} (its record at file offset {at})")?;
                }
            } else {
                write!(f, ", offset {offset} (0x{offset:x})")?;
            }
        }
        write!(f, ": {}", self.message)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof { ErrorKind::Truncated } else { ErrorKind::Io };
        Error::new(kind, e.to_string())
    }
}

/// Result alias of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_offsets_name_the_stream_and_the_chunk() {
        let e = Error::corrupt("bad").with_file("x.bak").at_stream(4096).in_chunk(Some((7, 1000)));
        assert_eq!(
            e.to_string(),
            "x.bak, offset 4096 (0x1000) of the decompressed stream, chunk 7 (its record at file offset 1000): bad"
        );
        assert_eq!(Error::corrupt("bad").at(16).to_string(), "backup, offset 16 (0x10): bad");
    }
}
