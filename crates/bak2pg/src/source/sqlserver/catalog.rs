//! The schema of a restored database read from the `sys.*` catalog views into the same
//! [`Database`](crate::schema::Database) model the native reader builds from the system
//! base tables.
//!
//! Each query's rows land in a plain struct named after its view ([`TableRow`],
//! [`ColumnRow`], …); [`build_database`] turns them into the model with the native
//! reader's rules (mssql-backup `catalog::build`), so that both engines agree:
//! column types through the very same function
//! ([`mssql_backup::SqlType::from_stored`], fed the `sys.columns` values that mirror
//! `syscolpars`), tables ordered by schema then name, indexes by `index_id`, index
//! columns keys first by key ordinal then included ones, foreign keys and checks by name,
//! modules by schema then name, other objects by object id then user types by id.
//!
//! Views and columns (Microsoft Learn, "sys.tables", "sys.columns", "sys.computed_columns",
//! "sys.identity_columns", "sys.partitions", "sys.indexes", "sys.index_columns",
//! "sys.foreign_keys", "sys.foreign_key_columns", "sys.check_constraints", "sys.objects",
//! "sys.types", "sys.extended_properties", `OBJECT_DEFINITION`, `COLLATIONPROPERTY`): `sys.columns.system_type_id`,
//! `user_type_id`, `max_length` (bytes, -1 for `max`), `precision`, `scale` are
//! `syscolpars`' `xtype`, `utype`, `length`, `prec`, `scale`;
//! `COLLATIONPROPERTY(name, 'CollationID')` is the stored collation id; the identity
//! columns' `seed_value`, `increment_value`, `last_value` are `sql_variant`s (NULL
//! `last_value`: no value generated yet); `data_compression` is 0 none, 1 row, 2 page,
//! 3 columnstore, 4 columnstore archive; index `type` 0 heap, 1 clustered, 2
//! nonclustered, 5/6 clustered/nonclustered columnstore; referential actions 0 no
//! action, 1 cascade, 2 set null, 3 set default.
//!
//! Files: `views` (per view: row struct, query, mapping of a result row), `build` (the
//! model from the rows); [`read_catalog`] runs the queries.

mod build;
mod views;

pub use build::{BuildError, ColumnSets, LISTED_KINDS, build_database};
pub use views::{
    CheckRow, ColumnRow, DescriptionRow, ForeignKeyColumnRow, ForeignKeyRow, IndexColumnRow, IndexRow, ObjectRow,
    PartitionRow, TableRow, TypeRow,
};

use self::views::CatalogView;
use super::client::{Client, map_rows, query};
use super::error::engine;
use crate::source::SourceError;

/// Every catalog row [`build_database`] uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogRows {
    /// `sys.tables`.
    pub tables: Vec<TableRow>,
    /// `sys.columns` and friends.
    pub columns: Vec<ColumnRow>,
    /// `sys.partitions` of the base indexes.
    pub partitions: Vec<PartitionRow>,
    /// `sys.indexes`.
    pub indexes: Vec<IndexRow>,
    /// `sys.index_columns`.
    pub index_columns: Vec<IndexColumnRow>,
    /// `sys.foreign_keys`.
    pub foreign_keys: Vec<ForeignKeyRow>,
    /// `sys.foreign_key_columns`.
    pub foreign_key_columns: Vec<ForeignKeyColumnRow>,
    /// `sys.check_constraints`.
    pub checks: Vec<CheckRow>,
    /// `sys.objects` of modules and listed kinds.
    pub objects: Vec<ObjectRow>,
    /// `sys.types`.
    pub types: Vec<TypeRow>,
    /// `sys.extended_properties` named `MS_Description`.
    pub descriptions: Vec<DescriptionRow>,
}

/// Runs `V`'s query and maps its rows.
async fn fetch<V: CatalogView>(client: &mut Client, server: &str) -> Result<Vec<V>, SourceError> {
    let rows = query(client, server, V::WHAT, V::SQL).await?;
    map_rows(&rows, V::WHAT, V::from_cells)
}

/// Reads every catalog row the model needs, in the current database of `client`.
///
/// # Errors
/// A query SQL Server refuses, or a column of an unexpected type.
pub async fn read_catalog(client: &mut Client, server: &str) -> Result<(CatalogRows, Option<i32>), SourceError> {
    let db = query(client, server, "reading the database collation", views::DATABASE).await?;
    let collation_id = views::database_collation(&db).map_err(engine)?;
    let rows = CatalogRows {
        tables: fetch(client, server).await?,
        columns: fetch(client, server).await?,
        partitions: fetch(client, server).await?,
        indexes: fetch(client, server).await?,
        index_columns: fetch(client, server).await?,
        foreign_keys: fetch(client, server).await?,
        foreign_key_columns: fetch(client, server).await?,
        checks: fetch(client, server).await?,
        objects: fetch(client, server).await?,
        types: fetch(client, server).await?,
        descriptions: fetch(client, server).await?,
    };
    Ok((rows, collation_id))
}
