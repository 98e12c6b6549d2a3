//! Damaged and foreign files fail with clear errors naming the file, the page and the
//! offset at fault, and never yield data.

use mssql_backup::internals::mtf::MtfImage;
use mssql_backup::internals::source::MmapSource;
use mssql_backup::{Backup, ErrorKind, PageId};

use crate::fixture;

/// Reads every table of the backup; returns the first error.
fn read_all(path: &std::path::Path) -> mssql_backup::Result<u64> {
    let b = Backup::open(&[path])?;
    let mut rows = 0;
    for t in &b.database()?.tables {
        rows += b.rows(t)?.count()?.rows;
    }
    Ok(rows)
}

#[test]
fn negative_fixtures_are_rejected_by_name() {
    for (name, says) in [
        ("not-mssql-pgdump-named-northwind.bak", "PostgreSQL"),
        ("not-mssql-gitlfs-pointer-adventureworksdw2019.bak", "Git LFS"),
    ] {
        let path = fixture(name);
        let e = Backup::open(&[&path]).err().expect("must fail");
        assert_eq!(e.kind, ErrorKind::NotABackup, "{e}");
        let text = e.to_string();
        assert!(text.contains(name), "error must name the file: {text}");
        assert!(text.contains(says), "error must say what the file is: {text}");
    }
}

#[test]
fn truncated_copies_fail_with_the_offset() {
    let original = std::fs::read(fixture("pubs-sql2012.bak")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    for cut in [100, 5000, original.len() / 2, original.len() - 3000] {
        let path = dir.path().join(format!("cut{cut}.bak"));
        std::fs::write(&path, &original[..cut]).unwrap();
        let e = read_all(&path).unwrap_err();
        assert!(matches!(e.kind, ErrorKind::Truncated | ErrorKind::NotABackup), "cut at {cut}: {e}");
        let text = e.to_string();
        assert!(text.contains("cut"), "error must name the file: {text}");
        assert!(e.offset.is_some(), "error must give the offset: {text}");
    }
}

/// File offset of page `id` in an uncompressed backup.
fn page_offset(path: &std::path::Path, id: PageId) -> u64 {
    let src = MmapSource::open(path).unwrap();
    let img = MtfImage::parse(&src).unwrap();
    let bytes = src.bytes();
    for run in img.page_runs().unwrap() {
        for k in 0..run.pages {
            let at = (run.offset + k * 8192) as usize;
            let pid = u32::from_le_bytes(bytes[at + 32..at + 36].try_into().unwrap());
            let fid = u16::from_le_bytes(bytes[at + 36..at + 38].try_into().unwrap());
            if bytes[at] == 1 && PageId::new(fid, pid) == id && pid & 7 == (k & 7) as u32 {
                return at as u64;
            }
        }
    }
    panic!("page {id} not found");
}

#[test]
fn a_flipped_byte_in_a_data_page_is_a_checksum_error_naming_the_page() {
    let original_path = fixture("northwind-sql2008r2.bak");
    // Find a data page of dbo.Orders.
    let b = Backup::open(&[&original_path]).unwrap();
    let orders = b.database().unwrap().table("dbo", "Orders").unwrap().clone();
    let au = mssql_backup::internals::layout(&b, &orders).unwrap().rowsets[0].in_row.unwrap();
    let map = mssql_backup::internals::alloc::read_iam_chain(mssql_backup::internals::store(&b), au.first_iam).unwrap();
    let target = map
        .pages()
        .find(|p| {
            mssql_backup::internals::store(&b)
                .read(*p)
                .map(|pg| pg.header().page_type == mssql_backup::internals::page::PageType::Data)
                .unwrap_or(false)
        })
        .unwrap();
    let at = page_offset(&original_path, target);
    let mut bytes = std::fs::read(&original_path).unwrap();
    bytes[at as usize + 4000] ^= 0x20;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flipped.bak");
    std::fs::write(&path, &bytes).unwrap();

    let b = Backup::open(&[&path]).unwrap();
    let t = b.database().unwrap().table("dbo", "Orders").unwrap();
    let e = b.rows(t).and_then(|r| r.count()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Checksum, "{e}");
    assert_eq!(e.page, Some(target), "{e}");
    assert_eq!(e.offset, Some(at), "{e}");
    let text = e.to_string();
    assert!(text.contains("flipped.bak") && text.contains("stored") && text.contains("computed"), "{text}");
    // Other tables still read.
    let c = b.database().unwrap().table("dbo", "Customers").unwrap();
    assert_eq!(b.rows(c).unwrap().count().unwrap().rows, 97);
}
