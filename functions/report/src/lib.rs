//! The `report` Lambda: the final report of an execution, succeeded or failed, written to
//! `s3://<artifacts>/reports/<database>/<execution>.json`.
//!
//! Two callers: the state machine's last state, for a success ([`ReportInput`]); and, for a
//! failure, the EventBridge rule on Step Functions' "Execution Status Change" events
//! (`FAILED`, `TIMED_OUT`, `ABORTED`), so that every way an execution can end unsuccessfully
//! — a step's failure, a time limit, a manual stop, an error no `Catch` could catch — gets
//! its report and its dead-letter message ([`FailureMessage`]), while the execution itself
//! ends failed *at the failed state*: a console Redrive resumes there.
//!
//! It gathers every step result next to the job document (status, timing, summary, error)
//! and the migration report the last successful agent step carried (tables, row counts,
//! checksums on both sides, conversions, objects not migrated — the same document
//! `bak2pg migrate --report` writes). It holds no secret: the job document has none, and
//! neither do the results.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use bak2pg::job::{
    ErrorCode, FAILURE_KIND, FailureMessage, PipelineInput, S3Uri, StepError, StepName, StepResult, StepStatus,
    jobs_prefix, report_key,
};
use bak2pg_aws::FunctionError;
use serde::{Deserialize, Serialize};

/// What the function is invoked with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Event {
    /// An execution's status change, from the EventBridge rule.
    StatusChange(Box<EventBridgeEvent<ExecutionStatusChange>>),
    /// The state machine's report state.
    Report(Box<ReportInput>),
}

/// The `detail` of a "Step Functions Execution Status Change" event (fields as in the Step
/// Functions user guide, "Automating Step Functions event delivery with EventBridge").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionStatusChange {
    /// The execution's ARN.
    pub execution_arn: String,
    /// Its state machine.
    #[serde(default)]
    pub state_machine_arn: String,
    /// The execution's name.
    pub name: String,
    /// `FAILED`, `TIMED_OUT`, `ABORTED` (the rule passes only those), …
    pub status: String,
    /// The execution's input, as a JSON string (absent when too large to include).
    #[serde(default)]
    pub input: Option<String>,
    /// The error name of a failed execution.
    #[serde(default)]
    pub error: Option<String>,
    /// Its cause.
    #[serde(default)]
    pub cause: Option<String>,
}

/// Longest cause, in bytes, passed into a report or a dead-letter message.
pub const MAX_CAUSE: usize = 8192;

/// The error the state machine caught (`{"Error": …, "Cause": …}`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CaughtError {
    /// Error name.
    #[serde(rename = "Error", default)]
    pub error: String,
    /// Cause (the classified error as JSON for agent steps).
    #[serde(rename = "Cause", default)]
    pub cause: String,
}

/// The Lambda's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReportInput {
    /// `succeeded` or `failed`.
    pub status: String,
    /// `$$.Execution.Id`.
    pub execution_arn: String,
    /// `$$.Execution.Name`.
    pub execution: String,
    /// The execution input.
    pub input: PipelineInput,
    /// The job document, when `prepare` got that far.
    #[serde(default)]
    pub job_uri: Option<String>,
    /// The state that failed.
    #[serde(default)]
    pub failed_step: Option<String>,
    /// What it failed with.
    #[serde(default)]
    pub error: Option<CaughtError>,
    /// Set when the failure was sent back to the upload queue to start over (see
    /// [`worker_lost`]): what was done, for the report.
    #[serde(default)]
    pub replayed: Option<String>,
}

/// One step's line in the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepLine {
    /// Step.
    pub step: StepName,
    /// Outcome.
    pub status: StepStatus,
    /// Seconds (slot wait included).
    pub seconds: f64,
    /// Seconds waiting for a slot.
    pub waited_seconds: f64,
    /// Summary.
    pub summary: String,
    /// Error, when failed.
    pub error: Option<bak2pg::job::StepError>,
}

/// The report document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineReport {
    /// `succeeded` or `failed`.
    pub status: String,
    /// Execution ARN.
    pub execution_arn: String,
    /// Execution name.
    pub execution: String,
    /// Tenant, database, object, attempt.
    pub input: PipelineInput,
    /// The failed state, if any.
    pub failed_step: Option<String>,
    /// The caught error, if any.
    pub error: Option<CaughtError>,
    /// Agent steps that ran, in order.
    pub steps: Vec<StepLine>,
    /// The migration report (`bak2pg migrate --report` format) as far as the run got.
    pub migration: Option<serde_json::Value>,
    /// A failure started over automatically (its worker was lost): how.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replayed: Option<String>,
}

/// The Lambda's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportOutput {
    /// Where the report is.
    pub report_uri: String,
}

/// Builds the report from the input and the step results found.
pub fn build(input: &ReportInput, results: Vec<StepResult>) -> PipelineReport {
    let migration = results
        .iter()
        .rev()
        .filter(|r| r.status == StepStatus::Succeeded)
        .find_map(|r| r.outputs.get("report").cloned());
    PipelineReport {
        status: input.status.clone(),
        execution_arn: input.execution_arn.clone(),
        execution: input.execution.clone(),
        input: input.input.clone(),
        failed_step: input.failed_step.clone(),
        error: input.error.clone(),
        steps: results
            .into_iter()
            .map(|r| StepLine {
                step: r.step,
                status: r.status,
                seconds: r.seconds,
                waited_seconds: r.waited_seconds,
                summary: r.summary,
                error: r.error,
            })
            .collect(),
        migration,
        replayed: input.replayed.clone(),
    }
}

/// The handler. `artifacts_bucket` is `ARTIFACTS_BUCKET`.
///
/// # Errors
/// S3 failures (classified) and malformed input (permanent).
pub async fn handle(
    s3: &aws_sdk_s3::Client,
    artifacts_bucket: &str,
    input: ReportInput,
) -> Result<ReportOutput, FunctionError> {
    let results = match &input.job_uri {
        Some(job) => step_results(s3, &parse_uri(job)?).await?,
        None => Vec::new(),
    };
    write_report(s3, artifacts_bucket, &input, results).await
}

fn parse_uri(uri: &str) -> Result<S3Uri, StepError> {
    S3Uri::parse(uri).map_err(|m| StepError::permanent(ErrorCode::BadInput, m))
}

/// The step results next to the job document `job`, in step order.
async fn step_results(s3: &aws_sdk_s3::Client, job: &S3Uri) -> Result<Vec<StepResult>, FunctionError> {
    let dir = job.key.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
    let mut results = Vec::new();
    for step in StepName::ALL {
        let uri = S3Uri { bucket: job.bucket.clone(), key: format!("{dir}{step}.json") };
        if let Some(r) = bak2pg_aws::get_json::<StepResult>(s3, &uri).await? {
            results.push(r);
        }
    }
    Ok(results)
}

/// Writes the report of `input` with the step `results` found.
async fn write_report(
    s3: &aws_sdk_s3::Client,
    artifacts_bucket: &str,
    input: &ReportInput,
    results: Vec<StepResult>,
) -> Result<ReportOutput, FunctionError> {
    let bad = |m: String| StepError::permanent(ErrorCode::BadInput, m);
    // The database name comes from the trigger's rules; never trust it as a path blindly.
    let db = bak2pg::job::database_name(&input.input.tenant).map_err(|e| bad(e.to_string()))?;
    if !bak2pg::job::is_safe_execution_name(&input.execution) {
        return Err(bad(format!("execution name {:?}", input.execution)).into());
    }
    let uri = S3Uri { bucket: artifacts_bucket.to_string(), key: report_key(&db, &input.execution) };
    let report = build(input, results);
    bak2pg_aws::put_json(s3, &uri, &report).await?;
    tracing::info!(report = %uri, status = %report.status, "report written");
    Ok(ReportOutput { report_uri: uri.to_string() })
}

/// The failed execution's report input: the failed step is the first of the execution's
/// steps without a successful result (`prepare` when there is no job, `report` when every
/// step succeeded), the error is the execution's (or its status when it has none: a time
/// limit or a stop).
///
/// # Errors
/// Permanent `bad_input` when the event carries no usable execution input.
pub fn failure_input(
    artifacts_bucket: &str,
    change: &ExecutionStatusChange,
    results: &dyn Fn(&str) -> Option<Vec<StepResult>>,
) -> Result<ReportInput, StepError> {
    let (input, job_uri) = job_of(artifacts_bucket, change)?;
    let first = input.resume.as_ref().map_or(StepName::Fetch, |r| r.step);
    let mut step_error = None;
    let (job_uri, failed_step) = match results(&job_uri) {
        None => (None, "prepare".to_string()),
        Some(found) => {
            let failed = StepName::ALL
                .into_iter()
                .skip_while(|s| *s != first)
                .find(|s| !found.iter().any(|r| r.step == *s && r.status == StepStatus::Succeeded));
            step_error = failed.and_then(|s| found.iter().find(|r| r.step == s)).and_then(|r| r.error.clone());
            (Some(job_uri), failed.map_or("report".to_string(), |s| s.to_string()))
        }
    };
    let error = change.error.clone().filter(|e| !e.is_empty()).unwrap_or_else(|| match change.status.as_str() {
        "TIMED_OUT" => "States.Timeout".to_string(),
        other => format!("Execution.{other}"),
    });
    // A step's own result is the fuller account when the event carries no cause of its own
    // (a Map state passes its iteration's cause on; emulators do not always).
    let mut cause = match (change.cause.clone().filter(|c| !c.trim().is_empty()), step_error) {
        (Some(c), _) => c,
        (None, Some(e)) => e.bounded_cause(&format!("{failed_step}.json")),
        (None, None) => String::new(),
    };
    bak2pg::job::truncate_noting(&mut cause, MAX_CAUSE, "the execution's history has it whole");
    Ok(ReportInput {
        status: "failed".into(),
        execution_arn: change.execution_arn.clone(),
        execution: change.name.clone(),
        input,
        job_uri,
        failed_step: Some(failed_step),
        error: Some(CaughtError { error, cause }),
        replayed: None,
    })
}

/// The input of the execution an event is about and its job document's URI (the resumed
/// execution's folder for a resume).
fn job_of(artifacts_bucket: &str, change: &ExecutionStatusChange) -> Result<(PipelineInput, String), StepError> {
    let bad = |m: String| StepError::permanent(ErrorCode::BadInput, m);
    let text = change.input.as_deref().ok_or_else(|| bad(format!("{}: the event has no input", change.name)))?;
    let input: PipelineInput =
        serde_json::from_str(text).map_err(|e| bad(format!("{}: input is not a pipeline input: {e}", change.name)))?;
    let db = bak2pg::job::database_name(&input.tenant).map_err(|e| bad(e.to_string()))?;
    let job_uri = format!("s3://{artifacts_bucket}/{}job.json", jobs_prefix(&db, input.job_execution(&change.name)));
    Ok((input, job_uri))
}

/// Where the function sends dead-letter messages, and replays.
pub struct DeadLetters<'a> {
    /// The client.
    pub sqs: &'a aws_sdk_sqs::Client,
    /// `DEAD_LETTER_QUEUE_URL`.
    pub queue_url: &'a str,
    /// `UPLOAD_QUEUE_URL`: where a failure whose worker was lost goes to start over (the
    /// trigger takes a [`FailureMessage`] as a new attempt). Unset: never replayed.
    pub replay_queue_url: Option<&'a str>,
}

/// Automatic replays of one upload after lost workers: attempts 1 and 2 (an input whose
/// `attempt` is already this is dead-lettered).
pub const MAX_AUTOMATIC_ATTEMPT: u32 = 2;

/// Whether an execution failed because its worker was lost, not because of the backup or
/// the target: SendCommand refused the instance (`Ssm.InvalidInstanceIdException`: it is
/// terminated or no longer managed, after the state machine's retries), or the step stayed
/// silent past `HeartbeatSeconds` on every try (`States.HeartbeatTimeout`: the instance or
/// its agent died). Started over from the upload, such a run lands on a worker that is
/// online (`prepare` chooses among those only). AWS names SDK integration errors in
/// PascalCase (`Ssm.…`, Step Functions developer guide, "AWS SDK service integrations");
/// moto 5.2.5 writes the service in lower case (`ssm.…`): both are taken.
pub fn worker_lost(error: &str) -> bool {
    ["Ssm.InvalidInstanceIdException", "States.HeartbeatTimeout"].iter().any(|e| e.eq_ignore_ascii_case(error))
}

/// The handler for both callers (see the module documentation).
///
/// # Errors
/// S3/SQS failures (classified; the function's on-failure destination is the dead-letter
/// queue, so an event that cannot be handled still lands there) and malformed input.
pub async fn handle_event(
    s3: &aws_sdk_s3::Client,
    artifacts_bucket: &str,
    dlq: &DeadLetters<'_>,
    event: Event,
) -> Result<ReportOutput, FunctionError> {
    let change = match event {
        Event::Report(input) => return handle(s3, artifacts_bucket, *input).await,
        Event::StatusChange(ev) => ev.detail,
    };
    // The step results are read once, for the failed step and for the report.
    let (_, job_uri) = job_of(artifacts_bucket, &change)?;
    let job = parse_uri(&job_uri)?;
    let found = match bak2pg_aws::get_json::<serde_json::Value>(s3, &job).await? {
        Some(_) => Some(step_results(s3, &job).await?),
        None => None,
    };
    let mut input = failure_input(artifacts_bucket, &change, &|_| found.clone())?;
    let error = input.error.clone().unwrap_or_default();
    let message = FailureMessage {
        kind: FAILURE_KIND.into(),
        execution: input.execution_arn.clone(),
        failed_step: input.failed_step.clone().unwrap_or_default(),
        error: error.error,
        cause: error.cause,
        input: input.input.clone(),
    };
    let body = serde_json::to_string(&message).expect("serializable");
    let replay =
        dlq.replay_queue_url.filter(|_| worker_lost(&message.error) && message.input.attempt < MAX_AUTOMATIC_ATTEMPT);
    if let Some(queue) = replay {
        // Sent before the report is written, so the report says what happened; a failure
        // to send falls back to the dead-letter queue below.
        match dlq.sqs.send_message().queue_url(queue).message_body(&body).send().await {
            Ok(_) => {
                input.replayed = Some(format!(
                    "the worker was lost ({}): started over from the upload as attempt {} on a worker that is online",
                    message.error,
                    message.input.attempt + 1
                ));
            }
            Err(e) => {
                tracing::warn!(error = %bak2pg_aws::AwsError::from_sdk(ErrorCode::SqsSend, "SendMessage to the upload queue", &e),
                "the replay could not be sent: dead-lettering instead")
            }
        }
    }
    let out = write_report(s3, artifacts_bucket, &input, found.unwrap_or_default()).await?;
    if input.replayed.is_some() {
        tracing::warn!(execution = %input.execution, failed_step = %message.failed_step, error = %message.error,
            "execution failed, its worker lost: report written, started over");
        return Ok(out);
    }
    dlq.sqs
        .send_message()
        .queue_url(dlq.queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| bak2pg_aws::AwsError::from_sdk(ErrorCode::SqsSend, "SendMessage to the dead-letter queue", &e))?;
    tracing::warn!(execution = %input.execution, failed_step = %message.failed_step, error = %message.error,
        "execution failed: report written, dead-letter message sent");
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bak2pg::job::{JOB_VERSION, ObjectRef, StepError};

    fn res(step: StepName, status: StepStatus, outputs: serde_json::Value) -> StepResult {
        StepResult {
            version: JOB_VERSION,
            step,
            status,
            input_digest: "d".into(),
            execution: "e".into(),
            started_at: "t".into(),
            seconds: 1.0,
            waited_seconds: 0.0,
            summary: step.to_string(),
            outputs,
            error: (status == StepStatus::Failed).then(|| StepError::transient(ErrorCode::Derived("x".into()), "y")),
        }
    }

    #[test]
    fn only_a_lost_worker_starts_over() {
        assert!(worker_lost("Ssm.InvalidInstanceIdException") && worker_lost("States.HeartbeatTimeout"));
        assert!(worker_lost("ssm.InvalidInstanceIdException"), "as moto names it");
        for e in ["Bak2pg.Permanent", "Bak2pg.Transient", "Bak2pg.Timeout", "States.Timeout", "Ssm.SsmException"] {
            assert!(!worker_lost(e), "{e}");
        }
    }

    #[test]
    fn the_last_successful_report_is_kept() {
        let input = ReportInput {
            status: "failed".into(),
            execution_arn: "arn".into(),
            execution: "e".into(),
            input: PipelineInput {
                object: ObjectRef {
                    bucket: "b".into(),
                    key: "t/a.bak".into(),
                    version_id: None,
                    sequencer: None,
                    size: None,
                    etag: None,
                },
                tenant: "t".into(),
                database: "t".into(),
                attempt: 0,
                backup_set: None,
                resume: None,
            },
            job_uri: None,
            failed_step: Some("validate".into()),
            error: Some(CaughtError { error: "Bak2pg.Transient".into(), cause: "{}".into() }),
            replayed: None,
        };
        let r = build(
            &input,
            vec![
                res(StepName::Read, StepStatus::Succeeded, serde_json::json!({"report": {"n": 1}})),
                res(StepName::Load, StepStatus::Succeeded, serde_json::json!({"report": {"n": 2}})),
                res(StepName::Validate, StepStatus::Failed, serde_json::Value::Null),
            ],
        );
        assert_eq!(r.migration, Some(serde_json::json!({"n": 2})));
        assert_eq!(r.steps.len(), 3);
        assert_eq!(r.steps[2].status, StepStatus::Failed);
    }

    fn change(status: &str, input: &PipelineInput) -> ExecutionStatusChange {
        ExecutionStatusChange {
            execution_arn: "arn:aws:states:us-east-1:1:execution:m:hotel-1".into(),
            state_machine_arn: "arn:aws:states:us-east-1:1:stateMachine:m".into(),
            name: "hotel-1".into(),
            status: status.into(),
            input: Some(serde_json::to_string(input).unwrap()),
            error: (status == "FAILED").then(|| "Bak2pg.Permanent".into()),
            cause: Some("x".repeat(MAX_CAUSE + 100)),
        }
    }

    fn pipeline_input() -> PipelineInput {
        serde_json::from_value(serde_json::json!({
            "object": {"bucket": "up", "key": "hotel/a.bak"}, "tenant": "hotel", "database": "hotel"
        }))
        .unwrap()
    }

    #[test]
    fn a_failed_execution_names_its_first_unfinished_step() {
        let input = pipeline_input();
        let ok = |s| res(s, StepStatus::Succeeded, serde_json::Value::Null);
        let results = |uri: &str| {
            assert_eq!(uri, "s3://art/jobs/hotel/hotel-1/job.json");
            Some(vec![
                ok(StepName::Fetch),
                ok(StepName::Read),
                res(StepName::Load, StepStatus::Failed, serde_json::Value::Null),
            ])
        };
        let r = failure_input("art", &change("FAILED", &input), &results).unwrap();
        assert_eq!(r.failed_step.as_deref(), Some("load"));
        let e = r.error.unwrap();
        assert_eq!(e.error, "Bak2pg.Permanent");
        assert!(e.cause.len() < MAX_CAUSE + 100 && e.cause.ends_with("has it whole)"), "bounded");
        // No job document: prepare failed. A time limit has no error name: its status says it.
        let r = failure_input("art", &change("TIMED_OUT", &input), &|_| None).unwrap();
        assert_eq!((r.failed_step.as_deref(), r.error.unwrap().error.as_str()), (Some("prepare"), "States.Timeout"));
        // Every step succeeded: the report state failed.
        let all = |_: &str| Some(StepName::ALL.map(ok).to_vec());
        assert_eq!(
            failure_input("art", &change("ABORTED", &input), &all).unwrap().failed_step.as_deref(),
            Some("report")
        );
    }

    #[test]
    fn a_resumed_execution_reads_the_resumed_folder() {
        let mut input = pipeline_input();
        input.resume = Some(bak2pg::job::Resume { execution: "hotel-0".into(), step: StepName::Validate });
        let results = |uri: &str| {
            assert_eq!(uri, "s3://art/jobs/hotel/hotel-0/job.json");
            Some(vec![res(StepName::Load, StepStatus::Succeeded, serde_json::Value::Null)])
        };
        let r = failure_input("art", &change("FAILED", &input), &results).unwrap();
        assert_eq!(r.failed_step.as_deref(), Some("validate"));
        assert_eq!(r.execution, "hotel-1", "the report is the resuming execution's");
    }

    #[test]
    fn both_callers_parse() {
        let ev = serde_json::json!({
            "version": "0", "id": "1", "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states", "account": "1", "time": "2026-12-06T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:states:us-east-1:1:execution:m:hotel-1"],
            "detail": {"executionArn": "arn:aws:states:us-east-1:1:execution:m:hotel-1", "stateMachineArn": "m",
                       "name": "hotel-1", "status": "FAILED", "startDate": 1, "stopDate": 2,
                       "input": "{}", "output": null, "error": "Bak2pg.Permanent", "cause": "{}"}
        });
        assert!(matches!(serde_json::from_value::<Event>(ev).unwrap(), Event::StatusChange(_)));
        let report = serde_json::json!({"status": "succeeded", "execution_arn": "a", "execution": "e",
            "input": serde_json::to_value(pipeline_input()).unwrap(), "job_uri": "s3://b/k"});
        assert!(matches!(serde_json::from_value::<Event>(report).unwrap(), Event::Report(_)));
    }
}
