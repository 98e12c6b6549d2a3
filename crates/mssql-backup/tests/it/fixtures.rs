//! The reader on the real fixtures: row counts against the oracle scripts' counts
//! (MANIFEST.md), completeness, and rejection of damaged or foreign files.

use std::collections::BTreeMap;

use mssql_backup::OpenOptions;
use mssql_backup::{Backup, ErrorKind};

use crate::fixture;

fn counts(name: &str) -> BTreeMap<String, u64> {
    let path = fixture(name);
    let b = Backup::open(&[&path]).unwrap_or_else(|e| panic!("{e}"));
    let c = b.completeness();
    assert!(c.complete, "{name}: {:?}", c.problems);
    let db = b.database().unwrap_or_else(|e| panic!("{e}"));
    db.tables
        .iter()
        .map(|t| {
            let n = b.rows(t).and_then(|r| r.count()).unwrap_or_else(|e| panic!("{name} {}: {e}", t.name)).rows;
            (format!("{}.{}", t.schema, t.name), n)
        })
        .collect()
}

fn assert_counts(name: &str, expected: &[(&str, u64)]) {
    let got = counts(name);
    for (table, n) in expected {
        assert_eq!(got.get(*table), Some(n), "{name}: {table} (all: {got:?})");
    }
}

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

#[test]
fn northwind_2005_torn_page_matches_oracle() {
    assert_counts("northwind-sql2005-tornpage.bak", NORTHWIND);
}

#[test]
fn northwind_2008_torn_page_matches_oracle() {
    assert_counts("northwind-sql2008-tornpage.bak", NORTHWIND);
}

#[test]
fn northwind_2014_three_data_files_matches_oracle() {
    assert_counts("northwind-sql2014-multifile.bak", NORTHWIND);
}

#[test]
fn northwind_2008r2_has_the_uploaders_extra_rows() {
    let mut expected = NORTHWIND.to_vec();
    expected.retain(|(t, _)| *t != "dbo.Customers" && *t != "dbo.Shippers");
    expected.extend([("dbo.Customers", 97), ("dbo.Shippers", 6)]);
    assert_counts("northwind-sql2008r2.bak", &expected);
}

#[test]
fn pubs_2012_matches_oracle() {
    assert_counts(
        "pubs-sql2012.bak",
        &[
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
        ],
    );
}

#[test]
fn tsqlv4_2016_compressed_matches_oracle() {
    assert_counts(
        "tsqlv4-sql2016-compressed.bak",
        &[
            ("HR.Employees", 9),
            ("Production.Categories", 8),
            ("Production.Products", 77),
            ("Production.Suppliers", 29),
            ("Sales.Customers", 91),
            ("Sales.OrderDetails", 2155),
            ("Sales.Orders", 830),
            ("Sales.Shippers", 3),
            ("dbo.Nums", 100_000),
        ],
    );
}

#[test]
fn other_compressed_backups_read_whole() {
    let mut nw = NORTHWIND.to_vec();
    nw.retain(|(t, _)| *t != "dbo.Categories");
    nw.push(("dbo.Categories", 9));
    assert_counts("northwind-sql2016-compressed.bak", &nw);
    let got = counts("universidad-sql2019-compressed.bak");
    assert!(!got.is_empty() && got.values().sum::<u64>() > 0, "{got:?}");
}

#[test]
fn bikestores_2017_matches_oracle_except_products() {
    assert_counts(
        "bikestores-sql2017.bak",
        &[
            ("production.brands", 9),
            ("production.categories", 7),
            ("production.products", 324),
            ("production.stocks", 939),
            ("sales.customers", 1445),
            ("sales.order_items", 4722),
            ("sales.orders", 1615),
            ("sales.staffs", 10),
            ("sales.stores", 3),
        ],
    );
}

#[test]
fn hotel_and_modified_fixtures_match_manifest() {
    assert_counts(
        "hotel-projethotel-guid-sql2022.bak",
        &[("dbo.chambre", 531), ("dbo.reservation", 21), ("dbo.type_chambre", 20), ("dbo.usager", 29)],
    );
    assert_counts(
        "hotel-qlks-vietnamese-sql2019.bak",
        &[
            ("dbo.CHI_TIET_DAT", 6),
            ("dbo.LOAI_PHONG", 7),
            ("dbo.NGUOI_DUNG", 7),
            ("dbo.PHIEU_DAT", 6),
            ("dbo.PHONG", 0),
            ("dbo.sysdiagrams", 0),
        ],
    );
    assert_counts(
        "hotel-management-time-sql2017.bak",
        &[("dbo.Guest", 5), ("dbo.Payment", 0), ("dbo.Room", 20), ("dbo.TransactionRecord", 4), ("dbo.User", 1)],
    );
    assert_counts(
        "northwind-sql2019-modified-tornpage.bak",
        &[("dbo.Categories", 9), ("dbo.Products", 77), ("dbo.sysdiagrams", 0), ("dbo.Users", 58)],
    );
}

#[test]
fn partial_stripes_are_reported_incomplete() {
    for (name, missing) in [
        ("northwind-sql2014-stripe-partial.bak", Some(35)),
        ("chinook-sql2025-stripe-partial.bak", Some(60)),
        ("quanlymypham-sql2022-stripe-partial.bak", None),
    ] {
        let b = Backup::open(&[&fixture(name)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        let c = b.completeness();
        assert!(!c.complete, "{name} must be incomplete");
        assert!(
            c.problems.iter().any(|p| p.contains("media set of 2 families") && p.contains("is missing")),
            "{name}: the missing stripe must be named: {:?}",
            c.problems
        );
        if let Some(m) = missing {
            assert_eq!(c.missing_extents, m, "{name}: {:?}", c.problems);
        }
        // Without salvage, reading the catalog or a table fails with Incomplete.
        let err = b.database().map(|_| ()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Incomplete, "{name}: {err}");
    }
}

#[test]
fn salvage_reads_the_complete_tables_of_a_stripe_and_marks_the_rest() {
    let path = fixture("chinook-sql2025-stripe-partial.bak");
    let b = Backup::open_with(&[&path], OpenOptions { salvage: true, ..OpenOptions::default() }).unwrap();
    let c = b.completeness();
    assert!(!c.complete);
    let db = b.database().unwrap();
    let status = |name: &str| c.tables.iter().find(|t| t.name == name).unwrap().complete();
    for (name, rows) in [("Artist", 275), ("Genre", 25)] {
        let t = db.table("dbo", name).unwrap();
        assert!(status(name), "{name} should be complete");
        assert_eq!(b.rows(t).unwrap().count().unwrap().rows, rows);
    }
    for name in ["Album", "Track", "Invoice"] {
        assert!(!status(name), "{name} should be marked incomplete");
    }
    // The other stripe holds some of the system tables' pages too: what they described
    // (columns, indexes) is missing from the schema, and the completeness says so.
    for system_table in ["syscolpars", "sysidxstats"] {
        assert!(
            c.problems.iter().any(|p| p.starts_with(&format!("system catalog incomplete: {system_table}: page "))),
            "{system_table}'s missing pages must be named: {:?}",
            c.problems
        );
    }
}

/// 573 forwarding stubs on the heap pages of Customer, Order, OrderDetail and Product
/// (MANIFEST.md): each is skipped and its forwarded record read once, giving
/// instnwnd.sql's counts; SQL Server's own counts (the catalog's) agree.
#[test]
fn forwarded_records_are_read_once_through_their_stubs() {
    let path = fixture("northwind-sql2008-forwarded.bak");
    let b = Backup::open(&[&path]).unwrap();
    let db = b.database().unwrap().clone();
    let (mut stubs, mut forwarded) = (0, 0);
    for t in &db.tables {
        let s = b.rows(t).unwrap().count().unwrap();
        assert_eq!(Some(s.rows), t.row_count_hint, "{}: SQL Server's count", t.name);
        assert_eq!(s.forwarding_stubs, s.forwarded, "{}: one forwarded record per stub", t.name);
        stubs += s.forwarding_stubs;
        forwarded += s.forwarded;
    }
    assert_eq!((stubs, forwarded), (573, 573));
    assert_counts(
        "northwind-sql2008-forwarded.bak",
        &[
            ("dbo.Category", 8),
            ("dbo.Customer", 91),
            ("dbo.Employee", 9),
            ("dbo.Order", 830),
            ("dbo.OrderDetail", 2155),
            ("dbo.Product", 77),
            ("dbo.Shipper", 3),
            ("dbo.Supplier", 29),
            ("dbo.sysdiagrams", 1),
        ],
    );
}

/// `MS_Description` extended properties (`sysxprops`, object 49): the Access-upsized
/// Northwind holds 2 093 extended properties, 52 of them `MS_Description` (8 tables, 44
/// columns), nvarchar `sql_variant`s under `SQL_Latin1_General_CP1_CI_AS`; the other
/// Northwind backups hold only SSMS's `microsoft_database_tools_support` marks.
#[test]
fn ms_description_extended_properties_are_read() {
    use mssql_backup::schema::DescriptionTarget;
    let b = Backup::open(&[&fixture("northwind-sql2008-forwarded.bak")]).unwrap();
    let db = b.database().unwrap();
    assert!(!db.unreadable_definitions.iter().any(|u| u.kind == "description"), "{:?}", db.unreadable_definitions);
    assert_eq!(db.descriptions.len(), 52);
    let tables = db.descriptions.iter().filter(|d| matches!(d.target, DescriptionTarget::Table { .. })).count();
    let columns = db.descriptions.iter().filter(|d| matches!(d.target, DescriptionTarget::Column { .. })).count();
    assert_eq!((tables, columns), (8, 44));
    let text_of = |target: DescriptionTarget| {
        db.descriptions.iter().find(|d| d.target == target).map(|d| d.text.clone()).expect("described")
    };
    let shipper = |column: &str| DescriptionTarget::Column {
        schema: "dbo".into(),
        table: "Shipper".into(),
        column: column.into(),
    };
    assert_eq!(
        text_of(DescriptionTarget::Table { schema: "dbo".into(), table: "Shipper".into() }),
        Ok("Shippers' names and phone numbers.".into())
    );
    assert_eq!(text_of(shipper("Phone")), Ok("Phone number includes country code or area code.".into()));
    // Every described table and column exists in the model.
    for d in &db.descriptions {
        match &d.target {
            DescriptionTarget::Table { schema, table } => assert!(db.table(schema, table).is_some(), "{d:?}"),
            DescriptionTarget::Column { schema, table, column } => {
                assert!(db.table(schema, table).and_then(|t| t.column(column)).is_some(), "{d:?}")
            }
            DescriptionTarget::Other { .. } => panic!("{d:?}"),
        }
        assert!(d.text.is_ok(), "{d:?}");
    }

    let b = Backup::open(&[&fixture("northwind-sql2005-tornpage.bak")]).unwrap();
    assert!(b.database().unwrap().descriptions.is_empty(), "only microsoft_database_tools_support there");
}
