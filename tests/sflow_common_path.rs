//! The sFlow decoder's one-pass reading of the common flow sample (a raw Ethernet/IPv4/TCP-or-UDP
//! header and at most one extended switch record, `wire::sflow::Samples::next_common`) is a
//! shortcut, not a second set of rules: decoding the same datagrams with it and without it
//! (`Decoder::sflow_general_only`) must give the same flow records, interface counters, summaries
//! and exporter counters, datagram after datagram (so the data sources' state is compared too).
//!
//! Inputs: generated datagrams built around the common shape and its near misses (every
//! interface form, rate 0 and the override, VLAN ids at and past the edges, the switch record
//! before the header, two headers, a third record, headers cut or not IPv4/TCP/UDP, records cut
//! short), mixed with counter samples and enterprise samples, whole or damaged; and every
//! capture of the shared sFlow corpus.

mod sflow_gen;

use std::net::IpAddr;
use std::path::Path;

use collector::{Decoder, DecoderSettings, ExporterStats, Summary};
use proptest::prelude::*;
use sflow_gen::{Datagram, Rec, Sample};

const NOW_MS: i64 = 1_767_225_600_000;

/// What the decoder gave.
type Out = sflow_gen::Collected;

/// Two decoders, one with the common path and one without, fed the same datagrams.
struct Pair {
    common: Decoder,
    general: Decoder,
    /// Samples the common path could have taken (flow samples decoded), for the coverage check.
    flows: usize,
}

impl Pair {
    fn new(settings: DecoderSettings) -> Pair {
        let mut general = Decoder::new(settings.clone());
        general.sflow_general_only();
        Pair {
            common: Decoder::new(settings),
            general,
            flows: 0,
        }
    }

    fn decode(&mut self, from: IpAddr, data: &[u8]) -> Result<(), String> {
        let (mut a, mut b) = (Out::default(), Out::default());
        let ra: Result<Summary, _> = self.common.decode(from, data, NOW_MS, &mut a);
        let rb: Result<Summary, _> = self.general.decode(from, data, NOW_MS, &mut b);
        if ra != rb {
            return Err(format!("summaries differ: {ra:?} vs {rb:?}"));
        }
        if a != b {
            return Err(format!("output differs:\n{a:#?}\nvs\n{b:#?}"));
        }
        self.flows += a.flows.len();
        let stats = |d: &Decoder| -> Vec<(std::net::Ipv6Addr, ExporterStats)> {
            let mut v: Vec<_> = d
                .stats()
                .exporters
                .iter()
                .map(|(k, v)| (*k, v.clone()))
                .collect();
            v.sort_by_key(|(k, _)| *k);
            v
        };
        let (sa, sb) = (stats(&self.common), stats(&self.general));
        if sa != sb {
            return Err(format!("exporter counters differ:\n{sa:#?}\nvs\n{sb:#?}"));
        }
        Ok(())
    }
}

fn agent() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        Just("192.0.2.1".parse().unwrap()),
        Just("2001:db8::1".parse().unwrap()),
    ]
}

/// A raw header record: mostly the common shape (Ethernet, 0 or 1 tag, IPv4, TCP or UDP), else
/// one of its near misses.
fn header() -> BoxedStrategy<Rec> {
    (
        prop::option::of(prop_oneof![Just(0u16), Just(4095), 0u16..4096]),
        any::<([u8; 4], [u8; 4], u16, u16, u8)>(),
        40u16..9000,
        prop_oneof![6 => Just(128usize), 2 => 50usize..=60, 1 => 14usize..50],
        0u8..12,
        prop_oneof![Just(0u32), Just(4), any::<u32>()],
        prop_oneof![8 => Just(1u32), 1 => Just(11), 1 => 0u32..20],
    )
        .prop_map(
            |(vlan, (s, d, sp, dp, fl), len, cut, variant, stripped, protocol)| {
                let mut h = sflow_gen::tcp_frame(
                    vlan,
                    IpAddr::from(s),
                    IpAddr::from(d),
                    sp,
                    dp,
                    len,
                    fl,
                    cut.max(14),
                );
                let ip = if vlan.is_some() { 18 } else { 14 };
                let mut set = |i: usize, v: u8| {
                    if let Some(b) = h.get_mut(i) {
                        *b = v;
                    }
                };
                match variant {
                    // UDP.
                    1 | 2 => set(ip + 9, 17),
                    // ICMP, or another protocol.
                    3 => set(ip + 9, 1),
                    4 => set(ip + 9, 47),
                    // A later fragment, a first fragment (MF set).
                    5 => set(ip + 6, 0x20 | 0x01),
                    6 => set(ip + 6, 0x20),
                    // IPv4 options, not IPv4.
                    7 => set(ip, 0x46),
                    8 => set(ip, 0x65),
                    // A QinQ or 802.1ad outer tag, or IPv6's ethertype.
                    9 if vlan.is_some() => {
                        set(12, 0x88);
                        set(13, 0xa8);
                    }
                    10 => set(ip - 2, 0x86),
                    _ => {}
                }
                Rec::Raw {
                    protocol,
                    frame_length: u32::from(len) + 18,
                    stripped,
                    header: h,
                }
            },
        )
        .boxed()
}

fn switch() -> BoxedStrategy<Rec> {
    (
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(4094),
            Just(4095),
            Just(u32::MAX),
            any::<u32>()
        ],
        any::<[u32; 3]>(),
    )
        .prop_map(|(v, w)| Rec::Switch([v, w[0], w[1], w[2]]))
        .boxed()
}

/// Any other flow record.
fn other_record() -> BoxedStrategy<Rec> {
    prop_oneof![
        Just(Rec::Ip {
            length: 1500,
            protocol: 6,
            src: "10.0.0.1".parse().unwrap(),
            dst: "10.0.0.2".parse().unwrap(),
            src_port: 1,
            dst_port: 2,
            tcp_flags: 0x12,
            tos: 0,
        }),
        Just(Rec::Router {
            next_hop: Some("10.9.9.9".parse().unwrap()),
            src_mask: 24,
            dst_mask: 16,
        }),
        (1u32..5, 0u32..0x1000).prop_map(|(enterprise, format)| Rec::Other {
            enterprise,
            format,
            data: vec![1, 2, 3, 4],
        }),
        // A switch record cut short.
        Just(Rec::Other {
            enterprise: 0,
            format: 1001,
            data: vec![0; 12],
        }),
        // A raw header record cut short.
        Just(Rec::Other {
            enterprise: 0,
            format: 1,
            data: vec![0, 0, 0, 1, 0, 0, 5, 0xdc, 0, 0, 0, 4, 0, 0, 0, 64],
        }),
    ]
    .boxed()
}

fn records() -> BoxedStrategy<Vec<Rec>> {
    prop_oneof![
        4 => (header(), switch()).prop_map(|(h, s)| vec![h, s]),
        2 => header().prop_map(|h| vec![h]),
        1 => (switch(), header()).prop_map(|(s, h)| vec![s, h]),
        1 => (header(), header()).prop_map(|(a, b)| vec![a, b]),
        1 => (header(), switch(), switch()).prop_map(|(h, a, b)| vec![h, a, b]),
        1 => (header(), switch(), other_record()).prop_map(|(h, s, o)| vec![h, s, o]),
        1 => (other_record(), header()).prop_map(|(o, h)| vec![o, h]),
        1 => switch().prop_map(|s| vec![s]),
        1 => Just(Vec::new()),
    ]
    .boxed()
}

fn iface(expanded: bool) -> impl Strategy<Value = (u32, u32)> {
    let max = if expanded { u32::MAX } else { 0x3fff_ffff };
    prop_oneof![
        6 => (Just(0u32), 0u32..64),
        1 => (Just(0u32), Just(0x3fff_ffff)),
        1 => (Just(1u32), prop_oneof![0u32..300, 0..=max]),
        1 => (Just(2u32), 0u32..8),
        1 => (if expanded { 3u32..=u32::MAX } else { 3u32..=3 }, 0..=max),
    ]
}

fn flow_sample() -> BoxedStrategy<Sample> {
    any::<bool>()
        .prop_flat_map(|expanded| {
            let tmax = if expanded { u32::MAX } else { 0xff };
            (
                prop_oneof![4 => Just(0u32), 1 => 0..=tmax],
                0u32..6,
                prop_oneof![Just(0u32), Just(1), Just(2048), any::<u32>()],
                any::<[u32; 3]>(),
                iface(expanded),
                iface(expanded),
                records(),
            )
                .prop_map(
                    move |(source_type, source_index, rate, w, input, output, records)| {
                        Sample::Flow {
                            expanded,
                            sequence: w[0] % 8,
                            source_type,
                            source_index,
                            rate,
                            pool: w[1],
                            drops: w[2] % 4,
                            input,
                            output,
                            records,
                        }
                    },
                )
        })
        .boxed()
}

fn sample() -> BoxedStrategy<Sample> {
    prop_oneof![
        8 => flow_sample(),
        1 => (0u32..6, any::<[u32; 22]>()).prop_map(|(index, mut w)| {
            w[0] = index;
            Sample::Counters {
                expanded: false,
                sequence: w[1] % 8,
                source_type: 0,
                source_index: index,
                records: vec![Rec::IfCounters(w)],
            }
        }),
        1 => Just(Sample::Other {
            enterprise: 4413,
            format: 5,
            data: vec![0; 8],
        }),
    ]
    .boxed()
}

/// A datagram, and how to damage it: 0 keeps it whole, 1 cuts it, 2 overwrites a word.
fn datagram() -> BoxedStrategy<(Vec<u8>, u8, prop::sample::Index, u32)> {
    (
        agent(),
        any::<u32>(),
        prop::collection::vec(sample(), 0..10),
        prop_oneof![6 => Just(0u8), 1 => Just(1), 1 => Just(2)],
        any::<prop::sample::Index>(),
        prop_oneof![
            Just(0u32),
            Just(1),
            Just(2),
            Just(3),
            Just(1001),
            any::<u32>()
        ],
    )
        .prop_map(|(agent, sequence, samples, how, at, word)| {
            let bytes = Datagram {
                agent,
                sub_agent: 0,
                sequence,
                uptime_ms: 60_000,
                samples,
            }
            .encode();
            (bytes, how, at, word)
        })
        .boxed()
}

fn damage(mut bytes: Vec<u8>, how: u8, at: prop::sample::Index, word: u32) -> Vec<u8> {
    match how {
        1 => bytes.truncate(at.index(bytes.len())),
        2 => {
            let i = at.index(bytes.len() / 4) * 4;
            if let Some(w) = bytes.get_mut(i..i + 4) {
                w.copy_from_slice(&word.to_be_bytes());
            }
        }
        _ => {}
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    /// A run of datagrams from one agent (sources and counters carry over from one to the next):
    /// both paths agree after every datagram.
    #[test]
    fn the_common_path_gives_what_the_general_path_gives(
        run in prop::collection::vec(datagram(), 1..6),
        overridden in any::<bool>(),
    ) {
        let mut settings = DecoderSettings::default();
        if overridden {
            settings.sampling_overrides = vec![("0.0.0.0/0".parse().unwrap(), 100), ("::/0".parse().unwrap(), 100)];
        }
        let mut pair = Pair::new(settings);
        let from: IpAddr = "198.51.100.7".parse().unwrap();
        for (bytes, how, at, word) in run {
            let bytes = damage(bytes, how, at, word);
            pair.decode(from, &bytes).map_err(TestCaseError::fail)?;
        }
    }
}

/// The generator reaches the common path: a fixed datagram of common samples decodes the same
/// both ways and gives one record per sample.
#[test]
fn common_samples_decode_the_same_both_ways() {
    let mut pair = Pair::new(DecoderSettings::default());
    let mut samples = Vec::new();
    for i in 0..16u32 {
        let vlan = [None, Some(7), Some(0), Some(4095)][i as usize % 4];
        samples.push(Sample::Flow {
            expanded: i % 2 == 1,
            sequence: i,
            source_type: 0,
            source_index: i % 3,
            rate: [0, 1, 512, 4096][i as usize % 4],
            pool: 1000 * i,
            drops: 0,
            input: [(0, 3), (0, 0x3fff_ffff), (2, 2), (1, 258)][i as usize % 4],
            output: [(1, 258), (0, 4), (0, 0x3fff_ffff), (2, 0)][i as usize % 4],
            records: vec![
                Rec::Raw {
                    protocol: 1,
                    frame_length: 1518,
                    stripped: 4,
                    header: sflow_gen::tcp_frame(
                        vlan,
                        "10.0.0.1".parse().unwrap(),
                        "10.0.0.2".parse().unwrap(),
                        1234,
                        443,
                        1500,
                        0x12,
                        128,
                    ),
                },
                Rec::Switch([[0, 10, 4095, u32::MAX][i as usize % 4], 0, 20, 0]),
            ],
        });
    }
    let bytes = Datagram {
        agent: "192.0.2.1".parse().unwrap(),
        sub_agent: 0,
        sequence: 1,
        uptime_ms: 1000,
        samples,
    }
    .encode();
    for _ in 0..3 {
        pair.decode("198.51.100.7".parse().unwrap(), &bytes)
            .unwrap();
    }
    assert_eq!(pair.flows, 3 * 16);
}

#[test]
fn every_capture_of_the_sflow_corpus_decodes_the_same_both_ways() {
    let Some(shared) =
        testkit::shared_dir("every_capture_of_the_sflow_corpus_decodes_the_same_both_ways")
    else {
        return;
    };
    let dir = Path::new(&shared).join("corpus/vendor/akvorado-sflow");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no sFlow capture in {}", dir.display());
    let mut pair = Pair::new(DecoderSettings::default());
    for f in &files {
        collector::capture::for_each_datagram(f, None, |_, d| {
            pair.decode(d.src.ip(), d.payload)
                .unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        })
        .unwrap();
    }
    assert!(pair.flows > 0, "no flow sample in the corpus");
}
