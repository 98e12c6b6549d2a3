//! The one SQL Server → PostgreSQL type mapping, and the conversion of each source
//! [`Value`] into the value PostgreSQL will hold ([`PgValue`]).
//!
//! [`MAPPING`] is the table in code; [`markdown_table`] prints it (the README shows it).
//! [`map_type`] applies it to a column type and [`convert`] to a value.
//!
//! # Conversions that PostgreSQL cannot hold exactly
//! Each is decided here, documented, and counted per table and column
//! ([`ColumnConversions`]) into the report; none is silent.
//!
//! | kind | policy |
//! | --- | --- |
//! | NUL (U+0000) in `char`/`varchar`/`text`/`n…` values | PostgreSQL text cannot hold U+0000. The NUL characters are removed, the count is reported, and the original value (UTF-8 bytes with the NULs) is kept in `bak2pg.rejected_values` (`reason = 'nul_removed'`). |
//! | 7th fractional digit of `datetime2(7)`, `time(7)`, `datetimeoffset(7)` | PostgreSQL keeps microseconds. Rounded half up to the microsecond (as SQL Server's own `CAST` to scale 6 does); a carry moves into the next second, minute, day and year. For `time(7)` a carry out of `23:59:59.9999995` gives `24:00:00`, a value PostgreSQL's `time` holds, rather than wrapping to `00:00:00` (which would reorder values). Counted when the digit was not 0. |
//! | `datetime` 1/300 s ticks | Rounded to the nearest millisecond (`ticks × 10 / 3`; never a tie), which is exactly what SQL Server displays (`.000`, `.003`, `.007`). Counted when the tick was not a whole millisecond. Never carries (the last tick of a day is `23:59:59.997`). |
//! | `datetimeoffset` offset | `timestamptz` stores the instant (UTC), not the offset. The instant is exact; a non-zero offset is counted as dropped. |
//! | `xml` PostgreSQL would reject | Checked as XML *content* (XML 1.0 characters, well-formed with `roxmltree` inside a wrapper element, no XML declaration or DTD, which PostgreSQL's binary input treats specially). A value that fails is loaded as NULL, counted, and its original text kept in `bak2pg.rejected_values` (`reason = 'xml_rejected'`) with the row's key. The check is conservative (a test asserts it never accepts what PostgreSQL's `xml_is_well_formed_content` rejects, over tricky samples); when in doubt the value goes to the side table, which loses nothing. A value PostgreSQL still refused would fail that table's COPY with SQLSTATE 2200N, naming the table. |
//! | `sql_variant` | Loaded as `text`: the base value converted by this table for its own base type, then written in the canonical text form of [`crate::checksum`] (integers in decimal, `numeric` with its scale, dates `YYYY-MM-DD HH:MM:SS[.ffffff]`, `uniqueidentifier` lower-case, binary as `\x` + hex, bit as `true`/`false`). The base type name is lost; each non-NULL value is counted. |
//! | lone UTF-16 surrogates | Replaced by U+FFFD by the reader; counted from its `DecodeStats` (see [`crate::source::RowReader::decode_stats`]). |
//! | `geometry`, `geography` | With PostGIS ([`crate::spatial::PostgisMode::Auto`] and the extension available in the target): PostGIS values of the same name, converted by [`crate::spatial::to_ewkb`] (exact: the same coordinates, Z, M and SRID); a value it cannot convert (circular arcs, FULLGLOBE, …) fails its table by name, with the hint to load raw bytes with `--postgis off`. Without: raw bytes in `bytea`. Either way the column is listed in the report. |
//! | `hierarchyid`, CLR types | Raw bytes in `bytea` (exact, but no longer typed); the column is listed in the report. |
//! | unknown types | Refused before anything is written, unless `load_unknown_as_bytea` is set: then raw bytes in `bytea`, listed in the report. |

use std::borrow::Cow;

use mssql_backup::{SqlType, Value};
use serde::{Deserialize, Serialize};

pub use crate::pgvalue::{DAYS_0001_TO_2000, DAYS_1900_TO_2000, PgType, PgValue, USECS_PER_DAY};

/// One row of the mapping table, for printing.
#[derive(Debug, Clone, Copy)]
pub struct MappingRow {
    /// SQL Server type(s).
    pub sql_server: &'static str,
    /// PostgreSQL type.
    pub postgres: &'static str,
    /// What happens to values.
    pub notes: &'static str,
}

/// The mapping table, as [`map_type`] implements it (a unit test keeps them in step).
pub const MAPPING: &[MappingRow] = &[
    MappingRow { sql_server: "bit", postgres: "boolean", notes: "exact" },
    MappingRow { sql_server: "tinyint", postgres: "smallint", notes: "exact (0..255)" },
    MappingRow { sql_server: "smallint", postgres: "smallint", notes: "exact" },
    MappingRow { sql_server: "int", postgres: "integer", notes: "exact" },
    MappingRow { sql_server: "bigint", postgres: "bigint", notes: "exact" },
    MappingRow { sql_server: "real", postgres: "real", notes: "exact" },
    MappingRow { sql_server: "float", postgres: "double precision", notes: "exact" },
    MappingRow { sql_server: "decimal(p,s), numeric(p,s)", postgres: "numeric(p,s)", notes: "exact" },
    MappingRow { sql_server: "money", postgres: "numeric(19,4)", notes: "exact" },
    MappingRow { sql_server: "smallmoney", postgres: "numeric(10,4)", notes: "exact" },
    MappingRow {
        sql_server: "char(n), nchar(n)",
        postgres: "char(n)",
        notes: "NUL removed and counted; trailing blanks are not significant (as in SQL Server)",
    },
    MappingRow { sql_server: "varchar(n), nvarchar(n)", postgres: "varchar(n)", notes: "NUL removed and counted" },
    MappingRow {
        sql_server: "varchar(max), nvarchar(max), text, ntext",
        postgres: "text",
        notes: "NUL removed and counted",
    },
    MappingRow {
        sql_server: "binary(n), varbinary(n), varbinary(max), image, rowversion",
        postgres: "bytea",
        notes: "exact",
    },
    MappingRow {
        sql_server: "uniqueidentifier",
        postgres: "uuid",
        notes: "exact (SQL Server's mixed-endian bytes reordered)",
    },
    MappingRow { sql_server: "date", postgres: "date", notes: "exact" },
    MappingRow {
        sql_server: "time(n)",
        postgres: "time(min(n,6))",
        notes: "7th digit rounded half up and counted; may give 24:00:00",
    },
    MappingRow {
        sql_server: "datetime",
        postgres: "timestamp(3)",
        notes: "1/300 s ticks rounded to the millisecond SQL Server displays; counted",
    },
    MappingRow { sql_server: "smalldatetime", postgres: "timestamp(0)", notes: "exact" },
    MappingRow {
        sql_server: "datetime2(n)",
        postgres: "timestamp(min(n,6))",
        notes: "7th digit rounded half up (carry into the next second/day) and counted",
    },
    MappingRow {
        sql_server: "datetimeoffset(n)",
        postgres: "timestamptz(min(n,6))",
        notes: "instant kept; 7th digit rounded and counted; non-zero offsets counted as dropped",
    },
    MappingRow {
        sql_server: "xml",
        postgres: "xml",
        notes: "content PostgreSQL would reject: NULL, original kept in bak2pg.rejected_values, counted",
    },
    MappingRow {
        sql_server: "sql_variant",
        postgres: "text",
        notes: "base value in its canonical text form (see checksum docs); base type lost, counted",
    },
    MappingRow {
        sql_server: "geometry, geography",
        postgres: "geometry, geography (PostGIS); else bytea",
        notes: "with PostGIS in the target (`--postgis auto`): EWKB with the value's SRID, curves and FULLGLOBE refused by name; else raw bytes; column listed in the report",
    },
    MappingRow {
        sql_server: "hierarchyid, CLR types",
        postgres: "bytea",
        notes: "raw bytes; column listed in the report",
    },
    MappingRow {
        sql_server: "unknown types",
        postgres: "(refused)",
        notes: "refused and reported; with load_unknown_as_bytea: raw bytes in bytea, reported",
    },
];

/// Renders [`MAPPING`] as a Markdown table (header row, separator, one line per row).
pub fn markdown_table() -> String {
    let mut s = String::from("| SQL Server | PostgreSQL | Values |\n| --- | --- | --- |\n");
    for r in MAPPING {
        s.push_str(&format!("| {} | {} | {} |\n", r.sql_server, r.postgres, r.notes));
    }
    s
}

/// How a column was mapped, beyond its type, when the report must mention it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MappingNote {
    /// A CLR type (`hierarchyid`, `geometry`, `geography`, user CLR) kept as raw bytes.
    RawClrBytes,
    /// `geometry`/`geography` loaded as the PostGIS type of the same name.
    Postgis,
    /// A type this tool does not know, kept as raw bytes because the option says so.
    RawUnknownBytes,
    /// `sql_variant` loaded as text.
    VariantAsText,
}

/// A type that cannot be mapped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQL Server type {sql_type} has no PostgreSQL mapping (set load_unknown_as_bytea to load its raw bytes)")]
pub struct Unmappable {
    /// The T-SQL type name.
    pub sql_type: String,
}

/// Maps a SQL Server column type to its PostgreSQL type, with a note when the report
/// must list the column.
///
/// # Errors
/// [`Unmappable`] for [`SqlType::Unknown`] unless `unknown_as_bytea`.
pub fn map_type(ty: &SqlType, unknown_as_bytea: bool) -> Result<(PgType, Option<MappingNote>), Unmappable> {
    map_type_with(ty, unknown_as_bytea, false)
}

/// [`map_type`], with `geometry`/`geography` mapped to the PostGIS types when `postgis`
/// (the caller knows the target has the extension).
///
/// # Errors
/// [`Unmappable`] for [`SqlType::Unknown`] unless `unknown_as_bytea`.
pub fn map_type_with(
    ty: &SqlType,
    unknown_as_bytea: bool,
    postgis: bool,
) -> Result<(PgType, Option<MappingNote>), Unmappable> {
    let frac = |s: &u8| (*s).min(6);
    let t = match ty {
        SqlType::Bit => PgType::Boolean,
        SqlType::TinyInt | SqlType::SmallInt => PgType::SmallInt,
        SqlType::Int => PgType::Integer,
        SqlType::BigInt => PgType::BigInt,
        SqlType::Real => PgType::Real,
        SqlType::Float => PgType::Double,
        SqlType::Decimal { precision, scale, .. } => PgType::Numeric { precision: *precision, scale: *scale },
        SqlType::Money => PgType::Numeric { precision: 19, scale: 4 },
        SqlType::SmallMoney => PgType::Numeric { precision: 10, scale: 4 },
        SqlType::Char { len, .. } | SqlType::NChar { len, .. } => PgType::Char { len: (*len).max(1) as u32 },
        SqlType::VarChar { len: Some(n), .. } | SqlType::NVarChar { len: Some(n), .. } => {
            PgType::VarChar { len: (*n).max(1) as u32 }
        }
        SqlType::VarChar { len: None, .. }
        | SqlType::NVarChar { len: None, .. }
        | SqlType::Text { .. }
        | SqlType::NText { .. } => PgType::Text,
        SqlType::Binary { .. } | SqlType::VarBinary { .. } | SqlType::Image | SqlType::RowVersion => PgType::Bytea,
        SqlType::UniqueIdentifier => PgType::Uuid,
        SqlType::Date => PgType::Date,
        SqlType::Time { scale } => PgType::Time { precision: frac(scale) },
        SqlType::SmallDateTime => PgType::Timestamp { precision: 0 },
        SqlType::DateTime => PgType::Timestamp { precision: 3 },
        SqlType::DateTime2 { scale } => PgType::Timestamp { precision: frac(scale) },
        SqlType::DateTimeOffset { scale } => PgType::TimestampTz { precision: frac(scale) },
        SqlType::Xml => PgType::Xml,
        SqlType::SqlVariant => return Ok((PgType::Text, Some(MappingNote::VariantAsText))),
        SqlType::Geography if postgis => return Ok((PgType::Geography, Some(MappingNote::Postgis))),
        SqlType::Geometry if postgis => return Ok((PgType::Geometry, Some(MappingNote::Postgis))),
        SqlType::HierarchyId | SqlType::Geometry | SqlType::Geography | SqlType::Clr { .. } => {
            return Ok((PgType::Bytea, Some(MappingNote::RawClrBytes)));
        }
        // `SqlType::Unknown`, and any type mssql-backup names in a later version.
        _ => {
            if unknown_as_bytea {
                return Ok((PgType::Bytea, Some(MappingNote::RawUnknownBytes)));
            }
            return Err(Unmappable { sql_type: ty.sql_name() });
        }
    };
    Ok((t, None))
}

/// Parses a PostgreSQL type name, as a mapping file's `[types]` values give it, into one
/// of the types bak2pg creates (and its COPY encoder and checksum know): `boolean`,
/// `smallint`, `integer`, `bigint`, `real`, `double precision`, `numeric(p,s)`, `text`,
/// `varchar(n)`, `char(n)`, `bytea`, `uuid`, `xml`, `date`, `time[(p)]`,
/// `timestamp[(p)]`, `timestamptz[(p)]`, and PostgreSQL's aliases of these (`int4`,
/// `float8`, `character varying(n)`, `timestamp with time zone`…). Case and blanks
/// around parentheses and commas are ignored.
///
/// # Errors
/// A text naming why: another type, or a form without the bounds the canonical
/// comparison needs (`numeric` without precision, `varchar` without length).
pub fn parse_pg_type(s: &str) -> Result<PgType, String> {
    let norm: String = s.trim().to_ascii_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
    let norm = norm.replace(" (", "(").replace("( ", "(").replace(" )", ")").replace(", ", ",").replace(" ,", ",");
    let (base, args) = match norm.split_once('(') {
        Some((b, rest)) => {
            // `time(3) with time zone` style suffixes are not types we create.
            let Some(inner) = rest.strip_suffix(')') else {
                return Err(format!(
                    "{s:?} is not a type bak2pg can create (unbalanced parentheses or text after them)"
                ));
            };
            let nums: Result<Vec<u32>, _> = inner.split(',').map(|x| x.trim().parse::<u32>()).collect();
            match nums {
                Ok(n) => (b.trim().to_string(), n),
                Err(_) => return Err(format!("{s:?}: the parameters must be whole numbers")),
            }
        }
        None => (norm.clone(), Vec::new()),
    };
    let precision = |p: u32| -> Result<u8, String> {
        if p > 6 { Err(format!("{s:?}: fractional-second precision is 0 to 6")) } else { Ok(p as u8) }
    };
    let length = |n: u32| -> Result<u32, String> {
        if (1..=10_485_760).contains(&n) { Ok(n) } else { Err(format!("{s:?}: the length must be 1 to 10485760")) }
    };
    let t = match (base.as_str(), args.as_slice()) {
        ("boolean" | "bool", []) => PgType::Boolean,
        ("smallint" | "int2", []) => PgType::SmallInt,
        ("integer" | "int" | "int4", []) => PgType::Integer,
        ("bigint" | "int8", []) => PgType::BigInt,
        ("real" | "float4", []) => PgType::Real,
        ("double precision" | "float8", []) => PgType::Double,
        ("numeric" | "decimal", [p, sc @ ..]) if sc.len() <= 1 => {
            let sc = sc.first().copied().unwrap_or(0);
            if !(1..=255).contains(p) || sc > 38 || sc > *p {
                return Err(format!("{s:?}: bak2pg creates numeric(p,s) with p 1 to 255 and s 0 to min(p,38)"));
            }
            PgType::Numeric { precision: *p as u8, scale: sc as u8 }
        }
        ("numeric" | "decimal", []) => {
            return Err(format!(
                "{s:?}: give numeric(p,s) (bak2pg creates numeric columns with a declared precision and scale, so values compare in one canonical form)"
            ));
        }
        ("text", []) => PgType::Text,
        ("varchar" | "character varying", [n]) => PgType::VarChar { len: length(*n)? },
        ("varchar" | "character varying", []) => return Err(format!("{s:?}: give varchar(n), or text")),
        ("char" | "character" | "bpchar", [n]) => PgType::Char { len: length(*n)? },
        ("char" | "character" | "bpchar", []) => PgType::Char { len: 1 },
        ("bytea", []) => PgType::Bytea,
        ("uuid", []) => PgType::Uuid,
        ("xml", []) => PgType::Xml,
        ("date", []) => PgType::Date,
        ("time" | "time without time zone", []) => PgType::Time { precision: 6 },
        ("time" | "time without time zone", [p]) => PgType::Time { precision: precision(*p)? },
        ("timestamp" | "timestamp without time zone", []) => PgType::Timestamp { precision: 6 },
        ("timestamp" | "timestamp without time zone", [p]) => PgType::Timestamp { precision: precision(*p)? },
        ("timestamptz" | "timestamp with time zone", []) => PgType::TimestampTz { precision: 6 },
        ("timestamptz" | "timestamp with time zone", [p]) => PgType::TimestampTz { precision: precision(*p)? },
        _ => {
            return Err(format!(
                "{s:?} is not a type bak2pg creates (boolean, smallint, integer, bigint, real, double precision, \
                 numeric(p,s), text, varchar(n), char(n), bytea, uuid, xml, date, time(p), timestamp(p), timestamptz(p))"
            ));
        }
    };
    Ok(t)
}

/// Checks that every value a column of SQL Server type `ty` can hold goes into PostgreSQL
/// type `to` exactly, through [`convert`] and the COPY encoder, as into the type
/// [`map_type`] gives it (the same values, or wider types holding the same values): a
/// mapping file's type override is refused before anything is written unless it is.
///
/// The rules: integers into integers or `numeric` with as many integer digits (`tinyint`
/// 3, `smallint` 5, `int` 10, `bigint` 19); `real` into `double precision`;
/// `decimal(p,s)` into `numeric(p',s')` with `s' ≥ s` and `p'−s' ≥ p−s`; `money` into
/// `numeric` with scale ≥ 4 and ≥ 15 integer digits (`numeric(19,4)`), `smallmoney` ≥ 6;
/// strings into `text` or a length at least the default one (`char(n)` also into
/// `varchar`; `varchar` never into `char`, whose blank padding is not significant);
/// `xml` into `text`; times and timestamps with at least the default fractional digits
/// (`datetime` ≥ 3). Binary, `uuid`, `date`, `bit`, `sql_variant` and CLR types keep their
/// type. Anything else — narrower types, or another kind of type (e.g. `money` →
/// `integer`, a `datetime` into `timestamptz`, which would guess a time zone) — is refused.
///
/// # Errors
/// Why the values do not fit, naming both types.
pub fn check_override(ty: &SqlType, to: &PgType) -> Result<(), String> {
    let default = match map_type(ty, false) {
        Ok((t, _)) => t,
        Err(e) => return Err(e.to_string()),
    };
    if *to == default {
        return Ok(());
    }
    let refuse = |why: &str| -> Result<(), String> {
        Err(format!("{} values do not all go into {} exactly: {why}", ty.sql_name(), to.sql()))
    };
    let int_digits = |t: &PgType| match t {
        PgType::Numeric { precision, scale } => Some(*precision as i32 - *scale as i32),
        _ => None,
    };
    let integer = |digits: i32, min_int: PgType| -> Result<(), String> {
        let rank = |t: &PgType| match t {
            PgType::SmallInt => Some(1),
            PgType::Integer => Some(2),
            PgType::BigInt => Some(3),
            _ => None,
        };
        match (rank(to), int_digits(to)) {
            (Some(r), _) if r >= rank(&min_int).expect("integer") => Ok(()),
            (Some(_), _) => refuse(&format!("needs {} or wider", min_int.sql())),
            (None, Some(d)) if d >= digits => Ok(()),
            (None, Some(_)) => refuse(&format!("needs numeric with at least {digits} digits before the point")),
            _ => refuse("an integer goes into a wider integer or numeric"),
        }
    };
    let frac = |s: &u8| (*s).min(6);
    match (ty, to) {
        (SqlType::TinyInt, _) => integer(3, PgType::SmallInt),
        (SqlType::SmallInt, _) => integer(5, PgType::SmallInt),
        (SqlType::Int, _) => integer(10, PgType::Integer),
        (SqlType::BigInt, _) => integer(19, PgType::BigInt),
        (SqlType::Real, PgType::Double) => Ok(()),
        (SqlType::Decimal { precision, scale, .. }, PgType::Numeric { precision: p2, scale: s2 }) => {
            if s2 >= scale && (*p2 as i32 - *s2 as i32) >= (*precision as i32 - *scale as i32) {
                Ok(())
            } else {
                refuse(&format!(
                    "needs scale ≥ {scale} and at least {} digits before the point",
                    *precision as i32 - *scale as i32
                ))
            }
        }
        (SqlType::Money | SqlType::SmallMoney, PgType::Numeric { scale, .. }) => {
            let digits = if matches!(ty, SqlType::Money) { 15 } else { 6 };
            if *scale >= 4 && int_digits(to).unwrap_or(0) >= digits {
                Ok(())
            } else {
                refuse(&format!("needs scale ≥ 4 and at least {digits} digits before the point"))
            }
        }
        (
            SqlType::Char { .. }
            | SqlType::NChar { .. }
            | SqlType::VarChar { .. }
            | SqlType::NVarChar { .. }
            | SqlType::Text { .. }
            | SqlType::NText { .. },
            PgType::Text,
        ) => Ok(()),
        (SqlType::Money | SqlType::SmallMoney, _) => {
            refuse("money has 4 decimals: it goes into numeric(p,s) with s ≥ 4 (numeric(19,4) holds every money value)")
        }
        (SqlType::Char { .. } | SqlType::NChar { .. }, PgType::Char { len } | PgType::VarChar { len })
        | (SqlType::VarChar { .. } | SqlType::NVarChar { .. }, PgType::VarChar { len }) => {
            let min = match default {
                PgType::Char { len } | PgType::VarChar { len } => Some(len),
                _ => None,
            };
            match min {
                Some(m) if *len >= m => Ok(()),
                Some(m) => refuse(&format!("needs a length of at least {m}")),
                None => refuse("a string of unbounded length goes into text"),
            }
        }
        (SqlType::Xml, PgType::Text) => Ok(()),
        (SqlType::Time { scale }, PgType::Time { precision })
        | (SqlType::DateTime2 { scale }, PgType::Timestamp { precision })
        | (SqlType::DateTimeOffset { scale }, PgType::TimestampTz { precision }) => {
            if *precision >= frac(scale) {
                Ok(())
            } else {
                refuse(&format!("needs at least {} fractional-second digits", frac(scale)))
            }
        }
        (SqlType::DateTime, PgType::Timestamp { precision }) => {
            if *precision >= 3 {
                Ok(())
            } else {
                refuse("needs at least 3 fractional-second digits")
            }
        }
        (SqlType::SmallDateTime, PgType::Timestamp { .. }) => Ok(()),
        _ => refuse(&format!("bak2pg loads them only as {} or the wider types listed in the docs", default.sql())),
    }
}

/// Lossy conversions counted for one column (see the module docs for each policy).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnConversions {
    /// Values from which NUL characters were removed.
    pub nul_removed: u64,
    /// Values whose 7th fractional digit was rounded away.
    pub fraction_rounded: u64,
    /// `datetime` values whose 1/300 s tick was rounded to the millisecond.
    pub datetime_ticks_rounded: u64,
    /// `datetimeoffset` values whose non-zero offset was dropped (instant kept).
    pub offset_dropped: u64,
    /// `xml` values loaded as NULL, original kept in `bak2pg.rejected_values`.
    pub xml_rejected: u64,
    /// `sql_variant` values loaded as text.
    pub variant_as_text: u64,
    /// Lone UTF-16 surrogates replaced by U+FFFD by the reader.
    pub replaced_utf16: u64,
}

impl ColumnConversions {
    /// True when nothing was counted.
    pub fn is_empty(&self) -> bool {
        *self == ColumnConversions::default()
    }
    /// Adds `other` into `self`.
    pub fn add(&mut self, other: &ColumnConversions) {
        self.nul_removed += other.nul_removed;
        self.fraction_rounded += other.fraction_rounded;
        self.datetime_ticks_rounded += other.datetime_ticks_rounded;
        self.offset_dropped += other.offset_dropped;
        self.xml_rejected += other.xml_rejected;
        self.variant_as_text += other.variant_as_text;
        self.replaced_utf16 += other.replaced_utf16;
    }
}

/// Why a value was not loaded as it was (kept in `bak2pg.rejected_values`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// NUL characters removed from a text value.
    NulRemoved,
    /// XML content PostgreSQL would reject; NULL loaded.
    XmlRejected,
}

impl RejectReason {
    /// The `reason` column value.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NulRemoved => "nul_removed",
            RejectReason::XmlRejected => "xml_rejected",
        }
    }
}

/// A converted value, and whether its original must be kept aside.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted<'a> {
    /// What PostgreSQL will hold.
    pub value: PgValue<'a>,
    /// Set when the original must be kept in `bak2pg.rejected_values`.
    pub kept_aside: Option<RejectReason>,
}

/// A value that does not fit its column.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    /// The source produced a value of another type than the column's.
    #[error("a {got} value for a column of type {expected}")]
    Mismatch {
        /// The PostgreSQL column type.
        expected: String,
        /// The kind of value received.
        got: &'static str,
    },
    /// A value outside what the type can hold (a `decimal` with more scale than declared…).
    #[error("value out of range: {0}")]
    OutOfRange(String),
    /// A `geography`/`geometry` value the decoder refuses (named, with its byte offset).
    #[error("{0} (--postgis off loads such columns as raw bytes)")]
    Spatial(#[from] crate::spatial::SpatialError),
}

/// The kind of a [`Value`], for error messages.
pub fn value_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "NULL",
        Value::Bit(_) => "bit",
        Value::TinyInt(_) => "tinyint",
        Value::SmallInt(_) => "smallint",
        Value::Int(_) => "int",
        Value::BigInt(_) => "bigint",
        Value::Real(_) => "real",
        Value::Float(_) => "float",
        Value::Decimal { .. } => "decimal",
        Value::Money(_) => "money",
        Value::String(_) => "string",
        Value::Binary(_) => "binary",
        Value::Guid(_) => "uniqueidentifier",
        Value::Date { .. } => "date",
        Value::Time { .. } => "time",
        Value::DateTime { .. } => "datetime",
        Value::SmallDateTime { .. } => "smalldatetime",
        Value::DateTime2 { .. } => "datetime2",
        Value::DateTimeOffset { .. } => "datetimeoffset",
        Value::Xml(_) => "xml",
        Value::Variant(_) => "sql_variant",
        // A kind mssql-backup adds in a later version.
        _ => "value",
    }
}

/// SQL Server's GUID byte order (first three groups little-endian) to RFC 4122 order.
pub fn guid_to_uuid(b: &[u8; 16]) -> [u8; 16] {
    uuid::Uuid::from_bytes_le(*b).into_bytes()
}

/// Converts `ticks` of 10^-`scale` seconds to microseconds, rounding a 7th digit half up.
/// Returns the microseconds and whether a non-zero digit was rounded away.
pub fn ticks_to_micros(ticks: u64, scale: u8) -> Result<(i64, bool), ConvertError> {
    // SQL Server's time of day ends at 23:59:59 and 10^scale - 1 ticks.
    if scale <= 7 && ticks >= 86_400 * 10u64.pow(scale as u32) {
        return Err(ConvertError::OutOfRange(format!("time of day of {ticks} ticks at scale {scale}")));
    }
    match scale {
        0..=6 => ticks
            .checked_mul(10u64.pow(6 - scale as u32))
            .and_then(|us| i64::try_from(us).ok())
            .map(|us| (us, false))
            .ok_or_else(|| ConvertError::OutOfRange(format!("{ticks} ticks at scale {scale}"))),
        7 => Ok((((ticks + 5) / 10) as i64, !ticks.is_multiple_of(10))),
        _ => Err(ConvertError::OutOfRange(format!("time scale {scale}"))),
    }
}

/// Converts a `datetime2`-style (days since 0001-01-01, ticks of 10^-scale s) value to
/// PostgreSQL microseconds since 2000-01-01, carrying a rounded-up day.
fn datetime2_micros(days: i32, ticks: u64, scale: u8, c: &mut ColumnConversions) -> Result<i64, ConvertError> {
    let (us, rounded) = ticks_to_micros(ticks, scale)?;
    if rounded {
        c.fraction_rounded += 1;
    }
    if us > USECS_PER_DAY {
        return Err(ConvertError::OutOfRange(format!("time of day {ticks} ticks at scale {scale}")));
    }
    // A carry to exactly 24:00:00 is the next day's midnight; the sum does that by itself.
    Ok((days as i64 - DAYS_0001_TO_2000 as i64) * USECS_PER_DAY + us)
}

/// Removes NUL characters, counting the value when any was there.
fn text<'a>(s: &'a str, c: &mut ColumnConversions) -> Converted<'a> {
    if s.contains('\0') {
        c.nul_removed += 1;
        Converted { value: PgValue::Text(Cow::Owned(s.replace('\0', ""))), kept_aside: Some(RejectReason::NulRemoved) }
    } else {
        Converted { value: PgValue::Text(Cow::Borrowed(s)), kept_aside: None }
    }
}

/// True when `s` is XML content PostgreSQL accepts (see the module docs): every character
/// an XML 1.0 `Char`, no XML declaration or DTD, and well-formed inside a wrapper element.
pub fn xml_content_ok(s: &str) -> bool {
    let is_char =
        |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if !s.chars().all(is_char) {
        return false;
    }
    // An XML declaration (not a `<?xml-stylesheet …?>` instruction): PostgreSQL's binary
    // input would honour its encoding attribute.
    let declaration = s
        .trim_start()
        .strip_prefix("<?xml")
        .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '?'));
    if declaration || s.contains("<!DOCTYPE") {
        return false;
    }
    let wrapped = format!("<bak2pg-content>{s}</bak2pg-content>");
    roxmltree::Document::parse_with_options(
        &wrapped,
        roxmltree::ParsingOptions { allow_dtd: false, nodes_limit: u32::MAX },
    )
    .is_ok()
}

fn rescale(mantissa: i128, from: u8, to: u8) -> Result<i128, ConvertError> {
    use std::cmp::Ordering;
    let err = || ConvertError::OutOfRange(format!("decimal {mantissa}e-{from} does not fit scale {to}"));
    match from.cmp(&to) {
        Ordering::Equal => Ok(mantissa),
        Ordering::Less => 10i128.checked_pow((to - from) as u32).and_then(|p| mantissa.checked_mul(p)).ok_or_else(err),
        Ordering::Greater => {
            let p = 10i128.checked_pow((from - to) as u32).ok_or_else(err)?;
            if mantissa % p != 0 {
                return Err(err());
            }
            Ok(mantissa / p)
        }
    }
}

/// An integer as `numeric` of `scale` (a mapping file's override of an integer column).
fn numeric_of(m: i128, scale: u8) -> Result<PgValue<'static>, ConvertError> {
    Ok(PgValue::Numeric { mantissa: rescale(m, 0, scale)?, scale })
}

/// Converts one source value for a column of PostgreSQL type `target`, counting lossy
/// conversions into `c`.
///
/// # Errors
/// [`ConvertError::Mismatch`] when the source value's kind does not belong to the column
/// type; [`ConvertError::OutOfRange`] for values the target cannot represent at all.
pub fn convert<'a>(v: &'a Value, target: &PgType, c: &mut ColumnConversions) -> Result<Converted<'a>, ConvertError> {
    let ok = |value| Ok(Converted { value, kept_aside: None });
    let mismatch = || Err(ConvertError::Mismatch { expected: target.sql(), got: value_kind(v) });
    match (target, v) {
        (_, Value::Null) => ok(PgValue::Null),
        (PgType::Text, Value::Variant(inner)) => {
            let (ty, val) = &**inner;
            if val.is_null() {
                return ok(PgValue::Null);
            }
            c.variant_as_text += 1;
            let (inner_ty, _) =
                map_type(ty, true).map_err(|e| ConvertError::OutOfRange(format!("sql_variant base type: {e}")))?;
            let mut scratch = ColumnConversions::default();
            let conv = convert(val, &inner_ty, &mut scratch)?;
            let mut text_form = Vec::new();
            crate::checksum::canonical_value(&conv.value, &mut text_form);
            let s = String::from_utf8(text_form).expect("canonical text is UTF-8");
            // Lossy counters of the base value count against this column too.
            scratch.variant_as_text = 0;
            c.add(&scratch);
            Ok(Converted { value: PgValue::Text(Cow::Owned(s)), kept_aside: conv.kept_aside })
        }
        (PgType::Boolean, Value::Bit(b)) => ok(PgValue::Bool(*b)),
        (PgType::SmallInt, Value::TinyInt(x)) => ok(PgValue::Int2(*x as i16)),
        (PgType::SmallInt, Value::SmallInt(x)) => ok(PgValue::Int2(*x)),
        (PgType::Integer, Value::Int(x)) => ok(PgValue::Int4(*x)),
        (PgType::BigInt, Value::BigInt(x)) => ok(PgValue::Int8(*x)),
        // Wider integer types and numeric: only reached through a mapping file's type
        // override, which `check_override` allows only where every value fits.
        (PgType::Integer, Value::TinyInt(x)) => ok(PgValue::Int4(i32::from(*x))),
        (PgType::Integer, Value::SmallInt(x)) => ok(PgValue::Int4(i32::from(*x))),
        (PgType::BigInt, Value::TinyInt(x)) => ok(PgValue::Int8(i64::from(*x))),
        (PgType::BigInt, Value::SmallInt(x)) => ok(PgValue::Int8(i64::from(*x))),
        (PgType::BigInt, Value::Int(x)) => ok(PgValue::Int8(i64::from(*x))),
        (PgType::Numeric { scale, .. }, Value::TinyInt(x)) => ok(numeric_of(i128::from(*x), *scale)?),
        (PgType::Numeric { scale, .. }, Value::SmallInt(x)) => ok(numeric_of(i128::from(*x), *scale)?),
        (PgType::Numeric { scale, .. }, Value::Int(x)) => ok(numeric_of(i128::from(*x), *scale)?),
        (PgType::Numeric { scale, .. }, Value::BigInt(x)) => ok(numeric_of(i128::from(*x), *scale)?),
        (PgType::Real, Value::Real(x)) => ok(PgValue::Float4(*x)),
        (PgType::Double, Value::Float(x)) => ok(PgValue::Float8(*x)),
        (PgType::Double, Value::Real(x)) => ok(PgValue::Float8(*x as f64)),
        (PgType::Numeric { scale, .. }, Value::Decimal { mantissa, scale: s }) => {
            ok(PgValue::Numeric { mantissa: rescale(*mantissa, *s, *scale)?, scale: *scale })
        }
        (PgType::Numeric { scale, .. }, Value::Money(m)) => {
            ok(PgValue::Numeric { mantissa: rescale(*m as i128, 4, *scale)?, scale: *scale })
        }
        (PgType::Char { .. } | PgType::VarChar { .. } | PgType::Text, Value::String(s)) => Ok(text(s, c)),
        (PgType::Bytea, Value::Binary(b)) => ok(PgValue::Bytea(Cow::Borrowed(b))),
        (PgType::Geography, Value::Binary(b)) => {
            ok(PgValue::Ewkb(Cow::Owned(crate::spatial::to_ewkb(b, crate::spatial::SpatialKind::Geography)?.bytes)))
        }
        (PgType::Geometry, Value::Binary(b)) => {
            ok(PgValue::Ewkb(Cow::Owned(crate::spatial::to_ewkb(b, crate::spatial::SpatialKind::Geometry)?.bytes)))
        }
        (PgType::Uuid, Value::Guid(g)) => ok(PgValue::Uuid(guid_to_uuid(g))),
        // `xml` as text (a type override): the text as the source gave it.
        (PgType::Text, Value::Xml(s)) => Ok(text(s, c)),
        (PgType::Xml, Value::Xml(s)) => {
            if xml_content_ok(s) {
                ok(PgValue::Xml(s))
            } else {
                c.xml_rejected += 1;
                Ok(Converted { value: PgValue::Null, kept_aside: Some(RejectReason::XmlRejected) })
            }
        }
        (PgType::Date, Value::Date { days }) => ok(PgValue::Date(days - DAYS_0001_TO_2000)),
        (PgType::Time { .. }, Value::Time { ticks, scale }) => {
            let (us, rounded) = ticks_to_micros(*ticks, *scale)?;
            if rounded {
                c.fraction_rounded += 1;
            }
            if us > USECS_PER_DAY {
                return Err(ConvertError::OutOfRange(format!("time of {ticks} ticks at scale {scale}")));
            }
            ok(PgValue::Time(us))
        }
        (PgType::Timestamp { .. }, Value::DateTime { days, ticks }) => {
            if *ticks > 25_919_999 {
                return Err(ConvertError::OutOfRange(format!("datetime time of day of {ticks} ticks of 1/300 s")));
            }
            let tenths = *ticks as i64 * 10;
            if tenths % 3 != 0 {
                c.datetime_ticks_rounded += 1;
            }
            // Nearest millisecond: x/3 has fraction 0, 1/3 or 2/3, so (x + 1) / 3 rounds.
            let ms = (tenths + 1) / 3;
            ok(PgValue::Timestamp((*days as i64 - DAYS_1900_TO_2000 as i64) * USECS_PER_DAY + ms * 1000))
        }
        (PgType::Timestamp { .. }, Value::SmallDateTime { minutes, .. }) if *minutes >= 1440 => {
            Err(ConvertError::OutOfRange(format!("smalldatetime time of day of {minutes} minutes")))
        }
        (PgType::Timestamp { .. }, Value::SmallDateTime { days, minutes }) => ok(PgValue::Timestamp(
            (*days as i64 - DAYS_1900_TO_2000 as i64) * USECS_PER_DAY + *minutes as i64 * 60_000_000,
        )),
        (PgType::Timestamp { .. }, Value::DateTime2 { days, ticks, scale }) => {
            ok(PgValue::Timestamp(datetime2_micros(*days, *ticks, *scale, c)?))
        }
        (PgType::TimestampTz { .. }, Value::DateTimeOffset { days, ticks, scale, offset_minutes }) => {
            if *offset_minutes != 0 {
                c.offset_dropped += 1;
            }
            ok(PgValue::TimestampTz(datetime2_micros(*days, *ticks, *scale, c)?))
        }
        _ => mismatch(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seventh_digit_rounds_half_up() {
        assert_eq!(ticks_to_micros(12_345_674, 7).unwrap(), (1_234_567, true));
        assert_eq!(ticks_to_micros(12_345_675, 7).unwrap(), (1_234_568, true));
        assert_eq!(ticks_to_micros(12_345_670, 7).unwrap(), (1_234_567, false));
        assert_eq!(ticks_to_micros(123, 3).unwrap(), (123_000, false));
        assert_eq!(ticks_to_micros(863_999_999_999, 7).unwrap(), (USECS_PER_DAY, true));
    }

    #[test]
    fn datetime_ticks_match_sql_server_display() {
        let mut c = ColumnConversions::default();
        for (ticks, ms) in [(0u32, 0i64), (1, 3), (2, 7), (3, 10), (25_919_999, 86_399_997)] {
            let v = Value::DateTime { days: 36_524, ticks };
            let got = convert(&v, &PgType::Timestamp { precision: 3 }, &mut c).unwrap().value;
            assert_eq!(got, PgValue::Timestamp(ms * 1000), "ticks {ticks}");
        }
        assert_eq!(c.datetime_ticks_rounded, 3);
    }

    #[test]
    fn carry_into_next_day() {
        let mut c = ColumnConversions::default();
        let v = Value::DateTime2 { days: DAYS_0001_TO_2000, ticks: 863_999_999_995, scale: 7 };
        let got = convert(&v, &PgType::Timestamp { precision: 6 }, &mut c).unwrap().value;
        assert_eq!(got, PgValue::Timestamp(USECS_PER_DAY));
        assert_eq!(c.fraction_rounded, 1);
    }

    #[test]
    fn xml_checks() {
        assert!(xml_content_ok("<a>1</a><b/>text"));
        assert!(xml_content_ok(""));
        assert!(xml_content_ok("plain &amp; text"));
        assert!(!xml_content_ok("<a>"));
        assert!(!xml_content_ok("<a>\u{1}</a>"));
        assert!(!xml_content_ok("<?xml version=\"1.0\" encoding=\"utf-16\"?><a/>"));
        assert!(!xml_content_ok("&undefined;"));
        assert!(xml_content_ok("<?xml-stylesheet href=\"a.xsl\"?><a/>"));
        assert!(!xml_content_ok("<!DOCTYPE a><a/>"));
    }

    #[test]
    fn nul_removed_and_counted() {
        let mut c = ColumnConversions::default();
        let v = Value::String("a\0b".into());
        let r = convert(&v, &PgType::Text, &mut c).unwrap();
        assert_eq!(r.value, PgValue::Text(Cow::Borrowed("ab")));
        assert_eq!(r.kept_aside, Some(RejectReason::NulRemoved));
        assert_eq!(c.nul_removed, 1);
    }

    #[test]
    fn mismatch_is_an_error() {
        let mut c = ColumnConversions::default();
        assert!(convert(&Value::Int(1), &PgType::Text, &mut c).is_err());
        let ts = PgType::Timestamp { precision: 3 };
        assert!(convert(&Value::DateTime { days: 0, ticks: 25_920_000 }, &ts, &mut c).is_err());
        assert!(convert(&Value::SmallDateTime { days: 0, minutes: 1440 }, &ts, &mut c).is_err());
        assert!(convert(&Value::Time { ticks: u64::MAX, scale: 0 }, &PgType::Time { precision: 0 }, &mut c).is_err());
        assert!(
            convert(&Value::Time { ticks: 864_000_000_001, scale: 7 }, &PgType::Time { precision: 6 }, &mut c).is_err()
        );
    }

    #[test]
    fn pg_type_names_parse() {
        let n = |p, s| PgType::Numeric { precision: p, scale: s };
        for (text, t) in [
            ("numeric(19,4)", n(19, 4)),
            (" NUMERIC ( 21 , 6 ) ", n(21, 6)),
            ("decimal(10)", n(10, 0)),
            ("int4", PgType::Integer),
            ("Double Precision", PgType::Double),
            ("character varying(40)", PgType::VarChar { len: 40 }),
            ("timestamp", PgType::Timestamp { precision: 6 }),
            ("timestamp with time zone", PgType::TimestampTz { precision: 6 }),
            ("time(3)", PgType::Time { precision: 3 }),
            ("bpchar(5)", PgType::Char { len: 5 }),
        ] {
            assert_eq!(parse_pg_type(text), Ok(t), "{text}");
        }
        for bad in
            ["numeric", "varchar", "money", "jsonb", "numeric(5,6)", "time(7)", "varchar(0)", "int(4", "integer[]"]
        {
            assert!(parse_pg_type(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn overrides_are_allowed_only_where_every_value_fits() {
        let coll = mssql_backup::Collation { id: 0, name: None, code_page: 1252 };
        let t = |s: &str| parse_pg_type(s).unwrap();
        let ok = |ty: &SqlType, to: &str| check_override(ty, &t(to));
        let dec = SqlType::Decimal { precision: 10, scale: 2, numeric: false };
        let nv = SqlType::NVarChar { len: Some(40), collation: coll.clone() };
        let nc = SqlType::NChar { len: 5, collation: coll.clone() };
        for (ty, to) in [
            (&SqlType::Money, "numeric(19,4)"),
            (&SqlType::Money, "numeric(21,6)"),
            (&SqlType::SmallMoney, "numeric(10,4)"),
            (&SqlType::TinyInt, "integer"),
            (&SqlType::SmallInt, "bigint"),
            (&SqlType::Int, "numeric(10,0)"),
            (&SqlType::BigInt, "numeric(25,2)"),
            (&SqlType::Real, "double precision"),
            (&dec, "numeric(12,3)"),
            (&nv, "text"),
            (&nv, "varchar(50)"),
            (&nc, "varchar(5)"),
            (&SqlType::Xml, "text"),
            (&SqlType::DateTime, "timestamp(6)"),
            (&SqlType::DateTime2 { scale: 7 }, "timestamp(6)"),
            (&SqlType::SmallDateTime, "timestamp(0)"),
            (&SqlType::Bit, "boolean"),
        ] {
            assert_eq!(ok(ty, to), Ok(()), "{ty} → {to}");
        }
        for (ty, to) in [
            (&SqlType::Money, "integer"),
            (&SqlType::Money, "numeric(12,2)"),
            (&SqlType::Money, "numeric(18,4)"),
            (&SqlType::Int, "smallint"),
            (&SqlType::Int, "numeric(9,0)"),
            (&SqlType::Float, "real"),
            (&dec, "numeric(10,1)"),
            (&dec, "numeric(10,3)"),
            (&nv, "varchar(39)"),
            (&nv, "char(40)"),
            (&SqlType::DateTime, "timestamp(2)"),
            (&SqlType::DateTime, "timestamptz(3)"),
            (&SqlType::DateTime2 { scale: 7 }, "timestamp(5)"),
            (&SqlType::UniqueIdentifier, "text"),
            (&SqlType::Bit, "smallint"),
            (&SqlType::Int, "text"),
        ] {
            assert!(ok(ty, to).is_err(), "{ty} → {to} must be refused");
        }
    }

    #[test]
    fn widened_values_convert_exactly() {
        let mut c = ColumnConversions::default();
        let num = |p, s| PgType::Numeric { precision: p, scale: s };
        let cases: Vec<(Value, PgType, PgValue<'static>)> = vec![
            (Value::Money(i64::MIN), num(19, 4), PgValue::Numeric { mantissa: i64::MIN as i128, scale: 4 }),
            (Value::Money(i64::MAX), num(21, 6), PgValue::Numeric { mantissa: i64::MAX as i128 * 100, scale: 6 }),
            (Value::TinyInt(255), PgType::Integer, PgValue::Int4(255)),
            (Value::SmallInt(i16::MIN), PgType::BigInt, PgValue::Int8(i16::MIN as i64)),
            (Value::Int(i32::MIN), PgType::BigInt, PgValue::Int8(i32::MIN as i64)),
            (Value::Int(i32::MIN), num(10, 0), PgValue::Numeric { mantissa: i32::MIN as i128, scale: 0 }),
            (Value::BigInt(i64::MAX), num(21, 2), PgValue::Numeric { mantissa: i64::MAX as i128 * 100, scale: 2 }),
            (
                Value::Decimal { mantissa: -12345, scale: 2 },
                num(12, 3),
                PgValue::Numeric { mantissa: -123450, scale: 3 },
            ),
        ];
        for (v, to, want) in cases {
            assert_eq!(convert(&v, &to, &mut c).unwrap().value, want, "{v:?} → {to}");
        }
        let x = Value::Xml("<a>1</a>".into());
        assert_eq!(convert(&x, &PgType::Text, &mut c).unwrap().value, PgValue::Text(Cow::Borrowed("<a>1</a>")));
        assert!(c.is_empty());
        // The canonical texts compare in the new type's form: 32.38 money as numeric(21,6).
        let v = convert(&Value::Money(323_800), &num(21, 6), &mut c).unwrap().value;
        assert_eq!(crate::checksum::numeric_text(32_380_000, 6), "32.380000");
        assert_eq!(v, PgValue::Numeric { mantissa: 32_380_000, scale: 6 });
    }

    #[test]
    fn markdown_has_every_row() {
        let md = markdown_table();
        assert_eq!(md.lines().count(), MAPPING.len() + 2);
        assert!(md.contains("| datetime2(n) | timestamp(min(n,6)) |"));
    }

    #[test]
    fn mapping_table_matches_map_type() {
        let coll = mssql_backup::Collation { id: 0, name: None, code_page: 1252 };
        let cases: Vec<(SqlType, &str)> = vec![
            (SqlType::Bit, "boolean"),
            (SqlType::TinyInt, "smallint"),
            (SqlType::Int, "integer"),
            (SqlType::Float, "double precision"),
            (SqlType::Money, "numeric(19,4)"),
            (SqlType::SmallMoney, "numeric(10,4)"),
            (SqlType::NChar { len: 5, collation: coll.clone() }, "char(5)"),
            (SqlType::NVarChar { len: None, collation: coll.clone() }, "text"),
            (SqlType::DateTime, "timestamp(3)"),
            (SqlType::SmallDateTime, "timestamp(0)"),
            (SqlType::DateTime2 { scale: 7 }, "timestamp(6)"),
            (SqlType::DateTimeOffset { scale: 2 }, "timestamptz(2)"),
            (SqlType::Time { scale: 7 }, "time(6)"),
            (SqlType::RowVersion, "bytea"),
            (SqlType::SqlVariant, "text"),
            (SqlType::Geography, "bytea"),
            (SqlType::Geometry, "bytea"),
        ];
        for (t, pg) in cases {
            assert_eq!(map_type(&t, false).unwrap().0.sql(), pg, "{t}");
        }
        assert_eq!(
            map_type_with(&SqlType::Geography, false, true).unwrap(),
            (PgType::Geography, Some(MappingNote::Postgis))
        );
        assert_eq!(
            map_type_with(&SqlType::Geometry, false, true).unwrap(),
            (PgType::Geometry, Some(MappingNote::Postgis))
        );
        assert_eq!(
            map_type_with(&SqlType::HierarchyId, false, true).unwrap(),
            (PgType::Bytea, Some(MappingNote::RawClrBytes))
        );
        let unknown = SqlType::Unknown { type_id: 244, name: "json".into(), max_length: -1 };
        assert!(map_type(&unknown, false).is_err());
        assert_eq!(map_type(&unknown, true).unwrap(), (PgType::Bytea, Some(MappingNote::RawUnknownBytes)));
    }
}
