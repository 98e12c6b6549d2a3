//! Views and inline table-valued functions: T-SQL definitions parsed with `sqlparser`
//! (MsSqlDialect) and re-emitted for PostgreSQL, or left out with the construct and its
//! position as the reason.
//!
//! The emitter walks the parsed AST and prints PostgreSQL text itself, node by node, for a
//! whitelist of constructs: anything it does not know (a function, an operator, a join
//! kind, a clause) refuses the whole object, naming the construct and its line and column
//! in the definition. Every relation and column referenced is resolved against the
//! migration [`Plan`] (SQL Server names are case-insensitive; the exact planned PostgreSQL
//! name is printed, quoted) or against the views translated before it, which gives the
//! creation order: a view comes after the views it reads.
//!
//! What is translated, and how (see [`rewrite`] for the function table): `TOP n` →
//! `LIMIT n` (with its `ORDER BY`; NULLs sorted first as SQL Server does), `+` on strings →
//! `||` (decided from the planned column types and literals; unknown → refused), `ISNULL`
//! → `coalesce`, `GETDATE()`/`SYSDATETIME()`/`CURRENT_TIMESTAMP` → `LOCALTIMESTAMP`,
//! `DATEADD`/`DATEDIFF`/`DATEPART`/`YEAR`/`MONTH`/`DAY`, `CONVERT` (no style, or the date
//! styles of [`rewrite::date_style`]) and `CAST` (to the planned PostgreSQL types; towards
//! integers truncated as SQL Server does), `IIF`, `LEN` → `length(rtrim())`, `CHARINDEX`,
//! `SUBSTRING`, `LEFT`/`RIGHT`, `ROUND`, `N'…'` literals, a `bit` column compared with a
//! number (→ `::integer`).

mod emit;
pub mod rewrite;

use std::collections::{BTreeMap, HashMap};

use mssql_backup::schema::{Database, ModuleKind};
use serde::{Deserialize, Serialize};

use crate::ddl::{MAX_IDENT_BYTES, Plan, qualified};
use crate::typemap::PgType;

pub use emit::{Class, Column};

/// An inline table-valued function's body, ready to be typed by PostgreSQL (its output
/// columns' types are asked of the server by preparing `query` with `params`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FunctionBody {
    /// Parameters in order: T-SQL name (with its `@`) and PostgreSQL type; the body refers
    /// to them as `$1`, `$2`… (never by name: in a SQL function a column of the same name
    /// would win).
    pub params: Vec<(String, PgType)>,
    /// The `SELECT`, in PostgreSQL.
    pub query: String,
}

/// What to do with one module of the source database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModulePlan {
    /// Index in [`Database::modules`].
    pub module: usize,
    /// Source schema.
    pub schema: String,
    /// Source name.
    pub name: String,
    /// Kind (`view`, `inline_table_function`, `procedure`, …).
    pub kind: String,
    /// PostgreSQL schema and name, when translated.
    pub target: Option<(String, String)>,
    /// `CREATE VIEW …` for a translated view.
    pub view_sql: Option<String>,
    /// The body of a translated inline table-valued function.
    pub function: Option<FunctionBody>,
    /// Modules (indexes in [`Database::modules`]) this one reads: created first.
    pub depends_on: Vec<usize>,
    /// Why it is not translated (`None` when translated).
    pub reason: Option<String>,
}

impl ModulePlan {
    /// `"schema"."name"` of the target, when translated.
    pub fn qualified_target(&self) -> Option<String> {
        self.target.as_ref().map(|(s, n)| qualified(s, n))
    }
}

/// Translates every module of `db`: views and inline table-valued functions when every
/// construct is known, the others left out with their reason. The result holds one entry
/// per module, in creation order (a module after those it depends on).
///
/// `schema_map` is the plan's schema mapping (`PlanOptions::schema_map`): a view in a
/// schema without tables is mapped the same way (`dbo` → `public` unless mapped).
pub fn translate_modules(db: &Database, plan: &Plan, schema_map: &BTreeMap<String, String>) -> Vec<ModulePlan> {
    let mut t = Translator { db, plan, schema_map, done: HashMap::new(), order: Vec::new(), in_progress: Vec::new() };
    for i in 0..db.modules.len() {
        t.translate(i);
    }
    let mut out = Vec::with_capacity(t.order.len());
    for i in t.order {
        out.push(t.done.remove(&i).expect("translated").0);
    }
    out
}

/// A translated relation other views may read: its PostgreSQL name and output columns.
#[derive(Debug, Clone)]
pub(crate) struct RelInfo {
    pub(crate) qualified: String,
    pub(crate) name: String,
    pub(crate) columns: Vec<Column>,
}

struct Translator<'a> {
    db: &'a Database,
    plan: &'a Plan,
    schema_map: &'a BTreeMap<String, String>,
    /// Module index → its plan and, when translated as a view, what it offers readers.
    done: HashMap<usize, (ModulePlan, Option<RelInfo>)>,
    order: Vec<usize>,
    in_progress: Vec<usize>,
}

/// Where the emitter looks relations up.
pub(crate) trait Resolver {
    /// The relation `schema.name` (source names; `schema` `None` when unqualified),
    /// resolved from `home` (the module's schema); `Err` why not.
    fn relation(&mut self, schema: Option<&str>, name: &str, home: &str) -> Result<RelInfo, String>;
}

impl Translator<'_> {
    fn target_schema(&self, source: &str) -> Result<String, String> {
        if let Some(t) = self.plan.tables.iter().find(|t| t.source_schema == source) {
            return Ok(t.schema.clone());
        }
        let wanted = match self.schema_map.get(source) {
            Some(t) => t.clone(),
            None if source == "dbo" => "public".into(),
            None => source.to_string(),
        };
        if wanted.starts_with("pg_") || wanted == crate::ddl::OWN_SCHEMA || wanted == "information_schema" {
            return Err(format!("its schema {wanted:?} is reserved in PostgreSQL"));
        }
        if wanted.len() > MAX_IDENT_BYTES {
            return Err(format!("its schema name is longer than {MAX_IDENT_BYTES} bytes"));
        }
        Ok(wanted)
    }

    fn translate(&mut self, i: usize) {
        if self.done.contains_key(&i) || self.in_progress.contains(&i) {
            return;
        }
        self.in_progress.push(i);
        let m = &self.db.modules[i];
        let mut mp = ModulePlan {
            module: i,
            schema: m.schema.clone(),
            name: m.name.clone(),
            kind: m.kind.as_str().to_string(),
            target: None,
            view_sql: None,
            function: None,
            depends_on: Vec::new(),
            reason: None,
        };
        let mut info = None;
        // Why there is no definition, when there is none.
        let missing = || {
            let qualified = format!("{}.{}", m.schema, m.name);
            self.db
                .unreadable_definitions
                .iter()
                .find(|u| u.kind == m.kind.as_str() && u.object == qualified)
                .map(|u| format!("its definition in the backup cannot be decoded: {}", u.reason))
                .unwrap_or_else(|| "no definition is stored (encrypted, or not readable)".into())
        };
        let not_translated = |what: &str| match &m.definition {
            Some(_) => format!("{what} are not translated"),
            None => format!("{what} are not translated; {}", missing()),
        };
        let outcome = match (m.kind, m.definition.as_deref()) {
            (ModuleKind::View | ModuleKind::InlineTableFunction, None) => Err(missing()),
            (ModuleKind::View | ModuleKind::InlineTableFunction, Some(def)) => {
                let def = def.to_string();
                let kind = m.kind;
                let (schema, name) = (m.schema.clone(), m.name.clone());
                self.translate_one(kind, &schema, &name, &def).map(|(t, rel, deps)| {
                    mp.target = Some(t.0);
                    mp.view_sql = t.1;
                    mp.function = t.2;
                    mp.depends_on = deps;
                    info = rel;
                })
            }
            (ModuleKind::Procedure, _) => Err(not_translated("procedures")),
            (ModuleKind::ScalarFunction, _) => Err(not_translated("scalar functions")),
            (ModuleKind::TableFunction, _) => Err(not_translated("multi-statement table-valued functions")),
            (ModuleKind::Trigger, _) => Err(not_translated("triggers")),
            (ModuleKind::Rule, _) => Err(not_translated("rules (CREATE RULE)")),
            (ModuleKind::Default, _) => Err(not_translated("stand-alone defaults (CREATE DEFAULT)")),
            (ModuleKind::Other, _) => Err(not_translated("CLR and extended procedures and functions")),
        };
        if let Err(why) = outcome {
            mp.reason = Some(why);
        }
        self.in_progress.retain(|&k| k != i);
        self.done.insert(i, (mp, info));
        self.order.push(i);
    }

    #[allow(clippy::type_complexity)]
    fn translate_one(
        &mut self,
        kind: ModuleKind,
        schema: &str,
        name: &str,
        def: &str,
    ) -> Result<(((String, String), Option<String>, Option<FunctionBody>), Option<RelInfo>, Vec<usize>), String> {
        let pg_schema = self.target_schema(schema)?;
        if name.len() > MAX_IDENT_BYTES {
            return Err(format!("its name is longer than {MAX_IDENT_BYTES} bytes"));
        }
        let target = (pg_schema.clone(), name.to_string());
        let mut deps = Vec::new();
        let home = schema.to_string();
        let mut resolver = TranslatorResolver { t: self, deps: &mut deps };
        match kind {
            ModuleKind::View => {
                let v = emit::view(def, &home, &mut resolver)?;
                let qualified_name = qualified(&target.0, &target.1);
                let cols = match &v.column_names {
                    Some(names) => {
                        format!(
                            " ({})",
                            names.iter().map(|n| crate::ddl::quote_ident(n)).collect::<Vec<_>>().join(", ")
                        )
                    }
                    None => String::new(),
                };
                let sql = format!("CREATE VIEW {qualified_name}{cols} AS\n{}", v.query);
                let rel = RelInfo { qualified: qualified_name, name: name.to_string(), columns: v.columns };
                Ok(((target, Some(sql), None), Some(rel), deps))
            }
            _ => {
                let f = emit::inline_function(def, &home, &mut resolver)?;
                Ok(((target, None, Some(FunctionBody { params: f.params, query: f.query })), None, deps))
            }
        }
    }
}

struct TranslatorResolver<'t, 'a> {
    t: &'t mut Translator<'a>,
    deps: &'t mut Vec<usize>,
}

impl Resolver for TranslatorResolver<'_, '_> {
    fn relation(&mut self, schema: Option<&str>, name: &str, home: &str) -> Result<RelInfo, String> {
        let schemas: Vec<String> = match schema {
            Some(s) => vec![s.to_string()],
            None if home.eq_ignore_ascii_case("dbo") => vec![home.to_string()],
            None => vec![home.to_string(), "dbo".to_string()],
        };
        let display = match schema {
            Some(s) => format!("{s}.{name}"),
            None => name.to_string(),
        };
        for s in &schemas {
            // Tables of the plan (case-insensitive, as SQL Server's usual collations are).
            let tables: Vec<_> = self
                .t
                .plan
                .tables
                .iter()
                .filter(|t| t.source_schema.eq_ignore_ascii_case(s) && t.source_name.eq_ignore_ascii_case(name))
                .collect();
            if tables.len() > 1 {
                return Err(format!("{display} matches several tables differing only in case"));
            }
            if let Some(tp) = tables.first() {
                let columns = tp
                    .columns
                    .iter()
                    .map(|c| Column { source: c.source_name.clone(), pg: c.name.clone(), class: Class::of(&c.pg_type) })
                    .collect();
                return Ok(RelInfo { qualified: tp.qualified(), name: tp.name.clone(), columns });
            }
            // Modules: a view is translated first (its output columns are needed).
            let found: Vec<usize> = self
                .t
                .db
                .modules
                .iter()
                .enumerate()
                .filter(|(_, m)| m.schema.eq_ignore_ascii_case(s) && m.name.eq_ignore_ascii_case(name))
                .map(|(k, _)| k)
                .collect();
            if let Some(&k) = found.first() {
                let kind = self.t.db.modules[k].kind;
                if kind != ModuleKind::View {
                    return Err(format!("{display} is a {}, not a table or view", kind.as_str()));
                }
                if self.t.in_progress.contains(&k) {
                    return Err(format!("{display} refers back to this view (a cycle)"));
                }
                self.t.translate(k);
                let (mp, info) = &self.t.done[&k];
                if !self.deps.contains(&k) {
                    self.deps.push(k);
                }
                return match info {
                    Some(info) => Ok(info.clone()),
                    None => Err(format!(
                        "it reads view {display}, which is not translated ({})",
                        mp.reason.as_deref().unwrap_or("?")
                    )),
                };
            }
        }
        Err(format!("{display} is not a migrated table or a view of this database"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ddl::{PlanOptions, plan};
    use mssql_backup::schema::{Column as SrcColumn, Module, Table};
    use mssql_backup::{Collation, SqlType};

    fn col(name: &str, ty: SqlType) -> SrcColumn {
        SrcColumn::plain(name, ty)
    }

    fn nvarchar_collation() -> Collation {
        Collation { id: 0, name: Some("SQL_Latin1_General_CP1_CI_AS".into()), code_page: 1252 }
    }

    fn nvarchar(n: u16) -> SqlType {
        SqlType::NVarChar { len: Some(n), collation: nvarchar_collation() }
    }

    fn db(views: &[(&str, &str)]) -> Database {
        let orders = Table::heap(
            1,
            "dbo",
            "Orders",
            vec![
                col("OrderID", SqlType::Int),
                col("Name", nvarchar(20)),
                col("City", nvarchar(20)),
                col("Qty", SqlType::SmallInt),
                col("Price", SqlType::Money),
                col("Rate", SqlType::Real),
                col("Shipped", SqlType::DateTime),
                col("Done", SqlType::Bit),
                col("Code", SqlType::NChar { len: 5, collation: nvarchar_collation() }),
                // PostgreSQL's system column name: the plan renames it.
                col("xmin", SqlType::Int),
            ],
        );
        let mut modules = Vec::new();
        for (k, (name, def)) in views.iter().enumerate() {
            let kind = if def.to_lowercase().contains("create function") {
                ModuleKind::InlineTableFunction
            } else {
                ModuleKind::View
            };
            modules.push(Module {
                object_id: 100 + k as i32,
                schema: "dbo".into(),
                name: name.to_string(),
                kind,
                definition: Some(def.to_string()),
                parent: None,
            });
        }
        Database { modules, ..Database::of_tables("t", vec![orders]) }
    }

    /// The SELECT printed for a one-view database, or the reason.
    fn one(select: &str) -> Result<String, String> {
        let def = format!("CREATE VIEW [dbo].[V] AS {select}");
        let d = db(&[("V", &def)]);
        let p = plan(&d, &PlanOptions::default()).unwrap();
        let out = translate_modules(&d, &p, &BTreeMap::new());
        match &out[0].reason {
            Some(r) => Err(r.clone()),
            None => Ok(out[0].view_sql.clone().unwrap().split_once(" AS\n").unwrap().1.replace('\n', " ")),
        }
    }

    #[test]
    fn names_are_mapped_through_the_plan() {
        assert_eq!(
            one("SELECT [orderid], o.[XMIN] FROM [DBO].[orders] AS o").unwrap(),
            r#"SELECT "o"."OrderID", "o"."xmin_" FROM "public"."Orders" AS "o""#
        );
        assert_eq!(one(r#"SELECT "Name" FROM Orders"#).unwrap(), r#"SELECT "Orders"."Name" FROM "public"."Orders""#);
        let e = one("SELECT Nope FROM Orders").unwrap_err();
        assert!(e.contains("line 1 column") && e.contains("Nope"), "{e}");
        assert!(one("SELECT 1 AS x FROM Missing").unwrap_err().contains("Missing is not a migrated table"));
    }

    #[test]
    fn top_order_by_and_limit() {
        assert_eq!(
            one("SELECT TOP 5 OrderID FROM Orders ORDER BY Shipped DESC, Name").unwrap(),
            r#"SELECT "Orders"."OrderID" FROM "public"."Orders" ORDER BY "Orders"."Shipped" DESC NULLS LAST, "Orders"."Name" ASC NULLS FIRST LIMIT 5"#
        );
        assert!(one("SELECT TOP 10 PERCENT OrderID FROM Orders ORDER BY OrderID").unwrap_err().contains("PERCENT"));
        assert!(one("SELECT TOP 1 WITH TIES OrderID FROM Orders ORDER BY OrderID").unwrap_err().contains("WITH TIES"));
        assert!(one("SELECT OrderID FROM Orders ORDER BY OrderID").unwrap_err().contains("without TOP"));
    }

    #[test]
    fn string_concatenation_from_types() {
        assert_eq!(
            one("SELECT Name + N' in ' + City AS t FROM Orders").unwrap(),
            r#"SELECT "Orders"."Name" || ' in ' || "Orders"."City" AS "t" FROM "public"."Orders""#
        );
        assert_eq!(
            one("SELECT Qty + 1 AS n FROM Orders").unwrap(),
            r#"SELECT "Orders"."Qty" + 1 AS "n" FROM "public"."Orders""#
        );
        assert!(one("SELECT Name + Qty AS t FROM Orders").unwrap_err().contains("+ between"));
        // nchar(5) keeps its padding in SQL Server; PostgreSQL's character(5) would drop it.
        assert_eq!(
            one("SELECT Code + Name AS t FROM Orders").unwrap(),
            r#"SELECT rpad("Orders"."Code", 5) || "Orders"."Name" AS "t" FROM "public"."Orders""#
        );
        assert_eq!(
            one("SELECT Code FROM Orders WHERE Code = N'AB'").unwrap(),
            r#"SELECT "Orders"."Code" FROM "public"."Orders" WHERE "Orders"."Code" = 'AB'"#
        );
    }

    #[test]
    fn functions_and_casts() {
        let e = |x: &str| {
            one(&format!("SELECT {x} AS x FROM Orders")).map(|s| {
                s.trim_start_matches("SELECT ").trim_end_matches(r#" AS "x" FROM "public"."Orders""#).to_string()
            })
        };
        assert_eq!(e("ISNULL(Name, N'?')").unwrap(), r#"coalesce("Orders"."Name", '?')"#);
        assert_eq!(e("GETDATE()").unwrap(), "LOCALTIMESTAMP");
        assert_eq!(e("SYSDATETIME()").unwrap(), "LOCALTIMESTAMP");
        assert_eq!(e("CURRENT_TIMESTAMP").unwrap(), "LOCALTIMESTAMP");
        assert_eq!(e("DATEADD(day, 3, Shipped)").unwrap(), r#"("Orders"."Shipped" + (3) * interval '1 day')"#);
        assert_eq!(
            e("DATEDIFF(month, Shipped, GETDATE())").unwrap(),
            r#"CAST((extract(year FROM CAST(LOCALTIMESTAMP AS timestamp)) - extract(year FROM CAST("Orders"."Shipped" AS timestamp))) * 12 + extract(month FROM CAST(LOCALTIMESTAMP AS timestamp)) - extract(month FROM CAST("Orders"."Shipped" AS timestamp)) AS integer)"#
        );
        assert_eq!(
            e("DATEPART(quarter, Shipped)").unwrap(),
            r#"CAST(extract(quarter FROM "Orders"."Shipped") AS integer)"#
        );
        assert_eq!(e("YEAR(Shipped)").unwrap(), r#"CAST(extract(year FROM "Orders"."Shipped") AS integer)"#);
        assert_eq!(e("MONTH(Shipped)").unwrap(), r#"CAST(extract(month FROM "Orders"."Shipped") AS integer)"#);
        assert_eq!(e("DAY(Shipped)").unwrap(), r#"CAST(extract(day FROM "Orders"."Shipped") AS integer)"#);
        assert_eq!(
            e("CONVERT(varchar(10), Shipped, 103)").unwrap(),
            r#"CAST(to_char("Orders"."Shipped", 'DD/MM/YYYY') AS varchar(10))"#
        );
        assert!(e("CONVERT(varchar(30), Shipped)").unwrap_err().contains("without a style"));
        // real: single-precision arithmetic as in SQL Server, exact binary value to money.
        assert_eq!(
            e("CONVERT(money, Price * (1 - Rate))").unwrap(),
            r#"CAST(CAST(CAST("Orders"."Price" AS real) * (CAST(1 AS real) - "Orders"."Rate") AS double precision) AS numeric(19,4))"#
        );
        assert_eq!(e("SUM(Rate)").unwrap(), r#"sum(CAST("Orders"."Rate" AS double precision))"#);
        assert_eq!(e("CAST(Price AS int)").unwrap(), r#"CAST(trunc("Orders"."Price") AS integer)"#);
        assert_eq!(
            e("IIF(Qty > 1, Name, City)").unwrap(),
            r#"CASE WHEN "Orders"."Qty" > 1 THEN "Orders"."Name" ELSE "Orders"."City" END"#
        );
        assert_eq!(e("LEN(Name)").unwrap(), r#"length(rtrim("Orders"."Name"))"#);
        assert_eq!(e("CHARINDEX(N'a', Name)").unwrap(), r#"strpos("Orders"."Name", 'a')"#);
        assert_eq!(e("SUBSTRING(Name, 2, 3)").unwrap(), r#"substr("Orders"."Name", 2, 3)"#);
        assert_eq!(e("LEFT(Name, 2)").unwrap(), r#"left("Orders"."Name", 2)"#);
        assert_eq!(e("RIGHT(Name, 2)").unwrap(), r#"right("Orders"."Name", 2)"#);
        assert_eq!(e("ROUND(Price, 2)").unwrap(), r#"round("Orders"."Price", 2)"#);
        assert_eq!(e("N'héllo'").unwrap(), "'héllo'");
        let err = e("SOUNDEX(Name)").unwrap_err();
        assert!(err.contains("line 1 column") && err.contains("SOUNDEX"), "{err}");
        assert!(e("ROW_NUMBER() OVER (ORDER BY OrderID)").unwrap_err().contains("OVER"));
    }

    #[test]
    fn schemabinding_is_read() {
        let d = db(&[("V", "CREATE VIEW dbo.V\n  WITH SCHEMABINDING\nAS\nSELECT OrderID FROM dbo.Orders;")]);
        let p = plan(&d, &PlanOptions::default()).unwrap();
        let out = translate_modules(&d, &p, &BTreeMap::new());
        assert_eq!(out[0].reason, None);
        let d = db(&[("V", "CREATE VIEW dbo.V WITH ENCRYPTION AS SELECT OrderID FROM dbo.Orders")]);
        let p = plan(&d, &PlanOptions::default()).unwrap();
        assert!(translate_modules(&d, &p, &BTreeMap::new())[0].reason.as_deref().unwrap().contains("parser"));
    }

    #[test]
    fn bit_compared_with_a_number() {
        assert_eq!(
            one("SELECT OrderID FROM Orders WHERE Done = 0").unwrap(),
            r#"SELECT "Orders"."OrderID" FROM "public"."Orders" WHERE ("Orders"."Done")::integer = 0"#
        );
    }

    #[test]
    fn views_on_views_in_order_and_left_out_with_their_dependency() {
        let d = db(&[
            ("Top", "CREATE VIEW Top1 AS SELECT n FROM Base"),
            ("Base", "CREATE VIEW Base AS SELECT OrderID AS n FROM Orders"),
            ("Bad", "CREATE VIEW Bad AS SELECT SOUNDEX(Name) AS s FROM Orders"),
            ("OnBad", "CREATE VIEW OnBad AS SELECT s FROM [bad]"),
            ("F", "CREATE FUNCTION F(@min int) RETURNS TABLE AS RETURN (SELECT OrderID FROM Orders WHERE Qty >= @min)"),
        ]);
        let p = plan(&d, &PlanOptions::default()).unwrap();
        let out = translate_modules(&d, &p, &BTreeMap::new());
        let names: Vec<&str> = out.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["Base", "Top", "Bad", "OnBad", "F"]);
        assert_eq!(out[1].depends_on, vec![1]);
        assert!(
            out[1].view_sql.as_deref().unwrap().contains("SELECT \"Base\".\"n\"\nFROM \"public\".\"Base\""),
            "{:?}",
            out[1]
        );
        assert!(out[3].reason.as_deref().unwrap().contains("reads view bad, which is not translated"), "{:?}", out[3]);
        let f = out[4].function.as_ref().unwrap();
        assert_eq!(f.params, vec![("@min".to_string(), PgType::Integer)]);
        assert!(f.query.ends_with(r#"WHERE "Orders"."Qty" >= $1"#), "{}", f.query);
    }
}
