//! `bak2pg migrate` end to end: the real command line, exit codes included, against the
//! test PostgreSQL (`BAK2PG_TEST_PG`, started by `scripts/test`), on the real fixtures
//! (`../shared/fixtures`, MANIFEST.md). These are the "Done when" checks of the migrate
//! issue:
//!
//! * Every complete backup, and both RAR archives that hold one, migrates: the
//!   `--report` JSON says `passed`, every table matched (row count and checksum on both
//!   sides), and every table's row count is MANIFEST.md's (tables MANIFEST.md does not
//!   count are pinned as well, marked as such). The lossy conversions and the objects
//!   not translated that the report lists are asserted exactly: they are the known,
//!   by-design differences.
//! * Where an oracle script exists, every table it fills is read back from PostgreSQL
//!   (`SELECT col::text …`) and compared with the script's `INSERT` values, column by
//!   column, with the harness (`bak2pg_tests::normalize::normalize_pg_text`,
//!   `bak2pg_tests::expectations`, which states precisely how each backup's uploader
//!   changed the data).
//! * After migration, identity columns continue after the loaded ids (an insert without
//!   the id gets the next one), defaults and foreign keys act on new rows, and every
//!   primary key, unique constraint, index and foreign key (with its actions) of the
//!   backup's catalog is in `pg_catalog` with the right columns, nothing more; for
//!   Northwind and BikeStores also against the DDL of the oracle scripts, which does not
//!   go through our catalog reader.
//! * Bad input fails clearly and touches nothing: refused backups (partial stripes, the
//!   negative fixtures, the CSV-only RAR) exit 2 naming the problem and create no
//!   database; a truncated copy and a copy with a flipped byte in a data page exit
//!   non-zero naming the file and the page or offset; an unreachable server and a role
//!   without CREATEDB exit 1. Each time, a database made by an earlier successful run
//!   under the same name keeps its oid and its contents.
//!
//! Each test uses its own database names (`e2e_…`), so the tests run in parallel; each
//! first drops leftovers of an interrupted earlier run and drops what it made at the end.
//! No assertion here is about time: speed is measured by `bench/migrate`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use bak2pg::ddl::{Plan, PlanOptions, quote_ident};
use bak2pg::report::{ReadBackMethod, Report, Status, TableStatus};
use bak2pg_tests::expectations::{check_table, fixture_checks};
use bak2pg_tests::normalize::normalize_pg_text;
use mssql_backup::Backup;
use mssql_backup::schema::{Database, FkAction, Table};
use tokio_postgres::Client;

mod cli;
use cli::*;

fn fixture(rel: &str) -> PathBuf {
    bak2pg_tests::fixture(rel)
}

// ---------------------------------------------------------------------------------------
// What each fixture must give

/// MANIFEST.md's Northwind counts (`instnwnd.sql`).
const NORTHWIND: &[(&str, u64)] = &[
    ("dbo.Categories", 8),
    ("dbo.Customers", 91),
    ("dbo.CustomerCustomerDemo", 0),
    ("dbo.CustomerDemographics", 0),
    ("dbo.Employees", 9),
    ("dbo.EmployeeTerritories", 49),
    ("dbo.Order Details", 2155),
    ("dbo.Orders", 830),
    ("dbo.Products", 77),
    ("dbo.Region", 4),
    ("dbo.Shippers", 3),
    ("dbo.Suppliers", 29),
    ("dbo.Territories", 53),
];

/// MANIFEST.md's pubs counts (`instpubs.sql`).
const PUBS: &[(&str, u64)] = &[
    ("dbo.authors", 23),
    ("dbo.discounts", 3),
    ("dbo.employee", 43),
    ("dbo.jobs", 14),
    ("dbo.pub_info", 8),
    ("dbo.publishers", 8),
    ("dbo.roysched", 86),
    ("dbo.sales", 21),
    ("dbo.stores", 6),
    ("dbo.titleauthor", 25),
    ("dbo.titles", 18),
];

/// MANIFEST.md's TSQLV4 counts (the tables it checks).
const TSQLV4: &[(&str, u64)] = &[
    ("HR.Employees", 9),
    ("Production.Categories", 8),
    ("Production.Products", 77),
    ("Production.Suppliers", 29),
    ("Sales.Customers", 91),
    ("Sales.OrderDetails", 2155),
    ("Sales.Orders", 830),
    ("Sales.Shippers", 3),
    ("dbo.Nums", 100_000),
];

/// MANIFEST.md's BikeStores counts, with the backup's 324 products (MANIFEST.md: "products
/// has 324 live rows vs 321 in the script").
const BIKESTORES: &[(&str, u64)] = &[
    ("production.brands", 9),
    ("production.categories", 7),
    ("production.products", 324),
    ("production.stocks", 939),
    ("sales.customers", 1445),
    ("sales.order_items", 4722),
    ("sales.orders", 1615),
    ("sales.staffs", 10),
    ("sales.stores", 3),
];

/// Fixture-specific checks beyond the common ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Extra {
    None,
    /// Northwind's keys and indexes against `instnwnd.sql`, identities, a default and a
    /// foreign key acting on new rows.
    Northwind,
    /// BikeStores' keys against `bikestores-create-objects.sql`, an identity.
    BikeStores,
    /// TSQLV4's identities.
    Tsqlv4,
}

/// A fixture run and what its report must say.
struct Fixture {
    /// The input, relative to the fixtures folder.
    input: &'static str,
    /// The backup whose catalog describes the migrated database (an archive's member is
    /// byte-identical to this file, MANIFEST.md).
    bak: &'static str,
    /// Rows per table (`schema.table`, SQL Server names) as MANIFEST.md counts them.
    manifest: Vec<(&'static str, u64)>,
    /// Rows of the tables MANIFEST.md does not count (tables the uploaders added,
    /// `sysdiagrams`…), as the backups hold them: pinned so that every table is checked,
    /// but with no source independent of the reader.
    others: Vec<(&'static str, u64)>,
    /// Lossy conversions the report must list: (table, column, kind, count).
    conversions: Vec<(&'static str, &'static str, &'static str, u64)>,
    /// Objects the report must list as not translated: (kind, table, object).
    untranslated: Vec<(&'static str, &'static str, &'static str)>,
    extra: Extra,
    /// More input files (the other stripes of a striped backup).
    more_inputs: Vec<&'static str>,
    /// More `migrate` arguments.
    args: Vec<&'static str>,
}

fn with_counts(base: &[(&'static str, u64)], changes: &[(&'static str, u64)]) -> Vec<(&'static str, u64)> {
    let mut v = base.to_vec();
    for (t, n) in changes {
        v.iter_mut().find(|(x, _)| x == t).unwrap_or_else(|| panic!("no table {t}")).1 = *n;
    }
    v
}

fn fx(input: &'static str, bak: &'static str, manifest: Vec<(&'static str, u64)>) -> Fixture {
    Fixture {
        input,
        bak,
        manifest,
        others: vec![],
        conversions: vec![],
        untranslated: vec![],
        extra: Extra::None,
        more_inputs: vec![],
        args: vec![],
    }
}

/// pubs' CHECK constraints with `LIKE '[0-9]…'` patterns: PostgreSQL's LIKE has no
/// character classes, and the translator does not guess a regular expression.
const PUBS_UNTRANSLATED: &[(&str, &str, &str)] = &[
    ("check", "dbo.CustomerAndSupplier", "CK__CustomerA__cusl___5728DECD"),
    ("check", "dbo.CustomerAndSupplier", "CK__CustomerA__cust___5634BA94"),
    ("check", "dbo.CustomerAndSuppliers", "CK__CustomerA__cust___422DC1E7"),
    ("check", "dbo.CustomerAndSuppliers", "CK__CustomerA__cust___4321E620"),
    ("check", "dbo.Item", "CK__Item__item_id__26CFC035"),
    ("check", "dbo.Items", "CK__Items__item_id__48DABF76"),
    ("check", "dbo.Transactions", "CK__Transacti__tran___4E9398CC"),
    ("check", "dbo.authors", "CK__authors__au_id__108B795B"),
    ("check", "dbo.authors", "CK__authors__zip__1273C1CD"),
    ("check", "dbo.customers", "CK__customers__custo__73BA3083"),
    ("check", "dbo.employee", "CK_emp_id"),
    ("check", "dbo.products", "CK__products__produc__6FE99F9F"),
    ("check", "dbo.publishers", "CK__publisher__pub_i__15502E78"),
];

fn northwind_2005(input: &'static str) -> Fixture {
    Fixture {
        others: vec![("dbo.sysdiagrams", 0)],
        extra: Extra::Northwind,
        ..fx(input, "bak/northwind-sql2005-tornpage.bak", NORTHWIND.to_vec())
    }
}

fn northwind_2014(input: &'static str) -> Fixture {
    Fixture {
        others: vec![("dbo.Recaudación", 1), ("dbo.Tabla", 0)],
        ..fx(input, "bak/northwind-sql2014-multifile.bak", NORTHWIND.to_vec())
    }
}

/// Migrates `f` through the command line into database `db` and checks the report: exit
/// 0, passed, every table matched with equal checksums on both sides, the row counts,
/// conversions and untranslated objects stated for the fixture, and the database in
/// place with no loading or previous database left. Returns the report.
async fn migrate_fixture(f: &Fixture, db: &str) -> Report {
    drop_like(db).await;
    let inputs: Vec<PathBuf> = std::iter::once(f.input).chain(f.more_inputs.iter().copied()).map(fixture).collect();
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    let run = run_migrate_with(&inputs, &pg_url(), db, &f.args).await;
    let out = run.output();
    assert_eq!(run.code, Some(0), "{}: {out}", f.input);
    let r = run.report.unwrap_or_else(|| panic!("{}: no report written\n{out}", f.input));
    assert_eq!(r.status, Status::Passed, "{}: {out}", f.input);
    assert_eq!(r.error, None);
    assert_eq!(r.target.database, db);
    assert_eq!(r.totals.mismatched, 0, "{}: {out}", f.input);
    assert_eq!(r.totals.matched, r.tables.len(), "{}: {out}", f.input);
    for t in &r.tables {
        assert_eq!(t.status, TableStatus::Match, "{} {}", f.input, t.source);
        assert!(t.source_checksum.is_some(), "{} {}", f.input, t.source);
        assert_eq!(t.source_checksum, t.target_checksum, "{} {}", f.input, t.source);
        assert_eq!(t.source_checksum.map(|c| c.rows), Some(t.rows), "{} {}", f.input, t.source);
        assert_eq!(t.catalog_rows, Some(t.rows), "{} {}: SQL Server's own count", f.input, t.source);
        // PostgreSQL 15 on a little-endian machine: its own hash, as the report says.
        assert_eq!(t.target_method, Some(ReadBackMethod::ServerHash), "{} {}", f.input, t.source);
    }
    let how = format!("validation: {} tables hashed by PostgreSQL from the rows it holds\n", r.tables.len());
    assert!(
        r.tables.is_empty() || run.stdout.contains(&how),
        "{}: the summary does not say how it validated:\n{}",
        f.input,
        run.stdout
    );

    // Row counts: exactly the tables stated, with MANIFEST.md's counts.
    let got: BTreeMap<&str, u64> = r.tables.iter().map(|t| (t.source.as_str(), t.rows)).collect();
    let want: BTreeMap<&str, u64> = f.manifest.iter().chain(&f.others).copied().collect();
    assert_eq!(got, want, "{}: rows per table", f.input);
    let manifest_total: u64 = f.manifest.iter().map(|(_, n)| n).sum();
    let got_total: u64 = f.manifest.iter().map(|(t, _)| got[t]).sum();
    assert_eq!(got_total, manifest_total, "{}: rows of the tables MANIFEST.md counts", f.input);
    assert_eq!(r.totals.rows, manifest_total + f.others.iter().map(|(_, n)| n).sum::<u64>());

    // The by-design differences, exactly.
    let mut conversions: Vec<(String, String, String, u64)> = Vec::new();
    for c in &r.conversions {
        let counts = serde_json::to_value(c.counts).expect("counts serialize");
        for (kind, n) in counts.as_object().expect("counts are an object") {
            let n = n.as_u64().expect("a count");
            if n > 0 {
                conversions.push((c.table.clone(), c.column.clone(), kind.clone(), n));
            }
        }
    }
    conversions.sort();
    let mut want_conv: Vec<(String, String, String, u64)> =
        f.conversions.iter().map(|(t, c, k, n)| (t.to_string(), c.to_string(), k.to_string(), *n)).collect();
    want_conv.sort();
    assert_eq!(conversions, want_conv, "{}: lossy conversions reported", f.input);
    // Foreign keys and CHECKs SQL Server did not trust (or had disabled) are created NOT
    // VALID and listed: exactly those of the backup's catalog (less any not translated).
    let (backup, plan) = catalog_for(f);
    let source = backup.database().expect("catalog");
    let key = |u: &bak2pg::ddl::Untranslated| (u.kind.clone(), u.table.clone(), u.object.clone());
    let not_created: BTreeSet<(String, String, String)> =
        r.untranslated.iter().filter(|u| u.action == "not created").map(key).collect();
    let mut want_nv = BTreeSet::new();
    for (tp, t) in plan.tables.iter().zip(&source.tables) {
        let fks = t.foreign_keys.iter().map(|k| ("foreign_key", &k.name, k.disabled || k.not_trusted));
        let cks = t.check_constraints.iter().map(|k| ("check", &k.name, k.disabled || k.not_trusted));
        for (kind, name, untrusted) in fks.chain(cks) {
            let k = (kind.to_string(), tp.source_display(), name.clone());
            if untrusted && !not_created.contains(&k) {
                want_nv.insert(k);
            }
        }
    }
    let not_valid = "created NOT VALID (enforced for new rows)";
    let got_nv: BTreeSet<(String, String, String)> =
        r.untranslated.iter().filter(|u| u.action == not_valid).map(key).collect();
    assert_eq!(got_nv, want_nv, "{}: constraints created NOT VALID because SQL Server did not trust them", f.input);
    let mut untranslated: Vec<(String, String, String)> =
        r.untranslated.iter().filter(|u| u.action != not_valid).map(key).collect();
    untranslated.sort();
    let mut want_un: Vec<(String, String, String)> =
        f.untranslated.iter().map(|(k, t, o)| (k.to_string(), t.to_string(), o.to_string())).collect();
    want_un.sort();
    assert_eq!(untranslated, want_un, "{}: objects not translated", f.input);
    assert_eq!(r.target.rejected_values, 0, "{}", f.input);
    assert!(r.warnings.is_empty(), "{}: {:?}", f.input, r.warnings);

    assert_eq!(databases_like(db).await, vec![db.to_string()], "{}: only the migrated database", f.input);

    // NOT NULL as SQL Server declared it, on every column: no NULL could have landed in
    // a column SQL Server kept NOT NULL.
    let c = connect(db).await;
    for (tp, t) in plan.tables.iter().zip(&source.tables) {
        for (cp, col) in tp.columns.iter().zip(&t.columns) {
            let not_null: bool = c
                .query_one(
                    "SELECT a.attnotnull FROM pg_attribute a JOIN pg_class t ON t.oid = a.attrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE n.nspname = $1 AND t.relname = $2 AND a.attname = $3",
                    &[&tp.schema, &tp.name, &cp.name],
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {}.{}: {e}", f.input, tp.name, cp.name))
                .get(0);
            assert_eq!(not_null, !col.nullable, "{}: {}.{} NOT NULL as in SQL Server", f.input, tp.name, cp.name);
        }
    }
    r
}

/// The backup `f` migrates, opened as the migration opens it (all its stripes, the
/// backup set its arguments choose), and the plan of its catalog.
fn catalog_for(f: &Fixture) -> (Backup, Plan) {
    let files: Vec<PathBuf> = if f.more_inputs.is_empty() {
        vec![fixture(f.bak)]
    } else {
        std::iter::once(f.input).chain(f.more_inputs.iter().copied()).map(fixture).collect()
    };
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let backup_set = f.args.iter().position(|a| *a == "--backup-set").map(|i| f.args[i + 1].parse().expect("a number"));
    let options = mssql_backup::OpenOptions { salvage: false, backup_set };
    let backup = Backup::open_with(&files, options).unwrap_or_else(|e| panic!("{}: {e}", f.input));
    let plan = bak2pg::ddl::plan(backup.database().expect("catalog"), &PlanOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", f.input));
    (backup, plan)
}

/// The backup's catalog and the plan the migration computed from it (the same database
/// and options always give the same plan), to name the PostgreSQL objects.
fn catalog(bak: &'static str) -> (Backup, Plan) {
    catalog_for(&fx(bak, bak, vec![]))
}

fn find_table<'a>(db: &'a Database, schema: &str, name: &str) -> &'a Table {
    db.tables
        .iter()
        .find(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("{}: no table {schema}.{name}", db.name))
}

/// The full migration check of one fixture: report, oracle values, catalog, and the
/// fixture's extras. Drops the database at the end.
async fn check_fixture(f: Fixture, db: &str) {
    let report = migrate_fixture(&f, db).await;
    let (backup, plan) = catalog(f.bak);
    let source = backup.database().expect("catalog");
    let c = connect(db).await;
    oracle_in_postgres(&c, f.bak, source, &plan).await.unwrap_or_else(|e| panic!("{e}"));
    catalog_matches_source(&c, source, &plan, &report).await.unwrap_or_else(|e| panic!("{e}"));
    match f.extra {
        Extra::None => {}
        Extra::Northwind => {
            northwind_catalog_matches_script(&c).await;
            northwind_new_rows(&c).await;
        }
        Extra::BikeStores => {
            bikestores_catalog_matches_script(&c).await;
            let id: i32 = c
                .query_one("INSERT INTO production.brands (brand_name) VALUES ('e2e') RETURNING brand_id", &[])
                .await
                .expect("insert without the id")
                .get(0);
            assert_eq!(id, 10, "brands holds ids 1..9");
        }
        Extra::Tsqlv4 => tsqlv4_new_rows(&c).await,
    }
    drop(c);
    drop_like(db).await;
}

// ---------------------------------------------------------------------------------------
// Oracle values in PostgreSQL

/// Every row of `tp` as PostgreSQL prints each column (`col::text`), in plan column order.
async fn pg_text_rows(c: &Client, tp: &bak2pg::ddl::TablePlan) -> Vec<Vec<Option<String>>> {
    let cols: Vec<String> = tp.columns.iter().map(|col| format!("{}::text", quote_ident(&col.name))).collect();
    let sql = format!("SELECT {} FROM {}", cols.join(", "), tp.qualified());
    let rows = c.query(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}"));
    rows.iter().map(|r| (0..cols.len()).map(|i| r.get::<_, Option<String>>(i)).collect()).collect()
}

/// For a fixture with an oracle (`bak2pg_tests::expectations::fixture_checks`): every
/// table the script fills, read back from PostgreSQL, equals the script's rows as the
/// expectations state (uploaders' edits included), every column; the tables the script
/// leaves empty are empty. Reports all failing tables at once.
///
/// Returns the number of cells compared (0 for a fixture without an oracle).
async fn oracle_in_postgres(c: &Client, bak: &str, source: &Database, plan: &Plan) -> Result<usize, String> {
    let name = bak.trim_start_matches("bak/");
    let Some(fx) = fixture_checks().into_iter().find(|f| f.bak == name) else { return Ok(0) };
    c.batch_execute(
        "SET TimeZone = 'UTC'; SET DateStyle = 'ISO, YMD'; SET extra_float_digits = 1; SET bytea_output = 'hex'",
    )
    .await
    .expect("session settings");
    let script = fx.oracle.load().unwrap_or_else(|e| panic!("{e}"));
    let mut failures = Vec::new();
    let mut cells = 0;
    for check in &fx.tables {
        let t = find_table(source, check.schema, check.name);
        let tp = plan.table(&t.schema, &t.name).unwrap_or_else(|| panic!("{bak}: no plan for {}", t.name));
        let actual: Vec<Vec<Option<String>>> = pg_text_rows(c, tp)
            .await
            .into_iter()
            .map(|row| row.iter().zip(&t.columns).map(|(v, col)| normalize_pg_text(&col.ty, v.as_deref())).collect())
            .collect();
        match check_table(check, &script, t, &actual) {
            Ok(cmp) => {
                assert_eq!(cmp.expected_rows, check.oracle_rows, "{bak} {}", check.name);
                assert_eq!(cmp.columns, t.columns.len(), "{bak} {}", check.name);
                cells += cmp.expected_rows * cmp.columns;
            }
            Err(e) => failures.push(e),
        }
    }
    for (schema, table) in fx.empty {
        let t = find_table(source, schema, table);
        let tp = plan.table(&t.schema, &t.name).expect("planned");
        let n: i64 = c.query_one(&format!("SELECT count(*) FROM {}", tp.qualified()), &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{bak}: {schema}.{table} is not filled by the script");
    }
    if !failures.is_empty() {
        return Err(format!(
            "{bak}: {} tables in PostgreSQL differ from the oracle:\n{}",
            failures.len(),
            failures.join("\n")
        ));
    }
    assert!(cells > 0);
    eprintln!("{bak}: {} oracle tables, {cells} cells equal in PostgreSQL", fx.tables.len());
    Ok(cells)
}

// ---------------------------------------------------------------------------------------
// pg_catalog

/// A primary key, unique or foreign key constraint as pg_catalog has it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PgConstraint {
    /// `schema.table` (PostgreSQL names, unquoted).
    table: String,
    name: String,
    /// `p`, `u` or `f`.
    kind: String,
    columns: Vec<String>,
    /// Foreign keys: referenced `schema.table`, columns, `confdeltype`, `confupdtype`
    /// (`a` no action, `c` cascade, `n` set null, `d` set default).
    references: Option<(String, Vec<String>, String, String)>,
    validated: bool,
}

/// An index that backs no constraint.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct PgIndex {
    table: String,
    name: String,
    unique: bool,
    /// Key columns, `col` or `col DESC`.
    keys: Vec<String>,
    include: Vec<String>,
    filtered: bool,
}

/// Constraints and indexes of the user tables of the connected database.
async fn pg_objects(c: &Client) -> (Vec<PgConstraint>, Vec<PgIndex>) {
    let cons = c
        .query(
            "SELECT n.nspname || '.' || t.relname, con.conname::text, con.contype::text, \
               ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(num, i) \
                     JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.num ORDER BY k.i), \
               rn.nspname || '.' || rt.relname, \
               ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, i) \
                     JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.num ORDER BY k.i), \
               con.confdeltype::text, con.confupdtype::text, con.convalidated \
             FROM pg_constraint con \
             JOIN pg_class t ON t.oid = con.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
             LEFT JOIN pg_class rt ON rt.oid = con.confrelid LEFT JOIN pg_namespace rn ON rn.oid = rt.relnamespace \
             WHERE con.contype IN ('p', 'u', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema')",
            &[],
        )
        .await
        .expect("reading pg_constraint");
    let cons = cons
        .iter()
        .map(|r| {
            let kind: String = r.get(2);
            PgConstraint {
                table: r.get(0),
                name: r.get(1),
                references: (kind == "f").then(|| (r.get(4), r.get(5), r.get(6), r.get(7))),
                kind,
                columns: r.get(3),
                validated: r.get(8),
            }
        })
        .collect();
    let idx = c
        .query(
            "SELECT n.nspname || '.' || t.relname, i.relname::text, ix.indisunique, \
               ARRAY(SELECT a.attname || CASE WHEN ix.indoption[k] & 1 = 1 THEN ' DESC' ELSE '' END \
                     FROM generate_series(0, ix.indnkeyatts - 1) k \
                     JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k] ORDER BY k), \
               ARRAY(SELECT a.attname::text FROM generate_series(ix.indnkeyatts, ix.indnatts - 1) k \
                     JOIN pg_attribute a ON a.attrelid = ix.indrelid AND a.attnum = ix.indkey[k] ORDER BY k), \
               ix.indpred IS NOT NULL \
             FROM pg_index ix JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_class t ON t.oid = ix.indrelid \
             JOIN pg_namespace n ON n.oid = t.relnamespace \
             WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
               AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = ix.indexrelid)",
            &[],
        )
        .await
        .expect("reading pg_index");
    let idx = idx
        .iter()
        .map(|r| PgIndex {
            table: r.get(0),
            name: r.get(1),
            unique: r.get(2),
            keys: r.get(3),
            include: r.get(4),
            filtered: r.get(5),
        })
        .collect();
    (cons, idx)
}

fn fk_code(a: FkAction) -> String {
    match a {
        FkAction::NoAction => "a",
        FkAction::Cascade => "c",
        FkAction::SetNull => "n",
        FkAction::SetDefault => "d",
    }
    .into()
}

/// Every primary key, unique constraint, index and foreign key of the backup's catalog is
/// in pg_catalog under its planned name, on the planned table, with the same columns in
/// the same order (and DESC, INCLUDE, uniqueness, filter), foreign keys with their
/// referenced table, columns and actions; validated unless SQL Server did not trust or
/// enforce it. Nothing else exists. Objects the report lists as not created are expected
/// absent.
async fn catalog_matches_source(c: &Client, source: &Database, plan: &Plan, report: &Report) -> Result<(), String> {
    let not_created: BTreeSet<(String, String, String)> = report
        .untranslated
        .iter()
        .filter(|u| u.action == "not created")
        .map(|u| (u.kind.clone(), u.table.clone(), u.object.clone()))
        .collect();
    let mut want_cons = Vec::new();
    let mut want_idx = Vec::new();
    for (ti, (tp, t)) in plan.tables.iter().zip(&source.tables).enumerate() {
        let names = &plan.object_names[ti];
        let table = format!("{}.{}", tp.schema, tp.name);
        let col = |n: &str| tp.column(n).unwrap_or_else(|| panic!("{table}: no column {n}")).name.clone();
        let skipped = |kind: &str, object: &str| {
            not_created.contains(&(kind.to_string(), tp.source_display(), object.to_string()))
        };
        let key = |k: &mssql_backup::schema::KeyConstraint, kind: &str| PgConstraint {
            table: table.clone(),
            name: names[&k.name].clone(),
            kind: kind.into(),
            columns: k.columns.iter().map(|ic| col(&ic.name)).collect(),
            references: None,
            validated: true,
        };
        if let Some(pk) = &t.primary_key {
            want_cons.push(key(pk, "p"));
        }
        for uq in &t.unique_constraints {
            want_cons.push(key(uq, "u"));
        }
        for ix in &t.indexes {
            if skipped("index", &ix.name) {
                continue;
            }
            want_idx.push(PgIndex {
                table: table.clone(),
                name: names[&ix.name].clone(),
                unique: ix.unique,
                keys: ix
                    .columns
                    .iter()
                    .filter(|ic| !ic.included)
                    .map(|ic| format!("{}{}", col(&ic.name), if ic.descending { " DESC" } else { "" }))
                    .collect(),
                include: ix.columns.iter().filter(|ic| ic.included).map(|ic| col(&ic.name)).collect(),
                filtered: ix.filter.is_some(),
            });
        }
        for fk in &t.foreign_keys {
            if skipped("foreign_key", &fk.name) {
                continue;
            }
            let rt = plan.table(&fk.referenced_schema, &fk.referenced_table).expect("referenced table planned");
            want_cons.push(PgConstraint {
                table: table.clone(),
                name: names[&fk.name].clone(),
                kind: "f".into(),
                columns: fk.columns.iter().map(|c| col(c)).collect(),
                references: Some((
                    format!("{}.{}", rt.schema, rt.name),
                    fk.referenced_columns
                        .iter()
                        .map(|c| rt.column(c).expect("referenced column").name.clone())
                        .collect(),
                    fk_code(fk.on_delete),
                    fk_code(fk.on_update),
                )),
                validated: !(fk.disabled || fk.not_trusted),
            });
        }
    }
    // CHECKs: present under their planned names, validated exactly when SQL Server
    // trusted them (a trusted one that the rows violate fails the run instead).
    for (ti, (tp, t)) in plan.tables.iter().zip(&source.tables).enumerate() {
        for ck in &t.check_constraints {
            if not_created.contains(&("check".to_string(), tp.source_display(), ck.name.clone())) {
                continue;
            }
            let name = &plan.object_names[ti][&ck.name];
            let row = c
                .query_opt(
                    "SELECT con.convalidated FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid \
                     JOIN pg_namespace n ON n.oid = t.relnamespace \
                     WHERE con.contype = 'c' AND con.conname = $1 AND n.nspname = $2 AND t.relname = $3",
                    &[name, &tp.schema, &tp.name],
                )
                .await
                .map_err(|e| format!("reading pg_constraint: {e}"))?;
            let want = !(ck.disabled || ck.not_trusted);
            match row {
                None => return Err(format!("{}: CHECK {name} of {} missing in pg_catalog", source.name, tp.name)),
                Some(r) if r.get::<_, bool>(0) != want => {
                    return Err(format!("{}: CHECK {name} of {}: convalidated must be {want}", source.name, tp.name));
                }
                Some(_) => {}
            }
        }
    }
    let (mut cons, mut idx) = pg_objects(c).await;
    cons.sort();
    idx.sort();
    want_cons.sort();
    want_idx.sort();
    let diff = |what: &str, got: &[String], want: &[String]| {
        let missing: Vec<&String> = want.iter().filter(|w| !got.contains(w)).collect();
        let extra: Vec<&String> = got.iter().filter(|g| !want.contains(g)).collect();
        format!(
            "{}: {what} in pg_catalog vs the backup's catalog: missing {missing:#?}, not expected {extra:#?}",
            source.name
        )
    };
    let show = |v: &[PgConstraint]| v.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>();
    if cons != want_cons {
        return Err(diff("keys and foreign keys", &show(&cons), &show(&want_cons)));
    }
    let show = |v: &[PgIndex]| v.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>();
    if idx != want_idx {
        return Err(diff("indexes", &show(&idx), &show(&want_idx)));
    }
    assert!(!want_cons.is_empty() || !want_idx.is_empty() || source.tables.iter().all(|t| t.primary_key.is_none()));
    Ok(())
}

/// Sorted (table, columns) of the constraints of `kind`; for foreign keys with the
/// referenced table, columns and actions appended.
fn shapes(cons: &[PgConstraint], kind: &str) -> Vec<String> {
    let mut v: Vec<String> = cons
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| match &c.references {
            None => format!("{}({})", c.table, c.columns.join(",")),
            Some((rt, rc, del, upd)) => {
                format!(
                    "{}({}) -> {rt}({}) on delete {del} on update {upd}",
                    c.table,
                    c.columns.join(","),
                    rc.join(",")
                )
            }
        })
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

/// Northwind's primary keys, foreign keys and indexes as `instnwnd.sql` creates them
/// (read off the script by hand, not through the catalog reader).
async fn northwind_catalog_matches_script(c: &Client) {
    let (cons, idx) = pg_objects(c).await;
    let script_tables = |s: &String| !s.starts_with("public.sysdiagrams");
    let cons: Vec<PgConstraint> = cons.into_iter().filter(|c| script_tables(&c.table)).collect();
    assert_eq!(
        shapes(&cons, "p"),
        sorted(&[
            "public.Categories(CategoryID)",
            "public.CustomerCustomerDemo(CustomerID,CustomerTypeID)",
            "public.CustomerDemographics(CustomerTypeID)",
            "public.Customers(CustomerID)",
            "public.EmployeeTerritories(EmployeeID,TerritoryID)",
            "public.Employees(EmployeeID)",
            "public.Order Details(OrderID,ProductID)",
            "public.Orders(OrderID)",
            "public.Products(ProductID)",
            "public.Region(RegionID)",
            "public.Shippers(ShipperID)",
            "public.Suppliers(SupplierID)",
            "public.Territories(TerritoryID)",
        ])
    );
    assert_eq!(shapes(&cons, "u"), Vec::<String>::new());
    let fk =
        |t: &str, c: &str, rt: &str, rc: &str| format!("public.{t}({c}) -> public.{rt}({rc}) on delete a on update a");
    let mut want_fks = vec![
        fk("Employees", "ReportsTo", "Employees", "EmployeeID"),
        fk("Orders", "CustomerID", "Customers", "CustomerID"),
        fk("Orders", "EmployeeID", "Employees", "EmployeeID"),
        fk("Orders", "ShipVia", "Shippers", "ShipperID"),
        fk("Products", "CategoryID", "Categories", "CategoryID"),
        fk("Products", "SupplierID", "Suppliers", "SupplierID"),
        fk("Order Details", "OrderID", "Orders", "OrderID"),
        fk("Order Details", "ProductID", "Products", "ProductID"),
        fk("CustomerCustomerDemo", "CustomerTypeID", "CustomerDemographics", "CustomerTypeID"),
        fk("CustomerCustomerDemo", "CustomerID", "Customers", "CustomerID"),
        fk("Territories", "RegionID", "Region", "RegionID"),
        fk("EmployeeTerritories", "EmployeeID", "Employees", "EmployeeID"),
        fk("EmployeeTerritories", "TerritoryID", "Territories", "TerritoryID"),
    ];
    want_fks.sort();
    assert_eq!(shapes(&cons, "f"), want_fks);
    let mut got_idx: Vec<String> = idx
        .iter()
        .filter(|i| script_tables(&i.table))
        .map(|i| format!("{}({}){}", i.table, i.keys.join(","), if i.unique { " unique" } else { "" }))
        .collect();
    got_idx.sort();
    let ix = |t: &str, c: &str| format!("public.{t}({c})");
    let mut want_idx = vec![
        ix("Employees", "LastName"),
        ix("Employees", "PostalCode"),
        ix("Categories", "CategoryName"),
        ix("Customers", "City"),
        ix("Customers", "CompanyName"),
        ix("Customers", "PostalCode"),
        ix("Customers", "Region"),
        ix("Suppliers", "CompanyName"),
        ix("Suppliers", "PostalCode"),
        ix("Orders", "CustomerID"),
        ix("Orders", "CustomerID"),
        ix("Orders", "EmployeeID"),
        ix("Orders", "EmployeeID"),
        ix("Orders", "OrderDate"),
        ix("Orders", "ShippedDate"),
        ix("Orders", "ShipVia"),
        ix("Orders", "ShipPostalCode"),
        ix("Products", "CategoryID"),
        ix("Products", "CategoryID"),
        ix("Products", "ProductName"),
        ix("Products", "SupplierID"),
        ix("Products", "SupplierID"),
        ix("Order Details", "OrderID"),
        ix("Order Details", "OrderID"),
        ix("Order Details", "ProductID"),
        ix("Order Details", "ProductID"),
    ];
    want_idx.sort();
    assert_eq!(got_idx, want_idx, "Northwind indexes vs instnwnd.sql");
}

/// New rows in Northwind: identities continue after the loaded ids, a default applies,
/// a foreign key refuses an orphan.
async fn northwind_new_rows(c: &Client) {
    let id: i32 = c
        .query_one(r#"INSERT INTO "Categories" ("CategoryName") VALUES ('e2e') RETURNING "CategoryID""#, &[])
        .await
        .expect("insert without the id")
        .get(0);
    assert_eq!(id, 9, "Categories holds ids 1..8");
    let row = c
        .query_one(r#"INSERT INTO "Orders" DEFAULT VALUES RETURNING "OrderID", "Freight"::text"#, &[])
        .await
        .expect("insert without the id");
    assert_eq!(row.get::<_, i32>(0), 11078, "Orders holds ids 10248..11077");
    assert_eq!(row.get::<_, Option<String>>(1).as_deref(), Some("0.0000"), "DF_Orders_Freight DEFAULT (0)");
    let e = c
        .batch_execute(r#"INSERT INTO "Order Details" ("OrderID", "ProductID", "UnitPrice") VALUES (1, 1, 1)"#)
        .await
        .expect_err("FK_Order_Details_Orders refuses an order that does not exist");
    assert_eq!(e.code().map(|s| s.code()), Some("23503"), "{e}");
}

/// TSQLV4: identities continue after the loaded ids.
async fn tsqlv4_new_rows(c: &Client) {
    let id: i32 = c
        .query_one(
            r#"INSERT INTO "HR"."Employees" (lastname, firstname, title, titleofcourtesy, birthdate, hiredate,
                 address, city, country, phone)
               VALUES ('E2e', 'Test', 'Tester', 'Mx.', '1990-01-01', '2020-01-01', 'Street 1', 'Town', 'Land', '1')
               RETURNING empid"#,
            &[],
        )
        .await
        .expect("insert without the id")
        .get(0);
    assert_eq!(id, 10, "HR.Employees holds ids 1..9");
    let id: i32 = c
        .query_one(
            r#"INSERT INTO "Sales"."Shippers" (companyname, phone) VALUES ('E2e', '1') RETURNING shipperid"#,
            &[],
        )
        .await
        .expect("insert without the id")
        .get(0);
    assert_eq!(id, 4, "Sales.Shippers holds ids 1..3");
}

/// BikeStores' keys as `bikestores-create-objects.sql` declares them (read off the script
/// by hand; its AUTO_INCREMENT is IDENTITY in the SQL Server database).
async fn bikestores_catalog_matches_script(c: &Client) {
    let (cons, idx) = pg_objects(c).await;
    assert_eq!(
        shapes(&cons, "p"),
        sorted(&[
            "production.brands(brand_id)",
            "production.categories(category_id)",
            "production.products(product_id)",
            "production.stocks(store_id,product_id)",
            "sales.customers(customer_id)",
            "sales.order_items(order_id,item_id)",
            "sales.orders(order_id)",
            "sales.staffs(staff_id)",
            "sales.stores(store_id)",
        ])
    );
    assert_eq!(shapes(&cons, "u"), sorted(&["sales.staffs(email)"]));
    let fk = |t: &str, c: &str, rt: &str, rc: &str, action: &str| {
        format!("{t}({c}) -> {rt}({rc}) on delete {action} on update {action}")
    };
    let mut want = vec![
        fk("production.products", "category_id", "production.categories", "category_id", "c"),
        fk("production.products", "brand_id", "production.brands", "brand_id", "c"),
        fk("sales.staffs", "store_id", "sales.stores", "store_id", "c"),
        fk("sales.staffs", "manager_id", "sales.staffs", "staff_id", "a"),
        fk("sales.orders", "customer_id", "sales.customers", "customer_id", "c"),
        fk("sales.orders", "store_id", "sales.stores", "store_id", "c"),
        fk("sales.orders", "staff_id", "sales.staffs", "staff_id", "a"),
        fk("sales.order_items", "order_id", "sales.orders", "order_id", "c"),
        fk("sales.order_items", "product_id", "production.products", "product_id", "c"),
        fk("production.stocks", "store_id", "sales.stores", "store_id", "c"),
        fk("production.stocks", "product_id", "production.products", "product_id", "c"),
    ];
    want.sort();
    assert_eq!(shapes(&cons, "f"), want, "BikeStores foreign keys vs bikestores-create-objects.sql");
    assert!(cons.iter().all(|c| c.validated), "every BikeStores constraint is validated: {cons:?}");
    assert_eq!(idx, vec![], "the script creates no other index");
}

// ---------------------------------------------------------------------------------------
// Every complete fixture

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2005_migrates_equal_to_oracle_with_keys_and_identities() {
    check_fixture(northwind_2005("bak/northwind-sql2005-tornpage.bak"), "e2e_nw2005").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2005_rar5_migrates_equal_to_oracle() {
    check_fixture(northwind_2005("rar/northwind-sql2005-rar5.rar"), "e2e_nw2005_rar").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2008_migrates_equal_to_oracle() {
    check_fixture(
        Fixture {
            others: vec![("dbo.sysdiagrams", 1)],
            ..fx("bak/northwind-sql2008-tornpage.bak", "bak/northwind-sql2008-tornpage.bak", NORTHWIND.to_vec())
        },
        "e2e_nw2008",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2008r2_migrates_equal_to_oracle_plus_added_rows() {
    check_fixture(
        Fixture {
            others: vec![("dbo.sysdiagrams", 0), ("dbo.titulos_de_contacto", 4)],
            ..fx(
                "bak/northwind-sql2008r2.bak",
                "bak/northwind-sql2008r2.bak",
                with_counts(NORTHWIND, &[("dbo.Customers", 97), ("dbo.Shippers", 6)]),
            )
        },
        "e2e_nw2008r2",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2014_multifile_migrates_equal_to_oracle() {
    check_fixture(northwind_2014("bak/northwind-sql2014-multifile.bak"), "e2e_nw2014").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2014_multifile_rar4_migrates_equal_to_oracle() {
    check_fixture(northwind_2014("rar/northwind-sql2014-multifile-rar4.rar"), "e2e_nw2014_rar").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2016_compressed_migrates_equal_to_oracle_plus_category_11() {
    check_fixture(
        Fixture {
            others: vec![("dbo.sysdiagrams", 0)],
            // MANIFEST.md: "Categories count differs"; the expectations: one added row, 11.
            ..fx(
                "bak/northwind-sql2016-compressed.bak",
                "bak/northwind-sql2016-compressed.bak",
                with_counts(NORTHWIND, &[("dbo.Categories", 9)]),
            )
        },
        "e2e_nw2016",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2019_modified_migrates() {
    check_fixture(
        fx(
            "bak/northwind-sql2019-modified-tornpage.bak",
            "bak/northwind-sql2019-modified-tornpage.bak",
            vec![("dbo.Categories", 9), ("dbo.Products", 77), ("dbo.sysdiagrams", 0), ("dbo.Users", 58)],
        ),
        "e2e_nw2019",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pubs_2012_migrates_equal_to_oracle() {
    check_fixture(
        Fixture {
            others: vec![
                ("dbo.CustomerAndSupplier", 0),
                ("dbo.CustomerAndSuppliers", 2),
                ("dbo.Item", 2),
                ("dbo.Items", 6),
                ("dbo.Transactions", 1),
                ("dbo.customers", 3),
                ("dbo.products", 3),
            ],
            untranslated: PUBS_UNTRANSLATED.to_vec(),
            ..fx("bak/pubs-sql2012.bak", "bak/pubs-sql2012.bak", PUBS.to_vec())
        },
        "e2e_pubs",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsqlv4_2016_compressed_migrates_equal_to_oracle_with_identities() {
    check_fixture(
        Fixture {
            others: vec![
                // Filled by TSQLV4.sql, not counted by MANIFEST.md.
                ("Stats.Scores", 19),
                ("Stats.Tests", 2),
                // Added by the uploader.
                ("Audit.TransactionTimingSequence", 5),
                ("dbo.Employees", 5),
                ("dbo.EmployeesHistory", 5),
                ("dbo.MyTest", 2),
                ("dbo.Orders", 1),
            ],
            // datetime2(7) values with a 7th fraction digit: PostgreSQL keeps microseconds.
            conversions: vec![("Audit.TransactionTimingSequence", "ActionDatetime", "fraction_rounded", 4)],
            // CHECK (birthdate <= CAST(SYSDATETIME() AS DATE)): CONVERT is not translated.
            untranslated: vec![("check", "HR.Employees", "CHK_birthdate")],
            extra: Extra::Tsqlv4,
            ..fx("bak/tsqlv4-sql2016-compressed.bak", "bak/tsqlv4-sql2016-compressed.bak", TSQLV4.to_vec())
        },
        "e2e_tsqlv4",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bikestores_2017_migrates_equal_to_oracle_with_keys() {
    check_fixture(
        Fixture {
            extra: Extra::BikeStores,
            ..fx("bak/bikestores-sql2017.bak", "bak/bikestores-sql2017.bak", BIKESTORES.to_vec())
        },
        "e2e_bikestores",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn universidad_2019_compressed_migrates() {
    check_fixture(
        Fixture {
            // MANIFEST.md gives no counts for this backup.
            others: vec![("dbo.Estudiante", 3)],
            ..fx("bak/universidad-sql2019-compressed.bak", "bak/universidad-sql2019-compressed.bak", vec![])
        },
        "e2e_universidad",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotel_guid_2022_migrates() {
    check_fixture(
        Fixture {
            // datetime values of 1/300 s ticks that are no whole millisecond.
            conversions: vec![
                ("dbo.reservation", "date_debut_reservation", "datetime_ticks_rounded", 7),
                ("dbo.reservation", "date_fin_reservation", "datetime_ticks_rounded", 7),
            ],
            ..fx(
                "bak/hotel-projethotel-guid-sql2022.bak",
                "bak/hotel-projethotel-guid-sql2022.bak",
                vec![("dbo.chambre", 531), ("dbo.reservation", 21), ("dbo.type_chambre", 20), ("dbo.usager", 29)],
            )
        },
        "e2e_hotel_guid",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotel_vietnamese_2019_migrates() {
    check_fixture(
        fx(
            "bak/hotel-qlks-vietnamese-sql2019.bak",
            "bak/hotel-qlks-vietnamese-sql2019.bak",
            vec![
                ("dbo.CHI_TIET_DAT", 6),
                ("dbo.LOAI_PHONG", 7),
                ("dbo.NGUOI_DUNG", 7),
                ("dbo.PHIEU_DAT", 6),
                ("dbo.PHONG", 0),
                ("dbo.sysdiagrams", 0),
            ],
        ),
        "e2e_hotel_vn",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hotel_time_2017_migrates() {
    check_fixture(
        Fixture {
            // TIME(7) values such as 18:25:29.5833333: PostgreSQL keeps microseconds.
            conversions: vec![
                ("dbo.TransactionRecord", "CheckInTime", "fraction_rounded", 2),
                ("dbo.TransactionRecord", "CheckOutTime", "fraction_rounded", 3),
            ],
            ..fx(
                "bak/hotel-management-time-sql2017.bak",
                "bak/hotel-management-time-sql2017.bak",
                vec![
                    ("dbo.Guest", 5),
                    ("dbo.Payment", 0),
                    ("dbo.Room", 20),
                    ("dbo.TransactionRecord", 4),
                    ("dbo.User", 1),
                ],
            )
        },
        "e2e_hotel_time",
    )
    .await;
}

/// The checks above are not vacuous: in a migrated database, one value changed by a
/// ten-thousandth, one row deleted, or one index or foreign key dropped, fails them,
/// naming the table and column or the object.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checks_notice_one_changed_value_or_missing_object() {
    let db = "e2e_mutated";
    let f = Fixture {
        others: vec![
            ("dbo.CustomerAndSupplier", 0),
            ("dbo.CustomerAndSuppliers", 2),
            ("dbo.Item", 2),
            ("dbo.Items", 6),
            ("dbo.Transactions", 1),
            ("dbo.customers", 3),
            ("dbo.products", 3),
        ],
        untranslated: PUBS_UNTRANSLATED.to_vec(),
        ..fx("bak/pubs-sql2012.bak", "bak/pubs-sql2012.bak", PUBS.to_vec())
    };
    let report = migrate_fixture(&f, db).await;
    let (backup, plan) = catalog(f.bak);
    let source = backup.database().expect("catalog");
    let c = connect(db).await;
    assert!(oracle_in_postgres(&c, f.bak, source, &plan).await.is_ok());
    assert!(catalog_matches_source(&c, source, &plan, &report).await.is_ok());

    c.batch_execute("UPDATE titles SET price = price + 0.0001 WHERE title_id = 'BU1032'").await.expect("update");
    let e = oracle_in_postgres(&c, f.bak, source, &plan).await.expect_err("a changed price");
    assert!(e.contains("table dbo.titles") && e.contains(r#"price: expected "19.9900", got "19.9901""#), "{e}");
    c.batch_execute("UPDATE titles SET price = price - 0.0001 WHERE title_id = 'BU1032'; DELETE FROM roysched WHERE ctid = (SELECT min(ctid) FROM roysched)")
        .await
        .expect("restore, delete");
    let e = oracle_in_postgres(&c, f.bak, source, &plan).await.expect_err("a missing row");
    assert!(e.contains("table dbo.roysched: 86 expected rows, 85 read"), "{e}");

    c.batch_execute("DROP INDEX aunmind").await.expect("drop an index");
    let e = catalog_matches_source(&c, source, &plan, &report).await.expect_err("a missing index");
    assert!(e.contains("indexes") && e.contains("aunmind"), "{e}");
    c.batch_execute("CREATE INDEX aunmind ON authors (au_lname, au_fname); ALTER TABLE titleauthor DROP CONSTRAINT \"FK__titleauth__au_id__1DE57479\"")
        .await
        .expect("restore, drop a foreign key");
    let e = catalog_matches_source(&c, source, &plan, &report).await.expect_err("a missing foreign key");
    assert!(e.contains("keys and foreign keys") && e.contains("FK__titleauth__au_id"), "{e}");
    drop(c);
    drop_like(db).await;
}

// ---------------------------------------------------------------------------------------
// Backups the reader was not built against (MANIFEST.md, "Added 2026-12-06")

/// The text of `column` in the rows of `schema.table` (SQL Server names) that `filter`
/// (SQL over PostgreSQL's columns) selects, as PostgreSQL prints them, ordered.
async fn pg_column(
    c: &Client,
    plan: &Plan,
    schema: &str,
    table: &str,
    column: &str,
    filter: &str,
) -> Vec<Option<String>> {
    let tp = plan.table(schema, table).unwrap_or_else(|| panic!("no table {schema}.{table} planned"));
    let col = quote_ident(&tp.column(column).unwrap_or_else(|| panic!("no column {column}")).name);
    let sql = format!("SELECT {col}::text FROM {} WHERE {filter} ORDER BY 1", tp.qualified());
    c.query(&sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get(0)).collect()
}

/// Heaps with 573 forwarding stubs: every row once, instnwnd.sql's counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_2008_forwarded_heaps_migrate_with_instnwnd_counts() {
    let f = Fixture {
        others: vec![("dbo.sysdiagrams", 1)],
        untranslated: vec![("check", "dbo.Employee", "CK Employee BirthDate")],
        ..fx(
            "bak/northwind-sql2008-forwarded.bak",
            "bak/northwind-sql2008-forwarded.bak",
            vec![
                ("dbo.Category", 8),
                ("dbo.Customer", 91),
                ("dbo.Employee", 9),
                ("dbo.Order", 830),
                ("dbo.OrderDetail", 2155),
                ("dbo.Product", 77),
                ("dbo.Shipper", 3),
                ("dbo.Supplier", 29),
            ],
        )
    };
    let db = "e2e_forwarded";
    let r = migrate_fixture(&f, db).await;
    let (backup, plan) = catalog_for(&f);
    let c = connect(db).await;
    catalog_matches_source(&c, backup.database().expect("catalog"), &plan, &r).await.unwrap_or_else(|e| panic!("{e}"));
    drop(c);
    drop_like(db).await;
}

/// Trailing zero-length variable columns are '' (not NULL) when their null bit is clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_empty_variable_columns_are_empty_strings() {
    let zeynab = Fixture {
        others: vec![
            ("dbo.__EFMigrationsHistory", 1),
            ("dbo.frontend", 3),
            ("dbo.kitchen", 2),
            ("dbo.reservation", 31),
        ],
        ..fx("bak/hotel-zeynab-ef-sql2017.bak", "bak/hotel-zeynab-ef-sql2017.bak", vec![])
    };
    let db = "e2e_zeynab";
    migrate_fixture(&zeynab, db).await;
    let (_, plan) = catalog_for(&zeynab);
    let c = connect(db).await;
    let id = quote_ident(&plan.table("dbo", "reservation").expect("reservation").column("Id").expect("Id").name);
    for col in ["card_number", "card_exp"] {
        let got = pg_column(&c, &plan, "dbo", "reservation", col, &format!("{id} = 24")).await;
        assert_eq!(got, vec![Some(String::new())], "reservation Id 24 {col}");
    }
    drop(c);
    drop_like(db).await;

    let dbareports = Fixture {
        others: vec![
            ("dbo.ClientDatabaseLookup", 0),
            ("dbo.Clients", 0),
            ("dbo.InstanceList", 2),
            ("dbo.NotEntered", 0),
            ("info.AgentJobDetail", 0),
            ("info.AgentJobServer", 0),
            ("info.Alerts", 0),
            ("info.Databases", 15),
            ("info.DiskSpace", 0),
            ("info.HistoricalDBSize", 0),
            ("info.LogFileErrorMessages", 0),
            ("info.SQLInfo", 1),
            ("info.ServerInfo", 2),
            ("info.SuspectPages", 0),
        ],
        conversions: vec![
            ("info.Databases", "DateAdded", "fraction_rounded", 15),
            ("info.Databases", "DateChecked", "fraction_rounded", 15),
            ("info.Databases", "LastDBCCDate", "datetime_ticks_rounded", 2),
            ("info.SQLInfo", "DateChecked", "datetime_ticks_rounded", 1),
            ("info.SQLInfo", "DateAdded", "datetime_ticks_rounded", 1),
            ("info.ServerInfo", "DateChecked", "datetime_ticks_rounded", 1),
        ],
        ..fx("bak/appveyor-dbareports-sql2008r2.bak", "bak/appveyor-dbareports-sql2008r2.bak", vec![])
    };
    let db = "e2e_dbareports";
    migrate_fixture(&dbareports, db).await;
    let (_, plan) = catalog_for(&dbareports);
    let c = connect(db).await;
    for col in ["Environment", "Location"] {
        let got = pg_column(&c, &plan, "dbo", "InstanceList", col, "true").await;
        assert_eq!(got, vec![Some(String::new()), Some(String::new())], "InstanceList.{col}");
    }
    drop(c);
    drop_like(db).await;
}

/// A file with two full backup sets: the last by default, the first with --backup-set 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_backup_sets_the_last_by_default_the_first_on_request() {
    let tables = [
        "dbo.ChiTietThuePhong",
        "dbo.DMPhong",
        "dbo.HDThanhToanPhong",
        "dbo.HopDongPhong",
        "dbo.KhachHang",
        "dbo.LoaiPhong",
        "dbo.NhanVien",
        "dbo.SuDungDV",
        "dbo.ThietBi_DichVu",
        "dbo.ThuePhong",
    ];
    let set2: Vec<(&str, u64)> = tables.iter().map(|t| (*t, 0)).chain([("dbo.sysdiagrams", 1)]).collect();
    let f = Fixture {
        others: set2.clone(),
        ..fx("bak/hotel-qlks-2sets-sql2008.bak", "bak/hotel-qlks-2sets-sql2008.bak", vec![])
    };
    let db = "e2e_2sets";
    let r = migrate_fixture(&f, db).await;
    assert_eq!(r.input.backup_set_position, Some(2));
    assert_eq!(r.input.backup_sets_in_file, Some(2));
    assert!(
        r.input.notes.iter().any(|n| n.contains("2 backup sets") && n.contains("--backup-set")),
        "{:?}",
        r.input.notes
    );
    let mut set1 = set2;
    set1.push(("dbo.TrangBiTrangTB", 0));
    let f = Fixture { others: set1, args: vec!["--backup-set", "1"], ..f };
    let r = migrate_fixture(&f, db).await;
    assert_eq!(r.input.backup_set_position, Some(1));
    drop_like(db).await;
}

/// The two files of a striped backup given together; each alone is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_complete_striped_pair_migrates() {
    let f = Fixture {
        others: vec![("dbo.steps", 0)],
        more_inputs: vec!["bak/appveyor-stripe-b-sql2008r2.bak"],
        ..fx("bak/appveyor-stripe-a-sql2008r2.bak", "bak/appveyor-stripe-a-sql2008r2.bak", vec![])
    };
    migrate_fixture(&f, "e2e_stripes").await;
    drop_like("e2e_stripes").await;
}

/// A view whose definition is plain UTF-16 (library), a media password (passwd), a
/// geography column, the full backup of the differential, and three more real backups:
/// each migrates with MANIFEST.md's row totals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_unseen_backups_migrate_with_manifest_totals() {
    let library = Fixture {
        others: vec![
            ("dbo.Authors", 14),
            ("dbo.Books", 18),
            ("dbo.Categories", 14),
            ("dbo.Departments", 3),
            ("dbo.Faculties", 3),
            ("dbo.Groups", 9),
            ("dbo.Libs", 2),
            ("dbo.Press", 7),
            ("dbo.S_Cards", 10),
            ("dbo.Students", 25),
            ("dbo.StudentsCopy", 1),
            ("dbo.T_Cards", 8),
            ("dbo.Teachers", 12),
            ("dbo.Themes", 9),
        ],
        ..fx("bak/library-neon4e-view-sql2012.bak", "bak/library-neon4e-view-sql2012.bak", vec![])
    };
    let r = migrate_fixture(&library, "e2e_library").await;
    assert_eq!(r.totals.rows, 135, "MANIFEST.md: 135 rows");
    let view = r.objects.iter().find(|m| m.name == "MyView1").expect("MyView1 listed");
    assert_eq!((view.kind.as_str(), view.translated), ("view", true), "MyView1 created: {view:?}");
    // 9: the students holding a card (crates/bak2pg/tests/it/views.rs computes it by hand).
    assert_eq!(view.rows, Some(9), "MyView1's rows as its GROUP BY gives on the migrated S_Cards");
    let (backup, _) = catalog_for(&library);
    let m = backup.database().expect("catalog").modules.iter().find(|m| m.name == "MyView1").cloned().expect("MyView1");
    let text = m.definition.expect("MyView1's definition decoded");
    assert!(text.to_uppercase().contains("CREATE VIEW") && text.contains("MyView1"), "{text}");

    let passwd = Fixture {
        others: vec![("dbo.steps", 60)],
        ..fx("bak/appveyor-passwd-sql2008r2.bak", "bak/appveyor-passwd-sql2008r2.bak", vec![])
    };
    let r = migrate_fixture(&passwd, "e2e_passwd").await;
    assert!(r.input.password_protected, "the report says the media had a password");
    assert!(r.input.notes.iter().any(|n| n.contains("MEDIAPASSWORD")), "{:?}", r.input.notes);

    // As raw bytes (`--postgis off`), so that the result does not depend on the test
    // server's PostGIS: the PostGIS path is crates/bak2pg/tests/it/spatial.rs.
    let geography = Fixture {
        others: vec![("dbo.location", 1), ("dbo.people", 2)],
        untranslated: vec![("index", "dbo.location", "SPATIAL_location")],
        args: vec!["--postgis", "off"],
        ..fx("bak/geography-testdb-sql2016.bak", "bak/geography-testdb-sql2016.bak", vec![])
    };
    migrate_fixture(&geography, "e2e_geography").await;

    let full = fx("bak/appveyor-difftest-full-sql2008r2.bak", "bak/appveyor-difftest-full-sql2008r2.bak", vec![]);
    migrate_fixture(&full, "e2e_difffull").await;

    let hotelesweb = Fixture {
        others: vec![
            ("dbo.Agencia", 4),
            ("dbo.AspNetRoles", 0),
            ("dbo.AspNetUserClaims", 0),
            ("dbo.AspNetUserLogins", 0),
            ("dbo.AspNetUserRoles", 0),
            ("dbo.AspNetUsers", 6),
            ("dbo.Categoria", 5),
            ("dbo.Clientes", 0),
            ("dbo.Descuentos", 0),
            ("dbo.Factura", 0),
            ("dbo.Habitaciones", 6),
            ("dbo.HabitacionesXHotel", 11),
            ("dbo.Hoteles", 8),
            ("dbo.Reservaciones", 0),
            ("dbo.Tarjetas", 0),
            ("dbo.Ubicacion", 7),
            ("dbo.__MigrationHistory", 0),
        ],
        ..fx("bak/hotel-hotelesweb-es-sql2014.bak", "bak/hotel-hotelesweb-es-sql2014.bak", vec![])
    };
    assert_eq!(migrate_fixture(&hotelesweb, "e2e_hotelesweb").await.totals.rows, 47, "MANIFEST.md: 47 rows");

    let ankit = Fixture {
        others: vec![
            ("dbo.Billing", 1),
            ("dbo.ChargeStatic", 28),
            ("dbo.CustomerDetail", 4),
            ("dbo.FoodChargeDynamic", 0),
            ("dbo.FoodItemMaster", 3),
            ("dbo.RoomChargeDynamic", 3),
            ("dbo.RoomMaster", 7),
            ("dbo.RoomTypeMaster", 6),
            ("dbo.UserLogin", 361),
            ("dbo.UserMaster", 3),
        ],
        conversions: vec![
            ("dbo.Billing", "DateIn", "datetime_ticks_rounded", 1),
            ("dbo.Billing", "DateOut", "datetime_ticks_rounded", 1),
            ("dbo.FoodItemMaster", "UpdateDate", "datetime_ticks_rounded", 1),
            ("dbo.RoomChargeDynamic", "TimeIn", "datetime_ticks_rounded", 2),
            ("dbo.RoomChargeDynamic", "DateIn", "datetime_ticks_rounded", 2),
            ("dbo.RoomMaster", "UpdateDate", "datetime_ticks_rounded", 5),
            ("dbo.RoomTypeMaster", "UpdateDate", "datetime_ticks_rounded", 3),
        ],
        ..fx("bak/hotel-ankit-sql2005.bak", "bak/hotel-ankit-sql2005.bak", vec![])
    };
    assert_eq!(migrate_fixture(&ankit, "e2e_ankit").await.totals.rows, 416, "MANIFEST.md: 416 rows");

    let cargo = Fixture {
        others: vec![
            ("dbo.Adresses", 0),
            ("dbo.CarBrands", 0),
            ("dbo.CarLoadingTypes", 12),
            ("dbo.CarModels", 0),
            ("dbo.CarTypes", 54),
            ("dbo.Cars", 0),
            ("dbo.FreightTypes", 0),
            ("dbo.GeoCities", 1000),
            ("dbo.GeoRegions", 86),
            ("dbo.GeoStreets", 1000),
            ("dbo.Roles", 0),
            ("dbo.Shipings", 0),
            ("dbo.UserRoles", 0),
            ("dbo.Users", 1),
        ],
        conversions: vec![("dbo.Users", "AddedDate", "datetime_ticks_rounded", 1)],
        ..fx("bak/cargo-geo-ru-sql2012.bak", "bak/cargo-geo-ru-sql2012.bak", vec![])
    };
    assert_eq!(migrate_fixture(&cargo, "e2e_cargo").await.totals.rows, 2153, "MANIFEST.md: 2153 rows");
    for db in ["e2e_library", "e2e_passwd", "e2e_geography", "e2e_difffull", "e2e_hotelesweb", "e2e_ankit", "e2e_cargo"]
    {
        drop_like(db).await;
    }
}

// ---------------------------------------------------------------------------------------
// Bad input

/// Migrates a small fixture into `name` (the "previous database" of the bad-input cases)
/// and returns its state.
async fn previous_database(name: &str) -> DbState {
    drop_like(name).await;
    let run = run_migrate(&[&fixture("bak/hotel-management-time-sql2017.bak")], &pg_url(), name).await;
    assert_eq!(run.code, Some(0), "the earlier successful run: {}", run.output());
    db_state(name).await
}

/// After a failed run: `name` is still there, alone (no `__loading`, no `__prev_…`), with
/// the same oid, comment and contents.
async fn assert_untouched(name: &str, before: &DbState, case: &str) {
    assert_eq!(databases_like(name).await, vec![name.to_string()], "{case}: databases named like {name}");
    assert_eq!(&db_state(name).await, before, "{case}: {name} changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_backups_exit_2_name_the_problem_and_write_nothing() {
    let prev = "e2e_refused";
    let fresh = "e2e_refused_new";
    let before = previous_database(prev).await;
    drop_like(fresh).await;
    let incomplete: &[&str] = &["the backup is incomplete", "striped", "Nothing was written to PostgreSQL"];
    for (input, says) in [
        ("bak/northwind-sql2014-stripe-partial.bak", incomplete),
        ("bak/quanlymypham-sql2022-stripe-partial.bak", incomplete),
        ("bak/chinook-sql2025-stripe-partial.bak", incomplete),
        ("bak/appveyor-stripe-a-sql2008r2.bak", incomplete),
        (
            "bak/appveyor-difftest-diff1-sql2008r2.bak",
            &["a differential backup", "give the full backup it is based on", "Nothing was written to PostgreSQL"],
        ),
        ("bak/not-mssql-pgdump-named-northwind.bak", &["not a SQL Server backup", "PostgreSQL custom-format dump"]),
        ("bak/not-mssql-gitlfs-pointer-adventureworksdw2019.bak", &["not a SQL Server backup", "Git LFS pointer"]),
        ("rar/northwind-csv-no-bak-rar5.rar", &["holds no SQL Server backup", "Customers.csv"]),
    ] {
        let path = fixture(input);
        let file = path.file_name().and_then(|n| n.to_str()).expect("file name");
        for db in [prev, fresh] {
            let run = run_migrate(&[&path], &pg_url(), db).await;
            let out = run.output();
            assert_eq!(run.code, Some(2), "{input}: {out}");
            assert!(run.stderr.contains(file), "{input}: the error names the file: {out}");
            for s in says {
                assert!(run.stderr.contains(s), "{input}: the error says {s:?}: {out}");
            }
            assert!(run.report.is_none_or(|r| r.status != Status::Passed), "{input}: {out}");
        }
        assert_eq!(databases_like(fresh).await, Vec::<String>::new(), "{input}: nothing created for {fresh}");
        assert_untouched(prev, &before, input).await;
    }
    drop_like(prev).await;
}

/// File offset of data page `id` in the uncompressed backup `bytes` (as
/// `crates/mssql-backup/tests/damaged.rs` finds it).
fn page_offset(path: &Path, id: mssql_backup::PageId) -> u64 {
    use mssql_backup::internals::mtf::MtfImage;
    use mssql_backup::internals::source::MmapSource;
    let src = MmapSource::open(path).expect("map the backup");
    let img = MtfImage::parse(&src).expect("MTF image");
    let bytes = src.bytes();
    for run in img.page_runs().expect("page runs") {
        for k in 0..run.pages {
            let at = (run.offset + k * 8192) as usize;
            let pid = u32::from_le_bytes(bytes[at + 32..at + 36].try_into().expect("4 bytes"));
            let fid = u16::from_le_bytes(bytes[at + 36..at + 38].try_into().expect("2 bytes"));
            if bytes[at] == 1 && mssql_backup::PageId::new(fid, pid) == id && pid & 7 == (k & 7) as u32 {
                return at as u64;
            }
        }
    }
    panic!("page {id} not found");
}

/// A data page of `schema.table` in the uncompressed backup at `path`, and its file offset.
fn data_page(path: &Path, schema: &str, table: &str) -> (mssql_backup::PageId, u64) {
    let b = Backup::open(&[path]).expect("open");
    let t = b.database().expect("catalog").table(schema, table).expect("table").clone();
    let au =
        mssql_backup::internals::layout(&b, &t).expect("layout").rowsets[0].in_row.expect("in-row allocation unit");
    let map = mssql_backup::internals::alloc::read_iam_chain(mssql_backup::internals::store(&b), au.first_iam)
        .expect("IAM chain");
    let page = map
        .pages()
        .find(|p| {
            mssql_backup::internals::store(&b)
                .read(*p)
                .map(|pg| pg.header().page_type == mssql_backup::internals::page::PageType::Data)
                .unwrap_or(false)
        })
        .expect("a data page");
    (page, page_offset(path, page))
}

/// A copy of `original` (bytes of the uncompressed backup at `path`) with the fixed-length
/// column `column` of `schema.table`'s first row on its first data page set to `value`
/// (little-endian, the column's width), and the page checksum recomputed so that only
/// the value tells the damage: what a decoder error reading the wrong bytes would give.
fn with_fixed_value(path: &Path, original: &[u8], schema: &str, table: &str, column: &str, value: i64) -> Vec<u8> {
    use mssql_backup::internals::catalog::ColumnPlace;
    let b = Backup::open(&[path]).expect("open");
    let t = b.database().expect("catalog").table(schema, table).expect("table").clone();
    let ci = t.columns.iter().position(|c| c.name == column).expect("column");
    let ColumnPlace::Fixed { offset, len } =
        mssql_backup::internals::layout(&b, &t).expect("layout").rowsets[0].columns[ci].place
    else {
        panic!("{column} is not a fixed-length column")
    };
    let (_, at) = data_page(path, schema, table);
    let mut bytes = original.to_vec();
    let page: &mut [u8; 8192] = (&mut bytes[at as usize..at as usize + 8192]).try_into().expect("a page");
    // Slot 0's record offset is the last two bytes of the page.
    let record = u16::from_le_bytes([page[8190], page[8191]]) as usize;
    let field = record + offset as usize;
    page[field..field + len as usize].copy_from_slice(&value.to_le_bytes()[..len as usize]);
    let flags = u16::from_le_bytes([page[4], page[5]]);
    assert_eq!(flags & 0x200, 0x200, "{path:?}: the page carries a checksum");
    let sum = mssql_backup::internals::page::checksum(page);
    page[60..64].copy_from_slice(&sum.to_le_bytes());
    bytes
}

/// Foreign keys and CHECKs SQL Server trusted held on every row it had: a copy whose rows
/// break one fails the run (step create_constraints), naming the table, the constraint
/// and the row, instead of creating the constraint NOT VALID.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_breaking_a_trusted_constraint_fails_naming_it_and_the_row() {
    let db = "e2e_trusted";
    let dir = tempfile::tempdir().expect("temporary folder");
    let original_path = fixture("bak/pubs-sql2012.bak");
    let original = std::fs::read(&original_path).expect("read the fixture");
    let (backup, _) = catalog("bak/pubs-sql2012.bak");
    let source = backup.database().expect("catalog");
    let employee = find_table(source, "dbo", "employee");
    let fk = employee.foreign_keys.iter().find(|f| f.columns == ["job_id"]).expect("employee.job_id references jobs");
    assert!(!fk.disabled && !fk.not_trusted, "the foreign key is trusted in the backup");
    let jobs = find_table(source, "dbo", "jobs");
    let ck = jobs.check_constraints.iter().find(|c| c.definition.contains("min_lvl")).expect("jobs' min_lvl CHECK");
    assert!(!ck.disabled && !ck.not_trusted, "the CHECK is trusted in the backup");

    for (name, table, column, value, object, says) in [
        ("fk.bak", "employee", "job_id", 31420, &fk.name, "(31420)"),
        ("check.bak", "jobs", "min_lvl", 5, &ck.name, "row with key ("),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, with_fixed_value(&original_path, &original, "dbo", table, column, value))
            .expect("write the copy");
        drop_like(db).await;
        let run = run_migrate(&[&path], &pg_url(), db).await;
        let out = run.output();
        assert_eq!(run.code, Some(1), "{name}: {out}");
        for s in [object.as_str(), &format!("dbo.{table}"), "trusted by SQL Server", says] {
            assert!(run.stderr.contains(s), "{name}: the error says {s:?}: {out}");
        }
        let r = run.report.expect("a report is written on failure");
        assert_eq!(r.failed_step, Some(bak2pg::Step::CreateConstraints), "{name}: {out}");
        assert_eq!(databases_like(db).await, Vec::<String>::new(), "{name}: the loading database is dropped");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_copies_fail_naming_the_file_and_the_page_or_offset() {
    let prev = "e2e_damaged";
    let before = previous_database(prev).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let original_path = fixture("bak/pubs-sql2012.bak");
    let original = std::fs::read(&original_path).expect("read the fixture");

    // Truncated copies: cut in the page data, and in the log tail at the end.
    for cut in [original.len() / 2, original.len() - 3000] {
        let path = dir.path().join(format!("truncated-at-{cut}.bak"));
        std::fs::write(&path, &original[..cut]).expect("write the copy");
        let run = run_migrate(&[&path], &pg_url(), prev).await;
        let out = run.output();
        assert!(run.code.is_some_and(|c| c != 0), "cut at {cut}: {out}");
        assert!(run.stderr.contains(&format!("truncated-at-{cut}.bak")), "cut at {cut}: names the file: {out}");
        assert!(run.stderr.contains("offset"), "cut at {cut}: gives the offset: {out}");
        assert_untouched(prev, &before, &format!("cut at {cut}")).await;
    }

    // One flipped bit in a data page of dbo.titles: its checksum fails when the rows are
    // read, after the loading database was created; it is dropped again.
    let (page, at) = data_page(&original_path, "dbo", "titles");
    let mut bytes = original.clone();
    bytes[at as usize + 4000] ^= 0x20;
    let path = dir.path().join("flipped.bak");
    std::fs::write(&path, &bytes).expect("write the copy");
    let run = run_migrate(&[&path], &pg_url(), prev).await;
    let out = run.output();
    assert_eq!(run.code, Some(1), "{out}");
    for s in ["flipped.bak", &format!("page {page}"), &format!("offset {at}"), "dbo.titles", "checksum"] {
        assert!(run.stderr.contains(s), "the error says {s:?}: {out}");
    }
    let r = run.report.expect("a report is written on failure");
    assert_eq!(r.status, Status::Failed);
    assert_eq!(r.failed_step, Some(bak2pg::Step::LoadData));
    assert_untouched(prev, &before, "flipped byte").await;
    drop_like(prev).await;
}

/// Runs `bak2pg migrate` on a damaged copy (`bytes`, written as `name`) and checks that it
/// fails with one of `codes`, that the error says every one of `says`, and never "stripe" (the
/// wrong cause earlier versions gave for any damage).
async fn refused_copy(dir: &Path, name: &str, bytes: &[u8], db: &str, codes: &[i32], says: &[&str]) {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write the copy");
    let run = run_migrate(&[&path], &pg_url(), db).await;
    let out = run.output();
    assert!(
        run.code.is_some_and(|c| codes.contains(&c)),
        "{name}: exit {:?}, expected one of {codes:?}: {out}",
        run.code
    );
    for s in std::iter::once(&name).chain(says) {
        assert!(run.stderr.contains(s), "{name}: the error says {s:?}: {out}");
    }
    assert!(!run.stderr.contains("stripe"), "{name}: damage is not a missing stripe: {out}");
}

/// Each kind of damage is refused with its true cause and place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_copies_are_refused_naming_the_true_cause() {
    let prev = "e2e_causes";
    let before = previous_database(prev).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let copy_again = "copy it again";

    // A torn-page-protected backup (no page checksums): a zeroed page, and one bit of a
    // slot offset flipped (outside the 2 bits per sector torn-page detection covers),
    // which earlier versions read as an Orders row with OrderID 5242959.
    let torn = fixture("bak/northwind-sql2008-tornpage.bak");
    let original = std::fs::read(&torn).expect("read the fixture");
    let (page, at) = data_page(&torn, "dbo", "Orders");
    let at = at as usize;
    let mut zeroed = original.clone();
    zeroed[at..at + 8192].fill(0);
    let page_s = format!("page {page}");
    refused_copy(dir.path(), "zeroed.bak", &zeroed, prev, &[1], &[&page_s, "not formatted", copy_again]).await;
    let mut slot = original.clone();
    // (The page's last byte carries torn-page bits; the low byte of slot 0's offset does not.)
    assert_eq!(slot[at + 8190], 96, "slot 0 holds the first record, at offset 96");
    slot[at + 8190] ^= 0x10;
    let offset_s = format!("offset {at}");
    refused_copy(dir.path(), "slot.bak", &slot, prev, &[1], &[&page_s, &offset_s, "page structure", copy_again]).await;

    // A compressed backup: a byte of a chunk's payload (the page comes out wrong and its
    // structure says so, at the stream offset and chunk), and a chunk's length field (the
    // container walk finds no record where the chunk says the next one starts).
    let compressed = fixture("bak/northwind-sql2016-compressed.bak");
    let original = std::fs::read(&compressed).expect("read the fixture");
    let b = Backup::open(&[&compressed]).expect("open");
    let orders = b.database().expect("catalog").table("dbo", "Orders").expect("Orders").clone();
    let au = mssql_backup::internals::layout(&b, &orders).expect("layout").rowsets[0].in_row.expect("in-row unit");
    let map = mssql_backup::internals::alloc::read_iam_chain(mssql_backup::internals::store(&b), au.first_iam)
        .expect("IAM chain");
    let page = map
        .pages()
        .find(|p| {
            mssql_backup::internals::store(&b)
                .read(*p)
                .is_ok_and(|pg| pg.header().page_type == mssql_backup::internals::page::PageType::Data)
        })
        .expect("a data page");
    let located = mssql_backup::internals::store(&b).locate_error(page, mssql_backup::Error::corrupt("where"));
    let (chunk, record) = located.chunk.expect("a compressed page lies in a chunk");
    drop(b);
    let src = mssql_backup::internals::compressed::CompressedSource::open(&compressed).expect("container");
    let info = src.chunk(chunk).expect("the chunk");
    assert_eq!(info.record_offset, record);
    let mut payload = original.clone();
    payload[(info.payload_offset + u64::from(info.payload_len) / 2) as usize] ^= 0x55;
    // Decoded when the catalog is read (exit 2) or when Orders is loaded (exit 1): either
    // way the chunk is named (and, when only the page comes out wrong, the stream offset).
    let chunk_s = format!("chunk {chunk}");
    refused_copy(dir.path(), "payload.bak", &payload, prev, &[1, 2], &[&chunk_s, copy_again]).await;
    let mut length = original.clone();
    length[record as usize + 2] ^= 0x40;
    refused_copy(
        dir.path(),
        "length.bak",
        &length,
        prev,
        &[2],
        &["the container is damaged", &format!("compressed chunk {chunk} at offset {record}"), copy_again],
    )
    .await;

    // A RAR archive: its signature, and a byte of its main header (CRC mismatch).
    let rar = std::fs::read(fixture("rar/northwind-sql2005-rar5.rar")).expect("read the archive");
    let mut sig = rar.clone();
    sig[3] ^= 0x5a;
    refused_copy(
        dir.path(),
        "signature.rar",
        &sig,
        prev,
        &[2],
        &["damaged archive", "signature reads 52 61 72 7b", copy_again],
    )
    .await;
    let mut header = rar.clone();
    header[12] ^= 0x5a;
    refused_copy(dir.path(), "header.rar", &header, prev, &[2], &["damaged archive", "CRC"]).await;

    assert_untouched(prev, &before, "damaged copies").await;
    drop_like(prev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_and_leaves_the_database() {
    let prev = "e2e_unreachable";
    let before = previous_database(prev).await;
    // A port nothing listens on: bound, then released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("address").port();
    let target = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let run = run_migrate(&[&fixture("bak/pubs-sql2012.bak")], &target, prev).await;
    let out = run.output();
    assert_eq!(run.code, Some(1), "{out}");
    assert!(run.stderr.contains("cannot connect"), "{out}");
    assert!(run.stderr.contains(&format!("127.0.0.1:{port}")), "names the server: {out}");
    let r = run.report.expect("a report is written on failure");
    assert_eq!((r.status, r.failed_step), (Status::Failed, Some(bak2pg::Step::Preflight)));
    assert_untouched(prev, &before, "unreachable server").await;
    drop_like(prev).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn role_without_createdb_fails_and_leaves_the_database() {
    let prev = "e2e_nocreatedb";
    let role = "e2e_nocreatedb_role";
    let before = previous_database(prev).await;
    let m = connect("postgres").await;
    m.batch_execute(&format!("DROP ROLE IF EXISTS {role}; CREATE ROLE {role} LOGIN NOCREATEDB NOSUPERUSER"))
        .await
        .expect("create the role");
    let run = run_migrate(&[&fixture("bak/pubs-sql2012.bak")], &url_as(role), prev).await;
    let out = run.output();
    assert_eq!(run.code, Some(1), "{out}");
    assert!(run.stderr.contains(role) && run.stderr.contains("CREATEDB"), "{out}");
    let r = run.report.expect("a report is written on failure");
    assert_eq!((r.status, r.failed_step), (Status::Failed, Some(bak2pg::Step::Preflight)));
    assert_untouched(prev, &before, "role without CREATEDB").await;
    m.batch_execute(&format!("DROP ROLE {role}")).await.expect("drop the role");
    drop_like(prev).await;
}

// ---------------------------------------------------------------------------------------
// The corpus runner

/// `bak2pg corpus` over the whole fixtures folder: one line per backup (the striped pair
/// as one), each with the result a user would get from `migrate`, and nothing left in
/// PostgreSQL afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_corpus_runner_says_what_moves_for_every_fixture() {
    let folder = fixture("bak");
    let out = tokio::process::Command::new(bak2pg_bin())
        .args(["corpus", "--json", "--target", &pg_url()])
        .arg(&folder)
        .env_remove("BAK2PG_TARGET")
        .output()
        .await
        .expect("running bak2pg corpus");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let lines: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("a JSON array");
    let name = |p: &serde_json::Value| {
        Path::new(p.as_str().expect("a path")).file_name().and_then(|n| n.to_str()).expect("a name").to_string()
    };
    let mut seen = BTreeSet::new();
    for line in &lines {
        let files: Vec<String> = line["files"].as_array().expect("files").iter().map(name).collect();
        let result = line["result"].as_str().expect("result");
        let detail = line["detail"].as_str().unwrap_or("");
        let first = files[0].as_str();
        let expected: (&str, &str) = match first {
            "appveyor-difftest-diff1-sql2008r2.bak" => ("refused", "a differential backup"),
            f if f.contains("stripe-partial") => ("refused", "the backup is incomplete"),
            f if f.starts_with("not-mssql") => ("refused", "not a SQL Server backup"),
            _ => ("exact", ""),
        };
        assert_eq!(result, expected.0, "{files:?}: {detail}");
        assert!(detail.contains(expected.1), "{files:?}: {detail}");
        if result == "exact" {
            assert!(line["rows"].as_u64().is_some() && line["tables"].as_u64().is_some(), "{line}");
            assert_eq!(line["engine"], "native", "{line}");
        }
        if first == "appveyor-stripe-a-sql2008r2.bak" {
            assert_eq!(files, ["appveyor-stripe-a-sql2008r2.bak", "appveyor-stripe-b-sql2008r2.bak"], "one backup");
        }
        seen.extend(files);
    }
    let all: BTreeSet<String> = std::fs::read_dir(&folder)
        .expect("the fixtures folder")
        .map(|e| e.expect("an entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".bak"))
        .collect();
    assert_eq!(seen, all, "every backup of the folder, once");
    assert_eq!(lines.len(), all.len() - 1, "the striped pair is one line");
    let c = connect("postgres").await;
    let left: i64 = c
        .query_one("SELECT count(*) FROM pg_database WHERE starts_with(datname, 'bak2pg_corpus_')", &[])
        .await
        .expect("listing databases")
        .get(0);
    assert_eq!(left, 0, "throwaway databases dropped");
}

/// `--config`: a file with a mistake stops before the backup is read (exit 2, naming the
/// file, the key and the cause), one that does not fit the backup fails the preflight
/// (exit 1), as does `--data-only` without a database to load into; nothing is created. A good file migrates
/// under the new names and the report lists what it did.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapping_file_on_the_command_line() {
    let db = "e2e_mapping";
    drop_like(db).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("writing the mapping file");
        p.display().to_string()
    };
    let bak = fixture("bak/northwind-sql2005-tornpage.bak");
    let unknown_key = write("unknown.toml", "inclde = [\"dbo.*\"]\n");
    let lossy = write("lossy.toml", "[types]\n\"dbo.Orders.Freight\" = \"integer\"\n");
    for (args, code, says) in [
        (vec!["--config", unknown_key.as_str()], 2, vec!["unknown.toml", "inclde", "unknown field"]),
        (
            vec!["--config", lossy.as_str()],
            1,
            vec!["lossy.toml", "types.\"dbo.Orders.Freight\"", "money values do not all go into integer exactly"],
        ),
        (vec!["--data-only"], 1, vec!["--data-only loads into the existing database", "which does not exist"]),
    ] {
        let run = run_migrate_with(&[&bak], &pg_url(), db, &args).await;
        let out = run.output();
        assert_eq!(run.code, Some(code), "{args:?}: {out}");
        for s in says {
            assert!(run.stderr.contains(s), "{args:?}: the error says {s:?}: {out}");
        }
        assert_eq!(databases_like(db).await, Vec::<String>::new(), "{args:?}: nothing created");
    }

    let good = write(
        "good.toml",
        "exclude = [\"dbo.Customer*\", \"dbo.sysdiagrams\"]\n[rename.tables]\n\"dbo.Order Details\" = \"order_lines\"\n",
    );
    let run = run_migrate_with(&[&bak], &pg_url(), db, &["--config", &good]).await;
    assert_eq!(run.code, Some(0), "{}", run.output());
    let report = run.report.as_ref().expect("a report");
    let m = report.mapping.as_ref().expect("the report lists the mapping");
    assert_eq!(m.excluded.len(), 4, "{:?}", m.excluded);
    assert_eq!(report.tables.len(), 10);
    assert!(report.tables.iter().any(|t| t.target == "public.order_lines" && t.rows == 2155));
    assert!(run.stdout.contains("excluded dbo.Customers (exclude[0] \"dbo.Customer*\")"), "{}", run.output());
    let c = connect(db).await;
    let n: i64 = c.query_one("SELECT count(*) FROM order_lines", &[]).await.unwrap().get(0);
    assert_eq!(n, 2155);
    let customers: Option<String> = c.query_one("SELECT to_regclass('\"Customers\"')::text", &[]).await.unwrap().get(0);
    assert_eq!(customers, None);
    drop(c);
    drop_like(db).await;
}
