//! The T-SQL the `sqlserver` engine sends, built from names and paths that come from the
//! backup (logical file names, database names) or from the operator (directories): every
//! identifier bracket-quoted, every string an `N'…'` literal with its quotes doubled, and
//! every file name we create built from a sanitised stem, never from the raw name.
//!
//! Pure functions: nothing here talks to a server, so all of it is unit-tested.
//!
//! Sources of the facts used here (Microsoft Learn, "RESTORE Statements" and "RESTORE
//! Statements - Arguments", "RESTORE HEADERONLY", "RESTORE FILELISTONLY"):
//! - `RESTORE HEADERONLY` returns one row per backup set in the media; `BackupType` is 1 for
//!   a full database backup (2 log, 4 file, 5 differential database, 6 differential file,
//!   7 partial, 8 differential partial); `Position` is the set's number for `WITH FILE =`;
//!   `HasBackupChecksums` says whether the backup was taken `WITH CHECKSUM`; `IsDamaged`
//!   marks a set written with `CONTINUE_AFTER_ERROR`.
//! - `RESTORE FILELISTONLY … WITH FILE = n` returns one row per database file of set `n`:
//!   `LogicalName`, `PhysicalName`, `Type` (`D` data, `L` log, `F` full-text catalog, `S`
//!   FILESTREAM, FileTable or In-Memory OLTP container), `FileID`.
//! - `RESTORE DATABASE … WITH MOVE 'logical' TO 'path'` relocates each file; `REPLACE`
//!   overwrites existing files of that name; `CHECKSUM` makes the restore fail on a
//!   checksum error, and fails itself when the backup has no checksums, so it is only
//!   given when `HasBackupChecksums` is 1; `STATS = n` reports progress every `n` percent
//!   (as informational messages).

use std::collections::HashSet;
use std::fmt::Write as _;

/// A name or string that cannot be put into T-SQL safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsqlError {
    /// A NUL character: T-SQL identifiers and Unicode literals cannot carry one reliably.
    #[error("{what} contains a NUL character")]
    Nul {
        /// What the text was (`logical file name`, `database name`…).
        what: &'static str,
    },
    /// An identifier longer than `sysname` (128 characters).
    #[error("{what} is {len} characters long; SQL Server identifiers hold at most 128")]
    TooLong {
        /// What the text was.
        what: &'static str,
        /// Its length in UTF-16 code units.
        len: usize,
    },
    /// Nothing to restore from, or no full backup set to restore.
    #[error("{0}")]
    Invalid(String),
}

/// Bracket-quotes an identifier as T-SQL's `QUOTENAME` does: `]` is doubled, so
/// `a]b` becomes `[a]]b]`. Any other character, quotes, semicolons and line breaks
/// included, is inert inside the brackets.
///
/// # Errors
/// [`TsqlError::Nul`] for a NUL character; [`TsqlError::TooLong`] past 128 UTF-16 code
/// units (`sysname` is `nvarchar(128)`).
pub fn quote_ident(name: &str, what: &'static str) -> Result<String, TsqlError> {
    if name.contains('\0') {
        return Err(TsqlError::Nul { what });
    }
    let len = name.encode_utf16().count();
    if len > 128 {
        return Err(TsqlError::TooLong { what, len });
    }
    Ok(format!("[{}]", name.replace(']', "]]")))
}

/// An `N'…'` Unicode string literal with every `'` doubled.
///
/// # Errors
/// [`TsqlError::Nul`] for a NUL character.
pub fn quote_nstring(s: &str, what: &'static str) -> Result<String, TsqlError> {
    if s.contains('\0') {
        return Err(TsqlError::Nul { what });
    }
    Ok(format!("N'{}'", s.replace('\'', "''")))
}

/// One row of `RESTORE HEADERONLY`: the columns this engine uses.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HeaderRow {
    /// `Position`: the backup set's number in the media (`WITH FILE =`).
    pub position: i32,
    /// `BackupType`: 1 full database, 2 log, 4 file, 5 differential database,
    /// 6 differential file, 7 partial, 8 differential partial.
    pub backup_type: i32,
    /// `BackupName`.
    pub backup_name: Option<String>,
    /// `DatabaseName`: the database as it was backed up.
    pub database_name: String,
    /// `ServerName`: `HOST` or `HOST\INSTANCE` that took the backup.
    pub server_name: String,
    /// `SoftwareVersionMajor`, `SoftwareVersionMinor`, `SoftwareVersionBuild`.
    pub software_version: (i32, i32, i32),
    /// `DatabaseVersion`: internal version (611 = 2005 … 998 = 2025).
    pub database_version: i32,
    /// `HasBackupChecksums`.
    pub has_checksums: bool,
    /// `IsDamaged`.
    pub is_damaged: bool,
    /// `IsCopyOnly`.
    pub is_copy_only: bool,
    /// `BackupSetGUID`, as text (used only to name the restored database).
    pub backup_set_guid: Option<String>,
}

impl HeaderRow {
    /// `SoftwareVersionMajor.Minor.Build`, as the native reader's `ProductVersion` prints.
    pub fn product_version(&self) -> String {
        let (a, b, c) = self.software_version;
        format!("{a}.{b}.{c}")
    }
}

/// What `BackupType` code `t` means (RESTORE HEADERONLY docs).
pub fn backup_type_name(t: i32) -> &'static str {
    match t {
        1 => "full database backup",
        2 => "transaction log backup",
        4 => "file backup",
        5 => "differential database backup",
        6 => "differential file backup",
        7 => "partial backup",
        8 => "differential partial backup",
        _ => "backup of an unknown type",
    }
}

/// The backup set chosen for the restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChosenSet {
    /// Index into the header rows.
    pub index: usize,
    /// Its `Position` (`WITH FILE =`).
    pub position: i32,
    /// A note for the report when the choice was not the only possibility.
    pub note: Option<String>,
}

/// Picks the backup set to restore: the one at `Position` `wanted` (`--backup-set`), else
/// the full database backup (`BackupType` 1) with the highest `Position`, i.e. the most
/// recent one appended to the media (what the native reader takes too).
///
/// # Errors
/// [`TsqlError::Invalid`] when `wanted` is not there or not a full database backup, when
/// the media holds no full database backup (naming what it holds), or when the chosen
/// set is marked damaged.
pub fn choose_backup_set(headers: &[HeaderRow], wanted: Option<i32>) -> Result<ChosenSet, TsqlError> {
    let full: Vec<(usize, &HeaderRow)> = headers.iter().enumerate().filter(|(_, h)| h.backup_type == 1).collect();
    if let Some(n) = wanted {
        let Some((index, h)) = headers.iter().enumerate().find(|(_, h)| h.position == n) else {
            let have: Vec<String> = headers.iter().map(|h| h.position.to_string()).collect();
            return Err(TsqlError::Invalid(format!(
                "there is no backup set {n} on the media: it holds backup set(s) {}",
                have.join(", ")
            )));
        };
        if h.backup_type != 1 {
            return Err(TsqlError::Invalid(format!(
                "backup set {n} is a {}, not a full database backup",
                backup_type_name(h.backup_type)
            )));
        }
        if h.is_damaged {
            return Err(TsqlError::Invalid(format!(
                "backup set {} of database {:?} is marked damaged (taken WITH CONTINUE_AFTER_ERROR)",
                h.position, h.database_name
            )));
        }
        let note = (headers.len() > 1)
            .then(|| format!("the media holds {} backup sets; set {n} was restored as asked", headers.len()));
        return Ok(ChosenSet { index, position: n, note });
    }
    let Some(&(index, h)) = full.iter().max_by_key(|(_, h)| h.position) else {
        let kinds: Vec<String> =
            headers.iter().map(|h| format!("set {}: {}", h.position, backup_type_name(h.backup_type))).collect();
        return Err(TsqlError::Invalid(if kinds.is_empty() {
            "RESTORE HEADERONLY found no backup set".into()
        } else {
            format!("the media holds no full database backup ({}); only full backups can be migrated", kinds.join(", "))
        }));
    };
    if h.is_damaged {
        return Err(TsqlError::Invalid(format!(
            "backup set {} of database {:?} is marked damaged (taken WITH CONTINUE_AFTER_ERROR)",
            h.position, h.database_name
        )));
    }
    let note = (headers.len() > 1).then(|| {
        format!(
            "the media holds {} backup sets ({} full); set {} ({:?}), the last full database backup, was restored",
            headers.len(),
            full.len(),
            h.position,
            h.database_name
        )
    });
    Ok(ChosenSet { index, position: h.position, note })
}

/// Kind of a database file in `RESTORE FILELISTONLY` (`Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// `D`: rows data file.
    Data,
    /// `L`: transaction log.
    Log,
    /// `F`: full-text catalog (SQL Server 2005 backups): a directory.
    FullText,
    /// `S`: FILESTREAM, FileTable or In-Memory OLTP container: a directory.
    Container,
}

impl FileKind {
    /// The kind for a `Type` letter.
    ///
    /// # Errors
    /// [`TsqlError::Invalid`] for any other letter.
    pub fn from_code(code: &str) -> Result<FileKind, TsqlError> {
        match code.trim() {
            "D" => Ok(FileKind::Data),
            "L" => Ok(FileKind::Log),
            "F" => Ok(FileKind::FullText),
            "S" => Ok(FileKind::Container),
            other => Err(TsqlError::Invalid(format!("RESTORE FILELISTONLY file type {other:?} is not known"))),
        }
    }
}

/// One row of `RESTORE FILELISTONLY`: the columns this engine uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// `LogicalName`: what `MOVE` names; taken from the backup, so untrusted.
    pub logical_name: String,
    /// `PhysicalName`: the path at backup time (reported, never used as a target).
    pub physical_name: String,
    /// `Type`.
    pub kind: FileKind,
    /// `FileID`: 1 is the primary data file.
    pub file_id: i64,
}

/// One `MOVE` clause: the logical name as the backup has it, and our target path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    /// The file's logical name (quoted as a literal in the statement).
    pub logical_name: String,
    /// The path on the server the file is restored to.
    pub target: String,
}

/// Longest stem kept from a logical name in a file name.
const MAX_STEM: usize = 48;

/// A file-name stem from an untrusted logical name: ASCII letters, digits, `_` and `-`
/// are kept, every other character becomes `_`, at most 48 characters; `file` when
/// nothing is left. The result can hold no path separator, dot, quote, drive letter or
/// reserved device name of its own (it is always prefixed by the database name).
pub fn sanitize_stem(logical: &str) -> String {
    let s: String = logical
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' })
        .take(MAX_STEM)
        .collect();
    if s.chars().all(|c| c == '_') { "file".into() } else { s }
}

/// The separator of server paths under `dir`: `\` for a Windows path (a drive letter or
/// a UNC prefix, or backslashes and no slash), `/` otherwise (SQL Server on Linux).
pub fn server_separator(dir: &str) -> char {
    let b = dir.as_bytes();
    let drive = b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':';
    if drive || dir.starts_with("\\\\") || (dir.contains('\\') && !dir.contains('/')) { '\\' } else { '/' }
}

/// `dir` joined with `name` with the server's separator; trailing separators of `dir`
/// are not doubled.
pub fn join_server_path(dir: &str, name: &str) -> String {
    let sep = server_separator(dir);
    let trimmed = dir.trim_end_matches(['/', '\\']);
    let base = if trimmed.is_empty() && dir.starts_with('/') { "" } else { trimmed };
    format!("{base}{sep}{name}")
}

/// The `MOVE` target of every file: `<data_dir>/<db>_<stem>.mdf` for the primary data
/// file (`FileID` 1), `.ndf` for other data files, `<log_dir>/<db>_<stem>.ldf` for logs,
/// and a directory `<data_dir>/<db>_<stem>` for full-text catalogs and containers. Stems
/// come from [`sanitize_stem`]; when two files would get the same name (compared without
/// case, as Windows file systems do) the later one gets `_<FileID>` appended.
///
/// `db` is the restored database's name, which we generate (`bak2pg_<hex>`), so every
/// target is unique to this restore.
///
/// # Errors
/// [`TsqlError::Invalid`] for an empty file list or a directory that is empty.
pub fn move_targets(db: &str, files: &[FileRow], data_dir: &str, log_dir: &str) -> Result<Vec<Move>, TsqlError> {
    if files.is_empty() {
        return Err(TsqlError::Invalid("RESTORE FILELISTONLY listed no files".into()));
    }
    if data_dir.trim().is_empty() || log_dir.trim().is_empty() {
        return Err(TsqlError::Invalid("the data and log directories for the restored files must be given".into()));
    }
    let db_stem = sanitize_stem(db);
    let mut used: HashSet<String> = HashSet::new();
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let (dir, ext) = match f.kind {
            FileKind::Data if f.file_id == 1 => (data_dir, ".mdf"),
            FileKind::Data => (data_dir, ".ndf"),
            FileKind::Log => (log_dir, ".ldf"),
            FileKind::FullText | FileKind::Container => (data_dir, ""),
        };
        let stem = sanitize_stem(&f.logical_name);
        let mut name = format!("{db_stem}_{stem}{ext}");
        let mut n = 0;
        while !used.insert(name.to_ascii_lowercase()) {
            n += 1;
            let suffix = if n == 1 { format!("_{}", f.file_id) } else { format!("_{}_{n}", f.file_id) };
            name = format!("{db_stem}_{stem}{suffix}{ext}");
        }
        out.push(Move { logical_name: f.logical_name.clone(), target: join_server_path(dir, &name) });
    }
    Ok(out)
}

fn from_disks(disks: &[String]) -> Result<String, TsqlError> {
    if disks.is_empty() {
        return Err(TsqlError::Invalid("no backup file to restore from".into()));
    }
    let parts: Result<Vec<String>, TsqlError> =
        disks.iter().map(|d| Ok(format!("DISK = {}", quote_nstring(d, "backup file path")?))).collect();
    Ok(format!("FROM {}", parts?.join(", ")))
}

/// `RESTORE HEADERONLY FROM DISK = N'…'[, DISK = N'…']` (every stripe of the media set).
///
/// # Errors
/// No disk, or a path with a NUL character.
pub fn restore_headeronly(disks: &[String]) -> Result<String, TsqlError> {
    Ok(format!("RESTORE HEADERONLY {}", from_disks(disks)?))
}

/// `RESTORE FILELISTONLY FROM DISK = N'…' WITH FILE = <position>`.
///
/// # Errors
/// As [`restore_headeronly`].
pub fn restore_filelistonly(disks: &[String], position: i32) -> Result<String, TsqlError> {
    Ok(format!("RESTORE FILELISTONLY {} WITH FILE = {position}", from_disks(disks)?))
}

/// `RESTORE DATABASE [db] FROM DISK = … WITH FILE = n, MOVE … TO …, REPLACE, RECOVERY[,
/// CHECKSUM], STATS = s`, one clause per line.
///
/// `REPLACE` is safe here because `db` is a fresh name of ours (the caller checks
/// `DB_ID` first) and every target file name carries it; it only lets a leftover file
/// of an earlier crashed run with the same random name be overwritten.
///
/// # Errors
/// As [`quote_ident`] and [`quote_nstring`]; no disk or no `MOVE`.
pub fn restore_database(
    db: &str,
    disks: &[String],
    position: i32,
    moves: &[Move],
    checksum: bool,
    stats_percent: u8,
) -> Result<String, TsqlError> {
    if moves.is_empty() {
        return Err(TsqlError::Invalid("no MOVE clause: every file must be relocated".into()));
    }
    let from = from_disks(disks)?;
    let mut sql = format!("RESTORE DATABASE {}\n{from}\nWITH FILE = {position}", quote_ident(db, "database name")?);
    for m in moves {
        let _ = write!(
            sql,
            ",\n    MOVE {} TO {}",
            quote_nstring(&m.logical_name, "logical file name")?,
            quote_nstring(&m.target, "restore target path")?
        );
    }
    sql.push_str(",\n    REPLACE, RECOVERY");
    if checksum {
        sql.push_str(", CHECKSUM");
    }
    let _ = write!(sql, ", STATS = {}", stats_percent.clamp(1, 100));
    Ok(sql)
}

/// Drops database `db` if it exists: first forcing other sessions out
/// (`SET SINGLE_USER WITH ROLLBACK IMMEDIATE`) when it is online, since a database still
/// restoring or recovering cannot be altered but can be dropped.
///
/// # Errors
/// As [`quote_ident`] and [`quote_nstring`].
pub fn drop_database(db: &str) -> Result<String, TsqlError> {
    let q = quote_ident(db, "database name")?;
    let lit = quote_nstring(db, "database name")?;
    Ok(format!(
        "IF DB_ID({lit}) IS NOT NULL\nBEGIN\n    IF CAST(DATABASEPROPERTYEX({lit}, 'Status') AS nvarchar(60)) = N'ONLINE'\n        \
         ALTER DATABASE {q} SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n    DROP DATABASE {q};\nEND"
    ))
}

/// `SELECT CASE WHEN DB_ID(N'db') IS NULL THEN 0 ELSE 1 END`: whether `db` exists.
///
/// # Errors
/// As [`quote_nstring`].
pub fn database_exists(db: &str) -> Result<String, TsqlError> {
    let lit = quote_nstring(db, "database name")?;
    Ok(format!("SELECT CAST(CASE WHEN DB_ID({lit}) IS NULL THEN 0 ELSE 1 END AS int) AS present"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fr(logical: &str, kind: FileKind, id: i64) -> FileRow {
        FileRow { logical_name: logical.into(), physical_name: String::new(), kind, file_id: id }
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_ident("Order Details", "t").unwrap(), "[Order Details]");
        assert_eq!(quote_ident("a]b", "t").unwrap(), "[a]]b]");
        assert_eq!(quote_ident("]]", "t").unwrap(), "[]]]]]");
        assert_eq!(quote_nstring("O'Brien", "s").unwrap(), "N'O''Brien'");
        assert_eq!(quote_nstring("", "s").unwrap(), "N''");
        assert_eq!(quote_nstring("a\0b", "s"), Err(TsqlError::Nul { what: "s" }));
        assert_eq!(quote_ident("a\0", "t"), Err(TsqlError::Nul { what: "t" }));
        assert!(quote_ident(&"x".repeat(128), "t").is_ok());
        assert_eq!(quote_ident(&"x".repeat(129), "t"), Err(TsqlError::TooLong { what: "t", len: 129 }));
        // 128 characters outside the BMP are 256 UTF-16 units: too long for sysname.
        assert!(quote_ident(&"😀".repeat(64), "t").is_ok());
        assert!(quote_ident(&"😀".repeat(65), "t").is_err());
    }

    /// Every `'` inside a literal is doubled, so the literal ends exactly where we end it:
    /// scanning the statement as T-SQL's lexer does finds our literals and nothing else.
    fn literals(sql: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut chars = sql.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            s.push('\'');
                        }
                        Some('\'') => break,
                        Some(c) => s.push(c),
                        None => panic!("unterminated literal in {sql}"),
                    }
                }
                out.push(s);
            }
        }
        out
    }

    #[test]
    fn sanitized_stems() {
        assert_eq!(sanitize_stem("Northwind_log"), "Northwind_log");
        assert_eq!(sanitize_stem("..\\..\\Windows\\System32\\x"), "______Windows_System32_x");
        assert_eq!(sanitize_stem("/etc/passwd"), "_etc_passwd");
        assert_eq!(sanitize_stem("C:evil"), "C_evil");
        assert_eq!(sanitize_stem("Quản lý"), "Qu_n_l_");
        assert_eq!(sanitize_stem(""), "file");
        assert_eq!(sanitize_stem("'''"), "file");
        assert_eq!(sanitize_stem(&"a".repeat(300)).len(), 48);
    }

    #[test]
    fn separators_and_joins() {
        assert_eq!(join_server_path("/var/opt/mssql/data/", "x.mdf"), "/var/opt/mssql/data/x.mdf");
        assert_eq!(join_server_path("/var/opt/mssql/data", "x.mdf"), "/var/opt/mssql/data/x.mdf");
        assert_eq!(join_server_path("C:\\Data\\", "x.mdf"), "C:\\Data\\x.mdf");
        assert_eq!(join_server_path("D:", "x.mdf"), "D:\\x.mdf");
        assert_eq!(join_server_path("\\\\nas\\share", "x.mdf"), "\\\\nas\\share\\x.mdf");
        assert_eq!(join_server_path("/", "x.mdf"), "/x.mdf");
    }

    #[test]
    fn hostile_logical_names_stay_inside_the_data_directory() {
        let files = [
            fr("x'; DROP DATABASE master; --", FileKind::Data, 1),
            fr("..\\..\\..\\Windows\\win.ini", FileKind::Data, 3),
            fr("../../etc/cron.d/evil", FileKind::Data, 4),
            fr("a]b\r\nGO\r\nSHUTDOWN", FileKind::Data, 5),
            fr("NUL", FileKind::Data, 6),
            fr("log'", FileKind::Log, 2),
            fr("fs", FileKind::Container, 65537),
        ];
        let moves =
            move_targets("bak2pg_0011223344556677", &files, "/var/opt/mssql/data", "/var/opt/mssql/log/").unwrap();
        let targets: Vec<&str> = moves.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(
            targets,
            [
                "/var/opt/mssql/data/bak2pg_0011223344556677_x___DROP_DATABASE_master__--.mdf",
                "/var/opt/mssql/data/bak2pg_0011223344556677__________Windows_win_ini.ndf",
                "/var/opt/mssql/data/bak2pg_0011223344556677_______etc_cron_d_evil.ndf",
                "/var/opt/mssql/data/bak2pg_0011223344556677_a_b__GO__SHUTDOWN.ndf",
                "/var/opt/mssql/data/bak2pg_0011223344556677_NUL.ndf",
                "/var/opt/mssql/log/bak2pg_0011223344556677_log_.ldf",
                "/var/opt/mssql/data/bak2pg_0011223344556677_fs",
            ]
        );
        for t in &targets {
            let name = t.rsplit('/').next().unwrap();
            assert!(name.starts_with("bak2pg_0011223344556677_"), "{t}");
            assert!(!name.contains(['\\', '\'', ':', ' ']), "{t}");
            assert_eq!(name.matches('.').count(), usize::from(!t.ends_with("_fs")), "{t}");
        }
        let sql = restore_database("bak2pg_0011223344556677", &["/b/x.bak".into()], 1, &moves, false, 10).unwrap();
        // The statement's literals are exactly the path and the MOVE pairs, each name
        // intact: nothing of a hostile name escaped its literal.
        let mut expected = vec!["/b/x.bak".to_string()];
        for (f, m) in files.iter().zip(&moves) {
            expected.push(f.logical_name.clone());
            expected.push(m.target.clone());
        }
        assert_eq!(literals(&sql), expected);
        assert!(sql.contains("MOVE N'x''; DROP DATABASE master; --' TO"));
        assert!(sql.contains("MOVE N'log''' TO N'/var/opt/mssql/log/bak2pg_0011223344556677_log_.ldf'"));
    }

    #[test]
    fn colliding_stems_get_the_file_id() {
        let files = [fr("data 1", FileKind::Data, 1), fr("data_1", FileKind::Data, 3), fr("DATA_1", FileKind::Data, 4)];
        let moves = move_targets("db", &files, "C:\\SQL\\Data", "C:\\SQL\\Log").unwrap();
        let t: Vec<&str> = moves.iter().map(|m| m.target.as_str()).collect();
        assert_eq!(
            t,
            ["C:\\SQL\\Data\\db_data_1.mdf", "C:\\SQL\\Data\\db_data_1.ndf", "C:\\SQL\\Data\\db_DATA_1_4.ndf"]
        );
        let files = [fr("a", FileKind::Data, 3), fr("a", FileKind::Data, 3), fr("a", FileKind::Data, 3)];
        let t: Vec<String> = move_targets("db", &files, "/d", "/l").unwrap().into_iter().map(|m| m.target).collect();
        assert_eq!(t, ["/d/db_a.ndf", "/d/db_a_3.ndf", "/d/db_a_3_2.ndf"]);
        assert!(move_targets("db", &[], "/d", "/l").is_err());
        assert!(move_targets("db", &files, "", "/l").is_err());
    }

    #[test]
    fn restore_statement_shape() {
        let moves = [
            Move { logical_name: "Hotel".into(), target: "/d/x_Hotel.mdf".into() },
            Move { logical_name: "Hotel_log".into(), target: "/l/x_Hotel_log.ldf".into() },
        ];
        let sql = restore_database("x", &["/b/a.bak".into(), "/b/b.bak".into()], 2, &moves, true, 5).unwrap();
        assert_eq!(
            sql,
            "RESTORE DATABASE [x]\nFROM DISK = N'/b/a.bak', DISK = N'/b/b.bak'\nWITH FILE = 2,\n    \
             MOVE N'Hotel' TO N'/d/x_Hotel.mdf',\n    MOVE N'Hotel_log' TO N'/l/x_Hotel_log.ldf',\n    \
             REPLACE, RECOVERY, CHECKSUM, STATS = 5"
        );
        let sql = restore_database("x", &["/b/a.bak".into()], 1, &moves, false, 0).unwrap();
        assert!(sql.ends_with("REPLACE, RECOVERY, STATS = 1"), "{sql}");
        assert!(restore_database("x", &[], 1, &moves, false, 10).is_err());
        assert!(restore_database("x", &["/b".into()], 1, &[], false, 10).is_err());
        assert_eq!(
            restore_headeronly(&["/b/it's.bak".into()]).unwrap(),
            "RESTORE HEADERONLY FROM DISK = N'/b/it''s.bak'"
        );
        assert_eq!(
            restore_filelistonly(&["/b/a.bak".into()], 3).unwrap(),
            "RESTORE FILELISTONLY FROM DISK = N'/b/a.bak' WITH FILE = 3"
        );
        assert!(restore_headeronly(&["/b/a\0.bak".into()]).is_err());
    }

    #[test]
    fn drop_statement_quotes_both_ways() {
        let sql = drop_database("we]ird'db").unwrap();
        assert_eq!(
            sql,
            "IF DB_ID(N'we]ird''db') IS NOT NULL\nBEGIN\n    IF CAST(DATABASEPROPERTYEX(N'we]ird''db', 'Status') AS \
             nvarchar(60)) = N'ONLINE'\n        ALTER DATABASE [we]]ird'db] SET SINGLE_USER WITH ROLLBACK IMMEDIATE;\n    \
             DROP DATABASE [we]]ird'db];\nEND"
        );
        assert_eq!(
            database_exists("a'b").unwrap(),
            "SELECT CAST(CASE WHEN DB_ID(N'a''b') IS NULL THEN 0 ELSE 1 END AS int) AS present"
        );
    }

    /// What RESTORE FILELISTONLY would list for a fixture, from the backup's own file list
    /// (the `SFIN` records, see mssql-backup's header module).
    fn fixture_files(name: &str) -> Option<Vec<FileRow>> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bak").join(name);
        let backup = mssql_backup::Backup::open(&[path.as_path()]).ok()?;
        let files = backup
            .description()
            .files
            .iter()
            .map(|f| FileRow {
                logical_name: f.logical_name.clone(),
                physical_name: f.physical_name.clone(),
                kind: match f.file_type {
                    mssql_backup::FileType::Data => FileKind::Data,
                    mssql_backup::FileType::Log => FileKind::Log,
                    other => panic!("file type {other:?}"),
                },
                file_id: i64::from(f.file_id),
            })
            .collect();
        Some(files)
    }

    #[test]
    fn move_clauses_for_the_fixtures() {
        // Three data files (ids 1, 3, 4) and a log, logical names of mixed case.
        let files = fixture_files("northwind-sql2014-multifile.bak").unwrap();
        let moves =
            move_targets("bak2pg_00112233aabbccdd", &files, "/var/opt/mssql/data/", "/var/opt/mssql/data/").unwrap();
        let sql = restore_database(
            "bak2pg_00112233aabbccdd",
            &["/var/opt/mssql/backup/bak2pg-x-1.bak".into()],
            1,
            &moves,
            false,
            10,
        )
        .unwrap();
        assert_eq!(
            sql,
            "RESTORE DATABASE [bak2pg_00112233aabbccdd]\n\
             FROM DISK = N'/var/opt/mssql/backup/bak2pg-x-1.bak'\n\
             WITH FILE = 1,\n    \
             MOVE N'Northwind' TO N'/var/opt/mssql/data/bak2pg_00112233aabbccdd_Northwind.mdf',\n    \
             MOVE N'Northwind_1' TO N'/var/opt/mssql/data/bak2pg_00112233aabbccdd_Northwind_1.ndf',\n    \
             MOVE N'Northwind_2' TO N'/var/opt/mssql/data/bak2pg_00112233aabbccdd_Northwind_2.ndf',\n    \
             MOVE N'Northwind_log' TO N'/var/opt/mssql/data/bak2pg_00112233aabbccdd_Northwind_log.ldf',\n    \
             REPLACE, RECOVERY, STATS = 10"
        );
        // Logical names that differ from the database name, a Windows server.
        let files = fixture_files("hotel-management-time-sql2017.bak").unwrap();
        let moves = move_targets("bak2pg_1", &files, "D:\\SQL\\Data", "L:\\SQL\\Log\\").unwrap();
        let t: Vec<(&str, &str)> = moves.iter().map(|m| (m.logical_name.as_str(), m.target.as_str())).collect();
        assert_eq!(
            t,
            [
                ("HotelReservation", "D:\\SQL\\Data\\bak2pg_1_HotelReservation.mdf"),
                ("HotelReservation_log", "L:\\SQL\\Log\\bak2pg_1_HotelReservation_log.ldf"),
            ]
        );
        // Every fixture: one MOVE per file, the primary data file .mdf, one .ldf, targets unique.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bak");
        let mut seen = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().into_string().unwrap();
            if !name.ends_with(".bak") {
                continue;
            }
            // The negative fixtures (not backups) have no file list.
            let Some(files) = fixture_files(&name) else { continue };
            let moves = move_targets("bak2pg_f", &files, "/d", "/l").unwrap();
            assert_eq!(moves.len(), files.len(), "{name}");
            assert_eq!(moves.iter().filter(|m| m.target.ends_with(".mdf")).count(), 1, "{name}");
            assert_eq!(
                moves.iter().filter(|m| m.target.starts_with("/l/") && m.target.ends_with(".ldf")).count(),
                1,
                "{name}"
            );
            let unique: HashSet<String> = moves.iter().map(|m| m.target.to_lowercase()).collect();
            assert_eq!(unique.len(), moves.len(), "{name}");
            seen += 1;
        }
        assert!(seen >= 16, "{seen} fixtures");
    }

    fn h(position: i32, backup_type: i32) -> HeaderRow {
        HeaderRow { position, backup_type, database_name: "Db".into(), ..Default::default() }
    }

    #[test]
    fn backup_set_choice() {
        let one = choose_backup_set(&[h(1, 1)], None).unwrap();
        assert_eq!(one, ChosenSet { index: 0, position: 1, note: None });
        // A full backup, a log backup, a later full backup, a differential: the last full.
        let c = choose_backup_set(&[h(1, 1), h(2, 2), h(3, 1), h(4, 5)], None).unwrap();
        assert_eq!((c.index, c.position), (2, 3));
        assert!(c.note.unwrap().contains("4 backup sets (2 full); set 3"));
        let e = choose_backup_set(&[h(1, 2), h(2, 5)], None).unwrap_err().to_string();
        assert!(e.contains("set 1: transaction log backup, set 2: differential database backup"), "{e}");
        assert!(choose_backup_set(&[], None).is_err());
        let mut d = h(1, 1);
        d.is_damaged = true;
        assert!(choose_backup_set(&[d], None).unwrap_err().to_string().contains("damaged"));
    }

    #[test]
    fn file_kinds() {
        assert_eq!(FileKind::from_code("D").unwrap(), FileKind::Data);
        assert_eq!(FileKind::from_code("L ").unwrap(), FileKind::Log);
        assert_eq!(FileKind::from_code("S").unwrap(), FileKind::Container);
        assert_eq!(FileKind::from_code("F").unwrap(), FileKind::FullText);
        assert!(FileKind::from_code("X").is_err());
    }
}
