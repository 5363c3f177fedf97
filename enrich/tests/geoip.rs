//! Country and AS from MMDB files: MaxMind's GeoLite2 test databases (shared corpus), IPinfo-layout
//! fixtures written by the test, a database whose layout must be probed, missing and corrupt files.

mod common;

use std::path::PathBuf;

use common::{Value, addr, mmdb_dir, temp_file, write, write_v4};
use enrich::{GeoIp, GeoIpError, Layout};

fn country(g: &GeoIp, a: &str) -> Option<String> {
    g.country(addr(a)).map(|c| c.as_str().to_string())
}

fn asn(g: &GeoIp, a: &str) -> Option<(u32, Option<String>)> {
    g.asn(addr(a))
        .map(|i| (i.number, i.organization.map(String::from)))
}

#[test]
fn maxmind_country_and_city_databases_give_iso_codes() {
    let Some(dir) = mmdb_dir("maxmind_country_and_city_databases_give_iso_codes") else {
        return;
    };
    for file in ["GeoLite2-Country-Test.mmdb", "GeoLite2-City-Test.mmdb"] {
        let g = GeoIp::open(Some(&dir.join(file)), None).unwrap();
        assert_eq!(g.country_layout(), Some(Layout::MaxMind), "{file}");
        for (a, want) in [
            ("81.2.69.160", Some("GB")),
            ("2.125.160.216", Some("GB")),
            ("216.160.83.56", Some("US")),
            ("89.160.20.128", Some("SE")),
            ("2a02:cf40::1", Some("NO")),
            ("10.0.0.1", None),
            ("::1", None),
        ] {
            assert_eq!(country(&g, a).as_deref(), want, "{file} {a}");
        }
        assert_eq!(asn(&g, "81.2.69.160"), None, "no ASN database");
    }
}

#[test]
fn maxmind_asn_database_gives_number_and_organisation() {
    let Some(dir) = mmdb_dir("maxmind_asn_database_gives_number_and_organisation") else {
        return;
    };
    let g = GeoIp::open(None, Some(&dir.join("GeoLite2-ASN-Test.mmdb"))).unwrap();
    assert_eq!(g.asn_layout(), Some(Layout::MaxMind));
    let s = |x: &str| Some(x.to_string());
    assert_eq!(asn(&g, "1.128.0.1"), Some((1221, s("Telstra Pty Ltd"))));
    assert_eq!(asn(&g, "12.81.92.7"), Some((7018, s("AT&T Services"))));
    assert_eq!(asn(&g, "89.160.20.128"), Some((29518, s("Bredband2 AB"))));
    assert_eq!(
        asn(&g, "2600:6000::1"),
        Some((237, s("Merit Network Inc.")))
    );
    // A network with a number and no organisation.
    assert_eq!(asn(&g, "216.160.83.56"), Some((209, None)));
    assert_eq!(asn(&g, "10.0.0.1"), None);
    assert_eq!(country(&g, "81.2.69.160"), None, "no country database");
}

fn ipinfo_fixture(name: &str) -> PathBuf {
    let rec = |c: &'static str, asn: &'static str, as_name: &'static str| {
        Value::Map(vec![
            ("country", Value::Str(c)),
            ("country_name", Value::Str("x")),
            ("continent", Value::Str("EU")),
            ("asn", Value::Str(asn)),
            ("as_name", Value::Str(as_name)),
            ("as_domain", Value::Str("example.net")),
        ])
    };
    let bytes = write(
        "ipinfo country_asn.mmdb",
        &[
            ("198.51.100.0/24", rec("DE", "AS64496", "Example DE")),
            ("203.0.113.0/25", rec("JP", "AS15169", "Google LLC")),
            ("2001:db8:1::/48", rec("KR", "AS4766", "Korea Telecom")),
        ],
    );
    temp_file(name, &bytes)
}

#[test]
fn ipinfo_country_asn_database_is_read_for_both() {
    let p = ipinfo_fixture("ipinfo-country-asn.mmdb");
    let g = GeoIp::open(Some(&p), Some(&p)).unwrap();
    assert_eq!(g.country_layout(), Some(Layout::IpInfo));
    assert_eq!(g.asn_layout(), Some(Layout::IpInfo));
    let s = |x: &str| Some(x.to_string());
    assert_eq!(country(&g, "198.51.100.9").as_deref(), Some("DE"));
    assert_eq!(country(&g, "203.0.113.1").as_deref(), Some("JP"));
    assert_eq!(country(&g, "203.0.113.200"), None);
    assert_eq!(country(&g, "2001:db8:1::5").as_deref(), Some("KR"));
    assert_eq!(asn(&g, "198.51.100.9"), Some((64496, s("Example DE"))));
    assert_eq!(asn(&g, "203.0.113.1"), Some((15169, s("Google LLC"))));
    assert_eq!(asn(&g, "2001:db8:1::5"), Some((4766, s("Korea Telecom"))));
    assert_eq!(asn(&g, "192.0.2.1"), None);
}

#[test]
fn ipinfo_asn_database_names_the_organisation_name() {
    let bytes = write(
        "ipinfo asn.mmdb",
        &[(
            "192.0.2.0/24",
            Value::Map(vec![
                ("asn", Value::Str("AS64500")),
                ("name", Value::Str("Documentation Net")),
                ("domain", Value::Str("example.org")),
                ("route", Value::Str("192.0.2.0/24")),
                ("type", Value::Str("isp")),
            ]),
        )],
    );
    let p = temp_file("ipinfo-asn.mmdb", &bytes);
    let g = GeoIp::open(None, Some(&p)).unwrap();
    assert_eq!(
        asn(&g, "192.0.2.77"),
        Some((64500, Some("Documentation Net".to_string())))
    );
}

#[test]
fn an_unnamed_database_type_is_probed_for_its_layout() {
    let maxmind_like = write(
        "Acme-Country",
        &[(
            "198.51.100.0/24",
            Value::Map(vec![(
                "country",
                Value::Map(vec![
                    ("iso_code", Value::Str("FR")),
                    ("geoname_id", Value::U32(3017382)),
                ]),
            )]),
        )],
    );
    let ipinfo_like = write(
        "Acme-Lite",
        &[(
            "198.51.100.0/24",
            Value::Map(vec![("country", Value::Str("IT"))]),
        )],
    );
    let a = temp_file("acme-maxmind.mmdb", &maxmind_like);
    let g = GeoIp::open(Some(&a), None).unwrap();
    assert_eq!(g.country_layout(), Some(Layout::MaxMind));
    assert_eq!(country(&g, "198.51.100.1").as_deref(), Some("FR"));
    let b = temp_file("acme-ipinfo.mmdb", &ipinfo_like);
    let g = GeoIp::open(Some(&b), None).unwrap();
    assert_eq!(g.country_layout(), Some(Layout::IpInfo));
    assert_eq!(country(&g, "198.51.100.1").as_deref(), Some("IT"));
}

#[test]
fn a_database_without_the_fields_is_refused_naming_the_key() {
    let bytes = write(
        "Acme-Weather",
        &[(
            "198.51.100.0/24",
            Value::Map(vec![("rain_mm", Value::U32(3))]),
        )],
    );
    let p = temp_file("acme-weather.mmdb", &bytes);
    let e = GeoIp::open(None, Some(&p)).unwrap_err();
    assert!(
        matches!(
            e,
            GeoIpError::Layout {
                key: "enrich.geoip_asn",
                ..
            }
        ),
        "{e:?}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("autonomous_system_number") && msg.contains("Acme-Weather"),
        "{msg}"
    );
}

#[test]
fn a_missing_or_corrupt_file_is_an_error_at_open() {
    let e = GeoIp::open(
        Some(std::path::Path::new("/nonexistent/Country.mmdb")),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            GeoIpError::Open {
                key: "enrich.geoip_country",
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("/nonexistent/Country.mmdb"), "{e}");

    let garbage = temp_file("garbage.mmdb", b"this is not a MaxMind database at all");
    let e = GeoIp::open(None, Some(&garbage)).unwrap_err();
    assert!(
        matches!(
            e,
            GeoIpError::Open {
                key: "enrich.geoip_asn",
                ..
            }
        ),
        "{e:?}"
    );

    // A valid database with its search tree damaged: refused by the verification at open.
    let mut bytes = write(
        "ipinfo country.mmdb",
        &[(
            "198.51.100.0/24",
            Value::Map(vec![("country", Value::Str("DE"))]),
        )],
    );
    for b in &mut bytes[0..12] {
        *b = 0xff;
    }
    let p = temp_file("damaged.mmdb", &bytes);
    assert!(GeoIp::open(Some(&p), None).is_err());
}

#[test]
fn truncated_shared_databases_are_refused() {
    let Some(dir) = mmdb_dir("truncated_shared_databases_are_refused") else {
        return;
    };
    let full = std::fs::read(dir.join("GeoLite2-City-Test.mmdb")).unwrap();
    for cut in [0, 10, full.len() / 2, full.len() - 100] {
        let p = temp_file(&format!("city-cut-{cut}.mmdb"), &full[..cut]);
        assert!(GeoIp::open(Some(&p), None).is_err(), "cut at {cut}");
    }
}

#[test]
fn an_ipv4_only_database_answers_ipv4_and_ignores_ipv6() {
    let bytes = write_v4(
        "GeoLite2-Country",
        &[
            (
                "198.51.100.0/24",
                Value::Map(vec![(
                    "country",
                    Value::Map(vec![("iso_code", Value::Str("NL"))]),
                )]),
            ),
            (
                "0.0.0.0/8",
                Value::Map(vec![(
                    "country",
                    Value::Map(vec![("iso_code", Value::Str("ZZ"))]),
                )]),
            ),
        ],
    );
    let p = temp_file("v4-only.mmdb", &bytes);
    let g = GeoIp::open(Some(&p), None).unwrap();
    assert_eq!(country(&g, "198.51.100.20").as_deref(), Some("NL"));
    assert_eq!(country(&g, "0.1.2.3").as_deref(), Some("ZZ"));
    assert_eq!(country(&g, "203.0.113.1"), None);
    // An IPv6 address whose top bits are zero would walk the IPv4 tree if it were looked up.
    assert_eq!(country(&g, "::1"), None);
    assert_eq!(country(&g, "2001:db8::1"), None);
}
