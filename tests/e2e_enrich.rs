//! Enrichment end to end: IPFIX with known addresses (MaxMind's test databases) and an options
//! template naming an interface, replayed into `sluice run` with `[enrich]` on, stored in
//! ClickHouse 18.16. The `flows` enrichment columns, the windows' labels and the `interfaces`
//! table equal what the config and the databases say; a flow whose addresses no database knows
//! and whose interfaces nobody named is stored like every other (none is dropped).
//!
//! Needs the 18.16 server (`SLUICE_TEST_CLICKHOUSE_URL`, started by scripts/test.sh), curl and
//! the shared corpus (`corpus/mmdb`).

mod common;

use std::net::{IpAddr, UdpSocket};
use std::time::{SystemTime, UNIX_EPOCH};

use common::{SluiceRun, count, free_tcp_port, free_udp_port, metric_sum, sql, wait_until};
use flowgen::encode::{FieldSpec, Flow, IpfixHeader, Message, Template, Value, encode_ipfix};

fn flow(src: &str, dst: &str, in_if: u32, out_if: u32, src_as: u32, bytes: u64, t: u64) -> Flow {
    let src: IpAddr = src.parse().unwrap();
    let dst: IpAddr = dst.parse().unwrap();
    let hop: IpAddr = if src.is_ipv4() {
        "0.0.0.0".parse().unwrap()
    } else {
        "::".parse().unwrap()
    };
    Flow {
        src_addr: src,
        dst_addr: dst,
        next_hop: hop,
        src_port: 50_000,
        dst_port: 443,
        protocol: 6,
        tos: 0,
        tcp_flags: 0x1b,
        bytes,
        packets: 10,
        start_ms: t - 1000,
        end_ms: t,
        in_if,
        out_if,
        src_as,
        dst_as: 0,
        src_mask: 24,
        dst_mask: 24,
    }
}

/// What each test here needs: the 18.16 server, curl, a work directory, a fresh database and free
/// ports for flows and metrics.
struct Run {
    url: String,
    dir: tempfile::TempDir,
    db: String,
    port: u16,
    metrics: u16,
}

/// [`Run`] for `test`, or `None` when the server or curl is missing and skipping is allowed.
fn prepare(test: &str, db: &str) -> Option<Run> {
    let url = testkit::server_url(testkit::LEGACY, test)?;
    if !testkit::tool(test, "curl") {
        return None;
    }
    Some(Run {
        url,
        dir: tempfile::tempdir().unwrap(),
        db: testkit::unique_db(db),
        port: free_udp_port(),
        metrics: free_tcp_port(),
    })
}

/// The config of `sluice run` up to `[metrics]`: one listener on `port`, raw flows and windows
/// (`dims`) into ClickHouse database `db`, metrics every 100 ms. Each test adds its `[enrich]`.
fn base_config(
    port: u16,
    url: &str,
    db: &str,
    dir: &std::path::Path,
    metrics: u16,
    dims: &str,
) -> String {
    format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}" }}]
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 10
allowed_lateness_windows = 1
dimensions = {dims}
[output]
sink = "clickhouse"
raw_flows = true
[clickhouse]
url = "{url}"
database = "{db}"
spool_dir = "{spool}"
batch_rows = 100
batch_age_ms = 100
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
"#,
        spool = dir.join("spool").display()
    )
}

#[test]
fn flows_windows_and_interfaces_carry_names_countries_and_as_and_none_is_dropped() {
    let test = "flows_windows_and_interfaces_carry_names_countries_and_as_and_none_is_dropped";
    let Some(Run {
        url,
        dir,
        db,
        port,
        metrics,
    }) = prepare(test, "enrich")
    else {
        return;
    };
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    let mmdb = shared.join("corpus/mmdb");
    let config = base_config(
        port,
        &url,
        &db,
        dir.path(),
        metrics,
        r#"["src_country", "dst_country", "src_net", "dst_net", "in_if_provider", "out_if_provider", "src_as", "dst_as"]"#,
    ) + &format!(
        r#"
[enrich]
geoip_country = "{country}"
geoip_asn = "{asn}"
as_source = ["flow-except-private", "geoip"]
[[enrich.networks]]
cidr = "10.0.0.0/8"
name = "corp"
role = "internal"
site = "seoul"
[[enrich.networks]]
cidr = "10.1.0.0/16"
site = "busan"
[[enrich.interfaces]]
exporter = "127.0.0.1"
if_index = 3
name = "Gi0/0/3"
description = "transit: ISP-A"
speed_mbps = 10000
[[enrich.interface_rules]]
description = "^transit: (?P<provider>\\S+)"
boundary = "external"
connectivity = "transit"
provider = "${{provider}}"
"#,
        country = mmdb.join("GeoLite2-Country-Test.mmdb").display(),
        asn = mmdb.join("GeoLite2-ASN-Test.mmdb").display(),
    );
    let sluice = SluiceRun::start(dir.path(), &config);
    wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let header = IpfixHeader {
        export_time: (now / 1000) as u32,
        sequence: 0,
        domain_id: 1,
    };

    // The exporter names ifIndex 7 in options data (ingressInterface scope, interfaceName,
    // interfaceDescription).
    let opts = Template::options(
        400,
        &[FieldSpec::new(10, 4)],
        &[FieldSpec::new(82, 0xFFFF), FieldSpec::new(83, 0xFFFF)],
    );
    let mut buf = Vec::new();
    let mut msg = Message::ipfix(&mut buf, &header);
    msg.options_templates(std::slice::from_ref(&opts)).unwrap();
    msg.data(
        &opts,
        &[&[
            Value::Unsigned(7),
            Value::Bytes(b"Te0/0/7"),
            Value::Bytes(b"transit: ISP-B"),
        ]],
    )
    .unwrap();
    msg.finish().unwrap();
    sock.send_to(&buf, ("127.0.0.1", port)).unwrap();
    wait_until("the learned interface in the interfaces table", || {
        count(
            &url,
            &db,
            "SELECT count() FROM interfaces WHERE ifindex = 7 AND name = 'Te0/0/7'",
        ) > 0
    });

    let flows = [
        // GB, no AS in the ASN test database; private exporter AS gives way -> 0. To SE AS 29518.
        flow("81.2.69.160", "89.160.20.128", 7, 3, 64_512, 1000, now),
        // US AS 209 -> corp / busan (inherits name and role from 10/8).
        flow("216.160.83.56", "10.1.2.3", 3, 7, 0, 2000, now),
        // GB -> corp / seoul; exporter AS 3356 (public) stays.
        flow("2.125.160.216", "10.9.9.9", 3, 0, 3356, 4000, now),
        // Nothing known anywhere: kept with empty columns.
        flow("192.0.2.77", "198.51.100.1", 55, 56, 0, 8000, now),
        // IPv6: NO country; AS 237 is the ASN test database's 2600:6000::/20.
        flow("2a02:cf40::1", "2600:6000::1", 3, 7, 0, 16_000, now),
    ];
    let mut buf = Vec::new();
    let h = IpfixHeader {
        sequence: 1,
        ..header
    };
    encode_ipfix(&mut buf, &h, &flows, true).unwrap();
    sock.send_to(&buf, ("127.0.0.1", port)).unwrap();
    wait_until("the five records to be decoded", || {
        metric_sum(metrics, "sluice_enrich_records_total") >= 5
    });
    let log = sluice.stop();
    assert!(log.contains("enrichment on"), "{log}");

    assert_eq!(
        count(&url, &db, "SELECT count() FROM flows"),
        5,
        "none dropped"
    );
    let rows = sql(
        &url,
        &db,
        "SELECT bytes, src_country, dst_country, src_as, dst_as, src_as_name, dst_as_name, \
         src_net_name, dst_net_name, dst_net_role, dst_net_site, in_if_name, out_if_name, \
         in_if_boundary, in_if_provider, out_if_provider, in_if_speed, out_if_speed \
         FROM flows ORDER BY bytes FORMAT TSV",
    );
    let rows: Vec<Vec<&str>> = rows.lines().map(|l| l.split('\t').collect()).collect();
    let want: [&[&str]; 5] = [
        &[
            "1000",
            "GB",
            "SE",
            "0",
            "29518",
            "",
            "Bredband2 AB",
            "",
            "",
            "",
            "",
            "Te0/0/7",
            "Gi0/0/3",
            "external",
            "ISP-B",
            "ISP-A",
            "0",
            "10000000000",
        ],
        &[
            "2000",
            "US",
            "",
            "209",
            "0",
            "",
            "",
            "",
            "corp",
            "internal",
            "busan",
            "Gi0/0/3",
            "Te0/0/7",
            "external",
            "ISP-A",
            "ISP-B",
            "10000000000",
            "0",
        ],
        &[
            "4000",
            "GB",
            "",
            "3356",
            "0",
            "",
            "",
            "",
            "corp",
            "internal",
            "seoul",
            "Gi0/0/3",
            "",
            "external",
            "ISP-A",
            "",
            "10000000000",
            "0",
        ],
        &[
            "8000", "", "", "0", "0", "", "", "", "", "", "", "", "", "", "", "", "0", "0",
        ],
        &[
            "16000",
            "NO",
            "",
            "0",
            "237",
            "",
            "Merit Network Inc.",
            "",
            "",
            "",
            "",
            "Gi0/0/3",
            "Te0/0/7",
            "external",
            "ISP-A",
            "ISP-B",
            "10000000000",
            "0",
        ],
    ];
    assert_eq!(rows.len(), 5);
    for (got, want) in rows.iter().zip(want) {
        assert_eq!(got.as_slice(), want, "flows row");
    }

    // Windows by country, network and provider carry the text in `label`.
    let by = |dim: &str| {
        sql(
            &url,
            &db,
            &format!(
                "SELECT label, sum(bytes) FROM window_top WHERE dimension = '{dim}' \
                 AND is_other = 0 GROUP BY label ORDER BY label FORMAT TSV"
            ),
        )
    };
    assert_eq!(by("src_country"), "\t8000\nGB\t5000\nNO\t16000\nUS\t2000\n");
    assert_eq!(by("dst_net"), "\t25000\ncorp\t6000\n");
    assert_eq!(by("in_if_provider"), "\t8000\nISP-A\t22000\nISP-B\t1000\n");
    // AS windows carry the organisation name the ASN database gave (none for 0, 209, 3356).
    let as_rows = |dim: &str| {
        sql(
            &url,
            &db,
            &format!(
                "SELECT num, label, sum(bytes) FROM window_top WHERE dimension = '{dim}' \
                 AND is_other = 0 GROUP BY num, label ORDER BY num FORMAT TSV"
            ),
        )
    };
    assert_eq!(as_rows("src_as"), "0\t\t25000\n209\t\t2000\n3356\t\t4000\n");
    assert_eq!(
        as_rows("dst_as"),
        "0\t\t14000\n237\tMerit Network Inc.\t16000\n29518\tBredband2 AB\t1000\n"
    );

    // The AS names the ASN database gave for the addresses seen.
    assert_eq!(
        sql(
            &url,
            &db,
            "SELECT asn, name FROM as_names FINAL ORDER BY asn FORMAT TSV"
        ),
        "237\tMerit Network Inc.\n29518\tBredband2 AB\n"
    );

    // The interfaces table: the static entry and the learned one, classified.
    let ifs = sql(
        &url,
        &db,
        "SELECT ifindex, argMax(name, last_seen), argMax(speed, last_seen), \
         argMax(boundary, last_seen), argMax(provider, last_seen), \
         argMax(connectivity, last_seen), argMax(source, last_seen) \
         FROM interfaces GROUP BY ifindex ORDER BY ifindex FORMAT TSV",
    );
    assert_eq!(
        ifs,
        "3\tGi0/0/3\t10000000000\texternal\tISP-A\ttransit\tstatic\n\
         7\tTe0/0/7\t0\texternal\tISP-B\ttransit\toptions_data\n"
    );
}

/// The Prometheus text of a running `sluice run`.
fn metrics_text(port: u16) -> String {
    let out = std::process::Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{port}/metrics")])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// One IPFIX message with the realistic templates, sent from `sock`.
fn send(sock: &UdpSocket, port: u16, sequence: u32, flows: &[Flow], now: u64) {
    let h = IpfixHeader {
        export_time: (now / 1000) as u32,
        sequence,
        domain_id: 1,
    };
    let mut buf = Vec::new();
    encode_ipfix(&mut buf, &h, flows, true).unwrap();
    sock.send_to(&buf, ("127.0.0.1", port)).unwrap();
}

#[test]
fn snmp_names_reach_the_flows_and_an_agent_down_or_an_unknown_address_drops_nothing() {
    let test = "snmp_names_reach_the_flows_and_an_agent_down_or_an_unknown_address_drops_nothing";
    let Some(Run {
        url,
        dir,
        db,
        port,
        metrics,
    }) = prepare(test, "enrich_snmp")
    else {
        return;
    };
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    // One exporter answers SNMP (the script's static table: ifIndex 1 Gi0/0/0 "transit: ISP-A"
    // 1 Gbit/s, 7 Te0/1/0 10 Gbit/s); the other has no agent at all.
    let (up, down) = ("127.0.0.40", "127.0.0.41");
    let Some(agent) = testkit::snmpd::Agent::start_on(test, "full", up.parse().unwrap()) else {
        return;
    };
    let mmdb = shared.join("corpus/mmdb");
    let config = base_config(
        port,
        &url,
        &db,
        dir.path(),
        metrics,
        r#"["src_addr", "in_if_provider"]"#,
    ) + &format!(
        r#"
[enrich]
geoip_country = "{country}"
geoip_asn = "{asn}"
[[enrich.interface_rules]]
description = "^transit: (?P<provider>\\S+)"
boundary = "external"
provider = "${{provider}}"
[enrich.snmp]
port = {snmp_port}
community = "{community}"
timeout_ms = 300
retries = 0
interval_secs = 3600
cache = "{cache}"
"#,
        country = mmdb.join("GeoLite2-Country-Test.mmdb").display(),
        asn = mmdb.join("GeoLite2-ASN-Test.mmdb").display(),
        snmp_port = agent.port,
        community = agent.var("SLUICE_TEST_SNMP_COMMUNITY"),
        cache = dir.path().join("snmp-cache.json").display(),
    );
    let sluice = SluiceRun::start(dir.path(), &config);
    wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let batch = |base: u64| {
        vec![
            // Addresses no GeoIP database knows, and one it does.
            flow("192.0.2.10", "198.51.100.1", 1, 7, 0, base + 1, now),
            flow("192.0.2.11", "198.51.100.2", 1, 7, 0, base + 2, now),
            flow("81.2.69.160", "198.51.100.3", 1, 7, 0, base + 3, now),
        ]
    };
    let socks: Vec<UdpSocket> = [up, down]
        .iter()
        .map(|a| UdpSocket::bind((*a, 0)).unwrap())
        .collect();
    for s in &socks {
        send(s, port, 0, &batch(100), now);
    }
    // The poller asks both exporters' agents once the collector has seen them.
    wait_until("the SNMP names in the interfaces table", || {
        count(
            &url,
            &db,
            "SELECT count() FROM interfaces WHERE source = 'snmp' AND name = 'Gi0/0/0' \
             AND provider = 'ISP-A' AND speed = 1000000000",
        ) > 0
    });
    wait_until("the failed poll of the exporter without an agent", || {
        metrics_text(metrics).lines().any(|l| {
            l.starts_with("sluice_enrich_snmp_polls_total{")
                && l.contains(down)
                && l.contains("failed")
                && !l.ends_with(" 0")
        })
    });
    for s in &socks {
        send(s, port, 3, &batch(1000), now);
    }
    wait_until("the twelve records to be enriched", || {
        metric_sum(metrics, "sluice_enrich_records_total") >= 12
    });
    let log = sluice.stop();
    assert!(log.contains("SNMP interface poller on"), "{log}");

    // Nothing is dropped: every record of both exporters, whatever enrichment found.
    assert_eq!(
        sql(
            &url,
            &db,
            "SELECT count(), sum(bytes) FROM flows FORMAT TSV"
        ),
        format!("12\t{}\n", 2 * (306 + 3006))
    );
    let rows = sql(
        &url,
        &db,
        "SELECT IPv6NumToString(exporter), bytes, src_country, in_if_name, in_if_provider, \
         in_if_speed, out_if_name, out_if_speed FROM flows WHERE bytes > 1000 \
         ORDER BY exporter, bytes FORMAT TSV",
    );
    let g = "Gi0/0/0\tISP-A\t1000000000\tTe0/1/0\t10000000000";
    let none = "\t\t0\t\t0";
    assert_eq!(
        rows,
        format!(
            "::ffff:{up}\t1001\t\t{g}\n::ffff:{up}\t1002\t\t{g}\n::ffff:{up}\t1003\tGB\t{g}\n\
             ::ffff:{down}\t1001\t\t{none}\n::ffff:{down}\t1002\t\t{none}\n::ffff:{down}\t1003\tGB\t{none}\n"
        )
    );
    // The poller kept what it learned on disk for the next start.
    let cache = std::fs::read_to_string(dir.path().join("snmp-cache.json")).unwrap();
    assert!(cache.contains("Gi0/0/0") && cache.contains(up), "{cache}");
    assert!(!cache.contains(down), "{cache}");
}

#[test]
fn sighup_reloads_enrichment_and_a_bad_reload_keeps_the_old_data() {
    let test = "sighup_reloads_enrichment_and_a_bad_reload_keeps_the_old_data";
    let Some(Run {
        url,
        dir,
        db,
        port,
        metrics,
    }) = prepare(test, "enrich_hup")
    else {
        return;
    };
    let config = |name: &str, country: &str| {
        base_config(port, &url, &db, dir.path(), metrics, r#"["src_net"]"#)
            + &format!(
                r#"
[enrich]
{country}
[[enrich.networks]]
cidr = "10.0.0.0/8"
name = "{name}"
"#
            )
    };
    let sluice = SluiceRun::start(dir.path(), &config("before", ""));
    wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let hup = || {
        let st = std::process::Command::new("kill")
            .args(["-HUP", &sluice.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
    };
    send(
        &sock,
        port,
        0,
        &[flow("10.1.1.1", "10.2.2.2", 1, 2, 0, 100, now)],
        now,
    );
    wait_until("the first record", || {
        metric_sum(metrics, "sluice_enrich_records_total") >= 1
    });

    // The operator renames the network and sends SIGHUP: the next records carry the new name.
    std::fs::write(dir.path().join("sluice.toml"), config("after", "")).unwrap();
    hup();
    wait_until("the reload", || {
        sluice.log().contains("enrichment reloaded")
    });
    send(
        &sock,
        port,
        1,
        &[flow("10.1.1.1", "10.2.2.2", 1, 2, 0, 200, now)],
        now,
    );
    wait_until("the second record", || {
        metric_sum(metrics, "sluice_enrich_records_total") >= 2
    });

    // A config naming a database that is not there: the reload fails, is counted, and the
    // data of the last good reload stays.
    let missing = dir.path().join("no-such.mmdb");
    std::fs::write(
        dir.path().join("sluice.toml"),
        config(
            "broken",
            &format!("geoip_country = \"{}\"", missing.display()),
        ),
    )
    .unwrap();
    hup();
    wait_until("the failed reload", || {
        sluice.log().contains("enrichment reload failed")
    });
    send(
        &sock,
        port,
        2,
        &[flow("10.1.1.1", "10.2.2.2", 1, 2, 0, 300, now)],
        now,
    );
    wait_until("the third record", || {
        metric_sum(metrics, "sluice_enrich_records_total") >= 3
    });
    let text = metrics_text(metrics);
    assert!(
        text.lines()
            .any(|l| l.starts_with("sluice_enrich_reloads_total{outcome=\"error\"} 1")),
        "{text}"
    );
    let log = sluice.stop();
    assert!(
        log.contains("no-such.mmdb"),
        "the error names the file: {log}"
    );
    assert_eq!(
        sql(
            &url,
            &db,
            "SELECT bytes, src_net_name, dst_net_name FROM flows ORDER BY bytes FORMAT TSV"
        ),
        "100\tbefore\tbefore\n200\tafter\tafter\n300\tafter\tafter\n"
    );
}
