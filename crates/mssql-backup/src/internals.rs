//! The reader's own parsers, for this project's tests, fuzzing and benches.
//!
//! **Unstable: not part of the API.** Nothing here follows semver; items change or go
//! without notice. It exists so that the damage and fuzz tests can reach one page, one
//! record or one compressed chunk without a whole backup around it. Enabled by the
//! `internals` cargo feature, which no library user should turn on.

use std::path::PathBuf;

use crate::schema::Table;
use crate::{Backup, OpenOptions, Result};

/// Allocation maps: PFS, GAM and IAM pages.
pub mod alloc {
    pub use crate::alloc::*;
}
/// The system base tables and the physical layout of tables.
pub mod catalog {
    pub use crate::catalog::*;
}
/// The `MSSQLBAK` compressed container.
pub mod compressed {
    pub use crate::compressed::*;
}
/// Backup-set headers (`RESTORE HEADERONLY`) read from the MTF blocks.
pub mod header {
    pub use crate::header::*;
}
/// LOB and row-overflow pointers.
pub mod lob {
    pub use crate::lob::*;
}
/// Microsoft Tape Format blocks and streams.
pub mod mtf {
    pub use crate::mtf::*;
}
/// 8 KiB database pages.
pub mod page {
    pub use crate::page::*;
}
/// Records (rows) on a page.
pub mod record {
    pub use crate::record::*;
}
/// SCSU (Unicode compression) decoding.
pub mod scsu {
    pub use crate::scsu::*;
}
/// Random-access byte sources.
pub mod source {
    pub use crate::source::*;
}
/// The page index over the backup files.
pub mod store {
    pub use crate::store::*;
}
/// LZXPRESS Huffman (MS-XCA) decompression.
pub mod xpress {
    pub use crate::xpress::*;
}

/// The page store of `backup`.
pub fn store(backup: &Backup) -> &store::PageStore {
    backup.store()
}

/// The physical layout of `table` in `backup`.
///
/// # Errors
/// As [`Backup::database`]; [`crate::ErrorKind::Catalog`] for a table not of this backup.
pub fn layout<'a>(backup: &'a Backup, table: &Table) -> Result<&'a catalog::TableLayout> {
    backup.layout(table)
}

/// The system base tables of `backup`, undecoded into the schema model.
///
/// # Errors
/// As [`crate::Backup::database`].
pub fn raw_catalog(backup: &Backup) -> Result<catalog::RawCatalog> {
    backup.raw_catalog()
}

/// Opens a backup from byte sources already open (in-memory images), each named by the
/// path used in errors.
///
/// # Errors
/// As [`Backup::open`].
pub fn from_sources(sources: Vec<(PathBuf, Box<dyn source::ByteSource>)>, options: OpenOptions) -> Result<Backup> {
    Backup::from_sources(sources, options)
}
