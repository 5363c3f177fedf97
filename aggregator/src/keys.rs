//! How a flow maps to a [`Key`] in each [`Dimension`].
//!
//! Owns: the key rules (which fields, what an absent field becomes, which port is the "app" port).
//! Every flow gets a key in every dimension (absent fields become zero / `::`), so each dimension's
//! keys add up to the window total exactly.
//! Must never: allocate or fail; it runs once per flow per dimension.

use std::net::Ipv6Addr;

use collector::FlowRecord;

use crate::output::{Dimension, Key};

/// The key of `flow` in dimension `dim`, following the layout documented on [`Key`].
#[inline]
pub fn key_for(dim: Dimension, flow: &FlowRecord) -> Key {
    let addr = |a: Option<Ipv6Addr>| a.unwrap_or(Ipv6Addr::UNSPECIFIED);
    let mut k = Key::default();
    match dim {
        Dimension::SrcAddr => k.addr_a = addr(flow.src_addr),
        Dimension::DstAddr => k.addr_a = addr(flow.dst_addr),
        Dimension::Conversation => {
            k.addr_a = addr(flow.src_addr);
            k.addr_b = addr(flow.dst_addr);
        }
        Dimension::App => {
            k.proto = flow.protocol.unwrap_or(0);
            k.num = u32::from(flow.service_port());
        }
        Dimension::Protocol => k.proto = flow.protocol.unwrap_or(0),
        Dimension::InIf => {
            k.exporter = flow.exporter;
            k.num = flow.in_if.unwrap_or(0);
        }
        Dimension::OutIf => {
            k.exporter = flow.exporter;
            k.num = flow.out_if.unwrap_or(0);
        }
        Dimension::SrcAs => k.num = flow.src_as.unwrap_or(0),
        Dimension::DstAs => k.num = flow.dst_as.unwrap_or(0),
    }
    k
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
