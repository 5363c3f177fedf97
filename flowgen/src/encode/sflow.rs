//! Building sFlow version 5 datagrams (sflow.org, "sFlow Version 5", July 2004), the way a switch
//! agent sends them.
//!
//! Owns: the sFlow side of the encoder behind `sluice blast --proto sflow` and the decoder tests:
//! the datagram header (§5 `sample_datagram_v5`, agent IPv4 or IPv6), flow samples (format 1) and
//! expanded flow samples (format 3) of one [`Flow`] each, counter samples (format 2, expanded 4)
//! with generic interface counters (counter format 1).
//! Must never: do I/O, read the clock, allocate once the caller's buffer has capacity, or share
//! code with the decoder (`collector::wire::sflow`), so that a misreading of the spec in one
//! cannot hide the same misreading in the other.
//!
//! A flow sample describes one sampled packet. From a [`Flow`] it takes the addresses, ports,
//! protocol, ToS, TCP flags and interfaces, and `bytes` as the packet's IP length (the IPv4 total
//! length, or the IPv6 payload length plus its 40-byte header); `packets`, the times and, unless
//! the extended records are asked for, the next hop, masks and AS numbers are not in the sample.
//! The packet goes into a raw packet header record (flow format 1) as an Ethernet frame, with an
//! 802.1Q tag when asked, IPv4 or IPv6, then TCP, UDP or ICMP with valid checksums and a zero
//! payload. Like real agents the record's `frame_length` is the frame on the wire with its
//! 4-byte FCS (Ethernet padding to 64 bytes included), `stripped` is 4 (the FCS), and the header
//! is the frame's first 128 bytes at most. Extended switch (1001), router (1002) and gateway
//! (1003) records follow when [`FlowRecords`] asks for them.
//!
//! Wire references (sFlow v5): §5 `sample_datagram_v5` and `address`; `flow_sample` /
//! `flow_sample_expanded` (`sflow_data_source` compact 8 + 24 bits, `interface` compact 2 + 30
//! bits, `interface_expanded`); `sampled_header`; `extended_switch`, `extended_router`,
//! `extended_gateway` (`as_path_type` 1 AS_SET, 2 AS_SEQUENCE); `counters_sample` /
//! `counters_sample_expanded`; `if_counters`. Everything is XDR (RFC 4506): big-endian 32-bit
//! words, variable-length opaque data with a 32-bit length and padding to 4 bytes.

use std::net::IpAddr;

use super::{EncodeError, Flow, put32};

/// The datagram version.
pub const VERSION: u32 = 5;
/// The datagram size agents fill up to (hsflowd's default): the load generator packs flow samples
/// until the next one would go past it.
pub const DATAGRAM_BUDGET: usize = 1400;
/// Most bytes of a sampled packet an agent copies into the raw packet header record (sFlow v5's
/// recommended default).
pub const MAX_HEADER_BYTES: usize = 128;
/// The Ethernet frame check sequence, counted in `frame_length` and then stripped.
pub const FCS_BYTES: u32 = 4;
/// An Ethernet frame shorter than this (without its FCS) is padded to it on the wire.
pub const MIN_FRAME_BYTES: usize = 60;
/// Where a sample's sequence number is, from the start of the sample (after its format tag and
/// length).
pub const SAMPLE_SEQUENCE_AT: usize = 8;
/// The largest ifIndex or data source index the compact forms carry (30 and 24 bits).
pub const COMPACT_INTERFACE_MAX: u32 = 0x3FFF_FFFF;
/// The largest data source index of the compact form.
pub const COMPACT_SOURCE_MAX: u32 = 0x00FF_FFFF;

/// Where a flow sample's `sample_pool` is, from the start of the sample.
pub const fn sample_pool_at(expanded: bool) -> usize {
    // sequence, source id (1 word compact, 2 expanded), sampling rate, then the pool.
    SAMPLE_SEQUENCE_AT + if expanded { 16 } else { 12 }
}

/// Where the datagram sequence number is, from the start of the datagram, for an agent of this
/// address family; the uptime follows it.
pub const fn datagram_sequence_at(agent_v6: bool) -> usize {
    // version, address type, address, sub-agent id.
    4 + 4 + if agent_v6 { 16 } else { 4 } + 4
}

/// The datagram header (§5 `sample_datagram_v5`); the sample count is written by
/// [`Datagram::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The agent's address: the exporter's identity, with `sub_agent`.
    pub agent: IpAddr,
    /// Sub-agent id.
    pub sub_agent: u32,
    /// Datagram sequence number: datagrams this (agent, sub-agent) sent before this one.
    pub sequence: u32,
    /// Milliseconds since the agent booted.
    pub uptime_ms: u32,
}

/// The fields of a flow sample other than the packet; the input and output interfaces are the
/// flow's `in_if` and `out_if` (ifIndex form).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowSampleHeader {
    /// Expanded form (format 3, 32-bit source index and interfaces) rather than compact (1).
    pub expanded: bool,
    /// Sample sequence number: samples this data source generated before this one.
    pub sequence: u32,
    /// Data source type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry).
    pub source_id_type: u8,
    /// Data source index (at most [`COMPACT_SOURCE_MAX`] in the compact form).
    pub source_id_index: u32,
    /// 1 in N packets sampled.
    pub sampling_rate: u32,
    /// Packets the data source could have sampled, this sample's packet included.
    pub sample_pool: u32,
    /// Samples dropped for lack of resources, cumulative.
    pub drops: u32,
}

/// Extended switch data (flow format 1001).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtendedSwitch {
    /// 802.1Q VLAN of the incoming frame.
    pub src_vlan: u32,
    /// 802.1p priority of the incoming frame.
    pub src_priority: u32,
    /// 802.1Q VLAN of the outgoing frame.
    pub dst_vlan: u32,
    /// 802.1p priority of the outgoing frame.
    pub dst_priority: u32,
}

/// What extended gateway data (flow format 1003) carries besides the flow's next hop and AS
/// numbers.
///
/// The AS path is one AS_SEQUENCE segment: `dst_peer_as` (when given), then the flow's `dst_as`;
/// a flow whose `dst_as` is 0 gets an empty path. No communities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtendedGateway {
    /// The router's own AS.
    pub router_as: u32,
    /// AS of the source's peer.
    pub src_peer_as: u32,
    /// The first AS of the path, the neighbour the packet goes to.
    pub dst_peer_as: Option<u32>,
    /// BGP local preference.
    pub local_pref: u32,
}

/// The flow records a flow sample carries after its raw packet header record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowRecords {
    /// An 802.1Q tag in the sampled frame: this VLAN id (0 to 4095), priority 0.
    pub vlan_tag: Option<u16>,
    /// An extended switch record.
    pub switch: Option<ExtendedSwitch>,
    /// An extended router record: the flow's next hop and prefix lengths.
    pub router: bool,
    /// An extended gateway record: the flow's next hop and AS numbers, and these.
    pub gateway: Option<ExtendedGateway>,
}

/// The fields of a counter sample other than its counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSampleHeader {
    /// Expanded form (format 4) rather than compact (2).
    pub expanded: bool,
    /// Sample sequence number: counter samples this data source generated before this one.
    pub sequence: u32,
    /// Data source type (0 ifIndex).
    pub source_id_type: u8,
    /// Data source index (at most [`COMPACT_SOURCE_MAX`] in the compact form).
    pub source_id_index: u32,
}

/// Generic interface counters (counter format 1: RFC 2233's ifTable and ifXTable), in wire order.
/// A counter the agent does not know is all ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    /// ifIndex.
    pub index: u32,
    /// ifType (6 ethernetCsmacd).
    pub if_type: u32,
    /// ifSpeed, bits per second.
    pub speed: u64,
    /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
    pub direction: u32,
    /// Bit 0 ifAdminStatus up, bit 1 ifOperStatus up.
    pub status: u32,
    /// ifHCInOctets.
    pub in_octets: u64,
    /// ifInUcastPkts.
    pub in_ucast: u32,
    /// ifInMulticastPkts.
    pub in_multicast: u32,
    /// ifInBroadcastPkts.
    pub in_broadcast: u32,
    /// ifInDiscards.
    pub in_discards: u32,
    /// ifInErrors.
    pub in_errors: u32,
    /// ifInUnknownProtos.
    pub in_unknown_protos: u32,
    /// ifHCOutOctets.
    pub out_octets: u64,
    /// ifOutUcastPkts.
    pub out_ucast: u32,
    /// ifOutMulticastPkts.
    pub out_multicast: u32,
    /// ifOutBroadcastPkts.
    pub out_broadcast: u32,
    /// ifOutDiscards.
    pub out_discards: u32,
    /// ifOutErrors.
    pub out_errors: u32,
    /// ifPromiscuousMode (1 true, 2 false).
    pub promiscuous: u32,
}

/// Length of a generic interface counters record's data.
const IF_COUNTERS_LEN: usize = 88;

/// Builds one sFlow datagram, appended to a caller's buffer.
///
/// Samples are written in the order the methods are called; a failed call leaves the buffer as
/// it was before that call. [`Datagram::finish`] writes the sample count.
#[derive(Debug)]
pub struct Datagram<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
    count_at: usize,
    samples: u32,
}

impl<'a> Datagram<'a> {
    /// Starts a datagram at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>, h: &Header) -> Self {
        let start = out.len();
        put32(out, VERSION);
        put_address(out, h.agent);
        put32(out, h.sub_agent);
        put32(out, h.sequence);
        put32(out, h.uptime_ms);
        let count_at = out.len();
        put32(out, 0);
        Datagram {
            out,
            start,
            count_at,
            samples: 0,
        }
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.out.len() - self.start
    }

    /// True when nothing was written (never: the header is written by [`Datagram::new`]).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Samples written so far.
    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// Writes a flow sample of one packet of `flow`, carrying a raw packet header record and the
    /// extended records `records` asks for. Returns where the sample starts in the datagram (for
    /// a caller that patches [`SAMPLE_SEQUENCE_AT`] and [`sample_pool_at`] before resending it).
    pub fn flow_sample(
        &mut self,
        h: &FlowSampleHeader,
        flow: &Flow,
        records: &FlowRecords,
    ) -> Result<usize, EncodeError> {
        let at = self.out.len();
        let res = write_flow_sample(self.out, h, flow, records);
        self.sample_done(at, res)
    }

    /// Writes a counter sample carrying one generic interface counters record. Returns where the
    /// sample starts in the datagram.
    pub fn counter_sample(
        &mut self,
        h: &CounterSampleHeader,
        c: &IfCounters,
    ) -> Result<usize, EncodeError> {
        let at = self.out.len();
        let res = write_counter_sample(self.out, h, c);
        self.sample_done(at, res)
    }

    fn sample_done(
        &mut self,
        at: usize,
        res: Result<(), EncodeError>,
    ) -> Result<usize, EncodeError> {
        let len = res.and_then(|()| {
            u32::try_from(self.out.len() - at - 8).map_err(|_| EncodeError::TooLong("sFlow sample"))
        });
        match len {
            Ok(len) => {
                self.out[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
                self.samples += 1;
                Ok(at - self.start)
            }
            Err(e) => {
                self.out.truncate(at);
                Err(e)
            }
        }
    }

    /// Writes the sample count; returns the datagram's length in bytes.
    pub fn finish(self) -> usize {
        self.out[self.count_at..self.count_at + 4].copy_from_slice(&self.samples.to_be_bytes());
        self.out.len() - self.start
    }
}

/// Replaces the contents of `out` with a datagram of one compact or expanded flow sample per
/// flow, all from the data source of `first`: sample `i` has sequence `first.sequence + i` and
/// sample pool `first.sample_pool + i * first.sampling_rate`. Returns the length; on error `out`
/// is left empty.
pub fn encode_sflow(
    out: &mut Vec<u8>,
    h: &Header,
    first: &FlowSampleHeader,
    flows: &[Flow],
    records: &FlowRecords,
) -> Result<usize, EncodeError> {
    out.clear();
    let mut d = Datagram::new(out, h);
    let mut s = *first;
    for flow in flows {
        if let Err(e) = d.flow_sample(&s, flow, records) {
            out.clear();
            return Err(e);
        }
        s.sequence = s.sequence.wrapping_add(1);
        s.sample_pool = s.sample_pool.wrapping_add(s.sampling_rate);
    }
    Ok(d.finish())
}

/// The bytes a flow sample of `flow` with `records` takes in a datagram (its tag and length
/// included), so that a caller can see whether it fits before writing it.
pub fn flow_sample_len(
    flow: &Flow,
    records: &FlowRecords,
    expanded: bool,
) -> Result<usize, EncodeError> {
    let v6 = flow.is_v6()?;
    let packet = Packet::of(flow, records.vlan_tag)?;
    let addr = if v6 { 20 } else { 8 };
    let mut len = 8 + if expanded { 44 } else { 32 };
    len += 8 + 16 + pad4(packet.header_len());
    if records.switch.is_some() {
        len += 8 + 16;
    }
    if records.router {
        len += 8 + addr + 8;
    }
    if let Some(gw) = &records.gateway {
        let path = 4 * as_path(flow, gw).iter().flatten().count();
        let segments = if path == 0 { 0 } else { 8 + path };
        // next hop, router AS, source AS, source peer AS, segment count, segments,
        // community count, local preference.
        len += 8 + addr + 12 + 4 + segments + 4 + 4;
    }
    Ok(len)
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn put_address(out: &mut Vec<u8>, a: IpAddr) {
    match a {
        IpAddr::V4(a) => {
            put32(out, 1);
            out.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            put32(out, 2);
            out.extend_from_slice(&a.octets());
        }
    }
}

/// Writes a data source in the compact (8 + 24 bits) or expanded (two words) form.
fn put_source(out: &mut Vec<u8>, expanded: bool, kind: u8, index: u32) -> Result<(), EncodeError> {
    if expanded {
        put32(out, kind.into());
        put32(out, index);
    } else {
        if index > COMPACT_SOURCE_MAX {
            return Err(EncodeError::BadParameter(
                "sFlow compact data source index is 24 bits",
            ));
        }
        put32(out, u32::from(kind) << 24 | index);
    }
    Ok(())
}

/// Starts a record (or sample) of `format`, enterprise 0; its length is written by
/// [`end_record`].
fn begin_record(out: &mut Vec<u8>, format: u32) -> usize {
    let at = out.len();
    put32(out, format);
    put32(out, 0);
    at
}

fn end_record(out: &mut [u8], at: usize) {
    let len = (out.len() - at - 8) as u32;
    out[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
}

fn write_flow_sample(
    out: &mut Vec<u8>,
    h: &FlowSampleHeader,
    flow: &Flow,
    records: &FlowRecords,
) -> Result<(), EncodeError> {
    let packet = Packet::of(flow, records.vlan_tag)?;
    put32(out, if h.expanded { 3 } else { 1 });
    put32(out, 0); // length, written by the caller
    put32(out, h.sequence);
    put_source(out, h.expanded, h.source_id_type, h.source_id_index)?;
    put32(out, h.sampling_rate);
    put32(out, h.sample_pool);
    put32(out, h.drops);
    if h.expanded {
        // interface_expanded: format 0 (ifIndex), value.
        for i in [flow.in_if, flow.out_if] {
            put32(out, 0);
            put32(out, i);
        }
    } else {
        if flow.in_if > COMPACT_INTERFACE_MAX || flow.out_if > COMPACT_INTERFACE_MAX {
            return Err(EncodeError::BadParameter(
                "sFlow compact interfaces are 30 bits: use the expanded form",
            ));
        }
        put32(out, flow.in_if);
        put32(out, flow.out_if);
    }
    let count = 1
        + u32::from(records.switch.is_some())
        + u32::from(records.router)
        + u32::from(records.gateway.is_some());
    put32(out, count);

    // Raw packet header (flow format 1): Ethernet, frame length with the FCS, FCS stripped.
    let rec = begin_record(out, 1);
    put32(out, 1);
    put32(out, packet.frame_len as u32 + FCS_BYTES);
    put32(out, FCS_BYTES);
    let n = packet.header_len();
    put32(out, n as u32);
    out.extend_from_slice(&packet.bytes[..n]);
    out.resize(out.len() + pad4(n) - n, 0);
    end_record(out, rec);

    if let Some(sw) = records.switch {
        let rec = begin_record(out, 1001);
        for v in [sw.src_vlan, sw.src_priority, sw.dst_vlan, sw.dst_priority] {
            put32(out, v);
        }
        end_record(out, rec);
    }
    if records.router {
        let rec = begin_record(out, 1002);
        put_address(out, flow.next_hop);
        put32(out, flow.src_mask.into());
        put32(out, flow.dst_mask.into());
        end_record(out, rec);
    }
    if let Some(gw) = records.gateway {
        let rec = begin_record(out, 1003);
        put_address(out, flow.next_hop);
        put32(out, gw.router_as);
        put32(out, flow.src_as);
        put32(out, gw.src_peer_as);
        let path = as_path(flow, &gw);
        let n = path.iter().flatten().count() as u32;
        if n == 0 {
            put32(out, 0); // no segment
        } else {
            put32(out, 1);
            put32(out, 2); // AS_SEQUENCE
            put32(out, n);
            for a in path.iter().flatten() {
                put32(out, *a);
            }
        }
        put32(out, 0); // communities
        put32(out, gw.local_pref);
        end_record(out, rec);
    }
    Ok(())
}

/// The AS path of the gateway record: the peer (when given), then the destination AS (when not 0).
fn as_path(flow: &Flow, gw: &ExtendedGateway) -> [Option<u32>; 2] {
    if flow.dst_as == 0 {
        return [None, None];
    }
    [gw.dst_peer_as, Some(flow.dst_as)]
}

fn write_counter_sample(
    out: &mut Vec<u8>,
    h: &CounterSampleHeader,
    c: &IfCounters,
) -> Result<(), EncodeError> {
    put32(out, if h.expanded { 4 } else { 2 });
    put32(out, 0); // length, written by the caller
    put32(out, h.sequence);
    put_source(out, h.expanded, h.source_id_type, h.source_id_index)?;
    put32(out, 1);
    let rec = begin_record(out, 1);
    put32(out, c.index);
    put32(out, c.if_type);
    out.extend_from_slice(&c.speed.to_be_bytes());
    put32(out, c.direction);
    put32(out, c.status);
    out.extend_from_slice(&c.in_octets.to_be_bytes());
    for v in [
        c.in_ucast,
        c.in_multicast,
        c.in_broadcast,
        c.in_discards,
        c.in_errors,
        c.in_unknown_protos,
    ] {
        put32(out, v);
    }
    out.extend_from_slice(&c.out_octets.to_be_bytes());
    for v in [
        c.out_ucast,
        c.out_multicast,
        c.out_broadcast,
        c.out_discards,
        c.out_errors,
        c.promiscuous,
    ] {
        put32(out, v);
    }
    debug_assert_eq!(out.len() - rec - 8, IF_COUNTERS_LEN);
    end_record(out, rec);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The sampled packet

/// Destination MAC of the sampled frames (locally administered).
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
/// Source MAC of the sampled frames (locally administered).
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

/// The first [`MAX_HEADER_BYTES`] of a sampled frame (headers, then zero payload or Ethernet
/// padding) and the frame's length on the wire without its FCS.
struct Packet {
    bytes: [u8; MAX_HEADER_BYTES],
    frame_len: usize,
}

impl Packet {
    fn header_len(&self) -> usize {
        self.frame_len.min(MAX_HEADER_BYTES)
    }

    /// The frame of one packet of `flow`: `flow.bytes` is its IP length.
    fn of(flow: &Flow, vlan: Option<u16>) -> Result<Packet, EncodeError> {
        let v6 = flow.is_v6()?;
        let (ip_hdr, max_ip_len) = if v6 {
            (40, 40 + usize::from(u16::MAX))
        } else {
            (20, usize::from(u16::MAX))
        };
        let l4_hdr = match flow.protocol {
            6 => 20,
            17 | 1 | 58 => 8,
            _ => 0,
        };
        let ip_len = usize::try_from(flow.bytes).unwrap_or(usize::MAX);
        if ip_len < ip_hdr + l4_hdr || ip_len > max_ip_len {
            return Err(EncodeError::BadParameter(
                "an sFlow sample's bytes is its packet's IP length: at least its headers, at most 65535 (IPv6: 65575)",
            ));
        }
        if vlan.is_some_and(|v| v > 0x0fff) {
            return Err(EncodeError::BadParameter("a VLAN id is 12 bits"));
        }
        let mut b = [0u8; MAX_HEADER_BYTES];
        b[..6].copy_from_slice(&DST_MAC);
        b[6..12].copy_from_slice(&SRC_MAC);
        let mut at = 12;
        if let Some(vid) = vlan {
            b[at..at + 2].copy_from_slice(&0x8100u16.to_be_bytes());
            b[at + 2..at + 4].copy_from_slice(&vid.to_be_bytes());
            at += 4;
        }
        b[at..at + 2].copy_from_slice(&(if v6 { 0x86ddu16 } else { 0x0800 }).to_be_bytes());
        at += 2;
        let l2 = at;
        let l4 = l2 + ip_hdr;
        // The pseudo-header sum of TCP, UDP and ICMPv6 (RFC 793, 768, 8200 §8.1).
        let l4_len = ip_len - ip_hdr;
        let mut pseudo =
            u32::from(flow.protocol) + (l4_len as u32 >> 16) + (l4_len as u32 & 0xffff);
        match (flow.src_addr, flow.dst_addr) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                let ip = &mut b[l2..l4];
                ip[0] = 0x45;
                ip[1] = flow.tos;
                ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
                ip[6] = 0x40; // don't fragment
                ip[8] = 64;
                ip[9] = flow.protocol;
                ip[12..16].copy_from_slice(&s.octets());
                ip[16..20].copy_from_slice(&d.octets());
                let sum = checksum(sum16(ip, 0));
                ip[10..12].copy_from_slice(&sum.to_be_bytes());
                pseudo += sum16(&s.octets(), 0) + sum16(&d.octets(), 0);
            }
            (IpAddr::V6(s), IpAddr::V6(d)) => {
                let ip = &mut b[l2..l4];
                let word = 6u32 << 28 | u32::from(flow.tos) << 20;
                ip[0..4].copy_from_slice(&word.to_be_bytes());
                ip[4..6].copy_from_slice(&((ip_len - 40) as u16).to_be_bytes());
                ip[6] = flow.protocol;
                ip[7] = 64;
                ip[8..24].copy_from_slice(&s.octets());
                ip[24..40].copy_from_slice(&d.octets());
                pseudo += sum16(&s.octets(), 0) + sum16(&d.octets(), 0);
            }
            _ => return Err(EncodeError::MixedFamilies),
        }
        let t = &mut b[l4..l4 + l4_hdr];
        // The payload is zeros, so the header and the pseudo-header make the whole sum.
        let check_at = match flow.protocol {
            6 => {
                t[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
                t[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
                t[12] = 5 << 4; // data offset: 5 words, no options
                t[13] = flow.tcp_flags;
                t[14..16].copy_from_slice(&64240u16.to_be_bytes()); // window
                Some(16)
            }
            17 => {
                t[0..2].copy_from_slice(&flow.src_port.to_be_bytes());
                t[2..4].copy_from_slice(&flow.dst_port.to_be_bytes());
                t[4..6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                Some(6)
            }
            // ICMP type and code as NetFlow carries them, in the destination port.
            1 | 58 => {
                t[0..2].copy_from_slice(&flow.dst_port.to_be_bytes());
                if flow.protocol == 1 {
                    pseudo = 0; // ICMPv4 has no pseudo-header
                }
                Some(2)
            }
            _ => None,
        };
        if let Some(c) = check_at {
            let mut sum = checksum(sum16(t, pseudo));
            if flow.protocol == 17 && sum == 0 {
                sum = 0xffff; // RFC 768: a computed 0 is sent as all ones
            }
            t[c..c + 2].copy_from_slice(&sum.to_be_bytes());
        }
        Ok(Packet {
            bytes: b,
            frame_len: (l2 + ip_len).max(MIN_FRAME_BYTES),
        })
    }
}

/// The 32-bit sum of `data` as big-endian 16-bit words (odd length padded with a zero), plus
/// `init`.
fn sum16(data: &[u8], init: u32) -> u32 {
    data.chunks(2).fold(init, |s, w| {
        s + u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))
    })
}

/// The Internet checksum (RFC 1071) of a 32-bit sum: folded, then complemented.
fn checksum(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::Packet as _;
    use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet_packet::icmp::IcmpPacket;
    use pnet_packet::icmpv6::Icmpv6Packet;
    use pnet_packet::ipv4::Ipv4Packet;
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::tcp::TcpPacket;
    use pnet_packet::udp::UdpPacket;
    use pnet_packet::vlan::VlanPacket;

    fn header() -> Header {
        Header {
            agent: "192.0.2.1".parse().unwrap(),
            sub_agent: 3,
            sequence: 7,
            uptime_ms: 65_536,
        }
    }

    fn sample() -> FlowSampleHeader {
        FlowSampleHeader {
            expanded: false,
            sequence: 9,
            source_id_type: 0,
            source_id_index: 1,
            sampling_rate: 100,
            sample_pool: 900,
            drops: 2,
        }
    }

    fn udp_flow(bytes: u64) -> Flow {
        Flow {
            src_addr: "10.0.0.1".parse().unwrap(),
            dst_addr: "172.16.0.2".parse().unwrap(),
            next_hop: "10.255.255.1".parse().unwrap(),
            src_port: 1234,
            dst_port: 53,
            protocol: 17,
            tos: 0x20,
            tcp_flags: 0,
            bytes,
            packets: 1,
            start_ms: 0,
            end_ms: 0,
            in_if: 1,
            out_if: 10,
            src_as: 64512,
            dst_as: 65001,
            src_mask: 24,
            dst_mask: 16,
        }
    }

    fn v6(flow: Flow) -> Flow {
        Flow {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8:1::2".parse().unwrap(),
            next_hop: "2001:db8:ffff::1".parse().unwrap(),
            src_mask: 64,
            dst_mask: 48,
            ..flow
        }
    }

    fn word(buf: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(buf[at..at + 4].try_into().unwrap())
    }

    /// One datagram of one compact flow sample of `flow`; returns it and its raw header record's
    /// (frame_length, stripped, header).
    fn one(flow: &Flow, records: &FlowRecords) -> (Vec<u8>, u32, u32, Vec<u8>) {
        let mut buf = Vec::new();
        encode_sflow(&mut buf, &header(), &sample(), &[*flow], records).unwrap();
        // Datagram header 28, sample tag and length 8, compact sample fields 32, record tag and
        // length 8, then the raw header record.
        let rec = 28 + 8 + 32 + 8;
        let n = word(&buf, rec + 12) as usize;
        let h = buf[rec + 16..rec + 16 + n].to_vec();
        (buf.clone(), word(&buf, rec + 4), word(&buf, rec + 8), h)
    }

    #[test]
    fn flow_sample_of_a_short_udp_packet_matches_golden_bytes() {
        let mut buf = Vec::new();
        let len = encode_sflow(
            &mut buf,
            &header(),
            &sample(),
            &[udp_flow(28)],
            &FlowRecords::default(),
        )
        .unwrap();
        #[rustfmt::skip]
        let golden: [u8; 152] = [
            0x00, 0x00, 0x00, 0x05, // version 5
            0x00, 0x00, 0x00, 0x01, // agent address type IPv4
            192, 0, 2, 1,           // agent
            0x00, 0x00, 0x00, 0x03, // sub-agent
            0x00, 0x00, 0x00, 0x07, // sequence
            0x00, 0x01, 0x00, 0x00, // uptime 65536 ms
            0x00, 0x00, 0x00, 0x01, // 1 sample
            0x00, 0x00, 0x00, 0x01, // flow sample, enterprise 0 format 1
            0x00, 0x00, 0x00, 0x74, // length 116 = 32 + 8 + 16 + 60
            0x00, 0x00, 0x00, 0x09, // sample sequence
            0x00, 0x00, 0x00, 0x01, // source: type 0, index 1
            0x00, 0x00, 0x00, 0x64, // rate 100
            0x00, 0x00, 0x03, 0x84, // pool 900
            0x00, 0x00, 0x00, 0x02, // drops
            0x00, 0x00, 0x00, 0x01, // input ifIndex 1
            0x00, 0x00, 0x00, 0x0a, // output ifIndex 10
            0x00, 0x00, 0x00, 0x01, // 1 record
            0x00, 0x00, 0x00, 0x01, // raw packet header
            0x00, 0x00, 0x00, 0x4c, // length 76 = 16 + 60
            0x00, 0x00, 0x00, 0x01, // header protocol Ethernet
            0x00, 0x00, 0x00, 0x40, // frame length 64: 42 padded to 60, + FCS
            0x00, 0x00, 0x00, 0x04, // stripped: the FCS
            0x00, 0x00, 0x00, 0x3c, // 60 header bytes
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00, // Ethernet, IPv4
            0x45, 0x20, 0x00, 0x1c, // IPv4, ToS 0x20, total length 28
            0x00, 0x00, 0x40, 0x00, // id 0, don't fragment
            0x40, 0x11, 0x84, 0x9e, // TTL 64, UDP, header checksum
            10, 0, 0, 1,            // source
            172, 16, 0, 2,          // destination
            0x04, 0xd2, 0x00, 0x35, // ports 1234, 53
            0x00, 0x08, 0x44, 0xc4, // UDP length 8, checksum
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // Ethernet padding
        ];
        assert_eq!(len, 152);
        assert_eq!(buf, golden);
    }

    #[test]
    fn frame_length_counts_fcs_padding_and_tag_and_the_header_stops_at_128_bytes() {
        let none = FlowRecords::default();
        let tagged = FlowRecords {
            vlan_tag: Some(100),
            ..none
        };
        for (flow, records, frame, header) in [
            (udp_flow(28), none, 64, 60),
            (udp_flow(100), none, 118, 114),
            (udp_flow(1500), none, 1518, 128),
            (udp_flow(1500), tagged, 1522, 128),
            (v6(udp_flow(48)), none, 66, 62),
            (v6(udp_flow(1500)), tagged, 1522, 128),
        ] {
            let (_, frame_length, stripped, h) = one(&flow, &records);
            assert_eq!(
                (frame_length, stripped, h.len()),
                (frame, FCS_BYTES, header),
                "{} bytes, tag {:?}",
                flow.bytes,
                records.vlan_tag
            );
        }
    }

    /// The IP packet of a header, after its Ethernet header and tag.
    fn ip_of(h: &[u8]) -> (Vec<u8>, Option<u16>) {
        let eth = EthernetPacket::new(h).unwrap();
        if eth.get_ethertype() == EtherTypes::Vlan {
            let tag = VlanPacket::new(eth.payload()).unwrap();
            (tag.payload().to_vec(), Some(tag.get_vlan_identifier()))
        } else {
            (eth.payload().to_vec(), None)
        }
    }

    #[test]
    fn sampled_packets_carry_their_flow_and_valid_checksums() {
        let tcp = Flow {
            protocol: 6,
            dst_port: 443,
            tcp_flags: 0x12,
            bytes: 60,
            ..udp_flow(0)
        };
        let icmp = Flow {
            protocol: 1,
            dst_port: 0x0300, // destination unreachable, net unreachable
            src_port: 0,
            bytes: 84,
            ..udp_flow(0)
        };
        let tagged = FlowRecords {
            vlan_tag: Some(4094),
            ..FlowRecords::default()
        };
        for (flow, records) in [
            (tcp, FlowRecords::default()),
            (udp_flow(77), tagged),
            (icmp, FlowRecords::default()),
        ] {
            let (_, _, _, h) = one(&flow, &records);
            let (ip, tag) = ip_of(&h);
            assert_eq!(tag, records.vlan_tag);
            let p = Ipv4Packet::new(&ip).unwrap();
            assert_eq!(p.get_checksum(), pnet_packet::ipv4::checksum(&p));
            assert_eq!(u64::from(p.get_total_length()), flow.bytes);
            assert_eq!(p.get_dscp() << 2 | p.get_ecn(), flow.tos);
            assert_eq!(IpAddr::V4(p.get_source()), flow.src_addr);
            assert_eq!(IpAddr::V4(p.get_destination()), flow.dst_addr);
            let l4 = &ip[20..usize::from(p.get_total_length())];
            let (src, dst) = (p.get_source(), p.get_destination());
            match flow.protocol {
                6 => {
                    let t = TcpPacket::new(l4).unwrap();
                    assert_eq!((t.get_source(), t.get_destination()), (1234, 443));
                    assert_eq!(t.get_flags(), 0x12);
                    let sum = pnet_packet::tcp::ipv4_checksum(&t, &src, &dst);
                    assert_eq!(t.get_checksum(), sum);
                }
                17 => {
                    let u = UdpPacket::new(l4).unwrap();
                    assert_eq!((u.get_source(), u.get_destination()), (1234, 53));
                    assert_eq!(u.get_length(), 77 - 20);
                    let sum = pnet_packet::udp::ipv4_checksum(&u, &src, &dst);
                    assert_eq!(u.get_checksum(), sum);
                }
                _ => {
                    let i = IcmpPacket::new(l4).unwrap();
                    assert_eq!((i.get_icmp_type().0, i.get_icmp_code().0), (3, 0));
                    assert_eq!(i.get_checksum(), pnet_packet::icmp::checksum(&i));
                }
            }
        }
        for flow in [
            v6(tcp),
            v6(udp_flow(60)),
            v6(Flow {
                protocol: 58,
                dst_port: 0x8000, // echo request
                bytes: 64,
                ..udp_flow(0)
            }),
        ] {
            let (_, _, _, h) = one(&flow, &FlowRecords::default());
            let (ip, _) = ip_of(&h);
            let p = Ipv6Packet::new(&ip).unwrap();
            assert_eq!(u64::from(p.get_payload_length()) + 40, flow.bytes);
            assert_eq!(p.get_traffic_class(), flow.tos);
            assert_eq!(p.get_next_header().0, flow.protocol);
            let (src, dst) = (p.get_source(), p.get_destination());
            assert_eq!(IpAddr::V6(src), flow.src_addr);
            let l4 = &ip[40..flow.bytes as usize];
            match flow.protocol {
                6 => {
                    let t = TcpPacket::new(l4).unwrap();
                    let sum = pnet_packet::tcp::ipv6_checksum(&t, &src, &dst);
                    assert_eq!(t.get_checksum(), sum);
                }
                17 => {
                    let u = UdpPacket::new(l4).unwrap();
                    let sum = pnet_packet::udp::ipv6_checksum(&u, &src, &dst);
                    assert_eq!(u.get_checksum(), sum);
                }
                _ => {
                    let i = Icmpv6Packet::new(l4).unwrap();
                    assert_eq!(i.get_icmpv6_type().0, 0x80);
                    let sum = pnet_packet::icmpv6::checksum(&i, &src, &dst);
                    assert_eq!(i.get_checksum(), sum);
                }
            }
        }
    }

    fn all_records() -> FlowRecords {
        FlowRecords {
            vlan_tag: Some(10),
            switch: Some(ExtendedSwitch {
                src_vlan: 10,
                src_priority: 0,
                dst_vlan: 20,
                dst_priority: 5,
            }),
            router: true,
            gateway: Some(ExtendedGateway {
                router_as: 65000,
                src_peer_as: 64999,
                dst_peer_as: Some(3356),
                local_pref: 100,
            }),
        }
    }

    #[test]
    fn flow_sample_len_is_what_is_written() {
        let no_as = Flow {
            dst_as: 0,
            ..udp_flow(1500)
        };
        let no_peer = FlowRecords {
            gateway: Some(ExtendedGateway::default()),
            ..FlowRecords::default()
        };
        for flow in [
            udp_flow(28),
            udp_flow(1500),
            v6(udp_flow(48)),
            v6(no_as),
            no_as,
        ] {
            for records in [FlowRecords::default(), all_records(), no_peer] {
                for expanded in [false, true] {
                    let mut buf = Vec::new();
                    let mut d = Datagram::new(&mut buf, &header());
                    let s = FlowSampleHeader {
                        expanded,
                        ..sample()
                    };
                    let at = d.flow_sample(&s, &flow, &records).unwrap();
                    let len = d.finish();
                    assert_eq!(at, 28);
                    assert_eq!(
                        Ok(len - at),
                        flow_sample_len(&flow, &records, expanded),
                        "{flow:?} {records:?} expanded {expanded}"
                    );
                    assert_eq!(word(&buf, at + 4) as usize, len - at - 8);
                }
            }
        }
    }

    #[test]
    fn extended_records_follow_the_raw_header_in_wire_order() {
        let flow = udp_flow(1500);
        let (buf, ..) = one(&flow, &all_records());
        assert_eq!(word(&buf, 28 + 8 + 28), 4, "record count");
        // Walk the records: (format, length).
        let mut at = 28 + 8 + 32;
        let mut seen = Vec::new();
        while at < buf.len() {
            let (format, len) = (word(&buf, at), word(&buf, at + 4) as usize);
            seen.push((format, len));
            at += 8 + len;
        }
        assert_eq!(at, buf.len());
        // Raw header 16 + 128; switch 16; router 8 + 8; gateway 8 + 12 + 4 + 16 + 4 + 4.
        assert_eq!(seen, vec![(1, 144), (1001, 16), (1002, 16), (1003, 48)]);
        let gw = buf.len() - 48;
        let words: Vec<u32> = (0..12).map(|i| word(&buf, gw + 4 * i)).collect();
        assert_eq!(
            words,
            vec![
                1,
                0x0aff_ff01,
                65000,
                64512,
                64999,
                1,
                2,
                2,
                3356,
                65001,
                0,
                100
            ],
            "next hop, router AS, source AS, source peer AS, one AS_SEQUENCE of 2, no community, local pref"
        );
        let rt = gw - 24;
        assert_eq!(
            (0..4).map(|i| word(&buf, rt + 4 * i)).collect::<Vec<_>>(),
            vec![1, 0x0aff_ff01, 24, 16]
        );
    }

    #[test]
    fn expanded_sample_carries_32_bit_sources_and_interfaces_and_compact_refuses_them() {
        let flow = Flow {
            in_if: 0x8000_0001,
            out_if: 0x4000_0000,
            ..udp_flow(100)
        };
        let wide = FlowSampleHeader {
            source_id_index: 0x0100_0000,
            ..sample()
        };
        let mut buf = vec![0xaa];
        let mut d = Datagram::new(&mut buf, &header());
        assert!(matches!(
            d.flow_sample(&wide, &flow, &FlowRecords::default()),
            Err(EncodeError::BadParameter(_))
        ));
        assert!(matches!(
            d.flow_sample(&sample(), &flow, &FlowRecords::default()),
            Err(EncodeError::BadParameter(_))
        ));
        assert_eq!(d.samples(), 0);
        let expanded = FlowSampleHeader {
            expanded: true,
            ..wide
        };
        let at = d
            .flow_sample(&expanded, &flow, &FlowRecords::default())
            .unwrap();
        d.finish();
        assert_eq!(at, 28, "the failed samples left nothing behind");
        let at = at + 1;
        assert_eq!(word(&buf, at), 3, "expanded flow sample");
        let fields: Vec<u32> = (0..11).map(|i| word(&buf, at + 8 + 4 * i)).collect();
        assert_eq!(
            fields,
            vec![
                9,
                0,
                0x0100_0000,
                100,
                900,
                2,
                0,
                0x8000_0001,
                0,
                0x4000_0000,
                1
            ]
        );
    }

    #[test]
    fn rejects_packet_lengths_outside_the_ip_length_and_leaves_the_buffer_unchanged() {
        let tcp = Flow {
            protocol: 6,
            ..udp_flow(39)
        };
        let mut buf = Vec::new();
        let mut d = Datagram::new(&mut buf, &header());
        for flow in [
            tcp,
            udp_flow(27),
            udp_flow(65_536),
            v6(udp_flow(47)),
            v6(udp_flow(65_576)),
        ] {
            assert!(matches!(
                d.flow_sample(&sample(), &flow, &FlowRecords::default()),
                Err(EncodeError::BadParameter(_))
            ));
        }
        let mixed = Flow {
            next_hop: "2001:db8::1".parse().unwrap(),
            ..udp_flow(100)
        };
        assert_eq!(
            d.flow_sample(&sample(), &mixed, &FlowRecords::default()),
            Err(EncodeError::MixedFamilies)
        );
        let bad_tag = FlowRecords {
            vlan_tag: Some(4096),
            ..FlowRecords::default()
        };
        assert!(d.flow_sample(&sample(), &udp_flow(100), &bad_tag).is_err());
        assert!(
            d.flow_sample(&sample(), &v6(udp_flow(65_575)), &FlowRecords::default())
                .is_ok()
        );
        assert!(
            d.flow_sample(&sample(), &udp_flow(65_535), &FlowRecords::default())
                .is_ok()
        );
        assert_eq!(d.samples(), 2);
    }

    #[test]
    fn counter_sample_carries_88_bytes_of_generic_interface_counters() {
        let c = IfCounters {
            index: 7,
            if_type: 6,
            speed: 10_000_000_000,
            direction: 1,
            status: 3,
            in_octets: 1 << 40,
            in_ucast: 11,
            in_multicast: 12,
            in_broadcast: 13,
            in_discards: 14,
            in_errors: 15,
            in_unknown_protos: u32::MAX,
            out_octets: 5,
            out_ucast: 21,
            out_multicast: 22,
            out_broadcast: 23,
            out_discards: 24,
            out_errors: 25,
            promiscuous: 2,
        };
        let h = Header {
            agent: "2001:db8::9".parse().unwrap(),
            ..header()
        };
        let mut buf = Vec::new();
        let mut d = Datagram::new(&mut buf, &h);
        let cs = CounterSampleHeader {
            expanded: false,
            sequence: 4,
            source_id_type: 0,
            source_id_index: 7,
        };
        let at = d.counter_sample(&cs, &c).unwrap();
        let at2 = d
            .counter_sample(
                &CounterSampleHeader {
                    expanded: true,
                    ..cs
                },
                &c,
            )
            .unwrap();
        let len = d.finish();
        assert_eq!((at, len), (40, 40 + 2 * 8 + 12 + 16 + 2 * 96));
        assert_eq!(word(&buf, 36), 2, "sample count");
        assert_eq!((word(&buf, at), word(&buf, at + 4)), (2, 12 + 96));
        assert_eq!((word(&buf, at2), word(&buf, at2 + 4)), (4, 16 + 96));
        assert_eq!(
            (0..3)
                .map(|i| word(&buf, at + 8 + 4 * i))
                .collect::<Vec<_>>(),
            vec![4, 7, 1]
        );
        let rec = at + 20;
        assert_eq!((word(&buf, rec), word(&buf, rec + 4)), (1, 88));
        let w: Vec<u32> = (0..22).map(|i| word(&buf, rec + 8 + 4 * i)).collect();
        assert_eq!(
            w,
            vec![
                7,
                6,
                2,
                0x540b_e400,
                1,
                3,
                0x100,
                0,
                11,
                12,
                13,
                14,
                15,
                u32::MAX,
                0,
                5,
                21,
                22,
                23,
                24,
                25,
                2
            ]
        );
    }

    #[test]
    fn patch_offsets_point_at_the_sequences_and_the_pool() {
        for agent in ["192.0.2.1", "2001:db8::1"] {
            let h = Header {
                agent: agent.parse().unwrap(),
                sequence: 0x0102_0304,
                uptime_ms: 0x0a0b_0c0d,
                ..header()
            };
            for expanded in [false, true] {
                let mut buf = Vec::new();
                let mut d = Datagram::new(&mut buf, &h);
                let s = FlowSampleHeader {
                    expanded,
                    sequence: 0x1111_2222,
                    sample_pool: 0x3333_4444,
                    ..sample()
                };
                let at = d
                    .flow_sample(&s, &udp_flow(100), &FlowRecords::default())
                    .unwrap();
                d.finish();
                let seq = datagram_sequence_at(h.agent.is_ipv6());
                assert_eq!(word(&buf, seq), 0x0102_0304);
                assert_eq!(word(&buf, seq + 4), 0x0a0b_0c0d, "uptime follows");
                assert_eq!(word(&buf, at + SAMPLE_SEQUENCE_AT), 0x1111_2222);
                assert_eq!(word(&buf, at + sample_pool_at(expanded)), 0x3333_4444);
            }
        }
    }

    #[test]
    fn reuses_the_buffer_without_reallocating() {
        let flows = [udp_flow(1500), v6(udp_flow(60)), udp_flow(28)];
        let mut buf = Vec::with_capacity(4096);
        let ptr = buf.as_ptr();
        for seq in 0..100 {
            let h = Header {
                sequence: seq,
                ..header()
            };
            encode_sflow(&mut buf, &h, &sample(), &flows, &all_records()).unwrap();
        }
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.capacity(), 4096);
    }
}
