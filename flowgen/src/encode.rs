//! Building flow-export datagrams: NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011) and, in
//! [`sflow`], sFlow v5.
//!
//! Owns: the encoder behind the load generator (`sluice blast`), decoder tests and benchmarks, and
//! the deterministic traffic model (Zipf-ranked talkers over a tiny PRNG) that feeds both it and
//! `sluice gen-traffic`.
//! Must never: do I/O, read the clock (every time is a parameter), or allocate per call once the
//! caller's buffer has capacity. It is deliberately not the decoder and shares no code with it, so
//! a misreading of the RFC in one cannot hide the same misreading in the other.
//!
//! Two layers:
//! - a generic [`Message`] builder that writes any [`Template`] (with enterprise fields and
//!   variable-length fields) and data records given as [`Value`]s, for decoder tests;
//! - fast entry points ([`encode_v5`], [`encode_v9`], [`encode_ipfix`]) that turn [`Flow`]s into
//!   one datagram using the fixed 18-field "realistic" templates ([`realistic_fields`]).
//!
//! Wire references: NetFlow v5 (Cisco export format, 24-byte header, 48-byte records); RFC 3954
//! §5.1 header (`count` = all records, templates included), §5.2 template FlowSet, §5.3 data FlowSet
//! padding, §6.1 options template FlowSet; RFC 7011 §3.1 message header (`length` = whole
//! message), §3.2 field specifier (enterprise bit + PEN), §3.3.1 set padding, §3.4.1 template
//! record, §3.4.2.2 options template record, §7 variable-length encoding.

use std::net::{IpAddr, Ipv4Addr};

pub mod sflow;

/// A field length meaning "variable length" (IPFIX only, RFC 7011 §7).
pub const VARLEN: u16 = 65535;
/// NetFlow v5 header length.
pub const V5_HEADER_LEN: usize = 24;
/// NetFlow v5 record length.
pub const V5_RECORD_LEN: usize = 48;
/// Most records a NetFlow v5 datagram may carry.
pub const V5_MAX_RECORDS: usize = 30;
/// NetFlow v9 header length.
pub const V9_HEADER_LEN: usize = 20;
/// IPFIX message header length.
pub const IPFIX_HEADER_LEN: usize = 16;
/// Records per datagram the load generator uses unless told otherwise.
pub const DEFAULT_RECORDS_PER_DATAGRAM: usize = 30;
/// Template id of the realistic IPv4 template.
pub const REALISTIC_V4_TEMPLATE_ID: u16 = 256;
/// Template id of the realistic IPv6 template.
pub const REALISTIC_V6_TEMPLATE_ID: u16 = 257;

/// Why a datagram could not be built. Small and `Copy`: the load generator hits these per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More records than the format allows in one datagram.
    #[error("{format} carries at most {max} records, got {got}")]
    TooManyRecords {
        /// Which format.
        format: &'static str,
        /// Its limit.
        max: usize,
        /// What was asked for.
        got: usize,
    },
    /// An IPv6 address where the format only carries IPv4 (NetFlow v5).
    #[error("NetFlow v5 carries IPv4 addresses only")]
    NotIpv4,
    /// A flow's addresses are not all of one family.
    #[error("flow mixes IPv4 and IPv6 addresses")]
    MixedFamilies,
    /// A value is wider than its field, or of the wrong kind for it.
    #[error("value does not fit field {ie} of length {len}")]
    ValueDoesNotFit {
        /// Information element id of the field.
        ie: u16,
        /// The field's length on the wire.
        len: u16,
    },
    /// A data record has a different number of values than its template has fields.
    #[error("record has {got} values for a template of {want} fields")]
    WrongValueCount {
        /// Fields in the template.
        want: usize,
        /// Values given.
        got: usize,
    },
    /// Something NetFlow v9 cannot express (enterprise fields, variable-length fields).
    #[error("NetFlow v9 cannot express {0}")]
    NotInV9(&'static str),
    /// An IPFIX information element id above 0x7fff (bit 15 is the enterprise bit).
    #[error("information element id {0} does not fit in 15 bits")]
    IeOutOfRange(u16),
    /// An options template without scope fields, or a template with too many fields.
    #[error("bad template {id}: {why}")]
    BadTemplate {
        /// Template id.
        id: u16,
        /// What is wrong.
        why: &'static str,
    },
    /// A set or message would be longer than its 16-bit length field allows.
    #[error("{0} longer than 65535 bytes")]
    TooLong(&'static str),
    /// A parameter of the traffic model or a header is out of range.
    #[error("bad parameter: {0}")]
    BadParameter(&'static str),
}

// ---------------------------------------------------------------------------------------------
// Flows and the realistic templates

/// One flow, as plain values: what the fast encoders and the traffic generator exchange.
///
/// All three addresses must be of one family. Times are Unix epoch milliseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Flow {
    /// Source address.
    pub src_addr: IpAddr,
    /// Destination address.
    pub dst_addr: IpAddr,
    /// IP next hop.
    pub next_hop: IpAddr,
    /// Source transport port.
    pub src_port: u16,
    /// Destination transport port.
    pub dst_port: u16,
    /// IP protocol number (6 TCP, 17 UDP).
    pub protocol: u8,
    /// IP ToS / traffic class byte.
    pub tos: u8,
    /// Cumulative TCP flags.
    pub tcp_flags: u8,
    /// Layer-3 bytes.
    pub bytes: u64,
    /// Packets.
    pub packets: u64,
    /// First packet, Unix ms.
    pub start_ms: u64,
    /// Last packet, Unix ms.
    pub end_ms: u64,
    /// Input interface (ifIndex).
    pub in_if: u32,
    /// Output interface (ifIndex).
    pub out_if: u32,
    /// Source BGP AS.
    pub src_as: u32,
    /// Destination BGP AS.
    pub dst_as: u32,
    /// Source prefix length.
    pub src_mask: u8,
    /// Destination prefix length.
    pub dst_mask: u8,
}

impl Flow {
    /// Whether the flow is IPv6; an error when its addresses mix families.
    pub fn is_v6(&self) -> Result<bool, EncodeError> {
        let v6 = self.src_addr.is_ipv6();
        if self.dst_addr.is_ipv6() != v6 || self.next_hop.is_ipv6() != v6 {
            return Err(EncodeError::MixedFamilies);
        }
        Ok(v6)
    }
}

/// Which of the two export formats with templates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// NetFlow v9 (RFC 3954).
    V9,
    /// IPFIX (RFC 7011).
    Ipfix,
}

/// One field of a template.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FieldSpec {
    /// Information element id (without the enterprise bit).
    pub ie: u16,
    /// Length on the wire; [`VARLEN`] for a variable-length field (IPFIX, or NetFlow v9 with
    /// [`Message::varlen_in_v9`]).
    pub len: u16,
    /// Private enterprise number for an enterprise-specific field (IPFIX only).
    pub enterprise: Option<u32>,
}

impl FieldSpec {
    /// An IANA field.
    pub const fn new(ie: u16, len: u16) -> Self {
        FieldSpec {
            ie,
            len,
            enterprise: None,
        }
    }

    /// An enterprise-specific field.
    pub const fn enterprise(ie: u16, len: u16, pen: u32) -> Self {
        FieldSpec {
            ie,
            len,
            enterprise: Some(pen),
        }
    }
}

/// A template: data records of set id `id` carry `fields` in order.
///
/// When `scope_fields` is `Some(n)` this is an options template and the first `n` fields are its
/// scope (RFC 3954 §6.1, RFC 7011 §3.4.2.2). `Some(0)` is an options template without scope
/// fields: Juniper SRX sends one in NetFlow v9 (scope length 0) for exporter-wide sampling; in
/// IPFIX a scope count of 0 is invalid (RFC 7011 §3.4.2.2) and is written as given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    /// Template id (256 and up for valid templates; lower ids are written as given).
    pub id: u16,
    /// Field specifiers, scope fields first.
    pub fields: Vec<FieldSpec>,
    /// How many of `fields` are scope fields; `None` for an ordinary template.
    pub scope_fields: Option<u16>,
}

impl Template {
    /// An ordinary template.
    pub fn new(id: u16, fields: Vec<FieldSpec>) -> Self {
        Template {
            id,
            fields,
            scope_fields: None,
        }
    }

    /// An options template: `scope` fields, then `options` fields. `scope` may be empty (an
    /// exporter-wide options template, as Juniper SRX sends in NetFlow v9).
    pub fn options(id: u16, scope: &[FieldSpec], options: &[FieldSpec]) -> Self {
        let mut fields = scope.to_vec();
        fields.extend_from_slice(options);
        Template {
            id,
            fields,
            scope_fields: Some(scope.len() as u16),
        }
    }
}

const fn f(ie: u16, len: u16) -> FieldSpec {
    FieldSpec::new(ie, len)
}

/// Realistic IPv4 template, NetFlow v9: times are sysUptime ms (first/lastSwitched 22/21).
const V9_V4: [FieldSpec; 18] = [
    f(8, 4),
    f(12, 4),
    f(7, 2),
    f(11, 2),
    f(4, 1),
    f(5, 1),
    f(6, 1),
    f(10, 4),
    f(14, 4),
    f(1, 8),
    f(2, 4),
    f(22, 4),
    f(21, 4),
    f(16, 4),
    f(17, 4),
    f(9, 1),
    f(13, 1),
    f(15, 4),
];
/// Realistic IPv6 template, NetFlow v9.
const V9_V6: [FieldSpec; 18] = [
    f(27, 16),
    f(28, 16),
    f(7, 2),
    f(11, 2),
    f(4, 1),
    f(5, 1),
    f(6, 1),
    f(10, 4),
    f(14, 4),
    f(1, 8),
    f(2, 4),
    f(22, 4),
    f(21, 4),
    f(16, 4),
    f(17, 4),
    f(29, 1),
    f(30, 1),
    f(62, 16),
];
/// Realistic IPv4 template, IPFIX: times are flowStart/EndMilliseconds (152/153).
const IPFIX_V4: [FieldSpec; 18] = [
    f(8, 4),
    f(12, 4),
    f(7, 2),
    f(11, 2),
    f(4, 1),
    f(5, 1),
    f(6, 1),
    f(10, 4),
    f(14, 4),
    f(1, 8),
    f(2, 4),
    f(152, 8),
    f(153, 8),
    f(16, 4),
    f(17, 4),
    f(9, 1),
    f(13, 1),
    f(15, 4),
];
/// Realistic IPv6 template, IPFIX.
const IPFIX_V6: [FieldSpec; 18] = [
    f(27, 16),
    f(28, 16),
    f(7, 2),
    f(11, 2),
    f(4, 1),
    f(5, 1),
    f(6, 1),
    f(10, 4),
    f(14, 4),
    f(1, 8),
    f(2, 4),
    f(152, 8),
    f(153, 8),
    f(16, 4),
    f(17, 4),
    f(29, 1),
    f(30, 1),
    f(62, 16),
];

/// The 18 fields of the realistic template for a version and address family, in wire order:
/// src/dst address, src/dst port, protocol, tos, tcp flags, in/out interface, bytes (8 wide),
/// packets, start/end time, src/dst AS, src/dst prefix length, next hop.
///
/// IPv6 uses 27/28 for addresses, 29/30 for prefix lengths and 62 for the next hop.
/// Times are first/lastSwitched (22/21, sysUptime ms) in v9 and flowStart/EndMilliseconds
/// (152/153) in IPFIX.
pub fn realistic_fields(version: Version, v6: bool) -> &'static [FieldSpec; 18] {
    match (version, v6) {
        (Version::V9, false) => &V9_V4,
        (Version::V9, true) => &V9_V6,
        (Version::Ipfix, false) => &IPFIX_V4,
        (Version::Ipfix, true) => &IPFIX_V6,
    }
}

/// The realistic template as a [`Template`] (ids [`REALISTIC_V4_TEMPLATE_ID`] / `_V6_`).
pub fn realistic_template(version: Version, v6: bool) -> Template {
    let id = if v6 {
        REALISTIC_V6_TEMPLATE_ID
    } else {
        REALISTIC_V4_TEMPLATE_ID
    };
    Template::new(id, realistic_fields(version, v6).to_vec())
}

/// The values of `flow` for the realistic template, in its field order.
///
/// `boot_ms` is the exporter's boot time (Unix ms); v9 times are written relative to it.
pub fn realistic_values(version: Version, flow: &Flow, boot_ms: u64) -> [Value<'static>; 18] {
    let (start, end) = match version {
        Version::V9 => (
            uptime_ms(flow.start_ms, boot_ms),
            uptime_ms(flow.end_ms, boot_ms),
        ),
        Version::Ipfix => (flow.start_ms, flow.end_ms),
    };
    [
        Value::Addr(flow.src_addr),
        Value::Addr(flow.dst_addr),
        Value::Unsigned(flow.src_port.into()),
        Value::Unsigned(flow.dst_port.into()),
        Value::Unsigned(flow.protocol.into()),
        Value::Unsigned(flow.tos.into()),
        Value::Unsigned(flow.tcp_flags.into()),
        Value::Unsigned(flow.in_if.into()),
        Value::Unsigned(flow.out_if.into()),
        Value::Unsigned(flow.bytes),
        Value::Unsigned(flow.packets),
        Value::Unsigned(start),
        Value::Unsigned(end),
        Value::Unsigned(flow.src_as.into()),
        Value::Unsigned(flow.dst_as.into()),
        Value::Unsigned(flow.src_mask.into()),
        Value::Unsigned(flow.dst_mask.into()),
        Value::Addr(flow.next_hop),
    ]
}

/// Milliseconds since boot of the Unix-ms time `t`, as the 32-bit sysUptime counter shows it
/// (wrapping, like the exporter's counter does).
fn uptime_ms(t: u64, boot_ms: u64) -> u64 {
    u64::from(t.wrapping_sub(boot_ms) as u32)
}

// ---------------------------------------------------------------------------------------------
// Values and the generic message builder

/// One field value of a data record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    /// An unsigned integer, written big-endian in the field's length (1 to 8 bytes); an error if
    /// it does not fit.
    Unsigned(u64),
    /// An address; the field must be 4 (IPv4) or 16 (IPv6) bytes long.
    Addr(IpAddr),
    /// Raw bytes: exactly the field's length, or any length for a [`VARLEN`] field (1-byte length
    /// prefix below 255 bytes, else the 3-byte form `255, u16`).
    Bytes(&'a [u8]),
    /// Raw bytes for a [`VARLEN`] field, always in the 3-byte length form (legal for any length).
    BytesLongForm(&'a [u8]),
}

/// NetFlow v9 packet header fields (RFC 3954 §5.1); `count` is filled in by the builder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V9Header {
    /// Milliseconds since the exporter booted.
    pub sys_uptime_ms: u32,
    /// Export time, Unix seconds.
    pub unix_secs: u32,
    /// Packet sequence number.
    pub sequence: u32,
    /// Source id (the exporter's observation domain).
    pub source_id: u32,
}

impl V9Header {
    /// The exporter's boot time in Unix ms implied by this header.
    pub fn boot_ms(&self) -> u64 {
        (u64::from(self.unix_secs) * 1000).wrapping_sub(self.sys_uptime_ms.into())
    }
}

/// IPFIX message header fields (RFC 7011 §3.1); `length` is filled in by the builder.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IpfixHeader {
    /// Export time, Unix seconds.
    pub export_time: u32,
    /// Sequence number: data records sent before this message in this domain.
    pub sequence: u32,
    /// Observation domain id.
    pub domain_id: u32,
}

/// Builds one NetFlow v9 packet or IPFIX message, appended to a caller's buffer.
///
/// Sets are written in the order the methods are called. NetFlow v9 FlowSets are always padded
/// to a multiple of 4 bytes; IPFIX sets only when [`Message::padded`] asks for it. A failed call
/// leaves the buffer as it was before that call. [`Message::finish`] writes the header's count
/// (v9) or length (IPFIX).
#[derive(Debug)]
pub struct Message<'a> {
    out: &'a mut Vec<u8>,
    version: Version,
    start: usize,
    records: u16,
    pad: bool,
    v9_varlen: bool,
}

impl<'a> Message<'a> {
    /// Starts a NetFlow v9 packet at the end of `out`.
    pub fn v9(out: &'a mut Vec<u8>, h: &V9Header) -> Self {
        let start = out.len();
        put16(out, 9);
        put16(out, 0);
        put32(out, h.sys_uptime_ms);
        put32(out, h.unix_secs);
        put32(out, h.sequence);
        put32(out, h.source_id);
        Message {
            out,
            version: Version::V9,
            start,
            records: 0,
            pad: true,
            v9_varlen: false,
        }
    }

    /// Starts an IPFIX message at the end of `out`.
    pub fn ipfix(out: &'a mut Vec<u8>, h: &IpfixHeader) -> Self {
        let start = out.len();
        put16(out, 10);
        put16(out, 0);
        put32(out, h.export_time);
        put32(out, h.sequence);
        put32(out, h.domain_id);
        Message {
            out,
            version: Version::Ipfix,
            start,
            records: 0,
            pad: false,
            v9_varlen: false,
        }
    }

    /// Pads the following IPFIX sets to a multiple of 4 bytes (no effect on v9, always padded).
    pub fn padded(mut self, pad: bool) -> Self {
        self.pad = pad || self.version == Version::V9;
        self
    }

    /// Lets NetFlow v9 data records carry [`VARLEN`] fields in the IPFIX encoding (RFC 7011 §7),
    /// as H3C/HPE Comware NetStream does; RFC 3954 has no such fields, so v9 refuses them unless
    /// asked. No effect on IPFIX.
    pub fn varlen_in_v9(mut self, allow: bool) -> Self {
        self.v9_varlen = allow;
        self
    }

    /// Appends `n` zero bytes after the last set, as exporters that zero-fill datagrams to a fixed
    /// size do (Cisco ACI, PAN-OS). They count in the IPFIX message length and in no set; the v9
    /// header count is unchanged.
    pub fn zero_fill(&mut self, n: usize) -> &mut Self {
        self.out.resize(self.out.len() + n, 0);
        self
    }

    /// Writes one template set (v9 id 0, IPFIX id 2) holding `templates`, all ordinary.
    pub fn templates(&mut self, templates: &[Template]) -> Result<&mut Self, EncodeError> {
        self.template_set(false, templates.iter().map(|t| (t, t.fields.as_slice())))
    }

    /// Writes one options template set (v9 id 1, IPFIX id 3) holding `templates`, all made by
    /// [`Template::options`].
    pub fn options_templates(&mut self, templates: &[Template]) -> Result<&mut Self, EncodeError> {
        self.template_set(true, templates.iter().map(|t| (t, t.fields.as_slice())))
    }

    /// Writes one data set for `template` holding `records`, each a value per field.
    pub fn data(
        &mut self,
        template: &Template,
        records: &[&[Value<'_>]],
    ) -> Result<&mut Self, EncodeError> {
        let set = self.begin_set(template.id);
        for values in records {
            if let Err(e) = self.record(&template.fields, values) {
                self.out.truncate(set);
                return Err(e);
            }
        }
        self.end_set(set, records.len())?;
        Ok(self)
    }

    /// Finishes the header; returns the message length in bytes.
    pub fn finish(self) -> Result<usize, EncodeError> {
        let len = self.out.len() - self.start;
        let word = match self.version {
            Version::V9 => self.records,
            Version::Ipfix => u16::try_from(len).map_err(|_| EncodeError::TooLong("message"))?,
        };
        self.out[self.start + 2..self.start + 4].copy_from_slice(&word.to_be_bytes());
        Ok(len)
    }

    fn template_set<'t>(
        &mut self,
        options: bool,
        templates: impl Iterator<Item = (&'t Template, &'t [FieldSpec])>,
    ) -> Result<&mut Self, EncodeError> {
        let id = match (self.version, options) {
            (Version::V9, false) => 0,
            (Version::V9, true) => 1,
            (Version::Ipfix, false) => 2,
            (Version::Ipfix, true) => 3,
        };
        let set = self.begin_set(id);
        let mut n = 0;
        for (t, fields) in templates {
            let checked = if options != t.scope_fields.is_some() {
                Err(EncodeError::BadTemplate {
                    id: t.id,
                    why: "options templates go in options template sets, others in template sets",
                })
            } else {
                self.template_record(t.id, t.scope_fields, fields)
            };
            if let Err(e) = checked {
                self.out.truncate(set);
                return Err(e);
            }
            n += 1;
        }
        self.end_set(set, n)?;
        Ok(self)
    }

    /// One template or options template record (RFC 3954 §5.2/§6.1, RFC 7011 §3.4.1/§3.4.2.2).
    fn template_record(
        &mut self,
        id: u16,
        scope: Option<u16>,
        fields: &[FieldSpec],
    ) -> Result<(), EncodeError> {
        let count = u16::try_from(fields.len()).map_err(|_| EncodeError::BadTemplate {
            id,
            why: "more than 65535 fields",
        })?;
        if usize::from(scope.unwrap_or(0)) > fields.len() {
            return Err(EncodeError::BadTemplate {
                id,
                why: "more scope fields than fields",
            });
        }
        put16(self.out, id);
        match (self.version, scope) {
            (_, None) | (Version::Ipfix, Some(_)) => put16(self.out, count),
            (Version::V9, Some(scope)) => {
                // Scope and option lengths are in bytes: 4 per field specifier.
                let bytes = |n: u16| {
                    n.checked_mul(4).ok_or(EncodeError::BadTemplate {
                        id,
                        why: "too many fields for NetFlow v9",
                    })
                };
                let (scope_len, option_len) = (bytes(scope)?, bytes(count - scope)?);
                put16(self.out, scope_len);
                put16(self.out, option_len);
            }
        }
        if let (Version::Ipfix, Some(scope)) = (self.version, scope) {
            put16(self.out, scope);
        }
        for spec in fields {
            match (self.version, spec.enterprise) {
                (Version::V9, Some(_)) => return Err(EncodeError::NotInV9("enterprise fields")),
                (Version::V9, None) => put16(self.out, spec.ie),
                (Version::Ipfix, _) if spec.ie > 0x7fff => {
                    return Err(EncodeError::IeOutOfRange(spec.ie));
                }
                (Version::Ipfix, None) => put16(self.out, spec.ie),
                (Version::Ipfix, Some(_)) => put16(self.out, spec.ie | 0x8000),
            }
            put16(self.out, spec.len);
            if let (Version::Ipfix, Some(pen)) = (self.version, spec.enterprise) {
                put32(self.out, pen);
            }
        }
        Ok(())
    }

    /// One data record.
    fn record(&mut self, fields: &[FieldSpec], values: &[Value<'_>]) -> Result<(), EncodeError> {
        if fields.len() != values.len() {
            return Err(EncodeError::WrongValueCount {
                want: fields.len(),
                got: values.len(),
            });
        }
        for (spec, value) in fields.iter().zip(values) {
            self.value(spec, value)?;
        }
        Ok(())
    }

    fn value(&mut self, spec: &FieldSpec, value: &Value<'_>) -> Result<(), EncodeError> {
        let misfit = EncodeError::ValueDoesNotFit {
            ie: spec.ie,
            len: spec.len,
        };
        if spec.len == VARLEN && self.version == Version::V9 && !self.v9_varlen {
            return Err(EncodeError::NotInV9("variable-length fields"));
        }
        match *value {
            Value::Unsigned(v) => {
                let len = usize::from(spec.len);
                if !(1..=8).contains(&len) || (len < 8 && v >> (8 * len) != 0) {
                    return Err(misfit);
                }
                // Fixed-size copies for the common widths compile to plain stores.
                match len {
                    1 => self.out.push(v as u8),
                    2 => put16(self.out, v as u16),
                    4 => put32(self.out, v as u32),
                    8 => self.out.extend_from_slice(&v.to_be_bytes()),
                    _ => self.out.extend_from_slice(&v.to_be_bytes()[8 - len..]),
                }
            }
            Value::Addr(IpAddr::V4(a)) if spec.len == 4 => self.out.extend_from_slice(&a.octets()),
            Value::Addr(IpAddr::V6(a)) if spec.len == 16 => self.out.extend_from_slice(&a.octets()),
            Value::Addr(_) => return Err(misfit),
            Value::Bytes(b) if spec.len != VARLEN => {
                if b.len() != usize::from(spec.len) {
                    return Err(misfit);
                }
                self.out.extend_from_slice(b);
            }
            Value::Bytes(b) | Value::BytesLongForm(b) => {
                let len = u16::try_from(b.len()).map_err(|_| misfit)?;
                let short = matches!(value, Value::Bytes(_)) && len < 255;
                if short {
                    self.out.push(len as u8);
                } else if spec.len == VARLEN {
                    self.out.push(255);
                    put16(self.out, len);
                } else {
                    return Err(misfit);
                }
                self.out.extend_from_slice(b);
            }
        }
        Ok(())
    }

    fn begin_set(&mut self, id: u16) -> usize {
        let at = self.out.len();
        put16(self.out, id);
        put16(self.out, 0);
        at
    }

    /// Pads and closes the set that starts at `at`; `records` count towards the v9 header count.
    fn end_set(&mut self, at: usize, records: usize) -> Result<(), EncodeError> {
        if self.pad {
            while !(self.out.len() - at).is_multiple_of(4) {
                self.out.push(0);
            }
        }
        let len = u16::try_from(self.out.len() - at);
        let count = u16::try_from(records)
            .ok()
            .and_then(|r| self.records.checked_add(r));
        let (Ok(len), Some(count)) = (len, count) else {
            self.out.truncate(at);
            return Err(EncodeError::TooLong("set"));
        };
        self.out[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        self.records = count;
        Ok(())
    }
}

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

// ---------------------------------------------------------------------------------------------
// Fast entry points: flows into one datagram

/// NetFlow v5 header fields; `count` is filled in by [`encode_v5`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct V5Header {
    /// Milliseconds since the exporter booted.
    pub sys_uptime_ms: u32,
    /// Export time, Unix seconds.
    pub unix_secs: u32,
    /// Residual nanoseconds of the export time.
    pub unix_nsecs: u32,
    /// Sequence number: flows sent before this datagram.
    pub flow_sequence: u32,
    /// Type of flow-switching engine.
    pub engine_type: u8,
    /// Slot number of the flow-switching engine.
    pub engine_id: u8,
    /// Sampling mode, the top 2 bits of the sampling field (0 none, 1 deterministic, 2 random).
    pub sampling_mode: u8,
    /// Sampling interval, the low 14 bits of the sampling field.
    pub sampling_interval: u16,
}

impl V5Header {
    /// The exporter's boot time in Unix ms implied by this header.
    pub fn boot_ms(&self) -> u64 {
        let export_ms = u64::from(self.unix_secs) * 1000 + u64::from(self.unix_nsecs / 1_000_000);
        export_ms.wrapping_sub(self.sys_uptime_ms.into())
    }
}

/// Replaces the contents of `out` with a NetFlow v5 datagram of `flows` (IPv4 only, at most 30).
///
/// Start and end times are written relative to the header's boot time. Returns the length.
pub fn encode_v5(out: &mut Vec<u8>, h: &V5Header, flows: &[Flow]) -> Result<usize, EncodeError> {
    if flows.len() > V5_MAX_RECORDS {
        return Err(EncodeError::TooManyRecords {
            format: "NetFlow v5",
            max: V5_MAX_RECORDS,
            got: flows.len(),
        });
    }
    if h.sampling_mode > 3 || h.sampling_interval > 0x3fff {
        return Err(EncodeError::BadParameter(
            "v5 sampling mode is 2 bits, interval 14 bits",
        ));
    }
    out.clear();
    put16(out, 5);
    put16(out, flows.len() as u16);
    put32(out, h.sys_uptime_ms);
    put32(out, h.unix_secs);
    put32(out, h.unix_nsecs);
    put32(out, h.flow_sequence);
    out.push(h.engine_type);
    out.push(h.engine_id);
    put16(out, u16::from(h.sampling_mode) << 14 | h.sampling_interval);
    let boot = h.boot_ms();
    for flow in flows {
        if let Err(e) = v5_record(out, flow, boot) {
            out.clear();
            return Err(e);
        }
    }
    Ok(out.len())
}

fn v5_record(out: &mut Vec<u8>, flow: &Flow, boot_ms: u64) -> Result<(), EncodeError> {
    fn v4(a: IpAddr) -> Result<Ipv4Addr, EncodeError> {
        match a {
            IpAddr::V4(a) => Ok(a),
            IpAddr::V6(_) => Err(EncodeError::NotIpv4),
        }
    }
    fn narrow<T: TryFrom<u64>>(v: impl Into<u64>, ie: u16, len: u16) -> Result<T, EncodeError> {
        T::try_from(v.into()).map_err(|_| EncodeError::ValueDoesNotFit { ie, len })
    }
    for a in [flow.src_addr, flow.dst_addr, flow.next_hop] {
        out.extend_from_slice(&v4(a)?.octets());
    }
    put16(out, narrow(flow.in_if, 10, 2)?);
    put16(out, narrow(flow.out_if, 14, 2)?);
    put32(out, narrow(flow.packets, 2, 4)?);
    put32(out, narrow(flow.bytes, 1, 4)?);
    put32(out, uptime_ms(flow.start_ms, boot_ms) as u32);
    put32(out, uptime_ms(flow.end_ms, boot_ms) as u32);
    put16(out, flow.src_port);
    put16(out, flow.dst_port);
    out.extend_from_slice(&[0, flow.tcp_flags, flow.protocol, flow.tos]);
    put16(out, narrow(flow.src_as, 16, 2)?);
    put16(out, narrow(flow.dst_as, 17, 2)?);
    out.extend_from_slice(&[flow.src_mask, flow.dst_mask, 0, 0]);
    Ok(())
}

/// Replaces the contents of `out` with a NetFlow v9 packet of `flows` in the realistic
/// templates: the IPv4 flows in one data FlowSet, then the IPv6 flows in another. With
/// `with_templates`, a template FlowSet defining both templates comes first. Returns the length;
/// on error `out` is left empty.
pub fn encode_v9(
    out: &mut Vec<u8>,
    h: &V9Header,
    flows: &[Flow],
    with_templates: bool,
) -> Result<usize, EncodeError> {
    out.clear();
    let boot = h.boot_ms();
    let mut msg = Message::v9(out, h);
    let len = encode_flows(&mut msg, Version::V9, flows, with_templates, boot)
        .and_then(|()| msg.finish());
    if len.is_err() {
        out.clear();
    }
    len
}

/// Replaces the contents of `out` with an IPFIX message of `flows` in the realistic templates,
/// laid out as in [`encode_v9`] (sets unpadded). Returns the length.
pub fn encode_ipfix(
    out: &mut Vec<u8>,
    h: &IpfixHeader,
    flows: &[Flow],
    with_templates: bool,
) -> Result<usize, EncodeError> {
    out.clear();
    let mut msg = Message::ipfix(out, h);
    let len = encode_flows(&mut msg, Version::Ipfix, flows, with_templates, 0)
        .and_then(|()| msg.finish());
    if len.is_err() {
        out.clear();
    }
    len
}

fn encode_flows(
    msg: &mut Message<'_>,
    version: Version,
    flows: &[Flow],
    with_templates: bool,
    boot_ms: u64,
) -> Result<(), EncodeError> {
    let mut v6_count = 0;
    for flow in flows {
        v6_count += usize::from(flow.is_v6()?);
    }
    if with_templates {
        let set = msg.begin_set(if version == Version::V9 { 0 } else { 2 });
        for (id, v6) in [
            (REALISTIC_V4_TEMPLATE_ID, false),
            (REALISTIC_V6_TEMPLATE_ID, true),
        ] {
            msg.template_record(id, None, realistic_fields(version, v6))?;
        }
        msg.end_set(set, 2)?;
    }
    for (id, v6, n) in [
        (REALISTIC_V4_TEMPLATE_ID, false, flows.len() - v6_count),
        (REALISTIC_V6_TEMPLATE_ID, true, v6_count),
    ] {
        if n == 0 {
            continue;
        }
        let set = msg.begin_set(id);
        for flow in flows.iter().filter(|f| f.src_addr.is_ipv6() == v6) {
            let values = realistic_values(version, flow, boot_ms);
            msg.record(realistic_fields(version, v6), &values)?;
        }
        msg.end_set(set, n)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT_SECS: u32 = 1_767_225_600; // 2026-01-01T00:00:00Z
    const UPTIME: u32 = 65_536;

    fn boot() -> u64 {
        u64::from(EXPORT_SECS) * 1000 - u64::from(UPTIME)
    }

    fn v4_flow() -> Flow {
        Flow {
            src_addr: "10.0.0.1".parse().unwrap(),
            dst_addr: "172.16.0.2".parse().unwrap(),
            next_hop: "10.255.255.1".parse().unwrap(),
            src_port: 1234,
            dst_port: 443,
            protocol: 6,
            tos: 0x20,
            tcp_flags: 0x18,
            bytes: 180,
            packets: 3,
            start_ms: boot() + 1000,
            end_ms: boot() + 2000,
            in_if: 1,
            out_if: 10,
            src_as: 64512,
            dst_as: 65001,
            src_mask: 24,
            dst_mask: 16,
        }
    }

    fn v6_flow() -> Flow {
        Flow {
            src_addr: "2001:db8::1".parse().unwrap(),
            dst_addr: "2001:db8:1::2".parse().unwrap(),
            next_hop: "2001:db8:ffff::1".parse().unwrap(),
            src_mask: 64,
            dst_mask: 48,
            ..v4_flow()
        }
    }

    fn v9_header() -> V9Header {
        V9Header {
            sys_uptime_ms: UPTIME,
            unix_secs: EXPORT_SECS,
            sequence: 7,
            source_id: 3,
        }
    }

    /// Walks the sets after a header of `header_len`; returns (set id, set length) pairs.
    fn sets(buf: &[u8], header_len: usize) -> Vec<(u16, usize)> {
        let mut out = Vec::new();
        let mut at = header_len;
        while at < buf.len() {
            let id = u16::from_be_bytes([buf[at], buf[at + 1]]);
            let len = usize::from(u16::from_be_bytes([buf[at + 2], buf[at + 3]]));
            assert!(len >= 4, "set at {at} has length {len}");
            out.push((id, len));
            at += len;
        }
        assert_eq!(at, buf.len(), "sets overrun the datagram");
        out
    }

    #[test]
    fn v5_datagram_with_one_record_matches_golden_bytes() {
        let h = V5Header {
            sys_uptime_ms: UPTIME,
            unix_secs: EXPORT_SECS,
            unix_nsecs: 0,
            flow_sequence: 7,
            engine_type: 1,
            engine_id: 2,
            sampling_mode: 1,
            sampling_interval: 100,
        };
        let mut buf = Vec::new();
        let len = encode_v5(&mut buf, &h, &[v4_flow()]).unwrap();
        #[rustfmt::skip]
        let golden: [u8; 72] = [
            0x00, 0x05, 0x00, 0x01, // version, count
            0x00, 0x01, 0x00, 0x00, // sys_uptime 65536
            0x69, 0x55, 0xb9, 0x00, // unix_secs
            0x00, 0x00, 0x00, 0x00, // unix_nsecs
            0x00, 0x00, 0x00, 0x07, // flow_sequence
            0x01, 0x02,             // engine type, id
            0x40, 0x64,             // sampling: mode 1, interval 100
            10, 0, 0, 1,            // srcaddr
            172, 16, 0, 2,          // dstaddr
            10, 255, 255, 1,        // nexthop
            0x00, 0x01, 0x00, 0x0a, // input, output
            0x00, 0x00, 0x00, 0x03, // dPkts
            0x00, 0x00, 0x00, 0xb4, // dOctets 180
            0x00, 0x00, 0x03, 0xe8, // First: 1000 ms after boot
            0x00, 0x00, 0x07, 0xd0, // Last: 2000 ms after boot
            0x04, 0xd2, 0x01, 0xbb, // ports 1234, 443
            0x00, 0x18, 0x06, 0x20, // pad1, tcp_flags, prot, tos
            0xfc, 0x00, 0xfd, 0xe9, // src_as 64512, dst_as 65001
            24, 16, 0x00, 0x00,     // masks, pad2
        ];
        assert_eq!(len, V5_HEADER_LEN + V5_RECORD_LEN);
        assert_eq!(buf, golden);
    }

    #[test]
    fn v5_rejects_ipv6_oversized_counters_and_more_than_30_records() {
        let mut buf = Vec::new();
        let h = V5Header::default();
        assert_eq!(
            encode_v5(&mut buf, &h, &[v6_flow()]),
            Err(EncodeError::NotIpv4)
        );
        assert!(buf.is_empty());
        let big = Flow {
            bytes: 1 << 32,
            ..v4_flow()
        };
        assert_eq!(
            encode_v5(&mut buf, &h, &[big]),
            Err(EncodeError::ValueDoesNotFit { ie: 1, len: 4 })
        );
        let flows = [v4_flow(); 31];
        assert!(matches!(
            encode_v5(&mut buf, &h, &flows),
            Err(EncodeError::TooManyRecords { got: 31, .. })
        ));
        assert_eq!(encode_v5(&mut buf, &h, &flows[..30]), Ok(24 + 30 * 48));
    }

    #[test]
    fn v9_template_flowset_matches_golden_bytes() {
        let mut buf = Vec::new();
        let mut msg = Message::v9(&mut buf, &v9_header());
        let t = Template::new(256, vec![f(8, 4), f(12, 4), f(1, 8)]);
        msg.templates(&[t]).unwrap();
        assert_eq!(msg.finish(), Ok(40));
        #[rustfmt::skip]
        let golden: [u8; 40] = [
            0x00, 0x09, 0x00, 0x01, // version 9, count 1 (the template record)
            0x00, 0x01, 0x00, 0x00, // sys_uptime
            0x69, 0x55, 0xb9, 0x00, // unix_secs
            0x00, 0x00, 0x00, 0x07, // sequence
            0x00, 0x00, 0x00, 0x03, // source id
            0x00, 0x00, 0x00, 0x14, // FlowSet id 0, length 20
            0x01, 0x00, 0x00, 0x03, // template 256, 3 fields
            0x00, 0x08, 0x00, 0x04, // IPV4_SRC_ADDR
            0x00, 0x0c, 0x00, 0x04, // IPV4_DST_ADDR
            0x00, 0x01, 0x00, 0x08, // IN_BYTES, 8 wide
        ];
        assert_eq!(buf, golden);
    }

    #[test]
    fn v9_options_template_gives_scope_and_option_lengths_in_bytes_and_pads() {
        let mut buf = Vec::new();
        let mut msg = Message::v9(&mut buf, &v9_header());
        let t = Template::options(258, &[f(1, 4)], &[f(34, 4), f(35, 1)]);
        msg.options_templates(&[t]).unwrap();
        msg.finish().unwrap();
        #[rustfmt::skip]
        let golden: [u8; 24] = [
            0x00, 0x01, 0x00, 0x18, // FlowSet id 1, length 24 (22 + 2 padding)
            0x01, 0x02,             // template 258
            0x00, 0x04, 0x00, 0x08, // scope length 4, option length 8
            0x00, 0x01, 0x00, 0x04, // scope: System
            0x00, 0x22, 0x00, 0x04, // SAMPLING_INTERVAL
            0x00, 0x23, 0x00, 0x01, // SAMPLING_ALGORITHM
            0x00, 0x00,             // padding
        ];
        assert_eq!(buf[V9_HEADER_LEN..], golden);
    }

    #[test]
    fn v9_options_template_without_scope_fields_has_scope_length_zero() {
        let mut buf = Vec::new();
        let mut msg = Message::v9(&mut buf, &v9_header());
        let t = Template::options(256, &[], &[f(34, 4), f(35, 1)]);
        assert_eq!(t.scope_fields, Some(0));
        msg.options_templates(&[t]).unwrap();
        msg.finish().unwrap();
        #[rustfmt::skip]
        let golden: [u8; 20] = [
            0x00, 0x01, 0x00, 0x14, // FlowSet id 1, length 20 (18 + 2 padding)
            0x01, 0x00,             // template 256
            0x00, 0x00, 0x00, 0x08, // scope length 0, option length 8
            0x00, 0x22, 0x00, 0x04, // SAMPLING_INTERVAL
            0x00, 0x23, 0x00, 0x01, // SAMPLING_ALGORITHM
            0x00, 0x00,             // padding
        ];
        assert_eq!(buf[V9_HEADER_LEN..], golden);
    }

    #[test]
    fn v9_data_flowsets_are_padded_to_four_bytes_and_counted() {
        let mut buf = Vec::new();
        let mut msg = Message::v9(&mut buf, &v9_header());
        let t = Template::new(300, vec![f(4, 1), f(7, 2), f(5, 1), f(6, 1)]);
        let r1 = [
            Value::Unsigned(6),
            Value::Unsigned(80),
            Value::Unsigned(0),
            Value::Unsigned(2),
        ];
        let r2 = [
            Value::Unsigned(17),
            Value::Unsigned(53),
            Value::Unsigned(4),
            Value::Unsigned(0),
        ];
        msg.templates(std::slice::from_ref(&t)).unwrap();
        msg.data(&t, &[&r1, &r2]).unwrap();
        let len = msg.finish().unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(
            u16::from_be_bytes([buf[2], buf[3]]),
            3,
            "1 template + 2 data records"
        );
        let sets = sets(&buf, V9_HEADER_LEN);
        assert_eq!(sets, vec![(0, 24), (300, 16)]); // data: 4 + 2 * 5 = 14, padded to 16
        assert!(sets.iter().all(|&(_, l)| l % 4 == 0));
        assert_eq!(
            buf[buf.len() - 16..],
            [1, 44, 0, 16, 6, 0, 80, 0, 2, 17, 0, 53, 4, 0, 0, 0]
        );
    }

    #[test]
    fn v9_refuses_enterprise_and_variable_length_fields() {
        let mut buf = Vec::new();
        let mut msg = Message::v9(&mut buf, &v9_header());
        let ent = Template::new(256, vec![FieldSpec::enterprise(1, 4, 29305)]);
        assert_eq!(
            msg.templates(&[ent]).err(),
            Some(EncodeError::NotInV9("enterprise fields"))
        );
        let var = Template::new(256, vec![f(82, VARLEN)]);
        assert_eq!(
            msg.data(&var, &[&[Value::Bytes(b"eth0")]]).err(),
            Some(EncodeError::NotInV9("variable-length fields"))
        );
        assert_eq!(
            msg.finish(),
            Ok(V9_HEADER_LEN),
            "failed sets leave nothing behind"
        );
    }

    #[test]
    fn ipfix_varlen_field_uses_three_byte_length_from_255_bytes_and_enterprise_bit() {
        let mut buf = Vec::new();
        let h = IpfixHeader {
            export_time: EXPORT_SECS,
            sequence: 11,
            domain_id: 5,
        };
        let mut msg = Message::ipfix(&mut buf, &h);
        let t = Template::new(400, vec![f(82, VARLEN), FieldSpec::enterprise(7, 4, 29305)]);
        let long = [b'x'; 300];
        msg.templates(std::slice::from_ref(&t)).unwrap();
        msg.data(&t, &[&[Value::Bytes(&long), Value::Unsigned(9)]])
            .unwrap();
        let len = msg.finish().unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(usize::from(u16::from_be_bytes([buf[2], buf[3]])), buf.len());
        #[rustfmt::skip]
        let head: [u8; 40] = [
            0x00, 0x0a, 0x01, 0x5b, // version 10, length 347
            0x69, 0x55, 0xb9, 0x00, // export time
            0x00, 0x00, 0x00, 0x0b, // sequence
            0x00, 0x00, 0x00, 0x05, // observation domain
            0x00, 0x02, 0x00, 0x14, // template set, length 20
            0x01, 0x90, 0x00, 0x02, // template 400, 2 fields
            0x00, 0x52, 0xff, 0xff, // interfaceName, variable length
            0x80, 0x07, 0x00, 0x04, // enterprise bit + ie 7, length 4
            0x00, 0x00, 0x72, 0x79, // PEN 29305
            0x01, 0x90, 0x01, 0x37, // data set 400, length 4 + 3 + 300 + 4 = 311
        ];
        assert_eq!(buf[..40], head);
        assert_eq!(
            buf[40..43],
            [255, 0x01, 0x2c],
            "3-byte length form: 255, 300"
        );
        assert!(buf[43..343].iter().all(|&b| b == b'x'));
        assert_eq!(buf[343..], [0, 0, 0, 9]);
    }

    #[test]
    fn ipfix_varlen_field_uses_one_byte_length_below_255_unless_long_form_asked() {
        let t = Template::new(400, vec![f(82, VARLEN)]);
        let mut buf = Vec::new();
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
        msg.data(
            &t,
            &[&[Value::Bytes(b"eth0")], &[Value::BytesLongForm(b"ge")]],
        )
        .unwrap();
        msg.finish().unwrap();
        assert_eq!(
            buf[IPFIX_HEADER_LEN..],
            [
                1, 0x90, 0, 14, 4, b'e', b't', b'h', b'0', 255, 0, 2, b'g', b'e'
            ]
        );
        for (n, prefix) in [(254, &[254u8][..]), (255, &[255, 0, 255][..])] {
            let value = vec![7u8; n];
            let mut buf = Vec::new();
            let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
            msg.data(&t, &[&[Value::Bytes(&value)]]).unwrap();
            msg.finish().unwrap();
            let field = &buf[IPFIX_HEADER_LEN + 4..];
            assert_eq!(&field[..prefix.len()], prefix, "{n} bytes");
            assert_eq!(field.len(), prefix.len() + n);
        }
    }

    #[test]
    fn ipfix_options_template_carries_scope_count_and_can_be_padded() {
        let mut buf = Vec::new();
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default()).padded(true);
        let t = Template::options(258, &[f(10, 4)], &[f(34, 4), f(35, 1)]);
        msg.options_templates(std::slice::from_ref(&t)).unwrap();
        msg.data(
            &t,
            &[&[Value::Unsigned(1), Value::Unsigned(100), Value::Unsigned(2)]],
        )
        .unwrap();
        msg.finish().unwrap();
        #[rustfmt::skip]
        let golden: [u8; 36] = [
            0x00, 0x03, 0x00, 0x18, // options template set, length 22 + 2 padding
            0x01, 0x02, 0x00, 0x03, // template 258, 3 fields
            0x00, 0x01,             // 1 scope field
            0x00, 0x0a, 0x00, 0x04, // scope: ingressInterface
            0x00, 0x22, 0x00, 0x04, // samplingInterval
            0x00, 0x23, 0x00, 0x01, // samplingAlgorithm
            0x00, 0x00,             // padding
            0x01, 0x02, 0x00, 0x10, // data set 258, length 13 + 3 padding
            0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x64,
        ];
        assert_eq!(buf[IPFIX_HEADER_LEN..IPFIX_HEADER_LEN + 36], golden);
        assert_eq!(buf[IPFIX_HEADER_LEN + 36..], [2, 0, 0, 0]);
    }

    #[test]
    fn ipfix_sets_are_unpadded_unless_asked() {
        let t = Template::new(300, vec![f(4, 1)]);
        let mut buf = Vec::new();
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
        msg.data(&t, &[&[Value::Unsigned(6)]]).unwrap();
        assert_eq!(msg.finish(), Ok(IPFIX_HEADER_LEN + 5));
    }

    #[test]
    fn rejects_values_that_do_not_fit_and_leaves_the_buffer_unchanged() {
        let t = Template::new(300, vec![f(7, 2), f(8, 4)]);
        let mut buf = Vec::new();
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
        let wide = [
            Value::Unsigned(70_000),
            Value::Addr(Ipv4Addr::LOCALHOST.into()),
        ];
        let v6 = [
            Value::Unsigned(80),
            Value::Addr(std::net::Ipv6Addr::LOCALHOST.into()),
        ];
        let short = [Value::Unsigned(80)];
        assert_eq!(
            msg.data(&t, &[&wide]).err(),
            Some(EncodeError::ValueDoesNotFit { ie: 7, len: 2 })
        );
        assert_eq!(
            msg.data(&t, &[&v6]).err(),
            Some(EncodeError::ValueDoesNotFit { ie: 8, len: 4 })
        );
        assert_eq!(
            msg.data(&t, &[&short]).err(),
            Some(EncodeError::WrongValueCount { want: 2, got: 1 })
        );
        let no_scope = Template::new(301, vec![f(4, 1)]);
        assert!(matches!(
            msg.options_templates(&[no_scope]),
            Err(EncodeError::BadTemplate { id: 301, .. })
        ));
        assert_eq!(msg.finish(), Ok(IPFIX_HEADER_LEN));
    }

    #[test]
    fn ipfix_message_longer_than_65535_bytes_is_refused() {
        let t = Template::new(300, vec![f(82, VARLEN)]);
        let big = vec![0u8; 40_000];
        let mut buf = Vec::new();
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
        msg.data(&t, &[&[Value::Bytes(&big)]]).unwrap();
        msg.data(&t, &[&[Value::Bytes(&big)]]).unwrap();
        assert_eq!(msg.finish(), Err(EncodeError::TooLong("message")));
        let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
        assert_eq!(
            msg.data(&t, &[&[Value::Bytes(&big)], &[Value::Bytes(&big)]])
                .err(),
            Some(EncodeError::TooLong("set"))
        );
    }

    fn mixed_flows(n: usize) -> Vec<Flow> {
        (0..n)
            .map(|i| if i % 3 == 0 { v6_flow() } else { v4_flow() })
            .collect()
    }

    #[test]
    fn realistic_templates_have_18_fields_and_the_documented_record_sizes() {
        let size = |v, v6| {
            realistic_fields(v, v6)
                .iter()
                .map(|f| usize::from(f.len))
                .sum::<usize>()
        };
        assert_eq!(size(Version::V9, false), 57);
        assert_eq!(size(Version::V9, true), 93);
        assert_eq!(size(Version::Ipfix, false), 65);
        assert_eq!(size(Version::Ipfix, true), 101);
        assert_eq!(realistic_template(Version::Ipfix, true).fields.len(), 18);
    }

    #[test]
    fn fast_v9_packet_groups_flows_by_family_and_counts_templates() {
        let mut buf = Vec::new();
        let len = encode_v9(&mut buf, &v9_header(), &mixed_flows(30), true).unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(
            u16::from_be_bytes([buf[2], buf[3]]),
            32,
            "2 templates + 30 records"
        );
        let sets = sets(&buf, V9_HEADER_LEN);
        let pad4 = |n: usize| n.div_ceil(4) * 4;
        assert_eq!(
            sets,
            vec![
                (0, 4 + 2 * (4 + 18 * 4)),
                (256, pad4(4 + 20 * 57)),
                (257, pad4(4 + 10 * 93)),
            ]
        );
        // first v4 record: addresses, then ports; start time relative to boot.
        let rec = V9_HEADER_LEN + sets[0].1 + 4;
        assert_eq!(
            buf[rec..rec + 12],
            [10, 0, 0, 1, 172, 16, 0, 2, 0x04, 0xd2, 0x01, 0xbb]
        );
        assert_eq!(
            buf[rec + 35..rec + 43],
            [0, 0, 0x03, 0xe8, 0, 0, 0x07, 0xd0]
        );
    }

    #[test]
    fn fast_ipfix_message_length_matches_and_times_are_epoch_ms() {
        let mut buf = Vec::new();
        let h = IpfixHeader {
            export_time: EXPORT_SECS,
            sequence: 0,
            domain_id: 1,
        };
        let len = encode_ipfix(
            &mut buf,
            &h,
            &mixed_flows(DEFAULT_RECORDS_PER_DATAGRAM),
            false,
        )
        .unwrap();
        assert_eq!(len, buf.len());
        assert_eq!(usize::from(u16::from_be_bytes([buf[2], buf[3]])), len);
        let sets = sets(&buf, IPFIX_HEADER_LEN);
        assert_eq!(sets, vec![(256, 4 + 20 * 65), (257, 4 + 10 * 101)]);
        let rec = IPFIX_HEADER_LEN + 4;
        let start = u64::from_be_bytes(buf[rec + 35..rec + 43].try_into().unwrap());
        assert_eq!(start, boot() + 1000);
    }

    #[test]
    fn fast_encoders_reuse_the_buffer_without_reallocating() {
        let flows = mixed_flows(30);
        let mut buf = Vec::with_capacity(4096);
        let ptr = buf.as_ptr();
        for seq in 0..100 {
            let h = IpfixHeader {
                sequence: seq * 30,
                ..Default::default()
            };
            encode_ipfix(&mut buf, &h, &flows, seq % 10 == 0).unwrap();
            encode_v9(&mut buf, &v9_header(), &flows, seq % 10 == 0).unwrap();
        }
        assert_eq!(buf.as_ptr(), ptr);
        assert_eq!(buf.capacity(), 4096);
    }

    #[test]
    fn fast_encoders_reject_flows_that_mix_families() {
        let bad = Flow {
            next_hop: "2001:db8::1".parse().unwrap(),
            ..v4_flow()
        };
        let mut buf = Vec::new();
        assert_eq!(
            encode_v9(&mut buf, &v9_header(), &[bad], true),
            Err(EncodeError::MixedFamilies)
        );
        assert!(buf.is_empty());
    }
}
