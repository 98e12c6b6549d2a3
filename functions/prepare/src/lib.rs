//! The `prepare` Lambda: checks the execution input, reads the pipeline's configuration
//! from SSM Parameter Store, checks the object is there, and writes the job document the
//! agent's steps read. Returns what the state machine needs to run the steps.
//!
//! Configuration: parameters under `CONFIG_PATH` (e.g. `/bak2pg/prod/config/`), all plain
//! `String`s; the passwords are *not* here, only the names of their SecureStrings:
//!
//! | parameter                     | meaning                                          | default          |
//! |-------------------------------|--------------------------------------------------|------------------|
//! | `pg/host`, `pg/port`          | PostgreSQL endpoint                              | —, `5432`        |
//! | `pg/user`                     | role with CREATEDB                               | `bak2pg`         |
//! | `pg/maintenance-db`           | database to connect through                      | `postgres`       |
//! | `pg/sslmode`, `pg/ca-file`    | TLS (`verify-full` + RDS bundle on the worker)   | `verify-full`, — |
//! | `pg/password-parameter`       | name of the SecureString with the password       | — (required)     |
//! | `pg/replace`                  | drop the previous database after the swap        | `false`          |
//! | `pg/keep-previous`            | previous copies kept after the swap (older dropped) | `1`           |
//! | `engine`                      | `auto`, `native` or `sqlserver`                  | `auto`           |
//! | `sqlserver/url`               | the worker's SQL Server, `mssql://USER@HOST[:PORT]`, no password | — (the worker's `BAK2PG_MSSQL`) |
//! | `sqlserver/password-parameter`| SecureString for the `sqlserver` engine          | —                |
//! | `worker/tag`                  | the worker pool: SSM managed instances tagged `KEY=VALUE` (see [`workers`]) | — (this or `worker/instance-id`) |
//! | `worker/instance-id`          | one EC2 worker SSM runs the steps on, instead of a pool | —         |
//! | `worker/work-root`            | work folders                                     | `/var/lib/bak2pg/work` |
//! | `worker/slots`                | heavy steps at once on the worker                | `2`              |
//! | `worker/jobs`                 | tables loaded at once per step                   | `4`              |
//! | `worker/part-bytes`           | ranged download part size                        | `67108864`       |
//! | `limits/max-member-bytes`     | largest backup in an archive                     | `1099511627776`  |
//! | `limits/min-free-bytes`       | disk kept free on the worker                     | `1073741824`     |
//! | `limits/step-timeout-seconds` | one step's time limit, slot wait included        | `21600`          |
//! | `limits/heartbeat-seconds`    | a step silent this long is given up and re-run   | `300`            |
//!
//! Per tenant, a mapping file (`bak2pg migrate --config`'s format: tables included or
//! excluded, renames, type overrides) may sit next to the uploads as
//! `<tenant>/bak2pg.toml` in the uploads bucket ([`bak2pg::job::mapping_key`]). `prepare`
//! reads it (at most [`bak2pg::job::MAX_MAPPING_BYTES`]) into the job document, so every
//! step of the execution applies the same file even if it changes meanwhile; the worker
//! parses it and refuses a bad one as a permanent `config` error naming the key. No file:
//! everything moves under its own names.

use std::collections::BTreeMap;

use bak2pg::job::{
    EngineChoice, ErrorCode, JOB_VERSION, JobDocument, MAX_MAPPING_BYTES, MappingFile, PipelineInput, S3Uri, StepError,
    StepName, TargetConfig, WorkerConfig, database_name, is_backup_key, jobs_prefix, mapping_key, tenant_of,
};
use bak2pg_aws::{AwsError, FunctionError};
use serde::{Deserialize, Serialize};

pub mod workers;

/// The Lambda's input: the execution input and the execution's name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PrepareInput {
    /// The execution input.
    pub input: PipelineInput,
    /// `$$.Execution.Name`.
    pub execution: String,
}

/// What the state machine uses to run the steps (`$.job` in its data).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PrepareOutput {
    /// `s3://artifacts/jobs/<db>/<execution>/job.json` (the resumed execution's folder
    /// when the input resumes one).
    pub job_uri: String,
    /// The steps to run, in order: all of them, or those from the resumed step on.
    pub steps: Vec<StepName>,
    /// The worker.
    pub instance_id: String,
    /// The SSM document that runs `bak2pg step`.
    pub document: String,
    /// Bucket for the SSM command output.
    pub output_bucket: String,
    /// Prefix for the SSM command output.
    pub output_prefix: String,
    /// The document's `ExecutionTimeout` (a string, as SSM document parameters are): the
    /// step's limit plus one heartbeat, a backstop behind the agent's own limit.
    pub step_timeout: String,
    /// The Task's `TimeoutSeconds`: the step's limit plus two heartbeats (the agent reports
    /// its own timeout first).
    pub task_timeout_seconds: u64,
    /// The Task's `HeartbeatSeconds`: a step silent this long is given up and run again.
    pub heartbeat_seconds: u64,
    /// SendCommand's `TimeoutSeconds`: how long SSM may try to deliver the command to a
    /// worker that is stopped or offline (then it expires instead of running late).
    pub delivery_timeout_seconds: u64,
    /// The report's key (`reports/<db>/<execution>.json`).
    pub report_uri: String,
}

/// `AWS-RunShellScript`'s and `aws:runShellScript`'s largest `executionTimeout`, in seconds
/// (48 hours, per the SSM document plugin reference).
pub const MAX_EXECUTION_TIMEOUT: u64 = 172_800;

/// Deployment settings from the environment.
#[derive(Debug, Clone)]
pub struct Env {
    /// `CONFIG_PATH`.
    pub config_path: String,
    /// `ARTIFACTS_BUCKET`: jobs, results, reports, SSM output.
    pub artifacts_bucket: String,
    /// `SSM_DOCUMENT`.
    pub document: String,
    /// `SECRETS_PATH` (the template's `SecretsPath`): the worker may read SecureStrings
    /// under it only, so password parameters elsewhere are refused here, by name, rather
    /// than failing on the worker with AccessDenied. Unset: not checked.
    pub secrets_path: Option<String>,
}

impl Env {
    /// Reads `CONFIG_PATH`, `ARTIFACTS_BUCKET`, `SSM_DOCUMENT`.
    ///
    /// # Errors
    /// The name of a missing variable.
    pub fn from_env() -> Result<Env, String> {
        let var = |n: &str| std::env::var(n).map_err(|_| format!("{n} is not set"));
        Ok(Env {
            config_path: var("CONFIG_PATH")?,
            artifacts_bucket: var("ARTIFACTS_BUCKET")?,
            document: var("SSM_DOCUMENT")?,
            secrets_path: std::env::var("SECRETS_PATH").ok().filter(|p| !p.is_empty()),
        })
    }
}

/// `scheme://user:password@host…`: a URL that carries a password in its user info.
fn url_has_password(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    authority.rsplit_once('@').is_some_and(|(userinfo, _)| userinfo.contains(':'))
}

fn config_error(msg: String) -> StepError {
    StepError::permanent(ErrorCode::Config, msg)
}

fn get<'a>(c: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    c.get(k).map(|s| s.trim()).filter(|s| !s.is_empty())
}

fn required(c: &BTreeMap<String, String>, path: &str, k: &str) -> Result<String, StepError> {
    get(c, k).map(str::to_string).ok_or_else(|| config_error(format!("SSM parameter {path}{k} is missing")))
}

fn number<T: std::str::FromStr>(c: &BTreeMap<String, String>, path: &str, k: &str, default: T) -> Result<T, StepError> {
    match get(c, k) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| config_error(format!("SSM parameter {path}{k} is not a number: {v:?}"))),
    }
}

/// Where an execution's steps run, as [`handle`] decided from the configuration, the
/// pool's online workers and the execution it resumes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The instance every step is sent to.
    pub instance_id: String,
    /// A resumed execution whose worker is no longer online: that worker. The steps then
    /// start over, all of them, on `instance_id` (the work folder was on the lost one).
    pub lost: Option<String>,
}

/// Builds the job document and the output from the input, the configuration parameters
/// (relative names, see the module table) and the placement.
///
/// # Errors
/// Permanent errors for an input that does not hold together (names not derived as the
/// trigger derives them) or a configuration that is missing or invalid.
pub fn build(
    env: &Env,
    req: &PrepareInput,
    config: &BTreeMap<String, String>,
    placement: &Placement,
) -> Result<(JobDocument, PrepareOutput), StepError> {
    let i = &req.input;
    let bad = |m: String| StepError::permanent(ErrorCode::BadInput, m);
    let tenant = tenant_of(&i.object.key).map_err(|e| bad(e.to_string()))?;
    if tenant != i.tenant {
        return Err(bad(format!("tenant {:?} is not the key's first segment {tenant:?}", i.tenant)));
    }
    let db = database_name(&i.tenant).map_err(|e| bad(e.to_string()))?;
    if db != i.database {
        return Err(bad(format!("database {:?} is not the one derived from the tenant ({db:?})", i.database)));
    }
    if !is_backup_key(&i.object.key) {
        return Err(bad(format!("key {:?} is not a backup upload", i.object.key)));
    }
    let safe = bak2pg::job::is_safe_execution_name;
    if !safe(&req.execution) {
        return Err(bad(format!("execution name {:?} is not a safe folder name", req.execution)));
    }
    // A resumed execution works in the folder of the one it resumes.
    let execution = i.job_execution(&req.execution);
    if !safe(execution) {
        return Err(bad(format!("resumed execution name {execution:?} is not a safe folder name")));
    }
    let steps: Vec<StepName> = match (&i.resume, &placement.lost) {
        (Some(r), None) => StepName::ALL.into_iter().skip_while(|s| *s != r.step).collect(),
        _ => StepName::ALL.to_vec(),
    };
    let path = &env.config_path;
    let sslmode = get(config, "pg/sslmode").unwrap_or("verify-full").to_string();
    if !["disable", "prefer", "require", "verify-ca", "verify-full"].contains(&sslmode.as_str()) {
        return Err(config_error(format!("SSM parameter {path}pg/sslmode: unknown mode {sslmode:?}")));
    }
    let target = TargetConfig {
        host: required(config, path, "pg/host")?,
        port: number(config, path, "pg/port", 5432u16)?,
        user: get(config, "pg/user").unwrap_or("bak2pg").to_string(),
        maintenance_db: get(config, "pg/maintenance-db").unwrap_or("postgres").to_string(),
        sslmode,
        ca_file: get(config, "pg/ca-file").map(str::to_string),
        password_parameter: required(config, path, "pg/password-parameter")?,
        database: db.clone(),
        replace: get(config, "pg/replace") == Some("true"),
        keep_previous: Some(number(config, path, "pg/keep-previous", 1u32)?),
    };
    let worker = WorkerConfig {
        work_root: get(config, "worker/work-root").unwrap_or("/var/lib/bak2pg/work").to_string(),
        slots: number(config, path, "worker/slots", 2u32)?.max(1),
        jobs: number(config, path, "worker/jobs", 4usize)?.max(1),
        max_member_bytes: number(config, path, "limits/max-member-bytes", 1u64 << 40)?,
        min_free_bytes: number(config, path, "limits/min-free-bytes", 1u64 << 30)?,
        part_bytes: number(config, path, "worker/part-bytes", 64u64 << 20)?,
        heartbeat_seconds: number(config, path, "limits/heartbeat-seconds", 300u64)?.max(10),
        step_timeout_seconds: number(config, path, "limits/step-timeout-seconds", 6 * 3600u64)?.max(60),
        instance_id: Some(placement.instance_id.clone()),
    };
    let (timeout, heartbeat) = (worker.step_timeout_seconds, worker.heartbeat_seconds);
    if timeout + 2 * heartbeat > MAX_EXECUTION_TIMEOUT {
        return Err(config_error(format!(
            "SSM parameters {path}limits/step-timeout-seconds ({timeout}) plus two heartbeats ({heartbeat} s each) \
             exceed the {MAX_EXECUTION_TIMEOUT} s an SSM shell command may run"
        )));
    }
    let engine = match get(config, "engine") {
        None => EngineChoice::Auto,
        Some(e) => EngineChoice::parse(e).ok_or_else(|| {
            config_error(format!("SSM parameter {path}engine: {e:?} is not auto, native or sqlserver"))
        })?,
    };
    let sqlserver_url = get(config, "sqlserver/url").map(str::to_string);
    if sqlserver_url.as_deref().is_some_and(url_has_password) {
        return Err(config_error(format!(
            "SSM parameter {path}sqlserver/url holds a password; keep it in the SecureString named by \
             sqlserver/password-parameter"
        )));
    }
    if let Some(secrets) = &env.secrets_path {
        for k in ["pg/password-parameter", "sqlserver/password-parameter"] {
            if let Some(name) = get(config, k).filter(|n| !n.starts_with(secrets.as_str())) {
                return Err(config_error(format!(
                    "SSM parameter {path}{k} names {name:?}, outside {secrets} (the template's SecretsPath), \
                     which is all the worker may read; move the SecureString under it"
                )));
            }
        }
    }
    let prefix = jobs_prefix(&db, execution);
    let results = format!("s3://{}/{prefix}", env.artifacts_bucket);
    let job = JobDocument {
        version: JOB_VERSION,
        execution: execution.to_string(),
        tenant: i.tenant.clone(),
        object: i.object.clone(),
        target,
        engine,
        sqlserver_url,
        sqlserver_password_parameter: get(config, "sqlserver/password-parameter").map(str::to_string),
        worker,
        results: results.clone(),
        backup_set: i.backup_set,
        mapping: None,
    };
    let out = PrepareOutput {
        job_uri: format!("{results}job.json"),
        steps,
        instance_id: placement.instance_id.clone(),
        document: env.document.clone(),
        output_bucket: env.artifacts_bucket.clone(),
        output_prefix: format!("ssm-output/{db}/{}", req.execution),
        step_timeout: (timeout + heartbeat).to_string(),
        task_timeout_seconds: timeout + 2 * heartbeat,
        heartbeat_seconds: heartbeat,
        // SendCommand accepts 30 s at least.
        delivery_timeout_seconds: heartbeat.max(30),
        report_uri: format!("s3://{}/{}", env.artifacts_bucket, bak2pg::job::report_key(&db, &req.execution)),
    };
    Ok((job, out))
}

/// The tenant's mapping file (`<tenant>/bak2pg.toml` in the uploads bucket), `None` when
/// there is none.
///
/// # Errors
/// S3 failures (classified); a file larger than [`MAX_MAPPING_BYTES`] or not UTF-8
/// (permanent, `config`).
async fn read_mapping(s3: &aws_sdk_s3::Client, bucket: &str, tenant: &str) -> Result<Option<MappingFile>, AwsError> {
    let key = mapping_key(tenant);
    let uri = format!("s3://{bucket}/{key}");
    let op = format!("GetObject {uri}");
    let out = match s3.get_object().bucket(bucket).key(&key).send().await {
        Ok(o) => o,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(AwsError::from_sdk(ErrorCode::S3Get, op, &e)),
    };
    let permanent = |m: String| AwsError::new(bak2pg::job::ErrorClass::Permanent, ErrorCode::Config, &op, m);
    if out.content_length().is_some_and(|n| n as u64 > MAX_MAPPING_BYTES) {
        return Err(permanent(format!("the mapping file is larger than {MAX_MAPPING_BYTES} bytes")));
    }
    let etag = out.e_tag().map(|e| e.trim_matches('"').to_string());
    let bytes = out
        .body
        .collect()
        .await
        .map_err(|e| AwsError::new(bak2pg::job::ErrorClass::Transient, ErrorCode::S3Get, &op, e.to_string()))?
        .into_bytes();
    let text = String::from_utf8(bytes.to_vec()).map_err(|_| permanent("the mapping file is not UTF-8".into()))?;
    Ok(Some(MappingFile { uri, etag, text }))
}

/// The handler: configuration, object check, job document.
///
/// # Errors
/// [`FunctionError`]: permanent for bad input, configuration or a missing object;
/// transient for S3/SSM outages.
pub async fn handle(
    s3: &aws_sdk_s3::Client,
    ssm: &aws_sdk_ssm::Client,
    env: &Env,
    mut req: PrepareInput,
) -> Result<PrepareOutput, FunctionError> {
    let config = bak2pg_aws::get_parameters_by_path(ssm, &env.config_path, false).await?;
    // The object must still be there; its size and ETag are taken from S3 itself.
    let o = &req.input.object;
    let head =
        s3.head_object().bucket(&o.bucket).key(&o.key).set_version_id(o.version_id.clone()).send().await.map_err(
            |e| {
                let mut err =
                    AwsError::from_sdk(ErrorCode::ObjectMissing, format!("HeadObject s3://{}/{}", o.bucket, o.key), &e);
                if err.class == bak2pg::job::ErrorClass::Transient {
                    err.code = ErrorCode::S3Head;
                }
                err
            },
        )?;
    req.input.object.size = head.content_length().map(|n| n.max(0) as u64);
    req.input.object.etag = head.e_tag().map(|e| e.trim_matches('"').to_string());
    let selector = workers::selector(&config, &env.config_path)?;
    // Built once with the configured instance (or none yet) to check the input and find
    // the job's URI, then again with the worker chosen.
    let provisional = Placement {
        instance_id: match &selector {
            workers::Selector::Instance(id) => id.clone(),
            workers::Selector::Tag { .. } => String::new(),
        },
        lost: None,
    };
    let (job, out) = build(env, &req, &config, &provisional)?;
    let uri = S3Uri::parse(&out.job_uri).map_err(|e| StepError::permanent(ErrorCode::Config, e))?;
    let mut earlier_worker = None;
    if let Some(r) = &req.input.resume {
        // Only the same upload may be resumed: the earlier steps' results are about it.
        let earlier: Option<JobDocument> = bak2pg_aws::get_json(s3, &uri).await?;
        let earlier = earlier.ok_or_else(|| {
            StepError::permanent(
                ErrorCode::ResumeMissing,
                format!("{uri} does not exist: execution {} left no job", r.execution),
            )
        })?;
        let (a, b) = (&earlier.object, &job.object);
        if (&a.bucket, &a.key, &a.version_id, &a.etag) != (&b.bucket, &b.key, &b.version_id, &b.etag) {
            return Err(StepError::permanent(
                ErrorCode::ResumeMismatch,
                format!(
                    "execution {} migrated s3://{}/{} (ETag {:?}), not this input's object (ETag {:?})",
                    r.execution, a.bucket, a.key, a.etag, b.etag
                ),
            )
            .into());
        }
        earlier_worker = earlier.worker.instance_id;
    }
    let (job, out) = match selector {
        workers::Selector::Instance(_) => (job, out),
        workers::Selector::Tag { key, value } => {
            let online = workers::online(ssm, &key, &value).await?;
            let placement = match earlier_worker {
                // A resumed execution stays where its work folder is, while that worker lives.
                Some(w) if online.contains(&w) => Placement { instance_id: w, lost: None },
                lost => {
                    let busy = workers::busy(ssm, &env.document).await?;
                    let chosen = workers::choose(&online, &busy, &req.execution)
                        .ok_or_else(|| workers::no_worker(&key, &value))?;
                    Placement { instance_id: chosen.to_string(), lost }
                }
            };
            if let Some(lost) = &placement.lost {
                tracing::warn!(execution = %req.execution, %lost, now = %placement.instance_id,
                    "the resumed execution's worker is not online: its steps start over on another");
            }
            build(env, &req, &config, &placement)?
        }
    };
    let mut job = job;
    job.mapping = read_mapping(s3, &req.input.object.bucket, &req.input.tenant).await?;
    // Written again on resume: the configuration may have been fixed since.
    bak2pg_aws::put_json(s3, &uri, &job).await?;
    tracing::info!(execution = %req.execution, job = %out.job_uri, "job document written");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bak2pg::job::ObjectRef;

    fn req() -> PrepareInput {
        PrepareInput {
            input: PipelineInput {
                object: ObjectRef {
                    bucket: "up".into(),
                    key: "hotel123/Hotel Backup.rar".into(),
                    version_id: None,
                    sequencer: Some("01".into()),
                    size: Some(5),
                    etag: None,
                },
                tenant: "hotel123".into(),
                database: "hotel123".into(),
                attempt: 0,
                backup_set: None,
                resume: None,
            },
            execution: "hotel123-0123".into(),
        }
    }

    fn here() -> Placement {
        Placement { instance_id: "i-0123456789abcdef0".into(), lost: None }
    }

    fn config() -> BTreeMap<String, String> {
        [
            ("pg/host", "db.internal"),
            ("pg/password-parameter", "/bak2pg/test/secrets/pg-password"),
            ("worker/instance-id", "i-0123456789abcdef0"),
            ("limits/heartbeat-seconds", "60"),
            ("limits/step-timeout-seconds", "600"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn env() -> Env {
        Env {
            config_path: "/bak2pg/test/config/".into(),
            artifacts_bucket: "art".into(),
            document: "doc".into(),
            secrets_path: None,
        }
    }

    #[test]
    fn builds_the_job_and_the_step_limits() {
        let (job, out) = build(&env(), &req(), &config(), &here()).unwrap();
        assert_eq!(out.job_uri, "s3://art/jobs/hotel123/hotel123-0123/job.json");
        assert_eq!(out.report_uri, "s3://art/reports/hotel123/hotel123-0123.json");
        assert_eq!(out.steps, StepName::ALL.to_vec());
        assert_eq!((job.worker.step_timeout_seconds, job.worker.heartbeat_seconds), (600, 60));
        // The agent's limit first, then SSM's (one heartbeat later), then the Task's.
        assert_eq!((out.step_timeout.as_str(), out.task_timeout_seconds), ("660", 720));
        assert_eq!((out.heartbeat_seconds, out.delivery_timeout_seconds), (60, 60));
        assert_eq!(job.target.sslmode, "verify-full");
        assert_eq!(job.target.url(), "postgres://bak2pg@db.internal:5432/postgres?sslmode=verify-full");
        assert_eq!(job.worker.slots, 2);
    }

    #[test]
    fn refuses_inconsistent_input_and_missing_config() {
        let mut r = req();
        r.input.database = "other".into();
        assert_eq!(build(&env(), &r, &config(), &here()).unwrap_err().code, "bad_input");
        let mut r = req();
        r.execution = "../x".into();
        assert_eq!(build(&env(), &r, &config(), &here()).unwrap_err().code, "bad_input");
        let mut c = config();
        c.remove("pg/host");
        let e = build(&env(), &req(), &c, &here()).unwrap_err();
        assert_eq!((e.class, e.code.as_str()), (bak2pg::job::ErrorClass::Permanent, "config"));
        assert!(e.message.contains("/bak2pg/test/config/pg/host"), "{e}");
        let mut c = config();
        c.insert("worker/slots".into(), "many".into());
        assert!(build(&env(), &req(), &c, &here()).is_err());
    }

    #[test]
    fn a_resumed_execution_uses_the_earlier_folder_and_the_remaining_steps() {
        let mut r = req();
        r.execution = "hotel123-0123-resume".into();
        r.input.resume = Some(bak2pg::job::Resume { execution: "hotel123-0123".into(), step: StepName::Load });
        let (job, out) = build(&env(), &r, &config(), &here()).unwrap();
        assert_eq!(job.execution, "hotel123-0123");
        assert_eq!(out.job_uri, "s3://art/jobs/hotel123/hotel123-0123/job.json");
        assert_eq!(out.steps, [StepName::Load, StepName::Validate, StepName::Swap]);
        assert_eq!(out.report_uri, "s3://art/reports/hotel123/hotel123-0123-resume.json");
        // Its worker gone: everything again, on another, in the same job folder.
        let moved = Placement { instance_id: "i-other".into(), lost: Some("i-0123456789abcdef0".into()) };
        let (job, out) = build(&env(), &r, &config(), &moved).unwrap();
        assert_eq!((out.steps, out.instance_id.as_str()), (StepName::ALL.to_vec(), "i-other"));
        assert_eq!((job.execution.as_str(), job.worker.instance_id.as_deref()), ("hotel123-0123", Some("i-other")));
        r.input.resume = Some(bak2pg::job::Resume { execution: "../other".into(), step: StepName::Load });
        assert_eq!(build(&env(), &r, &config(), &here()).unwrap_err().code, "bad_input");
    }

    #[test]
    fn password_parameters_outside_the_secrets_path_are_refused() {
        let env = Env { secrets_path: Some("/bak2pg/secrets/".into()), ..env() };
        let e = build(&env, &req(), &config(), &here()).unwrap_err();
        assert!(e.code == "config" && e.message.contains("outside /bak2pg/secrets/"), "{e}");
        let mut c = config();
        c.insert("pg/password-parameter".into(), "/bak2pg/secrets/pg".into());
        assert!(build(&env, &req(), &c, &here()).is_ok());
    }

    #[test]
    fn a_step_limit_beyond_what_ssm_allows_is_refused() {
        let mut c = config();
        c.insert("limits/step-timeout-seconds".into(), "172800".into());
        let e = build(&env(), &req(), &c, &here()).unwrap_err();
        assert!(e.code == "config" && e.message.contains("172800"), "{e}");
    }

    #[test]
    fn engine_and_sqlserver_settings() {
        let (job, _) = build(&env(), &req(), &config(), &here()).unwrap();
        assert_eq!((job.engine, job.sqlserver_url.as_deref()), (EngineChoice::Auto, None));
        let mut c = config();
        c.insert("engine".into(), "SqlServer".into());
        c.insert("sqlserver/url".into(), "mssql://sa@localhost:1433?encrypt=on&trust_server_certificate=true".into());
        c.insert("sqlserver/password-parameter".into(), "/bak2pg/secrets/mssql".into());
        let (job, _) = build(&env(), &req(), &c, &here()).unwrap();
        assert_eq!(job.engine, EngineChoice::Sqlserver);
        assert_eq!(
            job.sqlserver_url.as_deref(),
            Some("mssql://sa@localhost:1433?encrypt=on&trust_server_certificate=true")
        );
        assert_eq!(job.sqlserver_password_parameter.as_deref(), Some("/bak2pg/secrets/mssql"));
        c.insert("engine".into(), "oracle".into());
        let e = build(&env(), &req(), &c, &here()).unwrap_err();
        assert!(e.code == "config" && e.message.contains("config/engine"), "{e}");
        let mut c = config();
        c.insert("sqlserver/url".into(), "mssql://sa:Secret1@localhost".into());
        let e = build(&env(), &req(), &c, &here()).unwrap_err();
        assert!(e.code == "config" && !e.message.contains("Secret1"), "{e}");
    }

    #[test]
    fn passwords_in_urls_are_recognised() {
        assert!(url_has_password("mssql://sa:pw@host"));
        assert!(url_has_password("mssql://user:p%40w@host:1433?x=y"));
        assert!(!url_has_password("mssql://sa@host:1433"));
        assert!(!url_has_password("mssql://host:1433/?a=b:c@d"));
    }
}
