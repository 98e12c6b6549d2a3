//! The PostgreSQL schema: names, tables, and the keys, indexes, constraints and defaults
//! created after the data.
//!
//! [`plan`] turns the source [`Database`] into a deterministic [`Plan`]: every PostgreSQL
//! name (schemas mapped, identifiers fitted to PostgreSQL's 63-byte limit, collisions
//! renamed), every column type (by [`crate::typemap`]), identities and computed columns.
//! The same database and options always give the same plan, so separate pipeline steps
//! can each recompute it.
//!
//! SQL is never built by pasting names or values: identifiers go through [`quote_ident`]
//! and literals through [`quote_literal`]; T-SQL expressions (defaults, CHECKs, filters,
//! computed columns) are re-tokenised and only a known subset is re-emitted
//! ([`translate_expr`]); anything else is reported, not guessed.

use std::collections::{BTreeMap, HashMap, HashSet};

use mssql_backup::SqlType;
use serde::{Deserialize, Serialize};

use crate::schema::{Database, FkAction, ForeignKey, Index, IndexKind, KeyConstraint, Table};
use crate::typemap::{MappingNote, PgType, map_type};

/// PostgreSQL's identifier limit in bytes (`NAMEDATALEN - 1`).
pub const MAX_IDENT_BYTES: usize = 63;

/// The schema holding bak2pg's own tables in the target (`rejected_values`).
pub const OWN_SCHEMA: &str = "bak2pg";

/// Quotes an identifier for PostgreSQL: wrapped in `"`, inner `"` doubled. Always quoted,
/// so case and reserved words are kept exactly.
pub fn quote_ident(name: &str) -> String {
    let mut s = String::with_capacity(name.len() + 2);
    s.push('"');
    for c in name.chars() {
        if c == '"' {
            s.push('"');
        }
        s.push(c);
    }
    s.push('"');
    s
}

/// Quotes a string literal for PostgreSQL whatever `standard_conforming_strings` is:
/// `'…'` with `'` doubled, and the `E'…'` form with `\` doubled when a backslash occurs
/// (what PostgreSQL's own `quote_literal` does). NUL cannot occur in PostgreSQL text and
/// is removed.
pub fn quote_literal(s: &str) -> String {
    let s = s.replace('\0', "");
    let mut out = String::with_capacity(s.len() + 3);
    if s.contains('\\') {
        out.push_str(" E");
    }
    out.push('\'');
    for c in s.chars() {
        if c == '\'' || c == '\\' {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out.trim_start().to_string()
}

/// `"schema"."name"`.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Fits `name` into 63 bytes: unchanged when it fits; else cut at a character boundary
/// and suffixed with `_` and 8 hex digits of a hash of the full name, so that two long
/// names sharing a prefix stay distinct and the result is the same on every run.
pub fn fit_identifier(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let hash = xxhash_rust::xxh3::xxh3_64(name.as_bytes()) as u32;
    format!("{}_{hash:08x}", cut(name, MAX_IDENT_BYTES - 9))
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = max.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// What kind of object a renamed identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// Schema.
    Schema,
    /// Table.
    Table,
    /// Column.
    Column,
    /// Primary key or unique constraint (its index shares the schema's relation names).
    KeyConstraint,
    /// Index.
    Index,
    /// Foreign key.
    ForeignKey,
    /// CHECK constraint.
    Check,
}

/// An identifier that could not be kept as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// What it names.
    pub kind: ObjectKind,
    /// Where: `schema.table` in source names (empty for schemas).
    pub scope: String,
    /// The SQL Server name.
    pub source: String,
    /// The PostgreSQL name.
    pub target: String,
    /// Why: longer than 63 bytes, a collision, or a reserved name.
    pub reason: String,
}

/// Allocates unique names in one PostgreSQL namespace.
#[derive(Debug, Default)]
struct Namespace {
    taken: HashSet<String>,
}

impl Namespace {
    /// A unique name for `wanted`: fitted to 63 bytes, then `_2`, `_3`… on collision
    /// (after first trying `prefix_wanted` when a prefix is given).
    fn claim(
        &mut self,
        wanted: &str,
        prefix: Option<&str>,
        kind: ObjectKind,
        scope: &str,
        renames: &mut Vec<Rename>,
    ) -> String {
        let fitted = fit_identifier(wanted);
        let mut reason = if fitted != wanted { Some("longer than 63 bytes") } else { None };
        let mut name = fitted;
        if self.taken.contains(&name) {
            reason = Some("name already used in the PostgreSQL namespace");
            let mut candidates = Vec::new();
            if let Some(p) = prefix {
                candidates.push(fit_identifier(&format!("{p}_{wanted}")));
            }
            for i in 2.. {
                if let Some(c) = candidates.pop() {
                    if !self.taken.contains(&c) {
                        name = c;
                        break;
                    }
                    continue;
                }
                let suffix = format!("_{i}");
                let c = format!("{}{suffix}", cut(&fit_identifier(wanted), MAX_IDENT_BYTES - suffix.len()));
                if !self.taken.contains(&c) {
                    name = c;
                    break;
                }
            }
        }
        self.taken.insert(name.clone());
        if let Some(reason) = reason {
            renames.push(Rename {
                kind,
                scope: scope.to_string(),
                source: wanted.to_string(),
                target: name.clone(),
                reason: reason.to_string(),
            });
        }
        name
    }

    fn reserve(&mut self, name: &str) {
        self.taken.insert(name.to_string());
    }
}

/// Options that shape the plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// SQL Server schema → PostgreSQL schema. Schemas not listed keep their name, except
    /// `dbo`, which becomes `public` unless mapped here.
    pub schema_map: BTreeMap<String, String>,
    /// Load columns of unknown types as raw `bytea` instead of refusing the database.
    pub load_unknown_as_bytea: bool,
}

/// A column as it will be created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColumnPlan {
    /// SQL Server name.
    pub source_name: String,
    /// PostgreSQL name.
    pub name: String,
    /// SQL Server type.
    pub sql_type: SqlType,
    /// PostgreSQL type.
    pub pg_type: PgType,
    /// Set when the report must list this column's mapping.
    pub note: Option<MappingNote>,
    /// Nullable.
    pub nullable: bool,
    /// `GENERATED BY DEFAULT AS IDENTITY` with this seed and increment.
    pub identity: Option<(i64, i64)>,
    /// The identity's sequence name, planned with the other relation names so that it
    /// cannot take a name a key or index needs (PostgreSQL would pick one by itself).
    pub identity_sequence: Option<String>,
    /// `GENERATED ALWAYS AS (expr) STORED`: PostgreSQL computes it; not sent by COPY.
    pub generated: Option<String>,
    /// For a computed column: whether SQL Server stored (persisted) its values; only then
    /// are they compared with PostgreSQL's.
    pub computed_persisted: bool,
}

impl ColumnPlan {
    /// True when COPY sends this column (generated columns are computed by PostgreSQL).
    pub fn copied(&self) -> bool {
        self.generated.is_none()
    }
    /// True when the checksums include this column: every column, except generated ones
    /// whose source values SQL Server did not store.
    pub fn compared(&self) -> bool {
        self.generated.is_none() || self.computed_persisted
    }
}

/// A table as it will be created.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TablePlan {
    /// Index of the table in [`Database::tables`].
    pub index: usize,
    /// SQL Server schema.
    pub source_schema: String,
    /// SQL Server table name.
    pub source_name: String,
    /// PostgreSQL schema.
    pub schema: String,
    /// PostgreSQL table name.
    pub name: String,
    /// Columns in source order.
    pub columns: Vec<ColumnPlan>,
}

impl TablePlan {
    /// `"schema"."name"` in PostgreSQL.
    pub fn qualified(&self) -> String {
        qualified(&self.schema, &self.name)
    }
    /// `schema.name` in SQL Server terms, for messages and the report.
    pub fn source_display(&self) -> String {
        format!("{}.{}", self.source_schema, self.source_name)
    }
    /// The plan of source column `source_name`: the exact name, else the only column
    /// equal to it ignoring case (SQL Server names are case-insensitive under the usual
    /// collations, and stored expressions may spell them differently).
    pub fn column(&self, source_name: &str) -> Option<&ColumnPlan> {
        self.columns.iter().find(|c| c.source_name == source_name).or_else(|| {
            let mut it = self.columns.iter().filter(|c| c.source_name.to_lowercase() == source_name.to_lowercase());
            match (it.next(), it.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        })
    }
}

/// Something in the source schema that was not translated, or only partly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Untranslated {
    /// `default`, `check`, `filter`, `computed`, `identity`, `index`, `primary_key`,
    /// `unique`, `foreign_key`.
    pub kind: String,
    /// `schema.table` in source names.
    pub table: String,
    /// Column or constraint/index name.
    pub object: String,
    /// The T-SQL definition, when there is one.
    pub definition: Option<String>,
    /// What was done instead (`not created`, `plain column with the stored values`, …).
    pub action: String,
    /// Why (a PostgreSQL error with its SQLSTATE, or what the translator did not know).
    pub reason: String,
}

/// Names and types of everything to create.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// PostgreSQL schemas to create (`public` excluded: it exists).
    pub schemas: Vec<String>,
    /// Tables in source order.
    pub tables: Vec<TablePlan>,
    /// Identifiers changed, and why.
    pub renames: Vec<Rename>,
    /// Column-level translations that fell back (computed columns, identities).
    pub untranslated: Vec<Untranslated>,
    /// Post-load names: per table index, PK/unique/index/FK/check source name → PG name.
    pub object_names: Vec<BTreeMap<String, String>>,
}

impl Plan {
    /// The plan of the table `schema.name` (source names).
    pub fn table(&self, schema: &str, name: &str) -> Option<&TablePlan> {
        self.tables.iter().find(|t| t.source_schema == schema && t.source_name == name)
    }
}

/// One column whose type has no mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnmappableColumn {
    /// `schema.table`.
    pub table: String,
    /// Column name.
    pub column: String,
    /// The T-SQL type name.
    pub sql_type: String,
}

/// Errors that stop planning: nothing has been written yet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// Columns whose types have no mapping (all of them, so one run lists everything).
    #[error(
        "{} columns have types without a PostgreSQL mapping (set load_unknown_as_bytea to load their raw bytes): {}",
        .0.len(),
        .0.iter().map(|c| format!("{}.{} {}", c.table, c.column, c.sql_type)).collect::<Vec<_>>().join(", ")
    )]
    Unmappable(Vec<UnmappableColumn>),
}

/// Column names PostgreSQL reserves for system columns.
const SYSTEM_COLUMNS: &[&str] = &["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// Computes the plan for `db`.
///
/// # Errors
/// [`PlanError::Unmappable`] listing every column of a type without a mapping.
pub fn plan(db: &Database, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let mut renames = Vec::new();
    let mut untranslated = Vec::new();
    let mut unmappable = Vec::new();
    // Table-level definitions the reader could not decode: the objects are not in the
    // model, so they are listed here (computed columns below, where their column is).
    for u in
        db.unreadable_definitions.iter().filter(|u| matches!(u.kind.as_str(), "check" | "default" | "index_filter"))
    {
        untranslated.push(Untranslated {
            kind: if u.kind == "index_filter" { "index".into() } else { u.kind.clone() },
            table: u.table.clone().unwrap_or_default(),
            object: u.object.clone(),
            definition: None,
            action: "not created".into(),
            reason: format!("its definition in the backup cannot be decoded: {}", u.reason),
        });
    }

    // Schemas: mapped names first (they are what the user asked for), then the others.
    let mut schema_ns = Namespace::default();
    for reserved in [OWN_SCHEMA, "information_schema", "pg_catalog", "pg_toast"] {
        schema_ns.reserve(reserved);
    }
    let mut schema_names: BTreeMap<String, String> = BTreeMap::new();
    let mut source_schemas: Vec<&str> = db.tables.iter().map(|t| t.schema.as_str()).collect();
    source_schemas.dedup();
    let mut seen = HashSet::new();
    source_schemas.retain(|s| seen.insert(*s));
    let mut claimed_targets: HashMap<String, String> = HashMap::new();
    for s in &source_schemas {
        let wanted = match opts.schema_map.get(*s) {
            Some(t) => t.clone(),
            None if *s == "dbo" => "public".to_string(),
            None => s.to_string(),
        };
        // Several source schemas may be mapped onto one target on purpose.
        if let Some(t) = claimed_targets.get(&wanted) {
            schema_names.insert(s.to_string(), t.clone());
            continue;
        }
        let wanted_safe = if wanted.starts_with("pg_") { format!("_{wanted}") } else { wanted.clone() };
        let name = schema_ns.claim(&wanted_safe, None, ObjectKind::Schema, "", &mut renames);
        if wanted_safe != wanted && name == wanted_safe {
            renames.push(Rename {
                kind: ObjectKind::Schema,
                scope: String::new(),
                source: wanted.clone(),
                target: name.clone(),
                reason: "names starting with pg_ are reserved by PostgreSQL".into(),
            });
        }
        claimed_targets.insert(wanted, name.clone());
        schema_names.insert(s.to_string(), name);
    }
    let mut schemas: Vec<String> = schema_names.values().filter(|s| *s != "public").cloned().collect();
    schemas.sort();
    schemas.dedup();

    // Relation namespace per PostgreSQL schema: tables first, then key/index names.
    let mut relations: HashMap<String, Namespace> = HashMap::new();
    let mut tables = Vec::with_capacity(db.tables.len());
    for (index, t) in db.tables.iter().enumerate() {
        let pg_schema = schema_names[&t.schema].clone();
        let ns = relations.entry(pg_schema.clone()).or_default();
        let scope = format!("{}.{}", t.schema, t.name);
        let name = ns.claim(&t.name, None, ObjectKind::Table, &scope, &mut renames);
        tables.push(TablePlan {
            index,
            source_schema: t.schema.clone(),
            source_name: t.name.clone(),
            schema: pg_schema,
            name,
            columns: Vec::new(),
        });
    }

    for (tp, t) in tables.iter_mut().zip(&db.tables) {
        let scope = tp.source_display();
        let mut cols_ns = Namespace::default();
        for sys in SYSTEM_COLUMNS {
            cols_ns.reserve(sys);
        }
        for c in &t.columns {
            let (pg_type, note) = match map_type(&c.ty, opts.load_unknown_as_bytea) {
                Ok(x) => x,
                Err(e) => {
                    unmappable.push(UnmappableColumn {
                        table: scope.clone(),
                        column: c.name.clone(),
                        sql_type: e.sql_type,
                    });
                    (PgType::Bytea, None)
                }
            };
            let wanted =
                if SYSTEM_COLUMNS.contains(&c.name.as_str()) { format!("{}_", c.name) } else { c.name.clone() };
            let name = cols_ns.claim(&wanted, None, ObjectKind::Column, &scope, &mut renames);
            if wanted != c.name && name == wanted {
                renames.push(Rename {
                    kind: ObjectKind::Column,
                    scope: scope.clone(),
                    source: c.name.clone(),
                    target: name.clone(),
                    reason: "PostgreSQL system column name".into(),
                });
            }
            let mut identity = None;
            if let Some(id) = c.identity {
                let range = pg_type.integer_range();
                match (range, i64::try_from(id.seed), i64::try_from(id.increment)) {
                    (Some((lo, hi)), Ok(seed), Ok(inc)) if seed >= lo && seed <= hi && inc != 0 => {
                        identity = Some((seed, inc))
                    }
                    _ => untranslated.push(Untranslated {
                        kind: "identity".into(),
                        table: scope.clone(),
                        object: c.name.clone(),
                        definition: Some(format!("IDENTITY({},{}) on {}", id.seed, id.increment, c.ty)),
                        action: "plain column without identity".into(),
                        reason: "PostgreSQL identities need smallint/integer/bigint and a seed within the type".into(),
                    }),
                }
            }
            tp.columns.push(ColumnPlan {
                source_name: c.name.clone(),
                name,
                sql_type: c.ty.clone(),
                pg_type,
                note,
                nullable: c.nullable,
                identity,
                identity_sequence: None,
                generated: None,
                computed_persisted: c.computed.as_ref().is_some_and(|x| x.persisted),
            });
        }
        // Computed columns, once every column has its PostgreSQL name.
        for (i, c) in t.columns.iter().enumerate() {
            let Some(comp) = &c.computed else { continue };
            let unreadable = db
                .unreadable_definitions
                .iter()
                .find(|u| u.kind == "computed" && u.object == c.name && u.table.as_deref() == Some(scope.as_str()));
            let translated = match unreadable {
                Some(u) => Err(format!("its definition in the backup cannot be decoded: {}", u.reason)),
                None => translate_expr(&comp.definition, tp, ExprContext::Computed),
            };
            match translated {
                Ok(expr) => tp.columns[i].generated = Some(expr),
                Err(reason) => untranslated.push(Untranslated {
                    kind: "computed".into(),
                    table: scope.clone(),
                    object: c.name.clone(),
                    definition: Some(comp.definition.clone()),
                    action: if comp.persisted {
                        "plain column holding SQL Server's stored values".into()
                    } else {
                        "plain column holding the values the source provided".into()
                    },
                    reason,
                }),
            }
        }
    }

    if !unmappable.is_empty() {
        return Err(PlanError::Unmappable(unmappable));
    }

    // Key, index and constraint names.
    let mut object_names = Vec::with_capacity(tables.len());
    for (tp, t) in tables.iter().zip(&db.tables) {
        let scope = tp.source_display();
        let ns = relations.get_mut(&tp.schema).expect("schema namespace");
        let mut names = BTreeMap::new();
        let mut con_ns = Namespace::default();
        let keys = t.primary_key.iter().chain(&t.unique_constraints);
        for k in keys {
            let n = ns.claim(&k.name, Some(&tp.name), ObjectKind::KeyConstraint, &scope, &mut renames);
            con_ns.reserve(&n);
            names.insert(k.name.clone(), n);
        }
        for ix in &t.indexes {
            let n = ns.claim(&ix.name, Some(&tp.name), ObjectKind::Index, &scope, &mut renames);
            names.insert(ix.name.clone(), n);
        }
        for fk in &t.foreign_keys {
            let n = con_ns.claim(&fk.name, None, ObjectKind::ForeignKey, &scope, &mut renames);
            names.insert(fk.name.clone(), n);
        }
        for ck in &t.check_constraints {
            let n = con_ns.claim(&ck.name, None, ObjectKind::Check, &scope, &mut renames);
            names.insert(ck.name.clone(), n);
        }
        object_names.push(names);
    }

    // Identity sequences last: source names keep priority over the ones we invent.
    for tp in &mut tables {
        let ns = relations.get_mut(&tp.schema).expect("schema namespace");
        for c in tp.columns.iter_mut().filter(|c| c.identity.is_some()) {
            let wanted = format!("{}_{}_seq", tp.name, c.name);
            c.identity_sequence = Some(ns.claim(&wanted, None, ObjectKind::Index, "", &mut Vec::new()));
        }
    }

    Ok(Plan { schemas, tables, renames, untranslated, object_names })
}

/// `CREATE SCHEMA` statements for the plan's schemas.
pub fn create_schema_statements(plan: &Plan) -> Vec<String> {
    plan.schemas.iter().map(|s| format!("CREATE SCHEMA {}", quote_ident(s))).collect()
}

/// The `CREATE TABLE` statement of a table: columns, types, NOT NULL, identity and
/// generated columns. Keys, defaults and constraints come after the data.
pub fn create_table_statement(t: &TablePlan) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut s = format!("{} {}", quote_ident(&c.name), c.pg_type.sql());
            if let Some(expr) = &c.generated {
                s.push_str(&format!(" GENERATED ALWAYS AS ({expr}) STORED"));
            }
            if !c.nullable {
                s.push_str(" NOT NULL");
            }
            if let Some((seed, inc)) = c.identity {
                let (lo, hi) = c.pg_type.integer_range().expect("identity on an integer type");
                let seq = c
                    .identity_sequence
                    .as_ref()
                    .map(|n| format!("SEQUENCE NAME {} ", qualified(&t.schema, n)))
                    .unwrap_or_default();
                s.push_str(&format!(
                    " GENERATED BY DEFAULT AS IDENTITY ({seq}START WITH {seed} INCREMENT BY {inc} MINVALUE {lo} MAXVALUE {hi})"
                ));
            }
            s
        })
        .collect();
    format!("CREATE TABLE {} (\n    {}\n)", t.qualified(), cols.join(",\n    "))
}

/// How a post-load statement's failure is handled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnFailure {
    /// Stop the migration (keys and indexes: the data would not match its schema).
    Fail,
    /// Report and go on (defaults, filtered indexes, CHECKs PostgreSQL rejects).
    Report,
    /// A constraint SQL Server trusted (enabled, `is_not_trusted` = 0): it held on every
    /// row SQL Server had, so on this SQLSTATE (existing rows violate it) the rows read
    /// are suspect. `violators` is then run: it returns one violating row's key as text
    /// (`(10248,268435459)`) under SQL Server's comparison rules. A row found fails the
    /// migration naming it; none found means only PostgreSQL's stricter comparison
    /// objects (case, trailing spaces of a string key), so `retry` (the NOT VALID
    /// variant) runs and the difference is reported. Other errors are reported.
    FailIfViolated {
        /// SQLSTATE of a violation by existing rows (`23503`, `23514`).
        sqlstate: String,
        /// `SELECT <key>::text … LIMIT 1`: a row violating the constraint.
        violators: String,
        /// The NOT VALID variant.
        retry: String,
    },
}

/// One post-load statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostStatement {
    /// Index of the table in the plan.
    pub table: usize,
    /// `primary_key`, `unique`, `index`, `foreign_key`, `check`, `default`.
    pub kind: String,
    /// The source object (constraint, index or column name).
    pub object: String,
    /// The T-SQL definition the statement translates, for the report.
    pub definition: Option<String>,
    /// The SQL.
    pub sql: String,
    /// Failure handling.
    pub on_failure: OnFailure,
}

/// Statements to run after the data is loaded, in order: defaults, primary keys, unique
/// constraints, indexes, then foreign keys (which need the referenced keys) and CHECKs.
/// Objects that cannot be expressed are returned as [`Untranslated`].
///
/// `server_version_num` (e.g. 150004) enables `NULLS NOT DISTINCT` on PostgreSQL 15+,
/// which matches SQL Server's unique semantics (one NULL at most).
pub fn post_load_statements(
    db: &Database,
    plan: &Plan,
    server_version_num: i32,
) -> (Vec<PostStatement>, Vec<Untranslated>) {
    let mut out = Vec::new();
    let mut untranslated = Vec::new();
    let nulls_not_distinct = server_version_num >= 150_000;
    for (ti, (tp, t)) in plan.tables.iter().zip(&db.tables).enumerate() {
        let names = &plan.object_names[ti];
        let scope = tp.source_display();
        let qt = tp.qualified();
        let mut skip = |kind: &str, object: &str, definition: Option<String>, action: &str, reason: String| {
            untranslated.push(Untranslated {
                kind: kind.into(),
                table: scope.clone(),
                object: object.into(),
                definition,
                action: action.into(),
                reason,
            })
        };

        for (ci, c) in t.columns.iter().enumerate() {
            let Some(d) = &c.default else { continue };
            let cp = &tp.columns[ci];
            if cp.generated.is_some() {
                continue;
            }
            match translate_default(&d.definition, &cp.pg_type, tp) {
                Ok(expr) => out.push(PostStatement {
                    table: ti,
                    kind: "default".into(),
                    object: c.name.clone(),
                    definition: Some(d.definition.clone()),
                    sql: format!("ALTER TABLE {qt} ALTER COLUMN {} SET DEFAULT {expr}", quote_ident(&cp.name)),
                    on_failure: OnFailure::Report,
                }),
                Err(reason) => skip("default", &c.name, Some(d.definition.clone()), "no default", reason),
            }
        }

        let key_cols = |k: &KeyConstraint| -> Result<(Vec<String>, bool, bool), String> {
            let mut cols = Vec::new();
            let mut desc = false;
            let mut nullable = false;
            for ic in &k.columns {
                let cp = tp.column(&ic.name).ok_or_else(|| format!("unknown column {}", ic.name))?;
                cols.push(quote_ident(&cp.name));
                desc |= ic.descending;
                nullable |= cp.nullable;
            }
            Ok((cols, desc, nullable))
        };
        if let Some(pk) = &t.primary_key {
            match key_cols(pk) {
                Ok((cols, desc, _)) => {
                    if desc {
                        skip(
                            "primary_key",
                            &pk.name,
                            None,
                            "created with ascending key order",
                            "PostgreSQL constraints have no DESC key columns".into(),
                        );
                    }
                    out.push(PostStatement {
                        table: ti,
                        kind: "primary_key".into(),
                        object: pk.name.clone(),
                        definition: None,
                        sql: format!(
                            "ALTER TABLE {qt} ADD CONSTRAINT {} PRIMARY KEY ({})",
                            quote_ident(&names[&pk.name]),
                            cols.join(", ")
                        ),
                        on_failure: OnFailure::Fail,
                    })
                }
                Err(e) => skip("primary_key", &pk.name, None, "not created", e),
            }
        }
        for uq in &t.unique_constraints {
            match key_cols(uq) {
                Ok((cols, desc, nullable)) => {
                    if desc {
                        skip(
                            "unique",
                            &uq.name,
                            None,
                            "created with ascending key order",
                            "PostgreSQL constraints have no DESC key columns".into(),
                        );
                    }
                    let nnd = if nullable && nulls_not_distinct { " NULLS NOT DISTINCT" } else { "" };
                    out.push(PostStatement {
                        table: ti,
                        kind: "unique".into(),
                        object: uq.name.clone(),
                        definition: None,
                        sql: format!(
                            "ALTER TABLE {qt} ADD CONSTRAINT {} UNIQUE{nnd} ({})",
                            quote_ident(&names[&uq.name]),
                            cols.join(", ")
                        ),
                        on_failure: OnFailure::Fail,
                    })
                }
                Err(e) => skip("unique", &uq.name, None, "not created", e),
            }
        }
        for ix in &t.indexes {
            match index_statement(ix, tp, &qt, &names[&ix.name], nulls_not_distinct) {
                Ok((sql, on_failure)) => out.push(PostStatement {
                    table: ti,
                    kind: "index".into(),
                    object: ix.name.clone(),
                    definition: ix.filter.clone(),
                    sql,
                    on_failure,
                }),
                Err(reason) => skip("index", &ix.name, ix.filter.clone(), "not created", reason),
            }
        }
    }

    // Foreign keys and checks last, once every referenced key exists.
    for (ti, (tp, t)) in plan.tables.iter().zip(&db.tables).enumerate() {
        let names = &plan.object_names[ti];
        let scope = tp.source_display();
        let qt = tp.qualified();
        for fk in &t.foreign_keys {
            let res = (|| -> Result<(String, String), String> {
                let rt = plan.table(&fk.referenced_schema, &fk.referenced_table).ok_or_else(|| {
                    format!("referenced table {}.{} is not migrated", fk.referenced_schema, fk.referenced_table)
                })?;
                let cols = fk
                    .columns
                    .iter()
                    .map(|c| tp.column(c).map(|c| quote_ident(&c.name)).ok_or_else(|| format!("unknown column {c}")))
                    .collect::<Result<Vec<_>, _>>()?;
                let rcols = fk
                    .referenced_columns
                    .iter()
                    .map(|c| rt.column(c).map(|c| quote_ident(&c.name)).ok_or_else(|| format!("unknown column {c}")))
                    .collect::<Result<Vec<_>, _>>()?;
                let sql = format!(
                    "ALTER TABLE {qt} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({}) ON DELETE {} ON UPDATE {}",
                    quote_ident(&names[&fk.name]),
                    cols.join(", "),
                    rt.qualified(),
                    rcols.join(", "),
                    fk_action(fk.on_delete),
                    fk_action(fk.on_update)
                );
                Ok((sql, fk_violators(t, fk, &qt, &cols, &rt.qualified(), &rcols)))
            })();
            match res {
                Ok((sql, violators)) => {
                    let not_valid = fk.disabled || fk.not_trusted;
                    if let Some(reason) = untrusted_reason(fk.disabled, fk.not_trusted) {
                        untranslated.push(Untranslated {
                            kind: "foreign_key".into(),
                            table: scope.clone(),
                            object: fk.name.clone(),
                            definition: None,
                            action: "created NOT VALID (enforced for new rows)".into(),
                            reason: reason.into(),
                        });
                    }
                    out.push(PostStatement {
                        table: ti,
                        kind: "foreign_key".into(),
                        object: fk.name.clone(),
                        definition: None,
                        // A foreign key PostgreSQL refuses (no matching unique index on the
                        // referenced side…) is reported; the data itself is complete.
                        on_failure: if not_valid {
                            OnFailure::Report
                        } else {
                            OnFailure::FailIfViolated {
                                sqlstate: "23503".into(),
                                violators,
                                retry: format!("{sql} NOT VALID"),
                            }
                        },
                        sql: if not_valid { format!("{sql} NOT VALID") } else { sql },
                    })
                }
                Err(reason) => untranslated.push(Untranslated {
                    kind: "foreign_key".into(),
                    table: scope.clone(),
                    object: fk.name.clone(),
                    definition: None,
                    action: "not created".into(),
                    reason,
                }),
            }
        }
        for ck in &t.check_constraints {
            match translate_expr(&ck.definition, tp, ExprContext::Check) {
                Ok(expr) => {
                    let sql =
                        format!("ALTER TABLE {qt} ADD CONSTRAINT {} CHECK ({expr})", quote_ident(&names[&ck.name]));
                    let not_valid = ck.disabled || ck.not_trusted;
                    if let Some(reason) = untrusted_reason(ck.disabled, ck.not_trusted) {
                        untranslated.push(Untranslated {
                            kind: "check".into(),
                            table: scope.clone(),
                            object: ck.name.clone(),
                            definition: Some(ck.definition.clone()),
                            action: "created NOT VALID (enforced for new rows)".into(),
                            reason: reason.into(),
                        });
                    }
                    out.push(PostStatement {
                        table: ti,
                        kind: "check".into(),
                        object: ck.name.clone(),
                        definition: Some(ck.definition.clone()),
                        on_failure: if not_valid {
                            OnFailure::Report
                        } else {
                            OnFailure::FailIfViolated {
                                sqlstate: "23514".into(),
                                violators: format!(
                                    "SELECT left({}::text, 200) FROM {qt} AS c WHERE NOT ({expr}) LIMIT 1",
                                    row_key(t, tp)
                                ),
                                retry: format!("{sql} NOT VALID"),
                            }
                        },
                        sql: if not_valid { format!("{sql} NOT VALID") } else { sql },
                    })
                }
                Err(reason) => untranslated.push(Untranslated {
                    kind: "check".into(),
                    table: scope.clone(),
                    object: ck.name.clone(),
                    definition: Some(ck.definition.clone()),
                    action: "not created".into(),
                    reason,
                }),
            }
        }
    }
    (out, untranslated)
}

/// Why a constraint SQL Server did not trust is created NOT VALID (`None` when trusted).
fn untrusted_reason(disabled: bool, not_trusted: bool) -> Option<&'static str> {
    if disabled {
        Some("disabled (NOCHECK) in SQL Server; PostgreSQL cannot disable a constraint")
    } else if not_trusted {
        Some("not trusted in SQL Server (added or re-enabled WITH NOCHECK): the rows it held were never checked")
    } else {
        None
    }
}

/// A row's key for messages, as a SQL expression over alias `c`: its primary key
/// columns, else the whole row.
fn row_key(t: &Table, tp: &TablePlan) -> String {
    let pk: Option<Vec<String>> = t.primary_key.as_ref().and_then(|pk| {
        pk.columns.iter().map(|k| tp.column(&k.name).map(|c| format!("c.{}", quote_ident(&c.name)))).collect()
    });
    match pk {
        Some(cols) if !cols.is_empty() => format!("row({})", cols.join(", ")),
        _ => "c".into(),
    }
}

/// `SELECT` of one row of `t` (alias `c`) whose foreign key `fk` has no match in the
/// referenced table (alias `p`) under SQL Server's comparison rules, as the referencing
/// columns' values (`(268435459)`). Rows with a NULL in the key are not checked (MATCH
/// SIMPLE, in both systems). Character keys compare as SQL Server compares them:
/// trailing spaces ignored (ANSI padding) and, under a case-insensitive (or unknown)
/// collation, case too; accent- and width-insensitivity are not modelled (such a key
/// fails loudly rather than passing wrongly).
fn fk_violators(t: &Table, fk: &ForeignKey, qt: &str, cols: &[String], rqt: &str, rcols: &[String]) -> String {
    let pairs: Vec<String> = fk
        .columns
        .iter()
        .zip(cols.iter().zip(rcols))
        .map(|(name, (c, r))| match t.column(name).and_then(|col| col.ty.collation()) {
            None => format!("p.{r} = c.{c}"),
            Some(coll) => {
                // An id this reader cannot take apart compares case-insensitively here:
                // the lenient side only turns a violation into a reported NOT VALID.
                let ci = mssql_backup::CollationParts::parse(coll.id).map_or(true, |p| !p.case_sensitive);
                let f = |side: &str, col: &str| {
                    let trimmed = format!("rtrim({side}.{col}::text)");
                    if ci { format!("lower({trimmed})") } else { trimmed }
                };
                format!("{} = {}", f("p", r), f("c", c))
            }
        })
        .collect();
    let not_null: Vec<String> = cols.iter().map(|c| format!("c.{c} IS NOT NULL")).collect();
    let key: Vec<String> = cols.iter().map(|c| format!("c.{c}")).collect();
    format!(
        "SELECT left(row({})::text, 200) FROM {qt} AS c WHERE {} AND NOT EXISTS (SELECT 1 FROM {rqt} AS p WHERE {}) LIMIT 1",
        key.join(", "),
        not_null.join(" AND "),
        pairs.join(" AND ")
    )
}

fn fk_action(a: FkAction) -> &'static str {
    match a {
        FkAction::NoAction => "NO ACTION",
        FkAction::Cascade => "CASCADE",
        FkAction::SetNull => "SET NULL",
        FkAction::SetDefault => "SET DEFAULT",
    }
}

fn index_statement(
    ix: &Index,
    tp: &TablePlan,
    qt: &str,
    name: &str,
    nulls_not_distinct: bool,
) -> Result<(String, OnFailure), String> {
    match ix.kind {
        IndexKind::Clustered | IndexKind::NonClustered => {}
        IndexKind::ClusteredColumnstore | IndexKind::NonClusteredColumnstore => {
            return Err("columnstore indexes have no PostgreSQL equivalent".into());
        }
        IndexKind::Other => return Err("XML, spatial, full-text and hash indexes are not translated".into()),
    }
    if ix.disabled {
        return Err("disabled in SQL Server".into());
    }
    let mut keys = Vec::new();
    let mut include = Vec::new();
    let mut nullable = false;
    for ic in &ix.columns {
        let cp = tp.column(&ic.name).ok_or_else(|| format!("unknown column {}", ic.name))?;
        if ic.included {
            include.push(quote_ident(&cp.name));
        } else {
            nullable |= cp.nullable;
            keys.push(format!("{}{}", quote_ident(&cp.name), if ic.descending { " DESC" } else { "" }));
        }
    }
    if keys.is_empty() {
        return Err("no key columns".into());
    }
    let mut sql = format!(
        "CREATE {}INDEX {} ON {qt} ({})",
        if ix.unique { "UNIQUE " } else { "" },
        quote_ident(name),
        keys.join(", ")
    );
    if !include.is_empty() {
        sql.push_str(&format!(" INCLUDE ({})", include.join(", ")));
    }
    if ix.unique && nullable && nulls_not_distinct && ix.filter.is_none() {
        sql.push_str(" NULLS NOT DISTINCT");
    }
    // A unique index is part of the data's contract: failing to create it stops the run.
    // A plain index only serves queries: a failure (a key too large for a btree…) is
    // reported and the run goes on.
    let mut on_failure = if ix.unique { OnFailure::Fail } else { OnFailure::Report };
    if let Some(f) = &ix.filter {
        let pred = translate_expr(f, tp, ExprContext::Filter).map_err(|e| format!("filter not translated: {e}"))?;
        sql.push_str(&format!(" WHERE {pred}"));
        // A predicate PostgreSQL refuses is reported, not fatal: the rest stands.
        on_failure = OnFailure::Report;
    }
    Ok((sql, on_failure))
}

/// Where a T-SQL expression is used; decides what may be translated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExprContext {
    /// A CHECK predicate.
    Check,
    /// A filtered index predicate (PostgreSQL requires IMMUTABLE functions).
    Filter,
    /// A computed column: only arithmetic (+ - *) over numeric columns and constants, so
    /// that PostgreSQL computes exactly what SQL Server stored.
    Computed,
    /// A column default.
    Default,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Word(String),
    Str(String),
    Num(String),
    Hex(String),
    Op(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i];
        match c {
            _ if c.is_whitespace() => i += 1,
            '[' => {
                let mut name = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated [identifier]".into()),
                        Some(']') if b.get(i + 1) == Some(&']') => {
                            name.push(']');
                            i += 2;
                        }
                        Some(']') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            name.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Ident(name));
            }
            '\'' | 'N' | 'n' if c == '\'' || b.get(i + 1) == Some(&'\'') => {
                if c != '\'' {
                    i += 1;
                }
                let mut v = String::new();
                i += 1;
                loop {
                    match b.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\'') if b.get(i + 1) == Some(&'\'') => {
                            v.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(v));
            }
            '0' if matches!(b.get(i + 1), Some('x' | 'X')) => {
                let mut j = i + 2;
                while j < b.len() && b[j].is_ascii_hexdigit() {
                    j += 1;
                }
                out.push(Tok::Hex(b[i + 2..j].iter().collect()));
                i = j;
            }
            '0'..='9' | '.' => {
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == '.') {
                    j += 1;
                }
                if j < b.len() && matches!(b[j], 'e' | 'E') {
                    j += 1;
                    if j < b.len() && matches!(b[j], '+' | '-') {
                        j += 1;
                    }
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                }
                let n: String = b[i..j].iter().collect();
                if n == "." || n.matches('.').count() > 1 {
                    return Err(format!("bad number {n}"));
                }
                out.push(Tok::Num(n));
                i = j;
            }
            '(' => {
                out.push(Tok::LParen);
                i += 1
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1
            }
            '<' | '>' | '!' | '=' => {
                let two: String = b[i..(i + 2).min(b.len())].iter().collect();
                if matches!(two.as_str(), "<=" | ">=" | "<>" | "!=") {
                    out.push(Tok::Op(two));
                    i += 2;
                } else if c == '!' {
                    return Err(format!("operator {two} is not translated"));
                } else {
                    out.push(Tok::Op(c.to_string()));
                    i += 1;
                }
            }
            '+' | '-' | '*' | '/' | '%' => {
                out.push(Tok::Op(c.to_string()));
                i += 1
            }
            _ if c.is_alphabetic() || c == '_' || c == '@' || c == '#' => {
                let mut j = i;
                while j < b.len() && (b[j].is_alphanumeric() || matches!(b[j], '_' | '@' | '#' | '$')) {
                    j += 1;
                }
                out.push(Tok::Word(b[i..j].iter().collect()));
                i = j;
            }
            _ => return Err(format!("unexpected character {c:?}")),
        }
    }
    Ok(out)
}

/// Functions and niladic keywords we translate, by lower-case T-SQL name.
fn translate_function(name: &str, ctx: ExprContext) -> Option<&'static str> {
    let volatile_ok = matches!(ctx, ExprContext::Default | ExprContext::Check);
    let f = match name {
        "getdate" | "sysdatetime" | "current_timestamp" | "sysdatetimeoffset" => "CURRENT_TIMESTAMP",
        "getutcdate" | "sysutcdatetime" => "(now() AT TIME ZONE 'utc')",
        "newid" | "newsequentialid" => "gen_random_uuid()",
        "suser_sname" | "user_name" | "suser_name" | "current_user" | "session_user" | "system_user" | "user" => {
            "CURRENT_USER"
        }
        _ => return None,
    };
    // now(), CURRENT_TIMESTAMP, gen_random_uuid() are not IMMUTABLE; a partial index or
    // a generated column cannot use them.
    volatile_ok.then_some(f)
}

/// Scalar functions with arguments translated one for one in CHECKs, filters and
/// defaults (all IMMUTABLE in PostgreSQL, so partial indexes may use them): the opening
/// text replacing `name(`, and what to add after the call's closing parenthesis.
/// `len` ignores trailing blanks in SQL Server, hence `length(rtrim(…))`.
fn scalar_function(name: &str) -> Option<(&'static str, &'static str)> {
    Some(match name {
        "upper" => ("upper(", ""),
        "lower" => ("lower(", ""),
        "ltrim" => ("ltrim(", ""),
        "rtrim" => ("rtrim(", ""),
        "abs" => ("abs(", ""),
        "isnull" => ("coalesce(", ""),
        "len" => ("length(rtrim(", ")"),
        _ => return None,
    })
}

/// Translates a T-SQL expression (as SQL Server stores it in the catalog) into
/// PostgreSQL, or says why not.
///
/// Translated: bracketed column names of `table` (a `bit` column becomes
/// `("col")::integer` so comparisons with 0/1 keep working), numeric constants, `'…'` and
/// `N'…'` strings, `0x…` binary constants, parentheses, comparison operators,
/// `AND`/`OR`/`NOT`/`IS [NOT] NULL`/`IN`/`BETWEEN`/`LIKE` (patterns without `[`), the
/// arithmetic operators, the scalar functions of `scalar_function` (`upper`, `lower`,
/// `ltrim`, `rtrim`, `abs`, `isnull` → `coalesce`, `len` → `length(rtrim(…))`) outside
/// computed columns, and the niladic functions of [`translate_default`] where the
/// context allows volatile functions. Everything else is refused with a reason.
///
/// # Errors
/// The reason, as text for the report.
pub fn translate_expr(def: &str, table: &TablePlan, ctx: ExprContext) -> Result<String, String> {
    let toks = tokenize(def)?;
    let mut out = String::new();
    let mut has_string = false;
    let mut has_plus = false;
    let mut i = 0;
    // Parenthesis depth, and the depths at which a call we opened with extra parentheses
    // (`len(` → `length(rtrim(`) must close them.
    let mut depth = 0usize;
    let mut extra_close: Vec<(usize, &'static str)> = Vec::new();
    let push = |out: &mut String, s: &str| {
        if !out.is_empty() && !out.ends_with('(') && s != ")" && s != "," {
            out.push(' ');
        }
        out.push_str(s);
    };
    while i < toks.len() {
        match &toks[i] {
            Tok::Ident(n) => {
                let c = table.column(n).ok_or_else(|| format!("unknown column [{n}]"))?;
                if ctx == ExprContext::Computed {
                    if !matches!(
                        c.pg_type,
                        PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Numeric { .. }
                    ) {
                        return Err(format!("computed over a {} column", c.sql_type));
                    }
                    if c.generated.is_some() {
                        return Err("refers to another computed column".into());
                    }
                }
                if ctx == ExprContext::Default {
                    return Err("a default cannot refer to a column".into());
                }
                match c.pg_type {
                    PgType::Boolean => push(&mut out, &format!("({})::integer", quote_ident(&c.name))),
                    PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text => {
                        has_string = true;
                        push(&mut out, &quote_ident(&c.name))
                    }
                    _ => push(&mut out, &quote_ident(&c.name)),
                }
            }
            Tok::Str(s) => {
                if ctx == ExprContext::Computed {
                    return Err("string operations are not translated".into());
                }
                has_string = true;
                push(&mut out, &quote_literal(s));
            }
            Tok::Num(n) => push(&mut out, n),
            Tok::Hex(h) => {
                if ctx == ExprContext::Computed {
                    return Err("binary constants are not translated".into());
                }
                push(&mut out, &hex_literal(h));
            }
            Tok::LParen => {
                depth += 1;
                push(&mut out, "(")
            }
            Tok::RParen => {
                if depth == 0 {
                    return Err("unbalanced parentheses".into());
                }
                push(&mut out, ")");
                if extra_close.last().is_some_and(|(d, _)| *d == depth) {
                    out.push_str(extra_close.pop().expect("checked").1);
                }
                depth -= 1;
            }
            Tok::Comma => push(&mut out, ","),
            Tok::Op(o) => {
                if ctx == ExprContext::Computed && !matches!(o.as_str(), "+" | "-" | "*") {
                    return Err(format!("operator {o} is not translated in computed columns"));
                }
                has_plus |= o == "+";
                push(&mut out, o)
            }
            Tok::Word(w) => {
                let lw = w.to_ascii_lowercase();
                let is_call = toks.get(i + 1) == Some(&Tok::LParen) && toks.get(i + 2) == Some(&Tok::RParen);
                if ctx == ExprContext::Computed {
                    return Err(format!("{w} is not translated in computed columns"));
                }
                match lw.as_str() {
                    "and" | "or" | "not" | "is" | "null" | "in" | "between" => push(&mut out, &lw.to_uppercase()),
                    "like" => {
                        if let Some(Tok::Str(p)) = toks.get(i + 1)
                            && !p.contains('[')
                        {
                            push(&mut out, "LIKE")
                        } else {
                            return Err("LIKE with a [ ] pattern or a non-constant pattern".into());
                        }
                    }
                    _ if toks.get(i + 1) == Some(&Tok::LParen) && scalar_function(&lw).is_some() => {
                        // A function with arguments, translated one for one; its arguments
                        // go through this same loop.
                        let (open, close) = scalar_function(&lw).expect("checked");
                        push(&mut out, open);
                        depth += 1;
                        if !close.is_empty() {
                            extra_close.push((depth, close));
                        }
                        i += 1;
                    }
                    _ => {
                        let niladic = matches!(
                            lw.as_str(),
                            "current_timestamp" | "current_user" | "session_user" | "system_user" | "user"
                        );
                        if !(is_call || niladic) {
                            return Err(format!("{w} is not translated"));
                        }
                        let f =
                            translate_function(&lw, ctx).ok_or_else(|| format!("function {w} is not translated"))?;
                        push(&mut out, f);
                        if is_call {
                            i += 2;
                        }
                    }
                }
            }
        }
        i += 1;
    }
    if depth != 0 {
        return Err("unbalanced parentheses".into());
    }
    if has_string && has_plus {
        return Err("+ on strings (concatenation) is not translated".into());
    }
    if out.is_empty() {
        return Err("empty expression".into());
    }
    Ok(out)
}

/// A T-SQL `0x…` constant as PostgreSQL `bytea`, without backslashes (so that it means
/// the same whatever `standard_conforming_strings` is); SQL Server reads an odd number of
/// digits with a leading 0.
fn hex_literal(h: &str) -> String {
    let pad = if h.len() % 2 == 1 { "0" } else { "" };
    format!("decode('{pad}{}', 'hex')", h.to_ascii_lowercase())
}

/// Removes redundant outer parentheses: `((0))` → `0`.
fn strip_parens(s: &str) -> &str {
    let mut s = s.trim();
    loop {
        if !(s.starts_with('(') && s.ends_with(')')) {
            return s;
        }
        // The first ( must close at the very end.
        let mut depth = 0i32;
        let mut in_str = false;
        let mut closes_at_end = true;
        let chars: Vec<(usize, char)> = s.char_indices().collect();
        for (k, &(_, ch)) in chars.iter().enumerate() {
            match ch {
                '\'' => in_str = !in_str,
                '(' if !in_str => depth += 1,
                ')' if !in_str => {
                    depth -= 1;
                    if depth == 0 && k != chars.len() - 1 {
                        closes_at_end = false;
                        break;
                    }
                }
                _ => {}
            }
        }
        if !closes_at_end {
            return s;
        }
        s = s[1..s.len() - 1].trim();
    }
}

/// Translates a column DEFAULT for a column of PostgreSQL type `ty`.
///
/// Constants (numbers, `'…'`, `N'…'`, `0x…`, with any nesting of parentheses) are kept,
/// `bit` defaults `(0)`/`(1)` become `false`/`true`, and the functions of the module
/// docs (`getdate()` → `CURRENT_TIMESTAMP`, `getutcdate()` → `(now() AT TIME ZONE
/// 'utc')`, `newid()` → `gen_random_uuid()`, `suser_sname()` → `CURRENT_USER`, …) are
/// translated; other expressions go through [`translate_expr`].
///
/// # Errors
/// Why the default was not translated.
pub fn translate_default(def: &str, ty: &PgType, table: &TablePlan) -> Result<String, String> {
    let inner = strip_parens(def);
    if *ty == PgType::Boolean {
        let v = strip_parens(inner.trim_start_matches('N').trim_matches('\''));
        return match v.to_ascii_lowercase().as_str() {
            "0" | "false" => Ok("false".into()),
            "1" | "true" => Ok("true".into()),
            _ => Err(format!("bit default {def} is not 0 or 1")),
        };
    }
    // A signed number: `-1`, `(-1)`, `-(1)`.
    let toks = tokenize(inner)?;
    let numeric = matches!(toks.as_slice(), [Tok::Num(_)] | [Tok::Op(_), Tok::Num(_)])
        || matches!(toks.as_slice(), [Tok::Op(_), Tok::LParen, Tok::Num(_), Tok::RParen]);
    if numeric {
        let sign = matches!(toks.first(), Some(Tok::Op(o)) if o == "-");
        let n = toks.iter().find_map(|t| if let Tok::Num(n) = t { Some(n.clone()) } else { None }).unwrap_or_default();
        if matches!(toks.first(), Some(Tok::Op(o)) if o != "-" && o != "+") {
            return Err(format!("default {def} is not translated"));
        }
        return Ok(if sign { format!("-{n}") } else { n });
    }
    if let [Tok::Hex(h)] = toks.as_slice() {
        return Ok(hex_literal(h));
    }
    translate_expr(inner, table, ExprContext::Default)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> TablePlan {
        let col = |n: &str, t: PgType| ColumnPlan {
            source_name: n.into(),
            name: n.into(),
            sql_type: SqlType::Int,
            pg_type: t,
            note: None,
            nullable: true,
            identity: None,
            identity_sequence: None,
            generated: None,
            computed_persisted: false,
        };
        TablePlan {
            index: 0,
            source_schema: "dbo".into(),
            source_name: "T".into(),
            schema: "public".into(),
            name: "T".into(),
            columns: vec![
                col("Qty", PgType::Integer),
                col("Price", PgType::Numeric { precision: 19, scale: 4 }),
                col("Active", PgType::Boolean),
                col("Name", PgType::VarChar { len: 10 }),
            ],
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident(r#"a"b"#), r#""a""b""#);
        assert_eq!(quote_literal("it's"), "'it''s'");
        assert_eq!(quote_literal(r"a\b"), r"E'a\\b'");
    }

    #[test]
    fn long_names_fit_deterministically() {
        let long = "x".repeat(100);
        let a = fit_identifier(&long);
        assert!(a.len() <= 63);
        assert_eq!(a, fit_identifier(&long));
        assert_ne!(a, fit_identifier(&format!("{long}y")));
        let multibyte = "é".repeat(40);
        assert!(fit_identifier(&multibyte).len() <= 63);
    }

    #[test]
    fn collisions_after_mapping_and_truncation_are_renamed() {
        use crate::schema::*;
        let coll = mssql_backup::Collation { id: 0, name: None, code_page: 1252 };
        let column = |n: &str| Column {
            column_id: 1,
            name: n.into(),
            ty: SqlType::VarChar { len: Some(5), collation: coll.clone() },
            nullable: true,
            identity: None,
            computed: None,
            default: None,
            rowguidcol: false,
            sparse: false,
        };
        let long = "t".repeat(70);
        let table = |schema: &str, name: &str, cols: Vec<Column>| Table::heap(1, schema, name, cols);
        let db = Database {
            name: "d".into(),
            collation: None,
            tables: vec![
                table("dbo", "T", vec![column(&long), column(&format!("{long}x"))]),
                table("app", "T", vec![column("a")]),
                table("pg_stuff", "U", vec![column("a")]),
            ],
            modules: vec![],
            other_objects: vec![],
            unreadable_definitions: vec![],
        };
        let mut opts = PlanOptions::default();
        opts.schema_map.insert("app".into(), "public".into());
        let p = plan(&db, &opts).unwrap();
        assert_eq!(p.tables[0].qualified(), r#""public"."T""#);
        assert_eq!(p.tables[1].qualified(), r#""public"."T_2""#);
        assert_eq!(p.tables[2].schema, "_pg_stuff");
        let (a, b) = (&p.tables[0].columns[0].name, &p.tables[0].columns[1].name);
        assert!(a.len() <= 63 && b.len() <= 63 && a != b, "{a} {b}");
        assert_eq!(p.renames.iter().filter(|r| r.kind == ObjectKind::Column).count(), 2);
        assert!(p.renames.iter().any(|r| r.kind == ObjectKind::Table && r.target == "T_2"));
        assert!(p.renames.iter().any(|r| r.kind == ObjectKind::Schema && r.target == "_pg_stuff"));
        // Deterministic.
        assert_eq!(plan(&db, &opts).unwrap(), p);
    }

    #[test]
    fn defaults() {
        let t = table();
        let int = PgType::Integer;
        assert_eq!(translate_default("((0))", &int, &t).unwrap(), "0");
        assert_eq!(translate_default("((-1))", &int, &t).unwrap(), "-1");
        assert_eq!(translate_default("((1.50))", &int, &t).unwrap(), "1.50");
        assert_eq!(translate_default("(N'it''s')", &PgType::Text, &t).unwrap(), "'it''s'");
        assert_eq!(translate_default("((1))", &PgType::Boolean, &t).unwrap(), "true");
        assert_eq!(translate_default("((0))", &PgType::Boolean, &t).unwrap(), "false");
        let ts = PgType::Timestamp { precision: 3 };
        assert_eq!(translate_default("(getdate())", &ts, &t).unwrap(), "CURRENT_TIMESTAMP");
        assert_eq!(translate_default("(getutcdate())", &ts, &t).unwrap(), "(now() AT TIME ZONE 'utc')");
        assert_eq!(translate_default("(newid())", &PgType::Uuid, &t).unwrap(), "gen_random_uuid()");
        assert_eq!(translate_default("(suser_sname())", &PgType::Text, &t).unwrap(), "CURRENT_USER");
        assert_eq!(translate_default("(0x00FF)", &PgType::Bytea, &t).unwrap(), "decode('00ff', 'hex')");
        assert_eq!(translate_default("(0x1)", &PgType::Bytea, &t).unwrap(), "decode('01', 'hex')");
        assert!(translate_default("(CONVERT([bit],(0)))", &int, &t).is_err());
        assert!(translate_default("(dateadd(day,(1),getdate()))", &ts, &t).is_err());
    }

    #[test]
    fn predicates() {
        let t = table();
        assert_eq!(
            translate_expr("([Qty]>=(0) AND [Price]<=(100))", &t, ExprContext::Check).unwrap(),
            r#"("Qty" >= (0) AND "Price" <= (100))"#
        );
        assert_eq!(
            translate_expr("([Active]=(1))", &t, ExprContext::Filter).unwrap(),
            r#"(("Active")::integer = (1))"#
        );
        assert_eq!(translate_expr("([Name] IS NOT NULL)", &t, ExprContext::Filter).unwrap(), r#"("Name" IS NOT NULL)"#);
        assert!(translate_expr("([Name] like '[a-z]%')", &t, ExprContext::Check).is_err());
        assert!(translate_expr("([Nope]=(1))", &t, ExprContext::Check).is_err());
        assert_eq!(translate_expr("([qty]>(0))", &t, ExprContext::Check).unwrap(), r#"("Qty" > (0))"#);
        assert!(translate_expr("([d]<getdate())", &t, ExprContext::Filter).is_err());
        assert!(translate_expr("([Name]+'x')", &t, ExprContext::Check).is_err());
        assert_eq!(translate_expr("([Qty]*[Price])", &t, ExprContext::Computed).unwrap(), r#"("Qty" * "Price")"#);
        assert!(translate_expr("([Qty]/(2))", &t, ExprContext::Computed).is_err());
        assert!(translate_expr("(upper([Name]))", &t, ExprContext::Computed).is_err());
        assert_eq!(
            translate_expr("(len(ltrim([Name]))>(0) AND upper([Name])=[Name])", &t, ExprContext::Check).unwrap(),
            r#"(length(rtrim(ltrim("Name"))) > (0) AND upper("Name") = "Name")"#
        );
        assert_eq!(
            translate_expr("(isnull([Qty],(0))>=(0))", &t, ExprContext::Filter).unwrap(),
            r#"(coalesce("Qty", (0)) >= (0))"#
        );
        assert!(translate_expr("(len([Name]>(0))", &t, ExprContext::Check).is_err());
        assert!(translate_expr("(foo([Name]))", &t, ExprContext::Check).is_err());
    }
}
