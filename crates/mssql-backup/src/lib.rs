//! # mssql-backup
//!
//! Reads Microsoft SQL Server full database backups without SQL Server: the container
//! (Microsoft Tape Format, or the `MSSQLBAK` compressed container with MS-XCA chunks),
//! the 8 KiB data pages it carries, the system catalog, and the rows of every user table,
//! LOBs included.
//!
//! The crate performs no I/O beyond reading the backup files, has no async and knows
//! nothing of PostgreSQL.
#![warn(missing_docs)]

pub mod alloc;
pub mod backup;
mod base;
pub mod binxml;
pub mod boot;
pub mod catalog;
pub mod collation;
pub mod completeness;
pub mod compressed;
pub mod error;
pub mod header;
pub mod lob;
pub mod mtf;
pub mod page;
pub mod record;
pub mod rows;
pub mod scalar;
pub mod scan;
pub mod schema;
pub mod scsu;
pub mod source;
pub mod store;
pub mod types;
pub mod value;
pub mod variant;
pub mod xpress;

pub use backup::Backup;
pub use error::{Error, ErrorKind, Result};
pub use types::{Collation, PageId, SqlType};
pub use value::Value;
