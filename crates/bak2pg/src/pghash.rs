//! PostgreSQL's 64-bit byte hash, computed on the client: the function behind
//! `hashtextextended(text, seed)` for a text under a deterministic collation, so that a
//! table's checksum can be computed by the server (one aggregate query, in parallel
//! workers) and compared with the one computed here from the rows sent.
//!
//! The algorithm is Bob Jenkins' lookup3 as `hash_bytes_extended` in PostgreSQL's
//! `src/common/hashfn.c` (11 and later) has it: state `a = b = c = 0x9e3779b9 + len +
//! 3923095`; a non-zero seed is mixed in first (high half into `a`, low half into `b`);
//! the key is taken as little-endian 32-bit words, 12 bytes per round; the last 0–11 bytes
//! go into `a`, `b` and the upper three bytes of `c` (its lowest byte stays free); then the
//! final mix; the result is `b << 32 | c`. The word order is the *server's*: a big-endian
//! server hashes differently, which is why validation compares a few known strings with
//! the server before trusting it ([`crate::validate`]).

/// One reversible mixing round of three words.
#[inline(always)]
fn mix(a: &mut u32, b: &mut u32, c: &mut u32) {
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(4);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(6);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(8);
    *b = b.wrapping_add(*a);
    *a = a.wrapping_sub(*c);
    *a ^= c.rotate_left(16);
    *c = c.wrapping_add(*b);
    *b = b.wrapping_sub(*a);
    *b ^= a.rotate_left(19);
    *a = a.wrapping_add(*c);
    *c = c.wrapping_sub(*b);
    *c ^= b.rotate_left(4);
    *b = b.wrapping_add(*a);
}

/// The final avalanche of three words into `c` (and `b`).
#[inline(always)]
fn finish(a: &mut u32, b: &mut u32, c: &mut u32) {
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(14));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(11));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(25));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(16));
    *a ^= *c;
    *a = a.wrapping_sub(c.rotate_left(4));
    *b ^= *a;
    *b = b.wrapping_sub(a.rotate_left(14));
    *c ^= *b;
    *c = c.wrapping_sub(b.rotate_left(24));
}

/// Little-endian word of up to 4 bytes, the missing upper bytes zero.
#[inline(always)]
fn word(bytes: &[u8]) -> u32 {
    let mut w = [0u8; 4];
    w[..bytes.len()].copy_from_slice(bytes);
    u32::from_le_bytes(w)
}

/// `hash_bytes_extended(key, len, seed)` of a little-endian PostgreSQL server, as the
/// `bigint` that `hashtextextended` returns. Keys longer than `i32::MAX` bytes do not
/// occur (a PostgreSQL text is at most 1 GB).
pub fn hash_bytes_extended(key: &[u8], seed: u64) -> i64 {
    let init = 0x9e37_79b9u32.wrapping_add(key.len() as u32).wrapping_add(3_923_095);
    let (mut a, mut b, mut c) = (init, init, init);
    if seed != 0 {
        a = a.wrapping_add((seed >> 32) as u32);
        b = b.wrapping_add(seed as u32);
        mix(&mut a, &mut b, &mut c);
    }
    let mut rounds = key.chunks_exact(12);
    for r in &mut rounds {
        // Fixed-size loads: no copy call per word.
        a = a.wrapping_add(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
        b = b.wrapping_add(u32::from_le_bytes([r[4], r[5], r[6], r[7]]));
        c = c.wrapping_add(u32::from_le_bytes([r[8], r[9], r[10], r[11]]));
        mix(&mut a, &mut b, &mut c);
    }
    let rest = rounds.remainder();
    // The tail: bytes 0–3 into a, 4–7 into b, 8–10 into c shifted up one byte.
    let n = rest.len();
    a = a.wrapping_add(word(&rest[..n.min(4)]));
    if n > 4 {
        b = b.wrapping_add(word(&rest[4..n.min(8)]));
    }
    if n > 8 {
        c = c.wrapping_add(word(&rest[8..n]) << 8);
    }
    finish(&mut a, &mut b, &mut c);
    ((u64::from(b) << 32) | u64::from(c)) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values printed by PostgreSQL 15.18 on x86-64 (`SELECT hashtextextended(t, seed)`).
    #[test]
    fn matches_postgres() {
        assert_eq!(hash_bytes_extended(b"bak2pg", 0), -9_200_433_322_344_142_081);
        assert_eq!(hash_bytes_extended(b"", 0), -6_939_563_903_564_495_251);
        assert_eq!(hash_bytes_extended(b"abcdefghijklmnopqrstuvwxyz0123456789", 42), -7_016_450_068_703_625_195);
    }
}
