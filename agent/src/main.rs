//! `bak2pg`: inspect and migrate SQL Server backups, and run the pipeline's steps.

mod corpus;
mod inspect;
mod migrate;
mod scratch;
mod sqlserver;
mod step;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Turns Microsoft SQL Server full backups into PostgreSQL databases, verifiably.
#[derive(Parser)]
#[command(name = "bak2pg", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (`info`, `debug`, `bak2pg=trace`…); also read from `RUST_LOG`.
    #[arg(long, global = true, env = "BAK2PG_LOG", default_value = "warn")]
    log: String,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a backup: header, files, completeness, tables with row counts and columns.
    Inspect(inspect::Args),
    /// Migrate a backup (or an archive holding one) into a PostgreSQL database and
    /// validate it: row counts and checksums per table, on both sides.
    Migrate(Box<migrate::Args>),
    /// Run one step of the AWS pipeline on this worker (what SSM Run Command starts):
    /// `bak2pg step <fetch|read|load|validate|swap> --job s3://…/job.json`.
    Step(step::Args),
    /// Try every backup of a folder (or the files given): one line each saying what
    /// would move (exact, refused and why, failed and where), migrating each into a
    /// throwaway database when a target is given.
    Corpus(corpus::Args),
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of our output goes away
    // (`bak2pg inspect x.bak | head`) instead of panicking on a broken pipe.
    #[cfg(unix)]
    // SAFETY: called first thing in main, before any thread exists; SIG_DFL is a valid handler.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(&cli.log).unwrap_or_default())
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Inspect(args) => inspect::run(args),
        Command::Migrate(args) => migrate::run(*args),
        Command::Step(args) => step::run(args),
        Command::Corpus(args) => corpus::run(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
