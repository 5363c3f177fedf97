//! The synchronous aggregation core: event-time tumbling windows of per-dimension key tables.
//!
//! Owns: which window a flow (or each prorated part of it) lands in, the watermark, lateness, when a
//! window closes, per-exporter exact totals, and the [`AggregatorStats`] the binary exports.
//! Must never: read the clock (`now` is a parameter of [`Aggregator::flush_into`]), do I/O, or lose a
//! flow silently: a flow too old for its window is put in the oldest window still open and counted.
//!
//! # Time rules
//! - Windows are `[start, start + window)` with `start` a multiple of the window length since the
//!   Unix epoch (so they align across collectors and restarts).
//! - A flow's event time is its `time_key` time (start, end or received); a flow without that time
//!   uses `time_received`. A flow whose event time is more than one window after its
//!   `time_received` (exporter clock ahead) is placed by `time_received` instead, unspread, and
//!   counted in `clock_ahead_flows`: a wrong clock can neither open windows in the future (which
//!   would only close when real time caught up) nor drag the watermark there.
//! - The **watermark** is the largest of: every `now` passed to `flush_into`, and every event time
//!   recorded. Flows flagged `FAR_FROM_EXPORT_TIME` do not move it.
//! - The **floor** is `align(watermark) - allowed_lateness_windows * window`: the oldest window that
//!   still accepts flows. A flow whose window is below the floor is **late**: it is recorded in the
//!   floor window and counted in that window's `late_flows` (per exporter) and in the stats.
//! - A window **closes** (is emitted by `flush_into`) once it is below the floor, i.e. when the
//!   watermark reaches `window_end + allowed_lateness_windows * window`. Windows close only inside
//!   `flush_into`/`flush_all`; between flushes a window below the floor just stops taking flows.
//!
//! # Pro-rating
//! With `prorate` on, `time_key` start or end, and both times present with `end > start`, a flow is
//! spread over the windows that `[start, end)` overlaps, in proportion to the overlap in ms, using the
//! largest-remainder split (parts sum exactly to the whole for every measure, the flow count too).
//! The share of any part below the floor goes to the floor window; a flow spanning more than 64
//! windows puts the rest of its tail in the 64th. Neither case loses a unit.

use std::collections::HashMap;
use std::net::Ipv6Addr;

use collector::FlowRecord;
use collector::record::flags;
use foldhash::fast::RandomState;

use crate::config::{TimeKey, ValidatedAggregatorConfig};
use crate::counts::{Counts, MAX_SPREAD, split};
use crate::output::{Dimension, WindowTotalsRow};
use crate::sink::Output;
use crate::table::{DimTable, EmitCtx};

/// Counters of an aggregator, as plain numbers for the binary to export as metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AggregatorStats {
    /// Flow records passed to `record` (cumulative).
    pub flows_recorded: u64,
    /// Flows whose window was already below the floor, recorded in the oldest open window (cumulative).
    pub late_flows: u64,
    /// Flows whose prorated parts partly fell below the floor or past the spread cap and were moved
    /// into the nearest accepted window (cumulative; not counted as late).
    pub parts_moved: u64,
    /// Flows whose event time was more than a window after their receive time (exporter clock
    /// ahead); they were placed by their receive time instead, without pro-rating (cumulative).
    pub clock_ahead_flows: u64,
    /// Times a dimension of a window switched from exact counting to the sketch (cumulative).
    pub sketch_fallbacks: u64,
    /// Windows emitted (cumulative).
    pub windows_closed: u64,
    /// Windows currently open.
    pub windows_open: u64,
    /// Keys (or sketch counters) held now, summed over open windows; index = position in
    /// [`Dimension::ALL`]. Unconfigured dimensions stay 0.
    pub keys_per_dimension: [u64; Dimension::ALL.len()],
    /// Current watermark, Unix ms (None before the first flow or flush).
    pub watermark_ms: Option<i64>,
}

impl AggregatorStats {
    /// Keys held now for `dim`.
    pub fn keys(&self, dim: Dimension) -> u64 {
        self.keys_per_dimension[dim as usize]
    }
}

impl AggregatorStats {
    /// Fold in the counters of another shard of the same aggregator: shards see the same flows
    /// and close the same windows, so only the per-dimension figures differ between them.
    pub(crate) fn merge_shard(&mut self, o: &AggregatorStats) {
        for (a, b) in self.keys_per_dimension.iter_mut().zip(o.keys_per_dimension) {
            *a += b;
        }
        self.sketch_fallbacks += o.sketch_fallbacks;
    }
}

/// Where a flow spread over several windows is cut: window starts, weights (ms) and the parts.
#[derive(Debug)]
struct Spread {
    starts: [i64; MAX_SPREAD],
    weights: [u64; MAX_SPREAD],
    parts: [Counts; MAX_SPREAD],
}

/// One flow (or one pro-rated part of it) placed in a window, waiting for the dimension pass.
#[derive(Clone, Copy, Debug)]
struct Part {
    /// The window's start.
    start: i64,
    /// The window's index in `Aggregator::windows`.
    window: usize,
    /// The flow's index in the batch.
    flow: usize,
    counts: Counts,
}

/// Exact per-exporter totals of a window.
#[derive(Clone, Copy, Debug, Default)]
struct ExporterTotals {
    counts: Counts,
    late_flows: u64,
}

/// One open window.
#[derive(Debug)]
struct Window {
    /// One table per dimension this aggregator counts, in configuration order.
    tables: Vec<DimTable>,
    /// Per-exporter totals (kept by the shard that emits the totals rows only).
    exporters: Vec<(u128, ExporterTotals)>,
    /// Position in `exporters` by exporter address.
    exporter_index: HashMap<u128, usize, RandomState>,
    /// The exporter used last: a batch holds runs of one exporter's records (one datagram each),
    /// so this skips the hash lookup for most of them.
    last_exporter: usize,
    /// The exact window total (every shard keeps it: the "other" rows need it).
    total: Counts,
}

impl Window {
    /// The totals of `exporter` in this window, created if needed.
    #[inline]
    fn exporter_mut(&mut self, exporter: u128) -> &mut ExporterTotals {
        if self
            .exporters
            .get(self.last_exporter)
            .is_none_or(|e| e.0 != exporter)
        {
            let next = self.exporters.len();
            let i = *self.exporter_index.entry(exporter).or_insert(next);
            if i == next {
                self.exporters.push((exporter, ExporterTotals::default()));
            }
            self.last_exporter = i;
        }
        &mut self.exporters[self.last_exporter].1
    }

    fn new(dims: &[Dimension]) -> Self {
        Window {
            tables: dims.iter().map(|&d| DimTable::new(d)).collect(),
            exporters: Vec::new(),
            exporter_index: HashMap::default(),
            last_exporter: 0,
            total: Counts::default(),
        }
    }
}

/// Event-time windows of top talkers. Feed it with [`record`](Self::record), drain it with
/// [`flush_into`](Self::flush_into) (and [`flush_all`](Self::flush_all) on shutdown).
///
/// An aggregator can be cut into shards by dimension ([`into_shards`](Self::into_shards)): each
/// shard counts some of the dimensions, all of them place every flow in the same windows (the
/// window rules depend on times only), so fed the same flows and the same `now`s they close the
/// same windows, and the union of their rows is exactly what one aggregator would emit.
#[derive(Debug)]
pub struct Aggregator {
    cfg: ValidatedAggregatorConfig,
    /// The dimensions this aggregator counts (all configured ones unless it is a shard).
    dims: Vec<Dimension>,
    /// Whether this aggregator keeps and emits the per-exporter totals.
    totals: bool,
    /// Open windows, sorted by start (a handful at a time).
    windows: Vec<(i64, Window)>,
    /// Index in `windows` of the window used last: flows arrive mostly in time order, so this
    /// makes one comparison the whole window lookup in the common case.
    last: usize,
    /// Scratch of [`record_batch`](Self::record_batch): where each flow (or part of one) goes.
    parts: Vec<Part>,
    /// A window was opened since the parts were placed (their indices must be looked up again).
    opened: bool,
    /// Scratch of the pro-rating split.
    spread: Box<Spread>,
    watermark: Option<i64>,
    /// Start of the watermark's window (valid once `watermark` is set).
    wm_window: i64,
    flows_recorded: u64,
    late_flows: u64,
    parts_moved: u64,
    clock_ahead_flows: u64,
    sketch_fallbacks: u64,
    windows_closed: u64,
}

impl Aggregator {
    /// An empty aggregator.
    pub fn new(cfg: ValidatedAggregatorConfig) -> Self {
        Aggregator {
            dims: cfg.dimensions.clone(),
            totals: true,
            cfg,
            windows: Vec::new(),
            last: 0,
            parts: Vec::new(),
            opened: false,
            spread: Box::new(Spread {
                starts: [0; MAX_SPREAD],
                weights: [0; MAX_SPREAD],
                parts: [Counts::default(); MAX_SPREAD],
            }),
            watermark: None,
            wm_window: 0,
            flows_recorded: 0,
            late_flows: 0,
            parts_moved: 0,
            clock_ahead_flows: 0,
            sketch_fallbacks: 0,
            windows_closed: 0,
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &ValidatedAggregatorConfig {
        &self.cfg
    }

    /// Cut this (empty) aggregator into at most `n` shards by dimension, balancing an estimated
    /// cost per dimension (wide keys and many distinct keys cost more). The first shard keeps the
    /// per-exporter totals. Fewer shards come back when there are fewer dimensions than `n`.
    pub fn into_shards(self, n: usize) -> Vec<Aggregator> {
        let n = n.clamp(1, self.dims.len().max(1));
        if n == 1 {
            return vec![self];
        }
        let mut dims = self.dims.clone();
        // Longest first, each to the least loaded shard (LPT scheduling).
        dims.sort_by_key(|&d| std::cmp::Reverse(dimension_cost(d)));
        let mut load = vec![0u32; n];
        // The first shard also keeps the per-exporter totals.
        load[0] = EXPORTER_TOTALS_COST;
        let mut parts: Vec<Vec<Dimension>> = vec![Vec::new(); n];
        for d in dims {
            let i = (0..n).min_by_key(|&i| (load[i], i)).unwrap_or(0);
            load[i] += dimension_cost(d);
            parts[i].push(d);
        }
        parts
            .into_iter()
            .enumerate()
            .map(|(i, mut part)| {
                // Keep configuration order inside a shard.
                part.sort_by_key(|d| self.cfg.dimensions.iter().position(|c| c == d));
                Aggregator {
                    dims: part,
                    totals: i == 0,
                    ..Aggregator::new(self.cfg.clone())
                }
            })
            .collect()
    }

    /// The dimensions this aggregator counts.
    pub fn dimensions(&self) -> &[Dimension] {
        &self.dims
    }

    /// The open window starting at `ws`, created if needed.
    #[inline(always)]
    fn window_mut(&mut self, ws: i64) -> &mut Window {
        if self.last < self.windows.len() && self.windows[self.last].0 == ws {
            return &mut self.windows[self.last].1;
        }
        self.window_mut_slow(ws)
    }

    /// [`window_mut`](Self::window_mut) when the window is not the one used last.
    #[inline(never)]
    fn window_mut_slow(&mut self, ws: i64) -> &mut Window {
        let i = match self.windows.binary_search_by_key(&ws, |w| w.0) {
            Ok(i) => i,
            Err(i) => {
                self.windows.insert(i, (ws, Window::new(&self.dims)));
                self.opened = true;
                i
            }
        };
        self.last = i;
        &mut self.windows[i].1
    }

    /// Start of the window containing `t`. Most times fall in the watermark's window or the one
    /// before it: two comparisons instead of a 64-bit division.
    #[inline]
    fn align(&self, t: i64) -> i64 {
        let (s, w) = (self.wm_window, self.cfg.window_ms);
        if self.watermark.is_some()
            && let Some(d) = t.checked_sub(s)
        {
            if (0..w).contains(&d) {
                return s;
            }
            if (-w..0).contains(&d)
                && let Some(before) = s.checked_sub(w)
            {
                return before;
            }
        }
        align_to(t, w)
    }

    /// The oldest window start that still accepts flows.
    #[inline]
    fn floor(&self) -> Option<i64> {
        self.watermark
            .map(|_| self.wm_window.saturating_sub(self.cfg.lateness_ms))
    }

    #[inline]
    fn advance_watermark(&mut self, t: i64) {
        if self.watermark.is_none_or(|wm| t > wm) {
            self.watermark = Some(t);
            // Re-align only when the watermark left its window.
            if t.saturating_sub(self.wm_window) >= self.cfg.window_ms || t < self.wm_window {
                self.wm_window = align_to(t, self.cfg.window_ms);
            }
        }
    }

    /// Count one flow.
    pub fn record(&mut self, flow: &FlowRecord) {
        self.record_batch(std::slice::from_ref(flow));
    }

    /// Count a batch of flows, exactly as [`record`](Self::record) one by one would.
    ///
    /// Two passes: the first places every flow (or each pro-rated part of it) in its window and
    /// adds to the window's totals; the second runs one dimension at a time over the placed parts.
    /// The second pass's loop body is small and its iterations independent, so the processor
    /// overlaps the cache misses of consecutive flows in a large key table instead of waiting for
    /// each one, and only one dimension's table is hot at a time.
    pub fn record_batch(&mut self, flows: &[FlowRecord]) {
        self.parts.clear();
        self.opened = false;
        for (i, flow) in flows.iter().enumerate() {
            self.place(i, flow);
        }
        if self.opened {
            // A window opened mid-batch shifted the indices of those after it.
            for p in &mut self.parts {
                p.window = self
                    .windows
                    .binary_search_by_key(&p.start, |w| w.0)
                    .unwrap_or(0);
            }
        }
        let (max_keys, cap) = (self.cfg.max_keys_per_window, self.cfg.sketch_capacity);
        let mut fallbacks = 0u64;
        for d in 0..self.dims.len() {
            for p in &self.parts {
                let table = &mut self.windows[p.window].1.tables[d];
                fallbacks += u64::from(table.add(&flows[p.flow], &p.counts, max_keys, cap));
            }
        }
        self.sketch_fallbacks += fallbacks;
    }

    /// Place one flow of a batch: window choice, lateness, pro-rating, window totals.
    fn place(&mut self, index: usize, flow: &FlowRecord) {
        self.flows_recorded += 1;
        let w = self.cfg.window_ms;
        let keyed = match self.cfg.time_key {
            TimeKey::Start => flow.flow_start,
            TimeKey::End => flow.flow_end,
            TimeKey::Received => None,
        };
        let mut keyed = keyed;
        let mut event = keyed.unwrap_or(flow.time_received);
        if event > flow.time_received.saturating_add(w) {
            // The exporter's clock runs ahead: trust the receive time instead.
            self.clock_ahead_flows += 1;
            keyed = None;
            event = flow.time_received;
        }
        if flow.flags & flags::FAR_FROM_EXPORT_TIME == 0 {
            self.advance_watermark(event);
        }
        let floor = self.floor();
        let keyed_ws = self.align(event);
        let late = floor.is_some_and(|f| keyed_ws < f);
        let whole = Counts::of(flow);

        let spread = match (
            self.cfg.prorate,
            keyed,
            flow.flow_start,
            flow.flow_end,
            floor,
        ) {
            (true, Some(_), Some(s), Some(e), Some(f)) if e > s => Some((s, e, f)),
            _ => None,
        };
        if let Some((start, end, floor)) = spread
            && start >= floor
            && self.align(start) == self.align(end - 1)
        {
            // Inside one window (the common case): no split buffers needed.
            self.add_to_window(self.align(start), index, flow, &whole);
        } else if let Some((start, end, floor)) = spread {
            // Scratch kept in the aggregator: clearing three arrays of MAX_SPREAD entries per
            // spread flow cost more than the rest of its placement.
            let sp = &mut *self.spread;
            let (n, moved) = segments(start, end, w, floor, &mut sp.starts, &mut sp.weights);
            split(&whole, &sp.weights[..n], &mut sp.parts);
            if moved && !late {
                self.parts_moved += 1;
            }
            for i in 0..n {
                let (ws, part) = (self.spread.starts[i], self.spread.parts[i]);
                if !part.is_zero() {
                    self.add_to_window(ws, index, flow, &part);
                }
            }
        } else {
            let target = match floor {
                Some(f) if late => f,
                _ => keyed_ws,
            };
            self.add_to_window(target, index, flow, &whole);
        }
        if late {
            self.late_flows += 1;
            if let Some(f) = floor {
                let totals = self.totals;
                let win = self.window_mut(f);
                if totals {
                    let e = win.exporter_mut(u128::from(flow.exporter));
                    e.late_flows += 1;
                }
            }
        }
    }

    /// Add `c` of flow `index` of the batch to window `ws`'s totals, and note the part for the
    /// dimension pass.
    #[inline]
    fn add_to_window(&mut self, ws: i64, index: usize, flow: &FlowRecord, c: &Counts) {
        let totals = self.totals;
        let win = self.window_mut(ws);
        win.total.add(c);
        if totals {
            let e = win.exporter_mut(u128::from(flow.exporter));
            e.counts.add(c);
        }
        self.parts.push(Part {
            start: ws,
            window: self.last,
            flow: index,
            counts: *c,
        });
    }

    /// Move the watermark to at least `now_ms` and emit every window that is now closed (see the
    /// module docs), oldest first, one [`Output::Windows`] per window.
    pub fn flush_into(&mut self, out: &mut Vec<Output>, now_ms: i64) {
        self.advance_watermark(now_ms);
        let Some(floor) = self.floor() else { return };
        let n = self.windows.partition_point(|w| w.0 < floor);
        if n == 0 {
            return;
        }
        let closed: Vec<(i64, Window)> = self.windows.drain(..n).collect();
        self.last = 0;
        for (start, win) in closed {
            self.emit(start, win, out);
        }
    }

    /// Emit every open window, oldest first (for shutdown).
    pub fn flush_all(&mut self, out: &mut Vec<Output>) {
        self.last = 0;
        for (start, win) in std::mem::take(&mut self.windows) {
            self.emit(start, win, out);
        }
    }

    fn emit(&mut self, start: i64, win: Window, out: &mut Vec<Output>) {
        self.windows_closed += 1;
        let mut exporters = win.exporters;
        exporters.sort_unstable_by_key(|e| e.0);
        let totals: Vec<WindowTotalsRow> = exporters
            .iter()
            .map(|(addr, t)| WindowTotalsRow {
                window_start: start,
                window_secs: self.cfg.window_secs,
                exporter: Ipv6Addr::from(*addr),
                bytes: t.counts.bytes,
                packets: t.counts.packets,
                flows: t.counts.flows,
                bytes_unscaled: t.counts.bytes_unscaled,
                packets_unscaled: t.counts.packets_unscaled,
                late_flows: t.late_flows,
            })
            .collect();
        let ctx = EmitCtx {
            window_start: start,
            window_secs: self.cfg.window_secs,
            top_n: self.cfg.top_n,
            total: win.total,
        };
        let mut top = Vec::with_capacity(win.tables.len() * (self.cfg.top_n + 1));
        for table in win.tables {
            table.emit(&ctx, &mut top);
        }
        out.push(Output::Windows { top, totals });
    }

    /// Current counters.
    pub fn stats(&self) -> AggregatorStats {
        let mut keys = [0u64; Dimension::ALL.len()];
        for (_, win) in &self.windows {
            for table in &win.tables {
                keys[table.dimension() as usize] += table.len() as u64;
            }
        }
        AggregatorStats {
            flows_recorded: self.flows_recorded,
            late_flows: self.late_flows,
            parts_moved: self.parts_moved,
            clock_ahead_flows: self.clock_ahead_flows,
            sketch_fallbacks: self.sketch_fallbacks,
            windows_closed: self.windows_closed,
            windows_open: self.windows.len() as u64,
            keys_per_dimension: keys,
            watermark_ms: self.watermark,
        }
    }
}

/// Relative cost of the per-exporter totals, on the scale of [`dimension_cost`].
const EXPORTER_TOTALS_COST: u32 = 1;

/// Relative cost of counting one flow in `dim`, for balancing shards: the width of the key and how
/// many distinct keys a busy window holds (cache misses), measured with the aggregate bench.
fn dimension_cost(dim: Dimension) -> u32 {
    match dim {
        Dimension::Conversation => 4,
        Dimension::SrcAddr | Dimension::DstAddr => 3,
        Dimension::InIf | Dimension::OutIf | Dimension::App => 2,
        Dimension::Protocol | Dimension::SrcAs | Dimension::DstAs => 1,
        Dimension::SrcCountry
        | Dimension::DstCountry
        | Dimension::SrcNet
        | Dimension::DstNet
        | Dimension::InIfProvider
        | Dimension::OutIfProvider => 1,
    }
}

/// Start of the window of length `w` containing `t` (saturating at the ends of the i64 range, so
/// absurd wire times cannot overflow).
#[inline]
fn align_to(t: i64, w: i64) -> i64 {
    t.div_euclid(w).saturating_mul(w)
}

/// Cut `[start, end)` (end > start) into per-window weights, windows below `floor` merged into the
/// floor window and anything past the `MAX_SPREAD`-th window merged into it. Returns the number of
/// segments and whether any time was moved.
fn segments(
    start: i64,
    end: i64,
    w: i64,
    floor: i64,
    starts: &mut [i64; MAX_SPREAD],
    weights: &mut [u64; MAX_SPREAD],
) -> (usize, bool) {
    let align = |t: i64| align_to(t, w);
    let mut n = 0;
    let mut moved = false;
    let mut cursor = start;
    // The part below the floor, if any, lumps into the floor window.
    if start < floor {
        let upto = end.min(floor.saturating_add(w));
        starts[0] = floor;
        weights[0] = upto.abs_diff(start);
        n = 1;
        cursor = upto;
        moved = true;
    }
    while cursor < end {
        let ws = align(cursor);
        let we = ws.saturating_add(w);
        if n == MAX_SPREAD {
            // Cap reached: the rest goes to the last segment.
            weights[n - 1] += end.abs_diff(cursor);
            moved = true;
            break;
        }
        let upto = end.min(we);
        starts[n] = ws;
        weights[n] = upto.abs_diff(cursor);
        n += 1;
        cursor = upto;
    }
    (n, moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_cover_every_millisecond_of_the_flow() {
        let mut s = [0; MAX_SPREAD];
        let mut wt = [0; MAX_SPREAD];
        let (n, moved) = segments(30_000, 150_000, 60_000, 0, &mut s, &mut wt);
        assert!(!moved);
        assert_eq!(&s[..n], &[0, 60_000, 120_000]);
        assert_eq!(&wt[..n], &[30_000, 60_000, 30_000]);
    }

    #[test]
    fn segments_merge_the_part_below_the_floor_into_the_floor_window() {
        let mut s = [0; MAX_SPREAD];
        let mut wt = [0; MAX_SPREAD];
        let (n, moved) = segments(10_000, 200_000, 60_000, 120_000, &mut s, &mut wt);
        assert!(moved);
        assert_eq!(&s[..n], &[120_000, 180_000]);
        assert_eq!(&wt[..n], &[170_000, 20_000]);
        // Entirely below the floor: one segment at the floor.
        let (n, _) = segments(10_000, 20_000, 60_000, 120_000, &mut s, &mut wt);
        assert_eq!((&s[..n], &wt[..n]), (&[120_000][..], &[10_000][..]));
    }

    proptest::proptest! {
        #[test]
        fn the_watermark_shortcut_aligns_like_the_division(
            marks in proptest::collection::vec(proptest::num::i64::ANY, 1..6),
            near in proptest::collection::vec(-200_000i64..200_000, 1..20),
            far in proptest::num::i64::ANY,
        ) {
            let mut a = Aggregator::new(crate::AggregatorConfig::default().validate().unwrap());
            let w = a.cfg.window_ms;
            for m in marks {
                a.advance_watermark(m);
                let wm = a.watermark.unwrap();
                proptest::prop_assert_eq!(a.wm_window, align_to(wm, w));
                for d in &near {
                    let t = wm.saturating_add(*d);
                    proptest::prop_assert_eq!(a.align(t), align_to(t, w), "wm {} t {}", wm, t);
                }
                proptest::prop_assert_eq!(a.align(far), align_to(far, w));
            }
        }
    }

    #[test]
    fn segments_cap_very_long_flows() {
        let mut s = [0; MAX_SPREAD];
        let mut wt = [0; MAX_SPREAD];
        let end = 1_000 * 60_000;
        let (n, moved) = segments(0, end, 60_000, 0, &mut s, &mut wt);
        assert!(moved);
        assert_eq!(n, MAX_SPREAD);
        assert_eq!(wt[..n].iter().sum::<u64>(), end as u64);
    }
}
