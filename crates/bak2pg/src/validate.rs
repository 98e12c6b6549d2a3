//! Validation: every table's row count and checksum ([`crate::checksum`]) are computed
//! from what PostgreSQL holds, to be compared with the numbers computed from the rows
//! sent.
//!
//! Two ways give the same numbers. Normally the server computes them:
//! `SELECT count(*), sum(hashtextextended(<row text>, 0)) FROM table`, where the row text
//! is built in SQL from each column's `::text` (the framing of [`crate::checksum`]), so
//! PostgreSQL renders each value with its own output function (a bug in our binary
//! encoders shows up as a difference) and hashes it with its own hash, in parallel
//! workers, without sending the rows. That needs the server's hash to be the one the
//! client computes ([`crate::pghash`]: little-endian servers, PostgreSQL 11 and later),
//! which every validation connection checks first on known strings
//! ([`server_hashes_as_we_do`]); otherwise every row is read back,
//! `COPY (SELECT col::text, … FROM table) TO STDOUT (FORMAT binary)`, streamed, and
//! hashed here ([`read_back`]): the binary COPY framing carries those texts and NULLs
//! without any escaping to undo. The session settings that affect the texts are fixed
//! first ([`SESSION_SETTINGS`]).

use bytes::{Buf, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::checksum::{RowHasher, TableChecksum, UnexpectedText, canonical_from_pg_text, is_free_text};
use crate::ddl::{TablePlan, quote_ident};
use crate::report::Step;
use crate::target::{ErrorKind, MigrateError, Target};

/// Settings fixed for the read-back session: the canonical forms assume them.
pub const SESSION_SETTINGS: &str = "SET DateStyle = 'ISO, YMD'; SET TimeZone = 'UTC'; \
    SET extra_float_digits = 1; SET bytea_output = 'hex'; SET IntervalStyle = 'postgres'; \
    SET standard_conforming_strings = on";

/// A table's read-back numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReadBack {
    /// Position of the table in [`Plan::tables`](crate::ddl::Plan::tables) (not its
    /// index in the source database: a mapping file may leave tables out).
    pub table: usize,
    /// Count and checksum of the rows PostgreSQL holds.
    pub checksum: TableChecksum,
    /// How they were computed.
    #[serde(default)]
    pub method: ReadBackMethod,
}

pub use crate::report::ReadBackMethod;

/// Incremental parser of a binary COPY stream (header, tuples, trailer).
///
/// PostgreSQL sends a COPY TO stream one tuple per message, so this runs once per row:
/// tuples are parsed in place from the data given, and only a tuple split across
/// messages is copied (into `pending`); the field ranges are kept in a reused vector.
struct CopyOutParser {
    /// Bytes of an incomplete header or tuple, waiting for the next data.
    pending: BytesMut,
    /// The current tuple's fields: byte ranges in the data handed to the callback.
    fields: Vec<Option<(usize, usize)>>,
    header_done: bool,
    done: bool,
}

/// Why a table read back cannot be checksummed. It becomes the source of an
/// [`ErrorKind::Validation`] [`MigrateError`] (whose message is its text), so a value
/// PostgreSQL printed unexpectedly stays reachable as the [`UnexpectedText`] it is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadBackError {
    /// The stream does not start as binary COPY does.
    #[error("bad binary COPY signature")]
    Signature,
    /// A tuple with another number of fields than the columns compared.
    #[error("{got} fields read back, {expected} expected")]
    FieldCount {
        /// Fields in the tuple.
        got: usize,
        /// Columns compared.
        expected: usize,
    },
    /// A value's text does not parse for its type.
    #[error("{0}")]
    Text(#[from] UnexpectedText),
    /// The stream stopped before the trailer.
    #[error("binary COPY stream ended without its trailer")]
    NoTrailer,
}

impl ReadBackError {
    /// As the validate step's error for table `display`, `self` kept as its source.
    fn into_migrate(self, display: &str) -> MigrateError {
        MigrateError::new(Step::Validate, ErrorKind::Validation, self.to_string()).table(display).caused_by(self)
    }
}

/// What [`CopyOutParser::parse`] found at the start of its data.
enum Parsed {
    /// More bytes are needed.
    Incomplete,
    /// The header or a tuple of this many bytes (the tuple's field ranges are in
    /// `fields`).
    Header(usize),
    Tuple(usize),
    /// The trailer.
    End,
}

impl CopyOutParser {
    fn new() -> Self {
        CopyOutParser { pending: BytesMut::new(), fields: Vec::new(), header_done: false, done: false }
    }

    /// Parses the header (until it is done) or one tuple at the start of `buf`.
    fn parse(&mut self, buf: &[u8]) -> Result<Parsed, ReadBackError> {
        if !self.header_done {
            if buf.len() < 19 {
                return Ok(Parsed::Incomplete);
            }
            if &buf[..11] != b"PGCOPY\n\xff\r\n\0" {
                return Err(ReadBackError::Signature);
            }
            let ext = u32::from_be_bytes([buf[15], buf[16], buf[17], buf[18]]) as usize;
            return Ok(if buf.len() < 19 + ext { Parsed::Incomplete } else { Parsed::Header(19 + ext) });
        }
        if buf.len() < 2 {
            return Ok(Parsed::Incomplete);
        }
        let n = i16::from_be_bytes([buf[0], buf[1]]);
        if n == -1 {
            return Ok(Parsed::End);
        }
        let mut pos = 2;
        self.fields.clear();
        for _ in 0..n {
            if buf.len() < pos + 4 {
                return Ok(Parsed::Incomplete);
            }
            let len = i32::from_be_bytes([buf[pos], buf[pos + 1], buf[pos + 2], buf[pos + 3]]);
            pos += 4;
            if len < 0 {
                self.fields.push(None);
            } else {
                let len = len as usize;
                if buf.len() < pos + len {
                    return Ok(Parsed::Incomplete);
                }
                self.fields.push(Some((pos, pos + len)));
                pos += len;
            }
        }
        Ok(Parsed::Tuple(pos))
    }

    /// Feeds bytes; calls `row` with each complete tuple: the bytes it lies in and its
    /// fields' ranges in them (`None` for NULL).
    fn feed(
        &mut self,
        data: &[u8],
        mut row: impl FnMut(&[u8], &[Option<(usize, usize)>]) -> Result<(), ReadBackError>,
    ) -> Result<(), ReadBackError> {
        if self.done || data.is_empty() {
            return Ok(());
        }
        if !self.pending.is_empty() {
            // Completes what earlier data left incomplete (rare: a tuple split across
            // messages), with everything after it.
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.consume(&pending, &mut row)?;
            pending.advance(used);
            self.pending = pending;
        } else {
            let used = self.consume(data, &mut row)?;
            if !self.done {
                self.pending.extend_from_slice(&data[used..]);
            }
        }
        Ok(())
    }

    /// Handles every complete item at the start of `buf`; returns the bytes used.
    fn consume(
        &mut self,
        buf: &[u8],
        row: &mut impl FnMut(&[u8], &[Option<(usize, usize)>]) -> Result<(), ReadBackError>,
    ) -> Result<usize, ReadBackError> {
        let mut at = 0;
        while !self.done {
            match self.parse(&buf[at..])? {
                Parsed::Incomplete => break,
                Parsed::Header(n) => {
                    self.header_done = true;
                    at += n;
                }
                Parsed::Tuple(n) => {
                    row(&buf[at..at + n], &self.fields)?;
                    at += n;
                }
                Parsed::End => {
                    self.done = true;
                    at += 2;
                }
            }
        }
        Ok(at)
    }
}

/// The expression that reads column `name` of type `ty` back as its canonical text:
/// `col::text`, except for floats, compared by their bits as `float4send(col)::text` or
/// `float8send(col)::text` (PostgreSQL's shortest float text switches notations), and for
/// PostGIS columns, whose text output is upper-case hex in the server's byte order: those
/// are read as `ST_AsEWKB(col::geometry, 'NDR')::text`, the EWKB PostGIS writes from what
/// it holds, little-endian, as `bytea` text (the cast to `geometry` keeps a geography's
/// SRID and coordinates; `ST_AsEWKB` takes geometry).
pub fn read_back_expr(name: &str, ty: &crate::pgvalue::PgType) -> String {
    use crate::pgvalue::PgType;
    match ty {
        PgType::Real => format!("float4send({})::text", quote_ident(name)),
        PgType::Double => format!("float8send({})::text", quote_ident(name)),
        _ if ty.is_postgis() => format!("ST_AsEWKB({}::geometry, 'NDR')::text", quote_ident(name)),
        _ => format!("{}::text", quote_ident(name)),
    }
}

/// One column's part of [`row_text_expr`]: `coalesce(X, '')`, or `coalesce(octet_length(X)
/// || ':' || X, '')` for the free-text types, `X` being [`read_back_expr`].
pub fn column_text_expr(name: &str, ty: &crate::pgvalue::PgType) -> String {
    let x = read_back_expr(name, ty);
    if is_free_text(ty) {
        format!("coalesce(octet_length({x}) || ':' || {x}, '')")
    } else {
        format!("coalesce({x}, '')")
    }
}

/// The SQL expression of a row's text (the framing of [`crate::checksum`]) over the
/// compared columns of `tp`: `coalesce(X, '')` per column, `coalesce(octet_length(X) ||
/// ':' || X, '')` for the free-text types, joined by `','`, in the `"C"` collation (so
/// that `hashtextextended` hashes bytes whatever the columns' collations).
pub fn row_text_expr(tp: &TablePlan) -> String {
    let pieces: Vec<String> =
        tp.columns.iter().filter(|c| c.compared()).map(|c| column_text_expr(&c.name, &c.pg_type)).collect();
    if pieces.is_empty() { "''::text".into() } else { format!("({}) COLLATE \"C\"", pieces.join(" || ',' || ")) }
}

/// Strings whose hashes the server must give as [`crate::pghash`] does before it is
/// trusted with a table's checksum: every tail length of lookup3 (0–11 bytes after 0, 1
/// and 2 whole 12-byte rounds), multi-byte UTF-8, and a row text with every framing.
fn probes() -> Vec<String> {
    let base = "aé,:0\\x😀Zß\"'1234567890abcdefghijklmnopqrstuvwxyz";
    let chars: Vec<char> = base.chars().collect();
    let mut out: Vec<String> = Vec::new();
    let mut s = String::new();
    for c in chars.iter().cycle().take(40) {
        out.push(s.clone());
        s.push(*c);
    }
    out.push("3:a,b,,-7,0:,\\x3ff8000000000000,2020-01-02 03:04:05.5+00".into());
    out
}

/// Whether the server's `hashtextextended` is the hash this client computes: false on a
/// big-endian server (lookup3 reads machine words) or one without the function (before
/// PostgreSQL 11).
///
/// # Errors
/// PostgreSQL errors other than the function being absent.
pub async fn server_hashes_as_we_do(client: &Client) -> Result<bool, tokio_postgres::Error> {
    let probes = probes();
    let sql =
        "SELECT hashtextextended(t COLLATE \"C\", 0) FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i";
    let rows = match client.query(sql, &[&probes]).await {
        Ok(rows) => rows,
        Err(e) if e.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_FUNCTION) => return Ok(false),
        Err(e) => return Err(e),
    };
    Ok(rows.len() == probes.len()
        && rows
            .iter()
            .zip(&probes)
            .all(|(r, p)| r.get::<_, i64>(0) == crate::pghash::hash_bytes_extended(p.as_bytes(), 0)))
}

/// Computes the checksum of table `tp`, at `position` in the plan, on the server: one
/// `SELECT count(*), sum(hashtextextended(<row text>, 0))` (PostgreSQL may run it in
/// parallel workers). Only meaningful when [`server_hashes_as_we_do`] said so on this
/// connection (settings applied).
///
/// # Errors
/// PostgreSQL errors, and [`ErrorKind::Validation`] when the sum is not an integer.
pub async fn server_checksum(client: &Client, position: usize, tp: &TablePlan) -> Result<ReadBack, MigrateError> {
    let display = tp.source_display();
    let sql = format!(
        "SELECT count(*), coalesce(sum(hashtextextended({}, 0)), 0)::text FROM {}",
        row_text_expr(tp),
        tp.qualified()
    );
    let row =
        client.query_one(&sql, &[]).await.map_err(|e| MigrateError::pg(Step::Validate, e).table(display.clone()))?;
    let rows: i64 = row.get(0);
    let sum: &str = row.get(1);
    let sum: i128 = sum.parse().map_err(|_| {
        MigrateError::new(
            Step::Validate,
            ErrorKind::Validation,
            format!("the server's hash sum {sum:?} is not an integer"),
        )
        .table(display.clone())
    })?;
    Ok(ReadBack {
        table: position,
        checksum: TableChecksum::from_sum(rows as u64, sum),
        method: ReadBackMethod::ServerHash,
    })
}

/// Reads table `tp`, at `position` in the plan, back through `client` (settings must be
/// applied) and computes its checksum over the compared columns, here: every value
/// crosses the connection as text.
///
/// # Errors
/// PostgreSQL errors, and [`ErrorKind::Validation`] for a malformed stream or a value
/// text that does not parse for its type.
pub async fn read_back(client: &Client, position: usize, tp: &TablePlan) -> Result<ReadBack, MigrateError> {
    let step = Step::Validate;
    let display = tp.source_display();
    let compared: Vec<_> = tp.columns.iter().filter(|c| c.compared()).collect();
    let select: Vec<String> = compared.iter().map(|c| read_back_expr(&c.name, &c.pg_type)).collect();
    let sql = format!("COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)", select.join(", "), tp.qualified());
    let stream = client.copy_out(&sql).await.map_err(|e| MigrateError::pg(step, e).table(display.clone()))?;
    let mut stream = std::pin::pin!(stream);
    let mut parser = CopyOutParser::new();
    let mut hasher = RowHasher::new();
    let mut checksum = TableChecksum::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| MigrateError::pg(step, e).table(display.clone()))?;
        parser
            .feed(&chunk, |tuple, fields| {
                if fields.len() != compared.len() {
                    return Err(ReadBackError::FieldCount { got: fields.len(), expected: compared.len() });
                }
                for (f, c) in fields.iter().zip(&compared) {
                    match f {
                        None => hasher.push_null(),
                        Some((a, b)) => hasher
                            .push_with(&c.pg_type, |out| canonical_from_pg_text(&c.pg_type, &tuple[*a..*b], out))?,
                    }
                }
                checksum.add_row(hasher.finish());
                Ok(())
            })
            .map_err(|e| e.into_migrate(&display))?;
    }
    if !parser.done {
        return Err(ReadBackError::NoTrailer.into_migrate(&display));
    }
    Ok(ReadBack { table: position, checksum, method: ReadBackMethod::ReadBack })
}

/// Computes every table's numbers in database `db`, `jobs` at a time, on the server when
/// it hashes as this client does ([`read_back_ordered`]); results in plan order.
///
/// # Errors
/// The first failure.
pub async fn read_back_all(
    tables: &[TablePlan],
    target: &Target,
    db: &str,
    jobs: usize,
) -> Result<Vec<ReadBack>, MigrateError> {
    let order: Vec<usize> = (0..tables.len()).collect();
    read_back_ordered(tables, &order, target, db, jobs, ReadBackMethod::ServerHash).await
}

/// Computes the numbers of the tables `order` names (indexes into `tables`) in database
/// `db`, in that order, `jobs` at a time (give the largest first: the step lasts at least
/// as long as the largest table, which should overlap with the small ones); results in
/// plan order.
///
/// Each of the `jobs` workers opens one connection, applies [`SESSION_SETTINGS`] once,
/// asks [`server_hashes_as_we_do`], and handles table after table through it: with
/// [`server_checksum`] when the server hashes as we do and `method` allows it
/// ([`ReadBackMethod::ServerHash`]), else with [`read_back`]. A connection per table would
/// cost a server process start and authentication each time.
///
/// # Errors
/// The first failure; the other reads are then cancelled.
pub async fn read_back_ordered(
    tables: &[TablePlan],
    order: &[usize],
    target: &Target,
    db: &str,
    jobs: usize,
    method: ReadBackMethod,
) -> Result<Vec<ReadBack>, MigrateError> {
    let jobs = jobs.max(1).min(order.len().max(1));
    let queue = std::sync::Mutex::new(order.iter().copied());
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).next();
    let worker = |_| async {
        let mut done = Vec::new();
        let mut client: Option<(Client, bool)> = None;
        while let Some(i) = next() {
            let (c, on_server) = match &client {
                Some((c, s)) => (c, *s),
                None => {
                    let pg = |e| MigrateError::pg(Step::Validate, e);
                    let c = target.connect(Step::Validate, db).await?;
                    c.batch_execute(SESSION_SETTINGS).await.map_err(pg)?;
                    let on_server =
                        method == ReadBackMethod::ServerHash && server_hashes_as_we_do(&c).await.map_err(pg)?;
                    if method == ReadBackMethod::ServerHash && !on_server {
                        tracing::info!("the server's hashtextextended differs from ours: tables are read back");
                    }
                    let (c, s) = client.insert((c, on_server));
                    (&*c, *s)
                }
            };
            let back =
                if on_server { server_checksum(c, i, &tables[i]).await? } else { read_back(c, i, &tables[i]).await? };
            done.push(back);
        }
        Ok::<_, MigrateError>(done)
    };
    let mut out: Vec<ReadBack> =
        futures::future::try_join_all((0..jobs).map(worker)).await?.into_iter().flatten().collect();
    out.sort_by_key(|r| r.table);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_handles_split_chunks() {
        let mut data = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        for _ in 0..3 {
            data.extend_from_slice(&2i16.to_be_bytes());
            data.extend_from_slice(&3i32.to_be_bytes());
            data.extend_from_slice(b"abc");
            data.extend_from_slice(&(-1i32).to_be_bytes());
        }
        data.extend_from_slice(&(-1i16).to_be_bytes());
        for split in 1..data.len() {
            let mut p = CopyOutParser::new();
            let mut rows = Vec::new();
            let mut collect = |t: &[u8], f: &[Option<(usize, usize)>]| {
                rows.push(f.iter().map(|x| x.map(|(a, b)| t[a..b].to_vec())).collect::<Vec<_>>());
                Ok(())
            };
            p.feed(&data[..split], &mut collect).unwrap();
            p.feed(&data[split..], &mut collect).unwrap();
            assert!(p.done);
            assert_eq!(rows, vec![vec![Some(b"abc".to_vec()), None]; 3], "split at {split}");
        }
        // One byte at a time, and the trailer's bytes ignored after the end.
        let mut p = CopyOutParser::new();
        let mut n = 0;
        for b in data.iter().chain(b"xx") {
            p.feed(std::slice::from_ref(b), |t, f| {
                assert_eq!(f.iter().map(|x| x.map(|(a, b)| &t[a..b])).collect::<Vec<_>>(), [Some(&b"abc"[..]), None]);
                n += 1;
                Ok(())
            })
            .unwrap();
        }
        assert!(p.done);
        assert_eq!(n, 3);
    }

    #[test]
    fn a_bad_value_text_stays_the_source() {
        let text = UnexpectedText { ty: "real".into(), text: "x".into() };
        let e = ReadBackError::from(text.clone()).into_migrate("dbo.t");
        assert_eq!(e.to_string(), "step validate, table dbo.t: PostgreSQL returned \"x\" for a real column");
        let src = std::error::Error::source(&e).expect("the read-back error");
        assert!(matches!(src.downcast_ref::<ReadBackError>(), Some(ReadBackError::Text(_))), "{src:?}");
        let inner = src.source().expect("the text error");
        assert_eq!(inner.downcast_ref::<UnexpectedText>(), Some(&text));
    }
}
