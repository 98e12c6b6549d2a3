//! Command-line options of the `sqlserver` engine, shared by `migrate` and the pipeline
//! steps (`#[command(flatten)]`): which SQL Server, where the backup is copied for it,
//! where the restored files go, whether the restored database is kept.
//!
//! The password is never an option: it comes from `MSSQL_PASSWORD`, or from the caller
//! (the pipeline reads an SSM SecureString and passes it to [`SqlServerArgs::setup`]).

use std::path::PathBuf;

use anyhow::Context;
use bak2pg::source::sqlserver::place::{DEFAULT_BACKUP_DIR, DEFAULT_OWNER};
use bak2pg::source::sqlserver::{BackupDir, MssqlConfig, RestoreOptions, Secret};

/// Options of the sqlserver engine.
#[derive(Debug, Clone, clap::Args)]
pub struct SqlServerArgs {
    /// SQL Server for the sqlserver engine: `mssql://USER@HOST[:PORT][?encrypt=required|on|off|strict
    /// &trust_server_certificate=true&ca_file=PEM]`. Without it, `MSSQL_HOST`, `MSSQL_PORT`
    /// and `MSSQL_USER` are read. The password is read from `MSSQL_PASSWORD` only.
    #[arg(long, env = "BAK2PG_MSSQL", value_name = "URL")]
    pub mssql: Option<String>,
    /// Keep the database restored on SQL Server after the run (it is dropped otherwise).
    #[arg(long)]
    pub keep_restored: bool,
    /// Directory on this machine the backup is copied to for SQL Server to read.
    #[arg(long, default_value = DEFAULT_BACKUP_DIR, value_name = "DIR")]
    pub mssql_backup_dir: PathBuf,
    /// The same directory as SQL Server sees it, when it runs elsewhere (default: the same
    /// path).
    #[arg(long, value_name = "DIR")]
    pub mssql_server_backup_dir: Option<String>,
    /// Owner given to the backup copies (`none`: leave them as they are, for a directory
    /// shared with a server on another machine).
    #[arg(long, default_value = DEFAULT_OWNER, value_name = "USER")]
    pub mssql_backup_owner: String,
    /// Server directory for the restored data files (default: the server's default data
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub mssql_data_dir: Option<String>,
    /// Server directory for the restored log file (default: the server's default log
    /// directory).
    #[arg(long, value_name = "DIR")]
    pub mssql_log_dir: Option<String>,
}

impl SqlServerArgs {
    /// The connection and restore options, or `None` when no SQL Server is configured
    /// (neither `--mssql`/`BAK2PG_MSSQL` nor `MSSQL_HOST`). The password is `password`
    /// when given (e.g. from SSM), else `MSSQL_PASSWORD`.
    ///
    /// # Errors
    /// A URL or variable that does not parse (the message never holds a password).
    pub fn setup(&self, password: Option<Secret>) -> anyhow::Result<Option<(MssqlConfig, RestoreOptions)>> {
        let env = |k: &str| std::env::var(k).ok();
        let config = match &self.mssql {
            Some(url) => Some(MssqlConfig::from_url(url)?),
            None => MssqlConfig::from_env(env)?,
        };
        let Some(mut config) = config else { return Ok(None) };
        if let Some(p) = password {
            config = config.with_password(p);
        }
        config.apply_env_options(&env).context("MSSQL_* variables")?;
        let options = RestoreOptions {
            backup_dir: BackupDir {
                local: self.mssql_backup_dir.clone(),
                server: self
                    .mssql_server_backup_dir
                    .clone()
                    .unwrap_or_else(|| self.mssql_backup_dir.display().to_string()),
                owner: Some(self.mssql_backup_owner.clone()).filter(|o| !o.eq_ignore_ascii_case("none")),
            },
            data_dir: self.mssql_data_dir.clone(),
            log_dir: self.mssql_log_dir.clone(),
            keep_restored: self.keep_restored,
            ..RestoreOptions::default()
        };
        Ok(Some((config, options)))
    }
}
