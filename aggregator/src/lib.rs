//! Event-time windows of top talkers (the "aggregate" step of the pipeline).
//!
//! Owns: tumbling windows keyed by flow time, top-N per dimension with exact totals and an exact
//! "other" row, the bounded-memory fallback to a heavy-hitter sketch. A synchronous core
//! (`record(flow)`, `flush_into(&mut out, now)`) with a thin tokio task around it.
//! Must never: read the clock inside the core, touch the network, or know about storage.

pub mod output;
pub mod sink;

pub use output::{Dimension, Key, WindowTopRow, WindowTotalsRow};
pub use sink::{Output, Sink, SinkError};
