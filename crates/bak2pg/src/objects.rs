//! Views and inline table-valued functions created in the loading database (after the
//! constraints), `bak2pg.source_objects` with every module's original T-SQL, and the
//! validation query of each created view.

use mssql_backup::schema::Database;
use tokio_postgres::types::Type;

use crate::ddl::{self, Plan, qualified, quote_ident, quote_literal};
use crate::report::{ObjectReport, Step};
use crate::target::{ErrorKind, MigrateError, Names, Target, pg_message};
use crate::translate::{ModulePlan, translate_modules};

/// The table holding every module's original definition, in [`ddl::OWN_SCHEMA`].
pub const SOURCE_OBJECTS: &str = "source_objects";

fn source_objects_ddl() -> Vec<String> {
    let s = quote_ident(ddl::OWN_SCHEMA);
    vec![
        format!("CREATE SCHEMA IF NOT EXISTS {s}"),
        format!(
            "CREATE TABLE IF NOT EXISTS {s}.{} (\n    schema text NOT NULL,\n    name text NOT NULL,\n    kind text NOT NULL,\n    \
             definition text,\n    translated boolean NOT NULL,\n    reason text\n)",
            quote_ident(SOURCE_OBJECTS)
        ),
        format!("TRUNCATE {s}.{}", quote_ident(SOURCE_OBJECTS)),
    ]
}

/// Creates the translated views and inline table-valued functions of `db` in
/// `<name>__loading`, in dependency order, each on its own (a single statement: created
/// whole or not at all); then fills `bak2pg.source_objects` with every module (its T-SQL
/// definition exactly as read from the backup, NULL when there is none, whether it was
/// translated and why not). An object PostgreSQL refuses is left out with PostgreSQL's
/// message and SQLSTATE; one reading a left-out view is left out saying so.
///
/// Returns one [`ObjectReport`] per module of `db`, in `db.modules` order.
///
/// # Errors
/// PostgreSQL errors on `bak2pg.source_objects` (the objects themselves never fail the
/// step).
pub async fn step_create_objects(
    db: &Database,
    plan: &Plan,
    schema_map: &std::collections::BTreeMap<String, String>,
    target: &Target,
    names: &Names,
) -> Result<Vec<ObjectReport>, MigrateError> {
    let step = Step::CreateConstraints;
    let c = target.connect(step, &names.loading).await?;
    let pg = |e| MigrateError::pg(step, e);
    let planned = translate_modules(db, plan, schema_map);
    let mut reports: Vec<Option<ObjectReport>> = vec![None; db.modules.len()];
    let mut schemas: Vec<String> = plan.tables.iter().map(|t| t.schema.clone()).collect();
    schemas.push("public".into());
    for mp in &planned {
        let mut r = ObjectReport {
            schema: mp.schema.clone(),
            name: mp.name.clone(),
            kind: mp.kind.clone(),
            target: None,
            translated: false,
            reason: mp.reason.clone(),
            rows: None,
        };
        if r.reason.is_none() {
            // A view it reads was left out (here, by PostgreSQL).
            if let Some(dep) = mp.depends_on.iter().find(|d| reports[**d].as_ref().is_none_or(|o| !o.translated)) {
                let m = &db.modules[*dep];
                r.reason = Some(format!("it reads view {}.{}, which was left out", m.schema, m.name));
            } else {
                match create_one(&c, mp, &mut schemas).await {
                    Ok(()) => {
                        r.translated = true;
                        r.target = mp.qualified_target();
                    }
                    Err(why) => r.reason = Some(why),
                }
            }
        }
        reports[mp.module] = Some(r);
    }
    let reports: Vec<ObjectReport> = reports.into_iter().map(|r| r.expect("one per module")).collect();
    for sql in source_objects_ddl() {
        c.batch_execute(&sql).await.map_err(pg)?;
    }
    let insert = format!(
        "INSERT INTO {}.{} (schema, name, kind, definition, translated, reason) VALUES ($1, $2, $3, $4, $5, $6)",
        quote_ident(ddl::OWN_SCHEMA),
        quote_ident(SOURCE_OBJECTS)
    );
    let st = c.prepare(&insert).await.map_err(pg)?;
    for (m, r) in db.modules.iter().zip(&reports) {
        c.execute(&st, &[&m.schema, &m.name, &r.kind, &m.definition, &r.translated, &r.reason]).await.map_err(pg)?;
    }
    Ok(reports)
}

/// Creates one translated object; `Err` PostgreSQL's reason.
async fn create_one(c: &tokio_postgres::Client, mp: &ModulePlan, schemas: &mut Vec<String>) -> Result<(), String> {
    let refused = |e: tokio_postgres::Error| {
        let (msg, code) = pg_message(&e);
        format!("PostgreSQL refused it: {msg}{}", code.map(|c| format!(" (SQLSTATE {c})")).unwrap_or_default())
    };
    let (schema, name) = mp.target.as_ref().ok_or("not translated")?;
    if !schemas.contains(schema) {
        c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema))).await.map_err(refused)?;
        schemas.push(schema.clone());
    }
    if let Some(sql) = &mp.view_sql {
        return c.batch_execute(sql).await.map_err(refused);
    }
    let f = mp.function.as_ref().ok_or("nothing to create")?;
    // PostgreSQL types the function's columns: the body is prepared with the parameters'
    // types and its result columns read back.
    let mut types = Vec::new();
    for (_, t) in &f.params {
        let row = c.query_one("SELECT to_regtype($1)::oid", &[&t.sql()]).await.map_err(refused)?;
        let oid: u32 = row.get(0);
        types.push(Type::from_oid(oid).ok_or_else(|| format!("parameter type {t} has no built-in oid"))?);
    }
    let prepared = c.prepare_typed(&f.query, &types).await.map_err(refused)?;
    let mut out = Vec::new();
    for col in prepared.columns() {
        let t = col.type_();
        if col.name() == "?column?" {
            return Err("a column of its result has no name".into());
        }
        out.push(format!("{} {}", quote_ident(col.name()), qualified(t.schema(), t.name())));
    }
    let params: Vec<String> = f.params.iter().map(|(_, t)| t.sql()).collect();
    let sql = format!(
        "CREATE FUNCTION {}({}) RETURNS TABLE ({}) LANGUAGE sql STABLE AS {}",
        qualified(schema, name),
        params.join(", "),
        out.join(", "),
        quote_literal(&f.query)
    );
    c.batch_execute(&sql).await.map_err(refused)
}

/// Queries every created view once (`SELECT * … LIMIT 0`, then `count(*)`) and records
/// its row count in `objects`.
///
/// # Errors
/// [`ErrorKind::Validation`] naming every view whose query failed, with PostgreSQL's
/// message; connection errors.
pub async fn step_validate_objects(
    target: &Target,
    database: &str,
    objects: &mut [ObjectReport],
) -> Result<(), MigrateError> {
    let step = Step::Validate;
    if !objects.iter().any(|o| o.translated && o.kind == "view") {
        return Ok(());
    }
    let c = target.connect(step, database).await?;
    let mut failed = Vec::new();
    for o in objects.iter_mut().filter(|o| o.translated && o.kind == "view") {
        let Some(t) = o.target.clone() else { continue };
        let counted = async {
            c.batch_execute(&format!("SELECT * FROM {t} LIMIT 0")).await?;
            let row = c.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await?;
            Ok::<i64, tokio_postgres::Error>(row.get(0))
        };
        match counted.await {
            Ok(n) => o.rows = u64::try_from(n).ok(),
            Err(e) => failed.push(format!("view {}.{}: {}", o.schema, o.name, pg_message(&e).0)),
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(MigrateError::new(
            step,
            ErrorKind::Validation,
            format!("{} views failed validation: {}", failed.len(), failed.join("; ")),
        ))
    }
}
