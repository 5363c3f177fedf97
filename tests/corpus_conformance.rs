//! Conformance against real exporters: decoding each synthetic corpus capture gives, per source
//! address, the byte, packet and record sums that tshark's decoder gives.

mod common;

#[test]
fn synthetic_corpus_sums_equal_tshark_per_source_address() {
    let Some(shared) = testkit::shared_dir("synthetic_corpus_sums_equal_tshark_per_source_address")
    else {
        return;
    };
    let dir = shared.join("corpus/synthetic-a");
    for (name, port) in common::SYNTHETIC {
        let want = common::read_sums(&dir.join(format!("{name}.tshark.csv")));
        let (recs, decoder) = common::decode_capture(&dir.join(format!("{name}.pcap")), Some(port));
        let got = common::sums_by_source(&recs);
        assert_eq!(got.len(), want.len(), "{name}: number of source addresses");
        for (ip, w) in &want {
            assert_eq!(got.get(ip), Some(w), "{name}: sums for {ip}");
        }
        assert_eq!(decoder.stats().error_count(), 0, "{name}: decode errors");
    }
}

#[test]
fn synthetic_corpus_sums_equal_ground_truth() {
    let Some(shared) = testkit::shared_dir("synthetic_corpus_sums_equal_ground_truth") else {
        return;
    };
    let dir = shared.join("corpus/synthetic-a");
    let truth = common::read_sums(&dir.join("truth.csv"));
    let (recs, _) = common::decode_capture(&dir.join("pmacct-ipfix.pcap"), None);
    let got = common::sums_by_source(&recs);
    assert_eq!(got.len(), truth.len());
    for (ip, (b, p, _)) in &truth {
        let g = got[ip];
        assert_eq!((g.0, g.1), (*b, *p), "{ip}");
    }
}
