//! Writes the benchmark's enrichment inputs (see `tests/common/synth.rs`): `Country.mmdb`,
//! `ASN.mmdb` and `enrich.toml` of a realistic size.
//!
//! Usage: `cargo run --release -p enrich --example synth_mmdb -- OUT_DIR`

#[path = "../tests/common/mod.rs"]
mod common;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: synth_mmdb OUT_DIR");
    println!("{}", common::synth::write_all(std::path::Path::new(&dir)));
}
