//! Computing the [`Plan`]: schema mapping, names unique in each PostgreSQL namespace, column
//! types, identities, and computed columns translated where PostgreSQL can compute them.

use std::collections::{BTreeMap, HashMap, HashSet};

use mssql_backup::SqlType;
use serde::{Deserialize, Serialize};

use super::OWN_SCHEMA;
use super::collation::plan_collations;
use super::model::{
    ColumnPlan, ForeignKeyLeftOut, MappingOutcome, ObjectKind, Plan, PlanOptions, Rename, TablePlan, TypeOverride,
    Untranslated,
};
use super::quote::{MAX_IDENT_BYTES, cut, fit_identifier, quote_ident, quote_literal};
use super::tsql_expr::{ExprContext, translate_expr};
use crate::mapping::{Mapping, MappingError, TypeKey, find_name, toml_key};
use crate::schema::Database;
use crate::spatial::PostgisMode;
use crate::typemap::{PgType, check_override, map_type_with};

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
    /// The mapping file names something the backup does not hold, asks for a rename
    /// that collides, or a type the values do not go into exactly.
    #[error("{0}")]
    Mapping(#[from] MappingError),
}

/// Relation and type names `CREATE EXTENSION postgis` takes in `public` (tables, views,
/// the primary key's index, and types: a table's row type shares the namespace), kept
/// from user tables when PostGIS is planned (PostGIS 3.3's `postgis.sql`).
pub const POSTGIS_PUBLIC_NAMES: &[&str] = &[
    "spatial_ref_sys",
    "spatial_ref_sys_pkey",
    "geometry_columns",
    "geography_columns",
    "geometry",
    "geography",
    "box2d",
    "box3d",
    "box2df",
    "gidx",
    "spheroid",
    "geometry_dump",
    "valid_detail",
];

/// Column names PostgreSQL reserves for system columns.
const SYSTEM_COLUMNS: &[&str] = &["tableoid", "xmin", "cmin", "xmax", "cmax", "ctid"];

/// The mapping file's decisions for one database, resolved against its catalog.
#[derive(Default)]
struct Resolved {
    /// Per source table index: included.
    included: Vec<bool>,
    /// Source table index → (new name, key).
    tables: HashMap<usize, (String, String)>,
    /// (source table index, column index) → (new name, key).
    columns: HashMap<(usize, usize), (String, String)>,
    /// (source table index, column index) → (type, key).
    column_types: HashMap<(usize, usize), (PgType, String)>,
    /// SQL Server type name (`money`, `decimal`) → (type, key).
    sql_types: BTreeMap<String, (PgType, String)>,
    /// Source schema → (new name, key).
    schemas: BTreeMap<String, (String, String)>,
    outcome: MappingOutcome,
}

/// The `[types]` key a SQL Server type answers to (`decimal` for both decimal and
/// numeric, else the name without length).
fn type_key_name(ty: &mssql_backup::SqlType) -> String {
    let name = ty.sql_name();
    let base = name.split('(').next().unwrap_or(&name).to_ascii_lowercase();
    if base == "numeric" { "decimal".into() } else { base }
}

/// Resolves `m` against `db`: globs to tables, names to objects; every name that matches
/// nothing is an error naming the key (globs: a warning).
fn resolve(db: &Database, m: &Mapping) -> Result<Resolved, MappingError> {
    let mut r =
        Resolved { outcome: MappingOutcome { file: m.file.clone(), ..Default::default() }, ..Default::default() };
    let displays: Vec<String> = db.tables.iter().map(|t| format!("{}.{}", t.schema, t.name)).collect();
    let (include, exclude) = m.globs();
    let mut include_hits = vec![0usize; include.len()];
    let mut exclude_hits = vec![0usize; exclude.len()];
    let mut why_excluded: HashMap<usize, String> = HashMap::new();
    for (i, d) in displays.iter().enumerate() {
        let mut included = include.is_empty();
        for (k, g) in include.iter().enumerate() {
            if g.is_match(d) {
                include_hits[k] += 1;
                included = true;
            }
        }
        let mut excluded_by = None;
        for (k, g) in exclude.iter().enumerate() {
            if g.is_match(d) {
                exclude_hits[k] += 1;
                excluded_by.get_or_insert(format!("exclude[{k}] {:?}", m.rules.exclude[k]));
            }
        }
        let why = match (included, excluded_by) {
            (_, Some(by)) => Some(by),
            (false, None) => Some("include (no glob matches it)".to_string()),
            (true, None) => None,
        };
        r.included.push(why.is_none());
        if let Some(why) = why {
            r.outcome.excluded.push((d.clone(), why.clone()));
            why_excluded.insert(i, why);
        }
    }
    for (list, globs, hits) in
        [("include", &m.rules.include, &include_hits), ("exclude", &m.rules.exclude, &exclude_hits)]
    {
        for (k, g) in globs.iter().enumerate() {
            if hits[k] == 0 {
                r.outcome.warnings.push(format!("mapping file {}: {list}[{k}] {g:?} matches no table", m.file));
            }
        }
    }
    let not_excluded = |i: usize, key: &str| -> Result<(), MappingError> {
        match why_excluded.get(&i) {
            Some(why) => Err(m.error(key, format!("{} is excluded ({why}); remove one of the two", displays[i]))),
            None => Ok(()),
        }
    };
    let table_of = |key_name: &str, key: &str| -> Result<usize, MappingError> {
        let found = find_name(key_name, displays.iter().map(String::as_str))
            .map_err(|c| m.error(key, format!("table {key_name:?}: {c}")))?;
        Ok(displays.iter().position(|d| d == found).expect("found among them"))
    };
    // `schema.table.column`: the longest table prefix that names a table decides (names
    // may hold dots), the rest is the column.
    let column_of = |key_name: &str, key: &str| -> Result<(usize, usize), MappingError> {
        let candidates: Vec<(String, usize, usize)> = db
            .tables
            .iter()
            .enumerate()
            .flat_map(|(ti, t)| {
                t.columns.iter().enumerate().map(move |(ci, c)| (format!("{}.{}.{}", t.schema, t.name, c.name), ti, ci))
            })
            .collect();
        let found = find_name(key_name, candidates.iter().map(|c| c.0.as_str()))
            .map_err(|c| m.error(key, format!("column {key_name:?}: {c}")))?;
        let (_, ti, ci) = candidates.iter().find(|c| c.0 == found).expect("found among them");
        Ok((*ti, *ci))
    };

    let schemas: Vec<&str> = {
        let mut v: Vec<&str> = db.tables.iter().map(|t| t.schema.as_str()).collect();
        v.sort();
        v.dedup();
        v
    };
    for (from, to) in &m.rules.rename.schemas {
        let key = format!("rename.schemas.{}", toml_key(from));
        let s = find_name(from, schemas.iter().copied()).map_err(|c| m.error(&key, format!("schema {from:?}: {c}")))?;
        r.schemas.insert(s.to_string(), (to.clone(), key));
    }
    for (from, to) in &m.rules.rename.tables {
        let key = format!("rename.tables.{}", toml_key(from));
        let i = table_of(from, &key)?;
        not_excluded(i, &key)?;
        r.tables.insert(i, (to.clone(), key));
    }
    for (from, to) in &m.rules.rename.columns {
        let key = format!("rename.columns.{}", toml_key(from));
        let (ti, ci) = column_of(from, &key)?;
        not_excluded(ti, &key)?;
        r.columns.insert((ti, ci), (to.clone(), key));
    }
    let mut type_keys_used = BTreeMap::new();
    for (k, v) in &m.rules.types {
        let key = format!("types.{}", toml_key(k));
        let ty = m.pg_type(v);
        match TypeKey::of(k) {
            TypeKey::Column(name) => {
                let (ti, ci) = column_of(&name, &key)?;
                not_excluded(ti, &key)?;
                r.column_types.insert((ti, ci), (ty, key));
            }
            TypeKey::SqlType(t) => {
                let t = if t == "numeric" { "decimal".to_string() } else { t };
                if r.sql_types.insert(t.clone(), (ty, key.clone())).is_some() {
                    return Err(m.error(key, "decimal and numeric are one SQL Server type: give it once"));
                }
                type_keys_used.insert(t, k.clone());
            }
        }
    }
    for (t, k) in &type_keys_used {
        let used = db
            .tables
            .iter()
            .enumerate()
            .filter(|(i, _)| r.included[*i])
            .flat_map(|(_, t)| &t.columns)
            .any(|c| type_key_name(&c.ty) == *t);
        if !used {
            r.outcome.warnings.push(format!(
                "mapping file {}: types.{} matches no column of a migrated table",
                m.file,
                toml_key(k)
            ));
        }
    }
    Ok(r)
}

/// Claims the names of one namespace (tables of a schema, columns of a table): the names a
/// mapping file asked for first, refused when another object keeps or asks for the same
/// name; then the others, as before (collisions among them renamed `_2`…).
///
/// `items`: (wanted name, the mapping file's key when it asked for it). Returns the names.
fn claim_all(
    ns: &mut Namespace,
    items: &[(String, Option<String>)],
    kind: ObjectKind,
    scope: &dyn Fn(usize) -> String,
    label: &dyn Fn(usize) -> String,
    renames: &mut Vec<Rename>,
    mapping: Option<&Mapping>,
) -> Result<Vec<String>, MappingError> {
    let mut out = vec![String::new(); items.len()];
    for (i, (wanted, key)) in items.iter().enumerate() {
        let Some(key) = key else { continue };
        let m = mapping.expect("a key comes from the mapping file");
        if let Some(j) = items.iter().enumerate().position(|(j, (w, _))| j != i && w == wanted) {
            return Err(m.error(
                key,
                format!(
                    "{} would be named {wanted:?}, which {} {}",
                    label(i),
                    label(j),
                    if items[j].1.is_some() { "is also renamed to" } else { "keeps" }
                ),
            ));
        }
        if ns.taken.contains(wanted) {
            return Err(m.error(key, format!("{wanted:?} is reserved in PostgreSQL ({})", label(i))));
        }
        out[i] = ns.claim(wanted, None, kind, &scope(i), &mut Vec::new());
    }
    for (i, (wanted, key)) in items.iter().enumerate() {
        if key.is_none() {
            out[i] = ns.claim(wanted, None, kind, &scope(i), renames);
        }
    }
    Ok(out)
}

/// Computes the plan for `db`.
///
/// With a mapping file (`opts.mapping`), excluded tables are left out of the plan (and
/// foreign keys to them listed in [`Plan::mapping`]), renamed objects get the names asked
/// for (claimed before any other name, so they are never suffixed), and overridden
/// columns get their types once [`check_override`] accepts them.
///
/// # Errors
/// [`PlanError::Unmappable`] listing every column of a type without a mapping;
/// [`PlanError::Mapping`] for the first mapping-file key that cannot be applied.
pub fn plan(db: &Database, opts: &PlanOptions) -> Result<Plan, PlanError> {
    let resolved = match &opts.mapping {
        Some(m) => Some(resolve(db, m)?),
        None => None,
    };
    let mapping = opts.mapping.as_ref();
    let included = |i: usize| resolved.as_ref().is_none_or(|r| r.included[i]);
    let mut renames = Vec::new();
    let mut untranslated = Vec::new();
    let mut unmappable = Vec::new();
    // Table-level definitions the reader could not decode: the objects are not in the
    // model, so they are listed here (computed columns below, where their column is).
    for u in db
        .unreadable_definitions
        .iter()
        .filter(|u| matches!(u.kind.as_str(), "check" | "default" | "index_filter" | "description"))
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
    let mut source_schemas: Vec<&str> =
        db.tables.iter().enumerate().filter(|(i, _)| included(*i)).map(|(_, t)| t.schema.as_str()).collect();
    source_schemas.dedup();
    let mut seen = HashSet::new();
    source_schemas.retain(|s| seen.insert(*s));
    let mut claimed_targets: HashMap<String, String> = HashMap::new();
    for s in &source_schemas {
        let from_file = resolved.as_ref().and_then(|r| r.schemas.get(*s));
        let wanted = match (opts.schema_map.get(*s), from_file) {
            (Some(a), Some((b, key))) if a != b => {
                let m = mapping.expect("resolved from the file");
                return Err(m
                    .error(key, format!("schema {s} is also mapped to {a:?} (--schema-map); give it one name"))
                    .into());
            }
            (_, Some((t, _))) | (Some(t), None) => t.clone(),
            (None, None) if *s == "dbo" => "public".to_string(),
            (None, None) => s.to_string(),
        };
        if let Some((t, key)) = from_file
            && t != s
        {
            let r = Rename {
                kind: ObjectKind::Schema,
                scope: String::new(),
                source: s.to_string(),
                target: t.clone(),
                reason: format!("mapping file: {key}"),
            };
            renames.push(r);
        }
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
    // Per PostgreSQL schema, in source order: the names the mapping file asked for are
    // claimed first (see `claim_all`).
    let mut relations: HashMap<String, Namespace> = HashMap::new();
    let postgis = opts.postgis != PostgisMode::Off
        && db.tables.iter().flat_map(|t| &t.columns).any(|c| matches!(c.ty, SqlType::Geography | SqlType::Geometry));
    if postgis {
        let public = relations.entry("public".into()).or_default();
        for n in POSTGIS_PUBLIC_NAMES {
            public.reserve(n);
        }
    }
    let indexes: Vec<usize> = (0..db.tables.len()).filter(|&i| included(i)).collect();
    let mut by_schema: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for &i in &indexes {
        by_schema.entry(schema_names[&db.tables[i].schema].clone()).or_default().push(i);
    }
    let mut table_names: HashMap<usize, String> = HashMap::new();
    for (pg_schema, members) in &by_schema {
        let ns = relations.entry(pg_schema.clone()).or_default();
        let items: Vec<(String, Option<String>)> = members
            .iter()
            .map(|&i| match resolved.as_ref().and_then(|r| r.tables.get(&i)) {
                Some((name, key)) => (name.clone(), Some(key.clone())),
                None => (db.tables[i].name.clone(), None),
            })
            .collect();
        let display = |k: usize| format!("{}.{}", db.tables[members[k]].schema, db.tables[members[k]].name);
        let label = |k: usize| format!("table {} (in PostgreSQL schema {pg_schema})", display(k));
        let names = claim_all(ns, &items, ObjectKind::Table, &display, &label, &mut renames, mapping)?;
        for (k, name) in names.into_iter().enumerate() {
            if let Some(key) = &items[k].1
                && name != db.tables[members[k]].name
            {
                renames.push(Rename {
                    kind: ObjectKind::Table,
                    scope: display(k),
                    source: db.tables[members[k]].name.clone(),
                    target: name.clone(),
                    reason: format!("mapping file: {key}"),
                });
            }
            table_names.insert(members[k], name);
        }
    }
    let mut tables = Vec::with_capacity(indexes.len());
    for &index in &indexes {
        let t = &db.tables[index];
        tables.push(TablePlan {
            index,
            source_schema: t.schema.clone(),
            source_name: t.name.clone(),
            schema: schema_names[&t.schema].clone(),
            name: table_names.remove(&index).expect("claimed"),
            columns: Vec::new(),
        });
    }

    let mut type_overrides = Vec::new();
    for tp in tables.iter_mut() {
        let t = &db.tables[tp.index];
        let scope = tp.source_display();
        let mut cols_ns = Namespace::default();
        for sys in SYSTEM_COLUMNS {
            cols_ns.reserve(sys);
        }
        // Column names first (the mapping file's before the others), then types.
        let items: Vec<(String, Option<String>)> = t
            .columns
            .iter()
            .enumerate()
            .map(|(ci, c)| match resolved.as_ref().and_then(|r| r.columns.get(&(tp.index, ci))) {
                Some((name, key)) => (name.clone(), Some(key.clone())),
                None if SYSTEM_COLUMNS.contains(&c.name.as_str()) => (format!("{}_", c.name), None),
                None => (c.name.clone(), None),
            })
            .collect();
        let scope_of = |_: usize| scope.clone();
        let label = |ci: usize| format!("column {scope}.{}", t.columns[ci].name);
        let col_names = claim_all(&mut cols_ns, &items, ObjectKind::Column, &scope_of, &label, &mut renames, mapping)?;
        for (ci, c) in t.columns.iter().enumerate() {
            let name = col_names[ci].clone();
            let wanted = &items[ci].0;
            if let Some(key) = &items[ci].1 {
                if name != c.name {
                    renames.push(Rename {
                        kind: ObjectKind::Column,
                        scope: scope.clone(),
                        source: c.name.clone(),
                        target: name.clone(),
                        reason: format!("mapping file: {key}"),
                    });
                }
            } else if *wanted != c.name && name == *wanted {
                renames.push(Rename {
                    kind: ObjectKind::Column,
                    scope: scope.clone(),
                    source: c.name.clone(),
                    target: name.clone(),
                    reason: "PostgreSQL system column name".into(),
                });
            }
            let (pg_type, note) = match map_type_with(&c.ty, opts.load_unknown_as_bytea, postgis) {
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
            let chosen = resolved
                .as_ref()
                .and_then(|r| r.column_types.get(&(tp.index, ci)).or_else(|| r.sql_types.get(&type_key_name(&c.ty))));
            let pg_type = match chosen {
                Some((to, key)) => {
                    let m = mapping.expect("resolved from the file");
                    let at = format!("{scope}.{}", c.name);
                    if c.computed.is_some() {
                        return Err(m
                            .error(key, format!("{at} is a computed column: its type follows its expression"))
                            .into());
                    }
                    check_override(&c.ty, to).map_err(|cause| m.error(key, format!("{at}: {cause}")))?;
                    type_overrides.push(TypeOverride {
                        table: scope.clone(),
                        column: c.name.clone(),
                        sql_type: c.ty.sql_name(),
                        default_type: pg_type.sql(),
                        pg_type: to.sql(),
                        key: key.clone(),
                    });
                    *to
                }
                None => pg_type,
            };
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
                collation: None,
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

    // Collations (`--case-insensitive icu`): of the columns PostgreSQL holds as text.
    // Plan tables, each with its source table (a mapping file may exclude tables).
    let text_columns = tables.iter().map(|tp| (&db.tables[tp.index], tp)).flat_map(|(t, tp)| {
        t.columns.iter().zip(&tp.columns).filter_map(move |(c, cp)| {
            let text = matches!(cp.pg_type, PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text);
            c.ty.collation().filter(|_| text).map(|coll| (format!("{}.{}", tp.source_display(), c.name), coll))
        })
    });
    let (created, refused) = plan_collations(opts.case_insensitive, text_columns);
    for tp in tables.iter_mut() {
        let t = &db.tables[tp.index];
        for (cp, c) in tp.columns.iter_mut().zip(&t.columns) {
            let text = matches!(cp.pg_type, PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text);
            if let Some(coll) = c.ty.collation().filter(|_| text) {
                cp.collation = created.get(&coll.id).map(|p| p.name.clone());
            }
        }
    }
    for r in refused.into_values() {
        untranslated.push(Untranslated {
            kind: "collation".into(),
            table: String::new(),
            object: r.name,
            definition: None,
            action: format!(
                "{} columns keep PostgreSQL's comparison (case- and accent-sensitive): {}",
                r.columns.len(),
                r.columns.join(", ")
            ),
            reason: r.reason,
        });
    }
    let comments = comment_statements(db, &tables, &mut untranslated);
    let mut collations: Vec<_> = created.into_values().collect();
    collations.sort_by(|a, b| a.name.cmp(&b.name));
    collations.dedup_by(|a, b| a.name == b.name);

    // Key, index and constraint names.
    let mut object_names = Vec::with_capacity(tables.len());
    for tp in &tables {
        let t = &db.tables[tp.index];
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

    let mapping = resolved.map(|r| {
        let mut outcome = r.outcome;
        outcome.renamed = renames.iter().filter(|x| x.reason.starts_with("mapping file:")).cloned().collect();
        outcome.type_overrides = type_overrides;
        for tp in &tables {
            for fk in &db.tables[tp.index].foreign_keys {
                let referenced = db.table(&fk.referenced_schema, &fk.referenced_table).map(|_| ());
                let kept = tables
                    .iter()
                    .any(|x| x.source_schema == fk.referenced_schema && x.source_name == fk.referenced_table);
                if referenced.is_some() && !kept {
                    outcome.foreign_keys_left_out.push(ForeignKeyLeftOut {
                        table: tp.source_display(),
                        name: fk.name.clone(),
                        references: format!("{}.{}", fk.referenced_schema, fk.referenced_table),
                    });
                }
            }
        }
        outcome
    });
    Ok(Plan { schemas, tables, renames, untranslated, object_names, mapping, collations, comments })
}

/// `COMMENT ON TABLE`/`COMMENT ON COLUMN` for the database's `MS_Description`s of
/// migrated tables and columns; the others (descriptions of views, schemas, indexes…,
/// values that are not text) are listed in `untranslated` with the reason.
fn comment_statements(db: &Database, tables: &[TablePlan], untranslated: &mut Vec<Untranslated>) -> Vec<String> {
    use mssql_backup::schema::DescriptionTarget;
    let mut out = Vec::new();
    for d in &db.descriptions {
        let mut note = |table: String, object: String, action: &str, reason: String| {
            untranslated.push(Untranslated {
                kind: "description".into(),
                table,
                object,
                definition: d.text.clone().ok(),
                action: action.into(),
                reason,
            })
        };
        let (table, column) = match &d.target {
            DescriptionTarget::Table { schema, table } => ((schema, table), None),
            DescriptionTarget::Column { schema, table, column } => ((schema, table), Some(column)),
            DescriptionTarget::Other { what } => {
                note(String::new(), what.clone(), "not migrated", "only tables and columns get comments".into());
                continue;
            }
        };
        let display = format!("{}.{}", table.0, table.1);
        let object = column.cloned().unwrap_or_else(|| display.clone());
        let Some(tp) = tables.iter().find(|t| t.source_schema == *table.0 && t.source_name == *table.1) else {
            note(display, object, "not migrated", "the table is not migrated".into());
            continue;
        };
        let text = match &d.text {
            Ok(t) => t,
            Err(reason) => {
                note(display, object, "no comment", reason.clone());
                continue;
            }
        };
        if text.contains('\0') {
            note(
                display.clone(),
                object.clone(),
                "comment without its NUL characters",
                "PostgreSQL text cannot hold NUL".into(),
            );
        }
        match column {
            None => out.push(format!("COMMENT ON TABLE {} IS {}", tp.qualified(), quote_literal(text))),
            Some(c) => match tp.column(c) {
                Some(cp) => out.push(format!(
                    "COMMENT ON COLUMN {}.{} IS {}",
                    tp.qualified(),
                    quote_ident(&cp.name),
                    quote_literal(text)
                )),
                None => note(display, object, "not migrated", "the column is not migrated".into()),
            },
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mssql_backup::SqlType;

    #[test]
    fn collisions_after_mapping_and_truncation_are_renamed() {
        use crate::schema::*;
        let coll = mssql_backup::Collation { id: 0, name: None, code_page: 1252 };
        let column = |n: &str| Column::plain(n, SqlType::VarChar { len: Some(5), collation: coll.clone() });
        let long = "t".repeat(70);
        let table = |schema: &str, name: &str, cols: Vec<Column>| Table::heap(1, schema, name, cols);
        let db = Database::of_tables(
            "d",
            vec![
                table("dbo", "T", vec![column(&long), column(&format!("{long}x"))]),
                table("app", "T", vec![column("a")]),
                table("pg_stuff", "U", vec![column("a")]),
            ],
        );
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
    fn postgis_names_in_public_are_kept_from_user_tables_only_with_postgis() {
        use crate::schema::*;
        let column = Column::plain;
        let db = Database::of_tables(
            "d",
            vec![
                Table::heap(1, "dbo", "spatial_ref_sys", vec![column("g", SqlType::Geography)]),
                Table::heap(2, "dbo", "geometry", vec![column("g", SqlType::Geometry)]),
                Table::heap(3, "app", "geometry", vec![column("g", SqlType::Geometry)]),
            ],
        );
        let off = plan(&db, &PlanOptions::default()).unwrap();
        assert_eq!(off.tables[0].name, "spatial_ref_sys");
        assert_eq!(off.tables[0].columns[0].pg_type, PgType::Bytea);
        assert!(!off.needs_postgis());
        let on = plan(&db, &PlanOptions { postgis: PostgisMode::Auto, ..Default::default() }).unwrap();
        assert!(on.needs_postgis());
        assert_eq!(on.tables[0].name, "spatial_ref_sys_2");
        assert_eq!(on.tables[0].columns[0].pg_type, PgType::Geography);
        assert_eq!(on.tables[1].name, "geometry_2");
        assert_eq!(on.tables[1].columns[0].pg_type, PgType::Geometry);
        // Other schemas do not hold the extension's objects.
        assert_eq!(on.tables[2].qualified(), r#""app"."geometry""#);
    }

    #[test]
    fn case_insensitive_collations_per_column() {
        use crate::schema::*;
        let coll = |id: u32| mssql_backup::Collation::from_id(id).unwrap();
        let column = Column::plain;
        let t = Table::heap(
            1,
            "dbo",
            "T",
            vec![
                // SQL_Latin1_General_CP1_CI_AS, twice.
                column("ci", SqlType::NVarChar { len: Some(5), collation: coll(0x3400_D008) }),
                column("ci2", SqlType::Char { len: 5, collation: coll(0x3400_D008) }),
                // Latin1_General_CS_AS.
                column("cs", SqlType::VarChar { len: None, collation: coll(0xC008) }),
                // Latin1_General_CI_AS_KS_WS: refused by name.
                column("ks", SqlType::Text { collation: coll(0x1008) }),
                column("n", SqlType::Int),
            ],
        );
        let db = Database::of_tables("d", vec![t]);
        let off = plan(&db, &PlanOptions::default()).unwrap();
        assert!(off.collations.is_empty() && off.tables[0].columns.iter().all(|c| c.collation.is_none()));
        assert!(!super::super::create_table_statement(&off.tables[0]).contains("COLLATE"));

        let opts = PlanOptions { case_insensitive: super::super::CaseInsensitive::Icu, ..Default::default() };
        let p = plan(&db, &opts).unwrap();
        assert_eq!(p.collations.len(), 1);
        assert_eq!(p.collations[0].locale, "und-u-ks-level2");
        let colls: Vec<Option<&str>> = p.tables[0].columns.iter().map(|c| c.collation.as_deref()).collect();
        let ci = Some("SQL_Latin1_General_CP1_CI_AS");
        assert_eq!(colls, vec![ci, ci, None, None, None]);
        let refused: Vec<_> = p.untranslated.iter().filter(|u| u.kind == "collation").collect();
        assert_eq!(refused.len(), 1);
        assert_eq!(refused[0].object, "Latin1_General_CI_AS_KS_WS");
        assert!(refused[0].action.contains("dbo.T.ks"), "{}", refused[0].action);
        let sql = super::super::create_table_statement(&p.tables[0]);
        assert!(sql.contains(r#""ci" varchar(5) COLLATE "public"."SQL_Latin1_General_CP1_CI_AS""#), "{sql}");
        assert!(sql.contains(r#""ci2" char(5) COLLATE "public"."SQL_Latin1_General_CP1_CI_AS""#), "{sql}");
        let stmts = super::super::create_schema_statements(&p);
        assert_eq!(stmts.last().unwrap(), &p.collations[0].create_statement());
        // The plan (plan.json in the pipeline) carries the option and the collations.
        let back: Plan = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn descriptions_become_comments_or_are_listed() {
        use crate::schema::*;
        use mssql_backup::schema::{Description, DescriptionTarget};
        let mut t = Table::heap(1, "dbo", "T", vec![Column::plain("xmin", SqlType::Int)]);
        t.row_count_hint = None;
        let tt = || DescriptionTarget::Table { schema: "dbo".into(), table: "T".into() };
        let col = |c: &str| DescriptionTarget::Column { schema: "dbo".into(), table: "T".into(), column: c.into() };
        let db = Database {
            descriptions: vec![
                Description { target: tt(), text: Ok(r"It's a C:\path".into()) },
                Description { target: col("xmin"), text: Ok("renamed\0column".into()) },
                Description { target: col("gone"), text: Ok("x".into()) },
                Description { target: tt(), text: Err("a sql_variant holding int, not text".into()) },
                Description {
                    target: DescriptionTarget::Other { what: "object dbo.V (type V)".into() },
                    text: Ok("v".into()),
                },
            ],
            ..Database::of_tables("d", vec![t])
        };
        let p = plan(&db, &PlanOptions::default()).unwrap();
        assert_eq!(
            p.comments,
            vec![
                r#"COMMENT ON TABLE "public"."T" IS E'It''s a C:\\path'"#.to_string(),
                r#"COMMENT ON COLUMN "public"."T"."xmin_" IS 'renamedcolumn'"#.to_string(),
            ]
        );
        let notes: Vec<(&str, &str)> = p
            .untranslated
            .iter()
            .filter(|u| u.kind == "description")
            .map(|u| (u.object.as_str(), u.action.as_str()))
            .collect();
        assert_eq!(
            notes,
            vec![
                ("xmin", "comment without its NUL characters"),
                ("gone", "not migrated"),
                ("dbo.T", "no comment"),
                ("object dbo.V (type V)", "not migrated"),
            ]
        );
    }
}
