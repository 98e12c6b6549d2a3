//! The logical schema of a database: schemas, tables, columns, keys, indexes, constraints
//! and an inventory of programmable objects, in SQL Server's terms.
//!
//! This model is what both restore engines produce (the native reader from the system
//! base tables, the `sqlserver` engine from the `sys.*` catalog views), so that everything
//! downstream is shared. It holds no physical layout (where each column lies in a
//! record is the reader's own business).

use serde::{Deserialize, Serialize};

use crate::types::{Collation, SqlType};

/// A database's logical schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Database {
    /// Database name (boot page `dbi_dbname`, or the backup metadata when there is none).
    pub name: String,
    /// Default collation of the database.
    pub collation: Option<Collation>,
    /// User tables, ordered by schema then name.
    pub tables: Vec<Table>,
    /// Views, procedures, functions, triggers and other modules, with definitions where
    /// the catalog stores them.
    pub modules: Vec<Module>,
    /// User-defined types and other objects listed but not described further.
    pub other_objects: Vec<ObjectRef>,
    /// Definitions the catalog holds in a form the reader cannot decode. The objects are
    /// left out of the model (a check or default) or kept without their text (a module,
    /// a computed column) so that they never keep the data from being read.
    #[serde(default)]
    pub unreadable_definitions: Vec<UnreadableDefinition>,
    /// `MS_Description` extended properties (`sys.extended_properties`, base table
    /// `sysxprops`): the comments SSMS, Access upsizing and data-modelling tools write,
    /// in (class, major id, minor id) order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub descriptions: Vec<Description>,
}

/// The name of the extended property that tools use for comments.
pub const MS_DESCRIPTION: &str = "MS_Description";

/// The object a class-1 extended property is attached to, as [`DescriptionTarget::of`]
/// needs it.
#[derive(Debug, Clone, Copy)]
pub struct DescribedObject<'a> {
    /// Schema name.
    pub schema: &'a str,
    /// Object name.
    pub name: &'a str,
    /// Object type (`U`, `V`, `P`, …).
    pub kind: &'a str,
    /// A user table (type `U`, not shipped by Microsoft): the only objects whose
    /// descriptions become comments.
    pub user_table: bool,
}

impl DescriptionTarget {
    /// The target of an extended property of class `class` (`sys.extended_properties`:
    /// 0 database, 1 object or column, 3 schema, 7 index, …) on `major_id`/`minor_id`:
    /// `object` is the class-1 or class-7 object, `column` the name of column `minor_id`
    /// of a class-1 object, `schema` the name of a class-3 schema. One rule for both
    /// engines, so that they describe the same things the same way.
    pub fn of(
        class: u8,
        major_id: i32,
        minor_id: i32,
        object: Option<DescribedObject<'_>>,
        column: Option<&str>,
        schema: Option<&str>,
    ) -> DescriptionTarget {
        let other = |what: String| DescriptionTarget::Other { what };
        match (class, object) {
            (0, _) => other("the database".into()),
            (3, _) => other(format!("schema {}", schema.map_or_else(|| format!("id {major_id}"), str::to_string))),
            (1, None) => other(format!("object id {major_id} (not in the catalog)")),
            (1, Some(o)) => match (o.user_table, minor_id, column) {
                (true, 0, _) => DescriptionTarget::Table { schema: o.schema.into(), table: o.name.into() },
                (true, _, Some(c)) => {
                    DescriptionTarget::Column { schema: o.schema.into(), table: o.name.into(), column: c.into() }
                }
                (_, 0, _) => other(format!("object {}.{} (type {})", o.schema, o.name, o.kind)),
                (_, _, Some(c)) => other(format!("column {c} of {}.{} (type {})", o.schema, o.name, o.kind)),
                (_, m, None) => other(format!("minor id {m} of {}.{} (type {})", o.schema, o.name, o.kind)),
            },
            (7, Some(o)) => other(format!("index id {minor_id} of {}.{}", o.schema, o.name)),
            (7, None) => other(format!("index id {minor_id} of object id {major_id}")),
            (c, _) => other(format!("class {c} id {major_id} minor id {minor_id}")),
        }
    }
}

/// One `MS_Description` extended property.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Description {
    /// What it describes.
    pub target: DescriptionTarget,
    /// The text; `Err` with the reason when the value is not text (a `sql_variant` of
    /// another base type) or could not be decoded.
    pub text: Result<String, String>,
}

/// What an `MS_Description` describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DescriptionTarget {
    /// A user table (class 1, minor id 0).
    Table {
        /// Schema name.
        schema: String,
        /// Table name.
        table: String,
    },
    /// A column of a user table (class 1, minor id = column id).
    Column {
        /// Schema name.
        schema: String,
        /// Table name.
        table: String,
        /// Column name.
        column: String,
    },
    /// Anything else (the database, a schema, a view, a procedure, an index, a
    /// parameter…), described for the report: `view dbo.Invoices`, `schema Sales`,
    /// `class 7 id 5 minor 1`.
    Other {
        /// What it is, in words.
        what: String,
    },
}

/// A definition (module text, check, default, computed column, index filter) that could
/// not be decoded, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnreadableDefinition {
    /// `view`, `procedure`, `check`, `default`, `computed`, `index_filter`, …
    pub kind: String,
    /// The table it belongs to (`schema.table`), for table-level objects.
    pub table: Option<String>,
    /// The object: `schema.name` of a module, or the constraint, column or index name.
    pub object: String,
    /// What was found instead of a readable definition.
    pub reason: String,
}

impl Database {
    /// The table `schema.name` (exact, case-sensitive match).
    pub fn table(&self, schema: &str, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.schema == schema && t.name == name)
    }
}

/// A user table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// `object_id`.
    pub object_id: i32,
    /// Schema name (`dbo`, `Sales`, …).
    pub schema: String,
    /// Table name.
    pub name: String,
    /// Columns in `column_id` order (dropped columns excluded).
    pub columns: Vec<Column>,
    /// The primary key, if any.
    pub primary_key: Option<KeyConstraint>,
    /// UNIQUE constraints (not plain unique indexes: those are in `indexes`).
    pub unique_constraints: Vec<KeyConstraint>,
    /// Indexes other than those backing the primary key and unique constraints.
    pub indexes: Vec<Index>,
    /// Foreign keys of this table.
    pub foreign_keys: Vec<ForeignKey>,
    /// CHECK constraints.
    pub check_constraints: Vec<CheckConstraint>,
    /// How the rows are stored.
    pub storage: Storage,
    /// Row count recorded by SQL Server in the catalog (`sysrowsets.rcrows`), an estimate;
    /// the exact count comes from reading the rows.
    pub row_count_hint: Option<u64>,
}

impl Column {
    /// A nullable column `name` of type `ty` and nothing else (no identity, default,
    /// computation; `column_id` 0). What tests and generated sources start from.
    pub fn plain(name: &str, ty: SqlType) -> Column {
        Column {
            column_id: 0,
            name: name.into(),
            ty,
            nullable: true,
            identity: None,
            computed: None,
            default: None,
            rowguidcol: false,
            sparse: false,
        }
    }
}

impl Table {
    /// A table with `columns` and nothing else: no keys, indexes or constraints, stored as
    /// one uncompressed heap partition, no row estimate. What tests and generated sources
    /// start from.
    pub fn heap(object_id: i32, schema: &str, name: &str, columns: Vec<Column>) -> Table {
        Table {
            object_id,
            schema: schema.into(),
            name: name.into(),
            columns,
            primary_key: None,
            unique_constraints: vec![],
            indexes: vec![],
            foreign_keys: vec![],
            check_constraints: vec![],
            storage: Storage {
                kind: StorageKind::Heap,
                compression: Compression::None,
                partitions: 1,
                memory_optimized: false,
            },
            row_count_hint: None,
        }
    }

    /// `schema.name` with both parts bracket-quoted as T-SQL would: `[dbo].[Order Details]`.
    pub fn qualified_name(&self) -> String {
        format!("[{}].[{}]", self.schema.replace(']', "]]"), self.name.replace(']', "]]"))
    }
    /// The column named `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// Physical organisation of a table, as far as the migration needs to know it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Storage {
    /// Heap (no clustered index) or clustered B-tree / columnstore.
    pub kind: StorageKind,
    /// Data compression of the base rowset (`sysrowsets.cmprlevel`).
    pub compression: Compression,
    /// Number of partitions of the base index.
    pub partitions: u32,
    /// Memory-optimized (In-Memory OLTP) table: its rows are not in data pages.
    pub memory_optimized: bool,
}

/// Heap or clustered organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StorageKind {
    /// No clustered index (index id 0).
    Heap,
    /// Clustered B-tree (index id 1).
    Clustered,
    /// Clustered columnstore index.
    ClusteredColumnstore,
}

/// Data compression of a rowset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    /// No compression (FixedVar records).
    None,
    /// ROW compression (CD records).
    Row,
    /// PAGE compression (CD records plus page dictionaries).
    Page,
    /// Columnstore.
    Columnstore,
    /// Columnstore archive.
    ColumnstoreArchive,
}

impl Database {
    /// A database holding `tables` and nothing else (no modules, other objects or
    /// descriptions, no default collation). What tests and generated sources start from.
    pub fn of_tables(name: &str, tables: Vec<Table>) -> Database {
        Database {
            name: name.into(),
            collation: None,
            tables,
            modules: vec![],
            other_objects: vec![],
            unreadable_definitions: vec![],
            descriptions: vec![],
        }
    }
}

/// A table column.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Column {
    /// `column_id` (1-based; gaps where columns were dropped).
    pub column_id: i32,
    /// Column name.
    pub name: String,
    /// Declared type.
    pub ty: SqlType,
    /// Nullable.
    pub nullable: bool,
    /// IDENTITY properties, if this is the identity column.
    pub identity: Option<Identity>,
    /// Computed column definition (T-SQL text as stored), if computed.
    pub computed: Option<Computed>,
    /// DEFAULT constraint, if any.
    pub default: Option<DefaultConstraint>,
    /// ROWGUIDCOL property.
    pub rowguidcol: bool,
    /// SPARSE column.
    pub sparse: bool,
}

/// IDENTITY seed and increment (`sys.identity_columns`). Values are kept as `i128` to
/// hold `decimal(38,0)` identities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Seed.
    pub seed: i128,
    /// Increment.
    pub increment: i128,
    /// Last value handed out, when the catalog records it.
    pub last_value: Option<i128>,
}

/// A computed column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Computed {
    /// The T-SQL expression as stored (`([Quantity]*[UnitPrice])`).
    pub definition: String,
    /// PERSISTED: values are stored in the row.
    pub persisted: bool,
}

/// A DEFAULT constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultConstraint {
    /// Constraint name.
    pub name: String,
    /// The T-SQL expression as stored (`(getdate())`, `((0))`, `(N'x')`).
    pub definition: String,
}

/// A PRIMARY KEY or UNIQUE constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyConstraint {
    /// Constraint name.
    pub name: String,
    /// Key columns in key order.
    pub columns: Vec<IndexColumn>,
    /// Enforced by a clustered index.
    pub clustered: bool,
}

/// An index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// Index name.
    pub name: String,
    /// `index_id`.
    pub index_id: i32,
    /// Clustered, nonclustered, columnstore, …
    pub kind: IndexKind,
    /// UNIQUE.
    pub unique: bool,
    /// Key columns in key order, then included columns (`included` true).
    pub columns: Vec<IndexColumn>,
    /// Filter predicate of a filtered index (T-SQL text as stored).
    pub filter: Option<String>,
    /// Disabled indexes are listed but hold no data.
    pub disabled: bool,
}

/// Kinds of index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKind {
    /// Clustered B-tree.
    Clustered,
    /// Nonclustered B-tree.
    NonClustered,
    /// Clustered columnstore.
    ClusteredColumnstore,
    /// Nonclustered columnstore.
    NonClusteredColumnstore,
    /// XML, spatial, full-text, hash or other special index.
    Other,
}

/// One column of an index or key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexColumn {
    /// Column name.
    pub name: String,
    /// DESC ordering.
    pub descending: bool,
    /// INCLUDE column (not part of the key).
    pub included: bool,
}

/// A FOREIGN KEY constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForeignKey {
    /// Constraint name.
    pub name: String,
    /// Referencing columns, in order.
    pub columns: Vec<String>,
    /// Referenced table's schema.
    pub referenced_schema: String,
    /// Referenced table.
    pub referenced_table: String,
    /// Referenced columns, matching `columns` one to one.
    pub referenced_columns: Vec<String>,
    /// ON DELETE action.
    pub on_delete: FkAction,
    /// ON UPDATE action.
    pub on_update: FkAction,
    /// Disabled (NOCHECK) constraints are not enforced by SQL Server.
    pub disabled: bool,
    /// NOT TRUSTED: existing rows were not checked.
    pub not_trusted: bool,
}

/// Referential action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FkAction {
    /// NO ACTION.
    NoAction,
    /// CASCADE.
    Cascade,
    /// SET NULL.
    SetNull,
    /// SET DEFAULT.
    SetDefault,
}

impl FkAction {
    /// From the action code of `sys.foreign_keys.delete_referential_action` /
    /// `update_referential_action` (0 no action, 1 cascade, 2 set null, 3 set default), the
    /// same 2-bit code `sysschobjs.status` holds for a foreign key (bits 12–13 update,
    /// 14–15 delete). Higher bits are ignored.
    pub fn from_code(code: i32) -> FkAction {
        match code & 3 {
            1 => FkAction::Cascade,
            2 => FkAction::SetNull,
            3 => FkAction::SetDefault,
            _ => FkAction::NoAction,
        }
    }
}

/// A CHECK constraint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckConstraint {
    /// Constraint name.
    pub name: String,
    /// The T-SQL predicate as stored (`([Discount]>=(0) AND [Discount]<=(1))`).
    pub definition: String,
    /// The column for a column-level constraint.
    pub column: Option<String>,
    /// Disabled (NOCHECK).
    pub disabled: bool,
    /// NOT TRUSTED.
    pub not_trusted: bool,
}

/// A module: view, procedure, function or trigger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Module {
    /// `object_id`.
    pub object_id: i32,
    /// Schema name.
    pub schema: String,
    /// Object name.
    pub name: String,
    /// What kind of module.
    pub kind: ModuleKind,
    /// The T-SQL definition, when stored and not encrypted.
    pub definition: Option<String>,
    /// For triggers: the table (`schema.name`) it belongs to.
    pub parent: Option<String>,
}

/// Kinds of module, after `sys.objects.type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModuleKind {
    /// `V`.
    View,
    /// `P`.
    Procedure,
    /// `FN`.
    ScalarFunction,
    /// `IF`.
    InlineTableFunction,
    /// `TF`.
    TableFunction,
    /// `TR`.
    Trigger,
    /// `R`, a legacy rule.
    Rule,
    /// `D` not bound to a column: a legacy stand-alone default.
    Default,
    /// CLR procedures and functions, extended procedures and others.
    Other,
}

impl ModuleKind {
    /// From a `sys.objects.type` / `sysschobjs.type` code (`V`, `P`, `FN`, …, trimmed);
    /// `None` for objects that are not modules (tables, constraints, …). `D` is decided by
    /// the caller (a default is a module only when bound to no column).
    pub fn from_object_type(t: &str) -> Option<ModuleKind> {
        Some(match t {
            "V" => ModuleKind::View,
            "P" | "RF" => ModuleKind::Procedure,
            "FN" => ModuleKind::ScalarFunction,
            "IF" => ModuleKind::InlineTableFunction,
            "TF" => ModuleKind::TableFunction,
            "TR" => ModuleKind::Trigger,
            "R" => ModuleKind::Rule,
            "PC" | "FS" | "FT" | "TA" | "X" | "AF" => ModuleKind::Other,
            _ => return None,
        })
    }

    /// The kind's name as it is serialized (`view`, `scalar_function`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            ModuleKind::View => "view",
            ModuleKind::Procedure => "procedure",
            ModuleKind::ScalarFunction => "scalar_function",
            ModuleKind::InlineTableFunction => "inline_table_function",
            ModuleKind::TableFunction => "table_function",
            ModuleKind::Trigger => "trigger",
            ModuleKind::Rule => "rule",
            ModuleKind::Default => "default",
            ModuleKind::Other => "other",
        }
    }
}

/// An object listed by name only (synonyms, sequences, user-defined types…).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Schema name.
    pub schema: String,
    /// Object name.
    pub name: String,
    /// `sys.objects.type` code or a type description (`SO`, `SN`, `type`…).
    pub kind: String,
}

#[cfg(test)]
mod description_tests {
    use super::*;

    #[test]
    fn targets_by_class() {
        let t = DescribedObject { schema: "dbo", name: "T", kind: "U", user_table: true };
        let v = DescribedObject { schema: "dbo", name: "V", kind: "V", user_table: false };
        assert_eq!(
            DescriptionTarget::of(1, 5, 0, Some(t), None, None),
            DescriptionTarget::Table { schema: "dbo".into(), table: "T".into() }
        );
        assert_eq!(
            DescriptionTarget::of(1, 5, 2, Some(t), Some("c"), None),
            DescriptionTarget::Column { schema: "dbo".into(), table: "T".into(), column: "c".into() }
        );
        let what = |d: DescriptionTarget| match d {
            DescriptionTarget::Other { what } => what,
            d => panic!("{d:?}"),
        };
        assert_eq!(what(DescriptionTarget::of(1, 5, 9, Some(t), None, None)), "minor id 9 of dbo.T (type U)");
        assert_eq!(what(DescriptionTarget::of(1, 6, 0, Some(v), None, None)), "object dbo.V (type V)");
        assert_eq!(what(DescriptionTarget::of(1, 6, 1, Some(v), Some("c"), None)), "column c of dbo.V (type V)");
        assert_eq!(what(DescriptionTarget::of(0, 0, 0, None, None, None)), "the database");
        assert_eq!(what(DescriptionTarget::of(3, 7, 0, None, None, Some("Sales"))), "schema Sales");
        assert_eq!(what(DescriptionTarget::of(7, 5, 2, Some(t), None, None)), "index id 2 of dbo.T");
        assert_eq!(what(DescriptionTarget::of(1, 99, 0, None, None, None)), "object id 99 (not in the catalog)");
        assert_eq!(what(DescriptionTarget::of(22, 1, 0, None, None, None)), "class 22 id 1 minor id 0");
    }
}
