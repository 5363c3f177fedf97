//! Conformance against real exporters: decoding each synthetic corpus capture gives, per source
//! address, the byte, packet and record sums that tshark's decoder gives.

mod common;

use collector::record::display_addr;
use collector::{Decoder, DecoderSettings, FnSink};

#[test]
fn synthetic_corpus_sums_equal_tshark_per_source_address() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    for (name, port) in common::SYNTHETIC {
        let dir = shared.join("corpus/synthetic-a");
        let want = common::read_sums(&dir.join(format!("{name}.tshark.csv")));
        let mut got = common::Sums::new();
        let mut decoder = Decoder::new(DecoderSettings::default());
        let mut failed = 0;
        collector::capture::for_each_datagram(
            &dir.join(format!("{name}.pcap")),
            Some(port),
            |ts, d| {
                let mut sink = FnSink(|r: &collector::FlowRecord| {
                    let src = display_addr(r.src_addr.expect("every corpus record has a source"));
                    let e = got.entry(src).or_default();
                    e.0 += r.bytes;
                    e.1 += r.packets;
                    e.2 += 1;
                });
                if decoder
                    .decode(d.src.ip(), d.payload, ts, &mut sink)
                    .is_err()
                {
                    failed += 1;
                }
            },
        )
        .unwrap();
        assert_eq!(failed, 0, "{name}: unreadable datagrams");
        assert_eq!(got.len(), want.len(), "{name}: number of source addresses");
        for (ip, w) in &want {
            assert_eq!(got.get(ip), Some(w), "{name}: sums for {ip}");
        }
        let errors: u64 = decoder
            .stats()
            .exporters
            .values()
            .flat_map(|s| s.errors)
            .sum();
        assert_eq!(errors, 0, "{name}: decode errors");
    }
}

#[test]
fn synthetic_corpus_sums_equal_ground_truth() {
    let Some(shared) = common::shared_dir() else {
        return;
    };
    let dir = shared.join("corpus/synthetic-a");
    let truth = common::read_sums(&dir.join("truth.csv"));
    let mut got = common::Sums::new();
    let mut decoder = Decoder::new(DecoderSettings::default());
    collector::capture::for_each_datagram(&dir.join("pmacct-ipfix.pcap"), None, |ts, d| {
        let mut sink = FnSink(|r: &collector::FlowRecord| {
            let e = got.entry(display_addr(r.src_addr.unwrap())).or_default();
            e.0 += r.bytes;
            e.1 += r.packets;
        });
        decoder
            .decode(d.src.ip(), d.payload, ts, &mut sink)
            .unwrap();
    })
    .unwrap();
    assert_eq!(got.len(), truth.len());
    for (ip, (b, p, _)) in &truth {
        let g = got[ip];
        assert_eq!((g.0, g.1), (*b, *p), "{ip}");
    }
}
