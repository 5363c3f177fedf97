//! End to end with real exporters: traffic with known truth (written by `sluice gen-traffic`) is
//! exported by softflowd (v5, v9, IPFIX) and pmacctd's nfprobe (v9, IPFIX, and v9 sampled 1 in 10)
//! straight to a running `sluice run` that writes to the real ClickHouse. After SIGTERM, per-source
//! totals from `flows` and `window_top` (direct SQL) and from `sluice report top-talkers` equal the
//! truth (pmacct) or tshark's decode of a capture of the same export (softflowd), with the same
//! top-10 order; the sampled case is within the statistical error and its rate comes from options
//! data.

mod common;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{
    ClickhouseCollector, Sums, read_sums, sql, stored_flows_and_windows, top_groups, wait_until,
};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sluice-exp-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A loopback capture of the export, to be decoded by tshark (the reference decoder).
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(dir: &Path, port: u16) -> Capture {
        let file = dir.join("export.pcap");
        let err = dir.join("tcpdump.log");
        let child = Command::new("tcpdump")
            .args(["-i", "lo", "-U", "-n", "-B", "65536", "-w"])
            .arg(&file)
            .args(["udp", "and", "dst", "port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        wait_until("tcpdump to listen", || {
            std::fs::read_to_string(&err)
                .unwrap_or_default()
                .contains("listening on")
        });
        Capture { child, file }
    }

    fn stop(mut self, port: u16) -> Sums {
        // tcpdump drains its ring buffer at its own pace: stop only once the file stops growing.
        let size = || std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let mut last = u64::MAX;
        wait_until("the capture to catch up", || {
            std::thread::sleep(Duration::from_millis(500));
            let n = size();
            let done = n > 0 && n == last;
            last = n;
            done
        });
        Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap();
        let shared = testkit::shared_dir(REAL).expect("checked at the start of the test");
        let out = Command::new("python3")
            .arg(shared.join("tools/tshark_sum.py"))
            .arg(&self.file)
            .arg(port.to_string())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let csv = self.file.with_extension("tshark.csv");
        std::fs::write(&csv, &out.stdout).unwrap();
        read_sums(&csv)
    }
}

fn softflowd(pcap: &Path, port: u16, version: &str) {
    let st = Command::new("softflowd")
        .arg("-r")
        .arg(pcap)
        .args([
            "-n",
            &format!("127.0.0.1:{port}"),
            "-v",
            version,
            "-m",
            "1000000",
            "-a",
            "-d",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "softflowd -v {version} failed");
}

fn pmacctd(dir: &Path, pcap: &Path, port: u16, version: u8, sampling: Option<u32>) {
    let mut c = format!(
        "nfprobe_receiver: 127.0.0.1:{port}\nnfprobe_version: {version}\nnfprobe_maxflows: 1000000\n\
         aggregate: src_host, dst_host, src_port, dst_port, proto, tos\n"
    );
    if let Some(s) = sampling {
        c.push_str(&format!("sampling_rate: {s}\n"));
    }
    common::pmacctd(dir, pcap, "nfprobe", &c);
}

/// `sluice report top-talkers --by src` as JSON: the sources in order with their bytes.
fn report_top10(dir: &Path, url: &str, db: &str) -> Vec<(IpAddr, u64)> {
    let out = Command::new(SLUICE)
        .args([
            "report",
            "top-talkers",
            "--by",
            "src",
            "--last",
            "24h",
            "--limit",
            "10",
            "--format",
            "json",
        ])
        .args(["--clickhouse-url", url, "--database", db, "--source", "raw"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = v["rows"].as_array().expect("report rows");
    rows.iter()
        .filter(|r| r["other"].as_bool() != Some(true))
        .map(|r| {
            let src = r["key"]
                .as_str()
                .or(r["src"].as_str())
                .expect("a source column");
            (src.parse().unwrap(), r["bytes"].as_u64().unwrap())
        })
        .collect()
}

fn only_bytes_packets(s: &Sums) -> HashMap<IpAddr, (u64, u64)> {
    s.iter().map(|(a, v)| (*a, (v.0, v.1))).collect()
}

fn assert_same_top10(what: &str, got: &Sums, want: &Sums) {
    assert_eq!(
        top_groups(got, 10),
        top_groups(want, 10),
        "{what}: top 10 sources by bytes"
    );
}

fn check_report(dir: &Path, url: &str, db: &str, want: &Sums) {
    let rows = report_top10(dir, url, db);
    assert_eq!(rows.len(), 10);
    for (a, b) in &rows {
        assert_eq!(Some(*b), want.get(a).map(|w| w.0), "report bytes for {a}");
    }
    let mut by_bytes: Vec<u64> = want.values().map(|w| w.0).collect();
    by_bytes.sort_unstable_by(|a, b| b.cmp(a));
    let got: Vec<u64> = rows.iter().map(|r| r.1).collect();
    assert_eq!(got, by_bytes[..10].to_vec(), "report order");
}

struct Case {
    name: &'static str,
    exporter: &'static str,
    version: &'static str,
}

const REAL: &str = "real_exporters_to_clickhouse_give_the_truth";

#[test]
fn real_exporters_to_clickhouse_give_the_truth() {
    let Some(url) = testkit::server_url(testkit::LEGACY, REAL) else {
        return;
    };
    // tshark_sum.py (tshark's sums of the capture) is one of the shared tools.
    if testkit::shared_dir(REAL).is_none() {
        return;
    }
    let tools = [
        "softflowd",
        "pmacctd",
        "tcpdump",
        "tshark",
        "python3",
        "curl",
    ];
    if !tools.iter().all(|t| testkit::tool(REAL, t)) {
        return;
    }
    let root = tmpdir("traffic");
    let (pcap, truth) = common::traffic(&root);
    let v4_truth: Sums = truth
        .iter()
        .filter(|(a, _)| a.is_ipv4())
        .map(|(a, v)| (*a, *v))
        .collect();
    let cases = [
        Case {
            name: "softflowd_v5",
            exporter: "softflowd",
            version: "5",
        },
        Case {
            name: "softflowd_v9",
            exporter: "softflowd",
            version: "9",
        },
        Case {
            name: "softflowd_ipfix",
            exporter: "softflowd",
            version: "10",
        },
        Case {
            name: "pmacct_v9",
            exporter: "pmacct",
            version: "9",
        },
        Case {
            name: "pmacct_ipfix",
            exporter: "pmacct",
            version: "10",
        },
    ];
    for case in cases {
        let dir = tmpdir(case.name);
        let db = format!("e2e_{}_{}", case.name, std::process::id());
        let sluice = ClickhouseCollector::start(&dir, &url, &db, "netflow");
        let want = if case.exporter == "softflowd" {
            let cap = Capture::start(&dir, sluice.port);
            softflowd(&pcap, sluice.port, case.version);
            let reference = cap.stop(sluice.port);
            let log = std::fs::read_to_string(dir.join("tcpdump.log")).unwrap();
            assert!(
                log.lines().any(|l| l == "0 packets dropped by kernel"),
                "{}: the capture lost packets: {log}",
                case.name
            );
            // The reference decoder agrees with the truth (v5 carries IPv4 only).
            let t = if case.version == "5" {
                &v4_truth
            } else {
                &truth
            };
            assert_eq!(
                only_bytes_packets(&reference),
                only_bytes_packets(t),
                "{}: tshark vs truth",
                case.name
            );
            reference
        } else {
            pmacctd(
                &dir,
                &pcap,
                sluice.port,
                case.version.parse().unwrap(),
                None,
            );
            truth.clone()
        };
        let records: u64 = want.values().map(|w| w.2).sum();
        if case.exporter == "softflowd" {
            wait_until("sluice to decode every exported record", || {
                sluice.records() >= records
            });
        } else {
            // pmacct's record count is not in the truth: wait until the count stops moving.
            sluice.settle();
        }
        let decoded = sluice.records();
        sluice.stop();
        // `sluice run` kept the exporters table current: the last row per exporter carries the
        // collector's counters and what it knows of the exporter.
        let health = sql(
            &url,
            &db,
            "SELECT sum(r), sum(d), min(f), min(c), groupUniqArrayArray(v), sum(e) FROM (\
             SELECT address, argMax(records, (last_seen, datagrams)) AS r, \
             argMax(datagrams, (last_seen, datagrams)) AS d, \
             toUInt32(min(first_seen)) AS f, toUInt32(max(collector_started)) AS c, \
             argMax(versions, (last_seen, datagrams)) AS v, \
             argMax(decode_errors, (last_seen, datagrams)) AS e \
             FROM exporters GROUP BY address)",
        );
        let cols: Vec<&str> = health.trim().split('\t').collect();
        assert_eq!(
            cols[0],
            decoded.to_string(),
            "{}: exporters.records",
            case.name
        );
        assert!(
            cols[1].parse::<u64>().unwrap() > 0,
            "{}: datagrams",
            case.name
        );
        assert!(
            cols[2].parse::<u64>().unwrap() > 0,
            "{}: first_seen",
            case.name
        );
        assert!(
            cols[3].parse::<u64>().unwrap() > 0,
            "{}: collector_started",
            case.name
        );
        assert_eq!(
            cols[4],
            format!("[{}]", case.version),
            "{}: versions",
            case.name
        );
        assert_eq!(cols[5], "0", "{}: decode errors", case.name);
        let (flows, windows) = stored_flows_and_windows(&url, &db, false);
        let cmp = |s: &Sums| {
            if case.exporter == "softflowd" {
                s.clone()
            } else {
                only_bytes_packets(s)
                    .into_iter()
                    .map(|(a, (b, p))| (a, (b, p, 0)))
                    .collect()
            }
        };
        let want_cmp = cmp(&want);
        assert_eq!(cmp(&flows), want_cmp, "{}: flows per source", case.name);
        assert_eq!(
            cmp(&windows),
            want_cmp,
            "{}: window_top per source",
            case.name
        );
        assert_same_top10(case.name, &flows, &want);
        assert_same_top10(case.name, &windows, &want);
        check_report(&dir, &url, &db, &want);
        sql(&url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
    }
}

#[test]
fn pmacct_sampled_one_in_ten_scales_within_statistical_error_from_options_data() {
    let test = "pmacct_sampled_one_in_ten_scales_within_statistical_error_from_options_data";
    let Some(url) = testkit::server_url(testkit::LEGACY, test) else {
        return;
    };
    if !["pmacctd", "curl"].iter().all(|t| testkit::tool(test, t)) {
        return;
    }
    let dir = tmpdir("sampled");
    let (pcap, truth) = common::traffic(&dir);
    let db = format!("e2e_sampled_{}", std::process::id());
    let sluice = ClickhouseCollector::start(&dir, &url, &db, "netflow");
    pmacctd(&dir, &pcap, sluice.port, 9, Some(10));
    sluice.settle();
    sluice.stop();
    let provenance = sql(
        &url,
        &db,
        "SELECT sampling_source, sampling_rate, count() FROM flows GROUP BY sampling_source, sampling_rate FORMAT TSV",
    );
    let rows: Vec<Vec<&str>> = provenance
        .lines()
        .map(|l| l.split('\t').collect())
        .collect();
    assert_eq!(
        rows.len(),
        1,
        "one provenance for every record: {provenance}"
    );
    assert_eq!(
        (rows[0][0], rows[0][1]),
        ("options_data", "10"),
        "{provenance}"
    );
    let (flows, windows) = stored_flows_and_windows(&url, &db, true);
    common::assert_one_in_ten_within_error(&truth, &flows, &windows);
    sql(&url, "default", &format!("DROP DATABASE IF EXISTS {db}"));
}
