//! Reading export traffic from capture files (pcap and pcapng), for `sluice decode` and
//! `sluice replay`.
//!
//! Owns: link-layer handling (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP, BSD
//! loopback), IPv4/IPv6 and UDP header parsing with pnet's packet types, and the file readers.
//! UDP checksums are ignored on purpose: loopback captures carry incomplete ones.
//! Must never: panic on a malformed frame (frames that are not whole UDP datagrams are counted and
//! skipped), or decode flow export (that is the decoder's job).

use std::fs::File;
use std::io::BufReader;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::blocks::interface_description::InterfaceDescriptionOption;
use pcap_file::pcapng::{Block, PcapNgReader};
use pnet_packet::ipv4::Ipv4Packet;
use pnet_packet::ipv6::Ipv6Packet;
use pnet_packet::udp::UdpPacket;

/// Link-layer header types (tcpdump.org registry) this module reads.
pub mod linktype {
    /// BSD loopback, host byte order family.
    pub const NULL: u32 = 0;
    /// Ethernet.
    pub const ETHERNET: u32 = 1;
    /// Raw IP (some platforms).
    pub const RAW_ALT: u32 = 12;
    /// Raw IP.
    pub const RAW: u32 = 101;
    /// OpenBSD loopback, network byte order family.
    pub const LOOP: u32 = 108;
    /// Linux cooked capture v1.
    pub const LINUX_SLL: u32 = 113;
    /// Raw IPv4.
    pub const IPV4: u32 = 228;
    /// Raw IPv6.
    pub const IPV6: u32 = 229;
    /// Linux cooked capture v2.
    pub const LINUX_SLL2: u32 = 276;
}

/// A UDP datagram found in a frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram<'a> {
    /// Sender.
    pub src: SocketAddr,
    /// Receiver.
    pub dst: SocketAddr,
    /// UDP payload.
    pub payload: &'a [u8],
}

/// Why a frame gave no datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Skip {
    /// The link type is not one this module reads.
    LinkType,
    /// Not IPv4 or IPv6.
    NotIp,
    /// IP but not UDP.
    NotUdp,
    /// An IP fragment (export datagrams are not reassembled).
    Fragment,
    /// A header is cut short or its length fields are inconsistent.
    Truncated,
}

impl Skip {
    /// Stable name for summaries.
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::LinkType => "unsupported_link_type",
            Skip::NotIp => "not_ip",
            Skip::NotUdp => "not_udp",
            Skip::Fragment => "ip_fragment",
            Skip::Truncated => "truncated_frame",
        }
    }
}

/// Find the UDP datagram in one captured frame.
pub fn udp_in_frame(linktype: u32, frame: &[u8]) -> Result<Datagram<'_>, Skip> {
    let ip = match linktype {
        linktype::ETHERNET => {
            let mut at = 12;
            loop {
                let et = frame.get(at..at + 2).ok_or(Skip::Truncated)?;
                let et = u16::from_be_bytes([et[0], et[1]]);
                at += 2;
                match et {
                    0x8100 | 0x88a8 | 0x9100 => at += 2, // VLAN tag: skip TCI
                    0x0800 | 0x86dd => break,
                    _ => return Err(Skip::NotIp),
                }
            }
            frame.get(at..).ok_or(Skip::Truncated)?
        }
        linktype::LINUX_SLL => {
            let p = frame.get(14..16).ok_or(Skip::Truncated)?;
            if !matches!(u16::from_be_bytes([p[0], p[1]]), 0x0800 | 0x86dd) {
                return Err(Skip::NotIp);
            }
            frame.get(16..).ok_or(Skip::Truncated)?
        }
        linktype::LINUX_SLL2 => {
            let p = frame.get(0..2).ok_or(Skip::Truncated)?;
            if !matches!(u16::from_be_bytes([p[0], p[1]]), 0x0800 | 0x86dd) {
                return Err(Skip::NotIp);
            }
            frame.get(20..).ok_or(Skip::Truncated)?
        }
        linktype::NULL | linktype::LOOP => frame.get(4..).ok_or(Skip::Truncated)?,
        linktype::RAW | linktype::RAW_ALT | linktype::IPV4 | linktype::IPV6 => frame,
        _ => return Err(Skip::LinkType),
    };
    udp_in_ip(ip)
}

fn udp_in_ip(ip: &[u8]) -> Result<Datagram<'_>, Skip> {
    let first = *ip.first().ok_or(Skip::Truncated)?;
    let (src, dst, l4): (IpAddr, IpAddr, &[u8]) = match first >> 4 {
        4 => {
            let p = Ipv4Packet::new(ip).ok_or(Skip::Truncated)?;
            let hl = usize::from(p.get_header_length()) * 4;
            let total = usize::from(p.get_total_length());
            if hl < 20 || total < hl || total > ip.len() {
                return Err(Skip::Truncated);
            }
            if p.get_fragment_offset() != 0 || p.get_flags() & 0b001 != 0 {
                return Err(Skip::Fragment);
            }
            if p.get_next_level_protocol().0 != 17 {
                return Err(Skip::NotUdp);
            }
            (
                IpAddr::V4(p.get_source()),
                IpAddr::V4(p.get_destination()),
                &ip[hl..total],
            )
        }
        6 => {
            let p = Ipv6Packet::new(ip).ok_or(Skip::Truncated)?;
            let plen = usize::from(p.get_payload_length());
            let body = ip.get(40..40 + plen).ok_or(Skip::Truncated)?;
            let mut next = p.get_next_header().0;
            let mut at = 0usize;
            // Hop-by-hop, routing and destination options headers; fragments are skipped.
            loop {
                match next {
                    17 => break,
                    0 | 43 | 60 => {
                        let h = body.get(at..at + 2).ok_or(Skip::Truncated)?;
                        next = h[0];
                        at += (usize::from(h[1]) + 1) * 8;
                    }
                    44 => return Err(Skip::Fragment),
                    _ => return Err(Skip::NotUdp),
                }
            }
            (
                IpAddr::V6(p.get_source()),
                IpAddr::V6(p.get_destination()),
                body.get(at..).ok_or(Skip::Truncated)?,
            )
        }
        _ => return Err(Skip::NotIp),
    };
    let u = UdpPacket::new(l4).ok_or(Skip::Truncated)?;
    let len = usize::from(u.get_length());
    if len < 8 || len > l4.len() {
        return Err(Skip::Truncated);
    }
    Ok(Datagram {
        src: SocketAddr::new(src, u.get_source()),
        dst: SocketAddr::new(dst, u.get_destination()),
        payload: &l4[8..len],
    })
}

/// Why a capture file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    /// The file could not be opened.
    #[error("{path}: {source}")]
    Open {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not pcap or pcapng, or is corrupt.
    #[error("{path}: not a readable pcap or pcapng file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// The reader's message.
        reason: String,
    },
}

/// Counts from reading a capture.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptureStats {
    /// Frames read.
    pub frames: u64,
    /// Datagrams handed on.
    pub datagrams: u64,
    /// Frames skipped, by reason.
    pub skipped: std::collections::BTreeMap<Skip, u64>,
    /// Datagrams not on the requested port.
    pub other_port: u64,
    /// The file ended in the middle of a record (a torn capture): everything before it was read.
    pub truncated_file: bool,
}

/// Read every UDP datagram in a pcap or pcapng file, in file order, calling `f(timestamp_ms, dgram)`.
/// With `port`, only datagrams to (or from) that UDP port are handed on.
pub fn for_each_datagram(
    path: &Path,
    port: Option<u16>,
    mut f: impl FnMut(i64, Datagram<'_>),
) -> Result<CaptureStats, CaptureError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|source| CaptureError::Open {
        path: name.clone(),
        source,
    })?;
    let mut magic = [0u8; 4];
    {
        use std::io::Read;
        let mut probe = File::open(path).map_err(|source| CaptureError::Open {
            path: name.clone(),
            source,
        })?;
        probe
            .read_exact(&mut magic)
            .map_err(|e| CaptureError::Format {
                path: name.clone(),
                reason: e.to_string(),
            })?;
    }
    let mut stats = CaptureStats::default();
    let mut handle = |stats: &mut CaptureStats, ts: std::time::Duration, lt: u32, data: &[u8]| {
        stats.frames += 1;
        match udp_in_frame(lt, data) {
            Ok(d) => {
                if let Some(p) = port
                    && d.dst.port() != p
                    && d.src.port() != p
                {
                    stats.other_port += 1;
                    return;
                }
                stats.datagrams += 1;
                f(ts.as_millis() as i64, d);
            }
            Err(s) => *stats.skipped.entry(s).or_default() += 1,
        }
    };
    let format = |reason: String| CaptureError::Format {
        path: name.clone(),
        reason,
    };
    if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
        let mut r = PcapNgReader::new(BufReader::new(file)).map_err(|e| format(e.to_string()))?;
        // Per interface: link type and nanoseconds per timestamp unit (if_tsresol, default µs).
        // pcap-file hands the raw 64-bit timestamp over as if it counted nanoseconds.
        let mut links: Vec<(u32, f64)> = Vec::new();
        while let Some(block) = r.next_block() {
            let block = match block {
                Ok(b) => b,
                Err(_) if stats.frames > 0 => {
                    stats.truncated_file = true;
                    break;
                }
                Err(e) => return Err(format(e.to_string())),
            };
            match block {
                Block::SectionHeader(_) => links.clear(),
                Block::InterfaceDescription(i) => {
                    let mut unit_ns = 1000.0;
                    for o in &i.options {
                        if let InterfaceDescriptionOption::IfTsResol(r) = o {
                            let exp = i32::from(r & 0x7f);
                            let secs = if r & 0x80 == 0 {
                                10f64.powi(-exp)
                            } else {
                                2f64.powi(-exp)
                            };
                            unit_ns = secs * 1e9;
                        }
                    }
                    links.push((u32::from(i.linktype), unit_ns));
                }
                Block::EnhancedPacket(p) => {
                    let (lt, unit_ns) = links
                        .get(p.interface_id as usize)
                        .copied()
                        .unwrap_or((u32::MAX, 1000.0));
                    let ns = p.timestamp.as_nanos() as f64 * unit_ns;
                    let ts = std::time::Duration::from_nanos(ns as u64);
                    handle(&mut stats, ts, lt, &p.data);
                }
                Block::SimplePacket(p) => {
                    let lt = links.first().map_or(u32::MAX, |l| l.0);
                    handle(&mut stats, std::time::Duration::ZERO, lt, &p.data);
                }
                _ => {}
            }
        }
    } else {
        let mut r = PcapReader::new(BufReader::new(file)).map_err(|e| format(e.to_string()))?;
        let lt = u32::from(r.header().datalink);
        while let Some(pkt) = r.next_packet() {
            match pkt {
                Ok(p) => handle(&mut stats, p.timestamp, lt, &p.data),
                Err(_) => {
                    stats.truncated_file = true;
                    break;
                }
            }
        }
    }
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4_udp(payload: &[u8]) -> Vec<u8> {
        let total = 20 + 8 + payload.len();
        let mut v = vec![
            0x45,
            0,
            (total >> 8) as u8,
            total as u8,
            0,
            0,
            0x40,
            0,
            64,
            17,
            0,
            0,
            192,
            0,
            2,
            1,
            127,
            0,
            0,
            1,
        ];
        let ul = 8 + payload.len();
        v.extend_from_slice(&[0x30, 0x39, 0x08, 0x07, (ul >> 8) as u8, ul as u8, 0, 0]);
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn finds_udp_in_ethernet_with_a_vlan_tag() {
        let mut f = vec![0u8; 12];
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x08, 0x00]);
        f.extend_from_slice(&ipv4_udp(b"hello"));
        f.extend_from_slice(&[0, 0, 0, 0]); // Ethernet trailer padding beyond IP total length
        let d = udp_in_frame(linktype::ETHERNET, &f).unwrap();
        assert_eq!(d.src, "192.0.2.1:12345".parse().unwrap());
        assert_eq!(d.dst.port(), 2055);
        assert_eq!(d.payload, b"hello");
    }

    #[test]
    fn finds_udp_in_cooked_and_raw_captures() {
        let ip = ipv4_udp(b"x");
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        assert_eq!(
            udp_in_frame(linktype::LINUX_SLL, &sll).unwrap().payload,
            b"x"
        );
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0u8; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(
            udp_in_frame(linktype::LINUX_SLL2, &sll2).unwrap().payload,
            b"x"
        );
        assert_eq!(udp_in_frame(linktype::RAW, &ip).unwrap().payload, b"x");
    }

    #[test]
    fn skips_fragments_truncations_and_other_protocols() {
        let mut ip = ipv4_udp(b"abc");
        ip[6] = 0x20; // more fragments
        assert_eq!(udp_in_frame(linktype::RAW, &ip), Err(Skip::Fragment));
        let ip = ipv4_udp(b"abc");
        assert_eq!(udp_in_frame(linktype::RAW, &ip[..25]), Err(Skip::Truncated));
        let mut tcp = ipv4_udp(b"abc");
        tcp[9] = 6;
        assert_eq!(udp_in_frame(linktype::RAW, &tcp), Err(Skip::NotUdp));
        assert_eq!(udp_in_frame(999, &tcp), Err(Skip::LinkType));
        assert_eq!(
            udp_in_frame(linktype::ETHERNET, &[0; 10]),
            Err(Skip::Truncated)
        );
    }
}
