//! bak2pg's integration tests, one binary with shared helpers ([`common`]): a real
//! PostgreSQL (`BAK2PG_TEST_PG`, started by scripts/test), real fixtures read in place.
//! Not run by default: `sqlserver_live` (a SQL Server named by `BAK2PG_TEST_MSSQL`,
//! scripts/test-mssql) and `throughput` (a measurement, `--ignored throughput::`).

mod archive;
mod collation;
mod common;
mod mapping;
mod safety;
mod schema;
mod spatial;
mod sqlserver_live;
mod throughput;
mod tls;
mod types;
mod views;
