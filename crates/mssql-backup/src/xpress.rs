//! Decoder for the LZ77+Huffman variant of the Xpress Compression Algorithm, as specified
//! in [MS-XCA] §2.1–2.2, the codec of SQL Server compressed backups (`MSSQLBAK` chunks).
//!
//! # Format (per [MS-XCA] §2.1 and §2.2.4)
//! A compressed stream is a sequence of blocks, each decoding to 65,536 bytes of output
//! (the last one to fewer):
//! - 256 bytes of Huffman code lengths: 512 four-bit lengths, symbol `2i` in the low nibble
//!   of byte `i` and symbol `2i + 1` in the high nibble. Length 0 means "symbol unused".
//!   The code is canonical: codes are handed out by increasing length, then increasing
//!   symbol value, and must fill the 15-bit code space exactly.
//! - A bit stream of little-endian 16-bit words read most-significant bit first. The
//!   decoder always holds at least 16 unread bits: it reads two words up front and one more
//!   each time fewer than 16 remain (§2.2.4).
//! - Symbols 0–255 are literal bytes. Symbol `256 + 16·k + l` is a match: offset
//!   `2^k + (the next k bits)` back, length `l + 3`, where `l = 15` escapes to a length byte
//!   read from the byte stream (not the bit stream) at the current input position; a byte
//!   of 255 escapes again to a 16-bit little-endian length (the whole length minus 3, below
//!   15 invalid). A 16-bit value of 0 is taken as a further escape to a 32-bit length, as
//!   Samba's implementation reads it (older revisions of [MS-XCA] reject every 16-bit value
//!   below 15; chunks of at most 64 KiB never need more than 16 bits). Those bytes sit right after the words the
//!   decoder has already loaded, which is why the refill discipline above must be followed
//!   exactly.
//! - A match may run past the end of its block; the next block then ends 65,536 bytes after
//!   wherever the match stopped (§2.2.4 computes `BlockEnd` when a block starts).
//! - The stream ends when the expected output size has been written and either the input
//!   has no room for another Huffman table, or symbol 256 is decoded with the input fully
//!   read (§2.2.4). The decoder therefore needs the exact output size up front.
//!
//! # Speed
//! Decoding is table-driven and allocates nothing per symbol. A 2^12-entry table (8 KiB,
//! which stays in the L1 cache) resolves every code of up to 12 bits in one lookup; longer
//! codes take a second lookup in a 2^15-entry table of which only their ranges are filled.
//! Both are rebuilt per block. Short matches are copied 16 bytes at a time when the regions
//! allow it, long ones with `copy_within`/`fill`. A release build decodes about 1 GB of
//! output per second on one core over every chunk of the two SQL Server 2016 compressed
//! fixtures (`cargo bench -p mssql-backup --bench read -- MS-XCA`).

use crate::{Error, Result};

/// Output bytes per block (per [MS-XCA] §2.2.4: `BlockEnd = OutputPosition + 65536`).
pub const BLOCK_SIZE: usize = 65_536;
/// Bytes of packed code lengths at the start of every block ([MS-XCA] §2.2.4).
pub const TABLE_LEN: usize = 256;
/// Longest Huffman code, in bits; the decoding table has `2^MAX_CODE_LEN` entries.
pub const MAX_CODE_LEN: u32 = 15;
const NUM_SYMBOLS: usize = 512;
const DECODE_ENTRIES: usize = 1 << MAX_CODE_LEN;
/// Code lengths resolved by the first-level table.
const FAST_BITS: u32 = 12;
/// The end-of-stream symbol ([MS-XCA] §2.2.4); elsewhere it is an ordinary match.
const EOF_SYMBOL: u16 = 256;

/// A reusable MS-XCA LZ77+Huffman decoder.
///
/// Holds the decoding tables (72 KiB) so that decoding many chunks (one per `MSSQLBAK`
/// record) allocates nothing after construction. A `Decoder` is not shared between
/// threads while decoding (`&mut self`); keep one per thread.
pub struct Decoder {
    /// Entry `c` (a 12-bit peek) = `symbol << 4 | code length` of the code that prefixes `c`,
    /// or 0 when that code is longer than 12 bits.
    fast: Box<[u16; 1 << FAST_BITS]>,
    /// The same for a 15-bit peek, filled only where `fast` holds 0.
    table: Box<[u16; DECODE_ENTRIES]>,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decoder").finish_non_exhaustive()
    }
}

/// Decodes `input`, a complete LZ77+Huffman stream, which must produce exactly `out_len`
/// bytes; returns them in a new vector. See [`Decoder::decompress_into`].
///
/// # Errors
/// As [`Decoder::decompress_into`].
#[cfg(any(test, feature = "internals"))]
pub fn decompress(input: &[u8], out_len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    Decoder::new().decompress_into(input, out_len, &mut out)?;
    Ok(out)
}

impl Decoder {
    /// A decoder with empty tables (allocates their 72 KiB once).
    pub fn new() -> Self {
        Decoder { fast: Box::new([0u16; 1 << FAST_BITS]), table: Box::new([0u16; DECODE_ENTRIES]) }
    }

    /// Decodes `input`, a complete LZ77+Huffman stream ([MS-XCA] §2.2), appending exactly
    /// `out_len` bytes to `out`.
    ///
    /// `input` is the whole compressed stream (the first block's 256-byte table first) and
    /// nothing else; `out_len` is the exact decompressed size in bytes, which the format
    /// needs to recognise its end (for an `MSSQLBAK` chunk, 512 × the record's size byte).
    /// `out` grows by `out_len` bytes (reserved up front, so pass sizes you trust); on error
    /// it is left as it was. Matches may only refer to bytes this call produced.
    ///
    /// # Errors
    /// [`ErrorKind::Corrupt`](crate::ErrorKind::Corrupt) with [`Error::offset`] set to the
    /// byte offset in `input` where decoding stopped (for bit-stream faults, the next unread
    /// byte: the faulty code was read from the few bytes before it), when:
    /// - a block's code lengths do not form a complete prefix code (over-subscribed or
    ///   incomplete, per the table construction of §2.2.4);
    /// - the stream needs bytes past the end of `input` (truncated input);
    /// - a match reaches back before the start of the output, or an extended length is
    ///   invalid (a 16-bit length below 15);
    /// - the stream would produce more than `out_len` bytes, or stops before (the input
    ///   ends), or input remains after the end-of-stream symbol.
    pub fn decompress_into(&mut self, input: &[u8], out_len: usize, out: &mut Vec<u8>) -> Result<()> {
        let base = out.len();
        out.resize(base + out_len, 0);
        let result = self.run(input, &mut out[base..]);
        if result.is_err() {
            out.truncate(base);
        }
        result
    }

    /// Builds the decoding table from a block's 256 packed code lengths, per the
    /// construction of [MS-XCA] §2.2.4: codes by increasing length, then symbol value, each
    /// code of length `n` owning `2^(15 - n)` consecutive entries, filling all `2^15`.
    fn build_table(&mut self, lengths: &[u8; TABLE_LEN]) -> Result<(), String> {
        let mut count = [0u32; 16];
        for &b in lengths {
            count[usize::from(b & 0x0f)] += 1;
            count[usize::from(b >> 4)] += 1;
        }
        // Where the codes of each length start in the table, and whether they fill it.
        let mut next = [0u32; 16];
        let mut total = 0u32;
        for len in 1..=MAX_CODE_LEN as usize {
            next[len] = total;
            total += count[len] << (MAX_CODE_LEN as usize - len);
        }
        if total != DECODE_ENTRIES as u32 {
            let state = if total > DECODE_ENTRIES as u32 { "over-subscribed" } else { "incomplete" };
            return Err(format!(
                "invalid Huffman table: the code lengths are {state} (they cover {total} of {DECODE_ENTRIES} codes)"
            ));
        }
        self.fast.fill(0);
        for (symbol, len) in (0..NUM_SYMBOLS).map(|s| {
            let b = lengths[s / 2];
            (s, u32::from(if s % 2 == 0 { b & 0x0f } else { b >> 4 }))
        }) {
            if len == 0 {
                continue;
            }
            let start = next[len as usize] as usize;
            let span = 1usize << (MAX_CODE_LEN - len);
            next[len as usize] += span as u32;
            // The Kraft sum above is exactly 2^15, so every range is inside the table.
            let entry = ((symbol as u16) << 4) | len as u16;
            if len <= FAST_BITS {
                // A code this short starts on a multiple of its span, itself a multiple of
                // the 2^3 table entries one fast entry stands for.
                let shift = MAX_CODE_LEN - FAST_BITS;
                self.fast[start >> shift..(start + span) >> shift].fill(entry);
            } else {
                self.table[start..start + span].fill(entry);
            }
        }
        Ok(())
    }

    /// One Huffman symbol: decode, consume its bits, refill per §2.2.4.
    #[inline(always)]
    fn symbol(&self, r: &mut BitReader<'_>) -> Result<u16> {
        let mut entry = self.fast[(r.bits >> (32 - FAST_BITS)) as usize];
        if entry == 0 {
            entry = self.table[(r.bits >> (32 - MAX_CODE_LEN)) as usize];
        }
        r.consume(u32::from(entry & 0x0f))?;
        Ok(entry >> 4)
    }

    fn run(&mut self, input: &[u8], dst: &mut [u8]) -> Result<()> {
        let out_len = dst.len();
        let mut ip = 0usize; // next unread input byte at a block start
        let mut op = 0usize; // next output byte
        loop {
            // [MS-XCA] §2.2.4: a block needs room for its table; without it the stream must
            // be complete.
            let Some(lengths) = input.get(ip..ip + TABLE_LEN) else {
                if op == out_len {
                    return Ok(());
                }
                return Err(fault(
                    ip,
                    format!(
                        "the input ends after {} bytes with {op} of {out_len} output bytes decoded \
                         (a block needs a {TABLE_LEN}-byte Huffman table)",
                        input.len()
                    ),
                ));
            };
            let lengths: &[u8; TABLE_LEN] = lengths.try_into().expect("slice of TABLE_LEN bytes");
            self.build_table(lengths).map_err(|m| fault(ip, format!("block at output offset {op}: {m}")))?;
            let mut r = BitReader::new(input, ip + TABLE_LEN)?;
            let block_end = op + BLOCK_SIZE;
            // Until the output is complete, any symbol is data (256 included: it is EOF only
            // once the output is complete and the input read).
            let limit = block_end.min(out_len);

            while op < limit {
                let symbol = self.symbol(&mut r)?;
                if symbol < 256 {
                    dst[op] = symbol as u8;
                    op += 1;
                    continue;
                }
                let m = u32::from(symbol - 256);
                let mut len = (m & 0x0f) as usize;
                if len == 15 {
                    len = r.extended_length()?;
                }
                let len = len.checked_add(3).ok_or_else(|| overrun(r.ip, out_len))?;
                let offset_bits = m >> 4;
                let offset = (1usize << offset_bits) | r.peek(offset_bits) as usize;
                r.consume(offset_bits)?;
                if offset > op {
                    return Err(fault(
                        r.ip,
                        format!("match at output offset {op} refers {offset} bytes back, before the start"),
                    ));
                }
                let end = op.checked_add(len).filter(|&e| e <= out_len).ok_or_else(|| overrun(r.ip, out_len))?;
                copy_match(dst, op, offset, end);
                op = end;
            }
            ip = r.ip;
            if op >= block_end {
                continue;
            }
            // The output is complete inside a block: the next symbol must be EOF, with the
            // input fully read (§2.2.4); anything else would write past the expected size.
            let symbol = self.symbol(&mut r)?;
            if symbol == EOF_SYMBOL && r.ip >= input.len() {
                return Ok(());
            }
            let what = if symbol == EOF_SYMBOL {
                format!("{} input bytes remain after the end-of-stream symbol", input.len() - r.ip)
            } else {
                format!("the stream decodes to more than the expected {out_len} bytes")
            };
            return Err(fault(r.ip, what));
        }
    }
}

/// The bit stream of one block, with the input position of §2.2.4 (`CurrentPosition`):
/// bits come from 16-bit little-endian words read most significant bit first, and the
/// decoder holds at least 16 unread bits at all times, loading exactly one word whenever it
/// falls below; extended match lengths are read as bytes at the position after the loaded
/// words.
struct BitReader<'a> {
    input: &'a [u8],
    /// Next unread input byte.
    ip: usize,
    /// Unread bits, left-aligned.
    bits: u32,
    /// Unread bits beyond 16 (`ExtraBitCount`), from 16 down to -15 before a refill.
    extra: i32,
}

impl<'a> BitReader<'a> {
    /// Loads the two words that start a block's bit stream at `ip`.
    fn new(input: &'a [u8], ip: usize) -> Result<Self> {
        let bits = (u32::from(read_u16(input, ip)?) << 16) | u32::from(read_u16(input, ip + 2)?);
        Ok(BitReader { input, ip: ip + 4, bits, extra: 16 })
    }

    /// The next `n` (at most 15) bits, not consumed.
    #[inline(always)]
    fn peek(&self, n: u32) -> u32 {
        // `(bits >> 1) >> (31 - n)` is the top n bits, and 0 for n = 0 (a shift by 32 would
        // overflow).
        (self.bits >> 1) >> (31 - n)
    }

    /// Consumes `n` (at most 15) bits and refills to at least 16.
    #[inline(always)]
    fn consume(&mut self, n: u32) -> Result<()> {
        self.bits <<= n;
        self.extra -= n as i32;
        if self.extra < 0 {
            self.bits |= u32::from(read_u16(self.input, self.ip)?) << -self.extra;
            self.extra += 16;
            self.ip += 2;
        }
        Ok(())
    }

    /// The length (minus 3) of a match whose symbol says 15 (§2.2.4): a byte, then on 255 a
    /// 16-bit length, then on 0 a 32-bit one.
    #[cold]
    fn extended_length(&mut self) -> Result<usize> {
        let b = read_u8(self.input, self.ip)?;
        self.ip += 1;
        if b < 255 {
            return Ok(usize::from(b) + 15);
        }
        let w = read_u16(self.input, self.ip)?;
        self.ip += 2;
        match w {
            0 => {
                let b = self.input.get(self.ip..self.ip + 4).ok_or_else(|| short_input(self.ip, self.input.len()))?;
                self.ip += 4;
                usize::try_from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .map_err(|_| fault(self.ip, "match length does not fit in memory".into()))
            }
            1..15 => Err(fault(self.ip, format!("invalid extended match length {w} (below 15)"))),
            _ => Ok(usize::from(w)),
        }
    }
}

/// Copies `dst[op - offset..]` forward to `dst[op..end]` with LZ77 semantics: when the
/// regions overlap (`offset < len`), the bytes just written repeat with period `offset`.
/// The caller guarantees `offset <= op` and `end <= dst.len()`.
#[inline(always)]
fn copy_match(dst: &mut [u8], op: usize, offset: usize, end: usize) {
    let src = op - offset;
    let len = end - op;
    // Most matches in SQL Server pages are short: copy them in fixed 16-byte pieces, which
    // compile to plain loads and stores. A piece may write up to 15 bytes past `end`; they
    // lie inside `dst` and are overwritten by the output that follows.
    if offset >= 16 && len <= 64 && op + len.next_multiple_of(16) <= dst.len() {
        let mut k = 0;
        while k < len {
            // `offset >= 16`: each piece's source ends before its destination starts, and
            // was written before (by an earlier piece when it lies inside this match).
            let (done, rest) = dst.split_at_mut(op + k);
            rest[..16].copy_from_slice(&done[src + k..src + k + 16]);
            k += 16;
        }
    } else if offset >= len {
        dst.copy_within(src..src + len, op);
    } else if offset == 1 {
        let b = dst[src];
        dst[op..end].fill(b);
    } else if len <= 16 {
        for i in op..end {
            dst[i] = dst[i - offset];
        }
    } else {
        // Each step copies the bytes between the source start and the write position,
        // which never overlap the destination; the step doubles each time.
        let mut pos = op;
        let mut step = offset;
        while pos < end {
            let n = step.min(end - pos);
            dst.copy_within(src..src + n, pos);
            pos += n;
            step = pos - src;
        }
    }
}

#[inline]
fn read_u16(input: &[u8], at: usize) -> Result<u16> {
    match input.get(at..at + 2) {
        Some(b) => Ok(u16::from_le_bytes([b[0], b[1]])),
        None => Err(short_input(at, input.len())),
    }
}

#[inline]
fn read_u8(input: &[u8], at: usize) -> Result<u8> {
    input.get(at).copied().ok_or_else(|| short_input(at, input.len()))
}

#[cold]
fn fault(at: usize, message: String) -> Error {
    Error::corrupt(format!("MS-XCA LZ77+Huffman stream: {message}")).at(at as u64)
}

#[cold]
fn short_input(at: usize, len: usize) -> Error {
    fault(at, format!("the stream needs bytes past the end of its {len}-byte input (truncated or corrupt)"))
}

#[cold]
fn overrun(at: usize, out_len: usize) -> Error {
    fault(at, format!("the stream decodes to more than the expected {out_len} bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    /// 256 table bytes giving each listed symbol its code length, all others none.
    fn table(lengths: &[(usize, u8)]) -> Vec<u8> {
        let mut t = vec![0u8; TABLE_LEN];
        for &(sym, len) in lengths {
            t[sym / 2] |= if sym % 2 == 0 { len } else { len << 4 };
        }
        t
    }

    /// [MS-XCA] §3.2, example 1: "abcdefghijklmnopqrstuvwxyz" (26 literals and EOF; 'a'–'v'
    /// have 5-bit codes, 'w'–'z' and symbol 256 4-bit codes).
    fn spec_example_1() -> Vec<u8> {
        let mut lengths: Vec<(usize, u8)> = (b'a'..=b'v').map(|c| (usize::from(c), 5)).collect();
        lengths.extend((b'w'..=b'z').map(|c| (usize::from(c), 4)));
        lengths.push((256, 4));
        let mut s = table(&lengths);
        s.extend([
            0xd8, 0x52, 0x3e, 0xd7, 0x94, 0x11, 0x5b, 0xe9, 0x19, 0x5f, 0xf9, 0xd6, 0x7c, 0xdf, 0x8d, 0x04, 0x00, 0x00,
            0x00, 0x00,
        ]);
        s
    }

    /// [MS-XCA] §3.2, example 2: "abc" × 100, i.e. "abc", a match of 297 bytes at offset 3
    /// (symbol 287 with the byte-then-16-bit length escape 0xff, 0x0126), then EOF.
    fn spec_example_2() -> Vec<u8> {
        let mut s =
            table(&[(usize::from(b'a'), 3), (usize::from(b'b'), 3), (usize::from(b'c'), 2), (256, 2), (287, 2)]);
        s.extend([0xa8, 0xdc, 0x00, 0x00, 0xff, 0x26, 0x01]);
        s
    }

    #[test]
    fn spec_example_1_decodes() {
        assert_eq!(decompress(&spec_example_1(), 26).unwrap(), b"abcdefghijklmnopqrstuvwxyz");
    }

    #[test]
    fn spec_example_2_decodes() {
        assert_eq!(decompress(&spec_example_2(), 300).unwrap(), b"abc".repeat(100));
    }

    /// A 65,537-byte run of zeros as Windows' compression API encodes it (quoted on the
    /// cifs-protocol list, Nov 2022): one literal, then one match of 65,536 bytes that runs
    /// past the end of the first 64 KiB block, then EOF.
    #[test]
    fn match_may_run_past_the_block_end() {
        let mut s = table(&[(0, 2), (256, 2), (271, 1)]);
        s.extend([0x00, 0x98, 0x00, 0x00, 0xff, 0xfd, 0xff]);
        assert_eq!(decompress(&s, 65_537).unwrap(), vec![0u8; 65_537]);
    }

    #[test]
    fn appends_to_existing_output() {
        let mut out = b"head".to_vec();
        Decoder::new().decompress_into(&spec_example_1(), 26, &mut out).unwrap();
        assert_eq!(out, b"headabcdefghijklmnopqrstuvwxyz");
    }

    fn corrupt_at(r: Result<Vec<u8>>) -> (u64, String) {
        let e = r.expect_err("must fail");
        assert_eq!(e.kind, ErrorKind::Corrupt, "{e}");
        assert!(!e.in_stream);
        (e.offset.expect("offset"), e.message)
    }

    #[test]
    fn truncated_input_is_an_error() {
        let s = spec_example_2();
        for cut in 1..s.len() {
            let (off, msg) = corrupt_at(decompress(&s[..s.len() - cut], 300));
            assert!(off <= (s.len() - cut) as u64, "offset {off} past the input");
            assert!(!msg.is_empty());
        }
        let (off, msg) = corrupt_at(decompress(&[], 1));
        assert_eq!(off, 0);
        assert!(msg.contains("Huffman table"), "{msg}");
    }

    #[test]
    fn empty_output_needs_no_input() {
        assert_eq!(decompress(&[], 0).unwrap(), b"");
    }

    #[test]
    fn bad_tables_are_rejected_at_their_offset() {
        // One nibble changed: the code no longer fills the code space exactly.
        let mut s = spec_example_1();
        s[48] ^= 0x10; // 'a' 5 -> 4 bits: over-subscribed
        let (off, msg) = corrupt_at(decompress(&s, 26));
        assert_eq!(off, 0);
        assert!(msg.contains("over-subscribed"), "{msg}");
        let mut s = spec_example_1();
        s[128] = 0; // no EOF code: incomplete
        let (_, msg) = corrupt_at(decompress(&s, 26));
        assert!(msg.contains("incomplete"), "{msg}");
        // All lengths zero.
        let (_, msg) = corrupt_at(decompress(&[0u8; 300], 1));
        assert!(msg.contains("incomplete"), "{msg}");
        // The second block's table is checked too, at its own offset.
        let data = pseudo_random(70_000, 7);
        let mut s = encode(&literals(&data), Ending::Eof);
        let second = second_table_offset();
        s[second] = 0xff;
        let (off, _) = corrupt_at(decompress(&s, data.len()));
        assert_eq!(off, second as u64);
    }

    #[test]
    fn output_size_must_match_exactly() {
        let s = spec_example_2();
        let (_, msg) = corrupt_at(decompress(&s, 299));
        assert!(msg.contains("more than the expected 299"), "{msg}");
        corrupt_at(decompress(&s, 301));
        let mut out = b"keep".to_vec();
        assert!(Decoder::new().decompress_into(&s, 301, &mut out).is_err());
        assert_eq!(out, b"keep", "output left as it was on error");
    }

    #[test]
    fn match_before_the_start_is_rejected() {
        let s = encode(&[Tok::Lit(1), Tok::Match { len: 3, off: 2 }], Ending::Eof);
        let (_, msg) = corrupt_at(decompress(&s, 4));
        assert!(msg.contains("before the start"), "{msg}");
    }

    #[test]
    fn short_extended_length_is_rejected() {
        // Symbol 256 + 15 (offset 1, extended length), byte 255, then a 16-bit length of 5.
        let mut s = table(&[(0, 1), (271, 1)]);
        // bits: '0' literal 0, '1' match; then the escape bytes after the two loaded words.
        s.extend([0x00, 0x40, 0x00, 0x00, 0xff, 0x05, 0x00]);
        let (_, msg) = corrupt_at(decompress(&s, 100));
        assert!(msg.contains("below 15"), "{msg}");
    }

    // --- A test-only encoder: it emits the flat code (every symbol 9 bits, so symbol `s`
    // has code `s`) and places words and length bytes where §2.2.4's decoder reads them. ---

    #[derive(Debug, Clone, Copy)]
    enum Tok {
        Lit(u8),
        Match { len: usize, off: usize },
    }

    #[derive(Clone, Copy, PartialEq)]
    enum Ending {
        /// Close with symbol 256 (always, even at a block boundary: then in a block of its own).
        Eof,
        /// No EOF symbol; only valid when the output ends exactly at a block end.
        BlockEnd,
    }

    struct Enc {
        out: Vec<u8>,
        /// Positions of the 16-bit words of the current block's bit stream.
        words: Vec<usize>,
        nbits: usize,
    }

    impl Enc {
        fn start_block(&mut self) {
            self.out.extend([0x99u8; TABLE_LEN]);
            self.words.clear();
            self.nbits = 0;
        }
        /// Words the decoder has loaded once `nbits` bits are consumed: two up front, then
        /// enough to keep at least 16 unread.
        fn loaded(&self) -> usize {
            2.max(1 + self.nbits.div_ceil(16))
        }
        fn reserve(&mut self, words: usize) {
            while self.words.len() < words {
                self.words.push(self.out.len());
                self.out.extend([0, 0]);
            }
        }
        fn bits(&mut self, value: usize, n: usize) {
            for i in (0..n).rev() {
                let word = self.nbits / 16;
                self.reserve(word + 1);
                if (value >> i) & 1 == 1 {
                    let at = self.words[word];
                    let w = u16::from_le_bytes([self.out[at], self.out[at + 1]]) | 1 << (15 - self.nbits % 16);
                    self.out[at..at + 2].copy_from_slice(&w.to_le_bytes());
                }
                self.nbits += 1;
            }
        }
        fn byte(&mut self, b: u8) {
            self.reserve(self.loaded());
            self.out.push(b);
        }
        fn end_block(&mut self) {
            self.reserve(self.loaded());
        }
    }

    fn encode(toks: &[Tok], ending: Ending) -> Vec<u8> {
        let mut e = Enc { out: Vec::new(), words: Vec::new(), nbits: 0 };
        e.start_block();
        let mut op = 0usize;
        let mut block_end = BLOCK_SIZE;
        for &t in toks {
            if op >= block_end {
                e.end_block();
                e.start_block();
                block_end = op + BLOCK_SIZE;
            }
            match t {
                Tok::Lit(b) => {
                    e.bits(usize::from(b), 9);
                    op += 1;
                }
                Tok::Match { len, off } => {
                    let k = off.ilog2() as usize;
                    let l = len - 3;
                    e.bits(256 + 16 * k + l.min(15), 9);
                    if l >= 15 {
                        if l - 15 < 255 {
                            e.byte((l - 15) as u8);
                        } else {
                            e.byte(255);
                            if let Ok(l16 @ 1..) = u16::try_from(l) {
                                l16.to_le_bytes().into_iter().for_each(|b| e.byte(b));
                            } else {
                                [0, 0].into_iter().for_each(|b| e.byte(b));
                                (l as u32).to_le_bytes().into_iter().for_each(|b| e.byte(b));
                            }
                        }
                    }
                    e.bits(off - (1 << k), k);
                    op += len;
                }
            }
        }
        if ending == Ending::Eof {
            if op >= block_end {
                e.end_block();
                e.start_block();
            }
            e.bits(256, 9);
        } else {
            assert_eq!(op, block_end, "BlockEnd ending needs output to stop at a block end");
        }
        e.end_block();
        e.out
    }

    fn expand(toks: &[Tok]) -> Vec<u8> {
        let mut v = Vec::new();
        for &t in toks {
            match t {
                Tok::Lit(b) => v.push(b),
                Tok::Match { len, off } => {
                    for _ in 0..len {
                        v.push(v[v.len() - off]);
                    }
                }
            }
        }
        v
    }

    fn literals(data: &[u8]) -> Vec<Tok> {
        data.iter().map(|&b| Tok::Lit(b)).collect()
    }

    fn pseudo_random(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// Offset of the second block's table in a stream made by `encode` from literals only.
    fn second_table_offset() -> usize {
        // 65,536 literals of 9 bits fill 36,864 words; the decoder has loaded one more.
        TABLE_LEN + 2 * (1 + (BLOCK_SIZE * 9).div_ceil(16))
    }

    fn roundtrip(toks: &[Tok], ending: Ending) {
        let want = expand(toks);
        let s = encode(toks, ending);
        assert_eq!(decompress(&s, want.len()).unwrap(), want);
    }

    #[test]
    fn encoder_agrees_with_spec_example_2_semantics() {
        roundtrip(&[Tok::Lit(b'a'), Tok::Lit(b'b'), Tok::Lit(b'c'), Tok::Match { len: 297, off: 3 }], Ending::Eof);
    }

    #[test]
    fn every_length_escape() {
        for len in [3, 17, 18, 19, 269, 270, 272, 273, 1000, 65_535, 65_538, 65_539, 70_000] {
            roundtrip(&[Tok::Lit(9), Tok::Lit(8), Tok::Match { len, off: 2 }, Tok::Lit(7)], Ending::Eof);
        }
    }

    #[test]
    fn every_offset_width() {
        let mut toks = literals(&pseudo_random(65_535, 3));
        for k in 0..16 {
            toks.push(Tok::Match { len: 5 + k, off: 1 << k });
            toks.push(Tok::Match { len: 4, off: (2 << k) - 1 });
        }
        roundtrip(&toks, Ending::Eof);
    }

    #[test]
    fn multi_block_streams() {
        // Literals across three blocks, with matches straddling the block ends.
        let mut toks = literals(&pseudo_random(65_530, 11));
        toks.push(Tok::Match { len: 40, off: 1000 });
        toks.extend(literals(&pseudo_random(65_500, 12)));
        toks.push(Tok::Match { len: 300, off: 65_535 });
        toks.extend(literals(&pseudo_random(100, 13)));
        roundtrip(&toks, Ending::Eof);
        // Ending exactly at a block end: without EOF, and with EOF in a block of its own.
        let toks = literals(&pseudo_random(2 * BLOCK_SIZE, 14));
        roundtrip(&toks, Ending::BlockEnd);
        roundtrip(&toks, Ending::Eof);
    }

    #[test]
    fn trailing_bytes_after_the_output_are_rejected() {
        let toks = literals(b"hello");
        let mut s = encode(&toks, Ending::Eof);
        s.extend([0, 0]);
        corrupt_at(decompress(&s, 5));
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn toks() -> impl Strategy<Value = Vec<Tok>> {
            prop::collection::vec((any::<u8>(), any::<bool>(), 3usize..600, 1usize..70_000), 1..400).prop_map(|raw| {
                let mut out = Vec::new();
                let mut n = 0usize;
                for (b, is_match, len, off) in raw {
                    if is_match && n > 0 {
                        out.push(Tok::Match { len, off: 1 + off % n.min(65_535) });
                        n += len;
                    } else {
                        out.push(Tok::Lit(b));
                        n += 1;
                    }
                }
                out
            })
        }

        proptest! {
            #[test]
            fn roundtrips(t in toks()) {
                let want = expand(&t);
                let s = encode(&t, Ending::Eof);
                prop_assert_eq!(decompress(&s, want.len()).unwrap(), want);
            }

            #[test]
            fn arbitrary_input_never_panics(data in prop::collection::vec(any::<u8>(), 0..2000), n in 0usize..5000) {
                let _ = decompress(&data, n);
            }

            #[test]
            fn damaged_streams_never_panic(t in toks(), at in any::<prop::sample::Index>(), x in 1u8..) {
                let want = expand(&t);
                let mut s = encode(&t, Ending::Eof);
                let i = at.index(s.len());
                s[i] ^= x;
                let _ = decompress(&s, want.len());
            }
        }
    }
}
