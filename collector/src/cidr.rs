//! Address prefixes (CIDRs) for sampling overrides and the exporter allowlist.
//!
//! IPv4 prefixes are stored IPv4-mapped (`/n` becomes `/96+n`), so one comparison serves both families.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use crate::record::to_v6;

/// An address prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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

impl Cidr {
    /// True when `addr` (stored form) is inside the prefix.
    pub fn contains(&self, addr: Ipv6Addr) -> bool {
        let mask = if self.len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.len))
        };
        u128::from(addr) & mask == self.net
    }

    /// Prefix length in the stored (IPv6) form.
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
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u8 = match l {
            Some(l) => l
                .trim()
                .parse()
                .map_err(|_| err("prefix length is not a number"))?,
            None => max,
        };
        if len > max {
            return Err(err("prefix length too long for the address family"));
        }
        let len = if ip.is_ipv4() { len + 96 } else { len };
        let mask = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        let net = u128::from(to_v6(ip));
        if net & !mask != 0 {
            return Err(err("host bits are set"));
        }
        Ok(Cidr {
            net,
            len,
            v4: ip.is_ipv4(),
        })
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
