//! `--case-insensitive icu` on a real backup and on hand-made keys: SQL Server's
//! case-insensitive comparison in PostgreSQL's keys and lookups, PostgreSQL's own without
//! the option, and validation that still sees a difference of case. And SQL Server's
//! other column metadata of issue 13: `MS_Description` as `COMMENT ON`.

use std::path::PathBuf;
use std::sync::Arc;

use crate::common::*;
use bak2pg::ddl::{CaseInsensitive, CollationPlan};
use bak2pg::schema::*;
use bak2pg::source::native::NativeSource;
use bak2pg::validate::ReadBackMethod;
use bak2pg::{NoProgress, report::Status};
use mssql_backup::{OpenOptions, SqlType, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

/// Northwind on SQL Server 2005: every text column is `SQL_Latin1_General_CP1_CI_AS`
/// (collation id 0x3400D008), `Customers.CustomerID` an `nchar(5)` primary key.
fn northwind() -> Arc<NativeSource> {
    let p = PathBuf::from(FIXTURES).join("bak/northwind-sql2005-tornpage.bak");
    assert!(p.is_file(), "fixture missing: {}", p.display());
    Arc::new(NativeSource::open(&[p.as_path()], OpenOptions::default()).unwrap_or_else(|e| panic!("{e}")))
}

async fn sqlstate_of_insert(c: &tokio_postgres::Client, id: &str) -> Option<String> {
    c.execute(r#"INSERT INTO "Customers" ("CustomerID", "CompanyName") VALUES ($1, 'Lower Case Ltd')"#, &[&id])
        .await
        .err()
        .map(|e| e.code().map(|s| s.code().to_string()).unwrap_or_default())
}

async fn found(c: &tokio_postgres::Client, id: &str) -> Vec<String> {
    c.query(r#"SELECT "CustomerID"::text FROM "Customers" WHERE "CustomerID" = $1 ORDER BY 1"#, &[&id])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icu_compares_a_real_ci_as_backup_as_sql_server_did() {
    let name = "t_coll_icu";
    reset(name).await;
    let source = northwind();
    let db = bak2pg::source::Source::database(source.as_ref());
    let ci = db.tables.iter().find(|t| t.name == "Customers").unwrap().column("CustomerID").unwrap();
    assert_eq!(ci.ty.collation().unwrap().name.as_deref(), Some("SQL_Latin1_General_CP1_CI_AS"));

    let mut opts = options(name);
    opts.plan.case_insensitive = CaseInsensitive::Icu;
    let report = bak2pg::migrate(source.clone(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed, "validated as without the option");
    assert_eq!(
        report.collations,
        vec![CollationPlan {
            schema: "public".into(),
            name: "SQL_Latin1_General_CP1_CI_AS".into(),
            locale: "und-u-ks-level2".into()
        }]
    );
    assert!(!report.untranslated.iter().any(|u| u.kind == "collation"), "{:?}", report.untranslated);

    let c = connect(name).await;
    let row = c
        .query_one(
            "SELECT coll.collname::text, coll.collisdeterministic, coll.collprovider::text \
             FROM pg_attribute a JOIN pg_collation coll ON coll.oid = a.attcollation \
             WHERE a.attrelid = '\"Customers\"'::regclass AND a.attname = 'CustomerID'",
            &[],
        )
        .await
        .unwrap();
    let (coll, deterministic, provider): (String, bool, String) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((coll.as_str(), deterministic, provider.as_str()), ("SQL_Latin1_General_CP1_CI_AS", false, "i"));

    // The primary key (a unique index) rejects 'alfki' beside 'ALFKI', as SQL Server does,
    // and a lookup in lower case finds the row.
    assert_eq!(sqlstate_of_insert(&c, "alfki").await.as_deref(), Some("23505"));
    assert_eq!(found(&c, "alfki").await, vec!["ALFKI"]);
    // Accents still count (_AS).
    assert_eq!(found(&c, "ÁLFKI").await, Vec::<String>::new());

    // Validation compares bytes, not the collation: a value whose case changed after the
    // load is a difference.
    let plan = bak2pg::ddl::plan(db, &opts.plan).unwrap();
    let ti = plan.tables.iter().position(|t| t.source_name == "Customers").unwrap();
    let reported = report.tables[ti].target_checksum.expect("validated");
    let back = bak2pg::validate::read_back_all(&plan.tables[ti..=ti], &opts.target, name, 1).await.unwrap();
    assert_eq!(back[0].checksum, reported, "read back as validated");
    assert_eq!(back[0].method, ReadBackMethod::ServerHash, "hashed by the server, whatever the columns' collation");
    let here =
        bak2pg::validate::read_back_ordered(&plan.tables, &[ti], &opts.target, name, 1, ReadBackMethod::ReadBack)
            .await
            .unwrap();
    assert_eq!((here[0].checksum, here[0].method), (reported, ReadBackMethod::ReadBack), "and read back here");
    let n = c
        .execute(r#"UPDATE "Customers" SET "CompanyName" = upper("CompanyName") WHERE "CustomerID" = 'alfki'"#, &[])
        .await
        .unwrap();
    assert_eq!(n, 1);
    let back = bak2pg::validate::read_back_all(&plan.tables[ti..=ti], &opts.target, name, 1).await.unwrap();
    assert_eq!(back[0].checksum.rows, reported.rows);
    assert_ne!(back[0].checksum, reported, "a change of case is a difference");
    drop(c);
    reset(name).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_option_postgresql_compares_bytes() {
    let name = "t_coll_off";
    reset(name).await;
    let opts = options(name);
    assert_eq!(opts.plan.case_insensitive, CaseInsensitive::Off, "the default");
    let report = bak2pg::migrate(northwind(), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(report.collations.is_empty());
    let c = connect(name).await;
    let deterministic: bool = c
        .query_one(
            "SELECT coll.collisdeterministic FROM pg_attribute a JOIN pg_collation coll \
             ON coll.oid = a.attcollation WHERE a.attrelid = '\"Customers\"'::regclass AND a.attname = 'CustomerID'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(deterministic);
    assert_eq!(found(&c, "alfki").await, Vec::<String>::new());
    assert_eq!(sqlstate_of_insert(&c, "alfki").await, None, "'alfki' is another key");
    assert_eq!(found(&c, "alfki").await, vec!["alfki"]);
    drop(c);
    reset(name).await;
}

/// A trusted foreign key 'abc' → 'ABC' holds under the ICU collation as in SQL Server;
/// 'abc  ' (trailing spaces, which SQL Server pads and ICU does not) is still created NOT
/// VALID and reported, the violators' query running over the nondeterministic columns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ci_foreign_key_holds_under_icu_and_trailing_spaces_are_still_reported() {
    let name = "t_coll_fk";
    reset(name).await;
    let mut opts = options(name);
    opts.plan.case_insensitive = CaseInsensitive::Icu;
    let report = bak2pg::migrate(parent_child(name, "abc"), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.untranslated.iter().any(|u| u.object == "FK_C_P"), "{:?}", report.untranslated);
    let c = connect(name).await;
    let validated: bool =
        c.query_one("SELECT convalidated FROM pg_constraint WHERE conname = 'FK_C_P'", &[]).await.unwrap().get(0);
    assert!(validated);
    drop(c);

    reset(name).await;
    let report =
        bak2pg::migrate(parent_child(name, "abc  "), &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    let fk = report.untranslated.iter().find(|u| u.object == "FK_C_P").expect("FK_C_P listed");
    assert_eq!(fk.action, "created NOT VALID (existing rows were not checked)");
    reset(name).await;
}

/// A trusted CHECK with LIKE over a `_CI_AS` column: PostgreSQL 15 refuses LIKE under a
/// nondeterministic collation, so the translation compares under the database default
/// and the constraint is created and validated, as without the option.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_like_check_on_a_ci_column_is_created_under_icu() {
    let name = "t_coll_like";
    reset(name).await;
    let ci = mssql_backup::Collation::from_id(0x3400_D008).unwrap();
    let mut t = table("dbo", "T", vec![not_null(col("code", SqlType::VarChar { len: Some(10), collation: ci }))]);
    t.check_constraints.push(CheckConstraint {
        name: "CK_T_code".into(),
        definition: "([code] like 'A%')".into(),
        column: Some("code".into()),
        disabled: false,
        not_trusted: false,
    });
    let source = MemSource::new(database(name, vec![t]), vec![vec![vec![Value::String("ABC".into())]]]);
    let mut opts = options(name);
    opts.plan.case_insensitive = CaseInsensitive::Icu;
    let report = bak2pg::migrate(source, &opts, &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!report.untranslated.iter().any(|u| u.object == "CK_T_code"), "{:?}", report.untranslated);
    let c = connect(name).await;
    let (validated, def): (bool, String) = {
        let r = c
            .query_one(
                "SELECT convalidated, pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'CK_T_code'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert!(validated, "{def}");
    assert!(def.contains("COLLATE \"default\""), "{def}");
    drop(c);
    reset(name).await;
}

/// `MS_Description` → `COMMENT ON`: the Access-upsized Northwind describes 8 tables and
/// 44 columns (text with apostrophes: "Shippers' names and phone numbers.").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ms_descriptions_of_a_real_backup_become_comments() {
    let name = "t_comments";
    reset(name).await;
    let p = PathBuf::from(FIXTURES).join("bak/northwind-sql2008-forwarded.bak");
    let source = Arc::new(NativeSource::open(&[p.as_path()], OpenOptions::default()).unwrap_or_else(|e| panic!("{e}")));
    let report = bak2pg::migrate(source, &options(name), &NoProgress).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.status, Status::Passed);
    assert!(!report.untranslated.iter().any(|u| u.kind == "description"), "{:?}", report.untranslated);
    let c = connect(name).await;
    let table: Option<String> =
        c.query_one(r#"SELECT obj_description('"Shipper"'::regclass, 'pg_class')"#, &[]).await.unwrap().get(0);
    assert_eq!(table.as_deref(), Some("Shippers' names and phone numbers."));
    let column: Option<String> = c
        .query_one(
            r#"SELECT col_description('"Shipper"'::regclass, (SELECT attnum FROM pg_attribute
               WHERE attrelid = '"Shipper"'::regclass AND attname = 'Phone'))"#,
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(column.as_deref(), Some("Phone number includes country code or area code."));
    let counts: (i64, i64) = {
        let r = c
            .query_one(
                "SELECT count(*) FILTER (WHERE d.objsubid = 0), count(*) FILTER (WHERE d.objsubid > 0) \
                 FROM pg_description d JOIN pg_class k ON k.oid = d.objoid AND d.classoid = 'pg_class'::regclass \
                 JOIN pg_namespace n ON n.oid = k.relnamespace WHERE n.nspname = 'public'",
                &[],
            )
            .await
            .unwrap();
        (r.get(0), r.get(1))
    };
    assert_eq!(counts, (8, 44));
    drop(c);
    reset(name).await;
}
