//! Our own encoder of PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT
//! binary)`), writing rows into large buffers that [`crate::load`] hands to
//! tokio-postgres `copy_in` whole.
//!
//! Why not `BinaryCopyInWriter`: it flushes every 4 KB and was measured ~15× slower for
//! wide tables (tokio-postgres issue #1114, see DESIGN.md).
//!
//! Format (PostgreSQL docs, "COPY — Binary Format"): an 11-byte signature
//! `PGCOPY\n\377\r\n\0`, a 32-bit flags field (0) and a 32-bit header-extension length
//! (0); each tuple is a 16-bit field count then, per field, a 32-bit byte length (-1 for
//! NULL) and the value in the type's binary send format; a 16-bit -1 ends the data. All
//! integers are big-endian. Value formats (PostgreSQL `*_recv` functions):
//! - `boolean` 1 byte; `int2`/`int4`/`int8` two's complement; `float4`/`float8` IEEE bits;
//! - `numeric`: `ndigits`, `weight`, `sign` (0x0000 / 0x4000), `dscale` as int16, then
//!   `ndigits` base-10000 digits as int16, most significant first, aligned on the decimal
//!   point (`weight` is the power of 10000 of the first digit);
//! - `text`/`varchar`/`bpchar`/`xml`: the UTF-8 bytes (the database is created UTF-8);
//! - `bytea`: raw bytes; `uuid`: 16 bytes in text order;
//! - PostGIS `geometry`/`geography`: (E)WKB, which their `*_recv` functions read;
//! - `date`: int32 days since 2000-01-01; `time`: int64 microseconds since midnight;
//!   `timestamp`/`timestamptz`: int64 microseconds since 2000-01-01 00:00:00 (UTC).

use bytes::BufMut;

use crate::typemap::PgValue;

/// Signature, flags and header-extension length.
pub const HEADER: &[u8] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";

/// Appends the file header.
pub fn write_header(buf: &mut impl BufMut) {
    buf.put_slice(HEADER);
}

/// Appends the file trailer.
pub fn write_trailer(buf: &mut impl BufMut) {
    buf.put_i16(-1);
}

/// Starts a tuple of `fields` fields.
pub fn begin_row(buf: &mut impl BufMut, fields: u16) {
    buf.put_i16(fields as i16);
}

/// Appends the base-10000 representation of `mantissa / 10^scale` (without the length
/// word) in `numeric_send`'s layout.
///
/// This runs for every numeric and money value loaded, so the digit groups live on the
/// stack (at most 10 on each side of the point for 38 decimal digits) and values that
/// fit 64 bits, nearly all, are split with 64-bit arithmetic.
///
/// # Panics
/// When `scale` is above 38 (no SQL Server type has more).
pub fn write_numeric(buf: &mut impl BufMut, mantissa: i128, scale: u8) {
    let mut out = [0u8; NUMERIC_MAX];
    let n = numeric_bytes(&mut out, mantissa, scale);
    buf.put_slice(&out[..n]);
}

/// Bytes of the largest `numeric_send` value written here: 4 header words, 24 digit groups.
const NUMERIC_MAX: usize = 8 + 2 * 24;

/// [`write_numeric`] into the start of `out` (at least [`NUMERIC_MAX`] bytes); returns the
/// bytes written (8 + 2 per digit group). One copy into the row buffer per value instead
/// of one per 16-bit word.
fn numeric_bytes(out: &mut [u8], mantissa: i128, scale: u8) -> usize {
    assert!(scale <= 38, "numeric scale {scale} above 38");
    let abs = mantissa.unsigned_abs();
    let (int, frac) = match u64::try_from(abs) {
        Ok(a) if scale <= 19 => {
            let p = 10u64.pow(scale as u32);
            (u128::from(a / p), u128::from(a % p))
        }
        _ => {
            let p = 10u128.pow(scale as u32);
            (abs / p, abs % p)
        }
    };
    // groups[..n_int]: integer part, most significant first; then the fraction groups.
    let mut groups = [0i16; 24];
    let mut n_int = 0;
    let mut rev = [0i16; 12];
    match u64::try_from(int) {
        Ok(mut x) => {
            while x > 0 {
                rev[n_int] = (x % 10_000) as i16;
                x /= 10_000;
                n_int += 1;
            }
        }
        Err(_) => {
            let mut x = int;
            while x > 0 {
                rev[n_int] = (x % 10_000) as i16;
                x /= 10_000;
                n_int += 1;
            }
        }
    }
    for k in 0..n_int {
        groups[k] = rev[n_int - 1 - k];
    }
    // Fraction digits: ceil(scale / 4) groups; the last group is padded with zeros on the
    // right, so it holds only `scale % 4` real digits (or 4).
    let frac_groups = (scale as usize).div_ceil(4);
    if frac_groups > 0 {
        let last_real = match scale % 4 {
            0 => 4,
            r => r as u32,
        };
        let m = 10u128.pow(last_real);
        groups[n_int + frac_groups - 1] = ((frac % m) * 10u128.pow(4 - last_real)) as i16;
        let mut rest = frac / m;
        for k in (0..frac_groups - 1).rev() {
            groups[n_int + k] = (rest % 10_000) as i16;
            rest /= 10_000;
        }
    }
    let total = n_int + frac_groups;
    // Strip leading zeros (each lowers the weight) and trailing zeros.
    let lead = groups[..total].iter().take_while(|d| **d == 0).count();
    let mut end = total;
    while end > lead && groups[end - 1] == 0 {
        end -= 1;
    }
    let digits = &groups[lead..end];
    let weight = if digits.is_empty() { 0 } else { n_int as i32 - 1 - lead as i32 };
    out[0..2].copy_from_slice(&(digits.len() as i16).to_be_bytes());
    out[2..4].copy_from_slice(&(weight as i16).to_be_bytes());
    out[4..6].copy_from_slice(&(if mantissa < 0 && !digits.is_empty() { 0x4000u16 } else { 0 }).to_be_bytes());
    out[6..8].copy_from_slice(&(scale as i16).to_be_bytes());
    for (k, d) in digits.iter().enumerate() {
        out[8 + 2 * k..10 + 2 * k].copy_from_slice(&d.to_be_bytes());
    }
    8 + 2 * digits.len()
}

/// Appends a length word and a fixed-size value in one copy.
#[inline(always)]
fn put_fixed<const N: usize>(buf: &mut impl BufMut, value: [u8; N]) {
    let mut field = [0u8; 12];
    field[..4].copy_from_slice(&(N as i32).to_be_bytes());
    field[4..4 + N].copy_from_slice(&value);
    buf.put_slice(&field[..4 + N]);
}

/// Appends one field: its length word and its binary value (length -1 for NULL).
pub fn write_field(buf: &mut impl BufMut, v: &PgValue<'_>) {
    match v {
        PgValue::Null => buf.put_i32(-1),
        PgValue::Bool(b) => put_fixed(buf, [*b as u8]),
        PgValue::Int2(x) => put_fixed(buf, x.to_be_bytes()),
        PgValue::Int4(x) => put_fixed(buf, x.to_be_bytes()),
        PgValue::Int8(x) => put_fixed(buf, x.to_be_bytes()),
        PgValue::Float4(x) => put_fixed(buf, x.to_be_bytes()),
        PgValue::Float8(x) => put_fixed(buf, x.to_be_bytes()),
        PgValue::Numeric { mantissa, scale } => {
            // The value after room for its length word, then the length: one copy.
            let mut field = [0u8; 4 + NUMERIC_MAX];
            let n = numeric_bytes(&mut field[4..], *mantissa, *scale);
            field[..4].copy_from_slice(&(n as i32).to_be_bytes());
            buf.put_slice(&field[..4 + n]);
        }
        PgValue::Text(s) => {
            buf.put_i32(s.len() as i32);
            buf.put_slice(s.as_bytes());
        }
        PgValue::Xml(s) => {
            buf.put_i32(s.len() as i32);
            buf.put_slice(s.as_bytes());
        }
        PgValue::Bytea(b) | PgValue::Ewkb(b) => {
            buf.put_i32(b.len() as i32);
            buf.put_slice(b);
        }
        PgValue::Uuid(u) => {
            buf.put_i32(16);
            buf.put_slice(u);
        }
        PgValue::Date(d) => put_fixed(buf, d.to_be_bytes()),
        PgValue::Time(us) | PgValue::Timestamp(us) | PgValue::TimestampTz(us) => put_fixed(buf, us.to_be_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn numeric(m: i128, s: u8) -> Vec<i16> {
        let mut b = bytes::BytesMut::new();
        write_numeric(&mut b, m, s);
        b.chunks(2).map(|c| i16::from_be_bytes([c[0], c[1]])).collect()
    }

    /// The straightforward version (heap vectors, 128-bit arithmetic throughout) that
    /// [`write_numeric`] must equal.
    fn reference_numeric(mantissa: i128, scale: u8) -> Vec<i16> {
        let abs = mantissa.unsigned_abs();
        let p = 10u128.pow(scale as u32);
        let (mut int, mut frac) = (abs / p, abs % p);
        let frac_groups = (scale as usize).div_ceil(4);
        let mut frac_digits = vec![0i16; frac_groups];
        if frac_groups > 0 {
            let last_real = match scale % 4 {
                0 => 4,
                r => r as u32,
            };
            let m = 10u128.pow(last_real);
            frac_digits[frac_groups - 1] = ((frac % m) * 10u128.pow(4 - last_real)) as i16;
            frac /= m;
            for d in frac_digits.iter_mut().rev().skip(1) {
                *d = (frac % 10_000) as i16;
                frac /= 10_000;
            }
        }
        let mut digits = Vec::new();
        while int > 0 {
            digits.push((int % 10_000) as i16);
            int /= 10_000;
        }
        digits.reverse();
        let mut weight = digits.len() as i32 - 1;
        digits.extend_from_slice(&frac_digits);
        let lead = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..lead);
        weight -= lead as i32;
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        let mut out = vec![
            digits.len() as i16,
            weight as i16,
            if mantissa < 0 && !digits.is_empty() { 0x4000 } else { 0 },
            scale as i16,
        ];
        out.extend(digits);
        out
    }

    #[test]
    fn numeric_equals_the_reference_on_edges_and_a_spread_of_values() {
        let max = 10i128.pow(38) - 1;
        let mut values = vec![0, 1, -1, 9, 10, 9_999, 10_000, 10_001, 99_999_999, 100_000_000, max, -max];
        values.extend([u64::MAX as i128, u64::MAX as i128 + 1, -(u64::MAX as i128), i64::MIN as i128]);
        // A deterministic spread over all magnitudes (xorshift).
        let mut x: u128 = 0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C834;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let digits = (x % 39) as u32;
            let v = (x >> 8) as i128 % 10i128.pow(digits).max(1);
            values.push(if x & 1 == 1 { -v } else { v });
        }
        for &m in &values {
            for scale in 0..=38u8 {
                assert_eq!(numeric(m, scale), reference_numeric(m, scale), "{m} scale {scale}");
            }
        }
    }

    #[test]
    fn numeric_layout() {
        // 12345.678 with scale 3 → digits [1, 2345, 6780], weight 1.
        assert_eq!(numeric(12_345_678, 3), vec![3, 1, 0, 3, 1, 2345, 6780]);
        // -0.0001 scale 4 → digit [1], weight -1.
        assert_eq!(numeric(-1, 4), vec![1, -1, 0x4000, 4, 1]);
        // zero keeps its scale.
        assert_eq!(numeric(0, 2), vec![0, 0, 0, 2]);
        // 10000 → [1], weight 1.
        assert_eq!(numeric(10_000, 0), vec![1, 1, 0, 0, 1]);
        // Largest decimal(38,38) does not overflow.
        let max = 10i128.pow(38) - 1;
        assert_eq!(numeric(max, 38)[..4], [10, -1, 0, 38]);
    }
}
