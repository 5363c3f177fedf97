//! The encoder and the decoder agree: every flow `flowgen::encode` writes (v5, v9, IPFIX, with
//! its realistic templates) comes back from `collector::Decoder` with the same values.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use collector::record::to_v6;
use collector::{Decoder, DecoderSettings, FlowRecord};
use flowgen::encode::*;
use flowgen::model::*;
use proptest::prelude::*;

const EXPORT_SECS: u32 = 1_767_225_600;
const EXPORTER: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn now() -> i64 {
    i64::from(EXPORT_SECS) * 1000
}

fn assert_same(rec: &FlowRecord, flow: &Flow, version: u16) {
    assert_eq!(rec.version, version);
    assert_eq!(rec.src_addr, Some(to_v6(flow.src_addr)));
    assert_eq!(rec.dst_addr, Some(to_v6(flow.dst_addr)));
    assert_eq!(rec.next_hop, Some(to_v6(flow.next_hop)));
    assert_eq!(rec.src_port, Some(flow.src_port));
    assert_eq!(rec.dst_port, Some(flow.dst_port));
    assert_eq!(rec.protocol, Some(flow.protocol));
    assert_eq!(rec.tos, Some(flow.tos));
    assert_eq!(rec.tcp_flags, Some(u16::from(flow.tcp_flags)));
    assert_eq!(rec.bytes, flow.bytes);
    assert_eq!(rec.packets, flow.packets);
    assert_eq!(rec.flow_start, Some(flow.start_ms as i64));
    assert_eq!(rec.flow_end, Some(flow.end_ms as i64));
    assert_eq!(rec.in_if, Some(flow.in_if));
    assert_eq!(rec.out_if, Some(flow.out_if));
    assert_eq!(rec.src_as, Some(flow.src_as));
    assert_eq!(rec.dst_as, Some(flow.dst_as));
    assert_eq!(rec.src_mask, Some(flow.src_mask));
    assert_eq!(rec.dst_mask, Some(flow.dst_mask));
}

fn in_wire_order(flows: &[Flow]) -> Vec<Flow> {
    let mut sorted = flows.to_vec();
    sorted.sort_by_key(|f| f.src_addr.is_ipv6());
    sorted
}

fn decode(dec: &mut Decoder, buf: &[u8]) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    dec.decode(EXPORTER, buf, now(), &mut out).unwrap();
    out
}

fn arb_flow(v6: bool, v5: bool) -> impl Strategy<Value = Flow> {
    let addr = move || -> BoxedStrategy<IpAddr> {
        if v6 {
            any::<u128>()
                .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
                .boxed()
        } else {
            any::<u32>()
                .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
                .boxed()
        }
    };
    let (wide16, wide32) = (
        if v5 { 0xffff } else { u32::MAX },
        if v5 { u32::MAX as u64 } else { u64::MAX },
    );
    let export_ms = u64::from(EXPORT_SECS) * 1000;
    (
        (
            addr(),
            addr(),
            addr(),
            any::<u16>(),
            any::<u16>(),
            any::<u8>(),
            any::<u8>(),
            any::<u8>(),
        ),
        (
            0..=wide32,
            0..=wide32.min(u64::from(u32::MAX)),
            0u64..3_000_000,
            0u64..600_000,
        ),
        (
            0..=wide16,
            0..=wide16,
            0..=wide16,
            0..=wide16,
            0u8..=128,
            0u8..=128,
        ),
    )
        .prop_map(move |(a, c, d)| Flow {
            src_addr: a.0,
            dst_addr: a.1,
            next_hop: a.2,
            src_port: a.3,
            dst_port: a.4,
            protocol: a.5,
            tos: a.6,
            tcp_flags: a.7,
            bytes: c.0,
            packets: c.1,
            start_ms: export_ms - c.2 - c.3,
            end_ms: export_ms - c.2,
            in_if: d.0,
            out_if: d.1,
            src_as: d.2,
            dst_as: d.3,
            src_mask: d.4.min(if v6 { 128 } else { 32 }),
            dst_mask: d.5.min(if v6 { 128 } else { 32 }),
        })
}

fn arb_flows(v5: bool) -> impl Strategy<Value = Vec<Flow>> {
    let one = if v5 {
        arb_flow(false, true).boxed()
    } else {
        prop_oneof![arb_flow(false, false), arb_flow(true, false)].boxed()
    };
    prop::collection::vec(one, 1..=30)
}

proptest! {
    #[test]
    fn decoder_reads_back_every_v5_flow(flows in arb_flows(true), uptime in 3_600_000u32..4_000_000_000) {
        let h = V5Header { sys_uptime_ms: uptime, unix_secs: EXPORT_SECS, ..Default::default() };
        let mut buf = Vec::new();
        encode_v5(&mut buf, &h, &flows).unwrap();
        let recs = decode(&mut Decoder::new(DecoderSettings::default()), &buf);
        prop_assert_eq!(recs.len(), flows.len());
        for (rec, flow) in recs.iter().zip(&flows) {
            assert_same(rec, flow, 5);
        }
    }

    #[test]
    fn decoder_reads_back_every_v9_flow(flows in arb_flows(false), uptime in 3_600_000u32..4_000_000_000) {
        let h = V9Header { sys_uptime_ms: uptime, unix_secs: EXPORT_SECS, sequence: 1, source_id: 3 };
        let mut buf = Vec::new();
        encode_v9(&mut buf, &h, &flows, true).unwrap();
        let recs = decode(&mut Decoder::new(DecoderSettings::default()), &buf);
        prop_assert_eq!(recs.len(), flows.len());
        for (rec, flow) in recs.iter().zip(in_wire_order(&flows)) {
            assert_same(rec, &flow, 9);
        }
    }

    #[test]
    fn decoder_reads_back_every_ipfix_flow(flows in arb_flows(false)) {
        let h = IpfixHeader { export_time: EXPORT_SECS, sequence: 0, domain_id: 3 };
        let mut buf = Vec::new();
        encode_ipfix(&mut buf, &h, &flows, true).unwrap();
        let recs = decode(&mut Decoder::new(DecoderSettings::default()), &buf);
        prop_assert_eq!(recs.len(), flows.len());
        for (rec, flow) in recs.iter().zip(in_wire_order(&flows)) {
            assert_same(rec, &flow, 10);
        }
    }
}

#[test]
fn decoder_uses_templates_sent_in_an_earlier_datagram() {
    let mut model = TrafficModel::new(100, 1.0, 0.5, 2).unwrap();
    let t = u64::from(EXPORT_SECS) * 1000 - 5_000;
    let flows: Vec<Flow> = (0..30).map(|_| model.next_flow(t, t + 1000, 3)).collect();
    let h = IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 0,
        domain_id: 8,
    };
    let mut dec = Decoder::new(DecoderSettings::default());
    let mut buf = Vec::new();
    encode_ipfix(&mut buf, &h, &[], true).unwrap();
    assert!(decode(&mut dec, &buf).is_empty());
    encode_ipfix(&mut buf, &h, &flows, false).unwrap();
    let recs = decode(&mut dec, &buf);
    assert_eq!(recs.len(), 30);
    for (rec, flow) in recs.iter().zip(in_wire_order(&flows)) {
        assert_same(rec, &flow, 10);
    }
}
