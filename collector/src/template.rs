//! Templates and their compiled decode plans (RFC 3954 §5.2–5.3, RFC 7011 §3.4).
//!
//! Owns: parsing template records into [`FieldSpec`]s, checking them against the limits, and
//! compiling a data template into a [`Plan`]: a list of steps (offset, length, destination) that a
//! data record runs straight into the [`Scratch`] it is normalised from, with no allocation and no
//! per-field lookup. Options templates keep their field list; options data is rare and takes the
//! general path.
//! Must never: read the clock, allocate while decoding a data record, or trust a length it has not
//! checked.

use std::net::Ipv6Addr;

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::record::FlowRecord;
use crate::wire::{Reader, be_uint};

/// The field length that marks a variable-length field (RFC 7011 §7).
///
/// NetFlow v9 (RFC 3954) defines no variable-length fields, but exporters borrow the IPFIX
/// encoding there too (H3C/HPE Comware NetStream sends its VRF name, IE 236, that way), so v9
/// templates accept it with the same encoding and the same limits.
pub const VARLEN: u16 = 65535;

/// Templates may hold at most this many zero-length fields; more is an attack, not an exporter.
pub const MAX_ZERO_LENGTH_FIELDS: usize = 16;

/// One field specifier of a template: information element, length, enterprise number (0 = IANA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldSpec {
    /// Information element id (without the enterprise bit).
    pub ie: u16,
    /// Field length in bytes, or [`VARLEN`].
    pub len: u16,
    /// Private enterprise number; 0 for IANA elements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pen: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// A vendor field that the configuration maps onto a standard information element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnterpriseMap {
    /// Private enterprise number.
    pub pen: u32,
    /// The vendor's element id.
    pub id: u16,
    /// The IANA element it is decoded as.
    pub as_ie: u16,
}

/// Where a field's value goes. One variant per normalised meaning.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dest {
    /// Not used (skipped).
    Skip,
    Bytes,
    Packets,
    BytesTotal,
    PacketsTotal,
    Protocol,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcAddr,
    DstAddr,
    SrcMask,
    DstMask,
    InIf,
    OutIf,
    InPhysIf,
    OutPhysIf,
    NextHop,
    SrcAs,
    DstAs,
    StartUptime,
    EndUptime,
    StartSecs,
    EndSecs,
    StartMillis,
    EndMillis,
    StartMicrosNtp,
    EndMicrosNtp,
    StartNanosNtp,
    EndNanosNtp,
    StartDeltaMicros,
    EndDeltaMicros,
    SystemInitMillis,
    IcmpTypeCode,
    IcmpType,
    IcmpCode,
    Direction,
    Vlan,
    Dot1qVlan,
    ForwardingStatus,
    PostNatSrcAddr,
    PostNatDstAddr,
    PostNatSrcPort,
    PostNatDstPort,
    SamplingInterval,
    SamplerId,
    SamplerRandomInterval,
    SamplingPacketInterval,
    SamplingPacketSpace,
    SamplingSize,
    SamplingPopulation,
}

/// Map an information element onto where its value goes.
pub fn dest_for(ie: u16) -> Dest {
    match ie {
        1 => Dest::Bytes,
        2 => Dest::Packets,
        85 => Dest::BytesTotal,
        86 => Dest::PacketsTotal,
        4 => Dest::Protocol,
        5 => Dest::Tos,
        6 => Dest::TcpFlags,
        7 => Dest::SrcPort,
        11 => Dest::DstPort,
        8 | 27 => Dest::SrcAddr,
        12 | 28 => Dest::DstAddr,
        9 | 29 => Dest::SrcMask,
        13 | 30 => Dest::DstMask,
        10 => Dest::InIf,
        14 => Dest::OutIf,
        252 => Dest::InPhysIf,
        253 => Dest::OutPhysIf,
        15 | 62 => Dest::NextHop,
        16 => Dest::SrcAs,
        17 => Dest::DstAs,
        22 => Dest::StartUptime,
        21 => Dest::EndUptime,
        150 => Dest::StartSecs,
        151 => Dest::EndSecs,
        152 => Dest::StartMillis,
        153 => Dest::EndMillis,
        154 => Dest::StartMicrosNtp,
        155 => Dest::EndMicrosNtp,
        156 => Dest::StartNanosNtp,
        157 => Dest::EndNanosNtp,
        158 => Dest::StartDeltaMicros,
        159 => Dest::EndDeltaMicros,
        160 => Dest::SystemInitMillis,
        32 | 139 => Dest::IcmpTypeCode,
        176 | 178 => Dest::IcmpType,
        177 | 179 => Dest::IcmpCode,
        61 => Dest::Direction,
        58 => Dest::Vlan,
        243 => Dest::Dot1qVlan,
        89 => Dest::ForwardingStatus,
        225 | 281 => Dest::PostNatSrcAddr,
        226 | 282 => Dest::PostNatDstAddr,
        227 => Dest::PostNatSrcPort,
        228 => Dest::PostNatDstPort,
        34 => Dest::SamplingInterval,
        48 | 302 => Dest::SamplerId,
        50 => Dest::SamplerRandomInterval,
        305 => Dest::SamplingPacketInterval,
        306 => Dest::SamplingPacketSpace,
        309 => Dest::SamplingSize,
        310 => Dest::SamplingPopulation,
        // 0 is reserved (filler in some exporters' templates); like every unknown element it is
        // skipped.
        _ => Dest::Skip,
    }
}

/// One compiled step: read `len` bytes at `offset` in the record and put them in `dest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Offset in the record (fixed-length plans only).
    pub offset: u16,
    /// Field length, or [`VARLEN`].
    pub len: u16,
    /// Destination.
    pub dest: Dest,
}

/// A data template compiled for decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Fixed-length templates: only the steps that write somewhere, with offsets.
    /// Variable-length templates: every field in order (offsets unused).
    pub steps: Vec<Step>,
    /// Record length (fixed), or the minimum record length (variable: one length byte per field).
    pub record_len: usize,
    /// True when a field is variable-length and the slow, sequential path must be taken.
    pub varlen: bool,
}

/// The kind of template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateKind {
    /// A data template, compiled.
    Data(Plan),
    /// An options template: the first `scope_count` fields are scope fields.
    Options {
        /// Number of scope fields at the front of the field list.
        scope_count: usize,
        /// Minimum record length.
        record_len: usize,
    },
}

/// A learned template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// The fields as the exporter sent them (kept for persistence and options decoding).
    pub fields: Vec<FieldSpec>,
    /// Compiled form.
    pub kind: TemplateKind,
    /// When it was last (re)learned, ms.
    pub learned_at: i64,
}

impl Template {
    /// Approximate heap plus inline bytes, for the global template budget.
    pub fn footprint(&self) -> usize {
        let steps = match &self.kind {
            TemplateKind::Data(p) => p.steps.capacity() * std::mem::size_of::<Step>(),
            TemplateKind::Options { .. } => 0,
        };
        std::mem::size_of::<Self>()
            + self.fields.capacity() * std::mem::size_of::<FieldSpec>()
            + steps
            + 32
    }
}

/// Limits applied when a template arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Most fields in one template.
    pub max_fields: usize,
}

/// Read `count` field specifiers (v9: always IANA; IPFIX: enterprise bit plus PEN).
///
/// Both versions accept [`VARLEN`] fields. Field type 0 is reserved; exporters use it as filler
/// (H3C sends 0/1, others 0/0), and it is kept as a field that is skipped. The limits hold for
/// every field whatever its type: `max_fields`, and at most [`MAX_ZERO_LENGTH_FIELDS`] zero-length
/// fields.
pub fn read_fields(
    r: &mut Reader<'_>,
    count: usize,
    ipfix: bool,
    limits: TemplateLimits,
    out: &mut Vec<FieldSpec>,
) -> Result<(), DecodeError> {
    if count == 0 {
        return Err(DecodeError::InvalidTemplate("no fields"));
    }
    if count > limits.max_fields {
        return Err(DecodeError::InvalidTemplate("more fields than allowed"));
    }
    // Each specifier is at least 4 bytes: refuse before allocating for a count the set cannot hold.
    if count * 4 > r.remaining() {
        return Err(DecodeError::Truncated("template field specifiers"));
    }
    out.clear();
    out.reserve_exact(count);
    let mut zero = 0usize;
    for _ in 0..count {
        let (id, len) = match (r.u16(), r.u16()) {
            (Some(id), Some(len)) => (id, len),
            _ => return Err(DecodeError::Truncated("template field specifier")),
        };
        let (ie, pen) = if ipfix && id & 0x8000 != 0 {
            let pen = r.u32().ok_or(DecodeError::Truncated("enterprise number"))?;
            (id & 0x7fff, pen)
        } else {
            (id, 0)
        };
        if len == 0 {
            zero += 1;
            if zero > MAX_ZERO_LENGTH_FIELDS {
                return Err(DecodeError::InvalidTemplate("too many zero-length fields"));
            }
        }
        out.push(FieldSpec { ie, len, pen });
    }
    Ok(())
}

/// The length a record of these fields takes at least (a variable-length field takes one byte).
pub fn min_record_len(fields: &[FieldSpec]) -> usize {
    fields
        .iter()
        .map(|f| {
            if f.len == VARLEN {
                1
            } else {
                usize::from(f.len)
            }
        })
        .sum()
}

/// Compile a data template into a plan.
pub fn compile(fields: &[FieldSpec], enterprise: &[EnterpriseMap]) -> Result<Plan, DecodeError> {
    let record_len = min_record_len(fields);
    if record_len == 0 {
        return Err(DecodeError::InvalidTemplate("records of zero length"));
    }
    if record_len > usize::from(u16::MAX) {
        return Err(DecodeError::InvalidTemplate(
            "record longer than a datagram",
        ));
    }
    let varlen = fields.iter().any(|f| f.len == VARLEN);
    let mut steps = Vec::with_capacity(fields.len());
    let mut offset = 0usize;
    for f in fields {
        let dest = if f.pen == 0 {
            dest_for(f.ie)
        } else {
            enterprise
                .iter()
                .find(|m| m.pen == f.pen && m.id == f.ie)
                .map_or(Dest::Skip, |m| dest_for(m.as_ie))
        };
        if varlen || dest != Dest::Skip {
            steps.push(Step {
                offset: offset as u16,
                len: f.len,
                dest,
            });
        }
        if f.len != VARLEN {
            offset += usize::from(f.len);
        }
    }
    steps.shrink_to_fit();
    Ok(Plan {
        steps,
        record_len,
        varlen,
    })
}

/// The values of one data record before normalisation: the flow record plus what is needed to
/// resolve times and sampling.
#[derive(Clone, Copy, Debug)]
pub struct Scratch {
    /// The record being filled.
    pub rec: FlowRecord,
    /// Presence bits for counters (delta counters win over totals).
    pub have_bytes: bool,
    /// See `have_bytes`.
    pub have_packets: bool,
    /// Total counters, used when delta counters are absent.
    pub bytes_total: Option<u64>,
    /// See `bytes_total`.
    pub packets_total: Option<u64>,
    /// Physical interfaces, used when logical ones are absent.
    pub in_phys: Option<u32>,
    /// See `in_phys`.
    pub out_phys: Option<u32>,
    /// 802.1q VLAN, used when IE 58 is absent.
    pub dot1q: Option<u16>,
    /// sysUptime-relative start, ms.
    pub start_uptime: Option<u32>,
    /// sysUptime-relative end, ms.
    pub end_uptime: Option<u32>,
    /// Start microseconds before export.
    pub start_delta_us: Option<u32>,
    /// End microseconds before export.
    pub end_delta_us: Option<u32>,
    /// systemInitTimeMilliseconds.
    pub system_init: Option<i64>,
    /// ICMP type/code from IE 32/139.
    pub icmp_type_code: Option<u16>,
    /// In-record samplingInterval (34).
    pub sampling_interval: Option<u64>,
    /// In-record samplerRandomInterval (50).
    pub random_interval: Option<u64>,
    /// In-record samplingPacketInterval (305).
    pub packet_interval: Option<u64>,
    /// In-record samplingPacketSpace (306).
    pub packet_space: Option<u64>,
    /// In-record samplingSize (309).
    pub sampling_size: Option<u64>,
    /// In-record samplingPopulation (310).
    pub sampling_population: Option<u64>,
    /// A field had a length the decoder cannot interpret.
    pub bad_field: bool,
}

impl Scratch {
    /// A scratch whose record starts as `base` (the per-datagram fields already set).
    #[inline]
    pub fn new(base: FlowRecord) -> Self {
        Scratch {
            rec: base,
            have_bytes: false,
            have_packets: false,
            bytes_total: None,
            packets_total: None,
            in_phys: None,
            out_phys: None,
            dot1q: None,
            start_uptime: None,
            end_uptime: None,
            start_delta_us: None,
            end_delta_us: None,
            system_init: None,
            icmp_type_code: None,
            sampling_interval: None,
            random_interval: None,
            packet_interval: None,
            packet_space: None,
            sampling_size: None,
            sampling_population: None,
            bad_field: false,
        }
    }
}

const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Convert an NTP-format timestamp (RFC 7011 §6.1.9–10) to Unix ms.
#[inline]
fn ntp_to_unix_ms(v: &[u8]) -> Option<i64> {
    if v.len() != 8 {
        return None;
    }
    let secs = i64::from(u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
    let frac = u64::from(u32::from_be_bytes([v[4], v[5], v[6], v[7]]));
    Some((secs - NTP_UNIX_OFFSET_SECS) * 1000 + ((frac * 1000) >> 32) as i64)
}

#[inline(always)]
fn addr(v: &[u8]) -> Option<Ipv6Addr> {
    match *v {
        [a, b, c, d] => Some(Ipv6Addr::from_bits(
            0xffff_0000_0000 | u128::from(u32::from_be_bytes([a, b, c, d])),
        )),
        _ => <[u8; 16]>::try_from(v).ok().map(Ipv6Addr::from),
    }
}

/// Set an address field. When a template carries both the IPv4 and the IPv6 element for the same
/// meaning, the one that is not unspecified (0.0.0.0 or ::) wins, whatever their order.
#[inline(always)]
fn set_addr(slot: &mut Option<Ipv6Addr>, v: &[u8], bad: &mut bool) {
    let Some(a) = addr(v) else {
        *bad = true;
        return;
    };
    // The common case, one element per meaning, takes the first branch only.
    if slot.is_none() || !(a.is_unspecified() || a == Ipv6Addr::from_bits(0xffff_0000_0000)) {
        *slot = Some(a);
    }
}

/// Put one field value in the scratch.
#[inline(always)]
pub fn apply(dest: Dest, v: &[u8], s: &mut Scratch) {
    let n = || be_uint(v);
    let r = &mut s.rec;
    match dest {
        Dest::Skip => {}
        Dest::Bytes => {
            r.bytes = n();
            s.have_bytes = true;
        }
        Dest::Packets => {
            r.packets = n();
            s.have_packets = true;
        }
        Dest::BytesTotal => s.bytes_total = Some(n()),
        Dest::PacketsTotal => s.packets_total = Some(n()),
        Dest::Protocol => r.protocol = Some(n() as u8),
        Dest::Tos => r.tos = Some(n() as u8),
        // RFC 7125: the top four bits (the TCP data offset) must be ignored by collectors.
        Dest::TcpFlags => r.tcp_flags = Some(n() as u16 & 0x0fff),
        Dest::SrcPort => r.src_port = Some(n() as u16),
        Dest::DstPort => r.dst_port = Some(n() as u16),
        Dest::SrcAddr => set_addr(&mut r.src_addr, v, &mut s.bad_field),
        Dest::DstAddr => set_addr(&mut r.dst_addr, v, &mut s.bad_field),
        Dest::NextHop => set_addr(&mut r.next_hop, v, &mut s.bad_field),
        Dest::PostNatSrcAddr => set_addr(&mut r.post_nat_src_addr, v, &mut s.bad_field),
        Dest::PostNatDstAddr => set_addr(&mut r.post_nat_dst_addr, v, &mut s.bad_field),
        Dest::SrcMask => r.src_mask = Some(n() as u8),
        Dest::DstMask => r.dst_mask = Some(n() as u8),
        Dest::InIf => r.in_if = Some(n() as u32),
        Dest::OutIf => r.out_if = Some(n() as u32),
        Dest::InPhysIf => s.in_phys = Some(n() as u32),
        Dest::OutPhysIf => s.out_phys = Some(n() as u32),
        Dest::SrcAs => r.src_as = Some(n() as u32),
        Dest::DstAs => r.dst_as = Some(n() as u32),
        Dest::StartUptime => s.start_uptime = Some(n() as u32),
        Dest::EndUptime => s.end_uptime = Some(n() as u32),
        Dest::StartSecs => r.flow_start = Some((n() as i64).saturating_mul(1000)),
        Dest::EndSecs => r.flow_end = Some((n() as i64).saturating_mul(1000)),
        Dest::StartMillis => r.flow_start = Some(n() as i64),
        Dest::EndMillis => r.flow_end = Some(n() as i64),
        Dest::StartMicrosNtp | Dest::StartNanosNtp => match ntp_to_unix_ms(v) {
            Some(t) => r.flow_start = Some(t),
            None => s.bad_field = true,
        },
        Dest::EndMicrosNtp | Dest::EndNanosNtp => match ntp_to_unix_ms(v) {
            Some(t) => r.flow_end = Some(t),
            None => s.bad_field = true,
        },
        Dest::StartDeltaMicros => s.start_delta_us = Some(n() as u32),
        Dest::EndDeltaMicros => s.end_delta_us = Some(n() as u32),
        Dest::SystemInitMillis => s.system_init = Some(n() as i64),
        Dest::IcmpTypeCode => s.icmp_type_code = Some(n() as u16),
        Dest::IcmpType => r.icmp_type = Some(n() as u8),
        Dest::IcmpCode => r.icmp_code = Some(n() as u8),
        Dest::Direction => r.direction = Some(n() as u8),
        Dest::Vlan => r.vlan = Some(n() as u16 & 0x0fff),
        Dest::Dot1qVlan => s.dot1q = Some(n() as u16 & 0x0fff),
        Dest::ForwardingStatus => r.forwarding_status = Some(n() as u8),
        Dest::PostNatSrcPort => r.post_nat_src_port = Some(n() as u16),
        Dest::PostNatDstPort => r.post_nat_dst_port = Some(n() as u16),
        Dest::SamplingInterval => s.sampling_interval = Some(n()),
        Dest::SamplerId => r.sampler_id = Some(n() as u32),
        Dest::SamplerRandomInterval => s.random_interval = Some(n()),
        Dest::SamplingPacketInterval => s.packet_interval = Some(n()),
        Dest::SamplingPacketSpace => s.packet_space = Some(n()),
        Dest::SamplingSize => s.sampling_size = Some(n()),
        Dest::SamplingPopulation => s.sampling_population = Some(n()),
    }
}

/// Run a plan over one record's bytes. Returns the bytes the record used, or `None` when the
/// record does not fit in `data` (the rest of the set is then padding or truncation).
#[inline]
pub fn run_plan(plan: &Plan, data: &[u8], s: &mut Scratch) -> Option<usize> {
    if !plan.varlen {
        let rec = data.get(..plan.record_len)?;
        for step in &plan.steps {
            let start = usize::from(step.offset);
            if let Some(v) = rec.get(start..start + usize::from(step.len)) {
                apply(step.dest, v, s);
            }
        }
        return Some(plan.record_len);
    }
    let mut r = Reader::new(data);
    for step in &plan.steps {
        let v = if step.len == VARLEN {
            r.varlen()?
        } else {
            r.take(usize::from(step.len))?
        };
        apply(step.dest, v, s);
    }
    Some(data.len() - r.remaining())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ie: u16, len: u16) -> FieldSpec {
        FieldSpec { ie, len, pen: 0 }
    }

    const LIMITS: TemplateLimits = TemplateLimits { max_fields: 256 };

    #[test]
    fn compiles_a_fixed_template_into_steps_with_offsets_and_drops_unused_fields() {
        let fields = [spec(8, 4), spec(999, 3), spec(1, 8), spec(2, 4)];
        let plan = compile(&fields, &[]).unwrap();
        assert!(!plan.varlen);
        assert_eq!(plan.record_len, 19);
        assert_eq!(
            plan.steps,
            vec![
                Step {
                    offset: 0,
                    len: 4,
                    dest: Dest::SrcAddr
                },
                Step {
                    offset: 7,
                    len: 8,
                    dest: Dest::Bytes
                },
                Step {
                    offset: 15,
                    len: 4,
                    dest: Dest::Packets
                },
            ]
        );
    }

    #[test]
    fn rejects_template_of_only_zero_length_fields() {
        assert_eq!(
            compile(&[spec(1, 0), spec(2, 0)], &[]),
            Err(DecodeError::InvalidTemplate("records of zero length"))
        );
    }

    #[test]
    fn rejects_template_with_hundreds_of_zero_length_fields() {
        let mut bytes = Vec::new();
        for _ in 0..300 {
            bytes.extend_from_slice(&[0, 1, 0, 0]);
        }
        let mut out = Vec::new();
        let err = read_fields(&mut Reader::new(&bytes), 300, false, LIMITS, &mut out);
        assert_eq!(
            err,
            Err(DecodeError::InvalidTemplate("more fields than allowed"))
        );
        let err = read_fields(
            &mut Reader::new(&bytes),
            300,
            false,
            TemplateLimits { max_fields: 1000 },
            &mut out,
        );
        assert_eq!(
            err,
            Err(DecodeError::InvalidTemplate("too many zero-length fields"))
        );
    }

    #[test]
    fn reads_enterprise_specifiers_and_maps_them_only_when_configured() {
        // IE 1 (4 bytes), enterprise field 0x8000|5 len 2 PEN 29305, then IE 2 (4 bytes)
        let bytes = [0, 1, 0, 4, 0x80, 5, 0, 2, 0, 0, 0x72, 0x79, 0, 2, 0, 4];
        let mut out = Vec::new();
        read_fields(&mut Reader::new(&bytes), 3, true, LIMITS, &mut out).unwrap();
        assert_eq!(
            out[1],
            FieldSpec {
                ie: 5,
                len: 2,
                pen: 29305
            }
        );
        let plan = compile(&out, &[]).unwrap();
        assert_eq!(plan.steps.len(), 2, "unmapped enterprise field is skipped");
        let map = [EnterpriseMap {
            pen: 29305,
            id: 5,
            as_ie: 7,
        }];
        let plan = compile(&out, &map).unwrap();
        assert_eq!(
            plan.steps[1],
            Step {
                offset: 4,
                len: 2,
                dest: Dest::SrcPort
            }
        );
    }

    #[test]
    fn accepts_variable_length_and_type_0_fields_in_netflow_v9() {
        // IE 236 (VRF name) variable length, then the reserved type 0 as a 1-byte filler.
        let bytes = [0, 236, 0xff, 0xff, 0, 0, 0, 1];
        let mut out = Vec::new();
        read_fields(&mut Reader::new(&bytes), 2, false, LIMITS, &mut out).unwrap();
        assert_eq!(out, vec![spec(236, VARLEN), spec(0, 1)]);
        let plan = compile(&out, &[]).unwrap();
        assert!(plan.varlen);
        assert_eq!(plan.record_len, 2);
        assert!(plan.steps.iter().all(|s| s.dest == Dest::Skip));
    }

    #[test]
    fn runs_a_variable_length_plan_sequentially() {
        // IE 82 (interfaceName, varlen), IE 1 (2 bytes)
        let plan = compile(&[spec(82, VARLEN), spec(1, 2)], &[]).unwrap();
        assert!(plan.varlen);
        assert_eq!(plan.record_len, 3);
        let data = [3, b'e', b't', b'h', 0x01, 0x00, 0xee];
        let mut s = Scratch::new(FlowRecord::default());
        assert_eq!(run_plan(&plan, &data, &mut s), Some(6));
        assert_eq!(s.rec.bytes, 256);
        let mut s = Scratch::new(FlowRecord::default());
        assert_eq!(run_plan(&plan, &data[..5], &mut s), None);
    }

    #[test]
    fn reduced_size_counters_and_ntp_times_decode() {
        let mut s = Scratch::new(FlowRecord::default());
        apply(Dest::Bytes, &[0x01, 0x02, 0x03], &mut s);
        assert_eq!(s.rec.bytes, 0x010203);
        // 2026-01-01T00:00:00Z = 1767225600 Unix = 3976214400 NTP, plus half a second.
        let ntp = [0xED, 0x00, 0x37, 0x80, 0x80, 0, 0, 0];
        apply(Dest::StartNanosNtp, &ntp, &mut s);
        assert_eq!(s.rec.flow_start, Some(1_767_225_600_500));
        apply(Dest::SrcAddr, &[1, 2, 3], &mut s);
        assert!(s.bad_field);
    }
}
