//! ZIP archives, read with the `zip` crate (pure Rust; deflate, deflate64, bzip2, LZMA, xz).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use zip::ZipArchive;
use zip::extra_fields::ExtraField;
use zip::result::ZipError;

use super::backend::{ArchiveBackend, Extraction, check_member_count};
use super::member::{self, Member, MemberKind};
use super::stage::open_archive;
use super::{ArchiveError, ArchiveFormat, Limits, timefmt};

/// An open ZIP archive and its member list.
pub(crate) struct ZipFile {
    path: PathBuf,
    zip: ZipArchive<BufReader<File>>,
    members: Vec<Member>,
}

impl ArchiveBackend for ZipFile {
    /// Reads the central directory. Fails on a damaged or multi-disk archive, or one with
    /// more members than [`Limits::max_members`].
    fn open(path: &Path, _format: ArchiveFormat, limits: &Limits) -> Result<Self, ArchiveError> {
        let file = open_archive(path)?;
        let mut zip = ZipArchive::new(BufReader::new(file)).map_err(|e| map_error(path, None, e))?;
        check_member_count(path, zip.len() as u64, limits)?;
        let mut members = Vec::with_capacity(zip.len());
        for i in 0..zip.len() {
            let f = zip.by_index_raw(i).map_err(|e| map_error(path, None, e))?;
            // The crate decodes names (CP437 or UTF-8); keep a NUL visible to the checks.
            let name = if f.name_raw().contains(&0) {
                String::from_utf8_lossy(f.name_raw()).into_owned()
            } else {
                f.name().to_owned()
            };
            let kind = if f.is_dir() { MemberKind::Directory } else { member::kind_from_unix_mode(f.unix_mode()) };
            let modified = f
                .extra_data_fields()
                .find_map(|x| match x {
                    ExtraField::ExtendedTimestamp(ts) => ts.mod_time(),
                    _ => None,
                })
                .and_then(|secs| timefmt::from_unix_secs(i64::from(secs)))
                .or_else(|| {
                    // DOS time is local time of unknown zone: fine for comparing members
                    // of one archive, which is all it is used for.
                    f.last_modified().and_then(|t| {
                        timefmt::from_civil(
                            i64::from(t.year()),
                            u32::from(t.month()),
                            u32::from(t.day()),
                            u32::from(t.hour()),
                            u32::from(t.minute()),
                            u32::from(t.second()),
                        )
                    })
                });
            members.push(Member { name, kind, declared_size: f.size(), encrypted: f.encrypted(), modified });
        }
        Ok(ZipFile { path: path.to_path_buf(), zip, members })
    }

    fn members(&self) -> &[Member] {
        &self.members
    }

    /// Reads the wanted members one by one. Every wanted member's compression method is
    /// checked before the first byte is written.
    fn extract(&mut self, out: &mut Extraction<'_>) -> Result<(), ArchiveError> {
        for &i in out.wanted() {
            let name = &self.members[i].name;
            self.zip.by_index(i).map_err(|e| map_error(&self.path, Some(name), e))?;
        }
        for &i in out.wanted() {
            let name = &self.members[i].name;
            let mut reader = self.zip.by_index(i).map_err(|e| map_error(&self.path, Some(name), e))?;
            out.write(i, &mut reader)?;
        }
        Ok(())
    }
}

fn map_error(path: &Path, member: Option<&str>, e: ZipError) -> ArchiveError {
    match e {
        ZipError::Io(e) if e.raw_os_error().is_some() => ArchiveError::io(path, "read the archive", e),
        ZipError::Io(e) => ArchiveError::corrupt(path, member, format!("ZIP structure: {e}")),
        ZipError::UnsupportedArchive(msg) if msg == ZipError::PASSWORD_REQUIRED => {
            ArchiveError::encrypted(path, member, "ZIP encryption flag")
        }
        ZipError::InvalidPassword => ArchiveError::encrypted(path, member, "ZIP encryption"),
        ZipError::UnsupportedArchive(msg) | ZipError::InvalidArchive(std::borrow::Cow::Borrowed(msg))
            if msg.to_ascii_lowercase().contains("multi-disk") =>
        {
            ArchiveError::MultiVolume { archive: path.to_path_buf(), format: ArchiveFormat::Zip }
        }
        ZipError::UnsupportedArchive(msg) => ArchiveError::unsupported(path, member, msg),
        ZipError::InvalidArchive(msg) => ArchiveError::corrupt(path, member, msg.into_owned()),
        other => ArchiveError::corrupt(path, member, other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_password_and_multidisk_errors() {
        let p = Path::new("a.zip");
        let e = map_error(p, Some("x.bak"), ZipError::UnsupportedArchive(ZipError::PASSWORD_REQUIRED));
        assert!(matches!(e, ArchiveError::Encrypted { .. }), "{e}");
        let e = map_error(p, None, ZipError::InvalidArchive("Multi-disk ZIP files are not supported".into()));
        assert!(matches!(e, ArchiveError::MultiVolume { .. }), "{e}");
        let e = map_error(p, None, ZipError::Io(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)));
        assert!(matches!(e, ArchiveError::Corrupt { .. }), "{e}");
    }
}
