//! Putting the backup files where SQL Server may read them.
//!
//! SQL Server opens `RESTORE … FROM DISK` paths itself, as its service account (`mssql` on
//! Linux, whose packages create `/var/opt/mssql` owned by it), so the files are copied into
//! a directory it reads: by default `/var/opt/mssql/backup` (the directory Microsoft's
//! Linux restore walkthroughs use; created with mode 0750 and given to the owner when
//! missing). Each copy gets a fresh name (`bak2pg-<hex>-<n>.bak`)
//! and is created with `O_EXCL`, so no other file is ever overwritten; it is handed to
//! the owner (default `mssql`) with mode 0640, and removed again when the
//! [`PlacedBackup`] is dropped, i.e. as soon as the RESTORE is over.
//!
//! When SQL Server runs elsewhere (a container on another machine), `local` is a directory
//! shared with it (a bind mount, NFS or SMB share) and `server` the same directory as the
//! server sees it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::tsql::join_server_path;

/// Where backup files are copied for SQL Server to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupDir {
    /// The directory on this machine.
    pub local: PathBuf,
    /// The same directory as SQL Server sees it (its `FROM DISK` paths).
    pub server: String,
    /// The user the copies are handed to (`chown`); `None` leaves them ours (for a
    /// shared directory where ownership is mapped otherwise).
    pub owner: Option<String>,
}

/// The default local and server directory (SQL Server on Linux).
pub const DEFAULT_BACKUP_DIR: &str = "/var/opt/mssql/backup";
/// The default owner of the copies: SQL Server on Linux's service account.
pub const DEFAULT_OWNER: &str = "mssql";

impl Default for BackupDir {
    fn default() -> Self {
        BackupDir {
            local: PathBuf::from(DEFAULT_BACKUP_DIR),
            server: DEFAULT_BACKUP_DIR.into(),
            owner: Some(DEFAULT_OWNER.into()),
        }
    }
}

/// Copies placed for SQL Server; removed on drop.
#[derive(Debug)]
pub struct PlacedBackup {
    local: Vec<PathBuf>,
    /// The copies' paths as SQL Server sees them, in the order given.
    pub server: Vec<String>,
}

impl PlacedBackup {
    /// The copies on this machine.
    pub fn local(&self) -> &[PathBuf] {
        &self.local
    }
}

impl Drop for PlacedBackup {
    fn drop(&mut self) {
        for p in &self.local {
            if let Err(e) = std::fs::remove_file(p)
                && e.kind() != io::ErrorKind::NotFound
            {
                tracing::warn!(path = %p.display(), error = %e, "could not remove the backup copy");
            }
        }
    }
}

/// A user's uid and gid from an `/etc/passwd`-format text.
pub fn lookup_user(passwd: &str, name: &str) -> Option<(u32, u32)> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 4 && f[0] == name).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    })
}

/// 16 hex digits that no other call of this process, and in practice no other process,
/// returns: a hash of the process id, the time in nanoseconds and a counter. Names built
/// from it are still created with `O_EXCL` (or checked on the server), never trusted.
pub fn fresh_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let seed = format!("{}:{nanos}:{n}", std::process::id());
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(seed.as_bytes()))
}

/// Why the backup could not be placed for SQL Server. The messages say what to change;
/// the operating system's error stays the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlaceError {
    /// The owner for the copies is not a user of this machine.
    #[error(
        "user {owner:?} (owner for the backup copies SQL Server reads) does not exist here; give the owner SQL \
         Server runs as, or none when {} is shared with the server",
        dir.display()
    )]
    NoSuchOwner {
        /// The user name given.
        owner: String,
        /// The local backup directory.
        dir: PathBuf,
    },
    /// A copy (or the directory) cannot be handed to the owner: not root.
    #[error(
        "cannot hand {} to uid {uid} ({source}): run as root, or set the owner to none and let SQL Server read the \
         directory otherwise",
        path.display()
    )]
    Chown {
        /// The file or directory.
        path: PathBuf,
        /// The owner's uid.
        uid: u32,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// Creating, reading, writing or setting the mode of a file or the directory.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, on which path.
        context: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
}

/// A [`PlaceError::Io`] maker for `map_err`.
fn io_err(context: impl Into<String>) -> impl FnOnce(io::Error) -> PlaceError {
    let context = context.into();
    move |source| PlaceError::Io { context, source }
}

/// Copies `files` (the stripes of one backup, in order) into `dir`.
///
/// # Errors
/// The directory cannot be written, the owner does not exist or cannot be given the
/// file (not root): each message says what to change. A partial copy is removed.
pub fn place(files: &[&Path], dir: &BackupDir) -> Result<PlacedBackup, PlaceError> {
    let stem = fresh_hex();
    let mut placed = PlacedBackup { local: Vec::new(), server: Vec::new() };
    let owner = match &dir.owner {
        None => None,
        Some(name) => {
            let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
            Some(
                lookup_user(&passwd, name)
                    .ok_or_else(|| PlaceError::NoSuchOwner { owner: name.clone(), dir: dir.local.clone() })?,
            )
        }
    };
    if !dir.local.exists() {
        // SQL Server on Linux creates /var/opt/mssql but not always its backup directory.
        std::fs::create_dir_all(&dir.local)
            .map_err(io_err(format!("cannot create {} for SQL Server to read", dir.local.display())))?;
        set_owner(&dir.local, owner, 0o750)?;
    }
    for (i, src) in files.iter().enumerate() {
        let name = format!("bak2pg-{stem}-{}.bak", i + 1);
        let dst = dir.local.join(&name);
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&dst)
            .map_err(io_err(format!("cannot create {} for SQL Server to read", dst.display())))?;
        placed.local.push(dst.clone());
        placed.server.push(join_server_path(&dir.server, &name));
        let mut input = File::open(src).map_err(io_err(src.display().to_string()))?;
        io::copy(&mut input, &mut out).map_err(io_err(format!("copying {} to {}", src.display(), dst.display())))?;
        out.sync_all().map_err(io_err(dst.display().to_string()))?;
        drop(out);
        set_owner(&dst, owner, 0o640)?;
    }
    Ok(placed)
}

#[cfg(unix)]
fn set_owner(path: &Path, owner: Option<(u32, u32)>, mode: u32) -> Result<(), PlaceError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some((uid, gid)) = owner {
        std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| PlaceError::Chown {
            path: path.to_path_buf(),
            uid,
            source,
        })?;
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err(path.display().to_string()))
}

#[cfg(not(unix))]
fn set_owner(_path: &Path, _owner: Option<(u32, u32)>, _mode: u32) -> Result<(), PlaceError> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_from_passwd() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\nmssql:x:10001:10001::/var/opt/mssql:/bin/bash\nbad:x:y:1::/:/\n";
        assert_eq!(lookup_user(passwd, "mssql"), Some((10001, 10001)));
        assert_eq!(lookup_user(passwd, "root"), Some((0, 0)));
        assert_eq!(lookup_user(passwd, "bad"), None);
        assert_eq!(lookup_user(passwd, "nobody"), None);
    }

    #[test]
    fn copies_are_fresh_private_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("in.bak");
        std::fs::write(&src, b"backup bytes").unwrap();
        let dir = BackupDir { local: tmp.path().join("dir"), server: "/srv/backups/".into(), owner: None };
        std::fs::create_dir(&dir.local).unwrap();
        let a = place(&[src.as_path(), src.as_path()], &dir).unwrap();
        let b = place(&[src.as_path()], &dir).unwrap();
        assert_eq!(a.local().len(), 2);
        assert_ne!(a.local()[0], b.local()[0]);
        assert_ne!(a.local()[0], a.local()[1]);
        for (l, s) in a.local().iter().zip(&a.server) {
            assert_eq!(std::fs::read(l).unwrap(), b"backup bytes");
            let name = l.file_name().unwrap().to_str().unwrap();
            assert_eq!(*s, format!("/srv/backups/{name}"));
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                assert_eq!(std::fs::metadata(l).unwrap().permissions().mode() & 0o777, 0o640);
            }
        }
        let kept = a.local().to_vec();
        drop(a);
        assert!(kept.iter().all(|p| !p.exists()));
        assert!(b.local()[0].exists());
        // A missing source leaves nothing behind.
        let missing = tmp.path().join("missing.bak");
        let e = place(&[missing.as_path()], &dir).unwrap_err();
        assert!(e.to_string().contains("missing.bak"), "{e}");
        // The operating system's error is the source.
        let io = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<io::Error>()).expect("an io::Error");
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
        drop(b);
        assert_eq!(std::fs::read_dir(&dir.local).unwrap().count(), 0);
        // An owner that does not exist is refused before anything is copied.
        let bad = BackupDir { owner: Some("no-such-user-bak2pg".into()), ..dir.clone() };
        assert!(place(&[src.as_path()], &bad).unwrap_err().to_string().contains("does not exist"));
        // A directory that does not exist is created (private to its owner and group).
        let newdir = BackupDir { local: tmp.path().join("new/backup"), ..dir };
        let c = place(&[src.as_path()], &newdir).unwrap();
        assert!(c.local()[0].starts_with(&newdir.local));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&newdir.local).unwrap().permissions().mode() & 0o777, 0o750);
        }
        // One that cannot be created says so.
        std::fs::write(tmp.path().join("file"), b"").unwrap();
        let bad = BackupDir { local: tmp.path().join("file/sub"), ..newdir };
        assert!(place(&[src.as_path()], &bad).unwrap_err().to_string().contains("cannot create"));
    }
}
