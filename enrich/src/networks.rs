//! Network attributes by address: `[[enrich.networks]]` prefixes flattened into a range table.
//!
//! Owns: [`NetworkAttrs`] and [`Networks`], the lookup structure, over the collector's [`Cidr`]
//! (IPv4 stored IPv4-mapped, `/n` as `/96+n`, so one table serves both families).
//!
//! How the table is built: the prefixes are sorted so that every prefix comes after the prefixes
//! that enclose it, then swept once with a stack of the prefixes still open. Every stretch of the
//! address space between two prefix boundaries becomes one range carrying the attributes of the
//! most specific prefix that covers it, where that prefix **inherits** every attribute it does not
//! set from its enclosing prefixes (the nearest one that sets it). Ranges never overlap, are sorted
//! by start, and adjacent ranges with the same attributes are merged. Resolved attribute sets are
//! interned: a range carries a `u32` index into a small table. The ranges inside the IPv4-mapped
//! block are kept apart with 32-bit keys. A lookup is one binary search over the range starts of
//! the address's family, then a comparison with that range's end.
//!
//! Must never: do I/O, read the clock, allocate or panic in [`Networks::lookup`].

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::Arc;

pub use collector::{Cidr, CidrError};

/// The attributes a network carries. Every one is optional; a prefix that does not set one
/// inherits it from the nearest enclosing prefix that does.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NetworkAttrs {
    /// Network name.
    pub name: Option<Arc<str>>,
    /// Role (free text, e.g. `internal`, `dmz`, `customer`).
    pub role: Option<Arc<str>>,
    /// Site.
    pub site: Option<Arc<str>>,
    /// Region.
    pub region: Option<Arc<str>>,
    /// Tenant.
    pub tenant: Option<Arc<str>>,
}

impl NetworkAttrs {
    /// `self`, with every attribute it does not set taken from `parent`.
    pub fn inherit_from(&self, parent: &NetworkAttrs) -> NetworkAttrs {
        let pick =
            |own: &Option<Arc<str>>, up: &Option<Arc<str>>| own.clone().or_else(|| up.clone());
        NetworkAttrs {
            name: pick(&self.name, &parent.name),
            role: pick(&self.role, &parent.role),
            site: pick(&self.site, &parent.site),
            region: pick(&self.region, &parent.region),
            tenant: pick(&self.tenant, &parent.tenant),
        }
    }
}

/// Why a table could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetworksError {
    /// The same prefix was given twice.
    #[error("prefix {0} is given twice")]
    Duplicate(Cidr),
}

/// One family's part of the table: sorted, non-overlapping ranges, each with the index of its
/// resolved attributes. Three parallel vectors, so the binary search reads only the starts.
#[derive(Clone, Debug, Default)]
struct Ranges<K> {
    /// First address of each range, ascending.
    starts: Vec<K>,
    /// Last address of each range (inclusive), same index.
    ends: Vec<K>,
    /// Index into the attribute table, same index.
    index: Vec<u32>,
}

impl<K: Copy + Ord> Ranges<K> {
    fn push(&mut self, start: K, end: K, index: u32) {
        self.starts.push(start);
        self.ends.push(end);
        self.index.push(index);
    }

    fn find(&self, a: K) -> Option<u32> {
        let i = self.starts.partition_point(|&s| s <= a).checked_sub(1)?;
        if *self.ends.get(i)? < a {
            return None;
        }
        self.index.get(i).copied()
    }
}

/// The first and last stored IPv4 addresses (`::ffff:0.0.0.0`, `::ffff:255.255.255.255`).
const V4_FIRST: u128 = 0xffff << 32;
const V4_LAST: u128 = V4_FIRST | 0xffff_ffff;

/// The flattened range table. The sweep works on the stored (IPv6) address space; its ranges are
/// then cut at the edges of the IPv4-mapped block, and the IPv4 part is kept with `u32` keys (a
/// quarter of the memory, so fewer cache misses per search), the rest with `u128` keys.
#[derive(Clone, Debug, Default)]
pub struct Networks {
    v4: Ranges<u32>,
    v6: Ranges<u128>,
    /// Interned resolved attribute sets.
    attrs: Vec<NetworkAttrs>,
}

struct Open {
    last: u128,
    attrs: u32,
}

struct Sweep {
    starts: Vec<u128>,
    ends: Vec<u128>,
    index: Vec<u32>,
}

impl Sweep {
    fn emit(&mut self, start: u128, end: u128, attrs: u32) {
        if let (Some(e), Some(i)) = (self.ends.last_mut(), self.index.last())
            && *i == attrs
            && e.checked_add(1) == Some(start)
        {
            *e = end;
            return;
        }
        self.starts.push(start);
        self.ends.push(end);
        self.index.push(attrs);
    }
}

impl Networks {
    /// Builds the table from prefixes and their own (not yet inherited) attributes.
    pub fn build(
        entries: impl IntoIterator<Item = (Cidr, NetworkAttrs)>,
    ) -> Result<Networks, NetworksError> {
        let mut entries: Vec<(Cidr, NetworkAttrs)> = entries.into_iter().collect();
        // Enclosing prefixes first: by first address, then shorter (wider) first.
        entries.sort_by_key(|(p, _)| (p.first(), p.stored_len()));
        for w in entries.windows(2) {
            if w[0].0.first() == w[1].0.first() && w[0].0.stored_len() == w[1].0.stored_len() {
                return Err(NetworksError::Duplicate(w[0].0));
            }
        }
        let mut attrs: Vec<NetworkAttrs> = Vec::new();
        let mut interned: HashMap<NetworkAttrs, u32> = HashMap::new();
        let mut intern = |a: NetworkAttrs, attrs: &mut Vec<NetworkAttrs>| -> u32 {
            *interned.entry(a.clone()).or_insert_with(|| {
                attrs.push(a);
                (attrs.len() - 1) as u32
            })
        };
        let mut out = Sweep {
            starts: Vec::with_capacity(entries.len() * 2),
            ends: Vec::with_capacity(entries.len() * 2),
            index: Vec::with_capacity(entries.len() * 2),
        };
        let mut stack: Vec<Open> = Vec::new();
        // The first address not yet emitted; None once the end of the space was emitted.
        let mut cursor: Option<u128> = Some(0);

        // Closes every open prefix that ends before `until` (all of them with None).
        fn close(
            stack: &mut Vec<Open>,
            cursor: &mut Option<u128>,
            out: &mut Sweep,
            until: Option<u128>,
        ) {
            while let Some(top) = stack.last() {
                if until.is_some_and(|u| top.last >= u) {
                    break;
                }
                if let Some(c) = *cursor
                    && c <= top.last
                {
                    out.emit(c, top.last, top.attrs);
                    *cursor = top.last.checked_add(1);
                }
                stack.pop();
            }
        }

        for (prefix, own) in entries {
            let start = prefix.first();
            close(&mut stack, &mut cursor, &mut out, Some(start));
            let resolved = match stack.last() {
                Some(parent) => {
                    // The stretch of the parent before this child.
                    if let Some(c) = cursor
                        && c < start
                    {
                        out.emit(c, start - 1, parent.attrs);
                    }
                    own.inherit_from(&attrs[parent.attrs as usize])
                }
                None => own,
            };
            let idx = intern(resolved, &mut attrs);
            stack.push(Open {
                last: prefix.last(),
                attrs: idx,
            });
            cursor = Some(start);
        }
        close(&mut stack, &mut cursor, &mut out, None);
        let mut v4 = Ranges::default();
        let mut v6 = Ranges::default();
        for ((&s, &e), &i) in out.starts.iter().zip(&out.ends).zip(&out.index) {
            if s < V4_FIRST {
                v6.push(s, e.min(V4_FIRST - 1), i);
            }
            if s <= V4_LAST && e >= V4_FIRST {
                // Both within the IPv4 block after clamping: the casts keep every bit.
                v4.push(
                    (s.max(V4_FIRST) - V4_FIRST) as u32,
                    (e.min(V4_LAST) - V4_FIRST) as u32,
                    i,
                );
            }
            if e > V4_LAST {
                v6.push(s.max(V4_LAST + 1), e, i);
            }
        }
        Ok(Networks { v4, v6, attrs })
    }

    /// The attributes of the most specific prefix holding `addr` (stored form: IPv4-mapped for
    /// IPv4), with inheritance applied; `None` when no prefix holds it.
    pub fn lookup(&self, addr: Ipv6Addr) -> Option<&NetworkAttrs> {
        self.attrs.get(self.lookup_index(addr)? as usize)
    }

    /// The index, in [`Networks::attribute_list`], of what [`Networks::lookup`] returns.
    #[inline]
    pub fn lookup_index(&self, addr: Ipv6Addr) -> Option<u32> {
        let a = u128::from(addr);
        if (V4_FIRST..=V4_LAST).contains(&a) {
            self.v4.find((a - V4_FIRST) as u32)
        } else {
            self.v6.find(a)
        }
    }

    /// The distinct resolved attribute sets, indexed as [`Networks::lookup_index`] gives.
    pub fn attribute_list(&self) -> &[NetworkAttrs] {
        &self.attrs
    }

    /// Number of ranges in the table (IPv4 and IPv6).
    pub fn ranges(&self) -> usize {
        self.v4.starts.len() + self.v6.starts.len()
    }

    /// Number of distinct resolved attribute sets.
    pub fn attribute_sets(&self) -> usize {
        self.attrs.len()
    }

    /// True when the table holds no prefix.
    pub fn is_empty(&self) -> bool {
        self.v4.starts.is_empty() && self.v6.starts.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn v6(s: &str) -> Ipv6Addr {
        match s.parse::<IpAddr>().unwrap() {
            IpAddr::V4(a) => a.to_ipv6_mapped(),
            IpAddr::V6(a) => a,
        }
    }

    fn attrs(name: Option<&str>, role: Option<&str>, site: Option<&str>) -> NetworkAttrs {
        NetworkAttrs {
            name: name.map(Arc::from),
            role: role.map(Arc::from),
            site: site.map(Arc::from),
            ..NetworkAttrs::default()
        }
    }

    fn get(n: &Networks, a: &str) -> Option<(Option<String>, Option<String>, Option<String>)> {
        n.lookup(v6(a)).map(|x| {
            (
                x.name.as_deref().map(String::from),
                x.role.as_deref().map(String::from),
                x.site.as_deref().map(String::from),
            )
        })
    }

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn a_more_specific_prefix_inherits_what_it_does_not_set() {
        let n = Networks::build([
            (
                "10.0.0.0/8".parse().unwrap(),
                attrs(Some("corp"), Some("internal"), Some("seoul")),
            ),
            (
                "10.1.0.0/16".parse().unwrap(),
                attrs(None, None, Some("busan")),
            ),
            (
                "10.1.2.0/24".parse().unwrap(),
                attrs(Some("lab"), None, None),
            ),
            (
                "2001:db8::/32".parse().unwrap(),
                attrs(Some("v6corp"), Some("internal"), None),
            ),
            (
                "2001:db8:1::/48".parse().unwrap(),
                attrs(None, Some("dmz"), Some("tokyo")),
            ),
        ])
        .unwrap();
        let table = [
            ("10.0.0.1", Some((s("corp"), s("internal"), s("seoul")))),
            (
                "10.255.255.255",
                Some((s("corp"), s("internal"), s("seoul"))),
            ),
            ("10.1.0.0", Some((s("corp"), s("internal"), s("busan")))),
            ("10.1.1.255", Some((s("corp"), s("internal"), s("busan")))),
            ("10.1.2.0", Some((s("lab"), s("internal"), s("busan")))),
            ("10.1.2.255", Some((s("lab"), s("internal"), s("busan")))),
            ("10.1.3.0", Some((s("corp"), s("internal"), s("busan")))),
            ("10.2.0.0", Some((s("corp"), s("internal"), s("seoul")))),
            ("11.0.0.0", None),
            ("9.255.255.255", None),
            ("2001:db8::1", Some((s("v6corp"), s("internal"), None))),
            ("2001:db8:1::1", Some((s("v6corp"), s("dmz"), s("tokyo")))),
            ("2001:db8:2::1", Some((s("v6corp"), s("internal"), None))),
            ("2001:db9::", None),
            ("::", None),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            // An IPv6 address is never inside an IPv4 prefix.
            ("::a00:1", None),
        ];
        for (addr, want) in table {
            assert_eq!(get(&n, addr), want, "{addr}");
        }
    }

    #[test]
    fn prefixes_that_cover_the_whole_space_and_its_edges_work() {
        let n = Networks::build([
            ("::/0".parse().unwrap(), attrs(Some("all"), None, None)),
            (
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"
                    .parse()
                    .unwrap(),
                attrs(None, Some("last"), None),
            ),
            ("::/128".parse().unwrap(), attrs(None, Some("first"), None)),
            ("0.0.0.0/0".parse().unwrap(), attrs(Some("v4"), None, None)),
        ])
        .unwrap();
        assert_eq!(get(&n, "::"), Some((s("all"), s("first"), None)));
        assert_eq!(get(&n, "::1"), Some((s("all"), None, None)));
        assert_eq!(
            get(&n, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"),
            Some((s("all"), s("last"), None))
        );
        assert_eq!(get(&n, "1.2.3.4"), Some((s("v4"), None, None)));
        assert_eq!(get(&n, "2001:db8::"), Some((s("all"), None, None)));
    }

    #[test]
    fn an_ipv6_prefix_around_the_ipv4_block_covers_ipv4_addresses() {
        let n = Networks::build([
            ("::/0".parse().unwrap(), attrs(Some("all"), None, None)),
            (
                "::fffe:0:0/95".parse().unwrap(),
                attrs(None, Some("edge"), None),
            ),
            (
                "10.0.0.0/8".parse().unwrap(),
                attrs(None, None, Some("ten")),
            ),
        ])
        .unwrap();
        assert_eq!(get(&n, "::fffe:0:1"), Some((s("all"), s("edge"), None)));
        assert_eq!(get(&n, "0.0.0.0"), Some((s("all"), s("edge"), None)));
        assert_eq!(get(&n, "10.1.2.3"), Some((s("all"), s("edge"), s("ten"))));
        assert_eq!(
            get(&n, "255.255.255.255"),
            Some((s("all"), s("edge"), None))
        );
        assert_eq!(get(&n, "::1:0:0:0"), Some((s("all"), None, None)));
        assert_eq!(get(&n, "::fffd:ffff:ffff"), Some((s("all"), None, None)));
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        let n = Networks::build([]).unwrap();
        assert!(n.is_empty());
        assert_eq!(get(&n, "10.0.0.1"), None);
    }

    #[test]
    fn a_prefix_given_twice_is_refused() {
        let e = Networks::build([
            ("10.0.0.0/8".parse().unwrap(), attrs(Some("a"), None, None)),
            ("10.0.0.0/8".parse().unwrap(), attrs(Some("b"), None, None)),
        ])
        .unwrap_err();
        assert_eq!(e.to_string(), "prefix 10.0.0.0/8 is given twice");
    }

    #[test]
    fn adjacent_ranges_with_the_same_attributes_are_merged() {
        let n = Networks::build([
            ("10.0.0.0/8".parse().unwrap(), attrs(Some("a"), None, None)),
            ("10.1.0.0/16".parse().unwrap(), attrs(Some("a"), None, None)),
        ])
        .unwrap();
        assert_eq!(n.ranges(), 1);
        assert_eq!(n.attribute_sets(), 1);
    }

    #[test]
    fn parses_and_prints_prefixes_and_rejects_bad_ones() {
        for good in ["10.0.0.0/8", "2001:db8::/32", "0.0.0.0/0", "192.0.2.1/32"] {
            assert_eq!(good.parse::<Cidr>().unwrap().to_string(), good);
        }
        assert_eq!(
            "192.0.2.1".parse::<Cidr>().unwrap().to_string(),
            "192.0.2.1/32"
        );
        for bad in [
            "10.0.0.0/33",
            "10.0.0.1/8",
            "x/8",
            "10.0.0.0/y",
            "::/129",
            "",
        ] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    mod against_reference {
        use super::*;
        use proptest::prelude::*;

        /// The reference: among all prefixes holding `a`, longest first, the first that sets each
        /// attribute gives it.
        fn naive(entries: &[(Cidr, NetworkAttrs)], a: Ipv6Addr) -> Option<NetworkAttrs> {
            let mut holding: Vec<&(Cidr, NetworkAttrs)> =
                entries.iter().filter(|(p, _)| p.contains(a)).collect();
            holding.sort_by_key(|(p, _)| std::cmp::Reverse(p.stored_len()));
            let mut out = holding.first()?.1.clone();
            for (_, up) in &holding[1..] {
                out = out.inherit_from(up);
            }
            Some(out)
        }

        fn attr() -> impl Strategy<Value = Option<Arc<str>>> {
            prop::option::of(prop::sample::select(vec!["a", "b", "c"]).prop_map(Arc::from))
        }

        fn entry() -> impl Strategy<Value = (Cidr, NetworkAttrs)> {
            // Few distinct high bits so that prefixes nest and touch often, both families.
            let v4 = (0u32..4, any::<u32>(), 6u8..=32).prop_map(|(hi, lo, len)| {
                let a = std::net::Ipv4Addr::from((10 << 24) | (hi << 22) | (lo >> 10));
                Cidr::new(IpAddr::V4(a), len).unwrap()
            });
            let v6 = (0u128..4, any::<u128>(), 0u8..=128).prop_map(|(hi, lo, len)| {
                let a = Ipv6Addr::from((0x2001_0db8u128 << 96) | (hi << 94) | (lo >> 34));
                Cidr::new(IpAddr::V6(a), len).unwrap()
            });
            (
                prop_oneof![3 => v4, 1 => v6],
                attr(),
                attr(),
                attr(),
                attr(),
                attr(),
            )
                .prop_map(|(p, name, role, site, region, tenant)| {
                    (
                        p,
                        NetworkAttrs {
                            name,
                            role,
                            site,
                            region,
                            tenant,
                        },
                    )
                })
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]
            #[test]
            fn lookup_agrees_with_the_longest_prefix_walk_up(
                raw in prop::collection::vec(entry(), 0..40),
                picks in prop::collection::vec((any::<prop::sample::Index>(), 0u8..5, any::<u128>()), 1..60),
            ) {
                let mut seen = std::collections::HashSet::new();
                let entries: Vec<_> = raw.into_iter().filter(|(p, _)| seen.insert(*p)).collect();
                let n = Networks::build(entries.clone()).unwrap();
                for (i, how, r) in picks {
                    // Addresses at and beside every prefix edge, and random ones.
                    let a = if entries.is_empty() || how == 4 {
                        r
                    } else {
                        let p = entries[i.index(entries.len())].0;
                        match how {
                            0 => p.first(),
                            1 => p.last(),
                            2 => p.last().wrapping_add(1),
                            _ => p.first().wrapping_sub(1),
                        }
                    };
                    let a = Ipv6Addr::from(a);
                    prop_assert_eq!(n.lookup(a).cloned(), naive(&entries, a), "{}", a);
                }
            }
        }
    }
}
