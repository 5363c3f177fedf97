//! The collector's own per-exporter counters, read from its Prometheus text exposition, for the
//! exporters report: decode errors and the clock skew of the last datagram are collector metrics,
//! not ClickHouse rows.
//!
//! Owns: parsing the text format (only what the exporters report needs: samples of
//! `sluice_exporter_decode_errors_total` summed over `kind`, and `sluice_exporter_clock_skew_seconds`,
//! by the `exporter` label) and adding those columns to an exporters [`Report`]. Must never: do
//! I/O (the caller fetches the text).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use super::{Column, Report, ReportKind, Unit, Value};

/// Per-exporter values from the collector, keyed by address (IPv4 as IPv4-mapped).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExporterMetrics {
    /// Decode errors since the collector started, all kinds.
    pub decode_errors: BTreeMap<Ipv6Addr, f64>,
    /// Export time minus receive time of the last datagram, seconds.
    pub clock_skew_secs: BTreeMap<Ipv6Addr, f64>,
}

fn key(s: &str) -> Option<Ipv6Addr> {
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V4(v4) => Some(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => Some(v6),
    }
}

/// Labels of a sample (`{a="x",b="y"}`), with `\"`, `\\` and `\n` escapes.
fn labels(s: &str) -> Option<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut it = s.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            it.next();
        }
        if it.peek().is_none() {
            return Some(out);
        }
        let name: String = std::iter::from_fn(|| it.next_if(|c| *c != '=')).collect();
        it.next()?; // '='
        if it.next()? != '"' {
            return None;
        }
        let mut v = String::new();
        loop {
            match it.next()? {
                '\\' => match it.next()? {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                '"' => break,
                c => v.push(c),
            }
        }
        out.insert(name.trim().to_string(), v);
    }
}

/// Parse a Prometheus text exposition; lines that are not samples of the two metrics are ignored.
pub fn parse_prometheus(text: &str) -> ExporterMetrics {
    let mut m = ExporterMetrics::default();
    for line in text.lines() {
        let line = line.trim();
        let (name, rest) = match line.find('{') {
            Some(i) => (&line[..i], &line[i..]),
            None => continue,
        };
        let wanted = name == "sluice_exporter_decode_errors_total"
            || name == "sluice_exporter_clock_skew_seconds";
        if !wanted {
            continue;
        }
        let Some(end) = rest.rfind('}') else { continue };
        let Some(l) = labels(&rest[1..end]) else {
            continue;
        };
        let Some(v) = rest[end + 1..]
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let Some(e) = l.get("exporter").and_then(|e| key(e)) else {
            continue;
        };
        if name == "sluice_exporter_decode_errors_total" {
            *m.decode_errors.entry(e).or_default() += v;
        } else {
            m.clock_skew_secs.insert(e, v);
        }
    }
    m
}

/// Add `decode_errors` and `collector_clock_skew_s` columns to an exporters report.
pub fn add_exporter_metrics(r: &mut Report, m: &ExporterMetrics) {
    if r.kind != ReportKind::Exporters {
        return;
    }
    let Some(ec) = r.column("exporter") else {
        return;
    };
    r.columns
        .push(Column::new("decode_errors", "Decode errors", Unit::Count));
    r.columns.push(Column::new(
        "collector_clock_skew_s",
        "Skew (last datagram)",
        Unit::Seconds,
    ));
    for row in &mut r.rows {
        let addr = match &row.cells[ec] {
            Value::Text(t) => key(t),
            _ => None,
        };
        let de = addr
            .and_then(|a| m.decode_errors.get(&a))
            .map_or(Value::Null, |v| Value::UInt(*v as u64));
        let sk = addr
            .and_then(|a| m.clock_skew_secs.get(&a))
            .map_or(Value::Null, |v| Value::Float(*v));
        row.cells.push(de);
        row.cells.push(sk);
    }
    r.notes.push(
        "Decode errors (since the collector started) and skew (export time - receive time of the \
         last datagram) come from the collector's metrics."
            .into(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_decode_errors_over_kinds_by_exporter() {
        let text = "# HELP sluice_exporter_decode_errors_total x\n\
            # TYPE sluice_exporter_decode_errors_total counter\n\
            sluice_exporter_decode_errors_total{exporter=\"192.0.2.1\",kind=\"truncated\"} 3\n\
            sluice_exporter_decode_errors_total{kind=\"bad_length\",exporter=\"192.0.2.1\"} 4\n\
            sluice_exporter_decode_errors_total{exporter=\"2001:db8::1\",kind=\"bad\\\"x\"} 1\n\
            sluice_exporter_clock_skew_seconds{exporter=\"192.0.2.1\"} -1.5\n\
            sluice_exporter_records_total{exporter=\"192.0.2.1\"} 99\n\
            garbage{exporter=\"192.0.2.1\" 5\n\
            sluice_exporter_decode_errors_total{exporter=\"not an ip\"} 5\n";
        let m = parse_prometheus(text);
        let e1 = key("192.0.2.1").unwrap();
        assert_eq!(m.decode_errors[&e1], 7.0);
        assert_eq!(m.decode_errors[&key("2001:db8::1").unwrap()], 1.0);
        assert_eq!(m.decode_errors.len(), 2);
        assert_eq!(m.clock_skew_secs[&e1], -1.5);
    }
}
