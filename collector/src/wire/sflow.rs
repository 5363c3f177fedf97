//! Zero-copy views over sFlow version 5 datagrams (sflow.org, "sFlow Version 5", July 2004).
//!
//! Owns: the datagram header, the sample and record framing (every sample and every record is
//! taken with [`Reader::sub`] by its own length), and typed views of the formats sluice uses:
//! flow samples (format 1) and expanded flow samples (3), counter samples (2) and expanded counter
//! samples (4); flow records raw packet header (1), sampled IPv4 (3) and IPv6 (4), extended switch
//! (1001), router (1002) and gateway (1003); counter records generic interface (1), Ethernet (2)
//! and port name (1005).
//! Must never: allocate, trust a count before checking it against the bytes left, or panic.
//!
//! The spec's structures are XDR (RFC 4506): big-endian 32-bit words, opaque data and strings
//! padded to a multiple of 4 bytes. A count read from the wire is checked against the smallest
//! size its items can have (8 bytes for a sample or a record header, 4 for an AS number) before
//! it is used; a record whose length is shorter than its format needs is rejected with
//! `Truncated`, and bytes a record has beyond its format (a later revision's additions) are
//! ignored. Unknown or enterprise formats are returned as [`Sample::Other`] / [`Record`] tags so
//! the caller can count and skip them.
//!
//! [`Samples::next_common`] reads the flow sample switches send most (a raw Ethernet header of
//! IPv4 TCP or UDP, and at most an extended switch record) in one pass, as a [`CommonFlowSample`];
//! it declines, consuming nothing, anything else, which the general walk then reads.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::DecodeError;
use crate::wire::{Reader, packet};

/// The datagram version this module reads.
pub const VERSION: u32 = 5;
/// The smallest datagram: version, IPv4 agent, sub-agent, sequence, uptime, sample count.
pub const MIN_LEN: usize = 28;
/// The interface value that means "internal to the agent" (sFlow v5 §5, `interface`).
pub const INTERNAL_INTERFACE: u32 = 0x3FFF_FFFF;

/// True when `data` starts like an sFlow v5 datagram (a 32-bit version 5, so the first two bytes
/// are zero, which no NetFlow or IPFIX header has).
#[inline]
pub fn looks_like_sflow(data: &[u8]) -> bool {
    data.len() >= 4 && data[..4] == [0, 0, 0, 5]
}

/// Read an sFlow `address` (type 1: IPv4, 2: IPv6, 0: unknown with no bytes).
fn address(r: &mut Reader<'_>) -> Result<Option<IpAddr>, DecodeError> {
    match r
        .u32()
        .ok_or(DecodeError::Truncated("sFlow address type"))?
    {
        0 => Ok(None),
        1 => r
            .take(4)
            .map(|b| Some(ip_bytes(b)))
            .ok_or(DecodeError::Truncated("sFlow IPv4 address")),
        2 => r
            .take(16)
            .map(|b| Some(ip_bytes(b)))
            .ok_or(DecodeError::Truncated("sFlow IPv6 address")),
        _ => Err(DecodeError::BadLength("sFlow address type not 0, 1 or 2")),
    }
}

fn u32r(r: &mut Reader<'_>, what: &'static str) -> Result<u32, DecodeError> {
    r.u32().ok_or(DecodeError::Truncated(what))
}

/// Read `N` big-endian words with one length check (the fixed part of a structure), or `None`
/// (consuming nothing) when fewer bytes remain.
#[inline(always)]
fn words<const N: usize>(r: &mut Reader<'_>) -> Option<[u32; N]> {
    let (b, _) = r.take(4 * N)?.as_chunks::<4>();
    let mut out = [0u32; N];
    for (w, c) in out.iter_mut().zip(b) {
        *w = u32::from_be_bytes(*c);
    }
    Some(out)
}

/// Check a count read from the wire against the bytes left, each item taking at least
/// `min_size` bytes, before anything is read for it.
#[inline]
fn check_count(
    n: u32,
    min_size: u64,
    r: &Reader<'_>,
    what: &'static str,
) -> Result<(), DecodeError> {
    if u64::from(n) * min_size > r.remaining() as u64 {
        return Err(DecodeError::BadCount(what));
    }
    Ok(())
}

/// Big-endian 32-bit words of a byte run whose length is a multiple of 4.
fn be_words(b: &[u8]) -> impl Iterator<Item = u32> + '_ {
    b.chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
}

/// The error for a tag-and-length pair cut short: which of the two is missing.
fn tag_len_error(r: &Reader<'_>, tag: &'static str, len: &'static str) -> DecodeError {
    DecodeError::Truncated(if r.remaining() >= 4 { len } else { tag })
}

fn u64r(r: &mut Reader<'_>, what: &'static str) -> Result<u64, DecodeError> {
    let hi = u32r(r, what)?;
    let lo = u32r(r, what)?;
    Ok(u64::from(hi) << 32 | u64::from(lo))
}

/// Take XDR opaque data of `len` bytes and its padding to 4 bytes (the padding may be missing at
/// the very end of a record, which some agents do).
fn opaque<'a>(r: &mut Reader<'a>, len: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
    let data = r.take(len).ok_or(DecodeError::Truncated(what))?;
    let pad = (4 - len % 4) % 4;
    let _ = r.take(pad.min(r.remaining()));
    Ok(data)
}

/// The datagram header.
#[derive(Clone, Copy, Debug)]
pub struct Datagram<'a> {
    /// The agent's address (the exporter identity, with `sub_agent`).
    pub agent: IpAddr,
    /// Sub-agent id: one agent may speak for several sub-agents, each with its own sequence.
    pub sub_agent: u32,
    /// Datagram sequence number, per (agent, sub-agent).
    pub sequence: u32,
    /// Agent uptime, milliseconds.
    pub uptime_ms: u32,
    /// Samples the header announces.
    pub sample_count: u32,
    body: &'a [u8],
}

impl<'a> Datagram<'a> {
    /// Read the header. The sample count is checked against the bytes left (a sample has at least
    /// a tag and a length, 8 bytes).
    pub fn parse(buf: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(buf);
        let version = u32r(&mut r, "sFlow version")?;
        if version != VERSION {
            return Err(DecodeError::UnsupportedVersion(version.min(0xffff) as u16));
        }
        let agent = address(&mut r)?.ok_or(DecodeError::BadLength("sFlow agent address type 0"))?;
        let sub_agent = u32r(&mut r, "sFlow sub-agent id")?;
        let sequence = u32r(&mut r, "sFlow sequence")?;
        let uptime_ms = u32r(&mut r, "sFlow uptime")?;
        let sample_count = u32r(&mut r, "sFlow sample count")?;
        // A sample is at least its tag and its length.
        check_count(
            sample_count,
            8,
            &r,
            "sFlow sample count larger than the datagram",
        )?;
        Ok(Datagram {
            agent,
            sub_agent,
            sequence,
            uptime_ms,
            sample_count,
            body: r.rest(),
        })
    }

    /// The samples, in order. Bytes after the announced samples are left to the caller
    /// ([`Samples::rest`]).
    pub fn samples(&self) -> Samples<'a> {
        Samples {
            r: Reader::new(self.body),
            left: self.sample_count,
        }
    }
}

/// Iterates the samples of a datagram; stops after the first error.
#[derive(Clone, Debug)]
pub struct Samples<'a> {
    r: Reader<'a>,
    left: u32,
}

impl<'a> Samples<'a> {
    /// Bytes not yet read (after the last sample: what follows the announced samples).
    pub fn rest(&self) -> &'a [u8] {
        self.r.rest()
    }
}

impl<'a> Samples<'a> {
    /// The next sample when it has the common shape ([`CommonFlowSample`]), consumed; `None`,
    /// consuming nothing, for any other sample, which [`Iterator::next`] then reads. For a common
    /// sample both give the same reading: this is a shortcut, not a second set of rules.
    #[inline(always)]
    pub fn next_common(&mut self) -> Option<CommonFlowSample<'a>> {
        if self.left == 0 {
            return None;
        }
        let mut r = self.r;
        let [t, len] = words(&mut r)?;
        // Enterprise 0, format 1 or 3.
        if t != 1 && t != 3 {
            return None;
        }
        let mut s = r.sub(len as usize)?;
        let sample = FlowSample::parse(&mut s, t == 3).ok()?;
        if !matches!(sample.record_count, 1 | 2) {
            return None;
        }
        let mut records = Reader::new(sample.records);
        let mut header: Option<(RawHeader<'a>, packet::Common)> = None;
        let mut switch = None;
        for _ in 0..sample.record_count {
            let [t, len] = words(&mut records)?;
            let data = records.take(len as usize)?;
            match t {
                1 if header.is_none() => {
                    let h = RawHeader::parse(data).ok()?;
                    if h.protocol != packet::proto::ETHERNET {
                        return None;
                    }
                    header = Some((h, packet::common(h.header)?));
                }
                1001 if switch.is_none() => switch = Some(ExtendedSwitch::parse(data).ok()?),
                _ => return None,
            }
        }
        let (header, packet) = header?;
        self.r = r;
        self.left -= 1;
        Some(CommonFlowSample {
            sample,
            frame_length: header.frame_length,
            packet,
            switch,
        })
    }
}

/// A flow sample of the shape switches send most, read by [`Samples::next_common`] in one pass:
/// one raw packet header record of an Ethernet frame that [`packet::common`] reads (at most one
/// 802.1Q tag, IPv4 without options, TCP or UDP) and at most one extended switch record, in
/// either order, both whole and of enterprise 0, and nothing else.
#[derive(Clone, Copy, Debug)]
pub struct CommonFlowSample<'a> {
    /// The sample's fixed part.
    pub sample: FlowSample<'a>,
    /// The raw header record's frame length.
    pub frame_length: u32,
    /// What the raw header holds.
    pub packet: packet::Common,
    /// The extended switch record, when there is one.
    pub switch: Option<ExtendedSwitch>,
}

impl<'a> Iterator for Samples<'a> {
    type Item = Result<Sample<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let res = next_sample(&mut self.r);
        if res.is_err() {
            self.left = 0;
        }
        Some(res)
    }
}

fn tag(t: u32) -> (u32, u32) {
    (t >> 12, t & 0xfff)
}

#[inline]
fn next_sample<'a>(r: &mut Reader<'a>) -> Result<Sample<'a>, DecodeError> {
    let [t, len] =
        words(r).ok_or_else(|| tag_len_error(r, "sFlow sample tag", "sFlow sample length"))?;
    let (enterprise, format) = tag(t);
    let mut s = r.sub(len as usize).ok_or(DecodeError::Truncated(
        "sFlow sample longer than the datagram",
    ))?;
    if enterprise != 0 {
        return Ok(Sample::Other { enterprise, format });
    }
    match format {
        1 | 3 => FlowSample::parse(&mut s, format == 3).map(Sample::Flow),
        2 | 4 => CounterSample::parse(&mut s, format == 4).map(Sample::Counters),
        _ => Ok(Sample::Other { enterprise, format }),
    }
}

/// One sample.
#[derive(Clone, Copy, Debug)]
pub enum Sample<'a> {
    /// A flow sample (format 1) or expanded flow sample (format 3).
    Flow(FlowSample<'a>),
    /// A counter sample (format 2) or expanded counter sample (format 4).
    Counters(CounterSample<'a>),
    /// A format this module does not read, skipped by its length.
    Other {
        /// Enterprise (0 for sFlow.org's standard formats).
        enterprise: u32,
        /// Format number.
        format: u32,
    },
}

/// Where a sampled packet came in or went out (sFlow v5 `interface`, in the compact form a format
/// in the top 2 bits and a 30-bit value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interface {
    /// Format 0: an ifIndex (0 when unknown).
    Index(u32),
    /// Format 0 with value 0x3FFFFFFF: the agent itself (a packet to or from the device).
    Internal,
    /// Format 1: the packet was discarded; the value is the reason code (ICMP unreachable codes
    /// 0–255, then 256 unknown, 257 TTL exceeded, 258 ACL, 259 no buffer space, 260 RED, 261
    /// traffic shaping or rate limiting, 262 packet too big).
    Discarded(u32),
    /// Format 2: the packet went out of several interfaces; the value is their number (0 when
    /// unknown).
    Multiple(u32),
    /// Any other format: 3, reserved in both forms, or any larger number the expanded form's
    /// 32-bit format word can carry. Kept whole, so the format is not lost.
    Reserved {
        /// The interface format.
        format: u32,
        /// The value.
        value: u32,
    },
}

impl Interface {
    #[inline]
    fn from_parts(format: u32, value: u32) -> Interface {
        match format {
            0 if value == INTERNAL_INTERFACE => Interface::Internal,
            0 => Interface::Index(value),
            1 => Interface::Discarded(value),
            2 => Interface::Multiple(value),
            format => Interface::Reserved { format, value },
        }
    }

    /// Decode the compact form (flow sample format 1).
    #[inline]
    pub fn compact(word: u32) -> Interface {
        Interface::from_parts(word >> 30, word & 0x3FFF_FFFF)
    }
}

/// A flow sample, compact (format 1) or expanded (format 3).
#[derive(Clone, Copy, Debug)]
pub struct FlowSample<'a> {
    /// True for the expanded form.
    pub expanded: bool,
    /// Sample sequence number, per data source.
    pub sequence: u32,
    /// Data source type (0 ifIndex, 1 smonVlanDataSource, 2 entPhysicalEntry).
    pub source_id_type: u32,
    /// Data source index.
    pub source_id_index: u32,
    /// 1 in N packets sampled.
    pub sampling_rate: u32,
    /// Packets that could have been sampled (the pool the rate applies to).
    pub sample_pool: u32,
    /// Samples dropped for lack of resources, cumulative.
    pub drops: u32,
    /// Input interface.
    pub input: Interface,
    /// Output interface.
    pub output: Interface,
    /// Records the sample announces.
    pub record_count: u32,
    records: &'a [u8],
}

impl<'a> FlowSample<'a> {
    #[inline(always)]
    fn parse(r: &mut Reader<'a>, expanded: bool) -> Result<Self, DecodeError> {
        const W: DecodeError = DecodeError::Truncated("sFlow flow sample");
        // The fixed part, read with one length check: sequence, source id (1 or 2 words), rate,
        // pool, drops, input and output (1 or 2 words each), record count.
        let (sequence, (source_id_type, source_id_index), rate_pool_drops, (input, output)) =
            if expanded {
                let w: [u32; 10] = words(r).ok_or(W)?;
                (
                    w[0],
                    (w[1], w[2]),
                    [w[3], w[4], w[5]],
                    (
                        Interface::from_parts(w[6], w[7]),
                        Interface::from_parts(w[8], w[9]),
                    ),
                )
            } else {
                let w: [u32; 7] = words(r).ok_or(W)?;
                (
                    w[0],
                    (w[1] >> 24, w[1] & 0x00FF_FFFF),
                    [w[2], w[3], w[4]],
                    (Interface::compact(w[5]), Interface::compact(w[6])),
                )
            };
        let [sampling_rate, sample_pool, drops] = rate_pool_drops;
        let record_count = r.u32().ok_or(W)?;
        check_count(
            record_count,
            8,
            r,
            "sFlow record count larger than the sample",
        )?;
        Ok(FlowSample {
            expanded,
            sequence,
            source_id_type,
            source_id_index,
            sampling_rate,
            sample_pool,
            drops,
            input,
            output,
            record_count,
            records: r.rest(),
        })
    }

    /// The flow records, in order.
    pub fn records(&self) -> Records<'a> {
        Records {
            r: Reader::new(self.records),
            left: self.record_count,
        }
    }

    /// Sequence, drops and pool: what the data source's state follows.
    #[inline]
    pub fn counts(&self) -> [u32; 3] {
        [self.sequence, self.drops, self.sample_pool]
    }
}

/// A counter sample, compact (format 2) or expanded (format 4).
#[derive(Clone, Copy, Debug)]
pub struct CounterSample<'a> {
    /// True for the expanded form.
    pub expanded: bool,
    /// Sample sequence number, per data source.
    pub sequence: u32,
    /// Data source type (0 ifIndex).
    pub source_id_type: u32,
    /// Data source index.
    pub source_id_index: u32,
    /// Records the sample announces.
    pub record_count: u32,
    records: &'a [u8],
}

impl<'a> CounterSample<'a> {
    fn parse(r: &mut Reader<'a>, expanded: bool) -> Result<Self, DecodeError> {
        const W: &str = "sFlow counter sample";
        let sequence = u32r(r, W)?;
        let (source_id_type, source_id_index) = if expanded {
            (u32r(r, W)?, u32r(r, W)?)
        } else {
            let s = u32r(r, W)?;
            (s >> 24, s & 0x00FF_FFFF)
        };
        let record_count = u32r(r, W)?;
        check_count(
            record_count,
            8,
            r,
            "sFlow record count larger than the sample",
        )?;
        Ok(CounterSample {
            expanded,
            sequence,
            source_id_type,
            source_id_index,
            record_count,
            records: r.rest(),
        })
    }

    /// The counter records, in order.
    pub fn records(&self) -> Records<'a> {
        Records {
            r: Reader::new(self.records),
            left: self.record_count,
        }
    }
}

/// One record of a sample: its format tag and its bytes (taken by its length).
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    /// Enterprise (0 for sFlow.org's standard formats).
    pub enterprise: u32,
    /// Format number.
    pub format: u32,
    /// The record's bytes.
    pub data: &'a [u8],
}

/// Iterates the records of a sample; stops after the first error.
#[derive(Clone, Debug)]
pub struct Records<'a> {
    r: Reader<'a>,
    left: u32,
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let res = (|| {
            let [t, len] = words(&mut self.r)
                .ok_or_else(|| tag_len_error(&self.r, "sFlow record tag", "sFlow record length"))?;
            let (enterprise, format) = tag(t);
            let data = self.r.take(len as usize).ok_or(DecodeError::Truncated(
                "sFlow record longer than its sample",
            ))?;
            Ok(Record {
                enterprise,
                format,
                data,
            })
        })();
        if res.is_err() {
            self.left = 0;
        }
        Some(res)
    }
}

/// Flow record format 1: the first bytes of the sampled packet.
#[derive(Clone, Copy, Debug)]
pub struct RawHeader<'a> {
    /// Header protocol (1 Ethernet, 11 IPv4, 12 IPv6, others as in the spec).
    pub protocol: u32,
    /// Length of the packet on the wire at layer 2, before any bytes were stripped.
    pub frame_length: u32,
    /// Bytes removed from the packet before the header was taken (usually the 4-byte FCS).
    pub stripped: u32,
    /// The header bytes.
    pub header: &'a [u8],
}

impl<'a> RawHeader<'a> {
    /// Read the record's bytes.
    #[inline(always)]
    pub fn parse(data: &'a [u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(data);
        let [protocol, frame_length, stripped, len] =
            words(&mut r).ok_or(DecodeError::Truncated("sFlow raw packet header"))?;
        let header = opaque(
            &mut r,
            len as usize,
            "sFlow raw header longer than its record",
        )?;
        Ok(RawHeader {
            protocol,
            frame_length,
            stripped,
            header,
        })
    }
}

/// Flow records formats 3 (sampled IPv4) and 4 (sampled IPv6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampledIp {
    /// IP packet length, excluding lower layers (the L3 length).
    pub length: u32,
    /// IP protocol.
    pub protocol: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (TCP/UDP), 0 otherwise.
    pub src_port: u32,
    /// Destination port.
    pub dst_port: u32,
    /// TCP flags.
    pub tcp_flags: u32,
    /// IPv4 ToS, or the IPv6 priority (traffic class).
    pub tos: u32,
}

impl SampledIp {
    /// Read format 3 (`v6 = false`) or 4.
    pub fn parse(data: &[u8], v6: bool) -> Result<Self, DecodeError> {
        const W: &str = "sFlow sampled IP";
        let mut r = Reader::new(data);
        let length = u32r(&mut r, W)?;
        let protocol = u32r(&mut r, W)?;
        let n = if v6 { 16 } else { 4 };
        let src = ip_bytes(r.take(n).ok_or(DecodeError::Truncated(W))?);
        let dst = ip_bytes(r.take(n).ok_or(DecodeError::Truncated(W))?);
        Ok(SampledIp {
            length,
            protocol,
            src,
            dst,
            src_port: u32r(&mut r, W)?,
            dst_port: u32r(&mut r, W)?,
            tcp_flags: u32r(&mut r, W)?,
            tos: u32r(&mut r, W)?,
        })
    }
}

fn ip_bytes(b: &[u8]) -> IpAddr {
    match *b {
        [a, b, c, d] => IpAddr::V4(Ipv4Addr::new(a, b, c, d)),
        _ => {
            let mut a = [0u8; 16];
            a.copy_from_slice(&b[..16.min(b.len())]);
            IpAddr::V6(Ipv6Addr::from(a))
        }
    }
}

/// Flow record format 1001: the switch's VLANs and priorities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

impl ExtendedSwitch {
    /// Read the record's bytes.
    #[inline]
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        let [src_vlan, src_priority, dst_vlan, dst_priority] =
            words(&mut Reader::new(data)).ok_or(DecodeError::Truncated("sFlow extended switch"))?;
        Ok(ExtendedSwitch {
            src_vlan,
            src_priority,
            dst_vlan,
            dst_priority,
        })
    }
}

/// Flow record format 1002: the router's next hop and prefix lengths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtendedRouter {
    /// IP address of the next hop router (`None` when the agent sent type 0).
    pub next_hop: Option<IpAddr>,
    /// Source prefix length.
    pub src_mask: u32,
    /// Destination prefix length.
    pub dst_mask: u32,
}

impl ExtendedRouter {
    /// Read the record's bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "sFlow extended router";
        let mut r = Reader::new(data);
        Ok(ExtendedRouter {
            next_hop: address(&mut r)?,
            src_mask: u32r(&mut r, W)?,
            dst_mask: u32r(&mut r, W)?,
        })
    }
}

/// Flow record format 1003: BGP information of the route the packet took.
#[derive(Clone, Copy, Debug)]
pub struct ExtendedGateway<'a> {
    /// The BGP next hop.
    pub next_hop: Option<IpAddr>,
    /// The router's own AS.
    pub router_as: u32,
    /// AS of the source address.
    pub src_as: u32,
    /// AS of the source's peer.
    pub src_peer_as: u32,
    /// AS-path segments announced.
    pub segment_count: u32,
    segments: &'a [u8],
    /// Communities announced.
    pub community_count: u32,
    communities: &'a [u8],
    /// BGP local preference.
    pub local_pref: u32,
}

/// One AS-path segment of an [`ExtendedGateway`].
#[derive(Clone, Copy, Debug)]
pub struct AsPathSegment<'a> {
    /// 1 AS_SET, 2 AS_SEQUENCE.
    pub kind: u32,
    asns: &'a [u8],
}

impl AsPathSegment<'_> {
    /// The AS numbers, in order.
    pub fn asns(&self) -> impl Iterator<Item = u32> + '_ {
        be_words(self.asns)
    }

    /// Number of AS numbers.
    pub fn len(&self) -> usize {
        self.asns.len() / 4
    }

    /// True when the segment holds no AS number.
    pub fn is_empty(&self) -> bool {
        self.asns.is_empty()
    }
}

impl<'a> ExtendedGateway<'a> {
    /// Read the record's bytes. Every segment's AS count is checked against the bytes left before
    /// the segment is taken, and so is the community count, so a path claiming a million ASNs is
    /// rejected without reading (or allocating) anything for it.
    pub fn parse(data: &'a [u8]) -> Result<Self, DecodeError> {
        const W: &str = "sFlow extended gateway";
        let mut r = Reader::new(data);
        let next_hop = address(&mut r)?;
        let router_as = u32r(&mut r, W)?;
        let src_as = u32r(&mut r, W)?;
        let src_peer_as = u32r(&mut r, W)?;
        let segment_count = u32r(&mut r, W)?;
        // A segment is at least its type and its count.
        check_count(
            segment_count,
            8,
            &r,
            "sFlow AS-path segment count larger than the record",
        )?;
        let start = r.rest();
        for _ in 0..segment_count {
            let _kind = u32r(&mut r, W)?;
            let n = u32r(&mut r, W)?;
            check_count(n, 4, &r, "sFlow AS-path length larger than the record")?;
            r.take(n as usize * 4)
                .ok_or(DecodeError::Truncated("sFlow AS path"))?;
        }
        let segments = &start[..start.len() - r.remaining()];
        let community_count = u32r(&mut r, W)?;
        check_count(
            community_count,
            4,
            &r,
            "sFlow community count larger than the record",
        )?;
        let communities = r
            .take(community_count as usize * 4)
            .ok_or(DecodeError::Truncated("sFlow communities"))?;
        let local_pref = u32r(&mut r, W)?;
        Ok(ExtendedGateway {
            next_hop,
            router_as,
            src_as,
            src_peer_as,
            segment_count,
            segments,
            community_count,
            communities,
            local_pref,
        })
    }

    /// The AS-path segments, in order (validated by [`ExtendedGateway::parse`]).
    pub fn segments(&self) -> impl Iterator<Item = AsPathSegment<'a>> + 'a {
        let mut r = Reader::new(self.segments);
        std::iter::from_fn(move || {
            let kind = r.u32()?;
            let n = r.u32()? as usize;
            let asns = r.take(n * 4)?;
            Some(AsPathSegment { kind, asns })
        })
    }

    /// The destination AS: the last AS of the path (the origin), or `None` for an empty path.
    pub fn dst_as(&self) -> Option<u32> {
        self.segments().filter_map(|s| s.asns().last()).last()
    }

    /// The first AS of the path (the neighbour the packet is sent to), or `None`.
    pub fn dst_peer_as(&self) -> Option<u32> {
        self.segments().find_map(|s| s.asns().next())
    }

    /// The BGP communities.
    pub fn communities(&self) -> impl Iterator<Item = u32> + 'a {
        be_words(self.communities)
    }
}

/// Counter record format 1: generic interface counters (RFC 2233's ifTable and ifXTable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IfCounters {
    /// ifIndex.
    pub index: u32,
    /// ifType.
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
    /// ifPromiscuousMode.
    pub promiscuous: u32,
}

impl IfCounters {
    /// The record's size.
    pub const LEN: usize = 88;

    /// Read the record's bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "sFlow generic interface counters";
        let mut r = Reader::new(data);
        Ok(IfCounters {
            index: u32r(&mut r, W)?,
            if_type: u32r(&mut r, W)?,
            speed: u64r(&mut r, W)?,
            direction: u32r(&mut r, W)?,
            status: u32r(&mut r, W)?,
            in_octets: u64r(&mut r, W)?,
            in_ucast: u32r(&mut r, W)?,
            in_multicast: u32r(&mut r, W)?,
            in_broadcast: u32r(&mut r, W)?,
            in_discards: u32r(&mut r, W)?,
            in_errors: u32r(&mut r, W)?,
            in_unknown_protos: u32r(&mut r, W)?,
            out_octets: u64r(&mut r, W)?,
            out_ucast: u32r(&mut r, W)?,
            out_multicast: u32r(&mut r, W)?,
            out_broadcast: u32r(&mut r, W)?,
            out_discards: u32r(&mut r, W)?,
            out_errors: u32r(&mut r, W)?,
            promiscuous: u32r(&mut r, W)?,
        })
    }
}

/// Counter record format 2: Ethernet counters (RFC 2358's dot3StatsTable).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EthCounters {
    /// dot3StatsAlignmentErrors.
    pub alignment_errors: u32,
    /// dot3StatsFCSErrors.
    pub fcs_errors: u32,
    /// dot3StatsSingleCollisionFrames.
    pub single_collisions: u32,
    /// dot3StatsMultipleCollisionFrames.
    pub multiple_collisions: u32,
    /// dot3StatsSQETestErrors.
    pub sqe_test_errors: u32,
    /// dot3StatsDeferredTransmissions.
    pub deferred: u32,
    /// dot3StatsLateCollisions.
    pub late_collisions: u32,
    /// dot3StatsExcessiveCollisions.
    pub excessive_collisions: u32,
    /// dot3StatsInternalMacTransmitErrors.
    pub internal_mac_tx_errors: u32,
    /// dot3StatsCarrierSenseErrors.
    pub carrier_sense_errors: u32,
    /// dot3StatsFrameTooLongs.
    pub frame_too_longs: u32,
    /// dot3StatsInternalMacReceiveErrors.
    pub internal_mac_rx_errors: u32,
    /// dot3StatsSymbolErrors.
    pub symbol_errors: u32,
}

impl EthCounters {
    /// Read the record's bytes.
    pub fn parse(data: &[u8]) -> Result<Self, DecodeError> {
        const W: &str = "sFlow Ethernet counters";
        let mut r = Reader::new(data);
        Ok(EthCounters {
            alignment_errors: u32r(&mut r, W)?,
            fcs_errors: u32r(&mut r, W)?,
            single_collisions: u32r(&mut r, W)?,
            multiple_collisions: u32r(&mut r, W)?,
            sqe_test_errors: u32r(&mut r, W)?,
            deferred: u32r(&mut r, W)?,
            late_collisions: u32r(&mut r, W)?,
            excessive_collisions: u32r(&mut r, W)?,
            internal_mac_tx_errors: u32r(&mut r, W)?,
            carrier_sense_errors: u32r(&mut r, W)?,
            frame_too_longs: u32r(&mut r, W)?,
            internal_mac_rx_errors: u32r(&mut r, W)?,
            symbol_errors: u32r(&mut r, W)?,
        })
    }
}

/// Counter record format 1005: the port's name (ifName), at most 255 bytes by the spec.
pub fn port_name(data: &[u8]) -> Result<&[u8], DecodeError> {
    let mut r = Reader::new(data);
    let len = u32r(&mut r, "sFlow port name length")?;
    if len > 255 {
        return Err(DecodeError::BadLength(
            "sFlow port name longer than 255 bytes",
        ));
    }
    opaque(
        &mut r,
        len as usize,
        "sFlow port name longer than its record",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A datagram from agent 192.0.2.1, sub-agent 3, sequence 7: one compact flow sample
    /// (rate 100, input ifIndex 5, output discarded with reason 258) holding a sampled IPv4
    /// record and an extended switch record, then one enterprise sample to skip.
    const GOLDEN: &[u8] = &[
        0, 0, 0, 5, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 3, 0, 0, 0, 7, 0, 0, 0x03, 0xe8, 0, 0, 0, 2,
        // flow sample, format 1, length 32 + 8 + 32 + 8 + 16 = 96
        0, 0, 0, 1, 0, 0, 0, 96, //
        0, 0, 0, 9, // sequence
        0, 0, 0, 5, // source id: type 0, index 5
        0, 0, 0, 100, // rate
        0, 0, 0x27, 0x10, // pool 10000
        0, 0, 0, 2, // drops
        0, 0, 0, 5, // input ifIndex 5
        0x40, 0, 1, 2, // output: format 1 (discarded), reason 258
        0, 0, 0, 2, // records
        0, 0, 0, 3, 0, 0, 0, 32, // sampled IPv4
        0, 0, 5, 0xdc, 0, 0, 0, 6, 10, 0, 0, 1, 10, 0, 0, 2, 0, 0, 0x30, 0x39, 0, 0, 1, 0xbb, 0, 0,
        0, 0x12, 0, 0, 0, 0x20, //
        0, 0, 0x03, 0xe9, 0, 0, 0, 16, // extended switch
        0, 0, 0, 10, 0, 0, 0, 1, 0, 0, 0, 20, 0, 0, 0, 2, //
        // enterprise 4413 format 5, 4 bytes
        0x01, 0x13, 0xd0, 0x05, 0, 0, 0, 4, 1, 2, 3, 4,
    ];

    #[test]
    fn reads_a_golden_datagram_with_a_flow_sample_and_an_enterprise_sample() {
        let d = Datagram::parse(GOLDEN).unwrap();
        assert_eq!(d.agent, "192.0.2.1".parse::<IpAddr>().unwrap());
        assert_eq!((d.sub_agent, d.sequence, d.uptime_ms), (3, 7, 1000));
        let mut samples = d.samples();
        let Some(Ok(Sample::Flow(f))) = samples.next() else {
            panic!("flow sample expected")
        };
        assert_eq!((f.sequence, f.source_id_type, f.source_id_index), (9, 0, 5));
        assert_eq!((f.sampling_rate, f.sample_pool, f.drops), (100, 10_000, 2));
        assert_eq!(f.input, Interface::Index(5));
        assert_eq!(f.output, Interface::Discarded(258));
        let recs: Vec<_> = f.records().map(Result::unwrap).collect();
        assert_eq!(recs.len(), 2);
        let ip = SampledIp::parse(recs[0].data, false).unwrap();
        assert_eq!(
            (ip.length, ip.protocol, ip.src_port, ip.dst_port),
            (1500, 6, 12345, 443)
        );
        assert_eq!((ip.tcp_flags, ip.tos), (0x12, 0x20));
        assert_eq!(ip.dst, "10.0.0.2".parse::<IpAddr>().unwrap());
        let sw = ExtendedSwitch::parse(recs[1].data).unwrap();
        assert_eq!((sw.src_vlan, sw.dst_vlan), (10, 20));
        assert!(matches!(
            samples.next(),
            Some(Ok(Sample::Other {
                enterprise: 4413,
                format: 5
            }))
        ));
        assert!(samples.next().is_none());
        assert!(samples.rest().is_empty());
    }

    #[test]
    fn every_truncation_of_the_golden_datagram_is_an_error_not_a_panic() {
        for n in 0..GOLDEN.len() {
            let res = Datagram::parse(&GOLDEN[..n]).map(|d| {
                d.samples()
                    .map(|s| match s {
                        Ok(Sample::Flow(f)) => f.records().filter(Result::is_err).count(),
                        Ok(_) => 0,
                        Err(_) => 1,
                    })
                    .sum::<usize>()
            });
            assert!(
                !matches!(res, Ok(0)),
                "{n} bytes of {} decoded cleanly",
                GOLDEN.len()
            );
        }
    }

    #[test]
    fn rejects_a_sample_count_the_datagram_cannot_hold() {
        let mut d = GOLDEN.to_vec();
        d[24..28].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(Datagram::parse(&d), Err(DecodeError::BadCount(_))));
    }

    #[test]
    fn rejects_a_record_count_of_four_billion_without_reading_on() {
        let mut d = GOLDEN.to_vec();
        // The flow sample's record count.
        d[28 + 8 + 28..28 + 8 + 32].copy_from_slice(&u32::MAX.to_be_bytes());
        let s = Datagram::parse(&d).unwrap().samples().next().unwrap();
        assert!(matches!(s, Err(DecodeError::BadCount(_))));
    }

    #[test]
    fn reads_interfaces_in_both_forms() {
        assert_eq!(Interface::compact(7), Interface::Index(7));
        assert_eq!(Interface::compact(0x3FFF_FFFF), Interface::Internal);
        assert_eq!(Interface::compact(0x8000_0003), Interface::Multiple(3));
        assert_eq!(Interface::compact(0x4000_0101), Interface::Discarded(257));
        assert_eq!(Interface::from_parts(2, 0), Interface::Multiple(0));
        assert_eq!(
            Interface::compact(0xC000_0007),
            Interface::Reserved {
                format: 3,
                value: 7
            }
        );
    }

    #[test]
    fn keeps_an_expanded_interface_format_above_3() {
        // The expanded flow sample's interface format is a whole word; a format the spec does
        // not define is kept as sent (found by the differential test against flowparser-sflow,
        // which reads it as sent; sluice used to report every such format as 3).
        assert_eq!(
            Interface::from_parts(0x100, 9),
            Interface::Reserved {
                format: 0x100,
                value: 9
            }
        );
    }

    fn gateway(segments: &[(u32, &[u32])], communities: &[u32]) -> Vec<u8> {
        let mut v = Vec::new();
        let mut w = |x: u32| v.extend_from_slice(&x.to_be_bytes());
        for x in [1, 0x0a00_0001, 65000, 64512, 64513, segments.len() as u32] {
            w(x);
        }
        for (kind, asns) in segments {
            w(*kind);
            w(asns.len() as u32);
            for a in *asns {
                w(*a);
            }
        }
        w(communities.len() as u32);
        for c in communities {
            w(*c);
        }
        w(100);
        v
    }

    #[test]
    fn reads_every_as_path_segment_and_the_communities() {
        let g = gateway(
            &[(2, &[64600, 3356]), (1, &[15169, 396982])],
            &[0xfde8_0001, 7],
        );
        let g = ExtendedGateway::parse(&g).unwrap();
        assert_eq!(
            (g.router_as, g.src_as, g.src_peer_as),
            (65000, 64512, 64513)
        );
        let path: Vec<Vec<u32>> = g.segments().map(|s| s.asns().collect()).collect();
        assert_eq!(path, vec![vec![64600, 3356], vec![15169, 396982]]);
        assert_eq!(g.dst_as(), Some(396982));
        assert_eq!(g.dst_peer_as(), Some(64600));
        assert_eq!(g.communities().collect::<Vec<_>>(), vec![0xfde8_0001, 7]);
        assert_eq!(g.local_pref, 100);
        let empty = gateway(&[], &[]);
        assert_eq!(ExtendedGateway::parse(&empty).unwrap().dst_as(), None);
    }

    #[test]
    fn rejects_an_as_path_longer_than_its_record() {
        let mut g = gateway(&[(2, &[1; 1000])], &[]);
        assert!(
            ExtendedGateway::parse(&g).is_ok(),
            "1,000 ASNs that are there"
        );
        // Claim 4 billion ASNs in the one segment.
        g[28..32].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ExtendedGateway::parse(&g),
            Err(DecodeError::BadCount(_))
        ));
        let mut g = gateway(&[], &[]);
        g[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(
            ExtendedGateway::parse(&g),
            Err(DecodeError::BadCount(_))
        ));
    }

    #[test]
    fn reads_port_names_and_refuses_overlong_ones() {
        assert_eq!(
            port_name(&[0, 0, 0, 3, b'e', b't', b'0', 0]).unwrap(),
            b"et0"
        );
        assert_eq!(port_name(&[0, 0, 0, 3, b'e', b't', b'0']).unwrap(), b"et0");
        assert!(port_name(&[0, 0, 1, 0]).is_err());
        assert!(port_name(&[0, 0, 0, 9, b'x']).is_err());
    }
}
