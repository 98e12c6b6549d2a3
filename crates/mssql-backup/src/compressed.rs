//! The `MSSQLBAK` container of compressed backups (`BACKUP … WITH COMPRESSION`), read as
//! the plain MTF stream an uncompressed backup of the same data would hold.
//!
//! # Layout
//! Nothing of this container is documented by Microsoft; every fact below was read from the
//! bytes of the three compressed fixtures (SQL Server 2016 ×2 and 2019: northwind, tsqlv4,
//! universidad), and the reader refuses what does not fit it. All integers little-endian.
//!
//! - **File header**, bytes `0..0x1E0`: `"MSSQLBAK"`, then `u32` 2 at offset 8 and `u32` 3
//!   at offset 12 (read here as a version; only 2 is accepted). The other header bytes vary
//!   between files without visible structure and are not interpreted.
//! - **Records** follow back to back from offset `0x1E0` to the end of the file. Byte 0 of a
//!   record is its type:
//!   - `0x21`, **compressed chunk**: a 28-byte header, then the payload. Header byte 1 is
//!     the chunk's decompressed size in 512-byte units (2, 4, 6, 8, 14, 16, 24, 36 and 128
//!     seen), `u16` at 2 the payload length in bytes, `u32` at 24 an unidentified value (not
//!     a CRC-32, CRC-32C or Adler-32 of the payload or of the output); bytes 4–23 vary and
//!     are not interpreted. The payload is one complete [MS-XCA] LZ77+Huffman stream
//!     (see [`crate::xpress`]) that decodes to exactly `512 × byte 1` bytes: every chunk
//!     of the fixtures ends there with its input fully read, as the stream's end rules
//!     require. The next record starts right after the payload; the stream does not run
//!     into it (a model with the header 4 bytes earlier sees a "4-byte overlap" instead).
//!   - `0x24`, **padding**: a 24-byte header (zero after the type and length) whose `u16` at 2
//!     counts the zero bytes that follow; it ends on a physical block boundary, where a soft
//!     filemark starts (all 6 seen).
//!   - `0x2c`, **chunk index**: a 24-byte header (all zero after the type), a 16-byte index
//!     header (`u16` 1, `u16` 1, `u32` entry count, two unidentified `u32`), that many
//!     16-byte entries (`u64` stream offset counted from the `SSET` block, i.e. without the
//!     first chunk, and `u64` file offset of that chunk's record; the 2 or 3 entries seen
//!     name the chunks that start 1 KiB before each `MSDA`/`MSTL` block after the main
//!     data), zeros, and the 16-byte index header repeated as the last bytes before the next
//!     physical block boundary (one such record per fixture, before the second filemark).
//!     The entries duplicate what the chunk walk finds, so they only serve to frame the
//!     record.
//!   - raw MTF **`SFMB`** soft filemarks, stored uncompressed, one physical block each
//!     (512 bytes in two fixtures, 4096 in tsqlv4): after the first chunk (the `TAPE`
//!     block), before the chunk holding the `ESET` blocks, and as the last record.
//! - **The decompressed stream** is the concatenation of the chunks' outputs in file order.
//!   The soft filemarks are *not* part of it: they are physical-level blocks whose filemark
//!   entries (`u64` from offset 72) hold the container file offsets of the earlier ones
//!   (`0x112400` and `0x400` in northwind's last), and without them the stream's
//!   descriptor blocks sit where their own
//!   `format_logical_address` fields say (the `SSET` directly after the `TAPE` block, `VOLB`
//!   at `SSET + 1 KiB`, `MSDA` at `SSET + 6 KiB`, …), and the stream lengths equal the
//!   manifest's decompressed sizes (8,944,640, 7,577,600 and 3,300,352 bytes from 141, 120
//!   and 56 chunks).
//!
//! # Reading
//! [`CompressedSource`] indexes every chunk from the record headers alone in one pass at
//! open (16 bytes of index per chunk, i.e. 256 KiB per GiB of decompressed stream), decodes
//! only the first chunk there (it must be the MTF `TAPE` block, which tells a readable
//! container from an encrypted or unknown one), and afterwards decodes chunks on demand
//! into a small bounded cache shared by all threads.

use std::cell::RefCell;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use crate::source::ByteSource;
use crate::xpress::Decoder;
use crate::{Error, ErrorKind, Result};

/// The first 8 bytes of every compressed backup.
pub const MAGIC: &[u8; 8] = b"MSSQLBAK";
/// Offset of the first record: the file header's length (observed in all three fixtures).
pub const HEADER_LEN: u64 = 0x1E0;
/// The container version (`u32` at offset 8) this reader understands.
pub const SUPPORTED_VERSION: u32 = 2;
/// Header length of a compressed-chunk (`0x21`) record.
pub const CHUNK_HEADER_LEN: u64 = 28;
/// Header length of the padding (`0x24`) and chunk-index (`0x2c`) records.
pub const AUX_HEADER_LEN: u64 = 24;
/// Default number of decoded chunks [`CompressedSource`] keeps (at most 64 KiB each).
pub const DEFAULT_CACHE_CHUNKS: usize = 16;

const RECORD_CHUNK: u8 = 0x21;
const RECORD_PADDING: u8 = 0x24;
const RECORD_INDEX: u8 = 0x2c;
const INDEX_HEADER_LEN: u64 = 16;
const INDEX_ENTRY_LEN: u64 = 16;
/// The MTF common block header (`MTF_DB_HDR`) that starts a raw soft filemark.
const MTF_HEADER_LEN: usize = 52;
/// Record offsets are packed into 48 bits of an index entry.
const MAX_FILE_LEN: u64 = 1 << 48;

/// True when `head` (the first bytes of a file) starts like a compressed backup.
pub fn is_compressed(head: &[u8]) -> bool {
    head.starts_with(MAGIC)
}

/// Where one compressed chunk lies in the file and what it decodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkInfo {
    /// File offset of the chunk's `0x21` record header.
    pub record_offset: u64,
    /// File offset of the MS-XCA payload (`record_offset + 28`).
    pub payload_offset: u64,
    /// Payload length in bytes.
    pub payload_len: u32,
    /// Offset of the chunk's first decoded byte in the decompressed stream.
    pub stream_offset: u64,
    /// Decoded length in bytes (a multiple of 512, at most 130,560).
    pub len: u32,
}

/// One chunk of the index: 16 bytes, so the index stays small for huge backups.
#[derive(Clone, Copy)]
struct Entry {
    /// Record file offset in the low 48 bits, payload length in the high 16.
    packed: u64,
    stream_offset: u64,
}

impl Entry {
    fn record_offset(self) -> u64 {
        self.packed & (MAX_FILE_LEN - 1)
    }
    fn payload_len(self) -> u32 {
        (self.packed >> 48) as u32
    }
}

/// The decompressed MTF stream of an `MSSQLBAK` file, readable at any offset from any
/// number of threads.
///
/// Offsets given to and reported by [`ByteSource::read_exact_at`] count bytes of the
/// decompressed stream ([`ByteSource::is_decompressed`] is true). Memory use is bounded:
/// the chunk index (16 bytes per chunk) plus at most the cache capacity of decoded chunks
/// (64 KiB each), plus per reading thread one payload and one output buffer during a
/// decode and a 64 KiB decoding table kept for the thread's lifetime. Two threads that
/// miss the same chunk at once may both decode it; the result is the same.
pub struct CompressedSource {
    path: PathBuf,
    file: Box<dyn ByteSource>,
    version: (u32, u32),
    block_size: u32,
    chunks: Vec<Entry>,
    filemarks: Vec<u64>,
    len: u64,
    cache: ChunkCache,
}

impl fmt::Debug for CompressedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompressedSource")
            .field("path", &self.path)
            .field("version", &self.version)
            .field("block_size", &self.block_size)
            .field("chunks", &self.chunks.len())
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

thread_local! {
    /// One decoder (64 KiB table) per reading thread, so decodes share no lock.
    static DECODER: RefCell<Decoder> = RefCell::new(Decoder::new());
}

impl CompressedSource {
    /// Maps the file at `path` and indexes it; see [`CompressedSource::from_source`].
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the file cannot be opened; otherwise as
    /// [`CompressedSource::from_source`].
    #[cfg(any(test, feature = "internals"))]
    pub fn open(path: &std::path::Path) -> Result<Self> {
        let file = crate::source::MmapSource::open(path)?;
        Self::from_source(Box::new(file), path)
    }

    /// Indexes the container held by `file`, whose errors will name `path`.
    ///
    /// Walks every record header once (no decompression except the first chunk, which must
    /// decode to an MTF `TAPE` block).
    ///
    /// # Errors
    /// All errors name `path` and the file offset of the record at fault:
    /// - [`ErrorKind::NotABackup`] when the file does not start with `MSSQLBAK`;
    /// - [`ErrorKind::Unsupported`] for another container version, a record type this reader
    ///   does not know, or a first chunk that is not an MS-XCA stream of a `TAPE` block (an
    ///   encrypted backup, `BACKUP … WITH ENCRYPTION`, is expected to look like that);
    /// - [`ErrorKind::Truncated`] when a record runs past the end of the file or the file
    ///   ends without its closing soft filemark;
    /// - [`ErrorKind::Corrupt`] when a record header is inconsistent.
    pub fn from_source(file: Box<dyn ByteSource>, path: impl Into<PathBuf>) -> Result<Self> {
        let path = path.into();
        let walk = Walk::run(file.as_ref()).map_err(|e| e.with_file(&path))?;
        let source = CompressedSource {
            path,
            file,
            version: walk.version,
            block_size: walk.block_size,
            chunks: walk.chunks,
            filemarks: walk.filemarks,
            len: walk.len,
            cache: ChunkCache::new(DEFAULT_CACHE_CHUNKS),
        };
        source.check_first_chunk()?;
        Ok(source)
    }

    /// Sets how many decoded chunks the cache keeps (0 disables it). Each takes at most
    /// 64 KiB in the fixtures (at most 130,560 bytes by the format).
    #[cfg(any(test, feature = "internals"))]
    pub fn with_cache_capacity(mut self, chunks: usize) -> Self {
        self.cache = ChunkCache::new(chunks);
        self
    }

    /// The container version words (`u32` at offsets 8 and 12): `(2, 3)` in every fixture.
    #[cfg(any(test, feature = "internals"))]
    pub fn version(&self) -> (u32, u32) {
        self.version
    }

    /// The physical block size in bytes: the length of the container's raw soft filemarks,
    /// to whose boundaries padding and index records align (512 or 4096 in the fixtures).
    #[cfg(any(test, feature = "internals"))]
    pub fn block_size(&self) -> u32 {
        self.block_size
    }

    /// File offsets of the raw `SFMB` soft filemarks (not part of the decompressed stream).
    #[cfg(any(test, feature = "internals"))]
    pub fn soft_filemarks(&self) -> &[u64] {
        &self.filemarks
    }

    /// Number of compressed chunks.
    #[cfg(any(test, feature = "internals"))]
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// The `i`-th chunk in file (and stream) order, or `None` past the last.
    pub fn chunk(&self, i: usize) -> Option<ChunkInfo> {
        let e = *self.chunks.get(i)?;
        let end = self.chunks.get(i + 1).map_or(self.len, |n| n.stream_offset);
        Some(ChunkInfo {
            record_offset: e.record_offset(),
            payload_offset: e.record_offset() + CHUNK_HEADER_LEN,
            payload_len: e.payload_len(),
            stream_offset: e.stream_offset,
            // Chunk sizes are 512 × a byte, so this fits.
            len: (end - e.stream_offset) as u32,
        })
    }

    /// Every chunk, in order.
    #[cfg(any(test, feature = "internals"))]
    pub fn chunks(&self) -> impl Iterator<Item = ChunkInfo> + '_ {
        (0..self.chunks.len()).filter_map(|i| self.chunk(i))
    }

    /// How many decoded chunks the cache holds now (at most its capacity).
    #[cfg(any(test, feature = "internals"))]
    pub fn cached_chunks(&self) -> usize {
        self.cache.lock().slots.len()
    }

    /// The decoded bytes of chunk `i` (from the cache, or decoded and cached).
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`] naming the file and the chunk record's file offset when the
    /// payload does not decode to the chunk's declared size; [`ErrorKind::Truncated`] when
    /// `i` is past the last chunk; I/O errors of the underlying source.
    pub fn read_chunk(&self, i: usize) -> Result<Arc<Vec<u8>>> {
        if let Some(hit) = self.cache.get(i) {
            return Ok(hit);
        }
        let data = Arc::new(self.decode_chunk(i)?);
        self.cache.put(i, Arc::clone(&data));
        Ok(data)
    }

    fn decode_chunk(&self, i: usize) -> Result<Vec<u8>> {
        let c = self.chunk(i).ok_or_else(|| {
            Error::truncated(format!("chunk {i} requested but the container has {}", self.chunks.len()))
                .with_file(&self.path)
        })?;
        self.decode_payload(&c).map_err(|e| self.chunk_error(i, &c, e))
    }

    /// Reads and decodes one chunk's payload; errors are the source's or the decoder's.
    fn decode_payload(&self, c: &ChunkInfo) -> Result<Vec<u8>> {
        let mut payload = vec![0u8; c.payload_len as usize];
        self.file.read_exact_at(c.payload_offset, &mut payload)?;
        let mut out = Vec::with_capacity(c.len as usize);
        DECODER.with(|d| d.borrow_mut().decompress_into(&payload, c.len as usize, &mut out))?;
        Ok(out)
    }

    fn chunk_error(&self, i: usize, c: &ChunkInfo, e: Error) -> Error {
        if e.kind != ErrorKind::Corrupt {
            // An I/O failure of the source, already placed.
            return e.with_file(&self.path);
        }
        let at = e
            .offset
            .map_or(String::new(), |k| format!(" (near payload byte {k}, file offset {:#x})", c.payload_offset + k));
        Error::new(
            e.kind,
            format!(
                "compressed chunk {i} ({} payload bytes for stream bytes {}..{}) does not decode: {}{at}",
                c.payload_len,
                c.stream_offset,
                c.stream_offset + u64::from(c.len),
                e.message
            ),
        )
        .with_file(&self.path)
        .at(c.record_offset)
    }

    /// The first chunk is the MTF media header; anything else means the payloads are not
    /// what this reader understands (encrypted, or another layout).
    fn check_first_chunk(&self) -> Result<()> {
        let Some(c) = self.chunk(0) else {
            return Err(Error::corrupt("the container holds no compressed chunk").with_file(&self.path).at(HEADER_LEN));
        };
        let unsupported = |why: String| {
            Error::unsupported(format!(
                "{why}: the compressed backup's payload is not readable (encrypted with BACKUP … \
                 WITH ENCRYPTION, or a container layout this reader does not know)"
            ))
            .with_file(&self.path)
            .at(c.record_offset)
        };
        match self.decode_payload(&c) {
            Ok(first) if first.starts_with(b"TAPE") => {
                // `soft_filemark_block_size` (TAPE offset 64, 512-byte units) must be the size
                // of the raw filemarks found in the container.
                let sfmb = first.get(64..66).map_or(0, |b| u32::from(u16::from_le_bytes([b[0], b[1]])) * 512);
                if sfmb != self.block_size {
                    return Err(Error::corrupt(format!(
                        "the TAPE block gives {sfmb}-byte soft filemarks but the container's are {} bytes",
                        self.block_size
                    ))
                    .with_file(&self.path)
                    .at(self.filemarks.first().copied().unwrap_or(HEADER_LEN)));
                }
                Ok(())
            }
            Ok(first) => Err(unsupported(format!(
                "the first chunk decodes to bytes {:02x?}, not an MTF TAPE block",
                &first[..first.len().min(4)]
            ))),
            Err(e) if e.kind == ErrorKind::Corrupt => {
                Err(unsupported(format!("the first chunk does not decode ({})", e.message)))
            }
            Err(e) => Err(e.with_file(&self.path)),
        }
    }
}

impl ByteSource for CompressedSource {
    /// Length of the decompressed stream in bytes.
    fn len(&self) -> u64 {
        self.len
    }

    fn chunk_at(&self, offset: u64) -> Option<(usize, u64)> {
        let i = self.chunks.partition_point(|e| e.stream_offset <= offset).checked_sub(1)?;
        (offset < self.len).then(|| (i, self.chunks[i].record_offset()))
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let Some(end) = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.len) else {
            return Err(Error::truncated(format!(
                "the decompressed stream ends at byte {} but {} bytes are needed at offset {offset}",
                self.len,
                buf.len()
            ))
            .with_file(&self.path)
            .at_stream(offset)
            .in_chunk(self.chunk_at(offset.min(self.len.saturating_sub(1)))));
        };
        let mut i = self.chunks.partition_point(|e| e.stream_offset <= offset).saturating_sub(1);
        let mut pos = offset;
        let mut done = 0usize;
        while pos < end {
            let data = self.read_chunk(i)?;
            let start = self.chunks.get(i).map_or(0, |e| pos - e.stream_offset) as usize;
            let part = data.get(start..).unwrap_or_default();
            let n = part.len().min(buf.len() - done);
            if n == 0 {
                // Cannot happen with a consistent index; never loop forever if it does.
                return Err(Error::corrupt(format!("chunk {i} does not cover stream offset {pos}"))
                    .with_file(&self.path)
                    .at_stream(pos)
                    .in_chunk(self.chunk_at(pos)));
            }
            buf[done..done + n].copy_from_slice(&part[..n]);
            done += n;
            pos += n as u64;
            i += 1;
        }
        Ok(())
    }

    fn is_decompressed(&self) -> bool {
        true
    }
}

/// The one-pass walk over the record headers.
struct Walk {
    version: (u32, u32),
    block_size: u32,
    chunks: Vec<Entry>,
    filemarks: Vec<u64>,
    len: u64,
}

impl Walk {
    fn run(file: &dyn ByteSource) -> Result<Walk> {
        let file_len = file.len();
        let mut head = [0u8; 16];
        if file_len < head.len() as u64 {
            return Err(Error::new(ErrorKind::NotABackup, format!("only {file_len} bytes: not a compressed backup")));
        }
        file.read_exact_at(0, &mut head)?;
        if !is_compressed(&head) {
            return Err(Error::new(
                ErrorKind::NotABackup,
                format!("no MSSQLBAK magic (first bytes: {})", crate::mtf::describe_magic(&head)),
            )
            .at(0));
        }
        let version = (le32(&head[8..12]), le32(&head[12..16]));
        if version.0 != SUPPORTED_VERSION {
            return Err(Error::unsupported(format!(
                "MSSQLBAK container version {}.{} (only version {SUPPORTED_VERSION}, written by SQL Server \
                 2016 and 2019, is known)",
                version.0, version.1
            ))
            .at(8));
        }
        if file_len >= MAX_FILE_LEN {
            return Err(Error::unsupported(format!("a {file_len}-byte compressed backup (over 256 TiB)")));
        }

        let mut walk = Walk { version, block_size: 0, chunks: Vec::new(), filemarks: Vec::new(), len: 0 };
        let mut pos = HEADER_LEN;
        let mut last_was_filemark = false;
        // The previous record (type and offset): an unknown byte where it says the next
        // record starts is damage, not an unknown layout.
        let mut previous: Option<(u8, u64)> = None;
        while pos < file_len {
            let mut hdr = [0u8; CHUNK_HEADER_LEN as usize];
            let avail = (file_len - pos).min(CHUNK_HEADER_LEN) as usize;
            file.read_exact_at(pos, &mut hdr[..avail])?;
            let hdr = &hdr[..avail];
            last_was_filemark = hdr.starts_with(b"SFMB");
            let here = pos;
            pos = match hdr[0] {
                _ if last_was_filemark => walk.filemark(file, pos)?,
                RECORD_CHUNK => walk.chunk(hdr, pos, file_len)?,
                RECORD_PADDING => walk.padding(hdr, pos, file_len)?,
                RECORD_INDEX => walk.index(file, pos, file_len)?,
                kind => {
                    let Some((prev_kind, prev_at)) = previous else {
                        return Err(Error::unsupported(format!(
                            "unknown MSSQLBAK record type {kind:#04x} (known: 0x21 chunk, 0x24 padding, \
                             0x2c index, raw SFMB) as the first record; an encrypted backup or a newer container layout"
                        ))
                        .at(pos));
                    };
                    let what = match prev_kind {
                        RECORD_CHUNK => format!("compressed chunk {}", walk.chunks.len() - 1),
                        RECORD_PADDING => "padding record".into(),
                        RECORD_INDEX => "chunk index record".into(),
                        _ => "soft filemark".into(),
                    };
                    return Err(Error::corrupt(format!(
                        "the container is damaged: no record starts at offset {pos} (byte {kind:#04x}), where the \
                         {what} at offset {prev_at} says the next one does (a damaged length field, or damaged \
                         bytes in between)"
                    ))
                    .at(pos));
                }
            };
            previous = Some((hdr[0], here));
        }
        if !last_was_filemark {
            return Err(Error::truncated(format!(
                "the container ends at byte {file_len} without its closing soft filemark (SFMB)"
            ))
            .at(file_len.min(pos)));
        }
        if walk.chunks.is_empty() {
            return Err(Error::corrupt("the container holds no compressed chunk").at(HEADER_LEN));
        }
        Ok(walk)
    }

    /// A `0x21` record: index it, return where the next record starts.
    fn chunk(&mut self, hdr: &[u8], pos: u64, file_len: u64) -> Result<u64> {
        if hdr.len() < CHUNK_HEADER_LEN as usize {
            return Err(Error::truncated("the file ends inside a compressed-chunk header").at(pos));
        }
        let units = hdr[1];
        let payload_len = u16::from_le_bytes([hdr[2], hdr[3]]);
        if units == 0 {
            return Err(Error::corrupt("compressed-chunk header declares 0 decompressed bytes").at(pos));
        }
        // The smallest MS-XCA stream is a 256-byte table and two 16-bit words.
        if usize::from(payload_len) < crate::xpress::TABLE_LEN + 4 {
            return Err(Error::corrupt(format!(
                "compressed-chunk header declares a {payload_len}-byte payload, shorter than any MS-XCA stream"
            ))
            .at(pos));
        }
        let end = pos + CHUNK_HEADER_LEN + u64::from(payload_len);
        if end > file_len {
            return Err(Error::truncated(format!(
                "compressed chunk of {payload_len} bytes runs past the end of the file (byte {file_len})"
            ))
            .at(pos));
        }
        self.chunks.push(Entry { packed: pos | u64::from(payload_len) << 48, stream_offset: self.len });
        self.len += u64::from(units) * 512;
        Ok(end)
    }

    /// A `0x24` record: zero padding up to a physical block boundary.
    fn padding(&mut self, hdr: &[u8], pos: u64, file_len: u64) -> Result<u64> {
        if hdr.len() < AUX_HEADER_LEN as usize {
            return Err(Error::truncated("the file ends inside a padding-record header").at(pos));
        }
        let end = pos + AUX_HEADER_LEN + u64::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        if end > file_len {
            return Err(Error::truncated("padding record runs past the end of the file").at(pos));
        }
        if !end.is_multiple_of(u64::from(self.block_size.max(512))) {
            return Err(Error::corrupt(format!(
                "padding record ends at {end:#x}, not on a {}-byte block boundary",
                self.block_size.max(512)
            ))
            .at(pos));
        }
        Ok(end)
    }

    /// A `0x2c` record: framed by its entry count and the copy of its index header that
    /// closes the physical block.
    fn index(&mut self, file: &dyn ByteSource, pos: u64, file_len: u64) -> Result<u64> {
        if self.block_size == 0 {
            return Err(Error::corrupt("chunk-index record before any soft filemark gave the block size").at(pos));
        }
        let mut ih = [0u8; INDEX_HEADER_LEN as usize];
        let ih_at = pos + AUX_HEADER_LEN;
        if ih_at + INDEX_HEADER_LEN > file_len {
            return Err(Error::truncated("the file ends inside a chunk-index record").at(pos));
        }
        file.read_exact_at(ih_at, &mut ih)?;
        let entries = u64::from(le32(&ih[4..8]));
        let min_end = ih_at + INDEX_HEADER_LEN + entries * INDEX_ENTRY_LEN + INDEX_HEADER_LEN;
        let end = min_end.div_ceil(u64::from(self.block_size)) * u64::from(self.block_size);
        if end > file_len {
            return Err(Error::truncated(format!(
                "chunk-index record of {entries} entries runs past the end of the file"
            ))
            .at(pos));
        }
        let mut trailer = [0u8; INDEX_HEADER_LEN as usize];
        file.read_exact_at(end - INDEX_HEADER_LEN, &mut trailer)?;
        if trailer != ih {
            return Err(Error::corrupt(format!(
                "chunk-index record is not closed by a copy of its header at {:#x}",
                end - INDEX_HEADER_LEN
            ))
            .at(pos));
        }
        Ok(end)
    }

    /// A raw MTF soft filemark: one physical block, whose size it gives.
    fn filemark(&mut self, file: &dyn ByteSource, pos: u64) -> Result<u64> {
        let mut h = [0u8; MTF_HEADER_LEN];
        if file.len() - pos < MTF_HEADER_LEN as u64 {
            return Err(Error::truncated("the file ends inside a soft filemark header").at(pos));
        }
        file.read_exact_at(pos, &mut h)?;
        let sum = h[..50].chunks_exact(2).fold(0u16, |acc, w| acc ^ u16::from_le_bytes([w[0], w[1]]));
        if sum != u16::from_le_bytes([h[50], h[51]]) {
            return Err(Error::corrupt("soft filemark (SFMB) header checksum mismatch").at(pos));
        }
        // `offset_to_first_event`: an SFMB has no streams, so this is its whole length.
        let size = u32::from(u16::from_le_bytes([h[8], h[9]]));
        if size == 0 || size % 512 != 0 {
            return Err(Error::corrupt(format!("soft filemark of {size} bytes (not whole 512-byte sectors)")).at(pos));
        }
        if self.block_size != 0 && self.block_size != size {
            return Err(Error::corrupt(format!(
                "soft filemark of {size} bytes where the earlier ones had {}",
                self.block_size
            ))
            .at(pos));
        }
        if !pos.is_multiple_of(u64::from(size)) {
            return Err(Error::corrupt(format!("soft filemark not aligned to its {size}-byte block")).at(pos));
        }
        let end = pos + u64::from(size);
        if end > file.len() {
            return Err(
                Error::truncated(format!("soft filemark of {size} bytes runs past the end of the file")).at(pos)
            );
        }
        self.block_size = size;
        self.filemarks.push(pos);
        Ok(end)
    }
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

/// A small least-recently-used cache of decoded chunks.
struct ChunkCache {
    capacity: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    tick: u64,
    /// `(chunk index, last use, bytes)`; a linear scan is cheapest at these sizes.
    slots: Vec<(usize, u64, Arc<Vec<u8>>)>,
}

impl ChunkCache {
    fn new(capacity: usize) -> Self {
        ChunkCache { capacity, inner: Mutex::new(CacheInner::default()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        // The cache holds no invariant a panicking reader could break.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn get(&self, chunk: usize) -> Option<Arc<Vec<u8>>> {
        let mut c = self.lock();
        c.tick += 1;
        let tick = c.tick;
        let slot = c.slots.iter_mut().find(|s| s.0 == chunk)?;
        slot.1 = tick;
        Some(Arc::clone(&slot.2))
    }

    fn put(&self, chunk: usize, data: Arc<Vec<u8>>) {
        if self.capacity == 0 {
            return;
        }
        let mut c = self.lock();
        c.tick += 1;
        let tick = c.tick;
        if c.slots.iter().any(|s| s.0 == chunk) {
            return;
        }
        if c.slots.len() < self.capacity {
            c.slots.push((chunk, tick, data));
        } else if let Some(oldest) = c.slots.iter_mut().min_by_key(|s| s.1) {
            *oldest = (chunk, tick, data);
        }
    }
}
