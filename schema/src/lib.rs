//! Everything ClickHouse (the "store" step of the pipeline).
//!
//! Owns: the server-version tiers and connection ([`connection`]), the schema and its migrations
//! ([`migrations`]), row encoding ([`rows`]), the batched writer with retry ([`writer`]) and its disk
//! spool ([`spool`]), and the config ([`config`]). Report queries come in a later module.
//! Must never: reach back into decoding or aggregation (it only consumes their output types).

pub mod config;
pub mod connection;
pub mod migrations;
pub mod reports;
pub mod rows;
pub mod spool;
pub mod writer;

pub use config::{
    ClickhouseConfig, ConfigError, RetentionConfig, SpoolFullPolicy, ValidatedClickhouseConfig,
};
pub use connection::{Tier, build_client, healthcheck, server_client};
pub use migrations::{
    MigrateError, PrepareError, Prepared, create_database, drop_expired_partitions, migrate,
    migration_ddl, prepare,
};
pub use spool::{Spool, SpoolCounters, SpoolError};
pub use writer::{ClickhouseWriter, WriterError, WriterStats, WriterStatsHandle};
