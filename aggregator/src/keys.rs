//! How a flow maps to a key in each [`Dimension`].
//!
//! Owns: the key rules (which fields, what an absent field becomes, which port is the "app" port),
//! in two forms: the compact key each dimension's table hashes (an address, an address pair,
//! (protocol, port), a protocol byte, (exporter, ifIndex), an AS number), and the flat [`Key`] that
//! windows emit. [`key_for`] is defined through the compact keys, so the two cannot disagree.
//! Every flow gets a key in every dimension (absent fields become zero / `::`), so each dimension's
//! keys add up to the window total exactly.
//! Must never: allocate or fail; it runs once per flow per dimension.

use std::hash::Hash;
use std::net::Ipv6Addr;

use collector::FlowRecord;

use crate::output::{Dimension, Key};

/// A compact per-dimension key: what a dimension's table hashes and stores.
pub(crate) trait DimKey: Copy + Eq + Hash + std::fmt::Debug {
    /// The flat form that windows emit.
    fn to_key(self) -> Key;
}

/// A 128-bit address as two 64-bit halves (high, low): 8-byte alignment keeps map entries
/// smaller than `u128`'s 16, and hashing writes two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct A128(u64, u64);

impl A128 {
    #[inline]
    fn of(a: Option<Ipv6Addr>) -> A128 {
        let v = a.map_or(0, u128::from);
        A128((v >> 64) as u64, v as u64)
    }

    fn addr(self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.0) << 64 | u128::from(self.1))
    }
}

/// One address (`SrcAddr`, `DstAddr`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Addr(pub A128);

/// A (source, destination) address pair (`Conversation`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Pair(pub A128, pub A128);

/// Protocol in bits 16..24, service port in bits 0..16 (`App`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ProtoPort(pub u32);

/// An IP protocol number (`Protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Proto(pub u8);

/// (exporter, ifIndex) (`InIf`, `OutIf`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Interface(pub A128, pub u32);

/// A number that is the whole key: country letters, or an enrichment name id (`SrcCountry`,
/// `DstCountry`, `SrcNet`, `DstNet`, `InIfProvider`, `OutIfProvider`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Label(pub u32);

impl DimKey for Label {
    fn to_key(self) -> Key {
        Key {
            num: self.0,
            ..Key::default()
        }
    }
}

/// An AS number (`SrcAs`, `DstAs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct AsNum(pub u32);

impl DimKey for Addr {
    fn to_key(self) -> Key {
        Key {
            addr_a: self.0.addr(),
            ..Key::default()
        }
    }
}
impl DimKey for Pair {
    fn to_key(self) -> Key {
        Key {
            addr_a: self.0.addr(),
            addr_b: self.1.addr(),
            ..Key::default()
        }
    }
}
impl DimKey for ProtoPort {
    fn to_key(self) -> Key {
        Key {
            proto: (self.0 >> 16) as u8,
            num: self.0 & 0xFFFF,
            ..Key::default()
        }
    }
}
impl DimKey for Proto {
    fn to_key(self) -> Key {
        Key {
            proto: self.0,
            ..Key::default()
        }
    }
}
impl DimKey for Interface {
    fn to_key(self) -> Key {
        Key {
            exporter: self.0.addr(),
            num: self.1,
            ..Key::default()
        }
    }
}
impl DimKey for AsNum {
    fn to_key(self) -> Key {
        Key {
            num: self.0,
            ..Key::default()
        }
    }
}

#[inline]
fn addr(a: Option<Ipv6Addr>) -> A128 {
    A128::of(a)
}

/// Source address key.
#[inline]
pub(crate) fn src_addr(f: &FlowRecord) -> Addr {
    Addr(addr(f.src_addr))
}
/// Destination address key.
#[inline]
pub(crate) fn dst_addr(f: &FlowRecord) -> Addr {
    Addr(addr(f.dst_addr))
}
/// Conversation key.
#[inline]
pub(crate) fn conversation(f: &FlowRecord) -> Pair {
    Pair(addr(f.src_addr), addr(f.dst_addr))
}
/// Application key: protocol and service port.
#[inline]
pub(crate) fn app(f: &FlowRecord) -> ProtoPort {
    ProtoPort(u32::from(f.protocol.unwrap_or(0)) << 16 | u32::from(f.service_port()))
}
/// Protocol key.
#[inline]
pub(crate) fn protocol(f: &FlowRecord) -> Proto {
    Proto(f.protocol.unwrap_or(0))
}
/// Input interface key.
#[inline]
pub(crate) fn in_if(f: &FlowRecord) -> Interface {
    Interface(A128::of(Some(f.exporter)), f.in_if.unwrap_or(0))
}
/// Output interface key.
#[inline]
pub(crate) fn out_if(f: &FlowRecord) -> Interface {
    Interface(A128::of(Some(f.exporter)), f.out_if.unwrap_or(0))
}
/// Source AS key.
#[inline]
pub(crate) fn src_as(f: &FlowRecord) -> AsNum {
    AsNum(f.src_as.unwrap_or(0))
}
/// Destination AS key.
#[inline]
pub(crate) fn dst_as(f: &FlowRecord) -> AsNum {
    AsNum(f.dst_as.unwrap_or(0))
}

/// Source country key.
#[inline]
pub(crate) fn src_country(f: &FlowRecord) -> Label {
    Label(u32::from(u16::from_be_bytes(f.enrichment.src_country)))
}
/// Destination country key.
#[inline]
pub(crate) fn dst_country(f: &FlowRecord) -> Label {
    Label(u32::from(u16::from_be_bytes(f.enrichment.dst_country)))
}
/// Source network name key.
#[inline]
pub(crate) fn src_net(f: &FlowRecord) -> Label {
    Label(f.enrichment.src_net_name)
}
/// Destination network name key.
#[inline]
pub(crate) fn dst_net(f: &FlowRecord) -> Label {
    Label(f.enrichment.dst_net_name)
}
/// Input interface provider key.
#[inline]
pub(crate) fn in_if_provider(f: &FlowRecord) -> Label {
    Label(f.enrichment.in_if_provider)
}
/// Output interface provider key.
#[inline]
pub(crate) fn out_if_provider(f: &FlowRecord) -> Label {
    Label(f.enrichment.out_if_provider)
}

/// The key of `flow` in dimension `dim`, following the layout documented on [`Key`].
pub fn key_for(dim: Dimension, flow: &FlowRecord) -> Key {
    match dim {
        Dimension::SrcAddr => src_addr(flow).to_key(),
        Dimension::DstAddr => dst_addr(flow).to_key(),
        Dimension::Conversation => conversation(flow).to_key(),
        Dimension::App => app(flow).to_key(),
        Dimension::Protocol => protocol(flow).to_key(),
        Dimension::InIf => in_if(flow).to_key(),
        Dimension::OutIf => out_if(flow).to_key(),
        Dimension::SrcAs => src_as(flow).to_key(),
        Dimension::DstAs => dst_as(flow).to_key(),
        Dimension::SrcCountry => src_country(flow).to_key(),
        Dimension::DstCountry => dst_country(flow).to_key(),
        Dimension::SrcNet => src_net(flow).to_key(),
        Dimension::DstNet => dst_net(flow).to_key(),
        Dimension::InIfProvider => in_if_provider(flow).to_key(),
        Dimension::OutIfProvider => out_if_provider(flow).to_key(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv6Addr {
        s.parse::<std::net::Ipv4Addr>().unwrap().to_ipv6_mapped()
    }

    #[test]
    fn keys_fill_only_the_parts_their_dimension_uses() {
        let flow = FlowRecord {
            exporter: v4("192.0.2.1"),
            src_addr: Some(v4("10.0.0.1")),
            dst_addr: Some(v4("10.0.0.2")),
            src_port: Some(51_000),
            dst_port: Some(443),
            protocol: Some(6),
            in_if: Some(3),
            out_if: Some(4),
            src_as: Some(64_500),
            dst_as: Some(64_501),
            ..Default::default()
        };
        let z = Key::default();
        assert_eq!(
            key_for(Dimension::SrcAddr, &flow),
            Key {
                addr_a: v4("10.0.0.1"),
                ..z
            }
        );
        assert_eq!(
            key_for(Dimension::DstAddr, &flow),
            Key {
                addr_a: v4("10.0.0.2"),
                ..z
            }
        );
        assert_eq!(
            key_for(Dimension::Conversation, &flow),
            Key {
                addr_a: v4("10.0.0.1"),
                addr_b: v4("10.0.0.2"),
                ..z
            }
        );
        assert_eq!(
            key_for(Dimension::App, &flow),
            Key {
                proto: 6,
                num: 443,
                ..z
            }
        );
        assert_eq!(key_for(Dimension::Protocol, &flow), Key { proto: 6, ..z });
        assert_eq!(
            key_for(Dimension::InIf, &flow),
            Key {
                exporter: v4("192.0.2.1"),
                num: 3,
                ..z
            }
        );
        assert_eq!(
            key_for(Dimension::OutIf, &flow),
            Key {
                exporter: v4("192.0.2.1"),
                num: 4,
                ..z
            }
        );
        assert_eq!(key_for(Dimension::SrcAs, &flow), Key { num: 64_500, ..z });
        assert_eq!(key_for(Dimension::DstAs, &flow), Key { num: 64_501, ..z });
    }

    #[test]
    fn absent_fields_key_as_zero() {
        let flow = FlowRecord::default();
        for dim in Dimension::ALL {
            assert_eq!(key_for(dim, &flow), Key::default(), "{dim:?}");
        }
    }
}
