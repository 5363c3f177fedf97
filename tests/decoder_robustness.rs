//! Property tests: arbitrary and mutated datagrams never panic, every datagram is counted, and
//! buffered state (templates, held data) stays within its budgets whatever arrives.

use std::net::{IpAddr, Ipv4Addr};

use collector::{Decoder, DecoderConfig, FlowRecord};
use flowgen::encode::{self, FieldSpec, Flow, IpfixHeader, Message, Template, V9Header, Value};
use proptest::prelude::*;

const NOW: i64 = 1_767_225_600_000;

fn flow(i: u32) -> Flow {
    Flow {
        src_addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        dst_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)),
        next_hop: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2)),
        src_port: 1,
        dst_port: 2,
        protocol: 17,
        tos: 0,
        tcp_flags: 0,
        bytes: 100,
        packets: 1,
        start_ms: 1_767_225_500_000,
        end_ms: 1_767_225_599_000,
        in_if: 1,
        out_if: 2,
        src_as: 0,
        dst_as: 0,
        src_mask: 0,
        dst_mask: 0,
    }
}

/// Valid datagrams of every kind, as material for mutation.
fn seeds() -> Vec<Vec<u8>> {
    let fl: Vec<Flow> = (0..5).map(flow).collect();
    let mut v = Vec::new();
    let mut b = Vec::new();
    encode::encode_v9(
        &mut b,
        &V9Header {
            unix_secs: 1_767_225_600,
            ..Default::default()
        },
        &fl,
        true,
    )
    .unwrap();
    v.push(b);
    let mut b = Vec::new();
    encode::encode_ipfix(
        &mut b,
        &IpfixHeader {
            export_time: 1_767_225_600,
            ..Default::default()
        },
        &fl,
        true,
    )
    .unwrap();
    v.push(b);
    let mut b = Vec::new();
    encode::encode_v5(&mut b, &encode::V5Header::default(), &fl).unwrap();
    v.push(b);
    let var = Template::new(
        300,
        vec![FieldSpec::new(82, encode::VARLEN), FieldSpec::new(1, 4)],
    );
    let opts = Template::options(
        301,
        &[FieldSpec::new(48, 1)],
        &[FieldSpec::new(50, 4), FieldSpec::new(82, encode::VARLEN)],
    );
    let mut b = Vec::new();
    let mut m = Message::ipfix(&mut b, &IpfixHeader::default());
    m.templates(std::slice::from_ref(&var)).unwrap();
    m.options_templates(std::slice::from_ref(&opts)).unwrap();
    m.data(
        &opts,
        &[&[
            Value::Unsigned(1),
            Value::Unsigned(10),
            Value::Bytes(b"eth0"),
        ]],
    )
    .unwrap();
    m.data(
        &var,
        &[
            &[Value::Bytes(b"abc"), Value::Unsigned(5)],
            &[Value::BytesLongForm(b"x"), Value::Unsigned(6)],
        ],
    )
    .unwrap();
    m.finish().unwrap();
    v.push(b);
    // NetFlow v9 options without scope fields (Juniper SRX: exporter-wide sampling).
    let srx = Template::options(256, &[], &[FieldSpec::new(34, 4), FieldSpec::new(35, 1)]);
    let mut b = Vec::new();
    let mut m = Message::v9(&mut b, &V9Header::default());
    m.options_templates(std::slice::from_ref(&srx)).unwrap();
    m.data(&srx, &[&[Value::Unsigned(100), Value::Unsigned(2)]])
        .unwrap();
    m.finish().unwrap();
    v.push(b);
    v
}

fn small_budgets() -> Decoder {
    let cfg = DecoderConfig {
        template_memory_bytes: 64 << 10,
        pending_bytes_per_exporter: 2048,
        pending_bytes_total: 16 << 10,
        max_templates_per_exporter: 8,
        ..Default::default()
    };
    Decoder::new(cfg.validate("decoder").unwrap())
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
}

fn mutate(mut d: Vec<u8>, muts: &[Mutation]) -> Vec<u8> {
    for m in muts {
        match *m {
            Mutation::Flip(i, x) if !d.is_empty() => {
                let n = d.len();
                d[i % n] ^= x;
            }
            Mutation::Truncate(i) => d.truncate(i % (d.len() + 1)),
            Mutation::Insert(i, x) => {
                let n = d.len();
                d.insert(i % (n + 1), x);
            }
            _ => {}
        }
    }
    d
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1u8..).prop_map(|(i, x)| Mutation::Flip(i, x)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(i, x)| Mutation::Insert(i, x)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(version in prop_oneof![Just(5u16), Just(9), Just(10), any::<u16>()],
                                   body in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let mut d = small_budgets();
        let mut dgram = version.to_be_bytes().to_vec();
        dgram.extend_from_slice(&body);
        let mut out: Vec<FlowRecord> = Vec::new();
        let _ = d.decode(IpAddr::V4(Ipv4Addr::LOCALHOST), &dgram, NOW, &mut out);
        let st = &d.stats().exporters[&collector::record::to_v6(IpAddr::V4(Ipv4Addr::LOCALHOST))];
        prop_assert_eq!(st.datagrams, 1);
        prop_assert_eq!(st.records, out.len() as u64);
    }

    #[test]
    fn mutated_real_datagrams_never_panic_and_state_stays_within_budgets(
        picks in proptest::collection::vec((0usize..5, 0u8..8, proptest::collection::vec(mutation(), 0..6)), 1..40)
    ) {
        let seeds = seeds();
        let mut d = small_budgets();
        let mut out: Vec<FlowRecord> = Vec::new();
        for (seed, exporter, muts) in picks {
            let dgram = mutate(seeds[seed].clone(), &muts);
            let from = IpAddr::V4(Ipv4Addr::new(192, 0, 2, exporter));
            let _ = d.decode(from, &dgram, NOW, &mut out);
            prop_assert!(d.template_bytes() <= (64 << 10) + (16 << 10), "template bytes {}", d.template_bytes());
            prop_assert!(d.pending_bytes() <= 16 << 10, "pending bytes {}", d.pending_bytes());
        }
        for r in &out {
            prop_assert!(r.sampling_rate >= 1);
        }
    }

}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn template_floods_from_many_exporters_stay_within_the_budget(
        n_exporters in 1u32..400, n_templates in 1u16..60, fields in 1usize..40
    ) {
        let mut d = small_budgets();
        let tpls: Vec<_> = (0..n_templates)
            .map(|i| Template::new(256 + i, (0..fields).map(|f| FieldSpec::new(1 + f as u16, 4)).collect()))
            .collect();
        let mut b = Vec::new();
        let mut m = Message::ipfix(&mut b, &IpfixHeader::default());
        m.templates(&tpls).unwrap();
        m.finish().unwrap();
        for e in 0..n_exporters {
            let _ = d.decode(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + e)), &b, NOW, &mut Vec::new());
            prop_assert!(d.template_bytes() <= (64 << 10) + (16 << 10));
        }
    }
}
