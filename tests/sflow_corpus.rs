//! sFlow v5 against tshark, field by field: every flow sample of the real agents' captures in
//! `../shared/corpus/vendor/akvorado-sflow/` decodes to one record carrying what tshark's full
//! decode (`X.tshark.json`) says for the same sample.
//!
//! tshark's JSON repeats keys (a QinQ header has two `vlan`, an extended gateway's communities
//! share a name with its AS path), so it is read into a tree that keeps every key in order
//! ([`J`]); the first occurrence is the outer header, which is what sluice reports (tunnels such
//! as VXLAN are not opened).

use std::net::{IpAddr, Ipv6Addr};
use std::path::Path;

use collector::record::{flags, to_v6};
use collector::{FlowRecord, SamplingSource, VERSION_SFLOW};
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

mod common;

/// A JSON value with object keys kept in order, duplicates included.
#[derive(Debug)]
enum J {
    Str(String),
    Obj(Vec<(String, J)>),
    Arr(Vec<J>),
    Other,
}

impl<'de> Deserialize<'de> for J {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<J, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = J;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<J, E> {
                Ok(J::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<J, E> {
                Ok(J::Str(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_unit<E>(self) -> Result<J, E> {
                Ok(J::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(J::Arr(v))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<J, A::Error> {
                let mut v = Vec::new();
                while let Some((k, x)) = a.next_entry()? {
                    v.push((k, x));
                }
                Ok(J::Obj(v))
            }
        }
        d.deserialize_any(V)
    }
}

impl J {
    fn entries(&self) -> &[(String, J)] {
        match self {
            J::Obj(v) => v,
            _ => &[],
        }
    }
    /// The first value under `key`.
    fn get(&self, key: &str) -> Option<&J> {
        self.entries()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
    /// The first value under `key`, searched depth first (tshark nests some fields in `_tree`
    /// objects).
    fn find(&self, key: &str) -> Option<&J> {
        for (k, v) in self.entries() {
            if k == key {
                return Some(v);
            }
            if let Some(x) = v.find(key) {
                return Some(x);
            }
        }
        None
    }
    fn str(&self) -> &str {
        match self {
            J::Str(s) => s,
            _ => panic!("not a string: {self:?}"),
        }
    }
    /// A number in decimal or `0x` hex.
    fn num(&self) -> u64 {
        let s = self.str();
        match s.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).unwrap(),
            None => s.parse().unwrap_or_else(|_| panic!("not a number: {s}")),
        }
    }
    fn num_at(&self, key: &str) -> Option<u64> {
        self.find(key).map(J::num)
    }
}

/// What tshark says about one flow sample.
struct Sample<'a> {
    agent: IpAddr,
    sub_agent: u64,
    name: &'a str,
    body: &'a J,
}

fn samples(frames: &J) -> Vec<Sample<'_>> {
    let J::Arr(frames) = frames else {
        panic!("tshark JSON is not an array")
    };
    let mut out = Vec::new();
    for f in frames {
        let layers = f.get("_source").and_then(|s| s.get("layers")).unwrap();
        let Some(sflow) = layers.get("sflow") else {
            continue;
        };
        let agent: IpAddr = sflow.get("sflow_245.agent").unwrap().str().parse().unwrap();
        let sub_agent = sflow.get("sflow_245.sub_agent_id").unwrap().num();
        for (name, body) in sflow.entries() {
            if name.starts_with("Flow sample") || name.starts_with("Expanded flow sample") {
                out.push(Sample {
                    agent,
                    sub_agent,
                    name,
                    body,
                });
            }
        }
    }
    out
}

/// Datagrams whose UDP payload is longer than the header and the samples tshark found.
fn trailing_datagrams(frames: &J) -> u64 {
    let J::Arr(frames) = frames else { return 0 };
    let mut n = 0;
    for f in frames {
        let layers = f.get("_source").and_then(|s| s.get("layers")).unwrap();
        let Some(sflow) = layers.get("sflow") else {
            continue;
        };
        let payload = layers.get("udp").unwrap().num_at("udp.length").unwrap() - 8;
        let agent_len = if sflow.get("sflow_245.agent").is_some() {
            4
        } else {
            16
        };
        let mut used = 24 + agent_len;
        for (_, body) in sflow.entries() {
            if let Some(len) = body.get("sflow_5.sample_length") {
                used += 8 + len.num();
            }
        }
        if payload > used {
            n += 1;
        }
    }
    n
}

/// (format, value) of an interface word.
fn split(word: u64) -> (u64, u64) {
    (word >> 30, word & 0x3FFF_FFFF)
}

/// The interfaces of a sample as (format, value), input then output.
fn interfaces(s: &Sample<'_>) -> [(u64, u64); 2] {
    let b = s.body;
    if s.name.starts_with("Expanded") {
        [
            (
                b.num_at("sflow.flow_sample.input_interface_format")
                    .unwrap(),
                b.num_at("sflow.flow_sample.input_interface_value").unwrap(),
            ),
            (
                b.num_at("sflow.flow_sample.output_interface.format")
                    .unwrap(),
                b.num_at("sflow.flow_sample.output_interface_value")
                    .unwrap(),
            ),
        ]
    } else {
        [
            split(b.num_at("sflow.flow_sample.input_interface").unwrap()),
            split(b.num_at("sflow.flow_sample.output_interface").unwrap()),
        ]
    }
}

/// Check one interface of `rec` against tshark's (format, value); returns what was checked.
fn check_interface(
    rec: &FlowRecord,
    (format, value): (u64, u64),
    output: bool,
    ctx: &str,
) -> &'static str {
    let got = if output { rec.out_if } else { rec.in_if };
    match format {
        0 if value == 0x3FFF_FFFF => {
            assert_eq!(got, Some(0), "{ctx}: internal interface");
            assert_ne!(rec.flags & flags::INTERNAL_INTERFACE, 0, "{ctx}: flag");
            "internal"
        }
        0 => {
            assert_eq!(got, Some(value as u32), "{ctx}: ifIndex");
            "ifindex"
        }
        1 => {
            assert!(output, "{ctx}: discard is an output format");
            assert_eq!(got, Some(0), "{ctx}: discarded output");
            assert_eq!(rec.discard_reason, Some(value as u16), "{ctx}: reason");
            let fs = rec.forwarding_status.expect("forwarding status");
            assert_eq!(fs >> 6, 0b10, "{ctx}: dropped class, got {fs}");
            "discard"
        }
        2 => {
            assert_eq!(got, Some(0), "{ctx}: several interfaces");
            assert_ne!(rec.flags & flags::MULTIPLE_INTERFACES, 0, "{ctx}: flag");
            "multiple"
        }
        f => panic!("{ctx}: interface format {f}"),
    }
}

fn addr(j: &J) -> Ipv6Addr {
    to_v6(j.str().parse::<IpAddr>().unwrap())
}

/// Compare one sample; returns the kinds of thing checked, for the coverage assertion.
fn check(s: &Sample<'_>, rec: &FlowRecord, ctx: &str, seen: &mut Vec<&'static str>) {
    let b = s.body;
    assert_eq!(rec.version, VERSION_SFLOW, "{ctx}");
    assert_eq!(rec.exporter, to_v6(s.agent), "{ctx}: agent");
    assert_eq!(u64::from(rec.observation_domain), s.sub_agent, "{ctx}");
    assert_eq!(rec.packets, 1, "{ctx}");
    let rate = b.num_at("sflow.flow_sample.sampling_rate").unwrap();
    assert_eq!(u64::from(rec.sampling_rate), rate, "{ctx}: rate");
    assert_eq!(rec.sampling_source, SamplingSource::Record, "{ctx}");
    let (class, index) = if s.name.starts_with("Expanded") {
        seen.push("expanded");
        (
            b.num_at("sflow.flow_sample.source_id_type").unwrap(),
            b.num_at("sflow.flow_sample.source_id_index").unwrap(),
        )
    } else {
        (
            b.num_at("sflow.flow_sample.source_id_class").unwrap(),
            b.num_at("sflow.flow_sample.index").unwrap(),
        )
    };
    let want_sampler = if class == 0 {
        index
    } else {
        class << 24 | (index & 0xFF_FFFF)
    };
    assert_eq!(rec.sampler_id.map(u64::from), Some(want_sampler), "{ctx}");
    let [i, o] = interfaces(s);
    seen.push(check_interface(rec, i, false, &format!("{ctx} input")));
    seen.push(check_interface(rec, o, true, &format!("{ctx} output")));

    // The extended switch record's input VLAN when it is a VLAN id (agents send 0 for none and
    // all ones for unknown); the header's outer tag otherwise.
    let switch_vlan = b
        .get("Extended switch data")
        .and_then(|sw| sw.num_at("sflow_245.vlan.in"))
        .filter(|v| (1..=4094).contains(v));
    if let Some(vlan) = switch_vlan {
        assert_eq!(rec.vlan.map(u64::from), Some(vlan), "{ctx}: switch vlan");
        seen.push("switch");
    }
    if let Some(rt) = b.get("Extended router data") {
        assert_eq!(
            rec.next_hop,
            Some(addr(rt.get("sflow_245.nexthop").unwrap())),
            "{ctx}: next hop"
        );
        assert_eq!(
            rec.src_mask.map(u64::from),
            rt.num_at("sflow_245.nexthop.src_mask"),
            "{ctx}"
        );
        assert_eq!(
            rec.dst_mask.map(u64::from),
            rt.num_at("sflow_245.nexthop.dst_mask"),
            "{ctx}"
        );
        seen.push("router");
    }
    if let Some(gw) = b.get("Extended gateway data") {
        assert_eq!(
            rec.src_as.map(u64::from),
            gw.num_at("sflow_245.srcAS"),
            "{ctx}: src AS"
        );
        // The destination AS is the last AS of the path (tshark lists every dstAS entry in
        // order); 0 when the path is empty (the destination is the router's own AS, as NetFlow
        // exporters report it).
        // tshark files the communities under `dstAS` too, in `communityEntries_tree`: only the
        // path segments' trees count.
        let mut last = None;
        for (k, seg) in gw.entries() {
            if k == "sflow.as_type_tree" {
                collect_last(seg, "sflow_245.dstAS", &mut last);
            }
        }
        assert_eq!(
            rec.dst_as.map(u64::from),
            Some(last.unwrap_or(0)),
            "{ctx}: dst AS"
        );
        seen.push("gateway");
    }

    // The sampled IPv4 record names the same packet as the raw header (when both are there, the
    // header wins for `bytes`); alone, it gives `bytes` too.
    if let Some(ip) = b.get("IPv4 data") {
        seen.push("sampled ipv4");
        assert_eq!(
            rec.src_addr,
            Some(addr(ip.get("sflow_245.ipv4_src").unwrap())),
            "{ctx}"
        );
        assert_eq!(
            rec.dst_addr,
            Some(addr(ip.get("sflow_245.ipv4_dst").unwrap())),
            "{ctx}"
        );
        assert_eq!(
            rec.protocol.map(u64::from),
            ip.num_at("sflow.ip_protocol"),
            "{ctx}"
        );
        assert_eq!(
            rec.src_port.map(u64::from),
            ip.num_at("sflow_245.ip.source_port"),
            "{ctx}"
        );
        assert_eq!(
            rec.dst_port.map(u64::from),
            ip.num_at("sflow.ip.destination_port"),
            "{ctx}"
        );
    }
    if let Some(raw) = b.get("Raw packet header") {
        seen.push("raw header");
        assert_eq!(
            rec.frame_bytes.map(u64::from),
            raw.num_at("sflow_245.header.frame_length"),
            "{ctx}: frame length"
        );
        let tree = raw
            .get("sflow_245.header_tree")
            .unwrap_or_else(|| panic!("{ctx}: tshark did not dissect the header"));
        check_header(tree, rec, switch_vlan.is_some(), ctx, seen);
    } else if let Some(ip) = b.get("IPv4 data") {
        assert_eq!(
            rec.bytes,
            ip.num_at("sflow_245.ip.length").unwrap(),
            "{ctx}: L3 bytes of the IPv4 record"
        );
        assert_eq!(rec.frame_bytes, None, "{ctx}");
    } else {
        panic!("{ctx}: a sample with neither a raw header nor an IP record");
    }
}

fn collect_last(j: &J, key: &str, last: &mut Option<u64>) {
    for (k, v) in j.entries() {
        if k == key {
            *last = Some(v.num());
        }
        collect_last(v, key, last);
    }
}

/// The raw header's dissection against the record: addresses, protocol, ports or ICMP type and
/// code, ToS, TCP flags, the VLAN and the L3 length (`bytes`).
fn check_header(tree: &J, rec: &FlowRecord, has_switch: bool, ctx: &str, seen: &mut Vec<&str>) {
    let ip4 = tree.get("ip");
    let ip6 = tree.get("ipv6");
    match tree.get("vlan") {
        None if !has_switch => assert_eq!(rec.vlan, None, "{ctx}: no VLAN anywhere"),
        None => {}
        Some(vlan) => {
            seen.push("802.1Q");
            if tree.entries().iter().filter(|(k, _)| k == "vlan").count() > 1 {
                seen.push("QinQ");
            }
            if !has_switch {
                assert_eq!(
                    rec.vlan.map(u64::from),
                    vlan.num_at("vlan.id"),
                    "{ctx}: outer VLAN tag"
                );
            }
        }
    }
    // tshark files a VXLAN payload outside the sFlow tree; the record has the outer packet.
    if tree.get("udp").and_then(|u| u.num_at("udp.dstport")) == Some(4789) {
        seen.push("tunnel (outer header reported)");
    }
    let (src, dst, proto, tos, l3) = match (ip4, ip6) {
        (Some(ip), _) => (
            addr(ip.get("ip.src").unwrap()),
            addr(ip.get("ip.dst").unwrap()),
            ip.num_at("ip.proto").unwrap(),
            ip.num_at("ip.dsfield").unwrap(),
            ip.num_at("ip.len").unwrap(),
        ),
        (None, Some(ip)) => {
            seen.push("ipv6");
            (
                addr(ip.get("ipv6.src").unwrap()),
                addr(ip.get("ipv6.dst").unwrap()),
                ip.num_at("ipv6.nxt").unwrap(),
                ip.num_at("ipv6.tclass").unwrap(),
                ip.num_at("ipv6.plen").unwrap() + 40,
            )
        }
        (None, None) => panic!("{ctx}: no IP header in the sample"),
    };
    assert_eq!(rec.src_addr, Some(src), "{ctx}: source");
    assert_eq!(rec.dst_addr, Some(dst), "{ctx}: destination");
    assert_eq!(rec.protocol.map(u64::from), Some(proto), "{ctx}: protocol");
    assert_eq!(rec.tos.map(u64::from), Some(tos), "{ctx}: ToS");
    assert_eq!(rec.bytes, l3, "{ctx}: L3 bytes = the IP length");
    if let Some(tcp) = tree.get("tcp") {
        assert_eq!(
            rec.src_port.map(u64::from),
            tcp.num_at("tcp.srcport"),
            "{ctx}"
        );
        assert_eq!(
            rec.dst_port.map(u64::from),
            tcp.num_at("tcp.dstport"),
            "{ctx}"
        );
        assert_eq!(
            rec.tcp_flags.map(u64::from),
            tcp.num_at("tcp.flags").map(|f| f & 0x1ff),
            "{ctx}: TCP flags"
        );
        seen.push("tcp");
    } else if let Some(udp) = tree.get("udp") {
        assert_eq!(
            rec.src_port.map(u64::from),
            udp.num_at("udp.srcport"),
            "{ctx}"
        );
        assert_eq!(
            rec.dst_port.map(u64::from),
            udp.num_at("udp.dstport"),
            "{ctx}"
        );
        seen.push("udp");
    } else if let Some(icmp) = tree.get("icmp").or_else(|| tree.get("icmpv6")) {
        let v6 = tree.get("icmpv6").is_some();
        let p = if v6 { "icmpv6" } else { "icmp" };
        assert_eq!(
            rec.icmp_type.map(u64::from),
            icmp.num_at(&format!("{p}.type")),
            "{ctx}: ICMP type"
        );
        assert_eq!(
            rec.icmp_code.map(u64::from),
            icmp.num_at(&format!("{p}.code")),
            "{ctx}: ICMP code"
        );
        assert_eq!(rec.src_port, None, "{ctx}: ICMP has no ports");
        seen.push(if v6 { "icmpv6" } else { "icmpv4" });
    }
}

fn run_file(dir: &Path, name: &str, seen: &mut Vec<&'static str>) -> usize {
    let pcap = dir.join(format!("{name}.pcap"));
    let json = std::fs::read_to_string(dir.join(format!("{name}.tshark.json"))).unwrap();
    let tree: J = serde_json::from_str(&json).unwrap();
    let want = samples(&tree);
    let (recs, decoder) = common::decode_capture(&pcap, Some(6343));
    assert_eq!(recs.len(), want.len(), "{name}: one record per flow sample");
    for (i, (s, rec)) in want.iter().zip(&recs).enumerate() {
        check(s, rec, &format!("{name} sample {i} ({})", s.name), seen);
    }
    // A datagram longer than its announced samples (some captures of the corpus were cut down
    // from larger datagrams by lowering the sample count) keeps its samples and counts the
    // rest as one `bad_length`; anything else is an error.
    let trailing = trailing_datagrams(&tree);
    let stats = decoder.stats();
    for (agent, st) in &stats.exporters {
        let mut want_errors = [0u64; collector::ErrorKind::COUNT];
        want_errors[collector::ErrorKind::BadLength as usize] = trailing;
        assert_eq!(st.errors, want_errors, "{name}: {agent}");
        if trailing > 0 {
            seen.push("bytes after the samples");
        }
        assert_eq!(st.version, VERSION_SFLOW, "{name}");
    }
    want.len()
}

#[test]
fn every_corpus_flow_sample_decodes_to_what_tshark_says() {
    let Some(shared) = testkit::shared_dir("every_corpus_flow_sample_decodes_to_what_tshark_says")
    else {
        return;
    };
    let dir = shared.join("corpus/vendor/akvorado-sflow");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().into_string().unwrap();
            n.strip_suffix(".pcap").map(str::to_string)
        })
        .collect();
    names.sort();
    assert_eq!(names.len(), 11, "the corpus has 11 captures: {names:?}");
    let mut seen = Vec::new();
    let mut total = 0;
    for name in &names {
        let n = run_file(&dir, name, &mut seen);
        assert!(n > 0, "{name}: no flow sample");
        total += n;
    }
    // What the corpus covers, so that a capture dissected differently cannot pass unchecked.
    for kind in [
        "expanded",
        "ifindex",
        "internal",
        "discard",
        "multiple",
        "switch",
        "router",
        "gateway",
        "raw header",
        "sampled ipv4",
        "802.1Q",
        "QinQ",
        "tunnel (outer header reported)",
        "ipv6",
        "tcp",
        "udp",
        "icmpv4",
        "icmpv6",
        "bytes after the samples",
    ] {
        assert!(seen.contains(&kind), "nothing checked of kind {kind}");
    }
    assert!(total >= 11, "{total} samples");
}
