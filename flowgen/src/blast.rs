//! The load generator behind `sluice blast`.
//!
//! Owns: building, per simulated exporter, a pool of realistic export datagrams (the 18-field
//! templates of [`crate::encode`], Zipf talkers from [`TrafficModel`], templates in the first
//! datagram and again every `--template-every` datagrams), then sending them round robin from one
//! socket per exporter (each bound to its own loopback source address, 127.0.0.X, so the collector
//! sees several exporters) with `sendmmsg` batches, paced to `--rate`. Header export times and
//! sequence numbers are patched as the pool is reused. Prints the achieved rate, and on stdout a
//! `key=value` line the benchmark script reads.
//! Must never: send anywhere but where it is told, or to a non-loopback address without
//! `--allow-remote`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::socket::BATCH_SIZE;

use crate::Error;
use crate::encode::{self, Flow, IpfixHeader, V5_MAX_RECORDS, V5Header, V9Header};
use crate::error::invalid;
use crate::model::TrafficModel;
use crate::replay::{check_target, connected_socket, send_all};

/// Export protocol to generate.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Proto {
    /// NetFlow v5 (IPv4 only).
    V5,
    /// NetFlow v9.
    V9,
    /// IPFIX.
    Ipfix,
}

/// What load to send, where and how fast (the arguments of `sluice blast`).
#[derive(clap::Args, Debug, Clone)]
pub struct BlastArgs {
    /// Where to send, e.g. 127.0.0.1:2055.
    #[arg(long)]
    pub to: SocketAddr,
    /// Export protocol.
    #[arg(long, value_enum, default_value = "ipfix")]
    pub proto: Proto,
    /// Datagrams per second over all exporters (0: as fast as possible).
    #[arg(long, default_value_t = 10_000.0)]
    pub rate: f64,
    /// Seconds to send.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// Simulated exporters, each with its own source address (127.0.0.X on IPv4 loopback).
    #[arg(long, default_value_t = 4)]
    pub exporters: u32,
    /// Distinct talkers (Zipf-ranked source hosts).
    #[arg(long, default_value_t = 10_000)]
    pub hosts: u32,
    /// Flow records per datagram (at most 30 for v5).
    #[arg(long, default_value_t = 30)]
    pub records: usize,
    /// Re-send the templates every this many datagrams per exporter (v9/IPFIX).
    #[arg(long, default_value_t = 1000)]
    pub template_every: usize,
    /// Fraction of talkers that are IPv6 (forced to 0 for v5).
    #[arg(long, default_value_t = 0.2)]
    pub v6: f64,
    /// Seed of the traffic model.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Allow a target outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
}

struct Exporter {
    sock: UdpSocket,
    pool: Vec<Vec<u8>>,
    records: Vec<u64>,
    packets: Vec<u64>,
    next: usize,
    sequence: u32,
}

fn unix_now() -> (u32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.subsec_nanos())
}

/// Datagrams of one exporter with their record and packet counts.
type Pool = (Vec<Vec<u8>>, Vec<u64>, Vec<u64>);

/// Build `n` datagrams for one exporter; the first carries the templates.
fn build_pool(args: &BlastArgs, exporter: u32, n: usize) -> Result<Pool, Error> {
    let v6 = if args.proto == Proto::V5 {
        0.0
    } else {
        args.v6
    };
    let mut model = TrafficModel::new(args.hosts, 1.1, v6, args.seed ^ u64::from(exporter) << 32)?;
    let (secs, _) = unix_now();
    let now_ms = u64::from(secs) * 1000;
    let uptime: u32 = 3_600_000;
    let mut pool = Vec::with_capacity(n);
    let mut counts = Vec::with_capacity(n);
    let mut packet_counts = Vec::with_capacity(n);
    let mut flows: Vec<Flow> = Vec::with_capacity(args.records);
    let mut seq = 0u32;
    for i in 0..n {
        flows.clear();
        for _ in 0..args.records {
            let packets = 1 + model.rng().below(50);
            let end = now_ms - model.rng().below(5_000);
            let start = end - model.rng().below(30_000);
            flows.push(model.next_flow(start, end, packets));
        }
        let mut out = Vec::with_capacity(2048);
        let with_templates = i == 0;
        match args.proto {
            Proto::V5 => {
                let h = V5Header {
                    sys_uptime_ms: uptime,
                    unix_secs: secs,
                    flow_sequence: seq,
                    engine_id: exporter as u8,
                    ..V5Header::default()
                };
                encode::encode_v5(&mut out, &h, &flows)
            }
            Proto::V9 => {
                let h = V9Header {
                    sys_uptime_ms: uptime,
                    unix_secs: secs,
                    sequence: i as u32,
                    source_id: exporter,
                };
                encode::encode_v9(&mut out, &h, &flows, with_templates)
            }
            Proto::Ipfix => {
                let h = IpfixHeader {
                    export_time: secs,
                    sequence: seq,
                    domain_id: exporter,
                };
                encode::encode_ipfix(&mut out, &h, &flows, with_templates)
            }
        }?;
        seq = seq.wrapping_add(flows.len() as u32);
        pool.push(out);
        counts.push(flows.len() as u64);
        packet_counts.push(flows.iter().map(|f| f.packets).sum());
    }
    Ok((pool, counts, packet_counts))
}

/// Rewrite the export time and sequence number of a pooled datagram before it is sent again.
fn patch_header(proto: Proto, d: &mut [u8], secs: u32, sequence: u32) {
    let put = |d: &mut [u8], at: usize, v: u32| {
        if let Some(s) = d.get_mut(at..at + 4) {
            s.copy_from_slice(&v.to_be_bytes());
        }
    };
    match proto {
        Proto::V5 => {
            put(d, 8, secs);
            put(d, 16, sequence);
        }
        Proto::V9 => {
            put(d, 8, secs);
            put(d, 12, sequence);
        }
        Proto::Ipfix => {
            put(d, 4, secs);
            put(d, 8, sequence);
        }
    }
}

/// Sends the load `args` describe; prints the achieved rate on stderr and a `key=value` line
/// (datagrams, records, packets, seconds, rates, failed) on stdout.
pub fn run(args: &BlastArgs) -> Result<(), Error> {
    check_target(args.to, args.allow_remote)?;
    if !(args.rate.is_finite() && args.rate >= 0.0) {
        invalid!("--rate must be >= 0");
    }
    if !(args.duration.is_finite() && args.duration > 0.0) {
        invalid!("--duration must be > 0");
    }
    if !(1..=250).contains(&args.exporters) {
        invalid!("--exporters must be 1 to 250");
    }
    let max_records = if args.proto == Proto::V5 {
        V5_MAX_RECORDS
    } else {
        200
    };
    if !(1..=max_records).contains(&args.records) {
        invalid!("--records must be 1 to {max_records} for this protocol");
    }
    let pool_len = args.template_every.clamp(1, 100_000);
    let mut exporters = Vec::new();
    for e in 0..args.exporters {
        let from = match args.to.ip() {
            IpAddr::V4(a) if a.is_loopback() => {
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + e as u8)))
            }
            _ => None,
        };
        let sock = connected_socket(args.to, from)?;
        let (pool, records, packets) = build_pool(args, e, pool_len)?;
        exporters.push(Exporter {
            sock,
            pool,
            records,
            packets,
            next: 0,
            sequence: 0,
        });
    }
    let total = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let (mut sent, mut records, mut packets, mut failed) = (0u64, 0u64, 0u64, 0u64);
    let mut which = 0usize;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= total {
            break;
        }
        let chunk = if args.rate > 0.0 {
            let due = (args.rate * elapsed.as_secs_f64()) as u64;
            let owed = due.saturating_sub(sent + failed) as usize;
            if owed == 0 {
                let next = Duration::from_secs_f64((sent + failed + 1) as f64 / args.rate);
                std::thread::sleep(next.saturating_sub(elapsed).min(Duration::from_millis(5)));
                continue;
            }
            owed.min(BATCH_SIZE)
        } else {
            BATCH_SIZE
        };
        let (secs, _) = unix_now();
        let ex = &mut exporters[which];
        which = (which + 1) % args.exporters as usize;
        let first = ex.next;
        let n = chunk.min(ex.pool.len() - first);
        let mut seq = ex.sequence;
        for i in first..first + n {
            let s = if args.proto == Proto::V9 {
                ex.sequence.wrapping_add((i - first) as u32)
            } else {
                seq
            };
            patch_header(args.proto, &mut ex.pool[i], secs, s);
            seq = seq.wrapping_add(ex.records[i] as u32);
        }
        let msgs: Vec<&[u8]> = ex.pool[first..first + n]
            .iter()
            .map(|d| d.as_slice())
            .collect();
        let (s, f) = send_all(&ex.sock, &msgs);
        sent += s;
        failed += f;
        // With a short write, count the records of what was sent (in order).
        records += ex.records[first..first + s as usize].iter().sum::<u64>();
        packets += ex.packets[first..first + s as usize].iter().sum::<u64>();
        ex.sequence = if args.proto == Proto::V9 {
            ex.sequence.wrapping_add(n as u32)
        } else {
            seq
        };
        ex.next = (first + n) % ex.pool.len();
    }
    let secs = start.elapsed().as_secs_f64();
    eprintln!(
        "blast {:?} to {}: {} datagrams, {} records in {:.2} s from {} exporters: {:.0} datagrams/s, {:.0} records/s{}",
        args.proto,
        args.to,
        sent,
        records,
        secs,
        args.exporters,
        sent as f64 / secs,
        records as f64 / secs,
        if failed > 0 {
            format!(" ({failed} failed)")
        } else {
            String::new()
        }
    );
    println!(
        "datagrams={sent} records={records} packets={packets} seconds={secs:.3} datagrams_per_sec={:.0} records_per_sec={:.0} failed={failed}",
        sent as f64 / secs,
        records as f64 / secs
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use collector::{Decoder, DecoderSettings};

    fn args(proto: Proto) -> BlastArgs {
        BlastArgs {
            to: "127.0.0.1:9".parse().unwrap(),
            proto,
            rate: 0.0,
            duration: 1.0,
            exporters: 1,
            hosts: 100,
            records: 30,
            template_every: 5,
            v6: 0.2,
            seed: 1,
            allow_remote: false,
        }
    }

    #[test]
    fn pooled_datagrams_decode_to_the_counted_records_after_patching() {
        for proto in [Proto::V5, Proto::V9, Proto::Ipfix] {
            let (mut pool, counts, packets) = build_pool(&args(proto), 3, 5).unwrap();
            let mut d = Decoder::new(DecoderSettings::default());
            let mut out = Vec::new();
            for (i, dg) in pool.iter_mut().enumerate() {
                patch_header(proto, dg, 1_800_000_000, i as u32 * 30);
                let s = d
                    .decode(
                        "127.0.0.4".parse().unwrap(),
                        dg,
                        1_800_000_000_000,
                        &mut out,
                    )
                    .unwrap();
                assert_eq!(u64::from(s.records), counts[i], "{proto:?} datagram {i}");
                let n = out.len();
                let got: u64 = out[n - counts[i] as usize..]
                    .iter()
                    .map(|r: &collector::FlowRecord| r.packets)
                    .sum();
                assert_eq!(got, packets[i], "{proto:?} datagram {i} packets");
            }
            assert_eq!(out.len(), 150, "{proto:?}");
        }
    }
}
