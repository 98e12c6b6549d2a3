//! The `sqlserver` engine: the backup restored on a real SQL Server, the schema read from
//! the `sys.*` catalog views and the rows over TDS (tiberius), producing the same
//! [`Database`] model and the same [`Value`](mssql_backup::Value)s as the native reader,
//! so type mapping, DDL, loading, checksums and the report are shared, and both engines'
//! checksums agree.
//!
//! # A restore, step by step ([`SqlServerSource::restore`])
//! 1. The `.bak` file(s) are copied into a directory SQL Server reads ([`place`];
//!    default `/var/opt/mssql/backup`, handed to `mssql`), under fresh names.
//! 2. `RESTORE HEADERONLY` lists the backup sets; the last full database backup is chosen
//!    ([`tsql::choose_backup_set`]); `RESTORE FILELISTONLY` lists its files.
//! 3. A database name that cannot collide is generated (`bak2pg_<16 hex>`, checked to be
//!    free with `DB_ID`), and every file gets a `MOVE` target under the server's default
//!    data and log directories (`SERVERPROPERTY('InstanceDefaultDataPath')`/`…LogPath`,
//!    or the ones given) built from sanitised logical names ([`tsql::move_targets`]).
//! 4. `RESTORE DATABASE … WITH MOVE …, REPLACE, RECOVERY[, CHECKSUM], STATS = 10`
//!    ([`tsql::restore_database`]); `CHECKSUM` when `HasBackupChecksums`. `STATS`
//!    messages arrive as TDS info tokens, which tiberius only logs, so progress is polled
//!    from `sys.dm_exec_requests.percent_complete` of the restoring session on a second
//!    connection (needs `VIEW SERVER STATE`; without it there is simply no progress).
//! 5. The copies are removed; the schema is read ([`catalog`]); the engine is ready.
//!
//! Rows are read by one connection per table reader, each on a tokio task that hands
//! batches of rows to the (blocking) [`RowReader`], which decodes them ([`read`]).
//!
//! The restored database is dropped by [`SqlServerSource::close`], or, if that was not
//! called, when the source is dropped (also after a failed restore); `keep_restored`
//! keeps it.
//!
//! Requirements: SQL Server 2016 or later (the catalog queries use columns added up to
//! 2014, and `RESTORE` on 2016+ accepts backups of SQL Server 2008 and later, not 2005),
//! a login allowed to restore (`sysadmin`, or `dbcreator`), and a server at least as new
//! as the one that took the backup.
//!
//! Files, by concern: `client` (connections, queries, typed result rows), `error` (SQL
//! Server's errors with hints), `restore` (the steps above), `restored_db` (the restored
//! database's lifetime), [`catalog`] (each catalog view's query, row struct and mapping,
//! and the model built from them), `stream` (rows over TDS to the [`RowReader`]),
//! [`read`] (row decoding), [`tsql`] (T-SQL text), [`place`] and [`config`].

pub mod catalog;
mod client;
pub mod config;
mod error;
pub mod place;
pub mod read;
mod restore;
mod restored_db;
mod stream;
pub mod tsql;

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use tokio::runtime::Handle;

pub use catalog::read_catalog;
pub use client::{Client, connect};
pub use config::{CertTrust, ConfigError, Encrypt, MssqlConfig, Secret};
pub use place::BackupDir;
pub use restore::{RestoreFacts, RestoreOptions, RestoreProgress};
pub use restored_db::{drop_restored, restored_exists};

use self::read::TableRead;
use self::restored_db::RestoredDb;
use super::{RowReader, Source, SourceError, SourceInfo};
use crate::schema::{Database, Table};

/// A backup restored on SQL Server, its catalog read: a [`Source`].
pub struct SqlServerSource {
    config: Arc<MssqlConfig>,
    handle: Handle,
    database: Database,
    reads: HashMap<i32, TableRead>,
    info: SourceInfo,
    facts: RestoreFacts,
    restored: Arc<RestoredDb>,
}

impl fmt::Debug for SqlServerSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlServerSource").field("facts", &self.facts).field("info", &self.info).finish()
    }
}

impl SqlServerSource {
    /// Records why this engine was chosen (for `--engine auto`).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.info.engine_reason = reason.into();
        self
    }

    /// What the restore did.
    pub fn facts(&self) -> &RestoreFacts {
        &self.facts
    }

    /// Drops the restored database now (nothing when kept or already dropped). Call it
    /// when the migration is over, after the last row reader is gone.
    ///
    /// # Errors
    /// Connection or `DROP DATABASE` failure; the source then tries again when dropped.
    pub async fn close(&self) -> Result<(), SourceError> {
        self.restored.drop_now().await
    }
}

impl Source for SqlServerSource {
    fn info(&self) -> SourceInfo {
        self.info.clone()
    }

    fn database(&self) -> &Database {
        &self.database
    }

    fn rows<'a>(&'a self, table: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError> {
        stream::open(self, table)
    }
}
