//! Throughput of a whole migration on generated rows (4 tables × 15 mixed columns).
//! Not run by default: `BAK2PG_TEST_PG=… cargo test --release -p bak2pg --test it
//! -- --ignored --nocapture throughput::` (sizes: `PERF_ROWS` per table, `PERF_JOBS`; `PERF_KEEP=1`
//! keeps the database `t_perf`). It asserts that every table matched.

use crate::common::*;
use bak2pg::NoProgress;
use bak2pg::schema::*;
use bak2pg::source::*;
use mssql_backup::{SqlType, Value};
use std::sync::Arc;
use std::time::Instant;

struct Gen {
    db: Database,
    n: u64,
}
struct GenReader {
    i: u64,
    n: u64,
    row: Vec<Value>,
}
impl RowReader for GenReader {
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError> {
        if self.i >= self.n {
            return Ok(None);
        }
        let i = self.i;
        self.i += 1;
        self.row = vec![
            Value::BigInt(i as i64),
            Value::Int(i as i32 % 1000),
            Value::String(format!("customer name {i}")),
            Value::Decimal { mantissa: (i * 37 % 100000) as i128, scale: 2 },
            Value::DateTime2 { days: 737000 + (i % 1000) as i32, ticks: i * 12345 % 864_000_000_000, scale: 7 },
            Value::Bit(i.is_multiple_of(2)),
            Value::Float(i as f64 / 7.0),
            Value::Guid([(i % 256) as u8; 16]),
            Value::String("some fixed-ish text value".into()),
            Value::Money(i as i64 * 100),
            Value::DateTime { days: 40000, ticks: (i % 25_000_000) as u32 },
            Value::SmallInt((i % 30000) as i16),
            Value::String(format!("{i:08}")),
            Value::Date { days: 737000 },
            Value::Int(-(i as i32)),
        ];
        Ok(Some(&self.row))
    }
}
impl Source for Gen {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            engine: EngineKind::Native,
            engine_reason: "gen".into(),
            database: self.db.name.clone(),
            server: None,
            sql_version: None,
            db_version: None,
        }
    }
    fn database(&self) -> &Database {
        &self.db
    }
    fn rows<'a>(&'a self, _t: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError> {
        Ok(Box::new(GenReader { i: 0, n: self.n, row: vec![] }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release --ignored"]
async fn throughput() {
    let name = "t_perf";
    reset(name).await;
    let nv = SqlType::NVarChar { len: Some(100), collation: coll() };
    let cols = vec![
        col("a", SqlType::BigInt),
        col("b", SqlType::Int),
        col("c", nv.clone()),
        col("d", SqlType::Decimal { precision: 18, scale: 2, numeric: false }),
        col("e", SqlType::DateTime2 { scale: 7 }),
        col("f", SqlType::Bit),
        col("g", SqlType::Float),
        col("h", SqlType::UniqueIdentifier),
        col("i", nv.clone()),
        col("j", SqlType::Money),
        col("k", SqlType::DateTime),
        col("l", SqlType::SmallInt),
        col("m", nv.clone()),
        col("n", SqlType::Date),
        col("o", SqlType::Int),
    ];
    let tables: Vec<Table> = (0..4).map(|k| table("dbo", &format!("t{k}"), cols.clone())).collect();
    let n: u64 = std::env::var("PERF_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(500_000);
    let src = Arc::new(Gen { db: database(name, tables), n });
    let mut opts = options(name);
    opts.tuning = bak2pg::load::LoadTuning::default();
    opts.tuning.jobs = std::env::var("PERF_JOBS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let t = Instant::now();
    let r = bak2pg::migrate(src, &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    println!("{}", r.summary());
    assert_eq!(r.totals.matched, 4);
    assert_eq!(r.totals.rows, 4 * n);
    println!("total {:.1}s for {} rows x 15 cols", t.elapsed().as_secs_f64(), 4 * n);
    // PERF_KEEP=1 keeps the database, e.g. to COPY the same rows with psql for comparison.
    if std::env::var_os("PERF_KEEP").is_none() {
        reset(name).await;
    }
}
