//! `sluice report KIND`: run one report from the SQL library against ClickHouse and print or write
//! it as a table, CSV, JSON or a self-contained HTML page; and `sluice report --schedule-now NAME`,
//! which runs one `[[reports]]` entry of a config file at once.
//!
//! Owns: the command-line surface of reports (parsing every parameter into the typed
//! [`ReportRequest`] so that nothing typed on the command line reaches SQL text) and where the output
//! goes. Must never: write to ClickHouse.

use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::{Context, anyhow, bail};
use report::filter::FilterExpr;
use report::{
    By, Format, ReportKind, ReportRequest, SourcePref, Step, TimeRange, parse_duration, run_report,
};

/// Arguments of `sluice report`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Kinds: top-talkers, top-apps, protocols, traffic, interfaces, matrix, \
exporters, countries, networks, providers.\nExamples:\n  \
sluice report top-talkers --last 24h --by pair --limit 20\n  \
sluice report countries --last 7d --by dst\n  \
sluice report providers --last 24h --by out\n  \
sluice report traffic --last 7d --format html --out traffic.html\n  \
sluice report matrix --from 2026-11-25T00:00:00Z --to 2026-11-26T00:00:00Z --prefix 24\n  \
sluice report top-talkers --last 1h --filter \"dst_addr = 10.0.0.0/8 and proto = udp\"\n  \
sluice report --schedule-now daily --config sluice.toml"
)]
pub struct ReportArgs {
    /// Report kind (see below); not used with --schedule-now.
    pub kind: Option<String>,
    /// Period ending now: 1h, 24h, 7d... (default 1h unless --from/--to).
    #[arg(long, conflicts_with_all = ["from", "to"])]
    pub last: Option<String>,
    /// Start of the range, RFC 3339 (2026-11-26T00:00:00Z).
    #[arg(long, requires = "to")]
    pub from: Option<String>,
    /// End of the range (exclusive), RFC 3339.
    #[arg(long, requires = "from")]
    pub to: Option<String>,
    /// Only flows from this exporter (IP address).
    #[arg(long)]
    pub exporter: Option<String>,
    /// Only flows in or out of this ifIndex.
    #[arg(long)]
    pub interface: Option<u32>,
    /// Grouping: src, dst, pair (top-talkers); protocol, exporter (traffic); src, dst (countries,
    /// networks); in, out (providers).
    #[arg(long)]
    pub by: Option<String>,
    /// Rows in a top N.
    #[arg(long, default_value_t = 10)]
    pub limit: u32,
    /// Traffic step: 1m, 5m or 1h (default: from the range).
    #[arg(long)]
    pub step: Option<String>,
    /// Matrix by subnet: IPv4 prefix length (default: AS matrix).
    #[arg(long)]
    pub prefix: Option<u8>,
    /// Matrix by subnet: IPv6 prefix length.
    #[arg(long, default_value_t = 64)]
    pub prefix6: u8,
    /// Only flows that match this filter, e.g. "src_addr = 10.0.0.0/8 and proto = tcp and not
    /// dst_port in (53, 123)" (see the README, Filters).
    #[arg(long)]
    pub filter: Option<String>,
    /// Table to read: auto, raw, windows, 5m, 1h.
    #[arg(long, default_value = "auto")]
    pub source: String,
    /// Output format: table, csv, json, html.
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Write to this file instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// ClickHouse URL (overrides the config file; default http://127.0.0.1:8123).
    #[arg(long)]
    pub clickhouse_url: Option<String>,
    /// Database (overrides the config file; default sluice).
    #[arg(long)]
    pub database: Option<String>,
    /// Config file: its [clickhouse] section, and [[reports]] for --schedule-now.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Run the [[reports]] entry NAME of --config now, for the period ending now.
    #[arg(long, requires = "config", conflicts_with = "kind")]
    pub schedule_now: Option<String>,
}

fn parse_time(s: &str, what: &'static str) -> anyhow::Result<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|e| {
            anyhow!(
                "--{what} {:?} is not an RFC 3339 time ({e}); e.g. 2026-11-26T00:00:00Z",
                s.chars().take(40).collect::<String>()
            )
        })
}

/// Turn the arguments into a checked request; `now` is the current Unix time.
pub fn request(args: &ReportArgs, now: i64) -> anyhow::Result<ReportRequest> {
    let kind: ReportKind = args
        .kind
        .as_deref()
        .ok_or_else(|| anyhow!("which report? e.g. `sluice report top-talkers --last 1h`"))?
        .parse()?;
    let range = match (&args.from, &args.to, &args.last) {
        (Some(f), Some(t), _) => TimeRange::new(parse_time(f, "from")?, parse_time(t, "to")?)?,
        (_, _, Some(l)) => TimeRange::last(now, parse_duration(l)?)?,
        _ => TimeRange::last(now, 3600)?,
    };
    let mut q = ReportRequest::new(kind, range);
    q.exporter = match &args.exporter {
        Some(e) => Some(e.parse::<IpAddr>().map_err(|_| {
            anyhow!(
                "--exporter {:?} is not an IP address",
                e.chars().take(40).collect::<String>()
            )
        })?),
        None => None,
    };
    q.interface = args.interface;
    q.by = args.by.as_deref().map(str::parse::<By>).transpose()?;
    q.limit = args.limit;
    q.step = args.step.as_deref().map(str::parse::<Step>).transpose()?;
    q.prefix = args.prefix;
    q.prefix6 = args.prefix6;
    q.source = args.source.parse::<SourcePref>()?;
    q.filter = match &args.filter {
        Some(f) => Some(FilterExpr::parse(f).map_err(|e| anyhow!(filter_error(f, &e)))?),
        None => None,
    };
    q.validate()?;
    Ok(q)
}

/// A filter's error with the filter and a caret under the position:
///
/// ```text
/// --filter: at character 9: expected a comparison operator (...), found ";"
///   src_addr ; drop
///            ^
/// ```
fn filter_error(text: &str, e: &report::filter::FilterError) -> String {
    // One line, at most 120 characters around the position, control characters as spaces.
    let chars: Vec<char> = text.chars().collect();
    let start = e.position.saturating_sub(80);
    let end = (start + 120).min(chars.len());
    let shown: String = chars[start.min(end)..end]
        .iter()
        .map(|c| if c.is_control() { ' ' } else { *c })
        .collect();
    let lead = if start > 0 { "..." } else { "" };
    let pad = " ".repeat(lead.len() + e.position - start);
    format!("--filter: {e}\n  {lead}{shown}\n  {pad}^")
}

fn clickhouse_config(args: &ReportArgs) -> anyhow::Result<schema::ValidatedClickhouseConfig> {
    let mut ch = match &args.config {
        Some(p) => crate::config::Config::load(p)
            .map_err(|e| anyhow!("{}: {e}", p.display()))?
            .clickhouse
            .unwrap_or_default(),
        None => schema::ClickhouseConfig::default(),
    };
    if let Some(u) = &args.clickhouse_url {
        ch.url = u.clone();
    }
    if let Some(d) = &args.database {
        ch.database = d.clone();
    }
    Ok(ch.validate()?)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// `sluice report`.
pub fn run(args: &ReportArgs) -> anyhow::Result<()> {
    let now = unix_now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if let Some(name) = &args.schedule_now {
        let path = args
            .config
            .as_ref()
            .context("--schedule-now needs --config")?;
        let (ch, reports) = crate::schedule_cmd::load(path, args.clickhouse_url.as_deref())?;
        let r = reports
            .into_iter()
            .find(|r| &r.name == name)
            .ok_or_else(|| anyhow!("{}: no [[reports]] entry named {name:?}", path.display()))?;
        let out = rt.block_on(async {
            let client = schema::build_client(&ch)?;
            anyhow::Ok(report::schedule::run_once(&r, &client, now - now % 60, now).await?)
        })?;
        for f in &out.files {
            println!("{}", f.display());
        }
        if let Some(e) = out.webhook_error {
            bail!("files written, but the webhook failed: {e}");
        }
        return Ok(());
    }
    let q = request(args, now)?;
    let format: Format = args.format.parse()?;
    let ch = clickhouse_config(args)?;
    let report = rt.block_on(async {
        let client = schema::build_client(&ch)?;
        anyhow::Ok(run_report(&client, &q, now).await?)
    })?;
    let text = format.render(&report);
    match &args.out {
        Some(p) => std::fs::write(p, text).with_context(|| format!("writing {}", p.display()))?,
        None => print!("{text}"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: ReportArgs,
    }

    fn parse(args: &[&str]) -> anyhow::Result<ReportRequest> {
        let t = T::try_parse_from(std::iter::once("report").chain(args.iter().copied()))?;
        request(&t.a, 1_795_698_300)
    }

    #[test]
    fn builds_requests_from_arguments() {
        let q = parse(&[
            "top-talkers",
            "--last",
            "24h",
            "--by",
            "pair",
            "--limit",
            "5",
        ])
        .unwrap();
        assert_eq!(q.range.secs(), 86_400);
        assert_eq!(q.by, Some(By::Pair));
        let q = parse(&[
            "traffic",
            "--from",
            "2026-11-25T00:00:00Z",
            "--to",
            "2026-11-26T00:00:00+00:00",
            "--step",
            "5m",
        ])
        .unwrap();
        assert_eq!(q.range.secs(), 86_400);
        assert_eq!(q.step, Some(Step::FiveMinutes));
        let q = parse(&["providers", "--last", "24h", "--by", "out"]).unwrap();
        assert_eq!((q.kind, q.by), (ReportKind::Providers, Some(By::Out)));
        let q = parse(&["countries", "--last", "7d", "--by", "dst"]).unwrap();
        assert_eq!((q.kind, q.by), (ReportKind::Countries, Some(By::Dst)));
        assert!(parse(&["networks", "--by", "in"]).is_err());
        assert!(parse(&["providers", "--by", "src"]).is_err());
    }

    #[test]
    fn rejects_hostile_arguments() {
        for bad in [
            vec!["top-talkers", "--exporter", "192.0.2.1' OR '1'='1"],
            vec!["top-talkers", "--exporter", "192.0.2.1; DROP TABLE flows"],
            vec!["top-talkers", "--by", "src'--"],
            vec!["top-talkers; DROP TABLE flows"],
            vec!["traffic", "--step", "1m); DROP TABLE flows; --"],
            vec!["top-talkers", "--last", "1h'"],
            vec!["top-talkers", "--interface", "1 OR 1=1"],
            vec!["top-talkers", "--from", "yesterday'", "--to", "now"],
            vec!["top-talkers", "--source", "flows; DROP TABLE flows"],
        ] {
            assert!(parse(&bad).is_err(), "{bad:?}");
        }
        let long = "1".repeat(100_000);
        assert!(parse(&["top-talkers", "--exporter", &long]).is_err());
        assert!(parse(&["top-talkers", "--filter", &long]).is_err());
    }

    #[test]
    fn filters_parse_or_point_at_the_error() {
        let q = parse(&["protocols", "--filter", "proto = TCP and src_as = 13335"]).unwrap();
        assert_eq!(
            q.filter.unwrap().to_text(),
            "proto = tcp and src_as = AS13335"
        );
        let e = parse(&["protocols", "--filter", "src_addr ; drop"])
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "--filter: at character 9: expected a comparison operator (=, !=, <, <=, >, >=, in, \
             not in), found \";\"\n  src_addr ; drop\n           ^"
        );
        assert!(parse(&["exporters", "--filter", "proto = tcp"]).is_err());
        assert!(parse(&["protocols", "--filter", ""]).is_err());
        // A position past a long prefix still gets its caret.
        let long = format!("{} and x", vec!["tos = 1"; 40].join(" and "));
        let e = parse(&["protocols", "--filter", &long])
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = e.lines().collect();
        // The error is at the end: the caret one past the last character shown.
        assert!(
            lines[1].starts_with("  ...") && lines[1].ends_with("and x"),
            "{e}"
        );
        assert_eq!(
            lines[2].chars().count(),
            lines[1].chars().count() + 1,
            "{e}"
        );
        assert!(lines[2].trim_start() == "^");
    }
}
