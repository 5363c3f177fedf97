//! Steady-state decoding allocates nothing: a counting global allocator proves it deterministically
//! (no timing involved), from the `allocation-counter` crate so the test needs no `unsafe`. Templates are learned first; then data datagrams of every format, with
//! fixed-length and variable-length templates and options-driven sampling, are decoded into a
//! reused output buffer while allocations are counted.

use std::net::{IpAddr, Ipv4Addr};

use collector::{Decoder, DecoderSettings, FlowRecord, FnSink};
use flowgen::encode::{
    self, FieldSpec, Flow, IpfixHeader, Message, Template, V5Header, V9Header, Value,
};

fn flows(n: u32, v6: bool) -> Vec<Flow> {
    (0..n)
        .map(|i| Flow {
            src_addr: if v6 {
                IpAddr::V6(format!("2001:db8::{i:x}").parse().unwrap())
            } else {
                IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i))
            },
            dst_addr: if v6 {
                "2001:db8::ffff".parse().unwrap()
            } else {
                "10.255.0.1".parse().unwrap()
            },
            next_hop: if v6 {
                "fe80::1".parse().unwrap()
            } else {
                "10.0.0.254".parse().unwrap()
            },
            src_port: 1024 + i as u16,
            dst_port: 443,
            protocol: 6,
            tos: 0,
            tcp_flags: 0x18,
            bytes: 1500,
            packets: 1,
            start_ms: 1_767_225_590_000,
            end_ms: 1_767_225_599_000,
            in_if: 3,
            out_if: 4,
            src_as: 1,
            dst_as: 2,
            src_mask: 24,
            dst_mask: 24,
        })
        .collect()
}

#[test]
fn steady_state_decoding_allocates_nothing() {
    const NOW: i64 = 1_767_225_600_000;
    let from = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let mut d = Decoder::new(DecoderSettings::default());
    let v9h = V9Header {
        sys_uptime_ms: 1_000_000,
        unix_secs: 1_767_225_600,
        sequence: 0,
        source_id: 1,
    };
    let ipfixh = IpfixHeader {
        export_time: 1_767_225_600,
        sequence: 0,
        domain_id: 1,
    };
    let mut datagrams: Vec<Vec<u8>> = Vec::new();
    let mut warm: Vec<Vec<u8>> = Vec::new();

    let mut b = Vec::new();
    encode::encode_v9(&mut b, &v9h, &[], true).unwrap();
    warm.push(b);
    let mut b = Vec::new();
    encode::encode_ipfix(&mut b, &ipfixh, &[], true).unwrap();
    warm.push(b);
    for v6 in [false, true] {
        let mut b = Vec::new();
        encode::encode_v9(&mut b, &v9h, &flows(30, v6), false).unwrap();
        datagrams.push(b);
        let mut b = Vec::new();
        encode::encode_ipfix(&mut b, &ipfixh, &flows(30, v6), false).unwrap();
        datagrams.push(b);
    }
    let mut b = Vec::new();
    encode::encode_v5(
        &mut b,
        &V5Header {
            unix_secs: 1_767_225_600,
            sys_uptime_ms: 100_000,
            ..Default::default()
        },
        &flows(30, false),
    )
    .unwrap();
    datagrams.push(b);

    // A variable-length template with a sampler id resolved through options data.
    let var = Template::new(
        500,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(82, encode::VARLEN),
            FieldSpec::new(1, 8),
            FieldSpec::new(48, 1),
        ],
    );
    let opts = Template::options(501, &[FieldSpec::new(48, 1)], &[FieldSpec::new(50, 4)]);
    let mut b = Vec::new();
    let mut m = Message::ipfix(&mut b, &ipfixh);
    m.templates(std::slice::from_ref(&var)).unwrap();
    m.options_templates(std::slice::from_ref(&opts)).unwrap();
    m.data(&opts, &[&[Value::Unsigned(1), Value::Unsigned(100)]])
        .unwrap();
    m.finish().unwrap();
    warm.push(b);
    let src = Value::Addr(IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1)));
    let rec = [
        src,
        Value::Bytes(b"xe-0/0/1"),
        Value::Unsigned(1400),
        Value::Unsigned(1),
    ];
    let recs: Vec<&[Value]> = (0..30).map(|_| &rec[..]).collect();
    let mut b = Vec::new();
    let mut m = Message::ipfix(&mut b, &ipfixh);
    m.data(&var, &recs).unwrap();
    m.finish().unwrap();
    datagrams.push(b);

    let mut out: Vec<FlowRecord> = Vec::with_capacity(1024);
    for w in &warm {
        d.decode(from, w, NOW, &mut out).unwrap();
    }
    // One pass so every per-exporter entry exists, then count.
    for dg in &datagrams {
        out.clear();
        d.decode(from, dg, NOW, &mut out).unwrap();
    }
    let mut total = 0u64;
    let mut sum = 0u64;
    // allocation-counter's global allocator counts every allocation made inside `measure`.
    let info = allocation_counter::measure(|| {
        for _ in 0..100 {
            for dg in &datagrams {
                out.clear();
                let s = d.decode(from, dg, NOW, &mut out).unwrap();
                total += u64::from(s.records);
            }
        }
        let mut sink = FnSink(|r: &FlowRecord| sum += r.bytes);
        for dg in &datagrams {
            d.decode(from, dg, NOW, &mut sink).unwrap();
        }
    });
    let allocs = info.count_total;
    // The counter does see allocations (so the assertion below can fail).
    let probe = allocation_counter::measure(|| {
        std::hint::black_box(Vec::<u8>::with_capacity(16));
    });
    assert_eq!(probe.count_total, 1);
    assert_eq!(total, 100 * 30 * datagrams.len() as u64);
    assert!(sum > 0);
    assert_eq!(allocs, 0, "heap allocations while decoding {total} records");
    // The variable-length records were resolved through options data.
    out.clear();
    d.decode(from, datagrams.last().unwrap(), NOW, &mut out)
        .unwrap();
    assert_eq!(out[0].sampling_rate, 100);
}
