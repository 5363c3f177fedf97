//! `--filter` on a real server: for a list of filters, the totals of filtered reports equal the same
//! condition written by hand in SQL against `flows` (count(), sum(bytes_scaled)), on raw flows and,
//! for filters on fields the rollups hold, on `flows_5m` and `flows_1h`.
//!
//! The hand-written conditions compare addresses another way than the filter's SQL does (a prefix
//! as a `startsWith` on the hex of the stored bytes, not a `BETWEEN`), so both have to agree on
//! what the stored bytes are.

use std::net::{Ipv4Addr, Ipv6Addr};

use aggregator::{Output, Sink};
use collector::FlowRecord;
use report::filter::FilterExpr;
use report::{ReportKind, ReportRequest, SourcePref, Step, TimeRange, run_report};
use schema::ClickhouseWriter;
use testkit::*;

const LEGACY: &str = "SLUICE_TEST_CLICKHOUSE_URL";
const MODERN: &str = "SLUICE_TEST_CHDB_URL";

/// 600 flows over two aligned hours: IPv4 and IPv6 addresses, three protocols, two exporters,
/// ports, ASes, interfaces, ToS and VLANs, sampling 1 and 10.
fn flows(t0: i64) -> Vec<FlowRecord> {
    (0..600u32)
        .map(|i| {
            let v6 = i % 7 == 0;
            let src: Ipv6Addr = if v6 {
                format!("2001:db8:{}::{}", i % 3, 1 + i % 5)
                    .parse()
                    .unwrap()
            } else {
                Ipv4Addr::new(10, (i % 2) as u8, (i % 3) as u8, 1 + (i % 9) as u8).to_ipv6_mapped()
            };
            let dst: Ipv6Addr = if v6 {
                "2001:db8:ff::1".parse().unwrap()
            } else {
                Ipv4Addr::new(198, 51, 100, (i % 11) as u8).to_ipv6_mapped()
            };
            let proto = [6u8, 17, 6, 1, 17, 6][(i % 6) as usize];
            let rate = if i % 4 == 0 { 10 } else { 1 };
            let recv = (t0 + i64::from(i) * 12) * 1000;
            FlowRecord {
                time_received: recv,
                exporter: Ipv4Addr::new(192, 0, 2, 1 + (i % 2) as u8).to_ipv6_mapped(),
                version: 10,
                flow_start: Some(recv - 4000),
                flow_end: Some(recv - 1000),
                src_addr: Some(src),
                dst_addr: Some(dst),
                next_hop: Some(Ipv4Addr::new(203, 0, 113, (i % 2) as u8).to_ipv6_mapped()),
                src_port: Some(40000 + (i % 40) as u16),
                dst_port: Some([443u16, 53, 80, 123, 22][(i % 5) as usize]),
                protocol: Some(proto),
                tos: Some((i % 4) as u8 * 8),
                vlan: Some((i % 3) as u16 * 100),
                bytes: 60 + u64::from(i * 53 % 1400),
                packets: 1 + u64::from(i % 7),
                sampling_rate: rate,
                in_if: Some(1 + i % 4),
                out_if: Some(10 + i % 3),
                src_as: Some(64_500 + i % 5),
                dst_as: Some(if i % 3 == 0 { 13_335 } else { 65_000 }),
                ..Default::default()
            }
        })
        .collect()
}

/// (filter, the same condition in hand-written SQL over `flows`, whether the rollups hold its
/// fields).
const CASES: &[(&str, &str, bool)] = &[
    ("proto = tcp", "protocol = 6", true),
    ("proto != 6", "protocol != 6", true),
    ("proto in (udp, icmp)", "protocol IN (17, 1)", true),
    (
        "proto = tcp or proto = udp and src_as = AS64501",
        "protocol = 6 OR (protocol = 17 AND src_as = 64501)",
        true,
    ),
    (
        "(proto = tcp or proto = udp) and src_as = 64501",
        "protocol IN (6, 17) AND src_as = 64501",
        true,
    ),
    ("dst_as = AS13335", "dst_as = 13335", true),
    (
        "src_as >= 64502 and src_as < 64504",
        "src_as IN (64502, 64503)",
        true,
    ),
    (
        "in_if <= 2 and out_if != 11",
        "in_if IN (1, 2) AND out_if != 11",
        true,
    ),
    ("not in_if in (1, 4)", "in_if IN (2, 3)", true),
    ("in_if not in (1, 4)", "in_if NOT IN (1, 4)", true),
    (
        "exporter = 192.0.2.2",
        "hex(exporter) = '00000000000000000000FFFFC0000202'",
        true,
    ),
    (
        "exporter = 192.0.2.0/24 and app_port = 443",
        "startsWith(hex(exporter), '00000000000000000000FFFFC00002') AND app_port = 443",
        true,
    ),
    ("dst_port = 53", "dst_port = 53", false),
    (
        "dst_port > 100 and dst_port < 500",
        "dst_port IN (443, 123)",
        false,
    ),
    (
        "src_addr = 10.1.0.0/16",
        "startsWith(hex(src_addr), '00000000000000000000FFFF0A01')",
        false,
    ),
    (
        "src_addr = 10.0.0.0/8 and not src_addr = 10.0.2.0/24",
        "startsWith(hex(src_addr), '00000000000000000000FFFF0A') \
         AND NOT startsWith(hex(src_addr), '00000000000000000000FFFF0A0002')",
        false,
    ),
    (
        "src_addr = 10.0.1.5",
        "hex(src_addr) = '00000000000000000000FFFF0A000105'",
        false,
    ),
    (
        "src_addr in (2001:db8:1::/48, 10.1.1.1) or dst_addr = 2001:db8:ff::1",
        "startsWith(hex(src_addr), '20010DB80001') \
         OR hex(src_addr) = '00000000000000000000FFFF0A010101' \
         OR hex(dst_addr) = '20010DB800FF00000000000000000001'",
        false,
    ),
    ("src_addr != ::/0", "0", false),
    (
        "dst_addr not in (198.51.100.0/30, 2001:db8:ff::/64)",
        "NOT (startsWith(hex(dst_addr), '00000000000000000000FFFFC63364') \
         AND substring(hex(dst_addr), 31, 2) IN ('00', '01', '02', '03')) \
         AND NOT startsWith(hex(dst_addr), '20010DB800FF0000')",
        false,
    ),
    (
        "next_hop = 203.0.113.1",
        "hex(next_hop) = '00000000000000000000FFFFCB007101'",
        false,
    ),
    ("tos = 8 or vlan = 200", "tos = 8 OR vlan = 200", false),
    ("tcp_flags != 0", "tcp_flags != 0", false),
];

async fn totals(c: &clickhouse::Client, q: &ReportRequest) -> (u64, u64, String) {
    let r = run_report(c, q, 0)
        .await
        .unwrap_or_else(|e| panic!("{:?} {:?}: {e}", q.kind, q.filter));
    let t = r.totals.expect("totals");
    (t.flows, t.bytes, r.source)
}

async fn filters_match_hand_written_sql(var: &str, tag: &str) {
    let Some(url) = server_url(var, "filters_match_hand_written_sql") else {
        return;
    };
    let now = now_secs();
    let t0 = now - now % 3600 - 3 * 3600;
    let recs = flows(t0);
    let db = unique_db(tag);
    let (client, _tier) = setup(&url, &db).await;
    let spool = tempfile::tempdir().unwrap();
    let mut w = ClickhouseWriter::connect(&test_config(&url, &db, spool.path()))
        .await
        .unwrap();
    for chunk in recs.chunks(200) {
        w.send(Output::Flows(chunk.to_vec().into())).await.unwrap();
    }
    w.close().await.unwrap();
    let range = TimeRange::new(t0, t0 + 7200).unwrap();
    let all = flow_sums(&client).await;
    assert_eq!(all.0, 600);
    let mut empty = 0;
    for (text, sql, in_rollups) in CASES {
        let f = FilterExpr::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
        let want: (u64, u64) = client
            .query(&format!(
                "SELECT count(), sum(bytes_scaled) FROM flows \
                 WHERE time_received >= toDateTime(?) AND time_received < toDateTime(?) AND ({sql})"
            ))
            .bind(range.from)
            .bind(range.to)
            .fetch_one()
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
        assert!(
            want.0 < all.0,
            "{text}: the case should filter something out"
        );
        empty += usize::from(want.0 == 0);
        let mut sources = vec![SourcePref::Raw, SourcePref::Auto];
        if *in_rollups {
            sources.extend([SourcePref::Rollup5m, SourcePref::Rollup1h]);
        }
        for kind in [
            ReportKind::Protocols,
            ReportKind::Traffic,
            ReportKind::TopApps,
        ] {
            for source in &sources {
                let mut q = ReportRequest::new(kind, range);
                q.filter = Some(f.clone());
                q.source = *source;
                if kind == ReportKind::Traffic {
                    q.step = match source {
                        SourcePref::Rollup5m => Some(Step::FiveMinutes),
                        SourcePref::Rollup1h => Some(Step::Hour),
                        _ => None,
                    };
                }
                let (n, b, from) = totals(&client, &q).await;
                assert_eq!(
                    (n, b),
                    want,
                    "{kind:?} {source:?} ({from}): {text}  vs  {sql}"
                );
                if *source == SourcePref::Auto && !in_rollups {
                    assert_eq!(from, "flows", "{text}: a raw field reads raw flows");
                }
            }
        }
        // Top talkers (raw flows) and the subnet matrix take the filter too.
        for kind in [ReportKind::TopTalkers, ReportKind::Matrix] {
            let mut q = ReportRequest::new(kind, range);
            q.filter = Some(f.clone());
            if kind == ReportKind::Matrix {
                q.prefix = Some(24);
            }
            let (n, b, from) = totals(&client, &q).await;
            assert_eq!((n, b), want, "{kind:?} ({from}): {text}");
            assert_eq!(from, "flows", "{kind:?}: {text}");
        }
        // A rollup forced on a field it lacks is refused, not answered wrongly.
        if !in_rollups {
            let mut q = ReportRequest::new(ReportKind::Protocols, range);
            q.filter = Some(f.clone());
            q.source = SourcePref::Rollup5m;
            let e = run_report(&client, &q, 0).await.unwrap_err().to_string();
            assert!(e.starts_with("invalid filter"), "{text}: {e}");
        }
    }
    // Only `src_addr != ::/0` and `tcp_flags != 0` match nothing.
    assert_eq!(empty, 2);
    // Filter values are bound: text that would be SQL matches nothing and harms nothing.
    for text in [
        r#"src_net = "x'); DROP TABLE flows; --" or in_if_name = 'a\'b'"#,
        r#"src_country = "FR" or dst_as_name = "\u{0}\\' OR 1=1 --""#,
    ] {
        let mut q = ReportRequest::new(ReportKind::Protocols, range);
        q.filter = Some(FilterExpr::parse(text).unwrap());
        let (n, _, from) = totals(&client, &q).await;
        assert_eq!((n, from.as_str()), (0, "flows"), "{text}");
    }
    assert_eq!(flow_sums(&client).await, all);
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_filters_match_hand_written_sql() {
    filters_match_hand_written_sql(LEGACY, "filter").await;
}

#[tokio::test]
async fn modern_filters_match_hand_written_sql() {
    filters_match_hand_written_sql(MODERN, "filter").await;
}
