//! The shell around the synchronous [`Aggregator`]: its own OS threads, fed from the async pipeline.
//!
//! Owns: cutting the aggregator into shards by dimension ([`Aggregator::into_shards`]), one OS
//! thread per shard (`sluice-agg-N`, off the tokio runtime), the async dispatcher that hands every
//! batch (a shared `Arc`, never copied) and every flush tick's `now` to all shards in the same order,
//! and the async merger that joins the shards' rows of each closed window into one
//! [`Output::Windows`] and hands it to the sink (raw flows go to storage beside the aggregator, not
//! through it). It publishes [`AggregatorStats`], and on input close has every shard flush every
//! open window, then flushes the sink. This is the only place in the crate that reads the clock
//! (through the `clock` function it is given), and it passes `now` into the cores.
//! Must never: hold aggregation logic of its own, swallow a sink error (it ends the run with it), or
//! let a shard thread that died go unnoticed (the run ends with an error naming it).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector::FlowBatch;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use crate::core::{Aggregator, AggregatorStats};
use crate::output::Dimension;
use crate::sink::{Output, Sink, SinkError};

/// How the shell runs.
#[derive(Debug)]
pub struct ShellOptions {
    /// How often to close due windows (with the clock's `now`).
    pub flush_every: Duration,
    /// Where to publish the aggregator's counters after every flush tick and at the end.
    pub stats: Option<watch::Sender<AggregatorStats>>,
}

impl Default for ShellOptions {
    fn default() -> Self {
        ShellOptions {
            flush_every: Duration::from_secs(1),
            stats: None,
        }
    }
}

/// How many aggregator threads `threads` (the config's `threads`; 0 = one per core) means on this
/// machine, before the cap of one per dimension.
pub fn resolve_threads(threads: usize) -> usize {
    if threads > 0 {
        return threads;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// What the shell hands back when its input closes.
#[derive(Debug)]
pub struct ShellOutcome<S> {
    /// The sink, flushed.
    pub sink: S,
    /// The aggregator's final counters.
    pub stats: AggregatorStats,
}

/// Wall-clock now, Unix ms.
pub fn system_now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Run until `input` closes, reading the system clock.
pub async fn run<S: Sink>(
    aggregator: Aggregator,
    input: mpsc::Receiver<FlowBatch>,
    sink: S,
    options: ShellOptions,
) -> Result<ShellOutcome<S>, SinkError> {
    run_with_clock(aggregator, input, sink, options, system_now_ms).await
}

/// What the dispatcher sends every shard, in the same order.
enum ToShard {
    Batch(FlowBatch),
    Flush(i64),
}

/// What a shard hands the merger after each flush, and once more at the end.
struct Piece {
    outputs: Vec<Output>,
    stats: AggregatorStats,
    last: bool,
}

/// Batches a shard may have queued before the dispatcher waits for it.
const SHARD_QUEUE: usize = 16;

/// Run until `input` closes, taking `now` (Unix ms) from `clock` at every flush tick.
pub async fn run_with_clock<S: Sink, C: FnMut() -> i64 + Send>(
    aggregator: Aggregator,
    mut input: mpsc::Receiver<FlowBatch>,
    mut sink: S,
    options: ShellOptions,
    mut clock: C,
) -> Result<ShellOutcome<S>, SinkError> {
    let order: Vec<Dimension> = aggregator.config().dimensions().to_vec();
    let threads_wanted = resolve_threads(aggregator.config().threads());
    let shards = aggregator.into_shards(threads_wanted);
    let n = shards.len();
    let (piece_tx, mut piece_rx) = mpsc::channel::<(usize, Piece)>(n * 4);
    let mut to_shards = Vec::with_capacity(n);
    let mut threads = Vec::with_capacity(n);
    for (i, shard) in shards.into_iter().enumerate() {
        let (tx, rx) = mpsc::channel::<ToShard>(SHARD_QUEUE);
        let ptx = piece_tx.clone();
        let t = std::thread::Builder::new()
            .name(format!("sluice-agg-{i}"))
            .spawn(move || shard_loop(i, shard, rx, ptx))
            .map_err(|e| SinkError::Other(format!("starting aggregator thread {i}: {e}")))?;
        to_shards.push(tx);
        threads.push(t);
    }
    drop(piece_tx);

    let mut tick = tokio::time::interval(options.flush_every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let dispatch = async move {
        // The first tick completes at once: flush with the clock before any batch, so the
        // watermark starts at `now` whichever of the two would have been ready first.
        tick.tick().await;
        let mut first = Some(ToShard::Flush(clock()));
        loop {
            let msg = if let Some(m) = first.take() {
                m
            } else {
                tokio::select! {
                batch = input.recv() => match batch {
                    Some(b) => ToShard::Batch(b),
                    None => break,
                },
                    _ = tick.tick() => ToShard::Flush(clock()),
                }
            };
            let mut send_to = Vec::with_capacity(to_shards.len());
            for tx in &to_shards {
                let m = match &msg {
                    ToShard::Batch(b) => ToShard::Batch(b.clone()),
                    ToShard::Flush(now) => ToShard::Flush(*now),
                };
                send_to.push(tx.send(m));
            }
            for s in send_to {
                if s.await.is_err() {
                    // A shard is gone: the merger reports why; stop feeding.
                    return;
                }
            }
        }
        // Dropping the senders tells every shard to flush all and stop.
    };

    let stats_tx = options.stats;
    let merge = async move {
        let mut queues: Vec<VecDeque<Piece>> = (0..n).map(|_| VecDeque::new()).collect();
        let mut finished = vec![false; n];
        let mut stats = AggregatorStats::default();
        while let Some((i, piece)) = piece_rx.recv().await {
            finished[i] |= piece.last;
            queues[i].push_back(piece);
            while queues.iter().all(|q| !q.is_empty()) {
                let set: Vec<Piece> = queues.iter_mut().filter_map(|q| q.pop_front()).collect();
                let (outputs, merged) = merge_pieces(set, &order);
                for batch in outputs {
                    sink.send(batch).await?;
                }
                stats = merged;
                if let Some(tx) = &stats_tx {
                    tx.send_replace(stats);
                }
            }
        }
        if let Some(i) = finished.iter().position(|f| !f) {
            return Err(SinkError::Other(format!(
                "aggregator thread {i} ended before flushing its windows (it panicked)"
            )));
        }
        sink.flush().await?;
        Ok(ShellOutcome { sink, stats })
    };
    let ((), outcome) = tokio::join!(dispatch, merge);
    for t in threads {
        // The shards have sent their last piece (or the merger failed and they stop at their next
        // send); joining is brief.
        let _ = t.join();
    }
    outcome
}

/// One shard's thread: count batches, close windows on `Flush`, flush everything when the
/// dispatcher hangs up.
fn shard_loop(
    index: usize,
    mut aggregator: Aggregator,
    mut rx: mpsc::Receiver<ToShard>,
    tx: mpsc::Sender<(usize, Piece)>,
) {
    let mut out = Vec::new();
    while let Some(msg) = rx.blocking_recv() {
        match msg {
            ToShard::Batch(batch) => aggregator.record_batch(&batch),
            ToShard::Flush(now) => {
                aggregator.flush_into(&mut out, now);
                let piece = Piece {
                    outputs: std::mem::take(&mut out),
                    stats: aggregator.stats(),
                    last: false,
                };
                if tx.blocking_send((index, piece)).is_err() {
                    return;
                }
            }
        }
    }
    aggregator.flush_all(&mut out);
    let piece = Piece {
        outputs: out,
        stats: aggregator.stats(),
        last: true,
    };
    let _ = tx.blocking_send((index, piece));
}

/// Join one flush's pieces (one per shard, the same windows in the same order) into one output
/// per window, rows in configuration order of the dimensions, and the shards' stats into one.
fn merge_pieces(set: Vec<Piece>, order: &[Dimension]) -> (Vec<Output>, AggregatorStats) {
    let mut pieces = set.into_iter();
    let Some(first) = pieces.next() else {
        return (Vec::new(), AggregatorStats::default());
    };
    let mut stats = first.stats;
    let mut outputs = first.outputs;
    for p in pieces {
        stats.merge_shard(&p.stats);
        debug_assert_eq!(
            p.outputs.len(),
            outputs.len(),
            "shards closed different windows"
        );
        for (into, from) in outputs.iter_mut().zip(p.outputs) {
            if let (
                Output::Windows { top, totals },
                Output::Windows {
                    top: more,
                    totals: more_totals,
                },
            ) = (into, from)
            {
                top.extend(more);
                totals.extend(more_totals);
            }
        }
    }
    if order.len() > 1 {
        for o in &mut outputs {
            if let Output::Windows { top, .. } = o {
                top.sort_by_key(|r| order.iter().position(|d| *d == r.dimension));
            }
        }
    }
    (outputs, stats)
}
