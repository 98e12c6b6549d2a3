//! The worker's own limits on concurrency, as lock files the kernel releases when the
//! holding process ends (so a killed step never leaves a lock behind): heavy-step slots
//! shared by every execution, and one running step per execution.

use std::fs::File;
use std::io::{Read as _, Seek as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bak2pg::job::{ErrorCode, JobDocument, StepError};

use super::errors::io_err;

/// A held slot: the lock is released when the file is closed (also when the process dies).
pub(super) struct Slot {
    _file: File,
}

pub(super) async fn take_slot(job: &JobDocument, max_wait: Duration) -> Result<(Slot, f64), StepError> {
    let slots = job.worker.slots.max(1);
    let dir = Path::new(&job.worker.work_root).join(".slots");
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
                ErrorCode::SlotWaitTimeout,
                format!("no free slot after {}s (all {slots} busy)", max_wait.as_secs()),
            ));
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// The lock that lets one step of an execution run at a time on the worker:
/// `<work_root>/.running/<execution>.lock`, holding the process ids of its holder (and the
/// holder's child). A second copy of a step exists when the state machine gave up on the
/// first (no heartbeat) and sent the step again: the first must stop before the second
/// touches the work folder (`fetch` empties it).
pub(super) struct ExecutionLock {
    file: File,
}

impl ExecutionLock {
    fn open(job: &JobDocument) -> Result<(File, PathBuf), StepError> {
        let dir = Path::new(&job.worker.work_root).join(".running");
        std::fs::create_dir_all(&dir).map_err(|e| io_err("create the lock folder", &dir, e))?;
        let path = dir.join(format!("{}.lock", job.execution));
        let f = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|e| io_err("open the execution lock", &path, e))?;
        Ok((f, path))
    }

    fn held(file: File) -> ExecutionLock {
        let mut l = ExecutionLock { file };
        l.record(&[std::process::id()]);
        l
    }

    /// Takes the lock, or says who holds it.
    ///
    /// # Errors
    /// Transient `step_running`: another copy of a step of this execution runs.
    pub(super) fn try_acquire(job: &JobDocument) -> Result<ExecutionLock, StepError> {
        let (f, path) = Self::open(job)?;
        if f.try_lock().is_ok() {
            return Ok(Self::held(f));
        }
        Err(StepError::transient(
            ErrorCode::StepRunning,
            format!(
                "another step of execution {} is running on this worker (process {})",
                job.execution,
                holders(&path).iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
            ),
        ))
    }

    /// Takes the lock, waiting up to `patience` for the holder to stop by itself (a copy the
    /// state machine gave up on stops at its next heartbeat), then killing it (SIGKILL: the
    /// steps are safe to kill) and waiting `patience` again. `beat` runs every second
    /// while waiting (the caller's heartbeat).
    ///
    /// # Errors
    /// Transient `step_running` when the holder survives.
    pub(super) async fn acquire(
        job: &JobDocument,
        patience: Duration,
        mut beat: impl AsyncFnMut(),
    ) -> Result<ExecutionLock, StepError> {
        let (f, path) = Self::open(job)?;
        let start = Instant::now();
        let mut killed = false;
        loop {
            if f.try_lock().is_ok() {
                return Ok(Self::held(f));
            }
            let waited = start.elapsed();
            if !killed && waited >= patience {
                let pids = holders(&path);
                println!("another copy of a step of {} (process {pids:?}) did not stop; killing it", job.execution);
                for pid in pids {
                    // SAFETY: kill(2) with a pid read from the lock file its holder wrote;
                    // the lock is still held, so those processes are the holder's.
                    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                }
                killed = true;
            } else if waited >= 2 * patience {
                return Err(StepError::transient(
                    ErrorCode::StepRunning,
                    format!(
                        "another step of execution {} still holds {} after it was killed",
                        job.execution,
                        path.display()
                    ),
                ));
            } else if waited.as_secs() == 0 {
                println!("waiting for the other copy of a step of {} to stop", job.execution);
            }
            beat().await;
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Records the processes holding the lock (the holder first).
    pub(super) fn record(&mut self, pids: &[u32]) {
        let text = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(" ");
        let _ = self.file.set_len(0);
        let _ = self.file.rewind();
        let _ = self.file.write_all(text.as_bytes());
        let _ = self.file.flush();
    }
}

impl Drop for ExecutionLock {
    fn drop(&mut self) {
        self.record(&[]);
    }
}

/// The process ids a lock file names.
fn holders(path: &Path) -> Vec<u32> {
    let mut text = String::new();
    let _ = File::open(path).and_then(|mut f| f.read_to_string(&mut text));
    text.split_whitespace().filter_map(|p| p.parse().ok()).filter(|&p| p > 1).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One at a time: a process another test forks holds every open file description of
    /// this one until it execs, locks included (close-on-exec closes them only then).
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    fn job(root: &Path) -> JobDocument {
        let mut j: JobDocument = serde_json::from_value(serde_json::json!({
            "version": bak2pg::job::JOB_VERSION, "execution": "hotel-1", "tenant": "hotel",
            "object": {"bucket": "b", "key": "hotel/a.bak"},
            "target": {"host": "h", "port": 5432, "user": "u", "maintenance_db": "postgres", "sslmode": "disable",
                       "password_parameter": "/p", "database": "hotel", "replace": false},
            "worker": {"work_root": "", "slots": 1, "jobs": 1, "max_member_bytes": 1, "min_free_bytes": 1,
                       "part_bytes": 1},
            "results": "s3://b/jobs/hotel/hotel-1/"
        }))
        .expect("a job document");
        j.worker.work_root = root.display().to_string();
        j
    }

    #[test]
    fn a_second_copy_is_refused_naming_the_first() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let j = job(dir.path());
        let held = ExecutionLock::try_acquire(&j).unwrap();
        let e = ExecutionLock::try_acquire(&j).err().expect("refused while held");
        assert_eq!(e.code, "step_running");
        assert!(e.message.contains(&std::process::id().to_string()), "{e}");
        drop(held);
        assert!(ExecutionLock::try_acquire(&j).is_ok(), "free once the holder is gone");
    }

    #[test]
    fn a_holder_that_does_not_stop_is_killed() {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let j = job(dir.path());
        let path = dir.path().join(".running/hotel-1.lock");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        // Another process holds the lock (flock(1) takes the same lock as File::try_lock).
        let mut holder = std::process::Command::new("flock").arg(&path).args(["sleep", "60"]).spawn().unwrap();
        while File::open(&path).unwrap().try_lock().is_ok() {
            std::thread::sleep(Duration::from_millis(20));
        }
        // flock(1) runs sleep as its child: both hold the lock; both are named, as the
        // supervisor names itself and its child.
        let child = std::fs::read_to_string(format!("/proc/{}/task/{}/children", holder.id(), holder.id())).unwrap();
        std::fs::write(&path, format!("{} {}", holder.id(), child.trim())).unwrap();
        let mut beats = 0;
        let lock = rt.block_on(ExecutionLock::acquire(&j, Duration::from_secs(1), async || beats += 1));
        assert!(lock.is_ok(), "{:?}", lock.err());
        assert!(beats >= 1, "the caller's heartbeat kept running while it waited");
        let status = holder.wait().unwrap();
        assert!(!status.success(), "the holder was killed: {status}");
    }
}
