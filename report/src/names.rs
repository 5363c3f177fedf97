//! Names for numbers: IP protocols and well-known service ports, plus address and time text.
//!
//! Owns: the small built-in tables (no lookups in `/etc/services`, so a report reads the same on
//! every machine) and the display forms of addresses (IPv4-mapped shown as IPv4) and of UTC times.
//! Must never: do I/O.

use std::net::{IpAddr, Ipv6Addr};

/// Common IP protocol names by number.
pub fn protocol_name(p: u8) -> Option<&'static str> {
    Some(match p {
        1 => "ICMP",
        2 => "IGMP",
        4 => "IPIP",
        6 => "TCP",
        17 => "UDP",
        41 => "IPv6",
        47 => "GRE",
        50 => "ESP",
        51 => "AH",
        58 => "ICMPv6",
        89 => "OSPF",
        103 => "PIM",
        112 => "VRRP",
        132 => "SCTP",
        _ => return None,
    })
}

/// A protocol label: the name when known, else `proto N`.
pub fn protocol_label(p: u8) -> String {
    match protocol_name(p) {
        Some(n) => n.to_string(),
        None => format!("proto {p}"),
    }
}

/// Well-known service names by (IP protocol, port); protocol 0 matches TCP and UDP.
const SERVICES: &[(u8, u16, &str)] = &[
    (6, 20, "ftp-data"),
    (6, 21, "ftp"),
    (6, 22, "ssh"),
    (6, 23, "telnet"),
    (6, 25, "smtp"),
    (0, 53, "dns"),
    (17, 67, "dhcp"),
    (17, 68, "dhcp"),
    (17, 69, "tftp"),
    (6, 80, "http"),
    (6, 110, "pop3"),
    (17, 123, "ntp"),
    (0, 137, "netbios-ns"),
    (17, 138, "netbios-dgm"),
    (6, 139, "netbios-ssn"),
    (6, 143, "imap"),
    (17, 161, "snmp"),
    (17, 162, "snmp-trap"),
    (6, 179, "bgp"),
    (0, 389, "ldap"),
    (6, 443, "https"),
    (17, 443, "quic"),
    (6, 445, "smb"),
    (6, 465, "smtps"),
    (17, 500, "isakmp"),
    (17, 514, "syslog"),
    (6, 587, "submission"),
    (6, 636, "ldaps"),
    (6, 853, "dns-over-tls"),
    (6, 993, "imaps"),
    (6, 995, "pop3s"),
    (0, 1194, "openvpn"),
    (6, 1433, "mssql"),
    (6, 1521, "oracle"),
    (17, 1812, "radius"),
    (17, 1900, "ssdp"),
    (0, 2049, "nfs"),
    (17, 2055, "netflow"),
    (6, 3306, "mysql"),
    (0, 3389, "rdp"),
    (0, 3478, "stun"),
    (17, 4500, "ipsec-nat-t"),
    (17, 4739, "ipfix"),
    (0, 5060, "sip"),
    (17, 5353, "mdns"),
    (6, 5432, "postgresql"),
    (6, 5900, "vnc"),
    (17, 6343, "sflow"),
    (6, 6379, "redis"),
    (6, 8080, "http-alt"),
    (6, 8443, "https-alt"),
    (6, 9092, "kafka"),
    (6, 27017, "mongodb"),
];

/// The well-known service of a port for an IP protocol, if any.
pub fn service_name(protocol: u8, port: u16) -> Option<&'static str> {
    let exact = SERVICES
        .iter()
        .find(|(p, n, _)| *p == protocol && *n == port);
    let any = || {
        SERVICES
            .iter()
            .find(|(p, n, _)| *p == 0 && *n == port && (protocol == 6 || protocol == 17))
    };
    exact.or_else(any).map(|(_, _, s)| *s)
}

/// 16 bytes of hex (as ClickHouse `hex()` prints a stored address) to an address.
pub fn addr_from_hex(h: &str) -> Option<Ipv6Addr> {
    if h.len() != 32 {
        return None;
    }
    let mut o = [0u8; 16];
    for (i, b) in o.iter_mut().enumerate() {
        *b = u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(Ipv6Addr::from(o))
}

/// The stored form of an address as hex, upper case (what `hex(exporter)` returns): IPv4 is
/// IPv4-mapped.
pub fn addr_hex(a: IpAddr) -> String {
    let v6 = match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    v6.octets().iter().map(|b| format!("{b:02X}")).collect()
}

/// An address for display: IPv4-mapped addresses as IPv4.
pub fn addr_display(a: Ipv6Addr) -> String {
    match a.to_ipv4_mapped() {
        Some(v4) => v4.to_string(),
        None => a.to_string(),
    }
}

/// Display form of a hex address; the hex itself when it is not 16 bytes.
pub fn hex_display(h: &str) -> String {
    addr_from_hex(h).map_or_else(|| h.to_string(), addr_display)
}

/// Civil date from days since 1970-01-01 (proleptic Gregorian).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Unix seconds as RFC 3339 UTC (`2026-11-26T13:05:00Z`).
pub fn rfc3339(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds as a compact UTC stamp for file names (`20261126T1305Z`).
pub fn file_stamp(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}{m:02}{d:02}T{:02}{:02}Z", s / 3600, s / 60 % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_common_protocols_and_services() {
        assert_eq!(protocol_label(6), "TCP");
        assert_eq!(protocol_label(250), "proto 250");
        assert_eq!(service_name(6, 443), Some("https"));
        assert_eq!(service_name(17, 443), Some("quic"));
        assert_eq!(service_name(17, 53), Some("dns"));
        assert_eq!(service_name(6, 53), Some("dns"));
        assert_eq!(service_name(1, 53), None);
        assert_eq!(service_name(6, 40000), None);
    }

    #[test]
    fn hex_addresses_round_trip_and_show_ipv4_plainly() {
        let h = addr_hex("192.0.2.1".parse().unwrap());
        assert_eq!(h, "00000000000000000000FFFFC0000201");
        assert_eq!(hex_display(&h), "192.0.2.1");
        assert_eq!(
            hex_display(&addr_hex("2001:db8::1".parse().unwrap())),
            "2001:db8::1"
        );
        assert_eq!(hex_display("zz"), "zz");
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_698_300), "2026-11-26T13:05:00Z");
        assert_eq!(file_stamp(1_795_698_300), "20261126T1305Z");
    }
}
