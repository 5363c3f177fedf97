//! `sluice decode FILE`: decode a capture of export traffic, for debugging an exporter.
//!
//! Every datagram goes through the same decoder as `sluice run`, with per-exporter state, in file
//! order, with the capture timestamp as the receive time; the protocol (NetFlow v5, v9, IPFIX,
//! sFlow v5) is read from each datagram. Records go to stdout (JSON lines or a table; in JSON lines,
//! sFlow counter samples too, as objects tagged `"type":"interface_counters"`); a summary goes to
//! stderr, with errors by kind and zero-fill padding (bytes after the
//! last set, which are not errors) in total and per exporter. The exit status is non-zero only when
//! the file cannot be read.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context;
use collector::capture;
use collector::record::display_addr;
use collector::{Decoder, DecoderConfig, ErrorKind, FlowRecord, InterfaceCounters, RecordSink};

/// Output formats.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per flow record.
    Jsonl,
    /// Aligned columns for a terminal.
    Table,
    /// Only the summary on stderr.
    None,
}

/// Arguments of `sluice decode`.
#[derive(clap::Args, Debug)]
pub struct DecodeArgs {
    /// A pcap or pcapng capture of NetFlow v5/v9, IPFIX or sFlow v5 export traffic.
    pub file: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Jsonl)]
    pub format: Format,
    /// Only datagrams to or from this UDP port (default: every UDP datagram).
    #[arg(long)]
    pub port: Option<u16>,
    /// Sampling rate to apply when the exporter states none.
    #[arg(long)]
    pub default_sampling_rate: Option<u32>,
}

/// Run `sluice decode`.
pub fn run(args: &DecodeArgs) -> anyhow::Result<()> {
    let cfg = DecoderConfig {
        default_sampling_rate: args.default_sampling_rate,
        ..DecoderConfig::default()
    };
    let settings = cfg.validate("decoder")?;
    let mut decoder = Decoder::new(settings);
    let stdout = std::io::stdout();
    let mut w = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut write_err: Option<std::io::Error> = None;
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let (mut datagrams, mut records, mut templates, mut held, mut replayed, mut failed) =
        (0u64, 0u64, 0u64, 0u64, 0u64, 0u64);
    if args.format == Format::Table {
        let _ = writeln!(w, "{}", table_header());
    }
    let mut counter_samples = 0u64;
    let cap = capture::for_each_datagram(&args.file, args.port, |ts, d| {
        datagrams += 1;
        let mut sink = Out {
            format: args.format,
            w: &mut w,
            line: &mut line,
            err: &mut write_err,
            counters: &mut counter_samples,
        };
        match decoder.decode(d.src.ip(), d.payload, ts, &mut sink) {
            Ok(s) => {
                records += u64::from(s.records);
                templates += u64::from(s.templates);
                held += u64::from(s.held);
                replayed += u64::from(s.replayed);
            }
            Err(_) => failed += 1,
        }
    })
    .with_context(|| format!("cannot read {}", args.file.display()))?;
    w.flush().ok();
    if let Some(e) = write_err
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        return Err(e).context("writing records");
    }
    let still_pending: usize = decoder.pending_by_exporter().values().sum();
    let stats = decoder.stats();
    let padding: u64 = stats
        .exporters
        .values()
        .chain(std::iter::once(&stats.overflow))
        .map(|s| s.padding_bytes)
        .sum();
    let mut e = std::io::stderr().lock();
    let _ = writeln!(
        e,
        "frames {}  datagrams {}  records {}  interface counters {}  templates learned {}  sets held for a template {} (records replayed {})  sets still pending {}  unreadable datagrams {}  errors {}  padding bytes {}",
        cap.frames,
        datagrams,
        records,
        counter_samples,
        templates,
        held,
        replayed,
        still_pending,
        failed,
        stats.error_count(),
        padding
    );
    if cap.other_port > 0 || !cap.skipped.is_empty() || cap.truncated_file {
        let skips: Vec<String> = cap
            .skipped
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        let _ = writeln!(
            e,
            "frames skipped: other port {}  {}{}",
            cap.other_port,
            skips.join("  "),
            if cap.truncated_file {
                "  (file ends mid-record)"
            } else {
                ""
            }
        );
    }
    let mut exporters: Vec<_> = stats.exporters.iter().collect();
    exporters.sort_by_key(|(a, _)| **a);
    for (addr, s) in exporters {
        let errs: Vec<String> = ErrorKind::ALL
            .iter()
            .filter(|k| s.errors[**k as usize] > 0)
            .map(|k| format!("{} {}", k.as_str(), s.errors[*k as usize]))
            .collect();
        let version = if s.version == collector::VERSION_SFLOW {
            "sflow5".to_string()
        } else {
            format!("v{}", s.version)
        };
        let _ = writeln!(
            e,
            "exporter {}  {}  datagrams {}  records {}  lost in transit (sequence) {}  sequence resets {}  sampling unknown {}  end before start {}  far from export time {}  padding bytes {}  errors: {}",
            display_addr(*addr),
            version,
            s.datagrams,
            s.records,
            s.sequence_lost,
            s.sequence_resets,
            s.sampling_unknown,
            s.time_end_before_start,
            s.time_far_from_export,
            s.padding_bytes,
            if errs.is_empty() {
                "none".to_string()
            } else {
                errs.join(", ")
            }
        );
        if s.version == collector::VERSION_SFLOW {
            let skipped: Vec<String> = s
                .skipped_formats
                .iter()
                .map(|(f, n)| format!("{} {n}", f.label()))
                .collect();
            let _ = writeln!(
                e,
                "  sflow {}  udp source {}  samples lost {}  agent drops {}  sample pool {}  formats skipped: {}",
                display_addr(*addr),
                s.udp_source
                    .map_or("-".to_string(), |a| display_addr(a).to_string()),
                s.samples_lost,
                s.agent_drops,
                s.sample_pool,
                if skipped.is_empty() {
                    "none".to_string()
                } else {
                    skipped.join(", ")
                }
            );
        }
    }
    Ok(())
}

/// Where decoded records and counters go: stdout in the chosen format; the first write error is
/// kept and stops further output.
struct Out<'a, W: Write> {
    format: Format,
    w: &'a mut W,
    line: &'a mut Vec<u8>,
    err: &'a mut Option<std::io::Error>,
    counters: &'a mut u64,
}

impl<W: Write> Out<'_, W> {
    fn write(&mut self, value: &impl serde::Serialize, table: impl FnOnce() -> Option<String>) {
        if self.err.is_some() {
            return;
        }
        let res = match self.format {
            Format::Jsonl => {
                self.line.clear();
                serde_json::to_writer(&mut *self.line, value).expect("a record always serialises");
                self.line.push(b'\n');
                self.w.write_all(self.line)
            }
            Format::Table => match table() {
                Some(row) => writeln!(self.w, "{row}"),
                None => Ok(()),
            },
            Format::None => Ok(()),
        };
        if let Err(e) = res {
            *self.err = Some(e);
        }
    }
}

/// A counter sample as a JSON line: tagged, so that it cannot be taken for a flow record.
#[derive(serde::Serialize)]
struct CountersLine<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(flatten)]
    counters: &'a InterfaceCounters,
}

impl<W: Write> RecordSink for Out<'_, W> {
    fn push(&mut self, rec: &FlowRecord) {
        self.write(rec, || Some(table_row(rec)));
    }

    fn counters(&mut self, c: &InterfaceCounters) {
        *self.counters += 1;
        let line = CountersLine {
            kind: "interface_counters",
            counters: c,
        };
        self.write(&line, || None);
    }
}

fn table_header() -> String {
    format!(
        "{:<24} {:<15} {:>39} {:>39} {:>5} {:>5} {:>5} {:>12} {:>9} {:>6} {:<12}",
        "flow_end",
        "exporter",
        "src_addr",
        "dst_addr",
        "sport",
        "dport",
        "proto",
        "bytes",
        "packets",
        "rate",
        "rate_source"
    )
}

fn table_row(r: &FlowRecord) -> String {
    let opt = |v: Option<u16>| v.map_or("-".to_string(), |v| v.to_string());
    let addr =
        |a: Option<std::net::Ipv6Addr>| a.map_or("-".to_string(), |a| display_addr(a).to_string());
    let end = r.flow_end.map_or("-".to_string(), format_ms);
    format!(
        "{:<24} {:<15} {:>39} {:>39} {:>5} {:>5} {:>5} {:>12} {:>9} {:>6} {:<12}",
        end,
        display_addr(r.exporter).to_string(),
        addr(r.src_addr),
        addr(r.dst_addr),
        opt(r.src_port),
        opt(r.dst_port),
        r.protocol.map_or("-".to_string(), |p| p.to_string()),
        r.bytes,
        r.packets,
        r.sampling_rate,
        r.sampling_source.as_str()
    )
}

/// Unix ms as an RFC 3339 UTC time with milliseconds.
pub fn format_ms(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
        None => format!("{ms} ms"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unix_milliseconds_as_utc() {
        assert_eq!(format_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_ms(1_767_225_600_123), "2026-01-01T00:00:00.123Z");
        assert_eq!(format_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }
}
