//! Pause points for the fault tests.
//!
//! With `BAK2PG_FAULT_PAUSE=<point>:<dir>` in the environment, a run that reaches the
//! named point writes `<dir>/pid` (its process id: the process to kill, which under the
//! pipeline's supervisor is not the one the test started) and `<dir>/paused` (holding the
//! point's name), and waits until
//! `<dir>/resume` exists (at most ten minutes). The test then kills the process, restarts
//! PostgreSQL or cuts the connection at that exact instant, and resumes or not. Without
//! the variable, [`pause`] is one cached environment lookup.
//!
//! Points, in the order a migration reaches them: `created_database` (between `CREATE
//! DATABASE` and its marking comment), `commented_database`, `schema_created`,
//! `table_loaded` (after a table's COPY committed), `loaded`, `constraints_created`,
//! `validated`, `swapped` (after the swap's transaction, before older copies are dropped).

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable naming the pause point and folder.
pub const ENV: &str = "BAK2PG_FAULT_PAUSE";

fn configured() -> Option<&'static (String, PathBuf)> {
    static CONFIG: OnceLock<Option<(String, PathBuf)>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let v = std::env::var(ENV).ok()?;
            let (point, dir) = v.split_once(':')?;
            Some((point.to_string(), PathBuf::from(dir)))
        })
        .as_ref()
}

/// Pauses here when [`ENV`] names `point` (see the module documentation). Blocks the
/// calling thread: the point is meant to freeze the run as a kill would find it.
pub fn pause(point: &str) {
    let Some((wanted, dir)) = configured() else { return };
    if wanted != point {
        return;
    }
    tracing::warn!(point, dir = %dir.display(), "paused for a fault test");
    let pid = std::fs::write(dir.join("pid"), std::process::id().to_string());
    if pid.is_err() || std::fs::write(dir.join("paused"), point).is_err() {
        return;
    }
    let start = Instant::now();
    while !dir.join("resume").exists() && start.elapsed() < Duration::from_secs(600) {
        std::thread::sleep(Duration::from_millis(10));
    }
}
