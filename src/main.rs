//! The `sluice` command line.

use clap::Parser;

/// NetFlow v5/v9/IPFIX collector with top-talker windows, ClickHouse storage and reports.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
