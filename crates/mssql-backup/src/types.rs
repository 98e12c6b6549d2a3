//! SQL Server data types as declared in the catalog, and page identifiers.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A page address: data file id and page number within that file, as SQL Server writes
/// it (`1:9` is page 9 of file 1, the boot page). Page `n` of a file starts at byte
/// `n * 8192` of that data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PageId {
    /// Data file id (`sys.database_files.file_id`): 1 is the primary `.mdf`.
    pub file: u16,
    /// Page number within the file.
    pub page: u32,
}

impl PageId {
    /// Page `page` of file `file`.
    pub const fn new(file: u16, page: u32) -> Self {
        PageId { file, page }
    }
    /// Decodes a 6-byte page pointer as stored on disk: `u32` page number then `u16` file
    /// id, little-endian (page header `m_prevPage`/`m_nextPage`, sysallocunits `pgfirst`…).
    pub fn from_bytes(b: &[u8]) -> Option<Self> {
        let b: &[u8; 6] = b.get(..6)?.try_into().ok()?;
        Some(PageId { page: u32::from_le_bytes([b[0], b[1], b[2], b[3]]), file: u16::from_le_bytes([b[4], b[5]]) })
    }
    /// True for the null pointer `0:0`.
    pub fn is_null(self) -> bool {
        self.file == 0 && self.page == 0
    }
    /// The extent (8 contiguous pages) this page belongs to, as its first page.
    pub fn extent(self) -> PageId {
        PageId { file: self.file, page: self.page & !7 }
    }
}

impl fmt::Display for PageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.page)
    }
}

/// A collation as stored in the catalog (`syscolpars.collationid`, boot page
/// `dbi_collation`), with what decoding needs: the code page of 8-bit character data.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Collation {
    /// The raw 32-bit collation id as stored.
    pub id: u32,
    /// The collation name where the id is known (`SQL_Latin1_General_CP1_CI_AS`,
    /// `Vietnamese_CI_AS`, …); `None` when the id is not in our table.
    pub name: Option<String>,
    /// Windows code page of `char`/`varchar`/`text` bytes under this collation (1252,
    /// 1258, 932, …); 65001 for the `_UTF8` collations of SQL Server 2019+.
    pub code_page: u16,
}

/// A column's declared type, from `syscolpars` (`xtype`, `utype`, `length`, `prec`,
/// `scale`, `collationid`). Lengths follow SQL Server's declarations: `Char { len }` and
/// `Binary { len }` are bytes, `NChar { len }` and `NVarChar` are characters (UTF-16 code
/// units); `None` means `(max)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum SqlType {
    /// `bit` (system type 104).
    Bit,
    /// `tinyint` (48): unsigned 8-bit.
    TinyInt,
    /// `smallint` (52).
    SmallInt,
    /// `int` (56).
    Int,
    /// `bigint` (127).
    BigInt,
    /// `real` (59): IEEE 754 binary32.
    Real,
    /// `float(n)` (62): IEEE 754 binary64 (SQL Server stores `float(1..24)` as `real`).
    Float,
    /// `decimal(p, s)` (106) and `numeric(p, s)` (108; `numeric` true).
    Decimal {
        /// Total digits, 1 to 38.
        precision: u8,
        /// Fractional digits (of the number, or of a second).
        scale: u8,
        /// Declared `numeric` (else `decimal`).
        numeric: bool,
    },
    /// `money` (60): 64-bit integer of 1/10000 units.
    Money,
    /// `smallmoney` (122): 32-bit integer of 1/10000 units.
    SmallMoney,
    /// `char(n)` (175), `n` bytes.
    Char {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: u16,
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `varchar(n)` (167), `n` bytes; `None` = `varchar(max)`.
    VarChar {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: Option<u16>,
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `text` (35), legacy LOB.
    Text {
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `nchar(n)` (239), `n` UTF-16 code units.
    NChar {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: u16,
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `nvarchar(n)` (231), `n` UTF-16 code units; `None` = `nvarchar(max)`.
    NVarChar {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: Option<u16>,
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `ntext` (99), legacy LOB.
    NText {
        /// The column's collation (its code page decodes 8-bit text).
        collation: Collation,
    },
    /// `binary(n)` (173).
    Binary {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: u16,
    },
    /// `varbinary(n)` (165); `None` = `varbinary(max)`.
    VarBinary {
        /// Declared length: bytes for `char`/`binary` types, UTF-16 code units for `nchar`/`nvarchar`.
        len: Option<u16>,
    },
    /// `image` (34), legacy LOB.
    Image,
    /// `uniqueidentifier` (36).
    UniqueIdentifier,
    /// `date` (40).
    Date,
    /// `time(s)` (41), `s` fractional-second digits 0..=7.
    Time {
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
    /// `smalldatetime` (58).
    SmallDateTime,
    /// `datetime` (61).
    DateTime,
    /// `datetime2(s)` (42).
    DateTime2 {
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
    /// `datetimeoffset(s)` (43).
    DateTimeOffset {
        /// Fractional digits (of the number, or of a second).
        scale: u8,
    },
    /// `rowversion`/`timestamp` (189): 8 bytes.
    RowVersion,
    /// `sql_variant` (98).
    SqlVariant,
    /// `xml` (241), stored as SQL Server binary XML.
    Xml,
    /// `hierarchyid` (240, CLR type), kept as its raw bytes.
    HierarchyId,
    /// `geometry` (240, CLR type), kept as its raw bytes.
    Geometry,
    /// `geography` (240, CLR type), kept as its raw bytes.
    Geography,
    /// Another CLR user-defined type (240): raw bytes; `max_length` -1 means unbounded.
    Clr {
        /// The type's name, as the catalog gives it.
        name: String,
        /// `max_length` from the catalog, in bytes (-1: unbounded).
        max_length: i16,
    },
    /// A type id this reader does not know (`json`, `vector` of SQL Server 2025, …).
    Unknown {
        /// The catalog's `system_type_id`.
        type_id: u8,
        /// The type's name, as the catalog gives it.
        name: String,
        /// `max_length` from the catalog, in bytes (-1: unbounded).
        max_length: i16,
    },
}

impl SqlType {
    /// The T-SQL spelling of the type (`nvarchar(40)`, `decimal(10,2)`, `varchar(max)`).
    pub fn sql_name(&self) -> String {
        fn len_or_max(len: &Option<u16>) -> String {
            match len {
                Some(n) => n.to_string(),
                None => "max".to_string(),
            }
        }
        match self {
            SqlType::Bit => "bit".into(),
            SqlType::TinyInt => "tinyint".into(),
            SqlType::SmallInt => "smallint".into(),
            SqlType::Int => "int".into(),
            SqlType::BigInt => "bigint".into(),
            SqlType::Real => "real".into(),
            SqlType::Float => "float".into(),
            SqlType::Decimal { precision, scale, numeric } => {
                format!("{}({precision},{scale})", if *numeric { "numeric" } else { "decimal" })
            }
            SqlType::Money => "money".into(),
            SqlType::SmallMoney => "smallmoney".into(),
            SqlType::Char { len, .. } => format!("char({len})"),
            SqlType::VarChar { len, .. } => format!("varchar({})", len_or_max(len)),
            SqlType::Text { .. } => "text".into(),
            SqlType::NChar { len, .. } => format!("nchar({len})"),
            SqlType::NVarChar { len, .. } => format!("nvarchar({})", len_or_max(len)),
            SqlType::NText { .. } => "ntext".into(),
            SqlType::Binary { len } => format!("binary({len})"),
            SqlType::VarBinary { len } => format!("varbinary({})", len_or_max(len)),
            SqlType::Image => "image".into(),
            SqlType::UniqueIdentifier => "uniqueidentifier".into(),
            SqlType::Date => "date".into(),
            SqlType::Time { scale } => format!("time({scale})"),
            SqlType::SmallDateTime => "smalldatetime".into(),
            SqlType::DateTime => "datetime".into(),
            SqlType::DateTime2 { scale } => format!("datetime2({scale})"),
            SqlType::DateTimeOffset { scale } => format!("datetimeoffset({scale})"),
            SqlType::RowVersion => "rowversion".into(),
            SqlType::SqlVariant => "sql_variant".into(),
            SqlType::Xml => "xml".into(),
            SqlType::HierarchyId => "hierarchyid".into(),
            SqlType::Geometry => "geometry".into(),
            SqlType::Geography => "geography".into(),
            SqlType::Clr { name, .. } => name.clone(),
            SqlType::Unknown { name, .. } => name.clone(),
        }
    }

    /// The collation of a character type, `None` for other types.
    pub fn collation(&self) -> Option<&Collation> {
        match self {
            SqlType::Char { collation, .. }
            | SqlType::VarChar { collation, .. }
            | SqlType::Text { collation }
            | SqlType::NChar { collation, .. }
            | SqlType::NVarChar { collation, .. }
            | SqlType::NText { collation } => Some(collation),
            _ => None,
        }
    }

    /// True for types whose values may live off-row in LOB pages (`text`, `ntext`,
    /// `image`, the `(max)` types, `xml`, and unbounded CLR types).
    pub fn is_lob(&self) -> bool {
        matches!(
            self,
            SqlType::Text { .. }
                | SqlType::NText { .. }
                | SqlType::Image
                | SqlType::Xml
                | SqlType::VarChar { len: None, .. }
                | SqlType::NVarChar { len: None, .. }
                | SqlType::VarBinary { len: None }
                | SqlType::Geometry
                | SqlType::Geography
        ) || matches!(self, SqlType::Clr { max_length: -1, .. })
    }
}

impl fmt::Display for SqlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.sql_name())
    }
}
