//! # bak2pg engine
//!
//! Turns a SQL Server database, read by a [`source`](crate) engine, into a PostgreSQL
//! database, and proves it arrived intact.

/// The source-neutral schema model, shared by both restore engines.
pub use mssql_backup::schema;

pub mod archive;
pub mod source;
