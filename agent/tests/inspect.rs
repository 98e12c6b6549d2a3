//! `bak2pg inspect` on the real fixtures, through the real command line.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/bak/")).join(name)
}

fn inspect(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_bak2pg")).arg("inspect").args(args).output().expect("run bak2pg");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn lists_header_files_tables_counts_and_columns() {
    let path = fixture("northwind-sql2014-multifile.bak");
    let (code, out, err) = inspect(&[path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    for needle in [
        "Server      LAB-8\\SQLSERVER2014 (SQL Server 12.0.2000)",
        "Northwind_1",
        "Northwind_2",
        "northwnd.ldf",
        "Complete    yes",
        "dbo.Order Details  2155 rows",
        "dbo.Orders  830 rows",
        "UnitPrice                      money                NOT NULL DEFAULT ((0))",
        "OrderID                        int                  NOT NULL IDENTITY(1,1)",
    ] {
        assert!(out.contains(needle), "missing {needle:?} in:\n{out}");
    }
}

#[test]
fn json_output_has_every_table_with_its_row_count() {
    let path = fixture("tsqlv4-sql2016-compressed.bak");
    let (code, out, err) = inspect(&["--json", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["backup"]["header"]["database_name"], "TSQLV4");
    assert_eq!(v["backup"]["header"]["compressed"], true);
    let tables = v["tables"].as_array().unwrap();
    let nums = tables.iter().find(|t| t["schema"] == "dbo" && t["name"] == "Nums").expect("dbo.Nums");
    assert_eq!(nums["rows"], 100_000);
    assert_eq!(nums["columns"][0]["type"], "int");
    assert!(tables.iter().all(|t| t["complete"] == true && t["rows"].is_u64()));
}

#[test]
fn a_partial_stripe_is_refused_and_salvage_marks_the_incomplete_tables() {
    let path = fixture("chinook-sql2025-stripe-partial.bak");
    let (code, out, err) = inspect(&[path.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty(), "nothing is described as if whole: {out}");
    assert!(err.contains("incomplete") && err.contains("family 2 is missing"), "{err}");

    let (code, out, _) = inspect(&["--salvage", path.to_str().unwrap()]);
    assert_eq!(code, 2, "salvage describes but still fails");
    assert!(out.contains("dbo.Artist  275 rows"), "{out}");
    assert!(out.contains("dbo.Genre  25 rows"), "{out}");
    assert!(out.contains("dbo.Track  at least"), "{out}");
    assert!(out.contains("INCOMPLETE"), "{out}");
}

#[test]
fn foreign_files_are_named_for_what_they_are() {
    let path = fixture("not-mssql-pgdump-named-northwind.bak");
    let (code, out, err) = inspect(&[path.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(out.is_empty());
    assert!(err.contains("PostgreSQL") && err.contains("not-mssql-pgdump-named-northwind.bak"), "{err}");
}
