//! `sluice report` end to end on the real ClickHouse 18.16 server: HTML reports rendered by a real
//! headless Chromium (DOM rows, SVG bars and areas, escaping, a PNG screenshot), CLI parameters
//! that must be refused, and scheduled reports that write files, keep `index.html` and POST their
//! summary to a webhook served by the test on 127.0.0.1.
//!
//! `SLUICE_TEST_CLICKHOUSE_URL` names the server (`scripts/clickhouse.sh start`). Without it the tests
//! fail, or skip with `SLUICE_TEST_ALLOW_SKIP=1`. Chromium is Debian's `chromium` (scripts/install-deps.sh).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aggregator::{Output, Sink};
use collector::FlowRecord;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

const LEGACY: &str = "SLUICE_TEST_CLICKHOUSE_URL";
const MODERN: &str = "SLUICE_TEST_CHDB_URL";

fn server_url(test: &str) -> Option<String> {
    server_url_in(LEGACY, test)
}

fn server_url_in(var: &str, test: &str) -> Option<String> {
    testkit::server_url(var, test)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn unique_db(tag: &str) -> String {
    format!(
        "sluice_t_{tag}_{}_{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// 300 flows in the hour starting at `t0`: sources 10.0.0.1-8 (more bytes for higher numbers),
/// TCP, UDP and ICMP.
fn flows(t0: i64) -> Vec<FlowRecord> {
    (0..300u32)
        .map(|i| {
            let k = i % 8;
            let proto = [6u8, 17, 1][(i % 3) as usize];
            FlowRecord {
                time_received: (t0 + i64::from(i) * 12) * 1000,
                exporter: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
                version: 9,
                flow_end: Some((t0 + i64::from(i) * 12) * 1000 - 1500),
                src_addr: Some(Ipv4Addr::new(10, 0, 0, 1 + k as u8).to_ipv6_mapped()),
                dst_addr: Some(Ipv4Addr::new(198, 51, 100, 7).to_ipv6_mapped()),
                src_port: (proto != 1).then_some(40000),
                dst_port: (proto != 1).then_some(if proto == 6 { 443 } else { 53 }),
                protocol: Some(proto),
                bytes: 1000 * u64::from(k + 1) + u64::from(i),
                packets: 1 + u64::from(k),
                sampling_rate: 1,
                in_if: Some(1),
                out_if: Some(2),
                ..Default::default()
            }
        })
        .collect()
}

struct Db {
    url: String,
    name: String,
    recs: Vec<FlowRecord>,
    t0: i64,
}

impl Drop for Db {
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.name.clone();
        let _ = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(async {
                    let c = report::Client::default()
                        .with_url(url)
                        .with_validation(false);
                    let _ = c
                        .query(&format!("DROP DATABASE IF EXISTS {name}"))
                        .execute()
                        .await;
                })
        })
        .join();
    }
}

/// A migrated database holding [`flows`], plus an exporter whose name is markup.
fn load(url: &str, tag: &str) -> Db {
    let name = unique_db(tag);
    let now = now_secs();
    let t0 = now - now % 3600 - 2 * 3600;
    let recs = flows(t0);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let spool = tempfile::tempdir().unwrap();
        let cfg = schema::ClickhouseConfig {
            url: url.into(),
            database: name.clone(),
            batch_rows: 1000,
            batch_age_ms: 100,
            spool_dir: spool.path().into(),
            ..Default::default()
        }
        .validate()
        .unwrap();
        let server = schema::server_client(&cfg).unwrap();
        let (_, tier) = schema::healthcheck(&server).await.unwrap();
        schema::create_database(&server, &name).await.unwrap();
        let client = schema::build_client(&cfg).unwrap();
        schema::migrate(&client, tier, &cfg.retention)
            .await
            .unwrap();
        let mut w = schema::ClickhouseWriter::connect(&cfg).await.unwrap();
        w.send(Output::Flows(recs.clone().into())).await.unwrap();
        w.close().await.unwrap();
        schema::writer::insert_exporters(
            &client,
            &[schema::rows::ExporterRow {
                address: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
                name: "<script>document.title='pwned'</script><b>edge</b>".into(),
                last_seen: (t0 + 3600) as u32,
                versions: vec![9],
                sampling_rate: 1,
                templates: 1,
                options_templates: 0,
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    });
    Db {
        url: url.into(),
        name,
        recs,
        t0,
    }
}

fn rfc3339(secs: i64) -> String {
    report::names::rfc3339(secs)
}

/// Run `sluice report ...`; returns (success, stdout, stderr).
fn sluice(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(SLUICE)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn report_to(db: &Db, kind: &str, extra: &[&str], format: &str, out: &Path) {
    let (from, to) = (rfc3339(db.t0), rfc3339(db.t0 + 3600));
    let mut args = vec![
        "report",
        kind,
        "--from",
        &from,
        "--to",
        &to,
        "--clickhouse-url",
        &db.url,
        "--database",
        &db.name,
        "--format",
        format,
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (ok, _, err) = sluice(&args);
    assert!(ok, "sluice report {kind} failed: {err}");
}

/// Chromium's DOM of a file after parsing.
fn dump_dom(browser: &Path, file: &Path) -> String {
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(browser)
        .args(testkit::CHROMIUM_HEADLESS)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "chromium --dump-dom failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Print a page to PDF the way a person would (print CSS applies); checks it is a PDF.
fn print_pdf(browser: &Path, file: &Path, pdf: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let st = Command::new(browser)
        .args(testkit::CHROMIUM_HEADLESS)
        .arg("--no-pdf-header-footer")
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--print-to-pdf={}", pdf.display()))
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "chromium --print-to-pdf failed");
    let b = std::fs::read(pdf).unwrap();
    assert!(b.starts_with(b"%PDF-"), "not a PDF");
    assert!(b.len() > 2000, "PDF is {} bytes", b.len());
}

fn screenshot(browser: &Path, file: &Path, png: &Path) {
    let profile = tempfile::tempdir().unwrap();
    let st = Command::new(browser)
        .args(testkit::CHROMIUM_HEADLESS)
        .args(["--hide-scrollbars", "--window-size=1200,900"])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", file.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "chromium --screenshot failed");
    let b = std::fs::read(png).unwrap();
    assert!(b.len() > 1000, "screenshot is {} bytes", b.len());
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG");
}

/// Scaled bytes per source, largest first.
fn by_source(recs: &[FlowRecord]) -> Vec<(String, u64)> {
    let mut m: BTreeMap<Ipv6Addr, u64> = BTreeMap::new();
    for r in recs {
        *m.entry(r.src_addr.unwrap()).or_default() += r.scaled_bytes();
    }
    let mut v: Vec<(String, u64)> = m
        .into_iter()
        .map(|(a, b)| (a.to_ipv4_mapped().unwrap().to_string(), b))
        .collect();
    v.sort_by_key(|w| std::cmp::Reverse(w.1));
    v
}

/// The text of each `<tr>` of the table body, cells joined by `|` (tags stripped).
fn body_rows(dom: &str) -> Vec<String> {
    let body = &dom[dom.find("<tbody>").unwrap()..dom.find("</tbody>").unwrap()];
    body.split("<tr")
        .skip(1)
        .map(|tr| {
            tr.split("<td")
                .skip(1)
                .map(|td| {
                    let inner = &td[td.find('>').unwrap() + 1..];
                    inner[..inner.find("</td>").unwrap()].to_string()
                })
                .collect::<Vec<_>>()
                .join("|")
        })
        .collect()
}

#[test]
fn html_reports_render_rows_and_charts_in_a_real_browser() {
    let Some(url) = server_url("html_reports_render_rows_and_charts_in_a_real_browser") else {
        return;
    };
    let Some(browser) = testkit::chromium("html_reports_render_rows_and_charts_in_a_real_browser")
    else {
        return;
    };
    let db = load(&url, "html");
    let dir = tempfile::tempdir().unwrap();

    // Top talkers: 5 bars, 5 rows plus "other", in the order of the independent sums.
    let top = dir.path().join("top.html");
    report_to(&db, "top-talkers", &["--limit", "5"], "html", &top);
    let dom = dump_dom(&browser, &top);
    assert_eq!(dom.matches("<rect class=\"bar\"").count(), 5, "bars");
    let rows = body_rows(&dom);
    assert_eq!(rows.len(), 6, "{rows:?}");
    let want = by_source(&db.recs);
    for (i, (addr, _)) in want.iter().take(5).enumerate() {
        assert!(
            rows[i].starts_with(&format!("{}|{addr}|", i + 1)),
            "row {i}: {} (want {addr})",
            rows[i]
        );
    }
    assert!(rows[5].contains("other"), "{}", rows[5]);
    assert!(dom.contains("Top talkers by source"));
    assert!(dom.contains(&rfc3339(db.t0)), "range in the header");
    // Numbers in the title attribute are raw: the first bar's source has this many bytes.
    assert!(dom.contains(&format!("title=\"{}\"", want[0].1)));
    screenshot(&browser, &top, &dir.path().join("top.png"));

    // Traffic: a stacked chart with one area per protocol and one row per minute.
    let traffic = dir.path().join("traffic.html");
    report_to(&db, "traffic", &[], "html", &traffic);
    let dom = dump_dom(&browser, &traffic);
    assert_eq!(
        dom.matches("<path class=\"series\"").count(),
        3,
        "TCP, UDP, ICMP"
    );
    assert_eq!(dom.matches("<rect class=\"legend\"").count(), 3);
    assert_eq!(body_rows(&dom).len(), 60, "one row per minute");
    let png = dir.path().join("traffic.png");
    screenshot(&browser, &traffic, &png);
    let pdf = dir.path().join("traffic.pdf");
    print_pdf(&browser, &traffic, &pdf);
    let _ = std::fs::copy(&pdf, std::env::temp_dir().join("sluice-traffic-report.pdf"));
    // Keep a copy for a person to look at.
    let _ = std::fs::copy(&png, std::env::temp_dir().join("sluice-traffic-report.png"));
    let _ = std::fs::copy(
        dir.path().join("top.png"),
        std::env::temp_dir().join("sluice-top-report.png"),
    );

    // Exporters: the markup in the exporter's name is text, not elements, and no script ran.
    let exp = dir.path().join("exporters.html");
    report_to(&db, "exporters", &[], "html", &exp);
    let dom = dump_dom(&browser, &exp);
    assert!(!dom.contains("<script"), "a script element got through");
    assert!(!dom.contains("<b>edge</b>"));
    assert!(
        dom.contains("&lt;script&gt;document.title="),
        "escaped name shown"
    );
    assert!(!dom.contains("pwned</title>"));
    // Self-contained: nothing is loaded from anywhere.
    for f in [&top, &traffic, &exp] {
        let html = std::fs::read_to_string(f).unwrap();
        assert!(!html.contains("src=") && !html.contains("<link") && !html.contains("@import"));
        assert!(html.contains("@media print"));
    }
}

#[test]
fn legacy_text_formats_carry_the_same_numbers() {
    if let Some(url) = server_url_in(LEGACY, "legacy_text_formats_carry_the_same_numbers") {
        text_formats_carry_the_same_numbers(&url);
    }
}

#[test]
fn modern_text_formats_carry_the_same_numbers() {
    if let Some(url) = server_url_in(MODERN, "modern_text_formats_carry_the_same_numbers") {
        text_formats_carry_the_same_numbers(&url);
    }
}

fn text_formats_carry_the_same_numbers(url: &str) {
    let db = load(url, "txt");
    let dir = tempfile::tempdir().unwrap();
    let want = by_source(&db.recs);
    let total: u64 = want.iter().map(|w| w.1).sum();

    let csv = dir.path().join("top.csv");
    report_to(&db, "top-talkers", &["--limit", "3"], "csv", &csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "rank,src,bytes,packets,flows,share_pct");
    for (i, (addr, bytes)) in want.iter().take(3).enumerate() {
        let f: Vec<&str> = lines[i + 1].split(',').collect();
        assert_eq!((f[1], f[2]), (addr.as_str(), bytes.to_string().as_str()));
    }
    let other: u64 = want[3..].iter().map(|w| w.1).sum();
    assert!(
        lines[4].starts_with(&format!(",other,{other},")),
        "{}",
        lines[4]
    );

    let json = dir.path().join("top.json");
    report_to(&db, "top-talkers", &["--limit", "3"], "json", &json);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    assert_eq!(v["totals"]["bytes"], total);
    assert_eq!(v["rows"][0]["src"], want[0].0.as_str());
    assert_eq!(v["rows"][0]["bytes"], want[0].1);
    assert_eq!(v["rows"][3]["other"], true);

    // The enrichment kinds from the command line: flows written without enrichment are one
    // "(unknown)" country and one "(none)" provider holding everything.
    for (kind, by, head, label) in [
        ("countries", "dst", "rank,country,", "(unknown)"),
        ("networks", "src", "rank,network,", "(none)"),
        ("providers", "out", "rank,provider,", "(none)"),
    ] {
        let csv = dir.path().join(format!("{kind}.csv"));
        report_to(&db, kind, &["--by", by], "csv", &csv);
        let text = std::fs::read_to_string(&csv).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with(head), "{kind}: {text}");
        assert!(
            lines[1].starts_with(&format!("1,{label},{total},")),
            "{kind}: {text}"
        );
        assert_eq!(lines.len(), 2, "{kind}: {text}");
    }

    // The terminal table: aligned, human units.
    let (from, to) = (rfc3339(db.t0), rfc3339(db.t0 + 3600));
    let (ok, out, err) = sluice(&[
        "report",
        "protocols",
        "--from",
        &from,
        "--to",
        &to,
        "--clickhouse-url",
        &db.url,
        "--database",
        &db.name,
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("Protocol mix"), "{out}");
    for p in ["TCP", "UDP", "ICMP"] {
        assert!(out.contains(p), "{out}");
    }
    assert!(out.contains(" kB") || out.contains(" MB"), "{out}");
    assert!(out.contains(" %"), "{out}");
}

#[test]
fn exporters_report_shows_the_collectors_counters_from_the_exporters_table() {
    let Some(url) =
        server_url("exporters_report_shows_the_collectors_counters_from_the_exporters_table")
    else {
        return;
    };
    let db = load(&url, "expm");
    // What `sluice run` writes at every metrics interval: a newer row than the one `load` put.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let client = schema::Client::default()
            .with_url(&db.url)
            .with_database(&db.name)
            .with_validation(false);
        schema::writer::insert_exporters(
            &client,
            &[schema::rows::ExporterRow {
                address: Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
                last_seen: (db.t0 + 3700) as u32,
                versions: vec![9],
                sampling_rate: 1,
                templates: 1,
                first_seen: (db.t0 - 600) as u32,
                sampling_source: "record".into(),
                datagrams: 120,
                records: 3000,
                sequence_lost: 2,
                decode_errors: 7,
                error_kinds: vec!["truncated".into(), "bad_length".into()],
                error_counts: vec![3, 4],
                padding_bytes: 64,
                clock_skew_ms: -2500,
                collector_started: (db.t0 - 60) as u32,
                ..Default::default()
            }],
        )
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("exp.json");
    report_to(&db, "exporters", &[], "json", &out);
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let row = &v["rows"][0];
    assert_eq!(row["exporter"], "192.0.2.1");
    assert_eq!(row["decode_errors"], 7);
    assert_eq!(row["errors_by_kind"], "truncated=3, bad_length=4");
    assert_eq!(row["collector_clock_skew_s"], -2.5);
    assert_eq!(row["datagrams"], 120);
    assert_eq!(row["records_decoded"], 3000);
    assert_eq!(row["sequence_lost"], 2);
    assert_eq!(row["padding_bytes"], 64);
    assert_eq!(row["first_seen"], report::names::rfc3339(db.t0 - 600));
    assert_eq!(row["flows"], db.recs.len() as u64);
    // The Prometheus scrape is gone: the option is refused.
    let (ok, _, err) = sluice(&[
        "report",
        "exporters",
        "--metrics-url",
        "http://127.0.0.1:9/metrics",
        "--clickhouse-url",
        &db.url,
    ]);
    assert!(!ok && err.contains("metrics-url"), "{err}");
}

#[test]
fn hostile_cli_parameters_are_refused_before_any_query() {
    // No server needed: these never get that far.
    for args in [
        vec![
            "report",
            "top-talkers",
            "--exporter",
            "192.0.2.1' OR '1'='1",
        ],
        vec!["report", "top-talkers", "--exporter", "x; DROP TABLE flows"],
        vec!["report", "top-talkers; DROP TABLE flows", "--last", "1h"],
        vec!["report", "top-talkers", "--by", "src' --"],
        vec!["report", "top-talkers", "--last", "1h; DROP"],
        vec!["report", "top-talkers", "--interface", "1 OR 1=1"],
        vec!["report", "traffic", "--step", "1m'"],
        vec!["report", "top-talkers", "--format", "html'><script>"],
        vec![
            "report",
            "top-talkers",
            "--database",
            "sluice; DROP DATABASE x",
        ],
        vec!["report", "top-talkers", "--limit", "99999999"],
    ] {
        let (ok, _, err) =
            sluice(&[args.as_slice(), &["--clickhouse-url", "http://127.0.0.1:9"]].concat());
        assert!(!ok, "{args:?} was accepted");
        assert!(
            !err.contains("Connection refused") && !err.contains("clickhouse ("),
            "{args:?} reached the server: {err}"
        );
    }
    let long = "9".repeat(100_000);
    let (ok, _, _) = sluice(&["report", "top-talkers", "--exporter", &long]);
    assert!(!ok);
}

/// A one-shot HTTP server on 127.0.0.1: returns its URL and a receiver of request bodies.
fn webhook_server(status: &'static str) -> (String, mpsc::Receiver<(String, String)>) {
    http_server(status, "ok")
}

/// A small HTTP server on 127.0.0.1 answering up to 4 requests with `status` and `reply`.
fn http_server(
    status: &'static str,
    reply: &'static str,
) -> (String, mpsc::Receiver<(String, String)>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for s in l.incoming().take(4) {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let _ = write!(
                s,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}",
                reply.len()
            );
            let _ = tx.send((head, String::from_utf8_lossy(&body).into_owned()));
        }
    });
    (url, rx)
}

fn write_config(db: &Db, dir: &Path, schedule: &str, webhook: &str) -> PathBuf {
    let cfg = dir.join("sluice.toml");
    std::fs::write(
        &cfg,
        format!(
            "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n\n\
             [[reports]]\nname = \"daily-top\"\nschedule = \"{schedule}\"\ntimezone = \"Europe/Paris\"\n\
             kind = \"top-talkers\"\nlast = \"24h\"\nlimit = 5\nformats = [\"html\", \"csv\", \"json\"]\n\
             output_dir = \"{}\"\nwebhook = \"{webhook}\"\n",
            db.url,
            db.name,
            dir.join("out").display()
        ),
    )
    .unwrap();
    cfg
}

fn check_summary(db: &Db, head: &str, body: &str) -> serde_json::Value {
    assert!(head.starts_with("POST /hook HTTP/1.1"), "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json")
    );
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    let want = by_source(&db.recs);
    assert_eq!(v["name"], "daily-top");
    assert_eq!(v["report"], "top-talkers");
    assert_eq!(v["totals"]["bytes"], want.iter().map(|w| w.1).sum::<u64>());
    assert_eq!(v["totals"]["flows"], db.recs.len() as u64);
    let top = v["top"].as_array().unwrap();
    assert_eq!(top.len(), 5);
    for (i, (addr, bytes)) in want.iter().take(5).enumerate() {
        assert_eq!(top[i]["src"], addr.as_str());
        assert_eq!(top[i]["bytes"], *bytes);
    }
    let files = v["files"].as_array().unwrap();
    assert_eq!(files.len(), 3);
    for f in files {
        let p = Path::new(f.as_str().unwrap());
        assert!(p.exists(), "{} missing", p.display());
        assert!(
            p.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("daily-top-")
        );
    }
    v
}

#[test]
fn scheduled_report_writes_files_index_and_posts_its_summary() {
    let Some(url) = server_url("scheduled_report_writes_files_index_and_posts_its_summary") else {
        return;
    };
    let db = load(&url, "sched");
    let dir = tempfile::tempdir().unwrap();
    let (hook, rx) = webhook_server("200 OK");
    let cfg = write_config(&db, dir.path(), "0 7 * * *", &hook);
    let (ok, out, err) = sluice(&[
        "report",
        "--schedule-now",
        "daily-top",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert_eq!(out.lines().count(), 3, "one path per format: {out}");
    let (head, body) = rx.recv_timeout(Duration::from_secs(60)).unwrap();
    let v = check_summary(&db, &head, &body);
    let index = std::fs::read_to_string(dir.path().join("out/index.html")).unwrap();
    let html_file = Path::new(v["files"][0].as_str().unwrap())
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    assert!(index.contains(&format!("href=\"{html_file}\"")), "{index}");
    assert!(index.contains("daily-top"));

    // A webhook that fails: the files are still written, the command says so.
    let (bad_hook, rx) = webhook_server("500 Internal Server Error");
    let cfg = write_config(&db, dir.path(), "0 7 * * *", &bad_hook);
    let (ok, _, err) = sluice(&[
        "report",
        "--schedule-now",
        "daily-top",
        "--config",
        cfg.to_str().unwrap(),
    ]);
    assert!(!ok);
    assert!(err.contains("webhook"), "{err}");
    assert!(rx.recv_timeout(Duration::from_secs(60)).is_ok());
}

#[test]
fn scheduler_fires_on_its_cron_tick_and_posts_the_summary() {
    let Some(url) = server_url("scheduler_fires_on_its_cron_tick_and_posts_the_summary") else {
        return;
    };
    let db = load(&url, "tick");
    let dir = tempfile::tempdir().unwrap();
    let (hook, rx) = webhook_server("200 OK");
    // Every minute: the first tick comes within 60 seconds.
    let cfg = write_config(&db, dir.path(), "* * * * *", &hook);
    let mut child = Command::new(SLUICE)
        .args(["schedule", "--config", cfg.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(150));
    // SIGTERM stops it cleanly.
    // (the shell's built-in kill: no dependency on a kill binary)
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -TERM {}", child.id())])
        .status();
    let mut status = None;
    for _ in 0..300 {
        if let Ok(Some(st)) = child.try_wait() {
            status = Some(st);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (head, body) = got.expect("no webhook call from the scheduler");
    assert!(
        status.is_some_and(|s| s.success()),
        "sluice schedule did not exit cleanly on SIGTERM: {status:?}"
    );
    check_summary(&db, &head, &body);
    assert!(dir.path().join("out/index.html").exists());
}
