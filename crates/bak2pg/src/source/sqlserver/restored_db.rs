//! The lifetime of a restored database: whether it exists, dropping it, and the guard that
//! drops it when the source goes away (also after a failed restore).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::client::{Cells, Client, connect, execute, query};
use super::config::MssqlConfig;
use super::error::{engine, engine_in};
use super::tsql;
use crate::source::SourceError;

/// The restored database: dropped when [`RestoredDb::drop_now`] runs, or on drop, unless
/// kept.
pub(super) struct RestoredDb {
    pub(super) config: Arc<MssqlConfig>,
    pub(super) name: String,
    pub(super) keep: bool,
    pub(super) done: AtomicBool,
}

/// Drops database `name` on the server of `config`.
async fn drop_database(config: &MssqlConfig, name: &str) -> Result<(), SourceError> {
    let server = config.server();
    let sql = tsql::drop_database(name).map_err(engine)?;
    let mut c = connect(config, None).await?;
    execute(&mut c, &server, &format!("dropping the restored database [{name}]"), &sql).await
}

impl RestoredDb {
    pub(super) async fn drop_now(&self) -> Result<(), SourceError> {
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
                .map_err(|e| engine_in(format_args!("starting a runtime to drop [{name}]"), e))?;
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

/// Whether database `name` exists on the server of `config`.
///
/// # Errors
/// Connection or query failure.
pub async fn restored_exists(config: &MssqlConfig, name: &str) -> Result<bool, SourceError> {
    let mut c = connect(config, None).await?;
    db_exists(&mut c, &config.server(), name).await
}

/// Whether database `name` exists, on an open connection.
pub(super) async fn db_exists(client: &mut Client, server: &str, name: &str) -> Result<bool, SourceError> {
    let sql = tsql::database_exists(name).map_err(engine)?;
    let r = query(client, server, "checking for a database", &sql).await?;
    let present = r.first().map(|row| Cells { row, what: "DB_ID" }.flag("present")).transpose().map_err(engine)?;
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
