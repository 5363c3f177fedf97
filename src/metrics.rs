//! Prometheus metrics of `sluice run`: every name, and how pipeline counters become metrics.
//!
//! Owns: the metric names (listed with their meaning in README.md, Metrics), the HTTP endpoint
//! (`metrics-exporter-prometheus`, `/metrics`), and the publishers that turn snapshots of the
//! decoders' per-exporter [`collector::Stats`], the receive workers' counters, the aggregator's
//! [`AggregatorStats`] and the sink's counters into metric values.
//! Must never: sit on the per-datagram path. Workers count in plain integers and hand a snapshot
//! over about once a second; this module sums the snapshots and sets absolute values.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv6Addr, SocketAddr};

use aggregator::{AggregatorStats, Dimension};
use collector::record::display_addr;
use collector::{Cidr, ErrorKind, ExporterStats};
use metrics::{counter, describe_counter, describe_gauge, gauge};

/// What one receive worker reports about itself (a snapshot, replaced at every report).
#[derive(Clone, Debug, Default)]
pub struct WorkerReport {
    /// `address/protocol` of the listener the worker serves.
    pub listener: String,
    /// Per-exporter decoder counters.
    pub exporters: HashMap<Ipv6Addr, ExporterStats>,
    /// Counters of exporters past the decoder's tracking limit (no address kept).
    pub overflow: ExporterStats,
    /// Templates held per exporter.
    pub templates: HashMap<Ipv6Addr, usize>,
    /// Of those, options templates.
    pub options_templates: HashMap<Ipv6Addr, usize>,
    /// Data sets held for a missing template, per exporter.
    pub pending: HashMap<Ipv6Addr, usize>,
    /// Bytes of template state.
    pub template_bytes: usize,
    /// Bytes of held data.
    pub pending_bytes: usize,
    /// Datagrams taken off the socket.
    pub datagrams: u64,
    /// Datagrams dropped by the exporter allowlist.
    pub denied: u64,
    /// sFlow interface-counter rows handed to storage.
    pub counter_rows: u64,
    /// Datagrams longer than the receive slot.
    pub truncated: u64,
    /// Receive calls that failed.
    pub recv_errors: u64,
    /// Record batches handed to the aggregator.
    pub batches: u64,
    /// Records handed to the aggregator.
    pub records: u64,
    /// What the worker's enrich stage did.
    pub enrich: enrich::StageStats,
}

/// Install the Prometheus recorder and its HTTP listener, and describe every metric.
pub fn install(addr: SocketAddr) -> anyhow::Result<()> {
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        .install()
        .map_err(|e| anyhow::anyhow!("metrics endpoint on {addr}: {e}"))?;
    describe();
    Ok(())
}

fn describe() {
    for (name, help) in COUNTERS {
        describe_counter!(*name, *help);
    }
    for (name, help) in GAUGES {
        describe_gauge!(*name, *help);
    }
}

/// Every counter with its help text (the same list is in README.md, Metrics).
pub const COUNTERS: &[(&str, &str)] = &[
    (
        "sluice_exporter_datagrams_total",
        "Datagrams decoded from this exporter.",
    ),
    (
        "sluice_exporter_bytes_total",
        "UDP payload bytes received from this exporter.",
    ),
    (
        "sluice_exporter_records_total",
        "Flow records decoded from this exporter.",
    ),
    (
        "sluice_exporter_decode_errors_total",
        "Rejections while decoding this exporter's datagrams, by kind.",
    ),
    (
        "sluice_exporter_padding_bytes_total",
        "Zero bytes after the last set of this exporter's datagrams (zero-fill), not errors.",
    ),
    (
        "sluice_exporter_templates_learned_total",
        "Templates learned or refreshed from this exporter.",
    ),
    (
        "sluice_exporter_sets_held_total",
        "Data sets held because their template had not arrived yet.",
    ),
    (
        "sluice_exporter_records_replayed_total",
        "Records decoded from held data once their template arrived.",
    ),
    (
        "sluice_exporter_sampling_unknown_records_total",
        "Records whose sampling rate is unknown (kept with rate 1).",
    ),
    (
        "sluice_exporter_sequence_lost_total",
        "Export lost between exporter and collector, from sequence-number gaps (records for v5 and IPFIX, datagrams for v9).",
    ),
    (
        "sluice_exporter_sflow_samples_lost_total",
        "sFlow samples lost between agent and collector (gaps in each data source's sample sequence numbers).",
    ),
    (
        "sluice_exporter_sflow_agent_drops_total",
        "sFlow samples the agent dropped itself for lack of resources (growth of each data source's drops counter).",
    ),
    (
        "sluice_exporter_sflow_sample_pool_total",
        "Packets an sFlow agent's data sources could have sampled (growth of the sample pools).",
    ),
    (
        "sluice_exporter_sflow_accuracy_sampled_octets_total",
        "sFlow sampling accuracy check: octets estimated from flow samples (frame length x rate) of interfaces between their counter samples.",
    ),
    (
        "sluice_exporter_sflow_accuracy_counter_octets_total",
        "sFlow sampling accuracy check: the same interfaces' in_octets counter deltas over those intervals.",
    ),
    (
        "sluice_exporter_sflow_formats_skipped_total",
        "sFlow samples and records of formats sluice does not read, skipped by length; format is kind:enterprise:format.",
    ),
    (
        "sluice_exporter_sequence_resets_total",
        "Sequence numbers that went backwards (exporter restart or reordering).",
    ),
    (
        "sluice_exporters_table_writes_total",
        "Writes of the `exporters` table (`result` = ok or error).",
    ),
    (
        "sluice_exporter_time_anomalies_total",
        "Records with suspicious times, by kind (end_before_start, far_from_export).",
    ),
    (
        "sluice_datagrams_received_total",
        "Datagrams taken off the sockets of a listener.",
    ),
    (
        "sluice_datagrams_denied_total",
        "Datagrams dropped because the exporter is not in listen.allowed_exporters.",
    ),
    (
        "sluice_interface_counter_rows_total",
        "sFlow interface-counter rows handed to storage (the interface_counters table).",
    ),
    (
        "sluice_datagrams_truncated_total",
        "Datagrams longer than listen.max_datagram_bytes (dropped).",
    ),
    ("sluice_receive_errors_total", "Failed receive calls."),
    (
        "sluice_kernel_drops_total",
        "Datagrams the kernel dropped on sluice's sockets (receive buffer full).",
    ),
    (
        "sluice_queue_drops_total",
        "Record batches dropped between receive and aggregation (always 0: workers wait instead).",
    ),
    (
        "sluice_queue_blocked_microseconds_total",
        "Time receive workers waited for room in a queue: `queue` is `aggregator` (windows), `raw` (raw-flow storage, beside the aggregator) or `counters` (sFlow interface counters).",
    ),
    (
        "sluice_queue_batches_total",
        "Record batches handed to the aggregator.",
    ),
    (
        "sluice_queue_records_total",
        "Records handed to the aggregator.",
    ),
    (
        "sluice_enrich_records_total",
        "Records the enrich stage saw (every record, when [enrich] is on; none is ever dropped).",
    ),
    (
        "sluice_enrich_cache_hits_total",
        "Address lookups the enrich stage's per-worker cache answered.",
    ),
    (
        "sluice_enrich_cache_misses_total",
        "Address lookups that went to the networks table and the GeoIP databases.",
    ),
    (
        "sluice_enrich_reloads_total",
        "Enrichment reloads (SIGHUP, a GeoIP file changed): `outcome` is `ok` or `error` (the previous data stays).",
    ),
    (
        "sluice_enrich_table_write_errors_total",
        "Writes of the interfaces or as_names table that failed (tried again at the next interval).",
    ),
    ("sluice_state_saves_total", "Template state file saves."),
    (
        "sluice_state_save_errors_total",
        "Template state file saves that failed.",
    ),
    (
        "sluice_aggregator_flows_total",
        "Flows recorded into windows.",
    ),
    (
        "sluice_aggregator_late_flows_total",
        "Flows older than the allowed lateness (put in the oldest open window).",
    ),
    (
        "sluice_aggregator_sketch_fallbacks_total",
        "Window dimensions that switched from exact counting to the heavy-hitter sketch.",
    ),
    (
        "sluice_aggregator_windows_closed_total",
        "Windows closed and handed to the sink.",
    ),
    ("sluice_sink_batches_total", "Batches handed to the sink."),
    (
        "sluice_sink_rows_total",
        "Rows handed to the sink, by kind (flows, window_top, window_totals, interface_counters).",
    ),
    ("sluice_sink_errors_total", "Sink send or flush failures."),
    (
        "sluice_sink_send_microseconds_total",
        "Time spent in the sink's send, summed.",
    ),
    (
        "sluice_clickhouse_rows_written_total",
        "Rows ClickHouse acknowledged.",
    ),
    (
        "sluice_clickhouse_batches_written_total",
        "Insert requests ClickHouse acknowledged.",
    ),
    (
        "sluice_clickhouse_retryable_errors_total",
        "Failed inserts that will be retried.",
    ),
    (
        "sluice_clickhouse_permanent_errors_total",
        "Failed inserts that can never succeed.",
    ),
    (
        "sluice_clickhouse_dead_letter_batches_total",
        "Batches ClickHouse refused for good, moved to the dead-letter directory (`sluice spool status|retry`).",
    ),
    (
        "sluice_clickhouse_dead_letter_rows_total",
        "Rows in those batches.",
    ),
    (
        "sluice_clickhouse_already_stored_batches_total",
        "Spooled batches found stored already on 18.16 (the insert committed, its reply was lost) and not sent again.",
    ),
    (
        "sluice_clickhouse_rows_spooled_total",
        "Rows written to the disk spool.",
    ),
    (
        "sluice_clickhouse_dropped_batches_total",
        "Batches dropped because the spool was full (drop_newest policy).",
    ),
    (
        "sluice_clickhouse_dropped_rows_total",
        "Rows in those batches.",
    ),
    (
        "sluice_clickhouse_spool_torn_tails_total",
        "Spool segments found cut short or damaged at the tail and truncated (data lost).",
    ),
    (
        "sluice_clickhouse_spool_corrupt_records_total",
        "Spool records skipped because their CRC32C did not match (data lost).",
    ),
    (
        "sluice_clickhouse_spool_bytes_discarded_total",
        "Spool bytes thrown away by truncated tails and skipped records.",
    ),
    (
        "sluice_clickhouse_spool_ledger_resets_total",
        "Times the spool's ledger was missing or damaged and replay restarted at the oldest segment (duplicates on the legacy tier).",
    ),
];

/// Every gauge with its help text.
pub const GAUGES: &[(&str, &str)] = &[
    (
        "sluice_exporter_templates",
        "Templates currently held for this exporter.",
    ),
    (
        "sluice_exporter_pending_sets",
        "Data sets currently held for this exporter while their template is missing.",
    ),
    (
        "sluice_exporter_sflow_sampling_accuracy",
        "sFlow sampled estimate over counters since the collector started (1.0 is exact with ingress sampling); rate() the two counters for a recent figure.",
    ),
    (
        "sluice_exporter_clock_skew_seconds",
        "Export time minus receive time of the exporter's last datagram.",
    ),
    (
        "sluice_exporter_last_seen_seconds",
        "Unix time of the exporter's last datagram.",
    ),
    (
        "sluice_exporters_folded",
        "Exporters without a series of their own (not known, or past metrics.max_exporter_series), summed in exporter=\"other\".",
    ),
    (
        "sluice_enrich_interfaces",
        "Interfaces enrichment knows (static config, options data, SNMP).",
    ),
    (
        "sluice_enrich_as_names",
        "AS numbers with an organisation name from the GeoIP ASN database.",
    ),
    (
        "sluice_template_bytes",
        "Bytes of template state across all decoders.",
    ),
    (
        "sluice_pending_bytes",
        "Bytes of data held for missing templates across all decoders.",
    ),
    (
        "sluice_receive_buffer_bytes",
        "Socket receive buffer the kernel granted, per listener (Linux reports twice the payload room).",
    ),
    (
        "sluice_receive_steered_by_source",
        "1 when every datagram of one exporter address reaches one receive worker (one worker, or the source-address steering program attached); 0 when the kernel hashes address and port.",
    ),
    ("sluice_aggregator_windows_open", "Windows currently open."),
    (
        "sluice_aggregator_window_keys",
        "Distinct keys in open windows, by dimension.",
    ),
    (
        "sluice_aggregator_watermark_seconds",
        "Newest flow time seen by the aggregator.",
    ),
    (
        "sluice_sink_last_send_seconds",
        "Duration of the sink's last send.",
    ),
    (
        "sluice_clickhouse_spool_bytes",
        "Bytes in the ClickHouse disk spool.",
    ),
    (
        "sluice_clickhouse_spool_batches",
        "Batches in the ClickHouse disk spool.",
    ),
    (
        "sluice_clickhouse_last_insert_seconds",
        "Latency of the last acknowledged insert.",
    ),
    (
        "sluice_clickhouse_failed",
        "1 while ClickHouse refuses every insert for good (unhealthy: e.g. a dropped column); batches stay in the spool and the head is tried again every `retry_max_ms` until the table is fixed.",
    ),
];

/// One exporter as every receive worker saw it.
#[derive(Clone, Debug, Default)]
pub struct MergedExporter {
    /// Decoder counters, summed.
    pub stats: ExporterStats,
    /// Templates held (data and options).
    pub templates: usize,
    /// Of those, options templates.
    pub options_templates: usize,
    /// Data sets held for a missing template.
    pub pending: usize,
}

/// Every exporter's counters merged over the workers' reports.
pub fn merge_exporters(reports: &[WorkerReport]) -> HashMap<Ipv6Addr, MergedExporter> {
    let mut out: HashMap<Ipv6Addr, MergedExporter> = HashMap::new();
    for r in reports {
        for (addr, s) in &r.exporters {
            out.entry(*addr).or_default().stats.absorb(s);
        }
        for (a, n) in &r.templates {
            out.entry(*a).or_default().templates += n;
        }
        for (a, n) in &r.options_templates {
            out.entry(*a).or_default().options_templates += n;
        }
        for (a, n) in &r.pending {
            out.entry(*a).or_default().pending += n;
        }
    }
    out
}

/// The label value of the series that sums every exporter without a series of its own.
pub const OTHER_EXPORTER: &str = "other";

/// Which exporters get `sluice_exporter_*` series of their own, so that a flood from spoofed
/// source addresses cannot create a series per address.
///
/// An exporter is eligible once it is known (it produced a decoded record or a template) or,
/// when `listen.allowed_exporters` is set, when it is inside it. Eligible exporters get a series,
/// first come first served (oldest first seen first), up to `max`, and keep it. Everything else,
/// and what the decoders counted past their own tracking limit, is summed into one series with
/// `exporter="other"`.
///
/// Every published value stays a monotone counter and the sum over all series equals the sum
/// over all exporters: when an exporter that was already counted in `other` gets a series, what
/// `other` held of it stays there (its `base`), and its own series counts from then on.
#[derive(Debug, Default)]
pub struct ExporterSeries {
    max: usize,
    allowed: Option<Vec<Cidr>>,
    /// Exporters with a series of their own, with what was counted in `other` before they got it.
    admitted: HashMap<Ipv6Addr, Option<ExporterStats>>,
    /// Exporters summed in `other` at some publish (so a later admission keeps their share there).
    folded: HashSet<Ipv6Addr>,
    /// Sum of the `base` of every admitted exporter.
    other_base: ExporterStats,
}

/// What [`ExporterSeries::split`] decided for one publish.
#[derive(Debug, Default)]
pub struct ExporterSplit {
    /// Exporters with a series of their own, with the values to publish.
    pub own: Vec<(Ipv6Addr, MergedExporter)>,
    /// The `exporter="other"` series; `None` while nothing was ever folded.
    pub other: Option<MergedExporter>,
    /// Exporters currently summed in `other`.
    pub folded: usize,
}

impl ExporterSeries {
    /// At most `max` exporter series; `allowed` is `listen.allowed_exporters`.
    pub fn new(max: usize, allowed: Option<Vec<Cidr>>) -> Self {
        ExporterSeries {
            max,
            allowed,
            ..ExporterSeries::default()
        }
    }

    fn eligible(&self, addr: Ipv6Addr, e: &MergedExporter) -> bool {
        e.stats.records > 0
            || e.stats.templates_learned > 0
            || self
                .allowed
                .as_ref()
                .is_some_and(|list| list.iter().any(|c| c.contains(addr)))
    }

    /// Split the workers' merged counters into own series and `other`, admitting newly eligible
    /// exporters while there is room.
    pub fn split(&mut self, reports: &[WorkerReport]) -> ExporterSplit {
        let mut merged = merge_exporters(reports);
        let mut fresh: Vec<(i64, Ipv6Addr)> = merged
            .iter()
            .filter(|(a, e)| !self.admitted.contains_key(*a) && self.eligible(**a, e))
            .map(|(a, e)| (e.stats.first_seen, *a))
            .collect();
        fresh.sort_unstable();
        for (_, a) in fresh
            .into_iter()
            .take(self.max.saturating_sub(self.admitted.len()))
        {
            let base = self.folded.remove(&a).then(|| merged[&a].stats.clone());
            if let Some(b) = &base {
                self.other_base.absorb(b);
            }
            self.admitted.insert(a, base);
        }
        let mut out = ExporterSplit::default();
        let mut other = MergedExporter {
            stats: self.other_base.clone(),
            ..MergedExporter::default()
        };
        let mut any_other = !self.folded.is_empty() || self.admitted.values().any(Option::is_some);
        for r in reports {
            if r.overflow.datagrams > 0 {
                other.stats.absorb(&r.overflow);
                any_other = true;
            }
        }
        for (a, mut e) in merged.drain() {
            match self.admitted.get(&a) {
                Some(base) => {
                    if let Some(b) = base {
                        e.stats = e.stats.since(b);
                    }
                    out.own.push((a, e));
                }
                None => {
                    self.folded.insert(a);
                    out.folded += 1;
                    any_other = true;
                    other.stats.absorb(&e.stats);
                    other.templates += e.templates;
                    other.options_templates += e.options_templates;
                    other.pending += e.pending;
                }
            }
        }
        out.other = any_other.then_some(other);
        out
    }
}

fn publish_exporter(ex: &str, e: &MergedExporter, skew: bool) {
    let s = &e.stats;
    let lbl = [("exporter", ex.to_string())];
    counter!("sluice_exporter_datagrams_total", &lbl).absolute(s.datagrams);
    counter!("sluice_exporter_bytes_total", &lbl).absolute(s.bytes);
    counter!("sluice_exporter_records_total", &lbl).absolute(s.records);
    counter!("sluice_exporter_templates_learned_total", &lbl).absolute(s.templates_learned);
    counter!("sluice_exporter_sets_held_total", &lbl).absolute(s.sets_held);
    counter!("sluice_exporter_records_replayed_total", &lbl).absolute(s.records_replayed);
    counter!("sluice_exporter_padding_bytes_total", &lbl).absolute(s.padding_bytes);
    counter!("sluice_exporter_sampling_unknown_records_total", &lbl).absolute(s.sampling_unknown);
    counter!("sluice_exporter_sequence_lost_total", &lbl).absolute(s.sequence_lost);
    counter!("sluice_exporter_sequence_resets_total", &lbl).absolute(s.sequence_resets);
    if s.version == collector::VERSION_SFLOW {
        counter!("sluice_exporter_sflow_samples_lost_total", &lbl).absolute(s.samples_lost);
        counter!("sluice_exporter_sflow_agent_drops_total", &lbl).absolute(s.agent_drops);
        counter!("sluice_exporter_sflow_sample_pool_total", &lbl).absolute(s.sample_pool);
        counter!("sluice_exporter_sflow_accuracy_sampled_octets_total", &lbl)
            .absolute(s.accuracy_sampled_octets);
        counter!("sluice_exporter_sflow_accuracy_counter_octets_total", &lbl)
            .absolute(s.accuracy_counter_octets);
        if s.accuracy_counter_octets > 0 {
            gauge!("sluice_exporter_sflow_sampling_accuracy", &lbl)
                .set(s.accuracy_sampled_octets as f64 / s.accuracy_counter_octets as f64);
        }
        for (f, n) in &s.skipped_formats {
            counter!("sluice_exporter_sflow_formats_skipped_total", "exporter" => ex.to_string(), "format" => f.label())
                .absolute(*n);
        }
    }
    counter!("sluice_exporter_time_anomalies_total", "exporter" => ex.to_string(), "kind" => "end_before_start")
        .absolute(s.time_end_before_start);
    counter!("sluice_exporter_time_anomalies_total", "exporter" => ex.to_string(), "kind" => "far_from_export")
        .absolute(s.time_far_from_export);
    for kind in ErrorKind::ALL {
        let n = s.errors[kind as usize];
        if n > 0 {
            counter!("sluice_exporter_decode_errors_total", "exporter" => ex.to_string(), "kind" => kind.as_str())
                .absolute(n);
        }
    }
    if skew {
        gauge!("sluice_exporter_clock_skew_seconds", &lbl).set(s.clock_skew_ms as f64 / 1000.0);
    }
    gauge!("sluice_exporter_last_seen_seconds", &lbl).set(s.last_seen as f64 / 1000.0);
    gauge!("sluice_exporter_templates", &lbl).set(e.templates as f64);
    gauge!("sluice_exporter_pending_sets", &lbl).set(e.pending as f64);
}

/// Publish the sum of all workers' reports; per-exporter series as `series` decides.
pub fn publish_workers(reports: &[WorkerReport], series: &mut ExporterSeries) {
    let mut by_listener: HashMap<&str, u64> = HashMap::new();
    let mut counter_rows = 0;
    let (mut denied, mut truncated, mut errors) = (0, 0, 0);
    let (mut batches, mut records) = (0, 0);
    let (mut tbytes, mut pbytes) = (0, 0);
    let mut enriched = enrich::StageStats::default();
    for r in reports {
        enriched.records += r.enrich.records;
        enriched.cache_hits += r.enrich.cache_hits;
        enriched.cache_misses += r.enrich.cache_misses;
        let l = by_listener.entry(r.listener.as_str()).or_default();
        *l += r.datagrams;
        counter_rows += r.counter_rows;
        denied += r.denied;
        truncated += r.truncated;
        errors += r.recv_errors;
        batches += r.batches;
        records += r.records;
        tbytes += r.template_bytes;
        pbytes += r.pending_bytes;
    }
    let split = series.split(reports);
    for (addr, e) in &split.own {
        publish_exporter(&display_addr(*addr).to_string(), e, true);
    }
    if let Some(other) = &split.other {
        publish_exporter(OTHER_EXPORTER, other, false);
    }
    gauge!("sluice_exporters_folded").set(split.folded as f64);
    for (listener, dgrams) in by_listener {
        counter!("sluice_datagrams_received_total", "listener" => listener.to_string())
            .absolute(dgrams);
    }
    counter!("sluice_interface_counter_rows_total").absolute(counter_rows);
    counter!("sluice_datagrams_denied_total").absolute(denied);
    counter!("sluice_datagrams_truncated_total").absolute(truncated);
    counter!("sluice_receive_errors_total").absolute(errors);
    counter!("sluice_queue_batches_total").absolute(batches);
    counter!("sluice_queue_records_total").absolute(records);
    counter!("sluice_queue_drops_total").absolute(0);
    counter!("sluice_enrich_records_total").absolute(enriched.records);
    counter!("sluice_enrich_cache_hits_total").absolute(enriched.cache_hits);
    counter!("sluice_enrich_cache_misses_total").absolute(enriched.cache_misses);
    gauge!("sluice_template_bytes").set(tbytes as f64);
    gauge!("sluice_pending_bytes").set(pbytes as f64);
}

/// Publish global receive-path counters kept outside the worker reports.
pub fn publish_receive(
    kernel_drops: u64,
    blocked_aggregator_ns: u64,
    blocked_raw_ns: u64,
    blocked_counters_ns: u64,
) {
    counter!("sluice_kernel_drops_total").absolute(kernel_drops);
    counter!("sluice_queue_blocked_microseconds_total", "queue" => "aggregator")
        .absolute(blocked_aggregator_ns / 1_000);
    counter!("sluice_queue_blocked_microseconds_total", "queue" => "raw")
        .absolute(blocked_raw_ns / 1_000);
    counter!("sluice_queue_blocked_microseconds_total", "queue" => "counters")
        .absolute(blocked_counters_ns / 1_000);
}

/// Publish the aggregator's counters.
pub fn publish_aggregator(s: &AggregatorStats) {
    counter!("sluice_aggregator_flows_total").absolute(s.flows_recorded);
    counter!("sluice_aggregator_late_flows_total").absolute(s.late_flows);
    counter!("sluice_aggregator_sketch_fallbacks_total").absolute(s.sketch_fallbacks);
    counter!("sluice_aggregator_windows_closed_total").absolute(s.windows_closed);
    gauge!("sluice_aggregator_windows_open").set(s.windows_open as f64);
    for d in Dimension::ALL {
        gauge!("sluice_aggregator_window_keys", "dimension" => d.as_str()).set(s.keys(d) as f64);
    }
    if let Some(w) = s.watermark_ms {
        gauge!("sluice_aggregator_watermark_seconds").set(w as f64 / 1000.0);
    }
}

/// Publish the ClickHouse writer's counters.
pub fn publish_clickhouse(s: &schema::WriterStats) {
    counter!("sluice_clickhouse_rows_written_total").absolute(s.rows_written);
    counter!("sluice_clickhouse_batches_written_total").absolute(s.batches_written);
    counter!("sluice_clickhouse_retryable_errors_total").absolute(s.retryable_errors);
    counter!("sluice_clickhouse_permanent_errors_total").absolute(s.permanent_errors);
    counter!("sluice_clickhouse_rows_spooled_total").absolute(s.rows_spooled);
    counter!("sluice_clickhouse_dropped_batches_total").absolute(s.dropped_batches);
    counter!("sluice_clickhouse_dropped_rows_total").absolute(s.dropped_rows);
    counter!("sluice_clickhouse_spool_torn_tails_total").absolute(s.spool_torn_tails);
    counter!("sluice_clickhouse_spool_corrupt_records_total").absolute(s.spool_corrupt_records);
    counter!("sluice_clickhouse_spool_bytes_discarded_total").absolute(s.spool_bytes_discarded);
    counter!("sluice_clickhouse_spool_ledger_resets_total").absolute(s.spool_ledger_resets);
    gauge!("sluice_clickhouse_spool_bytes").set(s.spool_bytes as f64);
    gauge!("sluice_clickhouse_spool_batches").set(s.spool_batches as f64);
    gauge!("sluice_clickhouse_last_insert_seconds").set(s.last_insert_latency_us as f64 / 1e6);
    gauge!("sluice_clickhouse_failed").set(s.failed as f64);
    counter!("sluice_clickhouse_dead_letter_batches_total").absolute(s.dead_letter_batches);
    counter!("sluice_clickhouse_dead_letter_rows_total").absolute(s.dead_letter_rows);
    counter!("sluice_clickhouse_already_stored_batches_total").absolute(s.already_stored_batches);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_name_is_unique_and_prefixed() {
        let mut names: Vec<&str> = COUNTERS.iter().chain(GAUGES).map(|(n, _)| *n).collect();
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), before);
        for n in names {
            assert!(n.starts_with("sluice_"), "{n}");
        }
        for (n, _) in COUNTERS {
            assert!(n.ends_with("_total"), "counter {n} ends in _total");
        }
    }

    fn v4(i: u32) -> Ipv6Addr {
        std::net::Ipv4Addr::from(0x7f00_0000 + i).to_ipv6_mapped()
    }

    fn stats(datagrams: u64, records: u64, first_seen: i64) -> ExporterStats {
        ExporterStats {
            datagrams,
            bytes: datagrams * 100,
            records,
            first_seen,
            ..ExporterStats::default()
        }
    }

    /// Two workers; exporter `i` is on worker `i % 2`. Known ones decoded records, the others
    /// only sent what could not be decoded.
    fn reports(exporters: &[(u32, ExporterStats)]) -> Vec<WorkerReport> {
        let mut out = vec![WorkerReport::default(), WorkerReport::default()];
        for (i, s) in exporters {
            out[(*i % 2) as usize].exporters.insert(v4(*i), s.clone());
        }
        out
    }

    fn total(split: &ExporterSplit) -> (u64, u64) {
        let own = split.own.iter().map(|(_, e)| &e.stats);
        let all = own.chain(split.other.iter().map(|o| &o.stats));
        all.fold((0, 0), |t, s| (t.0 + s.datagrams, t.1 + s.records))
    }

    #[test]
    fn unknown_and_excess_exporters_are_summed_in_other() {
        let mut list: Vec<(u32, ExporterStats)> =
            (2..52).map(|i| (i, stats(3, 30, i64::from(i)))).collect();
        list.extend((100..130).map(|i| (i, stats(2, 0, 1))));
        let mut series = ExporterSeries::new(10, None);
        let split = series.split(&reports(&list));
        assert_eq!(split.own.len(), 10);
        assert_eq!(split.folded, 70);
        // The oldest known exporters got the series; nobody unknown did.
        let mut own: Vec<Ipv6Addr> = split.own.iter().map(|(a, _)| *a).collect();
        own.sort();
        assert_eq!(own, (2..12).map(v4).collect::<Vec<_>>());
        assert_eq!(total(&split), (50 * 3 + 30 * 2, 50 * 30));
        assert_eq!(
            split.other.as_ref().unwrap().stats.datagrams,
            40 * 3 + 30 * 2
        );
        // The same exporters keep their series at the next publish.
        let again = series.split(&reports(&list));
        let mut own2: Vec<Ipv6Addr> = again.own.iter().map(|(a, _)| *a).collect();
        own2.sort();
        assert_eq!(own2, own);
    }

    #[test]
    fn allowed_exporters_get_a_series_before_they_are_known() {
        let allowed = vec!["127.0.0.0/30".parse::<Cidr>().unwrap()];
        let mut series = ExporterSeries::new(100, Some(allowed));
        let list: Vec<(u32, ExporterStats)> = (1..8).map(|i| (i, stats(1, 0, 1))).collect();
        let split = series.split(&reports(&list));
        let mut own: Vec<Ipv6Addr> = split.own.iter().map(|(a, _)| *a).collect();
        own.sort();
        assert_eq!(own, vec![v4(1), v4(2), v4(3)]);
        assert_eq!(split.folded, 4);
    }

    #[test]
    fn an_exporter_that_becomes_known_leaves_its_past_in_other() {
        let mut series = ExporterSeries::new(5, None);
        let split = series.split(&reports(&[(1, stats(5, 0, 1))]));
        assert!(split.own.is_empty());
        assert_eq!(split.other.as_ref().unwrap().stats.datagrams, 5);
        // Its template arrives: it gets a series, counting from here; `other` never goes down.
        let split = series.split(&reports(&[(1, stats(8, 4, 1))]));
        assert_eq!(split.own.len(), 1);
        assert_eq!(split.own[0].1.stats.datagrams, 0);
        assert_eq!(split.other.as_ref().unwrap().stats.datagrams, 8);
        assert_eq!(total(&split), (8, 4));
        let split = series.split(&reports(&[(1, stats(11, 9, 1))]));
        assert_eq!(split.own[0].1.stats.datagrams, 3);
        assert_eq!(split.own[0].1.stats.records, 5);
        assert_eq!(split.other.as_ref().unwrap().stats.datagrams, 8);
        assert_eq!(total(&split), (11, 9));
        assert_eq!(split.folded, 0);
    }

    #[test]
    fn exporters_past_the_decoder_limit_are_counted_in_other() {
        let mut r = reports(&[(1, stats(2, 2, 1))]);
        r[1].overflow = stats(7, 1, 1);
        let split = ExporterSeries::new(5, None).split(&r);
        assert_eq!(split.own.len(), 1);
        assert_eq!(split.other.unwrap().stats.datagrams, 7);
    }

    #[test]
    fn a_flood_from_many_addresses_renders_at_most_the_cap_plus_other() {
        // 249 source addresses (127.0.0.2 ..= 127.0.0.250): 200 decoded records, 49 did not.
        let list: Vec<(u32, ExporterStats)> = (2..=250)
            .map(|i| (i, stats(4, if i <= 201 { 10 } else { 0 }, i64::from(i))))
            .collect();
        let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
        let handle = recorder.handle();
        let mut series = ExporterSeries::new(25, None);
        metrics::with_local_recorder(&recorder, || {
            publish_workers(&reports(&list), &mut series);
            publish_workers(&reports(&list), &mut series);
        });
        let text = handle.render();
        let mut labels = HashSet::new();
        let mut datagrams = 0.0;
        let mut records = 0.0;
        for line in text.lines() {
            for (name, sum) in [
                ("sluice_exporter_datagrams_total{", &mut datagrams),
                ("sluice_exporter_records_total{", &mut records),
            ] {
                if let Some(rest) = line.strip_prefix(name) {
                    let label = rest.split('"').nth(1).unwrap().to_string();
                    *sum += rest.rsplit(' ').next().unwrap().parse::<f64>().unwrap();
                    labels.insert(label);
                }
            }
        }
        assert!(labels.len() <= 25 + 1, "{} exporter labels", labels.len());
        assert!(labels.contains(OTHER_EXPORTER), "{text}");
        assert_eq!(datagrams, 249.0 * 4.0, "datagrams summed over every series");
        assert_eq!(records, 200.0 * 10.0, "records summed over every series");
        assert!(text.contains("sluice_exporters_folded 224"), "{text}");
    }

    #[test]
    fn docs_list_every_metric() {
        let doc = include_str!("../README.md");
        for (n, _) in COUNTERS.iter().chain(GAUGES) {
            assert!(doc.contains(n), "README.md (Metrics) lacks {n}");
        }
    }
}
