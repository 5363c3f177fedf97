//! The web console end to end: `sluice run` with `[web]` and ClickHouse 18.16, a real capture
//! replayed into it, and the pages rendered by a real headless Chromium, driven over the DevTools
//! protocol so that a test waits for what it checks (the live feed is a Server-Sent Events stream
//! that never ends, so `--dump-dom`, which acts at the load event, would race it, and
//! `--virtual-time-budget` never finishes while it is open).
//!
//! - the overview's top source is the address SQL over `flows` ranks first in the window it shows
//!   (and the capture's ground-truth top talker when that window holds the whole replay);
//! - Explore charts the protocols SQL ranks first, with one table row per series;
//! - a filter the parser refuses is shown with its message and a caret at its position;
//! - a shared Explore URL restores every control;
//! - every page is captured at 1280×800 into `docs/console-*.png`.
//!
//! Needs `SLUICE_TEST_CLICKHOUSE_URL` (scripts/clickhouse.sh start), Chromium, curl and the shared
//! corpus; a missing one fails the test unless `SLUICE_TEST_ALLOW_SKIP=1`.

mod common;

use std::net::Ipv6Addr;
use std::path::PathBuf;
use std::time::Duration;

use common::{SluiceRun, count, free_tcp_port, free_udp_port, http_get, sql, wait_until};

/// Headless Chromium driven over the DevTools protocol (tungstenite's WebSocket client over std's
/// `TcpStream`): load a page, wait until an expression is true, read the DOM, take a screenshot.
/// The command line's `--dump-dom` and `--screenshot` act at the load event, before the live
/// feed's first windows arrive; and `--virtual-time-budget` never ends while a Server-Sent Events
/// stream is open.
mod browser {
    use std::io::{BufRead, BufReader};
    use std::net::TcpStream;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::sync::mpsc;
    use std::time::{Duration, Instant};

    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use serde_json::{Value, json};
    use tungstenite::{Message, WebSocket};

    /// A running headless Chromium with one page.
    pub struct Browser {
        child: Child,
        _profile: tempfile::TempDir,
        ws: WebSocket<TcpStream>,
        next_id: u64,
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Browser {
        /// Start `chromium` headless with a `width`×`height` window and a fresh profile.
        pub fn start(chromium: &Path, width: u32, height: u32) -> Browser {
            let profile = tempfile::tempdir().unwrap();
            let mut child = Command::new(chromium)
                .args(testkit::CHROMIUM_HEADLESS)
                .args(["--hide-scrollbars", "--remote-debugging-port=0"])
                .arg(format!("--window-size={width},{height}"))
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .arg("about:blank")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", chromium.display()));
            // "DevTools listening on ws://127.0.0.1:PORT/devtools/browser/..." on stderr; the rest
            // of stderr is drained so that Chromium never blocks on it.
            let stderr = child.stderr.take().unwrap();
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("DevTools listening on ws://127.0.0.1:").nth(1) {
                        let port: u16 = rest.split('/').next().unwrap_or("").parse().unwrap_or(0);
                        let _ = tx.send(port);
                    }
                }
            });
            let port = rx
                .recv_timeout(Duration::from_secs(30))
                .expect("chromium did not print its DevTools address");
            // The page target's WebSocket path.
            let deadline = Instant::now() + Duration::from_secs(20);
            let ws_url = loop {
                let (_, _, body) =
                    super::common::http_get(&format!("http://127.0.0.1:{port}/json/list"), &[]);
                let list: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
                let page = list.as_array().and_then(|a| {
                    a.iter()
                        .find(|t| t["type"] == "page")
                        .and_then(|t| t["webSocketDebuggerUrl"].as_str())
                        .map(str::to_string)
                });
                if let Some(url) = page {
                    break url;
                }
                assert!(Instant::now() < deadline, "chromium has no page target");
                std::thread::sleep(Duration::from_millis(100));
            };
            let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(60)))
                .unwrap();
            let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools handshake");
            let mut br = Browser {
                child,
                _profile: profile,
                ws,
                next_id: 0,
            };
            br.call("Page.enable", json!({}));
            br.call(
                "Emulation.setDeviceMetricsOverride",
                json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
            );
            br
        }

        /// The next text message (tungstenite answers pings itself).
        fn read_message(&mut self) -> String {
            loop {
                match self.ws.read().expect("DevTools connection") {
                    Message::Text(t) => return t.to_string(),
                    Message::Close(_) => panic!("DevTools closed the connection"),
                    _ => {}
                }
            }
        }

        /// Send a command and return its `result` (events in between are skipped).
        pub fn call(&mut self, method: &str, params: Value) -> Value {
            self.next_id += 1;
            let id = self.next_id;
            let m = json!({"id": id, "method": method, "params": params}).to_string();
            self.ws.send(Message::text(m)).expect("DevTools send");
            loop {
                let m: Value = serde_json::from_str(&self.read_message()).unwrap();
                if m["id"] == id {
                    if let Some(e) = m.get("error") {
                        panic!("DevTools {method}: {e}");
                    }
                    return m["result"].clone();
                }
            }
        }

        /// Evaluate `expr` in the page; its value (JSON).
        pub fn eval(&mut self, expr: &str) -> Value {
            let r = self.call(
                "Runtime.evaluate",
                json!({"expression": expr, "returnByValue": true, "awaitPromise": true}),
            );
            if let Some(e) = r.get("exceptionDetails") {
                panic!("{expr}: {e}");
            }
            r["result"]["value"].clone()
        }

        /// Navigate to `url` and wait until `ready` (a JS expression) is truthy; false when it is
        /// not within `timeout`.
        pub fn open(&mut self, url: &str, ready: &str, timeout: Duration) -> bool {
            self.call("Page.navigate", json!({"url": url}));
            self.wait(ready, timeout)
        }

        /// Wait until `ready` (a JS expression) is truthy.
        pub fn wait(&mut self, ready: &str, timeout: Duration) -> bool {
            let deadline = Instant::now() + timeout;
            let expr =
                format!("(function(){{try{{return !!({ready});}}catch(e){{return false;}}}})()");
            loop {
                if self.eval(&expr) == Value::Bool(true) {
                    return true;
                }
                if Instant::now() > deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(150));
            }
        }

        /// The `outerHTML` of the first element `sel` matches ("" when none).
        pub fn html(&mut self, sel: &str) -> String {
            let q = json!(sel);
            self.eval(&format!(
                "(function(){{var e=document.querySelector({q});return e?e.outerHTML:'';}})()"
            ))
            .as_str()
            .unwrap_or_default()
            .to_string()
        }

        /// The text of the first element `sel` matches ("" when none).
        pub fn text(&mut self, sel: &str) -> String {
            let q = json!(sel);
            self.eval(&format!(
                "(function(){{var e=document.querySelector({q});return e?e.textContent:'';}})()"
            ))
            .as_str()
            .unwrap_or_default()
            .to_string()
        }

        /// Attribute `name` of the first element `sel` matches.
        pub fn attr(&mut self, sel: &str, name: &str) -> Option<String> {
            let (q, n) = (json!(sel), json!(name));
            self.eval(&format!(
                "(function(){{var e=document.querySelector({q});return e?e.getAttribute({n}):null;}})()"
            ))
            .as_str()
            .map(str::to_string)
        }

        /// The `data-key`s of the body rows of table `sel`, in order.
        pub fn row_keys(&mut self, sel: &str) -> Vec<String> {
            let q = json!(format!("{sel} tbody tr[data-key]"));
            let v = self.eval(&format!(
                "Array.from(document.querySelectorAll({q})).map(function(r){{return r.getAttribute('data-key');}})"
            ));
            keys_of(&v)
        }

        /// The page's DOM as HTML.
        pub fn dom(&mut self) -> String {
            self.eval("document.documentElement.outerHTML")
                .as_str()
                .unwrap_or_default()
                .to_string()
        }

        /// A PNG of the viewport.
        pub fn screenshot(&mut self) -> Vec<u8> {
            let r = self.call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": false}),
            );
            STANDARD
                .decode(r["data"].as_str().expect("screenshot data"))
                .expect("screenshot base64")
        }
    }

    /// The strings of a JSON array (empty for anything else).
    pub fn keys_of(v: &Value) -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|k| k.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Width and height from a PNG's IHDR.
    pub fn png_size(png: &[u8]) -> (u32, u32) {
        assert!(
            png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n"),
            "not a PNG"
        );
        assert_eq!(&png[12..16], b"IHDR", "PNG without IHDR first");
        (
            u32::from_be_bytes(png[16..20].try_into().unwrap()),
            u32::from_be_bytes(png[20..24].try_into().unwrap()),
        )
    }
}

use browser::Browser;

/// The longest a page may take to show what a test waits for (a safety net, not a timing check:
/// the live feed's first window closes about 10 s after the replay).
const PAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A `sluice run` with `[web]`, killed when dropped (a test that fails midway leaves nothing).
struct Collector {
    run: Option<SluiceRun>,
    url: String,
    db: String,
    web: u16,
    udp: u16,
    metrics: u16,
    _dir: tempfile::TempDir,
}

impl Collector {
    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.web)
    }

    /// SIGTERM; the exit must be clean.
    fn stop(mut self) {
        if let Some(r) = self.run.take() {
            r.stop();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        // Dropping the run stops the collector.
        drop(self.run.take());
        let _ = common::try_sql(
            &self.url,
            "default",
            &format!("DROP DATABASE IF EXISTS {}", self.db),
        );
    }
}

/// Start `sluice run`: one IPFIX listener, 10-second windows by receive time, raw flows and
/// windows into a fresh database, the console on a free port, and one scheduled report.
fn start(test: &str, tag: &str) -> Option<(Collector, PathBuf)> {
    let url = testkit::server_url(testkit::LEGACY, test)?;
    let browser = testkit::chromium(test)?;
    if !testkit::tool(test, "curl") {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let db = testkit::unique_db(tag);
    let (udp, metrics, web) = (free_udp_port(), free_tcp_port(), free_tcp_port());
    let config = format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{udp}" }}]
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 10
time_key = "received"
allowed_lateness_windows = 0
[output]
sink = "clickhouse"
raw_flows = true
[clickhouse]
url = "{url}"
database = "{db}"
spool_dir = "{spool}"
batch_rows = 500
batch_age_ms = 100
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
[web]
listen = "127.0.0.1:{web}"
[[reports]]
name = "daily-top"
schedule = "0 7 * * *"
timezone = "Europe/Paris"
kind = "top-talkers"
last = "24h"
limit = 5
formats = ["html", "csv"]
output_dir = "{out}"
"#,
        spool = dir.path().join("spool").display(),
        out = dir.path().join("reports").display(),
    );
    let run = SluiceRun::start(dir.path(), &config);
    wait_until("the schema to be ready", || {
        run.log().contains("clickhouse ready")
    });
    wait_until("the console to answer", || {
        http_get(&format!("http://127.0.0.1:{web}/healthz"), &[]).0 == 200
    });
    Some((
        Collector {
            run: Some(run),
            url,
            db,
            web,
            udp,
            metrics,
            _dir: dir,
        },
        browser,
    ))
}

/// An address as the stored `hex(...)` of its 16 bytes shows it, in the console's text form.
fn addr_of_hex(h: &str) -> String {
    Ipv6Addr::from(u128::from_str_radix(h, 16).unwrap())
        .to_canonical()
        .to_string()
}

/// Check the page has no id twice, then write its screenshot to `docs/NAME`, a real 1280×800
/// picture.
fn capture(b: &mut Browser, name: &str) {
    let ids = b.eval(
        "(function(){var seen={},dup=[];document.querySelectorAll('[id]').forEach(function(e){\
         if(seen[e.id]&&dup.indexOf(e.id)<0)dup.push(e.id);seen[e.id]=1;});return dup;})()",
    );
    assert_eq!(
        browser::keys_of(&ids),
        Vec::<String>::new(),
        "{name}: ids used twice"
    );
    let png = b.screenshot();
    let png = &png[..];
    let (w, h) = browser::png_size(png);
    assert_eq!((w, h), (1280, 800), "{name}: screenshot size");
    assert!(
        png.len() > 15_000,
        "{name}: screenshot is only {} bytes",
        png.len()
    );
    let docs = testkit::repo_root().join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    std::fs::write(docs.join(name), png).unwrap();
}

fn rfc3339(secs: i64) -> String {
    report::names::rfc3339(secs)
}

/// The replayed softflowd IPFIX capture seen by every page: the overview's top source is the one
/// SQL ranks first in the window the page shows, Explore charts the protocols SQL ranks first,
/// and each page is captured at 1280×800 into `docs/`.
#[test]
fn pages_show_what_sql_says_about_a_replayed_capture_and_are_captured_at_1280x800() {
    let test = "pages_show_what_sql_says_about_a_replayed_capture_and_are_captured_at_1280x800";
    let Some(shared) = testkit::shared_dir(test) else {
        return;
    };
    let Some((c, chromium)) = start(test, "console") else {
        return;
    };
    let before = testkit::now_secs();
    let (truth, records) = common::replay_softflowd_ipfix(&shared, c.udp, "20000", c.metrics);
    wait_until("every record in flows", || {
        count(&c.url, &c.db, "SELECT count() FROM flows") == records
    });
    let after = testkit::now_secs() + 1;
    let mut b = Browser::start(&chromium, 1280, 800);

    // 1. Overview: the first row of the live top sources.
    assert!(
        b.open(
            &format!("{}/", c.base()),
            "document.querySelector('#live-src_addr tbody tr[data-key]') && \
             document.querySelector('#overview-exporters-table tr[data-key]')",
            PAGE_TIMEOUT,
        ),
        "the overview showed no live top sources: {}",
        b.dom()
    );
    // One read of the live table, which a closing window may replace at any time.
    let live = b.eval(
        "(function(){var t=document.getElementById('live-src_addr');return {start:t.dataset.windowStart,\
         secs:t.dataset.windowSecs,keys:Array.from(t.querySelectorAll('tbody tr[data-key]'))\
         .map(function(r){return r.getAttribute('data-key');})};})()",
    );
    let ws: i64 = live["start"]
        .as_str()
        .expect("the live table names its window")
        .parse()
        .unwrap();
    let secs: i64 = live["secs"].as_str().unwrap().parse().unwrap();
    assert_eq!(secs, 10);
    let shown = browser::keys_of(&live["keys"]);
    // SQL over the raw flows of that window (receive time, as the aggregator cut it).
    let ranked = sql(
        &c.url,
        &c.db,
        &format!(
            "SELECT hex(src_addr), sum(bytes_scaled) AS b FROM flows \
             WHERE time_received >= toDateTime({ws}) AND time_received < toDateTime({}) \
             GROUP BY src_addr ORDER BY b DESC LIMIT 2 FORMAT TSV",
            ws + secs
        ),
    );
    let ranked: Vec<(String, u64)> = ranked
        .lines()
        .map(|l| {
            let (a, b) = l.split_once('\t').unwrap();
            (addr_of_hex(a), b.parse().unwrap())
        })
        .collect();
    assert!(
        !ranked.is_empty(),
        "no flows in the window the overview shows ({ws})"
    );
    let tie = ranked.len() == 2 && ranked[0].1 == ranked[1].1;
    assert!(
        shown[0] == ranked[0].0 || (tie && shown[0] == ranked[1].0),
        "overview's top source {:?}, SQL says {ranked:?}",
        shown.first()
    );
    // When the whole replay fell in that window, it is also the capture's ground-truth top talker.
    let in_window = count(
        &c.url,
        &c.db,
        &format!(
            "SELECT count() FROM flows WHERE time_received >= toDateTime({ws}) \
             AND time_received < toDateTime({})",
            ws + secs
        ),
    );
    if in_window == records {
        let top = truth.iter().max_by_key(|(_, s)| s.0).unwrap();
        assert_eq!(shown[0], top.0.to_string(), "the capture's top talker");
    }
    capture(&mut b, "console-overview.png");

    // 2. Explore by protocol over the replay: the series are the protocols SQL ranks first.
    let want: Vec<String> = sql(
        &c.url,
        &c.db,
        "SELECT protocol, sum(bytes_scaled) AS b FROM flows GROUP BY protocol ORDER BY b DESC FORMAT TSV",
    )
    .lines()
    .map(|l| {
        let p: u8 = l.split('\t').next().unwrap().parse().unwrap();
        report::names::protocol_name(p).map_or_else(|| p.to_string(), str::to_ascii_lowercase)
    })
    .take(5)
    .collect();
    let explore = format!(
        "{}/explore?dimension=proto&from={}&to={}&metric=bytes&limit=5&chart=stacked",
        c.base(),
        rfc3339(before - 60),
        rfc3339(after + 60),
    );
    assert!(
        b.open(
            &explore,
            "document.querySelector('main').dataset.loaded === 'series'",
            PAGE_TIMEOUT
        ),
        "Explore did not load its series: {}",
        b.dom()
    );
    assert_eq!(b.row_keys("#series"), want, "Explore's series by protocol");
    let chart = b.html("#series-chart");
    assert!(chart.contains("<canvas"), "no chart drawn: {chart}");
    capture(&mut b, "console-explore.png");

    // Exporters: the collector's one exporter, with its counters.
    assert!(
        b.open(
            &format!("{}/exporters", c.base()),
            "document.querySelector('#exporters-table tr[data-key]')",
            PAGE_TIMEOUT
        ),
        "the exporters page listed no exporter: {}",
        b.dom()
    );
    assert_eq!(b.row_keys("#exporters-table"), ["127.0.0.1"]);
    let table = b.text("#exporters-table");
    assert!(table.contains("IPFIX"), "{table}");
    capture(&mut b, "console-exporters.png");

    // Reports: the scheduled report with its "Run now" link, which answers with HTML.
    assert!(
        b.open(
            &format!("{}/reports", c.base()),
            "document.querySelector('#report-daily-top')",
            PAGE_TIMEOUT
        ),
        "the reports page did not list the report: {}",
        b.dom()
    );
    let report = b.html("#report-daily-top");
    let text = b.text("#report-daily-top");
    assert!(text.contains("top-talkers"), "{report}");
    assert!(text.contains("0 7 * * *"), "{report}");
    let run_now = "/api/v1/reports/daily-top/run?format=html";
    assert!(
        report.contains(&format!("href=\"{}\"", run_now.replace('&', "&amp;"))),
        "{report}"
    );
    let (status, _, body) = http_get(&format!("{}{run_now}", c.base()), &[]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("<html") || body.contains("<!doctype"),
        "not HTML"
    );
    capture(&mut b, "console-reports.png");
    drop(b);
    c.stop();
}

/// A filter the parser refuses is shown next to the box with the parser's message and a caret
/// at its position; and a shared Explore URL restores every control.
#[test]
fn explore_shows_filter_errors_in_place_and_a_shared_url_restores_the_view() {
    let test = "explore_shows_filter_errors_in_place_and_a_shared_url_restores_the_view";
    let Some((c, chromium)) = start(test, "console_url") else {
        return;
    };
    let mut b = Browser::start(&chromium, 1280, 800);

    // 3. The filter error, as the filter parser words it.
    let bad = "proto == tcp";
    let err = report::filter::FilterExpr::parse(bad).unwrap_err();
    assert!(
        b.open(
            &format!(
                "{}/explore?dimension=proto&range=1h&filter=proto%20%3D%3D%20tcp",
                c.base()
            ),
            "document.querySelector('main').dataset.loaded === 'error'",
            PAGE_TIMEOUT,
        ),
        "no error shown: {}",
        b.dom()
    );
    let box_ = b.html("#filter-error");
    assert!(
        b.attr("#filter-error", "hidden").is_none(),
        "the error is hidden: {box_}"
    );
    assert_eq!(
        b.attr("#filter-error", "data-position"),
        Some(err.position.to_string())
    );
    let text = b.text("#filter-error");
    assert!(text.contains(&err.to_string()), "{text} lacks {err}");
    let at: String = bad
        .chars()
        .nth(err.position)
        .map_or(" ".into(), String::from);
    assert!(
        box_.contains(&format!("<mark>{at}</mark>")),
        "no highlight at {}: {box_}",
        err.position
    );
    assert!(
        b.attr("#filter", "aria-invalid").as_deref() == Some("true"),
        "the filter box is not marked invalid"
    );

    // 4. A shared link restores dimension, range, filter, metric, limit, step and chart.
    let shared = format!(
        "{}/explore?dimension=dst_port&range=6h&filter=proto%20%3D%20udp&metric=packets&limit=7&step=5m&chart=lines",
        c.base()
    );
    assert!(
        b.open(
            &shared,
            "['series','error'].indexOf(document.querySelector('main').dataset.loaded) >= 0",
            PAGE_TIMEOUT
        ),
        "Explore did not load: {}",
        b.dom()
    );
    assert_eq!(
        b.attr("main", "data-loaded").as_deref(),
        Some("series"),
        "{}",
        b.text("main")
    );
    for (select, value) in [
        ("dimension", "dst_port"),
        ("metric", "packets"),
        ("step", "5m"),
        ("chart", "lines"),
    ] {
        let opt = b.attr(&format!("#{select} option[selected]"), "value");
        assert_eq!(opt.as_deref(), Some(value), "#{select}");
    }
    assert_eq!(b.attr("#limit", "value").as_deref(), Some("7"));
    assert_eq!(b.attr("#filter", "value").as_deref(), Some("proto = udp"));
    // The 6h preset is the pressed one (`<main>` carries data-range too: look among the buttons).
    let preset = ".ranges [data-range=\"6h\"]";
    assert_eq!(b.attr(preset, "aria-pressed").as_deref(), Some("true"));
    assert_eq!(b.attr(preset, "class").as_deref(), Some("seg on"));
    let title = b.text("#explore-title");
    assert_eq!(title, "Destination port by packets/s, last 6h");
    // The API's canonical filter is shown, and the state stays in the URL.
    assert!(
        b.eval("!!document.getElementById('canonical-filter')") == serde_json::Value::Bool(true),
        "no canonical filter shown"
    );
    let search = b.eval("location.search");
    let search = search.as_str().unwrap();
    for p in [
        "dimension=dst_port",
        "range=6h",
        "metric=packets",
        "limit=7",
        "step=5m",
        "chart=lines",
        "filter=proto",
    ] {
        assert!(search.contains(p), "{search} lacks {p}");
    }
    // A change is written back to the URL at once.
    b.eval(
        "(function(){var s=document.getElementById('metric');s.value='flows';\
         s.dispatchEvent(new Event('change'));return true;})()",
    );
    assert!(b.wait("location.search.indexOf('metric=flows') >= 0", PAGE_TIMEOUT));

    // The UTC toggle is remembered and applies on the next page.
    b.eval("(function(){document.getElementById('utc').click();return true;})()");
    assert!(b.wait(
        "localStorage.getItem('sluice.utc') === '1' && document.body.dataset.tz === 'utc'",
        PAGE_TIMEOUT
    ));
    assert!(
        b.open(
            &format!("{}/exporters", c.base()),
            "document.getElementById('utc').checked && document.body.dataset.tz === 'utc'",
            PAGE_TIMEOUT
        ),
        "the UTC choice was not kept"
    );
    drop(b);
    c.stop();
}
