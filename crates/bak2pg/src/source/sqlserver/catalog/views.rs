//! The catalog views read from the restored database. Each has its row struct, the query
//! that reads it and the mapping of one result row side by side, so a column added to the
//! query is added to the struct and its mapping in the same place.

use tiberius::Row;

use super::super::client::{Cells, RowError};

/// One catalog view: the query reading it and how a result row becomes its row struct.
pub(super) trait CatalogView: Sized {
    /// What is being read, for messages (`reading sys.tables`).
    const WHAT: &'static str;
    /// The query, run in the restored database; its columns are read by name, so their
    /// order does not matter.
    const SQL: &'static str;
    /// One result row as the struct.
    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError>;
}

/// The database's default collation id.
pub(super) const DATABASE: &str = "SELECT CAST(COLLATIONPROPERTY(CAST(DATABASEPROPERTYEX(DB_NAME(), 'Collation') AS \
                                nvarchar(128)), 'CollationID') AS int) AS collation_id";

/// The collation id of [`DATABASE`]'s first row, if any.
pub(super) fn database_collation(rows: &[Row]) -> Result<Option<i32>, RowError> {
    Ok(rows
        .first()
        .map(|row| Cells { row, what: "collation" }.int("collation_id"))
        .transpose()?
        .flatten()
        .map(|v| v as i32))
}

/// `sys.tables` (user tables: `is_ms_shipped = 0`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableRow {
    /// `object_id`.
    pub object_id: i32,
    /// `SCHEMA_NAME(schema_id)`.
    pub schema: String,
    /// `name`.
    pub name: String,
    /// `is_memory_optimized`.
    pub is_memory_optimized: bool,
}

impl CatalogView for TableRow {
    const WHAT: &'static str = "reading sys.tables";
    const SQL: &'static str = "SELECT t.object_id, SCHEMA_NAME(t.schema_id) AS schema_name, t.name, \
         CAST(t.is_memory_optimized AS bit) AS is_memory_optimized \
         FROM sys.tables AS t WHERE t.is_ms_shipped = 0";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(TableRow {
            object_id: c.i32("object_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
            is_memory_optimized: c.flag("is_memory_optimized")?,
        })
    }
}

/// `sys.columns` with its default (`sys.objects` name, `OBJECT_DEFINITION`), computed
/// (`sys.computed_columns`) and identity (`sys.identity_columns`) facts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ColumnRow {
    /// `object_id`.
    pub object_id: i32,
    /// `column_id`.
    pub column_id: i32,
    /// `name`.
    pub name: String,
    /// `system_type_id`.
    pub system_type_id: u8,
    /// `user_type_id`.
    pub user_type_id: i32,
    /// `max_length`: bytes, -1 for `max`.
    pub max_length: i16,
    /// `precision`.
    pub precision: u8,
    /// `scale`.
    pub scale: u8,
    /// `COLLATIONPROPERTY(collation_name, 'CollationID')`; `None` for non-character types.
    pub collation_id: Option<i32>,
    /// `is_nullable`.
    pub is_nullable: bool,
    /// `is_identity`.
    pub is_identity: bool,
    /// `is_rowguidcol`.
    pub is_rowguidcol: bool,
    /// `is_computed`.
    pub is_computed: bool,
    /// `is_sparse`.
    pub is_sparse: bool,
    /// `is_column_set`.
    pub is_column_set: bool,
    /// `default_object_id` (0: none).
    pub default_object_id: i32,
    /// The default's name.
    pub default_name: Option<String>,
    /// `OBJECT_DEFINITION(default_object_id)`.
    pub default_definition: Option<String>,
    /// `sys.computed_columns.definition`.
    pub computed_definition: Option<String>,
    /// `sys.computed_columns.is_persisted`.
    pub is_persisted: bool,
    /// `sys.identity_columns` seed, increment, last value (cast to `decimal(38,0)`).
    pub identity: Option<(i128, i128, Option<i128>)>,
}

impl CatalogView for ColumnRow {
    const WHAT: &'static str = "reading sys.columns";
    const SQL: &'static str = "SELECT c.object_id, c.column_id, c.name, c.system_type_id, c.user_type_id, \
         c.max_length, c.precision, c.scale, \
         CAST(COLLATIONPROPERTY(c.collation_name, 'CollationID') AS int) AS collation_id, \
         c.is_nullable, c.is_identity, c.is_rowguidcol, c.is_computed, c.is_sparse, c.is_column_set, \
         c.default_object_id, OBJECT_NAME(c.default_object_id) AS default_name, \
         OBJECT_DEFINITION(c.default_object_id) AS default_definition, \
         cc.definition AS computed_definition, CAST(ISNULL(cc.is_persisted, 0) AS bit) AS is_persisted, \
         CAST(ic.seed_value AS decimal(38,0)) AS identity_seed, \
         CAST(ic.increment_value AS decimal(38,0)) AS identity_increment, \
         CAST(ic.last_value AS decimal(38,0)) AS identity_last \
         FROM sys.columns AS c JOIN sys.tables AS t ON t.object_id = c.object_id \
         LEFT JOIN sys.computed_columns AS cc ON cc.object_id = c.object_id AND cc.column_id = c.column_id \
         LEFT JOIN sys.identity_columns AS ic ON ic.object_id = c.object_id AND ic.column_id = c.column_id \
         WHERE t.is_ms_shipped = 0";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        let identity = match (c.decimal("identity_seed")?, c.decimal("identity_increment")?) {
            (Some(s), Some(i)) => Some((s, i, c.decimal("identity_last")?)),
            _ => None,
        };
        Ok(ColumnRow {
            object_id: c.i32("object_id")?,
            column_id: c.i32("column_id")?,
            name: c.req_text("name")?,
            system_type_id: c.u8("system_type_id")?,
            user_type_id: c.i32("user_type_id")?,
            max_length: i16::try_from(c.req_int("max_length")?).map_err(|_| c.out_of_range("max_length"))?,
            precision: c.u8("precision")?,
            scale: c.u8("scale")?,
            collation_id: c.int("collation_id")?.map(|v| v as i32),
            is_nullable: c.flag("is_nullable")?,
            is_identity: c.flag("is_identity")?,
            is_rowguidcol: c.flag("is_rowguidcol")?,
            is_computed: c.flag("is_computed")?,
            is_sparse: c.flag("is_sparse")?,
            is_column_set: c.flag("is_column_set")?,
            default_object_id: c.i32("default_object_id")?,
            default_name: c.text("default_name")?,
            default_definition: c.text("default_definition")?,
            computed_definition: c.text("computed_definition")?,
            is_persisted: c.flag("is_persisted")?,
            identity,
        })
    }
}

/// `sys.partitions` of a table's heap or clustered index (`index_id` 0 or 1), with the
/// index `type` from `sys.indexes`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionRow {
    /// `object_id`.
    pub object_id: i32,
    /// `index_id` (0 heap, 1 clustered).
    pub index_id: i32,
    /// `partition_number`.
    pub partition_number: i32,
    /// `data_compression`.
    pub data_compression: u8,
    /// `rows`.
    pub rows: i64,
    /// `sys.indexes.type`.
    pub index_type: u8,
}

impl CatalogView for PartitionRow {
    const WHAT: &'static str = "reading sys.partitions";
    const SQL: &'static str = "SELECT p.object_id, p.index_id, p.partition_number, p.data_compression, \
         p.rows, i.type AS index_type \
         FROM sys.partitions AS p JOIN sys.indexes AS i ON i.object_id = p.object_id AND i.index_id = p.index_id \
         JOIN sys.tables AS t ON t.object_id = p.object_id \
         WHERE t.is_ms_shipped = 0 AND p.index_id IN (0, 1)";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(PartitionRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            partition_number: c.i32("partition_number")?,
            data_compression: c.u8("data_compression")?,
            rows: c.int("rows")?.unwrap_or(0),
            index_type: c.u8("index_type")?,
        })
    }
}

/// `sys.indexes` (`index_id > 0`, not hypothetical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRow {
    /// `object_id`.
    pub object_id: i32,
    /// `index_id`.
    pub index_id: i32,
    /// `name`.
    pub name: String,
    /// `type`.
    pub index_type: u8,
    /// `is_unique`.
    pub is_unique: bool,
    /// `is_primary_key`.
    pub is_primary_key: bool,
    /// `is_unique_constraint`.
    pub is_unique_constraint: bool,
    /// `is_disabled`.
    pub is_disabled: bool,
    /// `filter_definition` when `has_filter`.
    pub filter_definition: Option<String>,
}

impl CatalogView for IndexRow {
    const WHAT: &'static str = "reading sys.indexes";
    const SQL: &'static str = "SELECT i.object_id, i.index_id, i.name, i.type AS index_type, i.is_unique, \
         i.is_primary_key, i.is_unique_constraint, i.is_disabled, \
         CASE WHEN i.has_filter = 1 THEN i.filter_definition END AS filter_definition \
         FROM sys.indexes AS i JOIN sys.tables AS t ON t.object_id = i.object_id \
         WHERE t.is_ms_shipped = 0 AND i.index_id > 0 AND i.is_hypothetical = 0";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(IndexRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            name: c.text("name")?.unwrap_or_default(),
            index_type: c.u8("index_type")?,
            is_unique: c.flag("is_unique")?,
            is_primary_key: c.flag("is_primary_key")?,
            is_unique_constraint: c.flag("is_unique_constraint")?,
            is_disabled: c.flag("is_disabled")?,
            filter_definition: c.text("filter_definition")?,
        })
    }
}

/// `sys.index_columns`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexColumnRow {
    /// `object_id`.
    pub object_id: i32,
    /// `index_id`.
    pub index_id: i32,
    /// `index_column_id`.
    pub index_column_id: i32,
    /// `column_id`.
    pub column_id: i32,
    /// `key_ordinal` (0: not a key column).
    pub key_ordinal: u8,
    /// `is_descending_key`.
    pub is_descending_key: bool,
    /// `is_included_column`.
    pub is_included_column: bool,
}

impl CatalogView for IndexColumnRow {
    const WHAT: &'static str = "reading sys.index_columns";
    const SQL: &'static str = "SELECT ic.object_id, ic.index_id, ic.index_column_id, ic.column_id, \
         ic.key_ordinal, ic.is_descending_key, ic.is_included_column \
         FROM sys.index_columns AS ic JOIN sys.tables AS t ON t.object_id = ic.object_id \
         JOIN sys.indexes AS i ON i.object_id = ic.object_id AND i.index_id = ic.index_id \
         WHERE t.is_ms_shipped = 0 AND i.is_hypothetical = 0";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(IndexColumnRow {
            object_id: c.i32("object_id")?,
            index_id: c.i32("index_id")?,
            index_column_id: c.i32("index_column_id")?,
            column_id: c.i32("column_id")?,
            key_ordinal: c.u8("key_ordinal")?,
            is_descending_key: c.flag("is_descending_key")?,
            is_included_column: c.flag("is_included_column")?,
        })
    }
}

/// `sys.foreign_keys` with the referenced table's schema and name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyRow {
    /// `object_id`.
    pub object_id: i32,
    /// `parent_object_id`: the referencing table.
    pub parent_object_id: i32,
    /// `name`.
    pub name: String,
    /// Schema of `referenced_object_id`.
    pub referenced_schema: String,
    /// Name of `referenced_object_id`.
    pub referenced_table: String,
    /// `delete_referential_action`.
    pub delete_action: u8,
    /// `update_referential_action`.
    pub update_action: u8,
    /// `is_disabled`.
    pub is_disabled: bool,
    /// `is_not_trusted`.
    pub is_not_trusted: bool,
}

impl CatalogView for ForeignKeyRow {
    const WHAT: &'static str = "reading sys.foreign_keys";
    const SQL: &'static str = "SELECT fk.object_id, fk.parent_object_id, fk.name, \
         SCHEMA_NAME(r.schema_id) AS referenced_schema, r.name AS referenced_table, \
         fk.delete_referential_action, fk.update_referential_action, fk.is_disabled, fk.is_not_trusted \
         FROM sys.foreign_keys AS fk JOIN sys.objects AS r ON r.object_id = fk.referenced_object_id";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(ForeignKeyRow {
            object_id: c.i32("object_id")?,
            parent_object_id: c.i32("parent_object_id")?,
            name: c.req_text("name")?,
            referenced_schema: c.req_text("referenced_schema")?,
            referenced_table: c.req_text("referenced_table")?,
            delete_action: c.u8("delete_referential_action")?,
            update_action: c.u8("update_referential_action")?,
            is_disabled: c.flag("is_disabled")?,
            is_not_trusted: c.flag("is_not_trusted")?,
        })
    }
}

/// `sys.foreign_key_columns` with both column names (`COL_NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForeignKeyColumnRow {
    /// `constraint_object_id`.
    pub constraint_object_id: i32,
    /// `constraint_column_id`.
    pub constraint_column_id: i32,
    /// The referencing column's name.
    pub parent_column: Option<String>,
    /// The referenced column's name.
    pub referenced_column: Option<String>,
}

impl CatalogView for ForeignKeyColumnRow {
    const WHAT: &'static str = "reading sys.foreign_key_columns";
    const SQL: &'static str = "SELECT fkc.constraint_object_id, fkc.constraint_column_id, \
         COL_NAME(fkc.parent_object_id, fkc.parent_column_id) AS parent_column, \
         COL_NAME(fkc.referenced_object_id, fkc.referenced_column_id) AS referenced_column \
         FROM sys.foreign_key_columns AS fkc";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(ForeignKeyColumnRow {
            constraint_object_id: c.i32("constraint_object_id")?,
            constraint_column_id: c.i32("constraint_column_id")?,
            parent_column: c.text("parent_column")?,
            referenced_column: c.text("referenced_column")?,
        })
    }
}

/// `sys.check_constraints`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckRow {
    /// `parent_object_id`.
    pub parent_object_id: i32,
    /// `name`.
    pub name: String,
    /// `definition`.
    pub definition: Option<String>,
    /// `COL_NAME(parent_object_id, parent_column_id)` for a column-level constraint.
    pub column: Option<String>,
    /// `is_disabled`.
    pub is_disabled: bool,
    /// `is_not_trusted`.
    pub is_not_trusted: bool,
}

impl CatalogView for CheckRow {
    const WHAT: &'static str = "reading sys.check_constraints";
    const SQL: &'static str = "SELECT cc.parent_object_id, cc.name, cc.definition, \
         CASE WHEN cc.parent_column_id > 0 THEN COL_NAME(cc.parent_object_id, cc.parent_column_id) END AS column_name, \
         cc.is_disabled, cc.is_not_trusted FROM sys.check_constraints AS cc";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(CheckRow {
            parent_object_id: c.i32("parent_object_id")?,
            name: c.req_text("name")?,
            definition: c.text("definition")?,
            column: c.text("column_name")?,
            is_disabled: c.flag("is_disabled")?,
            is_not_trusted: c.flag("is_not_trusted")?,
        })
    }
}

/// `sys.objects` of the module and listed-only kinds, with `OBJECT_DEFINITION` and the
/// parent's `schema.name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    /// `object_id`.
    pub object_id: i32,
    /// Schema name.
    pub schema: String,
    /// `name`.
    pub name: String,
    /// `type`, trimmed (`V`, `P`, `TR`, `SO`, …).
    pub kind: String,
    /// `OBJECT_DEFINITION(object_id)`.
    pub definition: Option<String>,
    /// The parent object (`schema.name`) for triggers.
    pub parent: Option<String>,
}

impl CatalogView for ObjectRow {
    const WHAT: &'static str = "reading sys.objects";
    /// modules and listed kinds that are not shipped by Microsoft.
    const SQL: &'static str = "SELECT o.object_id, SCHEMA_NAME(o.schema_id) AS schema_name, o.name, \
         RTRIM(o.type) AS kind, OBJECT_DEFINITION(o.object_id) AS definition, \
         CASE WHEN o.parent_object_id <> 0 THEN SCHEMA_NAME(p.schema_id) + N'.' + p.name END AS parent \
         FROM sys.objects AS o LEFT JOIN sys.objects AS p ON p.object_id = o.parent_object_id \
         WHERE o.is_ms_shipped = 0 AND RTRIM(o.type) IN \
         (N'V', N'P', N'RF', N'FN', N'IF', N'TF', N'TR', N'R', N'PC', N'FS', N'FT', N'TA', N'X', N'AF', \
          N'SO', N'SN', N'SQ', N'TT')";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(ObjectRow {
            object_id: c.i32("object_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
            kind: c.req_text("kind")?,
            definition: c.text("definition")?,
            parent: c.text("parent")?,
        })
    }
}

/// `sys.types`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeRow {
    /// `user_type_id`.
    pub user_type_id: i32,
    /// Schema name.
    pub schema: String,
    /// `name`.
    pub name: String,
}

impl CatalogView for TypeRow {
    const WHAT: &'static str = "reading sys.types";
    const SQL: &'static str = "SELECT user_type_id, SCHEMA_NAME(schema_id) AS schema_name, name FROM sys.types";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(TypeRow {
            user_type_id: c.i32("user_type_id")?,
            schema: c.req_text("schema_name")?,
            name: c.req_text("name")?,
        })
    }
}

/// `sys.extended_properties` named `MS_Description` with a value, with what the
/// native reader needs to name their target ([`mssql_backup::schema::DescriptionTarget::of`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DescriptionRow {
    /// `class`.
    pub class: u8,
    /// `major_id`.
    pub major_id: i32,
    /// `minor_id`.
    pub minor_id: i32,
    /// Schema of the class-1/7 object, or the class-3 schema's name.
    pub schema: Option<String>,
    /// Name of the class-1/7 object.
    pub object: Option<String>,
    /// Its type, trimmed.
    pub object_type: Option<String>,
    /// Its `is_ms_shipped`.
    pub is_ms_shipped: bool,
    /// `COL_NAME(major_id, minor_id)` for a class-1 property on a column.
    pub column: Option<String>,
    /// `SQL_VARIANT_PROPERTY(value, 'BaseType')`.
    pub base_type: String,
    /// The value as `nvarchar(max)` when its base type is a string type.
    pub text: Option<String>,
}

impl CatalogView for DescriptionRow {
    const WHAT: &'static str = "reading sys.extended_properties";
    const SQL: &'static str = "SELECT ep.class, ep.major_id, ep.minor_id, \
         CASE WHEN ep.class = 3 THEN SCHEMA_NAME(ep.major_id) ELSE SCHEMA_NAME(o.schema_id) END AS schema_name, \
         o.name AS object_name, RTRIM(o.type) AS object_type, ISNULL(o.is_ms_shipped, 0) AS is_ms_shipped, \
         CASE WHEN ep.class = 1 AND ep.minor_id > 0 THEN COL_NAME(ep.major_id, ep.minor_id) END AS column_name, \
         CAST(SQL_VARIANT_PROPERTY(ep.value, 'BaseType') AS nvarchar(128)) AS base_type, \
         CASE WHEN CAST(SQL_VARIANT_PROPERTY(ep.value, 'BaseType') AS nvarchar(128)) \
              IN (N'char', N'varchar', N'nchar', N'nvarchar') THEN CAST(ep.value AS nvarchar(max)) END AS text_value \
         FROM sys.extended_properties AS ep \
         LEFT JOIN sys.objects AS o ON ep.class IN (1, 7) AND o.object_id = ep.major_id \
         WHERE ep.name = N'MS_Description' AND ep.value IS NOT NULL \
         ORDER BY ep.class, ep.major_id, ep.minor_id";

    fn from_cells(c: &Cells<'_>) -> Result<Self, RowError> {
        Ok(DescriptionRow {
            class: c.u8("class")?,
            major_id: c.i32("major_id")?,
            minor_id: c.i32("minor_id")?,
            schema: c.text("schema_name")?,
            object: c.text("object_name")?,
            object_type: c.text("object_type")?,
            is_ms_shipped: c.flag("is_ms_shipped")?,
            column: c.text("column_name")?,
            base_type: c.req_text("base_type")?,
            text: c.text("text_value")?,
        })
    }
}
