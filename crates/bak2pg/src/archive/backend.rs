//! What a container format supplies to the one extraction driver ([`super::extract`]): its
//! member list, and the data of the members asked for.
//!
//! Everything else is the driver's and [`Extraction`]'s, so no format can skip it: the
//! name, link and encryption checks, which members are backups, the size and free-space
//! limits, the staging files named by us (never by the member), counting each member's
//! bytes against its declared size, and the final rename.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::member::Member;
use super::stage::{Stage, StagedFile};
use super::{ArchiveError, ArchiveFormat, LimitKind, Limits};

/// One container format: how to list an archive's members and read the wanted ones.
pub(crate) trait ArchiveBackend {
    /// Opens `path` and lists its members without extracting anything. Fails on what the
    /// listing alone shows: encrypted headers, multi-volume archives, damaged headers, more
    /// members than [`Limits::max_members`] (see [`check_member_count`]).
    fn open(path: &Path, format: ArchiveFormat, limits: &Limits) -> Result<Self, ArchiveError>
    where
        Self: Sized;

    /// The members, in the format's own order: a member's position is how
    /// [`ArchiveBackend::extract`] finds it again.
    fn members(&self) -> &[Member];

    /// Hands the data of every member [`Extraction::wanted`] lists to `out`, through
    /// [`Extraction::write`] or [`Extraction::adopt`].
    fn extract(&mut self, out: &mut Extraction<'_>) -> Result<(), ArchiveError>;
}

/// Refuses an archive listing more than [`Limits::max_members`] members, before its
/// member list is built (a hostile header can declare millions).
pub(crate) fn check_member_count(archive: &Path, count: u64, limits: &Limits) -> Result<(), ArchiveError> {
    if count > limits.max_members {
        return Err(ArchiveError::TooLarge {
            archive: archive.to_path_buf(),
            member: None,
            limit: LimitKind::MemberCount,
            value: count,
            max: limits.max_members,
        });
    }
    Ok(())
}

/// Where a backend delivers member data: each member is written to a staging file of ours,
/// checked against its declared size, then handed to the driver.
pub(crate) struct Extraction<'a> {
    wanted: &'a [usize],
    is_wanted: Vec<bool>,
    members: &'a [Member],
    stage: &'a Stage,
    done: &'a mut dyn FnMut(StagedFile) -> Result<(), ArchiveError>,
}

impl<'a> Extraction<'a> {
    /// Extraction of the members at positions `wanted` of `members` into `stage`, each
    /// handed to `done` once written.
    pub(crate) fn new(
        wanted: &'a [usize],
        members: &'a [Member],
        stage: &'a Stage,
        done: &'a mut dyn FnMut(StagedFile) -> Result<(), ArchiveError>,
    ) -> Self {
        let mut is_wanted = vec![false; members.len()];
        for &i in wanted {
            is_wanted[i] = true;
        }
        Extraction { wanted, is_wanted, members, stage, done }
    }

    /// Positions of the wanted members, in archive order.
    pub(crate) fn wanted(&self) -> &'a [usize] {
        self.wanted
    }

    /// Whether the member at position `i` is wanted (false past the end of the list).
    pub(crate) fn is_wanted(&self, i: usize) -> bool {
        self.is_wanted.get(i).copied().unwrap_or(false)
    }

    /// Writes `data`, the decompressed bytes of the member at position `i`, to a staging
    /// file (cut off as soon as it passes the declared size) and hands it to the driver.
    pub(crate) fn write(&mut self, i: usize, data: &mut dyn Read) -> Result<(), ArchiveError> {
        let staged = self.stage.write_from(i, &self.members[i], data)?;
        (self.done)(staged)
    }

    /// A fresh staging path, for a library that writes a member's file itself; give the
    /// file back with [`Extraction::adopt`].
    pub(crate) fn reserve(&self) -> PathBuf {
        self.stage.reserve()
    }

    /// Takes the file a library wrote at `path` (from [`Extraction::reserve`]) for the
    /// member at position `i`: made a plain readable file of ours, checked to be a plain
    /// file of the declared size, and handed to the driver.
    pub(crate) fn adopt(&mut self, i: usize, path: PathBuf) -> Result<(), ArchiveError> {
        normalise_permissions(&path)?;
        let staged = self.stage.adopt(i, &self.members[i], path)?;
        (self.done)(staged)
    }
}

/// A library may apply the stored Unix mode; a backup stored with mode 000 or set-id bits
/// must still be a plain readable file of ours.
fn normalise_permissions(path: &Path) -> Result<(), ArchiveError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
            .map_err(|e| ArchiveError::io(path, "set the extracted backup's permissions", e))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
