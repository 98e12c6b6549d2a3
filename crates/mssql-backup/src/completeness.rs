//! Is the backup whole? Detecting missing extents (one stripe of a striped backup, a cut
//! file) before anything is reported as complete.
//!
//! A full backup holds every extent the GAM pages mark allocated (checked on the complete
//! fixtures: northwind-sql2008r2's GAM marks exactly its 55 extents). So the backup is
//! complete when every GAM-allocated extent of every data file is present; and a table is
//! complete when its IAM pages and every extent they map are present.

use serde::{Deserialize, Serialize};

use crate::alloc::{gam_allocated_extents, missing_extents, read_iam_chain};
use crate::catalog::TableLayout;
use crate::schema::Database;
use crate::store::PageStore;
use crate::types::PageId;

/// Completeness of the backup as a whole and per table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Completeness {
    /// True when nothing is missing.
    pub complete: bool,
    /// Human-readable reasons the backup is incomplete (empty when complete).
    pub problems: Vec<String>,
    /// GAM-allocated extents not in the backup (a count; `missing_sample` lists some).
    pub missing_extents: u64,
    /// Up to 16 missing extents, as their first page.
    pub missing_sample: Vec<PageId>,
    /// Per-table status, when the catalog could be read.
    pub tables: Vec<TableCompleteness>,
    /// The first error met that is damage rather than absence (a page checksum, a
    /// malformed structure, a truncated file): then the backup is not merely incomplete,
    /// and this is its true cause.
    #[serde(skip)]
    pub damage: Option<crate::Error>,
}

impl Completeness {
    /// Notes `e` as a problem; keeps it as the cause when it is damage, not absence.
    pub fn problem(&mut self, what: String, e: &crate::Error) {
        self.problems.push(format!("{what}: {e}"));
        self.note_damage(e);
    }

    /// Keeps `e` as the cause when it is the first damage (anything but absence) met.
    pub fn note_damage(&mut self, e: &crate::Error) {
        if e.kind != crate::ErrorKind::Incomplete && self.damage.is_none() {
            self.damage = Some(e.clone());
        }
    }
}

/// Whether one table's pages are all present.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TableCompleteness {
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Extents of the table (data, LOB, row-overflow) missing from the backup.
    pub missing_extents: u64,
    /// Why the table cannot be checked or read (a missing IAM page…), if so.
    pub error: Option<String>,
}

impl TableCompleteness {
    /// True when every page of the table is present.
    pub fn complete(&self) -> bool {
        self.missing_extents == 0 && self.error.is_none()
    }
}

/// Compares GAM allocation with the extents present, for data files `files` given as
/// (file id, size in pages when known).
pub fn check_files(store: &PageStore, files: &[(u16, Option<u64>)], out: &mut Completeness) {
    for &(file, size) in files {
        // Without the file size, take every GAM interval whose GAM page is present (a GAM
        // marks extents past the end of its file as free).
        let size = size.unwrap_or_else(|| {
            let mut end = u64::from(crate::alloc::GAM_INTERVAL);
            while store.has_extent(crate::types::PageId::new(file, end as u32)) {
                end += u64::from(crate::alloc::GAM_INTERVAL);
            }
            end
        });
        match gam_allocated_extents(store, file, size) {
            Ok(extents) => {
                for e in extents {
                    if !store.has_extent(e) {
                        out.missing_extents += 1;
                        if out.missing_sample.len() < 16 {
                            out.missing_sample.push(e);
                        }
                    }
                }
            }
            Err(e) => out.problem(format!("data file {file}: allocation map unreadable"), &e),
        }
    }
    if out.missing_extents > 0 {
        out.problems.push(format!(
            "{} allocated extent(s) are not in the backup (first: {})",
            out.missing_extents,
            out.missing_sample.iter().take(4).map(|p| p.to_string()).collect::<Vec<_>>().join(", ")
        ));
    }
}

/// Checks each table's allocation units against the extents present.
pub fn check_tables(store: &PageStore, db: &Database, layouts: &[TableLayout], out: &mut Completeness) {
    for (t, l) in db.tables.iter().zip(layouts) {
        let mut tc =
            TableCompleteness { schema: t.schema.clone(), name: t.name.clone(), missing_extents: 0, error: None };
        for rs in &l.rowsets {
            for au in [rs.in_row, rs.lob, rs.overflow].into_iter().flatten() {
                if au.first_iam.is_null() {
                    continue;
                }
                match read_iam_chain(store, au.first_iam) {
                    Ok(map) => tc.missing_extents += missing_extents(store, &map).len() as u64,
                    Err(e) => {
                        tc.error.get_or_insert_with(|| e.to_string());
                        out.note_damage(&e);
                    }
                }
            }
        }
        if !tc.complete() {
            out.problems.push(match &tc.error {
                Some(e) => format!("table {}.{}: {e}", tc.schema, tc.name),
                None => format!("table {}.{}: {} extent(s) missing", tc.schema, tc.name, tc.missing_extents),
            });
        }
        out.tables.push(tc);
    }
}
