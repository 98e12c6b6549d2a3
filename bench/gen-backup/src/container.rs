//! Writes the `MSSQLBAK` container of a compressed backup around an uncompressed MTF image,
//! in the layout `mssql_backup::internals::compressed` reads (its module documentation
//! gives the facts and the fixtures they were read from).
//!
//! What is written, in file order:
//! - a 0x1E0-byte file header: `"MSSQLBAK"`, `u32` 2 at offset 8, `u32` 3 at offset 12, the
//!   rest zero (SQL Server's other header bytes vary between its files and mean nothing the
//!   reader knows; zero is written rather than guessed);
//! - the MTF stream without its soft filemarks, cut into `0x21` chunk records of at most
//!   64 KiB of stream each (a multiple of 512; a chunk ends where a filemark starts), each an
//!   [MS-XCA] LZ77+Huffman stream from [`crate::xca`]. The 28-byte record header carries
//!   the type, the stream size in 512-byte units (byte 1) and the payload length (`u16` at
//!   2); its unidentified bytes (4–27) are zero;
//! - each `SFMB` soft filemark raw, at a multiple of its own length (the physical block
//!   size), preceded by a `0x24` padding record when needed, with its filemark entries
//!   (`u64` from offset 72, most recent first) rewritten to the container file offsets of
//!   the earlier filemarks, as SQL Server's compressed files hold them.
//!
//! Not written: the `0x2c` chunk-index record (its entries repeat what the chunk walk
//! finds; the reader does not need it). Whether SQL Server's RESTORE accepts such a file is
//! not known (no SQL Server here); the reader does.

use std::io::{self, Read, Write};

use crate::xca::{BLOCK_SIZE, Encoder};

/// Bytes of the file header.
const HEADER_LEN: usize = 0x1E0;
const CHUNK_HEADER_LEN: usize = 28;
const PADDING_HEADER_LEN: usize = 24;
/// Filemark entries start at offset 72 of an `SFMB` block (`u64` each).
const FILEMARK_ENTRIES: usize = 72;
/// Entries in use: `u32` at offset 56 of an `SFMB` block.
const FILEMARK_USED: usize = 56;

/// A [`Write`] that takes an uncompressed MTF image, byte for byte in file order, and writes
/// the compressed container of the same stream to `out`.
pub struct CompressedWriter<W: Write> {
    out: W,
    /// Container bytes written so far.
    written: u64,
    /// Image bytes taken so far.
    pos: u64,
    /// `(offset, length)` of the image's soft filemarks, in order.
    filemarks: Vec<(u64, u64)>,
    next_filemark: usize,
    /// Container offsets of the filemarks written.
    filemark_offsets: Vec<u64>,
    chunk: Vec<u8>,
    filemark: Vec<u8>,
    payload: Vec<u8>,
    encoder: Encoder,
    chunks: u64,
}

impl<W: Write> CompressedWriter<W> {
    /// Starts a container on `out`; `filemarks` are the `(offset, length)` of every `SFMB`
    /// block of the image that will be written, in order.
    ///
    /// # Errors
    /// Writing the file header fails.
    pub fn new(mut out: W, filemarks: Vec<(u64, u64)>) -> io::Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(b"MSSQLBAK");
        header[8..12].copy_from_slice(&2u32.to_le_bytes());
        header[12..16].copy_from_slice(&3u32.to_le_bytes());
        out.write_all(&header)?;
        Ok(CompressedWriter {
            out,
            written: HEADER_LEN as u64,
            pos: 0,
            filemarks,
            next_filemark: 0,
            filemark_offsets: Vec::new(),
            chunk: Vec::with_capacity(BLOCK_SIZE),
            filemark: Vec::new(),
            payload: Vec::with_capacity(BLOCK_SIZE + BLOCK_SIZE / 4),
            encoder: Encoder::new(),
            chunks: 0,
        })
    }

    /// Chunk records written so far.
    pub fn chunks(&self) -> u64 {
        self.chunks
    }

    /// Ends the container: the last chunk, then the inner writer, flushed.
    ///
    /// # Errors
    /// Writing fails, or the image ended before a filemark it was said to hold.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_chunk()?;
        if self.next_filemark < self.filemarks.len() || !self.filemark.is_empty() {
            return Err(io::Error::other(format!(
                "the image ended at {} bytes, before its soft filemark at {}",
                self.pos, self.filemarks[self.next_filemark].0
            )));
        }
        self.out.flush()?;
        Ok(self.out)
    }

    fn flush_chunk(&mut self) -> io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        if !self.chunk.len().is_multiple_of(512) {
            return Err(io::Error::other(format!(
                "a chunk of {} bytes ends at image offset {}: chunks hold whole 512-byte units",
                self.chunk.len(),
                self.pos
            )));
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.write_chunks(&chunk)?;
        self.chunk = chunk;
        self.chunk.clear();
        Ok(())
    }

    /// One chunk record for `data`, or two halves when its payload would not fit the
    /// record's 16-bit length (incompressible data).
    fn write_chunks(&mut self, data: &[u8]) -> io::Result<()> {
        self.payload.clear();
        self.encoder.compress(data, &mut self.payload);
        if self.payload.len() > usize::from(u16::MAX) {
            let half = (data.len() / 2).div_ceil(512) * 512;
            self.write_chunks(&data[..half])?;
            return self.write_chunks(&data[half..]);
        }
        let mut h = [0u8; CHUNK_HEADER_LEN];
        h[0] = 0x21;
        h[1] = (data.len() / 512) as u8;
        h[2..4].copy_from_slice(&(self.payload.len() as u16).to_le_bytes());
        self.out.write_all(&h)?;
        self.out.write_all(&self.payload)?;
        self.written += (CHUNK_HEADER_LEN + self.payload.len()) as u64;
        self.chunks += 1;
        Ok(())
    }

    /// A complete filemark: padding to its block size, then the block with its entries.
    fn write_filemark(&mut self) -> io::Result<()> {
        let block = self.filemark.len() as u64;
        let mut gap = (block - self.written % block) % block;
        if gap != 0 && gap < PADDING_HEADER_LEN as u64 {
            gap += block;
        }
        if gap != 0 {
            let zeros = gap - PADDING_HEADER_LEN as u64;
            let mut h = [0u8; PADDING_HEADER_LEN];
            h[0] = 0x24;
            h[2..4].copy_from_slice(&u16::try_from(zeros).map_err(io::Error::other)?.to_le_bytes());
            self.out.write_all(&h)?;
            io::copy(&mut io::repeat(0).take(zeros), &mut self.out)?;
            self.written += gap;
        }
        let used = self.filemark_offsets.len();
        let room = (self.filemark.len() - FILEMARK_ENTRIES) / 8;
        if used > room {
            return Err(io::Error::other(format!("a filemark has room for {room} entries, {used} needed")));
        }
        self.filemark[FILEMARK_USED..FILEMARK_USED + 4].copy_from_slice(&(used as u32).to_le_bytes());
        for (i, off) in self.filemark_offsets.iter().rev().enumerate() {
            let at = FILEMARK_ENTRIES + 8 * i;
            self.filemark[at..at + 8].copy_from_slice(&off.to_le_bytes());
        }
        self.out.write_all(&self.filemark)?;
        self.filemark_offsets.push(self.written);
        self.written += block;
        self.filemark.clear();
        self.next_filemark += 1;
        Ok(())
    }
}

impl<W: Write> Write for CompressedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut rest = buf;
        while !rest.is_empty() {
            match self.filemarks.get(self.next_filemark).copied() {
                Some((start, len)) if self.pos >= start => {
                    let take = rest.len().min((start + len - self.pos) as usize);
                    self.filemark.extend_from_slice(&rest[..take]);
                    self.pos += take as u64;
                    rest = &rest[take..];
                    if self.pos == start + len {
                        self.write_filemark()?;
                    }
                }
                next => {
                    let until = next.map_or(u64::MAX, |(start, _)| start - self.pos);
                    let room = BLOCK_SIZE - self.chunk.len();
                    let take = rest.len().min(room).min(usize::try_from(until).unwrap_or(usize::MAX));
                    self.chunk.extend_from_slice(&rest[..take]);
                    self.pos += take as u64;
                    rest = &rest[take..];
                    if self.chunk.len() == BLOCK_SIZE || next.is_some_and(|(start, _)| self.pos == start) {
                        self.flush_chunk()?;
                    }
                }
            }
        }
        Ok(buf.len())
    }

    /// Flushes the inner writer only: a chunk is written when full or at a filemark, so that
    /// chunk sizes do not depend on how the caller's writes were cut.
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
