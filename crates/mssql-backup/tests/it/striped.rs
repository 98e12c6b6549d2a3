//! Striped backups: a backup written to several files at once holds each extent in exactly
//! one of them. We have no complete real striped set, so these tests split a real backup's
//! data stream into two stripe files the way the real partial stripes look (alternating
//! runs of extents, every file with the full MTF framing) and read them back.

use std::path::{Path, PathBuf};

use mssql_backup::internals::mtf::{MtfImage, STREAM_HEADER_LEN};
use mssql_backup::internals::source::MmapSource;
use mssql_backup::{Backup, ErrorKind};

use crate::fixture;

fn xor_words(b: &[u8]) -> u16 {
    b.chunks_exact(2).fold(0, |a, w| a ^ u16::from_le_bytes([w[0], w[1]]))
}

/// Writes `parts` stripe files from `src`: extent run `i` (runs of `run` extents) goes to
/// file `i % parts`. Returns the paths.
fn split(src: &Path, dir: &Path, parts: usize, run: usize) -> Vec<PathBuf> {
    let bytes = std::fs::read(src).unwrap();
    let mmap = MmapSource::open(src).unwrap();
    let img = MtfImage::parse(&mmap).unwrap();
    let stream =
        img.blocks.iter().flat_map(|b| b.streams.iter()).find(|s| &s.id == b"MQDA" && s.len > 0).copied().unwrap();
    let pages_at = (stream.data_offset + 2) as usize;
    let extents = ((stream.len - 2) / 65536) as usize;
    let end = (stream.data_offset + stream.len) as usize;
    // The TAPE block's RAID stream says which family of how many this file is (family
    // count at data offset 20, family number at 24), as in the real partial stripes.
    let raid = img.blocks[0].stream(b"RAID").copied().unwrap();
    (0..parts)
        .map(|p| {
            let mut out = bytes[..stream.header_offset as usize].to_vec();
            let at = raid.data_offset as usize;
            out[at + 20..at + 22].copy_from_slice(&(parts as u16).to_le_bytes());
            out[at + 24..at + 26].copy_from_slice(&(p as u16 + 1).to_le_bytes());
            let mut body = Vec::new();
            for e in (0..extents).filter(|e| (e / run) % parts == p) {
                body.extend_from_slice(&bytes[pages_at + e * 65536..pages_at + (e + 1) * 65536]);
            }
            let mut header = bytes[stream.header_offset as usize..stream.data_offset as usize].to_vec();
            header[8..16].copy_from_slice(&(2 + body.len() as u64).to_le_bytes());
            let c = xor_words(&header[..20]);
            header[20..22].copy_from_slice(&c.to_le_bytes());
            assert_eq!(header.len() as u64, STREAM_HEADER_LEN);
            out.extend(header);
            out.extend_from_slice(&bytes[stream.data_offset as usize..pages_at]);
            out.extend(body);
            out.extend_from_slice(&bytes[end..]);
            let path = dir.join(format!("stripe{}.bak", p + 1));
            std::fs::write(&path, out).unwrap();
            path
        })
        .collect()
}

fn table_counts(b: &Backup) -> Vec<(String, u64)> {
    let db = b.database().unwrap();
    db.tables.iter().map(|t| (t.name.clone(), b.rows(t).unwrap().count().unwrap().rows)).collect()
}

#[test]
fn two_stripes_read_together_equal_the_original() {
    let dir = tempfile::tempdir().unwrap();
    let original = fixture("pubs-sql2012.bak");
    let stripes = split(&original, dir.path(), 2, 3);
    let whole = Backup::open(&[&original]).unwrap();
    let paths: Vec<&Path> = stripes.iter().map(|p| p.as_path()).collect();
    let striped = Backup::open(&paths).unwrap();
    let c = striped.completeness();
    assert!(c.complete, "{:?}", c.problems);
    assert_eq!(table_counts(&striped), table_counts(&whole));
    // Given in the other order, the same.
    let reversed: Vec<&Path> = paths.iter().rev().copied().collect();
    assert_eq!(table_counts(&Backup::open(&reversed).unwrap()), table_counts(&whole));
}

#[test]
fn the_same_stripe_twice_or_stripes_of_different_backups_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let a = split(&fixture("pubs-sql2012.bak"), &dir.path().join("a").tap_mkdir(), 2, 3);
    let b = split(&fixture("northwind-sql2008r2.bak"), &dir.path().join("b").tap_mkdir(), 2, 3);
    let e = Backup::open(&[&a[0], &a[0]]).err().expect("same family twice");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    let e = Backup::open(&[&a[0], &b[1]]).err().expect("different backups");
    assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
    assert!(e.to_string().contains("not part of the same backup"), "{e}");
}

trait TapMkdir {
    fn tap_mkdir(self) -> PathBuf;
}

impl TapMkdir for PathBuf {
    fn tap_mkdir(self) -> PathBuf {
        std::fs::create_dir_all(&self).unwrap();
        self
    }
}

#[test]
fn one_stripe_alone_is_incomplete_and_says_what_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let stripes = split(&fixture("northwind-sql2008r2.bak"), dir.path(), 2, 2);
    for s in &stripes {
        let b = Backup::open(&[s]).unwrap();
        let c = b.completeness();
        assert!(!c.complete);
        // Either the GAM says which allocated extents are missing, or the GAM page itself
        // (extent 0) is in the other stripe.
        assert!(
            c.missing_extents > 0 || c.problems.iter().any(|p| p.contains("allocation map unreadable")),
            "{:?}",
            c.problems
        );
        assert!(c.problems.iter().all(|p| !p.starts_with("backup,")), "problems must name the file: {:?}", c.problems);
        assert!(c.problems.iter().any(|p| p.contains("families") && p.contains("missing")), "{:?}", c.problems);
        match b.database() {
            Err(e) => assert_eq!(e.kind, ErrorKind::Incomplete, "{e}"),
            Ok(db) => {
                // The catalog may happen to be whole in one stripe; then tables must fail.
                let t = db.tables.iter().find(|t| t.name == "Order Details").unwrap();
                let e = b.rows(t).and_then(|r| r.count()).unwrap_err();
                assert_eq!(e.kind, ErrorKind::Incomplete, "{e}");
            }
        }
    }
}
