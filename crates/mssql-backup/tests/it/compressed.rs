//! Compressed (`MSSQLBAK`) backups read through `CompressedSource`, checked against the
//! fixtures' manifest and against the page checksums of every page they carry.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use mssql_backup::ErrorKind;
use mssql_backup::internals::compressed::{CompressedSource, DEFAULT_CACHE_CHUNKS};
use mssql_backup::internals::mtf::MtfImage;
use mssql_backup::internals::source::{ByteSource, MmapSource};
use mssql_backup::internals::xpress;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

fn fixture(name: &str) -> PathBuf {
    Path::new(FIXTURES).join("bak").join(name)
}

/// What MANIFEST.md says of each compressed fixture.
struct Expected {
    file: &'static str,
    stream_len: u64,
    chunks: usize,
    block_size: u32,
    /// Pages in the main `MQDA` stream, and how many of them carry checksums / torn bits.
    pages: usize,
    checksum_pages: usize,
    torn_pages: usize,
}

const COMPRESSED: [Expected; 3] = [
    Expected {
        file: "northwind-sql2016-compressed.bak",
        stream_len: 8_944_640,
        chunks: 141,
        block_size: 512,
        pages: 648,
        checksum_pages: 0,
        torn_pages: 646,
    },
    Expected {
        file: "tsqlv4-sql2016-compressed.bak",
        stream_len: 7_577_600,
        chunks: 120,
        block_size: 4096,
        pages: 593,
        checksum_pages: 591,
        torn_pages: 0,
    },
    Expected {
        file: "universidad-sql2019-compressed.bak",
        stream_len: 3_300_352,
        chunks: 56,
        block_size: 512,
        pages: 333,
        checksum_pages: 331,
        torn_pages: 0,
    },
];

fn open(e: &Expected) -> CompressedSource {
    CompressedSource::open(&fixture(e.file)).unwrap_or_else(|err| panic!("{}: {err}", e.file))
}

fn read_all(src: &dyn ByteSource) -> Vec<u8> {
    let mut all = vec![0u8; src.len() as usize];
    // Odd-sized pieces so that reads straddle chunk boundaries.
    for (i, piece) in all.chunks_mut(300_007).enumerate() {
        src.read_exact_at(i as u64 * 300_007, piece).unwrap();
    }
    all
}

/// The stream as the chunks decode one after the other, without `CompressedSource`'s
/// read path: each payload cut from the file bytes and given to the decoder.
fn sequential_decode(src: &CompressedSource, file: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut d = xpress::Decoder::new();
    for c in src.chunks() {
        let p = &file[c.payload_offset as usize..][..c.payload_len as usize];
        d.decompress_into(p, c.len as usize, &mut out).unwrap();
    }
    out
}

// ---- Page verification helpers ----

const PAGE: usize = 8192;

/// SQL Server's page checksum (flag 0x200): per 512-byte sector, the XOR of its 128
/// little-endian `u32` words (the checksum field at page offset 60 counted as 0), rotated
/// left by `15 - sector`, all XORed together.
fn page_checksum(page: &[u8]) -> u32 {
    let mut sum = 0u32;
    for (i, sector) in page.chunks_exact(512).enumerate() {
        let mut x = 0u32;
        for (j, w) in sector.chunks_exact(4).enumerate() {
            if !(i == 0 && j == 15) {
                x ^= u32::from_le_bytes(w.try_into().unwrap());
            }
        }
        sum ^= x.rotate_left(15 - i as u32);
    }
    sum
}

fn stored_u32(page: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(page[at..at + 4].try_into().unwrap())
}

fn flags(page: &[u8]) -> u16 {
    u16::from_le_bytes([page[4], page[5]])
}

/// Torn-page protection (flag 0x100): the low 2 bits of the last byte of sectors 1–15 all
/// hold the signature in the low 2 bits of `m_tornBits` (page offset 60), 1 or 2.
fn torn_bits_consistent(page: &[u8]) -> bool {
    let sig = stored_u32(page, 60) & 3;
    (sig == 1 || sig == 2) && (1..16).all(|s| u32::from(page[s * 512 + 511] & 3) == sig)
}

/// A formatted page where the stream holds one: header version 1 and a page number whose
/// position in its 8-page extent matches the slot's. Unformatted slots of allocated extents
/// in uncompressed backups hold leftover disk bytes that fail this.
fn is_formatted_page(page: &[u8], slot: u64) -> bool {
    page[0] == 1 && u64::from(stored_u32(page, 32)) % 8 == slot % 8
}

#[derive(Debug, Default, PartialEq)]
struct PageCounts {
    empty: usize,
    unformatted: usize,
    pages: usize,
    checksum_ok: usize,
    checksum_bad: usize,
    torn_ok: usize,
    torn_bad: usize,
    unprotected: usize,
}

fn count_pages(bytes: &[u8], run: (u64, u64)) -> PageCounts {
    let mut c = PageCounts::default();
    for slot in 0..run.1 {
        let page = &bytes[(run.0 + slot * PAGE as u64) as usize..][..PAGE];
        if page[..96].iter().all(|&b| b == 0) {
            c.empty += 1;
        } else if !is_formatted_page(page, slot) {
            c.unformatted += 1;
        } else {
            c.pages += 1;
            let f = flags(page);
            if f & 0x200 != 0 {
                if page_checksum(page) == stored_u32(page, 60) {
                    c.checksum_ok += 1;
                } else {
                    c.checksum_bad += 1;
                }
            } else if f & 0x100 != 0 {
                if torn_bits_consistent(page) {
                    c.torn_ok += 1;
                } else {
                    c.torn_bad += 1;
                }
            } else {
                c.unprotected += 1;
            }
        }
    }
    c
}

/// Page runs `(offset, slots)` of every non-empty `MQDA` stream, found independently of the
/// crate's MTF parser: each `MSDA` block at a 512-byte boundary, its streams walked from
/// `offset_to_first_event` (22-byte headers, data padded to 4 bytes); pages start 2 bytes
/// into the `MQDA` data.
fn mqda_runs(bytes: &[u8]) -> Vec<(u64, u64)> {
    let mut runs = Vec::new();
    for blk in (0..bytes.len().saturating_sub(52)).step_by(512) {
        if &bytes[blk..blk + 4] != b"MSDA" {
            continue;
        }
        let mut s = blk + usize::from(u16::from_le_bytes([bytes[blk + 8], bytes[blk + 9]]));
        loop {
            let id = &bytes[s..s + 4];
            let len = u64::from_le_bytes(bytes[s + 8..s + 16].try_into().unwrap()) as usize;
            if id == b"MQDA" {
                if len > 2 {
                    assert_eq!((len - 2) % PAGE, 0, "MQDA stream at {s:#x} is not 2 + whole pages");
                    runs.push(((s + 22 + 2) as u64, ((len - 2) / PAGE) as u64));
                }
                break;
            }
            assert!(id.iter().all(u8::is_ascii_uppercase), "bad stream id at {s:#x}");
            s = (s + 22 + len + 3) & !3;
        }
    }
    runs
}

#[test]
fn checksum_helper_matches_an_uncompressed_backup() {
    // northwind-sql2008r2: pages from file offset 0x1e00, 440 slots; MANIFEST: checksum on
    // 405 of its 408 pages.
    let f = MmapSource::open(&fixture("northwind-sql2008r2.bak")).unwrap();
    let bytes = f.bytes();
    assert_eq!(mqda_runs(bytes), [(0x1e00, 440)]);
    let c = count_pages(bytes, (0x1e00, 440));
    assert_eq!((c.pages, c.checksum_ok, c.checksum_bad, c.unprotected), (408, 405, 0, 3), "{c:?}");
    // The helper does fail on a damaged page.
    let mut page = bytes[0x1e00..0x1e00 + PAGE].to_vec();
    assert_eq!(page_checksum(&page), stored_u32(&page, 60));
    page[5000] ^= 0x04;
    assert_ne!(page_checksum(&page), stored_u32(&page, 60));
}

#[test]
fn torn_bits_helper_matches_an_uncompressed_backup() {
    // northwind-sql2008-tornpage: MANIFEST says torn-page protection on 406 of 410 pages.
    let f = MmapSource::open(&fixture("northwind-sql2008-tornpage.bak")).unwrap();
    let runs = mqda_runs(f.bytes());
    let c = count_pages(f.bytes(), runs[0]);
    assert_eq!((c.pages, c.torn_ok, c.torn_bad, c.checksum_bad), (410, 406, 0, 0), "{c:?}");
    let mut page = f.bytes()[runs[0].0 as usize..][..PAGE].to_vec();
    assert!(torn_bits_consistent(&page));
    page[3 * 512 + 511] ^= 3;
    assert!(!torn_bits_consistent(&page));
}

#[test]
fn stream_matches_the_manifest() {
    for e in &COMPRESSED {
        let src = open(e);
        assert!(src.is_decompressed());
        assert_eq!(src.len(), e.stream_len, "{}", e.file);
        assert_eq!(src.chunk_count(), e.chunks, "{}", e.file);
        assert_eq!(src.version(), (2, 3), "{}", e.file);
        assert_eq!(src.block_size(), e.block_size, "{}", e.file);
        // After the TAPE chunk, before the ESET chunk, and at the end of the file.
        assert_eq!(src.soft_filemarks().len(), 3, "{}", e.file);
        assert_eq!(
            src.soft_filemarks()[2] + u64::from(e.block_size),
            std::fs::metadata(fixture(e.file)).unwrap().len()
        );
        let mut head = [0u8; 4];
        src.read_exact_at(0, &mut head).unwrap();
        assert_eq!(&head, b"TAPE", "{}", e.file);
        // Chunks tile the stream.
        let mut next = 0;
        for c in src.chunks() {
            assert_eq!(c.stream_offset, next);
            assert_eq!(c.payload_offset, c.record_offset + 28);
            assert!(c.len > 0 && c.len % 512 == 0 && c.len <= 65_536);
            next += u64::from(c.len);
        }
        assert_eq!(next, e.stream_len);
    }
}

/// The record facts the module documentation states beyond what the reader needs.
#[test]
fn container_records_are_as_documented() {
    for e in &COMPRESSED {
        let src = open(e);
        let file = std::fs::read(fixture(e.file)).unwrap();
        let u64_at = |at: usize| u64::from_le_bytes(file[at..at + 8].try_into().unwrap());
        // The last soft filemark lists the earlier ones by file offset, newest first.
        let marks = src.soft_filemarks();
        let last = marks[2] as usize;
        assert_eq!(u32::from_le_bytes(file[last + 56..last + 60].try_into().unwrap()), 2, "{}", e.file);
        assert_eq!((u64_at(last + 72), u64_at(last + 80)), (marks[1], marks[0]), "{}", e.file);
        // Each chunk-index record names chunk records and their offsets from the SSET.
        let first_len = u64::from(src.chunk(0).unwrap().len);
        let mut index_records = 0;
        for c in src.chunks() {
            let end = (c.payload_offset + u64::from(c.payload_len)) as usize;
            if file.get(end) != Some(&0x2c) {
                continue;
            }
            index_records += 1;
            let n = u32::from_le_bytes(file[end + 28..end + 32].try_into().unwrap()) as usize;
            assert!((1..=3).contains(&n), "{}", e.file);
            for k in 0..n {
                let (stream, record) = (u64_at(end + 40 + 16 * k), u64_at(end + 48 + 16 * k));
                let named = src.chunks().find(|c| c.record_offset == record).expect("entry names a chunk record");
                assert_eq!(stream + first_len, named.stream_offset, "{}", e.file);
            }
        }
        assert_eq!(index_records, 1, "{}", e.file);
    }
}

#[test]
fn every_page_verifies() {
    for e in &COMPRESSED {
        let src = open(e);
        let bytes = read_all(&src);
        let runs = mqda_runs(&bytes);
        assert!(!runs.is_empty(), "{}: no MQDA stream", e.file);
        let mut total = PageCounts::default();
        for (i, &run) in runs.iter().enumerate() {
            let c = count_pages(&bytes, run);
            if i == 0 {
                assert_eq!(c.pages, e.pages, "{}: {c:?}", e.file);
                assert_eq!(c.checksum_ok, e.checksum_pages, "{}: {c:?}", e.file);
                assert_eq!(c.torn_ok, e.torn_pages, "{}: {c:?}", e.file);
            }
            total.unformatted += c.unformatted;
            total.checksum_bad += c.checksum_bad;
            total.torn_bad += c.torn_bad;
            total.unprotected += c.unprotected;
            total.pages += c.pages;
        }
        // Every slot is a formatted page or all zeros, and every protected page verifies;
        // only the 2 unprotected pages of the main stream (and their copies) are unchecked.
        assert_eq!((total.unformatted, total.checksum_bad, total.torn_bad), (0, 0, 0), "{}: {total:?}", e.file);
        assert!(total.unprotected <= 2 * runs.len(), "{}: {total:?}", e.file);
        assert!(total.pages >= e.pages);
    }
}

#[test]
fn crate_mtf_parser_reads_the_stream() {
    for e in &COMPRESSED {
        let src = open(e);
        let image = MtfImage::parse(&src).unwrap_or_else(|err| panic!("{}: {err}", e.file));
        let kinds: Vec<&str> = image.blocks.iter().map(|b| b.kind_str()).collect();
        assert_eq!(kinds[..4], ["TAPE", "SSET", "VOLB", "MSCI"], "{}", e.file);
        assert_eq!(kinds.last(), Some(&"ESET"), "{}", e.file);
        assert!(!kinds.contains(&"SFMB"), "{}: soft filemarks are not part of the stream", e.file);
        let runs: Vec<(u64, u64)> = image.page_runs().unwrap().iter().map(|r| (r.offset, r.pages)).collect();
        assert_eq!(runs, mqda_runs(&read_all(&src)), "{}", e.file);
    }
}

#[test]
fn declared_chunk_sizes_are_exact() {
    // The record's size byte × 512 is where each stream ends: one sector less leaves
    // undecoded input, one more runs out of input.
    for e in &COMPRESSED {
        let src = open(e);
        let file = std::fs::read(fixture(e.file)).unwrap();
        for c in src.chunks() {
            let p = &file[c.payload_offset as usize..][..c.payload_len as usize];
            assert_eq!(xpress::decompress(p, c.len as usize).unwrap().len(), c.len as usize);
            assert!(xpress::decompress(p, c.len as usize - 512).is_err(), "{} chunk at {:#x}", e.file, c.record_offset);
            assert!(xpress::decompress(p, c.len as usize + 512).is_err(), "{} chunk at {:#x}", e.file, c.record_offset);
        }
    }
}

/// Deterministic pseudo-random numbers (xorshift64*).
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

#[test]
fn random_reads_equal_the_sequential_decode() {
    for e in &COMPRESSED {
        let file = std::fs::read(fixture(e.file)).unwrap();
        let src = open(e).with_cache_capacity(2);
        let want = sequential_decode(&src, &file);
        assert_eq!(want.len() as u64, e.stream_len);
        assert_eq!(read_all(&src), want, "{}", e.file);

        let src = Arc::new(src);
        let want = Arc::new(want);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let (src, want) = (Arc::clone(&src), Arc::clone(&want));
                std::thread::spawn(move || {
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (t + 1));
                    let mut buf = vec![0u8; 200_000];
                    for _ in 0..300 {
                        let max = if rng.below(4) == 0 { 200_000 } else { 9000 };
                        let len = 1 + rng.below(max) as usize;
                        let off = rng.below(want.len() as u64 - len as u64 + 1) as usize;
                        src.read_exact_at(off as u64, &mut buf[..len]).unwrap();
                        assert_eq!(&buf[..len], &want[off..off + len], "read of {len} at {off}");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        // Edges: empty reads, the last byte, and past the end.
        let n = want.len() as u64;
        src.read_exact_at(n, &mut []).unwrap();
        let mut last = [0u8; 1];
        src.read_exact_at(n - 1, &mut last).unwrap();
        assert_eq!(last[0], want[want.len() - 1]);
        let err = src.read_exact_at(n - 1, &mut [0u8; 2]).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Truncated);
        assert!(err.in_stream && err.offset == Some(n - 1) && err.file.is_some(), "{err}");
    }
}

#[test]
fn cache_stays_within_its_capacity() {
    let e = &COMPRESSED[2];
    let want = read_all(&open(e).with_cache_capacity(0));
    for cap in [0, 1, 3, DEFAULT_CACHE_CHUNKS] {
        let src = open(e).with_cache_capacity(cap);
        assert_eq!(read_all(&src), want, "capacity {cap}");
        assert_eq!(src.cached_chunks(), cap.min(e.chunks), "capacity {cap}");
    }
}

fn from_bytes(bytes: Vec<u8>, name: &str) -> mssql_backup::Result<CompressedSource> {
    CompressedSource::from_source(Box::new(bytes), fixture(name))
}

#[test]
fn truncated_files_name_the_record_at_fault() {
    let e = &COMPRESSED[0];
    let file = std::fs::read(fixture(e.file)).unwrap();
    let src = open(e);
    let c = src.chunk(10).unwrap();
    let last = src.chunk(e.chunks - 1).unwrap();
    let cases = [
        // Inside a chunk's payload, and inside its header: the chunk record is at fault.
        (c.payload_offset + 100, c.record_offset),
        (c.record_offset + 5, c.record_offset),
        // Right after the last chunk: the closing soft filemark is missing.
        (last.payload_offset + u64::from(last.payload_len), last.payload_offset + u64::from(last.payload_len)),
        // Inside the closing soft filemark.
        (src.soft_filemarks()[2] + 100, src.soft_filemarks()[2]),
    ];
    for (cut, at) in cases {
        let err = from_bytes(file[..cut as usize].to_vec(), e.file).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Truncated, "cut at {cut:#x}: {err}");
        assert_eq!(err.offset, Some(at), "cut at {cut:#x}: {err}");
        assert!(!err.in_stream);
        assert_eq!(err.file.as_deref(), Some(fixture(e.file).as_path()));
        assert!(err.to_string().contains(e.file), "{err}");
    }
}

#[test]
fn a_flipped_byte_in_a_chunk_names_its_record() {
    let e = &COMPRESSED[1];
    let file = std::fs::read(fixture(e.file)).unwrap();
    let src = open(e);
    let c = src.chunk(5).unwrap();
    // One bit of the Huffman table (any change breaks the table's exact fill), and one at
    // the start of the bit stream (code boundaries shift, the rest decodes to nonsense that
    // breaks the stream's end rules). Not every damaged bit is visible to the decoder: one
    // 3 bytes before this chunk's end only changes output bytes, which the page checksums
    // downstream catch.
    for at in [c.payload_offset + 40, c.payload_offset + 257] {
        let mut damaged = file.clone();
        damaged[at as usize] ^= 0x10;
        // The index comes from the headers alone, so opening still works.
        let src = from_bytes(damaged, e.file).unwrap();
        let mut buf = vec![0u8; 100];
        let err = src.read_exact_at(c.stream_offset + 50, &mut buf).expect_err(&format!("flip at {at:#x}"));
        assert_eq!(err.kind, ErrorKind::Corrupt, "flip at {at:#x}: {err}");
        assert_eq!(err.offset, Some(c.record_offset), "flip at {at:#x}: {err}");
        assert!(!err.in_stream);
        assert!(err.to_string().contains(e.file), "{err}");
        assert!(err.message.contains("compressed chunk 5"), "{err}");
        // Other chunks still read.
        let other = src.chunk(7).unwrap();
        src.read_exact_at(other.stream_offset, &mut buf).unwrap();
    }
}

#[test]
fn rejects_what_it_cannot_read() {
    let e = &COMPRESSED[0];
    let file = std::fs::read(fixture(e.file)).unwrap();

    let mut v = file.clone();
    v[8] = 3;
    let err = from_bytes(v, e.file).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Unsupported, Some(8)), "{err}");
    assert!(err.message.contains("version 3.3"), "{err}");

    // An unknown first record: another layout (or an encrypted container).
    let mut v = file.clone();
    assert_eq!(v[0x1e0], 0x21);
    v[0x1e0] = 0x27;
    let err = from_bytes(v, e.file).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Unsupported, Some(0x1e0)), "{err}");
    assert!(err.message.contains("0x27") && err.message.contains("first record"), "{err}");

    // An unknown byte where the first chunk says the next record (a padding record)
    // starts: damage, named with the chunk that points there.
    let mut v = file.clone();
    assert_eq!(v[0x35c], 0x24);
    v[0x35c] = 0x27;
    let err = from_bytes(v, e.file).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Corrupt, Some(0x35c)), "{err}");
    assert!(err.message.contains("0x27") && err.message.contains("compressed chunk 0 at offset 480"), "{err}");

    // A first chunk whose payload is not an MS-XCA stream (as an encrypted payload would be).
    let mut v = file.clone();
    let first = open(e).chunk(0).unwrap();
    v[first.payload_offset as usize..][..32].fill(0xa5);
    let err = from_bytes(v, e.file).unwrap_err();
    assert_eq!((err.kind, err.offset), (ErrorKind::Unsupported, Some(first.record_offset)), "{err}");

    for other in ["not-mssql-pgdump-named-northwind.bak", "northwind-sql2008r2.bak"] {
        let err = CompressedSource::open(&fixture(other)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::NotABackup, "{other}: {err}");
        assert!(err.to_string().contains(other), "{err}");
    }
}
