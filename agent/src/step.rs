//! `bak2pg step <fetch|read|load|validate|swap> --job s3://…/job.json`: one step of the
//! AWS pipeline, as SSM Run Command runs it on the worker.
//!
//! The steps call the same engine functions as `bak2pg migrate`
//! ([`bak2pg::archive::prepare_backup`], [`NativeSource`], `bak2pg::migrate::step_*`), split
//! where the state machine retries:
//!
//! | step       | does                                                      | state it leaves                       |
//! |------------|-----------------------------------------------------------|---------------------------------------|
//! | `fetch`    | ranged S3 download, checksum, free-disk check, extraction | `<work>/<execution>/` (the `.bak`)    |
//! | `read`     | open the backup, completeness, catalog, plan              | `plan.json` next to the job           |
//! | `load`     | preflight, `<db>__loading` afresh, COPY, constraints      | `<db>__loading`; work folder removed  |
//! | `validate` | read every table back, compare with what `load` sent      | —                                     |
//! | `swap`     | rename `<db>__loading` into place                         | `<db>`                                |
//!
//! Contract (see DESIGN.md): each step writes `<step>.json` ([`StepResult`]) next to the job
//! document and prints one summary line on stdout. A step whose result already says
//! succeeded for the same input digest is skipped; anything else restarts from a clean
//! state (`fetch` empties its folder, `load` drops our leftover loading database, `read` and
//! `load` fetch again when the work folder is gone). Exit status: 0 succeeded (or skipped),
//! 1 failed with a result written, 3 failed without one (S3 unreachable).
//!
//! Heavy steps take one of `worker.slots` slots (lock files in `<work_root>/.slots`,
//! released by the kernel when the process ends, so a killed step frees its slot); a step
//! that has to wait prints so and keeps polling: the state machine's time limit covers it.
//!
//! Engine (`--engine`, else the job's `engine`, chosen by [`select::decide`] as for
//! `migrate`): with `sqlserver`, `read` restores the backup on the worker's SQL Server and
//! keeps the restored database for `load`, which reads its rows over TDS and drops it
//! afterwards (`--keep-restored` keeps it). A `read` run again drops the database its
//! earlier success restored; a `load` that finds it gone restores again.
//!
//! Secrets: the PostgreSQL and SQL Server passwords are read from the SSM SecureStrings the
//! job names, with the instance role, and handed to the connections only; they are never
//! printed or written.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use bak2pg::archive::{self, Limits, PreparedBackup};
use bak2pg::ddl::{self, Plan, PlanOptions};
use bak2pg::job::{
    EngineChoice, ErrorClass, JOB_VERSION, JobDocument, S3Uri, StepError, StepName, StepResult, StepStatus, digest_of,
};
use bak2pg::load::LoadedTable;
use bak2pg::migrate::{self as engine, MigrateOptions};
use bak2pg::report::{InputReport, Report, Status, StepTiming};
use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::source::select::{self, Decision};
use bak2pg::source::sqlserver::{self as mssql, MssqlConfig, RestoreFacts, RestoreOptions, Secret, SqlServerSource};
use bak2pg::target::{MigrateError, Names, RunLock, Target};
use bak2pg::validate;
use bak2pg_aws::Downloaded;
use mssql_backup::OpenOptions;
use serde::{Deserialize, Serialize};

use crate::migrate::{Engine, restore_note};
use crate::sqlserver::SqlServerArgs;

/// Arguments of `step`.
#[derive(clap::Args)]
pub struct Args {
    /// The step: fetch, read, load, validate or swap.
    #[arg(value_parser = parse_step)]
    step: StepName,
    /// The job document, `s3://bucket/jobs/<tenant>/<execution>/job.json`.
    #[arg(long)]
    job: String,
    /// Longest wait for a free slot, in seconds (the state machine's limit is the real one).
    #[arg(long, default_value_t = 6 * 3600)]
    slot_wait_seconds: u64,
    /// The engine, instead of the job's `engine` (`auto` by default).
    #[arg(long, value_enum)]
    engine: Option<Engine>,
    /// The worker's SQL Server (`--mssql`, else `BAK2PG_MSSQL`/`MSSQL_*`, else the job's
    /// `sqlserver_url`); its password comes from the job's SecureString or `MSSQL_PASSWORD`.
    #[command(flatten)]
    sqlserver: SqlServerArgs,
}

fn parse_step(s: &str) -> Result<StepName, String> {
    StepName::parse(s)
        .ok_or_else(|| format!("unknown step {s:?}; one of {}", StepName::ALL.map(|s| s.as_str()).join(", ")))
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

/// Everything a step function gets.
struct Ctx {
    job: JobDocument,
    job_uri: S3Uri,
    s3: aws_sdk_s3::Client,
    ssm: aws_sdk_ssm::Client,
    work: PathBuf,
    engine: EngineChoice,
    sqlserver: SqlServerArgs,
}

impl Ctx {
    fn result_uri(&self, step: StepName) -> S3Uri {
        S3Uri { bucket: self.job_uri.bucket.clone(), key: sibling(&self.job_uri.key, &format!("{step}.json")) }
    }

    fn plan_uri(&self) -> S3Uri {
        S3Uri { bucket: self.job_uri.bucket.clone(), key: sibling(&self.job_uri.key, "plan.json") }
    }

    async fn result(&self, step: StepName) -> Result<Option<StepResult>, StepError> {
        Ok(bak2pg_aws::get_json(&self.s3, &self.result_uri(step)).await?)
    }

    /// The outputs of an earlier step, which must have succeeded.
    async fn outputs<T: serde::de::DeserializeOwned>(&self, step: StepName) -> Result<(StepResult, T), StepError> {
        let r = self.result(step).await?.filter(|r| r.status == StepStatus::Succeeded).ok_or_else(|| {
            StepError::permanent(
                "step_order",
                format!("step {step} has no successful result for this execution; run the steps in order"),
            )
        })?;
        let out = serde_json::from_value(r.outputs.clone())
            .map_err(|e| StepError::permanent("bad_document", format!("{step}.json outputs: {e}")))?;
        Ok((r, out))
    }

    fn limits(&self) -> Limits {
        Limits {
            max_member_bytes: self.job.worker.max_member_bytes,
            min_free_bytes: self.job.worker.min_free_bytes,
            ..Limits::default()
        }
    }

    /// The migration options, with the password read from SSM (never logged).
    async fn options(&self) -> Result<MigrateOptions, StepError> {
        let t = &self.job.target;
        let mut opts = MigrateOptions::new(&t.url()).map_err(|e| StepError::permanent("config", e.to_string()))?;
        if !t.password_parameter.is_empty() {
            let pw = bak2pg_aws::get_parameter(&self.ssm, &t.password_parameter, true).await?;
            opts.target = opts.target.with_default_password(Some(&pw));
        }
        opts.database = Some(t.database.clone());
        opts.keep_previous = t.keep_previous();
        opts.tuning.jobs = self.job.worker.jobs.max(1);
        opts.plan = PlanOptions::default();
        Ok(opts)
    }

    /// The worker's SQL Server, or `None` when none is configured. The password (from the
    /// job's SecureString, else `MSSQL_PASSWORD`) is read only with `password`, i.e. when
    /// the server is going to be used.
    async fn mssql(&self, password: bool) -> Result<Option<(MssqlConfig, RestoreOptions)>, StepError> {
        let mut args = self.sqlserver.clone();
        if args.mssql.is_none() && std::env::var_os("MSSQL_HOST").is_none() {
            args.mssql = self.job.sqlserver_url.clone();
        }
        let secret = match (&self.job.sqlserver_password_parameter, password) {
            (Some(name), true) => Some(Secret::new(bak2pg_aws::get_parameter(&self.ssm, name, true).await?)),
            _ => None,
        };
        let mut setup = args.setup(secret).map_err(|e| StepError::permanent("config", format!("{e:#}")))?;
        if let Some((_, opts)) = &mut setup {
            // Kept between `read` and `load`; `load` drops it unless --keep-restored.
            opts.keep_restored = true;
        }
        Ok(setup)
    }

    /// [`Ctx::mssql`] with the password, for a step that needs the server.
    async fn require_mssql(&self) -> Result<(MssqlConfig, RestoreOptions), StepError> {
        self.mssql(true).await?.ok_or_else(|| {
            StepError::permanent(
                "config",
                "step read restored on SQL Server, but no SQL Server is configured for this step \
                 (--mssql, BAK2PG_MSSQL or the job's sqlserver_url)",
            )
        })
    }
}

/// `dir/of/job.json` → `dir/of/<name>`.
fn sibling(key: &str, name: &str) -> String {
    match key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{name}"),
        None => name.to_string(),
    }
}

/// Runs one step; see the module documentation for exit statuses.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    Ok(runtime.block_on(run_async(args)))
}

async fn run_async(args: Args) -> ExitCode {
    let step = args.step;
    let started = Instant::now();
    let started_at = bak2pg::report::utc_rfc3339(SystemTime::now());
    let cfg = bak2pg_aws::sdk_config().await;
    let s3 = bak2pg_aws::s3_client(&cfg);
    let ssm = bak2pg_aws::ssm_client(&cfg);
    let job_uri = match S3Uri::parse(&args.job) {
        Ok(u) => u,
        Err(e) => {
            println!("bak2pg step {step}: failed (permanent bad_job_uri): {e}");
            return ExitCode::from(3);
        }
    };
    let job: JobDocument = match bak2pg_aws::get_json::<JobDocument>(&s3, &job_uri).await {
        Ok(Some(j)) if j.version == JOB_VERSION => j,
        Ok(Some(j)) => {
            println!("bak2pg step {step}: failed (permanent bad_job): job version {} is not {JOB_VERSION}", j.version);
            return ExitCode::from(3);
        }
        Ok(None) => {
            println!("bak2pg step {step}: failed (permanent bad_job): {job_uri} does not exist");
            return ExitCode::from(3);
        }
        Err(e) => {
            println!("bak2pg step {step}: failed ({:?} {}): {e}", e.class, e.code);
            return ExitCode::from(3);
        }
    };
    let work = Path::new(&job.worker.work_root).join(&job.execution);
    let engine = args.engine.map_or(job.engine, Engine::choice);
    let ctx = Ctx { job, job_uri, s3, ssm, work, engine, sqlserver: args.sqlserver };

    // The input digest: the job's own plus the results this step builds on.
    let digest = match input_digest(&ctx, step).await {
        Ok(d) => d,
        Err(e) => return finish(&ctx, step, &started_at, started, 0.0, String::new(), Err(e)).await,
    };
    match ctx.result(step).await {
        Ok(Some(r)) if r.status == StepStatus::Succeeded && r.input_digest == digest => {
            println!("bak2pg step {step}: skipped, already succeeded for this input: {}", r.summary);
            return ExitCode::SUCCESS;
        }
        Ok(_) => {}
        Err(e) => {
            println!("bak2pg step {step}: failed ({:?} {}): {}", e.class, e.code, e.message);
            return ExitCode::from(3);
        }
    }

    let mut waited = 0.0;
    let _slot = if step.is_heavy() {
        match take_slot(&ctx, Duration::from_secs(args.slot_wait_seconds)).await {
            Ok((slot, w)) => {
                waited = w;
                Some(slot)
            }
            Err(e) => return finish(&ctx, step, &started_at, started, waited, digest, Err(e)).await,
        }
    } else {
        None
    };
    tracing::info!(step = %step, execution = %ctx.job.execution, "step started");
    let outcome = match step {
        StepName::Fetch => fetch(&ctx).await.map(|(s, o)| (s, to_value(&o))),
        StepName::Read => read(&ctx).await.map(|(s, o)| (s, to_value(&o))),
        StepName::Load => load(&ctx).await.map(|(s, o)| (s, to_value(&o))),
        StepName::Validate => validate_step(&ctx).await.map(|(s, o)| (s, to_value(&o))),
        StepName::Swap => swap(&ctx).await.map(|(s, o)| (s, to_value(&o))),
    };
    finish(&ctx, step, &started_at, started, waited, digest, outcome).await
}

fn to_value<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).expect("outputs serialize")
}

/// Writes the result and prints the summary line.
async fn finish(
    ctx: &Ctx,
    step: StepName,
    started_at: &str,
    started: Instant,
    waited: f64,
    digest: String,
    outcome: Result<(String, serde_json::Value), StepError>,
) -> ExitCode {
    let seconds = started.elapsed().as_secs_f64();
    let (status, summary, outputs, error) = match outcome {
        Ok((summary, outputs)) => (StepStatus::Succeeded, summary, outputs, None),
        Err(e) => (StepStatus::Failed, e.message.clone(), serde_json::Value::Null, Some(e)),
    };
    let result = StepResult {
        version: JOB_VERSION,
        step,
        status,
        input_digest: digest,
        execution: ctx.job.execution.clone(),
        started_at: started_at.to_string(),
        seconds,
        waited_seconds: waited,
        summary: summary.clone(),
        outputs,
        error: error.clone(),
    };
    let written = bak2pg_aws::put_json(&ctx.s3, &ctx.result_uri(step), &result).await;
    let line = match &error {
        None => format!("bak2pg step {step}: succeeded in {seconds:.1}s: {summary}"),
        Some(e) => format!("bak2pg step {step}: failed ({:?} {}) after {seconds:.1}s: {}", e.class, e.code, e.message),
    };
    println!("{}", line.replace('\n', " "));
    match (written, error) {
        (Err(e), _) => {
            println!("bak2pg step {step}: could not write the result: {e}");
            ExitCode::from(3)
        }
        (Ok(()), None) => ExitCode::SUCCESS,
        (Ok(()), Some(_)) => ExitCode::from(1),
    }
}

async fn input_digest(ctx: &Ctx, step: StepName) -> Result<String, StepError> {
    let before = match step {
        StepName::Fetch => None,
        StepName::Read => Some(StepName::Fetch),
        StepName::Load => Some(StepName::Read),
        StepName::Validate => Some(StepName::Load),
        StepName::Swap => Some(StepName::Validate),
    };
    let prev = match before {
        None => None,
        Some(b) => {
            let (r, _) = ctx.outputs::<serde_json::Value>(b).await?;
            Some((r.input_digest, digest_of(&r.outputs)))
        }
    };
    Ok(digest_of(&(step, ctx.job.digest(), ctx.engine, prev)))
}

/// A held slot: the lock is released when the file is closed (also when the process dies).
struct Slot {
    _file: File,
}

async fn take_slot(ctx: &Ctx, max_wait: Duration) -> Result<(Slot, f64), StepError> {
    let slots = ctx.job.worker.slots.max(1);
    let dir = Path::new(&ctx.job.worker.work_root).join(".slots");
    std::fs::create_dir_all(&dir).map_err(|e| io_err("create the slot folder", &dir, e))?;
    let start = Instant::now();
    let mut said = false;
    loop {
        for i in 0..slots {
            let path = dir.join(format!("slot-{i}.lock"));
            let f = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|e| io_err("open a slot", &path, e))?;
            if f.try_lock().is_ok() {
                let waited = start.elapsed().as_secs_f64();
                if said {
                    println!("got slot {i} of {slots} after waiting {waited:.0}s");
                }
                return Ok((Slot { _file: f }, waited));
            }
        }
        if !said {
            println!("waiting for a free slot: all {slots} heavy-step slots of this worker are busy");
            let _ = std::io::stdout().flush();
            said = true;
        }
        if start.elapsed() >= max_wait {
            return Err(StepError::transient(
                "slot_wait_timeout",
                format!("no free slot after {}s (all {slots} busy)", max_wait.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

fn io_err(action: &str, path: &Path, e: std::io::Error) -> StepError {
    StepError::transient("io", format!("{action} {}: {e}", path.display()))
}

fn migrate_err(e: MigrateError) -> StepError {
    let class = if e.is_transient() { ErrorClass::Transient } else { ErrorClass::Permanent };
    let code = format!(
        "{}_{}",
        e.step,
        serde_json::to_value(e.kind).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    );
    StepError { class, code, message: e.to_string() }
}

fn archive_err(e: archive::ArchiveError) -> StepError {
    let class = match e.class() {
        archive::ErrorClass::Permanent => ErrorClass::Permanent,
        archive::ErrorClass::Transient => ErrorClass::Transient,
    };
    StepError { class, code: e.code().to_string(), message: e.to_string() }
}

fn source_err(e: bak2pg::source::SourceError) -> StepError {
    use bak2pg::source::SourceError;
    match &e {
        SourceError::Backup(b) if b.kind == mssql_backup::ErrorKind::Io => StepError::transient("io", e.to_string()),
        SourceError::Backup(b) => {
            let code = serde_json::to_value(b.kind)
                .ok()
                .and_then(|v| v.as_str().map(|s| format!("backup_{}", s.to_lowercase())))
                .unwrap_or_else(|| "backup".into());
            StepError::permanent(code, e.to_string())
        }
        SourceError::SqlServer { .. } | SourceError::Other(_) => StepError::permanent("source", e.to_string()),
    }
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
            let summary = format!(
                "downloaded {} bytes in {} part(s) (sha256 {}, md5 {}), backup {} bytes{from}",
                out.download.size,
                out.download.parts,
                &out.download.sha256[..16],
                if out.download.md5_checked { "checked" } else { "n/a: multipart ETag" },
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
            "insufficient_space",
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
            "object_changed",
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
            "unsupported_features",
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
        .map_err(|e| StepError::transient("restore_failed", e.to_string()))?;
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

fn plan_of(source: &dyn Source) -> Result<Plan, StepError> {
    ddl::plan(source.database(), &PlanOptions::default())
        .map_err(|e| StepError::permanent("preflight_conversion", e.to_string()))
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
                    "config",
                    format!("{why} (in the pipeline: the configuration parameter sqlserver/url)"),
                ),
                Ok(_) => StepError::permanent("unsupported_features", why),
            });
        }
    };
    let plan = plan_of(source.as_ref())?;
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
        "{} (SQL Server {}), engine {} ({}), {} tables planned, {} objects not migrated",
        info.database,
        info.sql_version.as_deref().unwrap_or("?"),
        info.engine,
        info.engine_reason,
        out.tables,
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
                .map_err(|e| StepError::transient("restore_failed", e.to_string()))?
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
            "plan_changed",
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
        .ok_or_else(|| StepError::permanent("step_order", "plan.json is missing; run step read first"))?;
    if digest_of(&plan) != read.plan_digest {
        return Err(StepError::permanent("plan_changed", "plan.json differs from the one step read wrote"));
    }
    Ok(plan)
}

async fn database_exists(target: &Target, step: bak2pg::Step, name: &str) -> Result<bool, StepError> {
    let c = target.connect(step, target.maintenance_db()).await.map_err(migrate_err)?;
    let row = c
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .await
        .map_err(|e| migrate_err(MigrateError::pg(step, &e)))?;
    Ok(row.is_some())
}

/// The tables whose read-back checksum is not what `load` sent.
fn mismatches(plan: &Plan, loaded: &[LoadedTable], back: &[validate::ReadBack]) -> Vec<String> {
    back.iter()
        .filter(|b| loaded.iter().find(|l| l.table == b.table).is_none_or(|l| l.checksum != b.checksum))
        .map(|b| plan.tables[b.table].source_display())
        .collect()
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
            "loading_database_missing",
            format!("{} no longer exists; replay the execution to load again", load.names.loading),
        ));
    }
    let t = Instant::now();
    let sent: Vec<_> = load.loaded.iter().map(|l| l.checksum).collect();
    let back =
        engine::step_validate(&plan, &opts.target, &load.names, opts.tuning.jobs, &sent).await.map_err(migrate_err)?;
    let mut report = load.report.clone();
    report.steps.push(StepTiming { step, seconds: t.elapsed().as_secs_f64() });
    // A table missing from the load's outputs has no source checksum: a mismatch.
    engine::report_validated(&mut report, &back).map_err(|e| StepError::permanent("validation_mismatch", e.message))?;
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
        let plan = plan_from_s3(ctx, &read).await?;
        let back =
            validate::read_back_all(&plan.tables, &opts.target, &names.name, opts.tuning.jobs).await.map_err(|e| {
                StepError::permanent(
                    "loading_database_missing",
                    format!(
                        "{} is gone and {} cannot be read back ({e}); replay the execution",
                        names.loading, names.name
                    ),
                )
            })?;
        let bad = mismatches(&plan, &load.loaded, &back);
        if !bad.is_empty() || back.len() != load.loaded.len() {
            return Err(StepError::permanent(
                "loading_database_missing",
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
    fn siblings_of_the_job() {
        assert_eq!(sibling("jobs/t/e/job.json", "fetch.json"), "jobs/t/e/fetch.json");
        assert_eq!(sibling("job.json", "plan.json"), "plan.json");
    }

    #[test]
    fn steps_parse() {
        assert_eq!(parse_step("load").unwrap(), StepName::Load);
        assert!(parse_step("restore").unwrap_err().contains("fetch, read, load, validate, swap"));
    }

    #[test]
    fn archive_errors_keep_class_and_code() {
        let e = archive_err(archive::ArchiveError::NoBackupInArchive {
            archive: "x.rar".into(),
            format: archive::ArchiveFormat::Rar5,
            members: vec![],
            total: 0,
        });
        assert_eq!((e.class, e.code.as_str()), (ErrorClass::Permanent, "no_backup_in_archive"));
    }
}
