//! `sluice run` killed with SIGKILL mid-stream, then restarted on the same spool:
//! - with ClickHouse down, everything that had reached the spool is stored exactly once after the
//!   restart (the spool is on disk; nothing else is);
//! - with ClickHouse up, a kill in the middle of a replay stores nothing twice, and what was only in
//!   memory (queues, open batches) is lost: the test measures how much and prints it, and checks it
//!   against the bound ARCHITECTURE.md states (in records, from the queue and batch sizes).
//!
//! Needs the 18.16 server (`SLUICE_TEST_CLICKHOUSE_URL`) and its package (a private server is
//! started for the "down, then up" case), curl and the shared corpus.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{
    SluiceRun, clickhouse, count, free_tcp_port, free_udp_port, metric_sum, read_sums, try_sql,
    wait_until,
};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// Rows of `flows` and distinct flows among them (a flow of the capture is one 5-tuple plus its
/// start and end times and counters; a duplicate row repeats all of it).
fn rows_and_distinct(url: &str, db: &str) -> (u64, u64) {
    let rows = count(url, db, "SELECT count() FROM flows");
    let distinct = count(
        url,
        db,
        "SELECT uniqExact(exporter, src_addr, dst_addr, src_port, dst_port, protocol, \
         flow_start_ms, flow_end_ms, bytes, packets) FROM flows",
    );
    (rows, distinct)
}

fn config(port: u16, metrics: u16, url: &str, db: &str, spool: &Path) -> String {
    format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}" }}]
recv_buffer_bytes = 33554432
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
dimensions = ["src_addr"]
[output]
sink = "clickhouse"
raw_flows = true
[clickhouse]
url = "{url}"
database = "{db}"
spool_dir = "{spool}"
batch_rows = 1000
batch_age_ms = 200
retry_initial_ms = 100
retry_max_ms = 500
flush_timeout_ms = 60000
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
"#,
        spool = spool.display()
    )
}

fn kill9(run: &mut SluiceRun) {
    run.child.kill().unwrap(); // SIGKILL
    let _ = run.child.wait();
}

/// Resend a capture to a collector that is killed mid-replay (the rest fails with "connection
/// refused", which is expected).
fn replay_until_killed(pcap: &Path, port: u16, rate: &str) {
    let st = Command::new(SLUICE)
        .arg("replay")
        .arg(pcap)
        .args(["--to", &format!("127.0.0.1:{port}"), "--rate", rate])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    assert!(st.is_ok());
}

#[test]
fn sigkill_with_clickhouse_down_loses_nothing_that_reached_the_spool() {
    let test = "sigkill_with_clickhouse_down_loses_nothing_that_reached_the_spool";
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    if !testkit::tool(test, "clickhouse-server") || !testkit::tool(test, "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (http, tcp) = (free_tcp_port(), free_tcp_port());
    let url = format!("http://127.0.0.1:{http}");
    let (port, metrics) = (free_udp_port(), free_tcp_port());
    let spool = dir.path().join("spool");
    let cfg = config(port, metrics, &url, "crashdown", &spool);
    let mut sluice = SluiceRun::start(dir.path(), &cfg);
    let (_, records) = common::replay_softflowd_ipfix(&shared, port, "20000", metrics);
    // Every raw flow sealed into a batch and appended to the spool (no server: nothing inserted).
    wait_until("every raw flow to reach the spool", || {
        metric_sum(metrics, "sluice_clickhouse_rows_spooled_total") >= records
    });
    kill9(&mut sluice);

    // The server comes up; a new process on the same spool stores it all, once.
    let ch_dir = dir.path().join("clickhouse");
    assert!(
        clickhouse("start", &ch_dir, http, tcp),
        "starting ClickHouse"
    );
    let metrics2 = free_tcp_port();
    let cfg2 = config(port, metrics2, &url, "crashdown", &spool);
    let restarted = SluiceRun::start(dir.path(), &cfg2);
    wait_until("the spool to be replayed", || {
        count(&url, "crashdown", "SELECT count() FROM flows") >= records
    });
    restarted.stop();
    let (rows, distinct) = rows_and_distinct(&url, "crashdown");
    clickhouse("stop", &ch_dir, http, tcp);
    assert_eq!(rows, records, "every spooled record stored once");
    assert_eq!(distinct, records, "no record twice");
}

#[test]
fn sigkill_mid_stream_stores_nothing_twice_and_loses_only_what_was_in_memory() {
    let test = "sigkill_mid_stream_stores_nothing_twice_and_loses_only_what_was_in_memory";
    let Some(url) = testkit::server_url(testkit::LEGACY, test) else {
        return;
    };
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    if !testkit::tool(test, "curl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::unique_db("crash");
    let (port, metrics) = (free_udp_port(), free_tcp_port());
    let spool = dir.path().join("spool");
    let corpus = shared.join("corpus/synthetic-a");
    let want = read_sums(&corpus.join("softflowd-ipfix.tshark.csv"));
    let records: u64 = want.values().map(|w| w.2).sum();

    let mut sluice = SluiceRun::start(dir.path(), &config(port, metrics, &url, &db, &spool));
    wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });
    // A slow replay (about 3 s), killed half way through.
    let pcap = corpus.join("softflowd-ipfix.pcap");
    let sender = std::thread::spawn(move || replay_until_killed(&pcap, port, "500"));
    wait_until("half of the capture to be decoded", || {
        metric_sum(metrics, "sluice_exporter_records_total") >= records / 2
    });
    let decoded = metric_sum(metrics, "sluice_exporter_records_total");
    let written = metric_sum(metrics, "sluice_clickhouse_rows_written_total");
    kill9(&mut sluice);
    sender.join().unwrap();

    // Restart on the same spool, then stop cleanly: whatever had reached the spool is replayed.
    let restarted = SluiceRun::start(
        dir.path(),
        &config(port, free_tcp_port(), &url, &db, &spool),
    );
    std::thread::sleep(std::time::Duration::from_secs(2));
    restarted.stop();
    let (rows, distinct) = rows_and_distinct(&url, &db);
    assert_eq!(rows, distinct, "no record stored twice");
    assert!(
        rows >= written,
        "what ClickHouse acknowledged before the kill is there: {rows} < {written}"
    );
    // The records decoded before the kill but never stored were only in memory. The bound
    // (ARCHITECTURE.md, "Delivery"): the raw-flow queue (`queue_batches` x `batch_records` =
    // 256 x 1,024 here), the writer's channel (`channel_batches` x one worker batch = 16 x 1,024)
    // and the batch open plus the batch in flight (2 x `batch_rows` = 2 x 1,000).
    let bound: u64 = 256 * 1024 + 16 * 1024 + 2 * 1000;
    let lost = decoded.saturating_sub(rows);
    eprintln!(
        "SIGKILL mid-stream: {decoded} records decoded before the kill, {written} acknowledged by \
         ClickHouse, {rows} stored after the restart: {lost} lost from memory (bound {bound})"
    );
    assert!(
        lost <= bound,
        "lost {lost} records from memory, over the bound {bound}"
    );
    let _ = try_sql(&url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
}
