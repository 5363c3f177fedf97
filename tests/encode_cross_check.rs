//! `flowgen::encode` checked against an independent decoder (`netflow_parser`): what the encoder
//! writes is what another implementation of the RFCs reads back.

use std::collections::HashMap;

use flowgen::encode::*;
use flowgen::model::*;
use netflow_parser::NetflowParser;
use serde_json::{Value as Json, json};

const EXPORT_SECS: u32 = 1_767_225_600;

fn flows(n: usize, v6_fraction: f64) -> Vec<Flow> {
    let mut model = TrafficModel::new(500, 1.1, v6_fraction, 9).unwrap();
    let export_ms = u64::from(EXPORT_SECS) * 1000;
    (0..n as u64)
        .map(|i| model.next_flow(export_ms - 60_000 + i * 7, export_ms - 1_000 + i, 1 + i % 5))
        .collect()
}

/// Data records of every parsed packet as name → value, values reduced to a number (integers,
/// times in ms) or a string (addresses, strings).
fn data_records(packets: &Json) -> Vec<HashMap<String, Json>> {
    let mut out = Vec::new();
    for packet in packets.as_array().unwrap() {
        let body = packet.get("V9").or_else(|| packet.get("IPFix")).unwrap();
        for set in body["flowsets"].as_array().unwrap() {
            let Some(records) = set["body"].get("Data").map(|d| &d["fields"]) else {
                continue;
            };
            for record in records.as_array().unwrap() {
                let mut fields = HashMap::new();
                for pair in record.as_array().unwrap() {
                    let name = match &pair[0] {
                        Json::String(s) => s.clone(),
                        Json::Object(o) => o.values().next().unwrap().as_str().unwrap().into(),
                        other => panic!("field name {other}"),
                    };
                    let (kind, v) = pair[1].as_object().unwrap().iter().next().unwrap();
                    let value = match kind.as_str() {
                        "DataNumber" => v.as_object().unwrap().values().next().unwrap().clone(),
                        "Duration" => json!(
                            v["secs"].as_u64().unwrap() * 1000
                                + v["nanos"].as_u64().unwrap() / 1_000_000
                        ),
                        _ => v.clone(),
                    };
                    fields.insert(name, value);
                }
                out.push(fields);
            }
        }
    }
    out
}

/// The flows in the order the fast encoders write them: IPv4 first, then IPv6.
fn in_wire_order(flows: &[Flow]) -> Vec<Flow> {
    let mut sorted = flows.to_vec();
    sorted.sort_by_key(|f| f.src_addr.is_ipv6());
    sorted
}

#[test]
fn netflow_parser_reads_back_a_full_v5_datagram() {
    let flows = flows(V5_MAX_RECORDS, 0.0);
    let h = V5Header {
        sys_uptime_ms: 3_600_000,
        unix_secs: EXPORT_SECS,
        unix_nsecs: 250_000_000,
        flow_sequence: 42,
        engine_type: 0,
        engine_id: 1,
        sampling_mode: 1,
        sampling_interval: 64,
    };
    let mut buf = Vec::new();
    encode_v5(&mut buf, &h, &flows).unwrap();
    let parsed = NetflowParser::default().parse_bytes(&buf);
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    let json = serde_json::to_value(&parsed.packets).unwrap();
    let v5 = &json[0]["V5"];
    assert_eq!(v5["header"]["count"], 30);
    assert_eq!(v5["header"]["flow_sequence"], 42);
    assert_eq!(v5["header"]["sampling_interval"], (1 << 14) | 64);
    let boot = h.boot_ms();
    for (rec, flow) in v5["flowsets"].as_array().unwrap().iter().zip(&flows) {
        assert_eq!(rec["src_addr"], flow.src_addr.to_string());
        assert_eq!(rec["dst_addr"], flow.dst_addr.to_string());
        assert_eq!(rec["next_hop"], flow.next_hop.to_string());
        assert_eq!(rec["src_port"], flow.src_port);
        assert_eq!(rec["dst_port"], flow.dst_port);
        assert_eq!(rec["d_octets"], flow.bytes);
        assert_eq!(rec["d_pkts"], flow.packets);
        assert_eq!(rec["first"], flow.start_ms - boot);
        assert_eq!(rec["last"], flow.end_ms - boot);
        assert_eq!(rec["input"], flow.in_if);
        assert_eq!(rec["src_as"], flow.src_as);
        assert_eq!(rec["dst_mask"], flow.dst_mask);
    }
}

#[test]
fn netflow_parser_reads_back_v9_realistic_templates_and_records() {
    let flows = flows(DEFAULT_RECORDS_PER_DATAGRAM, 0.3);
    let h = V9Header {
        sys_uptime_ms: 7_200_000,
        unix_secs: EXPORT_SECS,
        sequence: 5,
        source_id: 77,
    };
    let mut buf = Vec::new();
    encode_v9(&mut buf, &h, &flows, true).unwrap();
    let parsed = NetflowParser::default().parse_bytes(&buf);
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    let json = serde_json::to_value(&parsed.packets).unwrap();
    assert_eq!(json[0]["V9"]["header"]["count"], 32);
    let records = data_records(&json);
    assert_eq!(records.len(), flows.len());
    let boot = h.boot_ms();
    for (rec, flow) in records.iter().zip(in_wire_order(&flows)) {
        let (src, dst, nh) = if flow.src_addr.is_ipv6() {
            ("Ipv6SrcAddr", "Ipv6DstAddr", "Ipv6NextHop")
        } else {
            ("Ipv4SrcAddr", "Ipv4DstAddr", "Ipv4NextHop")
        };
        assert_eq!(rec[src], flow.src_addr.to_string());
        assert_eq!(rec[dst], flow.dst_addr.to_string());
        assert_eq!(rec[nh], flow.next_hop.to_string());
        assert_eq!(rec["L4SrcPort"], flow.src_port);
        assert_eq!(rec["L4DstPort"], flow.dst_port);
        assert_eq!(rec["InBytes"], flow.bytes);
        assert_eq!(rec["InPkts"], flow.packets);
        assert_eq!(rec["FirstSwitched"], flow.start_ms - boot);
        assert_eq!(rec["LastSwitched"], flow.end_ms - boot);
        assert_eq!(rec["SrcAs"], flow.src_as);
        assert_eq!(rec["DstAs"], flow.dst_as);
        assert_eq!(rec["OutputSnmp"], flow.out_if);
    }
}

#[test]
fn netflow_parser_reads_back_ipfix_realistic_templates_and_records() {
    let flows = flows(DEFAULT_RECORDS_PER_DATAGRAM, 0.3);
    let h = IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 300,
        domain_id: 4,
    };
    let mut buf = Vec::new();
    encode_ipfix(&mut buf, &h, &flows, true).unwrap();
    let parsed = NetflowParser::default().parse_bytes(&buf);
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    let json = serde_json::to_value(&parsed.packets).unwrap();
    assert_eq!(json[0]["IPFix"]["header"]["length"], buf.len());
    let records = data_records(&json);
    assert_eq!(records.len(), flows.len());
    for (rec, flow) in records.iter().zip(in_wire_order(&flows)) {
        let (src, nh) = if flow.src_addr.is_ipv6() {
            ("SourceIpv6address", "IpNextHopIpv6address")
        } else {
            ("SourceIpv4address", "IpNextHopIpv4address")
        };
        assert_eq!(rec[src], flow.src_addr.to_string());
        assert_eq!(rec[nh], flow.next_hop.to_string());
        assert_eq!(rec["DestinationTransportPort"], flow.dst_port);
        assert_eq!(rec["OctetDeltaCount"], flow.bytes);
        assert_eq!(rec["PacketDeltaCount"], flow.packets);
        assert_eq!(rec["FlowStartMilliseconds"], flow.start_ms);
        assert_eq!(rec["FlowEndMilliseconds"], flow.end_ms);
        assert_eq!(rec["BgpSourceAsNumber"], flow.src_as);
    }
}

#[test]
fn netflow_parser_reads_back_ipfix_varlen_and_enterprise_fields() {
    let t = Template::new(
        400,
        vec![
            FieldSpec::new(82, VARLEN),
            FieldSpec::enterprise(7, 4, 29305), // RFC 5103 reverse sourceTransportPort
            FieldSpec::new(8, 4),
        ],
    );
    let long = "x".repeat(300);
    let mut buf = Vec::new();
    let mut msg = Message::ipfix(&mut buf, &IpfixHeader::default());
    msg.templates(std::slice::from_ref(&t)).unwrap();
    let addr = |s: &str| Value::Addr(s.parse().unwrap());
    msg.data(
        &t,
        &[
            &[
                Value::Bytes(long.as_bytes()),
                Value::Unsigned(9),
                addr("10.1.2.3"),
            ],
            &[Value::Bytes(b"eth0"), Value::Unsigned(10), addr("10.1.2.4")],
            &[
                Value::BytesLongForm(b"ge-0"),
                Value::Unsigned(11),
                addr("10.1.2.5"),
            ],
        ],
    )
    .unwrap();
    msg.finish().unwrap();
    let parsed = NetflowParser::default().parse_bytes(&buf);
    assert!(parsed.error.is_none(), "{:?}", parsed.error);
    let records = data_records(&serde_json::to_value(&parsed.packets).unwrap());
    let got: Vec<_> = records
        .iter()
        .map(|r| {
            (
                r["InterfaceName"].as_str().unwrap().to_string(),
                r["ReverseSourceTransportPort"].as_u64().unwrap(),
                r["SourceIpv4address"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (long, 9, "10.1.2.3".into()),
            ("eth0".into(), 10, "10.1.2.4".into()),
            ("ge-0".into(), 11, "10.1.2.5".into()),
        ]
    );
}
