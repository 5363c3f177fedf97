//! The AS precedence and the snapshot swap: reload replaces the snapshot whole, a failed reload
//! keeps the old one and is counted, readers holding a snapshot keep it.

mod common;

use common::{Value, addr, temp_file, write};
use enrich::{AsSource, EnrichConfig, Enricher, LearnedInterface, is_private_as, resolve_as};

use AsSource::{Flow, FlowExceptPrivate, Geoip};

#[test]
fn flow_takes_the_exporters_as_when_non_zero() {
    assert_eq!(resolve_as(&[Flow], 3356, 15169), 3356);
    assert_eq!(resolve_as(&[Flow], 0, 15169), 0);
    assert_eq!(resolve_as(&[Flow], 64512, 15169), 64512);
    assert_eq!(resolve_as(&[Flow, Geoip], 0, 15169), 15169);
}

#[test]
fn flow_except_private_skips_private_reserved_and_as_trans() {
    for private in [
        64512,
        65000,
        65534,
        65535,
        4_200_000_000,
        4_294_967_294,
        4_294_967_295,
        23456,
    ] {
        assert!(is_private_as(private), "{private}");
        assert_eq!(resolve_as(&[FlowExceptPrivate], private, 0), 0, "{private}");
        assert_eq!(
            resolve_as(&[FlowExceptPrivate, Geoip], private, 15169),
            15169,
            "{private}"
        );
    }
    for public in [1, 3356, 23455, 23457, 64511, 65536, 4_199_999_999] {
        assert!(!is_private_as(public), "{public}");
        assert_eq!(
            resolve_as(&[FlowExceptPrivate, Geoip], public, 15169),
            public,
            "{public}"
        );
    }
    assert_eq!(resolve_as(&[FlowExceptPrivate, Geoip], 0, 15169), 15169);
}

#[test]
fn geoip_first_and_nothing_gives_zero() {
    assert_eq!(resolve_as(&[Geoip, Flow], 3356, 15169), 15169);
    assert_eq!(resolve_as(&[Geoip, Flow], 3356, 0), 3356);
    assert_eq!(resolve_as(&[Geoip], 3356, 0), 0);
    assert_eq!(resolve_as(&[], 3356, 15169), 0);
    assert_eq!(resolve_as(&[Flow, FlowExceptPrivate, Geoip], 0, 0), 0);
}

#[derive(serde::Deserialize)]
struct File {
    enrich: EnrichConfig,
}

fn config(text: &str) -> EnrichConfig {
    toml::from_str::<File>(text).unwrap().enrich
}

#[test]
fn the_snapshot_resolves_as_through_its_asn_database() {
    let db = write(
        "ipinfo asn.mmdb",
        &[(
            "203.0.113.0/24",
            Value::Map(vec![
                ("asn", Value::Str("AS15169")),
                ("name", Value::Str("G")),
            ]),
        )],
    );
    let p = temp_file("snapshot-asn.mmdb", &db);
    let e = Enricher::from_config(&config(&format!(
        "[enrich]\ngeoip_asn = {:?}\nas_source = [\"flow-except-private\", \"geoip\"]\n",
        p.display().to_string()
    )))
    .unwrap();
    let s = e.snapshot();
    assert_eq!(s.resolve_as(addr("203.0.113.5"), 65001), 15169);
    assert_eq!(s.resolve_as(addr("203.0.113.5"), 3356), 3356);
    assert_eq!(s.resolve_as(addr("198.51.100.5"), 65001), 0);
}

#[test]
fn reload_swaps_the_snapshot_and_readers_keep_theirs() {
    let e = Enricher::from_config(&config(
        "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \"old\"\n",
    ))
    .unwrap();
    let held = e.snapshot_arc();
    e.reload(&config(
        "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \"new\"\n",
    ))
    .unwrap();
    assert_eq!(
        e.snapshot()
            .network(addr("10.1.1.1"))
            .unwrap()
            .name
            .as_deref(),
        Some("new")
    );
    assert_eq!(
        held.network(addr("10.1.1.1")).unwrap().name.as_deref(),
        Some("old")
    );
    assert_eq!(e.reload_errors(), 0);
}

#[test]
fn a_failed_reload_keeps_the_old_snapshot_and_is_counted() {
    let e = Enricher::from_config(&config(
        "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \"old\"\n",
    ))
    .unwrap();
    // Invalid config.
    let err = e
        .reload(&config("[[enrich.networks]]\ncidr = \"10.0.0.1/8\"\n"))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("enrich.networks[0].cidr"),
        "{err}"
    );
    // Valid config, missing database.
    let err = e
        .reload(&config(
            "[enrich]\ngeoip_asn = \"/nonexistent/ASN.mmdb\"\n[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \"new\"\n",
        ))
        .unwrap_err();
    assert!(
        err.to_string().starts_with("enrich.geoip_asn: cannot open"),
        "{err}"
    );
    assert_eq!(e.reload_errors(), 2);
    assert_eq!(
        e.snapshot()
            .network(addr("10.1.1.1"))
            .unwrap()
            .name
            .as_deref(),
        Some("old")
    );
}

#[test]
fn a_learned_interface_is_swapped_in_and_shares_the_rest() {
    let e = Enricher::from_config(&config(
        "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \"corp\"\n\
         [[enrich.interface_rules]]\ndescription = '^transit: (?P<p>\\S+)'\nprovider = \"${p}\"\nboundary = \"external\"\n",
    ))
    .unwrap();
    let before = e.snapshot_arc();
    e.learn_interfaces(
        addr("192.0.2.1"),
        &[LearnedInterface {
            if_index: 5,
            name: Some("Gi5".into()),
            description: Some("transit: ISP-Z".into()),
            speed_mbps: None,
            ..Default::default()
        }],
    );
    let after = e.snapshot_arc();
    assert!(before.interfaces().get(addr("192.0.2.1"), 5).is_none());
    let x = after.interfaces().get(addr("192.0.2.1"), 5).unwrap();
    assert_eq!(x.provider.as_deref(), Some("ISP-Z"));
    assert!(std::ptr::eq(before.networks(), after.networks()));
    assert!(std::ptr::eq(before.geoip(), after.geoip()));
}
