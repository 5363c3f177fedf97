//! The flow mix the aggregator benches share: Zipf-like (s = 1.1) popularity over a set of source
//! addresses, flows spread over one minute, each lasting 5 s (so some cross a window boundary and
//! are pro-rated). Included by the benches with `#[path]`; not a module of the crate.

use std::net::Ipv4Addr;

use collector::FlowRecord;

/// Start of the minute the flows end in (Unix ms).
pub const T0: i64 = 1_767_225_600_000;

/// `n` flows over one minute from a Zipf-like (s = 1.1) popularity over `keys` sources.
pub fn flows(n: usize, keys: u32) -> Vec<FlowRecord> {
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
