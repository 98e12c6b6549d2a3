//! What each fixture backup must hold, table by table, relative to its oracle script:
//! shared by the native reader's test (`tests/oracle_values.rs`) and any test of the
//! migrated PostgreSQL tables, which only differ in where the rows read come from.
//!
//! For every table an oracle script fills, a [`TableCheck`] gives the number of rows the
//! script inserts (so that a parser finding nothing fails) and how the backup's uploader
//! changed the table, if at all. The changes were established by comparing every row and
//! column of the backups with the scripts; they are data edits by the people who
//! published the backups (MANIFEST.md notes some of them), not reading errors: each is
//! a coherent edit a person makes (a year shifted on all 1997 orders, rows added by
//! hand), and all other rows and columns of the same pages read exactly.
//!
//! A test of the migrated PostgreSQL tables uses it the same way as the reader's test,
//! with its rows read back as text (`SELECT col::text …`, session `TimeZone` UTC):
//!
//! ```ignore
//! for fx in fixture_checks() {
//!     let script = fx.oracle.load()?;
//!     let backup = Backup::open(&[&fixture(&format!("bak/{}", fx.bak))])?;
//!     for check in &fx.tables {
//!         let table = /* the reader's `Table` named check.schema, check.name */;
//!         let actual: Vec<Vec<Option<String>>> = pg_rows(table)   // Vec<Vec<Option<String>>> of text
//!             .iter()
//!             .map(|row| row.iter().zip(&table.columns).map(|(v, c)| normalize_pg_text(&c.ty, v.as_deref())).collect())
//!             .collect();
//!         check_table(check, &script, table, &actual)?;
//!     }
//! }
//! ```

use mssql_backup::schema::Table;

use crate::compare::{Comparison, Expected, ExpectedRow, Mode, compare_table, expected_rows};
use crate::oracle::{OracleFile, Script, TableDef};

/// How a backup's table differs from the script's rows.
#[derive(Debug, Clone, Copy)]
pub enum Difference {
    /// Not at all: the same multiset of rows.
    None,
    /// The uploader added rows: every script row is in the backup, and the rows beyond
    /// them have exactly these canonical values in column `key`.
    ExtraRows {
        /// The column identifying the added rows.
        key: &'static str,
        /// Its canonical values in the added rows (any order).
        keys: &'static [&'static str],
    },
    /// The uploader changed values: `edit` applies the change to the expected rows
    /// (canonical texts, by column name) and says whether it changed the row; it must
    /// change exactly `rows` rows, then the table must match exactly.
    Edited {
        /// What the uploader did.
        what: &'static str,
        /// The change, on one expected row.
        edit: fn(&Cols<'_>, &mut [Expected]) -> bool,
        /// How many rows it changes.
        rows: usize,
    },
}

/// A table an oracle script fills.
#[derive(Debug, Clone, Copy)]
pub struct TableCheck {
    /// Schema.
    pub schema: &'static str,
    /// Table name.
    pub name: &'static str,
    /// Rows the script inserts into it (MANIFEST.md's counts).
    pub oracle_rows: usize,
    /// How the backup's table differs.
    pub difference: Difference,
}

/// A fixture backup with an oracle.
#[derive(Debug, Clone)]
pub struct FixtureCheck {
    /// The backup, relative to `bak/`.
    pub bak: &'static str,
    /// Its oracle script.
    pub oracle: OracleFile,
    /// Every table the script fills.
    pub tables: Vec<TableCheck>,
    /// Tables the script creates but never fills: they must be empty.
    pub empty: &'static [(&'static str, &'static str)],
}

/// Column lookup for edits.
pub struct Cols<'a>(&'a [String]);

impl Cols<'_> {
    /// The index of column `name`.
    ///
    /// # Panics
    /// When the table has no such column: the edit is wrong for the table.
    pub fn at(&self, name: &str) -> usize {
        self.0.iter().position(|c| c == name).unwrap_or_else(|| panic!("no column {name} in {:?}", self.0))
    }
}

fn text(cell: &Expected) -> Option<&str> {
    match cell {
        Expected::Value(Some(s)) => Some(s),
        _ => None,
    }
}

fn set(cell: &mut Expected, v: Option<&str>) {
    *cell = Expected::Value(v.map(String::from));
}

fn t(schema: &'static str, name: &'static str, oracle_rows: usize) -> TableCheck {
    TableCheck { schema, name, oracle_rows, difference: Difference::None }
}

const NORTHWIND_EMPTY: &[(&str, &str)] = &[("dbo", "CustomerCustomerDemo"), ("dbo", "CustomerDemographics")];

/// Northwind's tables as the script fills them (MANIFEST.md counts).
fn northwind() -> Vec<TableCheck> {
    vec![
        t("dbo", "Categories", 8),
        t("dbo", "Customers", 91),
        t("dbo", "Employees", 9),
        t("dbo", "Order Details", 2155),
        t("dbo", "Orders", 830),
        t("dbo", "Products", 77),
        t("dbo", "Shippers", 3),
        t("dbo", "Suppliers", 29),
        t("dbo", "Region", 4),
        t("dbo", "Territories", 53),
        t("dbo", "EmployeeTerritories", 49),
    ]
}

fn with(mut tables: Vec<TableCheck>, name: &str, difference: Difference) -> Vec<TableCheck> {
    let c = tables.iter_mut().find(|c| c.name == name).unwrap_or_else(|| panic!("no table {name}"));
    c.difference = difference;
    tables
}

/// northwind-sql2014-multifile: the uploader moved every 1997 order date 5 years on
/// (408 orders: 1997-01-01 → 2002-01-01) and the 14 orders of May 1998 (11064–11077)
/// 20 years on; required and shipped dates are untouched.
fn shift_order_dates(c: &Cols<'_>, row: &mut [Expected]) -> bool {
    let k = c.at("OrderDate");
    let new = match text(&row[k]) {
        Some(d) if d.starts_with("1997-") => format!("2002{}", &d[4..]),
        Some(d) if d.starts_with("1998-05-") => format!("2018{}", &d[4..]),
        _ => return false,
    };
    set(&mut row[k], Some(&new));
    true
}

/// northwind-sql2016-compressed: product 13 (Konbu) was moved to the added category 11
/// and its quantity, price and stock columns set to NULL.
fn konbu(c: &Cols<'_>, row: &mut [Expected]) -> bool {
    if text(&row[c.at("ProductID")]) != Some("13") {
        return false;
    }
    set(&mut row[c.at("CategoryID")], Some("11"));
    for col in ["QuantityPerUnit", "UnitPrice", "UnitsInStock", "UnitsOnOrder", "ReorderLevel"] {
        set(&mut row[c.at(col)], None);
    }
    true
}

/// pubs-sql2012: the price of BU2075 was raised by 10 % ($2.99 → 3.2890, a lab exercise).
fn bu2075_price(c: &Cols<'_>, row: &mut [Expected]) -> bool {
    if text(&row[c.at("title_id")]) != Some("BU2075") {
        return false;
    }
    set(&mut row[c.at("price")], Some("3.2890"));
    true
}

/// Every fixture whose data comes from an oracle script, with what each table must hold.
pub fn fixture_checks() -> Vec<FixtureCheck> {
    vec![
        FixtureCheck {
            bak: "northwind-sql2005-tornpage.bak",
            oracle: OracleFile::Northwind,
            tables: northwind(),
            empty: NORTHWIND_EMPTY,
        },
        FixtureCheck {
            bak: "northwind-sql2008-tornpage.bak",
            oracle: OracleFile::Northwind,
            tables: northwind(),
            empty: NORTHWIND_EMPTY,
        },
        FixtureCheck {
            bak: "northwind-sql2014-multifile.bak",
            oracle: OracleFile::Northwind,
            tables: with(
                northwind(),
                "Orders",
                Difference::Edited {
                    what: "1997 order dates +5 years, May 1998 order dates +20 years",
                    edit: shift_order_dates,
                    rows: 422,
                },
            ),
            empty: NORTHWIND_EMPTY,
        },
        FixtureCheck {
            bak: "northwind-sql2008r2.bak",
            oracle: OracleFile::Northwind,
            tables: with(
                with(
                    northwind(),
                    "Customers",
                    Difference::ExtraRows {
                        key: "CustomerID",
                        keys: &["aaaaa", "eeeee", "lalal", "mmmmm", "x", "zzzzz"],
                    },
                ),
                "Shippers",
                Difference::ExtraRows { key: "ShipperID", keys: &["4", "5", "6"] },
            ),
            empty: NORTHWIND_EMPTY,
        },
        FixtureCheck {
            bak: "northwind-sql2016-compressed.bak",
            oracle: OracleFile::Northwind,
            tables: with(
                with(northwind(), "Categories", Difference::ExtraRows { key: "CategoryID", keys: &["11"] }),
                "Products",
                Difference::Edited { what: "product 13 moved to category 11, five columns NULL", edit: konbu, rows: 1 },
            ),
            empty: NORTHWIND_EMPTY,
        },
        FixtureCheck {
            bak: "pubs-sql2012.bak",
            oracle: OracleFile::Pubs,
            tables: with(
                vec![
                    t("dbo", "authors", 23),
                    t("dbo", "publishers", 8),
                    t("dbo", "pub_info", 8),
                    t("dbo", "titles", 18),
                    t("dbo", "titleauthor", 25),
                    t("dbo", "stores", 6),
                    t("dbo", "sales", 21),
                    t("dbo", "roysched", 86),
                    t("dbo", "discounts", 3),
                    t("dbo", "jobs", 14),
                    t("dbo", "employee", 43),
                ],
                "titles",
                Difference::Edited { what: "BU2075 price +10 %", edit: bu2075_price, rows: 1 },
            ),
            empty: &[],
        },
        FixtureCheck {
            bak: "tsqlv4-sql2016-compressed.bak",
            oracle: OracleFile::Tsqlv4,
            tables: vec![
                t("HR", "Employees", 9),
                t("Production", "Suppliers", 29),
                t("Production", "Categories", 8),
                t("Production", "Products", 77),
                t("Sales", "Customers", 91),
                t("Sales", "Shippers", 3),
                t("Sales", "Orders", 830),
                t("Sales", "OrderDetails", 2155),
                t("Stats", "Tests", 2),
                t("Stats", "Scores", 19),
                t("dbo", "Nums", 100_000),
            ],
            empty: &[],
        },
        FixtureCheck {
            bak: "bikestores-sql2017.bak",
            oracle: OracleFile::BikeStores,
            tables: with(
                vec![
                    t("production", "brands", 9),
                    t("production", "categories", 7),
                    t("production", "products", 321),
                    t("sales", "customers", 1445),
                    t("sales", "stores", 3),
                    t("production", "stocks", 939),
                    t("sales", "staffs", 10),
                    t("sales", "orders", 1615),
                    t("sales", "order_items", 4722),
                ],
                "products",
                Difference::ExtraRows { key: "product_id", keys: &["322", "324", "325"] },
            ),
            empty: &[],
        },
    ]
}

/// The expected rows of `check`'s table: the script's rows resolved against `table`
/// (the column order, identities and defaults of the table as the backup describes
/// it), canonical for its column types, with the uploader's edits applied. Returns the
/// column names and the rows.
///
/// # Errors
/// The script has no rows for the table, or not `oracle_rows` of them; a row does not
/// resolve or convert; an edit does not change exactly the rows it should.
pub fn expected_for(
    check: &TableCheck,
    script: &Script,
    table: &Table,
) -> Result<(Vec<String>, Vec<ExpectedRow>), String> {
    let label = format!("{}.{}", check.schema, check.name);
    let oracle = script.table(check.schema, check.name).ok_or_else(|| format!("{label}: no rows in the script"))?;
    let resolved = oracle.resolve(&TableDef::from_schema(table))?;
    let types: Vec<_> = table.columns.iter().map(|c| c.ty.clone()).collect();
    let mut rows = expected_rows(&resolved, &types)?;
    if rows.len() != check.oracle_rows {
        return Err(format!("{label}: the script gives {} rows, MANIFEST.md says {}", rows.len(), check.oracle_rows));
    }
    if let Difference::Edited { what, edit, rows: n } = check.difference {
        let cols = Cols(&resolved.columns);
        let mut changed = 0;
        for r in &mut rows {
            changed += usize::from(edit(&cols, &mut r.cells));
        }
        if changed != n {
            return Err(format!("{label}: the edit '{what}' changed {changed} rows, expected {n}"));
        }
    }
    Ok((resolved.columns, rows))
}

/// Checks the rows read from a fixture's table (`actual`, canonical, in `table`'s column
/// order) against the script as `check` describes.
///
/// # Errors
/// The mismatch report (see [`crate::compare::Mismatch`]), or why the expected rows could
/// not be built, or added rows other than the declared ones.
pub fn check_table(
    check: &TableCheck,
    script: &Script,
    table: &Table,
    actual: &[Vec<Option<String>>],
) -> Result<Comparison, String> {
    let label = format!("{}.{}", check.schema, check.name);
    let (columns, expected) = expected_for(check, script, table)?;
    let mode = match check.difference {
        Difference::ExtraRows { .. } => Mode::ExpectedSubset,
        _ => Mode::Exact,
    };
    let cmp = compare_table(&label, &columns, &expected, actual, mode).map_err(|m| m.to_string())?;
    if let Difference::ExtraRows { key, keys } = check.difference {
        let k = Cols(&columns).at(key);
        let mut got: Vec<String> = cmp.extra.iter().map(|r| r[k].clone().unwrap_or_else(|| "NULL".into())).collect();
        got.sort();
        let mut want: Vec<String> = keys.iter().map(|s| s.to_string()).collect();
        want.sort();
        if got != want {
            return Err(format!("{label}: rows added beyond the script have {key} {got:?}, expected {want:?}"));
        }
    }
    Ok(cmp)
}
