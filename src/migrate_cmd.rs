//! `sluice migrate`: apply the ClickHouse schema, or print it.
//!
//! The tier (legacy for servers before 22, modern from 22) comes from `SELECT version()`; `--tier`
//! prints a tier's DDL without a server. `sluice run` applies the same migrations at start.

use std::path::PathBuf;

use anyhow::{Context, anyhow};
use schema::Tier;

/// Which schema tier to print.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TierArg {
    /// ClickHouse before 22 (Debian's 18.16): FixedString addresses, no TTL, codecs or skip indexes.
    Legacy,
    /// ClickHouse 22 and later.
    Modern,
}

/// Arguments of `sluice migrate`.
#[derive(clap::Args, Debug)]
pub struct MigrateArgs {
    /// The config file; its `[clickhouse]` section says where and what retention.
    #[arg(long, short, default_value = "sluice.toml")]
    pub config: PathBuf,
    /// Print the DDL for the server's tier instead of running it.
    #[arg(long)]
    pub print: bool,
    /// With --print: the tier to print, without asking a server.
    #[arg(long, value_enum, requires = "print")]
    pub tier: Option<TierArg>,
}

/// Run `sluice migrate`.
pub fn run(args: &MigrateArgs) -> anyhow::Result<()> {
    let cfg = crate::config::Config::load(&args.config)
        .map_err(|p| anyhow!("{}: invalid config:\n{p}", args.config.display()))?;
    let ch = cfg
        .clickhouse
        .as_ref()
        .ok_or_else(|| anyhow!("{}: no [clickhouse] section", args.config.display()))?
        .validate()
        .map_err(|e| anyhow!("{}: {e}", args.config.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        if args.print {
            let tier = match args.tier {
                Some(TierArg::Legacy) => Tier::Legacy,
                Some(TierArg::Modern) => Tier::Modern,
                None => {
                    let server = schema::server_client(&ch)?;
                    schema::healthcheck(&server)
                        .await
                        .with_context(|| format!("cannot reach ClickHouse at {}", ch.url))?
                        .1
                }
            };
            println!(
                "-- sluice schema, {} tier, database {}",
                tier.as_str(),
                ch.database
            );
            for stmt in schema::migration_ddl(tier, &ch.retention) {
                println!("{stmt};\n");
            }
            return Ok(());
        }
        let p = schema::prepare(&ch)
            .await
            .with_context(|| format!("migrating ClickHouse at {}", ch.url))?;
        if p.applied.is_empty() {
            println!(
                "ClickHouse {} ({} tier): schema is current",
                p.version,
                p.tier.as_str()
            );
        } else {
            println!(
                "ClickHouse {} ({} tier): applied migrations {:?}",
                p.version,
                p.tier.as_str(),
                p.applied
            );
        }
        Ok(())
    })
}
