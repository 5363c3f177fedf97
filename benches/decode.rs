//! Decoder throughput in steady state: templates are learned before the measurement, and each
//! iteration decodes one data datagram of 30 records. Every group also runs the same datagrams
//! through `netflow_parser` (its template cache warmed the same way), so one run gives the ratio.
//!
//! Throughput is in elements = flow records. Run with `cargo bench --bench decode`.
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
use netflow_parser::NetflowParser;

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
}

/// Decode `case`'s datagram `n` times with sluice (the same set-up and sink as the criterion bench).
#[inline(never)]
fn count_sluice(decoder: &mut Decoder, case: &Case, n: u64) -> u64 {
    let from = exporter();
    let mut records = 0u64;
    for _ in 0..n {
        let mut sink = FnSink(|r: &FlowRecord| {
            black_box(r);
            records += 1;
        });
        decoder
            .decode(from, black_box(&case.data), NOW_MS, &mut sink)
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

/// The counting mode: every case, or only `SLUICE_DECODE_CASE` when set.
fn count(n: u64) {
    let only = std::env::var("SLUICE_DECODE_CASE").ok();
    let flows = flows();
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
        let records = count_sluice(&mut decoder, &case, n);
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
