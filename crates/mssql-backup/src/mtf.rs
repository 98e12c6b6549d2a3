//! Microsoft Tape Format (MTF) as SQL Server writes it: descriptor blocks (DBLKs) and the
//! data streams that follow them.
//!
//! Layout facts (Microsoft Tape Format Specification 1.00a, checked on every fixture):
//! - A DBLK starts with the 52-byte common header `MTF_DB_HDR`: block type (4 ASCII bytes)
//!   at 0, attributes `u32` at 4, `offset_to_first_event` `u16` at 8, string type at 48,
//!   and a header checksum at 50 that is the XOR of the 25 little-endian `u16` words before it.
//! - Streams start `offset_to_first_event` bytes into the block. A stream header is 22 bytes:
//!   stream id (4 ASCII bytes), file-system attributes `u16`, media-format attributes `u16`,
//!   data length `u64`, encryption `u16`, compression `u16`, checksum `u16` (XOR of the 10
//!   words before it). Data follows; the next stream header starts at the next multiple of 4.
//! - A block's streams end with `SPAD` (padding to the next block). SQL Server's own blocks
//!   (`MSCI`, `MSDA`, `MSTL`, `MSLS`) follow the same rules; `MQDA` streams carry the database
//!   pages, `MQCI` the backup-set and file descriptions, `MQTL` the log.
//! - `SFMB` (soft filemark) blocks have no streams and are `soft_filemark_block_size × 512`
//!   bytes long (`u16` at offset 64 of the `TAPE` block); observed 512 and 4096.

use crate::source::ByteSource;
use crate::{Error, ErrorKind, Result};

/// Size of the common DBLK header (`MTF_DB_HDR`).
pub const DBLK_HEADER_LEN: usize = 52;
/// Size of a stream header (`MTF_STREAM_HDR`).
pub const STREAM_HEADER_LEN: u64 = 22;

/// One descriptor block and its streams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Block type, e.g. `*b"TAPE"`, `*b"SSET"`, `*b"MSDA"`.
    pub kind: [u8; 4],
    /// Offset of the block in the source.
    pub offset: u64,
    /// `block_attributes` (offset 4).
    pub attributes: u32,
    /// `offset_to_first_event` (offset 8): where the streams start, from the block start.
    pub first_event: u16,
    /// The descriptor bytes from the block start up to the first stream (at most 4 KiB):
    /// the type-specific fields of `TAPE`, `SSET`, `VOLB` and SQL Server's blocks.
    pub descriptor: Vec<u8>,
    /// Streams of the block, in order, including the closing `SPAD`.
    pub streams: Vec<Stream>,
}

impl Block {
    /// The block type as text (`"MSDA"`).
    #[cfg(any(test, feature = "internals"))]
    pub fn kind_str(&self) -> &str {
        std::str::from_utf8(&self.kind).unwrap_or("????")
    }
    /// The first stream with id `id`.
    pub fn stream(&self, id: &[u8; 4]) -> Option<&Stream> {
        self.streams.iter().find(|s| &s.id == id)
    }
}

/// One stream: its header position and where its data lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stream {
    /// Stream id, e.g. `*b"MQDA"`.
    pub id: [u8; 4],
    /// Offset of the 22-byte stream header in the source.
    pub header_offset: u64,
    /// `stream_media_format_attributes` (header offset 6). SQL Server marks the empty
    /// `MQDA` stream that closes a data section with 0x6.
    pub media_attributes: u16,
    /// Offset of the stream data in the source (`header_offset + 22`).
    pub data_offset: u64,
    /// Length of the stream data in bytes.
    pub len: u64,
}

/// The block structure of a whole backup file (or decompressed stream).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MtfImage {
    /// Blocks in file order.
    pub blocks: Vec<Block>,
}

/// Where `MQDA` page data lies: `MQDA` stream data begins with 2 bytes before the first
/// page, so pages are 512-byte aligned in the file (observed in every fixture; a stream
/// whose remaining length is not a whole number of 8 KiB pages is rejected).
pub const MQDA_PAGE_PREFIX: u64 = 2;

/// The blocks of one backup set: indexes into [`MtfImage::blocks`], `start` its `SSET`,
/// `end` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetSpan {
    /// Index of the set's `SSET` block.
    pub start: usize,
    /// Index after the set's last block.
    pub end: usize,
}

/// A run of whole 8 KiB pages inside an `MQDA` stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRun {
    /// Offset of the first page in the source.
    pub offset: u64,
    /// Number of pages.
    pub pages: u64,
}

fn xor_words(bytes: &[u8]) -> u16 {
    bytes.chunks_exact(2).fold(0u16, |acc, w| acc ^ u16::from_le_bytes([w[0], w[1]]))
}

fn is_block_type(b: &[u8]) -> bool {
    b.len() == 4 && b.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}

impl MtfImage {
    /// Walks every block and stream of `src`.
    ///
    /// # Errors
    /// - [`ErrorKind::NotABackup`] when the source does not start with a valid `TAPE` block.
    /// - [`ErrorKind::Corrupt`] when a block or stream header fails its checksum or names
    ///   no valid type, with the offset at fault.
    /// - [`ErrorKind::Truncated`] when a stream's declared data runs past the end.
    pub fn parse(src: &dyn ByteSource) -> Result<MtfImage> {
        let len = src.len();
        let mut head = [0u8; DBLK_HEADER_LEN];
        if len < DBLK_HEADER_LEN as u64 {
            return Err(Error::new(ErrorKind::NotABackup, format!("only {len} bytes: too short for a backup")));
        }
        src.read_exact_at(0, &mut head)?;
        if &head[..4] != b"TAPE" || xor_words(&head[..50]) != u16::from_le_bytes([head[50], head[51]]) {
            return Err(Error::new(
                ErrorKind::NotABackup,
                format!("no Microsoft Tape Format TAPE block at offset 0 (first bytes: {})", describe_magic(&head)),
            )
            .at(0));
        }
        // `soft_filemark_block_size` (TAPE offset 64) in 512-byte units.
        let mut tape = [0u8; 66];
        src.read_exact_at(0, &mut tape)?;
        let sfmb_len = u64::from(u16::from_le_bytes([tape[64], tape[65]])).max(1) * 512;

        let mut blocks = Vec::new();
        let mut pos = 0u64;
        while pos < len {
            // A decompressed stream may end in zero padding; a file on disk tiles exactly.
            let padding_ok = src.is_decompressed() && all_zero(src, pos, len - pos)?;
            if len - pos < DBLK_HEADER_LEN as u64 {
                if padding_ok {
                    break;
                }
                return Err(Error::truncated("the file ends inside a block header").at(pos));
            }
            src.read_exact_at(pos, &mut head)?;
            if head.iter().all(|&b| b == 0) {
                if padding_ok {
                    break;
                }
                return Err(Error::corrupt("zero bytes where a tape block header was expected").at(pos));
            }
            if !is_block_type(&head[..4]) {
                return Err(Error::corrupt(format!(
                    "expected a tape block header, found bytes {}",
                    hex_prefix(&head[..8])
                ))
                .at(pos));
            }
            let stored = u16::from_le_bytes([head[50], head[51]]);
            if xor_words(&head[..50]) != stored {
                return Err(Error::corrupt(format!(
                    "{} block header checksum mismatch (stored 0x{stored:04x}, computed 0x{:04x})",
                    String::from_utf8_lossy(&head[..4]),
                    xor_words(&head[..50])
                ))
                .at(pos));
            }
            let kind: [u8; 4] = [head[0], head[1], head[2], head[3]];
            let attributes = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
            let first_event = u16::from_le_bytes([head[8], head[9]]);
            if usize::from(first_event) < DBLK_HEADER_LEN {
                return Err(
                    Error::corrupt(format!("block offset_to_first_event {first_event} is inside the header")).at(pos)
                );
            }
            let desc_len = u64::from(first_event).min(4096).min(len - pos);
            let mut descriptor = vec![0u8; desc_len as usize];
            src.read_exact_at(pos, &mut descriptor)?;

            if &kind == b"SFMB" {
                if pos + sfmb_len > len {
                    return Err(Error::truncated(format!(
                        "the file ends inside a {sfmb_len}-byte soft filemark (SFMB) block"
                    ))
                    .at(pos));
                }
                blocks.push(Block { kind, offset: pos, attributes, first_event, descriptor, streams: Vec::new() });
                pos += sfmb_len;
                continue;
            }

            let mut streams = Vec::new();
            let mut s = pos + u64::from(first_event);
            loop {
                if s + STREAM_HEADER_LEN > len {
                    return Err(Error::truncated(format!(
                        "the file ends inside a stream header of the {} block at {pos}",
                        String::from_utf8_lossy(&kind)
                    ))
                    .at(s));
                }
                let mut sh = [0u8; STREAM_HEADER_LEN as usize];
                src.read_exact_at(s, &mut sh)?;
                let stored = u16::from_le_bytes([sh[20], sh[21]]);
                if !is_block_type(&sh[..4]) || xor_words(&sh[..20]) != stored {
                    return Err(Error::corrupt(format!(
                        "invalid stream header in the {} block at {pos} (bytes {})",
                        String::from_utf8_lossy(&kind),
                        hex_prefix(&sh[..8])
                    ))
                    .at(s));
                }
                let id = [sh[0], sh[1], sh[2], sh[3]];
                let media_attributes = u16::from_le_bytes([sh[6], sh[7]]);
                let data_len = u64::from_le_bytes(sh[8..16].try_into().expect("8 bytes"));
                let data_offset = s + STREAM_HEADER_LEN;
                let end = data_offset.checked_add(data_len).filter(|&e| e <= len).ok_or_else(|| {
                    Error::truncated(format!(
                        "stream {} declares {data_len} bytes but the file ends at {len}",
                        String::from_utf8_lossy(&id)
                    ))
                    .at(s)
                })?;
                streams.push(Stream { id, header_offset: s, media_attributes, data_offset, len: data_len });
                s = (end + 3) & !3;
                if &id == b"SPAD" {
                    break;
                }
            }
            blocks.push(Block { kind, offset: pos, attributes, first_event, descriptor, streams });
            pos = s;
        }
        // A backup set closes with ESET; without it the file was cut short (possibly at a
        // stretch of zero padding, which alone would look like a clean end).
        if !blocks.iter().any(|b| &b.kind == b"ESET")
            || (!src.is_decompressed() && blocks.last().is_some_and(|b| &b.kind != b"SFMB"))
        {
            let last = blocks.last().map(|b| b.offset).unwrap_or(0);
            return Err(Error::truncated(format!(
                "the file ends before the closing end-of-set (ESET) and filemark (SFMB) blocks; the last block found starts at {last}"
            ))
            .at(len));
        }
        Ok(MtfImage { blocks })
    }

    /// The first block of type `kind`.
    #[cfg(any(test, feature = "internals"))]
    pub fn block(&self, kind: &[u8; 4]) -> Option<&Block> {
        self.blocks.iter().find(|b| &b.kind == kind)
    }

    /// The backup sets of the file, in file order: each from its `SSET` block to the next
    /// `SSET` (or the end). A file holds several when backups were appended to it
    /// (`BACKUP … WITH NOINIT`, SSMS's default): `hotel-qlks-2sets-sql2008.bak` is `TAPE
    /// SFMB`, then twice `SSET VOLB MSCI MSDA MSTL… MSLS SFMB ESET ESET SFMB`.
    pub fn sets(&self) -> Vec<SetSpan> {
        let starts: Vec<usize> =
            self.blocks.iter().enumerate().filter(|(_, b)| &b.kind == b"SSET").map(|(i, _)| i).collect();
        starts
            .iter()
            .enumerate()
            .map(|(k, &start)| SetSpan { start, end: starts.get(k + 1).copied().unwrap_or(self.blocks.len()) })
            .collect()
    }

    /// The runs of database pages in every non-empty `MQDA` stream of the whole image,
    /// in stream order.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] when an `MQDA` stream is not 2 bytes plus whole 8 KiB pages.
    #[cfg(any(test, feature = "internals"))]
    pub fn page_runs(&self) -> Result<Vec<PageRun>> {
        self.page_runs_in(SetSpan { start: 0, end: self.blocks.len() })
    }

    /// The runs of database pages of the blocks in `span` (one backup set).
    ///
    /// # Errors
    /// As [`MtfImage::page_runs`].
    pub fn page_runs_in(&self, span: SetSpan) -> Result<Vec<PageRun>> {
        let mut runs = Vec::new();
        for b in &self.blocks[span.start.min(self.blocks.len())..span.end.min(self.blocks.len())] {
            for s in b.streams.iter().filter(|s| &s.id == b"MQDA" && s.len > 0) {
                let body = s.len.checked_sub(MQDA_PAGE_PREFIX).filter(|n| n % 8192 == 0).ok_or_else(|| {
                    Error::corrupt(format!(
                        "MQDA stream of {} bytes is not {MQDA_PAGE_PREFIX} bytes plus whole 8 KiB pages",
                        s.len
                    ))
                    .at(s.header_offset)
                })?;
                runs.push(PageRun { offset: s.data_offset + MQDA_PAGE_PREFIX, pages: body / 8192 });
            }
        }
        Ok(runs)
    }
}

fn all_zero(src: &dyn ByteSource, mut pos: u64, mut n: u64) -> Result<bool> {
    let mut buf = [0u8; 4096];
    while n > 0 {
        let k = n.min(buf.len() as u64) as usize;
        src.read_exact_at(pos, &mut buf[..k])?;
        if buf[..k].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        pos += k as u64;
        n -= k as u64;
    }
    Ok(true)
}

fn hex_prefix(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
}

/// Names what a file that is not an MTF backup looks like, from its first bytes, so the
/// error says more than "bad magic".
pub fn describe_magic(b: &[u8]) -> String {
    if b.starts_with(b"PGDMP") {
        "\"PGDMP\": a PostgreSQL custom-format dump".into()
    } else if b.starts_with(b"version https://git-lfs") {
        "a Git LFS pointer file (the real file was never uploaded)".into()
    } else if b.starts_with(b"Rar!") {
        "a RAR archive".into()
    } else if b.starts_with(b"PK\x03\x04") {
        "a ZIP archive".into()
    } else if b.starts_with(b"7z\xbc\xaf\x27\x1c") {
        "a 7z archive".into()
    } else if b.starts_with(b"MSSQLBAK") {
        "a compressed SQL Server backup container".into()
    } else if b.starts_with(b"\x01\x0f\x00\x00") {
        "a SQL Server data file page (an .mdf/.ndf, not a backup)".into()
    } else if !b.is_empty() && b.iter().all(|&c| c == b'\n' || c == b'\r' || c == b'\t' || (0x20..0x7f).contains(&c)) {
        format!("text {:?}", String::from_utf8_lossy(&b[..b.len().min(24)]))
    } else {
        hex_prefix(&b[..b.len().min(8)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dblk(kind: &[u8; 4], first_event: u16, total: usize) -> Vec<u8> {
        let mut b = vec![0u8; total];
        b[..4].copy_from_slice(kind);
        b[8..10].copy_from_slice(&first_event.to_le_bytes());
        if total > 64 {
            b[64] = 1; // soft filemark size: 1 × 512 bytes (read from TAPE only)
        }
        let c = xor_words(&b[..50]);
        b[50..52].copy_from_slice(&c.to_le_bytes());
        b
    }

    fn stream(id: &[u8; 4], data: &[u8]) -> Vec<u8> {
        let mut h = vec![0u8; 22];
        h[..4].copy_from_slice(id);
        h[8..16].copy_from_slice(&(data.len() as u64).to_le_bytes());
        let c = xor_words(&h[..20]);
        h[20..22].copy_from_slice(&c.to_le_bytes());
        h.extend_from_slice(data);
        while !h.len().is_multiple_of(4) {
            h.push(0);
        }
        h
    }

    #[test]
    fn walks_blocks_streams_and_filemarks() {
        let mut f = dblk(b"TAPE", 68, 68);
        let pad = 512 - f.len() - 22;
        f.extend(stream(b"SPAD", &vec![0; pad]));
        assert_eq!(f.len(), 512);
        f.extend(dblk(b"SFMB", 512, 512));
        let mut d = dblk(b"MSDA", 52, 52);
        let mut data = vec![0u8; 2 + 8192];
        data[2] = 1;
        d.extend(stream(b"MQDA", &data));
        d.extend(stream(b"SPAD", &[0; 6]));
        f.extend(d);
        let mut e = dblk(b"ESET", 52, 52);
        e.extend(stream(b"SPAD", &[]));
        f.extend(e);
        f.extend(dblk(b"SFMB", 512, 512));
        let img = MtfImage::parse(&f).unwrap();
        let kinds: Vec<_> = img.blocks.iter().map(|b| b.kind_str().to_string()).collect();
        assert_eq!(kinds, ["TAPE", "SFMB", "MSDA", "ESET", "SFMB"]);
        let runs = img.page_runs().unwrap();
        assert_eq!(runs, vec![PageRun { offset: 1024 + 52 + 22 + 2, pages: 1 }]);
    }

    #[test]
    fn rejects_non_backups_by_name() {
        let e = MtfImage::parse(&b"PGDMP\x01\x0e\x00".repeat(10)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::NotABackup);
        assert!(e.message.contains("PostgreSQL"), "{e}");
        let e = MtfImage::parse(&b"version https://git-lfs.github.com/spec/v1\noid sha256:".to_vec()).unwrap_err();
        assert!(e.message.contains("Git LFS"), "{e}");
    }

    #[test]
    fn detects_stream_running_past_the_end() {
        let mut f = dblk(b"TAPE", 52, 52);
        let mut s = stream(b"MQDA", &[0; 8]);
        s[8..16].copy_from_slice(&1_000_000u64.to_le_bytes());
        let c = xor_words(&s[..20]);
        s[20..22].copy_from_slice(&c.to_le_bytes());
        f.extend(s);
        let e = MtfImage::parse(&f).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Truncated);
        assert_eq!(e.offset, Some(52));
    }
}
