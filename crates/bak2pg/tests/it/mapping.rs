//! The mapping file (`--config`) on real backups: tables excluded, renamed, columns renamed
//! and retyped, then migrated into the test PostgreSQL and validated under the new names;
//! `--schema-only`; and mapping files that do not fit the backup, refused by key.

use std::path::PathBuf;
use std::sync::Arc;

use crate::common::*;
use bak2pg::ddl::{self, ObjectKind, PlanError, PlanOptions};
use bak2pg::mapping::Mapping;
use bak2pg::report::{Status, TableStatus};
use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::{ErrorKind, NoProgress, Step};
use mssql_backup::OpenOptions;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/");

fn open(name: &str) -> Arc<NativeSource> {
    let p = PathBuf::from(FIXTURES).join(name);
    assert!(p.is_file(), "fixture missing: {}", p.display());
    Arc::new(NativeSource::open(&[p.as_path()], OpenOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

const NORTHWIND: &str = "northwind-sql2005-tornpage.bak";

/// Customers (and its two satellite tables) and sysdiagrams out, `dbo` → `nw`, Order Details renamed,
/// two columns renamed, Freight and every money column widened, a smallint to integer.
const NORTHWIND_MAPPING: &str = r#"
exclude = ["dbo.Customer*", "dbo.sysdiagrams", "dbo.nothing_*"]

[rename.schemas]
dbo = "nw"
[rename.tables]
"dbo.Order Details" = "order_lines"
[rename.columns]
"dbo.Orders.ShipVia" = "shipper_id"
"dbo.order details.UnitPrice" = "unit_price"

[types]
"dbo.Orders.Freight" = "numeric(21,6)"
money = "numeric(19,4)"
"dbo.Products.UnitsInStock" = "integer"
"#;

fn with_mapping(name: &str, text: &str) -> bak2pg::MigrateOptions {
    let mut opts = options(name);
    opts.plan.mapping = Some(Mapping::parse(text, "northwind.toml").unwrap_or_else(|e| panic!("{e}")));
    opts
}

async fn text(db: &str, sql: &str) -> Vec<String> {
    let c = connect(db).await;
    c.query(sql, &[]).await.unwrap_or_else(|e| panic!("{sql}: {e}")).iter().map(|r| r.get::<_, String>(0)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_file_excludes_renames_and_retypes_and_validation_follows_it() {
    let name = "t_map_nw";
    reset(name).await;
    let src = open(NORTHWIND);
    let report = bak2pg::migrate(src.clone(), &with_mapping(name, NORTHWIND_MAPPING), &NoProgress)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);

    // The tables that exist: Northwind's 14 minus sysdiagrams and the three Customer*
    // ones, in `nw`.
    let tables = text(
        name,
        "SELECT table_schema || '.' || table_name FROM information_schema.tables \
         WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'bak2pg') AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .await;
    assert_eq!(
        tables,
        [
            "nw.Categories",
            "nw.EmployeeTerritories",
            "nw.Employees",
            "nw.Orders",
            "nw.Products",
            "nw.Region",
            "nw.Shippers",
            "nw.Suppliers",
            "nw.Territories",
            "nw.order_lines"
        ]
    );
    let m = report.mapping.as_ref().expect("the report lists the mapping");
    let excluded: Vec<&str> = m.excluded.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(excluded, ["dbo.CustomerCustomerDemo", "dbo.CustomerDemographics", "dbo.Customers", "dbo.sysdiagrams"]);
    assert!(m.excluded[..3].iter().all(|(_, why)| why == "exclude[0] \"dbo.Customer*\""), "{:?}", m.excluded);
    assert_eq!(m.excluded[3].1, "exclude[1] \"dbo.sysdiagrams\"");
    assert!(report.warnings.iter().any(|w| w.contains("exclude[2] \"dbo.nothing_*\" matches no table")));

    // Renamed names, in the plan, the report and PostgreSQL.
    let renamed: Vec<(ObjectKind, &str, &str)> =
        m.renamed.iter().map(|r| (r.kind, r.source.as_str(), r.target.as_str())).collect();
    assert_eq!(
        renamed,
        [
            (ObjectKind::Schema, "dbo", "nw"),
            (ObjectKind::Table, "Order Details", "order_lines"),
            (ObjectKind::Column, "UnitPrice", "unit_price"),
            (ObjectKind::Column, "ShipVia", "shipper_id"),
        ]
    );
    // Views follow the mapping: created in `nw`, showing renamed columns by their new
    // names; a view reading an excluded table is left out saying so.
    let object = |n: &str| report.objects.iter().find(|o| o.name == n).unwrap_or_else(|| panic!("{n}"));
    let extended = object("Order Details Extended");
    assert_eq!(extended.target.as_deref(), Some(r#""nw"."Order Details Extended""#), "{extended:?}");
    let invoices = object("Invoices");
    assert!(!invoices.translated && invoices.reason.as_deref().unwrap().contains("Customers is not a migrated table"));
    // Column types: the override per column wins over the one per SQL Server type.
    let types = text(
        name,
        "SELECT table_name || '.' || column_name || ' ' || format_type(a.atttypid, a.atttypmod) \
         FROM information_schema.columns c JOIN pg_attribute a \
           ON a.attrelid = format('%I.%I', c.table_schema, c.table_name)::regclass AND a.attname = c.column_name \
         JOIN pg_class r ON r.oid = a.attrelid AND r.relkind = 'r' \
         WHERE c.table_schema = 'nw' AND c.column_name IN ('Freight', 'unit_price', 'UnitsInStock', 'UnitPrice') \
         ORDER BY 1",
    )
    .await;
    assert_eq!(
        types,
        [
            "Orders.Freight numeric(21,6)",
            "Products.UnitPrice numeric(19,4)",
            "Products.UnitsInStock integer",
            "order_lines.unit_price numeric(19,4)"
        ]
    );
    let overrides: Vec<(&str, &str, &str)> =
        m.type_overrides.iter().map(|o| (o.column.as_str(), o.pg_type.as_str(), o.key.as_str())).collect();
    assert!(overrides.contains(&("Freight", "numeric(21,6)", "types.\"dbo.Orders.Freight\"")), "{overrides:?}");
    assert!(overrides.contains(&("UnitsInStock", "integer", "types.\"dbo.Products.UnitsInStock\"")), "{overrides:?}");
    assert!(overrides.contains(&("UnitPrice", "numeric(19,4)", "types.money")), "{overrides:?}");

    // Validated under the new names, with SQL Server's own counts.
    assert_eq!(report.tables.len(), 10);
    for t in &report.tables {
        assert_eq!(t.status, TableStatus::Match, "{}", t.source);
        assert_eq!(Some(t.rows), t.catalog_rows, "{}", t.source);
    }
    let lines = report.tables.iter().find(|t| t.source == "dbo.Order Details").unwrap();
    assert_eq!((lines.target.as_str(), lines.rows), ("nw.order_lines", 2155));
    let orders = report.tables.iter().find(|t| t.source == "dbo.Orders").unwrap();
    assert_eq!(orders.rows, 830);

    // Values of a few rows (Northwind's order 10248, from instnwnd.sql).
    let row = text(
        name,
        r#"SELECT concat_ws('|', "Freight", shipper_id, "CustomerID") FROM nw."Orders" WHERE "OrderID" = 10248"#,
    )
    .await;
    assert_eq!(row, ["32.380000|3|VINET"]);
    let row = text(
        name,
        r#"SELECT string_agg(concat_ws(':', "ProductID", unit_price, "Quantity"), ' ' ORDER BY "ProductID")
           FROM nw.order_lines WHERE "OrderID" = 10248"#,
    )
    .await;
    assert_eq!(row, ["11:14.0000:12 42:9.8000:10 72:34.8000:5"]);
    let row = text(name, r#"SELECT "UnitsInStock"::text FROM nw."Products" WHERE "ProductID" = 1"#).await;
    assert_eq!(row, ["39"]);

    // The foreign key to the excluded Customers is left out and reported; the others exist.
    assert!(
        m.foreign_keys_left_out
            .iter()
            .any(|f| f.table == "dbo.Orders" && f.name == "FK_Orders_Customers" && f.references == "dbo.Customers"),
        "{:?}",
        m.foreign_keys_left_out
    );
    let fks = text(
        name,
        r#"SELECT conname::text FROM pg_constraint WHERE contype = 'f' AND conrelid = 'nw."Orders"'::regclass ORDER BY 1"#,
    )
    .await;
    assert_eq!(fks, ["FK_Orders_Employees", "FK_Orders_Shippers"]);
    let fks = text(
        name,
        "SELECT conname::text FROM pg_constraint WHERE contype = 'f' AND conrelid = 'nw.order_lines'::regclass ORDER BY 1",
    )
    .await;
    assert_eq!(fks, ["FK_Order_Details_Orders", "FK_Order_Details_Products"]);
    reset(name).await;
}

/// The checksums of an overridden column compare the values in the new type's canonical
/// form: a value changed in the last of its six decimals is caught.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overridden_column_still_catches_a_changed_value() {
    let name = "t_map_changed";
    reset(name).await;
    let src = open(NORTHWIND);
    let opts = with_mapping(name, NORTHWIND_MAPPING);
    let (names, _facts, plan) = bak2pg::migrate::step_preflight(src.database(), &opts).await.unwrap();
    bak2pg::migrate::step_create_schema(&opts.target, &names, &plan).await.unwrap();
    let loaded =
        bak2pg::migrate::step_load(src.clone(), &plan, &opts.target, &names, opts.tuning, &NoProgress).await.unwrap();
    let sent: Vec<_> = loaded.iter().map(|l| l.checksum).collect();
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    assert!(back.iter().zip(&loaded).all(|(b, l)| b.table == l.table && b.checksum == l.checksum));

    connect(&names.loading)
        .await
        .batch_execute(r#"UPDATE nw."Orders" SET "Freight" = "Freight" + 0.000001 WHERE "OrderID" = 10248"#)
        .await
        .unwrap();
    let back = bak2pg::migrate::step_validate(&plan, &opts.target, &names, 2, &sent).await.unwrap();
    let differ: Vec<String> = back
        .iter()
        .zip(&loaded)
        .filter(|(b, l)| b.checksum != l.checksum)
        .map(|(b, _)| plan.tables[b.table].qualified())
        .collect();
    assert_eq!(differ, [r#""nw"."Orders""#]);
    reset(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_only_creates_empty_tables_with_their_keys() {
    let name = "t_map_schema_only";
    reset(name).await;
    let mut opts = options(name);
    opts.schema_only = true;
    let report = bak2pg::migrate(open("pubs-sql2012.bak"), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert!(report.schema_only);
    assert!(!report.steps.iter().any(|s| s.step == Step::LoadData));
    // This pubs copy holds 18 tables (the 11 of instpubs.sql and 7 added by its uploader).
    assert_eq!(report.tables.len(), 18);
    assert!(report.tables.iter().all(|t| t.rows == 0 && t.status == TableStatus::Match));
    // SQL Server's counts are listed (not compared): pubs has rows.
    assert_eq!(report.tables.iter().find(|t| t.source == "dbo.titles").unwrap().catalog_rows, Some(18));

    let c = connect(name).await;
    let tables = text(name, "SELECT format('%I.%I', table_schema, table_name) FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1").await;
    assert_eq!(tables.len(), 18, "{tables:?}");
    for t in &tables {
        let n: i64 = c.query_one(&format!("SELECT count(*) FROM {t}"), &[]).await.unwrap().get(0);
        assert_eq!(n, 0, "{t}");
    }
    let keys = text(
        name,
        "SELECT contype::text || ' ' || conrelid::regclass::text FROM pg_constraint \
         WHERE connamespace = 'public'::regnamespace AND contype IN ('p', 'f') ORDER BY 1",
    )
    .await;
    assert!(keys.contains(&"p titles".to_string()), "{keys:?}");
    assert!(keys.contains(&"p authors".to_string()), "{keys:?}");
    assert!(keys.contains(&"f titleauthor".to_string()), "{keys:?}");
    assert!(keys.iter().filter(|k| k.starts_with('f')).count() >= 5, "{keys:?}");
    drop(c);
    reset(name).await;
}

/// Plans `text` against Northwind; the mapping error.
fn refused(text: &str) -> bak2pg::mapping::MappingError {
    let src = open(NORTHWIND);
    let mapping = Mapping::parse(text, "bad.toml").unwrap_or_else(|e| panic!("{e}"));
    let opts = PlanOptions { mapping: Some(mapping), ..Default::default() };
    match ddl::plan(src.database(), &opts) {
        Err(PlanError::Mapping(e)) => {
            assert_eq!(e.file, "bad.toml");
            e
        }
        other => panic!("expected a mapping error, got {other:?}"),
    }
}

#[test]
fn mapping_files_that_do_not_fit_the_backup_are_refused_by_key() {
    let e = refused("[rename.tables]\n\"dbo.Oders\" = \"orders\"\n");
    assert_eq!(e.key, "rename.tables.\"dbo.Oders\"");
    assert!(e.cause.contains("no such name"), "{e}");

    let e = refused("[rename.columns]\n\"dbo.Orders.Fright\" = \"freight\"\n");
    assert_eq!(e.key, "rename.columns.\"dbo.Orders.Fright\"");
    assert!(e.cause.contains("column \"dbo.Orders.Fright\""), "{e}");

    let e = refused("[rename.schemas]\nsales = \"s\"\n");
    assert_eq!(e.key, "rename.schemas.sales");

    // Collisions, by name: with a table that keeps its name, and between two renames.
    let e = refused("[rename.tables]\n\"dbo.Orders\" = \"Products\"\n");
    assert_eq!(e.key, "rename.tables.\"dbo.Orders\"");
    assert!(
        e.cause.contains("table dbo.Orders") && e.cause.contains("table dbo.Products") && e.cause.contains("keeps")
    );
    let e = refused("[rename.tables]\n\"dbo.Orders\" = \"x\"\n\"dbo.Products\" = \"x\"\n");
    assert!(e.cause.contains("is also renamed to"), "{e}");
    let e = refused("[rename.columns]\n\"dbo.Orders.ShipVia\" = \"Freight\"\n");
    assert!(e.cause.contains("column dbo.Orders.Freight"), "{e}");
    let e = refused("[rename.columns]\n\"dbo.Orders.ShipVia\" = \"xmin\"\n");
    assert!(e.cause.contains("reserved"), "{e}");

    // A rename of an excluded table contradicts the file.
    let e = refused("exclude = [\"dbo.Orders\"]\n[rename.tables]\n\"dbo.Orders\" = \"orders\"\n");
    assert!(e.cause.contains("excluded (exclude[0]"), "{e}");

    // Type overrides the values do not go into exactly, refused at planning time.
    let e = refused("[types]\nmoney = \"integer\"\n");
    assert_eq!(e.key, "types.money");
    assert!(e.cause.contains("money values do not all go into integer exactly"), "{e}");
    let e = refused("[types]\n\"dbo.Orders.Freight\" = \"numeric(12,2)\"\n");
    assert!(e.cause.starts_with("dbo.Orders.Freight: money values"), "{e}");
    assert!(e.cause.contains("scale ≥ 4"), "{e}");
    let e = refused("[types]\n\"dbo.Customers.CompanyName\" = \"varchar(10)\"\n");
    assert!(e.cause.contains("at least 40"), "{e}");
    let e = refused("[types]\n\"dbo.Orders.OrderDate\" = \"timestamptz(3)\"\n");
    assert!(e.cause.contains("datetime values"), "{e}");
    let e = refused("[types]\n\"dbo.Orders.OrderID\" = \"smallint\"\n");
    assert!(e.cause.contains("needs integer or wider"), "{e}");

    // A --schema-map that disagrees with the file.
    let src = open(NORTHWIND);
    let mut opts = PlanOptions {
        mapping: Some(Mapping::parse("[rename.schemas]\ndbo = \"nw\"\n", "bad.toml").unwrap()),
        ..Default::default()
    };
    opts.schema_map.insert("dbo".into(), "other".into());
    let e = ddl::plan(src.database(), &opts).unwrap_err();
    assert!(e.to_string().contains("also mapped to \"other\" (--schema-map)"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_error_fails_preflight_before_anything_is_written() {
    let name = "t_map_refused";
    reset(name).await;
    let opts = with_mapping(name, "[types]\nmoney = \"integer\"\n");
    let e = bak2pg::migrate(open(NORTHWIND), &opts, &NoProgress).await.unwrap_err();
    assert_eq!((e.step, e.kind), (Step::Preflight, ErrorKind::Config));
    assert!(e.to_string().contains("mapping file northwind.toml: types.money:"), "{e}");
    assert!(databases(name).await.is_empty());
}

/// `--schema-only` with a mapping file, the target then changed by hand (a table of its
/// own with a foreign key to a loaded table, an index), then `--data-only` with the same
/// file: the rows arrive in the existing tables, validated against SQL Server's counts,
/// and what the target had of its own is still there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_only_loads_into_the_existing_tables_and_keeps_the_targets_own_objects() {
    let name = "t_map_data_only";
    reset(name).await;
    let src = open(NORTHWIND);

    // Nothing to load into yet.
    let mut opts = with_mapping(name, NORTHWIND_MAPPING);
    opts.data_only = true;
    let e = bak2pg::migrate(src.clone(), &opts, &NoProgress).await.unwrap_err();
    assert_eq!((e.step, e.kind), (Step::Preflight, ErrorKind::Config));
    assert!(e.to_string().contains("which does not exist"), "{e}");
    assert!(databases(name).await.is_empty());

    let mut schema = with_mapping(name, NORTHWIND_MAPPING);
    schema.schema_only = true;
    bak2pg::migrate(src.clone(), &schema, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    connect(name)
        .await
        .batch_execute(
            r#"CREATE TABLE nw.notes (id int PRIMARY KEY, order_id int NOT NULL REFERENCES nw."Orders" ("OrderID"), note text);
               CREATE INDEX orders_by_freight ON nw."Orders" ("Freight");"#,
        )
        .await
        .unwrap();
    let fk_state = "SELECT string_agg(conname || ' ' || convalidated, ', ' ORDER BY conname) FROM pg_constraint \
                    WHERE contype = 'f' AND connamespace = 'nw'::regnamespace";
    let keys_before = text(name, fk_state).await;
    // A row of its own cannot reference an order before the data is there: it is added
    // after the first data-only run, and must survive the second.
    let report = bak2pg::migrate(src.clone(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert!(report.data_only);
    connect(name).await.batch_execute("INSERT INTO nw.notes VALUES (1, 10248, 'first order')").await.unwrap();
    let report = bak2pg::migrate(src.clone(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert_eq!(report.tables.len(), 10);
    for t in &report.tables {
        assert_eq!(t.status, TableStatus::Match, "{}", t.source);
        assert_eq!(Some(t.rows), t.catalog_rows, "{}", t.source);
    }
    assert!(report.target.previous_kept_as.as_deref().is_some_and(|p| p.starts_with("t_map_data_only__prev_")));

    let row = text(
        name,
        r#"SELECT concat_ws('|', "Freight", shipper_id, n.note) FROM nw."Orders" o JOIN nw.notes n ON n.order_id = o."OrderID""#,
    )
    .await;
    assert_eq!(row, ["32.380000|3|first order"]);
    let own = text(
        name,
        r#"SELECT conname::text FROM pg_constraint WHERE conrelid = 'nw.notes'::regclass AND contype = 'f'
           UNION ALL SELECT indexname::text FROM pg_indexes WHERE indexname = 'orders_by_freight'
           UNION ALL SELECT conname::text FROM pg_constraint WHERE conname = 'FK_Order_Details_Orders'"#,
    )
    .await;
    assert_eq!(own, ["notes_order_id_fkey", "orders_by_freight", "FK_Order_Details_Orders"]);
    // The foreign keys dropped for the load are back as they were (validated or not).
    let keys_after = text(name, fk_state).await;
    assert_eq!(keys_before, keys_after);
    assert!(keys_after[0].contains("FK_Order_Details_Products"), "{keys_after:?}");
    // The identity continues after the loaded orders.
    let next = text(name, r#"SELECT nextval(pg_get_serial_sequence('nw."Orders"', 'OrderID'))::text"#).await;
    assert_eq!(next, ["11078"]);

    // PostgreSQL copies a database only while nobody else is connected to it.
    let session = connect(name).await;
    let e = bak2pg::migrate(src.clone(), &opts, &NoProgress).await.unwrap_err();
    assert_eq!((e.step, e.kind), (Step::CreateSchema, ErrorKind::Busy));
    assert!(e.to_string().contains("cannot be copied while other sessions are connected"), "{e}");
    drop(session);

    // A column of another type than the plan's: refused, naming it; the target untouched.
    connect(name)
        .await
        .batch_execute(r#"ALTER TABLE nw."Orders" ALTER COLUMN "Freight" TYPE numeric(19,4); DELETE FROM nw.notes"#)
        .await
        .unwrap();
    let e = bak2pg::migrate(src.clone(), &opts, &NoProgress).await.unwrap_err();
    assert_eq!((e.step, e.kind), (Step::CreateSchema, ErrorKind::Config));
    assert!(
        e.to_string()
            .contains("column nw.Orders.Freight is numeric(19,4), the backup's values are loaded as numeric(21,6)"),
        "{e}"
    );
    let n = text(name, r#"SELECT count(*)::text FROM nw."Orders""#).await;
    assert_eq!(n, ["830"]);
    assert!(!databases(name).await.iter().any(|d| d.ends_with("__loading")));
    reset(name).await;
}
