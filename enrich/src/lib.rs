//! Flow enrichment: what sluice adds to a flow beyond what the exporter sent.
//!
//! Owns: the `[enrich]` config section ([`config`]); network attributes by prefix with inheritance
//! ([`networks`]); interface metadata and classification per (exporter, ifIndex) ([`interfaces`]);
//! country and AS from local MMDB files ([`geoip`]); the AS precedence ([`resolve_as`]); and the
//! immutable [`Snapshot`] of all of it behind an [`Enricher`], which swaps in a new snapshot on
//! reload and keeps the old one when building the new one fails.
//!
//! The hot path is [`Enricher::snapshot`] (one atomic load) and then the snapshot's lookups:
//! a binary search over a flat range table, a hash-map probe, MMDB tree walks. None of them does
//! I/O, reads the clock, allocates or panics on any input.
//!
//! Must never: do I/O outside `build` / [`Enricher::new`] / [`Enricher::reload`] and the SNMP
//! poller's own task ([`snmp`], which hands its results in through
//! [`Enricher::learn_interfaces`]); read the clock on the lookup path; reach into decoding,
//! aggregation or storage. It sits between collector and aggregator: each
//! receive worker of `sluice run` runs a [`Stage`] on its batches before handing them off.

#![deny(missing_docs)]

pub mod config;
pub mod geoip;
pub mod interfaces;
pub mod networks;
pub mod registry;
pub mod snmp;
pub mod stage;

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::{ArcSwap, Guard};
use serde::Deserialize;

pub use crate::config::{
    BuildError, ConfigError, EnrichConfig, InterfaceConfig, InterfaceRuleConfig, NetworkConfig,
    ValidatedEnrichConfig,
};
pub use crate::geoip::{AsInfo, CountryCode, GeoIp, GeoIpError, Layout};
pub use crate::interfaces::{
    Boundary, Classification, Connectivity, InterfaceInfo, InterfaceSource, Interfaces,
};
pub use crate::networks::{Cidr, NetworkAttrs, Networks};
pub use crate::registry::{InterfaceEntry, NetworkEntry, Registry, Tables};
pub use crate::snmp::{PollError, PolledInterface, Poller, SnmpConfig};
pub use crate::stage::{Stage, StageStats};

/// One place a flow's AS number may come from (`enrich.as_source`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AsSource {
    /// The AS the exporter sent, when non-zero.
    Flow,
    /// The AS the exporter sent, unless it is 0, private or reserved ([`is_private_as`]).
    FlowExceptPrivate,
    /// The AS from the `enrich.geoip_asn` database.
    Geoip,
}

impl AsSource {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            AsSource::Flow => "flow",
            AsSource::FlowExceptPrivate => "flow-except-private",
            AsSource::Geoip => "geoip",
        }
    }
}

/// AS_TRANS (RFC 6793): the placeholder a 2-byte speaker sees for a 4-byte AS.
pub const AS_TRANS: u32 = 23456;

/// True for AS numbers that name no public network: private use (64512-65534, RFC 6996;
/// 4200000000-4294967294, RFC 6996), the last numbers of each range (65535, 4294967295, RFC 7300)
/// and AS_TRANS (23456). 0 is not covered here; every source treats it as "unknown".
pub fn is_private_as(asn: u32) -> bool {
    asn == AS_TRANS || (64512..=65535).contains(&asn) || asn >= 4_200_000_000
}

/// The AS a flow gets: the first source in `sources` that gives a non-zero AS, or 0.
/// `flow_as` is what the exporter sent (0 when it sent none), `geoip_as` what the ASN database
/// says (0 when it does not know or there is none).
pub fn resolve_as(sources: &[AsSource], flow_as: u32, geoip_as: u32) -> u32 {
    sources
        .iter()
        .map(|s| match s {
            AsSource::Flow => flow_as,
            AsSource::FlowExceptPrivate if is_private_as(flow_as) => 0,
            AsSource::FlowExceptPrivate => flow_as,
            AsSource::Geoip => geoip_as,
        })
        .find(|&a| a != 0)
        .unwrap_or(0)
}

/// Everything enrichment looks up, immutable once built. Readers hold it through an `Arc`, so a
/// reload never changes a snapshot someone is using.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub(crate) networks: Arc<Networks>,
    pub(crate) interfaces: Interfaces,
    pub(crate) geoip: Arc<GeoIp>,
    pub(crate) as_source: Vec<AsSource>,
    /// Registry id of each of `networks`' attribute sets (filled by the [`Enricher`]).
    pub(crate) net_ids: Vec<u32>,
    /// Registry id of each known interface (filled by the [`Enricher`]).
    pub(crate) if_ids: HashMap<Ipv6Addr, ExporterIfs, foldhash::fast::RandomState>,
}

/// The registry ids of one exporter's interfaces: a direct table for the usual small ifIndex
/// values, a map for the rest.
#[derive(Clone, Debug, Default)]
pub struct ExporterIfs {
    dense: Vec<u32>,
    sparse: HashMap<u32, u32, foldhash::fast::RandomState>,
}

/// ifIndex values below this go in the direct table.
const DENSE_IFINDEX: u32 = 4096;

impl ExporterIfs {
    fn insert(&mut self, if_index: u32, id: u32) {
        if if_index < DENSE_IFINDEX {
            let i = if_index as usize;
            if self.dense.len() <= i {
                self.dense.resize(i + 1, 0);
            }
            self.dense[i] = id;
        } else {
            self.sparse.insert(if_index, id);
        }
    }

    /// The registry id of `if_index` (0 when unknown).
    #[inline]
    pub fn get(&self, if_index: u32) -> u32 {
        match self.dense.get(if_index as usize) {
            Some(&id) => id,
            None if if_index < DENSE_IFINDEX || self.sparse.is_empty() => 0,
            None => self.sparse.get(&if_index).copied().unwrap_or(0),
        }
    }
}

impl Snapshot {
    /// The network attributes of an address (stored form: IPv4-mapped for IPv4).
    pub fn network(&self, addr: Ipv6Addr) -> Option<&NetworkAttrs> {
        self.networks.lookup(addr)
    }

    /// The networks table.
    pub fn networks(&self) -> &Networks {
        &self.networks
    }

    /// The interface table.
    pub fn interfaces(&self) -> &Interfaces {
        &self.interfaces
    }

    /// The GeoIP databases.
    pub fn geoip(&self) -> &GeoIp {
        &self.geoip
    }

    /// The AS precedence.
    pub fn as_source(&self) -> &[AsSource] {
        &self.as_source
    }

    /// The AS for `addr`, whose exporter-sent AS is `flow_as`, by [`resolve_as`]; the ASN database
    /// is only consulted when the sources before `geoip` gave nothing.
    pub fn resolve_as(&self, addr: Ipv6Addr, flow_as: u32) -> u32 {
        for s in &self.as_source {
            let a = match s {
                AsSource::Geoip => self.geoip.asn(addr).map_or(0, |a| a.number),
                other => resolve_as(&[*other], flow_as, 0),
            };
            if a != 0 {
                return a;
            }
        }
        0
    }

    /// A copy of this snapshot with other interfaces; the networks table and the GeoIP readers
    /// are shared, not copied.
    pub fn with_interfaces(&self, interfaces: Interfaces) -> Snapshot {
        Snapshot {
            networks: Arc::clone(&self.networks),
            interfaces,
            geoip: Arc::clone(&self.geoip),
            as_source: self.as_source.clone(),
            net_ids: self.net_ids.clone(),
            if_ids: HashMap::default(),
        }
    }

    /// The registry id of the network attribute set holding `addr` (0 when none, or when the
    /// snapshot was not made by an [`Enricher`]).
    #[inline]
    pub fn net_id(&self, addr: Ipv6Addr) -> u32 {
        self.networks
            .lookup_index(addr)
            .and_then(|i| self.net_ids.get(i as usize))
            .copied()
            .unwrap_or(0)
    }

    /// The registry id of interface (exporter, ifIndex) (0 when unknown).
    #[inline]
    pub fn if_id(&self, exporter: Ipv6Addr, if_index: u32) -> u32 {
        self.exporter_ifs(exporter).map_or(0, |t| t.get(if_index))
    }

    /// The interface ids of one exporter (`None` when none of its interfaces is known).
    #[inline]
    pub fn exporter_ifs(&self, exporter: Ipv6Addr) -> Option<&ExporterIfs> {
        if self.if_ids.is_empty() {
            return None;
        }
        self.if_ids.get(&exporter)
    }

    /// This snapshot with registry ids for its network sets and interfaces.
    fn registered(mut self, registry: &Registry) -> Snapshot {
        let keys: Vec<(Ipv6Addr, u32)> = self.interfaces.iter().map(|(k, _)| k).collect();
        let entries: Vec<InterfaceEntry> = self
            .interfaces
            .iter()
            .map(|(_, i)| InterfaceEntry::of(i))
            .collect();
        let (net_ids, if_ids) = registry.intern(self.networks.attribute_list(), &entries);
        self.net_ids = net_ids;
        let mut by_exporter: HashMap<Ipv6Addr, ExporterIfs, foldhash::fast::RandomState> =
            HashMap::default();
        for ((exporter, if_index), id) in keys.into_iter().zip(if_ids) {
            by_exporter
                .entry(exporter)
                .or_default()
                .insert(if_index, id);
        }
        self.if_ids = by_exporter;
        self
    }
}

/// One interface as an exporter or an SNMP agent described it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LearnedInterface {
    /// ifIndex.
    pub if_index: u32,
    /// Name (IE 82, ifName).
    pub name: Option<String>,
    /// Description (IE 83, ifAlias).
    pub description: Option<String>,
    /// Speed, Mbit/s (ifHighSpeed).
    pub speed_mbps: Option<u64>,
    /// Where it was learned (`OptionsData` or `Snmp`; `Static` is taken as `OptionsData`).
    pub source: InterfaceSource,
}

/// Why a reload failed (the old snapshot stays).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new snapshot could not be built (a database is missing or corrupt).
    #[error(transparent)]
    Build(#[from] BuildError),
}

/// The current [`Snapshot`], swapped whole on reload.
#[derive(Debug)]
pub struct Enricher {
    current: ArcSwap<Snapshot>,
    registry: Arc<Registry>,
    reload_errors: AtomicU64,
}

impl Enricher {
    /// An enricher over a built snapshot, with a registry of its own.
    pub fn new(snapshot: Snapshot) -> Enricher {
        let registry = Arc::new(Registry::new());
        Enricher {
            current: ArcSwap::from_pointee(snapshot.registered(&registry)),
            registry,
            reload_errors: AtomicU64::new(0),
        }
    }

    /// The registry the ids in enriched records refer to.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Validates and builds `config` (does the I/O: opens the databases).
    pub fn from_config(config: &EnrichConfig) -> Result<Enricher, ReloadError> {
        Ok(Enricher::new(config.validate()?.build()?))
    }

    /// The current snapshot, for the hot path (an atomic load; hold it for a batch, not forever).
    pub fn snapshot(&self) -> Guard<Arc<Snapshot>> {
        self.current.load()
    }

    /// The current snapshot as an owned `Arc`, for holders that keep it.
    pub fn snapshot_arc(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Builds a snapshot from `config` and swaps it in. Interfaces learned from the exporters
    /// (options data, SNMP) are carried over into it, classified by the new rules. On failure
    /// the current snapshot stays, `reload_errors` goes up by one and the error is returned.
    pub fn reload(&self, config: &EnrichConfig) -> Result<(), ReloadError> {
        match config
            .validate()
            .map_err(ReloadError::from)
            .and_then(|v| v.build().map_err(ReloadError::from))
        {
            Ok(s) => {
                let cur = self.current.load_full();
                let mut interfaces = s.interfaces.clone();
                for ((exporter, if_index), info) in cur.interfaces.iter() {
                    if info.source != InterfaceSource::Static {
                        interfaces.learn_in_place(
                            exporter,
                            if_index,
                            info.name.as_deref(),
                            info.description.as_deref(),
                            info.speed_mbps,
                            info.source,
                        );
                    }
                }
                let s = s.with_interfaces(interfaces);
                self.current.store(Arc::new(s.registered(&self.registry)));
                Ok(())
            }
            Err(e) => {
                self.reload_errors.fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Swaps in a snapshot where each (exporter, ifIndex) of `learned` has the learned name,
    /// description and speed (from options data or SNMP; see [`Interfaces::learn`]). Entries
    /// that change nothing are skipped; nothing is swapped when none changes. Copies the
    /// interface map: not for the hot path.
    pub fn learn_interfaces(&self, exporter: Ipv6Addr, learned: &[LearnedInterface]) -> usize {
        let mut changed = 0;
        self.current.rcu(|cur| {
            changed = 0;
            let mut interfaces = cur.interfaces.clone();
            for l in learned {
                let source = if l.source == InterfaceSource::Static {
                    InterfaceSource::OptionsData
                } else {
                    l.source
                };
                if interfaces.learn_in_place(
                    exporter,
                    l.if_index,
                    l.name.as_deref(),
                    l.description.as_deref(),
                    l.speed_mbps,
                    source,
                ) {
                    changed += 1;
                }
            }
            if changed == 0 {
                return Arc::clone(cur);
            }
            Arc::new(cur.with_interfaces(interfaces).registered(&self.registry))
        });
        changed
    }

    /// How many reloads failed since the enricher was made.
    pub fn reload_errors(&self) -> u64 {
        self.reload_errors.load(Ordering::Relaxed)
    }
}
