//! Decoder behaviour on datagrams built with `flowgen::encode`: state scoping, held data, template
//! lifetime and limits, sampling precedence, times, persistence, and the flood attacks.

use std::net::{IpAddr, Ipv4Addr};

use collector::record::flags;
use collector::{Decoder, DecoderConfig, DecoderSettings, ErrorKind, FlowRecord, SamplingSource};
use flowgen::encode::{
    self, FieldSpec, Flow, IpfixHeader, Message, Template, V5Header, V9Header, Value,
};

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const EXPORT_SECS: u32 = 1_767_225_600;

fn exporter(n: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, n))
}

fn flow(i: u32) -> Flow {
    Flow {
        src_addr: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)),
        dst_addr: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        next_hop: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 254)),
        src_port: 40000 + i as u16,
        dst_port: 443,
        protocol: 6,
        tos: 0,
        tcp_flags: 0x1b,
        bytes: 1000 + u64::from(i),
        packets: 1 + u64::from(i % 7),
        start_ms: NOW as u64 - 20_000,
        end_ms: NOW as u64 - 1_000,
        in_if: 1,
        out_if: 2,
        src_as: 64500,
        dst_as: 64501,
        src_mask: 24,
        dst_mask: 24,
    }
}

fn flows(n: u32) -> Vec<Flow> {
    (0..n).map(flow).collect()
}

fn v9_header(seq: u32, source_id: u32) -> V9Header {
    V9Header {
        sys_uptime_ms: 3_600_000,
        unix_secs: EXPORT_SECS,
        sequence: seq,
        source_id,
    }
}

fn ipfix_header(seq: u32, domain: u32) -> IpfixHeader {
    IpfixHeader {
        export_time: EXPORT_SECS,
        sequence: seq,
        domain_id: domain,
    }
}

fn decoder() -> Decoder {
    Decoder::new(DecoderSettings::default())
}

fn with(cfg: DecoderConfig) -> Decoder {
    Decoder::new(cfg.validate("decoder").unwrap())
}

fn decode(d: &mut Decoder, from: IpAddr, dgram: &[u8]) -> Vec<FlowRecord> {
    let mut out = Vec::new();
    d.decode(from, dgram, NOW, &mut out).unwrap();
    out
}

#[test]
fn decodes_netflow_v9_realistic_template_with_every_field_and_absolute_times() {
    let mut buf = Vec::new();
    encode::encode_v9(&mut buf, &v9_header(1, 7), &flows(30), true).unwrap();
    let mut d = decoder();
    let recs = decode(&mut d, exporter(1), &buf);
    assert_eq!(recs.len(), 30);
    let r = recs[3];
    let f = flow(3);
    assert_eq!(r.version, 9);
    assert_eq!(r.observation_domain, 7);
    assert_eq!(r.src_addr.map(|a| a.to_canonical()), Some(f.src_addr));
    assert_eq!(r.dst_addr.map(|a| a.to_canonical()), Some(f.dst_addr));
    assert_eq!(r.next_hop.map(|a| a.to_canonical()), Some(f.next_hop));
    assert_eq!(
        (r.src_port, r.dst_port, r.protocol),
        (Some(f.src_port), Some(443), Some(6))
    );
    assert_eq!((r.bytes, r.packets), (f.bytes, f.packets));
    assert_eq!((r.in_if, r.out_if), (Some(1), Some(2)));
    assert_eq!((r.src_as, r.dst_as), (Some(64500), Some(64501)));
    assert_eq!((r.src_mask, r.dst_mask), (Some(24), Some(24)));
    assert_eq!(r.tcp_flags, Some(0x1b));
    assert_eq!(r.flow_start, Some(NOW - 20_000));
    assert_eq!(r.flow_end, Some(NOW - 1_000));
    assert_eq!(r.flags & flags::FAR_FROM_EXPORT_TIME, 0);
}

#[test]
fn decodes_ipfix_ipv6_realistic_template() {
    let mut fl = flows(4);
    for (i, f) in fl.iter_mut().enumerate() {
        f.src_addr = format!("2001:db8::{}", i + 1).parse().unwrap();
        f.dst_addr = "2001:db8:ffff::1".parse().unwrap();
        f.next_hop = "fe80::1".parse().unwrap();
    }
    let mut buf = Vec::new();
    encode::encode_ipfix(&mut buf, &ipfix_header(0, 1), &fl, true).unwrap();
    let recs = decode(&mut decoder(), exporter(1), &buf);
    assert_eq!(recs.len(), 4);
    assert_eq!(recs[1].src_addr, Some("2001:db8::2".parse().unwrap()));
    assert_eq!(recs[1].flow_start, Some(NOW - 20_000));
    assert_eq!(recs[1].flow_end, Some(NOW - 1_000));
}

#[test]
fn decodes_netflow_v5_with_header_sampling_and_uptime_times() {
    let h = V5Header {
        sys_uptime_ms: 100_000,
        unix_secs: EXPORT_SECS,
        sampling_mode: 1,
        sampling_interval: 100,
        ..Default::default()
    };
    let mut buf = Vec::new();
    encode::encode_v5(&mut buf, &h, &flows(30)).unwrap();
    let recs = decode(&mut decoder(), exporter(1), &buf);
    assert_eq!(recs.len(), 30);
    assert_eq!(recs[0].sampling_rate, 100);
    assert_eq!(recs[0].sampling_source, SamplingSource::V5Header);
    assert_eq!(recs[0].scaled_bytes(), 100 * 1000);
    assert_eq!(recs[0].flow_end, Some(NOW - 1_000));
}

#[test]
fn uptime_times_survive_sysuptime_wrap_around() {
    // The exporter's uptime wrapped (2^32 ms ≈ 49.7 days): the flow started before the wrap.
    let tpl = Template::new(
        300,
        vec![
            FieldSpec::new(22, 4),
            FieldSpec::new(21, 4),
            FieldSpec::new(1, 4),
        ],
    );
    let h = V9Header {
        sys_uptime_ms: 5_000,
        unix_secs: EXPORT_SECS,
        sequence: 0,
        source_id: 0,
    };
    let mut buf = Vec::new();
    let mut m = Message::v9(&mut buf, &h);
    m.templates(std::slice::from_ref(&tpl)).unwrap();
    let start = u32::MAX - 9_999; // 15 s before export, before the wrap
    m.data(
        &tpl,
        &[&[
            Value::Unsigned(u64::from(start)),
            Value::Unsigned(1_000),
            Value::Unsigned(1),
        ]],
    )
    .unwrap();
    m.finish().unwrap();
    let recs = decode(&mut decoder(), exporter(1), &buf);
    assert_eq!(recs[0].flow_start, Some(NOW - 15_000));
    assert_eq!(recs[0].flow_end, Some(NOW - 4_000));
}

#[test]
fn ipfix_times_in_every_encoding_become_unix_milliseconds() {
    let tpl = Template::new(
        400,
        vec![
            FieldSpec::new(150, 4), // flowStartSeconds
            FieldSpec::new(159, 4), // flowEndDeltaMicroseconds
            FieldSpec::new(1, 8),
        ],
    );
    let ntp = Template::new(
        401,
        vec![
            FieldSpec::new(156, 8),
            FieldSpec::new(155, 8),
            FieldSpec::new(1, 2),
        ],
    );
    let up = Template::new(
        402,
        vec![
            FieldSpec::new(160, 8),
            FieldSpec::new(22, 4),
            FieldSpec::new(21, 4),
            FieldSpec::new(1, 1),
        ],
    );
    let ntp_secs = (EXPORT_SECS as u64 + 2_208_988_800) << 32;
    let half = 1u64 << 31;
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
    m.templates(&[tpl.clone(), ntp.clone(), up.clone()])
        .unwrap();
    m.data(
        &tpl,
        &[&[
            Value::Unsigned(u64::from(EXPORT_SECS) - 60),
            Value::Unsigned(2_500_000),
            Value::Unsigned(5),
        ]],
    )
    .unwrap();
    m.data(
        &ntp,
        &[&[
            Value::Unsigned(ntp_secs - (10 << 32)),
            Value::Unsigned(ntp_secs | half),
            Value::Unsigned(5),
        ]],
    )
    .unwrap();
    let init = NOW as u64 - 86_400_000;
    m.data(
        &up,
        &[&[
            Value::Unsigned(init),
            Value::Unsigned(86_390_000),
            Value::Unsigned(86_399_000),
            Value::Unsigned(5),
        ]],
    )
    .unwrap();
    m.finish().unwrap();
    let recs = decode(&mut decoder(), exporter(1), &buf);
    assert_eq!(
        (recs[0].flow_start, recs[0].flow_end),
        (Some(NOW - 60_000), Some(NOW - 2_500))
    );
    assert_eq!(
        (recs[1].flow_start, recs[1].flow_end),
        (Some(NOW - 10_000), Some(NOW + 500))
    );
    assert_eq!(
        (recs[2].flow_start, recs[2].flow_end),
        (Some(NOW - 10_000), Some(NOW - 1_000))
    );
}

#[test]
fn flags_and_counts_end_before_start_and_far_from_export_time() {
    let tpl = Template::new(
        300,
        vec![
            FieldSpec::new(152, 8),
            FieldSpec::new(153, 8),
            FieldSpec::new(1, 4),
        ],
    );
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
    m.templates(std::slice::from_ref(&tpl)).unwrap();
    let now = NOW as u64;
    m.data(
        &tpl,
        &[
            &[
                Value::Unsigned(now - 1_000),
                Value::Unsigned(now - 5_000),
                Value::Unsigned(1),
            ],
            &[
                Value::Unsigned(now - 90_000_000),
                Value::Unsigned(now - 80_000_000),
                Value::Unsigned(1),
            ],
            &[
                Value::Unsigned(now - 5_000),
                Value::Unsigned(now - 1_000),
                Value::Unsigned(1),
            ],
        ],
    )
    .unwrap();
    m.finish().unwrap();
    let mut d = decoder();
    let recs = decode(&mut d, exporter(1), &buf);
    assert_eq!(recs.len(), 3, "flagged records are kept");
    assert_ne!(recs[0].flags & flags::END_BEFORE_START, 0);
    assert_ne!(recs[1].flags & flags::FAR_FROM_EXPORT_TIME, 0);
    assert_eq!(
        recs[2].flags & (flags::END_BEFORE_START | flags::FAR_FROM_EXPORT_TIME),
        0
    );
    let st = &d.stats().exporters[&collector::record::to_v6(exporter(1))];
    assert_eq!((st.time_end_before_start, st.time_far_from_export), (1, 1));
}

#[test]
fn one_exporters_templates_never_decode_another_exporters_data() {
    let mut with_t = Vec::new();
    encode::encode_v9(&mut with_t, &v9_header(1, 0), &flows(3), true).unwrap();
    let mut data_only = Vec::new();
    encode::encode_v9(&mut data_only, &v9_header(2, 0), &flows(3), false).unwrap();
    let mut d = decoder();
    assert_eq!(decode(&mut d, exporter(1), &with_t).len(), 3);
    // Same source id, other exporter: held, not decoded with exporter 1's template.
    let mut out = Vec::new();
    let s = d.decode(exporter(2), &data_only, NOW, &mut out).unwrap();
    assert!(out.is_empty());
    assert_eq!(s.held, 1);
    // Same exporter, other source id: also a separate scope.
    let mut other_domain = Vec::new();
    encode::encode_v9(&mut other_domain, &v9_header(3, 9), &flows(3), false).unwrap();
    assert!(decode(&mut d, exporter(1), &other_domain).is_empty());
    assert_eq!(decode(&mut d, exporter(1), &data_only).len(), 3);
}

#[test]
fn replays_data_that_arrived_before_its_template() {
    let mut data_only = Vec::new();
    encode::encode_ipfix(&mut data_only, &ipfix_header(0, 1), &flows(30), false).unwrap();
    let mut template_only = Vec::new();
    encode::encode_ipfix(&mut template_only, &ipfix_header(30, 1), &[], true).unwrap();
    let mut d = decoder();
    assert!(decode(&mut d, exporter(1), &data_only).is_empty());
    assert!(d.pending_bytes() > 0);
    let mut out = Vec::new();
    let s = d
        .decode(exporter(1), &template_only, NOW + 10, &mut out)
        .unwrap();
    assert_eq!((s.records, s.replayed), (30, 30));
    assert!(out.iter().all(|r| r.flags & flags::REPLAYED != 0));
    assert_eq!(
        out[0].time_received, NOW,
        "replayed records keep their receive time"
    );
    assert_eq!(d.pending_bytes(), 0);
}

#[test]
fn held_data_is_bounded_and_drops_oldest_first_with_a_count() {
    let cfg = DecoderConfig {
        pending_bytes_per_exporter: 4096,
        ..Default::default()
    };
    let mut d = with(cfg);
    let mut data_only = Vec::new();
    encode::encode_ipfix(&mut data_only, &ipfix_header(0, 1), &flows(30), false).unwrap();
    for _ in 0..10 {
        decode(&mut d, exporter(1), &data_only);
    }
    assert!(d.pending_bytes() <= 4096);
    let st = &d.stats().exporters[&collector::record::to_v6(exporter(1))];
    assert!(st.errors[ErrorKind::PendingDropped as usize] >= 6);
    // Held data expires after the pending TTL.
    d.expire(NOW + 121_000);
    assert_eq!(d.pending_bytes(), 0);
}

#[test]
fn templates_expire_after_their_ttl_and_refresh_keeps_them() {
    let cfg = DecoderConfig {
        template_ttl_secs: 60,
        ..Default::default()
    };
    let mut d = with(cfg);
    let mut t = Vec::new();
    encode::encode_v9(&mut t, &v9_header(1, 0), &[], true).unwrap();
    let mut data = Vec::new();
    encode::encode_v9(&mut data, &v9_header(2, 0), &flows(2), false).unwrap();
    d.decode(exporter(1), &t, NOW, &mut Vec::new()).unwrap();
    d.decode(exporter(1), &t, NOW + 50_000, &mut Vec::new())
        .unwrap(); // refresh
    let mut out = Vec::new();
    d.decode(exporter(1), &data, NOW + 100_000, &mut out)
        .unwrap();
    assert_eq!(out.len(), 2, "refreshed at +50 s, alive at +100 s");
    d.expire(NOW + 200_000);
    assert_eq!(d.templates_by_exporter().values().sum::<usize>(), 0);
    let mut out = Vec::new();
    let s = d
        .decode(exporter(1), &data, NOW + 200_000, &mut out)
        .unwrap();
    assert!(out.is_empty());
    assert_eq!(s.held, 1);
}

#[test]
fn ipfix_template_withdrawal_forgets_the_template() {
    let tpl = Template::new(300, vec![FieldSpec::new(1, 4)]);
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
    m.templates(std::slice::from_ref(&tpl)).unwrap();
    m.finish().unwrap();
    let mut d = decoder();
    decode(&mut d, exporter(1), &buf);
    assert_eq!(d.templates_by_exporter().values().sum::<usize>(), 1);
    // Withdrawal: template record with field count 0 (RFC 7011 §8.1).
    let mut w = buf[..16].to_vec();
    w.extend_from_slice(&[0, 2, 0, 8, 0x01, 0x2c, 0, 0]);
    let len = w.len() as u16;
    w[2..4].copy_from_slice(&len.to_be_bytes());
    decode(&mut d, exporter(1), &w);
    assert_eq!(d.templates_by_exporter().values().sum::<usize>(), 0);
}

#[test]
fn rejects_v9_template_of_300_zero_length_fields() {
    let tpl = Template::new(300, (0..300).map(|_| FieldSpec::new(1, 0)).collect());
    let mut buf = Vec::new();
    let mut m = Message::v9(&mut buf, &v9_header(0, 0));
    m.templates(std::slice::from_ref(&tpl)).unwrap();
    m.finish().unwrap();
    let mut d = decoder();
    let mut out = Vec::new();
    let s = d.decode(exporter(1), &buf, NOW, &mut out).unwrap();
    assert_eq!(s.templates, 0);
    assert_eq!(s.errors[ErrorKind::InvalidTemplate as usize], 1);
    assert_eq!(d.templates_by_exporter().values().sum::<usize>(), 0);
}

#[test]
fn refuses_templates_past_the_per_exporter_limit_and_counts_it() {
    let cfg = DecoderConfig {
        max_templates_per_exporter: 4,
        ..Default::default()
    };
    let mut d = with(cfg);
    let tpls: Vec<_> = (0..10)
        .map(|i| Template::new(300 + i, vec![FieldSpec::new(1, 4)]))
        .collect();
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
    m.templates(&tpls).unwrap();
    m.finish().unwrap();
    let s = d.decode(exporter(1), &buf, NOW, &mut Vec::new()).unwrap();
    assert_eq!(s.templates, 4);
    assert_eq!(s.errors[ErrorKind::TemplateLimit as usize], 6);
}

#[test]
fn spoofed_exporter_flood_stays_within_the_template_budget_and_a_real_exporter_still_decodes() {
    let budget = 2 << 20;
    let cfg = DecoderConfig {
        template_memory_bytes: budget,
        ..Default::default()
    };
    let mut d = with(cfg);
    // 50 templates of 18 fields per spoofed exporter.
    let tpls: Vec<_> = (0..50)
        .map(|i| encode::Template {
            id: 300 + i,
            ..encode::realistic_template(encode::Version::Ipfix, false)
        })
        .collect();
    let mut spoof = Vec::new();
    let mut m = Message::ipfix(&mut spoof, &ipfix_header(0, 0));
    m.templates(&tpls).unwrap();
    m.finish().unwrap();
    let mut real_t = Vec::new();
    encode::encode_ipfix(&mut real_t, &ipfix_header(0, 5), &[], true).unwrap();
    let mut real_data = Vec::new();
    encode::encode_ipfix(&mut real_data, &ipfix_header(0, 5), &flows(30), false).unwrap();
    let real = IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1));
    d.decode(real, &real_t, NOW, &mut Vec::new()).unwrap();
    let mut decoded = 0usize;
    let mut peak = 0usize;
    for i in 0..10_000u32 {
        let from = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        d.decode(from, &spoof, NOW, &mut Vec::new()).unwrap();
        peak = peak.max(d.template_bytes());
        if i % 100 == 99 {
            let mut out = Vec::new();
            d.decode(real, &real_data, NOW, &mut out).unwrap();
            decoded += out.len();
        }
    }
    assert!(
        peak <= budget + (64 << 10),
        "template state peaked at {peak} bytes, budget {budget}"
    );
    assert_eq!(
        decoded,
        100 * 30,
        "every real record decoded during the flood"
    );
    let evicted: u64 = d
        .stats()
        .exporters
        .values()
        .map(|s| s.errors[ErrorKind::TemplateBudget as usize])
        .sum();
    assert!(evicted > 9_000, "evictions are counted ({evicted})");
}

#[test]
fn sampling_rate_precedence_override_then_record_then_options_then_default() {
    // Record with in-record samplingInterval (34) and a sampler id (48).
    let tpl = Template::new(300, vec![FieldSpec::new(1, 4), FieldSpec::new(34, 4)]);
    let by_sampler = Template::new(301, vec![FieldSpec::new(1, 4), FieldSpec::new(48, 2)]);
    let plain = Template::new(302, vec![FieldSpec::new(1, 4)]);
    let opts = Template::options(303, &[FieldSpec::new(48, 2)], &[FieldSpec::new(50, 4)]);
    let build = |d: &mut Decoder, from: IpAddr| {
        let mut buf = Vec::new();
        let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
        m.templates(&[tpl.clone(), by_sampler.clone(), plain.clone()])
            .unwrap();
        m.options_templates(std::slice::from_ref(&opts)).unwrap();
        m.data(&opts, &[&[Value::Unsigned(7), Value::Unsigned(512)]])
            .unwrap();
        m.data(&tpl, &[&[Value::Unsigned(10), Value::Unsigned(64)]])
            .unwrap();
        m.data(&by_sampler, &[&[Value::Unsigned(10), Value::Unsigned(7)]])
            .unwrap();
        m.data(&plain, &[&[Value::Unsigned(10)]]).unwrap();
        m.finish().unwrap();
        decode(d, from, &buf)
    };
    let r = build(&mut decoder(), exporter(1));
    let got: Vec<_> = r
        .iter()
        .map(|r| (r.sampling_rate, r.sampling_source))
        .collect();
    assert_eq!(
        got,
        vec![
            (64, SamplingSource::Record),
            (512, SamplingSource::OptionsData),
            // No sampler id in the record, and exactly one sampler known: its rate applies.
            (512, SamplingSource::OptionsData),
        ]
    );
    let cfg = DecoderConfig {
        sampling_overrides: vec![collector::config::SamplingOverride {
            cidr: "192.0.2.0/24".into(),
            rate: 1000,
        }],
        ..Default::default()
    };
    let r = build(&mut with(cfg), exporter(1));
    assert!(
        r.iter()
            .all(|r| (r.sampling_rate, r.sampling_source) == (1000, SamplingSource::Override))
    );

    // No sampling information at all: the default, else unknown (kept and marked).
    let mut only_plain = Vec::new();
    let mut m = Message::ipfix(&mut only_plain, &ipfix_header(0, 0));
    m.templates(std::slice::from_ref(&plain)).unwrap();
    m.data(&plain, &[&[Value::Unsigned(10)]]).unwrap();
    m.finish().unwrap();
    let cfg = DecoderConfig {
        default_sampling_rate: Some(8),
        ..Default::default()
    };
    let r = decode(&mut with(cfg), exporter(1), &only_plain);
    assert_eq!(
        (r[0].sampling_rate, r[0].sampling_source),
        (8, SamplingSource::ConfigDefault)
    );
    let mut d = decoder();
    let r = decode(&mut d, exporter(1), &only_plain);
    assert_eq!(
        (r[0].sampling_rate, r[0].sampling_source),
        (1, SamplingSource::Unknown)
    );
    assert_ne!(r[0].flags & flags::SAMPLING_UNKNOWN, 0);
    assert_eq!(
        d.stats().exporters[&collector::record::to_v6(exporter(1))].sampling_unknown,
        1
    );
}

#[test]
fn variable_length_and_enterprise_fields_are_skipped_and_reduced_size_counters_read() {
    let tpl = Template::new(
        300,
        vec![
            FieldSpec::new(82, encode::VARLEN), // interfaceName
            FieldSpec::enterprise(1, 4, 29305), // reverse octets (RFC 5103)
            FieldSpec::new(1, 3),               // octets in 3 bytes
            FieldSpec::new(2, 1),               // packets in 1 byte
            FieldSpec::new(83, encode::VARLEN), // interfaceDescription
            FieldSpec::new(8, 4),
        ],
    );
    let long = vec![b'x'; 300];
    let mut buf = Vec::new();
    let mut m = Message::ipfix(&mut buf, &ipfix_header(0, 0));
    m.templates(std::slice::from_ref(&tpl)).unwrap();
    let src = Value::Addr(IpAddr::V4(Ipv4Addr::new(10, 9, 8, 7)));
    m.data(
        &tpl,
        &[
            &[
                Value::Bytes(b"ge-0/0/0"),
                Value::Unsigned(999),
                Value::Unsigned(0x010203),
                Value::Unsigned(9),
                Value::Bytes(&long),
                src,
            ],
            &[
                Value::Bytes(b""),
                Value::Unsigned(1),
                Value::Unsigned(5),
                Value::Unsigned(1),
                Value::BytesLongForm(b"ab"),
                src,
            ],
        ],
    )
    .unwrap();
    m.finish().unwrap();
    let recs = decode(&mut decoder(), exporter(1), &buf);
    assert_eq!(recs.len(), 2);
    assert_eq!((recs[0].bytes, recs[0].packets), (0x010203, 9));
    assert_eq!((recs[1].bytes, recs[1].packets), (5, 1));
    assert_eq!(
        recs[1].src_addr.map(|a| a.to_canonical().to_string()),
        Some("10.9.8.7".into())
    );
}

#[test]
fn template_state_round_trips_through_a_file_and_decodes_after_restart() {
    let dir = std::env::temp_dir().join(format!("sluice-persist-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("templates.json");
    let mut t = Vec::new();
    encode::encode_ipfix(&mut t, &ipfix_header(0, 3), &[], true).unwrap();
    let mut d = decoder();
    decode(&mut d, exporter(1), &t);
    collector::persist::write(&d.snapshot(), &path).unwrap();
    assert!(
        !dir.join("templates.json.tmp").exists(),
        "written atomically via rename"
    );
    let snap = collector::persist::load(&path).unwrap().unwrap();
    let mut fresh = decoder();
    assert_eq!(fresh.restore(&snap, NOW + 1_000), 2);
    let mut data = Vec::new();
    encode::encode_ipfix(&mut data, &ipfix_header(0, 3), &flows(5), false).unwrap();
    assert_eq!(decode(&mut fresh, exporter(1), &data).len(), 5);
    // Past the TTL nothing is restored; a missing file is not an error.
    assert_eq!(decoder().restore(&snap, NOW + 10_000_000), 0);
    assert!(
        collector::persist::load(&dir.join("absent.json"))
            .unwrap()
            .is_none()
    );
    std::fs::write(&path, b"{not json").unwrap();
    assert!(collector::persist::load(&path).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_headers_are_rejected_with_a_counted_error_and_never_panic() {
    let mut d = decoder();
    let cases: [(&[u8], ErrorKind); 5] = [
        (&[0], ErrorKind::Truncated),
        (&[0, 7, 0, 0], ErrorKind::UnsupportedVersion),
        (&[0, 9, 0, 1, 0, 0], ErrorKind::Truncated),
        (
            &[0, 10, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ErrorKind::BadLength,
        ),
        (
            &[
                0, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            ErrorKind::Truncated,
        ),
    ];
    for (bytes, kind) in cases {
        let err = d
            .decode(exporter(1), bytes, NOW, &mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), kind, "{bytes:?}");
    }
    let st = &d.stats().exporters[&collector::record::to_v6(exporter(1))];
    assert_eq!(st.errors.iter().sum::<u64>(), 5);
    assert_eq!(st.datagrams, 5);
}
