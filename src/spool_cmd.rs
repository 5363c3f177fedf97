//! `sluice spool status|retry --config FILE`: what the ClickHouse writers hold on disk, and
//! re-driving the batches ClickHouse refused for good (the dead letters) once the table is fixed.
//!
//! Reads the `[clickhouse]` section of the config; the two writers of `sluice run` keep their spools
//! in `spool_dir` (raw flows) and `spool_dir/windows` (windows), each with a `dead-letter`
//! directory. `retry` only touches dead letters, so it is safe while `sluice run` runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use schema::deadletter::DeadLetters;

/// `sluice spool ...`.
#[derive(clap::Subcommand, Debug)]
pub enum SpoolCommand {
    /// Show the spools and dead letters of a config's ClickHouse writers.
    Status {
        /// The config file (its `[clickhouse]` section).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Insert every dead letter again; each one stored is removed. Exit status 1 when any is
    /// still refused or could not be tried.
    Retry {
        /// The config file (its `[clickhouse]` section).
        #[arg(long, short)]
        config: PathBuf,
    },
}

fn clickhouse_config(path: &Path) -> anyhow::Result<schema::ValidatedClickhouseConfig> {
    let cfg = crate::config::Config::load(path).map_err(|p| anyhow!("{}: {p}", path.display()))?;
    let ch = cfg
        .clickhouse
        .ok_or_else(|| anyhow!("{}: no [clickhouse] section", path.display()))?;
    Ok(ch.validate()?)
}

/// The (name, spool directory, dead letters) of both writers.
fn writers(ch: &schema::ValidatedClickhouseConfig) -> Vec<(&'static str, PathBuf, DeadLetters)> {
    let (flows, windows) = ch.split_streams();
    [("raw flows", flows), ("windows", windows)]
        .into_iter()
        .map(|(name, c)| {
            let dead = DeadLetters::new(&c.spool_dir, c.dead_letter_max_bytes);
            (name, c.spool_dir, dead)
        })
        .collect()
}

fn dir_bytes(dir: &Path, ext: &str) -> (u64, u64) {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == ext))
                .filter_map(|e| e.metadata().ok())
                .fold((0, 0), |(n, b), m| (n + 1, b + m.len()))
        })
        .unwrap_or((0, 0))
}

/// Runs `sluice spool ...`.
pub fn run(cmd: &SpoolCommand) -> anyhow::Result<()> {
    match cmd {
        SpoolCommand::Status { config } => {
            let ch = clickhouse_config(config)?;
            for (name, dir, dead) in writers(&ch) {
                let (segments, bytes) = dir_bytes(&dir, "seg");
                println!(
                    "{name}: spool {} ({segments} segment files, {bytes} bytes on disk)",
                    dir.display()
                );
                let letters = dead.list()?;
                println!(
                    "{name}: dead letters {} ({} batches, {} bytes)",
                    dead.dir().display(),
                    letters.len(),
                    dead.used_bytes()?
                );
                for d in letters {
                    let first = std::fs::read_to_string(d.text())
                        .ok()
                        .and_then(|t| t.lines().next().map(str::to_string))
                        .unwrap_or_default();
                    println!("  {}  {first}", d.payload.display());
                }
            }
            Ok(())
        }
        SpoolCommand::Retry { config } => {
            let ch = clickhouse_config(config)?;
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (mut stored, mut refused, mut failed) = (0u32, 0u32, 0u32);
            rt.block_on(async {
                let server = schema::server_client(&ch)?;
                let (_, tier) = schema::healthcheck(&server)
                    .await
                    .with_context(|| format!("clickhouse at {}", ch.url))?;
                let client = schema::build_client(&ch)?;
                for (name, _, dead) in writers(&ch) {
                    for d in dead.list()? {
                        let payload = std::fs::read(&d.payload)
                            .with_context(|| format!("reading {}", d.payload.display()))?;
                        let r = schema::redrive(&client, tier, ch.request_timeout, &payload).await;
                        let file = d.payload.display();
                        match r {
                            schema::Redrive::Stored(rows) => {
                                println!("{name}: stored {rows} rows from {file}");
                                stored += 1;
                                if let Err(e) = dead.remove(&d) {
                                    eprintln!("{name}: {file} is stored but not removed: {e}");
                                    failed += 1;
                                }
                            }
                            schema::Redrive::StoredAlready(rows) => {
                                println!("{name}: {rows} rows of {file} were stored already");
                                stored += 1;
                                if let Err(e) = dead.remove(&d) {
                                    eprintln!("{name}: {file} is stored but not removed: {e}");
                                    failed += 1;
                                }
                            }
                            schema::Redrive::Refused(m) => {
                                eprintln!("{name}: {file} refused again: {m}");
                                refused += 1;
                            }
                            schema::Redrive::Failed(m) => {
                                eprintln!("{name}: {file} not tried: {m}");
                                failed += 1;
                            }
                        }
                    }
                }
                anyhow::Ok(())
            })?;
            println!("{stored} dead letters stored, {refused} refused again, {failed} not tried");
            if refused + failed > 0 {
                bail!("{} dead letters remain", refused + failed);
            }
            Ok(())
        }
    }
}
