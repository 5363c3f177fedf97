//! Making flow export: the encoder, the traffic model and the load tools.
//!
//! Owns: building NetFlow v5, v9, IPFIX and sFlow v5 datagrams ([`encode`], [`encode::sflow`]), a
//! deterministic traffic model ([`model`]), the load generator behind `sluice blast` ([`blast`]),
//! capture replay behind `sluice replay` ([`replay`]), synthetic packet captures with ground truth
//! behind `sluice gen-traffic` ([`traffic`]) and the bare receive loop that measures the physical
//! limit (`sluice dev sink-udp`, [`sink_udp`]).
//! Must never: be a dependency of `collector` (the decoder is tested against this encoder, and
//! shares no code with it, so that a misreading of an RFC in one cannot hide in the other), or send
//! to a non-loopback address unless told to (`--allow-remote`).
//!
//! The option structs derive `clap::Args`: the binary's subcommands are these structs, so the
//! command line and the library cannot drift apart.

pub mod blast;
pub mod encode;
pub mod model;
pub mod replay;
pub mod sink_udp;
pub mod traffic;

mod error;

pub use error::Error;
