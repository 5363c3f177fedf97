//! Cost of one network lookup in the flattened range table: 1,000 and 100,000 random prefixes
//! (IPv4 /8../32 and IPv6 /16../64, nested by chance, a few attribute values), random addresses
//! (half inside the IPv4 space, half IPv6). Also the GeoIP lookups on the GeoLite2 test databases
//! when the shared corpus is there.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::sync::Arc;

#[path = "../tests/common/mod.rs"]
mod common;

use common::synth::Rng;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use enrich::{Cidr, GeoIp, NetworkAttrs, Networks};

fn prefixes(n: usize, rng: &mut Rng) -> Vec<(Cidr, NetworkAttrs)> {
    let values: Vec<Arc<str>> = ["a", "b", "c", "d", "e", "f", "g", "h"]
        .into_iter()
        .map(Arc::from)
        .collect();
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let p = if rng.below(4) < 3 {
            let len = 8 + rng.below(25) as u8;
            Cidr::new(IpAddr::V4(Ipv4Addr::from(rng.next() as u32)), len).unwrap()
        } else {
            let len = 16 + rng.below(49) as u8;
            let a = (u128::from(rng.next()) << 64) | u128::from(rng.next());
            Cidr::new(IpAddr::V6(Ipv6Addr::from(a)), len).unwrap()
        };
        if !seen.insert(p) {
            continue;
        }
        let pick = |rng: &mut Rng| {
            (rng.below(2) == 0).then(|| values[rng.below(values.len() as u64) as usize].clone())
        };
        let attrs = NetworkAttrs {
            name: pick(rng),
            role: pick(rng),
            site: pick(rng),
            region: pick(rng),
            tenant: pick(rng),
        };
        out.push((p, attrs));
    }
    out
}

fn addresses(n: usize, rng: &mut Rng) -> Vec<Ipv6Addr> {
    (0..n)
        .map(|_| {
            if rng.below(2) == 0 {
                Ipv4Addr::from(rng.next() as u32).to_ipv6_mapped()
            } else {
                Ipv6Addr::from((u128::from(rng.next()) << 64) | u128::from(rng.next()))
            }
        })
        .collect()
}

fn networks(c: &mut Criterion) {
    let mut g = c.benchmark_group("networks_lookup");
    let addrs = addresses(4096, &mut Rng(0x5eed));
    g.throughput(Throughput::Elements(addrs.len() as u64));
    for n in [1_000usize, 100_000] {
        let table = Networks::build(prefixes(n, &mut Rng(n as u64))).unwrap();
        let hits = addrs.iter().filter(|a| table.lookup(**a).is_some()).count();
        eprintln!(
            "{n} prefixes: {} ranges, {} attribute sets, {hits}/{} addresses found",
            table.ranges(),
            table.attribute_sets(),
            addrs.len()
        );
        g.bench_with_input(BenchmarkId::from_parameter(n), &table, |b, t| {
            b.iter(|| {
                let mut found = 0usize;
                for a in &addrs {
                    found += usize::from(t.lookup(black_box(*a)).is_some());
                }
                found
            })
        });
    }
    g.finish();
}

fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("networks_build");
    g.sample_size(10);
    let entries = prefixes(100_000, &mut Rng(100_000));
    g.bench_function("100000", |b| {
        b.iter(|| Networks::build(entries.iter().cloned()).unwrap())
    });
    g.finish();
}

fn geoip(c: &mut Criterion) {
    let dir = std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
        .join("corpus/mmdb");
    let (country, asn) = (
        dir.join("GeoLite2-Country-Test.mmdb"),
        dir.join("GeoLite2-ASN-Test.mmdb"),
    );
    if !country.is_file() || !asn.is_file() {
        eprintln!(
            "GeoIP benches skipped: no test databases under {}",
            dir.display()
        );
        return;
    }
    let db = GeoIp::open(Some(&country), Some(&asn)).unwrap();
    // Addresses the test databases know, and unknown ones.
    let addrs: Vec<Ipv6Addr> = [
        "81.2.69.160",
        "216.160.83.56",
        "89.160.20.128",
        "1.128.0.1",
        "12.81.92.7",
        "2600:6000::1",
        "10.0.0.1",
        "192.0.2.1",
    ]
    .iter()
    .map(|s| match s.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    })
    .collect();
    let mut g = c.benchmark_group("geoip_lookup");
    g.throughput(Throughput::Elements(addrs.len() as u64));
    g.bench_function("country", |b| {
        b.iter(|| {
            addrs
                .iter()
                .filter(|a| db.country(black_box(**a)).is_some())
                .count()
        })
    });
    g.bench_function("asn", |b| {
        b.iter(|| {
            addrs
                .iter()
                .filter(|a| db.asn(black_box(**a)).is_some())
                .count()
        })
    });
    g.finish();
}

criterion_group!(benches, networks, build, geoip);
criterion_main!(benches);
