//! Recognising a file by its first bytes, and saying what an unrecognised one looks like.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use super::{ArchiveError, ArchiveFormat, BackupContainer};

/// How many bytes are read to recognise a file. 512 reaches the `ustar` mark of a tar
/// header (offset 257) and gives text a fair sample.
pub(crate) const HEAD_LEN: usize = 512;

/// What the first bytes say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Detected {
    Backup(BackupContainer),
    Archive(ArchiveFormat),
    /// `PK\x07\x08`: the first volume of a spanned/split ZIP.
    SpannedZip,
    /// An archive signature with a byte or two changed: the archive, damaged.
    DamagedArchive(String),
    /// Anything else, described for a human.
    Other(String),
}

impl Detected {
    /// A description for notes about archive members that were not backups.
    pub(crate) fn describe(&self) -> String {
        match self {
            Detected::Backup(BackupContainer::Mtf) => "an uncompressed SQL Server backup".into(),
            Detected::Backup(BackupContainer::MssqlBak) => "a compressed SQL Server backup".into(),
            Detected::Archive(f) => format!("a {f} archive (archives inside archives are not opened)"),
            Detected::SpannedZip => "a volume of a split ZIP archive".into(),
            Detected::DamagedArchive(s) => s.clone(),
            Detected::Other(s) => s.clone(),
        }
    }
}

/// Reads up to [`HEAD_LEN`] bytes from the start of `path` (fewer when the file is shorter).
pub(crate) fn read_head(path: &Path) -> Result<Vec<u8>, ArchiveError> {
    let file = File::open(path).map_err(|e| ArchiveError::io(path, "open", e))?;
    let mut head = Vec::with_capacity(HEAD_LEN);
    file.take(HEAD_LEN as u64).read_to_end(&mut head).map_err(|e| ArchiveError::io(path, "read the first bytes", e))?;
    Ok(head)
}

const RAR4: &[u8] = b"Rar!\x1a\x07\x00";
const RAR5: &[u8] = b"Rar!\x1a\x07\x01\x00";
const SEVEN_Z: &[u8] = b"7z\xbc\xaf\x27\x1c";

/// Classifies a file from its first bytes (`head`, up to [`HEAD_LEN`]).
pub(crate) fn detect(head: &[u8]) -> Detected {
    if head.starts_with(b"TAPE") {
        Detected::Backup(BackupContainer::Mtf)
    } else if head.starts_with(b"MSSQLBAK") {
        Detected::Backup(BackupContainer::MssqlBak)
    } else if head.starts_with(RAR5) {
        Detected::Archive(ArchiveFormat::Rar5)
    } else if head.starts_with(RAR4) {
        Detected::Archive(ArchiveFormat::Rar4)
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        // A local file header, or the end record of an empty archive.
        Detected::Archive(ArchiveFormat::Zip)
    } else if head.starts_with(b"PK\x07\x08") {
        Detected::SpannedZip
    } else if head.starts_with(SEVEN_Z) {
        Detected::Archive(ArchiveFormat::SevenZip)
    } else if let Some(what) = damaged_signature(head) {
        Detected::DamagedArchive(what)
    } else {
        Detected::Other(describe_first_bytes(head))
    }
}

/// Says in words what a file that is neither a SQL Server backup nor a supported archive
/// looks like, from its first bytes (`head`; 512 are plenty): "a PostgreSQL custom-format
/// dump (PGDMP)", "a Git LFS pointer file …", "text: \"…\"", or the bytes in hex.
pub fn describe_first_bytes(head: &[u8]) -> String {
    const KNOWN: &[(&[u8], &str)] = &[
        (b"PGDMP", "a PostgreSQL custom-format dump (pg_dump -Fc; starts with PGDMP), not a SQL Server backup"),
        (
            b"version https://git-lfs.github.com/spec/",
            "a Git LFS pointer file (text naming the real file's hash: the file itself was never uploaded)",
        ),
        (b"\x1f\x8b", "gzip-compressed data (gunzip it first)"),
        (b"BZh", "bzip2-compressed data"),
        (b"\xfd7zXZ\x00", "xz-compressed data"),
        (b"\x28\xb5\x2f\xfd", "zstd-compressed data"),
        (b"MSCF", "a Microsoft Cabinet (.cab) archive"),
        (b"MZ", "a Windows executable (perhaps a self-extracting archive: upload the archive itself)"),
        (b"\x7fELF", "a Linux executable"),
        (b"%PDF", "a PDF document"),
        (b"SQLite format 3\x00", "an SQLite database"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document (OLE2)"),
        (b"-- PostgreSQL database dump", "a plain-text PostgreSQL dump (SQL script)"),
    ];
    if head.is_empty() {
        return "an empty file".into();
    }
    if let Some((_, what)) = KNOWN.iter().find(|(magic, _)| head.starts_with(magic)) {
        return (*what).into();
    }
    if let Some(what) = damaged_signature(head) {
        return what;
    }
    if head.len() > 262 && &head[257..262] == b"ustar" {
        return "a tar archive (not supported: use ZIP, 7z or RAR)".into();
    }
    // Text: valid UTF-8 (allowing a character cut at the end of the sample) without
    // control characters other than whitespace.
    let text = match std::str::from_utf8(head) {
        Ok(s) => Some(s),
        Err(e) if e.error_len().is_none() => std::str::from_utf8(&head[..e.valid_up_to()]).ok(),
        Err(_) => None,
    };
    if let Some(text) = text {
        let text = text.trim_start_matches('\u{feff}');
        if !text.is_empty() && text.chars().all(|c| !c.is_control() || c.is_whitespace()) {
            let sample: String = text.chars().take(60).collect();
            let what = if looks_like_sql(text) { "an SQL script (text)" } else { "text" };
            return format!("{what}: {sample:?}");
        }
    }
    let hex: Vec<String> = head.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("unrecognised binary data starting with {}", hex.join(" "))
}

/// An archive signature with one or two bytes changed (one for the 4-byte ZIP one): the
/// file is that archive, damaged in transfer, rather than some other data.
fn damaged_signature(head: &[u8]) -> Option<String> {
    const SIGNATURES: &[(&[u8], &str)] =
        &[(RAR5, "RAR 5 archive"), (RAR4, "RAR 4 archive"), (SEVEN_Z, "7z archive"), (b"PK\x03\x04", "ZIP archive")];
    SIGNATURES.iter().find_map(|(sig, what)| {
        let got = head.get(..sig.len())?;
        let differ = got.iter().zip(sig.iter()).filter(|(a, b)| a != b).count();
        let tolerated = if sig.len() >= 6 { 2 } else { 1 };
        (differ > 0 && differ <= tolerated).then(|| {
            let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ");
            format!(
                "a {what} whose signature reads {} instead of {} (damaged in transfer: copy it again)",
                hex(got),
                hex(sig)
            )
        })
    })
}

fn looks_like_sql(text: &str) -> bool {
    let upper = text.trim_start().to_ascii_uppercase();
    ["CREATE ", "INSERT ", "USE ", "SET ", "--", "/*", "DROP ", "ALTER ", "BEGIN"].iter().any(|k| upper.starts_with(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_containers_by_magic() {
        assert_eq!(detect(b"TAPE\0\0\x03\0"), Detected::Backup(BackupContainer::Mtf));
        assert_eq!(detect(b"MSSQLBAK\x02\0"), Detected::Backup(BackupContainer::MssqlBak));
        assert_eq!(detect(b"Rar!\x1a\x07\x00\xcf"), Detected::Archive(ArchiveFormat::Rar4));
        assert_eq!(detect(b"Rar!\x1a\x07\x01\x00\x72"), Detected::Archive(ArchiveFormat::Rar5));
        assert_eq!(detect(b"PK\x03\x04\x14\0"), Detected::Archive(ArchiveFormat::Zip));
        assert_eq!(detect(b"PK\x05\x06\0\0"), Detected::Archive(ArchiveFormat::Zip));
        assert_eq!(detect(b"PK\x07\x08PK\x03\x04"), Detected::SpannedZip);
        assert_eq!(detect(b"7z\xbc\xaf\x27\x1c\0\x04"), Detected::Archive(ArchiveFormat::SevenZip));
        // A RAR signature cut short is not a RAR archive.
        assert!(matches!(detect(b"Rar!\x1a\x07"), Detected::Other(_)));
    }

    #[test]
    fn describes_what_is_not_a_backup() {
        assert!(describe_first_bytes(b"PGDMP\x01\x0f\0").contains("PostgreSQL custom-format dump"));
        assert!(
            describe_first_bytes(b"version https://git-lfs.github.com/spec/v1\noid sha256:c0ffee\n")
                .contains("Git LFS pointer")
        );
        assert_eq!(describe_first_bytes(b""), "an empty file");
        assert_eq!(describe_first_bytes(b"hello\nworld"), "text: \"hello\\nworld\"");
        assert!(describe_first_bytes(b"CREATE TABLE t (a int);").starts_with("an SQL script"));
        assert_eq!(describe_first_bytes(&[0, 1, 2, 0xff]), "unrecognised binary data starting with 00 01 02 ff");
        let damaged = describe_first_bytes(b"Rar{\x1a\x07\x01\x00rest of the archive");
        assert!(damaged.starts_with("a RAR 5 archive whose signature reads 52 61 72 7b"), "{damaged}");
        assert!(describe_first_bytes(b"PK\x03\x05").starts_with("a ZIP archive whose signature"));
        assert!(!describe_first_bytes(b"PX\x03\x05").contains("signature"), "two bytes of four is another file");
        assert!(matches!(detect(b"Rar!\x1a\x07\x01\x01"), Detected::DamagedArchive(_)));
        // UTF-8 cut in the middle of a character at the end of the sample is still text.
        let mut cut = "café".as_bytes().to_vec();
        cut.pop();
        assert_eq!(describe_first_bytes(&cut), "text: \"caf\"");
        let mut tar = vec![0u8; 512];
        tar[..4].copy_from_slice(b"a.tx");
        tar[257..262].copy_from_slice(b"ustar");
        assert!(describe_first_bytes(&tar).starts_with("a tar archive"));
    }
}
