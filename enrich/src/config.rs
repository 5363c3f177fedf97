//! The `[enrich]` section: what the config file says, and the validated form a snapshot is built
//! from.
//!
//! Owns: [`EnrichConfig`] and its parts (serde, `deny_unknown_fields`, a doc comment on every
//! field), [`EnrichConfig::validate`], which checks every value (CIDRs, addresses, regexes,
//! templates and the capture groups they use, duplicates) and returns a [`ValidatedEnrichConfig`]
//! whose errors name the key (`enrich.networks[2].cidr`), and [`ValidatedEnrichConfig::build`],
//! which opens the GeoIP databases and builds a [`Snapshot`].
//!
//! Must never: do I/O in `validate` (the MMDB paths are only checked for being non-empty; opening
//! them is `build`'s work).

use std::net::IpAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::geoip::{GeoIp, GeoIpError};
use crate::interfaces::{
    Boundary, Connectivity, Interfaces, Rule, Rules, StaticInterface, Template,
};
use crate::networks::{Cidr, NetworkAttrs, Networks};
use crate::{AsSource, Snapshot};

/// The `[enrich]` section of the sluice config.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrichConfig {
    /// MMDB file with countries: MaxMind GeoIP2/GeoLite2 Country or City (`country.iso_code`), or
    /// an IPinfo database with a top-level `country` field. Unset: no country enrichment.
    #[serde(default)]
    pub geoip_country: Option<PathBuf>,
    /// MMDB file with AS numbers: MaxMind GeoIP2/GeoLite2 ASN (`autonomous_system_number`,
    /// `autonomous_system_organization`), or an IPinfo database (`asn` such as `"AS15169"`, and
    /// `as_name` or `name`). Unset: no AS from GeoIP.
    #[serde(default)]
    pub geoip_asn: Option<PathBuf>,
    /// Where a flow's source and destination AS come from, in order; the first non-zero wins.
    /// `flow`: the AS the exporter sent; `flow-except-private`: the same unless it is private or
    /// reserved (64512-65535, 4200000000-4294967295, 23456 AS_TRANS); `geoip`: `geoip_asn`
    /// (0 when it is not set or does not know the address).
    #[serde(default = "default_as_source")]
    pub as_source: Vec<AsSource>,
    /// Networks: attributes by prefix. A more specific prefix inherits every attribute it does not
    /// set from the prefixes enclosing it.
    #[serde(default)]
    pub networks: Vec<NetworkConfig>,
    /// Static interface metadata, one entry per (exporter, if_index).
    #[serde(default)]
    pub interfaces: Vec<InterfaceConfig>,
    /// Interface classification rules; the first rule that matches an interface classifies it.
    #[serde(default)]
    pub interface_rules: Vec<InterfaceRuleConfig>,
    /// The SNMP interface poller (`[enrich.snmp]`): ifName, ifAlias and ifHighSpeed per
    /// (exporter, ifIndex) from the exporters' agents. Unset: no polling.
    #[serde(default)]
    pub snmp: Option<crate::snmp::SnmpConfig>,
}

fn default_as_source() -> Vec<AsSource> {
    vec![AsSource::Flow, AsSource::Geoip]
}

/// One `[[enrich.networks]]` entry.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    /// The prefix, IPv4 or IPv6 (`10.0.0.0/8`, `2001:db8::/32`); host bits must be zero. IPv4
    /// addresses are looked up in their IPv4-mapped form (`::ffff:0:0/96`), so an IPv6 prefix that
    /// covers that range (`::/0`, `::/1`...) covers every IPv4 address too.
    pub cidr: String,
    /// Network name.
    #[serde(default)]
    pub name: Option<String>,
    /// Role (free text: `internal`, `dmz`, `customer`...).
    #[serde(default)]
    pub role: Option<String>,
    /// Site.
    #[serde(default)]
    pub site: Option<String>,
    /// Region.
    #[serde(default)]
    pub region: Option<String>,
    /// Tenant.
    #[serde(default)]
    pub tenant: Option<String>,
}

/// One `[[enrich.interfaces]]` entry: what is known about one interface of one exporter.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceConfig {
    /// The exporter's address (as the collector sees it: the datagram's source).
    pub exporter: String,
    /// The interface's ifIndex (as in the flows' input and output interface fields).
    pub if_index: u32,
    /// Interface name (`Gi0/0/3`).
    #[serde(default)]
    pub name: Option<String>,
    /// Interface description (`transit: ISP-A`); classification rules may match it.
    #[serde(default)]
    pub description: Option<String>,
    /// Speed, Mbit/s.
    #[serde(default)]
    pub speed_mbps: Option<u64>,
    /// Boundary, overriding what the rules say.
    #[serde(default)]
    pub boundary: Option<Boundary>,
    /// Provider, overriding what the rules say.
    #[serde(default)]
    pub provider: Option<String>,
    /// Connectivity, overriding what the rules say.
    #[serde(default)]
    pub connectivity: Option<Connectivity>,
}

/// One `[[enrich.interface_rules]]` entry. Every condition given must match; a rule without a
/// condition matches every interface. `provider` and `connectivity` may use `${group}`, a named
/// capture group of `description` (looked up first) or `name`; `$$` is a literal `$`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct InterfaceRuleConfig {
    /// Condition: the exporter's address is inside this CIDR.
    #[serde(default)]
    pub exporter: Option<String>,
    /// Condition: the interface name matches this regex (Rust `regex` syntax, unanchored).
    #[serde(default)]
    pub name: Option<String>,
    /// Condition: the interface description matches this regex (unanchored), e.g.
    /// `^transit: (?P<provider>\S+)`.
    #[serde(default)]
    pub description: Option<String>,
    /// Sets the boundary: `external` or `internal`.
    #[serde(default)]
    pub boundary: Option<Boundary>,
    /// Sets the provider: text, or a template such as `"${provider}"`.
    #[serde(default)]
    pub provider: Option<String>,
    /// Sets the connectivity: `transit`, `peering`, `ix` or `customer`, or a template such as
    /// `"${kind}"` (a captured value that is none of the four leaves it unset).
    #[serde(default)]
    pub connectivity: Option<String>,
}

/// A config value that cannot work; the message names the key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct ConfigError {
    /// The key, e.g. `enrich.networks[2].cidr`.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

fn invalid(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// An [`EnrichConfig`] whose values were checked and compiled (prefixes parsed, regexes
/// compiled); [`ValidatedEnrichConfig::build`] opens the databases.
#[derive(Clone, Debug)]
pub struct ValidatedEnrichConfig {
    /// Country database path.
    pub geoip_country: Option<PathBuf>,
    /// ASN database path.
    pub geoip_asn: Option<PathBuf>,
    /// AS source precedence.
    pub as_source: Vec<AsSource>,
    /// Prefixes and their own attributes.
    pub networks: Vec<(Cidr, NetworkAttrs)>,
    /// Static interface entries.
    pub interfaces: Vec<StaticInterface>,
    /// Classification rules, in order.
    pub rules: Vec<Rule>,
}

fn opt_text(key: &str, v: &Option<String>) -> Result<Option<std::sync::Arc<str>>, ConfigError> {
    match v {
        Some(s) if s.trim().is_empty() => Err(invalid(key, "is empty (leave it out instead)")),
        Some(s) => Ok(Some(std::sync::Arc::from(s.as_str()))),
        None => Ok(None),
    }
}

fn regex(key: &str, v: &Option<String>) -> Result<Option<regex::Regex>, ConfigError> {
    v.as_deref()
        .map(|r| regex::Regex::new(r).map_err(|e| invalid(key, format!("invalid regex: {e}"))))
        .transpose()
}

impl EnrichConfig {
    /// Checks every value and compiles prefixes and regexes. Does no I/O.
    pub fn validate(&self) -> Result<ValidatedEnrichConfig, ConfigError> {
        for (key, p) in [
            ("enrich.geoip_country", &self.geoip_country),
            ("enrich.geoip_asn", &self.geoip_asn),
        ] {
            if p.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                return Err(invalid(key, "is empty (leave it out to turn it off)"));
            }
        }
        if self.as_source.is_empty() {
            return Err(invalid(
                "enrich.as_source",
                "is empty: list at least one of flow, flow-except-private, geoip",
            ));
        }
        for (i, s) in self.as_source.iter().enumerate() {
            if self.as_source[..i].contains(s) {
                return Err(invalid(
                    format!("enrich.as_source[{i}]"),
                    format!("{} is listed twice", s.as_str()),
                ));
            }
        }
        let mut networks = Vec::with_capacity(self.networks.len());
        let mut seen = std::collections::HashMap::new();
        for (i, n) in self.networks.iter().enumerate() {
            let key = format!("enrich.networks[{i}]");
            let prefix: Cidr = n.cidr.parse().map_err(|e: crate::networks::CidrError| {
                invalid(format!("{key}.cidr"), e.to_string())
            })?;
            // Keyed by the stored form: 10.0.0.0/8 and ::ffff:10.0.0.0/104 are the same prefix.
            if let Some(j) = seen.insert((prefix.first(), prefix.stored_len()), i) {
                return Err(invalid(
                    format!("{key}.cidr"),
                    format!("{prefix} is already given by enrich.networks[{j}]"),
                ));
            }
            networks.push((
                prefix,
                NetworkAttrs {
                    name: opt_text(&format!("{key}.name"), &n.name)?,
                    role: opt_text(&format!("{key}.role"), &n.role)?,
                    site: opt_text(&format!("{key}.site"), &n.site)?,
                    region: opt_text(&format!("{key}.region"), &n.region)?,
                    tenant: opt_text(&format!("{key}.tenant"), &n.tenant)?,
                },
            ));
        }

        let mut interfaces = Vec::with_capacity(self.interfaces.len());
        let mut seen = std::collections::HashMap::new();
        for (i, f) in self.interfaces.iter().enumerate() {
            let key = format!("enrich.interfaces[{i}]");
            let ip: IpAddr = f.exporter.trim().parse().map_err(|_| {
                invalid(
                    format!("{key}.exporter"),
                    format!("{:?} is not an IP address", f.exporter),
                )
            })?;
            let exporter = match ip {
                IpAddr::V4(a) => a.to_ipv6_mapped(),
                IpAddr::V6(a) => a,
            };
            if let Some(j) = seen.insert((exporter, f.if_index), i) {
                return Err(invalid(
                    key,
                    format!(
                        "exporter {ip} if_index {} is already given by enrich.interfaces[{j}]",
                        f.if_index
                    ),
                ));
            }
            for (field, v) in [
                ("name", &f.name),
                ("description", &f.description),
                ("provider", &f.provider),
            ] {
                opt_text(&format!("{key}.{field}"), v)?;
            }
            interfaces.push(StaticInterface {
                exporter,
                if_index: f.if_index,
                name: f.name.clone(),
                description: f.description.clone(),
                speed_mbps: f.speed_mbps,
                boundary: f.boundary,
                provider: f.provider.clone(),
                connectivity: f.connectivity,
            });
        }

        let mut rules = Vec::with_capacity(self.interface_rules.len());
        for (i, r) in self.interface_rules.iter().enumerate() {
            let key = format!("enrich.interface_rules[{i}]");
            let exporter = r
                .exporter
                .as_deref()
                .map(|c| {
                    c.parse::<Cidr>()
                        .map_err(|e| invalid(format!("{key}.exporter"), e.to_string()))
                })
                .transpose()?;
            let name = regex(&format!("{key}.name"), &r.name)?;
            let description = regex(&format!("{key}.description"), &r.description)?;
            if r.boundary.is_none() && r.provider.is_none() && r.connectivity.is_none() {
                return Err(invalid(
                    key,
                    "sets nothing: give boundary, provider or connectivity",
                ));
            }
            let groups: Vec<&str> = name
                .iter()
                .chain(description.iter())
                .flat_map(|re| re.capture_names().flatten())
                .collect();
            let template = |field: &str, v: &Option<String>| -> Result<_, ConfigError> {
                let fkey = format!("{key}.{field}");
                let Some(text) = v else { return Ok(None) };
                let t = Template::parse(text).map_err(|e| invalid(&fkey, e))?;
                for g in t.captures() {
                    if !groups.contains(&g) {
                        return Err(invalid(
                            &fkey,
                            format!(
                                "uses ${{{g}}} but neither the rule's name nor description regex \
                                 has a capture group named {g}"
                            ),
                        ));
                    }
                }
                Ok(Some(t))
            };
            opt_text(&format!("{key}.provider"), &r.provider)?;
            let provider = template("provider", &r.provider)?;
            let connectivity = template("connectivity", &r.connectivity)?;
            if let Some(t) = &connectivity
                && t.captures().next().is_none()
            {
                let text = r.connectivity.as_deref().unwrap_or_default();
                let literal = text.replace("$$", "$");
                if Connectivity::parse(&literal).is_none() {
                    return Err(invalid(
                        format!("{key}.connectivity"),
                        format!("{text:?} is not one of transit, peering, ix, customer"),
                    ));
                }
            }
            rules.push(Rule {
                exporter,
                name,
                description,
                boundary: r.boundary,
                provider,
                connectivity,
            });
        }

        if let Some(snmp) = &self.snmp {
            snmp.validate()?;
        }

        Ok(ValidatedEnrichConfig {
            geoip_country: self.geoip_country.clone(),
            geoip_asn: self.geoip_asn.clone(),
            as_source: self.as_source.clone(),
            networks,
            interfaces,
            rules,
        })
    }
}

/// Why a snapshot could not be built from a validated config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A GeoIP database could not be opened or is not usable.
    #[error(transparent)]
    GeoIp(#[from] GeoIpError),
    /// The networks table could not be built (not reachable after `validate`).
    #[error("enrich.networks: {0}")]
    Networks(#[from] crate::networks::NetworksError),
}

impl ValidatedEnrichConfig {
    /// Opens the GeoIP databases (reads the files) and builds the lookup tables.
    pub fn build(&self) -> Result<Snapshot, BuildError> {
        let geoip = GeoIp::open(self.geoip_country.as_deref(), self.geoip_asn.as_deref())?;
        let networks = Networks::build(self.networks.iter().cloned())?;
        let interfaces = Interfaces::new(self.interfaces.clone(), Rules::new(self.rules.clone()));
        Ok(Snapshot {
            networks: std::sync::Arc::new(networks),
            interfaces,
            geoip: std::sync::Arc::new(geoip),
            as_source: self.as_source.clone(),
            net_ids: Vec::new(),
            if_ids: Default::default(),
        })
    }
}
