//! `bak2pg step <fetch|read|load|validate|swap> --job s3://…/job.json`: one step of the
//! AWS pipeline, as SSM Run Command runs it on the worker.
//!
//! The steps call the same engine functions as `bak2pg migrate`
//! ([`bak2pg::archive::prepare_backup`], [`bak2pg::source::native::NativeSource`], `bak2pg::migrate::*_phase`),
//! split where the state machine retries (the step bodies are in [`work`]):
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
//! 1 failed with a result written, 3 failed without one (S3 unreachable), 4 stopped because
//! the state machine gave up on the step.
//!
//! With `BAK2PG_TASK_TOKEN` (the SSM document sets it from the state machine's task token)
//! the step reports to Step Functions itself ([`callback`]): heartbeats while it runs, then
//! `SendTaskSuccess` or `SendTaskFailure`; the work runs in a child process so that a step
//! killed by the kernel is still reported. One step of an execution runs at a time on the
//! worker ([`slots::ExecutionLock`]).
//!
//! The work root is the job's `worker.work_root`, unless the worker's environment sets
//! `BAK2PG_WORK_ROOT`: a pool may mount its disks at different places (and the emulated
//! pool of the tests runs three workers on one machine).
//!
//! Heavy steps take one of `worker.slots` slots (lock files in `<work_root>/.slots`,
//! released by the kernel when the process ends, so a killed step frees its slot); a step
//! that has to wait prints so and keeps waiting: the step's time limit covers it.
//!
//! Engine (`--engine`, else the job's `engine`, chosen by [`bak2pg::source::select::decide`] as for
//! `migrate`): with `sqlserver`, `read` restores the backup on the worker's SQL Server and
//! keeps the restored database for `load`, which reads its rows over TDS and drops it
//! afterwards (`--keep-restored` keeps it). A `read` run again drops the database its
//! earlier success restored; a `load` that finds it gone restores again.
//!
//! Secrets: the PostgreSQL and SQL Server passwords are read from the SSM SecureStrings the
//! job names, with the instance role, and handed to the connections only; they are never
//! printed or written. The task token is not a secret (it completes a task only for a
//! caller allowed `states:SendTask*` on this state machine: the worker role); it is still
//! kept off command lines.

mod callback;
mod errors;
mod slots;
mod work;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use bak2pg::archive::Limits;
use bak2pg::ddl::PlanOptions;
use bak2pg::job::{
    EngineChoice, ErrorCode, JOB_VERSION, JobDocument, S3Uri, StepError, StepName, StepResult, StepStatus, digest_of,
};
use bak2pg::migrate::MigrateOptions;
use bak2pg::source::sqlserver::{MssqlConfig, RestoreOptions, Secret};
use serde::{Deserialize, Serialize};

use crate::migrate::Engine;
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
                ErrorCode::StepOrder,
                format!("step {step} has no successful result for this execution; run the steps in order"),
            )
        })?;
        let out = serde_json::from_value(r.outputs.clone())
            .map_err(|e| StepError::permanent(ErrorCode::BadDocument, format!("{step}.json outputs: {e}")))?;
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
        let mut opts =
            MigrateOptions::new(&t.url()).map_err(|e| StepError::permanent(ErrorCode::Config, e.to_string()))?;
        if !t.password_parameter.is_empty() {
            let pw = bak2pg_aws::get_parameter(&self.ssm, &t.password_parameter, true).await?;
            opts.target = opts.target.with_default_password(Some(&pw));
        }
        opts.database = Some(t.database.clone());
        opts.keep_previous = t.keep_previous();
        opts.tuning.jobs = self.job.worker.jobs.max(1);
        opts.plan = self.plan_options()?;
        Ok(opts)
    }

    /// The plan options of this job: defaults, and the tenant's mapping file when
    /// `prepare` found one.
    fn plan_options(&self) -> Result<PlanOptions, StepError> {
        let mut plan = PlanOptions::default();
        if let Some(m) = &self.job.mapping {
            let parsed = bak2pg::mapping::Mapping::parse(&m.text, &m.uri)
                .map_err(|e| StepError::permanent(ErrorCode::Config, e.to_string()))?;
            plan.mapping = Some(parsed);
        }
        Ok(plan)
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
        let mut setup = args.setup(secret).map_err(|e| StepError::permanent(ErrorCode::Config, format!("{e:#}")))?;
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
                ErrorCode::Config,
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
    Ok(runtime.block_on(async {
        // One SDK configuration and one read of the job document per process.
        let cfg = bak2pg_aws::sdk_config().await;
        let loaded = load_job(&bak2pg_aws::s3_client(&cfg), &args.job).await;
        match callback::role() {
            callback::Role::Supervisor(token) => callback::supervise(&args, token, &cfg, loaded).await,
            callback::Role::Child(outcome) => {
                let o = run_step(args, &cfg, loaded).await;
                callback::write_outcome(&outcome, &o);
                o.exit_code()
            }
            callback::Role::Alone => {
                // Not under the state machine: one copy at a time, refused rather than waited for.
                let lock =
                    loaded.as_ref().map_err(Clone::clone).and_then(|(_, job)| slots::ExecutionLock::try_acquire(job));
                match lock {
                    Ok(_lock) => run_step(args, &cfg, loaded).await.exit_code(),
                    Err(e) => Outcome::unrecorded(args.step, e).exit_code(),
                }
            }
        }
    }))
}

/// How a step ended: for the exit status, and what [`callback`] tells the state machine.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Outcome {
    step: StepName,
    /// The summary, or the classified error.
    result: Result<Done, StepError>,
    /// Whether `<step>.json` was written (exit 1 rather than 3 on failure).
    recorded: bool,
}

/// A step that succeeded (or was skipped: it had already succeeded for this input).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Done {
    summary: String,
    seconds: f64,
    waited_seconds: f64,
    skipped: bool,
}

impl Outcome {
    /// A failure before the result could be written, printed as the step's line.
    fn unrecorded(step: StepName, e: StepError) -> Outcome {
        println!("bak2pg step {step}: failed ({:?} {}): {}", e.class, e.code, e.message.replace('\n', " "));
        Outcome { step, result: Err(e), recorded: false }
    }

    fn exit_code(&self) -> ExitCode {
        match (&self.result, self.recorded) {
            (Ok(_), _) => ExitCode::SUCCESS,
            (Err(_), true) => ExitCode::from(1),
            (Err(_), false) => ExitCode::from(3),
        }
    }
}

/// The job document at `uri`, checked for its version.
async fn load_job(s3: &aws_sdk_s3::Client, uri: &str) -> Result<(S3Uri, JobDocument), StepError> {
    let job_uri = S3Uri::parse(uri).map_err(|e| StepError::permanent(ErrorCode::BadJobUri, e))?;
    match bak2pg_aws::get_json::<JobDocument>(s3, &job_uri).await? {
        Some(mut j) if j.version == JOB_VERSION => {
            if let Some(root) = std::env::var_os("BAK2PG_WORK_ROOT").filter(|r| !r.is_empty()) {
                j.worker.work_root = root.to_string_lossy().into_owned();
            }
            Ok((job_uri, j))
        }
        Some(j) => {
            Err(StepError::permanent(ErrorCode::BadJob, format!("job version {} is not {JOB_VERSION}", j.version)))
        }
        None => Err(StepError::permanent(ErrorCode::BadJob, format!("{job_uri} does not exist"))),
    }
}

/// The step itself: skip when done, take a slot, run, record the result.
async fn run_step(args: Args, cfg: &bak2pg_aws::SdkConfig, loaded: Result<(S3Uri, JobDocument), StepError>) -> Outcome {
    let step = args.step;
    let started = Instant::now();
    let started_at = bak2pg::report::utc_rfc3339(SystemTime::now());
    let (job_uri, job) = match loaded {
        Ok(j) => j,
        Err(e) => return Outcome::unrecorded(step, e),
    };
    let s3 = bak2pg_aws::s3_client(cfg);
    let ssm = bak2pg_aws::ssm_client(cfg);
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
            let done = Done { summary: r.summary, seconds: r.seconds, waited_seconds: r.waited_seconds, skipped: true };
            return Outcome { step, result: Ok(done), recorded: true };
        }
        Ok(_) => {}
        Err(e) => return Outcome::unrecorded(step, e),
    }

    let mut waited = 0.0;
    let _slot = if step.is_heavy() {
        match slots::take_slot(&ctx.job, Duration::from_secs(args.slot_wait_seconds)).await {
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
    let outcome = work::run(&ctx, step).await;
    finish(&ctx, step, &started_at, started, waited, digest, outcome).await
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
) -> Outcome {
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
    if let Err(e) = written {
        println!("bak2pg step {step}: could not write the result: {e}");
        // The step's own error, if any, is the one to report; else the failed write.
        return Outcome { step, result: Err(error.unwrap_or(e.to_step_error())), recorded: false };
    }
    let result = match error {
        None => Ok(Done { summary, seconds, waited_seconds: waited, skipped: false }),
        Some(e) => Err(e),
    };
    Outcome { step, result, recorded: true }
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

#[cfg(test)]
mod tests {
    use super::*;
    use bak2pg::archive;
    use bak2pg::job::ErrorClass;
    use errors::archive_err;

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
