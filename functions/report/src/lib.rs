//! The `report` Lambda: the final report of an execution, succeeded or failed, written to
//! `s3://<artifacts>/reports/<database>/<execution>.json`.
//!
//! It gathers every step result next to the job document (status, timing, summary, error)
//! and the migration report the last successful agent step carried (tables, row counts,
//! checksums on both sides, conversions, objects not migrated — the same document
//! `bak2pg migrate --report` writes). It holds no secret: the job document has none, and
//! neither do the results.

use bak2pg::job::{PipelineInput, S3Uri, StepName, StepResult, StepStatus, report_key};
use bak2pg_aws::FunctionError;
use serde::{Deserialize, Serialize};

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
    let bad = |m: String| bak2pg::job::StepError::permanent("bad_input", m);
    let mut results = Vec::new();
    if let Some(job) = &input.job_uri {
        let job = S3Uri::parse(job).map_err(bad)?;
        let dir = job.key.rsplit_once('/').map(|(d, _)| format!("{d}/")).unwrap_or_default();
        for step in StepName::ALL {
            let uri = S3Uri { bucket: job.bucket.clone(), key: format!("{dir}{step}.json") };
            if let Some(r) = bak2pg_aws::get_json::<StepResult>(s3, &uri).await? {
                results.push(r);
            }
        }
    }
    // The database name comes from the trigger's rules; never trust it as a path blindly.
    let db = bak2pg::job::database_name(&input.input.tenant).map_err(|e| bad(e.to_string()))?;
    if !input.execution.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(bad(format!("execution name {:?}", input.execution)).into());
    }
    let uri = S3Uri { bucket: artifacts_bucket.to_string(), key: report_key(&db, &input.execution) };
    let report = build(&input, results);
    bak2pg_aws::put_json(s3, &uri, &report).await?;
    tracing::info!(report = %uri, status = %report.status, "report written");
    Ok(ReportOutput { report_uri: uri.to_string() })
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
            error: (status == StepStatus::Failed).then(|| StepError::transient("x", "y")),
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
            },
            job_uri: None,
            failed_step: Some("validate".into()),
            error: Some(CaughtError { error: "Bak2pg.Transient".into(), cause: "{}".into() }),
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
}
