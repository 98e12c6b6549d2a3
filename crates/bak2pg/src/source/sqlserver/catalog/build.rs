//! The schema model built from the catalog rows, with the native reader's rules.

use std::collections::{BTreeMap, HashMap, HashSet};

use mssql_backup::schema::{
    CheckConstraint, Column, Compression, Computed, Database, DefaultConstraint, DescribedObject, Description,
    DescriptionTarget, FkAction, ForeignKey, Identity, Index, IndexColumn, IndexKind, KeyConstraint, Module,
    ModuleKind, ObjectRef, Storage, StorageKind, Table,
};
use mssql_backup::{Collation, SqlType, StoredType};

use super::CatalogRows;
use super::views::{ColumnRow, ForeignKeyColumnRow, IndexColumnRow, IndexRow, ObjectRow, PartitionRow, TypeRow};

/// Columns SQL Server does not store in the row: `(object_id, column_id)` of column sets.
/// (Non-persisted computed columns are visible in the model itself.)
pub type ColumnSets = HashSet<(i32, i32)>;

/// Object types listed by name only, as the native reader lists them.
pub const LISTED_KINDS: &[&str] = &["SO", "SN", "SQ", "TT"];

/// Catalog rows that do not make a model. Rows that do not fit together are described
/// in text (nobody branches on which); a collation or type the model cannot hold keeps
/// mssql-backup's error as its source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A collation id or column type the model cannot hold.
    #[error("{context}: {source}")]
    Model {
        /// Where (`table dbo.t: column c`, `database collation`).
        context: String,
        /// The model's refusal (an [`mssql_backup::Error`]), boxed: it is large, and a
        /// `Box<dyn Error>` still downcasts to it.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Rows that do not fit together (a table without columns, an index or foreign key
    /// naming a column that is not there); the message names the table.
    #[error("{0}")]
    Inconsistent(String),
}

fn lookup_collation(id: Option<i32>, what: &str) -> Result<Option<Collation>, BuildError> {
    match id {
        None | Some(0) => Ok(None),
        // COLLATIONPROPERTY returns the 32-bit id as an int; ids with a SQL sort order
        // above 127 are negative there.
        Some(id) => Collation::from_id(id as u32)
            .map(Some)
            .map_err(|e| BuildError::Model { context: what.into(), source: Box::new(e) }),
    }
}

/// Builds the model from the catalog rows. `name` is the database name as backed up
/// (`RESTORE HEADERONLY` `DatabaseName`, not the name it was restored under);
/// `collation_id` the database's default collation id.
///
/// # Errors
/// A table without columns, a collation id or type the model cannot hold, a foreign key
/// whose columns cannot be paired: each message names the table.
pub fn build_database(
    name: &str,
    collation_id: Option<i32>,
    rows: &CatalogRows,
) -> Result<(Database, ColumnSets), BuildError> {
    let type_names: HashMap<i32, String> = rows.types.iter().map(|t| (t.user_type_id, t.name.clone())).collect();
    let mut columns_of: HashMap<i32, Vec<&ColumnRow>> = HashMap::new();
    for c in &rows.columns {
        columns_of.entry(c.object_id).or_default().push(c);
    }
    let mut column_sets = ColumnSets::new();
    let mut tables = Vec::with_capacity(rows.tables.len());
    for t in &rows.tables {
        let display = format!("{}.{}", t.schema, t.name);
        let ctx = |m: String| BuildError::Inconsistent(format!("table {display}: {m}"));
        let mut cols = columns_of.get(&t.object_id).cloned().unwrap_or_default();
        if cols.is_empty() {
            return Err(ctx("no columns in sys.columns".into()));
        }
        cols.sort_by_key(|c| c.column_id);
        let mut columns = Vec::with_capacity(cols.len());
        for c in &cols {
            let stored = StoredType {
                system_type_id: c.system_type_id,
                user_type_id: c.user_type_id,
                max_length: c.max_length,
                precision: c.precision,
                scale: c.scale,
                collation_id: c.collation_id.unwrap_or(0) as u32,
            };
            let ty = SqlType::from_stored(&stored, &type_names).map_err(|e| BuildError::Model {
                context: format!("table {display}: column {}", c.name),
                source: Box::new(e),
            })?;
            if c.is_column_set {
                column_sets.insert((c.object_id, c.column_id));
            }
            columns.push(Column {
                column_id: c.column_id,
                name: c.name.clone(),
                ty,
                nullable: c.is_nullable,
                identity: if c.is_identity {
                    c.identity.map(|(seed, increment, last_value)| Identity { seed, increment, last_value })
                } else {
                    None
                },
                computed: c.is_computed.then(|| Computed {
                    definition: c.computed_definition.clone().unwrap_or_default(),
                    persisted: c.is_persisted,
                }),
                // As the native reader: a default is listed when its text is readable.
                default: match (&c.default_definition, c.default_object_id) {
                    (Some(d), id) if id != 0 => Some(DefaultConstraint {
                        name: c.default_name.clone().unwrap_or_default(),
                        definition: d.clone(),
                    }),
                    _ => None,
                },
                rowguidcol: c.is_rowguidcol,
                sparse: c.is_sparse,
            });
        }
        let col_name = |id: i32| cols.iter().find(|c| c.column_id == id).map(|c| c.name.clone());

        let mut parts: Vec<&PartitionRow> = rows.partitions.iter().filter(|p| p.object_id == t.object_id).collect();
        parts.sort_by_key(|p| (p.index_id, p.partition_number));
        let first = parts.first();
        let storage = Storage {
            kind: match first.map(|p| (p.index_id, p.index_type)) {
                None | Some((0, _)) => StorageKind::Heap,
                Some((_, 5)) => StorageKind::ClusteredColumnstore,
                _ => StorageKind::Clustered,
            },
            compression: match first.map_or(0, |p| p.data_compression) {
                0 => Compression::None,
                1 => Compression::Row,
                2 => Compression::Page,
                3 => Compression::Columnstore,
                _ => Compression::ColumnstoreArchive,
            },
            partitions: parts.len() as u32,
            memory_optimized: t.is_memory_optimized,
        };

        let mut primary_key = None;
        let mut unique_constraints = Vec::new();
        let mut indexes = Vec::new();
        let mut ixs: Vec<&IndexRow> = rows.indexes.iter().filter(|i| i.object_id == t.object_id).collect();
        ixs.sort_by_key(|i| i.index_id);
        for ix in ixs {
            let mut ics: Vec<&IndexColumnRow> =
                rows.index_columns.iter().filter(|c| c.object_id == t.object_id && c.index_id == ix.index_id).collect();
            ics.sort_by_key(|c| {
                (
                    c.is_included_column,
                    if c.key_ordinal == 0 { i32::MAX } else { i32::from(c.key_ordinal) },
                    c.index_column_id,
                )
            });
            let mut icols = Vec::with_capacity(ics.len());
            for c in ics {
                let name = col_name(c.column_id)
                    .ok_or_else(|| ctx(format!("index {} names unknown column {}", ix.name, c.column_id)))?;
                icols.push(IndexColumn { name, descending: c.is_descending_key, included: c.is_included_column });
            }
            let kind = match ix.index_type {
                1 => IndexKind::Clustered,
                2 => IndexKind::NonClustered,
                5 => IndexKind::ClusteredColumnstore,
                6 => IndexKind::NonClusteredColumnstore,
                _ => IndexKind::Other,
            };
            if ix.is_primary_key {
                primary_key =
                    Some(KeyConstraint { name: ix.name.clone(), columns: icols, clustered: ix.index_type == 1 });
            } else if ix.is_unique_constraint {
                unique_constraints.push(KeyConstraint {
                    name: ix.name.clone(),
                    columns: icols,
                    clustered: ix.index_type == 1,
                });
            } else {
                indexes.push(Index {
                    name: ix.name.clone(),
                    index_id: ix.index_id,
                    kind,
                    unique: ix.is_unique,
                    columns: icols,
                    filter: ix.filter_definition.clone(),
                    disabled: ix.is_disabled,
                });
            }
        }

        let mut foreign_keys = Vec::new();
        for fk in rows.foreign_keys.iter().filter(|f| f.parent_object_id == t.object_id) {
            let mut pairs: BTreeMap<i32, &ForeignKeyColumnRow> = BTreeMap::new();
            for c in rows.foreign_key_columns.iter().filter(|c| c.constraint_object_id == fk.object_id) {
                pairs.insert(c.constraint_column_id, c);
            }
            let mut columns = Vec::new();
            let mut referenced_columns = Vec::new();
            for (ord, c) in pairs {
                match (&c.parent_column, &c.referenced_column) {
                    (Some(a), Some(b)) => {
                        columns.push(a.clone());
                        referenced_columns.push(b.clone());
                    }
                    _ => return Err(ctx(format!("foreign key {}: column pair {ord} is incomplete", fk.name))),
                }
            }
            foreign_keys.push(ForeignKey {
                name: fk.name.clone(),
                columns,
                referenced_schema: fk.referenced_schema.clone(),
                referenced_table: fk.referenced_table.clone(),
                referenced_columns,
                on_delete: FkAction::from_code(i32::from(fk.delete_action)),
                on_update: FkAction::from_code(i32::from(fk.update_action)),
                disabled: fk.is_disabled,
                not_trusted: fk.is_not_trusted,
            });
        }
        foreign_keys.sort_by(|a, b| a.name.cmp(&b.name));
        let mut check_constraints: Vec<CheckConstraint> = rows
            .checks
            .iter()
            .filter(|c| c.parent_object_id == t.object_id)
            .map(|c| CheckConstraint {
                name: c.name.clone(),
                definition: c.definition.clone().unwrap_or_default(),
                column: c.column.clone(),
                disabled: c.is_disabled,
                not_trusted: c.is_not_trusted,
            })
            .collect();
        check_constraints.sort_by(|a, b| a.name.cmp(&b.name));

        tables.push(Table {
            object_id: t.object_id,
            schema: t.schema.clone(),
            name: t.name.clone(),
            columns,
            primary_key,
            unique_constraints,
            indexes,
            foreign_keys,
            check_constraints,
            storage,
            row_count_hint: Some(parts.iter().map(|p| p.rows.max(0) as u64).sum()),
        });
    }
    tables.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));

    let mut objects: Vec<&ObjectRow> = rows.objects.iter().collect();
    objects.sort_by_key(|o| o.object_id);
    let mut modules = Vec::new();
    let mut other_objects = Vec::new();
    for o in objects {
        if let Some(kind) = ModuleKind::from_object_type(&o.kind) {
            modules.push(Module {
                object_id: o.object_id,
                schema: o.schema.clone(),
                name: o.name.clone(),
                kind,
                definition: o.definition.clone(),
                parent: o.parent.clone(),
            });
        } else if LISTED_KINDS.contains(&o.kind.as_str()) {
            other_objects.push(ObjectRef { schema: o.schema.clone(), name: o.name.clone(), kind: o.kind.clone() });
        }
    }
    modules.sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
    let mut types: Vec<&TypeRow> = rows.types.iter().filter(|t| t.user_type_id > 256).collect();
    types.sort_by_key(|t| t.user_type_id);
    for t in types {
        other_objects.push(ObjectRef { schema: t.schema.clone(), name: t.name.clone(), kind: "type".into() });
    }
    let descriptions = rows
        .descriptions
        .iter()
        .map(|d| {
            let object = d.object.as_deref().zip(d.schema.as_deref()).zip(d.object_type.as_deref()).map(
                |((name, schema), kind)| DescribedObject {
                    schema,
                    name,
                    kind,
                    user_table: kind == "U" && !d.is_ms_shipped,
                },
            );
            let target = DescriptionTarget::of(
                d.class,
                d.major_id,
                d.minor_id,
                object,
                d.column.as_deref(),
                d.schema.as_deref().filter(|_| d.class == 3),
            );
            let text = d.text.clone().ok_or_else(|| format!("a sql_variant holding {}, not text", d.base_type));
            Description { target, text }
        })
        .collect();
    let collation = lookup_collation(collation_id, "database collation")?;
    Ok((
        Database {
            name: name.to_string(),
            collation,
            tables,
            modules,
            other_objects,
            unreadable_definitions: Vec::new(),
            descriptions,
        },
        column_sets,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::sqlserver::catalog::{CheckRow, DescriptionRow, ForeignKeyRow, TableRow};

    fn cp1252() -> Collation {
        Collation::from_id(0x3400D008).unwrap()
    }

    fn col(object_id: i32, column_id: i32, name: &str, xtype: u8, utype: i32, len: i16) -> ColumnRow {
        ColumnRow {
            object_id,
            column_id,
            name: name.into(),
            system_type_id: xtype,
            user_type_id: utype,
            max_length: len,
            is_nullable: true,
            ..Default::default()
        }
    }

    /// Hand-built rows mirroring what `sys.*` returns for a cut-down Northwind: Orders and
    /// Order Details, with an alias type, a computed column, a default, an identity, keys,
    /// an index with an included column, a foreign key and a check.
    fn northwind_rows() -> CatalogRows {
        let orders = 101;
        let details = 202;
        let mut order_id = col(orders, 1, "OrderID", 56, 56, 4);
        order_id.is_nullable = false;
        order_id.is_identity = true;
        order_id.identity = Some((1, 1, Some(11077)));
        let mut customer = col(orders, 2, "CustomerID", 239, 239, 10);
        customer.collation_id = Some(0x3400D008);
        let mut freight = col(orders, 3, "Freight", 60, 60, 8);
        freight.precision = 19;
        freight.scale = 4;
        freight.default_object_id = 555;
        freight.default_name = Some("DF_Orders_Freight".into());
        freight.default_definition = Some("((0))".into());
        let mut ship = col(orders, 5, "ShipName", 231, 231, 80);
        ship.collation_id = Some(0x3400D008);
        let mut code = col(orders, 6, "Code", 167, 257, 11); // an alias type over varchar(11)
        code.collation_id = Some(0x3400D008);
        let mut did = col(details, 1, "OrderID", 56, 56, 4);
        did.is_nullable = false;
        let mut price = col(details, 2, "UnitPrice", 106, 106, 9);
        price.precision = 10;
        price.scale = 2;
        let mut qty = col(details, 3, "Quantity", 52, 52, 2);
        qty.is_nullable = false;
        let mut total = col(details, 4, "Total", 106, 106, 17);
        total.precision = 38;
        total.scale = 2;
        total.is_computed = true;
        total.computed_definition = Some("([UnitPrice]*[Quantity])".into());
        let mut tags = col(details, 5, "Tags", 241, 241, -1);
        tags.is_column_set = true;
        let ix = |object_id, index_id, name: &str, index_type, pk| IndexRow {
            object_id,
            index_id,
            name: name.into(),
            index_type,
            is_unique: pk,
            is_primary_key: pk,
            is_unique_constraint: false,
            is_disabled: false,
            filter_definition: None,
        };
        let ic = |object_id, index_id, index_column_id, column_id, key_ordinal, inc| IndexColumnRow {
            object_id,
            index_id,
            index_column_id,
            column_id,
            key_ordinal,
            is_descending_key: false,
            is_included_column: inc,
        };
        let mut filtered = ix(orders, 3, "IX_Ship", 2, false);
        filtered.filter_definition = Some("([ShipName] IS NOT NULL)".into());
        CatalogRows {
            // Not in name order: the model sorts.
            tables: vec![
                TableRow {
                    object_id: details,
                    schema: "dbo".into(),
                    name: "Order Details".into(),
                    is_memory_optimized: false,
                },
                TableRow { object_id: orders, schema: "dbo".into(), name: "Orders".into(), is_memory_optimized: false },
            ],
            columns: vec![did, price, qty, total, tags, ship, order_id, customer, freight, code],
            partitions: vec![
                PartitionRow {
                    object_id: orders,
                    index_id: 1,
                    partition_number: 1,
                    data_compression: 0,
                    rows: 830,
                    index_type: 1,
                },
                PartitionRow {
                    object_id: details,
                    index_id: 0,
                    partition_number: 2,
                    data_compression: 0,
                    rows: 1000,
                    index_type: 0,
                },
                PartitionRow {
                    object_id: details,
                    index_id: 0,
                    partition_number: 1,
                    data_compression: 2,
                    rows: 1155,
                    index_type: 0,
                },
            ],
            indexes: vec![filtered, ix(orders, 1, "PK_Orders", 1, true), ix(details, 2, "PK_Order_Details", 2, true)],
            index_columns: vec![
                ic(orders, 3, 2, 3, 0, true),
                ic(orders, 3, 1, 5, 1, false),
                ic(orders, 1, 1, 1, 1, false),
                ic(details, 2, 2, 2, 2, false),
                ic(details, 2, 1, 1, 1, false),
            ],
            foreign_keys: vec![ForeignKeyRow {
                object_id: 900,
                parent_object_id: details,
                name: "FK_Order_Details_Orders".into(),
                referenced_schema: "dbo".into(),
                referenced_table: "Orders".into(),
                delete_action: 1,
                update_action: 0,
                is_disabled: false,
                is_not_trusted: true,
            }],
            foreign_key_columns: vec![ForeignKeyColumnRow {
                constraint_object_id: 900,
                constraint_column_id: 1,
                parent_column: Some("OrderID".into()),
                referenced_column: Some("OrderID".into()),
            }],
            checks: vec![
                CheckRow {
                    parent_object_id: details,
                    name: "CK_Quantity".into(),
                    definition: Some("([Quantity]>(0))".into()),
                    column: Some("Quantity".into()),
                    is_disabled: false,
                    is_not_trusted: false,
                },
                CheckRow {
                    parent_object_id: details,
                    name: "CK_A".into(),
                    definition: Some("([UnitPrice]>=(0))".into()),
                    column: None,
                    is_disabled: true,
                    is_not_trusted: true,
                },
            ],
            objects: vec![
                ObjectRow {
                    object_id: 700,
                    schema: "dbo".into(),
                    name: "Invoices".into(),
                    kind: "V".into(),
                    definition: Some("create view Invoices as select 1 as x".into()),
                    parent: None,
                },
                ObjectRow {
                    object_id: 650,
                    schema: "dbo".into(),
                    name: "trg".into(),
                    kind: "TR".into(),
                    definition: None,
                    parent: Some("dbo.Orders".into()),
                },
                ObjectRow {
                    object_id: 640,
                    schema: "dbo".into(),
                    name: "seq".into(),
                    kind: "SO".into(),
                    definition: None,
                    parent: None,
                },
                ObjectRow {
                    object_id: 630,
                    schema: "dbo".into(),
                    name: "x".into(),
                    kind: "U".into(),
                    definition: None,
                    parent: None,
                },
            ],
            types: vec![
                TypeRow { user_type_id: 56, schema: "sys".into(), name: "int".into() },
                TypeRow { user_type_id: 257, schema: "dbo".into(), name: "code".into() },
            ],
            descriptions: vec![],
        }
    }

    #[test]
    fn northwind_like_catalog_maps_to_the_model() {
        let (db, sets) = build_database("Northwind", Some(0x3400D008), &northwind_rows()).unwrap();
        assert_eq!(db.name, "Northwind");
        assert_eq!(db.collation, Some(cp1252()));
        let names: Vec<&str> = db.tables.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["Order Details", "Orders"]);
        assert_eq!(sets, HashSet::from([(202, 5)]));

        let o = db.table("dbo", "Orders").unwrap();
        let tys: Vec<String> = o.columns.iter().map(|c| c.ty.sql_name()).collect();
        assert_eq!(tys, ["int", "nchar(5)", "money", "nvarchar(40)", "varchar(11)"]);
        assert_eq!(o.columns[1].ty.collation(), Some(&cp1252()));
        assert_eq!(o.columns[0].identity, Some(Identity { seed: 1, increment: 1, last_value: Some(11077) }));
        assert!(!o.columns[0].nullable);
        assert_eq!(
            o.columns[2].default,
            Some(DefaultConstraint { name: "DF_Orders_Freight".into(), definition: "((0))".into() })
        );
        assert_eq!(
            o.storage,
            Storage {
                kind: StorageKind::Clustered,
                compression: Compression::None,
                partitions: 1,
                memory_optimized: false
            }
        );
        assert_eq!(o.row_count_hint, Some(830));
        let pk = o.primary_key.as_ref().unwrap();
        assert_eq!((pk.name.as_str(), pk.clustered, pk.columns.len()), ("PK_Orders", true, 1));
        assert_eq!(o.indexes.len(), 1);
        let ix = &o.indexes[0];
        assert_eq!(ix.filter.as_deref(), Some("([ShipName] IS NOT NULL)"));
        assert_eq!(
            ix.columns,
            [
                IndexColumn { name: "ShipName".into(), descending: false, included: false },
                IndexColumn { name: "Freight".into(), descending: false, included: true },
            ]
        );

        let d = db.table("dbo", "Order Details").unwrap();
        assert_eq!(d.columns[1].ty, mssql_backup::SqlType::Decimal { precision: 10, scale: 2, numeric: false });
        assert_eq!(
            d.columns[3].computed,
            Some(Computed { definition: "([UnitPrice]*[Quantity])".into(), persisted: false })
        );
        assert_eq!(d.columns[4].ty, mssql_backup::SqlType::Xml);
        // Partitions in number order: the first one's compression, rows summed.
        assert_eq!(
            d.storage,
            Storage { kind: StorageKind::Heap, compression: Compression::Page, partitions: 2, memory_optimized: false }
        );
        assert_eq!(d.row_count_hint, Some(2155));
        let pk = d.primary_key.as_ref().unwrap();
        assert!(!pk.clustered);
        assert_eq!(pk.columns.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["OrderID", "UnitPrice"]);
        assert_eq!(
            d.foreign_keys,
            [ForeignKey {
                name: "FK_Order_Details_Orders".into(),
                columns: vec!["OrderID".into()],
                referenced_schema: "dbo".into(),
                referenced_table: "Orders".into(),
                referenced_columns: vec!["OrderID".into()],
                on_delete: FkAction::Cascade,
                on_update: FkAction::NoAction,
                disabled: false,
                not_trusted: true,
            }]
        );
        let checks: Vec<(&str, Option<&str>)> =
            d.check_constraints.iter().map(|c| (c.name.as_str(), c.column.as_deref())).collect();
        assert_eq!(checks, [("CK_A", None), ("CK_Quantity", Some("Quantity"))]);

        let modules: Vec<(&str, ModuleKind, Option<&str>)> =
            db.modules.iter().map(|m| (m.name.as_str(), m.kind, m.parent.as_deref())).collect();
        assert_eq!(modules, [("Invoices", ModuleKind::View, None), ("trg", ModuleKind::Trigger, Some("dbo.Orders"))]);
        let others: Vec<(&str, &str)> = db.other_objects.iter().map(|o| (o.name.as_str(), o.kind.as_str())).collect();
        assert_eq!(others, [("seq", "SO"), ("code", "type")]);
    }

    #[test]
    fn descriptions_name_their_targets_as_the_native_reader_does() {
        let mut rows = northwind_rows();
        let row = |class, major_id, minor_id, column: Option<&str>, text: Option<&str>| DescriptionRow {
            class,
            major_id,
            minor_id,
            schema: Some("dbo".into()),
            object: Some("Orders".into()),
            object_type: Some("U".into()),
            is_ms_shipped: false,
            column: column.map(str::to_string),
            base_type: if text.is_some() { "nvarchar".into() } else { "int".into() },
            text: text.map(str::to_string),
        };
        rows.descriptions = vec![
            row(1, 101, 0, None, Some("Orders placed")),
            row(1, 101, 5, Some("ShipName"), Some("Ship to")),
            row(1, 101, 3, Some("Freight"), None),
            row(7, 101, 3, None, Some("an index")),
        ];
        let (db, _) = build_database("nw", Some(0x3400D008), &rows).unwrap();
        let t = |table: &str| DescriptionTarget::Table { schema: "dbo".into(), table: table.into() };
        assert_eq!(db.descriptions[0], Description { target: t("Orders"), text: Ok("Orders placed".into()) });
        assert_eq!(
            db.descriptions[1].target,
            DescriptionTarget::Column { schema: "dbo".into(), table: "Orders".into(), column: "ShipName".into() }
        );
        assert_eq!(db.descriptions[2].text, Err("a sql_variant holding int, not text".into()));
        assert_eq!(db.descriptions[3].target, DescriptionTarget::Other { what: "index id 3 of dbo.Orders".into() });
    }

    #[test]
    fn errors_name_the_table() {
        let mut rows = northwind_rows();
        rows.columns.retain(|c| c.object_id != 101);
        assert!(build_database("N", None, &rows).unwrap_err().to_string().starts_with("table dbo.Orders: no columns"));
        let mut rows = northwind_rows();
        rows.columns[5].collation_id = Some(0x00F0_0000);
        let e = build_database("N", None, &rows).unwrap_err();
        assert!(e.to_string().starts_with("table dbo.Orders: column ShipName:"), "{e}");
        // The collation lookup's own error stays reachable.
        let source = std::error::Error::source(&e).expect("a source");
        assert!(source.downcast_ref::<mssql_backup::Error>().is_some(), "{source:?}");
        let mut rows = northwind_rows();
        rows.foreign_key_columns[0].referenced_column = None;
        assert!(build_database("N", None, &rows).unwrap_err().to_string().contains("column pair 1 is incomplete"));
        let mut rows = northwind_rows();
        rows.index_columns[0].column_id = 99;
        assert!(build_database("N", None, &rows).unwrap_err().to_string().contains("names unknown column 99"));
    }

    /// The rows `sys.*` would return for a database the native reader read (the
    /// documented correspondence of the views to the base tables), mapped back: the model
    /// must come out identical, for every fixture that the native reader reads whole.
    fn rows_from_model(db: &Database) -> CatalogRows {
        let mut r = CatalogRows::default();
        let mut next_id = 1_000_000;
        let mut type_ids: HashMap<String, i32> = HashMap::new();
        for o in &db.other_objects {
            if o.kind == "type" {
                let id = 257 + type_ids.len() as i32;
                type_ids.insert(o.name.clone(), id);
                r.types.push(TypeRow { user_type_id: id, schema: o.schema.clone(), name: o.name.clone() });
            } else {
                next_id += 1;
                r.objects.push(ObjectRow {
                    object_id: next_id,
                    schema: o.schema.clone(),
                    name: o.name.clone(),
                    kind: o.kind.clone(),
                    definition: None,
                    parent: None,
                });
            }
        }
        for t in &db.tables {
            r.tables.push(TableRow {
                object_id: t.object_id,
                schema: t.schema.clone(),
                name: t.name.clone(),
                is_memory_optimized: t.storage.memory_optimized,
            });
            for c in &t.columns {
                use mssql_backup::SqlType as S;
                // sys.columns: system_type_id, user_type_id, max_length in bytes.
                let (xtype, utype, len, prec, scale): (u8, i32, i16, u8, u8) = match &c.ty {
                    S::Bit => (104, 104, 1, 1, 0),
                    S::TinyInt => (48, 48, 1, 3, 0),
                    S::SmallInt => (52, 52, 2, 5, 0),
                    S::Int => (56, 56, 4, 10, 0),
                    S::BigInt => (127, 127, 8, 19, 0),
                    S::Real => (59, 59, 4, 24, 0),
                    S::Float => (62, 62, 8, 53, 0),
                    S::Decimal { precision, scale, numeric } => {
                        let x = if *numeric { 108 } else { 106 };
                        (x, x.into(), 17, *precision, *scale)
                    }
                    S::Money => (60, 60, 8, 19, 4),
                    S::SmallMoney => (122, 122, 4, 10, 4),
                    S::Char { len, .. } => (175, 175, *len as i16, 0, 0),
                    S::VarChar { len, .. } => (167, 167, len.map_or(-1, |n| n as i16), 0, 0),
                    S::Text { .. } => (35, 35, 16, 0, 0),
                    S::NChar { len, .. } => (239, 239, (*len * 2) as i16, 0, 0),
                    S::NVarChar { len, .. } => (231, 231, len.map_or(-1, |n| (n * 2) as i16), 0, 0),
                    S::NText { .. } => (99, 99, 16, 0, 0),
                    S::Binary { len } => (173, 173, *len as i16, 0, 0),
                    S::VarBinary { len } => (165, 165, len.map_or(-1, |n| n as i16), 0, 0),
                    S::Image => (34, 34, 16, 0, 0),
                    S::UniqueIdentifier => (36, 36, 16, 0, 0),
                    S::Date => (40, 40, 3, 10, 0),
                    S::Time { scale } => (41, 41, 5, 16, *scale),
                    S::SmallDateTime => (58, 58, 4, 16, 0),
                    S::DateTime => (61, 61, 8, 23, 3),
                    S::DateTime2 { scale } => (42, 42, 8, 27, *scale),
                    S::DateTimeOffset { scale } => (43, 43, 10, 34, *scale),
                    S::RowVersion => (189, 189, 8, 0, 0),
                    S::SqlVariant => (98, 98, 8016, 0, 0),
                    S::Xml => (241, 241, -1, 0, 0),
                    S::HierarchyId => (240, 128, 892, 0, 0),
                    S::Geometry => (240, 129, -1, 0, 0),
                    S::Geography => (240, 130, -1, 0, 0),
                    S::Clr { name, max_length } => (240, type_ids[name], *max_length, 0, 0),
                    S::Unknown { type_id, name, max_length } => {
                        let id = i32::from(*type_id);
                        if !r.types.iter().any(|t| t.user_type_id == id) {
                            r.types.push(TypeRow { user_type_id: id, schema: "sys".into(), name: name.clone() });
                        }
                        (*type_id, id, *max_length, 0, 0)
                    }
                    other => panic!("no sys.columns row for {other:?}"),
                };
                let (seed, inc, last) = c.identity.map_or((0, 0, None), |i| (i.seed, i.increment, i.last_value));
                r.columns.push(ColumnRow {
                    object_id: t.object_id,
                    column_id: c.column_id,
                    name: c.name.clone(),
                    system_type_id: xtype,
                    user_type_id: utype,
                    max_length: len,
                    precision: prec,
                    scale,
                    collation_id: c.ty.collation().map(|k| k.id as i32),
                    is_nullable: c.nullable,
                    is_identity: c.identity.is_some(),
                    is_rowguidcol: c.rowguidcol,
                    is_computed: c.computed.is_some(),
                    is_sparse: c.sparse,
                    is_column_set: false,
                    default_object_id: if c.default.is_some() { 1 } else { 0 },
                    default_name: c.default.as_ref().map(|d| d.name.clone()),
                    default_definition: c.default.as_ref().map(|d| d.definition.clone()),
                    computed_definition: c.computed.as_ref().map(|k| k.definition.clone()),
                    is_persisted: c.computed.as_ref().is_some_and(|k| k.persisted),
                    identity: c.identity.map(|_| (seed, inc, last)),
                });
            }
            for p in 0..t.storage.partitions {
                r.partitions.push(PartitionRow {
                    object_id: t.object_id,
                    index_id: if t.storage.kind == StorageKind::Heap { 0 } else { 1 },
                    partition_number: p as i32 + 1,
                    data_compression: match t.storage.compression {
                        Compression::None => 0,
                        Compression::Row => 1,
                        Compression::Page => 2,
                        Compression::Columnstore => 3,
                        Compression::ColumnstoreArchive => 4,
                    },
                    rows: if p == 0 { t.row_count_hint.unwrap_or(0) as i64 } else { 0 },
                    index_type: match t.storage.kind {
                        StorageKind::Heap => 0,
                        StorageKind::Clustered => 1,
                        StorageKind::ClusteredColumnstore => 5,
                    },
                });
            }
            let col_id = |n: &str| t.column(n).unwrap().column_id;
            let mut push_index = |index_id: i32,
                                  name: &str,
                                  kind: u8,
                                  unique: bool,
                                  pk: bool,
                                  uq: bool,
                                  cols: &[IndexColumn],
                                  filter: Option<String>,
                                  disabled: bool| {
                r.indexes.push(IndexRow {
                    object_id: t.object_id,
                    index_id,
                    name: name.into(),
                    index_type: kind,
                    is_unique: unique,
                    is_primary_key: pk,
                    is_unique_constraint: uq,
                    is_disabled: disabled,
                    filter_definition: filter,
                });
                let mut key = 0;
                for (i, c) in cols.iter().enumerate() {
                    if !c.included {
                        key += 1;
                    }
                    r.index_columns.push(IndexColumnRow {
                        object_id: t.object_id,
                        index_id,
                        index_column_id: i as i32 + 1,
                        column_id: col_id(&c.name),
                        key_ordinal: if c.included { 0 } else { key },
                        is_descending_key: c.descending,
                        is_included_column: c.included,
                    });
                }
            };
            // Key constraints get index ids below every plain index; their order among
            // themselves is the model's.
            let mut id = 1000;
            if let Some(pk) = &t.primary_key {
                let kind = if pk.clustered { 1 } else { 2 };
                push_index(
                    if pk.clustered { 1 } else { id },
                    &pk.name,
                    kind,
                    true,
                    true,
                    false,
                    &pk.columns,
                    None,
                    false,
                );
                id += 1;
            }
            for uq in &t.unique_constraints {
                let kind = if uq.clustered { 1 } else { 2 };
                push_index(
                    if uq.clustered { 1 } else { id },
                    &uq.name,
                    kind,
                    true,
                    false,
                    true,
                    &uq.columns,
                    None,
                    false,
                );
                id += 1;
            }
            for ix in &t.indexes {
                let kind = match ix.kind {
                    IndexKind::Clustered => 1,
                    IndexKind::NonClustered => 2,
                    IndexKind::ClusteredColumnstore => 5,
                    IndexKind::NonClusteredColumnstore => 6,
                    IndexKind::Other => 3,
                };
                push_index(
                    ix.index_id,
                    &ix.name,
                    kind,
                    ix.unique,
                    false,
                    false,
                    &ix.columns,
                    ix.filter.clone(),
                    ix.disabled,
                );
            }
            for fk in &t.foreign_keys {
                next_id += 1;
                r.foreign_keys.push(ForeignKeyRow {
                    object_id: next_id,
                    parent_object_id: t.object_id,
                    name: fk.name.clone(),
                    referenced_schema: fk.referenced_schema.clone(),
                    referenced_table: fk.referenced_table.clone(),
                    delete_action: fk.on_delete as u8,
                    update_action: fk.on_update as u8,
                    is_disabled: fk.disabled,
                    is_not_trusted: fk.not_trusted,
                });
                for (i, (a, b)) in fk.columns.iter().zip(&fk.referenced_columns).enumerate() {
                    r.foreign_key_columns.push(ForeignKeyColumnRow {
                        constraint_object_id: next_id,
                        constraint_column_id: i as i32 + 1,
                        parent_column: Some(a.clone()),
                        referenced_column: Some(b.clone()),
                    });
                }
            }
            for c in &t.check_constraints {
                r.checks.push(CheckRow {
                    parent_object_id: t.object_id,
                    name: c.name.clone(),
                    definition: Some(c.definition.clone()),
                    column: c.column.clone(),
                    is_disabled: c.disabled,
                    is_not_trusted: c.not_trusted,
                });
            }
        }
        for m in &db.modules {
            let kind = match m.kind {
                ModuleKind::View => "V",
                ModuleKind::Procedure => "P",
                ModuleKind::ScalarFunction => "FN",
                ModuleKind::InlineTableFunction => "IF",
                ModuleKind::TableFunction => "TF",
                ModuleKind::Trigger => "TR",
                ModuleKind::Rule => "R",
                ModuleKind::Default | ModuleKind::Other => "PC",
            };
            r.objects.push(ObjectRow {
                object_id: m.object_id,
                schema: m.schema.clone(),
                name: m.name.clone(),
                kind: kind.into(),
                definition: m.definition.clone(),
                parent: m.parent.clone(),
            });
        }
        for d in &db.descriptions {
            let (table, column) = match &d.target {
                DescriptionTarget::Table { schema, table } => (db.table(schema, table).unwrap(), None),
                DescriptionTarget::Column { schema, table, column } => {
                    let t = db.table(schema, table).unwrap();
                    (t, Some(t.column(column).unwrap()))
                }
                DescriptionTarget::Other { what } => panic!("no fixture describes {what}"),
            };
            r.descriptions.push(DescriptionRow {
                class: 1,
                major_id: table.object_id,
                minor_id: column.map_or(0, |c| c.column_id),
                schema: Some(table.schema.clone()),
                object: Some(table.name.clone()),
                object_type: Some("U".into()),
                is_ms_shipped: false,
                column: column.map(|c| c.name.clone()),
                base_type: "nvarchar".into(),
                text: Some(d.text.clone().unwrap()),
            });
        }
        r
    }

    fn fixtures() -> Vec<std::path::PathBuf> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/bak");
        let mut v: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "bak"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn fixture_schemas_survive_the_catalog_view_mapping() {
        let mut checked = 0;
        for path in fixtures() {
            let Ok(backup) = mssql_backup::Backup::open(&[path.as_path()]) else { continue };
            let Ok(native) = backup.database() else { continue };
            // The rows sys.* would show; the model rebuilt from them is the native one.
            let rows = rows_from_model(native);
            let (db, _) = build_database(&native.name, native.collation.as_ref().map(|c| c.id as i32), &rows)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            // Other objects come in object-id order, which the model does not record: compare as sets.
            let mut a = db.clone();
            let mut b = native.clone();
            a.other_objects.sort_by(|x, y| (&x.kind, &x.schema, &x.name).cmp(&(&y.kind, &y.schema, &y.name)));
            b.other_objects.sort_by(|x, y| (&x.kind, &x.schema, &x.name).cmp(&(&y.kind, &y.schema, &y.name)));
            for (x, y) in a.tables.iter().zip(&b.tables) {
                assert_eq!(x, y, "{}: table {}.{}", path.display(), y.schema, y.name);
            }
            assert_eq!(a, b, "{}", path.display());
            checked += 1;
        }
        // Every fixture that the native reader reads whole (all but the partial stripes
        // and the one without a boot page).
        assert!(checked >= 12, "only {checked} fixtures were read");
    }
}
