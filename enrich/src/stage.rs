//! The enrich stage: what runs on each decoded batch before it goes to aggregation and storage.
//!
//! Owns: [`Stage`], one per receive worker. For each record it fills
//! [`collector::Enrichment`] (network set ids, interface ids, countries) and rewrites `src_as` /
//! `dst_as` by the AS precedence. Lookups by address go through direct-mapped caches
//! ([`CACHE_SLOTS_V4`] IPv4 entries of 16 bytes, [`CACHE_SLOTS_V6`] IPv6 entries of 32) in front
//! of the networks table and the two MMDB trees: one probe answers all three for an address seen
//! lately, and a miss costs the three lookups once. The caches are emptied when the snapshot
//! changes (reload, learned interface), so a record never mixes two snapshots.
//!
//! Must never: drop a record, or leave one out (a record with nothing found keeps zeros and its
//! exporter's AS); allocate per record; read the clock or do I/O (the registry's AS-name map is
//! written only on a cache miss that names an AS not seen before).

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;

use collector::FlowRecord;

use crate::{AsSource, Enricher, Snapshot, resolve_as};

/// Entries of the per-worker cache of IPv4 addresses (a power of two; 16 bytes each).
pub const CACHE_SLOTS_V4: usize = 1 << 14;
/// Entries of the per-worker cache of IPv6 addresses (a power of two; 32 bytes each).
pub const CACHE_SLOTS_V6: usize = 1 << 12;

/// Most exporters whose unknown-interface classification a stage remembers.
const MAX_UNKNOWN_EXPORTERS: usize = 65_536;

/// What the tables say of one address, and (in a cache slot) the generation it was found in.
#[derive(Clone, Copy, Debug, Default)]
struct Found {
    net: u32,
    asn: u32,
    country: [u8; 2],
    generation: u16,
}

/// A cache entry. With a `u32` key (IPv4) it is 16 bytes, so that cache is half the size an
/// IPv6-wide one would be (fewer of its lines fall out of the core's cache beside the decoder's
/// and the aggregator's data); with `[u64; 2]` (IPv6) 32.
#[derive(Clone, Copy, Debug, Default)]
struct Slot<K> {
    addr: K,
    found: Found,
}

/// The IPv4 part of an IPv4-mapped address (`::ffff:a.b.c.d`).
#[inline]
fn mapped_v4(a: u128) -> Option<u32> {
    (a >> 32 == 0xFFFF).then_some(a as u32)
}

#[inline]
fn slot_index(h: u64, slots: usize) -> usize {
    // Fibonacci hashing: the top bits of the product index the table.
    (h.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> (64 - slots.trailing_zeros())) as usize
}

/// What a stage has done, for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageStats {
    /// Records enriched.
    pub records: u64,
    /// Address lookups answered by the cache.
    pub cache_hits: u64,
    /// Address lookups that went to the tables.
    pub cache_misses: u64,
}

/// One worker's enrich stage (see the module doc).
#[derive(Debug)]
pub struct Stage {
    enricher: Arc<Enricher>,
    cache4: Box<[Slot<u32>]>,
    cache6: Box<[Slot<[u64; 2]>]>,
    generation: u16,
    /// The snapshot the cache holds answers from (kept, so its address cannot be reused).
    seen: Option<Arc<Snapshot>>,
    /// Per exporter, the registry id of what the exporter-only rules say of an interface nothing
    /// else is known about (0: they say nothing). Filled on first sight, emptied with the cache.
    unknown_ifs: HashMap<Ipv6Addr, u32, foldhash::fast::RandomState>,
    stats: StageStats,
}

impl Stage {
    /// A stage reading `enricher`'s current snapshot.
    pub fn new(enricher: Arc<Enricher>) -> Stage {
        Stage {
            enricher,
            cache4: vec![Slot::default(); CACHE_SLOTS_V4].into_boxed_slice(),
            cache6: vec![Slot::default(); CACHE_SLOTS_V6].into_boxed_slice(),
            generation: 0,
            seen: None,
            unknown_ifs: HashMap::default(),
            stats: StageStats::default(),
        }
    }

    /// Counts so far.
    pub fn stats(&self) -> StageStats {
        self.stats
    }

    /// Enriches every record of a batch against the current snapshot.
    pub fn enrich(&mut self, records: &mut [FlowRecord]) {
        let snap = self.enricher.snapshot_arc();
        let mut tables = self.enricher.registry().tables();
        if !self.seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &snap)) {
            self.seen = Some(Arc::clone(&snap));
            self.unknown_ifs.clear();
            self.generation = self.generation.wrapping_add(1);
            if self.generation == 0 {
                // Wrapped: slots of generation 1.. could look current again.
                self.cache4.fill(Slot::default());
                self.cache6.fill(Slot::default());
                self.generation = 1;
            }
        }
        let geoip_as = snap.as_source.contains(&AsSource::Geoip);
        // Records come in runs from one exporter (a datagram's worth): its interface table is
        // looked up once per run.
        let mut last_exporter: Option<(Ipv6Addr, Option<&crate::ExporterIfs>, u32)> = None;
        for r in records.iter_mut() {
            let (src_as, dst_as) = (r.src_as.unwrap_or(0), r.dst_as.unwrap_or(0));
            let (mut src_geo, mut dst_geo) = (0, 0);
            if let Some(a) = r.src_addr {
                let s = self.lookup(&snap, a);
                r.enrichment.src_net = s.net;
                r.enrichment.src_country = s.country;
                src_geo = s.asn;
            }
            if let Some(a) = r.dst_addr {
                let s = self.lookup(&snap, a);
                r.enrichment.dst_net = s.net;
                r.enrichment.dst_country = s.country;
                dst_geo = s.asn;
            }
            if !snap.as_source.is_empty() {
                let pick = |flow: u32, geo: u32| {
                    let a = resolve_as(&snap.as_source, flow, if geoip_as { geo } else { 0 });
                    (a != 0).then_some(a)
                };
                r.src_as = pick(src_as, src_geo);
                r.dst_as = pick(dst_as, dst_geo);
            }
            let (ifs, unknown) = match last_exporter {
                Some((e, t, u)) if e == r.exporter => (t, u),
                _ => {
                    let t = snap.exporter_ifs(r.exporter);
                    let (u, new) = self.unknown_if(&snap, r.exporter);
                    if new {
                        // A new registry entry: resolve this batch's ids with a view that has it.
                        tables = self.enricher.registry().tables();
                    }
                    last_exporter = Some((r.exporter, t, u));
                    (t, u)
                }
            };
            let id = |i: u32| match ifs.map_or(0, |t| t.get(i)) {
                0 => unknown,
                known => known,
            };
            r.enrichment.in_if = r.in_if.map_or(0, id);
            r.enrichment.out_if = r.out_if.map_or(0, id);
            let e = &mut r.enrichment;
            e.src_net_name = tables.net_name_id(e.src_net);
            e.dst_net_name = tables.net_name_id(e.dst_net);
            e.in_if_provider = tables.provider_id(e.in_if);
            e.out_if_provider = tables.provider_id(e.out_if);
        }
        self.stats.records += records.len() as u64;
    }

    #[inline]
    fn lookup(&mut self, snap: &Snapshot, addr: Ipv6Addr) -> Found {
        let a = u128::from(addr);
        match mapped_v4(a) {
            Some(v4) => {
                let i = slot_index(u64::from(v4), CACHE_SLOTS_V4);
                self.probe(|s| &mut s.cache4[i], v4, snap, addr)
            }
            None => {
                let key = [(a >> 64) as u64, a as u64];
                let i = slot_index(key[0] ^ key[1], CACHE_SLOTS_V6);
                self.probe(|s| &mut s.cache6[i], key, snap, addr)
            }
        }
    }

    /// The cached answer in `slot` when it is for `key` and current; else the tables' answer,
    /// kept in `slot`.
    #[inline]
    fn probe<K: Copy + PartialEq>(
        &mut self,
        slot: impl Fn(&mut Stage) -> &mut Slot<K>,
        key: K,
        snap: &Snapshot,
        addr: Ipv6Addr,
    ) -> Found {
        let s = *slot(self);
        if s.found.generation == self.generation && s.addr == key {
            self.stats.cache_hits += 1;
            return s.found;
        }
        let found = self.miss(snap, addr);
        *slot(self) = Slot { addr: key, found };
        found
    }

    /// The id for interfaces of `exporter` that nothing names (see `unknown_ifs`), and whether it
    /// was added to the registry just now.
    #[cold]
    fn unknown_if(&mut self, snap: &Snapshot, exporter: Ipv6Addr) -> (u32, bool) {
        if let Some(&id) = self.unknown_ifs.get(&exporter) {
            return (id, false);
        }
        let c = snap.interfaces.classify_unknown(exporter);
        let (id, new) = if c.boundary.is_none() && c.provider.is_none() && c.connectivity.is_none()
        {
            (0, false)
        } else {
            let entry = crate::InterfaceEntry {
                boundary: c.boundary,
                provider: c.provider.unwrap_or_else(|| Arc::from("")),
                connectivity: c.connectivity,
                ..crate::InterfaceEntry::default()
            };
            let before = self.enricher.registry().tables().ifaces_len();
            let (_, ids) = self.enricher.registry().intern(&[], &[entry]);
            let id = ids.first().copied().unwrap_or(0);
            (id, id as usize > before)
        };
        // One entry per exporter; bounded all the same against a flood of source addresses (a
        // cleared map is refilled from the rules, which give the same ids again).
        if self.unknown_ifs.len() >= MAX_UNKNOWN_EXPORTERS {
            self.unknown_ifs.clear();
        }
        self.unknown_ifs.insert(exporter, id);
        (id, new)
    }

    /// The three lookups of an address the cache does not hold.
    #[cold]
    fn miss(&mut self, snap: &Snapshot, addr: Ipv6Addr) -> Found {
        self.stats.cache_misses += 1;
        let asn = match snap.geoip.asn(addr) {
            Some(info) => {
                if let Some(org) = info.organization {
                    self.enricher.registry().learn_as_name(info.number, org);
                }
                info.number
            }
            None => 0,
        };
        Found {
            net: snap.net_id(addr),
            asn,
            country: snap.geoip.country(addr).map_or([0, 0], |c| c.bytes()),
            generation: self.generation,
        }
    }
}

// The sizes the cache layout is chosen for.
const _: () = assert!(std::mem::size_of::<Slot<u32>>() == 16);
const _: () = assert!(std::mem::size_of::<Slot<[u64; 2]>>() == 32);
