//! mssql-backup's integration tests, one binary (each module was a binary of its own, each
//! recompiling the same helpers): real backups from `../shared/fixtures/`, read in place.

use std::path::PathBuf;

mod compressed;
mod damaged;
mod fixtures;
mod fuzz;
mod header;
mod mtf;
mod parts;
mod readme;
mod striped;

/// A backup of the fixtures' `bak/` folder.
pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/")).join(name)
}
