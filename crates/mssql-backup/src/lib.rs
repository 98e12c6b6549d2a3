//! # mssql-backup
//!
//! Reads Microsoft SQL Server full database backups without SQL Server: the container
//! (Microsoft Tape Format, or the `MSSQLBAK` compressed container with MS-XCA chunks),
//! the 8 KiB data pages it carries, the system catalog, and the rows of every user table,
//! LOBs included.
//!
//! The crate performs no I/O beyond reading the backup files, has no async and knows
//! nothing of PostgreSQL.
//!
//! Start at [`Backup::open`]: it gives the backup's description ([`BackupDescription`],
//! what `RESTORE HEADERONLY`/`FILELISTONLY` report), its schema ([`Backup::database`],
//! the model in [`schema`]), a completeness check ([`Backup::completeness`]) and the rows
//! of each table ([`Backup::rows`], as [`Value`]s).
//!
//! The page, record, container and decompression parsers are not part of the API; the
//! `internals` feature exposes them for this project's own tests, fuzzing and benches
//! only, without any stability promise.
#![deny(missing_docs)]

mod alloc;
mod backup;
mod base;
mod binxml;
mod boot;
mod catalog;
mod collation;
mod completeness;
mod compressed;
mod error;
mod header;
mod lob;
mod mtf;
mod page;
mod record;
mod rows;
mod scalar;
mod scan;
pub mod schema;
mod scsu;
mod source;
mod store;
mod types;
pub mod value;
mod variant;
mod xpress;

#[cfg(feature = "internals")]
pub mod internals;

pub use backup::{Backup, OpenOptions, choose_set, read_backup_sets};
pub use boot::{BootInfo, release_of};
pub use catalog::build::StoredType;
pub use collation::CollationParts;
pub use completeness::{Completeness, TableCompleteness};
pub use error::{Error, ErrorKind, Result};
pub use header::{
    BackupDescription, BackupFile, BackupHeader, BackupLsns, BackupType, DatabaseCollation, FileType, Guid, Lsn,
    MediaFamily, MediaSet, ProductVersion, TdeKeyDescriptor, Timestamp,
};
pub use rows::{ReadStats, TableRows};
pub use scan::Part;
pub use types::{Collation, PageId, SqlType};
pub use value::{DecodeStats, Value};
