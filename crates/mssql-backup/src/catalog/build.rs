//! Assembling the logical schema ([`crate::schema::Database`]) and each table's physical
//! layout from the base-table rows.
//!
//! Catalog facts used here (per the definitions of the `sys.*` views as OrcaMDF reproduces
//! them, and checked on the fixtures):
//! - user tables are `sysschobjs` rows of type `U`; schemas are `sysclsobjs` class 50;
//! - columns are `syscolpars` rows with `number` 0; `status` 0x1 NOT NULL, 0x4 identity,
//!   0x8 ROWGUIDCOL, 0x10 computed, 0x1000000 sparse, 0x2000000 column set;
//! - `syscolpars.idtval` is `[last value][increment][seed]` (each the column's width) and
//!   a flag byte whose bit 0 says no value was generated yet (a Service Broker queue's
//!   `bigint` identity reads 0, 1, 0: IDENTITY(0,1));
//! - definitions (defaults, checks, computed columns, modules) are `sysobjvalues` rows of
//!   class 1, keyed by object id and sub-id (column id for computed columns), stored as
//!   SCSU text (decoded by the crate's `scsu` module);
//! - indexes are `sysidxstats` rows with status bit 0x1 (0x8 unique, 0x20 primary key,
//!   0x40 unique constraint, 0x80 disabled, 0x100 hypothetical, 0x20000 filtered) and their
//!   columns `sysiscols` rows with status bit 0x2 (0x4 descending, 0x10 included);
//! - a foreign key (`sysschobjs` type `F`, status 0x100 disabled, 0x400 not trusted, update
//!   action `(status >> 12) & 3`, delete action `(status >> 14) & 3`) references its table
//!   through `syssingleobjrefs` class 27; classes 28 and 29 give, per column ordinal, the
//!   referencing and referenced column ids.

use std::collections::{BTreeMap, HashMap};

use super::RawCatalog;
use super::raw::{AllocUnit, ColPar, RsCol};
use crate::schema::{
    CheckConstraint, Column, Compression, Computed, Database, DefaultConstraint, DescribedObject, Description,
    DescriptionTarget, FkAction, ForeignKey, Identity, Index, IndexColumn, IndexKind, KeyConstraint, MS_DESCRIPTION,
    Module, ModuleKind, ObjectRef, Storage, StorageKind, Table, UnreadableDefinition,
};
use crate::types::{Collation, SqlType};
use crate::{Error, Result, collation, scsu};

/// Where a column's value lives in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnPlace {
    /// `len` bytes at record offset `offset` of the fixed part.
    Fixed {
        /// Byte offset in the record.
        offset: u16,
        /// Length in bytes.
        len: u16,
    },
    /// Bit `bit` of the byte at record offset `offset`.
    Bit {
        /// Byte offset in the record.
        offset: u16,
        /// Bit number in that byte (0 = least significant).
        bit: u8,
    },
    /// The `index`-th variable-length column (0-based).
    Var {
        /// Position among the variable-length columns (0-based).
        index: u16,
    },
    /// Inside the sparse column vector, under this column id.
    Sparse {
        /// Column id in the sparse column vector.
        column_id: u16,
    },
    /// Not stored in the row (a computed column that is not persisted, a column set).
    NotStored,
}

/// Physical layout of one column of the table, in the table's column order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnLayout {
    /// Where the value is.
    pub place: ColumnPlace,
    /// 1-based null bitmap position (0: the column has none).
    pub null_bit: u16,
}

/// One rowset (partition) of a table's heap or clustered index.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsetLayout {
    /// `sysrowsets.rowsetid`.
    pub rowset_id: i64,
    /// In-row data allocation unit.
    pub in_row: Option<AllocUnit>,
    /// LOB data allocation unit.
    pub lob: Option<AllocUnit>,
    /// Row-overflow data allocation unit.
    pub overflow: Option<AllocUnit>,
    /// Column layouts in the table's column order.
    pub columns: Vec<ColumnLayout>,
    /// Per column (table order): the value of rows written before the column was added,
    /// when the catalog keeps one (SQL Server 2012+ adds a column with a runtime-constant
    /// default without rewriting the rows); empty or `None` otherwise.
    pub added_defaults: Vec<Option<crate::value::Value>>,
    /// `sysrowsets.rcrows`.
    pub rows_hint: i64,
}

/// Physical layout of a table: its base rowsets.
#[derive(Debug, Clone, PartialEq)]
pub struct TableLayout {
    /// Object id.
    pub object_id: i32,
    /// Heap (index 0) or clustered index (index 1) rowsets, one per partition.
    pub rowsets: Vec<RowsetLayout>,
}

/// A column's type as SQL Server stores it in its catalog (`syscolpars`, and the
/// `sys.columns` view over it), before [`SqlType::from_stored`] names it. Every field is
/// the catalog's own, so a live server's `sys.columns` row fills it as well.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StoredType {
    /// `system_type_id` (`syscolpars.xtype`): 56 `int`, 231 `nvarchar`, 240 CLR types…
    pub system_type_id: u8,
    /// `user_type_id` (`syscolpars.utype`): names alias and CLR types
    /// (128 `hierarchyid`, 129 `geometry`, 130 `geography`).
    pub user_type_id: i32,
    /// `max_length` in bytes (`syscolpars.length`); -1 for `(max)`.
    pub max_length: i16,
    /// `precision` (`syscolpars.prec`).
    pub precision: u8,
    /// `scale` (`syscolpars.scale`).
    pub scale: u8,
    /// `collation_id` (`syscolpars.collationid`, `COLLATIONPROPERTY(…, 'CollationID')`);
    /// 0 for non-character types.
    pub collation_id: u32,
}

impl SqlType {
    /// The type a column declares, from its stored type ids: `syscolpars` in a backup, or
    /// `sys.columns` of a live SQL Server (the same values). `type_names` maps user type
    /// ids to names (`sys.types`); it names CLR types and types this crate does not know.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Catalog`] for a collation id that is not known.
    pub fn from_stored(c: &StoredType, type_names: &HashMap<i32, String>) -> Result<SqlType> {
        let coll = || -> Result<Collation> { collation::lookup(c.collation_id) };
        let var_len = |len: i16| if len == -1 { None } else { Some(len as u16) };
        Ok(match c.system_type_id {
            34 => SqlType::Image,
            35 => SqlType::Text { collation: coll()? },
            36 => SqlType::UniqueIdentifier,
            40 => SqlType::Date,
            41 => SqlType::Time { scale: c.scale },
            42 => SqlType::DateTime2 { scale: c.scale },
            43 => SqlType::DateTimeOffset { scale: c.scale },
            48 => SqlType::TinyInt,
            52 => SqlType::SmallInt,
            56 => SqlType::Int,
            58 => SqlType::SmallDateTime,
            59 => SqlType::Real,
            60 => SqlType::Money,
            61 => SqlType::DateTime,
            62 => SqlType::Float,
            98 => SqlType::SqlVariant,
            99 => SqlType::NText { collation: coll()? },
            104 => SqlType::Bit,
            106 => SqlType::Decimal { precision: c.precision, scale: c.scale, numeric: false },
            108 => SqlType::Decimal { precision: c.precision, scale: c.scale, numeric: true },
            122 => SqlType::SmallMoney,
            127 => SqlType::BigInt,
            165 => SqlType::VarBinary { len: var_len(c.max_length) },
            167 => SqlType::VarChar { len: var_len(c.max_length), collation: coll()? },
            173 => SqlType::Binary { len: c.max_length as u16 },
            175 => SqlType::Char { len: c.max_length as u16, collation: coll()? },
            189 => SqlType::RowVersion,
            231 => SqlType::NVarChar { len: var_len(c.max_length).map(|n| n / 2), collation: coll()? },
            239 => SqlType::NChar { len: c.max_length as u16 / 2, collation: coll()? },
            241 => SqlType::Xml,
            240 => match c.user_type_id {
                128 => SqlType::HierarchyId,
                129 => SqlType::Geometry,
                130 => SqlType::Geography,
                u => SqlType::Clr {
                    name: type_names.get(&u).cloned().unwrap_or_else(|| format!("clr type {u}")),
                    max_length: c.max_length,
                },
            },
            other => SqlType::Unknown {
                type_id: other,
                name: type_names.get(&c.user_type_id).cloned().unwrap_or_else(|| format!("type {other}")),
                max_length: c.max_length,
            },
        })
    }
}

/// A `syscolpars` row's type columns.
fn stored_type(c: &ColPar) -> StoredType {
    StoredType {
        system_type_id: c.xtype,
        user_type_id: c.utype,
        max_length: c.length,
        precision: c.precision,
        scale: c.scale,
        collation_id: c.collation_id,
    }
}

/// Decodes `idtval` (see the module docs).
fn identity(bytes: &[u8], ty: &SqlType) -> Option<Identity> {
    if bytes.is_empty() || !(bytes.len() - 1).is_multiple_of(3) {
        return None;
    }
    let w = (bytes.len() - 1) / 3;
    let num = |b: &[u8]| -> i128 {
        match ty {
            SqlType::TinyInt => i128::from(b[0]),
            SqlType::Decimal { .. } => {
                // decimal/numeric(p,0): sign byte (1 = positive) and little-endian magnitude.
                let mut m = 0i128;
                for (k, byte) in b[1..].iter().enumerate().take(15) {
                    m |= i128::from(*byte) << (8 * k);
                }
                if b[0] == 1 { m } else { -m }
            }
            _ => {
                let mut v = [0u8; 16];
                v[..w.min(16)].copy_from_slice(&b[..w.min(16)]);
                let sign = if b[w - 1] & 0x80 != 0 { 0xff } else { 0 };
                for x in v.iter_mut().skip(w) {
                    *x = sign;
                }
                i128::from_le_bytes(v)
            }
        }
    };
    let last = num(&bytes[..w]);
    let increment = num(&bytes[w..2 * w]);
    let seed = num(&bytes[2 * w..3 * w]);
    let unused = bytes[3 * w] & 1 != 0;
    Some(Identity { seed, increment, last_value: if unused { None } else { Some(last) } })
}

fn unreadable_definition(kind: &str, table: Option<&str>, object: &str, e: &Error) -> UnreadableDefinition {
    UnreadableDefinition {
        kind: kind.into(),
        table: table.map(String::from),
        object: object.into(),
        reason: e.message.clone(),
    }
}

/// The value rows written before `col` was added hold, when SQL Server keeps one for it
/// (see [`super::raw::SeObjValue`]): decoded from its `sql_variant`, whose base type must be the
/// column's own (SQL Server converts the default to the column's type when it stores it;
/// anything else is refused rather than guessed at).
///
/// # Errors
/// [`crate::ErrorKind::Catalog`] for a value that does not decode or is not of the
/// column's type.
fn added_default_of(
    raw: &RawCatalog,
    rowset: i64,
    hobt_column: i32,
    col: &Column,
) -> Result<Option<crate::value::Value>> {
    use crate::value::Value;
    let Some(v) = raw.seobjvalues.iter().find(|v| {
        v.class == super::raw::SEVC_OUT_OF_ROW_DEFAULT
            && v.number == 0
            && v.id == rowset
            && v.sub_id == i64::from(hobt_column)
    }) else {
        return Ok(None);
    };
    let Some(bytes) = &v.value else { return Ok(None) };
    let decoded = crate::variant::decode_variant(bytes, &mut crate::value::DecodeStats::default())
        .map_err(|e| Error::catalog(format!("the default of rows written before it was added: {}", e.message)))?;
    let Value::Variant(inner) = decoded else { unreachable!("decode_variant returns a variant") };
    let (base, value) = *inner;
    let same = match (&base, &col.ty) {
        (SqlType::Decimal { scale: a, .. }, SqlType::Decimal { scale: b, .. }) => a == b,
        (SqlType::Time { scale: a }, SqlType::Time { scale: b })
        | (SqlType::DateTime2 { scale: a }, SqlType::DateTime2 { scale: b })
        | (SqlType::DateTimeOffset { scale: a }, SqlType::DateTimeOffset { scale: b }) => a == b,
        (SqlType::Char { len: a, .. }, SqlType::Char { len: b, .. })
        | (SqlType::NChar { len: a, .. }, SqlType::NChar { len: b, .. })
        | (SqlType::Binary { len: a }, SqlType::Binary { len: b }) => a == b,
        (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
    };
    if !same {
        return Err(Error::catalog(format!(
            "the default of rows written before it was added is stored as {}, the column is {}",
            base.sql_name(),
            col.ty.sql_name()
        )));
    }
    Ok(Some(value))
}

/// The `MS_Description` extended properties of `raw.xprops` (any case of the name, as
/// SQL Server's case-insensitive catalog matches it; NULL values left out: they describe
/// nothing), with what they describe resolved to names. Classes per
/// `sys.extended_properties`: 0 database, 1 object or column, 3 schema, 7 index; others are
/// kept as `Other` with their ids.
fn descriptions(
    raw: &RawCatalog,
    objects: &HashMap<i32, &super::raw::SchObj>,
    colpars: &HashMap<i32, Vec<&ColPar>>,
    schema_name: &dyn Fn(i32) -> String,
) -> Vec<Description> {
    let mut out = Vec::new();
    let mut props: Vec<_> = raw.xprops.iter().filter(|x| x.name.eq_ignore_ascii_case(MS_DESCRIPTION)).collect();
    // The order `sys.extended_properties` is read in by the sqlserver engine.
    props.sort_by_key(|x| (x.class, x.id, x.sub_id));
    for x in props {
        let Some(bytes) = &x.value else { continue };
        let text = match crate::variant::decode_variant(bytes, &mut crate::value::DecodeStats::default()) {
            Ok(crate::value::Value::Variant(inner)) => match *inner {
                (_, crate::value::Value::String(s)) => Ok(s),
                (base, _) => Err(format!("a sql_variant holding {}, not text", base.sql_name())),
            },
            Ok(_) => Err("not a sql_variant".to_string()),
            Err(e) => Err(format!("its value cannot be decoded: {}", e.message)),
        };
        let object = objects.get(&x.id).filter(|_| matches!(x.class, 1 | 7));
        let schema = object.map(|o| schema_name(o.schema_id));
        let described = object.zip(schema.as_deref()).map(|(o, schema)| DescribedObject {
            schema,
            name: &o.name,
            kind: &o.kind,
            user_table: o.kind == "U" && o.ns_class == 0 && o.parent_class == 1 && o.status & 1 == 0,
        });
        let column = (x.class == 1)
            .then(|| colpars.get(&x.id).and_then(|cs| cs.iter().find(|c| c.column_id == x.sub_id)))
            .flatten()
            .map(|c| c.name.as_str());
        let class_schema = (x.class == 3)
            .then(|| raw.clsobjs.iter().find(|c| c.class == 50 && c.id == x.id).map(|c| c.name.as_str()))
            .flatten();
        let target = DescriptionTarget::of(x.class, x.id, x.sub_id, described, column, class_schema);
        out.push(Description { target, text });
    }
    out
}

/// The text of a definition stored in `sysobjvalues` (`imageval`), by its `value`: a
/// `sql_variant` `int` (base type 0x38, version 1) saying how the text is stored.
///
/// - 2: SCSU-compressed UTF-16 ([`crate::scsu`]): every definition of 23 fixtures;
/// - 0: plain UTF-16LE: 10 definitions of `library-neon4e-view-sql2012.bak` (a database
///   created on SQL Server 2000), each starting `2d 00 2d 00` or `63 00 72 00` ("--",
///   "cr");
/// - anything else is refused by name (the caller lists the object as unreadable).
fn definition_text(bytes: &[u8], marker: Option<&[u8]>) -> Result<String> {
    match marker {
        Some([0x38, 0x01, 2, 0, 0, 0]) | None => scsu::decode(bytes),
        Some([0x38, 0x01, 0, 0, 0, 0]) => {
            if !bytes.len().is_multiple_of(2) {
                return Err(Error::corrupt(format!("plain UTF-16 definition of odd length {}", bytes.len())));
            }
            let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
            String::from_utf16(&units).map_err(|_| Error::corrupt("plain UTF-16 definition with an unpaired surrogate"))
        }
        Some(other) => {
            Err(Error::unsupported(format!("a definition stored in an unknown form (its value is {other:02x?})")))
        }
    }
}

/// What [`build`] returns.
#[derive(Debug)]
pub struct Built {
    /// The schema model.
    pub database: Database,
    /// The tables' physical layouts, in the order of `database.tables`.
    pub layouts: Vec<TableLayout>,
    /// For salvage reads, the tables that could not be described (their catalog pages
    /// are missing); empty otherwise.
    pub undescribed: Vec<String>,
    /// For salvage reads, the system tables' pages and rows that were missing and skipped
    /// ([`RawCatalog::skipped`]): objects, columns or indexes they held are absent from
    /// `database`; empty otherwise.
    pub catalog_skips: Vec<String>,
}

/// Builds the schema model and the physical layouts from the raw system tables.
/// `db_name` and `db_collation` come from the boot page or the backup header.
///
/// # Errors
/// [`crate::ErrorKind::Catalog`] for an inconsistent catalog (a table without columns, a
/// column without physical layout, an unknown collation, an impossible type); with
/// `salvage`, tables that cannot be described are listed instead.
pub fn build(raw: &RawCatalog, db_name: &str, db_collation: Option<Collation>, salvage: bool) -> Result<Built> {
    let schemas: HashMap<i32, &str> =
        raw.clsobjs.iter().filter(|c| c.class == 50).map(|c| (c.id, c.name.as_str())).collect();
    let schema_name = |id: i32| schemas.get(&id).map(|s| s.to_string()).unwrap_or_else(|| format!("schema_{id}"));
    let type_names: HashMap<i32, String> = raw.scalartypes.iter().map(|t| (t.id, t.name.clone())).collect();
    let objects: HashMap<i32, &super::raw::SchObj> = raw.objects.iter().map(|o| (o.id, o)).collect();
    let mut values: HashMap<(i32, i32), &super::raw::ObjValue> = HashMap::new();
    for v in raw.objvalues.iter().filter(|v| v.class == 1 && v.number == 0) {
        values.insert((v.object_id, v.sub_id), v);
    }
    let text_of = |obj: i32, sub: i32| -> Result<Option<String>> {
        match values.get(&(obj, sub)).and_then(|v| v.image.as_ref().map(|img| (img, v.value.as_deref()))) {
            Some((img, marker)) => {
                definition_text(img, marker).map(Some).map_err(|e| e.context(format!("definition of object {obj}")))
            }
            None => Ok(None),
        }
    };
    let mut colpars: HashMap<i32, Vec<&ColPar>> = HashMap::new();
    for c in raw.colpars.iter().filter(|c| c.number == 0) {
        colpars.entry(c.object_id).or_default().push(c);
    }
    for v in colpars.values_mut() {
        v.sort_by_key(|c| c.column_id);
    }
    let mut rscols: HashMap<i64, Vec<&RsCol>> = HashMap::new();
    for c in &raw.rscols {
        rscols.entry(c.rowset).or_default().push(c);
    }

    let mut tables = Vec::new();
    let mut layouts = Vec::new();
    let mut modules = Vec::new();
    let mut other_objects = Vec::new();
    let user_tables: Vec<&super::raw::SchObj> = raw
        .objects
        .iter()
        .filter(|o| o.kind == "U" && o.ns_class == 0 && o.parent_class == 1 && o.status & 1 == 0)
        .collect();

    let mut unreadable = Vec::new();
    let mut unreadable_defs: Vec<UnreadableDefinition> = Vec::new();
    // (rowset, HoBT column) of every out-of-row default used, and every base rowset read:
    // a default row naming a column of such a rowset that is not there means the layout
    // of sysseobjvalues was misread.
    let mut defaults_used: Vec<(i64, i64)> = Vec::new();
    let mut base_rowsets: Vec<i64> = Vec::new();
    for t in user_tables {
        let mut one = || -> Result<(Table, TableLayout)> {
            let ctx = |e: Error| e.context(format!("table {}.{}", schema_name(t.schema_id), t.name));
            let table_name = format!("{}.{}", schema_name(t.schema_id), t.name);
            let cols = colpars.get(&t.id).ok_or_else(|| ctx(Error::catalog("no columns in syscolpars")))?;
            let mut columns = Vec::with_capacity(cols.len());
            for c in cols {
                let ty = SqlType::from_stored(&stored_type(c), &type_names)
                    .map_err(|e| ctx(e.context(format!("column {}", c.name))))?;
                let computed_flag = c.status & 0x10 != 0;
                let computed = if computed_flag {
                    let def = match text_of(t.id, c.column_id) {
                        Ok(d) => d.unwrap_or_default(),
                        Err(e) => {
                            unreadable_defs.push(unreadable_definition("computed", Some(&table_name), &c.name, &e));
                            String::new()
                        }
                    };
                    Some(Computed { definition: def, persisted: false })
                } else {
                    None
                };
                let default = if c.default_object != 0 {
                    let name = objects.get(&c.default_object).map(|o| o.name.clone()).unwrap_or_default();
                    match text_of(c.default_object, 0) {
                        Ok(d) => d.map(|definition| DefaultConstraint { name, definition }),
                        Err(e) => {
                            unreadable_defs.push(unreadable_definition("default", Some(&table_name), &name, &e));
                            None
                        }
                    }
                } else {
                    None
                };
                let identity =
                    if c.status & 0x4 != 0 { c.identity_value.as_deref().and_then(|b| identity(b, &ty)) } else { None };
                columns.push(Column {
                    column_id: c.column_id,
                    name: c.name.clone(),
                    ty,
                    nullable: c.status & 0x1 == 0,
                    identity,
                    computed,
                    default,
                    rowguidcol: c.status & 0x8 != 0,
                    sparse: c.status & 0x0100_0000 != 0,
                });
            }

            // Base rowsets (heap or clustered index), one per partition.
            let base: Vec<&super::raw::Rowset> =
                raw.rowsets.iter().filter(|r| r.object_id == t.id && (r.index_id == 0 || r.index_id == 1)).collect();
            if base.is_empty() {
                return Err(ctx(Error::catalog("no heap or clustered rowset in sysrowsets")));
            }
            let mut rowsets = Vec::new();
            base_rowsets.extend(base.iter().map(|r| r.id));
            for rs in &base {
                let au = |kind: u8| raw.alloc_units.iter().find(|a| a.owner == rs.id && a.kind == kind).copied();
                let phys = rscols.get(&rs.id).map(|v| v.as_slice()).unwrap_or(&[]);
                let mut col_layouts = Vec::with_capacity(cols.len());
                let mut added_defaults = Vec::with_capacity(cols.len());
                for (c, col) in cols.iter().zip(columns.iter_mut()) {
                    let p = phys.iter().find(|p| p.column_id == c.column_id && !p.dropped() && !p.uniquifier());
                    let layout = match p {
                        None if col.computed.is_some() || c.status & 0x0200_0000 != 0 => {
                            added_defaults.push(None);
                            ColumnLayout { place: ColumnPlace::NotStored, null_bit: 0 }
                        }
                        None => {
                            return Err(ctx(Error::catalog(format!(
                                "column {} has no physical layout in rowset {}",
                                c.name, rs.id
                            ))));
                        }
                        Some(p) => {
                            if let Some(comp) = col.computed.as_mut() {
                                comp.persisted = true;
                            }
                            let stored = added_default_of(raw, rs.id, p.hobt_column_id, col)
                                .map_err(|e| ctx(e.context(format!("column {}", c.name))))?;
                            if stored.is_some() {
                                defaults_used.push((rs.id, i64::from(p.hobt_column_id)));
                            }
                            added_defaults.push(stored);
                            let place = if p.sparse() {
                                ColumnPlace::Sparse { column_id: c.column_id as u16 }
                            } else if p.leaf_offset < 0 {
                                ColumnPlace::Var { index: (-(p.leaf_offset as i32) - 1) as u16 }
                            } else if c.xtype == 104 {
                                ColumnPlace::Bit { offset: p.leaf_offset as u16, bit: p.bit_pos }
                            } else {
                                ColumnPlace::Fixed { offset: p.leaf_offset as u16, len: c.length as u16 }
                            };
                            ColumnLayout { place, null_bit: p.null_bit }
                        }
                    };
                    col_layouts.push(layout);
                }
                rowsets.push(RowsetLayout {
                    rowset_id: rs.id,
                    in_row: au(1),
                    lob: au(2),
                    overflow: au(3),
                    columns: col_layouts,
                    added_defaults,
                    rows_hint: rs.rows,
                });
            }
            let first = base[0];
            let idx_kind =
                raw.idxstats.iter().find(|i| i.object_id == t.id && i.index_id == first.index_id).map(|i| i.kind);
            let storage = Storage {
                kind: match (first.index_id, idx_kind) {
                    (0, _) => StorageKind::Heap,
                    (_, Some(5)) => StorageKind::ClusteredColumnstore,
                    _ => StorageKind::Clustered,
                },
                compression: match first.compression {
                    0 => Compression::None,
                    1 => Compression::Row,
                    2 => Compression::Page,
                    3 => Compression::Columnstore,
                    _ => Compression::ColumnstoreArchive,
                },
                partitions: base.len() as u32,
                memory_optimized: base.iter().any(|r| r.status & 0x100 != 0)
                    && rowsets.iter().all(|r| r.in_row.is_none_or(|a| a.first_iam.is_null())),
            };

            // Indexes and key constraints.
            let mut primary_key = None;
            let mut unique_constraints = Vec::new();
            let mut indexes = Vec::new();
            let col_name = |id: i32| cols.iter().find(|c| c.column_id == id).map(|c| c.name.clone());
            for ix in raw.idxstats.iter().filter(|i| i.object_id == t.id && i.status & 1 != 0 && i.index_id > 0) {
                if ix.status & 0x100 != 0 {
                    continue;
                }
                let mut ics: Vec<_> = raw
                    .iscols
                    .iter()
                    .filter(|c| c.object_id == t.id && c.index_id == ix.index_id && c.status & 2 != 0)
                    .collect();
                ics.sort_by_key(|c| {
                    (
                        c.status & 0x10 != 0,
                        if c.key_ordinal == 0 { i32::MAX } else { i32::from(c.key_ordinal) },
                        c.position,
                    )
                });
                let mut icols = Vec::new();
                for c in ics {
                    let name = col_name(c.column_id).ok_or_else(|| {
                        ctx(Error::catalog(format!("index {} names unknown column {}", ix.name, c.column_id)))
                    })?;
                    icols.push(IndexColumn { name, descending: c.status & 0x4 != 0, included: c.status & 0x10 != 0 });
                }
                let kind = match ix.kind {
                    1 => IndexKind::Clustered,
                    2 => IndexKind::NonClustered,
                    5 => IndexKind::ClusteredColumnstore,
                    6 => IndexKind::NonClusteredColumnstore,
                    _ => IndexKind::Other,
                };
                if ix.status & 0x20 != 0 {
                    primary_key =
                        Some(KeyConstraint { name: ix.name.clone(), columns: icols, clustered: ix.kind == 1 });
                } else if ix.status & 0x40 != 0 {
                    unique_constraints.push(KeyConstraint {
                        name: ix.name.clone(),
                        columns: icols,
                        clustered: ix.kind == 1,
                    });
                } else {
                    let filter = if ix.status & 0x20000 != 0 {
                        match text_of(t.id, ix.index_id) {
                            Ok(f) => f,
                            Err(e) => {
                                // Without its filter the index would mean something else.
                                unreadable_defs.push(unreadable_definition(
                                    "index_filter",
                                    Some(&table_name),
                                    &ix.name,
                                    &e,
                                ));
                                continue;
                            }
                        }
                    } else {
                        None
                    };
                    indexes.push(Index {
                        name: ix.name.clone(),
                        index_id: ix.index_id,
                        kind,
                        unique: ix.status & 0x8 != 0,
                        columns: icols,
                        filter,
                        disabled: ix.status & 0x80 != 0,
                    });
                }
            }

            // Foreign keys and checks.
            let mut foreign_keys = Vec::new();
            let mut check_constraints = Vec::new();
            for o in raw.objects.iter().filter(|o| o.parent == t.id) {
                match o.kind.as_str() {
                    "F" => {
                        let target = raw.singlerefs.iter().find(|r| r.class == 27 && r.dep_id == o.id);
                        let Some(target) = target else {
                            return Err(ctx(Error::catalog(format!("foreign key {} has no referenced table", o.name))));
                        };
                        let ref_table = objects.get(&target.indep_id).ok_or_else(|| {
                            ctx(Error::catalog(format!(
                                "foreign key {} references unknown object {}",
                                o.name, target.indep_id
                            )))
                        })?;
                        let ref_cols = colpars.get(&target.indep_id);
                        let mut pairs: BTreeMap<i32, (Option<String>, Option<String>)> = BTreeMap::new();
                        for r in raw.singlerefs.iter().filter(|r| r.dep_id == o.id && (r.class == 28 || r.class == 29))
                        {
                            let e = pairs.entry(r.dep_sub_id).or_default();
                            if r.class == 28 {
                                e.0 = col_name(r.indep_sub_id);
                            } else {
                                e.1 = ref_cols
                                    .and_then(|cs| cs.iter().find(|c| c.column_id == r.indep_sub_id))
                                    .map(|c| c.name.clone());
                            }
                        }
                        let mut columns = Vec::new();
                        let mut referenced_columns = Vec::new();
                        for (ord, (a, b)) in pairs {
                            match (a, b) {
                                (Some(a), Some(b)) => {
                                    columns.push(a);
                                    referenced_columns.push(b);
                                }
                                _ => {
                                    return Err(ctx(Error::catalog(format!(
                                        "foreign key {}: column pair {ord} is incomplete",
                                        o.name
                                    ))));
                                }
                            }
                        }
                        foreign_keys.push(ForeignKey {
                            name: o.name.clone(),
                            columns,
                            referenced_schema: schema_name(ref_table.schema_id),
                            referenced_table: ref_table.name.clone(),
                            referenced_columns,
                            on_update: FkAction::from_code(o.status >> 12),
                            on_delete: FkAction::from_code(o.status >> 14),
                            disabled: o.status & 0x100 != 0,
                            not_trusted: o.status & 0x400 != 0,
                        });
                    }
                    "C" => {
                        let definition = match text_of(o.id, 0) {
                            Ok(d) => d.unwrap_or_default(),
                            Err(e) => {
                                unreadable_defs.push(unreadable_definition("check", Some(&table_name), &o.name, &e));
                                continue;
                            }
                        };
                        check_constraints.push(CheckConstraint {
                            name: o.name.clone(),
                            definition,
                            column: if o.intprop > 0 { col_name(o.intprop) } else { None },
                            disabled: o.status & 0x100 != 0,
                            not_trusted: o.status & 0x400 != 0,
                        });
                    }
                    _ => {}
                }
            }
            foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
            check_constraints.sort_by(|a, b| a.name.cmp(&b.name));

            Ok((
                Table {
                    object_id: t.id,
                    schema: schema_name(t.schema_id),
                    name: t.name.clone(),
                    columns,
                    primary_key,
                    unique_constraints,
                    indexes,
                    foreign_keys,
                    check_constraints,
                    storage,
                    row_count_hint: Some(rowsets.iter().map(|r| r.rows_hint.max(0) as u64).sum()),
                },
                TableLayout { object_id: t.id, rowsets },
            ))
        };
        match one() {
            Ok((table, layout)) => {
                tables.push(table);
                layouts.push(layout);
            }
            Err(e) if salvage => unreadable.push(e.to_string()),
            Err(e) => return Err(e),
        }
    }

    if let Some(v) = raw.seobjvalues.iter().find(|v| {
        v.class == super::raw::SEVC_OUT_OF_ROW_DEFAULT
            && v.number == 0
            && base_rowsets.contains(&v.id)
            && !defaults_used.contains(&(v.id, v.sub_id))
    }) && !salvage
    {
        return Err(Error::catalog(format!(
            "sysseobjvalues holds a default for column {} of rowset {}, which that rowset's columns do not have",
            v.sub_id, v.id
        )));
    }

    for o in raw.objects.iter().filter(|o| o.ns_class == 0 && o.parent_class == 1 && o.id > 100 || o.kind == "TR") {
        if o.status & 1 != 0 && o.kind != "U" {
            // is_ms_shipped objects (system queues, internal procedures) are not user objects.
            continue;
        }
        if let Some(kind) = ModuleKind::from_object_type(&o.kind) {
            let parent = objects
                .get(&o.parent)
                .filter(|_| o.parent != 0)
                .map(|p| format!("{}.{}", schema_name(p.schema_id), p.name));
            let text = text_of(o.id, if matches!(kind, ModuleKind::Procedure) { 1 } else { 0 }).and_then(|d| match d {
                Some(d) => Ok(Some(d)),
                None => text_of(o.id, 0),
            });
            let definition = match text {
                Ok(d) => d,
                Err(e) => {
                    let qualified = format!("{}.{}", schema_name(o.schema_id), o.name);
                    unreadable_defs.push(unreadable_definition(kind.as_str(), parent.as_deref(), &qualified, &e));
                    None
                }
            };
            modules.push(Module {
                object_id: o.id,
                schema: schema_name(o.schema_id),
                name: o.name.clone(),
                kind,
                definition,
                parent,
            });
        } else if matches!(o.kind.as_str(), "SO" | "SN" | "SQ" | "TT") {
            other_objects.push(ObjectRef {
                schema: schema_name(o.schema_id),
                name: o.name.clone(),
                kind: o.kind.clone(),
            });
        }
    }
    for t in raw.scalartypes.iter().filter(|t| t.id > 256) {
        other_objects.push(ObjectRef { schema: schema_name(t.schema_id), name: t.name.clone(), kind: "type".into() });
    }

    let descriptions = descriptions(raw, &objects, &colpars, &schema_name);
    if let Some(e) = &raw.xprops_error {
        unreadable_defs.push(UnreadableDefinition {
            kind: "description".into(),
            table: None,
            object: "sys.extended_properties (sysxprops)".into(),
            reason: e.clone(),
        });
    }

    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by(|&a, &b| (&tables[a].schema, &tables[a].name).cmp(&(&tables[b].schema, &tables[b].name)));
    let tables_sorted: Vec<Table> = order.iter().map(|&i| tables[i].clone()).collect();
    let layouts_sorted: Vec<TableLayout> = order.iter().map(|&i| layouts[i].clone()).collect();
    modules.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    Ok(Built {
        database: Database {
            name: db_name.to_string(),
            collation: db_collation,
            tables: tables_sorted,
            modules,
            other_objects,
            unreadable_definitions: unreadable_defs,
            descriptions,
        },
        layouts: layouts_sorted,
        undescribed: unreadable,
        catalog_skips: raw.skipped.clone(),
    })
}
