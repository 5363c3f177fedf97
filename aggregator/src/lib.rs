//! Event-time windows of top talkers (the "aggregate" step of the pipeline).
//!
//! Owns: tumbling windows keyed by flow time, top-N per dimension with exact totals and an exact
//! "other" row, the bounded-memory fallback to a heavy-hitter sketch. A synchronous core
//! (`record(flow)`, `flush_into(&mut out, now)`) with a thin tokio task around it.
//! Must never: read the clock inside the core, touch the network, or know about storage.
//!
//! Modules: [`config`] (what an operator sets), `core` ([`Aggregator`]: windows, watermark,
//! lateness), `table`/`sketch` (exact and sketched key tables), `counts` (exact pro-rating),
//! [`keys`] (the key of a flow per dimension), [`shell`] (the tokio task), [`sinks`] (null and
//! JSON-lines sinks), [`output`]/[`sink`] (the contracts with storage).

pub mod config;
mod core;
mod counts;
pub mod keys;
pub mod output;
pub mod shell;
pub mod sink;
pub mod sinks;
mod sketch;
mod table;

pub use config::{AggregatorConfig, ConfigError, FieldError, TimeKey, ValidatedAggregatorConfig};
pub use core::{Aggregator, AggregatorStats};
pub use output::{Dimension, Key, WindowTopRow, WindowTotalsRow};
pub use shell::{ShellOptions, ShellOutcome, run, run_with_clock};
pub use sink::{Output, Sink, SinkError};
pub use sinks::{JsonLinesSink, NullSink};
