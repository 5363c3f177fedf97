//! Where the pipeline's output goes: the sink contract.
//!
//! Owns: the [`Output`] batches (raw flows, closed windows) and the [`Sink`] trait that storage
//! implements. The ClickHouse writer lives in `schema`; the JSON-lines and null sinks for tests and
//! benchmarks live here.
//! Must never: drop a batch silently. A sink that cannot keep up makes `send` wait (backpressure).

use std::future::Future;

use collector::FlowRecord;

use crate::output::{WindowTopRow, WindowTotalsRow};

/// One batch handed to a sink.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Raw decoded flows.
    Flows(Vec<FlowRecord>),
    /// The rows of one or more closed windows.
    Windows {
        /// Top-N rows, including each dimension's "other" row.
        top: Vec<WindowTopRow>,
        /// Per-exporter totals.
        totals: Vec<WindowTotalsRow>,
    },
}

/// A sink failure that the pipeline reports and counts.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// Writing to a local file failed.
    #[error("sink i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The sink is closed or its task ended.
    #[error("sink closed: {0}")]
    Closed(&'static str),
    /// Any other sink-specific failure, with its message.
    #[error("{0}")]
    Other(String),
}

/// A destination for pipeline output.
pub trait Sink: Send + 'static {
    /// Accept one batch. May wait (backpressure) but never drops it silently.
    fn send(&mut self, batch: Output) -> impl Future<Output = Result<(), SinkError>> + Send;
    /// Write out anything buffered; called on shutdown after the last batch.
    fn flush(&mut self) -> impl Future<Output = Result<(), SinkError>> + Send;
}
