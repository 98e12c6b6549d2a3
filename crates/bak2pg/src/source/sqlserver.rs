//! The `sqlserver` engine: the backup restored on a real SQL Server, the schema read from
//! the `sys.*` catalog views and the rows over TDS (tiberius), producing the same
//! [`Database`] model and the same [`Value`]s as the native reader, so type mapping, DDL,
//! loading, checksums and the report are shared, and both engines' checksums agree.
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

pub mod catalog;
pub mod config;
pub mod place;
pub mod read;
pub mod tsql;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::TryStreamExt;
use mssql_backup::Value;
use mssql_backup::value::DecodeStats;
use serde::{Deserialize, Serialize};
use tiberius::{ColumnData, Row};
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio_util::compat::{Compat, TokioAsyncWriteCompatExt};

pub use config::{CertTrust, ConfigError, Encrypt, MssqlConfig, Secret};
pub use place::BackupDir;

use self::catalog::{
    CatalogRows, CheckRow, ColumnRow, ForeignKeyColumnRow, ForeignKeyRow, IndexColumnRow, IndexRow, ObjectRow,
    PartitionRow, TableRow, TypeRow, queries,
};
use self::read::TableRead;
use self::tsql::{FileKind, FileRow, HeaderRow};
use super::{EngineKind, RowReader, Source, SourceError, SourceInfo};
use crate::schema::{Database, Table};

/// A tiberius client over a tokio TCP stream.
pub type Client = tiberius::Client<Compat<TcpStream>>;

/// Progress callback: the restore's percentage done (0 to 100).
pub type RestoreProgress = Arc<dyn Fn(f64) + Send + Sync>;

/// How to restore.
#[derive(Clone)]
pub struct RestoreOptions {
    /// Where the backup files are copied for SQL Server to read.
    pub backup_dir: BackupDir,
    /// Directory (as the server sees it) for the data files; the server's default data
    /// directory when `None`.
    pub data_dir: Option<String>,
    /// Directory (as the server sees it) for the log file; the server's default log
    /// directory when `None`.
    pub log_dir: Option<String>,
    /// Keep the restored database after the run (it is dropped otherwise).
    pub keep_restored: bool,
    /// `STATS = n`: progress every `n` percent (10).
    pub stats_percent: u8,
    /// Called with the percentage done while the RESTORE runs.
    pub progress: Option<RestoreProgress>,
    /// The backup set to restore (`FILE = n`); the last full one when `None`.
    pub backup_set: Option<u16>,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            backup_dir: BackupDir::default(),
            data_dir: None,
            log_dir: None,
            keep_restored: false,
            stats_percent: 10,
            progress: None,
            backup_set: None,
        }
    }
}

impl fmt::Debug for RestoreOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RestoreOptions")
            .field("backup_dir", &self.backup_dir)
            .field("data_dir", &self.data_dir)
            .field("log_dir", &self.log_dir)
            .field("keep_restored", &self.keep_restored)
            .field("stats_percent", &self.stats_percent)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// What the restore did, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreFacts {
    /// The SQL Server, `host:port`.
    pub server: String,
    /// Its version (`SERVERPROPERTY('ProductVersion')`).
    pub server_version: String,
    /// The name the database was restored under.
    pub restored_as: String,
    /// The backup set restored (`WITH FILE =`).
    pub position: i32,
    /// Backup sets in the media.
    pub backup_sets: usize,
    /// Restored `WITH CHECKSUM` (the backup has checksums and they were verified).
    pub checksum: bool,
    /// `(logical name, target path)` of every file.
    pub moves: Vec<(String, String)>,
    /// Notes (choice of backup set…).
    pub notes: Vec<String>,
    /// The database is kept after the run.
    pub kept: bool,
}

fn other(msg: impl Into<String>) -> SourceError {
    SourceError::Other(msg.into())
}

/// A short hint for SQL Server errors whose remedy is known.
fn hint(code: u32) -> &'static str {
    match code {
        // Operating system error on the backup device.
        3201 => {
            " (SQL Server cannot open the backup copy: check that it reads the backup directory, \
                 and that the local and server paths of that directory are the same place)"
        }
        // Backup from a version this server cannot restore.
        3169 => {
            " (this SQL Server cannot restore a backup of that version: SQL Server 2016 and later \
                 restore backups of 2008 and later; use an intermediate server, or --engine native)"
        }
        5133 | 5120 | 3156 => " (check the data and log directories given for the restored files)",
        3241 | 3242 | 3203 | 3183 | 3189 => " (the backup file is damaged or incomplete)",
        262 | 229 | 3110 => " (the login may not restore databases: it needs sysadmin or dbcreator)",
        18456 => " (login failed: check MSSQL_USER and MSSQL_PASSWORD)",
        _ => "",
    }
}

fn sql_error(server: &str, what: &str, e: tiberius::error::Error) -> SourceError {
    let message = match &e {
        tiberius::error::Error::Server(t) => format!(
            "SQL Server {server}: {what}: error {} (severity {}): {}{}",
            t.code(),
            t.class(),
            t.message(),
            hint(t.code())
        ),
        tiberius::error::Error::Tls(m) => format!(
            "SQL Server {server}: {what}: TLS: {m} (trust the server's certificate with ca_file=PEM, or, for a \
             server on this machine only, trust_server_certificate=true)"
        ),
        _ => format!("SQL Server {server}: {what}: {e}"),
    };
    SourceError::SqlServer { message, source: Box::new(e) }
}

/// Opens a connection (TCP, TLS as configured, SQL login) to `database` (`None`: the
/// login's default database).
///
/// # Errors
/// No password, connection refused or timed out, TLS or login failure: the message names
/// the server and, for known cases, the remedy; never the password.
pub async fn connect(config: &MssqlConfig, database: Option<&str>) -> Result<Client, SourceError> {
    let server = config.server();
    let tc = config.tiberius(database).map_err(|e| other(e.to_string()))?;
    let tcp = tokio::time::timeout(config.connect_timeout, TcpStream::connect(tc.get_addr()))
        .await
        .map_err(|_| other(format!("SQL Server {server}: no connection within {:?}", config.connect_timeout)))?
        .map_err(|e| other(format!("SQL Server {server}: {e}")))?;
    let _ = tcp.set_nodelay(true);
    tokio::time::timeout(config.connect_timeout, tiberius::Client::connect(tc, tcp.compat_write()))
        .await
        .map_err(|_| other(format!("SQL Server {server}: no login within {:?}", config.connect_timeout)))?
        .map_err(|e| sql_error(&server, &format!("login as {:?}", config.user), e))
}

/// Runs `sql` (one batch) and returns the rows of its first result set.
async fn query(client: &mut Client, server: &str, what: &str, sql: &str) -> Result<Vec<Row>, SourceError> {
    let stream = client.simple_query(sql).await.map_err(|e| sql_error(server, what, e))?;
    stream.into_first_result().await.map_err(|e| sql_error(server, what, e))
}

/// Runs `sql` (one batch), discarding any rows.
async fn execute(client: &mut Client, server: &str, what: &str, sql: &str) -> Result<(), SourceError> {
    let stream = client.simple_query(sql).await.map_err(|e| sql_error(server, what, e))?;
    stream.into_results().await.map_err(|e| sql_error(server, what, e))?;
    Ok(())
}

/// Typed access to a result row by column name (case-insensitive, as T-SQL names are).
struct Cells<'a> {
    row: &'a Row,
    what: &'a str,
}

impl<'a> Cells<'a> {
    fn get(&self, name: &str) -> Result<&'a ColumnData<'static>, String> {
        let idx = self
            .row
            .columns()
            .iter()
            .position(|c| c.name().eq_ignore_ascii_case(name))
            .ok_or_else(|| format!("{}: no column {name}", self.what))?;
        self.row.get_column_data(idx).map_err(|e| format!("{}: column {name}: {e}", self.what))
    }
    fn int(&self, name: &str) -> Result<Option<i64>, String> {
        Ok(match self.get(name)? {
            ColumnData::U8(v) => v.map(i64::from),
            ColumnData::I16(v) => v.map(i64::from),
            ColumnData::I32(v) => v.map(i64::from),
            ColumnData::I64(v) => *v,
            ColumnData::Bit(v) => v.map(|b| i64::from(u8::from(b))),
            ColumnData::Numeric(v) => v.and_then(|n| i64::try_from(n.value()).ok().filter(|_| n.scale() == 0)),
            other => return Err(format!("{}: column {name} is {other:?}, not an integer", self.what)),
        })
    }
    fn req_int(&self, name: &str) -> Result<i64, String> {
        self.int(name)?.ok_or_else(|| format!("{}: column {name} is NULL", self.what))
    }
    fn i32(&self, name: &str) -> Result<i32, String> {
        i32::try_from(self.req_int(name)?).map_err(|_| format!("{}: column {name} out of range", self.what))
    }
    fn u8(&self, name: &str) -> Result<u8, String> {
        u8::try_from(self.req_int(name)?).map_err(|_| format!("{}: column {name} out of range", self.what))
    }
    fn flag(&self, name: &str) -> Result<bool, String> {
        Ok(self.int(name)?.unwrap_or(0) != 0)
    }
    fn text(&self, name: &str) -> Result<Option<String>, String> {
        Ok(match self.get(name)? {
            ColumnData::String(v) => v.as_ref().map(|s| s.to_string()),
            ColumnData::Guid(v) => v.map(|u| u.to_string()),
            other if read::is_null(other) => None,
            other => return Err(format!("{}: column {name} is {other:?}, not text", self.what)),
        })
    }
    fn req_text(&self, name: &str) -> Result<String, String> {
        self.text(name)?.ok_or_else(|| format!("{}: column {name} is NULL", self.what))
    }
    fn decimal(&self, name: &str) -> Result<Option<i128>, String> {
        Ok(match self.get(name)? {
            ColumnData::Numeric(v) => v.map(|n| n.value()),
            other if read::is_null(other) => None,
            other => return Err(format!("{}: column {name} is {other:?}, not a decimal", self.what)),
        })
    }
}

fn map_rows<T>(rows: &[Row], what: &str, f: impl Fn(&Cells<'_>) -> Result<T, String>) -> Result<Vec<T>, SourceError> {
    rows.iter().map(|row| f(&Cells { row, what })).collect::<Result<Vec<T>, String>>().map_err(other)
}

fn header_row(c: &Cells<'_>) -> Result<HeaderRow, String> {
    Ok(HeaderRow {
        position: c.i32("Position")?,
        backup_type: c.i32("BackupType")?,
        backup_name: c.text("BackupName")?,
        database_name: c.req_text("DatabaseName")?,
        server_name: c.text("ServerName")?.unwrap_or_default(),
        software_version: (
            c.i32("SoftwareVersionMajor")?,
            c.i32("SoftwareVersionMinor")?,
            c.i32("SoftwareVersionBuild")?,
        ),
        database_version: c.i32("DatabaseVersion")?,
        has_checksums: c.flag("HasBackupChecksums")?,
        is_damaged: c.flag("IsDamaged")?,
        is_copy_only: c.flag("IsCopyOnly")?,
        backup_set_guid: c.text("BackupSetGUID").ok().flatten(),
    })
}

fn file_row(c: &Cells<'_>) -> Result<FileRow, String> {
    Ok(FileRow {
        logical_name: c.req_text("LogicalName")?,
        physical_name: c.text("PhysicalName")?.unwrap_or_default(),
        kind: FileKind::from_code(&c.req_text("Type")?).map_err(|e| e.to_string())?,
        file_id: c.req_int("FileID")?,
    })
}

/// Reads every catalog row the model needs, in the current database of `client`.
///
/// # Errors
/// A query SQL Server refuses, or a column of an unexpected type.
pub async fn read_catalog(client: &mut Client, server: &str) -> Result<(CatalogRows, Option<i32>), SourceError> {
    let db = query(client, server, "reading the database collation", queries::DATABASE).await?;
    let collation_id = db
        .first()
        .map(|row| Cells { row, what: "collation" }.int("collation_id"))
        .transpose()
        .map_err(other)?
        .flatten()
        .map(|v| v as i32);
    let what = "reading sys.tables";
    let rows = query(client, server, what, queries::TABLES).await?;
    let tables = map_rows(&rows, what, |c| {
        Ok(TableRow {
            object_id: c.i32("object_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
            is_memory_optimized: c.flag("is_memory_optimized")?,
        })
    })?;
    let what = "reading sys.columns";
    let rows = query(client, server, what, queries::COLUMNS).await?;
    let columns = map_rows(&rows, what, |c| {
        let identity = match (c.decimal("identity_seed")?, c.decimal("identity_increment")?) {
            (Some(s), Some(i)) => Some((s, i, c.decimal("identity_last")?)),
            _ => None,
        };
        Ok(ColumnRow {
            object_id: c.i32("object_id")?,
            column_id: c.i32("column_id")?,
            name: c.req_text("name")?,
            system_type_id: c.u8("system_type_id")?,
            user_type_id: c.i32("user_type_id")?,
            max_length: i16::try_from(c.req_int("max_length")?).map_err(|_| "max_length out of range".to_string())?,
            precision: c.u8("precision")?,
            scale: c.u8("scale")?,
            collation_id: c.int("collation_id")?.map(|v| v as i32),
            is_nullable: c.flag("is_nullable")?,
            is_identity: c.flag("is_identity")?,
            is_rowguidcol: c.flag("is_rowguidcol")?,
            is_computed: c.flag("is_computed")?,
            is_sparse: c.flag("is_sparse")?,
            is_column_set: c.flag("is_column_set")?,
            default_object_id: c.i32("default_object_id")?,
            default_name: c.text("default_name")?,
            default_definition: c.text("default_definition")?,
            computed_definition: c.text("computed_definition")?,
            is_persisted: c.flag("is_persisted")?,
            identity,
        })
    })?;
    let what = "reading sys.partitions";
    let rows = query(client, server, what, queries::PARTITIONS).await?;
    let partitions = map_rows(&rows, what, |c| {
        Ok(PartitionRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            partition_number: c.i32("partition_number")?,
            data_compression: c.u8("data_compression")?,
            rows: c.int("rows")?.unwrap_or(0),
            index_type: c.u8("index_type")?,
        })
    })?;
    let what = "reading sys.indexes";
    let rows = query(client, server, what, queries::INDEXES).await?;
    let indexes = map_rows(&rows, what, |c| {
        Ok(IndexRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            name: c.text("name")?.unwrap_or_default(),
            index_type: c.u8("index_type")?,
            is_unique: c.flag("is_unique")?,
            is_primary_key: c.flag("is_primary_key")?,
            is_unique_constraint: c.flag("is_unique_constraint")?,
            is_disabled: c.flag("is_disabled")?,
            filter_definition: c.text("filter_definition")?,
        })
    })?;
    let what = "reading sys.index_columns";
    let rows = query(client, server, what, queries::INDEX_COLUMNS).await?;
    let index_columns = map_rows(&rows, what, |c| {
        Ok(IndexColumnRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            index_column_id: c.i32("index_column_id")?,
            column_id: c.i32("column_id")?,
            key_ordinal: c.u8("key_ordinal")?,
            is_descending_key: c.flag("is_descending_key")?,
            is_included_column: c.flag("is_included_column")?,
        })
    })?;
    let what = "reading sys.foreign_keys";
    let rows = query(client, server, what, queries::FOREIGN_KEYS).await?;
    let foreign_keys = map_rows(&rows, what, |c| {
        Ok(ForeignKeyRow {
            object_id: c.i32("object_id")?,
            parent_object_id: c.i32("parent_object_id")?,
            name: c.req_text("name")?,
            referenced_schema: c.req_text("referenced_schema")?,
            referenced_table: c.req_text("referenced_table")?,
            delete_action: c.u8("delete_referential_action")?,
            update_action: c.u8("update_referential_action")?,
            is_disabled: c.flag("is_disabled")?,
            is_not_trusted: c.flag("is_not_trusted")?,
        })
    })?;
    let what = "reading sys.foreign_key_columns";
    let rows = query(client, server, what, queries::FOREIGN_KEY_COLUMNS).await?;
    let foreign_key_columns = map_rows(&rows, what, |c| {
        Ok(ForeignKeyColumnRow {
            constraint_object_id: c.i32("constraint_object_id")?,
            constraint_column_id: c.i32("constraint_column_id")?,
            parent_column: c.text("parent_column")?,
            referenced_column: c.text("referenced_column")?,
        })
    })?;
    let what = "reading sys.check_constraints";
    let rows = query(client, server, what, queries::CHECKS).await?;
    let checks = map_rows(&rows, what, |c| {
        Ok(CheckRow {
            parent_object_id: c.i32("parent_object_id")?,
            name: c.req_text("name")?,
            definition: c.text("definition")?,
            column: c.text("column_name")?,
            is_disabled: c.flag("is_disabled")?,
            is_not_trusted: c.flag("is_not_trusted")?,
        })
    })?;
    let what = "reading sys.objects";
    let rows = query(client, server, what, queries::OBJECTS).await?;
    let objects = map_rows(&rows, what, |c| {
        Ok(ObjectRow {
            object_id: c.i32("object_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
            kind: c.req_text("kind")?,
            definition: c.text("definition")?,
            parent: c.text("parent")?,
        })
    })?;
    let what = "reading sys.types";
    let rows = query(client, server, what, queries::TYPES).await?;
    let types = map_rows(&rows, what, |c| {
        Ok(TypeRow {
            user_type_id: c.i32("user_type_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
        })
    })?;
    let rows = CatalogRows {
        tables,
        columns,
        partitions,
        indexes,
        index_columns,
        foreign_keys,
        foreign_key_columns,
        checks,
        objects,
        types,
    };
    Ok((rows, collation_id))
}

/// The restored database: dropped when [`RestoredDb::drop_now`] runs, or on drop, unless
/// kept.
struct RestoredDb {
    config: Arc<MssqlConfig>,
    name: String,
    keep: bool,
    done: AtomicBool,
}

async fn drop_database(config: &MssqlConfig, name: &str) -> Result<(), SourceError> {
    let server = config.server();
    let sql = tsql::drop_database(name).map_err(|e| other(e.to_string()))?;
    let mut c = connect(config, None).await?;
    execute(&mut c, &server, &format!("dropping the restored database [{name}]"), &sql).await
}

impl RestoredDb {
    async fn drop_now(&self) -> Result<(), SourceError> {
        if self.keep || self.done.load(Ordering::SeqCst) {
            return Ok(());
        }
        drop_database(&self.config, &self.name).await?;
        self.done.store(true, Ordering::SeqCst);
        tracing::info!(database = %self.name, "restored database dropped");
        Ok(())
    }
}

impl Drop for RestoredDb {
    fn drop(&mut self) {
        if self.keep || self.done.load(Ordering::SeqCst) {
            return;
        }
        // No async context can be assumed here: a thread of its own with its own runtime.
        let config = self.config.clone();
        let name = self.name.clone();
        let r = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| other(format!("starting a runtime to drop [{name}]: {e}")))?;
            rt.block_on(drop_database(&config, &name))
        })
        .join();
        match r {
            Ok(Ok(())) => tracing::info!(database = %self.name, "restored database dropped"),
            Ok(Err(e)) => tracing::warn!(database = %self.name, error = %e, "could not drop the restored database"),
            Err(_) => tracing::warn!(database = %self.name, "could not drop the restored database (panic)"),
        }
    }
}

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

/// Polls the restoring session's `percent_complete` every 2 s until `stop` fires.
async fn poll_progress(
    config: Arc<MssqlConfig>,
    spid: i16,
    progress: Option<RestoreProgress>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(mut c) = connect(&config, None).await else { return };
    let mut last = -1.0f64;
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
        let Ok(stream) = c
            .query(
                "SELECT CAST(percent_complete AS float) AS p FROM sys.dm_exec_requests WHERE session_id = @P1",
                &[&spid],
            )
            .await
        else {
            return;
        };
        let Ok(Some(row)) = stream.into_row().await else { continue };
        if let Some(p) = row.get::<f64, _>(0)
            && p != last
        {
            last = p;
            tracing::info!(percent = p, "restore progress");
            if let Some(cb) = &progress {
                cb(p);
            }
        }
    }
}

/// Reads the catalog of the restored database `name` into the schema model (named
/// `original`, the database's name in the backup) and plans every table's SELECT.
async fn open_catalog(
    config: &MssqlConfig,
    name: &str,
    original: &str,
) -> Result<(Database, HashMap<i32, TableRead>), SourceError> {
    let server = config.server();
    let mut c = connect(config, Some(name)).await?;
    let (rows, collation_id) = read_catalog(&mut c, &server).await?;
    let (database, column_sets) = catalog::build_database(original, collation_id, &rows).map_err(other)?;
    let mut reads = HashMap::new();
    for t in &database.tables {
        let stored = |c: &mssql_backup::schema::Column| {
            c.computed.as_ref().is_none_or(|k| k.persisted) && !column_sets.contains(&(t.object_id, c.column_id))
        };
        let r = read::plan_table(t, stored).map_err(|e| other(format!("table {}.{}: {e}", t.schema, t.name)))?;
        reads.insert(t.object_id, r);
    }
    Ok((database, reads))
}

/// Whether database `name` exists on the server of `config`.
///
/// # Errors
/// Connection or query failure.
pub async fn restored_exists(config: &MssqlConfig, name: &str) -> Result<bool, SourceError> {
    let mut c = connect(config, None).await?;
    db_exists(&mut c, &config.server(), name).await
}

/// Whether database `name` exists, on an open connection.
async fn db_exists(client: &mut Client, server: &str, name: &str) -> Result<bool, SourceError> {
    let sql = tsql::database_exists(name).map_err(|e| other(e.to_string()))?;
    let r = query(client, server, "checking for a database", &sql).await?;
    let present = r.first().map(|row| Cells { row, what: "DB_ID" }.flag("present")).transpose().map_err(other)?;
    Ok(present == Some(true))
}

/// Drops database `name` (a restore of ours) when it exists: the pipeline's clean restart
/// of a step that restored before.
///
/// # Errors
/// Connection or `DROP DATABASE` failure.
pub async fn drop_restored(config: &MssqlConfig, name: &str) -> Result<(), SourceError> {
    if restored_exists(config, name).await? {
        drop_database(config, name).await?;
        tracing::info!(database = %name, "leftover restored database dropped");
    }
    Ok(())
}

impl SqlServerSource {
    /// Restores the backup in `files` (one file, or every stripe) on the server of
    /// `config` and reads its catalog (see the module docs for the steps).
    ///
    /// Must be called within a tokio runtime, whose handle the row readers use later.
    ///
    /// # Errors
    /// Copying the files, connecting, no full backup in the media, RESTORE failures (the
    /// server's message with a hint), catalog reading. A database created before the
    /// failure is dropped (unless `keep_restored`).
    pub async fn restore(
        config: MssqlConfig,
        files: &[&Path],
        opts: RestoreOptions,
    ) -> Result<SqlServerSource, SourceError> {
        let handle = Handle::current();
        // A missing password is known before anything is copied.
        config.tiberius(None).map_err(|e| other(e.to_string()))?;
        let config = Arc::new(config);
        let server = config.server();
        // Connected before anything is copied: an unreachable server costs no disk.
        let mut master = connect(&config, None).await?;
        let owned: Vec<std::path::PathBuf> = files.iter().map(|p| p.to_path_buf()).collect();
        let dir = opts.backup_dir.clone();
        let placed = tokio::task::spawn_blocking(move || {
            let refs: Vec<&Path> = owned.iter().map(|p| p.as_path()).collect();
            place::place(&refs, &dir)
        })
        .await
        .map_err(|e| other(format!("copying the backup: {e}")))?
        .map_err(other)?;

        let facts = query(
            &mut master,
            &server,
            "reading the server's properties",
            "SELECT CAST(SERVERPROPERTY('ProductVersion') AS nvarchar(128)) AS version, \
             CAST(SERVERPROPERTY('InstanceDefaultDataPath') AS nvarchar(4000)) AS data_path, \
             CAST(SERVERPROPERTY('InstanceDefaultLogPath') AS nvarchar(4000)) AS log_path, \
             CAST(@@SPID AS smallint) AS spid",
        )
        .await?;
        let first = facts.first().ok_or_else(|| other("SERVERPROPERTY returned no row"))?;
        let c = Cells { row: first, what: "server properties" };
        let server_version = c.text("version").map_err(other)?.unwrap_or_default();
        let data_dir = opts.data_dir.clone().or(c.text("data_path").map_err(other)?);
        let log_dir = opts.log_dir.clone().or(c.text("log_path").map_err(other)?);
        let spid = c.req_int("spid").map_err(other)? as i16;

        let sql = tsql::restore_headeronly(&placed.server).map_err(|e| other(e.to_string()))?;
        let rows = query(&mut master, &server, "RESTORE HEADERONLY", &sql).await?;
        let headers = map_rows(&rows, "RESTORE HEADERONLY", header_row)?;
        let chosen =
            tsql::choose_backup_set(&headers, opts.backup_set.map(i32::from)).map_err(|e| other(e.to_string()))?;
        let header = headers[chosen.index].clone();
        let sql = tsql::restore_filelistonly(&placed.server, chosen.position).map_err(|e| other(e.to_string()))?;
        let rows = query(&mut master, &server, "RESTORE FILELISTONLY", &sql).await?;
        let files = map_rows(&rows, "RESTORE FILELISTONLY", file_row)?;
        let (Some(data_dir), Some(log_dir)) = (data_dir, log_dir) else {
            return Err(other(
                "the server reports no default data or log directory: give them (--mssql-data-dir, --mssql-log-dir)",
            ));
        };

        // A fresh name nobody uses; the RESTORE below creates it.
        let mut name = None;
        for _ in 0..5 {
            let candidate = format!("bak2pg_{}", place::fresh_hex());
            if !db_exists(&mut master, &server, &candidate).await? {
                name = Some(candidate);
                break;
            }
        }
        let name = name.ok_or_else(|| other("no free database name for the restore"))?;
        let moves = tsql::move_targets(&name, &files, &data_dir, &log_dir).map_err(|e| other(e.to_string()))?;
        let sql = tsql::restore_database(
            &name,
            &placed.server,
            chosen.position,
            &moves,
            header.has_checksums,
            opts.stats_percent,
        )
        .map_err(|e| other(e.to_string()))?;

        // From here on the database may exist: the guard drops it on any failure.
        let restored = Arc::new(RestoredDb {
            config: config.clone(),
            name: name.clone(),
            keep: opts.keep_restored,
            done: AtomicBool::new(false),
        });
        tracing::info!(database = %name, server = %server, position = chosen.position, "RESTORE DATABASE started");
        let result = async {
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
            let poller = tokio::spawn(poll_progress(config.clone(), spid, opts.progress.clone(), stop_rx));
            let r = execute(&mut master, &server, "RESTORE DATABASE", &sql).await;
            let _ = stop_tx.send(());
            let _ = poller.await;
            r?;
            drop(placed);
            if let Some(cb) = &opts.progress {
                cb(100.0);
            }
            tracing::info!(database = %name, "RESTORE DATABASE finished");
            open_catalog(&config, &name, &header.database_name).await
        }
        .await;
        let (database, reads) = match result {
            Ok(x) => x,
            Err(e) => {
                if let Err(de) = restored.drop_now().await {
                    tracing::warn!(database = %name, error = %de, "could not drop the restored database after the failure");
                }
                return Err(e);
            }
        };

        let mut notes = Vec::new();
        notes.extend(chosen.note.clone());
        if header.is_copy_only {
            notes.push("the backup is COPY_ONLY".into());
        }
        let info = SourceInfo {
            engine: EngineKind::SqlServer,
            engine_reason: "requested".into(),
            database: header.database_name.clone(),
            server: Some(header.server_name.clone()).filter(|s| !s.is_empty()),
            sql_version: Some(header.product_version()),
            db_version: u16::try_from(header.database_version).ok(),
        };
        let facts = RestoreFacts {
            server,
            server_version,
            restored_as: name,
            position: chosen.position,
            backup_sets: headers.len(),
            checksum: header.has_checksums,
            moves: moves.into_iter().map(|m| (m.logical_name, m.target)).collect(),
            notes,
            kept: opts.keep_restored,
        };
        Ok(SqlServerSource { config, handle, database, reads, info, facts, restored })
    }

    /// Opens a database an earlier [`SqlServerSource::restore`] left on the server (with
    /// `keep_restored`): the pipeline restores in its `read` step and reads rows in `load`.
    /// `info` is what the restore reported; the database is dropped by [`close`](Self::close)
    /// unless `keep_restored`. `None` when the database no longer exists.
    ///
    /// Must be called within a tokio runtime, whose handle the row readers use later.
    ///
    /// # Errors
    /// Connection failure, catalog reading.
    pub async fn attach(
        config: MssqlConfig,
        restored_as: &str,
        info: SourceInfo,
        keep_restored: bool,
    ) -> Result<Option<SqlServerSource>, SourceError> {
        let handle = Handle::current();
        config.tiberius(None).map_err(|e| other(e.to_string()))?;
        if !restored_exists(&config, restored_as).await? {
            return Ok(None);
        }
        let config = Arc::new(config);
        let (database, reads) = open_catalog(&config, restored_as, &info.database).await?;
        let restored = Arc::new(RestoredDb {
            config: config.clone(),
            name: restored_as.to_string(),
            keep: keep_restored,
            done: AtomicBool::new(false),
        });
        let facts = RestoreFacts {
            server: config.server(),
            server_version: String::new(),
            restored_as: restored_as.to_string(),
            position: 0,
            backup_sets: 0,
            checksum: false,
            moves: Vec::new(),
            notes: vec!["attached to the database restored by an earlier step".into()],
            kept: keep_restored,
        };
        Ok(Some(SqlServerSource { config, handle, database, reads, info, facts, restored }))
    }

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

/// Rows per message from the reading task to the row reader.
const BATCH_ROWS: usize = 512;

enum Batch {
    Rows(Vec<Row>),
    End,
    Failed(String),
}

async fn stream_rows(config: Arc<MssqlConfig>, database: String, sql: String, tx: mpsc::Sender<Batch>) {
    let server = config.server();
    let r = async {
        let mut client = connect(&config, Some(&database)).await?;
        let mut stream = client.simple_query(sql).await.map_err(|e| sql_error(&server, "SELECT", e))?.into_row_stream();
        let mut batch = Vec::with_capacity(BATCH_ROWS);
        while let Some(row) = stream.try_next().await.map_err(|e| sql_error(&server, "reading rows", e))? {
            batch.push(row);
            if batch.len() == BATCH_ROWS && tx.send(Batch::Rows(std::mem::take(&mut batch))).await.is_err() {
                return Ok(()); // the reader is gone
            }
        }
        if !batch.is_empty() && tx.send(Batch::Rows(batch)).await.is_err() {
            return Ok(());
        }
        let _ = tx.send(Batch::End).await;
        Ok::<(), SourceError>(())
    }
    .await;
    if let Err(e) = r {
        let _ = tx.send(Batch::Failed(e.to_string())).await;
    }
}

struct SqlServerRows<'a> {
    table: &'a Table,
    read: &'a TableRead,
    rx: mpsc::Receiver<Batch>,
    batch: std::vec::IntoIter<Row>,
    cells: Vec<ColumnData<'static>>,
    values: Vec<Value>,
    stats: Vec<DecodeStats>,
    scratch: Vec<u8>,
    done: bool,
}

impl RowReader for SqlServerRows<'_> {
    /// Blocks until a row arrives: call it from a blocking thread, as the loader does.
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError> {
        loop {
            if let Some(row) = self.batch.next() {
                self.cells.clear();
                self.cells.extend(row);
                read::decode_row(
                    self.table,
                    self.read,
                    &self.cells,
                    &mut self.values,
                    &mut self.stats,
                    &mut self.scratch,
                )
                .map_err(|e| other(format!("table {}.{}: {e}", self.table.schema, self.table.name)))?;
                return Ok(Some(&self.values));
            }
            if self.done {
                return Ok(None);
            }
            match self.rx.blocking_recv() {
                Some(Batch::Rows(rows)) => self.batch = rows.into_iter(),
                Some(Batch::End) => self.done = true,
                Some(Batch::Failed(e)) => return Err(other(e)),
                None => return Err(other("the SQL Server reading task stopped before the end of the rows")),
            }
        }
    }

    fn decode_stats(&self) -> Vec<DecodeStats> {
        self.stats.clone()
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
        let read = self
            .reads
            .get(&table.object_id)
            .ok_or_else(|| other(format!("table {}.{} is not in the restored database", table.schema, table.name)))?;
        let (tx, rx) = mpsc::channel(4);
        // TEXTSIZE bounds what a SELECT returns of LOB values; some drivers set it low.
        let sql = format!("SET TEXTSIZE 2147483647;\n{}", read.sql);
        self.handle.spawn(stream_rows(self.config.clone(), self.restored.name.clone(), sql, tx));
        Ok(Box::new(SqlServerRows {
            table,
            read,
            rx,
            batch: Vec::new().into_iter(),
            cells: Vec::with_capacity(read.width),
            values: Vec::with_capacity(table.columns.len()),
            stats: vec![DecodeStats::default(); table.columns.len()],
            scratch: Vec::with_capacity(64),
            done: false,
        }))
    }
}
