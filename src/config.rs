//! The top-level `sluice.toml`: what `sluice run` reads and `sluice config check` validates.
//!
//! Owns: the [`Config`] serde shape (every struct `deny_unknown_fields`, a named default function
//! per defaulted field, a doc comment per field), its two-step validation ([`Config::validate`]
//! does no I/O and returns a [`ValidatedConfig`]; `sluice run` does the I/O), and error reporting
//! that names the field path (`listen.recv_buffer_bytes`) and, for TOML syntax, line and column.
//! The `[decoder]`, `[aggregator]` and `[clickhouse]` sections are the crates' own config types.
//! Must never: open files or sockets, or read the environment, while validating.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aggregator::{AggregatorConfig, ValidatedAggregatorConfig};
use collector::{Cidr, DecoderConfig, DecoderSettings};
use serde::Deserialize;

/// The whole `sluice.toml`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// UDP listeners, receive workers, the exporter allowlist and template persistence.
    #[serde(default)]
    pub listen: ListenConfig,
    /// Template, sampling and memory limits of the decoder.
    #[serde(default)]
    pub decoder: DecoderConfig,
    /// Windows and top-N.
    #[serde(default)]
    pub aggregator: AggregatorConfig,
    /// Where decoded flows and closed windows go.
    #[serde(default)]
    pub output: OutputConfig,
    /// ClickHouse connection, batching, spool and retention; required when `output.sink` is
    /// `clickhouse`.
    #[serde(default)]
    pub clickhouse: Option<schema::ClickhouseConfig>,
    /// The Prometheus endpoint.
    #[serde(default)]
    pub metrics: MetricsConfig,
    /// Scheduled reports (`[[reports]]`), run by `sluice run` and `sluice schedule`.
    #[serde(default)]
    pub reports: Vec<report::schedule::ScheduledReport>,
}

/// Which export protocol a listener expects (for labels and for sFlow, which is not decoded yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListenProtocol {
    /// NetFlow v5/v9 (conventionally port 2055). The decoder detects the version from the
    /// datagram, so IPFIX arriving here is decoded too.
    #[default]
    Netflow,
    /// IPFIX (conventionally port 4739); NetFlow arriving here is decoded too.
    Ipfix,
    /// sFlow v5 (conventionally port 6343). Not decoded yet: datagrams are counted as unsupported.
    Sflow,
}

impl ListenProtocol {
    /// Stable lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProtocol::Netflow => "netflow",
            ListenProtocol::Ipfix => "ipfix",
            ListenProtocol::Sflow => "sflow",
        }
    }
}

/// One UDP listener.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port to bind, e.g. `0.0.0.0:2055` or `[::]:4739`.
    pub address: String,
    /// What the listener expects.
    #[serde(default)]
    pub protocol: ListenProtocol,
}

/// The `[listen]` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// UDP listeners. Default: NetFlow on 0.0.0.0:2055 and IPFIX on 0.0.0.0:4739.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<ListenerConfig>,
    /// Receive sockets (one thread and one decoder each) per listener. They share the port with
    /// `SO_REUSEPORT`; the kernel keeps each exporter on one of them.
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Requested socket receive buffer, bytes (`SO_RCVBUFFORCE` when permitted, else capped by
    /// `net.core.rmem_max`; a warning is logged when the kernel grants less).
    #[serde(default = "default_recv_buffer_bytes")]
    pub recv_buffer_bytes: usize,
    /// Largest datagram accepted, bytes; longer ones are cut and counted as truncated.
    #[serde(default = "default_max_datagram_bytes")]
    pub max_datagram_bytes: usize,
    /// Exporter address prefixes allowed to send (e.g. `["192.0.2.0/24", "2001:db8::/32"]`).
    /// Datagrams from other addresses are dropped before any state is created, and counted. Unset:
    /// every exporter is accepted (a warning is logged at start).
    #[serde(default)]
    pub allowed_exporters: Option<Vec<String>>,
    /// File that keeps templates and sampling state across restarts: loaded at start, saved every
    /// `state_save_secs` and on shutdown. Unset: nothing is persisted.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// Seconds between two saves of `state_file`.
    #[serde(default = "default_state_save_secs")]
    pub state_save_secs: u64,
    /// Decoded records per batch handed to the aggregator.
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
    /// Batches the queue to the aggregator holds. When it is full, receive workers wait (time
    /// counted in `sluice_queue_blocked_microseconds_total`); nothing is dropped.
    #[serde(default = "default_queue_batches")]
    pub queue_batches: usize,
    /// A partly filled batch is handed on after this many milliseconds.
    #[serde(default = "default_batch_linger_ms")]
    pub batch_linger_ms: u64,
}

fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig {
            address: "0.0.0.0:2055".into(),
            protocol: ListenProtocol::Netflow,
        },
        ListenerConfig {
            address: "0.0.0.0:4739".into(),
            protocol: ListenProtocol::Ipfix,
        },
    ]
}
fn default_workers() -> usize {
    1
}
fn default_recv_buffer_bytes() -> usize {
    32 << 20
}
fn default_max_datagram_bytes() -> usize {
    collector::socket::MAX_DATAGRAM
}
fn default_state_save_secs() -> u64 {
    60
}
fn default_batch_records() -> usize {
    1024
}
fn default_queue_batches() -> usize {
    256
}
fn default_batch_linger_ms() -> u64 {
    200
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            listeners: default_listeners(),
            workers: default_workers(),
            recv_buffer_bytes: default_recv_buffer_bytes(),
            max_datagram_bytes: default_max_datagram_bytes(),
            allowed_exporters: None,
            state_file: None,
            state_save_secs: default_state_save_secs(),
            batch_records: default_batch_records(),
            queue_batches: default_queue_batches(),
            batch_linger_ms: default_batch_linger_ms(),
        }
    }
}

/// Which sink receives the pipeline's output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SinkKind {
    /// Count and discard (benchmarks).
    #[default]
    Null,
    /// One JSON object per line in `output.path`.
    Jsonl,
    /// The ClickHouse writer configured in `[clickhouse]`.
    Clickhouse,
}

/// The `[output]` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// `null`, `jsonl` or `clickhouse`.
    #[serde(default)]
    pub sink: SinkKind,
    /// File the `jsonl` sink writes (created or truncated at start).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Also send every raw decoded flow to the sink (besides the closed windows).
    #[serde(default = "default_raw_flows")]
    pub raw_flows: bool,
    /// How often due windows are closed and handed to the sink, milliseconds.
    #[serde(default = "default_flush_interval_ms")]
    pub flush_interval_ms: u64,
}

fn default_raw_flows() -> bool {
    true
}
fn default_flush_interval_ms() -> u64 {
    1000
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            sink: SinkKind::default(),
            path: None,
            raw_flows: default_raw_flows(),
            flush_interval_ms: default_flush_interval_ms(),
        }
    }
}

/// The `[metrics]` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Serve Prometheus metrics at all.
    #[serde(default = "default_metrics_enabled")]
    pub enabled: bool,
    /// Address of the HTTP endpoint (`/metrics`).
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
    /// How often exporter counters are gathered from the workers, milliseconds.
    #[serde(default = "default_metrics_interval_ms")]
    pub interval_ms: u64,
}

fn default_metrics_enabled() -> bool {
    true
}
fn default_metrics_listen() -> String {
    "127.0.0.1:9102".into()
}
fn default_metrics_interval_ms() -> u64 {
    1000
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: default_metrics_enabled(),
            listen: default_metrics_listen(),
            interval_ms: default_metrics_interval_ms(),
        }
    }
}

/// One problem in a config: the dotted field path and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Field path, e.g. `listen.listeners[1].address` (empty when unknown).
    pub path: String,
    /// What is wrong; for TOML errors, with line and column.
    pub reason: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.path, self.reason)
        }
    }
}

/// Every problem found in a config.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problems(pub Vec<Problem>);

impl std::fmt::Display for Problems {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problems {}

/// The validated sink choice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SinkChoice {
    /// Discard.
    Null,
    /// JSON lines to this file.
    Jsonl(PathBuf),
    /// ClickHouse.
    Clickhouse(Box<schema::config::ValidatedClickhouseConfig>),
}

/// A listener that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Bind address.
    pub address: SocketAddr,
    /// Protocol.
    pub protocol: ListenProtocol,
}

/// A config that passed [`Config::validate`]; the only form `sluice run` accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedConfig {
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Workers per listener.
    pub workers: usize,
    /// Requested receive buffer.
    pub recv_buffer_bytes: usize,
    /// Receive slot size.
    pub max_datagram_bytes: usize,
    /// Allowed exporter prefixes; `None` accepts all.
    pub allowed_exporters: Option<Vec<Cidr>>,
    /// Template state file.
    pub state_file: Option<PathBuf>,
    /// Save period of the state file.
    pub state_save: Duration,
    /// Records per batch.
    pub batch_records: usize,
    /// Queue capacity in batches.
    pub queue_batches: usize,
    /// Linger of a partial batch.
    pub batch_linger: Duration,
    /// Decoder settings.
    pub decoder: DecoderSettings,
    /// Aggregator settings.
    pub aggregator: ValidatedAggregatorConfig,
    /// Sink.
    pub sink: SinkChoice,
    /// Forward raw flows.
    pub raw_flows: bool,
    /// Window flush period.
    pub flush_every: Duration,
    /// Metrics endpoint; `None` when disabled.
    pub metrics: Option<SocketAddr>,
    /// Metrics gathering period.
    pub metrics_interval: Duration,
}

fn problem(path: impl Into<String>, reason: impl Into<String>) -> Problem {
    Problem {
        path: path.into(),
        reason: reason.into(),
    }
}

impl Config {
    /// Parse TOML text. Errors carry line and column and, where the text shows it, the field path.
    pub fn parse(text: &str) -> Result<Config, Problems> {
        toml::from_str::<Config>(text).map_err(|e| {
            let (path, at) = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    (
                        path_at(text, span.start, span.end),
                        format!(" (line {line}, column {col})"),
                    )
                }
                None => (String::new(), String::new()),
            };
            Problems(vec![problem(path, format!("{}{at}", e.message()))])
        })
    }

    /// Read and parse a file (I/O errors are reported as a problem with no path).
    pub fn load(path: &Path) -> Result<Config, Problems> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Problems(vec![problem(
                String::new(),
                format!("{}: {e}", path.display()),
            )])
        })?;
        Config::parse(&text)
    }

    /// Check every value (no I/O) and return the form `sluice run` takes, or every problem found.
    pub fn validate(&self) -> Result<ValidatedConfig, Problems> {
        let mut problems = Vec::new();
        let l = &self.listen;
        if l.listeners.is_empty() {
            problems.push(problem(
                "listen.listeners",
                "at least one listener is needed",
            ));
        }
        let mut listeners = Vec::new();
        for (i, li) in l.listeners.iter().enumerate() {
            match li.address.parse::<SocketAddr>() {
                Ok(address) => {
                    if listeners.iter().any(|x: &Listener| x.address == address) {
                        problems.push(problem(
                            format!("listen.listeners[{i}].address"),
                            format!("{address} is listed twice"),
                        ));
                    }
                    listeners.push(Listener {
                        address,
                        protocol: li.protocol,
                    });
                }
                Err(e) => problems.push(problem(
                    format!("listen.listeners[{i}].address"),
                    format!("`{}` is not an IP:port address ({e})", li.address),
                )),
            }
        }
        if !(1..=64).contains(&l.workers) {
            problems.push(problem("listen.workers", "must be 1 to 64"));
        }
        if l.recv_buffer_bytes > i32::MAX as usize / 2 {
            problems.push(problem("listen.recv_buffer_bytes", "must be below 1 GiB"));
        }
        if !(512..=collector::socket::MAX_DATAGRAM).contains(&l.max_datagram_bytes) {
            problems.push(problem("listen.max_datagram_bytes", "must be 512 to 65535"));
        }
        let allowed = l.allowed_exporters.as_ref().map(|list| {
            let mut out = Vec::new();
            for (i, c) in list.iter().enumerate() {
                match c.parse::<Cidr>() {
                    Ok(c) => out.push(c),
                    Err(e) => problems.push(problem(
                        format!("listen.allowed_exporters[{i}]"),
                        e.to_string(),
                    )),
                }
            }
            out
        });
        if l.state_file.is_some() && l.state_save_secs == 0 {
            problems.push(problem("listen.state_save_secs", "must be at least 1"));
        }
        if !(1..=1_000_000).contains(&l.batch_records) {
            problems.push(problem("listen.batch_records", "must be 1 to 1000000"));
        }
        if !(1..=1_000_000).contains(&l.queue_batches) {
            problems.push(problem("listen.queue_batches", "must be 1 to 1000000"));
        }
        if l.batch_linger_ms == 0 {
            problems.push(problem("listen.batch_linger_ms", "must be at least 1"));
        }
        let decoder = self
            .decoder
            .validate("decoder")
            .map_err(|e| problems.push(problem(e.path, e.reason)))
            .ok();
        let aggregator = self
            .aggregator
            .validate()
            .map_err(|e| {
                for p in e.prefixed("aggregator").problems {
                    problems.push(problem(p.field, p.message));
                }
            })
            .ok();
        let clickhouse = self.clickhouse.as_ref().and_then(|c| {
            c.validate()
                .map_err(|e| match e {
                    schema::config::ConfigError::Invalid { field, reason } => {
                        problems.push(problem(format!("clickhouse.{field}"), reason))
                    }
                })
                .ok()
        });
        let o = &self.output;
        let sink = match o.sink {
            SinkKind::Null => Some(SinkChoice::Null),
            SinkKind::Jsonl => match &o.path {
                Some(p) if !p.as_os_str().is_empty() => Some(SinkChoice::Jsonl(p.clone())),
                _ => {
                    problems.push(problem("output.path", "the jsonl sink needs a file path"));
                    None
                }
            },
            SinkKind::Clickhouse => {
                if self.clickhouse.is_none() {
                    problems.push(problem(
                        "clickhouse",
                        "output.sink = \"clickhouse\" needs a [clickhouse] section",
                    ));
                }
                clickhouse.map(|c| SinkChoice::Clickhouse(Box::new(c)))
            }
        };
        if o.sink != SinkKind::Jsonl && o.path.is_some() {
            problems.push(problem("output.path", "only the jsonl sink writes a file"));
        }
        if o.flush_interval_ms == 0 {
            problems.push(problem("output.flush_interval_ms", "must be at least 1"));
        }
        let m = &self.metrics;
        let metrics = if m.enabled {
            match m.listen.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(e) => {
                    problems.push(problem(
                        "metrics.listen",
                        format!("`{}` is not an IP:port address ({e})", m.listen),
                    ));
                    None
                }
            }
        } else {
            None
        };
        if m.interval_ms == 0 {
            problems.push(problem("metrics.interval_ms", "must be at least 1"));
        }
        if let Err(e) = report::schedule::validate_all(&self.reports) {
            problems.push(problem("reports", format!("{e:#}")));
        }
        if !self.reports.is_empty() && self.clickhouse.is_none() {
            problems.push(problem(
                "reports",
                "scheduled reports read ClickHouse: they need a [clickhouse] section",
            ));
        }
        match (decoder, aggregator, sink) {
            (Some(decoder), Some(aggregator), Some(sink)) if problems.is_empty() => {
                Ok(ValidatedConfig {
                    listeners,
                    workers: l.workers,
                    recv_buffer_bytes: l.recv_buffer_bytes,
                    max_datagram_bytes: l.max_datagram_bytes,
                    allowed_exporters: allowed,
                    state_file: l.state_file.clone(),
                    state_save: Duration::from_secs(l.state_save_secs),
                    batch_records: l.batch_records,
                    queue_batches: l.queue_batches,
                    batch_linger: Duration::from_millis(l.batch_linger_ms),
                    decoder,
                    aggregator,
                    sink,
                    raw_flows: o.raw_flows,
                    flush_every: Duration::from_millis(o.flush_interval_ms),
                    metrics,
                    metrics_interval: Duration::from_millis(m.interval_ms),
                })
            }
            _ => Err(Problems(problems)),
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    (line, col)
}

/// The dotted path of the key at `start..end`: the enclosing `[table]` header plus the key, or the
/// header alone when the span is a whole table.
fn path_at(text: &str, start: usize, end: usize) -> String {
    let start = start.min(text.len());
    let end = end.clamp(start, text.len());
    let mut section = String::new();
    for line in text[..start].lines() {
        let t = line.trim();
        if let Some(h) = t.strip_prefix("[[").and_then(|r| r.split("]]").next()) {
            section = h.trim().to_string();
        } else if let Some(h) = t.strip_prefix('[').and_then(|r| r.split(']').next()) {
            section = h.trim().to_string();
        }
    }
    let snippet = text[start..end].trim();
    let is_key = !snippet.is_empty()
        && snippet
            .trim_matches('"')
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.');
    // A span at the start of a line that begins with the key is a key; otherwise the value's key is
    // the text before `=` on the span's line.
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line = &text[line_start..];
    let key = if is_key && text[line_start..start].trim().is_empty() {
        Some(snippet.trim_matches('"').to_string())
    } else {
        line.split_once('=')
            .map(|(k, _)| k.trim().trim_matches('"').to_string())
            .filter(|k| !k.is_empty() && !k.starts_with('['))
    };
    match (section.is_empty(), key) {
        (true, Some(k)) => k,
        (false, Some(k)) => format!("{section}.{k}"),
        (_, None) => section,
    }
}

/// Arguments of `sluice config`.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Parse and validate a config file without opening sockets or files it names. Exit status:
    /// 0 valid, 1 invalid, 2 unreadable.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the reference of every config field (Markdown), from the config types' doc comments.
    Reference,
}

/// Runs `sluice config ...`.
pub fn run(cmd: &ConfigCommand) -> i32 {
    match cmd {
        ConfigCommand::Reference => {
            print!("{}", crate::config_ref::markdown());
            0
        }
        ConfigCommand::Check { file } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return 2;
                }
            };
            match Config::parse(&text).and_then(|c| c.validate()) {
                Ok(v) => {
                    println!(
                        "{}: ok ({} listener(s), {} worker(s) each, sink {})",
                        file.display(),
                        v.listeners.len(),
                        v.workers,
                        match v.sink {
                            SinkChoice::Null => "null",
                            SinkChoice::Jsonl(_) => "jsonl",
                            SinkChoice::Clickhouse(_) => "clickhouse",
                        }
                    );
                    0
                }
                Err(problems) => {
                    for p in &problems.0 {
                        eprintln!("{}: {p}", file.display());
                    }
                    1
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_is_the_default_config() {
        let v = Config::parse("").unwrap().validate().unwrap();
        assert_eq!(v.listeners.len(), 2);
        assert_eq!(v.listeners[0].address, "0.0.0.0:2055".parse().unwrap());
        assert_eq!(v.listeners[1].address, "0.0.0.0:4739".parse().unwrap());
        assert_eq!(v.recv_buffer_bytes, 32 << 20);
        assert_eq!(v.metrics, Some("127.0.0.1:9102".parse().unwrap()));
        assert_eq!(v.sink, SinkChoice::Null);
        assert!(v.allowed_exporters.is_none());
    }

    #[test]
    fn unknown_field_names_its_path_and_position() {
        let e = Config::parse("[listen]\nworkers = 2\nrecv_bufer_bytes = 5\n").unwrap_err();
        let p = &e.0[0];
        assert_eq!(p.path, "listen.recv_bufer_bytes");
        assert!(p.reason.contains("unknown field"), "{p}");
        assert!(p.reason.contains("line 3, column 1"), "{p}");
    }

    #[test]
    fn wrong_type_names_the_key_of_the_value() {
        let e = Config::parse("[metrics]\nenabled = \"yes\"\n").unwrap_err();
        assert_eq!(e.0[0].path, "metrics.enabled");
    }

    #[test]
    fn nested_section_errors_carry_the_section_prefix() {
        let e = Config::parse("[aggregator]\nwindow_secs = 5\n[decoder]\ntemplate_ttl_secs = 0\n")
            .unwrap()
            .validate()
            .unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert!(paths.contains(&"aggregator.window_secs"), "{paths:?}");
        assert!(paths.contains(&"decoder.template_ttl_secs"), "{paths:?}");
    }

    #[test]
    fn bad_listener_and_allowlist_entries_are_reported_by_index() {
        let text = r#"
[listen]
listeners = [{ address = "0.0.0.0:2055" }, { address = "nowhere", protocol = "sflow" }]
allowed_exporters = ["10.0.0.0/8", "10.0.0.1/8"]
"#;
        let e = Config::parse(text).unwrap().validate().unwrap_err();
        let paths: Vec<&str> = e.0.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            ["listen.listeners[1].address", "listen.allowed_exporters[1]"]
        );
    }

    #[test]
    fn jsonl_sink_needs_a_path_and_clickhouse_needs_its_section() {
        let e = Config::parse("[output]\nsink = \"jsonl\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.0[0].path, "output.path");
        let e = Config::parse("[output]\nsink = \"clickhouse\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.0[0].path, "clickhouse");
    }

    #[test]
    fn clickhouse_problems_are_prefixed() {
        let e = Config::parse("[output]\nsink = \"clickhouse\"\n[clickhouse]\nurl = \"ftp://x\"\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.0[0].path, "clickhouse.url");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let e = Config::parse("[listen]\nworkers = = 2\n").unwrap_err();
        assert!(e.0[0].reason.contains("line 2"), "{}", e.0[0]);
    }
}
