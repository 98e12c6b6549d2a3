//! Comparing a table's rows with the oracle's, as multisets of canonical row tuples.
//!
//! Both sides are first normalised to canonical texts (see [`crate::normalize`]): the
//! oracle's literals by [`expected_rows`], the native reader's values by [`reader_rows`]
//! (a PostgreSQL test builds its side with [`crate::normalize::normalize_pg_text`]).
//! [`compare_table`] then sorts both and walks them together, so row order never matters
//! and duplicates count. A mismatch reports the table, how many rows are missing and
//! unexpected, and for the first missing rows the closest row read with the columns
//! that differ and their first differing characters, never the whole table.

use std::cmp::Ordering;
use std::fmt;

use mssql_backup::schema::Table;
use mssql_backup::{Backup, SqlType};

use crate::normalize::{normalize_literal, normalize_value};
use crate::oracle::{Literal, ResolvedTable};

/// One expected cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expected {
    /// This canonical text (`None` = NULL).
    Value(Option<String>),
    /// Any value: the script gives no knowable value (a DEFAULT of `getdate()`), with
    /// the reason shown in reports.
    Any(String),
}

/// An expected row with where it comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedRow {
    /// One cell per column.
    pub cells: Vec<Expected>,
    /// The script line of the row's statement, for reports.
    pub line: Option<usize>,
}

/// How the rows read must relate to the expected rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The same multiset.
    Exact,
    /// Every expected row is among the rows read; rows read beyond them are allowed
    /// (tables to which a backup's uploader added rows).
    ExpectedSubset,
}

/// A successful comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// Table label.
    pub table: String,
    /// Columns compared per row.
    pub columns: usize,
    /// Expected rows, all found.
    pub expected_rows: usize,
    /// Rows read.
    pub actual_rows: usize,
    /// Rows read beyond the expected ones (only in [`Mode::ExpectedSubset`]), as
    /// canonical tuples sorted.
    pub extra: Vec<Vec<Option<String>>>,
    /// Expected cells that were [`Expected::Any`].
    pub wildcard_cells: usize,
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} rows × {} columns equal", self.table, self.expected_rows, self.columns)?;
        if self.wildcard_cells > 0 {
            write!(f, " ({} cells with no knowable value skipped)", self.wildcard_cells)?;
        }
        if !self.extra.is_empty() {
            write!(f, ", plus {} rows not in the oracle", self.extra.len())?;
        }
        Ok(())
    }
}

/// A column that differs between an expected row and the closest row read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnDiff {
    /// Column name.
    pub column: String,
    /// Expected canonical text (or `*` for a wildcard, which never differs).
    pub expected: Option<String>,
    /// Canonical text read.
    pub actual: Option<String>,
}

/// How a table's rows differ from the expected rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    /// Table label.
    pub table: String,
    /// Column names.
    pub columns: Vec<String>,
    /// Expected row count.
    pub expected_rows: usize,
    /// Rows read.
    pub actual_rows: usize,
    /// Expected rows not found.
    pub missing: usize,
    /// Rows read that match no expected row (not a failure in [`Mode::ExpectedSubset`]).
    pub unexpected: usize,
    /// For the first missing rows: the script line, and the columns in which the closest
    /// unexpected row read differs (empty when no row read is left to pair with).
    pub pairs: Vec<(Option<usize>, Vec<ColumnDiff>)>,
    /// How often each column differs over all pairs examined, most first.
    pub column_counts: Vec<(String, usize)>,
    /// The first unexpected rows read, canonical.
    pub unexpected_sample: Vec<Vec<Option<String>>>,
    /// Structural problems (row widths).
    pub notes: Vec<String>,
}

const SHOW_PAIRS: usize = 5;
const PAIR_SCAN: usize = 50;
const PAIR_CANDIDATES: usize = 20_000;

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "table {}: {} expected rows, {} read; {} expected rows not found, {} rows read not expected",
            self.table, self.expected_rows, self.actual_rows, self.missing, self.unexpected
        )?;
        for n in &self.notes {
            writeln!(f, "  {n}")?;
        }
        if !self.column_counts.is_empty() {
            let cols: Vec<String> = self.column_counts.iter().map(|(c, n)| format!("{c} ×{n}")).collect();
            writeln!(f, "  columns differing in the closest pairs: {}", cols.join(", "))?;
        }
        for (line, diffs) in self.pairs.iter().take(SHOW_PAIRS) {
            let at = line.map_or(String::new(), |l| format!(" (script line {l})"));
            if diffs.is_empty() {
                writeln!(f, "  expected row{at}: no row read left to pair it with")?;
                continue;
            }
            writeln!(f, "  expected row{at} vs the closest row read:")?;
            for d in diffs {
                writeln!(f, "    {}: {}", d.column, show_diff(d.expected.as_deref(), d.actual.as_deref()))?;
            }
        }
        for r in self.unexpected_sample.iter().take(3) {
            let cells: Vec<String> = r.iter().map(|c| show(c.as_deref(), 40)).collect();
            writeln!(f, "  row read, not expected: ({})", cells.join(", "))?;
        }
        Ok(())
    }
}

impl std::error::Error for Mismatch {}

/// A value for a report: quoted, NULL, or cut to `max` characters with its length.
fn show(v: Option<&str>, max: usize) -> String {
    match v {
        None => "NULL".into(),
        Some(s) if s.chars().count() <= max => format!("{s:?}"),
        Some(s) => {
            let head: String = s.chars().take(max).collect();
            format!("{head:?}… ({} chars)", s.chars().count())
        }
    }
}

/// Expected and actual values side by side; long values show the context of their first
/// differing character.
fn show_diff(e: Option<&str>, a: Option<&str>) -> String {
    match (e, a) {
        (Some(e), Some(a)) if e.chars().count() > 60 || a.chars().count() > 60 => {
            let k = e.chars().zip(a.chars()).take_while(|(x, y)| x == y).count();
            let from = k.saturating_sub(20);
            let ctx = |s: &str| -> String { s.chars().skip(from).take(50).collect() };
            format!(
                "expected {} chars, got {}; first difference at char {k}: expected …{:?}…, got …{:?}…",
                e.chars().count(),
                a.chars().count(),
                ctx(e),
                ctx(a)
            )
        }
        _ => format!("expected {}, got {}", show(e, 60), show(a, 60)),
    }
}

fn cell_matches(e: &Expected, a: &Option<String>) -> bool {
    match e {
        Expected::Any(_) => true,
        Expected::Value(v) => v == a,
    }
}

/// Compares `actual` with `expected` as multisets of rows (see the module docs).
///
/// `columns` names the cells of every row, on both sides.
///
/// # Errors
/// A [`Mismatch`] when an expected row is not found, when (in [`Mode::Exact`]) a row read
/// is not expected, or when a row's width is not `columns.len()`.
pub fn compare_table(
    table: &str,
    columns: &[String],
    expected: &[ExpectedRow],
    actual: &[Vec<Option<String>>],
    mode: Mode,
) -> Result<Comparison, Box<Mismatch>> {
    let mut notes = Vec::new();
    if let Some((i, r)) = expected.iter().enumerate().find(|(_, r)| r.cells.len() != columns.len()) {
        notes.push(format!("expected row {i} has {} cells for {} columns", r.cells.len(), columns.len()));
    }
    if let Some((i, r)) = actual.iter().enumerate().find(|(_, r)| r.len() != columns.len()) {
        notes.push(format!("row read {i} has {} cells for {} columns", r.len(), columns.len()));
    }
    // Exact rows are matched by sorting; rows with wildcards afterwards, one by one.
    let mut exact: Vec<(Vec<&Option<String>>, usize)> = Vec::new();
    let mut wild: Vec<usize> = Vec::new();
    for (i, r) in expected.iter().enumerate() {
        let cells: Option<Vec<&Option<String>>> = r
            .cells
            .iter()
            .map(|c| match c {
                Expected::Value(v) => Some(v),
                Expected::Any(_) => None,
            })
            .collect();
        match cells {
            Some(c) => exact.push((c, i)),
            None => wild.push(i),
        }
    }
    exact.sort();
    let mut act: Vec<(&Vec<Option<String>>, usize)> = actual.iter().zip(0..).collect();
    act.sort();
    let mut missing: Vec<usize> = Vec::new();
    let mut unexpected: Vec<usize> = Vec::new();
    let (mut i, mut j) = (0, 0);
    while i < exact.len() || j < act.len() {
        let ord = match (exact.get(i), act.get(j)) {
            (Some((e, _)), Some((a, _))) => e.iter().copied().cmp(a.iter()),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        match ord {
            Ordering::Equal => {
                i += 1;
                j += 1;
            }
            Ordering::Less => {
                missing.push(exact[i].1);
                i += 1;
            }
            Ordering::Greater => {
                unexpected.push(act[j].1);
                j += 1;
            }
        }
    }
    for w in wild {
        let cells = &expected[w].cells;
        match unexpected.iter().position(|&a| cells.iter().zip(&actual[a]).all(|(e, v)| cell_matches(e, v))) {
            Some(k) => {
                unexpected.remove(k);
            }
            None => missing.push(w),
        }
    }
    let wildcard_cells = expected.iter().flat_map(|r| &r.cells).filter(|c| matches!(c, Expected::Any(_))).count();
    let failed = !missing.is_empty() || (mode == Mode::Exact && !unexpected.is_empty()) || !notes.is_empty();
    if !failed {
        let mut extra: Vec<Vec<Option<String>>> = unexpected.iter().map(|&a| actual[a].clone()).collect();
        extra.sort();
        return Ok(Comparison {
            table: table.to_string(),
            columns: columns.len(),
            expected_rows: expected.len(),
            actual_rows: actual.len(),
            extra,
            wildcard_cells,
        });
    }
    // Pair the first missing rows with their closest unexpected rows.
    missing.sort_unstable();
    let mut pairs = Vec::new();
    let mut counts: Vec<(String, usize)> = columns.iter().map(|c| (c.clone(), 0)).collect();
    for &m in missing.iter().take(PAIR_SCAN) {
        let cells = &expected[m].cells;
        let best = unexpected.iter().take(PAIR_CANDIDATES).max_by_key(|&&a| {
            (cells.iter().zip(&actual[a]).filter(|(e, v)| cell_matches(e, v)).count(), usize::MAX - a)
        });
        let diffs = match best {
            Some(&a) => cells
                .iter()
                .zip(&actual[a])
                .zip(columns)
                .filter(|((e, v), _)| !cell_matches(e, v))
                .map(|((e, v), c)| ColumnDiff {
                    column: c.clone(),
                    expected: match e {
                        Expected::Value(v) => v.clone(),
                        Expected::Any(_) => Some("*".into()),
                    },
                    actual: v.clone(),
                })
                .collect(),
            None => Vec::new(),
        };
        for d in &diffs {
            if let Some(c) = counts.iter_mut().find(|(c, _)| *c == d.column) {
                c.1 += 1;
            }
        }
        pairs.push((expected[m].line, diffs));
    }
    counts.retain(|(_, n)| *n > 0);
    counts.sort_by_key(|c| std::cmp::Reverse(c.1));
    unexpected.sort_unstable();
    Err(Box::new(Mismatch {
        table: table.to_string(),
        columns: columns.to_vec(),
        expected_rows: expected.len(),
        actual_rows: actual.len(),
        missing: missing.len(),
        unexpected: unexpected.len(),
        pairs,
        column_counts: counts,
        unexpected_sample: unexpected.iter().take(3).map(|&a| actual[a].clone()).collect(),
        notes,
    }))
}

/// The oracle's rows of `table` as expected rows for columns of `types` (in the
/// resolved table's column order). A literal the harness cannot evaluate, such as the
/// `getdate()` default of a column a statement left out, becomes [`Expected::Any`].
///
/// # Errors
/// A literal that does not convert to its column's type (see
/// [`crate::normalize::normalize_literal`]), naming table, line and column; or a type list
/// of the wrong length.
pub fn expected_rows(table: &ResolvedTable, types: &[SqlType]) -> Result<Vec<ExpectedRow>, String> {
    if types.len() != table.columns.len() {
        return Err(format!(
            "{}.{}: {} types for {} columns",
            table.schema,
            table.name,
            types.len(),
            table.columns.len()
        ));
    }
    table
        .rows
        .iter()
        .zip(&table.lines)
        .map(|(row, &line)| {
            let cells = row
                .iter()
                .zip(types)
                .zip(&table.columns)
                .map(|((lit, ty), col)| match lit {
                    Literal::Expr(e) => Ok(Expected::Any(e.clone())),
                    _ => normalize_literal(ty, lit).map(Expected::Value).map_err(|e| {
                        format!("{}.{} line {line}, column {col} ({ty}): {lit}: {e}", table.schema, table.name)
                    }),
                })
                .collect::<Result<Vec<_>, String>>()?;
            Ok(ExpectedRow { cells, line: Some(line) })
        })
        .collect()
}

/// Every row of `table` as read by the native reader, canonical.
///
/// # Errors
/// The reader's errors.
pub fn reader_rows(backup: &Backup, table: &Table) -> mssql_backup::Result<Vec<Vec<Option<String>>>> {
    let mut rows = backup.rows(table)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next_row()? {
        out.push(r.iter().zip(&table.columns).map(|(v, c)| normalize_value(&c.ty, v)).collect());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cols(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }
    fn e(cells: &[Option<&str>]) -> ExpectedRow {
        ExpectedRow { cells: cells.iter().map(|c| Expected::Value(c.map(String::from))).collect(), line: Some(7) }
    }
    fn a(cells: &[Option<&str>]) -> Vec<Option<String>> {
        cells.iter().map(|c| c.map(String::from)).collect()
    }

    #[test]
    fn multiset_equality_ignores_order_but_counts_duplicates() {
        let c = cols(&["id", "name"]);
        let exp = [e(&[Some("1"), Some("a")]), e(&[Some("2"), None]), e(&[Some("2"), None])];
        let act = [a(&[Some("2"), None]), a(&[Some("1"), Some("a")]), a(&[Some("2"), None])];
        let ok = compare_table("t", &c, &exp, &act, Mode::Exact).unwrap();
        assert_eq!((ok.expected_rows, ok.actual_rows, ok.columns), (3, 3, 2));
        assert_eq!(ok.to_string(), "t: 3 rows × 2 columns equal");
        // One duplicate fewer is a mismatch.
        let err = compare_table("t", &c, &exp, &act[..2], Mode::Exact).unwrap_err();
        assert_eq!((err.missing, err.unexpected), (1, 0));
        assert!(err.to_string().contains("no row read left"), "{err}");
    }

    #[test]
    fn mismatch_names_the_column_and_first_difference() {
        let c = cols(&["id", "notes", "price"]);
        let long = "x".repeat(100);
        let mut long2 = long.clone();
        long2.replace_range(70..71, "y");
        let exp = [e(&[Some("1"), Some(&long), Some("9.8000")]), e(&[Some("2"), Some("b"), Some("1.0000")])];
        let act = [a(&[Some("1"), Some(&long2), Some("9.8000")]), a(&[Some("2"), Some("b"), Some("1.0000")])];
        let err = compare_table("dbo.T", &c, &exp, &act, Mode::Exact).unwrap_err();
        assert_eq!((err.missing, err.unexpected), (1, 1));
        assert_eq!(err.column_counts, vec![("notes".to_string(), 1)]);
        let text = err.to_string();
        assert!(text.contains("table dbo.T: 2 expected rows, 2 read"), "{text}");
        assert!(text.contains("script line 7"), "{text}");
        assert!(text.contains("notes: expected 100 chars, got 100; first difference at char 70"), "{text}");
        assert!(!text.contains(&long), "no full dump: {text}");
    }

    #[test]
    fn subset_mode_and_wildcards() {
        let c = cols(&["id", "when"]);
        let exp = [
            e(&[Some("1"), Some("x")]),
            ExpectedRow {
                cells: vec![Expected::Value(Some("2".into())), Expected::Any("getdate()".into())],
                line: None,
            },
        ];
        let act = [a(&[Some("3"), Some("z")]), a(&[Some("2"), Some("2026-01-01")]), a(&[Some("1"), Some("x")])];
        assert!(compare_table("t", &c, &exp, &act, Mode::Exact).is_err());
        let ok = compare_table("t", &c, &exp, &act, Mode::ExpectedSubset).unwrap();
        assert_eq!(ok.extra, vec![a(&[Some("3"), Some("z")])]);
        assert_eq!(ok.wildcard_cells, 1);
        // A wildcard row still needs its known cells to match.
        let act = [a(&[Some("9"), Some("2026-01-01")]), a(&[Some("1"), Some("x")])];
        let err = compare_table("t", &c, &exp, &act, Mode::ExpectedSubset).unwrap_err();
        assert_eq!(err.missing, 1);
        assert_eq!(err.pairs[0].1[0].column, "id");
    }

    #[test]
    fn widths_are_checked() {
        let c = cols(&["id"]);
        let err = compare_table("t", &c, &[e(&[Some("1")])], &[a(&[Some("1"), None])], Mode::Exact).unwrap_err();
        assert!(err.notes[0].contains("2 cells for 1 columns"), "{err}");
    }
}
