//! RAR4 and RAR5 archives, read with RARLab's own UnRAR code through the `unrar` crate.
//!
//! The member list is read through `unrar_sys` (the crate's raw binding, same version)
//! because the `unrar` crate's `FileHeader` hides two facts the safety checks need: the
//! redirection type (symbolic link, hard link, junction, file reference) and the host OS
//! that gives `file_attr` its meaning. Extraction goes through the safe `unrar` API.

use std::ffi::CString;
use std::os::raw::c_int;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use unrar_sys as sys;

use super::backend::{ArchiveBackend, Extraction, check_member_count};
use super::member::{self, Member, MemberKind};
use super::{ArchiveError, ArchiveFormat, Limits, timefmt};

/// Serialises this process's calls into UnRAR: the library keeps some error state in a
/// global (`ErrHandler`), so two archives worked on at once could see each other's errors.
static UNRAR: Mutex<()> = Mutex::new(());

fn unrar_lock() -> MutexGuard<'static, ()> {
    // The guarded data is `()`: a panic elsewhere while holding it leaves nothing broken.
    UNRAR.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An inspected RAR archive and its member list (the archive is reopened to extract).
pub(crate) struct RarArchive {
    path: PathBuf,
    format: ArchiveFormat,
    members: Vec<Member>,
}

/// `HeaderDataEx::host_os` values the UnRAR library reports (`HOST_WIN32`, `HOST_UNIX`).
const HOST_UNIX: u32 = 3;
/// Windows attribute of symbolic links and junctions.
const FILE_ATTRIBUTE_REPARSE_POINT: u32 = 0x400;

/// An archive handle of the UnRAR library, closed on drop.
struct Handle(NonNull<sys::Handle>);

impl Drop for Handle {
    fn drop(&mut self) {
        // SAFETY: the handle came from RAROpenArchiveEx and is closed exactly once, here.
        unsafe {
            sys::RARCloseArchive(self.0.as_ptr());
        }
    }
}

/// Answers the library's prompts: no password, no next volume. Returning -1 makes the
/// library fail the operation instead of waiting for an answer.
extern "C" fn refuse_prompts(msg: sys::UINT, _user: sys::LPARAM, _p1: sys::LPARAM, _p2: sys::LPARAM) -> c_int {
    match msg {
        sys::UCM_NEEDPASSWORD | sys::UCM_NEEDPASSWORDW | sys::UCM_CHANGEVOLUME | sys::UCM_CHANGEVOLUMEW => -1,
        _ => 0,
    }
}

impl ArchiveBackend for RarArchive {
    /// Lists the archive without extracting anything. Fails on header encryption,
    /// multi-volume archives, damaged headers, or more members than
    /// [`Limits::max_members`].
    fn open(path: &Path, format: ArchiveFormat, limits: &Limits) -> Result<Self, ArchiveError> {
        let c_path = path_to_cstring(path)?;
        let _unrar = unrar_lock();
        let mut data = sys::OpenArchiveDataEx {
            archive_name: c_path.as_ptr(),
            archive_name_w: std::ptr::null(),
            open_mode: sys::RAR_OM_LIST,
            open_result: 0,
            comment_buffer: std::ptr::null_mut(),
            comment_buffer_size: 0,
            comment_size: 0,
            comment_state: 0,
            flags: 0,
            callback: Some(refuse_prompts),
            user_data: 0,
            op_flags: 0,
            comment_buffer_w: std::ptr::null_mut(),
            reserved: [0; 25],
        };
        // SAFETY: `data` is fully initialised, and `c_path` outlives the call; the library
        // copies the name. A non-null handle is owned by `Handle` from here on, even when
        // opening failed (the library returns one to close in that case).
        let raw = unsafe { sys::RAROpenArchiveEx(&mut data as *mut sys::OpenArchiveDataEx as *const _) };
        let handle = NonNull::new(raw as *mut sys::Handle).map(Handle);
        if data.flags & sys::ROADF_ENCHEADERS != 0 {
            return Err(ArchiveError::encrypted(path, None, format!("{format} header encryption")));
        }
        if data.open_result != sys::ERAR_SUCCESS as u32 {
            return Err(map_code(path, format, None, data.open_result as c_int));
        }
        let Some(handle) = handle else {
            return Err(ArchiveError::corrupt(path, None, "the RAR library could not open the archive"));
        };
        if data.flags & sys::ROADF_VOLUME != 0 {
            return Err(ArchiveError::MultiVolume { archive: path.to_path_buf(), format });
        }

        let mut members = Vec::new();
        let mut header: Box<sys::HeaderDataEx> = Box::default();
        loop {
            // The library writes the redirection target only when given a buffer; none is.
            header.redir_name = std::ptr::null_mut();
            header.redir_name_size = 0;
            // SAFETY: `handle` is open; `header` is a valid, initialised HeaderDataEx the
            // library fills in place.
            let code = unsafe { sys::RARReadHeaderEx(handle.0.as_ptr(), &mut *header as *mut sys::HeaderDataEx) };
            match code {
                sys::ERAR_SUCCESS => {}
                sys::ERAR_END_ARCHIVE => break,
                other => return Err(map_code(path, format, None, other)),
            }
            let m = member_from_header(&header);
            if header.flags & (sys::RHDF_SPLITBEFORE | sys::RHDF_SPLITAFTER) != 0 {
                return Err(ArchiveError::MultiVolume { archive: path.to_path_buf(), format });
            }
            members.push(m);
            check_member_count(path, members.len() as u64, limits)?;
            // SAFETY: `handle` is open and positioned after a header, as RAR_SKIP requires;
            // null paths are allowed for RAR_SKIP.
            let code =
                unsafe { sys::RARProcessFile(handle.0.as_ptr(), sys::RAR_SKIP, std::ptr::null(), std::ptr::null()) };
            if code != sys::ERAR_SUCCESS {
                return Err(map_code(path, format, members.last().map(|m| m.name.as_str()), code));
            }
        }
        Ok(RarArchive { path: path.to_path_buf(), format, members })
    }

    fn members(&self) -> &[Member] {
        &self.members
    }

    /// Has the library extract the wanted members to staging paths (it checks each one's
    /// CRC or BLAKE2 hash) and hands them on.
    fn extract(&mut self, out: &mut Extraction<'_>) -> Result<(), ArchiveError> {
        let (path, format) = (self.path.as_path(), self.format);
        let mut left = out.wanted().len();
        let _unrar = unrar_lock();
        let mut archive = unrar::Archive::new(path)
            .open_for_processing()
            .map_err(|e| map_code(path, format, None, e.code as c_int))?;
        let mut position = 0usize;
        while left > 0 {
            let Some(current) = archive.read_header().map_err(|e| map_code(path, format, None, e.code as c_int))?
            else {
                break;
            };
            let i = position;
            position += 1;
            if !out.is_wanted(i) {
                archive = current.skip().map_err(|e| map_code(path, format, None, e.code as c_int))?;
                continue;
            }
            let m = &self.members[i];
            // Both passes read the same headers in the same order; check they agree before
            // trusting the listing's verdict on this one.
            let entry = current.entry();
            if entry.unpacked_size != m.declared_size || entry.is_directory() || entry.is_encrypted() {
                return Err(ArchiveError::corrupt(
                    path,
                    Some(&m.name),
                    "the archive's headers changed between two reads",
                ));
            }
            let staged = out.reserve();
            archive =
                current.extract_to(&staged).map_err(|e| map_code(path, format, Some(&m.name), e.code as c_int))?;
            // The library applies the stored Unix mode: adopt makes it a plain file of ours.
            out.adopt(i, staged)?;
            left -= 1;
        }
        if left > 0 {
            return Err(ArchiveError::corrupt(path, None, "the archive ended before members it listed"));
        }
        Ok(())
    }
}

fn member_from_header(h: &sys::HeaderDataEx) -> Member {
    let name: String = h
        .filename_w
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| char::from_u32(c as u32).unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    let kind = if h.flags & sys::RHDF_DIRECTORY != 0 {
        MemberKind::Directory
    } else {
        kind_of(h.redir_type, h.host_os, h.file_attr)
    };
    let mtime = u64::from(h.mtime_high) << 32 | u64::from(h.mtime_low);
    Member {
        name,
        kind,
        declared_size: u64::from(h.unp_size_high) << 32 | u64::from(h.unp_size),
        encrypted: h.flags & sys::RHDF_ENCRYPTED != 0,
        modified: timefmt::from_filetime(mtime),
    }
}

/// The member's kind from the RAR redirection type (`FSREDIR_*` of UnRAR's headers.hpp)
/// and its attributes, read according to the host OS.
fn kind_of(redir_type: u32, host_os: u32, attrs: u32) -> MemberKind {
    match redir_type {
        0 => {}
        1 => return MemberKind::Link("Unix symbolic link"),
        2 => return MemberKind::Link("Windows symbolic link"),
        3 => return MemberKind::Link("Windows junction"),
        4 => return MemberKind::Link("hard link"),
        5 => return MemberKind::Link("file reference (a copy of another member, rar -oi)"),
        _ => return MemberKind::Link("file system redirection of an unknown type"),
    }
    if host_os == HOST_UNIX {
        member::kind_from_unix_mode(Some(attrs))
    } else if attrs & FILE_ATTRIBUTE_REPARSE_POINT != 0 {
        MemberKind::Link("Windows reparse point")
    } else {
        MemberKind::File
    }
}

#[cfg(unix)]
fn path_to_cstring(path: &Path) -> Result<CString, ArchiveError> {
    use std::os::unix::ffi::OsStrExt;
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| ArchiveError::io(path, "open the archive", std::io::Error::other("the path contains a NUL byte")))
}

#[cfg(not(unix))]
fn path_to_cstring(path: &Path) -> Result<CString, ArchiveError> {
    compile_error!("bak2pg::archive::rar passes archive paths to UnRAR as narrow strings: Unix only");
}

/// Maps an UnRAR result code (`ERAR_*`) to an error.
fn map_code(path: &Path, format: ArchiveFormat, member: Option<&str>, code: c_int) -> ArchiveError {
    let io = |what: &str| ArchiveError::io(path, "read the archive", std::io::Error::other(what.to_owned()));
    match code {
        sys::ERAR_MISSING_PASSWORD | sys::ERAR_BAD_PASSWORD => {
            ArchiveError::encrypted(path, member, format!("{format} encryption: a password is needed"))
        }
        sys::ERAR_BAD_DATA => {
            ArchiveError::corrupt(path, member, format!("{format} data or header damaged (CRC mismatch)"))
        }
        sys::ERAR_BAD_ARCHIVE => ArchiveError::corrupt(path, member, format!("not a valid {format} archive")),
        sys::ERAR_UNKNOWN_FORMAT => {
            ArchiveError::unsupported(path, member, format!("{format} archive format or encryption unknown to UnRAR"))
        }
        sys::ERAR_EREFERENCE => {
            ArchiveError::unsupported(path, member, "a file reference whose source is not in the archive")
        }
        sys::ERAR_EOPEN => io("UnRAR could not open the file (or its next volume)"),
        sys::ERAR_EREAD => io("UnRAR read error"),
        sys::ERAR_NO_MEMORY => io("UnRAR ran out of memory"),
        sys::ERAR_ECREATE | sys::ERAR_EWRITE | sys::ERAR_ECLOSE => ArchiveError::io(
            path,
            "write the extracted member",
            std::io::Error::other(format!("UnRAR could not write the output file (code {code})")),
        ),
        other => ArchiveError::corrupt(path, member, format!("UnRAR error code {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_and_special_files_are_recognised() {
        assert_eq!(kind_of(0, 2, 0x20), MemberKind::File);
        assert_eq!(kind_of(0, 3, 0o100_644), MemberKind::File);
        assert_eq!(kind_of(1, 3, 0o120_777), MemberKind::Link("Unix symbolic link"));
        assert_eq!(kind_of(4, 2, 0x20), MemberKind::Link("hard link"));
        assert_eq!(kind_of(0, 3, 0o120_777), MemberKind::Link("symbolic link"));
        assert_eq!(kind_of(0, 3, 0o010_644), MemberKind::Special("FIFO"));
        assert_eq!(kind_of(0, 2, 0x420), MemberKind::Link("Windows reparse point"));
        // Windows attributes are not a Unix mode: 0xA000 is two harmless attribute bits there.
        assert_eq!(kind_of(0, 2, 0xA020), MemberKind::File);
    }

    #[test]
    fn password_codes_mean_encrypted() {
        let e = map_code(Path::new("a.rar"), ArchiveFormat::Rar5, None, sys::ERAR_MISSING_PASSWORD);
        assert!(matches!(e, ArchiveError::Encrypted { .. }), "{e}");
        let e = map_code(Path::new("a.rar"), ArchiveFormat::Rar4, Some("x.bak"), sys::ERAR_BAD_DATA);
        assert!(matches!(e, ArchiveError::Corrupt { .. }), "{e}");
    }
}
