//! Cost per flow record of aggregation in steady state (keys already present), for
//! `benches/per_record.sh`: `per_record --bench DIMS REPS` records the same 100,000 flows (the
//! aggregate bench's Zipf mix: 50,000 sources, 5 s flows, some crossing a window boundary) in
//! batches of 1,024, once to warm up and then REPS times, and prints the nanoseconds per record of
//! the timed passes. Instructions per record come from running it under valgrind with two values
//! of REPS and dividing the difference (the script does that).

use std::net::Ipv4Addr;
use std::time::Instant;

use aggregator::{Aggregator, AggregatorConfig, Dimension};
use collector::FlowRecord;

const T0: i64 = 1_767_225_600_000;
const FLOWS: usize = 100_000;

fn flows() -> Vec<FlowRecord> {
    let keys = 50_000u32;
    let weights: Vec<f64> = (0..keys)
        .map(|i| 1.0 / f64::from(i + 1).powf(1.1))
        .collect();
    let mut cdf = Vec::with_capacity(weights.len());
    let mut acc = 0.0;
    for w in &weights {
        acc += w;
        cdf.push(acc);
    }
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..FLOWS)
        .map(|i| {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64 * acc;
            let k = cdf.partition_point(|&c| c < u) as u32;
            let r = next();
            let end = T0 + (i as i64 * 60_000 / FLOWS as i64);
            FlowRecord {
                time_received: end + 1_000,
                exporter: Ipv4Addr::new(192, 0, 2, 1 + (r >> 20) as u8 % 4).to_ipv6_mapped(),
                version: 10,
                flow_start: Some(end - 5_000),
                flow_end: Some(end),
                src_addr: Some(Ipv4Addr::from(0x0A00_0000 | k).to_ipv6_mapped()),
                dst_addr: Some(Ipv4Addr::from(0xC633_6400 | (r as u32 & 0x3FF)).to_ipv6_mapped()),
                src_port: Some(1024 + (r >> 32) as u16 % 60_000),
                dst_port: Some([443, 80, 53, 22, 8443][(r >> 48) as usize % 5]),
                protocol: Some([6, 17][(r >> 56) as usize % 2]),
                bytes: 40 + (r >> 8) % 1500,
                packets: 1 + (r >> 16) % 10,
                sampling_rate: 100,
                in_if: Some(1 + (r >> 24) as u32 % 16),
                out_if: Some(1 + (r >> 28) as u32 % 16),
                src_as: Some(64_512 + k % 2000),
                dst_as: Some(64_512 + (r >> 40) as u32 % 500),
                ..Default::default()
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(at) = args.iter().position(|a| a == "--bench") else {
        return; // under `cargo test`
    };
    let dims: usize = args.get(at + 1).and_then(|a| a.parse().ok()).unwrap_or(9);
    let reps: usize = args.get(at + 2).and_then(|a| a.parse().ok()).unwrap_or(20);
    let mut agg = Aggregator::new(
        AggregatorConfig {
            dimensions: Dimension::ALL[..dims.clamp(1, 9)].to_vec(),
            ..Default::default()
        }
        .validate()
        .expect("config"),
    );
    let input = flows();
    input.chunks(1024).for_each(|c| agg.record_batch(c));
    let t = Instant::now();
    for _ in 0..reps {
        input
            .chunks(1024)
            .for_each(|c| agg.record_batch(std::hint::black_box(c)));
    }
    let ns = t.elapsed().as_nanos() as f64 / (reps * FLOWS) as f64;
    println!(
        "dims={dims} reps={reps} records={} ns_per_record={ns:.1}",
        reps * FLOWS
    );
}
