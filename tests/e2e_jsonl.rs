//! End to end: the real `sluice run` binary on a loopback port with the JSON-lines sink, fed by
//! `sluice replay` with each capture of the synthetic corpus, stopped with SIGTERM. Per-source
//! totals from the closed windows (top rows of `src_addr`, `top_n` large enough for every source)
//! and from the raw flow rows must equal the tshark sums, and the top 10 sources by bytes must come
//! in the same order.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::net::{IpAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{SluiceRun, Sums, free_udp_port, read_sums, top_groups};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// `::ffff:a.b.c.d` and `a.b.c.d` are the same source.
fn norm(s: &str) -> IpAddr {
    let ip: IpAddr = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

struct Collector {
    run: SluiceRun,
    dir: PathBuf,
    port: u16,
}

impl Collector {
    fn start(name: &str) -> Collector {
        Self::start_with(name, "netflow", "127.0.0.0/8")
    }

    fn start_with(name: &str, protocol: &str, allowed: &str) -> Collector {
        Self::launch(name, protocol, allowed, true)
    }

    /// Start again in the directory of an earlier run, keeping its state file.
    fn start_keep(name: &str) -> Collector {
        Self::launch(name, "netflow", "127.0.0.0/8", false)
    }

    fn launch(name: &str, protocol: &str, allowed: &str, fresh: bool) -> Collector {
        Self::launch_metrics(name, protocol, allowed, fresh, 0)
    }

    fn launch_metrics(
        name: &str,
        protocol: &str,
        allowed: &str,
        fresh: bool,
        metrics_port: u16,
    ) -> Collector {
        let dir = std::env::temp_dir().join(format!("sluice-e2e-{}-{name}", std::process::id()));
        if fresh {
            let _ = std::fs::remove_dir_all(&dir);
        }
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_udp_port();
        let cfg = format!(
            r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}", protocol = "{protocol}" }}]
workers = 1
recv_buffer_bytes = 33554432
allowed_exporters = ["{allowed}"]
state_file = "{state}"

[aggregator]
window_secs = 60
top_n = 5000
dimensions = ["src_addr", "dst_addr", "protocol"]

[output]
sink = "jsonl"
path = "{out}"
raw_flows = true

[metrics]
enabled = {metrics_enabled}
listen = "127.0.0.1:{metrics_port}"
interval_ms = 200
"#,
            metrics_enabled = metrics_port != 0,
            state = dir.join("templates.json").display(),
            out = dir.join("out.jsonl").display(),
        );
        let run = SluiceRun::start(&dir, &cfg);
        Collector { run, dir, port }
    }

    fn stop(self) -> (PathBuf, String) {
        (self.dir, self.run.stop())
    }
}

#[derive(Default)]
struct Seen {
    windows: Sums,
    other_bytes: u64,
    flows: Sums,
    flow_lines: u64,
}

fn read_output(path: &Path) -> Seen {
    let text = std::fs::read_to_string(path).unwrap();
    let mut seen = Seen::default();
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        match v["type"].as_str().unwrap() {
            "flow" => {
                seen.flow_lines += 1;
                let Some(src) = v["src_addr"].as_str() else {
                    continue;
                };
                let e = seen.flows.entry(norm(src)).or_default();
                e.0 += v["bytes"].as_u64().unwrap();
                e.1 += v["packets"].as_u64().unwrap();
                e.2 += 1;
            }
            "window_top" if v["dimension"] == "src_addr" => {
                if v["is_other"].as_bool().unwrap() {
                    seen.other_bytes += v["bytes"].as_u64().unwrap();
                    continue;
                }
                let e = seen
                    .windows
                    .entry(norm(v["key"]["addr_a"].as_str().unwrap()))
                    .or_default();
                e.0 += v["bytes"].as_u64().unwrap();
                e.1 += v["packets"].as_u64().unwrap();
                e.2 += v["flows"].as_u64().unwrap();
            }
            _ => {}
        }
    }
    seen
}

fn diff(what: &str, got: &Sums, want: &Sums) -> Vec<String> {
    let mut out = Vec::new();
    for (addr, w) in want {
        match got.get(addr) {
            Some(g) if g == w => {}
            g => out.push(format!("{what} {addr}: got {g:?}, want {w:?}")),
        }
    }
    for addr in got.keys() {
        if !want.contains_key(addr) {
            out.push(format!("{what} {addr}: not in the reference"));
        }
    }
    out.sort();
    out.truncate(20);
    out
}

#[test]
fn replayed_corpus_totals_per_source_match_tshark() {
    let Some(shared) = testkit::shared_dir("replayed_corpus_totals_per_source_match_tshark") else {
        return;
    };
    let corpus = shared.join("corpus/synthetic-a");
    let mut failures = Vec::new();
    for (name, capture_port) in common::SYNTHETIC {
        let pcap = corpus.join(format!("{name}.pcap"));
        let want = read_sums(&corpus.join(format!("{name}.tshark.csv")));
        let collector = Collector::start(name);
        let replay = Command::new(SLUICE)
            .arg("replay")
            .arg(&pcap)
            .args(["--to", &format!("127.0.0.1:{}", collector.port)])
            .args(["--port", &capture_port.to_string()])
            .args(["--rate", "20000"])
            .output()
            .unwrap();
        assert!(
            replay.status.success(),
            "replay {name}: {}",
            String::from_utf8_lossy(&replay.stderr)
        );
        let (dir, log) = collector.stop();
        assert!(log.contains("stopped cleanly"), "{name}:\n{log}");
        assert!(
            log.contains("kernel_drops=0"),
            "{name} lost datagrams:\n{log}"
        );
        let seen = read_output(&dir.join("out.jsonl"));
        let want_flows: u64 = want.values().map(|s| s.2).sum();
        assert_eq!(seen.flow_lines, want_flows, "{name}: raw flow rows");
        assert_eq!(
            seen.other_bytes, 0,
            "{name}: top_n covers every source, so 'other' is empty"
        );
        let mut problems = diff("windows", &seen.windows, &want);
        problems.extend(diff("flows", &seen.flows, &want));
        if top_groups(&seen.windows, 10) != top_groups(&want, 10) {
            problems.push(format!(
                "top 10 by bytes differ: got {:?}, want {:?}",
                top_groups(&seen.windows, 10),
                top_groups(&want, 10)
            ));
        }
        let state = dir.join("templates.json");
        if !state.exists() {
            problems.push("no template state file after shutdown".into());
        }
        if problems.is_empty() {
            let _ = std::fs::remove_dir_all(&dir);
        } else {
            failures.push(format!(
                "{name} ({}):\n  {}",
                dir.display(),
                problems.join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn top_groups_treat_ties_as_sets() {
    let a: IpAddr = "10.0.0.1".parse().unwrap();
    let b: IpAddr = "10.0.0.2".parse().unwrap();
    let c: IpAddr = "10.0.0.3".parse().unwrap();
    let x = HashMap::from([(a, (5, 0, 0)), (b, (5, 0, 0)), (c, (9, 0, 0))]);
    let g = top_groups(&x, 2);
    assert_eq!(
        g,
        vec![(9, BTreeSet::from([c])), (5, BTreeSet::from([a, b]))]
    );
    assert_eq!(top_groups(&x, 1), vec![(9, BTreeSet::from([c]))]);
}

fn replay(collector: &Collector, pcap: &Path, capture_port: u16) {
    let out = Command::new(SLUICE)
        .arg("replay")
        .arg(pcap)
        .args(["--to", &format!("127.0.0.1:{}", collector.port)])
        .args(["--port", &capture_port.to_string()])
        .args(["--rate", "20000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn count_in_log(log: &str, key: &str) -> u64 {
    let line = log.lines().find(|l| l.contains("stopped cleanly")).unwrap();
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
        .parse()
        .unwrap()
}

#[test]
fn exporters_outside_the_allowlist_are_dropped_and_counted() {
    let Some(shared) =
        testkit::shared_dir("exporters_outside_the_allowlist_are_dropped_and_counted")
    else {
        return;
    };
    let pcap = shared.join("corpus/synthetic-a/softflowd-v5.pcap");
    let collector = Collector::start_with("denied", "netflow", "10.0.0.0/8");
    replay(&collector, &pcap, 9901);
    let (dir, log) = collector.stop();
    let datagrams = count_in_log(&log, "datagrams");
    assert!(datagrams > 0, "{log}");
    assert_eq!(count_in_log(&log, "denied"), datagrams, "{log}");
    assert_eq!(count_in_log(&log, "records"), 0, "{log}");
    let seen = read_output(&dir.join("out.jsonl"));
    assert_eq!(seen.flow_lines, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sflow_listener_decodes_every_sample_of_the_sflow_corpus_and_netflow_beside_it() {
    let Some(shared) = testkit::shared_dir(
        "sflow_listener_decodes_every_sample_of_the_sflow_corpus_and_netflow_beside_it",
    ) else {
        return;
    };
    let dir = shared.join("corpus/vendor/akvorado-sflow");
    let mut pcaps: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    pcaps.sort();
    assert_eq!(pcaps.len(), 11);
    let collector = Collector::start_with("sflow", "sflow", "127.0.0.0/8");
    let mut want_samples = 0;
    let mut want_bytes = 0;
    for pcap in &pcaps {
        let (recs, _) = common::decode_capture(pcap, Some(6343));
        want_samples += recs.len() as u64;
        want_bytes += recs.iter().map(|r| r.bytes).sum::<u64>();
        replay(&collector, pcap, 6343);
    }
    // The version is read from each datagram: NetFlow sent to the sFlow port decodes too.
    let v5 = shared.join("corpus/synthetic-a/softflowd-v5.pcap");
    let (v5_recs, _) = common::decode_capture(&v5, Some(9901));
    replay(&collector, &v5, 9901);
    let (out_dir, log) = collector.stop();
    assert_eq!(
        count_in_log(&log, "records"),
        want_samples + v5_recs.len() as u64,
        "{log}"
    );
    let text = std::fs::read_to_string(out_dir.join("out.jsonl")).unwrap();
    let (mut sflow_lines, mut sflow_bytes, mut v5_lines) = (0, 0, 0);
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        if v["type"] != "flow" {
            continue;
        }
        match v["version"].as_u64().unwrap() {
            105 => {
                sflow_lines += 1;
                sflow_bytes += v["bytes"].as_u64().unwrap();
                assert_eq!(v["packets"], 1, "{line}");
                assert_eq!(v["sampling_source"], "record", "{line}");
            }
            5 => v5_lines += 1,
            other => panic!("version {other}: {line}"),
        }
    }
    assert_eq!(sflow_lines, want_samples);
    assert_eq!(sflow_bytes, want_bytes);
    assert_eq!(v5_lines, v5_recs.len() as u64);
    let _ = std::fs::remove_dir_all(&out_dir);
}

#[test]
fn replay_loops_resend_the_capture_unchanged_and_in_order() {
    let Some(shared) =
        testkit::shared_dir("replay_loops_resend_the_capture_unchanged_and_in_order")
    else {
        return;
    };
    let pcap = shared.join("corpus/synthetic-a/softflowd-v5.pcap");
    let mut want: Vec<Vec<u8>> = Vec::new();
    collector::capture::for_each_datagram(&pcap, Some(9901), |_, d| want.push(d.payload.to_vec()))
        .unwrap();
    assert!(!want.is_empty());
    // A 16 MiB receive buffer (as a collector has), so that a busy machine cannot make the
    // kernel drop datagrams while the reader thread waits for the CPU.
    let rx = collector::socket::bind_receiver(
        "127.0.0.1:0".parse().unwrap(),
        &collector::socket::ReceiveOptions {
            recv_buffer: 16 << 20,
            reuse_port: false,
            read_timeout: Duration::from_secs(2),
        },
    )
    .unwrap()
    .socket;
    let port = rx.local_addr().unwrap().port();
    let n = want.len() * 2;
    let reader = std::thread::spawn(move || {
        let mut got = Vec::new();
        let mut buf = vec![0u8; 65536];
        while got.len() < n {
            match rx.recv(&mut buf) {
                Ok(len) => got.push(buf[..len].to_vec()),
                Err(_) => break,
            }
        }
        got
    });
    let out = Command::new(SLUICE)
        .arg("replay")
        .arg(&pcap)
        .args(["--to", &format!("127.0.0.1:{port}")])
        .args(["--port", "9901", "--loop", "2", "--rate", "10000"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = reader.join().unwrap();
    assert_eq!(got.len(), n);
    for (i, g) in got.iter().enumerate() {
        assert_eq!(g, &want[i % want.len()], "datagram {i}");
    }
}

#[test]
fn replay_refuses_a_non_loopback_target() {
    let out = Command::new(SLUICE)
        .args(["replay", "/nonexistent.pcap", "--to", "192.0.2.1:2055"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
    let out = Command::new(SLUICE)
        .args(["blast", "--to", "192.0.2.1:2055", "--duration", "0.1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a loopback address"));
}

/// Whether a NetFlow v9 datagram holds no template or options-template FlowSet.
fn v9_data_only(d: &[u8]) -> bool {
    let mut at = 20;
    while at + 4 <= d.len() {
        let id = u16::from_be_bytes([d[at], d[at + 1]]);
        let len = usize::from(u16::from_be_bytes([d[at + 2], d[at + 3]]));
        if id < 256 {
            return false;
        }
        if len < 4 {
            break;
        }
        at += len;
    }
    true
}

#[test]
fn templates_saved_at_shutdown_decode_data_after_a_restart() {
    let Some(shared) =
        testkit::shared_dir("templates_saved_at_shutdown_decode_data_after_a_restart")
    else {
        return;
    };
    let pcap = shared.join("corpus/synthetic-a/softflowd-v9.pcap");
    let mut all: Vec<Vec<u8>> = Vec::new();
    collector::capture::for_each_datagram(&pcap, Some(9902), |_, d| all.push(d.payload.to_vec()))
        .unwrap();
    // Records carried by data-only datagrams, as the decoder counts them with every template known.
    let mut decoder = collector::Decoder::new(collector::DecoderSettings::default());
    let mut sink = Vec::new();
    let mut data_only = Vec::new();
    let mut want = 0u64;
    for d in &all {
        let s = decoder
            .decode(
                "127.0.0.1".parse().unwrap(),
                d,
                1_800_000_000_000,
                &mut sink,
            )
            .unwrap();
        if v9_data_only(d) {
            want += u64::from(s.records);
            data_only.push(d.clone());
        }
    }
    assert!(want > 0 && data_only.len() < all.len());

    let send = |port: u16| {
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        for (i, d) in data_only.iter().enumerate() {
            tx.send_to(d, ("127.0.0.1", port)).unwrap();
            if i % 64 == 63 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    };

    // First run learns the templates from the full capture and saves them at shutdown.
    let first = Collector::start("persist");
    let state_dir = first.dir.clone();
    replay(&first, &pcap, 9902);
    let (_, log) = first.stop();
    assert!(log.contains("template state saved"), "{log}");

    // Second run, same state file: data without templates decodes at once.
    let second = Collector::start_keep("persist");
    send(second.port);
    let (dir, log) = second.stop();
    assert_eq!(count_in_log(&log, "records"), want, "{log}");
    assert_eq!(read_output(&dir.join("out.jsonl")).flow_lines, want);

    // Control: without the saved state, the same data decodes to nothing.
    std::fs::remove_file(state_dir.join("templates.json")).unwrap();
    let third = Collector::start_keep("persist");
    send(third.port);
    let (dir, log) = third.stop();
    assert_eq!(count_in_log(&log, "records"), 0, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_get(port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn metric(text: &str, series: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse::<f64>().ok())
        .map(|v| v as u64)
}

#[test]
fn metrics_endpoint_counts_datagrams_and_records_per_exporter() {
    let Some(shared) =
        testkit::shared_dir("metrics_endpoint_counts_datagrams_and_records_per_exporter")
    else {
        return;
    };
    let pcap = shared.join("corpus/synthetic-a/softflowd-ipfix.pcap");
    let mut datagrams = 0u64;
    collector::capture::for_each_datagram(&pcap, Some(9903), |_, _| datagrams += 1).unwrap();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let c = Collector::launch_metrics("metrics", "netflow", "127.0.0.0/8", true, metrics_port);
    replay(&c, &pcap, 9903);
    let series = r#"sluice_exporter_datagrams_total{exporter="127.0.0.1"}"#;
    let mut text = String::new();
    // Poll until the workers' next report lands (readiness, with a generous cap).
    for _ in 0..200 {
        text = http_get(metrics_port, "/metrics");
        if metric(&text, series) == Some(datagrams) {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(metric(&text, series), Some(datagrams), "{text}");
    let records = metric(
        &text,
        r#"sluice_exporter_records_total{exporter="127.0.0.1"}"#,
    );
    assert!(records.is_some_and(|r| r > 0), "{text}");
    assert_eq!(metric(&text, "sluice_queue_drops_total"), Some(0), "{text}");
    assert_eq!(
        metric(&text, "sluice_kernel_drops_total"),
        Some(0),
        "{text}"
    );
    assert!(text.contains("sluice_exporter_templates{"), "{text}");
    let (dir, log) = c.stop();
    assert_eq!(Some(count_in_log(&log, "records")), records, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
