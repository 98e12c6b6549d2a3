//! Progress callbacks of a migration (a leaf: the steps report to it, a CLI draws from it).

use crate::report::Step;

/// Callbacks on progress, so a CLI can draw bars; every method has an empty default.
/// Called from async tasks: keep them quick.
pub trait Progress: Send + Sync {
    /// A step starts.
    fn step_started(&self, _step: Step) {}
    /// A step ended (successfully) after `seconds`.
    fn step_finished(&self, _step: Step, _seconds: f64) {}
    /// A table's load starts; `rows_hint` is the catalog's estimate.
    fn table_started(&self, _table: &str, _rows_hint: Option<u64>) {}
    /// `rows_done` rows of `table` have been sent so far.
    fn table_rows(&self, _table: &str, _rows_done: u64) {}
    /// A table's load is acknowledged by PostgreSQL.
    fn table_finished(&self, _table: &str, _rows: u64) {}
}

/// Ignores all progress (`--quiet`, `--json`).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoProgress;

impl Progress for NoProgress {}
