//! `migrate`'s temporary work folder (files extracted from archives), and the removal of
//! the folders that killed runs left behind.
//!
//! A killed process cannot remove its own folder, and what it holds can be a whole
//! extracted backup, gigabytes that every rerun would add to. So each folder holds a
//! `.lock` file that its run keeps locked (`flock`, which the kernel releases when the
//! process ends, however it ends), and `migrate` first removes the `bak2pg-*` folders of
//! the temporary directory whose lock it can take. Folders without that file (another
//! tool's, an older bak2pg's), symbolic links and other users' folders are left alone.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The folders' name prefix.
const PREFIX: &str = "bak2pg-";
/// The lock file a live run holds locked, inside its folder.
const LOCK: &str = ".lock";

/// A work folder under the temporary directory (`$TMPDIR`, else `/tmp`), removed when
/// dropped, and by a later run's [`sweep`] if its process dies first.
pub struct WorkFolder {
    dir: tempfile::TempDir,
    // Held for the folder's life: the lock is what tells a sweep the run is alive.
    _lock: File,
}

impl WorkFolder {
    /// Creates `bak2pg-XXXXXX` under `parent`, with its lock taken. The lock file is
    /// locked under another name and then renamed, so that a sweep never finds a `.lock`
    /// that is not yet locked. Errors: the folder or the lock file cannot be created.
    pub fn create_in(parent: &Path) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix(PREFIX).tempdir_in(parent)?;
        let pending = dir.path().join(".lock.new");
        let lock = File::create_new(&pending)?;
        lock.lock()?;
        std::fs::rename(&pending, dir.path().join(LOCK))?;
        Ok(WorkFolder { dir, _lock: lock })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Removes the work folders under `parent` whose run has ended (their lock can be taken),
/// and returns them. A folder that cannot be read or removed is skipped: the run goes on
/// without the space, as it would have before.
pub fn sweep(parent: &Path) -> Vec<PathBuf> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let uid = unsafe { libc::geteuid() };
    let mut removed = Vec::new();
    let Ok(entries) = std::fs::read_dir(parent) else { return removed };
    for entry in entries.flatten() {
        let path = entry.path();
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        // Not followed: a link named like ours is not ours.
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() && m.uid() == uid => {}
            _ => continue,
        }
        let Ok(lock) = File::open(path.join(LOCK)) else { continue };
        // Taken: nobody holds it, so its run has ended. Held until the folder is gone.
        if lock.try_lock().is_err() {
            continue;
        }
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => {
                tracing::warn!(folder = %path.display(), error = %e, "could not remove an ended run's work folder")
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_live_runs_folder_stays_and_an_ended_runs_folder_goes() {
        let tmp = tempfile::tempdir().unwrap();
        let live = WorkFolder::create_in(tmp.path()).unwrap();
        std::fs::write(live.path().join("backup.bak"), b"live").unwrap();

        // What a killed run leaves: its folder, its files and a lock nobody holds.
        let ended = tmp.path().join("bak2pg-ended");
        std::fs::create_dir(&ended).unwrap();
        std::fs::write(ended.join(LOCK), b"").unwrap();
        std::fs::write(ended.join("backup.bak"), b"extracted").unwrap();
        // Not ours to judge: no lock file, another name, a link to a folder of ours.
        let unknown = tmp.path().join("bak2pg-unknown");
        std::fs::create_dir(&unknown).unwrap();
        let other = tmp.path().join("other-tool");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join(LOCK), b"").unwrap();
        let target = tempfile::tempdir().unwrap();
        std::fs::write(target.path().join(LOCK), b"").unwrap();
        std::os::unix::fs::symlink(target.path(), tmp.path().join("bak2pg-link")).unwrap();

        assert_eq!(sweep(tmp.path()), vec![ended.clone()]);
        assert!(!ended.exists());
        assert!(live.path().join("backup.bak").exists(), "a live run's folder was removed");
        assert!(unknown.exists() && other.exists() && target.path().join(LOCK).exists());

        // Once its run ends the folder is gone, and a later sweep finds nothing.
        let live_path = live.path().to_path_buf();
        drop(live);
        assert!(!live_path.exists());
        assert!(sweep(tmp.path()).is_empty());
    }

    #[test]
    fn a_folder_is_swept_once_its_lock_is_released() {
        let tmp = tempfile::tempdir().unwrap();
        let folder = WorkFolder::create_in(tmp.path()).unwrap();
        let path = folder.path().to_path_buf();
        assert!(sweep(tmp.path()).is_empty());
        // The kernel releases a dead process's lock; here the file is closed instead,
        // and the folder kept (forget skips TempDir's removal).
        let WorkFolder { dir, _lock } = folder;
        drop(_lock);
        std::mem::forget(dir);
        assert_eq!(sweep(tmp.path()), vec![path.clone()]);
        assert!(!path.exists());
    }
}
