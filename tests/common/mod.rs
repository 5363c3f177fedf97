//! Helpers shared by the integration tests. What a test needs from outside the repo (the shared
//! corpus, a server, a tool) comes from `testkit` (`shared_dir`, `server_url`, `tool`), which
//! fails the test when it is missing unless `SLUICE_TEST_ALLOW_SKIP=1`.
#![allow(dead_code)]

use std::collections::HashMap;
use std::net::IpAddr;

/// Per-source sums: (bytes, packets, flows).
pub type Sums = HashMap<IpAddr, (u64, u64, u64)>;

/// Read a `src_ip,bytes,packets[,flows]` CSV (tshark sums or ground truth).
pub fn read_sums(path: &std::path::Path) -> Sums {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut m = Sums::new();
    for line in text.lines().skip(1) {
        let mut it = line.split(',');
        let ip: IpAddr = it.next().unwrap().parse().unwrap();
        let b: u64 = it.next().unwrap().parse().unwrap();
        let p: u64 = it.next().unwrap().parse().unwrap();
        let f: u64 = it.next().map_or(0, |f| f.parse().unwrap());
        m.insert(ip, (b, p, f));
    }
    m
}

/// The synthetic corpus files with their UDP ports.
pub const SYNTHETIC: [(&str, u16); 5] = [
    ("softflowd-v5", 9901),
    ("softflowd-v9", 9902),
    ("softflowd-ipfix", 9903),
    ("pmacct-v9", 9904),
    ("pmacct-ipfix", 9905),
];

/// A UDP port that is free on 127.0.0.1 right now.
pub fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The first `n` sources by bytes as a sequence of groups of equal bytes (a group that straddles
/// rank `n` is taken whole), so that ties in either ordering compare equal.
pub fn top_groups(sums: &Sums, n: usize) -> Vec<(u64, std::collections::BTreeSet<IpAddr>)> {
    let mut rows: Vec<(u64, IpAddr)> = sums.iter().map(|(a, s)| (s.0, *a)).collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    let mut groups: Vec<(u64, std::collections::BTreeSet<IpAddr>)> = Vec::new();
    for (taken, (bytes, addr)) in rows.into_iter().enumerate() {
        match groups.last_mut() {
            Some(g) if g.0 == bytes => {
                g.1.insert(addr);
            }
            _ if taken >= n => break,
            _ => groups.push((bytes, std::collections::BTreeSet::from([addr]))),
        }
    }
    groups
}

/// A TCP port that is free on 127.0.0.1 right now.
pub fn free_tcp_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Poll `cond` every 50 ms (readiness, not a timing assertion: the one-minute cap is only a safety
/// net so that a broken build fails instead of hanging).
pub fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1200 {
        if cond() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("gave up waiting for {what}");
}

/// The sum of every series of a metric on a running `sluice run`'s Prometheus endpoint (0 when the
/// endpoint does not answer yet).
pub fn metric_sum(metrics_port: u16, name: &str) -> u64 {
    let out = std::process::Command::new("curl")
        .args(["-sS", &format!("http://127.0.0.1:{metrics_port}/metrics")])
        .output();
    let Ok(out) = out else { return 0 };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// A running `sluice run` with its config and log in `dir`.
pub struct SluiceRun {
    /// The process.
    pub child: std::process::Child,
    /// Where `sluice.toml` and `run.log` are.
    pub dir: std::path::PathBuf,
}

impl SluiceRun {
    /// Write `config` to `dir/sluice.toml`, start `sluice run` on it, and wait until it listens.
    pub fn start(dir: &std::path::Path, config: &str) -> SluiceRun {
        std::fs::write(dir.join("sluice.toml"), config).unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
            .args(["run", "--config"])
            .arg(dir.join("sluice.toml"))
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join("run.log")).unwrap())
            .spawn()
            .unwrap();
        let run = SluiceRun {
            child,
            dir: dir.to_path_buf(),
        };
        wait_until("sluice run to listen", || run.log().contains("listening"));
        run
    }

    /// Whether the process is still running.
    pub fn child_is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("run.log")).unwrap_or_default()
    }

    /// SIGTERM, and the exit must be clean; returns the log.
    pub fn stop(mut self) -> String {
        let st = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let status = self.child.wait().unwrap();
        let log = self.log();
        assert!(status.success(), "sluice run exited with {status}:\n{log}");
        log
    }
}

impl Drop for SluiceRun {
    /// A test that fails before `stop` leaves no collector running behind it.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Decode every datagram of a capture (only `port` when given) with one decoder, in file order and
/// with the capture time as the receive time, as `sluice decode` does. A datagram the decoder
/// rejects as a whole fails the test.
pub fn decode_capture(
    path: &std::path::Path,
    port: Option<u16>,
) -> (Vec<collector::FlowRecord>, collector::Decoder) {
    let mut decoder = collector::Decoder::new(collector::DecoderSettings::default());
    let mut recs = Vec::new();
    collector::capture::for_each_datagram(path, port, |ts, d| {
        decoder
            .decode(d.src.ip(), d.payload, ts, &mut recs)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    })
    .unwrap();
    (recs, decoder)
}

/// Per-source (bytes, packets, records) of decoded records.
pub fn sums_by_source(recs: &[collector::FlowRecord]) -> Sums {
    let mut m = Sums::new();
    for r in recs {
        let src = collector::record::display_addr(r.src_addr.expect("a source address"));
        let e = m.entry(src).or_default();
        e.0 += r.bytes;
        e.1 += r.packets;
        e.2 += 1;
    }
    m
}

/// Run SQL over ClickHouse's HTTP interface (curl); the TSV body, or None when the server answers
/// with an error or does not answer.
pub fn try_sql(url: &str, db: &str, q: &str) -> Option<String> {
    let out = std::process::Command::new("curl")
        .args([
            "-sS",
            "--fail-with-body",
            &format!("{url}/?database={db}"),
            "--data-binary",
            q,
        ])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).to_string())
}

/// [`try_sql`] that must succeed.
pub fn sql(url: &str, db: &str, q: &str) -> String {
    try_sql(url, db, q)
        .unwrap_or_else(|| panic!("ClickHouse at {url} refused or did not answer: {q}"))
}

/// A number a query returns (0 when the server is not there yet or answers with an error).
pub fn count(url: &str, db: &str, q: &str) -> u64 {
    try_sql(url, db, q)
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// Per-source (bytes, packets, records) of the stored raw flows.
pub fn stored_sums(url: &str, db: &str) -> Sums {
    let tsv = sql(
        url,
        db,
        "SELECT hex(src_addr), sum(bytes), sum(packets), count() FROM flows GROUP BY src_addr FORMAT TSV",
    );
    let mut got = Sums::new();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        let a = std::net::Ipv6Addr::from(u128::from_str_radix(f[0], 16).unwrap()).to_canonical();
        got.insert(
            a,
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            ),
        );
    }
    got
}

/// Start or stop a private ClickHouse 18.16 with the project's script.
pub fn clickhouse(action: &str, dir: &std::path::Path, http: u16, tcp: u16) -> bool {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    std::process::Command::new(root.join("scripts/clickhouse.sh"))
        .arg(action)
        .env("SLUICE_CLICKHOUSE_DIR", dir)
        .env("SLUICE_CLICKHOUSE_HTTP_PORT", http.to_string())
        .env("SLUICE_CLICKHOUSE_TCP_PORT", tcp.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `sluice replay` of the synthetic corpus's softflowd IPFIX capture to 127.0.0.1:`port` at `rate`
/// datagrams/s, then wait until the collector's metrics endpoint has counted every record; returns
/// tshark's per-source sums of the capture and its record count.
pub fn replay_softflowd_ipfix(
    shared: &std::path::Path,
    port: u16,
    rate: &str,
    metrics: u16,
) -> (Sums, u64) {
    let corpus = shared.join("corpus/synthetic-a");
    let want = read_sums(&corpus.join("softflowd-ipfix.tshark.csv"));
    let records: u64 = want.values().map(|w| w.2).sum();
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("replay")
        .arg(corpus.join("softflowd-ipfix.pcap"))
        .args(["--to", &format!("127.0.0.1:{port}"), "--rate", rate])
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    wait_until("every record to be decoded", || {
        metric_sum(metrics, "sluice_exporter_records_total") == records
    });
    (want, records)
}

/// A GET with curl and extra header lines: (status, head in lower case, body); status 0 when
/// nothing answered.
pub fn http_get(url: &str, headers: &[&str]) -> (u16, String, String) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-sS", "-D", "-", "--max-time", "60"]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    let out = cmd.arg(url).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A stored address (16 bytes, IPv4-mapped when IPv4) from its hex form.
pub fn addr_from_hex(h: &str) -> IpAddr {
    let mut b = [0u8; 16];
    for (i, byte) in b.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&h[2 * i..2 * i + 2], 16).unwrap();
    }
    std::net::Ipv6Addr::from(b).to_canonical()
}

/// Per-source sums from `hex(address) \t bytes \t packets \t flows` TSV rows.
pub fn sums_from_tsv(tsv: &str) -> Sums {
    let mut m = Sums::new();
    for line in tsv.lines() {
        let f: Vec<&str> = line.split('\t').collect();
        m.insert(
            addr_from_hex(f[0]),
            (
                f[1].parse().unwrap(),
                f[2].parse().unwrap(),
                f[3].parse().unwrap(),
            ),
        );
    }
    m
}

/// Traffic with known truth (`sluice gen-traffic`: 20,000 packets from 300 sources, a fifth of
/// them IPv6), timed a few minutes before now so that windows are current.
pub fn traffic(dir: &std::path::Path) -> (std::path::PathBuf, Sums) {
    let pcap = dir.join("traffic.pcap");
    let truth = dir.join("truth.csv");
    let start = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 300;
    let st = std::process::Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("gen-traffic")
        .args([&pcap, &truth])
        .args([
            "--packets",
            "20000",
            "--hosts",
            "300",
            "--seed",
            "11",
            "--v6",
            "0.2",
            "--duration",
            "120",
        ])
        .args(["--start", &start.to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    (pcap, read_sums(&truth))
}

/// Run pmacctd over `pcap` with one export plugin (`nfprobe`, `sfprobe`) configured by
/// `plugin_conf` (config lines), until it has read the file and flushed everything it holds.
pub fn pmacctd(dir: &std::path::Path, pcap: &std::path::Path, plugin: &str, plugin_conf: &str) {
    use std::process::{Command, Stdio};
    let conf = dir.join("pmacctd.conf");
    let log = dir.join("pmacctd.log");
    let c = format!(
        "daemonize: false\npcap_savefile: {}\npcap_savefile_wait: true\nplugins: {plugin}\n\
         {plugin_conf}logfile: {}\n",
        pcap.display(),
        log.display()
    );
    std::fs::write(&conf, c).unwrap();
    let mut core = Command::new("pmacctd")
        .arg("-f")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("pmacctd to read the capture", || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("finished reading PCAP capture file")
    });
    // The core hands its last buffers to the plugin before it logs the end of the file, but the
    // plugin may still be working through them: a plugin interrupted before it has read them
    // loses those packets (on a loaded CI machine the last 20 packets of the capture were lost
    // after a fixed 1 s wait). Wait until the plugin's CPU time has stopped moving for 1 s.
    wait_for_idle_children(core.id());
    // SIGINT to the plugin and the core flushes every flow (SIGTERM would lose them).
    Command::new("pkill")
        .args(["-INT", "-P", &core.id().to_string()])
        .status()
        .unwrap();
    Command::new("kill")
        .args(["-INT", &core.id().to_string()])
        .status()
        .unwrap();
    core.wait().unwrap();
    wait_until(&format!("the {plugin} plugin to exit"), || {
        !Command::new("pgrep")
            .args(["-f", &conf.display().to_string()])
            .status()
            .unwrap()
            .success()
    });
}

/// Wait until the children of `pid` have used no CPU time for a whole second (at least 1 s,
/// polled every 100 ms; /proc/PID/stat counts in 10 ms ticks).
fn wait_for_idle_children(pid: u32) {
    let cpu = || -> u64 {
        let kids =
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        kids.split_whitespace()
            .filter_map(|k| std::fs::read_to_string(format!("/proc/{k}/stat")).ok())
            .map(|stat| {
                // Fields after the parenthesised command name: utime and stime are 12th and 13th.
                let rest = &stat[stat.rfind(')').map_or(0, |i| i + 2)..];
                let f: Vec<&str> = rest.split_whitespace().collect();
                f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
                    + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            })
            .sum()
    };
    let mut last = cpu();
    let mut still = 0;
    wait_until("the pmacctd plugin to go idle", || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = cpu();
        still = if now == last { still + 1 } else { 0 };
        last = now;
        still >= 10
    });
}

/// Generic interface counters (sFlow counter record 0:1, 88 bytes) of ifIndex 7, 10 Gbit/s,
/// up, with these octet totals and inbound unicast packets (2 discards and 1 error in, 5 packets
/// out).
pub fn generic_counters(in_octets: u64, out_octets: u64, in_ucast: u32) -> Vec<u8> {
    let mut r = Vec::new();
    for v in [7u32, 6] {
        r.extend_from_slice(&v.to_be_bytes()); // ifIndex, ifType (ethernetCsmacd)
    }
    r.extend_from_slice(&10_000_000_000u64.to_be_bytes()); // ifSpeed
    r.extend_from_slice(&1u32.to_be_bytes()); // full duplex
    r.extend_from_slice(&3u32.to_be_bytes()); // admin and oper up
    r.extend_from_slice(&in_octets.to_be_bytes());
    for v in [in_ucast, 0, 0, 2, 1, 0] {
        r.extend_from_slice(&v.to_be_bytes()); // ucast, mcast, bcast, discards, errors, unknown
    }
    r.extend_from_slice(&out_octets.to_be_bytes());
    for v in [5u32, 0, 0, 0, 0, 0] {
        r.extend_from_slice(&v.to_be_bytes()); // ucast, mcast, bcast, discards, errors, promisc
    }
    assert_eq!(r.len(), 88);
    r
}

/// An sFlow v5 datagram from agent 192.0.2.9 (datagram and sample sequence `seq`) with one
/// counter sample of ifIndex 7 holding `record` (generic interface counters).
pub fn sflow_counters(seq: u32, uptime_ms: u32, record: &[u8]) -> Vec<u8> {
    let mut sample = Vec::new();
    sample.extend_from_slice(&seq.to_be_bytes());
    sample.extend_from_slice(&7u32.to_be_bytes()); // source id: ifIndex 7
    sample.extend_from_slice(&1u32.to_be_bytes()); // one record
    sample.extend_from_slice(&1u32.to_be_bytes()); // enterprise 0, format 1
    sample.extend_from_slice(&(record.len() as u32).to_be_bytes());
    sample.extend_from_slice(record);
    sflow_datagram(seq, uptime_ms, &[(2, sample)])
}

/// An sFlow v5 datagram from agent 192.0.2.9 holding `samples` (sample format, body).
pub fn sflow_datagram(seq: u32, uptime_ms: u32, samples: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut d = Vec::new();
    for v in [5u32, 1] {
        d.extend_from_slice(&v.to_be_bytes()); // version, agent address type IPv4
    }
    d.extend_from_slice(&[192, 0, 2, 9]);
    for v in [0u32, seq, uptime_ms, samples.len() as u32] {
        d.extend_from_slice(&v.to_be_bytes()); // sub-agent, sequence, uptime, samples
    }
    for (format, body) in samples {
        d.extend_from_slice(&format.to_be_bytes());
        d.extend_from_slice(&(body.len() as u32).to_be_bytes());
        d.extend_from_slice(body);
    }
    d
}

/// A compact flow sample (format 1) of data source ifIndex 7, input 7, output 8, sampled 1 in
/// `rate`, with a raw header record: an Ethernet / IPv4 / UDP header from 10.1.1.1:1000 to
/// 10.2.2.2:53 of a `frame_length`-byte frame (IP length `frame_length - 18`: Ethernet header and
/// FCS), 4 bytes stripped.
pub fn sflow_flow_sample(seq: u32, rate: u32, frame_length: u32) -> (u32, Vec<u8>) {
    let ip_len = (frame_length - 18) as u16;
    let mut h = Vec::new();
    h.extend_from_slice(&[2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2, 0x08, 0x00]);
    h.extend_from_slice(&[0x45, 0]);
    h.extend_from_slice(&ip_len.to_be_bytes());
    h.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0, 10, 1, 1, 1, 10, 2, 2, 2]);
    h.extend_from_slice(&1000u16.to_be_bytes());
    h.extend_from_slice(&53u16.to_be_bytes());
    h.extend_from_slice(&(ip_len - 20).to_be_bytes());
    h.extend_from_slice(&[0, 0]);
    let header_len = h.len() as u32;
    h.resize(h.len().next_multiple_of(4), 0);
    let mut rec = Vec::new();
    for v in [1u32, frame_length, 4, header_len] {
        rec.extend_from_slice(&v.to_be_bytes()); // Ethernet, frame length, stripped, length
    }
    rec.extend_from_slice(&h);
    let mut s = Vec::new();
    for v in [seq, 7, rate, seq * rate, 0, 7, 8, 1, 1, rec.len() as u32] {
        // sequence, source, rate, pool, drops, input, output, one record: raw header, length
        s.extend_from_slice(&v.to_be_bytes());
    }
    s.extend_from_slice(&rec);
    (1, s)
}

/// `sluice run` with one loopback listener of `protocol` (`netflow`, `sflow`) writing raw flows
/// and windows (every source in the top N) to ClickHouse database `db`, metrics every 100 ms.
pub struct ClickhouseCollector {
    pub run: SluiceRun,
    pub port: u16,
    pub metrics: u16,
}

impl ClickhouseCollector {
    pub fn start(dir: &std::path::Path, url: &str, db: &str, protocol: &str) -> Self {
        let port = free_udp_port();
        let metrics = free_tcp_port();
        let cfg = format!(
            r#"
[listen]
listeners = [{{ address = "127.0.0.1:{port}", protocol = "{protocol}" }}]
recv_buffer_bytes = 33554432
allowed_exporters = ["127.0.0.0/8"]

[aggregator]
window_secs = 60
top_n = 5000

[output]
sink = "clickhouse"
raw_flows = true

[clickhouse]
url = "{url}"
database = "{db}"
batch_rows = 20000
spool_dir = "{spool}"

[metrics]
enabled = true
listen = "127.0.0.1:{metrics}"
interval_ms = 100
"#,
            spool = dir.join("spool").display(),
        );
        ClickhouseCollector {
            run: SluiceRun::start(dir, &cfg),
            port,
            metrics,
        }
    }

    /// The sum of a metric's series, from the metrics endpoint.
    pub fn metric(&self, name: &str) -> u64 {
        metric_sum(self.metrics, name)
    }

    /// Records decoded so far.
    pub fn records(&self) -> u64 {
        self.metric("sluice_exporter_records_total")
    }

    /// Wait until the decoded record count is above 0 and stops moving (polled every 300 ms).
    pub fn settle(&self) {
        let mut last = u64::MAX;
        wait_until("sluice to decode every exported record", || {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let n = self.records();
            let done = n > 0 && n == last;
            last = n;
            done
        });
    }

    pub fn stop(self) {
        self.run.stop();
    }
}

/// Per-source (bytes, packets, records) of the stored raw flows and of the `src_addr` windows
/// (direct SQL), scaled by the sampling rate or as exported; every source is in the top N, so
/// the windows' "other" row must be empty.
pub fn stored_flows_and_windows(url: &str, db: &str, scaled: bool) -> (Sums, Sums) {
    let (b, p) = if scaled {
        ("bytes_scaled", "packets_scaled")
    } else {
        ("bytes", "packets")
    };
    let flows = sums_from_tsv(&sql(
        url,
        db,
        &format!(
            "SELECT hex(src_addr), sum({b}), sum({p}), count() FROM flows GROUP BY src_addr FORMAT TSV"
        ),
    ));
    let (wb, wp) = if scaled {
        ("bytes", "packets")
    } else {
        ("bytes_unscaled", "packets_unscaled")
    };
    let windows = sums_from_tsv(&sql(
        url,
        db,
        &format!(
            "SELECT hex(addr_a), sum({wb}), sum({wp}), sum(flows) FROM window_top \
             WHERE dimension = 'src_addr' AND is_other = 0 GROUP BY addr_a FORMAT TSV"
        ),
    ));
    let other = sql(
        url,
        db,
        "SELECT sum(bytes) FROM window_top WHERE dimension = 'src_addr' AND is_other = 1 FORMAT TSV",
    );
    assert!(
        matches!(other.trim(), "" | "0"),
        "every source is in the top N, so 'other' is empty: {other}"
    );
    (flows, windows)
}

/// The scaled totals of a 1-in-10 sampled export of the 20,000-packet traffic against the truth,
/// and the heaviest source on its own; the windows must hold the flows' scaled totals. Returns
/// the relative errors of packets and bytes.
pub fn assert_one_in_ten_within_error(truth: &Sums, flows: &Sums, windows: &Sums) -> (f64, f64) {
    let total = |s: &Sums| s.values().fold((0u64, 0u64), |a, v| (a.0 + v.0, a.1 + v.1));
    let (tb, tp) = total(truth);
    let (fb, fp) = total(flows);
    // 1-in-10 sampling of 20,000 packets keeps about 2,000: the packet estimate's relative
    // standard error is about sqrt(0.9 / 2000) = 2.1%, and the byte estimate's is close to it
    // (packet sizes vary). Allow four of them.
    let rel = |a: u64, b: u64| (a as f64 - b as f64).abs() / b as f64;
    assert!(rel(fp, tp) < 0.085, "packets: scaled {fp} vs truth {tp}");
    assert!(rel(fb, tb) < 0.085, "bytes: scaled {fb} vs truth {tb}");
    assert_eq!(
        total(windows),
        (fb, fp),
        "windows hold the same scaled totals as the raw flows"
    );
    // The heaviest source (Zipf rank 1) is large enough to check on its own.
    let (top, t) = truth.iter().max_by_key(|(_, v)| v.0).unwrap();
    let f = flows[top];
    let sigma = (0.9 / (t.1 as f64 / 10.0)).sqrt();
    assert!(
        rel(f.1, t.1) < 4.0 * sigma,
        "top source {top}: packets {} vs {}",
        f.1,
        t.1
    );
    (fp as f64 / tp as f64 - 1.0, fb as f64 / tb as f64 - 1.0)
}
