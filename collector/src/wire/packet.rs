//! A lenient reader of the first bytes of a sampled packet (the sFlow raw packet header record).
//!
//! Owns: finding the flow key in a header cut at about 128 bytes: Ethernet II, 802.1Q, 802.1ad
//! and the old 0x9100 QinQ tags, MPLS label stacks (the payload guessed from its first nibble),
//! IPv4 (RFC 791) and IPv6 (RFC 8200) with hop-by-hop, routing, destination-options, fragment and
//! AH extension headers, then TCP, UDP, SCTP ports and ICMP / ICMPv6 type and code.
//! Must never: allocate, panic, or fail: a header cut short gives what was read up to the cut,
//! and [`Headers`] says which parts were found. A non-first IPv4 or IPv6 fragment has no ports.
//! Tunnels (GRE, VXLAN, IP-in-IP) are not opened: the outer packet is the one the device
//! forwarded, and the one its counters count.

use std::net::{Ipv4Addr, Ipv6Addr};

/// sFlow header protocols (sFlow v5 `header_protocol`) this module reads.
pub mod proto {
    /// Ethernet (ISO 8802-3).
    pub const ETHERNET: u32 = 1;
    /// IPv4 with no link layer.
    pub const IPV4: u32 = 11;
    /// IPv6 with no link layer.
    pub const IPV6: u32 = 12;
}

/// What was found in a packet header. Addresses are IPv6, IPv4 mapped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Headers {
    /// Bytes of link-layer headers before the IP header (Ethernet, tags, MPLS labels).
    pub l2_len: u32,
    /// The outermost 802.1Q / 802.1ad VLAN id.
    pub vlan: Option<u16>,
    /// The second VLAN id of a QinQ frame.
    pub inner_vlan: Option<u16>,
    /// MPLS labels skipped.
    pub mpls_labels: u8,
    /// 4 or 6 once an IP header was found.
    pub ip_version: u8,
    /// IP length: the IPv4 total length, or the IPv6 payload length plus its 40-byte header.
    pub ip_len: Option<u32>,
    /// Source address.
    pub src: Option<Ipv6Addr>,
    /// Destination address.
    pub dst: Option<Ipv6Addr>,
    /// IPv4 ToS or IPv6 traffic class.
    pub tos: Option<u8>,
    /// The transport protocol (after IPv6 extension headers).
    pub protocol: Option<u8>,
    /// Transport source port.
    pub src_port: Option<u16>,
    /// Transport destination port.
    pub dst_port: Option<u16>,
    /// TCP flags (with the NS bit as bit 8).
    pub tcp_flags: Option<u16>,
    /// ICMP or ICMPv6 type.
    pub icmp_type: Option<u8>,
    /// ICMP or ICMPv6 code.
    pub icmp_code: Option<u8>,
}

#[inline]
fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn v6_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
    Some(Ipv6Addr::from(s))
}

#[inline]
fn v4_at(b: &[u8], at: usize) -> Option<Ipv6Addr> {
    let s: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
    Some(Ipv4Addr::from(s).to_ipv6_mapped())
}

/// Read the header of sFlow header protocol `protocol`. Unknown protocols give an empty result.
#[inline]
pub fn parse(protocol: u32, h: &[u8]) -> Headers {
    let mut out = Headers::default();
    match protocol {
        // The common case first; the general reader runs when it declines.
        proto::ETHERNET => match common(h) {
            Some(c) => return c.into(),
            None => ethernet(h, &mut out),
        },
        proto::IPV4 => ipv4(h, &mut out),
        proto::IPV6 => ipv6(h, &mut out),
        _ => {}
    }
    out
}

/// What [`common`] finds: the flow key of an Ethernet frame with at most one 802.1Q tag, IPv4
/// with a 20-byte header that is not a later fragment, and TCP or UDP. Small and `Copy`, so the
/// sFlow decoder's fast path writes it into the record without building a [`Headers`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Common {
    /// Bytes before the IP header: 14, or 18 with the tag.
    pub l2_len: u32,
    /// The 802.1Q tag's VLAN id.
    pub vlan: Option<u16>,
    /// IPv4 ToS.
    pub tos: u8,
    /// IPv4 total length.
    pub ip_len: u16,
    /// 6 (TCP) or 17 (UDP).
    pub protocol: u8,
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Transport source port.
    pub src_port: u16,
    /// Transport destination port.
    pub dst_port: u16,
    /// TCP flags (with the NS bit as bit 8); `None` for UDP.
    pub tcp_flags: Option<u16>,
}

impl From<Common> for Headers {
    #[inline]
    fn from(c: Common) -> Headers {
        Headers {
            l2_len: c.l2_len,
            vlan: c.vlan,
            ip_version: 4,
            ip_len: Some(u32::from(c.ip_len)),
            src: Some(c.src.to_ipv6_mapped()),
            dst: Some(c.dst.to_ipv6_mapped()),
            tos: Some(c.tos),
            protocol: Some(c.protocol),
            src_port: Some(c.src_port),
            dst_port: Some(c.dst_port),
            tcp_flags: c.tcp_flags,
            ..Headers::default()
        }
    }
}

/// The common case of an Ethernet header ([`Common`]) in one pass, with one length check: the
/// 20 bytes after the IP header must all be there. Gives exactly what the general path gives
/// (through `Headers::from`), or `None` for the general path to read the header.
#[inline]
pub fn common(h: &[u8]) -> Option<Common> {
    const IP: usize = 20;
    let (at, vlan) = match *h.get(12..18)? {
        [0x08, 0x00, ..] => (14, None),
        [0x81, 0x00, hi, lo, 0x08, 0x00] => (18, Some(u16::from_be_bytes([hi, lo]) & 0x0fff)),
        _ => return None,
    };
    let ip: &[u8; IP + 20] = h.get(at..at + IP + 20)?.try_into().ok()?;
    let be = |i: usize| u16::from_be_bytes([ip[i], ip[i + 1]]);
    let protocol = ip[9];
    if ip[0] != 0x45 || be(6) & 0x1fff != 0 || !matches!(protocol, 6 | 17) {
        return None;
    }
    let addr = |i: usize| Ipv4Addr::new(ip[i], ip[i + 1], ip[i + 2], ip[i + 3]);
    Some(Common {
        l2_len: at as u32,
        vlan,
        tos: ip[1],
        ip_len: be(2),
        protocol,
        src: addr(12),
        dst: addr(16),
        src_port: be(IP),
        dst_port: be(IP + 2),
        tcp_flags: (protocol == 6).then(|| be(IP + 12) & 0x01ff),
    })
}

#[inline]
fn ethernet(h: &[u8], out: &mut Headers) {
    let mut at = 12;
    let Some(mut ty) = be16(h, at) else { return };
    at += 2;
    // VLAN tags, at most a few (a loop bound, not a protocol limit).
    for _ in 0..4 {
        if !matches!(ty, 0x8100 | 0x88a8 | 0x9100) {
            break;
        }
        let Some(tci) = be16(h, at) else { return };
        let id = tci & 0x0fff;
        if out.vlan.is_none() {
            out.vlan = Some(id);
        } else if out.inner_vlan.is_none() {
            out.inner_vlan = Some(id);
        }
        let Some(next) = be16(h, at + 2) else { return };
        ty = next;
        at += 4;
    }
    match ty {
        0x0800 => {
            out.l2_len = at as u32;
            ipv4(&h[at.min(h.len())..], out);
        }
        0x86dd => {
            out.l2_len = at as u32;
            ipv6(&h[at.min(h.len())..], out);
        }
        0x8847 | 0x8848 => mpls(h, at, out),
        _ => {}
    }
}

fn mpls(h: &[u8], mut at: usize, out: &mut Headers) {
    // Labels until the bottom-of-stack bit, bounded by the header itself.
    loop {
        let Some(label) = h.get(at..at + 4) else {
            return;
        };
        out.mpls_labels = out.mpls_labels.saturating_add(1);
        at += 4;
        if label[2] & 1 == 1 {
            break;
        }
    }
    out.l2_len = at as u32;
    let rest = &h[at.min(h.len())..];
    match rest.first().map(|b| b >> 4) {
        Some(4) => ipv4(rest, out),
        Some(6) => ipv6(rest, out),
        _ => {}
    }
}

#[inline]
fn ipv4(ip: &[u8], out: &mut Headers) {
    let Some(&vihl) = ip.first() else { return };
    if vihl >> 4 != 4 {
        return;
    }
    out.ip_version = 4;
    let ihl = usize::from(vihl & 0x0f) * 4;
    out.tos = ip.get(1).copied();
    out.ip_len = be16(ip, 2).map(u32::from);
    let frag = be16(ip, 6).unwrap_or(0);
    out.protocol = ip.get(9).copied();
    out.src = v4_at(ip, 12);
    out.dst = v4_at(ip, 16);
    if ihl < 20 || frag & 0x1fff != 0 {
        return;
    }
    if let Some(p) = out.protocol {
        transport(p, ip.get(ihl..).unwrap_or_default(), out);
    }
}

fn ipv6(ip: &[u8], out: &mut Headers) {
    let Some(&v) = ip.first() else { return };
    if v >> 4 != 6 {
        return;
    }
    out.ip_version = 6;
    out.tos = be16(ip, 0).map(|w| (w >> 4) as u8);
    out.ip_len = be16(ip, 4).map(|l| u32::from(l) + 40);
    out.src = v6_at(ip, 8);
    out.dst = v6_at(ip, 24);
    let Some(mut next) = ip.get(6).copied() else {
        return;
    };
    let mut at = 40;
    // Extension headers, bounded by the bytes there are.
    for _ in 0..8 {
        match next {
            // Hop-by-hop, routing, destination options: length in 8-byte units after the first 8.
            0 | 43 | 60 => {
                let (Some(&nh), Some(&len)) = (ip.get(at), ip.get(at + 1)) else {
                    out.protocol = None;
                    return;
                };
                next = nh;
                at += 8 + usize::from(len) * 8;
            }
            // Fragment: 8 bytes; a non-first fragment has no transport header.
            44 => {
                let (Some(&nh), Some(off)) = (ip.get(at), be16(ip, at + 2)) else {
                    out.protocol = None;
                    return;
                };
                next = nh;
                at += 8;
                if off & 0xfff8 != 0 {
                    out.protocol = Some(next);
                    return;
                }
            }
            // Authentication header: length in 4-byte units, minus 2.
            51 => {
                let (Some(&nh), Some(&len)) = (ip.get(at), ip.get(at + 1)) else {
                    out.protocol = None;
                    return;
                };
                next = nh;
                at += (usize::from(len) + 2) * 4;
            }
            _ => break,
        }
    }
    out.protocol = Some(next);
    transport(next, ip.get(at..).unwrap_or_default(), out);
}

#[inline]
fn transport(protocol: u8, t: &[u8], out: &mut Headers) {
    match protocol {
        // TCP, UDP, SCTP, UDP-Lite: ports first.
        6 | 17 | 132 | 136 => {
            out.src_port = be16(t, 0);
            out.dst_port = be16(t, 2);
            if protocol == 6 {
                out.tcp_flags = be16(t, 12).map(|w| w & 0x01ff);
            }
        }
        1 | 58 => {
            out.icmp_type = t.first().copied();
            out.icmp_code = t.get(1).copied();
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eth(tags: &[(u16, u16)], ty: u16, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![0u8; 12];
        for (tpid, id) in tags {
            v.extend_from_slice(&tpid.to_be_bytes());
            v.extend_from_slice(&id.to_be_bytes());
        }
        v.extend_from_slice(&ty.to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    fn ipv4_tcp(total: u16, frag: u16) -> Vec<u8> {
        let mut v = vec![0x45, 0x10];
        v.extend_from_slice(&total.to_be_bytes());
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&frag.to_be_bytes());
        v.extend_from_slice(&[64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
        v.extend_from_slice(&[0x30, 0x39, 0x01, 0xbb, 0, 0, 0, 0, 0, 0, 0, 0, 0x50, 0x12]);
        v
    }

    #[test]
    fn reads_ipv4_tcp_behind_qinq_tags() {
        let h = parse(
            proto::ETHERNET,
            &eth(
                &[(0x88a8, 100), (0x8100, 0x2000 | 20)],
                0x0800,
                &ipv4_tcp(1500, 0),
            ),
        );
        assert_eq!((h.vlan, h.inner_vlan, h.l2_len), (Some(100), Some(20), 22));
        assert_eq!((h.ip_version, h.ip_len, h.tos), (4, Some(1500), Some(0x10)));
        assert_eq!(
            (h.src_port, h.dst_port, h.tcp_flags),
            (Some(12345), Some(443), Some(0x12))
        );
        assert_eq!(h.dst, Some("::ffff:10.0.0.2".parse().unwrap()));
    }

    #[test]
    fn the_common_case_reads_what_the_general_path_reads() {
        let mut udp = ipv4_tcp(1500, 0);
        udp[9] = 17;
        let mut frag = ipv4_tcp(1500, 0x2000);
        frag[9] = 17;
        let mut options = ipv4_tcp(1500, 0);
        options[0] = 0x46;
        let mut taken = 0;
        for ip in [ipv4_tcp(1500, 0), udp, frag, options, ipv4_tcp(60, 185)] {
            for tags in [
                &[][..],
                &[(0x8100, 0x2000 | 7)],
                &[(0x88a8, 5), (0x8100, 6)],
            ] {
                let full = eth(tags, 0x0800, &ip);
                for n in 0..=full.len() + 8 {
                    let mut h = full.clone();
                    h.resize(n, 0);
                    let mut general = Headers::default();
                    ethernet(&h, &mut general);
                    if let Some(fast) = common(&h) {
                        taken += 1;
                        assert_eq!(Headers::from(fast), general, "{tags:?}, {n} bytes");
                    }
                    assert_eq!(parse(proto::ETHERNET, &h), general);
                }
            }
        }
        // TCP, UDP and a first UDP fragment (MF set, offset 0), untagged and with one tag, with
        // 0, 1 and 2 bytes past the 40 after the link layer that the common case needs.
        assert_eq!(taken, 3 * 2 * 3);
    }

    #[test]
    fn a_later_fragment_has_no_ports() {
        let h = parse(proto::IPV4, &ipv4_tcp(576, 185));
        assert_eq!((h.protocol, h.src_port), (Some(6), None));
    }

    #[test]
    fn reads_ipv4_under_an_mpls_stack() {
        let labels = [0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64];
        let mut p = labels.to_vec();
        p.extend(ipv4_tcp(60, 0));
        let h = parse(proto::ETHERNET, &eth(&[], 0x8847, &p));
        assert_eq!((h.mpls_labels, h.l2_len, h.ip_len), (2, 22, Some(60)));
        assert_eq!(h.dst_port, Some(443));
    }

    #[test]
    fn walks_ipv6_extension_headers_to_udp() {
        let mut ip = vec![0x60, 0xb0, 0, 0, 0, 24, 0, 64];
        ip.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        ip.extend_from_slice(&[0; 12]);
        ip.extend_from_slice(&[0x20, 1, 0x0d, 0xb8]);
        ip.extend_from_slice(&[0; 11]);
        ip.push(2);
        // Hop-by-hop (8 bytes) then fragment (offset 0) then UDP 53 -> 5353.
        ip.extend_from_slice(&[44, 0, 0, 0, 0, 0, 0, 0]);
        ip.extend_from_slice(&[17, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0, 53, 0x14, 0xe9, 0, 8, 0, 0]);
        let h = parse(proto::IPV6, &ip);
        assert_eq!((h.ip_version, h.ip_len, h.tos), (6, Some(64), Some(0x0b)));
        assert_eq!(
            (h.protocol, h.src_port, h.dst_port),
            (Some(17), Some(53), Some(5353))
        );
        assert_eq!(h.dst, Some("2001:db8::2".parse().unwrap()));
    }

    #[test]
    fn reads_icmp_type_and_code() {
        let mut ip = ipv4_tcp(84, 0);
        ip[9] = 1;
        ip[20] = 8;
        ip[21] = 0;
        let h = parse(proto::IPV4, &ip);
        assert_eq!(
            (h.icmp_type, h.icmp_code, h.src_port),
            (Some(8), Some(0), None)
        );
    }

    #[test]
    fn any_cut_of_a_header_gives_what_was_there_without_panicking() {
        let full = eth(&[(0x8100, 7)], 0x0800, &ipv4_tcp(1500, 0));
        for n in 0..=full.len() {
            let h = parse(proto::ETHERNET, &full[..n]);
            if n >= 18 + 20 {
                assert_eq!(h.ip_len, Some(1500), "cut at {n}");
            }
            if n < 16 {
                assert_eq!(h.vlan, None);
            }
        }
        assert_eq!(parse(99, &full), Headers::default());
    }
}
