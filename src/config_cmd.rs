//! `sluice config check|reference`: validate a config file, print the configuration reference.

use std::path::PathBuf;

use crate::config::{Config, SinkChoice};

/// Arguments of `sluice config`.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigCommand {
    /// Parse and validate a config file without opening sockets or files it names. Exit status:
    /// 0 valid, 1 invalid, 2 unreadable.
    Check {
        /// The config file.
        file: PathBuf,
    },
    /// Print the reference of every config field (Markdown), from the config types' doc comments.
    Reference,
}

/// Runs `sluice config ...`.
pub fn run(cmd: &ConfigCommand) -> i32 {
    match cmd {
        ConfigCommand::Reference => {
            print!("{}", crate::config_ref::markdown());
            0
        }
        ConfigCommand::Check { file } => {
            let text = match std::fs::read_to_string(file) {
                Ok(t) => t,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    return 2;
                }
            };
            match Config::parse(&text).and_then(|c| c.validate()) {
                Ok(v) => {
                    println!(
                        "{}: ok ({} listener(s), {} worker(s) each, sink {})",
                        file.display(),
                        v.listen.listeners.len(),
                        v.listen.workers,
                        match v.sink {
                            SinkChoice::Null => "null",
                            SinkChoice::Jsonl(_) => "jsonl",
                            SinkChoice::Clickhouse(_) => "clickhouse",
                        }
                    );
                    0
                }
                Err(problems) => {
                    for p in &problems.0 {
                        eprintln!("{}: {p}", file.display());
                    }
                    1
                }
            }
        }
    }
}
