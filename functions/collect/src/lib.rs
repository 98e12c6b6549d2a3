//! The `collect` Lambda: after the SSM command of an agent step ended, reads the step's
//! result (`<step>.json` next to the job document) and turns it into the state machine's
//! terms: the step's summary on success, or an error named `Bak2pg.Permanent` (dead-letter
//! queue at once) or `Bak2pg.Transient` (retried with backoff) whose cause is the
//! classified error as JSON.
//!
//! A command that ended without writing a result (the agent was killed, the instance
//! rebooted, S3 was unreachable) is transient: running the step again is safe.

use bak2pg::job::{JOB_VERSION, S3Uri, StepError, StepName, StepResult, StepStatus};
use bak2pg_aws::FunctionError;
use serde::{Deserialize, Serialize};

/// The command's status as `ssm:getCommandInvocation` gave it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Invocation {
    /// `Success`, `Failed`, `TimedOut`, `Cancelled`…
    #[serde(rename = "Status", default)]
    pub status: String,
    /// The process's exit status (`-1` when there is none).
    #[serde(rename = "ResponseCode", default)]
    pub response_code: i64,
}

/// The Lambda's input.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CollectInput {
    /// The job document.
    pub job_uri: String,
    /// The step whose result to read.
    pub step: String,
    /// The command's final status.
    #[serde(default)]
    pub invocation: Invocation,
}

/// What a succeeded step gives the state machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Collected {
    /// The step.
    pub step: StepName,
    /// Its summary line.
    pub summary: String,
    /// Seconds it took.
    pub seconds: f64,
    /// Seconds it waited for a slot.
    pub waited_seconds: f64,
}

/// Classifies one step's outcome from its result (if any) and the command status.
///
/// # Errors
/// The step's own error when it failed; a transient `no_result` when there is none.
pub fn classify(step: StepName, result: Option<StepResult>, inv: &Invocation) -> Result<Collected, StepError> {
    match result {
        Some(r) if r.version != JOB_VERSION => {
            Err(StepError::permanent("bad_document", format!("{step}.json has version {}", r.version)))
        }
        Some(r) if r.step != step => {
            Err(StepError::permanent("bad_document", format!("{step}.json is for step {}", r.step)))
        }
        Some(r) if r.status == StepStatus::Succeeded && inv.status != "Success" => Err(StepError::transient(
            "command_failed",
            format!("{step} wrote a success but its command ended {} (exit {})", inv.status, inv.response_code),
        )),
        Some(r) if r.status == StepStatus::Succeeded => {
            Ok(Collected { step, summary: r.summary, seconds: r.seconds, waited_seconds: r.waited_seconds })
        }
        Some(r) => {
            Err(r.error.unwrap_or_else(|| StepError::transient("no_error", format!("{step} failed without an error"))))
        }
        None => Err(StepError::transient(
            "no_result",
            format!(
                "{step} ended {} (exit {}) without writing its result; running it again is safe",
                if inv.status.is_empty() { "unknown" } else { &inv.status },
                inv.response_code
            ),
        )),
    }
}

/// The handler.
///
/// # Errors
/// [`FunctionError`] as [`classify`] says; S3 failures reading the result.
pub async fn handle(s3: &aws_sdk_s3::Client, input: CollectInput) -> Result<Collected, FunctionError> {
    let step = StepName::parse(&input.step)
        .ok_or_else(|| StepError::permanent("bad_input", format!("unknown step {:?}", input.step)))?;
    let job = S3Uri::parse(&input.job_uri).map_err(|e| StepError::permanent("bad_input", e))?;
    let key = match job.key.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{step}.json"),
        None => format!("{step}.json"),
    };
    let result: Option<StepResult> = bak2pg_aws::get_json(s3, &S3Uri { bucket: job.bucket, key }).await?;
    let out = classify(step, result, &input.invocation);
    match &out {
        Ok(c) => tracing::info!(step = %step, summary = %c.summary, "step succeeded"),
        Err(e) => tracing::warn!(step = %step, class = ?e.class, code = %e.code, "step failed"),
    }
    Ok(out?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bak2pg::job::ErrorClass;

    fn result(status: StepStatus, error: Option<StepError>) -> StepResult {
        StepResult {
            version: JOB_VERSION,
            step: StepName::Fetch,
            status,
            input_digest: "d".into(),
            execution: "e".into(),
            started_at: "2026-11-21T10:00:00Z".into(),
            seconds: 1.5,
            waited_seconds: 0.0,
            summary: "ok".into(),
            outputs: serde_json::Value::Null,
            error,
        }
    }

    fn inv(status: &str, code: i64) -> Invocation {
        Invocation { status: status.into(), response_code: code }
    }

    #[test]
    fn classes_follow_the_result() {
        let ok = classify(StepName::Fetch, Some(result(StepStatus::Succeeded, None)), &inv("Success", 0)).unwrap();
        assert_eq!(ok.summary, "ok");
        let perm = StepError::permanent("no_backup_in_archive", "x.rar holds no .bak");
        let e = classify(StepName::Fetch, Some(result(StepStatus::Failed, Some(perm.clone()))), &inv("Failed", 1));
        assert_eq!(e.unwrap_err(), perm);
        let e = classify(StepName::Fetch, None, &inv("TimedOut", -1)).unwrap_err();
        assert_eq!((e.class, e.code.as_str()), (ErrorClass::Transient, "no_result"));
        let e = classify(StepName::Load, Some(result(StepStatus::Succeeded, None)), &inv("Success", 0)).unwrap_err();
        assert_eq!(e.code, "bad_document");
        let f = bak2pg_aws::FunctionError(perm);
        assert_eq!(f.error_type(), "Bak2pg.Permanent");
        assert!(f.error_message().contains("\"class\":\"permanent\""));
    }
}
