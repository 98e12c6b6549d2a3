//! The restore engines behind one interface: `native` (the backup file read directly by
//! `mssql-backup`) and `sqlserver` (RESTORE on a SQL Server, rows read over TDS).
//!
//! Both produce the same [`Database`] model and the same [`Value`]s, so type mapping,
//! DDL, loading and validation are shared.

use mssql_backup::Value;
use mssql_backup::value::DecodeStats;

use crate::schema::{Database, Table};

pub use crate::report::{EngineKind, SourceInfo};

/// Errors of a source, with the failing table when there is one.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The native reader failed.
    #[error(transparent)]
    Backup(#[from] mssql_backup::Error),
    /// SQL Server answered with an error, or the connection to it failed: the message
    /// says where and what (with a hint when the remedy is known), `source` is tiberius'
    /// error itself.
    #[error("{message}")]
    SqlServer {
        /// What was being done, on which server, and the error as SQL Server gave it.
        message: String,
        /// The driver's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The sqlserver engine's own failure with a typed error behind it (a catalog row of
    /// an unexpected shape, a backup copy that cannot be placed, a name T-SQL cannot
    /// quote…): `message` is what users see (the error's text, with context), `source`
    /// keeps the error itself, so [`std::error::Error::source`] walks to it.
    #[error("{message}")]
    Engine {
        /// What failed, the source's text included.
        message: String,
        /// The typed error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Anything else, when no error lies behind it (no row where one was expected, no
    /// free database name…).
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

    /// Whether [`Source::rows_part`] really splits a table (false: part 0 is the whole).
    fn splits_tables(&self) -> bool {
        false
    }

    /// A reader over part `part` of `parts` of `table`'s rows: the readers of parts
    /// `0..parts`, on as many threads, read every row exactly once between them. `None`
    /// for a part that holds nothing. An engine that cannot split gives the whole table
    /// as part 0 and nothing else (the default).
    fn rows_part<'a>(
        &'a self,
        table: &'a Table,
        part: usize,
        parts: usize,
    ) -> Result<Option<Box<dyn RowReader + 'a>>, SourceError> {
        let _ = parts;
        if part == 0 { self.rows(table).map(Some) } else { Ok(None) }
    }
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
