//! Schema objects: keys, indexes, foreign keys, checks, defaults, identities, computed
//! columns, renames and the report's lists, checked in pg_catalog.

use crate::common::*;
use bak2pg::schema::*;
use bak2pg::{ErrorKind, NoProgress, Step};
use mssql_backup::{SqlType, Value};

fn nv(n: u16) -> SqlType {
    SqlType::NVarChar { len: Some(n), collation: coll() }
}

fn ic(name: &str, descending: bool, included: bool) -> IndexColumn {
    IndexColumn { name: name.into(), descending, included }
}

fn shop(name: &str) -> (Database, Vec<Vec<Vec<Value>>>) {
    let long_col = "a_column_name_that_is_much_longer_than_the_sixty_three_bytes_postgresql_allows";
    let mut customers = table(
        "Sales",
        "Customers",
        vec![
            not_null(col("CustomerID", SqlType::NChar { len: 5, collation: coll() })),
            not_null(col("Name", nv(40))),
            col(long_col, SqlType::Int),
            col("xmin", SqlType::Int),
        ],
    );
    customers.primary_key = Some(key("PK_Customers", &["CustomerID"]));
    customers.check_constraints.push(CheckConstraint {
        name: "CK_Customers_Name".into(),
        definition: "(len(isnull([Name],''))>(0))".into(),
        column: Some("Name".into()),
        disabled: false,
        not_trusted: false,
    });
    customers.indexes.push(Index {
        name: "IX_Name".into(),
        index_id: 2,
        kind: IndexKind::NonClustered,
        unique: false,
        columns: vec![ic("Name", false, false)],
        filter: None,
        disabled: false,
    });

    let mut total = col("Total", SqlType::Money);
    total.computed = Some(Computed { definition: "([Qty]*[Price])".into(), persisted: true });
    let mut label = col("Label", nv(60));
    label.computed = Some(Computed { definition: "(upper([Note]))".into(), persisted: true });
    let mut orders = table(
        "dbo",
        "Orders",
        vec![
            identity(col("OrderID", SqlType::Int), 100, 10),
            not_null(col("CustomerID", SqlType::NChar { len: 5, collation: coll() })),
            with_default(col("OrderDate", SqlType::DateTime), "(getdate())"),
            with_default(col("ShippedUtc", SqlType::DateTime2 { scale: 7 }), "(getutcdate())"),
            with_default(col("Freight", SqlType::Money), "((0))"),
            with_default(not_null(col("Shipped", SqlType::Bit)), "((0))"),
            with_default(col("Rush", SqlType::Bit), "((1))"),
            with_default(col("RowGuid", SqlType::UniqueIdentifier), "(newid())"),
            with_default(col("Note", nv(50)), "(N'none')"),
            with_default(col("CreatedBy", nv(50)), "(suser_sname())"),
            with_default(col("Due", SqlType::DateTime), "(dateadd(day,(7),getdate()))"),
            col("Qty", SqlType::Int),
            col("Price", SqlType::Money),
            with_default(col("Flags", SqlType::VarBinary { len: Some(4) }), "(0x0A)"),
            total,
            label,
        ],
    );
    orders.primary_key = Some(key("PK_Orders", &["OrderID"]));
    orders.unique_constraints.push(key("UQ_Orders_RowGuid", &["RowGuid"]));
    orders.indexes.push(Index {
        name: "IX_Name".into(),
        index_id: 3,
        kind: IndexKind::NonClustered,
        unique: false,
        columns: vec![ic("OrderDate", true, false), ic("CustomerID", false, false), ic("Freight", false, true)],
        filter: None,
        disabled: false,
    });
    orders.indexes.push(Index {
        name: "UX_Orders_Note".into(),
        index_id: 4,
        kind: IndexKind::NonClustered,
        unique: true,
        columns: vec![ic("Note", false, false)],
        filter: Some("([Note] IS NOT NULL AND [Shipped]=(1))".into()),
        disabled: false,
    });
    orders.indexes.push(Index {
        name: "CCI_Orders".into(),
        index_id: 5,
        kind: IndexKind::NonClusteredColumnstore,
        unique: false,
        columns: vec![ic("Qty", false, false)],
        filter: None,
        disabled: false,
    });
    orders.foreign_keys.push(ForeignKey {
        name: "FK_Orders_Customers".into(),
        columns: vec!["CustomerID".into()],
        referenced_schema: "Sales".into(),
        referenced_table: "Customers".into(),
        referenced_columns: vec!["CustomerID".into()],
        on_delete: FkAction::Cascade,
        on_update: FkAction::NoAction,
        disabled: false,
        not_trusted: false,
    });
    orders.check_constraints.push(CheckConstraint {
        name: "CK_Orders_Freight".into(),
        definition: "([Freight]>=(0))".into(),
        column: Some("Freight".into()),
        disabled: false,
        not_trusted: false,
    });
    orders.check_constraints.push(CheckConstraint {
        name: "CK_Orders_Note".into(),
        definition: "([Note] like '[a-z]%')".into(),
        column: Some("Note".into()),
        disabled: false,
        not_trusted: false,
    });
    orders.check_constraints.push(CheckConstraint {
        name: "CK_Orders_Qty".into(),
        definition: "([Qty]>(5))".into(),
        column: Some("Qty".into()),
        disabled: false,
        not_trusted: true,
    });

    let s = |x: &str| Value::String(x.into());
    let customers_rows = vec![
        vec![s("ALFKI"), s("Alfreds"), Value::Int(1), Value::Int(7)],
        vec![s("BONAP"), s("Bon app'"), Value::Null, Value::Null],
    ];
    let order = |id: i32, cust: &str, qty: i32, price: i64, note: Option<&str>| {
        let note = note.map(s).unwrap_or(Value::Null);
        vec![
            Value::Int(id),
            s(cust),
            Value::DateTime { days: 44_000, ticks: 300 },
            Value::Null,
            Value::Money(12_5000),
            Value::Bit(true),
            Value::Bit(false),
            Value::Guid([id as u8; 16]),
            note.clone(),
            s("sa"),
            Value::Null,
            Value::Int(qty),
            Value::Money(price),
            Value::Binary(vec![]),
            Value::Money(qty as i64 * price),
            match &note {
                Value::String(n) => s(&n.to_uppercase()),
                _ => Value::Null,
            },
        ]
    };
    let orders_rows = vec![
        order(100, "ALFKI", 1, 10_0000, Some("first")),
        order(110, "ALFKI", 2, 2_5000, None),
        order(120, "BONAP", 3, 1, Some("third")),
    ];
    // Same index name on another table of the same PostgreSQL schema: Orders' is renamed.
    let mut items = table("dbo", "Items", vec![col("Name", nv(10))]);
    items.indexes.push(Index {
        name: "IX_Name".into(),
        index_id: 2,
        kind: IndexKind::NonClustered,
        unique: false,
        columns: vec![ic("Name", false, false)],
        filter: None,
        disabled: false,
    });
    // An index with the name PostgreSQL would give Orders' identity sequence.
    items.indexes.push(Index {
        name: "Orders_OrderID_seq".into(),
        index_id: 3,
        kind: IndexKind::NonClustered,
        unique: true,
        columns: vec![ic("Name", false, false)],
        filter: None,
        disabled: false,
    });
    let mut db = database(name, vec![customers, items, orders]);
    db.modules.push(Module {
        object_id: 1,
        schema: "dbo".into(),
        name: "OrderTotals".into(),
        kind: ModuleKind::View,
        definition: Some("CREATE VIEW …".into()),
        parent: None,
    });
    db.modules.push(Module {
        object_id: 2,
        schema: "dbo".into(),
        name: "trOrders".into(),
        kind: ModuleKind::Trigger,
        definition: None,
        parent: Some("dbo.Orders".into()),
    });
    (db, vec![customers_rows, vec![vec![s("x")]], orders_rows])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_indexes_defaults_identity_and_report_lists() {
    let name = "t_schema";
    reset(name).await;
    let (db, rows) = shop(name);
    let source = MemSource::new(db, rows);
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let c = connect(name).await;

    // Schemas: dbo → public, Sales kept by name.
    let t: Vec<String> = c
        .query(
            "SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN ('public','Sales') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(t, vec!["Sales.Customers", "public.Items", "public.Orders"]);

    // Constraints.
    let cons: Vec<String> = c
        .query(
            "SELECT conname || ' ' || contype::text || ' ' || convalidated::text || ' ' || confdeltype::text FROM pg_constraint \
             WHERE connamespace IN ('public'::regnamespace, '\"Sales\"'::regnamespace) ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for expected in [
        "CK_Customers_Name c true  ",
        "CK_Orders_Freight c true  ",
        "CK_Orders_Qty c false  ",
        "FK_Orders_Customers f true c",
        "PK_Customers p true  ",
        "PK_Orders p true  ",
        "UQ_Orders_RowGuid u true  ",
    ] {
        assert!(cons.iter().any(|x| x == expected), "{expected:?} not in {cons:?}");
    }
    assert!(!cons.iter().any(|x| x.starts_with("CK_Orders_Note")));

    // Indexes: the name collision renamed, DESC and INCLUDE kept, filter translated.
    let idx: Vec<String> = c
        .query("SELECT indexdef FROM pg_indexes WHERE schemaname IN ('public','Sales') ORDER BY 1", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let has = |s: &str| idx.iter().any(|x| x == s);
    assert!(has(r#"CREATE INDEX "IX_Name" ON "Sales"."Customers" USING btree ("Name")"#), "{idx:#?}");
    assert!(
        has(
            r#"CREATE INDEX "Orders_IX_Name" ON public."Orders" USING btree ("OrderDate" DESC, "CustomerID") INCLUDE ("Freight")"#
        ),
        "{idx:#?}"
    );
    assert!(
        has(
            r#"CREATE UNIQUE INDEX "UX_Orders_Note" ON public."Orders" USING btree ("Note") WHERE (("Note" IS NOT NULL) AND (("Shipped")::integer = 1))"#
        ),
        "{idx:#?}"
    );

    // Defaults.
    let defaults: Vec<(String, Option<String>)> = c
        .query(
            "SELECT column_name::text, column_default::text FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = 'Orders' ORDER BY ordinal_position",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    let default = |col: &str| defaults.iter().find(|(c, _)| c == col).and_then(|(_, d)| d.clone());
    assert_eq!(default("OrderDate").as_deref(), Some("CURRENT_TIMESTAMP"));
    assert_eq!(default("ShippedUtc").as_deref(), Some("(now() AT TIME ZONE 'utc'::text)"));
    assert_eq!(default("Freight").as_deref(), Some("0"));
    assert_eq!(default("Shipped").as_deref(), Some("false"));
    assert_eq!(default("Rush").as_deref(), Some("true"));
    assert_eq!(default("RowGuid").as_deref(), Some("gen_random_uuid()"));
    assert_eq!(default("Note").as_deref(), Some("'none'::character varying"));
    assert_eq!(default("CreatedBy").as_deref(), Some("CURRENT_USER"));
    assert_eq!(default("Due"), None);
    assert_eq!(default("Flags").as_deref(), Some("decode('0a'::text, 'hex'::text)"));

    // Identity continues after the loaded maximum; defaults and the generated column work.
    let row = c
        .query_one(
            r#"INSERT INTO public."Orders" ("CustomerID", "Qty", "Price") VALUES ('BONAP', 6, 2.5) RETURNING "OrderID", "Total"::text, "Shipped", "Note", "RowGuid" IS NOT NULL"#,
            &[],
        )
        .await
        .unwrap();
    assert_eq!(row.get::<_, i32>(0), 130);
    assert_eq!(row.get::<_, String>(1), "15.0000");
    assert!(!row.get::<_, bool>(2));
    assert_eq!(row.get::<_, String>(3), "none");
    assert!(row.get::<_, bool>(4));
    let attr = c
        .query_one(
            "SELECT attidentity::text, (SELECT attgenerated::text FROM pg_attribute WHERE attrelid = a.attrelid AND attname = 'Total') \
             FROM pg_attribute a WHERE attrelid = 'public.\"Orders\"'::regclass AND attname = 'OrderID'",
            &[],
        )
        .await
        .unwrap();
    assert_eq!(attr.get::<_, String>(0), "d");
    assert_eq!(attr.get::<_, String>(1), "s");
    let seq: String =
        c.query_one(r#"SELECT pg_get_serial_sequence('public."Orders"', 'OrderID')"#, &[]).await.unwrap().get(0);
    assert_eq!(seq, r#"public."Orders_OrderID_seq_2""#);
    assert!(
        idx.iter().any(|x| x.starts_with(r#"CREATE UNIQUE INDEX "Orders_OrderID_seq" ON public."Items""#)),
        "{idx:#?}"
    );
    // ON DELETE CASCADE acts.
    c.batch_execute(r#"DELETE FROM "Sales"."Customers" WHERE "CustomerID" = 'ALFKI'"#).await.unwrap();
    let left: i64 = c.query_one(r#"SELECT count(*) FROM public."Orders""#, &[]).await.unwrap().get(0);
    assert_eq!(left, 2);

    // The report lists what was not translated, renamed or not migrated.
    let untranslated =
        |kind: &str, object: &str| report.untranslated.iter().any(|u| u.kind == kind && u.object == object);
    assert!(untranslated("default", "Due"), "{:#?}", report.untranslated);
    assert!(untranslated("check", "CK_Orders_Note"));
    assert!(untranslated("computed", "Label"));
    assert!(untranslated("index", "CCI_Orders"));
    assert!(report.renamed.iter().any(|r| r.source == "IX_Name" && r.target == "Orders_IX_Name"));
    assert!(report.renamed.iter().any(|r| r.source.starts_with("a_column_name") && r.target.len() <= 63));
    assert!(report.renamed.iter().any(|r| r.source == "xmin" && r.target == "xmin_"));
    let object = |name: &str| report.objects.iter().find(|o| o.name == name).expect(name);
    let view = object("OrderTotals");
    assert!(view.kind == "view" && !view.translated, "{view:?}");
    assert!(view.reason.as_deref().is_some_and(|r| r.contains("parser")), "{view:?}");
    let trigger = object("trOrders");
    assert_eq!((trigger.kind.as_str(), trigger.translated), ("trigger", false));
    // The JSON report reads back as the same report (the pipeline passes it on).
    let json = report.to_json();
    let back: bak2pg::Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back, report);
    if std::env::var("SHOW_REPORT").is_ok() {
        println!("{json}\n{}", report.summary());
    }
    let summary = report.summary();
    assert!(summary.contains("CK_Orders_Note") && summary.contains("OrderTotals"), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_mapping_is_configurable() {
    let name = "t_schemamap";
    reset(name).await;
    let source = simple(name, 3);
    let mut opts = options(name);
    opts.plan.schema_map.insert("dbo".into(), "legacy".into());
    bak2pg::migrate(source, &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let c = connect(name).await;
    let n: i64 = c.query_one("SELECT count(*) FROM legacy.items", &[]).await.unwrap().get(0);
    assert_eq!(n, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_types_are_refused_unless_asked() {
    let name = "t_unknown";
    reset(name).await;
    let t = table("dbo", "j", vec![col("doc", SqlType::Unknown { type_id: 244, name: "json".into(), max_length: -1 })]);
    let source = MemSource::new(database(name, vec![t]), vec![vec![vec![Value::Binary(b"{}".to_vec())]]]);
    let err = bak2pg::migrate(source.clone(), &options(name), &NoProgress).await.unwrap_err();
    assert_eq!(err.step, bak2pg::Step::Preflight);
    assert!(err.to_string().contains("json"), "{err}");
    assert!(databases(name).await.is_empty());
    let mut opts = options(name);
    opts.plan.load_unknown_as_bytea = true;
    let report = bak2pg::migrate(source, &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.special_columns.iter().any(|c| c.column == "doc"));
}

/// Trusted constraints the loaded rows violate under PostgreSQL's rules are retried NOT
/// VALID and reported; the statements sent after them in the same pipeline still take
/// effect, and the identity restarts after them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn violated_constraints_are_created_not_valid_and_the_rest_still_applies() {
    let name = "t_notvalid";
    reset(name).await;
    // SQL Server did not trust the foreign key and CK_C_v (added WITH NOCHECK): rows that
    // break them are possible, so they are created NOT VALID and listed.
    let source = MemSource::new(database(name, orphan_tables(false)), orphan_rows());
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let not_valid: Vec<(&str, &str, &str)> = report
        .untranslated
        .iter()
        .filter(|u| u.action.starts_with("created NOT VALID"))
        .map(|u| (u.kind.as_str(), u.object.as_str(), u.reason.as_str()))
        .collect();
    let untrusted = "not trusted in SQL Server (added or re-enabled WITH NOCHECK): the rows it held were never checked";
    assert_eq!(
        not_valid,
        vec![("foreign_key", "FK_C_P", untrusted), ("check", "CK_C_v", untrusted)],
        "{:#?}",
        report.untranslated
    );
    let c = connect(name).await;
    let rows = c
        .query(
            "SELECT conname::text, convalidated FROM pg_constraint WHERE conrelid = '\"C\"'::regclass ORDER BY 1",
            &[],
        )
        .await
        .unwrap();
    let got: Vec<(String, bool)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let want = [("CK_C_pid", true), ("CK_C_v", false), ("FK_C_P", false), ("PK_C", true)];
    assert_eq!(got, want.map(|(n, v)| (n.to_string(), v)));
    let id: i32 = c.query_one("INSERT INTO \"C\" (pid, v) VALUES (1, 0) RETURNING id", &[]).await.unwrap().get(0);
    assert_eq!(id, 3);
    let e = c.batch_execute("INSERT INTO \"C\" (pid, v) VALUES (98, 0)").await.expect_err("the FK holds for new rows");
    assert_eq!(e.code().map(|s| s.code()), Some("23503"), "{e}");
    drop(c);
    reset(name).await;
}

/// P(id) and C(id, pid → P, v) with CK_C_v `v >= 0` and CK_C_pid `pid > 0`; the foreign
/// key and CK_C_v trusted or not.
fn orphan_tables(trusted: bool) -> Vec<Table> {
    let mut parent = table("dbo", "P", vec![not_null(col("id", SqlType::Int))]);
    parent.primary_key = Some(key("PK_P", &["id"]));
    let mut child = table(
        "dbo",
        "C",
        vec![identity(col("id", SqlType::Int), 1, 1), col("pid", SqlType::Int), col("v", SqlType::Int)],
    );
    child.primary_key = Some(key("PK_C", &["id"]));
    child.foreign_keys.push(ForeignKey {
        name: "FK_C_P".into(),
        columns: vec!["pid".into()],
        referenced_schema: "dbo".into(),
        referenced_table: "P".into(),
        referenced_columns: vec!["id".into()],
        on_delete: FkAction::NoAction,
        on_update: FkAction::NoAction,
        disabled: false,
        not_trusted: !trusted,
    });
    for (n, def, not_trusted) in [("CK_C_v", "([v]>=(0))", !trusted), ("CK_C_pid", "([pid]>(0))", false)] {
        child.check_constraints.push(CheckConstraint {
            name: n.into(),
            definition: def.into(),
            column: None,
            disabled: false,
            not_trusted,
        });
    }
    vec![parent, child]
}

/// P holds 1; C holds (1, 1, 5) and the orphan (2, 99, -1), which breaks FK_C_P and CK_C_v.
fn orphan_rows() -> Vec<Vec<Vec<Value>>> {
    vec![
        vec![vec![Value::Int(1)]],
        vec![vec![Value::Int(1), Value::Int(1), Value::Int(5)], vec![Value::Int(2), Value::Int(99), Value::Int(-1)]],
    ]
}

/// Constraints SQL Server trusted held on every row it had: loaded rows that break one
/// mean the rows read are wrong, and the run fails naming the constraint and a row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_constraint_the_rows_break_fails_the_run() {
    let name = "t_trusted";
    reset(name).await;
    let source = MemSource::new(database(name, orphan_tables(true)), orphan_rows());
    let e = bak2pg::migrate(source, &options(name), &NoProgress).await.expect_err("the orphan breaks FK_C_P");
    assert_eq!((e.step, e.kind), (Step::CreateConstraints, ErrorKind::Validation), "{e}");
    let text = e.to_string();
    assert!(text.contains("FK_C_P") && text.contains("row with key (99)") && text.contains("dbo.C"), "{text}");
    assert_eq!(databases(name).await, Vec::<String>::new(), "the loading database is dropped");

    // The foreign key untrusted, CK_C_v trusted: the CHECK names the row by its key.
    let mut tables = orphan_tables(true);
    tables[1].foreign_keys[0].not_trusted = true;
    let source = MemSource::new(database(name, tables), orphan_rows());
    let e = bak2pg::migrate(source, &options(name), &NoProgress).await.expect_err("the orphan breaks CK_C_v");
    let text = e.to_string();
    assert!(text.contains("CK_C_v") && text.contains("row with key (2)") && text.contains("[v]>=(0)"), "{text}");
}

/// A trusted foreign key on strings: SQL Server compared 'abc  ' and 'ABC' equal (trailing
/// spaces, a case-insensitive collation); PostgreSQL does not. Not a decoding error: the
/// key is created NOT VALID and the report says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_string_key_equal_under_sql_servers_rules_is_not_a_violation() {
    let name = "t_cikey";
    reset(name).await;
    let source = parent_child(name, "abc  ");
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let fk = report.untranslated.iter().find(|u| u.object == "FK_C_P").expect("FK_C_P listed");
    assert_eq!(fk.action, "created NOT VALID (existing rows were not checked)");
    assert!(fk.reason.contains("under SQL Server's comparison rules"), "{}", fk.reason);
    reset(name).await;
}
