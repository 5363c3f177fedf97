//! Emission invariants over random streams: nothing is lost, and in every window and dimension the
//! top N rows plus the "other" row add up exactly to the window total. Also the sketch fallback's
//! error bound on a skewed stream.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};

use aggregator::{AggregatorConfig, Dimension, TimeKey};
use collector::FlowRecord;
use common::*;
use proptest::prelude::*;

#[derive(Clone, Debug)]
#[allow(clippy::large_enum_variant)] // test-only, a few hundred values
enum Op {
    Flow(FlowRecord),
    Flush(i64),
}

fn arb_flow() -> impl Strategy<Value = FlowRecord> {
    (
        (
            1u8..4,
            0u8..40,
            0u8..6,
            prop::sample::select(vec![22u16, 53, 80, 443, 8080, 50_000]),
        ),
        (0i64..12 * MIN, 0i64..4 * MIN, -3 * MIN..5_000i64),
        (0u64..2_000_000, 0u64..2_000, 1u32..200),
        (any::<bool>(), any::<bool>(), any::<bool>()),
    )
        .prop_map(
            |((exp, src, dst, port), (start, dur, delay), (bytes, packets, rate), (ns, ne, np))| {
                let mut f = flow(exp, src, T0 + start, T0 + start + dur, bytes);
                f.time_received = T0 + start + dur + delay;
                f.dst_addr = Some(v4(10, 0, 1, dst));
                f.dst_port = Some(port);
                // What enrichment would have found: a few countries, networks and providers.
                let e = &mut f.enrichment;
                e.src_country = [b'A' + src % 3, b'X'];
                e.dst_country = if dst == 0 {
                    [0, 0]
                } else {
                    [b'B', b'A' + dst % 2]
                };
                e.src_net_name = u32::from(src % 4);
                e.dst_net_name = u32::from(dst % 2);
                e.in_if_provider = u32::from(exp % 2);
                e.out_if_provider = u32::from((exp + 1) % 3);
                f.packets = packets;
                f.sampling_rate = rate;
                if ns {
                    f.flow_start = None;
                }
                if ne {
                    f.flow_end = None;
                }
                if np {
                    f.src_port = None;
                    f.protocol = None;
                    f.src_as = None;
                }
                f
            },
        )
}

fn arb_ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(
        prop_oneof![
            12 => arb_flow().prop_map(Op::Flow),
            1 => (0i64..16 * MIN).prop_map(|t| Op::Flush(T0 + t)),
        ],
        1..300,
    )
}

fn arb_config() -> impl Strategy<Value = AggregatorConfig> {
    (
        1u32..8,
        any::<bool>(),
        prop::sample::select(vec![TimeKey::Start, TimeKey::End, TimeKey::Received]),
        0u32..4,
        1usize..60,
        0usize..3,
    )
        .prop_map(
            |(top_n, prorate, time_key, lateness, max_keys, extra)| AggregatorConfig {
                window_secs: 60,
                time_key,
                prorate,
                allowed_lateness_windows: lateness,
                top_n,
                max_keys_per_window: max_keys,
                sketch_capacity: Some(top_n as usize * (1 + extra)),
                dimensions: Dimension::ALL.to_vec(),
                ..Default::default()
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn top_n_plus_other_equals_the_window_total_exactly(cfg in arb_config(), ops in arb_ops()) {
        let top_n = cfg.top_n as usize;
        let mut a = agg(cfg);
        let mut out = Vec::new();
        let mut flows = Vec::new();
        for op in &ops {
            match op {
                Op::Flow(f) => { a.record(f); flows.push(*f); }
                Op::Flush(now) => a.flush_into(&mut out, *now),
            }
        }
        a.flush_all(&mut out);
        let stats = a.stats();
        let (top, totals) = rows(&out);

        // Nothing lost, nothing invented, and every late flow is flagged in some window.
        prop_assert_eq!(totals_sum(&totals, None), flows_sum(&flows));
        prop_assert_eq!(totals.iter().map(|t| t.late_flows).sum::<u64>(), stats.late_flows);
        prop_assert_eq!(stats.flows_recorded, flows.len() as u64);

        // Each window is emitted once.
        let starts = window_starts(&out);
        prop_assert_eq!(starts.iter().collect::<HashSet<_>>().len(), starts.len());

        for &w in &starts {
            let total = totals_sum(&totals, Some(w));
            for dim in Dimension::ALL {
                prop_assert_eq!(top_sum(&top, w, dim), total, "{:?} in window {}", dim, w);
                let dim_rows: Vec<_> = top.iter().filter(|r| r.window_start == w && r.dimension == dim).collect();
                let others: Vec<_> = dim_rows.iter().filter(|r| r.is_other).collect();
                prop_assert_eq!(others.len(), 1);
                prop_assert_eq!(others[0].rank_bytes, 0);
                let ranked: Vec<_> = dim_rows.iter().filter(|r| !r.is_other).collect();
                prop_assert!(ranked.len() <= top_n);
                for (i, r) in ranked.iter().enumerate() {
                    prop_assert_eq!(r.rank_bytes as usize, i + 1);
                    prop_assert!(r.rank_packets >= 1 && r.rank_flows >= 1);
                    if i > 0 {
                        prop_assert!(ranked[i - 1].bytes >= r.bytes);
                    }
                }
            }
        }
    }
}

/// A Zipf-like stream over `universe` keys: key i has weight about 1/(i+1)^s.
fn zipf_keys(universe: u32) -> impl Strategy<Value = Vec<(u32, u64)>> {
    (100usize..3000, 0.7f64..1.5, any::<u64>()).prop_map(move |(len, s, seed)| {
        let weights: Vec<f64> = (0..universe)
            .map(|i| 1.0 / f64::from(i + 1).powf(s))
            .collect();
        let norm: f64 = weights.iter().sum();
        let mut x = seed | 1;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut u = (x >> 11) as f64 / (1u64 << 53) as f64 * norm;
                let mut k = 0;
                while k + 1 < universe as usize {
                    u -= weights[k];
                    if u <= 0.0 {
                        break;
                    }
                    k += 1;
                }
                (k as u32, 40 + x % 1460)
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    #[test]
    fn sketch_fallback_estimates_stay_within_their_error_bound(
        stream in zipf_keys(400),
        capacity in 16usize..64,
        max_keys in 1usize..40,
    ) {
        let mut a = agg(AggregatorConfig {
            dimensions: vec![Dimension::SrcAs],
            top_n: capacity as u32,
            sketch_capacity: Some(capacity),
            max_keys_per_window: max_keys,
            prorate: false,
            ..Default::default()
        });
        let mut truth: HashMap<u32, u64> = HashMap::new();
        for &(k, b) in &stream {
            let mut f = flow(1, 1, T0 + 1000, T0 + 1000, b);
            f.src_as = Some(k);
            a.record(&f);
            *truth.entry(k).or_default() += b;
        }
        let total: u64 = truth.values().sum();
        let fell_back = truth.len() > max_keys;
        prop_assert_eq!(a.stats().sketch_fallbacks, u64::from(fell_back));
        let mut out = Vec::new();
        a.flush_all(&mut out);
        let (top, _) = rows(&out);
        let emitted: BTreeMap<u32, _> =
            top.iter().filter(|r| !r.is_other).map(|r| (r.key.num, *r)).collect();
        for (k, r) in &emitted {
            let t = truth[k];
            prop_assert!(t <= r.bytes, "key {} true {} est {}", k, t, r.bytes);
            prop_assert!(r.bytes <= t + r.max_error, "key {} true {} est {} err {}", k, t, r.bytes, r.max_error);
            if fell_back {
                prop_assert!(r.max_error <= total / capacity as u64);
            } else {
                prop_assert_eq!(r.max_error, 0);
                prop_assert_eq!(r.bytes, t);
            }
        }
        for (k, &t) in &truth {
            if t > total / capacity as u64 {
                prop_assert!(emitted.contains_key(k), "heavy key {} ({} of {}) missing", k, t, total);
            }
        }
        let sum: u64 = top.iter().map(|r| r.bytes).sum();
        prop_assert_eq!(sum, total);
        // "Other" is under-counted by at most its max_error.
        let other = top.iter().find(|r| r.is_other).unwrap();
        let true_other = total - emitted.keys().map(|k| truth[k]).sum::<u64>();
        prop_assert!(other.bytes <= true_other);
        prop_assert!(true_other - other.bytes <= other.max_error);
    }
}

#[test]
fn exact_rows_report_zero_error_and_true_counts() {
    let mut a = agg(AggregatorConfig {
        dimensions: vec![Dimension::SrcAddr],
        top_n: 2,
        prorate: false,
        ..Default::default()
    });
    for (src, bytes) in [(1, 100), (2, 300), (3, 200), (1, 250), (4, 1)] {
        a.record(&flow(1, src, T0, T0, bytes));
    }
    let mut out = Vec::new();
    a.flush_all(&mut out);
    let (top, _) = rows(&out);
    let got: Vec<_> = top
        .iter()
        .map(|r| {
            (
                r.is_other,
                r.key.addr_a,
                r.bytes,
                r.flows,
                r.rank_bytes,
                r.rank_flows,
                r.max_error,
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (false, v4(10, 0, 0, 1), 350, 2, 1, 1, 0),
            (false, v4(10, 0, 0, 2), 300, 1, 2, 2, 0),
            (true, aggregator::Key::default().addr_a, 201, 2, 0, 0, 0),
        ]
    );
}
