//! What a closed window emits: the contract between the aggregator and storage.
//!
//! Owns: the row shapes for per-dimension top-N (with the exact "other" row) and per-exporter window
//! totals. Storage (`schema`) maps these one to one onto `window_top` and `window_totals`.
//! Must never: depend on storage types (data moves aggregate → store, never back).

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

/// A dimension that windows rank keys by.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Dimension {
    /// Source address.
    SrcAddr,
    /// Destination address.
    DstAddr,
    /// Conversation: (source, destination) address pair.
    Conversation,
    /// Application: IP protocol plus service port (destination port; the lower port when both are
    /// ephemeral).
    App,
    /// IP protocol.
    Protocol,
    /// Exporter plus input interface.
    InIf,
    /// Exporter plus output interface.
    OutIf,
    /// Source AS.
    SrcAs,
    /// Destination AS.
    DstAs,
    /// Source country (enrichment; ISO 3166 alpha-2).
    SrcCountry,
    /// Destination country (enrichment).
    DstCountry,
    /// Source network name (enrichment, `[[enrich.networks]]`).
    SrcNet,
    /// Destination network name (enrichment).
    DstNet,
    /// Provider of the input interface (enrichment, interface classification).
    InIfProvider,
    /// Provider of the output interface (enrichment).
    OutIfProvider,
}

impl Dimension {
    /// Every dimension, in a stable order (the nine flow dimensions, then the six that need
    /// enrichment).
    pub const ALL: [Dimension; 15] = [
        Dimension::SrcAddr,
        Dimension::DstAddr,
        Dimension::Conversation,
        Dimension::App,
        Dimension::Protocol,
        Dimension::InIf,
        Dimension::OutIf,
        Dimension::SrcAs,
        Dimension::DstAs,
        Dimension::SrcCountry,
        Dimension::DstCountry,
        Dimension::SrcNet,
        Dimension::DstNet,
        Dimension::InIfProvider,
        Dimension::OutIfProvider,
    ];

    /// The dimensions that come from the flow itself: the default set.
    pub const FLOW: [Dimension; 9] = [
        Dimension::SrcAddr,
        Dimension::DstAddr,
        Dimension::Conversation,
        Dimension::App,
        Dimension::Protocol,
        Dimension::InIf,
        Dimension::OutIf,
        Dimension::SrcAs,
        Dimension::DstAs,
    ];

    /// Stable snake_case name (config, metrics, storage).
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::SrcAddr => "src_addr",
            Dimension::DstAddr => "dst_addr",
            Dimension::Conversation => "conversation",
            Dimension::App => "app",
            Dimension::Protocol => "protocol",
            Dimension::InIf => "in_if",
            Dimension::OutIf => "out_if",
            Dimension::SrcAs => "src_as",
            Dimension::DstAs => "dst_as",
            Dimension::SrcCountry => "src_country",
            Dimension::DstCountry => "dst_country",
            Dimension::SrcNet => "src_net",
            Dimension::DstNet => "dst_net",
            Dimension::InIfProvider => "in_if_provider",
            Dimension::OutIfProvider => "out_if_provider",
        }
    }

    /// True for the dimensions whose keys enrichment gives (countries, networks, providers).
    pub fn needs_enrichment(self) -> bool {
        (self as usize) >= Dimension::FLOW.len()
    }
}

/// A key in any dimension, in one flat shape so that storage has fixed columns.
///
/// Which parts are used depends on the dimension; unused parts are zero (`::` for addresses):
/// - `SrcAddr`, `DstAddr`: `addr_a`;
/// - `Conversation`: `addr_a` (source), `addr_b` (destination);
/// - `App`: `proto`, `num` (port);
/// - `Protocol`: `proto`;
/// - `InIf`, `OutIf`: `exporter`, `num` (ifIndex);
/// - `SrcAs`, `DstAs`: `num` (AS number);
/// - `SrcCountry`, `DstCountry`: `num`, the two ASCII letters as a big-endian `u16` (0 unknown);
/// - `SrcNet`, `DstNet`: `num`, the network-name id of enrichment's registry (0 none);
/// - `InIfProvider`, `OutIfProvider`: `num`, the provider id of enrichment's registry (0 none).
///
/// Storage turns the enrichment ids into text (the `label` column) with the same registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Key {
    /// First address (IPv4-mapped when IPv4).
    pub addr_a: Ipv6Addr,
    /// Second address (conversation destination).
    pub addr_b: Ipv6Addr,
    /// Exporter (interface dimensions).
    pub exporter: Ipv6Addr,
    /// Port, ifIndex or AS number.
    pub num: u32,
    /// IP protocol.
    pub proto: u8,
}

/// One ranked key of one dimension in one window, or the dimension's "other" row.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTopRow {
    /// Window start, Unix ms (aligned to the window length).
    pub window_start: i64,
    /// Window length in seconds.
    pub window_secs: u32,
    /// The dimension.
    pub dimension: Dimension,
    /// The key; all zero for the "other" row.
    pub key: Key,
    /// True for the row that holds the window total minus the emitted top N.
    pub is_other: bool,
    /// 1-based rank by scaled bytes (0 for "other").
    pub rank_bytes: u32,
    /// 1-based rank by scaled packets among all counted keys (0 for "other").
    pub rank_packets: u32,
    /// 1-based rank by flows among all counted keys (0 for "other").
    pub rank_flows: u32,
    /// Bytes scaled by the sampling rate.
    pub bytes: u64,
    /// Packets scaled by the sampling rate.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
    /// Bytes as exported (unscaled).
    pub bytes_unscaled: u64,
    /// Packets as exported (unscaled).
    pub packets_unscaled: u64,
    /// Upper bound of the overcount in `bytes` (0 while counting is exact). On the "other" row: the
    /// bound on how much `bytes` is under-counted (the sum of the emitted rows' bounds), since
    /// "other" is the exact total minus the emitted estimates.
    pub max_error: u64,
}

/// Exact totals of one window for one exporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WindowTotalsRow {
    /// Window start, Unix ms.
    pub window_start: i64,
    /// Window length in seconds.
    pub window_secs: u32,
    /// The exporter.
    pub exporter: Ipv6Addr,
    /// Bytes scaled by the sampling rate.
    pub bytes: u64,
    /// Packets scaled by the sampling rate.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
    /// Bytes as exported.
    pub bytes_unscaled: u64,
    /// Packets as exported.
    pub packets_unscaled: u64,
    /// Flows that arrived later than the allowed lateness and were put in this (oldest open) window.
    pub late_flows: u64,
}

impl Default for Key {
    fn default() -> Self {
        Key {
            addr_a: Ipv6Addr::UNSPECIFIED,
            addr_b: Ipv6Addr::UNSPECIFIED,
            exporter: Ipv6Addr::UNSPECIFIED,
            num: 0,
            proto: 0,
        }
    }
}
