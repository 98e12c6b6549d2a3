//! 7z archives, read with `sevenz-rust2` (pure Rust; LZMA, LZMA2, BCJ filters, bzip2,
//! PPMd, copy).

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use sevenz_rust2::{Archive, BlockDecoder, EncoderMethod, Password};

use super::backend::{ArchiveBackend, Extraction, check_member_count};
use super::member::{self, Member, MemberKind};
use super::stage::open_archive;
use super::{ArchiveError, ArchiveFormat, Limits, timefmt};

/// Windows attribute: the high 16 bits hold a Unix `st_mode` (set by p7zip / 7-Zip on Unix).
const FILE_ATTRIBUTE_UNIX_EXTENSION: u32 = 0x8000;
/// Windows attribute: a symbolic link or junction.
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// An open 7z archive and its member list.
pub(crate) struct SevenZipFile {
    path: PathBuf,
    file: BufReader<File>,
    archive: Archive,
    members: Vec<Member>,
}

impl ArchiveBackend for SevenZipFile {
    /// Reads the archive's headers. Fails on encrypted headers, damaged headers, or more
    /// members than [`Limits::max_members`].
    fn open(path: &Path, _format: ArchiveFormat, limits: &Limits) -> Result<Self, ArchiveError> {
        let mut file = BufReader::new(open_archive(path)?);
        check_header_in_file(path, &mut file)?;
        let archive = guarded(path, None, || Archive::read(&mut file, &Password::empty()))?;
        check_member_count(path, archive.files.len() as u64, limits)?;
        let encrypted_blocks: Vec<bool> = archive
            .blocks
            .iter()
            .map(|b| b.coders.iter().any(|c| c.encoder_method_id() == EncoderMethod::ID_AES256_SHA256))
            .collect();
        let members = archive
            .files
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let block = archive.stream_map.file_block_index.get(i).copied().flatten();
                Member {
                    name: e.name.clone(),
                    kind: kind_of(e),
                    declared_size: e.size,
                    encrypted: block.and_then(|b| encrypted_blocks.get(b).copied()).unwrap_or(false),
                    modified: if e.has_last_modified_date {
                        timefmt::from_filetime(u64::from(e.last_modified_date))
                    } else {
                        None
                    },
                }
            })
            .collect();
        Ok(SevenZipFile { path: path.to_path_buf(), file, archive, members })
    }

    fn members(&self) -> &[Member] {
        &self.members
    }

    /// Decodes only the blocks holding wanted members and hands those members on. Other
    /// members sharing a (solid) block are decoded and dropped, as the format requires to
    /// reach the next one.
    fn extract(&mut self, out: &mut Extraction<'_>) -> Result<(), ArchiveError> {
        let map = &self.archive.stream_map;
        let wanted = out.wanted();
        let mut blocks: Vec<usize> = Vec::new();
        for &i in wanted {
            match map.file_block_index.get(i).copied().flatten() {
                Some(b) => blocks.push(b),
                // A member without data (empty file) has no block.
                None => out.write(i, &mut io::empty())?,
            }
        }
        blocks.sort_unstable();
        blocks.dedup();

        let password = Password::empty();
        for b in blocks {
            let first = map.block_first_file_index.get(b).copied().unwrap_or(0);
            let mut left =
                wanted.iter().filter(|&&i| map.file_block_index.get(i).copied().flatten() == Some(b)).count();
            let mut position = first;
            let mut failure: Option<ArchiveError> = None;
            let members = &self.members;
            let decoder = BlockDecoder::new(1, b, &self.archive, &password, &mut self.file);
            let result = guarded(&self.path, None, || {
                decoder.for_each_entries(&mut |_entry, data| {
                    // Entries come in file order from the block's first file.
                    let i = position;
                    position += 1;
                    if out.is_wanted(i) {
                        let written = members
                            .get(i)
                            .ok_or_else(|| {
                                ArchiveError::corrupt(&self.path, None, "block lists more files than the archive")
                            })
                            .and_then(|_| out.write(i, data));
                        if let Err(e) = written {
                            failure = Some(e);
                            return Ok(false);
                        }
                        left -= 1;
                    } else {
                        io::copy(data, &mut io::sink())?;
                    }
                    Ok(left > 0)
                })
            });
            if let Some(e) = failure {
                return Err(e);
            }
            result?;
            if left > 0 {
                return Err(ArchiveError::corrupt(&self.path, None, format!("block {b} ended before all its files")));
            }
        }
        Ok(())
    }
}

/// The 32-byte signature header says where the archive's header lies (offset and size after
/// the signature header). A header past the end of the file means a truncated upload or the
/// first volume of a split archive (`.7z.001`): say so instead of a bare parse error.
fn check_header_in_file(path: &Path, file: &mut BufReader<File>) -> Result<(), ArchiveError> {
    let len = file.get_ref().metadata().map_err(|e| ArchiveError::io(path, "read the archive's size", e))?.len();
    let mut head = [0u8; 32];
    if let Err(e) = file.read_exact(&mut head) {
        return Err(if e.kind() == io::ErrorKind::UnexpectedEof {
            ArchiveError::corrupt(path, None, "the file ends inside the 7z signature header")
        } else {
            ArchiveError::io(path, "read the archive", e)
        });
    }
    file.seek(SeekFrom::Start(0)).map_err(|e| ArchiveError::io(path, "read the archive", e))?;
    let offset = u64::from_le_bytes(head[12..20].try_into().unwrap_or_default());
    let size = u64::from_le_bytes(head[20..28].try_into().unwrap_or_default());
    let end = offset.checked_add(size).and_then(|x| x.checked_add(32));
    match end {
        Some(end) if end <= len => Ok(()),
        _ => Err(ArchiveError::Corrupt {
            archive: path.to_path_buf(),
            member: None,
            offset: Some(offset.saturating_add(32)),
            detail: format!(
                "the 7z header lies past the end of the {len}-byte file: the upload is truncated, or it is the \
                 first volume of a split 7z archive (.7z.001), which is not supported"
            ),
        }),
    }
}

/// Runs a `sevenz-rust2` call, mapping its errors, and turning a panic inside it into
/// [`ArchiveError::Corrupt`]: the library indexes header tables with values read from the
/// file, and hostile input must fail this upload, not the process.
fn guarded<T>(
    path: &Path,
    member: Option<&str>,
    f: impl FnOnce() -> Result<T, sevenz_rust2::Error>,
) -> Result<T, ArchiveError> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r.map_err(|e| map_error(path, member, e)),
        Err(_) => Err(ArchiveError::corrupt(path, member, "malformed 7z structure (the 7z reader gave up)")),
    }
}

fn kind_of(e: &sevenz_rust2::ArchiveEntry) -> MemberKind {
    if e.is_directory {
        return MemberKind::Directory;
    }
    if e.is_anti_item {
        return MemberKind::Special("anti-item (a deletion marker of an update archive)");
    }
    if !e.has_windows_attributes {
        return MemberKind::File;
    }
    let attrs = e.windows_attributes;
    if attrs & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        return MemberKind::Link("Windows reparse point (symbolic link or junction)");
    }
    if attrs & FILE_ATTRIBUTE_UNIX_EXTENSION != 0 {
        return member::kind_from_unix_mode(Some(attrs >> 16));
    }
    MemberKind::File
}

fn map_error(path: &Path, member: Option<&str>, e: sevenz_rust2::Error) -> ArchiveError {
    use sevenz_rust2::Error as E;
    match e {
        E::PasswordRequired | E::MaybeBadPassword(_) => ArchiveError::encrypted(path, member, "7z AES encryption"),
        E::Io(e, _) | E::FileOpen(e, _) if e.raw_os_error().is_some() => ArchiveError::io(path, "read the archive", e),
        E::Io(e, _) if e.kind() == io::ErrorKind::UnexpectedEof => {
            ArchiveError::corrupt(path, member, "the archive ends inside a structure it declares (truncated?)")
        }
        E::UnsupportedVersion { major, minor } => {
            ArchiveError::unsupported(path, member, format!("7z format version {major}.{minor}"))
        }
        E::UnsupportedCompressionMethod(m) => {
            ArchiveError::unsupported(path, member, format!("7z compression method {m}"))
        }
        E::ExternalUnsupported | E::Unsupported(_) | E::MaxMemLimited { .. } => {
            ArchiveError::unsupported(path, member, format!("7z: {e}"))
        }
        E::ChecksumVerificationFailed | E::NextHeaderCrcMismatch => {
            ArchiveError::corrupt(path, member, "7z CRC mismatch")
        }
        other => ArchiveError::corrupt(path, member, format!("7z structure: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_kinds_from_attributes() {
        let mut e = sevenz_rust2::ArchiveEntry::new_file("x.bak");
        assert_eq!(kind_of(&e), MemberKind::File);
        e.has_windows_attributes = true;
        e.windows_attributes = 0x20; // archive bit
        assert_eq!(kind_of(&e), MemberKind::File);
        e.windows_attributes = FILE_ATTRIBUTE_UNIX_EXTENSION | (0o120_777 << 16);
        assert_eq!(kind_of(&e), MemberKind::Link("symbolic link"));
        e.windows_attributes = 0x20 | FILE_ATTRIBUTE_REPARSE_POINT;
        assert!(matches!(kind_of(&e), MemberKind::Link(_)));
    }

    #[test]
    fn maps_encryption_and_crc_errors() {
        let p = Path::new("a.7z");
        assert!(matches!(
            map_error(p, None, sevenz_rust2::Error::PasswordRequired),
            ArchiveError::Encrypted { member: None, .. }
        ));
        assert!(matches!(
            map_error(p, Some("x.bak"), sevenz_rust2::Error::ChecksumVerificationFailed),
            ArchiveError::Corrupt { .. }
        ));
    }
}
