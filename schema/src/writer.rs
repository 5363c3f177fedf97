//! The ClickHouse writer: a sink with a batcher, a service task, retry logic and a disk spool.
//!
//! Owns: turning [`aggregator::Output`] into `RowBinary` batches per table (by rows, bytes or age),
//! inserting them with LZ4, classifying failures ([`crate::connection::classify`]), retrying with
//! exponential backoff and jitter, spooling batches to disk ([`crate::spool`]) while the server is
//! unreachable and replaying them in order when it returns, and the counters in [`WriterStats`].
//! Must never: drop a batch silently (drops happen only under the `drop_newest` full policy and are
//! counted), retry an insert the server will always reject, or let memory grow with a slow server
//! (the channel is bounded; while `max_concurrent_inserts` inserts run, intake waits).
//!
//! # Order and delivery
//!
//! While the spool is empty, a sealed batch is inserted directly, in a task of its own: the service
//! goes on encoding the next rows meanwhile, and up to `max_concurrent_inserts` such inserts run at
//! once (when that many run, sealing the next batch waits for one to finish; on the legacy tier one
//! runs at a time, see `Service::insert_limit`). Direct inserts may
//! finish in any order; their outcomes are settled in the order the batches were sealed, as the
//! one-at-a-time writer would have: a success is counted, a refusal for good is dead-lettered, and
//! an error that can succeed later (network, timeout, 5xx, "too many parts" 252...) sends the batch
//! to the spool, but only after every other running insert has finished, so that failed batches
//! enter the spool in seal order. From then on every new batch goes to the spool behind them. The
//! spool is replayed head first, one batch at a time (never while a direct insert runs); once
//! empty, direct inserts resume. `flush` waits for every running insert before it drains the spool.
//!
//! The spool's file I/O (append and its fsync, peek, acknowledge) and the dead-letter writes run
//! on tokio's blocking pool (`spawn_blocking`); the service awaits each before the next, so their
//! order is unchanged.
//!
//! An error that can never succeed (syntax 62, type mismatch 53, unknown table 60, unknown column
//! 16...) puts the writer in a **failed** state: the batch stays at the spool's head, nothing more
//! is inserted, later batches keep going to the spool, and every `send`/`flush` returns the error
//! message. Fix the schema (e.g. `sluice migrate`) and restart: the spool is replayed.
//!
//! # Duplicates
//!
//! Each batch carries a token (`sluice-<instance>-<seq>`) stored with it in the spool. On the
//! modern tier every insert sends it as `insert_deduplication_token` and the tables keep
//! `non_replicated_deduplication_window` blocks, so a retry of a batch whose insert was committed
//! but whose reply was lost is discarded by the server;
//! `deduplicate_blocks_in_dependent_materialized_views` keeps the rollups from counting it twice. **Legacy limit**: 18.16 has neither, so on
//! the legacy tier such a retry stores the batch twice; this only happens when a reply is lost
//! after the commit (not when the server is down or refuses the connection).
//!
//! # Starting while the server is down
//!
//! [`ClickhouseWriter::start_deferred`] starts without a server: batches go to the spool, and the
//! first insert attempt (with the usual backoff) runs the healthcheck, creates the database and
//! applies migrations ([`crate::prepare`]); only then is the tier known and the spool replayed. So a
//! collector that comes up before its database loses nothing.
//!
//! # Flush and shutdown
//!
//! `flush` seals every open batch and then drains the spool for up to `flush_timeout_ms`; what the
//! server could not take by then stays in the spool (on disk, replayed at the next start) and
//! `flush` still returns `Ok`. It returns the error only in the failed state. `close` flushes and
//! ends the task.
//!
//! # Spool payload
//!
//! `[u8 version = 1][u8 table: 1 flows, 2 window_top, 3 window_totals, 4 interface_counters]`
//! `[u64 LE instance]`
//! `[u64 LE sequence][u32 LE rows][RowBinary rows, columns as in crate::rows]`.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use aggregator::{Output, Sink, SinkError};
use bytes::Bytes;
use clickhouse::Client;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::config::{SpoolFullPolicy, ValidatedClickhouseConfig};
use crate::connection::{self, Retry, Tier};
use crate::rows;
use crate::spool::{Spool, SpoolCounters, SpoolError};

/// Payload version 2 adds the time range of the rows (for the 18.16 stored-already check) and a
/// `batch_id` column at the end of every row; version 1 records (from an older spool) are still
/// inserted, without that column. Version 3 adds the enrichment columns of `flows` and the
/// `label` of `window_top` after `batch_id`; version 2 records are inserted without them.
/// Version 4 adds the sFlow columns of `flows` (`frame_bytes`, `discard_reason`) and the
/// `interface_counters` table.
const PAYLOAD_VERSION: u8 = 4;
/// Tables a writer batches for (one [`Batcher`] each, indexed by table code less one).
const TABLES: usize = 4;
const HEADER_LEN_V1: usize = 1 + 1 + 8 + 8 + 4;
const HEADER_LEN: usize = HEADER_LEN_V1 + 4 + 4;
/// After this many batches in a row refused for good, the writer stops dead-lettering: the schema
/// is broken, not the batches. It keeps them in the spool and probes the server until it takes one.
const DEAD_LETTER_STREAK: u32 = 3;
/// A batch is sealed at this many bytes even below `batch_rows` (keeps spool records bounded).
const MAX_BATCH_BYTES: usize = 64 << 20;

/// The tables the writer fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Table {
    /// `flows`.
    Flows,
    /// `window_top`.
    WindowTop,
    /// `window_totals`.
    WindowTotals,
    /// `interface_counters` (sFlow counter samples).
    InterfaceCounters,
}

impl Table {
    fn code(self) -> u8 {
        match self {
            Table::Flows => 1,
            Table::WindowTop => 2,
            Table::WindowTotals => 3,
            Table::InterfaceCounters => 4,
        }
    }
    fn from_code(c: u8) -> Option<Table> {
        match c {
            1 => Some(Table::Flows),
            2 => Some(Table::WindowTop),
            3 => Some(Table::WindowTotals),
            4 => Some(Table::InterfaceCounters),
            _ => None,
        }
    }
    /// Table name.
    pub fn name(self) -> &'static str {
        match self {
            Table::Flows => "flows",
            Table::WindowTop => "window_top",
            Table::WindowTotals => "window_totals",
            Table::InterfaceCounters => "interface_counters",
        }
    }
    /// How many leading columns a payload of `version` has: version 1 had no `batch_id`,
    /// version 2 none of the enrichment columns (`flows`) or `label` (`window_top`), version 3
    /// none of the sFlow columns of `flows`.
    fn column_count(self, version: u8) -> usize {
        let (v2, v3, all) = match self {
            Table::Flows => (
                rows::FLOWS_V2_COLUMNS,
                rows::FLOWS_V3_COLUMNS,
                rows::FLOWS_COLUMNS.len(),
            ),
            Table::WindowTop => {
                let all = rows::WINDOW_TOP_COLUMNS.len();
                (rows::WINDOW_TOP_V2_COLUMNS, all, all)
            }
            Table::WindowTotals => {
                let all = rows::WINDOW_TOTALS_COLUMNS.len();
                (all, all, all)
            }
            Table::InterfaceCounters => {
                let all = rows::INTERFACE_COUNTERS_COLUMNS.len();
                (all, all, all)
            }
        };
        match version {
            1 => v2 - 1,
            2 => v2,
            3 => v3,
            _ => all,
        }
    }
    /// Columns of a payload of `version`.
    fn columns(self, version: u8) -> &'static [&'static str] {
        let all = match self {
            Table::Flows => rows::FLOWS_COLUMNS,
            Table::WindowTop => rows::WINDOW_TOP_COLUMNS,
            Table::WindowTotals => rows::WINDOW_TOTALS_COLUMNS,
            Table::InterfaceCounters => rows::INTERFACE_COUNTERS_COLUMNS,
        };
        &all[..self.column_count(version)]
    }
    fn types(self, version: u8) -> &'static [rows::Ty] {
        let all = match self {
            Table::Flows => rows::FLOWS_TYPES,
            Table::WindowTop => rows::WINDOW_TOP_TYPES,
            Table::WindowTotals => rows::WINDOW_TOTALS_TYPES,
            Table::InterfaceCounters => rows::INTERFACE_COUNTERS_TYPES,
        };
        &all[..self.column_count(version)]
    }
    /// The time column a batch's range is on.
    fn time_column(self) -> &'static str {
        match self {
            Table::Flows | Table::InterfaceCounters => "time_received",
            Table::WindowTop | Table::WindowTotals => "window_start",
        }
    }
    /// The statement the writer inserts this table's batches with (the column list of
    /// [`batch_body`]'s rows).
    pub fn insert_statement(self) -> String {
        self.insert_sql(PAYLOAD_VERSION)
    }
    fn insert_sql(self, version: u8) -> String {
        format!(
            "INSERT INTO {} ({}) FORMAT RowBinary",
            self.name(),
            self.columns(version).join(", ")
        )
    }
}

/// A snapshot of the writer's counters (the binary exports them as metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Rows the server acknowledged.
    pub rows_written: u64,
    /// Insert requests the server acknowledged.
    pub batches_written: u64,
    /// Failed insert attempts that will be retried.
    pub retryable_errors: u64,
    /// Failed insert attempts that can never succeed.
    pub permanent_errors: u64,
    /// Latency of the last successful insert, microseconds.
    pub last_insert_latency_us: u64,
    /// Sum of successful insert latencies, microseconds (divide by `batches_written`).
    pub insert_latency_us_total: u64,
    /// Rows written to the spool.
    pub rows_spooled: u64,
    /// Bytes in the spool on disk.
    pub spool_bytes: u64,
    /// Batches waiting in the spool.
    pub spool_batches: u64,
    /// Batches dropped because the spool was full (`drop_newest`) or failed.
    pub dropped_batches: u64,
    /// Rows in those batches.
    pub dropped_rows: u64,
    /// Torn spool tails found (truncated) since start.
    pub spool_torn_tails: u64,
    /// Corrupt spool records skipped since start.
    pub spool_corrupt_records: u64,
    /// Spool bytes thrown away (torn tails truncated, corrupt records skipped) since start.
    pub spool_bytes_discarded: u64,
    /// Times the spool's ledger was missing or damaged and replay restarted at the oldest segment
    /// (replays already inserted batches) since start.
    pub spool_ledger_resets: u64,
    /// 1 while ClickHouse refuses every insert for good (schema broken): batches are spooled and
    /// the head is tried again until the table is fixed.
    pub failed: u64,
    /// Batches refused for good and moved to the dead-letter directory.
    pub dead_letter_batches: u64,
    /// Rows in those batches.
    pub dead_letter_rows: u64,
    /// Spooled batches found stored already on 18.16 (a lost reply) and not sent again.
    pub already_stored_batches: u64,
}

impl WriterStats {
    /// The sum of two writers' counters (`failed` is 1 when either is failed).
    pub fn plus(&self, o: &WriterStats) -> WriterStats {
        WriterStats {
            rows_written: self.rows_written + o.rows_written,
            batches_written: self.batches_written + o.batches_written,
            retryable_errors: self.retryable_errors + o.retryable_errors,
            permanent_errors: self.permanent_errors + o.permanent_errors,
            last_insert_latency_us: self.last_insert_latency_us.max(o.last_insert_latency_us),
            insert_latency_us_total: self.insert_latency_us_total + o.insert_latency_us_total,
            rows_spooled: self.rows_spooled + o.rows_spooled,
            spool_bytes: self.spool_bytes + o.spool_bytes,
            spool_batches: self.spool_batches + o.spool_batches,
            dropped_batches: self.dropped_batches + o.dropped_batches,
            dropped_rows: self.dropped_rows + o.dropped_rows,
            spool_torn_tails: self.spool_torn_tails + o.spool_torn_tails,
            spool_corrupt_records: self.spool_corrupt_records + o.spool_corrupt_records,
            spool_bytes_discarded: self.spool_bytes_discarded + o.spool_bytes_discarded,
            spool_ledger_resets: self.spool_ledger_resets + o.spool_ledger_resets,
            failed: self.failed.max(o.failed),
            dead_letter_batches: self.dead_letter_batches + o.dead_letter_batches,
            dead_letter_rows: self.dead_letter_rows + o.dead_letter_rows,
            already_stored_batches: self.already_stored_batches + o.already_stored_batches,
        }
    }
}

#[derive(Default)]
struct Counters {
    rows_written: AtomicU64,
    batches_written: AtomicU64,
    retryable_errors: AtomicU64,
    permanent_errors: AtomicU64,
    last_insert_latency_us: AtomicU64,
    insert_latency_us_total: AtomicU64,
    rows_spooled: AtomicU64,
    spool_bytes: AtomicU64,
    spool_batches: AtomicU64,
    dropped_batches: AtomicU64,
    dropped_rows: AtomicU64,
    spool_torn_tails: AtomicU64,
    spool_corrupt_records: AtomicU64,
    dead_letter_batches: AtomicU64,
    dead_letter_rows: AtomicU64,
    already_stored_batches: AtomicU64,
    spool_bytes_discarded: AtomicU64,
    spool_ledger_resets: AtomicU64,
}

struct Shared {
    c: Counters,
    failed: Mutex<Option<String>>,
    /// The enrichment registry the records' ids refer to (unset: enrichment columns are empty).
    names: std::sync::OnceLock<Arc<enrich::Registry>>,
}

impl Shared {
    fn failed(&self) -> Option<String> {
        self.failed.lock().map(|g| g.clone()).unwrap_or(None)
    }
}

/// Writer failure at start.
#[derive(Debug, thiserror::Error)]
pub enum WriterError {
    /// Connecting or the healthcheck failed.
    #[error(transparent)]
    Connect(#[from] connection::ConnectError),
    /// The spool could not be opened.
    #[error("opening spool: {0}")]
    Spool(#[from] SpoolError),
}

enum Cmd {
    Data(Output),
    Flush(oneshot::Sender<Result<(), String>>),
}

/// The ClickHouse sink. Cheap to `send` into; the work happens in a background task.
pub struct ClickhouseWriter {
    tx: Option<mpsc::Sender<Cmd>>,
    shared: Arc<Shared>,
    task: Option<JoinHandle<()>>,
    sweeper: Option<JoinHandle<()>>,
    tier: Option<Tier>,
}

impl Drop for ClickhouseWriter {
    fn drop(&mut self) {
        if let Some(s) = self.sweeper.take() {
            s.abort();
        }
    }
}

/// The legacy tier's stand-in for TTL: drop expired partitions now and every `every`.
async fn retention_sweeper(
    client: Client,
    database: String,
    retention: crate::config::RetentionConfig,
    every: Duration,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        match crate::migrations::drop_expired_partitions(&client, &database, &retention, now).await
        {
            Ok(d) if !d.is_empty() => tracing::info!(partitions = d.len(), "retention sweep"),
            Ok(_) => {}
            Err(e) => tracing::warn!("retention sweep failed (will retry): {e}"),
        }
    }
}

impl ClickhouseWriter {
    /// Build a client from the config, run the healthcheck (which picks the tier) and start.
    pub async fn connect(cfg: &ValidatedClickhouseConfig) -> Result<ClickhouseWriter, WriterError> {
        let client = connection::build_client(cfg)?;
        let (version, tier) = connection::healthcheck(&client)
            .await
            .map_err(|e| match e {
                connection::ConnectError::Unreachable { source, .. } => {
                    connection::ConnectError::Unreachable {
                        url: cfg.url.clone(),
                        source,
                    }
                }
                other => other,
            })?;
        tracing::info!(%version, %tier, url = %cfg.url, "clickhouse healthcheck ok");
        Self::start(cfg, client, tier)
    }

    /// Start with a known tier and client (no healthcheck). Opens (and recovers) the spool; must be
    /// called inside a tokio runtime. On the legacy tier it also starts the retention sweep
    /// (`retention_sweep_secs`), which drops partitions past retention since 18.16 has no TTL.
    pub fn start(
        cfg: &ValidatedClickhouseConfig,
        client: Client,
        tier: Tier,
    ) -> Result<ClickhouseWriter, WriterError> {
        Self::start_inner(cfg, client, Some(tier))
    }

    /// Start before the server is reachable: rows go to the spool until an insert attempt finds the
    /// server, prepares it ([`crate::prepare`]: database and migrations) and learns its tier. Must
    /// be called inside a tokio runtime.
    pub fn start_deferred(
        cfg: &ValidatedClickhouseConfig,
    ) -> Result<ClickhouseWriter, WriterError> {
        let client = connection::build_client(cfg)?;
        Self::start_inner(cfg, client, None)
    }

    fn start_inner(
        cfg: &ValidatedClickhouseConfig,
        client: Client,
        tier: Option<Tier>,
    ) -> Result<ClickhouseWriter, WriterError> {
        let spool = Spool::open_with(&cfg.spool_dir, cfg.spool_max_bytes, cfg.spool_fsync)?;
        let shared = Arc::new(Shared {
            c: Counters::default(),
            failed: Mutex::new(None),
            names: std::sync::OnceLock::new(),
        });
        if !spool.is_empty() {
            tracing::info!(
                batches = spool.len(),
                bytes = spool.disk_bytes(),
                "spool holds batches from before; replaying"
            );
        }
        let (tx, rx) = mpsc::channel(cfg.channel_batches);
        let now = Instant::now();
        let svc = Service {
            client,
            tier,
            cfg: cfg.clone(),
            spool: SpoolHandle(Arc::new(Mutex::new(spool))),
            inflight: JoinSet::new(),
            inflight_batches: BTreeMap::new(),
            inflight_ids: HashMap::new(),
            dispatched: 0,
            batchers: [
                Batcher::new(Table::Flows),
                Batcher::new(Table::WindowTop),
                Batcher::new(Table::WindowTotals),
                Batcher::new(Table::InterfaceCounters),
            ],
            shared: shared.clone(),
            attempt: 0,
            next_attempt: now,
            blocked: VecDeque::new(),
            sweeper: None,
            instance: fastrand::u64(..),
            seq: 0,
            dead: crate::deadletter::DeadLetters::new(&cfg.spool_dir, cfg.dead_letter_max_bytes),
            never_streak: [0; TABLES],
        };
        svc.publish_spool();
        let sweeper = tier.and_then(|t| svc.sweeper_for(t));
        let task = tokio::spawn(svc.run(rx));
        Ok(ClickhouseWriter {
            tx: Some(tx),
            shared,
            task: Some(task),
            sweeper,
            tier,
        })
    }

    /// Resolve the enrichment ids of the records with `registry` (the enrich stage's). Without
    /// it, the enrichment columns are written empty. Set once; a second call changes nothing.
    pub fn set_enrichment(&self, registry: Arc<enrich::Registry>) {
        let _ = self.shared.names.set(registry);
    }

    /// The tier the writer runs in; `None` for a deferred start (the service learns it later).
    pub fn tier(&self) -> Option<Tier> {
        self.tier
    }

    /// Current counters.
    pub fn stats(&self) -> WriterStats {
        self.stats_handle().snapshot()
    }

    /// A handle that reads the counters after the writer has been moved into the pipeline.
    pub fn stats_handle(&self) -> WriterStatsHandle {
        WriterStatsHandle {
            shared: self.shared.clone(),
        }
    }
}

/// Reads a writer's counters from anywhere (e.g. the metrics exporter); cheap to clone.
#[derive(Clone)]
pub struct WriterStatsHandle {
    shared: Arc<Shared>,
}

impl WriterStatsHandle {
    /// Current counters.
    pub fn snapshot(&self) -> WriterStats {
        let c = &self.shared.c;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WriterStats {
            rows_written: l(&c.rows_written),
            batches_written: l(&c.batches_written),
            retryable_errors: l(&c.retryable_errors),
            permanent_errors: l(&c.permanent_errors),
            last_insert_latency_us: l(&c.last_insert_latency_us),
            insert_latency_us_total: l(&c.insert_latency_us_total),
            rows_spooled: l(&c.rows_spooled),
            spool_bytes: l(&c.spool_bytes),
            spool_batches: l(&c.spool_batches),
            dropped_batches: l(&c.dropped_batches),
            dropped_rows: l(&c.dropped_rows),
            spool_torn_tails: l(&c.spool_torn_tails),
            spool_corrupt_records: l(&c.spool_corrupt_records),
            spool_bytes_discarded: l(&c.spool_bytes_discarded),
            spool_ledger_resets: l(&c.spool_ledger_resets),
            failed: u64::from(self.shared.failed().is_some()),
            dead_letter_batches: l(&c.dead_letter_batches),
            dead_letter_rows: l(&c.dead_letter_rows),
            already_stored_batches: l(&c.already_stored_batches),
        }
    }
}

impl ClickhouseWriter {
    /// Flush, then stop the task. Batches the server could not take stay in the spool.
    pub async fn close(mut self) -> Result<(), SinkError> {
        let r = self.flush().await;
        self.tx = None;
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        r
    }

    /// Why the writer is unhealthy (ClickHouse refuses every insert for good), if it is.
    pub fn unhealthy(&self) -> Option<String> {
        self.shared.failed()
    }
}

impl Sink for ClickhouseWriter {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        let tx = self
            .tx
            .as_ref()
            .ok_or(SinkError::Closed("clickhouse writer closed"))?;
        tx.send(Cmd::Data(batch))
            .await
            .map_err(|_| SinkError::Closed("clickhouse writer task ended"))?;
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        let tx = self
            .tx
            .as_ref()
            .ok_or(SinkError::Closed("clickhouse writer closed"))?;
        let (rtx, rrx) = oneshot::channel();
        tx.send(Cmd::Flush(rtx))
            .await
            .map_err(|_| SinkError::Closed("clickhouse writer task ended"))?;
        match rrx.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(msg)) => Err(SinkError::Other(msg)),
            Err(_) => Err(SinkError::Closed("clickhouse writer task ended")),
        }
    }
}

/// Rows of one table being collected into one batch.
struct Batcher {
    table: Table,
    buf: Vec<u8>,
    rows: u32,
    opened: Option<Instant>,
    /// The batch's sequence number, given when its first row arrives.
    seq: u64,
    /// Time range of the rows (Unix seconds of the table's time column).
    min_ts: u32,
    max_ts: u32,
}

impl Batcher {
    fn new(table: Table) -> Batcher {
        Batcher {
            table,
            buf: vec![0; HEADER_LEN],
            rows: 0,
            opened: None,
            seq: 0,
            min_ts: u32::MAX,
            max_ts: 0,
        }
    }

    fn note_row(&mut self, now: Instant, ts: u32) {
        self.rows += 1;
        self.min_ts = self.min_ts.min(ts);
        self.max_ts = self.max_ts.max(ts);
        if self.opened.is_none() {
            self.opened = Some(now);
        }
    }

    fn full(&self, max_rows: usize) -> bool {
        self.rows as usize >= max_rows || self.buf.len() >= MAX_BATCH_BYTES
    }

    fn due(&self, max_age: Duration, now: Instant) -> bool {
        self.opened
            .is_some_and(|t| now.duration_since(t) >= max_age)
    }

    /// Take the batch as a spool payload (header filled in), leaving an empty batcher.
    fn seal(&mut self, instance: u64) -> Option<(Vec<u8>, u32)> {
        if self.rows == 0 {
            return None;
        }
        let mut p = std::mem::replace(&mut self.buf, vec![0; HEADER_LEN]);
        p[0] = PAYLOAD_VERSION;
        p[1] = self.table.code();
        p[2..10].copy_from_slice(&instance.to_le_bytes());
        p[10..18].copy_from_slice(&self.seq.to_le_bytes());
        p[18..22].copy_from_slice(&self.rows.to_le_bytes());
        p[22..26].copy_from_slice(&self.min_ts.to_le_bytes());
        p[26..30].copy_from_slice(&self.max_ts.to_le_bytes());
        let rows = self.rows;
        self.rows = 0;
        self.opened = None;
        self.min_ts = u32::MAX;
        self.max_ts = 0;
        Some((p, rows))
    }
}

/// Parsed payload header.
pub(crate) struct Header {
    pub(crate) version: u8,
    pub(crate) table: Table,
    pub(crate) token: String,
    /// The value of the rows' `batch_id` column (version 2).
    pub(crate) batch_id: u64,
    pub(crate) rows: u32,
    /// Time range of the rows (version 2).
    pub(crate) range: Option<(u32, u32)>,
    /// Where the RowBinary rows start.
    pub(crate) body: usize,
}

/// The per-table slot of a payload (its table code, 1 to 4, less one).
fn table_slot(payload: &[u8]) -> usize {
    payload
        .get(1)
        .map_or(0, |c| usize::from(c.saturating_sub(1)).min(TABLES - 1))
}

/// The `batch_id` of the rows of batch `seq` of writer `instance`.
fn batch_id(instance: u64, seq: u64) -> u64 {
    instance.wrapping_add(seq)
}

pub(crate) fn parse_header(p: &[u8]) -> Option<Header> {
    let version = *p.first()?;
    let body = match version {
        1 => HEADER_LEN_V1,
        2..=4 => HEADER_LEN,
        _ => return None,
    };
    if p.len() < body {
        return None;
    }
    let table = Table::from_code(p[1])?;
    let instance = u64::from_le_bytes(p[2..10].try_into().ok()?);
    let seq = u64::from_le_bytes(p[10..18].try_into().ok()?);
    let rows = u32::from_le_bytes(p[18..22].try_into().ok()?);
    let range = if version >= 2 {
        Some((
            u32::from_le_bytes(p[22..26].try_into().ok()?),
            u32::from_le_bytes(p[26..30].try_into().ok()?),
        ))
    } else {
        None
    };
    Some(Header {
        version,
        table,
        token: format!("sluice-{instance:016x}-{seq}"),
        batch_id: batch_id(instance, seq),
        rows,
        range,
        body,
    })
}

impl Header {
    /// The rows as text under a header of column names (for a dead letter).
    pub(crate) fn render(&self, payload: &[u8]) -> String {
        crate::deadletter::render(
            self.table.columns(self.version),
            self.table.types(self.version),
            payload.get(self.body..).unwrap_or_default(),
            self.rows,
        )
    }
}

enum InsertError {
    Retry(String),
    Never(String),
}

/// The writer's spool, shared with the blocking threads its file I/O runs on.
///
/// Append (with its fsync), peek, acknowledge and the interval fsync run on tokio's blocking pool
/// (`spawn_blocking`), not on the async workers. The service awaits each operation before it starts
/// the next one, so operations happen in the same order as when they ran inline, and the on-disk
/// format is the spool's own. The mutex is never contended: only the service uses the spool, one
/// operation at a time; the in-memory reads (`len`, `disk_bytes`, `fits`...) lock it briefly from
/// the async side.
#[derive(Clone)]
struct SpoolHandle(Arc<Mutex<Spool>>);

impl SpoolHandle {
    fn lock(&self) -> MutexGuard<'_, Spool> {
        // A panic inside a spool operation leaves the spool as the operation left it, which the
        // spool's own recovery rules cover; keep using it rather than dropping every later batch.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }
    fn len(&self) -> u64 {
        self.lock().len()
    }
    fn max_bytes(&self) -> u64 {
        self.lock().max_bytes()
    }
    fn fits(&self, len: usize) -> bool {
        self.lock().fits(len)
    }
    /// (disk bytes, records, counters) in one lock.
    fn snapshot(&self) -> (u64, u64, SpoolCounters) {
        let s = self.lock();
        (s.disk_bytes(), s.len(), s.counters())
    }
    /// Run `f` on the blocking pool and wait for it.
    async fn io<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Spool) -> Result<T, SpoolError> + Send + 'static,
    ) -> Result<T, SpoolError> {
        let s = self.0.clone();
        tokio::task::spawn_blocking(move || {
            f(&mut s.lock().unwrap_or_else(PoisonError::into_inner))
        })
        .await
        .unwrap_or_else(|e| {
            Err(SpoolError::Io(std::io::Error::other(format!(
                "spool operation did not complete: {e}"
            ))))
        })
    }
    async fn append(&self, payload: Bytes) -> Result<(), SpoolError> {
        self.io(move |s| s.append(&payload)).await
    }
    async fn peek(&self) -> Result<Option<Bytes>, SpoolError> {
        self.io(|s| Ok(s.peek()?.map(Bytes::copy_from_slice))).await
    }
    async fn ack(&self) -> Result<(), SpoolError> {
        self.io(|s| s.ack()).await
    }
    async fn sync_if_due(&self) -> Result<(), SpoolError> {
        if !self.lock().sync_due() {
            return Ok(());
        }
        self.io(|s| s.sync_if_due()).await
    }
}

/// The outcome of an insert that ran in its own task.
struct Done {
    /// The batch's dispatch number (the order it was sealed in).
    no: u64,
    result: Result<(), InsertError>,
    latency_us: u64,
}

struct Service {
    client: Client,
    /// `None` until a deferred start has prepared the server.
    tier: Option<Tier>,
    /// The legacy retention sweep started after a deferred start.
    sweeper: Option<JoinHandle<()>>,
    cfg: ValidatedClickhouseConfig,
    spool: SpoolHandle,
    /// Inserts running in their own tasks: at most `max_concurrent_inserts`, and only while the
    /// spool and `blocked` are empty (a batch enters the spool only once none runs).
    inflight: JoinSet<Done>,
    /// The batches of those inserts by dispatch number, kept to spool or dead-letter one whose
    /// insert fails.
    inflight_batches: BTreeMap<u64, (Bytes, u32)>,
    /// The dispatch number of each insert task.
    inflight_ids: HashMap<tokio::task::Id, u64>,
    /// Batches handed to an insert task so far (numbers them).
    dispatched: u64,
    batchers: [Batcher; TABLES],
    shared: Arc<Shared>,
    /// Consecutive failed attempts (drives the backoff).
    attempt: u32,
    /// No insert is tried before this.
    next_attempt: Instant,
    /// Block policy: sealed batches waiting for spool space, in order; intake stops meanwhile
    /// (at most one `Output`'s worth of batches).
    blocked: VecDeque<(Bytes, u32)>,
    instance: u64,
    seq: u64,
    /// Where batches the server refuses for good go.
    dead: crate::deadletter::DeadLetters,
    /// Batches refused for good in a row, per table (past [`DEAD_LETTER_STREAK`]: that table is
    /// broken; unhealthy, spool them). Per table, so that a broken table next to a working one is
    /// still found out.
    never_streak: [u32; TABLES],
}

impl Service {
    /// The legacy tier's retention sweep, when configured.
    fn sweeper_for(&self, tier: Tier) -> Option<JoinHandle<()>> {
        match (tier, self.cfg.retention_sweep) {
            (Tier::Legacy, Some(every)) => Some(tokio::spawn(retention_sweeper(
                self.client.clone(),
                self.cfg.database.clone(),
                self.cfg.retention,
                every,
            ))),
            _ => None,
        }
    }

    /// After a deferred start: healthcheck, database, migrations; then the tier is known.
    async fn ensure_prepared(&mut self) -> Result<Tier, InsertError> {
        if let Some(t) = self.tier {
            return Ok(t);
        }
        match crate::migrations::prepare(&self.cfg).await {
            Ok(p) => {
                tracing::info!(version = %p.version, tier = %p.tier, migrations_applied = ?p.applied,
                    "clickhouse reachable: schema ready, replaying the spool");
                self.client = p.client;
                self.tier = Some(p.tier);
                self.sweeper = self.sweeper_for(p.tier);
                Ok(p.tier)
            }
            Err(e) => Err(InsertError::Retry(format!("clickhouse not ready: {e}"))),
        }
    }

    async fn run(mut self, mut rx: mpsc::Receiver<Cmd>) {
        self.serve(&mut rx).await;
        if let Some(s) = self.sweeper.take() {
            s.abort();
        }
        // Closing the spool may fsync (interval policy): that too off the async workers. Awaited,
        // so that the spool's lock is released when `close` returns.
        let spool = self.spool.clone();
        drop(self);
        let _ = tokio::task::spawn_blocking(move || drop(spool)).await;
    }

    async fn serve(&mut self, rx: &mut mpsc::Receiver<Cmd>) {
        loop {
            let now = Instant::now();
            let deadline = self.deadline(now);
            let accept = self.blocked.is_empty();
            let running = !self.inflight.is_empty();
            tokio::select! {
                cmd = rx.recv(), if accept => match cmd {
                    Some(Cmd::Data(out)) => self.ingest(out).await,
                    Some(Cmd::Flush(reply)) => {
                        let r = self.flush().await;
                        let _ = reply.send(r);
                    }
                    None => {
                        if let Err(e) = self.flush().await {
                            tracing::error!("clickhouse writer stopping with data in the spool: {e}");
                        }
                        return;
                    }
                },
                Some(r) = self.inflight.join_next_with_id(), if running => {
                    let d = self.done_of(r);
                    self.finish(d).await;
                }
                _ = tokio::time::sleep_until(deadline) => self.tick().await,
            }
        }
    }

    fn failed(&self) -> bool {
        self.shared
            .failed
            .lock()
            .map(|g| g.is_some())
            .unwrap_or(false)
    }

    /// When the loop must wake up without input.
    fn deadline(&self, now: Instant) -> Instant {
        let mut d = now + Duration::from_secs(3600);
        for b in &self.batchers {
            if let Some(t) = b.opened {
                d = d.min(t + self.cfg.batch_age);
            }
        }
        if !self.spool.is_empty() || !self.blocked.is_empty() {
            d = d.min(self.next_attempt.max(now));
        }
        d
    }

    async fn tick(&mut self) {
        let now = Instant::now();
        for i in 0..self.batchers.len() {
            if self.batchers[i].due(self.cfg.batch_age, now) {
                self.seal_and_dispatch(i).await;
            }
        }
        if (!self.spool.is_empty() || !self.blocked.is_empty())
            && Instant::now() >= self.next_attempt
        {
            self.replay_one().await;
        }
        // spool_fsync = "interval": what was spooled since the last fsync reaches the disk by the
        // next tick (ticks come at least every retry_max while the spool holds batches).
        if let Err(e) = self.spool.sync_if_due().await {
            tracing::error!("spool fsync: {e}");
        }
    }

    async fn ingest(&mut self, out: Output) {
        let now = Instant::now();
        // What the enrichment ids of this output resolve with (once per output, not per row).
        let registry = self.shared.names.get().cloned();
        let tables = registry.as_ref().map(|r| r.tables());
        let names = registry
            .as_deref()
            .zip(tables.as_deref())
            .map(|(registry, tables)| rows::EnrichNames { registry, tables });
        match out {
            Output::Flows(recs) => {
                for r in recs.iter() {
                    let id = self.row_start(0);
                    let b = &mut self.batchers[0];
                    rows::encode_flow_row(&mut b.buf, r, id, names.as_ref());
                    b.note_row(now, rows::ms_to_datetime(r.time_received));
                    if b.full(self.cfg.batch_rows) {
                        self.seal_and_dispatch(0).await;
                    }
                }
            }
            Output::Windows { top, totals } => {
                for r in &top {
                    let id = self.row_start(1);
                    let b = &mut self.batchers[1];
                    rows::encode_window_top(&mut b.buf, r);
                    rows::encode_batch_id(&mut b.buf, id);
                    rows::encode_window_top_label(&mut b.buf, r, names.as_ref());
                    b.note_row(now, rows::ms_to_datetime(r.window_start));
                    if b.full(self.cfg.batch_rows) {
                        self.seal_and_dispatch(1).await;
                    }
                }
                for r in &totals {
                    let id = self.row_start(2);
                    let b = &mut self.batchers[2];
                    rows::encode_window_totals(&mut b.buf, r);
                    rows::encode_batch_id(&mut b.buf, id);
                    b.note_row(now, rows::ms_to_datetime(r.window_start));
                    if b.full(self.cfg.batch_rows) {
                        self.seal_and_dispatch(2).await;
                    }
                }
            }
            Output::Counters(counters) => {
                for c in &counters {
                    let id = self.row_start(3);
                    let b = &mut self.batchers[3];
                    rows::encode_interface_counters(&mut b.buf, c);
                    rows::encode_batch_id(&mut b.buf, id);
                    b.note_row(now, rows::ms_to_datetime(c.time_received));
                    if b.full(self.cfg.batch_rows) {
                        self.seal_and_dispatch(3).await;
                    }
                }
            }
        }
    }

    /// The batch id of the next row of batcher `i`, opening a batch (a new sequence number) when
    /// it is empty.
    fn row_start(&mut self, i: usize) -> u64 {
        if self.batchers[i].rows == 0 {
            self.seq += 1;
            self.batchers[i].seq = self.seq;
        }
        batch_id(self.instance, self.batchers[i].seq)
    }

    async fn seal_and_dispatch(&mut self, i: usize) {
        let Some((payload, rows)) = self.batchers[i].seal(self.instance) else {
            return;
        };
        // Bytes: the insert body is a zero-copy slice of it.
        self.dispatch(Bytes::from(payload), rows).await;
    }

    /// Hand a sealed batch to an insert task, or to the spool.
    ///
    /// While the spool is empty (and nothing is blocked, nothing failed, no backoff runs) the batch
    /// gets its own insert task, and `ingest` goes on encoding meanwhile; when
    /// `max_concurrent_inserts` run already, this waits for one to finish first. Otherwise the
    /// batch goes to the spool, but only once every running insert has finished and been settled:
    /// a failed one is spooled first, so the spool keeps the order batches were sealed in.
    async fn dispatch(&mut self, payload: Bytes, rows: u32) {
        loop {
            let direct = !self.failed()
                && self.spool.is_empty()
                && self.blocked.is_empty()
                && Instant::now() >= self.next_attempt;
            if !direct {
                if !self.inflight.is_empty() {
                    self.settle_all().await;
                    continue;
                }
                self.spool_batch(payload, rows).await;
                return;
            }
            let tier = match self.ensure_prepared().await {
                Ok(t) => t,
                Err(e) => {
                    // Backoff set: the next round spools the batch.
                    self.on_failure(e);
                    continue;
                }
            };
            if self.inflight.len() >= self.insert_limit(tier) {
                if let Some(d) = self.next_done().await {
                    self.finish(d).await;
                }
                continue;
            }
            let Some(h) = parse_header(&payload) else {
                // Cannot happen for a batch sealed here; handled like a batch refused for good.
                if !self.inflight.is_empty() {
                    self.settle_all().await;
                    continue;
                }
                let msg = "sealed batch with an unknown payload header";
                if !self.dead_letter(&payload, msg).await {
                    self.spool_batch(payload, rows).await;
                }
                return;
            };
            self.spawn_insert(tier, h, payload, rows);
            return;
        }
    }

    /// How many inserts may run at once: `max_concurrent_inserts`, but one on the legacy tier.
    ///
    /// On 18.16 an insert cut short (server killed) can leave a batch in `flows` without its rollup
    /// rows; the stored-already check repairs that by attributing a difference between `flows` and
    /// a rollup to the one batch it checks ([`repair_rollups`]), which only holds while a single
    /// insert can be cut short at a time.
    fn insert_limit(&self, tier: Tier) -> usize {
        match tier {
            Tier::Legacy => 1,
            Tier::Modern => self.cfg.max_concurrent_inserts,
        }
    }

    /// Start the insert of a batch in its own task.
    fn spawn_insert(&mut self, tier: Tier, h: Header, payload: Bytes, rows: u32) {
        self.dispatched += 1;
        let no = self.dispatched;
        let client = self.client.clone();
        let timeout = self.cfg.request_timeout;
        let body = payload.clone();
        let task = self.inflight.spawn(async move {
            let started = std::time::Instant::now();
            let result = send_batch(&client, tier, timeout, &h, &body).await;
            Done {
                no,
                result,
                latency_us: started.elapsed().as_micros() as u64,
            }
        });
        self.inflight_ids.insert(task.id(), no);
        self.inflight_batches.insert(no, (payload, rows));
    }

    /// The next insert task to finish; None when none runs.
    async fn next_done(&mut self) -> Option<Done> {
        let r = self.inflight.join_next_with_id().await?;
        Some(self.done_of(r))
    }

    fn done_of(&mut self, r: Result<(tokio::task::Id, Done), JoinError>) -> Done {
        match r {
            Ok((id, d)) => {
                self.inflight_ids.remove(&id);
                d
            }
            // The task panicked or was cancelled: its batch was perhaps not stored. Retried from
            // the spool (on 18.16 after the stored-already check).
            Err(e) => Done {
                no: self.inflight_ids.remove(&e.id()).unwrap_or(0),
                result: Err(InsertError::Retry(format!("insert task failed: {e}"))),
                latency_us: 0,
            },
        }
    }

    /// Settle a finished insert. When it failed, every other running insert is awaited first, so
    /// that the failed batches reach the spool in the order they were sealed.
    async fn finish(&mut self, first: Done) {
        let mut done = vec![first];
        if done[0].result.is_err() {
            while let Some(d) = self.next_done().await {
                done.push(d);
            }
        }
        self.settle(done).await;
    }

    /// Wait for every running insert and settle them all.
    async fn settle_all(&mut self) {
        let mut done = Vec::new();
        while let Some(d) = self.next_done().await {
            done.push(d);
        }
        self.settle(done).await;
    }

    /// Settle finished inserts in the order their batches were sealed, as the one-at-a-time writer
    /// did: a success is counted (and resets the backoff and the refusal streak), a refusal for
    /// good is dead-lettered, anything else goes to the spool (only called for failures once no
    /// insert runs any more).
    async fn settle(&mut self, mut done: Vec<Done>) {
        done.sort_by_key(|d| d.no);
        for d in done {
            let Some((payload, rows)) = self.inflight_batches.remove(&d.no) else {
                tracing::error!(batch = d.no, "finished insert of an unknown batch");
                continue;
            };
            match d.result {
                Ok(()) => {
                    self.count_insert(rows, d.latency_us);
                    self.on_success(&payload);
                }
                Err(InsertError::Never(msg)) => {
                    if !self.dead_letter(&payload, &msg).await {
                        self.spool_batch(payload, rows).await;
                    }
                }
                Err(e) => {
                    self.on_failure(e);
                    self.spool_batch(payload, rows).await;
                }
            }
        }
    }

    fn count_insert(&self, rows: u32, us: u64) {
        let c = &self.shared.c;
        c.rows_written.fetch_add(u64::from(rows), Ordering::Relaxed);
        c.batches_written.fetch_add(1, Ordering::Relaxed);
        c.last_insert_latency_us.store(us, Ordering::Relaxed);
        c.insert_latency_us_total.fetch_add(us, Ordering::Relaxed);
    }

    /// A batch the server refused for good: into the dead-letter directory, unless refusals come in
    /// a streak (the schema is broken: then the writer turns unhealthy and keeps batches in the
    /// spool) or the directory is full. True when the batch is in the dead-letter directory.
    async fn dead_letter(&mut self, payload: &Bytes, msg: &str) -> bool {
        self.shared
            .c
            .permanent_errors
            .fetch_add(1, Ordering::Relaxed);
        let streak = &mut self.never_streak[table_slot(payload)];
        *streak = streak.saturating_add(1);
        if *streak > DEAD_LETTER_STREAK {
            self.on_failure(InsertError::Never(msg.to_string()));
            return false;
        }
        let Some(h) = parse_header(payload) else {
            self.on_failure(InsertError::Never(msg.to_string()));
            return false;
        };
        let stem = format!(
            "{}-{}-{}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis()),
            h.table.name(),
            h.token
        );
        let text = format!(
            "# {}\n# table {}, {} rows, batch {} (batch_id {})\n# re-drive with: sluice spool retry --config FILE\n{}",
            msg.replace('\n', " "),
            h.table.name(),
            h.rows,
            h.token,
            h.batch_id,
            h.render(payload)
        );
        // Written and fsynced on the blocking pool, like the spool's I/O.
        let dead = self.dead.clone();
        let p = payload.clone();
        let written = tokio::task::spawn_blocking(move || dead.write(&stem, &p, &text))
            .await
            .map_err(|e| format!("dead-letter task failed: {e}"))
            .and_then(|r| r.map_err(|e| e.to_string()));
        match written {
            Ok(d) => {
                let c = &self.shared.c;
                c.dead_letter_batches.fetch_add(1, Ordering::Relaxed);
                c.dead_letter_rows
                    .fetch_add(u64::from(h.rows), Ordering::Relaxed);
                tracing::error!(
                    table = h.table.name(),
                    rows = h.rows,
                    file = %d.payload.display(),
                    "clickhouse refused a batch for good; it is in the dead-letter directory \
                     (sluice spool retry re-drives it): {msg}"
                );
                true
            }
            Err(e) => {
                tracing::error!(
                    "cannot dead-letter the refused batch, keeping it in the spool: {e}"
                );
                self.on_failure(InsertError::Never(msg.to_string()));
                false
            }
        }
    }

    async fn spool_batch(&mut self, payload: Bytes, rows: u32) {
        debug_assert!(
            self.inflight.is_empty(),
            "a batch enters the spool only once no insert runs"
        );
        if !self.blocked.is_empty() {
            // Behind batches already waiting for space: keep the order.
            self.blocked.push_back((payload, rows));
            return;
        }
        self.append_or_apply_policy(payload, rows).await;
    }

    async fn append_or_apply_policy(&mut self, payload: Bytes, rows: u32) {
        if payload.len() as u64 + 8 > self.spool.max_bytes() {
            // Could never fit, even empty: blocking would stall forever. (validate() keeps the
            // bound far above a batch; this is the last line of defence.)
            tracing::error!(
                rows,
                bytes = payload.len(),
                "batch larger than the whole spool; dropping it"
            );
            self.count_drop(rows);
            return;
        }
        match self.spool.append(payload.clone()).await {
            Ok(()) => {
                self.shared
                    .c
                    .rows_spooled
                    .fetch_add(u64::from(rows), Ordering::Relaxed);
            }
            Err(SpoolError::Full { used, max }) => match self.cfg.spool_full_policy {
                SpoolFullPolicy::DropNewest => {
                    tracing::warn!(rows, used, max, "spool full: dropping the newest batch");
                    self.count_drop(rows);
                }
                SpoolFullPolicy::Block => {
                    tracing::warn!(
                        used,
                        max,
                        "spool full: blocking intake until replay frees space"
                    );
                    self.blocked.push_back((payload, rows));
                }
            },
            Err(e) => {
                tracing::error!(rows, "cannot spool batch, dropping it: {e}");
                self.count_drop(rows);
            }
        }
        self.publish_spool();
    }

    fn count_drop(&self, rows: u32) {
        self.shared
            .c
            .dropped_batches
            .fetch_add(1, Ordering::Relaxed);
        self.shared
            .c
            .dropped_rows
            .fetch_add(u64::from(rows), Ordering::Relaxed);
    }

    fn publish_spool(&self) {
        let c = &self.shared.c;
        let (bytes, batches, sc) = self.spool.snapshot();
        c.spool_bytes.store(bytes, Ordering::Relaxed);
        c.spool_batches.store(batches, Ordering::Relaxed);
        c.spool_torn_tails.store(sc.torn_tails, Ordering::Relaxed);
        c.spool_corrupt_records
            .store(sc.corrupt_records, Ordering::Relaxed);
        c.spool_bytes_discarded
            .store(sc.bytes_discarded, Ordering::Relaxed);
        c.spool_ledger_resets
            .store(sc.ledger_resets, Ordering::Relaxed);
    }

    fn on_success(&mut self, payload: &[u8]) {
        self.attempt = 0;
        self.next_attempt = Instant::now();
        self.never_streak[table_slot(payload)] = 0;
        let was = self.shared.failed.lock().ok().and_then(|mut g| g.take());
        if was.is_some() {
            tracing::info!("clickhouse takes inserts again: healthy, replaying the spool");
        }
    }

    fn on_failure(&mut self, e: InsertError) {
        match e {
            InsertError::Retry(msg) => {
                self.shared
                    .c
                    .retryable_errors
                    .fetch_add(1, Ordering::Relaxed);
                let delay = backoff(self.attempt, self.cfg.retry_initial, self.cfg.retry_max);
                self.attempt = self.attempt.saturating_add(1);
                self.next_attempt = Instant::now() + delay;
                tracing::warn!(
                    attempt = self.attempt,
                    retry_in_ms = delay.as_millis() as u64,
                    "clickhouse insert failed, will retry: {msg}"
                );
            }
            InsertError::Never(msg) => {
                // Unhealthy: every insert is refused for good (or the dead-letter directory is
                // full). Batches stay in the spool, in order; the head is tried again, slowly,
                // until the operator fixes the table.
                let delay = self.cfg.retry_max;
                self.next_attempt = Instant::now() + delay;
                let msg = format!(
                    "clickhouse refuses inserts with an error that retrying cannot fix; batches are \
                     kept in the spool ({}) and the head is tried again every {} s until the table \
                     is fixed: {msg}",
                    self.cfg.spool_dir.display(),
                    delay.as_secs_f64()
                );
                let first = self
                    .shared
                    .failed
                    .lock()
                    .map(|mut g| g.replace(msg.clone()).is_none())
                    .unwrap_or(true);
                if first {
                    tracing::error!("{msg}");
                } else {
                    tracing::debug!("{msg}");
                }
            }
        }
    }

    /// Insert the spool's head, if any; ack on success.
    async fn replay_one(&mut self) {
        debug_assert!(
            self.inflight.is_empty(),
            "no insert runs while the spool is replayed"
        );
        while let Some((payload, _)) = self.blocked.front() {
            if !self.spool.fits(payload.len()) {
                break;
            }
            if let Some((payload, rows)) = self.blocked.pop_front() {
                self.append_or_apply_policy(payload, rows).await;
            }
        }
        let head = match self.spool.peek().await {
            Ok(Some(p)) => p,
            Ok(None) => {
                self.publish_spool();
                return;
            }
            Err(e) => {
                tracing::error!("reading spool: {e}");
                self.on_failure(InsertError::Retry(e.to_string()));
                return;
            }
        };
        // On 18.16 a spooled batch may be stored already: its insert committed but the reply was
        // lost (or the process died before acknowledging it). Ask the server before sending it
        // again.
        let stored = match self.stored_already(&head).await {
            Ok(s) => s,
            Err(e) => {
                self.on_failure(e);
                self.publish_spool();
                return;
            }
        };
        let r = if stored {
            self.shared
                .c
                .already_stored_batches
                .fetch_add(1, Ordering::Relaxed);
            Ok(())
        } else {
            self.insert(&head).await
        };
        match r {
            Ok(()) => {
                if let Err(e) = self.spool.ack().await {
                    tracing::error!("acknowledging spool record: {e}");
                }
                self.on_success(&head);
            }
            Err(InsertError::Never(msg)) => {
                if self.dead_letter(&head, &msg).await {
                    if let Err(e) = self.spool.ack().await {
                        tracing::error!("acknowledging spool record: {e}");
                    }
                    // The next batch goes at once: only this one was refused.
                    self.next_attempt = Instant::now();
                }
            }
            Err(e) => self.on_failure(e),
        }
        self.publish_spool();
    }

    /// Legacy tier only: whether every row of this spooled batch is in its table already (its
    /// insert committed, the acknowledgement did not happen). Waits first for an insert of the
    /// same batch that may still run on the server. A batch is one insert block, so it is stored
    /// whole or not at all.
    async fn stored_already(&mut self, payload: &Bytes) -> Result<bool, InsertError> {
        let tier = self.ensure_prepared().await?;
        match parse_header(payload) {
            Some(h) if tier == Tier::Legacy => {
                batch_stored(&self.client, &h, self.cfg.request_timeout).await
            }
            _ => Ok(false),
        }
    }

    async fn insert(&mut self, payload: &Bytes) -> Result<(), InsertError> {
        let tier = self.ensure_prepared().await?;
        let Some(h) = parse_header(payload) else {
            return Err(InsertError::Never(
                "spool record with an unknown payload header".into(),
            ));
        };
        let started = std::time::Instant::now();
        send_batch(&self.client, tier, self.cfg.request_timeout, &h, payload).await?;
        self.count_insert(h.rows, started.elapsed().as_micros() as u64);
        Ok(())
    }

    /// Seal everything, wait for every running insert, then drain the spool for up to
    /// `flush_timeout`.
    async fn flush(&mut self) -> Result<(), String> {
        for i in 0..self.batchers.len() {
            self.seal_and_dispatch(i).await;
        }
        // Every insert still running is settled first: a success is counted, a failure goes to
        // the spool (in seal order) and is drained below like any spooled batch.
        self.settle_all().await;
        let until = Instant::now() + self.cfg.flush_timeout;
        while !self.spool.is_empty() || !self.blocked.is_empty() {
            if self.failed() {
                tracing::warn!(
                    batches = self.spool.len(),
                    "clickhouse refuses inserts for good; batches stay in the spool"
                );
                break;
            }
            let now = Instant::now();
            if now >= until {
                tracing::warn!(
                    batches = self.spool.len(),
                    "flush timed out; batches stay in the spool"
                );
                break;
            }
            if now < self.next_attempt {
                tokio::time::sleep_until(self.next_attempt.min(until)).await;
                continue;
            }
            self.replay_one().await;
        }
        self.publish_spool();
        Ok(())
    }
}

/// Insert one batch (a spool payload with its parsed header) as the writer does: one block, with the
/// deduplication token on modern servers and the batch's token as query id on 18.16.
async fn send_batch(
    client: &Client,
    tier: Tier,
    timeout: Duration,
    h: &Header,
    payload: &Bytes,
) -> Result<(), InsertError> {
    let t = Some(timeout);
    let mut ins = client
        .insert_formatted_with(h.table.insert_sql(h.version))
        .with_timeouts(t, t)
        // One block per batch, so that a batch is stored whole or not at all.
        .with_setting("max_insert_block_size", h.rows.max(1).to_string());
    match tier {
        Tier::Modern => {
            ins = ins
                .with_setting("insert_deduplication_token", h.token.clone())
                .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1");
        }
        // The query id names the batch, so that a later check can wait for it to finish.
        Tier::Legacy => ins = ins.with_setting("query_id", h.token.clone()),
    }
    let body = payload.slice(h.body..);
    let r = async {
        ins.send(body).await?;
        ins.end().await
    }
    .await;
    r.map_err(|e| {
        let msg = format!("INSERT INTO {} ({} rows): {e}", h.table.name(), h.rows);
        match connection::classify(&e) {
            Retry::Later => InsertError::Retry(msg),
            Retry::Never => InsertError::Never(msg),
        }
    })
}

/// Legacy tier: whether every row of a batch is in its table already (its insert committed, the
/// acknowledgement did not happen). Waits first for an insert of the same batch that may still
/// run on the server. A batch is one insert block, so it is stored whole or not at all.
async fn batch_stored(client: &Client, h: &Header, timeout: Duration) -> Result<bool, InsertError> {
    // Version 1 records (an older spool) carry no batch id and no range: they cannot be looked up.
    let Some((from, to)) = h.range else {
        return Ok(false);
    };
    let retry =
        |e: clickhouse::error::Error| InsertError::Retry(format!("checking a spooled batch: {e}"));
    let until = Instant::now() + timeout;
    loop {
        let running: u64 = client
            .query("SELECT count() FROM system.processes WHERE query_id = ?")
            .bind(h.token.as_str())
            .fetch_one()
            .await
            .map_err(retry)?;
        if running == 0 {
            break;
        }
        if Instant::now() >= until {
            return Err(InsertError::Retry(format!(
                "an earlier insert of batch {} still runs on the server",
                h.token
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sql = format!(
        "SELECT count() FROM {} WHERE {tc} >= toDateTime(?) AND {tc} <= toDateTime(?) \
         AND batch_id = ?",
        h.table.name(),
        tc = h.table.time_column()
    );
    let n: u64 = client
        .query(&sql)
        .bind(from)
        .bind(to)
        .bind(h.batch_id)
        .fetch_one()
        .await
        .map_err(retry)?;
    if n == u64::from(h.rows) {
        if h.table == Table::Flows {
            repair_rollups(client, h, from, to).await.map_err(retry)?;
        }
        tracing::info!(
            table = h.table.name(),
            rows = h.rows,
            batch = %h.token,
            "spooled batch is stored already (its reply was lost); not sending it again"
        );
        return Ok(true);
    }
    if n != 0 {
        tracing::error!(
            table = h.table.name(),
            stored = n,
            rows = h.rows,
            batch = %h.token,
            "part of a spooled batch is stored; sending it whole again"
        );
    }
    Ok(false)
}

/// Legacy tier, for a `flows` batch found stored already: make sure its rollup rows are stored too.
///
/// 18.16 writes an insert into `flows` first and then through each rollup view, each as a part of
/// its own: an insert cut short in between (the server killed) leaves the batch in `flows` without
/// some of its rollup rows, which counting the batch in `flows` cannot tell from a whole insert. So
/// for each rollup, compare the rows of `flows` in the batch's buckets with the rollup's
/// `flow_count` there. When exactly this batch's rows are missing, they are filled in from `flows`
/// with the view's own query restricted to the batch (one insert: stored whole or not at all, and
/// checked again before the next attempt when its reply is lost). Any other difference (another
/// writer inserting into the same buckets right now, older damage, a retention sweep) is logged
/// and left alone.
async fn repair_rollups(
    client: &Client,
    h: &Header,
    from: u32,
    to: u32,
) -> Result<(), clickhouse::error::Error> {
    for rollup in crate::migrations::ROLLUPS {
        let (table, bucket, width) = (rollup.table, rollup.bucket_fn, rollup.width);
        let range =
            format!("{bucket}(toDateTime({from})) AND {bucket}(toDateTime({to})) + {width}");
        let (raw, rolled): (u64, u64) = client
            .query(&format!(
                "SELECT (SELECT count() FROM flows WHERE time_received >= {lo} \
                 AND time_received < {hi}), (SELECT sum(flow_count) FROM {table} \
                 WHERE ts >= {lo} AND ts < {hi})",
                lo = format_args!("{bucket}(toDateTime({from}))"),
                hi = format_args!("{bucket}(toDateTime({to})) + {width}"),
            ))
            .fetch_one()
            .await?;
        if raw == rolled {
            continue;
        }
        if raw.checked_sub(rolled) != Some(u64::from(h.rows)) {
            tracing::error!(
                table,
                rows_in_flows = raw,
                rows_in_rollup = rolled,
                batch = %h.token,
                "the rollup does not match flows between {range}, by other than this batch; left alone"
            );
            continue;
        }
        let filter = format!(
            " WHERE time_received >= toDateTime({from}) AND time_received <= toDateTime({to}) \
             AND batch_id = {}",
            h.batch_id
        );
        client
            .query(&format!(
                "INSERT INTO {table} {}",
                crate::migrations::rollup_select(bucket, rollup.keys, &filter)
            ))
            .execute()
            .await?;
        tracing::warn!(
            table,
            rows = h.rows,
            batch = %h.token,
            "a spooled batch was stored in flows but not in this rollup (its insert was cut short): \
             rollup rows filled in from flows"
        );
    }
    Ok(())
}

/// A batch of raw flows as the writer spools and sends it (header, then RowBinary rows with their
/// `batch_id`): batch `seq` of writer `instance`. For tools and tests that re-drive batches.
pub fn flows_batch(instance: u64, seq: u64, recs: &[collector::FlowRecord]) -> Vec<u8> {
    let mut b = Batcher::new(Table::Flows);
    b.seq = seq;
    let now = Instant::now();
    for r in recs {
        rows::encode_flow_row(&mut b.buf, r, batch_id(instance, seq), None);
        b.note_row(now, rows::ms_to_datetime(r.time_received));
    }
    b.seal(instance).map(|(p, _)| p).unwrap_or_default()
}

/// The RowBinary rows of a batch payload ([`flows_batch`], a spool record, a dead letter): the
/// insert body the writer sends. None when the payload does not start with a batch header.
pub fn batch_body(payload: &[u8]) -> Option<&[u8]> {
    let h = parse_header(payload)?;
    payload.get(h.body..)
}

/// What re-driving one dead letter did (`sluice spool retry`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redrive {
    /// Inserted now: this many rows.
    Stored(u32),
    /// Its rows were in the table already (18.16 check, or the server deduplicated it).
    StoredAlready(u32),
    /// Refused again for good (the table is still broken): the message.
    Refused(String),
    /// Could not be tried (server unreachable, unreadable file): the message.
    Failed(String),
}

/// Insert a dead letter's payload again, exactly as the writer would (same batch id and token, the
/// stored-already check on 18.16).
pub async fn redrive(client: &Client, tier: Tier, timeout: Duration, payload: &[u8]) -> Redrive {
    let Some(h) = parse_header(payload) else {
        return Redrive::Failed("not a sluice batch (unknown header)".into());
    };
    let payload = Bytes::copy_from_slice(payload);
    if tier == Tier::Legacy {
        match batch_stored(client, &h, timeout).await {
            Ok(true) => return Redrive::StoredAlready(h.rows),
            Ok(false) => {}
            Err(InsertError::Retry(m) | InsertError::Never(m)) => return Redrive::Failed(m),
        }
    }
    match send_batch(client, tier, timeout, &h, &payload).await {
        Ok(()) => Redrive::Stored(h.rows),
        Err(InsertError::Never(m)) => Redrive::Refused(m),
        Err(InsertError::Retry(m)) => Redrive::Failed(m),
    }
}

/// Exponential backoff with jitter: `initial * 2^attempt`, capped, then a random point in its upper
/// half.
fn backoff(attempt: u32, initial: Duration, max: Duration) -> Duration {
    let base = initial.saturating_mul(1u32 << attempt.min(20)).min(max);
    let half = base / 2;
    half + half.mul_f64(fastrand::f64())
}

/// Insert inventory rows (`exporters`), outside the batching path (they are few).
pub async fn insert_exporters(
    client: &Client,
    rows_in: &[rows::ExporterRow],
) -> Result<(), clickhouse::error::Error> {
    insert_encoded(
        client,
        "exporters",
        rows::EXPORTERS_COLUMNS,
        rows_in,
        rows::encode_exporter,
    )
    .await
}

/// The earliest `first_seen` the `exporters` table holds per exporter, Unix seconds (so that a
/// restarted collector keeps an exporter's first sighting).
pub async fn exporters_first_seen(
    client: &Client,
) -> Result<Vec<(std::net::Ipv6Addr, u32)>, clickhouse::error::Error> {
    #[derive(serde::Deserialize, clickhouse::Row)]
    struct R {
        a: String,
        first: u32,
    }
    let rows: Vec<R> = client
        .query(
            "SELECT hex(address) AS a, toUInt32(min(first_seen)) AS first FROM exporters \
             WHERE first_seen > toDateTime(0) GROUP BY a",
        )
        .fetch_all()
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|r| {
            let b = u128::from_str_radix(&r.a, 16).ok()?;
            Some((std::net::Ipv6Addr::from(b), r.first))
        })
        .collect())
}

/// Insert AS names (`as_names`).
pub async fn insert_as_names(
    client: &Client,
    rows_in: &[rows::AsNameRow],
) -> Result<(), clickhouse::error::Error> {
    insert_encoded(
        client,
        "as_names",
        rows::AS_NAMES_COLUMNS,
        rows_in,
        rows::encode_as_name,
    )
    .await
}

/// Insert inventory rows (`interfaces`).
pub async fn insert_interfaces(
    client: &Client,
    rows_in: &[rows::InterfaceRow],
) -> Result<(), clickhouse::error::Error> {
    insert_encoded(
        client,
        "interfaces",
        rows::INTERFACES_COLUMNS,
        rows_in,
        rows::encode_interface,
    )
    .await
}

/// One insert of `rows_in`, each encoded by `encode` (the inventory tables: few rows, outside the
/// batching path).
async fn insert_encoded<R>(
    client: &Client,
    table: &str,
    columns: &[&str],
    rows_in: &[R],
    encode: fn(&mut Vec<u8>, &R),
) -> Result<(), clickhouse::error::Error> {
    let mut buf = Vec::new();
    for r in rows_in {
        encode(&mut buf, r);
    }
    insert_raw(client, table, columns, buf).await
}

async fn insert_raw(
    client: &Client,
    table: &str,
    cols: &[&str],
    buf: Vec<u8>,
) -> Result<(), clickhouse::error::Error> {
    if buf.is_empty() {
        return Ok(());
    }
    let mut ins = client.insert_formatted_with(format!(
        "INSERT INTO {table} ({}) FORMAT RowBinary",
        cols.join(", ")
    ));
    ins.send(Bytes::from(buf)).await?;
    ins.end().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter_in_upper_half() {
        let i = Duration::from_millis(100);
        let m = Duration::from_secs(10);
        for attempt in 0..30 {
            let d = backoff(attempt, i, m);
            let base = (i * 2u32.pow(attempt.min(20))).min(m);
            assert!(d >= base / 2 && d <= base, "{attempt}: {d:?}");
        }
    }

    #[test]
    fn sealed_payload_header_round_trips() {
        let mut b = Batcher::new(Table::WindowTotals);
        let now = Instant::now();
        rows::encode_window_totals(
            &mut b.buf,
            &aggregator::WindowTotalsRow {
                window_start: 0,
                window_secs: 60,
                exporter: std::net::Ipv6Addr::LOCALHOST,
                bytes: 1,
                packets: 1,
                flows: 1,
                bytes_unscaled: 1,
                packets_unscaled: 1,
                late_flows: 0,
            },
        );
        rows::encode_batch_id(&mut b.buf, batch_id(0xabc, 7));
        b.seq = 7;
        b.note_row(now, 1_800_000_000);
        b.note_row(now, 1_800_000_060);
        let (p, rows) = b.seal(0xabc).unwrap();
        assert_eq!(rows, 2);
        let h = parse_header(&p).unwrap();
        assert_eq!(h.table, Table::WindowTotals);
        assert_eq!(h.rows, 2);
        assert_eq!(h.token, "sluice-0000000000000abc-7");
        assert_eq!(h.batch_id, 0xabc + 7);
        assert_eq!(h.range, Some((1_800_000_000, 1_800_000_060)));
        assert_eq!(h.body, HEADER_LEN);
        assert!(b.seal(1).is_none(), "an empty batcher seals nothing");
        assert!(parse_header(&[9; 30]).is_none());
        // A record of an older spool (version 1: no range, no batch_id column) still parses.
        let mut v1 = p[..HEADER_LEN_V1].to_vec();
        v1[0] = 1;
        let h1 = parse_header(&v1).unwrap();
        assert_eq!((h1.range, h1.body), (None, HEADER_LEN_V1));
        assert_eq!(
            Table::Flows.columns(1).len() + 1,
            Table::Flows.columns(2).len()
        );
        // Version 2 (before enrichment): rows end at batch_id.
        let mut v2 = p.clone();
        v2[0] = 2;
        let h2 = parse_header(&v2).unwrap();
        assert_eq!((h2.version, h2.body), (2, HEADER_LEN));
        assert_eq!(*Table::Flows.columns(2).last().unwrap(), "batch_id");
        assert_eq!(*Table::WindowTop.columns(2).last().unwrap(), "batch_id");
        assert_eq!(*Table::WindowTop.columns(3).last().unwrap(), "label");
        assert_eq!(*Table::Flows.columns(3).last().unwrap(), "out_if_speed");
        assert_eq!(
            Table::WindowTotals.columns(3),
            Table::WindowTotals.columns(2)
        );
        // Version 4 adds the sFlow columns of flows, and the interface_counters table.
        assert_eq!(*Table::Flows.columns(4).last().unwrap(), "discard_reason");
        assert_eq!(
            Table::Flows.columns(4).len(),
            Table::Flows.columns(3).len() + 2
        );
        assert_eq!(Table::Flows.types(4).len(), Table::Flows.columns(4).len());
        assert_eq!(Table::WindowTop.columns(4), Table::WindowTop.columns(3));
    }

    #[test]
    fn interface_counter_rows_batch_under_their_own_table_code() {
        let mut b = Batcher::new(Table::InterfaceCounters);
        b.seq = 3;
        let c = collector::InterfaceCounters {
            time_received: 1_800_000_000_500,
            ifindex: 7,
            speed: 10_000_000_000,
            in_octets: 1234,
            ..collector::InterfaceCounters::default()
        };
        rows::encode_interface_counters(&mut b.buf, &c);
        rows::encode_batch_id(&mut b.buf, 9);
        b.note_row(Instant::now(), rows::ms_to_datetime(c.time_received));
        let (p, n) = b.seal(0x10).unwrap();
        assert_eq!(n, 1);
        let h = parse_header(&p).unwrap();
        assert_eq!(
            (h.version, h.table),
            (PAYLOAD_VERSION, Table::InterfaceCounters)
        );
        assert_eq!(table_slot(&p), 3);
        assert_eq!(h.range, Some((1_800_000_000, 1_800_000_000)));
        let cols = Table::InterfaceCounters.columns(h.version);
        assert_eq!(cols, rows::INTERFACE_COUNTERS_COLUMNS);
        assert_eq!(Table::InterfaceCounters.types(h.version).len(), cols.len());
        // 4 time + 16 exporter + 3 x 4 + 8 speed + 2 x 1 + 4 interval + 11 x 8 counters + 4
        // flow samples + 8 id.
        assert_eq!(p.len() - h.body, 4 + 16 + 12 + 8 + 2 + 4 + 88 + 4 + 8);
        let text = h.render(&p);
        assert!(text.contains("ifindex"), "{text}");
        assert!(text.contains("1234"), "{text}");
    }
}
