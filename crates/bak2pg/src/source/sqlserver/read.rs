//! Reading a table's rows over TDS so that every value is exactly the [`Value`] the native
//! reader produces from the backup.
//!
//! # How
//! The SELECT names every column, bracket-quoted, each in a form tiberius hands over
//! without loss; the row is then turned back into the column's *storage bytes* and
//! decoded by the very function the native reader uses, [`mssql_backup::value::decode`]
//! (for `sql_variant`, the stored variant layout is rebuilt and decoded by the same
//! function). So both engines share one decoder: same code pages, same UTF-16 handling
//! (lone surrogates become U+FFFD and are counted), same range checks, same `Value`s.
//!
//! | type | selected as | tiberius gives | storage bytes rebuilt |
//! | --- | --- | --- | --- |
//! | `bit`, `tinyint`, `smallint`, `int`, `bigint` | the column | the integer | little-endian |
//! | `real`, `float` | the column | the IEEE value (exact) | little-endian bits |
//! | `decimal(p,s)`, `numeric(p,s)` | the column | mantissa (`i128`) and scale, exactly as sent ([MS-TDS] 2.2.5.5.1.3) | sign byte, magnitude in 4/8/12/16 bytes |
//! | `money`, `smallmoney` | `CAST(c AS decimal(19,4))`, `decimal(10,4)`: tiberius decodes money as `f64`, which loses digits past 2^53 | mantissa = count of 1/10000 | `i64` / `i32` |
//! | `char`, `varchar`, `text` | `CAST(c AS varbinary(n))`, `text` through `varchar(max)` | the bytes in the column's code page, padding kept | as is; decoded with the column's collation code page |
//! | `nchar`, `nvarchar`, `ntext` | `CAST(c AS varbinary(2n))`, `ntext` through `nvarchar(max)` | UTF-16LE bytes, unpaired surrogates intact | as is |
//! | `binary`, `varbinary` | the column | bytes | as is |
//! | `image` | `CAST(c AS varbinary(max))` | bytes | as is |
//! | `rowversion` | `CAST(c AS binary(8))` | 8 bytes | as is |
//! | `uniqueidentifier` | the column | a `Uuid` in RFC order (tiberius swaps the first three groups of the wire bytes) | the swap undone: SQL Server's order |
//! | `date` | the column | days since 0001-01-01 | 3 bytes |
//! | `time(n)`, `datetime2(n)`, `datetimeoffset(n)` | the column | 10⁻ⁿ s increments, days, offset minutes; the UTC instant for `datetimeoffset` ([MS-TDS] 2.2.5.5.1.9) | time, date, offset |
//! | `smalldatetime` | the column | days since 1900 and minutes | minutes then days |
//! | `datetime` | the column | days since 1900 and 1/300 s ticks, exactly ([MS-TDS] 2.2.5.5.1.8) | ticks then days |
//! | `xml` | `CAST(CAST(c AS nvarchar(max)) AS varbinary(max))` | UTF-16LE of SQL Server's serialisation | decoded as text: see the note below |
//! | `hierarchyid`, `geometry`, `geography`, CLR types | `CAST(c AS varbinary(max))` (tiberius cannot decode them raw) | the serialised bytes, as stored | as is |
//! | types the native reader does not know (`json`, `vector`) | `CAST(c AS varbinary(max))` | bytes | loaded raw (`Value::Binary`) |
//! | `sql_variant` | 17 columns: `SQL_VARIANT_PROPERTY` `BaseType`, `Precision`, `Scale`, `MaxLength`, the `CollationID` of its `Collation`, then the value cast per family of base types (integers as `bigint`, `real`/`float` as `float`, money as `decimal(19,4)`, decimals as text, strings and binaries as `varbinary(8000)`, and each date/time type as itself at scale 7) | the base type's facts and value | the stored variant layout (`crate::variant` of mssql-backup) |
//!
//! Values longer than 8000 bytes (the `(max)` types, `text`, `ntext`, `image`, unbounded
//! CLR types) also select `DATALENGTH(c)`, and a value whose byte count differs is an
//! error: no LOB can be silently cut by a `TEXTSIZE` limit (pgloader's classic failure).
//! The reader sets `TEXTSIZE` to its maximum first.
//!
//! Columns SQL Server does not store (computed columns that are not `PERSISTED`, and
//! column sets) are not selected and read as NULL, as the native reader reads them.
//!
//! # `xml`
//! SQL Server does not hand out its binary XML, only its text serialisation; the native
//! reader serialises the binary XML itself. Both are the same document, but their texts
//! may differ where XML allows (e.g. `<a/>` against `<a />`), and then the checksums of
//! an `xml` column differ between engines (each engine still agrees with PostgreSQL).

use std::fmt::Write as _;

use mssql_backup::schema::{Column, Table};
use mssql_backup::value::{self, DecodeStats, decimal_magnitude_len, time_len_for_scale};
use mssql_backup::{SqlType, Value};
use tiberius::ColumnData;

use super::tsql::{TsqlError, quote_ident};

/// How one column of the table is selected and decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadKind {
    /// Not stored by SQL Server: not selected, NULL.
    NotStored,
    /// One column tiberius decodes exactly (integers, floats, decimals, dates, GUIDs).
    Typed,
    /// `money`/`smallmoney` cast to a decimal of scale 4.
    Money,
    /// Bytes (the column cast to `varbinary`/`binary`), decoded as the column's type;
    /// `checked`: a `DATALENGTH` column follows.
    Bytes {
        /// A `DATALENGTH` column follows the bytes.
        checked: bool,
    },
    /// `xml` as UTF-16LE bytes of its text.
    Xml,
    /// `sql_variant`: [`VARIANT_WIDTH`] columns.
    Variant,
}

/// Columns selected for one `sql_variant` column.
pub const VARIANT_WIDTH: usize = 17;

/// One column's place in the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnRead {
    /// How it is read.
    pub kind: ReadKind,
    /// Index of its first result column.
    pub first: usize,
    /// Number of result columns it takes (0 for [`ReadKind::NotStored`]).
    pub width: usize,
}

/// The SELECT for a table and where each of its columns is in the result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRead {
    /// `SELECT … FROM [schema].[table]`.
    pub sql: String,
    /// One entry per table column, in column order.
    pub columns: Vec<ColumnRead>,
    /// Number of result columns.
    pub width: usize,
}

fn varbinary_len(n: Option<usize>) -> String {
    match n {
        Some(n) if n <= 8000 => n.max(1).to_string(),
        _ => "max".into(),
    }
}

/// The select-list items of one column and how to read them.
fn column_items(c: &Column, stored: bool) -> Result<(ReadKind, Vec<String>), TsqlError> {
    if !stored {
        return Ok((ReadKind::NotStored, Vec::new()));
    }
    let q = quote_ident(&c.name, "column name")?;
    let bytes = |expr: String, checked: bool| {
        let mut v = vec![expr];
        if checked {
            v.push(format!("DATALENGTH({q})"));
        }
        (ReadKind::Bytes { checked }, v)
    };
    let lob = c.ty.is_lob();
    Ok(match &c.ty {
        SqlType::Bit
        | SqlType::TinyInt
        | SqlType::SmallInt
        | SqlType::Int
        | SqlType::BigInt
        | SqlType::Real
        | SqlType::Float
        | SqlType::Decimal { .. }
        | SqlType::UniqueIdentifier
        | SqlType::Date
        | SqlType::Time { .. }
        | SqlType::DateTime2 { .. }
        | SqlType::DateTimeOffset { .. }
        | SqlType::SmallDateTime
        | SqlType::DateTime => (ReadKind::Typed, vec![q]),
        SqlType::Money => (ReadKind::Money, vec![format!("CAST({q} AS decimal(19,4))")]),
        SqlType::SmallMoney => (ReadKind::Money, vec![format!("CAST({q} AS decimal(10,4))")]),
        SqlType::Char { len, .. } => {
            bytes(format!("CAST({q} AS varbinary({}))", varbinary_len(Some(usize::from(*len)))), false)
        }
        SqlType::VarChar { len, .. } => {
            bytes(format!("CAST({q} AS varbinary({}))", varbinary_len(len.map(usize::from))), lob)
        }
        SqlType::Text { .. } => bytes(format!("CAST(CAST({q} AS varchar(max)) AS varbinary(max))"), true),
        SqlType::NChar { len, .. } => {
            bytes(format!("CAST({q} AS varbinary({}))", varbinary_len(Some(usize::from(*len) * 2))), false)
        }
        SqlType::NVarChar { len, .. } => {
            bytes(format!("CAST({q} AS varbinary({}))", varbinary_len(len.map(|n| usize::from(n) * 2))), lob)
        }
        SqlType::NText { .. } => bytes(format!("CAST(CAST({q} AS nvarchar(max)) AS varbinary(max))"), true),
        SqlType::Binary { .. } => bytes(q.clone(), false),
        SqlType::VarBinary { .. } => bytes(q.clone(), lob),
        SqlType::Image => bytes(format!("CAST({q} AS varbinary(max))"), true),
        SqlType::RowVersion => bytes(format!("CAST({q} AS binary(8))"), false),
        SqlType::HierarchyId | SqlType::Geometry | SqlType::Geography | SqlType::Clr { .. } => {
            bytes(format!("CAST({q} AS varbinary(max))"), lob)
        }
        SqlType::Xml => (ReadKind::Xml, vec![format!("CAST(CAST({q} AS nvarchar(max)) AS varbinary(max))")]),
        SqlType::SqlVariant => (ReadKind::Variant, variant_items(&q)),
        // What DATALENGTH counts for a type we do not know is unknown too: no check.
        // (`SqlType::Unknown`, and any type mssql-backup names in a later version.)
        _ => bytes(format!("CAST({q} AS varbinary(max))"), false),
    })
}

/// The [`VARIANT_WIDTH`] select-list items of a `sql_variant` column `q` (quoted).
fn variant_items(q: &str) -> Vec<String> {
    let bt = format!("CAST(SQL_VARIANT_PROPERTY({q}, 'BaseType') AS nvarchar(128))");
    let when = |types: &[&str], then: &str| {
        let list: Vec<String> = types.iter().map(|t| format!("N'{t}'")).collect();
        format!("CASE WHEN {bt} IN ({}) THEN {then} END", list.join(", "))
    };
    vec![
        bt.clone(),
        format!("CAST(SQL_VARIANT_PROPERTY({q}, 'Precision') AS int)"),
        format!("CAST(SQL_VARIANT_PROPERTY({q}, 'Scale') AS int)"),
        format!("CAST(SQL_VARIANT_PROPERTY({q}, 'MaxLength') AS int)"),
        format!(
            "CAST(COLLATIONPROPERTY(CAST(SQL_VARIANT_PROPERTY({q}, 'Collation') AS nvarchar(128)), 'CollationID') AS int)"
        ),
        when(&["tinyint", "smallint", "int", "bigint", "bit"], &format!("CAST({q} AS bigint)")),
        when(&["real", "float"], &format!("CAST({q} AS float)")),
        when(&["money", "smallmoney"], &format!("CAST({q} AS decimal(19,4))")),
        when(&["decimal", "numeric"], &format!("CAST({q} AS varchar(48))")),
        when(
            &["char", "varchar", "nchar", "nvarchar", "binary", "varbinary"],
            &format!("CAST({q} AS varbinary(8000))"),
        ),
        when(&["uniqueidentifier"], &format!("CAST({q} AS uniqueidentifier)")),
        when(&["date"], &format!("CAST({q} AS date)")),
        when(&["time"], &format!("CAST({q} AS time(7))")),
        when(&["datetime2"], &format!("CAST({q} AS datetime2(7))")),
        when(&["datetimeoffset"], &format!("CAST({q} AS datetimeoffset(7))")),
        when(&["datetime"], &format!("CAST({q} AS datetime)")),
        when(&["smalldatetime"], &format!("CAST({q} AS smalldatetime)")),
    ]
}

/// The SELECT of every row of `table`. `stored(column)` says whether SQL Server stores the
/// column (false for non-persisted computed columns and column sets).
///
/// # Errors
/// A name that cannot be quoted (NUL, too long).
pub fn plan_table(table: &Table, stored: impl Fn(&Column) -> bool) -> Result<TableRead, TsqlError> {
    let mut items = Vec::new();
    let mut columns = Vec::with_capacity(table.columns.len());
    for c in &table.columns {
        let (kind, its) = column_items(c, stored(c))?;
        columns.push(ColumnRead { kind, first: items.len(), width: its.len() });
        items.extend(its);
    }
    let width = items.len();
    if items.is_empty() {
        // Every column is computed: the rows still count.
        items.push("CAST(NULL AS int) AS [bak2pg_no_stored_column]".into());
    }
    let mut sql = String::from("SELECT ");
    for (i, it) in items.iter().enumerate() {
        if i > 0 {
            sql.push_str(",\n       ");
        }
        sql.push_str(it);
    }
    let _ = write!(
        sql,
        "\nFROM {}.{}",
        quote_ident(&table.schema, "schema name")?,
        quote_ident(&table.name, "table name")?
    );
    Ok(TableRead { sql, columns, width })
}

/// A value that does not fit its column (a type the server sent that we did not ask for,
/// a truncated LOB…). The message names the column. When the shared decoder refused the
/// rebuilt bytes, its error is the source (its text is also in `message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadError {
    /// Column name.
    pub column: String,
    /// What was wrong.
    pub message: String,
    /// The decoder's error, when it was the decoder that refused; boxed, as it is large
    /// and every row returns this type.
    pub cause: Option<Box<mssql_backup::Error>>,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

/// By hand rather than `#[source]`: the source is the decoder's error itself, not its
/// box, so that it downcasts to [`mssql_backup::Error`].
impl std::error::Error for ReadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// True for a NULL of any type.
pub fn is_null(cd: &ColumnData<'_>) -> bool {
    match cd {
        ColumnData::U8(v) => v.is_none(),
        ColumnData::I16(v) => v.is_none(),
        ColumnData::I32(v) => v.is_none(),
        ColumnData::I64(v) => v.is_none(),
        ColumnData::F32(v) => v.is_none(),
        ColumnData::F64(v) => v.is_none(),
        ColumnData::Bit(v) => v.is_none(),
        ColumnData::String(v) => v.is_none(),
        ColumnData::Guid(v) => v.is_none(),
        ColumnData::Binary(v) => v.is_none(),
        ColumnData::Numeric(v) => v.is_none(),
        ColumnData::Xml(v) => v.is_none(),
        ColumnData::DateTime(v) => v.is_none(),
        ColumnData::SmallDateTime(v) => v.is_none(),
        ColumnData::Time(v) => v.is_none(),
        ColumnData::Date(v) => v.is_none(),
        ColumnData::DateTime2(v) => v.is_none(),
        ColumnData::DateTimeOffset(v) => v.is_none(),
    }
}

fn kind_of(cd: &ColumnData<'_>) -> &'static str {
    match cd {
        ColumnData::U8(_) => "tinyint",
        ColumnData::I16(_) => "smallint",
        ColumnData::I32(_) => "int",
        ColumnData::I64(_) => "bigint",
        ColumnData::F32(_) => "real",
        ColumnData::F64(_) => "float",
        ColumnData::Bit(_) => "bit",
        ColumnData::String(_) => "string",
        ColumnData::Guid(_) => "uniqueidentifier",
        ColumnData::Binary(_) => "binary",
        ColumnData::Numeric(_) => "numeric",
        ColumnData::Xml(_) => "xml",
        ColumnData::DateTime(_) => "datetime",
        ColumnData::SmallDateTime(_) => "smalldatetime",
        ColumnData::Time(_) => "time",
        ColumnData::Date(_) => "date",
        ColumnData::DateTime2(_) => "datetime2",
        ColumnData::DateTimeOffset(_) => "datetimeoffset",
    }
}

fn unexpected(ty: &SqlType, cd: &ColumnData<'_>) -> String {
    format!("SQL Server sent a {} value for a {} column", kind_of(cd), ty.sql_name())
}

/// The storage form of a GUID that tiberius hands over as a `Uuid`: tiberius reverses the
/// byte order of the first three groups of the wire bytes (`guid::reorder_bytes`, after
/// mssql-jdbc's `Util.java`), and the wire bytes are the storage bytes, so the same swap,
/// which is its own inverse, gives them back.
pub fn guid_storage(uuid_bytes: &[u8; 16]) -> [u8; 16] {
    let mut b = *uuid_bytes;
    b.swap(0, 3);
    b.swap(1, 2);
    b.swap(4, 5);
    b.swap(6, 7);
    b
}

/// Appends the storage bytes of a decimal `mantissa / 10^scale` of `decimal(precision,
/// scale)`: a sign byte (1 positive, 0 negative) then the magnitude, little-endian, in
/// 4/8/12/16 bytes by precision.
///
/// # Errors
/// An impossible precision, or a magnitude too large for it.
pub fn decimal_storage(mantissa: i128, precision: u8, out: &mut Vec<u8>) -> Result<(), String> {
    let n = decimal_magnitude_len(precision).ok_or_else(|| format!("impossible precision {precision}"))?;
    let m = mantissa.unsigned_abs();
    if n < 16 && m >> (8 * n) != 0 {
        return Err(format!("{mantissa} does not fit decimal({precision},…)"));
    }
    out.push(u8::from(mantissa >= 0));
    out.extend_from_slice(&m.to_le_bytes()[..n]);
    Ok(())
}

/// Appends `ticks` of a `time(scale)` as stored: 3, 4 or 5 bytes, little-endian.
///
/// # Errors
/// A scale above 7, or ticks that do not fit.
pub fn time_storage(ticks: u64, scale: u8, out: &mut Vec<u8>) -> Result<(), String> {
    let n = time_len_for_scale(scale).ok_or_else(|| format!("impossible time scale {scale}"))?;
    if ticks >> (8 * n) != 0 {
        return Err(format!("{ticks} ticks do not fit time({scale})"));
    }
    out.extend_from_slice(&ticks.to_le_bytes()[..n]);
    Ok(())
}

/// Appends a `date`'s day number (since 0001-01-01) as stored: 3 bytes, little-endian.
///
/// # Errors
/// A day number that does not fit in 3 bytes.
pub fn date_storage(days: u32, out: &mut Vec<u8>) -> Result<(), String> {
    if days >> 24 != 0 {
        return Err(format!("day {days} does not fit a date"));
    }
    out.extend_from_slice(&days.to_le_bytes()[..3]);
    Ok(())
}

fn check_scale(ty: &SqlType, declared: u8, got: u8) -> Result<(), String> {
    if declared == got { Ok(()) } else { Err(format!("SQL Server sent scale {got} for a {} column", ty.sql_name())) }
}

/// Appends the storage bytes of a non-NULL value of a [`ReadKind::Typed`] column of type
/// `ty`, received as `cd`.
///
/// # Errors
/// A value of another kind than the type's, a scale other than the declared one, a value
/// that does not fit the type.
pub fn typed_storage(ty: &SqlType, cd: &ColumnData<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    match (ty, cd) {
        (SqlType::Bit, ColumnData::Bit(Some(b))) => out.push(u8::from(*b)),
        (SqlType::TinyInt, ColumnData::U8(Some(v))) => out.push(*v),
        (SqlType::SmallInt, ColumnData::I16(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
        (SqlType::Int, ColumnData::I32(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
        (SqlType::BigInt, ColumnData::I64(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
        (SqlType::Real, ColumnData::F32(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
        (SqlType::Float, ColumnData::F64(Some(v))) => out.extend_from_slice(&v.to_le_bytes()),
        (SqlType::Decimal { precision, scale, .. }, ColumnData::Numeric(Some(n))) => {
            check_scale(ty, *scale, n.scale())?;
            decimal_storage(n.value(), *precision, out)?;
        }
        (SqlType::UniqueIdentifier, ColumnData::Guid(Some(u))) => out.extend_from_slice(&guid_storage(u.as_bytes())),
        (SqlType::Date, ColumnData::Date(Some(d))) => date_storage(d.days(), out)?,
        (SqlType::Time { scale }, ColumnData::Time(Some(t))) => {
            check_scale(ty, *scale, t.scale())?;
            time_storage(t.increments(), *scale, out)?;
        }
        (SqlType::DateTime2 { scale }, ColumnData::DateTime2(Some(dt))) => {
            check_scale(ty, *scale, dt.time().scale())?;
            time_storage(dt.time().increments(), *scale, out)?;
            date_storage(dt.date().days(), out)?;
        }
        (SqlType::DateTimeOffset { scale }, ColumnData::DateTimeOffset(Some(dto))) => {
            let dt = dto.datetime2();
            check_scale(ty, *scale, dt.time().scale())?;
            time_storage(dt.time().increments(), *scale, out)?;
            date_storage(dt.date().days(), out)?;
            out.extend_from_slice(&dto.offset().to_le_bytes());
        }
        (SqlType::SmallDateTime, ColumnData::SmallDateTime(Some(s))) => {
            out.extend_from_slice(&s.seconds_fragments().to_le_bytes());
            out.extend_from_slice(&s.days().to_le_bytes());
        }
        (SqlType::DateTime, ColumnData::DateTime(Some(d))) => {
            out.extend_from_slice(&d.seconds_fragments().to_le_bytes());
            out.extend_from_slice(&d.days().to_le_bytes());
        }
        _ => return Err(unexpected(ty, cd)),
    }
    Ok(())
}

/// Appends the storage bytes of a `money` (`i64`) or `smallmoney` (`i32`) received as a
/// decimal of scale 4: the mantissa is the count of 1/10000 units.
///
/// # Errors
/// Another kind or scale, or a value out of the type's range.
pub fn money_storage(ty: &SqlType, cd: &ColumnData<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    let ColumnData::Numeric(Some(n)) = cd else { return Err(unexpected(ty, cd)) };
    if n.scale() != 4 {
        return Err(format!("SQL Server sent scale {} for a money cast to scale 4", n.scale()));
    }
    let range = || format!("{} out of range for {}", n.value(), ty.sql_name());
    match ty {
        SqlType::Money => out.extend_from_slice(&i64::try_from(n.value()).map_err(|_| range())?.to_le_bytes()),
        SqlType::SmallMoney => out.extend_from_slice(&i32::try_from(n.value()).map_err(|_| range())?.to_le_bytes()),
        _ => return Err(unexpected(ty, cd)),
    }
    Ok(())
}

/// The mantissa of a decimal printed by SQL Server (`CAST(d AS varchar)`: `-12.3400`,
/// `0.50`, `.5`, `7`), with `scale` fraction digits (fewer are padded with zeros).
///
/// # Errors
/// Anything but an optional `-`, digits, an optional `.` and digits; more fraction
/// digits than `scale`; more than 38 digits.
pub fn parse_decimal_text(text: &str, scale: u8) -> Result<i128, String> {
    let bad = || format!("{text:?} is not a decimal of scale {scale}");
    let t = text.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > usize::from(scale)
        || int.len() + usize::from(scale) > 38 + int.bytes().take_while(|b| *b == b'0').count()
    {
        return Err(bad());
    }
    let mut m: i128 = 0;
    for b in int.bytes().chain(frac.bytes()).chain(std::iter::repeat_n(b'0', usize::from(scale) - frac.len())) {
        m = m.checked_mul(10).and_then(|m| m.checked_add(i128::from(b - b'0'))).ok_or_else(bad)?;
    }
    Ok(if neg { -m } else { m })
}

fn variant_int(cd: &ColumnData<'_>) -> Option<i64> {
    match cd {
        ColumnData::I64(v) => *v,
        ColumnData::I32(v) => v.map(i64::from),
        ColumnData::I16(v) => v.map(i64::from),
        ColumnData::U8(v) => v.map(i64::from),
        _ => None,
    }
}

/// Rebuilds the stored layout of a `sql_variant` (see mssql-backup's `variant` module:
/// base type id, version 1, properties, value) from its [`VARIANT_WIDTH`] result
/// columns. `None` for NULL.
///
/// # Errors
/// A base type a `sql_variant` cannot hold, a missing or out-of-range part.
pub fn variant_storage(cells: &[ColumnData<'_>]) -> Result<Option<Vec<u8>>, String> {
    if cells.len() != VARIANT_WIDTH {
        return Err(format!("{} result columns for a sql_variant, expected {VARIANT_WIDTH}", cells.len()));
    }
    let base = match &cells[0] {
        ColumnData::String(None) => return Ok(None),
        ColumnData::String(Some(s)) => s.to_ascii_lowercase(),
        other => return Err(format!("BaseType came as {}", kind_of(other))),
    };
    let int = |i: usize, what: &str| variant_int(&cells[i]).ok_or_else(|| format!("sql_variant {base}: no {what}"));
    let value = |i: usize| -> Result<&ColumnData<'_>, String> {
        let cd = &cells[i];
        if is_null(cd) { Err(format!("sql_variant {base}: its value was not sent")) } else { Ok(cd) }
    };
    let small = |i: usize, what: &str| -> Result<u8, String> {
        u8::try_from(int(i, what)?).map_err(|_| format!("sql_variant {base}: {what} out of range"))
    };
    let mut out = Vec::with_capacity(32);
    let narrow = |v: i64, lo: i64, hi: i64| -> Result<i64, String> {
        if (lo..=hi).contains(&v) { Ok(v) } else { Err(format!("sql_variant {base}: {v} out of range")) }
    };
    match base.as_str() {
        "tinyint" | "smallint" | "int" | "bigint" | "bit" => {
            let v = int(5, "integer value")?;
            match base.as_str() {
                "tinyint" => {
                    out.extend_from_slice(&[48, 1]);
                    out.push(narrow(v, 0, 255)? as u8);
                }
                "smallint" => {
                    out.extend_from_slice(&[52, 1]);
                    out.extend_from_slice(&(narrow(v, i16::MIN.into(), i16::MAX.into())? as i16).to_le_bytes());
                }
                "int" => {
                    out.extend_from_slice(&[56, 1]);
                    out.extend_from_slice(&(narrow(v, i32::MIN.into(), i32::MAX.into())? as i32).to_le_bytes());
                }
                "bigint" => {
                    out.extend_from_slice(&[127, 1]);
                    out.extend_from_slice(&v.to_le_bytes());
                }
                _ => {
                    out.extend_from_slice(&[104, 1]);
                    out.push(narrow(v, 0, 1)? as u8);
                }
            }
        }
        "real" | "float" => {
            let ColumnData::F64(Some(x)) = value(6)? else { return Err(unexpected(&SqlType::Float, &cells[6])) };
            if base == "real" {
                // A real widened to float and back is the same value: the cast is exact.
                let r = *x as f32;
                if f64::from(r) != *x && !x.is_nan() {
                    return Err(format!("sql_variant real: {x} is not a real"));
                }
                out.extend_from_slice(&[59, 1]);
                out.extend_from_slice(&r.to_le_bytes());
            } else {
                out.extend_from_slice(&[62, 1]);
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        "money" => {
            out.extend_from_slice(&[60, 1]);
            money_storage(&SqlType::Money, value(7)?, &mut out)?;
        }
        "smallmoney" => {
            out.extend_from_slice(&[122, 1]);
            money_storage(&SqlType::SmallMoney, value(7)?, &mut out)?;
        }
        "decimal" | "numeric" => {
            let (precision, scale) = (small(1, "precision")?, small(2, "scale")?);
            let ColumnData::String(Some(text)) = value(8)? else {
                return Err(format!("sql_variant {base}: its text came as {}", kind_of(&cells[8])));
            };
            let m = parse_decimal_text(text, scale)?;
            out.extend_from_slice(&[if base == "decimal" { 106 } else { 108 }, 1, precision, scale]);
            decimal_storage(m, precision, &mut out)?;
        }
        "char" | "varchar" | "nchar" | "nvarchar" | "binary" | "varbinary" => {
            let max = u16::try_from(int(3, "MaxLength")?).map_err(|_| format!("sql_variant {base}: bad MaxLength"))?;
            let ColumnData::Binary(Some(b)) = value(9)? else {
                return Err(format!("sql_variant {base}: its bytes came as {}", kind_of(&cells[9])));
            };
            let id = match base.as_str() {
                "char" => 175,
                "varchar" => 167,
                "nchar" => 239,
                "nvarchar" => 231,
                "binary" => 173,
                _ => 165,
            };
            out.extend_from_slice(&[id, 1]);
            out.extend_from_slice(&max.to_le_bytes());
            if matches!(id, 175 | 167 | 239 | 231) {
                // COLLATIONPROPERTY(…, 'CollationID') is the stored collation id (see the
                // collation module of mssql-backup); an int that may be negative.
                let coll = int(4, "collation")? as i32 as u32;
                out.extend_from_slice(&coll.to_le_bytes());
            }
            out.extend_from_slice(b);
        }
        "uniqueidentifier" => {
            out.extend_from_slice(&[36, 1]);
            typed_storage(&SqlType::UniqueIdentifier, value(10)?, &mut out)?;
        }
        "date" => {
            out.extend_from_slice(&[40, 1]);
            typed_storage(&SqlType::Date, value(11)?, &mut out)?;
        }
        "time" | "datetime2" | "datetimeoffset" => {
            let scale = small(2, "scale")?;
            let (id, i) = match base.as_str() {
                "time" => (41, 12),
                "datetime2" => (42, 13),
                _ => (43, 14),
            };
            out.extend_from_slice(&[id, 1, scale]);
            // Selected at scale 7; the value has at most `scale` digits, so the division
            // is exact (checked).
            let down = |t: &tiberius::time::Time| -> Result<u64, String> {
                let s = t.scale();
                if s < scale || s > 7 {
                    return Err(format!("sql_variant {base}: sent at scale {s}"));
                }
                let f = 10u64.pow(u32::from(s - scale));
                if !t.increments().is_multiple_of(f) {
                    return Err(format!("sql_variant {base}: more digits than its scale {scale}"));
                }
                Ok(t.increments() / f)
            };
            match value(i)? {
                ColumnData::Time(Some(t)) => time_storage(down(t)?, scale, &mut out)?,
                ColumnData::DateTime2(Some(dt)) => {
                    time_storage(down(&dt.time())?, scale, &mut out)?;
                    date_storage(dt.date().days(), &mut out)?;
                }
                ColumnData::DateTimeOffset(Some(dto)) => {
                    let dt = dto.datetime2();
                    time_storage(down(&dt.time())?, scale, &mut out)?;
                    date_storage(dt.date().days(), &mut out)?;
                    out.extend_from_slice(&dto.offset().to_le_bytes());
                }
                other => return Err(format!("sql_variant {base}: its value came as {}", kind_of(other))),
            }
        }
        "datetime" => {
            out.extend_from_slice(&[61, 1]);
            typed_storage(&SqlType::DateTime, value(15)?, &mut out)?;
        }
        "smalldatetime" => {
            out.extend_from_slice(&[58, 1]);
            typed_storage(&SqlType::SmallDateTime, value(16)?, &mut out)?;
        }
        other => return Err(format!("a sql_variant cannot hold base type {other:?}")),
    }
    Ok(Some(out))
}

/// Decodes one result row into the table's values (`out` is cleared first), counting lossy
/// decodings per column into `stats` (one entry per table column).
///
/// # Errors
/// [`ReadError`] naming the column: a value of an unexpected kind, a LOB whose length
/// differs from `DATALENGTH`, bytes the type's decoder refuses.
pub fn decode_row(
    table: &Table,
    read: &TableRead,
    cells: &[ColumnData<'static>],
    out: &mut Vec<Value>,
    stats: &mut [DecodeStats],
    scratch: &mut Vec<u8>,
) -> Result<(), ReadError> {
    out.clear();
    if cells.len() < read.width {
        return Err(ReadError {
            column: String::new(),
            message: format!("{} result columns, expected {}", cells.len(), read.width),
            cause: None,
        });
    }
    for ((c, r), st) in table.columns.iter().zip(&read.columns).zip(stats.iter_mut()) {
        let err = |message: String| ReadError { column: c.name.clone(), message, cause: None };
        let decode_err = |e: mssql_backup::Error| ReadError {
            column: c.name.clone(),
            message: e.to_string(),
            cause: Some(Box::new(e)),
        };
        if r.kind == ReadKind::NotStored {
            out.push(Value::Null);
            continue;
        }
        let first = &cells[r.first];
        let v = match r.kind {
            ReadKind::NotStored => Value::Null,
            _ if r.kind != ReadKind::Variant && is_null(first) => Value::Null,
            ReadKind::Typed | ReadKind::Money => {
                scratch.clear();
                if r.kind == ReadKind::Money {
                    money_storage(&c.ty, first, scratch).map_err(err)?;
                } else {
                    typed_storage(&c.ty, first, scratch).map_err(err)?;
                }
                value::decode(&c.ty, scratch, st).map_err(decode_err)?
            }
            ReadKind::Bytes { checked } => {
                let ColumnData::Binary(Some(b)) = first else { return Err(err(unexpected(&c.ty, first))) };
                if checked {
                    let n = variant_int(&cells[r.first + 1]);
                    if n != Some(b.len() as i64) {
                        return Err(err(format!(
                            "{} bytes received but DATALENGTH is {n:?}: the value was cut short",
                            b.len()
                        )));
                    }
                }
                match &c.ty {
                    SqlType::Unknown { .. } => Value::Binary(b.to_vec()),
                    ty => value::decode(ty, b, st).map_err(decode_err)?,
                }
            }
            ReadKind::Xml => {
                let ColumnData::Binary(Some(b)) = first else { return Err(err(unexpected(&c.ty, first))) };
                let text = SqlType::NVarChar { len: None, collation: xml_collation() };
                match value::decode(&text, b, st).map_err(decode_err)? {
                    Value::String(s) => Value::Xml(s),
                    other => return Err(err(format!("xml text decoded as {other:?}"))),
                }
            }
            ReadKind::Variant => match variant_storage(&cells[r.first..r.first + r.width]).map_err(err)? {
                None => Value::Null,
                Some(bytes) => value::decode(&SqlType::SqlVariant, &bytes, st).map_err(decode_err)?,
            },
        };
        out.push(v);
    }
    Ok(())
}

/// UTF-16 text needs no code page; the decoder only wants some collation.
fn xml_collation() -> mssql_backup::Collation {
    mssql_backup::Collation { id: 0, name: None, code_page: 0 }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use mssql_backup::value::{DAYS_0001_TO_1900, guid_string, ymd_to_days};
    use tiberius::numeric::Numeric;
    use tiberius::time::{Date, DateTime, DateTime2, DateTimeOffset, SmallDateTime, Time};

    use super::*;

    fn latin1() -> mssql_backup::Collation {
        mssql_backup::Collation::from_id(0x3400D008).unwrap()
    }

    fn dec(ty: &SqlType, cd: ColumnData<'static>) -> Value {
        let mut b = Vec::new();
        typed_storage(ty, &cd, &mut b).unwrap();
        value::decode(ty, &b, &mut DecodeStats::default()).unwrap()
    }

    #[test]
    fn datetime_keeps_exact_ticks() {
        // 9999-12-31 23:59:59.997 is tick 25919999 of day 2958463; 1753-01-01 is day -53690.
        let v = dec(&SqlType::DateTime, ColumnData::DateTime(Some(DateTime::new(2_958_463, 25_919_999))));
        assert_eq!(v, Value::DateTime { days: 2_958_463, ticks: 25_919_999 });
        let v = dec(&SqlType::DateTime, ColumnData::DateTime(Some(DateTime::new(-53_690, 1))));
        assert_eq!(v, Value::DateTime { days: -53_690, ticks: 1 });
        // Every tick of a second survives (an f64-milliseconds route would merge none but
        // would round 1/300 s: 1 tick is 3.333… ms).
        for t in 0..300 {
            let v = dec(&SqlType::DateTime, ColumnData::DateTime(Some(DateTime::new(35_000, 3_000_000 + t))));
            assert_eq!(v, Value::DateTime { days: 35_000, ticks: 3_000_000 + t });
        }
        // Northwind OrderDate 1996-07-04: the same Value the native reader gives.
        let days = ymd_to_days(1996, 7, 4).unwrap() - DAYS_0001_TO_1900;
        let v = dec(&SqlType::DateTime, ColumnData::DateTime(Some(DateTime::new(days, 0))));
        let native = value::decode(&SqlType::DateTime, &[0, 0, 0, 0, 0xB0, 0x89, 0, 0], &mut DecodeStats::default());
        assert_eq!(v, native.unwrap());
        // A tick count no datetime has is refused by the shared decoder.
        let mut b = Vec::new();
        typed_storage(&SqlType::DateTime, &ColumnData::DateTime(Some(DateTime::new(0, 25_920_000))), &mut b).unwrap();
        assert!(value::decode(&SqlType::DateTime, &b, &mut DecodeStats::default()).is_err());
    }

    #[test]
    fn smalldatetime_date_time_datetime2_datetimeoffset() {
        let v = dec(&SqlType::SmallDateTime, ColumnData::SmallDateTime(Some(SmallDateTime::new(65_535, 1_439))));
        assert_eq!(v, Value::SmallDateTime { days: 65_535, minutes: 1_439 });
        let v = dec(&SqlType::Date, ColumnData::Date(Some(Date::new(3_652_058))));
        assert_eq!(v, Value::Date { days: 3_652_058 });
        // time(7) 18:25:29.5833333 (the hotel fixture).
        let ticks = (18 * 3600 + 25 * 60 + 29) * 10_000_000 + 5_833_333u64;
        let v = dec(&SqlType::Time { scale: 7 }, ColumnData::Time(Some(Time::new(ticks, 7))));
        assert_eq!(v, Value::Time { ticks, scale: 7 });
        for scale in 0..=7u8 {
            let max = 86_400 * 10u64.pow(u32::from(scale)) - 1;
            let v = dec(&SqlType::Time { scale }, ColumnData::Time(Some(Time::new(max, scale))));
            assert_eq!(v, Value::Time { ticks: max, scale });
            let dt2 = DateTime2::new(Date::new(0), Time::new(max, scale));
            let v = dec(&SqlType::DateTime2 { scale }, ColumnData::DateTime2(Some(dt2)));
            assert_eq!(v, Value::DateTime2 { days: 0, ticks: max, scale });
        }
        // A scale other than the declared one is an error, not a silent rescale.
        let mut b = Vec::new();
        let e = typed_storage(&SqlType::Time { scale: 3 }, &ColumnData::Time(Some(Time::new(1, 7))), &mut b);
        assert!(e.unwrap_err().contains("scale 7"));
        // datetimeoffset docs example 2007-05-08 12:35:29.1234567 -08:00: UTC 20:35:29.
        let days = ymd_to_days(2007, 5, 8).unwrap() as u32;
        let ticks = (20 * 3600 + 35 * 60 + 29) * 10_000_000 + 1_234_567u64;
        let dto = DateTimeOffset::new(DateTime2::new(Date::new(days), Time::new(ticks, 7)), -480);
        let v = dec(&SqlType::DateTimeOffset { scale: 7 }, ColumnData::DateTimeOffset(Some(dto)));
        assert_eq!(v, Value::DateTimeOffset { days: days as i32, ticks, scale: 7, offset_minutes: -480 });
    }

    #[test]
    fn guid_byte_order_is_sql_servers() {
        // Microsoft's uniqueidentifier docs example; tiberius' Uuid prints as SQL Server
        // does, the Value keeps the storage order that guid_string prints back.
        let u = tiberius::Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        let v = dec(&SqlType::UniqueIdentifier, ColumnData::Guid(Some(u)));
        let Value::Guid(b) = v else { panic!() };
        assert_eq!(b, [0xFF, 0x19, 0x96, 0x6F, 0x86, 0x8B, 0x11, 0xD0, 0xB4, 0x2D, 0x00, 0xC0, 0x4F, 0xC9, 0x64, 0xFF]);
        assert_eq!(guid_string(&b), "6f9619ff-8b86-d011-b42d-00c04fc964ff");
        assert_eq!(guid_storage(&guid_storage(u.as_bytes())), *u.as_bytes());
    }

    #[test]
    fn decimals_and_money_are_exact() {
        let ty = SqlType::Decimal { precision: 38, scale: 10, numeric: false };
        let big = 99_999_999_999_999_999_999_999_999_999_999_999_999i128;
        for m in [big, -big, 0, 1, -1, 12_345_678_901_234_567_890_123] {
            let v = dec(&ty, ColumnData::Numeric(Some(Numeric::new_with_scale(m, 10))));
            assert_eq!(v, Value::Decimal { mantissa: m, scale: 10 });
        }
        let ty5 = SqlType::Decimal { precision: 5, scale: 2, numeric: true };
        assert_eq!(
            dec(&ty5, ColumnData::Numeric(Some(Numeric::new_with_scale(-12_345, 2)))),
            Value::Decimal { mantissa: -12_345, scale: 2 }
        );
        let mut b = Vec::new();
        assert!(typed_storage(&ty5, &ColumnData::Numeric(Some(Numeric::new_with_scale(1, 3))), &mut b).is_err());
        // money extremes: ±922337203685477.5807/5808, past f64's 2^53.
        for m in [i64::MAX, i64::MIN, 9_007_199_254_740_993, 20_000_000_000] {
            let mut b = Vec::new();
            money_storage(&SqlType::Money, &ColumnData::Numeric(Some(Numeric::new_with_scale(m.into(), 4))), &mut b)
                .unwrap();
            assert_eq!(value::decode(&SqlType::Money, &b, &mut DecodeStats::default()).unwrap(), Value::Money(m));
        }
        let mut b = Vec::new();
        money_storage(
            &SqlType::SmallMoney,
            &ColumnData::Numeric(Some(Numeric::new_with_scale(-2_147_483_648, 4))),
            &mut b,
        )
        .unwrap();
        assert_eq!(
            value::decode(&SqlType::SmallMoney, &b, &mut DecodeStats::default()).unwrap(),
            Value::Money(-2_147_483_648)
        );
        let too_big = ColumnData::Numeric(Some(Numeric::new_with_scale(i128::from(i64::MAX) + 1, 4)));
        assert!(money_storage(&SqlType::Money, &too_big, &mut Vec::new()).is_err());
        let wrong_scale = ColumnData::Numeric(Some(Numeric::new_with_scale(1, 2)));
        assert!(money_storage(&SqlType::Money, &wrong_scale, &mut Vec::new()).is_err());
    }

    #[test]
    fn integers_floats_bits() {
        assert_eq!(dec(&SqlType::TinyInt, ColumnData::U8(Some(255))), Value::TinyInt(255));
        assert_eq!(dec(&SqlType::SmallInt, ColumnData::I16(Some(i16::MIN))), Value::SmallInt(i16::MIN));
        assert_eq!(dec(&SqlType::Int, ColumnData::I32(Some(-7))), Value::Int(-7));
        assert_eq!(dec(&SqlType::BigInt, ColumnData::I64(Some(i64::MAX))), Value::BigInt(i64::MAX));
        assert_eq!(dec(&SqlType::Real, ColumnData::F32(Some(0.1))), Value::Real(0.1));
        assert_eq!(dec(&SqlType::Float, ColumnData::F64(Some(-1e308))), Value::Float(-1e308));
        assert_eq!(dec(&SqlType::Bit, ColumnData::Bit(Some(true))), Value::Bit(true));
        let mut b = Vec::new();
        let e = typed_storage(&SqlType::Int, &ColumnData::I64(Some(1)), &mut b).unwrap_err();
        assert_eq!(e, "SQL Server sent a bigint value for a int column");
    }

    fn col(name: &str, ty: SqlType) -> Column {
        Column::plain(name, ty)
    }

    fn table(columns: Vec<Column>) -> Table {
        Table::heap(1, "dbo", "Order Details", columns)
    }

    #[test]
    fn select_names_every_column_bracketed() {
        let mut computed = col("Total", SqlType::Money);
        computed.computed = Some(mssql_backup::schema::Computed { definition: "([a]*(2))".into(), persisted: false });
        let t = table(vec![
            col("Order]ID", SqlType::Int),
            col("Price", SqlType::Money),
            col("Code", SqlType::Char { len: 5, collation: latin1() }),
            col("Name", SqlType::NVarChar { len: Some(40), collation: latin1() }),
            col("Notes", SqlType::NText { collation: latin1() }),
            col("Doc", SqlType::Xml),
            computed,
            col("Tag", SqlType::HierarchyId),
            col("V", SqlType::SqlVariant),
            col("Blob", SqlType::VarBinary { len: None }),
        ]);
        let r = plan_table(&t, |c| c.computed.as_ref().is_none_or(|c| c.persisted)).unwrap();
        let lines: Vec<&str> = r.sql.lines().collect();
        assert_eq!(lines[0], "SELECT [Order]]ID],");
        assert_eq!(lines[1].trim(), "CAST([Price] AS decimal(19,4)),");
        assert_eq!(lines[2].trim(), "CAST([Code] AS varbinary(5)),");
        assert_eq!(lines[3].trim(), "CAST([Name] AS varbinary(80)),");
        assert_eq!(lines[4].trim(), "CAST(CAST([Notes] AS nvarchar(max)) AS varbinary(max)),");
        assert_eq!(lines[5].trim(), "DATALENGTH([Notes]),");
        assert_eq!(lines[6].trim(), "CAST(CAST([Doc] AS nvarchar(max)) AS varbinary(max)),");
        assert_eq!(lines[7].trim(), "CAST([Tag] AS varbinary(max)),");
        assert_eq!(lines[8].trim(), "CAST(SQL_VARIANT_PROPERTY([V], 'BaseType') AS nvarchar(128)),");
        assert_eq!(
            lines[8 + 5].trim(),
            "CASE WHEN CAST(SQL_VARIANT_PROPERTY([V], 'BaseType') AS nvarchar(128)) IN (N'tinyint', N'smallint', \
             N'int', N'bigint', N'bit') THEN CAST([V] AS bigint) END,"
        );
        assert_eq!(lines[8 + 17].trim(), "[Blob],");
        assert_eq!(lines[8 + 18].trim(), "DATALENGTH([Blob])");
        assert_eq!(*lines.last().unwrap(), "FROM [dbo].[Order Details]");
        assert_eq!(r.width, 8 + 17 + 2);
        let kinds: Vec<(ReadKind, usize, usize)> = r.columns.iter().map(|c| (c.kind, c.first, c.width)).collect();
        assert_eq!(
            kinds,
            [
                (ReadKind::Typed, 0, 1),
                (ReadKind::Money, 1, 1),
                (ReadKind::Bytes { checked: false }, 2, 1),
                (ReadKind::Bytes { checked: false }, 3, 1),
                (ReadKind::Bytes { checked: true }, 4, 2),
                (ReadKind::Xml, 6, 1),
                (ReadKind::NotStored, 7, 0),
                (ReadKind::Bytes { checked: false }, 7, 1),
                (ReadKind::Variant, 8, 17),
                (ReadKind::Bytes { checked: true }, 25, 2),
            ]
        );
        // Only computed columns: a placeholder keeps the row count.
        let mut only = col("c", SqlType::Int);
        only.computed = Some(mssql_backup::schema::Computed { definition: "(1)".into(), persisted: false });
        let r = plan_table(&table(vec![only]), |_| false).unwrap();
        assert!(r.sql.starts_with("SELECT CAST(NULL AS int) AS [bak2pg_no_stored_column]\nFROM"));
        assert_eq!(r.width, 0);
    }

    #[test]
    fn every_fixture_table_gets_a_select() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bak");
        let mut tables = 0;
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let Ok(backup) = mssql_backup::Backup::open(&[path.as_path()]) else { continue };
            let Ok(db) = backup.database() else { continue };
            for t in &db.tables {
                let stored = |c: &Column| c.computed.as_ref().is_none_or(|k| k.persisted);
                let r = plan_table(t, stored).unwrap();
                assert_eq!(r.columns.len(), t.columns.len());
                let from = format!("\nFROM [{}].[{}]", t.schema.replace(']', "]]"), t.name.replace(']', "]]"));
                assert!(r.sql.ends_with(&from), "{}", r.sql);
                let mut next = 0;
                for (c, cr) in t.columns.iter().zip(&r.columns) {
                    if cr.kind == ReadKind::NotStored {
                        assert!(!stored(c));
                        continue;
                    }
                    // Result columns follow each other, each table column's first item names it.
                    assert_eq!(cr.first, next, "{}.{}", t.name, c.name);
                    next += cr.width;
                    let quoted = format!("[{}]", c.name.replace(']', "]]"));
                    assert!(r.sql.contains(&quoted), "{quoted} in {}", r.sql);
                }
                assert_eq!(next, r.width);
                tables += 1;
            }
        }
        assert!(tables > 50, "{tables} tables");
    }

    fn bin(b: &[u8]) -> ColumnData<'static> {
        ColumnData::Binary(Some(Cow::Owned(b.to_vec())))
    }

    #[test]
    fn rows_decode_like_the_native_reader() {
        let cp1252 = latin1();
        let t = table(vec![
            col("Code", SqlType::Char { len: 6, collation: cp1252.clone() }),
            col("Name", SqlType::NVarChar { len: None, collation: cp1252.clone() }),
            col("Note", SqlType::VarChar { len: Some(10), collation: cp1252.clone() }),
            col("Price", SqlType::Money),
            col("Doc", SqlType::Xml),
            col("Blob", SqlType::Image),
            col("J", SqlType::Unknown { type_id: 244, name: "json".into(), max_length: -1 }),
        ]);
        let r = plan_table(&t, |_| true).unwrap();
        let mut name = Vec::new();
        for u in [0x4E, 0xD800, 0x41] {
            name.extend_from_slice(&u16::to_le_bytes(u));
        }
        let mut doc = Vec::new();
        for u in "<a/>".encode_utf16() {
            doc.extend_from_slice(&u.to_le_bytes());
        }
        let cells = vec![
            bin(b"Gasp\xe9 "),
            bin(&name),
            ColumnData::I64(Some(6)),
            ColumnData::Binary(None),
            ColumnData::Numeric(Some(Numeric::new_with_scale(20_000_000_000, 4))),
            bin(&doc),
            bin(&[1, 2, 3]),
            ColumnData::I32(Some(3)),
            bin(b"{}"),
        ];
        let mut out = Vec::new();
        let mut stats = vec![DecodeStats::default(); t.columns.len()];
        decode_row(&t, &r, &cells, &mut out, &mut stats, &mut Vec::new()).unwrap();
        assert_eq!(
            out,
            [
                Value::String("Gaspé ".into()),
                Value::String("N\u{FFFD}A".into()),
                Value::Null,
                Value::Money(20_000_000_000),
                Value::Xml("<a/>".into()),
                Value::Binary(vec![1, 2, 3]),
                Value::Binary(b"{}".to_vec()),
            ]
        );
        assert_eq!(stats[1].replaced_utf16, 1);
        // A LOB shorter than DATALENGTH says so.
        let mut cut = cells.clone();
        cut[2] = ColumnData::I64(Some(4000));
        let e = decode_row(&t, &r, &cut, &mut out, &mut stats, &mut Vec::new()).unwrap_err();
        assert_eq!(e.column, "Name");
        assert!(e.message.contains("cut short"), "{e}");
        // A char(6) value of 5 bytes is refused by the shared decoder.
        let mut short = cells;
        short[0] = bin(b"Gaspe");
        let e = decode_row(&t, &r, &short, &mut out, &mut stats, &mut Vec::new()).unwrap_err();
        assert_eq!(e.column, "Code");
        // Its refusal is kept as the source, not only as text.
        let source = std::error::Error::source(&e).expect("the decoder's error");
        assert_eq!(Some(source.to_string()), e.cause.as_ref().map(|s| s.to_string()));
        assert!(source.downcast_ref::<mssql_backup::Error>().is_some());
    }

    /// The 17 cells of a variant: base type, precision, scale, max length, collation id,
    /// then the one value cell at `slot` (5..=16).
    fn variant(
        base: &str,
        p: i32,
        s: i32,
        max: i32,
        coll: Option<i32>,
        slot: usize,
        v: ColumnData<'static>,
    ) -> Vec<ColumnData<'static>> {
        let mut cells = vec![
            ColumnData::String(Some(Cow::Owned(base.into()))),
            ColumnData::I32(Some(p)),
            ColumnData::I32(Some(s)),
            ColumnData::I32(Some(max)),
            ColumnData::I32(coll),
        ];
        for i in 5..VARIANT_WIDTH {
            cells.push(if i == slot { v.clone() } else { ColumnData::I32(None) });
        }
        cells
    }

    fn variant_value(cells: &[ColumnData<'static>]) -> Value {
        let b = variant_storage(cells).unwrap().unwrap();
        value::decode(&SqlType::SqlVariant, &b, &mut DecodeStats::default()).unwrap()
    }

    fn inner(ty: SqlType, v: Value) -> Value {
        Value::Variant(Box::new((ty, v)))
    }

    #[test]
    fn variants_rebuild_the_stored_layout() {
        // The internals-book example: VALUES (1) is stored 38 01 01 00 00 00.
        let cells = variant("int", 10, 0, 4, None, 5, ColumnData::I64(Some(1)));
        assert_eq!(variant_storage(&cells).unwrap().unwrap(), [0x38, 1, 1, 0, 0, 0]);
        assert_eq!(
            variant_value(&variant("bit", 1, 0, 1, None, 5, ColumnData::I64(Some(1)))),
            inner(SqlType::Bit, Value::Bit(true))
        );
        assert_eq!(
            variant_value(&variant("tinyint", 3, 0, 1, None, 5, ColumnData::I64(Some(200)))),
            inner(SqlType::TinyInt, Value::TinyInt(200))
        );
        assert!(variant_storage(&variant("tinyint", 3, 0, 1, None, 5, ColumnData::I64(Some(256)))).is_err());
        assert_eq!(
            variant_value(&variant("real", 24, 0, 4, None, 6, ColumnData::F64(Some(f64::from(0.1f32))))),
            inner(SqlType::Real, Value::Real(0.1))
        );
        assert!(variant_storage(&variant("real", 24, 0, 4, None, 6, ColumnData::F64(Some(0.1)))).is_err());
        assert_eq!(
            variant_value(&variant(
                "money",
                19,
                4,
                8,
                None,
                7,
                ColumnData::Numeric(Some(Numeric::new_with_scale(-5, 4)))
            )),
            inner(SqlType::Money, Value::Money(-5))
        );
        assert_eq!(
            variant_value(&variant("numeric", 10, 3, 9, None, 8, ColumnData::String(Some(Cow::Borrowed("-12.340"))))),
            inner(
                SqlType::Decimal { precision: 10, scale: 3, numeric: true },
                Value::Decimal { mantissa: -12_340, scale: 3 }
            )
        );
        // The fixtures' system-table variant: nvarchar(260) under SQL_Latin1_General_CP1_CI_AS.
        let cells = variant("nvarchar", 0, 0, 520, Some(0x3400D008), 9, bin(&[0x41, 0]));
        assert_eq!(variant_storage(&cells).unwrap().unwrap(), [0xE7, 1, 0x08, 0x02, 0x08, 0xD0, 0x00, 0x34, 0x41, 0]);
        assert_eq!(
            variant_value(&cells),
            inner(SqlType::NVarChar { len: Some(260), collation: latin1() }, Value::String("A".into()))
        );
        // char(3) keeps its padding; a collation id above i32::MAX arrives negative.
        let sort_id_255 = 0xFF00_D008u32 as i32;
        let cells = variant("char", 0, 0, 3, Some(sort_id_255), 9, bin(b"a  "));
        assert_eq!(&variant_storage(&cells).unwrap().unwrap()[4..8], &0xFF00_D008u32.to_le_bytes());
        let cells = variant("varchar", 0, 0, 10, Some(0x3400D008), 9, bin(b"caf\xe9"));
        assert_eq!(
            variant_value(&cells),
            inner(SqlType::VarChar { len: Some(10), collation: latin1() }, Value::String("café".into()))
        );
        // Dates and times, selected at scale 7, go back to their own scale exactly.
        let t = Time::new(123_450_000, 7);
        assert_eq!(
            variant_value(&variant("time", 12, 3, 5, None, 12, ColumnData::Time(Some(t)))),
            inner(SqlType::Time { scale: 3 }, Value::Time { ticks: 12_345, scale: 3 })
        );
        assert!(
            variant_storage(&variant("time", 12, 3, 5, None, 12, ColumnData::Time(Some(Time::new(1, 7))))).is_err()
        );
        let dto = DateTimeOffset::new(DateTime2::new(Date::new(700_000), Time::new(10_000_000, 7)), 330);
        assert_eq!(
            variant_value(&variant("datetimeoffset", 26, 0, 8, None, 14, ColumnData::DateTimeOffset(Some(dto)))),
            inner(
                SqlType::DateTimeOffset { scale: 0 },
                Value::DateTimeOffset { days: 700_000, ticks: 1, scale: 0, offset_minutes: 330 }
            )
        );
        assert_eq!(
            variant_value(&variant("datetime", 23, 3, 8, None, 15, ColumnData::DateTime(Some(DateTime::new(-1, 299))))),
            inner(SqlType::DateTime, Value::DateTime { days: -1, ticks: 299 })
        );
        let u = tiberius::Uuid::parse_str("6F9619FF-8B86-D011-B42D-00C04FC964FF").unwrap();
        let Value::Variant(b) =
            variant_value(&variant("uniqueidentifier", 0, 0, 16, None, 10, ColumnData::Guid(Some(u))))
        else {
            panic!()
        };
        assert_eq!(b.0, SqlType::UniqueIdentifier);
        // NULL, an impossible base type, a missing value.
        let mut null = variant("int", 0, 0, 0, None, 5, ColumnData::I64(None));
        null[0] = ColumnData::String(None);
        assert_eq!(variant_storage(&null).unwrap(), None);
        assert!(variant_storage(&variant("xml", 0, 0, 0, None, 9, bin(b"x"))).is_err());
        assert!(variant_storage(&variant("int", 10, 0, 4, None, 6, ColumnData::F64(Some(1.0)))).is_err());
    }

    #[test]
    fn decimal_texts() {
        assert_eq!(parse_decimal_text("-12.3400", 4), Ok(-123_400));
        assert_eq!(parse_decimal_text("0.50", 2), Ok(50));
        assert_eq!(parse_decimal_text(".5", 2), Ok(50));
        assert_eq!(parse_decimal_text("-.05", 2), Ok(-5));
        assert_eq!(parse_decimal_text("7", 0), Ok(7));
        assert_eq!(parse_decimal_text("7", 3), Ok(7_000));
        assert_eq!(
            parse_decimal_text("99999999999999999999999999999999999999", 0),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        assert_eq!(
            parse_decimal_text(&format!("0.{}", "9".repeat(38)), 38),
            Ok(99_999_999_999_999_999_999_999_999_999_999_999_999)
        );
        for bad in ["", "-", ".", "1e5", "1.234", "+1", "1,5", "--1", "1.2.3"] {
            assert!(parse_decimal_text(bad, 2).is_err(), "{bad}");
        }
        assert!(parse_decimal_text(&"9".repeat(39), 0).is_err());
    }
}
