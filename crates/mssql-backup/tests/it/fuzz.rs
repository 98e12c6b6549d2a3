//! Property-based fuzzing of the decoders: real backups with random bytes changed, and
//! arbitrary bytes fed to the record, LOB and SCSU decoders, must give errors, never
//! panics or endless loops. (`cargo fuzz` needs a nightly toolchain this project does not
//! assume; these proptest targets run on stable, bounded by `PROPTEST_CASES`.)

use std::path::PathBuf;

use mssql_backup::OpenOptions;
use mssql_backup::internals::record::Record;
use mssql_backup::internals::source::ByteSource;
use mssql_backup::internals::{self, from_sources};
use proptest::prelude::*;

fn fixture_bytes(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/bak/")).join(name))
        .unwrap()
}

/// Opens the image and reads every row of every table, decoding every value.
fn read_everything(image: Vec<u8>, salvage: bool) -> u64 {
    let sources: Vec<(PathBuf, Box<dyn ByteSource>)> = vec![(PathBuf::from("mutated.bak"), Box::new(image))];
    let Ok(b) = from_sources(sources, OpenOptions { salvage, ..OpenOptions::default() }) else { return 0 };
    let _ = b.completeness();
    let Ok(db) = b.database() else { return 0 };
    let mut rows = 0;
    for t in &db.tables {
        let Ok(mut r) = b.rows(t) else { continue };
        while let Ok(Some(_)) = r.next_row() {
            rows += 1;
        }
    }
    rows
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(24),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Torn-page protected pages carry no checksum, so changed bytes reach the record,
    /// catalog and LOB decoders.
    #[test]
    fn mutated_torn_page_backup_never_panics(
        edits in prop::collection::vec((0.0f64..1.0, any::<u8>()), 1..40),
        salvage in any::<bool>(),
    ) {
        let mut image = fixture_bytes("northwind-sql2005-tornpage.bak");
        // Edits land in the data stream (after the first 8 KiB of descriptor blocks).
        let len = image.len() - 8192;
        for (at, byte) in edits {
            image[8192 + (at * len as f64) as usize % len] = byte;
        }
        read_everything(image, salvage);
    }

    /// Changes in the MTF descriptor blocks and the first pages.
    #[test]
    fn mutated_container_never_panics(edits in prop::collection::vec((0usize..20_000, any::<u8>()), 1..8)) {
        let mut image = fixture_bytes("pubs-sql2012.bak");
        for (at, byte) in edits {
            image[at] = byte;
        }
        read_everything(image, false);
    }

    #[test]
    fn record_parser_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok(r) = Record::parse(&bytes) {
            for i in 0..r.var_count().min(64) {
                let _ = r.var(i);
            }
            for bit in 0..70 {
                let _ = r.is_null(bit);
            }
            let _ = r.fixed(4, 8);
            let _ = (r.value_var_count(), r.back_pointer());
        }
        let _ = internals::record::forwarding_stub_target(&bytes);
    }

    #[test]
    fn lob_and_scsu_decoders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = internals::lob::sparse_columns(&bytes);
        let _ = internals::lob::classify(&bytes);
        let _ = internals::scsu::decode(&bytes);
    }
}

#[test]
fn an_unmutated_image_reads_every_row() {
    // The harness itself must be able to read: otherwise the properties prove nothing.
    assert_eq!(read_everything(fixture_bytes("northwind-sql2005-tornpage.bak"), false), 3308);
}
