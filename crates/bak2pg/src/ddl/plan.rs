//! Computing the [`Plan`]: schema mapping, names unique in each PostgreSQL namespace, column
//! types, identities, and computed columns translated where PostgreSQL can compute them.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::OWN_SCHEMA;
use super::collation::plan_collations;
use super::model::{ColumnPlan, ObjectKind, Plan, PlanOptions, Rename, TablePlan, Untranslated};
use super::quote::{MAX_IDENT_BYTES, cut, fit_identifier, quote_ident, quote_literal};
use super::tsql_expr::{ExprContext, translate_expr};
use crate::schema::Database;
use crate::typemap::{PgType, map_type};

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
    let text_columns = db.tables.iter().zip(&tables).flat_map(|(t, tp)| {
        t.columns.iter().zip(&tp.columns).filter_map(move |(c, cp)| {
            let text = matches!(cp.pg_type, PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text);
            c.ty.collation().filter(|_| text).map(|coll| (format!("{}.{}", tp.source_display(), c.name), coll))
        })
    });
    let (created, refused) = plan_collations(opts.case_insensitive, text_columns);
    for (tp, t) in tables.iter_mut().zip(&db.tables) {
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

    Ok(Plan { schemas, tables, renames, untranslated, object_names, collations, comments })
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
            descriptions: vec![],
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
    fn case_insensitive_collations_per_column() {
        use crate::schema::*;
        let coll = |id: u32| mssql_backup::Collation::from_id(id).unwrap();
        let column = |n: &str, ty: SqlType| Column {
            column_id: 1,
            name: n.into(),
            ty,
            nullable: true,
            identity: None,
            computed: None,
            default: None,
            rowguidcol: false,
            sparse: false,
        };
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
        let db = Database {
            name: "d".into(),
            collation: None,
            tables: vec![t],
            modules: vec![],
            other_objects: vec![],
            unreadable_definitions: vec![],
            descriptions: vec![],
        };
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
        let mut t = Table::heap(
            1,
            "dbo",
            "T",
            vec![Column {
                column_id: 1,
                name: "xmin".into(),
                ty: SqlType::Int,
                nullable: true,
                identity: None,
                computed: None,
                default: None,
                rowguidcol: false,
                sparse: false,
            }],
        );
        t.row_count_hint = None;
        let tt = || DescriptionTarget::Table { schema: "dbo".into(), table: "T".into() };
        let col = |c: &str| DescriptionTarget::Column { schema: "dbo".into(), table: "T".into(), column: c.into() };
        let db = Database {
            name: "d".into(),
            collation: None,
            tables: vec![t],
            modules: vec![],
            other_objects: vec![],
            unreadable_definitions: vec![],
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
