#![warn(missing_docs)]
//! # bak2pg engine
//!
//! Turns a SQL Server database, read by a [`source`] engine, into a PostgreSQL
//! database, and proves it arrived intact.
//!
//! Modules, in the order a migration uses them: [`typemap`] (the one type-mapping
//! table and value conversions), [`ddl`] (names, tables, keys, constraints), [`copy`]
//! (binary COPY encoder), [`load`] (parallel streaming load), [`checksum`] and
//! [`validate`] (canonical forms, read-back), [`target`] (server, loading database,
//! swap), [`report`], and [`mod@migrate`] (the entry point [`migrate()`] and its separable steps).

/// The source-neutral schema model, shared by both restore engines.
pub use mssql_backup::schema;

pub mod archive;
pub mod checksum;
pub mod copy;
pub mod ddl;
pub mod load;
pub mod migrate;
pub mod report;
pub mod source;
pub mod target;
pub mod typemap;
pub mod validate;

pub use migrate::{MigrateOptions, NoProgress, Progress, migrate};
pub use report::{Report, Step};
pub use target::{ErrorKind, MigrateError};
