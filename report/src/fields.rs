//! The flow fields a user may name: in a filter (`src_addr = 10.0.0.0/8 and proto = tcp`), as the
//! dimension of the console's top and series queries, and in the API's `/api/v1/dimensions`. One
//! vocabulary for the CLI, the API and the console.
//!
//! Owns: each field's public name, its stored column, its type, and which tables hold it.
//! Must never: take a column name from a caller: every column text in SQL comes from
//! [`Field::column`], a fixed list.

use std::fmt;
use std::str::FromStr;

/// How a field's values are typed, parsed and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// An IPv4 or IPv6 address, stored as 16 bytes (IPv4-mapped); compared as the hex of those
    /// bytes, which orders like the addresses. Accepts an address or a CIDR prefix.
    Addr,
    /// IP protocol number (0..=255); accepts names (`tcp`, `udp`, `icmp`, ...).
    Proto,
    /// An unsigned integer of this many bits (8, 16 or 32).
    UInt(u8),
    /// An AS number (32 bits); accepts `13335` or `AS13335`.
    Asn,
    /// Text (names from enrichment; country codes).
    Text,
}

impl FieldType {
    /// The name `/api/v1/dimensions` gives the type.
    pub fn as_str(self) -> &'static str {
        match self {
            FieldType::Addr => "address",
            FieldType::Proto => "protocol",
            FieldType::UInt(8) => "uint8",
            FieldType::UInt(16) => "uint16",
            FieldType::UInt(_) => "uint32",
            FieldType::Asn => "asn",
            FieldType::Text => "string",
        }
    }

    /// Largest value of a numeric type.
    pub fn max(self) -> u64 {
        match self {
            FieldType::Proto | FieldType::UInt(8) => u64::from(u8::MAX),
            FieldType::UInt(16) => u64::from(u16::MAX),
            FieldType::UInt(_) | FieldType::Asn => u64::from(u32::MAX),
            FieldType::Addr | FieldType::Text => 0,
        }
    }
}

/// Which tables hold a field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tables {
    /// Raw `flows` only.
    Raw,
    /// `flows` and the rollups `flows_5m` / `flows_1h`.
    Rollups,
    /// `flows` and the enrichment rollups `flows_enrich_5m` / `flows_enrich_1h`.
    EnrichRollups,
    /// Every flow table (the exporter).
    All,
}

macro_rules! fields {
    ($( $(#[$doc:meta])* $v:ident => $name:literal, $col:literal, $ty:expr, $tables:ident, $title:literal; )*) => {
        /// A flow field (see the module documentation).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Field {
            $( $(#[$doc])* $v, )*
        }

        impl Field {
            /// Every field, in the order the API lists them.
            pub const ALL: &'static [Field] = &[ $( Field::$v, )* ];

            /// The public name (filters, `dimension=`).
            pub fn name(self) -> &'static str {
                match self { $( Field::$v => $name, )* }
            }

            /// The stored column of `flows` (and of the rollups that hold it).
            pub fn column(self) -> &'static str {
                match self { $( Field::$v => $col, )* }
            }

            /// The value type.
            pub fn ty(self) -> FieldType {
                match self { $( Field::$v => $ty, )* }
            }

            /// Which tables hold it.
            pub fn tables(self) -> Tables {
                match self { $( Field::$v => Tables::$tables, )* }
            }

            /// A human title.
            pub fn title(self) -> &'static str {
                match self { $( Field::$v => $title, )* }
            }
        }
    };
}

fields! {
    /// Source address.
    SrcAddr => "src_addr", "src_addr", FieldType::Addr, Raw, "Source address";
    /// Destination address.
    DstAddr => "dst_addr", "dst_addr", FieldType::Addr, Raw, "Destination address";
    /// The exporter's address.
    Exporter => "exporter", "exporter", FieldType::Addr, All, "Exporter";
    /// Next-hop address.
    NextHop => "next_hop", "next_hop", FieldType::Addr, Raw, "Next hop";
    /// Source port.
    SrcPort => "src_port", "src_port", FieldType::UInt(16), Raw, "Source port";
    /// Destination port.
    DstPort => "dst_port", "dst_port", FieldType::UInt(16), Raw, "Destination port";
    /// Service port: the destination port, or the lower port when both are ephemeral.
    AppPort => "app_port", "app_port", FieldType::UInt(16), Rollups, "Application port";
    /// IP protocol.
    Proto => "proto", "protocol", FieldType::Proto, Rollups, "Protocol";
    /// Source AS.
    SrcAs => "src_as", "src_as", FieldType::Asn, Rollups, "Source AS";
    /// Destination AS.
    DstAs => "dst_as", "dst_as", FieldType::Asn, Rollups, "Destination AS";
    /// Input interface (ifIndex).
    InIf => "in_if", "in_if", FieldType::UInt(32), Rollups, "Input interface";
    /// Output interface (ifIndex).
    OutIf => "out_if", "out_if", FieldType::UInt(32), Rollups, "Output interface";
    /// Type of service byte.
    Tos => "tos", "tos", FieldType::UInt(8), Raw, "ToS";
    /// TCP flags (OR of the flow's packets).
    TcpFlags => "tcp_flags", "tcp_flags", FieldType::UInt(16), Raw, "TCP flags";
    /// VLAN id.
    Vlan => "vlan", "vlan", FieldType::UInt(16), Raw, "VLAN";
    /// Source country (enrichment, ISO 3166 alpha-2).
    SrcCountry => "src_country", "src_country", FieldType::Text, EnrichRollups, "Source country";
    /// Destination country (enrichment).
    DstCountry => "dst_country", "dst_country", FieldType::Text, EnrichRollups, "Destination country";
    /// Source network name (enrichment).
    SrcNet => "src_net", "src_net_name", FieldType::Text, EnrichRollups, "Source network";
    /// Destination network name (enrichment).
    DstNet => "dst_net", "dst_net_name", FieldType::Text, EnrichRollups, "Destination network";
    /// Source network role (enrichment).
    SrcNetRole => "src_net_role", "src_net_role", FieldType::Text, Raw, "Source network role";
    /// Destination network role (enrichment).
    DstNetRole => "dst_net_role", "dst_net_role", FieldType::Text, Raw, "Destination network role";
    /// Source network site (enrichment).
    SrcNetSite => "src_net_site", "src_net_site", FieldType::Text, Raw, "Source network site";
    /// Destination network site (enrichment).
    DstNetSite => "dst_net_site", "dst_net_site", FieldType::Text, Raw, "Destination network site";
    /// Source AS name (enrichment).
    SrcAsName => "src_as_name", "src_as_name", FieldType::Text, Raw, "Source AS name";
    /// Destination AS name (enrichment).
    DstAsName => "dst_as_name", "dst_as_name", FieldType::Text, Raw, "Destination AS name";
    /// Input interface name (enrichment).
    InIfName => "in_if_name", "in_if_name", FieldType::Text, Raw, "Input interface name";
    /// Output interface name (enrichment).
    OutIfName => "out_if_name", "out_if_name", FieldType::Text, Raw, "Output interface name";
    /// Input interface boundary, `external` or `internal` (enrichment).
    InIfBoundary => "in_if_boundary", "in_if_boundary", FieldType::Text, Raw, "Input boundary";
    /// Output interface boundary (enrichment).
    OutIfBoundary => "out_if_boundary", "out_if_boundary", FieldType::Text, Raw, "Output boundary";
    /// Input interface provider (enrichment).
    InIfProvider => "in_if_provider", "in_if_provider", FieldType::Text, EnrichRollups, "Input provider";
    /// Output interface provider (enrichment).
    OutIfProvider => "out_if_provider", "out_if_provider", FieldType::Text, EnrichRollups, "Output provider";
}

impl Field {
    /// Whether `flows_5m` / `flows_1h` hold it.
    pub fn in_rollups(self) -> bool {
        matches!(self.tables(), Tables::Rollups | Tables::All)
    }

    /// Whether `flows_enrich_5m` / `flows_enrich_1h` hold it.
    pub fn in_enrich_rollups(self) -> bool {
        matches!(self.tables(), Tables::EnrichRollups | Tables::All)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown field {0:?}")]
pub struct UnknownField(pub String);

impl FromStr for Field {
    type Err = UnknownField;
    fn from_str(s: &str) -> Result<Field, UnknownField> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.name() == s)
            .ok_or_else(|| UnknownField(crate::truncate(s)))
    }
}

/// IP protocol names the filter language and the console know, with their numbers.
pub const PROTOCOLS: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("tcp", 6),
    ("udp", 17),
    ("ipv6", 41),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("eigrp", 88),
    ("ospf", 89),
    ("pim", 103),
    ("vrrp", 112),
    ("l2tp", 115),
    ("sctp", 132),
];

/// The number of a protocol name (case-insensitive).
pub fn protocol_number(name: &str) -> Option<u8> {
    PROTOCOLS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for f in Field::ALL {
            assert!(seen.insert(f.name()), "{f} twice");
            assert_eq!(f.name().parse::<Field>().unwrap(), *f);
            assert!(
                f.column()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
        }
        assert!("src_addr; DROP TABLE flows".parse::<Field>().is_err());
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("tcp6"), None);
    }
}
