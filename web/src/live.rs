//! The live feed: each window the in-collector aggregator closes, summed and ranked, as JSON for
//! `GET /api/v1/live` (Server-Sent Events), with no ClickHouse round trip.
//!
//! Owns: [`LiveHub`] (a broadcast of serialized windows, plus the last [`KEEP_WINDOWS`] for a
//! client that connects later), and [`summarize`], which turns the aggregator's rows of one window
//! into a [`LiveWindow`]: totals over every exporter, rates, and the top N of each dimension with
//! its "other" row, keys as text and labels from enrichment. Under `sluice web`, which has no
//! aggregator, [`poll_stored`] feeds the hub from the windows the collector stored in ClickHouse.
//! Must never: block the pipeline (a publish serializes once and never waits on a slow client; a
//! lagging client skips windows).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aggregator::{Dimension, Key, WindowTopRow, WindowTotalsRow};
use report::explore::Amounts;
use report::live::{StoredTop, StoredTotals};
use report::names::{addr_display, addr_from_hex, protocol_name, service_name};
use serde::Serialize;
use tokio::sync::broadcast;

/// Windows kept for clients that connect later.
pub const KEEP_WINDOWS: usize = 120;

/// One key of one dimension in a live window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveRow {
    /// The key as text (address, `tcp/443`, AS number, ifIndex, country code...).
    pub key: String,
    /// A human name where one is known.
    pub label: Option<String>,
    /// The exporter, for interface dimensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exporter: Option<String>,
    /// Amounts in the window.
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// The ranked keys of one dimension.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveDimension {
    /// Top N by scaled bytes.
    pub rows: Vec<LiveRow>,
    /// The window total minus the rows shown.
    pub other: Amounts,
}

/// Per-second rates of a window.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Rates {
    /// Bits per second.
    pub bps: f64,
    /// Packets per second.
    pub pps: f64,
    /// Flow records per second.
    pub fps: f64,
}

/// One closed window, as the live feed sends it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LiveWindow {
    /// Window start, Unix seconds.
    pub window_start: i64,
    /// Length, seconds.
    pub window_secs: u32,
    /// Sums over every exporter.
    pub total: Amounts,
    /// `total` per second.
    pub rates: Rates,
    /// Exporters that sent flows in the window.
    pub exporters: usize,
    /// Top N per dimension (the dimensions the aggregator ranks).
    pub dimensions: BTreeMap<&'static str, LiveDimension>,
}

/// Names for enrichment ids and AS numbers.
pub trait Names: Send + Sync {
    /// The label of an enrichment dimension's id (network name, provider), or of an AS.
    fn label(&self, dim: Dimension, num: u32) -> Option<String>;
}

impl Names for enrich::Registry {
    fn label(&self, dim: Dimension, num: u32) -> Option<String> {
        let s = match dim {
            Dimension::SrcNet | Dimension::DstNet => self.tables().net_name(num).to_string(),
            Dimension::InIfProvider | Dimension::OutIfProvider => {
                self.tables().provider(num).to_string()
            }
            Dimension::SrcAs | Dimension::DstAs => self.as_name(num)?.to_string(),
            _ => return None,
        };
        (!s.is_empty()).then_some(s)
    }
}

/// The key text and label of one aggregator row.
fn key_of(r: &WindowTopRow, names: Option<&dyn Names>) -> (String, Option<String>) {
    let k = &r.key;
    let named = |d| names.and_then(|n| n.label(d, k.num));
    match r.dimension {
        Dimension::SrcAddr | Dimension::DstAddr => (addr_display(k.addr_a), None),
        Dimension::Conversation => (
            format!("{} -> {}", addr_display(k.addr_a), addr_display(k.addr_b)),
            None,
        ),
        Dimension::App => {
            let p = protocol_name(k.proto).map_or_else(|| k.proto.to_string(), str::to_lowercase);
            (
                format!("{p}/{}", k.num),
                u16::try_from(k.num)
                    .ok()
                    .and_then(|port| service_name(k.proto, port))
                    .map(str::to_string),
            )
        }
        Dimension::Protocol => (
            protocol_name(k.proto).map_or_else(|| k.proto.to_string(), str::to_lowercase),
            protocol_name(k.proto).map(str::to_string),
        ),
        Dimension::InIf | Dimension::OutIf => (k.num.to_string(), None),
        Dimension::SrcAs | Dimension::DstAs => (k.num.to_string(), named(r.dimension)),
        Dimension::SrcCountry | Dimension::DstCountry => {
            let [_, _, a, b] = k.num.to_be_bytes();
            (
                collector::Enrichment::country_str(&[a, b]).to_string(),
                None,
            )
        }
        Dimension::SrcNet
        | Dimension::DstNet
        | Dimension::InIfProvider
        | Dimension::OutIfProvider => {
            let label = named(r.dimension);
            (label.clone().unwrap_or_default(), label)
        }
    }
}

fn window_mut(
    w: &mut BTreeMap<(i64, u32), LiveWindow>,
    start_ms: i64,
    secs: u32,
) -> &mut LiveWindow {
    w.entry((start_ms, secs))
        .or_insert_with(|| LiveWindow::empty(start_ms.div_euclid(1000), secs))
}

impl LiveWindow {
    /// A window with nothing counted yet.
    fn empty(window_start: i64, window_secs: u32) -> LiveWindow {
        LiveWindow {
            window_start,
            window_secs,
            total: Amounts::default(),
            rates: Rates {
                bps: 0.0,
                pps: 0.0,
                fps: 0.0,
            },
            exporters: 0,
            dimensions: BTreeMap::new(),
        }
    }
}

fn amounts(bytes: u64, packets: u64, flows: u64) -> Amounts {
    Amounts {
        bytes,
        packets,
        flows,
    }
}

/// The windows in one batch of aggregator output, summarized (oldest first).
pub fn summarize(
    top: &[WindowTopRow],
    totals: &[WindowTotalsRow],
    keep_top: usize,
    names: Option<&dyn Names>,
) -> Vec<LiveWindow> {
    let mut windows: BTreeMap<(i64, u32), LiveWindow> = BTreeMap::new();
    for t in totals {
        let w = window_mut(&mut windows, t.window_start, t.window_secs);
        w.total = w.total.plus(amounts(t.bytes, t.packets, t.flows));
        if t.flows > 0 {
            w.exporters += 1;
        }
    }
    let mut rows: Vec<&WindowTopRow> = top.iter().collect();
    rows.sort_by_key(|r| {
        (
            r.window_start,
            r.window_secs,
            r.dimension,
            r.is_other,
            r.rank_bytes,
        )
    });
    for r in rows {
        let w = window_mut(&mut windows, r.window_start, r.window_secs);
        let d = w
            .dimensions
            .entry(r.dimension.as_str())
            .or_insert_with(|| LiveDimension {
                rows: Vec::new(),
                other: Amounts::default(),
            });
        let a = amounts(r.bytes, r.packets, r.flows);
        if r.is_other || d.rows.len() >= keep_top {
            // The aggregator's "other", and keys ranked beyond what the feed shows.
            d.other = d.other.plus(a);
        } else {
            let (key, label) = key_of(r, names);
            let exporter = matches!(r.dimension, Dimension::InIf | Dimension::OutIf)
                .then(|| addr_display(r.key.exporter));
            d.rows.push(LiveRow {
                key,
                label,
                exporter,
                amounts: a,
            });
        }
    }
    windows
        .into_values()
        .map(|mut w| {
            let secs = f64::from(w.window_secs.max(1));
            w.rates = Rates {
                bps: w.total.bytes as f64 * 8.0 / secs,
                pps: w.total.packets as f64 / secs,
                fps: w.total.flows as f64 / secs,
            };
            w
        })
        .collect()
}

/// Where closed windows go for the live feed's clients.
pub struct LiveHub {
    tx: broadcast::Sender<Arc<str>>,
    /// The kept windows. Publishing and subscribing both hold this lock, so a subscriber gets
    /// each window once: kept before it subscribed, or received after.
    recent: Mutex<VecDeque<Arc<str>>>,
    keep_top: usize,
    names: Option<Arc<dyn Names>>,
    dimensions: Mutex<Vec<Dimension>>,
}

impl LiveHub {
    /// A hub ranking `keep_top` keys per dimension, with labels from `names` when given;
    /// `dimensions` are the ones the aggregator counts (what `/api/v1/dimensions` says is live).
    pub fn new(
        keep_top: usize,
        names: Option<Arc<dyn Names>>,
        dimensions: &[Dimension],
    ) -> Arc<LiveHub> {
        let (tx, _) = broadcast::channel(256);
        Arc::new(LiveHub {
            tx,
            recent: Mutex::new(VecDeque::with_capacity(KEEP_WINDOWS)),
            keep_top,
            names,
            dimensions: Mutex::new(dimensions.to_vec()),
        })
    }

    /// The dimensions the collector ranks, in configuration order (under `sluice web`: the ones
    /// its stored windows hold).
    pub fn dimensions(&self) -> Vec<Dimension> {
        self.dimensions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Publish windows of `window_secs` read back from ClickHouse, labelled by what was stored
    /// with them.
    pub fn publish_stored(&self, window_secs: u32, totals: &[StoredTotals], top: &[StoredTop]) {
        let (top, totals, names) = from_stored(window_secs, totals, top);
        let mut dims: Vec<Dimension> = Vec::new();
        for r in &top {
            if !dims.contains(&r.dimension) {
                dims.push(r.dimension);
            }
        }
        if !dims.is_empty() {
            dims.sort_by_key(|d| Dimension::ALL.iter().position(|a| a == d));
            *self.dimensions.lock().unwrap_or_else(|p| p.into_inner()) = dims;
        }
        for w in summarize(&top, &totals, self.keep_top, Some(&names)) {
            self.publish_window(&w);
        }
    }

    /// Publish the windows of one batch of aggregator output.
    pub fn publish(&self, top: &[WindowTopRow], totals: &[WindowTotalsRow]) {
        for w in summarize(top, totals, self.keep_top, self.names.as_deref()) {
            self.publish_window(&w);
        }
    }

    /// Publish one summarized window.
    pub fn publish_window(&self, w: &LiveWindow) {
        let Ok(json) = serde_json::to_string(w) else {
            return;
        };
        let json: Arc<str> = json.into();
        let mut r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if r.len() == KEEP_WINDOWS {
            r.pop_front();
        }
        r.push_back(json.clone());
        // No receiver is not an error: nobody is watching. Sent under the lock (a send never
        // waits), so `subscribe` sees this window either kept or coming, never both.
        let _ = self.tx.send(json);
    }

    /// The windows kept so far (oldest first) and a receiver of the next ones.
    pub fn subscribe(&self) -> (Vec<Arc<str>>, broadcast::Receiver<Arc<str>>) {
        let r = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        (r.iter().cloned().collect(), self.tx.subscribe())
    }
}

/// Labels read back with stored rows: the `label` column of `window_top`.
struct StoredNames(HashMap<(Dimension, u32), String>);

impl Names for StoredNames {
    fn label(&self, dim: Dimension, num: u32) -> Option<String> {
        self.0.get(&(dim, num)).cloned()
    }
}

/// Stored rows of windows of `window_secs` as the aggregator emitted them (times in ms; the
/// amounts and ranks the feed does not show are 0), and their non-empty labels. Rows of a
/// dimension this build does not know, or with an unreadable address, are left out.
fn from_stored(
    window_secs: u32,
    totals: &[StoredTotals],
    top: &[StoredTop],
) -> (Vec<WindowTopRow>, Vec<WindowTotalsRow>, StoredNames) {
    let totals = totals
        .iter()
        .filter_map(|t| {
            Some(WindowTotalsRow {
                window_start: i64::from(t.start) * 1000,
                window_secs,
                exporter: addr_from_hex(&t.exporter)?,
                bytes: t.bytes,
                packets: t.packets,
                flows: t.flows,
                bytes_unscaled: 0,
                packets_unscaled: 0,
                late_flows: 0,
            })
        })
        .collect();
    let mut names = HashMap::new();
    let top = top
        .iter()
        .filter_map(|r| {
            let dimension = *Dimension::ALL.iter().find(|d| d.as_str() == r.dimension)?;
            if r.is_other == 0 && !r.label.is_empty() {
                names.insert((dimension, r.num), r.label.clone());
            }
            Some(WindowTopRow {
                window_start: i64::from(r.start) * 1000,
                window_secs,
                dimension,
                key: Key {
                    addr_a: addr_from_hex(&r.addr_a)?,
                    addr_b: addr_from_hex(&r.addr_b)?,
                    exporter: addr_from_hex(&r.exporter)?,
                    num: r.num,
                    proto: r.proto,
                },
                is_other: r.is_other != 0,
                rank_bytes: r.rank_bytes,
                rank_packets: 0,
                rank_flows: 0,
                bytes: r.bytes,
                packets: r.packets,
                flows: r.flows,
                bytes_unscaled: 0,
                packets_unscaled: 0,
                max_error: 0,
            })
        })
        .collect();
    (top, totals, StoredNames(names))
}

/// How often [`poll_stored`] looks for new windows.
pub const POLL_SECS: u64 = 5;

/// The live feed of `sluice web`: every [`POLL_SECS`], the windows the collector stored since
/// the last look, newest length only, are published to `hub` (at the start, the last
/// [`KEEP_WINDOWS`]). A window is published once a newer one is stored, or once two looks in a
/// row found the same rows for it (a window's rows may arrive in several inserts). Runs until the
/// task is dropped; a failed look is logged and tried again.
pub async fn poll_stored(hub: Arc<LiveHub>, client: report::Client) {
    let mut poller = Poller::default();
    let mut tick = tokio::time::interval(Duration::from_secs(POLL_SECS));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        tick.tick().await;
        match poller.look(&hub, &client).await {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                failing = true;
                tracing::warn!(error = %e, "live feed: reading the stored windows failed");
            }
            Err(_) => {}
        }
    }
}

/// What [`poll_stored`] has published so far.
#[derive(Default)]
struct Poller {
    /// Window length and start of the last window published.
    published: Option<(u32, u32)>,
    /// The newest window seen but not published: length, start and row counts (totals, top).
    pending: Option<(u32, u32, usize, usize)>,
}

impl Poller {
    async fn look(
        &mut self,
        hub: &LiveHub,
        client: &report::Client,
    ) -> Result<(), report::ReportError> {
        let Some(n) = report::live::newest(client).await? else {
            return Ok(());
        };
        let after = match self.published {
            Some((secs, start)) if secs == n.window_secs => start,
            _ => n
                .newest
                .saturating_sub(n.window_secs.saturating_mul(KEEP_WINDOWS as u32)),
        };
        if n.newest <= after {
            return Ok(());
        }
        let (totals, top) = report::live::windows(client, n.window_secs, after, n.newest).await?;
        let newest = |start: u32| start == n.newest;
        let counts = (
            totals.iter().filter(|t| newest(t.start)).count(),
            top.iter().filter(|t| newest(t.start)).count(),
        );
        let seen = Some((n.window_secs, n.newest, counts.0, counts.1));
        let settled = self.pending == seen;
        let upto = if settled { n.newest } else { n.newest - 1 };
        let totals: Vec<StoredTotals> = totals.into_iter().filter(|t| t.start <= upto).collect();
        let top: Vec<StoredTop> = top.into_iter().filter(|t| t.start <= upto).collect();
        if let Some(last) = totals.iter().map(|t| t.start).max() {
            hub.publish_stored(n.window_secs, &totals, &top);
            self.published = Some((n.window_secs, last));
        }
        self.pending = if settled { None } else { seen };
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv6Addr;

    use aggregator::Key;

    use super::*;

    fn row(dim: Dimension, rank: u32, a: Ipv6Addr, bytes: u64, other: bool) -> WindowTopRow {
        WindowTopRow {
            window_start: 60_000,
            window_secs: 60,
            dimension: dim,
            key: Key {
                addr_a: a,
                proto: 6,
                num: 443,
                ..Key::default()
            },
            is_other: other,
            rank_bytes: rank,
            rank_packets: rank,
            rank_flows: rank,
            bytes,
            packets: bytes / 100,
            flows: 1,
            bytes_unscaled: bytes,
            packets_unscaled: bytes / 100,
            max_error: 0,
        }
    }

    #[test]
    fn windows_sum_exporters_rank_keys_and_fold_the_rest_into_other() {
        let a = Ipv4Addr::new(10, 0, 0, 1).to_ipv6_mapped();
        let b = Ipv4Addr::new(10, 0, 0, 2).to_ipv6_mapped();
        let top = vec![
            row(Dimension::SrcAddr, 2, b, 600, false),
            row(Dimension::SrcAddr, 1, a, 1000, false),
            row(Dimension::SrcAddr, 0, Ipv6Addr::UNSPECIFIED, 400, true),
            row(Dimension::App, 1, a, 2000, false),
        ];
        let tot = |e: u8, bytes| WindowTotalsRow {
            window_start: 60_000,
            window_secs: 60,
            exporter: Ipv4Addr::new(192, 0, 2, e).to_ipv6_mapped(),
            bytes,
            packets: 10,
            flows: 2,
            bytes_unscaled: bytes,
            packets_unscaled: 10,
            late_flows: 0,
        };
        let w = summarize(&top, &[tot(1, 1500), tot(2, 500)], 1, None);
        assert_eq!(w.len(), 1);
        let w = &w[0];
        assert_eq!((w.window_start, w.window_secs, w.exporters), (60, 60, 2));
        assert_eq!(w.total.bytes, 2000);
        assert_eq!(w.rates.bps, 2000.0 * 8.0 / 60.0);
        let src = &w.dimensions["src_addr"];
        assert_eq!(src.rows.len(), 1);
        assert_eq!(src.rows[0].key, "10.0.0.1");
        // The second key is beyond the feed's top 1: it joins "other".
        assert_eq!(src.other.bytes, 1000);
        let app = &w.dimensions["app"];
        assert_eq!(app.rows[0].key, "tcp/443");
        assert_eq!(app.rows[0].label.as_deref(), Some("https"));
    }

    use std::net::Ipv4Addr;

    #[test]
    fn late_subscribers_get_the_kept_windows_then_new_ones() {
        let hub = LiveHub::new(5, None, &Dimension::ALL);
        for i in 0..(KEEP_WINDOWS as i64 + 3) {
            hub.publish_window(&LiveWindow::empty(i, 1));
        }
        let (recent, mut rx) = hub.subscribe();
        assert_eq!(recent.len(), KEEP_WINDOWS);
        assert!(recent[0].contains("\"window_start\":3,"));
        hub.publish(&[], &[]);
        assert!(rx.try_recv().is_err(), "an empty batch publishes nothing");
    }
}
