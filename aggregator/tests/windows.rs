//! Window behaviour: alignment, the time key, lateness, closing, and pro-rating.

mod common;

use aggregator::{AggregatorConfig, Dimension, TimeKey};
use collector::record::flags;
use common::*;

fn no_prorate() -> AggregatorConfig {
    AggregatorConfig {
        prorate: false,
        ..Default::default()
    }
}

#[test]
fn windows_are_aligned_to_multiples_of_their_length() {
    let mut a = agg(no_prorate());
    // 59.999 s and 60.000 s past an aligned minute fall in consecutive windows.
    a.record(&flow(1, 1, T0 + 59_999, T0 + 59_999, 100));
    a.record(&flow(1, 1, T0 + 60_000, T0 + 60_000, 200));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0, T0 + MIN]);
    let (top, totals) = rows(&out);
    assert!(
        top.iter()
            .all(|r| r.window_start % MIN == 0 && r.window_secs == 60)
    );
    assert_eq!(totals_sum(&totals, Some(T0))[0], 100);
    assert_eq!(totals_sum(&totals, Some(T0 + MIN))[0], 200);
}

#[test]
fn five_minute_windows_align_to_five_minutes() {
    let mut a = agg(AggregatorConfig {
        window_secs: 300,
        ..no_prorate()
    });
    a.record(&flow(1, 1, T0 + 7 * MIN, T0 + 7 * MIN, 1));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + 5 * MIN]);
}

#[test]
fn time_key_picks_start_end_or_received() {
    let mut f = flow(1, 1, T0 + 10_000, T0 + 70_000, 500);
    f.time_received = T0 + 130_000;
    for (key, want) in [
        (TimeKey::Start, T0),
        (TimeKey::End, T0 + MIN),
        (TimeKey::Received, T0 + 2 * MIN),
    ] {
        let mut a = agg(AggregatorConfig {
            time_key: key,
            ..no_prorate()
        });
        a.record(&f);
        let mut out = Vec::new();
        a.flush_all(&mut out);
        assert_eq!(window_starts(&out), vec![want], "{key:?}");
    }
}

#[test]
fn flows_without_the_keyed_time_fall_back_to_time_received() {
    let mut f = flow(1, 1, T0, T0, 500);
    f.flow_end = None;
    f.time_received = T0 + 3 * MIN + 5;
    let mut a = agg(no_prorate());
    a.record(&f);
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + 3 * MIN]);
}

#[test]
fn late_flow_goes_to_the_oldest_open_window_and_is_counted() {
    let mut a = agg(no_prorate()); // lateness 2 windows
    a.record(&flow(1, 1, T0 + 10 * MIN, T0 + 10 * MIN, 1000));
    // Floor is now window 8. Window 8 still accepts; window 7 is late.
    a.record(&flow(1, 2, T0 + 8 * MIN, T0 + 8 * MIN, 10));
    let mut late = flow(2, 3, T0 + 7 * MIN, T0 + 7 * MIN + 59_999, 7);
    late.time_received = T0 + 10 * MIN;
    a.record(&late);
    let stats = a.stats();
    assert_eq!(stats.late_flows, 1);
    assert_eq!(stats.flows_recorded, 3);

    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + 8 * MIN, T0 + 10 * MIN]);
    let (top, totals) = rows(&out);
    let late_row = totals
        .iter()
        .find(|t| t.exporter == v4(192, 0, 2, 2))
        .unwrap();
    assert_eq!(late_row.window_start, T0 + 8 * MIN);
    assert_eq!(
        (late_row.bytes, late_row.flows, late_row.late_flows),
        (7, 1, 1)
    );
    let on_time = totals
        .iter()
        .find(|t| t.exporter == v4(192, 0, 2, 1) && t.window_start == T0 + 8 * MIN)
        .unwrap();
    assert_eq!(on_time.late_flows, 0);
    // The late flow's key is ranked in the window it was put in.
    assert!(top.iter().any(|r| r.window_start == T0 + 8 * MIN
        && r.dimension == Dimension::SrcAddr
        && r.key.addr_a == v4(10, 0, 0, 3)
        && r.bytes == 7));
}

#[test]
fn zero_lateness_makes_any_older_window_late() {
    let mut a = agg(AggregatorConfig {
        allowed_lateness_windows: 0,
        ..no_prorate()
    });
    a.record(&flow(1, 1, T0 + 5 * MIN, T0 + 5 * MIN, 1));
    a.record(&flow(1, 1, T0 + 4 * MIN, T0 + 4 * MIN + 59_999, 1));
    assert_eq!(a.stats().late_flows, 1);
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + 5 * MIN]);
}

#[test]
fn window_closes_when_now_passes_its_end_plus_lateness() {
    let mut a = agg(no_prorate());
    a.record(&flow(1, 1, T0 + 5 * MIN, T0 + 5 * MIN, 1));
    a.record(&flow(1, 1, T0 + 10 * MIN, T0 + 10 * MIN, 1));
    let mut out = Vec::new();
    // Window 5 is below the floor (8) already; it closes at the first flush.
    a.flush_into(&mut out, T0 + 10 * MIN);
    assert_eq!(window_starts(&out), vec![T0 + 5 * MIN]);
    out.clear();
    // Window 10 ends at 11; with two windows of lateness it closes at 13, not a millisecond before.
    a.flush_into(&mut out, T0 + 13 * MIN - 1);
    assert!(out.is_empty());
    assert_eq!(a.stats().windows_open, 1);
    a.flush_into(&mut out, T0 + 13 * MIN);
    assert_eq!(window_starts(&out), vec![T0 + 10 * MIN]);
    assert_eq!(a.stats().windows_open, 0);
    assert_eq!(a.stats().windows_closed, 2);
}

#[test]
fn flushing_with_an_old_now_never_moves_the_watermark_back() {
    let mut a = agg(no_prorate());
    a.record(&flow(1, 1, T0 + 10 * MIN, T0 + 10 * MIN, 1));
    let mut out = Vec::new();
    a.flush_into(&mut out, T0);
    assert_eq!(a.stats().watermark_ms, Some(T0 + 10 * MIN));
    a.record(&flow(1, 1, T0 + 7 * MIN, T0 + 7 * MIN, 1));
    assert_eq!(a.stats().late_flows, 1);
}

#[test]
fn exporter_clock_ahead_is_placed_by_receive_time_and_cannot_move_the_watermark() {
    let mut a = agg(AggregatorConfig::default());
    let mut ahead = flow(1, 1, T0 + 99 * MIN, T0 + 100 * MIN, 1);
    ahead.time_received = T0 + 30_000;
    a.record(&ahead);
    // Up to one window ahead of receipt is tolerated as ordinary skew.
    let mut skewed = flow(1, 1, T0 + MIN + 10_000, T0 + MIN + 20_000, 1);
    skewed.time_received = T0 + 30_000;
    a.record(&skewed);
    let s = a.stats();
    assert_eq!(s.clock_ahead_flows, 1);
    assert_eq!(s.watermark_ms, Some(T0 + MIN + 20_000));
    // A flow flagged far from its export time is counted but does not move the watermark.
    let mut far = flow(1, 1, T0 + 500 * MIN, T0 + 500 * MIN, 1);
    far.flags |= flags::FAR_FROM_EXPORT_TIME;
    a.record(&far);
    assert_eq!(a.stats().watermark_ms, Some(T0 + MIN + 20_000));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0, T0 + MIN, T0 + 500 * MIN]);
}

#[test]
fn prorates_a_flow_over_the_windows_it_spans_with_exact_integer_totals() {
    let mut a = agg(AggregatorConfig::default());
    let mut f = flow(1, 1, T0 + 30_000, T0 + 150_000, 1001);
    f.packets = 7;
    f.sampling_rate = 10;
    a.record(&f);
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0, T0 + MIN, T0 + 2 * MIN]);
    let (top, totals) = rows(&out);
    let per = |w: i64| totals_sum(&totals, Some(w));
    // 10010 scaled bytes over 30 s + 60 s + 30 s: 2502.5, 5005, 2502.5 (ties go to the later part).
    assert_eq!(
        [per(T0)[0], per(T0 + MIN)[0], per(T0 + 2 * MIN)[0]],
        [2502, 5005, 2503]
    );
    // The one flow goes to the middle window, which holds half of it.
    assert_eq!(
        [per(T0)[2], per(T0 + MIN)[2], per(T0 + 2 * MIN)[2]],
        [0, 1, 0]
    );
    assert_eq!(totals_sum(&totals, None), flows_sum(&[f]));
    for w in [T0, T0 + MIN, T0 + 2 * MIN] {
        for dim in Dimension::FLOW {
            assert_eq!(top_sum(&top, w, dim), per(w), "{dim:?} in {w}");
        }
    }
}

#[test]
fn prorating_puts_the_part_below_the_floor_in_the_oldest_open_window() {
    let mut a = agg(AggregatorConfig::default());
    a.record(&flow(1, 1, T0 + 10 * MIN, T0 + 10 * MIN, 1));
    // Spans windows 6..=9; floor is 8, so windows 6 and 7 go to 8.
    let f = flow(1, 2, T0 + 6 * MIN, T0 + 10 * MIN, 4000);
    a.record(&f);
    let stats = a.stats();
    assert_eq!(stats.late_flows, 0);
    assert_eq!(stats.parts_moved, 1);
    let mut out = Vec::new();
    a.flush_all(&mut out);
    let (_, totals) = rows(&out);
    assert_eq!(totals_sum(&totals, Some(T0 + 8 * MIN))[0], 3000);
    assert_eq!(totals_sum(&totals, Some(T0 + 9 * MIN))[0], 1000);
}

#[test]
fn prorating_is_skipped_for_the_received_time_key() {
    let mut a = agg(AggregatorConfig {
        time_key: TimeKey::Received,
        ..Default::default()
    });
    a.record(&flow(1, 1, T0, T0 + 3 * MIN, 100));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + 3 * MIN]);
}

#[test]
fn stats_count_keys_per_dimension_in_open_windows() {
    let mut a = agg(AggregatorConfig {
        dimensions: vec![Dimension::SrcAddr, Dimension::Protocol],
        ..no_prorate()
    });
    for src in 1..=5 {
        a.record(&flow(1, src, T0, T0, 10));
    }
    let s = a.stats();
    assert_eq!(s.keys(Dimension::SrcAddr), 5);
    assert_eq!(s.keys(Dimension::Protocol), 1);
    assert_eq!(s.keys(Dimension::DstAddr), 0);
    let mut out = Vec::new();
    a.flush_all(&mut out);
    let (top, _) = rows(&out);
    assert!(
        top.iter()
            .all(|r| matches!(r.dimension, Dimension::SrcAddr | Dimension::Protocol))
    );
}

#[test]
fn prorated_flow_ending_on_a_boundary_stays_in_the_window_that_holds_its_time() {
    // [10 s, 60 s) lies wholly in window 0 even though its end time is the first ms of window 1.
    let mut a = agg(AggregatorConfig::default());
    a.record(&flow(1, 1, T0 + 10_000, T0 + MIN, 100));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0]);
    // Without pro-rating the end time decides.
    let mut a = agg(no_prorate());
    a.record(&flow(1, 1, T0 + 10_000, T0 + MIN, 100));
    let mut out = Vec::new();
    a.flush_all(&mut out);
    assert_eq!(window_starts(&out), vec![T0 + MIN]);
}

mod absurd_input {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn arbitrary_times_and_counters_never_panic_and_every_flow_is_emitted(
            flows in prop::collection::vec(
                (any::<i64>(), any::<i64>(), any::<i64>(), any::<u64>(), any::<u32>(), any::<bool>()),
                1..40,
            ),
            prorate in any::<bool>(),
            now in any::<i64>(),
        ) {
            let mut a = agg(AggregatorConfig { prorate, ..Default::default() });
            let mut out = Vec::new();
            for &(s, e, r, bytes, rate, far) in &flows {
                let mut f = flow(1, 1, s, e, bytes);
                f.time_received = r;
                f.sampling_rate = rate;
                if far {
                    f.flags |= flags::FAR_FROM_EXPORT_TIME;
                }
                a.record(&f);
            }
            a.flush_into(&mut out, now);
            a.flush_all(&mut out);
            let (_, totals) = rows(&out);
            prop_assert_eq!(totals.iter().map(|t| t.flows).sum::<u64>(), flows.len() as u64);
            prop_assert_eq!(a.stats().windows_open, 0);
        }
    }
}
