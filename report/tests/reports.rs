//! Every report's numbers against sums computed independently in the test, on the real 18.16
//! server and on the modern stand-in; and hostile parameters are rejected or bound, never run.
//!
//! The data: 720 flows over two aligned hours from two exporters (IPv4 and IPv6 addresses, TCP,
//! UDP, ICMP, sampling 1 and 10), per-window top-3 source rows with their "other" rows and
//! per-exporter totals, and inventory rows for exporters and interfaces.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use aggregator::{Dimension, Key, Output, Sink, WindowTopRow, WindowTotalsRow};
use collector::{FlowRecord, SamplingSource};
use report::{
    By, Report, ReportKind, ReportRequest, SourcePref, Step, TimeRange, Value, run_report,
};
use schema::ClickhouseWriter;
use schema::rows::{ExporterRow, InterfaceRow};
use testkit::*;

const N: u32 = 720;

fn e1() -> Ipv6Addr {
    Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()
}
fn e2() -> Ipv6Addr {
    Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped()
}

fn flows(t0: i64) -> Vec<FlowRecord> {
    (0..N)
        .map(|i| {
            let recv = (t0 + i64::from(i) * 10) * 1000;
            let v6 = i % 11 == 0;
            let src: Ipv6Addr = if v6 {
                "2001:db8::1".parse().unwrap()
            } else {
                Ipv4Addr::new(10, 0, (i % 3) as u8, 1 + (i % 7) as u8).to_ipv6_mapped()
            };
            let dst: Ipv6Addr = if v6 {
                format!("2001:db8:1:{}::{}", i % 2, 1 + i % 3)
                    .parse()
                    .unwrap()
            } else {
                Ipv4Addr::new(198, 51, 100 + (i % 2) as u8, (i % 5) as u8).to_ipv6_mapped()
            };
            let proto = [6u8, 6, 17, 6, 1, 17][(i % 6) as usize];
            let (sp, dp) = match proto {
                6 => (
                    Some(40000 + (i % 50) as u16),
                    Some([443u16, 80, 8443, 22][(i % 4) as usize]),
                ),
                17 => (
                    Some(40000 + (i % 50) as u16),
                    Some([53u16, 123, 5000][(i % 3) as usize]),
                ),
                _ => (None, None),
            };
            let rate = if i % 4 == 0 { 10 } else { 1 };
            let end = recv - 2000 - i64::from(i % 3) * 1000;
            FlowRecord {
                time_received: recv,
                exporter: if i % 2 == 0 { e1() } else { e2() },
                version: 10,
                flow_start: Some(end - 5000),
                flow_end: Some(end),
                src_addr: Some(src),
                dst_addr: Some(dst),
                src_port: sp,
                dst_port: dp,
                protocol: Some(proto),
                bytes: 100 + u64::from(i * 37 % 1400),
                packets: 1 + u64::from(i % 9),
                sampling_rate: rate,
                sampling_source: if rate == 10 {
                    SamplingSource::Record
                } else {
                    SamplingSource::Unknown
                },
                in_if: Some(1 + i % 3),
                out_if: Some(2 + i % 2),
                src_as: Some(64_500 + i % 4),
                dst_as: Some(65_000 + i % 2),
                ..Default::default()
            }
        })
        .collect()
}

/// (bytes, packets, flows) scaled.
type Sums = (u64, u64, u64);

fn add(s: &mut Sums, r: &FlowRecord) {
    s.0 += r.scaled_bytes();
    s.1 += r.scaled_packets();
    s.2 += 1;
}

fn show(a: Ipv6Addr) -> String {
    a.to_ipv4_mapped()
        .map_or_else(|| a.to_string(), |v| v.to_string())
}

/// Sort (key, sums) by bytes descending, then key ascending, and keep `n`.
fn top<K: Ord + Clone>(m: &BTreeMap<K, Sums>, n: usize) -> Vec<(K, Sums)> {
    let mut v: Vec<(K, Sums)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
    v.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    v.truncate(n);
    v
}

fn total(recs: &[&FlowRecord]) -> Sums {
    let mut t = (0, 0, 0);
    for r in recs {
        add(&mut t, r);
    }
    t
}

fn text(r: &Report, row: usize, key: &str) -> String {
    match &r.rows[row].cells[r.column(key).unwrap_or_else(|| panic!("no column {key}"))] {
        Value::Text(s) => s.clone(),
        v => panic!("{key} is {v:?}"),
    }
}
fn uint(r: &Report, row: usize, key: &str) -> u64 {
    match &r.rows[row].cells[r.column(key).unwrap()] {
        Value::UInt(u) => *u,
        v => panic!("{key} is {v:?}"),
    }
}
fn float(r: &Report, row: usize, key: &str) -> f64 {
    r.rows[row].cells[r.column(key).unwrap()]
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not numeric"))
}
fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

/// The report's ranked rows as (labels, sums), and the "other" row's sums.
fn ranked(r: &Report, labels: &[&str]) -> (Vec<(Vec<String>, Sums)>, Option<Sums>) {
    let mut rows = Vec::new();
    let mut other = None;
    for (i, row) in r.rows.iter().enumerate() {
        let s = (
            uint(r, i, "bytes"),
            uint(r, i, "packets"),
            uint(r, i, "flows"),
        );
        if row.other {
            other = Some(s);
        } else {
            rows.push((labels.iter().map(|k| text(r, i, k)).collect(), s));
        }
    }
    (rows, other)
}

/// Check top rows, the other row and shares against expected sums.
fn check_ranked(r: &Report, labels: &[&str], want: &[(Vec<String>, Sums)], t: Sums, what: &str) {
    let (got, other) = ranked(r, labels);
    assert_eq!(got, want, "{what}: rows");
    let shown = want
        .iter()
        .fold((0, 0, 0), |a, (_, s)| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
    let rest = (t.0 - shown.0, t.1 - shown.1, t.2 - shown.2);
    if rest == (0, 0, 0) {
        assert_eq!(
            other, None,
            "{what}: no other row when the top N is everything"
        );
    } else {
        assert_eq!(other, Some(rest), "{what}: other row");
    }
    let tot = r.totals.unwrap();
    assert_eq!((tot.bytes, tot.packets, tot.flows), t, "{what}: totals");
    for (i, row) in r.rows.iter().enumerate() {
        let b = uint(r, i, "bytes") as f64;
        assert!(
            close(float(r, i, "share_pct"), b * 100.0 / t.0 as f64),
            "{what}: share {row:?}"
        );
    }
}

/// Window rows: per 5-minute window, the top 3 sources by scaled bytes, the "other" row and
/// per-exporter totals.
fn windows(recs: &[FlowRecord], t0: i64) -> (Vec<WindowTopRow>, Vec<WindowTotalsRow>) {
    let mut top_rows = Vec::new();
    let mut totals = Vec::new();
    for w in 0..24i64 {
        let ws = t0 + w * 300;
        let inw: Vec<&FlowRecord> = recs
            .iter()
            .filter(|r| r.time_received / 1000 >= ws && r.time_received / 1000 < ws + 300)
            .collect();
        let t = total(&inw);
        for dim in [Dimension::SrcAddr, Dimension::Conversation] {
            let mut by_key: BTreeMap<[u8; 32], Sums> = BTreeMap::new();
            for r in &inw {
                let mut k = [0u8; 32];
                k[..16].copy_from_slice(&r.src_addr.unwrap().octets());
                if dim == Dimension::Conversation {
                    k[16..].copy_from_slice(&r.dst_addr.unwrap().octets());
                }
                add(by_key.entry(k).or_default(), r);
            }
            let mut shown = (0, 0, 0);
            for (rank, (k, s)) in top(&by_key, 3).into_iter().enumerate() {
                shown = (shown.0 + s.0, shown.1 + s.1, shown.2 + s.2);
                top_rows.push(window_row(ws, dim, rank as u32 + 1, k, s, false));
            }
            top_rows.push(window_row(
                ws,
                dim,
                0,
                [0; 32],
                (t.0 - shown.0, t.1 - shown.1, t.2 - shown.2),
                true,
            ));
        }
        for e in [e1(), e2()] {
            let mine: Vec<&FlowRecord> = inw.iter().copied().filter(|r| r.exporter == e).collect();
            let s = total(&mine);
            totals.push(WindowTotalsRow {
                window_start: ws * 1000,
                window_secs: 300,
                exporter: e,
                bytes: s.0,
                packets: s.1,
                flows: s.2,
                bytes_unscaled: 0,
                packets_unscaled: 0,
                late_flows: 0,
            });
        }
    }
    (top_rows, totals)
}

fn window_row(
    ws: i64,
    dim: Dimension,
    rank: u32,
    k: [u8; 32],
    s: Sums,
    other: bool,
) -> WindowTopRow {
    let a: [u8; 16] = k[..16].try_into().unwrap();
    let b: [u8; 16] = k[16..].try_into().unwrap();
    WindowTopRow {
        window_start: ws * 1000,
        window_secs: 300,
        dimension: dim,
        key: Key {
            addr_a: Ipv6Addr::from(a),
            addr_b: Ipv6Addr::from(b),
            ..Default::default()
        },
        is_other: other,
        rank_bytes: rank,
        rank_packets: rank,
        rank_flows: rank,
        bytes: s.0,
        packets: s.1,
        flows: s.2,
        bytes_unscaled: 0,
        packets_unscaled: 0,
        max_error: 0,
    }
}

/// Load everything; returns the client.
async fn load(url: &str, db: &str, t0: i64, recs: &[FlowRecord]) -> clickhouse::Client {
    let (client, _tier) = setup(url, db).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = test_config(url, db, spool.path());
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    for chunk in recs.chunks(200) {
        w.send(Output::Flows(chunk.to_vec().into())).await.unwrap();
    }
    let (top, totals) = windows(recs, t0);
    w.send(Output::Windows { top, totals }).await.unwrap();
    w.close().await.unwrap();
    let t = (t0 + 7200) as u32;
    schema::writer::insert_exporters(
        &client,
        &[
            ExporterRow {
                address: e1(),
                name: "edge-1".into(),
                last_seen: t - 100,
                versions: vec![9],
                sampling_rate: 5,
                templates: 2,
                options_templates: 0,
                ..Default::default()
            },
            // A newer row for the same exporter: the report must pick this one.
            ExporterRow {
                address: e1(),
                name: "edge-1".into(),
                last_seen: t - 5,
                versions: vec![9, 10],
                sampling_rate: 10,
                templates: 3,
                options_templates: 1,
                ..Default::default()
            },
            ExporterRow {
                address: Ipv4Addr::new(192, 0, 2, 9).to_ipv6_mapped(),
                name: "idle".into(),
                last_seen: t - 86_400,
                versions: vec![5],
                sampling_rate: 1,
                templates: 0,
                options_templates: 0,
                ..Default::default()
            },
        ],
    )
    .await
    .unwrap();
    schema::writer::insert_interfaces(
        &client,
        &[InterfaceRow {
            exporter: e1(),
            ifindex: 2,
            name: "ge-0/0/2".into(),
            description: "uplink".into(),
            speed: 10_000_000,
            last_seen: t,
            boundary: "external".into(),
            provider: "ISP-A".into(),
            connectivity: "transit".into(),
            source: "static".into(),
        }],
    )
    .await
    .unwrap();
    client
}

fn req(kind: ReportKind, t0: i64) -> ReportRequest {
    ReportRequest::new(kind, TimeRange::new(t0, t0 + 7200).unwrap())
}

async fn run(c: &clickhouse::Client, q: &ReportRequest) -> Report {
    run_report(c, q, 1_800_000_000)
        .await
        .unwrap_or_else(|e| panic!("{:?}: {e}", q.kind))
}

async fn top_talkers_match(c: &clickhouse::Client, recs: &[FlowRecord], t0: i64) {
    let all: Vec<&FlowRecord> = recs.iter().collect();
    let t = total(&all);
    for (by, labels) in [
        (By::Src, vec!["src"]),
        (By::Dst, vec!["dst"]),
        (By::Pair, vec!["src", "dst"]),
    ] {
        let mut m: BTreeMap<Vec<[u8; 16]>, Sums> = BTreeMap::new();
        for r in recs {
            let k = match by {
                By::Src => vec![r.src_addr.unwrap().octets()],
                By::Dst => vec![r.dst_addr.unwrap().octets()],
                _ => vec![r.src_addr.unwrap().octets(), r.dst_addr.unwrap().octets()],
            };
            add(m.entry(k).or_default(), r);
        }
        let want: Vec<(Vec<String>, Sums)> = top(&m, 5)
            .into_iter()
            .map(|(k, s)| (k.into_iter().map(|o| show(Ipv6Addr::from(o))).collect(), s))
            .collect();
        let mut q = req(ReportKind::TopTalkers, t0);
        q.by = Some(by);
        q.limit = 5;
        q.source = SourcePref::Raw;
        let r = run(c, &q).await;
        assert_eq!(r.source, "flows");
        check_ranked(&r, &labels, &want, t, &format!("top-talkers {by:?}"));
    }
    // Exporter filter (auto: raw because windows have no exporter per address).
    let mine: Vec<&FlowRecord> = recs.iter().filter(|r| r.exporter == e2()).collect();
    let mut m: BTreeMap<[u8; 16], Sums> = BTreeMap::new();
    for r in &mine {
        add(m.entry(r.src_addr.unwrap().octets()).or_default(), r);
    }
    let want: Vec<(Vec<String>, Sums)> = top(&m, 3)
        .into_iter()
        .map(|(k, s)| (vec![show(Ipv6Addr::from(k))], s))
        .collect();
    let mut q = req(ReportKind::TopTalkers, t0);
    q.limit = 3;
    q.exporter = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)));
    let r = run(c, &q).await;
    assert_eq!(r.source, "flows");
    check_ranked(
        &r,
        &["src"],
        &want,
        total(&mine),
        "top-talkers exporter filter",
    );

    // Interface filter: in or out.
    let mine: Vec<&FlowRecord> = recs
        .iter()
        .filter(|r| r.in_if == Some(3) || r.out_if == Some(3))
        .collect();
    let mut m: BTreeMap<[u8; 16], Sums> = BTreeMap::new();
    for r in &mine {
        add(m.entry(r.src_addr.unwrap().octets()).or_default(), r);
    }
    let want: Vec<(Vec<String>, Sums)> = top(&m, 4)
        .into_iter()
        .map(|(k, s)| (vec![show(Ipv6Addr::from(k))], s))
        .collect();
    let mut q = req(ReportKind::TopTalkers, t0);
    q.limit = 4;
    q.interface = Some(3);
    let r = run(c, &q).await;
    check_ranked(
        &r,
        &["src"],
        &want,
        total(&mine),
        "top-talkers interface filter",
    );

    // Windows (auto for a 2-hour range): sums of the per-window top rows.
    let (wtop, _) = windows(recs, t0);
    for (by, dim, labels) in [
        (By::Src, Dimension::SrcAddr, vec!["src"]),
        (By::Pair, Dimension::Conversation, vec!["src", "dst"]),
    ] {
        let mut m: BTreeMap<Vec<[u8; 16]>, Sums> = BTreeMap::new();
        for w in wtop.iter().filter(|w| !w.is_other && w.dimension == dim) {
            let mut k = vec![w.key.addr_a.octets()];
            if by == By::Pair {
                k.push(w.key.addr_b.octets());
            }
            let e = m.entry(k).or_default();
            e.0 += w.bytes;
            e.1 += w.packets;
            e.2 += w.flows;
        }
        let want: Vec<(Vec<String>, Sums)> = top(&m, 5)
            .into_iter()
            .map(|(k, s)| (k.into_iter().map(|o| show(Ipv6Addr::from(o))).collect(), s))
            .collect();
        let mut q = req(ReportKind::TopTalkers, t0);
        q.limit = 5;
        q.by = Some(by);
        let r = run(c, &q).await;
        assert!(r.source.starts_with("window_top"), "{}", r.source);
        check_ranked(
            &r,
            &labels,
            &want,
            t,
            &format!("top-talkers windows {by:?}"),
        );
        let cover = format!(
            "Window data covers {} to {}.",
            report::names::rfc3339(t0),
            report::names::rfc3339(t0 + 7200)
        );
        assert!(r.notes.contains(&cover), "{:?}", r.notes);
    }
    // Before the data: no windows. Asked for windows, that is an error; auto falls back to raw.
    let mut q = ReportRequest::new(
        ReportKind::TopTalkers,
        TimeRange::new(t0 - 7200, t0).unwrap(),
    );
    q.source = SourcePref::Windows;
    assert!(run_report(c, &q, 0).await.is_err());
    q.source = SourcePref::Auto;
    let r = run(c, &q).await;
    assert_eq!(r.source, "flows");
    assert!(r.rows.is_empty());
}

async fn apps_protocols_matrix_match(c: &clickhouse::Client, recs: &[FlowRecord], t0: i64) {
    let all: Vec<&FlowRecord> = recs.iter().collect();
    let t = total(&all);
    let mut apps: BTreeMap<(u8, u16), Sums> = BTreeMap::new();
    let mut protos: BTreeMap<u8, Sums> = BTreeMap::new();
    let mut ases: BTreeMap<(u32, u32), Sums> = BTreeMap::new();
    for r in recs {
        let p = r.protocol.unwrap();
        add(apps.entry((p, r.service_port())).or_default(), r);
        add(protos.entry(p).or_default(), r);
        add(
            ases.entry((r.src_as.unwrap(), r.dst_as.unwrap()))
                .or_default(),
            r,
        );
    }
    // Every source gives the same answer on aligned hours.
    for src in [
        SourcePref::Raw,
        SourcePref::Rollup5m,
        SourcePref::Rollup1h,
        SourcePref::Auto,
    ] {
        let mut q = req(ReportKind::TopApps, t0);
        q.limit = 4;
        q.source = src;
        let r = run(c, &q).await;
        let mut want_rows = Vec::new();
        for (i, ((p, port), s)) in top(&apps, 4).into_iter().enumerate() {
            assert_eq!(
                uint(&r, i, "port"),
                u64::from(port),
                "top-apps port {src:?}"
            );
            let svc = match (p, port) {
                (6, 443) => "https",
                (6, 80) => "http",
                (6, 8443) => "https-alt",
                (6, 22) => "ssh",
                (17, 53) => "dns",
                (17, 123) => "ntp",
                _ => "",
            };
            if svc.is_empty() {
                assert_eq!(r.rows[i].cells[r.column("service").unwrap()], Value::Null);
            } else {
                assert_eq!(text(&r, i, "service"), svc);
            }
            want_rows.push((vec![text(&r, i, "protocol")], s));
            let pname = match p {
                6 => "TCP",
                17 => "UDP",
                1 => "ICMP",
                _ => "?",
            };
            assert_eq!(text(&r, i, "protocol"), pname);
        }
        check_ranked(
            &r,
            &["protocol"],
            &want_rows,
            t,
            &format!("top-apps {src:?}"),
        );

        let mut q = req(ReportKind::Protocols, t0);
        q.source = src;
        let r = run(c, &q).await;
        let want: Vec<(Vec<String>, Sums)> = top(&protos, 10)
            .into_iter()
            .map(|(p, s)| {
                let n = match p {
                    6 => "TCP",
                    17 => "UDP",
                    _ => "ICMP",
                };
                (vec![n.to_string()], s)
            })
            .collect();
        check_ranked(&r, &["protocol"], &want, t, &format!("protocols {src:?}"));

        let mut q = req(ReportKind::Matrix, t0);
        q.limit = 3;
        q.source = src;
        let r = run(c, &q).await;
        let want: Vec<(Vec<String>, Sums)> = top(&ases, 3)
            .into_iter()
            .map(|((a, b), s)| (vec![format!("AS{a}"), format!("AS{b}")], s))
            .collect();
        check_ranked(&r, &["src", "dst"], &want, t, &format!("matrix AS {src:?}"));
    }
    // Subnets: IPv4 /24, IPv6 /48.
    let mask = |a: Ipv6Addr| -> String {
        match a.to_ipv4_mapped() {
            Some(v4) => {
                let o = v4.octets();
                format!("{}.{}.{}.0/24", o[0], o[1], o[2])
            }
            None => {
                let s = a.segments();
                format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
            }
        }
    };
    let mut nets: BTreeMap<(String, String), (Sums, [u8; 32])> = BTreeMap::new();
    for r in recs {
        let (s, d) = (mask(r.src_addr.unwrap()), mask(r.dst_addr.unwrap()));
        // Order key: the masked address bytes, as the SQL orders ties.
        let e = nets.entry((s, d)).or_default();
        add(&mut e.0, r);
    }
    let mut v: Vec<((String, String), Sums)> = nets.into_iter().map(|(k, (s, _))| (k, s)).collect();
    v.sort_by_key(|w| std::cmp::Reverse(w.1.0));
    assert!(
        v.windows(2).all(|w| w[0].1.0 != w[1].1.0),
        "test data needs distinct byte sums"
    );
    let want: Vec<(Vec<String>, Sums)> = v
        .into_iter()
        .take(4)
        .map(|((a, b), s)| (vec![a, b], s))
        .collect();
    let mut q = req(ReportKind::Matrix, t0);
    q.limit = 4;
    q.prefix = Some(24);
    q.prefix6 = 48;
    let r = run(c, &q).await;
    check_ranked(&r, &["src", "dst"], &want, t, "matrix subnets");
}

async fn traffic_matches(c: &clickhouse::Client, recs: &[FlowRecord], t0: i64) {
    for (step, src) in [
        (Step::Minute, SourcePref::Auto),
        (Step::FiveMinutes, SourcePref::Auto),
        (Step::FiveMinutes, SourcePref::Raw),
        (Step::Hour, SourcePref::Auto),
    ] {
        let secs = i64::from(step.secs());
        let n = (7200 / secs) as usize;
        let mut b = vec![(0u64, 0u64, 0u64); n];
        let mut by_proto: BTreeMap<u8, Vec<u64>> = BTreeMap::new();
        for r in recs {
            let i = ((r.time_received / 1000 - t0) / secs) as usize;
            b[i].0 += r.scaled_bytes();
            b[i].1 += r.scaled_packets();
            b[i].2 += 1;
            by_proto
                .entry(r.protocol.unwrap())
                .or_insert_with(|| vec![0; n])[i] += r.scaled_bytes();
        }
        let mut q = req(ReportKind::Traffic, t0);
        q.step = Some(step);
        q.source = src;
        let r = run(c, &q).await;
        assert_eq!(r.rows.len(), n, "{step:?}: one row per step");
        for (i, want) in b.iter().enumerate() {
            let what = format!("traffic {step:?} {src:?} bucket {i}");
            assert_eq!(
                r.rows[i].cells[0],
                Value::Int(t0 + i as i64 * secs),
                "{what}"
            );
            assert_eq!(uint(&r, i, "bytes"), want.0, "{what}");
            assert_eq!(uint(&r, i, "packets"), want.1, "{what}");
            assert_eq!(uint(&r, i, "flows"), want.2, "{what}");
            assert!(
                close(float(&r, i, "bps"), want.0 as f64 * 8.0 / secs as f64),
                "{what}"
            );
            assert!(
                close(float(&r, i, "pps"), want.1 as f64 / secs as f64),
                "{what}"
            );
            assert!(
                close(
                    float(&r, i, "bps_TCP"),
                    by_proto[&6][i] as f64 * 8.0 / secs as f64
                ),
                "{what}"
            );
        }
        match &r.chart {
            report::Chart::Stacked {
                buckets, series, ..
            } => {
                assert_eq!(buckets.len(), n);
                let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
                let mut want: Vec<&str> = vec!["TCP", "UDP", "ICMP"];
                want.sort_by_key(|p| {
                    let k = match *p {
                        "TCP" => 6,
                        "UDP" => 17,
                        _ => 1,
                    };
                    std::cmp::Reverse(by_proto[&k].iter().sum::<u64>())
                });
                assert_eq!(names, want, "series ranked by bytes");
            }
            c => panic!("traffic chart is {c:?}"),
        }
    }
}

/// Bytes in and out per 5-minute bucket.
type InOut = (Vec<u64>, Vec<u64>);

async fn interfaces_match(c: &clickhouse::Client, recs: &[FlowRecord], t0: i64) {
    // (exporter, ifindex) -> per-bucket bytes in and out.
    let mut m: BTreeMap<([u8; 16], u32), InOut> = BTreeMap::new();
    for r in recs {
        let i = ((r.time_received / 1000 - t0) / 300) as usize;
        let e = r.exporter.octets();
        m.entry((e, r.in_if.unwrap()))
            .or_insert_with(|| (vec![0; 24], vec![0; 24]))
            .0[i] += r.scaled_bytes();
        m.entry((e, r.out_if.unwrap()))
            .or_insert_with(|| (vec![0; 24], vec![0; 24]))
            .1[i] += r.scaled_bytes();
    }
    // quantileExact(0.95): the element at index floor(0.95 * n) of the sorted values.
    let p95 = |v: &[u64]| {
        let mut s = v.to_vec();
        s.sort_unstable();
        s[(0.95 * s.len() as f64) as usize]
    };
    let r = run(c, &req(ReportKind::Interfaces, t0)).await;
    assert_eq!(r.rows.len(), m.len());
    for (i, ((e, ifx), (inb, outb))) in m.iter().enumerate() {
        let what = format!("interface {} {ifx}", show(Ipv6Addr::from(*e)));
        assert_eq!(text(&r, i, "exporter"), show(Ipv6Addr::from(*e)), "{what}");
        assert_eq!(uint(&r, i, "ifindex"), u64::from(*ifx), "{what}");
        let bps = |x: u64| x as f64 * 8.0 / 300.0;
        let avg = |v: &[u64]| v.iter().sum::<u64>() as f64 * 8.0 / 7200.0;
        assert!(close(float(&r, i, "in_avg_bps"), avg(inb)), "{what}");
        assert!(close(float(&r, i, "out_avg_bps"), avg(outb)), "{what}");
        assert!(
            close(float(&r, i, "in_max_bps"), bps(*inb.iter().max().unwrap())),
            "{what}"
        );
        assert!(
            close(
                float(&r, i, "out_max_bps"),
                bps(*outb.iter().max().unwrap())
            ),
            "{what}"
        );
        assert!(close(float(&r, i, "in_p95_bps"), bps(p95(inb))), "{what}");
        assert!(close(float(&r, i, "out_p95_bps"), bps(p95(outb))), "{what}");
        if *e == e1().octets() && *ifx == 2 {
            assert_eq!(text(&r, i, "interface"), "ge-0/0/2");
            assert_eq!(uint(&r, i, "speed_bps"), 10_000_000);
            assert!(
                close(float(&r, i, "in_util_pct"), bps(p95(inb)) * 100.0 / 1e7),
                "{what}"
            );
            assert!(
                close(float(&r, i, "out_util_pct"), bps(p95(outb)) * 100.0 / 1e7),
                "{what}"
            );
        } else {
            assert_eq!(
                r.rows[i].cells[r.column("in_util_pct").unwrap()],
                Value::Null,
                "{what}"
            );
        }
    }
    // Filter: one exporter, one interface.
    let mut q = req(ReportKind::Interfaces, t0);
    q.exporter = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    q.interface = Some(2);
    let r = run(c, &q).await;
    assert_eq!(r.rows.len(), 1);
    assert_eq!(text(&r, 0, "interface"), "ge-0/0/2");
}

async fn exporters_match(c: &clickhouse::Client, recs: &[FlowRecord], t0: i64) {
    let r = run(c, &req(ReportKind::Exporters, t0)).await;
    let names: Vec<String> = (0..r.rows.len()).map(|i| text(&r, i, "exporter")).collect();
    assert_eq!(names, ["192.0.2.1", "192.0.2.2", "192.0.2.9"]);
    for (i, e) in [e1(), e2()].into_iter().enumerate() {
        let mine: Vec<&FlowRecord> = recs.iter().filter(|r| r.exporter == e).collect();
        assert_eq!(uint(&r, i, "flows"), mine.len() as u64);
        assert!(close(
            float(&r, i, "flows_per_s"),
            mine.len() as f64 / 7200.0
        ));
        let last = mine.iter().max_by_key(|r| r.time_received).unwrap();
        assert_eq!(uint(&r, i, "sampling_rate"), u64::from(last.sampling_rate));
        assert_eq!(
            text(&r, i, "sampling_source"),
            last.sampling_source.as_str()
        );
        let mut skew: Vec<i64> = mine
            .iter()
            .map(|r| (r.time_received / 1000) * 1000 - r.flow_end.unwrap())
            .collect();
        skew.sort_unstable();
        let median = skew[skew.len() / 2];
        assert_eq!(
            r.rows[i].cells[r.column("clock_skew_ms").unwrap()],
            Value::Int(median)
        );
    }
    // Inventory: the newest row of edge-1 wins; the idle exporter has no flows.
    assert_eq!(text(&r, 0, "name"), "edge-1");
    assert_eq!(text(&r, 0, "versions"), "9,10");
    assert_eq!(uint(&r, 0, "templates"), 3);
    assert_eq!(uint(&r, 0, "options_templates"), 1);
    assert_eq!(r.rows[1].cells[r.column("name").unwrap()], Value::Null);
    assert_eq!(text(&r, 2, "name"), "idle");
    assert_eq!(uint(&r, 2, "flows"), 0);
    assert_eq!(uint(&r, 2, "sampling_rate"), 1);
    assert_eq!(
        r.rows[2].cells[r.column("last_seen").unwrap()],
        Value::Int(t0 + 7200 - 86_400)
    );
}

async fn reports_match_independent_sums(var: &str, tag: &str) {
    let Some(url) = server_url(var, "reports_match_independent_sums") else {
        return;
    };
    let now = now_secs();
    let t0 = now - now % 3600 - 3 * 3600;
    let recs = flows(t0);
    let db = unique_db(tag);
    let c = load(&url, &db, t0, &recs).await;
    top_talkers_match(&c, &recs, t0).await;
    apps_protocols_matrix_match(&c, &recs, t0).await;
    traffic_matches(&c, &recs, t0).await;
    interfaces_match(&c, &recs, t0).await;
    exporters_match(&c, &recs, t0).await;
    // Every kind renders in every format on real results.
    for kind in ReportKind::ALL {
        let r = run(&c, &req(kind, t0)).await;
        for f in report::Format::ALL {
            assert!(!f.render(&r).is_empty());
        }
    }
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_reports_match_independent_sums() {
    reports_match_independent_sums(LEGACY, "rep").await;
}

#[tokio::test]
async fn modern_reports_match_independent_sums() {
    reports_match_independent_sums(MODERN, "rep").await;
}

async fn hostile_parameters_are_rejected_or_bound(var: &str) {
    let Some(url) = server_url(var, "hostile_parameters_are_rejected_or_bound") else {
        return;
    };
    let now = now_secs();
    let t0 = now - now % 3600 - 3 * 3600;
    let db = unique_db("hostile");
    let recs = flows(t0);
    let c = load(&url, &db, t0, &recs).await;
    // Text parameters are typed before they get near SQL.
    for bad in [
        "1' OR '1'='1",
        "top-talkers; DROP TABLE flows",
        &"x".repeat(100_000),
        "",
    ] {
        assert!(bad.parse::<ReportKind>().is_err());
        assert!(bad.parse::<By>().is_err());
        assert!(bad.parse::<Step>().is_err());
        assert!(bad.parse::<SourcePref>().is_err());
        assert!(report::parse_duration(bad).is_err());
        assert!(
            bad.parse::<IpAddr>().is_err(),
            "an exporter must be an address"
        );
    }
    // Values that do reach the server are bound: the string binds of the library
    // (`by`, the exporter of {filter}) carry quotes and semicolons as data. Run the raw query with
    // a hostile `by` and exporter.
    let sql_args = [
        report::library::Arg::Str("src'; DROP TABLE flows; --".into()),
        report::library::Arg::Str("pair\\' OR 1=1 --".into()),
        report::library::Arg::U64(t0 as u64),
        report::library::Arg::U64(t0 as u64 + 7200),
        report::library::Arg::U64(10),
    ];
    let hostile = report::library::Filter {
        exporter_hex: Some("'; DROP TABLE flows; --".into()),
        ..Default::default()
    };
    let q = report::library::bound_filtered(
        &c,
        "top_talkers.sql",
        "rows_flows",
        report::Source::Raw,
        &hostile,
        &sql_args,
    )
    .unwrap();
    let rows: Vec<(String, String, u64, u64, u64)> = q.fetch_all().await.unwrap();
    assert!(
        rows.is_empty(),
        "no exporter has that hex, so nothing matches"
    );
    // A wrong number of values is refused before anything is sent.
    assert!(
        report::library::bound(
            &c,
            "top_talkers.sql",
            "rows_flows",
            report::Source::Raw,
            &sql_args[..3],
        )
        .is_err()
    );
    // Out-of-range numbers are refused.
    let mut q = req(ReportKind::TopTalkers, t0);
    q.limit = 1_000_000;
    assert!(run_report(&c, &q, 0).await.is_err());
    let mut q = req(ReportKind::Matrix, t0);
    q.prefix = Some(200);
    assert!(run_report(&c, &q, 0).await.is_err());
    // The table is still there with every row.
    assert_eq!(flow_sums(&c).await.0, u64::from(N));
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_hostile_parameters_are_rejected_or_bound() {
    hostile_parameters_are_rejected_or_bound(LEGACY).await;
}

#[tokio::test]
async fn modern_hostile_parameters_are_rejected_or_bound() {
    hostile_parameters_are_rejected_or_bound(MODERN).await;
}

/// A range with partial hours at both edges, which the ranked rollup reports read as whole hours
/// from `flows_1h` plus the edges from `flows_5m`, gives exactly what `flows_5m` alone gives, and
/// both match sums computed here; with and without filters. The traffic series by exporter (its
/// own query) matches too.
async fn hour_split_matches_flows_5m_alone(var: &str, tag: &str) {
    let Some(url) = server_url(var, "hour_split_matches_flows_5m_alone") else {
        return;
    };
    let now = now_secs();
    let t0 = now - now % 3600 - 5 * 3600;
    // Four hours of flows: two copies of the two-hour set.
    let mut recs = flows(t0);
    recs.extend(flows(t0 + 7200));
    let db = unique_db(tag);
    let c = load(&url, &db, t0, &recs).await;
    // 00:20 .. 03:25: whole hours 01:00 .. 03:00, edges 00:20 .. 01:00 and 03:00 .. 03:25
    // (5-minute aligned, so the buckets in the range hold exactly the flows received in it).
    let (from, to) = (t0 + 1200, t0 + 3 * 3600 + 1500);
    let inr: Vec<&FlowRecord> = recs
        .iter()
        .filter(|r| (from..to).contains(&(r.time_received / 1000)))
        .collect();
    assert!(inr.len() < recs.len() && inr.iter().any(|r| r.time_received / 1000 < t0 + 3600));
    let t = total(&inr);
    let mut apps: BTreeMap<(u8, u16), Sums> = BTreeMap::new();
    let mut ases: BTreeMap<(u32, u32), Sums> = BTreeMap::new();
    let mut by_exporter: BTreeMap<String, u64> = BTreeMap::new();
    for r in &inr {
        add(
            apps.entry((r.protocol.unwrap(), r.service_port()))
                .or_default(),
            r,
        );
        add(
            ases.entry((r.src_as.unwrap(), r.dst_as.unwrap()))
                .or_default(),
            r,
        );
        *by_exporter.entry(show(r.exporter)).or_default() += r.scaled_bytes();
    }
    let range = TimeRange::new(from, to).unwrap();
    // The split must be what Auto reads here.
    let mut q = ReportRequest::new(ReportKind::TopApps, range);
    let r = run(&c, &q).await;
    assert!(
        r.source.contains("flows_1h") && r.source.contains("flows_5m"),
        "{}",
        r.source
    );
    let want: Vec<(Vec<String>, Sums)> = top(&apps, 10)
        .into_iter()
        .map(|((p, _), s)| {
            let n = match p {
                6 => "TCP",
                17 => "UDP",
                _ => "ICMP",
            };
            (vec![n.to_string()], s)
        })
        .collect();
    check_ranked(&r, &["protocol"], &want, t, "top-apps split");
    q.kind = ReportKind::Matrix;
    q.limit = 5;
    let r = run(&c, &q).await;
    let want: Vec<(Vec<String>, Sums)> = top(&ases, 5)
        .into_iter()
        .map(|((a, b), s)| (vec![format!("AS{a}"), format!("AS{b}")], s))
        .collect();
    check_ranked(&r, &["src", "dst"], &want, t, "matrix split");
    // Auto (split) against flows_5m alone, cell for cell, also with filters and unaligned edges.
    for (f, tt) in [(from, to), (from + 77, to - 123)] {
        for (exporter, interface) in [
            (None, None),
            (Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2))), None),
            (None, Some(2)),
            (Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))), Some(3)),
        ] {
            for kind in [
                ReportKind::TopApps,
                ReportKind::Protocols,
                ReportKind::Matrix,
            ] {
                for limit in [2, 100] {
                    let mut q = ReportRequest::new(kind, TimeRange::new(f, tt).unwrap());
                    q.exporter = exporter;
                    q.interface = interface;
                    q.limit = limit;
                    let split = run(&c, &q).await;
                    q.source = SourcePref::Rollup5m;
                    let alone = run(&c, &q).await;
                    let what = format!("{kind:?} {exporter:?} {interface:?} {limit} {f}..{tt}");
                    assert!(split.source.contains("flows_1h"), "{what}");
                    assert_eq!(alone.source, "flows_5m", "{what}");
                    assert!(!alone.rows.is_empty(), "{what}");
                    assert_eq!(split.columns, alone.columns, "{what}");
                    assert_eq!(split.rows, alone.rows, "{what}");
                    assert_eq!(split.totals, alone.totals, "{what}");
                }
            }
        }
    }
    // The traffic series by exporter: one series per exporter, its bytes summed.
    let mut q = ReportRequest::new(ReportKind::Traffic, range);
    q.by = Some(By::Exporter);
    let r = run(&c, &q).await;
    assert_eq!(r.totals.map(|x| x.bytes), Some(t.0));
    match &r.chart {
        report::Chart::Stacked { series, .. } => {
            let got: BTreeMap<String, u64> = series
                .iter()
                .map(|s| {
                    let b: f64 = s.values.iter().sum::<f64>() * 300.0 / 8.0;
                    (s.name.clone(), b.round() as u64)
                })
                .collect();
            assert_eq!(got, by_exporter, "traffic by exporter");
        }
        c => panic!("traffic chart is {c:?}"),
    }
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_hour_split_matches_flows_5m_alone() {
    hour_split_matches_flows_5m_alone(LEGACY, "split").await;
}

#[tokio::test]
async fn modern_hour_split_matches_flows_5m_alone() {
    hour_split_matches_flows_5m_alone(MODERN, "split").await;
}
