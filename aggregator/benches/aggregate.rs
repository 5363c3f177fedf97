//! Aggregator throughput: `record` in steady state (keys already present, exact and sketched) and
//! the cost of closing a window (`flush_all`). Flows follow a Zipf-like popularity over 50 000 source
//! addresses; every flow lasts 5 s, so some cross a window boundary and are pro-rated.
//!
//! Throughput is in elements = flow records. Run with `cargo bench -p aggregator --bench aggregate`.

use std::hint::black_box;
use std::time::Duration;

use aggregator::{Aggregator, AggregatorConfig, Dimension};
use collector::FlowRecord;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

#[path = "common/zipf.rs"]
mod zipf;
use zipf::flows;

const FLOWS: usize = 100_000;
/// Flows per batch, about what a receive worker hands over (a recvmmsg batch of datagrams).
const BATCH: usize = 1024;

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
    // What the shell does: batches as the receive workers hand them over.
    g.bench_function("record_batch_exact_9_dims", |b| {
        b.iter(|| {
            input
                .chunks(BATCH)
                .for_each(|c| exact.record_batch(black_box(c)))
        })
    });

    let mut sketched = aggregator(1_000);
    input.iter().for_each(|f| sketched.record(f));
    assert!(sketched.stats().sketch_fallbacks > 0);
    g.bench_function("record_batch_sketch_9_dims", |b| {
        b.iter(|| {
            input
                .chunks(BATCH)
                .for_each(|c| sketched.record_batch(black_box(c)))
        })
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
    g.bench_function("record_batch_exact_1_dim", |b| {
        b.iter(|| {
            input
                .chunks(BATCH)
                .for_each(|c| one_dim.record_batch(black_box(c)))
        })
    });

    // Cold: a fresh aggregator, so every key is inserted (and the window maps grow).
    g.bench_function("record_batch_cold_9_dims", |b| {
        b.iter_batched(
            || aggregator(1_000_000),
            |mut a| {
                input.chunks(BATCH).for_each(|c| a.record_batch(c));
                a
            },
            BatchSize::LargeInput,
        )
    });

    // The next window: an aggregator that has counted one minute of flows gets the same flows one
    // minute later, so every key is new in a window that just opened while the one before it is
    // still open, and the flows that cross the boundary are split between the two: the busiest
    // phase of a window in production (`sluice run` under load drops in the first seconds of each
    // window, not at its close).
    let next_minute: Vec<FlowRecord> = input
        .iter()
        .map(|f| FlowRecord {
            time_received: f.time_received + 60_000,
            flow_start: f.flow_start.map(|t| t + 60_000),
            flow_end: f.flow_end.map(|t| t + 60_000),
            ..*f
        })
        .collect();
    g.bench_function("record_batch_next_window_9_dims", |b| {
        b.iter_batched(
            || {
                let mut a = aggregator(1_000_000);
                input.chunks(BATCH).for_each(|c| a.record_batch(c));
                a
            },
            |mut a| {
                next_minute.chunks(BATCH).for_each(|c| a.record_batch(c));
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

/// The key tables' map, against `dashmap` (which they used before): the same conversation keys,
/// updated in place, one owner. Measured so the README can say why the tables use a plain map.
fn maps(c: &mut Criterion) {
    use std::collections::HashMap;
    let input = flows(FLOWS, 50_000);
    let keys: Vec<(u128, u128)> = input
        .iter()
        .map(|f| {
            (
                u128::from(f.src_addr.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)),
                u128::from(f.dst_addr.unwrap_or(std::net::Ipv6Addr::UNSPECIFIED)),
            )
        })
        .collect();
    let mut g = c.benchmark_group("map_update");
    g.throughput(Throughput::Elements(FLOWS as u64));
    g.measurement_time(Duration::from_secs(5));
    g.sample_size(20);
    let mut plain: HashMap<(u128, u128), [u64; 5], foldhash::fast::RandomState> =
        HashMap::default();
    let dash: dashmap::DashMap<(u128, u128), [u64; 5], foldhash::fast::RandomState> =
        dashmap::DashMap::default();
    for k in &keys {
        plain.insert(*k, [0; 5]);
        dash.insert(*k, [0; 5]);
    }
    g.bench_function("hashmap", |b| {
        b.iter(|| {
            for k in &keys {
                if let Some(v) = plain.get_mut(black_box(k)) {
                    v[0] += 1;
                }
            }
        })
    });
    g.bench_function("dashmap", |b| {
        b.iter(|| {
            for k in &keys {
                if let Some(mut v) = dash.get_mut(black_box(k)) {
                    v[0] += 1;
                }
            }
        })
    });
    g.finish();
}

/// The shell end to end (dispatcher, shard threads, merger, a null sink) with 1 and 2 aggregator
/// threads over the same batches: what sharding by dimension buys on this machine.
fn shell(c: &mut Criterion) {
    use std::sync::Arc;
    let input = flows(FLOWS, 50_000);
    let batches: Vec<collector::FlowBatch> =
        input.chunks(BATCH).map(|c| Arc::new(c.to_vec())).collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut g = c.benchmark_group("shell");
    g.throughput(Throughput::Elements(FLOWS as u64 * 4));
    g.measurement_time(Duration::from_secs(8));
    g.sample_size(10);
    for threads in [1u32, 2] {
        g.bench_function(format!("threads_{threads}_9_dims"), |b| {
            b.iter(|| {
                rt.block_on(async {
                    let cfg = AggregatorConfig {
                        threads,
                        ..Default::default()
                    };
                    let (tx, rx) = tokio::sync::mpsc::channel(64);
                    let run = tokio::spawn(aggregator::run_with_clock(
                        Aggregator::new(cfg.validate().unwrap()),
                        rx,
                        aggregator::NullSink::default(),
                        aggregator::ShellOptions::default(),
                        || zipf::T0,
                    ));
                    for _ in 0..4 {
                        for b in &batches {
                            tx.send(b.clone()).await.unwrap();
                        }
                    }
                    drop(tx);
                    run.await.unwrap().unwrap().stats
                })
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench, maps, shell);
criterion_main!(benches);
