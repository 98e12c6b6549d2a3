//! Safety of the target: the loading database, the swap, failures that leave the
//! previous database untouched, and clear failures before anything is written.

use crate::common::*;
use bak2pg::report::Status;
use bak2pg::{ErrorKind, NoProgress, Step};

/// Records progress callbacks.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

impl bak2pg::Progress for Recorder {
    fn step_started(&self, step: Step) {
        self.0.lock().unwrap().push(format!("start {step}"));
    }
    fn step_finished(&self, step: Step, _seconds: f64) {
        self.0.lock().unwrap().push(format!("end {step}"));
    }
    fn table_rows(&self, table: &str, rows: u64) {
        self.0.lock().unwrap().push(format!("rows {table} {rows}"));
    }
    fn table_finished(&self, table: &str, rows: u64) {
        self.0.lock().unwrap().push(format!("done {table} {rows}"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swap_keeps_previous_database_and_replace_drops_it() {
    let name = "t_swap";
    reset(name).await;
    bak2pg::migrate(simple(name, 5), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(databases(name).await, vec![name.to_string()]);

    let progress = Recorder::default();
    let report = bak2pg::migrate(simple(name, 7), &options(name), &progress).await.unwrap_or_else(|e| panic!("{e}"));
    let events = progress.0.lock().unwrap().clone();
    for step in ["preflight", "create_schema", "load_data", "create_constraints", "validate", "swap"] {
        assert!(events.contains(&format!("start {step}")) && events.contains(&format!("end {step}")), "{events:?}");
    }
    assert!(events.contains(&"rows dbo.items 7".to_string()), "{events:?}");
    assert!(events.contains(&"done dbo.items 7".to_string()), "{events:?}");
    let prev = report.target.previous_kept_as.clone().expect("previous kept");
    assert!(prev.starts_with("t_swap__prev_"), "{prev}");
    let dbs = databases(name).await;
    assert_eq!(dbs, vec![name.to_string(), prev.clone()]);
    let n: i64 = connect(name).await.query_one("SELECT count(*) FROM items", &[]).await.unwrap().get(0);
    assert_eq!(n, 7);
    let n: i64 = connect(&prev).await.query_one("SELECT count(*) FROM items", &[]).await.unwrap().get(0);
    assert_eq!(n, 5);

    // Keep two: this run's previous copy and the one before.
    let mut opts = options(name);
    opts.keep_previous = 2;
    let report = bak2pg::migrate(simple(name, 8), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let prev2 = report.target.previous_kept_as.clone().expect("previous kept");
    assert_eq!(report.target.previous_kept, vec![prev2.clone(), prev.clone()], "newest first");
    assert_eq!(databases(name).await.len(), 3);

    // Keep one (the default): the oldest copy goes.
    let report = bak2pg::migrate(simple(name, 8), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let prev3 = report.target.previous_kept_as.clone().expect("previous kept");
    assert_eq!(report.target.previous_kept, vec![prev3.clone()]);
    assert_eq!(report.target.previous_dropped_names, vec![prev2.clone(), prev.clone()]);
    assert_eq!(databases(name).await, vec![name.to_string(), prev3.clone()]);

    // Keep none (`--replace`): the database replaced is dropped, and the older copy too.
    let mut opts = options(name);
    opts.keep_previous = 0;
    let report = bak2pg::migrate(simple(name, 9), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.target.previous_dropped);
    assert_eq!(report.target.previous_kept_as, None);
    assert_eq!(report.target.previous_dropped_names.len(), 2, "{:?}", report.target.previous_dropped_names);
    assert_eq!(databases(name).await, vec![name.to_string()]);
    let n: i64 = connect(name).await.query_one("SELECT count(*) FROM items", &[]).await.unwrap().get(0);
    assert_eq!(n, 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_mid_load_leaves_previous_database_unchanged() {
    let name = "t_midload";
    reset(name).await;
    bak2pg::migrate(simple(name, 50), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let before = fingerprint(name).await;

    let mut src = simple(name, 5000);
    std::sync::Arc::get_mut(&mut src).unwrap().fail_at = Some((0, 3000));
    let err = bak2pg::migrate(src, &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::LoadData);
    assert_eq!(err.kind, ErrorKind::Source);
    assert_eq!(err.table.as_deref(), Some("dbo.items"));
    assert!(err.to_string().contains("fails at row 3001"), "{err}");
    let cause = std::error::Error::source(&err).expect("the source's error as the source");
    assert!(cause.downcast_ref::<bak2pg::source::SourceError>().is_some(), "{cause:?}");
    let report = err.report.as_ref().expect("report attached");
    assert_eq!(report.status, Status::Failed);
    assert_eq!(report.failed_step, Some(Step::LoadData));

    assert_eq!(fingerprint(name).await, before);
    assert_eq!(databases(name).await, vec![name.to_string()], "loading database dropped, nothing else");

    // With keep_failed, the loading database stays for inspection; the target still does not change.
    let mut src = simple(name, 5000);
    std::sync::Arc::get_mut(&mut src).unwrap().fail_at = Some((0, 10));
    let mut opts = options(name);
    opts.keep_failed = true;
    bak2pg::migrate(src, &opts, &NoProgress).await.unwrap_err();
    assert_eq!(databases(name).await, vec![name.to_string(), format!("{name}__loading")]);
    assert_eq!(fingerprint(name).await, before);
}

/// SQL Server's own row count (the catalog's) is evidence independent of the decoder:
/// rows read that differ from it fail validation, though PostgreSQL holds exactly what
/// was sent; the report shows both numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_read_that_differ_from_sql_servers_count_fail_validation() {
    let name = "t_catalog_count";
    reset(name).await;
    let mut src = simple(name, 6);
    std::sync::Arc::get_mut(&mut src).unwrap().db.tables[0].row_count_hint = Some(7);
    let err = bak2pg::migrate(src, &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::Validate);
    assert_eq!(err.kind, ErrorKind::Validation);
    assert!(err.to_string().contains("dbo.items: 6 rows read, SQL Server's catalog counts 7"), "{err}");
    let report = err.report.as_ref().expect("report attached");
    assert_eq!((report.tables[0].rows, report.tables[0].catalog_rows), (6, Some(7)));
    assert_eq!(report.tables[0].status, bak2pg::report::TableStatus::CatalogCountDiffers);
    assert_eq!(report.totals.mismatched, 1);
    assert_eq!(databases(name).await, Vec::<String>::new(), "nothing left behind");

    let mut src = simple(name, 6);
    std::sync::Arc::get_mut(&mut src).unwrap().db.tables[0].row_count_hint = Some(6);
    let report = bak2pg::migrate(src, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.tables[0].catalog_rows, Some(6));
    assert!(report.summary().contains("6 rows (SQL Server: 6)"), "{}", report.summary());
    reset(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_error_names_step_table_and_sqlstate() {
    let name = "t_pgerror";
    reset(name).await;
    bak2pg::migrate(simple(name, 3), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let before = fingerprint(name).await;
    // Duplicate keys: the primary key cannot be created after the load.
    let src = simple(name, 3);
    let mut src = std::sync::Arc::try_unwrap(src).ok().unwrap();
    let dup = src.rows[0][0].clone();
    src.rows[0].push(dup);
    let err = bak2pg::migrate(std::sync::Arc::new(src), &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::CreateConstraints);
    assert_eq!(err.sqlstate.as_deref(), Some("23505"));
    assert_eq!(err.table.as_deref(), Some("dbo.items"));
    assert!(err.to_string().contains("primary_key PK_items"), "{err}");
    assert_eq!(fingerprint(name).await, before);
    assert_eq!(databases(name).await, vec![name.to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn value_refused_by_copy_names_step_table_and_sqlstate() {
    let name = "t_copyerror";
    reset(name).await;
    let src = simple(name, 3);
    let mut src = std::sync::Arc::try_unwrap(src).ok().unwrap();
    // 60 characters for an nvarchar(50) column: PostgreSQL refuses it during COPY.
    src.rows[0][1][1] = mssql_backup::Value::String("x".repeat(60));
    let err = bak2pg::migrate(std::sync::Arc::new(src), &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::LoadData);
    assert_eq!(err.kind, ErrorKind::Postgres);
    assert_eq!(err.table.as_deref(), Some("dbo.items"));
    assert_eq!(err.sqlstate.as_deref(), Some("22001"), "{err}");
    assert!(databases(name).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_on_the_target_block_the_swap_without_being_killed() {
    let name = "t_busy";
    reset(name).await;
    bak2pg::migrate(simple(name, 2), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let other = connect(name).await;
    let err = bak2pg::migrate(simple(name, 4), &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::Swap);
    assert_eq!(err.kind, ErrorKind::Busy);
    assert!(err.to_string().contains("other sessions"), "{err}");
    // The other session is alive, the previous database unchanged, the validated one kept.
    let n: i64 = other.query_one("SELECT count(*) FROM items", &[]).await.unwrap().get(0);
    assert_eq!(n, 2);
    assert_eq!(databases(name).await, vec![name.to_string(), format!("{name}__loading")]);
    drop(other);
    // The next run drops our leftover loading database and succeeds.
    bak2pg::migrate(simple(name, 4), &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loading_database_that_is_not_ours_is_not_dropped() {
    let name = "t_notours";
    reset(name).await;
    connect("postgres").await.batch_execute(&format!("CREATE DATABASE {name}__loading")).await.unwrap();
    let err = bak2pg::migrate(simple(name, 2), &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::CreateSchema);
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert_eq!(databases(name).await, vec![format!("{name}__loading")]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_clearly_before_writing() {
    // A port nothing listens on (bound then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut opts =
        bak2pg::MigrateOptions::new(&format!("postgres://postgres:s3cret@127.0.0.1:{port}/postgres")).unwrap();
    opts.database = Some("t_unreachable".into());
    let err = bak2pg::migrate(simple("t_unreachable", 1), &opts, &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::Preflight);
    assert_eq!(err.kind, ErrorKind::Connect);
    let text = err.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")), "{text}");
    assert!(!text.contains("s3cret"), "{text}");
    // The driver's error is kept as the source, not only as text.
    let cause = std::error::Error::source(&err).expect("the connection error as the source");
    assert!(cause.downcast_ref::<tokio_postgres::Error>().is_some(), "{cause:?}");
    let report = err.report.unwrap();
    assert!(!report.to_json().contains("s3cret"));
    assert!(report.tables.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_without_createdb_fails_before_writing() {
    let name = "t_nocreatedb";
    reset(name).await;
    let admin = connect("postgres").await;
    admin
        .batch_execute(
            "DO $$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bak2pg_nocreatedb') THEN \
             CREATE ROLE bak2pg_nocreatedb LOGIN NOCREATEDB; END IF; END$$",
        )
        .await
        .unwrap();
    let url = pg_url().replacen("postgres://postgres@", "postgres://bak2pg_nocreatedb:pw@", 1);
    let mut opts = bak2pg::MigrateOptions::new(&url).unwrap();
    opts.database = Some(name.into());
    let err = bak2pg::migrate(simple(name, 1), &opts, &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::Preflight);
    assert_eq!(err.kind, ErrorKind::Permission);
    assert!(err.to_string().contains("CREATEDB"), "{err}");
    assert!(!err.to_string().contains(":pw"), "{err}");
    assert!(databases(name).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steps_run_separately_rerun_load_and_detect_a_changed_row() {
    let name = "t_validate";
    reset(name).await;
    let src = simple(name, 20);
    let opts = options(name);
    let db = src.db.clone();
    let (names, facts, plan) = bak2pg::migrate::step_preflight(&db, &opts).await.unwrap();
    bak2pg::migrate::step_create_schema(&opts.target, &names, &plan).await.unwrap();
    // Running the load step twice is safe: each table is emptied in its load transaction.
    bak2pg::migrate::step_load(src.clone(), &plan, &opts.target, &names, opts.tuning, &NoProgress).await.unwrap();
    let loaded = bak2pg::migrate::step_load(src, &plan, &opts.target, &names, opts.tuning, &NoProgress).await.unwrap();
    bak2pg::migrate::step_create_constraints(&db, &plan, &opts.target, &names, facts.version_num).await.unwrap();
    let sent: Vec<_> = loaded.iter().map(|l| l.checksum).collect();
    let mut report = bak2pg::report::Report::new(bak2pg::source::SourceInfo::unknown());
    bak2pg::migrate::report_plan(&mut report, &plan, &db);
    bak2pg::migrate::report_loaded(&mut report, &plan, &loaded);
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    bak2pg::migrate::report_validated(&mut report, &back).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back[0].method, bak2pg::validate::ReadBackMethod::ServerHash, "hashed by the server");
    let c = connect(&names.loading).await;
    // Values swapped between rows: every column holds the same values as before, but the
    // rows are not the rows sent. Then an empty label instead of a NULL one, and back.
    let swap = "UPDATE items SET label = CASE id WHEN 7 THEN 'item 8' ELSE 'item 7' END WHERE id IN (7, 8)";
    c.batch_execute(swap).await.unwrap();
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    assert!(bak2pg::migrate::report_validated(&mut report, &back).is_err(), "values swapped between rows");
    c.batch_execute(&swap.replace("'item 8' ELSE 'item 7'", "'item 7' ELSE 'item 8'")).await.unwrap();
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    bak2pg::migrate::report_validated(&mut report, &back).unwrap_or_else(|e| panic!("swapped back: {e}"));
    c.batch_execute("UPDATE items SET label = 'item X' WHERE id = 7").await.unwrap();
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    let failed = bak2pg::migrate::report_validated(&mut report, &back).expect_err("a changed row");
    assert_eq!(failed.message, "1 tables failed validation: dbo.items: row count or checksum differ");
    assert_eq!(back[0].checksum.rows, 20);
    // Swapping a database is a separate step: the table was changed, so do not.
    reset(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connecting_through_the_target_database_is_refused() {
    let name = "t_selfconnect";
    reset(name).await;
    let mut opts = bak2pg::MigrateOptions::new(&url_for(name)).unwrap();
    opts.database = Some(name.into());
    let err = bak2pg::migrate(simple(name, 1), &opts, &NoProgress).await.unwrap_err();
    assert_eq!(err.step, Step::Preflight);
    assert_eq!(err.kind, ErrorKind::Conflict);
    assert!(databases(name).await.is_empty());
}

/// A PostgreSQL error keeps the driver's error as its source (its text, SQLSTATE and
/// detail are in the message too): the chain a caller walks with `source()`.
#[tokio::test]
async fn a_postgres_error_keeps_the_drivers_error_as_its_source() {
    let c = crate::common::connect("postgres").await;
    let e = c.batch_execute("SELEC 1").await.expect_err("a syntax error");
    let err = bak2pg::target::MigrateError::pg(bak2pg::Step::LoadData, e);
    assert_eq!(err.sqlstate.as_deref(), Some("42601"));
    let source = std::error::Error::source(&err).expect("a source");
    let pg = source.downcast_ref::<tokio_postgres::Error>().expect("the driver's error");
    assert_eq!(pg.code().map(|c| c.code()), Some("42601"));
}

/// A table read in parts on several threads (`LoadTuning::decode_threads`) loads the same
/// rows as one thread: the same counts and checksums per table, SQL Server's counts met,
/// the same lossy conversions counted. TSQLV4's dbo.Nums (100 000 rows) is split into
/// three parts here by lowering the threshold.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_read_in_parts_loads_the_same_rows_as_one_reader() {
    let p = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak"))
        .join("tsqlv4-sql2016-compressed.bak");
    let source = std::sync::Arc::new(
        bak2pg::source::native::NativeSource::open(&[p.as_path()], mssql_backup::OpenOptions::default())
            .unwrap_or_else(|e| panic!("{e}")),
    );
    // What makes the load split dbo.Nums: an engine that splits, a count over the threshold.
    use bak2pg::source::Source as _;
    assert!(source.splits_tables());
    let nums = source.database().tables.iter().find(|t| t.schema == "dbo" && t.name == "Nums").expect("dbo.Nums");
    assert!(nums.row_count_hint.unwrap_or(0) >= 1_000);
    let mut reports = Vec::new();
    for (name, threads) in [("t_parts_1", 1), ("t_parts_3", 3)] {
        reset(name).await;
        let mut opts = options(name);
        opts.tuning.decode_threads = threads;
        opts.tuning.split_from_rows = 1_000;
        let report = bak2pg::migrate(source.clone(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report.status, Status::Passed, "{threads} threads");
        reports.push(report);
        reset(name).await;
    }
    let numbers = |r: &bak2pg::report::Report| -> Vec<_> {
        r.tables
            .iter()
            .map(|t| (t.source.clone(), t.rows, t.catalog_rows, t.source_checksum, t.target_checksum))
            .collect()
    };
    assert_eq!(numbers(&reports[0]), numbers(&reports[1]));
    let nums = reports[1].tables.iter().find(|t| t.source == "dbo.Nums").expect("dbo.Nums");
    assert_eq!((nums.rows, nums.catalog_rows), (100_000, Some(100_000)));
    assert_eq!(reports[0].conversions, reports[1].conversions);
}
