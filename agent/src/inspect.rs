//! `bak2pg inspect`: what a backup holds, without PostgreSQL.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use mssql_backup::schema::Table;
use mssql_backup::{Backup, BackupDescription, Completeness, OpenOptions};
use serde::Serialize;

/// Arguments of `inspect`.
#[derive(clap::Args)]
pub struct Args {
    /// The backup file; several files for a backup striped across them (all stripes).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Describe an incomplete backup anyway, marking every table whose pages are missing
    /// (exit status stays non-zero).
    #[arg(long)]
    salvage: bool,
    /// Do not count rows (faster on large backups).
    #[arg(long)]
    no_counts: bool,
    /// The backup set to describe when the file holds several (`RESTORE … FILE = n`);
    /// default: the last full database backup.
    #[arg(long, value_name = "N")]
    backup_set: Option<u16>,
}

/// One backup set of the file, as `RESTORE HEADERONLY` lists it.
#[derive(Serialize)]
struct SetSummary {
    position: u16,
    backup_type: String,
    name: String,
    database: String,
    start: String,
    finish: Option<String>,
    /// The set described below (and the one `migrate` reads).
    selected: bool,
}

#[derive(Serialize)]
struct Report {
    files: Vec<PathBuf>,
    /// Every backup set in the (first) file.
    backup_sets: Vec<SetSummary>,
    /// What RESTORE HEADERONLY and FILELISTONLY would say of the selected set.
    backup: BackupDescription,
    database: Option<String>,
    internal_version: Option<u16>,
    sql_server: Option<&'static str>,
    create_version: Option<u16>,
    completeness: Completeness,
    tables: Vec<TableReport>,
    modules: Vec<ModuleReport>,
    error: Option<String>,
}

#[derive(Serialize)]
struct TableReport {
    schema: String,
    name: String,
    rows: Option<u64>,
    /// SQL Server's own count (`sysrowsets.rcrows`, as `sys.partitions.rows` shows it).
    catalog_rows: Option<u64>,
    complete: bool,
    error: Option<String>,
    storage: String,
    columns: Vec<ColumnReport>,
}

#[derive(Serialize)]
struct ColumnReport {
    name: String,
    #[serde(rename = "type")]
    ty: String,
    nullable: bool,
    identity: Option<String>,
    default: Option<String>,
    computed: Option<String>,
}

#[derive(Serialize)]
struct ModuleReport {
    schema: String,
    name: String,
    kind: String,
}

fn describe_table(b: &Backup, t: &Table, counts: bool, completeness: &Completeness) -> TableReport {
    let (rows, error) = if counts {
        match b.rows(t).and_then(|r| r.count()) {
            Ok(s) => (Some(s.rows), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (None, None)
    };
    let complete =
        completeness.tables.iter().find(|c| c.schema == t.schema && c.name == t.name).is_none_or(|c| c.complete());
    TableReport {
        schema: t.schema.clone(),
        name: t.name.clone(),
        rows,
        catalog_rows: t.row_count_hint,
        complete,
        error,
        storage: format!("{:?}, {:?} compression", t.storage.kind, t.storage.compression).to_lowercase(),
        columns: t
            .columns
            .iter()
            .map(|c| ColumnReport {
                name: c.name.clone(),
                ty: c.ty.sql_name(),
                nullable: c.nullable,
                identity: c.identity.map(|i| format!("IDENTITY({},{})", i.seed, i.increment)),
                default: c.default.as_ref().map(|d| d.definition.clone()),
                computed: c.computed.as_ref().map(|d| d.definition.clone()),
            })
            .collect(),
    }
}

fn set_summaries(b: &Backup) -> Vec<SetSummary> {
    b.backup_sets()
        .iter()
        .enumerate()
        .map(|(i, d)| SetSummary {
            position: d.header.position,
            backup_type: d.header.backup_type.to_string(),
            name: d.header.backup_name.clone(),
            database: d.header.database_name.clone(),
            start: d.header.start.to_string(),
            finish: d.header.finish.as_ref().map(|f| f.to_string()),
            selected: i == b.set_index(),
        })
        .collect()
}

/// Runs `inspect`; exit status 0 when the backup is complete and every table reads,
/// 2 when it is not a full backup, is incomplete or a table cannot be read.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let paths: Vec<&std::path::Path> = args.files.iter().map(|p| p.as_path()).collect();
    let backup = Backup::open_with(&paths, OpenOptions { salvage: args.salvage, backup_set: args.backup_set })
        .with_context(|| format!("cannot open {}", args.files[0].display()))?;
    // A set that is not a full database backup is described, then refused for what it is
    // (a differential lacks extents by design: "incomplete" would name the wrong cause).
    if let Err(e) = backup.description().header.ensure_restorable() {
        let report = Report {
            files: args.files.clone(),
            backup_sets: set_summaries(&backup),
            backup: backup.description().clone(),
            database: None,
            internal_version: None,
            sql_server: None,
            create_version: None,
            completeness: Completeness::default(),
            tables: Vec::new(),
            modules: Vec::new(),
            error: Some(e.message.clone()),
        };
        if args.json {
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            print_header(&report);
            eprintln!("error: {}: {}", args.files[0].display(), e.message);
        }
        return Ok(ExitCode::from(2));
    }
    let completeness = backup.completeness();
    if let Some(e) = completeness.damage.clone().filter(|_| !args.salvage) {
        // Damage, not absence: say so, never "give every stripe".
        let hint = e.kind.hint();
        eprintln!("error: {}", e.with_file(&args.files[0]));
        if let Some(hint) = hint {
            eprintln!("{hint}");
        }
        return Ok(ExitCode::from(2));
    }
    if !completeness.complete && !args.salvage {
        if args.json {
            let report = Report {
                files: args.files.clone(),
                backup_sets: set_summaries(&backup),
                backup: backup.description().clone(),
                database: backup.boot().map(|b| b.name.clone()),
                internal_version: backup.boot().map(|b| b.version),
                sql_server: backup.boot().and_then(|b| mssql_backup::release_of(b.version)),
                create_version: backup.boot().map(|b| b.create_version),
                completeness,
                tables: Vec::new(),
                modules: Vec::new(),
                error: Some("the backup is incomplete".into()),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
        } else {
            eprintln!("error: {} is incomplete; nothing read from it would be whole:", args.files[0].display());
            for p in &completeness.problems {
                eprintln!("  - {p}");
            }
            eprintln!("Give every stripe file of the backup together, or use --salvage to describe what is there.");
        }
        return Ok(ExitCode::from(2));
    }
    let (db, error) = match backup.database() {
        Ok(db) => (Some(db), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let tables: Vec<TableReport> = db
        .map(|db| db.tables.iter().map(|t| describe_table(&backup, t, !args.no_counts, &completeness)).collect())
        .unwrap_or_default();
    let modules = db
        .map(|db| {
            db.modules
                .iter()
                .map(|m| ModuleReport { schema: m.schema.clone(), name: m.name.clone(), kind: format!("{:?}", m.kind) })
                .collect()
        })
        .unwrap_or_default();
    let failed = error.is_some() || !completeness.complete || tables.iter().any(|t| t.error.is_some());
    let report = Report {
        files: args.files.clone(),
        backup_sets: set_summaries(&backup),
        backup: backup.description().clone(),
        database: backup.boot().map(|b| b.name.clone()).or(db.map(|d| d.name.clone())),
        internal_version: backup.boot().map(|b| b.version),
        sql_server: backup.boot().and_then(|b| mssql_backup::release_of(b.version)),
        create_version: backup.boot().map(|b| b.create_version),
        completeness,
        tables,
        modules,
        error,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    Ok(if failed { ExitCode::from(2) } else { ExitCode::SUCCESS })
}

fn print_header(r: &Report) {
    let h = &r.backup.header;
    println!("Backup      {}", r.files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" + "));
    if let Some(db) = &r.database {
        println!("Database    {db}");
    }
    println!("Server      {} (SQL Server {})", h.server_name, h.product_version);
    if r.backup_sets.len() > 1 {
        println!("Backup sets {} in the file (appended); set {} is described below", r.backup_sets.len(), h.position);
        for s in &r.backup_sets {
            println!(
                "  {} {:>3}  {:<30} {:<28} started {}{}",
                if s.selected { "*" } else { " " },
                s.position,
                s.backup_type,
                format!("{:?}", s.name),
                s.start,
                s.finish.as_ref().map(|f| format!(", finished {f}")).unwrap_or_default()
            );
        }
    }
    println!(
        "Backup set  {}: {:?}, {}{}{}, started {}{}",
        h.position,
        h.backup_name,
        h.backup_type,
        if h.copy_only { ", copy-only" } else { "" },
        if h.compressed { ", compressed" } else { "" },
        h.start,
        h.finish.as_ref().map(|f| format!(", finished {f}")).unwrap_or_default()
    );
    if h.media_password || h.set_password {
        println!(
            "Password    written WITH {}: SQL Server asks for it to RESTORE; it does not encrypt the pages, \
             which this reader reads directly",
            if h.media_password { "MEDIAPASSWORD" } else { "PASSWORD" }
        );
    }
    if let Some(f) = &h.media.family
        && f.family_count > 1
    {
        println!("Media set   family {} of {} (a striped backup)", f.family_sequence, f.family_count);
    }
    println!("Files");
    for f in &r.backup.files {
        println!(
            "  {:>3} {:<6} {:<28} {:>12} bytes  {}",
            f.file_id,
            format!("{:?}", f.file_type).to_lowercase(),
            f.logical_name,
            f.size_bytes,
            f.physical_name
        );
    }
}

fn print_text(r: &Report) {
    print_header(r);
    if let Some(v) = r.internal_version {
        println!(
            "Version     {} (internal database version {v}, created at {})",
            r.sql_server.unwrap_or("unknown SQL Server release"),
            r.create_version.map(|c| c.to_string()).unwrap_or_default()
        );
    }
    if r.completeness.complete {
        println!("Complete    yes: every allocated extent is in the backup");
    } else {
        println!("Complete    NO");
        for p in &r.completeness.problems {
            println!("  - {p}");
        }
    }
    if let Some(e) = &r.error {
        println!("Catalog     cannot be read: {e}");
    }
    println!();
    println!("Tables ({})", r.tables.len());
    for t in &r.tables {
        let rows = match (t.rows, &t.error) {
            (Some(n), _) if t.complete && t.catalog_rows.is_some_and(|c| c != n) => {
                format!("{n} rows (the catalog says {})", t.catalog_rows.unwrap_or_default())
            }
            (Some(n), _) if t.complete => format!("{n} rows"),
            (Some(n), _) => format!("at least {n} rows (INCOMPLETE: pages missing)"),
            (None, Some(e)) => format!("unreadable: {e}"),
            (None, None) => String::new(),
        };
        println!("  {}.{}  {}  [{}]", t.schema, t.name, rows, t.storage);
        for c in &t.columns {
            let mut extra = Vec::new();
            if !c.nullable {
                extra.push("NOT NULL".to_string());
            }
            if let Some(i) = &c.identity {
                extra.push(i.clone());
            }
            if let Some(d) = &c.default {
                extra.push(format!("DEFAULT {d}"));
            }
            if let Some(d) = &c.computed {
                extra.push(format!("AS {d}"));
            }
            println!("      {:<30} {:<20} {}", c.name, c.ty, extra.join(" "));
        }
    }
    if !r.modules.is_empty() {
        println!();
        println!(
            "Programmable objects ({}; migrate creates the views and inline functions it can translate)",
            r.modules.len()
        );
        for m in &r.modules {
            println!("  {:<20} {}.{}", m.kind, m.schema, m.name);
        }
    }
}
