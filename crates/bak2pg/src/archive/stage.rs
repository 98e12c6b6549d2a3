//! The private staging folder members are written to before one is kept.

use std::cell::Cell;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::ArchiveError;
use super::member::Member;

/// A folder inside the work folder (so the final rename stays on one file system), named
/// `.bak2pg-extract-*`, removed with everything in it when dropped: members not chosen,
/// half-written ones after a failure.
pub(crate) struct Stage {
    dir: TempDir,
    archive: PathBuf,
    next: Cell<usize>,
}

/// A member written completely to the staging folder, its size checked.
#[derive(Debug)]
pub(crate) struct StagedFile {
    /// Position of the member in the archive's member list.
    pub member: usize,
    pub path: PathBuf,
    /// Bytes written (equal to the declared size).
    pub size: u64,
}

/// Copy buffer size: large enough that per-call overhead vanishes against decompression.
const CHUNK: usize = 1 << 20;

impl Stage {
    pub(crate) fn new(work_dir: &Path, archive: &Path) -> Result<Stage, ArchiveError> {
        let dir = tempfile::Builder::new()
            .prefix(".bak2pg-extract-")
            .tempdir_in(work_dir)
            .map_err(|e| ArchiveError::io(work_dir, "create a staging folder", e))?;
        Ok(Stage { dir, archive: archive.to_path_buf(), next: Cell::new(0) })
    }

    /// A fresh path in the staging folder. The name is ours (`<n>.part`), never the
    /// member's.
    pub(crate) fn reserve(&self) -> PathBuf {
        let n = self.next.get();
        self.next.set(n + 1);
        self.dir.path().join(format!("{n}.part"))
    }

    /// Writes `data` (the member's decompressed bytes) to a new staging file, stopping
    /// as soon as it goes past the declared size.
    ///
    /// Read errors that carry an OS error code are the archive file failing to read
    /// ([`ArchiveError::Io`]); any other read error is the decoder rejecting the data (bad
    /// CRC, truncated stream: [`ArchiveError::Corrupt`]).
    pub(crate) fn write_from(
        &self,
        position: usize,
        member: &Member,
        data: &mut dyn Read,
    ) -> Result<StagedFile, ArchiveError> {
        let path = self.reserve();
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| ArchiveError::io(&path, "create a staging file", e))?;
        let mut buf = vec![0u8; CHUNK];
        let mut written: u64 = 0;
        loop {
            let n = match data.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.read_error(member, written, e)),
            };
            written += n as u64;
            if written > member.declared_size {
                return Err(ArchiveError::Corrupt {
                    archive: self.archive.clone(),
                    member: Some(member.name.clone()),
                    offset: Some(member.declared_size),
                    detail: format!(
                        "the member decompresses to more than the {} bytes it declares",
                        member.declared_size
                    ),
                });
            }
            file.write_all(&buf[..n]).map_err(|e| ArchiveError::io(&path, "write the extracted member", e))?;
        }
        // No fsync: after a crash the whole step restarts from a clean work folder, so
        // durability buys nothing here.
        file.flush().map_err(|e| ArchiveError::io(&path, "write the extracted member", e))?;
        drop(file);
        self.checked(position, member, path, written)
    }

    /// Accepts a file the archive library wrote at a path from [`Stage::reserve`], after
    /// checking it is a plain file of the declared size.
    pub(crate) fn adopt(&self, position: usize, member: &Member, path: PathBuf) -> Result<StagedFile, ArchiveError> {
        let meta =
            std::fs::symlink_metadata(&path).map_err(|e| ArchiveError::io(&path, "inspect the extracted member", e))?;
        if !meta.file_type().is_file() {
            return Err(ArchiveError::UnsafeMemberPath {
                archive: self.archive.clone(),
                member: member.name.clone(),
                reason: "it was extracted as something other than a plain file".into(),
            });
        }
        self.checked(position, member, path, meta.len())
    }

    fn checked(&self, position: usize, member: &Member, path: PathBuf, size: u64) -> Result<StagedFile, ArchiveError> {
        if size != member.declared_size {
            return Err(ArchiveError::Corrupt {
                archive: self.archive.clone(),
                member: Some(member.name.clone()),
                offset: Some(size),
                detail: format!(
                    "the member's data ends after {size} of the {} bytes it declares",
                    member.declared_size
                ),
            });
        }
        Ok(StagedFile { member: position, path, size })
    }

    fn read_error(&self, member: &Member, offset: u64, e: io::Error) -> ArchiveError {
        if e.raw_os_error().is_some() {
            ArchiveError::io(&self.archive, "read the archive", e)
        } else {
            ArchiveError::Corrupt {
                archive: self.archive.clone(),
                member: Some(member.name.clone()),
                offset: Some(offset),
                detail: format!("cannot decompress the member: {e}"),
            }
        }
    }

    /// Deletes a staged member that was not chosen.
    pub(crate) fn discard(&self, staged: StagedFile) -> Result<(), ArchiveError> {
        std::fs::remove_file(&staged.path).map_err(|e| ArchiveError::io(&staged.path, "delete a member not chosen", e))
    }

    /// Moves the chosen member to `target` (replacing a file of a previous run), then
    /// removes the staging folder.
    pub(crate) fn keep(self, staged: StagedFile, target: &Path) -> Result<(), ArchiveError> {
        std::fs::rename(&staged.path, target).map_err(|e| ArchiveError::io(target, "move the extracted backup", e))?;
        let dir = self.dir.path().to_path_buf();
        self.dir.close().map_err(|e| ArchiveError::io(&dir, "remove the staging folder", e))
    }
}

/// Opens a file for reading with the error mapped.
pub(crate) fn open_archive(path: &Path) -> Result<File, ArchiveError> {
    File::open(path).map_err(|e| ArchiveError::io(path, "open the archive", e))
}
