//! Shared driver for the decoder fuzz targets.
//!
//! Owns: the input framing (how one fuzz input becomes a sequence of datagrams from a few
//! exporters at advancing times) and the invariants every target checks after every datagram.
//! Must never: hide a failure. Any broken invariant is a panic, which libFuzzer reports as a crash.
//!
//! Framing of an input, repeated until the bytes run out:
//! `[control: u8][len: u16 big-endian][payload: len bytes]`. The low two bits of `control` pick
//! the exporter address (two IPv4, one IPv6, one IPv4 again on a different /8); the high six bits
//! advance the clock by that many times 10 s, and a clock step of 0x3f also runs
//! `Decoder::expire`. A `len` past the end takes what is left. The first two payload bytes are
//! overwritten with the target's version, so every datagram reaches the version's decoder; for
//! sFlow ([`run_sflow`]) the first four, with the 32-bit version 5.
//! `fuzz/seed.sh` writes real captures in this framing.

use std::net::IpAddr;

use collector::decoder::Summary;
use collector::record::{VERSION_SFLOW, flags, to_v6};
use collector::wire::sflow;
use collector::{Decoder, DecoderConfig, DecoderSettings, FlowRecord};

/// Exporter addresses the control byte picks from.
pub const EXPORTERS: [&str; 4] = ["192.0.2.1", "192.0.2.2", "2001:db8::1", "198.51.100.7"];

/// The start of the fuzz clock: 2026-01-01T00:00:00Z in Unix ms.
pub const T0_MS: i64 = 1_767_225_600_000;

/// Small budgets (the smallest template budget the config accepts), so that eviction and
/// pending-data limits are reached by small inputs.
pub fn settings() -> DecoderSettings {
    DecoderConfig {
        template_ttl_secs: 600,
        max_templates_per_exporter: 32,
        template_memory_bytes: 64 << 10,
        pending_bytes_per_exporter: 8 << 10,
        pending_bytes_total: 16 << 10,
        pending_ttl_secs: 60,
        ..DecoderConfig::default()
    }
    .validate("fuzz")
    .expect("fuzz settings are valid")
}

/// One datagram cut from the input.
pub struct Chunk<'a> {
    /// Index into [`EXPORTERS`].
    pub exporter: usize,
    /// Clock advance, in 10 s steps (0..=63).
    pub step: u8,
    /// The bytes.
    pub payload: &'a [u8],
}

/// Cut an input into chunks (see the module docs for the framing).
pub fn chunks(mut data: &[u8]) -> Vec<Chunk<'_>> {
    let mut out = Vec::new();
    while data.len() >= 3 {
        let control = data[0];
        let len = usize::from(u16::from_be_bytes([data[1], data[2]]));
        let rest = &data[3..];
        let len = len.min(rest.len());
        out.push(Chunk {
            exporter: usize::from(control & 3),
            step: control >> 2,
            payload: &rest[..len],
        });
        data = &rest[len..];
    }
    out
}

/// Feed every chunk of `data`, with its first two bytes set to `version`, into one stateful
/// decoder, checking the invariants after each datagram.
pub fn run(version: u16, data: &[u8]) {
    run_stamped(data, version, |buf| {
        if buf.len() >= 2 {
            buf[..2].copy_from_slice(&version.to_be_bytes());
        }
    });
}

/// Feed every chunk of `data`, with its first four bytes set to sFlow's version 5, into one
/// stateful decoder, checking the invariants after each datagram. The exporter an sFlow
/// datagram counts under is its agent address (the UDP source when the header is unreadable).
pub fn run_sflow(data: &[u8]) {
    run_stamped(data, VERSION_SFLOW, |buf| {
        let n = buf.len().min(4);
        buf[..n].copy_from_slice(&[0, 0, 0, 5][..n]);
    });
}

fn run_stamped(data: &[u8], version: u16, stamp: impl Fn(&mut Vec<u8>)) {
    let settings = settings();
    let mut decoder = Decoder::new(settings.clone());
    let mut now = T0_MS;
    let mut buf = Vec::with_capacity(65_536);
    let mut recs: Vec<FlowRecord> = Vec::new();
    for chunk in chunks(data) {
        now += i64::from(chunk.step) * 10_000;
        if chunk.step == 0x3f {
            decoder.expire(now);
            check_budgets(&decoder, &settings);
        }
        buf.clear();
        buf.extend_from_slice(chunk.payload);
        stamp(&mut buf);
        let from: IpAddr = EXPORTERS[chunk.exporter].parse().expect("valid address");
        // sFlow state and stats are the agent's; everything else is the UDP source's.
        let exporter = match sflow::Datagram::parse(&buf) {
            Ok(d) if sflow::looks_like_sflow(&buf) => d.agent,
            _ => from,
        };
        let before = decoder
            .stats()
            .exporters
            .get(&to_v6(exporter))
            .map_or(0, |s| s.datagrams);
        recs.clear();
        let res = decoder.decode(from, &buf, now, &mut recs);
        match res {
            Ok(sum) => check_summary(&sum, version, &recs),
            Err(_) => assert!(recs.is_empty(), "records pushed for a rejected datagram"),
        }
        for r in &recs {
            check_record(r, version, exporter, now);
            if version == VERSION_SFLOW {
                assert_eq!(r.packets, 1, "an sFlow sample is one packet: {r:?}");
            }
        }
        let after = decoder.stats().exporters[&to_v6(exporter)].datagrams;
        assert_eq!(after, before + 1, "every datagram is counted once");
        check_budgets(&decoder, &settings);
    }
    decoder.expire(now + 3_600_000);
    check_budgets(&decoder, &settings);
    assert_eq!(decoder.pending_bytes(), 0, "held data outlived its TTL");
}

fn check_summary(sum: &Summary, version: u16, recs: &[FlowRecord]) {
    assert_eq!(sum.version, version);
    assert_eq!(
        sum.records as usize,
        recs.len(),
        "summary counts what was pushed"
    );
    let replayed = recs
        .iter()
        .filter(|r| r.flags & flags::REPLAYED != 0)
        .count();
    assert_eq!(
        sum.replayed as usize, replayed,
        "replayed records are flagged"
    );
    if version == 5 {
        assert_eq!(sum.templates, 0);
        assert_eq!(sum.held, 0);
    }
}

fn check_record(r: &FlowRecord, version: u16, from: IpAddr, now: i64) {
    assert_eq!(r.version, version);
    assert_eq!(r.exporter, to_v6(from));
    if r.flags & flags::REPLAYED == 0 {
        assert_eq!(r.time_received, now);
    } else {
        // Replayed records keep the time their datagram was received, which is in the past.
        assert!((T0_MS..=now).contains(&r.time_received), "{r:?} at {now}");
    }
    assert!(r.sampling_rate >= 1, "sampling rate 0 leaked: {r:?}");
    let _ = r.scaled_bytes();
    let _ = r.scaled_packets();
}

fn check_budgets(decoder: &Decoder, settings: &DecoderSettings) {
    assert!(
        decoder.template_bytes() <= settings.template_memory_bytes,
        "template state {} over budget {}",
        decoder.template_bytes(),
        settings.template_memory_bytes
    );
    assert!(
        decoder.pending_bytes() <= settings.pending_bytes_total,
        "held data {} over budget {}",
        decoder.pending_bytes(),
        settings.pending_bytes_total
    );
    let scopes = decoder.scopes();
    assert_eq!(scopes.len(), decoder.scope_count());
    for s in &scopes {
        assert!(s.templates <= settings.max_templates_per_exporter);
    }
}
