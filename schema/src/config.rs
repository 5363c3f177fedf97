//! ClickHouse settings: what the config file says, and the validated form the writer runs on.
//!
//! Owns: [`ClickhouseConfig`] (serde, `deny_unknown_fields`, a named default for every field),
//! [`RetentionConfig`], and [`ClickhouseConfig::validate`], which checks values and returns a
//! [`ValidatedClickhouseConfig`]. Must never: do I/O in `validate` (reading the password env var or
//! file, connecting, creating the spool directory all happen in `build`/the writer).
//!
//! Secrets never come from argv or from the config file itself: the password is read from the
//! environment variable named by `password_env` or from the file named by `password_file`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::spool::FsyncPolicy;

/// What to do with a new batch when the disk spool is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpoolFullPolicy {
    /// Drop the new batch and count it (`spool_dropped_batches`, `spool_dropped_rows`). Intake never
    /// stalls.
    #[default]
    DropNewest,
    /// Stop taking new batches until replay frees space: the bounded channel fills and the pipeline
    /// waits (backpressure reaches the receive socket).
    Block,
}

/// When the disk spool calls fsync (see `schema/src/spool.rs`, Durability). A process crash loses
/// nothing under any of them; they differ in what a machine crash (power loss, kernel panic) loses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpoolFsync {
    /// Fsync every spooled batch before counting it spooled, and the spool's read position after
    /// every batch replayed: a machine crash loses nothing and replays nothing already inserted.
    #[default]
    Batch,
    /// Fsync at most once per `spool_fsync_interval_ms` (and when a segment file is started or
    /// deleted, and on shutdown): a machine crash loses the batches spooled in the last interval.
    Interval,
    /// Never fsync; the kernel writes back when it likes (typically within 30 s).
    Never,
}

/// How long each table keeps data, in days. Modern servers enforce it with TTL; on legacy servers the
/// application drops whole partitions ([`crate::drop_expired_partitions`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Raw flows (`flows`), days.
    #[serde(default = "default_flows_days")]
    pub flows_days: u32,
    /// Five-minute rollups (`flows_5m`, and `flows_enrich_5m` by country, network and provider), days.
    #[serde(default = "default_flows_5m_days")]
    pub flows_5m_days: u32,
    /// One-hour rollups (`flows_1h`, `flows_enrich_1h`), days; at least `flows_5m_days`.
    #[serde(default = "default_flows_1h_days")]
    pub flows_1h_days: u32,
    /// Window top-N and totals (`window_top`, `window_totals`) and sFlow interface counters
    /// (`interface_counters`), days.
    #[serde(default = "default_windows_days")]
    pub windows_days: u32,
}

fn default_flows_days() -> u32 {
    7
}
fn default_flows_5m_days() -> u32 {
    90
}
fn default_flows_1h_days() -> u32 {
    365
}
fn default_windows_days() -> u32 {
    30
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            flows_days: default_flows_days(),
            flows_5m_days: default_flows_5m_days(),
            flows_1h_days: default_flows_1h_days(),
            windows_days: default_windows_days(),
        }
    }
}

/// The `[clickhouse]` section of the sluice config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClickhouseConfig {
    /// Server URL, `http://` or `https://` (https uses rustls with the webpki roots). No credentials
    /// in the URL.
    #[serde(default = "default_url")]
    pub url: String,
    /// Database that holds the sluice tables; created by `migrate` when missing.
    #[serde(default = "default_database")]
    pub database: String,
    /// User name.
    #[serde(default = "default_user")]
    pub user: String,
    /// Name of an environment variable that holds the password (read at build time, never argv).
    #[serde(default)]
    pub password_env: Option<String>,
    /// Path of a file whose content (trailing newline trimmed) is the password.
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// A batch is sent when it holds this many rows.
    #[serde(default = "default_batch_rows")]
    pub batch_rows: usize,
    /// ...or when its oldest row is this old, milliseconds.
    #[serde(default = "default_batch_age_ms")]
    pub batch_age_ms: u64,
    /// Capacity of the channel between the pipeline and the writer, in `Output` batches. Bounded so
    /// that a slow server slows intake instead of growing memory.
    #[serde(default = "default_channel_batches")]
    pub channel_batches: usize,
    /// Insert requests that may run at once, 1 to 16, on servers of the modern tier; on the legacy
    /// tier (18.16) one runs at a time whatever this says, so that a rollup cut short by a server
    /// crash can be told apart and repaired. Either way the writer encodes the next batch while
    /// inserts run; a batch whose insert fails goes to the spool once every insert still running
    /// has finished, so the spool keeps the order batches were sealed in. Memory holds up to this
    /// many sealed batches besides the one being filled.
    #[serde(default = "default_max_concurrent_inserts")]
    pub max_concurrent_inserts: usize,
    /// Directory of the disk spool that holds batches while the server is unreachable.
    #[serde(default = "default_spool_dir")]
    pub spool_dir: PathBuf,
    /// Upper bound of the spool on disk, bytes.
    #[serde(default = "default_spool_max_bytes")]
    pub spool_max_bytes: u64,
    /// What to do when the spool is full.
    #[serde(default)]
    pub spool_full_policy: SpoolFullPolicy,
    /// Upper bound of the dead-letter directory (`SPOOL_DIR/dead-letter`: batches ClickHouse
    /// refused for good, as sent plus as text, for `sluice spool retry`), bytes. When it is full,
    /// refused batches stay in the spool instead.
    #[serde(default = "default_dead_letter_max_bytes")]
    pub dead_letter_max_bytes: u64,
    /// When the spool calls fsync: `batch` (every batch), `interval`, or `never`.
    #[serde(default)]
    pub spool_fsync: SpoolFsync,
    /// With `spool_fsync = "interval"`: the longest time between two fsyncs while batches are
    /// spooled or replayed, milliseconds. Unset: 1000. Setting it with another `spool_fsync` is an
    /// error.
    #[serde(default)]
    pub spool_fsync_interval_ms: Option<u64>,
    /// First retry delay after a failed insert, milliseconds (doubles per failure, with jitter).
    #[serde(default = "default_retry_initial_ms")]
    pub retry_initial_ms: u64,
    /// Largest retry delay, milliseconds.
    #[serde(default = "default_retry_max_ms")]
    pub retry_max_ms: u64,
    /// Timeout of one insert request (send and end each), milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub request_timeout_ms: u64,
    /// On shutdown, how long `flush` keeps trying to drain the spool before leaving it on disk, ms.
    #[serde(default = "default_flush_timeout_ms")]
    pub flush_timeout_ms: u64,
    /// On servers without TTL (legacy tier), how often the writer drops partitions past retention,
    /// seconds (the first sweep runs at start). 0 turns the sweep off.
    #[serde(default = "default_retention_sweep_secs")]
    pub retention_sweep_secs: u64,
    /// Retention per table.
    #[serde(default)]
    pub retention: RetentionConfig,
}

fn default_url() -> String {
    "http://127.0.0.1:8123".to_string()
}
fn default_database() -> String {
    "sluice".to_string()
}
fn default_user() -> String {
    "default".to_string()
}
fn default_batch_rows() -> usize {
    100_000
}
fn default_batch_age_ms() -> u64 {
    1_000
}
fn default_channel_batches() -> usize {
    16
}
fn default_max_concurrent_inserts() -> usize {
    2
}
fn default_spool_dir() -> PathBuf {
    PathBuf::from("./data/spool")
}
fn default_spool_max_bytes() -> u64 {
    1 << 30
}
fn default_dead_letter_max_bytes() -> u64 {
    256 << 20
}
fn default_spool_fsync_interval_ms() -> u64 {
    1_000
}
fn default_retry_initial_ms() -> u64 {
    100
}
fn default_retry_max_ms() -> u64 {
    10_000
}
fn default_request_timeout_ms() -> u64 {
    30_000
}
fn default_flush_timeout_ms() -> u64 {
    10_000
}
fn default_retention_sweep_secs() -> u64 {
    3_600
}

impl Default for ClickhouseConfig {
    fn default() -> Self {
        ClickhouseConfig {
            url: default_url(),
            database: default_database(),
            user: default_user(),
            password_env: None,
            password_file: None,
            batch_rows: default_batch_rows(),
            batch_age_ms: default_batch_age_ms(),
            channel_batches: default_channel_batches(),
            max_concurrent_inserts: default_max_concurrent_inserts(),
            spool_dir: default_spool_dir(),
            spool_max_bytes: default_spool_max_bytes(),
            spool_full_policy: SpoolFullPolicy::default(),
            dead_letter_max_bytes: default_dead_letter_max_bytes(),
            spool_fsync: SpoolFsync::default(),
            spool_fsync_interval_ms: None,
            retry_initial_ms: default_retry_initial_ms(),
            retry_max_ms: default_retry_max_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            flush_timeout_ms: default_flush_timeout_ms(),
            retention_sweep_secs: default_retention_sweep_secs(),
            retention: RetentionConfig::default(),
        }
    }
}

/// A config value that cannot work.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The field and why.
    #[error("clickhouse.{field}: {reason}")]
    Invalid {
        /// Field name.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Where the password comes from, as validated (not yet read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PasswordSource {
    /// No password.
    None,
    /// An environment variable name.
    Env(String),
    /// A file path.
    File(PathBuf),
}

/// A [`ClickhouseConfig`] whose values were checked; the writer and `migrate` take this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedClickhouseConfig {
    /// Server URL.
    pub url: String,
    /// Database name (checked: `[A-Za-z0-9_]+`).
    pub database: String,
    /// User.
    pub user: String,
    /// Where the password is read from at build time.
    pub password: PasswordSource,
    /// Rows per batch.
    pub batch_rows: usize,
    /// Age bound of a batch.
    pub batch_age: Duration,
    /// Channel capacity.
    pub channel_batches: usize,
    /// Insert requests that may run at once (1..=16).
    pub max_concurrent_inserts: usize,
    /// Spool directory.
    pub spool_dir: PathBuf,
    /// Spool bound, bytes.
    pub spool_max_bytes: u64,
    /// Spool full policy.
    pub spool_full_policy: SpoolFullPolicy,
    /// Dead-letter bound, bytes.
    pub dead_letter_max_bytes: u64,
    /// When the spool fsyncs.
    pub spool_fsync: FsyncPolicy,
    /// First retry delay.
    pub retry_initial: Duration,
    /// Largest retry delay.
    pub retry_max: Duration,
    /// Request timeout.
    pub request_timeout: Duration,
    /// Flush drain timeout.
    pub flush_timeout: Duration,
    /// Legacy-tier retention sweep interval; None when off.
    pub retention_sweep: Option<Duration>,
    /// Retention.
    pub retention: RetentionConfig,
}

/// The share of `spool_max_bytes` the windows writer gets (window rows are a small fraction of raw
/// flows: tens of rows per dimension per window against every record).
pub const WINDOWS_SPOOL_SHARE: u64 = 8;

impl ValidatedClickhouseConfig {
    /// The configs of the two writers `sluice run` starts, so that raw flows and windows never wait
    /// on each other: raw flows keep `spool_dir` and 7/8 of `spool_max_bytes` and of
    /// `dead_letter_max_bytes`; windows get `spool_dir/windows` and the remaining 1/8 (at least
    /// 1 MiB each).
    pub fn split_streams(&self) -> (ValidatedClickhouseConfig, ValidatedClickhouseConfig) {
        let share = |total: u64| {
            let windows = (total / WINDOWS_SPOOL_SHARE).max(1 << 20);
            (total.saturating_sub(windows).max(1 << 20), windows)
        };
        let (flows_spool, windows_spool) = share(self.spool_max_bytes);
        let (flows_dead, windows_dead) = share(self.dead_letter_max_bytes);
        let flows = ValidatedClickhouseConfig {
            spool_max_bytes: flows_spool,
            dead_letter_max_bytes: flows_dead,
            ..self.clone()
        };
        let windows = ValidatedClickhouseConfig {
            spool_dir: self.spool_dir.join("windows"),
            spool_max_bytes: windows_spool,
            dead_letter_max_bytes: windows_dead,
            ..self.clone()
        };
        (flows, windows)
    }
}

/// True for names that can be used unquoted as a ClickHouse identifier.
pub(crate) fn is_plain_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl ClickhouseConfig {
    /// Check every value; no I/O.
    pub fn validate(&self) -> Result<ValidatedClickhouseConfig, ConfigError> {
        let url = self.url.trim().to_string();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| invalid("url", "must start with http:// or https://"))?;
        if rest.is_empty() || rest.starts_with('/') {
            return Err(invalid("url", "has no host"));
        }
        if rest.split('/').next().unwrap_or("").contains('@') {
            return Err(invalid(
                "url",
                "must not contain credentials; use user and password_env/password_file",
            ));
        }
        if !is_plain_identifier(&self.database) {
            return Err(invalid(
                "database",
                "must be 1-64 characters of [A-Za-z0-9_], not starting with a digit",
            ));
        }
        if self.user.is_empty() {
            return Err(invalid("user", "must not be empty"));
        }
        let password = match (&self.password_env, &self.password_file) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "password_env",
                    "set either password_env or password_file, not both",
                ));
            }
            (Some(e), None) if e.is_empty() => {
                return Err(invalid("password_env", "must not be empty"));
            }
            (Some(e), None) => PasswordSource::Env(e.clone()),
            (None, Some(f)) => PasswordSource::File(f.clone()),
            (None, None) => PasswordSource::None,
        };
        if self.batch_rows == 0 || self.batch_rows > 10_000_000 {
            return Err(invalid("batch_rows", "must be in 1..=10000000"));
        }
        if self.batch_age_ms == 0 {
            return Err(invalid("batch_age_ms", "must be > 0"));
        }
        if self.channel_batches == 0 {
            return Err(invalid("channel_batches", "must be > 0"));
        }
        if !(1..=16).contains(&self.max_concurrent_inserts) {
            return Err(invalid("max_concurrent_inserts", "must be in 1..=16"));
        }
        if self.spool_max_bytes < 1 << 20 {
            return Err(invalid("spool_max_bytes", "must be at least 1 MiB"));
        }
        // A flows row is at most ~230 bytes of RowBinary; a batch is also cut at 64 MiB.
        let batch_bytes = (self.batch_rows as u64 * 256).min(64 << 20);
        if self.spool_max_bytes < 4 * batch_bytes {
            return Err(invalid(
                "spool_max_bytes",
                format!(
                    "must hold at least 4 batches ({} bytes for batch_rows = {})",
                    4 * batch_bytes,
                    self.batch_rows
                ),
            ));
        }
        let spool_fsync = match (self.spool_fsync, self.spool_fsync_interval_ms) {
            (SpoolFsync::Interval, ms) => {
                let ms = ms.unwrap_or_else(default_spool_fsync_interval_ms);
                if ms == 0 || ms > 3_600_000 {
                    return Err(invalid(
                        "spool_fsync_interval_ms",
                        "must be in 1..=3600000 (use spool_fsync = \"batch\" to fsync every batch)",
                    ));
                }
                FsyncPolicy::Interval(Duration::from_millis(ms))
            }
            (_, Some(_)) => {
                return Err(invalid(
                    "spool_fsync_interval_ms",
                    "only applies with spool_fsync = \"interval\"",
                ));
            }
            (SpoolFsync::Batch, None) => FsyncPolicy::Batch,
            (SpoolFsync::Never, None) => FsyncPolicy::Never,
        };
        if self.retry_initial_ms == 0 || self.retry_max_ms < self.retry_initial_ms {
            return Err(invalid(
                "retry_max_ms",
                "need 0 < retry_initial_ms <= retry_max_ms",
            ));
        }
        if self.request_timeout_ms == 0 {
            return Err(invalid("request_timeout_ms", "must be > 0"));
        }
        let r = &self.retention;
        for (field, days) in [
            ("retention.flows_days", r.flows_days),
            ("retention.flows_5m_days", r.flows_5m_days),
            ("retention.flows_1h_days", r.flows_1h_days),
            ("retention.windows_days", r.windows_days),
        ] {
            if days == 0 || days > 36_500 {
                return Err(invalid(field, "must be in 1..=36500 days"));
            }
        }
        // Reports read `flows_1h` for the whole hours of a range and `flows_5m` only at its edges:
        // an hour kept in `flows_5m` must be in `flows_1h` too.
        if r.flows_1h_days < r.flows_5m_days {
            return Err(invalid(
                "retention.flows_1h_days",
                "must be at least retention.flows_5m_days (reports read whole hours from flows_1h)",
            ));
        }
        Ok(ValidatedClickhouseConfig {
            url,
            database: self.database.clone(),
            user: self.user.clone(),
            password,
            batch_rows: self.batch_rows,
            batch_age: Duration::from_millis(self.batch_age_ms),
            channel_batches: self.channel_batches,
            max_concurrent_inserts: self.max_concurrent_inserts,
            spool_dir: self.spool_dir.clone(),
            spool_max_bytes: self.spool_max_bytes,
            spool_full_policy: self.spool_full_policy,
            dead_letter_max_bytes: self.dead_letter_max_bytes,
            spool_fsync,
            retry_initial: Duration::from_millis(self.retry_initial_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            flush_timeout: Duration::from_millis(self.flush_timeout_ms),
            retention_sweep: (self.retention_sweep_secs > 0)
                .then(|| Duration::from_secs(self.retention_sweep_secs)),
            retention: self.retention,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_validate() {
        let v = ClickhouseConfig::default().validate().unwrap();
        assert_eq!(v.batch_rows, 100_000);
        assert_eq!(v.batch_age, Duration::from_secs(1));
        assert_eq!(v.spool_max_bytes, 1 << 30);
        assert_eq!(v.max_concurrent_inserts, 2);
        assert_eq!(v.retention.flows_days, 7);
        assert_eq!(v.retention.flows_5m_days, 90);
        assert_eq!(v.retention.flows_1h_days, 365);
    }

    #[test]
    fn rejects_credentials_in_url_and_both_password_sources() {
        let c = ClickhouseConfig {
            url: "http://u:p@127.0.0.1:8123".into(),
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid { field: "url", .. })
        ));
        let c = ClickhouseConfig {
            password_env: Some("X".into()),
            password_file: Some("/x".into()),
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn rejects_database_names_that_need_quoting() {
        for bad in ["", "a-b", "1abc", "a b", "x`y"] {
            let c = ClickhouseConfig {
                database: bad.into(),
                ..Default::default()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_a_spool_too_small_for_four_batches() {
        let c = ClickhouseConfig {
            spool_max_bytes: 1 << 20,
            ..Default::default()
        };
        assert!(matches!(
            c.validate(),
            Err(ConfigError::Invalid {
                field: "spool_max_bytes",
                ..
            })
        ));
        let c = ClickhouseConfig {
            spool_max_bytes: 1 << 20,
            batch_rows: 1000,
            ..Default::default()
        };
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_zero_retention_and_zero_batch() {
        let mut c = ClickhouseConfig::default();
        c.retention.flows_days = 0;
        assert!(c.validate().is_err());
        let c = ClickhouseConfig {
            batch_rows: 0,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn max_concurrent_inserts_is_bounded() {
        let parse = |v: &str| -> Result<usize, String> {
            let c: ClickhouseConfig = toml::from_str(&format!("max_concurrent_inserts = {v}"))
                .map_err(|e| e.to_string())?;
            c.validate()
                .map(|v| v.max_concurrent_inserts)
                .map_err(|e| e.to_string())
        };
        assert_eq!(parse("1"), Ok(1));
        assert_eq!(parse("16"), Ok(16));
        for bad in ["0", "17"] {
            let e = parse(bad).unwrap_err();
            assert!(
                e.contains("clickhouse.max_concurrent_inserts"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn parses_and_validates_the_fsync_policies() {
        let parse = |extra: &str| -> Result<ValidatedClickhouseConfig, String> {
            let c: ClickhouseConfig = toml::from_str(extra).map_err(|e| e.to_string())?;
            c.validate().map_err(|e| e.to_string())
        };
        assert_eq!(parse("").unwrap().spool_fsync, FsyncPolicy::Batch);
        assert_eq!(
            parse("spool_fsync = \"batch\"").unwrap().spool_fsync,
            FsyncPolicy::Batch
        );
        assert_eq!(
            parse("spool_fsync = \"never\"").unwrap().spool_fsync,
            FsyncPolicy::Never
        );
        assert_eq!(
            parse("spool_fsync = \"interval\"").unwrap().spool_fsync,
            FsyncPolicy::Interval(Duration::from_secs(1))
        );
        assert_eq!(
            parse("spool_fsync = \"interval\"\nspool_fsync_interval_ms = 250")
                .unwrap()
                .spool_fsync,
            FsyncPolicy::Interval(Duration::from_millis(250))
        );
        let zero = parse("spool_fsync = \"interval\"\nspool_fsync_interval_ms = 0").unwrap_err();
        assert!(zero.contains("spool_fsync_interval_ms"), "{zero}");
        let stray = parse("spool_fsync_interval_ms = 250").unwrap_err();
        assert!(stray.contains("only applies"), "{stray}");
        let typo = parse("spool_fsync = \"always\"").unwrap_err();
        assert!(typo.contains("unknown variant"), "{typo}");
    }
}
