//! The `bak2pg` command and the test PostgreSQL, shared by the end-to-end tests
//! (`tests/migrate.rs`, `tests/faults.rs`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bak2pg::ddl::quote_ident;
use bak2pg::report::Report;
use tokio_postgres::{Client, NoTls};

// ---------------------------------------------------------------------------------------
// The command and the server

/// The `bak2pg` binary of this build. Cargo gives `CARGO_BIN_EXE_*` only to the binary's
/// own package, so the binary is built here, once per test run, into the same target
/// folder and profile as this test (`cargo build` is a no-op when it is up to date, and
/// never runs stale code); `BAK2PG_BIN` names another binary instead.
pub fn bak2pg_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("BAK2PG_BIN") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("path of the test executable");
        // <target>/<profile>/deps/migrate-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).expect("test executable in <target>/<profile>/deps");
        let profile = profile_dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut cmd = std::process::Command::new(env!("CARGO"));
        cmd.arg("build").arg("--manifest-path").arg(workspace.join("Cargo.toml")).args([
            "-p",
            "bak2pg-agent",
            "--bin",
            "bak2pg",
        ]);
        match profile {
            "debug" => {}
            "release" => {
                cmd.arg("--release");
            }
            other => {
                cmd.args(["--profile", other]);
            }
        }
        if let Some(target_dir) = profile_dir.parent().filter(|d| d.join("CACHEDIR.TAG").exists()) {
            cmd.arg("--target-dir").arg(target_dir);
        }
        let out = cmd.output().expect("running cargo build");
        assert!(out.status.success(), "cargo build of bak2pg failed:\n{}", String::from_utf8_lossy(&out.stderr));
        let bin = profile_dir.join(format!("bak2pg{}", std::env::consts::EXE_SUFFIX));
        assert!(bin.is_file(), "cargo build did not produce {}", bin.display());
        bin
    })
}

/// The test server's URL (maintenance database `postgres`). Fails, never skips, when unset.
pub fn pg_url() -> String {
    std::env::var("BAK2PG_TEST_PG").unwrap_or_else(|_| {
        panic!("BAK2PG_TEST_PG is not set: run the tests with scripts/test (it starts a throwaway PostgreSQL)")
    })
}

/// `pg_url()` with another database.
pub fn url_for(db: &str) -> String {
    let u = pg_url();
    let base = u.rsplit_once('/').map(|(a, _)| a).unwrap_or(&u);
    format!("{base}/{db}")
}

/// `pg_url()` with another user.
pub fn url_as(user: &str) -> String {
    let u = pg_url();
    let (scheme, rest) = u.split_once("://").expect("a postgres:// URL");
    let host = rest.rsplit_once('@').map(|(_, h)| h).unwrap_or(rest);
    format!("{scheme}://{user}@{host}")
}

pub async fn connect(db: &str) -> Client {
    let (c, conn) = tokio_postgres::connect(&url_for(db), NoTls)
        .await
        .unwrap_or_else(|e| panic!("connecting to database {db:?} of the test server: {e}"));
    tokio::spawn(async move {
        let _ = conn.await;
    });
    c
}

/// Names of the databases that are `name` or derived from it (`name__loading`,
/// `name__prev_…`), sorted.
pub async fn databases_like(name: &str) -> Vec<String> {
    let c = connect("postgres").await;
    let rows = c
        .query(
            "SELECT datname::text FROM pg_database WHERE datname = $1 OR starts_with(datname, $1 || '__') ORDER BY 1",
            &[&name],
        )
        .await
        .expect("listing databases");
    rows.iter().map(|r| r.get(0)).collect()
}

/// Drops `name` and every database derived from it (a test's own names only).
pub async fn drop_like(name: &str) {
    let c = connect("postgres").await;
    for d in databases_like(name).await {
        c.batch_execute(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(&d)))
            .await
            .unwrap_or_else(|e| panic!("dropping {d}: {e}"));
    }
}

/// One run of the command.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// The `--report` file, when one was written.
    pub report: Option<Report>,
}

impl Run {
    /// Everything the run printed, for assertion messages.
    pub fn output(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

/// `bak2pg migrate <inputs> --target <target> --database <database> --report … --quiet`.
pub async fn run_migrate(inputs: &[&Path], target: &str, database: &str) -> Run {
    run_migrate_with(inputs, target, database, &[]).await
}

/// [`run_migrate`] with more arguments (`--backup-set 1`).
pub async fn run_migrate_with(inputs: &[&Path], target: &str, database: &str, args: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("temporary folder");
    let report_path = dir.path().join("report.json");
    let out = tokio::process::Command::new(bak2pg_bin())
        .arg("migrate")
        .args(inputs)
        .args(args)
        .arg("--target")
        .arg(target)
        .arg("--database")
        .arg(database)
        .arg("--report")
        .arg(&report_path)
        .arg("--quiet")
        // Only the arguments above choose the target.
        .env_remove("BAK2PG_TARGET")
        .output()
        .await
        .expect("running bak2pg");
    let report = std::fs::read_to_string(&report_path)
        .ok()
        .map(|s| serde_json::from_str::<Report>(&s).unwrap_or_else(|e| panic!("the report does not parse: {e}\n{s}")));
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        report,
    }
}

/// What must stay the same in a database that a failed run must not touch: its oid (not
/// dropped and re-created, not renamed away and back), its comment, and a fingerprint of
/// every table's contents computed by PostgreSQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbState {
    pub oid: u32,
    pub comment: Option<String>,
    pub tables: BTreeMap<String, String>,
}

pub async fn db_state(name: &str) -> DbState {
    let m = connect("postgres").await;
    let row = m
        .query_one("SELECT oid, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1", &[&name])
        .await
        .unwrap_or_else(|e| panic!("database {name} must exist: {e}"));
    let c = connect(name).await;
    let tables = c
        .query(
            "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables \
             WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1",
            &[],
        )
        .await
        .expect("listing tables");
    let mut fp = BTreeMap::new();
    for t in tables {
        let t: String = t.get(0);
        let row = c
            .query_one(
                &format!(
                    "SELECT count(*)::text || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM {t} x"
                ),
                &[],
            )
            .await
            .unwrap_or_else(|e| panic!("fingerprint of {t}: {e}"));
        fp.insert(t, row.get(0));
    }
    assert!(!fp.is_empty(), "{name} has no tables: not a useful witness");
    DbState { oid: row.get(0), comment: row.get(1), tables: fp }
}
