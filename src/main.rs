//! The `sluice` command line.

use clap::Parser;

mod config;
mod config_cmd;
mod config_ref;
mod decode_cmd;
mod enrichment;
mod metrics;
mod migrate_cmd;
mod report_cmd;
mod run;
mod schedule_cmd;
mod spool_cmd;
mod web_cmd;

/// NetFlow v5/v9/IPFIX collector with top-talker windows, ClickHouse storage and reports.
#[derive(Parser, Debug)]
#[command(version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("SLUICE_GIT_HASH"), ")"), about)]
struct Cli {
    /// Log format: `text` for people, `json` for machines (level from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value = "text")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Decode a pcap/pcapng capture of NetFlow/IPFIX export traffic and print every flow record.
    Decode(decode_cmd::DecodeArgs),
    /// Write a synthetic traffic capture (pcap) and its per-source ground truth (CSV).
    GenTraffic(flowgen::traffic::GenTrafficArgs),
    /// Run the collector service.
    Run(run::RunArgs),
    /// Work with config files.
    #[command(subcommand)]
    Config(config_cmd::ConfigCommand),
    /// Apply the ClickHouse schema migrations, or print their DDL (--print).
    Migrate(migrate_cmd::MigrateArgs),
    /// Resend the export datagrams of a capture to a collector (loopback unless --allow-remote).
    Replay(flowgen::replay::ReplayArgs),
    /// Generate NetFlow/IPFIX load (loopback unless --allow-remote).
    Blast(flowgen::blast::BlastArgs),
    /// Run a report (top-talkers, top-apps, protocols, traffic, interfaces, matrix, exporters,
    /// countries, networks, providers).
    Report(Box<report_cmd::ReportArgs>),
    /// Inspect the ClickHouse spools and dead letters, or re-drive the dead letters.
    #[command(subcommand)]
    Spool(spool_cmd::SpoolCommand),
    /// Run the [[reports]] of a config file on their cron schedules.
    Schedule(schedule_cmd::ScheduleArgs),
    /// Serve the JSON API and the web console from ClickHouse alone, without collecting.
    Web(web_cmd::WebArgs),
    /// Developer tools (benchmarks).
    #[command(subcommand, hide = true)]
    Dev(DevCommand),
}

/// `sluice dev ...`.
#[derive(clap::Subcommand, Debug, Clone)]
enum DevCommand {
    /// Receive with recvmmsg and discard, counting datagrams (the physical receive limit).
    SinkUdp(flowgen::sink_udp::SinkUdpArgs),
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    Text,
    Json,
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Decode(args) => decode_cmd::run(&args),
        Command::GenTraffic(args) => Ok(flowgen::traffic::run(&args)?),
        Command::Run(args) => run::run(&args),
        Command::Config(cmd) => std::process::exit(config_cmd::run(&cmd)),
        Command::Migrate(args) => migrate_cmd::run(&args),
        Command::Replay(args) => Ok(flowgen::replay::run(&args)?),
        Command::Blast(args) => Ok(flowgen::blast::run(&args)?),
        Command::Dev(DevCommand::SinkUdp(args)) => {
            let term = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            run::stop_on_signal(term.clone())?;
            Ok(flowgen::sink_udp::run(&args, &term)?)
        }
        Command::Report(args) => report_cmd::run(&args),
        Command::Schedule(args) => schedule_cmd::run(&args),
        Command::Spool(cmd) => spool_cmd::run(&cmd),
        Command::Web(args) => web_cmd::run(&args),
    }
}
