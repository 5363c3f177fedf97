//! Encoder throughput: one 30-record datagram per iteration into a reused buffer, as the load
//! generator (`sluice blast`) does it.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use flowgen::encode::*;
use flowgen::model::*;

const EXPORT_SECS: u32 = 1_767_225_600;

fn flows(v6: f64) -> Vec<Flow> {
    let mut model = TrafficModel::new(10_000, 1.1, v6, 1).unwrap();
    let t = u64::from(EXPORT_SECS) * 1000 - 10_000;
    (0..DEFAULT_RECORDS_PER_DATAGRAM)
        .map(|i| model.next_flow(t, t + 5_000, 1 + i as u64 % 9))
        .collect()
}

fn encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("encode_30_records");
    g.throughput(Throughput::Elements(DEFAULT_RECORDS_PER_DATAGRAM as u64));
    let mut buf = Vec::with_capacity(65_536);
    let v4 = flows(0.0);
    let mixed = flows(0.2);
    g.bench_function("v5", |b| {
        let h = V5Header {
            unix_secs: EXPORT_SECS,
            sys_uptime_ms: 3_600_000,
            ..Default::default()
        };
        b.iter(|| encode_v5(&mut buf, &h, black_box(&v4)).unwrap())
    });
    g.bench_function("v9_mixed", |b| {
        let h = V9Header {
            unix_secs: EXPORT_SECS,
            sys_uptime_ms: 3_600_000,
            ..Default::default()
        };
        b.iter(|| encode_v9(&mut buf, &h, black_box(&mixed), false).unwrap())
    });
    g.bench_function("ipfix_mixed", |b| {
        let h = IpfixHeader {
            export_time: EXPORT_SECS,
            ..Default::default()
        };
        b.iter(|| encode_ipfix(&mut buf, &h, black_box(&mixed), false).unwrap())
    });
    g.finish();

    let mut model = TrafficModel::new(10_000, 1.1, 0.2, 1).unwrap();
    c.bench_function("traffic_model_next_flow", |b| {
        b.iter(|| model.next_flow(black_box(1), 2, 3))
    });
}

criterion_group!(benches, encode);
criterion_main!(benches);
