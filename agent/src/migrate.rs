//! `bak2pg migrate`: a backup (or an archive holding one) into PostgreSQL, validated.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::{Context, bail};
use bak2pg::archive::{self, Limits};
use bak2pg::report::{InputReport, StepTiming};
use bak2pg::source::native::NativeSource;
use bak2pg::source::select::{self, Decision, EngineChoice};
use bak2pg::source::sqlserver::{RestoreFacts, SqlServerSource};
use bak2pg::source::{Source, SourceError};
use bak2pg::{MigrateOptions, Progress, Report, Step};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use mssql_backup::OpenOptions;

/// `--postgis`: what geography/geometry columns become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Postgis {
    /// PostGIS geography/geometry when the target offers the extension and the role may
    /// create it; else bytea, with the reason in the report.
    Auto,
    /// Raw bytes in bytea.
    Off,
}

/// Which restore engine reads the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Engine {
    /// Native where every table is readable natively, else sqlserver; the report says why.
    Auto,
    /// Read the backup file directly (no SQL Server).
    Native,
    /// RESTORE on a SQL Server and read over TDS.
    Sqlserver,
}

impl Engine {
    /// The library's name for the choice.
    pub fn choice(self) -> EngineChoice {
        match self {
            Engine::Auto => EngineChoice::Auto,
            Engine::Native => EngineChoice::Native,
            Engine::Sqlserver => EngineChoice::Sqlserver,
        }
    }
}

/// Arguments of `migrate`.
#[derive(clap::Args)]
pub struct Args {
    /// The backup: a `.bak` (several files for a striped backup), or a `.rar`, `.zip` or
    /// `.7z` holding one.
    #[arg(required = true)]
    input: Vec<PathBuf>,
    /// PostgreSQL server, `postgres://user@host:port/maintenance_db`. Give the password in
    /// `PGPASSWORD`, not here (command lines are visible to every user of the machine).
    #[arg(long, env = "BAK2PG_TARGET")]
    target: String,
    /// Name of the PostgreSQL database to create (default: the backup's database name).
    #[arg(long)]
    database: Option<String>,
    /// Drop the previous database after a successful swap instead of keeping it as
    /// `<name>__prev_<UTC time>` (the same as `--keep-previous 0`).
    #[arg(long, conflicts_with = "keep_previous")]
    replace: bool,
    /// How many previous copies (`<name>__prev_<UTC time>`) to keep after a successful
    /// swap; older ones, also those of earlier runs, are dropped (only bak2pg's own).
    #[arg(long, value_name = "N", default_value_t = 1)]
    keep_previous: u32,
    /// Keep `<name>__loading` after a failure, for inspection.
    #[arg(long)]
    keep_failed: bool,
    /// Tables loaded at once.
    #[arg(long, default_value_t = 4)]
    jobs: usize,
    /// Threads reading one large table (2^20 rows or more) at once, each a part of its
    /// pages (native engine); default: one fewer than the CPUs (PostgreSQL's COPY backend
    /// needs one), at least 1, at most 4.
    #[arg(long, value_name = "N")]
    decode_threads: Option<usize>,
    /// Map a SQL Server schema to a PostgreSQL schema (`dbo=public` is the default);
    /// repeatable.
    #[arg(long = "schema-map", value_name = "FROM=TO")]
    schema_map: Vec<String>,
    /// Load columns of unknown types as raw bytea instead of refusing the database.
    #[arg(long)]
    load_unknown_as_bytea: bool,
    /// `icu`: columns whose SQL Server collation ignores case or accents (`_CI`, `_AI`)
    /// get a nondeterministic ICU collation that compares as SQL Server did (keys,
    /// `WHERE col = …`); `off`: PostgreSQL's byte-wise comparison, which every PostgreSQL
    /// feature supports (LIKE, pattern indexes). See the README.
    #[arg(long, value_name = "icu|off", default_value = "off")]
    case_insensitive: bak2pg::ddl::CaseInsensitive,
    /// geography/geometry columns: PostGIS types when the target has the extension
    /// (auto), or raw bytes in bytea (off).
    #[arg(long, value_enum, default_value_t = Postgis::Auto)]
    postgis: Postgis,
    /// Mapping file (TOML): tables included/excluded by glob, schemas, tables and columns
    /// renamed, column types overridden (see the README, "Mapping file").
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Create the tables, keys and constraints without rows (validated empty, swapped in).
    #[arg(long, conflicts_with = "data_only")]
    schema_only: bool,
    /// Load the backup's rows into the tables of the existing database (same names and
    /// types as the plan, e.g. made by --schema-only and the same --config): a copy of it
    /// is loaded, validated and swapped in; the database is never written in place.
    #[arg(long)]
    data_only: bool,
    /// Restore engine.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    engine: Engine,
    /// The backup set to read when the file holds several (`RESTORE … FILE = n`, as
    /// `bak2pg inspect` lists them); default: the last full database backup.
    #[arg(long, value_name = "N")]
    backup_set: Option<u16>,
    /// Write the JSON report to this file (also on failure).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Print the JSON report on standard output instead of the summary.
    #[arg(long)]
    json: bool,
    /// No progress bars.
    #[arg(long)]
    quiet: bool,
    /// Folder for files extracted from archives (default: a folder in $TMPDIR, removed
    /// after the run, or by the next run if this one is killed).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Largest archive member that may be extracted, in bytes.
    #[arg(long, default_value_t = Limits::default().max_member_bytes)]
    max_extract_bytes: u64,
    /// The sqlserver engine's options.
    #[command(flatten)]
    sqlserver: crate::sqlserver::SqlServerArgs,
}

/// One line for the report on what the sqlserver engine did.
pub(crate) fn restore_note(f: &RestoreFacts) -> String {
    let mut s = format!(
        "restored on SQL Server {} ({}) as [{}] from backup set {} of {}{}; ",
        f.server,
        f.server_version,
        f.restored_as,
        f.position,
        f.backup_sets,
        if f.checksum { ", backup checksums verified" } else { "" }
    );
    s.push_str(if f.kept { "kept after the run (--keep-restored)" } else { "dropped after the run" });
    for n in &f.notes {
        s.push_str("; ");
        s.push_str(n);
    }
    s
}

/// Progress bars: one line per step, one bar per table being loaded.
struct Bars {
    multi: MultiProgress,
    step: ProgressBar,
    tables: Mutex<HashMap<String, ProgressBar>>,
}

impl Bars {
    fn new() -> Self {
        let multi = MultiProgress::new();
        let step = multi.add(ProgressBar::new_spinner());
        step.enable_steady_tick(std::time::Duration::from_millis(120));
        Bars { multi, step, tables: Mutex::new(HashMap::new()) }
    }
}

impl Progress for Bars {
    fn step_started(&self, step: Step) {
        self.step.set_message(format!("{step}…"));
    }
    fn step_finished(&self, step: Step, seconds: f64) {
        self.step.println(format!("  {step} done in {seconds:.1}s"));
    }
    fn table_started(&self, table: &str, rows_hint: Option<u64>) {
        let bar = self.multi.add(ProgressBar::new(rows_hint.unwrap_or(0).max(1)));
        bar.set_style(
            ProgressStyle::with_template("  {msg:40} {bar:30} {pos:>10}/{len:10} rows {per_sec}")
                .expect("valid template"),
        );
        bar.set_message(table.to_string());
        self.tables.lock().expect("bars").insert(table.to_string(), bar);
    }
    fn table_rows(&self, table: &str, rows_done: u64) {
        if let Some(b) = self.tables.lock().expect("bars").get(table) {
            if rows_done > b.length().unwrap_or(0) {
                b.set_length(rows_done);
            }
            b.set_position(rows_done);
        }
    }
    fn table_finished(&self, table: &str, rows: u64) {
        if let Some(b) = self.tables.lock().expect("bars").remove(table) {
            b.set_length(rows.max(1));
            b.finish_and_clear();
            self.multi.remove(&b);
        }
    }
}

fn parse_schema_map(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((a, b)) if !a.is_empty() && !b.is_empty() => Ok((a.to_string(), b.to_string())),
            _ => bail!("--schema-map expects FROM=TO, got {i:?}"),
        })
        .collect()
}

/// The backup files to read, and what the input report says about them.
fn prepare(args: &Args, work: &Path) -> anyhow::Result<(Vec<PathBuf>, InputReport)> {
    let mut input =
        InputReport { files: args.input.iter().map(|p| p.display().to_string()).collect(), ..Default::default() };
    if args.input.len() > 1 {
        // Several files: the stripes of one backup, each a backup file itself.
        for p in &args.input {
            if !matches!(archive::detect(p), Ok(archive::InputKind::Backup(_))) {
                bail!(
                    "{}: several files were given, so each must be a backup stripe (.bak), not an archive",
                    p.display()
                );
            }
        }
        input.backup_bytes = args.input.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
        return Ok((args.input.clone(), input));
    }
    let limits = Limits { max_member_bytes: args.max_extract_bytes, ..Limits::default() };
    let prepared = archive::prepare_backup(&args.input[0], work, &limits)?;
    input.archive = prepared.archive.map(|a| a.to_string());
    input.member = prepared.member.clone();
    input.backup_bytes = prepared.size;
    input.notes = prepared.notes.clone();
    Ok((vec![prepared.path.clone()], input))
}

/// Runs `migrate`. Exit status 0 when the database is in place and validated; 1 on any
/// failure (the previous database untouched); 2 when the backup itself is refused
/// (incomplete, not a backup).
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    let bars = (!args.quiet && !args.json).then(Bars::new);
    let progress: &dyn Progress = match &bars {
        Some(b) => b,
        None => &bak2pg::NoProgress,
    };
    let mut pre_steps = Vec::new();
    // The mapping file is checked before anything else is done (the backup is not needed).
    let mapping = match &args.config {
        Some(path) => match bak2pg::mapping::Mapping::load(path) {
            Ok(m) => Some(m),
            Err(e) => {
                eprintln!("error: {e}");
                eprintln!("Nothing was written to PostgreSQL.");
                return Ok(ExitCode::from(2));
            }
        },
        None => None,
    };

    // Extract (work folder only: nothing is written to PostgreSQL before the backup is
    // known to be whole).
    let temp;
    let work = match &args.work_dir {
        Some(w) => w.clone(),
        None => {
            let parent = std::env::temp_dir();
            for folder in crate::scratch::sweep(&parent) {
                tracing::info!(folder = %folder.display(), "removed the work folder of a run that was killed");
            }
            temp = crate::scratch::WorkFolder::create_in(&parent)
                .with_context(|| format!("creating a work folder in {}", parent.display()))?;
            temp.path().to_path_buf()
        }
    };
    progress.step_started(Step::Extract);
    let t = Instant::now();
    let (files, mut input) = match prepare(&args, &work) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Ok(ExitCode::from(2));
        }
    };
    pre_steps.push(StepTiming { step: Step::Extract, seconds: t.elapsed().as_secs_f64() });
    progress.step_finished(Step::Extract, t.elapsed().as_secs_f64());

    // Read the backup and choose the engine.
    progress.step_started(Step::ReadBackup);
    let t = Instant::now();
    let paths: Vec<&Path> = files.iter().map(|p| p.as_path()).collect();
    let native = NativeSource::open(&paths, OpenOptions { backup_set: args.backup_set, ..OpenOptions::default() });
    // A SQL Server configuration is only read (and only its mistakes reported) when the
    // engine might use it.
    let mssql = if args.engine == Engine::Native { None } else { args.sqlserver.setup(None)? };
    let features = native.as_ref().map(|n| n.unsupported_features());
    let decision =
        select::decide(args.engine.choice(), features.as_ref().map(|f| f.as_slice()).map_err(|e| *e), mssql.is_some());
    let native_failed = native.is_err();
    let hint = match &native {
        Err(SourceError::Backup(b)) => b.kind.hint(),
        _ => None,
    };
    if let Ok(n) = &native {
        n.describe_input(&mut input);
    }
    let mut restored: Option<Arc<SqlServerSource>> = None;
    let source: Arc<dyn Source> = match (decision, native) {
        (Decision::Native(reason), Ok(n)) => Arc::new(n.with_reason(reason)),
        (Decision::SqlServer(reason), native) => {
            drop(native);
            let (config, mut opts) = mssql.context("the sqlserver engine was chosen without a SQL Server")?;
            opts.backup_set = args.backup_set;
            if let Some(b) = &bars {
                let bar = b.step.clone();
                opts.progress = Some(Arc::new(move |p| bar.set_message(format!("RESTORE on SQL Server: {p:.0}%"))));
            }
            match runtime.block_on(SqlServerSource::restore(config, &paths, opts)) {
                Ok(s) => {
                    let s = Arc::new(s.with_reason(reason));
                    input.notes.push(restore_note(s.facts()));
                    restored = Some(s.clone());
                    s
                }
                Err(e) => {
                    if let Some(b) = &bars {
                        b.step.finish_and_clear();
                    }
                    eprintln!("error: {e}");
                    eprintln!("Nothing was written to PostgreSQL.");
                    return Ok(ExitCode::from(1));
                }
            }
        }
        (Decision::Refuse(why), _) | (Decision::Native(why), Err(_)) => {
            if let Some(b) = &bars {
                b.step.finish_and_clear();
            }
            eprintln!("error: {why}");
            eprintln!("Nothing was written to PostgreSQL.");
            if let Some(hint) = hint {
                eprintln!("{hint}");
            }
            return Ok(ExitCode::from(if native_failed { 2 } else { 1 }));
        }
    };
    pre_steps.push(StepTiming { step: Step::ReadBackup, seconds: t.elapsed().as_secs_f64() });
    progress.step_finished(Step::ReadBackup, t.elapsed().as_secs_f64());

    // Migrate.
    let mut opts = MigrateOptions::new(&args.target).map_err(|e| anyhow::anyhow!("{e}"))?;
    opts.target = opts.target.with_default_password(std::env::var("PGPASSWORD").ok().as_deref());
    opts.database = args.database.clone();
    opts.keep_previous = if args.replace { 0 } else { args.keep_previous };
    opts.keep_failed = args.keep_failed;
    opts.tuning.jobs = args.jobs.max(1);
    if let Some(n) = args.decode_threads {
        opts.tuning.decode_threads = n.max(1);
    }
    opts.plan.schema_map = parse_schema_map(&args.schema_map)?;
    opts.plan.load_unknown_as_bytea = args.load_unknown_as_bytea;
    opts.plan.case_insensitive = args.case_insensitive;
    opts.plan.postgis = match args.postgis {
        Postgis::Auto => bak2pg::spatial::PostgisMode::Auto,
        Postgis::Off => bak2pg::spatial::PostgisMode::Off,
    };
    opts.plan.mapping = mapping;
    opts.schema_only = args.schema_only;
    opts.data_only = args.data_only;
    let result = runtime.block_on(bak2pg::migrate(source, &opts, progress));
    if let Some(b) = &bars {
        b.step.finish_and_clear();
    }
    let (mut report, error) = match result {
        Ok(r) => (r, None),
        Err(e) => {
            let r = e.report.clone().map(|r| *r);
            (r.unwrap_or_else(|| Report::new(bak2pg::source::SourceInfo::unknown())), Some(e))
        }
    };
    if let Some(s) = &restored
        && let Err(e) = runtime.block_on(s.close())
    {
        report.warnings.push(format!("could not drop the restored SQL Server database {}: {e}", s.facts().restored_as));
    }
    let mut steps = pre_steps;
    steps.append(&mut report.steps);
    report.steps = steps;
    report.input = input;
    if let Some(path) = &args.report {
        std::fs::write(path, report.to_json()).with_context(|| format!("writing the report to {}", path.display()))?;
    }
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.summary());
    }
    match error {
        None => Ok(ExitCode::SUCCESS),
        Some(e) => {
            eprintln!("error: {e}");
            eprintln!("The previous database, if any, is untouched.");
            Ok(ExitCode::from(1))
        }
    }
}
