//! `sluice schedule`: the `[[reports]]` of a config file on their cron schedules, without
//! collecting (the scheduler itself is `report::schedule`).

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail};
use report::schedule::{ValidReport, spawn_scheduler, validate_all};

/// `sluice schedule --config FILE`.
#[derive(clap::Args, Debug)]
pub struct ScheduleArgs {
    /// Config file with `[clickhouse]` and `[[reports]]`.
    #[arg(long, short)]
    pub config: PathBuf,
    /// ClickHouse URL (overrides the config file).
    #[arg(long)]
    pub clickhouse_url: Option<String>,
}

/// Load the `[clickhouse]` section and the validated `[[reports]]` of a config file.
pub fn load(
    path: &Path,
    url: Option<&str>,
) -> anyhow::Result<(schema::ValidatedClickhouseConfig, Vec<ValidReport>)> {
    let cfg = crate::config::Config::load(path).map_err(|p| anyhow!("{}: {p}", path.display()))?;
    let mut ch = cfg.clickhouse.clone().unwrap_or_default();
    if let Some(u) = url {
        ch.url = u.to_string();
    }
    let ch = ch.validate()?;
    Ok((ch, validate_all(&cfg.reports)?))
}

/// Run the scheduler alone until SIGINT or SIGTERM.
pub fn run(args: &ScheduleArgs) -> anyhow::Result<()> {
    let (ch, reports) = load(&args.config, args.clickhouse_url.as_deref())?;
    if reports.is_empty() {
        bail!("{}: no [[reports]] entries", args.config.display());
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let client = schema::build_client(&ch)?;
        spawn_scheduler(reports, client, crate::run::shutdown_signal()).await?;
        anyhow::Ok(())
    })
}
