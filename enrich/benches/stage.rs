//! The enrich stage's cost per record, as `sluice run` pays it on each receive worker: networks
//! (1,000 prefixes), both GeoIP databases (about 285,000 networks each, written by
//! `tests/common/synth.rs`), 1,008 interfaces and the AS precedence, over batches of 1,024
//! records.
//!
//! - `zipf_10k`: `sluice blast`'s traffic (10,000 Zipf-ranked talkers, 20% IPv6, 16 exporters):
//!   the address cache answers most lookups.
//! - `uniform_1m`: a new address almost every record (a million talkers, drawn uniformly):
//!   nearly every lookup misses the cache and walks the tables.
//! - `lookup_uncached`: the three lookups of one address without the cache (networks, country,
//!   AS), for the cost of a miss.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Arc;

use collector::FlowRecord;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use enrich::{EnrichConfig, Enricher, Stage};
use flowgen::model::TrafficModel;

const BATCH: usize = 1024;

fn v6(a: IpAddr) -> Ipv6Addr {
    collector::record::to_v6(a)
}

fn records(hosts: u32, exponent: f64, n: usize) -> Vec<FlowRecord> {
    let mut m = TrafficModel::new(hosts, exponent, 0.2, 7).unwrap();
    (0..n)
        .map(|i| {
            let f = m.next_flow(1_000, 2_000, 10);
            FlowRecord {
                exporter: v6(IpAddr::from([127, 0, 0, 1 + (i % 16) as u8])),
                src_addr: Some(v6(f.src_addr)),
                dst_addr: Some(v6(f.dst_addr)),
                in_if: Some(f.in_if),
                out_if: Some(f.out_if),
                src_as: Some(f.src_as),
                dst_as: Some(f.dst_as),
                bytes: f.bytes,
                packets: f.packets,
                ..FlowRecord::default()
            }
        })
        .collect()
}

#[derive(serde::Deserialize)]
struct File {
    enrich: EnrichConfig,
}

fn enricher() -> Arc<Enricher> {
    let dir = std::env::temp_dir().join(format!("sluice-enrich-bench-{}", std::process::id()));
    eprintln!("{}", common::synth::write_all(&dir));
    let text = std::fs::read_to_string(dir.join("enrich.toml")).unwrap();
    let cfg = toml::from_str::<File>(&text).unwrap().enrich;
    let e = Arc::new(Enricher::from_config(&cfg).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    e
}

fn stage(c: &mut Criterion) {
    let e = enricher();
    let mut g = c.benchmark_group("enrich");
    g.throughput(Throughput::Elements(BATCH as u64));
    for (name, hosts, exponent) in [("zipf_10k", 10_000, 1.1), ("uniform_1m", 1_000_000, 0.0)] {
        // Many batches, cycled, so the cache sees a stream rather than one batch again and again.
        let all = records(hosts, exponent, BATCH * 256);
        let mut st = Stage::new(Arc::clone(&e));
        let mut batch = vec![FlowRecord::default(); BATCH];
        let mut i = 0;
        g.bench_function(format!("stage_per_record/{name}"), |b| {
            b.iter(|| {
                let from = (i % 256) * BATCH;
                batch.copy_from_slice(&all[from..from + BATCH]);
                st.enrich(black_box(&mut batch));
                i += 1;
            })
        });
        let s = st.stats();
        eprintln!(
            "{name}: cache hit rate {:.1}% over {} lookups",
            100.0 * s.cache_hits as f64 / (s.cache_hits + s.cache_misses).max(1) as f64,
            s.cache_hits + s.cache_misses
        );
    }
    // The copy into the batch alone, to subtract from the figures above.
    let all = records(10_000, 1.1, BATCH * 256);
    let mut batch = vec![FlowRecord::default(); BATCH];
    let mut i = 0;
    g.bench_function("copy_only", |b| {
        b.iter(|| {
            let from = (i % 256) * BATCH;
            batch.copy_from_slice(&all[from..from + BATCH]);
            black_box(&mut batch);
            i += 1;
        })
    });
    g.finish();

    let snap = e.snapshot_arc();
    let addrs: Vec<Ipv6Addr> = records(1_000_000, 0.0, BATCH)
        .iter()
        .flat_map(|r| [r.src_addr.unwrap(), r.dst_addr.unwrap()])
        .collect();
    let mut g = c.benchmark_group("enrich");
    g.throughput(Throughput::Elements(addrs.len() as u64));
    g.bench_function("lookup_uncached_per_address", |b| {
        b.iter(|| {
            let mut n = 0u64;
            for &a in &addrs {
                n += u64::from(snap.net_id(a));
                n += snap
                    .geoip()
                    .country(a)
                    .map_or(0, |c| u64::from(c.bytes()[0]));
                n += snap.geoip().asn(a).map_or(0, |x| u64::from(x.number));
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group!(benches, stage);
criterion_main!(benches);
