//! Views and inline functions of real backups created in PostgreSQL (bak2pg::translate,
//! bak2pg::objects): row counts compared with hand-written PostgreSQL equivalents over the
//! migrated tables, and `bak2pg.source_objects` compared with the backup's definitions.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bak2pg::source::Source;
use bak2pg::source::native::NativeSource;
use bak2pg::{MigrateOptions, NoProgress};
use mssql_backup::OpenOptions;

use crate::common::{connect, pg_url, reset};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/");

fn fixture(name: &str) -> PathBuf {
    let p = PathBuf::from(FIXTURES).join(name);
    assert!(p.is_file(), "fixture missing: {}", p.display());
    p
}

async fn migrate(file: &str, db: &str) -> (bak2pg::Report, Arc<NativeSource>) {
    reset(db).await;
    let path = fixture(file);
    let source = Arc::new(NativeSource::open(&[Path::new(&path)], OpenOptions::default()).expect("open the fixture"));
    let mut opts = MigrateOptions::new(&pg_url()).unwrap();
    opts.database = Some(db.into());
    opts.keep_previous = 0;
    let report = bak2pg::migrate(source.clone(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    (report, source)
}

/// Hand-written PostgreSQL for some Northwind views, over the migrated tables: the row
/// count each view must give (written from the T-SQL definitions, not from the
/// translator's output).
const NORTHWIND_EXPECTED: &[(&str, &str)] = &[
    ("Current Product List", r#"SELECT count(*) FROM public."Products" WHERE NOT "Discontinued""#),
    (
        "Orders Qry",
        r#"SELECT count(*) FROM public."Orders" o JOIN public."Customers" c ON c."CustomerID" = o."CustomerID""#,
    ),
    ("Order Subtotals", r#"SELECT count(DISTINCT "OrderID") FROM public."Order Details""#),
    (
        "Alphabetical list of products",
        r#"SELECT count(*) FROM public."Products" p JOIN public."Categories" c USING ("CategoryID") WHERE p."Discontinued" = false"#,
    ),
    (
        "Customer and Suppliers by City",
        r#"SELECT count(*) FROM (SELECT "City", "CompanyName", "ContactName", 'Customers' FROM public."Customers"
           UNION SELECT "City", "CompanyName", "ContactName", 'Suppliers' FROM public."Suppliers") u"#,
    ),
    (
        "Products Above Average Price",
        r#"SELECT count(*) FROM public."Products" WHERE "UnitPrice" > (SELECT avg("UnitPrice") FROM public."Products")"#,
    ),
    (
        "Quarterly Orders",
        r#"SELECT count(*) FROM (SELECT DISTINCT c."CustomerID", c."CompanyName", c."City", c."Country"
           FROM public."Customers" c RIGHT JOIN public."Orders" o ON c."CustomerID" = o."CustomerID"
           WHERE o."OrderDate" >= '1997-01-01' AND o."OrderDate" <= '1997-12-31') q"#,
    ),
    (
        "Summary of Sales by Year",
        r#"SELECT count(*) FROM public."Orders" WHERE "ShippedDate" IS NOT NULL
           AND "OrderID" IN (SELECT "OrderID" FROM public."Order Details")"#,
    ),
    ("Invoices", r#"SELECT count(*) FROM public."Order Details" d JOIN public."Orders" o USING ("OrderID")"#),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn northwind_views_created_counted_and_sources_kept() {
    let db = "t_views_northwind";
    let (report, source) = migrate("northwind-sql2005-tornpage.bak", db).await;
    let modules = &source.database().modules;
    assert_eq!(report.objects.len(), modules.len(), "one report entry per module");
    let views: Vec<_> = report.objects.iter().filter(|o| o.kind == "view").collect();
    assert_eq!(views.len(), 16, "Northwind has 16 views");
    let procedures = report.objects.iter().filter(|o| o.kind == "procedure").count();
    assert!(procedures >= 7, "Northwind's 7 procedures (and the diagram ones): {procedures}");
    for o in &report.objects {
        // Created, or left out with a reason: never neither.
        assert_eq!(o.translated, o.reason.is_none(), "{o:?}");
        if o.kind != "view" && o.kind != "inline_table_function" {
            assert!(!o.translated, "{o:?}");
        }
    }

    let c = connect(db).await;
    // Every view is in PostgreSQL or listed with its reason; the created ones return the
    // count the validate step recorded.
    for v in &views {
        let exists: bool = c
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_views WHERE schemaname = 'public' AND viewname = $1)",
                &[&v.name],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(exists, v.translated, "{v:?}");
        if v.translated {
            let n: i64 = c
                .query_one(&format!("SELECT count(*) FROM {}", v.target.as_deref().unwrap()), &[])
                .await
                .unwrap()
                .get(0);
            assert_eq!(v.rows, Some(n as u64), "{v:?}");
            assert!(n > 0, "{}: every Northwind view has rows", v.name);
        }
    }
    // Independent expectations.
    for (view, sql) in NORTHWIND_EXPECTED {
        let o = views.iter().find(|o| o.name == *view).unwrap_or_else(|| panic!("{view} listed"));
        assert!(o.translated, "{view}: {o:?}");
        let want: i64 = c.query_one(*sql, &[]).await.unwrap_or_else(|e| panic!("{view}: {e}")).get(0);
        assert_eq!(o.rows, Some(want as u64), "{view}");
    }
    // A sample of values, not only counts: the Salesperson concatenation and the money
    // rounding of Order Subtotals against the same computation written by hand. SQL
    // Server's types: (money × smallint, exact) × (1 − real) is real (single precision), and
    // CONVERT(money, real) rounds the exact binary value (PostgreSQL's real → numeric
    // would round to 6 digits first, hence ::float8). In double precision 26 of the 830
    // subtotals would differ, by up to 0.02.
    let diff: i64 = c
        .query_one(
            r#"SELECT count(*) FROM (
                 SELECT "OrderID", sum(round((("UnitPrice" * "Quantity")::real * (1::real - "Discount") / 100::real)::float8::numeric, 4) * 100) AS s
                 FROM public."Order Details" GROUP BY "OrderID") e
               JOIN public."Order Subtotals" v USING ("OrderID") WHERE e.s <> v."Subtotal""#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(diff, 0, "Order Subtotals' values");
    // And as SQL Server gives them: the first orders' subtotals, worked out from their
    // lines (10250: 10 × 7.70 + 35 × 42.40 × 0.85 + 15 × 16.80 × 0.85).
    let subtotals: Vec<(i32, String)> = c
        .query(
            r#"SELECT "OrderID", "Subtotal"::text FROM public."Order Subtotals" WHERE "OrderID" <= 10251 ORDER BY 1"#,
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let want = [(10248, "440.0000"), (10249, "1863.4000"), (10250, "1552.6000"), (10251, "654.0600")];
    assert_eq!(subtotals, want.map(|(k, v)| (k, v.to_string())));
    let names: i64 = c
        .query_one(
            r#"SELECT count(*) FROM public."Invoices" i JOIN public."Employees" e
               ON i."Salesperson" = e."FirstName" || ' ' || e."LastName""#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(Some(names as u64), views.iter().find(|o| o.name == "Invoices").unwrap().rows);

    // bak2pg.source_objects: every module, its definition byte for byte.
    let rows = c
        .query("SELECT schema, name, kind, definition, translated, reason FROM bak2pg.source_objects", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), modules.len());
    for m in modules {
        let r = rows
            .iter()
            .find(|r| r.get::<_, String>(0) == m.schema && r.get::<_, String>(1) == m.name)
            .unwrap_or_else(|| panic!("{}.{} in source_objects", m.schema, m.name));
        assert_eq!(r.get::<_, String>(2), m.kind.as_str());
        assert_eq!(r.get::<_, Option<String>>(3), m.definition, "{}.{}", m.schema, m.name);
        let o = report.objects.iter().find(|o| o.schema == m.schema && o.name == m.name).unwrap();
        assert_eq!(r.get::<_, bool>(4), o.translated);
        assert_eq!(r.get::<_, Option<String>>(5), o.reason);
    }
    let summary = report.summary();
    assert!(summary.contains("view 16 translated, 0 not"), "{summary}");
    assert_eq!(report.object_counts()["view"], (16, 0));
    assert_eq!(report.object_counts()["procedure"], (0, procedures));
    assert!(summary.contains("procedures are not translated"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn library_view_and_inline_function() {
    let db = "t_views_library";
    let (report, _) = migrate("library-neon4e-view-sql2012.bak", db).await;
    let c = connect(db).await;
    let view = report.objects.iter().find(|o| o.name == "MyView1").expect("MyView1");
    assert!(view.translated, "{view:?}");
    // MyView1: per student (first and last name), the library cards they hold.
    let want: i64 = c
        .query_one(
            r#"SELECT count(*) FROM (SELECT s."FirstName", s."LastName" FROM public."Students" s
               JOIN public."S_Cards" sc ON s."Id" = sc."Id_Student" GROUP BY 1, 2) g"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(view.rows, Some(want as u64));
    let f = report.objects.iter().find(|o| o.name == "ListBook").expect("ListBook");
    assert_eq!(f.kind, "inline_table_function");
    assert!(f.translated, "{f:?}");
    let want: i64 = c
        .query_one(
            r#"SELECT count(*) FROM public."Books" b JOIN public."Authors" a ON b."Id_Author" = a."Id"
               JOIN public."Categories" c ON b."Id_Category" = c."Id" JOIN public."Themes" t ON b."Id_Themes" = t."Id""#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let got: i64 = c.query_one(r#"SELECT count(*) FROM public."ListBook"()"#, &[]).await.unwrap().get(0);
    assert_eq!(got, want);
    for o in &report.objects {
        assert_eq!(o.translated, o.reason.is_none(), "{o:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tsqlv4_schemabound_views_and_reasons() {
    let db = "t_views_tsqlv4";
    let (report, _) = migrate("tsqlv4-sql2016-compressed.bak", db).await;
    let c = connect(db).await;
    let object = |name: &str| report.objects.iter().find(|o| o.name == name).unwrap_or_else(|| panic!("{name}"));
    // WITH SCHEMABINDING views in schema Sales, with DATEADD/DATEDIFF/YEAR/CAST.
    for name in ["CustOrders", "EmpOrders", "OrderTotalsByYear", "OrderValues"] {
        let o = object(name);
        assert!(o.translated, "{o:?}");
        assert_eq!(o.target.as_deref(), Some(format!(r#""Sales"."{name}""#).as_str()));
    }
    // OrderTotalsByYear by hand: quantities per order year.
    let want: Vec<(i32, i64)> = c
        .query(
            r#"SELECT extract(year FROM o.orderdate)::int, sum(d.qty)::bigint FROM "Sales"."Orders" o
               JOIN "Sales"."OrderDetails" d USING (orderid) GROUP BY 1 ORDER BY 1"#,
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let got: Vec<(i32, i64)> = c
        .query(r#"SELECT orderyear, qty::bigint FROM "Sales"."OrderTotalsByYear" ORDER BY 1"#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(got, want);
    assert_eq!(want.len(), 3);
    // CustOrders: one row per customer and month of orderdate (DATEADD/DATEDIFF month trick).
    let months: i64 = c
        .query_one(
            r#"SELECT count(*) FROM (SELECT DISTINCT custid, date_trunc('month', orderdate) FROM "Sales"."Orders") m"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(object("CustOrders").rows, Some(months as u64));
    let mismatched: i64 = c
        .query_one(
            r#"SELECT count(*) FROM "Sales"."CustOrders" WHERE ordermonth <> date_trunc('month', ordermonth)::date"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(mismatched, 0, "ordermonth is the first day of a month");
    // Left out, each with the construct and its position.
    let reason = |name: &str| object(name).reason.clone().unwrap_or_default();
    assert!(reason("ShowServerUserNameAndCurrentDatabase").contains("@@SERVERNAME"));
    assert!(reason("uvw_GetDBMSMetadataInformation").contains("INFORMATION_SCHEMA.TABLES"));
    assert!(reason("uvw_GetDBMSMetadataInformation").starts_with("line 15 column 9"));
    assert!(reason("GetNums").contains("parser"), "{}", reason("GetNums"));
}

/// A view PostgreSQL refuses (its name is taken by an index: one relation namespace per
/// schema in PostgreSQL, per table for indexes in SQL Server) is left out with
/// PostgreSQL's message and SQLSTATE, the view reading it is left out saying so, the
/// others are created; the run still passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_view_postgresql_refuses_and_the_view_reading_it_are_left_out() {
    use crate::common::{MemSource, col, coll, database, options, table};
    use bak2pg::schema::{Index, IndexColumn, IndexKind, Module, ModuleKind};
    use mssql_backup::{SqlType, Value};
    let name = "t_views_refused";
    reset(name).await;
    let mut t = table(
        "dbo",
        "items",
        vec![col("id", SqlType::Int), col("label", SqlType::NVarChar { len: Some(50), collation: coll() })],
    );
    t.indexes.push(Index {
        name: "IX_taken".into(),
        index_id: 2,
        kind: IndexKind::NonClustered,
        unique: false,
        columns: vec![IndexColumn { name: "label".into(), descending: false, included: false }],
        filter: None,
        disabled: false,
    });
    let mut db = database(name, vec![t]);
    let view = |id: i32, n: &str, def: &str| Module {
        object_id: id,
        schema: "dbo".into(),
        name: n.into(),
        kind: ModuleKind::View,
        definition: Some(def.into()),
        parent: None,
    };
    db.modules = vec![
        view(10, "IX_taken", "CREATE VIEW IX_taken AS SELECT id FROM items"),
        view(11, "OnTaken", "CREATE VIEW OnTaken AS SELECT id FROM IX_taken"),
        view(12, "Fine", "CREATE VIEW Fine AS SELECT id, label + N'!' AS shout FROM items WHERE id > 1"),
    ];
    let rows = (1..=3).map(|i| vec![Value::Int(i), Value::String(format!("item {i}"))]).collect();
    let source = MemSource::new(db, vec![rows]);
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let object = |n: &str| report.objects.iter().find(|o| o.name == n).unwrap_or_else(|| panic!("{n}"));
    let taken = object("IX_taken");
    assert!(!taken.translated, "{taken:?}");
    assert!(taken.reason.as_deref().unwrap().contains("SQLSTATE 42P07"), "{taken:?}");
    let on = object("OnTaken");
    assert_eq!(on.reason.as_deref(), Some("it reads view dbo.IX_taken, which was left out"));
    let fine = object("Fine");
    assert_eq!((fine.translated, fine.rows), (true, Some(2)));
    let c = connect(name).await;
    let shout: Vec<String> = c
        .query(r#"SELECT shout FROM public."Fine" ORDER BY id"#, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(shout, ["item 2!", "item 3!"]);
    let views: i64 =
        c.query_one("SELECT count(*) FROM pg_views WHERE schemaname = 'public'", &[]).await.unwrap().get(0);
    assert_eq!(views, 1, "nothing half-created");
}
