//! The reports of enrichment (issue 12) against sums computed in the test, on the real 18.16
//! server and on the modern stand-in: countries, networks and providers with every `--by` and
//! every source, AS names in the matrix, interface names in the header of a filtered report.
//!
//! The data: 240 flows over two aligned hours from two exporters, enriched the way `sluice run`
//! does it (a registry of network sets and interface entries the records' ids point into, which
//! the writer resolves into the `flows` text columns; the views fill the rollups), with known
//! countries, network names and providers, some of them empty; AS names in `as_names` (an older
//! and a newer name for one AS) and one interface name in `interfaces`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use aggregator::{Output, Sink};
use collector::FlowRecord;
use enrich::{InterfaceEntry, NetworkAttrs, Registry};
use report::{By, Report, ReportKind, ReportRequest, SourcePref, TimeRange, Value, run_report};
use schema::ClickhouseWriter;
use schema::rows::{AsNameRow, InterfaceRow};
use testkit::*;

const N: u32 = 240;

fn e1() -> Ipv6Addr {
    Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped()
}
fn e2() -> Ipv6Addr {
    Ipv4Addr::new(192, 0, 2, 2).to_ipv6_mapped()
}

/// What the test knows about one flow besides the record: the texts the writer stores.
#[derive(Clone, Debug)]
struct Truth {
    src_country: &'static str,
    dst_country: &'static str,
    src_net: &'static str,
    dst_net: &'static str,
    in_provider: &'static str,
    out_provider: &'static str,
}

const SRC_COUNTRIES: [&str; 4] = ["FR", "DE", "US", ""];
const DST_COUNTRIES: [&str; 3] = ["US", "JP", ""];
/// Network names of the three attribute sets; the third has a role but no name.
const NETS: [&str; 3] = ["office", "datacenter", ""];
/// Providers of the three interface entries; the third has none.
const PROVIDERS: [&str; 3] = ["ISP-A", "ISP-B", ""];

fn code(c: &str) -> [u8; 2] {
    let b = c.as_bytes();
    if b.len() == 2 { [b[0], b[1]] } else { [0, 0] }
}

/// The registry and 240 enriched flows starting at `t0`.
fn flows(t0: i64) -> (Arc<Registry>, Vec<(FlowRecord, Truth)>) {
    let registry = Arc::new(Registry::new());
    let nets: Vec<NetworkAttrs> = NETS
        .iter()
        .map(|n| NetworkAttrs {
            name: (!n.is_empty()).then(|| Arc::from(*n)),
            role: Some(Arc::from("internal")),
            ..Default::default()
        })
        .collect();
    let ifaces: Vec<InterfaceEntry> = PROVIDERS
        .iter()
        .enumerate()
        .map(|(i, p)| InterfaceEntry {
            name: Arc::from(format!("if{i}").as_str()),
            provider: Arc::from(*p),
            ..Default::default()
        })
        .collect();
    let (net_ids, if_ids) = registry.intern(&nets, &ifaces);
    let recs = (0..N)
        .map(|i| {
            let k = i as usize;
            let t = Truth {
                src_country: SRC_COUNTRIES[k % 4],
                dst_country: DST_COUNTRIES[k % 3],
                src_net: NETS[k % 3],
                dst_net: NETS[(k / 2) % 3],
                in_provider: PROVIDERS[k % 3],
                out_provider: PROVIDERS[(k / 3) % 3],
            };
            let mut r = FlowRecord {
                time_received: (t0 + i64::from(i) * 30) * 1000,
                exporter: if i % 2 == 0 { e1() } else { e2() },
                version: 10,
                src_addr: Some(Ipv4Addr::new(10, 0, 0, 1 + (i % 5) as u8).to_ipv6_mapped()),
                dst_addr: Some(Ipv4Addr::new(198, 51, 100, 1).to_ipv6_mapped()),
                src_port: Some(40000),
                dst_port: Some(443),
                protocol: Some(6),
                bytes: 1000 * u64::from(1 + i % 7) + u64::from(i),
                packets: 1 + u64::from(i % 5),
                sampling_rate: if i % 4 == 0 { 10 } else { 1 },
                in_if: Some(1 + i % 3),
                out_if: Some(10 + (i / 3) % 3),
                src_as: Some(64_500 + i % 3),
                dst_as: Some(65_000 + i % 2),
                ..Default::default()
            };
            let e = &mut r.enrichment;
            e.src_net = net_ids[k % 3];
            e.dst_net = net_ids[(k / 2) % 3];
            e.in_if = if_ids[k % 3];
            e.out_if = if_ids[(k / 3) % 3];
            e.src_country = code(t.src_country);
            e.dst_country = code(t.dst_country);
            (r, t)
        })
        .collect();
    (registry, recs)
}

/// (bytes, packets, flows) scaled.
type Sums = (u64, u64, u64);

fn add(s: &mut Sums, r: &FlowRecord) {
    s.0 += r.scaled_bytes();
    s.1 += r.scaled_packets();
    s.2 += 1;
}

async fn load(url: &str, db: &str, t0: i64, recs: &[(FlowRecord, Truth)], reg: Arc<Registry>) {
    let (client, _) = setup(url, db).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = test_config(url, db, spool.path());
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    w.set_enrichment(reg);
    let only: Vec<FlowRecord> = recs.iter().map(|(r, _)| *r).collect();
    for chunk in only.chunks(100) {
        w.send(Output::Flows(chunk.to_vec().into())).await.unwrap();
    }
    w.close().await.unwrap();
    let t = (t0 + 7200) as u32;
    schema::writer::insert_as_names(
        &client,
        &[
            AsNameRow {
                asn: 64_500,
                name: "Old Name".into(),
                last_seen: t - 100,
            },
            AsNameRow {
                asn: 64_500,
                name: "Example Corp".into(),
                last_seen: t,
            },
            AsNameRow {
                asn: 65_000,
                name: "Far Away Networks".into(),
                last_seen: t,
            },
            // An AS no flow has.
            AsNameRow {
                asn: 70_000,
                name: "Idle".into(),
                last_seen: t,
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
            description: "transit: ISP-B".into(),
            speed: 10_000_000_000,
            last_seen: t,
            boundary: "external".into(),
            provider: "ISP-B".into(),
            connectivity: "transit".into(),
            source: "static".into(),
        }],
    )
    .await
    .unwrap();
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

/// The report's rows as (labels, sums), the "other" row last when there is one.
fn got(r: &Report, labels: &[&str]) -> Vec<(Vec<String>, Sums)> {
    (0..r.rows.len())
        .map(|i| {
            let l = if r.rows[i].other {
                vec!["other".to_string()]
            } else {
                labels.iter().map(|k| text(r, i, k)).collect()
            };
            (
                l,
                (
                    uint(r, i, "bytes"),
                    uint(r, i, "packets"),
                    uint(r, i, "flows"),
                ),
            )
        })
        .collect()
}

/// The expected rows: sums per key, ranked by bytes then key (as stored: "" first), the top
/// `limit` with their labels, then "other" for the rest (when there is any).
fn want<K: Ord + Clone>(
    m: &BTreeMap<K, Sums>,
    limit: usize,
    label: impl Fn(&K) -> Vec<String>,
) -> Vec<(Vec<String>, Sums)> {
    let mut v: Vec<(K, Sums)> = m.iter().map(|(k, s)| (k.clone(), *s)).collect();
    v.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(&b.0)));
    let rest = v.split_off(limit.min(v.len()));
    let mut out: Vec<(Vec<String>, Sums)> = v.iter().map(|(k, s)| (label(k), *s)).collect();
    let o = rest
        .iter()
        .fold((0, 0, 0), |a, (_, s)| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
    if o != (0, 0, 0) {
        out.push((vec!["other".into()], o));
    }
    out
}

fn req(kind: ReportKind, t0: i64) -> ReportRequest {
    ReportRequest::new(kind, TimeRange::new(t0, t0 + 7200).unwrap())
}

async fn run(c: &clickhouse::Client, q: &ReportRequest) -> Report {
    run_report(c, q, 1_800_000_000)
        .await
        .unwrap_or_else(|e| panic!("{:?} {:?}: {e}", q.kind, q.by))
}

type Pick = fn(&Truth) -> &'static str;

async fn enrichment_reports_match(c: &clickhouse::Client, recs: &[(FlowRecord, Truth)], t0: i64) {
    let cases: [(ReportKind, Option<By>, &str, &str, Pick); 6] = [
        (ReportKind::Countries, None, "country", "(unknown)", |t| {
            t.src_country
        }),
        (
            ReportKind::Countries,
            Some(By::Dst),
            "country",
            "(unknown)",
            |t| t.dst_country,
        ),
        (
            ReportKind::Networks,
            Some(By::Src),
            "network",
            "(none)",
            |t| t.src_net,
        ),
        (
            ReportKind::Networks,
            Some(By::Dst),
            "network",
            "(none)",
            |t| t.dst_net,
        ),
        (
            ReportKind::Providers,
            Some(By::In),
            "provider",
            "(none)",
            |t| t.in_provider,
        ),
        (
            ReportKind::Providers,
            Some(By::Out),
            "provider",
            "(none)",
            |t| t.out_provider,
        ),
    ];
    for (kind, by, col, empty, pick) in cases {
        let label = |k: &&str| {
            vec![if k.is_empty() {
                empty.to_string()
            } else {
                k.to_string()
            }]
        };
        let mut all: BTreeMap<&str, Sums> = BTreeMap::new();
        let mut e1_only: BTreeMap<&str, Sums> = BTreeMap::new();
        let mut if2: BTreeMap<&str, Sums> = BTreeMap::new();
        for (r, t) in recs {
            add(all.entry(pick(t)).or_default(), r);
            if r.exporter == e1() {
                add(e1_only.entry(pick(t)).or_default(), r);
            }
            if r.in_if == Some(2) || r.out_if == Some(2) {
                add(if2.entry(pick(t)).or_default(), r);
            }
        }
        let total = all
            .values()
            .fold((0, 0, 0), |a, s| (a.0 + s.0, a.1 + s.1, a.2 + s.2));
        for src in [
            SourcePref::Auto,
            SourcePref::Raw,
            SourcePref::Rollup5m,
            SourcePref::Rollup1h,
        ] {
            for limit in [2u32, 10] {
                let mut q = req(kind, t0);
                q.by = by;
                q.source = src;
                q.limit = limit;
                let r = run(c, &q).await;
                let what = format!("{kind} {by:?} {src:?} limit {limit}");
                assert_eq!(got(&r, &[col]), want(&all, limit as usize, label), "{what}");
                let t = r.totals.unwrap();
                assert_eq!((t.bytes, t.packets, t.flows), total, "{what}: totals");
                let ranks: Vec<u64> = (0..r.rows.len())
                    .filter(|i| !r.rows[*i].other)
                    .map(|i| uint(&r, i, "rank"))
                    .collect();
                assert_eq!(
                    ranks,
                    (1..=ranks.len() as u64).collect::<Vec<_>>(),
                    "{what}"
                );
                match src {
                    SourcePref::Raw => assert_eq!(r.source, "flows"),
                    SourcePref::Auto => {
                        assert!(r.source.contains("flows_enrich_1h"), "{}", r.source)
                    }
                    SourcePref::Rollup5m => assert_eq!(r.source, "flows_enrich_5m"),
                    _ => assert_eq!(r.source, "flows_enrich_1h"),
                }
            }
        }
        // One exporter, from the rollups.
        let mut q = req(kind, t0);
        q.by = by;
        q.exporter = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        let r = run(c, &q).await;
        assert_eq!(
            got(&r, &[col]),
            want(&e1_only, 10, label),
            "{kind} {by:?} exporter"
        );
        // One interface: raw flows, and the interface's name in the header.
        let mut q = req(kind, t0);
        q.by = by;
        q.interface = Some(2);
        let r = run(c, &q).await;
        assert_eq!(
            got(&r, &[col]),
            want(&if2, 10, label),
            "{kind} {by:?} interface"
        );
        assert_eq!(r.source, "flows");
        assert!(
            r.filters
                .contains(&("interface".to_string(), "2 (ge-0/0/2)".to_string())),
            "{:?}",
            r.filters
        );
        q.source = SourcePref::Rollup5m;
        assert!(
            run_report(c, &q, 0).await.is_err(),
            "the rollups have no interfaces"
        );
    }
}

async fn matrix_names_ases(c: &clickhouse::Client, recs: &[(FlowRecord, Truth)], t0: i64) {
    let mut m: BTreeMap<(u32, u32), Sums> = BTreeMap::new();
    for (r, _) in recs {
        add(
            m.entry((r.src_as.unwrap(), r.dst_as.unwrap())).or_default(),
            r,
        );
    }
    let name = |a: u32| match a {
        64_500 => format!("AS{a} Example Corp"),
        65_000 => format!("AS{a} Far Away Networks"),
        _ => format!("AS{a}"),
    };
    for src in [SourcePref::Auto, SourcePref::Raw, SourcePref::Rollup5m] {
        for limit in [4u32, 10] {
            let mut q = req(ReportKind::Matrix, t0);
            q.source = src;
            q.limit = limit;
            let r = run(c, &q).await;
            assert_eq!(
                got(&r, &["src", "dst"]),
                want(&m, limit as usize, |(a, b)| vec![name(*a), name(*b)]),
                "matrix {src:?} limit {limit}"
            );
        }
    }
    // A filtered report's header names the interface; an ifIndex without a name stays a number.
    let mut q = req(ReportKind::TopApps, t0);
    q.interface = Some(2);
    q.exporter = Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let r = run(c, &q).await;
    assert!(
        r.filters
            .contains(&("interface".into(), "2 (ge-0/0/2)".into())),
        "{:?}",
        r.filters
    );
    q.interface = Some(3);
    let r = run(c, &q).await;
    assert!(
        r.filters.contains(&("interface".into(), "3".into())),
        "{:?}",
        r.filters
    );
    // The interfaces report still names the interface and measures it against its speed.
    let r = run(c, &req(ReportKind::Interfaces, t0)).await;
    let i = (0..r.rows.len())
        .find(|i| text(&r, *i, "interface") == "ge-0/0/2")
        .expect("ge-0/0/2 in the interfaces report");
    assert_eq!(uint(&r, i, "speed_bps"), 10_000_000_000);
    assert!(
        r.rows[i].cells[r.column("in_util_pct").unwrap()]
            .as_f64()
            .is_some()
    );
}

async fn enriched_reports(var: &str, tag: &str) {
    let Some(url) = server_url(var, "enriched_reports_match_independent_sums") else {
        return;
    };
    let now = now_secs();
    let t0 = now - now % 3600 - 3 * 3600;
    let (reg, recs) = flows(t0);
    let db = unique_db(tag);
    load(&url, &db, t0, &recs, reg).await;
    let c = clickhouse::Client::default()
        .with_url(&url)
        .with_database(&db)
        .with_validation(false);
    enrichment_reports_match(&c, &recs, t0).await;
    matrix_names_ases(&c, &recs, t0).await;
    for kind in [
        ReportKind::Countries,
        ReportKind::Networks,
        ReportKind::Providers,
    ] {
        let r = run(&c, &req(kind, t0)).await;
        for f in report::Format::ALL {
            assert!(!f.render(&r).is_empty());
        }
    }
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_enriched_reports_match_independent_sums() {
    enriched_reports(LEGACY, "enr").await;
}

#[tokio::test]
async fn modern_enriched_reports_match_independent_sums() {
    enriched_reports(MODERN, "enr").await;
}
