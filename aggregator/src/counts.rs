//! The five measures counted per key and per exporter, and their exact integer split over windows.
//!
//! Owns: [`Counts`] (scaled and unscaled bytes and packets, plus flows) and [`split`], the
//! largest-remainder apportionment that spreads one flow over several windows so that the integer
//! parts of every measure sum exactly to the whole.
//! Must never: allocate (it runs per flow), or lose a unit to rounding.

/// Bytes, packets and flows, scaled and as exported. Additions saturate instead of wrapping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Bytes scaled by the sampling rate.
    pub bytes: u64,
    /// Packets scaled by the sampling rate.
    pub packets: u64,
    /// Flow records (or this window's share of one).
    pub flows: u64,
    /// Bytes as exported.
    pub bytes_unscaled: u64,
    /// Packets as exported.
    pub packets_unscaled: u64,
}

impl Counts {
    /// The measures of one whole flow record.
    pub fn of(flow: &collector::FlowRecord) -> Counts {
        Counts {
            bytes: flow.scaled_bytes(),
            packets: flow.scaled_packets(),
            flows: 1,
            bytes_unscaled: flow.bytes,
            packets_unscaled: flow.packets,
        }
    }

    /// Add `o` into `self`, saturating.
    #[inline]
    pub fn add(&mut self, o: &Counts) {
        self.bytes = self.bytes.saturating_add(o.bytes);
        self.packets = self.packets.saturating_add(o.packets);
        self.flows = self.flows.saturating_add(o.flows);
        self.bytes_unscaled = self.bytes_unscaled.saturating_add(o.bytes_unscaled);
        self.packets_unscaled = self.packets_unscaled.saturating_add(o.packets_unscaled);
    }

    /// `self - o` per measure, floored at zero.
    pub fn minus(&self, o: &Counts) -> Counts {
        Counts {
            bytes: self.bytes.saturating_sub(o.bytes),
            packets: self.packets.saturating_sub(o.packets),
            flows: self.flows.saturating_sub(o.flows),
            bytes_unscaled: self.bytes_unscaled.saturating_sub(o.bytes_unscaled),
            packets_unscaled: self.packets_unscaled.saturating_sub(o.packets_unscaled),
        }
    }

    /// True when every measure is zero.
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// Most windows one flow is spread over; the tail of a longer flow goes to the last of them.
pub(crate) const MAX_SPREAD: usize = 64;

/// Split `whole` over parts with the given `weights` (all > 0, at most [`MAX_SPREAD`]) into `out`.
///
/// Each measure is apportioned independently with the largest-remainder method: part `i` gets
/// `floor(v * w_i / W)`, and the units left over go one each to the parts with the largest
/// remainders (ties: the later part). So every part is within one unit of its exact share and the
/// parts of every measure sum exactly to the whole.
pub(crate) fn split(whole: &Counts, weights: &[u64], out: &mut [Counts]) {
    let n = weights.len();
    debug_assert!(n <= MAX_SPREAD && out.len() >= n);
    let out = &mut out[..n];
    if n == 0 {
        return;
    }
    let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
    if n == 1 || total == 0 {
        out.iter_mut().for_each(|o| *o = Counts::default());
        out[n - 1] = *whole;
        return;
    }
    // Scratch sized to the common case (a flow over a few windows), so the hot path does not
    // clear arrays of MAX_SPREAD entries.
    if n <= SMALL_SPREAD {
        split_in::<SMALL_SPREAD>(whole, weights, total, out);
    } else {
        split_in::<MAX_SPREAD>(whole, weights, total, out);
    }
}

/// Parts up to which [`split`] uses small scratch arrays.
const SMALL_SPREAD: usize = 4;

fn split_in<const N: usize>(whole: &Counts, weights: &[u64], total: u128, out: &mut [Counts]) {
    let n = weights.len();
    if n == 2 {
        // A flow across one window boundary, the common spread: the same largest-remainder rule
        // without sorting (the remainders of two parts sum to 0 or `total`).
        for k in 0..5 {
            let v = whole.measure(k);
            let (mut q0, r0) = share(v, weights[0], total);
            let (mut q1, r1) = share(v, weights[1], total);
            if q0 + q1 < v {
                if r1 >= r0 {
                    q1 += 1;
                } else {
                    q0 += 1;
                }
            }
            *out[0].measure_mut(k) = q0;
            *out[1].measure_mut(k) = q1;
        }
        return;
    }
    let mut shares = [0u64; N];
    let shares = &mut shares[..n];
    for k in 0..5 {
        apportion::<N>(whole.measure(k), weights, total, shares);
        for (o, s) in out.iter_mut().zip(shares.iter()) {
            *o.measure_mut(k) = *s;
        }
    }
}

impl Counts {
    fn measure(&self, k: usize) -> u64 {
        match k {
            0 => self.bytes,
            1 => self.packets,
            2 => self.flows,
            3 => self.bytes_unscaled,
            _ => self.packets_unscaled,
        }
    }

    fn measure_mut(&mut self, k: usize) -> &mut u64 {
        match k {
            0 => &mut self.bytes,
            1 => &mut self.packets,
            2 => &mut self.flows,
            3 => &mut self.bytes_unscaled,
            _ => &mut self.packets_unscaled,
        }
    }
}

/// `v * w` divided by `total`: quotient and remainder, in 64-bit arithmetic when the product fits
/// (the common case: 128-bit division is a slow library call).
#[inline]
fn share(v: u64, w: u64, total: u128) -> (u64, u128) {
    if let (Some(p), Ok(t)) = (v.checked_mul(w), u64::try_from(total)) {
        return (p / t, u128::from(p % t));
    }
    let prod = u128::from(v) * u128::from(w);
    // prod / total <= v, so the quotient fits in u64.
    ((prod / total) as u64, prod % total)
}

/// Largest-remainder apportionment of `v` over `weights` (summing to `total` > 0, at most `N` of
/// them) into `shares`.
fn apportion<const N: usize>(v: u64, weights: &[u64], total: u128, shares: &mut [u64]) {
    let n = weights.len();
    let mut rems = [0u128; N];
    let mut given: u64 = 0;
    for i in 0..n {
        let (q, r) = share(v, weights[i], total);
        shares[i] = q;
        rems[i] = r;
        given += q;
    }
    let mut left = v - given; // < n, since each part lost less than one unit
    if left == 0 {
        return;
    }
    let mut order = [0u8; N];
    for (i, o) in order.iter_mut().enumerate().take(n) {
        *o = i as u8;
    }
    let order = &mut order[..n];
    order.sort_unstable_by(|&a, &b| {
        rems[b as usize]
            .cmp(&rems[a as usize])
            .then_with(|| b.cmp(&a))
    });
    for &i in order.iter() {
        if left == 0 {
            break;
        }
        shares[i as usize] += 1;
        left -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(v: u64) -> Counts {
        Counts {
            bytes: v,
            packets: v / 3,
            flows: 1,
            bytes_unscaled: v / 7,
            packets_unscaled: 5,
        }
    }

    #[test]
    fn splits_one_flow_over_three_equal_windows_exactly() {
        let mut out = [Counts::default(); 3];
        split(&c(1000), &[10, 10, 10], &mut out);
        assert_eq!(
            out.iter().map(|o| o.bytes).collect::<Vec<_>>(),
            [333, 333, 334]
        );
        // One flow over three equal parts: the later part wins the tie.
        assert_eq!(out.iter().map(|o| o.flows).collect::<Vec<_>>(), [0, 0, 1]);
    }

    #[test]
    fn gives_the_flow_count_to_the_longest_part() {
        let mut out = [Counts::default(); 3];
        split(&c(90), &[10, 70, 20], &mut out);
        assert_eq!(out.iter().map(|o| o.flows).collect::<Vec<_>>(), [0, 1, 0]);
        assert_eq!(out.iter().map(|o| o.bytes).collect::<Vec<_>>(), [9, 63, 18]);
    }

    proptest! {
        #[test]
        fn the_two_part_shortcut_gives_what_the_general_rule_gives(
            v in prop_oneof![0u64..10_000, any::<u64>()],
            w0 in prop_oneof![1u64..200_000, 1u64..=u64::MAX / 2],
            w1 in prop_oneof![1u64..200_000, 1u64..=u64::MAX / 2],
        ) {
            let whole = Counts { bytes: v, packets: v / 3, flows: 1, bytes_unscaled: v / 7, packets_unscaled: v % 5 };
            let weights = [w0, w1];
            let mut out = [Counts::default(); 2];
            split(&whole, &weights, &mut out);
            let total = u128::from(w0) + u128::from(w1);
            for k in 0..5 {
                let mut want = [0u64; 2];
                apportion::<4>(whole.measure(k), &weights, total, &mut want);
                prop_assert_eq!([out[0].measure(k), out[1].measure(k)], want, "measure {}", k);
            }
        }

        #[test]
        fn parts_sum_exactly_and_stay_within_one_of_the_exact_share(
            v in any::<u64>(),
            weights in prop::collection::vec(1u64..=u64::from(u32::MAX), 1..=MAX_SPREAD),
        ) {
            let whole = Counts { bytes: v, packets: v / 2, flows: 1, bytes_unscaled: v / 9, packets_unscaled: 17 };
            let mut out = [Counts::default(); MAX_SPREAD];
            split(&whole, &weights, &mut out);
            let parts = &out[..weights.len()];
            let total: u128 = weights.iter().map(|&w| u128::from(w)).sum();
            let sum = |f: fn(&Counts) -> u64| parts.iter().map(|p| u128::from(f(p))).sum::<u128>();
            prop_assert_eq!(sum(|p| p.bytes), u128::from(whole.bytes));
            prop_assert_eq!(sum(|p| p.packets), u128::from(whole.packets));
            prop_assert_eq!(sum(|p| p.flows), 1);
            prop_assert_eq!(sum(|p| p.bytes_unscaled), u128::from(whole.bytes_unscaled));
            prop_assert_eq!(sum(|p| p.packets_unscaled), 17);
            for (p, &w) in parts.iter().zip(&weights) {
                let exact_floor = u128::from(v) * u128::from(w) / total;
                let got = u128::from(p.bytes);
                prop_assert!(got == exact_floor || got == exact_floor + 1);
            }
        }
    }
}
