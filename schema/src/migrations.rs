//! The schema: numbered, idempotent migrations in two dialects, and retention for servers without TTL.
//!
//! Owns: the DDL of every sluice table (`flows`, `window_top`, `window_totals`, the rollups
//! `flows_5m`, `flows_1h`, `flows_enrich_5m`, `flows_enrich_1h` and their materialized views,
//! `exporters`, `interfaces`, `as_names`), the `sluice_migrations`
//! ledger, [`migrate`], [`migration_ddl`] (what `sluice migrate --print` shows) and
//! [`drop_expired_partitions`]. Must never: write data rows, or change a migration once released
//! (add a new number instead).
//!
//! Dialects ([`Tier`]):
//! - **legacy** (< 22, e.g. Debian's 18.16): addresses `FixedString(16)` (IPv4-mapped), `String`,
//!   no TTL (call [`drop_expired_partitions`] periodically), no codecs, no skip indexes, no insert
//!   deduplication.
//! - **modern** (>= 22): `IPv6`, `LowCardinality(String)`, `TTL ... ` with `ttl_only_drop_parts = 1`,
//!   codecs (DoubleDelta, T64, ZSTD), bloom-filter skip indexes on AS numbers and the service
//!   port (not on addresses: IPv6 bloom filters are broken on some 23.x releases), and
//!   `non_replicated_deduplication_window` so a retried insert with the same
//!   `insert_deduplication_token` is not stored twice.
//!
//! What works on both: always `ENGINE = X PARTITION BY … ORDER BY …`; materialized views always
//! `TO` a named table; rollups are `SummingMergeTree`, so readers must re-aggregate with `GROUP BY`
//! (never rely on `FINAL` + `count()`, which 18.16 gets wrong). Every statement is `IF NOT EXISTS`,
//! so a migration that ran halfway can run again. Future column additions cannot use
//! `ADD COLUMN IF NOT EXISTS` (missing on 18.16): check `system.columns` first.
//!
//! Retention is fixed at table creation (TTL) on the modern tier; changing it later needs an
//! `ALTER TABLE … MODIFY TTL` by hand. On the legacy tier it is read from the config every time
//! [`drop_expired_partitions`] runs.

use clickhouse::Client;
use serde::Deserialize;

use crate::config::RetentionConfig;
use crate::connection::Tier;

/// Insert blocks per table that the modern tier remembers for deduplication.
pub const DEDUP_WINDOW: u32 = 1000;

/// One numbered migration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Number, strictly increasing.
    pub version: u32,
    /// Short name.
    pub name: &'static str,
    /// Statements, each idempotent (through [`Migration::apply`] when `unless_column` is set).
    pub statements: Vec<String>,
    /// `(table, column)`: the statements are skipped when that column exists already. For
    /// `ALTER TABLE ... ADD COLUMN`, which 18.16 cannot write as `IF NOT EXISTS`; one ALTER adds
    /// every column at once, so one column tells whether it ran.
    pub unless_column: Option<(&'static str, &'static str)>,
}

impl Migration {
    /// Run the statements (none when the guard column exists). Safe to run again.
    pub async fn apply(&self, client: &Client) -> Result<(), MigrateError> {
        if let Some((table, column)) = self.unless_column {
            let n: u64 = client
                .query(
                    "SELECT count() FROM system.columns \
                     WHERE database = currentDatabase() AND table = ? AND name = ?",
                )
                .bind(table)
                .bind(column)
                .fetch_one()
                .await?;
            if n > 0 {
                return Ok(());
            }
        }
        for st in &self.statements {
            client
                .query(st)
                .execute()
                .await
                .map_err(|source| MigrateError::Statement {
                    version: self.version,
                    name: self.name,
                    statement: st.clone(),
                    source,
                })?;
        }
        Ok(())
    }
}

/// A migration failure.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// A statement failed.
    #[error("migration {version} ({name}) failed: {source}\nstatement: {statement}")]
    Statement {
        /// Migration number.
        version: u32,
        /// Migration name.
        name: &'static str,
        /// The failing SQL.
        statement: String,
        /// Server error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// Reading or writing the ledger, or listing partitions, failed.
    #[error("clickhouse: {0}")]
    Query(#[from] clickhouse::error::Error),
}

struct Dialect {
    tier: Tier,
}

impl Dialect {
    fn addr(&self) -> &'static str {
        match self.tier {
            Tier::Legacy => "FixedString(16)",
            Tier::Modern => "IPv6",
        }
    }
    fn lc(&self) -> &'static str {
        match self.tier {
            Tier::Legacy => "String",
            Tier::Modern => "LowCardinality(String)",
        }
    }
    /// A column type with a codec on the modern tier.
    fn c(&self, ty: &str, codec: &str) -> String {
        match self.tier {
            Tier::Legacy => ty.to_string(),
            Tier::Modern => format!("{ty} CODEC({codec})"),
        }
    }
    fn ttl(&self, col: &str, days: u32) -> String {
        match self.tier {
            Tier::Legacy => String::new(),
            Tier::Modern => format!(" TTL {col} + INTERVAL {days} DAY"),
        }
    }
    fn settings(&self) -> String {
        match self.tier {
            Tier::Legacy => " SETTINGS index_granularity = 8192".to_string(),
            Tier::Modern => format!(
                " SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1, \
                 non_replicated_deduplication_window = {DEDUP_WINDOW}"
            ),
        }
    }
}

/// The `sluice_migrations` ledger (created before any numbered migration).
pub fn ledger_ddl() -> String {
    "CREATE TABLE IF NOT EXISTS sluice_migrations (version UInt32, name String, applied_at DateTime) \
     ENGINE = MergeTree PARTITION BY tuple() ORDER BY version"
        .to_string()
}

fn flows_ddl(d: &Dialect, r: &RetentionConfig) -> String {
    let a = d.addr();
    let t = d.c("DateTime", "DoubleDelta, ZSTD");
    let ms = d.c("Int64", "DoubleDelta, ZSTD");
    let n64 = d.c("UInt64", "T64, ZSTD");
    let n32 = d.c("UInt32", "T64, ZSTD");
    let n16 = d.c("UInt16", "T64, ZSTD");
    let ad = d.c(a, "ZSTD");
    let idx = match d.tier {
        Tier::Legacy => String::new(),
        Tier::Modern => {
            // Integer columns only: bloom filters over IPv6 fail to create on early 23.1 and give
            // wrong answers for parts written before a 22.x -> 23.x upgrade (ClickHouse #46059,
            // #58885), so addresses get none.
            ",\n  INDEX idx_src_as src_as TYPE bloom_filter(0.01) GRANULARITY 4,\n  \
             INDEX idx_dst_as dst_as TYPE bloom_filter(0.01) GRANULARITY 4,\n  \
             INDEX idx_app_port app_port TYPE bloom_filter(0.01) GRANULARITY 4"
                .to_string()
        }
    };
    format!(
        "CREATE TABLE IF NOT EXISTS flows (\n  \
         time_received {t},\n  exporter {a},\n  observation_domain {n32},\n  version UInt16,\n  \
         flow_start_ms {ms},\n  flow_end_ms {ms},\n  src_addr {ad},\n  dst_addr {ad},\n  \
         src_port {n16},\n  dst_port {n16},\n  protocol UInt8,\n  tcp_flags UInt16,\n  tos UInt8,\n  \
         bytes {n64},\n  packets {n64},\n  sampling_rate {n32},\n  sampling_source {lc},\n  \
         bytes_scaled {n64},\n  packets_scaled {n64},\n  sampler_id {n32},\n  \
         in_if {n32},\n  out_if {n32},\n  src_as {n32},\n  dst_as {n32},\n  \
         src_mask UInt8,\n  dst_mask UInt8,\n  next_hop {ad},\n  direction UInt8,\n  vlan {n16},\n  \
         forwarding_status UInt8,\n  icmp_type UInt8,\n  icmp_code UInt8,\n  \
         post_nat_src_addr {ad},\n  post_nat_dst_addr {ad},\n  post_nat_src_port {n16},\n  \
         post_nat_dst_port {n16},\n  app_port {n16},\n  flags UInt8{idx}\n) \
         ENGINE = MergeTree PARTITION BY toDate(time_received) \
         ORDER BY (toStartOfFiveMinute(time_received), exporter, time_received){ttl}{s}",
        lc = d.lc(),
        ttl = d.ttl("time_received", r.flows_days),
        s = d.settings(),
    )
}

fn window_ddl(d: &Dialect, r: &RetentionConfig) -> Vec<String> {
    let a = d.addr();
    let t = d.c("DateTime", "DoubleDelta, ZSTD");
    let n64 = d.c("UInt64", "T64, ZSTD");
    let top = format!(
        "CREATE TABLE IF NOT EXISTS window_top (\n  window_start {t},\n  window_secs UInt32,\n  \
         dimension {lc},\n  addr_a {a},\n  addr_b {a},\n  exporter {a},\n  num UInt32,\n  proto UInt8,\n  \
         is_other UInt8,\n  rank_bytes UInt32,\n  rank_packets UInt32,\n  rank_flows UInt32,\n  \
         bytes {n64},\n  packets {n64},\n  flows {n64},\n  bytes_unscaled {n64},\n  \
         packets_unscaled {n64},\n  max_error {n64}\n) \
         ENGINE = MergeTree PARTITION BY toDate(window_start) \
         ORDER BY (window_secs, dimension, window_start, rank_bytes){ttl}{s}",
        lc = d.lc(),
        ttl = d.ttl("window_start", r.windows_days),
        s = d.settings(),
    );
    let totals = format!(
        "CREATE TABLE IF NOT EXISTS window_totals (\n  window_start {t},\n  window_secs UInt32,\n  \
         exporter {a},\n  bytes {n64},\n  packets {n64},\n  flows {n64},\n  bytes_unscaled {n64},\n  \
         packets_unscaled {n64},\n  late_flows {n64}\n) \
         ENGINE = MergeTree PARTITION BY toDate(window_start) \
         ORDER BY (window_secs, window_start, exporter){ttl}{s}",
        ttl = d.ttl("window_start", r.windows_days),
        s = d.settings(),
    );
    vec![top, totals]
}

/// Rollup: a SummingMergeTree table and the materialized view that fills it from `flows`.
fn rollup_ddl(
    d: &Dialect,
    table: &str,
    bucket_fn: &str,
    partition: &str,
    days: u32,
) -> Vec<String> {
    let a = d.addr();
    let t = d.c("DateTime", "DoubleDelta, ZSTD");
    let n64 = d.c("UInt64", "T64, ZSTD");
    let keys = FLOWS_ROLLUP_KEYS;
    let tbl = format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n  ts {t},\n  exporter {a},\n  in_if UInt32,\n  \
         out_if UInt32,\n  protocol UInt8,\n  src_as UInt32,\n  dst_as UInt32,\n  app_port UInt16,\n  \
         scaled_bytes {n64},\n  scaled_packets {n64},\n  flow_count {n64},\n  exported_bytes {n64},\n  \
         exported_packets {n64}\n) \
         ENGINE = SummingMergeTree((scaled_bytes, scaled_packets, flow_count, exported_bytes, exported_packets)) \
         PARTITION BY {partition}(ts) ORDER BY ({keys}){ttl}{s}",
        ttl = d.ttl("ts", days),
        // Modern: the rollups deduplicate too; inserts set
        // `deduplicate_blocks_in_dependent_materialized_views = 1`, so a retried batch that `flows`
        // drops is dropped here as well (newer servers push it through the view otherwise).
        s = d.settings(),
    );
    let mv = format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO {table} AS {}",
        rollup_select(bucket_fn, keys, "")
    );
    vec![tbl, mv]
}

/// The enrichment rollups (`flows_enrich_5m`, `flows_enrich_1h`): traffic by exporter, country,
/// network name and interface provider of both ends, so that reports by country, network or
/// provider read a table of a few rows per bucket instead of raw flows. Same shape and rules as
/// [`rollup_ddl`] (SummingMergeTree, a view `TO` the table, the same value columns); the keys are
/// the text columns enrichment fills (empty when unknown). No interfaces, AS or ports: they would
/// multiply the rows by every interface pair (reports filtered by an interface read raw `flows`).
fn enrich_rollup_ddl(
    d: &Dialect,
    table: &str,
    bucket_fn: &str,
    partition: &str,
    days: u32,
) -> Vec<String> {
    let a = d.addr();
    let lc = d.lc();
    let t = d.c("DateTime", "DoubleDelta, ZSTD");
    let n64 = d.c("UInt64", "T64, ZSTD");
    let keys = ENRICH_ROLLUP_KEYS;
    let tbl = format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n  ts {t},\n  exporter {a},\n  src_country {lc},\n  \
         dst_country {lc},\n  src_net_name {lc},\n  dst_net_name {lc},\n  in_if_provider {lc},\n  \
         out_if_provider {lc},\n  \
         scaled_bytes {n64},\n  scaled_packets {n64},\n  flow_count {n64},\n  exported_bytes {n64},\n  \
         exported_packets {n64}\n) \
         ENGINE = SummingMergeTree((scaled_bytes, scaled_packets, flow_count, exported_bytes, exported_packets)) \
         PARTITION BY {partition}(ts) ORDER BY ({keys}){ttl}{s}",
        ttl = d.ttl("ts", days),
        s = d.settings(),
    );
    let mv = format!(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS {table}_mv TO {table} AS {}",
        rollup_select(bucket_fn, keys, "")
    );
    vec![tbl, mv]
}

/// The keys of `flows_5m` / `flows_1h` (their ORDER BY and their views' GROUP BY).
const FLOWS_ROLLUP_KEYS: &str = "ts, exporter, in_if, out_if, protocol, src_as, dst_as, app_port";
/// The keys of `flows_enrich_5m` / `flows_enrich_1h`.
const ENRICH_ROLLUP_KEYS: &str = "ts, exporter, src_country, dst_country, src_net_name, \
dst_net_name, in_if_provider, out_if_provider";

/// One rollup the `flows` views fill.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rollup {
    /// Table (its view is `{table}_mv`).
    pub table: &'static str,
    /// Bucket function of `time_received`.
    pub bucket_fn: &'static str,
    /// Bucket width, seconds.
    pub width: u32,
    /// Key columns, `ts` first.
    pub keys: &'static str,
}

/// Every rollup the `flows` views fill.
pub(crate) const ROLLUPS: [Rollup; 4] = [
    Rollup {
        table: "flows_5m",
        bucket_fn: "toStartOfFiveMinute",
        width: 300,
        keys: FLOWS_ROLLUP_KEYS,
    },
    Rollup {
        table: "flows_1h",
        bucket_fn: "toStartOfHour",
        width: 3_600,
        keys: FLOWS_ROLLUP_KEYS,
    },
    Rollup {
        table: "flows_enrich_5m",
        bucket_fn: "toStartOfFiveMinute",
        width: 300,
        keys: ENRICH_ROLLUP_KEYS,
    },
    Rollup {
        table: "flows_enrich_1h",
        bucket_fn: "toStartOfHour",
        width: 3_600,
        keys: ENRICH_ROLLUP_KEYS,
    },
];

/// A rollup view's query over `flows` (`filter`: a ` WHERE ...` clause, or empty as in the view).
pub(crate) fn rollup_select(bucket_fn: &str, keys: &str, filter: &str) -> String {
    let cols = keys.strip_prefix("ts, ").unwrap_or(keys);
    // Aliases differ from every `flows` column name, so no alias shadows a column inside sum().
    format!(
        "SELECT \
         {bucket_fn}(time_received) AS ts, {cols}, \
         sum(bytes_scaled) AS scaled_bytes, sum(packets_scaled) AS scaled_packets, \
         count() AS flow_count, sum(bytes) AS exported_bytes, sum(packets) AS exported_packets \
         FROM flows{filter} GROUP BY {keys}"
    )
}

fn inventory_ddl(d: &Dialect) -> Vec<String> {
    let a = d.addr();
    let lc = d.lc();
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS exporters (\n  address {a},\n  name {lc},\n  last_seen DateTime,\n  \
             versions Array(UInt16),\n  sampling_rate UInt32,\n  templates UInt32,\n  \
             options_templates UInt32\n) ENGINE = ReplacingMergeTree(last_seen) PARTITION BY tuple() \
             ORDER BY address"
        ),
        format!(
            "CREATE TABLE IF NOT EXISTS interfaces (\n  exporter {a},\n  ifindex UInt32,\n  name {lc},\n  \
             description String,\n  speed UInt64,\n  last_seen DateTime\n) \
             ENGINE = ReplacingMergeTree(last_seen) PARTITION BY tuple() ORDER BY (exporter, ifindex)"
        ),
    ]
}

/// sFlow counter samples: one row per sample and interface, with the deltas since the previous
/// sample of that interface (0 and `interval_ms = 0` for the first), the 64-bit octet totals as
/// reported, and the sampling accuracy check's estimate from the interface's flow samples over the
/// same interval (`sampled_octets`, `flow_samples`). Kept as long as the windows.
fn interface_counters_ddl(d: &Dialect, r: &RetentionConfig) -> String {
    let a = d.addr();
    let t = d.c("DateTime", "DoubleDelta, ZSTD");
    let n64 = d.c("UInt64", "T64, ZSTD");
    format!(
        "CREATE TABLE IF NOT EXISTS interface_counters (\n  time_received {t},\n  exporter {a},\n  \
         sub_agent UInt32,\n  ifindex UInt32,\n  if_type UInt32,\n  speed UInt64,\n  direction UInt8,\n  \
         status UInt8,\n  interval_ms UInt32,\n  in_octets {n64},\n  out_octets {n64},\n  \
         in_packets {n64},\n  out_packets {n64},\n  in_errors {n64},\n  out_errors {n64},\n  \
         in_discards {n64},\n  out_discards {n64},\n  in_octets_total UInt64,\n  \
         out_octets_total UInt64,\n  sampled_octets {n64},\n  flow_samples UInt32,\n  \
         batch_id UInt64\n) \
         ENGINE = MergeTree PARTITION BY toDate(time_received) \
         ORDER BY (exporter, ifindex, time_received){ttl}{s}",
        ttl = d.ttl("time_received", r.windows_days),
        s = d.settings(),
    )
}

/// What `sluice run` writes about each exporter at every metrics interval: counters since the
/// collector started, and where the sampling rate came from. One statement, so that it applies whole
/// (18.16 has no `ADD COLUMN IF NOT EXISTS`).
fn exporter_health_ddl(d: &Dialect) -> String {
    let lc = d.lc();
    format!(
        "ALTER TABLE exporters\n  ADD COLUMN first_seen DateTime,\n  ADD COLUMN sampling_source {lc},\n  \
         ADD COLUMN datagrams UInt64,\n  ADD COLUMN records UInt64,\n  ADD COLUMN sequence_lost UInt64,\n  \
         ADD COLUMN decode_errors UInt64,\n  ADD COLUMN error_kinds Array({lc}),\n  \
         ADD COLUMN error_counts Array(UInt64),\n  ADD COLUMN padding_bytes UInt64,\n  \
         ADD COLUMN clock_skew_ms Int64,\n  ADD COLUMN collector_started DateTime"
    )
}

/// Every row of a batch carries the batch's id, so that on 18.16 (no insert deduplication for
/// non-replicated tables) the writer can ask whether a batch whose reply was lost is stored.
fn batch_id_ddl(table: &str) -> String {
    format!("ALTER TABLE {table}\n  ADD COLUMN batch_id UInt64")
}

/// What enrichment adds to every flow (names as text, so SQL needs no join; speeds in bit/s).
fn flows_enrichment_ddl(d: &Dialect) -> String {
    let lc = d.lc();
    let mut cols: Vec<String> = [
        "src_net_name",
        "dst_net_name",
        "src_net_role",
        "dst_net_role",
        "src_net_site",
        "dst_net_site",
        "src_country",
        "dst_country",
        "src_as_name",
        "dst_as_name",
        "in_if_name",
        "out_if_name",
        "in_if_boundary",
        "out_if_boundary",
        "in_if_provider",
        "out_if_provider",
    ]
    .iter()
    .map(|c| format!("ADD COLUMN {c} {lc}"))
    .collect();
    cols.push("ADD COLUMN in_if_speed UInt64".into());
    cols.push("ADD COLUMN out_if_speed UInt64".into());
    format!("ALTER TABLE flows\n  {}", cols.join(",\n  "))
}

/// Every migration for a tier and retention, in order.
pub fn migrations(tier: Tier, r: &RetentionConfig) -> Vec<Migration> {
    let d = Dialect { tier };
    let mut rollups = rollup_ddl(
        &d,
        "flows_5m",
        "toStartOfFiveMinute",
        "toDate",
        r.flows_5m_days,
    );
    rollups.extend(rollup_ddl(
        &d,
        "flows_1h",
        "toStartOfHour",
        "toYYYYMM",
        r.flows_1h_days,
    ));
    let mut enrich_rollups = enrich_rollup_ddl(
        &d,
        "flows_enrich_5m",
        "toStartOfFiveMinute",
        "toDate",
        r.flows_5m_days,
    );
    enrich_rollups.extend(enrich_rollup_ddl(
        &d,
        "flows_enrich_1h",
        "toStartOfHour",
        "toYYYYMM",
        r.flows_1h_days,
    ));
    vec![
        Migration {
            version: 1,
            name: "flows",
            statements: vec![flows_ddl(&d, r)],
            unless_column: None,
        },
        Migration {
            version: 2,
            name: "windows",
            statements: window_ddl(&d, r),
            unless_column: None,
        },
        Migration {
            version: 3,
            name: "rollups",
            statements: rollups,
            unless_column: None,
        },
        Migration {
            version: 4,
            name: "inventory",
            statements: inventory_ddl(&d),
            unless_column: None,
        },
        Migration {
            version: 5,
            name: "exporter_health",
            statements: vec![exporter_health_ddl(&d)],
            unless_column: Some(("exporters", "collector_started")),
        },
        Migration {
            version: 6,
            name: "flows_batch_id",
            statements: vec![batch_id_ddl("flows")],
            unless_column: Some(("flows", "batch_id")),
        },
        Migration {
            version: 7,
            name: "window_top_batch_id",
            statements: vec![batch_id_ddl("window_top")],
            unless_column: Some(("window_top", "batch_id")),
        },
        Migration {
            version: 8,
            name: "window_totals_batch_id",
            statements: vec![batch_id_ddl("window_totals")],
            unless_column: Some(("window_totals", "batch_id")),
        },
        Migration {
            version: 9,
            name: "flows_enrichment",
            statements: vec![flows_enrichment_ddl(&d)],
            unless_column: Some(("flows", "src_net_name")),
        },
        Migration {
            version: 10,
            name: "window_top_label",
            statements: vec![format!(
                "ALTER TABLE window_top\n  ADD COLUMN label {}",
                d.lc()
            )],
            unless_column: Some(("window_top", "label")),
        },
        Migration {
            version: 11,
            name: "interfaces_classification",
            statements: vec![format!(
                "ALTER TABLE interfaces\n  ADD COLUMN boundary {lc},\n  ADD COLUMN provider {lc},\n  \
                 ADD COLUMN connectivity {lc},\n  ADD COLUMN source {lc}",
                lc = d.lc()
            )],
            unless_column: Some(("interfaces", "source")),
        },
        Migration {
            version: 12,
            name: "as_names",
            statements: vec![format!(
                "CREATE TABLE IF NOT EXISTS as_names (\n  asn UInt32,\n  name {lc},\n  \
                 last_seen DateTime\n) ENGINE = ReplacingMergeTree(last_seen) PARTITION BY tuple() \
                 ORDER BY asn",
                lc = d.lc()
            )],
            unless_column: None,
        },
        Migration {
            version: 13,
            name: "enrich_rollups",
            statements: enrich_rollups,
            unless_column: None,
        },
        Migration {
            version: 14,
            name: "flows_sflow",
            statements: vec![format!(
                "ALTER TABLE flows\n  ADD COLUMN frame_bytes {},\n  ADD COLUMN discard_reason UInt16",
                d.c("UInt32", "T64, ZSTD")
            )],
            unless_column: Some(("flows", "discard_reason")),
        },
        Migration {
            version: 15,
            name: "interface_counters",
            statements: vec![interface_counters_ddl(&d, r)],
            unless_column: None,
        },
        Migration {
            version: 16,
            name: "exporters_sflow",
            statements: vec![format!(
                "ALTER TABLE exporters\n  ADD COLUMN udp_source {},\n  ADD COLUMN samples_lost UInt64,\n  \
                 ADD COLUMN agent_drops UInt64",
                d.addr()
            )],
            unless_column: Some(("exporters", "agent_drops")),
        },
    ]
}

/// All DDL, in order, as `sluice migrate --print` shows it (the ledger table first).
pub fn migration_ddl(tier: Tier, r: &RetentionConfig) -> Vec<String> {
    let mut out = vec![ledger_ddl()];
    for m in migrations(tier, r) {
        out.extend(m.statements);
    }
    out
}

/// `CREATE DATABASE IF NOT EXISTS`; run it with a client that has no database set (a client whose
/// database does not exist yet gets "unknown database" for every statement).
pub async fn create_database(server: &Client, database: &str) -> Result<(), MigrateError> {
    if !crate::config::is_plain_identifier(database) {
        return Err(MigrateError::Query(
            clickhouse::error::Error::InvalidParams(
                format!("database name {database:?} needs quoting").into(),
            ),
        ));
    }
    server
        .query(&format!("CREATE DATABASE IF NOT EXISTS {database}"))
        .execute()
        .await?;
    Ok(())
}

/// Apply every migration not yet in `sluice_migrations`; returns the versions applied now.
/// Idempotent: running it again applies nothing.
pub async fn migrate(
    client: &Client,
    tier: Tier,
    retention: &RetentionConfig,
) -> Result<Vec<u32>, MigrateError> {
    client.query(&ledger_ddl()).execute().await?;
    let applied: Vec<u32> = client
        .query("SELECT DISTINCT version FROM sluice_migrations")
        .fetch_all()
        .await?;
    let mut done = Vec::new();
    for m in migrations(tier, retention) {
        if applied.contains(&m.version) {
            continue;
        }
        m.apply(client).await?;
        client
            .query("INSERT INTO sluice_migrations (version, name, applied_at) VALUES (?, ?, now())")
            .bind(m.version)
            .bind(m.name)
            .execute()
            .await?;
        tracing::info!(version = m.version, name = m.name, tier = %tier, "applied migration");
        done.push(m.version);
    }
    Ok(done)
}

/// What [`prepare`] found and did.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// A client for the configured database.
    pub client: Client,
    /// The server's tier.
    pub tier: Tier,
    /// `SELECT version()`.
    pub version: String,
    /// Migrations applied now (empty when the schema was current).
    pub applied: Vec<u32>,
}

/// Failure of [`prepare`].
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    /// Connecting or the healthcheck.
    #[error(transparent)]
    Connect(#[from] crate::connection::ConnectError),
    /// Creating the database or migrating.
    #[error(transparent)]
    Migrate(#[from] MigrateError),
}

/// Healthcheck, `CREATE DATABASE IF NOT EXISTS`, then [`migrate`]: what a process does once before
/// it writes.
pub async fn prepare(
    cfg: &crate::config::ValidatedClickhouseConfig,
) -> Result<Prepared, PrepareError> {
    // Two writers of one process may both prepare after a deferred start; one at a time, so a
    // migration is never applied twice.
    static PREPARING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one_at_a_time = PREPARING.lock().await;
    let server = crate::connection::server_client(cfg)?;
    let (version, tier) = crate::connection::healthcheck(&server)
        .await
        .map_err(|e| match e {
            crate::connection::ConnectError::Unreachable { source, .. } => {
                crate::connection::ConnectError::Unreachable {
                    url: cfg.url.clone(),
                    source,
                }
            }
            other => other,
        })?;
    create_database(&server, &cfg.database).await?;
    let client = crate::connection::build_client(cfg)?;
    let applied = migrate(&client, tier, &cfg.retention).await?;
    Ok(Prepared {
        client,
        tier,
        version,
        applied,
    })
}

/// How a table is partitioned, for the retention sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PartitionUnit {
    Day,
    Month,
}

/// Tables with time partitions, their unit and retention.
fn retained_tables(r: &RetentionConfig) -> [(&'static str, PartitionUnit, u32); 8] {
    [
        ("interface_counters", PartitionUnit::Day, r.windows_days),
        ("flows", PartitionUnit::Day, r.flows_days),
        ("window_top", PartitionUnit::Day, r.windows_days),
        ("window_totals", PartitionUnit::Day, r.windows_days),
        ("flows_5m", PartitionUnit::Day, r.flows_5m_days),
        ("flows_1h", PartitionUnit::Month, r.flows_1h_days),
        ("flows_enrich_5m", PartitionUnit::Day, r.flows_5m_days),
        ("flows_enrich_1h", PartitionUnit::Month, r.flows_1h_days),
    ]
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The first day (days since epoch) AFTER the partition with this id ends, or None when the id is
/// not a `YYYYMMDD` / `YYYYMM` partition of that unit.
fn partition_end_day(id: &str, unit: PartitionUnit) -> Option<i64> {
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    match (unit, id.len()) {
        (PartitionUnit::Day, 8) => {
            let y: i64 = id[..4].parse().ok()?;
            let m: u32 = id[4..6].parse().ok()?;
            let d: u32 = id[6..].parse().ok()?;
            if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
                return None;
            }
            Some(days_from_civil(y, m, d) + 1)
        }
        (PartitionUnit::Month, 6) => {
            let y: i64 = id[..4].parse().ok()?;
            let m: u32 = id[4..].parse().ok()?;
            if !(1..=12).contains(&m) {
                return None;
            }
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some(days_from_civil(ny, nm, 1))
        }
        _ => None,
    }
}

/// Whether a partition holds only data older than `days` before `now_secs`.
fn partition_expired(id: &str, unit: PartitionUnit, days: u32, now_secs: i64) -> bool {
    match partition_end_day(id, unit) {
        Some(end_day) => end_day * 86_400 <= now_secs - i64::from(days) * 86_400,
        None => false,
    }
}

#[derive(Deserialize, clickhouse::Row)]
struct PartRow {
    table: String,
    partition_id: String,
}

/// Drop every time partition whose newest possible row is older than its table's retention.
/// The legacy tier's replacement for TTL (harmless on modern servers). `now_secs` is Unix seconds.
/// Returns the `(table, partition_id)` pairs dropped.
pub async fn drop_expired_partitions(
    client: &Client,
    database: &str,
    retention: &RetentionConfig,
    now_secs: i64,
) -> Result<Vec<(String, String)>, MigrateError> {
    let parts: Vec<PartRow> = client
        .query(
            "SELECT DISTINCT table, partition_id FROM system.parts \
             WHERE database = ? AND active ORDER BY table, partition_id",
        )
        .bind(database)
        .fetch_all()
        .await?;
    let mut dropped = Vec::new();
    for (table, unit, days) in retained_tables(retention) {
        for p in parts.iter().filter(|p| p.table == table) {
            if partition_expired(&p.partition_id, unit, days, now_secs) {
                client
                    .query(&format!("ALTER TABLE {table} DROP PARTITION ID ?"))
                    .bind(p.partition_id.as_str())
                    .execute()
                    .await?;
                tracing::info!(table, partition = %p.partition_id, "dropped expired partition");
                dropped.push((table.to_string(), p.partition_id.clone()));
            }
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows;

    #[test]
    fn civil_days_match_known_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(2026, 11, 26), 20_783);
    }

    #[test]
    fn day_partition_expires_only_after_its_whole_day_is_past_retention() {
        let day = days_from_civil(2026, 11, 1);
        let id = "20261101";
        // now = start of 2026-11-09: the partition ended 8 days ago (at 11-02 00:00).
        let now = (day + 8) * 86_400;
        assert!(partition_expired(id, PartitionUnit::Day, 7, now));
        assert!(!partition_expired(id, PartitionUnit::Day, 8, now - 1));
        assert!(!partition_expired("tuple()", PartitionUnit::Day, 1, now));
        assert!(!partition_expired("all", PartitionUnit::Day, 1, now));
    }

    #[test]
    fn month_partition_ends_at_next_month() {
        assert_eq!(
            partition_end_day("202612", PartitionUnit::Month),
            Some(days_from_civil(2027, 1, 1))
        );
        assert_eq!(partition_end_day("202613", PartitionUnit::Month), None);
        assert_eq!(partition_end_day("20261201", PartitionUnit::Month), None);
    }

    #[test]
    fn legacy_ddl_has_no_modern_features_and_modern_has_them() {
        let r = RetentionConfig::default();
        let legacy = migration_ddl(Tier::Legacy, &r).join("\n");
        for word in [
            "IPv6",
            "LowCardinality",
            "TTL",
            "CODEC",
            "INDEX",
            "deduplication",
        ] {
            assert!(!legacy.contains(word), "legacy DDL contains {word}");
        }
        let modern = migration_ddl(Tier::Modern, &r).join("\n");
        for word in [
            "IPv6",
            "LowCardinality",
            "TTL time_received + INTERVAL 7 DAY",
            "TTL ts + INTERVAL 90 DAY",
            "TTL ts + INTERVAL 365 DAY",
            "ttl_only_drop_parts = 1",
            "CODEC(DoubleDelta, ZSTD)",
            "CODEC(T64, ZSTD)",
            "bloom_filter",
            "non_replicated_deduplication_window",
        ] {
            assert!(modern.contains(word), "modern DDL lacks {word}");
        }
        for ddl in [&legacy, &modern] {
            assert!(!ddl.contains("toStartOfInterval"));
            assert!(ddl.contains("TO flows_5m AS"));
        }
    }

    #[test]
    fn ddl_columns_are_in_encoder_order() {
        let r = RetentionConfig::default();
        for tier in [Tier::Legacy, Tier::Modern] {
            let ddl = migration_ddl(tier, &r);
            for (table, cols) in [
                ("flows", rows::FLOWS_COLUMNS),
                ("window_top", rows::WINDOW_TOP_COLUMNS),
                ("window_totals", rows::WINDOW_TOTALS_COLUMNS),
                ("interface_counters", rows::INTERFACE_COUNTERS_COLUMNS),
                ("exporters", rows::EXPORTERS_COLUMNS),
                ("interfaces", rows::INTERFACES_COLUMNS),
                ("as_names", rows::AS_NAMES_COLUMNS),
            ] {
                let st = ddl
                    .iter()
                    .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {table} (")))
                    .unwrap();
                let mut names: Vec<&str> = st
                    .lines()
                    .skip(1)
                    .map(str::trim)
                    .take_while(|l| !l.starts_with(')') && !l.starts_with("INDEX"))
                    .map(|l| l.split_whitespace().next().unwrap())
                    .collect();
                // Columns later migrations add, in order.
                for alter in ddl
                    .iter()
                    .filter(|s| s.starts_with(&format!("ALTER TABLE {table}\n")))
                {
                    names.extend(
                        alter
                            .lines()
                            .filter_map(|l| l.trim().strip_prefix("ADD COLUMN "))
                            .map(|l| l.split_whitespace().next().unwrap()),
                    );
                }
                assert_eq!(names, cols, "{tier} {table}");
            }
        }
    }

    #[test]
    fn every_rollup_has_its_view_and_a_retention() {
        let r = RetentionConfig::default();
        let kept: Vec<&str> = retained_tables(&r).iter().map(|t| t.0).collect();
        for tier in [Tier::Legacy, Tier::Modern] {
            let ddl = migration_ddl(tier, &r);
            for ru in ROLLUPS {
                assert!(kept.contains(&ru.table), "{} has no retention", ru.table);
                let view = format!(
                    "CREATE MATERIALIZED VIEW IF NOT EXISTS {t}_mv TO {t} AS {}",
                    rollup_select(ru.bucket_fn, ru.keys, ""),
                    t = ru.table
                );
                assert!(ddl.contains(&view), "{tier}: the view of {}", ru.table);
                let table = ddl
                    .iter()
                    .find(|s| s.starts_with(&format!("CREATE TABLE IF NOT EXISTS {} (", ru.table)))
                    .unwrap();
                assert!(
                    table.contains(&format!("ORDER BY ({})", ru.keys)),
                    "{}",
                    ru.table
                );
            }
        }
    }

    #[test]
    fn migration_numbers_strictly_increase() {
        let ms = migrations(Tier::Legacy, &RetentionConfig::default());
        assert!(ms.windows(2).all(|w| w[0].version < w[1].version));
        assert_eq!(ms[0].version, 1);
    }
}
