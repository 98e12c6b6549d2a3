//! The steps' work: each one's engine calls and the outputs it leaves for the next.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bak2pg::archive::{self, PreparedBackup};
use bak2pg::ddl::{self, Plan};
use bak2pg::job::{EngineChoice, ErrorClass, ErrorCode, StepError, StepName, digest_of};
use bak2pg::load::LoadedTable;
use bak2pg::migrate as engine;
use bak2pg::report::{InputReport, Report, Status, StepTiming};
use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::source::select::{self, Decision};
use bak2pg::source::sqlserver::{self as mssql, MssqlConfig, RestoreFacts, RestoreOptions, SqlServerSource};
use bak2pg::target::{MigrateError, Names, RunLock, Target};
use bak2pg::validate;
use bak2pg_aws::Downloaded;
use mssql_backup::OpenOptions;
use serde::{Deserialize, Serialize};

use super::Ctx;
use super::errors::{archive_err, io_err, migrate_err, source_err};
use crate::migrate::restore_note;

/// Runs `step`'s work: its summary line and outputs, or the classified error.
pub(super) async fn run(ctx: &Ctx, step: StepName) -> Result<(String, serde_json::Value), StepError> {
    fn value<T: Serialize>(v: &T) -> serde_json::Value {
        serde_json::to_value(v).expect("outputs serialize")
    }
    match step {
        StepName::Fetch => fetch(ctx).await.map(|(s, o)| (s, value(&o))),
        StepName::Read => read(ctx).await.map(|(s, o)| (s, value(&o))),
        StepName::Load => load(ctx).await.map(|(s, o)| (s, value(&o))),
        StepName::Validate => validate_step(ctx).await.map(|(s, o)| (s, value(&o))),
        StepName::Swap => swap(ctx).await.map(|(s, o)| (s, value(&o))),
    }
}

/// What `fetch` produced (its result's `outputs`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct FetchOutputs {
    download: Downloaded,
    backup: PreparedBackup,
}

/// What `read` produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReadOutputs {
    /// Digest of the plan (`plan.json`), so `load` and `validate` know they use the same one.
    plan_digest: String,
    tables: usize,
    report: Report,
    /// The sqlserver engine's restore, kept on the server for `load`.
    #[serde(default)]
    restore: Option<RestoreFacts>,
}

/// What `load` produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LoadOutputs {
    names: Names,
    loaded: Vec<LoadedTable>,
    report: Report,
}

/// What `validate` and `swap` produced: the report so far.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct ReportOutputs {
    report: Report,
}

/// Removes work folders of other executions untouched for a day (a failed execution that
/// was never replayed leaves its download behind).
fn collect_garbage(root: &Path, keep: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    let day = Duration::from_secs(24 * 3600);
    for e in entries.flatten() {
        let p = e.path();
        if p == keep || e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let old = e.metadata().and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).is_some_and(|a| a > day);
        if old && p.is_dir() {
            tracing::info!(folder = %p.display(), "removing a stale work folder");
            let _ = std::fs::remove_dir_all(&p);
        }
    }
}

/// `fetch`: download and extract into a clean work folder.
async fn fetch(ctx: &Ctx) -> Result<(String, FetchOutputs), StepError> {
    let root = Path::new(&ctx.job.worker.work_root);
    collect_garbage(root, &ctx.work);
    match fetch_into(ctx).await {
        Ok(out) => {
            let b = &out.backup;
            let from = match (&b.archive, &b.member) {
                (Some(a), Some(m)) => format!(" from {a} member {m:?}"),
                _ => String::new(),
            };
            let d = &out.download;
            let resumed = if d.resumed > 0 { format!(", {} resumed", d.resumed) } else { String::new() };
            let summary = format!(
                "downloaded {} bytes in {} part(s){resumed} (sha256 {}, checked: {}), backup {} bytes{from}",
                d.size,
                d.parts,
                &d.sha256[..16],
                d.evidence,
                b.size
            );
            Ok((summary, out))
        }
        Err(e) => {
            if e.class == ErrorClass::Permanent {
                // Nothing to retry with: free the disk now.
                let _ = std::fs::remove_dir_all(&ctx.work);
            }
            Err(e)
        }
    }
}

async fn fetch_into(ctx: &Ctx) -> Result<FetchOutputs, StepError> {
    let work = &ctx.work;
    // Restart cleanly: whatever an interrupted run left is thrown away.
    if work.exists() {
        std::fs::remove_dir_all(work).map_err(|e| io_err("empty the work folder", work, e))?;
    }
    let input_dir = work.join("input");
    let backup_dir = work.join("backup");
    std::fs::create_dir_all(&input_dir).map_err(|e| io_err("create the work folder", &input_dir, e))?;
    let o = &ctx.job.object;
    let size = o.size.unwrap_or(0);
    let available = fs4::available_space(work).map_err(|e| io_err("read the free space of", work, e))?;
    let need = size.saturating_add(ctx.job.worker.min_free_bytes);
    if available < need {
        return Err(StepError::transient(
            ErrorCode::InsufficientSpace,
            format!(
                "{} has {available} bytes free; the download needs {need} (object {size} + reserve)",
                work.display()
            ),
        ));
    }
    // Only the extension of the key is kept: the key is customer-chosen text.
    let ext = o.key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let ext: String = ext.chars().filter(|c| c.is_ascii_alphanumeric()).take(8).collect();
    let input = input_dir.join(format!("upload.{ext}"));
    let download = bak2pg_aws::download(&ctx.s3, o, &input, ctx.job.worker.part_bytes).await?;
    let backup = archive::prepare_backup(&input, &backup_dir, &ctx.limits()).map_err(archive_err)?;
    if backup.extracted {
        // The archive is no longer needed; the extracted backup is.
        let _ = std::fs::remove_file(&input);
    }
    Ok(FetchOutputs { download, backup })
}

/// The backup file `fetch` produced, fetched again when the work folder is gone (another
/// worker, a cleaned disk) or no longer matches.
async fn ensure_backup(ctx: &Ctx) -> Result<FetchOutputs, StepError> {
    let (_, out): (_, FetchOutputs) = ctx.outputs(StepName::Fetch).await?;
    let ok = std::fs::metadata(&out.backup.path).is_ok_and(|m| m.len() == out.backup.size);
    if ok {
        return Ok(out);
    }
    println!("the work folder of {} is gone or changed; fetching the upload again", ctx.job.execution);
    let again = fetch_into(ctx).await?;
    if again.download.sha256 != out.download.sha256 {
        return Err(StepError::permanent(
            ErrorCode::ObjectChanged,
            format!(
                "s3://{}/{} changed since fetch (sha256 {} then, {} now); replay the execution",
                ctx.job.object.bucket, ctx.job.object.key, out.download.sha256, again.download.sha256
            ),
        ));
    }
    Ok(again)
}

/// The native reader over the fetched backup, refusing a backup it cannot read whole.
fn open_native(ctx: &Ctx, fetched: &FetchOutputs) -> Result<NativeSource, StepError> {
    let native = NativeSource::open(
        &[fetched.backup.path.as_path()],
        OpenOptions { backup_set: ctx.job.backup_set, ..OpenOptions::default() },
    )
    .map_err(source_err)?;
    let features = native.unsupported_features();
    if !features.is_empty() {
        return Err(StepError::permanent(
            ErrorCode::UnsupportedFeatures,
            format!("the native reader cannot read {}; the sqlserver engine is needed", features.join("; ")),
        ));
    }
    Ok(native)
}

/// Restores the fetched backup on the worker's SQL Server (kept for `load`).
async fn restore_on_server(
    ctx: &Ctx,
    fetched: &FetchOutputs,
    (config, mut opts): (MssqlConfig, RestoreOptions),
    reason: &str,
) -> Result<SqlServerSource, StepError> {
    opts.backup_set = ctx.job.backup_set;
    let restored = SqlServerSource::restore(config, &[fetched.backup.path.as_path()], opts)
        .await
        .map_err(|e| StepError::transient(ErrorCode::RestoreFailed, e.to_string()))?;
    Ok(restored.with_reason(reason))
}

fn input_report(ctx: &Ctx, fetched: &FetchOutputs, native: Option<&NativeSource>) -> InputReport {
    let mut input = InputReport {
        files: vec![format!("s3://{}/{}", ctx.job.object.bucket, ctx.job.object.key)],
        archive: fetched.backup.archive.map(|a| a.to_string()),
        member: fetched.backup.member.clone(),
        backup_bytes: fetched.backup.size,
        notes: fetched.backup.notes.clone(),
        ..InputReport::default()
    };
    if let Some(n) = native {
        n.describe_input(&mut input);
    }
    input
}

fn plan_of(ctx: &Ctx, source: &dyn Source) -> Result<Plan, StepError> {
    ddl::plan(source.database(), &ctx.plan_options()?).map_err(|e| {
        let code = match e {
            ddl::PlanError::Mapping(_) => ErrorCode::Config,
            _ => ErrorCode::PreflightConversion,
        };
        StepError::permanent(code, e.to_string())
    })
}

/// `read`: chooses the engine, checks the backup is whole and every table mappable (with
/// `sqlserver`: restores it), writes `plan.json`.
async fn read(ctx: &Ctx) -> Result<(String, ReadOutputs), StepError> {
    let fetched = ensure_backup(ctx).await?;
    let t = Instant::now();
    // A restore kept by an earlier success of this step (other input, or a replay) is
    // dropped first: the step restarts clean.
    if let Ok(Some(prev)) = ctx.result(StepName::Read).await
        && let Ok(prev) = serde_json::from_value::<ReadOutputs>(prev.outputs)
        && let Some(r) = prev.restore
        && let Some((config, _)) = ctx.mssql(true).await?
    {
        mssql::drop_restored(&config, &r.restored_as).await.map_err(source_err)?;
    }
    let native = NativeSource::open(
        &[fetched.backup.path.as_path()],
        OpenOptions { backup_set: ctx.job.backup_set, ..OpenOptions::default() },
    );
    let mut input = input_report(ctx, &fetched, native.as_ref().ok());
    let server = if ctx.engine == EngineChoice::Native { None } else { ctx.mssql(false).await? };
    let features = native.as_ref().map(|n| n.unsupported_features());
    let decision =
        select::decide(ctx.engine, features.as_ref().map(|f| f.as_slice()).map_err(|e| *e), server.is_some());
    let (source, restore): (Arc<dyn Source>, _) = match (decision, native) {
        (Decision::Native(reason), Ok(n)) => (Arc::new(n.with_reason(format!("pipeline: {reason}"))), None),
        (Decision::SqlServer(reason), native) => {
            drop(native);
            let restored = restore_on_server(ctx, &fetched, ctx.require_mssql().await?, &reason).await?;
            let facts = restored.facts().clone();
            input.notes.push(restore_note(&facts));
            (Arc::new(restored), Some(facts))
        }
        (Decision::Native(_), Err(e)) => return Err(source_err(e)),
        (Decision::Refuse(why), native) => {
            return Err(match native {
                Err(e) => source_err(e),
                Ok(_) if ctx.engine == EngineChoice::Sqlserver => StepError::permanent(
                    ErrorCode::Config,
                    format!("{why} (in the pipeline: the configuration parameter sqlserver/url)"),
                ),
                Ok(_) => StepError::permanent(ErrorCode::UnsupportedFeatures, why),
            });
        }
    };
    let plan = plan_of(ctx, source.as_ref())?;
    let mut report = Report::new(source.info());
    report.input = input;
    report.target.database = ctx.job.target.database.clone();
    engine::report_objects(&mut report, source.database());
    engine::report_plan(&mut report, &plan, source.database());
    report.steps.push(StepTiming { step: bak2pg::Step::ReadBackup, seconds: t.elapsed().as_secs_f64() });
    bak2pg_aws::put_json(&ctx.s3, &ctx.plan_uri(), &plan).await?;
    let info = source.info();
    let out = ReadOutputs { plan_digest: digest_of(&plan), tables: plan.tables.len(), report, restore };
    let summary = format!(
        "{} (SQL Server {}), engine {} ({}), {} tables planned, {} views/procedures/functions/triggers, {} other objects not migrated",
        info.database,
        info.sql_version.as_deref().unwrap_or("?"),
        info.engine,
        info.engine_reason,
        out.tables,
        out.report.objects.len(),
        out.report.not_migrated.len()
    );
    Ok((summary, out))
}

/// `load`: preflight, a fresh `<db>__loading`, COPY, constraints. A retry starts over from
/// creating the loading database (constraints cannot be created twice).
async fn load(ctx: &Ctx) -> Result<(String, LoadOutputs), StepError> {
    let (_, read): (_, ReadOutputs) = ctx.outputs(StepName::Read).await?;
    let mut restored = None;
    let source: Arc<dyn Source> = match &read.restore {
        None => Arc::new(open_native(ctx, &ensure_backup(ctx).await?)?),
        Some(facts) => {
            let (config, opts) = ctx.require_mssql().await?;
            let keep = ctx.sqlserver.keep_restored;
            let info = read.report.source.clone();
            let s = match SqlServerSource::attach(config.clone(), &facts.restored_as, info.clone(), keep)
                .await
                .map_err(|e| StepError::transient(ErrorCode::RestoreFailed, e.to_string()))?
            {
                Some(s) => s,
                None => {
                    println!("the restored database {} is gone; restoring the backup again", facts.restored_as);
                    let opts = RestoreOptions { keep_restored: keep, ..opts };
                    restore_on_server(ctx, &ensure_backup(ctx).await?, (config, opts), &info.engine_reason).await?
                }
            };
            let s = Arc::new(s);
            restored = Some(s.clone());
            s
        }
    };
    let opts = ctx.options().await?;
    let db = source.database();
    let mut report = read.report.clone();
    report.target.server = opts.target.server();

    let t = Instant::now();
    let (names, facts, plan) = engine::step_preflight(db, &opts).await.map_err(migrate_err)?;
    if digest_of(&plan) != read.plan_digest {
        return Err(StepError::permanent(
            ErrorCode::PlanChanged,
            "the plan differs from the one step read made (another bak2pg version?); replay the execution",
        ));
    }
    report.steps.push(StepTiming { step: bak2pg::Step::Preflight, seconds: t.elapsed().as_secs_f64() });
    report.target.server_version = Some(facts.version.clone());
    report.target.loading_database = names.loading.clone();
    let _lock = RunLock::acquire(&opts.target, &names).await.map_err(migrate_err)?;

    let loaded = engine::load_phase(source.clone(), &opts, &bak2pg::NoProgress, &mut report, &names, &facts, &plan)
        .await
        .map_err(migrate_err)?;
    // The data is in PostgreSQL: the backup and the restored database are no longer needed
    // (a redrive fetches and restores again).
    let _ = std::fs::remove_dir_all(&ctx.work);
    if let Some(s) = restored {
        drop(source);
        if let Err(e) = s.close().await {
            report.warnings.push(format!("could not drop the restored SQL Server database: {e}"));
        }
    }
    let summary = format!(
        "loaded {} tables, {} rows, {} bytes into {}",
        loaded.len(),
        report.totals.rows,
        report.totals.bytes,
        names.loading
    );
    Ok((summary, LoadOutputs { names, loaded, report }))
}

async fn plan_from_s3(ctx: &Ctx, read: &ReadOutputs) -> Result<Plan, StepError> {
    let plan: Plan = bak2pg_aws::get_json(&ctx.s3, &ctx.plan_uri())
        .await?
        .ok_or_else(|| StepError::permanent(ErrorCode::StepOrder, "plan.json is missing; run step read first"))?;
    if digest_of(&plan) != read.plan_digest {
        return Err(StepError::permanent(ErrorCode::PlanChanged, "plan.json differs from the one step read wrote"));
    }
    Ok(plan)
}

async fn database_exists(target: &Target, step: bak2pg::Step, name: &str) -> Result<bool, StepError> {
    let c = target.connect(step, target.maintenance_db()).await.map_err(migrate_err)?;
    let row = c
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| migrate_err(MigrateError::pg(step, e)))?;
    Ok(row.is_some())
}

/// The tables whose read-back checksum is not what `load` sent.
fn mismatches(plan: &Plan, loaded: &[LoadedTable], back: &[validate::ReadBack]) -> Vec<String> {
    back.iter()
        .filter(|b| loaded.iter().find(|l| l.table == b.table).is_none_or(|l| l.checksum != b.checksum))
        .map(|b| plan.tables[b.table].source_display())
        .collect()
}

/// The checksum definition of a loaded table that is not this bak2pg's (`""` for results
/// written before definitions were recorded), if any: such numbers cannot be compared.
fn other_checksum_definition(loaded: &[LoadedTable]) -> Option<&str> {
    loaded.iter().map(|l| l.checksum_definition.as_str()).find(|d| *d != bak2pg::checksum::DEFINITION)
}

/// `validate`: read every table of `<db>__loading` back (read-only, so a retry is safe).
async fn validate_step(ctx: &Ctx) -> Result<(String, ReportOutputs), StepError> {
    let (_, read): (_, ReadOutputs) = ctx.outputs(StepName::Read).await?;
    let (_, load): (_, LoadOutputs) = ctx.outputs(StepName::Load).await?;
    let plan = plan_from_s3(ctx, &read).await?;
    let opts = ctx.options().await?;
    let step = bak2pg::Step::Validate;
    if !database_exists(&opts.target, step, &load.names.loading).await? {
        return Err(StepError::permanent(
            ErrorCode::LoadingDatabaseMissing,
            format!("{} no longer exists; replay the execution to load again", load.names.loading),
        ));
    }
    if let Some(other) = other_checksum_definition(&load.loaded) {
        return Err(StepError::permanent(
            ErrorCode::PlanChanged,
            format!(
                "the load step's checksums were computed under another definition ({other:?}; this bak2pg: {:?}): \
                 a bak2pg version changed between the steps; replay the execution to load again",
                bak2pg::checksum::DEFINITION
            ),
        ));
    }
    let t = Instant::now();
    let sent: Vec<_> = load.loaded.iter().map(|l| l.checksum).collect();
    let back =
        engine::step_validate(&plan, &opts.target, &load.names, opts.tuning.jobs, &sent).await.map_err(migrate_err)?;
    let mut report = load.report.clone();
    report.steps.push(StepTiming { step, seconds: t.elapsed().as_secs_f64() });
    // A table missing from the load's outputs has no source checksum: a mismatch.
    engine::report_validated(&mut report, &back)
        .map_err(|e| StepError::permanent(ErrorCode::ValidationMismatch, e.message))?;
    // Every created view queried once; its row count goes in the report.
    bak2pg::objects::step_validate_objects(&opts.target, &load.names.loading, &mut report.objects).await.map_err(
        |e| match e.kind {
            bak2pg::ErrorKind::Validation => StepError::permanent(ErrorCode::ValidationMismatch, e.message),
            _ => migrate_err(e),
        },
    )?;
    let summary = format!("{} tables match (row counts and checksums) in {}", back.len(), load.names.loading);
    Ok((summary, ReportOutputs { report }))
}

/// `swap`: renames the validated database into place. When `<db>__loading` is gone but
/// `<db>` holds exactly the validated rows (a swap whose result was not recorded), that is
/// success: checked by reading `<db>` back, not assumed.
async fn swap(ctx: &Ctx) -> Result<(String, ReportOutputs), StepError> {
    let (_, read): (_, ReadOutputs) = ctx.outputs(StepName::Read).await?;
    let (_, load): (_, LoadOutputs) = ctx.outputs(StepName::Load).await?;
    let (_, validated): (_, ReportOutputs) = ctx.outputs(StepName::Validate).await?;
    let opts = ctx.options().await?;
    let names = &load.names;
    let step = bak2pg::Step::Swap;
    let mut report = validated.report;
    let _lock = RunLock::acquire(&opts.target, names).await.map_err(migrate_err)?;
    let t = Instant::now();
    let summary = if database_exists(&opts.target, step, &names.loading).await? {
        let out = engine::step_swap(&opts.target, names, opts.keep_previous).await.map_err(migrate_err)?;
        let (kept_as, dropped) = (out.previous_kept_as.clone(), out.previous_dropped);
        engine::report_swap(&mut report, out);
        match &kept_as {
            Some(p) => format!("{} is in place; the previous database is kept as {p}", names.name),
            None if dropped => format!("{} is in place; the previous database was dropped", names.name),
            None => format!("{} is in place", names.name),
        }
    } else {
        if let Some(other) = other_checksum_definition(&load.loaded) {
            return Err(StepError::permanent(
                ErrorCode::LoadingDatabaseMissing,
                format!(
                    "{} is gone and the load's checksums were computed under another definition ({other:?}), \
                     so {} cannot be checked against them; replay the execution",
                    names.loading, names.name
                ),
            ));
        }
        let plan = plan_from_s3(ctx, &read).await?;
        let back =
            validate::read_back_all(&plan.tables, &opts.target, &names.name, opts.tuning.jobs).await.map_err(|e| {
                StepError::permanent(
                    ErrorCode::LoadingDatabaseMissing,
                    format!(
                        "{} is gone and {} cannot be read back ({e}); replay the execution",
                        names.loading, names.name
                    ),
                )
            })?;
        let bad = mismatches(&plan, &load.loaded, &back);
        if !bad.is_empty() || back.len() != load.loaded.len() {
            return Err(StepError::permanent(
                ErrorCode::LoadingDatabaseMissing,
                format!(
                    "{} is gone and {} does not hold the validated rows; replay the execution",
                    names.loading, names.name
                ),
            ));
        }
        format!("{} was already in place (read back: every table matches)", names.name)
    };
    report.steps.push(StepTiming { step, seconds: t.elapsed().as_secs_f64() });
    report.status = Status::Passed;
    report.compute_totals();
    Ok((summary, ReportOutputs { report }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_results_of_another_checksum_definition_are_not_compared() {
        let mut t: LoadedTable = serde_json::from_value(serde_json::json!({
            "table": 0, "rows": 1, "bytes": 10, "seconds": 0.1,
            "checksum": { "rows": 1, "sum": "0000000000000000000000000000002a" },
            "conversions": [], "rejected": 0
        }))
        .expect("results written before the definition was recorded still read");
        assert_eq!(other_checksum_definition(std::slice::from_ref(&t)), Some(""));
        t.checksum_definition = bak2pg::checksum::DEFINITION.into();
        assert_eq!(other_checksum_definition(std::slice::from_ref(&t)), None);
    }
}
