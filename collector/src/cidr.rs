//! Address prefixes (CIDRs) for sampling overrides and the exporter allowlist.
//!
//! IPv4 prefixes are stored IPv4-mapped (`/n` becomes `/96+n`), so one comparison serves both families.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::record::to_v6;

/// An address prefix. Ordered by (network, stored length, family).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    net: u128,
    len: u8,
    v4: bool,
}

/// Why a CIDR did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid CIDR {text:?}: {reason}")]
pub struct CidrError {
    text: String,
    reason: &'static str,
}

/// The mask of a stored (IPv6) prefix length.
fn mask(len: u8) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    }
}

impl Cidr {
    /// A prefix from an address and a length in that address's family (`/0..=32` for IPv4,
    /// `/0..=128` for IPv6). Host bits below the length are cleared. `None` when the length is too
    /// long for the family.
    pub fn new(addr: IpAddr, len: u8) -> Option<Cidr> {
        let (max, stored_len) = if addr.is_ipv4() {
            (32, len.checked_add(96)?)
        } else {
            (128, len)
        };
        (len <= max).then(|| Cidr {
            net: u128::from(to_v6(addr)) & mask(stored_len),
            len: stored_len,
            v4: addr.is_ipv4(),
        })
    }

    /// True when `addr` (stored form) is inside the prefix.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        u128::from(addr) & mask(self.len) == self.net
    }

    /// The first address of the prefix, stored form.
    pub fn first(&self) -> u128 {
        self.net
    }

    /// The last address of the prefix, stored form.
    pub fn last(&self) -> u128 {
        self.net | !mask(self.len)
    }

    /// Prefix length in the stored (IPv6) form: an IPv4 `/8` is `104`.
    pub fn stored_len(&self) -> u8 {
        self.len
    }
}

impl FromStr for Cidr {
    type Err = CidrError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| CidrError {
            text: s.to_string(),
            reason,
        };
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = a.trim().parse().map_err(|_| err("not an IP address"))?;
        let len: u8 = match l {
            Some(l) => l
                .trim()
                .parse()
                .map_err(|_| err("prefix length is not a number"))?,
            None if ip.is_ipv4() => 32,
            None => 128,
        };
        let c = Cidr::new(ip, len)
            .ok_or_else(|| err("prefix length too long for the address family"))?;
        if u128::from(to_v6(ip)) != c.net {
            return Err(err("host bits are set"));
        }
        Ok(c)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = Ipv6Addr::from(self.net);
        if self.v4 {
            write!(f, "{}/{}", a.to_canonical(), self.len - 96)
        } else {
            write!(f, "{}/{}", a, self.len)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_and_ipv6_prefixes_match_stored_addresses() {
        let c: Cidr = "192.0.2.0/24".parse().unwrap();
        assert!(c.contains(to_v6("192.0.2.77".parse().unwrap())));
        assert!(!c.contains(to_v6("192.0.3.1".parse().unwrap())));
        assert_eq!(c.to_string(), "192.0.2.0/24");
        let c: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(c.contains("2001:db8:1::1".parse().unwrap()));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(to_v6("8.8.8.8".parse().unwrap())));
        assert!(!all.contains("2001:db8::1".parse().unwrap()));
        let host: Cidr = "10.0.0.1".parse().unwrap();
        assert!(host.contains(to_v6("10.0.0.1".parse().unwrap())));
    }

    #[test]
    fn rejects_malformed_prefixes_with_a_reason() {
        for bad in ["10.0.0.0/33", "10.0.0.1/24", "nonsense/8", "10.0.0.0/x"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
        let e = "10.0.0.1/24".parse::<Cidr>().unwrap_err();
        assert!(e.to_string().contains("host bits"));
    }
}
