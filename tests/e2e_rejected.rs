//! A table ClickHouse refuses inserts into for good does not stop the collector: `sluice run` keeps
//! running (the table breaks mid-stream), stores what it can (the windows), dead-letters the
//! first refused batches, then spools the rest and reports itself unhealthy; once the column is
//! back it replays the spool, and `sluice spool retry` re-drives the dead letters, so every record
//! of the capture is in `flows` exactly once.
//!
//! Needs the 18.16 server (`SLUICE_TEST_CLICKHOUSE_URL`, started by scripts/test.sh) and the shared
//! corpus.

mod common;

use std::process::Command;

use common::{
    SluiceRun, count, free_tcp_port, free_udp_port, metric_sum, sql, stored_sums, wait_until,
};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

#[test]
fn a_table_refusing_inserts_never_stops_the_collector_and_loses_nothing() {
    let test = "a_table_refusing_inserts_never_stops_the_collector_and_loses_nothing";
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
    let db = testkit::unique_db("rejected");
    let (port, metrics) = (free_udp_port(), free_tcp_port());
    let config = format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}" }}]
recv_buffer_bytes = 33554432
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 10
allowed_lateness_windows = 0
top_n = 5000
dimensions = ["src_addr"]
[output]
sink = "clickhouse"
raw_flows = true
[clickhouse]
url = "{url}"
database = "{db}"
spool_dir = "{spool}"
batch_rows = 500
batch_age_ms = 100
retry_initial_ms = 100
retry_max_ms = 500
flush_timeout_ms = 30000
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
"#,
        spool = dir.path().join("spool").display()
    );
    let mut sluice = SluiceRun::start(dir.path(), &config);
    wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });

    // A capture arrives for about 1.6 s; once its first batches are stored, the operator breaks
    // `flows` mid-stream: every insert into it is now refused for good (unknown column).
    let replay = {
        let shared = shared.clone();
        std::thread::spawn(move || common::replay_softflowd_ipfix(&shared, port, "1000", metrics))
    };
    wait_until("the first raw flows to be stored", || {
        count(&url, &db, "SELECT count() FROM flows") > 0
    });
    sql(&url, &db, "ALTER TABLE flows DROP COLUMN flags");
    let (want, records) = replay.join().unwrap();

    // The first refused batches are dead letters; after that the writer is unhealthy and spools.
    wait_until("the writer to report itself unhealthy", || {
        metric_sum(metrics, "sluice_clickhouse_failed") == 1
    });
    let dead_dir = dir.path().join("spool/dead-letter");
    let dead: Vec<std::path::PathBuf> = std::fs::read_dir(&dead_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    assert!(!dead.is_empty() && dead.len() <= 3, "{dead:?}");
    let text = std::fs::read_to_string(&dead[0]).unwrap();
    assert!(text.contains("flags"), "the error names the column: {text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("time_received\texporter\t")),
        "the rows are readable: {text}"
    );
    let dead_rows = metric_sum(metrics, "sluice_clickhouse_dead_letter_rows_total");
    assert!(dead_rows > 0);
    // Windows are another writer: they went on being stored while flows were refused.
    wait_until("the windows of the capture to be stored", || {
        count(&url, &db, "SELECT sum(flows) FROM window_totals") == records
    });
    // What was stored before the break is there, and the break came mid-stream.
    let stored_before = count(&url, &db, "SELECT count() FROM flows");
    assert!(
        stored_before > 0 && stored_before < records,
        "{stored_before} of {records} stored before the break"
    );
    assert!(
        sluice.child_is_running(),
        "the collector keeps running: {}",
        sluice.log()
    );

    // The operator puts the column back: the spool is replayed without a restart.
    sql(&url, &db, "ALTER TABLE flows ADD COLUMN flags UInt8");
    wait_until("the spool to be replayed", || {
        count(&url, &db, "SELECT count() FROM flows") == records - dead_rows
    });
    wait_until("the writer to be healthy again", || {
        metric_sum(metrics, "sluice_clickhouse_failed") == 0
    });

    // And re-drives the dead letters.
    let out = Command::new(SLUICE)
        .args(["spool", "status", "--config"])
        .arg(dir.path().join("sluice.toml"))
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{status}");
    assert!(status.contains("raw flows: dead letters"), "{status}");
    let out = Command::new(SLUICE)
        .args(["spool", "retry", "--config"])
        .arg(dir.path().join("sluice.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_dir(&dead_dir).unwrap().count(),
        0,
        "every dead letter was stored and removed"
    );
    sluice.stop();

    assert_eq!(
        count(&url, &db, "SELECT count() FROM flows"),
        records,
        "every record once"
    );
    assert!(stored_sums(&url, &db) == want, "stored sums equal tshark's");
    assert_eq!(
        count(&url, &db, "SELECT sum(flow_count) FROM flows_5m"),
        records,
        "the rollup counts every record once"
    );
    sql(&url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
}
