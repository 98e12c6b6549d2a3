//! `bak2pg::archive::prepare_backup` against the real RAR fixtures, the negative `.bak`
//! fixtures, and ZIP / 7z / RAR archives built here at test time from fixture bytes.

use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use bak2pg::archive::{
    ArchiveError, ArchiveFormat, BackupContainer, ErrorClass, LimitKind, Limits, PreparedBackup, prepare_backup,
};
use sha2::{Digest, Sha256};
use tempfile::TempDir;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/");

const NW2005: &str = "bak/northwind-sql2005-tornpage.bak";
const NW2005_SHA: &str = "f1d2277da0be31d8d69777c32b31b1ca9b1213a94a5463435106921316caee74";
const NW2008: &str = "bak/northwind-sql2008-tornpage.bak";
const NW2008_SHA: &str = "e0c81c7f6cc3ba7a1a763d9eaf94e871f346687837afa1d0f871c48fd549ca14";
const NW2014_MULTIFILE_SHA: &str = "290a73f33f4b6ab4004525374ed6e189bdbda09e91e36db96f0cbf0352e2cdbc";
const PGDUMP: &str = "bak/not-mssql-pgdump-named-northwind.bak";
const GITLFS: &str = "bak/not-mssql-gitlfs-pointer-adventureworksdw2019.bak";

fn fixture(name: &str) -> PathBuf {
    let p = PathBuf::from(FIXTURES).join(name);
    assert!(p.is_file(), "fixture missing: {}", p.display());
    p
}

fn fixture_bytes(name: &str) -> Vec<u8> {
    fs::read(fixture(name)).unwrap()
}

fn sha256_file(path: &Path) -> String {
    let mut hasher = Sha256::new();
    let mut file = File::open(path).unwrap();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Everything in `dir`, hidden staging folders included.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = match fs::read_dir(dir) {
        Ok(rd) => rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("{e}"),
    };
    names.sort();
    names
}

/// A temp folder holding the test's archive, and an empty work folder beside it.
struct Scratch {
    _root: TempDir,
    input_dir: PathBuf,
    work: PathBuf,
}

fn scratch() -> Scratch {
    let root = tempfile::tempdir().unwrap();
    let input_dir = root.path().join("in");
    let work = root.path().join("work");
    fs::create_dir(&input_dir).unwrap();
    fs::create_dir(&work).unwrap();
    Scratch { _root: root, input_dir, work }
}

fn date(y: u16, mo: u8, d: u8, h: u8, mi: u8, s: u8) -> DateTime {
    DateTime::from_date_and_time(y, mo, d, h, mi, s).unwrap()
}

fn deflated(modified: DateTime) -> SimpleFileOptions {
    SimpleFileOptions::default().compression_method(CompressionMethod::Deflated).last_modified_time(modified)
}

/// Writes a ZIP at `path` with `(name, bytes, modified)` file members.
fn write_zip(path: &Path, members: &[(&str, &[u8], DateTime)]) {
    let mut zip = ZipWriter::new(File::create(path).unwrap());
    for (name, bytes, modified) in members {
        zip.start_file(*name, deflated(*modified)).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

fn assert_extracted(p: &PreparedBackup, work: &Path, sha: &str, size: u64) {
    assert!(p.extracted);
    assert_eq!(p.path.parent(), Some(work));
    assert_eq!(p.size, size);
    assert_eq!(fs::metadata(&p.path).unwrap().len(), size);
    assert_eq!(sha256_file(&p.path), sha);
    // Only the chosen backup remains: no staging folder, no other member.
    assert_eq!(entries(work), vec![p.path.file_name().unwrap().to_string_lossy().into_owned()]);
}

// ---------------------------------------------------------------- real RAR fixtures

#[test]
fn rar5_fixture_yields_the_northwind_2005_backup() {
    let s = scratch();
    let p = prepare_backup(&fixture("rar/northwind-sql2005-rar5.rar"), &s.work, &Limits::default()).unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::Rar5));
    assert_eq!(p.member.as_deref(), Some("Northwind.bak"));
    assert_eq!(p.container, BackupContainer::Mtf);
    assert_eq!(p.path, s.work.join("Northwind.bak"));
    assert_extracted(&p, &s.work, NW2005_SHA, 3_502_592);
    assert!(p.notes.is_empty(), "{:?}", p.notes);
}

#[test]
fn rar4_fixture_yields_the_northwind_2014_multifile_backup() {
    let s = scratch();
    let p = prepare_backup(&fixture("rar/northwind-sql2014-multifile-rar4.rar"), &s.work, &Limits::default()).unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::Rar4));
    assert_eq!(p.member.as_deref(), Some("Northwind.bak"));
    assert_eq!(p.container, BackupContainer::Mtf);
    assert_extracted(&p, &s.work, NW2014_MULTIFILE_SHA, 5_373_952);
}

#[test]
fn rar_fixture_twice_gives_the_same_file() {
    let s = scratch();
    let rar = fixture("rar/northwind-sql2005-rar5.rar");
    let first = prepare_backup(&rar, &s.work, &Limits::default()).unwrap();
    let second = prepare_backup(&rar, &s.work, &Limits::default()).unwrap();
    assert_eq!(first, second);
    assert_extracted(&second, &s.work, NW2005_SHA, 3_502_592);
}

#[test]
fn rar_without_a_backup_lists_its_csv_members() {
    let s = scratch();
    let rar = fixture("rar/northwind-csv-no-bak-rar5.rar");
    let err = prepare_backup(&rar, &s.work, &Limits::default()).unwrap_err();
    let ArchiveError::NoBackupInArchive { archive, format, members, total } = &err else {
        panic!("expected NoBackupInArchive, got {err:?}");
    };
    assert_eq!(archive, &rar);
    assert_eq!(*format, ArchiveFormat::Rar5);
    let csvs: Vec<&String> = members.iter().filter(|m| m.to_ascii_lowercase().ends_with(".csv")).collect();
    assert_eq!(csvs.len(), 8, "{members:?}");
    assert!(members.iter().any(|m| m.ends_with("Customers.csv")), "{members:?}");
    assert_eq!(*total, members.len() as u64);
    let msg = err.to_string();
    assert!(msg.contains("northwind-csv-no-bak-rar5.rar") && msg.contains("Customers.csv"), "{msg}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert!(entries(&s.work).is_empty());
}

#[test]
fn rar_listing_is_cut_to_the_configured_number_of_names() {
    let s = scratch();
    let limits = Limits { listed_names: 3, ..Limits::default() };
    let err = prepare_backup(&fixture("rar/northwind-csv-no-bak-rar5.rar"), &s.work, &limits).unwrap_err();
    let ArchiveError::NoBackupInArchive { members, total, .. } = &err else { panic!("{err:?}") };
    assert_eq!(members.len(), 3);
    assert!(*total >= 8);
    assert!(err.to_string().contains(&format!("and {} more", total - 3)), "{err}");
}

#[test]
fn rar_member_over_the_size_limit_is_refused_before_writing() {
    let s = scratch();
    let limits = Limits { max_member_bytes: 1 << 20, ..Limits::default() };
    let err = prepare_backup(&fixture("rar/northwind-sql2005-rar5.rar"), &s.work, &limits).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::TooLarge { limit: LimitKind::MemberBytes, value: 3_502_592, max: 1_048_576, member: Some(m), .. } if m == "Northwind.bak"),
        "{err:?}"
    );
    assert!(entries(&s.work).is_empty());
}

// ------------------------------------------------------- RAR archives built by hand

/// CRC-32 (IEEE), as RAR5 headers use.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn vint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return out;
        }
        out.push(b | 0x80);
    }
}

/// One RAR5 header block: CRC32, size, then `fields` (type, flags, type-specific data).
fn rar5_block(fields: &[u8]) -> Vec<u8> {
    let mut body = vint(fields.len() as u64);
    body.extend_from_slice(fields);
    let mut block = crc32(&body).to_le_bytes().to_vec();
    block.extend(body);
    block
}

const RAR5_SIGNATURE: &[u8] = b"Rar!\x1a\x07\x01\x00";

#[test]
fn rar5_volume_is_refused_as_multi_volume() {
    let s = scratch();
    let mut rar = RAR5_SIGNATURE.to_vec();
    // Main archive header (type 1), archive flags 0x0001 = volume.
    rar.extend(rar5_block(&[1, 0, 0x01]));
    // End of archive (type 5), flags 0x0001 = not the last volume.
    rar.extend(rar5_block(&[5, 0, 0x01]));
    let input = s.input_dir.join("backup.part1.rar");
    fs::write(&input, rar).unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::MultiVolume { format: ArchiveFormat::Rar5, .. }), "{err:?}");
    assert!(err.to_string().contains("multi-volume RAR5"), "{err}");
    assert!(entries(&s.work).is_empty());
}

#[test]
fn rar5_with_encrypted_headers_is_refused_as_encrypted() {
    let s = scratch();
    let mut rar = RAR5_SIGNATURE.to_vec();
    // Archive encryption header (type 4): version 0 (AES-256), no check value, KDF count 15,
    // 16 bytes of salt. Every header after it is encrypted: here, random-looking bytes.
    let mut fields = vec![4, 0, 0, 0, 15];
    fields.extend_from_slice(&[0x5a; 16]);
    rar.extend(rar5_block(&fields));
    rar.extend((0..64u8).map(|i| i.wrapping_mul(37).wrapping_add(11)));
    let input = s.input_dir.join("secret.rar");
    fs::write(&input, rar).unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Encrypted { member: None, .. }), "{err:?}");
    assert!(entries(&s.work).is_empty());
}

/// A RAR5 file header plus its data, the data stored uncompressed (method 0).
/// `extra` holds complete extra-area records; `crc` is the data CRC to declare.
fn rar5_file(name: &str, data: &[u8], crc: u32, unix_mode: u32, extra: &[Vec<u8>]) -> Vec<u8> {
    let extra: Vec<u8> = extra.concat();
    let mut fields = vint(2); // file header
    fields.extend(vint(if extra.is_empty() { 0x02 } else { 0x03 })); // data area [+ extra area]
    if !extra.is_empty() {
        fields.extend(vint(extra.len() as u64));
    }
    fields.extend(vint(data.len() as u64));
    fields.extend(vint(0x02 | 0x04)); // mtime and CRC32 present
    fields.extend(vint(data.len() as u64)); // unpacked size
    fields.extend(vint(u64::from(unix_mode)));
    fields.extend(1_313_005_616u32.to_le_bytes()); // 2011-08-10 19:46:56 UTC
    fields.extend(crc.to_le_bytes());
    fields.extend(vint(0)); // compression: version 0, method 0 (store)
    fields.extend(vint(1)); // host OS: Unix
    fields.extend(vint(name.len() as u64));
    fields.extend_from_slice(name.as_bytes());
    fields.extend(extra);
    let mut out = rar5_block(&fields);
    out.extend_from_slice(data);
    out
}

/// One extra-area record: size, type, data.
fn rar5_record(kind: u64, data: &[u8]) -> Vec<u8> {
    let mut body = vint(kind);
    body.extend_from_slice(data);
    let mut out = vint(body.len() as u64);
    out.extend(body);
    out
}

/// A complete single-volume RAR5 archive around `files` (from [`rar5_file`]).
fn rar5_archive(files: &[Vec<u8>]) -> Vec<u8> {
    let mut rar = RAR5_SIGNATURE.to_vec();
    rar.extend(rar5_block(&[1, 0, 0])); // main header, no archive flags
    for f in files {
        rar.extend_from_slice(f);
    }
    rar.extend(rar5_block(&[5, 0, 0])); // end of archive
    rar
}

fn prepare_rar(files: &[Vec<u8>]) -> (Scratch, Result<PreparedBackup, ArchiveError>) {
    let s = scratch();
    let input = s.input_dir.join("built.rar");
    fs::write(&input, rar5_archive(files)).unwrap();
    let result = prepare_backup(&input, &s.work, &Limits::default());
    (s, result)
}

#[test]
fn rar5_built_here_extracts_its_stored_backup() {
    let bak = fixture_bytes(NW2005);
    let (s, result) = prepare_rar(&[
        rar5_file("notes.txt", b"hello", crc32(b"hello"), 0o100_644, &[]),
        rar5_file("backups/NORTHWND.BAK", &bak, crc32(&bak), 0o100_000, &[]),
    ]);
    let p = result.unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::Rar5));
    assert_eq!(p.member.as_deref(), Some("backups/NORTHWND.BAK"));
    assert_eq!(p.path, s.work.join("NORTHWND.bak"));
    assert_extracted(&p, &s.work, NW2005_SHA, bak.len() as u64);
    // Stored with mode 000: extracted as an ordinary readable file all the same.
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(fs::metadata(&p.path).unwrap().permissions().mode() & 0o7777, 0o644);
}

#[test]
fn rar5_member_with_a_bad_crc_fails_and_leaves_nothing() {
    let bak = fixture_bytes(NW2005);
    let (s, result) = prepare_rar(&[rar5_file("Northwind.bak", &bak, crc32(&bak) ^ 1, 0o100_644, &[])]);
    let err = result.unwrap_err();
    assert!(matches!(&err, ArchiveError::Corrupt { member: Some(m), .. } if m == "Northwind.bak"), "{err:?}");
    assert!(err.to_string().contains("CRC"), "{err}");
    assert!(entries(&s.work).is_empty(), "{:?}", entries(&s.work));
}

#[test]
fn rar5_symlink_member_is_refused() {
    // File system redirection record (type 5): Unix symlink (1), no flags, target name.
    let target = b"/etc/passwd";
    let mut redirect = vint(1);
    redirect.extend(vint(0));
    redirect.extend(vint(target.len() as u64));
    redirect.extend_from_slice(target);
    let bak = fixture_bytes(NW2005);
    let (s, result) = prepare_rar(&[
        rar5_file("real.bak", &bak, crc32(&bak), 0o100_644, &[]),
        rar5_file("Northwind.bak", b"", 0, 0o120_777, &[rar5_record(5, &redirect)]),
    ]);
    let err = result.unwrap_err();
    assert_unsafe(&err, "Northwind.bak", "symbolic link");
    assert!(entries(&s.work).is_empty());
}

#[test]
fn rar5_encrypted_member_is_refused() {
    // File encryption record (type 1): AES-256 (0), no flags, KDF count 15, salt, IV.
    let mut encryption = vint(0);
    encryption.extend(vint(0));
    encryption.push(15);
    encryption.extend_from_slice(&[0x11; 16]);
    encryption.extend_from_slice(&[0x22; 16]);
    let data = [0x33u8; 64];
    let (s, result) =
        prepare_rar(&[rar5_file("Northwind.bak", &data, crc32(&data), 0o100_644, &[rar5_record(1, &encryption)])]);
    let err = result.unwrap_err();
    assert!(matches!(&err, ArchiveError::Encrypted { member: Some(m), .. } if m == "Northwind.bak"), "{err:?}");
    assert!(entries(&s.work).is_empty());
}

#[test]
fn rar5_member_climbing_out_is_refused() {
    let bak = fixture_bytes(NW2005);
    let (s, result) = prepare_rar(&[rar5_file("../../evil.bak", &bak, crc32(&bak), 0o100_644, &[])]);
    assert_unsafe(&result.unwrap_err(), "../../evil.bak", "`..`");
    assert!(entries(&s.work).is_empty());
}

// ---------------------------------------------------------------------------- ZIP

#[test]
fn zip_with_a_nested_backup_extracts_it_under_a_sanitized_name() {
    let s = scratch();
    let bak = fixture_bytes(NW2005);
    let input = s.input_dir.join("upload.zip");
    write_zip(
        &input,
        &[
            ("readme.txt", b"restore me".as_slice(), date(2020, 1, 1, 0, 0, 0)),
            ("backups/2011/Base de données.BAK", bak.as_slice(), date(2011, 8, 10, 19, 46, 56)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::Zip));
    assert_eq!(p.member.as_deref(), Some("backups/2011/Base de données.BAK"));
    assert_eq!(p.path, s.work.join("Base_de_donn_es.bak"));
    assert_extracted(&p, &s.work, NW2005_SHA, bak.len() as u64);
}

#[test]
fn zip_archive_named_bak_is_recognised_by_its_bytes() {
    let s = scratch();
    let input = s.input_dir.join("Northwind.bak");
    write_zip(&input, &[("Northwind.bak", fixture_bytes(NW2005).as_slice(), date(2011, 8, 10, 0, 0, 0))]);
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::Zip));
    assert_extracted(&p, &s.work, NW2005_SHA, 3_502_592);
}

#[test]
fn zip_with_two_backups_keeps_the_newest_and_says_why() {
    let s = scratch();
    let old = fixture_bytes(NW2005); // backup taken 2011-08-10
    let new = fixture_bytes(NW2008); // backup taken 2019-05-05
    let input = s.input_dir.join("two.zip");
    write_zip(
        &input,
        &[
            ("old/Northwind.bak", old.as_slice(), date(2011, 8, 10, 19, 46, 56)),
            ("new/Northwind.bak", new.as_slice(), date(2019, 5, 5, 17, 55, 37)),
            ("notes.txt", b"two backups".as_slice(), date(2024, 1, 1, 0, 0, 0)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("new/Northwind.bak"));
    assert_extracted(&p, &s.work, NW2008_SHA, new.len() as u64);
    let note = p.notes.join("\n");
    assert!(note.contains("2 backups in the archive; chose \"new/Northwind.bak\""), "{note}");
    assert!(note.contains("2019-05-05"), "{note}");
    assert!(note.contains("\"old/Northwind.bak\""), "{note}");
}

#[test]
fn zip_newest_backup_wins_whatever_the_member_order() {
    let s = scratch();
    let input = s.input_dir.join("two.zip");
    write_zip(
        &input,
        &[
            ("b.bak", fixture_bytes(NW2008).as_slice(), date(2019, 5, 5, 17, 55, 37)),
            ("a.bak", fixture_bytes(NW2005).as_slice(), date(2011, 8, 10, 19, 46, 56)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("b.bak"));
    assert_extracted(&p, &s.work, NW2008_SHA, 3_635_712);
}

#[test]
fn backup_start_dates_beat_member_dates() {
    // The member dates say the 2005 backup is newer; its header says 2011-08-10 against
    // 2019-05-05 for the 2008 one: the header wins.
    let s = scratch();
    let input = s.input_dir.join("misdated.zip");
    write_zip(
        &input,
        &[
            ("a/Northwind.bak", fixture_bytes(NW2005).as_slice(), date(2024, 1, 1, 0, 0, 0)),
            ("b/Northwind.bak", fixture_bytes(NW2008).as_slice(), date(2000, 1, 1, 0, 0, 0)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("b/Northwind.bak"));
    assert_extracted(&p, &s.work, NW2008_SHA, 3_635_712);
    let note = p.notes.join("\n");
    assert!(note.contains("chose \"b/Northwind.bak\" (database \"NorthWind\")"), "{note}");
    assert!(note.contains("the newest full database backup (started 2019-05-05T17:55:37"), "{note}");
}

#[test]
fn compressed_backups_are_compared_by_their_headers_too() {
    let s = scratch();
    let input = s.input_dir.join("compressed.zip");
    let tsql = fixture_bytes("bak/tsqlv4-sql2016-compressed.bak"); // backup of 2017-01-10
    let nw = fixture_bytes("bak/northwind-sql2016-compressed.bak"); // backup of 2021-10-14
    write_zip(
        &input,
        &[
            ("nw.bak", nw.as_slice(), date(2001, 1, 1, 0, 0, 0)),
            ("tsql.bak", tsql.as_slice(), date(2025, 1, 1, 0, 0, 0)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("nw.bak"));
    assert_eq!(p.container, BackupContainer::MssqlBak);
    assert_extracted(&p, &s.work, "59e603ca0f84330fb713fc9cf32234c38b9468e3281561099a433294064a5afe", nw.len() as u64);
    let note = p.notes.join("\n");
    assert!(note.contains("started 2021-10-14T08:10:22"), "{note}");
}

/// Runs `prepare_backup` on a ZIP written by `build` and returns the error, checking that
/// the work folder stayed empty.
fn refused_zip(build: impl FnOnce(&mut ZipWriter<File>), limits: &Limits) -> ArchiveError {
    let s = scratch();
    let input = s.input_dir.join("hostile.zip");
    let mut zip = ZipWriter::new(File::create(&input).unwrap());
    build(&mut zip);
    zip.finish().unwrap();
    let err = prepare_backup(&input, &s.work, limits).unwrap_err();
    assert!(entries(&s.work).is_empty(), "work folder not empty after {err:?}: {:?}", entries(&s.work));
    err
}

fn add(zip: &mut ZipWriter<File>, name: &str, bytes: &[u8]) {
    zip.start_file(name, deflated(date(2020, 1, 1, 0, 0, 0))).unwrap();
    zip.write_all(bytes).unwrap();
}

fn assert_unsafe(err: &ArchiveError, member: &str, reason: &str) {
    match err {
        ArchiveError::UnsafeMemberPath { member: m, reason: r, .. } => {
            assert_eq!(m, member);
            assert!(r.contains(reason), "{r}");
        }
        other => panic!("expected UnsafeMemberPath for {member:?}, got {other:?}"),
    }
    assert_eq!(err.class(), ErrorClass::Permanent);
}

#[test]
fn zip_member_climbing_out_with_dotdot_is_refused() {
    let bak = fixture_bytes(NW2005);
    let err = refused_zip(
        |z| {
            add(z, "Northwind.bak", &bak);
            add(z, "../evil.bak", &bak);
        },
        &Limits::default(),
    );
    assert_unsafe(&err, "../evil.bak", "`..`");
    assert!(err.to_string().contains("hostile.zip: member \"../evil.bak\" is unsafe"), "{err}");
}

#[test]
fn zip_member_with_an_absolute_path_is_refused() {
    let err = refused_zip(|z| add(z, "/tmp/evil.bak", &fixture_bytes(NW2005)), &Limits::default());
    assert_unsafe(&err, "/tmp/evil.bak", "absolute");
}

#[test]
fn zip_member_with_a_drive_letter_or_backslash_is_refused() {
    let bak = fixture_bytes(NW2005);
    let err = refused_zip(|z| add(z, "C:/Windows/evil.bak", &bak), &Limits::default());
    assert_unsafe(&err, "C:/Windows/evil.bak", "drive letter");
    let err = refused_zip(|z| add(z, "..\\evil.bak", &bak), &Limits::default());
    assert_unsafe(&err, "..\\evil.bak", "backslash");
}

#[test]
fn zip_symlink_member_is_refused() {
    let err = refused_zip(
        |z| {
            add(z, "real.bak", &fixture_bytes(NW2005));
            z.add_symlink("Northwind.bak", "/etc/passwd", SimpleFileOptions::default()).unwrap();
        },
        &Limits::default(),
    );
    assert_unsafe(&err, "Northwind.bak", "symbolic link");
}

#[test]
fn zip_encrypted_member_is_refused() {
    let err = refused_zip(
        |z| {
            let opts = deflated(date(2020, 1, 1, 0, 0, 0)).with_aes_encryption(zip::AesMode::Aes256, "secret");
            z.start_file("Northwind.bak", opts).unwrap();
            z.write_all(&fixture_bytes(NW2005)).unwrap();
        },
        &Limits::default(),
    );
    assert!(matches!(&err, ArchiveError::Encrypted { member: Some(m), .. } if m == "Northwind.bak"), "{err:?}");
    assert!(err.to_string().contains("encrypted"), "{err}");
}

#[test]
fn zip_member_over_the_size_limit_is_refused() {
    let limits = Limits { max_member_bytes: 1 << 20, ..Limits::default() };
    let err = refused_zip(|z| add(z, "Northwind.bak", &fixture_bytes(NW2005)), &limits);
    assert!(matches!(&err, ArchiveError::TooLarge { limit: LimitKind::MemberBytes, value: 3_502_592, .. }), "{err:?}");
    assert!(err.to_string().contains("hostile.zip, member \"Northwind.bak\": declares 3502592"), "{err}");
}

#[test]
fn zip_backups_together_over_the_total_limit_are_refused() {
    let limits = Limits { max_total_bytes: 5 << 20, ..Limits::default() };
    let err = refused_zip(
        |z| {
            add(z, "a.bak", &fixture_bytes(NW2005));
            add(z, "b.bak", &fixture_bytes(NW2008));
        },
        &limits,
    );
    assert!(
        matches!(&err, ArchiveError::TooLarge { limit: LimitKind::TotalBytes, value: 7_138_304, member: None, .. }),
        "{err:?}"
    );
}

#[test]
fn zip_with_more_members_than_allowed_is_refused() {
    let limits = Limits { max_members: 3, ..Limits::default() };
    let err = refused_zip(
        |z| {
            for i in 0..4 {
                add(z, &format!("f{i}.txt"), b"x");
            }
        },
        &limits,
    );
    assert!(matches!(&err, ArchiveError::TooLarge { limit: LimitKind::MemberCount, value: 4, max: 3, .. }), "{err:?}");
}

#[test]
fn not_enough_free_space_is_a_transient_refusal() {
    let limits = Limits { min_free_bytes: u64::MAX / 2, ..Limits::default() };
    let err = refused_zip(|z| add(z, "Northwind.bak", &fixture_bytes(NW2005)), &limits);
    assert!(matches!(&err, ArchiveError::InsufficientSpace { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
}

#[test]
fn zip_member_named_bak_that_is_a_pg_dump_is_not_a_backup() {
    let err = refused_zip(|z| add(z, "Northwind.bak", &fixture_bytes(PGDUMP)), &Limits::default());
    match &err {
        ArchiveError::NotABackup { member: Some(m), looks_like, .. } => {
            assert_eq!(m, "Northwind.bak");
            assert!(looks_like.contains("PostgreSQL"), "{looks_like}");
        }
        other => panic!("expected NotABackup, got {other:?}"),
    }
}

#[test]
fn zip_skips_non_backup_members_named_bak_and_says_so() {
    let s = scratch();
    let input = s.input_dir.join("mixed.zip");
    write_zip(
        &input,
        &[
            ("lfs/AdventureWorks.bak", fixture_bytes(GITLFS).as_slice(), date(2024, 1, 1, 0, 0, 0)),
            ("Northwind.bak", fixture_bytes(NW2005).as_slice(), date(2011, 8, 10, 0, 0, 0)),
            ("__MACOSX/._Northwind.bak", b"\x00\x05\x16\x07".as_slice(), date(2011, 8, 10, 0, 0, 0)),
        ],
    );
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("Northwind.bak"));
    assert_extracted(&p, &s.work, NW2005_SHA, 3_502_592);
    let notes = p.notes.join("\n");
    assert!(notes.contains("skipped member \"lfs/AdventureWorks.bak\"") && notes.contains("Git LFS"), "{notes}");
    assert!(notes.contains("macOS metadata") && notes.contains("__MACOSX/._Northwind.bak"), "{notes}");
}

#[test]
fn zip_member_with_a_bad_crc_fails_and_leaves_nothing() {
    let s = scratch();
    let input = s.input_dir.join("damaged.zip");
    let bak = fixture_bytes(NW2005);
    {
        let mut zip = ZipWriter::new(File::create(&input).unwrap());
        let stored = SimpleFileOptions::default().compression_method(CompressionMethod::Stored);
        zip.start_file("Northwind.bak", stored).unwrap();
        zip.write_all(&bak).unwrap();
        zip.finish().unwrap();
    }
    // Flip one byte in the middle of the stored data: sizes stay right, the CRC does not.
    let mut bytes = fs::read(&input).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    fs::write(&input, bytes).unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(&err, ArchiveError::Corrupt { member: Some(m), .. } if m == "Northwind.bak"), "{err:?}");
    assert!(entries(&s.work).is_empty(), "{:?}", entries(&s.work));
}

#[test]
fn zip_without_a_backup_lists_its_members() {
    let err = refused_zip(
        |z| {
            add(z, "data/Customers.csv", b"id,name\n");
            add(z, "Northwind.bak.txt", b"not a backup");
        },
        &Limits::default(),
    );
    let ArchiveError::NoBackupInArchive { members, total: 2, format: ArchiveFormat::Zip, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(members, &["data/Customers.csv", "Northwind.bak.txt"]);
}

#[test]
fn spanned_zip_is_refused_as_multi_volume() {
    let s = scratch();
    let input = s.input_dir.join("backup.z01");
    let mut bytes = b"PK\x07\x08".to_vec();
    bytes.extend_from_slice(&[0u8; 60]);
    fs::write(&input, bytes).unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::MultiVolume { format: ArchiveFormat::Zip, .. }), "{err:?}");
}

// ----------------------------------------------------------------------------- 7z

fn filetime(y: i64, mo: u32, d: u32) -> sevenz_rust2::NtTime {
    // Days from 1601-01-01 to the date (proleptic Gregorian), as 100 ns ticks.
    let days_to = |y: i64, m: u32, d: u32| {
        let (y, m) = if m <= 2 { (y - 1, m + 12) } else { (y, m) };
        365 * y + y / 4 - y / 100 + y / 400 + (153 * (i64::from(m) - 3) + 2) / 5 + i64::from(d)
    };
    let days = days_to(y, mo, d) - days_to(1601, 1, 1);
    sevenz_rust2::NtTime::from((days as u64) * 86_400 * 10_000_000)
}

/// A 7z writer using LZMA2 at preset 0 (256 KiB dictionary): the default preset makes
/// unoptimised test builds spend most of their time compressing.
fn sevenz_writer(path: &Path) -> sevenz_rust2::ArchiveWriter<File> {
    let mut w = sevenz_rust2::ArchiveWriter::create(path).unwrap();
    w.set_content_methods(vec![sevenz_rust2::encoder_options::Lzma2Options::from_level(0).into()]);
    w
}

/// Small stand-in for a backup where the test is about the archive, not the payload.
fn small_backup() -> Vec<u8> {
    let mut payload = b"TAPE".to_vec();
    payload.extend((0..20_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8));
    payload
}

fn sevenz_entry(name: &str, modified: Option<sevenz_rust2::NtTime>) -> sevenz_rust2::ArchiveEntry {
    let mut e = sevenz_rust2::ArchiveEntry::new_file(name);
    if let Some(t) = modified {
        e.has_last_modified_date = true;
        e.last_modified_date = t;
    }
    e
}

#[test]
fn sevenz_archive_extracts_its_backup() {
    let s = scratch();
    let input = s.input_dir.join("upload.7z");
    let bak = fixture_bytes(NW2005);
    let mut w = sevenz_writer(&input);
    w.push_archive_entry(sevenz_entry("readme.txt", None), Some(b"hello".as_slice())).unwrap();
    w.push_archive_entry(sevenz_entry("db/Northwind.bak", Some(filetime(2011, 8, 10))), Some(bak.as_slice())).unwrap();
    w.finish().unwrap();
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.archive, Some(ArchiveFormat::SevenZip));
    assert_eq!(p.member.as_deref(), Some("db/Northwind.bak"));
    assert_extracted(&p, &s.work, NW2005_SHA, bak.len() as u64);
}

#[test]
fn solid_sevenz_with_two_backups_keeps_the_newest() {
    let s = scratch();
    let input = s.input_dir.join("solid.7z");
    let names = ["notes.txt", "2019/Northwind.bak", "2011/Northwind.bak", "zz.txt"];
    let times = [None, Some(filetime(2019, 5, 5)), Some(filetime(2011, 8, 10)), None];
    let data = [b"a".to_vec(), fixture_bytes(NW2008), fixture_bytes(NW2005), b"z".to_vec()];
    let mut w = sevenz_writer(&input);
    let entries_: Vec<_> = names.iter().zip(times).map(|(n, t)| sevenz_entry(n, t)).collect();
    let readers: Vec<_> = data.iter().map(|d| sevenz_rust2::SourceReader::new(d.as_slice())).collect();
    w.push_archive_entries(entries_, readers).unwrap();
    w.finish().unwrap();
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.member.as_deref(), Some("2019/Northwind.bak"));
    assert_extracted(&p, &s.work, NW2008_SHA, 3_635_712);
    assert!(p.notes.iter().any(|n| n.contains("2 backups in the archive")), "{:?}", p.notes);
}

#[test]
fn encrypted_sevenz_is_refused() {
    let s = scratch();
    let input = s.input_dir.join("secret.7z");
    let mut w = sevenz_rust2::ArchiveWriter::create(&input).unwrap();
    w.set_content_methods(vec![
        sevenz_rust2::encoder_options::AesEncoderOptions::new("secret".into()).into(),
        sevenz_rust2::encoder_options::Lzma2Options::from_level(0).into(),
    ]);
    w.push_archive_entry(sevenz_entry("Northwind.bak", None), Some(small_backup().as_slice())).unwrap();
    w.finish().unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Encrypted { .. }), "{err:?}");
    assert!(entries(&s.work).is_empty());
}

#[test]
fn truncated_sevenz_is_corrupt() {
    let s = scratch();
    let full = s.input_dir.join("full.7z");
    let mut w = sevenz_writer(&full);
    w.push_archive_entry(sevenz_entry("Northwind.bak", None), Some(small_backup().as_slice())).unwrap();
    w.finish().unwrap();
    let bytes = fs::read(&full).unwrap();
    let input = s.input_dir.join("cut.7z");
    fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Corrupt { .. }), "{err:?}");
    assert!(entries(&s.work).is_empty());
}

/// A 7z file whose start header points at `next_header` (placed right after it) but
/// declares `declared_size` bytes for it.
fn crafted_7z(next_header: &[u8], declared_size: u64) -> Vec<u8> {
    let mut start = 0u64.to_le_bytes().to_vec(); // next header right after the 32-byte head
    start.extend(declared_size.to_le_bytes());
    start.extend(crc32(next_header).to_le_bytes());
    let mut out = b"7z\xbc\xaf\x27\x1c\x00\x04".to_vec();
    out.extend(crc32(&start).to_le_bytes());
    out.extend(start);
    out.extend_from_slice(next_header);
    out
}

/// Headers that declare absurd sizes must be refused, not allocated: with sevenz-rust2
/// 0.20 each of these aborted the test process (allocation failure), a 42-byte upload
/// taking down the worker.
#[test]
fn crafted_sevenz_headers_with_absurd_counts_are_corrupt() {
    let s = scratch();
    let huge = 1u64 << 40;
    // kHeader, kFilesInfo, numFiles = 2^40 (0xFF: eight value bytes follow), kEnd, kEnd.
    let mut files_info = vec![0x01, 0x05, 0xff];
    files_info.extend(huge.to_le_bytes());
    files_info.extend([0x00, 0x00]);
    let cases = [
        ("next-header-size.7z", crafted_7z(&[0x01, 0x00], huge)),
        ("num-files.7z", crafted_7z(&files_info, files_info.len() as u64)),
    ];
    for (name, bytes) in cases {
        let input = s.input_dir.join(name);
        fs::write(&input, bytes).unwrap();
        let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
        assert!(matches!(err, ArchiveError::Corrupt { .. }), "{name}: {err:?}");
        assert!(entries(&s.work).is_empty());
    }
}

/// Damaged archives of every format must fail (or succeed) cleanly: no panic, and on
/// failure nothing left in the work folder.
#[test]
fn mutated_archives_never_panic_or_leave_files() {
    let s = scratch();
    let payload = small_backup();
    let zip_path = s.input_dir.join("m.zip");
    write_zip(&zip_path, &[("x/Northwind.bak", payload.as_slice(), date(2020, 1, 1, 0, 0, 0))]);
    let sz_path = s.input_dir.join("m.7z");
    let mut w = sevenz_writer(&sz_path);
    w.push_archive_entry(sevenz_entry("x/Northwind.bak", None), Some(payload.as_slice())).unwrap();
    w.finish().unwrap();
    let rar_bytes = fs::read(fixture("rar/northwind-csv-no-bak-rar5.rar")).unwrap();

    for (name, original) in
        [("m.zip", fs::read(&zip_path).unwrap()), ("m.7z", fs::read(&sz_path).unwrap()), ("m.rar", rar_bytes)]
    {
        let len = original.len();
        // Deterministic positions: header bytes near both ends, and a spread inside.
        let positions: Vec<usize> = (8..len.min(100))
            .chain((len.saturating_sub(150)..len).step_by(3))
            .chain((0..len).step_by(len / 30 + 1))
            .collect();
        for pos in positions {
            let mut bytes = original.clone();
            bytes[pos] ^= 0x5a;
            let input = s.input_dir.join(name);
            fs::write(&input, &bytes).unwrap();
            let work = s.work.join(format!("{name}-{pos}"));
            match prepare_backup(&input, &work, &Limits::default()) {
                Ok(p) => assert_eq!(entries(&work).len(), 1, "{name} at {pos}: {p:?}"),
                Err(e) => assert!(entries(&work).is_empty(), "{name} at {pos}: {e} left {:?}", entries(&work)),
            }
        }
    }
}

// --------------------------------------------------------------- raw backups, others

#[test]
fn raw_backup_passes_through_without_a_copy() {
    let s = scratch();
    let input = fixture(NW2005);
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(
        p,
        PreparedBackup {
            path: input,
            container: BackupContainer::Mtf,
            size: 3_502_592,
            archive: None,
            member: None,
            extracted: false,
            notes: vec![],
        }
    );
    assert!(entries(&s.work).is_empty());
}

#[test]
fn compressed_raw_backup_passes_through() {
    let s = scratch();
    let input = fixture("bak/northwind-sql2016-compressed.bak");
    let p = prepare_backup(&input, &s.work, &Limits::default()).unwrap();
    assert_eq!(p.container, BackupContainer::MssqlBak);
    assert_eq!(p.path, input);
    assert!(!p.extracted);
}

#[test]
fn pg_dump_named_bak_is_not_a_backup() {
    let s = scratch();
    let input = fixture(PGDUMP);
    let err = prepare_backup(&input, &s.work, &Limits::default()).unwrap_err();
    let ArchiveError::NotABackup { path, member: None, looks_like } = &err else { panic!("{err:?}") };
    assert_eq!(path, &input);
    assert!(looks_like.contains("PostgreSQL custom-format dump"), "{looks_like}");
    let msg = err.to_string();
    assert!(msg.contains("not-mssql-pgdump-named-northwind.bak: not a SQL Server backup: a PostgreSQL"), "{msg}");
    assert_eq!(err.class(), ErrorClass::Permanent);
    assert_eq!(err.code(), "not_a_backup");
}

#[test]
fn git_lfs_pointer_is_not_a_backup() {
    let s = scratch();
    let err = prepare_backup(&fixture(GITLFS), &s.work, &Limits::default()).unwrap_err();
    let ArchiveError::NotABackup { looks_like, .. } = &err else { panic!("{err:?}") };
    assert!(looks_like.contains("Git LFS pointer"), "{looks_like}");
    assert!(err.to_string().contains("not-mssql-gitlfs-pointer-adventureworksdw2019.bak"), "{err}");
}

#[test]
fn text_and_empty_files_are_described() {
    let s = scratch();
    let text = s.input_dir.join("x.bak");
    fs::write(&text, "CREATE DATABASE Northwind;\n").unwrap();
    let err = prepare_backup(&text, &s.work, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("an SQL script (text): \"CREATE DATABASE Northwind;\\n\""), "{err}");
    let empty = s.input_dir.join("empty.bak");
    fs::write(&empty, "").unwrap();
    let err = prepare_backup(&empty, &s.work, &Limits::default()).unwrap_err();
    assert!(err.to_string().ends_with("not a SQL Server backup: an empty file"), "{err}");
}

#[test]
fn missing_input_is_a_transient_io_error() {
    let s = scratch();
    let err = prepare_backup(&s.input_dir.join("nope.rar"), &s.work, &Limits::default()).unwrap_err();
    assert!(matches!(err, ArchiveError::Io { .. }), "{err:?}");
    assert_eq!(err.class(), ErrorClass::Transient);
    assert!(err.to_string().contains("nope.rar"), "{err}");
}
