//! FixedVar records for one heap, laid out by the template's own catalog (`sysrscols`
//! leaf offsets and null bits, as `mssql-backup` reads them), values derived from the row
//! number so that a reader can check them.
//!
//! Record layout (SQL Server's FixedVar format, as `mssql_backup::internals::record` parses
//! it): status byte A (0x10 null bitmap present, 0x20 variable columns present), status
//! byte B (0), `u16` offset of the column count (= `pminlen`, the end of the fixed part),
//! the fixed part, `u16` column count, the null bitmap (one bit per column, `ceil(n / 8)`
//! bytes), `u16` variable column count, one `u16` end offset per variable column, then
//! the variable data.
//!
//! Every record of a table has the same length: variable-length values are given a fixed
//! length per column, so rows per page is a constant and the whole allocation (PFS
//! fullness, IAM bits) is known before the first page is written.
//!
//! Off-row `(max)` values (when asked for, [`Encoder::new`]'s `lob`): the column's
//! variable offset entry has bit 0x8000 (a complex column) and its in-row bytes are an
//! inline LOB root, per `mssql_backup::internals::lob`: byte 0 type 4, bytes 1–2 index
//! level 0, bytes 4–7 update sequence, 8–11 timestamp, then one 12-byte link per fragment
//! `{u32 end offset in the value, u32 page, u16 file, u16 slot}` (written by the caller,
//! which places the fragments). Such columns are never NULL.

use anyhow::{Result, bail};
use mssql_backup::SqlType;
use mssql_backup::internals::catalog::{ColumnLayout, ColumnPlace};
use mssql_backup::schema::Column;

/// Days from 0001-01-01 to 2000-01-01 (`date` and `datetime2` count from 0001-01-01).
const DAYS_0001_TO_2000: u32 = 730_119;
/// Days from 1900-01-01 to 2000-01-01 (`datetime` counts from 1900-01-01).
const DAYS_1900_TO_2000: i32 = 36_524;

/// How one column is written.
#[derive(Debug, Clone)]
enum Kind {
    /// Fixed bytes at `offset`, `len` long.
    Fixed { offset: usize, len: usize },
    /// A bit at `offset`, bit `bit`.
    Bit { offset: usize, bit: u8 },
    /// The `index`-th variable column, always `len` bytes.
    Var { index: usize, len: usize },
    /// The `index`-th variable column, an inline root (12 bytes and 12 per fragment).
    Lob { index: usize },
}

/// Bytes of one LOB data fragment at most ([MS-SQL internals]: a `DATA` record of 8,054
/// bytes, 8,040 of value, fills a page of 8,096 free bytes with its slot).
pub const LOB_FRAGMENT: usize = 8_040;
/// Links an inline root holds at most (its 72 in-row bytes).
pub const MAX_ROOT_LINKS: usize = 5;

/// Where an off-row `(max)` column's inline root sits in every record.
#[derive(Debug, Clone)]
pub struct LobRoot {
    /// Offset of the root in the record.
    pub offset: usize,
    /// The column's position in the table.
    pub ordinal: u64,
    /// The column's type.
    pub ty: SqlType,
}

#[derive(Debug, Clone)]
struct Col {
    ty: SqlType,
    kind: Kind,
    /// 0-based null bit, when the column is nullable and has one.
    null_bit: Option<usize>,
    /// Position in the table (used to vary values between columns).
    ordinal: u64,
    /// For a foreign-key column: the referenced key values, taken in turn.
    choices: Option<Vec<i64>>,
}

/// Encodes the rows of one table.
#[derive(Debug, Clone)]
pub struct Encoder {
    cols: Vec<Col>,
    /// `pminlen`: end of the fixed part.
    fixed_end: usize,
    /// Columns counted in the record (null bitmap width).
    column_count: usize,
    /// Variable columns stored (offset array entries).
    var_count: usize,
    /// Variable data lengths, by variable index.
    var_lens: Vec<usize>,
    /// Variable columns whose offset entry carries the complex bit (off-row roots).
    complex: Vec<bool>,
    len: usize,
}

/// Length a variable column's generated values always have, in bytes.
fn var_len(ty: &SqlType) -> Result<usize> {
    Ok(match ty {
        SqlType::VarChar { len, .. } => usize::from(len.unwrap_or(24)).min(24),
        SqlType::NVarChar { len, .. } => 2 * usize::from(len.unwrap_or(24)).min(24),
        SqlType::VarBinary { len } => usize::from(len.unwrap_or(16)).min(16),
        other => bail!("variable-length column of type {} is not generated", other.sql_name()),
    })
}

impl Encoder {
    /// An encoder for `columns` laid out as `layout` (same order), with `pminlen`
    /// `fixed_end` and `column_count` columns in the record (the rowset's `sysrscols`,
    /// dropped columns included).
    ///
    /// # Errors
    /// Types this generator does not write (LOBs off-row, `sql_variant`, CLR types…),
    /// sparse or not-stored columns, and layouts that do not add up.
    ///
    /// `choices[i]`, when given, lists the values column `i` takes in turn (the key values
    /// a foreign key references); only integer columns take them.
    ///
    /// `lob`, when given, is the length in bytes of an off-row value for every `(max)`
    /// column (`varchar`, `nvarchar`, `varbinary`): at most `5 · 8,040` bytes (the links
    /// one inline root holds), even for `nvarchar(max)`.
    pub fn new(
        columns: &[Column],
        layout: &[ColumnLayout],
        pminlen: usize,
        column_count: usize,
        choices: &[Option<Vec<i64>>],
        lob: Option<usize>,
    ) -> Result<Encoder> {
        if let Some(n) = lob
            && (n == 0 || n > MAX_ROOT_LINKS * LOB_FRAGMENT || !n.is_multiple_of(2))
        {
            bail!("off-row values of {n} bytes: give an even length from 2 to {}", MAX_ROOT_LINKS * LOB_FRAGMENT);
        }
        // Columns added by ALTER TABLE sit past the `pminlen` of pages written before: the
        // fixed part ends after the last fixed column.
        let fixed_end = layout.iter().fold(pminlen.max(4), |end, l| match l.place {
            ColumnPlace::Fixed { offset, len } => end.max(usize::from(offset) + usize::from(len)),
            ColumnPlace::Bit { offset, .. } => end.max(usize::from(offset) + 1),
            _ => end,
        });
        let mut cols = Vec::new();
        let mut var_lens: Vec<usize> = Vec::new();
        let mut complex: Vec<bool> = Vec::new();
        let mut max_null = 0usize;
        for (i, (c, l)) in columns.iter().zip(layout).enumerate() {
            let kind = match l.place {
                ColumnPlace::Fixed { offset, len } => {
                    let (offset, len) = (usize::from(offset), usize::from(len));
                    if offset < 4 || offset + len > fixed_end {
                        bail!(
                            "column {}: fixed place {offset}+{len} outside the fixed part (pminlen {fixed_end})",
                            c.name
                        );
                    }
                    if fixed_len(&c.ty)? != len {
                        bail!("column {} ({}): catalog length {len} is not the type's", c.name, c.ty.sql_name());
                    }
                    Kind::Fixed { offset, len }
                }
                ColumnPlace::Bit { offset, bit } => Kind::Bit { offset: usize::from(offset), bit },
                ColumnPlace::Var { index } => {
                    let index = usize::from(index);
                    if var_lens.len() <= index {
                        var_lens.resize(index + 1, 0);
                        complex.resize(index + 1, false);
                    }
                    match lob {
                        Some(n) if is_max(&c.ty) => {
                            let frags = n.div_ceil(LOB_FRAGMENT);
                            var_lens[index] = 12 + 12 * frags;
                            complex[index] = true;
                            Kind::Lob { index }
                        }
                        _ => {
                            let len = var_len(&c.ty)?;
                            var_lens[index] = len;
                            Kind::Var { index, len }
                        }
                    }
                }
                other => bail!("column {}: {other:?} columns are not generated", c.name),
            };
            max_null = max_null.max(usize::from(l.null_bit));
            let null_bit = (c.nullable && l.null_bit > 0).then(|| usize::from(l.null_bit) - 1);
            let choices = choices.get(i).cloned().flatten();
            if let Some(v) = &choices {
                if v.is_empty() {
                    bail!("column {}: its foreign key references an empty table", c.name);
                }
                if !matches!(c.ty, SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt) {
                    bail!("column {}: foreign keys on {} columns are not generated", c.name, c.ty.sql_name());
                }
            }
            cols.push(Col { ty: c.ty.clone(), kind, null_bit, ordinal: i as u64, choices });
        }
        let column_count = column_count.max(max_null);
        let var_count = var_lens.len();
        let bitmap = column_count.div_ceil(8);
        let var_data: usize = var_lens.iter().sum();
        let mut len = fixed_end + 2 + bitmap;
        if var_count > 0 {
            len += 2 + 2 * var_count + var_data;
        }
        // A heap record is never shorter than a forwarding stub (9 bytes).
        let len = len.max(9);
        if len > 8060 {
            bail!("a generated record would be {len} bytes, more than a row may hold in-row (8060)");
        }
        Ok(Encoder { cols, fixed_end, column_count, var_count, var_lens, complex, len })
    }

    /// End of the fixed part (`pminlen` of the generated pages).
    pub fn fixed_end(&self) -> usize {
        self.fixed_end
    }

    /// Record length in bytes (every record).
    pub fn len(&self) -> usize {
        self.len
    }

    /// The off-row `(max)` columns' inline roots, in column order (none without `lob`).
    pub fn lob_roots(&self) -> Vec<LobRoot> {
        let starts = self.var_starts();
        self.cols
            .iter()
            .filter_map(|c| match c.kind {
                Kind::Lob { index, .. } => {
                    Some(LobRoot { offset: starts[index], ordinal: c.ordinal, ty: c.ty.clone() })
                }
                _ => None,
            })
            .collect()
    }

    /// Where each variable column's data starts in the record.
    fn var_starts(&self) -> Vec<usize> {
        let var_hdr = self.fixed_end + 2 + self.column_count.div_ceil(8);
        let mut end = var_hdr + 2 + 2 * self.var_count;
        self.var_lens
            .iter()
            .map(|l| {
                end += l;
                end - l
            })
            .collect()
    }

    /// Whether the record is empty (never: at least 9 bytes).
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the record of row `row` (0-based among generated rows) into `out`
    /// (`self.len()` bytes).
    pub fn write(&self, row: u64, out: &mut [u8]) {
        let out = &mut out[..self.len];
        out.fill(0);
        out[0] = 0x10 | if self.var_count > 0 { 0x20 } else { 0 };
        out[2..4].copy_from_slice(&(self.fixed_end as u16).to_le_bytes());
        let nc = self.fixed_end;
        out[nc..nc + 2].copy_from_slice(&(self.column_count as u16).to_le_bytes());
        let bitmap = nc + 2;
        let var_hdr = bitmap + self.column_count.div_ceil(8);
        let var_starts = self.var_starts();
        if self.var_count > 0 {
            out[var_hdr..var_hdr + 2].copy_from_slice(&(self.var_count as u16).to_le_bytes());
            for (i, l) in self.var_lens.iter().enumerate() {
                let end = (var_starts[i] + l) as u16 | if self.complex[i] { 0x8000 } else { 0 };
                let at = var_hdr + 2 + 2 * i;
                out[at..at + 2].copy_from_slice(&end.to_le_bytes());
            }
        }
        for c in &self.cols {
            if let Some(bit) = c.null_bit
                && !matches!(c.kind, Kind::Lob { .. })
                && is_null(row, c.ordinal)
            {
                out[bitmap + bit / 8] |= 1 << (bit % 8);
                continue;
            }
            match c.kind {
                Kind::Fixed { offset, len } => match &c.choices {
                    Some(v) => {
                        let n = v[(row % v.len() as u64) as usize];
                        out[offset..offset + len].copy_from_slice(&n.to_le_bytes()[..len]);
                    }
                    None => fixed_value(&c.ty, row, c.ordinal, &mut out[offset..offset + len]),
                },
                Kind::Bit { offset, bit } => {
                    if (row + c.ordinal) % 2 == 1 {
                        out[offset] |= 1 << bit;
                    }
                }
                Kind::Var { index, len } => {
                    let start = var_starts[index];
                    var_value(&c.ty, row, &mut out[start..start + len]);
                }
                Kind::Lob { index, .. } => {
                    let start = var_starts[index];
                    out[start] = 4; // inline root; level 0; links by the caller
                    out[start + 4..start + 8].copy_from_slice(&1u32.to_le_bytes());
                }
            }
        }
    }
}

/// Whether `ty` is a `(max)` type whose values may live off-row.
fn is_max(ty: &SqlType) -> bool {
    matches!(
        ty,
        SqlType::VarChar { len: None, .. } | SqlType::NVarChar { len: None, .. } | SqlType::VarBinary { len: None }
    )
}

/// Byte `i` of the off-row value of a `ty` column in row `row`: the row number's 24
/// zero-padded digits, repeated (for `nvarchar(max)` as UTF-16LE). Fills `out`, which
/// starts at byte `from` of the value.
pub fn lob_value(ty: &SqlType, row: u64, from: usize, out: &mut [u8]) {
    let digits = text_value(row, 24);
    let d = digits.as_bytes();
    let wide = matches!(ty, SqlType::NVarChar { .. });
    for (k, b) in out.iter_mut().enumerate() {
        let i = from + k;
        *b = if !wide {
            d[i % 24]
        } else if i.is_multiple_of(2) {
            d[(i / 2) % 24]
        } else {
            0
        };
    }
}

/// Nullable columns hold NULL in one row of 10 (varied by column).
pub fn is_null(row: u64, ordinal: u64) -> bool {
    (row + ordinal) % 10 == 9
}

/// Bytes a fixed-length type takes in the record.
fn fixed_len(ty: &SqlType) -> Result<usize> {
    Ok(match ty {
        SqlType::TinyInt => 1,
        SqlType::SmallInt => 2,
        SqlType::Int | SqlType::Real | SqlType::SmallMoney | SqlType::SmallDateTime => 4,
        SqlType::BigInt | SqlType::Float | SqlType::Money | SqlType::DateTime | SqlType::RowVersion => 8,
        SqlType::Decimal { precision, .. } => match precision {
            1..=9 => 5,
            10..=19 => 9,
            20..=28 => 13,
            _ => 17,
        },
        SqlType::Date => 3,
        SqlType::Time { scale } => time_len(*scale),
        SqlType::DateTime2 { scale } => time_len(*scale) + 3,
        SqlType::DateTimeOffset { scale } => time_len(*scale) + 5,
        SqlType::UniqueIdentifier => 16,
        SqlType::Char { len, .. } | SqlType::Binary { len } => usize::from(*len),
        SqlType::NChar { len, .. } => 2 * usize::from(*len),
        other => bail!("fixed-length column of type {} is not generated", other.sql_name()),
    })
}

fn time_len(scale: u8) -> usize {
    match scale {
        0..=2 => 3,
        3..=4 => 4,
        _ => 5,
    }
}

/// The integer value of an integer-like column in row `row`: unique per row, so keys stay
/// unique (1,000,000 above the row number, clear of the template's own rows).
pub fn int_value(row: u64, ordinal: u64) -> i64 {
    1_000_000 + row as i64 + ordinal as i64 * 7
}

/// Days since 2000-01-01 of a date column in row `row`.
pub fn day_value(row: u64) -> u32 {
    (row % 10_000) as u32
}

/// The text of a character column in row `row`, `chars` characters: the row number in
/// decimal, zero-padded on the left (or its last `chars` digits).
pub fn text_value(row: u64, chars: usize) -> String {
    let s = format!("{row:0chars$}");
    s[s.len() - chars..].to_string()
}

fn fixed_value(ty: &SqlType, row: u64, ordinal: u64, out: &mut [u8]) {
    let n = int_value(row, ordinal);
    match ty {
        SqlType::TinyInt => out[0] = (n % 256) as u8,
        SqlType::SmallInt => out.copy_from_slice(&((n % 32_000) as i16).to_le_bytes()),
        SqlType::Int => out.copy_from_slice(&(n as i32).to_le_bytes()),
        SqlType::BigInt | SqlType::RowVersion => out.copy_from_slice(&(n * 1_000_003).to_le_bytes()),
        // Money: row + 0.25 currency units, in 1/10000.
        SqlType::Money => out.copy_from_slice(&(row as i64 * 10_000 + 2_500).to_le_bytes()),
        SqlType::SmallMoney => out.copy_from_slice(&((row % 100_000) as i32 * 10_000 + 2_500).to_le_bytes()),
        SqlType::Real => out.copy_from_slice(&((row % 1_000_000) as f32 + 0.5).to_le_bytes()),
        SqlType::Float => out.copy_from_slice(&(row as f64 + 0.25).to_le_bytes()),
        SqlType::Decimal { precision, .. } => {
            // Sign byte (1 = positive), then the unscaled integer, little-endian.
            let digits = u32::from(*precision).min(18);
            let v = u128::from(row) % 10u128.pow(digits);
            out[0] = 1;
            let bytes = v.to_le_bytes();
            let k = out.len() - 1;
            out[1..].copy_from_slice(&bytes[..k]);
        }
        SqlType::Date => out.copy_from_slice(&(DAYS_0001_TO_2000 + day_value(row)).to_le_bytes()[..3]),
        SqlType::DateTime => {
            // Ticks of 1/300 s since midnight, then days since 1900-01-01.
            let secs = (row % 86_400) as u32;
            out[..4].copy_from_slice(&(secs * 300).to_le_bytes());
            out[4..].copy_from_slice(&(DAYS_1900_TO_2000 + day_value(row) as i32).to_le_bytes());
        }
        SqlType::SmallDateTime => {
            out[..2].copy_from_slice(&((row % 1440) as u16).to_le_bytes());
            out[2..].copy_from_slice(&((DAYS_1900_TO_2000 as u32 + day_value(row)) as u16).to_le_bytes());
        }
        SqlType::Time { scale } => time_value(row, *scale, out),
        SqlType::DateTime2 { scale } => {
            let t = out.len() - 3;
            time_value(row, *scale, &mut out[..t]);
            out[t..].copy_from_slice(&(DAYS_0001_TO_2000 + day_value(row)).to_le_bytes()[..3]);
        }
        SqlType::DateTimeOffset { scale } => {
            let t = out.len() - 5;
            time_value(row, *scale, &mut out[..t]);
            out[t..t + 3].copy_from_slice(&(DAYS_0001_TO_2000 + day_value(row)).to_le_bytes()[..3]);
            // UTC offset in minutes: 0.
        }
        SqlType::UniqueIdentifier => {
            out[..8].copy_from_slice(&row.to_le_bytes());
            out[8..].copy_from_slice(&ordinal.to_le_bytes());
        }
        SqlType::Char { .. } | SqlType::Binary { .. } => {
            let t = text_value(row, out.len());
            out.copy_from_slice(t.as_bytes());
        }
        SqlType::NChar { .. } => {
            for (i, ch) in text_value(row, out.len() / 2).bytes().enumerate() {
                out[2 * i] = ch;
            }
        }
        _ => unreachable!("checked by fixed_len"),
    }
}

/// `time(scale)`: units of 10^-scale s since midnight (here: whole seconds).
fn time_value(row: u64, scale: u8, out: &mut [u8]) {
    let v = (row % 86_400) * 10u64.pow(u32::from(scale));
    let k = out.len();
    out.copy_from_slice(&v.to_le_bytes()[..k]);
}

fn var_value(ty: &SqlType, row: u64, out: &mut [u8]) {
    match ty {
        SqlType::NVarChar { .. } => {
            for (i, ch) in text_value(row, out.len() / 2).bytes().enumerate() {
                out[2 * i] = ch;
            }
        }
        _ => out.copy_from_slice(text_value(row, out.len()).as_bytes()),
    }
}
