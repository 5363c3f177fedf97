//! `sluice gen-traffic` end to end: the capture is a valid pcap that an independent reader
//! (`pcap-file`, `pnet_packet`) parses, and its per-source sums equal the truth file.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use pcap_file::DataLink;
use pcap_file::TsResolution;
use pcap_file::pcap::PcapReader;
use pnet_packet::Packet;
use pnet_packet::ethernet::{EtherTypes, EthernetPacket};
use pnet_packet::ipv4::{self, Ipv4Packet};
use pnet_packet::ipv6::Ipv6Packet;

const START: u64 = 1_767_225_600;

fn scratch(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("sluice-gen-traffic-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn gen_traffic(dir: &std::path::Path, extra: &[&str]) -> (PathBuf, PathBuf) {
    let (pcap, truth) = (dir.join("out.pcap"), dir.join("truth.csv"));
    let status = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("gen-traffic")
        .args([&pcap, &truth])
        .args(extra)
        .status()
        .unwrap();
    assert!(status.success(), "sluice gen-traffic failed: {status}");
    (pcap, truth)
}

fn read_truth(path: &std::path::Path) -> HashMap<IpAddr, (u64, u64)> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("src_ip,bytes,packets"));
    lines
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            assert_eq!(f.len(), 3, "{line}");
            (
                f[0].parse().unwrap(),
                (f[1].parse().unwrap(), f[2].parse().unwrap()),
            )
        })
        .collect()
}

#[test]
fn capture_parses_back_to_the_truth_file_with_valid_ipv4_checksums() {
    let dir = scratch("sums");
    let (pcap, truth) = gen_traffic(
        &dir,
        &[
            "--packets",
            "5000",
            "--hosts",
            "400",
            "--seed",
            "11",
            "--duration",
            "60",
        ],
    );
    let mut reader = PcapReader::new(std::fs::File::open(&pcap).unwrap()).unwrap();
    let header = reader.header();
    assert_eq!(header.datalink, DataLink::ETHERNET);
    assert_eq!(header.ts_resolution, TsResolution::MicroSecond);

    let mut sums: HashMap<IpAddr, (u64, u64)> = HashMap::new();
    let (mut packets, mut v6, mut tcp, mut udp) = (0, 0, 0, 0);
    let mut last = Duration::ZERO;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.unwrap();
        packets += 1;
        assert!(packet.timestamp >= last, "timestamps go backwards");
        last = packet.timestamp;
        assert_eq!(packet.orig_len as usize, packet.data.len());
        let eth = EthernetPacket::new(&packet.data).unwrap();
        let (src, l3_len, proto) = match eth.get_ethertype() {
            EtherTypes::Ipv4 => {
                let ip = Ipv4Packet::new(eth.payload()).unwrap();
                assert_eq!(ip.get_checksum(), ipv4::checksum(&ip), "IPv4 checksum");
                assert_eq!(usize::from(ip.get_total_length()), eth.payload().len());
                let src = IpAddr::V4(ip.get_source());
                (
                    src,
                    u64::from(ip.get_total_length()),
                    ip.get_next_level_protocol().0,
                )
            }
            EtherTypes::Ipv6 => {
                v6 += 1;
                let ip = Ipv6Packet::new(eth.payload()).unwrap();
                let len = 40 + u64::from(ip.get_payload_length());
                (IpAddr::V6(ip.get_source()), len, ip.get_next_header().0)
            }
            other => panic!("unexpected ethertype {other}"),
        };
        match proto {
            6 => tcp += 1,
            17 => udp += 1,
            other => panic!("unexpected protocol {other}"),
        }
        let s = sums.entry(src).or_default();
        s.0 += l3_len;
        s.1 += 1;
    }
    assert_eq!(packets, 5000);
    assert!(v6 > 0 && v6 < packets, "{v6} IPv6 packets");
    assert!(tcp > 0 && udp > 0, "{tcp} TCP, {udp} UDP");
    let first_allowed = Duration::from_secs(START);
    assert!(last >= first_allowed && last < first_allowed + Duration::from_secs(60));
    assert_eq!(sums, read_truth(&truth));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn same_seed_gives_identical_files_and_bad_arguments_fail_cleanly() {
    let (a, b) = (scratch("det-a"), scratch("det-b"));
    let args = ["--packets", "300", "--seed", "5"];
    let (pa, ta) = gen_traffic(&a, &args);
    let (pb, tb) = gen_traffic(&b, &args);
    assert_eq!(std::fs::read(pa).unwrap(), std::fs::read(pb).unwrap());
    assert_eq!(std::fs::read(ta).unwrap(), std::fs::read(tb).unwrap());

    let out = Command::new(env!("CARGO_BIN_EXE_sluice"))
        .arg("gen-traffic")
        .args([a.join("x.pcap"), a.join("x.csv")])
        .args(["--v6", "1.5"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("v6 fraction"));
    std::fs::remove_dir_all(a).unwrap();
    std::fs::remove_dir_all(b).unwrap();
}
