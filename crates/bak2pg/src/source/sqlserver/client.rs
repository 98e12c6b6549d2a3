//! Connections and queries: TCP, TLS and login, one-batch queries with SQL Server's errors
//! mapped, and typed access to result rows by column name.

use tiberius::{ColumnData, Row};
use tokio::net::TcpStream;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

use super::config::MssqlConfig;
use super::error::{other, sql_error};
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
    let tc = config.tiberius(database).map_err(|e| other(e.to_string()))?;
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(tc.get_addr()))
        .await
        .map_err(|_| other(format!("SQL Server {server}: no connection within {:?}", config.connect_timeout)))?
        .map_err(|e| other(format!("SQL Server {server}: {e}")))?;
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

/// Typed access to a result row by column name (case-insensitive, as T-SQL names are).
pub(super) struct Cells<'a> {
    pub(super) row: &'a Row,
    pub(super) what: &'a str,
}

impl<'a> Cells<'a> {
    pub(super) fn get(&self, name: &str) -> Result<&'a ColumnData<'static>, String> {
        let idx = self
            .row
            .columns()
            .iter()
            .position(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{}: no column {name}", self.what))?;
        self.row.get_column_data(idx).map_err(|e| format!("{}: column {name}: {e}", self.what))
    }
    pub(super) fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(match self.get(name)? {
            ColumnData::U8(v) => v.map(i64::from),
            ColumnData::I16(v) => v.map(i64::from),
            ColumnData::I32(v) => v.map(i64::from),
            ColumnData::I64(v) => *v,
            ColumnData::Bit(v) => v.map(|b| i64::from(u8::from(b))),
            ColumnData::Numeric(v) => v.and_then(|n| i64::try_from(n.value()).ok().filter(|_| n.scale() == 0)),
            other => return Err(format!("{}: column {name} is {other:?}, not an integer", self.what)),
        })
    }
    pub(super) fn req_int(&self, name: &str) -> Result<i64, String> {
        self.int(name)?.ok_or_else(|| format!("{}: column {name} is NULL", self.what))
    }
    pub(super) fn i32(&self, name: &str) -> Result<i32, String> {
        i32::try_from(self.req_int(name)?).map_err(|_| format!("{}: column {name} out of range", self.what))
    }
    pub(super) fn u8(&self, name: &str) -> Result<u8, String> {
        u8::try_from(self.req_int(name)?).map_err(|_| format!("{}: column {name} out of range", self.what))
    }
    pub(super) fn flag(&self, name: &str) -> Result<bool, String> {
        Ok(self.int(name)?.unwrap_or(0) != 0)
    }
    pub(super) fn text(&self, name: &str) -> Result<Option<String>, String> {
        Ok(match self.get(name)? {
            ColumnData::String(v) => v.as_ref().map(|s| s.to_string()),
            ColumnData::Guid(v) => v.map(|u| u.to_string()),
            other if read::is_null(other) => None,
            other => return Err(format!("{}: column {name} is {other:?}, not text", self.what)),
        })
    }
    pub(super) fn req_text(&self, name: &str) -> Result<String, String> {
        self.text(name)?.ok_or_else(|| format!("{}: column {name} is NULL", self.what))
    }
    pub(super) fn decimal(&self, name: &str) -> Result<Option<i128>, String> {
        Ok(match self.get(name)? {
            ColumnData::Numeric(v) => v.map(|n| n.value()),
            other if read::is_null(other) => None,
            other => return Err(format!("{}: column {name} is {other:?}, not a decimal", self.what)),
        })
    }
}

/// Maps every row of a result with `f`; the first failure, as [`SourceError::Other`].
pub(super) fn map_rows<T>(
    rows: &[Row],
    what: &str,
    f: impl Fn(&Cells<'_>) -> Result<T, String>,
) -> Result<Vec<T>, SourceError> {
    rows.iter().map(|row| f(&Cells { row, what })).collect::<Result<Vec<T>, String>>().map_err(other)
}
