//! Enrichment inputs of a realistic size, for benchmarks: a MaxMind-layout country database and
//! an ASN database of about 290,000 networks each (the public GeoLite2 Country and ASN databases
//! hold a few hundred thousand), and an `[enrich]` TOML fragment with 1,000 network prefixes and
//! 1,008 interfaces.
//!
//! The networks cover what `sluice blast`'s traffic model sends (every /24 of 10.0.0.0/8 and
//! 172.16.0.0/12, every /48 of 2001:db8::/32) plus 150,000 other IPv4 /24s, so every lookup walks
//! the tree to a leaf as deep as a real database's. Countries, AS numbers and names are drawn
//! from small fixed lists; they are synthetic, not real assignments.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::Value;

const COUNTRIES: [&str; 16] = [
    "US", "DE", "GB", "FR", "JP", "KR", "BR", "IN", "SE", "NO", "NL", "SG", "AU", "CA", "ZA", "IT",
];
const ORGS: [&str; 8] = [
    "Example Transit",
    "Example Cable",
    "Example Mobile",
    "Example Cloud",
    "Example Hosting",
    "Example University",
    "Example Telecom",
    "Example CDN",
];

/// xorshift64*: deterministic, no dependency (also the benches' generator).
pub struct Rng(pub u64);
impl Rng {
    /// The next value.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn prefixes() -> Vec<String> {
    let mut v4: BTreeSet<u32> = BTreeSet::new();
    for i in 0..65_536u32 {
        v4.insert(0x0A00_0000 | (i << 8));
    }
    for i in 0..4_096u32 {
        v4.insert(0xAC10_0000 | (i << 8));
    }
    let mut rng = Rng(0x5eed_1234);
    let mut extra = 0;
    while extra < 150_000 {
        // 11.0.0.0 to 126.255.255.0: outside the two blocks above and loopback.
        let a = 11 + (rng.next() % 116) as u32;
        let p = (a << 24) | ((rng.next() as u32 & 0xFFFF) << 8);
        if v4.insert(p) {
            extra += 1;
        }
    }
    let mut out: Vec<String> = v4
        .into_iter()
        .map(|p| format!("{}/24", std::net::Ipv4Addr::from(p)))
        .collect();
    for i in 0..65_536u32 {
        out.push(format!("2001:db8:{i:x}::/48"));
    }
    out
}

/// Writes `Country.mmdb`, `ASN.mmdb` and `enrich.toml` into `dir`; returns a one-line summary.
pub fn write_all(dir: &Path) -> String {
    let dir = dir.to_path_buf();
    std::fs::create_dir_all(&dir).expect("creating OUT_DIR");
    let nets = prefixes();
    let country: Vec<(&str, Value)> = nets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let iso = Value::Map(vec![(
                "iso_code",
                Value::Str(COUNTRIES[i % COUNTRIES.len()]),
            )]);
            (p.as_str(), Value::Map(vec![("country", iso)]))
        })
        .collect();
    std::fs::write(
        dir.join("Country.mmdb"),
        super::write("GeoLite2-Country", &country),
    )
    .expect("writing Country.mmdb");
    let asn: Vec<(&str, Value)> = nets
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                p.as_str(),
                Value::Map(vec![
                    (
                        "autonomous_system_number",
                        Value::U32(1 + (i as u32 * 7) % 60_000),
                    ),
                    (
                        "autonomous_system_organization",
                        Value::Str(ORGS[i % ORGS.len()]),
                    ),
                ]),
            )
        })
        .collect();
    std::fs::write(dir.join("ASN.mmdb"), super::write("GeoLite2-ASN", &asn))
        .expect("writing ASN.mmdb");

    // 1,000 networks: 256 /16s of 10.0.0.0/8 with a name, role and site; 628 /20s inside them
    // that set only a site (and inherit the rest); 16 /16s of 172.16.0.0/12; 100 IPv6 /48s.
    // 1,008 interfaces: 63 on each of the 16 exporters `sluice blast` sends from (127.0.0.1-16).
    let mut toml = String::from("[enrich]\n");
    let _ = writeln!(
        toml,
        "geoip_country = \"{}\"",
        dir.join("Country.mmdb").display()
    );
    let _ = writeln!(toml, "geoip_asn = \"{}\"", dir.join("ASN.mmdb").display());
    for x in 0..256u32 {
        let _ = writeln!(
            toml,
            "[[enrich.networks]]\ncidr = \"10.{x}.0.0/16\"\nname = \"net-{x}\"\nrole = \"r{}\"\nsite = \"site-{}\"",
            x % 4,
            x % 32
        );
    }
    for i in 0..628u32 {
        let _ = writeln!(
            toml,
            "[[enrich.networks]]\ncidr = \"10.{}.{}.0/20\"\nsite = \"sub-{i}\"",
            i % 256,
            (i / 256) * 16
        );
    }
    for i in 0..16u32 {
        let _ = writeln!(
            toml,
            "[[enrich.networks]]\ncidr = \"172.{}.0.0/16\"\nname = \"dc-{i}\"",
            16 + i
        );
    }
    for i in 0..100u32 {
        let _ = writeln!(
            toml,
            "[[enrich.networks]]\ncidr = \"2001:db8:{i:x}::/48\"\nname = \"v6-{i}\""
        );
    }
    for e in 1..=16u32 {
        for ifindex in 1..=63u32 {
            let (kind, who) = match ifindex % 4 {
                0 => ("transit", format!("ISP-{}", ifindex % 3)),
                1 => ("peering", format!("IX-{}", ifindex % 5)),
                2 => ("customer", format!("CUST-{ifindex}")),
                _ => ("core", format!("uplink-{ifindex}")),
            };
            let _ = writeln!(
                toml,
                "[[enrich.interfaces]]\nexporter = \"127.0.0.{e}\"\nif_index = {ifindex}\nname = \"et-0/0/{ifindex}\"\ndescription = \"{kind}: {who}\"\nspeed_mbps = 100000"
            );
        }
    }
    let _ = writeln!(
        toml,
        "[[enrich.interface_rules]]\ndescription = '^(?P<kind>transit|peering|ix|customer): (?P<provider>\\S+)'\nboundary = \"external\"\nprovider = \"${{provider}}\"\nconnectivity = \"${{kind}}\""
    );
    std::fs::write(dir.join("enrich.toml"), toml).expect("writing enrich.toml");
    // Open both as sluice will (verify included), and look one address up.
    let g = enrich::GeoIp::open(Some(&dir.join("Country.mmdb")), Some(&dir.join("ASN.mmdb")))
        .expect("the written databases open");
    let a = "10.1.2.3"
        .parse::<std::net::Ipv4Addr>()
        .unwrap()
        .to_ipv6_mapped();
    assert!(
        g.country(a).is_some() && g.asn(a).is_some(),
        "10.1.2.3 is in both"
    );
    format!(
        "{} networks in each database, 1000 [[enrich.networks]] (628 /20s inheriting), 1008 [[enrich.interfaces]], in {}",
        nets.len(),
        dir.display()
    )
}
