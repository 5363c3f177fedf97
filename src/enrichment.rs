//! `sluice run`'s enrichment wiring: the [`Enricher`] built from `[enrich]` at start, its reloads
//! (SIGHUP, or a GeoIP file that changed on disk), and the `interfaces` and `as_names` tables.
//!
//! Owns: when a reload happens and what is logged and counted about it; which interface rows are
//! written and when. The lookups themselves are the `enrich` crate's ([`enrich::Stage`] runs on
//! each receive worker, see `run.rs`).
//! Must never: stop the collector because a reload failed (the old snapshot stays, the failure is
//! logged and counted), or block a receive thread.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use enrich::{EnrichConfig, Enricher, InterfaceEntry};

use crate::config::Config;

/// How often the GeoIP files are checked for a change.
const FILE_CHECK: Duration = Duration::from_secs(10);
/// An unchanged interface row is written again after this long, so `last_seen` stays recent.
const INTERFACE_REFRESH: Duration = Duration::from_secs(3600);

/// Opens the databases and builds the first snapshot; a missing or corrupt file is an error here.
pub fn start(cfg: &EnrichConfig) -> anyhow::Result<Arc<Enricher>> {
    let e = Enricher::from_config(cfg).context("enrich")?;
    let snap = e.snapshot();
    tracing::info!(
        networks = snap.networks().ranges(),
        interfaces = snap.interfaces().len(),
        geoip_country = ?snap.geoip().country_layout(),
        geoip_asn = ?snap.geoip().asn_layout(),
        as_source = ?snap.as_source(),
        "enrichment on"
    );
    Ok(Arc::new(e))
}

/// The size and modification time of a file, to notice a replaced database.
fn stamp(path: &Path) -> Option<(u64, SystemTime)> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()?))
}

fn stamps(cfg: &EnrichConfig) -> Vec<Option<(u64, SystemTime)>> {
    [&cfg.geoip_country, &cfg.geoip_asn]
        .into_iter()
        .map(|p| p.as_deref().and_then(stamp))
        .collect()
}

/// Rebuilds the snapshot from `cfg` (on the blocking pool: opening a large GeoIP database reads
/// and indexes it), logging and counting the outcome. True when it was swapped.
async fn reload(enricher: &Arc<Enricher>, cfg: &EnrichConfig, why: &str) -> bool {
    let (e, c) = (Arc::clone(enricher), cfg.clone());
    let outcome = match tokio::task::spawn_blocking(move || e.reload(&c)).await {
        Ok(r) => r.map_err(|e| e.to_string()),
        Err(e) => Err(format!("the reload task failed: {e}")),
    };
    match outcome {
        Ok(()) => {
            metrics::counter!("sluice_enrich_reloads_total", "outcome" => "ok").increment(1);
            tracing::info!(reason = why, "enrichment reloaded");
            true
        }
        Err(e) => {
            metrics::counter!("sluice_enrich_reloads_total", "outcome" => "error").increment(1);
            tracing::error!(
                reason = why,
                "enrichment reload failed, the previous data stays: {e}"
            );
            false
        }
    }
}

/// The `[enrich]` section of the config file as it is now.
fn read_section(path: &Path) -> anyhow::Result<EnrichConfig> {
    let cfg = Config::load(path).map_err(|p| anyhow::anyhow!("{}: {p}", path.display()))?;
    cfg.enrich.ok_or_else(|| {
        anyhow::anyhow!(
            "{}: the [enrich] section is gone; enrichment stays as it was until a restart",
            path.display()
        )
    })
}

/// Reloads on SIGHUP (re-reading the config file's `[enrich]` section) and when a GeoIP file
/// changes on disk. Runs until aborted.
pub async fn reload_loop(enricher: Arc<Enricher>, mut cfg: EnrichConfig, path: Option<PathBuf>) {
    #[cfg(unix)]
    let mut hup = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(s) => Some(s),
        Err(e) => {
            tracing::warn!("cannot watch SIGHUP, enrichment reloads only on file changes: {e}");
            None
        }
    };
    let mut seen = stamps(&cfg);
    let mut tick = tokio::time::interval(FILE_CHECK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        #[cfg(unix)]
        let hangup = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hangup = std::future::pending::<Option<()>>();
        tokio::select! {
            _ = hangup => {
                tracing::info!("SIGHUP received: reloading enrichment");
                let next = match &path {
                    Some(p) => match read_section(p) {
                        Ok(c) => c,
                        Err(e) => {
                            metrics::counter!("sluice_enrich_reloads_total", "outcome" => "error")
                                .increment(1);
                            tracing::error!("enrichment reload: {e:#}");
                            continue;
                        }
                    },
                    None => cfg.clone(),
                };
                if reload(&enricher, &next, "SIGHUP").await {
                    cfg = next;
                }
                seen = stamps(&cfg);
            }
            _ = tick.tick() => {
                let now = stamps(&cfg);
                if now != seen {
                    // A file being replaced may be caught half-written: the reload then fails
                    // (verify), the old data stays, and the next check tries again.
                    if reload(&enricher, &cfg, "a GeoIP file changed").await {
                        seen = now;
                    }
                }
            }
        }
    }
}

/// Starts the SNMP interface poller (`[enrich.snmp]`) on its own task: it polls the exporters
/// `exporters` names (those the collector has seen) and hands each result to the enricher.
/// Returns the task and the sender that stops it.
pub fn spawn_snmp(
    enricher: Arc<Enricher>,
    cfg: &enrich::SnmpConfig,
    exporters: impl Fn() -> Vec<std::net::IpAddr> + Send + Sync + 'static,
) -> anyhow::Result<(
    tokio::task::JoinHandle<()>,
    tokio::sync::watch::Sender<bool>,
)> {
    let poller = enrich::Poller::new(cfg).map_err(|e| anyhow::anyhow!("enrich.snmp: {e}"))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let on_result = move |ip: std::net::IpAddr, polled: &[enrich::PolledInterface]| {
        let learned: Vec<enrich::LearnedInterface> = polled
            .iter()
            .map(|p| enrich::LearnedInterface {
                if_index: p.if_index,
                name: p.name.clone(),
                description: p.description.clone(),
                speed_mbps: p.speed_mbps,
                source: enrich::InterfaceSource::Snmp,
            })
            .collect();
        let changed = enricher.learn_interfaces(collector::record::to_v6(ip), &learned);
        if changed > 0 {
            tracing::info!(exporter = %ip, changed, "interface names learned over SNMP");
        }
    };
    tracing::info!(
        interval_secs = cfg.interval_secs,
        "SNMP interface poller on"
    );
    let task = tokio::spawn(poller.run(exporters, on_result, stop_rx));
    Ok((task, stop_tx))
}

/// Hands interface names learned from options data to the enricher. `scopes` are a decoder's;
/// returns how many entries changed.
pub fn learn_from_options(enricher: &Enricher, scopes: &[collector::decoder::ScopeInfo]) -> usize {
    let mut by_exporter: HashMap<Ipv6Addr, Vec<enrich::LearnedInterface>> = HashMap::new();
    for s in scopes {
        for i in &s.interfaces {
            let text = |t: &str| (!t.is_empty()).then(|| t.to_string());
            by_exporter
                .entry(s.exporter)
                .or_default()
                .push(enrich::LearnedInterface {
                    if_index: i.index,
                    name: text(&i.name),
                    description: text(&i.description),
                    speed_mbps: None,
                    source: enrich::InterfaceSource::OptionsData,
                });
        }
    }
    by_exporter
        .iter()
        .map(|(e, l)| enricher.learn_interfaces(*e, l))
        .sum()
}

/// What the `interfaces` and `as_names` tables were last given, so each write sends only news.
#[derive(Default)]
pub struct InventoryTables {
    interfaces: HashMap<(Ipv6Addr, u32), (InterfaceEntry, std::time::Instant)>,
    as_names: std::collections::HashSet<u32>,
}

impl InventoryTables {
    /// Writes the `interfaces` table (every known interface once, then whatever changed, and
    /// each again after [`INTERFACE_REFRESH`]) and the `as_names` table (each AS name the ASN
    /// database gave, once per run). A failed write is counted, logged and tried at the next
    /// call.
    pub async fn write(&mut self, client: &schema::Client, enricher: &Enricher) {
        let snap = enricher.snapshot_arc();
        let now = std::time::Instant::now();
        let last_seen =
            (aggregator::shell::system_now_ms() / 1000).clamp(0, i64::from(u32::MAX)) as u32;
        let mut rows = Vec::new();
        let mut keys = Vec::new();
        for (key, info) in snap.interfaces().iter() {
            let entry = InterfaceEntry::of(info);
            let fresh = self
                .interfaces
                .get(&key)
                .is_some_and(|(e, at)| *e == entry && now.duration_since(*at) < INTERFACE_REFRESH);
            if fresh {
                continue;
            }
            rows.push(schema::rows::InterfaceRow {
                exporter: key.0,
                ifindex: key.1,
                name: entry.name.to_string(),
                description: entry.description.to_string(),
                speed: entry.speed_mbps.saturating_mul(1_000_000),
                last_seen,
                boundary: entry.boundary_str().to_string(),
                provider: entry.provider.to_string(),
                connectivity: entry.connectivity_str().to_string(),
                source: info.source.as_str().to_string(),
            });
            keys.push((key, entry));
        }
        metrics::gauge!("sluice_enrich_interfaces").set(snap.interfaces().len() as f64);
        metrics::gauge!("sluice_enrich_as_names").set(enricher.registry().as_names_len() as f64);
        let names: Vec<schema::rows::AsNameRow> = enricher
            .registry()
            .as_names()
            .into_iter()
            .filter(|(asn, _)| !self.as_names.contains(asn))
            .map(|(asn, name)| schema::rows::AsNameRow {
                asn,
                name: name.to_string(),
                last_seen,
            })
            .collect();
        if !names.is_empty() {
            match schema::writer::insert_as_names(client, &names).await {
                Ok(()) => self.as_names.extend(names.iter().map(|n| n.asn)),
                Err(e) => {
                    metrics::counter!("sluice_enrich_table_write_errors_total").increment(1);
                    tracing::warn!(rows = names.len(), "writing the as_names table: {e}");
                }
            }
        }
        if rows.is_empty() {
            return;
        }
        match schema::writer::insert_interfaces(client, &rows).await {
            Ok(()) => {
                for (k, e) in keys {
                    self.interfaces.insert(k, (e, now));
                }
            }
            Err(e) => {
                metrics::counter!("sluice_enrich_table_write_errors_total").increment(1);
                tracing::warn!(rows = rows.len(), "writing the interfaces table: {e}");
            }
        }
    }
}

/// [`InventoryTables::write`] every `every` (at least a second), and once more when `stop`
/// changes.
pub async fn inventory_tables_loop(
    client: schema::Client,
    enricher: Arc<Enricher>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tables = InventoryTables::default();
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => tables.write(&client, &enricher).await,
            // Stopping (or the sender gone): one last write of what changed since the previous
            // one, so names learned at the end are in the tables too.
            _ = stop.changed() => {
                tables.write(&client, &enricher).await;
                return;
            }
        }
    }
}
