//! What `RESTORE HEADERONLY` and `RESTORE FILELISTONLY` would say about a backup, read
//! from its bytes: database, server, backup type and dates, LSNs, versions, the media set,
//! and one [`BackupFile`] per database file.
//!
//! # Where the facts are
//!
//! - The MTF blocks (Microsoft Tape Format 1.00a): `TAPE` (media), `SSET` (backup set:
//!   name, description, user, kind bits, date, time zone), `VOLB` (machine).
//! - SQL Server's `MSCI` block, written before the data, and its copy in the `MSLS` block,
//!   written after the log: each has one `MQCI` stream holding a sequence of records, each
//!   a 4-byte ASCII tag, a `u32` total length (tag and length included; the record after
//!   it starts that many bytes on), then a body. Seen: `SCIN` (set, database, server; one),
//!   `SFGI` (one per filegroup), `SFIN` (one per database file). Variable-length UTF-16LE
//!   strings sit at the record's end, referenced from the body by (`u16` length in bytes,
//!   `u16` offset from the record start) pairs. The records tile the stream exactly in all
//!   16 fixtures. The `MSLS` copy is the *closing* copy. In `SCIN` the two copies differ
//!   only in the finish date (zero in the opening copy), the backup size (an estimate in
//!   the opening copy) and, from SQL Server 2019 on, the LSNs; in `SFIN` in per-file page
//!   counts and the differential base the backup sets. This module reads the closing copy
//!   when there is one.
//!
//! # How the layout was established
//!
//! The 13 uncompressed fixtures of `shared/fixtures/MANIFEST.md` (SQL Server 2005 to 2025)
//! and the 3 compressed ones (decompressed outside the repository for this analysis) were
//! compared byte by byte; every offset below holds on all 16 unless its note says
//! otherwise. Each field's documentation gives its offset and evidence. Offsets in `SCIN`,
//! `SFGI`, `SFIN` count from the record's tag; offsets in MTF blocks from the block start.
//!
//! | field | where | evidence (16 fixtures unless noted) |
//! |---|---|---|
//! | database name | `SCIN` string pair at 0x68 | = MANIFEST |
//! | server name | `SCIN` string pair at 0x6C | = MANIFEST (`HOST\INSTANCE` or `HOST`) |
//! | product version | `SCIN` 0x18 `u16` build, 0x1A minor, 0x1B major | = MANIFEST |
//! | database version | `SCIN` 0x5E `u16` | = MANIFEST and boot page `dbi_version` |
//! | compatibility level | `SCIN` 0x5B `u8` | 80..170, each the version's native level or an upgraded database's |
//! | backup type | `SCIN` 0x57 `u8` | `'D'` in all 16 full backups; other letters by analogy with `msdb.dbo.backupset.type` (unverified) |
//! | first / last / checkpoint / database-backup LSN | `SCIN` 0x20 / 0x2A / 0x34 / 0x3E | checkpoint = boot page `dbi_checkptLSN` of the last boot-page copy (15 of 15 with a boot page) |
//! | start date | `SCIN` 0x4D, = `SSET` 88 | = MANIFEST; local time, UTC offset at `SSET` 95: the UTC `FILETIME` at closing `SFIN` 0x106, shifted by it, lies between start and finish (16/16) |
//! | finish date | closing `SCIN` 0x52 | zero in the opening copy; 0–2 s after the start |
//! | database creation date | `SCIN` 0x48 | = the `datetime` at boot page offset 140 within 9 s in 10 of 15; later in 5 (restored or attached databases); not confirmed |
//! | backup size | closing `SCIN` 0x60 `u64` | file offset of `MSLS` minus one soft filemark (2008+), the offset itself (2005) |
//! | collation | `SCIN` 0xD8, 5 bytes | TDS collation; LCID = `SCIN` 0x74 (UnicodeLocaleId) |
//! | family GUID | `SCIN` 0xE0 | one value shared by the four Northwinds created on SQL Server 2000 |
//! | backup-set GUID | `SSET` 100 | = the differential-base GUID of every data file's closing `SFIN` (0xAA) |
//! | media set GUID, family count, family number | `TAPE` stream `RAID` +0, +20, +24 | count 2 in the three `*-stripe-partial` fixtures, 1 elsewhere; number 2 only in `quanlymypham` |
//! | file id, type, filegroup id | `SFIN` 0x14, 0x1C, 0x24 `u32` | = MANIFEST ids; type 1 data, 2 log; filegroup 1 (`PRIMARY`) / 0 (log) |
//! | logical / physical name | `SFIN` string pairs 0x30 / 0x34 | = MANIFEST |
//! | size, max size | `SFIN` 0x28 `u64`, 0x56 `u64` | 8 MiB defaults of 2016+; max 2^45−8192 (unlimited) or 2^41 (2 TB) |
//! | file GUID | `SFIN` 0xBA | found in page 0 (file header) of the same file id |
//! | filegroup id, name | `SFGI` 0x0C `u32`, string pair 0x10 | `PRIMARY` = 1 |
//!
//! Not established (no fixture or no oracle shows them), hence not reported: `WITH
//! CHECKSUM` (`HasBackupChecksums`; none of the fixtures was taken with it), the
//! database's page-verify option (the page module reads it from page headers), the
//! encryption algorithm and thumbprint of `BACKUP … WITH ENCRYPTION`, the recovery model.
//! See [`TdeKeyDescriptor`] for what is detected of TDE, and how.

mod model;
mod values;

pub use model::{
    BackupDescription, BackupFile, BackupHeader, BackupLsns, BackupType, FileType, MediaFamily, MediaSet,
    TdeKeyDescriptor,
};
pub use values::{DatabaseCollation, Guid, Lsn, ProductVersion, Timestamp};

use crate::mtf::{Block, MtfImage, SetSpan};
use crate::source::ByteSource;
use crate::{Error, ErrorKind, Result};

/// Checks that `headers`, one per file given, are every family of one backup: the same
/// backup set and media set, each family number from 1 to the family count once. A
/// striped backup (`BACKUP … TO DISK = a, DISK = b`) writes each extent to one family
/// only, so a missing family means missing pages.
///
/// The backup-set GUID identifies the set (see [`BackupHeader::backup_set_guid`]); that
/// the media-set GUID is the same in every family of a set follows from its name and is
/// not verified (no fixture pairs two files of one set).
///
/// # Errors
/// - [`ErrorKind::Incomplete`] naming the missing family numbers.
/// - [`ErrorKind::Corrupt`] when the files are not families of one backup (different
///   backup sets, media sets or family counts) or a family is given twice.
pub fn check_media_set(headers: &[&BackupHeader]) -> Result<()> {
    let Some(first) = headers.first() else {
        return Err(Error::new(ErrorKind::Io, "no backup file given"));
    };
    let (count, _) = first.family_position();
    let set_guid = |h: &BackupHeader| h.media.family.map(|f| f.media_set_guid);
    let mut seen = vec![false; usize::from(count)];
    for (i, h) in headers.iter().enumerate() {
        let (c, n) = h.family_position();
        if h.backup_set_guid != first.backup_set_guid || set_guid(h) != set_guid(first) || c != count {
            return Err(Error::corrupt(format!(
                "file {} is not part of the same backup as file 1 (backup set {} of a media set of {c} families, \
                 against backup set {} of {count})",
                i + 1,
                h.backup_set_guid,
                first.backup_set_guid
            )));
        }
        // `read` guarantees 1 <= n <= c; a header built otherwise is refused, not indexed.
        let slot = usize::from(n).checked_sub(1).and_then(|i| seen.get_mut(i)).ok_or_else(|| {
            Error::corrupt(format!("file {} claims family {n} of a media set of {c} families", i + 1))
        })?;
        if std::mem::replace(slot, true) {
            return Err(Error::corrupt(format!("family {n} of the media set is given twice (file {})", i + 1)));
        }
    }
    let missing: Vec<String> =
        seen.iter().enumerate().filter(|(_, s)| !**s).map(|(i, _)| (i + 1).to_string()).collect();
    if !missing.is_empty() {
        return Err(Error::new(
            ErrorKind::Incomplete,
            format!(
                "the backup of database {:?} was striped over a media set of {count} families and family {} \
                 is missing: the files given hold only part of the database",
                first.database_name,
                missing.join(", ")
            ),
        ));
    }
    Ok(())
}

/// Reads the header and file list of every backup set of `image`, in file order (see
/// [`MtfImage::sets`]).
///
/// # Errors
/// As [`read`]; [`ErrorKind::Corrupt`] when the image has no `SSET` block.
pub fn read_sets(image: &MtfImage, src: &dyn ByteSource, compressed: bool) -> Result<Vec<BackupDescription>> {
    let sets = image.sets();
    if sets.is_empty() {
        return Err(Error::corrupt("no SSET block: the backup header cannot be read"));
    }
    sets.into_iter().map(|span| read(image, src, compressed, span)).collect()
}

/// Reads the header and file list of the backup set `span` of `image`.
///
/// `src` is what `image` was parsed from (the file, or the decompressed stream of a
/// compressed backup); `compressed` says which, for [`BackupHeader::compressed`]. Only the
/// descriptor blocks, one `MQCI` stream and, for the TDE scan, the bytes before the first
/// database page are read (a few KiB in every fixture).
///
/// Differential, log and other backups are described like full ones; call
/// [`BackupHeader::ensure_restorable`] to refuse them.
///
/// # Errors
/// - [`ErrorKind::Corrupt`] when a block the header needs is missing (`SSET`, `VOLB`,
///   `MSCI` or its `MQCI` stream, the `SCIN` record), or a record or field is malformed:
///   a record length below 8 or past the stream, a field or string past its record, an
///   impossible date, duplicate file ids, a family number outside the family count. The
///   error's offset is the field's (or record's) first byte; the message names the record
///   and its offset.
/// - [`ErrorKind::Truncated`] / [`ErrorKind::Io`] from `src`.
pub fn read(image: &MtfImage, src: &dyn ByteSource, compressed: bool, span: SetSpan) -> Result<BackupDescription> {
    let stream = src.is_decompressed();
    let set = SetBlocks::find(image, span)?;

    let tape = Fields::block(set.tape, stream);
    let sset = Fields::block(set.sset, stream);
    let volb = Fields::block(set.volb, stream);

    // The closing copy holds the final values; the opening one serves only without it.
    let closing = set.msls.is_some();
    let config = Mqci::read(set.msls.unwrap_or(set.msci), src)?;
    let records = config.records()?;

    let scin = match records.iter().filter(|r| &r.tag == b"SCIN").collect::<Vec<_>>()[..] {
        [one] => one,
        [] => return Err(config.error("no SCIN record in the MQCI stream")),
        [_, second, ..] => return Err(second.fields.error(0, "a second SCIN record")),
    };
    let filegroups = records
        .iter()
        .filter(|r| &r.tag == b"SFGI")
        .map(|r| Ok((r.fields.u32(0x0C, "filegroup id")?, r.fields.utf16(0x10, "filegroup name")?)))
        .collect::<Result<Vec<_>>>()?;
    let mut files = Vec::new();
    for r in records.iter().filter(|r| &r.tag == b"SFIN") {
        let file = read_sfin(&r.fields, &filegroups)?;
        if files.iter().any(|f: &BackupFile| f.file_id == file.file_id) {
            return Err(r.fields.error(0x14, format_args!("a second file with id {}", file.file_id)));
        }
        files.push(file);
    }
    let other_records = records
        .iter()
        .filter(|r| !matches!(&r.tag, b"SCIN" | b"SFGI" | b"SFIN"))
        .map(|r| String::from_utf8_lossy(&r.tag).into_owned())
        .collect();

    let s = &scin.fields;
    let utc_offset = sset_utc_offset(sset.u8(95, "time zone")?);
    let start = s.date(0x4D, "backup start date")?.ok_or_else(|| s.error(0x4D, "no backup start date"))?;
    let finish = if closing { s.date(0x52, "backup finish date")?.map(|t| t.with_offset(utc_offset)) } else { None };
    let string_type = sset.u8(48, "string type")?;
    let set_attributes = sset.u32(52, "set attributes")?;
    let header = BackupHeader {
        database_name: s.utf16(0x68, "database name")?,
        server_name: s.utf16(0x6C, "server name")?,
        machine_name: volb.mtf_string(64, "machine name", volb.u8(48, "string type")?)?,
        user_name: sset.mtf_string(76, "user name", string_type)?,
        backup_name: sset.mtf_string(64, "data set name", string_type)?,
        backup_description: sset.mtf_string(68, "data set description", string_type)?,
        backup_type: BackupType::from_code(s.u8(0x57, "backup type")?),
        set_attributes,
        copy_only: set_attributes & 0x2 != 0,
        position: sset.u16(62, "data set number")?,
        backup_sets_in_file: set.sets,
        backup_set_guid: sset.guid(100, "backup set GUID")?,
        start: start.with_offset(utc_offset),
        finish,
        database_creation_date: s.date(0x48, "database creation date")?,
        product_version: ProductVersion {
            major: s.u8(0x1B, "major version")?,
            minor: s.u8(0x1A, "minor version")?,
            build: s.u16(0x18, "build number")?,
        },
        database_version: s.u16(0x5E, "database version")?,
        compatibility_level: s.u8(0x5B, "compatibility level")?,
        compressed,
        backup_size: if closing { Some(s.u64(0x60, "backup size")?) } else { None },
        lsns: BackupLsns {
            first: s.lsn(0x20, "first LSN")?,
            last: s.lsn(0x2A, "last LSN")?,
            checkpoint: s.lsn(0x34, "checkpoint LSN")?,
            database_backup: Some(s.lsn(0x3E, "database backup LSN")?).filter(|l| !l.is_zero()),
        },
        collation: DatabaseCollation::from_bytes(&s.array(0xD8, "collation")?),
        family_guid: s.guid(0xE0, "family GUID")?,
        media: read_media(set.tape, &tape, src)?,
        media_password: password_field(&tape, 62, 76, "media password")?,
        set_password: password_field(&sset, 56, 72, "backup set password")?,
        tde_key: find_tde_key(image, src, span)?,
        other_records,
    };
    Ok(BackupDescription { header, files })
}

/// `SSET` time zone byte (MTF 1.00a): signed count of 15-minute intervals from UTC, or
/// 127 when the local time is not coordinated with UTC. Values beyond ±14 h are not time
/// zones and are treated as unknown.
fn sset_utc_offset(tz: u8) -> Option<i16> {
    let quarters = i16::from(tz as i8);
    (quarters.abs() <= 56).then_some(quarters * 15)
}

fn read_sfin(f: &Fields<'_>, filegroups: &[(u32, String)]) -> Result<BackupFile> {
    let file_id = f.u32(0x14, "file id")?;
    let filegroup_id = f.u32(0x24, "filegroup id")?;
    Ok(BackupFile {
        logical_name: f.utf16(0x30, "logical name")?,
        physical_name: f.utf16(0x34, "physical name")?,
        file_type: match f.u32(0x1C, "file type")? {
            1 => FileType::Data,
            2 => FileType::Log,
            other => FileType::Other(other),
        },
        file_id: u16::try_from(file_id).map_err(|_| f.error(0x14, format_args!("file id {file_id} above 65535")))?,
        filegroup_id,
        filegroup_name: filegroups
            .iter()
            .find(|(id, _)| *id == filegroup_id && filegroup_id != 0)
            .map(|(_, n)| n.clone()),
        size_bytes: f.u64(0x28, "size")?,
        max_size_bytes: f.u64(0x56, "maximum size")?,
        unique_id: f.guid(0xBA, "file GUID")?,
    })
}

fn read_media(tape_block: &Block, tape: &Fields<'_>, src: &dyn ByteSource) -> Result<MediaSet> {
    let string_type = tape.u8(48, "string type")?;
    let family = match tape_block.stream(b"RAID") {
        None => None,
        Some(raid) => {
            let mut buf = [0u8; 26];
            if raid.len < buf.len() as u64 {
                return Err(locate(
                    Error::corrupt(format!("the TAPE block's RAID stream has {} bytes, 26 or more expected", raid.len)),
                    raid.header_offset,
                    src.is_decompressed(),
                ));
            }
            src.read_exact_at(raid.data_offset, &mut buf)?;
            let f = Fields { bytes: &buf, base: raid.data_offset, stream: src.is_decompressed(), what: "RAID stream" };
            let family = MediaFamily {
                media_set_guid: f.guid(0, "media set GUID")?,
                family_count: f.u16(20, "family count")?,
                family_sequence: f.u16(24, "family number")?,
            };
            if family.family_count == 0 || !(1..=family.family_count).contains(&family.family_sequence) {
                return Err(f.error(
                    20,
                    format_args!("family number {} of a media set of {}", family.family_sequence, family.family_count),
                ));
            }
            Some(family)
        }
    };
    Ok(MediaSet {
        name: tape.mtf_string(68, "media name", string_type)?,
        description: tape.mtf_string(72, "media description", string_type)?,
        software_name: tape.mtf_string(80, "software name", string_type)?,
        media_family_id: tape.u32(52, "media family id")?,
        media_sequence: tape.u16(60, "media sequence number")?,
        family,
    })
}

/// Whether an MTF password field is set: a `u16` encryption algorithm at `algorithm` and
/// a tape address (`u16` size, `u16` offset) at `address`, per MTF 1.00a (`TAPE` 62/76,
/// `SSET` 56/72). `appveyor-passwd-sql2008r2.bak` (`WITH MEDIAPASSWORD`) has `TAPE`
/// algorithm 5 and a 16-byte value; every other fixture zeros in both blocks.
fn password_field(f: &Fields<'_>, algorithm: usize, address: usize, what: &'static str) -> Result<bool> {
    let algorithm = f.u16(algorithm, what)?;
    let size = f.u16(address, what)?;
    Ok(algorithm != 0 || size != 0)
}

/// Most bytes scanned for a TDE key descriptor: the header region is a few KiB in every
/// fixture (at most 0x5000 bytes before the first page).
const TDE_SCAN_LIMIT: u64 = 1 << 20;

/// Scans every byte of the set's header region, from its `SSET` block to its first
/// database page (`SSET` … `MSCI` blocks and the `MSDA` block's header), and the `TAPE`
/// block before it, for the pattern [`TdeKeyDescriptor`] describes.
fn find_tde_key(image: &MtfImage, src: &dyn ByteSource, span: SetSpan) -> Result<Option<TdeKeyDescriptor>> {
    let set_start = image.blocks.get(span.start).map_or(0, |b| b.offset);
    let first_page = image.blocks[span.start..span.end.min(image.blocks.len())]
        .iter()
        .flat_map(|b| &b.streams)
        .find(|s| &s.id == b"MQDA" && s.len > 0)
        .map_or(src.len(), |s| s.data_offset);
    let tape_end = image.blocks.get(1).map_or(0, |b| b.offset).min(set_start);
    for (start, end) in [(0, tape_end), (set_start, first_page)] {
        let mut region = vec![0u8; end.saturating_sub(start).min(TDE_SCAN_LIMIT) as usize];
        src.read_exact_at(start, &mut region)?;
        if let Some(found) = tde_key_in(&region, start) {
            return Ok(Some(found));
        }
    }
    Ok(None)
}

/// The first [`TdeKeyDescriptor`] pattern in `region`, which starts at `base`.
fn tde_key_in(region: &[u8], base: u64) -> Option<TdeKeyDescriptor> {
    const THUMBPRINT_LEN: usize = 20;
    for (at, w) in region.windows(4 + THUMBPRINT_LEN + 4).enumerate() {
        let word = |i: usize| u32::from_le_bytes([w[i], w[i + 1], w[i + 2], w[i + 3]]);
        let key_len = word(4 + THUMBPRINT_LEN);
        let thumbprint = &w[4..4 + THUMBPRINT_LEN];
        if word(0) == THUMBPRINT_LEN as u32 && matches!(key_len, 128 | 256 | 384 | 512) && thumbprint != [0; 20] {
            return Some(TdeKeyDescriptor {
                offset: base + at as u64,
                certificate_thumbprint: thumbprint.iter().map(|b| format!("{b:02x}")).collect(),
                encrypted_key_len: key_len,
            });
        }
    }
    None
}

/// The blocks of one backup set.
struct SetBlocks<'a> {
    tape: &'a Block,
    sset: &'a Block,
    volb: &'a Block,
    msci: &'a Block,
    /// The closing copy of the `MQCI` stream, before the set's `ESET`.
    msls: Option<&'a Block>,
    sets: u32,
}

impl<'a> SetBlocks<'a> {
    fn find(image: &'a MtfImage, span: SetSpan) -> Result<SetBlocks<'a>> {
        let missing = |what: &str| Error::corrupt(format!("no {what} block: the backup header cannot be read"));
        let tape = image.blocks.first().filter(|b| &b.kind == b"TAPE").ok_or_else(|| missing("TAPE"))?;
        let blocks = image.blocks.get(span.start..span.end).unwrap_or(&[]);
        let sset = blocks.first().filter(|b| &b.kind == b"SSET").ok_or_else(|| missing("SSET"))?;
        let end = blocks.iter().position(|b| &b.kind == b"ESET").unwrap_or(blocks.len());
        let in_set = |kind: &[u8; 4]| blocks[..end].iter().find(|b| &b.kind == kind);
        Ok(SetBlocks {
            tape,
            sset,
            volb: in_set(b"VOLB").ok_or_else(|| missing("VOLB"))?,
            msci: in_set(b"MSCI").ok_or_else(|| missing("MSCI"))?,
            msls: in_set(b"MSLS"),
            sets: image.blocks.iter().filter(|b| &b.kind == b"SSET").count() as u32,
        })
    }
}

/// Largest `MQCI` stream accepted: about 1.2 KiB per file, so this allows thousands of
/// files while refusing absurd lengths before allocating.
const MQCI_LIMIT: u64 = 16 << 20;

/// The bytes of one `MQCI` stream.
struct Mqci {
    data: Vec<u8>,
    offset: u64,
    stream: bool,
    block: &'static str,
}

/// One `MQCI` record: its tag and its bytes (tag and length included).
struct Record<'a> {
    tag: [u8; 4],
    fields: Fields<'a>,
}

impl Mqci {
    fn read(block: &Block, src: &dyn ByteSource) -> Result<Mqci> {
        let name: &'static str = if &block.kind == b"MSLS" { "MSLS" } else { "MSCI" };
        let stream = src.is_decompressed();
        let s = block.stream(b"MQCI").ok_or_else(|| {
            locate(Error::corrupt(format!("the {name} block has no MQCI stream")), block.offset, stream)
        })?;
        if s.len > MQCI_LIMIT {
            return Err(locate(
                Error::corrupt(format!("MQCI stream of {} bytes (at most {MQCI_LIMIT} expected)", s.len)),
                s.header_offset,
                stream,
            ));
        }
        let mut data = vec![0u8; s.len as usize];
        src.read_exact_at(s.data_offset, &mut data)?;
        Ok(Mqci { data, offset: s.data_offset, stream, block: name })
    }

    fn error(&self, message: &str) -> Error {
        locate(Error::corrupt(format!("{} block: {message}", self.block)), self.offset, self.stream)
    }

    /// Splits the stream into records; they must tile it exactly.
    fn records(&self) -> Result<Vec<Record<'_>>> {
        let mut out = Vec::new();
        let mut pos = 0usize;
        while pos < self.data.len() {
            let at = self.offset + pos as u64;
            let rest = &self.data[pos..];
            let bad =
                |msg: String| locate(Error::corrupt(format!("{} MQCI stream: {msg}", self.block)), at, self.stream);
            let (Some(tag), Some(len)) = (rest.get(..4), rest.get(4..8)) else {
                return Err(bad(format!(
                    "{} bytes left after the last record, too few for a record header",
                    rest.len()
                )));
            };
            let tag: [u8; 4] = [tag[0], tag[1], tag[2], tag[3]];
            if !tag.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
                return Err(bad(format!("expected a record tag, found bytes {tag:02x?}")));
            }
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            let tag_text = String::from_utf8_lossy(&tag);
            if len < 8 || len > rest.len() {
                return Err(bad(format!(
                    "{tag_text} record declares {len} bytes; between 8 and the {} bytes left expected",
                    rest.len()
                )));
            }
            out.push(Record {
                tag,
                fields: Fields { bytes: &rest[..len], base: at, stream: self.stream, what: record_name(&tag) },
            });
            pos += len;
        }
        Ok(out)
    }
}

fn record_name(tag: &[u8; 4]) -> &'static str {
    match tag {
        b"SCIN" => "SCIN record",
        b"SFGI" => "SFGI record",
        b"SFIN" => "SFIN record",
        _ => "MQCI record",
    }
}

/// Sets `offset` on `e`, as a file offset or a decompressed-stream offset.
fn locate(e: Error, offset: u64, stream: bool) -> Error {
    if stream { e.at_stream(offset) } else { e.at(offset) }
}

/// Bounds-checked little-endian field access to a record or descriptor block, with errors
/// that name the structure, its offset and the field.
struct Fields<'a> {
    bytes: &'a [u8],
    /// Offset of `bytes[0]` in the source.
    base: u64,
    /// True when offsets count bytes of a decompressed stream.
    stream: bool,
    what: &'static str,
}

impl<'a> Fields<'a> {
    fn block(block: &'a Block, stream: bool) -> Fields<'a> {
        let what = match &block.kind {
            b"TAPE" => "TAPE block",
            b"SSET" => "SSET block",
            b"VOLB" => "VOLB block",
            _ => "descriptor block",
        };
        Fields { bytes: &block.descriptor, base: block.offset, stream, what }
    }

    fn error(&self, at: usize, message: impl std::fmt::Display) -> Error {
        locate(
            Error::corrupt(format!("{} at offset {} (0x{:x}): {message}", self.what, self.base, self.base)),
            self.base + at as u64,
            self.stream,
        )
    }

    fn array<const N: usize>(&self, at: usize, field: &str) -> Result<[u8; N]> {
        at.checked_add(N).and_then(|end| self.bytes.get(at..end)).and_then(|b| b.try_into().ok()).ok_or_else(|| {
            self.error(
                at.min(self.bytes.len()),
                format_args!("the {field} at +0x{at:x} ({N} bytes) lies past its {} bytes", self.bytes.len()),
            )
        })
    }

    fn u8(&self, at: usize, field: &str) -> Result<u8> {
        Ok(self.array::<1>(at, field)?[0])
    }
    fn u16(&self, at: usize, field: &str) -> Result<u16> {
        self.array(at, field).map(u16::from_le_bytes)
    }
    fn u32(&self, at: usize, field: &str) -> Result<u32> {
        self.array(at, field).map(u32::from_le_bytes)
    }
    fn u64(&self, at: usize, field: &str) -> Result<u64> {
        self.array(at, field).map(u64::from_le_bytes)
    }
    fn lsn(&self, at: usize, field: &str) -> Result<Lsn> {
        self.array(at, field).map(|b| Lsn::from_bytes(&b))
    }
    fn guid(&self, at: usize, field: &str) -> Result<Guid> {
        self.array(at, field).map(Guid)
    }
    fn date(&self, at: usize, field: &str) -> Result<Option<Timestamp>> {
        let b = self.array::<5>(at, field)?;
        Timestamp::from_mtf(&b).map_err(|_| self.error(at, format_args!("the {field} {b:02x?} is not a valid date")))
    }

    /// The bytes a (`u16` length, `u16` offset) pair at `at` points to, offset counted
    /// from the start of `self` (the record, or the MTF block for `MTF_TAPE_ADDRESS`).
    fn referenced(&self, at: usize, field: &str) -> Result<&'a [u8]> {
        let len = usize::from(self.u16(at, field)?);
        let off = usize::from(self.u16(at + 2, field)?);
        if len == 0 {
            return Ok(&[]);
        }
        let bytes = self.bytes;
        off.checked_add(len).and_then(|end| bytes.get(off..end)).ok_or_else(|| {
            self.error(
                at,
                format_args!(
                    "the {field} ({len} bytes at +0x{off:x}) lies past the {} bytes of the structure",
                    bytes.len()
                ),
            )
        })
    }

    /// A UTF-16LE string referenced by the pair at `at`. Trailing NULs are dropped (the
    /// `TAPE` software name carries two); unpaired surrogates become U+FFFD.
    fn utf16(&self, at: usize, field: &str) -> Result<String> {
        let b = self.referenced(at, field)?;
        if b.len() % 2 != 0 {
            return Err(self.error(at, format_args!("the UTF-16 {field} has an odd length of {} bytes", b.len())));
        }
        let units = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]]));
        let text: String = char::decode_utf16(units).map(|c| c.unwrap_or(char::REPLACEMENT_CHARACTER)).collect();
        Ok(text.trim_end_matches('\0').to_string())
    }

    /// An MTF string (`MTF_TAPE_ADDRESS` at `at`) of the block's string type (common
    /// header byte 48): 2 is UTF-16LE (all fixtures), 1 is single-byte ANSI, read as
    /// Windows-1252 since the code page is not recorded.
    fn mtf_string(&self, at: usize, field: &str, string_type: u8) -> Result<String> {
        match string_type {
            2 => self.utf16(at, field),
            1 => {
                let (text, _, _) = encoding_rs::WINDOWS_1252.decode(self.referenced(at, field)?);
                Ok(text.trim_end_matches('\0').to_string())
            }
            0 => Ok(String::new()),
            other => Err(self.error(48, format_args!("unknown MTF string type {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(bytes: &[u8]) -> Fields<'_> {
        Fields { bytes, base: 0x1000, stream: false, what: "SCIN record" }
    }

    #[test]
    fn string_pairs_are_bounds_checked() {
        let mut rec = vec![0u8; 16];
        rec.extend("Hi".encode_utf16().flat_map(u16::to_le_bytes));
        rec[0..4].copy_from_slice(&[4, 0, 16, 0]);
        assert_eq!(fields(&rec).utf16(0, "name").unwrap(), "Hi");
        rec[0..4].copy_from_slice(&[6, 0, 16, 0]);
        let e = fields(&rec).utf16(0, "name").unwrap_err();
        assert_eq!((e.kind, e.offset), (ErrorKind::Corrupt, Some(0x1000)));
        assert!(e.message.contains("SCIN record at offset 4096"), "{e}");
        rec[0..4].copy_from_slice(&[3, 0, 16, 0]);
        assert!(fields(&rec).utf16(0, "name").unwrap_err().message.contains("odd length"));
        rec[0..4].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        assert!(fields(&rec).utf16(0, "name").is_err());
        let e = fields(&rec).u64(14, "size").unwrap_err();
        assert_eq!(e.offset, Some(0x1000 + 14));
    }

    #[test]
    fn record_walk_rejects_bad_lengths() {
        let mqci = |data: Vec<u8>| Mqci { data, offset: 0x2000, stream: false, block: "MSCI" };
        let mut ok = b"SCIN\x0c\0\0\0abcdSFIN\x08\0\0\0".to_vec();
        assert_eq!(mqci(ok.clone()).records().unwrap().len(), 2);
        ok[4] = 4;
        let m = mqci(ok.clone());
        let e = m.records().err().unwrap();
        assert_eq!(e.offset, Some(0x2000));
        ok[4] = 0x0c;
        ok.extend_from_slice(b"SF");
        let m = mqci(ok);
        let e = m.records().err().unwrap();
        assert_eq!(e.offset, Some(0x2000 + 20));
        assert!(mqci(b"scin\x08\0\0\0".to_vec()).records().is_err());
    }

    #[test]
    fn time_zone_byte() {
        assert_eq!(sset_utc_offset(22), Some(330));
        assert_eq!(sset_utc_offset((-20i8) as u8), Some(-300));
        assert_eq!(sset_utc_offset(127), None);
    }

    #[test]
    fn checks_name_what_they_refuse() {
        let mut h = BackupHeader {
            database_name: "db".into(),
            server_name: "S".into(),
            machine_name: "S".into(),
            user_name: String::new(),
            backup_name: String::new(),
            backup_description: String::new(),
            backup_type: BackupType::Database,
            set_attributes: 4,
            copy_only: false,
            position: 1,
            backup_sets_in_file: 1,
            backup_set_guid: Guid([0; 16]),
            start: "2020-01-01T00:00:00".parse().unwrap(),
            finish: None,
            database_creation_date: None,
            product_version: ProductVersion { major: 15, minor: 0, build: 2000 },
            database_version: 904,
            compatibility_level: 150,
            compressed: false,
            backup_size: None,
            lsns: BackupLsns {
                first: Lsn { vlf: 1, block: 2, slot: 3 },
                last: Lsn { vlf: 1, block: 4, slot: 1 },
                checkpoint: Lsn { vlf: 1, block: 2, slot: 3 },
                database_backup: None,
            },
            collation: None,
            family_guid: Guid([0; 16]),
            media: MediaSet {
                name: String::new(),
                description: String::new(),
                software_name: String::new(),
                media_family_id: 1,
                media_sequence: 1,
                family: None,
            },
            tde_key: None,
            media_password: false,
            set_password: false,
            other_records: vec![],
        };
        h.ensure_restorable().unwrap();
        h.backup_type = BackupType::Log;
        let e = h.ensure_restorable().unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFullBackup);
        assert!(e.message.contains("transaction log backup"), "{e}");
        h.backup_type = BackupType::Database;
        h.set_attributes = 8;
        let e = h.ensure_restorable().unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotFullBackup);
        assert!(e.message.contains("a differential backup") && e.message.contains("give the full backup"), "{e}");
        h.set_attributes = 4;
        h.backup_type = BackupType::DatabaseDifferential;
        assert!(h.ensure_restorable().unwrap_err().message.contains("a differential backup"));
        h.backup_type = BackupType::FileOrFilegroup;
        assert!(h.ensure_restorable().unwrap_err().message.contains("file or filegroup backup"));
        h.backup_type = BackupType::Database;
        // Several sets in a file are no reason to refuse one of them.
        h.backup_sets_in_file = 2;
        h.ensure_restorable().unwrap();
        h.backup_sets_in_file = 1;
        h.tde_key = Some(TdeKeyDescriptor { offset: 0, certificate_thumbprint: "ab".into(), encrypted_key_len: 256 });
        assert!(h.ensure_restorable().unwrap_err().message.contains("TDE"));
        h.tde_key = None;
        h.ensure_restorable().unwrap();
        // Two families of one set, given in any order; one alone is incomplete.
        let family = |n| MediaFamily { media_set_guid: Guid([1; 16]), family_count: 2, family_sequence: n };
        let (mut a, mut b) = (h.clone(), h.clone());
        a.media.family = Some(family(1));
        b.media.family = Some(family(2));
        check_media_set(&[&b, &a]).unwrap();
        let e = check_media_set(&[&b]).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Incomplete);
        assert!(e.message.contains("media set of 2 families and family 1 is missing"), "{e}");
        assert!(check_media_set(&[&a, &a]).unwrap_err().message.contains("given twice"));
        b.backup_set_guid = Guid([2; 16]);
        assert_eq!(check_media_set(&[&a, &b]).unwrap_err().kind, ErrorKind::Corrupt);
        check_media_set(&[&h]).unwrap();
        a.media.family = Some(family(0));
        assert!(check_media_set(&[&a]).unwrap_err().message.contains("claims family 0"));
    }
}
