//! The enrich stage: what runs on each decoded batch before it goes to aggregation and storage.
//!
//! Owns: [`Stage`], one per receive worker. For each record it fills
//! [`collector::Enrichment`] (network set ids, interface ids, countries) and rewrites `src_as` /
//! `dst_as` by the AS precedence. Lookups by address go through a direct-mapped cache of
//! [`CACHE_SLOTS`] entries in front of the networks table and the two MMDB trees: one probe
//! answers all three for an address seen lately, and a miss costs the three lookups once. The
//! cache is emptied when the snapshot changes (reload, learned interface), so a record never
//! mixes two snapshots.
//!
//! Must never: drop a record, or leave one out (a record with nothing found keeps zeros and its
//! exporter's AS); allocate per record; read the clock or do I/O (the registry's AS-name map is
//! written only on a cache miss that names an AS not seen before).

use std::net::Ipv6Addr;
use std::sync::Arc;

use collector::FlowRecord;

use crate::{AsSource, Enricher, Snapshot, resolve_as};

/// Entries of the per-worker address cache (a power of two).
pub const CACHE_SLOTS: usize = 1 << 14;

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    addr: u128,
    generation: u32,
    net: u32,
    asn: u32,
    country: [u8; 2],
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
    cache: Box<[Slot]>,
    generation: u32,
    /// The snapshot the cache holds answers from (kept, so its address cannot be reused).
    seen: Option<Arc<Snapshot>>,
    stats: StageStats,
}

impl Stage {
    /// A stage reading `enricher`'s current snapshot.
    pub fn new(enricher: Arc<Enricher>) -> Stage {
        Stage {
            enricher,
            cache: vec![Slot::default(); CACHE_SLOTS].into_boxed_slice(),
            generation: 0,
            seen: None,
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
        let tables = self.enricher.registry().tables();
        if !self.seen.as_ref().is_some_and(|s| Arc::ptr_eq(s, &snap)) {
            self.seen = Some(Arc::clone(&snap));
            self.generation = self.generation.wrapping_add(1);
            if self.generation == 0 {
                // Wrapped: slots of generation 1.. could look current again.
                self.cache.fill(Slot::default());
                self.generation = 1;
            }
        }
        let geoip_as = snap.as_source.contains(&AsSource::Geoip);
        // Records come in runs from one exporter (a datagram's worth): its interface table is
        // looked up once per run.
        let mut last_exporter: Option<(Ipv6Addr, Option<&crate::ExporterIfs>)> = None;
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
            let ifs = match last_exporter {
                Some((e, t)) if e == r.exporter => t,
                _ => {
                    let t = snap.exporter_ifs(r.exporter);
                    last_exporter = Some((r.exporter, t));
                    t
                }
            };
            if let Some(t) = ifs {
                r.enrichment.in_if = r.in_if.map_or(0, |i| t.get(i));
                r.enrichment.out_if = r.out_if.map_or(0, |i| t.get(i));
            }
            let e = &mut r.enrichment;
            e.src_net_name = tables.net_name_id(e.src_net);
            e.dst_net_name = tables.net_name_id(e.dst_net);
            e.in_if_provider = tables.provider_id(e.in_if);
            e.out_if_provider = tables.provider_id(e.out_if);
        }
        self.stats.records += records.len() as u64;
    }

    #[inline]
    fn lookup(&mut self, snap: &Snapshot, addr: Ipv6Addr) -> Slot {
        let a = u128::from(addr);
        // Fibonacci hashing of the folded address: the top bits index the table.
        let h = ((a as u64) ^ ((a >> 64) as u64)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let i = (h >> (64 - CACHE_SLOTS.trailing_zeros())) as usize;
        let slot = &mut self.cache[i];
        if slot.generation == self.generation && slot.addr == a {
            self.stats.cache_hits += 1;
            return *slot;
        }
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
        *slot = Slot {
            addr: a,
            generation: self.generation,
            net: snap.net_id(addr),
            asn,
            country: snap.geoip.country(addr).map_or([0, 0], |c| c.bytes()),
        };
        *slot
    }
}
