//! `--data-only`: the rows of the backup into the tables of the existing target database,
//! without ever writing into the live database.
//!
//! The engine's model holds: `<name>__loading` is built and validated, then swapped in.
//! For data-only it is a copy of `<name>` itself (`CREATE DATABASE … TEMPLATE <name>`), so it
//! keeps everything the target holds — its own schema, indexes, views, grants, and the rows
//! of tables the plan does not load — and only the planned tables' rows are replaced:
//! 1. [`prepare`]: the copy is made (PostgreSQL copies a database only while nobody else is
//!    connected to it); every planned table and column must exist with the planned type
//!    (the same names and types `--config` gives a full run), else the run stops, naming
//!    each difference; the foreign keys on or to the planned tables are saved and dropped
//!    (they would refuse rows loaded in any order) and the planned tables emptied together.
//! 2. The usual load ([`crate::load`]) and, after it, [`finish`]: the foreign keys are
//!    added back as they were (PostgreSQL checks every row again; a row of a table the plan
//!    does not load that no longer finds its key fails the run, naming the constraint),
//!    and sequences owned by loaded columns (serial and identity) set past the loaded rows.
//! 3. The usual validation and swap: the previous `<name>` is kept as `<name>__prev_…`.
//!
//! A failure at any step leaves `<name>` as it was.

use tokio_postgres::Client;

use crate::ddl::{Plan, qualified, quote_ident};
use crate::report::Step;
use crate::target::{ErrorKind, MigrateError, Names, Target, create_loading_from};

/// A foreign key dropped for the load, to be added back by [`finish`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SavedForeignKey {
    /// Schema of the table holding it.
    pub schema: String,
    /// That table.
    pub table: String,
    /// Constraint name.
    pub name: String,
    /// `pg_get_constraintdef` (PostgreSQL's own text: `FOREIGN KEY (…) REFERENCES …`,
    /// with `NOT VALID` when it was not validated).
    pub definition: String,
}

/// Every difference between the plan and the tables of `c`'s database (empty when the
/// rows can be loaded): missing tables and columns, and columns of another type.
///
/// # Errors
/// PostgreSQL errors.
pub async fn schema_differences(c: &Client, plan: &Plan) -> Result<Vec<String>, tokio_postgres::Error> {
    let mut out = Vec::new();
    for tp in &plan.tables {
        let q = qualified(&tp.schema, &tp.name);
        let exists: bool = c.query_one("SELECT to_regclass($1) IS NOT NULL", &[&q]).await?.get(0);
        if !exists {
            out.push(format!("table {}.{} (from {}) does not exist", tp.schema, tp.name, tp.source_display()));
            continue;
        }
        // The planned types as PostgreSQL prints them, from a temporary table made like
        // the one a full run would create.
        let cols: Vec<String> =
            tp.columns.iter().map(|cp| format!("{} {}", quote_ident(&cp.name), cp.pg_type.sql())).collect();
        c.batch_execute(&format!("CREATE TEMP TABLE bak2pg_expected ({})", cols.join(", "))).await?;
        let rows = c
            .query(
                "SELECT e.attname::text, format_type(e.atttypid, e.atttypmod), format_type(t.atttypid, t.atttypmod) \
                 FROM pg_attribute e LEFT JOIN pg_attribute t \
                   ON t.attrelid = to_regclass($1) AND t.attname = e.attname AND t.attnum > 0 AND NOT t.attisdropped \
                 WHERE e.attrelid = 'pg_temp.bak2pg_expected'::regclass AND e.attnum > 0 AND NOT e.attisdropped \
                 ORDER BY e.attnum",
                &[&q],
            )
            .await?;
        c.batch_execute("DROP TABLE pg_temp.bak2pg_expected").await?;
        for r in rows {
            let (col, want, got): (String, String, Option<String>) = (r.get(0), r.get(1), r.get(2));
            match got {
                None => out.push(format!("column {}.{}.{col} does not exist", tp.schema, tp.name)),
                Some(g) if g != want => out.push(format!(
                    "column {}.{}.{col} is {g}, the backup's values are loaded as {want}",
                    tp.schema, tp.name
                )),
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

/// Step 2 for `--data-only`: `<name>__loading` as a copy of `<name>`, checked against the
/// plan, its foreign keys on or to the planned tables saved and dropped, the planned tables
/// emptied. Returns the foreign keys to add back.
///
/// # Errors
/// [`ErrorKind::Busy`] (sessions on `<name>`), [`ErrorKind::Config`] listing every
/// difference between the plan and the target's tables, PostgreSQL errors.
pub async fn prepare(target: &Target, names: &Names, plan: &Plan) -> Result<Vec<SavedForeignKey>, MigrateError> {
    let step = Step::CreateSchema;
    let m = target.connect(step, target.maintenance_db()).await?;
    create_loading_from(target, &m, names, Some(&names.name)).await?;
    drop(m);
    let c = target.connect(step, &names.loading).await?;
    let pg = |e| MigrateError::pg(step, e);
    let differences = schema_differences(&c, plan).await.map_err(pg)?;
    if !differences.is_empty() {
        return Err(MigrateError::new(
            step,
            ErrorKind::Config,
            format!(
                "--data-only loads into the tables of {:?} as they are, and {} differ from what the backup (and the \
                 mapping file) give: {}",
                names.name,
                differences.len(),
                differences.join("; ")
            ),
        ));
    }
    let tables: Vec<String> = plan.tables.iter().map(|tp| qualified(&tp.schema, &tp.name)).collect();
    let rows = c
        .query(
            "SELECT n.nspname::text, r.relname::text, k.conname::text, pg_get_constraintdef(k.oid) \
             FROM pg_constraint k JOIN pg_class r ON r.oid = k.conrelid JOIN pg_namespace n ON n.oid = r.relnamespace \
             WHERE k.contype = 'f' AND (k.conrelid = ANY($1::text[]::regclass[]) OR k.confrelid = ANY($1::text[]::regclass[])) \
             ORDER BY 1, 2, 3",
            &[&tables],
        )
        .await
        .map_err(pg)?;
    let saved: Vec<SavedForeignKey> = rows
        .iter()
        .map(|r| SavedForeignKey { schema: r.get(0), table: r.get(1), name: r.get(2), definition: r.get(3) })
        .collect();
    let mut sql = String::from("BEGIN;\n");
    for fk in &saved {
        sql.push_str(&format!(
            "ALTER TABLE {} DROP CONSTRAINT {};\n",
            qualified(&fk.schema, &fk.table),
            quote_ident(&fk.name)
        ));
    }
    if !tables.is_empty() {
        sql.push_str(&format!("TRUNCATE {};\n", tables.join(", ")));
    }
    sql.push_str("COMMIT;");
    c.batch_execute(&sql).await.map_err(pg)?;
    Ok(saved)
}

/// After the load of `--data-only`: the saved foreign keys added back (checked again by
/// PostgreSQL) and the sequences of loaded columns set past their largest value.
///
/// # Errors
/// The first foreign key PostgreSQL refuses (naming it), PostgreSQL errors.
pub async fn finish(
    target: &Target,
    names: &Names,
    plan: &Plan,
    saved: &[SavedForeignKey],
) -> Result<(), MigrateError> {
    let step = Step::CreateConstraints;
    let c = target.connect(step, &names.loading).await?;
    for fk in saved {
        let sql = format!(
            "ALTER TABLE {} ADD CONSTRAINT {} {}",
            qualified(&fk.schema, &fk.table),
            quote_ident(&fk.name),
            fk.definition
        );
        c.batch_execute(&sql).await.map_err(|e| {
            MigrateError::pg(step, e)
                .table(format!("{}.{}", fk.schema, fk.table))
                .object(format!("foreign key {} (added back after the load)", fk.name))
        })?;
    }
    for tp in &plan.tables {
        let q = qualified(&tp.schema, &tp.name);
        for cp in tp.columns.iter().filter(|c| c.copied()) {
            let seq: Option<String> = c
                .query_one("SELECT pg_get_serial_sequence($1, $2)", &[&q, &cp.name])
                .await
                .map_err(|e| MigrateError::pg(step, e).table(tp.source_display()))?
                .get(0);
            if let Some(seq) = seq {
                let sql = format!(
                    "SELECT setval($1::text::regclass, max({col})::bigint) FROM {q} HAVING max({col}) IS NOT NULL",
                    col = quote_ident(&cp.name)
                );
                c.query(&sql, &[&seq]).await.map_err(|e| {
                    MigrateError::pg(step, e).table(tp.source_display()).object(format!("sequence {seq}"))
                })?;
            }
        }
    }
    Ok(())
}
