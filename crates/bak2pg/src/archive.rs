//! Finds the SQL Server backup in what the customer uploaded and, when it sits inside an
//! archive, extracts it safely.
//!
//! [`prepare_backup`] is the whole entry point. It recognises the input by its first bytes,
//! never by its extension:
//!
//! | first bytes                      | what                          | handled by            |
//! |----------------------------------|-------------------------------|-----------------------|
//! | `TAPE`                           | uncompressed backup (MTF)     | passed through        |
//! | `MSSQLBAK`                       | compressed backup             | passed through        |
//! | `Rar!\x1a\x07\x00`               | RAR 4.x archive               | `unrar` (RARLab code) |
//! | `Rar!\x1a\x07\x01\x00`           | RAR 5 archive                 | `unrar` (RARLab code) |
//! | `PK\x03\x04`, `PK\x05\x06`       | ZIP archive                   | `zip`                 |
//! | `7z\xbc\xaf\x27\x1c`             | 7z archive                    | `sevenz-rust2`        |
//!
//! Anything else is refused with [`ArchiveError::NotABackup`], saying what the bytes look
//! like (a pg_dump file, a Git LFS pointer, text, …).
//!
//! ## What is checked before anything is written
//!
//! The whole member list is read first. The archive is refused, with the work folder left
//! untouched, when any member has a name that could escape a folder (absolute, `..`, a drive
//! letter, a backslash, a NUL), when any member is a link or another special file, when the
//! archive's headers or a backup member are encrypted, when it is split into volumes, when a
//! backup member (or all of them together) declares more bytes than [`Limits`] allow, and
//! when the work folder's file system has not room for them plus [`Limits::min_free_bytes`].
//!
//! ## How members are written
//!
//! Member names are never used as output paths. Each candidate is written to a numbered file
//! in a private staging folder inside `work_dir`, counted against its declared size (a member
//! that inflates past it is cut off at once), its CRC checked by the archive library, then
//! checked to really be a SQL Server backup. The chosen one is renamed to
//! `work_dir/<sanitised base name>.bak`; the staging folder, and with it every member not
//! chosen or half written, is removed whatever happens.
//!
//! ## Several backups in one archive
//!
//! Backup members are the members whose base name ends in `.bak` (any case, any folder;
//! macOS `__MACOSX/` and `._*` companions excepted). With more than one, each is extracted
//! in turn and its header read (`mssql_backup::header`, as `RESTORE HEADERONLY`): a full
//! database backup beats a differential or log one, then the latest backup start wins
//! (then the member's date, then size). Only the best so far and the one just extracted
//! are ever on disk; the loser is deleted at once. [`PreparedBackup::notes`] says which
//! was chosen and why. A `.bak` member that is not a SQL Server backup is skipped with a
//! note, or, when none is one, refused with [`ArchiveError::NotABackup`].
//!
//! ## Not supported
//!
//! Multi-volume (split) archives of any format, password-protected archives, archives
//! inside archives, self-extracting executables, tar and gzip: each is refused with an
//! error that says so.
//!
//! ## Where the code is
//!
//! Each format (`rar`, `zipfmt`, `sevenz`) implements `backend::ArchiveBackend`: it only
//! lists its members and reads the wanted ones. Every check above is done once, for all of
//! them, by the driver in `extract` and by `backend::Extraction` (staging files from
//! `stage`, sizes counted against the declared ones).

mod backend;
mod choose;
mod extract;
mod magic;
mod member;
mod rar;
mod sevenz;
mod stage;
mod timefmt;
mod zipfmt;

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use self::magic::Detected;

pub use self::magic::describe_first_bytes;

/// Archive container formats [`prepare_backup`] can open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveFormat {
    /// RAR 1.5–4.x ("RAR 2.9") archive, `Rar!\x1a\x07\x00`.
    Rar4,
    /// RAR 5 archive, `Rar!\x1a\x07\x01\x00`.
    Rar5,
    /// ZIP archive (also ZIP64).
    Zip,
    /// 7-Zip archive.
    SevenZip,
}

impl fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ArchiveFormat::Rar4 => "RAR4",
            ArchiveFormat::Rar5 => "RAR5",
            ArchiveFormat::Zip => "ZIP",
            ArchiveFormat::SevenZip => "7z",
        })
    }
}

/// The container of a SQL Server backup file, from its first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackupContainer {
    /// Uncompressed backup: Microsoft Tape Format, starting with a `TAPE` descriptor block.
    Mtf,
    /// Compressed backup (`BACKUP … WITH COMPRESSION`), starting with `MSSQLBAK`.
    MssqlBak,
}

/// Size limits and reporting knobs for [`prepare_backup`].
///
/// Sizes are in bytes. The defaults suit one customer database per job on a work disk
/// sized for it: they stop absurd declarations, not real backups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Largest uncompressed size one backup member may declare. Default 1 TiB.
    pub max_member_bytes: u64,
    /// Largest uncompressed size all backup members together may declare (they are all
    /// extracted to pick the newest). Default 2 TiB.
    pub max_total_bytes: u64,
    /// Free space that must remain on the work folder's file system after extraction,
    /// for the steps that follow. Default 1 GiB.
    pub min_free_bytes: u64,
    /// Most members an archive may list (of any kind); more is refused as hostile.
    /// Default 100 000.
    pub max_members: u64,
    /// How many member names an error or a note lists before saying "and N more".
    /// Default 20.
    pub listed_names: usize,
}

impl Default for Limits {
    fn default() -> Self {
        const GIB: u64 = 1 << 30;
        Limits {
            max_member_bytes: 1024 * GIB,
            max_total_bytes: 2048 * GIB,
            min_free_bytes: GIB,
            max_members: 100_000,
            listed_names: 20,
        }
    }
}

/// The backup file to read, and how it was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreparedBackup {
    /// The `.bak` file to open: the input itself when it already was a backup (no copy is
    /// made), otherwise the extracted file inside `work_dir`.
    pub path: PathBuf,
    /// Uncompressed MTF or compressed `MSSQLBAK`, from the file's first bytes.
    pub container: BackupContainer,
    /// Size of `path` in bytes.
    pub size: u64,
    /// The archive format the backup came from; `None` when the input was the backup.
    pub archive: Option<ArchiveFormat>,
    /// The member's name inside the archive, as stored (for reports only: it was never
    /// used as a path); `None` when the input was the backup.
    pub member: Option<String>,
    /// True when `path` was written by [`prepare_backup`] (the caller may delete it once
    /// done); false when it is the caller's own input.
    pub extracted: bool,
    /// Human-readable remarks for the report: which backup was chosen among several and
    /// why, members skipped, and so on. Empty when there was nothing to say.
    pub notes: Vec<String>,
}

/// Whether retrying the same input later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The input itself is unusable; retrying cannot help, the customer must act.
    Permanent,
    /// The machine failed (I/O, disk space); a retry, maybe elsewhere, can succeed.
    Transient,
}

/// Which of [`Limits`] an input broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// [`Limits::max_member_bytes`]
    MemberBytes,
    /// [`Limits::max_total_bytes`]
    TotalBytes,
    /// [`Limits::max_members`]
    MemberCount,
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LimitKind::MemberBytes => "bytes per backup member",
            LimitKind::TotalBytes => "bytes for all backup members together",
            LimitKind::MemberCount => "members per archive",
        })
    }
}

/// Why [`prepare_backup`] failed. Every message names the input file, and the member (as a
/// quoted, escaped string) or byte offset at fault when there is one.
///
/// [`ArchiveError::class`] tells permanent failures (the upload is unusable) from transient
/// ones; [`ArchiveError::code`] gives a stable snake_case code for job documents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArchiveError {
    /// Reading the input or writing the work folder failed at the operating-system level.
    #[error("{}: {action}: {source}", path.display())]
    Io {
        /// The file or folder concerned.
        path: PathBuf,
        /// What was being done ("read the archive", "write the extracted backup", …).
        action: &'static str,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },

    /// The input (or the only backup-named member) is not a SQL Server backup, nor an
    /// archive of a supported format.
    #[error("{}{}: not a SQL Server backup: {looks_like}", path.display(), in_member(member.as_deref()))]
    NotABackup {
        /// The input file.
        path: PathBuf,
        /// The archive member examined, when the input was an archive.
        member: Option<String>,
        /// What the first bytes look like, e.g. "a PostgreSQL custom-format dump (PGDMP)".
        looks_like: String,
    },

    /// The archive holds no member named `*.bak`.
    #[error(
        "{}: the {format} archive holds no SQL Server backup (no member ends in .bak); its {total} member(s): {}",
        archive.display(),
        list_names(members, *total)
    )]
    NoBackupInArchive {
        /// The archive.
        archive: PathBuf,
        /// Its format.
        format: ArchiveFormat,
        /// The first [`Limits::listed_names`] member names, in archive order.
        members: Vec<String>,
        /// How many members the archive has in all.
        total: u64,
    },

    /// The archive's headers, or a backup member, are encrypted. Nothing was written.
    #[error(
        "{}{}: encrypted ({detail}); upload the backup without a password",
        archive.display(),
        in_member(member.as_deref())
    )]
    Encrypted {
        /// The archive.
        archive: PathBuf,
        /// The encrypted member; `None` when the archive's own headers are encrypted.
        member: Option<String>,
        /// What was found ("RAR header encryption", "ZIP encryption flag", …).
        detail: String,
    },

    /// A member's name could escape the extraction folder, or the member is a link or
    /// another special file. Nothing was written.
    #[error("{}: member {member:?} is unsafe to extract: {reason}", archive.display())]
    UnsafeMemberPath {
        /// The archive.
        archive: PathBuf,
        /// The member's name as stored (lossily decoded, shown escaped).
        member: String,
        /// What is wrong with it ("`..` component", "symbolic link", …).
        reason: String,
    },

    /// A declared size or count is above [`Limits`]. Nothing was written.
    #[error(
        "{}{}: declares {value}, over the limit of {max} {limit}",
        archive.display(),
        in_member(member.as_deref())
    )]
    TooLarge {
        /// The archive.
        archive: PathBuf,
        /// The member at fault, when one member is.
        member: Option<String>,
        /// Which limit.
        limit: LimitKind,
        /// The declared value (bytes or members).
        value: u64,
        /// The limit.
        max: u64,
    },

    /// The work folder's file system has less free space than the extraction needs.
    /// Nothing was written.
    #[error(
        "{}: not enough free space to extract {}: {needed} bytes needed (including {reserve} kept free), {available} available",
        work_dir.display(),
        archive.display()
    )]
    InsufficientSpace {
        /// The work folder.
        work_dir: PathBuf,
        /// The archive being extracted.
        archive: PathBuf,
        /// Bytes needed, reserve included.
        needed: u64,
        /// The part of `needed` that is [`Limits::min_free_bytes`].
        reserve: u64,
        /// Bytes available to this user.
        available: u64,
    },

    /// The archive is one volume of a multi-volume (split) archive, which is not supported.
    #[error(
        "{}: this is one volume of a multi-volume {format} archive, which is not supported; re-create it as a single-volume archive",
        archive.display()
    )]
    MultiVolume {
        /// The archive.
        archive: PathBuf,
        /// Its format.
        format: ArchiveFormat,
    },

    /// The archive uses something this build cannot read (a compression method, a format
    /// version). The message names it.
    #[error("{}{}: unsupported: {what}", archive.display(), in_member(member.as_deref()))]
    Unsupported {
        /// The archive.
        archive: PathBuf,
        /// The member concerned, when there is one.
        member: Option<String>,
        /// What is unsupported.
        what: String,
    },

    /// The archive's structure or a member's data is damaged: bad headers, a CRC mismatch,
    /// a member whose data is shorter or longer than it declares.
    #[error("{}{}{}: damaged archive: {detail}", archive.display(), in_member(member.as_deref()), at_offset(*offset))]
    Corrupt {
        /// The archive.
        archive: PathBuf,
        /// The member concerned, when there is one.
        member: Option<String>,
        /// Byte offset at fault, in the archive or (with a member) in the member's data.
        offset: Option<u64>,
        /// What was found.
        detail: String,
    },
}

fn in_member(member: Option<&str>) -> String {
    member.map(|m| format!(", member {m:?}")).unwrap_or_default()
}

fn at_offset(offset: Option<u64>) -> String {
    offset.map(|o| format!(" at byte {o}")).unwrap_or_default()
}

fn list_names(names: &[String], total: u64) -> String {
    let listed = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    let more = total.saturating_sub(names.len() as u64);
    match (listed.is_empty(), more) {
        (true, 0) => "none".to_owned(),
        (true, more) => format!("{more} not listed"),
        (false, 0) => listed,
        (false, more) => format!("{listed} and {more} more"),
    }
}

impl ArchiveError {
    /// Permanent (the upload is unusable as it is) or transient (the machine failed).
    pub fn class(&self) -> ErrorClass {
        match self {
            ArchiveError::Io { .. } | ArchiveError::InsufficientSpace { .. } => ErrorClass::Transient,
            _ => ErrorClass::Permanent,
        }
    }

    /// A stable snake_case code for job documents and exit codes.
    pub fn code(&self) -> &'static str {
        match self {
            ArchiveError::Io { .. } => "io",
            ArchiveError::NotABackup { .. } => "not_a_backup",
            ArchiveError::NoBackupInArchive { .. } => "no_backup_in_archive",
            ArchiveError::Encrypted { .. } => "encrypted",
            ArchiveError::UnsafeMemberPath { .. } => "unsafe_member_path",
            ArchiveError::TooLarge { .. } => "too_large",
            ArchiveError::InsufficientSpace { .. } => "insufficient_space",
            ArchiveError::MultiVolume { .. } => "multi_volume",
            ArchiveError::Unsupported { .. } => "unsupported",
            ArchiveError::Corrupt { .. } => "corrupt",
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> Self {
        ArchiveError::Io { path: path.to_path_buf(), action, source }
    }

    pub(crate) fn corrupt(archive: &Path, member: Option<&str>, detail: impl Into<String>) -> Self {
        ArchiveError::Corrupt {
            archive: archive.to_path_buf(),
            member: member.map(str::to_owned),
            offset: None,
            detail: detail.into(),
        }
    }

    pub(crate) fn unsupported(archive: &Path, member: Option<&str>, what: impl Into<String>) -> Self {
        ArchiveError::Unsupported {
            archive: archive.to_path_buf(),
            member: member.map(str::to_owned),
            what: what.into(),
        }
    }

    pub(crate) fn encrypted(archive: &Path, member: Option<&str>, detail: impl Into<String>) -> Self {
        ArchiveError::Encrypted {
            archive: archive.to_path_buf(),
            member: member.map(str::to_owned),
            detail: detail.into(),
        }
    }
}

/// Recognises `input` by its first bytes: a backup container, an archive format, or an
/// error describing what it is instead.
///
/// # Errors
/// [`ArchiveError::Io`] when the file cannot be read; [`ArchiveError::NotABackup`] when it
/// is neither a backup nor a supported archive; [`ArchiveError::MultiVolume`] for a
/// spanned ZIP.
pub fn detect(input: &Path) -> Result<InputKind, ArchiveError> {
    let head = magic::read_head(input)?;
    match magic::detect(&head) {
        Detected::Backup(container) => Ok(InputKind::Backup(container)),
        Detected::Archive(format) => Ok(InputKind::Archive(format)),
        Detected::SpannedZip => {
            Err(ArchiveError::MultiVolume { archive: input.to_path_buf(), format: ArchiveFormat::Zip })
        }
        Detected::Other(looks_like) => {
            Err(ArchiveError::NotABackup { path: input.to_path_buf(), member: None, looks_like })
        }
        Detected::DamagedArchive(detail) => {
            Err(ArchiveError::Corrupt { archive: input.to_path_buf(), member: None, offset: Some(0), detail })
        }
    }
}

/// What [`detect`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputKind {
    /// A SQL Server backup file.
    Backup(BackupContainer),
    /// An archive to look into.
    Archive(ArchiveFormat),
}

/// Returns the SQL Server backup to read for `input`: `input` itself when it is a backup,
/// or the newest full backup found inside it when it is a RAR, ZIP or 7z archive, extracted
/// into `work_dir` (created if missing).
///
/// Running it twice on the same input gives the same output path (the second run replaces
/// the first run's file). A run that fails leaves no file in `work_dir`; a process killed
/// mid-extraction can leave a `.bak2pg-extract-*` staging folder, which the caller may
/// delete along with the job's work folder.
///
/// # Errors
/// Every variant of [`ArchiveError`]; see there. Checks that need no extraction (names,
/// links, encryption, declared sizes, free space) fail before anything is written.
pub fn prepare_backup(input: &Path, work_dir: &Path, limits: &Limits) -> Result<PreparedBackup, ArchiveError> {
    match detect(input)? {
        InputKind::Backup(container) => {
            let meta = std::fs::metadata(input).map_err(|e| ArchiveError::io(input, "read the backup's size", e))?;
            Ok(PreparedBackup {
                path: input.to_path_buf(),
                container,
                size: meta.len(),
                archive: None,
                member: None,
                extracted: false,
                notes: Vec::new(),
            })
        }
        InputKind::Archive(format) => extract::extract_backup(input, format, work_dir, limits),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classes_split_machine_faults_from_bad_uploads() {
        let io = ArchiveError::io(Path::new("a.rar"), "read the archive", io::Error::other("boom"));
        assert_eq!(io.class(), ErrorClass::Transient);
        assert_eq!(io.code(), "io");
        let enc = ArchiveError::encrypted(Path::new("a.rar"), Some("x.bak"), "RAR5 member encryption");
        assert_eq!(enc.class(), ErrorClass::Permanent);
        assert_eq!(
            enc.to_string(),
            "a.rar, member \"x.bak\": encrypted (RAR5 member encryption); upload the backup without a password"
        );
    }

    #[test]
    fn no_backup_message_lists_names_and_the_rest() {
        let e = ArchiveError::NoBackupInArchive {
            archive: "x.rar".into(),
            format: ArchiveFormat::Rar5,
            members: vec!["a.csv".into(), "b.csv".into()],
            total: 5,
        };
        assert_eq!(
            e.to_string(),
            "x.rar: the RAR5 archive holds no SQL Server backup (no member ends in .bak); its 5 member(s): \"a.csv\", \"b.csv\" and 3 more"
        );
    }

    #[test]
    fn name_lists_say_what_they_leave_out() {
        assert_eq!(list_names(&[], 0), "none");
        assert_eq!(list_names(&[], 4), "4 not listed");
        assert_eq!(list_names(&["a".into()], 1), "\"a\"");
    }

    #[test]
    fn member_names_are_escaped_in_messages() {
        let e = ArchiveError::UnsafeMemberPath {
            archive: "x.zip".into(),
            member: "evil\n.bak".into(),
            reason: "NUL byte".into(),
        };
        assert!(e.to_string().contains("\"evil\\n.bak\""), "{e}");
    }
}
