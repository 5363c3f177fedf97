//! Insert throughput into the local ClickHouse: `cargo bench -p schema --bench insert`.
//!
//! Prints rows/s for (1) RowBinary encoding of `FlowRecord`s alone, (2) raw inserts of pre-encoded
//! batches (LZ4, one request per batch), and (3), for `max_concurrent_inserts` = 1 and the default,
//! the whole writer (`send` + `flush`: encoding, batching, inserts) beside `clickhouse-client`
//! inserting the same RowBinary bytes the writer sends (the writer's batches, written to a file,
//! `INSERT INTO flows (<the writer's column list>) FORMAT RowBinary`, blocks of the batch size)
//! over the native protocol, run right before it, with the ratio writer / clickhouse-client.
//! Server: `SLUICE_TEST_CLICKHOUSE_URL` (default http://127.0.0.1:8123; start one with
//! `scripts/clickhouse.sh start`), its native port `SLUICE_BENCH_CLICKHOUSE_TCP_PORT` (default
//! 9000) for `clickhouse-client` (skipped when it is not installed, or on the modern stand-in,
//! which has no native port). Env `SLUICE_BENCH_ROWS` (default 1,000,000) and `SLUICE_BENCH_BATCH`
//! (default 100,000). Without `--bench` (i.e. under `cargo test`), it runs a tiny smoke pass
//! instead.
//!
//! First, without a server: (0) the spool's fsync cost, records/s of append and of peek + ack for
//! each `spool_fsync` policy, on records of `SLUICE_BENCH_BATCH` rows (`SLUICE_BENCH_SPOOL_BATCHES`
//! of them, default 20) and of 1,000 rows (25 times as many). Env `SLUICE_BENCH_SPOOL_DIR`
//! (default the temp dir) picks the file system: put it on the disk you care about (on tmpfs,
//! fsync costs nothing).

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aggregator::{Output, Sink};
use collector::{FlowRecord, SamplingSource};
use schema::writer::{Table, batch_body, flows_batch};
use schema::{ClickhouseConfig, ClickhouseWriter, FsyncPolicy, Spool};

fn make_flows(n: usize, now: i64) -> Vec<FlowRecord> {
    (0..n)
        .map(|i| {
            let i32_ = i as u32;
            FlowRecord {
                time_received: (now - 600) * 1000 + (i as i64 % 600_000),
                exporter: Ipv4Addr::new(192, 0, 2, 1 + (i % 4) as u8).to_ipv6_mapped(),
                observation_domain: i32_,
                version: 10,
                flow_start: Some((now - 700) * 1000),
                flow_end: Some((now - 650) * 1000),
                src_addr: Some(Ipv4Addr::from(0x0a00_0000 | (i32_ % 65_536)).to_ipv6_mapped()),
                dst_addr: Some(Ipv4Addr::from(0xc633_6400 | (i32_ % 256)).to_ipv6_mapped()),
                src_port: Some(1024 + (i % 60_000) as u16),
                dst_port: Some([443u16, 80, 53, 22][i % 4]),
                protocol: Some(6),
                bytes: 64 + (i as u64 % 1400),
                packets: 1 + (i as u64 % 20),
                sampling_rate: 100,
                sampling_source: SamplingSource::Record,
                in_if: Some(1 + (i32_ % 16)),
                out_if: Some(17 + (i32_ % 16)),
                src_as: Some(64_512 + (i32_ % 100)),
                dst_as: Some(65_000),
                ..Default::default()
            }
        })
        .collect()
}

/// Spool `n` records of `payload` under `policy`, then replay them all; prints records/s of each.
fn bench_spool(policy: FsyncPolicy, label: &str, n: usize, payload: &[u8]) {
    let base = std::env::var_os("SLUICE_BENCH_SPOOL_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).unwrap();
    let max = (n as u64 + 1) * (payload.len() as u64 + 8) * 2;
    let mut spool = Spool::open_with(dir.path(), max, policy).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        spool.append(payload).unwrap();
    }
    let append = t.elapsed();
    let t = Instant::now();
    while spool.peek().unwrap().is_some() {
        spool.ack().unwrap();
    }
    drop(spool);
    let ack = t.elapsed();
    println!(
        "spool fsync = {label:<14} {n} records of {:.1} MB: append {:.0} records/s ({:.0} MB/s), peek + ack {:.0} records/s",
        payload.len() as f64 / 1e6,
        n as f64 / append.as_secs_f64(),
        (n * payload.len()) as f64 / 1e6 / append.as_secs_f64(),
        n as f64 / ack.as_secs_f64(),
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let env_n = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let (rows, batch) = if bench {
        (
            env_n("SLUICE_BENCH_ROWS", 1_000_000),
            env_n("SLUICE_BENCH_BATCH", 100_000),
        )
    } else {
        (2_000, 1_000)
    };
    let url = std::env::var("SLUICE_TEST_CLICKHOUSE_URL")
        .unwrap_or_else(|_| "http://127.0.0.1:8123".to_string());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let recs = make_flows(rows, now);

    // 0. The spool alone, per fsync policy (no server needed).
    let big = if bench {
        env_n("SLUICE_BENCH_SPOOL_BATCHES", 20)
    } else {
        3
    };
    for (rows_per, label, n) in [(batch, "batch-sized", big), (1_000, "small", big * 25)] {
        let mut payload = Vec::with_capacity(rows_per * 220);
        for r in &recs[..rows_per.min(recs.len())] {
            schema::rows::encode_flow(&mut payload, r);
        }
        println!("spool records: {label} ({rows_per} rows)");
        for (policy, name) in [
            (FsyncPolicy::Batch, "\"batch\""),
            (
                FsyncPolicy::Interval(std::time::Duration::from_secs(1)),
                "\"interval\" 1s",
            ),
            (FsyncPolicy::Never, "\"never\""),
        ] {
            bench_spool(policy, name, n, &payload);
        }
    }

    // 1. Encoding only.
    let t = Instant::now();
    let mut buf = Vec::with_capacity(rows * 220);
    for r in &recs {
        schema::rows::encode_flow(&mut buf, r);
    }
    let enc = t.elapsed();
    println!(
        "encode: {rows} rows, {:.1} MB RowBinary, {:.0} rows/s",
        buf.len() as f64 / 1e6,
        rows as f64 / enc.as_secs_f64()
    );

    let db = format!("sluice_bench_{}", std::process::id());
    let spool = std::env::temp_dir().join(format!("sluice-bench-spool-{}", std::process::id()));
    let cfg = ClickhouseConfig {
        url: url.clone(),
        database: db.clone(),
        batch_rows: batch,
        spool_dir: spool.clone(),
        ..Default::default()
    }
    .validate()
    .unwrap();
    let server = schema::server_client(&cfg).unwrap();
    let tier = match schema::healthcheck(&server).await {
        Ok((v, tier)) => {
            println!("server: {url} version {v} ({tier} tier)");
            tier
        }
        Err(e) => {
            println!("skipped: no ClickHouse at {url}: {e}");
            return;
        }
    };
    schema::create_database(&server, &db).await.unwrap();
    let client = schema::build_client(&cfg).unwrap();
    schema::migrate(&client, tier, &cfg.retention)
        .await
        .unwrap();

    // The batches as the writer sends them (RowBinary with each row's batch_id), for the raw
    // inserts and for clickhouse-client.
    let sql = Table::Flows.insert_statement();
    let instance = u64::from(std::process::id()) << 32;
    let batches: Vec<bytes::Bytes> = recs
        .chunks(batch)
        .enumerate()
        .map(|(i, chunk)| {
            let p = flows_batch(instance, i as u64 + 1, chunk);
            bytes::Bytes::copy_from_slice(batch_body(&p).expect("a sealed batch"))
        })
        .collect();
    let mut stored = 0u64;

    // 2. Raw inserts of pre-encoded batches.
    let t = Instant::now();
    for (i, b) in batches.iter().enumerate() {
        let mut ins = client
            .insert_formatted_with(sql.clone())
            .with_setting("max_insert_block_size", batch.to_string());
        if tier == schema::Tier::Modern {
            // Unique per batch, like the writer's (the chdb stand-in also keeps SET values between
            // requests, so a stale token from an earlier run must not deduplicate these).
            ins = ins.with_setting(
                "insert_deduplication_token",
                format!("bench-{}-{i}", std::process::id()),
            );
        }
        ins.send(b.clone()).await.unwrap();
        ins.end().await.unwrap();
    }
    let raw = t.elapsed();
    stored += rows as u64;
    println!(
        "raw insert (LZ4, RowBinary, rollup MVs attached): {rows} rows in batches of {batch}: {:.0} rows/s ({:.2} s)",
        rows as f64 / raw.as_secs_f64(),
        raw.as_secs_f64()
    );

    // 3. The writer end to end, beside clickhouse-client on the same bytes, per concurrency.
    let file = std::env::temp_dir().join(format!("sluice-bench-{}.rowbinary", std::process::id()));
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        for b in &batches {
            f.write_all(b).unwrap();
        }
        f.flush().unwrap();
    }
    let tcp_port =
        std::env::var("SLUICE_BENCH_CLICKHOUSE_TCP_PORT").unwrap_or_else(|_| "9000".into());
    let outputs: Vec<Output> = recs
        .chunks(10_000)
        .map(|c| Output::Flows(c.to_vec().into()))
        .collect();
    let default_concurrency = ClickhouseConfig::default()
        .validate()
        .unwrap()
        .max_concurrent_inserts;
    for concurrency in [1, default_concurrency] {
        let cc = if tier == schema::Tier::Legacy {
            clickhouse_client(&tcp_port, &db, &sql, batch, &file)
        } else {
            Err("the modern stand-in has no native port".to_string())
        };
        let cc_rate = match cc {
            Ok(d) => {
                stored += rows as u64;
                let r = rows as f64 / d.as_secs_f64();
                println!(
                    "clickhouse-client (native, same RowBinary bytes, blocks of {batch}): {rows} rows: {r:.0} rows/s ({:.2} s)",
                    d.as_secs_f64()
                );
                Some(r)
            }
            Err(e) => {
                println!("clickhouse-client: skipped ({e})");
                None
            }
        };
        let cfg = schema::ValidatedClickhouseConfig {
            max_concurrent_inserts: concurrency,
            ..cfg.clone()
        };
        let mut w = ClickhouseWriter::start(&cfg, client.clone(), tier).unwrap();
        let t = Instant::now();
        for o in outputs.iter().cloned() {
            w.send(o).await.unwrap();
        }
        w.flush().await.unwrap();
        let wt = t.elapsed();
        let st = w.stats();
        w.close().await.unwrap();
        assert_eq!(st.rows_written, rows as u64, "{st:?}");
        stored += rows as u64;
        let r = rows as f64 / wt.as_secs_f64();
        println!(
            "writer (send + flush), max_concurrent_inserts {concurrency}: {rows} rows, batch_rows {batch}: {r:.0} rows/s ({:.2} s, {} batches, mean insert {:.1} ms)",
            wt.as_secs_f64(),
            st.batches_written,
            st.insert_latency_us_total as f64 / st.batches_written.max(1) as f64 / 1000.0
        );
        if let Some(c) = cc_rate {
            println!(
                "  max_concurrent_inserts {concurrency}: writer / clickhouse-client = {:.2}",
                r / c
            );
        }
    }
    let n: u64 = client
        .query("SELECT count() FROM flows")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(n, stored);
    let _ = std::fs::remove_file(&file);
    let _ = server
        .query(&format!("DROP DATABASE IF EXISTS {db}"))
        .execute()
        .await;
    let _ = std::fs::remove_dir_all(spool);
}

/// `clickhouse-client` inserting `file` (RowBinary) into `db.flows` with the writer's statement,
/// in blocks of `block` rows; the wall time of the whole command.
fn clickhouse_client(
    port: &str,
    db: &str,
    sql: &str,
    block: usize,
    file: &Path,
) -> Result<Duration, String> {
    let input = std::fs::File::open(file).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let out = std::process::Command::new("clickhouse-client")
        .args(["--host", "127.0.0.1", "--port", port, "--database", db])
        .arg(format!("--max_insert_block_size={block}"))
        .args(["--query", sql])
        .stdin(input)
        .output()
        .map_err(|e| format!("clickhouse-client: {e}"))?;
    let d = t.elapsed();
    if !out.status.success() {
        return Err(format!(
            "clickhouse-client failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(d)
}
