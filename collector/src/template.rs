//! Templates and their compiled decode plans (RFC 3954 §5.2–5.3, RFC 7011 §3.4).
//!
//! Owns: parsing template records into [`FieldSpec`]s, checking them against the limits, and
//! compiling a data template into a [`Plan`]: operations (where a value is, its width, where it
//! goes) that a data set runs one at a time across its records, and the [`Facts`] every record of
//! the template shares (how its times and sampling rate are found, which fields stand in for
//! absent ones), resolved once here rather than per record. Options templates keep their field
//! list; options data is rare and takes the general path.
//! Must never: read the clock, allocate while decoding a data record, or trust a length it has not
//! checked.

use serde::{Deserialize, Serialize};

use crate::error::DecodeError;
use crate::wire::Reader;

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

/// How a fixed-length field is read: the widths that have a reader of their own, and the rest
/// (reduced-size encodings of odd widths, and fields longer than 8 bytes, which keep their last 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Width {
    /// 1 byte.
    W1,
    /// 2 bytes.
    W2,
    /// 4 bytes.
    W4,
    /// 8 bytes.
    W8,
    /// 16 bytes (IPv6 addresses; as a number, the last 8 bytes).
    W16,
    /// Any other length (0, 3, 5–7, 9–15, over 16).
    Other(u16),
}

impl Width {
    /// The width of a fixed-length field of `len` bytes.
    pub fn of(len: u16) -> Width {
        match len {
            1 => Width::W1,
            2 => Width::W2,
            4 => Width::W4,
            8 => Width::W8,
            16 => Width::W16,
            n => Width::Other(n),
        }
    }
}

/// Where an operation reads its value in a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Src {
    /// A fixed-length field at `offset` among the record's fixed-length bytes. In a fixed-length
    /// template that is the offset in the record; in a variable-length one, the fixed-length
    /// fields are packed together in template order and the offset is among those.
    Fixed {
        /// Offset among the fixed-length bytes.
        offset: u16,
        /// Field width.
        width: Width,
    },
    /// The `n`th kept variable-length field of the record (see [`Segment::Var`]).
    Var(u16),
}

/// An address field of the record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddrField {
    /// `src_addr`.
    Src,
    /// `dst_addr`.
    Dst,
    /// `next_hop`.
    NextHop,
    /// `post_nat_src_addr`.
    PostNatSrc,
    /// `post_nat_dst_addr`.
    PostNatDst,
}

/// What an operation does with its value: a [`Dest`] after the template's own precedence rules
/// are resolved (a total counter where no delta counter is present, a physical interface where no
/// logical one is, ICMP type and code from IE 32/139 where IE 176–179 are absent), so that no
/// record needs to decide them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    Bytes,
    Packets,
    Protocol,
    Tos,
    TcpFlags,
    SrcPort,
    DstPort,
    SrcMask,
    DstMask,
    InIf,
    OutIf,
    SrcAs,
    DstAs,
    StartSecs,
    EndSecs,
    StartMillis,
    EndMillis,
    StartUptime,
    EndUptime,
    StartDeltaMicros,
    EndDeltaMicros,
    SystemInitMillis,
    /// IE 32/139 gives both ICMP type and code.
    IcmpTypeCode,
    /// IE 32/139 gives the type only (IE 177/179 gives the code).
    IcmpTypeOfTypeCode,
    /// IE 32/139 gives the code only (IE 176/178 gives the type).
    IcmpCodeOfTypeCode,
    IcmpType,
    IcmpCode,
    Direction,
    Vlan,
    ForwardingStatus,
    PostNatSrcPort,
    PostNatDstPort,
    SamplerId,
    SamplingInterval,
    SamplerRandomInterval,
    SamplingPacketInterval,
    SamplingPacketSpace,
    SamplingSize,
    SamplingPopulation,
    /// An address (4 or 16 bytes). When a template carries both the IPv4 and the IPv6 element
    /// for one meaning, the one that is not unspecified wins, whatever their order.
    Addr(AddrField),
    /// Flow start as an NTP timestamp (8 bytes).
    StartNtp,
    /// Flow end as an NTP timestamp (8 bytes).
    EndNtp,
}

/// One operation of a plan: read a value, put it somewhere. Six bytes, so that a plan costs
/// the template budget no more than the steps it replaced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Op {
    /// Offset among the fixed-length bytes, or the index of a kept variable-length value.
    offset: u16,
    /// Field length, or [`VARLEN`] for a variable-length value.
    len: u16,
    /// Where the value goes.
    pub target: Target,
}

impl Op {
    /// A fixed-length field of `len` bytes (not [`VARLEN`]) at `offset` among the fixed-length
    /// bytes.
    pub fn fixed(offset: u16, len: u16, target: Target) -> Op {
        Op {
            offset,
            len,
            target,
        }
    }

    /// The `n`th kept variable-length value.
    pub fn var(n: u16, target: Target) -> Op {
        Op {
            offset: n,
            len: VARLEN,
            target,
        }
    }

    /// Where the value is.
    #[inline]
    pub fn src(&self) -> Src {
        if self.len == VARLEN {
            Src::Var(self.offset)
        } else {
            Src::Fixed {
                offset: self.offset,
                width: Width::of(self.len),
            }
        }
    }
}

/// One part of a variable-length template's record layout, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Consecutive fixed-length fields, this many bytes.
    Fixed(u32),
    /// A variable-length field; `Some(n)` when an operation reads it as [`Src::Var`] `n`.
    Var(Option<u16>),
}

/// What fills a flow time that no field of the record gives directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeFallback {
    /// sysUptime-relative milliseconds (IE 21/22).
    Uptime,
    /// Microseconds before export (IE 158/159).
    DeltaMicros,
    /// Nothing: the time stays unset.
    None,
}

/// Facts of a data template that every one of its records shares, resolved when it is compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Facts {
    /// A fixed-length field always gives the flow start directly (seconds, ms, NTP).
    pub start_direct: bool,
    /// What gives the flow start otherwise.
    pub start_fallback: TimeFallback,
    /// A fixed-length field always gives the flow end directly.
    pub end_direct: bool,
    /// What gives the flow end otherwise.
    pub end_fallback: TimeFallback,
    /// The record carries systemInitTimeMilliseconds (IE 160).
    pub system_init: bool,
    /// In-record sampling elements present: bit 0 samplingInterval (34), 1 samplerRandomInterval
    /// (50), 2 samplingPacketInterval (305), 3 samplingPacketSpace (306), 4 samplingSize (309),
    /// 5 samplingPopulation (310).
    pub rate_fields: u8,
    /// The record names its sampler (IE 48/302).
    pub sampler_id: bool,
    /// ICMP type and code come from the destination port when the protocol is ICMP (no ICMP
    /// element in the template, a destination port and a protocol are).
    pub icmp_from_port: bool,
    /// Every record has a field of a length its meaning cannot take.
    pub bad_every_record: bool,
    /// A variable-length field goes to an address or a time, so its length is checked per record.
    pub checked_per_record: bool,
}

/// Bits of [`Facts::rate_fields`].
pub mod rate_field {
    /// samplingInterval (34).
    pub const INTERVAL: u8 = 1 << 0;
    /// samplerRandomInterval (50).
    pub const RANDOM: u8 = 1 << 1;
    /// samplingPacketInterval (305).
    pub const PACKET_INTERVAL: u8 = 1 << 2;
    /// samplingPacketSpace (306).
    pub const PACKET_SPACE: u8 = 1 << 3;
    /// samplingSize (309).
    pub const SIZE: u8 = 1 << 4;
    /// samplingPopulation (310).
    pub const POPULATION: u8 = 1 << 5;
}

/// A data template compiled for decoding: a list of operations that a data set runs one at a
/// time across its records (each operation's reader specialised by width), and the facts its
/// records share. Kept small (48 bytes, 6 per operation): templates are charged to the template
/// budget by their footprint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The operations, in template order (a later field of the same meaning overwrites an earlier
    /// one, as the fields are read in order).
    pub ops: Box<[Op]>,
    /// Record length (fixed), or the minimum record length (variable: one length byte per field).
    pub record_len: u16,
    /// Bytes of fixed-length fields in one record (the record length when fixed).
    pub fixed_len: u16,
    /// Variable-length templates: the record layout, whose records are first located one by
    /// one. Empty for fixed-length templates.
    pub segments: Box<[Segment]>,
    /// Variable-length fields an operation reads.
    pub var_values: u16,
    /// What every record shares.
    pub facts: Facts,
}

impl Plan {
    /// True when a field is variable-length.
    #[inline]
    pub fn varlen(&self) -> bool {
        !self.segments.is_empty()
    }

    /// Record length (fixed), or the minimum record length.
    #[inline]
    pub fn record_len(&self) -> usize {
        usize::from(self.record_len)
    }
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
    pub fields: Box<[FieldSpec]>,
    /// Compiled form.
    pub kind: TemplateKind,
    /// When it was last (re)learned, ms.
    pub learned_at: i64,
}

impl Template {
    /// Approximate heap plus inline bytes, for the global template budget.
    pub fn footprint(&self) -> usize {
        let steps = match &self.kind {
            TemplateKind::Data(p) => {
                std::mem::size_of_val::<[Op]>(&p.ops)
                    + std::mem::size_of_val::<[Segment]>(&p.segments)
            }
            TemplateKind::Options { .. } => 0,
        };
        std::mem::size_of::<Self>()
            + std::mem::size_of_val::<[FieldSpec]>(&self.fields)
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

// Every meaning has a bit in a u64.
const _: () = assert!((Dest::SamplingPopulation as u8) < 64);

/// One bit per [`Dest`], for the set of meanings a template carries.
#[inline]
fn bit(d: Dest) -> u64 {
    1u64 << (d as u8)
}

/// Compile a data template into a plan: resolve, once for every record of the template, which
/// field fills which part of the record and how each time and rate will be found.
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
    let dest_of = |f: &FieldSpec| {
        if f.pen == 0 {
            dest_for(f.ie)
        } else {
            enterprise
                .iter()
                .find(|m| m.pen == f.pen && m.id == f.ie)
                .map_or(Dest::Skip, |m| dest_for(m.as_ie))
        }
    };
    // The meanings the template carries, for the precedence rules resolved here.
    let present = fields.iter().fold(0u64, |m, f| m | bit(dest_of(f)));
    let has = |d: Dest| present & bit(d) != 0;
    let varlen = fields.iter().any(|f| f.len == VARLEN);

    let mut ops = Vec::with_capacity(fields.len());
    let mut segments = Vec::new();
    let mut offset = 0usize;
    let mut var_values = 0u16;
    let mut start_direct = false;
    let mut end_direct = false;
    let mut bad_every_record = false;
    let mut checked_per_record = false;
    for f in fields {
        let target = target_for(dest_of(f), &has);
        if f.len == VARLEN {
            let keep = target.map(|target| {
                let n = var_values;
                var_values += 1;
                ops.push(Op::var(n, target));
                if matches!(target, Target::Addr(_) | Target::StartNtp | Target::EndNtp) {
                    checked_per_record = true;
                }
                n
            });
            segments.push(Segment::Var(keep));
            continue;
        }
        if let Some(target) = target {
            let fits = match target {
                Target::Addr(_) => f.len == 4 || f.len == 16,
                Target::StartNtp | Target::EndNtp => f.len == 8,
                _ => true,
            };
            if fits {
                match target {
                    Target::StartSecs | Target::StartMillis | Target::StartNtp => {
                        start_direct = true
                    }
                    Target::EndSecs | Target::EndMillis | Target::EndNtp => end_direct = true,
                    _ => {}
                }
                ops.push(Op::fixed(offset as u16, f.len, target));
            } else {
                bad_every_record = true;
            }
        }
        match segments.last_mut() {
            Some(Segment::Fixed(n)) => *n += u32::from(f.len),
            _ => segments.push(Segment::Fixed(u32::from(f.len))),
        }
        offset += usize::from(f.len);
    }
    if !varlen {
        segments.clear();
    }
    let fallback = |uptime: Dest, delta: Dest| {
        if has(uptime) {
            TimeFallback::Uptime
        } else if has(delta) {
            TimeFallback::DeltaMicros
        } else {
            TimeFallback::None
        }
    };
    let rate_fields = [
        (Dest::SamplingInterval, rate_field::INTERVAL),
        (Dest::SamplerRandomInterval, rate_field::RANDOM),
        (Dest::SamplingPacketInterval, rate_field::PACKET_INTERVAL),
        (Dest::SamplingPacketSpace, rate_field::PACKET_SPACE),
        (Dest::SamplingSize, rate_field::SIZE),
        (Dest::SamplingPopulation, rate_field::POPULATION),
    ]
    .iter()
    .filter(|(d, _)| has(*d))
    .fold(0, |m, (_, b)| m | b);
    let facts = Facts {
        start_direct,
        start_fallback: fallback(Dest::StartUptime, Dest::StartDeltaMicros),
        end_direct,
        end_fallback: fallback(Dest::EndUptime, Dest::EndDeltaMicros),
        system_init: has(Dest::SystemInitMillis),
        rate_fields,
        sampler_id: has(Dest::SamplerId),
        icmp_from_port: !has(Dest::IcmpTypeCode)
            && !has(Dest::IcmpType)
            && has(Dest::DstPort)
            && has(Dest::Protocol),
        bad_every_record,
        checked_per_record,
    };
    Ok(Plan {
        ops: ops.into_boxed_slice(),
        // Both checked above: at most u16::MAX.
        record_len: record_len as u16,
        fixed_len: offset as u16,
        segments: segments.into_boxed_slice(),
        var_values,
        facts,
    })
}

/// What a field of meaning `dest` does in a template that carries the meanings `has` says:
/// `None` when it is unused (unknown, or outranked by another field of the template).
fn target_for(dest: Dest, has: &impl Fn(Dest) -> bool) -> Option<Target> {
    Some(match dest {
        Dest::Skip => return None,
        Dest::Bytes => Target::Bytes,
        Dest::Packets => Target::Packets,
        // Delta counters win over totals.
        Dest::BytesTotal if !has(Dest::Bytes) => Target::Bytes,
        Dest::PacketsTotal if !has(Dest::Packets) => Target::Packets,
        Dest::BytesTotal | Dest::PacketsTotal => return None,
        Dest::Protocol => Target::Protocol,
        Dest::Tos => Target::Tos,
        Dest::TcpFlags => Target::TcpFlags,
        Dest::SrcPort => Target::SrcPort,
        Dest::DstPort => Target::DstPort,
        Dest::SrcAddr => Target::Addr(AddrField::Src),
        Dest::DstAddr => Target::Addr(AddrField::Dst),
        Dest::SrcMask => Target::SrcMask,
        Dest::DstMask => Target::DstMask,
        Dest::InIf => Target::InIf,
        Dest::OutIf => Target::OutIf,
        // Physical interfaces stand in for absent logical ones.
        Dest::InPhysIf if !has(Dest::InIf) => Target::InIf,
        Dest::OutPhysIf if !has(Dest::OutIf) => Target::OutIf,
        Dest::InPhysIf | Dest::OutPhysIf => return None,
        Dest::NextHop => Target::Addr(AddrField::NextHop),
        Dest::SrcAs => Target::SrcAs,
        Dest::DstAs => Target::DstAs,
        Dest::StartUptime => Target::StartUptime,
        Dest::EndUptime => Target::EndUptime,
        Dest::StartSecs => Target::StartSecs,
        Dest::EndSecs => Target::EndSecs,
        Dest::StartMillis => Target::StartMillis,
        Dest::EndMillis => Target::EndMillis,
        Dest::StartMicrosNtp | Dest::StartNanosNtp => Target::StartNtp,
        Dest::EndMicrosNtp | Dest::EndNanosNtp => Target::EndNtp,
        Dest::StartDeltaMicros => Target::StartDeltaMicros,
        Dest::EndDeltaMicros => Target::EndDeltaMicros,
        Dest::SystemInitMillis => Target::SystemInitMillis,
        // IE 176-179 win over the type and code packed in IE 32/139.
        Dest::IcmpTypeCode => match (has(Dest::IcmpType), has(Dest::IcmpCode)) {
            (false, false) => Target::IcmpTypeCode,
            (false, true) => Target::IcmpTypeOfTypeCode,
            (true, false) => Target::IcmpCodeOfTypeCode,
            (true, true) => return None,
        },
        Dest::IcmpType => Target::IcmpType,
        Dest::IcmpCode => Target::IcmpCode,
        Dest::Direction => Target::Direction,
        Dest::Vlan => Target::Vlan,
        // 802.1q VLAN stands in for an absent IE 58.
        Dest::Dot1qVlan if !has(Dest::Vlan) => Target::Vlan,
        Dest::Dot1qVlan => return None,
        Dest::ForwardingStatus => Target::ForwardingStatus,
        Dest::PostNatSrcAddr => Target::Addr(AddrField::PostNatSrc),
        Dest::PostNatDstAddr => Target::Addr(AddrField::PostNatDst),
        Dest::PostNatSrcPort => Target::PostNatSrcPort,
        Dest::PostNatDstPort => Target::PostNatDstPort,
        Dest::SamplingInterval => Target::SamplingInterval,
        Dest::SamplerId => Target::SamplerId,
        Dest::SamplerRandomInterval => Target::SamplerRandomInterval,
        Dest::SamplingPacketInterval => Target::SamplingPacketInterval,
        Dest::SamplingPacketSpace => Target::SamplingPacketSpace,
        Dest::SamplingSize => Target::SamplingSize,
        Dest::SamplingPopulation => Target::SamplingPopulation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ie: u16, len: u16) -> FieldSpec {
        FieldSpec { ie, len, pen: 0 }
    }

    const LIMITS: TemplateLimits = TemplateLimits { max_fields: 256 };

    fn fixed(offset: u16, len: u16, target: Target) -> Op {
        Op::fixed(offset, len, target)
    }

    #[test]
    fn compiles_a_fixed_template_into_width_specialised_ops_and_drops_unused_fields() {
        let fields = [spec(8, 4), spec(999, 3), spec(1, 8), spec(2, 4), spec(7, 2)];
        let plan = compile(&fields, &[]).unwrap();
        assert!(!plan.varlen());
        assert_eq!((plan.record_len, plan.fixed_len), (21, 21));
        assert_eq!(
            *plan.ops,
            [
                fixed(0, 4, Target::Addr(AddrField::Src)),
                fixed(7, 8, Target::Bytes),
                fixed(15, 4, Target::Packets),
                fixed(19, 2, Target::SrcPort),
            ]
        );
        assert_eq!(
            plan.ops[1].src(),
            Src::Fixed {
                offset: 7,
                width: Width::W8
            }
        );
        assert!(plan.segments.is_empty());
        assert_eq!(
            std::mem::size_of::<Op>(),
            6,
            "a plan costs what its steps did"
        );
        assert_eq!(std::mem::size_of::<Plan>(), 48);
        assert!(!plan.facts.bad_every_record && !plan.facts.checked_per_record);
    }

    #[test]
    fn resolves_precedence_times_and_sampling_once_per_template() {
        let fields = [
            spec(85, 8),  // octetTotalCount: outranked by the delta counter
            spec(1, 4),   // octetDeltaCount
            spec(86, 8),  // packetTotalCount: stands in for the absent delta
            spec(252, 4), // ingressPhysicalInterface: stands in for the absent IE 10
            spec(14, 4),  // egressInterface
            spec(253, 4), // egressPhysicalInterface: outranked by IE 14
            spec(22, 4),  // flowStartSysUpTime
            spec(153, 8), // flowEndMilliseconds
            spec(32, 2),  // icmpTypeCodeIPv4: only the type, IE 177 gives the code
            spec(177, 1), // icmpCodeIPv4
            spec(34, 4),  // samplingInterval
            spec(48, 1),  // samplerId
            spec(4, 1),   // protocol
            spec(11, 2),  // destinationTransportPort
        ];
        let plan = compile(&fields, &[]).unwrap();
        let targets: Vec<Target> = plan.ops.iter().map(|o| o.target).collect();
        assert_eq!(
            targets,
            vec![
                Target::Bytes,
                Target::Packets,
                Target::InIf,
                Target::OutIf,
                Target::StartUptime,
                Target::EndMillis,
                Target::IcmpTypeOfTypeCode,
                Target::IcmpCode,
                Target::SamplingInterval,
                Target::SamplerId,
                Target::Protocol,
                Target::DstPort,
            ]
        );
        let f = plan.facts;
        assert!(!f.start_direct && f.end_direct);
        assert_eq!(
            (f.start_fallback, f.end_fallback),
            (TimeFallback::Uptime, TimeFallback::None)
        );
        assert_eq!(f.rate_fields, rate_field::INTERVAL);
        assert!(f.sampler_id && !f.system_init);
        assert!(!f.icmp_from_port, "IE 32 is in the template");

        let plan = compile(&[spec(4, 1), spec(11, 2), spec(159, 4)], &[]).unwrap();
        assert!(plan.facts.icmp_from_port);
        assert_eq!(plan.facts.end_fallback, TimeFallback::DeltaMicros);
        assert_eq!(plan.facts.rate_fields, 0);
    }

    #[test]
    fn lengths_a_meaning_cannot_take_are_marked_once_or_checked_per_record() {
        // A 3-byte address and a 4-byte NTP time: no op, every record counted.
        let plan = compile(&[spec(8, 3), spec(156, 4), spec(1, 4)], &[]).unwrap();
        assert_eq!(*plan.ops, [fixed(7, 4, Target::Bytes)]);
        assert!(plan.facts.bad_every_record);
        assert!(!plan.facts.start_direct, "a bad time field gives no time");
        // A variable-length address is checked record by record.
        let plan = compile(&[spec(8, VARLEN), spec(1, 4)], &[]).unwrap();
        assert!(plan.facts.checked_per_record && !plan.facts.bad_every_record);
    }

    #[test]
    fn packs_the_fixed_fields_of_a_variable_length_template() {
        let fields = [
            spec(82, VARLEN),
            spec(1, 2),
            spec(8, VARLEN),
            spec(7, 2),
            spec(9, 1),
        ];
        let plan = compile(&fields, &[]).unwrap();
        assert!(plan.varlen());
        assert_eq!(
            (plan.record_len, plan.fixed_len, plan.var_values),
            (7, 5, 1)
        );
        assert_eq!(
            *plan.segments,
            [
                Segment::Var(None),
                Segment::Fixed(2),
                Segment::Var(Some(0)),
                Segment::Fixed(3),
            ]
        );
        assert_eq!(
            *plan.ops,
            [
                fixed(0, 2, Target::Bytes),
                Op::var(0, Target::Addr(AddrField::Src)),
                fixed(2, 2, Target::SrcPort),
                fixed(4, 1, Target::SrcMask),
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
        assert_eq!(plan.ops.len(), 2, "unmapped enterprise field is skipped");
        let map = [EnterpriseMap {
            pen: 29305,
            id: 5,
            as_ie: 7,
        }];
        let plan = compile(&out, &map).unwrap();
        assert_eq!(plan.ops[1], fixed(4, 2, Target::SrcPort));
    }

    #[test]
    fn accepts_variable_length_and_type_0_fields_in_netflow_v9() {
        // IE 236 (VRF name) variable length, then the reserved type 0 as a 1-byte filler.
        let bytes = [0, 236, 0xff, 0xff, 0, 0, 0, 1];
        let mut out = Vec::new();
        read_fields(&mut Reader::new(&bytes), 2, false, LIMITS, &mut out).unwrap();
        assert_eq!(out, vec![spec(236, VARLEN), spec(0, 1)]);
        let plan = compile(&out, &[]).unwrap();
        assert!(plan.varlen());
        assert_eq!(plan.record_len, 2);
        assert!(plan.ops.is_empty());
        assert_eq!(*plan.segments, [Segment::Var(None), Segment::Fixed(1)]);
    }
}
