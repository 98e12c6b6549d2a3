//! The restore: options, the steps of the module docs, progress polling, and attaching to a
//! database an earlier step restored.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;

use super::client::{Cells, RowError, connect, execute, map_rows, query};
use super::config::MssqlConfig;
use super::error::{engine, engine_in, other};
use super::place::{self, BackupDir};
use super::read::{self, TableRead};
use super::restored_db::{RestoredDb, db_exists, restored_exists};
use super::tsql::{self, FileKind, FileRow, HeaderRow};
use super::{SqlServerSource, catalog};
use crate::schema::Database;
use crate::source::{EngineKind, SourceError, SourceInfo};

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

/// A row of `RESTORE HEADERONLY`.
fn header_row(c: &Cells<'_>) -> Result<HeaderRow, RowError> {
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

/// A row of `RESTORE FILELISTONLY`.
fn file_row(c: &Cells<'_>) -> Result<FileRow, RowError> {
    Ok(FileRow {
        logical_name: c.req_text("LogicalName")?,
        physical_name: c.text("PhysicalName")?.unwrap_or_default(),
        kind: FileKind::from_code(&c.req_text("Type")?).map_err(|e| c.invalid("Type", e))?,
        file_id: c.req_int("FileID")?,
    })
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
    let (rows, collation_id) = catalog::read_catalog(&mut c, &server).await?;
    let (database, column_sets) = catalog::build_database(original, collation_id, &rows).map_err(engine)?;
    let mut reads = HashMap::new();
    for t in &database.tables {
        let stored = |c: &mssql_backup::schema::Column| {
            c.computed.as_ref().is_none_or(|k| k.persisted) && !column_sets.contains(&(t.object_id, c.column_id))
        };
        let r = read::plan_table(t, stored).map_err(|e| engine_in(format_args!("table {}.{}", t.schema, t.name), e))?;
        reads.insert(t.object_id, r);
    }
    Ok((database, reads))
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
        config.tiberius(None).map_err(engine)?;
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
        .map_err(|e| engine_in("copying the backup", e))?
        .map_err(engine)?;

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
        let server_version = c.text("version").map_err(engine)?.unwrap_or_default();
        let data_dir = opts.data_dir.clone().or(c.text("data_path").map_err(engine)?);
        let log_dir = opts.log_dir.clone().or(c.text("log_path").map_err(engine)?);
        let spid = c.req_int("spid").map_err(engine)? as i16;

        let sql = tsql::restore_headeronly(&placed.server).map_err(engine)?;
        let rows = query(&mut master, &server, "RESTORE HEADERONLY", &sql).await?;
        let headers = map_rows(&rows, "RESTORE HEADERONLY", header_row)?;
        let chosen = tsql::choose_backup_set(&headers, opts.backup_set.map(i32::from)).map_err(engine)?;
        let header = headers[chosen.index].clone();
        let sql = tsql::restore_filelistonly(&placed.server, chosen.position).map_err(engine)?;
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
        let moves = tsql::move_targets(&name, &files, &data_dir, &log_dir).map_err(engine)?;
        let sql = tsql::restore_database(
            &name,
            &placed.server,
            chosen.position,
            &moves,
            header.has_checksums,
            opts.stats_percent,
        )
        .map_err(engine)?;

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
        config.tiberius(None).map_err(engine)?;
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
}
