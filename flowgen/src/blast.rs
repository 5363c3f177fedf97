//! The load generator behind `sluice blast`.
//!
//! Owns: building, per simulated exporter, a pool of realistic export datagrams (the 18-field
//! templates of [`crate::encode`], Zipf talkers from [`TrafficModel`], templates in the first
//! datagram and again every `--template-every` datagrams), then sending them round robin from one
//! socket per exporter (each bound to its own loopback source address, 127.0.0.X, so the collector
//! sees several exporters) with `sendmmsg` batches, paced to `--rate`. Header export times and
//! sequence numbers are patched as the pool is reused. Prints the achieved rate, and on stdout a
//! `key=value` line the benchmark script reads.
//!
//! sFlow (`--proto sflow`) is sent the way a switch agent sends it: the agent address is the
//! exporter's source address, each record is a compact flow sample of one packet (a raw packet
//! header record and an extended switch record, [`crate::encode::sflow`]) from the data source of
//! its input interface, at `--sampling-rate`, as many per datagram as fit 1,400 bytes (at most
//! `--records`). The datagram sequence counts datagrams per agent; each sample's sequence number
//! and sample pool are patched per data source as the pool is reused, so a collector sees no gap.
//! Must never: send anywhere but where it is told, or to a non-loopback address without
//! `--allow-remote`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use collector::socket::BATCH_SIZE;

use crate::Error;
use crate::encode::sflow::{self, ExtendedSwitch, FlowRecords, FlowSampleHeader};
use crate::encode::{self, Flow, IpfixHeader, V5_MAX_RECORDS, V5Header, V9Header};
use crate::error::{IoContext, invalid};
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
    /// sFlow v5 (flow samples; each record is one sampled packet).
    Sflow,
}

impl Proto {
    /// Whether the header's sequence number counts datagrams (NetFlow v9, sFlow) rather than
    /// records (v5, IPFIX).
    fn sequence_counts_datagrams(self) -> bool {
        matches!(self, Proto::V9 | Proto::Sflow)
    }
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
    /// Flow records per datagram (at most 30 for v5). sFlow: flow samples, at most this many and
    /// as many as fit 1,400 bytes.
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
    /// sFlow: 1 in N packets sampled, as every flow sample states it (1: every packet).
    #[arg(long, default_value_t = 1)]
    pub sampling_rate: u32,
    /// Allow a target outside 127.0.0.0/8 and ::1.
    #[arg(long)]
    pub allow_remote: bool,
}

struct Exporter {
    sock: UdpSocket,
    pool: Vec<Vec<u8>>,
    records: Vec<u64>,
    packets: Vec<u64>,
    samples: Vec<Vec<SamplePatch>>,
    /// sFlow: each data source's last sample sequence number and sample pool.
    sources: Vec<(u32, u32)>,
    next: usize,
    sequence: u32,
}

/// sFlow: where a pooled datagram's flow sample starts, and the slot of its data source in
/// [`Exporter::sources`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SamplePatch {
    at: usize,
    source: usize,
}

fn unix_now() -> (u32, u32) {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as u32, d.subsec_nanos())
}

/// Datagrams of one exporter with their record and packet counts.
#[derive(Debug, Default)]
struct Pool {
    datagrams: Vec<Vec<u8>>,
    records: Vec<u64>,
    packets: Vec<u64>,
    /// sFlow: each datagram's flow samples.
    samples: Vec<Vec<SamplePatch>>,
    /// sFlow: the data sources the samples come from.
    sources: usize,
}

/// The exporter's uptime when the load starts; header times follow the clock from there.
const UPTIME_MS: u32 = 3_600_000;

/// Build `n` datagrams for one exporter; the first carries the templates. `agent` is the
/// exporter's address (sFlow's agent address).
fn build_pool(args: &BlastArgs, exporter: u32, agent: IpAddr, n: usize) -> Result<Pool, Error> {
    let v6 = if args.proto == Proto::V5 {
        0.0
    } else {
        args.v6
    };
    let mut model = TrafficModel::new(args.hosts, 1.1, v6, args.seed ^ u64::from(exporter) << 32)?;
    if args.proto == Proto::Sflow {
        return sflow_pool(args, &mut model, agent, n);
    }
    let (secs, _) = unix_now();
    let now_ms = u64::from(secs) * 1000;
    let uptime = UPTIME_MS;
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
            Proto::Sflow => unreachable!("sFlow pools are built by sflow_pool"),
        }?;
        seq = seq.wrapping_add(flows.len() as u32);
        pool.push(out);
        counts.push(flows.len() as u64);
        packet_counts.push(flows.iter().map(|f| f.packets).sum());
    }
    Ok(Pool {
        datagrams: pool,
        records: counts,
        packets: packet_counts,
        ..Pool::default()
    })
}

/// The flow records of a blast sFlow sample: an extended switch record with the VLAN of the
/// input interface (100 + ifIndex), as switches send it; the frame itself is untagged.
fn sflow_records(flow: &Flow) -> FlowRecords {
    let vlan = 100 + flow.in_if;
    FlowRecords {
        switch: Some(ExtendedSwitch {
            src_vlan: vlan,
            src_priority: 0,
            dst_vlan: vlan,
            dst_priority: 0,
        }),
        ..FlowRecords::default()
    }
}

/// Build `n` sFlow datagrams for one agent: flow samples of one packet each, as many as fit
/// [`sflow::DATAGRAM_BUDGET`] bytes and at most `--records`. Sequence numbers and sample pools
/// are written when sent ([`patch_samples`]).
fn sflow_pool(
    args: &BlastArgs,
    model: &mut TrafficModel,
    agent: IpAddr,
    n: usize,
) -> Result<Pool, Error> {
    let (secs, _) = unix_now();
    let now_ms = u64::from(secs) * 1000;
    let mut pool = Pool::default();
    let mut sources: Vec<u32> = Vec::new();
    let mut carry: Option<Flow> = None;
    for i in 0..n {
        let mut out = Vec::with_capacity(sflow::DATAGRAM_BUDGET);
        let h = sflow::Header {
            agent,
            sub_agent: 0,
            sequence: i as u32,
            uptime_ms: UPTIME_MS,
        };
        let mut d = sflow::Datagram::new(&mut out, &h);
        let mut samples = Vec::new();
        while (d.samples() as usize) < args.records {
            // One sampled packet: `bytes` is its IP length.
            let flow = carry
                .take()
                .unwrap_or_else(|| model.next_flow(now_ms, now_ms, 1));
            let records = sflow_records(&flow);
            let len = sflow::flow_sample_len(&flow, &records, false)?;
            if d.samples() > 0 && d.len() + len > sflow::DATAGRAM_BUDGET {
                carry = Some(flow);
                break;
            }
            let source = match sources.iter().position(|&s| s == flow.in_if) {
                Some(slot) => slot,
                None => {
                    sources.push(flow.in_if);
                    sources.len() - 1
                }
            };
            let s = FlowSampleHeader {
                expanded: false,
                sequence: 0,
                source_id_type: 0,
                source_id_index: flow.in_if,
                sampling_rate: args.sampling_rate,
                sample_pool: 0,
                drops: 0,
            };
            let at = d.flow_sample(&s, &flow, &records)?;
            samples.push(SamplePatch { at, source });
        }
        let count = u64::from(d.samples());
        d.finish();
        pool.datagrams.push(out);
        pool.records.push(count);
        // Each sample is one sampled packet (not scaled by the rate).
        pool.packets.push(count);
        pool.samples.push(samples);
    }
    pool.sources = sources.len();
    Ok(pool)
}

/// sFlow: write each flow sample's sequence number and sample pool, per data source, before the
/// datagram is sent (again).
fn patch_samples(d: &mut [u8], samples: &[SamplePatch], sources: &mut [(u32, u32)], rate: u32) {
    for s in samples {
        let Some((seq, pool)) = sources.get_mut(s.source) else {
            continue;
        };
        *seq = seq.wrapping_add(1);
        *pool = pool.wrapping_add(rate);
        put(d, s.at + sflow::SAMPLE_SEQUENCE_AT, *seq);
        put(d, s.at + sflow::sample_pool_at(false), *pool);
    }
}

fn put(d: &mut [u8], at: usize, v: u32) {
    if let Some(s) = d.get_mut(at..at + 4) {
        s.copy_from_slice(&v.to_be_bytes());
    }
}

/// Rewrite the export time (sFlow: the agent's uptime) and sequence number of a pooled datagram
/// before it is sent again.
fn patch_header(proto: Proto, d: &mut [u8], secs: u32, uptime_ms: u32, sequence: u32) {
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
        Proto::Sflow => {
            // The agent's address type says where the sequence is.
            let v6 = d.get(4..8) == Some(&[0, 0, 0, 2]);
            let at = sflow::datagram_sequence_at(v6);
            put(d, at, sequence);
            put(d, at + 4, uptime_ms);
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
    if args.sampling_rate == 0 {
        invalid!("--sampling-rate must be at least 1");
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
        let agent = sock
            .local_addr()
            .context_with(|| "reading a send socket's address".to_string())?
            .ip();
        let pool = build_pool(args, e, agent, pool_len)?;
        exporters.push(Exporter {
            sock,
            pool: pool.datagrams,
            records: pool.records,
            packets: pool.packets,
            samples: pool.samples,
            sources: vec![(0, 0); pool.sources],
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
        let uptime = UPTIME_MS.wrapping_add(start.elapsed().as_millis() as u32);
        let ex = &mut exporters[which];
        which = (which + 1) % args.exporters as usize;
        let first = ex.next;
        let n = chunk.min(ex.pool.len() - first);
        let mut seq = ex.sequence;
        for i in first..first + n {
            let s = if args.proto.sequence_counts_datagrams() {
                ex.sequence.wrapping_add((i - first) as u32)
            } else {
                seq
            };
            patch_header(args.proto, &mut ex.pool[i], secs, uptime, s);
            if let Some(samples) = ex.samples.get(i) {
                patch_samples(
                    &mut ex.pool[i],
                    samples,
                    &mut ex.sources,
                    args.sampling_rate,
                );
            }
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
        ex.sequence = if args.proto.sequence_counts_datagrams() {
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
    use collector::record::to_v6;
    use collector::{Decoder, DecoderSettings, FlowRecord};

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
            sampling_rate: 1,
            allow_remote: false,
        }
    }

    const AGENT: &str = "127.0.0.4";

    #[test]
    fn pooled_datagrams_decode_to_the_counted_records_after_patching() {
        for proto in [Proto::V5, Proto::V9, Proto::Ipfix] {
            let mut pool = build_pool(&args(proto), 3, AGENT.parse().unwrap(), 5).unwrap();
            let mut d = Decoder::new(DecoderSettings::default());
            let mut out = Vec::new();
            for (i, dg) in pool.datagrams.iter_mut().enumerate() {
                patch_header(proto, dg, 1_800_000_000, 0, i as u32 * 30);
                let s = d
                    .decode(AGENT.parse().unwrap(), dg, 1_800_000_000_000, &mut out)
                    .unwrap();
                let want = pool.records[i];
                assert_eq!(u64::from(s.records), want, "{proto:?} datagram {i}");
                let n = out.len();
                let got: u64 = out[n - want as usize..]
                    .iter()
                    .map(|r: &FlowRecord| r.packets)
                    .sum();
                assert_eq!(got, pool.packets[i], "{proto:?} datagram {i} packets");
            }
            assert_eq!(out.len(), 150, "{proto:?}");
        }
    }

    #[test]
    fn sflow_pool_resent_twice_decodes_without_a_gap_in_any_sequence() {
        let a = BlastArgs {
            sampling_rate: 64,
            ..args(Proto::Sflow)
        };
        let agent: IpAddr = AGENT.parse().unwrap();
        let pool = build_pool(&a, 3, agent, 40).unwrap();
        let per_datagram = pool.records.iter().copied();
        let (min, max) = (
            per_datagram.clone().min().unwrap(),
            per_datagram.max().unwrap(),
        );
        assert!(
            (5..=10).contains(&min) && max <= 10,
            "{min}..{max} samples a datagram"
        );
        assert!(
            pool.datagrams
                .iter()
                .all(|d| d.len() <= sflow::DATAGRAM_BUDGET)
        );
        assert_eq!(pool.records, pool.packets, "one sampled packet a sample");
        assert!(pool.sources >= 2, "samples from several data sources");

        // Two rounds over the pool, patched as `run` patches them.
        let mut ex_sources = vec![(0u32, 0u32); pool.sources];
        let mut datagrams = pool.datagrams.clone();
        let mut dec = Decoder::new(DecoderSettings::default());
        let mut out = Vec::new();
        let mut sequence = 0u32;
        for _round in 0..2 {
            for (i, dg) in datagrams.iter_mut().enumerate() {
                patch_header(Proto::Sflow, dg, 0, 3_600_000 + sequence, sequence);
                patch_samples(dg, &pool.samples[i], &mut ex_sources, a.sampling_rate);
                sequence += 1;
                let s = dec.decode(agent, dg, 1_800_000_000_000, &mut out).unwrap();
                assert_eq!(u64::from(s.records), pool.records[i]);
                assert_eq!(s.error_count(), 0);
            }
        }
        let sent: u64 = 2 * pool.records.iter().sum::<u64>();
        assert_eq!(out.len() as u64, sent);
        let st = &dec.stats().exporters[&to_v6(agent)];
        assert_eq!(st.records, sent);
        assert_eq!(
            (st.sequence_lost, st.samples_lost, st.sequence_resets),
            (0, 0, 0)
        );
        // Each data source's pool grows by the rate with every sample after its first.
        assert_eq!(st.sample_pool, 64 * (sent - pool.sources as u64));
        for r in &out {
            assert_eq!((r.packets, r.sampling_rate), (1, 64));
            assert!(
                crate::model::PACKET_SIZES.contains(&(r.bytes as u16)),
                "{}",
                r.bytes
            );
            let in_if = r.in_if.unwrap();
            assert_eq!(r.vlan, Some(100 + in_if as u16));
            assert_eq!(
                r.sampler_id,
                Some(in_if),
                "data source: ifIndex of the input"
            );
            assert_eq!(r.exporter, to_v6(agent));
        }
    }
}
