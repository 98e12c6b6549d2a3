//! The step's side of Step Functions' callback pattern (`ssm:sendCommand.waitForTaskToken`):
//! the state machine sends the command with a task token and waits; the step reports back.
//!
//! Under a token, `bak2pg step` is a supervisor: it holds the execution's lock, runs the
//! step in a child process (the same command, `BAK2PG_STEP_OUTCOME` naming where the child
//! writes its [`Outcome`]), sends `SendTaskHeartbeat` every fifth of the job's
//! `heartbeat_seconds`, enforces the step's time limit, and ends with `SendTaskSuccess` or
//! `SendTaskFailure`. So the state machine learns of every end, also one the step could not
//! report itself: a child killed by the kernel (out of memory) is a transient failure at
//! once, not a silence. Only a dead worker is silent; the Task's `HeartbeatSeconds` covers it.
//!
//! When a heartbeat answers that the task timed out or no longer exists (the execution gave
//! up on this step, was stopped, or sent the step again), the supervisor kills the child and
//! exits 4: the command ends instead of running on unseen (what `CancelCommand` would do,
//! without the state machine having to know the command id).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use aws_sdk_sfn::error::ProvideErrorMetadata;
use bak2pg::job::{ErrorCode, JobDocument, S3Uri, StepError, StepName};
use serde_json::json;

use super::slots::ExecutionLock;
use super::{Args, Done, Outcome};

/// The variable the SSM document sets from the command's `TaskToken` parameter.
pub(super) const TOKEN_ENV: &str = "BAK2PG_TASK_TOKEN";
/// The variable naming the child's outcome file.
const OUTCOME_ENV: &str = "BAK2PG_STEP_OUTCOME";
/// The error name of a step that reached its time limit: not retried by the state machine.
pub(super) const ERROR_TIMEOUT: &str = "Bak2pg.Timeout";

/// What this process is.
pub(super) enum Role {
    /// Started by SSM with a task token: supervises a child and reports.
    Supervisor(String),
    /// The supervisor's child: does the work, writes its outcome there.
    Child(PathBuf),
    /// Started by hand (no token): does the work, reports nothing.
    Alone,
}

/// This process's role, from the environment.
pub(super) fn role() -> Role {
    if let Some(p) = std::env::var_os(OUTCOME_ENV) {
        return Role::Child(PathBuf::from(p));
    }
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.trim().is_empty() => Role::Supervisor(t.trim().to_string()),
        _ => Role::Alone,
    }
}

/// Writes the child's outcome for the supervisor (atomically: a killed child leaves none).
pub(super) fn write_outcome(path: &Path, o: &Outcome) {
    let tmp = path.with_extension("tmp");
    let ok =
        std::fs::write(&tmp, serde_json::to_vec(o).expect("serializable")).and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = ok {
        println!("could not write the step's outcome to {}: {e}", path.display());
    }
}

fn read_outcome(path: &Path) -> Option<Outcome> {
    serde_json::from_slice(&std::fs::read(path).ok()?).ok()
}

/// The task token and the client that reports on it.
struct Task {
    sfn: aws_sdk_sfn::Client,
    token: String,
}

/// What a heartbeat learned.
enum Beat {
    Alive,
    /// The state machine no longer waits for this task (why).
    Gone(String),
}

/// What a call to Step Functions about the task came to.
enum Sent {
    Done,
    /// Step Functions no longer waits for the task (it timed out, was closed, or the token
    /// is not one it issued): its error code.
    Gone(String),
    /// Anything else (throttling, the network): worth trying again.
    Failed(String),
}

fn sent<T, E, R>(r: Result<T, aws_sdk_sfn::error::SdkError<E, R>>) -> Sent
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match r {
        Ok(_) => Sent::Done,
        Err(e) => match e.code() {
            Some(code @ ("TaskTimedOut" | "TaskDoesNotExist" | "InvalidToken")) => Sent::Gone(code.to_string()),
            _ => Sent::Failed(aws_sdk_sfn::error::DisplayErrorContext(e).to_string()),
        },
    }
}

impl Task {
    async fn heartbeat(&self) -> Beat {
        match sent(self.sfn.send_task_heartbeat().task_token(&self.token).send().await) {
            Sent::Gone(code) => Beat::Gone(code),
            Sent::Done => Beat::Alive,
            // A heartbeat lost to the network is not a reason to stop: the next may pass.
            Sent::Failed(error) => {
                tracing::warn!(%error, "heartbeat failed");
                Beat::Alive
            }
        }
    }

    /// Sends the outcome, retrying transient failures for about a minute. A report that
    /// never arrives is not lost work: the state machine's heartbeat limit sends the step
    /// again, and a step already done is skipped.
    async fn report(&self, step: StepName, outcome: Result<&Done, (&str, &StepError)>) {
        for attempt in 0..6u32 {
            let result = match outcome {
                Ok(d) => {
                    let output = json!({
                        "step": step, "summary": &d.summary[..d.summary.floor_char_boundary(2048)], "seconds": d.seconds,
                        "waited_seconds": d.waited_seconds, "skipped": d.skipped,
                    });
                    sent(self.sfn.send_task_success().task_token(&self.token).output(output.to_string()).send().await)
                }
                Err((name, e)) => sent(
                    self.sfn
                        .send_task_failure()
                        .task_token(&self.token)
                        .error(name)
                        .cause(e.bounded_cause(&format!("{step}.json next to the job document")))
                        .send()
                        .await,
                ),
            };
            match result {
                Sent::Done => return,
                Sent::Gone(code) => {
                    println!("the state machine no longer waits for this step ({code}); outcome not reported");
                    return;
                }
                Sent::Failed(msg) => {
                    println!("could not report the outcome to Step Functions (attempt {}): {msg}", attempt + 1);
                    tokio::time::sleep(Duration::from_secs(1 << attempt.min(4))).await;
                }
            }
        }
    }

    async fn fail(&self, step: StepName, e: &StepError) {
        self.report(step, Err((e.class.error_name(), e))).await;
    }

    /// A failure before the step could run: printed, reported, and the exit status.
    async fn give_up(&self, step: StepName, e: StepError) -> ExitCode {
        let o = Outcome::unrecorded(step, e.clone());
        self.fail(step, &e).await;
        o.exit_code()
    }
}

/// Supervises the step (see the module documentation) and returns the exit status.
pub(super) async fn supervise(
    args: &Args,
    token: String,
    cfg: &bak2pg_aws::SdkConfig,
    loaded: Result<(S3Uri, JobDocument), StepError>,
) -> ExitCode {
    let step = args.step;
    let task = Task { sfn: aws_sdk_sfn::Client::new(cfg), token };
    let job = match loaded {
        Ok((_, job)) => job,
        Err(e) => return task.give_up(step, e).await,
    };
    let heartbeat = Duration::from_secs(job.worker.heartbeat_seconds.max(10));
    let every = heartbeat / 5;
    let mut last_beat = tokio::time::Instant::now();
    let mut lock = match ExecutionLock::acquire(&job, 2 * every, async || {
        if last_beat.elapsed() >= every {
            task.heartbeat().await;
            last_beat = tokio::time::Instant::now();
        }
    })
    .await
    {
        Ok(l) => l,
        Err(e) => return task.give_up(step, e).await,
    };

    let outcome_path = Path::new(&job.worker.work_root).join(".running").join(format!("{}.{step}.json", job.execution));
    let _ = std::fs::remove_file(&outcome_path);
    let exe = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            let e = StepError::transient(ErrorCode::Io, format!("cannot find the bak2pg executable: {e}"));
            return task.give_up(step, e).await;
        }
    };
    let mut child = match tokio::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env_remove(TOKEN_ENV)
        .env(OUTCOME_ENV, &outcome_path)
        .kill_on_drop(true)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let e = StepError::transient(ErrorCode::Io, format!("cannot start the step process: {e}"));
            return task.give_up(step, e).await;
        }
    };
    lock.record(&[std::process::id(), child.id().unwrap_or(0)]);

    let limit = Duration::from_secs(job.worker.step_timeout_seconds);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut ticks = tokio::time::interval(every);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = ticks.tick() => {
                if let Beat::Gone(why) = task.heartbeat().await {
                    let _ = child.kill().await;
                    println!("bak2pg step {step}: stopped: the state machine no longer waits for it ({why})");
                    return ExitCode::from(4);
                }
            }
            _ = &mut deadline => {
                let _ = child.kill().await;
                let e = StepError::permanent(
                    ErrorCode::StepTimeout,
                    format!(
                        "step {step} did not finish within {} s (limits/step-timeout-seconds); stopped",
                        limit.as_secs()
                    ),
                );
                println!("bak2pg step {step}: failed ({:?} {}): {}", e.class, e.code, e.message);
                task.report(step, Err((ERROR_TIMEOUT, &e))).await;
                return ExitCode::from(1);
            }
        }
    };
    let outcome = read_outcome(&outcome_path);
    let _ = std::fs::remove_file(&outcome_path);
    match outcome {
        Some(o) => {
            match &o.result {
                Ok(done) => task.report(step, Ok(done)).await,
                Err(e) => task.fail(step, e).await,
            }
            o.exit_code()
        }
        None => {
            let how = match &status {
                Ok(s) => s.to_string(),
                Err(e) => format!("unknown ({e})"),
            };
            let e = StepError::transient(
                ErrorCode::StepDied,
                format!("the step's process ended ({how}) without an outcome; running the step again is safe"),
            );
            println!("bak2pg step {step}: failed ({:?} {}): {}", e.class, e.code, e.message);
            task.fail(step, &e).await;
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bak2pg::job::ErrorClass;

    #[test]
    fn the_state_machine_retries_what_the_agent_reports_as_transient_only() {
        // The error names this module sends, against the Retry of the step Task that
        // receives them.
        let asl: serde_json::Value =
            serde_json::from_str(include_str!("../../../statemachine/migration.asl.json")).unwrap();
        let step = &asl["States"]["Steps"]["ItemProcessor"]["States"]["Run step"];
        let retried: Vec<&str> = step["Retry"]
            .as_array()
            .expect("the step's Retry")
            .iter()
            .flat_map(|r| r["ErrorEquals"].as_array().unwrap())
            .map(|e| e.as_str().unwrap())
            .collect();
        assert!(retried.contains(&ErrorClass::Transient.error_name()), "{retried:?}");
        assert!(!retried.contains(&ErrorClass::Permanent.error_name()), "{retried:?}");
        assert!(!retried.contains(&ERROR_TIMEOUT), "{retried:?}");
        assert!(!retried.contains(&"States.ALL") && !retried.contains(&"States.TaskFailed"), "{retried:?}");
    }
}
