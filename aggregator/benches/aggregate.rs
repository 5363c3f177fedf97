//! Aggregator throughput: `record` in steady state (keys already present, exact and sketched) and
//! the cost of closing a window (`flush_all`). Flows follow a Zipf-like popularity over 50 000 source
//! addresses; every flow lasts 5 s, so some cross a window boundary and are pro-rated.
//!
//! Throughput is in elements = flow records. Run with `cargo bench -p aggregator --bench aggregate`.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use aggregator::{Aggregator, AggregatorConfig, Dimension};
use collector::FlowRecord;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const T0: i64 = 1_767_225_600_000;
const FLOWS: usize = 100_000;

/// `n` flows over one minute from a Zipf-like (s = 1.1) popularity over `keys` sources.
fn flows(n: usize, keys: u32) -> Vec<FlowRecord> {
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
    (0..n)
        .map(|i| {
            let u = (next() >> 11) as f64 / (1u64 << 53) as f64 * acc;
            let k = cdf.partition_point(|&c| c < u) as u32;
            let r = next();
            let end = T0 + (i as i64 * 60_000 / n as i64);
            let src = Ipv4Addr::from(0x0A00_0000 | k);
            let dst = Ipv4Addr::from(0xC633_6400 | (r as u32 & 0x3FF));
            FlowRecord {
                time_received: end + 1_000,
                exporter: Ipv4Addr::new(192, 0, 2, 1 + (r >> 20) as u8 % 4).to_ipv6_mapped(),
                version: 10,
                flow_start: Some(end - 5_000),
                flow_end: Some(end),
                src_addr: Some(src.to_ipv6_mapped()),
                dst_addr: Some(dst.to_ipv6_mapped()),
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

fn aggregator(max_keys: usize) -> Aggregator {
    let cfg = AggregatorConfig {
        max_keys_per_window: max_keys,
        ..Default::default()
    };
    Aggregator::new(cfg.validate().unwrap())
}

fn bench(c: &mut Criterion) {
    let input = flows(FLOWS, 50_000);
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(FLOWS as u64));
    g.measurement_time(Duration::from_secs(8));
    g.sample_size(20);

    // Steady state: the same flows again, so every key already exists (no allocation).
    let mut exact = aggregator(1_000_000);
    input.iter().for_each(|f| exact.record(f));
    g.bench_function("record_exact_9_dims", |b| {
        b.iter(|| input.iter().for_each(|f| exact.record(black_box(f))))
    });

    let mut sketched = aggregator(1_000);
    input.iter().for_each(|f| sketched.record(f));
    assert!(sketched.stats().sketch_fallbacks > 0);
    g.bench_function("record_sketch_9_dims", |b| {
        b.iter(|| input.iter().for_each(|f| sketched.record(black_box(f))))
    });

    let mut one_dim = Aggregator::new(
        AggregatorConfig {
            dimensions: vec![Dimension::SrcAddr],
            ..Default::default()
        }
        .validate()
        .unwrap(),
    );
    input.iter().for_each(|f| one_dim.record(f));
    g.bench_function("record_exact_1_dim", |b| {
        b.iter(|| input.iter().for_each(|f| one_dim.record(black_box(f))))
    });

    // Cold: a fresh aggregator, so every key is inserted (and the window maps grow).
    g.bench_function("record_cold_9_dims", |b| {
        b.iter_batched(
            || aggregator(1_000_000),
            |mut a| {
                input.iter().for_each(|f| a.record(f));
                a
            },
            BatchSize::LargeInput,
        )
    });

    // Closing: emit windows holding the keys of 100k flows (top 100 of each of 9 dimensions).
    g.bench_function("flush_all_after_100k_flows", |b| {
        b.iter_batched(
            || {
                let mut a = aggregator(1_000_000);
                input.iter().for_each(|f| a.record(f));
                a
            },
            |mut a| {
                let mut out = Vec::new();
                a.flush_all(&mut out);
                out
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
