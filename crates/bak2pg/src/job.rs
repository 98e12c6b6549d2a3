//! The AWS pipeline's shared vocabulary: the execution input, the job document the agent
//! reads, the result each agent step writes, the dead-letter message, and the naming rules
//! (tenant, database, execution name) — used by the Lambda functions and by the agent's
//! `bak2pg step`, so both sides agree by construction.
//!
//! Built without the `engine` feature (no backup reader, no PostgreSQL): only serde, sha2
//! and hex.
//!
//! ## Where things live (one execution)
//!
//! | what                 | where                                                            |
//! |----------------------|------------------------------------------------------------------|
//! | job document         | `s3://<bucket>/jobs/<tenant>/<execution>/job.json`               |
//! | step result          | `s3://<bucket>/jobs/<tenant>/<execution>/<step>.json`            |
//! | SSM command output   | `s3://<bucket>/ssm-output/<tenant>/<execution>/…` (by SSM)       |
//! | final report         | `s3://<bucket>/reports/<tenant>/<execution>.json`                |
//! | work files           | `<work_root>/<execution>/` on the worker, removed after `load`   |
//!
//! Nothing here holds a secret: passwords are named by their SSM parameter, and the
//! agent reads them itself with the instance role.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Version of the job document and step result layout; a reader refuses other versions.
pub const JOB_VERSION: u32 = 1;

/// Error name (Lambda `errorType`) for a failure that retrying cannot fix; the state
/// machine sends it to the dead-letter queue without a retry.
pub const ERROR_PERMANENT: &str = "Bak2pg.Permanent";
/// Error name for a failure a later retry may fix; the state machine retries with backoff.
pub const ERROR_TRANSIENT: &str = "Bak2pg.Transient";

/// File name extensions (lowercase, with the dot) of uploads the pipeline accepts.
pub const BACKUP_EXTENSIONS: [&str; 4] = [".rar", ".zip", ".7z", ".bak"];

/// Longest database name derived from a tenant, in bytes: PostgreSQL's 63 less room for
/// `__prev_<UTC time>_NN` (see `bak2pg::target::Names`).
pub const MAX_DATABASE_BYTES: usize = 63 - 7 - 19;

/// Whether retrying the same input later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// The input itself is unusable (bad archive, no backup, incomplete backup, a schema
    /// PostgreSQL refuses): retrying cannot help; the customer or an operator must act.
    Permanent,
    /// The machine or a service failed (S3, PostgreSQL unreachable, disk, a busy
    /// database): a retry can succeed.
    Transient,
}

impl ErrorClass {
    /// The error name the state machine matches ([`ERROR_PERMANENT`], [`ERROR_TRANSIENT`]).
    pub fn error_name(self) -> &'static str {
        match self {
            ErrorClass::Permanent => ERROR_PERMANENT,
            ErrorClass::Transient => ERROR_TRANSIENT,
        }
    }
}

/// A classified failure: `class` decides retry or dead-letter, `code` says what failed
/// (for programs: dashboards, alarms, the tests), `message` is for people and never holds
/// a secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{code} ({class:?}): {message}")]
pub struct StepError {
    /// Permanent or transient.
    pub class: ErrorClass,
    /// Stable code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $name:literal,)*) => {
        /// What failed, as a stable code: its snake_case name in JSON, step results, the
        /// state machine's causes and dead-letter messages.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(from = "String", into = "String")]
        #[non_exhaustive]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)*
            /// A code derived from an engine error's own classification, not listed above:
            /// `<step>_<kind>` of a migration error (`load_data_conflict`), `backup_<kind>`
            /// of the backup reader (`backup_checksum`), an archive's code
            /// (`no_backup_in_archive`).
            Derived(String),
        }

        impl ErrorCode {
            /// The code's name.
            pub fn as_str(&self) -> &str {
                match self {
                    $(ErrorCode::$variant => $name,)*
                    ErrorCode::Derived(s) => s,
                }
            }
        }

        impl From<String> for ErrorCode {
            fn from(s: String) -> Self {
                match s.as_str() {
                    $($name => ErrorCode::$variant,)*
                    _ => ErrorCode::Derived(s),
                }
            }
        }
    };
}

error_codes! {
    /// The execution input or a Lambda's input does not hold together.
    BadInput = "bad_input",
    /// The job document is missing or of another version.
    BadJob = "bad_job",
    /// The `--job` argument is not an `s3://` URI.
    BadJobUri = "bad_job_uri",
    /// A document next to the job (a step result, the plan) does not parse or is another's.
    BadDocument = "bad_document",
    /// The pipeline's configuration is missing or invalid.
    Config = "config",
    /// The worker pool could not be listed, or none of its workers is online.
    WorkerLookup = "worker_lookup",
    /// A resumed execution left no job document.
    ResumeMissing = "resume_missing",
    /// A resumed execution migrated another object.
    ResumeMismatch = "resume_mismatch",
    /// The uploaded object is not there (or not readable).
    ObjectMissing = "object_missing",
    /// The uploaded object changed while it was being read, or since `fetch`.
    ObjectChanged = "object_changed",
    /// S3 HeadObject failed.
    S3Head = "s3_head",
    /// S3 GetObject of a document failed.
    S3Get = "s3_get",
    /// S3 PutObject of a document failed.
    S3Put = "s3_put",
    /// The download of the upload failed.
    S3Download = "s3_download",
    /// The bytes downloaded do not match the object's checksum.
    Checksum = "checksum",
    /// An SSM parameter could not be read.
    SsmParameter = "ssm_parameter",
    /// A message could not be sent to SQS.
    SqsSend = "sqs_send",
    /// A local file operation failed.
    Io = "io",
    /// Not enough free disk for the download and its extraction.
    InsufficientSpace = "insufficient_space",
    /// No heavy-step slot came free in time.
    SlotWaitTimeout = "slot_wait_timeout",
    /// Another step of the execution runs on the worker.
    StepRunning = "step_running",
    /// The step reached its time limit.
    StepTimeout = "step_timeout",
    /// The step's process ended without an outcome (killed).
    StepDied = "step_died",
    /// A step ran before the one it builds on succeeded.
    StepOrder = "step_order",
    /// The plan differs from the one `read` made.
    PlanChanged = "plan_changed",
    /// The native reader cannot read what the backup holds.
    UnsupportedFeatures = "unsupported_features",
    /// A table cannot be planned for PostgreSQL.
    PreflightConversion = "preflight_conversion",
    /// SQL Server could not restore the backup (or be reached).
    RestoreFailed = "restore_failed",
    /// The row source failed.
    Source = "source",
    /// What PostgreSQL holds differs from what was sent.
    ValidationMismatch = "validation_mismatch",
    /// The loading database is gone.
    LoadingDatabaseMissing = "loading_database_missing",
}

impl From<ErrorCode> for String {
    fn from(c: ErrorCode) -> String {
        c.as_str().to_string()
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorCode {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl StepError {
    /// A permanent error.
    pub fn permanent(code: ErrorCode, message: impl Into<String>) -> Self {
        StepError { class: ErrorClass::Permanent, code, message: message.into() }
    }
    /// A transient error.
    pub fn transient(code: ErrorCode, message: impl Into<String>) -> Self {
        StepError { class: ErrorClass::Transient, code, message: message.into() }
    }

    /// The error as JSON for the state machine's `Cause`, its message cut to at most
    /// [`MAX_CAUSE_MESSAGE`] bytes (on a character boundary) with `where_full` said after
    /// the cut. What crosses the state machine stays far below Step Functions' 256 KiB
    /// payload limit (a limit no `Catch` can handle), however many tables a message lists.
    pub fn bounded_cause(&self, where_full: &str) -> String {
        let mut e = self.clone();
        truncate_noting(&mut e.message, MAX_CAUSE_MESSAGE, &format!("the full message is in {where_full}"));
        serde_json::to_string(&e).expect("serializable")
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary and, when it was cut, says so
/// after the cut: `… (truncated; <where>)`.
pub fn truncate_noting(text: &mut String, max: usize, whole_is: &str) {
    if text.len() > max {
        text.truncate(text.floor_char_boundary(max));
        text.push_str(&format!("… (truncated; {whole_is})"));
    }
}

/// Longest error message, in bytes, that [`StepError::bounded_cause`] passes on.
pub const MAX_CAUSE_MESSAGE: usize = 4096;

/// The agent's steps, in pipeline order. Each is one SSM command
/// (`bak2pg step <name> --job <s3 uri>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepName {
    /// Download the object from S3 (ranged parts, size and checksum checked) into the work
    /// folder and find/extract the backup in it.
    Fetch,
    /// Open the backup: completeness, catalog, the PostgreSQL plan. No PostgreSQL access.
    Read,
    /// Preflight the server, create `<db>__loading` (dropping a leftover one of ours),
    /// COPY every table, create keys and constraints.
    Load,
    /// Read every table back and compare row counts and checksums with what was sent.
    Validate,
    /// Rename the validated database into place.
    Swap,
}

impl StepName {
    /// All steps in order.
    pub const ALL: [StepName; 5] =
        [StepName::Fetch, StepName::Read, StepName::Load, StepName::Validate, StepName::Swap];

    /// The name used on the command line, in file names and in the state machine.
    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Fetch => "fetch",
            StepName::Read => "read",
            StepName::Load => "load",
            StepName::Validate => "validate",
            StepName::Swap => "swap",
        }
    }

    /// Parses [`StepName::as_str`].
    pub fn parse(s: &str) -> Option<StepName> {
        StepName::ALL.into_iter().find(|n| n.as_str() == s)
    }

    /// Heavy steps take one of the worker's slots (disk, CPU, PostgreSQL load).
    pub fn is_heavy(self) -> bool {
        !matches!(self, StepName::Swap)
    }
}

impl fmt::Display for StepName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The uploaded object, as the S3 event named it (key already URL-decoded).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Bucket name.
    pub bucket: String,
    /// Object key, decoded (`hotel123/Hotel Backup.rar`).
    pub key: String,
    /// Version id when the bucket is versioned.
    #[serde(default)]
    pub version_id: Option<String>,
    /// The event's sequencer (orders events of one key; unique per PUT).
    #[serde(default)]
    pub sequencer: Option<String>,
    /// Size in bytes from the event.
    #[serde(default)]
    pub size: Option<u64>,
    /// ETag from the event (quotes removed).
    #[serde(default)]
    pub etag: Option<String>,
}

/// The state machine's input (what the trigger starts an execution with).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PipelineInput {
    /// The uploaded object.
    pub object: ObjectRef,
    /// First key segment, as uploaded.
    pub tenant: String,
    /// The PostgreSQL database to create (see [`database_name`]).
    pub database: String,
    /// 0 for the upload itself, n for the n-th replay from the dead-letter queue.
    #[serde(default)]
    pub attempt: u32,
    /// The backup set to read when the file holds several (`RESTORE … FILE = n`); absent:
    /// the last full one. An operator sets it in a console replay's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_set: Option<u16>,
    /// Resume an earlier execution of this upload from one of its steps instead of starting
    /// afresh: the steps before it are not run again (their results, next to the earlier
    /// execution's job document, are used). What a console *Redrive* does within 14 days of
    /// a failure; this input does it later, or after the definition changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

/// [`PipelineInput::resume`]: `{"execution": "<earlier execution name>", "step": "load"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    /// The earlier execution's name (its job folder is reused).
    pub execution: String,
    /// The first step to run.
    pub step: StepName,
}

impl PipelineInput {
    /// The execution whose job folder the steps use: the resumed one, else `execution`.
    pub fn job_execution<'a>(&'a self, execution: &'a str) -> &'a str {
        self.resume.as_ref().map_or(execution, |r| r.execution.as_str())
    }
}

/// How the agent reaches PostgreSQL. Non-secret: the password is read by the agent from
/// the SSM SecureString `password_parameter`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetConfig {
    /// Host name or address.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Role to log in as (needs CREATEDB).
    pub user: String,
    /// Database to connect to for CREATE/ALTER/DROP DATABASE (`postgres`).
    pub maintenance_db: String,
    /// `disable`, `prefer` or `require` (RDS: `require`).
    pub sslmode: String,
    /// PEM file of CA certificates on the worker (the RDS bundle); webpki roots when absent.
    #[serde(default)]
    pub ca_file: Option<String>,
    /// SSM parameter (SecureString) holding the password; empty for none.
    pub password_parameter: String,
    /// The database to create.
    pub database: String,
    /// Drop the previous database after the swap instead of keeping `<db>__prev_<UTC>`
    /// (the same as `keep_previous` 0).
    #[serde(default)]
    pub replace: bool,
    /// How many previous copies to keep after the swap (default 1); older ones are dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_previous: Option<u32>,
}

impl TargetConfig {
    /// The previous copies to keep: 0 with `replace`, else `keep_previous` or 1.
    pub fn keep_previous(&self) -> u32 {
        if self.replace { 0 } else { self.keep_previous.unwrap_or(1) }
    }

    /// The connection URL without password (`postgres://user@host:port/db?sslmode=…`).
    pub fn url(&self) -> String {
        let mut url = format!(
            "postgres://{}@{}:{}/{}?sslmode={}",
            url_escape(&self.user),
            self.host,
            self.port,
            url_escape(&self.maintenance_db),
            self.sslmode
        );
        if let Some(ca) = &self.ca_file {
            url.push_str(&format!("&sslrootcert={}", url_escape(ca)));
        }
        url
    }
}

/// The engine asked for (`--engine`, the job's `engine`): one rule for `migrate` and the
/// pipeline, applied by `bak2pg::source::select::decide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineChoice {
    /// Native when it reads everything in the backup, else sqlserver.
    #[default]
    Auto,
    /// The native reader only.
    Native,
    /// RESTORE on SQL Server.
    Sqlserver,
}

impl EngineChoice {
    /// Parses `auto`, `native` or `sqlserver` (any case).
    pub fn parse(s: &str) -> Option<EngineChoice> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(EngineChoice::Auto),
            "native" => Some(EngineChoice::Native),
            "sqlserver" => Some(EngineChoice::Sqlserver),
            _ => None,
        }
    }
}

/// What the worker may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerConfig {
    /// Folder holding one work folder per execution.
    pub work_root: String,
    /// Heavy steps that may run at once on the worker (slots of the worker's lock).
    pub slots: u32,
    /// Tables loaded (and read back) at once by one step.
    pub jobs: usize,
    /// Largest backup member an archive may hold, in bytes.
    pub max_member_bytes: u64,
    /// Free bytes that must remain after download and extraction.
    pub min_free_bytes: u64,
    /// Part size of ranged downloads, in bytes.
    pub part_bytes: u64,
    /// The state machine's `HeartbeatSeconds` for a step: a step sends a heartbeat every
    /// fifth of it, and the state machine gives up on a step that stays silent this long.
    #[serde(default = "default_heartbeat_seconds")]
    pub heartbeat_seconds: u64,
    /// One step's time limit, slot wait included: the agent stops the step and reports a
    /// timeout (not retried) when it is reached.
    #[serde(default = "default_step_timeout_seconds")]
    pub step_timeout_seconds: u64,
    /// The instance `prepare` chose for this execution: every step runs there, where the
    /// work folder is. Absent in jobs written before worker pools.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
}

fn default_heartbeat_seconds() -> u64 {
    300
}

fn default_step_timeout_seconds() -> u64 {
    6 * 3600
}

/// The job document: everything a step needs, written once by `prepare`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDocument {
    /// [`JOB_VERSION`].
    pub version: u32,
    /// Execution name (also the work folder's name).
    pub execution: String,
    /// Tenant (first key segment).
    pub tenant: String,
    /// The upload.
    pub object: ObjectRef,
    /// PostgreSQL.
    pub target: TargetConfig,
    /// The engine (configuration `engine`; `bak2pg step --engine` overrides it).
    #[serde(default)]
    pub engine: EngineChoice,
    /// The worker's SQL Server for the `sqlserver` engine, `mssql://USER@HOST[:PORT][?…]`
    /// without password (configuration `sqlserver/url`); `bak2pg step --mssql` or the
    /// worker's `BAK2PG_MSSQL`/`MSSQL_*` variables take precedence.
    #[serde(default)]
    pub sqlserver_url: Option<String>,
    /// SQL Server password parameter (SecureString), for the `sqlserver` engine (read by
    /// the agent with the instance role).
    #[serde(default)]
    pub sqlserver_password_parameter: Option<String>,
    /// Worker limits.
    pub worker: WorkerConfig,
    /// `s3://bucket/jobs/<tenant>/<execution>/`: the job and step results.
    pub results: String,
    /// The backup set to read when the file holds several (from the execution input);
    /// `None`: the last full one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_set: Option<u16>,
    /// The tenant's mapping file ([`mapping_key`]), as `prepare` read it; `None` when the
    /// tenant has none. Parsed and applied by the worker (`bak2pg migrate --config`'s rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingFile>,
}

/// The name of a tenant's mapping file in the uploads bucket, next to its uploads
/// (`<tenant>/bak2pg.toml`); not a backup extension, so uploading it starts nothing.
pub const MAPPING_FILE: &str = "bak2pg.toml";

/// The largest mapping file `prepare` reads, in bytes (it travels in the job document).
pub const MAX_MAPPING_BYTES: u64 = 1 << 20;

/// `<tenant>/bak2pg.toml`: the key of the tenant's mapping file.
pub fn mapping_key(tenant: &str) -> String {
    format!("{tenant}/{MAPPING_FILE}")
}

/// A mapping file as read from S3 for one execution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MappingFile {
    /// `s3://bucket/<tenant>/bak2pg.toml` (named in the worker's errors).
    pub uri: String,
    /// Its ETag when read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Its text (TOML).
    pub text: String,
}

impl JobDocument {
    /// `s3://…/<step>.json`.
    pub fn result_uri(&self, step: StepName) -> String {
        format!("{}{}.json", ensure_slash(&self.results), step.as_str())
    }

    /// The digest of what a step's work depends on in this document: the object, the
    /// target and the worker limits (not the execution name, so a new execution of the same
    /// input computes the same digests).
    pub fn digest(&self) -> String {
        let base = (
            &self.version,
            &self.object,
            &self.target,
            &self.worker,
            &self.sqlserver_password_parameter,
            (&self.engine, &self.sqlserver_url),
        );
        // The set and the mapping file join the digest only when given, so that jobs
        // without them keep theirs; the file by its text, which decides the plan.
        match (self.backup_set, &self.mapping) {
            (None, None) => digest_of(&base),
            (Some(n), None) => digest_of(&(base, n)),
            (set, Some(m)) => digest_of(&(base, set, &m.text)),
        }
    }
}

fn ensure_slash(s: &str) -> String {
    if s.ends_with('/') { s.to_string() } else { format!("{s}/") }
}

/// Whether a step succeeded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Done; `outputs` holds what later steps need.
    Succeeded,
    /// Stopped; `error` says why and whether to retry.
    Failed,
}

/// What a step writes next to the job document (`<step>.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepResult {
    /// [`JOB_VERSION`].
    pub version: u32,
    /// Which step.
    pub step: StepName,
    /// Outcome.
    pub status: StepStatus,
    /// Digest of the step's inputs (job document and the results it read): a finished step
    /// with the same digest is not run again.
    pub input_digest: String,
    /// Execution that wrote it.
    pub execution: String,
    /// UTC start, RFC 3339.
    pub started_at: String,
    /// Wall-clock seconds, waiting for a slot included.
    pub seconds: f64,
    /// Seconds spent waiting for a free slot.
    #[serde(default)]
    pub waited_seconds: f64,
    /// One line for people (also printed on stdout).
    pub summary: String,
    /// Step-specific outputs (the engine's plan summary, loaded tables, checksums…).
    #[serde(default)]
    pub outputs: serde_json::Value,
    /// Set when `status` is failed.
    #[serde(default)]
    pub error: Option<StepError>,
}

/// The message the state machine sends to the dead-letter queue when an execution fails.
/// The trigger accepts it back (a DLQ redrive) and starts a new attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureMessage {
    /// Always `bak2pg.failure`.
    pub kind: String,
    /// Execution ARN.
    pub execution: String,
    /// The state machine step that failed (`fetch`, `load`, …, `prepare`, `report`).
    pub failed_step: String,
    /// Error name (`Bak2pg.Permanent`, `States.Timeout`, …).
    pub error: String,
    /// Error cause (the classified error as JSON for agent steps).
    pub cause: String,
    /// The execution's input: the original object, tenant, database, attempt.
    pub input: PipelineInput,
}

/// [`FailureMessage::kind`].
pub const FAILURE_KIND: &str = "bak2pg.failure";

/// Why a key, tenant or name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// The key is not URL-encoded correctly or not UTF-8.
    #[error("object key {0:?} is not valid URL-encoded UTF-8")]
    BadEncoding(String),
    /// The key has no tenant folder (`tenant/file.rar`).
    #[error("object key {0:?} has no tenant folder (expected <tenant>/<file>)")]
    NoTenant(String),
    /// The tenant cannot be made a safe database name.
    #[error("tenant {tenant:?} cannot be used as a database name: {reason}")]
    UnsafeTenant {
        /// The tenant as uploaded (escaped when shown).
        tenant: String,
        /// Why.
        reason: &'static str,
    },
}

/// Decodes an S3 event key: `+` is a space, `%XX` a byte; the result must be UTF-8.
///
/// # Errors
/// [`NameError::BadEncoding`] for a truncated `%` escape or bytes that are not UTF-8.
pub fn decode_key(raw: &str) -> Result<String, NameError> {
    let bad = || NameError::BadEncoding(raw.to_string());
    // `+` is a space in S3's form encoding; a literal `+` arrives as `%2B`.
    let spaced = raw.replace('+', " ");
    // percent-encoding passes a malformed escape through: refused here.
    let well_formed = spaced
        .match_indices('%')
        .all(|(i, _)| spaced.get(i + 1..i + 3).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())));
    if !well_formed {
        return Err(bad());
    }
    percent_encoding::percent_decode_str(&spaced).decode_utf8().map(|k| k.into_owned()).map_err(|_| bad())
}

/// Whether the key names an upload the pipeline takes (`.rar`, `.zip`, `.7z`, `.bak`, any
/// case). Folder markers (`tenant/`) are not.
pub fn is_backup_key(key: &str) -> bool {
    let lower = key.to_ascii_lowercase();
    !lower.ends_with('/') && BACKUP_EXTENSIONS.iter().any(|e| lower.ends_with(e) && lower.len() > e.len())
}

/// The tenant: the key's first segment (`hotel123/2026/x.rar` → `hotel123`).
///
/// # Errors
/// [`NameError::NoTenant`] when the key has no folder or the first segment is empty.
pub fn tenant_of(key: &str) -> Result<String, NameError> {
    match key.split_once('/') {
        Some((t, rest)) if !t.is_empty() && !rest.is_empty() => Ok(t.to_string()),
        _ => Err(NameError::NoTenant(key.to_string())),
    }
}

/// The PostgreSQL database for a tenant: lowercase ASCII letters, digits and `_`, starting
/// with a letter, at most [`MAX_DATABASE_BYTES`] bytes. `-` and `.` become `_`; a leading
/// digit gets a `t_` prefix. Anything else (spaces, quotes, non-ASCII, names of PostgreSQL's
/// own databases, our `__loading`/`__prev_` suffixes) is refused rather than guessed at, so
/// two tenants never map to one database by accident of sanitising.
///
/// # Errors
/// [`NameError::UnsafeTenant`] saying why.
pub fn database_name(tenant: &str) -> Result<String, NameError> {
    let unsafe_ = |reason| NameError::UnsafeTenant { tenant: tenant.to_string(), reason };
    if tenant.is_empty() {
        return Err(unsafe_("empty"));
    }
    let mut s = String::with_capacity(tenant.len() + 2);
    for c in tenant.chars() {
        match c {
            'a'..='z' | '0'..='9' | '_' => s.push(c),
            'A'..='Z' => s.push(c.to_ascii_lowercase()),
            '-' | '.' => s.push('_'),
            _ => return Err(unsafe_("only ASCII letters, digits, '-', '.' and '_' are allowed")),
        }
    }
    if !s.bytes().any(|b| b.is_ascii_alphanumeric()) {
        return Err(unsafe_("no letter or digit"));
    }
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "t_");
    }
    if s.contains("__") {
        // `__loading` and `__prev_` are the engine's suffixes.
        return Err(unsafe_("'__' is reserved for bak2pg's working names"));
    }
    if s.len() > MAX_DATABASE_BYTES {
        return Err(unsafe_("longer than 37 bytes"));
    }
    if ["postgres", "template0", "template1", "rdsadmin"].contains(&s.as_str()) {
        return Err(unsafe_("names a PostgreSQL system database"));
    }
    Ok(s)
}

/// The execution name for one object and attempt: `<database>-<hash>[-r<attempt>]`, where
/// hash is the first 32 hex digits of SHA-256 over bucket, key, and version id (or the
/// event's sequencer, or failing both the ETag: emulators send neither). The same object event always gives the same name, so a redelivered
/// message cannot start a second run; a new upload of the same key (new version or
/// sequencer) gets a new name. At most 80 characters of `[a-z0-9_-]`, as Step Functions
/// requires.
pub fn execution_name(database: &str, object: &ObjectRef, attempt: u32) -> String {
    let identity =
        object.version_id.as_deref().or(object.sequencer.as_deref()).or(object.etag.as_deref()).unwrap_or("");
    let mut h = Sha256::new();
    for part in [object.bucket.as_str(), object.key.as_str(), identity] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let hash = hex::encode(h.finalize());
    let db: String = database.chars().take(40).collect();
    if attempt == 0 { format!("{db}-{}", &hash[..32]) } else { format!("{db}-{}-r{attempt}", &hash[..32]) }
}

/// `reports/<tenant-as-database>/<execution>.json`: the final report's key.
pub fn report_key(database: &str, execution: &str) -> String {
    format!("reports/{database}/{execution}.json")
}

/// Whether an execution name is safe as one S3 key segment and one folder name: not empty,
/// ASCII letters, digits, `-` and `_` only (what [`execution_name`] makes; a name from a
/// console replay is checked against it before it becomes a path).
pub fn is_safe_execution_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `jobs/<database>/<execution>/`: the prefix of the job document and step results.
pub fn jobs_prefix(database: &str, execution: &str) -> String {
    format!("jobs/{database}/{execution}/")
}

/// An `s3://bucket/key` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    /// Bucket.
    pub bucket: String,
    /// Key (may be empty for the bucket itself).
    pub key: String,
}

impl S3Uri {
    /// Parses `s3://bucket/key`.
    ///
    /// # Errors
    /// A message naming the string when it is not such a URI.
    pub fn parse(s: &str) -> Result<S3Uri, String> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| format!("{s:?} is not an s3:// URI"))?;
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{s:?} names no bucket"));
        }
        Ok(S3Uri { bucket: bucket.to_string(), key: key.to_string() })
    }
}

impl fmt::Display for S3Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.key)
    }
}

/// Lowercase hex SHA-256 of a value's JSON (object keys sorted, as serde_json's map is),
/// so equal values give equal digests whatever the field order of their source.
pub fn digest_of<T: Serialize + ?Sized>(value: &T) -> String {
    let v = serde_json::to_value(value).expect("serializable");
    hex::encode(Sha256::digest(serde_json::to_vec(&v).expect("serializable")))
}

/// Percent-escapes what a URL's user, path or query value may not hold.
fn url_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mapping_file_joins_the_digest_by_its_text_and_starts_nothing() {
        let mut j: JobDocument = serde_json::from_value(serde_json::json!({
            "version": JOB_VERSION, "execution": "hotel-1", "tenant": "hotel",
            "object": {"bucket": "b", "key": "hotel/a.bak"},
            "target": {"host": "h", "port": 5432, "user": "u", "maintenance_db": "postgres", "sslmode": "disable",
                       "password_parameter": "/p", "database": "hotel", "replace": false},
            "worker": {"work_root": "", "slots": 1, "jobs": 1, "max_member_bytes": 1, "min_free_bytes": 1,
                       "part_bytes": 1},
            "results": "s3://b/jobs/hotel/hotel-1/"
        }))
        .unwrap();
        let without = j.digest();
        assert!(!serde_json::to_string(&j).unwrap().contains("mapping"), "absent, not null");
        let file = |text: &str, etag: &str| MappingFile {
            uri: format!("s3://b/{}", mapping_key("hotel")),
            etag: Some(etag.into()),
            text: text.into(),
        };
        j.mapping = Some(file("exclude = [\"dbo.x\"]\n", "e1"));
        let with = j.digest();
        assert_ne!(with, without);
        // The same text under another ETag (uploaded again) plans the same: same digest.
        j.mapping = Some(file("exclude = [\"dbo.x\"]\n", "e2"));
        assert_eq!(j.digest(), with);
        j.mapping = Some(file("exclude = [\"dbo.y\"]\n", "e3"));
        assert_ne!(j.digest(), with);
        let back: JobDocument = serde_json::from_str(&serde_json::to_string(&j).unwrap()).unwrap();
        assert_eq!(back.mapping, j.mapping);
        assert_eq!(mapping_key("hotel"), "hotel/bak2pg.toml");
        assert!(!is_backup_key(&mapping_key("hotel")), "uploading the mapping file starts no migration");
    }

    #[test]
    fn error_codes_are_their_snake_case_names_in_json() {
        let e = StepError::permanent(ErrorCode::LoadingDatabaseMissing, "gone");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["code"], "loading_database_missing");
        assert_eq!(serde_json::from_value::<StepError>(json).unwrap(), e);
        // A named code read back is the variant, not a derived string.
        assert_eq!(ErrorCode::from("s3_download".to_string()), ErrorCode::S3Download);
        // Engine-derived codes keep their text both ways.
        let d = ErrorCode::from("load_data_conflict".to_string());
        assert_eq!(d, ErrorCode::Derived("load_data_conflict".into()));
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"load_data_conflict\"");
        assert!(d == "load_data_conflict" && format!("{}", ErrorCode::Io) == "io");
    }

    #[test]
    fn causes_crossing_the_state_machine_are_bounded() {
        // A validation mismatch listing thousands of tables, with multi-byte names.
        let tables: Vec<String> = (0..5000).map(|i| format!("dbo.Réservations_{i}")).collect();
        let e = StepError::permanent(ErrorCode::ValidationMismatch, format!("mismatched: {}", tables.join(", ")));
        let cause = e.bounded_cause("validate.json next to the job document");
        assert!(cause.len() < MAX_CAUSE_MESSAGE + 200, "{} bytes", cause.len());
        let back: StepError = serde_json::from_str(&cause).expect("still the error as JSON");
        assert_eq!((back.class, back.code.as_str()), (ErrorClass::Permanent, "validation_mismatch"));
        assert!(back.message.ends_with("(truncated; the full message is in validate.json next to the job document)"));
        assert!(back.message.starts_with("mismatched: dbo.Réservations_0, "));
        // A short message passes whole.
        let short = StepError::transient(ErrorCode::Io, "disk full");
        assert_eq!(serde_json::from_str::<StepError>(&short.bounded_cause("x")).unwrap(), short);
    }

    #[test]
    fn keys_decode_plus_and_percent() {
        assert_eq!(decode_key("hotel123/Hotel+Backup%282%29.rar").unwrap(), "hotel123/Hotel Backup(2).rar");
        assert_eq!(decode_key("h/caf%C3%A9+%E2%82%AC.bak").unwrap(), "h/café €.bak");
        assert_eq!(decode_key("h/a%2Bb.bak").unwrap(), "h/a+b.bak");
        assert!(decode_key("h/bad%2").is_err());
        assert!(decode_key("h/bad%zz.bak").is_err());
        assert!(decode_key("h/%FF.bak").is_err(), "not UTF-8");
    }

    #[test]
    fn only_backup_extensions_any_case() {
        for k in ["t/a.rar", "t/a.ZIP", "t/b.7z", "t/c.Bak", "t/x y/z.RAR"] {
            assert!(is_backup_key(k), "{k}");
        }
        for k in ["t/a.txt", "t/a.rar.txt", "t/", "t/.bak2", "t/a.tar.gz", "t/bak"] {
            assert!(!is_backup_key(k), "{k}");
        }
    }

    #[test]
    fn tenants_and_database_names() {
        assert_eq!(tenant_of("hotel123/x.rar").unwrap(), "hotel123");
        assert!(tenant_of("x.rar").is_err());
        assert!(tenant_of("/x.rar").is_err());
        assert_eq!(database_name("hotel123").unwrap(), "hotel123");
        assert_eq!(database_name("Hotel-Paris.FR").unwrap(), "hotel_paris_fr");
        assert_eq!(database_name("42hotels").unwrap(), "t_42hotels");
        for hostile in [
            "",
            "a\"; DROP DATABASE x; --",
            "hôtel",
            "a b",
            "..",
            "___",
            "postgres",
            "Template1",
            "x__loading",
            "a/b",
            "a'b",
            "a\0b",
            &"x".repeat(38),
        ] {
            assert!(database_name(hostile).is_err(), "{hostile:?}");
        }
        assert!(database_name(&"x".repeat(37)).is_ok());
    }

    #[test]
    fn execution_names_are_stable_distinct_and_valid() {
        let o = ObjectRef {
            bucket: "b".into(),
            key: "hotel123/a.rar".into(),
            version_id: None,
            sequencer: Some("0055AED6DCD90281E5".into()),
            size: Some(1),
            etag: None,
        };
        let a = execution_name("hotel123", &o, 0);
        assert_eq!(a, execution_name("hotel123", &o, 0));
        assert_ne!(
            a,
            execution_name("hotel123", &ObjectRef { sequencer: Some("0055AED6DCD90281E6".into()), ..o.clone() }, 0)
        );
        assert_ne!(a, execution_name("hotel123", &o, 1));
        assert!(execution_name("hotel123", &o, 1).ends_with("-r1"));
        let long = execution_name(&"x".repeat(37), &o, 999);
        assert!(long.len() <= 80, "{long}");
        assert!(is_safe_execution_name(&long));
    }

    #[test]
    fn digests_ignore_field_order_and_execution() {
        let a: serde_json::Value = serde_json::json!({"a": 1, "b": [1, 2]});
        let b: serde_json::Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        assert_eq!(digest_of(&a), digest_of(&b));
        assert_ne!(digest_of(&a), digest_of(&serde_json::json!({"a": 2, "b": [1, 2]})));
    }

    #[test]
    fn urls_hold_no_password_and_escape() {
        let t = TargetConfig {
            host: "db.example".into(),
            port: 5432,
            user: "mig rator".into(),
            maintenance_db: "postgres".into(),
            sslmode: "require".into(),
            ca_file: Some("/etc/bak2pg/rds.pem".into()),
            password_parameter: "/bak2pg/pg-password".into(),
            database: "hotel123".into(),
            replace: false,
            keep_previous: None,
        };
        assert_eq!(
            t.url(),
            "postgres://mig%20rator@db.example:5432/postgres?sslmode=require&sslrootcert=/etc/bak2pg/rds.pem"
        );
    }

    #[test]
    fn s3_uris() {
        let u = S3Uri::parse("s3://bucket/jobs/a/job.json").unwrap();
        assert_eq!((u.bucket.as_str(), u.key.as_str()), ("bucket", "jobs/a/job.json"));
        assert_eq!(u.to_string(), "s3://bucket/jobs/a/job.json");
        assert!(S3Uri::parse("https://x").is_err());
        assert!(S3Uri::parse("s3:///k").is_err());
    }
}
