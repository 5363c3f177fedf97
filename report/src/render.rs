//! Text renderings of a [`Report`]: an aligned terminal table with human units, CSV and JSON with
//! raw numbers, and the JSON summary a scheduled report posts to its webhook.
//!
//! Owns: number formatting, which the HTML page uses too (SI units: `12.3 Mb/s`, `4.5 k pkt/s`, `1.2 GB`, `%`), CSV quoting (RFC
//! 4180), the JSON shape. Must never: do I/O.

use serde_json::{Map, Value as Json, json};

use crate::names::rfc3339;
use crate::{Column, Report, Row, Unit, Value};

/// A number with an SI prefix (k, M, G, T, P), three significant digits.
pub fn si(v: f64) -> String {
    let a = v.abs();
    let (d, p) = if a >= 1e15 {
        (1e15, "P")
    } else if a >= 1e12 {
        (1e12, "T")
    } else if a >= 1e9 {
        (1e9, "G")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e3 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    let num = if (p.is_empty() && x.fract() == 0.0) || x.abs() >= 100.0 {
        format!("{x:.0}")
    } else if x.abs() >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    };
    if p.is_empty() {
        num
    } else {
        format!("{num} {p}")
    }
}

fn with_unit(n: String, unit: &str) -> String {
    // "1.2 M" + "b/s" -> "1.2 Mb/s"; "12" + "b/s" -> "12 b/s".
    if n.ends_with(|c: char| c.is_ascii_alphabetic()) {
        format!("{n}{unit}")
    } else {
        format!("{n} {unit}")
    }
}

/// A cell for humans.
pub fn human(v: &Value, unit: Unit) -> String {
    match v {
        Value::Null => "-".into(),
        Value::Text(s) => s.clone(),
        _ => {
            let x = v.as_f64().unwrap_or(0.0);
            match unit {
                Unit::Text | Unit::Id => match v {
                    Value::UInt(u) => u.to_string(),
                    Value::Int(i) => i.to_string(),
                    _ => format!("{x}"),
                },
                Unit::Count => si(x),
                Unit::Bytes => with_unit(si(x), "B"),
                Unit::Packets => format!("{} pkt", si(x)),
                Unit::Bps => with_unit(si(x), "b/s"),
                Unit::Pps => format!("{} pkt/s", si(x)),
                Unit::PerSec => with_unit(si(x), "/s"),
                Unit::Percent => format!("{x:.1} %"),
                Unit::Time => rfc3339(x as i64).replace('T', " ").replace('Z', ""),
                Unit::Millis => format!("{} ms", x as i64),
                Unit::Seconds => format!("{x:.1} s"),
            }
        }
    }
}

/// Raw text of a cell (CSV).
pub fn raw(v: &Value, unit: Unit) -> String {
    match v {
        Value::Null => String::new(),
        Value::Text(s) => s.clone(),
        Value::UInt(u) => u.to_string(),
        Value::Int(i) if unit == Unit::Time => rfc3339(*i),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 {
                format!("{f:.0}")
            } else {
                format!("{f:.6}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            }
        }
    }
}

fn right_aligned(unit: Unit) -> bool {
    !matches!(unit, Unit::Text | Unit::Time)
}

/// Strip control characters so a hostile string cannot drive the terminal.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The header lines: title, range, filters, source.
fn header(r: &Report) -> Vec<String> {
    let mut h = vec![
        printable(&r.title),
        format!(
            "{} .. {} ({}), generated {}",
            rfc3339(r.range.from),
            rfc3339(r.range.to),
            span(r.range.secs()),
            rfc3339(r.generated_at)
        ),
    ];
    if !r.filters.is_empty() {
        h.push(format!(
            "filters: {}",
            r.filters
                .iter()
                .map(|(k, v)| format!("{k}={}", printable(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    h.push(format!("source: {}", r.source));
    h
}

/// A duration as `1h`, `7d`, `90m`.
pub fn span(secs: i64) -> String {
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else if secs % 60 == 0 {
        format!("{}m", secs / 60)
    } else {
        format!("{secs}s")
    }
}

/// The terminal table.
pub fn table(r: &Report) -> String {
    let cells: Vec<Vec<String>> = r
        .rows
        .iter()
        .map(|row| {
            row.cells
                .iter()
                .zip(&r.columns)
                .map(|(v, c)| printable(&human(v, c.unit)))
                .collect()
        })
        .collect();
    let widths: Vec<usize> = r
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|row| row.get(i).map_or(0, |s| s.chars().count()))
                .chain([c.title.chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |vals: &mut dyn Iterator<Item = (usize, &str)>| {
        let mut s = String::new();
        for (i, v) in vals {
            if i > 0 {
                s.push_str("  ");
            }
            let pad = widths[i].saturating_sub(v.chars().count());
            if right_aligned(r.columns[i].unit) {
                s.push_str(&" ".repeat(pad));
                s.push_str(v);
            } else {
                s.push_str(v);
                s.push_str(&" ".repeat(pad));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = header(r).join("\n");
    out.push_str("\n\n");
    out.push_str(&line(
        &mut r
            .columns
            .iter()
            .enumerate()
            .map(|(i, c)| (i, c.title.as_str())),
    ));
    out.push('\n');
    out.push_str(&line(&mut widths.iter().enumerate().map(|(i, w)| {
        (
            i,
            &"----------------------------------------------------------------"[..(*w).min(64)],
        )
    })));
    out.push('\n');
    for row in &cells {
        out.push_str(&line(
            &mut row.iter().enumerate().map(|(i, s)| (i, s.as_str())),
        ));
        out.push('\n');
    }
    if r.rows.is_empty() {
        out.push_str("(no data in the range)\n");
    }
    if let Some(t) = r.totals {
        out.push_str(&format!(
            "\ntotal: {} ({}), {} pkt, {} flows\n",
            with_unit(si(t.bytes as f64), "B"),
            with_unit(si(t.bytes as f64 * 8.0 / r.range.secs() as f64), "b/s"),
            si(t.packets as f64),
            si(t.flows as f64)
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {n}\n"));
    }
    out
}

fn csv_field(s: &str) -> String {
    // Neutralise spreadsheet formulas, then quote per RFC 4180.
    let s = if s.starts_with(['=', '+', '@']) || (s.starts_with('-') && s.parse::<f64>().is_err()) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// CSV: a header of column keys, then one line per row (the "other" row included), raw numbers.
pub fn csv(r: &Report) -> String {
    let mut out = r
        .columns
        .iter()
        .map(|c| csv_field(&c.key))
        .collect::<Vec<_>>()
        .join(",");
    out.push_str("\r\n");
    for row in &r.rows {
        out.push_str(
            &row.cells
                .iter()
                .zip(&r.columns)
                .map(|(v, c)| csv_field(&raw(v, c.unit)))
                .collect::<Vec<_>>()
                .join(","),
        );
        out.push_str("\r\n");
    }
    out
}

fn json_cell(v: &Value, unit: Unit) -> Json {
    match v {
        Value::Null => Json::Null,
        Value::Text(s) => json!(s),
        Value::UInt(u) => json!(u),
        Value::Int(i) if unit == Unit::Time => json!(rfc3339(*i)),
        Value::Int(i) => json!(i),
        Value::Float(f) => json!(f),
    }
}

/// One row as an object keyed by column key, with `"other": true` on the other row.
pub fn row_object(columns: &[Column], row: &Row) -> Json {
    let mut m = Map::new();
    for (v, c) in row.cells.iter().zip(columns) {
        m.insert(c.key.clone(), json_cell(v, c.unit));
    }
    if row.other {
        m.insert("other".into(), json!(true));
    }
    Json::Object(m)
}

/// The whole report as JSON.
pub fn json_value(r: &Report) -> Json {
    json!({
        "report": r.kind.as_str(),
        "title": r.title,
        "from": rfc3339(r.range.from),
        "to": rfc3339(r.range.to),
        "generated_at": rfc3339(r.generated_at),
        "filters": r.filters.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>(),
        "source": r.source,
        "columns": r.columns.iter().map(|c| json!({"key": c.key, "title": c.title})).collect::<Vec<_>>(),
        "rows": r.rows.iter().map(|row| row_object(&r.columns, row)).collect::<Vec<_>>(),
        "totals": r.totals.map(|t| json!({"bytes": t.bytes, "packets": t.packets, "flows": t.flows})),
        "notes": r.notes,
    })
}

/// The webhook summary: the first 5 rows (not "other"), totals and the files written.
pub fn summary(r: &Report, name: &str, files: &[String]) -> Json {
    json!({
        "name": name,
        "report": r.kind.as_str(),
        "title": r.title,
        "from": rfc3339(r.range.from),
        "to": rfc3339(r.range.to),
        "generated_at": rfc3339(r.generated_at),
        "totals": r.totals.map(|t| json!({"bytes": t.bytes, "packets": t.packets, "flows": t.flows})),
        "top": r.rows.iter().filter(|x| !x.other).take(5).map(|row| row_object(&r.columns, row)).collect::<Vec<_>>(),
        "files": files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_units_read_naturally() {
        assert_eq!(human(&Value::Float(12_345_678.0), Unit::Bps), "12.3 Mb/s");
        assert_eq!(human(&Value::Float(4_500.0), Unit::Pps), "4.50 k pkt/s");
        assert_eq!(human(&Value::UInt(999), Unit::Bytes), "999 B");
        assert_eq!(human(&Value::Float(12.345), Unit::Percent), "12.3 %");
        assert_eq!(human(&Value::Null, Unit::Bps), "-");
        assert_eq!(human(&Value::Int(0), Unit::Time), "1970-01-01 00:00:00");
    }

    #[test]
    fn csv_quotes_and_defuses_formulas() {
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"x\""), "\"say \"\"x\"\"\"");
        assert_eq!(csv_field("=cmd()"), "'=cmd()");
        assert_eq!(csv_field("-5"), "-5");
    }
}
