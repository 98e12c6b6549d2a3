//! Faults during `bak2pg migrate`, injected at exact instants: SIGKILL at every pause
//! point of a migration and at seeded random times, a PostgreSQL restart at each step, a
//! connection cut after N bytes by a proxy, and a full work folder. For each: the
//! previous database is unchanged (oid, comment, per-table digest), a rerun exits 0 and
//! validates, and nothing is left over (`__loading`, `__creating`, extra `__prev_*`).
//!
//! The pause points are `bak2pg::faults` (`BAK2PG_FAULT_PAUSE=<point>:<dir>`): the run
//! stops there and says so in `<dir>/paused`; the test does its damage, then lets it go on
//! (`<dir>/resume`) or not.
//!
//! The restart test restarts the shared test server, which would break the tests running
//! beside it: it is `#[ignore]`d in the main run and `scripts/test` runs it afterwards,
//! alone. The disk-full test mounts a tmpfs, so it needs root; it is run the same way.

mod cli;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bak2pg::report::Status;
use cli::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The backup migrated in the fault runs (a few tables, LOBs, constraints), and the
/// smaller one the previous database comes from.
const INPUT: &str = "bak/northwind-sql2008r2.bak";
const PREVIOUS: &str = "bak/hotel-management-time-sql2017.bak";

/// Every pause point, in the order a migration reaches them.
const POINTS: &[&str] = &[
    "created_database",
    "commented_database",
    "schema_created",
    "table_loaded",
    "loaded",
    "constraints_created",
    "validated",
    "swapped",
];

fn fixture(rel: &str) -> PathBuf {
    bak2pg_tests::fixture(rel)
}

/// A `bak2pg migrate` child process started with a pause point.
struct Paused {
    child: tokio::process::Child,
    dir: tempfile::TempDir,
    report: PathBuf,
}

/// Starts `migrate INPUT` into `db` at `target`, and waits until it is paused at `point`.
async fn start_paused(point: &str, db: &str, target: &str) -> Paused {
    start_paused_in(point, &fixture(INPUT), db, target, None).await
}

/// [`start_paused`] of `input`, with `$TMPDIR` set to `tmpdir` when given (where the run
/// makes its work folder).
async fn start_paused_in(point: &str, input: &Path, db: &str, target: &str, tmpdir: Option<&Path>) -> Paused {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report = dir.path().join("report.json");
    let mut cmd = tokio::process::Command::new(bak2pg_bin());
    cmd.arg("migrate")
        .arg(input)
        .args(["--target", target, "--database", db, "--quiet", "--report"])
        .arg(&report)
        .env(bak2pg::faults::ENV, format!("{point}:{}", dir.path().display()))
        .env_remove("BAK2PG_TARGET")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(t) = tmpdir {
        cmd.env("TMPDIR", t);
    }
    let mut child = cmd.spawn().expect("starting bak2pg");
    let start = Instant::now();
    while !dir.path().join("paused").exists() {
        if let Ok(Some(status)) = child.try_wait() {
            let out = child.wait_with_output().await.expect("output");
            panic!("{point}: the run ended ({status}) before pausing:\n{}", String::from_utf8_lossy(&out.stderr));
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{point}: never paused");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Paused { child, dir, report }
}

impl Paused {
    /// SIGKILL, as `kill -9` would.
    async fn kill(mut self) {
        self.child.start_kill().expect("kill");
        self.child.wait().await.expect("reaped");
    }

    /// Lets the run go on; its exit code, standard error and report.
    async fn resume(self) -> (Option<i32>, String, Option<bak2pg::report::Report>) {
        std::fs::write(self.dir.path().join("resume"), "").expect("resume");
        let out = self.child.wait_with_output().await.expect("output");
        let report = std::fs::read_to_string(&self.report).ok().and_then(|s| serde_json::from_str(&s).ok());
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), report)
    }
}

/// Migrates PREVIOUS into `db` afresh: the previous database the faults must not touch.
async fn fresh_previous(db: &str) -> DbState {
    drop_like(db).await;
    let run = run_migrate(&[&fixture(PREVIOUS)], &pg_url(), db).await;
    assert_eq!(run.code, Some(0), "the earlier run: {}", run.output());
    db_state(db).await
}

/// A rerun completes and validates, and leaves `db` plus at most one previous copy.
async fn rerun_completes(db: &str, case: &str) -> DbState {
    let run = run_migrate(&[&fixture(INPUT)], &pg_url(), db).await;
    assert_eq!(run.code, Some(0), "{case}: the rerun: {}", run.output());
    let report = run.report.expect("a report");
    assert_eq!(report.status, Status::Passed, "{case}");
    let left = databases_like(db).await;
    assert!(
        left.len() <= 2 && left[0] == db && left[1..].iter().all(|d| d.starts_with(&format!("{db}__prev_"))),
        "{case}: after the rerun only {db} and its one previous copy (the default policy): {left:?}"
    );
    db_state(db).await
}

/// Whether `before` (the previous database's state) is still there: as `db` itself when
/// the swap had not happened, or as a `__prev_` copy when the kill came after it.
async fn previous_intact(db: &str, before: &DbState, case: &str) {
    if db_state(db).await == *before {
        return;
    }
    for d in databases_like(db).await.iter().filter(|d| d.contains("__prev_")) {
        let mut state = db_state(d).await;
        // The swap renames it aside and marks it as a previous copy: same oid and contents.
        state.comment.clone_from(&before.comment);
        if state == *before {
            return;
        }
    }
    panic!("{case}: the previous database changed or is gone: {:?}", databases_like(db).await);
}

/// SIGKILL at every pause point, then at seeded instants inside the steps of a run (from
/// its own step timings): the previous database survives each, and the rerun completes
/// with nothing left over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_anywhere_leaves_the_previous_database_and_the_rerun_completes() {
    let db = "f_kill";
    let mut before = fresh_previous(db).await;
    for point in POINTS {
        let paused = start_paused(point, db, &pg_url()).await;
        paused.kill().await;
        previous_intact(db, &before, point).await;
        before = rerun_completes(db, point).await;
    }

    // Seeded instants spread over the run's steps, placed by the run's own step timings
    // (a report's `steps`): one inside each step that takes time, up to 6.
    let timing = run_migrate(&[&fixture(INPUT)], &pg_url(), db).await;
    assert_eq!(timing.code, Some(0), "the timing run: {}", timing.output());
    let steps = timing.report.expect("a report").steps;
    let mut windows = Vec::new();
    let mut at = 0.0;
    for s in &steps {
        windows.push((s.step, at, s.seconds));
        at += s.seconds;
    }
    windows.sort_by(|a, b| b.2.total_cmp(&a.2));
    windows.truncate(6);
    let mut seed: u64 = 0x5eed_b2b9;
    for (step, start, len) in windows {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        let frac = (seed >> 11) as f64 / (1u64 << 53) as f64;
        let when = Duration::from_secs_f64(start + frac * len);
        let before = db_state(db).await;
        let mut child = tokio::process::Command::new(bak2pg_bin())
            .arg("migrate")
            .arg(fixture(INPUT))
            .args(["--target", &pg_url(), "--database", db, "--quiet"])
            .env_remove("BAK2PG_TARGET")
            .kill_on_drop(true)
            .spawn()
            .expect("starting bak2pg");
        tokio::time::sleep(when).await;
        let _ = child.start_kill();
        let _ = child.wait().await;
        let case = format!("kill at {when:?}, inside step {step}");
        previous_intact(db, &before, &case).await;
        rerun_completes(db, &case).await;
    }
    drop_like(db).await;
}

/// A killed run cannot remove its work folder, which holds the backup it extracted from
/// the archive; the next run removes it (its lock is free) and never its own or a live one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_runs_extracted_backup_is_removed_by_the_next_run() {
    let db = "f_workdir";
    drop_like(db).await;
    let tmp = tempfile::tempdir().expect("temporary folder");
    let rar = fixture("rar/northwind-sql2005-rar5.rar");
    let work_folders = || -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = std::fs::read_dir(tmp.path())
            .expect("TMPDIR")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("bak2pg-")))
            .collect();
        v.sort();
        v
    };

    // Killed after extracting: its folder and the extracted backup stay behind.
    start_paused_in("created_database", &rar, db, &pg_url(), Some(tmp.path())).await.kill().await;
    let killed = work_folders();
    assert_eq!(killed.len(), 1, "{killed:?}");
    let extracted: Vec<_> = std::fs::read_dir(&killed[0]).expect("the killed run's folder").flatten().collect();
    assert!(
        extracted.iter().any(|e| e.path().extension().is_some_and(|x| x.eq_ignore_ascii_case("bak"))),
        "the killed run's folder holds no extracted backup: {extracted:?}"
    );

    // A second run, paused once it has loaded: the killed run's folder is gone, its own is
    // there; a third run started beside it leaves it alone.
    let second = start_paused_in("loaded", &rar, db, &pg_url(), Some(tmp.path())).await;
    let now = work_folders();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now[0], killed[0], "the killed run's folder is still there");
    let third = start_paused_in("created_database", &rar, &format!("{db}_b"), &pg_url(), Some(tmp.path())).await;
    assert!(now[0].exists(), "a live run's work folder was removed");
    third.kill().await;
    let (code, stderr, report) = second.resume().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(report.is_some_and(|r| r.status == Status::Passed));
    assert!(!now[0].exists(), "the completed run left its folder");
    drop_like(db).await;
    drop_like(&format!("{db}_b")).await;
}

/// Two runs for one database (two uploads of a tenant, a replay beside a running
/// execution): the second fails clearly at once, the first completes, and never do two
/// loads go into one `__loading`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_run_for_the_same_database_fails_clearly_and_the_first_completes() {
    let db = "f_twice";
    fresh_previous(db).await;
    let first = start_paused("loaded", db, &pg_url()).await;
    let second = run_migrate(&[&fixture(INPUT)], &pg_url(), db).await;
    assert_eq!(second.code, Some(1), "{}", second.output());
    assert!(second.stderr.contains("another bak2pg run is migrating"), "{}", second.output());
    let (code, stderr, report) = first.resume().await;
    assert_eq!(code, Some(0), "{stderr}");
    assert!(report.is_some_and(|r| r.status == Status::Passed));
    drop_like(db).await;
}

/// A `<name>__creating` that is not ours (it holds a table) is never touched, nor a
/// `<name>__loading` without our mark.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_that_are_not_ours_are_refused_not_dropped() {
    let db = "f_notours";
    drop_like(db).await;
    let c = connect("postgres").await;
    c.batch_execute(&format!("CREATE DATABASE {db}__creating")).await.expect("create");
    connect(&format!("{db}__creating")).await.batch_execute("CREATE TABLE keep (x int)").await.expect("a table");
    let run = run_migrate(&[&fixture(PREVIOUS)], &pg_url(), db).await;
    assert_eq!(run.code, Some(1), "{}", run.output());
    assert!(run.stderr.contains("__creating") && run.stderr.contains("not created by bak2pg"), "{}", run.output());
    let n: i64 = connect(&format!("{db}__creating"))
        .await
        .query_one("SELECT count(*) FROM pg_class WHERE relname = 'keep'", &[])
        .await
        .expect("still there")
        .get(0);
    assert_eq!(n, 1);
    drop_like(db).await;
}

/// PostgreSQL restarted (`pg_ctl restart -m fast`) while the run is paused at each step:
/// the run fails naming the step with the previous database unchanged (or, when what
/// follows needs only new connections, completes validated), and the rerun completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "restarts the shared test server: scripts/test runs it after the other tests, alone"]
async fn a_postgres_restart_at_each_step_fails_clearly_and_the_rerun_completes() {
    let db = "f_restart";
    let mut before = fresh_previous(db).await;
    let mut failed = Vec::new();
    for point in ["schema_created", "table_loaded", "loaded", "constraints_created", "validated"] {
        let paused = start_paused(point, db, &pg_url()).await;
        restart_postgres();
        let (code, stderr, report) = paused.resume().await;
        if code == Some(0) {
            // The steps after the pause opened new connections: a finished run must be a
            // complete, validated one.
            assert!(report.is_some_and(|r| r.status == Status::Passed), "{point}: {stderr}");
        } else {
            assert_eq!(code, Some(1), "{point}: {stderr}");
            assert!(stderr.contains("error: step "), "{point}: names the step: {stderr}");
            assert!(report.is_some_and(|r| r.status == Status::Failed), "{point}");
            previous_intact(db, &before, point).await;
            failed.push(point);
        }
        before = rerun_completes(db, point).await;
    }
    // After a table's COPY the load goes on on the connection the restart cut: that run
    // must have failed, or the restart never reached it.
    assert!(failed.contains(&"table_loaded"), "the restart cut no run: {failed:?}");
    drop_like(db).await;
}

fn restart_postgres() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg.sh");
    let out = std::process::Command::new("bash").arg(script).arg("restart").output().expect("pg.sh restart");
    assert!(out.status.success(), "pg.sh restart: {}", String::from_utf8_lossy(&out.stderr));
}

/// A TCP proxy to the test server that cuts the first connection whose traffic takes
/// the total from the client past `limit` bytes; later connections pass. Returns the
/// proxy's port.
async fn cutting_proxy(limit: u64) -> u16 {
    let server = pg_url();
    let hostport = server.split('@').nth(1).and_then(|r| r.split('/').next()).expect("host:port").to_string();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let cut_done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else { return };
            let Ok(mut upstream) = tokio::net::TcpStream::connect(&hostport).await else { continue };
            let (sent, cut_done) = (sent.clone(), cut_done.clone());
            tokio::spawn(async move {
                let (mut cr, mut cw) = client.split();
                let (mut ur, mut uw) = upstream.split();
                let up = async {
                    let mut buf = vec![0u8; 16 << 10];
                    loop {
                        let n = match cr.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => n,
                        };
                        let total = sent.fetch_add(n as u64, std::sync::atomic::Ordering::SeqCst) + n as u64;
                        if total > limit && !cut_done.swap(true, std::sync::atomic::Ordering::SeqCst) {
                            return; // cut: both directions end
                        }
                        if uw.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                };
                let down = async {
                    let _ = tokio::io::copy(&mut ur, &mut cw).await;
                };
                tokio::select! { _ = up => {}, _ = down => {} }
            });
        }
    });
    port
}

/// The connection cut by a proxy after N bytes at a few points of a run (in the COPY,
/// later): the run fails naming the step, the previous database is unchanged, and a rerun
/// straight to the server completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_cut_fails_clearly_and_the_rerun_completes() {
    let db = "f_cut";
    let mut before = fresh_previous(db).await;
    let mut cut = Vec::new();
    // Northwind's COPY data is ~560 kB: cuts in the DDL, inside the COPY, and near the end.
    for limit in [20_000u64, 200_000, 450_000, 900_000] {
        let port = cutting_proxy(limit).await;
        let url = pg_url();
        let (_, rest) = url.split_once('@').expect("user@host");
        let path = rest.split_once('/').map(|(_, p)| p).unwrap_or("postgres");
        let proxied = format!("{}@127.0.0.1:{port}/{path}", url.split('@').next().expect("scheme and user"));
        let run = run_migrate(&[&fixture(INPUT)], &proxied, db).await;
        let case = format!("cut after {limit} bytes");
        if run.code == Some(0) {
            // The cut came after the last statement that mattered (a later connection
            // passed): a finished run must be a complete, validated one.
            assert_eq!(run.report.as_ref().map(|r| r.status), Some(Status::Passed), "{case}");
        } else {
            assert_eq!(run.code, Some(1), "{case}: {}", run.output());
            assert!(run.stderr.contains("error: step "), "{case}: names the step: {}", run.output());
            previous_intact(db, &before, &case).await;
            cut.push(limit);
        }
        before = rerun_completes(db, &case).await;
    }
    // The cuts before the end of the COPY data must have hit a run.
    assert!(cut.contains(&20_000) && cut.contains(&200_000), "runs the proxy cut: {cut:?}");
    drop_like(db).await;
}

/// A work folder too small for the extracted backup: a clear error naming the folder and
/// the bytes needed, nothing left in the folder, nothing written to PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "mounts a tmpfs (root): scripts/test runs it after the other tests"]
async fn a_full_work_folder_fails_clearly_and_writes_nothing() {
    let db = "f_diskfull";
    drop_like(db).await;
    let mount = tempfile::tempdir().expect("mount point");
    let status = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount.path())
        .status()
        .expect("mount");
    assert!(status.success(), "mounting a 1 MiB tmpfs (needs root)");
    let run = run_migrate_with(
        &[&fixture("rar/northwind-sql2005-rar5.rar")],
        &pg_url(),
        db,
        &["--work-dir", mount.path().to_str().expect("utf-8 path")],
    )
    .await;
    let left: Vec<_> = std::fs::read_dir(mount.path()).expect("list").collect();
    let _ = std::process::Command::new("umount").arg(mount.path()).status();
    assert_eq!(run.code, Some(2), "{}", run.output());
    for s in [mount.path().to_str().expect("utf-8"), "not enough free space", "bytes needed"] {
        assert!(run.stderr.contains(s), "the error says {s:?}: {}", run.output());
    }
    assert!(left.is_empty(), "partial files removed: {left:?}");
    assert_eq!(databases_like(db).await, Vec::<String>::new(), "nothing written to PostgreSQL");
}
