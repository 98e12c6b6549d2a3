//! Row streaming: one connection per table reader, on a tokio task that sends batches of
//! rows to the blocking [`RowReader`], which decodes them.

use std::sync::Arc;

use futures::TryStreamExt;
use mssql_backup::Value;
use mssql_backup::value::DecodeStats;
use tiberius::{ColumnData, Row};
use tokio::sync::mpsc;

use super::SqlServerSource;
use super::client::connect;
use super::config::MssqlConfig;
use super::error::{engine_in, other, sql_error};
use super::read::{self, TableRead};
use crate::schema::Table;
use crate::source::{RowReader, SourceError};

/// Rows per message from the reading task to the row reader.
const BATCH_ROWS: usize = 512;

/// What the reading task sends.
enum Batch {
    Rows(Vec<Row>),
    End,
    /// The task's error as is, so its variant and source reach the reader's caller.
    Failed(SourceError),
}

/// Runs `sql` in `database` and sends its rows in batches until the end, an error, or the
/// reader going away.
async fn stream_rows(config: Arc<MssqlConfig>, database: String, sql: String, tx: mpsc::Sender<Batch>) {
    let server = config.server();
    let r = async {
        let mut client = connect(&config, Some(&database)).await?;
        let mut stream = client.simple_query(sql).await.map_err(|e| sql_error(&server, "SELECT", e))?.into_row_stream();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        while let Some(row) = stream.try_next().await.map_err(|e| sql_error(&server, "reading rows", e))? {
            batch.push(row);
            if batch.len() == BATCH_ROWS && tx.send(Batch::Rows(std::mem::take(&mut batch))).await.is_err() {
                return Ok(()); // the reader is gone
            }
        }
        if !batch.is_empty() && tx.send(Batch::Rows(batch)).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(Batch::End).await;
        Ok::<(), SourceError>(())
    }
    .await;
    if let Err(e) = r {
        let _ = tx.send(Batch::Failed(e)).await;
    }
}

/// The [`RowReader`] of one table: decodes the batches the task sends.
struct SqlServerRows<'a> {
    table: &'a Table,
    read: &'a TableRead,
    rx: mpsc::Receiver<Batch>,
    batch: std::vec::IntoIter<Row>,
    cells: Vec<ColumnData<'static>>,
    values: Vec<Value>,
    stats: Vec<DecodeStats>,
    scratch: Vec<u8>,
    done: bool,
}

impl RowReader for SqlServerRows<'_> {
    /// Blocks until a row arrives: call it from a blocking thread, as the loader does.
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError> {
        loop {
            if let Some(row) = self.batch.next() {
                self.cells.clear();
                self.cells.extend(row);
                read::decode_row(
                    self.table,
                    self.read,
                    &self.cells,
                    &mut self.values,
                    &mut self.stats,
                    &mut self.scratch,
                )
                .map_err(|e| engine_in(format_args!("table {}.{}", self.table.schema, self.table.name), e))?;
                return Ok(Some(&self.values));
            }
            if self.done {
                return Ok(None);
            }
            match self.rx.blocking_recv() {
                Some(Batch::Rows(rows)) => self.batch = rows.into_iter(),
                Some(Batch::End) => self.done = true,
                Some(Batch::Failed(e)) => return Err(e),
                None => return Err(other("the SQL Server reading task stopped before the end of the rows")),
            }
        }
    }

    fn decode_stats(&self) -> Vec<DecodeStats> {
        self.stats.clone()
    }
}

/// A reader over the rows of `table`, read from the restored database of `src`.
pub(super) fn open<'a>(src: &'a SqlServerSource, table: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError> {
    let read = src
        .reads
        .get(&table.object_id)
        .ok_or_else(|| other(format!("table {}.{} is not in the restored database", table.schema, table.name)))?;
    let (tx, rx) = mpsc::channel(4);
    // TEXTSIZE bounds what a SELECT returns of LOB values; some drivers set it low.
    let sql = format!("SET TEXTSIZE 2147483647;\n{}", read.sql);
    src.handle.spawn(stream_rows(src.config.clone(), src.restored.name.clone(), sql, tx));
    Ok(Box::new(SqlServerRows {
        table,
        read,
        rx,
        batch: Vec::new().into_iter(),
        cells: Vec::with_capacity(read.width),
        values: Vec::with_capacity(table.columns.len()),
        stats: vec![DecodeStats::default(); table.columns.len()],
        scratch: Vec::with_capacity(64),
        done: false,
    }))
}
