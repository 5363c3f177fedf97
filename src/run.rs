//! `sluice run`: the collector service.
//!
//! Owns: the process shape. Per listener, `listen.workers` plain threads, each with its own
//! `SO_REUSEPORT` socket and its own [`Decoder`] (the group is steered by source address with
//! [`socket::attach_source_steering`], so all of an exporter's datagrams, from any source port,
//! reach one decoder, its template state lives there and the hot path takes no lock; when the
//! kernel refuses the program, its 4-tuple hash is used, with a warning and
//! `sluice_receive_steered_by_source` 0).
//! A worker receives with `recvmmsg`, drops datagrams from exporters outside the allowlist before
//! any state exists, decodes into a `Vec<FlowRecord>` batch and hands full batches (or partial ones
//! after `batch_linger_ms`) over a bounded channel to the aggregator shell on tokio. A full channel
//! makes the worker wait (counted), never drop. Also here: template state load/save, the metrics
//! publisher task, and graceful shutdown on SIGINT/SIGTERM (stop receiving, hand over the last
//! batches, close every open window, flush the sink, save state, exit 0).
//! Must never: decode or aggregate by itself, or drop a decoded record.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aggregator::shell::system_now_ms;
use aggregator::{
    Aggregator, AggregatorStats, JsonLinesSink, NullSink, Output, SharedSink, ShellOptions, Sink,
    SinkError,
};
use anyhow::{Context, anyhow};
use collector::persist::{self, Snapshot};
use collector::record::to_v6;
use collector::socket::{self, BatchReceiver, ReceiveOptions};
use collector::{
    Cidr, Decoder, DecoderSettings, FlowBatch, FlowRecord, InterfaceCounters, RecordSink,
};
use tokio::sync::{mpsc, watch};

use crate::config::{Config, SinkChoice, ValidatedConfig};
use crate::metrics::{self as m, WorkerReport};

/// Arguments of `sluice run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// The config file.
    #[arg(long, short, default_value = "sluice.toml")]
    pub config: PathBuf,
}

/// Runs `sluice run`.
pub fn run(args: &RunArgs) -> anyhow::Result<()> {
    let raw = Config::load(&args.config)
        .map_err(|p| anyhow!("{}: invalid config:\n{p}", args.config.display()))?;
    let mut cfg = raw
        .validate()
        .map_err(|p| anyhow!("{}: invalid config:\n{p}", args.config.display()))?;
    cfg.config_path = Some(args.config.clone());
    // `validate` checked the [[reports]] and that they have a [clickhouse] section to read.
    let scheduled = match raw.clickhouse.as_ref() {
        Some(ch) if !raw.reports.is_empty() => Some((
            report::schedule::validate_all(&raw.reports)?,
            ch.validate().map_err(|e| anyhow!("{e}"))?,
        )),
        _ => None,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("sluice-rt")
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async move {
        // Scheduled reports only read ClickHouse and run on their own task: they never hold up
        // ingest, and aborting one mid-run leaves no partial file (files are renamed into place).
        let scheduler = match scheduled {
            Some((reports, ch)) => {
                tracing::info!(reports = reports.len(), "scheduled reports active");
                let client = schema::build_client(&ch)?;
                Some(report::schedule::spawn_scheduler(
                    reports,
                    client,
                    std::future::pending(),
                ))
            }
            None => None,
        };
        let res = serve(cfg).await;
        if let Some(h) = scheduler {
            h.abort();
        }
        res
    })
}

/// State shared between the workers and the control tasks (never touched per datagram).
struct Shared {
    stop: AtomicBool,
    /// Time workers waited for room in the queue to the aggregator.
    blocked_aggregator_ns: AtomicU64,
    /// Time workers waited for room in the queue to raw-flow storage.
    blocked_raw_ns: AtomicU64,
    /// Time workers waited for room in the queue to interface-counter storage.
    blocked_counters_ns: AtomicU64,
    reports: Vec<Mutex<WorkerReport>>,
    /// Each worker socket's inode, for its drop counter in `/proc/net/udp`.
    inodes: Vec<Option<u64>>,
    /// Each worker socket's kernel drops, as last read (the counter only grows, so a read after
    /// the socket closed, which finds nothing, never lowers it).
    kernel_drops: Vec<AtomicU64>,
    snapshots: Vec<Mutex<Option<Snapshot>>>,
    /// Counters of the ClickHouse writers, once they run.
    writers: Mutex<Vec<schema::WriterStatsHandle>>,
    /// When this process started collecting, Unix ms (the origin of every counter).
    started_ms: i64,
    /// How often counters are published (metrics, the exporters table).
    metrics_interval: Duration,
    /// Which exporters have Prometheus series of their own (the rest are `exporter="other"`).
    exporter_series: Mutex<m::ExporterSeries>,
    /// Enrichment, when `[enrich]` is configured.
    enricher: Option<Arc<enrich::Enricher>>,
    /// The live feed of the API (`[web]`): every batch of closed windows is published to it.
    live: Option<Arc<web::LiveHub>>,
}

impl Shared {
    /// Read the sockets' drop counters from `/proc/net/udp` (parsing that file is kept off the
    /// receive threads: the publish task calls this, and each worker once as it stops).
    fn read_kernel_drops(&self, only: Option<usize>) {
        for (i, inode) in self.inodes.iter().enumerate() {
            if only.is_some_and(|o| o != i) {
                continue;
            }
            if let Some(inode) = inode
                && let Ok(d) = socket::kernel_drops(&[*inode])
            {
                self.kernel_drops[i].fetch_max(d, Ordering::Relaxed);
            }
        }
    }

    /// Kernel drops over every worker socket.
    fn kernel_drops_total(&self) -> u64 {
        self.kernel_drops
            .iter()
            .map(|d| d.load(Ordering::Relaxed))
            .sum()
    }

    /// The workers' latest reports (a clone of each, taken under its lock).
    fn worker_reports(&self) -> Vec<WorkerReport> {
        self.reports
            .iter()
            .map(|r| r.lock().map(|r| r.clone()).unwrap_or_default())
            .collect()
    }
}

/// Where a worker hands its decoded batches: the aggregator always, raw-flow storage when
/// `output.raw_flows` is on. Two bounded queues side by side, so windows are computed while raw
/// flows wait for storage (and the other way round); each has its own blocked-time metric.
#[derive(Clone)]
struct Queues {
    aggregator: mpsc::Sender<FlowBatch>,
    raw: Option<mpsc::Sender<FlowBatch>>,
    /// sFlow interface counters, to the `interface_counters` table.
    counters: mpsc::Sender<Vec<InterfaceCounters>>,
}

/// What a worker decodes into: flow records for the batch, interface counters beside them.
struct WorkerSink<'a> {
    flows: &'a mut Vec<FlowRecord>,
    counters: &'a mut Vec<InterfaceCounters>,
}

impl RecordSink for WorkerSink<'_> {
    #[inline]
    fn push(&mut self, rec: &FlowRecord) {
        self.flows.push(*rec);
    }

    #[inline]
    fn slots(&mut self, n: usize, init: &FlowRecord) -> Option<&mut [FlowRecord]> {
        RecordSink::slots(self.flows, n, init)
    }

    fn counters(&mut self, c: &InterfaceCounters) {
        self.counters.push(*c);
    }
}

struct Worker {
    index: usize,
    listener: String,
    receiver: BatchReceiver,
    decoder: Decoder,
    allow: Option<Vec<Cidr>>,
    queues: Queues,
    batch_records: usize,
    linger: Duration,
    report_every: Duration,
    snapshot_every: Option<Duration>,
    shared: Arc<Shared>,
    /// Batches handed off lately, kept to reuse their buffers once every consumer dropped them
    /// (no allocation and no fresh pages per batch in steady state).
    spent: Vec<FlowBatch>,
    /// The enrich stage, applied to each batch before it is handed off.
    stage: Option<enrich::Stage>,
    /// The decoder's interfaces version last handed to the enricher.
    interfaces_version: u64,
}

/// Handed-off batches a worker keeps for reuse.
const RECYCLE_BATCHES: usize = 16;

/// Run the collector until SIGINT/SIGTERM (or a sink failure).
pub async fn serve(cfg: ValidatedConfig) -> anyhow::Result<()> {
    if let Some(addr) = cfg.metrics {
        m::install(addr)?;
        tracing::info!(%addr, "metrics at http://{addr}/metrics");
    }
    match &cfg.listen.allowed_exporters {
        None => tracing::warn!(
            "listen.allowed_exporters is not set: datagrams from any address are accepted"
        ),
        Some(list) => tracing::info!(prefixes = list.len(), "exporter allowlist active"),
    }
    // Enrichment first: a missing or corrupt database stops the start here, with its path.
    let enricher = match &cfg.enrich {
        Some(e) => Some(crate::enrichment::start(e)?),
        None => None,
    };
    let reloader = match (&enricher, &cfg.enrich) {
        (Some(e), Some(c)) => Some(tokio::spawn(crate::enrichment::reload_loop(
            e.clone(),
            c.clone(),
            cfg.config_path.clone(),
        ))),
        _ => None,
    };
    let snapshot = match &cfg.listen.state_file {
        Some(p) => persist::load(p).with_context(|| "loading template state")?,
        None => None,
    };
    let now = system_now_ms();

    // Bind every socket before anything starts, so that a bad address fails fast.
    let opts = ReceiveOptions {
        recv_buffer: cfg.listen.recv_buffer_bytes,
        reuse_port: true,
        read_timeout: Duration::from_millis(100),
    };
    let mut sockets = Vec::new();
    for l in &cfg.listen.listeners {
        let label = format!("{}/{}", l.address, l.protocol.as_str());
        let group_start = sockets.len();
        for _ in 0..cfg.listen.workers {
            let opened = socket::bind_receiver(l.address, &opts)
                .with_context(|| format!("binding {}", l.address))?;
            metrics::gauge!("sluice_receive_buffer_bytes", "listener" => label.clone())
                .set(opened.recv_buffer as f64);
            if !opened.recv_buffer_ok {
                tracing::warn!(
                    listener = %l.address,
                    asked = cfg.listen.recv_buffer_bytes,
                    granted = opened.recv_buffer,
                    "the kernel granted a smaller receive buffer than asked \
                     (raise net.core.rmem_max, or run with CAP_NET_ADMIN)"
                );
            }
            sockets.push((label.clone(), opened));
        }
        // Template state is per exporter address: every datagram of one address must reach one
        // worker, whatever its source port. One socket is trivially so; a group is steered by
        // source address once all its sockets are bound (bind order is the index).
        let steered = cfg.listen.workers == 1
            || match socket::attach_source_steering(
                &sockets[group_start].1.socket,
                cfg.listen.workers,
            ) {
                Ok(()) => {
                    tracing::debug!(listener = %l.address, "receive sockets steered by exporter address");
                    true
                }
                Err(e) => {
                    tracing::warn!(
                        listener = %l.address,
                        "cannot steer datagrams by exporter address ({e}); the kernel hashes \
                         address and port instead, so an exporter sending from several source \
                         ports splits its templates across workers (set listen.workers = 1 if \
                         yours do)"
                    );
                    false
                }
            };
        metrics::gauge!("sluice_receive_steered_by_source", "listener" => label).set(if steered {
            1.0
        } else {
            0.0
        });
        tracing::info!(listener = %l.address, protocol = l.protocol.as_str(), workers = cfg.listen.workers, "listening");
    }
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        blocked_aggregator_ns: AtomicU64::new(0),
        blocked_raw_ns: AtomicU64::new(0),
        blocked_counters_ns: AtomicU64::new(0),
        reports: sockets
            .iter()
            .map(|(label, _)| {
                Mutex::new(WorkerReport {
                    listener: label.clone(),
                    ..WorkerReport::default()
                })
            })
            .collect(),
        inodes: sockets
            .iter()
            .map(|(_, o)| socket::socket_inode(&o.socket).ok())
            .collect(),
        kernel_drops: (0..sockets.len()).map(|_| AtomicU64::new(0)).collect(),
        snapshots: (0..sockets.len()).map(|_| Mutex::new(None)).collect(),
        writers: Mutex::new(Vec::new()),
        started_ms: now,
        metrics_interval: cfg.metrics_interval,
        exporter_series: Mutex::new(m::ExporterSeries::new(
            cfg.max_exporter_series,
            cfg.listen.allowed_exporters.clone(),
        )),
        live: cfg.web.as_ref().map(|w| {
            web::LiveHub::new(
                w.live_top,
                enricher
                    .as_ref()
                    .map(|e| e.registry().clone() as Arc<dyn web::live::Names>),
                cfg.aggregator.dimensions(),
            )
        }),
        enricher,
    });
    // The API and console: bound before collecting starts, so a port in use stops the start.
    let web_server = match &cfg.web {
        Some(w) => Some(start_web(w, &cfg, &shared).await?),
        None => None,
    };

    // The SNMP poller asks the agents of the exporters the collector has seen.
    let snmp = match (
        &shared.enricher,
        cfg.enrich.as_ref().and_then(|e| e.snmp.as_ref()),
    ) {
        (Some(e), Some(snmp)) => {
            let seen = shared.clone();
            Some(crate::enrichment::spawn_snmp(e.clone(), snmp, move || {
                let mut v: Vec<IpAddr> = seen
                    .worker_reports()
                    .iter()
                    .flat_map(|r| r.exporters.keys().map(|a| a.to_canonical()))
                    .collect();
                v.sort_unstable();
                v.dedup();
                v
            })?)
        }
        _ => None,
    };
    let (agg_tx, agg_rx) = mpsc::channel::<FlowBatch>(cfg.listen.queue_batches);
    let (raw_tx, raw_rx) = if cfg.raw_flows {
        let (t, r) = mpsc::channel::<FlowBatch>(cfg.listen.queue_batches);
        (Some(t), Some(r))
    } else {
        (None, None)
    };
    let (counters_tx, counters_rx) =
        mpsc::channel::<Vec<InterfaceCounters>>(cfg.listen.queue_batches);
    let queues = Queues {
        aggregator: agg_tx,
        raw: raw_tx,
        counters: counters_tx,
    };
    let mut threads = Vec::new();
    for (index, (listener, opened)) in sockets.into_iter().enumerate() {
        let decoder = new_decoder(&cfg.decoder, snapshot.as_ref(), now);
        let w = Worker {
            index,
            listener,
            receiver: BatchReceiver::new(opened.socket, cfg.listen.max_datagram_bytes),
            decoder,
            allow: cfg.listen.allowed_exporters.clone(),
            queues: queues.clone(),
            batch_records: cfg.listen.batch_records,
            linger: cfg.listen.batch_linger,
            report_every: cfg.metrics_interval,
            spent: Vec::with_capacity(RECYCLE_BATCHES),
            stage: shared.enricher.clone().map(enrich::Stage::new),
            interfaces_version: 0,
            snapshot_every: cfg
                .listen
                .state_file
                .as_ref()
                .map(|_| cfg.listen.state_save),
            shared: shared.clone(),
        };
        let t = std::thread::Builder::new()
            .name(format!("sluice-rx-{index}"))
            .spawn(move || w.run())
            .context("starting a receive thread")?;
        threads.push(t);
    }
    drop(queues);

    let (stats_tx, stats_rx) = watch::channel(AggregatorStats::default());
    let options = ShellOptions {
        flush_every: cfg.flush_every,
        stats: Some(stats_tx),
    };
    let aggregator = Aggregator::new(cfg.aggregator.clone());
    let mut pipeline = tokio::spawn(run_pipeline(
        cfg.sink.clone(),
        aggregator,
        agg_rx,
        raw_rx,
        counters_rx,
        options,
        shared.clone(),
    ));

    let publisher = tokio::spawn(publish_loop(
        shared.clone(),
        stats_rx.clone(),
        cfg.metrics_interval,
        cfg.listen
            .state_file
            .clone()
            .map(|p| (p, cfg.listen.state_save)),
    ));

    let early = tokio::select! {
        _ = shutdown_signal() => None,
        r = &mut pipeline => Some(r),
    };
    tracing::info!("stopping: receive threads finish their last batches");
    shared.stop.store(true, Ordering::SeqCst);
    let joined = tokio::task::spawn_blocking(move || {
        threads.into_iter().map(|t| t.join()).collect::<Vec<_>>()
    })
    .await?;
    let mut decoders = Vec::new();
    for j in joined {
        match j {
            Ok(d) => decoders.push(d),
            Err(_) => tracing::error!("a receive thread panicked"),
        }
    }
    let outcome = match early {
        Some(r) => r,
        None => pipeline.await,
    };
    publisher.abort();
    if let Some(r) = reloader {
        r.abort();
    }
    if let Some((task, stop)) = web_server {
        let _ = stop.send(());
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("the web server did not stop within 5 s");
        }
    }
    if let Some((task, stop)) = snmp {
        // The poller writes its cache file as it stops.
        let _ = stop.send(true);
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            tracing::warn!("the SNMP poller did not stop within 5 s");
        }
    }
    if let Some(path) = &cfg.listen.state_file {
        let snaps: Vec<Snapshot> = decoders.iter().map(|d| d.snapshot()).collect();
        match save_state(path, merge(snaps)) {
            Ok(n) => tracing::info!(templates = n, path = %path.display(), "template state saved"),
            Err(e) => tracing::error!("saving template state: {e:#}"),
        }
    }
    publish_once(&shared, &stats_rx);
    let reports = shared.worker_reports();
    let datagrams: u64 = reports.iter().map(|r| r.datagrams).sum();
    let records: u64 = reports.iter().map(|r| r.records).sum();
    let denied: u64 = reports.iter().map(|r| r.denied).sum();
    let enriched: u64 = reports.iter().map(|r| r.enrich.records).sum();
    let cache_hits: u64 = reports.iter().map(|r| r.enrich.cache_hits).sum();
    let cache_misses: u64 = reports.iter().map(|r| r.enrich.cache_misses).sum();
    let kernel_drops = shared.kernel_drops_total();
    let agg = *stats_rx.borrow();
    match outcome.context("the aggregator task")? {
        Ok(()) => {
            tracing::info!(
                datagrams,
                records,
                denied,
                flows_recorded = agg.flows_recorded,
                late_flows = agg.late_flows,
                windows_closed = agg.windows_closed,
                kernel_drops,
                enriched,
                enrich_cache_hits = cache_hits,
                enrich_cache_misses = cache_misses,
                "stopped cleanly"
            );
            Ok(())
        }
        Err(e) => Err(anyhow!("sink failed: {e}")),
    }
}

fn new_decoder(settings: &DecoderSettings, snap: Option<&Snapshot>, now: i64) -> Decoder {
    let mut d = Decoder::new(settings.clone());
    if let Some(s) = snap {
        let n = d.restore(s, now);
        tracing::debug!(templates = n, "restored template state");
    }
    d
}

/// Union of the workers' snapshots (each worker holds a disjoint set of exporters, except after a
/// restart, when every worker was given the whole saved state).
fn merge(snaps: Vec<Snapshot>) -> Snapshot {
    let mut out = Snapshot {
        format: persist::FORMAT,
        templates: Vec::new(),
        samplers: Vec::new(),
        system_init: Vec::new(),
    };
    let mut seen = HashMap::new();
    for s in snaps {
        for t in s.templates {
            let key = (t.exporter, t.domain, t.version, t.id);
            match seen.get(&key) {
                Some(&i) => {
                    let old: &mut persist::SavedTemplate = &mut out.templates[i];
                    if t.learned_at > old.learned_at {
                        *old = t;
                    }
                }
                None => {
                    seen.insert(key, out.templates.len());
                    out.templates.push(t);
                }
            }
        }
        for sm in s.samplers {
            if !out.samplers.contains(&sm) {
                out.samplers.push(sm);
            }
        }
        for si in s.system_init {
            if !out.system_init.contains(&si) {
                out.system_init.push(si);
            }
        }
    }
    out
}

/// Write a merged snapshot atomically (`collector::persist::write`); returns the templates saved.
fn save_state(path: &Path, snap: Snapshot) -> anyhow::Result<usize> {
    persist::write(&snap, path)?;
    Ok(snap.templates.len())
}

impl Worker {
    fn run(mut self) -> Decoder {
        let mut batch: Vec<FlowRecord> = Vec::with_capacity(self.batch_records + 64);
        let mut counters: Vec<InterfaceCounters> = Vec::new();
        let mut batch_started = Instant::now();
        let mut report = WorkerReport {
            listener: self.listener.clone(),
            ..WorkerReport::default()
        };
        let mut last_report = Instant::now();
        let mut last_expire = Instant::now();
        let mut last_snapshot = Instant::now();
        let mut last_error_log: Option<Instant> = None;
        let mut open = true;
        // After the stop signal, keep taking what the kernel already queued until the socket is
        // idle for one read timeout (or one second passed), so that a shutdown loses nothing
        // that had arrived.
        let mut stopping: Option<Instant> = None;
        while open {
            if stopping.is_none() && self.shared.stop.load(Ordering::Relaxed) {
                stopping = Some(Instant::now());
            }
            if stopping.is_some_and(|t| t.elapsed() >= Duration::from_secs(1)) {
                break;
            }
            let n = match self.receiver.recv() {
                Ok(n) => n,
                Err(e) => {
                    report.recv_errors += 1;
                    if last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
                        tracing::warn!(listener = %self.listener, "receive failed: {e}");
                        last_error_log = Some(Instant::now());
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    0
                }
            };
            if n == 0 && stopping.is_some() {
                break;
            }
            if n > 0 {
                let now = system_now_ms();
                if batch.is_empty() {
                    batch_started = Instant::now();
                }
                for d in self.receiver.iter() {
                    report.datagrams += 1;
                    if d.truncated {
                        report.truncated += 1;
                        continue;
                    }
                    let from: IpAddr = d.from.ip();
                    if let Some(allow) = &self.allow {
                        let v6 = to_v6(from);
                        if !allow.iter().any(|c| c.contains(v6)) {
                            report.denied += 1;
                            continue;
                        }
                    }
                    // The version is read from each datagram (NetFlow v5/v9, IPFIX, sFlow v5),
                    // whatever the listener's protocol. Errors are counted per exporter and kind
                    // inside the decoder.
                    let mut sink = WorkerSink {
                        flows: &mut batch,
                        counters: &mut counters,
                    };
                    let _ = self.decoder.decode(from, d.data, now, &mut sink);
                }
                if batch.len() >= self.batch_records {
                    open = self.hand_off(&mut batch, &mut report);
                }
            }
            if !batch.is_empty() && batch_started.elapsed() >= self.linger {
                open = self.hand_off(&mut batch, &mut report);
            }
            // Counter samples are few (one per interface every 20 s or so): each receive call's
            // go straight to their queue.
            if !counters.is_empty() {
                open &= self.hand_off_counters(&mut counters, &mut report);
            }
            if last_expire.elapsed() >= Duration::from_secs(1) {
                self.decoder.expire(system_now_ms());
                last_expire = Instant::now();
            }
            if last_report.elapsed() >= self.report_every {
                self.report(&mut report);
                last_report = Instant::now();
            }
            if let Some(every) = self.snapshot_every
                && last_snapshot.elapsed() >= every
            {
                if let Ok(mut s) = self.shared.snapshots[self.index].lock() {
                    *s = Some(self.decoder.snapshot());
                }
                last_snapshot = Instant::now();
            }
        }
        if open && !batch.is_empty() {
            self.hand_off(&mut batch, &mut report);
        }
        self.report(&mut report);
        // Read while the socket is open: once it closes, /proc/net/udp forgets it.
        self.shared.read_kernel_drops(Some(self.index));
        self.decoder
    }

    /// Hand the batch to the aggregator and, when raw flows are stored, to the raw-flow writer
    /// (the same batch, shared), waiting while a queue is full. False when a consumer is gone (it
    /// ended with an error; the service is stopping).
    fn hand_off(&mut self, batch: &mut Vec<FlowRecord>, report: &mut WorkerReport) -> bool {
        let next = self
            .reusable()
            .unwrap_or_else(|| Vec::with_capacity(self.batch_records + 64));
        if let Some(stage) = &mut self.stage {
            stage.enrich(batch);
        }
        let full: FlowBatch = Arc::new(std::mem::replace(batch, next));
        if self.spent.len() == RECYCLE_BATCHES {
            self.spent.remove(0);
        }
        self.spent.push(full.clone());
        let n = full.len() as u64;
        let ok = match &self.queues.raw {
            Some(raw) => {
                send_waiting(
                    &self.queues.aggregator,
                    full.clone(),
                    &self.shared.blocked_aggregator_ns,
                ) && send_waiting(raw, full, &self.shared.blocked_raw_ns)
            }
            None => send_waiting(
                &self.queues.aggregator,
                full,
                &self.shared.blocked_aggregator_ns,
            ),
        };
        if ok {
            report.batches += 1;
            report.records += n;
        }
        ok
    }

    /// Hand interface counters to their queue, waiting while it is full. False when its consumer
    /// is gone.
    fn hand_off_counters(
        &mut self,
        counters: &mut Vec<InterfaceCounters>,
        report: &mut WorkerReport,
    ) -> bool {
        let n = counters.len() as u64;
        let ok = send_waiting(
            &self.queues.counters,
            std::mem::take(counters),
            &self.shared.blocked_counters_ns,
        );
        if ok {
            report.counter_rows += n;
        }
        ok
    }

    /// The buffer of a handed-off batch that every consumer has dropped, emptied.
    fn reusable(&mut self) -> Option<Vec<FlowRecord>> {
        let i = self.spent.iter().position(|b| Arc::strong_count(b) == 1)?;
        let mut v = Arc::try_unwrap(self.spent.swap_remove(i)).ok()?;
        v.clear();
        Some(v)
    }

    fn report(&mut self, report: &mut WorkerReport) {
        let stats = self.decoder.stats();
        report.exporters = stats
            .exporters
            .iter()
            .map(|(a, s)| (*a, s.clone()))
            .collect();
        report.overflow = stats.overflow.clone();
        report.templates = self.decoder.templates_by_exporter();
        report.options_templates = self.decoder.options_templates_by_exporter();
        report.pending = self.decoder.pending_by_exporter();
        report.template_bytes = self.decoder.template_bytes();
        report.pending_bytes = self.decoder.pending_bytes();
        if let Some(stage) = &self.stage {
            report.enrich = stage.stats();
            let v = self.decoder.interfaces_version();
            if v != self.interfaces_version {
                self.interfaces_version = v;
                if let Some(e) = &self.shared.enricher {
                    let changed = crate::enrichment::learn_from_options(e, &self.decoder.scopes());
                    if changed > 0 {
                        tracing::info!(changed, "interface names learned from options data");
                    }
                }
            }
        }
        if let Ok(mut r) = self.shared.reports[self.index].lock() {
            *r = report.clone();
        }
    }
}

/// Sets `flag` on SIGINT or SIGTERM, from a thread of its own (for the synchronous dev tools).
pub fn stop_on_signal(flag: Arc<AtomicBool>) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the signal watcher")?;
    std::thread::Builder::new()
        .name("sluice-signal".into())
        .spawn(move || {
            rt.block_on(shutdown_signal());
            flag.store(true, Ordering::SeqCst);
        })
        .context("starting the signal watcher")?;
    Ok(())
}

/// Send, waiting while the queue is full (the time waited is added to `blocked_ns`). False when
/// the receiving side is gone.
fn send_waiting<T>(tx: &mpsc::Sender<T>, batch: T, blocked_ns: &AtomicU64) -> bool {
    match tx.try_send(batch) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(b)) => {
            let t = Instant::now();
            let ok = tx.blocking_send(b).is_ok();
            blocked_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            ok
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// SIGINT or SIGTERM (logged). Shared by `sluice run`, `sluice schedule` and the dev tools.
pub(crate) async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => tracing::info!("SIGINT received"),
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                }
            }
            Err(e) => {
                tracing::warn!("cannot watch SIGTERM: {e}");
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn publish_once(shared: &Shared, agg: &watch::Receiver<AggregatorStats>) {
    shared.read_kernel_drops(None);
    let reports = shared.worker_reports();
    let mut series = shared
        .exporter_series
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    m::publish_workers(&reports, &mut series);
    drop(series);
    m::publish_receive(
        shared.kernel_drops_total(),
        shared.blocked_aggregator_ns.load(Ordering::Relaxed),
        shared.blocked_raw_ns.load(Ordering::Relaxed),
        shared.blocked_counters_ns.load(Ordering::Relaxed),
    );
    m::publish_aggregator(&agg.borrow());
    let writers = shared.writers.lock().map(|w| w.clone()).unwrap_or_default();
    if let Some(total) = writers
        .iter()
        .map(|h| h.snapshot())
        .reduce(|a, b| a.plus(&b))
    {
        m::publish_clickhouse(&total);
    }
}

async fn publish_loop(
    shared: Arc<Shared>,
    agg: watch::Receiver<AggregatorStats>,
    every: Duration,
    state: Option<(PathBuf, Duration)>,
) {
    let mut tick = tokio::time::interval(every);
    let mut last_save = Instant::now();
    loop {
        tick.tick().await;
        let s = shared.clone();
        let a = agg.clone();
        let _ = tokio::task::spawn_blocking(move || publish_once(&s, &a)).await;
        if let Some((path, save_every)) = &state
            && last_save.elapsed() >= *save_every
        {
            last_save = Instant::now();
            let snaps: Vec<Snapshot> = shared
                .snapshots
                .iter()
                .filter_map(|s| s.lock().ok().and_then(|s| s.clone()))
                .collect();
            if snaps.is_empty() {
                continue;
            }
            let path = path.clone();
            let r = tokio::task::spawn_blocking(move || save_state(&path, merge(snaps))).await;
            match r {
                Ok(Ok(_)) => metrics::counter!("sluice_state_saves_total").increment(1),
                Ok(Err(e)) => {
                    metrics::counter!("sluice_state_save_errors_total").increment(1);
                    tracing::warn!("saving template state: {e:#}");
                }
                Err(_) => {}
            }
        }
    }
}

/// The collector's exporter counters, for `/api/v1/exporters`.
struct CollectorFeed(Arc<Shared>);

impl web::ExporterFeed for CollectorFeed {
    fn exporters(&self) -> Vec<schema::rows::ExporterRow> {
        let shared = &self.0;
        let mut rows: Vec<schema::rows::ExporterRow> = m::merge_exporters(&shared.worker_reports())
            .iter()
            .filter(|(_, e)| e.stats.records > 0 || e.stats.templates_learned > 0)
            .map(|(a, e)| {
                schema::rows::exporter_row(
                    *a,
                    &e.stats,
                    e.templates as u32,
                    e.options_templates as u32,
                    e.stats.first_seen,
                    shared.started_ms,
                )
            })
            .collect();
        rows.sort_by_key(|r| r.address);
        rows
    }
}

/// Bind `[web] listen` and serve the API and console until the returned sender fires.
async fn start_web(
    w: &web::ValidatedWebConfig,
    cfg: &ValidatedConfig,
    shared: &Arc<Shared>,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Sender<()>,
)> {
    let client = match &cfg.sink {
        SinkChoice::Clickhouse(ch) => Some(schema::build_client(ch)?),
        _ => None,
    };
    let mut state = web::AppState::new(w, client, "run")?;
    state.live = shared.live.clone();
    state.exporters = Some(Arc::new(CollectorFeed(shared.clone())));
    state.reports = cfg.reports.clone();
    let listener = tokio::net::TcpListener::bind(w.listen)
        .await
        .with_context(|| format!("web: binding {}", w.listen))?;
    tracing::info!(addr = %w.listen, "console at http://{}/", w.listen);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let shutdown = async move {
            let _ = stopped.await;
        };
        if let Err(e) = web::serve(listener, Arc::new(state), shutdown).await {
            tracing::error!("web server: {e}");
        }
    });
    Ok((task, stop))
}

/// A sink wrapper that counts rows, batches, errors and time spent, and hands closed windows to
/// the live feed.
struct Metered<S> {
    inner: S,
    name: &'static str,
    live: Option<Arc<web::LiveHub>>,
}

impl<S> Metered<S> {
    fn new(inner: S, name: &'static str) -> Self {
        Metered {
            inner,
            name,
            live: None,
        }
    }

    fn with_live(mut self, live: Option<Arc<web::LiveHub>>) -> Self {
        self.live = live;
        self
    }
}

impl<S: Sink> Sink for Metered<S> {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        let (flows, top, totals, counters) = match &batch {
            Output::Flows(f) => (f.len(), 0, 0, 0),
            Output::Windows { top, totals } => {
                if let Some(live) = &self.live {
                    live.publish(top, totals);
                }
                (0, top.len(), totals.len(), 0)
            }
            Output::Counters(c) => (0, 0, 0, c.len()),
        };
        let t = Instant::now();
        let r = self.inner.send(batch).await;
        let dt = t.elapsed().as_secs_f64();
        let name = self.name;
        metrics::counter!("sluice_sink_batches_total", "sink" => name).increment(1);
        for (kind, n) in [
            ("flows", flows),
            ("window_top", top),
            ("window_totals", totals),
            ("interface_counters", counters),
        ] {
            if n > 0 {
                metrics::counter!("sluice_sink_rows_total", "sink" => name, "kind" => kind)
                    .increment(n as u64);
            }
        }
        metrics::counter!("sluice_sink_send_microseconds_total", "sink" => name)
            .increment((dt * 1e6) as u64);
        metrics::gauge!("sluice_sink_last_send_seconds", "sink" => name).set(dt);
        if r.is_err() {
            metrics::counter!("sluice_sink_errors_total", "sink" => name).increment(1);
        }
        r
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let r = self.inner.flush().await;
        if r.is_err() {
            metrics::counter!("sluice_sink_errors_total", "sink" => self.name).increment(1);
        }
        r
    }
}

/// Keeps the `exporters` table current: every metrics interval, one row per exporter whose counters
/// moved (merged over the receive workers), with the earliest first sighting the table knew.
async fn exporters_table_loop(client: schema::Client, shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(shared.metrics_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut table = ExportersTable::default();
    let mut last_error_log: Option<Instant> = None;
    loop {
        tick.tick().await;
        if let Err(e) = table.write(&client, &shared).await
            && last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(60))
        {
            tracing::warn!("writing the exporters table (retried at the next interval): {e}");
            last_error_log = Some(Instant::now());
        }
    }
}

/// What the exporters-table writer remembers between writes.
#[derive(Default)]
struct ExportersTable {
    /// First sightings from the table (seeded once the server answers), Unix seconds.
    first_seen: Option<HashMap<std::net::Ipv6Addr, u32>>,
    /// Datagram counts at the last successful write, to skip exporters that did not move.
    written: HashMap<std::net::Ipv6Addr, u64>,
}

impl ExportersTable {
    async fn write(
        &mut self,
        client: &schema::Client,
        shared: &Shared,
    ) -> Result<(), schema::ClickhouseError> {
        if self.first_seen.is_none() {
            let known = schema::writer::exporters_first_seen(client).await?;
            self.first_seen = Some(known.into_iter().collect());
        }
        let reports = shared.worker_reports();
        let merged = m::merge_exporters(&reports);
        let known = self.first_seen.as_ref();
        let rows: Vec<schema::rows::ExporterRow> = merged
            .iter()
            // Known exporters only (a record or a template decoded): a spoofed-source flood of
            // garbage creates no rows.
            .filter(|(_, e)| e.stats.records > 0 || e.stats.templates_learned > 0)
            .filter(|(a, e)| self.written.get(*a) != Some(&e.stats.datagrams))
            .map(|(a, e)| {
                let first_ms = known
                    .and_then(|k| k.get(a))
                    .map(|s| i64::from(*s) * 1000)
                    .filter(|&t| e.stats.first_seen == 0 || t < e.stats.first_seen)
                    .unwrap_or(e.stats.first_seen);
                schema::rows::exporter_row(
                    *a,
                    &e.stats,
                    e.templates as u32,
                    e.options_templates as u32,
                    first_ms,
                    shared.started_ms,
                )
            })
            .collect();
        if rows.is_empty() {
            return Ok(());
        }
        let r = schema::writer::insert_exporters(client, &rows).await;
        let result = if r.is_ok() { "ok" } else { "error" };
        metrics::counter!("sluice_exporters_table_writes_total", "result" => result).increment(1);
        r?;
        for (a, e) in &merged {
            self.written.insert(*a, e.stats.datagrams);
        }
        Ok(())
    }
}

/// The raw-flow path: every batch from the workers' raw queue to its sink, in order, then a flush
/// when the queue closes.
async fn store_raw<S: Sink>(
    mut rx: mpsc::Receiver<FlowBatch>,
    mut sink: S,
) -> Result<S, SinkError> {
    while let Some(batch) = rx.recv().await {
        if !batch.is_empty() {
            sink.send(Output::Flows(batch)).await?;
        }
    }
    sink.flush().await?;
    Ok(sink)
}

/// The interface-counters path: every batch of sFlow counters from the workers to its sink, in
/// order, then a flush when the queue closes.
async fn store_counters<S: Sink>(
    mut rx: mpsc::Receiver<Vec<InterfaceCounters>>,
    mut sink: S,
) -> Result<S, SinkError> {
    while let Some(batch) = rx.recv().await {
        if !batch.is_empty() {
            sink.send(Output::Counters(batch)).await?;
        }
    }
    sink.flush().await?;
    Ok(sink)
}

/// What each path ended with.
struct PathResults<W, R, C> {
    windows: Result<W, SinkError>,
    raw: Option<Result<R, SinkError>>,
    counters: Result<C, SinkError>,
}

impl<W, R, C> PathResults<W, R, C> {
    /// The first error of the paths, or Ok.
    fn first_error(&self) -> Result<(), SinkError> {
        if let Err(e) = &self.windows {
            return Err(SinkError::Other(format!("windows: {e}")));
        }
        if let Some(Err(e)) = &self.raw {
            return Err(SinkError::Other(format!("raw flows: {e}")));
        }
        if let Err(e) = &self.counters {
            return Err(SinkError::Other(format!("interface counters: {e}")));
        }
        Ok(())
    }
}

/// Runs the windows path (the aggregator shell into `windows`), the raw-flow path (into `raw`)
/// and the interface-counters path (into `counters`) side by side until their inputs close. One
/// failing closes its queue, which stops the workers and so, in turn, the other paths.
async fn all_paths<W: Sink, R: Sink, C: Sink>(
    aggregator: Aggregator,
    agg_rx: mpsc::Receiver<FlowBatch>,
    windows: W,
    raw: Option<(mpsc::Receiver<FlowBatch>, R)>,
    counters: (mpsc::Receiver<Vec<InterfaceCounters>>, C),
    options: ShellOptions,
) -> PathResults<W, R, C> {
    let windows_path = async {
        aggregator::run(aggregator, agg_rx, windows, options)
            .await
            .map(|o| o.sink)
    };
    let raw_path = async {
        match raw {
            Some((rx, sink)) => Some(store_raw(rx, sink).await),
            None => None,
        }
    };
    let (windows, raw, counters) = tokio::join!(
        windows_path,
        raw_path,
        store_counters(counters.0, counters.1)
    );
    PathResults {
        windows,
        raw,
        counters,
    }
}

async fn run_pipeline(
    sink: SinkChoice,
    aggregator: Aggregator,
    agg_rx: mpsc::Receiver<FlowBatch>,
    raw_rx: Option<mpsc::Receiver<FlowBatch>>,
    counters_rx: mpsc::Receiver<Vec<InterfaceCounters>>,
    options: ShellOptions,
    shared: Arc<Shared>,
) -> Result<(), SinkError> {
    match sink {
        SinkChoice::Null => {
            let raw = raw_rx.map(|rx| (rx, Metered::new(NullSink::default(), "null")));
            let windows = Metered::new(NullSink::default(), "null").with_live(shared.live.clone());
            let counters = (counters_rx, Metered::new(NullSink::default(), "null"));
            let p = all_paths(aggregator, agg_rx, windows, raw, counters, options).await;
            p.first_error()?;
            let flows = match &p.raw {
                Some(Ok(s)) => s.inner.flows,
                _ => 0,
            };
            let counter_rows = p.counters.as_ref().map_or(0, |c| c.inner.counter_rows);
            if let Ok(w) = &p.windows {
                tracing::info!(
                    flows,
                    top_rows = w.inner.top_rows,
                    totals_rows = w.inner.totals_rows,
                    counter_rows,
                    "null sink totals"
                );
            }
            Ok(())
        }
        SinkChoice::Jsonl(path) => {
            // One file for both paths: each batch is written whole under the lock.
            let file = SharedSink::new(JsonLinesSink::create(&path).await?);
            let raw = raw_rx.map(|rx| (rx, Metered::new(file.clone(), "jsonl")));
            let windows = Metered::new(file.clone(), "jsonl").with_live(shared.live.clone());
            let counters = (counters_rx, Metered::new(file.clone(), "jsonl"));
            all_paths(aggregator, agg_rx, windows, raw, counters, options)
                .await
                .first_error()?;
            let lines = file.with(|s| s.lines()).await;
            tracing::info!(lines, path = %path.display(), "json-lines sink flushed");
            Ok(())
        }
        SinkChoice::Clickhouse(cfg) => {
            // Healthcheck, CREATE DATABASE IF NOT EXISTS and pending migrations, then the writers.
            let prepared = match schema::prepare(&cfg).await {
                Ok(prepared) => {
                    tracing::info!(
                        version = %prepared.version,
                        tier = %prepared.tier,
                        migrations_applied = ?prepared.applied,
                        "clickhouse ready"
                    );
                    Some(prepared)
                }
                // The server is down (or not up yet): collect anyway, into the disk spools; each
                // writer prepares the server and replays its spool once it answers.
                Err(schema::PrepareError::Connect(
                    e @ schema::connection::ConnectError::Unreachable { .. },
                )) => {
                    tracing::warn!(
                        "{e}; collecting into the spool at {} until it answers",
                        cfg.spool_dir.display()
                    );
                    None
                }
                Err(e) => return Err(SinkError::Other(format!("clickhouse: {e}"))),
            };
            // Raw flows and windows each get a writer (and a spool) of their own, so that neither
            // waits behind the other's inserts.
            let (flows_cfg, windows_cfg) = cfg.split_streams();
            let start = |c: &schema::ValidatedClickhouseConfig| match &prepared {
                Some(p) => schema::ClickhouseWriter::start(c, p.client.clone(), p.tier),
                None => schema::ClickhouseWriter::start_deferred(c),
            };
            let windows_writer =
                start(&windows_cfg).map_err(|e| SinkError::Other(format!("clickhouse: {e}")))?;
            // sFlow interface counters: a writer and spool of their own (a few rows per interface
            // and minute), beside the windows' under the spool directory.
            let counters_cfg = schema::ValidatedClickhouseConfig {
                spool_dir: cfg.spool_dir.join("counters"),
                ..windows_cfg.clone()
            };
            let counters_writer =
                start(&counters_cfg).map_err(|e| SinkError::Other(format!("clickhouse: {e}")))?;
            let flows_writer = match raw_rx {
                Some(rx) => Some((
                    rx,
                    start(&flows_cfg).map_err(|e| SinkError::Other(format!("clickhouse: {e}")))?,
                )),
                None => None,
            };
            if let Some(e) = &shared.enricher {
                windows_writer.set_enrichment(e.registry().clone());
                if let Some((_, f)) = &flows_writer {
                    f.set_enrichment(e.registry().clone());
                }
            }
            if let Ok(mut w) = shared.writers.lock() {
                w.push(windows_writer.stats_handle());
                w.push(counters_writer.stats_handle());
                if let Some((_, f)) = &flows_writer {
                    w.push(f.stats_handle());
                }
            }
            // The exporters table: what the collector knows of each exporter, at every metrics
            // interval. Its own client; a failed write is counted and tried at the next interval.
            let inventory = match schema::build_client(&cfg) {
                Ok(client) => Some(tokio::spawn(exporters_table_loop(client, shared.clone()))),
                Err(e) => {
                    tracing::warn!("exporters table: {e}");
                    None
                }
            };
            // The interfaces and as_names tables, from the enricher (names, speeds, classification).
            let interfaces = match (&shared.enricher, schema::build_client(&cfg)) {
                (Some(e), Ok(client)) => {
                    let (stop, stopped) = watch::channel(false);
                    let task = tokio::spawn(crate::enrichment::inventory_tables_loop(
                        client,
                        e.clone(),
                        shared.metrics_interval,
                        stopped,
                    ));
                    Some((task, stop))
                }
                _ => None,
            };
            let raw = flows_writer.map(|(rx, w)| (rx, Metered::new(w, "clickhouse")));
            let windows = Metered::new(windows_writer, "clickhouse").with_live(shared.live.clone());
            let counters = (counters_rx, Metered::new(counters_writer, "clickhouse"));
            let p = all_paths(aggregator, agg_rx, windows, raw, counters, options).await;
            if let Some((task, stop)) = interfaces {
                // The task writes once more as it stops; bounded, so a hung server cannot hold
                // up the shutdown.
                let _ = stop.send(true);
                if tokio::time::timeout(Duration::from_secs(5), task)
                    .await
                    .is_err()
                {
                    tracing::warn!("the last interfaces / as_names write did not complete");
                }
            }
            if let Some(h) = inventory {
                // One last write, so the table holds the final counters.
                h.abort();
                if let Ok(client) = schema::build_client(&cfg) {
                    let mut table = ExportersTable::default();
                    // Bounded: a server that hangs must not hold up the shutdown.
                    let last =
                        tokio::time::timeout(Duration::from_secs(5), table.write(&client, &shared));
                    if !matches!(last.await, Ok(Ok(()))) {
                        tracing::warn!("the last exporters table write did not complete");
                    }
                }
            }
            let failed = p.first_error();
            // Close whatever still runs, so that what the server took is acknowledged and the
            // rest stays in the spools.
            if let Ok(w) = p.windows {
                w.inner.close().await?;
            }
            if let Some(Ok(r)) = p.raw {
                r.inner.close().await?;
            }
            if let Ok(c) = p.counters {
                c.inner.close().await?;
            }
            failed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::persist::SavedTemplate;
    use std::net::Ipv6Addr;

    fn tpl(exporter: u8, id: u16, learned_at: i64) -> SavedTemplate {
        SavedTemplate {
            exporter: Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0x0a00, u16::from(exporter)),
            domain: 0,
            version: 9,
            id,
            scope_fields: None,
            fields: Vec::new(),
            learned_at,
        }
    }

    fn snap(templates: Vec<SavedTemplate>) -> Snapshot {
        Snapshot {
            format: persist::FORMAT,
            templates,
            samplers: Vec::new(),
            system_init: Vec::new(),
        }
    }

    #[test]
    fn merged_state_keeps_the_newest_copy_of_each_template() {
        let merged = merge(vec![
            snap(vec![tpl(1, 256, 10), tpl(2, 256, 10)]),
            snap(vec![tpl(1, 256, 20), tpl(1, 257, 5)]),
        ]);
        assert_eq!(merged.templates.len(), 3);
        let t = merged
            .templates
            .iter()
            .find(|t| t.id == 256 && t.exporter == tpl(1, 0, 0).exporter)
            .unwrap();
        assert_eq!(t.learned_at, 20);
    }

    #[test]
    fn saved_state_loads_back() {
        let dir = std::env::temp_dir().join(format!("sluice-run-state-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let s = snap(vec![tpl(3, 300, 42)]);
        assert_eq!(save_state(&path, s.clone()).unwrap(), 1);
        assert_eq!(persist::load(&path).unwrap(), Some(s));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
