//! Aggregator configuration: the serde shape and its validation.
//!
//! Owns: [`AggregatorConfig`] (what an operator writes) and [`ValidatedAggregatorConfig`] (what the
//! core accepts, with lengths already in milliseconds). `validate()` reports every problem at once,
//! each naming the field path, so a typo or an out-of-range value is never silently ignored.
//! Must never: do I/O, read the clock, or accept a value the core cannot honour (for example a window
//! length that would make memory unbounded).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::output::Dimension;

/// Which time of a flow decides its window.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TimeKey {
    /// The flow's start time (`flow_start`).
    Start,
    /// The flow's end time (`flow_end`).
    #[default]
    End,
    /// When the collector received the datagram (`time_received`).
    Received,
}

/// How the aggregator cuts flows into windows and what it keeps per window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregatorConfig {
    /// Window length in seconds. Windows are tumbling and aligned to multiples of this length since
    /// the Unix epoch. Allowed: 10 to 3600.
    #[serde(default = "default_window_secs")]
    pub window_secs: u32,
    /// Which flow time picks the window. Flows that lack it fall back to the receive time.
    #[serde(default)]
    pub time_key: TimeKey,
    /// Spread a flow that spans several windows over them in proportion to time (bytes, packets and
    /// the flow count itself, with integer parts that sum exactly to the whole). Applies when
    /// `time_key` is `start` or `end` and the flow has both times.
    #[serde(default = "default_prorate")]
    pub prorate: bool,
    /// How many windows behind the newest one still accept flows. Older flows are counted late and
    /// put in the oldest window that still accepts flows. Allowed: 0 to 60.
    #[serde(default = "default_allowed_lateness_windows")]
    pub allowed_lateness_windows: u32,
    /// Dimensions to rank keys by; each at most once, at least one.
    #[serde(default = "default_dimensions")]
    pub dimensions: Vec<Dimension>,
    /// How many top keys (by scaled bytes) each window emits per dimension, besides the "other" row.
    /// Allowed: 1 to 100000.
    #[serde(default = "default_top_n")]
    pub top_n: u32,
    /// Distinct keys counted exactly per dimension per window. Past this, that dimension of that
    /// window switches to a heavy-hitter sketch whose rows carry an error bound. At least 1.
    #[serde(default = "default_max_keys_per_window")]
    pub max_keys_per_window: usize,
    /// Counters in the heavy-hitter sketch; unset means `max(10 * top_n, 1024)`. When set, at least
    /// `top_n` and at most 10000000.
    #[serde(default)]
    pub sketch_capacity: Option<usize>,
    /// Aggregator threads. The dimensions are shared out among them (each thread counts whole
    /// dimensions, balanced by an estimated cost), so more threads than dimensions are not used.
    /// 0 means one per core. Allowed: 0 to 64.
    #[serde(default)]
    pub threads: u32,
}

fn default_window_secs() -> u32 {
    60
}
fn default_prorate() -> bool {
    true
}
fn default_allowed_lateness_windows() -> u32 {
    2
}
fn default_dimensions() -> Vec<Dimension> {
    Dimension::FLOW.to_vec()
}
fn default_top_n() -> u32 {
    100
}
fn default_max_keys_per_window() -> usize {
    1_000_000
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        AggregatorConfig {
            window_secs: default_window_secs(),
            time_key: TimeKey::default(),
            prorate: default_prorate(),
            allowed_lateness_windows: default_allowed_lateness_windows(),
            dimensions: default_dimensions(),
            top_n: default_top_n(),
            max_keys_per_window: default_max_keys_per_window(),
            sketch_capacity: None,
            threads: 0,
        }
    }
}

/// Smallest allowed window, seconds.
pub const MIN_WINDOW_SECS: u32 = 10;
/// Largest allowed window, seconds.
pub const MAX_WINDOW_SECS: u32 = 3600;
/// Largest allowed lateness, in windows (bounds the number of open windows).
pub const MAX_LATENESS_WINDOWS: u32 = 60;
/// Largest allowed `top_n`.
pub const MAX_TOP_N: u32 = 100_000;
/// Largest allowed explicit sketch capacity.
pub const MAX_SKETCH_CAPACITY: usize = 10_000_000;
/// Largest `threads`.
pub const MAX_THREADS: u32 = 64;

/// One configuration problem, naming the field it is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// Path of the field, e.g. `window_secs` or `dimensions[2]` (prefixed by [`ConfigError::prefixed`]).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every problem `validate()` found.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The problems, in field order.
    pub problems: Vec<FieldError>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("invalid aggregator config: ")?;
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{}: {}", p.field, p.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// Put `prefix.` in front of every field path (e.g. `aggregator`), for configs that nest this one.
    pub fn prefixed(mut self, prefix: &str) -> Self {
        for p in &mut self.problems {
            p.field = format!("{prefix}.{}", p.field);
        }
        self
    }

    /// True when some problem is about exactly `field`.
    pub fn names(&self, field: &str) -> bool {
        self.problems.iter().any(|p| p.field == field)
    }
}

/// A configuration that passed [`AggregatorConfig::validate`]; the only form the core accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedAggregatorConfig {
    pub(crate) window_secs: u32,
    pub(crate) window_ms: i64,
    pub(crate) time_key: TimeKey,
    pub(crate) prorate: bool,
    pub(crate) lateness_ms: i64,
    pub(crate) dimensions: Vec<Dimension>,
    pub(crate) top_n: usize,
    pub(crate) max_keys_per_window: usize,
    pub(crate) sketch_capacity: usize,
    pub(crate) threads: u32,
}

impl ValidatedAggregatorConfig {
    /// Window length in seconds.
    pub fn window_secs(&self) -> u32 {
        self.window_secs
    }
    /// The configured dimensions, in configuration order.
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dimensions
    }
    /// Aggregator threads asked for (0: one per core).
    pub fn threads(&self) -> usize {
        self.threads as usize
    }
    /// Capacity of the heavy-hitter sketch a dimension falls back to.
    pub fn sketch_capacity(&self) -> usize {
        self.sketch_capacity
    }
}

impl AggregatorConfig {
    /// Check every field; on success, the form [`crate::Aggregator::new`] takes. No I/O.
    pub fn validate(&self) -> Result<ValidatedAggregatorConfig, ConfigError> {
        let mut problems = Vec::new();
        let mut bad = |field: String, message: String| problems.push(FieldError { field, message });

        if !(MIN_WINDOW_SECS..=MAX_WINDOW_SECS).contains(&self.window_secs) {
            bad(
                "window_secs".into(),
                format!(
                    "{} is out of range {MIN_WINDOW_SECS}..={MAX_WINDOW_SECS}",
                    self.window_secs
                ),
            );
        }
        if self.allowed_lateness_windows > MAX_LATENESS_WINDOWS {
            bad(
                "allowed_lateness_windows".into(),
                format!(
                    "{} is more than {MAX_LATENESS_WINDOWS}",
                    self.allowed_lateness_windows
                ),
            );
        }
        if self.dimensions.is_empty() {
            bad(
                "dimensions".into(),
                "must list at least one dimension".into(),
            );
        }
        for (i, d) in self.dimensions.iter().enumerate() {
            if self.dimensions[..i].contains(d) {
                bad(
                    format!("dimensions[{i}]"),
                    format!("{} is listed more than once", d.as_str()),
                );
            }
        }
        if !(1..=MAX_TOP_N).contains(&self.top_n) {
            bad(
                "top_n".into(),
                format!("{} is out of range 1..={MAX_TOP_N}", self.top_n),
            );
        }
        if self.threads > MAX_THREADS {
            bad(
                "threads".into(),
                format!("{} is more than {MAX_THREADS}", self.threads),
            );
        }
        if self.max_keys_per_window == 0 {
            bad("max_keys_per_window".into(), "must be at least 1".into());
        }
        let top_n = self.top_n as usize;
        let sketch_capacity = match self.sketch_capacity {
            Some(c) => {
                if c < top_n || c > MAX_SKETCH_CAPACITY {
                    bad(
                        "sketch_capacity".into(),
                        format!("{c} is out of range top_n ({top_n})..={MAX_SKETCH_CAPACITY}"),
                    );
                }
                c
            }
            None => top_n.saturating_mul(10).max(1024),
        };

        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        let window_ms = i64::from(self.window_secs) * 1000;
        Ok(ValidatedAggregatorConfig {
            window_secs: self.window_secs,
            window_ms,
            time_key: self.time_key,
            prorate: self.prorate,
            lateness_ms: i64::from(self.allowed_lateness_windows) * window_ms,
            dimensions: self.dimensions.clone(),
            top_n,
            max_keys_per_window: self.max_keys_per_window,
            sketch_capacity,
            threads: self.threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate_and_match_the_documented_values() {
        let cfg: AggregatorConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(cfg, AggregatorConfig::default());
        let v = cfg.validate().unwrap();
        assert_eq!(v.window_ms, 60_000);
        assert_eq!(v.time_key, TimeKey::End);
        assert!(v.prorate);
        assert_eq!(v.lateness_ms, 120_000);
        assert_eq!(v.dimensions, Dimension::FLOW.to_vec());
        assert_eq!(v.top_n, 100);
        assert_eq!(v.max_keys_per_window, 1_000_000);
        assert_eq!(v.sketch_capacity, 1024);
    }

    #[test]
    fn rejects_unknown_fields() {
        let err = serde_json::from_str::<AggregatorConfig>(r#"{"window_sec": 60}"#).unwrap_err();
        assert!(err.to_string().contains("window_sec"), "{err}");
    }

    #[test]
    fn parses_dimension_and_time_key_names() {
        let cfg: AggregatorConfig = serde_json::from_str(
            r#"{"time_key": "start", "dimensions": ["src_addr", "app", "in_if"]}"#,
        )
        .unwrap();
        assert_eq!(cfg.time_key, TimeKey::Start);
        assert_eq!(
            cfg.dimensions,
            vec![Dimension::SrcAddr, Dimension::App, Dimension::InIf]
        );
    }

    #[test]
    fn validation_errors_name_every_bad_field() {
        let cfg = AggregatorConfig {
            window_secs: 5,
            allowed_lateness_windows: 61,
            dimensions: vec![Dimension::App, Dimension::Protocol, Dimension::App],
            top_n: 0,
            max_keys_per_window: 0,
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err();
        for field in [
            "window_secs",
            "allowed_lateness_windows",
            "dimensions[2]",
            "top_n",
            "max_keys_per_window",
        ] {
            assert!(err.names(field), "{field} missing from {err}");
        }
        assert_eq!(err.problems.len(), 5);
        let text = err.clone().prefixed("aggregator").to_string();
        assert!(
            text.contains("aggregator.window_secs: 5 is out of range"),
            "{text}"
        );
    }

    #[test]
    fn rejects_window_longer_than_an_hour_and_empty_dimensions() {
        let cfg = AggregatorConfig {
            window_secs: 3601,
            dimensions: vec![],
            ..Default::default()
        };
        let err = cfg.validate().unwrap_err();
        assert!(err.names("window_secs"));
        assert!(err.names("dimensions"));
    }

    #[test]
    fn rejects_sketch_smaller_than_top_n() {
        let cfg = AggregatorConfig {
            top_n: 50,
            sketch_capacity: Some(49),
            ..Default::default()
        };
        assert!(cfg.validate().unwrap_err().names("sketch_capacity"));
        let ok = AggregatorConfig {
            top_n: 50,
            sketch_capacity: Some(50),
            ..Default::default()
        };
        assert_eq!(ok.validate().unwrap().sketch_capacity, 50);
    }
}
