//! Where the pipeline's output goes: the sink contract.
//!
//! Owns: the [`Output`] batches (raw flows, closed windows, interface counters) and the [`Sink`] trait that storage
//! implements. The ClickHouse writer lives in `schema`; the JSON-lines and null sinks for tests and
//! benchmarks live here.
//! Must never: drop a batch silently. A sink that cannot keep up makes `send` wait (backpressure).

use std::future::Future;

use collector::{FlowBatch, InterfaceCounters};

use crate::output::{WindowTopRow, WindowTotalsRow};

/// One batch handed to a sink.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// Raw decoded flows (shared with the aggregator, never copied).
    Flows(FlowBatch),
    /// The rows of one or more closed windows.
    Windows {
        /// Top-N rows, including each dimension's "other" row.
        top: Vec<WindowTopRow>,
        /// Per-exporter totals.
        totals: Vec<WindowTotalsRow>,
    },
    /// Interface counters from sFlow counter samples, one per sample and interface.
    Counters(Vec<InterfaceCounters>),
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

/// A sink that several producers share (the windows path and the raw-flow path writing one
/// JSON-lines file): each batch is sent whole under an async lock, so lines never interleave.
pub struct SharedSink<S>(std::sync::Arc<tokio::sync::Mutex<S>>);

impl<S> Clone for SharedSink<S> {
    fn clone(&self) -> Self {
        SharedSink(self.0.clone())
    }
}

impl<S: Sink> SharedSink<S> {
    /// Share `sink`.
    pub fn new(sink: S) -> Self {
        SharedSink(std::sync::Arc::new(tokio::sync::Mutex::new(sink)))
    }

    /// Read the inner sink (e.g. its counters).
    pub async fn with<T>(&self, f: impl FnOnce(&S) -> T) -> T {
        f(&*self.0.lock().await)
    }
}

impl<S: Sink> Sink for SharedSink<S> {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        self.0.lock().await.send(batch).await
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.0.lock().await.flush().await
    }
}
