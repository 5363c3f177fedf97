//! Row encoding: pipeline types to ClickHouse `RowBinary`, one encoder per table.
//!
//! Owns: the column order of `flows`, `window_top`, `window_totals`, `interface_counters`,
//! `exporters` and `interfaces`
//! ([`FLOWS_COLUMNS`] etc.; the DDL in [`crate::migrations`] lists the same columns in the same order,
//! and a test checks it), and the mapping of each Rust field to its column value. Must never:
//! allocate per row or do I/O; encoders append to a caller's buffer.
//!
//! One encoding serves both tiers: an address is 16 bytes in network order, which is the `RowBinary`
//! form of both `IPv6` (modern) and `FixedString(16)` (legacy, IPv4-mapped); `LowCardinality(String)`
//! and `String` share the same `RowBinary` form (LEB128 length, bytes).
//!
//! Missing optional fields are stored as 0 (addresses `::`), except `direction`, which is 255 when
//! unknown because 0 means ingress. Times: `time_received`, `window_start`, `ts` are `DateTime`
//! (seconds, UTC); flow start/end keep milliseconds in `Int64` columns (0 when unknown).

use std::net::Ipv6Addr;

use aggregator::{WindowTopRow, WindowTotalsRow};
use collector::FlowRecord;

/// Columns of `flows`, in insert order.
pub const FLOWS_COLUMNS: &[&str] = &[
    "time_received",
    "exporter",
    "observation_domain",
    "version",
    "flow_start_ms",
    "flow_end_ms",
    "src_addr",
    "dst_addr",
    "src_port",
    "dst_port",
    "protocol",
    "tcp_flags",
    "tos",
    "bytes",
    "packets",
    "sampling_rate",
    "sampling_source",
    "bytes_scaled",
    "packets_scaled",
    "sampler_id",
    "in_if",
    "out_if",
    "src_as",
    "dst_as",
    "src_mask",
    "dst_mask",
    "next_hop",
    "direction",
    "vlan",
    "forwarding_status",
    "icmp_type",
    "icmp_code",
    "post_nat_src_addr",
    "post_nat_dst_addr",
    "post_nat_src_port",
    "post_nat_dst_port",
    "app_port",
    "flags",
    "batch_id",
    "src_net_name",
    "dst_net_name",
    "src_net_role",
    "dst_net_role",
    "src_net_site",
    "dst_net_site",
    "src_country",
    "dst_country",
    "src_as_name",
    "dst_as_name",
    "in_if_name",
    "out_if_name",
    "in_if_boundary",
    "out_if_boundary",
    "in_if_provider",
    "out_if_provider",
    "in_if_speed",
    "out_if_speed",
    "frame_bytes",
    "discard_reason",
];

/// Columns of `flows` up to `batch_id`: the rows of spool payload version 2.
pub const FLOWS_V2_COLUMNS: usize = 39;

/// Columns of `flows` up to `out_if_speed`: the rows of spool payload version 3.
pub const FLOWS_V3_COLUMNS: usize = 57;

/// Columns of `window_top`, in insert order.
pub const WINDOW_TOP_COLUMNS: &[&str] = &[
    "window_start",
    "window_secs",
    "dimension",
    "addr_a",
    "addr_b",
    "exporter",
    "num",
    "proto",
    "is_other",
    "rank_bytes",
    "rank_packets",
    "rank_flows",
    "bytes",
    "packets",
    "flows",
    "bytes_unscaled",
    "packets_unscaled",
    "max_error",
    "batch_id",
    "label",
];

/// Columns of `window_top` up to `batch_id`: the rows of spool payload version 2.
pub const WINDOW_TOP_V2_COLUMNS: usize = 19;

/// Columns of `window_totals`, in insert order.
pub const WINDOW_TOTALS_COLUMNS: &[&str] = &[
    "window_start",
    "window_secs",
    "exporter",
    "bytes",
    "packets",
    "flows",
    "bytes_unscaled",
    "packets_unscaled",
    "late_flows",
    "batch_id",
];

/// The RowBinary type of a column, as far as reading a batch back needs it (dead letters are
/// rendered as text from the bytes that were sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// UInt8.
    U8,
    /// UInt16.
    U16,
    /// UInt32.
    U32,
    /// UInt64.
    U64,
    /// Int64.
    I64,
    /// DateTime (UInt32 seconds).
    DateTime,
    /// FixedString(16) or IPv6.
    Addr,
    /// String or LowCardinality(String).
    Str,
}

use Ty::{Addr, DateTime, I64, Str, U8, U16, U32, U64};

/// Types of [`FLOWS_COLUMNS`], in the same order.
pub const FLOWS_TYPES: &[Ty] = &[
    DateTime, Addr, U32, U16, I64, I64, Addr, Addr, U16, U16, U8, U16, U8, U64, U64, U32, Str, U64,
    U64, U32, U32, U32, U32, U32, U8, U8, Addr, U8, U16, U8, U8, U8, Addr, Addr, U16, U16, U16, U8,
    U64, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, Str, U64, U64,
    U32, U16,
];

/// Types of [`WINDOW_TOP_COLUMNS`], in the same order.
pub const WINDOW_TOP_TYPES: &[Ty] = &[
    DateTime, U32, Str, Addr, Addr, Addr, U32, U8, U8, U32, U32, U32, U64, U64, U64, U64, U64, U64,
    U64, Str,
];

/// Types of [`WINDOW_TOTALS_COLUMNS`], in the same order.
pub const WINDOW_TOTALS_TYPES: &[Ty] = &[DateTime, U32, Addr, U64, U64, U64, U64, U64, U64, U64];

/// Columns of `interface_counters`, in insert order.
pub const INTERFACE_COUNTERS_COLUMNS: &[&str] = &[
    "time_received",
    "exporter",
    "sub_agent",
    "ifindex",
    "if_type",
    "speed",
    "direction",
    "status",
    "interval_ms",
    "in_octets",
    "out_octets",
    "in_packets",
    "out_packets",
    "in_errors",
    "out_errors",
    "in_discards",
    "out_discards",
    "in_octets_total",
    "out_octets_total",
    "sampled_octets",
    "flow_samples",
    "batch_id",
];

/// Types of [`INTERFACE_COUNTERS_COLUMNS`], in the same order.
pub const INTERFACE_COUNTERS_TYPES: &[Ty] = &[
    DateTime, Addr, U32, U32, U32, U64, U8, U8, U32, U64, U64, U64, U64, U64, U64, U64, U64, U64,
    U64, U64, U32, U64,
];

/// Append one `interface_counters` row (without `batch_id`).
pub fn encode_interface_counters(out: &mut Vec<u8>, c: &collector::InterfaceCounters) {
    u32_(out, ms_to_datetime(c.time_received));
    addr(out, c.exporter);
    u32_(out, c.sub_agent);
    u32_(out, c.ifindex);
    u32_(out, c.if_type);
    u64_(out, c.speed);
    u8_(out, c.direction);
    u8_(out, c.status);
    u32_(out, c.interval_ms);
    for v in [
        c.in_octets,
        c.out_octets,
        c.in_packets,
        c.out_packets,
        c.in_errors,
        c.out_errors,
        c.in_discards,
        c.out_discards,
        c.in_octets_total,
        c.out_octets_total,
        c.sampled_octets,
    ] {
        u64_(out, v);
    }
    u32_(out, c.flow_samples);
}

/// Appends the id of the batch a row belongs to (the last column of `flows`, `window_top` and
/// `window_totals`): on 18.16 the writer asks the server for it before re-sending a batch whose
/// reply was lost.
#[inline]
pub fn encode_batch_id(out: &mut Vec<u8>, id: u64) {
    u64_(out, id);
}

/// Columns of `exporters`, in insert order.
pub const EXPORTERS_COLUMNS: &[&str] = &[
    "address",
    "name",
    "last_seen",
    "versions",
    "sampling_rate",
    "templates",
    "options_templates",
    "first_seen",
    "sampling_source",
    "datagrams",
    "records",
    "sequence_lost",
    "decode_errors",
    "error_kinds",
    "error_counts",
    "padding_bytes",
    "clock_skew_ms",
    "collector_started",
    "udp_source",
    "samples_lost",
    "agent_drops",
];

/// Columns of `interfaces`, in insert order.
pub const INTERFACES_COLUMNS: &[&str] = &[
    "exporter",
    "ifindex",
    "name",
    "description",
    "speed",
    "last_seen",
    "boundary",
    "provider",
    "connectivity",
    "source",
];

/// Columns of `as_names`, in insert order.
pub const AS_NAMES_COLUMNS: &[&str] = &["asn", "name", "last_seen"];

/// The organisation name of an AS, as the GeoIP ASN database gave it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsNameRow {
    /// AS number.
    pub asn: u32,
    /// Organisation name.
    pub name: String,
    /// When this was written, Unix seconds.
    pub last_seen: u32,
}

/// Append one `as_names` row.
pub fn encode_as_name(out: &mut Vec<u8>, r: &AsNameRow) {
    u32_(out, r.asn);
    string(out, &r.name);
    u32_(out, r.last_seen);
}

/// What an exporter looked like when last seen (one row per report; the table keeps the latest).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExporterRow {
    /// Exporter address (IPv4-mapped when IPv4).
    pub address: Ipv6Addr,
    /// Configured or resolved name; empty when none.
    pub name: String,
    /// Last datagram, Unix seconds.
    pub last_seen: u32,
    /// Protocol versions seen (5, 9, 10).
    pub versions: Vec<u16>,
    /// Sampling rate in effect (1 when unknown).
    pub sampling_rate: u32,
    /// Data templates held.
    pub templates: u32,
    /// Options templates held.
    pub options_templates: u32,
    /// First datagram, Unix seconds (kept across collector restarts).
    pub first_seen: u32,
    /// Where the sampling rate came from (`record`, `options_data`, ... `unknown`).
    pub sampling_source: String,
    /// Datagrams received since `collector_started`.
    pub datagrams: u64,
    /// Flow records decoded since `collector_started`.
    pub records: u64,
    /// Export lost on the way, from sequence numbers, since `collector_started`.
    pub sequence_lost: u64,
    /// Datagrams, sets or records rejected, every kind, since `collector_started`.
    pub decode_errors: u64,
    /// Kinds of rejection with a non-zero count (`bad_length`, `truncated`, ...).
    pub error_kinds: Vec<String>,
    /// Their counts, in the order of `error_kinds`.
    pub error_counts: Vec<u64>,
    /// Zero-filled bytes after the last set (padding, not errors) since `collector_started`.
    pub padding_bytes: u64,
    /// Export time minus receive time of the last datagram, milliseconds.
    pub clock_skew_ms: i64,
    /// When the collector process whose counters these are started, Unix seconds.
    pub collector_started: u32,
    /// sFlow: the UDP source of the agent's last datagram (the address is the agent address from
    /// inside the datagram); `::` for NetFlow and IPFIX.
    pub udp_source: Ipv6Addr,
    /// sFlow: samples lost in transit (per data source sequence gaps) since `collector_started`.
    pub samples_lost: u64,
    /// sFlow: samples the agent dropped itself since `collector_started`.
    pub agent_drops: u64,
}

impl Default for ExporterRow {
    fn default() -> Self {
        ExporterRow {
            address: Ipv6Addr::UNSPECIFIED,
            name: String::new(),
            last_seen: 0,
            versions: Vec::new(),
            sampling_rate: 1,
            templates: 0,
            options_templates: 0,
            first_seen: 0,
            sampling_source: String::new(),
            datagrams: 0,
            records: 0,
            sequence_lost: 0,
            decode_errors: 0,
            error_kinds: Vec::new(),
            error_counts: Vec::new(),
            padding_bytes: 0,
            clock_skew_ms: 0,
            collector_started: 0,
            udp_source: Ipv6Addr::UNSPECIFIED,
            samples_lost: 0,
            agent_drops: 0,
        }
    }
}

/// What one collector knows about one exporter, as an `exporters` row: `stats` merged over the
/// receive workers, the templates it holds (`options_templates` of them options templates),
/// `first_seen` the earliest first datagram known (from the table, or this process), and
/// `collector_started` the origin of the counters.
pub fn exporter_row(
    address: Ipv6Addr,
    stats: &collector::ExporterStats,
    templates: u32,
    options_templates: u32,
    first_seen_ms: i64,
    collector_started_ms: i64,
) -> ExporterRow {
    let mut error_kinds = Vec::new();
    let mut error_counts = Vec::new();
    for kind in collector::ErrorKind::ALL {
        let n = stats.errors[kind as usize];
        if n > 0 {
            error_kinds.push(kind.as_str().to_string());
            error_counts.push(n);
        }
    }
    ExporterRow {
        address,
        name: String::new(),
        last_seen: ms_to_datetime(stats.last_seen),
        versions: if stats.version == 0 {
            Vec::new()
        } else {
            vec![stats.version]
        },
        sampling_rate: stats.sampling_rate.max(1),
        templates,
        options_templates,
        first_seen: ms_to_datetime(first_seen_ms),
        sampling_source: if stats.sampling_rate == 0 {
            String::new()
        } else {
            stats.sampling_source.as_str().to_string()
        },
        datagrams: stats.datagrams,
        records: stats.records,
        sequence_lost: stats.sequence_lost,
        decode_errors: stats.error_count(),
        error_kinds,
        error_counts,
        padding_bytes: stats.padding_bytes,
        clock_skew_ms: stats.clock_skew_ms,
        collector_started: ms_to_datetime(collector_started_ms),
        udp_source: stats.udp_source.unwrap_or(Ipv6Addr::UNSPECIFIED),
        samples_lost: stats.samples_lost,
        agent_drops: stats.agent_drops,
    }
}

/// One interface of one exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceRow {
    /// Exporter address.
    pub exporter: Ipv6Addr,
    /// ifIndex.
    pub ifindex: u32,
    /// ifName.
    pub name: String,
    /// ifDescr / ifAlias.
    pub description: String,
    /// Speed, bits per second.
    pub speed: u64,
    /// When this was learned, Unix seconds.
    pub last_seen: u32,
    /// `external`, `internal` or empty.
    pub boundary: String,
    /// Provider (interface classification), or empty.
    pub provider: String,
    /// `transit`, `peering`, `ix`, `customer` or empty.
    pub connectivity: String,
    /// Where the name came from: `static`, `options_data`, `snmp`, or empty.
    pub source: String,
}

#[inline]
fn u8_(out: &mut Vec<u8>, v: u8) {
    out.push(v);
}
#[inline]
fn u16_(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[inline]
fn u32_(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[inline]
fn u64_(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[inline]
fn i64_(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}
#[inline]
fn addr(out: &mut Vec<u8>, a: Ipv6Addr) {
    out.extend_from_slice(&a.octets());
}
#[inline]
fn string(out: &mut Vec<u8>, s: &str) {
    leb128(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}
/// A RowBinary length (strings, arrays): unsigned LEB128.
#[inline]
fn leb128(out: &mut Vec<u8>, mut n: u64) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            break;
        }
        out.push(b | 0x80);
    }
}

/// Unix milliseconds to a `DateTime` value (seconds, clamped to the type's range).
#[inline]
pub fn ms_to_datetime(ms: i64) -> u32 {
    let s = ms.div_euclid(1000);
    s.clamp(0, i64::from(u32::MAX)) as u32
}

/// Append one `flows` row.
pub fn encode_flow(out: &mut Vec<u8>, r: &FlowRecord) {
    let un = Ipv6Addr::UNSPECIFIED;
    u32_(out, ms_to_datetime(r.time_received));
    addr(out, r.exporter);
    u32_(out, r.observation_domain);
    u16_(out, r.version);
    i64_(out, r.flow_start.unwrap_or(0));
    i64_(out, r.flow_end.unwrap_or(0));
    addr(out, r.src_addr.unwrap_or(un));
    addr(out, r.dst_addr.unwrap_or(un));
    u16_(out, r.src_port.unwrap_or(0));
    u16_(out, r.dst_port.unwrap_or(0));
    u8_(out, r.protocol.unwrap_or(0));
    u16_(out, r.tcp_flags.unwrap_or(0));
    u8_(out, r.tos.unwrap_or(0));
    u64_(out, r.bytes);
    u64_(out, r.packets);
    u32_(out, r.sampling_rate.max(1));
    string(out, r.sampling_source.as_str());
    u64_(out, r.scaled_bytes());
    u64_(out, r.scaled_packets());
    u32_(out, r.sampler_id.unwrap_or(0));
    u32_(out, r.in_if.unwrap_or(0));
    u32_(out, r.out_if.unwrap_or(0));
    u32_(out, r.src_as.unwrap_or(0));
    u32_(out, r.dst_as.unwrap_or(0));
    u8_(out, r.src_mask.unwrap_or(0));
    u8_(out, r.dst_mask.unwrap_or(0));
    addr(out, r.next_hop.unwrap_or(un));
    u8_(out, r.direction.unwrap_or(255));
    u16_(out, r.vlan.unwrap_or(0));
    u8_(out, r.forwarding_status.unwrap_or(0));
    u8_(out, r.icmp_type.unwrap_or(0));
    u8_(out, r.icmp_code.unwrap_or(0));
    addr(out, r.post_nat_src_addr.unwrap_or(un));
    addr(out, r.post_nat_dst_addr.unwrap_or(un));
    u16_(out, r.post_nat_src_port.unwrap_or(0));
    u16_(out, r.post_nat_dst_port.unwrap_or(0));
    u16_(out, r.service_port());
    u8_(out, r.flags);
}

/// Append one `window_top` row.
pub fn encode_window_top(out: &mut Vec<u8>, r: &WindowTopRow) {
    u32_(out, ms_to_datetime(r.window_start));
    u32_(out, r.window_secs);
    string(out, r.dimension.as_str());
    addr(out, r.key.addr_a);
    addr(out, r.key.addr_b);
    addr(out, r.key.exporter);
    u32_(out, r.key.num);
    u8_(out, r.key.proto);
    u8_(out, u8::from(r.is_other));
    u32_(out, r.rank_bytes);
    u32_(out, r.rank_packets);
    u32_(out, r.rank_flows);
    u64_(out, r.bytes);
    u64_(out, r.packets);
    u64_(out, r.flows);
    u64_(out, r.bytes_unscaled);
    u64_(out, r.packets_unscaled);
    u64_(out, r.max_error);
}

/// Append one `window_totals` row.
pub fn encode_window_totals(out: &mut Vec<u8>, r: &WindowTotalsRow) {
    u32_(out, ms_to_datetime(r.window_start));
    u32_(out, r.window_secs);
    addr(out, r.exporter);
    u64_(out, r.bytes);
    u64_(out, r.packets);
    u64_(out, r.flows);
    u64_(out, r.bytes_unscaled);
    u64_(out, r.packets_unscaled);
    u64_(out, r.late_flows);
}

/// Append one `exporters` row.
pub fn encode_exporter(out: &mut Vec<u8>, r: &ExporterRow) {
    addr(out, r.address);
    string(out, &r.name);
    u32_(out, r.last_seen);
    // Array: LEB128 length, then the elements.
    leb128(out, r.versions.len() as u64);
    for v in &r.versions {
        u16_(out, *v);
    }
    u32_(out, r.sampling_rate);
    u32_(out, r.templates);
    u32_(out, r.options_templates);
    u32_(out, r.first_seen);
    string(out, &r.sampling_source);
    u64_(out, r.datagrams);
    u64_(out, r.records);
    u64_(out, r.sequence_lost);
    u64_(out, r.decode_errors);
    leb128(out, r.error_kinds.len() as u64);
    for k in &r.error_kinds {
        string(out, k);
    }
    leb128(out, r.error_counts.len() as u64);
    for n in &r.error_counts {
        u64_(out, *n);
    }
    u64_(out, r.padding_bytes);
    i64_(out, r.clock_skew_ms);
    u32_(out, r.collector_started);
    addr(out, r.udp_source);
    u64_(out, r.samples_lost);
    u64_(out, r.agent_drops);
}

/// Append one `interfaces` row.
pub fn encode_interface(out: &mut Vec<u8>, r: &InterfaceRow) {
    addr(out, r.exporter);
    u32_(out, r.ifindex);
    string(out, &r.name);
    string(out, &r.description);
    u64_(out, r.speed);
    u32_(out, r.last_seen);
    string(out, &r.boundary);
    string(out, &r.provider);
    string(out, &r.connectivity);
    string(out, &r.source);
}

/// What the enrichment columns are resolved with: the registry the records' ids refer to, and
/// its tables as of this batch.
pub struct EnrichNames<'a> {
    /// The registry (AS names).
    pub registry: &'a enrich::Registry,
    /// Its tables (taken once per batch; ids given out before are always in them).
    pub tables: &'a enrich::Tables,
}

/// Append the enrichment columns of one `flows` row (after `batch_id`): empty strings and zero
/// speeds for what enrichment did not find, or all of them when it is off (`names` = `None`).
pub fn encode_flow_enrichment(out: &mut Vec<u8>, r: &FlowRecord, names: Option<&EnrichNames>) {
    let e = &r.enrichment;
    let Some(n) = names else {
        // 16 empty strings (one zero length byte each), then two zero speeds.
        out.extend_from_slice(&[0u8; 16]);
        u64_(out, 0);
        u64_(out, 0);
        return;
    };
    let t = n.tables;
    let (src, dst) = (t.net(e.src_net), t.net(e.dst_net));
    string(out, net_attr(src, |a| &a.name));
    string(out, net_attr(dst, |a| &a.name));
    string(out, net_attr(src, |a| &a.role));
    string(out, net_attr(dst, |a| &a.role));
    string(out, net_attr(src, |a| &a.site));
    string(out, net_attr(dst, |a| &a.site));
    string(out, collector::Enrichment::country_str(&e.src_country));
    string(out, collector::Enrichment::country_str(&e.dst_country));
    for asn in [r.src_as, r.dst_as] {
        match asn {
            Some(a) if a != 0 => n.registry.with_as_name(a, |s| string(out, s)),
            _ => string(out, ""),
        }
    }
    let (i, o) = (t.iface(e.in_if), t.iface(e.out_if));
    string(out, i.map_or("", |x| &x.name));
    string(out, o.map_or("", |x| &x.name));
    string(out, i.map_or("", |x| x.boundary_str()));
    string(out, o.map_or("", |x| x.boundary_str()));
    string(out, i.map_or("", |x| &x.provider));
    string(out, o.map_or("", |x| &x.provider));
    u64_(out, i.map_or(0, |x| x.speed_mbps.saturating_mul(1_000_000)));
    u64_(out, o.map_or(0, |x| x.speed_mbps.saturating_mul(1_000_000)));
}

/// Append one whole `flows` row as the writer sends it: [`encode_flow`], the batch id,
/// [`encode_flow_enrichment`], then the sFlow columns (`frame_bytes`, `discard_reason`; 0 when
/// the record has none).
pub fn encode_flow_row(
    out: &mut Vec<u8>,
    r: &FlowRecord,
    batch_id: u64,
    names: Option<&EnrichNames>,
) {
    encode_flow(out, r);
    encode_batch_id(out, batch_id);
    encode_flow_enrichment(out, r, names);
    u32_(out, r.frame_bytes.unwrap_or(0));
    u16_(out, r.discard_reason.unwrap_or(0));
}

/// An attribute of a network entry, `""` when there is none.
fn net_attr(
    net: Option<&enrich::NetworkEntry>,
    f: fn(&enrich::NetworkAttrs) -> &Option<std::sync::Arc<str>>,
) -> &str {
    net.and_then(|n| f(&n.attrs).as_deref()).unwrap_or("")
}

/// Append the `label` column of one `window_top` row (after `batch_id`): the text of an
/// enrichment key (country, network name, provider), the AS name for AS dimensions, else empty.
pub fn encode_window_top_label(out: &mut Vec<u8>, r: &WindowTopRow, names: Option<&EnrichNames>) {
    use aggregator::Dimension as D;
    let num = r.key.num;
    match (r.dimension, names) {
        _ if r.is_other => string(out, ""),
        (D::SrcCountry | D::DstCountry, _) => {
            let [_, _, a, b] = num.to_be_bytes();
            string(out, collector::Enrichment::country_str(&[a, b]))
        }
        (D::SrcNet | D::DstNet, Some(n)) => string(out, n.tables.net_name(num)),
        (D::InIfProvider | D::OutIfProvider, Some(n)) => string(out, n.tables.provider(num)),
        (D::SrcAs | D::DstAs, Some(n)) if num != 0 => {
            n.registry.with_as_name(num, |s| string(out, s))
        }
        _ => string(out, ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_leb128_length_prefixed() {
        let mut out = Vec::new();
        string(&mut out, "abc");
        assert_eq!(out, b"\x03abc");
        let long = "x".repeat(300);
        let mut out = Vec::new();
        string(&mut out, &long);
        assert_eq!(&out[..2], &[0xac, 0x02]);
        assert_eq!(out.len(), 302);
    }

    #[test]
    fn negative_and_huge_times_clamp_to_datetime_range() {
        assert_eq!(ms_to_datetime(-5), 0);
        assert_eq!(ms_to_datetime(1_700_000_000_999), 1_700_000_000);
        assert_eq!(ms_to_datetime(i64::MAX), u32::MAX);
    }

    #[test]
    fn flow_row_has_fixed_width_except_sampling_source() {
        let mut out = Vec::new();
        let r = FlowRecord::default();
        encode_flow(&mut out, &r);
        // 6 addresses of 16 bytes, plus "unknown" (1 + 7 bytes) and the fixed-width columns.
        // Fixed-width columns in FLOWS_COLUMNS order, addresses excluded.
        let fixed: usize = [
            4, 4, 2, 8, 8, 2, 2, 1, 2, 1, 8, 8, 4, 8, 8, 4, 4, 4, 4, 4, 1, 1, 1, 2, 1, 1, 1, 2, 2,
            2, 1,
        ]
        .iter()
        .sum();
        assert_eq!(out.len(), 6 * 16 + 8 + fixed);
    }
}
