//! The `[listen]` section of `sluice.toml`: UDP listeners, receive workers, the exporter allowlist,
//! batching towards the pipeline and template persistence.
//!
//! Two steps like every config here: [`ListenConfig`] is what serde reads (unknown fields are
//! errors); [`ListenConfig::validate`] checks it without I/O and returns [`ValidatedListen`].
//! Must never: open sockets or files.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::cidr::Cidr;
use crate::config::ConfigError;

/// Which export protocol a listener expects (for labels and for sFlow, which is not decoded yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListenProtocol {
    /// NetFlow v5/v9 (conventionally port 2055). The decoder detects the version from the
    /// datagram, so IPFIX arriving here is decoded too.
    #[default]
    Netflow,
    /// IPFIX (conventionally port 4739); NetFlow arriving here is decoded too.
    Ipfix,
    /// sFlow v5 (conventionally port 6343). Not decoded yet: datagrams are counted as unsupported.
    Sflow,
}

impl ListenProtocol {
    /// Stable lowercase name, for logs and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            ListenProtocol::Netflow => "netflow",
            ListenProtocol::Ipfix => "ipfix",
            ListenProtocol::Sflow => "sflow",
        }
    }
}

/// One UDP listener.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port to bind, e.g. `0.0.0.0:2055` or `[::]:4739`.
    pub address: String,
    /// What the listener expects (a label in logs and metrics: every listener decodes NetFlow
    /// v5, v9, IPFIX and sFlow v5, the version read from each datagram).
    #[serde(default)]
    pub protocol: ListenProtocol,
}

/// The `[listen]` section.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// UDP listeners. Default: NetFlow on 0.0.0.0:2055 and IPFIX on 0.0.0.0:4739.
    #[serde(default = "default_listeners")]
    pub listeners: Vec<ListenerConfig>,
    /// Receive sockets (one thread and one decoder each) per listener. They share the port with
    /// `SO_REUSEPORT`, and a BPF program steers each datagram by its source address alone, so an
    /// exporter that sends from several source ports still reaches one decoder (if the kernel
    /// refuses the program, a warning is logged and `sluice_receive_steered_by_source` is 0).
    #[serde(default = "default_workers")]
    pub workers: usize,
    /// Requested socket receive buffer, bytes (`SO_RCVBUFFORCE` when permitted, else capped by
    /// `net.core.rmem_max`; a warning is logged when the kernel grants less).
    #[serde(default = "default_recv_buffer_bytes")]
    pub recv_buffer_bytes: usize,
    /// Largest datagram accepted, bytes; longer ones are cut and counted as truncated. The default,
    /// 9216, holds a jumbo frame's payload (exporters keep a datagram within one MTU); each
    /// receive slot is this size, so a smaller slot keeps the receive batch in cache. Up to 65535.
    #[serde(default = "default_max_datagram_bytes")]
    pub max_datagram_bytes: usize,
    /// Exporter address prefixes allowed to send (e.g. `["192.0.2.0/24", "2001:db8::/32"]`).
    /// Datagrams from other addresses are dropped before any state is created, and counted. Unset:
    /// every exporter is accepted (a warning is logged at start).
    #[serde(default)]
    pub allowed_exporters: Option<Vec<String>>,
    /// File that keeps templates and sampling state across restarts: loaded at start, saved every
    /// `state_save_secs` and on shutdown. Unset: nothing is persisted.
    #[serde(default)]
    pub state_file: Option<PathBuf>,
    /// Seconds between two saves of `state_file`.
    #[serde(default = "default_state_save_secs")]
    pub state_save_secs: u64,
    /// Decoded records per batch handed to the aggregator.
    #[serde(default = "default_batch_records")]
    pub batch_records: usize,
    /// Batches each queue holds: the queue to the aggregator, and (with `output.raw_flows`) the
    /// queue to raw-flow storage beside it. When one is full, receive workers wait (time counted in
    /// `sluice_queue_blocked_microseconds_total` by queue); nothing is dropped.
    #[serde(default = "default_queue_batches")]
    pub queue_batches: usize,
    /// A partly filled batch is handed on after this many milliseconds.
    #[serde(default = "default_batch_linger_ms")]
    pub batch_linger_ms: u64,
}

fn default_listeners() -> Vec<ListenerConfig> {
    vec![
        ListenerConfig {
            address: "0.0.0.0:2055".into(),
            protocol: ListenProtocol::Netflow,
        },
        ListenerConfig {
            address: "0.0.0.0:4739".into(),
            protocol: ListenProtocol::Ipfix,
        },
    ]
}
fn default_workers() -> usize {
    1
}
fn default_recv_buffer_bytes() -> usize {
    32 << 20
}
fn default_max_datagram_bytes() -> usize {
    DEFAULT_MAX_DATAGRAM
}

/// Default receive slot: a jumbo frame (9000-byte MTU) with room to spare.
pub const DEFAULT_MAX_DATAGRAM: usize = 9216;
fn default_state_save_secs() -> u64 {
    60
}
fn default_batch_records() -> usize {
    1024
}
fn default_queue_batches() -> usize {
    256
}
fn default_batch_linger_ms() -> u64 {
    200
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            listeners: default_listeners(),
            workers: default_workers(),
            recv_buffer_bytes: default_recv_buffer_bytes(),
            max_datagram_bytes: default_max_datagram_bytes(),
            allowed_exporters: None,
            state_file: None,
            state_save_secs: default_state_save_secs(),
            batch_records: default_batch_records(),
            queue_batches: default_queue_batches(),
            batch_linger_ms: default_batch_linger_ms(),
        }
    }
}

/// A listener that passed validation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Listener {
    /// Bind address.
    pub address: SocketAddr,
    /// Protocol.
    pub protocol: ListenProtocol,
}

/// A `[listen]` section that passed [`ListenConfig::validate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidatedListen {
    /// Listeners.
    pub listeners: Vec<Listener>,
    /// Workers per listener.
    pub workers: usize,
    /// Requested receive buffer.
    pub recv_buffer_bytes: usize,
    /// Receive slot size.
    pub max_datagram_bytes: usize,
    /// Allowed exporter prefixes; `None` accepts all.
    pub allowed_exporters: Option<Vec<Cidr>>,
    /// Template state file.
    pub state_file: Option<PathBuf>,
    /// Save period of the state file.
    pub state_save: Duration,
    /// Records per batch.
    pub batch_records: usize,
    /// Capacity of each queue, in batches.
    pub queue_batches: usize,
    /// Linger of a partial batch.
    pub batch_linger: Duration,
}

impl ListenConfig {
    /// Check every value (no I/O); every problem is reported with its path under `prefix`.
    pub fn validate(&self, prefix: &str) -> Result<ValidatedListen, Vec<ConfigError>> {
        let p = |f: &str| format!("{prefix}.{f}");
        let mut problems = Vec::new();
        if self.listeners.is_empty() {
            problems.push(ConfigError::new(
                p("listeners"),
                "at least one listener is needed",
            ));
        }
        let mut listeners: Vec<Listener> = Vec::new();
        for (i, li) in self.listeners.iter().enumerate() {
            match li.address.parse::<SocketAddr>() {
                Ok(address) => {
                    if listeners.iter().any(|x| x.address == address) {
                        problems.push(ConfigError::new(
                            p(&format!("listeners[{i}].address")),
                            format!("{address} is listed twice"),
                        ));
                    }
                    listeners.push(Listener {
                        address,
                        protocol: li.protocol,
                    });
                }
                Err(e) => problems.push(ConfigError::new(
                    p(&format!("listeners[{i}].address")),
                    format!("`{}` is not an IP:port address ({e})", li.address),
                )),
            }
        }
        if !(1..=64).contains(&self.workers) {
            problems.push(ConfigError::new(p("workers"), "must be 1 to 64"));
        }
        if self.recv_buffer_bytes > i32::MAX as usize / 2 {
            problems.push(ConfigError::new(
                p("recv_buffer_bytes"),
                "must be below 1 GiB",
            ));
        }
        if !(512..=crate::socket::MAX_DATAGRAM).contains(&self.max_datagram_bytes) {
            problems.push(ConfigError::new(
                p("max_datagram_bytes"),
                "must be 512 to 65535",
            ));
        }
        let allowed_exporters = self.allowed_exporters.as_ref().map(|list| {
            let mut out = Vec::new();
            for (i, c) in list.iter().enumerate() {
                match c.parse::<Cidr>() {
                    Ok(c) => out.push(c),
                    Err(e) => problems.push(ConfigError::new(
                        p(&format!("allowed_exporters[{i}]")),
                        e.to_string(),
                    )),
                }
            }
            out
        });
        if self.state_file.is_some() && self.state_save_secs == 0 {
            problems.push(ConfigError::new(p("state_save_secs"), "must be at least 1"));
        }
        if !(1..=1_000_000).contains(&self.batch_records) {
            problems.push(ConfigError::new(p("batch_records"), "must be 1 to 1000000"));
        }
        if !(1..=1_000_000).contains(&self.queue_batches) {
            problems.push(ConfigError::new(p("queue_batches"), "must be 1 to 1000000"));
        }
        if self.batch_linger_ms == 0 {
            problems.push(ConfigError::new(p("batch_linger_ms"), "must be at least 1"));
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(ValidatedListen {
            listeners,
            workers: self.workers,
            recv_buffer_bytes: self.recv_buffer_bytes,
            max_datagram_bytes: self.max_datagram_bytes,
            allowed_exporters,
            state_file: self.state_file.clone(),
            state_save: Duration::from_secs(self.state_save_secs),
            batch_records: self.batch_records,
            queue_batches: self.queue_batches,
            batch_linger: Duration::from_millis(self.batch_linger_ms),
        })
    }
}
