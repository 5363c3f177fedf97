//! A synthetic packet capture with known ground truth.
//!
//! Owns: a classic pcap writer (link type Ethernet, microsecond timestamps; the libpcap file format,
//! draft-ietf-opsawg-pcap §4–§5), Ethernet + IPv4 (RFC 791) / IPv6 (RFC 8200) + TCP / UDP framing
//! with correct checksums (RFC 1071; IPv6 pseudo-header RFC 8200 §8.1), and the truth CSV
//! (`src_ip,bytes,packets` per source address, bytes = IP total length, heaviest first).
//! Talkers and conversations come from [`crate::model::TrafficModel`], the same model that
//! feeds the datagram encoder, so a capture and a synthetic export can describe the same traffic.
//! Must never: send packets anywhere, or read the clock (the capture's start time is an argument,
//! so equal arguments give byte-identical files).
//!
//! Real exporters (softflowd -r, pmacctd) read these captures in the end-to-end tests.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::IpAddr;
use std::path::PathBuf;

use crate::Error;
use crate::encode::Flow;
use crate::error::{IoContext, invalid};
use crate::model::TrafficModel;

/// What capture to write (the arguments of `sluice gen-traffic`).
#[derive(clap::Args, Debug, Clone)]
pub struct GenTrafficArgs {
    /// Output capture (classic pcap, Ethernet, microsecond timestamps).
    pub out: PathBuf,
    /// Output ground truth: `src_ip,bytes,packets` per source (bytes = IP total length).
    pub truth: PathBuf,
    /// Packets to write.
    #[arg(long, default_value_t = 100_000)]
    pub packets: u64,
    /// Distinct source hosts (Zipf-ranked talkers).
    #[arg(long, default_value_t = 2000)]
    pub hosts: u32,
    /// Seed: equal arguments give identical files.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Fraction of source hosts that are IPv6 (0 to 1).
    #[arg(long, default_value_t = 0.2)]
    pub v6: f64,
    /// Seconds the packets are spread over, evenly.
    #[arg(long, default_value_t = 300.0)]
    pub duration: f64,
    /// Timestamp of the first packet, Unix seconds (default 2026-01-01T00:00:00Z).
    #[arg(long, default_value_t = 1_767_225_600)]
    pub start: u64,
    /// Zipf exponent of the talkers' popularity.
    #[arg(long, default_value_t = 1.1)]
    pub exponent: f64,
}

/// Per-source totals of a generated capture.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Truth {
    /// Source address → (IP bytes, packets).
    pub per_source: HashMap<IpAddr, (u64, u64)>,
}

impl Truth {
    /// Writes `src_ip,bytes,packets`, heaviest source first (ties by address).
    pub fn write_csv<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        let mut rows: Vec<_> = self.per_source.iter().collect();
        rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.0.cmp(b.0)));
        writeln!(w, "src_ip,bytes,packets")?;
        for (addr, (bytes, packets)) in rows {
            writeln!(w, "{addr},{bytes},{packets}")?;
        }
        w.flush()
    }
}

/// Writes the capture and its truth file as `args` say; prints a summary on stderr.
pub fn run(args: &GenTrafficArgs) -> Result<(), Error> {
    let pcap = File::create(&args.out).context_with(|| format!("creating {:?}", args.out))?;
    let truth = generate(args, BufWriter::new(pcap))?;
    let csv = File::create(&args.truth).context_with(|| format!("creating {:?}", args.truth))?;
    truth
        .write_csv(BufWriter::new(csv))
        .context_with(|| format!("writing {:?}", args.truth))?;
    let bytes: u64 = truth.per_source.values().map(|v| v.0).sum();
    eprintln!(
        "wrote {} packets ({} IP bytes) from {} sources to {:?}; truth in {:?}",
        args.packets,
        bytes,
        truth.per_source.len(),
        args.out,
        args.truth
    );
    Ok(())
}

/// Writes the capture described by `args` to `out`; returns its ground truth.
pub fn generate<W: Write>(args: &GenTrafficArgs, out: W) -> Result<Truth, Error> {
    if !args.duration.is_finite() || args.duration < 0.0 {
        invalid!("--duration must be a finite number of seconds >= 0");
    }
    let start_us = args
        .start
        .checked_mul(1_000_000)
        .filter(|_| args.start.saturating_add(args.duration as u64) <= u64::from(u32::MAX))
        .ok_or_else(|| {
            Error::Invalid("--start plus --duration must fit in 32-bit pcap timestamps".into())
        })?;
    let duration_us = (args.duration * 1e6) as u64;
    let mut model = TrafficModel::new(args.hosts, args.exponent, args.v6, args.seed)?;
    let written = |e| Error::Io {
        context: format!("writing {:?}", args.out),
        source: e,
    };
    let mut pcap = PcapWriter::new(out).map_err(written)?;
    let mut truth = Truth::default();
    let mut frame = Vec::with_capacity(1600);
    for i in 0..args.packets {
        let offset = u128::from(duration_us) * u128::from(i) / u128::from(args.packets);
        let ts_us = start_us + offset as u64;
        let flow = model.next_flow(ts_us / 1000, ts_us / 1000, 1);
        let seq = model.rng().next_u64() as u32;
        build_frame(&mut frame, &flow, i as u16, seq);
        pcap.packet(ts_us, &frame).map_err(written)?;
        let t = truth.per_source.entry(flow.src_addr).or_default();
        t.0 += flow.bytes;
        t.1 += 1;
    }
    pcap.finish().map_err(written)?;
    Ok(truth)
}

/// Locally administered MACs: the capture is from a link between two made-up routers.
const SRC_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const DST_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const TCP_HEADER_LEN: usize = 20;
const UDP_HEADER_LEN: usize = 8;

/// Replaces `buf` with an Ethernet frame carrying one packet of `flow`: IP total length
/// `flow.bytes` (at least the headers), zero payload, every checksum correct.
fn build_frame(buf: &mut Vec<u8>, flow: &Flow, ident: u16, seq: u32) {
    let tcp = flow.protocol == 6;
    let l4_header = if tcp { TCP_HEADER_LEN } else { UDP_HEADER_LEN };
    let ip_header = if flow.src_addr.is_ipv6() { 40 } else { 20 };
    let ip_len = (flow.bytes as usize).clamp(ip_header + l4_header, 65_535);
    let l4_len = ip_len - ip_header;
    buf.clear();
    buf.extend_from_slice(&DST_MAC);
    buf.extend_from_slice(&SRC_MAC);
    let l3 = 14; // two MACs and the ethertype
    let pseudo = match (flow.src_addr, flow.dst_addr) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            buf.extend_from_slice(&0x0800u16.to_be_bytes());
            buf.extend_from_slice(&[0x45, flow.tos]);
            buf.extend_from_slice(&(ip_len as u16).to_be_bytes());
            buf.extend_from_slice(&ident.to_be_bytes());
            buf.extend_from_slice(&[0x40, 0, 64, flow.protocol, 0, 0]); // DF, TTL 64, checksum 0
            buf.extend_from_slice(&s.octets());
            buf.extend_from_slice(&d.octets());
            let sum = checksum(0, &buf[l3..l3 + 20]);
            buf[l3 + 10..l3 + 12].copy_from_slice(&sum.to_be_bytes());
            let pseudo = sum_words(sum_words(0, &s.octets()), &d.octets());
            pseudo + u64::from(flow.protocol) + l4_len as u64
        }
        (s, d) => {
            let (s, d) = (to_v6(s), to_v6(d));
            buf.extend_from_slice(&0x86ddu16.to_be_bytes());
            let first = 0x6000_0000u32 | u32::from(flow.tos) << 20;
            buf.extend_from_slice(&first.to_be_bytes());
            buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
            buf.extend_from_slice(&[flow.protocol, 64]);
            buf.extend_from_slice(&s.octets());
            buf.extend_from_slice(&d.octets());
            let pseudo = sum_words(sum_words(0, &s.octets()), &d.octets());
            pseudo + u64::from(flow.protocol) + l4_len as u64
        }
    };
    let l4 = buf.len();
    buf.extend_from_slice(&flow.src_port.to_be_bytes());
    buf.extend_from_slice(&flow.dst_port.to_be_bytes());
    if tcp {
        buf.extend_from_slice(&seq.to_be_bytes());
        buf.extend_from_slice(&0u32.to_be_bytes()); // ack number
        buf.extend_from_slice(&[0x50, flow.tcp_flags, 0xff, 0xff, 0, 0, 0, 0]);
    } else {
        buf.extend_from_slice(&(l4_len as u16).to_be_bytes());
        buf.extend_from_slice(&[0, 0]);
    }
    buf.resize(l4 + l4_len, 0);
    let mut sum = checksum(pseudo, &buf[l4..]);
    if !tcp && sum == 0 {
        sum = 0xffff; // RFC 768: a computed zero is sent as all ones
    }
    let at = l4 + if tcp { 16 } else { 6 };
    buf[at..at + 2].copy_from_slice(&sum.to_be_bytes());
}

fn to_v6(a: IpAddr) -> std::net::Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

/// Adds `data` as big-endian 16-bit words (odd tail padded with zero) to `acc`.
fn sum_words(acc: u64, data: &[u8]) -> u64 {
    let mut words = data.chunks_exact(2);
    let mut acc = words
        .by_ref()
        .fold(acc, |a, w| a + u64::from(u16::from_be_bytes([w[0], w[1]])));
    if let [last] = words.remainder() {
        acc += u64::from(*last) << 8;
    }
    acc
}

/// The Internet checksum (RFC 1071) of `data` on top of the partial sum `acc`.
fn checksum(acc: u64, data: &[u8]) -> u16 {
    let mut sum = sum_words(acc, data);
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Classic pcap file writer: little-endian, version 2.4, microsecond timestamps, Ethernet.
struct PcapWriter<W: Write> {
    out: W,
}

impl<W: Write> PcapWriter<W> {
    const SNAPLEN: u32 = 65_535;
    const LINKTYPE_ETHERNET: u32 = 1;

    fn new(mut out: W) -> std::io::Result<Self> {
        out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?;
        out.write_all(&2u16.to_le_bytes())?;
        out.write_all(&4u16.to_le_bytes())?;
        out.write_all(&[0; 8])?; // thiszone, sigfigs
        out.write_all(&Self::SNAPLEN.to_le_bytes())?;
        out.write_all(&Self::LINKTYPE_ETHERNET.to_le_bytes())?;
        Ok(PcapWriter { out })
    }

    /// One packet, captured whole, at `ts_us` Unix microseconds (seconds must fit in 32 bits).
    fn packet(&mut self, ts_us: u64, data: &[u8]) -> std::io::Result<()> {
        let mut header = [0u8; 16];
        header[0..4].copy_from_slice(&((ts_us / 1_000_000) as u32).to_le_bytes());
        header[4..8].copy_from_slice(&((ts_us % 1_000_000) as u32).to_le_bytes());
        header[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
        header[12..16].copy_from_slice(&(data.len() as u32).to_le_bytes());
        self.out.write_all(&header)?;
        self.out.write_all(data)
    }

    fn finish(mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pnet_packet::Packet;
    use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
    use pnet_packet::ip::IpNextHeaderProtocols;
    use pnet_packet::ipv4::{self, Ipv4Packet};
    use pnet_packet::ipv6::Ipv6Packet;
    use pnet_packet::tcp::{self, TcpPacket};
    use pnet_packet::udp::{self, UdpPacket};

    fn args(packets: u64) -> GenTrafficArgs {
        GenTrafficArgs {
            out: PathBuf::new(),
            truth: PathBuf::new(),
            packets,
            hosts: 300,
            seed: 1,
            v6: 0.2,
            duration: 10.0,
            start: 1_767_225_600,
            exponent: 1.1,
        }
    }

    #[test]
    fn ipv4_header_checksum_matches_rfc_1071_worked_example() {
        let header = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(0, &header), 0xb861);
        assert_eq!(checksum(0, &[0x01]), !0x0100);
    }

    #[test]
    fn frames_have_the_flow_size_and_checksums_pnet_agrees_with() {
        let mut model = TrafficModel::new(1000, 1.0, 0.5, 3).unwrap();
        let mut buf = Vec::new();
        let (mut v4, mut v6, mut udp_seen) = (0, 0, 0);
        for i in 0..2000u16 {
            let flow = model.next_flow(0, 0, 1);
            build_frame(&mut buf, &flow, i, u32::from(i) * 7);
            let eth = EthernetPacket::new(&buf).unwrap();
            assert_eq!(buf.len() - 14, flow.bytes as usize);
            let (l4, proto, src, dst) = match eth.get_ethertype() {
                EtherTypes::Ipv4 => {
                    v4 += 1;
                    let ip = Ipv4Packet::new(eth.payload()).unwrap();
                    assert_eq!(ip.get_checksum(), ipv4::checksum(&ip));
                    assert_eq!(u64::from(ip.get_total_length()), flow.bytes);
                    let (s, d) = (ip.get_source().into(), ip.get_destination().into());
                    (ip.payload().to_vec(), ip.get_next_level_protocol(), s, d)
                }
                EtherTypes::Ipv6 => {
                    v6 += 1;
                    let ip = Ipv6Packet::new(eth.payload()).unwrap();
                    assert_eq!(usize::from(ip.get_payload_length()) + 40, buf.len() - 14);
                    let (s, d) = (ip.get_source().into(), ip.get_destination().into());
                    (ip.payload().to_vec(), ip.get_next_header(), s, d)
                }
                other => panic!("unexpected ethertype {other}"),
            };
            assert_eq!((src, dst), (flow.src_addr, flow.dst_addr));
            let ok = match (proto, src, dst) {
                (IpNextHeaderProtocols::Tcp, IpAddr::V4(s), IpAddr::V4(d)) => {
                    let p = TcpPacket::new(&l4).unwrap();
                    p.get_checksum() == tcp::ipv4_checksum(&p, &s, &d)
                }
                (IpNextHeaderProtocols::Tcp, IpAddr::V6(s), IpAddr::V6(d)) => {
                    let p = TcpPacket::new(&l4).unwrap();
                    p.get_checksum() == tcp::ipv6_checksum(&p, &s, &d)
                }
                (IpNextHeaderProtocols::Udp, IpAddr::V4(s), IpAddr::V4(d)) => {
                    udp_seen += 1;
                    let p = UdpPacket::new(&l4).unwrap();
                    assert_eq!(usize::from(p.get_length()), l4.len());
                    p.get_checksum() == udp::ipv4_checksum(&p, &s, &d)
                }
                (IpNextHeaderProtocols::Udp, IpAddr::V6(s), IpAddr::V6(d)) => {
                    udp_seen += 1;
                    let p = UdpPacket::new(&l4).unwrap();
                    p.get_checksum() == udp::ipv6_checksum(&p, &s, &d)
                }
                other => panic!("unexpected protocol/family {other:?}"),
            };
            assert!(ok, "bad transport checksum in frame {i}");
        }
        assert!(v4 > 0 && v6 > 0 && udp_seen > 0, "{v4} {v6} {udp_seen}");
    }

    #[test]
    fn same_arguments_give_identical_captures_and_truth() {
        let run = |seed| {
            let mut pcap = Vec::new();
            let a = GenTrafficArgs { seed, ..args(500) };
            let truth = generate(&a, &mut pcap).unwrap();
            (pcap, truth)
        };
        let (a, ta) = run(1);
        let (b, tb) = run(1);
        assert_eq!(a, b);
        assert_eq!(ta, tb);
        assert_ne!(a, run(2).0);
    }

    #[test]
    fn truth_csv_lists_heaviest_source_first() {
        let mut truth = Truth::default();
        truth
            .per_source
            .insert("10.0.0.2".parse().unwrap(), (100, 1));
        truth
            .per_source
            .insert("2001:db8::1".parse().unwrap(), (300, 2));
        truth
            .per_source
            .insert("10.0.0.1".parse().unwrap(), (100, 1));
        let mut out = Vec::new();
        truth.write_csv(&mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "src_ip,bytes,packets\n2001:db8::1,300,2\n10.0.0.1,100,1\n10.0.0.2,100,1\n"
        );
    }

    #[test]
    fn rejects_bad_duration_start_and_fraction() {
        let mut sink = Vec::new();
        for bad in [
            GenTrafficArgs {
                duration: f64::NAN,
                ..args(1)
            },
            GenTrafficArgs {
                start: u64::from(u32::MAX),
                ..args(1)
            },
            GenTrafficArgs { v6: 2.0, ..args(1) },
            GenTrafficArgs {
                hosts: 0,
                ..args(1)
            },
        ] {
            assert!(generate(&bad, &mut sink).is_err(), "{bad:?}");
        }
    }
}
