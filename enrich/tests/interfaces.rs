//! Interface classification: rule order, regex captures, exporter CIDRs, static overrides,
//! learned names, and unknown interfaces.

mod common;

use common::addr;
use enrich::{Boundary, Classification, Connectivity, EnrichConfig, InterfaceSource, Interfaces};

#[derive(serde::Deserialize)]
struct File {
    enrich: EnrichConfig,
}

fn interfaces(text: &str) -> Interfaces {
    let c = toml::from_str::<File>(text).unwrap().enrich;
    c.validate().unwrap().build().unwrap().interfaces().clone()
}

const RULES: &str = r#"
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 1
name = "Gi0/0/1"
description = "transit: ISP-A [AS64496]"

[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 2
name = "Gi0/0/2"
description = "ix: SEIX"

[[enrich.interfaces]]
exporter = "198.51.100.1"
if_index = 1
name = "Gi0/0/1"
description = "transit: ISP-B"

[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 3
name = "Te0/0/0"
description = "to core"

[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 4
name = "Gi0/0/4"
description = "transit: ISP-C"
provider = "ISP-C (contract 17)"
boundary = "internal"

[[enrich.interfaces]]
exporter = "2001:db8::1"
if_index = 7
name = "Hu0/0/7"
description = "customer: acme"

# Only for exporters in 198.51.100.0/24: everything there is peering with a fixed provider.
[[enrich.interface_rules]]
exporter = "198.51.100.0/24"
boundary = "external"
provider = "lab"
connectivity = "peering"

[[enrich.interface_rules]]
description = '^(?P<kind>\w+): (?P<provider>[^ ]+)'
boundary = "external"
provider = "${provider}"
connectivity = "${kind}"

# Never reached for the interfaces above that have a description: the rule before matches first.
[[enrich.interface_rules]]
name = '^Gi'
boundary = "internal"
provider = "never"

[[enrich.interface_rules]]
name = '^(?P<speed>Te|Hu)'
boundary = "internal"
provider = "core$$-${speed}"
"#;

#[test]
fn the_first_matching_rule_classifies_with_its_captures() {
    let i = interfaces(RULES);
    let e = addr("192.0.2.1");
    let x = i.get(e, 1).unwrap();
    assert_eq!(x.boundary, Some(Boundary::External));
    assert_eq!(x.provider.as_deref(), Some("ISP-A"));
    assert_eq!(x.connectivity, Some(Connectivity::Transit));
    assert_eq!(x.source, InterfaceSource::Static);
    let x = i.get(e, 2).unwrap();
    assert_eq!(x.provider.as_deref(), Some("SEIX"));
    assert_eq!(x.connectivity, Some(Connectivity::Ix));
    // The description rule does not match "to core"; the `^Gi` rule does not match Te; the last
    // one does, and `$$` is a literal dollar before the capture.
    let x = i.get(e, 3).unwrap();
    assert_eq!(x.boundary, Some(Boundary::Internal));
    assert_eq!(x.provider.as_deref(), Some("core$-Te"));
    assert_eq!(x.connectivity, None);
}

#[test]
fn an_exporter_cidr_rule_comes_first_for_its_exporters_only() {
    let i = interfaces(RULES);
    let x = i.get(addr("198.51.100.1"), 1).unwrap();
    assert_eq!(x.provider.as_deref(), Some("lab"));
    assert_eq!(x.connectivity, Some(Connectivity::Peering));
    // IPv6 exporters are outside an IPv4 CIDR.
    let x = i.get(addr("2001:db8::1"), 7).unwrap();
    assert_eq!(x.provider.as_deref(), Some("acme"));
    assert_eq!(x.connectivity, Some(Connectivity::Customer));
}

#[test]
fn static_classification_wins_field_by_field() {
    let i = interfaces(RULES);
    let x = i.get(addr("192.0.2.1"), 4).unwrap();
    assert_eq!(x.provider.as_deref(), Some("ISP-C (contract 17)"));
    assert_eq!(x.boundary, Some(Boundary::Internal));
    // Not set statically: from the rule.
    assert_eq!(x.connectivity, Some(Connectivity::Transit));
}

#[test]
fn a_captured_connectivity_that_is_not_a_kind_stays_unset() {
    let i = interfaces(
        r#"
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 1
description = "uplink: ISP-A"
[[enrich.interface_rules]]
description = '^(?P<kind>\w+): (?P<provider>\S+)'
boundary = "external"
provider = "${provider}"
connectivity = "${kind}"
"#,
    );
    let x = i.get(addr("192.0.2.1"), 1).unwrap();
    assert_eq!(x.provider.as_deref(), Some("ISP-A"));
    assert_eq!(x.connectivity, None);
}

#[test]
fn a_capture_that_did_not_take_part_leaves_the_field_unset() {
    let i = interfaces(
        r#"
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 1
description = "transit"
[[enrich.interface_rules]]
description = '^transit(: (?P<provider>\S+))?'
boundary = "external"
provider = "${provider}"
connectivity = "transit"
"#,
    );
    let x = i.get(addr("192.0.2.1"), 1).unwrap();
    assert_eq!(x.provider, None);
    assert_eq!(x.boundary, Some(Boundary::External));
    assert_eq!(x.connectivity, Some(Connectivity::Transit));
}

#[test]
fn a_name_capture_is_used_when_the_description_has_none_of_that_name() {
    let i = interfaces(
        r#"
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 1
name = "ae1.isp-b"
description = "external link"
[[enrich.interface_rules]]
name = '\.(?P<provider>[a-z-]+)$'
description = '^external'
boundary = "external"
provider = "${provider}"
"#,
    );
    let x = i.get(addr("192.0.2.1"), 1).unwrap();
    assert_eq!(x.provider.as_deref(), Some("isp-b"));
}

#[test]
fn learned_names_are_classified_and_static_ones_kept() {
    let i = interfaces(RULES);
    let e = addr("192.0.2.1");
    assert!(i.get(e, 99).is_none());
    let learned = i.learn(
        e,
        99,
        Some("Gi0/0/99"),
        Some("peering: CDN-X"),
        Some(1000),
        InterfaceSource::Snmp,
    );
    assert!(i.get(e, 99).is_none(), "learn makes a new map");
    let x = learned.get(e, 99).unwrap();
    assert_eq!(x.source, InterfaceSource::Snmp);
    assert_eq!(x.name.as_deref(), Some("Gi0/0/99"));
    assert_eq!(x.provider.as_deref(), Some("CDN-X"));
    assert_eq!(x.connectivity, Some(Connectivity::Peering));
    // A static entry keeps its own name and description.
    let again = learned.learn(
        e,
        1,
        Some("renamed"),
        Some("peering: other"),
        None,
        InterfaceSource::OptionsData,
    );
    let x = again.get(e, 1).unwrap();
    assert_eq!(x.name.as_deref(), Some("Gi0/0/1"));
    assert_eq!(x.provider.as_deref(), Some("ISP-A"));
    assert_eq!(x.source, InterfaceSource::Static);
    assert_eq!(again.len(), learned.len());
}

#[test]
fn unknown_interfaces_get_the_first_rule_without_a_regex() {
    let i = interfaces(RULES);
    // Matches the exporter-only rule.
    assert_eq!(
        i.classify_unknown(addr("198.51.100.9")),
        Classification {
            boundary: Some(Boundary::External),
            provider: Some("lab".into()),
            connectivity: Some(Connectivity::Peering),
        }
    );
    // Every other rule has a regex: nothing.
    assert_eq!(
        i.classify_unknown(addr("192.0.2.1")),
        Classification::default()
    );
    let i = interfaces(
        "[[enrich.interface_rules]]\nname = \"x\"\nboundary = \"external\"\n\
         [[enrich.interface_rules]]\nboundary = \"internal\"\n",
    );
    assert_eq!(
        i.classify_unknown(addr("192.0.2.1")).boundary,
        Some(Boundary::Internal)
    );
}

#[test]
fn options_data_outranks_snmp_and_snmp_fills_what_options_data_lacks() {
    let i = interfaces(RULES);
    let e = addr("192.0.2.1");
    use InterfaceSource::{OptionsData, Snmp};
    // Options data names ifIndex 50 (no speed); SNMP then reports other text and a speed.
    let a = i.learn(
        e,
        50,
        Some("xe-0/0/50"),
        Some("transit: ISP-Q"),
        None,
        OptionsData,
    );
    let b = a.learn(
        e,
        50,
        Some("ifName-50"),
        Some("alias-50"),
        Some(40_000),
        Snmp,
    );
    let x = b.get(e, 50).unwrap();
    assert_eq!(x.name.as_deref(), Some("xe-0/0/50"));
    assert_eq!(x.description.as_deref(), Some("transit: ISP-Q"));
    assert_eq!(x.speed_mbps, Some(40_000), "SNMP fills the speed");
    assert_eq!(x.source, OptionsData);
    // SNMP first, then options data: options data's text wins, SNMP's speed stays.
    let c = i.learn(
        e,
        51,
        Some("ifName-51"),
        Some("alias-51"),
        Some(1_000),
        Snmp,
    );
    let d = c.learn(e, 51, Some("xe-0/0/51"), None, None, OptionsData);
    let x = d.get(e, 51).unwrap();
    assert_eq!(x.name.as_deref(), Some("xe-0/0/51"));
    assert_eq!(x.description.as_deref(), Some("alias-51"));
    assert_eq!(x.speed_mbps, Some(1_000));
    assert_eq!(x.source, OptionsData);
    // A later SNMP poll renames nothing that options data named, but a new speed is news.
    let f = d.learn(e, 51, Some("other"), Some("other"), Some(2_000), Snmp);
    let x = f.get(e, 51).unwrap();
    assert_eq!(
        (x.name.as_deref(), x.speed_mbps),
        (Some("xe-0/0/51"), Some(2_000))
    );
}
