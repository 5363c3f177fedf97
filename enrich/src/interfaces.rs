//! Interface metadata and classification, per (exporter, ifIndex).
//!
//! Owns: [`Interfaces`], the map from (exporter, ifIndex) to [`InterfaceInfo`] (name, description,
//! speed, and the classification: boundary, provider, connectivity), built from the static
//! `[[enrich.interfaces]]` entries, names learned later ([`Interfaces::learn`]), and the
//! `[[enrich.interface_rules]]` ([`Rule`]), applied in order, the first matching rule winning.
//!
//! A rule matches when every condition it gives matches: the exporter is inside `exporter` (a
//! CIDR), the interface name matches `name` (a regex), the description matches `description` (a
//! regex). A condition on a name or description never matches an interface that has none. The
//! rule's `provider` and `connectivity` are [`Template`]s: `${group}` is replaced by the named
//! capture `group` of the rule's description regex, or else of its name regex; `$$` is a `$`.
//! A capture that did not take part in the match makes the field unset. A captured connectivity
//! that is not one of the four values leaves it unset. Static `boundary`, `provider` and
//! `connectivity` on an interface entry take precedence over the rules, field by field.
//!
//! Must never: run a regex or allocate on the lookup path ([`Interfaces::get`] is a hash map
//! probe; [`Interfaces::classify_unknown`] walks only the rules that have no regex), do I/O, panic.

use std::collections::HashMap;

use foldhash::fast::RandomState;
use std::net::Ipv6Addr;
use std::sync::Arc;

use regex::{Captures, Regex};
use serde::Deserialize;

use crate::networks::Cidr;

/// Which side of the network an interface faces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Boundary {
    /// Faces other networks (transit, peering, customers).
    External,
    /// Faces the own network.
    Internal,
}

/// What kind of connection an external interface is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Connectivity {
    /// Paid upstream.
    Transit,
    /// Private peering.
    Peering,
    /// Internet exchange.
    Ix,
    /// A customer.
    Customer,
}

impl Connectivity {
    /// The value from its config spelling (`transit`, `peering`, `ix`, `customer`), any case.
    pub fn parse(s: &str) -> Option<Connectivity> {
        match s.to_ascii_lowercase().as_str() {
            "transit" => Some(Connectivity::Transit),
            "peering" => Some(Connectivity::Peering),
            "ix" => Some(Connectivity::Ix),
            "customer" => Some(Connectivity::Customer),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Connectivity::Transit => "transit",
            Connectivity::Peering => "peering",
            Connectivity::Ix => "ix",
            Connectivity::Customer => "customer",
        }
    }
}

/// Where an interface's entry came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum InterfaceSource {
    /// `[[enrich.interfaces]]` in the config.
    Static,
    /// Learned from the exporter's IPFIX / NetFlow v9 options data (IE 82, 83).
    #[default]
    OptionsData,
    /// Polled over SNMP (ifName, ifAlias, ifHighSpeed).
    Snmp,
}

impl InterfaceSource {
    /// The stored spelling: `static`, `options_data` or `snmp`.
    pub fn as_str(self) -> &'static str {
        match self {
            InterfaceSource::Static => "static",
            InterfaceSource::OptionsData => "options_data",
            InterfaceSource::Snmp => "snmp",
        }
    }
}

/// What is known about one interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterfaceInfo {
    /// Interface name (`Gi0/0/3`).
    pub name: Option<Arc<str>>,
    /// Interface description (`transit: ISP-A`).
    pub description: Option<Arc<str>>,
    /// Speed, Mbit/s.
    pub speed_mbps: Option<u64>,
    /// Boundary, from the static entry or the first matching rule.
    pub boundary: Option<Boundary>,
    /// Provider, from the static entry or the first matching rule.
    pub provider: Option<Arc<str>>,
    /// Connectivity, from the static entry or the first matching rule.
    pub connectivity: Option<Connectivity>,
    /// Where the entry came from.
    pub source: InterfaceSource,
}

/// One piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    Capture(String),
}

/// A value that may take named regex captures: `${group}` is the capture, `$$` a literal `$`,
/// anything else literal text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

impl Template {
    /// Parses a template; the error says what is wrong.
    pub fn parse(s: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            text.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                text.push('$');
                rest = r;
            } else if let Some(r) = after.strip_prefix('{') {
                let end = r
                    .find('}')
                    .ok_or_else(|| format!("{s:?}: `${{` without a closing `}}`"))?;
                let name = &r[..end];
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "{s:?}: `${{{name}}}` is not a capture group name (letters, digits, _)"
                    ));
                }
                if !text.is_empty() {
                    pieces.push(Piece::Text(std::mem::take(&mut text)));
                }
                pieces.push(Piece::Capture(name.to_string()));
                rest = &r[end + 1..];
            } else {
                return Err(format!(
                    "{s:?}: a `$` must start `${{group}}` or be written `$$`"
                ));
            }
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Template { pieces })
    }

    /// The capture group names the template uses.
    pub fn captures(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Capture(n) => Some(n.as_str()),
            Piece::Text(_) => None,
        })
    }

    /// The text when the template uses no capture.
    fn literal(&self) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Capture(_) => return None,
            }
        }
        Some(out)
    }

    /// Fills the template; `None` when a capture it uses did not take part, or the result is
    /// empty.
    fn expand(
        &self,
        description: Option<&Captures<'_>>,
        name: Option<&Captures<'_>>,
    ) -> Option<String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Capture(g) => {
                    let m = description
                        .and_then(|c| c.name(g))
                        .or_else(|| name.and_then(|c| c.name(g)))?;
                    out.push_str(m.as_str());
                }
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// A compiled `[[enrich.interface_rules]]` entry.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The exporter must be inside this prefix.
    pub exporter: Option<Cidr>,
    /// The interface name must match.
    pub name: Option<Regex>,
    /// The interface description must match.
    pub description: Option<Regex>,
    /// Boundary to set.
    pub boundary: Option<Boundary>,
    /// Provider to set.
    pub provider: Option<Template>,
    /// Connectivity to set.
    pub connectivity: Option<Template>,
}

/// The classification a rule gives.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classification {
    /// Boundary.
    pub boundary: Option<Boundary>,
    /// Provider.
    pub provider: Option<Arc<str>>,
    /// Connectivity.
    pub connectivity: Option<Connectivity>,
}

impl Rule {
    fn has_regex(&self) -> bool {
        self.name.is_some() || self.description.is_some()
    }

    /// The classification when the rule matches, `None` otherwise.
    fn apply(
        &self,
        exporter: Ipv6Addr,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Option<Classification> {
        if let Some(p) = &self.exporter
            && !p.contains(exporter)
        {
            return None;
        }
        let name_caps = match &self.name {
            Some(re) => Some(re.captures(name?)?),
            None => None,
        };
        let desc_caps = match &self.description {
            Some(re) => Some(re.captures(description?)?),
            None => None,
        };
        let fill = |t: &Option<Template>| {
            t.as_ref()
                .and_then(|t| t.expand(desc_caps.as_ref(), name_caps.as_ref()))
        };
        Some(Classification {
            boundary: self.boundary,
            provider: fill(&self.provider).map(Arc::from),
            connectivity: fill(&self.connectivity).and_then(|c| Connectivity::parse(&c)),
        })
    }
}

/// The rules, in order.
#[derive(Clone, Debug, Default)]
pub struct Rules {
    rules: Vec<Rule>,
    /// For [`Interfaces::classify_unknown`]: the rules without a regex (a rule with one cannot
    /// match an interface without name or description), in order, with their fixed result.
    fixed: Vec<(Option<Cidr>, Classification)>,
}

impl Rules {
    /// The rules in config order.
    pub fn new(rules: Vec<Rule>) -> Rules {
        let fixed = rules
            .iter()
            .filter(|r| !r.has_regex())
            .map(|r| {
                let lit = |t: &Option<Template>| t.as_ref().and_then(Template::literal);
                (
                    r.exporter,
                    Classification {
                        boundary: r.boundary,
                        provider: lit(&r.provider).filter(|s| !s.is_empty()).map(Arc::from),
                        connectivity: lit(&r.connectivity).and_then(|c| Connectivity::parse(&c)),
                    },
                )
            })
            .collect();
        Rules { rules, fixed }
    }

    /// The classification of the first rule that matches, or the default (nothing set).
    pub fn classify(
        &self,
        exporter: Ipv6Addr,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Classification {
        self.rules
            .iter()
            .find_map(|r| r.apply(exporter, name, description))
            .unwrap_or_default()
    }
}

/// A static `[[enrich.interfaces]]` entry, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaticInterface {
    /// Exporter address, stored form.
    pub exporter: Ipv6Addr,
    /// ifIndex.
    pub if_index: u32,
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Speed, Mbit/s.
    pub speed_mbps: Option<u64>,
    /// Boundary that overrides the rules.
    pub boundary: Option<Boundary>,
    /// Provider that overrides the rules.
    pub provider: Option<String>,
    /// Connectivity that overrides the rules.
    pub connectivity: Option<Connectivity>,
}

/// Interface metadata by (exporter, ifIndex), classification applied. Immutable: learning a name
/// makes a new value.
#[derive(Clone, Debug, Default)]
pub struct Interfaces {
    map: HashMap<(Ipv6Addr, u32), InterfaceInfo, RandomState>,
    statics: Arc<HashMap<(Ipv6Addr, u32), StaticInterface, RandomState>>,
    rules: Arc<Rules>,
}

impl Interfaces {
    /// The map from static entries and rules. Static entries are unique by (exporter, ifIndex)
    /// (checked by `validate`; a later duplicate would replace an earlier one).
    pub fn new(statics: Vec<StaticInterface>, rules: Rules) -> Interfaces {
        let statics: HashMap<_, _, RandomState> = statics
            .into_iter()
            .map(|s| ((s.exporter, s.if_index), s))
            .collect();
        let mut out = Interfaces {
            map: HashMap::with_capacity_and_hasher(statics.len(), RandomState::default()),
            statics: Arc::new(statics),
            rules: Arc::new(rules),
        };
        let keys: Vec<_> = out.statics.keys().copied().collect();
        for k in keys {
            let info = out.resolve(k, None, None, None);
            out.map.insert(k, info);
        }
        out
    }

    /// The entry for a static or learned interface.
    pub fn get(&self, exporter: Ipv6Addr, if_index: u32) -> Option<&InterfaceInfo> {
        self.map.get(&(exporter, if_index))
    }

    /// The classification of an interface nothing is known about: the first rule without a name
    /// or description condition whose exporter matches (no regex runs).
    pub fn classify_unknown(&self, exporter: Ipv6Addr) -> Classification {
        self.rules
            .fixed
            .iter()
            .find(|(p, _)| p.is_none_or(|p| p.contains(exporter)))
            .map(|(_, c)| c.clone())
            .unwrap_or_default()
    }

    /// A new map where (exporter, ifIndex) has the learned name, description and speed (from
    /// options data or SNMP), classified again. A static entry keeps its own values and takes
    /// the learned ones only where it has none. Not for the hot path: it copies the map.
    pub fn learn(
        &self,
        exporter: Ipv6Addr,
        if_index: u32,
        name: Option<&str>,
        description: Option<&str>,
        speed_mbps: Option<u64>,
        source: InterfaceSource,
    ) -> Interfaces {
        let mut out = self.clone();
        out.learn_in_place(exporter, if_index, name, description, speed_mbps, source);
        out
    }

    /// [`Interfaces::learn`] without the copy: true when the entry changed.
    pub(crate) fn learn_in_place(
        &mut self,
        exporter: Ipv6Addr,
        if_index: u32,
        name: Option<&str>,
        description: Option<&str>,
        speed_mbps: Option<u64>,
        source: InterfaceSource,
    ) -> bool {
        // Sources rank static config, then options data, then SNMP: a value from a better
        // source stays when a worse one reports the same interface; a worse one fills gaps.
        let prev = self
            .map
            .get(&(exporter, if_index))
            .filter(|p| p.source != InterfaceSource::Static)
            .cloned();
        let (name, description, speed_mbps, source) = match &prev {
            Some(p)
                if p.source == InterfaceSource::OptionsData && source == InterfaceSource::Snmp =>
            {
                (
                    p.name.as_deref().or(name),
                    p.description.as_deref().or(description),
                    // Options data carries no speed (IE 82 and 83 only): SNMP's is the news.
                    speed_mbps.or(p.speed_mbps),
                    InterfaceSource::OptionsData,
                )
            }
            Some(p) => (
                name.or(p.name.as_deref()),
                description.or(p.description.as_deref()),
                speed_mbps.or(p.speed_mbps),
                source,
            ),
            None => (name, description, speed_mbps, source),
        };
        let mut info = self.resolve((exporter, if_index), name, description, speed_mbps);
        if info.source != InterfaceSource::Static {
            info.source = source;
        }
        if self.map.get(&(exporter, if_index)) == Some(&info) {
            return false;
        }
        self.map.insert((exporter, if_index), info);
        true
    }

    /// Every interface known, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = ((Ipv6Addr, u32), &InterfaceInfo)> {
        self.map.iter().map(|(k, v)| (*k, v))
    }

    /// Number of interfaces known.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when no interface is known.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn resolve(
        &self,
        key: (Ipv6Addr, u32),
        learned_name: Option<&str>,
        learned_description: Option<&str>,
        learned_speed: Option<u64>,
    ) -> InterfaceInfo {
        let st = self.statics.get(&key);
        let name: Option<Arc<str>> = st
            .and_then(|s| s.name.as_deref())
            .or(learned_name)
            .map(Arc::from);
        let description: Option<Arc<str>> = st
            .and_then(|s| s.description.as_deref())
            .or(learned_description)
            .map(Arc::from);
        let c = self
            .rules
            .classify(key.0, name.as_deref(), description.as_deref());
        InterfaceInfo {
            speed_mbps: st.and_then(|s| s.speed_mbps).or(learned_speed),
            boundary: st.and_then(|s| s.boundary).or(c.boundary),
            provider: st
                .and_then(|s| s.provider.as_deref())
                .map(Arc::from)
                .or(c.provider),
            connectivity: st.and_then(|s| s.connectivity).or(c.connectivity),
            source: if st.is_some() {
                InterfaceSource::Static
            } else {
                InterfaceSource::OptionsData
            },
            name,
            description,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn templates_parse_text_captures_and_dollars() {
        let t = Template::parse("a$$b-${x}_${y_2}").unwrap();
        assert_eq!(t.captures().collect::<Vec<_>>(), ["x", "y_2"]);
        assert_eq!(
            Template::parse("plain").unwrap().literal().as_deref(),
            Some("plain")
        );
        assert_eq!(
            Template::parse("$$").unwrap().literal().as_deref(),
            Some("$")
        );
        for bad in ["$", "$x", "${", "${}", "${a-b}", "x${y"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_and_expanding_any_text_never_panics(
            text in "\\PC{0,24}",
            subject in "\\PC{0,24}",
        ) {
            if let Ok(t) = Template::parse(&text) {
                let re = Regex::new("(?P<x>.)(?P<y>.)?").unwrap();
                let caps = re.captures(&subject);
                let _ = t.expand(caps.as_ref(), None);
                let _ = t.literal();
            }
        }
    }
}
