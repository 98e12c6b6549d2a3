//! The native reader's values, every row and every column, against the oracle scripts
//! that created the fixture databases (`../shared/fixtures/oracle`, MANIFEST.md).
//!
//! For each fixture with an oracle, every table the script fills is read in full and
//! compared with the script's rows as multisets of canonical values
//! (`bak2pg_tests::normalize`): exact decimals, `real` at `f32` precision, dates as SQL
//! Server shows them, blank-padded strings trimmed. Where the backup's uploader changed
//! the data, `bak2pg_tests::expectations` states the change precisely and the rest must
//! still match exactly. Spot checks at the end pin a few values independently of the
//! script parser.

use std::collections::BTreeSet;

use bak2pg_tests::compare::reader_rows;
use bak2pg_tests::expectations::{FixtureCheck, fixture_checks};
use bak2pg_tests::oracle::OracleFile;
use mssql_backup::schema::{Database, Table};
use mssql_backup::value::{DAYS_0001_TO_1900, ymd_to_days};
use mssql_backup::{Backup, Value};

fn open(bak: &str) -> Backup {
    let path = bak2pg_tests::fixture(&format!("bak/{bak}"));
    Backup::open(&[&path]).unwrap_or_else(|e| panic!("{bak}: {e}"))
}

fn table<'a>(db: &'a Database, schema: &str, name: &str) -> &'a Table {
    db.tables
        .iter()
        .find(|t| t.schema.eq_ignore_ascii_case(schema) && t.name.eq_ignore_ascii_case(name))
        .unwrap_or_else(|| panic!("{}: no table {schema}.{name}", db.name))
}

/// Reads every table `bak`'s oracle script fills and compares it with the script;
/// reports all failing tables at once.
fn check_fixture(bak: &str) {
    let fx: FixtureCheck = fixture_checks().into_iter().find(|f| f.bak == bak).expect("fixture listed");
    let script = fx.oracle.load().unwrap_or_else(|e| panic!("{e}"));
    assert!(script.skipped.is_empty(), "INSERTs without VALUES: {:?}", script.skipped);
    // Every table the script fills is checked, and nothing else is claimed.
    let key = |s: &str, n: &str| format!("{s}.{n}").to_lowercase();
    let filled: BTreeSet<String> = script.tables().iter().map(|(s, n)| key(s, n)).collect();
    let checked: BTreeSet<String> = fx.tables.iter().map(|c| key(c.schema, c.name)).collect();
    assert_eq!(filled, checked, "{bak}: tables filled by {} vs tables checked", fx.oracle.file_name());

    let backup = open(bak);
    let db = backup.database().unwrap_or_else(|e| panic!("{bak}: {e}"));
    let mut failures = Vec::new();
    let (mut rows, mut cells) = (0, 0);
    for check in &fx.tables {
        let t = table(db, check.schema, check.name);
        let actual = reader_rows(&backup, t).unwrap_or_else(|e| panic!("{bak} {}: {e}", t.qualified_name()));
        match bak2pg_tests::expectations::check_table(check, &script, t, &actual) {
            Ok(c) => {
                eprintln!("{bak}: {c}");
                assert_eq!(c.expected_rows, check.oracle_rows);
                assert_eq!(c.columns, t.columns.len());
                rows += c.expected_rows;
                cells += c.expected_rows * c.columns;
            }
            Err(e) => failures.push(e),
        }
    }
    for (schema, name) in fx.empty {
        let n = backup.rows(table(db, schema, name)).and_then(|r| r.count()).unwrap_or_else(|e| panic!("{e}")).rows;
        assert_eq!(n, 0, "{bak}: {schema}.{name} is created but not filled by the script");
    }
    assert!(failures.is_empty(), "{bak}: {} tables differ from the oracle:\n{}", failures.len(), failures.join("\n"));
    let others: Vec<String> = db
        .tables
        .iter()
        .filter(|t| !checked.contains(&key(&t.schema, &t.name)))
        .filter(|t| !fx.empty.iter().any(|(s, n)| key(s, n) == key(&t.schema, &t.name)))
        .map(|t| format!("{}.{}", t.schema, t.name))
        .collect();
    eprintln!(
        "{bak}: {} tables, {rows} oracle rows, {cells} cells equal; oracle corrections: {:?}; tables not from the script: {others:?}",
        fx.tables.len(),
        script.errata
    );
}

#[test]
fn northwind_2005_torn_page_equals_oracle() {
    check_fixture("northwind-sql2005-tornpage.bak");
}

#[test]
fn northwind_2008_torn_page_equals_oracle() {
    check_fixture("northwind-sql2008-tornpage.bak");
}

#[test]
fn northwind_2014_three_data_files_equals_oracle_with_shifted_order_dates() {
    check_fixture("northwind-sql2014-multifile.bak");
}

#[test]
fn northwind_2008r2_equals_oracle_plus_added_customers_and_shippers() {
    check_fixture("northwind-sql2008r2.bak");
}

#[test]
fn northwind_2016_compressed_equals_oracle_plus_category_11() {
    check_fixture("northwind-sql2016-compressed.bak");
}

#[test]
fn pubs_2012_equals_oracle() {
    check_fixture("pubs-sql2012.bak");
}

#[test]
fn tsqlv4_2016_compressed_equals_oracle() {
    check_fixture("tsqlv4-sql2016-compressed.bak");
}

#[test]
fn bikestores_2017_equals_oracle_plus_three_products() {
    check_fixture("bikestores-sql2017.bak");
}

/// The scripts parse completely: no `INSERT` left unaccounted, the row totals, and each
/// correction applied as often as documented.
#[test]
fn oracle_scripts_load_completely() {
    for (file, rows, corrections) in [
        (OracleFile::Northwind, 3308, 2),
        (OracleFile::Pubs, 255, 3),
        (OracleFile::Tsqlv4, 3223 + 100_000, 1),
        (OracleFile::BikeStores, 9071, 0),
    ] {
        let s = file.load().unwrap_or_else(|e| panic!("{e}"));
        assert!(s.skipped.is_empty(), "{file:?}: {:?}", s.skipped);
        assert_eq!(s.rows.len(), rows, "{file:?}");
        assert_eq!(s.errata.len(), corrections, "{file:?}: {:?}", s.errata);
    }
}

// ---------------------------------------------------------------------------------------
// Spot checks: single values, stated here rather than taken from the script parser.

/// The one row of `t` for which `pred` holds (asserted to be exactly one).
fn row_where(backup: &Backup, t: &Table, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut rows = backup.rows(t).unwrap_or_else(|e| panic!("{e}"));
    let mut found = Vec::new();
    while let Some(r) = rows.next_row().unwrap_or_else(|e| panic!("{e}")) {
        if pred(r) {
            found.push(r.to_vec());
        }
    }
    assert_eq!(found.len(), 1, "{}: rows matching", t.qualified_name());
    found.pop().unwrap_or_default()
}

fn col(t: &Table, row: &[Value], name: &str) -> Value {
    let k = t.columns.iter().position(|c| c.name == name).unwrap_or_else(|| panic!("no column {name}"));
    row[k].clone()
}

fn datetime(y: i32, m: u8, d: u8) -> Value {
    Value::DateTime { days: ymd_to_days(y, m, d).expect("valid date") - DAYS_0001_TO_1900, ticks: 0 }
}

/// Northwind Employees 1 (Nancy Davolio): the photo is an OLE object wrapping a
/// 4-bit bitmap, the notes an `ntext`, both off-row LOBs.
#[test]
fn northwind_employee_photo_and_notes() {
    for bak in ["northwind-sql2005-tornpage.bak", "northwind-sql2014-multifile.bak"] {
        let backup = open(bak);
        let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
        let t = table(db, "dbo", "Employees");
        let r = row_where(&backup, t, |r| r[0] == Value::Int(1));
        let Value::Binary(photo) = col(t, &r, "Photo") else { panic!("{bak}: Photo is not binary") };
        // OLE header: 0x151C, header size 0x2F, object type 2, name and class lengths
        // 13 and 14, then "Bitmap Image\0Paint.Picture\0".
        assert_eq!(photo[..16], [0x15, 0x1C, 0x2F, 0x00, 0x02, 0, 0, 0, 0x0D, 0, 0x0E, 0, 0x14, 0, 0x21, 0], "{bak}");
        assert_eq!(&photo[20..47], b"Bitmap Image\0Paint.Picture\0", "{bak}");
        // The bitmap file starts at 78 ("BM") and its header gives its size: 21536 bytes.
        assert_eq!(&photo[78..80], b"BM", "{bak}");
        assert_eq!(u32::from_le_bytes([photo[80], photo[81], photo[82], photo[83]]), 21_536, "{bak}");
        assert_eq!(photo.len(), 21_626, "{bak}");
        assert_eq!(
            col(t, &r, "Notes"),
            Value::String(
                "Education includes a BA in psychology from Colorado State University in 1970.  She also completed \
                 \"The Art of the Cold Call.\"  Nancy is a member of Toastmasters International."
                    .into()
            ),
            "{bak}"
        );
        assert_eq!(col(t, &r, "BirthDate"), datetime(1948, 12, 8), "{bak}");
        assert_eq!(col(t, &r, "Address"), Value::String("507 - 20th Ave. E.\r\nApt. 2A".into()), "{bak}");
        assert_eq!(col(t, &r, "Region"), Value::String("WA".into()));
        let five = row_where(&backup, t, |r| r[0] == Value::Int(5));
        assert_eq!(col(t, &five, "Region"), Value::Null, "{bak}");
    }
}

/// Order Details: UnitPrice is `money` (an exact count of 1/10000), Discount is `real`
/// (the script's `0.15` is the nearest `f32`, 0.150000006…), read bit for bit.
#[test]
fn northwind_order_details_money_and_real() {
    let backup = open("northwind-sql2008-tornpage.bak");
    let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
    let t = table(db, "dbo", "Order Details");
    // INSERT "Order Details" VALUES(10248,42,9.8,10,0)
    let r = row_where(&backup, t, |r| r[0] == Value::Int(10248) && r[1] == Value::Int(42));
    assert_eq!(r, [Value::Int(10248), Value::Int(42), Value::Money(98_000), Value::SmallInt(10), Value::Real(0.0)]);
    // INSERT "Order Details" VALUES(10250,51,42.4,35,0.15)
    let r = row_where(&backup, t, |r| r[0] == Value::Int(10250) && r[1] == Value::Int(51));
    assert_eq!(r[2], Value::Money(424_000));
    let Value::Real(d) = r[4] else { panic!("Discount is not real: {:?}", r[4]) };
    assert_eq!(d.to_bits(), 0.15f32.to_bits());
    assert_ne!(f64::from(d), 0.15, "a real is not the decimal 0.15");
}

/// Orders 10248: `'7/4/1996'` (mdy) is 1996-07-04, stored as days since 1900 and 1/300 s.
#[test]
fn northwind_order_dates() {
    let backup = open("northwind-sql2016-compressed.bak");
    let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
    let t = table(db, "dbo", "Orders");
    let r = row_where(&backup, t, |r| r[0] == Value::Int(10248));
    // 1996-07-04 is day 35248 (0x89B0) since 1900-01-01.
    assert_eq!(col(t, &r, "OrderDate"), Value::DateTime { days: 35_248, ticks: 0 });
    assert_eq!(col(t, &r, "RequiredDate"), datetime(1996, 8, 1));
    assert_eq!(col(t, &r, "ShippedDate"), datetime(1996, 7, 16));
    assert_eq!(col(t, &r, "Freight"), Value::Money(323_800));
    assert_eq!(col(t, &r, "CustomerID"), Value::String("VINET".into()));
    assert_eq!(col(t, &r, "ShipAddress"), Value::String("59 rue de l'Abbaye".into()));
}

/// pubs titles.price: `$20.00`, `$19.99`, NULL where the statement leaves the column out,
/// and BU2075's price after the uploader's 10 % raise.
#[test]
fn pubs_title_prices() {
    let backup = open("pubs-sql2012.bak");
    let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
    let t = table(db, "dbo", "titles");
    for (id, price) in [
        ("PC8888", Value::Money(200_000)),
        ("BU1032", Value::Money(199_900)),
        ("PS7777", Value::Money(79_900)),
        ("MC3026", Value::Null),
        ("PC9999", Value::Null),
        ("BU2075", Value::Money(32_890)),
    ] {
        let r = row_where(&backup, t, |r| r[0] == Value::String(id.into()));
        assert_eq!(col(t, &r, "price"), price, "{id}");
    }
    // `type` is char(12): the default 'UNDECIDED' comes back blank-padded.
    let r = row_where(&backup, t, |r| r[0] == Value::String("MC3026".into()));
    assert_eq!(col(t, &r, "type"), Value::String("UNDECIDED   ".into()));
    assert_eq!(col(t, &r, "advance"), Value::Null);
    // pubdate defaults to getdate() at install: unknown, but on a SQL Server 2012 database
    // (created with version 706), so not before 2012.
    let Value::DateTime { days, .. } = col(t, &r, "pubdate") else { panic!("pubdate is not a datetime") };
    assert!(days >= ymd_to_days(2012, 1, 1).expect("valid date") - DAYS_0001_TO_1900, "pubdate day {days}");
}

/// The comparison on real rows fails, naming the column, when one cell or one row read
/// differs: the equalities above are not vacuous.
#[test]
fn one_changed_cell_or_missing_row_is_reported() {
    use bak2pg_tests::expectations::check_table;
    let fx = fixture_checks().into_iter().find(|f| f.bak == "northwind-sql2005-tornpage.bak").expect("listed");
    let script = fx.oracle.load().unwrap_or_else(|e| panic!("{e}"));
    let check = fx.tables.iter().find(|c| c.name == "Order Details").expect("listed");
    let backup = open(fx.bak);
    let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
    let t = table(db, "dbo", "Order Details");
    let good = reader_rows(&backup, t).unwrap_or_else(|e| panic!("{e}"));
    assert!(check_table(check, &script, t, &good).is_ok());

    let mut changed = good.clone();
    let k = changed.iter().position(|r| r[2].as_deref() == Some("9.8000")).expect("a 9.8 unit price");
    changed[k][2] = Some("9.8001".into());
    let report = check_table(check, &script, t, &changed).expect_err("one changed price");
    assert!(report.contains("1 expected rows not found, 1 rows read not expected"), "{report}");
    assert!(report.contains("UnitPrice: expected \"9.8000\", got \"9.8001\""), "{report}");

    let mut fewer = good.clone();
    fewer.pop();
    let report = check_table(check, &script, t, &fewer).expect_err("one row fewer");
    assert!(
        report.contains("2155 expected rows, 2154 read; 1 expected rows not found, 0 rows read not expected"),
        "{report}"
    );

    // Discount is real: a value one f32 step away is another value.
    let mut off = good;
    let k = off.iter().position(|r| r[4].as_deref() == Some("0.15")).expect("a 0.15 discount");
    off[k][4] = Some(format!("{}", f32::from_bits(0.15f32.to_bits() + 1)));
    let report = check_table(check, &script, t, &off).expect_err("discount one ulp off");
    assert!(report.contains("Discount: expected \"0.15\", got \"0.15000002\""), "{report}");
}

/// TSQLV4 dbo.Nums holds exactly 1..=100000, once each.
#[test]
fn tsqlv4_nums_is_one_to_one_hundred_thousand() {
    let backup = open("tsqlv4-sql2016-compressed.bak");
    let db = backup.database().unwrap_or_else(|e| panic!("{e}"));
    let t = table(db, "dbo", "Nums");
    let mut rows = backup.rows(t).unwrap_or_else(|e| panic!("{e}"));
    let mut seen = Vec::with_capacity(100_000);
    while let Some(r) = rows.next_row().unwrap_or_else(|e| panic!("{e}")) {
        let [Value::Int(n)] = r else { panic!("unexpected row {r:?}") };
        seen.push(*n);
    }
    seen.sort_unstable();
    assert_eq!(seen, (1..=100_000).collect::<Vec<i32>>());
}
