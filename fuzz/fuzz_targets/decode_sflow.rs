//! Arbitrary datagram sequences, each stamped with sFlow's 32-bit version 5, into one stateful
//! decoder; the invariants are in `sluice_fuzz::run_sflow`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| sluice_fuzz::run_sflow(data));
