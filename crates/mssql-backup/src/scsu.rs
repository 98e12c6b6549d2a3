//! SCSU, the Standard Compression Scheme for Unicode (Unicode Technical Standard #6).
//!
//! SQL Server stores the text of module, default, check and computed-column definitions
//! (`sysobjvalues.imageval`, marked by a `value` of int 2 in every fixture) in this form:
//! text in the ASCII range is its own bytes, other characters use SCSU's windows and tags.

use crate::{Error, Result};

/// Initial positions of the eight dynamic windows (UTS #6 §5.1, table 3).
const DYNAMIC_INIT: [u32; 8] = [0x0080, 0x00C0, 0x0400, 0x0600, 0x0900, 0x3040, 0x30A0, 0xFF00];
/// Positions of the eight static windows (UTS #6 §5.1, table 2).
const STATIC: [u32; 8] = [0x0000, 0x0080, 0x0100, 0x0300, 0x2000, 0x2080, 0x2100, 0x3000];

/// Window offset for an SDn/SCn byte (UTS #6 §5.1, table 4).
fn window_offset(x: u8) -> Result<u32> {
    Ok(match x {
        0x01..=0x67 => u32::from(x) * 0x80,
        0x68..=0xA7 => u32::from(x) * 0x80 + 0xAC00,
        0xF9 => 0x00C0,
        0xFA => 0x0250,
        0xFB => 0x0370,
        0xFC => 0x0530,
        0xFD => 0x3040,
        0xFE => 0x30A0,
        0xFF => 0xFF60,
        _ => return Err(Error::corrupt(format!("SCSU: reserved window offset byte 0x{x:02x}"))),
    })
}

/// Decodes SCSU bytes to a string.
///
/// # Errors
/// [`crate::ErrorKind::Corrupt`] for truncated sequences, reserved bytes or code points
/// that are not Unicode scalar values.
pub fn decode(input: &[u8]) -> Result<String> {
    let mut out = String::with_capacity(input.len());
    let mut windows = DYNAMIC_INIT;
    let mut active = 0usize;
    let mut unicode_mode = false;
    let mut i = 0usize;
    let err = |what: &str, at: usize| Error::corrupt(format!("SCSU: {what} at byte {at}"));
    let push = |out: &mut String, cp: u32, at: usize| -> Result<()> {
        out.push(char::from_u32(cp).ok_or_else(|| err(&format!("invalid code point U+{cp:X}"), at))?);
        Ok(())
    };
    let next = |i: &mut usize| -> Result<u8> {
        let b = *input.get(*i).ok_or_else(|| err("truncated sequence", *i))?;
        *i += 1;
        Ok(b)
    };
    while i < input.len() {
        let at = i;
        let b = next(&mut i)?;
        if !unicode_mode {
            match b {
                0x00 | 0x09 | 0x0A | 0x0D | 0x20..=0x7F => push(&mut out, u32::from(b), at)?,
                0x80..=0xFF => push(&mut out, windows[active] + u32::from(b - 0x80), at)?,
                0x01..=0x08 => {
                    // SQn: quote one character from window n.
                    let n = usize::from(b - 1);
                    let c = next(&mut i)?;
                    let cp = if c < 0x80 { STATIC[n] + u32::from(c) } else { windows[n] + u32::from(c - 0x80) };
                    push(&mut out, cp, at)?;
                }
                0x0B => {
                    // SDX: define extended window.
                    let hi = next(&mut i)?;
                    let lo = next(&mut i)?;
                    let n = usize::from(hi >> 5);
                    windows[n] = 0x10000 + ((u32::from(hi & 0x1F) << 8 | u32::from(lo)) << 7);
                    active = n;
                }
                0x0E => {
                    // SQU: quote one UTF-16 unit pair.
                    let hi = next(&mut i)?;
                    let lo = next(&mut i)?;
                    push_utf16(&mut out, u16::from_be_bytes([hi, lo]), input, &mut i, at, true)?;
                }
                0x0F => unicode_mode = true,
                0x10..=0x17 => active = usize::from(b - 0x10),
                0x18..=0x1F => {
                    let n = usize::from(b - 0x18);
                    windows[n] = window_offset(next(&mut i)?)?;
                    active = n;
                }
                _ => return Err(err(&format!("reserved byte 0x{b:02x}"), at)),
            }
        } else {
            match b {
                0xE0..=0xE7 => {
                    active = usize::from(b - 0xE0);
                    unicode_mode = false;
                }
                0xE8..=0xEF => {
                    let n = usize::from(b - 0xE8);
                    windows[n] = window_offset(next(&mut i)?)?;
                    active = n;
                    unicode_mode = false;
                }
                0xF0 => {
                    let hi = next(&mut i)?;
                    let lo = next(&mut i)?;
                    push_utf16(&mut out, u16::from_be_bytes([hi, lo]), input, &mut i, at, false)?;
                }
                0xF1 => {
                    let hi = next(&mut i)?;
                    let lo = next(&mut i)?;
                    let n = usize::from(hi >> 5);
                    windows[n] = 0x10000 + ((u32::from(hi & 0x1F) << 8 | u32::from(lo)) << 7);
                    active = n;
                    unicode_mode = false;
                }
                0xF2 => return Err(err("reserved byte 0xF2", at)),
                _ => {
                    let lo = next(&mut i)?;
                    push_utf16(&mut out, u16::from_be_bytes([b, lo]), input, &mut i, at, false)?;
                }
            }
        }
    }
    Ok(out)
}

/// Pushes a big-endian UTF-16 unit. A high surrogate takes its low surrogate from the
/// next two bytes, after an `SQU` tag when in single-byte mode (UTS #6 §6.1.3).
fn push_utf16(out: &mut String, unit: u16, input: &[u8], i: &mut usize, at: usize, single_byte: bool) -> Result<()> {
    if (0xD800..0xDC00).contains(&unit) {
        let lone = || Error::corrupt(format!("SCSU: high surrogate without low surrogate at byte {at}"));
        if single_byte {
            if input.get(*i) != Some(&0x0E) {
                return Err(lone());
            }
            *i += 1;
        }
        let lo = input.get(*i..*i + 2).ok_or_else(lone)?;
        let low = u16::from_be_bytes([lo[0], lo[1]]);
        if !(0xDC00..0xE000).contains(&low) {
            return Err(lone());
        }
        *i += 2;
        let cp = 0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00);
        out.push(char::from_u32(cp).expect("valid supplementary code point"));
        return Ok(());
    }
    match char::from_u32(u32::from(unit)) {
        Some(c) => {
            out.push(c);
            Ok(())
        }
        None => Err(Error::corrupt(format!("SCSU: lone low surrogate at byte {at}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_is_identity() {
        assert_eq!(decode(b"((0))").unwrap(), "((0))");
        assert_eq!(decode(b"CREATE VIEW v AS\r\n\tSELECT 1").unwrap(), "CREATE VIEW v AS\r\n\tSELECT 1");
    }

    #[test]
    fn uts6_examples() {
        // UTS #6 §9.1, German: "Öl fließt" with the default window 0 (U+0080).
        assert_eq!(decode(&[0xD6, 0x6C, 0x20, 0x66, 0x6C, 0x69, 0x65, 0xDF, 0x74]).unwrap(), "Öl fließt");
        // UTS #6 §9.2, Russian: SC2 (window 0x0400) then "Москва".
        assert_eq!(decode(&[0x12, 0x9C, 0xBE, 0xC1, 0xBA, 0xB2, 0xB0]).unwrap(), "Москва");
        // UTS #6 §9.3, Japanese: SC5? no — SQU and Unicode mode: "♪" via SQU.
        assert_eq!(decode(&[0x0E, 0x26, 0x6A]).unwrap(), "♪");
        // Unicode mode then back to single-byte mode (UC0).
        assert_eq!(decode(&[0x0F, 0x30, 0x42, 0xE0, 0x41]).unwrap(), "あA");
    }

    #[test]
    fn vietnamese_through_a_defined_window() {
        // SD0 with offset byte 0x3D (0x3D × 0x80 = U+1E80) then 0xC5 → U+1EC5 'ễ'.
        assert_eq!(decode(&[b'N', b'g', b'u', b'y', 0x18, 0x3D, 0xC5, 0x10, b'n']).unwrap(), "Nguyễn");
    }

    #[test]
    fn truncated_and_reserved_bytes_are_errors() {
        assert!(decode(&[0x0E, 0x26]).is_err());
        assert!(decode(&[0x0C]).is_err());
    }
}
