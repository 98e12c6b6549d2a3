#![warn(missing_docs)]
//! # bak2pg engine
//!
//! Turns a SQL Server database, read by a [`source`] engine, into a PostgreSQL
//! database, and proves it arrived intact.
//!
//! Modules, in the order a migration uses them: [`typemap`] (the one type-mapping
//! table and value conversions; [`spatial`] decodes `geography`/`geometry` for PostGIS), [`ddl`] (names, tables, keys, constraints), [`copy`]
//! (binary COPY encoder), [`load`] (parallel streaming load), [`checksum`] and
//! [`validate`] (canonical forms, read-back), [`target`] (server, loading database,
//! swap), [`report`], and [`mod@migrate`] (the entry point [`migrate()`] and its separable steps).
//! [`mapping`] is the `--config` file (tables included/excluded, renames, type overrides)
//! that [`ddl::plan`] applies; [`data_only`] the `--data-only` steps.

//!
//! [`job`] (the AWS pipeline's job document, step results and names) is always built;
//! everything else needs the default `engine` feature, so the Lambda functions can use
//! `job` without linking the backup reader, the archive libraries or PostgreSQL.

/// The source-neutral schema model, shared by both restore engines.
#[cfg(feature = "engine")]
pub use mssql_backup::schema;

#[cfg(feature = "engine")]
pub mod archive;
#[cfg(feature = "engine")]
pub mod checksum;
#[cfg(feature = "engine")]
pub mod copy;
#[cfg(feature = "engine")]
pub mod data_only;
#[cfg(feature = "engine")]
pub mod ddl;
#[cfg(feature = "engine")]
pub mod faults;
pub mod job;
#[cfg(feature = "engine")]
pub mod load;
#[cfg(feature = "engine")]
pub mod mapping;
#[cfg(feature = "engine")]
pub mod migrate;
#[cfg(feature = "engine")]
pub mod objects;
#[cfg(feature = "engine")]
pub mod pghash;
#[cfg(feature = "engine")]
pub mod pgvalue;
#[cfg(feature = "engine")]
pub mod progress;
#[cfg(feature = "engine")]
pub mod report;
#[cfg(feature = "engine")]
pub mod source;
#[cfg(feature = "engine")]
pub mod spatial;
#[cfg(feature = "engine")]
pub mod target;
#[cfg(feature = "engine")]
pub mod translate;
#[cfg(feature = "engine")]
pub mod typemap;
#[cfg(feature = "engine")]
pub mod validate;

#[cfg(feature = "engine")]
pub use migrate::{MigrateOptions, NoProgress, Progress, migrate};
#[cfg(feature = "engine")]
pub use report::{Report, Step};
#[cfg(feature = "engine")]
pub use target::{ErrorKind, MigrateError};
