//! Country and AS by address, from local MMDB files (`maxminddb`).
//!
//! Owns: [`GeoIp`] (the two optional databases, `enrich.geoip_country` and `enrich.geoip_asn`),
//! the choice of record layout per database ([`Layout`]), and [`CountryCode`] / [`AsInfo`].
//!
//! Layouts: **MaxMind** (GeoIP2/GeoLite2 Country and City: `country.iso_code`; GeoIP2/GeoLite2
//! ASN: `autonomous_system_number`, `autonomous_system_organization`) and **IPinfo** (a top-level
//! `country` string; `asn` as text such as `"AS15169"`, and `as_name`, or `name` in IPinfo's ASN
//! databases). The layout is read from the metadata's `database_type` (`GeoIP*`/`GeoLite*`:
//! MaxMind; containing `ipinfo`: IPinfo); any other type is probed: the first records that hold
//! data are decoded both ways and the layout whose fields are there wins. A database in which
//! neither is found is refused at build.
//!
//! Opening reads the whole file into memory and runs `maxminddb`'s `verify` (search tree and data
//! section), so a corrupt file is an error at build, not a surprise on the lookup path.
//! It then decodes each distinct record of the data section once (walking every network), so a
//! lookup is a tree walk and a hash probe by data offset, with no decoding.
//!
//! Must never: do I/O or read the clock after [`GeoIp::open`]; allocate or panic in a lookup
//! (strings are borrowed from the database, lookup errors read as "not found").

use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

use std::collections::HashMap;

use foldhash::fast::RandomState;
use maxminddb::{MaxMindDbError, PathElement, Reader, WithinOptions};

/// A database's record layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// MaxMind GeoIP2 / GeoLite2 (and compatible, e.g. DB-IP lite).
    MaxMind,
    /// IPinfo.
    IpInfo,
}

/// Why a database could not be used.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read, or is not a valid MMDB.
    #[error("{key}: cannot open {path}: {source}")]
    Open {
        /// `enrich.geoip_country` or `enrich.geoip_asn`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// What `maxminddb` said.
        source: MaxMindDbError,
    },
    /// The file is an MMDB but holds neither layout's fields.
    #[error(
        "{key}: {path} (database_type {database_type:?}) has none of the fields expected: {expected}"
    )]
    Layout {
        /// `enrich.geoip_country` or `enrich.geoip_asn`.
        key: &'static str,
        /// The file.
        path: PathBuf,
        /// The metadata's database type.
        database_type: String,
        /// The fields looked for.
        expected: &'static str,
    },
}

/// An ISO 3166-1 alpha-2 country code (two ASCII capital letters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// The code from text; `None` unless it is two ASCII letters (upper-cased).
    pub fn parse(s: &str) -> Option<CountryCode> {
        match s.as_bytes() {
            [a, b] if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() => Some(CountryCode([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
            ])),
            _ => None,
        }
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Always two ASCII letters, see `parse`.
        std::str::from_utf8(&self.0).unwrap_or("")
    }

    /// The two bytes.
    pub fn bytes(&self) -> [u8; 2] {
        self.0
    }
}

/// An autonomous system as a database knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AsInfo<'a> {
    /// AS number (never 0).
    pub number: u32,
    /// Organisation name, borrowed from the database.
    pub organization: Option<&'a str>,
}

struct Db {
    reader: Reader<Vec<u8>>,
    layout: Layout,
    /// The database only has IPv4 networks (`ip_version` 4): IPv6 addresses are not looked up
    /// (the reader would return an error, which allocates).
    v4_only: bool,
    /// Every record of the data section, decoded once at open, by its offset: a lookup walks the
    /// tree and finds its answer here instead of decoding a map (a few hundred ns less per miss
    /// of the enrich stage's cache). Distinct records are few: about 250 countries, some tens
    /// of thousands of AS.
    countries: HashMap<usize, CountryCode, RandomState>,
    asns: HashMap<usize, (u32, Option<Box<str>>), RandomState>,
    /// Whether the maps above are filled (they are from the end of `open` on).
    indexed: bool,
}

impl Db {
    fn lookup(&self, ip: IpAddr) -> Option<maxminddb::LookupResult<'_, Vec<u8>>> {
        if self.v4_only && ip.is_ipv6() {
            return None;
        }
        self.reader.lookup(ip).ok()
    }

    /// Decodes each distinct record once into `countries` (`asn` false) or `asns`.
    fn index(&mut self, asn: bool) {
        let mut countries = HashMap::with_hasher(RandomState::default());
        let mut asns = HashMap::with_hasher(RandomState::default());
        if let Ok(it) = self.reader.networks(WithinOptions::default()) {
            for r in it.flatten() {
                let Some(off) = r.offset() else { continue };
                if asn {
                    if !asns.contains_key(&off)
                        && let Some(info) = decode_asn(self.layout, &r)
                    {
                        asns.insert(off, (info.number, info.organization.map(Box::from)));
                    }
                } else if !countries.contains_key(&off)
                    && let Some(c) = decode_country(self.layout, &r)
                {
                    countries.insert(off, c);
                }
            }
        }
        self.countries = countries;
        self.asns = asns;
        self.indexed = true;
    }
}

/// The GeoIP databases of a snapshot; either may be absent.
#[derive(Default)]
pub struct GeoIp {
    country: Option<Db>,
    asn: Option<Db>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let d = |db: &Option<Db>| {
            db.as_ref()
                .map(|d| (d.reader.metadata.database_type.clone(), d.layout))
        };
        f.debug_struct("GeoIp")
            .field("country", &d(&self.country))
            .field("asn", &d(&self.asn))
            .finish()
    }
}

const COUNTRY_KEY: &str = "enrich.geoip_country";
const ASN_KEY: &str = "enrich.geoip_asn";

fn stored_to_ip(addr: Ipv6Addr) -> IpAddr {
    addr.to_canonical()
}

fn country_of(db: &Db, ip: IpAddr) -> Option<CountryCode> {
    let r = db.lookup(ip)?;
    if db.indexed {
        return db.countries.get(&r.offset()?).copied();
    }
    decode_country(db.layout, &r)
}

fn decode_country(layout: Layout, r: &maxminddb::LookupResult<'_, Vec<u8>>) -> Option<CountryCode> {
    let code: Option<&str> = match layout {
        Layout::MaxMind => r
            .decode_path(&[PathElement::Key("country"), PathElement::Key("iso_code")])
            .ok()?,
        Layout::IpInfo => r.decode_path(&[PathElement::Key("country")]).ok()?,
    };
    CountryCode::parse(code?)
}

/// `AS15169`, `as15169` or `15169`.
fn parse_asn_text(s: &str) -> Option<u32> {
    let digits = s
        .strip_prefix("AS")
        .or_else(|| s.strip_prefix("as"))
        .unwrap_or(s);
    digits.parse().ok()
}

fn asn_of(db: &Db, ip: IpAddr) -> Option<AsInfo<'_>> {
    let r = db.lookup(ip)?;
    if db.indexed {
        let (number, org) = db.asns.get(&r.offset()?)?;
        return Some(AsInfo {
            number: *number,
            organization: org.as_deref(),
        });
    }
    decode_asn(db.layout, &r)
}

fn decode_asn<'a>(layout: Layout, r: &maxminddb::LookupResult<'a, Vec<u8>>) -> Option<AsInfo<'a>> {
    match layout {
        Layout::MaxMind => {
            let number: u32 = r
                .decode_path(&[PathElement::Key("autonomous_system_number")])
                .ok()??;
            let organization: Option<&str> = r
                .decode_path(&[PathElement::Key("autonomous_system_organization")])
                .ok()
                .flatten();
            (number != 0).then_some(AsInfo {
                number,
                organization,
            })
        }
        Layout::IpInfo => {
            let text: &str = r.decode_path(&[PathElement::Key("asn")]).ok()??;
            let number = parse_asn_text(text)?;
            let organization: Option<&str> = r
                .decode_path(&[PathElement::Key("as_name")])
                .ok()
                .flatten()
                .or_else(|| r.decode_path(&[PathElement::Key("name")]).ok().flatten());
            (number != 0).then_some(AsInfo {
                number,
                organization,
            })
        }
    }
}

/// Whether one record, read with the database's current layout, has that layout's fields.
type Probe = fn(&Db, IpAddr) -> bool;

fn open(
    key: &'static str,
    path: &Path,
    probe: Probe,
    expected: &'static str,
) -> Result<Db, GeoIpError> {
    let open_err = |source| GeoIpError::Open {
        key,
        path: path.to_path_buf(),
        source,
    };
    let reader = Reader::open_readfile(path).map_err(open_err)?;
    reader.verify().map_err(open_err)?;
    let t = reader.metadata.database_type.to_ascii_lowercase();
    let named = if t.starts_with("geoip") || t.starts_with("geolite") {
        Some(Layout::MaxMind)
    } else if t.contains("ipinfo") {
        Some(Layout::IpInfo)
    } else {
        None
    };
    let v4_only = reader.metadata.ip_version == 4;
    let mut db = Db {
        reader,
        layout: named.unwrap_or(Layout::MaxMind),
        v4_only,
        countries: HashMap::default(),
        asns: HashMap::default(),
        indexed: false,
    };
    let asn = key == ASN_KEY;
    if named.is_some() {
        db.index(asn);
        return Ok(db);
    }
    // Probe the first records that hold data.
    let addrs: Vec<IpAddr> = match db.reader.networks(WithinOptions::default()) {
        Ok(it) => it
            .filter_map(|r| r.ok()?.network().ok())
            .map(|n| n.ip())
            .take(64)
            .collect(),
        Err(_) => Vec::new(),
    };
    for layout in [Layout::MaxMind, Layout::IpInfo] {
        db.layout = layout;
        if addrs.iter().any(|&a| probe(&db, a)) {
            db.index(asn);
            return Ok(db);
        }
    }
    Err(GeoIpError::Layout {
        key,
        path: path.to_path_buf(),
        database_type: db.reader.metadata.database_type.clone(),
        expected,
    })
}

impl GeoIp {
    /// Opens the databases that are given (reads each file whole and verifies it).
    pub fn open(country: Option<&Path>, asn: Option<&Path>) -> Result<GeoIp, GeoIpError> {
        let country = country
            .map(|p| {
                open(
                    COUNTRY_KEY,
                    p,
                    |d, a| country_of(d, a).is_some(),
                    "country.iso_code (MaxMind) or country (IPinfo)",
                )
            })
            .transpose()?;
        let asn = asn
            .map(|p| {
                open(
                    ASN_KEY,
                    p,
                    |d, a| asn_of(d, a).is_some(),
                    "autonomous_system_number (MaxMind) or asn (IPinfo)",
                )
            })
            .transpose()?;
        Ok(GeoIp { country, asn })
    }

    /// The country of an address (stored form: IPv4-mapped for IPv4); `None` without a country
    /// database or when it does not know the address.
    pub fn country(&self, addr: Ipv6Addr) -> Option<CountryCode> {
        country_of(self.country.as_ref()?, stored_to_ip(addr))
    }

    /// The AS of an address; `None` without an ASN database or when it does not know the address.
    pub fn asn(&self, addr: Ipv6Addr) -> Option<AsInfo<'_>> {
        asn_of(self.asn.as_ref()?, stored_to_ip(addr))
    }

    /// The layout of the country database, when there is one.
    pub fn country_layout(&self) -> Option<Layout> {
        self.country.as_ref().map(|d| d.layout)
    }

    /// The layout of the ASN database, when there is one.
    pub fn asn_layout(&self) -> Option<Layout> {
        self.asn.as_ref().map(|d| d.layout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_asn_text_in_ipinfo_form() {
        assert_eq!(parse_asn_text("AS15169"), Some(15169));
        assert_eq!(parse_asn_text("as64512"), Some(64512));
        assert_eq!(parse_asn_text("15169"), Some(15169));
        assert_eq!(parse_asn_text("AS"), None);
        assert_eq!(parse_asn_text("ASx"), None);
        assert_eq!(parse_asn_text("AS99999999999"), None);
    }

    #[test]
    fn country_codes_are_two_letters() {
        assert_eq!(CountryCode::parse("gb").unwrap().as_str(), "GB");
        assert!(CountryCode::parse("GBR").is_none());
        assert!(CountryCode::parse("1A").is_none());
        assert!(CountryCode::parse("").is_none());
        assert!(CountryCode::parse("é").is_none());
    }
}
