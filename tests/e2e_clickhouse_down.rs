//! Nothing is lost when ClickHouse is down at start: `sluice run` comes up without its database,
//! collects a whole capture into the disk spool, and once a server appears on the configured port it
//! creates the schema, replays the spool, and the stored per-source sums equal tshark's.

mod common;

use std::process::Command;

use common::{SluiceRun, clickhouse, count, free_tcp_port, free_udp_port, stored_sums, wait_until};

fn curl(args: &[&str]) -> Option<String> {
    let out = Command::new("curl")
        .args(["-sS", "--fail-with-body"])
        .args(args)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

#[test]
fn collects_into_the_spool_while_clickhouse_is_down_and_stores_everything_when_it_comes_up() {
    let test =
        "collects_into_the_spool_while_clickhouse_is_down_and_stores_everything_when_it_comes_up";
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    if !(testkit::tool(test, "clickhouse-server") && testkit::tool(test, "curl")) {
        return;
    }
    let dir = std::env::temp_dir().join(format!("sluice-chdown-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (http, tcp, port) = (free_tcp_port(), free_tcp_port(), free_udp_port());
    let metrics = free_tcp_port();
    let url = format!("http://127.0.0.1:{http}");
    let config = format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}" }}]
recv_buffer_bytes = 33554432
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
top_n = 5000
dimensions = ["src_addr"]
[output]
sink = "clickhouse"
[clickhouse]
url = "{url}"
database = "spooled"
spool_dir = "{spool}"
retry_initial_ms = 100
retry_max_ms = 500
flush_timeout_ms = 60000
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
"#,
        spool = dir.join("spool").display()
    );
    let sluice = SluiceRun::start(&dir, &config);
    assert!(
        sluice.log().contains("collecting into the spool"),
        "{}",
        sluice.log()
    );

    let (want, records) = common::replay_softflowd_ipfix(&shared, port, "20000", metrics);
    // The raw flows sit in the spool on disk (about 200 bytes a row).
    let spool_bytes = || {
        std::fs::read_dir(dir.join("spool"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.metadata().ok())
                    .map(|m| m.len())
                    .sum::<u64>()
            })
            .unwrap_or(0)
    };
    wait_until("raw flows to reach the spool", || {
        spool_bytes() > records * 100
    });
    assert_eq!(curl(&[&format!("{url}/ping")]), None, "no server yet");

    // Now the database appears.
    let ch_dir = dir.join("clickhouse");
    assert!(
        clickhouse("start", &ch_dir, http, tcp),
        "starting ClickHouse"
    );
    wait_until("the spool to be replayed", || {
        count(&url, "spooled", "SELECT count() FROM flows") == records
    });
    sluice.stop();
    let got = stored_sums(&url, "spooled");
    clickhouse("stop", &ch_dir, http, tcp);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "stored sums differ from tshark's");
}
