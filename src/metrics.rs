//! Prometheus metrics of `sluice run`: every name, and how pipeline counters become metrics.
//!
//! Owns: the metric names (listed with their meaning in README.md, Metrics), the HTTP endpoint
//! (`metrics-exporter-prometheus`, `/metrics`), and the publishers that turn snapshots of the
//! decoders' per-exporter [`collector::Stats`], the receive workers' counters, the aggregator's
//! [`AggregatorStats`] and the sink's counters into metric values.
//! Must never: sit on the per-datagram path. Workers count in plain integers and hand a snapshot
//! over about once a second; this module sums the snapshots and sets absolute values.

use std::collections::HashMap;
use std::net::{Ipv6Addr, SocketAddr};

use aggregator::{AggregatorStats, Dimension};
use collector::record::display_addr;
use collector::{ErrorKind, ExporterStats};
use metrics::{counter, describe_counter, describe_gauge, gauge};

/// What one receive worker reports about itself (a snapshot, replaced at every report).
#[derive(Clone, Debug, Default)]
pub struct WorkerReport {
    /// `address/protocol` of the listener the worker serves.
    pub listener: String,
    /// Per-exporter decoder counters.
    pub exporters: HashMap<Ipv6Addr, ExporterStats>,
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
    /// Datagrams of a protocol that is not decoded (sFlow).
    pub unsupported: u64,
    /// Datagrams longer than the receive slot.
    pub truncated: u64,
    /// Receive calls that failed.
    pub recv_errors: u64,
    /// Datagrams the kernel dropped on this worker's socket (buffer full).
    pub kernel_drops: u64,
    /// Record batches handed to the aggregator.
    pub batches: u64,
    /// Records handed to the aggregator.
    pub records: u64,
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
        "sluice_datagrams_unsupported_total",
        "Datagrams of a protocol that is not decoded yet (sFlow).",
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
        "Time receive workers waited for room in a queue: `queue` is `aggregator` (windows) or `raw` (raw-flow storage, beside the aggregator).",
    ),
    (
        "sluice_queue_batches_total",
        "Record batches handed to the aggregator.",
    ),
    (
        "sluice_queue_records_total",
        "Records handed to the aggregator.",
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
        "Rows handed to the sink, by kind (flows, window_top, window_totals).",
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
        "sluice_exporter_clock_skew_seconds",
        "Export time minus receive time of the exporter's last datagram.",
    ),
    (
        "sluice_exporter_last_seen_seconds",
        "Unix time of the exporter's last datagram.",
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
        "1 while the writer is stopped by an error that can never succeed.",
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

/// Publish the sum of all workers' reports.
pub fn publish_workers(reports: &[WorkerReport]) {
    let mut by_listener: HashMap<&str, (u64, u64)> = HashMap::new();
    let (mut denied, mut truncated, mut errors) = (0, 0, 0);
    let (mut batches, mut records) = (0, 0);
    let (mut tbytes, mut pbytes) = (0, 0);
    for r in reports {
        let l = by_listener.entry(r.listener.as_str()).or_default();
        l.0 += r.datagrams;
        l.1 += r.unsupported;
        denied += r.denied;
        truncated += r.truncated;
        errors += r.recv_errors;
        batches += r.batches;
        records += r.records;
        tbytes += r.template_bytes;
        pbytes += r.pending_bytes;
    }
    for (addr, e) in &merge_exporters(reports) {
        let s = &e.stats;
        let ex = display_addr(*addr).to_string();
        let lbl = [("exporter", ex.clone())];
        counter!("sluice_exporter_datagrams_total", &lbl).absolute(s.datagrams);
        counter!("sluice_exporter_bytes_total", &lbl).absolute(s.bytes);
        counter!("sluice_exporter_records_total", &lbl).absolute(s.records);
        counter!("sluice_exporter_templates_learned_total", &lbl).absolute(s.templates_learned);
        counter!("sluice_exporter_sets_held_total", &lbl).absolute(s.sets_held);
        counter!("sluice_exporter_records_replayed_total", &lbl).absolute(s.records_replayed);
        counter!("sluice_exporter_padding_bytes_total", &lbl).absolute(s.padding_bytes);
        counter!("sluice_exporter_sampling_unknown_records_total", &lbl)
            .absolute(s.sampling_unknown);
        counter!("sluice_exporter_sequence_lost_total", &lbl).absolute(s.sequence_lost);
        counter!("sluice_exporter_sequence_resets_total", &lbl).absolute(s.sequence_resets);
        counter!("sluice_exporter_time_anomalies_total", "exporter" => ex.clone(), "kind" => "end_before_start")
            .absolute(s.time_end_before_start);
        counter!("sluice_exporter_time_anomalies_total", "exporter" => ex.clone(), "kind" => "far_from_export")
            .absolute(s.time_far_from_export);
        for kind in ErrorKind::ALL {
            let n = s.errors[kind as usize];
            if n > 0 {
                counter!("sluice_exporter_decode_errors_total", "exporter" => ex.clone(), "kind" => kind.as_str())
                    .absolute(n);
            }
        }
        gauge!("sluice_exporter_clock_skew_seconds", &lbl).set(s.clock_skew_ms as f64 / 1000.0);
        gauge!("sluice_exporter_last_seen_seconds", &lbl).set(s.last_seen as f64 / 1000.0);
        gauge!("sluice_exporter_templates", &lbl).set(e.templates as f64);
        gauge!("sluice_exporter_pending_sets", &lbl).set(e.pending as f64);
    }
    for (listener, (dgrams, unsupported)) in by_listener {
        counter!("sluice_datagrams_received_total", "listener" => listener.to_string())
            .absolute(dgrams);
        counter!("sluice_datagrams_unsupported_total", "listener" => listener.to_string())
            .absolute(unsupported);
    }
    counter!("sluice_datagrams_denied_total").absolute(denied);
    counter!("sluice_datagrams_truncated_total").absolute(truncated);
    counter!("sluice_receive_errors_total").absolute(errors);
    counter!("sluice_queue_batches_total").absolute(batches);
    counter!("sluice_queue_records_total").absolute(records);
    counter!("sluice_queue_drops_total").absolute(0);
    gauge!("sluice_template_bytes").set(tbytes as f64);
    gauge!("sluice_pending_bytes").set(pbytes as f64);
}

/// Publish global receive-path counters kept outside the worker reports.
pub fn publish_receive(kernel_drops: u64, blocked_aggregator_ns: u64, blocked_raw_ns: u64) {
    counter!("sluice_kernel_drops_total").absolute(kernel_drops);
    counter!("sluice_queue_blocked_microseconds_total", "queue" => "aggregator")
        .absolute(blocked_aggregator_ns / 1_000);
    counter!("sluice_queue_blocked_microseconds_total", "queue" => "raw")
        .absolute(blocked_raw_ns / 1_000);
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

    #[test]
    fn docs_list_every_metric() {
        let doc = include_str!("../README.md");
        for (n, _) in COUNTERS.iter().chain(GAUGES) {
            assert!(doc.contains(n), "README.md (Metrics) lacks {n}");
        }
    }
}
