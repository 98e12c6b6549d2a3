//! Live tests of the `sqlserver` engine against a real SQL Server (2019 or later; 2022
//! recommended). They are `#[ignore]`d, so a plain `cargo test` reports them as ignored
//! (skipped), never as passed; `scripts/test-mssql` runs them with `--ignored` when
//! `BAK2PG_TEST_MSSQL` names a server, and fails them when it does not.
//!
//! Environment:
//! - `BAK2PG_TEST_MSSQL`: `mssql://sa@HOST:1433?trust_server_certificate=true` (see the
//!   README's "sqlserver engine" section), with the password in `MSSQL_PASSWORD`;
//! - `BAK2PG_TEST_MSSQL_BACKUP_DIR`: a directory on this machine that the server reads and
//!   writes (default `/var/opt/mssql/backup`), and `BAK2PG_TEST_MSSQL_SERVER_BACKUP_DIR`
//!   the same directory as the server sees it (default: the same path);
//! - `BAK2PG_TEST_MSSQL_BACKUP_OWNER`: owner for the copies (default `mssql` when that user
//!   exists here, else none).
//!
//! What they check: every fixture the native reader reads whole is restored and must give
//! the same schema model and the same rows (`Value` for `Value`) and per-table checksums
//! as the native reader; a database built on the server with every type and edge value
//! and hostile logical file names, backed up `WITH CHECKSUM`, must read the same through
//! both engines; the restored database is dropped unless kept; a wrong password is
//! reported without the password.

use std::path::{Path, PathBuf};

use bak2pg::checksum::{RowHasher, TableChecksum};
use bak2pg::ddl::{self, PlanOptions};
use bak2pg::schema::Database;
use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::source::sqlserver::{self, BackupDir, MssqlConfig, RestoreOptions, Secret, SqlServerSource};
use bak2pg::typemap::{self, ColumnConversions};
use mssql_backup::OpenOptions;
use mssql_backup::value::DecodeStats;

struct Live {
    config: MssqlConfig,
    dir: BackupDir,
}

fn live() -> Live {
    let url = std::env::var("BAK2PG_TEST_MSSQL")
        .expect("BAK2PG_TEST_MSSQL is not set: these tests need a SQL Server (see scripts/test-mssql)");
    let mut config = MssqlConfig::from_url(&url).expect("BAK2PG_TEST_MSSQL");
    config.apply_env_options(&|k: &str| std::env::var(k).ok()).expect("MSSQL_* variables");
    let local = std::env::var("BAK2PG_TEST_MSSQL_BACKUP_DIR").unwrap_or_else(|_| "/var/opt/mssql/backup".into());
    let server = std::env::var("BAK2PG_TEST_MSSQL_SERVER_BACKUP_DIR").unwrap_or_else(|_| local.clone());
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let owner = match std::env::var("BAK2PG_TEST_MSSQL_BACKUP_OWNER") {
        Ok(o) if o.eq_ignore_ascii_case("none") => None,
        Ok(o) => Some(o),
        Err(_) => sqlserver::place::lookup_user(&passwd, "mssql").map(|_| "mssql".to_string()),
    };
    Live { config, dir: BackupDir { local: PathBuf::from(local), server, owner } }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn fixtures() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bak");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "bak"))
        .collect();
    v.sort();
    v
}

/// Every table's rows, each row's values printed, sorted (rows come in no order).
fn all_rows(source: &dyn Source) -> Vec<(String, Vec<String>, Vec<DecodeStats>)> {
    let mut out = Vec::new();
    for t in &source.database().tables {
        let mut r = source.rows(t).unwrap_or_else(|e| panic!("{}.{}: {e}", t.schema, t.name));
        let mut rows = Vec::new();
        while let Some(row) = r.next_row().unwrap_or_else(|e| panic!("{}.{}: {e}", t.schema, t.name)) {
            rows.push(format!("{row:?}"));
        }
        rows.sort();
        out.push((format!("{}.{}", t.schema, t.name), rows, r.decode_stats()));
    }
    out
}

/// The per-table checksums the loader would compute from this source's rows (same
/// conversion, same canonical text, same hashing; see `load::encode_table`).
fn checksums(source: &dyn Source, skip: &[&str]) -> Vec<TableChecksum> {
    let plan =
        ddl::plan(source.database(), &PlanOptions { load_unknown_as_bytea: true, ..Default::default() }).unwrap();
    let mut out = Vec::new();
    for tp in &plan.tables {
        let t = &source.database().tables[tp.index];
        if skip.contains(&t.name.as_str()) {
            continue;
        }
        let mut r = source.rows(t).unwrap();
        let mut conv = vec![ColumnConversions::default(); tp.columns.len()];
        let mut h = RowHasher::new();
        let mut sum = TableChecksum::default();
        while let Some(row) = r.next_row().unwrap() {
            for (i, v) in row.iter().enumerate() {
                let cp = &tp.columns[i];
                if cp.compared() {
                    let c = typemap::convert(v, &cp.pg_type, &mut conv[i]).unwrap();
                    h.push_value(&c.value, &cp.pg_type);
                }
            }
            sum.add_row(h.finish());
        }
        out.push(sum);
    }
    out
}

/// The model without what is an estimate (`row_count_hint`: `sysrowsets.rcrows` in the
/// backup, `sys.partitions.rows` after a restore that ran recovery).
fn comparable(db: &Database) -> Database {
    let mut db = db.clone();
    for t in &mut db.tables {
        t.row_count_hint = None;
    }
    db
}

/// Asserts that both engines give the same model, rows, lossy-decoding counts and
/// checksums; the tables named in `skip` are left out of the row comparisons.
fn assert_same(native: &dyn Source, sql: &dyn Source, what: &str, skip: &[&str]) {
    let (a, b) = (comparable(native.database()), comparable(sql.database()));
    for (x, y) in a.tables.iter().zip(&b.tables) {
        assert_eq!(x, y, "{what}: table {}.{} differs between the engines", x.schema, x.name);
    }
    assert_eq!(a, b, "{what}: schema models differ");
    let (ra, rb) = (all_rows(native), all_rows(sql));
    for ((ta, rows_a, st_a), (tb, rows_b, st_b)) in ra.iter().zip(&rb) {
        assert_eq!(ta, tb);
        if skip.iter().any(|s| ta.ends_with(&format!(".{s}"))) {
            continue;
        }
        assert_eq!(rows_a.len(), rows_b.len(), "{what}: {ta}: row counts differ");
        for (x, y) in rows_a.iter().zip(rows_b) {
            assert_eq!(x, y, "{what}: {ta}: first differing row (sorted)");
        }
        assert_eq!(st_a, st_b, "{what}: {ta}: lossy-decoding counters differ");
    }
    assert_eq!(checksums(native, skip), checksums(sql, skip), "{what}: checksums differ");
    let (ia, ib) = (native.info(), sql.info());
    assert_eq!(
        (ia.database, ia.server, ia.sql_version, ia.db_version),
        (ib.database, ib.server, ib.sql_version, ib.db_version)
    );
}

/// The document's tree, one line per node (elements with their namespace and sorted
/// attributes, text, comments, processing instructions): what two serialisations of one
/// document share.
fn xml_tree(x: &str) -> String {
    let wrapped = format!("<bak2pg-wrapper>{x}</bak2pg-wrapper>");
    let doc = roxmltree::Document::parse(&wrapped).unwrap_or_else(|e| panic!("{e}: {x}"));
    let mut out = String::new();
    for n in doc.root().descendants() {
        let depth = n.ancestors().count();
        let line = match n.node_type() {
            roxmltree::NodeType::Element => {
                let mut attrs: Vec<String> = n
                    .attributes()
                    .map(|a| format!("{{{}}}{}={:?}", a.namespace().unwrap_or(""), a.name(), a.value()))
                    .collect();
                attrs.sort();
                format!("<{{{}}}{} {}>", n.tag_name().namespace().unwrap_or(""), n.tag_name().name(), attrs.join(" "))
            }
            roxmltree::NodeType::Text => format!("text {:?}", n.text().unwrap_or("")),
            roxmltree::NodeType::Comment => format!("comment {:?}", n.text().unwrap_or("")),
            roxmltree::NodeType::PI => format!("pi {:?}", n.pi().map(|p| (p.target, p.value))),
            roxmltree::NodeType::Root => continue,
        };
        out.push_str(&format!("{depth} {line}\n"));
    }
    out
}

async fn scalar_i64(config: &MssqlConfig, db: Option<&str>, sql: &str) -> Option<i64> {
    let mut c = sqlserver::connect(config, db).await.unwrap();
    let row = c.simple_query(sql).await.unwrap().into_row().await.unwrap()?;
    row.get::<i32, _>(0).map(i64::from)
}

async fn exec(config: &MssqlConfig, db: Option<&str>, sql: &str) {
    let mut c = sqlserver::connect(config, db).await.unwrap();
    c.simple_query(sql)
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"))
        .into_results()
        .await
        .unwrap_or_else(|e| panic!("{e}\n{sql}"));
}

#[test]
#[ignore = "needs BAK2PG_TEST_MSSQL (a SQL Server to restore into); run scripts/test-mssql"]
fn fixtures_read_the_same_through_both_engines() {
    let live = live();
    let rt = runtime();
    let mut compared = Vec::new();
    let mut refused = Vec::new();
    for path in fixtures() {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Ok(native) = NativeSource::open(&[path.as_path()], OpenOptions::default()) else { continue };
        if !native.unsupported_features().is_empty() {
            continue;
        }
        let opts = RestoreOptions { backup_dir: live.dir.clone(), ..Default::default() };
        let sql = match rt.block_on(SqlServerSource::restore(live.config.clone(), &[path.as_path()], opts)) {
            Ok(s) => s,
            // SQL Server 2016 and later restore backups of 2008 and later only (error 3169).
            // SQL Server's own answer arrives as SourceError::SqlServer (with tiberius' error
            // as its source); match the text whatever the variant.
            Err(e)
                if e.to_string().contains("error 3169")
                    && native.backup().description().header.database_version < 655 =>
            {
                refused.push(name);
                continue;
            }
            Err(e) => panic!("{name}: {e}"),
        };
        let restored_as = sql.facts().restored_as.clone();
        assert_same(&native, &sql, &name, &[]);
        rt.block_on(sql.close()).unwrap();
        let present = rt.block_on(scalar_i64(
            &live.config,
            None,
            &format!("SELECT CASE WHEN DB_ID(N'{restored_as}') IS NULL THEN 0 ELSE 1 END"),
        ));
        assert_eq!(present, Some(0), "{name}: the restored database was not dropped");
        compared.push(name);
    }
    eprintln!("compared through both engines: {compared:?}; refused by this server as too old: {refused:?}");
    assert!(compared.len() >= 10, "only {} fixtures compared", compared.len());
}

/// A database with every type and edge values, hostile logical file names, backed up on
/// the server `WITH CHECKSUM` into the shared directory, read by both engines.
#[test]
#[ignore = "needs BAK2PG_TEST_MSSQL (a SQL Server to restore into); run scripts/test-mssql"]
fn every_type_reads_the_same_through_both_engines() {
    let live = live();
    let rt = runtime();
    let db = format!("bak2pg_t_{}", sqlserver::place::fresh_hex());
    let bak_name = format!("{db}.bak");
    let server_bak = sqlserver::tsql::join_server_path(&live.dir.server, &bak_name);
    let local_bak = live.dir.local.join(&bak_name);
    let cfg = live.config.clone();
    rt.block_on(async {
        let mut c = sqlserver::connect(&cfg, None).await.unwrap();
        let row = c
            .simple_query("SELECT CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(4000))")
            .await
            .unwrap()
            .into_row()
            .await
            .unwrap()
            .unwrap();
        let data: String = row.get::<&str, _>(0).unwrap().to_string();
        let f = |n: &str| sqlserver::tsql::join_server_path(&data, &format!("{db}_{n}"));
        exec(
            &cfg,
            None,
            &format!(
                "CREATE DATABASE [{db}] ON PRIMARY (NAME = N'evil''] /..\\x', FILENAME = N'{}') \
                 LOG ON (NAME = N'log; DROP DATABASE master --', FILENAME = N'{}')",
                f("a.mdf"),
                f("b.ldf")
            ),
        )
        .await;
    });
    let setup = "CREATE TABLE dbo.[all types] (id int NOT NULL PRIMARY KEY, b bit, ti tinyint, si smallint, i int, bi bigint, \
         r real, f float, d decimal(38,10), n numeric(5,2), m money, sm smallmoney, \
         c char(10) COLLATE Latin1_General_CI_AS, vc varchar(50) COLLATE French_CI_AS, vcm varchar(max), \
         u8 varchar(60) COLLATE Latin1_General_100_CI_AS_SC_UTF8, vn varchar(20) COLLATE Vietnamese_CI_AS, t text, \
         nc nchar(5), nvc nvarchar(50), nvcm nvarchar(max), nt ntext, bin binary(4), vb varbinary(20), vbm varbinary(max), \
         img image, g uniqueidentifier, dt date, tm time(7), tm0 time(0), dt2 datetime2(7), dt23 datetime2(3), \
         dto datetimeoffset(7), dto0 datetimeoffset(0), sdt smalldatetime, dtm datetime, rv rowversion, \
         h hierarchyid, geo geometry, geog geography, comp AS (i * 2), compp AS (i + 1) PERSISTED);\n\
         INSERT dbo.[all types] (id) VALUES (1);\n\
         INSERT dbo.[all types] (id, b, ti, si, i, bi, r, f, d, n, m, sm, c, vc, vcm, u8, vn, t, nc, nvc, nvcm, nt, bin, vb, vbm, img, g, \
           dt, tm, tm0, dt2, dt23, dto, dto0, sdt, dtm, h, geo, geog) VALUES \
         (2, 0, 0, -32768, -2147483648, -9223372036854775808, -3.4e38, -1.79e308, \
           -9999999999999999999999999999.9999999999, -999.99, -922337203685477.5808, -214748.3648, \
           '', '', '', '', '', '', N'', N'', N'', N'', 0x00, 0x, 0x, 0x, '00000000-0000-0000-0000-000000000000', \
           '0001-01-01', '00:00:00', '00:00:00', '0001-01-01T00:00:00', '0001-01-01T00:00:00', \
           '0001-01-01T00:00:00-14:00', '0001-01-02T00:00:00+14:00', '1900-01-01T00:00', '1753-01-01T00:00:00', \
           hierarchyid::GetRoot(), geometry::STGeomFromText('POINT (1 2)', 0), geography::Point(47.6, -122.3, 4326)),\n\
         (3, 1, 255, 32767, 2147483647, 9223372036854775807, 3.4e38, 1.79e308, \
           9999999999999999999999999999.9999999999, 999.99, 922337203685477.5807, 214748.3647, \
           'Gaspé', 'Québec «œ»', REPLICATE(CAST('x' AS varchar(max)), 100000), N'Ωmega 😀 ễ', N'Nguyễn Thị', \
           REPLICATE(CAST('t' AS varchar(max)), 20000), N'ab', N'Nguyễn Thị Thanh Xuân' + NCHAR(0xD800), \
           REPLICATE(CAST(N'ễ' AS nvarchar(max)), 70000), REPLICATE(CAST(N'n' AS nvarchar(max)), 9000), 0xCAFEBABE, \
           0x0102030405, CAST(REPLICATE(CAST('b' AS varchar(max)), 50000) AS varbinary(max)), 0xFFD8FFE0, \
           '6F9619FF-8B86-D011-B42D-00C04FC964FF', '9999-12-31', '23:59:59.9999999', '23:59:59', \
           '9999-12-31T23:59:59.9999999', '2020-02-29T12:34:56.789', '2007-05-08T12:35:29.1234567-08:00', \
           '9999-12-31T23:59:59+05:30', '2079-06-06T23:59', '9999-12-31T23:59:59.997', \
           CAST('/1/2.5/3/' AS hierarchyid), geometry::STGeomFromText('LINESTRING (0 0, 1 1, 2 5)', 0), \
           geography::STGeomFromText('POLYGON((-122.358 47.653, -122.348 47.649, -122.348 47.658, -122.358 47.653))', 4326));\n\
         INSERT dbo.[all types] (id, dtm, sdt, tm, dt2, r, f) SELECT 100 + n, DATEADD(ms, 3 * n + (n % 3), '2001-09-25T05:39:26'), \
           DATEADD(minute, n, '1926-11-22T11:23'), DATEADD(ns, 100 * n, CAST('11:22:33.1234567' AS time(7))), \
           DATEADD(ns, 100 * n, CAST('2000-01-01' AS datetime2(7))), 1.0 / (n + 1), 1.0e0 / (n + 3) \
           FROM (SELECT TOP (300) ROW_NUMBER() OVER (ORDER BY (SELECT NULL)) AS n FROM sys.all_objects) AS x;\n\
         CREATE TABLE dbo.variants (id int NOT NULL PRIMARY KEY, v sql_variant);\n\
         INSERT dbo.variants VALUES (1, NULL), (2, CAST(1 AS int)), (3, CAST(200 AS tinyint)), (4, CAST(-3 AS smallint)), \
           (5, CAST(-9223372036854775808 AS bigint)), (6, CAST(1 AS bit)), (7, CAST(0.1 AS real)), (8, CAST(-1e300 AS float)), \
           (9, CAST(-922337203685477.5808 AS money)), (10, CAST(1.5 AS smallmoney)), (11, CAST(-12.340 AS decimal(10,3))), \
           (12, CAST(0.5 AS numeric(38,38))), (13, CAST('ab' AS char(3))), (14, CAST('Québec' AS varchar(10)) COLLATE French_CI_AS), \
           (15, CAST(N'ễ' AS nchar(2))), (16, CAST(N'Ωmega' AS nvarchar(260))), (17, CAST(0xCAFE AS binary(3))), \
           (18, CAST(0x01 AS varbinary(8))), (19, CAST('6F9619FF-8B86-D011-B42D-00C04FC964FF' AS uniqueidentifier)), \
           (20, CAST('2028-09-09' AS date)), (21, CAST('11:22:33.123' AS time(3))), (22, CAST('2000-01-01T01:02:03.4' AS datetime2(1))), \
           (23, CAST('2007-05-08T12:35:29-08:00' AS datetimeoffset(0))), (24, CAST('1996-07-04T10:00:00.003' AS datetime)), \
           (25, CAST('2079-06-06T23:59' AS smalldatetime)), (26, CAST(9999999999999999999999999999999999999.9 AS decimal(38,1)));\n\
         CREATE TABLE dbo.xml_docs (id int NOT NULL PRIMARY KEY, x xml);\n\
         INSERT dbo.xml_docs VALUES (1, N'<r a=\"1\">text &amp; more<e/><f></f></r>'), (2, NULL), (3, N'<?pi x?><!--c--><a xmlns=\"urn:x\"><b>1</b></a>');\n\
         CHECKPOINT;";
    rt.block_on(exec(&cfg, Some(&db), setup));
    rt.block_on(exec(
        &cfg,
        None,
        &format!("BACKUP DATABASE [{db}] TO DISK = N'{server_bak}' WITH INIT, FORMAT, CHECKSUM, NO_COMPRESSION"),
    ));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let native = NativeSource::open(&[local_bak.as_path()], OpenOptions::default()).unwrap();
        assert!(native.unsupported_features().is_empty(), "{:?}", native.unsupported_features());
        let opts = RestoreOptions { backup_dir: live.dir.clone(), keep_restored: true, ..Default::default() };
        let sql = rt.block_on(SqlServerSource::restore(cfg.clone(), &[local_bak.as_path()], opts)).unwrap();
        assert!(sql.facts().checksum, "the backup has checksums: RESTORE … WITH CHECKSUM");
        let logical: Vec<&str> = sql.facts().moves.iter().map(|(l, _)| l.as_str()).collect();
        assert_eq!(logical, ["evil'] /..\\x", "log; DROP DATABASE master --"]);
        for (_, target) in &sql.facts().moves {
            let file = target.rsplit(['/', '\\']).next().unwrap();
            assert!(file.starts_with(&sql.facts().restored_as) && !file.contains(['\'', ' ', ';']), "{target}");
        }
        // Everything but xml: Value for Value.
        let tables = |s: &dyn Source| -> Vec<String> { s.database().tables.iter().map(|t| t.name.clone()).collect() };
        assert_eq!(tables(&native), ["all types", "variants", "xml_docs"]);
        assert_same(&native, &sql, "every type", &["xml_docs"]);
        // xml: SQL Server hands out its own serialisation of the document, the native
        // reader serialises the binary XML itself; the documents must be the same.
        let docs = |s: &dyn Source| -> Vec<Option<String>> {
            let t = s.database().table("dbo", "xml_docs").unwrap();
            let mut r = s.rows(t).unwrap();
            let mut v = Vec::new();
            while let Some(row) = r.next_row().unwrap() {
                let mssql_backup::Value::Int(id) = row[0] else { panic!("{row:?}") };
                v.push((
                    id,
                    match &row[1] {
                        mssql_backup::Value::Xml(x) => Some(xml_tree(x)),
                        mssql_backup::Value::Null => None,
                        other => panic!("{other:?}"),
                    },
                ));
            }
            v.sort();
            v.into_iter().map(|(_, x)| x).collect()
        };
        assert_eq!(docs(&native), docs(&sql), "xml documents differ");
        // Kept: still there after close; then dropped by hand.
        let restored_as = sql.facts().restored_as.clone();
        rt.block_on(sql.close()).unwrap();
        drop(sql);
        let q = format!("SELECT CASE WHEN DB_ID(N'{restored_as}') IS NULL THEN 0 ELSE 1 END");
        assert_eq!(rt.block_on(scalar_i64(&cfg, None, &q)), Some(1), "--keep-restored kept the database");
        rt.block_on(exec(&cfg, None, &format!("DROP DATABASE [{restored_as}]")));
    }));
    rt.block_on(exec(&cfg, None, &format!("DROP DATABASE [{db}]")));
    let _ = std::fs::remove_file(&local_bak);
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}

#[test]
#[ignore = "needs BAK2PG_TEST_MSSQL (a SQL Server to restore into); run scripts/test-mssql"]
fn a_wrong_password_is_reported_without_it() {
    let live = live();
    let rt = runtime();
    let cfg = live.config.clone().with_password(Secret::new("not-the-password-Zq81"));
    let e = rt.block_on(sqlserver::connect(&cfg, None)).map(|_| ()).unwrap_err().to_string();
    assert!(e.contains("18456"), "{e}");
    assert!(!e.contains("Zq81"), "{e}");
    // A failed restore leaves no copy behind and no database.
    let before: Vec<_> = std::fs::read_dir(&live.dir.local).unwrap().map(|e| e.unwrap().file_name()).collect();
    let path = fixtures().into_iter().find(|p| p.ends_with("hotel-management-time-sql2017.bak")).unwrap();
    let opts = RestoreOptions { backup_dir: live.dir.clone(), ..Default::default() };
    assert!(rt.block_on(SqlServerSource::restore(cfg, &[path.as_path()], opts)).is_err());
    let after: Vec<_> = std::fs::read_dir(&live.dir.local).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after);
}
