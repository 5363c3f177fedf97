//! The `[enrich]` section: the example file parses and validates, typos and bad values are
//! refused with the key named, and a validated config builds a snapshot that enriches.

mod common;

use std::path::{Path, PathBuf};

use common::addr;
use enrich::{AsSource, Boundary, Connectivity, EnrichConfig, InterfaceSource};

#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct File {
    enrich: EnrichConfig,
}

fn parse(text: &str) -> Result<EnrichConfig, String> {
    toml::from_str::<File>(text)
        .map(|f| f.enrich)
        .map_err(|e| e.to_string())
}

fn example_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/sluice-enrich.toml")
}

fn err(text: &str) -> String {
    match parse(text) {
        Err(e) => e,
        Ok(c) => c.validate().unwrap_err().to_string(),
    }
}

#[test]
fn the_example_file_parses_and_validates() {
    let text = std::fs::read_to_string(example_path()).unwrap();
    let c = parse(&text).unwrap();
    assert_eq!(c.as_source, [AsSource::FlowExceptPrivate, AsSource::Geoip]);
    assert_eq!(c.networks.len(), 3);
    assert_eq!(c.interfaces.len(), 3);
    assert_eq!(c.interface_rules.len(), 3);
    let v = c.validate().unwrap();
    assert_eq!(v.rules.len(), 3);
}

#[test]
fn the_example_builds_and_enriches_with_the_shared_databases() {
    let Some(shared) =
        testkit::shared_dir("the_example_builds_and_enriches_with_the_shared_databases")
    else {
        return;
    };
    let text = std::fs::read_to_string(example_path()).unwrap();
    let mut c = parse(&text).unwrap();
    // The example's paths are relative to the workspace root; point them at SLUICE_SHARED_DIR.
    c.geoip_country = Some(shared.join("corpus/mmdb/GeoLite2-Country-Test.mmdb"));
    c.geoip_asn = Some(shared.join("corpus/mmdb/GeoLite2-ASN-Test.mmdb"));
    let s = c.validate().unwrap().build().unwrap();

    let n = s.network(addr("10.20.1.1")).unwrap();
    assert_eq!(n.name.as_deref(), Some("corp"));
    assert_eq!(n.site.as_deref(), Some("busan"));
    assert_eq!(n.region.as_deref(), Some("apac"));
    assert_eq!(n.tenant.as_deref(), Some("acme"));
    assert_eq!(
        s.network(addr("10.9.1.1")).unwrap().site.as_deref(),
        Some("seoul")
    );
    assert!(s.network(addr("192.168.1.1")).is_none());

    let exporter = addr("192.0.2.1");
    let i = s.interfaces().get(exporter, 3).unwrap();
    assert_eq!(i.name.as_deref(), Some("Gi0/0/3"));
    assert_eq!(i.speed_mbps, Some(10000));
    assert_eq!(i.boundary, Some(Boundary::External));
    assert_eq!(i.provider.as_deref(), Some("ISP-A"));
    assert_eq!(i.connectivity, Some(Connectivity::Transit));
    assert_eq!(i.source, InterfaceSource::Static);
    let i = s.interfaces().get(exporter, 4).unwrap();
    assert_eq!(i.provider.as_deref(), Some("BigCDN"));
    assert_eq!(i.connectivity, Some(Connectivity::Peering));
    let i = s.interfaces().get(exporter, 10).unwrap();
    assert_eq!(i.boundary, Some(Boundary::Internal));
    assert_eq!(i.provider, None);

    assert_eq!(
        s.geoip().country(addr("81.2.69.160")).unwrap().as_str(),
        "GB"
    );
    // flow-except-private, then geoip.
    assert_eq!(s.resolve_as(addr("1.128.0.1"), 64512), 1221);
    assert_eq!(s.resolve_as(addr("1.128.0.1"), 3356), 3356);
    assert_eq!(s.resolve_as(addr("10.0.0.1"), 0), 0);
}

#[test]
fn an_empty_section_is_valid_and_builds_an_empty_snapshot() {
    let c = parse("[enrich]\n").unwrap();
    assert_eq!(c.as_source, [AsSource::Flow, AsSource::Geoip]);
    let s = c.validate().unwrap().build().unwrap();
    assert!(s.networks().is_empty());
    assert!(s.interfaces().is_empty());
    assert_eq!(s.resolve_as(addr("1.1.1.1"), 0), 0);
    assert_eq!(s.resolve_as(addr("1.1.1.1"), 7), 7);
}

#[test]
fn typos_and_unknown_values_are_refused_by_name() {
    let e = err("[enrich]\ngeoip_contry = \"x\"\n");
    assert!(
        e.contains("unknown field") && e.contains("geoip_contry"),
        "{e}"
    );
    let e = err("[enrich]\nas_source = [\"flow\", \"bgp\"]\n");
    assert!(e.contains("unknown variant") && e.contains("bgp"), "{e}");
    let e = err("[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nsite = \"a\"\nzone = \"b\"\n");
    assert!(e.contains("unknown field") && e.contains("zone"), "{e}");
    let e = err("[[enrich.interface_rules]]\nboundary = \"outside\"\n");
    assert!(
        e.contains("unknown variant") && e.contains("outside"),
        "{e}"
    );
    let e = err("[[enrich.interfaces]]\nexporter = \"192.0.2.1\"\nif_index = -1\n");
    assert!(e.contains("if_index"), "{e}");
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&str, &str)] = &[
        ("[enrich]\nas_source = []\n", "enrich.as_source: is empty"),
        (
            "[enrich]\nas_source = [\"geoip\", \"flow\", \"geoip\"]\n",
            "enrich.as_source[2]: geoip is listed twice",
        ),
        ("[enrich]\ngeoip_asn = \"\"\n", "enrich.geoip_asn: is empty"),
        (
            "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\n[[enrich.networks]]\ncidr = \"10.0.0.1/8\"\n",
            "enrich.networks[1].cidr: invalid CIDR \"10.0.0.1/8\": host bits are set",
        ),
        (
            "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\n[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\n",
            "enrich.networks[1].cidr: 10.0.0.0/8 is already given by enrich.networks[0]",
        ),
        (
            "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\n[[enrich.networks]]\ncidr = \"::ffff:10.0.0.0/104\"\n",
            "enrich.networks[1].cidr: ::ffff:10.0.0.0/104 is already given by enrich.networks[0]",
        ),
        (
            "[[enrich.networks]]\ncidr = \"2001:db8::/129\"\n",
            "enrich.networks[0].cidr: invalid CIDR",
        ),
        (
            "[[enrich.networks]]\ncidr = \"10.0.0.0/8\"\nname = \" \"\n",
            "enrich.networks[0].name: is empty",
        ),
        (
            "[[enrich.interfaces]]\nexporter = \"router1\"\nif_index = 1\n",
            "enrich.interfaces[0].exporter: \"router1\" is not an IP address",
        ),
        (
            "[[enrich.interfaces]]\nexporter = \"192.0.2.1\"\nif_index = 3\n\
             [[enrich.interfaces]]\nexporter = \"::ffff:192.0.2.1\"\nif_index = 3\n",
            "enrich.interfaces[1]: exporter ::ffff:192.0.2.1 if_index 3 is already given by enrich.interfaces[0]",
        ),
        (
            "[[enrich.interface_rules]]\nexporter = \"192.0.2.0/33\"\nboundary = \"external\"\n",
            "enrich.interface_rules[0].exporter: invalid CIDR",
        ),
        (
            "[[enrich.interface_rules]]\nname = \"Gi(\"\nboundary = \"external\"\n",
            "enrich.interface_rules[0].name: invalid regex",
        ),
        (
            "[[enrich.interface_rules]]\ndescription = \"[\"\nboundary = \"external\"\n",
            "enrich.interface_rules[0].description: invalid regex",
        ),
        (
            "[[enrich.interface_rules]]\nname = \"^Gi\"\n",
            "enrich.interface_rules[0]: sets nothing",
        ),
        (
            "[[enrich.interface_rules]]\ndescription = \"^t: (?P<isp>.+)\"\nprovider = \"${provider}\"\n",
            "enrich.interface_rules[0].provider: uses ${provider} but neither",
        ),
        (
            "[[enrich.interface_rules]]\nprovider = \"cost $5\"\n",
            "enrich.interface_rules[0].provider: \"cost $5\": a `$` must start",
        ),
        (
            "[[enrich.interface_rules]]\ndescription = \"(?P<p>.+)\"\nprovider = \"${p\"\n",
            "enrich.interface_rules[0].provider: \"${p\": `${` without a closing `}`",
        ),
        (
            "[[enrich.interface_rules]]\nconnectivity = \"upstream\"\n",
            "enrich.interface_rules[0].connectivity: \"upstream\" is not one of transit, peering, ix, customer",
        ),
        (
            "[[enrich.interface_rules]]\nprovider = \"\"\n",
            "enrich.interface_rules[0].provider: is empty",
        ),
    ];
    for (text, want) in cases {
        let e = err(text);
        assert!(e.starts_with(want), "for {text:?}\n got: {e}\nwant: {want}");
    }
}

#[test]
fn a_missing_database_is_an_error_at_build_not_at_validate() {
    let c = parse("[enrich]\ngeoip_country = \"/nonexistent/Country.mmdb\"\n").unwrap();
    let v = c.validate().unwrap();
    let e = v.build().unwrap_err().to_string();
    assert!(
        e.starts_with("enrich.geoip_country: cannot open /nonexistent/Country.mmdb"),
        "{e}"
    );
}

#[test]
fn the_section_renders_as_a_json_schema_with_its_docs() {
    let schema = serde_json::to_string(&schemars::schema_for!(EnrichConfig)).unwrap();
    for key in [
        "geoip_country",
        "geoip_asn",
        "as_source",
        "flow-except-private",
        "interface_rules",
        "speed_mbps",
        "connectivity",
        "first non-zero wins",
    ] {
        assert!(schema.contains(key), "{key} missing from the schema");
    }
}
