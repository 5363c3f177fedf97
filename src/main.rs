//! The `sluice` command line.

use clap::Parser;

mod decode_cmd;
mod traffic;

/// NetFlow v5/v9/IPFIX collector with top-talker windows, ClickHouse storage and reports.
#[derive(Parser, Debug)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Decode a pcap/pcapng capture of NetFlow/IPFIX export traffic and print every flow record.
    Decode(decode_cmd::DecodeArgs),
    /// Write a synthetic traffic capture (pcap) and its per-source ground truth (CSV).
    GenTraffic(traffic::GenTrafficArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Decode(args) => decode_cmd::run(&args),
        Command::GenTraffic(args) => traffic::run(&args),
    }
}
