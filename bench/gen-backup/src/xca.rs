//! An encoder for the LZ77+Huffman variant of the Xpress Compression Algorithm ([MS-XCA]
//! §2.1–2.2), the codec of the chunks of SQL Server's compressed (`MSSQLBAK`) backups.
//! `mssql_backup::internals::xpress` is the decoder it is checked against.
//!
//! One call compresses one chunk (at most one 65,536-byte block, as every `MSSQLBAK` chunk
//! is): a greedy LZ77 parse (one hash probe per position, matches of 4 bytes or more, at
//! most 65,535 bytes back), then one canonical Huffman code of at most 15 bits per symbol
//! built from the parse's symbol counts. It aims at speed over ratio: it writes benchmark
//! input, and its output only has to be a valid stream.
//!
//! The bit stream follows the decoder of §2.2.4 exactly: 16-bit little-endian words, most
//! significant bit first; the decoder loads two words up front and one more whenever fewer
//! than 16 unread bits remain, and reads the extra bytes of a long match length from the
//! input position after the words it has loaded. So a word's place in the output is fixed
//! when the decoder would load it, not when it is full; the writer below reserves it then.

/// Output bytes of one block, and the most one call may compress ([MS-XCA] §2.2.4).
pub const BLOCK_SIZE: usize = 65_536;
const TABLE_LEN: usize = 256;
const SYMBOLS: usize = 512;
const MAX_CODE_LEN: u8 = 15;
const EOF_SYMBOL: usize = 256;
const MIN_MATCH: usize = 4;
const MAX_OFFSET: usize = 65_535;
const HASH_BITS: u32 = 14;

/// Reusable state: the match finder's hash table and the token list.
pub struct Encoder {
    head: Vec<u32>,
    tokens: Vec<Token>,
}

/// A literal (`len == 0`, `value` the byte) or a match (`len` ≥ 4 bytes, `value` the
/// offset back).
#[derive(Clone, Copy)]
struct Token {
    len: u32,
    value: u32,
}

impl Default for Encoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Encoder {
    /// An encoder with its tables allocated (64 KiB).
    pub fn new() -> Self {
        Encoder { head: vec![u32::MAX; 1 << HASH_BITS], tokens: Vec::with_capacity(BLOCK_SIZE) }
    }

    /// Compresses `data` (at most [`BLOCK_SIZE`] bytes) into one complete stream appended
    /// to `out`, which the decoder reads back given `data.len()` as the output size. A
    /// stream shorter than a block ends with the end-of-stream symbol 256; a full block
    /// ends where the block does (§2.2.4 accepts both).
    ///
    /// # Panics
    /// When `data` is longer than one block.
    pub fn compress(&mut self, data: &[u8], out: &mut Vec<u8>) {
        assert!(data.len() <= BLOCK_SIZE, "{} bytes: one call compresses at most one block", data.len());
        self.parse(data);
        let eof = data.len() < BLOCK_SIZE;
        let mut freq = [0u32; SYMBOLS];
        for t in &self.tokens {
            freq[symbol(*t).0] += 1;
        }
        if eof {
            freq[EOF_SYMBOL] += 1;
        }
        let lengths = code_lengths(&freq);
        let codes = canonical_codes(&lengths);
        let start = out.len();
        out.resize(start + TABLE_LEN, 0);
        for (i, pair) in lengths.chunks_exact(2).enumerate() {
            out[start + i] = pair[0] | (pair[1] << 4);
        }
        let mut w = BitWriter::new(out);
        for &t in &self.tokens {
            let (s, extra) = symbol(t);
            w.bits(u32::from(codes[s]), lengths[s]);
            if t.len == 0 {
                continue;
            }
            let l = t.len as usize - 3;
            if l >= 15 {
                if l - 15 < 255 {
                    w.byte((l - 15) as u8);
                } else {
                    // Below 65,536 bytes per call, the 16-bit form always suffices.
                    w.byte(255);
                    let l16 = u16::try_from(l).expect("a match shorter than a block").to_le_bytes();
                    w.byte(l16[0]);
                    w.byte(l16[1]);
                }
            }
            w.bits(t.value - (1 << extra), extra as u8);
        }
        if eof {
            w.bits(u32::from(codes[EOF_SYMBOL]), lengths[EOF_SYMBOL]);
        }
        w.finish();
    }

    /// Greedy LZ77: at each position, the last earlier position with the same 4 bytes.
    fn parse(&mut self, data: &[u8]) {
        self.tokens.clear();
        self.head.fill(u32::MAX);
        let n = data.len();
        let mut i = 0;
        while i < n {
            if i + MIN_MATCH <= n {
                let h = hash(&data[i..i + 4]);
                let cand = self.head[h];
                self.head[h] = i as u32;
                if cand != u32::MAX {
                    let c = cand as usize;
                    if i - c <= MAX_OFFSET && data[c..c + 4] == data[i..i + 4] {
                        let mut len = 4;
                        while i + len < n && data[c + len] == data[i + len] {
                            len += 1;
                        }
                        self.tokens.push(Token { len: len as u32, value: (i - c) as u32 });
                        // Index the match's last position so runs keep matching.
                        let last = i + len - 1;
                        if last + 4 <= n {
                            self.head[hash(&data[last..last + 4])] = last as u32;
                        }
                        i += len;
                        continue;
                    }
                }
            }
            self.tokens.push(Token { len: 0, value: u32::from(data[i]) });
            i += 1;
        }
    }
}

fn hash(b: &[u8]) -> usize {
    let v = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    (v.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// A token's Huffman symbol and, for a match, its count of offset bits
/// (`256 + 16·⌊log2 offset⌋ + min(len − 3, 15)`, per §2.1).
fn symbol(t: Token) -> (usize, u32) {
    if t.len == 0 {
        return (t.value as usize, 0);
    }
    let k = t.value.ilog2();
    let l = (t.len - 3).min(15);
    (256 + 16 * k as usize + l as usize, k)
}

/// Huffman code lengths for `freq`, none longer than 15 bits and together a complete code
/// (the decoder rejects an incomplete one). Counts are halved until the code fits.
fn code_lengths(freq: &[u32; SYMBOLS]) -> [u8; SYMBOLS] {
    let mut f = *freq;
    // A complete code needs two symbols; give an unused one a count.
    if f.iter().filter(|&&c| c > 0).count() < 2 {
        let spare = if f[0] == 0 { 0 } else { 1 };
        f[spare] = 1;
    }
    loop {
        let lengths = huffman(&f);
        if lengths.iter().all(|&l| l <= MAX_CODE_LEN) {
            return lengths;
        }
        for c in f.iter_mut().filter(|c| **c > 0) {
            *c = c.div_ceil(2);
        }
    }
}

/// Plain Huffman code lengths (unbounded) of the symbols with a non-zero count.
fn huffman(f: &[u32; SYMBOLS]) -> [u8; SYMBOLS] {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // Nodes 0..512 are the symbols, the rest internal; parent[n] links upwards.
    let mut parent = vec![usize::MAX; 2 * SYMBOLS];
    let mut heap: BinaryHeap<Reverse<(u64, usize)>> =
        (0..SYMBOLS).filter(|&s| f[s] > 0).map(|s| Reverse((u64::from(f[s]), s))).collect();
    let mut next = SYMBOLS;
    while heap.len() > 1 {
        let Reverse((a, x)) = heap.pop().expect("two nodes");
        let Reverse((b, y)) = heap.pop().expect("two nodes");
        parent[x] = next;
        parent[y] = next;
        heap.push(Reverse((a + b, next)));
        next += 1;
    }
    let mut lengths = [0u8; SYMBOLS];
    for s in (0..SYMBOLS).filter(|&s| f[s] > 0) {
        let mut d = 0u32;
        let mut n = s;
        while parent[n] != usize::MAX {
            n = parent[n];
            d += 1;
        }
        lengths[s] = d.min(255) as u8;
    }
    lengths
}

/// Canonical codes as the decoder builds its table (§2.2.4): by increasing length, then
/// increasing symbol, each code the next free prefix of its length.
fn canonical_codes(lengths: &[u8; SYMBOLS]) -> [u16; SYMBOLS] {
    let mut codes = [0u16; SYMBOLS];
    let mut next = 0u32; // in units of 2^-15 of the code space
    for len in 1..=MAX_CODE_LEN {
        for s in 0..SYMBOLS {
            if lengths[s] == len {
                codes[s] = (next >> (MAX_CODE_LEN - len)) as u16;
                next += 1 << (MAX_CODE_LEN - len);
            }
        }
    }
    codes
}

/// Writes bits into 16-bit words whose places are reserved when the decoder would load
/// them: two at the start, then the next word as soon as the current one gets its first
/// bit (the decoder refills when fewer than 16 unread bits remain).
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Place of the word being filled.
    cur: usize,
    /// Place of the word after it, once reserved.
    next: Option<usize>,
    word: u16,
    /// Bits already in `word`.
    used: u8,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        let cur = out.len();
        out.extend([0; 4]);
        BitWriter { out, cur, next: Some(cur + 2), word: 0, used: 0 }
    }

    fn reserve(&mut self) -> usize {
        let at = self.out.len();
        self.out.extend([0, 0]);
        at
    }

    /// The low `n` (≤ 16) bits of `value`, most significant first.
    fn bits(&mut self, value: u32, n: u8) {
        let mut n = n;
        while n > 0 {
            if self.used == 0 && self.next.is_none() {
                self.next = Some(self.reserve());
            }
            let take = n.min(16 - self.used);
            let chunk = (value >> (n - take)) & ((1 << take) - 1);
            self.word |= (chunk as u16) << (16 - self.used - take);
            self.used += take;
            n -= take;
            if self.used == 16 {
                self.out[self.cur..self.cur + 2].copy_from_slice(&self.word.to_le_bytes());
                self.cur = self.next.take().expect("reserved when the word was started");
                self.word = 0;
                self.used = 0;
            }
        }
    }

    /// A byte of the byte stream, after every word the decoder has loaded.
    fn byte(&mut self, b: u8) {
        self.out.push(b);
    }

    fn finish(self) {
        self.out[self.cur..self.cur + 2].copy_from_slice(&self.word.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mssql_backup::internals::xpress::decompress;

    fn roundtrip(data: &[u8]) -> usize {
        let mut out = Vec::new();
        Encoder::new().compress(data, &mut out);
        assert_eq!(decompress(&out, data.len()).expect("decodes"), data);
        out.len()
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn streams_decode_to_their_input() {
        roundtrip(b"");
        roundtrip(b"a");
        roundtrip(b"abcdefghijklmnopqrstuvwxyz");
        roundtrip(&[0u8; BLOCK_SIZE]);
        roundtrip(&[7u8; 100]);
        roundtrip(&noise(BLOCK_SIZE, 1));
        roundtrip(&noise(512, 2));
        // Runs of every extended-length form, and every offset width.
        let mut v = noise(40_000, 3);
        for len in [4usize, 17, 18, 19, 270, 272, 1_000, 20_000] {
            let at = v.len() - 30_000;
            v.extend_from_within(at..at + len.min(25_000));
        }
        v.truncate(BLOCK_SIZE);
        roundtrip(&v);
        let mut w = noise(BLOCK_SIZE - 9_000, 4);
        for k in 0..16 {
            let back = (1usize << k).max(4);
            let at = w.len() - back;
            w.extend_from_within(at..at + 4);
        }
        roundtrip(&w);
    }

    #[test]
    fn repetitive_data_shrinks() {
        let page: Vec<u8> = (0..BLOCK_SIZE).map(|i| (i % 37) as u8).collect();
        assert!(roundtrip(&page) < 2_000);
    }

    #[test]
    fn skewed_counts_keep_codes_within_15_bits() {
        // Fibonacci-like counts force an unbounded Huffman code far past 15 bits.
        let mut freq = [0u32; SYMBOLS];
        let (mut a, mut b) = (1u32, 1u32);
        for f in freq.iter_mut().take(30) {
            *f = a;
            (a, b) = (b, a.saturating_add(b));
        }
        let lengths = code_lengths(&freq);
        assert!(lengths.iter().all(|&l| l <= MAX_CODE_LEN));
        let kraft: u32 = lengths.iter().filter(|&&l| l > 0).map(|&l| 1 << (MAX_CODE_LEN - l)).sum();
        assert_eq!(kraft, 1 << MAX_CODE_LEN);
    }
}
