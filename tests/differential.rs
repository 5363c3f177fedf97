//! Differential test: sluice's decoder against an independent implementation (`netflow_parser`
//! 1.0.6) on every capture of the shared corpus.
//!
//! Both decoders see the same datagrams in file order, with state kept per exporter address (one
//! `NetflowParser` per source address, as sluice scopes its state). For every datagram the data
//! records both produce are reduced to the fields both decode and compared one by one.
//!
//! Where they differ, the difference is classified into one of a closed set of known
//! `netflow_parser` defects ([`Known`]); each has its own test below that shows the defect on a
//! small input and says why sluice's answer is the right one (checked against tshark). The corpus
//! test fails on any difference that is not one of them, and on any known difference that stops
//! appearing where it is expected, so the table of expectations cannot go stale.

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use collector::record::{display_addr, flags};
use collector::{Decoder, DecoderSettings, FlowRecord, SamplingSource};
use flowgen::encode::{FieldSpec, IpfixHeader, Message, Template, Value};
use netflow_parser::variable_versions::ipfix::lookup::{IANAIPFixField, IPFixField};
use netflow_parser::variable_versions::{ipfix, v9};
use netflow_parser::{FieldValue, NetflowPacket, NetflowParser, PendingFlowsConfig};

/// The fields both decoders produce, in one comparable shape.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Common {
    src_addr: Option<IpAddr>,
    dst_addr: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    protocol: Option<u8>,
    bytes: u64,
    packets: u64,
    in_if: Option<u32>,
    out_if: Option<u32>,
    src_as: Option<u32>,
    dst_as: Option<u32>,
    src_mask: Option<u8>,
    dst_mask: Option<u8>,
    tos: Option<u8>,
    tcp_flags: Option<u16>,
    next_hop: Option<IpAddr>,
    /// A sampling rate carried in the record itself (IE 34 / 50 / 305).
    record_sampling: Option<u32>,
}

impl Common {
    fn from_sluice(r: &FlowRecord) -> Common {
        Common {
            src_addr: r.src_addr.map(display_addr),
            dst_addr: r.dst_addr.map(display_addr),
            src_port: r.src_port,
            dst_port: r.dst_port,
            protocol: r.protocol,
            bytes: r.bytes,
            packets: r.packets,
            in_if: r.in_if,
            out_if: r.out_if,
            src_as: r.src_as,
            dst_as: r.dst_as,
            src_mask: r.src_mask,
            dst_mask: r.dst_mask,
            tos: r.tos,
            tcp_flags: r.tcp_flags,
            next_hop: r.next_hop.map(display_addr),
            record_sampling: (r.sampling_source == SamplingSource::Record)
                .then_some(r.sampling_rate),
        }
    }

    fn from_v5(f: &netflow_parser::static_versions::v5::FlowSet) -> Common {
        Common {
            src_addr: Some(IpAddr::V4(f.src_addr)),
            dst_addr: Some(IpAddr::V4(f.dst_addr)),
            src_port: Some(f.src_port),
            dst_port: Some(f.dst_port),
            protocol: Some(f.protocol_number),
            bytes: u64::from(f.d_octets),
            packets: u64::from(f.d_pkts),
            in_if: Some(u32::from(f.input)),
            out_if: Some(u32::from(f.output)),
            src_as: Some(u32::from(f.src_as)),
            dst_as: Some(u32::from(f.dst_as)),
            src_mask: Some(f.src_mask),
            dst_mask: Some(f.dst_mask),
            tos: Some(f.tos),
            tcp_flags: Some(u16::from(f.tcp_flags)),
            next_hop: Some(IpAddr::V4(f.next_hop)),
            record_sampling: None,
        }
    }

    /// Build from (IANA element id, value) pairs with the precedence sluice documents: delta
    /// counters over totals, logical interfaces over physical ones, a specified address over an
    /// unspecified twin.
    fn from_fields(fields: &[(u16, Val)]) -> Common {
        let get = |ie: u16| {
            fields
                .iter()
                .find(|(i, _)| *i == ie)
                .map(|(_, v)| v.clone())
        };
        let num = |ie: u16| get(ie).and_then(|v| v.num());
        let addr = |a: u16, b: u16| {
            let mut slot: Option<IpAddr> = None;
            for (ie, v) in fields {
                if (*ie == a || *ie == b)
                    && let Some(x) = v.addr()
                    && (slot.is_none() || !x.is_unspecified())
                {
                    slot = Some(x);
                }
            }
            slot
        };
        let sampling = num(34).or(num(50)).or(num(305)).map(|n| n as u32);
        Common {
            src_addr: addr(8, 27),
            dst_addr: addr(12, 28),
            src_port: num(7).map(|n| n as u16),
            dst_port: num(11).map(|n| n as u16),
            protocol: num(4).map(|n| n as u8),
            bytes: num(1).or(num(85)).unwrap_or(0),
            packets: num(2).or(num(86)).unwrap_or(0),
            in_if: num(10).or(num(252)).map(|n| n as u32),
            out_if: num(14).or(num(253)).map(|n| n as u32),
            src_as: num(16).map(|n| n as u32),
            dst_as: num(17).map(|n| n as u32),
            src_mask: num(9).or(num(29)).map(|n| n as u8),
            dst_mask: num(13).or(num(30)).map(|n| n as u8),
            tos: num(5).map(|n| n as u8),
            tcp_flags: num(6).map(|n| n as u16),
            next_hop: addr(15, 62),
            record_sampling: sampling.filter(|&r| r > 1),
        }
    }
}

/// A field value from netflow_parser, reduced.
#[derive(Clone, Debug, PartialEq)]
enum Val {
    Num(u64),
    Addr(IpAddr),
    /// Raw bytes netflow_parser did not interpret (it keeps them when the length does not match
    /// the element's usual type).
    Bytes(Vec<u8>),
    Other,
}

impl Val {
    fn of(v: &FieldValue) -> Val {
        match v {
            FieldValue::DataNumber(d) => match d.as_u64() {
                Some(n) => Val::Num(n),
                None => match d {
                    netflow_parser::DataNumber::Vec(b) => Val::Bytes(b.clone()),
                    _ => Val::Other,
                },
            },
            FieldValue::Ip4Addr(a) => Val::Addr(IpAddr::V4(*a)),
            FieldValue::Ip6Addr(a) => Val::Addr(IpAddr::V6(*a).to_canonical()),
            FieldValue::ProtocolType(p) => Val::Num(u64::from(u8::from(*p))),
            FieldValue::TcpControlBits(b, _) => Val::Num(u64::from(u16::from(*b))),
            FieldValue::Vec(b) => Val::Bytes(b.clone()),
            _ => Val::Other,
        }
    }
    fn num(&self) -> Option<u64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }
    fn addr(&self) -> Option<IpAddr> {
        match self {
            Val::Addr(a) => Some(*a),
            _ => None,
        }
    }
}

/// The IANA element id of an IPFIX field as netflow_parser names it (`None` for enterprise fields).
fn ipfix_ie(f: &IPFixField, ids: &HashMap<IANAIPFixField, u16>) -> Option<u16> {
    match f {
        IPFixField::IANA(IANAIPFixField::Unknown(id)) => Some(*id),
        IPFixField::IANA(x) => ids.get(x).copied(),
        _ => None,
    }
}

fn iana_ids() -> HashMap<IANAIPFixField, u16> {
    (0..=1024u16)
        .map(|id| (IANAIPFixField::from(id), id))
        .filter(|(f, _)| !matches!(f, IANAIPFixField::Unknown(_)))
        .collect()
}

/// What netflow_parser made of one datagram.
#[derive(Debug, Default)]
struct NpOut {
    records: Vec<Common>,
    /// Raw field lists of the records (element id, value), for classifying differences.
    raw: Vec<Vec<(u16, Val)>>,
    /// Data sets it reported as having no template.
    no_template_sets: usize,
    /// Options data records, as (element id, value) lists (scope fields left out).
    options: Vec<Vec<(u16, Val)>>,
    /// Its error, if it stopped early.
    error: Option<String>,
    /// It panicked.
    panicked: bool,
}

fn np_decode(
    parser: &mut NetflowParser,
    dgram: &[u8],
    ids: &HashMap<IANAIPFixField, u16>,
) -> NpOut {
    let mut out = NpOut::default();
    let res = match catch_unwind(AssertUnwindSafe(|| parser.parse_bytes(dgram))) {
        Ok(r) => r,
        Err(_) => {
            out.panicked = true;
            return out;
        }
    };
    out.error = res.error.as_ref().map(|e| e.to_string());
    for p in &res.packets {
        match p {
            NetflowPacket::V5(v5) => {
                for f in &v5.flowsets {
                    out.records.push(Common::from_v5(f));
                    out.raw.push(Vec::new());
                }
            }
            NetflowPacket::V9(v) => {
                for set in &v.flowsets {
                    match &set.body {
                        v9::FlowSetBody::Data(d) => {
                            for rec in &d.fields {
                                let fields: Vec<(u16, Val)> = rec
                                    .iter()
                                    .map(|(f, v)| (u16::from(*f), Val::of(v)))
                                    .collect();
                                out.records.push(Common::from_fields(&fields));
                                out.raw.push(fields);
                            }
                        }
                        v9::FlowSetBody::OptionsData(d) => {
                            for rec in &d.fields {
                                out.options.push(
                                    rec.options_fields
                                        .iter()
                                        .map(|(f, v)| (u16::from(*f), Val::of(v)))
                                        .collect(),
                                );
                            }
                        }
                        v9::FlowSetBody::NoTemplate(_) => out.no_template_sets += 1,
                        _ => {}
                    }
                }
            }
            NetflowPacket::IPFix(x) => {
                for set in &x.flowsets {
                    match &set.body {
                        ipfix::FlowSetBody::Data(d) => {
                            for rec in &d.fields {
                                let fields: Vec<(u16, Val)> = rec
                                    .iter()
                                    .filter_map(|(f, v)| Some((ipfix_ie(f, ids)?, Val::of(v))))
                                    .collect();
                                out.records.push(Common::from_fields(&fields));
                                out.raw.push(fields);
                            }
                        }
                        ipfix::FlowSetBody::OptionsData(d) => {
                            for rec in &d.fields {
                                out.options.push(
                                    rec.iter()
                                        .filter_map(|(f, v)| Some((ipfix_ie(f, ids)?, Val::of(v))))
                                        .collect(),
                                );
                            }
                        }
                        ipfix::FlowSetBody::NoTemplate(_) => out.no_template_sets += 1,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// One datagram as both decoders saw it.
#[derive(Debug)]
struct Pair {
    index: usize,
    sluice: Vec<FlowRecord>,
    np: NpOut,
}

fn decode_both(path: &Path) -> Vec<Pair> {
    let ids = iana_ids();
    let mut decoder = Decoder::new(DecoderSettings::default());
    let mut parsers: HashMap<IpAddr, NetflowParser> = HashMap::new();
    let mut pairs = Vec::new();
    collector::capture::for_each_datagram(path, None, |ts, d| {
        let mut recs = Vec::new();
        decoder
            .decode(d.src.ip(), d.payload, ts, &mut recs)
            .unwrap_or_else(|e| panic!("{}: sluice: {e}", path.display()));
        let parser = parsers.entry(d.src.ip()).or_default();
        let np = np_decode(parser, d.payload, &ids);
        pairs.push(Pair {
            index: pairs.len(),
            sluice: recs,
            np,
        });
    })
    .unwrap();
    pairs
}

fn corpus_files(shared: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in ["corpus/synthetic-a", "corpus/vendor/akvorado"] {
        for e in std::fs::read_dir(shared.join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|e| e == "pcap") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

fn file_name(p: &Path) -> String {
    p.file_name().unwrap().to_string_lossy().into_owned()
}

/// Records sluice replayed from data held for a missing template, per capture. This is the only
/// difference the corpus shows; it is explained by
/// [`netflow_parser_drops_data_that_precedes_its_template`].
const EXPECTED_REPLAYED: [(&str, usize); 1] = [("data+templates.pcap", 11)];

#[test]
fn sluice_and_netflow_parser_agree_on_every_record_of_every_corpus_capture() {
    let Some(shared) = testkit::shared_dir(
        "sluice_and_netflow_parser_agree_on_every_record_of_every_corpus_capture",
    ) else {
        return;
    };
    let files = corpus_files(&shared);
    assert!(
        files.len() >= 20,
        "corpus incomplete: {} captures",
        files.len()
    );
    let mut replayed_by_file = BTreeMap::new();
    let mut failures = Vec::new();
    for f in &files {
        let name = file_name(f);
        let pairs = decode_both(f);
        let (mut compared, mut with_traffic, mut replayed) = (0usize, 0usize, 0usize);
        for p in &pairs {
            let here = format!("{name} datagram {}", p.index);
            assert!(!p.np.panicked, "{here}: netflow_parser panicked");
            assert_eq!(p.np.error, None, "{here}: netflow_parser error");
            let fresh: Vec<Common> = p
                .sluice
                .iter()
                .filter(|r| r.flags & flags::REPLAYED == 0)
                .map(Common::from_sluice)
                .collect();
            let n_replayed = p.sluice.len() - fresh.len();
            if n_replayed > 0 {
                // Known difference: netflow_parser reports the held set as "no template".
                assert!(
                    p.np.no_template_sets > 0,
                    "{here}: replayed without a held set"
                );
                replayed += n_replayed;
            }
            if fresh.len() != p.np.records.len() {
                failures.push(format!(
                    "{here}: sluice {} records, netflow_parser {}",
                    fresh.len(),
                    p.np.records.len()
                ));
                continue;
            }
            for (i, (s, n)) in fresh.iter().zip(&p.np.records).enumerate() {
                if s != n {
                    failures.push(format!(
                        "{here} record {i}:\n  sluice {s:?}\n  np     {n:?}"
                    ));
                }
                compared += 1;
                with_traffic += usize::from(s.src_addr.is_some() && s.bytes > 0 && s.packets > 0);
            }
        }
        // Every capture but the options-only one has records, and they were compared. In the
        // synthetic captures every record has addresses and counters (the vendor ones include
        // L2-only records: raw frames, Ethernet over MPLS).
        if name != "options.pcap" {
            assert!(compared > 0, "{name}: no record compared");
        }
        if f.parent().unwrap().ends_with("synthetic-a") {
            assert_eq!(
                with_traffic, compared,
                "{name}: records without addresses or counters"
            );
        }
        if replayed > 0 {
            replayed_by_file.insert(name, replayed);
        }
    }
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let expected: BTreeMap<String, usize> = EXPECTED_REPLAYED
        .iter()
        .map(|&(f, n)| (f.to_string(), n))
        .collect();
    assert_eq!(
        replayed_by_file, expected,
        "records only sluice decodes (replayed), by file"
    );
}

/// netflow_parser (default configuration) drops a data set whose template has not arrived yet,
/// even when the template follows later in the same datagram; it returns the set as
/// `NoTemplate` and never decodes it. Cisco exporters do send data first: in
/// `data+templates.pcap` the first FlowSet (id 257, 660 bytes) precedes the template 257 that
/// defines it (tshark, single pass, also shows "Data (660 bytes), no template found").
///
/// sluice holds the set and decodes it when the template arrives (RFC 7011 §8 lets a collector
/// keep such data; RFC 3954 §9 likewise), so it yields 11 more records. They are right: fed the
/// same datagram a second time, once it knows template 257, netflow_parser decodes the set to
/// the very same 11 records.
#[test]
fn netflow_parser_drops_data_that_precedes_its_template() {
    let Some(shared) = testkit::shared_dir("netflow_parser_drops_data_that_precedes_its_template")
    else {
        return;
    };
    let path = shared.join("corpus/vendor/akvorado/data+templates.pcap");
    let pairs = decode_both(&path);
    assert_eq!(pairs.len(), 1);
    let p = &pairs[0];
    let replayed: Vec<Common> = p
        .sluice
        .iter()
        .filter(|r| r.flags & flags::REPLAYED != 0)
        .map(Common::from_sluice)
        .collect();
    assert_eq!(p.sluice.len(), 21);
    assert_eq!(replayed.len(), 11);
    assert_eq!(
        p.np.records.len(),
        10,
        "netflow_parser decodes only the set after the template"
    );
    assert_eq!(p.np.no_template_sets, 1);

    // The same datagram again: now netflow_parser knows the template and decodes the first set.
    let ids = iana_ids();
    let mut datagram = Vec::new();
    collector::capture::for_each_datagram(&path, None, |_, d| datagram = d.payload.to_vec())
        .unwrap();
    let mut parser = NetflowParser::default();
    let first = np_decode(&mut parser, &datagram, &ids);
    assert_eq!(first.no_template_sets, 1);
    let second = np_decode(&mut parser, &datagram, &ids);
    assert_eq!(second.no_template_sets, 0);
    assert_eq!(second.records.len(), 21);
    assert_eq!(
        &second.records[..11],
        &replayed[..],
        "replayed records are the held set's"
    );

    // Its opt-in pending-flow cache (off by default) recovers the set, appended after the
    // other records of the datagram, and then agrees with sluice record for record.
    let mut pending = NetflowParser::builder()
        .with_pending_flows(PendingFlowsConfig::default())
        .build()
        .unwrap();
    let with_cache = np_decode(&mut pending, &datagram, &ids);
    let mut ours: Vec<String> = p
        .sluice
        .iter()
        .map(|r| format!("{:?}", Common::from_sluice(r)))
        .collect();
    let mut theirs: Vec<String> = with_cache
        .records
        .iter()
        .map(|r| format!("{r:?}"))
        .collect();
    ours.sort();
    theirs.sort();
    assert_eq!(ours, theirs);
}

fn ipfix_message(domain_id: u32, t: &Template, rows: &[&[Value<'_>]]) -> Vec<u8> {
    let mut buf = Vec::new();
    let h = IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 0,
        domain_id,
    };
    let mut msg = Message::ipfix(&mut buf, &h);
    msg.templates(std::slice::from_ref(t)).unwrap();
    msg.data(t, rows).unwrap();
    msg.finish().unwrap();
    buf
}

const EXPORT_SECS: u32 = 1_767_225_600;
const NOW_MS: i64 = EXPORT_SECS as i64 * 1000;

/// Decode one datagram with a fresh decoder and a fresh parser.
fn decode_one(datagram: &[u8]) -> (Vec<FlowRecord>, NpOut) {
    let from: IpAddr = "192.0.2.9".parse().unwrap();
    let mut decoder = Decoder::new(DecoderSettings::default());
    let mut recs = Vec::new();
    let sum = decoder.decode(from, datagram, NOW_MS, &mut recs).unwrap();
    assert_eq!(sum.error_count(), 0);
    let np = np_decode(&mut NetflowParser::default(), datagram, &iana_ids());
    assert!(!np.panicked && np.error.is_none(), "{np:?}");
    (recs, np)
}

/// RFC 7011 §6.2 (reduced-size encoding) lets an exporter send an unsigned64 counter in any
/// length from 1 to 8 bytes. netflow_parser only interprets 1, 2, 3, 4 and 8 bytes; 5, 6 and 7
/// byte counters come back as raw bytes (`DataNumber::Vec`), so a consumer reading numbers sees
/// no octet or packet count. sluice reads any length big-endian. tshark agrees with sluice
/// (a 7-byte octetDeltaCount of 2^50 shows as "Octets: 1125899906842624", a 5-byte
/// packetDeltaCount of 2^33 as "Packets: 8589934592", a 6-byte packetTotalCount of 3 * 2^40 as
/// "Permanent Packets: 3298534883328").
#[test]
fn netflow_parser_leaves_5_to_7_byte_reduced_size_counters_undecoded() {
    let t = Template::new(
        300,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(1, 7),
            FieldSpec::new(2, 5),
            FieldSpec::new(86, 6),
        ],
    );
    let a = Value::Addr("10.0.0.1".parse().unwrap());
    let row = [
        a,
        Value::Unsigned(1 << 50),
        Value::Unsigned(1 << 33),
        Value::Unsigned(3 << 40),
    ];
    let (recs, np) = decode_one(&ipfix_message(11, &t, &[&row]));
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].bytes, 1 << 50);
    assert_eq!(recs[0].packets, 1 << 33);
    assert_eq!(np.records.len(), 1);
    assert_eq!(
        np.raw[0][1..],
        [
            (1, Val::Bytes(vec![4, 0, 0, 0, 0, 0, 0])),
            (2, Val::Bytes(vec![2, 0, 0, 0, 0])),
            (86, Val::Bytes(vec![3, 0, 0, 0, 0, 0])),
        ]
    );
    // The 3- and 4-byte forms it does read agree with sluice.
    let t = Template::new(
        301,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(1, 3),
            FieldSpec::new(2, 4),
        ],
    );
    let row = [a, Value::Unsigned(70_000), Value::Unsigned(3_000_000_000)];
    let (recs, np) = decode_one(&ipfix_message(12, &t, &[&row]));
    assert_eq!(Common::from_sluice(&recs[0]), np.records[0]);
    assert_eq!(np.records[0].bytes, 70_000);
}

/// tcpControlBits (IE 6) is 16 bits wide in IPFIX: the TCP header's 12 flag bits, of which
/// 0x0200..0x0800 are reserved by TCP and exported as observed (RFC 7125, RFC 9565).
/// netflow_parser masks the value with 0x01FF and so silently clears the reserved bits; sluice
/// keeps them. tshark shows the same record as "TCP Flags: 0x0e12", "Reserved: 0x7".
#[test]
fn netflow_parser_clears_reserved_tcp_flag_bits() {
    let t = Template::new(
        300,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(6, 2),
            FieldSpec::new(1, 8),
        ],
    );
    let a = Value::Addr("10.0.0.1".parse().unwrap());
    let row = [a, Value::Unsigned(0x0E12), Value::Unsigned(10)];
    let (recs, np) = decode_one(&ipfix_message(13, &t, &[&row]));
    assert_eq!(recs[0].tcp_flags, Some(0x0E12));
    assert_eq!(np.records[0].tcp_flags, Some(0x0012));
    // Without reserved bits the two agree.
    let row = [a, Value::Unsigned(0x0112), Value::Unsigned(10)];
    let (recs, np) = decode_one(&ipfix_message(14, &t, &[&row]));
    assert_eq!(Common::from_sluice(&recs[0]), np.records[0]);
}

/// The top four bits of the 16-bit tcpControlBits are where the TCP header keeps its data
/// offset; RFC 7125 says they "MUST be exported as zero and MUST be ignored by the collector".
/// Both decoders clear them (sluice since c70c28c; this test found it keeping 0x5012). tshark
/// shows the nibble as "Zero (Header Length): 0x5" and the flags as ACK, SYN.
#[test]
fn tcp_flags_data_offset_bits_are_ignored() {
    let t = Template::new(
        300,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(6, 2),
            FieldSpec::new(1, 8),
        ],
    );
    let a = Value::Addr("10.0.0.1".parse().unwrap());
    let row = [a, Value::Unsigned(0x5012), Value::Unsigned(10)];
    let (recs, np) = decode_one(&ipfix_message(15, &t, &[&row]));
    assert_eq!(np.records[0].tcp_flags, Some(0x0012));
    assert_eq!(recs[0].tcp_flags, Some(0x0012));
}

/// Sampling announced in options data (RFC 3954 §6.1, RFC 7011 §3.4.2.2) applies to the data
/// records that follow. netflow_parser is a parser, not a collector: it returns the options
/// record and leaves every data record without a rate, so its byte and packet totals are the
/// sampled ones (2048 times too small in `samplingrate.pcap`). sluice applies the rate, by
/// sampler id where records carry one; the rates it applies are exactly those netflow_parser
/// decoded from the options records (tshark shows the same options records: sampler 1 at 2000
/// and sampler 2 at 4000 in `multiplesamplingrates.pcap`, samplingInterval 100 in
/// `data+templates.pcap`). Where the rate is in the data record itself (IE 34 in
/// `samplingrate.pcap`) both agree, and the corpus test compares it.
#[test]
fn netflow_parser_leaves_options_data_sampling_unapplied() {
    let Some(shared) = testkit::shared_dir("netflow_parser_leaves_options_data_sampling_unapplied")
    else {
        return;
    };
    for (file, rates) in [
        ("multiplesamplingrates.pcap", &[2000u32, 4000][..]),
        ("data+templates.pcap", &[100][..]),
    ] {
        let pairs = decode_both(&shared.join("corpus/vendor/akvorado").join(file));
        // (sampler id, rate) from netflow_parser's options records.
        let mut announced: Vec<(Option<u64>, u64)> = Vec::new();
        let mut applied = 0;
        for p in &pairs {
            for o in &p.np.options {
                let get = |ie: u16| o.iter().find(|(i, _)| *i == ie).and_then(|(_, v)| v.num());
                if let Some(rate) = get(34).or(get(50)) {
                    announced.push((get(48).or(get(302)), rate));
                }
            }
            assert!(p.np.records.iter().all(|r| r.record_sampling.is_none()));
            for r in &p.sluice {
                assert_eq!(
                    r.sampling_source,
                    SamplingSource::OptionsData,
                    "{file}: {r:?}"
                );
                let ok = announced.iter().any(|&(sampler, rate)| {
                    rate == u64::from(r.sampling_rate)
                        && (r.sampler_id.is_none() || sampler == r.sampler_id.map(u64::from))
                });
                assert!(
                    ok,
                    "{file}: rate {} not announced: {announced:?}",
                    r.sampling_rate
                );
                applied += 1;
            }
        }
        assert!(applied > 0, "{file}: no record");
        let mut seen: Vec<u32> = pairs
            .iter()
            .flat_map(|p| p.sluice.iter().map(|r| r.sampling_rate))
            .collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, rates, "{file}");
    }
}
