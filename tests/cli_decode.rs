//! `sluice decode FILE`: its stderr summary, run on a capture written here (raw IPv4 link type,
//! datagrams built with `flowgen::encode`).

mod common;

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

#[test]
fn decode_prints_sflow_counter_samples_as_deltas_and_names_the_agent() {
    let from = Ipv4Addr::new(198, 51, 100, 20);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        file.path(),
        pcap(&[
            (
                from,
                common::sflow_counters(1, 10_000, &common::generic_counters(1_000, 500, 10)),
            ),
            // The 64-bit in-octets counter moved by 4,000; out-octets by 1,500.
            (
                from,
                common::sflow_counters(2, 30_000, &common::generic_counters(5_000, 2_000, 25)),
            ),
        ]),
    )
    .unwrap();
    let out = Command::new(SLUICE)
        .arg("decode")
        .arg(file.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    for l in &lines {
        assert_eq!(l["type"], "interface_counters");
        assert_eq!(l["exporter"], "192.0.2.9", "the agent, not the UDP source");
        assert_eq!(l["ifindex"], 7);
        assert_eq!(l["speed"], 10_000_000_000u64);
        assert_eq!(l["status"], 3);
    }
    assert_eq!(lines[0]["interval_ms"], 0, "no earlier sample: no delta");
    assert_eq!(lines[0]["in_octets"], 0);
    let d = &lines[1];
    assert_eq!(d["interval_ms"], 20_000);
    assert_eq!(
        (d["in_octets"].as_u64(), d["out_octets"].as_u64()),
        (Some(4_000), Some(1_500))
    );
    assert_eq!(d["in_packets"], 15);
    assert_eq!(d["in_octets_total"], 5_000);
    assert!(stderr.contains("interface counters 2 "), "{stderr}");
    assert!(
        stderr.contains("exporter 192.0.2.9  sflow5  datagrams 2"),
        "{stderr}"
    );
    assert!(stderr.contains("udp source 198.51.100.20"), "{stderr}");
}
