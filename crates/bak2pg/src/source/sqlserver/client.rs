//! Connections and queries: TCP, TLS and login, one-batch queries with SQL Server's errors
//! mapped, and typed access to result rows by column name.

use tiberius::{ColumnData, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::config::MssqlConfig;
use super::error::{engine, engine_in, other, sql_error};
use super::read;
use crate::source::SourceError;

/// A tiberius client over a tokio TCP stream.
pub type Client = tiberius::Client<Compat<TcpStream>>;

/// Opens a connection (TCP, TLS as configured, SQL login) to `database` (`None`: the
/// login's default database).
///
/// # Errors
/// No password, connection refused or timed out, TLS or login failure: the message names
/// the server and, for known cases, the remedy; never the password.
pub async fn connect(config: &MssqlConfig, database: Option<&str>) -> Result<Client, SourceError> {
    let server = config.server();
    let tc = config.tiberius(database).map_err(engine)?;
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(tc.get_addr()))
        .await
        .map_err(|_| other(format!("SQL Server {server}: no connection within {:?}", config.connect_timeout)))?
        .map_err(|e| engine_in(format_args!("SQL Server {server}"), e))?;
    let _ = tcp.set_nodelay(true);
    tokio::time::timeout(config.connect_timeout, tiberius::Client::connect(tc, tcp.compat_write()))
        .await
        .map_err(|_| other(format!("SQL Server {server}: no login within {:?}", config.connect_timeout)))?
        .map_err(|e| sql_error(&server, &format!("login as {:?}", config.user), e))
}

/// Runs `sql` (one batch) and returns the rows of its first result set.
pub(super) async fn query(client: &mut Client, server: &str, what: &str, sql: &str) -> Result<Vec<Row>, SourceError> {
    let stream = client.simple_query(sql).await.map_err(|e| sql_error(server, what, e))?;
    stream.into_first_result().await.map_err(|e| sql_error(server, what, e))
}

/// Runs `sql` (one batch), discarding any rows.
pub(super) async fn execute(client: &mut Client, server: &str, what: &str, sql: &str) -> Result<(), SourceError> {
    let stream = client.simple_query(sql).await.map_err(|e| sql_error(server, what, e))?;
    stream.into_results().await.map_err(|e| sql_error(server, what, e))?;
    Ok(())
}

/// A result row that does not have the shape its reader expects: which row (`what`: the
/// view or statement read, e.g. `reading sys.columns`), which column, and what was wrong.
/// Typed (not a `String`) so that the driver's error behind [`RowError::Column`] stays
/// reachable through [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RowError {
    /// The result has no column of that name.
    #[error("{what}: no column {column}")]
    MissingColumn {
        /// What was being read.
        what: String,
        /// The column asked for.
        column: String,
    },
    /// tiberius could not hand the column's value over.
    #[error("{what}: column {column}: {source}")]
    Column {
        /// What was being read.
        what: String,
        /// The column.
        column: String,
        /// The driver's error (a `tiberius::error::Error`), boxed: it is large, and a
        /// `Box<dyn Error>` still downcasts to it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The value is of another type than the reader wants.
    #[error("{what}: column {column} is {found}, not {expected}")]
    UnexpectedType {
        /// What was being read.
        what: String,
        /// The column.
        column: String,
        /// The value as received (its `Debug` form).
        found: String,
        /// What the reader wanted (`an integer`, `text`, `a decimal`).
        expected: &'static str,
    },
    /// NULL where a value is required.
    #[error("{what}: column {column} is NULL")]
    Null {
        /// What was being read.
        what: String,
        /// The column.
        column: String,
    },
    /// An integer too large (or negative) for the field it fills.
    #[error("{what}: column {column} out of range")]
    OutOfRange {
        /// What was being read.
        what: String,
        /// The column.
        column: String,
    },
    /// A value the model refuses (e.g. a file type `RESTORE FILELISTONLY` should not
    /// return), with the model's error as the source.
    #[error("{what}: column {column}: {source}")]
    Invalid {
        /// What was being read.
        what: String,
        /// The column.
        column: String,
        /// Why the value was refused.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Typed access to a result row by column name (case-insensitive, as T-SQL names are).
pub(super) struct Cells<'a> {
    pub(super) row: &'a Row,
    pub(super) what: &'a str,
}

impl<'a> Cells<'a> {
    fn missing(&self, name: &str) -> RowError {
        RowError::MissingColumn { what: self.what.into(), column: name.into() }
    }
    fn unexpected(&self, name: &str, found: &ColumnData<'_>, expected: &'static str) -> RowError {
        RowError::UnexpectedType { what: self.what.into(), column: name.into(), found: format!("{found:?}"), expected }
    }
    fn null(&self, name: &str) -> RowError {
        RowError::Null { what: self.what.into(), column: name.into() }
    }
    pub(super) fn out_of_range(&self, name: &str) -> RowError {
        RowError::OutOfRange { what: self.what.into(), column: name.into() }
    }
    pub(super) fn invalid(&self, name: &str, e: impl std::error::Error + Send + Sync + 'static) -> RowError {
        RowError::Invalid { what: self.what.into(), column: name.into(), source: Box::new(e) }
    }

    pub(super) fn get(&self, name: &str) -> Result<&'a ColumnData<'static>, RowError> {
        let idx = self
            .row
            .columns()
            .iter()
            .position(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| self.missing(name))?;
        self.row.get_column_data(idx).map_err(|e| RowError::Column {
            what: self.what.into(),
            column: name.into(),
            source: Box::new(e),
        })
    }
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, RowError> {
        Ok(match self.get(name)? {
            ColumnData::U8(v) => v.map(i64::from),
            ColumnData::I16(v) => v.map(i64::from),
            ColumnData::I32(v) => v.map(i64::from),
            ColumnData::I64(v) => *v,
            ColumnData::Bit(v) => v.map(|b| i64::from(u8::from(b))),
            ColumnData::Numeric(v) => v.and_then(|n| i64::try_from(n.value()).ok().filter(|_| n.scale() == 0)),
            other => return Err(self.unexpected(name, other, "an integer")),
        })
    }
    pub(super) fn req_int(&self, name: &str) -> Result<i64, RowError> {
        self.int(name)?.ok_or_else(|| self.null(name))
    }
    pub(super) fn i32(&self, name: &str) -> Result<i32, RowError> {
        i32::try_from(self.req_int(name)?).map_err(|_| self.out_of_range(name))
    }
    pub(super) fn u8(&self, name: &str) -> Result<u8, RowError> {
        u8::try_from(self.req_int(name)?).map_err(|_| self.out_of_range(name))
    }
    pub(super) fn flag(&self, name: &str) -> Result<bool, RowError> {
        Ok(self.int(name)?.unwrap_or(0) != 0)
    }
    pub(super) fn text(&self, name: &str) -> Result<Option<String>, RowError> {
        Ok(match self.get(name)? {
            ColumnData::String(v) => v.as_ref().map(|s| s.to_string()),
            ColumnData::Guid(v) => v.map(|u| u.to_string()),
            other if read::is_null(other) => None,
            other => return Err(self.unexpected(name, other, "text")),
        })
    }
    pub(super) fn req_text(&self, name: &str) -> Result<String, RowError> {
        self.text(name)?.ok_or_else(|| self.null(name))
    }
    pub(super) fn decimal(&self, name: &str) -> Result<Option<i128>, RowError> {
        Ok(match self.get(name)? {
            ColumnData::Numeric(v) => v.map(|n| n.value()),
            other if read::is_null(other) => None,
            other => return Err(self.unexpected(name, other, "a decimal")),
        })
    }
}

/// Maps every row of a result with `f`; the first failure, as [`SourceError::Engine`].
pub(super) fn map_rows<T>(
    rows: &[Row],
    what: &str,
    f: impl Fn(&Cells<'_>) -> Result<T, RowError>,
) -> Result<Vec<T>, SourceError> {
    rows.iter().map(|row| f(&Cells { row, what })).collect::<Result<Vec<T>, RowError>>().map_err(engine)
}
