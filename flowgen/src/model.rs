//! A deterministic traffic model for the load generator and `gen-traffic`: Zipf-ranked talkers
//! over a tiny seedable PRNG, and realistic flows (ports, protocols, packet sizes, IPv6 share).
//!
//! Owns: reproducible synthetic traffic. The same seed gives the same flows on every machine.
//! Must never: read the clock or do I/O (every time is a parameter), or be used where
//! unpredictability matters.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::encode::{EncodeError, Flow};

/// A tiny deterministic PRNG (SplitMix64): fast, seedable, good enough for synthetic traffic.
/// Not for anything that needs unpredictability.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose whole sequence is fixed by `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// A value in `0..n` (0 when `n` is 0), by multiply-shift.
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// The SplitMix64 output function: a bijective 64-bit mixer.
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Most talkers a [`ZipfTalkers`] or [`TrafficModel`] may have (each costs 8 bytes; IPv4 hosts
/// must fit in 10.0.0.0/8).
pub const MAX_HOSTS: u32 = 16_000_000;

/// Draws talker ranks `0..hosts` with probability proportional to `1 / (rank + 1)^exponent`.
///
/// Builds the cumulative distribution once (8 bytes per host); each draw is one binary search.
#[derive(Clone, Debug)]
pub struct ZipfTalkers {
    cdf: Vec<f64>,
    rng: Rng,
}

impl ZipfTalkers {
    /// A sampler over `hosts` talkers (at least 1) with a finite, non-negative `exponent`.
    pub fn new(hosts: u32, exponent: f64, seed: u64) -> Result<Self, EncodeError> {
        if hosts == 0 || hosts > MAX_HOSTS {
            return Err(EncodeError::BadParameter("hosts must be in 1..=16000000"));
        }
        if !exponent.is_finite() || exponent < 0.0 {
            return Err(EncodeError::BadParameter(
                "Zipf exponent must be finite and >= 0",
            ));
        }
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=hosts)
            .map(|k| {
                total += f64::from(k).powf(-exponent);
                total
            })
            .collect();
        for c in &mut cdf {
            *c /= total;
        }
        Ok(ZipfTalkers {
            cdf,
            rng: Rng::new(seed),
        })
    }

    /// Number of talkers.
    pub fn hosts(&self) -> u32 {
        self.cdf.len() as u32
    }

    /// The next talker's rank (0 is the heaviest).
    pub fn next_rank(&mut self) -> u32 {
        let u = self.rng.unit();
        let i = self.cdf.partition_point(|&c| c <= u);
        i.min(self.cdf.len() - 1) as u32
    }

    /// The generator behind the draws, for other choices that must follow the same seed.
    pub fn rng(&mut self) -> &mut Rng {
        &mut self.rng
    }
}

/// Layer-3 packet sizes the model picks from (IP total length).
pub const PACKET_SIZES: [u16; 5] = [60, 120, 576, 1400, 1500];
/// Destination ports the model picks from; 53 and 123 are UDP, the rest TCP.
const DST_PORTS: [u16; 7] = [80, 443, 443, 53, 22, 8080, 123];
/// Distinct servers the talkers speak to.
const SERVERS: u32 = 500;

/// Synthetic traffic: Zipf-ranked source hosts, each with a small fixed pool of conversations.
///
/// A host's address family is fixed by its rank and the seed (`v6_fraction` of hosts are IPv6).
/// IPv4 hosts live in 10.0.0.0/8 and servers in 172.16.0.0/12; IPv6 hosts in 2001:db8::/64 and
/// servers in 2001:db8:1::/64. Everything is a pure function of the seed and the call sequence.
#[derive(Clone, Debug)]
pub struct TrafficModel {
    talkers: ZipfTalkers,
    v6_threshold: u64,
    seed: u64,
}

impl TrafficModel {
    /// A model of `hosts` talkers with Zipf `exponent`, `v6_fraction` (0 to 1) of them IPv6.
    pub fn new(
        hosts: u32,
        exponent: f64,
        v6_fraction: f64,
        seed: u64,
    ) -> Result<Self, EncodeError> {
        if !(0.0..=1.0).contains(&v6_fraction) {
            return Err(EncodeError::BadParameter("v6 fraction must be in 0..=1"));
        }
        Ok(TrafficModel {
            talkers: ZipfTalkers::new(hosts, exponent, seed)?,
            v6_threshold: (v6_fraction * 1_000_000.0) as u64,
            seed,
        })
    }

    /// Whether the talker of `rank` is an IPv6 host.
    pub fn is_v6(&self, rank: u32) -> bool {
        mix64(self.seed ^ u64::from(rank).wrapping_mul(0x2545_f491_4f6c_dd1d)) % 1_000_000
            < self.v6_threshold
    }

    /// The address of the talker of `rank`.
    pub fn host_addr(&self, rank: u32) -> IpAddr {
        if self.is_v6(rank) {
            IpAddr::V6(v6_in(0, rank))
        } else {
            // 254 hosts per /24 so no address ends in .0 or .255.
            let (net, host) = (rank / 254, rank % 254 + 1);
            IpAddr::V4(Ipv4Addr::new(10, (net >> 8) as u8, net as u8, host as u8))
        }
    }

    /// The next flow: a talker, one of its conversations, `packets` packets of one size, from
    /// `start_ms` to `end_ms`.
    pub fn next_flow(&mut self, start_ms: u64, end_ms: u64, packets: u64) -> Flow {
        let rank = self.talkers.next_rank();
        let v6 = self.is_v6(rank);
        let rng = self.talkers.rng();
        let server = (rank.wrapping_mul(7919) + rng.below(20) as u32) % SERVERS;
        let src_port = 1024 + ((rank.wrapping_mul(31) + rng.below(8) as u32) % 60000) as u16;
        let dst_port = DST_PORTS[rng.below(DST_PORTS.len() as u64) as usize];
        let size = PACKET_SIZES[rng.below(PACKET_SIZES.len() as u64) as usize];
        let tcp = !matches!(dst_port, 53 | 123);
        let (dst_addr, next_hop, mask) = if v6 {
            let nh = Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
            (IpAddr::V6(v6_in(1, server)), IpAddr::V6(nh), 64)
        } else {
            let dst = Ipv4Addr::new(172, 16, (server / 254) as u8, (server % 254 + 1) as u8);
            (
                IpAddr::V4(dst),
                IpAddr::V4(Ipv4Addr::new(10, 255, 255, 1)),
                24,
            )
        };
        Flow {
            src_addr: self.host_addr(rank),
            dst_addr,
            next_hop,
            src_port,
            dst_port,
            protocol: if tcp { 6 } else { 17 },
            tos: 0,
            tcp_flags: if tcp { 0x18 } else { 0 },
            bytes: packets.saturating_mul(size.into()),
            packets,
            start_ms,
            end_ms,
            in_if: 1 + rank % 4,
            out_if: 10 + server % 4,
            src_as: 64512 + rank % 1000,
            dst_as: 65000 + server % 500,
            src_mask: mask,
            dst_mask: mask,
        }
    }

    /// The generator behind the model, for the caller's own choices on the same seed.
    pub fn rng(&mut self) -> &mut Rng {
        self.talkers.rng()
    }
}

/// `2001:db8:<subnet>::<index + 1>`.
fn v6_in(subnet: u16, index: u32) -> Ipv6Addr {
    let i = index.wrapping_add(1);
    Ipv6Addr::new(0x2001, 0xdb8, subnet, 0, 0, 0, (i >> 16) as u16, i as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_draws_are_deterministic_per_seed_and_follow_the_law() {
        let draws = |seed| {
            let mut z = ZipfTalkers::new(100, 1.0, seed).unwrap();
            (0..100_000).map(|_| z.next_rank()).collect::<Vec<_>>()
        };
        let a = draws(42);
        assert_eq!(a, draws(42));
        assert_ne!(a, draws(43));
        assert!(a.iter().all(|&r| r < 100));
        // P(rank 0) = 1 / H(100) = 0.1928; P(rank 9) = 0.01928.
        let share = |r| a.iter().filter(|&&x| x == r).count() as f64 / a.len() as f64;
        assert!((share(0) - 0.1928).abs() < 0.01, "{}", share(0));
        assert!((share(9) - 0.01928).abs() < 0.003, "{}", share(9));
    }

    #[test]
    fn zipf_rejects_bad_parameters() {
        assert!(ZipfTalkers::new(0, 1.0, 1).is_err());
        assert!(ZipfTalkers::new(10, f64::NAN, 1).is_err());
        assert!(ZipfTalkers::new(10, -1.0, 1).is_err());
        assert!(ZipfTalkers::new(MAX_HOSTS + 1, 1.0, 1).is_err());
        assert!(TrafficModel::new(10, 1.0, 1.5, 1).is_err());
    }

    #[test]
    fn traffic_model_gives_distinct_hosts_consistent_families_and_the_v6_share() {
        let mut m = TrafficModel::new(50_000, 1.1, 0.2, 7).unwrap();
        let addrs: std::collections::HashSet<IpAddr> =
            (0..50_000).map(|r| m.host_addr(r)).collect();
        assert_eq!(addrs.len(), 50_000);
        let v6 = (0..50_000).filter(|&r| m.is_v6(r)).count();
        assert!(
            (9_000..11_000).contains(&v6),
            "{v6} of 50000 hosts are IPv6"
        );
        for _ in 0..10_000 {
            let flow = m.next_flow(1, 2, 3);
            assert!(flow.is_v6().is_ok());
            assert_eq!(flow.bytes % 3, 0);
            assert!(PACKET_SIZES.contains(&((flow.bytes / 3) as u16)));
            assert_eq!(flow.protocol == 17, matches!(flow.dst_port, 53 | 123));
        }
    }
}
