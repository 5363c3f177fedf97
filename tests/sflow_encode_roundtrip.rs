//! The sFlow encoder and the decoder agree: every flow sample `flowgen::encode::sflow` writes
//! comes back from `collector::Decoder` as one record with the flow's values (bytes the sampled
//! packet's IP length, one packet, the sample's rate), every counter sample as the interface's
//! counters, and sequence numbers written the encoder's way show no loss, where a missing
//! datagram shows exactly its datagram and samples.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use collector::record::{VERSION_SFLOW, to_v6};
use collector::{
    Decoder, DecoderSettings, FlowRecord, InterfaceCounters, RecordSink, SamplingSource,
};
use flowgen::encode::Flow;
use flowgen::encode::sflow::{
    CounterSampleHeader, Datagram, ExtendedGateway, ExtendedSwitch, FlowRecords, FlowSampleHeader,
    Header, IfCounters,
};
use proptest::prelude::*;

const NOW_MS: i64 = 1_767_225_600_000;

#[derive(Default)]
struct Sink {
    flows: Vec<FlowRecord>,
    counters: Vec<InterfaceCounters>,
}

impl RecordSink for Sink {
    fn push(&mut self, rec: &FlowRecord) {
        self.flows.push(*rec);
    }

    fn counters(&mut self, c: &InterfaceCounters) {
        self.counters.push(*c);
    }
}

fn decode(dec: &mut Decoder, from: IpAddr, buf: &[u8]) -> Sink {
    let mut sink = Sink::default();
    let s = dec.decode(from, buf, NOW_MS, &mut sink).unwrap();
    assert_eq!(s.error_count(), 0, "{s:?}");
    sink
}

/// One sampled packet and what its flow sample carries.
#[derive(Clone, Debug)]
struct Case {
    flow: Flow,
    sample: FlowSampleHeader,
    records: FlowRecords,
}

/// The decoded record of `case`, checked field by field.
fn assert_same(rec: &FlowRecord, case: &Case, agent: IpAddr, sub_agent: u32) {
    let Case {
        flow,
        sample,
        records,
    } = case;
    let what = format!("{case:?}");
    assert_eq!(rec.version, VERSION_SFLOW);
    assert_eq!(rec.exporter, to_v6(agent));
    assert_eq!(rec.observation_domain, sub_agent);
    assert_eq!(rec.src_addr, Some(to_v6(flow.src_addr)), "{what}");
    assert_eq!(rec.dst_addr, Some(to_v6(flow.dst_addr)), "{what}");
    assert_eq!(rec.protocol, Some(flow.protocol), "{what}");
    assert_eq!(rec.tos, Some(flow.tos), "{what}");
    match flow.protocol {
        6 | 17 => {
            assert_eq!(rec.src_port, Some(flow.src_port), "{what}");
            assert_eq!(rec.dst_port, Some(flow.dst_port), "{what}");
        }
        1 | 58 => {
            assert_eq!(rec.src_port, None);
            assert_eq!(rec.icmp_type, Some((flow.dst_port >> 8) as u8), "{what}");
            assert_eq!(rec.icmp_code, Some(flow.dst_port as u8), "{what}");
        }
        _ => assert_eq!((rec.src_port, rec.dst_port), (None, None), "{what}"),
    }
    let flags = (flow.protocol == 6).then_some(u16::from(flow.tcp_flags));
    assert_eq!(rec.tcp_flags, flags, "{what}");
    // One sampled packet: its IP length, scaled by the sample's rate only when reported.
    assert_eq!(rec.bytes, flow.bytes, "{what}");
    assert_eq!(rec.packets, 1);
    assert_eq!(rec.sampling_rate, sample.sampling_rate);
    assert_eq!(rec.sampling_source, SamplingSource::Record);
    // The data source: its ifIndex for type 0, else the compact source id word.
    let source = match sample.source_id_type {
        0 => sample.source_id_index,
        t => u32::from(t) << 24 | sample.source_id_index & 0x00FF_FFFF,
    };
    assert_eq!(rec.sampler_id, Some(source));
    assert_eq!(rec.in_if, Some(flow.in_if), "{what}");
    assert_eq!(rec.out_if, Some(flow.out_if), "{what}");
    // The frame: L2 header (14, 18 tagged), the packet, padding to 60, the FCS.
    let l2 = if records.vlan_tag.is_some() { 18 } else { 14 };
    let frame = (l2 + flow.bytes).max(60) + 4;
    assert_eq!(rec.frame_bytes, Some(frame as u32), "{what}");
    // The switch's VLAN when it is a VLAN id (1 to 4094), else the frame's tag.
    let vlan = match records.switch {
        Some(sw) if (1..=4094).contains(&sw.src_vlan) => Some(sw.src_vlan as u16),
        _ => records.vlan_tag,
    };
    assert_eq!(rec.vlan, vlan, "{what}");
    let hop = (records.router || records.gateway.is_some()).then(|| to_v6(flow.next_hop));
    assert_eq!(rec.next_hop, hop, "{what}");
    let masks = records.router.then_some((flow.src_mask, flow.dst_mask));
    assert_eq!(rec.src_mask.zip(rec.dst_mask), masks, "{what}");
    let asns = records.gateway.map(|_| (flow.src_as, flow.dst_as));
    assert_eq!(rec.src_as.zip(rec.dst_as), asns, "{what}");
    assert_eq!(rec.flags, 0, "{what}");
}

fn arb_addr(v6: bool) -> BoxedStrategy<IpAddr> {
    if v6 {
        any::<u128>()
            .prop_map(|a| IpAddr::V6(Ipv6Addr::from(a)))
            .boxed()
    } else {
        any::<u32>()
            .prop_map(|a| IpAddr::V4(Ipv4Addr::from(a)))
            .boxed()
    }
}

/// Flows of one family whose `bytes` is a valid IP length for their protocol.
fn arb_flow(v6: bool) -> impl Strategy<Value = Flow> {
    let icmp = if v6 { 58 } else { 1 };
    let protocol = prop_oneof![Just(6u8), Just(17), Just(icmp), Just(47)];
    let ip_hdr: u64 = if v6 { 40 } else { 20 };
    let max = if v6 { 65_575 } else { 65_535 };
    (
        (arb_addr(v6), arb_addr(v6), arb_addr(v6)),
        (
            any::<u16>(),
            any::<u16>(),
            protocol,
            any::<u8>(),
            any::<u8>(),
        ),
        // Mostly short packets, whose whole header is in the record, and some of any length.
        prop_oneof![3 => 0u64..100, 1 => 0u64..=max],
        // Interfaces below 0x3FFFFFFF, which means "internal".
        (0u32..0x3FFF_FFFF, 0u32..0x3FFF_FFFF),
        (any::<u32>(), any::<u32>(), 0u8..=128, 0u8..=128),
    )
        .prop_map(move |(a, t, extra, i, r)| {
            let l4 = match t.2 {
                6 => 20,
                17 | 1 | 58 => 8,
                _ => 0,
            };
            Flow {
                src_addr: a.0,
                dst_addr: a.1,
                next_hop: a.2,
                src_port: t.0,
                dst_port: t.1,
                protocol: t.2,
                tos: t.3,
                tcp_flags: t.4,
                bytes: (ip_hdr + l4 + extra).min(max),
                packets: 1,
                start_ms: 0,
                end_ms: 0,
                in_if: i.0,
                out_if: i.1,
                src_as: r.0,
                dst_as: r.1,
                src_mask: r.2.min(if v6 { 128 } else { 32 }),
                dst_mask: r.3.min(if v6 { 128 } else { 32 }),
            }
        })
}

fn arb_records() -> impl Strategy<Value = FlowRecords> {
    (
        proptest::option::of(0u16..4096),
        proptest::option::of((0u32..4096, 0u32..8, 0u32..4096, 0u32..8)),
        any::<bool>(),
        proptest::option::of((
            any::<u32>(),
            any::<u32>(),
            proptest::option::of(any::<u32>()),
        )),
    )
        .prop_map(|(tag, sw, router, gw)| FlowRecords {
            vlan_tag: tag,
            switch: sw.map(|s| ExtendedSwitch {
                src_vlan: s.0,
                src_priority: s.1,
                dst_vlan: s.2,
                dst_priority: s.3,
            }),
            router,
            gateway: gw.map(|g| ExtendedGateway {
                router_as: g.0,
                src_peer_as: g.1,
                dst_peer_as: g.2,
                local_pref: 100,
            }),
        })
}

fn arb_case() -> impl Strategy<Value = Case> {
    (
        prop_oneof![arb_flow(false), arb_flow(true)],
        any::<bool>(),
        (0u8..3, 1u32..0x00FF_FFFF, 1u32..=65_536),
        arb_records(),
    )
        .prop_map(|(flow, expanded, (kind, index, rate), records)| Case {
            flow,
            sample: FlowSampleHeader {
                expanded,
                sequence: 0,
                source_id_type: kind,
                source_id_index: index,
                sampling_rate: rate,
                sample_pool: 0,
                drops: 0,
            },
            records,
        })
}

proptest! {
    #[test]
    fn decoder_reads_back_every_flow_sample(
        cases in prop::collection::vec(arb_case(), 1..=8),
        agent in prop_oneof![arb_addr(false), arb_addr(true)],
        sub_agent in any::<u32>(),
    ) {
        let h = Header { agent, sub_agent, sequence: 1, uptime_ms: 60_000 };
        let mut buf = Vec::new();
        let mut d = Datagram::new(&mut buf, &h);
        for c in &cases {
            d.flow_sample(&c.sample, &c.flow, &c.records).unwrap();
        }
        d.finish();
        let mut dec = Decoder::new(DecoderSettings::default());
        let got = decode(&mut dec, IpAddr::V4(Ipv4Addr::LOCALHOST), &buf);
        prop_assert_eq!(got.flows.len(), cases.len());
        for (rec, case) in got.flows.iter().zip(&cases) {
            assert_same(rec, case, agent, sub_agent);
        }
    }
}

fn sample_flow(i: u32) -> Flow {
    Flow {
        src_addr: IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1 + (i % 200) as u8)),
        dst_addr: "172.16.0.2".parse().unwrap(),
        next_hop: "10.255.255.1".parse().unwrap(),
        src_port: 40_000 + i as u16,
        dst_port: 443,
        protocol: 6,
        tos: 0,
        tcp_flags: 0x18,
        bytes: [60, 576, 1500][i as usize % 3],
        packets: 1,
        start_ms: 0,
        end_ms: 0,
        in_if: 1 + i % 3,
        out_if: 10,
        src_as: 64512,
        dst_as: 65001,
        src_mask: 24,
        dst_mask: 16,
    }
}

/// `datagrams` datagrams of 5 samples each from 3 data sources (ifIndex 1 to 3), sequence
/// numbers written as an agent writes them: the datagram sequence per agent, the sample sequence
/// and pool per data source.
fn agent_datagrams(agent: IpAddr, datagrams: u32, rate: u32) -> Vec<Vec<u8>> {
    let mut per_source = [(0u32, 0u32); 3];
    let mut n = 0;
    (0..datagrams)
        .map(|seq| {
            let h = Header {
                agent,
                sub_agent: 0,
                sequence: seq + 1,
                uptime_ms: 1000 * seq,
            };
            let mut buf = Vec::new();
            let mut d = Datagram::new(&mut buf, &h);
            for _ in 0..5 {
                let flow = sample_flow(n);
                n += 1;
                let src = &mut per_source[(flow.in_if - 1) as usize];
                src.0 += 1;
                src.1 += rate;
                let s = FlowSampleHeader {
                    expanded: false,
                    sequence: src.0,
                    source_id_type: 0,
                    source_id_index: flow.in_if,
                    sampling_rate: rate,
                    sample_pool: src.1,
                    drops: 0,
                };
                d.flow_sample(&s, &flow, &FlowRecords::default()).unwrap();
            }
            d.finish();
            buf
        })
        .collect()
}

#[test]
fn sequence_numbers_written_per_agent_and_per_source_show_no_loss() {
    let agent: IpAddr = "2001:db8::7".parse().unwrap();
    let mut dec = Decoder::new(DecoderSettings::default());
    let mut records = 0;
    for dg in agent_datagrams(agent, 30, 10) {
        records += decode(&mut dec, IpAddr::V6(Ipv6Addr::LOCALHOST), &dg)
            .flows
            .len();
    }
    assert_eq!(records, 150);
    let st = &dec.stats().exporters[&to_v6(agent)];
    assert_eq!(st.records, 150);
    assert_eq!(
        (
            st.sequence_lost,
            st.samples_lost,
            st.sequence_resets,
            st.agent_drops
        ),
        (0, 0, 0, 0)
    );
    // 50 samples per source, the pool growing by the rate after each source's first.
    assert_eq!(st.sample_pool, 3 * 49 * 10);
}

#[test]
fn a_missing_datagram_is_one_datagram_and_its_samples_lost() {
    let agent: IpAddr = "192.0.2.9".parse().unwrap();
    let mut dec = Decoder::new(DecoderSettings::default());
    for (i, dg) in agent_datagrams(agent, 10, 1).iter().enumerate() {
        if i != 4 {
            decode(&mut dec, IpAddr::V4(Ipv4Addr::LOCALHOST), dg);
        }
    }
    let st = &dec.stats().exporters[&to_v6(agent)];
    assert_eq!(st.records, 45);
    assert_eq!((st.sequence_lost, st.samples_lost), (1, 5));
}

#[test]
fn counter_samples_come_back_as_interface_counters_with_deltas() {
    let agent: IpAddr = "192.0.2.1".parse().unwrap();
    let c0 = IfCounters {
        index: 3,
        if_type: 6,
        speed: 10_000_000_000,
        direction: 1,
        status: 3,
        in_octets: 1_000_000,
        in_ucast: 1000,
        in_multicast: 10,
        in_broadcast: 1,
        in_discards: 2,
        in_errors: 3,
        in_unknown_protos: u32::MAX,
        out_octets: 2_000_000,
        out_ucast: 2000,
        out_multicast: 20,
        out_broadcast: 2,
        out_discards: 4,
        out_errors: 5,
        promiscuous: 2,
    };
    let c1 = IfCounters {
        in_octets: 1_500_000,
        in_ucast: 1400,
        in_errors: 4,
        out_octets: 2_100_000,
        out_ucast: 2100,
        out_discards: 6,
        ..c0
    };
    let mut dec = Decoder::new(DecoderSettings::default());
    let mut got = Vec::new();
    for (seq, (c, expanded)) in [(c0, false), (c1, true)].into_iter().enumerate() {
        let seq = seq as u32;
        let h = Header {
            agent,
            sub_agent: 2,
            sequence: seq,
            uptime_ms: 20_000 * seq,
        };
        let mut buf = Vec::new();
        let mut d = Datagram::new(&mut buf, &h);
        let cs = CounterSampleHeader {
            expanded,
            sequence: seq,
            source_id_type: 0,
            source_id_index: 3,
        };
        d.counter_sample(&cs, &c).unwrap();
        d.finish();
        let sink = decode(&mut dec, IpAddr::V4(Ipv4Addr::LOCALHOST), &buf);
        assert!(sink.flows.is_empty());
        got.extend(sink.counters);
    }
    assert_eq!(got.len(), 2);
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.exporter, to_v6(agent));
    assert_eq!(first.sub_agent, 2);
    assert_eq!(
        (
            first.ifindex,
            first.if_type,
            first.speed,
            first.direction,
            first.status
        ),
        (3, 6, 10_000_000_000, 1, 3)
    );
    assert_eq!(
        (first.in_octets_total, first.out_octets_total),
        (1_000_000, 2_000_000)
    );
    assert_eq!(
        (second.in_octets, second.out_octets),
        (500_000, 100_000),
        "deltas from the first sample"
    );
    assert_eq!((second.in_packets, second.out_packets), (400, 100));
    assert_eq!((second.in_errors, second.out_discards), (1, 2));
}
