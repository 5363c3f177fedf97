//! The one normalised flow record every decoder produces.
//!
//! Owns: the fixed-size, `Copy` shape that flows through the rest of the pipeline (aggregator,
//! storage, `sluice decode`). It holds no references into the datagram, so it can outlive it.
//! Must never: allocate, or hold anything whose size depends on the wire.
//!
//! Addresses are kept as IPv6; IPv4 addresses are stored IPv4-mapped (`::ffff:a.b.c.d`, RFC 4291
//! §2.5.5.2) and shown in dotted-quad form by [`display_addr`]. Times are Unix epoch milliseconds (UTC).

use std::net::{IpAddr, Ipv6Addr};

use serde::{Serialize, Serializer};

/// Where the sampling rate of a record came from, in the order of precedence the decoder applies.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SamplingSource {
    /// No source gave a rate; the record is kept with a rate of 1 and this mark.
    #[default]
    Unknown,
    /// A configured override for the exporter's CIDR.
    Override,
    /// An information element in the data record itself (IE 34, 305/306, or 48 with 49/50 inline).
    Record,
    /// Options data for (exporter, domain, sampler/selector id).
    OptionsData,
    /// The NetFlow v5 header's sampling interval.
    V5Header,
    /// The configured default rate.
    ConfigDefault,
}

impl SamplingSource {
    /// Stable lower-case name, used in metrics and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            SamplingSource::Unknown => "unknown",
            SamplingSource::Override => "override",
            SamplingSource::Record => "record",
            SamplingSource::OptionsData => "options_data",
            SamplingSource::V5Header => "v5_header",
            SamplingSource::ConfigDefault => "config_default",
        }
    }
}

/// Bits of [`FlowRecord::flags`]: conditions the decoder noticed but that do not reject the record.
pub mod flags {
    /// The flow's end time is before its start time.
    pub const END_BEFORE_START: u8 = 1 << 0;
    /// The flow's end time is far (more than the configured tolerance) from the export time.
    pub const FAR_FROM_EXPORT_TIME: u8 = 1 << 1;
    /// The sampling rate is unknown; bytes and packets are as exported (rate 1).
    pub const SAMPLING_UNKNOWN: u8 = 1 << 2;
    /// The record was held because its template had not arrived, and decoded later.
    pub const REPLAYED: u8 = 1 << 3;
    /// sFlow: an interface was the agent itself (0x3FFFFFFF); it is stored as 0.
    pub const INTERNAL_INTERFACE: u8 = 1 << 4;
    /// sFlow: the packet went out of several interfaces (format 2); `out_if` is stored as 0.
    pub const MULTIPLE_INTERFACES: u8 = 1 << 5;
}

/// The `version` of records decoded from sFlow v5 (NetFlow's 5 is taken).
pub const VERSION_SFLOW: u16 = 105;

/// One decoded flow record. Fixed size, `Copy`, no heap.
///
/// Fields that an exporter may omit are `Option`s. `bytes` and `packets` are as exported (not scaled);
/// multiply by `sampling_rate` for the estimate of real traffic ([`FlowRecord::scaled_bytes`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FlowRecord {
    /// When the datagram was received (or the capture timestamp when decoding a file), Unix ms.
    pub time_received: i64,
    /// The exporter's address (the datagram's source), IPv4-mapped when IPv4.
    #[serde(serialize_with = "ser_addr")]
    pub exporter: Ipv6Addr,
    /// Observation domain id (IPFIX) or source id (NetFlow v9); engine type/id for v5.
    pub observation_domain: u32,
    /// Protocol version: 5, 9 or 10 (IPFIX), or 105 for sFlow v5 ([`VERSION_SFLOW`]).
    pub version: u16,
    /// Flow start, Unix ms.
    pub flow_start: Option<i64>,
    /// Flow end, Unix ms.
    pub flow_end: Option<i64>,
    /// Source address.
    #[serde(serialize_with = "ser_opt_addr")]
    pub src_addr: Option<Ipv6Addr>,
    /// Destination address.
    #[serde(serialize_with = "ser_opt_addr")]
    pub dst_addr: Option<Ipv6Addr>,
    /// Source transport port.
    pub src_port: Option<u16>,
    /// Destination transport port.
    pub dst_port: Option<u16>,
    /// IP protocol number.
    pub protocol: Option<u8>,
    /// Cumulative TCP flags (IPFIX tcpControlBits is 16 bits wide).
    pub tcp_flags: Option<u16>,
    /// IP ToS / traffic class byte (DSCP is `tos >> 2`).
    pub tos: Option<u8>,
    /// Bytes (octets) as exported, before sampling scale-up.
    pub bytes: u64,
    /// Packets as exported, before sampling scale-up.
    pub packets: u64,
    /// The sampling rate that applies (1 in N). 1 when unsampled or unknown; see `sampling_source`.
    pub sampling_rate: u32,
    /// Where `sampling_rate` came from.
    pub sampling_source: SamplingSource,
    /// Sampler / selector id the record referred to, if any.
    pub sampler_id: Option<u32>,
    /// Input interface (ifIndex).
    pub in_if: Option<u32>,
    /// Output interface (ifIndex).
    pub out_if: Option<u32>,
    /// Source BGP AS.
    pub src_as: Option<u32>,
    /// Destination BGP AS.
    pub dst_as: Option<u32>,
    /// Source prefix length.
    pub src_mask: Option<u8>,
    /// Destination prefix length.
    pub dst_mask: Option<u8>,
    /// IP next hop.
    #[serde(serialize_with = "ser_opt_addr")]
    pub next_hop: Option<Ipv6Addr>,
    /// Flow direction: 0 ingress, 1 egress.
    pub direction: Option<u8>,
    /// Source VLAN id (IE 58, or 243 dot1qVlanId).
    pub vlan: Option<u16>,
    /// Forwarding status (IE 89); the top two bits are the status class.
    pub forwarding_status: Option<u8>,
    /// ICMP type.
    pub icmp_type: Option<u8>,
    /// ICMP code.
    pub icmp_code: Option<u8>,
    /// Post-NAT source address (IE 225 / 281).
    #[serde(serialize_with = "ser_opt_addr")]
    pub post_nat_src_addr: Option<Ipv6Addr>,
    /// Post-NAT destination address (IE 226 / 282).
    #[serde(serialize_with = "ser_opt_addr")]
    pub post_nat_dst_addr: Option<Ipv6Addr>,
    /// Post-NAPT source port (IE 227).
    pub post_nat_src_port: Option<u16>,
    /// Post-NAPT destination port (IE 228).
    pub post_nat_dst_port: Option<u16>,
    /// sFlow: the sampled packet's length at layer 2 as the agent reported it (the raw header
    /// record's frame length, usually counting the 4-byte FCS). `bytes` is the L3 length.
    pub frame_bytes: Option<u32>,
    /// sFlow: why the packet was discarded (the output interface's format 1 value: ICMP
    /// unreachable codes 0–255, 256 unknown, 257 TTL exceeded, 258 ACL, 259 no buffer space,
    /// 260 RED, 261 rate limiting, 262 packet too big). `forwarding_status` holds the IPFIX
    /// equivalent.
    pub discard_reason: Option<u16>,
    /// Bits from [`flags`].
    pub flags: u8,
    /// What the enrich stage found (all zero when enrichment is off or found nothing).
    #[serde(skip)]
    pub enrichment: Enrichment,
}

/// What the enrich stage found for a record: ids into its registry (`enrich::registry`; 0 means
/// nothing found) and ISO 3166 alpha-2 country codes (`[0, 0]` when unknown). Fixed size, so the
/// record stays `Copy`; the decoder leaves it zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Enrichment {
    /// Network attribute set of the source address.
    pub src_net: u32,
    /// Network attribute set of the destination address.
    pub dst_net: u32,
    /// Interface entry of (exporter, input ifIndex).
    pub in_if: u32,
    /// Interface entry of (exporter, output ifIndex).
    pub out_if: u32,
    /// Name of the source network (an id among network names; the `src_net` window dimension).
    pub src_net_name: u32,
    /// Name of the destination network.
    pub dst_net_name: u32,
    /// Provider of the input interface (an id among providers; the `in_if_provider` dimension).
    pub in_if_provider: u32,
    /// Provider of the output interface.
    pub out_if_provider: u32,
    /// Country of the source address.
    pub src_country: [u8; 2],
    /// Country of the destination address.
    pub dst_country: [u8; 2],
}

impl Enrichment {
    /// A country code as text (empty when unknown or not two ASCII letters).
    pub fn country_str(code: &[u8; 2]) -> &str {
        if code.iter().all(u8::is_ascii_uppercase) {
            std::str::from_utf8(code).unwrap_or("")
        } else {
            ""
        }
    }
}

impl Default for FlowRecord {
    fn default() -> Self {
        FlowRecord {
            time_received: 0,
            exporter: Ipv6Addr::UNSPECIFIED,
            observation_domain: 0,
            version: 0,
            flow_start: None,
            flow_end: None,
            src_addr: None,
            dst_addr: None,
            src_port: None,
            dst_port: None,
            protocol: None,
            tcp_flags: None,
            tos: None,
            bytes: 0,
            packets: 0,
            sampling_rate: 1,
            sampling_source: SamplingSource::Unknown,
            sampler_id: None,
            in_if: None,
            out_if: None,
            src_as: None,
            dst_as: None,
            src_mask: None,
            dst_mask: None,
            next_hop: None,
            direction: None,
            vlan: None,
            forwarding_status: None,
            icmp_type: None,
            icmp_code: None,
            post_nat_src_addr: None,
            post_nat_dst_addr: None,
            post_nat_src_port: None,
            post_nat_dst_port: None,
            frame_bytes: None,
            discard_reason: None,
            flags: 0,
            enrichment: Enrichment::default(),
        }
    }
}

/// One sFlow counter sample's generic interface counters, as deltas since the previous sample
/// of the same interface (the `interface_counters` table). Fixed size, `Copy`.
///
/// Deltas: 64-bit octet counters subtract; an octet counter that went down below 2^32 is taken
/// as a 32-bit counter that wrapped (some agents fill the 64-bit field from a 32-bit one), and
/// one that went down otherwise as a reset. 32-bit packet, error and discard counters subtract
/// modulo 2^32. The first sample of an interface, and the first after a reset (its sequence
/// number went backwards or an octet counter went down), has `interval_ms` 0 and zero deltas.
/// Counters the agent reports as unknown (all ones) count as 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct InterfaceCounters {
    /// When the sample was received, Unix ms.
    pub time_received: i64,
    /// The agent address.
    #[serde(serialize_with = "ser_addr")]
    pub exporter: Ipv6Addr,
    /// The sub-agent id.
    pub sub_agent: u32,
    /// ifIndex.
    pub ifindex: u32,
    /// ifType.
    pub if_type: u32,
    /// ifSpeed, bits per second.
    pub speed: u64,
    /// 0 unknown, 1 full duplex, 2 half duplex, 3 in, 4 out.
    pub direction: u8,
    /// Bit 0 ifAdminStatus up, bit 1 ifOperStatus up.
    pub status: u8,
    /// ifHCInOctets as reported.
    pub in_octets_total: u64,
    /// ifHCOutOctets as reported.
    pub out_octets_total: u64,
    /// Milliseconds since the previous sample of this interface, by the agent's uptime (by the
    /// receive times when the uptime went backwards); 0 when there is no previous sample.
    pub interval_ms: u32,
    /// Octets in during the interval.
    pub in_octets: u64,
    /// Octets out.
    pub out_octets: u64,
    /// Unicast, multicast and broadcast packets in.
    pub in_packets: u64,
    /// Packets out.
    pub out_packets: u64,
    /// Inbound errors.
    pub in_errors: u64,
    /// Outbound errors.
    pub out_errors: u64,
    /// Inbound discards.
    pub in_discards: u64,
    /// Outbound discards.
    pub out_discards: u64,
    /// The sampling accuracy check: octets estimated from the flow samples whose data source is
    /// this interface, during the interval (each sample's frame length, else its L3 length,
    /// times its sampling rate). With ingress sampling it estimates `in_octets`.
    pub sampled_octets: u64,
    /// Flow samples of this interface during the interval.
    pub flow_samples: u32,
}

impl Default for InterfaceCounters {
    fn default() -> Self {
        InterfaceCounters {
            time_received: 0,
            exporter: Ipv6Addr::UNSPECIFIED,
            sub_agent: 0,
            ifindex: 0,
            if_type: 0,
            speed: 0,
            direction: 0,
            status: 0,
            in_octets_total: 0,
            out_octets_total: 0,
            interval_ms: 0,
            in_octets: 0,
            out_octets: 0,
            in_packets: 0,
            out_packets: 0,
            in_errors: 0,
            out_errors: 0,
            in_discards: 0,
            out_discards: 0,
            sampled_octets: 0,
            flow_samples: 0,
        }
    }
}

/// First port of the ephemeral range used by the service-port rule.
pub const EPHEMERAL_PORT_START: u16 = 1024;

/// The service port of a flow (the aggregator's `app` dimension, the `app_port` column and the
/// rollups all use this one rule): the destination port, or the lower of the two ports when both are
/// ephemeral (>= 1024). A reply flow (a well-known source port towards an ephemeral destination,
/// e.g. 443 → 50000) counts under its source port, so the answers of a service are counted with
/// the service rather than scattered over client ports. Absent ports count as 0.
#[inline]
pub fn service_port(src_port: Option<u16>, dst_port: Option<u16>) -> u16 {
    let src = src_port.unwrap_or(0);
    let dst = dst_port.unwrap_or(0);
    let eph = |p: u16| p >= EPHEMERAL_PORT_START;
    match (eph(src), eph(dst)) {
        (true, true) => src.min(dst),
        (false, true) if src != 0 => src,
        _ => dst,
    }
}

/// A batch of decoded records as it leaves the receive workers. Shared, not copied: the same batch
/// goes to the aggregator and to raw-flow storage side by side.
pub type FlowBatch = std::sync::Arc<Vec<FlowRecord>>;

impl FlowRecord {
    /// The flow's service port ([`service_port`] of its two ports).
    #[inline]
    pub fn service_port(&self) -> u16 {
        service_port(self.src_port, self.dst_port)
    }

    /// Bytes scaled by the sampling rate: the estimate of real traffic.
    pub fn scaled_bytes(&self) -> u64 {
        self.bytes
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }

    /// Packets scaled by the sampling rate.
    pub fn scaled_packets(&self) -> u64 {
        self.packets
            .saturating_mul(u64::from(self.sampling_rate.max(1)))
    }
}

/// Map any address into the IPv6 form the record stores (IPv4 becomes IPv4-mapped).
pub fn to_v6(addr: IpAddr) -> Ipv6Addr {
    match addr {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// The usual text form of a stored address: dotted quad for IPv4-mapped addresses.
pub fn display_addr(addr: Ipv6Addr) -> IpAddr {
    addr.to_canonical()
}

fn ser_addr<S: Serializer>(addr: &Ipv6Addr, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&display_addr(*addr))
}

fn ser_opt_addr<S: Serializer>(addr: &Option<Ipv6Addr>, s: S) -> Result<S::Ok, S::Error> {
    match addr {
        Some(a) => s.collect_str(&display_addr(*a)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_is_stored_mapped_and_shown_dotted() {
        let v6 = to_v6("10.1.2.3".parse().unwrap());
        assert_eq!(v6, "::ffff:10.1.2.3".parse::<Ipv6Addr>().unwrap());
        assert_eq!(display_addr(v6).to_string(), "10.1.2.3");
        let rec = FlowRecord {
            src_addr: Some(v6),
            ..Default::default()
        };
        let json = serde_json::to_value(rec).unwrap();
        assert_eq!(json["src_addr"], "10.1.2.3");
        assert_eq!(json["dst_addr"], serde_json::Value::Null);
    }

    #[test]
    fn scaling_saturates_and_treats_zero_rate_as_one() {
        let rec = FlowRecord {
            bytes: 1000,
            packets: 3,
            sampling_rate: 0,
            ..Default::default()
        };
        assert_eq!(rec.scaled_bytes(), 1000);
        let rec = FlowRecord {
            bytes: u64::MAX,
            sampling_rate: 10,
            ..Default::default()
        };
        assert_eq!(rec.scaled_bytes(), u64::MAX);
    }

    #[test]
    fn service_port_is_the_service_side_of_the_flow() {
        assert_eq!(service_port(Some(50_000), Some(443)), 443);
        assert_eq!(
            service_port(Some(53), Some(40_000)),
            53,
            "a DNS reply counts as DNS"
        );
        assert_eq!(
            service_port(Some(443), Some(50_000)),
            443,
            "an HTTPS reply counts as HTTPS"
        );
        assert_eq!(service_port(Some(0), Some(50_000)), 50_000);
        assert_eq!(
            service_port(Some(22), Some(80)),
            80,
            "both well-known: the destination"
        );
        assert_eq!(service_port(Some(50_000), Some(8080)), 8080);
        assert_eq!(service_port(Some(5000), Some(60_000)), 5000);
        assert_eq!(service_port(Some(1024), Some(1025)), 1024);
        assert_eq!(service_port(None, None), 0);
        assert_eq!(service_port(Some(50_000), None), 0);
    }
}
