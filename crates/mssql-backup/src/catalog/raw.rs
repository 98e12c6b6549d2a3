//! Rows of the system base tables, decoded with fixed layouts.
//!
//! Each base table's fixed columns sit at fixed record offsets (fixed-length columns packed
//! from offset 4 in declaration order, per OrcaMDF's base-table declarations); variable
//! columns are numbered in declaration order. Columns added by later versions come after
//! the ones read here, so one layout serves SQL Server 2005–2025, except where noted
//! (SQL Server 2005 keeps partition column layouts in `syshobtcolumns`/`sysrowsetcolumns`
//! instead of `sysrscols`). Offsets were checked on the fixtures of every version.

use crate::lob::{self, LobPages};
use crate::record::Record;
use crate::types::PageId;
use crate::{Error, Result};

/// Object ids of the system base tables, stable across SQL Server 2005–2025.
pub mod object {
    /// `sysrscols` (2008+): physical columns of every rowset. In 2005, object 3 is another table.
    pub const SYSRSCOLS: i32 = 3;
    /// `sysrowsetcolumns` (2005): rowset column to HoBT column.
    pub const SYSROWSETCOLUMNS: i32 = 4;
    /// `sysseobjvalues` (2012+; in 2005–2008 R2 there is no object 9): values of
    /// rowsets, among them the default of a column added without rewriting the rows.
    pub const SYSSEOBJVALUES: i32 = 9;
    /// `syshobtcolumns` (2005): physical columns of every HoBT.
    pub const SYSHOBTCOLUMNS: i32 = 13;
    /// `sysschobjs`: objects.
    pub const SYSSCHOBJS: i32 = 34;
    /// `syscolpars`: columns and parameters.
    pub const SYSCOLPARS: i32 = 41;
    /// `sysscalartypes`: types.
    pub const SYSSCALARTYPES: i32 = 50;
    /// `sysidxstats`: indexes and statistics.
    pub const SYSIDXSTATS: i32 = 54;
    /// `sysiscols`: index and statistics columns.
    pub const SYSISCOLS: i32 = 55;
    /// `sysxprops`: extended properties (`sys.extended_properties`).
    pub const SYSXPROPS: i32 = 49;
    /// `sysobjvalues`: definitions and other object values.
    pub const SYSOBJVALUES: i32 = 60;
    /// `sysclsobjs`: schemas and other classified objects.
    pub const SYSCLSOBJS: i32 = 64;
    /// `syssingleobjrefs`: single references between objects (FK → referenced table).
    pub const SYSSINGLEOBJREFS: i32 = 74;
}

/// Field access on a base-table record with errors naming the table and offset.
pub struct Row<'a> {
    /// The record.
    pub rec: Record<'a>,
    /// Base table name, for errors.
    pub table: &'static str,
}

impl<'a> Row<'a> {
    fn fixed<const N: usize>(&self, off: usize) -> Result<[u8; N]> {
        self.rec.fixed(off, N).map(|b| b.try_into().expect("N bytes")).ok_or_else(|| {
            Error::catalog(format!(
                "{} row: field at offset {off} lies beyond its fixed data ({} bytes)",
                self.table,
                self.rec.fixed_end()
            ))
        })
    }
    /// `tinyint` at `off`.
    pub fn u8(&self, off: usize) -> Result<u8> {
        Ok(self.fixed::<1>(off)?[0])
    }
    /// `smallint` at `off`.
    pub fn i16(&self, off: usize) -> Result<i16> {
        Ok(i16::from_le_bytes(self.fixed(off)?))
    }
    /// `int` at `off`.
    pub fn i32(&self, off: usize) -> Result<i32> {
        Ok(i32::from_le_bytes(self.fixed(off)?))
    }
    /// `bigint` at `off`.
    pub fn i64(&self, off: usize) -> Result<i64> {
        Ok(i64::from_le_bytes(self.fixed(off)?))
    }
    /// A 6-byte page pointer at `off`.
    pub fn page(&self, off: usize) -> Result<PageId> {
        Ok(PageId::from_bytes(&self.fixed::<6>(off)?).expect("6 bytes"))
    }
    /// `char(2)` at `off`, trimmed.
    pub fn char2(&self, off: usize) -> Result<String> {
        Ok(String::from_utf8_lossy(&self.fixed::<2>(off)?).trim().to_string())
    }
    /// True when the fixed part reaches `off + len` (columns added by later versions).
    pub fn has(&self, off: usize, len: usize) -> bool {
        self.rec.fixed(off, len).is_some()
    }
    /// Variable column `i` as a `sysname`/`nvarchar` (UTF-16LE); NULL → "". A column past
    /// the offset array is zero-length (trailing empty values are not stored).
    pub fn name(&self, i: usize, null_bit: usize) -> Result<String> {
        if self.rec.is_null(null_bit) {
            return Ok(String::new());
        }
        match self.rec.var(i) {
            Some((b, false)) => utf16(b, self.table),
            Some((_, true)) => Err(Error::catalog(format!("{}: name stored off-row", self.table))),
            None => Ok(String::new()),
        }
    }
    /// Variable column `i` as bytes, reassembling off-row values; `None` when NULL (or
    /// lacking: a column added by a later version). A column past the offset array is
    /// zero-length, not NULL (trailing empty values are not stored).
    pub fn bytes(&self, i: usize, null_bit: usize, lobs: &mut dyn LobPages) -> Result<Option<Vec<u8>>> {
        if self.rec.is_null(null_bit) {
            return Ok(None);
        }
        match self.rec.var(i) {
            None => Ok(Some(Vec::new())),
            Some((b, false)) => Ok(Some(b.to_vec())),
            Some((b, true)) => {
                let mut out = Vec::new();
                lob::read_links(lobs, b, &mut out)?;
                Ok(Some(out))
            }
        }
    }
}

/// Decodes UTF-16LE catalog text.
pub fn utf16(b: &[u8], table: &str) -> Result<String> {
    if !b.len().is_multiple_of(2) {
        return Err(Error::catalog(format!("{table}: odd-length UTF-16 name")));
    }
    let units: Vec<u16> = b.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16(&units).map_err(|_| Error::catalog(format!("{table}: invalid UTF-16 name")))
}

/// `sysallocunits` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocUnit {
    /// `auid`.
    pub id: u64,
    /// `type`: 1 in-row data, 2 LOB data, 3 row-overflow data.
    pub kind: u8,
    /// `ownerid`: the rowset (`sysrowsets.rowsetid`).
    pub owner: i64,
    /// `pgfirst`.
    pub first_page: PageId,
    /// `pgroot`.
    pub root_page: PageId,
    /// `pgfirstiam`.
    pub first_iam: PageId,
    /// `pcused`: pages used.
    pub used_pages: i64,
}

impl AllocUnit {
    /// Layout: auid bigint @4, type tinyint @12, ownerid bigint @13, status int @21,
    /// fgid smallint @25, pgfirst @27, pgroot @33, pgfirstiam @39, pcused bigint @45.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(AllocUnit {
            id: r.i64(4)? as u64,
            kind: r.u8(12)?,
            owner: r.i64(13)?,
            first_page: r.page(27)?,
            root_page: r.page(33)?,
            first_iam: r.page(39)?,
            used_pages: r.i64(45)?,
        })
    }
}

/// `sysrowsets` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rowset {
    /// `rowsetid`.
    pub id: i64,
    /// `idmajor`: object id.
    pub object_id: i32,
    /// `idminor`: index id.
    pub index_id: i32,
    /// `numpart`: partition number.
    pub partition: i32,
    /// `status`.
    pub status: i32,
    /// `rcrows`: row count as SQL Server last recorded it.
    pub rows: i64,
    /// `cmprlevel` (2008+; 0 in 2005, which has no data compression).
    pub compression: u8,
}

impl Rowset {
    /// Layout: rowsetid bigint @4, ownertype tinyint @12, idmajor int @13, idminor int @17,
    /// numpart int @21, status int @25, fgidfs smallint @29, rcrows bigint @31,
    /// cmprlevel tinyint @39 (absent in 2005).
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(Rowset {
            id: r.i64(4)?,
            object_id: r.i32(13)?,
            index_id: r.i32(17)?,
            partition: r.i32(21)?,
            status: r.i32(25)?,
            rows: r.i64(31)?,
            compression: if r.has(39, 1) { r.u8(39)? } else { 0 },
        })
    }
}

/// Physical layout of one column of a rowset (`sysrscols`, or `syshobtcolumns` in 2005).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RsCol {
    /// Rowset (or HoBT) id.
    pub rowset: i64,
    /// Partition column id; equals the table's `column_id` for user columns.
    pub column_id: i32,
    /// `hbcolid`.
    pub hobt_column_id: i32,
    /// Leaf-level offset: > 0 byte offset of a fixed column, < 0 `-(n)` for the n-th
    /// variable column (1-based).
    pub leaf_offset: i16,
    /// 1-based position in the null bitmap (0: none).
    pub null_bit: u16,
    /// Bit position within the byte, for `bit` columns.
    pub bit_pos: u8,
    /// Status bits: 0x2 dropped, 0x10 uniquifier, 0x80 NOT NULL (2008+), 0x100 sparse.
    pub status: i32,
    /// True when this came from `syshobtcolumns` (2005), whose status bits differ.
    pub legacy: bool,
}

impl RsCol {
    /// `sysrscols` (2008+): rsid bigint @4, rscolid int @12, hbcolid int @16, rcmodified
    /// bigint @20, ti int @28, cid int @32, ordkey smallint @36, maxinrowlen smallint @38,
    /// status int @40, offset int @44 (leaf offset in the low 16 bits), nullbit int @48
    /// (leaf null bit in the low 16 bits), bitpos smallint @52 (leaf bit in the low byte),
    /// per the definition of `sys.system_internals_partition_columns`.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(RsCol {
            rowset: r.i64(4)?,
            column_id: r.i32(12)?,
            hobt_column_id: r.i32(16)?,
            status: r.i32(40)?,
            leaf_offset: (r.i32(44)? & 0xffff) as u16 as i16,
            null_bit: (r.i32(48)? & 0xffff) as u16,
            bit_pos: (r.i16(52)? & 0xff) as u8,
            legacy: false,
        })
    }

    /// `syshobtcolumns` (2005): hobtid bigint @4, hobtcolid int @12, status int @16,
    /// ordkey smallint @20, type tinyint @22, length smallint @23, prec @25, scale @26,
    /// collation int @27, leaf offset smallint @31, internal offset smallint @33,
    /// bit position smallint @35, null bit int @37 (low 16 bits leaf). The caller maps
    /// the HoBT column id to the rowset column id through `sysrowsetcolumns`.
    pub fn decode_2005(r: &Row) -> Result<Self> {
        Ok(RsCol {
            rowset: r.i64(4)?,
            column_id: r.i32(12)?,
            hobt_column_id: r.i32(12)?,
            status: r.i32(16)?,
            leaf_offset: r.i16(31)?,
            null_bit: (r.i32(37)? & 0xffff) as u16,
            bit_pos: (r.i16(35)? & 0xff) as u8,
            legacy: true,
        })
    }

    /// A dropped column (still occupying bytes in old rows).
    pub fn dropped(&self) -> bool {
        !self.legacy && self.status & 0x2 != 0
    }
    /// The uniquifier of a non-unique clustered index.
    pub fn uniquifier(&self) -> bool {
        !self.legacy && self.status & 0x10 != 0
    }
    /// Stored in the sparse column vector.
    pub fn sparse(&self) -> bool {
        !self.legacy && self.status & 0x100 != 0
    }
}

/// `sysrowsetcolumns` row (2005): rsid bigint @4, rscolid int @12, hbcolid int @16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowsetColumn {
    /// Rowset id.
    pub rowset: i64,
    /// Rowset column id (= column id).
    pub column_id: i32,
    /// HoBT column id.
    pub hobt_column_id: i32,
}

impl RowsetColumn {
    /// Decodes a `sysrowsetcolumns` row.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(RowsetColumn { rowset: r.i64(4)?, column_id: r.i32(12)?, hobt_column_id: r.i32(16)? })
    }
}

/// `sysschobjs` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchObj {
    /// `id`: object id.
    pub id: i32,
    /// `name`.
    pub name: String,
    /// `nsid`: schema id.
    pub schema_id: i32,
    /// `nsclass`.
    pub ns_class: u8,
    /// `status`.
    pub status: i32,
    /// `type`, trimmed (`U`, `V`, `P`, `PK`, `F`, `D`, `C`, …).
    pub kind: String,
    /// `pid`: parent object.
    pub parent: i32,
    /// `pclass`.
    pub parent_class: u8,
    /// `intprop`.
    pub intprop: i32,
}

impl SchObj {
    /// Layout: id int @4, name var 0, nsid int @8, nsclass tinyint @12, status int @13,
    /// type char(2) @17, pid int @19, pclass tinyint @23, intprop int @24.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(SchObj {
            id: r.i32(4)?,
            name: r.name(0, 2)?,
            schema_id: r.i32(8)?,
            ns_class: r.u8(12)?,
            status: r.i32(13)?,
            kind: r.char2(17)?,
            parent: r.i32(19)?,
            parent_class: r.u8(23)?,
            intprop: r.i32(24)?,
        })
    }
}

/// `syscolpars` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColPar {
    /// `id`: owning object.
    pub object_id: i32,
    /// `number`: 0 for columns (parameters of procedures use others).
    pub number: i16,
    /// `colid`.
    pub column_id: i32,
    /// `name`.
    pub name: String,
    /// `xtype`: system type id.
    pub xtype: u8,
    /// `utype`: user type id.
    pub utype: i32,
    /// `length`: max length in bytes (-1 for max).
    pub length: i16,
    /// `prec`.
    pub precision: u8,
    /// `scale`.
    pub scale: u8,
    /// `collationid`.
    pub collation_id: u32,
    /// `status`: 0x1 NOT NULL, 0x4 identity, 0x8 ROWGUIDCOL, 0x10 computed, 0x1000000 sparse,
    /// 0x2000000 column set (per OrcaMDF's `sys.columns` definition).
    pub status: i32,
    /// `dflt`: default constraint object id.
    pub default_object: i32,
    /// `idtval`: identity seed/increment/last value, when identity.
    pub identity_value: Option<Vec<u8>>,
}

impl ColPar {
    /// Layout: id int @4, number smallint @8, colid int @10, name var 0, xtype tinyint @14,
    /// utype int @15, length smallint @19, prec @21, scale @22, collationid int @23,
    /// status int @27, maxinrow smallint @31, xmlns int @33, dflt int @37, chk int @41,
    /// idtval var 1.
    pub fn decode(r: &Row, lobs: &mut dyn LobPages) -> Result<Self> {
        Ok(ColPar {
            object_id: r.i32(4)?,
            number: r.i16(8)?,
            column_id: r.i32(10)?,
            name: r.name(0, 4)?,
            xtype: r.u8(14)?,
            utype: r.i32(15)?,
            length: r.i16(19)?,
            precision: r.u8(21)?,
            scale: r.u8(22)?,
            collation_id: r.i32(23)? as u32,
            status: r.i32(27)?,
            default_object: r.i32(37)?,
            identity_value: r.bytes(1, 16, lobs)?,
        })
    }
}

/// `sysidxstats` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxStat {
    /// `id`: table.
    pub object_id: i32,
    /// `indid`.
    pub index_id: i32,
    /// `name`.
    pub name: String,
    /// `status`: 0x1 index (not statistics), 0x8 unique, 0x10 padded, 0x20 primary key,
    /// 0x40 unique constraint, 0x80 disabled, 0x100 hypothetical, 0x20000 filtered.
    pub status: i32,
    /// `type`: 0 heap, 1 clustered, 2 nonclustered, 3 XML, 4 spatial, 5 clustered
    /// columnstore, 6 nonclustered columnstore, 7 hash.
    pub kind: u8,
}

impl IdxStat {
    /// Layout: id int @4, indid int @8, name var 0, status int @12, intprop int @16,
    /// fillfact tinyint @20, type tinyint @21.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(IdxStat {
            object_id: r.i32(4)?,
            index_id: r.i32(8)?,
            name: r.name(0, 3)?,
            status: r.i32(12)?,
            kind: r.u8(21)?,
        })
    }
}

/// `sysiscols` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsCol {
    /// `idmajor`: table (or constraint).
    pub object_id: i32,
    /// `idminor`: index id.
    pub index_id: i32,
    /// `subid`: position.
    pub position: i32,
    /// `status`: 0x2 index column (not statistics), 0x4 descending, 0x10 included.
    pub status: i32,
    /// `intprop`: column id.
    pub column_id: i32,
    /// `tinyprop1`: key ordinal.
    pub key_ordinal: u8,
}

impl IsCol {
    /// Layout: idmajor int @4, idminor int @8, subid int @12, status int @16, intprop int @20,
    /// tinyprop1 tinyint @24, tinyprop2 tinyint @25.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(IsCol {
            object_id: r.i32(4)?,
            index_id: r.i32(8)?,
            position: r.i32(12)?,
            status: r.i32(16)?,
            column_id: r.i32(20)?,
            key_ordinal: r.u8(24)?,
        })
    }
}

/// `sysobjvalues` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjValue {
    /// `valclass`.
    pub class: u8,
    /// `objid`.
    pub object_id: i32,
    /// `subobjid`.
    pub sub_id: i32,
    /// `valnum`.
    pub number: i32,
    /// `value` (sql_variant), raw.
    pub value: Option<Vec<u8>>,
    /// `imageval`: the definition text (UTF-16LE) for modules, defaults, checks…
    pub image: Option<Vec<u8>>,
}

impl ObjValue {
    /// Layout: valclass tinyint @4, objid int @5, subobjid int @9, valnum int @13,
    /// value sql_variant var 0, imageval varbinary(max) var 1.
    pub fn decode(r: &Row, lobs: &mut dyn LobPages) -> Result<Self> {
        Ok(ObjValue {
            class: r.u8(4)?,
            object_id: r.i32(5)?,
            sub_id: r.i32(9)?,
            number: r.i32(13)?,
            value: r.bytes(0, 5, lobs)?,
            image: r.bytes(1, 6, lobs)?,
        })
    }
}

/// `sysseobjvalues` row (SQL Server 2012+).
///
/// With `valclass` 1 (`SEVC_OUT_OF_ROW_DEFAULT`), `id` a rowset id and `subid` a HoBT
/// column id of it, `value` is the value rows written before that column was added hold:
/// `sys.system_internals_partition_columns` joins these columns this way for its
/// `has_default` (value not NULL) and `default_value` (per the view's definition in SQL
/// Server 2022 and 2025). No fixture holds such a row (every 2012+ fixture's object 9 is
/// empty), so [`crate::catalog::build`] checks what it reads against the rowset's columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeObjValue {
    /// `valclass`.
    pub class: u8,
    /// `id`: the rowset, for class 1.
    pub id: i64,
    /// `subid`: the HoBT column id, for class 1.
    pub sub_id: i64,
    /// `valnum`.
    pub number: i32,
    /// `value` (sql_variant), raw; `None` when NULL.
    pub value: Option<Vec<u8>>,
}

/// The `sysseobjvalues` value class of a column's out-of-row default.
pub const SEVC_OUT_OF_ROW_DEFAULT: u8 = 1;

impl SeObjValue {
    /// Layout (declared columns `valclass tinyint, id bigint, subid bigint, valnum int,
    /// value sql_variant, imageval varbinary(max)`, fixed columns packed from offset 4):
    /// valclass @4, id @5, subid @13, valnum @21, value var 0 (null bit 5).
    pub fn decode(r: &Row, lobs: &mut dyn LobPages) -> Result<Self> {
        Ok(SeObjValue {
            class: r.u8(4)?,
            id: r.i64(5)?,
            sub_id: r.i64(13)?,
            number: r.i32(21)?,
            value: r.bytes(0, 5, lobs)?,
        })
    }
}

/// `sysxprops` row: one extended property (`sys.extended_properties`: `class`,
/// `major_id` = `id`, `minor_id` = `subid`, `name`, `value`).
///
/// Classes as `sys.extended_properties` documents them: 0 database, 1 object or column
/// (`subid` = column id, 0 for the object itself), 2 parameter, 3 schema, 4 database
/// principal, 5 assembly, 6 type, 7 index, 8 user-type column, 10 XML schema collection,
/// 15 message type, 16 service contract, 17 service, 18 remote service binding, 19 route,
/// 20 dataspace, 21 partition function, 22 database file, 27 plan guide.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XProp {
    /// `class`.
    pub class: u8,
    /// `id`: the major id (object, schema, … by class).
    pub id: i32,
    /// `subid`: the minor id (column id for class 1).
    pub sub_id: i32,
    /// `name` (`MS_Description`, …).
    pub name: String,
    /// `value` (sql_variant), raw; `None` when NULL.
    pub value: Option<Vec<u8>>,
}

impl XProp {
    /// Layout (declared columns `class tinyint, id int, subid int, name sysname, value
    /// sql_variant`, fixed columns packed from offset 4): class @4, id @5, subid @9, name
    /// var 0 (null bit 4), value var 1 (null bit 5). Read from the fixtures'
    /// rows (`MS_Description`, `MS_DiagramPane1`, `microsoft_database_tools_support`).
    pub fn decode(r: &Row, lobs: &mut dyn LobPages) -> Result<Self> {
        Ok(XProp {
            class: r.u8(4)?,
            id: r.i32(5)?,
            sub_id: r.i32(9)?,
            name: r.name(0, 4)?,
            value: r.bytes(1, 5, lobs)?,
        })
    }
}

/// `syssingleobjrefs` row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SingleObjRef {
    /// `class`.
    pub class: u8,
    /// `depid`.
    pub dep_id: i32,
    /// `depsubid`.
    pub dep_sub_id: i32,
    /// `indepid`.
    pub indep_id: i32,
    /// `indepsubid`.
    pub indep_sub_id: i32,
}

impl SingleObjRef {
    /// Layout: class tinyint @4, depid int @5, depsubid int @9, indepid int @13,
    /// indepsubid int @17, status int @21.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(SingleObjRef {
            class: r.u8(4)?,
            dep_id: r.i32(5)?,
            dep_sub_id: r.i32(9)?,
            indep_id: r.i32(13)?,
            indep_sub_id: r.i32(17)?,
        })
    }
}

/// `sysclsobjs` row (schemas are class 50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClsObj {
    /// `class`.
    pub class: u8,
    /// `id`.
    pub id: i32,
    /// `name`.
    pub name: String,
}

impl ClsObj {
    /// Layout: class tinyint @4, id int @5, name var 0, status int @9, type char(2) @13.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(ClsObj { class: r.u8(4)?, id: r.i32(5)?, name: r.name(0, 3)? })
    }
}

/// `sysscalartypes` row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalarType {
    /// `id`: user type id.
    pub id: i32,
    /// `schid`.
    pub schema_id: i32,
    /// `name`.
    pub name: String,
    /// `xtype`: base system type.
    pub xtype: u8,
    /// `length`.
    pub length: i16,
}

impl ScalarType {
    /// Layout: id int @4, schid int @8, name var 0, xtype tinyint @12, length smallint @13.
    pub fn decode(r: &Row) -> Result<Self> {
        Ok(ScalarType {
            id: r.i32(4)?,
            schema_id: r.i32(8)?,
            name: r.name(0, 3)?,
            xtype: r.u8(12)?,
            length: r.i16(13)?,
        })
    }
}
