//! The corruption campaign: damaged variants of real fixtures, made here from a fixed
//! seed, each migrated through the command line and classified:
//!
//! * **refused**: the run failed with an error naming the file (exit 1 or 2);
//! * **harmless**: it passed and PostgreSQL holds exactly what the undamaged backup gives
//!   (the damage hit bytes nothing reads: free space, unallocated pages, padding);
//! * **silently wrong**: it passed with different content;
//! * **panic** or **hang** (no end within 120 s).
//!
//! Damage: truncations (in the header, mid-page, at the tail); bit flips and 8-byte runs
//! in the backup header, page headers, slot arrays, user rows and catalog pages; zeroed,
//! duplicated and swapped pages; flipped compressed chunks; damaged RAR headers and data.
//!
//! The targets, asserted: no panic, no hang, nothing silently wrong on the
//! checksum-protected backups, and every refusal names the file (and never blames a
//! missing stripe). Torn-page protection covers 2 bits per 512-byte sector, so a flip
//! inside a record of a torn-page backup can pass unnoticed unless the validation's
//! independent evidence (SQL Server's counts, trusted constraints, page structure)
//! catches it: those are counted and printed, not failed.
//!
//! CI runs every 6th variant; `scripts/faults --full` (`BAK2PG_CORRUPTION_FULL=1`) runs
//! all of them and prints the table the README quotes.

mod cli;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use cli::*;

/// The backups damaged, and whether their pages carry checksums.
const SOURCES: &[(&str, bool)] = &[
    ("bak/pubs-sql2012.bak", true),
    ("bak/northwind-sql2008-tornpage.bak", false),
    // Compressed, its pages torn-page protected (a database created on SQL Server 2000).
    ("bak/northwind-sql2016-compressed.bak", false),
    ("bak/universidad-sql2019-compressed.bak", true),
    ("rar/northwind-sql2005-rar5.rar", false),
];

/// Variants per source.
const PER_SOURCE: usize = 90;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        self.0 >> 11
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }
}

/// Where the pages of an uncompressed backup are: (file offset, page type, m_indexId,
/// m_objId, slot count) of every page.
fn pages(bytes: &[u8], path: &Path) -> Vec<(usize, u8, u16, u32, u16)> {
    let src = mssql_backup::internals::source::MmapSource::open(path).expect("map");
    let img = mssql_backup::internals::mtf::MtfImage::parse(&src).expect("MTF");
    let mut out = Vec::new();
    for run in img.page_runs().expect("runs") {
        for k in 0..run.pages {
            let at = (run.offset + k * 8192) as usize;
            let p = &bytes[at..at + 8192];
            let u16_at = |o: usize| u16::from_le_bytes([p[o], p[o + 1]]);
            out.push((at, p[1], u16_at(6), u32::from_le_bytes([p[24], p[25], p[26], p[27]]), u16_at(22)));
        }
    }
    out
}

/// One damaged variant: a name saying what was done, and the bytes.
struct Variant {
    kind: &'static str,
    name: String,
    bytes: Vec<u8>,
}

fn flip(bytes: &mut [u8], at: usize, rng: &mut Rng) {
    bytes[at] ^= 1 << rng.below(8);
}

fn run8(bytes: &mut [u8], at: usize, rng: &mut Rng) {
    for b in bytes.iter_mut().skip(at).take(8) {
        *b = rng.next() as u8;
    }
}

/// The variants of one source, deterministic for the seed.
fn variants(source: &str, rng: &mut Rng) -> Vec<Variant> {
    let path = bak2pg_tests::fixture(source);
    let original = std::fs::read(&path).expect("read the fixture");
    let len = original.len();
    let mut out = Vec::new();
    let mut push = |kind: &'static str, detail: String, bytes: Vec<u8>| {
        let name = format!("{kind}-{detail}");
        out.push(Variant { kind, name, bytes });
    };
    if source.ends_with(".rar") {
        for i in 0..PER_SOURCE {
            let mut b = original.clone();
            let (kind, at) = match i % 3 {
                0 => ("rar-header", 8 + rng.below(120) as usize),
                1 => ("rar-data", 200 + rng.below(len as u64 - 400) as usize),
                _ => ("truncate-tail", len - 1 - rng.below(len as u64 / 2) as usize),
            };
            if kind == "truncate-tail" {
                b.truncate(at);
            } else {
                flip(&mut b, at, rng);
            }
            push(kind, format!("{at}"), b);
        }
        return out;
    }
    if source.contains("compressed") {
        let src = mssql_backup::internals::compressed::CompressedSource::open(&path).expect("container");
        let chunks: Vec<_> = src.chunks().collect();
        for i in 0..PER_SOURCE {
            let mut b = original.clone();
            let c = chunks[rng.below(chunks.len() as u64) as usize];
            match i % 4 {
                0 | 1 => {
                    let at = (c.payload_offset + rng.below(u64::from(c.payload_len))) as usize;
                    flip(&mut b, at, rng);
                    push("chunk-payload", format!("{at}"), b);
                }
                2 => {
                    let at = (c.record_offset + rng.below(28)) as usize;
                    flip(&mut b, at, rng);
                    push("chunk-header", format!("{at}"), b);
                }
                _ => {
                    let at = 0x1e0 + rng.below(len as u64 - 0x1e0) as usize;
                    b.truncate(at);
                    push("truncate", format!("{at}"), b);
                }
            }
        }
        return out;
    }
    let pages = pages(&original, &path);
    let first_page = pages.first().map_or(len, |p| p.0);
    type Page = (usize, u8, u16, u32, u16);
    let data: Vec<Page> = pages.iter().copied().filter(|p| p.1 == 1 && p.4 > 0).collect();
    // System base tables' allocation units have small ids (index id < 256, m_objId < 100);
    // user tables' are large (or, on pages written before an upgrade from SQL Server
    // 2000, carry the object id itself).
    let is_catalog = |p: &Page| p.2 < 256 && p.3 < 100;
    let user: Vec<Page> = data.iter().copied().filter(|p| !is_catalog(p)).collect();
    let catalog: Vec<Page> = data.iter().copied().filter(is_catalog).collect();
    let pick = |v: &[Page], rng: &mut Rng| v[rng.below(v.len() as u64) as usize];
    for i in 0..PER_SOURCE {
        let mut b = original.clone();
        match i % 12 {
            0 => {
                let at = rng.below(first_page as u64) as usize;
                b.truncate(at);
                push("truncate-header", format!("{at}"), b);
            }
            1 => {
                let p = pages[rng.below(pages.len() as u64) as usize];
                let at = p.0 + 1 + rng.below(8190) as usize;
                b.truncate(at);
                push("truncate-mid-page", format!("{at}"), b);
            }
            2 => {
                let at = len - 1 - rng.below((len - first_page) as u64 / 8) as usize;
                b.truncate(at);
                push("truncate-tail", format!("{at}"), b);
            }
            3 => {
                let at = rng.below(first_page as u64) as usize;
                flip(&mut b, at, rng);
                push("flip-backup-header", format!("{at}"), b);
            }
            4 => {
                let p = pick(&data, rng);
                let at = p.0 + rng.below(96) as usize;
                flip(&mut b, at, rng);
                push("flip-page-header", format!("{at}"), b);
            }
            5 => {
                let p = pick(&data, rng);
                let at = p.0 + 8192 - 1 - rng.below(2 * u64::from(p.4)) as usize;
                flip(&mut b, at, rng);
                push("flip-slot-array", format!("{at}"), b);
            }
            6 | 7 => {
                let p = pick(&user, rng);
                let at = p.0 + 96 + rng.below(8192 - 96 - 2 * u64::from(p.4)) as usize;
                flip(&mut b, at, rng);
                push("flip-user-row", format!("{at}"), b);
            }
            8 => {
                let p = pick(&catalog, rng);
                let at = p.0 + 96 + rng.below(8192 - 96 - 2 * u64::from(p.4)) as usize;
                run8(&mut b, at, rng);
                push("run-catalog-page", format!("{at}"), b);
            }
            9 => {
                let p = pick(&user, rng);
                b[p.0..p.0 + 8192].fill(0);
                push("zero-page", format!("{}", p.0), b);
            }
            10 => {
                let (a, c) = (pick(&user, rng), pick(&data, rng));
                let page = original[a.0..a.0 + 8192].to_vec();
                b[c.0..c.0 + 8192].copy_from_slice(&page);
                push("duplicate-page", format!("{}-over-{}", a.0, c.0), b);
            }
            _ => {
                let (a, c) = (pick(&user, rng), pick(&user, rng));
                let (pa, pc) = (original[a.0..a.0 + 8192].to_vec(), original[c.0..c.0 + 8192].to_vec());
                b[a.0..a.0 + 8192].copy_from_slice(&pc);
                b[c.0..c.0 + 8192].copy_from_slice(&pa);
                push("swap-pages", format!("{}-{}", a.0, c.0), b);
            }
        }
    }
    out
}

/// Every user table's contents in `db`, as PostgreSQL prints them (a digest per table).
async fn content(db: &str) -> BTreeMap<String, String> {
    db_state(db).await.tables
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Refused,
    Harmless,
    SilentlyWrong,
    Panic,
    Hang,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_backups_are_refused_or_harmless_never_silently_wrong() {
    let full = std::env::var_os("BAK2PG_CORRUPTION_FULL").is_some();
    let dir = tempfile::tempdir().expect("temporary folder");
    let db = "c_campaign";
    let mut table: BTreeMap<(String, &'static str, Outcome), usize> = BTreeMap::new();
    let mut problems = Vec::new();
    let mut rng = Rng(0xbad_c0de);
    for (source, checksummed) in SOURCES {
        drop_like(db).await;
        let run = run_migrate(&[&bak2pg_tests::fixture(source)], &pg_url(), db).await;
        assert_eq!(run.code, Some(0), "{source} undamaged: {}", run.output());
        let reference = content(db).await;
        let ext = Path::new(source).extension().and_then(|e| e.to_str()).expect("an extension");
        for (i, v) in variants(source, &mut rng).into_iter().enumerate() {
            // The sample: one variant in six, cycling through every kind of damage.
            if !full && (5 * i + i / 12) % 6 != 0 {
                continue;
            }
            let file = format!("{}-{}.{ext}", Path::new(source).file_stem().and_then(|s| s.to_str()).unwrap(), v.name);
            let path: PathBuf = dir.path().join(&file);
            std::fs::write(&path, &v.bytes).expect("write the variant");
            drop_like(db).await;
            let run = tokio::time::timeout(Duration::from_secs(120), run_migrate(&[&path], &pg_url(), db)).await;
            let outcome = match &run {
                Err(_) => Outcome::Hang,
                Ok(r) if r.code == Some(101) || r.stderr.contains("panicked") => Outcome::Panic,
                Ok(r) if r.code == Some(0) => {
                    if content(db).await == reference {
                        Outcome::Harmless
                    } else {
                        Outcome::SilentlyWrong
                    }
                }
                Ok(r) => {
                    let names_file = r.stderr.contains(&file);
                    if !names_file || r.stderr.contains("stripe") {
                        problems.push(format!("{file}: the refusal must name the file, not a stripe: {}", r.stderr));
                    }
                    Outcome::Refused
                }
            };
            let bad = match outcome {
                Outcome::Panic | Outcome::Hang => true,
                Outcome::SilentlyWrong => *checksummed,
                _ => false,
            };
            if bad {
                let out = run.as_ref().map(|r| r.output()).unwrap_or_default();
                problems.push(format!("{file}: {outcome:?}: {out}"));
            }
            *table.entry((source.to_string(), v.kind, outcome)).or_default() += 1;
            std::fs::remove_file(&path).expect("remove the variant");
        }
    }
    drop_like(db).await;
    println!("\n| backup | damage | outcome | variants |\n| --- | --- | --- | --- |");
    for ((source, kind, outcome), n) in &table {
        println!("| {source} | {kind} | {outcome:?} | {n} |");
    }
    let mut totals: BTreeMap<Outcome, usize> = BTreeMap::new();
    for ((_, _, o), n) in &table {
        *totals.entry(*o).or_default() += n;
    }
    println!("\ntotals: {totals:?}");
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n\n"));
}
