//! Real router captures (Cisco, Juniper, ipfixprobe and others): every capture decodes with no
//! error, and every field the decoder produces agrees with tshark's decode of the same record.

mod common;

use std::net::IpAddr;

use collector::SamplingSource;
use collector::record::{display_addr, flags};
use serde_json::Value;

/// tshark's data records ("Flow N" objects, "pdu N/M" for v5 that are not options records), in datagram order.
fn tshark_flows(v: &Value, out: &mut Vec<serde_json::Map<String, Value>>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if (k.starts_with("Flow ") || k.starts_with("pdu "))
                    && let Value::Object(f) = v
                {
                    out.push(f.clone());
                } else {
                    tshark_flows(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| tshark_flows(v, out)),
        _ => {}
    }
}

/// Options records carry no traffic fields; data records carry at least one.
fn is_options(f: &serde_json::Map<String, Value>) -> bool {
    const TRAFFIC: [&str; 7] = [
        "cflow.octets",
        "cflow.packets",
        "cflow.srcaddr",
        "cflow.srcaddrv6",
        "cflow.srcport",
        "cflow.protocol",
        "cflow.data_link_frame_section",
    ];
    !TRAFFIC.iter().any(|k| f.contains_key(*k))
}

fn num(v: &Value) -> u64 {
    let s = v.as_str().expect("tshark values are strings");
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap(),
        None => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
    }
}

fn ip(v: &Value) -> IpAddr {
    v.as_str().unwrap().parse().unwrap()
}

#[test]
fn vendor_captures_decode_without_error_and_agree_with_tshark_field_by_field() {
    let Some(shared) = testkit::shared_dir(
        "vendor_captures_decode_without_error_and_agree_with_tshark_field_by_field",
    ) else {
        return;
    };
    let dir = shared.join("corpus/vendor/akvorado");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 15,
        "expected the vendor captures in {}",
        dir.display()
    );
    let mut checked_fields = 0usize;
    for pcap in files {
        let name = pcap.file_name().unwrap().to_string_lossy().to_string();
        let (recs, decoder) = common::decode_capture(&pcap, None);
        assert_eq!(
            decoder.stats().error_count(),
            0,
            "{name}: decode errors {:?}",
            decoder.stats()
        );
        let json: Value =
            serde_json::from_slice(&std::fs::read(pcap.with_extension("tshark.json")).unwrap())
                .unwrap();
        let mut flows = Vec::new();
        tshark_flows(&json, &mut flows);
        let flows: Vec<_> = flows.into_iter().filter(|f| !is_options(f)).collect();
        // tshark cannot decode data that precedes its template; sluice holds it and decodes it when
        // the template arrives, so those records are extra here and flagged as replayed.
        let replayed = recs
            .iter()
            .filter(|r| r.flags & flags::REPLAYED != 0)
            .count();
        if name == "data+templates.pcap" {
            assert_eq!(replayed, 11, "{name}: 660 bytes held, 60-byte records");
        } else {
            assert_eq!(replayed, 0, "{name}");
        }
        let recs: Vec<_> = recs
            .into_iter()
            .filter(|r| r.flags & flags::REPLAYED == 0)
            .collect();
        assert_eq!(recs.len(), flows.len(), "{name}: number of data records");
        for (i, (r, f)) in recs.iter().zip(&flows).enumerate() {
            let at = format!("{name} record {i}");
            for (k, v) in f {
                // ipfixprobe exports RFC 5103 biflows: each counter has a reverse twin under the same
                // tshark key, and tshark's JSON keeps only the reverse value. The forward values are
                // checked against tshark's text decode in `ipfixprobe_forward_counters_*` below.
                if name == "ipfixprobe.pcap"
                    && matches!(
                        k.as_str(),
                        "cflow.octets" | "cflow.packets" | "cflow.tcpflags"
                    )
                {
                    continue;
                }
                // A record may carry an address in both families with one unspecified (0.0.0.0 or
                // ::); sluice keeps the specified one, which is compared under its own key.
                let twin = match k.as_str() {
                    "cflow.srcaddr" => Some("cflow.srcaddrv6"),
                    "cflow.srcaddrv6" => Some("cflow.srcaddr"),
                    "cflow.dstaddr" => Some("cflow.dstaddrv6"),
                    "cflow.dstaddrv6" => Some("cflow.dstaddr"),
                    "cflow.nexthop" => Some("cflow.nexthopv6"),
                    "cflow.nexthopv6" => Some("cflow.nexthop"),
                    _ => None,
                };
                if let Some(t) = twin
                    && ip(v).is_unspecified()
                    && let Some(o) = f.get(t)
                {
                    if ip(o).is_unspecified() {
                        let ours = match &k[..9] {
                            "cflow.src" => r.src_addr,
                            "cflow.dst" => r.dst_addr,
                            _ => r.next_hop,
                        };
                        assert!(
                            ours.map(display_addr).is_some_and(|a| a.is_unspecified()),
                            "{at}: {k}"
                        );
                    }
                    continue;
                }
                let (got, want): (Option<String>, String) = match k.as_str() {
                    "cflow.srcaddr" | "cflow.srcaddrv6" => (
                        r.src_addr.map(|a| display_addr(a).to_string()),
                        ip(v).to_string(),
                    ),
                    "cflow.dstaddr" | "cflow.dstaddrv6" => (
                        r.dst_addr.map(|a| display_addr(a).to_string()),
                        ip(v).to_string(),
                    ),
                    "cflow.nexthop" | "cflow.nexthopv6" => (
                        r.next_hop.map(|a| display_addr(a).to_string()),
                        ip(v).to_string(),
                    ),
                    "cflow.post_natsource_ipv4_address" => (
                        r.post_nat_src_addr.map(|a| display_addr(a).to_string()),
                        ip(v).to_string(),
                    ),
                    "cflow.post_natdestination_ipv4_address" => (
                        r.post_nat_dst_addr.map(|a| display_addr(a).to_string()),
                        ip(v).to_string(),
                    ),
                    "cflow.post_naptsource_transport_port" => (
                        r.post_nat_src_port.map(|p| p.to_string()),
                        num(v).to_string(),
                    ),
                    "cflow.post_naptdestination_transport_port" => (
                        r.post_nat_dst_port.map(|p| p.to_string()),
                        num(v).to_string(),
                    ),
                    "cflow.srcport" => (r.src_port.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.dstport" => (r.dst_port.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.protocol" => (r.protocol.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.octets" => (Some(r.bytes.to_string()), num(v).to_string()),
                    "cflow.packets" => (Some(r.packets.to_string()), num(v).to_string()),
                    "cflow.inputint" => (r.in_if.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.outputint" => (r.out_if.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.srcas" => (r.src_as.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.dstas" => (r.dst_as.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.srcmask" | "cflow.srcmaskv6" => {
                        (r.src_mask.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.dstmask" | "cflow.dstmaskv6" => {
                        (r.dst_mask.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.direction" => (r.direction.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.tos" => (r.tos.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.tcpflags" => (r.tcp_flags.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.vlanid" => (r.vlan.map(|p| p.to_string()), num(v).to_string()),
                    "cflow.dot1q_vlan_id" if !f.contains_key("cflow.vlanid") => {
                        (r.vlan.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.ingress_physical_interface" if !f.contains_key("cflow.inputint") => {
                        (r.in_if.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.egress_physical_interface" if !f.contains_key("cflow.outputint") => {
                        (r.out_if.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.icmp_type_code_ipv4" => (
                        r.icmp_type
                            .zip(r.icmp_code)
                            .map(|(t, c)| (u64::from(t) * 256 + u64::from(c)).to_string()),
                        num(v).to_string(),
                    ),
                    "cflow.icmp_ipv6_type" => {
                        (r.icmp_type.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.icmp_ipv6_code" => {
                        (r.icmp_code.map(|p| p.to_string()), num(v).to_string())
                    }
                    "cflow.sampling_interval" => {
                        assert_eq!(r.sampling_source, SamplingSource::Record, "{at}");
                        (Some(r.sampling_rate.to_string()), num(v).to_string())
                    }
                    "cflow.sampler_id" => (r.sampler_id.map(|p| p.to_string()), num(v).to_string()),
                    _ => continue,
                };
                assert_eq!(got.as_deref(), Some(want.as_str()), "{at}: {k}");
                checked_fields += 1;
            }
        }
    }
    assert!(
        checked_fields > 500,
        "only {checked_fields} fields compared"
    );
}

/// Sampling rates come from options data, per sampler, and are marked so.
#[test]
fn sampling_rates_follow_options_data_per_sampler() {
    let Some(shared) = testkit::shared_dir("sampling_rates_follow_options_data_per_sampler") else {
        return;
    };
    let dir = shared.join("corpus/vendor/akvorado");
    let (recs, _) = common::decode_capture(&dir.join("multiplesamplingrates.pcap"), None);
    // The options data in this capture: sampler 1 samples 1 in 2000, sampler 2 1 in 4000.
    let json: Value = serde_json::from_slice(
        &std::fs::read(dir.join("multiplesamplingrates.tshark.json")).unwrap(),
    )
    .unwrap();
    let mut flows = Vec::new();
    tshark_flows(&json, &mut flows);
    let rates: std::collections::HashMap<u64, u64> = flows
        .iter()
        .filter(|f| f.contains_key("cflow.sampler_random_interval"))
        .map(|f| {
            (
                num(&f["cflow.sampler_id"]),
                num(&f["cflow.sampler_random_interval"]),
            )
        })
        .collect();
    assert_eq!(rates.len(), 2);
    assert!(!recs.is_empty());
    for r in &recs {
        let id = u64::from(r.sampler_id.expect("records name their sampler"));
        assert_eq!(u64::from(r.sampling_rate), rates[&id]);
        assert_eq!(r.sampling_source, SamplingSource::OptionsData);
    }
    let (recs, _) = common::decode_capture(&dir.join("samplingrate.pcap"), None);
    assert!(
        recs.iter()
            .all(|r| r.sampling_rate == 2048 && r.sampling_source == SamplingSource::Record)
    );
}

/// The forward counters of ipfixprobe's biflow records, as `tshark -V` prints them (the reverse
/// counters, enterprise 29305, are skipped).
#[test]
fn ipfixprobe_forward_counters_match_tshark_text_decode() {
    let Some(shared) = testkit::shared_dir("ipfixprobe_forward_counters_match_tshark_text_decode")
    else {
        return;
    };
    let (recs, _) =
        common::decode_capture(&shared.join("corpus/vendor/akvorado/ipfixprobe.pcap"), None);
    let got: Vec<(u64, u64)> = recs.iter().map(|r| (r.bytes, r.packets)).collect();
    // tshark -V: "Octets: 62 / Octets: 128 (Reverse ...)", "Octets: 229 / Octets: 0 (Reverse ...)", ...
    assert_eq!(got[0], (62, 1));
    assert_eq!(got[1], (229, 1));
    assert_eq!(recs.len(), 4);
}
