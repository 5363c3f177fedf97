//! Differential test: sluice's sFlow v5 decoder against an independent implementation
//! (`flowparser-sflow` 0.3) on every capture of `corpus/vendor/akvorado-sflow` and on generated
//! datagrams.
//!
//! Each datagram is read three ways: by sluice's wire views (`collector::wire::sflow`, reduced to
//! [`Dg`]), by `flowparser-sflow` (reduced to the same shape), and by `collector::decode` (the
//! [`FlowRecord`]s and interface counters it emits). The two readings must agree sample by
//! sample: agent, sub-agent, sequence, uptime, and per sample its sequence, data source, rate,
//! pool, drops, interfaces (format and value) and records. `flowparser-sflow` does not look
//! inside the raw packet header, so for that record the header bytes, frame length and stripped
//! count are compared, and what `collector::wire::packet::parse` finds in the header (addresses,
//! ports, protocol, ToS, IP length, VLAN) is compared with a reading of the same bytes by
//! `pnet_packet`. The emitted records must then be what the crate's reading implies (see
//! [`Expect`]).
//!
//! Acceptance must agree too: a datagram the crate rejects, sluice rejects or counts (a decode
//! error, or a skipped format the crate reads and sluice does not), and the other way round. The
//! exceptions form a closed set ([`Known`]); each has its own test below, on a small input, that
//! shows the crate's behaviour and says why sluice's is right. Any other disagreement fails.

mod sflow_gen;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use collector::error::DecodeError;
use collector::record::{display_addr, flags, to_v6};
use collector::wire::packet;
use collector::wire::sflow::{
    self as wire, EthCounters, ExtendedGateway, ExtendedRouter, ExtendedSwitch, IfCounters,
    Interface, RawHeader, SampledIp,
};
use collector::{Decoder, DecoderSettings, FlowRecord, SkippedFormat};
use flowparser_sflow::{
    AddressType, CounterRecord, FlowRecord as CFlow, SflowDatagram, SflowParser, SflowSample,
};
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::vlan::VlanPacket;
use proptest::prelude::*;
use sflow_gen::{Datagram as GDg, Rec, Sample as GSample};

const NOW_MS: i64 = 1_767_225_600_000;

// ---------------------------------------------------------------------------------------------
// One comparable shape for both readings.

/// A datagram, as either side read it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Dg {
    agent: IpAddr,
    sub_agent: u32,
    sequence: u32,
    uptime: u32,
    samples: Vec<S>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum S {
    Flow {
        expanded: bool,
        sequence: u32,
        source: (u32, u32),
        rate: u32,
        pool: u32,
        drops: u32,
        /// (format, value).
        input: (u32, u32),
        output: (u32, u32),
        records: Vec<R>,
    },
    Counters {
        expanded: bool,
        sequence: u32,
        source: (u32, u32),
        records: Vec<R>,
    },
    /// A sample sluice skips by its length: (enterprise, format).
    Other(u32, u32),
    /// A standard sample only the crate reads (discarded packet, format 5).
    CrateOnly(&'static str),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum R {
    Raw {
        protocol: u32,
        frame_length: u32,
        stripped: u32,
        header: Vec<u8>,
    },
    Ip {
        length: u32,
        protocol: u32,
        src: IpAddr,
        dst: IpAddr,
        src_port: u32,
        dst_port: u32,
        tcp_flags: u32,
        tos: u32,
    },
    Switch([u32; 4]),
    Router {
        next_hop: Option<IpAddr>,
        src_mask: u32,
        dst_mask: u32,
    },
    /// The crate does not read the gateway's local preference, so it is not compared.
    Gateway {
        next_hop: Option<IpAddr>,
        router_as: u32,
        src_as: u32,
        src_peer_as: u32,
        path: Vec<(u32, Vec<u32>)>,
        communities: Vec<u32>,
    },
    /// Generic interface counters, the 19 fields in order.
    If([u64; 19]),
    /// Ethernet counters, the 13 fields in order.
    Eth([u32; 13]),
    PortName(Vec<u8>),
    /// A record sluice skips by its length: (enterprise, format).
    Other(u32, u32),
    /// A standard record only the crate reads, by its variant name.
    CrateOnly(String),
}

/// Record lists agree when every record does; a record sluice skips matches a crate-only record
/// of any standard format (the crate reads formats sluice does not).
fn records_agree(ours: &[R], theirs: &[R]) -> bool {
    ours.len() == theirs.len()
        && ours.iter().zip(theirs).all(|(o, t)| match (o, t) {
            (R::Other(0, _), R::CrateOnly(_)) => true,
            _ => o == t,
        })
}

fn samples_agree(ours: &Dg, theirs: &Dg) -> bool {
    let head = |d: &Dg| (d.agent, d.sub_agent, d.sequence, d.uptime, d.samples.len());
    head(ours) == head(theirs)
        && ours
            .samples
            .iter()
            .zip(&theirs.samples)
            .all(|(o, t)| match (o, t) {
                (
                    S::Flow {
                        records: ro,
                        expanded: eo,
                        sequence: so,
                        source: co,
                        rate: ao,
                        pool: po,
                        drops: do_,
                        input: io,
                        output: oo,
                    },
                    S::Flow {
                        records: rt,
                        expanded: et,
                        sequence: st,
                        source: ct,
                        rate: at,
                        pool: pt,
                        drops: dt,
                        input: it,
                        output: ot,
                    },
                ) => {
                    (eo, so, co, ao, po, do_, io, oo) == (et, st, ct, at, pt, dt, it, ot)
                        && records_agree(ro, rt)
                }
                (
                    S::Counters {
                        expanded: eo,
                        sequence: so,
                        source: co,
                        records: ro,
                    },
                    S::Counters {
                        expanded: et,
                        sequence: st,
                        source: ct,
                        records: rt,
                    },
                ) => (eo, so, co) == (et, st, ct) && records_agree(ro, rt),
                (S::Other(0, 5), S::CrateOnly(_)) => true,
                _ => o == t,
            })
}

// ---------------------------------------------------------------------------------------------
// sluice's reading, through the wire views.

/// What sluice's wire views made of a datagram, with what the classification needs.
#[derive(Debug)]
struct Ours {
    dg: Dg,
    /// Zero bytes after the announced samples (padding to sluice).
    padding: usize,
    /// A raw header or port name whose XDR padding is missing at the very end of its record.
    unpadded_opaque: bool,
    /// A router or gateway record whose next hop has address type 0 (unknown).
    unknown_next_hop: bool,
    /// A standard (enterprise 0) sample or record sluice skipped; the crate reads most of them.
    skipped_standard: bool,
}

fn interface(i: Interface) -> (u32, u32) {
    match i {
        Interface::Index(v) => (0, v),
        Interface::Internal => (0, wire::INTERNAL_INTERFACE),
        Interface::Discarded(v) => (1, v),
        Interface::Multiple(v) => (2, v),
        Interface::Reserved { format, value } => (format, value),
    }
}

fn ours(data: &[u8]) -> Result<Ours, DecodeError> {
    let d = wire::Datagram::parse(data)?;
    let mut o = Ours {
        dg: Dg {
            agent: d.agent,
            sub_agent: d.sub_agent,
            sequence: d.sequence,
            uptime: d.uptime_ms,
            samples: Vec::new(),
        },
        padding: 0,
        unpadded_opaque: false,
        unknown_next_hop: false,
        skipped_standard: false,
    };
    let mut samples = d.samples();
    for s in samples.by_ref() {
        let s = match s? {
            wire::Sample::Flow(f) => {
                let mut records = Vec::new();
                for r in f.records() {
                    let r = r?;
                    records.push(match (r.enterprise, r.format) {
                        (0, 1) => {
                            let h = RawHeader::parse(r.data)?;
                            o.unpadded_opaque |=
                                r.data.len() < 16 + h.header.len().next_multiple_of(4);
                            R::Raw {
                                protocol: h.protocol,
                                frame_length: h.frame_length,
                                stripped: h.stripped,
                                header: h.header.to_vec(),
                            }
                        }
                        (0, f @ (3 | 4)) => {
                            let ip = SampledIp::parse(r.data, f == 4)?;
                            R::Ip {
                                length: ip.length,
                                protocol: ip.protocol,
                                src: ip.src,
                                dst: ip.dst,
                                src_port: ip.src_port,
                                dst_port: ip.dst_port,
                                tcp_flags: ip.tcp_flags,
                                tos: ip.tos,
                            }
                        }
                        (0, 1001) => {
                            let s = ExtendedSwitch::parse(r.data)?;
                            R::Switch([s.src_vlan, s.src_priority, s.dst_vlan, s.dst_priority])
                        }
                        (0, 1002) => {
                            let x = ExtendedRouter::parse(r.data)?;
                            o.unknown_next_hop |= x.next_hop.is_none();
                            R::Router {
                                next_hop: x.next_hop,
                                src_mask: x.src_mask,
                                dst_mask: x.dst_mask,
                            }
                        }
                        (0, 1003) => {
                            let g = ExtendedGateway::parse(r.data)?;
                            o.unknown_next_hop |= g.next_hop.is_none();
                            R::Gateway {
                                next_hop: g.next_hop,
                                router_as: g.router_as,
                                src_as: g.src_as,
                                src_peer_as: g.src_peer_as,
                                path: g.segments().map(|s| (s.kind, s.asns().collect())).collect(),
                                communities: g.communities().collect(),
                            }
                        }
                        (e, f) => {
                            o.skipped_standard |= e == 0;
                            R::Other(e, f)
                        }
                    });
                }
                S::Flow {
                    expanded: f.expanded,
                    sequence: f.sequence,
                    source: (f.source_id_type, f.source_id_index),
                    rate: f.sampling_rate,
                    pool: f.sample_pool,
                    drops: f.drops,
                    input: interface(f.input),
                    output: interface(f.output),
                    records,
                }
            }
            wire::Sample::Counters(c) => {
                let mut records = Vec::new();
                for r in c.records() {
                    let r = r?;
                    records.push(match (r.enterprise, r.format) {
                        (0, 1) => {
                            let k = IfCounters::parse(r.data)?;
                            R::If([
                                k.index.into(),
                                k.if_type.into(),
                                k.speed,
                                k.direction.into(),
                                k.status.into(),
                                k.in_octets,
                                k.in_ucast.into(),
                                k.in_multicast.into(),
                                k.in_broadcast.into(),
                                k.in_discards.into(),
                                k.in_errors.into(),
                                k.in_unknown_protos.into(),
                                k.out_octets,
                                k.out_ucast.into(),
                                k.out_multicast.into(),
                                k.out_broadcast.into(),
                                k.out_discards.into(),
                                k.out_errors.into(),
                                k.promiscuous.into(),
                            ])
                        }
                        (0, 2) => {
                            let k = EthCounters::parse(r.data)?;
                            R::Eth([
                                k.alignment_errors,
                                k.fcs_errors,
                                k.single_collisions,
                                k.multiple_collisions,
                                k.sqe_test_errors,
                                k.deferred,
                                k.late_collisions,
                                k.excessive_collisions,
                                k.internal_mac_tx_errors,
                                k.carrier_sense_errors,
                                k.frame_too_longs,
                                k.internal_mac_rx_errors,
                                k.symbol_errors,
                            ])
                        }
                        (0, 1005) => {
                            let name = wire::port_name(r.data)?;
                            o.unpadded_opaque |= r.data.len() < 4 + name.len().next_multiple_of(4);
                            // The crate turns the name into a String, replacing bytes that are
                            // not UTF-8 with U+FFFD; so does sluice where it stores the name
                            // (`InterfaceInfo::name`).
                            R::PortName(String::from_utf8_lossy(name).into_owned().into_bytes())
                        }
                        (e, f) => {
                            o.skipped_standard |= e == 0;
                            R::Other(e, f)
                        }
                    });
                }
                S::Counters {
                    expanded: c.expanded,
                    sequence: c.sequence,
                    source: (c.source_id_type, c.source_id_index),
                    records,
                }
            }
            wire::Sample::Other { enterprise, format } => {
                o.skipped_standard |= enterprise == 0;
                S::Other(enterprise, format)
            }
        };
        o.dg.samples.push(s);
    }
    let tail = samples.rest();
    if tail.iter().any(|&b| b != 0) {
        return Err(DecodeError::BadLength(
            "bytes after the announced sFlow samples",
        ));
    }
    o.padding = tail.len();
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// The crate's reading.

fn caddr(a: &AddressType) -> IpAddr {
    match a {
        AddressType::IPv4(a) => IpAddr::V4(*a),
        AddressType::IPv6(a) => IpAddr::V6(*a),
    }
}

/// The variant name of a crate record (for the records sluice does not read).
fn variant<T: std::fmt::Debug>(x: &T) -> String {
    let s = format!("{x:?}");
    s.split(['(', ' ', '{'])
        .next()
        .unwrap_or_default()
        .to_string()
}

fn crate_flow_records(records: &[CFlow]) -> Vec<R> {
    records
        .iter()
        .map(|r| match r {
            CFlow::RawPacketHeader(h) => R::Raw {
                protocol: h.header_protocol,
                frame_length: h.frame_length,
                stripped: h.stripped,
                header: h.header.clone(),
            },
            CFlow::SampledIpv4(ip) => R::Ip {
                length: ip.length,
                protocol: ip.protocol,
                src: ip.src_ip.into(),
                dst: ip.dst_ip.into(),
                src_port: ip.src_port,
                dst_port: ip.dst_port,
                tcp_flags: ip.tcp_flags,
                tos: ip.tos,
            },
            CFlow::SampledIpv6(ip) => R::Ip {
                length: ip.length,
                protocol: ip.protocol,
                src: ip.src_ip.into(),
                dst: ip.dst_ip.into(),
                src_port: ip.src_port,
                dst_port: ip.dst_port,
                tcp_flags: ip.tcp_flags,
                tos: ip.priority,
            },
            CFlow::ExtendedSwitch(s) => {
                R::Switch([s.src_vlan, s.src_priority, s.dst_vlan, s.dst_priority])
            }
            CFlow::ExtendedRouter(x) => R::Router {
                next_hop: Some(caddr(&x.next_hop)),
                src_mask: x.src_mask_len,
                dst_mask: x.dst_mask_len,
            },
            CFlow::ExtendedGateway(g) => R::Gateway {
                next_hop: Some(caddr(&g.next_hop)),
                router_as: g.as_number,
                src_as: g.src_as,
                src_peer_as: g.src_peer_as,
                path: g
                    .as_path_segments
                    .iter()
                    .map(|s| (s.segment_type, s.values.clone()))
                    .collect(),
                communities: g.communities.clone(),
            },
            CFlow::Unknown {
                enterprise, format, ..
            } => R::Other(*enterprise, *format),
            other => R::CrateOnly(variant(other)),
        })
        .collect()
}

fn crate_counter_records(records: &[CounterRecord]) -> Vec<R> {
    records
        .iter()
        .map(|r| match r {
            CounterRecord::GenericInterface(k) => R::If([
                k.if_index.into(),
                k.if_type.into(),
                k.if_speed,
                k.if_direction.into(),
                k.if_status.into(),
                k.if_in_octets,
                k.if_in_ucast_pkts.into(),
                k.if_in_multicast_pkts.into(),
                k.if_in_broadcast_pkts.into(),
                k.if_in_discards.into(),
                k.if_in_errors.into(),
                k.if_in_unknown_protos.into(),
                k.if_out_octets,
                k.if_out_ucast_pkts.into(),
                k.if_out_multicast_pkts.into(),
                k.if_out_broadcast_pkts.into(),
                k.if_out_discards.into(),
                k.if_out_errors.into(),
                k.if_promiscuous_mode.into(),
            ]),
            CounterRecord::EthernetInterface(k) => R::Eth([
                k.dot3_stats_alignment_errors,
                k.dot3_stats_fcs_errors,
                k.dot3_stats_single_collision_frames,
                k.dot3_stats_multiple_collision_frames,
                k.dot3_stats_sqe_test_errors,
                k.dot3_stats_deferred_transmissions,
                k.dot3_stats_late_collisions,
                k.dot3_stats_excessive_collisions,
                k.dot3_stats_internal_mac_transmit_errors,
                k.dot3_stats_carrier_sense_errors,
                k.dot3_stats_frame_too_longs,
                k.dot3_stats_internal_mac_receive_errors,
                k.dot3_stats_symbol_errors,
            ]),
            CounterRecord::PortName(p) => R::PortName(p.name.as_bytes().to_vec()),
            CounterRecord::Unknown {
                enterprise, format, ..
            } => R::Other(*enterprise, *format),
            other => R::CrateOnly(variant(other)),
        })
        .collect()
}

/// The compact interface word as (format, value).
fn compact(w: u32) -> (u32, u32) {
    (w >> 30, w & 0x3fff_ffff)
}

fn crate_dg(d: &SflowDatagram) -> Dg {
    Dg {
        agent: caddr(&d.agent_address),
        sub_agent: d.sub_agent_id,
        sequence: d.sequence_number,
        uptime: d.uptime,
        samples: d
            .samples
            .iter()
            .map(|s| match s {
                SflowSample::Flow(f) => S::Flow {
                    expanded: false,
                    sequence: f.sequence_number,
                    source: (f.source_id_type, f.source_id_index),
                    rate: f.sampling_rate,
                    pool: f.sample_pool,
                    drops: f.drops,
                    input: compact(f.input),
                    output: compact(f.output),
                    records: crate_flow_records(&f.records),
                },
                SflowSample::ExpandedFlow(f) => S::Flow {
                    expanded: true,
                    sequence: f.sequence_number,
                    source: (f.source_id_type, f.source_id_index),
                    rate: f.sampling_rate,
                    pool: f.sample_pool,
                    drops: f.drops,
                    input: (f.input_format, f.input_value),
                    output: (f.output_format, f.output_value),
                    records: crate_flow_records(&f.records),
                },
                SflowSample::Counter(c) => S::Counters {
                    expanded: false,
                    sequence: c.sequence_number,
                    source: (c.source_id_type, c.source_id_index),
                    records: crate_counter_records(&c.records),
                },
                SflowSample::ExpandedCounter(c) => S::Counters {
                    expanded: true,
                    sequence: c.sequence_number,
                    source: (c.source_id_type, c.source_id_index),
                    records: crate_counter_records(&c.records),
                },
                SflowSample::DiscardedPacket(_) => S::CrateOnly("DiscardedPacket"),
                SflowSample::Unknown {
                    enterprise, format, ..
                } => S::Other(*enterprise, *format),
            })
            .collect(),
    }
}

/// The crate's reading of one UDP payload: exactly one datagram, or its error.
fn theirs(data: &[u8]) -> Result<(Dg, SflowDatagram), String> {
    let res = SflowParser::default().parse_bytes(data);
    if let Some(e) = res.error {
        return Err(format!("{e} (after {} datagrams)", res.datagrams.len()));
    }
    match res.datagrams.as_slice() {
        [d] => Ok((crate_dg(d), d.clone())),
        ds => Err(format!("{} datagrams in one payload", ds.len())),
    }
}

// ---------------------------------------------------------------------------------------------
// sluice's decoder output, and what the crate's reading implies it must be.

/// What the decoder gave.
type Out = sflow_gen::Collected;

/// What `collector::decode` made of a datagram.
struct Decoded {
    out: Out,
    /// `Err`, or a rejection counted in the summary.
    rejected_or_counted: bool,
    /// Formats skipped (added to the exporter's `formats_skipped()`).
    skipped: Vec<SkippedFormat>,
}

fn decode(decoder: &mut Decoder, from: IpAddr, data: &[u8]) -> Decoded {
    let before: BTreeMap<SkippedFormat, u64> = skipped_by_exporter(decoder);
    let mut out = Out::default();
    let res = decoder.decode(from, data, NOW_MS, &mut out);
    let after = skipped_by_exporter(decoder);
    let skipped = after
        .iter()
        .filter(|(k, n)| before.get(k) != Some(n))
        .map(|(k, _)| *k)
        .collect();
    Decoded {
        out,
        rejected_or_counted: res.map_or(true, |s| s.error_count() > 0),
        skipped,
    }
}

fn skipped_by_exporter(d: &Decoder) -> BTreeMap<SkippedFormat, u64> {
    let mut m = BTreeMap::new();
    for s in d.stats().exporters.values() {
        for &(f, n) in &s.skipped_formats {
            *m.entry(f).or_default() += n;
        }
    }
    m
}

/// A reading of a sampled header by `pnet_packet`: Ethernet (802.1Q / 802.1ad / QinQ tags),
/// IPv4 or IPv6 without extension headers, and TCP, UDP or ICMP. `None` for anything else.
#[derive(Debug, Default, PartialEq, Eq)]
struct RefHeader {
    vlan: Option<u16>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    protocol: Option<u8>,
    tos: Option<u8>,
    ip_len: Option<u32>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
}

fn reference(protocol: u32, h: &[u8]) -> Option<RefHeader> {
    let mut out = RefHeader::default();
    let (version, ip) = match protocol {
        1 => {
            let e = EthernetPacket::new(h)?;
            let mut ty = e.get_ethertype();
            let mut at = 14;
            // At most 4 tags, as sluice reads.
            for _ in 0..4 {
                if !matches!(
                    ty,
                    EtherTypes::Vlan | EtherTypes::PBridge | EtherTypes::QinQ
                ) {
                    break;
                }
                let v = VlanPacket::new(h.get(at..)?)?;
                out.vlan = out.vlan.or(Some(v.get_vlan_identifier()));
                ty = v.get_ethertype();
                at += 4;
            }
            match ty {
                EtherTypes::Ipv4 => (4, &h[at..]),
                EtherTypes::Ipv6 => (6, &h[at..]),
                _ => return None,
            }
        }
        11 => (4, h),
        12 => (6, h),
        _ => return None,
    };
    if ip.first()? >> 4 != version {
        return None;
    }
    let transport = if version == 4 {
        let p = Ipv4Packet::new(ip)?;
        out.src = Some(p.get_source().into());
        out.dst = Some(p.get_destination().into());
        out.protocol = Some(p.get_next_level_protocol().0);
        out.tos = Some(p.get_dscp() << 2 | p.get_ecn());
        out.ip_len = Some(p.get_total_length().into());
        if p.get_fragment_offset() != 0 || p.get_header_length() < 5 {
            return Some(out);
        }
        ip.get(usize::from(p.get_header_length()) * 4..)?
    } else {
        let p = Ipv6Packet::new(ip)?;
        out.src = Some(p.get_source().into());
        out.dst = Some(p.get_destination().into());
        out.protocol = Some(p.get_next_header().0);
        out.tos = Some(p.get_traffic_class());
        out.ip_len = Some(u32::from(p.get_payload_length()) + 40);
        if matches!(out.protocol, Some(0 | 43 | 44 | 51 | 60)) {
            // Extension headers: not walked by the reference.
            return None;
        }
        &ip[40..]
    };
    match out.protocol {
        Some(6) => {
            if let Some(t) = pnet_packet::tcp::TcpPacket::new(transport) {
                (out.src_port, out.dst_port) = (Some(t.get_source()), Some(t.get_destination()));
            }
        }
        Some(17) => {
            if let Some(u) = pnet_packet::udp::UdpPacket::new(transport) {
                (out.src_port, out.dst_port) = (Some(u.get_source()), Some(u.get_destination()));
            }
        }
        _ => {}
    }
    Some(out)
}

/// `packet::parse`'s findings, in the reference's shape.
fn ours_header(protocol: u32, h: &[u8]) -> RefHeader {
    let p = packet::parse(protocol, h);
    RefHeader {
        vlan: p.vlan,
        src: p.src.map(display_addr),
        dst: p.dst.map(display_addr),
        protocol: p.protocol,
        tos: p.tos,
        ip_len: p.ip_len,
        src_port: p.src_port,
        dst_port: p.dst_port,
    }
}

/// The fields of a flow record that the crate's reading of the sample determines (with the raw
/// header read by `pnet_packet`), following the mapping in collector/src/decoder/sflow.rs.
#[derive(Debug, Default, PartialEq, Eq)]
struct Expect {
    exporter: Option<IpAddr>,
    domain: u32,
    packets: u64,
    rate: u32,
    in_if: Option<u32>,
    out_if: Option<u32>,
    internal: bool,
    multiple: bool,
    discard_reason: Option<u16>,
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    protocol: Option<u8>,
    tos: Option<u8>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    bytes: u64,
    frame_bytes: Option<u32>,
    vlan: Option<u16>,
    src_as: Option<u32>,
    dst_as: Option<u32>,
    next_hop: Option<IpAddr>,
    masks: (Option<u8>, Option<u8>),
}

fn got(r: &FlowRecord) -> Expect {
    Expect {
        exporter: Some(display_addr(r.exporter)),
        domain: r.observation_domain,
        packets: r.packets,
        rate: r.sampling_rate,
        in_if: r.in_if,
        out_if: r.out_if,
        internal: r.flags & flags::INTERNAL_INTERFACE != 0,
        multiple: r.flags & flags::MULTIPLE_INTERFACES != 0,
        discard_reason: r.discard_reason,
        src: r.src_addr.map(display_addr),
        dst: r.dst_addr.map(display_addr),
        protocol: r.protocol,
        tos: r.tos,
        src_port: r.src_port,
        dst_port: r.dst_port,
        bytes: r.bytes,
        frame_bytes: r.frame_bytes,
        vlan: r.vlan,
        src_as: r.src_as,
        dst_as: r.dst_as,
        next_hop: r.next_hop.map(display_addr),
        masks: (r.src_mask, r.dst_mask),
    }
}

fn set_interface(e: &mut Expect, (format, value): (u32, u32), output: bool) {
    let v = match format {
        0 if value == wire::INTERNAL_INTERFACE => {
            e.internal = true;
            0
        }
        0 => value,
        1 => {
            e.discard_reason = Some(value.min(u32::from(u16::MAX)) as u16);
            0
        }
        2 => {
            e.multiple = true;
            0
        }
        _ => 0,
    };
    if output {
        e.out_if = Some(v);
    } else {
        e.in_if = Some(v);
    }
}

/// What the flow record of one of the crate's flow samples must be, and whether its raw header
/// was read by the reference. The packet fields (addresses, ports, protocol, ToS, bytes, VLAN)
/// come from the sample's one raw header as the reference reads it, else from its one sampled
/// IP record, else are absent. Where the reference cannot read the header (cut before the end
/// of the IP header, MPLS, IPv6 extension headers, non-IP) or a sample carries several raw
/// headers or sampled IP records, they are taken from `got` (sluice's header reading is checked
/// against tshark by the corpus conformance tests).
fn expect(dg: &SflowDatagram, s: &S, got: &Expect) -> (Expect, bool) {
    let S::Flow {
        rate,
        input,
        output,
        records,
        ..
    } = s
    else {
        unreachable!()
    };
    let mut e = Expect {
        exporter: Some(caddr(&dg.agent_address).to_canonical()),
        domain: dg.sub_agent_id,
        packets: 1,
        rate: (*rate).max(1),
        ..Expect::default()
    };
    set_interface(&mut e, *input, false);
    set_interface(&mut e, *output, true);
    let raws: Vec<(u32, &[u8])> = records
        .iter()
        .filter_map(|r| match r {
            R::Raw {
                protocol, header, ..
            } => Some((*protocol, header.as_slice())),
            _ => None,
        })
        .collect();
    let ips: Vec<&R> = records
        .iter()
        .filter(|r| matches!(r, R::Ip { .. }))
        .collect();
    let mut read_header = false;
    match (raws.as_slice(), ips.as_slice()) {
        ([(p, h)], _) if let Some(h) = reference(*p, h) => {
            read_header = true;
            (e.src, e.dst, e.protocol, e.tos) = (h.src, h.dst, h.protocol, h.tos);
            (e.src_port, e.dst_port) = if h.src_port.is_some() {
                (h.src_port, h.dst_port)
            } else {
                // The reference reads ports only from a whole TCP or UDP header.
                (got.src_port, got.dst_port)
            };
            e.bytes = h.ip_len.map_or(0, u64::from);
            e.vlan = h.vlan;
        }
        (
            [],
            [
                R::Ip {
                    length,
                    protocol,
                    src,
                    dst,
                    src_port,
                    dst_port,
                    tos,
                    ..
                },
            ],
        ) => {
            e.src = Some(src.to_canonical());
            e.dst = Some(dst.to_canonical());
            e.protocol = Some(*protocol as u8);
            e.tos = Some(*tos as u8);
            if !matches!(protocol, 1 | 58) {
                (e.src_port, e.dst_port) = (Some(*src_port as u16), Some(*dst_port as u16));
            }
            e.bytes = u64::from(*length);
        }
        ([], []) => {}
        _ => {
            (e.src, e.dst, e.protocol, e.tos) = (got.src, got.dst, got.protocol, got.tos);
            (e.src_port, e.dst_port, e.bytes, e.vlan) =
                (got.src_port, got.dst_port, got.bytes, got.vlan);
        }
    }
    let mut switch_vlan = None;
    let mut router_hop = false;
    for r in records {
        match r {
            R::Raw { frame_length, .. } => e.frame_bytes = Some(*frame_length),
            // A VLAN id only (agents send 0 for none and all ones for unknown).
            R::Switch([src_vlan, ..]) if (1..=4094).contains(src_vlan) => {
                switch_vlan = Some(*src_vlan as u16);
            }
            R::Router {
                next_hop,
                src_mask,
                dst_mask,
            } => {
                e.next_hop = next_hop.map(|a| a.to_canonical());
                router_hop = next_hop.is_some();
                e.masks = (
                    Some((*src_mask).min(128) as u8),
                    Some((*dst_mask).min(128) as u8),
                );
            }
            R::Gateway {
                next_hop,
                src_as,
                path,
                ..
            } => {
                e.src_as = Some(*src_as);
                e.dst_as = Some(
                    path.iter()
                        .filter_map(|(_, asns)| asns.last().copied())
                        .next_back()
                        .unwrap_or(0),
                );
                if !router_hop && next_hop.is_some() {
                    e.next_hop = next_hop.map(|a| a.to_canonical());
                }
            }
            _ => {}
        }
    }
    if switch_vlan.is_some() {
        e.vlan = switch_vlan;
    }
    (e, read_header)
}

// ---------------------------------------------------------------------------------------------
// Comparing one datagram.

/// The closed set of disagreements that are explained (each by its own test below).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Known {
    /// The crate reads bytes after the announced samples as a further datagram; sluice counts
    /// zero bytes there as padding. See [`crate_reads_zero_padding_as_another_datagram`].
    ZeroPaddingAfterSamples,
    /// The crate requires the XDR padding of a raw header or port name even at the very end of
    /// its record; sluice does not. See [`crate_rejects_opaque_data_unpadded_at_record_end`].
    UnpaddedOpaqueAtRecordEnd,
    /// The crate rejects next-hop address type 0 (unknown). See
    /// [`crate_rejects_an_unknown_next_hop_address`].
    UnknownNextHopAddress,
    /// The crate does not read the gateway's local preference, so a record without one passes.
    /// See [`crate_accepts_a_gateway_record_without_local_preference`].
    GatewayWithoutLocalPref,
    /// The crate accepts port names longer than the spec's 255 bytes. See
    /// [`crate_accepts_port_names_over_255_bytes`].
    PortNameOver255,
    /// The crate rejected a standard format sluice skips and counts (it reads many more formats,
    /// and one malformed record fails its whole datagram).
    CrateOnlyFormatRejected,
}

/// How one datagram compared.
#[derive(Debug)]
struct Compared {
    known: Option<Known>,
    /// Flow samples whose record was compared with the expectation.
    flows: usize,
    /// Raw headers read by both `packet::parse` and the reference.
    headers: usize,
    /// Interface counter rows compared.
    counters: usize,
}

/// Compare the three readings of `data`; `Err` describes a disagreement that is not [`Known`].
fn compare(decoder: &mut Decoder, data: &[u8]) -> Result<Compared, String> {
    let from: IpAddr = "192.0.2.250".parse().unwrap();
    let o = ours(data);
    let t = theirs(data);
    let dec = decode(decoder, from, data);
    let mut c = Compared {
        known: None,
        flows: 0,
        headers: 0,
        counters: 0,
    };
    // sluice's two layers agree with each other: the views fail where the decoder counts.
    if o.is_err() != dec.rejected_or_counted {
        return Err(format!(
            "wire views {:?} but decode rejected_or_counted = {}",
            o.as_ref().err(),
            dec.rejected_or_counted
        ));
    }
    match (&o, &t) {
        (Ok(o), Ok((tdg, tcrate))) => {
            if !samples_agree(&o.dg, tdg) {
                return Err(format!(
                    "samples differ:\n  sluice {:?}\n  crate  {tdg:?}",
                    o.dg
                ));
            }
            // The decoder's output follows from the crate's reading.
            let flows: Vec<&S> = tdg
                .samples
                .iter()
                .filter(|s| matches!(s, S::Flow { .. }))
                .collect();
            if flows.len() != dec.out.flows.len() {
                return Err(format!(
                    "{} flow samples, {} records",
                    flows.len(),
                    dec.out.flows.len()
                ));
            }
            for (s, rec) in flows.iter().zip(&dec.out.flows) {
                let g = got(rec);
                let (e, read_header) = expect(tcrate, s, &g);
                if e != g {
                    return Err(format!("record differs:\n  sluice {g:?}\n  expect {e:?}"));
                }
                c.flows += 1;
                c.headers += usize::from(read_header);
            }
            for s in &tdg.samples {
                if let S::Flow { records, .. } = s {
                    for r in records {
                        if let R::Raw {
                            protocol, header, ..
                        } = r
                            && let Some(want) = reference(*protocol, header)
                        {
                            let mut have = ours_header(*protocol, header);
                            if want.src_port.is_none() {
                                // The reference needs a whole UDP header for ports; sluice
                                // reads them from 4 bytes.
                                (have.src_port, have.dst_port) = (None, None);
                            }
                            if have != want {
                                return Err(format!(
                                    "header differs:\n  sluice {have:?}\n  pnet   {want:?}"
                                ));
                            }
                        }
                    }
                }
            }
            let ifs: Vec<&[u64; 19]> = tdg
                .samples
                .iter()
                .flat_map(|s| match s {
                    S::Counters { records, .. } => records.iter().collect(),
                    _ => Vec::new(),
                })
                .filter_map(|r| match r {
                    R::If(k) => Some(k),
                    _ => None,
                })
                .collect();
            if ifs.len() != dec.out.counters.len() {
                return Err(format!(
                    "{} interface counter records, {} rows",
                    ifs.len(),
                    dec.out.counters.len()
                ));
            }
            for (k, row) in ifs.iter().zip(&dec.out.counters) {
                let have = (
                    u64::from(row.ifindex),
                    u64::from(row.if_type),
                    row.speed,
                    row.in_octets_total,
                    row.out_octets_total,
                    row.exporter,
                );
                let want = (k[0], k[1], k[2], k[5], k[12], to_v6(tdg.agent));
                if have != want {
                    return Err(format!("counters differ: {have:?} vs {want:?}"));
                }
                c.counters += 1;
            }
            Ok(c)
        }
        (Err(_), Err(_)) => Ok(c),
        (Ok(o), Err(e)) => {
            c.known = if o.padding > 0 {
                Some(Known::ZeroPaddingAfterSamples)
            } else if o.unpadded_opaque {
                Some(Known::UnpaddedOpaqueAtRecordEnd)
            } else if o.unknown_next_hop {
                Some(Known::UnknownNextHopAddress)
            } else if o.skipped_standard && dec.skipped.iter().any(|f| f.enterprise == 0) {
                Some(Known::CrateOnlyFormatRejected)
            } else {
                return Err(format!(
                    "the crate rejects ({e}) what sluice accepts without counting: {:?}",
                    o.dg
                ));
            };
            Ok(c)
        }
        (Err(oe), Ok(_)) => {
            c.known = match oe {
                DecodeError::Truncated("sFlow extended gateway") => {
                    // Everything the crate reads of the record was there (it accepted it), so
                    // what sluice missed is the one field after the communities.
                    Some(Known::GatewayWithoutLocalPref)
                }
                DecodeError::BadLength("sFlow port name longer than 255 bytes") => {
                    Some(Known::PortNameOver255)
                }
                _ => {
                    return Err(format!("sluice rejects ({oe}) what the crate accepts"));
                }
            };
            Ok(c)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The corpus.

fn corpus_files(shared: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(shared.join("corpus/vendor/akvorado-sflow"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    files
}

/// Captures whose datagram announces one sample and carries four more after it (Akvorado's test
/// data: a 5-sample datagram with the count set to 1). Both decoders flag the bytes after the
/// announced sample: sluice counts BadLength, the crate reads them as a second datagram whose
/// "version" (the next sample's tag) is 1 and fails. They agree on the announced sample, which
/// is compared on its own.
const TRAILING_SAMPLES: [&str; 3] = [
    "data-discard-interface.pcap",
    "data-local-interface.pcap",
    "data-multiple-interfaces.pcap",
];

#[test]
fn sluice_and_flowparser_sflow_agree_on_every_sample_of_every_sflow_capture() {
    let Some(shared) = testkit::shared_dir(
        "sluice_and_flowparser_sflow_agree_on_every_sample_of_every_sflow_capture",
    ) else {
        return;
    };
    let files = corpus_files(&shared);
    assert!(files.len() >= 11, "sFlow corpus incomplete: {files:?}");
    let (mut flows, mut headers, mut datagrams) = (0, 0, 0);
    let mut failures = Vec::new();
    for f in &files {
        let name = f.file_name().unwrap().to_string_lossy().into_owned();
        let mut decoder = Decoder::new(DecoderSettings::default());
        let mut payloads = Vec::new();
        collector::capture::for_each_datagram(f, None, |_, d| payloads.push(d.payload.to_vec()))
            .unwrap();
        assert!(!payloads.is_empty(), "{name}: no datagram");
        for (i, p) in payloads.iter().enumerate() {
            datagrams += 1;
            let here = format!("{name} datagram {i}");
            assert!(wire::looks_like_sflow(p), "{here}: not sFlow");
            if TRAILING_SAMPLES.contains(&name.as_str()) {
                // Both flag the trailing samples...
                assert!(
                    ours(p).is_err(),
                    "{here}: sluice accepts the trailing bytes"
                );
                assert!(theirs(p).is_err(), "{here}: the crate accepts them");
                let dec = decode(&mut decoder, "192.0.2.250".parse().unwrap(), p);
                assert!(dec.rejected_or_counted);
                assert_eq!(dec.out.flows.len(), 1, "{here}: the announced sample");
                // ...and agree on the announced sample, cut out as a datagram of its own.
                let d = wire::Datagram::parse(p).unwrap();
                let mut s = d.samples();
                s.next().unwrap().unwrap();
                let cut = &p[..p.len() - s.rest().len()];
                match compare(&mut Decoder::new(DecoderSettings::default()), cut) {
                    Ok(c) if c.known.is_none() && c.flows == 1 => {
                        flows += 1;
                        headers += c.headers;
                    }
                    other => failures.push(format!("{here} (announced sample): {other:?}")),
                }
                continue;
            }
            match compare(&mut decoder, p) {
                Ok(c) if c.known.is_none() => {
                    flows += c.flows;
                    headers += c.headers;
                }
                other => failures.push(format!("{here}: {other:?}")),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // data-1140 has 5 flow samples, data-sflow-raw-ipv4 2, the 9 other captures 1 each; every
    // raw header is Ethernet (or bare IPv4) with IPv4 or IPv6 the reference reads (for VXLAN,
    // the outer headers, which both read).
    assert_eq!(datagrams, 11);
    assert_eq!(flows, 16, "flow samples compared");
    assert_eq!(headers, 16, "raw headers cross-read");
    eprintln!("{datagrams} datagrams, {flows} flow samples, {headers} raw headers cross-read");
}

// ---------------------------------------------------------------------------------------------
// Generated datagrams.

fn v4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(IpAddr::from)
}

fn v6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(IpAddr::from)
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![v4(), v6()]
}

/// Raw headers: Ethernet (with or without a VLAN tag), or IPv4 / IPv6 with no link layer, cut
/// anywhere from 14 to 128 bytes.
fn raw() -> impl Strategy<Value = Rec> {
    (
        prop::option::of(0u16..4096),
        prop_oneof![(v4(), v4()), (v6(), v6())],
        any::<(u16, u16, u8)>(),
        60u16..9000,
        14usize..=128,
        any::<bool>(),
        0u32..=4,
    )
        .prop_map(|(vlan, (s, d), (sp, dp, fl), len, cut, l2, stripped)| {
            let frame =
                sflow_gen::tcp_frame(if l2 { vlan } else { None }, s, d, sp, dp, len, fl, cut);
            let (protocol, header) = if l2 {
                (1, frame)
            } else {
                (if s.is_ipv4() { 11 } else { 12 }, frame[14..].to_vec())
            };
            Rec::Raw {
                protocol,
                frame_length: u32::from(len) + 18,
                stripped,
                header,
            }
        })
}

fn sampled_ip() -> impl Strategy<Value = Rec> {
    (
        prop_oneof![(v4(), v4()), (v6(), v6())],
        any::<[u32; 6]>(),
        prop_oneof![Just(1u32), Just(6), Just(17), Just(58), 0u32..256],
    )
        .prop_map(|((src, dst), w, protocol)| Rec::Ip {
            length: w[0],
            protocol,
            src,
            dst,
            src_port: w[1],
            dst_port: w[2],
            tcp_flags: w[3],
            tos: w[4] & 0xff,
        })
}

fn gateway() -> impl Strategy<Value = Rec> {
    (
        addr(),
        any::<[u32; 4]>(),
        prop::collection::vec((1u32..=4, prop::collection::vec(any::<u32>(), 0..8)), 0..4),
        prop::collection::vec(any::<u32>(), 0..5),
    )
        .prop_map(|(next_hop, w, path, communities)| Rec::Gateway {
            next_hop: Some(next_hop),
            router_as: w[0],
            src_as: w[1],
            src_peer_as: w[2],
            path,
            communities,
            local_pref: w[3],
        })
}

/// An enterprise record (enterprise ≠ 0), which both skip.
fn enterprise() -> impl Strategy<Value = Rec> {
    (
        1u32..0x10_0000,
        0u32..0x1000,
        prop::collection::vec(any::<u8>(), 0..24),
    )
        .prop_map(|(enterprise, format, data)| Rec::Other {
            enterprise,
            format,
            data,
        })
}

fn flow_record() -> impl Strategy<Value = Rec> {
    prop_oneof![
        3 => raw(),
        2 => sampled_ip(),
        1 => any::<[u32; 4]>().prop_map(Rec::Switch),
        1 => (addr(), 0u32..=128, 0u32..=128).prop_map(|(a, s, d)| Rec::Router {
            next_hop: Some(a),
            src_mask: s,
            dst_mask: d,
        }),
        1 => gateway(),
        1 => enterprise(),
    ]
}

fn counter_record() -> impl Strategy<Value = Rec> {
    prop_oneof![
        2 => any::<[u32; 22]>().prop_map(Rec::IfCounters),
        1 => prop::collection::vec(b'!'..=b'~', 0..=40).prop_map(Rec::PortName),
        1 => enterprise(),
    ]
}

/// An interface as (format, value): formats 0 to 2 as the spec has them, and 3 (reserved).
/// Compact values are 30 bits; the expanded form has 32.
fn iface(expanded: bool) -> impl Strategy<Value = (u32, u32)> {
    let max = if expanded { u32::MAX } else { 0x3fff_ffff };
    (
        0u32..=3,
        prop_oneof![Just(0), Just(wire::INTERNAL_INTERFACE), 0..=max],
    )
}

fn flow_sample() -> impl Strategy<Value = GSample> {
    any::<bool>().prop_flat_map(|expanded| {
        let (tmax, imax) = if expanded {
            (u32::MAX, u32::MAX)
        } else {
            (0xff, 0x00ff_ffff)
        };
        (
            any::<[u32; 4]>(),
            0..=tmax,
            0..=imax,
            iface(expanded),
            iface(expanded),
            prop::collection::vec(flow_record(), 0..6),
        )
            .prop_map(move |(w, st, si, input, output, records)| GSample::Flow {
                expanded,
                sequence: w[0],
                source_type: st,
                source_index: si,
                rate: w[1],
                pool: w[2],
                drops: w[3],
                input,
                output,
                records,
            })
    })
}

fn counter_sample() -> impl Strategy<Value = GSample> {
    (
        any::<bool>(),
        any::<u32>(),
        0u32..=0xff,
        0u32..=0x00ff_ffff,
        prop::collection::vec(counter_record(), 0..4),
    )
        .prop_map(|(expanded, sequence, st, si, records)| GSample::Counters {
            expanded,
            sequence,
            source_type: st,
            source_index: si,
            records,
        })
}

fn datagram() -> impl Strategy<Value = GDg> {
    (
        addr(),
        any::<[u32; 3]>(),
        prop::collection::vec(
            prop_oneof![
                4 => flow_sample(),
                2 => counter_sample(),
                1 => (1u32..0x10_0000, 0u32..0x1000, prop::collection::vec(any::<u8>(), 0..16))
                    .prop_map(|(enterprise, format, data)| GSample::Other { enterprise, format, data }),
            ],
            0..8,
        ),
    )
        .prop_map(|(agent, w, samples)| GDg {
            agent,
            sub_agent: w[0],
            sequence: w[1],
            uptime_ms: w[2],
            samples,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, .. ProptestConfig::default() })]

    /// Well-formed datagrams: both accept, and agree on every sample and record; the decoder's
    /// records follow from the crate's reading.
    #[test]
    fn sluice_and_flowparser_sflow_agree_on_generated_datagrams(dg in datagram()) {
        let bytes = dg.encode();
        let mut decoder = Decoder::new(DecoderSettings::default());
        let c = compare(&mut decoder, &bytes).map_err(TestCaseError::fail)?;
        prop_assert_eq!(c.known, None);
        prop_assert!(ours(&bytes).is_ok());
        let flows = dg.samples.iter().filter(|s| matches!(s, GSample::Flow { .. })).count();
        prop_assert_eq!(c.flows, flows);
    }

    /// Damaged datagrams (cut short, or one word overwritten): every disagreement on what to
    /// accept is one of the known ones.
    #[test]
    fn every_disagreement_on_damaged_datagrams_is_a_known_one(
        dg in datagram(),
        cut in any::<prop::sample::Index>(),
        at in any::<prop::sample::Index>(),
        word in prop_oneof![Just(0u32), Just(u32::MAX), Just(1), Just(2), Just(1003), Just(0x100), any::<u32>()],
        how in 0u8..3,
    ) {
        let mut bytes = dg.encode();
        match how {
            0 => bytes.truncate(cut.index(bytes.len())),
            1 => {
                let i = at.index(bytes.len() / 4) * 4;
                if let Some(w) = bytes.get_mut(i..i + 4) {
                    w.copy_from_slice(&word.to_be_bytes());
                }
            }
            _ => {
                let i = at.index(bytes.len());
                bytes[i] ^= 1 << (word % 8);
            }
        }
        let mut decoder = Decoder::new(DecoderSettings::default());
        compare(&mut decoder, &bytes).map_err(TestCaseError::fail)?;
    }
}

// ---------------------------------------------------------------------------------------------
// The known disagreements, one by one.

fn flow(records: Vec<Rec>) -> GSample {
    GSample::Flow {
        expanded: false,
        sequence: 1,
        source_type: 0,
        source_index: 3,
        rate: 512,
        pool: 5120,
        drops: 0,
        input: (0, 3),
        output: (0, 4),
        records,
    }
}

fn datagram_of(samples: Vec<GSample>) -> Vec<u8> {
    GDg {
        agent: "192.0.2.1".parse().unwrap(),
        sub_agent: 0,
        sequence: 1,
        uptime_ms: 1000,
        samples,
    }
    .encode()
}

fn known(bytes: &[u8]) -> Option<Known> {
    compare(&mut Decoder::new(DecoderSettings::default()), bytes)
        .unwrap()
        .known
}

fn ipv4_record() -> Rec {
    Rec::Ip {
        length: 1500,
        protocol: 6,
        src: "10.0.0.1".parse().unwrap(),
        dst: "10.0.0.2".parse().unwrap(),
        src_port: 1234,
        dst_port: 443,
        tcp_flags: 0x10,
        tos: 0,
    }
}

/// A UDP datagram carries exactly one sFlow datagram (sFlow v5 §4, "sFlow Datagram"), but the
/// crate's `parse_bytes` reads bytes after the last announced sample as the start of a further
/// datagram: four zero bytes become "unsupported version 0" and fail the whole payload, fewer
/// become "incomplete". Zero bytes there are padding some agents add (sluice counts them in
/// `padding_bytes`, as it does for NetFlow v9 and IPFIX zero-fill). Non-zero bytes there are an
/// error for both.
#[test]
fn crate_reads_zero_padding_as_another_datagram() {
    let mut bytes = datagram_of(vec![flow(vec![ipv4_record()])]);
    let clean = bytes.clone();
    assert_eq!(known(&clean), None);
    bytes.extend_from_slice(&[0; 4]);
    assert!(theirs(&bytes).unwrap_err().contains("version"));
    assert_eq!(known(&bytes), Some(Known::ZeroPaddingAfterSamples));
    let mut d = Decoder::new(DecoderSettings::default());
    let s = d
        .decode(
            "192.0.2.1".parse().unwrap(),
            &bytes,
            NOW_MS,
            &mut Vec::new(),
        )
        .unwrap();
    assert_eq!((s.records, s.error_count(), s.padding_bytes), (1, 0, 4));
    // Not zero: both reject or count.
    let mut bad = clean.clone();
    bad.extend_from_slice(&[0, 0, 0, 9]);
    assert!(theirs(&bad).is_err() && ours(&bad).is_err());
    assert_eq!(known(&bad), None);
}

/// XDR pads opaque data to 4 bytes (RFC 4506 §4.10), and a raw header of 70 bytes is followed by
/// 2 zero bytes. Some agents leave the padding out when the header is the last thing in its
/// record, so the record length says 16 + 70. The crate then fails the whole datagram; sluice
/// reads the header (the record's length bounds it, so no byte is misread) and goes on.
#[test]
fn crate_rejects_opaque_data_unpadded_at_record_end() {
    let header = sflow_gen::tcp_frame(
        None,
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        1,
        2,
        1500,
        0x10,
        70,
    );
    let mut body = sflow_gen::W::default();
    body.u32(1).u32(1518).u32(4).u32(70).bytes(&header);
    let raw = Rec::Other {
        enterprise: 0,
        format: 1,
        data: body.0,
    };
    let bytes = datagram_of(vec![flow(vec![raw])]);
    assert!(theirs(&bytes).is_err());
    assert_eq!(known(&bytes), Some(Known::UnpaddedOpaqueAtRecordEnd));
    let mut d = Decoder::new(DecoderSettings::default());
    let mut recs = Vec::new();
    let s = d
        .decode("192.0.2.1".parse().unwrap(), &bytes, NOW_MS, &mut recs)
        .unwrap();
    assert_eq!((s.records, s.error_count()), (1, 0));
    assert_eq!(recs[0].bytes, 1500);
    assert_eq!(recs[0].dst_port, Some(2));
}

/// The sFlow `address` union has type 0, UNKNOWN, with no address bytes (sFlow v5 §5,
/// "address_type"); agents send it in the extended router and gateway records when they have no
/// next hop. The crate accepts only types 1 and 2 there and fails the whole datagram. sluice
/// reads "no next hop" and keeps the rest of the record (the masks, the AS path).
#[test]
fn crate_rejects_an_unknown_next_hop_address() {
    let router = Rec::Router {
        next_hop: None,
        src_mask: 24,
        dst_mask: 16,
    };
    let bytes = datagram_of(vec![flow(vec![ipv4_record(), router])]);
    assert!(theirs(&bytes).is_err());
    assert_eq!(known(&bytes), Some(Known::UnknownNextHopAddress));
    let mut recs = Vec::new();
    Decoder::new(DecoderSettings::default())
        .decode("192.0.2.1".parse().unwrap(), &bytes, NOW_MS, &mut recs)
        .unwrap();
    assert_eq!(
        (recs[0].next_hop, recs[0].src_mask, recs[0].dst_mask),
        (None, Some(24), Some(16))
    );
    // With an address, both read it the same way.
    let router = Rec::Router {
        next_hop: Some("10.0.0.254".parse().unwrap()),
        src_mask: 24,
        dst_mask: 16,
    };
    assert_eq!(known(&datagram_of(vec![flow(vec![router])])), None);
}

/// The extended gateway record ends with `unsigned int localpref` (sFlow v5 §5,
/// "extended_gateway"). The crate's `ExtendedGateway` has no such field and stops reading after
/// the communities, so a record cut before the local preference passes. sluice reads the field
/// and rejects the record as truncated (counted; the other samples of the datagram still
/// decode). With the field present both accept and agree on every field the crate has.
#[test]
fn crate_accepts_a_gateway_record_without_local_preference() {
    let g = Rec::Gateway {
        next_hop: Some("10.0.0.254".parse().unwrap()),
        router_as: 65000,
        src_as: 64512,
        src_peer_as: 64513,
        path: vec![(2, vec![64600, 3356])],
        communities: vec![7],
        local_pref: 100,
    };
    assert_eq!(known(&datagram_of(vec![flow(vec![g.clone()])])), None);
    let (_, _, mut body) = g.encode();
    body.truncate(body.len() - 4);
    let cut = Rec::Other {
        enterprise: 0,
        format: 1003,
        data: body,
    };
    let bytes = datagram_of(vec![flow(vec![cut]), flow(vec![ipv4_record()])]);
    assert!(theirs(&bytes).is_ok());
    assert!(matches!(
        ours(&bytes),
        Err(DecodeError::Truncated("sFlow extended gateway"))
    ));
    assert_eq!(known(&bytes), Some(Known::GatewayWithoutLocalPref));
    let mut recs = Vec::new();
    let s = Decoder::new(DecoderSettings::default())
        .decode("192.0.2.1".parse().unwrap(), &bytes, NOW_MS, &mut recs)
        .unwrap();
    assert_eq!((s.records, s.error_count()), (1, 1));
}

/// The port name record is `string ifName<255>` (sFlow "Host and port names", counter format
/// 1005): at most 255 bytes. The crate takes any length the record holds; sluice rejects the
/// record (counted) rather than store a 64 KiB interface name.
#[test]
fn crate_accepts_port_names_over_255_bytes() {
    let c = |name: Vec<u8>| GSample::Counters {
        expanded: false,
        sequence: 1,
        source_type: 0,
        source_index: 3,
        records: vec![Rec::PortName(name)],
    };
    assert_eq!(known(&datagram_of(vec![c(vec![b'x'; 255])])), None);
    let bytes = datagram_of(vec![c(vec![b'x'; 256])]);
    assert!(theirs(&bytes).is_ok());
    assert_eq!(known(&bytes), Some(Known::PortNameOver255));
}

/// The crate reads formats sluice skips (e.g. sampled Ethernet, flow record 2; extended user,
/// 1004; discarded-packet samples, 5), and a malformed one fails its whole datagram. sluice skips
/// them by their length and counts them by format; a datagram is then "counted", not rejected.
#[test]
fn a_malformed_record_only_the_crate_reads_is_counted_by_sluice() {
    let user = Rec::Other {
        enterprise: 0,
        format: 1004,
        data: vec![0, 0, 0, 1, 0, 0, 0, 200],
    };
    let bytes = datagram_of(vec![flow(vec![ipv4_record(), user])]);
    assert!(theirs(&bytes).is_err());
    assert_eq!(known(&bytes), Some(Known::CrateOnlyFormatRejected));
    let mut d = Decoder::new(DecoderSettings::default());
    let s = d
        .decode(
            "192.0.2.1".parse().unwrap(),
            &bytes,
            NOW_MS,
            &mut Vec::new(),
        )
        .unwrap();
    assert_eq!(s.records, 1);
    let st = &d.stats().exporters[&to_v6("192.0.2.1".parse().unwrap())];
    assert_eq!(st.formats_skipped(), 1);
    assert_eq!(
        st.skipped_formats,
        vec![(
            SkippedFormat {
                kind: 1,
                enterprise: 0,
                format: 1004
            },
            1
        )]
    );
}
