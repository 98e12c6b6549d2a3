//! The migration report: a serde document (`--report FILE` writes it as JSON) and a human
//! summary ([`Report::summary`]).
//!
//! It never contains a password: the target is named by host, port and database only.

use std::fmt::Write as _;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::checksum::TableChecksum;
use crate::ddl::{MappingOutcome, Rename, Untranslated};
use crate::typemap::{ColumnConversions, MappingNote};

/// The steps of a migration, in order. Each can run on its own (see [`mod@crate::migrate`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Find the backup in its archive and extract it (work folder only).
    Extract,
    /// Open the backup, check it is whole, read its catalog.
    ReadBackup,
    /// Connect, check the server version, CREATEDB, names; nothing is written.
    Preflight,
    /// Create `<name>__loading`, its schemas and tables.
    CreateSchema,
    /// Binary COPY of every table.
    LoadData,
    /// Defaults, keys, indexes, foreign keys, checks, identity restarts.
    CreateConstraints,
    /// Row counts and checksums read back from PostgreSQL.
    Validate,
    /// Rename the previous database aside (or drop it) and `<name>__loading` into place.
    Swap,
}

impl Step {
    /// The step's name as in the report (`load_data`).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Extract => "extract",
            Step::ReadBackup => "read_backup",
            Step::Preflight => "preflight",
            Step::CreateSchema => "create_schema",
            Step::LoadData => "load_data",
            Step::CreateConstraints => "create_constraints",
            Step::Validate => "validate",
            Step::Swap => "swap",
        }
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which engine read the backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EngineKind {
    /// The backup file parsed by `mssql-backup`, no SQL Server involved.
    Native,
    /// RESTORE DATABASE on a SQL Server, then TDS reads.
    SqlServer,
}

impl std::fmt::Display for EngineKind {
    /// `native` or `sqlserver`, the names `--engine` takes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            EngineKind::Native => "native",
            EngineKind::SqlServer => "sqlserver",
        })
    }
}

/// What the report says about the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Engine used.
    pub engine: EngineKind,
    /// Why this engine was chosen (for `--engine auto`), or "requested".
    pub engine_reason: String,
    /// Database name as recorded in the backup.
    pub database: String,
    /// Server that took the backup (`HOST\INSTANCE`), when known.
    pub server: Option<String>,
    /// SQL Server product version (`13.0.5026`), when known.
    pub sql_version: Option<String>,
    /// Internal database version (611 = 2005 … 998 = 2025), when known.
    pub db_version: Option<u16>,
}

impl SourceInfo {
    /// Facts of a source that could not be read (for a report written after a failure).
    pub fn unknown() -> Self {
        SourceInfo {
            engine: EngineKind::Native,
            engine_reason: String::new(),
            database: String::new(),
            server: None,
            sql_version: None,
            db_version: None,
        }
    }
}

/// Overall outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Running (a report written mid-way).
    Running,
    /// Every table matched and the database is in place.
    Passed,
    /// Stopped; `failed_step` and `error` say where and why. The previous database is
    /// untouched.
    Failed,
}

/// Per-table validation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableStatus {
    /// Not loaded yet.
    Pending,
    /// Loaded, not validated yet.
    Loaded,
    /// Row count and checksum equal on both sides.
    Match,
    /// Row count or checksum differ.
    Mismatch,
    /// PostgreSQL holds what was read, but the rows read are not as many as SQL Server's
    /// own catalog counted for the table (`catalog_rows`): evidence that the decoding
    /// missed or invented rows.
    CatalogCountDiffers,
}

/// One table's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableReport {
    /// `schema.table` in SQL Server.
    pub source: String,
    /// `schema.table` in PostgreSQL.
    pub target: String,
    /// Rows sent.
    pub rows: u64,
    /// The rows SQL Server itself counted for the table, as its catalog kept them in the
    /// backup (`sysrowsets.rcrows` summed over the base rowsets, what `sys.partitions.rows`
    /// shows); `None` when the source has no such count. Independent of the decoder, so a
    /// difference from `rows` fails validation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_rows: Option<u64>,
    /// Bytes of binary COPY data sent.
    pub bytes: u64,
    /// Seconds spent loading.
    pub load_seconds: f64,
    /// Checksum of the rows sent (after conversion).
    pub source_checksum: Option<TableChecksum>,
    /// Checksum of the rows read back from PostgreSQL.
    pub target_checksum: Option<TableChecksum>,
    /// How `target_checksum` was computed; `None` before validation (and in reports
    /// written before this field existed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_method: Option<ReadBackMethod>,
    /// Status.
    pub status: TableStatus,
}

/// How a table's numbers were computed on the PostgreSQL side (see
/// [`crate::validate`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadBackMethod {
    /// By the server, one aggregate query ([`server_checksum`](crate::validate::server_checksum)):
    /// PostgreSQL renders and hashes every row it holds.
    #[default]
    ServerHash,
    /// On the client, from every value read back as text
    /// ([`read_back`](crate::validate::read_back)), where the server's hash differs from ours.
    ReadBack,
}

/// Lossy conversions of one column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversionReport {
    /// `schema.table` in SQL Server.
    pub table: String,
    /// Column.
    pub column: String,
    /// Counts.
    pub counts: ColumnConversions,
}

/// A column loaded as raw bytes or otherwise specially mapped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpecialColumn {
    /// `schema.table` in SQL Server.
    pub table: String,
    /// Column.
    pub column: String,
    /// SQL Server type.
    pub sql_type: String,
    /// What was done.
    pub note: MappingNote,
    /// Why, when the note alone does not say (`geography`/`geometry`: PostGIS, or bytea
    /// and the reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// An object that is not migrated at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMigrated {
    /// Schema.
    pub schema: String,
    /// Name.
    pub name: String,
    /// `view`, `procedure`, `scalar_function`, `trigger`, … or the catalog type code.
    pub kind: String,
    /// Why it is listed beyond "not translated": its definition in the backup could not
    /// be decoded (and why).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A view, procedure, function, trigger or other module of the source database, and
/// whether it was created in PostgreSQL (see [`crate::translate`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectReport {
    /// Source schema.
    pub schema: String,
    /// Source name.
    pub name: String,
    /// `view`, `inline_table_function`, `procedure`, `scalar_function`, `trigger`, …
    pub kind: String,
    /// The PostgreSQL object created (`"schema"."name"`), when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// True when created in PostgreSQL.
    pub translated: bool,
    /// Why not (the construct and its line and column, PostgreSQL's message with its
    /// SQLSTATE, the view it depends on…); `None` when created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For a created view: its row count, read by the validate step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rows: Option<u64>,
}

/// Time spent in one step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepTiming {
    /// Step.
    pub step: Step,
    /// Wall-clock seconds.
    pub seconds: f64,
}

/// Where the backup came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputReport {
    /// The files given (archive or backup files), as given.
    pub files: Vec<String>,
    /// Archive format, when the backup came from an archive (`rar5`, `zip`…).
    pub archive: Option<String>,
    /// The archive member read.
    pub member: Option<String>,
    /// Backup file size in bytes (the extracted size for archives).
    pub backup_bytes: u64,
    /// Compressed (`MSSQLBAK`) backup.
    pub compressed: bool,
    /// Backup-set name from the backup header.
    pub backup_set: Option<String>,
    /// Position of the backup set read (`RESTORE … FILE = n`), when the engine says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_set_position: Option<u16>,
    /// Number of backup sets in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backup_sets_in_file: Option<u32>,
    /// The media or set was written with a password (`WITH MEDIAPASSWORD`/`PASSWORD`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub password_protected: bool,
    /// When the backup started (server local time with its UTC offset).
    pub backup_started: Option<String>,
    /// Notes on the choice of backup and its extraction.
    pub notes: Vec<String>,
}

/// What happened to the target databases.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TargetReport {
    /// Server as `host:port` (never credentials).
    pub server: String,
    /// PostgreSQL version (`server_version`).
    pub server_version: Option<String>,
    /// Final database name.
    pub database: String,
    /// The database built and validated before the swap.
    pub loading_database: String,
    /// Name the previous database was kept under, if there was one and it was kept.
    pub previous_kept_as: Option<String>,
    /// True when the previous database was dropped (`replace`).
    pub previous_dropped: bool,
    /// Every previous copy (`<name>__prev_*`) kept after the swap, newest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_kept: Vec<String>,
    /// Older copies dropped by the keep-previous policy in this run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub previous_dropped_names: Vec<String>,
    /// Values kept aside in `bak2pg.rejected_values`.
    pub rejected_values: u64,
}

/// Totals over all tables.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Tables.
    pub tables: usize,
    /// Rows sent.
    pub rows: u64,
    /// COPY bytes sent.
    pub bytes: u64,
    /// Tables whose checksums matched.
    pub matched: usize,
    /// Tables whose checksums differed, or whose rows differ from SQL Server's count.
    pub mismatched: usize,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// bak2pg version.
    pub tool_version: String,
    /// Outcome.
    pub status: Status,
    /// The step that failed.
    pub failed_step: Option<Step>,
    /// The error, as displayed (no secrets).
    pub error: Option<String>,
    /// UTC start time, RFC 3339.
    pub started_at: String,
    /// Source facts: database, SQL Server version, engine and why.
    pub source: SourceInfo,
    /// The input: archive, member, backup file.
    #[serde(default)]
    pub input: InputReport,
    /// Target facts.
    pub target: TargetReport,
    /// Per-step durations.
    pub steps: Vec<StepTiming>,
    /// Per-table numbers.
    pub tables: Vec<TableReport>,
    /// Totals.
    pub totals: Totals,
    /// Lossy conversions, per table and column (only columns with counts).
    pub conversions: Vec<ConversionReport>,
    /// Columns loaded as raw bytes or text by design.
    pub special_columns: Vec<SpecialColumn>,
    /// Objects not migrated that are not modules (synonyms, sequences, types…); modules
    /// are in [`Report::objects`].
    pub not_migrated: Vec<NotMigrated>,
    /// Every module (view, procedure, function, trigger…): translated or not, and why.
    #[serde(default)]
    pub objects: Vec<ObjectReport>,
    /// Defaults, checks, filters, computed columns, indexes and keys not (fully) translated.
    pub untranslated: Vec<Untranslated>,
    /// Identifiers renamed.
    pub renamed: Vec<Rename>,
    /// Nondeterministic collations created (`--case-insensitive icu`): SQL Server name and
    /// ICU locale; the columns that use them are in the plan.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collations: Vec<crate::ddl::CollationPlan>,
    /// What the mapping file (`--config`) excluded, renamed and overrode; absent without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mapping: Option<MappingOutcome>,
    /// `--schema-only`: tables, keys and constraints created, no rows loaded (each table
    /// validated empty; SQL Server's row counts are listed, not compared).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub schema_only: bool,
    /// `--data-only`: the rows loaded into the existing target's tables (through a copy of
    /// it, validated and swapped in); its keys and constraints are its own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub data_only: bool,
    /// Other things worth knowing.
    pub warnings: Vec<String>,
}

impl Report {
    /// An empty report for `source`, started now.
    pub fn new(source: SourceInfo) -> Self {
        Report {
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            status: Status::Running,
            failed_step: None,
            error: None,
            started_at: utc_rfc3339(SystemTime::now()),
            source,
            input: InputReport::default(),
            target: TargetReport::default(),
            steps: Vec::new(),
            tables: Vec::new(),
            totals: Totals::default(),
            conversions: Vec::new(),
            special_columns: Vec::new(),
            not_migrated: Vec::new(),
            objects: Vec::new(),
            untranslated: Vec::new(),
            renamed: Vec::new(),
            collations: Vec::new(),
            mapping: None,
            schema_only: false,
            data_only: false,
            warnings: Vec::new(),
        }
    }

    /// Per module kind (`view`, `procedure`…, sorted): how many were translated (created
    /// in PostgreSQL) and how many not, from [`Report::objects`].
    pub fn object_counts(&self) -> std::collections::BTreeMap<String, (usize, usize)> {
        let mut counts = std::collections::BTreeMap::new();
        for o in &self.objects {
            let e: &mut (usize, usize) = counts.entry(o.kind.clone()).or_default();
            if o.translated {
                e.0 += 1;
            } else {
                e.1 += 1;
            }
        }
        counts
    }

    /// Recomputes [`Report::totals`] from the tables.
    pub fn compute_totals(&mut self) {
        self.totals = Totals {
            tables: self.tables.len(),
            rows: self.tables.iter().map(|t| t.rows).sum(),
            bytes: self.tables.iter().map(|t| t.bytes).sum(),
            matched: self.tables.iter().filter(|t| t.status == TableStatus::Match).count(),
            mismatched: self
                .tables
                .iter()
                .filter(|t| matches!(t.status, TableStatus::Mismatch | TableStatus::CatalogCountDiffers))
                .count(),
        };
    }

    /// The report as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("report serializes")
    }

    /// A human summary: a few lines per section, one line per table.
    pub fn summary(&self) -> String {
        let mut s = String::new();
        let status = match self.status {
            Status::Passed => "PASSED".to_string(),
            Status::Running => "RUNNING".to_string(),
            Status::Failed => format!("FAILED at step {}", self.failed_step.map(|s| s.as_str()).unwrap_or("?")),
        };
        let _ = writeln!(
            s,
            "bak2pg {}: {} → {} on {}: {status}",
            self.tool_version, self.source.database, self.target.database, self.target.server
        );
        if let Some(e) = &self.error {
            let _ = writeln!(s, "  error: {e}");
        }
        let _ = writeln!(
            s,
            "  source: SQL Server {} (engine {:?}: {})",
            self.source.sql_version.as_deref().unwrap_or("version unknown"),
            self.source.engine,
            self.source.engine_reason
        );
        if !self.input.files.is_empty() {
            let mut from = self.input.files.join(" + ");
            if let (Some(a), Some(m)) = (&self.input.archive, &self.input.member) {
                from = format!("{from} ({a} member {m:?})");
            }
            let started = self.input.backup_started.as_deref().map(|t| format!(", taken {t}")).unwrap_or_default();
            let compressed = if self.input.compressed { ", compressed" } else { "" };
            let set = match (self.input.backup_set_position, self.input.backup_sets_in_file) {
                (Some(p), Some(n)) if n > 1 => format!(", backup set {p} of {n}"),
                _ => String::new(),
            };
            let _ = writeln!(s, "  input: {from}, {} bytes{compressed}{set}{started}", self.input.backup_bytes);
            for n in &self.input.notes {
                let _ = writeln!(s, "    {n}");
            }
        }
        if let Some(prev) = &self.target.previous_kept_as {
            let _ = writeln!(s, "  previous database kept as {prev}");
        }
        if self.target.previous_dropped {
            let _ = writeln!(s, "  previous database dropped (replace)");
        }
        if self.target.previous_kept.len() > 1 {
            let _ = writeln!(s, "  previous copies kept: {}", self.target.previous_kept.join(", "));
        }
        if !self.target.previous_dropped_names.is_empty() {
            let _ = writeln!(s, "  older copies dropped: {}", self.target.previous_dropped_names.join(", "));
        }
        let steps: Vec<String> = self.steps.iter().map(|t| format!("{} {:.1}s", t.step, t.seconds)).collect();
        let _ = writeln!(s, "  steps: {}", steps.join(", "));
        let _ = writeln!(
            s,
            "  tables: {} ({} matched, {} mismatched), rows: {}, bytes: {}",
            self.totals.tables, self.totals.matched, self.totals.mismatched, self.totals.rows, self.totals.bytes
        );
        let by = |m| self.tables.iter().filter(|t| t.target_method == Some(m)).count();
        let (hashed, read) = (by(ReadBackMethod::ServerHash), by(ReadBackMethod::ReadBack));
        if hashed + read > 0 {
            let mut how = Vec::new();
            if hashed > 0 {
                how.push(format!("{hashed} tables hashed by PostgreSQL from the rows it holds"));
            }
            if read > 0 {
                how.push(format!("{read} tables read back and hashed by bak2pg"));
            }
            let _ = writeln!(s, "  validation: {}", how.join(", "));
        }
        for t in &self.tables {
            let sum = |c: &Option<TableChecksum>| c.map(|c| format!("{}/{}", c.rows, c.short())).unwrap_or("-".into());
            let catalog = match t.catalog_rows {
                Some(n) => format!(" (SQL Server: {n})"),
                None => String::new(),
            };
            let _ = writeln!(
                s,
                "    {:<40} {:>12} rows{catalog} {:>14} bytes  src {}  pg {}  {:?}",
                t.source,
                t.rows,
                t.bytes,
                sum(&t.source_checksum),
                sum(&t.target_checksum),
                t.status
            );
        }
        if !self.conversions.is_empty() {
            let _ = writeln!(s, "  conversions:");
            for c in &self.conversions {
                let _ = writeln!(s, "    {}.{}: {}", c.table, c.column, conversions_text(&c.counts));
            }
        }
        if self.target.rejected_values > 0 {
            let _ = writeln!(s, "  {} original values kept in bak2pg.rejected_values", self.target.rejected_values);
        }
        if !self.special_columns.is_empty() {
            let _ = writeln!(s, "  special columns:");
            for c in &self.special_columns {
                match &c.detail {
                    Some(d) => writeln!(s, "    {}.{} ({}): {d}", c.table, c.column, c.sql_type),
                    None => writeln!(s, "    {}.{} ({}): {:?}", c.table, c.column, c.sql_type, c.note),
                }
                .ok();
            }
        }
        if !self.objects.is_empty() {
            let counts: Vec<String> =
                self.object_counts().iter().map(|(k, (yes, no))| format!("{k} {yes} translated, {no} not")).collect();
            let _ = writeln!(s, "  views, procedures, functions, triggers: {}", counts.join("; "));
            for o in &self.objects {
                match (&o.reason, o.rows) {
                    (None, Some(n)) => {
                        let _ = writeln!(s, "    {} {}.{}: created, {n} rows", o.kind, o.schema, o.name);
                    }
                    (None, None) => {
                        let _ = writeln!(s, "    {} {}.{}: created", o.kind, o.schema, o.name);
                    }
                    (Some(r), _) => {
                        let _ = writeln!(s, "    {} {}.{}: not translated: {r}", o.kind, o.schema, o.name);
                    }
                }
            }
        }
        if !self.not_migrated.is_empty() {
            let _ = writeln!(s, "  not migrated ({}):", self.not_migrated.len());
            for o in &self.not_migrated {
                let _ = writeln!(s, "    {} {}.{}", o.kind, o.schema, o.name);
            }
        }
        if !self.untranslated.is_empty() {
            let _ = writeln!(s, "  not translated as in SQL Server ({}):", self.untranslated.len());
            for u in &self.untranslated {
                let _ = writeln!(
                    s,
                    "    {} {}{}{}: {} ({})",
                    u.kind,
                    u.object,
                    if u.table.is_empty() { String::new() } else { format!(" on {}", u.table) },
                    u.definition.as_ref().map(|d| format!(" {d}")).unwrap_or_default(),
                    u.action,
                    u.reason
                );
            }
        }
        if !self.collations.is_empty() {
            let _ = writeln!(s, "  case-insensitive collations ({}):", self.collations.len());
            for c in &self.collations {
                let _ = writeln!(s, "    {} → ICU {} (nondeterministic)", c.name, c.locale);
            }
        }
        if !self.renamed.is_empty() {
            let _ = writeln!(s, "  renamed ({}):", self.renamed.len());
            for r in &self.renamed {
                let _ = writeln!(s, "    {:?} {} {:?} → {:?}: {}", r.kind, r.scope, r.source, r.target, r.reason);
            }
        }
        if let Some(m) = &self.mapping {
            let _ = writeln!(s, "  mapping file {}:", m.file);
            for (t, why) in &m.excluded {
                let _ = writeln!(s, "    excluded {t} ({why})");
            }
            for r in &m.renamed {
                let at = if r.scope.is_empty() { String::new() } else { format!("{} ", r.scope) };
                let _ = writeln!(s, "    renamed {:?} {at}{:?} → {:?}", r.kind, r.source, r.target);
            }
            for o in &m.type_overrides {
                let _ = writeln!(
                    s,
                    "    type {}.{} ({}): {} instead of {} ({})",
                    o.table, o.column, o.sql_type, o.pg_type, o.default_type, o.key
                );
            }
            for f in &m.foreign_keys_left_out {
                let _ = writeln!(s, "    foreign key {} on {} left out: {} is excluded", f.name, f.table, f.references);
            }
        }
        if self.schema_only {
            let _ = writeln!(s, "  schema only: no rows loaded");
        }
        if self.data_only {
            let _ = writeln!(s, "  data only: rows loaded into the existing database's tables (a copy, swapped in)");
        }
        for w in &self.warnings {
            let _ = writeln!(s, "  warning: {w}");
        }
        s
    }
}

fn conversions_text(c: &ColumnConversions) -> String {
    let mut parts = Vec::new();
    for (n, label) in [
        (c.nul_removed, "NUL removed"),
        (c.fraction_rounded, "7th digit rounded"),
        (c.datetime_ticks_rounded, "datetime ticks rounded to ms"),
        (c.offset_dropped, "offsets dropped"),
        (c.xml_rejected, "XML rejected (NULL, kept aside)"),
        (c.variant_as_text, "sql_variant as text"),
        (c.replaced_utf16, "lone surrogates replaced"),
    ] {
        if n > 0 {
            parts.push(format!("{n} {label}"));
        }
    }
    parts.join(", ")
}

/// `2026-11-21T16:58:00Z`.
pub fn utc_rfc3339(t: SystemTime) -> String {
    utc(t, "%Y-%m-%dT%H:%M:%SZ")
}

/// `20261121T165800Z`, for database names.
pub fn utc_compact(t: SystemTime) -> String {
    utc(t, "%Y%m%dT%H%M%SZ")
}

/// `t` in UTC, whole seconds, as `format` says; times jiff cannot hold (before year -9999
/// or after 9999) as the Unix epoch: only the clock's "now" comes here.
fn utc(t: SystemTime, format: &str) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let ts = i64::try_from(secs).ok().and_then(|s| jiff::Timestamp::from_second(s).ok());
    ts.unwrap_or(jiff::Timestamp::UNIX_EPOCH).strftime(format).to_string()
}
