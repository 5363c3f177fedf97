//! Receiving and decoding flow export (the "receive" and "decode" steps of the pipeline).
//!
//! Owns: the UDP receive module (the only `unsafe` in the workspace), zero-copy wire views for
//! NetFlow v5, NetFlow v9 (RFC 3954) and IPFIX (RFC 7011/7012), per-exporter template and sampling
//! state, and normalisation into one [`FlowRecord`].
//! Must never: aggregate, store, or read the clock in decoding logic (`now` is always a parameter).

pub mod capture;
pub mod cidr;
mod columns;
pub mod config;
pub mod decoder;
pub mod error;
pub mod listen;
pub mod persist;
pub mod record;
pub mod socket;
pub mod template;
pub mod wire;

pub use cidr::{Cidr, CidrError};
pub use config::{ConfigError, DecoderConfig, DecoderSettings};
pub use decoder::{Decoder, ExporterStats, FnSink, RecordSink, SkippedFormat, Stats, Summary};
pub use error::{DecodeError, ErrorKind};
pub use record::{
    Enrichment, FlowBatch, FlowRecord, InterfaceCounters, SamplingSource, VERSION_SFLOW,
};
