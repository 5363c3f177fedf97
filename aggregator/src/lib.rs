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
//!
//! ```
//! use aggregator::{Aggregator, AggregatorConfig, Output};
//! use collector::FlowRecord;
//!
//! let mut agg = Aggregator::new(AggregatorConfig::default().validate().unwrap());
//! // Ends at 90 s: window [60 s, 120 s) of the default 60 s windows.
//! let flow = FlowRecord { time_received: 91_000, flow_end: Some(90_000), bytes: 1500, packets: 1, ..Default::default() };
//! agg.record(&flow);
//! let mut out = Vec::new();
//! agg.flush_into(&mut out, 200_000); // not yet: closes at window end + 2 windows of lateness = 240 s
//! assert!(out.is_empty());
//! agg.flush_into(&mut out, 240_000);
//! let Output::Windows { top, totals } = &out[0] else { unreachable!() };
//! assert_eq!((totals[0].window_start, totals[0].bytes), (60_000, 1500));
//! assert_eq!(top.len(), 2 * 9); // per dimension: the one key and the "other" row
//! ```

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
pub use sink::{Output, SharedSink, Sink, SinkError};
pub use sinks::{JsonLinesSink, NullSink};
