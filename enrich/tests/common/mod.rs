//! A minimal MaxMind DB writer for test fixtures (IPinfo-layout databases, databases of unknown
//! type), written from the MaxMind DB format spec (v2.0): a binary search tree of 24-bit records,
//! 16 zero bytes, the data section, then the metadata marker and map. Prefixes must not overlap.

#![allow(dead_code)]

pub mod synth;

use std::net::IpAddr;
use std::path::PathBuf;

/// A data section value.
#[derive(Clone, Debug)]
pub enum Value {
    Str(&'static str),
    U16(u16),
    U32(u32),
    U64(u64),
    Map(Vec<(&'static str, Value)>),
    Array(Vec<Value>),
}

fn control(out: &mut Vec<u8>, ty: u8, size: usize) {
    let (low, extra): (u8, Vec<u8>) = if size < 29 {
        (size as u8, vec![])
    } else if size < 29 + 256 {
        (29, vec![(size - 29) as u8])
    } else if size < 285 + 65536 {
        (30, ((size - 285) as u16).to_be_bytes().to_vec())
    } else {
        (31, ((size - 65821) as u32).to_be_bytes()[1..].to_vec())
    };
    if ty <= 7 {
        out.push((ty << 5) | low);
    } else {
        out.push(low);
        out.push(ty - 7);
    }
    out.extend(extra);
}

fn uint(out: &mut Vec<u8>, ty: u8, v: u64, width: usize) {
    let bytes = v.to_be_bytes();
    let skip = bytes[8 - width..].iter().take_while(|&&b| b == 0).count();
    let b = &bytes[8 - width + skip..];
    control(out, ty, b.len());
    out.extend_from_slice(b);
}

pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Str(s) => {
            control(out, 2, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::U16(n) => uint(out, 5, u64::from(*n), 2),
        Value::U32(n) => uint(out, 6, u64::from(*n), 4),
        Value::U64(n) => uint(out, 9, *n, 8),
        Value::Map(kv) => {
            control(out, 7, kv.len());
            for (k, v) in kv {
                encode(&Value::Str(k), out);
                encode(v, out);
            }
        }
        Value::Array(items) => {
            control(out, 11, items.len());
            for i in items {
                encode(i, out);
            }
        }
    }
}

#[derive(Clone, Copy)]
enum Rec {
    Empty,
    Node(usize),
    Data(usize),
}

/// An IPv6 database (IPv4 networks under `::/96`) of type `database_type` holding `records`.
pub fn write(database_type: &'static str, records: &[(&str, Value)]) -> Vec<u8> {
    write_version(6, database_type, records)
}

/// An IPv4-only database (`ip_version` 4); `records` must be IPv4.
pub fn write_v4(database_type: &'static str, records: &[(&str, Value)]) -> Vec<u8> {
    write_version(4, database_type, records)
}

fn write_version(
    ip_version: u16,
    database_type: &'static str,
    records: &[(&str, Value)],
) -> Vec<u8> {
    let mut nodes: Vec<[Rec; 2]> = vec![[Rec::Empty, Rec::Empty]];
    let mut data = Vec::new();
    // Equal values are stored once, as real databases do (and as the 24-bit records need for a
    // large database: every data offset must fit).
    let mut stored: std::collections::HashMap<Vec<u8>, usize> = std::collections::HashMap::new();
    for (cidr, value) in records {
        let (a, l) = cidr.split_once('/').unwrap();
        let ip: IpAddr = a.parse().unwrap();
        let l: u32 = l.parse().unwrap();
        let (bits, len) = match ip {
            IpAddr::V4(v4) if ip_version == 4 => (u128::from(u32::from(v4)) << 96, l),
            IpAddr::V4(v4) => (u128::from(u32::from(v4)), l + 96),
            IpAddr::V6(v6) => (u128::from(v6), l),
        };
        assert!(len >= 1);
        let mut bytes = Vec::new();
        encode(value, &mut bytes);
        let offset = *stored.entry(bytes).or_insert_with_key(|b| {
            let o = data.len();
            data.extend_from_slice(b);
            o
        });
        let mut node = 0;
        for i in 0..len {
            let b = ((bits >> (127 - i)) & 1) as usize;
            if i == len - 1 {
                nodes[node][b] = Rec::Data(offset);
            } else {
                node = match nodes[node][b] {
                    Rec::Node(n) => n,
                    Rec::Empty => {
                        nodes.push([Rec::Empty, Rec::Empty]);
                        let n = nodes.len() - 1;
                        nodes[node][b] = Rec::Node(n);
                        n
                    }
                    Rec::Data(_) => panic!("overlapping prefixes are not supported"),
                };
            }
        }
    }
    let count = nodes.len();
    let mut out = Vec::new();
    for n in &nodes {
        for r in n {
            let v = match *r {
                Rec::Empty => count,
                Rec::Node(i) => i,
                Rec::Data(off) => count + 16 + off,
            };
            out.extend_from_slice(&(v as u32).to_be_bytes()[1..]);
        }
    }
    out.extend_from_slice(&[0; 16]);
    out.extend_from_slice(&data);
    out.extend_from_slice(b"\xAB\xCD\xEFMaxMind.com");
    encode(
        &Value::Map(vec![
            ("binary_format_major_version", Value::U16(2)),
            ("binary_format_minor_version", Value::U16(0)),
            ("build_epoch", Value::U64(1_700_000_000)),
            ("database_type", Value::Str(database_type)),
            (
                "description",
                Value::Map(vec![("en", Value::Str("sluice test fixture"))]),
            ),
            ("ip_version", Value::U16(ip_version)),
            ("languages", Value::Array(vec![Value::Str("en")])),
            ("node_count", Value::U32(count as u32)),
            ("record_size", Value::U16(24)),
        ]),
        &mut out,
    );
    out
}

/// The shared corpus's MaxMind test databases (`corpus/mmdb`), or `None` after
/// `testkit::missing` (which fails the test unless skipping is allowed).
pub fn mmdb_dir(test: &str) -> Option<PathBuf> {
    let dir = testkit::shared_dir(test)?.join("corpus/mmdb");
    if dir.join("GeoLite2-ASN-Test.mmdb").is_file() {
        return Some(dir);
    }
    testkit::missing(
        test,
        &format!("{} has no GeoLite2 test databases", dir.display()),
    );
    None
}

/// Writes `bytes` to a fresh file under the temp dir and returns its path.
pub fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-enrich-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The stored form of a text address (IPv4-mapped for IPv4).
pub fn addr(s: &str) -> std::net::Ipv6Addr {
    match s.parse::<IpAddr>().unwrap() {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}
