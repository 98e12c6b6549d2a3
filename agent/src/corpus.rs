//! `bak2pg corpus`: try every backup of a folder and say, one line each, what would move.
//!
//! Each backup runs in a child `bak2pg` process (`inspect --json`, then `migrate`), so
//! one backup that fails in any way, even by crashing, cannot stop or colour the others,
//! and every result is exactly what a user running that command would see. The stripes of
//! a striped backup found in the same run (one media set, every family present) are given
//! together. Each migration goes into its own database `bak2pg_corpus_<n>`, dropped again
//! afterwards (only if bak2pg created it) unless `--keep`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::Context;
use bak2pg::Step;
use bak2pg::report::{Report, Status};
use bak2pg::target::Target;
use serde::Serialize;
use serde_json::Value;

/// File name endings tried when walking a folder (files given by name are always tried).
const EXTENSIONS: &[&str] = &["bak", "rar", "zip", "7z"];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Backups, archives, or folders to walk (recursively) for `.bak`, `.rar`, `.zip`
    /// and `.7z` files.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// PostgreSQL server to migrate into, as for `migrate` (password in `PGPASSWORD`).
    /// Without it, backups are only read (`inspect`, with row counts).
    #[arg(long, env = "BAK2PG_TARGET")]
    target: Option<String>,
    /// Restore engine passed to `migrate`.
    #[arg(long, default_value = "auto")]
    engine: String,
    /// Keep the migrated databases (`bak2pg_corpus_<n>`) instead of dropping them.
    #[arg(long)]
    keep: bool,
    /// Print a JSON array instead of text lines.
    #[arg(long)]
    json: bool,
}

/// One backup's line.
#[derive(Debug, Serialize)]
struct Line {
    /// The file, or the stripe files, as found.
    files: Vec<String>,
    /// SQL Server release and build (`SQL Server 2008 R2 (10.50.1600)`), when readable.
    sql_server: Option<String>,
    /// Tables (migrated, or listed by inspect).
    tables: Option<usize>,
    /// Rows (migrated and validated, or counted by inspect).
    rows: Option<u64>,
    /// Engine that read the backup (`native`, `sqlserver`), when it got that far.
    engine: Option<String>,
    /// `exact`, `readable` (no target given), `refused`, or `failed`.
    result: &'static str,
    /// Why it was refused, or the step and error it failed at.
    detail: Option<String>,
    /// Wall-clock seconds of the migration (or of the inspection without a target).
    seconds: f64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("the path of this bak2pg")?;
    let mut files = Vec::new();
    for p in &args.paths {
        collect(p, &mut files).with_context(|| format!("reading {}", p.display()))?;
    }
    if files.is_empty() {
        anyhow::bail!("no .bak, .rar, .zip or .7z file under {:?}", args.paths);
    }
    let target = args
        .target
        .as_deref()
        .map(|url| Target::parse(url).map_err(|e| anyhow::anyhow!("{e}")))
        .transpose()?
        .map(|t| t.with_default_password(std::env::var("PGPASSWORD").ok().as_deref()));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;

    let mut lines = Vec::new();
    for (n, group) in group_stripes(&exe, files).into_iter().enumerate() {
        let line = match (&args.target, &target) {
            (Some(url), Some(t)) => {
                let db = format!("bak2pg_corpus_{n}");
                let line = migrate(&exe, &group, url, &db, &args.engine);
                if !args.keep {
                    runtime.block_on(drop_database(t, &db));
                }
                line
            }
            _ => inspect_only(&exe, &group.files),
        };
        if !args.json {
            println!("{}", text(&line));
        }
        lines.push(line);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&lines)?);
    } else {
        let count = |r: &str| lines.iter().filter(|l| l.result == r).count();
        println!(
            "{} backups: {} exact, {} readable, {} refused, {} failed",
            lines.len(),
            count("exact"),
            count("readable"),
            count("refused"),
            count("failed")
        );
    }
    Ok(if lines.iter().any(|l| l.result == "failed") { ExitCode::from(1) } else { ExitCode::SUCCESS })
}

/// `path` itself when it is a file; the backup-like files under it, sorted, when a folder.
fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !path.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for p in entries {
        if p.is_dir() {
            collect(&p, out)?;
        } else if p
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.iter().any(|x| e.eq_ignore_ascii_case(x)))
        {
            out.push(p);
        }
    }
    Ok(())
}

/// `bak2pg inspect --json [--no-counts] files…`: its JSON (also written on some failures)
/// and its exit status.
fn inspect(exe: &Path, files: &[PathBuf], counts: bool) -> (Option<Value>, Option<i32>, String) {
    let mut cmd = Command::new(exe);
    cmd.arg("inspect").arg("--json");
    if !counts {
        cmd.arg("--no-counts");
    }
    match cmd.args(files).output() {
        Ok(out) => (
            serde_json::from_slice(&out.stdout).ok(),
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ),
        Err(e) => (None, None, e.to_string()),
    }
}

/// One backup to try: its files, and `inspect --json --no-counts` of the first one (what
/// grouping read; `None` for archives and unreadable files).
struct Group {
    files: Vec<PathBuf>,
    inspected: Option<Value>,
}

/// One family (stripe) of a striped media set.
struct Family {
    sequence: u64,
    file: PathBuf,
    inspected: Option<Value>,
}

/// The files as backups to try: every file alone, except the families of a striped media
/// set that are all present, given together.
fn group_stripes(exe: &Path, files: Vec<PathBuf>) -> Vec<Group> {
    let mut sets: BTreeMap<String, (u64, Vec<Family>)> = BTreeMap::new();
    let mut groups: Vec<Option<Group>> = Vec::new();
    let mut set_slot: BTreeMap<String, usize> = BTreeMap::new();
    for f in files {
        let is_bak = f.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("bak"));
        let inspected = if is_bak { inspect(exe, std::slice::from_ref(&f), false).0 } else { None };
        let family = inspected.as_ref().and_then(|v| {
            let fam = v.pointer("/backup/header/media/family")?;
            let count = fam.get("family_count")?.as_u64()?;
            let seq = fam.get("family_sequence")?.as_u64()?;
            let guid = fam.get("media_set_guid")?.as_str()?.to_string();
            (count > 1).then_some((guid, count, seq))
        });
        match family {
            Some((guid, count, seq)) => {
                let entry = sets.entry(guid.clone()).or_insert((count, Vec::new()));
                entry.1.push(Family { sequence: seq, file: f, inspected });
                set_slot.entry(guid).or_insert_with(|| {
                    groups.push(None);
                    groups.len() - 1
                });
            }
            None => groups.push(Some(Group { files: vec![f], inspected })),
        }
    }
    for (guid, (count, mut members)) in sets {
        members.sort_by_key(|m| m.sequence);
        let complete = members.iter().map(|m| m.sequence).eq(1..=count);
        let slot = set_slot[&guid];
        if complete {
            // The family holding the boot page says the release; any says the build.
            let told = |m: &&Family| m.inspected.as_ref().is_some_and(|v| !v["sql_server"].is_null());
            let inspected = members.iter().find(told).unwrap_or(&members[0]).inspected.clone();
            groups[slot] = Some(Group { files: members.into_iter().map(|m| m.file).collect(), inspected });
        } else {
            // Each alone: migrate says what is missing.
            let mut alone = members.into_iter().map(|m| Group { files: vec![m.file], inspected: m.inspected });
            groups[slot] = alone.next();
            groups.extend(alone.map(Some));
        }
    }
    groups.into_iter().flatten().collect()
}

/// "SQL Server 2008 R2 (10.50.1600)" from inspect's JSON.
fn sql_server(v: &Value) -> Option<String> {
    let release = v.get("sql_server").and_then(Value::as_str);
    let build = v.pointer("/backup/header/product_version").map(|p| {
        let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0);
        format!("{}.{}.{}", n("major"), n("minor"), n("build"))
    });
    match (release, build) {
        (Some(r), Some(b)) => Some(format!("{r} ({b})")),
        (r, b) => r.map(str::to_string).or(b),
    }
}

fn names(files: &[PathBuf]) -> Vec<String> {
    files.iter().map(|f| f.display().to_string()).collect()
}

/// The first `error: …` line of a command's standard error, without the prefix and
/// without the file name it starts with when it is one of `files` (the line says which).
fn error_line(stderr: &str, files: &[PathBuf]) -> Option<String> {
    let line = stderr.lines().find_map(|l| l.strip_prefix("error: "))?;
    let short = files.iter().find_map(|f| line.strip_prefix(&format!("{}: ", f.display())));
    Some(short.unwrap_or(line).to_string())
}

fn inspect_only(exe: &Path, files: &[PathBuf]) -> Line {
    let started = Instant::now();
    let (json, code, stderr) = inspect(exe, files, true);
    let tables = json.as_ref().and_then(|v| v.get("tables")?.as_array().cloned());
    let ok = code == Some(0);
    Line {
        files: names(files),
        sql_server: json.as_ref().and_then(sql_server),
        tables: tables.as_ref().map(Vec::len),
        rows: tables.as_ref().and_then(|t| t.iter().map(|t| t.get("rows")?.as_u64()).sum::<Option<u64>>()),
        engine: None,
        result: if ok { "readable" } else { "refused" },
        detail: if ok {
            None
        } else {
            json.as_ref()
                .and_then(|v| v.get("error")?.as_str().map(str::to_string))
                .or_else(|| error_line(&stderr, files))
        },
        seconds: started.elapsed().as_secs_f64(),
    }
}

fn migrate(exe: &Path, group: &Group, target: &str, db: &str, engine: &str) -> Line {
    let (files, json) = (&group.files, &group.inspected);
    let started = Instant::now();
    let dir = tempfile::tempdir().ok();
    let report_path = dir.as_ref().map(|d| d.path().join("report.json"));
    let mut cmd = Command::new(exe);
    cmd.arg("migrate").args(files).args(["--target", target, "--database", db, "--replace", "--quiet"]);
    cmd.args(["--engine", engine]);
    if let Some(p) = &report_path {
        cmd.arg("--report").arg(p);
    }
    let out = cmd.output();
    let seconds = started.elapsed().as_secs_f64();
    let report: Option<Report> =
        report_path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).and_then(|s| serde_json::from_str(&s).ok());
    let (code, stderr) = match &out {
        Ok(o) => (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned()),
        Err(e) => (None, e.to_string()),
    };
    let (result, detail) = match (code, &report) {
        (Some(0), Some(r)) if r.status == Status::Passed => ("exact", None),
        (Some(2), _) => ("refused", error_line(&stderr, files)),
        (_, Some(r)) if r.failed_step.is_some() => (
            "failed",
            Some(format!("{}: {}", r.failed_step.map_or("?", Step::as_str), r.error.clone().unwrap_or_default())),
        ),
        _ => ("failed", error_line(&stderr, files).or_else(|| Some(format!("exit status {code:?}")))),
    };
    // A report that got as far as the plan lists the tables.
    let planned = report.as_ref().filter(|r| !r.tables.is_empty() || r.status == Status::Passed);
    Line {
        files: names(files),
        sql_server: json.as_ref().and_then(sql_server).or_else(|| report.as_ref()?.source.sql_version.clone()),
        tables: planned
            .map(|r| r.tables.len())
            .or_else(|| json.as_ref().and_then(|v| Some(v.get("tables")?.as_array()?.len()))),
        rows: report.as_ref().filter(|r| r.status == Status::Passed).map(|r| r.totals.rows),
        engine: report.as_ref().filter(|r| r.failed_step.is_some() || r.status == Status::Passed).map(|r| {
            serde_json::to_value(r.source.engine).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()
        }),
        result,
        detail,
        seconds,
    }
}

/// Drops `db` and the loading/previous copies a run may leave, when bak2pg made them.
async fn drop_database(target: &Target, db: &str) {
    let Ok(c) = target.connect(Step::Swap, target.maintenance_db()).await else { return };
    let like = format!("{db}\\_\\_%");
    let names: Vec<String> = match c
        .query("SELECT datname::text FROM pg_database WHERE datname = $1 OR datname LIKE $2", &[&db, &like])
        .await
    {
        Ok(rows) => rows.iter().map(|r| r.get(0)).collect(),
        Err(_) => return,
    };
    for name in names {
        if let Err(e) = bak2pg::target::drop_ours(&c, Step::Swap, &name).await {
            eprintln!("corpus: could not drop {name}: {e}");
        }
    }
}

fn text(l: &Line) -> String {
    let opt = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let result = match &l.detail {
        Some(d) => format!("{}: {d}", l.result),
        None => l.result.to_string(),
    };
    format!(
        "{}  |  {}  |  {} tables  |  {} rows  |  {}  |  {result}  |  {:.1}s",
        l.files.join(" + "),
        opt(l.sql_server.clone()),
        opt(l.tables.map(|n| n.to_string())),
        opt(l.rows.map(|n| n.to_string())),
        opt(l.engine.clone()),
        l.seconds
    )
}
