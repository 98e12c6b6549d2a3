//! Shared test support: the PostgreSQL URL from `BAK2PG_TEST_PG`, an in-memory `Source`
//! of hand-made rows, and schema builders.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use bak2pg::schema::*;
use bak2pg::source::{EngineKind, RowReader, Source, SourceError, SourceInfo};
use mssql_backup::value::DecodeStats;
use mssql_backup::{Collation, SqlType, Value};
use tokio_postgres::{Client, NoTls};

/// The test server's URL. Fails (never skips) when unset.
pub fn pg_url() -> String {
    std::env::var("BAK2PG_TEST_PG").unwrap_or_else(|_| {
        panic!("BAK2PG_TEST_PG is not set: run the tests with scripts/test (it starts a throwaway PostgreSQL)")
    })
}

/// `pg_url()` with another database.
pub fn url_for(db: &str) -> String {
    let u = pg_url();
    let base = u.rsplit_once('/').map(|(a, _)| a).unwrap_or(&u);
    format!("{base}/{db}")
}

/// Connects to `db` on the test server.
pub async fn connect(db: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(&url_for(db), NoTls).await.expect("connect to the test server");
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Drops every database named `name`, `name__loading`, `name__prev_*` (a test's own names).
pub async fn reset(name: &str) {
    let c = connect("postgres").await;
    let rows = c
        .query(
            "SELECT datname::text FROM pg_database WHERE datname = $1 OR datname = $1 || '__loading' OR starts_with(datname, $1 || '__prev_')",
            &[&name],
        )
        .await
        .unwrap();
    for r in rows {
        let d: String = r.get(0);
        c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{d}\" WITH (FORCE)")).await.unwrap();
    }
}

/// Names of databases starting with `name`.
pub async fn databases(name: &str) -> Vec<String> {
    let c = connect("postgres").await;
    let rows = c
        .query("SELECT datname::text FROM pg_database WHERE starts_with(datname, $1) ORDER BY 1", &[&name])
        .await
        .unwrap();
    rows.iter().map(|r| r.get(0)).collect()
}

pub fn coll() -> Collation {
    Collation { id: 0, name: Some("SQL_Latin1_General_CP1_CI_AS".into()), code_page: 1252 }
}

static NEXT_ID: AtomicI32 = AtomicI32::new(1000);

pub fn col(name: &str, ty: SqlType) -> Column {
    Column::plain(name, ty)
}

pub fn not_null(mut c: Column) -> Column {
    c.nullable = false;
    c
}

pub fn identity(mut c: Column, seed: i128, increment: i128) -> Column {
    c.nullable = false;
    c.identity = Some(Identity { seed, increment, last_value: None });
    c
}

pub fn with_default(mut c: Column, def: &str) -> Column {
    c.default = Some(DefaultConstraint { name: format!("DF_{}", c.name), definition: def.into() });
    c
}

pub fn key(name: &str, cols: &[&str]) -> KeyConstraint {
    KeyConstraint {
        name: name.into(),
        columns: cols.iter().map(|c| IndexColumn { name: c.to_string(), descending: false, included: false }).collect(),
        clustered: true,
    }
}

pub fn table(schema: &str, name: &str, mut columns: Vec<Column>) -> Table {
    for (i, c) in columns.iter_mut().enumerate() {
        c.column_id = i as i32 + 1;
    }
    Table::heap(NEXT_ID.fetch_add(1, Ordering::Relaxed), schema, name, columns)
}

pub fn database(name: &str, tables: Vec<Table>) -> Database {
    Database { collation: Some(coll()), ..Database::of_tables(name, tables) }
}

/// An in-memory source: a database and the rows of each table (same order as
/// `db.tables`). `fail_at = Some((table, n))` makes that table's reader fail after `n`
/// rows.
pub struct MemSource {
    pub db: Database,
    pub rows: Vec<Vec<Vec<Value>>>,
    pub fail_at: Option<(usize, usize)>,
    /// `Some((table, column, n))`: that table's reader reports `n` lone surrogates
    /// replaced in that column (as the native reader's `DecodeStats` would).
    pub replaced: Option<(usize, usize, u64)>,
}

impl MemSource {
    pub fn new(db: Database, rows: Vec<Vec<Vec<Value>>>) -> Arc<MemSource> {
        assert_eq!(db.tables.len(), rows.len());
        Arc::new(MemSource { db, rows, fail_at: None, replaced: None })
    }
}

impl Source for MemSource {
    fn info(&self) -> SourceInfo {
        SourceInfo {
            engine: EngineKind::Native,
            engine_reason: "test rows".into(),
            database: self.db.name.clone(),
            server: Some("TEST\\SQL".into()),
            sql_version: Some("16.0.1000".into()),
            db_version: Some(957),
        }
    }
    fn database(&self) -> &Database {
        &self.db
    }
    fn rows<'a>(&'a self, table: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError> {
        let i = self.db.tables.iter().position(|t| t.object_id == table.object_id).expect("table of this source");
        let fail = self.fail_at.and_then(|(t, n)| (t == i).then_some(n));
        let mut stats = vec![DecodeStats::default(); table.columns.len()];
        if let Some((t, c, n)) = self.replaced
            && t == i
        {
            stats[c].replaced_utf16 = n;
        }
        Ok(Box::new(MemReader { rows: &self.rows[i], pos: 0, fail, stats }))
    }
}

struct MemReader<'a> {
    rows: &'a [Vec<Value>],
    pos: usize,
    fail: Option<usize>,
    stats: Vec<DecodeStats>,
}

impl RowReader for MemReader<'_> {
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError> {
        if self.fail == Some(self.pos) {
            return Err(SourceError::Other(format!("test reader fails at row {}", self.pos + 1)));
        }
        let r = self.rows.get(self.pos).map(|r| r.as_slice());
        self.pos += 1;
        Ok(r)
    }
    fn decode_stats(&self) -> Vec<DecodeStats> {
        self.stats.clone()
    }
}

/// Options for the test server with target database `name`.
pub fn options(name: &str) -> bak2pg::MigrateOptions {
    let mut o = bak2pg::MigrateOptions::new(&pg_url()).unwrap();
    o.database = Some(name.into());
    o.tuning.jobs = 2;
    // Small buffers so that tests cross buffer boundaries.
    o.tuning.buffer_bytes = 8 << 10;
    o
}

/// A simple one-table database `name` with `n` rows (id, text).
pub fn simple(name: &str, n: i32) -> Arc<MemSource> {
    let mut t = table(
        "dbo",
        "items",
        vec![
            identity(col("id", SqlType::Int), 1, 1),
            col("label", SqlType::NVarChar { len: Some(50), collation: coll() }),
        ],
    );
    t.primary_key = Some(key("PK_items", &["id"]));
    let rows = (1..=n).map(|i| vec![Value::Int(i), Value::String(format!("item {i}"))]).collect();
    MemSource::new(database(name, vec![t]), vec![rows])
}

/// A content fingerprint of every user table of `db`, computed by PostgreSQL.
pub async fn fingerprint(db: &str) -> String {
    let c = connect(db).await;
    let tables = c
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog','information_schema') ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let mut out = String::new();
    for t in tables {
        let name: String = t.get(0);
        let row = c
            .query_one(&format!("SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {name} x"), &[])
            .await
            .unwrap();
        out.push_str(&format!("{name}={};", row.get::<_, String>(0)));
    }
    out
}

/// A parent `dbo.P(code)` holding `'ABC'` and a child `dbo.C(id, code)` holding
/// `(1, child_code)` with a trusted foreign key to it, the codes `varchar(10)` under
/// SQL_Latin1_General_CP1_CI_AS (as the catalog stores it): a key SQL Server held under
/// its comparison rules.
pub fn parent_child(name: &str, child_code: &str) -> Arc<MemSource> {
    let ci = mssql_backup::Collation::from_id(0x3400_D008).unwrap();
    let code = |n: &str| not_null(col(n, SqlType::VarChar { len: Some(10), collation: ci.clone() }));
    let mut parent = table("dbo", "P", vec![code("code")]);
    parent.primary_key = Some(key("PK_P", &["code"]));
    let mut child = table("dbo", "C", vec![not_null(col("id", SqlType::Int)), code("code")]);
    child.foreign_keys.push(ForeignKey {
        name: "FK_C_P".into(),
        columns: vec!["code".into()],
        referenced_schema: "dbo".into(),
        referenced_table: "P".into(),
        referenced_columns: vec!["code".into()],
        on_delete: FkAction::NoAction,
        on_update: FkAction::NoAction,
        disabled: false,
        not_trusted: false,
    });
    let rows =
        vec![vec![vec![Value::String("ABC".into())]], vec![vec![Value::Int(1), Value::String(child_code.into())]]];
    MemSource::new(database(name, vec![parent, child]), rows)
}
