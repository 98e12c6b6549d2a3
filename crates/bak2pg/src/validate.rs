//! Validation: every table is read back from PostgreSQL and its row count and checksum
//! ([`crate::checksum`]) are computed from what PostgreSQL holds, to be compared with
//! the numbers computed from the rows sent.
//!
//! The read-back is `COPY (SELECT col::text, … FROM table) TO STDOUT (FORMAT binary)`,
//! streamed: the `::text` casts make PostgreSQL render each value with its own output
//! function (so a bug in our binary encoders shows up as a difference), and the binary
//! COPY framing carries those texts and NULLs without any escaping to undo. The session
//! settings that affect the texts are fixed first ([`SESSION_SETTINGS`]).

use bytes::{Buf, BytesMut};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use crate::checksum::{RowHasher, TableChecksum, UnexpectedText, canonical_from_pg_text};
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
}

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
/// `col::text`, except for PostGIS columns, whose text output is upper-case hex in the
/// server's byte order: those are read as `ST_AsEWKB(col::geometry, 'NDR')::text`, the
/// EWKB PostGIS writes from what it holds, little-endian, as `bytea` text (the cast to
/// `geometry` keeps a geography's SRID and coordinates; `ST_AsEWKB` takes geometry).
pub fn read_back_expr(name: &str, ty: &crate::pgvalue::PgType) -> String {
    if ty.is_postgis() {
        format!("ST_AsEWKB({}::geometry, 'NDR')::text", quote_ident(name))
    } else {
        format!("{}::text", quote_ident(name))
    }
}

/// Reads table `tp`, at `position` in the plan, back through `client` (settings must be
/// applied) and computes its checksum over the compared columns.
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
                        Some((a, b)) => {
                            hasher.push_with(|out| canonical_from_pg_text(&c.pg_type, &tuple[*a..*b], out))?
                        }
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
    Ok(ReadBack { table: position, checksum })
}

/// Reads every table of the plan back from database `db`, `jobs` at a time; results in
/// plan order.
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
    read_back_ordered(tables, &order, target, db, jobs).await
}

/// Reads the tables `order` names (indexes into `tables`) back from database `db`, in that
/// order, `jobs` at a time (give the largest first: the step lasts at least as long as
/// the largest table, which should overlap with the small ones); results in plan order.
///
/// Each of the `jobs` workers opens one connection, applies [`SESSION_SETTINGS`] once and
/// reads table after table through it: a connection per table would cost a server
/// process start and authentication each time.
///
/// # Errors
/// The first failure; the other reads are then cancelled.
pub async fn read_back_ordered(
    tables: &[TablePlan],
    order: &[usize],
    target: &Target,
    db: &str,
    jobs: usize,
) -> Result<Vec<ReadBack>, MigrateError> {
    let jobs = jobs.max(1).min(order.len().max(1));
    let queue = std::sync::Mutex::new(order.iter().copied());
    let next = || queue.lock().unwrap_or_else(|p| p.into_inner()).next();
    let worker = |_| async {
        let mut done = Vec::new();
        let mut client: Option<Client> = None;
        while let Some(i) = next() {
            let c = match &client {
                Some(c) => c,
                None => {
                    let c = target.connect(Step::Validate, db).await?;
                    c.batch_execute(SESSION_SETTINGS).await.map_err(|e| MigrateError::pg(Step::Validate, e))?;
                    client.insert(c)
                }
            };
            done.push(read_back(c, i, &tables[i]).await?);
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
