//! Decoder throughput in steady state: templates are learned before the measurement, and each
//! iteration decodes one data datagram of 30 records. Every group also runs the same datagrams
//! through `netflow_parser` (its template cache warmed the same way), so one run gives the ratio.
//!
//! Throughput is in elements = flow records. Run with `cargo bench --bench decode`.
//!
//! sFlow has a group of its own, `decode_8_samples/sflow`: one datagram of 8 flow samples
//! (compact and expanded in turn), each a 128-byte raw header (Ethernet, 802.1Q, IPv4, TCP) and
//! an extended switch record, as switches send them. Elements are samples. The same datagram
//! goes through `flowparser-sflow` (stateless, so nothing to warm), so one run gives the ratio:
//! `cargo bench --bench decode -- sflow`.
//!
//! Instructions per record: with `SLUICE_DECODE_COUNT=N` in the environment the binary skips
//! criterion and decodes each case's datagram N times with sluice, then N times with
//! `netflow_parser`, in two functions of their own, so that an instruction counter scoped to
//! those functions gives the count per record (instructions / (N × 30)), e.g.
//! `SLUICE_DECODE_COUNT=2000 SLUICE_DECODE_CASE=v9 valgrind --tool=callgrind
//! --collect-atstart=no --toggle-collect='*count_sluice*' <bench binary>`.

use std::hint::black_box;
use std::net::IpAddr;
use std::time::Duration;

use collector::{Decoder, DecoderSettings, FlowRecord, FnSink};
use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, Throughput, criterion_group};
use flowgen::encode::*;
use flowgen::model::*;
use flowparser_sflow::SflowParser;
use netflow_parser::NetflowParser;

#[path = "../tests/sflow_gen/mod.rs"]
mod sflow_gen;

const EXPORT_SECS: u32 = 1_767_225_600;
const NOW_MS: i64 = EXPORT_SECS as i64 * 1000 + 500;
const RECORDS: usize = DEFAULT_RECORDS_PER_DATAGRAM;

fn exporter() -> IpAddr {
    "192.0.2.10".parse().unwrap()
}

/// 30 IPv4 flows from the Zipf traffic model (IPv4 so that one template covers them all).
fn flows() -> Vec<Flow> {
    let mut model = TrafficModel::new(10_000, 1.1, 0.0, 1).unwrap();
    let t = u64::from(EXPORT_SECS) * 1000 - 10_000;
    (0..RECORDS)
        .map(|i| model.next_flow(t, t + 5_000, 1 + i as u64 % 9))
        .collect()
}

/// Datagrams of one case: those that set up state (templates), then the measured data datagram.
struct Case {
    name: &'static str,
    setup: Vec<Vec<u8>>,
    data: Vec<u8>,
}

fn v5_case(flows: &[Flow]) -> Case {
    let h = V5Header {
        unix_secs: EXPORT_SECS,
        sys_uptime_ms: 3_600_000,
        ..Default::default()
    };
    let mut data = Vec::new();
    encode_v5(&mut data, &h, flows).unwrap();
    Case {
        name: "v5",
        setup: Vec::new(),
        data,
    }
}

fn v9_case(flows: &[Flow]) -> Case {
    let h = V9Header {
        unix_secs: EXPORT_SECS,
        sys_uptime_ms: 3_600_000,
        sequence: 1,
        source_id: 7,
    };
    let mut tpl = Vec::new();
    let mut msg = Message::v9(&mut tpl, &h);
    msg.templates(&[realistic_template(Version::V9, false)])
        .unwrap();
    msg.finish().unwrap();
    let mut data = Vec::new();
    encode_v9(&mut data, &h, flows, false).unwrap();
    Case {
        name: "v9",
        setup: vec![tpl],
        data,
    }
}

fn ipfix_header() -> IpfixHeader {
    IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 1,
        domain_id: 7,
    }
}

fn ipfix_case(flows: &[Flow]) -> Case {
    let h = ipfix_header();
    let mut tpl = Vec::new();
    let mut msg = Message::ipfix(&mut tpl, &h);
    msg.templates(&[realistic_template(Version::Ipfix, false)])
        .unwrap();
    msg.finish().unwrap();
    let mut data = Vec::new();
    encode_ipfix(&mut data, &h, flows, false).unwrap();
    Case {
        name: "ipfix",
        setup: vec![tpl],
        data,
    }
}

/// The 18-field template plus interfaceName (IE 82) as a variable-length field.
fn ipfix_varlen_case(flows: &[Flow]) -> Case {
    const NAMES: [&[u8]; 4] = [b"ge-0/0/0.0", b"xe-1/2/3.100", b"et-0/0/1", b"ae12.3021"];
    let h = ipfix_header();
    let mut fields = realistic_fields(Version::Ipfix, false).to_vec();
    fields.push(FieldSpec::new(82, VARLEN));
    let t = Template::new(300, fields);
    let mut tpl = Vec::new();
    let mut msg = Message::ipfix(&mut tpl, &h);
    msg.templates(std::slice::from_ref(&t)).unwrap();
    msg.finish().unwrap();
    let values: Vec<Vec<Value<'static>>> = flows
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut v = realistic_values(Version::Ipfix, f, 0).to_vec();
            v.push(Value::Bytes(NAMES[i % NAMES.len()]));
            v
        })
        .collect();
    let records: Vec<&[Value<'_>]> = values.iter().map(Vec::as_slice).collect();
    let mut data = Vec::new();
    let mut msg = Message::ipfix(&mut data, &h);
    msg.data(&t, &records).unwrap();
    msg.finish().unwrap();
    Case {
        name: "ipfix_varlen",
        setup: vec![tpl],
        data,
    }
}

fn bench_case(g: &mut BenchmarkGroup<'_, WallTime>, case: &Case) {
    let from = exporter();

    let mut decoder = Decoder::new(DecoderSettings::default());
    let mut warm: Vec<FlowRecord> = Vec::new();
    for d in &case.setup {
        decoder.decode(from, d, NOW_MS, &mut warm).unwrap();
    }
    let sum = decoder.decode(from, &case.data, NOW_MS, &mut warm).unwrap();
    assert_eq!(sum.records as usize, RECORDS, "{}: sluice setup", case.name);
    assert_eq!(sum.error_count(), 0, "{}: sluice setup", case.name);
    g.bench_function(format!("sluice/{}", case.name), |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut sink = FnSink(|r: &FlowRecord| {
                black_box(r);
                n += 1;
            });
            decoder
                .decode(from, black_box(&case.data), NOW_MS, &mut sink)
                .unwrap();
            n
        })
    });

    let mut parser = NetflowParser::default();
    for d in &case.setup {
        assert!(
            parser.parse_bytes(d).is_ok(),
            "{}: netflow_parser",
            case.name
        );
    }
    let warmed = parser.parse_bytes(&case.data);
    assert!(warmed.is_ok(), "{}: netflow_parser", case.name);
    assert_eq!(
        count_np_records(&warmed.packets),
        RECORDS,
        "{}: netflow_parser decodes every record",
        case.name
    );
    g.bench_function(format!("netflow_parser/{}", case.name), |b| {
        b.iter(|| parser.parse_bytes(black_box(&case.data)))
    });
}

fn count_np_records(packets: &[netflow_parser::NetflowPacket]) -> usize {
    use netflow_parser::NetflowPacket;
    use netflow_parser::variable_versions::{ipfix, v9};
    packets
        .iter()
        .map(|p| match p {
            NetflowPacket::V5(v) => v.flowsets.len(),
            NetflowPacket::V9(v) => v
                .flowsets
                .iter()
                .map(|s| match &s.body {
                    v9::FlowSetBody::Data(d) => d.fields.len(),
                    _ => 0,
                })
                .sum(),
            NetflowPacket::IPFix(x) => x
                .flowsets
                .iter()
                .map(|s| match &s.body {
                    ipfix::FlowSetBody::Data(d) => d.fields.len(),
                    _ => 0,
                })
                .sum(),
            _ => 0,
        })
        .sum()
}

/// Flow samples in the sFlow case's datagram.
const SFLOW_SAMPLES: usize = 8;

/// One sFlow datagram of [`SFLOW_SAMPLES`] flow samples, compact and expanded in turn, each a
/// 128-byte raw header (Ethernet, 802.1Q, IPv4, TCP) and an extended switch record, with
/// addresses and ports from the same traffic model as the NetFlow cases.
fn sflow_datagram(flows: &[Flow]) -> Vec<u8> {
    use sflow_gen::{Datagram, Rec, Sample};
    let samples = flows
        .iter()
        .take(SFLOW_SAMPLES)
        .enumerate()
        .map(|(i, f)| {
            let (src, dst) = match (f.src_addr, f.dst_addr) {
                (s @ IpAddr::V4(_), d @ IpAddr::V4(_)) => (s, d),
                _ => unreachable!("the model's flows are IPv4"),
            };
            let ip_len = f.bytes.clamp(40, 1500) as u16;
            Sample::Flow {
                expanded: i % 2 == 1,
                sequence: 1000 + i as u32,
                source_type: 0,
                source_index: 3 + i as u32 % 2,
                rate: 4096,
                pool: 4096 * (1000 + i as u32),
                drops: 0,
                input: (0, 3 + i as u32 % 2),
                output: (0, 10 + i as u32 % 4),
                records: vec![
                    Rec::Raw {
                        protocol: 1,
                        frame_length: u32::from(ip_len) + 22,
                        stripped: 4,
                        header: sflow_gen::tcp_frame(
                            Some(100 + i as u16 % 3),
                            src,
                            dst,
                            f.src_port,
                            f.dst_port,
                            ip_len,
                            f.tcp_flags,
                            128,
                        ),
                    },
                    Rec::Switch([100 + i as u32 % 3, 0, 200, 0]),
                ],
            }
        })
        .collect();
    Datagram {
        agent: exporter(),
        sub_agent: 0,
        sequence: 1,
        uptime_ms: 3_600_000,
        samples,
    }
    .encode()
}

fn bench_sflow(g: &mut BenchmarkGroup<'_, WallTime>, data: &[u8]) {
    let from = exporter();
    let mut decoder = Decoder::new(DecoderSettings::default());
    let mut warm: Vec<FlowRecord> = Vec::new();
    let sum = decoder.decode(from, data, NOW_MS, &mut warm).unwrap();
    assert_eq!(sum.records as usize, SFLOW_SAMPLES, "sflow: sluice setup");
    assert_eq!(sum.error_count(), 0, "sflow: sluice setup");
    assert!(warm.iter().all(|r| r.bytes > 0 && r.dst_port.is_some()));
    g.bench_function("sluice/sflow", |b| {
        b.iter(|| {
            let mut n = 0u64;
            let mut sink = FnSink(|r: &FlowRecord| {
                black_box(r);
                n += 1;
            });
            decoder
                .decode(from, black_box(data), NOW_MS, &mut sink)
                .unwrap();
            n
        })
    });

    let parser = SflowParser::default();
    let parsed = parser.parse_bytes(data);
    assert!(parsed.error.is_none(), "sflow: flowparser-sflow");
    assert_eq!(
        parsed.datagrams[0].samples.len(),
        SFLOW_SAMPLES,
        "sflow: flowparser-sflow reads every sample"
    );
    g.bench_function("flowparser_sflow/sflow", |b| {
        b.iter(|| parser.parse_bytes(black_box(data)))
    });
}

fn decode(c: &mut Criterion) {
    let flows = flows();
    for case in [
        v5_case(&flows),
        v9_case(&flows),
        ipfix_case(&flows),
        ipfix_varlen_case(&flows),
    ] {
        let mut g = c.benchmark_group(format!("decode_30_records/{}", case.name));
        g.throughput(Throughput::Elements(RECORDS as u64));
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        bench_case(&mut g, &case);
        g.finish();
    }
    let sflow = sflow_datagram(&flows);
    let mut g = c.benchmark_group("decode_8_samples/sflow");
    g.throughput(Throughput::Elements(SFLOW_SAMPLES as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(3));
    bench_sflow(&mut g, &sflow);
    g.finish();
}

/// Decode a datagram (a case's, or the sFlow one) `n` times with sluice (the same set-up and sink
/// as the criterion bench).
#[inline(never)]
fn count_sluice(decoder: &mut Decoder, data: &[u8], n: u64) -> u64 {
    let from = exporter();
    let mut records = 0u64;
    for _ in 0..n {
        let mut sink = FnSink(|r: &FlowRecord| {
            black_box(r);
            records += 1;
        });
        decoder
            .decode(from, black_box(data), NOW_MS, &mut sink)
            .unwrap();
    }
    records
}

/// Parse `case`'s datagram `n` times with `netflow_parser`.
#[inline(never)]
fn count_np(parser: &mut NetflowParser, case: &Case, n: u64) -> u64 {
    let mut packets = 0u64;
    for _ in 0..n {
        packets += black_box(parser.parse_bytes(black_box(&case.data)))
            .packets
            .len() as u64;
    }
    packets
}

/// Parse the sFlow datagram `n` times with `flowparser-sflow`.
#[inline(never)]
fn count_flowparser_sflow(parser: &SflowParser, data: &[u8], n: u64) -> u64 {
    let mut samples = 0u64;
    for _ in 0..n {
        samples += black_box(parser.parse_bytes(black_box(data))).datagrams[0]
            .samples
            .len() as u64;
    }
    samples
}

/// The counting mode: every case, or only `SLUICE_DECODE_CASE` when set (`sflow` for sFlow).
fn count(n: u64) {
    let only = std::env::var("SLUICE_DECODE_CASE").ok();
    let flows = flows();
    if only.as_deref().is_none_or(|o| o == "sflow") {
        let data = sflow_datagram(&flows);
        let mut decoder = Decoder::new(DecoderSettings::default());
        let samples = SFLOW_SAMPLES as u64;
        assert_eq!(count_sluice(&mut decoder, &data, n), n * samples);
        let parser = SflowParser::default();
        assert_eq!(count_flowparser_sflow(&parser, &data, n), n * samples);
        println!("sflow: {n} datagrams of {SFLOW_SAMPLES} samples each way");
    }
    for case in [
        v5_case(&flows),
        v9_case(&flows),
        ipfix_case(&flows),
        ipfix_varlen_case(&flows),
    ] {
        if only.as_ref().is_some_and(|o| o != case.name) {
            continue;
        }
        let mut decoder = Decoder::new(DecoderSettings::default());
        let mut parser = NetflowParser::default();
        for d in &case.setup {
            decoder
                .decode(exporter(), d, NOW_MS, &mut Vec::new())
                .unwrap();
            assert!(parser.parse_bytes(d).is_ok());
        }
        let records = count_sluice(&mut decoder, &case.data, n);
        assert_eq!(records, n * RECORDS as u64, "{}", case.name);
        let packets = count_np(&mut parser, &case, n);
        assert_eq!(packets, n, "{}", case.name);
        println!(
            "{}: {} datagrams of {RECORDS} records each way",
            case.name, n
        );
    }
}

criterion_group!(benches, decode);

fn main() {
    if let Some(n) = std::env::var("SLUICE_DECODE_COUNT")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        count(n);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
