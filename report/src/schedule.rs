//! Scheduled reports: the `[[reports]]` config entries, the cron loop that runs them (inside
//! `sluice run` or alone with `sluice schedule`), the files they write, the `index.html` that lists
//! them, and the webhook summary.
//!
//! Owns: [`ScheduledReport`] (serde, `deny_unknown_fields`) and its validated form
//! [`ValidReport`] (cron expression of 5 fields in a named IANA time zone, typed report
//! parameters, formats, output directory, webhook URL), [`next_fire`] (pure: no clock),
//! [`run_once`] (one report for one period: query, render, write, index, webhook) and
//! [`run_scheduler`] (the loop; the only place here that reads the clock).
//!
//! Must never: block ingest (the loop is its own task, every run has a timeout, and it only reads
//! ClickHouse), retry in a tight loop (a failed run is logged, counted in [`COUNTERS`] and the
//! `sluice_report_runs_total` metric, and tried again at the next tick), or send anything but the
//! summary to the configured webhook.
//!
//! Files: `OUTPUT_DIR/NAME-FROM-TO.EXT` with UTC stamps (`daily-20261125T0000Z-20261126T0000Z.html`),
//! written to a temporary name and renamed, so a reader never sees half a file. `index.json` keeps
//! the list of runs and `index.html` is rewritten from it after every run.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::TimeZone;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

use crate::format::Format;
use crate::html::escape;
use crate::names::{file_stamp, rfc3339};
use crate::render::summary;
use crate::webhook::post_json;
use crate::{
    By, ReportKind, ReportRequest, SourcePref, Step, TimeRange, parse_duration, run_report,
};
use serde::{Deserialize, Serialize};

/// Why a scheduled report could not be set up or run: the message names the report and the part
/// that failed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ScheduleError(pub String);

impl From<crate::ReportError> for ScheduleError {
    fn from(e: crate::ReportError) -> Self {
        ScheduleError(e.to_string())
    }
}

/// `ScheduleError` from a format string.
macro_rules! err {
    ($($t:tt)*) => { ScheduleError(format!($($t)*)) };
}
/// `return Err(ScheduleError)` from a format string.
macro_rules! fail {
    ($($t:tt)*) => { return Err(err!($($t)*)) };
}

/// Puts what was being done in front of an error.
trait Ctx<T> {
    fn ctx<C: std::fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T, ScheduleError>;
    fn ctx_str(self, what: &str) -> Result<T, ScheduleError>;
}

impl<T, E: std::fmt::Display> Ctx<T> for Result<T, E> {
    fn ctx<C: std::fmt::Display>(self, what: impl FnOnce() -> C) -> Result<T, ScheduleError> {
        self.map_err(|e| err!("{}: {e}", what()))
    }
    fn ctx_str(self, what: &str) -> Result<T, ScheduleError> {
        self.map_err(|e| err!("{what}: {e}"))
    }
}

/// One `[[reports]]` entry of the config file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduledReport {
    /// Name: 1-64 characters of `[A-Za-z0-9_-]`; used in file names and in the webhook summary.
    pub name: String,
    /// Cron expression with 5 fields (minute hour day-of-month month day-of-week), e.g.
    /// `0 7 * * *` for 07:00 every day in `timezone`.
    pub schedule: String,
    /// IANA time zone the schedule is read in (`Europe/Paris`); default `UTC`.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Report kind: top-talkers, top-apps, protocols, traffic, interfaces, matrix, exporters,
    /// countries, networks, providers.
    pub kind: String,
    /// Period covered, ending at the scheduled time: `1h`, `24h`, `7d`...; default `24h`.
    #[serde(default = "default_last")]
    pub last: String,
    /// Only flows from this exporter (an IP address).
    #[serde(default)]
    pub exporter: Option<String>,
    /// Only flows in or out of this ifIndex.
    #[serde(default)]
    pub interface: Option<u32>,
    /// Grouping: src/dst/pair (top-talkers), protocol/exporter (traffic), src/dst (countries,
    /// networks), in/out (providers).
    #[serde(default)]
    pub by: Option<String>,
    /// Rows in a top N; default 10.
    #[serde(default = "default_limit")]
    pub limit: u32,
    /// Traffic step: 1m, 5m or 1h; chosen from the period when unset.
    #[serde(default)]
    pub step: Option<String>,
    /// Matrix by subnet: IPv4 prefix length (unset: AS matrix).
    #[serde(default)]
    pub prefix: Option<u8>,
    /// Matrix by subnet: IPv6 prefix length; default 64.
    #[serde(default = "default_prefix6")]
    pub prefix6: u8,
    /// Formats written each run: any of html, csv, json, table; default `["html"]`.
    #[serde(default = "default_formats")]
    pub formats: Vec<String>,
    /// Directory for the files and `index.html` (created when missing).
    pub output_dir: PathBuf,
    /// URL that gets a JSON summary (POST) after each run: `http://` or `https://`.
    #[serde(default)]
    pub webhook: Option<String>,
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_last() -> String {
    "24h".into()
}
fn default_limit() -> u32 {
    10
}
fn default_prefix6() -> u8 {
    64
}
fn default_formats() -> Vec<String> {
    vec!["html".into()]
}

/// A checked [`ScheduledReport`].
#[derive(Clone, Debug)]
pub struct ValidReport {
    /// Name.
    pub name: String,
    /// The cron expression as configured.
    pub schedule: String,
    /// Parsed schedule.
    pub cron: Cron,
    /// Its time zone.
    pub tz: chrono_tz::Tz,
    /// The report (its range is replaced at each run).
    pub request: ReportRequest,
    /// Period length, seconds.
    pub last_secs: i64,
    /// Formats to write.
    pub formats: Vec<Format>,
    /// Output directory.
    pub output_dir: PathBuf,
    /// Webhook URL.
    pub webhook: Option<hyper::Uri>,
}

fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A 5-field cron expression.
pub fn parse_cron(s: &str) -> Result<Cron, ScheduleError> {
    if s.split_whitespace().count() != 5 {
        fail!("schedule {s:?} must have 5 fields: minute hour day-of-month month day-of-week");
    }
    CronParser::builder()
        .seconds(Seconds::Disallowed)
        .year(Year::Disallowed)
        .build()
        .parse(s)
        .map_err(|e| err!("schedule {s:?}: {e}"))
}

/// An `http://` or `https://` URL with a host.
pub fn parse_http_url(s: &str) -> Result<hyper::Uri, ScheduleError> {
    let uri: hyper::Uri = s.parse().map_err(|e| err!("URL {s:?}: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => fail!("URL {s:?} must start with http:// or https://"),
    }
    if uri.host().is_none_or(str::is_empty) {
        fail!("URL {s:?} has no host");
    }
    Ok(uri)
}

impl ScheduledReport {
    /// Check every value; no I/O.
    pub fn validate(&self) -> Result<ValidReport, ScheduleError> {
        let ctx = || format!("reports[{}]", self.name);
        if !plain_name(&self.name) {
            fail!(
                "reports: name {:?} must be 1-64 characters of [A-Za-z0-9_-]",
                self.name.chars().take(64).collect::<String>()
            );
        }
        let cron = parse_cron(&self.schedule).ctx(ctx)?;
        let tz: chrono_tz::Tz = self
            .timezone
            .parse()
            .map_err(|_| err!("timezone {:?} is not an IANA zone name", self.timezone))
            .ctx(ctx)?;
        let kind: ReportKind = self.kind.parse().ctx(ctx)?;
        let last_secs = parse_duration(&self.last).ctx(ctx)?;
        let mut request = ReportRequest::new(kind, TimeRange::new(0, last_secs).ctx(ctx)?);
        request.exporter = match &self.exporter {
            Some(e) => Some(
                e.parse()
                    .map_err(|_| err!("exporter {e:?} is not an IP address"))
                    .ctx(ctx)?,
            ),
            None => None,
        };
        request.interface = self.interface;
        request.by = self
            .by
            .as_deref()
            .map(str::parse::<By>)
            .transpose()
            .ctx(ctx)?;
        request.limit = self.limit;
        request.step = self
            .step
            .as_deref()
            .map(str::parse::<Step>)
            .transpose()
            .ctx(ctx)?;
        request.prefix = self.prefix;
        request.prefix6 = self.prefix6;
        request.source = SourcePref::Auto;
        request.validate().ctx(ctx)?;
        if self.formats.is_empty() {
            fail!("{}: formats must not be empty", ctx());
        }
        let mut formats = Vec::new();
        for f in &self.formats {
            let f: Format = f.parse().ctx(ctx)?;
            if !formats.contains(&f) {
                formats.push(f);
            }
        }
        if self.output_dir.as_os_str().is_empty() {
            fail!("{}: output_dir must not be empty", ctx());
        }
        let webhook = self
            .webhook
            .as_deref()
            .map(parse_http_url)
            .transpose()
            .ctx(ctx)?;
        Ok(ValidReport {
            name: self.name.clone(),
            schedule: self.schedule.clone(),
            cron,
            tz,
            request,
            last_secs,
            formats,
            output_dir: self.output_dir.clone(),
            webhook,
        })
    }
}

/// Validate a list; names must be unique.
pub fn validate_all(list: &[ScheduledReport]) -> Result<Vec<ValidReport>, ScheduleError> {
    let mut out: Vec<ValidReport> = Vec::new();
    for r in list {
        let v = r.validate()?;
        if out.iter().any(|o| o.name == v.name) {
            fail!("reports: name {:?} is used twice", v.name);
        }
        out.push(v);
    }
    Ok(out)
}

/// The first scheduled time strictly after `after` (Unix seconds), in the report's time zone.
/// Pure: the caller supplies the time.
pub fn next_fire(r: &ValidReport, after: i64) -> Option<i64> {
    let start = r.tz.timestamp_opt(after, 0).single()?;
    r.cron
        .find_next_occurrence(&start, false)
        .ok()
        .map(|t| t.timestamp())
}

/// Counters of the scheduler (also exported as metrics).
#[derive(Debug, Default)]
pub struct Counters {
    /// Runs that wrote their files.
    pub runs_ok: AtomicU64,
    /// Runs that failed (query, render or write).
    pub runs_failed: AtomicU64,
    /// Webhook POSTs that failed (the files were written).
    pub webhook_failed: AtomicU64,
}

/// Process-wide scheduler counters.
pub static COUNTERS: Counters = Counters {
    runs_ok: AtomicU64::new(0),
    runs_failed: AtomicU64::new(0),
    webhook_failed: AtomicU64::new(0),
};

/// What one run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Files written.
    pub files: Vec<PathBuf>,
    /// The webhook body (also when there is no webhook).
    pub summary: serde_json::Value,
    /// Whether the webhook POST failed.
    pub webhook_error: Option<String>,
}

/// One line of `index.json`: one run of a scheduled report.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct IndexEntry {
    /// The report's name.
    pub name: String,
    /// Its kind.
    pub kind: String,
    /// Range covered, Unix seconds.
    pub from: i64,
    /// End, exclusive.
    pub to: i64,
    /// When it ran, Unix seconds.
    pub generated_at: i64,
    /// The files written (names inside the output directory).
    pub files: Vec<String>,
}

/// The runs `index.json` of `dir` lists (empty when the file is missing or unreadable), as
/// written: newest first.
pub fn read_index(dir: &Path) -> Vec<IndexEntry> {
    std::fs::read(dir.join("index.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_atomic(path: &Path, data: &[u8]) -> Result<(), ScheduleError> {
    let tmp = path.with_extension(format!(
        "{}.tmp",
        path.extension().and_then(|e| e.to_str()).unwrap_or("")
    ));
    std::fs::write(&tmp, data).ctx(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).ctx(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Add a run to `index.json` and rewrite `index.html` (newest first).
fn update_index(dir: &Path, entry: IndexEntry) -> Result<(), ScheduleError> {
    let json_path = dir.join("index.json");
    let mut entries: Vec<IndexEntry> = match std::fs::read(&json_path) {
        Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
            tracing::warn!(path = %json_path.display(), error = %e, "index.json unreadable; starting a new one");
            Vec::new()
        }),
        Err(_) => Vec::new(),
    };
    entries.retain(|e| !(e.name == entry.name && e.from == entry.from && e.to == entry.to));
    entries.push(entry);
    entries.sort_by(|a, b| b.to.cmp(&a.to).then(a.name.cmp(&b.name)));
    write_atomic(
        &json_path,
        &serde_json::to_vec_pretty(&entries).ctx_str("index.json")?,
    )?;
    write_atomic(&dir.join("index.html"), index_html(&entries).as_bytes())
}

fn index_html(entries: &[IndexEntry]) -> String {
    let mut by_name: BTreeMap<&str, usize> = BTreeMap::new();
    for e in entries {
        *by_name.entry(&e.name).or_default() += 1;
    }
    let mut o = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>sluice reports</title>\n<style>\
         body{font:14px/1.4 system-ui,\"DejaVu Sans\",sans-serif;margin:24px auto;max-width:1000px;padding:0 16px}\
         table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e3e7ee;text-align:left}\
         th{background:#f3f5f9}@media print{body{margin:0}}</style>\n</head>\n<body>\n<h1>sluice reports</h1>\n",
    );
    o.push_str(&format!(
        "<p>{} runs of {} reports.</p>\n<table>\n<thead><tr><th>Report</th><th>Kind</th><th>From (UTC)</th>\
         <th>To (UTC)</th><th>Generated</th><th>Files</th></tr></thead>\n<tbody>\n",
        entries.len(),
        by_name.len()
    ));
    for e in entries {
        let links: Vec<String> = e
            .files
            .iter()
            .map(|f| {
                let ext = Path::new(f)
                    .extension()
                    .and_then(|x| x.to_str())
                    .unwrap_or("file");
                format!("<a href=\"{}\">{}</a>", escape(f), escape(ext))
            })
            .collect();
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&e.name),
            escape(&e.kind),
            escape(&rfc3339(e.from)),
            escape(&rfc3339(e.to)),
            escape(&rfc3339(e.generated_at)),
            links.join(" ")
        ));
    }
    o.push_str("</tbody>\n</table>\n</body>\n</html>\n");
    o
}

/// Longest a run may take before it is abandoned (and counted as failed).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// Run one scheduled report for the period ending at `fire_at` (Unix seconds); `generated_at` is
/// stamped on it. Writes the files and the index, then POSTs the summary when a webhook is set
/// (a webhook failure is counted and returned, the files stay).
pub async fn run_once(
    r: &ValidReport,
    client: &crate::Client,
    fire_at: i64,
    generated_at: i64,
) -> Result<RunOutcome, ScheduleError> {
    let mut req = r.request.clone();
    req.range = TimeRange::last(fire_at, r.last_secs)?;
    let report = run_report(client, &req, generated_at)
        .await
        .ctx(|| format!("report {}", r.name))?;
    std::fs::create_dir_all(&r.output_dir)
        .ctx(|| format!("creating {}", r.output_dir.display()))?;
    let stem = format!(
        "{}-{}-{}",
        r.name,
        file_stamp(req.range.from),
        file_stamp(req.range.to)
    );
    let mut files = Vec::new();
    let mut names = Vec::new();
    for f in &r.formats {
        let file = format!("{stem}.{}", f.extension());
        let path = r.output_dir.join(&file);
        write_atomic(&path, f.render(&report).as_bytes())?;
        files.push(path);
        names.push(file);
    }
    update_index(
        &r.output_dir,
        IndexEntry {
            name: r.name.clone(),
            kind: req.kind.as_str().into(),
            from: req.range.from,
            to: req.range.to,
            generated_at,
            files: names,
        },
    )?;
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    let body = summary(&report, &r.name, &paths);
    let mut webhook_error = None;
    if let Some(url) = &r.webhook
        && let Err(e) = post_json(url, &body).await
    {
        COUNTERS.webhook_failed.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("sluice_report_webhook_failures_total", "report" => r.name.clone())
            .increment(1);
        tracing::warn!(report = %r.name, error = %format!("{e:#}"), "webhook failed");
        webhook_error = Some(format!("{e:#}"));
    }
    Ok(RunOutcome {
        files,
        summary: body,
        webhook_error,
    })
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Run scheduled reports until `shutdown` completes. Spawn it as its own task: it only reads
/// ClickHouse, each run has [`RUN_TIMEOUT`], and a failed run waits for the next tick.
pub async fn run_scheduler(
    reports: Vec<ValidReport>,
    client: crate::Client,
    shutdown: impl Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    if reports.is_empty() {
        return;
    }
    let now = unix_now();
    let mut next: Vec<Option<i64>> = reports.iter().map(|r| next_fire(r, now)).collect();
    for (r, n) in reports.iter().zip(&next) {
        tracing::info!(report = %r.name, next = %n.map_or("never".into(), rfc3339), "report scheduled");
    }
    loop {
        let Some(due) = next.iter().flatten().min().copied() else {
            tracing::warn!("no scheduled report will fire again");
            return shutdown.await;
        };
        let wait = Duration::from_secs(due.saturating_sub(unix_now()).max(0) as u64);
        tokio::select! {
            _ = &mut shutdown => return,
            _ = tokio::time::sleep(wait) => {}
        }
        let now = unix_now();
        for (i, r) in reports.iter().enumerate() {
            let Some(at) = next[i] else { continue };
            if at > now {
                continue;
            }
            let res = tokio::select! {
                _ = &mut shutdown => return,
                res = tokio::time::timeout(RUN_TIMEOUT, run_once(r, &client, at, unix_now())) => res,
            };
            match res {
                Ok(Ok(out)) => {
                    COUNTERS.runs_ok.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sluice_report_runs_total", "report" => r.name.clone(), "result" => "ok")
                        .increment(1);
                    tracing::info!(report = %r.name, files = out.files.len(), "report written");
                    tracing::debug!(report = %r.name, summary = %out.summary, "report summary");
                }
                Ok(Err(e)) => {
                    COUNTERS.runs_failed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sluice_report_runs_total", "report" => r.name.clone(), "result" => "error")
                        .increment(1);
                    tracing::error!(report = %r.name, error = %format!("{e:#}"), "report failed; next try at the next tick");
                }
                Err(_) => {
                    COUNTERS.runs_failed.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("sluice_report_runs_total", "report" => r.name.clone(), "result" => "timeout")
                        .increment(1);
                    tracing::error!(report = %r.name, "report timed out; next try at the next tick");
                }
            }
            // The next tick after this one (never the same one twice, even if the run was slow).
            next[i] = next_fire(r, at.max(now));
        }
    }
}

/// Spawn [`run_scheduler`] on the current tokio runtime (what `sluice run` calls with its
/// `[[reports]]` and a shutdown future). Returns at once; the task ends when `shutdown` completes.
pub fn spawn_scheduler(
    reports: Vec<ValidReport>,
    client: crate::Client,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run_scheduler(reports, client, shutdown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(schedule: &str, tz: &str) -> ScheduledReport {
        ScheduledReport {
            name: "daily".into(),
            schedule: schedule.into(),
            timezone: tz.into(),
            kind: "top-talkers".into(),
            last: "24h".into(),
            exporter: None,
            interface: None,
            by: Some("src".into()),
            limit: 10,
            step: None,
            prefix: None,
            prefix6: 64,
            formats: vec!["html".into(), "csv".into()],
            output_dir: "/tmp/x".into(),
            webhook: Some("http://127.0.0.1:9/hook".into()),
        }
    }

    #[test]
    fn next_fire_follows_the_time_zone() {
        // 07:00 in Paris is 06:00 UTC in winter (2026-11-26).
        let r = entry("0 7 * * *", "Europe/Paris").validate().unwrap();
        let after = 1_795_698_300; // 2026-11-26T13:05:00Z
        let next = next_fire(&r, after).unwrap();
        assert_eq!(rfc3339(next), "2026-11-27T06:00:00Z");
        let r = entry("0 7 * * *", "UTC").validate().unwrap();
        assert_eq!(
            rfc3339(next_fire(&r, after).unwrap()),
            "2026-11-27T07:00:00Z"
        );
        // Every 15 minutes: strictly after, even when `after` is on a tick.
        let r = entry("*/15 * * * *", "UTC").validate().unwrap();
        assert_eq!(
            rfc3339(next_fire(&r, 1_795_698_000).unwrap()),
            "2026-11-26T13:15:00Z"
        );
    }

    #[test]
    fn next_fire_skips_the_missing_hour_of_a_dst_change() {
        // 2027-03-28 02:30 does not exist in Paris; the next 02:30 that does is on 03-29.
        let r = entry("30 2 * * *", "Europe/Paris").validate().unwrap();
        let after = 1_806_105_600; // 2027-03-28T00:00:00Z
        let next = next_fire(&r, after).unwrap();
        assert_ne!(rfc3339(next), "2027-03-28T01:30:00Z");
        assert!(next > after);
    }

    #[test]
    fn rejects_bad_entries_with_the_field_named() {
        let bad = [
            entry("0 7 * *", "UTC"),
            entry("0 0 7 * * *", "UTC"),
            entry("61 7 * * *", "UTC"),
            entry("0 7 * * *", "Mars/Olympus"),
            ScheduledReport {
                name: "a/../../b".into(),
                ..entry("0 7 * * *", "UTC")
            },
            ScheduledReport {
                kind: "top-talkers; DROP TABLE flows".into(),
                ..entry("0 7 * * *", "UTC")
            },
            ScheduledReport {
                exporter: Some("192.0.2.1' OR 1=1".into()),
                ..entry("0 7 * * *", "UTC")
            },
            ScheduledReport {
                formats: vec!["pdf".into()],
                ..entry("0 7 * * *", "UTC")
            },
            ScheduledReport {
                webhook: Some("ftp://example.invalid/x".into()),
                ..entry("0 7 * * *", "UTC")
            },
            ScheduledReport {
                by: Some("protocol".into()),
                ..entry("0 7 * * *", "UTC")
            },
        ];
        for b in bad {
            assert!(b.validate().is_err(), "{b:?}");
        }
        assert!(validate_all(&[entry("0 7 * * *", "UTC"), entry("0 8 * * *", "UTC")]).is_err());
    }

    #[test]
    fn parses_a_reports_section_and_rejects_unknown_fields() {
        let t: BTreeMap<String, Vec<ScheduledReport>> = toml::from_str(
            r#"
            [[reports]]
            name = "daily-top"
            schedule = "0 7 * * *"
            timezone = "Europe/Paris"
            kind = "top-talkers"
            by = "pair"
            last = "24h"
            formats = ["html", "json"]
            output_dir = "/var/lib/sluice/reports"
            webhook = "https://hooks.example.invalid/sluice"
            "#,
        )
        .unwrap();
        let v = t["reports"][0].validate().unwrap();
        assert_eq!(v.formats, vec![Format::Html, Format::Json]);
        assert_eq!(v.last_secs, 86_400);
        let bad: Result<BTreeMap<String, Vec<ScheduledReport>>, _> = toml::from_str(
            "[[reports]]\nname='x'\nschedule='0 7 * * *'\nkind='traffic'\noutput_dir='/x'\nwebhok='http://a'\n",
        );
        assert!(bad.is_err());
    }

    #[test]
    fn index_lists_runs_newest_first_and_escapes_names() {
        let e = |name: &str, to: i64| IndexEntry {
            name: name.into(),
            kind: "traffic".into(),
            from: to - 3600,
            to,
            generated_at: to,
            files: vec![format!("{name}-{to}.html")],
        };
        let html = index_html(&[e("b<x>", 7200), e("a", 3600)]);
        assert!(html.contains("b&lt;x&gt;"));
        assert!(html.find("b&lt;x&gt;").unwrap() < html.find(">a<").unwrap());
    }
}
