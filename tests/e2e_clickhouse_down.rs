//! Nothing is lost when ClickHouse is down at start: `sluice run` comes up without its database,
//! collects a whole capture into the disk spool, and once a server appears on the configured port it
//! creates the schema, replays the spool, and the stored per-source sums equal tshark's.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use common::{SluiceRun, Sums, free_tcp_port, free_udp_port, metric_sum, read_sums, wait_until};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

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

/// Start or stop a private ClickHouse 18.16 with the project's script.
fn clickhouse(action: &str, dir: &Path, http: u16, tcp: u16) -> bool {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    Command::new(root.join("scripts/clickhouse.sh"))
        .arg(action)
        .env("SLUICE_CLICKHOUSE_DIR", dir)
        .env("SLUICE_CLICKHOUSE_HTTP_PORT", http.to_string())
        .env("SLUICE_CLICKHOUSE_TCP_PORT", tcp.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
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

    let corpus = shared.join("corpus/synthetic-a");
    let want: Sums = read_sums(&corpus.join("softflowd-ipfix.tshark.csv"));
    let records: u64 = want.values().map(|w| w.2).sum();
    let st = Command::new(SLUICE)
        .arg("replay")
        .arg(corpus.join("softflowd-ipfix.pcap"))
        .args(["--to", &format!("127.0.0.1:{port}"), "--rate", "20000"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    wait_until("every record to be decoded", || {
        metric_sum(metrics, "sluice_exporter_records_total") == records
    });
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
    let stored = || {
        curl(&[
            &format!("{url}/?database=spooled"),
            "--data-binary",
            "SELECT count() FROM flows",
        ])
        .and_then(|s| s.trim().parse::<u64>().ok())
        .unwrap_or(0)
    };
    wait_until("the spool to be replayed", || stored() == records);
    sluice.stop();

    let tsv = curl(&[
        &format!("{url}/?database=spooled"),
        "--data-binary",
        "SELECT hex(src_addr), sum(bytes), sum(packets), count() FROM flows GROUP BY src_addr FORMAT TSV",
    ])
    .unwrap();
    let mut got = Sums::new();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let mut b = [0u8; 16];
        for (i, x) in b.iter_mut().enumerate() {
            *x = u8::from_str_radix(&f[0][2 * i..2 * i + 2], 16).unwrap();
        }
        let a = std::net::Ipv6Addr::from(b).to_canonical();
        got.insert(
            a,
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            ),
        );
    }
    clickhouse("stop", &ch_dir, http, tcp);
    assert_eq!(got.len(), want.len());
    assert!(got == want, "stored sums differ from tshark's");
}
