//! The enrich stage over decoded records: ids that resolve through the registry, countries and
//! AS numbers from MaxMind's test databases, the cache giving the same answers as the tables,
//! a reload seen by the next batch, and no record ever dropped or left unchanged in its traffic.

mod common;

use std::sync::Arc;

use collector::{Enrichment, FlowRecord};
use common::{addr, mmdb_dir};
use enrich::{EnrichConfig, Enricher, LearnedInterface, Stage};

#[derive(serde::Deserialize)]
struct File {
    enrich: EnrichConfig,
}

fn config(dir: &std::path::Path, extra: &str) -> EnrichConfig {
    let text = format!(
        r#"[enrich]
geoip_country = "{c}"
geoip_asn = "{a}"
as_source = ["flow-except-private", "geoip"]
[[enrich.networks]]
cidr = "81.2.69.0/24"
name = "uk-office"
role = "branch"
[[enrich.networks]]
cidr = "81.2.69.128/25"
site = "london"
[[enrich.networks]]
cidr = "2001:db8::/32"
name = "lab6"
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 3
name = "Gi0/0/3"
description = "transit: ISP-A"
speed_mbps = 10000
[[enrich.interface_rules]]
description = "^transit: (?P<provider>\\S+)"
boundary = "external"
connectivity = "transit"
provider = "${{provider}}"
{extra}"#,
        c = dir.join("GeoLite2-Country-Test.mmdb").display(),
        a = dir.join("GeoLite2-ASN-Test.mmdb").display(),
    );
    toml::from_str::<File>(&text).unwrap().enrich
}

fn flow(src: &str, dst: &str, src_as: Option<u32>, in_if: u32) -> FlowRecord {
    FlowRecord {
        exporter: addr("192.0.2.1"),
        src_addr: Some(addr(src)),
        dst_addr: Some(addr(dst)),
        src_as,
        in_if: Some(in_if),
        out_if: Some(99),
        bytes: 100,
        packets: 1,
        ..Default::default()
    }
}

#[test]
fn records_get_networks_countries_as_and_interfaces() {
    let Some(dir) = mmdb_dir("records_get_networks_countries_as_and_interfaces") else {
        return;
    };
    let e = Arc::new(Enricher::from_config(&config(&dir, "")).unwrap());
    let mut stage = Stage::new(Arc::clone(&e));
    let mut batch = vec![
        // Private exporter AS: geoip wins; 81.2.69.160 is in the /25 (inherits the /24's name).
        flow("81.2.69.160", "89.160.20.128", Some(64512), 3),
        // Public exporter AS stays; the /24 outside the /25 has no site.
        flow("81.2.69.10", "12.81.92.7", Some(3356), 7),
        // Nothing known about either address.
        flow("10.0.0.1", "2001:db8::5", None, 3),
    ];
    let before = batch.clone();
    stage.enrich(&mut batch);
    let t = e.registry().tables();

    let net = |id: u32| t.net(id).map(|n| n.attrs.clone());
    let n0 = net(batch[0].enrichment.src_net).unwrap();
    assert_eq!(n0.name.as_deref(), Some("uk-office"));
    assert_eq!(n0.role.as_deref(), Some("branch"));
    assert_eq!(n0.site.as_deref(), Some("london"));
    let n1 = net(batch[1].enrichment.src_net).unwrap();
    assert_eq!(n1.name.as_deref(), Some("uk-office"));
    assert_eq!(n1.site, None);
    assert_eq!(
        t.net_name_id(batch[0].enrichment.src_net),
        t.net_name_id(batch[1].enrichment.src_net),
        "two sets with one name share the name id"
    );
    assert_eq!(t.net_name(batch[0].enrichment.src_net_name), "uk-office");
    assert_eq!(
        batch[0].enrichment.src_net_name,
        batch[1].enrichment.src_net_name
    );
    assert_eq!(batch[2].enrichment.src_net, 0);
    assert_eq!(
        t.net_name(t.net_name_id(batch[2].enrichment.dst_net)),
        "lab6"
    );

    let country = |c: &[u8; 2]| Enrichment::country_str(c).to_string();
    assert_eq!(country(&batch[0].enrichment.src_country), "GB");
    assert_eq!(country(&batch[0].enrichment.dst_country), "SE");
    assert_eq!(
        country(&batch[1].enrichment.dst_country),
        "",
        "12.81.92.7 is in the ASN test database only"
    );
    assert_eq!(country(&batch[2].enrichment.src_country), "");

    // 81.2.69.160 has no AS in the ASN test database: private 64512 gives way to nothing.
    assert_eq!(batch[0].src_as, None);
    assert_eq!(batch[0].dst_as, Some(29518));
    assert_eq!(batch[1].src_as, Some(3356));
    assert_eq!(batch[1].dst_as, Some(7018));
    assert_eq!(e.registry().as_name(29518).as_deref(), Some("Bredband2 AB"));
    assert_eq!(e.registry().as_name(7018).as_deref(), Some("AT&T Services"));

    let iface = t.iface(batch[0].enrichment.in_if).unwrap();
    assert_eq!(&*iface.name, "Gi0/0/3");
    assert_eq!(iface.speed_mbps, 10_000);
    assert_eq!(iface.boundary_str(), "external");
    assert_eq!(iface.connectivity_str(), "transit");
    assert_eq!(&*iface.provider, "ISP-A");
    assert_eq!(t.provider(batch[0].enrichment.in_if_provider), "ISP-A");
    assert_eq!(batch[0].enrichment.out_if_provider, 0);
    assert_eq!(batch[1].enrichment.in_if, 0, "ifIndex 7 is unknown");
    assert_eq!(batch[0].enrichment.out_if, 0);

    // Enrichment adds; it never drops a record or changes its traffic.
    assert_eq!(batch.len(), before.len());
    for (a, b) in batch.iter().zip(&before) {
        assert_eq!(
            (a.bytes, a.packets, a.src_addr, a.dst_addr),
            (b.bytes, b.packets, b.src_addr, b.dst_addr)
        );
    }
    assert_eq!(stage.stats().records, 3);
}

#[test]
fn the_cache_answers_as_the_tables_do_and_follows_reloads_and_learning() {
    let Some(dir) = mmdb_dir("the_cache_answers_as_the_tables_do_and_follows_reloads_and_learning")
    else {
        return;
    };
    let cfg = config(&dir, "");
    let e = Arc::new(Enricher::from_config(&cfg).unwrap());
    let mut stage = Stage::new(Arc::clone(&e));
    let addrs = [
        "81.2.69.160",
        "2.125.160.216",
        "216.160.83.56",
        "89.160.20.128",
        "1.128.0.1",
        "2a02:cf40::1",
        "10.9.9.9",
    ];
    let batch: Vec<FlowRecord> = (0..4000)
        .map(|i| {
            flow(
                addrs[i % addrs.len()],
                addrs[(i * 7 + 3) % addrs.len()],
                None,
                3,
            )
        })
        .collect();
    let mut first = batch.clone();
    stage.enrich(&mut first);
    assert!(stage.stats().cache_hits > 7000, "{:?}", stage.stats());
    // A fresh stage (cold cache) answers the same for every record.
    let mut cold = batch.clone();
    Stage::new(Arc::clone(&e)).enrich(&mut cold);
    assert_eq!(first, cold);

    // A reload that renames the network is seen by the next batch, not mixed into one.
    let mut cfg2 = cfg.clone();
    cfg2.networks[0].name = Some("uk-hq".into());
    e.reload(&cfg2).unwrap();
    let mut second = batch.clone();
    stage.enrich(&mut second);
    let t = e.registry().tables();
    assert_eq!(
        t.net_name(t.net_name_id(second[0].enrichment.src_net)),
        "uk-hq"
    );
    assert_eq!(
        t.net_name(t.net_name_id(first[0].enrichment.src_net)),
        "uk-office",
        "an id given out before the reload still means what it meant"
    );

    // A learned interface name is used from the next batch on.
    assert_eq!(second[0].enrichment.out_if, 0);
    let changed = e.learn_interfaces(
        addr("192.0.2.1"),
        &[LearnedInterface {
            if_index: 99,
            name: Some("Te0/1".into()),
            description: Some("transit: ISP-B".into()),
            speed_mbps: Some(100_000),
            ..Default::default()
        }],
    );
    assert_eq!(changed, 1);
    let mut third = batch[..1].to_vec();
    stage.enrich(&mut third);
    let t = e.registry().tables();
    let out = t.iface(third[0].enrichment.out_if).unwrap();
    assert_eq!(
        (&*out.name, &*out.provider, out.speed_mbps),
        ("Te0/1", "ISP-B", 100_000)
    );
    assert_eq!(
        e.learn_interfaces(
            addr("192.0.2.1"),
            &[LearnedInterface {
                if_index: 99,
                name: Some("Te0/1".into()),
                description: Some("transit: ISP-B".into()),
                speed_mbps: Some(100_000),
                ..Default::default()
            }],
        ),
        0,
        "learning the same again changes nothing"
    );
}

#[test]
fn without_databases_or_tables_every_record_passes_with_zeros() {
    let cfg = toml::from_str::<File>("[enrich]\n").unwrap().enrich;
    let e = Arc::new(Enricher::from_config(&cfg).unwrap());
    let mut stage = Stage::new(e);
    let mut batch = vec![flow("81.2.69.160", "10.0.0.1", Some(3356), 3); 100];
    batch.push(FlowRecord::default());
    stage.enrich(&mut batch);
    assert_eq!(batch.len(), 101);
    for r in &batch[..100] {
        assert_eq!(r.enrichment, Enrichment::default());
        assert_eq!(
            r.src_as,
            Some(3356),
            "the default precedence keeps the exporter's AS"
        );
    }
}

#[test]
fn exporter_only_rules_classify_interfaces_nothing_names() {
    let text = r#"[enrich]
[[enrich.interfaces]]
exporter = "192.0.2.1"
if_index = 3
name = "Gi0/0/3"
description = "transit: ISP-A"
[[enrich.interface_rules]]
description = '^transit: (?P<provider>\S+)'
boundary = "external"
provider = "${provider}"
[[enrich.interface_rules]]
exporter = "192.0.2.0/24"
boundary = "internal"
connectivity = "customer"
"#;
    let cfg = toml::from_str::<File>(text).unwrap().enrich;
    let e = Arc::new(Enricher::from_config(&cfg).unwrap());
    let mut stage = Stage::new(Arc::clone(&e));
    let mut batch = vec![
        flow("10.0.0.1", "10.0.0.2", None, 3),
        flow("10.0.0.1", "10.0.0.2", None, 55),
    ];
    let mut other = flow("10.0.0.1", "10.0.0.2", None, 55);
    other.exporter = addr("198.51.100.9");
    batch.push(other);
    stage.enrich(&mut batch);
    let t = e.registry().tables();
    let named = t.iface(batch[0].enrichment.in_if).unwrap();
    assert_eq!(
        (&*named.name, named.boundary_str()),
        ("Gi0/0/3", "external")
    );
    // ifIndex 55 and out_if 99 of 192.0.2.1: unnamed, classified by the exporter-only rule.
    for id in [
        batch[1].enrichment.in_if,
        batch[1].enrichment.out_if,
        batch[0].enrichment.out_if,
    ] {
        let x = t
            .iface(id)
            .expect("an entry for an unnamed interface of 192.0.2.1");
        assert_eq!(
            (&*x.name, x.boundary_str(), x.connectivity_str()),
            ("", "internal", "customer")
        );
    }
    // An exporter no rule covers: nothing.
    assert_eq!(batch[2].enrichment.in_if, 0);
    // The same classification is one registry entry, whatever the number of batches.
    let n = t.ifaces_len();
    let mut again = batch.clone();
    Stage::new(Arc::clone(&e)).enrich(&mut again);
    assert_eq!(e.registry().tables().ifaces_len(), n);
    assert_eq!(again, batch);
}
