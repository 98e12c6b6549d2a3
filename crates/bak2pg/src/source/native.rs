//! The `native` engine: the backup file read directly by `mssql-backup`.

use std::path::Path;

use mssql_backup::schema::{Compression, StorageKind};
use mssql_backup::{Backup, OpenOptions, SqlType, TableRows, Value};

use super::{EngineKind, RowReader, Source, SourceError, SourceInfo};
use crate::schema::{Database, Table};

/// A backup opened by the native reader, its catalog already read.
pub struct NativeSource {
    backup: Backup,
    reason: String,
}

impl NativeSource {
    /// Opens the backup files (one, or every stripe), takes the backup set `options`
    /// names (the last full one by default), refuses a set that is not a full database
    /// backup (naming what it is), checks that the backup is whole (every allocated extent
    /// present; skipped with `options.salvage`) and reads the catalog.
    ///
    /// # Errors
    /// Reader errors: not a backup, truncated, damaged, not a full backup (checked before
    /// completeness: a differential lacks extents by design), incomplete (unless
    /// salvaging), no such backup set.
    pub fn open(paths: &[&Path], options: OpenOptions) -> Result<NativeSource, SourceError> {
        let backup = Backup::open_with(paths, options)?;
        backup.description().header.ensure_restorable().map_err(|e| e.with_file(paths[0]))?;
        if !options.salvage {
            // Say what is missing, not merely the first catalog page that is.
            let c = backup.completeness();
            // Damage met on the way (a page checksum, a malformed record) is the cause,
            // whatever else is missing: never "incomplete" for a damaged file.
            if let Some(e) = c.damage {
                return Err(SourceError::Backup(e.with_file(paths[0])));
            }
            if !c.complete {
                return Err(SourceError::Backup(
                    mssql_backup::Error::new(
                        mssql_backup::ErrorKind::Incomplete,
                        format!("the backup is incomplete: {}", c.problems.join("; ")),
                    )
                    .with_file(paths[0]),
                ));
            }
        }
        backup.database()?;
        Ok(NativeSource { backup, reason: "requested".into() })
    }

    /// Fills what the backup header says of the input: container, the backup set read
    /// (and why, when the file holds several), its start, a password.
    pub fn describe_input(&self, input: &mut crate::report::InputReport) {
        let header = &self.backup.description().header;
        input.compressed = header.compressed;
        input.backup_set = Some(header.backup_name.clone()).filter(|n| !n.is_empty());
        input.backup_started = Some(header.start.to_string());
        input.backup_set_position = Some(header.position);
        input.backup_sets_in_file = Some(header.backup_sets_in_file);
        input.password_protected = header.media_password || header.set_password;
        let sets = self.backup.backup_sets();
        if sets.len() > 1 {
            let latest_full = mssql_backup::choose_set(sets, None).is_ok_and(|i| i == self.backup.set_index());
            input.notes.push(format!(
                "the file holds {} backup sets; set {} was read{}",
                sets.len(),
                header.position,
                if latest_full { " (the last full database backup; choose another with --backup-set N)" } else { "" }
            ));
        }
        if input.password_protected {
            input.notes.push(format!(
                "the backup was written WITH {}: SQL Server needs the password to RESTORE it; the password does not \
                 encrypt the pages, which were read directly",
                if header.media_password { "MEDIAPASSWORD" } else { "PASSWORD" }
            ));
        }
    }

    /// Records why this engine was chosen (for `--engine auto`).
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = reason.into();
        self
    }

    /// The underlying backup.
    pub fn backup(&self) -> &Backup {
        &self.backup
    }

    /// What this backup holds that the native reader cannot read, one line per feature
    /// and table; empty when everything is supported. `--engine auto` picks the
    /// `sqlserver` engine when this is not empty.
    pub fn unsupported_features(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(db) = self.backup.database() else { return vec!["the catalog cannot be read".into()] };
        for t in &db.tables {
            let name = format!("{}.{}", t.schema, t.name);
            if t.storage.memory_optimized {
                out.push(format!("{name}: memory-optimized table"));
            }
            match t.storage.compression {
                Compression::None => {}
                // No pages, nothing to decode: read natively (as empty).
                _ if self.backup.holds_data_pages(t).is_ok_and(|holds| !holds) => {}
                c => out.push(format!("{name}: {c:?} data compression")),
            }
            if t.storage.kind == StorageKind::ClusteredColumnstore {
                out.push(format!("{name}: clustered columnstore"));
            }
            for c in &t.columns {
                if let SqlType::Unknown { name: ty, .. } = &c.ty {
                    out.push(format!("{name}.{}: type {ty}", c.name));
                }
            }
        }
        out
    }
}

impl Source for NativeSource {
    fn info(&self) -> SourceInfo {
        let h = &self.backup.description().header;
        SourceInfo {
            engine: EngineKind::Native,
            engine_reason: self.reason.clone(),
            database: self.backup.database_name().to_string(),
            server: Some(h.server_name.clone()).filter(|s| !s.is_empty()),
            sql_version: Some(h.product_version.to_string()),
            db_version: Some(h.database_version),
        }
    }

    fn database(&self) -> &Database {
        self.backup.database().expect("read in NativeSource::open")
    }

    fn rows<'a>(&'a self, table: &'a Table) -> Result<Box<dyn RowReader + 'a>, SourceError> {
        Ok(Box::new(NativeRows { rows: self.backup.rows(table)? }))
    }

    /// Parts of the table's pages ([`mssql_backup::Part`]: runs of 64 pages dealt
    /// round-robin).
    fn splits_tables(&self) -> bool {
        true
    }

    fn rows_part<'a>(
        &'a self,
        table: &'a Table,
        part: usize,
        parts: usize,
    ) -> Result<Option<Box<dyn RowReader + 'a>>, SourceError> {
        let part = mssql_backup::Part { index: part, of: parts.max(1) };
        Ok(Some(Box::new(NativeRows { rows: self.backup.rows_part(table, part)? })))
    }
}

struct NativeRows<'a> {
    rows: TableRows<'a>,
}

impl RowReader for NativeRows<'_> {
    fn next_row(&mut self) -> Result<Option<&[Value]>, SourceError> {
        Ok(self.rows.next_row()?)
    }

    fn decode_stats(&self) -> Vec<mssql_backup::value::DecodeStats> {
        self.rows.stats().columns.clone()
    }
}
