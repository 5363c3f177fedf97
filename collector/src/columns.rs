//! Running a compiled [`Plan`] over a data set, one operation at a time across its records.
//!
//! Owns: the readers specialised by field width, the record slots an operation writes into, the
//! values that are not fields of a [`FlowRecord`] ([`Aux`]), and locating variable-length records.
//! A data set is taken in chunks of at most [`CHUNK`] records: each operation of the plan runs
//! over every record of the chunk before the next one starts, so the choice of reader and
//! destination is made once per operation and chunk, never per record.
//! Must never: allocate (every buffer is sized when the decoder is made, and a variable-length
//! chunk is bounded by the datagram), panic on any input, or read the clock.

use std::net::Ipv6Addr;

use crate::record::FlowRecord;
use crate::template::{AddrField, Op, Plan, Segment, Src, Target, Width};
use crate::wire::{Reader, be_uint};

/// Records taken at a time.
pub(crate) const CHUNK: usize = 64;

/// Largest datagram: bounds the packed fixed-length bytes of a chunk of variable-length records.
const MAX_DATAGRAM: usize = 65_535;

/// Values of a record that are not fields of [`FlowRecord`]. There is no presence here: a plan
/// reads only the values that its template writes for every record.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Aux {
    pub start_uptime: u32,
    pub end_uptime: u32,
    pub start_delta_us: u32,
    pub end_delta_us: u32,
    pub system_init: i64,
    /// In-record sampling elements, in the order of [`crate::template::rate_field`].
    pub sampling: [u64; 6],
    /// A variable-length address or time field had a length it cannot take.
    pub bad: bool,
}

/// The decoder's working buffers, made once.
#[derive(Debug)]
pub(crate) struct Bufs {
    /// Per-record values beside the record.
    pub aux: Vec<Aux>,
    /// Record slots for sinks that keep no records of their own.
    pub batch: Vec<FlowRecord>,
    /// The fixed-length bytes of a chunk of variable-length records, packed.
    pub packed: Vec<u8>,
    /// Where the kept variable-length values of a chunk are: (offset in the set, length), one row
    /// of `Plan::var_values` per record.
    pub vars: Vec<(u32, u32)>,
}

impl Bufs {
    pub fn new() -> Self {
        Bufs {
            aux: vec![Aux::default(); CHUNK],
            batch: vec![FlowRecord::default(); CHUNK],
            packed: Vec::with_capacity(MAX_DATAGRAM),
            vars: Vec::with_capacity(CHUNK * 8),
        }
    }
}

/// Set every slot to `base`: one record written, then copied in doubling runs (a few large
/// copies rather than one per record).
pub(crate) fn fill(slots: &mut [FlowRecord], base: &FlowRecord) {
    let Some(first) = slots.first_mut() else {
        return;
    };
    *first = *base;
    let mut done = 1;
    while done < slots.len() {
        let run = done.min(slots.len() - done);
        slots.copy_within(0..run, done);
        done += run;
    }
}

/// Where the next chunk of variable-length records ends.
pub(crate) struct Located {
    /// Records located.
    pub records: usize,
    /// Bytes of the set they take.
    pub used: usize,
    /// The record after them is cut short (a field runs past the set).
    pub truncated: bool,
}

/// Locate up to [`CHUNK`] variable-length records at `body[start..]`: pack their fixed-length
/// bytes into `packed` (`plan.fixed_len` bytes per record) and note where their kept
/// variable-length values are in `body`. Stops before a tail shorter than the minimum record
/// (padding), or at a record that does not fit (truncated).
pub(crate) fn locate(
    plan: &Plan,
    body: &[u8],
    start: usize,
    packed: &mut Vec<u8>,
    vars: &mut Vec<(u32, u32)>,
) -> Located {
    packed.clear();
    vars.clear();
    let mut r = Reader::new(body.get(start..).unwrap_or_default());
    let mut records = 0;
    let mut truncated = false;
    while records < CHUNK && r.remaining() >= plan.record_len() {
        let (packed_at, vars_at, save) = (packed.len(), vars.len(), r);
        let mut ok = true;
        for seg in &plan.segments {
            match *seg {
                Segment::Fixed(n) => match r.take(n as usize) {
                    Some(v) => packed.extend_from_slice(v),
                    None => ok = false,
                },
                Segment::Var(keep) => match r.varlen() {
                    Some(v) => {
                        if keep.is_some() {
                            let end = body.len() - r.remaining();
                            vars.push(((end - v.len()) as u32, v.len() as u32));
                        }
                    }
                    None => ok = false,
                },
            }
            if !ok {
                break;
            }
        }
        if !ok {
            packed.truncate(packed_at);
            vars.truncate(vars_at);
            r = save;
            truncated = true;
            break;
        }
        records += 1;
    }
    Located {
        records,
        used: body.len().saturating_sub(start) - r.remaining(),
        truncated,
    }
}

/// Run every operation of `plan` over a chunk of records. `fixed` holds the records'
/// fixed-length bytes, `fixed_len` each; `vars` and `body` give the kept variable-length values.
/// `recs` and `aux` have one entry per record.
pub(crate) fn run(
    plan: &Plan,
    fixed: &[u8],
    vars: &[(u32, u32)],
    body: &[u8],
    recs: &mut [FlowRecord],
    aux: &mut [Aux],
) {
    let rl = usize::from(plan.fixed_len);
    for op in &plan.ops {
        match op.src() {
            Src::Fixed { offset, width } => {
                let off = usize::from(offset);
                fixed_op(op, width, Fixed::new(fixed, rl, off, recs, aux));
            }
            Src::Var(n) => {
                let col = VarCol {
                    body,
                    vars,
                    stride: usize::from(plan.var_values),
                    n: usize::from(n),
                    recs: &mut *recs,
                    aux: &mut *aux,
                };
                var_op(op.target, col);
            }
        }
    }
}

/// One fixed-length field of every record of a chunk.
struct Fixed<'a, 'r> {
    data: &'a [u8],
    rl: usize,
    off: usize,
    recs: &'r mut [FlowRecord],
    aux: &'r mut [Aux],
}

impl<'a, 'r> Fixed<'a, 'r> {
    fn new(
        data: &'a [u8],
        rl: usize,
        off: usize,
        recs: &'r mut [FlowRecord],
        aux: &'r mut [Aux],
    ) -> Self {
        Fixed {
            data,
            rl,
            off,
            recs,
            aux,
        }
    }

    /// Call `f` with the field's `N` bytes in every record.
    #[inline(always)]
    fn bytes<const N: usize>(self, f: impl Fn(&mut FlowRecord, &[u8; N])) {
        let (off, rl) = (self.off, self.rl);
        // Checked once here, so that the loop below has no bounds check left: every record slice
        // is `rl` long and the field lies within it.
        if rl == 0 || off + N > rl {
            return; // not reached: the plan's offsets lie within the record
        }
        for (r, rec) in self.recs.iter_mut().zip(self.data.chunks_exact(rl)) {
            if let Some(b) = rec
                .get(off..off + N)
                .and_then(|b| <&[u8; N]>::try_from(b).ok())
            {
                f(r, b);
            }
        }
    }

    /// Call `f` with the field's `N` bytes in every record, for a value kept beside the record.
    #[inline(always)]
    fn aux_bytes<const N: usize>(self, f: impl Fn(&mut Aux, &[u8; N])) {
        let (off, rl) = (self.off, self.rl);
        if rl == 0 || off + N > rl {
            return;
        }
        for (a, rec) in self.aux.iter_mut().zip(self.data.chunks_exact(rl)) {
            if let Some(b) = rec
                .get(off..off + N)
                .and_then(|b| <&[u8; N]>::try_from(b).ok())
            {
                f(a, b);
            }
        }
    }
}

/// A big-endian unsigned value of `N` bytes (the last 8 when longer).
#[inline(always)]
fn be<const N: usize>(b: &[u8; N]) -> u64 {
    let mut buf = [0u8; 8];
    let n = if N < 8 { N } else { 8 };
    buf[8 - n..].copy_from_slice(&b[N - n..]);
    u64::from_be_bytes(buf)
}

/// A column of numbers: what every numeric [`Target`] is written through, into the record or
/// beside it.
trait Column {
    fn each(self, f: impl Fn(&mut FlowRecord, u64));
    fn each_aux(self, f: impl Fn(&mut Aux, u64));
}

/// A fixed-length field of a width with its own reader.
struct Sized<'a, 'r, const N: usize>(Fixed<'a, 'r>);

impl<const N: usize> Column for Sized<'_, '_, N> {
    #[inline(always)]
    fn each(self, f: impl Fn(&mut FlowRecord, u64)) {
        self.0.bytes::<N>(|r, b| f(r, be(b)));
    }
    #[inline(always)]
    fn each_aux(self, f: impl Fn(&mut Aux, u64)) {
        self.0.aux_bytes::<N>(|a, b| f(a, be(b)));
    }
}

/// A fixed-length field of any other width.
struct AnyWidth<'a, 'r> {
    col: Fixed<'a, 'r>,
    len: usize,
}

impl AnyWidth<'_, '_> {
    #[inline(always)]
    fn run(self, f: impl Fn(&mut FlowRecord, &mut Aux, u64)) {
        let Fixed {
            data,
            rl,
            off,
            recs,
            aux,
        } = self.col;
        if rl == 0 {
            return;
        }
        let rows = recs.iter_mut().zip(aux.iter_mut());
        for ((r, a), rec) in rows.zip(data.chunks_exact(rl)) {
            if let Some(v) = rec.get(off..off + self.len) {
                f(r, a, be_uint(v));
            }
        }
    }
}

impl Column for AnyWidth<'_, '_> {
    #[inline(always)]
    fn each(self, f: impl Fn(&mut FlowRecord, u64)) {
        self.run(|r, _, v| f(r, v));
    }
    #[inline(always)]
    fn each_aux(self, f: impl Fn(&mut Aux, u64)) {
        self.run(|_, a, v| f(a, v));
    }
}

/// A kept variable-length field.
struct VarCol<'a, 'r> {
    body: &'a [u8],
    vars: &'a [(u32, u32)],
    stride: usize,
    n: usize,
    recs: &'r mut [FlowRecord],
    aux: &'r mut [Aux],
}

impl VarCol<'_, '_> {
    /// Call `f` with the field's value in every record.
    #[inline(always)]
    fn values(self, f: impl Fn(&mut FlowRecord, &mut Aux, &[u8])) {
        if self.stride == 0 {
            return;
        }
        let rows = self.recs.iter_mut().zip(self.aux.iter_mut());
        for ((r, a), row) in rows.zip(self.vars.chunks_exact(self.stride)) {
            let Some(&(at, len)) = row.get(self.n) else {
                continue;
            };
            let (at, len) = (at as usize, len as usize);
            if let Some(v) = self.body.get(at..at + len) {
                f(r, a, v);
            }
        }
    }
}

impl Column for VarCol<'_, '_> {
    #[inline(always)]
    fn each(self, f: impl Fn(&mut FlowRecord, u64)) {
        self.values(|r, _, v| f(r, be_uint(v)));
    }
    #[inline(always)]
    fn each_aux(self, f: impl Fn(&mut Aux, u64)) {
        self.values(|_, a, v| f(a, be_uint(v)));
    }
}

/// Run `$body` with `$slot`, a function from a record to the address field `$field` names (one
/// monomorphic body per field, so the field is chosen once per operation).
macro_rules! with_slot {
    ($field:expr, $slot:ident => $body:expr) => {
        match $field {
            AddrField::Src => {
                fn $slot(r: &mut FlowRecord) -> &mut Option<Ipv6Addr> {
                    &mut r.src_addr
                }
                $body
            }
            AddrField::Dst => {
                fn $slot(r: &mut FlowRecord) -> &mut Option<Ipv6Addr> {
                    &mut r.dst_addr
                }
                $body
            }
            AddrField::NextHop => {
                fn $slot(r: &mut FlowRecord) -> &mut Option<Ipv6Addr> {
                    &mut r.next_hop
                }
                $body
            }
            AddrField::PostNatSrc => {
                fn $slot(r: &mut FlowRecord) -> &mut Option<Ipv6Addr> {
                    &mut r.post_nat_src_addr
                }
                $body
            }
            AddrField::PostNatDst => {
                fn $slot(r: &mut FlowRecord) -> &mut Option<Ipv6Addr> {
                    &mut r.post_nat_dst_addr
                }
                $body
            }
        }
    };
}

/// A fixed-length operation: the reader is chosen by width, then the writer by target.
fn fixed_op(op: &Op, width: Width, col: Fixed<'_, '_>) {
    match op.target {
        // Only 4 and 16 bytes reach here (other lengths are refused when compiled).
        Target::Addr(field) => match width {
            Width::W4 => with_slot!(field, slot => {
                col.bytes::<4>(|r, b| set_addr(slot(r), v4_mapped(*b)))
            }),
            Width::W16 => with_slot!(field, slot => {
                col.bytes::<16>(|r, b| set_addr(slot(r), Ipv6Addr::from(*b)))
            }),
            _ => {}
        },
        Target::StartNtp if width == Width::W8 => {
            col.bytes::<8>(|r, b| r.flow_start = Some(ntp_to_unix_ms(b)));
        }
        Target::EndNtp if width == Width::W8 => {
            col.bytes::<8>(|r, b| r.flow_end = Some(ntp_to_unix_ms(b)));
        }
        Target::StartNtp | Target::EndNtp => {}
        t => match width {
            Width::W1 => numeric(t, Sized::<1>(col)),
            Width::W2 => numeric(t, Sized::<2>(col)),
            Width::W4 => numeric(t, Sized::<4>(col)),
            Width::W8 => numeric(t, Sized::<8>(col)),
            Width::W16 => numeric(t, Sized::<16>(col)),
            Width::Other(n) => numeric(
                t,
                AnyWidth {
                    col,
                    len: usize::from(n),
                },
            ),
        },
    }
}

/// A variable-length operation. Addresses and NTP times are checked per record.
fn var_op(target: Target, col: VarCol<'_, '_>) {
    match target {
        Target::Addr(field) => with_slot!(field, slot => {
            col.values(|r, a, v| match addr(v) {
                Some(ip) => set_addr(slot(r), ip),
                None => a.bad = true,
            })
        }),
        Target::StartNtp => col.values(|r, a, v| match <&[u8; 8]>::try_from(v) {
            Ok(b) => r.flow_start = Some(ntp_to_unix_ms(b)),
            Err(_) => a.bad = true,
        }),
        Target::EndNtp => col.values(|r, a, v| match <&[u8; 8]>::try_from(v) {
            Ok(b) => r.flow_end = Some(ntp_to_unix_ms(b)),
            Err(_) => a.bad = true,
        }),
        t => numeric(t, col),
    }
}

/// Set an address field. When a template carries both the IPv4 and the IPv6 element of one
/// meaning, the one that is not unspecified (0.0.0.0 or ::) wins, whatever their order; the
/// common case, one element per meaning, takes the first test only.
#[inline(always)]
fn set_addr(slot: &mut Option<Ipv6Addr>, a: Ipv6Addr) {
    if slot.is_none() || !(a.is_unspecified() || a == Ipv6Addr::from_bits(0xffff_0000_0000)) {
        *slot = Some(a);
    }
}

/// Write a numeric target of every record of the column.
#[inline(always)]
fn numeric(t: Target, c: impl Column) {
    match t {
        Target::Bytes => c.each(|r, v| r.bytes = v),
        Target::Packets => c.each(|r, v| r.packets = v),
        Target::Protocol => c.each(|r, v| r.protocol = Some(v as u8)),
        Target::Tos => c.each(|r, v| r.tos = Some(v as u8)),
        // RFC 7125: the top four bits (the TCP data offset) must be ignored by collectors.
        Target::TcpFlags => c.each(|r, v| r.tcp_flags = Some(v as u16 & 0x0fff)),
        Target::SrcPort => c.each(|r, v| r.src_port = Some(v as u16)),
        Target::DstPort => c.each(|r, v| r.dst_port = Some(v as u16)),
        Target::SrcMask => c.each(|r, v| r.src_mask = Some(v as u8)),
        Target::DstMask => c.each(|r, v| r.dst_mask = Some(v as u8)),
        Target::InIf => c.each(|r, v| r.in_if = Some(v as u32)),
        Target::OutIf => c.each(|r, v| r.out_if = Some(v as u32)),
        Target::SrcAs => c.each(|r, v| r.src_as = Some(v as u32)),
        Target::DstAs => c.each(|r, v| r.dst_as = Some(v as u32)),
        Target::StartSecs => c.each(|r, v| r.flow_start = Some((v as i64).saturating_mul(1000))),
        Target::EndSecs => c.each(|r, v| r.flow_end = Some((v as i64).saturating_mul(1000))),
        Target::StartMillis => c.each(|r, v| r.flow_start = Some(v as i64)),
        Target::EndMillis => c.each(|r, v| r.flow_end = Some(v as i64)),
        Target::StartUptime => c.each_aux(|a, v| a.start_uptime = v as u32),
        Target::EndUptime => c.each_aux(|a, v| a.end_uptime = v as u32),
        Target::StartDeltaMicros => c.each_aux(|a, v| a.start_delta_us = v as u32),
        Target::EndDeltaMicros => c.each_aux(|a, v| a.end_delta_us = v as u32),
        Target::SystemInitMillis => c.each_aux(|a, v| a.system_init = v as i64),
        Target::IcmpTypeCode => c.each(|r, v| {
            r.icmp_type = Some((v as u16 >> 8) as u8);
            r.icmp_code = Some(v as u8);
        }),
        Target::IcmpTypeOfTypeCode => c.each(|r, v| r.icmp_type = Some((v as u16 >> 8) as u8)),
        Target::IcmpCodeOfTypeCode => c.each(|r, v| r.icmp_code = Some(v as u8)),
        Target::IcmpType => c.each(|r, v| r.icmp_type = Some(v as u8)),
        Target::IcmpCode => c.each(|r, v| r.icmp_code = Some(v as u8)),
        Target::Direction => c.each(|r, v| r.direction = Some(v as u8)),
        Target::Vlan => c.each(|r, v| r.vlan = Some(v as u16 & 0x0fff)),
        Target::ForwardingStatus => c.each(|r, v| r.forwarding_status = Some(v as u8)),
        Target::PostNatSrcPort => c.each(|r, v| r.post_nat_src_port = Some(v as u16)),
        Target::PostNatDstPort => c.each(|r, v| r.post_nat_dst_port = Some(v as u16)),
        Target::SamplerId => c.each(|r, v| r.sampler_id = Some(v as u32)),
        Target::SamplingInterval => c.each_aux(|a, v| a.sampling[0] = v),
        Target::SamplerRandomInterval => c.each_aux(|a, v| a.sampling[1] = v),
        Target::SamplingPacketInterval => c.each_aux(|a, v| a.sampling[2] = v),
        Target::SamplingPacketSpace => c.each_aux(|a, v| a.sampling[3] = v),
        Target::SamplingSize => c.each_aux(|a, v| a.sampling[4] = v),
        Target::SamplingPopulation => c.each_aux(|a, v| a.sampling[5] = v),
        // Not numbers: written by `fixed_op` and `var_op`.
        Target::Addr(_) | Target::StartNtp | Target::EndNtp => {}
    }
}

const NTP_UNIX_OFFSET_SECS: i64 = 2_208_988_800;

/// Convert an NTP-format timestamp (RFC 7011 §6.1.9–10) to Unix ms.
#[inline]
pub(crate) fn ntp_to_unix_ms(v: &[u8; 8]) -> i64 {
    let [a, b, c, d, e, f, g, h] = *v;
    let secs = i64::from(u32::from_be_bytes([a, b, c, d]));
    let frac = u64::from(u32::from_be_bytes([e, f, g, h]));
    (secs - NTP_UNIX_OFFSET_SECS) * 1000 + ((frac * 1000) >> 32) as i64
}

/// An IPv4 address as the record stores it (IPv4-mapped).
#[inline(always)]
pub(crate) fn v4_mapped(b: [u8; 4]) -> Ipv6Addr {
    Ipv6Addr::from_bits(0xffff_0000_0000 | u128::from(u32::from_be_bytes(b)))
}

/// An address of 4 or 16 bytes.
#[inline]
fn addr(v: &[u8]) -> Option<Ipv6Addr> {
    match *v {
        [a, b, c, d] => Some(v4_mapped([a, b, c, d])),
        _ => <[u8; 16]>::try_from(v).ok().map(Ipv6Addr::from),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{FieldSpec, VARLEN, compile};

    fn spec(ie: u16, len: u16) -> FieldSpec {
        FieldSpec { ie, len, pen: 0 }
    }

    /// Decode every record of `body` with a fixed-length plan.
    fn fixed_records(fields: &[FieldSpec], body: &[u8]) -> Vec<FlowRecord> {
        let plan = compile(fields, &[]).unwrap();
        let k = body.len() / plan.record_len();
        let mut recs = vec![FlowRecord::default(); k];
        let mut aux = vec![Aux::default(); k];
        run(
            &plan,
            &body[..k * plan.record_len()],
            &[],
            body,
            &mut recs,
            &mut aux,
        );
        recs
    }

    #[test]
    fn runs_each_operation_across_the_records_of_a_chunk() {
        // Source address (4), source port (2), bytes (8).
        let fields = [spec(8, 4), spec(7, 2), spec(1, 8)];
        let mut body = Vec::new();
        for i in 0..3u8 {
            body.extend_from_slice(&[10, 0, 0, i, 0, 80 + i, 0, 0, 0, 0, 0, 0, 1, i]);
        }
        body.push(0); // a tail shorter than a record is not read
        let recs = fixed_records(&fields, &body);
        assert_eq!(recs.len(), 3);
        for (i, r) in recs.iter().enumerate() {
            let i = i as u8;
            assert_eq!(r.src_addr, Some(v4_mapped([10, 0, 0, i])));
            assert_eq!(r.src_port, Some(u16::from(80 + i)));
            assert_eq!(r.bytes, 256 + u64::from(i));
            assert_eq!(r.dst_addr, None);
        }
    }

    #[test]
    fn reduced_size_counters_long_fields_and_ntp_times_decode() {
        // 2026-01-01T00:00:00Z = 1767225600 Unix = 3976214400 NTP, plus half a second.
        let mut body = vec![0x01, 0x02, 0x03, 0xED, 0x00, 0x37, 0x80, 0x80, 0, 0, 0];
        body.extend_from_slice(&[9, 1, 2, 3, 4, 5, 6, 7, 8]);
        let recs = fixed_records(&[spec(1, 3), spec(156, 8), spec(2, 9)], &body);
        assert_eq!(recs[0].bytes, 0x010203);
        assert_eq!(recs[0].flow_start, Some(1_767_225_600_500));
        assert_eq!(recs[0].packets, 0x0102_0304_0506_0708, "the last 8 bytes");
    }

    #[test]
    fn the_unspecified_address_of_a_pair_never_wins() {
        // IPv4 source then IPv6 source: the IPv6 one is unspecified, the IPv4 one stays.
        let mut body = vec![192, 0, 2, 1];
        body.extend_from_slice(&[0; 16]);
        let recs = fixed_records(&[spec(8, 4), spec(27, 16)], &body);
        assert_eq!(recs[0].src_addr, Some(v4_mapped([192, 0, 2, 1])));
        // The other way round, and an unspecified IPv4 address first.
        let mut body = vec![0, 0, 0, 0];
        body.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        let recs = fixed_records(&[spec(8, 4), spec(27, 16)], &body);
        assert_eq!(recs[0].src_addr, Some("2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn locates_variable_length_records_and_stops_at_a_truncated_one() {
        // interfaceName (varlen, skipped), octets (2), sourceIPv4Address (varlen, kept).
        let plan = compile(&[spec(82, VARLEN), spec(1, 2), spec(8, VARLEN)], &[]).unwrap();
        let mut body = vec![3, b'e', b't', b'h', 0x01, 0x00, 4, 10, 0, 0, 1];
        body.extend_from_slice(&[0, 0x00, 0x07, 3, 1, 2, 3]); // a 3-byte address
        body.extend_from_slice(&[255, 0, 9, 1]); // a field longer than the set
        let (mut packed, mut vars) = (Vec::new(), Vec::new());
        let found = locate(&plan, &body, 0, &mut packed, &mut vars);
        assert_eq!((found.records, found.used, found.truncated), (2, 18, true));
        assert_eq!(packed, [0x01, 0x00, 0x00, 0x07]);
        assert_eq!(vars, [(7, 4), (15, 3)]);
        let mut recs = vec![FlowRecord::default(); 2];
        let mut aux = vec![Aux::default(); 2];
        run(&plan, &packed, &vars, &body, &mut recs, &mut aux);
        assert_eq!((recs[0].bytes, recs[1].bytes), (256, 7));
        assert_eq!(recs[0].src_addr, Some(v4_mapped([10, 0, 0, 1])));
        assert_eq!(recs[1].src_addr, None);
        assert!(!aux[0].bad && aux[1].bad, "the 3-byte address is counted");
        // From the truncated record on, nothing more is found.
        let found = locate(&plan, &body, 18, &mut packed, &mut vars);
        assert_eq!((found.records, found.used, found.truncated), (0, 0, true));
    }

    #[test]
    fn a_chunk_holds_at_most_chunk_records() {
        let plan = compile(&[spec(82, VARLEN), spec(1, 1)], &[]).unwrap();
        let body: Vec<u8> = (0..CHUNK + 5).flat_map(|i| [0, i as u8]).collect();
        let (mut packed, mut vars) = (Vec::new(), Vec::new());
        let found = locate(&plan, &body, 0, &mut packed, &mut vars);
        assert_eq!((found.records, found.used), (CHUNK, 2 * CHUNK));
        let found = locate(&plan, &body, found.used, &mut packed, &mut vars);
        assert_eq!((found.records, found.truncated), (5, false));
        assert_eq!(packed.last(), Some(&(CHUNK as u8 + 4)));
    }
}
