//! ClickHouse helpers for tests against real servers.
//!
//! `SLUICE_TEST_CLICKHOUSE_URL` is the legacy server (Debian's 18.16, `scripts/clickhouse.sh start`),
//! `SLUICE_TEST_CHDB_URL` the modern stand-in (`scripts/chdb.sh start`). A missing variable fails
//! the test unless `SLUICE_TEST_ALLOW_SKIP=1` (see [`crate::missing`]).

use std::net::Ipv6Addr;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use clickhouse::Client;
use collector::{FlowRecord, SamplingSource};
use schema::{ClickhouseConfig, Tier, ValidatedClickhouseConfig};

pub const LEGACY: &str = "SLUICE_TEST_CLICKHOUSE_URL";
pub const MODERN: &str = "SLUICE_TEST_CHDB_URL";

/// The server URL in `var`; when it is not set, the test fails, or skips (None) where
/// `SLUICE_TEST_ALLOW_SKIP=1`.
#[track_caller]
pub fn server_url(var: &str, test: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            crate::missing(
                test,
                &format!("{var} is not set (start the server: scripts/test.sh does)"),
            );
            None
        }
    }
}

/// A database name no other test (or run) uses.
pub fn unique_db(tag: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "sluice_t_{tag}_{}_{}_{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

pub fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A validated config for `url`/`db` with a small batch, fast retries, its own spool dir and no
/// retention sweep.
pub fn test_config(url: &str, db: &str, spool: &Path) -> ValidatedClickhouseConfig {
    ClickhouseConfig {
        url: url.to_string(),
        database: db.to_string(),
        batch_rows: 500,
        batch_age_ms: 200,
        spool_dir: spool.to_path_buf(),
        retry_initial_ms: 50,
        retry_max_ms: 500,
        request_timeout_ms: 10_000,
        flush_timeout_ms: 120_000,
        // Tests that need the legacy retention sweep turn it on themselves.
        retention_sweep_secs: 0,
        ..Default::default()
    }
    .validate()
    .unwrap()
}

/// Create the database, run the migrations; returns the client (database set) and the tier.
pub async fn setup(url: &str, db: &str) -> (Client, Tier) {
    let cfg = test_config(url, db, Path::new("/nonexistent"));
    let server = schema::server_client(&cfg).unwrap();
    let (_, tier) = schema::healthcheck(&server).await.unwrap();
    schema::create_database(&server, db).await.unwrap();
    let client = schema::build_client(&cfg).unwrap();
    schema::migrate(&client, tier, &cfg.retention)
        .await
        .unwrap();
    (client, tier)
}

pub async fn drop_db(url: &str, db: &str) {
    let c = Client::default().with_url(url).with_validation(false);
    let _ = c
        .query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await;
}

/// `n` records with varied keys; `observation_domain` is the record's sequence number `first + i`
/// so tests can check for loss and duplicates. Times are within the last hour of `now_secs`.
pub fn gen_flows(first: u32, n: u32, now_secs: i64) -> Vec<FlowRecord> {
    (0..n)
        .map(|k| {
            let i = first + k;
            let exporter = std::net::Ipv4Addr::new(192, 0, 2, 1 + (i % 3) as u8).to_ipv6_mapped();
            let src = if i.is_multiple_of(5) {
                "2001:db8::1".parse::<Ipv6Addr>().unwrap()
            } else {
                std::net::Ipv4Addr::new(10, 0, (i % 7) as u8, (i % 251) as u8).to_ipv6_mapped()
            };
            FlowRecord {
                time_received: (now_secs - 3600 + i64::from(i % 3600)) * 1000 + i64::from(i % 1000),
                exporter,
                observation_domain: i,
                version: [5u16, 9, 10][(i % 3) as usize],
                flow_start: Some((now_secs - 3700) * 1000),
                flow_end: if i.is_multiple_of(4) {
                    None
                } else {
                    Some((now_secs - 3650) * 1000)
                },
                src_addr: Some(src),
                dst_addr: Some(
                    std::net::Ipv4Addr::new(198, 51, 100, (i % 9) as u8).to_ipv6_mapped(),
                ),
                src_port: Some(40000 + (i % 100) as u16),
                dst_port: Some([443u16, 53, 80, 8443][(i % 4) as usize]),
                protocol: Some(if i % 4 == 1 { 17 } else { 6 }),
                tcp_flags: Some(0x1b),
                bytes: 40 + u64::from(i % 1500),
                packets: 1 + u64::from(i % 10),
                sampling_rate: [1u32, 10, 100][(i % 3) as usize],
                sampling_source: [
                    SamplingSource::Unknown,
                    SamplingSource::Record,
                    SamplingSource::V5Header,
                ][(i % 3) as usize],
                in_if: Some(1 + i % 4),
                out_if: Some(10 + i % 2),
                src_as: Some(64_500 + i % 5),
                dst_as: Some(65_000),
                direction: if i.is_multiple_of(2) { Some(0) } else { None },
                ..Default::default()
            }
        })
        .collect()
}

/// (count, sum bytes, sum packets, sum scaled bytes, sum scaled packets) of records.
pub fn sums(recs: &[FlowRecord]) -> (u64, u64, u64, u64, u64) {
    recs.iter().fold((0, 0, 0, 0, 0), |a, r| {
        (
            a.0 + 1,
            a.1 + r.bytes,
            a.2 + r.packets,
            a.3 + r.scaled_bytes(),
            a.4 + r.scaled_packets(),
        )
    })
}

/// Flow totals as stored: (count, bytes, packets, bytes_scaled, packets_scaled).
pub async fn flow_sums(c: &Client) -> (u64, u64, u64, u64, u64) {
    c.query(
        "SELECT count(), sum(bytes), sum(packets), sum(bytes_scaled), sum(packets_scaled) FROM flows",
    )
    .fetch_one()
    .await
    .unwrap()
}

/// Query result as TSV text.
pub async fn tsv(c: &Client, sql: &str) -> String {
    let mut cur = c.query(sql).fetch_bytes("TabSeparated").unwrap();
    let b = cur.collect().await.unwrap();
    String::from_utf8(b.to_vec()).unwrap()
}
