//! Loading the rows: per table, a blocking thread reads the source rows, converts them
//! ([`crate::typemap::convert`]), encodes them in binary COPY format into large buffers
//! ([`crate::copy`]) and computes the source checksum; the buffers go through a bounded
//! channel to an async task feeding tokio-postgres `copy_in`. Up to `jobs` tables load at
//! once, each on its own connection.
//!
//! Memory is bounded whatever the database size: per running table, at most
//! `channel_buffers + 2` buffers of about `buffer_bytes` (one being filled, the channel's,
//! one being sent); a single value larger than `buffer_bytes` makes its buffer that large.
//! Values kept aside for `bak2pg.rejected_values` are encoded at once and spilled to an
//! anonymous temporary file past `buffer_bytes`, then COPYed after the table's rows.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use futures::SinkExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_postgres::Client;

use crate::checksum::{RowHasher, TableChecksum, canonical};
use crate::copy;
use crate::ddl::{OWN_SCHEMA, TablePlan, quote_ident, quote_literal};
use crate::progress::Progress;
use crate::report::Step;
use crate::source::{Source, SourceError};
use crate::target::{ErrorKind, MigrateError, Target};
use crate::typemap::{ColumnConversions, PgValue, RejectReason, convert};

/// Tuning of the load.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadTuning {
    /// Tables loaded at once (each with a reader thread and a connection). At least 1.
    pub jobs: usize,
    /// Size at which an encoded buffer is sent, in bytes.
    pub buffer_bytes: usize,
    /// Encoded buffers queued per table between the encoder and the connection.
    pub channel_buffers: usize,
    /// Threads reading one large table at once (parts of its pages, when its engine can
    /// split it: [`Source::rows_part`]); 1 reads every table on one thread.
    #[serde(default = "one")]
    pub decode_threads: usize,
    /// Rows (SQL Server's count) from which a table is read on `decode_threads` threads:
    /// below, one thread keeps up with a COPY easily.
    #[serde(default = "split_from_rows")]
    pub split_from_rows: u64,
}

fn one() -> usize {
    1
}

fn split_from_rows() -> u64 {
    1 << 20
}

impl Default for LoadTuning {
    /// 4 tables at once, 4 MiB buffers, 4 queued per table; tables of 2^20 rows and more
    /// read on one thread fewer than the machine has CPUs (at least 1, at most 4): a
    /// table's COPY is one PostgreSQL backend, often on the same machine, and a decode
    /// thread that takes its CPU slows the load (measured on 2 CPUs with PostgreSQL local:
    /// 5 GB narrow, `load_data` 51.0 s with 1 thread, 54.1 s with 2).
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        LoadTuning {
            jobs: 4,
            buffer_bytes: 4 << 20,
            channel_buffers: 4,
            decode_threads: cpus.saturating_sub(1).clamp(1, 4),
            split_from_rows: split_from_rows(),
        }
    }
}

/// What loading one table produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadedTable {
    /// Position of the table in [`Plan::tables`](crate::ddl::Plan::tables) (not its
    /// index in the source database: a mapping file may leave tables out).
    pub table: usize,
    /// Rows sent (and acknowledged by COPY).
    pub rows: u64,
    /// Bytes of COPY data sent.
    pub bytes: u64,
    /// Seconds from start to COPY acknowledged.
    pub seconds: f64,
    /// Checksum of the converted rows.
    pub checksum: TableChecksum,
    /// The definition `checksum` was computed under ([`crate::checksum::DEFINITION`]);
    /// empty in results written before it was recorded.
    #[serde(default)]
    pub checksum_definition: String,
    /// Per column (plan order), lossy conversions counted.
    pub conversions: Vec<ColumnConversions>,
    /// Values kept in `bak2pg.rejected_values`.
    pub rejected: u64,
}

/// The originals of values kept aside, encoded at once as `bak2pg.rejected_values` rows
/// in binary COPY format; spilled to an anonymous temporary file past `limit` bytes, so
/// that a table full of such values does not hold them in memory.
struct AsideSpool {
    buf: BytesMut,
    file: Option<std::fs::File>,
    limit: usize,
    count: u64,
}

impl AsideSpool {
    fn new(limit: usize) -> Self {
        let mut buf = BytesMut::new();
        copy::write_header(&mut buf);
        AsideSpool { buf, file: None, limit, count: 0 }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        tp: &TablePlan,
        column: &str,
        row_key: Option<&str>,
        row_hash: i64,
        reason: RejectReason,
        original: &str,
    ) -> std::io::Result<()> {
        let text = |s: &str| PgValue::Text(Cow::Owned(s.to_string()));
        let b = &mut self.buf;
        copy::begin_row(b, 8);
        copy::write_field(b, &text(&tp.schema));
        copy::write_field(b, &text(&tp.name));
        copy::write_field(b, &text(column));
        copy::write_field(b, &row_key.map(text).unwrap_or(PgValue::Null));
        copy::write_field(b, &text(&format!("{:016x}", row_hash as u64)));
        copy::write_field(b, &text(reason.as_str()));
        // Text PostgreSQL can hold goes to original_text; text with NUL as UTF-8 bytes.
        if original.contains('\0') {
            copy::write_field(b, &PgValue::Null);
            copy::write_field(b, &PgValue::Bytea(Cow::Borrowed(original.as_bytes())));
        } else {
            copy::write_field(b, &PgValue::Text(Cow::Borrowed(original)));
            copy::write_field(b, &PgValue::Null);
        }
        self.count += 1;
        if self.buf.len() >= self.limit {
            use std::io::Write;
            let f = match &mut self.file {
                Some(f) => f,
                None => self.file.insert(tempfile::tempfile()?),
            };
            f.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// The spilled file (rewound) and the tail, trailer included.
    fn finish(mut self) -> std::io::Result<(u64, Option<std::fs::File>, Bytes)> {
        use std::io::Seek;
        copy::write_trailer(&mut self.buf);
        if let Some(f) = &mut self.file {
            f.rewind()?;
        }
        Ok((self.count, self.file, self.buf.freeze()))
    }
}

/// `CREATE SCHEMA bak2pg` and `bak2pg.rejected_values`: where the originals of values not
/// loaded as they were are kept (schema, table and column in PostgreSQL names; `row_key`
/// a JSON array of the primary key's canonical texts, or NULL without a primary key;
/// `row_hash` the row's checksum hash, 16 hex digits (its 64 bits, two's complement); the original as text when it is
/// valid text for PostgreSQL, else as UTF-8 bytes). Idempotent.
pub fn own_schema_statements() -> Vec<String> {
    let s = quote_ident(OWN_SCHEMA);
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {s}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.rejected_values (\n    schema_name text NOT NULL,\n    table_name text NOT NULL,\n    \
             column_name text NOT NULL,\n    row_key text,\n    row_hash text NOT NULL,\n    reason text NOT NULL,\n    \
             original_text text,\n    original_bytes bytea\n)"
        ),
    ]
}

struct Chunk {
    data: Bytes,
    rows: u64,
}

struct Encoded {
    rows: u64,
    checksum: TableChecksum,
    conversions: Vec<ColumnConversions>,
    asides: AsideSpool,
}

/// What one part of a table produced.
struct PartEncoded {
    rows: u64,
    checksum: TableChecksum,
    conversions: Vec<ColumnConversions>,
}

/// Reads, converts, encodes and checksums every row of one table (runs on a blocking
/// thread): the COPY header, then the rows, read in parts on as many threads when the
/// table is large and its engine can split it ([`Source::rows_part`]), each part's
/// buffers sent whole into the same COPY, then the trailer. Stops quietly when the
/// receiver is gone (the COPY failed or was cancelled).
fn encode_table(
    source: &dyn Source,
    tp: &TablePlan,
    tx: mpsc::Sender<Chunk>,
    tuning: LoadTuning,
) -> Result<Encoded, MigrateError> {
    let step = Step::LoadData;
    let display = tp.source_display();
    let table = &source.database().tables[tp.index];
    let ended = || MigrateError::new(step, ErrorKind::Postgres, "COPY ended early").table(display.clone());
    let parts = if source.splits_tables() && table.row_count_hint.unwrap_or(0) >= tuning.split_from_rows {
        tuning.decode_threads.max(1)
    } else {
        1
    };
    let mut head = Vec::with_capacity(copy::HEADER.len());
    copy::write_header(&mut head);
    tx.blocking_send(Chunk { data: Bytes::from(head), rows: 0 }).map_err(|_| ended())?;
    let shared = Shared {
        asides: std::sync::Mutex::new(AsideSpool::new(tuning.buffer_bytes)),
        rows: std::sync::atomic::AtomicU64::new(0),
        failed: std::sync::atomic::AtomicBool::new(false),
    };
    // A part that fails tells the others to stop.
    let run_part = |part: usize| {
        let r = encode_part(source, tp, part, parts, &tx, &shared, tuning);
        if r.is_err() {
            shared.failed.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        r
    };
    let results: Vec<Result<PartEncoded, MigrateError>> = if parts == 1 {
        vec![run_part(0)]
    } else {
        std::thread::scope(|scope| {
            let run_part = &run_part;
            let handles: Vec<_> = (0..parts).map(|part| scope.spawn(move || run_part(part))).collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join().unwrap_or_else(|_| {
                        Err(MigrateError::new(step, ErrorKind::Source, "a reader thread panicked")
                            .table(display.clone()))
                    })
                })
                .collect()
        })
    };
    let mut rows = 0;
    let mut checksum = TableChecksum::default();
    let mut conversions = vec![ColumnConversions::default(); tp.columns.len()];
    let mut first_err = None;
    for r in results {
        match r {
            Ok(p) => {
                rows += p.rows;
                checksum.merge(&p.checksum);
                for (c, pc) in conversions.iter_mut().zip(&p.conversions) {
                    c.add(pc);
                }
            }
            // The part that failed first says why; the others only stopped.
            Err(e) if first_err.is_none() || e.message != STOPPED => first_err = Some(e),
            Err(_) => {}
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let mut tail = Vec::with_capacity(2);
    copy::write_trailer(&mut tail);
    tx.blocking_send(Chunk { data: Bytes::from(tail), rows }).map_err(|_| ended())?;
    let asides = shared.asides.into_inner().unwrap_or_else(|p| p.into_inner());
    Ok(Encoded { rows, checksum, conversions, asides })
}

/// What the parts of one table share.
struct Shared {
    /// Kept-aside values of every part (rare: a lock per value is cheap).
    asides: std::sync::Mutex<AsideSpool>,
    /// Rows encoded by all parts so far, for progress.
    rows: std::sync::atomic::AtomicU64,
    /// Set by a part that failed, so that the others stop.
    failed: std::sync::atomic::AtomicBool,
}

/// The message of a part that stopped because another failed.
const STOPPED: &str = "stopped: another part of the table failed";

/// Reads, converts, encodes and checksums the rows of part `part` of `parts` of a table,
/// sending its buffers (rows only: [`encode_table`] sends the header and trailer).
fn encode_part(
    source: &dyn Source,
    tp: &TablePlan,
    part: usize,
    parts: usize,
    tx: &mpsc::Sender<Chunk>,
    shared: &Shared,
    tuning: LoadTuning,
) -> Result<PartEncoded, MigrateError> {
    use std::sync::atomic::Ordering;
    let step = Step::LoadData;
    let display = tp.source_display();
    let table = &source.database().tables[tp.index];
    let err = |kind, msg: String| MigrateError::new(step, kind, msg).table(display.clone());
    // "row 12" of a whole table; "row 12 of part 2/2" when read in parts.
    let of_part = if parts > 1 { format!(" of part {}/{parts}", part + 1) } else { String::new() };
    let which = |row: u64| format!("row {row}{of_part}");
    let Some(mut reader) = source
        .rows_part(table, part, parts)
        .map_err(|e| err(ErrorKind::Source, format!("source: {e}")).caused_by(e))?
    else {
        return Ok(PartEncoded { rows: 0, checksum: TableChecksum::default(), conversions: Vec::new() });
    };
    let ncols = tp.columns.len();
    let is_copied: Vec<bool> = tp.columns.iter().map(|c| c.copied()).collect();
    let fields = is_copied.iter().filter(|&&c| c).count() as u16;
    let is_compared: Vec<bool> = tp.columns.iter().map(|c| c.compared()).collect();
    let pk: Vec<usize> = table
        .primary_key
        .iter()
        .flat_map(|k| k.columns.iter())
        .filter_map(|ic| tp.columns.iter().position(|c| c.source_name == ic.name))
        .collect();
    let mut conversions = vec![ColumnConversions::default(); ncols];
    let mut checksum = TableChecksum::default();
    let mut hasher = RowHasher::new();
    // A plain vector, handed over as `Bytes` without a copy: its small constant-size
    // writes inline, where `BytesMut`'s went through a copy call per field.
    let capacity = tuning.buffer_bytes + (64 << 10);
    let mut buf: Vec<u8> = Vec::with_capacity(capacity);
    let mut rows = 0u64;
    let mut unsent = 0u64;
    let send = |buf: &mut Vec<u8>, unsent: &mut u64| {
        if shared.failed.load(Ordering::Relaxed) {
            return Err(err(ErrorKind::Source, STOPPED.into()));
        }
        let total = shared.rows.fetch_add(*unsent, Ordering::Relaxed) + *unsent;
        *unsent = 0;
        let data = Bytes::from(std::mem::replace(buf, Vec::with_capacity(capacity)));
        tx.blocking_send(Chunk { data, rows: total }).map_err(|_| err(ErrorKind::Postgres, "COPY ended early".into()))
    };
    loop {
        let row = match reader.next_row() {
            Ok(Some(r)) => r,
            Ok(None) => break,
            Err(e) => {
                let hint = match &e {
                    SourceError::Backup(b) => b.kind.hint().map(|h| format!(". {h}")).unwrap_or_default(),
                    SourceError::SqlServer { .. } | SourceError::Engine { .. } | SourceError::Other(_) => String::new(),
                };
                return Err(
                    err(ErrorKind::Source, format!("source failed after {rows} rows{of_part}: {e}{hint}")).caused_by(e)
                );
            }
        };
        if row.len() != ncols {
            return Err(err(
                ErrorKind::Source,
                format!("{} has {} values for {ncols} columns", which(rows + 1), row.len()),
            ));
        }
        // One pass over the columns, each value converted, encoded and hashed in turn (the
        // COPY fields and the hashed fields are both in column order): no vector per row.
        copy::begin_row(&mut buf, fields);
        let mut row_asides: Vec<(usize, RejectReason)> = Vec::new();
        for (i, v) in row.iter().enumerate() {
            let c = &tp.columns[i];
            let conv = convert(v, &c.pg_type, &mut conversions[i]).map_err(|e| {
                err(ErrorKind::Conversion, format!("{}, column {}: {e}", which(rows + 1), c.source_name))
            })?;
            if let Some(r) = conv.kept_aside {
                row_asides.push((i, r));
            }
            if is_copied[i] {
                copy::write_field(&mut buf, &conv.value);
            }
            if is_compared[i] {
                hasher.push_value(&conv.value, &c.pg_type);
            }
        }
        let h = hasher.finish();
        checksum.add_row(h);
        for (i, reason) in row_asides {
            // Rare: the key's values converted again (into scratch counts) for the row key.
            let row_key = (!pk.is_empty()).then(|| {
                let keys: Vec<String> = pk
                    .iter()
                    .map(|&k| {
                        let col = &tp.columns[k];
                        let mut out = Vec::new();
                        if let Ok(conv) = convert(&row[k], &col.pg_type, &mut ColumnConversions::default()) {
                            canonical(&conv.value, &col.pg_type, &mut out);
                        }
                        String::from_utf8_lossy(&out).into_owned()
                    })
                    .collect();
                serde_json::to_string(&keys).expect("strings serialize")
            });
            let original = match &row[i] {
                mssql_backup::Value::String(s) | mssql_backup::Value::Xml(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(format!("{other:?}")),
            };
            let mut asides = shared.asides.lock().unwrap_or_else(|p| p.into_inner());
            asides.push(tp, &tp.columns[i].name, row_key.as_deref(), h, reason, &original).map_err(|e| {
                err(ErrorKind::Source, format!("cannot spool rejected values to a temporary file: {e}"))
            })?;
        }
        rows += 1;
        unsent += 1;
        if buf.len() >= tuning.buffer_bytes {
            send(&mut buf, &mut unsent)?;
        }
    }
    if !buf.is_empty() {
        send(&mut buf, &mut unsent)?;
    }
    for (i, s) in reader.decode_stats().iter().enumerate().take(ncols) {
        conversions[i].replaced_utf16 += s.replaced_utf16;
    }
    Ok(PartEncoded { rows, checksum, conversions })
}

/// Loads one table (at `position` in the plan) through `client`: COPY of all rows, then its
/// kept-aside values.
///
/// # Errors
/// Source, conversion and PostgreSQL errors, naming the table (and row and column for
/// conversions).
pub async fn load_table(
    source: Arc<dyn Source>,
    position: usize,
    tp: Arc<TablePlan>,
    client: &Client,
    tuning: LoadTuning,
    progress: &dyn Progress,
) -> Result<LoadedTable, MigrateError> {
    let step = Step::LoadData;
    let start = Instant::now();
    let display = tp.source_display();
    progress.table_started(&display, source.database().tables[tp.index].row_count_hint);
    let cols: Vec<String> = tp.columns.iter().filter(|c| c.copied()).map(|c| quote_ident(&c.name)).collect();
    // One transaction per table: TRUNCATE makes a re-run of the step start clean, and
    // lets COPY write the rows already frozen (no later rewrite of every page to set hint
    // bits or freeze, which the read-back and the first VACUUM would otherwise pay).
    let pg = |e: tokio_postgres::Error| MigrateError::pg(step, e).table(display.clone());
    client
        .batch_execute(&format!(
            "BEGIN; TRUNCATE {}; DELETE FROM {}.rejected_values WHERE schema_name = {} AND table_name = {}",
            tp.qualified(),
            quote_ident(OWN_SCHEMA),
            quote_literal(&tp.schema),
            quote_literal(&tp.name)
        ))
        .await
        .map_err(pg)?;
    let sql = format!("COPY {} ({}) FROM STDIN (FORMAT binary, FREEZE)", tp.qualified(), cols.join(", "));
    let sink = client.copy_in::<_, Bytes>(&sql).await.map_err(|e| MigrateError::pg(step, e).table(display.clone()))?;
    let mut sink = std::pin::pin!(sink);
    let (tx, mut rx) = mpsc::channel::<Chunk>(tuning.channel_buffers.max(1));
    let enc = {
        let source = source.clone();
        let tp = tp.clone();
        tokio::task::spawn_blocking(move || encode_table(&*source, &tp, tx, tuning))
    };
    let mut bytes = 0u64;
    let mut send_err = None;
    while let Some(chunk) = rx.recv().await {
        bytes += chunk.data.len() as u64;
        if let Err(e) = sink.send(chunk.data).await {
            send_err = Some(e);
            break;
        }
        progress.table_rows(&display, chunk.rows);
    }
    drop(rx);
    let encoded = enc.await.map_err(|e| {
        MigrateError::new(step, ErrorKind::Source, format!("reader thread failed: {e}")).table(display.clone())
    });
    if let Some(e) = send_err {
        // The server's own error (a value it refused…) arrives with the COPY's response;
        // it explains the failure better than a closed channel or "ended early".
        let server = sink.as_mut().finish().await.err().filter(|e| e.as_db_error().is_some());
        return Err(MigrateError::pg(step, server.unwrap_or(e)).table(display));
    }
    let encoded = match encoded {
        Ok(Ok(x)) => x,
        Ok(Err(e)) | Err(e) => return Err(e), // dropping the sink aborts the COPY
    };
    let acknowledged = sink.as_mut().finish().await.map_err(|e| MigrateError::pg(step, e).table(display.clone()))?;
    if acknowledged != encoded.rows {
        return Err(MigrateError::new(
            step,
            ErrorKind::Validation,
            format!("COPY stored {acknowledged} rows, {} were sent", encoded.rows),
        )
        .table(display));
    }
    let (rejected, spilled, tail) = encoded.asides.finish().map_err(|e| {
        MigrateError::new(step, ErrorKind::Source, format!("rejected values spool: {e}")).table(display.clone())
    })?;
    if rejected > 0 {
        store_asides(client, spilled, tail, tuning.buffer_bytes).await.map_err(|e| e.table(display.clone()))?;
    }
    client.batch_execute("COMMIT").await.map_err(pg)?;
    crate::faults::pause("table_loaded");
    let table_name: &str = &display;
    tracing::info!(
        table = table_name,
        rows = encoded.rows,
        bytes,
        rejected,
        seconds = start.elapsed().as_secs_f64(),
        "table loaded"
    );
    progress.table_finished(&display, encoded.rows);
    Ok(LoadedTable {
        table: position,
        rows: encoded.rows,
        bytes,
        seconds: start.elapsed().as_secs_f64(),
        checksum: encoded.checksum,
        checksum_definition: crate::checksum::DEFINITION.to_string(),
        conversions: encoded.conversions,
        rejected,
    })
}

/// COPYs the spooled `bak2pg.rejected_values` rows: the spilled file in chunks, then the tail.
async fn store_asides(
    client: &Client,
    spilled: Option<std::fs::File>,
    tail: Bytes,
    chunk: usize,
) -> Result<(), MigrateError> {
    use tokio::io::AsyncReadExt;
    let step = Step::LoadData;
    let pg = |e: tokio_postgres::Error| MigrateError::pg(step, e).object("bak2pg.rejected_values");
    let sql = format!(
        "COPY {}.rejected_values (schema_name, table_name, column_name, row_key, row_hash, reason, original_text, original_bytes) FROM STDIN (FORMAT binary)",
        quote_ident(OWN_SCHEMA)
    );
    let sink = client.copy_in::<_, Bytes>(&sql).await.map_err(pg)?;
    let mut sink = std::pin::pin!(sink);
    if let Some(f) = spilled {
        let mut f = tokio::fs::File::from_std(f);
        loop {
            let mut buf = BytesMut::with_capacity(chunk.max(8192));
            let n = f.read_buf(&mut buf).await.map_err(|e| {
                MigrateError::new(step, ErrorKind::Source, format!("reading the rejected values spool: {e}"))
            })?;
            if n == 0 {
                break;
            }
            sink.send(buf.freeze()).await.map_err(pg)?;
        }
    }
    sink.send(tail).await.map_err(pg)?;
    sink.as_mut().finish().await.map_err(pg)?;
    Ok(())
}

/// The order in which to load `tables`: the largest first (by the catalog's row count
/// estimate; ties keep plan order). With `jobs` loads at a time, the step lasts at least
/// as long as its largest table; started last, that table would run alone after all the
/// others, started first it overlaps with them.
pub fn largest_first(source: &dyn Source, tables: &[TablePlan]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..tables.len()).collect();
    let rows = |i: usize| source.database().tables[tables[i].index].row_count_hint.unwrap_or(0);
    order.sort_by_key(|&i| std::cmp::Reverse(rows(i)));
    order
}

/// Loads every table of the plan into database `db` of `target`, `tuning.jobs` at a time,
/// the largest first ([`largest_first`]). Results are in plan order.
///
/// Each of the `jobs` workers opens one connection and loads table after table through
/// it: a connection per table would cost a server process start and authentication each
/// time, which dominates for the many small tables of a typical database.
///
/// # Errors
/// The first table's error; the other loads are then cancelled.
pub async fn load_tables(
    source: Arc<dyn Source>,
    tables: &[TablePlan],
    target: &Target,
    db: &str,
    tuning: LoadTuning,
    progress: &dyn Progress,
) -> Result<Vec<LoadedTable>, MigrateError> {
    let jobs = tuning.jobs.max(1).min(tables.len().max(1));
    let queue = std::sync::Mutex::new(largest_first(&*source, tables).into_iter());
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).next();
    let worker = |_| {
        let source = source.clone();
        async move {
            let mut done = Vec::new();
            let mut client = None;
            while let Some(i) = next() {
                let c = match &client {
                    Some(c) => c,
                    None => client.insert(target.connect(Step::LoadData, db).await?),
                };
                done.push(load_table(source.clone(), i, Arc::new(tables[i].clone()), c, tuning, progress).await?);
            }
            Ok::<_, MigrateError>(done)
        }
    };
    // The first error drops the other workers, which aborts their COPYs.
    let mut results: Vec<LoadedTable> =
        futures::future::try_join_all((0..jobs).map(worker)).await?.into_iter().flatten().collect();
    results.sort_by_key(|r| r.table);
    Ok(results)
}
