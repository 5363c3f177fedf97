//! A small sFlow v5 datagram builder for the sFlow tests and the decode bench (which includes this
//! file by path). It writes exactly what it is given, in XDR (big-endian words, opaque data padded
//! to 4 bytes), so a test can also write what no agent should send: counts that lie, records cut
//! short, enterprise formats.
#![allow(dead_code)]

use std::net::IpAddr;

/// A decoder sink that keeps every flow record and counter sample it is given, in order.
#[derive(Default, Debug, PartialEq)]
pub struct Collected {
    pub flows: Vec<collector::FlowRecord>,
    pub counters: Vec<collector::InterfaceCounters>,
}

impl collector::RecordSink for Collected {
    fn push(&mut self, rec: &collector::FlowRecord) {
        self.flows.push(*rec);
    }
    fn counters(&mut self, c: &collector::InterfaceCounters) {
        self.counters.push(*c);
    }
}

/// A flow or counter record, or any other record as raw bytes.
#[derive(Clone, Debug)]
pub enum Rec {
    /// Flow format 1: raw packet header.
    Raw {
        protocol: u32,
        frame_length: u32,
        stripped: u32,
        header: Vec<u8>,
    },
    /// Flow format 3 (IPv4 addresses) or 4 (IPv6): sampled IP.
    Ip {
        length: u32,
        protocol: u32,
        src: IpAddr,
        dst: IpAddr,
        src_port: u32,
        dst_port: u32,
        tcp_flags: u32,
        tos: u32,
    },
    /// Flow format 1001: source VLAN, source priority, destination VLAN, destination priority.
    Switch([u32; 4]),
    /// Flow format 1002.
    Router {
        next_hop: Option<IpAddr>,
        src_mask: u32,
        dst_mask: u32,
    },
    /// Flow format 1003.
    Gateway {
        next_hop: Option<IpAddr>,
        router_as: u32,
        src_as: u32,
        src_peer_as: u32,
        /// (segment type, AS numbers).
        path: Vec<(u32, Vec<u32>)>,
        communities: Vec<u32>,
        local_pref: u32,
    },
    /// Counter format 1: generic interface counters, the 19 fields in order with the three
    /// 64-bit ones (speed, in octets, out octets) as two words each: 22 words.
    IfCounters([u32; 22]),
    /// Counter format 1005: port name.
    PortName(Vec<u8>),
    /// Anything else: tag parts and the record's bytes as given.
    Other {
        enterprise: u32,
        format: u32,
        data: Vec<u8>,
    },
}

/// A sample.
#[derive(Clone, Debug)]
pub enum Sample {
    /// Format 1 (compact) or 3 (expanded). Interfaces are (format, value).
    Flow {
        expanded: bool,
        sequence: u32,
        source_type: u32,
        source_index: u32,
        rate: u32,
        pool: u32,
        drops: u32,
        input: (u32, u32),
        output: (u32, u32),
        records: Vec<Rec>,
    },
    /// Format 2 (compact) or 4 (expanded).
    Counters {
        expanded: bool,
        sequence: u32,
        source_type: u32,
        source_index: u32,
        records: Vec<Rec>,
    },
    /// Anything else, as given.
    Other {
        enterprise: u32,
        format: u32,
        data: Vec<u8>,
    },
}

/// A datagram.
#[derive(Clone, Debug)]
pub struct Datagram {
    pub agent: IpAddr,
    pub sub_agent: u32,
    pub sequence: u32,
    pub uptime_ms: u32,
    pub samples: Vec<Sample>,
}

/// A byte writer with XDR helpers.
#[derive(Default)]
pub struct W(pub Vec<u8>);

impl W {
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.0.extend_from_slice(b);
        self
    }
    /// XDR opaque<>: length, bytes, zero padding to 4.
    pub fn opaque(&mut self, b: &[u8]) -> &mut Self {
        self.u32(b.len() as u32).bytes(b);
        let pad = (4 - b.len() % 4) % 4;
        self.bytes(&[0; 3][..pad])
    }
    /// sFlow address: type 0 (unknown), 1 (IPv4) or 2 (IPv6).
    pub fn addr(&mut self, a: Option<IpAddr>) -> &mut Self {
        match a {
            None => self.u32(0),
            Some(IpAddr::V4(a)) => self.u32(1).bytes(&a.octets()),
            Some(IpAddr::V6(a)) => self.u32(2).bytes(&a.octets()),
        }
    }
    /// A tag (enterprise << 12 | format), then `body` prefixed by its length.
    pub fn tagged(&mut self, enterprise: u32, format: u32, body: &[u8]) -> &mut Self {
        self.u32(enterprise << 12 | (format & 0xfff))
            .u32(body.len() as u32)
            .bytes(body)
    }
}

impl Rec {
    /// (enterprise, format, body).
    pub fn encode(&self) -> (u32, u32, Vec<u8>) {
        let mut w = W::default();
        let format = match self {
            Rec::Raw {
                protocol,
                frame_length,
                stripped,
                header,
            } => {
                w.u32(*protocol)
                    .u32(*frame_length)
                    .u32(*stripped)
                    .opaque(header);
                1
            }
            Rec::Ip {
                length,
                protocol,
                src,
                dst,
                src_port,
                dst_port,
                tcp_flags,
                tos,
            } => {
                w.u32(*length).u32(*protocol);
                for a in [src, dst] {
                    match a {
                        IpAddr::V4(a) => w.bytes(&a.octets()),
                        IpAddr::V6(a) => w.bytes(&a.octets()),
                    };
                }
                w.u32(*src_port).u32(*dst_port).u32(*tcp_flags).u32(*tos);
                if src.is_ipv4() { 3 } else { 4 }
            }
            Rec::Switch(v) => {
                for x in v {
                    w.u32(*x);
                }
                1001
            }
            Rec::Router {
                next_hop,
                src_mask,
                dst_mask,
            } => {
                w.addr(*next_hop).u32(*src_mask).u32(*dst_mask);
                1002
            }
            Rec::Gateway {
                next_hop,
                router_as,
                src_as,
                src_peer_as,
                path,
                communities,
                local_pref,
            } => {
                w.addr(*next_hop)
                    .u32(*router_as)
                    .u32(*src_as)
                    .u32(*src_peer_as)
                    .u32(path.len() as u32);
                for (kind, asns) in path {
                    w.u32(*kind).u32(asns.len() as u32);
                    for a in asns {
                        w.u32(*a);
                    }
                }
                w.u32(communities.len() as u32);
                for c in communities {
                    w.u32(*c);
                }
                w.u32(*local_pref);
                1003
            }
            Rec::IfCounters(v) => {
                for x in v {
                    w.u32(*x);
                }
                1
            }
            Rec::PortName(name) => {
                w.opaque(name);
                1005
            }
            Rec::Other {
                enterprise,
                format,
                data,
            } => return (*enterprise, *format, data.clone()),
        };
        (0, format, w.0)
    }
}

fn records(w: &mut W, records: &[Rec]) {
    w.u32(records.len() as u32);
    for r in records {
        let (e, f, body) = r.encode();
        w.tagged(e, f, &body);
    }
}

/// A sample's data source: two words in the expanded form, type (8 bits) and index (24 bits) in
/// one word in the compact form.
fn data_source(w: &mut W, expanded: bool, source_type: u32, source_index: u32) {
    if expanded {
        w.u32(source_type).u32(source_index);
    } else {
        w.u32(source_type << 24 | (source_index & 0x00ff_ffff));
    }
}

impl Sample {
    /// (enterprise, format, body).
    pub fn encode(&self) -> (u32, u32, Vec<u8>) {
        let mut w = W::default();
        match self {
            Sample::Flow {
                expanded,
                sequence,
                source_type,
                source_index,
                rate,
                pool,
                drops,
                input,
                output,
                records: recs,
            } => {
                w.u32(*sequence);
                data_source(&mut w, *expanded, *source_type, *source_index);
                w.u32(*rate).u32(*pool).u32(*drops);
                if *expanded {
                    w.u32(input.0).u32(input.1).u32(output.0).u32(output.1);
                } else {
                    w.u32(input.0 << 30 | (input.1 & 0x3fff_ffff));
                    w.u32(output.0 << 30 | (output.1 & 0x3fff_ffff));
                }
                records(&mut w, recs);
                (0, if *expanded { 3 } else { 1 }, w.0)
            }
            Sample::Counters {
                expanded,
                sequence,
                source_type,
                source_index,
                records: recs,
            } => {
                w.u32(*sequence);
                data_source(&mut w, *expanded, *source_type, *source_index);
                records(&mut w, recs);
                (0, if *expanded { 4 } else { 2 }, w.0)
            }
            Sample::Other {
                enterprise,
                format,
                data,
            } => (*enterprise, *format, data.clone()),
        }
    }
}

impl Datagram {
    /// The datagram's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W::default();
        w.u32(5)
            .addr(Some(self.agent))
            .u32(self.sub_agent)
            .u32(self.sequence)
            .u32(self.uptime_ms)
            .u32(self.samples.len() as u32);
        for s in &self.samples {
            let (e, f, body) = s.encode();
            w.tagged(e, f, &body);
        }
        w.0
    }
}

/// The first bytes of an Ethernet frame carrying TCP over IPv4 or IPv6 (both addresses of the
/// same family), with an optional 802.1Q tag, cut at `cut` bytes (sFlow agents send about 128).
#[allow(clippy::too_many_arguments)]
pub fn tcp_frame(
    vlan: Option<u16>,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
    ip_len: u16,
    flags: u8,
    cut: usize,
) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 1, 0x02, 0, 0, 0, 0, 2];
    if let Some(v) = vlan {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(v & 0x0fff).to_be_bytes());
    }
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0x00]);
            f.extend_from_slice(&ip_len.to_be_bytes());
            f.extend_from_slice(&[0x12, 0x34, 0x40, 0x00, 64, 6, 0, 0]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0]);
            f.extend_from_slice(&ip_len.saturating_sub(40).to_be_bytes());
            f.extend_from_slice(&[6, 64]);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&d.octets());
        }
        _ => panic!("tcp_frame: mixed address families"),
    }
    f.extend_from_slice(&src_port.to_be_bytes());
    f.extend_from_slice(&dst_port.to_be_bytes());
    f.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 0, 0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.resize(f.len().max(cut), 0xab);
    f.truncate(cut);
    f
}
