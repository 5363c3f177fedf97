//! The top-level `sluice.toml`: what `sluice run` reads and `sluice config check` validates.
//!
//! Owns: the [`Config`] serde shape (every struct `deny_unknown_fields`, a named default function
//! per defaulted field, a doc comment per field), its two-step validation ([`Config::validate`]
//! does no I/O and returns a [`ValidatedConfig`]; `sluice run` does the I/O), and error reporting
//! that names the field path (`listen.recv_buffer_bytes`) and, for TOML syntax, line and column.
//! The `[listen]`, `[decoder]`, `[aggregator]`, `[clickhouse]`, `[[reports]]`, `[enrich]` and `[web]`
//! sections are the crates' own config types; this file composes them and adds `[output]` and `[metrics]`.
//! Must never: open files or sockets, or read the environment, while validating.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use aggregator::{AggregatorConfig, ValidatedAggregatorConfig};
use collector::listen::{ListenConfig, ValidatedListen};
use collector::{DecoderConfig, DecoderSettings};
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
    /// Enrichment: network names by prefix, interface names and classification, GeoIP country
    /// and AS. Off when the section is absent. Reloaded on SIGHUP, and when a GeoIP file changes.
    #[serde(default)]
    pub enrich: Option<enrich::EnrichConfig>,
    /// The JSON API and the web console. Served by `sluice run` when the section is present (and
    /// by `sluice web`); loopback only unless `[web.auth]` is set.
    #[serde(default)]
    pub web: Option<web::WebConfig>,
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
    /// Most exporters with `sluice_exporter_*` series of their own. Only exporters that are known
    /// (they sent a decoded record or a template) or inside `listen.allowed_exporters` get one,
    /// first come first served; the rest are summed into `exporter="other"`, so a flood from
    /// spoofed addresses cannot grow the metrics without bound. 0: every exporter is in `other`.
    #[serde(default = "default_max_exporter_series")]
    pub max_exporter_series: usize,
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
fn default_max_exporter_series() -> usize {
    1000
}
/// Upper bound of `metrics.max_exporter_series` (the decoders track at most this many exporters
/// each, too).
const MAX_EXPORTER_SERIES: usize = collector::decoder::MAX_TRACKED_EXPORTERS;

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            enabled: default_metrics_enabled(),
            listen: default_metrics_listen(),
            interval_ms: default_metrics_interval_ms(),
            max_exporter_series: default_max_exporter_series(),
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

/// A config that passed [`Config::validate`]; the only form `sluice run` accepts.
#[derive(Clone, Debug)]
pub struct ValidatedConfig {
    /// Listeners, workers, batching and the allowlist.
    pub listen: ValidatedListen,
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
    /// Most exporters with series of their own.
    pub max_exporter_series: usize,
    /// Enrichment (checked by `validate`; the databases are opened at start).
    pub enrich: Option<enrich::EnrichConfig>,
    /// The file the config was read from (SIGHUP re-reads its `[enrich]` section).
    pub config_path: Option<PathBuf>,
    /// The API and console, when `[web]` is present.
    pub web: Option<web::ValidatedWebConfig>,
    /// The scheduled reports (the console's Reports page lists them).
    pub reports: Vec<report::schedule::ValidReport>,
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
        let listen = self
            .listen
            .validate("listen")
            .map_err(|errs| {
                for e in errs {
                    problems.push(problem(e.path, e.reason));
                }
            })
            .ok();
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
        if m.max_exporter_series > MAX_EXPORTER_SERIES {
            problems.push(problem(
                "metrics.max_exporter_series",
                format!("must be at most {MAX_EXPORTER_SERIES}"),
            ));
        }
        let reports = report::schedule::validate_all(&self.reports).unwrap_or_else(|e| {
            problems.push(problem("reports", format!("{e:#}")));
            Vec::new()
        });
        let web = self.web.as_ref().and_then(|w| {
            w.validate()
                .map_err(|e| problems.push(problem(format!("web.{}", e.field), e.reason)))
                .ok()
        });
        if let Some(e) = &self.enrich
            && let Err(err) = e.validate()
        {
            problems.push(problem(err.key.clone(), err.reason.clone()));
        }
        if self.enrich.is_none() {
            for d in &self.aggregator.dimensions {
                if d.needs_enrichment() {
                    problems.push(problem(
                        "aggregator.dimensions",
                        format!(
                            "`{}` is filled by enrichment: it needs an [enrich] section",
                            d.as_str()
                        ),
                    ));
                }
            }
        }
        if !self.reports.is_empty() && self.clickhouse.is_none() {
            problems.push(problem(
                "reports",
                "scheduled reports read ClickHouse: they need a [clickhouse] section",
            ));
        }
        match (listen, decoder, aggregator, sink) {
            (Some(listen), Some(decoder), Some(aggregator), Some(sink)) if problems.is_empty() => {
                Ok(ValidatedConfig {
                    listen,
                    decoder,
                    aggregator,
                    sink,
                    raw_flows: o.raw_flows,
                    flush_every: Duration::from_millis(o.flush_interval_ms),
                    metrics,
                    metrics_interval: Duration::from_millis(m.interval_ms),
                    max_exporter_series: m.max_exporter_series,
                    enrich: self.enrich.clone(),
                    config_path: None,
                    web,
                    reports,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrichment_dimensions_need_an_enrich_section() {
        let text =
            "[aggregator]\ndimensions = [\"src_addr\", \"src_country\", \"in_if_provider\"]\n";
        let err = Config::parse(text)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`src_country` is filled by enrichment"),
            "{err}"
        );
        assert!(
            err.contains("`in_if_provider` is filled by enrichment"),
            "{err}"
        );
        let ok = format!("{text}[enrich]\n");
        let v = Config::parse(&ok).unwrap().validate().unwrap();
        assert!(v.enrich.is_some());
        let bad = format!("{text}[enrich]\n[[enrich.networks]]\ncidr = \"10.0.0.1/8\"\n");
        let err = Config::parse(&bad)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("enrich.networks[0].cidr"), "{err}");
    }

    #[test]
    fn an_empty_file_is_the_default_config() {
        let v = Config::parse("").unwrap().validate().unwrap();
        assert_eq!(v.listen.listeners.len(), 2);
        assert_eq!(
            v.listen.listeners[0].address,
            "0.0.0.0:2055".parse().unwrap()
        );
        assert_eq!(
            v.listen.listeners[1].address,
            "0.0.0.0:4739".parse().unwrap()
        );
        assert_eq!(v.listen.recv_buffer_bytes, 32 << 20);
        assert_eq!(v.metrics, Some("127.0.0.1:9102".parse().unwrap()));
        assert_eq!(v.sink, SinkChoice::Null);
        assert!(v.listen.allowed_exporters.is_none());
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
    fn exporter_series_cap_defaults_to_1000_and_is_bounded() {
        let v = Config::parse("").unwrap().validate().unwrap();
        assert_eq!(v.max_exporter_series, 1000);
        let v = Config::parse("[metrics]\nmax_exporter_series = 0\n")
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v.max_exporter_series, 0);
        let e = Config::parse("[metrics]\nmax_exporter_series = 100001\n")
            .unwrap()
            .validate()
            .unwrap_err();
        assert_eq!(e.0[0].path, "metrics.max_exporter_series");
    }

    #[test]
    fn syntax_errors_give_line_and_column() {
        let e = Config::parse("[listen]\nworkers = = 2\n").unwrap_err();
        assert!(e.0[0].reason.contains("line 2"), "{}", e.0[0]);
    }
}
