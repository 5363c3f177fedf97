//! Cost per flow record of aggregation in steady state (keys already present), for
//! `benches/per_record.sh`: `per_record --bench DIMS REPS` records the same 100,000 flows (the
//! aggregate bench's Zipf mix: 50,000 sources, 5 s flows, some crossing a window boundary) in
//! batches of 1,024, once to warm up and then REPS times, and prints the nanoseconds per record of
//! the timed passes. Instructions per record come from running it under valgrind with two values
//! of REPS and dividing the difference (the script does that).

use std::time::Instant;

use aggregator::{Aggregator, AggregatorConfig, Dimension};
use collector::FlowRecord;

#[path = "common/zipf.rs"]
mod zipf;

const FLOWS: usize = 100_000;

fn flows() -> Vec<FlowRecord> {
    zipf::flows(FLOWS, 50_000)
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
