//! Weighted Space-Saving heavy-hitter sketch: the bounded-memory fallback of one dimension.
//!
//! Owns: a fixed number of counters (`capacity`) keyed by [`Key`], kept in a min-heap by scaled
//! bytes with a key → slot index. An update to a key that has a counter adds to it; a new key, once
//! the sketch is full, takes over the smallest counter, inherits its counts and records the smallest
//! byte count as its error (Metwally, Agrawal, El Abbadi, "Efficient Computation of Frequent and
//! Top-k Elements in Data Streams", 2005, in its weighted form).
//!
//! Guarantees, with `N` the bytes ever added: for every key with a counter,
//! `true ≤ estimate ≤ true + error` and `error ≤ min counter ≤ N / capacity`; every key whose true
//! bytes exceed `N / capacity` has a counter. Counters only ever hold what was added (a takeover
//! moves a counter, it does not copy it), so the sum of all counters never exceeds the total of any
//! measure, and an "other" row computed as total minus the emitted counters is never negative.
//! Must never: grow past `capacity` counters, or allocate per update once full.

use std::collections::HashMap;

use foldhash::fast::RandomState;

use crate::counts::Counts;
use crate::output::Key;

/// One counter.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Slot {
    pub key: Key,
    /// Estimated counts (all measures, including what was inherited at takeover).
    pub counts: Counts,
    /// Upper bound of the overcount in `counts.bytes`.
    pub error: u64,
}

/// A weighted Space-Saving sketch.
#[derive(Debug)]
pub(crate) struct SpaceSaving {
    capacity: usize,
    heap: Vec<Slot>,
    index: HashMap<Key, usize, RandomState>,
}

impl SpaceSaving {
    /// An empty sketch with `capacity` (≥ 1) counters; allocates them all up front.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        SpaceSaving {
            capacity,
            heap: Vec::with_capacity(capacity),
            index: HashMap::with_capacity_and_hasher(capacity, RandomState::default()),
        }
    }

    /// Number of keys with a counter.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Add `c` to `key`.
    pub fn update(&mut self, key: Key, c: &Counts) {
        if let Some(&pos) = self.index.get(&key) {
            self.heap[pos].counts.add(c);
            self.sift_down(pos);
        } else if self.heap.len() < self.capacity {
            let pos = self.heap.len();
            self.heap.push(Slot {
                key,
                counts: *c,
                error: 0,
            });
            self.index.insert(key, pos);
            self.sift_up(pos);
        } else {
            let min = self.heap[0];
            self.index.remove(&min.key);
            let mut counts = min.counts;
            counts.add(c);
            self.heap[0] = Slot {
                key,
                counts,
                error: min.counts.bytes,
            };
            self.index.insert(key, 0);
            self.sift_down(0);
        }
    }

    /// The counters, in no particular order.
    pub fn into_slots(self) -> Vec<Slot> {
        self.heap
    }

    #[cfg(test)]
    pub fn slots(&self) -> &[Slot] {
        &self.heap
    }

    fn less(&self, a: usize, b: usize) -> bool {
        self.heap[a].counts.bytes < self.heap[b].counts.bytes
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.index.insert(self.heap[a].key, a);
        self.index.insert(self.heap[b].key, b);
    }

    fn sift_up(&mut self, mut pos: usize) {
        while pos > 0 {
            let parent = (pos - 1) / 2;
            if self.less(pos, parent) {
                self.swap(pos, parent);
                pos = parent;
            } else {
                break;
            }
        }
    }

    fn sift_down(&mut self, mut pos: usize) {
        let n = self.heap.len();
        loop {
            let l = 2 * pos + 1;
            if l >= n {
                break;
            }
            let r = l + 1;
            let child = if r < n && self.less(r, l) { r } else { l };
            if self.less(child, pos) {
                self.swap(child, pos);
                pos = child;
            } else {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    fn key(i: u32) -> Key {
        Key {
            num: i,
            ..Key::default()
        }
    }

    fn bytes(b: u64) -> Counts {
        Counts {
            bytes: b,
            packets: 1,
            flows: 1,
            bytes_unscaled: b,
            packets_unscaled: 1,
        }
    }

    #[test]
    fn counts_exactly_while_under_capacity() {
        let mut s = SpaceSaving::new(4);
        for (k, b) in [(1, 10), (2, 20), (1, 5), (3, 1)] {
            s.update(key(k), &bytes(b));
        }
        let mut got: Vec<_> = s
            .slots()
            .iter()
            .map(|s| (s.key.num, s.counts.bytes, s.error))
            .collect();
        got.sort();
        assert_eq!(got, vec![(1, 15, 0), (2, 20, 0), (3, 1, 0)]);
    }

    #[test]
    fn new_key_takes_over_the_smallest_counter_and_its_count_as_error() {
        let mut s = SpaceSaving::new(2);
        s.update(key(1), &bytes(100));
        s.update(key(2), &bytes(7));
        s.update(key(3), &bytes(1));
        let mut got: Vec<_> = s
            .slots()
            .iter()
            .map(|s| (s.key.num, s.counts.bytes, s.error, s.counts.flows))
            .collect();
        got.sort();
        assert_eq!(got, vec![(1, 100, 0, 1), (3, 8, 7, 2)]);
    }

    /// A Zipf-like stream: key i has weight about 1/(i+1)^s.
    fn zipf_stream() -> impl Strategy<Value = Vec<(u32, u64)>> {
        (1usize..2000, 0.8f64..1.6, any::<u64>()).prop_map(|(len, s, seed)| {
            let mut x = seed | 1;
            let mut out = Vec::with_capacity(len);
            let universe = 500u32;
            let norm: f64 = (0..universe).map(|i| 1.0 / f64::from(i + 1).powf(s)).sum();
            for _ in 0..len {
                // xorshift64
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut u = (x >> 11) as f64 / (1u64 << 53) as f64 * norm;
                let mut k = 0;
                while k + 1 < universe {
                    u -= 1.0 / f64::from(k + 1).powf(s);
                    if u <= 0.0 {
                        break;
                    }
                    k += 1;
                }
                out.push((k, 1 + (x % 1500)));
            }
            out
        })
    }

    proptest! {
        #[test]
        fn estimates_stay_within_the_error_bound_on_a_skewed_stream(
            stream in zipf_stream(),
            capacity in 4usize..64,
        ) {
            let mut s = SpaceSaving::new(capacity);
            let mut truth: HashMap<u32, u64> = HashMap::new();
            let mut total = 0u64;
            for &(k, b) in &stream {
                s.update(key(k), &bytes(b));
                *truth.entry(k).or_default() += b;
                total += b;
            }
            prop_assert!(s.len() <= capacity);
            let slots = s.slots();
            let sum: u64 = slots.iter().map(|s| s.counts.bytes).sum();
            prop_assert_eq!(sum, total);
            let flows: u64 = slots.iter().map(|s| s.counts.flows).sum();
            prop_assert_eq!(flows, stream.len() as u64);
            for slot in slots {
                let t = truth[&slot.key.num];
                prop_assert!(t <= slot.counts.bytes);
                prop_assert!(slot.counts.bytes <= t + slot.error);
                prop_assert!(slot.error <= total / capacity as u64);
            }
            for (&k, &t) in &truth {
                if t > total / capacity as u64 {
                    prop_assert!(slots.iter().any(|s| s.key.num == k), "heavy key {} missing", k);
                }
            }
        }
    }
}
