//! The restore engines behind one interface: `native` (the backup file read directly by
//! `mssql-backup`) and `sqlserver` (RESTORE on a SQL Server, rows read over TDS).
//!
//! Both produce the same [`Database`] model and the same [`Value`]s, so type mapping,
//! DDL, loading and validation are shared.

use mssql_backup::Value;
use mssql_backup::value::DecodeStats;
use serde::{Deserialize, Serialize};

use crate::schema::{Database, Table};

/// Which engine read the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// The backup file parsed by `mssql-backup`, no SQL Server involved.
    Native,
    /// RESTORE DATABASE on a SQL Server, then TDS reads.
    SqlServer,
}

impl std::fmt::Display for EngineKind {
    /// `native` or `sqlserver`, the names `--engine` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineKind::Native => "native",
            EngineKind::SqlServer => "sqlserver",
        })
    }
}

/// What the report says about the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Engine used.
    pub engine: EngineKind,
    /// Why this engine was chosen (for `--engine auto`), or "requested".
    pub engine_reason: String,
    /// Database name as recorded in the backup.
    pub database: String,
    /// Server that took the backup (`HOST\INSTANCE`), when known.
    pub server: Option<String>,
    /// SQL Server product version (`13.0.5026`), when known.
    pub sql_version: Option<String>,
    /// Internal database version (611 = 2005 … 998 = 2025), when known.
    pub db_version: Option<u16>,
}

impl SourceInfo {
    /// Facts of a source that could not be read (for a report written after a failure).
    pub fn unknown() -> Self {
        SourceInfo {
            engine: EngineKind::Native,
            engine_reason: String::new(),
            database: String::new(),
            server: None,
            sql_version: None,
            db_version: None,
        }
    }
}

/// Errors of a source, with the failing table when there is one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The native reader failed.
    #[error(transparent)]
    Backup(#[from] mssql_backup::Error),
    /// Anything else (SQL Server connection, RESTORE failure…).
    #[error("{0}")]
    Other(String),
}

/// A restored (or directly read) database: its schema and a row stream per table.
pub trait Source: Send + Sync {
    /// Engine, version and naming facts for the report.
    fn info(&self) -> SourceInfo;
    /// The database's schema.
    fn database(&self) -> &Database;
    /// A reader over all rows of `table` (a table of [`Source::database`]), in no
    /// particular order. Several readers may be open at once, on different threads.
    fn rows<'a>(&'a self, table: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError>;
}

/// A stream of rows. Each row has one [`Value`] per column of the table, in column order.
pub trait RowReader: Send {
    /// The next row, or `None` at the end. The slice is valid until the next call.
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError>;

    /// Lossy decodings met so far (lone UTF-16 surrogates replaced by U+FFFD…), one entry
    /// per column in column order, so the report can count them per column. An engine
    /// that does not count returns an empty vector (the default).
    fn decode_stats(&self) -> Vec<DecodeStats> {
        Vec::new()
    }
}

pub mod native;
pub mod select;
pub mod sqlserver;
