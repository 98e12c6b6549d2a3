//! The MTF walker on every real uncompressed fixture.

use mssql_backup::ErrorKind;
use mssql_backup::internals::mtf::MtfImage;
use mssql_backup::internals::source::MmapSource;

use crate::fixture;

const UNCOMPRESSED: &[&str] = &[
    "northwind-sql2005-tornpage.bak",
    "northwind-sql2008-tornpage.bak",
    "northwind-sql2008r2.bak",
    "pubs-sql2012.bak",
    "northwind-sql2014-stripe-partial.bak",
    "northwind-sql2014-multifile.bak",
    "bikestores-sql2017.bak",
    "northwind-sql2019-modified-tornpage.bak",
    "quanlymypham-sql2022-stripe-partial.bak",
    "chinook-sql2025-stripe-partial.bak",
    "hotel-projethotel-guid-sql2022.bak",
    "hotel-qlks-vietnamese-sql2019.bak",
    "hotel-management-time-sql2017.bak",
];

#[test]
fn every_uncompressed_fixture_walks_to_its_end() {
    for name in UNCOMPRESSED {
        let src = MmapSource::open(&fixture(name)).unwrap();
        let img = MtfImage::parse(&src).unwrap_or_else(|e| panic!("{name}: {e}"));
        let kinds: Vec<&str> = img.blocks.iter().map(|b| b.kind_str()).collect();
        assert_eq!(kinds.first(), Some(&"TAPE"), "{name}");
        for k in ["SSET", "VOLB", "MSCI", "MSDA", "ESET"] {
            assert!(kinds.contains(&k), "{name}: no {k} block in {kinds:?}");
        }
        let pages: u64 = img.page_runs().unwrap().iter().map(|r| r.pages).sum();
        assert!(pages > 200, "{name}: only {pages} pages");
        for r in img.page_runs().unwrap() {
            assert_eq!(r.offset % 512, 0, "{name}: pages not sector-aligned");
        }
    }
}

#[test]
fn northwind_2008r2_has_440_pages_in_one_data_stream() {
    let src = MmapSource::open(&fixture("northwind-sql2008r2.bak")).unwrap();
    let img = MtfImage::parse(&src).unwrap();
    let runs = img.page_runs().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].offset, 0x1e00);
    assert_eq!(runs[0].pages, 440);
}

#[test]
fn negative_fixtures_are_not_backups() {
    for name in ["not-mssql-pgdump-named-northwind.bak", "not-mssql-gitlfs-pointer-adventureworksdw2019.bak"] {
        let src = MmapSource::open(&fixture(name)).unwrap();
        let e = MtfImage::parse(&src).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotABackup, "{name}: {e}");
    }
}
