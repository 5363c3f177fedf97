//! Memory of one window holding 1,000,000 distinct keys in every dimension that has that many
//! (addresses, conversations, interfaces, AS numbers; the app dimension has at most 3 × 65,536 keys
//! here and the protocol dimension 256), all nine dimensions on: resident set size after the
//! window is filled, the peak, and bytes per key. Goal (issue 11): ≤ 1 GiB.
//!
//! Run with `cargo bench -p aggregator --bench memory`. Flows are made and dropped in batches of
//! 4,096, so the input itself does not count. Linux only (reads `/proc/self/status`).

use std::net::Ipv4Addr;

use aggregator::{Aggregator, AggregatorConfig, Dimension};
use collector::FlowRecord;

const T0: i64 = 1_767_225_600_000;
const KEYS: u32 = 1_000_000;

fn status_kib(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn flow(i: u32) -> FlowRecord {
    let t = T0 + 1_000 + i64::from(i % 50_000);
    FlowRecord {
        time_received: t + 500,
        exporter: Ipv4Addr::new(192, 0, 2, 1 + (i % 8) as u8).to_ipv6_mapped(),
        version: 10,
        flow_start: Some(t - 200),
        flow_end: Some(t),
        src_addr: Some(Ipv4Addr::from(0x0A00_0000 | i).to_ipv6_mapped()),
        dst_addr: Some(
            Ipv4Addr::from(0x6400_0000 | i.wrapping_mul(2_654_435_761) >> 8).to_ipv6_mapped(),
        ),
        src_port: Some(40_000 + (i % 20_000) as u16),
        dst_port: Some((i % 65_536) as u16),
        protocol: Some([6, 17, 1][(i % 3) as usize]),
        bytes: 40 + u64::from(i % 1_500),
        packets: 1 + u64::from(i % 10),
        sampling_rate: 1,
        in_if: Some(i),
        out_if: Some(i ^ 0x5555),
        src_as: Some(i),
        dst_as: Some(4_000_000 + i),
        ..Default::default()
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        // Under `cargo test`: nothing to measure.
        return;
    }
    let before = status_kib("VmRSS:").unwrap_or(0);
    let mut agg = Aggregator::new(
        AggregatorConfig {
            max_keys_per_window: KEYS as usize,
            ..Default::default()
        }
        .validate()
        .expect("config"),
    );
    let mut batch = Vec::with_capacity(4_096);
    for i in 0..KEYS {
        batch.push(flow(i));
        if batch.len() == 4_096 {
            agg.record_batch(&batch);
            batch.clear();
        }
    }
    agg.record_batch(&batch);
    drop(batch);
    let stats = agg.stats();
    let rss = status_kib("VmRSS:").unwrap_or(0);
    let peak = status_kib("VmHWM:").unwrap_or(0);
    assert_eq!(stats.windows_open, 1, "one window");
    assert_eq!(stats.sketch_fallbacks, 0, "every key counted exactly");
    let keys: u64 = stats.keys_per_dimension.iter().sum();
    println!("aggregator memory: one window, all 9 dimensions, {KEYS} flows");
    for d in Dimension::ALL {
        println!("  {:<13} {:>9} keys", d.as_str(), stats.keys(d));
    }
    let mib = |k: u64| k as f64 / 1024.0;
    println!(
        "  keys in all:  {keys}\n  RSS after:    {:.0} MiB (before: {:.0} MiB; peak {:.0} MiB)\n  per key:      {:.0} bytes\n  goal ≤ 1024 MiB: {}",
        mib(rss),
        mib(before),
        mib(peak),
        (rss.saturating_sub(before) * 1024) as f64 / keys as f64,
        if peak <= 1024 * 1024 {
            "met (peak)"
        } else if rss <= 1024 * 1024 {
            "met after filling, peak above"
        } else {
            "NOT met"
        }
    );
    // Closing the window: the rows of a full window, and the time it takes.
    let t = std::time::Instant::now();
    let mut out = Vec::new();
    agg.flush_all(&mut out);
    println!("  closing it:   {:.0} ms", t.elapsed().as_secs_f64() * 1e3);
}
