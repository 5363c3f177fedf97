//! `sluice decode FILE`: its stderr summary, run on a capture written here (raw IPv4 link type,
//! datagrams built with `flowgen::encode`).

use std::net::Ipv4Addr;
use std::process::Command;

use flowgen::encode::{FieldSpec, IpfixHeader, Message, Template, V9Header, Value};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// pcap link type for raw IPv4 packets (no link-layer header).
const LINKTYPE_IPV4: u32 = 228;

/// A classic pcap (little-endian, microseconds) of UDP datagrams `(source, payload)` to port 2055.
fn pcap(datagrams: &[(Ipv4Addr, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&4u16.to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&65_535u32.to_le_bytes());
    out.extend_from_slice(&LINKTYPE_IPV4.to_le_bytes());
    for (i, (src, payload)) in datagrams.iter().enumerate() {
        let udp_len = 8 + payload.len();
        let total = 20 + udp_len;
        let mut ip = Vec::with_capacity(total);
        ip.extend_from_slice(&[0x45, 0]);
        ip.extend_from_slice(&(total as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0, 0, 0, 64, 17, 0, 0]); // id, flags, TTL, UDP, checksum
        ip.extend_from_slice(&src.octets());
        ip.extend_from_slice(&[198, 51, 100, 1]);
        ip.extend_from_slice(&50_000u16.to_be_bytes());
        ip.extend_from_slice(&2055u16.to_be_bytes());
        ip.extend_from_slice(&(udp_len as u16).to_be_bytes());
        ip.extend_from_slice(&[0, 0]); // checksum: not checked
        ip.extend_from_slice(payload);
        out.extend_from_slice(&1_767_225_600u32.to_le_bytes());
        out.extend_from_slice(&(i as u32).to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&(ip.len() as u32).to_le_bytes());
        out.extend_from_slice(&ip);
    }
    out
}

fn template() -> Template {
    Template::new(300, vec![FieldSpec::new(1, 4), FieldSpec::new(2, 4)])
}

/// A v9 datagram: template and one record, then `fill` zero bytes.
fn v9(fill: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut m = Message::v9(&mut buf, &V9Header::default());
    m.templates(&[template()]).unwrap();
    m.data(&template(), &[&[Value::Unsigned(1500), Value::Unsigned(3)]])
        .unwrap();
    m.zero_fill(fill);
    m.finish().unwrap();
    buf
}

/// An IPFIX message: template and one record, then `fill` zero bytes inside the message length.
fn ipfix(fill: usize) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &IpfixHeader::default());
    m.templates(&[template()]).unwrap();
    m.data(&template(), &[&[Value::Unsigned(1500), Value::Unsigned(3)]])
        .unwrap();
    m.zero_fill(fill);
    m.finish().unwrap();
    buf
}

#[test]
fn decode_summary_shows_padding_bytes_in_total_and_per_exporter_next_to_the_errors() {
    let (a, b) = (Ipv4Addr::new(192, 0, 2, 1), Ipv4Addr::new(192, 0, 2, 2));
    let mut junk_tail = ipfix(0);
    junk_tail.extend_from_slice(&[0, 10, 0, 16]); // not zero: an error, not padding
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        pcap(&[(a, v9(60)), (b, ipfix(40)), (b, ipfix(40)), (b, junk_tail)]),
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .arg("decode")
        .arg(file.path())
        .args(["--format", "none"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let line = |start: &str| {
        stderr
            .lines()
            .find(|l| l.starts_with(start))
            .unwrap_or_else(|| panic!("no line starting {start:?} in:\n{stderr}"))
            .to_string()
    };
    let total = line("frames ");
    assert!(total.contains("records 4 "), "{total}");
    assert!(total.ends_with("errors 1  padding bytes 140"), "{total}");
    let ea = line("exporter 192.0.2.1 ");
    assert!(ea.ends_with("padding bytes 60  errors: none"), "{ea}");
    let eb = line("exporter 192.0.2.2 ");
    assert!(ea.contains(" v9 ") && eb.contains(" v10 "), "{ea}\n{eb}");
    assert!(
        eb.ends_with("padding bytes 80  errors: bad_length 1"),
        "{eb}"
    );
}
