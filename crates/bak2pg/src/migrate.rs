//! The migration entry point ([`migrate`]) and its steps, each callable on its own (the
//! pipeline runs them as separate steps): [`step_preflight`], [`step_create_schema`],
//! [`step_load`], [`step_create_constraints`], [`step_validate`], [`step_swap`].
//!
//! Order and safety: everything is built in `<name>__loading`; keys, indexes and
//! constraints come after the data; the swap happens only when every table's row count
//! and checksum match. A failure at any step leaves `<name>` untouched, names the step,
//! and (unless `keep_failed`) drops the loading database — except a failed swap, which
//! keeps the validated loading database.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use crate::checksum::TableChecksum;
use crate::ddl::{self, OnFailure, Plan, PlanOptions, TablePlan, Untranslated, quote_ident};
use crate::load::{self, LoadTuning, LoadedTable};
use crate::report::{
    ConversionReport, NotMigrated, ObjectReport, Report, SpecialColumn, Status, Step, StepTiming, TableReport,
    TableStatus,
};
use crate::schema::Database;
use crate::source::Source;
use crate::spatial::PostgisMode;
use crate::target::{
    self, ErrorKind, MigrateError, Names, PostgisStatus, RunLock, ServerFacts, SwapOutcome, Target, pg_message,
};
use crate::typemap::MappingNote;
use crate::validate::{self, ReadBack};

pub use crate::progress::{NoProgress, Progress};

/// What to migrate where, and how.
#[derive(Debug, Clone)]
pub struct MigrateOptions {
    /// The PostgreSQL server (its URL's database is the maintenance database).
    pub target: Target,
    /// Final database name; the source database's name when `None`.
    pub database: Option<String>,
    /// How many previous copies (`<name>__prev_<UTC>`, ours) to keep after the swap; the
    /// older ones are dropped. 0 drops the database replaced (`--replace`). Default 1.
    pub keep_previous: u32,
    /// Keep `<name>__loading` after a failure, for inspection.
    pub keep_failed: bool,
    /// Naming and type options.
    pub plan: PlanOptions,
    /// Parallelism and buffer sizes.
    pub tuning: LoadTuning,
    /// `--schema-only`: create tables, keys and constraints, load no rows (every table is
    /// validated empty, then swapped in as usual).
    pub schema_only: bool,
    /// `--data-only`: the rows into the tables of the existing `<name>`, through a copy of
    /// it built and validated as `<name>__loading` (see [`crate::data_only`]).
    pub data_only: bool,
}

impl MigrateOptions {
    /// Options with defaults for the server at `url`.
    ///
    /// # Errors
    /// An unparsable URL (message redacted).
    pub fn new(url: &str) -> Result<Self, MigrateError> {
        Ok(MigrateOptions {
            target: Target::parse(url)?,
            database: None,
            keep_previous: 1,
            keep_failed: false,
            plan: PlanOptions::default(),
            tuning: LoadTuning::default(),
            schema_only: false,
            data_only: false,
        })
    }

    /// The target names for `db`.
    ///
    /// # Errors
    /// A name too long for PostgreSQL.
    pub fn names(&self, db: &Database) -> Result<Names, MigrateError> {
        Names::new(self.database.as_deref().unwrap_or(&db.name))
    }
}

/// Step 1: plans names and types and checks the server. Writes nothing.
///
/// # Errors
/// Unmappable types ([`ErrorKind::Conversion`]), a mapping file that does not fit the
/// backup ([`ErrorKind::Config`]), unreachable server, old server, missing CREATEDB, a
/// name too long.
pub async fn step_preflight(db: &Database, opts: &MigrateOptions) -> Result<(Names, ServerFacts, Plan), MigrateError> {
    let names = opts.names(db)?;
    let plan_of = |o: &PlanOptions| {
        ddl::plan(db, o).map_err(|e| {
            let kind = match e {
                ddl::PlanError::Mapping(_) => ErrorKind::Config,
                ddl::PlanError::Unmappable(_) => ErrorKind::Conversion,
            };
            MigrateError::new(Step::Preflight, kind, e.to_string())
        })
    };
    let mut plan = plan_of(&opts.plan)?;
    let facts = target::preflight(&opts.target, &names).await?;
    // `--postgis auto` planned PostGIS types; without PostGIS in the target the same
    // columns are planned as bytea (report_postgis says why).
    if plan.needs_postgis() && !matches!(facts.postgis, PostgisStatus::Available { .. }) {
        plan = plan_of(&PlanOptions { postgis: PostgisMode::Off, ..opts.plan.clone() })?;
    }
    Ok((names, facts, plan))
}

/// Step 2: creates `<name>__loading` (dropping a leftover one of ours), its schemas,
/// its collations (`--case-insensitive icu`), the tables and their comments (from
/// `MS_Description`) (columns, NOT NULL, identities, generated
/// columns; no keys yet).
///
/// # Errors
/// PostgreSQL errors naming the table; a `<name>__loading` that is not ours.
pub async fn step_create_schema(target: &Target, names: &Names, plan: &Plan) -> Result<(), MigrateError> {
    let step = Step::CreateSchema;
    let m = target.connect(step, target.maintenance_db()).await?;
    target::create_loading(target, &m, names).await?;
    drop(m);
    let c = target.connect(step, &names.loading).await?;
    if plan.needs_postgis() {
        // The types the tables use. Preflight checked that the role may create it.
        c.batch_execute("CREATE EXTENSION IF NOT EXISTS postgis")
            .await
            .map_err(|e| MigrateError::pg(step, e).object("extension postgis"))?;
    }
    // Schemas, then tables, in one pipeline (see `target::pipelined`): the first failure
    // in that order is reported, naming its table.
    let schemas = ddl::create_schema_statements(plan);
    let tables: Vec<String> = plan.tables.iter().map(ddl::create_table_statement).collect();
    let outcomes = target::pipelined(schemas.iter().chain(&tables).map(|sql| c.batch_execute(sql)).collect()).await;
    for (k, outcome) in outcomes.into_iter().enumerate() {
        if let Err(e) = outcome {
            let err = MigrateError::pg(step, e);
            return Err(match k.checked_sub(schemas.len()) {
                Some(t) => err.table(plan.tables[t].source_display()),
                None => err,
            });
        }
    }
    // Comments (SQL Server's MS_Description), once their tables exist.
    let outcomes = target::pipelined(plan.comments.iter().map(|sql| c.batch_execute(sql)).collect()).await;
    for (sql, outcome) in plan.comments.iter().zip(outcomes) {
        outcome.map_err(|e| MigrateError::pg(step, e).object(sql.chars().take(120).collect::<String>()))?;
    }
    crate::faults::pause("schema_created");
    Ok(())
}

/// Step 3: loads every table (binary COPY, `tuning.jobs` at a time, each table in one
/// transaction that first empties it, so the step can be re-run); `bak2pg.rejected_values`
/// is created for values kept aside and dropped again when none was.
///
/// # Errors
/// The first table's failure (source, conversion or PostgreSQL).
pub async fn step_load(
    source: Arc<dyn Source>,
    plan: &Plan,
    target: &Target,
    names: &Names,
    tuning: LoadTuning,
    progress: &dyn Progress,
) -> Result<Vec<LoadedTable>, MigrateError> {
    let c = target.connect(Step::LoadData, &names.loading).await?;
    for sql in load::own_schema_statements() {
        c.batch_execute(&sql).await.map_err(|e| MigrateError::pg(Step::LoadData, e))?;
    }
    let loaded = load::load_tables(source, &plan.tables, target, &names.loading, tuning, progress).await?;
    if loaded.iter().all(|t| t.rejected == 0) {
        c.batch_execute(&format!("DROP SCHEMA {} CASCADE", quote_ident(ddl::OWN_SCHEMA)))
            .await
            .map_err(|e| MigrateError::pg(Step::LoadData, e))?;
    }
    Ok(loaded)
}

/// Step 4: defaults, primary keys, unique constraints, indexes, foreign keys, checks,
/// then identities restarted after the loaded values. Returns what was not translated
/// or only partly (NOT VALID constraints, defaults PostgreSQL refused…).
///
/// # Errors
/// A primary key, unique constraint or index PostgreSQL refuses (the data would not
/// match its schema), naming the table and object with the SQLSTATE.
pub async fn step_create_constraints(
    db: &Database,
    plan: &Plan,
    target: &Target,
    names: &Names,
    server_version_num: i32,
) -> Result<Vec<Untranslated>, MigrateError> {
    let step = Step::CreateConstraints;
    let c = target.connect(step, &names.loading).await?;
    let (statements, mut untranslated) = ddl::post_load_statements(db, plan, server_version_num);
    // One pipeline (see `target::pipelined`): the server runs the statements in their
    // order, keys before the foreign keys that need them, each in its own transaction;
    // the outcomes are then handled in that order. A statement after a fatal one has run
    // too, harmlessly: the loading database is dropped after a failure.
    let outcomes = target::pipelined(statements.iter().map(|st| c.batch_execute(&st.sql)).collect()).await;
    for (st, outcome) in statements.iter().zip(outcomes) {
        let tp = &plan.tables[st.table];
        let Err(e) = outcome else { continue };
        let (msg, code) = pg_message(&e);
        let note = |action: &str, reason: String| Untranslated {
            kind: st.kind.clone(),
            table: tp.source_display(),
            object: st.object.clone(),
            definition: st.definition.clone(),
            action: action.into(),
            reason,
        };
        match &st.on_failure {
            OnFailure::Fail => {
                return Err(MigrateError::pg(step, e)
                    .table(tp.source_display())
                    .object(format!("{} {}", st.kind, st.object)));
            }
            OnFailure::Report => untranslated.push(note("not created", msg)),
            OnFailure::FailIfViolated { sqlstate, violators, retry } if code.as_deref() == Some(sqlstate.as_str()) => {
                let sample = c.query_opt(violators.as_str(), &[]).await.map_err(|e| {
                    MigrateError::pg(step, e).table(tp.source_display()).object(format!("{} {}", st.kind, st.object))
                })?;
                if let Some(row) = sample {
                    let key: Option<String> = row.get(0);
                    let translated = match &st.definition {
                        Some(d) => format!(", or the translation of {d} does not mean in PostgreSQL what it did"),
                        None => String::new(),
                    };
                    return Err(MigrateError::new(
                        step,
                        ErrorKind::Validation,
                        format!(
                            "{} {} was trusted by SQL Server (checked on every row it held), but the row with key {} violates it: the rows read differ from SQL Server's{translated} ({msg})",
                            st.kind,
                            st.object,
                            key.as_deref().unwrap_or("?"),
                        ),
                    )
                    .table(tp.source_display())
                    .object(format!("{} {}", st.kind, st.object)));
                }
                match c.batch_execute(retry).await {
                    Ok(()) => untranslated.push(note(
                        "created NOT VALID (existing rows were not checked)",
                        format!(
                            "every row satisfies it under SQL Server's comparison rules (trailing spaces, case) but not under PostgreSQL's: {msg}"
                        ),
                    )),
                    Err(e2) => untranslated.push(note("not created", pg_message(&e2).0)),
                }
            }
            OnFailure::FailIfViolated { .. } => untranslated.push(note("not created", msg)),
        }
    }
    // Identities: continue after the largest value loaded (or SQL Server's last value).
    // The extremes of every identity column in one pipeline, then the restarts in another.
    let identities: Vec<(&TablePlan, &ddl::ColumnPlan, &mssql_backup::schema::Column, i64, i64)> = plan
        .tables
        .iter()
        .map(|tp| (tp, &db.tables[tp.index]))
        .flat_map(|(tp, t)| tp.columns.iter().zip(&t.columns).map(move |(cp, col)| (tp, cp, col)))
        .filter_map(|(tp, cp, col)| cp.identity.map(|(seed, inc)| (tp, cp, col, seed, inc)))
        .collect();
    let queries: Vec<String> = identities
        .iter()
        .map(|(tp, cp, ..)| {
            let qc = quote_ident(&cp.name);
            format!("SELECT max({qc})::bigint, min({qc})::bigint FROM {}", tp.qualified())
        })
        .collect();
    let extremes = target::pipelined(queries.iter().map(|q| c.simple_query(q)).collect()).await;
    let mut restarts = Vec::new();
    for ((tp, cp, col, seed, inc), rows) in identities.iter().zip(extremes) {
        let rows = rows.map_err(|e| MigrateError::pg(step, e).table(tp.source_display()))?;
        let row = rows.iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        });
        let int = |i: usize| row.and_then(|r| r.get(i)).and_then(|v| v.parse::<i64>().ok());
        let (max, min) = (int(0), int(1));
        let last = col.identity.and_then(|i| i.last_value).and_then(|v| i64::try_from(v).ok());
        let edge = if *inc > 0 { max.into_iter().chain(last).max() } else { min.into_iter().chain(last).min() };
        let next = match edge {
            None => Some(*seed),
            Some(e) => e.checked_add(*inc),
        };
        let (lo, hi) = cp.pg_type.integer_range().expect("identity on an integer");
        match next.filter(|n| *n >= lo && *n <= hi) {
            Some(n) => restarts.push((
                *tp,
                *cp,
                format!("ALTER TABLE {} ALTER COLUMN {} RESTART WITH {n}", tp.qualified(), quote_ident(&cp.name)),
            )),
            None => untranslated.push(Untranslated {
                kind: "identity".into(),
                table: tp.source_display(),
                object: cp.source_name.clone(),
                definition: None,
                action: "not restarted".into(),
                reason: "the next identity value is outside the column type".into(),
            }),
        }
    }
    let outcomes = target::pipelined(restarts.iter().map(|(_, _, sql)| c.batch_execute(sql)).collect()).await;
    for ((tp, cp, _), outcome) in restarts.iter().zip(outcomes) {
        outcome.map_err(|e| {
            MigrateError::pg(step, e).table(tp.source_display()).object(format!("identity {}", cp.source_name))
        })?;
    }
    Ok(untranslated)
}

/// Step 5: reads every table back (largest first by `sent`'s row counts); the numbers
/// are judged by [`report_validated`].
///
/// # Errors
/// PostgreSQL errors while reading back.
pub async fn step_validate(
    plan: &Plan,
    target: &Target,
    names: &Names,
    jobs: usize,
    sent: &[TableChecksum],
) -> Result<Vec<ReadBack>, MigrateError> {
    // Largest first (by the rows sent), as the load does.
    let mut order: Vec<usize> = (0..plan.tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sent.get(i).map_or(0, |c| c.rows)));
    validate::read_back_ordered(
        &plan.tables,
        &order,
        target,
        &names.loading,
        jobs,
        validate::ReadBackMethod::ServerHash,
    )
    .await
}

/// Step 6: swaps `<name>__loading` into place (see [`target::swap`]).
///
/// # Errors
/// Sessions on `<name>` block the rename: nothing is changed.
pub async fn step_swap(target: &Target, names: &Names, keep_previous: u32) -> Result<SwapOutcome, MigrateError> {
    let c = target.connect(Step::Swap, target.maintenance_db()).await?;
    target::swap(&c, names, keep_previous).await
}

/// Report: what the swap did with the previous database and the older copies.
pub fn report_swap(report: &mut Report, swapped: SwapOutcome) {
    report.target.previous_kept_as = swapped.previous_kept_as;
    report.target.previous_dropped = swapped.previous_dropped;
    report.target.previous_kept = swapped.previous_kept;
    report.target.previous_dropped_names = swapped.previous_dropped_names;
    report.warnings.extend(swapped.warnings);
}

/// Report: every module of `db` (views, procedures, functions, triggers…) in
/// [`Report::objects`], not translated until [`load_phase`] creates them (a run that
/// stops earlier keeps that), and the other objects (synonyms, sequences, types…) as not
/// migrated.
pub fn report_objects(report: &mut Report, db: &Database) {
    report.objects.clear();
    for m in &db.modules {
        let qualified = format!("{}.{}", m.schema, m.name);
        let unreadable = db.unreadable_definitions.iter().find(|u| u.kind == m.kind.as_str() && u.object == qualified);
        report.objects.push(ObjectReport {
            schema: m.schema.clone(),
            name: m.name.clone(),
            kind: m.kind.as_str().to_string(),
            target: None,
            translated: false,
            reason: Some(match unreadable {
                Some(u) => format!("its definition in the backup cannot be decoded: {}", u.reason),
                None => "not created: the run stopped before views were created".into(),
            }),
            rows: None,
        });
    }
    for o in &db.other_objects {
        report.not_migrated.push(NotMigrated {
            schema: o.schema.clone(),
            name: o.name.clone(),
            kind: o.kind.clone(),
            reason: None,
        });
    }
}

/// Report: renames, untranslated objects, one pending row per table (with SQL Server's
/// row count from `db`'s catalog) and the specially mapped columns of `plan`.
pub fn report_plan(report: &mut Report, plan: &Plan, db: &Database) {
    report.renamed = plan.renames.clone();
    report.untranslated = plan.untranslated.clone();
    report.collations = plan.collations.clone();
    report.mapping = plan.mapping.clone();
    if let Some(m) = &plan.mapping {
        report.warnings.extend(m.warnings.iter().cloned());
    }
    for tp in &plan.tables {
        report.tables.push(TableReport {
            source: tp.source_display(),
            target: format!("{}.{}", tp.schema, tp.name),
            rows: 0,
            catalog_rows: db.tables.get(tp.index).and_then(|t| t.row_count_hint),
            bytes: 0,
            load_seconds: 0.0,
            source_checksum: None,
            target_checksum: None,
            target_method: None,
            status: TableStatus::Pending,
        });
        for c in &tp.columns {
            if let Some(note) = c.note {
                report.special_columns.push(SpecialColumn {
                    table: tp.source_display(),
                    column: c.source_name.clone(),
                    sql_type: c.sql_type.sql_name(),
                    note,
                    detail: None,
                });
            }
        }
    }
}

/// Report: for each `geography`/`geometry` column, whether it became PostGIS or `bytea`
/// and why (`mode` is what was asked, `facts` what the server offered); a warning when
/// `--postgis auto` fell back to `bytea`. Call after [`report_plan`].
pub fn report_postgis(report: &mut Report, mode: PostgisMode, facts: &ServerFacts) {
    let mut fell_back = 0;
    for sc in report.special_columns.iter_mut().filter(|c| matches!(c.sql_type.as_str(), "geography" | "geometry")) {
        sc.detail = Some(match (sc.note, mode, &facts.postgis) {
            (MappingNote::Postgis, _, PostgisStatus::Available { version }) => {
                format!("PostGIS {} (extension postgis {version}): EWKB with each value's SRID", sc.sql_type)
            }
            (MappingNote::Postgis, ..) => format!("PostGIS {}", sc.sql_type),
            (_, PostgisMode::Off, _) => "raw bytes in bytea: --postgis off".into(),
            (_, _, PostgisStatus::Unavailable { reason }) => {
                fell_back += 1;
                format!("raw bytes in bytea: {reason}")
            }
            _ => "raw bytes in bytea".into(),
        });
    }
    if let (true, PostgisStatus::Unavailable { reason }) = (fell_back > 0, &facts.postgis) {
        report.warnings.push(format!(
            "PostGIS not used ({reason}): {fell_back} geography/geometry columns loaded as raw bytes in bytea"
        ));
    }
}

/// Report: rows, bytes, source checksums and lossy conversions of the loaded tables
/// (the report's tables must come from [`report_plan`] of the same plan).
pub fn report_loaded(report: &mut Report, plan: &Plan, loaded: &[LoadedTable]) {
    for l in loaded {
        let t = &mut report.tables[l.table];
        t.rows = l.rows;
        t.bytes = l.bytes;
        t.load_seconds = l.seconds;
        t.source_checksum = Some(l.checksum);
        t.status = TableStatus::Loaded;
        report.target.rejected_values += l.rejected;
        for (cp, counts) in plan.tables[l.table].columns.iter().zip(&l.conversions) {
            if !counts.is_empty() {
                report.conversions.push(ConversionReport {
                    table: plan.tables[l.table].source_display(),
                    column: cp.source_name.clone(),
                    counts: *counts,
                });
            }
        }
    }
    report.compute_totals();
}

/// Report: the read-back checksums and each table's status.
///
/// A table passes when PostgreSQL holds exactly the rows sent (row count and checksum)
/// *and* as many rows were read as SQL Server's catalog counted (`catalog_rows`, when
/// known). The first proves the load; only the second is evidence about the decoding.
/// Measured on the fixtures, the catalog count agreed with the rows read on all 232
/// tables of the 25 readable backups, so a difference is an error, not a warning.
///
/// # Errors
/// [`ErrorKind::Validation`] naming every table that failed, and why.
pub fn report_validated(report: &mut Report, back: &[ReadBack]) -> Result<(), MigrateError> {
    let mut failed = Vec::new();
    for b in back {
        let t = &mut report.tables[b.table];
        t.target_checksum = Some(b.checksum);
        t.target_method = Some(b.method);
        t.status = if Some(b.checksum) != t.source_checksum {
            failed.push(format!("{}: row count or checksum differ", t.source));
            TableStatus::Mismatch
        } else if let Some(n) = t.catalog_rows.filter(|&n| n != t.rows && !report.schema_only) {
            failed.push(format!("{}: {} rows read, SQL Server's catalog counts {n}", t.source, t.rows));
            TableStatus::CatalogCountDiffers
        } else {
            TableStatus::Match
        };
    }
    report.compute_totals();
    if failed.is_empty() {
        return Ok(());
    }
    Err(MigrateError::new(
        Step::Validate,
        ErrorKind::Validation,
        format!("{} tables failed validation: {}", failed.len(), failed.join("; ")),
    ))
}

async fn timed<T>(
    report: &mut Report,
    progress: &dyn Progress,
    step: Step,
    fut: impl Future<Output = Result<T, MigrateError>>,
) -> Result<T, MigrateError> {
    progress.step_started(step);
    tracing::info!(step = step.as_str(), "step started");
    let start = Instant::now();
    let r = fut.await;
    let seconds = start.elapsed().as_secs_f64();
    report.steps.push(StepTiming { step, seconds });
    match &r {
        Ok(_) => {
            tracing::info!(step = step.as_str(), seconds, "step finished");
            progress.step_finished(step, seconds);
        }
        Err(e) => tracing::error!(step = step.as_str(), seconds, error = %e, "step failed"),
    }
    r
}

/// Migrates the database of `source` into PostgreSQL as described by `opts`, and
/// returns the report.
///
/// The source is shared as an `Arc` because each table's rows are read and encoded on a
/// blocking thread (`RowReader` is synchronous) that must own what it borrows from.
///
/// # Errors
/// A [`MigrateError`] naming the step (and table/object, SQLSTATE) that failed; its
/// `report` holds the report as far as the run got (status `failed`), to be written
/// before exiting non-zero. A checksum difference is such an error (step `validate`,
/// kind [`ErrorKind::Validation`]). In every failure the previous database is untouched.
pub async fn migrate(
    source: Arc<dyn Source>,
    opts: &MigrateOptions,
    progress: &dyn Progress,
) -> Result<Report, MigrateError> {
    let mut report = Report::new(source.info());
    report.target.server = opts.target.server();
    match run(source, opts, progress, &mut report).await {
        Ok(()) => {
            report.status = Status::Passed;
            Ok(report)
        }
        Err(mut e) => {
            report.status = Status::Failed;
            report.failed_step = Some(e.step);
            report.error = Some(e.to_string());
            report.compute_totals();
            e.report = Some(Box::new(report));
            Err(e)
        }
    }
}

async fn run(
    source: Arc<dyn Source>,
    opts: &MigrateOptions,
    progress: &dyn Progress,
    report: &mut Report,
) -> Result<(), MigrateError> {
    let db = source.database();
    report_objects(report, db);
    let names = opts.names(db)?;
    report.target.database = names.name.clone();
    report.target.loading_database = names.loading.clone();

    let (names, facts, plan) = timed(report, progress, Step::Preflight, step_preflight(db, opts)).await?;
    if opts.data_only && (opts.schema_only || !facts.target_exists) {
        let why = if opts.schema_only {
            "--data-only and --schema-only exclude each other".to_string()
        } else {
            format!(
                "--data-only loads into the existing database {:?}, which does not exist: migrate without it first (or \
                 with --schema-only)",
                names.name
            )
        };
        return Err(MigrateError::new(Step::Preflight, ErrorKind::Config, why));
    }
    let _lock = RunLock::acquire(&opts.target, &names).await?;
    report.target.server_version = Some(facts.version.clone());
    report_plan(report, &plan, db);
    report_postgis(report, opts.plan.postgis, &facts);

    let loaded = load_phase(source.clone(), opts, progress, report, &names, &facts, &plan).await?;
    validate_phase(opts, progress, report, &names, &plan, &loaded).await?;

    let swapped = timed(report, progress, Step::Swap, step_swap(&opts.target, &names, opts.keep_previous)).await?;
    report_swap(report, swapped);
    Ok(())
}

/// Steps 2–4 as one phase, the same in `migrate` and the pipeline's `load` step: a fresh
/// `<name>__loading` with the schema, the rows, then keys, indexes and constraints; each
/// step timed into `report`, the rows and conversions reported. On failure the loading
/// database is dropped (unless `opts.keep_failed`, or it is not ours), so a rerun starts
/// clean. Returns what was loaded (the checksums validation compares with).
///
/// # Errors
/// The failing step's [`MigrateError`].
pub async fn load_phase(
    source: Arc<dyn Source>,
    opts: &MigrateOptions,
    progress: &dyn Progress,
    report: &mut Report,
    names: &Names,
    facts: &ServerFacts,
    plan: &Plan,
) -> Result<Vec<LoadedTable>, MigrateError> {
    let db = source.database();
    let built = async {
        let saved = if opts.data_only {
            report.data_only = true;
            let prepare = crate::data_only::prepare(&opts.target, names, plan);
            timed(report, progress, Step::CreateSchema, prepare).await?
        } else {
            timed(report, progress, Step::CreateSchema, step_create_schema(&opts.target, names, plan)).await?;
            Vec::new()
        };
        let loaded = if opts.schema_only {
            report.schema_only = true;
            no_rows(plan)
        } else {
            let load = step_load(source.clone(), plan, &opts.target, names, opts.tuning, progress);
            timed(report, progress, Step::LoadData, load).await?
        };
        report_loaded(report, plan, &loaded);
        crate::faults::pause("loaded");
        if opts.data_only {
            // The target's own keys, indexes and constraints came with the copy, and its
            // own views and functions with them.
            let finish = crate::data_only::finish(&opts.target, names, plan, &saved);
            timed(report, progress, Step::CreateConstraints, finish).await?;
            for o in &mut report.objects {
                o.reason = Some("not created: --data-only keeps the target database's own objects".into());
            }
        } else {
            // Views and inline functions right after the keys (one timed step with them), and
            // bak2pg.source_objects after the load dropped an empty bak2pg schema.
            let constraints = async {
                let more = step_create_constraints(db, plan, &opts.target, names, facts.version_num).await?;
                let schema_map = &opts.plan.schema_map;
                let objects = crate::objects::step_create_objects(db, plan, schema_map, &opts.target, names).await?;
                Ok((more, objects))
            };
            let (more, objects) = timed(report, progress, Step::CreateConstraints, constraints).await?;
            report.untranslated.extend(more);
            report.objects = objects;
        }
        crate::faults::pause("constraints_created");
        Ok(loaded)
    }
    .await;
    if let Err(e) = &built {
        drop_after_failure(opts, report, names, e).await;
    }
    built
}

/// What `--schema-only` "loads": every table of `plan` with no rows, so validation checks
/// each is empty.
pub fn no_rows(plan: &Plan) -> Vec<LoadedTable> {
    plan.tables
        .iter()
        .enumerate()
        .map(|(i, tp)| LoadedTable {
            table: i,
            rows: 0,
            bytes: 0,
            seconds: 0.0,
            checksum: TableChecksum::default(),
            checksum_definition: crate::checksum::DEFINITION.to_string(),
            conversions: vec![Default::default(); tp.columns.len()],
            rejected: 0,
        })
        .collect()
}

/// Step 5 as a phase: reads every table back and judges it ([`report_validated`]); on
/// failure the loading database is dropped as in [`load_phase`].
///
/// # Errors
/// [`ErrorKind::Validation`] naming every table that failed; PostgreSQL errors.
pub async fn validate_phase(
    opts: &MigrateOptions,
    progress: &dyn Progress,
    report: &mut Report,
    names: &Names,
    plan: &Plan,
    loaded: &[LoadedTable],
) -> Result<(), MigrateError> {
    let sent: Vec<TableChecksum> = loaded.iter().map(|l| l.checksum).collect();
    let read = step_validate(plan, &opts.target, names, opts.tuning.jobs, &sent);
    let checked = match timed(report, progress, Step::Validate, read).await {
        Ok(back) => report_validated(report, &back),
        Err(e) => Err(e),
    };
    let checked = match checked {
        Ok(()) => crate::objects::step_validate_objects(&opts.target, &names.loading, &mut report.objects).await,
        Err(e) => Err(e),
    };
    match &checked {
        Ok(()) => crate::faults::pause("validated"),
        Err(e) => drop_after_failure(opts, report, names, e).await,
    }
    checked
}

/// Drops `<name>__loading` after a failed step, unless kept for inspection or not ours (a
/// Conflict: the loading name belongs to someone else). A drop that fails is a warning.
async fn drop_after_failure(opts: &MigrateOptions, report: &mut Report, names: &Names, e: &MigrateError) {
    if opts.keep_failed || e.kind == ErrorKind::Conflict {
        return;
    }
    let cleanup = async {
        let m = opts.target.connect(e.step, opts.target.maintenance_db()).await?;
        target::drop_ours(&m, e.step, &names.loading).await
    };
    if let Err(ce) = cleanup.await {
        tracing::warn!(database = %names.loading, error = %ce, "could not drop the loading database");
        report.warnings.push(format!("could not drop {:?} after the failure: {ce}", names.loading));
    }
}
