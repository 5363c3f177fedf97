//! The JSON API against a real ClickHouse (18.16): softflowd's IPFIX capture replayed into
//! `sluice run` with `[web]`, then `/api/v1/top` and `/api/v1/series` compared with sums computed
//! from `flows` by SQL written here (not the API's queries); "other" plus the rows equals the total;
//! filters agree with the same condition written in SQL; hostile parameters are 400s with the
//! parameter named and never reach ClickHouse as text; the live feed, exporters, dimensions,
//! health and the security headers; `[web]` beyond loopback without auth refuses to start, and a
//! bearer token is required when set.
//!
//! Needs the 18.16 server (`SLUICE_TEST_CLICKHOUSE_URL`), curl and the shared corpus.

mod common;

use std::collections::BTreeMap;

use common::{
    SluiceRun, count, free_tcp_port, free_udp_port, http_get, replay_softflowd_ipfix, sql,
};
use serde_json::Value;

/// `GET url` with curl: (status, headers as text, body).
fn get_json(url: &str) -> (u16, Value) {
    let (s, _, b) = http_get(url, &[]);
    let v = serde_json::from_str(&b).unwrap_or_else(|e| panic!("{url}: {e}: {b}"));
    (s, v)
}

/// Percent-encode a query value.
fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn amounts(v: &Value) -> (u64, u64, u64) {
    (
        v["bytes"].as_u64().unwrap(),
        v["packets"].as_u64().unwrap(),
        v["flows"].as_u64().unwrap(),
    )
}

/// (bytes, packets, flows) per key of `key_sql` over `[from, to)` with `cond`, from raw flows.
fn sql_groups(
    url: &str,
    db: &str,
    key_sql: &str,
    cond: &str,
    from: i64,
    to: i64,
) -> BTreeMap<String, (u64, u64, u64)> {
    let q = format!(
        "SELECT {key_sql} AS k, sum(bytes_scaled), sum(packets_scaled), count() FROM flows \
         WHERE time_received >= toDateTime({from}) AND time_received < toDateTime({to}) AND ({cond}) \
         GROUP BY k FORMAT TSV"
    );
    sql(url, db, &q)
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            (
                f[0].to_string(),
                (
                    f[1].parse().unwrap(),
                    f[2].parse().unwrap(),
                    f[3].parse().unwrap(),
                ),
            )
        })
        .collect()
}

fn total(g: &BTreeMap<String, (u64, u64, u64)>) -> (u64, u64, u64) {
    g.values()
        .fold((0, 0, 0), |a, v| (a.0 + v.0, a.1 + v.1, a.2 + v.2))
}

/// An address as the API shows it, from the hex of its 16 stored bytes.
fn addr_text(hex: &str) -> String {
    let a = std::net::Ipv6Addr::from(u128::from_str_radix(hex, 16).unwrap());
    a.to_ipv4_mapped()
        .map_or_else(|| a.to_string(), |v4| v4.to_string())
}

struct Env {
    url: String,
    db: String,
    dir: tempfile::TempDir,
    port: u16,
    metrics: u16,
    web: u16,
}

fn prepare(test: &str) -> Option<(Env, std::path::PathBuf)> {
    let url = testkit::server_url(testkit::LEGACY, test)?;
    if !testkit::tool(test, "curl") {
        return None;
    }
    let shared = testkit::shared_dir(test)?;
    Some((
        Env {
            url,
            db: testkit::unique_db("api"),
            dir: tempfile::tempdir().unwrap(),
            port: free_udp_port(),
            metrics: free_tcp_port(),
            web: free_tcp_port(),
        },
        shared,
    ))
}

/// `sluice web` with `cfg` as its config file, its log in `web.log`.
fn start_web(e: &Env, cfg: &str) -> std::process::Child {
    std::fs::write(e.dir.path().join("web.toml"), cfg).unwrap();
    std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["web", "--config"])
        .arg(e.dir.path().join("web.toml"))
        .stderr(std::fs::File::create(e.dir.path().join("web.log")).unwrap())
        .spawn()
        .unwrap()
}

fn config(e: &Env, web: &str) -> String {
    format!(
        r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}" }}]
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 10
allowed_lateness_windows = 1
[output]
sink = "clickhouse"
raw_flows = true
flush_interval_ms = 200
[clickhouse]
url = "{url}"
database = "{db}"
spool_dir = "{spool}"
batch_rows = 5000
batch_age_ms = 100
[metrics]
listen = "127.0.0.1:{metrics}"
interval_ms = 100
{web}
"#,
        port = e.port,
        url = e.url,
        db = e.db,
        metrics = e.metrics,
        spool = e.dir.path().join("spool").display(),
    )
}

#[test]
fn top_series_and_filters_equal_sql_over_flows_and_hostile_input_is_a_400() {
    let test = "top_series_and_filters_equal_sql_over_flows_and_hostile_input_is_a_400";
    let Some((e, shared)) = prepare(test) else {
        return;
    };
    let web = format!("[web]\nlisten = \"127.0.0.1:{}\"\n", e.web);
    let sluice = SluiceRun::start(e.dir.path(), &config(&e, &web));
    common::wait_until("the schema to be ready", || {
        sluice.log().contains("clickhouse ready")
    });
    let (_, records) = replay_softflowd_ipfix(&shared, e.port, "5000", e.metrics);
    common::wait_until("every flow in ClickHouse", || {
        count(&e.url, &e.db, "SELECT count() FROM flows") == records
    });
    let api = format!("http://127.0.0.1:{}", e.web);
    let bounds = sql(
        &e.url,
        &e.db,
        "SELECT toUInt32(min(time_received)), toUInt32(max(time_received)) FROM flows FORMAT TSV",
    );
    let mut it = bounds.split_whitespace().map(|v| v.parse::<i64>().unwrap());
    let (first, last) = (it.next().unwrap(), it.next().unwrap());
    // A range that covers every flow and is shorter than an hour: top reads raw flows exactly.
    let (from, to) = (first - 5, last + 5);

    // Top: each dimension's rows, other and total equal SQL on raw flows.
    for (dim, key_sql) in [
        ("src_addr", "hex(src_addr)"),
        ("dst_addr", "hex(dst_addr)"),
        ("dst_port", "toString(dst_port)"),
        ("proto", "toString(protocol)"),
        ("exporter", "hex(exporter)"),
    ] {
        let want = sql_groups(&e.url, &e.db, key_sql, "1", from, to);
        let (st, v) = get_json(&format!(
            "{api}/api/v1/top?dimension={dim}&from={from}&to={to}&limit=7"
        ));
        assert_eq!(st, 200, "{dim}: {v}");
        assert_eq!(v["source"], "flows", "{dim}");
        let rows = v["rows"].as_array().unwrap();
        assert_eq!(rows.len(), want.len().min(7), "{dim}");
        let mut shown = (0, 0, 0);
        let mut prev = u64::MAX;
        for r in rows {
            let got = amounts(r);
            let key = r["key"].as_str().unwrap();
            let (_, w) = want
                .iter()
                .find(|(k, _)| {
                    let text = if k.len() == 32 {
                        addr_text(k)
                    } else if dim == "proto" {
                        match k.as_str() {
                            "6" => "tcp".into(),
                            "17" => "udp".into(),
                            "1" => "icmp".into(),
                            "58" => "icmpv6".into(),
                            o => o.to_string(),
                        }
                    } else {
                        k.to_string()
                    };
                    text == key
                })
                .unwrap_or_else(|| panic!("{dim}: key {key} not in SQL's groups"));
            assert_eq!(got, *w, "{dim} {key}");
            assert!(got.0 <= prev, "{dim}: ranked by bytes");
            prev = got.0;
            shown = (shown.0 + got.0, shown.1 + got.1, shown.2 + got.2);
        }
        // The rows are the largest: nothing SQL has outside them is bigger than the last row.
        let mut sizes: Vec<u64> = want.values().map(|w| w.0).collect();
        sizes.sort_unstable_by(|a, b| b.cmp(a));
        assert_eq!(
            rows.last().map(|r| amounts(r).0),
            sizes.get(rows.len() - 1).copied(),
            "{dim}"
        );
        let t = total(&want);
        assert_eq!(amounts(&v["total"]), t, "{dim} total");
        let o = amounts(&v["other"]);
        assert_eq!((o.0 + shown.0, o.1 + shown.1, o.2 + shown.2), t, "{dim}");
    }

    // Series by protocol, 60 s steps over raw flows: each bucket equals SQL's, and other plus
    // the series equals the total in every bucket.
    let (st, v) = get_json(&format!(
        "{api}/api/v1/series?dimension=proto&from={from}&to={to}&step=60&limit=2&metric=packets"
    ));
    assert_eq!(st, 200, "{v}");
    let time: Vec<i64> = v["time"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_i64().unwrap())
        .collect();
    assert_eq!(time.first().copied(), Some(from.div_euclid(60) * 60));
    let per_bucket = |cond: &str| -> BTreeMap<i64, u64> {
        sql(
            &e.url,
            &e.db,
            &format!(
                "SELECT intDiv(toUInt32(time_received), 60) * 60 AS b, sum(packets_scaled) FROM flows \
                 WHERE ({cond}) GROUP BY b FORMAT TSV"
            ),
        )
        .lines()
        .map(|l| {
            let (b, n) = l.split_once('\t').unwrap();
            (b.parse().unwrap(), n.parse().unwrap())
        })
        .collect()
    };
    let check = |values: &Value, total: &Value, want: &BTreeMap<i64, u64>, what: &str| {
        let vals = values.as_array().unwrap();
        assert_eq!(vals.len(), time.len(), "{what}");
        let mut sum = 0u64;
        for (t, val) in time.iter().zip(vals) {
            let got = (val.as_f64().unwrap() * 60.0).round() as u64;
            assert_eq!(got, want.get(t).copied().unwrap_or(0), "{what} at {t}");
            sum += got;
        }
        assert_eq!(total.as_u64().unwrap(), sum, "{what} total");
    };
    check(
        &v["total"],
        &v["total_stats"]["total"],
        &per_bucket("1"),
        "total",
    );
    let series = v["series"].as_array().unwrap();
    assert_eq!(series.len(), 2);
    let mut keys_in = Vec::new();
    for s in series {
        let key = s["key"].as_str().unwrap();
        let num = match key {
            "tcp" => 6,
            "udp" => 17,
            "icmp" => 1,
            "icmpv6" => 58,
            k => k.parse().unwrap(),
        };
        keys_in.push(num.to_string());
        check(
            &s["values"],
            &s["total"],
            &per_bucket(&format!("protocol = {num}")),
            key,
        );
    }
    check(
        &v["other"],
        &v["other_stats"]["total"],
        &per_bucket(&format!("protocol NOT IN ({})", keys_in.join(","))),
        "other",
    );

    // Ranges the rollups answer: 5-minute steps read flows_5m, and a top over whole 5-minute
    // ends of an hour or more reads the rollups too; both equal SQL over raw flows.
    let (rf, rt) = (
        from.div_euclid(300) * 300 - 3600,
        (to + 299).div_euclid(300) * 300,
    );
    let (st, v) = get_json(&format!(
        "{api}/api/v1/series?dimension=proto&from={rf}&to={rt}&step=300&limit=5"
    ));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["source"], "flows_5m");
    let want5: BTreeMap<i64, u64> = sql(
        &e.url,
        &e.db,
        "SELECT intDiv(toUInt32(time_received), 300) * 300 AS b, sum(bytes_scaled) FROM flows \
         GROUP BY b FORMAT TSV",
    )
    .lines()
    .map(|l| {
        let (b, n) = l.split_once('\t').unwrap();
        (b.parse().unwrap(), n.parse().unwrap())
    })
    .collect();
    for (t, val) in v["time"]
        .as_array()
        .unwrap()
        .iter()
        .zip(v["total"].as_array().unwrap())
    {
        let got = (val.as_f64().unwrap() * 300.0).round() as u64;
        assert_eq!(
            got,
            want5.get(&t.as_i64().unwrap()).copied().unwrap_or(0),
            "5m bucket {t}"
        );
    }
    let (st, v) = get_json(&format!(
        "{api}/api/v1/top?dimension=dst_as&from={rf}&to={rt}"
    ));
    assert_eq!(st, 200, "{v}");
    assert_ne!(v["source"], "flows", "{v}");
    let want = sql_groups(&e.url, &e.db, "toString(dst_as)", "1", rf, rt);
    for r in v["rows"].as_array().unwrap() {
        assert_eq!(
            Some(&amounts(r)),
            want.get(r["key"].as_str().unwrap()),
            "{r}"
        );
    }
    assert_eq!(amounts(&v["total"]), total(&want));

    // Filters agree with the same condition in SQL (totals over the range).
    for (filter, cond) in [
        ("proto = tcp", "protocol = 6"),
        (
            "proto = udp and dst_port in (53, 123)",
            "protocol = 17 AND dst_port IN (53, 123)",
        ),
        (
            "src_addr = 10.0.0.0/8 or src_addr = 2001:db8::/32",
            "(hex(src_addr) BETWEEN '00000000000000000000FFFF0A000000' AND '00000000000000000000FFFF0AFFFFFF') \
             OR (hex(src_addr) BETWEEN '20010DB8000000000000000000000000' AND '20010DB8FFFFFFFFFFFFFFFFFFFFFFFF')",
        ),
        (
            "not proto = udp and dst_port >= 1024",
            "NOT (protocol = 17) AND dst_port >= 1024",
        ),
        (
            "(src_port < 1024 or dst_port < 1024) and not dst_port in (80, 443)",
            "(src_port < 1024 OR dst_port < 1024) AND dst_port NOT IN (80, 443)",
        ),
    ] {
        let want = total(&sql_groups(&e.url, &e.db, "1", cond, from, to));
        let (st, v) = get_json(&format!(
            "{api}/api/v1/top?dimension=dst_port&from={from}&to={to}&filter={}",
            enc(filter)
        ));
        assert_eq!(st, 200, "{filter}: {v}");
        assert_eq!(amounts(&v["total"]), want, "{filter}");
        assert!(
            want.2 > 0 || filter.contains("123"),
            "{filter} selects flows"
        );
    }

    // Hostile filters and parameters: 400, the parameter named, no ClickHouse error.
    let long = "x".repeat(10_000);
    let nested = format!("{}proto = tcp{}", "(".repeat(5000), ")".repeat(5000));
    let hostile: Vec<(String, &str)> = vec![
        (
            format!("dimension=src_addr&filter={}", enc("proto = 'tcp")),
            "filter",
        ),
        (
            format!(
                "dimension=src_addr&filter={}",
                enc("proto = tcp; DROP TABLE flows")
            ),
            "filter",
        ),
        (
            format!(
                "dimension=src_addr&filter={}",
                enc("proto = tcp -- comment")
            ),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc("proto = tcp /* x */")),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc("proto = t\u{0441}p")),
            "filter",
        ),
        (
            format!(
                "dimension=src_addr&filter={}",
                enc("src_addr = \u{ff11}0.0.0.1")
            ),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc("src_as \u{2260} 1")),
            "filter",
        ),
        (
            format!(
                "dimension=src_addr&filter={}",
                enc("src_as = 99999999999999999999999")
            ),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc("dst_port = 65536")),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc("sleep(3) = 1")),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc(&long)),
            "filter",
        ),
        (
            format!("dimension=src_addr&filter={}", enc(&nested)),
            "filter",
        ),
        (
            format!("dimension={}", enc("src_addr; DROP TABLE flows")),
            "dimension",
        ),
        (format!("dimension={}", enc("hex(src_addr)")), "dimension"),
        (
            "dimension=src_addr&limit=99999999999999999999".into(),
            "limit",
        ),
        ("dimension=src_addr&limit=0".into(), "limit"),
        ("dimension=src_addr&from=1'%20OR%201=1".into(), "from"),
        ("dimension=src_addr&to=99999999999999999999".into(), "to"),
        ("dimension=src_addr&from=10&to=5".into(), "range"),
        ("dimension=src_addr&metric=bytes'".into(), "metric"),
        ("dimension=src_addr&step=1".into(), "step"),
        (format!("dimension=src_addr&evil={}", enc("1")), "query"),
    ];
    for (q, param) in &hostile {
        for ep in ["top", "series"] {
            let (st, v) = get_json(&format!("{api}/api/v1/{ep}?{q}"));
            if *param == "step" && ep == "top" {
                // top has no step: it is ignored there, and the answer is a normal one.
                assert_eq!(st, 200, "{ep}?{q}: {v}");
                continue;
            }
            assert_eq!(st, 400, "{ep}?{}: {v}", &q[..q.len().min(80)]);
            assert_eq!(
                v["error"]["param"],
                *param,
                "{ep}?{}",
                &q[..q.len().min(80)]
            );
            let msg = v["error"]["message"].as_str().unwrap();
            assert!(!msg.contains("DB::Exception"), "{msg}");
        }
    }
    // A filter error says where and what was expected.
    let (st, v) = get_json(&format!(
        "{api}/api/v1/top?dimension=src_addr&filter={}",
        enc("proto == tcp")
    ));
    assert_eq!(st, 400);
    assert!(v["error"]["position"].as_u64().is_some(), "{v}");
    assert!(
        !v["error"]["expected"].as_array().unwrap().is_empty(),
        "{v}"
    );
    // The table is still whole.
    assert_eq!(count(&e.url, &e.db, "SELECT count() FROM flows"), records);

    // Dimensions, health, security headers, exporters, the live feed.
    let (st, v) = get_json(&format!("{api}/api/v1/dimensions"));
    assert_eq!(st, 200);
    let names: Vec<&str> = v["dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    for n in [
        "src_addr",
        "dst_port",
        "proto",
        "src_as",
        "src_country",
        "in_if_provider",
    ] {
        assert!(names.contains(&n), "{n}");
    }
    let (st, head, body) = http_get(&format!("{api}/healthz"), &[]);
    assert_eq!(st, 200, "{body}");
    assert!(body.contains("\"clickhouse\":\"ok\""), "{body}");
    for h in [
        "content-security-policy: default-src 'self'",
        "x-content-type-options: nosniff",
        "x-frame-options: deny",
        "referrer-policy: no-referrer",
        "cache-control: no-store",
    ] {
        assert!(head.contains(h), "{h} in {head}");
    }
    let (st, v) = get_json(&format!("{api}/api/v1/exporters"));
    assert_eq!(st, 200);
    assert_eq!(v["source"], "collector");
    let ex = &v["exporters"][0];
    assert_eq!(ex["address"], "127.0.0.1");
    assert_eq!(ex["records"].as_u64(), Some(records));
    assert_eq!(ex["versions"][0], 10);
    let live = || {
        let out = std::process::Command::new("curl")
            .args(["-sN", "--max-time", "2", &format!("{api}/api/v1/live")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let windows = |text: &str| -> Vec<Value> {
        text.lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).unwrap())
            .collect()
    };
    let flows_in = |ws: &[Value]| -> u64 {
        ws.iter()
            .map(|w| w["total"]["flows"].as_u64().unwrap())
            .sum()
    };
    // Every flow is in exactly one closed window, and the feed sends them all on connect.
    common::wait_until("every flow in a closed live window", || {
        flows_in(&windows(&live())) == records
    });
    let text = live();
    assert!(text.contains("event: window"), "{text}");
    let ws = windows(&text);
    let busiest = ws
        .iter()
        .max_by_key(|w| w["total"]["bytes"].as_u64().unwrap())
        .unwrap();
    let rows = busiest["dimensions"]["src_addr"]["rows"]
        .as_array()
        .unwrap();
    assert!(!rows.is_empty());
    let row_bytes: u64 = rows.iter().map(|r| r["bytes"].as_u64().unwrap()).sum();
    let other = busiest["dimensions"]["src_addr"]["other"]["bytes"]
        .as_u64()
        .unwrap();
    assert_eq!(
        row_bytes + other,
        busiest["total"]["bytes"].as_u64().unwrap()
    );
    // The console's pages and assets are served.
    for p in [
        "/",
        "/explore",
        "/exporters",
        "/reports",
        "/assets/app.js",
        "/assets/uPlot.iife.min.js",
    ] {
        let (st, _, _) = http_get(&format!("{api}{p}"), &[]);
        assert_eq!(st, 200, "{p}");
    }
    let (st, _, _) = http_get(&format!("{api}/assets/..%2fCargo.toml"), &[]);
    assert_eq!(st, 404);
    sluice.stop();

    // `sluice web` on the same database, no collector: its live feed is the windows the collector
    // stored, and each window equals the one `sluice run` sent from memory.
    let cfg = format!(
        "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n[web]\nlisten = \"127.0.0.1:{}\"\n",
        e.url, e.db, e.web
    );
    let mut child = start_web(&e, &cfg);
    // The feed reads ClickHouse every 5 s and holds the newest window for one more read.
    let mut stored = Vec::new();
    for _ in 0..15 {
        stored = windows(&live());
        if flows_in(&stored) == records {
            break;
        }
    }
    let log = std::fs::read_to_string(e.dir.path().join("web.log")).unwrap_or_default();
    assert_eq!(flows_in(&stored), records, "{log}");
    assert_eq!(stored.len(), ws.len());
    for (a, b) in stored.iter().zip(&ws) {
        assert_eq!(a, b, "window {}", b["window_start"]);
    }
    let (st, v) = get_json(&format!("{api}/api/v1/dimensions"));
    assert_eq!(st, 200);
    let live_dims = v["live_dimensions"].as_array().unwrap();
    assert!(live_dims.contains(&Value::from("src_addr")), "{v}");
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn web_beyond_loopback_needs_auth_and_a_token_guards_every_route() {
    let test = "web_beyond_loopback_needs_auth_and_a_token_guards_every_route";
    let Some((e, _)) = prepare(test) else {
        return;
    };
    // 0.0.0.0 without [web.auth]: the start is refused, with the reason.
    let open = format!("[web]\nlisten = \"0.0.0.0:{}\"\n", e.web);
    std::fs::write(e.dir.path().join("open.toml"), config(&e, &open)).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .args(["run", "--config"])
        .arg(e.dir.path().join("open.toml"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("web.listen") && err.contains("[web.auth]"),
        "{err}"
    );

    // `sluice web` with a bearer token from a file.
    let token = "9f2c1d7e6b5a4f3e2d1c0b9a";
    std::fs::write(e.dir.path().join("token"), token).unwrap();
    let cfg = format!(
        "[clickhouse]\nurl = \"{}\"\ndatabase = \"{}\"\n[web]\nlisten = \"0.0.0.0:{}\"\n\
         [web.auth]\nkind = \"bearer\"\nsecret_file = \"{}\"\n",
        e.url,
        e.db,
        e.web,
        e.dir.path().join("token").display()
    );
    let mut child = start_web(&e, &cfg);
    let api = format!("http://127.0.0.1:{}", e.web);
    common::wait_until("sluice web to answer", || {
        http_get(&format!("{api}/healthz"), &[]).0 != 0
    });
    for p in [
        "/",
        "/api/v1/dimensions",
        "/api/v1/top?dimension=proto",
        "/api/v1/exporters",
    ] {
        let (st, head, _) = http_get(&format!("{api}{p}"), &[]);
        assert_eq!(st, 401, "{p}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        let (st, _, _) = http_get(
            &format!("{api}{p}"),
            &["Authorization: Bearer wrong-token-000000000"],
        );
        assert_eq!(st, 401, "{p}");
    }
    let auth = format!("Authorization: Bearer {token}");
    let (st, _, body) = http_get(&format!("{api}/api/v1/dimensions"), &[&auth]);
    assert_eq!(st, 200, "{body}");
    // No collector and no stored window yet: the live feed is open and waits.
    let out = std::process::Command::new("curl")
        .args(["-sN", "-i", "--max-time", "2", "-H", &auth])
        .arg(format!("{api}/api/v1/live"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("data:")), "{text}");
    let _ = child.kill();
    let _ = child.wait();
}
