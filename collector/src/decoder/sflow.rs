//! sFlow v5 normalisation: flow samples into [`FlowRecord`]s, counter samples into
//! [`InterfaceCounters`], port names into the scope's interfaces.
//!
//! Owns: the mapping from sFlow's fields to the record (documented in the README's sFlow
//! section), per-agent state in the scope of (agent address, sub-agent id, [`VERSION_SFLOW`]):
//! the datagram sequence (loss in datagrams, counted in `sequence_lost`), each data source's
//! sample sequence, drops and sample pool, and each interface's last counters.
//! Must never: allocate per sample (state is created once per data source and interface, and
//! bounded), or panic on any input.
//!
//! One flow sample is one record with `packets = 1` and the sample's rate. `bytes` is the L3
//! length: the IP header's length in the raw packet header, else the sampled IPv4/IPv6 record's
//! length, else the frame length minus the stripped bytes minus the link-layer headers found.
//! Where the raw header and a sampled IP record both describe the packet, the header wins.
//!
//! The flow sample most switches send (a raw Ethernet/IPv4/TCP-or-UDP header and at most an
//! extended switch record) is read in one pass (`Samples::next_common`) and written straight into
//! the record; every other sample goes through the general record walk. Both give the same
//! records and counters (`tests/sflow_common_path.rs` decodes the same datagrams both ways).

use std::net::{IpAddr, Ipv6Addr};

use super::{Counters, Decoder, Map, SkippedFormat, Summary, padding_or, scope_in};
use crate::decoder::{InterfaceInfo, RecordSink, learn_interface};
use crate::error::DecodeError;
use crate::record::{FlowRecord, InterfaceCounters, SamplingSource, VERSION_SFLOW, flags, to_v6};
use crate::wire::packet;
use crate::wire::sflow::{
    CommonFlowSample, CounterSample, Datagram, ExtendedGateway, ExtendedRouter, ExtendedSwitch,
    FlowSample, IfCounters, Interface, RawHeader, Sample, SampledIp, port_name,
};

/// Data sources and interfaces tracked per (agent, sub-agent); past that, no loss or delta state.
const MAX_SOURCES: usize = 4096;

/// Slots of the cache in front of the data-source table.
const RECENT: usize = 16;

/// What one scope remembers of an sFlow agent.
#[derive(Debug, Default)]
pub(super) struct State {
    /// Each data source's place in `source_list` (sources are never removed).
    sources: Map<(u32, u32), u32>,
    source_list: Vec<Source>,
    /// A direct-mapped cache in front of `sources`, by the source's index: a place in
    /// `source_list`, good when the source there has the key looked for (so a stale or unset
    /// slot is only a miss). A flow sample then costs a compare, not a hash lookup.
    recent: [u32; RECENT],
    interfaces: Map<u32, LastCounters>,
}

#[derive(Debug, Clone, Copy)]
struct Source {
    /// (source id type, source id index).
    key: (u32, u32),
    sequence: u32,
    drops: u32,
    pool: u32,
    /// Octets estimated from this data source's flow samples since its interface's last counter
    /// sample (frame length × sampling rate), and how many samples: the sampling accuracy
    /// check's estimate, taken by the next counter sample of the interface.
    sampled_octets: u64,
    samples: u32,
}

#[derive(Debug, Clone, Copy)]
struct LastCounters {
    at: i64,
    uptime_ms: u32,
    sequence: u32,
    c: IfCounters,
}

/// The IPFIX forwardingStatus (IE 89) for an sFlow discard reason: class "dropped" (0b10 in the
/// top two bits) with the closest RFC 7270 reason code.
pub(super) fn forwarding_status(reason: u32) -> u8 {
    match reason {
        // Network / host unreachable, and the other no-route codes.
        0 | 1 | 6 | 7 | 11 | 12 => 131,
        // Communication administratively prohibited, and 258 ACL.
        9 | 10 | 13 | 258 => 129,
        // Fragmentation needed and DF set; 262 packet too big.
        4 | 262 => 133,
        257 => 137,
        260 => 139,
        261 => 138,
        _ => 128,
    }
}

impl Decoder {
    /// Decode one sFlow datagram. Returns the exporter identity the stats go under (the agent
    /// address; the UDP source when the header is unreadable).
    pub(super) fn decode_sflow<S: RecordSink + ?Sized>(
        &mut self,
        from: IpAddr,
        data: &[u8],
        now: i64,
        out: &mut S,
        sum: &mut Summary,
        c: &mut Counters,
    ) -> (Ipv6Addr, Result<(), DecodeError>) {
        let source = to_v6(from);
        sum.version = VERSION_SFLOW;
        let d = match Datagram::parse(data) {
            Ok(d) => d,
            Err(e) => return (source, Err(e)),
        };
        let agent = to_v6(d.agent);
        c.udp_source = Some(source);
        self.tick += 1;
        let Decoder {
            settings,
            scopes,
            budget,
            tick,
            ..
        } = self;
        let scope = scope_in(
            scopes,
            budget,
            settings,
            *tick,
            (agent, d.sub_agent, VERSION_SFLOW),
        );
        let (lost, reset) = scope.seq.check(d.sequence, 1, 1);
        c.sequence_lost += lost;
        c.sequence_resets += u64::from(reset);
        let override_rate = scope.override_rate;
        let state = scope.sflow.get_or_insert_with(Box::default);
        let base = FlowRecord {
            time_received: now,
            exporter: agent,
            observation_domain: d.sub_agent,
            version: VERSION_SFLOW,
            packets: 1,
            ..FlowRecord::default()
        };
        let common = !self.sflow_general_only;
        // One record for the whole datagram, filled in place for each sample (a FlowRecord is a
        // few hundred bytes: building it by value and moving it out cost more than parsing the
        // sample). The general walk starts each sample from `base`; the common path writes the
        // same fields for every sample, so it starts from `base` only after the general walk.
        let mut rec = base;
        let mut rec_is_common = true;
        let mut samples = d.samples();
        loop {
            // The common shape in one pass; anything else through the general walk.
            if common && let Some(cf) = samples.next_common() {
                let f = &cf.sample;
                let source = state.source(f.source_id_type, f.source_id_index, f.counts(), c);
                if !rec_is_common {
                    rec = base;
                    rec_is_common = true;
                }
                common_record(&mut rec, &base, &cf, override_rate);
                emit(&rec, source, out, sum, c);
                continue;
            }
            let Some(s) = samples.next() else { break };
            match s {
                Ok(Sample::Flow(f)) => {
                    let source = state.source(f.source_id_type, f.source_id_index, f.counts(), c);
                    rec = base;
                    rec_is_common = false;
                    match flow_record(&mut rec, &f, override_rate, c) {
                        Ok(()) => emit(&rec, source, out, sum, c),
                        Err(e) => sum.err(e),
                    }
                }
                Ok(Sample::Counters(cs)) => {
                    if let Err(e) = counter_sample(
                        state,
                        &mut scope.interfaces,
                        &mut scope.interfaces_version,
                        agent,
                        (d.sub_agent, d.uptime_ms),
                        now,
                        &cs,
                        out,
                        c,
                    ) {
                        sum.err(e);
                    }
                }
                Ok(Sample::Other { enterprise, format }) => c.skip(SkippedFormat {
                    kind: 0,
                    enterprise,
                    format,
                }),
                Err(e) => sum.err(e),
            }
        }
        padding_or(
            samples.rest(),
            DecodeError::BadLength("bytes after the announced sFlow samples"),
            sum,
        );
        (agent, Ok(()))
    }
}

/// Hand a flow sample's record on, with what the data source and the datagram keep of it.
#[inline]
fn emit<S: RecordSink + ?Sized>(
    rec: &FlowRecord,
    source: Option<&mut Source>,
    out: &mut S,
    sum: &mut Summary,
    c: &mut Counters,
) {
    if let Some(source) = source {
        source.sampled(rec);
    }
    if rec.sampling_source == SamplingSource::Unknown {
        c.sampling_unknown += 1;
    }
    c.last_sampling = Some((rec.sampling_rate, rec.sampling_source));
    out.push(rec);
    sum.records += 1;
}

impl Source {
    /// Add a flow sample to the estimate of this data source's traffic (its frame length, else
    /// its L3 length, times its rate).
    #[inline]
    fn sampled(&mut self, rec: &FlowRecord) {
        let octets = rec.frame_bytes.map_or(rec.bytes, u64::from);
        self.sampled_octets = self
            .sampled_octets
            .saturating_add(octets.saturating_mul(u64::from(rec.sampling_rate)));
        self.samples = self.samples.saturating_add(1);
    }
}

impl State {
    /// Sequence, drops and pool (`counts`) of a flow sample's data source (type and index);
    /// the source's state, unless the table is full.
    #[inline(always)]
    fn source(
        &mut self,
        source_id_type: u32,
        source_id_index: u32,
        [sequence, drops, pool]: [u32; 3],
        c: &mut Counters,
    ) -> Option<&mut Source> {
        let key = (source_id_type, source_id_index);
        let slot = (source_id_index ^ source_id_type) as usize % RECENT;
        let cached = self.recent[slot] as usize;
        let (at, new) = if self.source_list.get(cached).is_some_and(|s| s.key == key) {
            (cached, false)
        } else {
            self.place(key, slot, [sequence, drops, pool])?
        };
        let prev = self.source_list.get_mut(at)?;
        if new {
            return Some(prev);
        }
        let gap = sequence.wrapping_sub(prev.sequence);
        if (1..1 << 31).contains(&gap) {
            c.samples_lost += u64::from(gap - 1);
            c.agent_drops += u64::from(drops.wrapping_sub(prev.drops));
            c.sample_pool += u64::from(pool.wrapping_sub(prev.pool));
        } else if gap != 0 {
            // Backwards: the agent restarted or the datagrams were reordered.
            c.sequence_resets += 1;
        }
        prev.sequence = sequence;
        prev.drops = drops;
        prev.pool = pool;
        Some(prev)
    }

    /// The place of a data source the cache did not have, now cached in `slot`, and whether it
    /// is new (added with `counts`); `None` when it is new and the table is full.
    #[cold]
    fn place(
        &mut self,
        key: (u32, u32),
        slot: usize,
        [sequence, drops, pool]: [u32; 3],
    ) -> Option<(usize, bool)> {
        let room = self.sources.len() < MAX_SOURCES;
        let (at, new) = match self.sources.entry(key) {
            std::collections::hash_map::Entry::Occupied(e) => (*e.get() as usize, false),
            std::collections::hash_map::Entry::Vacant(e) if room => {
                let at = self.source_list.len();
                e.insert(at as u32);
                self.source_list.push(Source {
                    key,
                    sequence,
                    drops,
                    pool,
                    sampled_octets: 0,
                    samples: 0,
                });
                (at, true)
            }
            std::collections::hash_map::Entry::Vacant(_) => return None,
        };
        self.recent[slot] = at as u32;
        Some((at, new))
    }

    /// Take the sampling accuracy check's estimate of an interface (its data source of type 0)
    /// since its last counter sample, and start the next interval.
    fn take_sampled(&mut self, ifindex: u32) -> (u64, u32) {
        let at = self.sources.get(&(0, ifindex)).map(|&at| at as usize);
        at.and_then(|at| self.source_list.get_mut(at))
            .map_or((0, 0), |s| {
                (
                    std::mem::take(&mut s.sampled_octets),
                    std::mem::take(&mut s.samples),
                )
            })
    }
}

#[inline]
fn interface(rec: &mut FlowRecord, i: Interface, output: bool) {
    let v = match i {
        Interface::Index(v) => v,
        Interface::Internal => {
            rec.flags |= flags::INTERNAL_INTERFACE;
            0
        }
        Interface::Discarded(reason) => {
            rec.forwarding_status = Some(forwarding_status(reason));
            rec.discard_reason = Some(reason.min(u32::from(u16::MAX)) as u16);
            0
        }
        Interface::Multiple(_) => {
            rec.flags |= flags::MULTIPLE_INTERFACES;
            0
        }
        Interface::Reserved { .. } => 0,
    };
    if output {
        rec.out_if = Some(v);
    } else {
        rec.in_if = Some(v);
    }
}

/// Fill `rec` (set to the datagram's base record) with what a flow sample's fixed part says:
/// the rate and its source, the data source, the interfaces.
#[inline(always)]
fn sample_fields(rec: &mut FlowRecord, f: &FlowSample<'_>, override_rate: Option<u32>) {
    (rec.sampling_rate, rec.sampling_source) = match (override_rate, f.sampling_rate) {
        (Some(r), _) => (r, SamplingSource::Override),
        (None, 0) => (1, SamplingSource::Unknown),
        (None, r) => (r, SamplingSource::Record),
    };
    if rec.sampling_source == SamplingSource::Unknown {
        rec.flags |= flags::SAMPLING_UNKNOWN;
    }
    // The data source: its ifIndex for the usual type 0, else the compact source id word (type
    // in the top byte).
    rec.sampler_id = Some(if f.source_id_type == 0 {
        f.source_id_index
    } else {
        f.source_id_type << 24 | (f.source_id_index & 0x00FF_FFFF)
    });
    interface(rec, f.input, false);
    interface(rec, f.output, true);
}

/// Fill `rec` from a flow sample of the common shape: what [`flow_record`] writes for the same
/// sample from `base`, without walking its records again. `rec` is `base` or the record of the
/// previous common sample: every field a common sample sets is written here, and the three that
/// [`sample_fields`] sets only for some samples are set back to `base` first.
#[inline(always)]
fn common_record(
    rec: &mut FlowRecord,
    base: &FlowRecord,
    cf: &CommonFlowSample<'_>,
    override_rate: Option<u32>,
) {
    rec.flags = base.flags;
    rec.forwarding_status = base.forwarding_status;
    rec.discard_reason = base.discard_reason;
    sample_fields(rec, &cf.sample, override_rate);
    let p = &cf.packet;
    rec.frame_bytes = Some(cf.frame_length);
    rec.src_addr = Some(p.src.to_ipv6_mapped());
    rec.dst_addr = Some(p.dst.to_ipv6_mapped());
    rec.protocol = Some(p.protocol);
    rec.tos = Some(p.tos);
    rec.src_port = Some(p.src_port);
    rec.dst_port = Some(p.dst_port);
    rec.tcp_flags = p.tcp_flags;
    // The switch's VLAN when it is one, else the header's tag (as in `flow_record`).
    rec.vlan = match cf.switch {
        Some(sw) if (1..=4094).contains(&sw.src_vlan) => Some(sw.src_vlan as u16),
        _ => p.vlan,
    };
    rec.bytes = u64::from(p.ip_len);
}

/// Fill `rec` (set to the datagram's base record) from one flow sample.
fn flow_record(
    rec: &mut FlowRecord,
    f: &FlowSample<'_>,
    override_rate: Option<u32>,
    c: &mut Counters,
) -> Result<(), DecodeError> {
    sample_fields(rec, f, override_rate);
    let mut from_header = false;
    let mut l3_bytes: Option<u32> = None;
    let mut sampled_len: Option<u32> = None;
    let mut switch_vlan: Option<u16> = None;
    let mut router_hop = false;
    for r in f.records() {
        let r = r?;
        if r.enterprise != 0 {
            c.skip(SkippedFormat {
                kind: 1,
                enterprise: r.enterprise,
                format: r.format,
            });
            continue;
        }
        match r.format {
            1 => {
                let h = RawHeader::parse(r.data)?;
                let p = packet::parse(h.protocol, h.header);
                rec.frame_bytes = Some(h.frame_length);
                from_header = p.ip_version != 0;
                if from_header {
                    rec.src_addr = p.src;
                    rec.dst_addr = p.dst;
                    rec.protocol = p.protocol;
                    rec.tos = p.tos;
                    rec.src_port = p.src_port;
                    rec.dst_port = p.dst_port;
                    rec.tcp_flags = p.tcp_flags;
                    rec.icmp_type = p.icmp_type;
                    rec.icmp_code = p.icmp_code;
                    l3_bytes = p.ip_len;
                }
                if rec.vlan.is_none() {
                    rec.vlan = p.vlan;
                }
                if l3_bytes.is_none() && h.protocol == packet::proto::ETHERNET {
                    l3_bytes = Some(
                        h.frame_length
                            .saturating_sub(h.stripped)
                            .saturating_sub(p.l2_len.max(14)),
                    );
                }
            }
            3 | 4 => {
                let ip = SampledIp::parse(r.data, r.format == 4)?;
                sampled_len = Some(ip.length);
                if !from_header {
                    rec.src_addr = Some(to_v6(ip.src));
                    rec.dst_addr = Some(to_v6(ip.dst));
                    rec.protocol = Some(ip.protocol as u8);
                    rec.tos = Some(ip.tos as u8);
                    if ip.protocol == 1 || ip.protocol == 58 {
                        // The record puts ICMP type and code in the port fields.
                        rec.icmp_type = Some(ip.src_port as u8);
                        rec.icmp_code = Some(ip.dst_port as u8);
                    } else {
                        rec.src_port = Some(ip.src_port as u16);
                        rec.dst_port = Some(ip.dst_port as u16);
                    }
                    if ip.protocol == 6 {
                        rec.tcp_flags = Some(ip.tcp_flags as u16 & 0x01ff);
                    }
                }
            }
            1001 => {
                let sw = ExtendedSwitch::parse(r.data)?;
                // 0 is "none" and anything above 4094 is not a VLAN id (agents send all ones
                // for "unknown"): the header's tag stands then.
                if (1..=4094).contains(&sw.src_vlan) {
                    switch_vlan = Some(sw.src_vlan as u16);
                }
            }
            1002 => {
                let rt = ExtendedRouter::parse(r.data)?;
                rec.next_hop = rt.next_hop.map(to_v6);
                router_hop = rt.next_hop.is_some();
                rec.src_mask = Some(rt.src_mask.min(128) as u8);
                rec.dst_mask = Some(rt.dst_mask.min(128) as u8);
            }
            1003 => {
                let gw = ExtendedGateway::parse(r.data)?;
                rec.src_as = Some(gw.src_as);
                rec.dst_as = Some(gw.dst_as().unwrap_or(0));
                if !router_hop && let Some(h) = gw.next_hop {
                    rec.next_hop = Some(to_v6(h));
                }
            }
            format => c.skip(SkippedFormat {
                kind: 1,
                enterprise: 0,
                format,
            }),
        }
    }
    if switch_vlan.is_some() {
        rec.vlan = switch_vlan;
    }
    // L3 length: the IP header's, else the sampled IP record's, else frame minus L2.
    rec.bytes = u64::from(match (from_header, l3_bytes, sampled_len) {
        (true, Some(n), _) => n,
        (_, _, Some(n)) => n,
        (_, Some(n), None) => n,
        _ => 0,
    });
    Ok(())
}

/// A counter of all ones is "unknown" (sFlow v5 §5, counters).
fn known32(v: u32) -> u32 {
    if v == u32::MAX { 0 } else { v }
}

fn delta32(now: u32, prev: u32) -> u64 {
    u64::from(known32(now).wrapping_sub(known32(prev)))
}

/// A 64-bit octet counter's growth, or `None` on a reset. Below 2^32 a decrease is a 32-bit
/// counter that wrapped.
fn delta64(now: u64, prev: u64) -> Option<u64> {
    if now == u64::MAX || prev == u64::MAX {
        return Some(0);
    }
    if now >= prev {
        Some(now - prev)
    } else if prev <= u64::from(u32::MAX) {
        Some(now + (1 << 32) - prev)
    } else {
        None
    }
}

#[allow(clippy::too_many_arguments)]
fn counter_sample<S: RecordSink + ?Sized>(
    state: &mut State,
    interfaces: &mut Vec<InterfaceInfo>,
    interfaces_version: &mut u64,
    agent: Ipv6Addr,
    (sub_agent, uptime_ms): (u32, u32),
    now: i64,
    cs: &CounterSample<'_>,
    out: &mut S,
    c: &mut Counters,
) -> Result<(), DecodeError> {
    for r in cs.records() {
        let r = r?;
        match (r.enterprise, r.format) {
            (0, 1) => {
                let k = IfCounters::parse(r.data)?;
                let mut row = InterfaceCounters {
                    time_received: now,
                    exporter: agent,
                    sub_agent,
                    ifindex: k.index,
                    if_type: k.if_type,
                    speed: k.speed,
                    direction: k.direction.min(255) as u8,
                    status: (k.status & 3) as u8,
                    in_octets_total: k.in_octets,
                    out_octets_total: k.out_octets,
                    ..InterfaceCounters::default()
                };
                // Whatever the interval, the estimate restarts with this sample.
                let (sampled_octets, samples) = state.take_sampled(k.index);
                let prev = state.interfaces.get(&k.index).copied();
                if let Some(p) = prev {
                    let forward = cs.sequence.wrapping_sub(p.sequence);
                    let octets = (
                        delta64(k.in_octets, p.c.in_octets),
                        delta64(k.out_octets, p.c.out_octets),
                    );
                    if let (true, Some(i), Some(o)) =
                        ((1..1 << 31).contains(&forward), octets.0, octets.1)
                    {
                        // The agent's clock (its uptime) when it moved forward; the receive
                        // times otherwise (the agent restarted, or a datagram came late).
                        let by_agent = uptime_ms.wrapping_sub(p.uptime_ms);
                        row.interval_ms = if (1..1 << 31).contains(&by_agent) {
                            by_agent
                        } else {
                            u32::try_from(now.saturating_sub(p.at).max(0)).unwrap_or(u32::MAX)
                        };
                        row.in_octets = i;
                        row.out_octets = o;
                        row.in_packets = delta32(k.in_ucast, p.c.in_ucast)
                            + delta32(k.in_multicast, p.c.in_multicast)
                            + delta32(k.in_broadcast, p.c.in_broadcast);
                        row.out_packets = delta32(k.out_ucast, p.c.out_ucast)
                            + delta32(k.out_multicast, p.c.out_multicast)
                            + delta32(k.out_broadcast, p.c.out_broadcast);
                        row.in_errors = delta32(k.in_errors, p.c.in_errors);
                        row.out_errors = delta32(k.out_errors, p.c.out_errors);
                        row.in_discards = delta32(k.in_discards, p.c.in_discards);
                        row.out_discards = delta32(k.out_discards, p.c.out_discards);
                        row.sampled_octets = sampled_octets;
                        row.flow_samples = samples;
                        if samples > 0 {
                            c.accuracy_sampled_octets += sampled_octets;
                            c.accuracy_counter_octets += i;
                        }
                    }
                }
                let last = LastCounters {
                    at: now,
                    uptime_ms,
                    sequence: cs.sequence,
                    c: k,
                };
                if prev.is_some() || state.interfaces.len() < MAX_SOURCES {
                    state.interfaces.insert(k.index, last);
                }
                out.counters(&row);
            }
            (0, 1005) => {
                let name = port_name(r.data)?;
                learn_interface(
                    interfaces,
                    interfaces_version,
                    cs.source_id_index,
                    name,
                    b"",
                );
            }
            // Ethernet counters are read (so a malformed one is an error) but not stored.
            (0, 2) => {
                crate::wire::sflow::EthCounters::parse(r.data)?;
            }
            (enterprise, format) => c.skip(SkippedFormat {
                kind: 2,
                enterprise,
                format,
            }),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_discard_reasons_to_ipfix_forwarding_status() {
        assert_eq!(forwarding_status(258) >> 6, 0b10);
        assert_eq!(forwarding_status(258), 129, "ACL deny");
        assert_eq!(forwarding_status(257), 137, "TTL");
        assert_eq!(forwarding_status(0), 131, "net unreachable");
        assert_eq!(forwarding_status(999), 128, "unknown");
    }

    #[test]
    fn counter_deltas_handle_wraps_resets_and_unknowns() {
        assert_eq!(delta64(150, 100), Some(50));
        assert_eq!(
            delta64(10, u64::from(u32::MAX) - 9),
            Some(20),
            "32-bit octets wrapped"
        );
        assert_eq!(
            delta64(10, 1 << 40),
            None,
            "a 64-bit counter going down is a reset"
        );
        assert_eq!(delta32(5, u32::MAX), 5, "unknown counts as 0");
        assert_eq!(delta32(3, 0xFFFF_FFFE), 5, "wrapped");
    }

    /// A datagram from agent 192.0.2.7 with one counter sample of ifIndex `index` holding a port
    /// name record (1005).
    fn port_name_datagram(seq: u32, index: u32, name: &[u8]) -> Vec<u8> {
        let mut rec = (name.len() as u32).to_be_bytes().to_vec();
        rec.extend_from_slice(name);
        rec.resize(rec.len().next_multiple_of(4), 0);
        let mut sample = Vec::new();
        for v in [seq, index, 1, 1005, rec.len() as u32] {
            sample.extend_from_slice(&v.to_be_bytes());
        }
        sample.extend_from_slice(&rec);
        let mut d = Vec::new();
        for v in [
            5u32,
            1,
            u32::from_be_bytes([192, 0, 2, 7]),
            0,
            seq,
            1000,
            1,
            2,
        ] {
            d.extend_from_slice(&v.to_be_bytes());
        }
        d.extend_from_slice(&(sample.len() as u32).to_be_bytes());
        d.extend_from_slice(&sample);
        d
    }

    #[test]
    fn port_names_become_the_agents_interface_names() {
        let mut dec = Decoder::new(crate::DecoderSettings::default());
        let from: IpAddr = "198.51.100.1".parse().unwrap();
        let mut out: Vec<FlowRecord> = Vec::new();
        dec.decode(from, &port_name_datagram(1, 3, b"xe-0/0/3"), 0, &mut out)
            .unwrap();
        let v1 = dec.interfaces_version();
        // The same name again changes nothing; a new name does.
        dec.decode(from, &port_name_datagram(2, 3, b"xe-0/0/3"), 0, &mut out)
            .unwrap();
        assert_eq!(dec.interfaces_version(), v1);
        dec.decode(from, &port_name_datagram(3, 3, b"uplink"), 0, &mut out)
            .unwrap();
        assert!(dec.interfaces_version() > v1);
        let scopes = dec.scopes();
        let s = scopes
            .iter()
            .find(|s| s.version == VERSION_SFLOW)
            .expect("the agent's scope");
        assert_eq!(s.exporter, to_v6("192.0.2.7".parse().unwrap()), "the agent");
        assert_eq!(s.interfaces.len(), 1);
        assert_eq!(
            (s.interfaces[0].index, s.interfaces[0].name.as_str()),
            (3, "uplink")
        );
        assert!(out.is_empty());
    }
}
