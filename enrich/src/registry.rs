//! Small ids for what enrichment found, so a flow record stays fixed-size and `Copy`.
//!
//! Owns: the [`Registry`], an append-only table of the network attribute sets and interface
//! entries that snapshots have held, and of AS names. A record carries ids into it
//! ([`collector::Enrichment`]); the aggregator and storage turn them back into text with a
//! [`Tables`] view. Ids are never reused or removed, so a view taken later resolves every id any
//! earlier snapshot gave out, and a reload never changes what an id means. Id 0 is "nothing".
//!
//! Growth is bounded by what the config and the exporters name: an entry is added only when a
//! snapshot is built with a set not seen before (reload, a learned interface), and interned by
//! value, so reloading the same config adds nothing.
//!
//! Must never: be written on the per-record path (only at snapshot builds, and AS names on an
//! address-cache miss); remove or renumber an entry.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use dashmap::DashMap;

use crate::interfaces::{Boundary, Connectivity, InterfaceInfo, InterfaceSource};
use crate::networks::NetworkAttrs;

/// The text of an empty id or an absent attribute.
const EMPTY: &str = "";

/// One interface entry as the registry keeps it (an [`InterfaceInfo`] minus its source).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct InterfaceEntry {
    /// Name, empty when unknown.
    pub name: Arc<str>,
    /// Description, empty when unknown.
    pub description: Arc<str>,
    /// Speed, Mbit/s (0 when unknown).
    pub speed_mbps: u64,
    /// Boundary.
    pub boundary: Option<Boundary>,
    /// Provider, empty when none.
    pub provider: Arc<str>,
    /// Connectivity.
    pub connectivity: Option<Connectivity>,
    /// Static config or learned.
    pub source: Option<InterfaceSource>,
}

impl InterfaceEntry {
    /// The entry for an [`InterfaceInfo`].
    pub fn of(info: &InterfaceInfo) -> InterfaceEntry {
        let text = |s: &Option<Arc<str>>| s.clone().unwrap_or_else(|| Arc::from(EMPTY));
        InterfaceEntry {
            name: text(&info.name),
            description: text(&info.description),
            speed_mbps: info.speed_mbps.unwrap_or(0),
            boundary: info.boundary,
            provider: text(&info.provider),
            connectivity: info.connectivity,
            source: Some(info.source),
        }
    }

    /// `external`, `internal` or empty.
    pub fn boundary_str(&self) -> &'static str {
        match self.boundary {
            Some(Boundary::External) => "external",
            Some(Boundary::Internal) => "internal",
            None => EMPTY,
        }
    }

    /// `transit`, `peering`, `ix`, `customer` or empty.
    pub fn connectivity_str(&self) -> &'static str {
        self.connectivity.map_or(EMPTY, Connectivity::as_str)
    }
}

/// One network attribute set as the registry keeps it, with the id of its name among the names.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetworkEntry {
    /// The attributes.
    pub attrs: NetworkAttrs,
    /// Id of `attrs.name` among network names ([`Tables::net_name`]); 0 when unnamed. Two sets
    /// with the same name (different sites, say) share it, so a window by network counts them
    /// as one.
    pub name_id: u32,
}

/// The registry's tables at one moment: what readers resolve ids with.
#[derive(Clone, Debug, Default)]
pub struct Tables {
    nets: Vec<NetworkEntry>,
    net_names: Vec<Arc<str>>,
    ifaces: Vec<InterfaceEntry>,
    providers: Vec<Arc<str>>,
    provider_ids: Vec<u32>,
}

impl Tables {
    /// The network attribute set with this id (`None` for 0 or an unknown id).
    #[inline]
    pub fn net(&self, id: u32) -> Option<&NetworkEntry> {
        self.nets.get((id as usize).checked_sub(1)?)
    }

    /// The id of the name of network `id` (0 when none).
    #[inline]
    pub fn net_name_id(&self, id: u32) -> u32 {
        self.net(id).map_or(0, |n| n.name_id)
    }

    /// The text of a network-name id (empty for 0 or an unknown id).
    pub fn net_name(&self, name_id: u32) -> &str {
        (name_id as usize)
            .checked_sub(1)
            .and_then(|i| self.net_names.get(i))
            .map_or(EMPTY, |s| s)
    }

    /// The interface entry with this id (`None` for 0 or an unknown id).
    #[inline]
    pub fn iface(&self, id: u32) -> Option<&InterfaceEntry> {
        self.ifaces.get((id as usize).checked_sub(1)?)
    }

    /// The id of the provider of interface `id` (0 when none).
    #[inline]
    pub fn provider_id(&self, iface_id: u32) -> u32 {
        (iface_id as usize)
            .checked_sub(1)
            .and_then(|i| self.provider_ids.get(i))
            .copied()
            .unwrap_or(0)
    }

    /// The text of a provider id (empty for 0 or an unknown id).
    pub fn provider(&self, provider_id: u32) -> &str {
        (provider_id as usize)
            .checked_sub(1)
            .and_then(|i| self.providers.get(i))
            .map_or(EMPTY, |s| s)
    }

    /// Network attribute sets held.
    pub fn nets_len(&self) -> usize {
        self.nets.len()
    }

    /// Interface entries held.
    pub fn ifaces_len(&self) -> usize {
        self.ifaces.len()
    }
}

#[derive(Debug, Default)]
struct Index {
    nets: HashMap<NetworkEntry, u32>,
    net_names: HashMap<Arc<str>, u32>,
    ifaces: HashMap<InterfaceEntry, u32>,
    providers: HashMap<Arc<str>, u32>,
}

/// The append-only id tables (see the module doc). Shared by the enrich stage (which writes at
/// snapshot builds) and the aggregator and storage (which read a [`Tables`] view per batch).
#[derive(Debug, Default)]
pub struct Registry {
    index: Mutex<Index>,
    view: ArcSwap<Tables>,
    as_names: DashMap<u32, Arc<str>, foldhash::fast::RandomState>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// The tables as they are now (an atomic load; take one per batch).
    pub fn tables(&self) -> Arc<Tables> {
        self.view.load_full()
    }

    /// Ids for network attribute sets and interface entries, adding those not seen before.
    /// One call publishes one new view, whatever the number of new entries.
    pub fn intern(&self, nets: &[NetworkAttrs], ifaces: &[InterfaceEntry]) -> (Vec<u32>, Vec<u32>) {
        // A poisoned lock only means a panic elsewhere while it was held; the index is still
        // consistent (every insert below is completed before the view is published).
        let mut index = self.index.lock().unwrap_or_else(|p| p.into_inner());
        let cur = self.view.load_full();
        let mut next: Option<Tables> = None;
        let mut net_ids = Vec::with_capacity(nets.len());
        for attrs in nets {
            let name_id = match &attrs.name {
                None => 0,
                Some(n) => match index.net_names.get(n) {
                    Some(&id) => id,
                    None => {
                        let t = next.get_or_insert_with(|| Tables::clone(&cur));
                        t.net_names.push(Arc::clone(n));
                        let id = t.net_names.len() as u32;
                        index.net_names.insert(Arc::clone(n), id);
                        id
                    }
                },
            };
            let entry = NetworkEntry {
                attrs: attrs.clone(),
                name_id,
            };
            let id = match index.nets.get(&entry) {
                Some(&id) => id,
                None => {
                    let t = next.get_or_insert_with(|| Tables::clone(&cur));
                    t.nets.push(entry.clone());
                    let id = t.nets.len() as u32;
                    index.nets.insert(entry, id);
                    id
                }
            };
            net_ids.push(id);
        }
        let mut if_ids = Vec::with_capacity(ifaces.len());
        for entry in ifaces {
            let id = match index.ifaces.get(entry) {
                Some(&id) => id,
                None => {
                    let provider_id = if entry.provider.is_empty() {
                        0
                    } else {
                        match index.providers.get(&entry.provider) {
                            Some(&id) => id,
                            None => {
                                let t = next.get_or_insert_with(|| Tables::clone(&cur));
                                t.providers.push(Arc::clone(&entry.provider));
                                let id = t.providers.len() as u32;
                                index.providers.insert(Arc::clone(&entry.provider), id);
                                id
                            }
                        }
                    };
                    let t = next.get_or_insert_with(|| Tables::clone(&cur));
                    t.ifaces.push(entry.clone());
                    t.provider_ids.push(provider_id);
                    let id = t.ifaces.len() as u32;
                    index.ifaces.insert(entry.clone(), id);
                    id
                }
            };
            if_ids.push(id);
        }
        if let Some(t) = next {
            self.view.store(Arc::new(t));
        }
        (net_ids, if_ids)
    }

    /// The organisation name of an AS, when a GeoIP lookup has named it.
    pub fn as_name(&self, asn: u32) -> Option<Arc<str>> {
        self.as_names.get(&asn).map(|n| Arc::clone(&n))
    }

    /// Calls `f` with the name of an AS, or with `""` when none is known (no allocation).
    pub fn with_as_name<R>(&self, asn: u32, f: impl FnOnce(&str) -> R) -> R {
        match self.as_names.get(&asn) {
            Some(n) => f(&n),
            None => f(EMPTY),
        }
    }

    /// Records the name of an AS (the first name seen for a number stays).
    pub fn learn_as_name(&self, asn: u32, name: &str) {
        if asn != 0 && !name.is_empty() && !self.as_names.contains_key(&asn) {
            self.as_names.entry(asn).or_insert_with(|| Arc::from(name));
        }
    }

    /// Every AS name known, in no particular order.
    pub fn as_names(&self) -> Vec<(u32, Arc<str>)> {
        self.as_names
            .iter()
            .map(|e| (*e.key(), Arc::clone(e.value())))
            .collect()
    }

    /// AS names known.
    pub fn as_names_len(&self) -> usize {
        self.as_names.len()
    }
}
