//! sFlow decoding allocates nothing in steady state, hostile counts included: a counting global
//! allocator (`allocation-counter`, so the test needs no `unsafe`) proves it deterministically.
//! Every datagram is decoded once first (so the agent's scope, its data sources and interfaces
//! and its per-format skip counters exist); then all of them are decoded 100 more times while
//! allocations are counted, and the exporter's counters must show each one rejected or skipped
//! for the right reason:
//! - an expanded flow sample claiming 0xFFFFFFFF records (rejected: bad count, before reading);
//! - an extended gateway with a 1,000-segment AS path (read whole, without a Vec), and the same
//!   path claiming 1,000 segments where 600 are present (rejected: bad count);
//! - records cut short: one longer than its sample, one shorter than its format (truncated);
//! - enterprise and unknown standard formats (skipped by length and counted by format).

mod sflow_gen;

use std::net::IpAddr;

use collector::record::to_v6;
use collector::{
    Decoder, DecoderSettings, ErrorKind, FlowRecord, InterfaceCounters, RecordSink, SkippedFormat,
};
use sflow_gen::{Datagram, Rec, Sample, W};

const NOW: i64 = 1_767_225_600_000;

/// Counts flows and interface counter rows, and keeps nothing.
#[derive(Default)]
struct Count {
    flows: u64,
    counters: u64,
    bytes: u64,
    dst_as: u64,
}

impl RecordSink for Count {
    fn push(&mut self, r: &FlowRecord) {
        self.flows += 1;
        self.bytes += r.bytes;
        self.dst_as += u64::from(r.dst_as.unwrap_or(0));
    }
    fn counters(&mut self, _: &InterfaceCounters) {
        self.counters += 1;
    }
}

fn agent() -> IpAddr {
    "192.0.2.10".parse().unwrap()
}

fn datagram(sequence: u32, samples: Vec<Sample>) -> Vec<u8> {
    Datagram {
        agent: agent(),
        sub_agent: 1,
        sequence,
        uptime_ms: 60_000,
        samples,
    }
    .encode()
}

fn flow(expanded: bool, index: u32, records: Vec<Rec>) -> Sample {
    Sample::Flow {
        expanded,
        sequence: 1,
        source_type: 0,
        source_index: index,
        rate: 1000,
        pool: 1_000_000,
        drops: 0,
        input: (0, 3),
        output: (0, 4),
        records,
    }
}

fn header(i: u8) -> Rec {
    Rec::Raw {
        protocol: 1,
        frame_length: 1518,
        stripped: 4,
        header: sflow_gen::tcp_frame(
            Some(100),
            IpAddr::from([10, 0, 0, i]),
            IpAddr::from([10, 1, 0, 1]),
            40_000 + u16::from(i),
            443,
            1500,
            0x18,
            128,
        ),
    }
}

fn gateway(segments: u32) -> Rec {
    Rec::Gateway {
        next_hop: Some("10.0.0.254".parse().unwrap()),
        router_as: 65000,
        src_as: 64512,
        src_peer_as: 64513,
        path: (0..segments).map(|i| (2, vec![64_600 + i])).collect(),
        communities: vec![0xfde8_0001],
        local_pref: 100,
    }
}

/// The sample and record tags of a datagram's first flow sample start after the 28-byte header
/// (IPv4 agent); its record count is the last word of the sample header.
const FIRST_SAMPLE: usize = 28;

#[test]
fn hostile_counts_and_unknown_formats_allocate_nothing_and_are_counted() {
    let from: IpAddr = "192.0.2.1".parse().unwrap();
    let mut d = Decoder::new(DecoderSettings::default());

    // A well-formed datagram: 8 samples, compact and expanded, raw header + extended switch.
    let normal = datagram(
        1,
        (0..8)
            .map(|i| {
                flow(
                    i % 2 == 1,
                    3,
                    vec![header(i as u8), Rec::Switch([100, 0, 200, 0])],
                )
            })
            .collect(),
    );

    // An expanded flow sample claiming 0xFFFFFFFF records (its record count is at offset 40 of
    // the sample body: sequence, source type and index, rate, pool, drops, 4 interface words).
    let mut huge_count = datagram(2, vec![flow(true, 5, vec![header(1)])]);
    let at = FIRST_SAMPLE + 8 + 40;
    assert_eq!(huge_count[at..at + 4], 1u32.to_be_bytes());
    huge_count[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());

    // A 1,000-segment AS path that is all there, in a 12 kB record.
    let long_path = datagram(3, vec![flow(false, 6, vec![header(2), gateway(1000)])]);

    // The same record claiming 1,000 segments with 600 present (the record length is adjusted,
    // so it is the path, not the framing, that lies).
    let (_, _, mut body) = gateway(600).encode();
    // next hop (8), router AS, source AS, source peer AS, then the segment count.
    body[20..24].copy_from_slice(&1000u32.to_be_bytes());
    let cut_path = datagram(
        4,
        vec![flow(
            false,
            7,
            vec![
                header(3),
                Rec::Other {
                    enterprise: 0,
                    format: 1003,
                    data: body,
                },
            ],
        )],
    );

    // A record longer than its sample: the sample's own length is right, the record's is not.
    let mut over = W::default();
    over.u32(1).u32(3 << 24 | 8); // sequence, source id 3:8
    over.u32(1000).u32(1_000_000).u32(0).u32(3).u32(4); // rate, pool, drops, in, out
    over.u32(1).u32(1001).u32(64).bytes(&[0; 16]); // one extended switch claiming 64 bytes
    let record_over_sample = datagram(
        5,
        vec![Sample::Other {
            enterprise: 0,
            format: 1,
            data: over.0,
        }],
    );

    // A sampled IPv4 record of 20 bytes (its format needs 32).
    let short_ip = datagram(
        6,
        vec![flow(
            false,
            9,
            vec![Rec::Other {
                enterprise: 0,
                format: 3,
                data: vec![0; 20],
            }],
        )],
    );

    // Formats sluice skips: an enterprise sample, an enterprise flow record, a standard flow
    // record it does not read (sampled Ethernet, 2) beside a good raw header; then, in a
    // datagram of its own (a datagram tracks 3 distinct formats by name, the rest under
    // `SkippedFormat::OTHER`), an unknown counter record beside interface counters and a port
    // name.
    let mut ifc = [0u32; 22];
    ifc[0] = 3;
    let skipped = datagram(
        7,
        vec![
            Sample::Other {
                enterprise: 4413,
                format: 5,
                data: vec![0; 12],
            },
            flow(
                false,
                10,
                vec![
                    Rec::Other {
                        enterprise: 4413,
                        format: 1,
                        data: vec![1, 2, 3, 4],
                    },
                    Rec::Other {
                        enterprise: 0,
                        format: 2,
                        data: vec![0; 24],
                    },
                    header(4),
                ],
            ),
        ],
    );
    let skipped_counter = datagram(
        8,
        vec![Sample::Counters {
            expanded: false,
            sequence: 1,
            source_type: 0,
            source_index: 3,
            records: vec![
                Rec::IfCounters(ifc),
                Rec::PortName(b"xe-0/0/3".to_vec()),
                Rec::Other {
                    enterprise: 0,
                    format: 2000,
                    data: vec![0; 8],
                },
            ],
        }],
    );

    let datagrams = [
        &normal,
        &huge_count,
        &long_path,
        &cut_path,
        &record_over_sample,
        &short_ip,
        &skipped,
        &skipped_counter,
    ];
    assert!(long_path.len() > 12_000);

    // Warm-up: one pass creates every per-agent entry.
    let mut sink = Count::default();
    for dg in datagrams {
        d.decode(from, dg, NOW, &mut sink).unwrap();
    }
    let exporter = to_v6(agent());
    let before = d.stats().exporters[&exporter].clone();
    assert_eq!(before.udp_source, Some(to_v6(from)));

    const ROUNDS: u64 = 100;
    let mut sink = Count::default();
    let info = allocation_counter::measure(|| {
        for _ in 0..ROUNDS {
            for dg in datagrams {
                d.decode(from, dg, NOW, &mut sink).unwrap();
            }
        }
    });
    // The counter does see allocations (so the assertion below can fail).
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(16));
    });
    assert_eq!(probe.count_total, 1);
    assert_eq!(
        info.count_total, 0,
        "heap allocations while decoding {} flows",
        sink.flows
    );

    // Records: 8 (normal) + 1 (long path) + 1 (skipped) per round; the cut path's sample and
    // the short record's sample are rejected, the others have no flow sample left.
    assert_eq!(sink.flows, ROUNDS * 10);
    assert_eq!(sink.counters, ROUNDS);
    assert_eq!(sink.bytes, ROUNDS * 10 * 1500);
    // The long path's destination AS is the last segment's.
    assert_eq!(sink.dst_as, ROUNDS * u64::from(64_600 + 999u32));

    let after = &d.stats().exporters[&exporter];
    let delta = |k: ErrorKind| after.errors[k as usize] - before.errors[k as usize];
    // 0xFFFFFFFF records; 1,000 segments claimed with 600 there.
    assert_eq!(delta(ErrorKind::BadCount), 2 * ROUNDS);
    // The record longer than its sample; the 20-byte sampled IPv4 record.
    assert_eq!(delta(ErrorKind::Truncated), 2 * ROUNDS);
    let other_errors: u64 = ErrorKind::ALL
        .iter()
        .filter(|k| !matches!(k, ErrorKind::BadCount | ErrorKind::Truncated))
        .map(|&k| delta(k))
        .sum();
    assert_eq!(other_errors, 0);
    assert_eq!(after.datagrams - before.datagrams, ROUNDS * 8);
    assert_eq!(after.records - before.records, ROUNDS * 10);

    // Four skipped formats per round, each counted under its kind and format.
    assert_eq!(
        after.formats_skipped() - before.formats_skipped(),
        4 * ROUNDS
    );
    let skipped_delta = |kind, enterprise, format| {
        let f = SkippedFormat {
            kind,
            enterprise,
            format,
        };
        let n = |s: &collector::ExporterStats| {
            s.skipped_formats
                .iter()
                .find(|(k, _)| *k == f)
                .map_or(0, |e| e.1)
        };
        n(after) - n(&before)
    };
    assert_eq!(skipped_delta(0, 4413, 5), ROUNDS, "enterprise sample");
    assert_eq!(skipped_delta(1, 4413, 1), ROUNDS, "enterprise flow record");
    assert_eq!(
        skipped_delta(1, 0, 2),
        ROUNDS,
        "sampled Ethernet flow record"
    );
    assert_eq!(skipped_delta(2, 0, 2000), ROUNDS, "unknown counter record");
}
