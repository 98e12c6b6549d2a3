//! The PostgreSQL schema: names, tables, and the keys, indexes, constraints and defaults
//! created after the data.
//!
//! [`plan()`] turns the source [`Database`](crate::schema::Database) into a deterministic
//! [`Plan`]: every PostgreSQL name (schemas mapped, identifiers fitted to PostgreSQL's
//! 63-byte limit, collisions renamed), every column type (by [`crate::typemap`]),
//! identities and computed columns, and what a mapping file ([`crate::mapping`]) asks:
//! tables left out, names given, types overridden. The same database and options always
//! give the same plan, so separate pipeline steps can each recompute it.
//!
//! SQL is never built by pasting names or values: identifiers go through [`quote_ident`]
//! and literals through [`quote_literal`]; T-SQL expressions (defaults, CHECKs, filters,
//! computed columns) are re-tokenised and only a known subset is re-emitted
//! ([`translate_expr`]); anything else is reported, not guessed.
//!
//! The code is split by concern; every public item is re-exported here, so callers keep
//! using `ddl::…` paths:
//! - `quote`: identifier and literal quoting, fitting names into 63 bytes;
//! - `model`: the plan's data (tables, columns, renames, what was not translated);
//! - `plan`: computing the plan (name allocation, type mapping, computed columns);
//! - `statements`: `CREATE` statements and the post-load keys, indexes and constraints;
//! - `tsql_expr`: the T-SQL expression translator (defaults, CHECKs, filters, computed
//!   columns).
//!
//! Dependencies between them point one way: `quote` ← `model` ← `tsql_expr` ← `plan`,
//! `statements`.

mod model;
mod plan;
mod quote;
mod statements;
mod tsql_expr;

pub use model::{
    ColumnPlan, ForeignKeyLeftOut, MappingOutcome, ObjectKind, Plan, PlanOptions, Rename, TablePlan, TypeOverride,
    Untranslated,
};
pub use plan::{PlanError, UnmappableColumn, plan};
pub use quote::{MAX_IDENT_BYTES, fit_identifier, qualified, quote_ident, quote_literal};
pub use statements::{
    OnFailure, PostStatement, create_schema_statements, create_table_statement, post_load_statements,
};
pub use tsql_expr::{ExprContext, translate_default, translate_expr};

/// The schema holding bak2pg's own tables in the target (`rejected_values`).
pub const OWN_SCHEMA: &str = "bak2pg";
