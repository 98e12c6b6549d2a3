//! What a backup says about itself: the backup set's header (`RESTORE HEADERONLY`), its
//! files (`RESTORE FILELISTONLY`), the media set, as read from the MTF descriptor blocks
//! by the parent module.

use serde::{Deserialize, Serialize};

use super::values::{DatabaseCollation, Guid, Lsn, ProductVersion, Timestamp};
use crate::{Error, ErrorKind, Result};

/// A backup set described: the header and its files, in the order the backup lists them
/// (data files, then the log file, in all fixtures).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupDescription {
    /// What `RESTORE HEADERONLY` reports.
    pub header: BackupHeader,
    /// What `RESTORE FILELISTONLY` reports.
    pub files: Vec<BackupFile>,
}

/// The backup set's header (`RESTORE HEADERONLY`).
///
/// Strings are as stored (UTF-16 decoded; names may be empty or localized). Dates are the
/// server's local time with its UTC offset, see [`Timestamp`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupHeader {
    /// Database name (`SCIN` string pair at 0x68), as written when the backup was taken:
    /// `NORTHWND`, `NorthWind`, `Northwind` in three Northwind fixtures.
    pub database_name: String,
    /// Server name, `HOST` or `HOST\INSTANCE` (`SCIN` string pair at 0x6C).
    pub server_name: String,
    /// Name of the machine that wrote the backup (`VOLB` machine name, offset 64): the host
    /// part of [`Self::server_name`], case aside, in all 16 fixtures.
    pub machine_name: String,
    /// Login that took the backup (`SSET` user name, offset 76): `DOMAIN\user` or `sa`.
    pub user_name: String,
    /// Backup-set name (`SSET` data set name, offset 64); may be empty or localized.
    pub backup_name: String,
    /// Backup-set description (`SSET` data set description, offset 68); usually empty.
    pub backup_description: String,
    /// What was backed up (`SCIN` byte 0x57, see [`BackupType`]).
    pub backup_type: BackupType,
    /// `SSET` attributes (offset 52), MTF 1.00a bits: 0x2 copy, 0x4 normal,
    /// 0x8 differential, 0x10 incremental, 0x20 daily. 0x4 in all 16 full backups.
    pub set_attributes: u32,
    /// `COPY_ONLY`: the MTF copy bit (0x2) of [`Self::set_attributes`]. A public
    /// reverse-engineering note (mssqlbak) reports SQL Server sets it for copy-only full
    /// backups; unverified here: no fixture is copy-only (each rebased the differential
    /// base of its data files, which a copy-only backup does not do).
    pub copy_only: bool,
    /// The backup set's position in the file (`SSET` data set number, offset 62), as
    /// `RESTORE … WITH FILE = n` takes it: 1 and 2 in `hotel-qlks-2sets-sql2008.bak`, in
    /// file order; 1 in the other fixtures.
    pub position: u16,
    /// Number of backup sets (`SSET` blocks) in this file: more than one when backups were
    /// appended with `NOINIT` (`hotel-qlks-2sets-sql2008.bak`: 2; 1 in the other fixtures).
    pub backup_sets_in_file: u32,
    /// The backup set's GUID (`SSET` offset 100, after the MTF fields): equal to the
    /// differential-base GUID of every data file's closing `SFIN` record (16/16), and the
    /// 2005 Northwind's is the database-backup GUID (`SCIN` 0xC8) of the 2008 Northwind
    /// restored from it.
    pub backup_set_guid: Guid,
    /// When the backup started (`SCIN` 0x4D; the `SSET` media write date at 88 holds the
    /// same value). Local time; the UTC offset is `SSET` byte 95 (signed, 15-minute units,
    /// 127 = unknown). Evidence: each data file's closing `SFIN` holds a UTC `FILETIME` at
    /// 0x106; shifted by this offset it lies between the start and the finish, to the
    /// second, in all 16 fixtures (offsets −6 h to +8 h, +5:30 among them), where any other
    /// offset would miss by 15 minutes or more.
    pub start: Timestamp,
    /// When the backup finished (closing `SCIN` 0x52), with the start's UTC offset; `None`
    /// without a closing copy (the opening copy holds zeros there).
    pub finish: Option<Timestamp>,
    /// When the database was created (`SCIN` 0x48), server local time; the UTC offset is not
    /// given since it may differ from the backup's (daylight saving). Matches the
    /// `datetime` at boot page offset 140 (taken to be `dbi_crdate`) within 9 s in 10 of
    /// the 15 fixtures with a boot page; in the
    /// other 5 it is later (up to 4 years), which fits databases restored or attached after
    /// their creation, as `sys.databases.create_date` behaves. Not confirmed by an oracle.
    pub database_creation_date: Option<Timestamp>,
    /// SQL Server version that wrote the backup (`SCIN` 0x18..0x1C).
    pub product_version: ProductVersion,
    /// Internal database version (`dbi_version`, `SCIN` 0x5E): 611 (2005), 655 (2008),
    /// 661 (2008 R2), 706 (2012), 782 (2014), 852 (2016), 869 (2017), 904 (2019),
    /// 957 (2022), 998 (2025) in the fixtures, equal to the boot page's.
    pub database_version: u16,
    /// Database compatibility level (`SCIN` 0x5B): 80 (the 2005 and 2008 Northwinds
    /// attached from SQL Server 2000), 100, 110, 120, 130, 140, 150, 160, 170.
    pub compatibility_level: u8,
    /// True when the source was a compressed (`MSSQLBAK`) container. The caller knows this;
    /// the MTF image inside holds no flag found for it.
    pub compressed: bool,
    /// Size of the backup set in bytes across all media families (closing `SCIN` 0x60
    /// `u64`; the opening copy holds a smaller estimate); `None` without a closing copy.
    /// Observed: the offset of the `MSLS` block minus one soft filemark (SQL Server 2008 and
    /// later, 9 uncompressed single-family fixtures), exactly that offset (2005), about
    /// twice this file's share in the striped fixtures, a few KiB below the `MSLS` offset
    /// of the decompressed stream for the compressed ones (not the compressed file size).
    /// Believed to be `RESTORE HEADERONLY`'s `BackupSize`; no oracle.
    pub backup_size: Option<u64>,
    /// The backup's LSNs.
    pub lsns: BackupLsns,
    /// Database default collation (`SCIN` 0xD8, 5 bytes); `None` when all zero.
    /// Matches the fixtures' locales (`Modern_Spanish` 0xc0a for the Latin-American
    /// uploads, French 0x40c for the Québec hotel) and the `UnicodeLocaleId` at `SCIN` 0x74.
    pub collation: Option<DatabaseCollation>,
    /// The database family GUID (`SCIN` 0xE0), `FamilyGUID` of `RESTORE HEADERONLY`: kept
    /// across backup and restore. The four Northwind fixtures created on SQL Server 2000
    /// (createVersion 539 in MANIFEST) share one value; the other databases each have
    /// their own.
    pub family_guid: Guid,
    /// The media set this file belongs to.
    pub media: MediaSet,
    /// The media was written `WITH MEDIAPASSWORD` (MTF `TAPE` password algorithm at 62,
    /// password address at 76 set: `appveyor-passwd-sql2008r2.bak`). SQL Server refuses to
    /// restore it without the password; the pages are not encrypted by it, so this reader
    /// reads them.
    #[serde(default)]
    pub media_password: bool,
    /// The backup set was written `WITH PASSWORD` (MTF `SSET` password algorithm at 56,
    /// address at 72; not yet seen in a real backup). Like the media password, it guards
    /// the restore, not the pages.
    #[serde(default)]
    pub set_password: bool,
    /// Sign of Transparent Data Encryption found in the header, if any.
    pub tde_key: Option<TdeKeyDescriptor>,
    /// Tags of `MQCI` records this module does not decode, in order (none in the fixtures).
    /// An encrypted or newer backup may add records; listing them keeps them visible.
    pub other_records: Vec<String>,
}

/// The backup's log sequence numbers (`SCIN`, 10-byte triplets; closing copy).
///
/// In all 16 fixtures `first == checkpoint < last`, `last` has slot 1 (the first record of
/// a log block) and `database_backup < first`. In SQL Server 2019 and later fixtures the
/// closing copy's values are later than the opening copy's (a checkpoint is taken at the
/// end of the data copy); the closing ones match the boot page in the backup's last page
/// image, so those are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupLsns {
    /// First LSN the backup's log covers (`SCIN` 0x20).
    pub first: Lsn,
    /// LSN of the next log record after the backup (`SCIN` 0x2A).
    pub last: Lsn,
    /// LSN of the checkpoint the backup starts from (`SCIN` 0x34): the boot page
    /// `dbi_checkptLSN` of the backup's last copy of page 1:9 in all 15 fixtures that have
    /// a boot page.
    pub checkpoint: Lsn,
    /// Checkpoint LSN of the full backup the database last came from or was backed up to
    /// before this one (`SCIN` 0x3E); `None` when zero (9 of the 16 fixtures). The 2008 Northwind's
    /// is the 2005 Northwind fixture's checkpoint LSN: it was restored from that backup.
    pub database_backup: Option<Lsn>,
}

/// What a backup set contains: the letter SQL Server stores at `SCIN` 0x57, which is
/// `msdb.dbo.backupset.type`'s code for the full backups of all 16 fixtures (`'D'`).
/// The other letters follow `msdb`'s documented codes; no fixture shows them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum BackupType {
    /// `D`: full database backup.
    Database,
    /// `I`: differential database backup.
    DatabaseDifferential,
    /// `L`: transaction log backup.
    Log,
    /// `F`: file or filegroup backup.
    FileOrFilegroup,
    /// `G`: differential file backup.
    FileDifferential,
    /// `P`: partial backup.
    Partial,
    /// `Q`: differential partial backup.
    PartialDifferential,
    /// Any other byte (kept).
    Unknown(u8),
}

impl BackupType {
    /// The type for the stored code byte.
    pub fn from_code(code: u8) -> BackupType {
        match code {
            b'D' => BackupType::Database,
            b'I' => BackupType::DatabaseDifferential,
            b'L' => BackupType::Log,
            b'F' => BackupType::FileOrFilegroup,
            b'G' => BackupType::FileDifferential,
            b'P' => BackupType::Partial,
            b'Q' => BackupType::PartialDifferential,
            other => BackupType::Unknown(other),
        }
    }
}

impl std::fmt::Display for BackupType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BackupType::Database => f.write_str("full database backup"),
            BackupType::DatabaseDifferential => f.write_str("differential database backup"),
            BackupType::Log => f.write_str("transaction log backup"),
            BackupType::FileOrFilegroup => f.write_str("file or filegroup backup"),
            BackupType::FileDifferential => f.write_str("differential file backup"),
            BackupType::Partial => f.write_str("partial backup"),
            BackupType::PartialDifferential => f.write_str("differential partial backup"),
            BackupType::Unknown(c) => write!(f, "backup of unknown type code 0x{c:02x}"),
        }
    }
}

/// The media set and this file's place in it (`TAPE` block).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaSet {
    /// Media name (`TAPE` offset 68, `MEDIANAME =`); empty in all fixtures.
    pub name: String,
    /// Media description (`TAPE` offset 72, `MEDIADESCRIPTION =`); empty in all fixtures.
    pub description: String,
    /// Software that wrote the media (`TAPE` offset 80): `Microsoft SQL Server`.
    pub software_name: String,
    /// MTF media family id (`TAPE` offset 52, `u32`): differs in every fixture.
    pub media_family_id: u32,
    /// MTF media sequence number (`TAPE` offset 60): which volume of its family this
    /// file is; 1 in all fixtures.
    pub media_sequence: u16,
    /// Striping, from the `TAPE` block's `RAID` stream; `None` when the stream is absent.
    pub family: Option<MediaFamily>,
}

/// This file's family in a media set (`RAID` stream of the `TAPE` block, 32 bytes:
/// GUID at 0, `u16` 0x00ad at 16, `u16` 0xf000 at 18, family count at 20, `u16` 1 at 22,
/// family number at 24, `u32` 0 at 26, `u16` 1 at 30, in all 16 fixtures).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct MediaFamily {
    /// Media set GUID (`RAID` +0): `RESTORE LABELONLY`'s `MediaSetId` by position; differs
    /// in every fixture (no two files of one set are available to compare).
    pub media_set_guid: Guid,
    /// Number of families, i.e. files written at once by a striped backup (`RAID` +20,
    /// `u16`): 2 in the three `*-stripe-partial` fixtures, whose extents other evidence
    /// shows to be half missing, 1 in the other 13.
    pub family_count: u16,
    /// This file's family number, 1-based (`RAID` +24, `u16`): 2 in
    /// `quanlymypham-sql2022-stripe-partial` (which lacks extent 0, the first one a backup
    /// writes), 1 in the other 15.
    pub family_sequence: u16,
}

/// A TDE database encryption key descriptor found in the backup header: a `u32` 20, a
/// 20-byte certificate thumbprint (SHA-1), then a `u32` key length of 128, 256, 384 or
/// 512 bytes (RSA-1024..4096 ciphertext).
///
/// This pattern is taken from a public reverse-engineering note (mssqlbak, `docs/spec/
/// 10_TDE.md`, "DEK descriptor", mapped on SQL Server 2022 TDE backups), which places it in
/// the backup header region. The reader scans every byte before the first database page
/// for it. Unverified here (no TDE fixture); it occurs in none of the 16 fixtures. A TDE
/// backup's page bodies are encrypted; such a backup cannot be read without the
/// certificate's private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TdeKeyDescriptor {
    /// Offset of the descriptor's first byte (in the file, or in the decompressed stream).
    pub offset: u64,
    /// The certificate thumbprint, lower-case hex.
    pub certificate_thumbprint: String,
    /// Length of the encrypted key in bytes.
    pub encrypted_key_len: u32,
}

/// One database file in the backup (`SFIN` record; `RESTORE FILELISTONLY`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct BackupFile {
    /// Logical file name (`SFIN` string pair at 0x30): `HotelReservation`,
    /// `HotelReservation_log` in `hotel-management-time-sql2017`.
    pub logical_name: String,
    /// Path of the file on the server at backup time (`SFIN` string pair at 0x34).
    pub physical_name: String,
    /// Data or log (`SFIN` 0x1C).
    pub file_type: FileType,
    /// File id (`SFIN` 0x14): 1 for the primary data file, 2 for the log in all fixtures;
    /// the multi-file fixture has data files 1, 3 and 4. Page ids name files by it.
    pub file_id: u16,
    /// Filegroup id (`SFIN` 0x24): 1 (`PRIMARY`) for every data file of the fixtures, 0 for
    /// the log.
    pub filegroup_id: u32,
    /// Filegroup name, from the `SFGI` record of [`Self::filegroup_id`]; `None` for the log
    /// (and for a filegroup id no `SFGI` record names).
    pub filegroup_name: Option<String>,
    /// Size of the file in bytes at backup time (`SFIN` 0x28, `u64`): every data file a
    /// whole number of 64 KiB extents, the SQL Server 2016+ default of 8 MiB for new
    /// databases, 72 MiB for logs grown once by the default 64 MiB; each data file's pages
    /// in the backup lie below it.
    pub size_bytes: u64,
    /// Maximum size in bytes (`SFIN` 0x56, `u64`, unaligned): 35184372080640 (2^45 − 8192,
    /// what `FILELISTONLY` shows for unlimited) or 2199023255552 (2 TB, the log default).
    pub max_size_bytes: u64,
    /// The file's GUID (`FILELISTONLY` `UniqueId`, `SFIN` 0xBA): found in page 0 (the file
    /// header) of the same file id wherever that page is in the backup, the multi-file
    /// fixture's files 3 and 4 included. Nil for the data files of the four Northwinds
    /// created on SQL Server 2000.
    pub unique_id: Guid,
}

/// Kind of database file (`SFIN` 0x1C, `u32`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FileType {
    /// 1: rows data file (`FILELISTONLY` type `D`): all 18 data files of the fixtures.
    Data,
    /// 2: transaction log (`L`): all 16 log files of the fixtures.
    Log,
    /// Any other value, kept (full-text catalogs and FILESTREAM containers are expected
    /// here; no fixture has one).
    Other(u32),
}

impl BackupHeader {
    /// Refuses, with a clear error, a backup set that this reader cannot turn into a
    /// database: one that is not a full database backup, a TDE-encrypted backup as far as
    /// the header shows. Whether the files given make up the whole media set is checked
    /// when they are opened together.
    ///
    /// Kept apart from reading the header so that any backup can first be described.
    ///
    /// # Errors
    /// [`ErrorKind::NotFullBackup`] naming the backup type for anything but a full
    /// database backup (by the `SCIN` type or the MTF differential/incremental bits), with
    /// what to give instead; [`ErrorKind::Unsupported`] for a TDE key descriptor.
    pub fn ensure_restorable(&self) -> Result<()> {
        const MTF_DIFFERENTIAL: u32 = 0x8;
        const MTF_INCREMENTAL: u32 = 0x10;
        let db = &self.database_name;
        let differential = matches!(
            self.backup_type,
            BackupType::DatabaseDifferential | BackupType::FileDifferential | BackupType::PartialDifferential
        ) || self.set_attributes & (MTF_DIFFERENTIAL | MTF_INCREMENTAL) != 0;
        if differential {
            let base = match self.lsns.database_backup {
                Some(lsn) => format!(" (the full backup whose checkpoint LSN is {lsn})"),
                None => String::new(),
            };
            return Err(Error::new(
                ErrorKind::NotFullBackup,
                format!(
                    "a differential backup of database {db:?} (backup set {}, {}): it holds only the extents changed \
                 since a full backup; give the full backup it is based on{base}. Applying a differential on top \
                 of its full backup is not supported yet",
                    self.position, self.backup_type
                ),
            ));
        }
        match self.backup_type {
            BackupType::Database => {}
            BackupType::Log => {
                return Err(Error::new(
                    ErrorKind::NotFullBackup,
                    format!(
                        "a transaction log backup of database {db:?} (backup set {}): it holds log records, not \
                     the database's pages; give a full database backup",
                        self.position
                    ),
                ));
            }
            other => {
                return Err(Error::new(
                    ErrorKind::NotFullBackup,
                    format!(
                        "the backup of database {db:?} (backup set {}) is a {other}: it holds part of the database; \
                     give a full database backup",
                        self.position
                    ),
                ));
            }
        }
        if let Some(tde) = &self.tde_key {
            return Err(Error::unsupported(format!(
                "the backup of database {db:?} carries a TDE database encryption key (certificate thumbprint {}): \
                 its pages are encrypted",
                tde.certificate_thumbprint
            )));
        }
        Ok(())
    }

    /// This file's (family count, family number); (1, 1) without a `RAID` stream.
    pub(super) fn family_position(&self) -> (u16, u16) {
        self.media.family.map_or((1, 1), |f| (f.family_count, f.family_sequence))
    }
}
