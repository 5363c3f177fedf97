//! Inputs found by the fuzz targets under `fuzz/`, reduced to the smallest datagram that shows
//! the fault, kept as regression tests. Each names the behaviour that must hold.

use std::net::IpAddr;

use collector::{Decoder, DecoderSettings, FlowRecord, SamplingSource};
use flowgen::encode::{FieldSpec, IpfixHeader, Message, Template, Value};

const EXPORT_SECS: u32 = 1_767_225_600;
const NOW_MS: i64 = EXPORT_SECS as i64 * 1000;

fn decode(datagram: &[u8]) -> Vec<FlowRecord> {
    let from: IpAddr = "192.0.2.7".parse().unwrap();
    let mut decoder = Decoder::new(DecoderSettings::default());
    let mut recs = Vec::new();
    decoder.decode(from, datagram, NOW_MS, &mut recs).unwrap();
    recs
}

/// Found by `decode_ipfix`: samplingPacketInterval (IE 305) and samplingPacketSpace (IE 306) are
/// unsigned32 in the IANA registry, but an exporter may send them 8 bytes wide. The rate is
/// (interval + space) / interval; `rate_from` in collector/src/decoder.rs added the two as u64,
/// which overflowed (a panic with overflow checks, a wrong rate without; fixed in c70c28c by
/// computing in 128 bits). The exact rate here is floor((2^64 - 1 + 1) / (2^64 - 1)) = 1.
#[test]
fn in_record_packet_interval_and_space_near_u64_max_do_not_overflow() {
    let t = Template::new(
        300,
        vec![
            FieldSpec::new(8, 4),
            FieldSpec::new(1, 8),
            FieldSpec::new(305, 8),
            FieldSpec::new(306, 8),
        ],
    );
    let row = [
        Value::Addr("10.0.0.1".parse().unwrap()),
        Value::Unsigned(1500),
        Value::Unsigned(u64::MAX),
        Value::Unsigned(1),
    ];
    let mut buf = Vec::new();
    let h = IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 0,
        domain_id: 1,
    };
    let mut msg = Message::ipfix(&mut buf, &h);
    msg.templates(std::slice::from_ref(&t)).unwrap();
    msg.data(&t, &[&row]).unwrap();
    msg.finish().unwrap();
    let recs = decode(&buf);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].bytes, 1500);
    assert_eq!(recs[0].sampling_source, SamplingSource::Record);
    assert_eq!(recs[0].sampling_rate, 1);
}

/// The same overflow reached through options data: a sampler announced with an 8-byte
/// samplingPacketInterval of 2^64 - 1 and a space of 1.
#[test]
fn options_packet_interval_and_space_near_u64_max_do_not_overflow() {
    let opts = Template::options(
        400,
        &[FieldSpec::new(302, 4)],
        &[FieldSpec::new(305, 8), FieldSpec::new(306, 8)],
    );
    let data = Template::new(300, vec![FieldSpec::new(8, 4), FieldSpec::new(1, 8)]);
    let mut buf = Vec::new();
    let h = IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: 0,
        domain_id: 1,
    };
    let mut msg = Message::ipfix(&mut buf, &h);
    msg.options_templates(std::slice::from_ref(&opts)).unwrap();
    msg.templates(std::slice::from_ref(&data)).unwrap();
    msg.data(
        &opts,
        &[&[
            Value::Unsigned(1),
            Value::Unsigned(u64::MAX),
            Value::Unsigned(1),
        ]],
    )
    .unwrap();
    msg.data(
        &data,
        &[&[
            Value::Addr("10.0.0.1".parse().unwrap()),
            Value::Unsigned(1500),
        ]],
    )
    .unwrap();
    msg.finish().unwrap();
    let recs = decode(&buf);
    assert_eq!(recs.len(), 1);
    assert_eq!(recs[0].sampling_rate, 1);
}
