//! The stateful decoder: datagram in, normalised flow records out.
//!
//! Owns: per-exporter state scoped by (exporter address, observation domain / source id, version):
//! templates (RFC 3954 §5.2, RFC 7011 §8), sampler state from options data, system init time, data
//! held while its template is missing, and the per-exporter counters. Normalisation of times (RFC 3954
//! §5.1 sysUptime, RFC 7011 §6.1.7–10) and sampling rates happens here.
//!
//! Must never: do I/O or read the clock (`now` is a parameter, in Unix ms), panic on any input,
//! or allocate while decoding data records whose template is known (proved by
//! `tests/zero_alloc.rs`). Every rejection is counted per exporter and kind.
//!
//! Trailing bytes: a tail after the last complete set that is all zero is padding (Cisco ACI and
//! PAN-OS zero-fill datagrams to a fixed size; IPFIX messages may be followed by zeros in the
//! datagram) and is counted in `padding_bytes`, not as an error. A tail with any non-zero byte is an
//! error: `truncated` when it is shorter than a set header, `bad_length` otherwise. The v9 header's
//! `count` (records of every kind, RFC 3954 §5.1) is not used to find the end: exporters disagree
//! on what they count, and a held data set has an unknown number of records. Padding inside a set
//! (RFC 3954 §5.3, RFC 7011 §3.3.1) is normal and not counted.
//!
//! Sampling-rate precedence: a configured override for the exporter's prefix; a rate in the record
//! (IE 34, 50, 305/306, 309/310); options data for the record's sampler (IE 48/302) or for the
//! exporter scope; the NetFlow v5 header; the configured default; otherwise rate 1 marked unknown.
//! A NetFlow v9 options template may have no scope fields (scope length 0, as Juniper SRX sends):
//! its options apply to the whole exporter scope, like a System scope. IPFIX requires a scope field
//! (RFC 7011 §3.4.2.2).

use std::collections::{HashMap, VecDeque};

/// Hash maps keyed by exporter state: seeded per process (foldhash's quality variant), several
/// times cheaper than SipHash on the per-datagram lookups.
type Map<K, V> = HashMap<K, V, foldhash::quality::RandomState>;
use std::net::{IpAddr, Ipv6Addr};

use crate::columns::{self, Aux, Bufs, CHUNK};
use crate::config::DecoderSettings;
use crate::error::{DecodeError, ErrorKind};
use crate::persist::{self, SavedSampler, SavedTemplate, Snapshot};
use crate::record::{FlowRecord, InterfaceCounters, SamplingSource, flags, to_v6};
use crate::template::{
    self, FieldSpec, Plan, Template, TemplateKind, TemplateLimits, TimeFallback, VARLEN, rate_field,
};
use crate::wire::{Reader, be_uint, ipfix, sflow as sflow_wire, v5, v9};

mod sflow;

/// Receives decoded records.
pub trait RecordSink {
    /// Take one record.
    fn push(&mut self, rec: &FlowRecord);

    /// Slots for `n` more records, each set to `init`, that the decoder fills in place and the
    /// sink keeps, all `n` of them: records are written once, straight where they stay. `None`
    /// (the default) for a sink that keeps no records of its own; the decoder then fills slots
    /// of its own and hands each record to [`RecordSink::push`].
    fn slots(&mut self, n: usize, init: &FlowRecord) -> Option<&mut [FlowRecord]> {
        let _ = (n, init);
        None
    }

    /// Take one sFlow counter sample's interface counters. The default drops them (a sink that
    /// keeps only flow records).
    fn counters(&mut self, c: &InterfaceCounters) {
        let _ = c;
    }
}

impl RecordSink for Vec<FlowRecord> {
    #[inline]
    fn push(&mut self, rec: &FlowRecord) {
        Vec::push(self, *rec);
    }

    #[inline]
    fn slots(&mut self, n: usize, init: &FlowRecord) -> Option<&mut [FlowRecord]> {
        let at = self.len();
        if n > 0 {
            // One record written, then copied in doubling runs: a few large copies rather than
            // one per record.
            self.reserve(n);
            self.push(*init);
            while self.len() < at + n {
                let run = (self.len() - at).min(at + n - self.len());
                self.extend_from_within(at..at + run);
            }
        }
        self.get_mut(at..)
    }
}

/// Adapts a closure into a [`RecordSink`].
pub struct FnSink<F>(pub F);

impl<F: FnMut(&FlowRecord)> RecordSink for FnSink<F> {
    #[inline]
    fn push(&mut self, rec: &FlowRecord) {
        (self.0)(rec)
    }
}

/// What one datagram gave.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Protocol version of the datagram (0 when the header was unreadable).
    pub version: u16,
    /// Records decoded and pushed (including records replayed from held data).
    pub records: u32,
    /// Of `records`, those replayed from data held for a missing template.
    pub replayed: u32,
    /// Templates (data and options) learned or refreshed.
    pub templates: u32,
    /// Data sets held because their template is missing.
    pub held: u32,
    /// Options data records applied to exporter state.
    pub options_records: u32,
    /// Zero bytes after the last complete set (datagram zero-fill): padding, not an error.
    pub padding_bytes: u32,
    /// Rejections by kind (indexed by `ErrorKind as usize`).
    pub errors: [u32; ErrorKind::COUNT],
}

impl Summary {
    fn err(&mut self, e: DecodeError) {
        self.errors[e.kind() as usize] += 1;
    }
    /// Total rejections of every kind.
    pub fn error_count(&self) -> u32 {
        self.errors.iter().sum()
    }
}

/// Counters for one exporter address.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExporterStats {
    /// Datagrams seen.
    pub datagrams: u64,
    /// Datagram bytes seen.
    pub bytes: u64,
    /// Records decoded.
    pub records: u64,
    /// Templates learned or refreshed.
    pub templates_learned: u64,
    /// Data sets held because their template had not arrived (decoded when it does).
    pub sets_held: u64,
    /// Records decoded from held data once their template arrived.
    pub records_replayed: u64,
    /// Records whose sampling rate was unknown.
    pub sampling_unknown: u64,
    /// Export lost between exporter and collector, from sequence-number gaps: records for v5 and
    /// IPFIX, datagrams for NetFlow v9 (whose sequence counts packets).
    pub sequence_lost: u64,
    /// Sequence numbers that went backwards (exporter restart or reordering).
    pub sequence_resets: u64,
    /// Records whose end is before their start.
    pub time_end_before_start: u64,
    /// Records whose end is far from the export time.
    pub time_far_from_export: u64,
    /// Zero bytes after the last complete set of a datagram (zero-fill), counted as padding and
    /// not as an error. Padding inside sets is not counted.
    pub padding_bytes: u64,
    /// Rejections by kind (indexed by `ErrorKind as usize`).
    pub errors: [u64; ErrorKind::COUNT],
    /// Last protocol version seen.
    pub version: u16,
    /// First time a datagram was seen (by this decoder), Unix ms.
    pub first_seen: i64,
    /// Last time a datagram was seen, Unix ms.
    pub last_seen: i64,
    /// Sampling rate of the last record decoded (0 before any record).
    pub sampling_rate: u32,
    /// Where that rate came from.
    pub sampling_source: SamplingSource,
    /// Export time minus receive time of the last datagram, ms.
    pub clock_skew_ms: i64,
    /// sFlow: samples lost between agent and collector, from gaps in each data source's sample
    /// sequence numbers.
    pub samples_lost: u64,
    /// sFlow: samples the agent itself dropped for lack of resources (growth of each data
    /// source's `drops` counter).
    pub agent_drops: u64,
    /// sFlow: packets that could have been sampled (growth of each data source's sample pool).
    pub sample_pool: u64,
    /// sFlow sampling accuracy check: octets estimated from flow samples (frame length ×
    /// rate) of interfaces during the intervals between their counter samples...
    pub accuracy_sampled_octets: u64,
    /// ...and the same interfaces' `in_octets` counter deltas over those intervals. Their ratio
    /// is the accuracy of the sampled estimate (1.0 exact, with ingress sampling).
    pub accuracy_counter_octets: u64,
    /// sFlow: samples and records of formats sluice does not read, skipped by their length, by
    /// kind and format ([`SkippedFormat`]), at most [`MAX_SKIPPED_FORMATS`] of them; the rest
    /// count under `SkippedFormat::OTHER`. [`ExporterStats::formats_skipped`] is their sum.
    pub skipped_formats: Vec<(SkippedFormat, u64)>,
    /// sFlow: the UDP source address of the last datagram (the exporter identity is the agent
    /// address inside the datagram).
    pub udp_source: Option<Ipv6Addr>,
}

/// Distinct skipped sFlow formats tracked per exporter.
pub const MAX_SKIPPED_FORMATS: usize = 32;

/// An sFlow structure skipped by its length: which kind of structure, its enterprise and format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SkippedFormat {
    /// 0 a sample, 1 a flow record, 2 a counter record, 255 any other (the tracking limit).
    pub kind: u8,
    /// Enterprise number (0 is sFlow.org).
    pub enterprise: u32,
    /// Format number.
    pub format: u32,
}

impl SkippedFormat {
    /// Where formats past [`MAX_SKIPPED_FORMATS`] are counted.
    pub const OTHER: SkippedFormat = SkippedFormat {
        kind: 255,
        enterprise: 0,
        format: 0,
    };

    /// The label used in metrics: `sample:0:6`, `flow_record:4413:1`, `counter_record:0:7`,
    /// `other`.
    pub fn label(&self) -> String {
        let kind = match self.kind {
            0 => "sample",
            1 => "flow_record",
            2 => "counter_record",
            _ => return "other".to_string(),
        };
        format!("{kind}:{}:{}", self.enterprise, self.format)
    }

    fn add(list: &mut Vec<(SkippedFormat, u64)>, f: SkippedFormat, n: u64) {
        if let Some(e) = list.iter_mut().find(|(k, _)| *k == f) {
            e.1 += n;
        } else if list.len() < MAX_SKIPPED_FORMATS - 1 || f == SkippedFormat::OTHER {
            list.push((f, n));
        } else {
            SkippedFormat::add(list, SkippedFormat::OTHER, n);
        }
    }
}

impl ExporterStats {
    /// sFlow: samples and records skipped by their length, every format.
    pub fn formats_skipped(&self) -> u64 {
        self.skipped_formats.iter().map(|(_, n)| n).sum()
    }

    /// Adds the counters of the same exporter seen by another decoder (another receive worker):
    /// counts add up, first and last seen widen, and the newest datagram's skew, version and
    /// sampling win.
    pub fn absorb(&mut self, o: &ExporterStats) {
        self.datagrams += o.datagrams;
        self.bytes += o.bytes;
        self.records += o.records;
        self.templates_learned += o.templates_learned;
        self.sets_held += o.sets_held;
        self.records_replayed += o.records_replayed;
        self.padding_bytes += o.padding_bytes;
        self.sampling_unknown += o.sampling_unknown;
        self.sequence_lost += o.sequence_lost;
        self.sequence_resets += o.sequence_resets;
        self.time_end_before_start += o.time_end_before_start;
        self.time_far_from_export += o.time_far_from_export;
        for (a, b) in self.errors.iter_mut().zip(o.errors) {
            *a += b;
        }
        self.samples_lost += o.samples_lost;
        self.agent_drops += o.agent_drops;
        self.sample_pool += o.sample_pool;
        self.accuracy_sampled_octets += o.accuracy_sampled_octets;
        self.accuracy_counter_octets += o.accuracy_counter_octets;
        for &(f, n) in &o.skipped_formats {
            SkippedFormat::add(&mut self.skipped_formats, f, n);
        }
        if o.first_seen != 0 && (self.first_seen == 0 || o.first_seen < self.first_seen) {
            self.first_seen = o.first_seen;
        }
        if o.last_seen >= self.last_seen {
            self.last_seen = o.last_seen;
            self.clock_skew_ms = o.clock_skew_ms;
            if o.version != 0 {
                self.version = o.version;
            }
            if o.sampling_rate != 0 {
                self.sampling_rate = o.sampling_rate;
                self.sampling_source = o.sampling_source;
            }
            if o.udp_source.is_some() {
                self.udp_source = o.udp_source;
            }
        }
    }

    /// The counts added since `earlier`, a snapshot of the same exporter (counts subtract,
    /// saturating at 0; times, version and sampling are this snapshot's).
    pub fn since(&self, earlier: &ExporterStats) -> ExporterStats {
        let mut d = self.clone();
        d.datagrams = d.datagrams.saturating_sub(earlier.datagrams);
        d.bytes = d.bytes.saturating_sub(earlier.bytes);
        d.records = d.records.saturating_sub(earlier.records);
        d.templates_learned = d
            .templates_learned
            .saturating_sub(earlier.templates_learned);
        d.sets_held = d.sets_held.saturating_sub(earlier.sets_held);
        d.records_replayed = d.records_replayed.saturating_sub(earlier.records_replayed);
        d.padding_bytes = d.padding_bytes.saturating_sub(earlier.padding_bytes);
        d.sampling_unknown = d.sampling_unknown.saturating_sub(earlier.sampling_unknown);
        d.sequence_lost = d.sequence_lost.saturating_sub(earlier.sequence_lost);
        d.sequence_resets = d.sequence_resets.saturating_sub(earlier.sequence_resets);
        d.time_end_before_start = d
            .time_end_before_start
            .saturating_sub(earlier.time_end_before_start);
        d.time_far_from_export = d
            .time_far_from_export
            .saturating_sub(earlier.time_far_from_export);
        for (a, b) in d.errors.iter_mut().zip(earlier.errors) {
            *a = a.saturating_sub(b);
        }
        d.samples_lost = d.samples_lost.saturating_sub(earlier.samples_lost);
        d.agent_drops = d.agent_drops.saturating_sub(earlier.agent_drops);
        d.sample_pool = d.sample_pool.saturating_sub(earlier.sample_pool);
        d.accuracy_sampled_octets = d
            .accuracy_sampled_octets
            .saturating_sub(earlier.accuracy_sampled_octets);
        d.accuracy_counter_octets = d
            .accuracy_counter_octets
            .saturating_sub(earlier.accuracy_counter_octets);
        for (f, n) in d.skipped_formats.iter_mut() {
            let before = earlier
                .skipped_formats
                .iter()
                .find(|(k, _)| k == f)
                .map_or(0, |e| e.1);
            *n = n.saturating_sub(before);
        }
        d
    }

    /// Rejections of every kind.
    pub fn error_count(&self) -> u64 {
        self.errors.iter().sum()
    }
}

/// Per-exporter counters, bounded in the number of exporters tracked.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    /// Counters by exporter address.
    pub exporters: Map<Ipv6Addr, ExporterStats>,
    /// Counters of exporters past the tracking limit.
    pub overflow: ExporterStats,
}

/// Exporters tracked individually in [`Stats`]; the rest share `overflow`.
pub const MAX_TRACKED_EXPORTERS: usize = 100_000;

impl Stats {
    fn entry(&mut self, exporter: Ipv6Addr) -> &mut ExporterStats {
        if self.exporters.len() >= MAX_TRACKED_EXPORTERS && !self.exporters.contains_key(&exporter)
        {
            return &mut self.overflow;
        }
        self.exporters.entry(exporter).or_default()
    }

    /// Sum of errors of every kind over every exporter.
    pub fn error_count(&self) -> u64 {
        ErrorKind::ALL.iter().map(|&k| self.errors_total(k)).sum()
    }

    /// Sum of errors of one kind over every exporter.
    pub fn errors_total(&self, kind: ErrorKind) -> u64 {
        self.exporters
            .values()
            .chain(std::iter::once(&self.overflow))
            .map(|s| s.errors[kind as usize])
            .sum()
    }
}

/// An interface learned from options data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// ifIndex.
    pub index: u32,
    /// Interface name (IE 82).
    pub name: String,
    /// Interface description (IE 83).
    pub description: String,
}

/// A snapshot of one scope, for health reports and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopeInfo {
    /// Exporter address.
    pub exporter: Ipv6Addr,
    /// Observation domain / source id.
    pub domain: u32,
    /// Protocol version.
    pub version: u16,
    /// Templates held.
    pub templates: usize,
    /// Data sets held for a missing template.
    pub pending_sets: usize,
    /// Sampler rates from options data: (sampler id, rate).
    pub samplers: Vec<(Option<u32>, u32)>,
    /// Interfaces learned from options data.
    pub interfaces: Vec<InterfaceInfo>,
}

/// Most samplers kept per scope; most interfaces kept per scope.
const MAX_SAMPLERS: usize = 256;
const MAX_INTERFACES: usize = 4096;
/// Bytes charged to the budget for a scope itself.
const SCOPE_OVERHEAD: usize = 256;

/// The per-datagram context a record is normalised against.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    exporter: Ipv6Addr,
    domain: u32,
    version: u16,
    export_ms: i64,
    sys_uptime: Option<u32>,
    received: i64,
}

impl Ctx {
    /// What every record of the datagram starts from.
    fn base(&self, flags: u8) -> FlowRecord {
        FlowRecord {
            time_received: self.received,
            exporter: self.exporter,
            observation_domain: self.domain,
            version: self.version,
            flags,
            ..FlowRecord::default()
        }
    }
}

#[derive(Debug)]
struct Pending {
    set_id: u16,
    ctx: Ctx,
    data: Vec<u8>,
}

type ScopeKey = (Ipv6Addr, u32, u16);

#[derive(Debug, Default)]
struct Scope {
    templates: Map<u16, Template>,
    samplers: Vec<(Option<u32>, u32)>,
    system_init: Option<i64>,
    interfaces: Vec<InterfaceInfo>,
    /// Bumped whenever `interfaces` gains or changes an entry.
    interfaces_version: u64,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    template_bytes: usize,
    override_rate: Option<u32>,
    last_used: u64,
    seq: SeqState,
    /// sFlow per-source and per-interface state (allocated on the first sFlow datagram).
    sflow: Option<Box<sflow::State>>,
}

/// Sequence-number state of one scope: v5 counts flows, v9 counts export packets (RFC 3954 §5.1),
/// IPFIX counts data records sent before the message (RFC 7011 §3.1).
#[derive(Debug, Default, Clone, Copy)]
struct SeqState {
    last: u32,
    last_count: u32,
    last_flows: u32,
    valid: bool,
}

impl SeqState {
    /// Check the sequence number `got` of a message that carries `count` units, `flows` of them
    /// flow records (IPFIX also counts options records); returns (units lost, whether the sequence
    /// went backwards). Some exporters (softflowd's IPFIX) count the current message, or only flow
    /// records, in the sequence number; those offsets are not losses.
    fn check(&mut self, got: u32, count: u32, flows: u32) -> (u64, bool) {
        let res = if !self.valid {
            (0, false)
        } else {
            let expected = self.last.wrapping_add(self.last_count);
            let quirks = [
                self.last.wrapping_add(self.last_flows),
                self.last.wrapping_add(count),
                self.last.wrapping_add(flows),
            ];
            if got == expected || quirks.contains(&got) {
                (0, false)
            } else {
                let gap = got.wrapping_sub(expected);
                if gap < 1 << 31 {
                    (u64::from(gap), false)
                } else {
                    (0, true)
                }
            }
        };
        *self = SeqState {
            last: got,
            last_count: count,
            last_flows: flows,
            valid: true,
        };
        res
    }
}

impl Scope {
    fn set_sampler(&mut self, id: Option<u32>, rate: u32) {
        if let Some(e) = self.samplers.iter_mut().find(|(k, _)| *k == id) {
            e.1 = rate;
        } else if self.samplers.len() < MAX_SAMPLERS {
            self.samplers.push((id, rate));
        }
    }
}

/// Global budgets shared by every scope.
#[derive(Debug, Default)]
struct Budget {
    template_bytes: usize,
    pending_bytes: usize,
}

/// The decoder. One per worker; exporters are sharded so that one exporter's state lives in one
/// decoder.
#[derive(Debug)]
pub struct Decoder {
    settings: DecoderSettings,
    scopes: Map<ScopeKey, Scope>,
    budget: Budget,
    tick: u64,
    stats: Stats,
    fields_buf: Vec<FieldSpec>,
    bufs: Bufs,
    /// sFlow: read every sample through the general walk (the equality test's reference).
    sflow_general_only: bool,
}

impl Decoder {
    /// A decoder with validated settings.
    pub fn new(settings: DecoderSettings) -> Self {
        Decoder {
            settings,
            scopes: Map::default(),
            budget: Budget::default(),
            tick: 0,
            stats: Stats::default(),
            fields_buf: Vec::with_capacity(64),
            bufs: Bufs::new(),
            sflow_general_only: false,
        }
    }

    /// Read every sFlow flow sample through the general record walk, never the one-pass reading
    /// of the common shape. Both give the same records and counters; the test that shows it
    /// (`tests/sflow_common_path.rs`) decodes the same datagrams both ways.
    #[doc(hidden)]
    pub fn sflow_general_only(&mut self) {
        self.sflow_general_only = true;
    }

    /// The counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Bytes of template and scope state, as charged against the budget.
    pub fn template_bytes(&self) -> usize {
        self.budget.template_bytes
    }

    /// Bytes of data held for missing templates.
    pub fn pending_bytes(&self) -> usize {
        self.budget.pending_bytes
    }

    /// Number of exporter scopes held.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// Templates held, summed by exporter address.
    pub fn templates_by_exporter(&self) -> HashMap<Ipv6Addr, usize> {
        let mut m = HashMap::new();
        for ((e, _, _), s) in &self.scopes {
            *m.entry(*e).or_default() += s.templates.len();
        }
        m
    }

    /// Options templates held, summed by exporter address (included in
    /// [`Decoder::templates_by_exporter`]).
    pub fn options_templates_by_exporter(&self) -> HashMap<Ipv6Addr, usize> {
        let mut m = HashMap::new();
        for ((e, _, _), s) in &self.scopes {
            let n = s
                .templates
                .values()
                .filter(|t| matches!(t.kind, TemplateKind::Options { .. }))
                .count();
            *m.entry(*e).or_default() += n;
        }
        m
    }

    /// Data sets held, summed by exporter address.
    pub fn pending_by_exporter(&self) -> HashMap<Ipv6Addr, usize> {
        let mut m = HashMap::new();
        for ((e, _, _), s) in &self.scopes {
            *m.entry(*e).or_default() += s.pending.len();
        }
        m
    }

    /// A number that changes whenever options data adds or changes an interface of any scope
    /// (or a scope holding interfaces expires): cheap to poll, so a caller can ask for
    /// [`Decoder::scopes`] only when it moved.
    pub fn interfaces_version(&self) -> u64 {
        self.scopes
            .values()
            .map(|s| {
                s.interfaces_version
                    .wrapping_mul(31)
                    .wrapping_add(s.interfaces.len() as u64)
            })
            .fold(self.scopes.len() as u64, u64::wrapping_add)
    }

    /// A description of every scope.
    pub fn scopes(&self) -> Vec<ScopeInfo> {
        let mut v: Vec<ScopeInfo> = self
            .scopes
            .iter()
            .map(|(&(exporter, domain, version), s)| ScopeInfo {
                exporter,
                domain,
                version,
                templates: s.templates.len(),
                pending_sets: s.pending.len(),
                samplers: s.samplers.clone(),
                interfaces: s.interfaces.clone(),
            })
            .collect();
        v.sort_by_key(|s| (s.exporter, s.domain, s.version));
        v
    }

    /// Decode one datagram from `from`, received at `now` (Unix ms), pushing records into `out`.
    ///
    /// Errors in one set or record are counted and decoding goes on with the next; `Err` means the
    /// datagram as a whole was unreadable (it is counted too).
    pub fn decode<S: RecordSink + ?Sized>(
        &mut self,
        from: IpAddr,
        data: &[u8],
        now: i64,
        out: &mut S,
    ) -> Result<Summary, DecodeError> {
        let mut sum = Summary::default();
        let mut c = Counters::default();
        let (exporter, res) = if sflow_wire::looks_like_sflow(data) {
            self.decode_sflow(from, data, now, out, &mut sum, &mut c)
        } else {
            let exporter = to_v6(from);
            let res = self.decode_inner(exporter, data, now, out, &mut sum, &mut c);
            (exporter, res)
        };
        if let Err(e) = res {
            sum.err(e);
        }
        // One stats lookup per datagram.
        let st = self.stats.entry(exporter);
        st.sampling_unknown += c.sampling_unknown;
        st.time_end_before_start += c.end_before_start;
        st.time_far_from_export += c.far_from_export;
        st.sequence_lost += c.sequence_lost;
        st.sequence_resets += c.sequence_resets;
        st.samples_lost += c.samples_lost;
        st.agent_drops += c.agent_drops;
        st.sample_pool += c.sample_pool;
        st.accuracy_sampled_octets += c.accuracy_sampled_octets;
        st.accuracy_counter_octets += c.accuracy_counter_octets;
        for &(f, n) in &c.skipped[..c.skipped_len] {
            SkippedFormat::add(&mut st.skipped_formats, f, n);
        }
        if c.udp_source.is_some() {
            st.udp_source = c.udp_source;
        }
        if let Some(skew) = c.clock_skew_ms {
            st.clock_skew_ms = skew;
        }
        if st.datagrams == 0 {
            st.first_seen = now;
        }
        if let Some((rate, source)) = c.last_sampling {
            st.sampling_rate = rate;
            st.sampling_source = source;
        }
        st.datagrams += 1;
        st.bytes += data.len() as u64;
        st.records += u64::from(sum.records);
        st.templates_learned += u64::from(sum.templates);
        st.sets_held += u64::from(sum.held);
        st.records_replayed += u64::from(sum.replayed);
        st.padding_bytes += u64::from(sum.padding_bytes);
        st.last_seen = now;
        if sum.version != 0 {
            st.version = sum.version;
        }
        for (i, n) in sum.errors.iter().enumerate() {
            st.errors[i] += u64::from(*n);
        }
        if self.budget.template_bytes > self.settings.template_memory_bytes {
            self.evict(exporter);
        }
        res.map(|()| sum)
    }

    fn decode_inner<S: RecordSink + ?Sized>(
        &mut self,
        exporter: Ipv6Addr,
        data: &[u8],
        now: i64,
        out: &mut S,
        sum: &mut Summary,
        c: &mut Counters,
    ) -> Result<(), DecodeError> {
        if data.len() < 2 {
            return Err(DecodeError::Truncated("version"));
        }
        let version = u16::from_be_bytes([data[0], data[1]]);
        let (ctx, payload, sequence) = match version {
            5 => {
                sum.version = 5;
                return self.decode_v5(exporter, data, now, out, sum, c);
            }
            9 => {
                sum.version = 9;
                let h = v9::Header::new_checked(data)?;
                let ctx = Ctx {
                    exporter,
                    domain: h.source_id(),
                    version: 9,
                    export_ms: i64::from(h.unix_secs()) * 1000,
                    sys_uptime: Some(h.sys_uptime()),
                    received: now,
                };
                // Validated by `new_checked`: the header is there.
                (ctx, &data[v9::HEADER_LEN..], h.sequence())
            }
            10 => {
                sum.version = 10;
                let h = ipfix::Header::new_checked(data)?;
                let ctx = Ctx {
                    exporter,
                    domain: h.domain(),
                    version: 10,
                    export_ms: i64::from(h.export_time()) * 1000,
                    sys_uptime: None,
                    received: now,
                };
                // Validated by `new_checked`: HEADER_LEN <= length <= data.len().
                trailing(
                    &data[h.length()..],
                    DecodeError::BadLength("bytes after the IPFIX message length"),
                    sum,
                );
                (ctx, &data[ipfix::HEADER_LEN..h.length()], h.sequence())
            }
            v => return Err(DecodeError::UnsupportedVersion(v)),
        };
        c.clock_skew_ms = Some(ctx.export_ms - now);
        self.decode_sets(ctx, payload, sequence, out, sum, c);
        Ok(())
    }

    fn scope_mut(&mut self, key: ScopeKey) -> &mut Scope {
        self.tick += 1;
        scope_in(
            &mut self.scopes,
            &mut self.budget,
            &self.settings,
            self.tick,
            key,
        )
    }

    fn decode_v5<S: RecordSink + ?Sized>(
        &mut self,
        exporter: Ipv6Addr,
        data: &[u8],
        now: i64,
        out: &mut S,
        sum: &mut Summary,
        c: &mut Counters,
    ) -> Result<(), DecodeError> {
        let p = v5::Packet::new_checked(data)?;
        let export_ms = i64::from(p.unix_secs()) * 1000 + i64::from(p.unix_nsecs() / 1_000_000);
        c.clock_skew_ms = Some(export_ms - now);
        let domain = u32::from(p.engine_type()) << 8 | u32::from(p.engine_id());
        let scope = self.scope_mut((exporter, domain, 5));
        let count = p.count() as u32;
        let (lost, reset) = scope.seq.check(p.sequence(), count, count);
        c.sequence_lost += lost;
        c.sequence_resets += u64::from(reset);
        let override_rate = scope.override_rate;
        let (_, interval) = p.sampling();
        let (rate, source) = match override_rate {
            Some(r) => (r, SamplingSource::Override),
            None => (u32::from(interval).max(1), SamplingSource::V5Header),
        };
        // The v5 header always states the rate (0 means unsampled), so the configured default, which
        // ranks below it, never applies to v5.
        let base = FlowRecord {
            time_received: now,
            exporter,
            observation_domain: domain,
            version: 5,
            sampling_rate: rate,
            sampling_source: source,
            ..FlowRecord::default()
        };
        let n = p.count();
        let v5 = V5Times {
            export_ms,
            uptime: p.sys_uptime(),
            max_skew: self.settings.max_time_skew_ms,
        };
        let flagged = match out.slots(n, &base) {
            Some(slots) => v5.fill(slots, p.records()),
            None => {
                let batch = self.bufs.batch.get_mut(..n).unwrap_or_default();
                columns::fill(batch, &base);
                let flagged = v5.fill(batch, p.records());
                for r in batch.iter() {
                    out.push(r);
                }
                flagged
            }
        };
        sum.records += count;
        c.end_before_start += flagged.0;
        c.far_from_export += flagged.1;
        Ok(())
    }

    fn decode_sets<S: RecordSink + ?Sized>(
        &mut self,
        ctx: Ctx,
        payload: &[u8],
        sequence: u32,
        out: &mut S,
        sum: &mut Summary,
        counters: &mut Counters,
    ) {
        let key = (ctx.exporter, ctx.domain, ctx.version);
        let mut fields = std::mem::take(&mut self.fields_buf);
        self.tick += 1;
        let Decoder {
            settings,
            scopes,
            budget,
            tick,
            bufs,
            ..
        } = self;
        let scope = scope_in(scopes, budget, settings, *tick, key);
        let mut env = Env {
            settings,
            budget,
            counters,
            bufs,
        };
        let ipfix = ctx.version == 10;
        let mut r = Reader::new(payload);
        while !r.is_empty() {
            // A tail that cannot start a set (shorter than a set header, or a set length below 4,
            // which is how zero-fill reads) ends the sets: padding or an error.
            let rest = r.rest();
            if rest.len() < 4 || u16::from_be_bytes([rest[2], rest[3]]) < 4 {
                trailing(rest, DecodeError::BadLength("set length below 4"), sum);
                break;
            }
            let (Some(id), Some(len)) = (r.u16(), r.u16()) else {
                break;
            };
            let Some(body) = r.take(usize::from(len) - 4) else {
                sum.err(DecodeError::Truncated("set longer than the datagram"));
                break;
            };
            match (ipfix, id) {
                (false, 0) | (true, 2) => {
                    template_set(&mut env, scope, ctx, body, false, &mut fields, out, sum)
                }
                (false, 1) | (true, 3) => {
                    template_set(&mut env, scope, ctx, body, true, &mut fields, out, sum)
                }
                (_, id) if id >= 256 => data_set(&mut env, scope, ctx, id, body, 0, out, sum),
                (_, id) => sum.err(DecodeError::BadSetId(id)),
            }
        }
        // v9 counts export packets; IPFIX counts data records (options records too). Held sets
        // carry an unknown number of records, so the next gap cannot be judged.
        let flows = sum.records - sum.replayed;
        let (count, countable) = if ipfix {
            ((flows + sum.options_records, flows), sum.held == 0)
        } else {
            ((1, 1), true)
        };
        let (lost, reset) = scope.seq.check(sequence, count.0, count.1);
        if !countable {
            scope.seq.valid = false;
        }
        env.counters.sequence_lost += lost;
        env.counters.sequence_resets += u64::from(reset);
        self.fields_buf = fields;
    }

    /// Evict least recently used scopes until template state is within 90% of the budget.
    /// The scope of `keep` (the exporter just served) is evicted last.
    fn evict(&mut self, keep: Ipv6Addr) {
        let target = self.settings.template_memory_bytes / 10 * 9;
        let mut order: Vec<(bool, u64, ScopeKey)> = self
            .scopes
            .iter()
            .map(|(k, s)| (k.0 == keep, s.last_used, *k))
            .collect();
        order.sort_unstable();
        for (_, _, key) in order {
            if self.budget.template_bytes <= target {
                break;
            }
            if let Some(s) = self.scopes.remove(&key) {
                self.budget.template_bytes -= s.template_bytes;
                self.budget.pending_bytes -= s.pending_bytes;
                self.stats.entry(key.0).errors[ErrorKind::TemplateBudget as usize] += 1;
            }
        }
    }

    /// Forget templates not refreshed within the TTL, data held too long, and idle empty scopes.
    /// Call it periodically with the current time.
    pub fn expire(&mut self, now: i64) {
        let ttl = self.settings.template_ttl_ms;
        let pending_ttl = self.settings.pending_ttl_ms;
        let mut dropped: Vec<(Ipv6Addr, u64)> = Vec::new();
        for ((exporter, _, _), s) in self.scopes.iter_mut() {
            let before = s.templates.len();
            let mut freed = 0;
            s.templates.retain(|_, t| {
                let keep = now.saturating_sub(t.learned_at) <= ttl;
                if !keep {
                    freed += t.footprint();
                }
                keep
            });
            if s.templates.len() != before {
                s.template_bytes -= freed;
                self.budget.template_bytes -= freed;
            }
            let mut n = 0;
            while let Some(p) = s.pending.front() {
                if now.saturating_sub(p.ctx.received) <= pending_ttl {
                    break;
                }
                let p = s.pending.pop_front().expect("front exists");
                s.pending_bytes -= p.data.len();
                self.budget.pending_bytes -= p.data.len();
                n += 1;
            }
            if n > 0 {
                dropped.push((*exporter, n));
            }
        }
        for (e, n) in dropped {
            self.stats.entry(e).errors[ErrorKind::PendingDropped as usize] += n;
        }
        let idle = self.tick.saturating_sub(1 << 20);
        let budget = &mut self.budget;
        self.scopes.retain(|_, s| {
            let keep = !s.templates.is_empty() || !s.pending.is_empty() || s.last_used > idle;
            if !keep {
                budget.template_bytes -= s.template_bytes;
            }
            keep
        });
    }

    /// Load saved state (see [`persist`]). Templates pass the same validation, limits and
    /// compilation as templates from the wire; ones past their TTL at `now` are not restored.
    /// Returns how many templates were restored.
    pub fn restore(&mut self, snap: &Snapshot, now: i64) -> usize {
        let mut restored = 0;
        let mut sum = Summary::default();
        for t in &snap.templates {
            if now.saturating_sub(t.learned_at) > self.settings.template_ttl_ms
                || t.id < 256
                || t.fields.is_empty()
                || t.fields.len() > self.settings.max_fields_per_template
            {
                continue;
            }
            // The same scope-count rule as on the wire: IPFIX needs a scope field (RFC 7011
            // §3.4.2.2), NetFlow v9 may have none.
            let kind = match t.scope_fields {
                Some(sc) if (sc >= 1 || t.version == 9) && sc <= t.fields.len() => {
                    TemplateKind::Options {
                        scope_count: sc,
                        record_len: template::min_record_len(&t.fields),
                    }
                }
                Some(_) => continue,
                None => match template::compile(&t.fields, &self.settings.enterprise_fields) {
                    Ok(plan) => TemplateKind::Data(plan),
                    Err(_) => continue,
                },
            };
            let key = (t.exporter, t.domain, t.version);
            self.scope_mut(key);
            let Decoder {
                settings,
                scopes,
                budget,
                bufs,
                ..
            } = self;
            let scope = scopes.get_mut(&key).expect("scope was just inserted");
            let mut counters = Counters::default();
            let mut env = Env {
                settings,
                budget,
                counters: &mut counters,
                bufs,
            };
            let tpl = Template {
                fields: t.fields.as_slice().into(),
                kind,
                learned_at: t.learned_at,
            };
            match learn(&mut env, scope, t.id, tpl) {
                Ok(()) => restored += 1,
                Err(e) => sum.err(e),
            }
        }
        for s in &snap.samplers {
            self.scope_mut((s.exporter, s.domain, s.version))
                .set_sampler(s.sampler, s.rate);
        }
        for &(e, d, v, init) in &snap.system_init {
            self.scope_mut((e, d, v)).system_init = Some(init);
        }
        if self.budget.template_bytes > self.settings.template_memory_bytes {
            self.evict(Ipv6Addr::UNSPECIFIED);
        }
        restored
    }

    /// Every template held, for persistence ([`persist::write`] puts it in a file).
    pub fn snapshot(&self) -> Snapshot {
        let mut templates = Vec::new();
        let mut samplers = Vec::new();
        for (&(exporter, domain, version), s) in &self.scopes {
            for (&id, t) in &s.templates {
                templates.push(SavedTemplate {
                    exporter,
                    domain,
                    version,
                    id,
                    scope_fields: match t.kind {
                        TemplateKind::Data(_) => None,
                        TemplateKind::Options { scope_count, .. } => Some(scope_count),
                    },
                    fields: t.fields.to_vec(),
                    learned_at: t.learned_at,
                });
            }
            for &(sampler, rate) in &s.samplers {
                samplers.push(SavedSampler {
                    exporter,
                    domain,
                    version,
                    sampler,
                    rate,
                });
            }
        }
        templates.sort_by_key(|t| (t.exporter, t.domain, t.version, t.id));
        Snapshot {
            format: persist::FORMAT,
            templates,
            samplers,
            system_init: self
                .scopes
                .iter()
                .filter_map(|(&(e, d, v), s)| s.system_init.map(|i| (e, d, v, i)))
                .collect(),
        }
    }
}

/// What NetFlow v5 records are normalised against: the header's times.
struct V5Times {
    export_ms: i64,
    uptime: u32,
    max_skew: i64,
}

impl V5Times {
    /// Fill `slots` (each already the datagram's base record) from the 48-byte records, straight
    /// through a fixed layout. Returns the records flagged (end before start, far from export).
    #[inline]
    fn fill<'a>(
        &self,
        slots: &mut [FlowRecord],
        records: impl Iterator<Item = v5::Record<'a>>,
    ) -> (u64, u64) {
        let abs = |t: u32| self.export_ms - i64::from(self.uptime.wrapping_sub(t) as i32);
        let mut flagged = (0u64, 0u64);
        for (r, w) in slots.iter_mut().zip(records) {
            let (protocol, dst_port) = (w.protocol(), w.dst_port());
            r.flow_start = Some(abs(w.first()));
            r.flow_end = Some(abs(w.last()));
            r.src_addr = Some(columns::v4_mapped(w.src_addr()));
            r.dst_addr = Some(columns::v4_mapped(w.dst_addr()));
            r.next_hop = Some(columns::v4_mapped(w.next_hop()));
            r.src_port = Some(w.src_port());
            r.dst_port = Some(dst_port);
            r.protocol = Some(protocol);
            r.tcp_flags = Some(u16::from(w.tcp_flags()));
            r.tos = Some(w.tos());
            r.bytes = u64::from(w.octets());
            r.packets = u64::from(w.packets());
            r.in_if = Some(u32::from(w.input()));
            r.out_if = Some(u32::from(w.output()));
            r.src_as = Some(u32::from(w.src_as()));
            r.dst_as = Some(u32::from(w.dst_as()));
            r.src_mask = Some(w.src_mask());
            r.dst_mask = Some(w.dst_mask());
            // v5 has no ICMP fields: exporters put type × 256 + code in the destination port.
            if protocol == 1 || protocol == 58 {
                r.icmp_type = Some((dst_port >> 8) as u8);
                r.icmp_code = Some(dst_port as u8);
            }
            check_times(r, self.export_ms, self.max_skew, &mut flagged);
        }
        flagged
    }
}

/// The scope of `key`, created (and charged to the budget) when new; marked used at `tick`.
fn scope_in<'a>(
    scopes: &'a mut Map<ScopeKey, Scope>,
    budget: &mut Budget,
    settings: &DecoderSettings,
    tick: u64,
    key: ScopeKey,
) -> &'a mut Scope {
    let scope = scopes.entry(key).or_insert_with(|| {
        budget.template_bytes += SCOPE_OVERHEAD;
        Scope {
            template_bytes: SCOPE_OVERHEAD,
            override_rate: settings
                .sampling_overrides
                .iter()
                .find(|(c, _)| c.contains(key.0))
                .map(|&(_, r)| r),
            ..Scope::default()
        }
    });
    scope.last_used = tick;
    scope
}

/// Account for bytes after the last complete set: all zero is padding; otherwise `err` when the
/// tail is at least a set header long, else truncated.
fn trailing(tail: &[u8], err: DecodeError, sum: &mut Summary) {
    let err = if tail.len() < 4 {
        DecodeError::Truncated("set header")
    } else {
        err
    };
    padding_or(tail, err, sum);
}

/// Account for bytes after the last structure of a datagram: all zero is padding, anything else
/// is `err`.
fn padding_or(tail: &[u8], err: DecodeError, sum: &mut Summary) {
    if tail.iter().all(|&b| b == 0) {
        let n = u32::try_from(tail.len()).unwrap_or(u32::MAX);
        sum.padding_bytes = sum.padding_bytes.saturating_add(n);
    } else {
        sum.err(err);
    }
}

/// Per-datagram counters that do not fit in [`Summary`], applied to the exporter's stats once.
#[derive(Debug, Default)]
struct Counters {
    sampling_unknown: u64,
    end_before_start: u64,
    far_from_export: u64,
    clock_skew_ms: Option<i64>,
    sequence_lost: u64,
    sequence_resets: u64,
    /// Rate and provenance of the datagram's last record.
    last_sampling: Option<(u32, SamplingSource)>,
    /// sFlow: sample-sequence gaps, agent drops and sample-pool growth.
    samples_lost: u64,
    agent_drops: u64,
    sample_pool: u64,
    /// sFlow: the sampling accuracy check's two sides.
    accuracy_sampled_octets: u64,
    accuracy_counter_octets: u64,
    /// sFlow: formats skipped in this datagram (the first few distinct ones; the rest under
    /// [`SkippedFormat::OTHER`]).
    skipped: [(SkippedFormat, u64); 4],
    skipped_len: usize,
    /// sFlow: the datagram's UDP source.
    udp_source: Option<Ipv6Addr>,
}

impl Counters {
    fn skip(&mut self, f: SkippedFormat) {
        let n = self.skipped_len;
        if let Some(e) = self.skipped[..n].iter_mut().find(|(k, _)| *k == f) {
            e.1 += 1;
        } else if n < self.skipped.len() - 1 {
            self.skipped[n] = (f, 1);
            self.skipped_len += 1;
        } else if n == self.skipped.len() - 1 {
            self.skipped[n] = (SkippedFormat::OTHER, 1);
            self.skipped_len += 1;
        } else {
            self.skipped[n - 1].1 += 1;
        }
    }
}

/// What set decoders need besides the scope.
struct Env<'a> {
    settings: &'a DecoderSettings,
    budget: &'a mut Budget,
    counters: &'a mut Counters,
    bufs: &'a mut Bufs,
}

#[allow(clippy::too_many_arguments)]
fn template_set<S: RecordSink + ?Sized>(
    env: &mut Env<'_>,
    scope: &mut Scope,
    ctx: Ctx,
    body: &[u8],
    options: bool,
    fields: &mut Vec<FieldSpec>,
    out: &mut S,
    sum: &mut Summary,
) {
    let ipfix = ctx.version == 10;
    let limits = TemplateLimits {
        max_fields: env.settings.max_fields_per_template,
    };
    let mut r = Reader::new(body);
    while r.remaining() >= 4 {
        if r.rest().iter().all(|&b| b == 0) {
            break; // padding
        }
        let (Some(id), Some(count)) = (r.u16(), r.u16()) else {
            break;
        };
        let count = usize::from(count);
        if ipfix && count == 0 {
            withdraw(env, scope, id, options);
            continue;
        }
        let (scope_count, result) = if !options {
            (
                0,
                template::read_fields(&mut r, count, ipfix, limits, fields),
            )
        } else if ipfix {
            let Some(sc) = r.u16() else {
                sum.err(DecodeError::Truncated("options template scope count"));
                break;
            };
            let sc = usize::from(sc);
            if sc == 0 || sc > count {
                sum.err(DecodeError::InvalidTemplate("options template scope count"));
                break;
            }
            (
                sc,
                template::read_fields(&mut r, count, ipfix, limits, fields),
            )
        } else {
            // v9 options template: template id, scope length (bytes), option length (bytes).
            // A scope length of 0 is accepted: Juniper SRX sends options with no scope fields for
            // the whole exporter (sampling interval and algorithm), which apply like a System
            // scope. Field count, zero-length and record-length limits still hold.
            let scope_len = count;
            let Some(opt_len) = r.u16() else {
                sum.err(DecodeError::Truncated("options template option length"));
                break;
            };
            let opt_len = usize::from(opt_len);
            if scope_len % 4 != 0 || opt_len % 4 != 0 {
                sum.err(DecodeError::InvalidTemplate("options template lengths"));
                break;
            }
            let n = (scope_len + opt_len) / 4;
            let res = template::read_fields(&mut r, n, false, limits, fields);
            // v9 pads the options template to 4 bytes: skip what is left.
            let rest = r.remaining();
            if res.is_ok() && rest < 4 {
                let _ = r.take(rest);
            }
            (scope_len / 4, res)
        };
        if let Err(e) = result {
            sum.err(e);
            break; // the set cannot be resynchronised after a bad template
        }
        if id < 256 {
            sum.err(DecodeError::InvalidTemplate("template id below 256"));
            continue;
        }
        let kind = if options {
            TemplateKind::Options {
                scope_count,
                record_len: template::min_record_len(fields),
            }
        } else {
            match template::compile(fields, &env.settings.enterprise_fields) {
                Ok(plan) => TemplateKind::Data(plan),
                Err(e) => {
                    sum.err(e);
                    continue;
                }
            }
        };
        if let TemplateKind::Options { record_len: 0, .. } = kind {
            sum.err(DecodeError::InvalidTemplate("records of zero length"));
            continue;
        }
        let t = Template {
            fields: fields.as_slice().into(),
            kind,
            learned_at: ctx.received,
        };
        match learn(env, scope, id, t) {
            Ok(()) => {
                sum.templates += 1;
                replay_pending(env, scope, id, out, sum);
            }
            Err(e) => sum.err(e),
        }
    }
}

fn withdraw(env: &mut Env<'_>, scope: &mut Scope, id: u16, options: bool) {
    let all = (!options && id == 2) || (options && id == 3);
    let mut freed = 0;
    if all {
        scope.templates.retain(|_, t| {
            let is_options = matches!(t.kind, TemplateKind::Options { .. });
            let drop = is_options == options;
            if drop {
                freed += t.footprint();
            }
            !drop
        });
    } else if let Some(t) = scope.templates.remove(&id) {
        freed = t.footprint();
    }
    scope.template_bytes -= freed;
    env.budget.template_bytes -= freed;
}

fn learn(env: &mut Env<'_>, scope: &mut Scope, id: u16, t: Template) -> Result<(), DecodeError> {
    let size = t.footprint();
    match scope.templates.get_mut(&id) {
        Some(old) => {
            let old_size = old.footprint();
            if *old == t {
                old.learned_at = t.learned_at;
                return Ok(());
            }
            *old = t;
            scope.template_bytes = scope.template_bytes - old_size + size;
            env.budget.template_bytes = env.budget.template_bytes - old_size + size;
        }
        None => {
            if scope.templates.len() >= env.settings.max_templates_per_exporter {
                return Err(DecodeError::TemplateLimit);
            }
            scope.templates.insert(id, t);
            scope.template_bytes += size;
            env.budget.template_bytes += size;
        }
    }
    Ok(())
}

fn replay_pending<S: RecordSink + ?Sized>(
    env: &mut Env<'_>,
    scope: &mut Scope,
    id: u16,
    out: &mut S,
    sum: &mut Summary,
) {
    if !scope.pending.iter().any(|p| p.set_id == id) {
        return;
    }
    let held = std::mem::take(&mut scope.pending);
    for p in held {
        if p.set_id == id {
            scope.pending_bytes -= p.data.len();
            env.budget.pending_bytes -= p.data.len();
            let before = sum.records;
            data_set(env, scope, p.ctx, id, &p.data, flags::REPLAYED, out, sum);
            sum.replayed += sum.records - before;
        } else {
            scope.pending.push_back(p);
        }
    }
}

fn hold(env: &mut Env<'_>, scope: &mut Scope, ctx: Ctx, id: u16, body: &[u8], sum: &mut Summary) {
    let len = body.len();
    let per_scope = env.settings.pending_bytes_per_exporter;
    if len > per_scope {
        sum.err(DecodeError::PendingDropped(
            "set larger than the pending buffer",
        ));
        return;
    }
    // Make room: oldest first, within this scope.
    while scope.pending_bytes + len > per_scope
        || env.budget.pending_bytes + len > env.settings.pending_bytes_total
    {
        match scope.pending.pop_front() {
            Some(p) => {
                scope.pending_bytes -= p.data.len();
                env.budget.pending_bytes -= p.data.len();
                sum.err(DecodeError::PendingDropped("pending buffer full"));
            }
            None => {
                sum.err(DecodeError::PendingDropped("pending buffer full"));
                return;
            }
        }
    }
    scope.pending_bytes += len;
    env.budget.pending_bytes += len;
    scope.pending.push_back(Pending {
        set_id: id,
        ctx,
        data: body.to_vec(),
    });
    sum.held += 1;
}

#[allow(clippy::too_many_arguments)]
fn data_set<S: RecordSink + ?Sized>(
    env: &mut Env<'_>,
    scope: &mut Scope,
    ctx: Ctx,
    id: u16,
    body: &[u8],
    extra_flags: u8,
    out: &mut S,
    sum: &mut Summary,
) {
    // One template lookup per data set on the common path.
    let Some(t) = scope.templates.get(&id) else {
        hold(env, scope, ctx, id, body, sum);
        return;
    };
    if ctx.received.saturating_sub(t.learned_at) > env.settings.template_ttl_ms {
        // Expired: forget it (a single id >= 256 is never a withdraw-all) and wait for a fresh one.
        withdraw(env, scope, id, false);
        hold(env, scope, ctx, id, body, sum);
        return;
    }
    if let TemplateKind::Options {
        scope_count,
        record_len,
    } = t.kind
    {
        // Options data is rare: take the template out while the scope is updated, then put it back.
        let t = scope.templates.remove(&id).expect("checked above");
        let mut rest = body;
        while rest.len() >= record_len && record_len > 0 {
            match options_record(scope, &t.fields, scope_count, ctx.version, rest) {
                Some(used) => {
                    rest = &rest[used..];
                    sum.options_records += 1;
                }
                None => {
                    sum.err(DecodeError::Truncated("options record"));
                    break;
                }
            }
        }
        scope.templates.insert(id, t);
        return;
    }
    let TemplateKind::Data(plan) = &t.kind else {
        return;
    };
    // Resolved once per data set: the template's facts against the scope's sampling state.
    let norm = SetNorm::new(plan, &ctx, env.settings, scope);
    let base = ctx.base(extra_flags);
    let bufs = &mut *env.bufs;
    let mut pos = 0;
    while body.len().saturating_sub(pos) >= plan.record_len() {
        if !plan.varlen() {
            let k = ((body.len() - pos) / plan.record_len()).min(CHUNK);
            let end = pos + k * plan.record_len();
            let fixed = body.get(pos..end).unwrap_or_default();
            let chunk = Chunk {
                plan,
                fixed,
                vars: &[],
                body,
            };
            chunk.decode(k, &norm, &base, bufs, out, sum, env.counters);
            pos = end;
        } else {
            let found = columns::locate(plan, body, pos, &mut bufs.packed, &mut bufs.vars);
            let (packed, vars) = (
                std::mem::take(&mut bufs.packed),
                std::mem::take(&mut bufs.vars),
            );
            let chunk = Chunk {
                plan,
                fixed: &packed,
                vars: &vars,
                body,
            };
            chunk.decode(found.records, &norm, &base, bufs, out, sum, env.counters);
            (bufs.packed, bufs.vars) = (packed, vars);
            pos += found.used;
            if found.truncated {
                sum.err(DecodeError::Truncated("variable-length field"));
                break;
            }
            if found.records == 0 {
                break;
            }
        }
    }
}

/// A chunk of records of one data set, located: their fixed-length bytes (`plan.fixed_len` each)
/// and their kept variable-length values.
struct Chunk<'a> {
    plan: &'a Plan,
    fixed: &'a [u8],
    vars: &'a [(u32, u32)],
    body: &'a [u8],
}

impl Chunk<'_> {
    /// Decode the chunk's `k` records into the sink's slots (or the decoder's, for a sink that has
    /// none): every operation of the plan across the records, then the normalisation.
    #[allow(clippy::too_many_arguments)]
    fn decode<S: RecordSink + ?Sized>(
        &self,
        k: usize,
        norm: &SetNorm<'_>,
        base: &FlowRecord,
        bufs: &mut Bufs,
        out: &mut S,
        sum: &mut Summary,
        counters: &mut Counters,
    ) {
        let Some(aux) = bufs.aux.get_mut(..k) else {
            return; // not reached: a chunk has at most CHUNK records
        };
        if self.plan.facts.checked_per_record {
            aux.iter_mut().for_each(|a| a.bad = false);
        }
        let fill = |recs: &mut [FlowRecord], aux: &mut [Aux], counters: &mut Counters| {
            columns::run(self.plan, self.fixed, self.vars, self.body, recs, aux);
            norm.finish(recs, aux, counters)
        };
        let bad = match out.slots(k, base) {
            Some(slots) => fill(slots, aux, counters),
            None => {
                let Some(batch) = bufs.batch.get_mut(..k) else {
                    return;
                };
                columns::fill(batch, base);
                let bad = fill(batch, aux, counters);
                for r in batch.iter() {
                    out.push(r);
                }
                bad
            }
        };
        sum.records += k as u32;
        if bad > 0 {
            sum.errors[ErrorKind::FieldLength as usize] += bad;
        }
    }
}

/// Decode one options data record into scope state. Returns the bytes used.
fn options_record(
    scope: &mut Scope,
    fields: &[FieldSpec],
    scope_count: usize,
    version: u16,
    data: &[u8],
) -> Option<usize> {
    let mut r = Reader::new(data);
    let mut sampler: Option<u32> = None;
    let (mut interval, mut random, mut pkt_int, mut pkt_space, mut size, mut pop) =
        (None, None, None, None, None, None);
    let mut init = None;
    let mut if_index = None;
    let mut name: &[u8] = &[];
    let mut descr: &[u8] = &[];
    for (i, f) in fields.iter().enumerate() {
        let v = if f.len == VARLEN {
            r.varlen()?
        } else {
            r.take(usize::from(f.len))?
        };
        if f.pen != 0 {
            continue;
        }
        if i < scope_count && version == 9 {
            // v9 scope field types (RFC 3954 §6.1): 2 is an interface.
            if f.ie == 2 {
                if_index = Some(be_uint(v) as u32);
            }
            continue;
        }
        match f.ie {
            48 | 302 => sampler = Some(be_uint(v) as u32),
            34 => interval = Some(be_uint(v)),
            50 => random = Some(be_uint(v)),
            305 => pkt_int = Some(be_uint(v)),
            306 => pkt_space = Some(be_uint(v)),
            309 => size = Some(be_uint(v)),
            310 => pop = Some(be_uint(v)),
            160 => init = Some(be_uint(v) as i64),
            10 => if_index = Some(be_uint(v) as u32),
            82 => name = v,
            83 => descr = v,
            _ => {}
        }
    }
    if let Some(rate) = rate_from(interval, random, pkt_int, pkt_space, size, pop) {
        scope.set_sampler(sampler, rate);
    }
    if let Some(init) = init {
        scope.system_init = Some(init);
    }
    if let Some(index) = if_index
        && (!name.is_empty() || !descr.is_empty())
    {
        learn_interface(
            &mut scope.interfaces,
            &mut scope.interfaces_version,
            index,
            name,
            descr,
        );
    }
    Some(data.len() - r.remaining())
}

/// Keep an interface's name and description as the exporter sent them (IPFIX options data, sFlow
/// port names), bumping `version` when they change; at most [`MAX_INTERFACES`] per scope. Nothing
/// is allocated when they are what the scope already holds (exporters repeat them every few
/// seconds).
fn learn_interface(
    interfaces: &mut Vec<InterfaceInfo>,
    version: &mut u64,
    index: u32,
    name: &[u8],
    descr: &[u8],
) {
    let (name, descr) = (
        String::from_utf8_lossy(name),
        String::from_utf8_lossy(descr),
    );
    let (name, descr) = (name.trim_end_matches('\0'), descr.trim_end_matches('\0'));
    let room = interfaces.len() < MAX_INTERFACES;
    match interfaces.iter_mut().find(|i| i.index == index) {
        Some(e) if e.name == name && e.description == descr => {}
        Some(e) => {
            e.name = name.to_string();
            e.description = descr.to_string();
            *version += 1;
        }
        None if room => {
            interfaces.push(InterfaceInfo {
                index,
                name: name.to_string(),
                description: descr.to_string(),
            });
            *version += 1;
        }
        None => {}
    }
}

/// The rate (1 in N) given by sampling information elements, in order of preference.
fn rate_from(
    interval: Option<u64>,
    random: Option<u64>,
    pkt_interval: Option<u64>,
    pkt_space: Option<u64>,
    size: Option<u64>,
    population: Option<u64>,
) -> Option<u32> {
    let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
    if let Some(v) = interval.filter(|&v| v > 0) {
        return Some(clamp(v));
    }
    if let Some(v) = random.filter(|&v| v > 0) {
        return Some(clamp(v));
    }
    if let Some(i) = pkt_interval.filter(|&v| v > 0) {
        // (interval + space) / interval, in 128 bits: 8-byte encodings must not overflow.
        let rate = (u128::from(i) + u128::from(pkt_space.unwrap_or(0))) / u128::from(i);
        return Some(u32::try_from(rate).unwrap_or(u32::MAX));
    }
    if let (Some(s), Some(p)) = (size.filter(|&v| v > 0), population) {
        return Some(clamp(p / s).max(1));
    }
    None
}

/// Normalisation of one data set's records: the template's facts and the scope's sampling state,
/// resolved once for the set.
struct SetNorm<'a> {
    facts: template::Facts,
    export_ms: i64,
    /// NetFlow v9: the header's sysUptime, which uptime-relative times count from.
    sys_uptime: Option<u32>,
    /// IPFIX: the scope's system init time (options data), when the record has none.
    system_init: Option<i64>,
    max_skew: i64,
    /// The rate of every record, when nothing in the record can change it.
    fixed_rate: Option<(u32, SamplingSource)>,
    /// The record's sampler id is looked up in `samplers`.
    by_sampler: bool,
    samplers: &'a [(Option<u32>, u32)],
    /// The rate when neither the record nor its sampler gives one.
    fallback: (u32, SamplingSource),
}

impl<'a> SetNorm<'a> {
    fn new(plan: &Plan, ctx: &Ctx, settings: &DecoderSettings, scope: &'a Scope) -> Self {
        let facts = plan.facts;
        let samplers = scope.samplers.as_slice();
        let by_sampler = facts.sampler_id && !samplers.is_empty();
        // Without a sampler id in the record, options data for the scope (or its one sampler)
        // is the same for every record.
        let scope_rate = if by_sampler {
            None
        } else {
            sampler_rate(samplers, None)
        };
        let fallback = if let Some(v) = scope_rate {
            (v, SamplingSource::OptionsData)
        } else if let Some(v) = settings.default_sampling_rate {
            (v, SamplingSource::ConfigDefault)
        } else {
            (1, SamplingSource::Unknown)
        };
        let fixed_rate = match scope.override_rate {
            Some(o) => Some((o, SamplingSource::Override)),
            None if facts.rate_fields == 0 && !by_sampler => Some(fallback),
            None => None,
        };
        SetNorm {
            facts,
            export_ms: ctx.export_ms,
            sys_uptime: ctx.sys_uptime,
            system_init: scope.system_init,
            max_skew: settings.max_time_skew_ms,
            fixed_rate,
            by_sampler,
            samplers,
            fallback,
        }
    }

    /// Fill a flow time that no field of the records gives directly (`slot` picks start or end,
    /// `raw` its uptime and delta values), chosen once for the chunk.
    #[inline(always)]
    fn times(
        &self,
        recs: &mut [FlowRecord],
        aux: &[Aux],
        how: TimeFallback,
        slot: impl Fn(&mut FlowRecord) -> &mut Option<i64>,
        raw: impl Fn(&Aux) -> (u32, u32),
    ) {
        #[inline(always)]
        fn each(
            recs: &mut [FlowRecord],
            aux: &[Aux],
            slot: &impl Fn(&mut FlowRecord) -> &mut Option<i64>,
            t: impl Fn(&Aux) -> i64,
        ) {
            for (r, a) in recs.iter_mut().zip(aux) {
                let s = slot(r);
                // Unset unless a variable-length time field of the record gave it.
                if s.is_none() {
                    *s = Some(t(a));
                }
            }
        }
        let export_ms = self.export_ms;
        match how {
            TimeFallback::None => {}
            TimeFallback::DeltaMicros => {
                each(recs, aux, &slot, |a| export_ms - i64::from(raw(a).1 / 1000))
            }
            TimeFallback::Uptime => match (self.sys_uptime, self.system_init) {
                // NetFlow v9: relative to the header's sysUptime.
                (Some(up), _) => each(recs, aux, &slot, |a| {
                    export_ms - i64::from(up.wrapping_sub(raw(a).0) as i32)
                }),
                // IPFIX: from the system init time, the record's own or the scope's.
                (None, _) if self.facts.system_init => each(recs, aux, &slot, |a| {
                    a.system_init.saturating_add(i64::from(raw(a).0))
                }),
                (None, Some(init)) => each(recs, aux, &slot, |a| {
                    init.saturating_add(i64::from(raw(a).0))
                }),
                (None, None) => {}
            },
        }
    }

    /// The record's sampling rate and where it came from, when it depends on the record.
    #[inline(always)]
    fn rate(&self, r: &FlowRecord, a: &Aux) -> (u32, SamplingSource) {
        let bits = self.facts.rate_fields;
        if bits != 0 {
            let get = |bit: u8, i: usize| (bits & bit != 0).then_some(a.sampling[i]);
            let in_record = rate_from(
                get(rate_field::INTERVAL, 0),
                get(rate_field::RANDOM, 1),
                get(rate_field::PACKET_INTERVAL, 2),
                get(rate_field::PACKET_SPACE, 3),
                get(rate_field::SIZE, 4),
                get(rate_field::POPULATION, 5),
            );
            if let Some(v) = in_record {
                return (v, SamplingSource::Record);
            }
        }
        if self.by_sampler
            && let Some(v) = sampler_rate(self.samplers, r.sampler_id)
        {
            return (v, SamplingSource::OptionsData);
        }
        self.fallback
    }

    /// Finish records whose fields the plan has written, one concern at a time across the chunk,
    /// each chosen once by the template's facts: times, ICMP from the port, the time checks,
    /// sampling, and the counters. Returns the records with a field of a length its meaning
    /// cannot take.
    #[inline]
    fn finish(&self, recs: &mut [FlowRecord], aux: &[Aux], counters: &mut Counters) -> u32 {
        fn start(r: &mut FlowRecord) -> &mut Option<i64> {
            &mut r.flow_start
        }
        fn end(r: &mut FlowRecord) -> &mut Option<i64> {
            &mut r.flow_end
        }
        let f = &self.facts;
        if !f.start_direct {
            let raw = |a: &Aux| (a.start_uptime, a.start_delta_us);
            self.times(recs, aux, f.start_fallback, start, raw);
        }
        if !f.end_direct {
            let raw = |a: &Aux| (a.end_uptime, a.end_delta_us);
            self.times(recs, aux, f.end_fallback, end, raw);
        }
        // NetFlow v5/v9 exporters put ICMP type × 256 + code in the destination port.
        if f.icmp_from_port {
            for r in recs.iter_mut() {
                if matches!(r.protocol, Some(1) | Some(58))
                    && let Some(p) = r.dst_port
                {
                    r.icmp_type = Some((p >> 8) as u8);
                    r.icmp_code = Some((p & 0xff) as u8);
                }
            }
        }
        let mut flagged = (0u64, 0u64);
        for r in recs.iter_mut() {
            check_times(r, self.export_ms, self.max_skew, &mut flagged);
        }
        counters.end_before_start += flagged.0;
        counters.far_from_export += flagged.1;

        let mut unknown = 0u64;
        match self.fixed_rate {
            Some((rate, source)) => {
                let unknown_flag = if source == SamplingSource::Unknown {
                    unknown = recs.len() as u64;
                    flags::SAMPLING_UNKNOWN
                } else {
                    0
                };
                for r in recs.iter_mut() {
                    r.sampling_rate = rate;
                    r.sampling_source = source;
                    r.flags |= unknown_flag;
                }
            }
            None => {
                for (r, a) in recs.iter_mut().zip(aux) {
                    let (rate, source) = self.rate(r, a);
                    if source == SamplingSource::Unknown {
                        unknown += 1;
                        r.flags |= flags::SAMPLING_UNKNOWN;
                    }
                    r.sampling_rate = rate;
                    r.sampling_source = source;
                }
            }
        }
        counters.sampling_unknown += unknown;
        if let Some(r) = recs.last() {
            counters.last_sampling = Some((r.sampling_rate, r.sampling_source));
        }
        if f.bad_every_record {
            recs.len() as u32
        } else if f.checked_per_record {
            aux.iter().take(recs.len()).filter(|a| a.bad).count() as u32
        } else {
            0
        }
    }
}

/// The rate options data gave for a record's sampler: the sampler's own entry, else the scope-wide
/// entry (options data without a sampler id), else the only sampler when the record names none.
#[inline]
fn sampler_rate(samplers: &[(Option<u32>, u32)], id: Option<u32>) -> Option<u32> {
    if samplers.is_empty() {
        return None;
    }
    if let Some(id) = id
        && let Some(&(_, r)) = samplers.iter().find(|(k, _)| *k == Some(id))
    {
        return Some(r);
    }
    if let Some(&(_, r)) = samplers.iter().find(|(k, _)| k.is_none()) {
        return Some(r);
    }
    if id.is_none() && samplers.len() == 1 {
        return Some(samplers[0].1);
    }
    None
}

#[inline]
fn check_times(r: &mut FlowRecord, export_ms: i64, max_skew: i64, flagged: &mut (u64, u64)) {
    if let (Some(s), Some(e)) = (r.flow_start, r.flow_end)
        && e < s
    {
        r.flags |= flags::END_BEFORE_START;
        flagged.0 += 1;
    }
    if let Some(e) = r.flow_end
        && e.saturating_sub(export_ms).unsigned_abs() > max_skew.unsigned_abs()
    {
        r.flags |= flags::FAR_FROM_EXPORT_TIME;
        flagged.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_704_067_200_000; // 2024-01-01T00:00:00Z

    fn v4(a: [u8; 4]) -> Option<Ipv6Addr> {
        Some(std::net::Ipv4Addr::from(a).to_ipv6_mapped())
    }

    #[test]
    fn counts_since_an_earlier_snapshot_add_back_to_the_whole() {
        let mut earlier = ExporterStats {
            datagrams: 3,
            records: 10,
            sets_held: 1,
            ..ExporterStats::default()
        };
        earlier.errors[ErrorKind::Truncated as usize] = 2;
        let mut now = ExporterStats {
            datagrams: 8,
            records: 25,
            sets_held: 1,
            last_seen: 5,
            ..ExporterStats::default()
        };
        now.errors[ErrorKind::Truncated as usize] = 4;
        let d = now.since(&earlier);
        assert_eq!((d.datagrams, d.records, d.sets_held), (5, 15, 0));
        assert_eq!(d.errors[ErrorKind::Truncated as usize], 2);
        assert_eq!(d.last_seen, 5);
        let mut whole = earlier.clone();
        whole.absorb(&d);
        assert_eq!(
            (whole.datagrams, whole.records),
            (now.datagrams, now.records)
        );
        assert_eq!(whole.errors, now.errors);
    }

    #[test]
    fn decodes_a_golden_netflow_v9_datagram_with_template_and_padded_data() {
        #[rustfmt::skip]
        let d: [u8; 64] = [
            0, 9, 0, 2,                 // version 9, 2 records
            0, 0, 0x27, 0x10,           // sysUptime 10000 ms
            0x65, 0x92, 0x00, 0x80,     // unix secs 1704067200
            0, 0, 0, 1,                 // sequence
            0, 0, 0, 42,                // source id 42
            // template FlowSet: id 0, length 24; template 256 with 4 fields
            0, 0, 0, 24,
            1, 0, 0, 4,
            0, 8, 0, 4,                 // IPV4_SRC_ADDR
            0, 1, 0, 4,                 // IN_BYTES
            0, 21, 0, 4,                // LAST_SWITCHED
            0, 7, 0, 2,                 // L4_SRC_PORT
            // data FlowSet 256, length 20: one 14-byte record + 2 bytes padding
            1, 0, 0, 20,
            192, 0, 2, 7,
            0, 0, 0x05, 0xdc,           // 1500 bytes
            0, 0, 0x23, 0x28,           // last switched 9000 ms
            0x00, 0x35,                 // port 53
            0, 0,                       // padding
        ];
        let mut dec = Decoder::new(DecoderSettings::default());
        let mut out = Vec::new();
        let s = dec
            .decode("198.51.100.1".parse().unwrap(), &d, NOW, &mut out)
            .unwrap();
        assert_eq!(
            (s.version, s.templates, s.records, s.error_count()),
            (9, 1, 1, 0)
        );
        let r = out[0];
        assert_eq!(r.observation_domain, 42);
        assert_eq!(r.src_addr, v4([192, 0, 2, 7]));
        assert_eq!((r.bytes, r.src_port), (1500, Some(53)));
        assert_eq!(
            r.flow_end,
            Some(NOW - 1000),
            "1 s before export, from sysUptime"
        );
    }

    #[test]
    fn decodes_a_golden_ipfix_message_with_options_sampling_and_a_varlen_field() {
        #[rustfmt::skip]
        let d: [u8; 79] = [
            0, 10, 0, 79,               // version 10, length 79
            0x65, 0x92, 0x00, 0x80,     // export time
            0, 0, 0, 0,                 // sequence
            0, 0, 0, 1,                 // domain 1
            // options template set: id 3, length 18; template 300, 2 fields, 1 scope field
            0, 3, 0, 18,
            1, 0x2c, 0, 2, 0, 1,
            0, 48, 0, 1,                // samplerId (scope)
            0, 50, 0, 4,                // samplerRandomInterval
            // template set: id 2, length 20; template 301, 3 fields
            0, 2, 0, 20,
            1, 0x2d, 0, 3,
            0, 48, 0, 1,                // samplerId
            0, 82, 0xff, 0xff,          // interfaceName, variable length
            0, 2, 0, 2,                 // packets, reduced to 2 bytes
            // options data set 300, length 9: sampler 5 samples 1 in 100
            1, 0x2c, 0, 9,
            5, 0, 0, 0, 100,
            // data set 301, length 16: two records of different lengths
            1, 0x2d, 0, 16,
            5, 3, b'e', b't', b'h', 0, 7,
            5, 0, 0, 9,
            0,                          // padding
        ];
        let mut dec = Decoder::new(DecoderSettings::default());
        let mut out = Vec::new();
        let s = dec
            .decode("198.51.100.1".parse().unwrap(), &d, NOW, &mut out)
            .unwrap();
        assert_eq!((s.templates, s.records, s.error_count()), (2, 2, 0));
        assert_eq!((out[0].packets, out[1].packets), (7, 9));
        for r in &out {
            assert_eq!(r.sampler_id, Some(5));
            assert_eq!(
                (r.sampling_rate, r.sampling_source),
                (100, SamplingSource::OptionsData)
            );
            assert_eq!(r.scaled_packets(), r.packets * 100);
        }
    }

    #[test]
    fn sequence_gaps_count_lost_units_and_exporter_quirks_are_not_losses() {
        let mut s = SeqState::default();
        assert_eq!(
            s.check(100, 10, 10),
            (0, false),
            "first message sets the base"
        );
        assert_eq!(s.check(110, 5, 5), (0, false));
        assert_eq!(
            s.check(125, 5, 5),
            (10, false),
            "110 + 5 expected, 125 seen: 10 lost"
        );
        assert_eq!(s.check(3, 5, 5), (0, true), "backwards: exporter restarted");
        // Counting the current message (softflowd IPFIX): 3 -> 3 + 7.
        assert_eq!(s.check(10, 7, 6), (0, false));
        assert_eq!(
            s.check(16, 6, 6),
            (0, false),
            "counting only flow records of the message"
        );
        // Wrap-around of the 32-bit counter is not a restart.
        let mut s = SeqState::default();
        s.check(u32::MAX - 1, 4, 4);
        assert_eq!(s.check(2, 1, 1), (0, false));
    }

    #[test]
    fn a_set_longer_than_the_datagram_is_counted_and_earlier_sets_kept() {
        #[rustfmt::skip]
        let d: [u8; 36] = [
            0, 10, 0, 36, 0x65, 0x92, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0, 1,
            0, 2, 0, 12, 1, 0, 0, 1, 0, 1, 0, 4,     // template 256: octets (4)
            1, 0, 0, 200, 0, 0, 0, 1,                // data set claims 200 bytes
        ];
        let mut dec = Decoder::new(DecoderSettings::default());
        let s = dec
            .decode("198.51.100.1".parse().unwrap(), &d, NOW, &mut Vec::new())
            .unwrap();
        assert_eq!(s.templates, 1);
        assert_eq!(s.errors[ErrorKind::Truncated as usize], 1);
    }
}
