//! Local sinks: [`NullSink`] for benchmarks and [`JsonLinesSink`] for tests, demos and debugging.
//!
//! Owns: the JSON-lines format. One JSON object per line, tagged by `type`:
//! `{"type":"flow",...}` (the fields of [`collector::FlowRecord`]),
//! `{"type":"window_top",...}` ([`WindowTopRow`]), `{"type":"window_totals",...}`
//! ([`WindowTotalsRow`]) and `{"type":"interface_counters",...}`
//! ([`collector::InterfaceCounters`]). Writes are buffered and reach the file on [`Sink::flush`].
//! Must never: drop a row silently (a write failure is returned as [`SinkError::Io`]), or block the
//! async runtime on file I/O (writes go through tokio).

use std::path::Path;

use collector::{FlowRecord, InterfaceCounters};
use serde::Serialize;
use tokio::io::{AsyncWrite, AsyncWriteExt, BufWriter};

use crate::output::{WindowTopRow, WindowTotalsRow};
use crate::sink::{Output, Sink, SinkError};

/// A sink that only counts what it is given.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NullSink {
    /// Batches received.
    pub batches: u64,
    /// Raw flows received.
    pub flows: u64,
    /// Top-N rows received ("other" rows included).
    pub top_rows: u64,
    /// Totals rows received.
    pub totals_rows: u64,
    /// Interface counter rows received.
    pub counter_rows: u64,
    /// Times `flush` was called.
    pub flushes: u64,
}

impl Sink for NullSink {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        self.batches += 1;
        match batch {
            Output::Flows(f) => self.flows += f.len() as u64,
            Output::Windows { top, totals } => {
                self.top_rows += top.len() as u64;
                self.totals_rows += totals.len() as u64;
            }
            Output::Counters(c) => self.counter_rows += c.len() as u64,
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.flushes += 1;
        Ok(())
    }
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line<'a> {
    Flow(&'a FlowRecord),
    WindowTop(&'a WindowTopRow),
    WindowTotals(&'a WindowTotalsRow),
    InterfaceCounters(&'a InterfaceCounters),
}

/// Writes every row as one JSON object per line.
#[derive(Debug)]
pub struct JsonLinesSink<W: AsyncWrite + Unpin + Send + 'static> {
    out: BufWriter<W>,
    line: Vec<u8>,
    lines: u64,
}

impl JsonLinesSink<tokio::fs::File> {
    /// Create (or truncate) the file at `path`.
    pub async fn create(path: impl AsRef<Path>) -> Result<Self, SinkError> {
        let file = tokio::fs::File::create(path).await?;
        Ok(Self::new(file))
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> JsonLinesSink<W> {
    /// Wrap any async writer.
    pub fn new(writer: W) -> Self {
        JsonLinesSink {
            out: BufWriter::with_capacity(256 * 1024, writer),
            line: Vec::with_capacity(1024),
            lines: 0,
        }
    }

    /// Lines written so far (buffered or not).
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// The underlying writer (call [`Sink::flush`] first).
    pub fn into_inner(self) -> W {
        self.out.into_inner()
    }

    async fn write(&mut self, line: Line<'_>) -> Result<(), SinkError> {
        self.line.clear();
        serde_json::to_writer(&mut self.line, &line)
            .map_err(|e| SinkError::Other(format!("json-lines encode: {e}")))?;
        self.line.push(b'\n');
        self.out.write_all(&self.line).await?;
        self.lines += 1;
        Ok(())
    }
}

impl<W: AsyncWrite + Unpin + Send + 'static> Sink for JsonLinesSink<W> {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        match &batch {
            Output::Flows(flows) => {
                for f in flows.iter() {
                    self.write(Line::Flow(f)).await?;
                }
            }
            Output::Windows { top, totals } => {
                for r in top {
                    self.write(Line::WindowTop(r)).await?;
                }
                for r in totals {
                    self.write(Line::WindowTotals(r)).await?;
                }
            }
            Output::Counters(counters) => {
                for c in counters {
                    self.write(Line::InterfaceCounters(c)).await?;
                }
            }
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), SinkError> {
        self.out.flush().await?;
        Ok(())
    }
}
