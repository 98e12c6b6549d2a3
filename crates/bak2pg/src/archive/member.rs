//! Archive members as every format lists them, and the rules on their names.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What kind of file system object a member would create.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MemberKind {
    File,
    Directory,
    /// A symbolic link, hard link, junction or reference; the text says which.
    Link(&'static str),
    /// A device, FIFO, socket or other non-regular file; the text says which.
    Special(&'static str),
}

/// One member of an archive, as listed before anything is extracted.
///
/// Format modules list members in the format's own order (ZIP central-directory index,
/// 7z file index, RAR file-header ordinal), so a member's position in the list is how the
/// module finds it again.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    /// The stored name, decoded (lossily when not valid text) with `/` as separator where
    /// the format converts its own; kept only for display and for the checks here.
    pub name: String,
    pub kind: MemberKind,
    /// Uncompressed size the archive declares, in bytes.
    pub declared_size: u64,
    pub encrypted: bool,
    /// Last-modified time the archive records, when it records one.
    pub modified: Option<SystemTime>,
}

/// A member's kind from a Unix `st_mode`, when the archiver recorded one. Unknown
/// type bits count as a plain file: the data is only ever written to a plain file of ours.
pub(crate) fn kind_from_unix_mode(mode: Option<u32>) -> MemberKind {
    match mode.map(|m| m & 0o170_000) {
        Some(0o120_000) => MemberKind::Link("symbolic link"),
        Some(0o040_000) => MemberKind::Directory,
        Some(0o010_000) => MemberKind::Special("FIFO"),
        Some(0o020_000) => MemberKind::Special("character device"),
        Some(0o060_000) => MemberKind::Special("block device"),
        Some(0o140_000) => MemberKind::Special("socket"),
        _ => MemberKind::File,
    }
}

/// Refuses names that could place a file outside the extraction folder on any system the
/// archive might be extracted on. Returns what is wrong.
///
/// The output path never comes from these names; they are refused anyway because an
/// archive carrying them was made to attack an extractor, and its backup is not trusted.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        return Err("empty name");
    }
    if name.contains('\0') {
        return Err("NUL byte in the name");
    }
    if name.contains('\\') {
        return Err("backslash in the name (a Windows path separator)");
    }
    if name.starts_with('/') {
        return Err("absolute path");
    }
    let b = name.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        return Err("Windows drive letter");
    }
    if name.split('/').any(|c| c == "..") {
        return Err("`..` path component");
    }
    Ok(())
}

/// The last path component of a member name.
pub(crate) fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// True when the member's base name ends in `.bak`, in any case.
pub(crate) fn has_backup_extension(name: &str) -> bool {
    let base = base_name(name).as_bytes();
    base.len() > 4 && base[base.len() - 4..].eq_ignore_ascii_case(b".bak")
}

/// True for files an OS adds when archiving, never real data: macOS's AppleDouble
/// `._name` companions and anything under `__MACOSX/`.
pub(crate) fn is_os_metadata(name: &str) -> bool {
    base_name(name).starts_with("._") || name.split('/').any(|c| c == "__MACOSX")
}

/// The file name the extracted backup gets: the member's base name reduced to ASCII
/// letters, digits, `-`, `_` and `.` (others become `_`), at most 100 characters, no leading
/// dot, ending in `.bak`. Never empty, never `.` or `..`.
pub(crate) fn sanitized_file_name(member: &str) -> String {
    let base = base_name(member);
    let stem = if has_backup_extension(base) { &base[..base.len() - 4] } else { base };
    let mut out: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' { c } else { '_' })
        .take(100)
        .collect();
    let trimmed = out.trim_start_matches('.').to_owned();
    out = trimmed;
    if out.is_empty() {
        out.push_str("backup");
    }
    out.push_str(".bak");
    out
}

/// Where the chosen member is placed: `work_dir/<sanitized name>`, unless that is the
/// archive itself (an archive misnamed `.bak` inside the work folder), then
/// `<stem>-extracted.bak`.
pub(crate) fn output_path(work_dir: &Path, member: &str, archive: &Path) -> PathBuf {
    let name = sanitized_file_name(member);
    let target = work_dir.join(&name);
    let same = match (target.canonicalize(), archive.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    };
    if same { work_dir.join(format!("{}-extracted.bak", &name[..name.len() - 4])) } else { target }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_types_from_unix_mode() {
        assert_eq!(kind_from_unix_mode(None), MemberKind::File);
        assert_eq!(kind_from_unix_mode(Some(0o100_644)), MemberKind::File);
        assert_eq!(kind_from_unix_mode(Some(0o644)), MemberKind::File);
        assert_eq!(kind_from_unix_mode(Some(0o120_777)), MemberKind::Link("symbolic link"));
        assert_eq!(kind_from_unix_mode(Some(0o040_755)), MemberKind::Directory);
        assert_eq!(kind_from_unix_mode(Some(0o010_644)), MemberKind::Special("FIFO"));
        assert_eq!(kind_from_unix_mode(Some(0o140_644)), MemberKind::Special("socket"));
    }

    #[test]
    fn refuses_names_that_escape() {
        for (name, why) in [
            ("", "empty"),
            ("../evil.bak", "`..`"),
            ("a/../../evil.bak", "`..`"),
            ("a/..", "`..`"),
            ("/etc/evil.bak", "absolute"),
            ("//server/share/x.bak", "absolute"),
            ("C:/x.bak", "drive"),
            ("c:x.bak", "drive"),
            ("dir\\..\\x.bak", "backslash"),
            ("x\0.bak", "NUL"),
        ] {
            let err = check_name(name).expect_err(name);
            assert!(err.contains(why), "{name:?}: {err}");
        }
        for name in ["Northwind.bak", "a/b/c.BAK", "a/./b.bak", "..hidden/x.bak", "x..bak", "dir/"] {
            assert_eq!(check_name(name), Ok(()), "{name:?}");
        }
    }

    #[test]
    fn recognises_backup_names() {
        assert!(has_backup_extension("Northwind.bak"));
        assert!(has_backup_extension("dir/sub/NORTHWIND.BAK"));
        assert!(has_backup_extension("x.Bak"));
        assert!(!has_backup_extension(".bak"));
        assert!(!has_backup_extension("dir/.bak"));
        assert!(!has_backup_extension("Northwind.bak.txt"));
        assert!(!has_backup_extension("Northwind.bak/"));
        assert!(!has_backup_extension("bak"));
        assert!(is_os_metadata("__MACOSX/dir/._Northwind.bak"));
        assert!(is_os_metadata("._Northwind.bak"));
        assert!(!is_os_metadata("dir/Northwind.bak"));
    }

    #[test]
    fn output_names_are_sanitized() {
        assert_eq!(sanitized_file_name("Northwind.bak"), "Northwind.bak");
        assert_eq!(sanitized_file_name("dir/NORTHWIND.BAK"), "NORTHWIND.bak");
        assert_eq!(sanitized_file_name("a/Base de Données.bak"), "Base_de_Donn_es.bak");
        assert_eq!(sanitized_file_name("..bak"), "backup.bak");
        assert_eq!(sanitized_file_name("...bak"), "backup.bak");
        assert_eq!(sanitized_file_name(".hidden.bak"), "hidden.bak");
        assert_eq!(sanitized_file_name("完整.bak"), "__.bak");
        assert_eq!(sanitized_file_name(&format!("{}.bak", "x".repeat(300))).len(), 104);
    }

    #[test]
    fn output_never_replaces_the_archive() {
        let dir = tempfile::tempdir().unwrap();
        let archive = dir.path().join("Northwind.bak");
        std::fs::write(&archive, b"PK\x03\x04").unwrap();
        assert_eq!(output_path(dir.path(), "Northwind.bak", &archive), dir.path().join("Northwind-extracted.bak"));
        assert_eq!(output_path(dir.path(), "Other.bak", &archive), dir.path().join("Other.bak"));
    }
}
