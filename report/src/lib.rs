//! Reports (the "report" step of the pipeline): the SQL library (`sql/*.sql`, inside this crate),
//! running it against either server tier, rendering the results as a terminal table, CSV, JSON or a
//! self-contained HTML page, and running `[[reports]]` on cron schedules with webhooks
//! ([`schedule`], [`webhook`]).
//!
//! Owns: [`ReportKind`] and the validated [`ReportRequest`] (every user value is typed here: an
//! exporter is an [`IpAddr`], an interface a `u32`, a filter a typed [`filter::FilterExpr`], so
//! nothing a user types reaches SQL text), the choice of the coarsest table that answers a
//! request ([`choose_source`]), [`run_report`] which
//! returns a [`Report`] (columns, rows, totals, chart data), and the renderers in [`render`] and
//! [`html`] (picked by [`Format`]). Must never: write to any flow table, read the clock (`generated_at` is a parameter), or put
//! a caller's value into SQL text (values are bound with `?`; the only substitutions are table and
//! column names from [`library::Source`]).
//!
//! The same SQL runs on both tiers: addresses are compared and returned as `hex()` of the 16 stored
//! bytes (FixedString(16) on 18.16, IPv6 on modern servers), buckets use `intDiv` arithmetic (no
//! `toStartOfInterval` on 18.16), rollups are always re-aggregated with `GROUP BY`.

pub mod explore;
pub mod fields;
pub mod filter;
pub mod format;
pub mod html;
pub mod library;
pub mod live;
pub mod names;
mod query;
pub mod render;
pub mod schedule;
pub mod webhook;

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

/// The client reports run on (re-exported so callers need not depend on `clickhouse`).
pub use clickhouse::Client;
pub use format::Format;
pub use library::Source;
pub use query::{choose_source, run_report};

/// What a report went wrong on.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A parameter that cannot be used (named, with the reason).
    #[error("invalid {param}: {reason}")]
    Invalid {
        /// The parameter.
        param: &'static str,
        /// Why.
        reason: String,
    },
    /// The server failed the query.
    #[error("clickhouse ({query}): {source}")]
    Query {
        /// `file/query` of the library.
        query: String,
        /// Client error.
        #[source]
        source: clickhouse::error::Error,
    },
    /// A bug: the library and the code disagree.
    #[error("internal: {0}")]
    Internal(String),
}

pub(crate) fn invalid(param: &'static str, reason: impl Into<String>) -> ReportError {
    ReportError::Invalid {
        param,
        reason: reason.into(),
    }
}

/// The kinds of report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReportKind {
    /// Top sources, destinations or pairs.
    TopTalkers,
    /// Top protocol + service port.
    TopApps,
    /// IP protocol mix.
    Protocols,
    /// bps/pps time series.
    Traffic,
    /// Per-interface in/out rates and utilisation.
    Interfaces,
    /// Source x destination (AS or subnet).
    Matrix,
    /// Exporter health.
    Exporters,
    /// Traffic by source or destination country (enrichment).
    Countries,
    /// Traffic by source or destination network name (enrichment).
    Networks,
    /// Traffic by input or output interface provider (enrichment).
    Providers,
}

impl ReportKind {
    /// Every kind.
    pub const ALL: [ReportKind; 10] = [
        ReportKind::TopTalkers,
        ReportKind::TopApps,
        ReportKind::Protocols,
        ReportKind::Traffic,
        ReportKind::Interfaces,
        ReportKind::Matrix,
        ReportKind::Exporters,
        ReportKind::Countries,
        ReportKind::Networks,
        ReportKind::Providers,
    ];

    /// The CLI name (`top-talkers`).
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::TopTalkers => "top-talkers",
            ReportKind::TopApps => "top-apps",
            ReportKind::Protocols => "protocols",
            ReportKind::Traffic => "traffic",
            ReportKind::Interfaces => "interfaces",
            ReportKind::Matrix => "matrix",
            ReportKind::Exporters => "exporters",
            ReportKind::Countries => "countries",
            ReportKind::Networks => "networks",
            ReportKind::Providers => "providers",
        }
    }

    /// Human title.
    pub fn title(self) -> &'static str {
        match self {
            ReportKind::TopTalkers => "Top talkers",
            ReportKind::TopApps => "Top applications",
            ReportKind::Protocols => "Protocol mix",
            ReportKind::Traffic => "Traffic",
            ReportKind::Interfaces => "Interfaces",
            ReportKind::Matrix => "Traffic matrix",
            ReportKind::Exporters => "Exporter health",
            ReportKind::Countries => "Countries",
            ReportKind::Networks => "Networks",
            ReportKind::Providers => "Providers",
        }
    }
}

impl fmt::Display for ReportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ReportKind {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ReportKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                invalid(
                    "kind",
                    format!(
                        "{:?} is not one of {}",
                        truncate(s),
                        ReportKind::ALL.map(ReportKind::as_str).join(", ")
                    ),
                )
            })
    }
}

/// What `--by` groups by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum By {
    /// Source address (top-talkers), country or network (countries, networks).
    Src,
    /// Destination address (top-talkers), country or network (countries, networks).
    Dst,
    /// Source and destination (top-talkers).
    Pair,
    /// IP protocol (traffic series).
    Protocol,
    /// Exporter (traffic series).
    Exporter,
    /// Input interface (providers).
    In,
    /// Output interface (providers).
    Out,
}

impl By {
    /// CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            By::Src => "src",
            By::Dst => "dst",
            By::Pair => "pair",
            By::Protocol => "protocol",
            By::Exporter => "exporter",
            By::In => "in",
            By::Out => "out",
        }
    }
}

impl FromStr for By {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "src" => By::Src,
            "dst" => By::Dst,
            "pair" => By::Pair,
            "protocol" => By::Protocol,
            "exporter" => By::Exporter,
            "in" => By::In,
            "out" => By::Out,
            _ => {
                return Err(invalid(
                    "by",
                    format!(
                        "{:?} is not one of src, dst, pair, protocol, exporter, in, out",
                        truncate(s)
                    ),
                ));
            }
        })
    }
}

/// Time step of the traffic series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Step {
    /// One minute (raw flows).
    Minute,
    /// Five minutes (`flows_5m`).
    FiveMinutes,
    /// One hour (`flows_1h`).
    Hour,
}

impl Step {
    /// Seconds.
    pub fn secs(self) -> u32 {
        match self {
            Step::Minute => 60,
            Step::FiveMinutes => 300,
            Step::Hour => 3600,
        }
    }
    /// CLI name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Minute => "1m",
            Step::FiveMinutes => "5m",
            Step::Hour => "1h",
        }
    }
}

impl FromStr for Step {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "1m" => Step::Minute,
            "5m" => Step::FiveMinutes,
            "1h" => Step::Hour,
            _ => {
                return Err(invalid(
                    "step",
                    format!("{:?} is not one of 1m, 5m, 1h", truncate(s)),
                ));
            }
        })
    }
}

/// Which table to read, when the caller wants to choose (`--source`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SourcePref {
    /// The coarsest table that answers the request.
    #[default]
    Auto,
    /// Raw `flows`.
    Raw,
    /// `window_top` / `window_totals` (top-talkers only).
    Windows,
    /// `flows_5m`.
    Rollup5m,
    /// `flows_1h`.
    Rollup1h,
}

impl FromStr for SourcePref {
    type Err = ReportError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "auto" => SourcePref::Auto,
            "raw" | "flows" => SourcePref::Raw,
            "windows" => SourcePref::Windows,
            "5m" | "flows_5m" => SourcePref::Rollup5m,
            "1h" | "flows_1h" => SourcePref::Rollup1h,
            _ => {
                return Err(invalid(
                    "source",
                    format!("{:?} is not one of auto, raw, windows, 5m, 1h", truncate(s)),
                ));
            }
        })
    }
}

/// A half-open time range `[from, to)` in Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// Start, inclusive.
    pub from: i64,
    /// End, exclusive.
    pub to: i64,
}

/// Longest range a report accepts (400 days).
pub const MAX_RANGE_SECS: i64 = 400 * 86_400;

impl TimeRange {
    /// A checked range: `from < to`, both within `DateTime` (1970..2106), at most [`MAX_RANGE_SECS`].
    pub fn new(from: i64, to: i64) -> Result<TimeRange, ReportError> {
        if from < 0 || to > i64::from(u32::MAX) {
            return Err(invalid("range", "times must be between 1970 and 2106"));
        }
        if from >= to {
            return Err(invalid("range", "from must be before to"));
        }
        if to - from > MAX_RANGE_SECS {
            return Err(invalid("range", "longer than 400 days"));
        }
        Ok(TimeRange { from, to })
    }

    /// The range of length `last` ending at `now`.
    pub fn last(now: i64, last_secs: i64) -> Result<TimeRange, ReportError> {
        TimeRange::new(now - last_secs, now)
    }

    /// Length in seconds.
    pub fn secs(&self) -> i64 {
        self.to - self.from
    }
}

/// Parse a duration like `1h`, `24h`, `7d`, `30m`, `90s` into seconds.
pub fn parse_duration(s: &str) -> Result<i64, ReportError> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n.parse().map_err(|_| {
        invalid(
            "last",
            format!("{:?} is not like 1h, 24h or 7d", truncate(s)),
        )
    })?;
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(invalid(
                "last",
                format!("{:?} is not like 1h, 24h or 7d", truncate(s)),
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0 && *v <= MAX_RANGE_SECS)
        .ok_or_else(|| invalid("last", "must be between 1s and 400d"))
}

/// A hostile value shortened for error messages.
pub(crate) fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Largest `--limit`.
pub const MAX_LIMIT: u32 = 10_000;

/// Everything a report needs, checked ([`ReportRequest::validate`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportRequest {
    /// Which report.
    pub kind: ReportKind,
    /// Time range.
    pub range: TimeRange,
    /// Only flows from this exporter.
    pub exporter: Option<IpAddr>,
    /// Only flows in or out of this interface (ifIndex).
    pub interface: Option<u32>,
    /// Grouping (top-talkers: src/dst/pair; traffic: protocol/exporter; countries, networks:
    /// src/dst; providers: in/out).
    pub by: Option<By>,
    /// Rows (top N).
    pub limit: u32,
    /// Traffic step; chosen from the range when None.
    pub step: Option<Step>,
    /// Matrix: IPv4 prefix length for subnets (None: AS matrix).
    pub prefix: Option<u8>,
    /// Matrix: IPv6 prefix length for subnets.
    pub prefix6: u8,
    /// Table choice.
    pub source: SourcePref,
    /// Only flows that match this filter expression (`--filter`). A field the chosen table does not
    /// hold makes the report read a table that does (raw `flows` at worst).
    pub filter: Option<filter::FilterExpr>,
    /// The server's address column type. [`run_report`] asks the server when the request compares
    /// addresses (an exporter, or an address field in the filter) and this is `None`.
    pub addr: Option<filter::AddrType>,
}

impl ReportRequest {
    /// A request with defaults for everything but kind and range.
    pub fn new(kind: ReportKind, range: TimeRange) -> ReportRequest {
        ReportRequest {
            kind,
            range,
            exporter: None,
            interface: None,
            by: None,
            limit: 10,
            step: None,
            prefix: None,
            prefix6: 64,
            source: SourcePref::Auto,
            filter: None,
            addr: None,
        }
    }

    /// Check that the parameters fit the kind. No I/O.
    pub fn validate(&self) -> Result<(), ReportError> {
        TimeRange::new(self.range.from, self.range.to)?;
        if self.limit == 0 || self.limit > MAX_LIMIT {
            return Err(invalid("limit", format!("must be in 1..={MAX_LIMIT}")));
        }
        if let Some(by) = self.by {
            let ok = match self.kind {
                ReportKind::TopTalkers => matches!(by, By::Src | By::Dst | By::Pair),
                ReportKind::Traffic => matches!(by, By::Protocol | By::Exporter),
                ReportKind::Countries | ReportKind::Networks => matches!(by, By::Src | By::Dst),
                ReportKind::Providers => matches!(by, By::In | By::Out),
                _ => false,
            };
            if !ok {
                return Err(invalid(
                    "by",
                    format!("--by {} does not apply to {}", by.as_str(), self.kind),
                ));
            }
        }
        if self.step.is_some() && self.kind != ReportKind::Traffic {
            return Err(invalid("step", "only traffic has a step"));
        }
        if let Some(p) = self.prefix {
            if self.kind != ReportKind::Matrix {
                return Err(invalid("prefix", "only matrix takes a prefix"));
            }
            if p > 32 {
                return Err(invalid("prefix", "IPv4 prefix must be 0..=32"));
            }
        }
        if self.prefix6 > 128 {
            return Err(invalid("prefix6", "IPv6 prefix must be 0..=128"));
        }
        if self.source == SourcePref::Windows && self.kind != ReportKind::TopTalkers {
            return Err(invalid("source", "only top-talkers reads the windows"));
        }
        if self.filter.is_some() && self.kind == ReportKind::Exporters {
            return Err(invalid(
                "filter",
                "exporters does not take a filter (it reports on the exporters, not on flows)",
            ));
        }
        Ok(())
    }

    /// The filters as (name, value) text, for report headers.
    pub fn filter_text(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(e) = self.exporter {
            out.push(("exporter".into(), e.to_string()));
        }
        if let Some(i) = self.interface {
            out.push(("interface".into(), i.to_string()));
        }
        if let Some(b) = self.by {
            out.push(("by".into(), b.as_str().into()));
        }
        if let Some(p) = self.prefix {
            out.push(("prefix".into(), format!("/{p} (IPv6 /{})", self.prefix6)));
        }
        if let Some(f) = &self.filter {
            out.push(("filter".into(), f.to_text()));
        }
        out
    }
}

/// How a column's numbers read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unit {
    /// Text.
    Text,
    /// A plain integer (ifIndex, AS, port, rank).
    Id,
    /// A count (flows).
    Count,
    /// Bytes.
    Bytes,
    /// Packets.
    Packets,
    /// Bits per second.
    Bps,
    /// Packets per second.
    Pps,
    /// Per second (flows/s).
    PerSec,
    /// Percent.
    Percent,
    /// Unix seconds, shown as UTC time.
    Time,
    /// Milliseconds.
    Millis,
    /// Seconds (signed, fractional).
    Seconds,
}

/// One column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Machine name (CSV header, JSON key).
    pub key: String,
    /// Human title.
    pub title: String,
    /// How values read.
    pub unit: Unit,
}

impl Column {
    pub(crate) fn new(key: &str, title: &str, unit: Unit) -> Column {
        Column {
            key: key.into(),
            title: title.into(),
            unit,
        }
    }
}

/// One cell.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// No value (unknown).
    Null,
    /// Text.
    Text(String),
    /// Unsigned number.
    UInt(u64),
    /// Signed number.
    Int(i64),
    /// Real number.
    Float(f64),
}

impl Value {
    /// As a float, when numeric.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::UInt(v) => Some(*v as f64),
            Value::Int(v) => Some(*v as f64),
            Value::Float(v) => Some(*v),
            _ => None,
        }
    }
}

/// One row.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Cells, one per column.
    pub cells: Vec<Value>,
    /// True for the "other" row (everything not in the top N).
    pub other: bool,
}

/// Range totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Totals {
    /// Scaled bytes.
    pub bytes: u64,
    /// Scaled packets.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
}

/// One series of a stacked chart.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Label.
    pub name: String,
    /// One value per bucket.
    pub values: Vec<f64>,
}

/// What the HTML page draws above the table.
#[derive(Clone, Debug, PartialEq)]
pub enum Chart {
    /// No chart.
    None,
    /// A horizontal bar per row (the "other" row excluded).
    Bars {
        /// Columns whose text labels a bar (joined with an arrow).
        labels: Vec<usize>,
        /// Columns whose numbers size the bars (one bar per column per row, side by side).
        values: Vec<usize>,
    },
    /// A stacked area chart over time.
    Stacked {
        /// Bucket starts, Unix seconds.
        buckets: Vec<i64>,
        /// Series, stacked in order.
        series: Vec<Series>,
        /// Unit of the values.
        unit: Unit,
    },
}

/// A finished report.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// Which report.
    pub kind: ReportKind,
    /// Title.
    pub title: String,
    /// Range covered.
    pub range: TimeRange,
    /// Filters, as text.
    pub filters: Vec<(String, String)>,
    /// Tables read.
    pub source: String,
    /// When it was made, Unix seconds.
    pub generated_at: i64,
    /// Columns.
    pub columns: Vec<Column>,
    /// Rows.
    pub rows: Vec<Row>,
    /// Totals over the range, when the report has them.
    pub totals: Option<Totals>,
    /// Chart.
    pub chart: Chart,
    /// Caveats (e.g. partial buckets).
    pub notes: Vec<String>,
}

impl Report {
    /// Index of a column by key.
    pub fn column(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_durations_and_rejects_junk() {
        assert_eq!(parse_duration("1h").unwrap(), 3600);
        assert_eq!(parse_duration("24h").unwrap(), 86_400);
        assert_eq!(parse_duration("7d").unwrap(), 604_800);
        for bad in [
            "",
            "h",
            "1y",
            "1h; DROP TABLE flows",
            "-1h",
            "0h",
            "99999999999999d",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_parameters_that_do_not_fit_the_kind() {
        let r = TimeRange::new(0, 3600).unwrap();
        let mut q = ReportRequest::new(ReportKind::Protocols, r);
        q.by = Some(By::Src);
        assert!(q.validate().is_err());
        let mut q = ReportRequest::new(ReportKind::Matrix, r);
        q.prefix = Some(33);
        assert!(q.validate().is_err());
        let mut q = ReportRequest::new(ReportKind::TopTalkers, r);
        q.limit = 0;
        assert!(q.validate().is_err());
        q.limit = 10;
        q.by = Some(By::Pair);
        assert!(q.validate().is_ok());
        for (kind, good, bad) in [
            (ReportKind::Countries, By::Dst, By::In),
            (ReportKind::Networks, By::Src, By::Pair),
            (ReportKind::Providers, By::Out, By::Src),
        ] {
            let mut q = ReportRequest::new(kind, r);
            q.by = Some(good);
            assert!(q.validate().is_ok(), "{kind} --by {}", good.as_str());
            q.by = Some(bad);
            assert!(q.validate().is_err(), "{kind} --by {}", bad.as_str());
            q.by = None;
            q.source = SourcePref::Windows;
            assert!(q.validate().is_err(), "{kind} --source windows");
        }
        assert!(TimeRange::new(10, 10).is_err());
        assert!(TimeRange::new(-1, 10).is_err());
    }

    #[test]
    fn kind_names_round_trip_and_hostile_names_are_rejected() {
        for k in ReportKind::ALL {
            assert_eq!(k.as_str().parse::<ReportKind>().unwrap(), k);
        }
        let e = "top-talkers'; DROP TABLE flows; --"
            .parse::<ReportKind>()
            .unwrap_err();
        assert!(e.to_string().contains("invalid kind"));
    }
}
