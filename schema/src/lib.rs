//! Everything ClickHouse (the "store" step of the pipeline).
//!
//! Owns: the server-version tiers and connection ([`connection`]), the schema and its migrations
//! ([`migrations`]), row encoding ([`rows`]), the batched writer with retry ([`writer`]) and its disk
//! spool ([`spool`]), and the config ([`config`]). Reports live in the `report` crate.
//! Must never: reach back into decoding or aggregation (it only consumes their output types).
//!
//! Start-up order in a process: [`prepare`] (healthcheck, create database, [`migrate`]), then
//! [`ClickhouseWriter::start`] with the client and tier it returns (or [`ClickhouseWriter::connect`]).
//!
//! Tests run against real servers: `eval "$(scripts/clickhouse.sh start)"` (Debian's 18.16, legacy
//! tier) and `eval "$(scripts/chdb.sh start)"` (modern stand-in), `export SLUICE_TEST_CLICKHOUSE_URL
//! SLUICE_TEST_CHDB_URL`, then `cargo test -p schema`. Without the variables the server tests fail,
//! or skip with `SLUICE_TEST_ALLOW_SKIP=1` (`testkit::missing`). Throughput: `cargo bench -p schema
//! --bench insert`.

pub mod config;
pub mod connection;
pub mod deadletter;
pub mod migrations;
pub mod rows;
pub mod spool;
pub mod writer;

pub use clickhouse::Client;
pub use clickhouse::error::Error as ClickhouseError;
pub use config::{
    ClickhouseConfig, ConfigError, RetentionConfig, SpoolFsync, SpoolFullPolicy,
    ValidatedClickhouseConfig,
};
pub use connection::{Tier, build_client, healthcheck, server_client};
pub use migrations::{
    MigrateError, PrepareError, Prepared, create_database, drop_expired_partitions, migrate,
    migration_ddl, prepare,
};
pub use spool::{FsyncPolicy, Spool, SpoolCounters, SpoolError};
pub use writer::{ClickhouseWriter, Redrive, WriterError, WriterStats, WriterStatsHandle, redrive};
