//! End to end (the real `sluice run` binary, JSON-lines sink, loopback) for what must hold when
//! exporters misbehave or many addresses send:
//! - with several receive workers, an exporter that sends from several source ports keeps all its
//!   state in one decoder (the reuseport group is steered by source address), so data sent from
//!   other ports than its templates decodes in full;
//! - a flood from many source addresses creates no more per-exporter metric series than
//!   `metrics.max_exporter_series` (plus one `exporter="other"`), and the totals stay whole.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use common::{SluiceRun, free_tcp_port, free_udp_port, metric_sum, wait_until};
use flowgen::encode::{Flow, IpfixHeader, V5Header, V9Header, encode_ipfix, encode_v5, encode_v9};

fn tmpdir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("sluice-rel-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// `sluice run` on one loopback NetFlow listener with `workers` receive workers, writing JSON
/// lines, with metrics on `metrics_port`; `extra_listen` goes into `[listen]`, `extra_metrics`
/// into `[metrics]`.
fn start(
    dir: &std::path::Path,
    workers: usize,
    extra_listen: &str,
    extra_metrics: &str,
) -> (SluiceRun, u16, u16) {
    let port = free_udp_port();
    let metrics_port = free_tcp_port();
    let cfg = format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}", protocol = "netflow" }}]
workers = {workers}
recv_buffer_bytes = 8388608
{extra_listen}

[aggregator]
window_secs = 60
top_n = 100
dimensions = ["src_addr"]

[output]
sink = "jsonl"
path = "{out}"
raw_flows = true

[metrics]
enabled = true
listen = "127.0.0.1:{metrics_port}"
interval_ms = 100
{extra_metrics}
"#,
        out = dir.join("out.jsonl").display(),
    );
    (SluiceRun::start(dir, &cfg), port, metrics_port)
}

/// The `key=value` count of the "stopped cleanly" log line.
fn count_in_log(log: &str, key: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("stopped cleanly"))
        .unwrap_or_else(|| panic!("no clean stop in:\n{log}"));
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} missing in {line}"))
        .parse()
        .unwrap()
}

fn flow_lines(dir: &std::path::Path) -> u64 {
    std::fs::read_to_string(dir.join("out.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| l.contains(r#""type":"flow""#))
        .count() as u64
}

fn flow(i: u32, now: u64) -> Flow {
    Flow {
        src_addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        dst_addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
        src_port: 40000 + (i % 1000) as u16,
        dst_port: 443,
        protocol: 6,
        tos: 0,
        tcp_flags: 0x1b,
        bytes: 1000 + u64::from(i),
        packets: 1 + u64::from(i % 7),
        start_ms: now - 20_000,
        end_ms: now - 1_000,
        in_if: 1,
        out_if: 2,
        src_as: 64500,
        dst_as: 64501,
        src_mask: 24,
        dst_mask: 24,
    }
}

#[test]
fn an_exporter_sending_from_many_ports_decodes_in_full_with_two_workers() {
    let dir = tmpdir("ports");
    let (run, port, metrics) = start(&dir, 2, r#"allowed_exporters = ["127.0.0.0/8"]"#, "");
    assert!(
        !run.log().contains("cannot steer"),
        "the kernel refused the steering program:\n{}",
        run.log()
    );
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    // One exporter (127.0.0.1) with 8 source ports: templates from the first, data from the rest.
    let senders: Vec<UdpSocket> = (0..8)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let now = now_ms();
    let v9 = |sequence: u32| V9Header {
        sys_uptime_ms: 3_600_000,
        unix_secs: (now / 1000) as u32,
        sequence,
        source_id: 7,
    };
    let ipfix = |sequence: u32| IpfixHeader {
        export_time: (now / 1000) as u32,
        sequence,
        domain_id: 7,
    };
    let mut buf = Vec::new();
    encode_v9(&mut buf, &v9(0), &[], true).unwrap();
    senders[0].send_to(&buf, to).unwrap();
    encode_ipfix(&mut buf, &ipfix(0), &[], true).unwrap();
    senders[0].send_to(&buf, to).unwrap();
    // Two templates (IPv4, IPv6) per format.
    wait_until("the templates to be learned", || {
        metric_sum(metrics, "sluice_exporter_templates_learned_total") >= 4
    });

    const PER_DATAGRAM: u32 = 20;
    const ROUNDS: u32 = 6;
    let mut records = 0u64;
    let mut v9_seq = 1;
    let mut ipfix_seq = 0;
    for round in 0..ROUNDS {
        for (s, tx) in senders.iter().enumerate().skip(1) {
            let base = (round * 8 + s as u32) * PER_DATAGRAM;
            let flows: Vec<Flow> = (base..base + PER_DATAGRAM).map(|i| flow(i, now)).collect();
            encode_v9(&mut buf, &v9(v9_seq), &flows, false).unwrap();
            tx.send_to(&buf, to).unwrap();
            v9_seq += 1;
            encode_ipfix(&mut buf, &ipfix(ipfix_seq), &flows, false).unwrap();
            tx.send_to(&buf, to).unwrap();
            ipfix_seq += PER_DATAGRAM;
            records += 2 * u64::from(PER_DATAGRAM);
        }
    }
    wait_until("every datagram to be counted", || {
        metric_sum(metrics, "sluice_exporter_datagrams_total") >= 2 + 2 * 7 * u64::from(ROUNDS)
    });
    // Wait for the next report, so the other counters are from the same or a later snapshot.
    wait_until("the records to be counted", || {
        metric_sum(metrics, "sluice_exporter_records_total") >= records
            || metric_sum(metrics, "sluice_exporter_sets_held_total") > 0
    });
    let held = metric_sum(metrics, "sluice_exporter_sets_held_total");
    let errors = metric_sum(metrics, "sluice_exporter_decode_errors_total");
    let steered = metric_sum(metrics, "sluice_receive_steered_by_source");
    let log = run.stop();
    assert_eq!(held, 0, "no data held for a template another worker has");
    assert_eq!(errors, 0, "no decode errors");
    assert_eq!(steered, 1, "the listener is steered by source address");
    assert_eq!(count_in_log(&log, "records"), records, "{log}");
    assert_eq!(flow_lines(&dir), records);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The `exporter` label values of a metric, with the sum of their values.
fn series(metrics_port: u16, name: &str) -> (std::collections::BTreeSet<String>, u64) {
    let out = std::process::Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{metrics_port}/metrics")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut labels = std::collections::BTreeSet::new();
    let mut sum = 0.0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name).and_then(|r| r.strip_prefix('{')) else {
            continue;
        };
        let label = rest
            .split("exporter=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap();
        labels.insert(label.to_string());
        sum += rest.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
    }
    (labels, sum as u64)
}

#[test]
fn a_flood_from_many_source_addresses_stays_within_the_exporter_series_cap() {
    const CAP: usize = 10;
    let dir = tmpdir("flood");
    let (run, port, metrics) = start(&dir, 1, "", &format!("max_exporter_series = {CAP}"));
    let to = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let now = now_ms();
    let mut buf = Vec::new();
    let (mut datagrams, mut records) = (0u64, 0u64);
    // 60 addresses send NetFlow v5 (they become known), 30 more send what cannot be decoded.
    for host in 2..=91u8 {
        let tx = UdpSocket::bind((Ipv4Addr::new(127, 0, 0, host), 0)).unwrap();
        for seq in 0..2u32 {
            if host <= 61 {
                let flows: Vec<Flow> = (0..3).map(|i| flow(u32::from(host) * 8 + i, now)).collect();
                let h = V5Header {
                    sys_uptime_ms: 3_600_000,
                    unix_secs: (now / 1000) as u32,
                    flow_sequence: seq * 3,
                    ..V5Header::default()
                };
                encode_v5(&mut buf, &h, &flows).unwrap();
                records += 3;
            } else {
                buf.clear();
                buf.extend_from_slice(&[0, 42, 0, 1, 0xde, 0xad, 0xbe, 0xef]);
            }
            tx.send_to(&buf, to).unwrap();
            datagrams += 1;
        }
    }
    wait_until("every datagram to be counted", || {
        series(metrics, "sluice_exporter_datagrams_total").1 >= datagrams
    });
    wait_until("every record to be counted", || {
        series(metrics, "sluice_exporter_records_total").1 >= records
    });
    let (labels, total) = series(metrics, "sluice_exporter_datagrams_total");
    assert!(
        labels.len() <= CAP + 1,
        "{} exporter series: {labels:?}",
        labels.len()
    );
    assert!(labels.contains("other"), "{labels:?}");
    assert_eq!(total, datagrams, "datagrams summed over the series");
    let (record_labels, record_total) = series(metrics, "sluice_exporter_records_total");
    assert_eq!(record_labels, labels);
    assert_eq!(record_total, records, "records summed over the series");
    assert_eq!(
        metric_sum(metrics, "sluice_exporters_folded"),
        90 - CAP as u64
    );
    let (_, errors) = series(metrics, "sluice_exporter_decode_errors_total");
    assert_eq!(errors, 30 * 2, "the undecodable datagrams, all in other");
    let log = run.stop();
    assert_eq!(count_in_log(&log, "records"), records, "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}
