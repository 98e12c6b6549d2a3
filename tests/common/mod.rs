//! Helpers shared by the integration tests: where the fixtures are, the oracle scripts'
//! data ([`oracle`]), canonical value texts ([`normalize`]) and table comparison
//! ([`compare`]).

use std::path::PathBuf;

pub mod compare;
pub mod expectations;
pub mod normalize;
pub mod oracle;

/// `../shared/fixtures` relative to the repository root.
pub fn fixtures_dir() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.join("../shared/fixtures")
}

/// The path of a fixture, e.g. `fixture("bak/pubs-sql2012.bak")`.
pub fn fixture(rel: &str) -> PathBuf {
    fixtures_dir().join(rel)
}
