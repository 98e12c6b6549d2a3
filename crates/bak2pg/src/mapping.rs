//! The mapping file (`bak2pg migrate --config bak2pg.toml`): which tables move, under which
//! PostgreSQL names, and with which column types — what pgloader's and AWS DMS's users
//! write in their own mapping rules.
//!
//! ```toml
//! include = ["dbo.*", "Sales.*"]          # globs on SQL Server `schema.table`; default: all
//! exclude = ["dbo.sysdiagrams", "*.tmp_*"] # exclude wins over include
//!
//! [rename.schemas]                          # SQL Server schema = PostgreSQL schema
//! Sales = "sales"
//! [rename.tables]                           # "schema.table" = new table name
//! "dbo.Order Details" = "order_details"
//! [rename.columns]                          # "schema.table.column" = new column name
//! "dbo.Orders.ShipVia" = "shipper_id"
//!
//! [types]                                   # column or SQL Server type = PostgreSQL type
//! "dbo.Orders.Freight" = "numeric(21,4)"
//! money = "numeric(19,4)"
//! ```
//!
//! Two stages, so each mistake is reported where it can first be seen:
//! - [`Mapping::parse`] / [`Mapping::load`] (no backup needed): TOML syntax, unknown keys,
//!   globs, PostgreSQL type names, SQL Server type names, new names PostgreSQL cannot
//!   hold (empty, longer than 63 bytes, `pg_…` schemas).
//! - [`crate::ddl::plan`] (with the backup's catalog): names that match no table or
//!   column, renames that collide, type overrides the values cannot go into exactly
//!   ([`crate::typemap::check_override`]). Include/exclude globs that match no table are
//!   warnings in the plan (and the report), not errors: one file may serve several
//!   databases.
//!
//! Names in keys are SQL Server names, matched exactly, else case-insensitively when only
//! one object matches (SQL Server's usual collations ignore case); globs ignore case.
//! Every error names the file, the key and the cause ([`MappingError`]).

use std::collections::BTreeMap;
use std::path::Path;

use globset::{Glob, GlobBuilder, GlobMatcher};
use serde::{Deserialize, Serialize};

use crate::typemap::{PgType, parse_pg_type};

/// PostgreSQL's longest name in bytes (`ddl::MAX_IDENT_BYTES`; `ddl` depends on this
/// module, so the number is repeated rather than imported; a test keeps them equal).
const MAX_IDENT_BYTES: usize = 63;
/// bak2pg's own schema in the target (`ddl::OWN_SCHEMA`, repeated for the same reason).
const OWN_SCHEMA: &str = "bak2pg";

/// A mapping file as written (after [`Mapping::parse`]'s checks). Serialisable, so the
/// plan options that carry it can be handed between pipeline steps.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingRules {
    /// Globs on `schema.table` (SQL Server names); a table moves when it matches one (or
    /// the list is empty) and matches no `exclude` glob.
    #[serde(default)]
    pub include: Vec<String>,
    /// Globs on `schema.table`; win over `include`.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// New names.
    #[serde(default)]
    pub rename: Renames,
    /// `"schema.table.column" = "pg type"` or `sql_server_type = "pg type"`.
    #[serde(default)]
    pub types: BTreeMap<String, String>,
}

/// The `[rename.*]` tables: SQL Server name → PostgreSQL name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Renames {
    /// SQL Server schema → PostgreSQL schema (like `--schema-map`).
    #[serde(default)]
    pub schemas: BTreeMap<String, String>,
    /// `schema.table` → PostgreSQL table name (in the table's mapped schema).
    #[serde(default)]
    pub tables: BTreeMap<String, String>,
    /// `schema.table.column` → PostgreSQL column name.
    #[serde(default)]
    pub columns: BTreeMap<String, String>,
}

/// A parsed and checked mapping file, with the name it was read from (for messages).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mapping {
    /// The file as given on the command line (or a description of where it came from).
    pub file: String,
    /// Its rules.
    pub rules: MappingRules,
}

/// A mistake in a mapping file: which file, which key, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("mapping file {file}: {key}: {cause}")]
pub struct MappingError {
    /// The file.
    pub file: String,
    /// The key (`rename.tables."dbo.Orders"`, `include[2]`), or the line and column of a
    /// syntax error.
    pub key: String,
    /// What is wrong.
    pub cause: String,
}

/// SQL Server type names a `[types]` key may use (without length: the override applies to
/// every length, precision and scale; `decimal` and `numeric` are the same type).
pub const SQL_SERVER_TYPES: &[&str] = &[
    "bit",
    "tinyint",
    "smallint",
    "int",
    "bigint",
    "real",
    "float",
    "decimal",
    "numeric",
    "money",
    "smallmoney",
    "char",
    "varchar",
    "text",
    "nchar",
    "nvarchar",
    "ntext",
    "binary",
    "varbinary",
    "image",
    "uniqueidentifier",
    "date",
    "time",
    "smalldatetime",
    "datetime",
    "datetime2",
    "datetimeoffset",
    "rowversion",
    "sql_variant",
    "xml",
    "hierarchyid",
    "geometry",
    "geography",
];

/// What a `[types]` key names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeKey {
    /// One column: `schema.table.column` (SQL Server names).
    Column(String),
    /// Every column of a SQL Server type (`money`, `decimal`).
    SqlType(String),
}

impl TypeKey {
    /// Keys with a dot name a column; without, a SQL Server type.
    pub fn of(key: &str) -> TypeKey {
        if key.contains('.') { TypeKey::Column(key.to_string()) } else { TypeKey::SqlType(key.to_ascii_lowercase()) }
    }
}

/// TOML's quoting of a key, for messages (`"dbo.Orders"`, `money`).
pub fn toml_key(k: &str) -> String {
    if !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
        k.to_string()
    } else {
        format!("{k:?}")
    }
}

impl Mapping {
    /// Reads and checks the mapping file at `path`.
    ///
    /// # Errors
    /// [`MappingError`] naming the file: unreadable, or as [`Mapping::parse`].
    pub fn load(path: &Path) -> Result<Mapping, MappingError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| MappingError {
            file: file.clone(),
            key: "(file)".into(),
            cause: format!("cannot be read: {e}"),
        })?;
        Mapping::parse(&text, &file)
    }

    /// Parses and checks mapping-file text; `file` names it in errors.
    ///
    /// # Errors
    /// [`MappingError`]: TOML syntax (key = line and column), an unknown key, a bad glob,
    /// an unknown SQL Server type, a PostgreSQL type bak2pg does not create, a new name
    /// that is empty, longer than 63 bytes, or a reserved schema name.
    pub fn parse(text: &str, file: &str) -> Result<Mapping, MappingError> {
        let err = |key: String, cause: String| MappingError { file: file.to_string(), key, cause };
        let rules: MappingRules = toml::from_str(text).map_err(|e| {
            let key = match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    let col = span.start - text[..span.start.min(text.len())].rfind('\n').map_or(0, |p| p + 1) + 1;
                    let at = text.get(span.clone()).map(str::trim).filter(|s| !s.is_empty() && s.len() <= 80);
                    match at {
                        Some(k) => format!("line {line}, column {col} ({k})"),
                        None => format!("line {line}, column {col}"),
                    }
                }
                None => "(file)".into(),
            };
            err(key, e.message().to_string())
        })?;
        for (list, globs) in [("include", &rules.include), ("exclude", &rules.exclude)] {
            for (i, g) in globs.iter().enumerate() {
                glob(g).map_err(|cause| err(format!("{list}[{i}] ({g:?})"), cause))?;
            }
        }
        let name_ok = |n: &str| -> Result<(), String> {
            if n.is_empty() {
                return Err("the new name is empty".into());
            }
            if n.len() > MAX_IDENT_BYTES {
                return Err(format!(
                    "the new name {n:?} is {} bytes; PostgreSQL names hold at most {MAX_IDENT_BYTES}",
                    n.len()
                ));
            }
            if n.contains('\0') {
                return Err("the new name contains a NUL character".into());
            }
            Ok(())
        };
        for (from, to) in &rules.rename.schemas {
            let key = format!("rename.schemas.{}", toml_key(from));
            name_ok(to).map_err(|c| err(key.clone(), c))?;
            if to.starts_with("pg_") || to == OWN_SCHEMA || to == "information_schema" {
                return Err(err(key, format!("{to:?} is reserved (pg_*, information_schema, or bak2pg's own schema)")));
            }
        }
        for (from, to) in &rules.rename.tables {
            let key = format!("rename.tables.{}", toml_key(from));
            if from.matches('.').count() == 0 {
                return Err(err(key, "the key must be \"schema.table\" (SQL Server names)".into()));
            }
            name_ok(to).map_err(|c| err(key, c))?;
        }
        for (from, to) in &rules.rename.columns {
            let key = format!("rename.columns.{}", toml_key(from));
            if from.matches('.').count() < 2 {
                return Err(err(key, "the key must be \"schema.table.column\" (SQL Server names)".into()));
            }
            name_ok(to).map_err(|c| err(key, c))?;
        }
        for (k, v) in &rules.types {
            let key = format!("types.{}", toml_key(k));
            match TypeKey::of(k) {
                TypeKey::Column(c) if c.matches('.').count() < 2 => {
                    return Err(err(
                        key,
                        "a column key is \"schema.table.column\"; a SQL Server type key has no dot".into(),
                    ));
                }
                TypeKey::Column(_) => {}
                TypeKey::SqlType(t) if !SQL_SERVER_TYPES.contains(&t.as_str()) => {
                    return Err(err(
                        key,
                        format!("{t:?} is not a SQL Server type this key can name ({})", SQL_SERVER_TYPES.join(", ")),
                    ));
                }
                TypeKey::SqlType(_) => {}
            }
            parse_pg_type(v).map_err(|c| err(key, c))?;
        }
        Ok(Mapping { file: file.to_string(), rules })
    }

    /// The error for `key` of this file.
    pub fn error(&self, key: impl Into<String>, cause: impl Into<String>) -> MappingError {
        MappingError { file: self.file.clone(), key: key.into(), cause: cause.into() }
    }

    /// The PostgreSQL type a `[types]` value names (checked by [`Mapping::parse`]).
    pub fn pg_type(&self, value: &str) -> PgType {
        parse_pg_type(value).expect("types were checked when the file was parsed")
    }

    /// The compiled include and exclude globs, in file order.
    pub fn globs(&self) -> (Vec<GlobMatcher>, Vec<GlobMatcher>) {
        let compile =
            |l: &[String]| l.iter().map(|g| glob(g).expect("checked when parsed").compile_matcher()).collect();
        (compile(&self.rules.include), compile(&self.rules.exclude))
    }
}

/// A glob on `schema.table`: `*` and `?` match any characters (dots included), `[…]`
/// classes, `{a,b}` alternatives; case is ignored.
fn glob(g: &str) -> Result<Glob, String> {
    if g.is_empty() {
        return Err("an empty glob matches nothing".into());
    }
    GlobBuilder::new(g).case_insensitive(true).literal_separator(false).build().map_err(|e| e.kind().to_string())
}

/// Finds `key` among `candidates` (`schema.table` or `schema.table.column` strings):
/// the exact name, else the only one equal ignoring case. `Err` says why none was taken.
pub fn find_name<'a>(key: &str, candidates: impl Iterator<Item = &'a str> + Clone) -> Result<&'a str, String> {
    if let Some(c) = candidates.clone().find(|c| *c == key) {
        return Ok(c);
    }
    let lower = key.to_lowercase();
    let mut it = candidates.filter(|c| c.to_lowercase() == lower);
    match (it.next(), it.next()) {
        (Some(c), None) => Ok(c),
        (Some(a), Some(b)) => Err(format!("matches {a:?} and {b:?} ignoring case; write the exact name")),
        _ => Err("no such name in the backup".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
include = ["dbo.*", "Sales.*"]
exclude = ["dbo.sysdiagrams", "*.tmp_*"]

[rename.schemas]
Sales = "sales"
[rename.tables]
"dbo.Order Details" = "order_details"
[rename.columns]
"dbo.Orders.ShipVia" = "shipper_id"

[types]
"dbo.Orders.Freight" = "numeric(21,4)"
money = "NUMERIC(19, 4)"
"#;

    #[test]
    fn the_example_parses() {
        let m = Mapping::parse(EXAMPLE, "bak2pg.toml").unwrap();
        assert_eq!(m.rules.include, ["dbo.*", "Sales.*"]);
        assert_eq!(m.rules.rename.tables["dbo.Order Details"], "order_details");
        assert_eq!(m.rules.rename.columns["dbo.Orders.ShipVia"], "shipper_id");
        assert_eq!(m.pg_type(&m.rules.types["money"]), PgType::Numeric { precision: 19, scale: 4 });
        assert_eq!(TypeKey::of("dbo.Orders.Freight"), TypeKey::Column("dbo.Orders.Freight".into()));
        assert_eq!(TypeKey::of("Money"), TypeKey::SqlType("money".into()));
        // Empty is valid: everything moves as without a file.
        assert_eq!(Mapping::parse("", "x.toml").unwrap().rules, MappingRules::default());
    }

    #[test]
    fn globs_ignore_case_and_cross_dots() {
        let m = Mapping::parse(EXAMPLE, "f").unwrap();
        let (inc, exc) = m.globs();
        assert!(inc[0].is_match("dbo.Orders"));
        assert!(inc[0].is_match("DBO.Order Details"));
        assert!(!inc[0].is_match("Sales.Orders"));
        assert!(inc[1].is_match("sales.x"));
        assert!(exc[1].is_match("app.tmp_load"));
        assert!(!exc[1].is_match("app.customers"));
        let m = Mapping::parse(r#"include = ["*Orders"]"#, "f").unwrap();
        assert!(m.globs().0[0].is_match("dbo.Orders"));
    }

    fn err(text: &str) -> MappingError {
        Mapping::parse(text, "m.toml").unwrap_err()
    }

    #[test]
    fn mistakes_name_file_key_and_cause() {
        let e = err("inclde = [\"dbo.*\"]\n");
        assert_eq!(e.file, "m.toml");
        assert!(e.key.contains("line 1") && e.key.contains("inclde"), "{e}");
        assert!(e.cause.contains("unknown field `inclde`"), "{e}");

        let e = err("[rename.tabels]\n\"dbo.A\" = \"a\"\n");
        assert!(e.cause.contains("unknown field `tabels`"), "{e}");

        let e = err("include = [\"dbo.[a\"]\n");
        assert_eq!(e.key, "include[0] (\"dbo.[a\")");
        assert!(e.cause.contains("unclosed character class"), "{e}");

        let e = err("[types]\n\"dbo.Orders.Freight\" = \"numeric\"\n");
        assert_eq!(e.key, "types.\"dbo.Orders.Freight\"");
        assert!(e.cause.contains("numeric(p,s)"), "{e}");

        let e = err("[types]\nmoneys = \"numeric(19,4)\"\n");
        assert_eq!(e.key, "types.moneys");
        assert!(e.cause.contains("not a SQL Server type"), "{e}");

        let e = err("[types]\n\"dbo.Orders\" = \"text\"\n");
        assert!(e.cause.contains("schema.table.column"), "{e}");

        let e = err("[types]\nmoney = \"money\"\n");
        assert!(e.cause.contains("\"money\""), "{e}");

        let e = err(&format!("[rename.tables]\n\"dbo.A\" = \"{}\"\n", "x".repeat(64)));
        assert_eq!(e.key, "rename.tables.\"dbo.A\"");
        assert!(e.cause.contains("64 bytes"), "{e}");

        let e = err("[rename.schemas]\nSales = \"pg_sales\"\n");
        assert_eq!(e.key, "rename.schemas.Sales");

        let e = err("[rename.columns]\n\"dbo.A\" = \"b\"\n");
        assert!(e.cause.contains("schema.table.column"), "{e}");

        let e = err("include = \"dbo.*\"\n");
        assert!(e.key.contains("line 1"), "{e}");
        assert!(e.to_string().starts_with("mapping file m.toml: line 1"), "{e}");

        let e = Mapping::load(Path::new("/nonexistent/bak2pg.toml")).unwrap_err();
        assert_eq!(e.file, "/nonexistent/bak2pg.toml");
        assert!(e.cause.contains("cannot be read"), "{e}");
    }

    #[test]
    fn constants_agree_with_ddl() {
        assert_eq!(MAX_IDENT_BYTES, crate::ddl::MAX_IDENT_BYTES);
        assert_eq!(OWN_SCHEMA, crate::ddl::OWN_SCHEMA);
    }

    #[test]
    fn names_match_exactly_then_ignoring_case() {
        let names = ["dbo.Orders", "dbo.orders", "dbo.Customers"];
        assert_eq!(find_name("dbo.orders", names.iter().copied()), Ok("dbo.orders"));
        assert_eq!(find_name("DBO.CUSTOMERS", names.iter().copied()), Ok("dbo.Customers"));
        assert!(find_name("DBO.ORDERS", names.iter().copied()).unwrap_err().contains("ignoring case"));
        assert!(find_name("dbo.Nope", names.iter().copied()).is_err());
    }
}
