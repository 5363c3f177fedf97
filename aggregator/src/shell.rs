//! The thin tokio shell around the synchronous [`Aggregator`].
//!
//! Owns: the task loop that `select!`s over batches of flows and a flush timer, hands closed windows
//! to the sink (raw flows go to storage beside the aggregator, not through it), publishes [`AggregatorStats`], and on input
//! close flushes every open window and then the sink. This is the only place in the crate that reads
//! the clock (through the `clock` function it is given), and it passes `now` into the core.
//! Must never: hold aggregation logic of its own, or swallow a sink error (it ends the task with it).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use collector::FlowBatch;
use tokio::sync::{mpsc, watch};
use tokio::time::MissedTickBehavior;

use crate::core::{Aggregator, AggregatorStats};
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

/// Run until `input` closes, taking `now` (Unix ms) from `clock` at every flush tick.
pub async fn run_with_clock<S: Sink, C: FnMut() -> i64 + Send>(
    mut aggregator: Aggregator,
    mut input: mpsc::Receiver<FlowBatch>,
    mut sink: S,
    options: ShellOptions,
    mut clock: C,
) -> Result<ShellOutcome<S>, SinkError> {
    let mut tick = tokio::time::interval(options.flush_every.max(Duration::from_millis(1)));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut out: Vec<Output> = Vec::new();
    loop {
        tokio::select! {
            batch = input.recv() => {
                let Some(batch) = batch else { break };
                for flow in batch.iter() {
                    aggregator.record(flow);
                }
            }
            _ = tick.tick() => {
                aggregator.flush_into(&mut out, clock());
                for batch in out.drain(..) {
                    sink.send(batch).await?;
                }
                if let Some(tx) = &options.stats {
                    tx.send_replace(aggregator.stats());
                }
            }
        }
    }
    aggregator.flush_all(&mut out);
    for batch in out.drain(..) {
        sink.send(batch).await?;
    }
    sink.flush().await?;
    let stats = aggregator.stats();
    if let Some(tx) = &options.stats {
        tx.send_replace(stats);
    }
    Ok(ShellOutcome { sink, stats })
}
