//! Helpers shared by the aggregator's integration tests: flow builders and row sums.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use aggregator::{Aggregator, AggregatorConfig, Dimension, Output, WindowTopRow, WindowTotalsRow};
use collector::FlowRecord;

/// A Unix-ms instant aligned to 60 s and to 3600 s (2023-11-14T22:00:00Z).
pub const T0: i64 = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
/// One minute in ms.
pub const MIN: i64 = 60_000;

pub fn v4(a: u8, b: u8, c: u8, d: u8) -> Ipv6Addr {
    Ipv4Addr::new(a, b, c, d).to_ipv6_mapped()
}

/// A flow from 10.0.0.`src` to 10.0.1.1 over TCP/443, exporter 192.0.2.`exporter`.
pub fn flow(exporter: u8, src: u8, start: i64, end: i64, bytes: u64) -> FlowRecord {
    FlowRecord {
        time_received: end,
        exporter: v4(192, 0, 2, exporter),
        version: 10,
        flow_start: Some(start),
        flow_end: Some(end),
        src_addr: Some(v4(10, 0, 0, src)),
        dst_addr: Some(v4(10, 0, 1, 1)),
        src_port: Some(50_000),
        dst_port: Some(443),
        protocol: Some(6),
        bytes,
        packets: bytes.div_ceil(1000).max(1),
        sampling_rate: 1,
        in_if: Some(1),
        out_if: Some(2),
        src_as: Some(u32::from(src)),
        dst_as: Some(64_500),
        ..Default::default()
    }
}

pub fn agg(cfg: AggregatorConfig) -> Aggregator {
    Aggregator::new(cfg.validate().expect("valid config"))
}

/// Every top row and totals row in `out`.
pub fn rows(out: &[Output]) -> (Vec<WindowTopRow>, Vec<WindowTotalsRow>) {
    let mut top = Vec::new();
    let mut totals = Vec::new();
    for o in out {
        if let Output::Windows { top: t, totals: s } = o {
            top.extend_from_slice(t);
            totals.extend_from_slice(s);
        }
    }
    (top, totals)
}

/// Window starts present in `out`, in order of emission.
pub fn window_starts(out: &[Output]) -> Vec<i64> {
    out.iter()
        .filter_map(|o| match o {
            Output::Windows { totals, top } => totals
                .first()
                .map(|t| t.window_start)
                .or_else(|| top.first().map(|t| t.window_start)),
            Output::Flows(_) | Output::Counters(_) => None,
        })
        .collect()
}

/// (bytes, packets, flows, bytes_unscaled, packets_unscaled) summed over totals rows of one window
/// (or all windows when `window` is None).
pub fn totals_sum(totals: &[WindowTotalsRow], window: Option<i64>) -> [u64; 5] {
    let mut s = [0u64; 5];
    for t in totals
        .iter()
        .filter(|t| window.is_none_or(|w| t.window_start == w))
    {
        s[0] += t.bytes;
        s[1] += t.packets;
        s[2] += t.flows;
        s[3] += t.bytes_unscaled;
        s[4] += t.packets_unscaled;
    }
    s
}

/// The same five sums over the top rows (other included) of one window and dimension.
pub fn top_sum(top: &[WindowTopRow], window: i64, dim: Dimension) -> [u64; 5] {
    let mut s = [0u64; 5];
    for t in top
        .iter()
        .filter(|t| t.window_start == window && t.dimension == dim)
    {
        s[0] += t.bytes;
        s[1] += t.packets;
        s[2] += t.flows;
        s[3] += t.bytes_unscaled;
        s[4] += t.packets_unscaled;
    }
    s
}

/// The five sums over raw flows.
pub fn flows_sum(flows: &[FlowRecord]) -> [u64; 5] {
    let mut s = [0u64; 5];
    for f in flows {
        s[0] += f.scaled_bytes();
        s[1] += f.scaled_packets();
        s[2] += 1;
        s[3] += f.bytes;
        s[4] += f.packets;
    }
    s
}
