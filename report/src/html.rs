//! The HTML rendering of a [`Report`]: one self-contained page (no external assets, no script),
//! with an inline SVG chart (bars for a top N, a stacked area chart for a time series), the table
//! under it, the title, time range, filters and generation time, and print CSS.
//!
//! Owns: the page layout, chart geometry and HTML escaping. Every string that comes from data or
//! parameters goes through [`escape`]. A Content-Security-Policy meta tag forbids loading anything.
//! Must never: do I/O or emit a URL to anything outside the page.

use std::fmt::Write as _;

use crate::names::rfc3339;
use crate::render::{human, raw, span};
use crate::{Chart, Report, Series, Unit, Value};

/// Escape text for HTML element content and quoted attribute values.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => o.push('\u{FFFD}'),
            c => o.push(c),
        }
    }
    o
}

/// Series colours (colour-blind friendly, print well).
const PALETTE: [&str; 8] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f",
];

const CSS: &str = r#"
:root { color-scheme: light; }
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
       color: #1d2330; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 22px; margin: 0 0 6px; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 8px 0 16px;
          color: #44506a; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; }
figure { margin: 0 0 18px; }
svg { max-width: 100%; height: auto; font: 11px system-ui, "DejaVu Sans", sans-serif; }
svg .axis { stroke: #8a94a8; stroke-width: 1; }
svg .grid { stroke: #e3e7ee; stroke-width: 1; }
svg text { fill: #2b3345; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 8px; border-bottom: 1px solid #e3e7ee; text-align: left; white-space: nowrap; }
th { background: #f3f5f9; font-weight: 600; }
td.num, th.num { text-align: right; }
tr.other td { color: #5d6780; font-style: italic; }
p.note { color: #5d6780; font-size: 12px; margin: 6px 0; }
p.empty { color: #a33; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  figure, tr { break-inside: avoid; }
  th { background: #eee !important; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  @page { margin: 12mm; }
}
"#;

/// The whole page.
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    let title = format!(
        "{} — {} to {}",
        r.title,
        rfc3339(r.range.from),
        rfc3339(r.range.to)
    );
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{}</title>\n<style>{CSS}</style>\n</head>\n<body>\n",
        escape(&title)
    );
    let _ = writeln!(o, "<h1>{}</h1>", escape(&r.title));
    o.push_str("<dl class=\"meta\">\n");
    let mut meta = |k: &str, v: String| {
        let _ = writeln!(o, "<dt>{}</dt><dd>{}</dd>", escape(k), escape(&v));
    };
    meta(
        "Range",
        format!(
            "{} to {} ({})",
            rfc3339(r.range.from),
            rfc3339(r.range.to),
            span(r.range.secs())
        ),
    );
    meta(
        "Filters",
        if r.filters.is_empty() {
            "none".into()
        } else {
            r.filters
                .iter()
                .map(|(k, v)| format!("{k} = {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        },
    );
    if let Some(t) = r.totals {
        meta(
            "Total",
            format!(
                "{}, {}, {} flows, {} average",
                human(&Value::UInt(t.bytes), Unit::Bytes),
                human(&Value::UInt(t.packets), Unit::Packets),
                human(&Value::UInt(t.flows), Unit::Count),
                human(
                    &Value::Float(t.bytes as f64 * 8.0 / r.range.secs() as f64),
                    Unit::Bps
                )
            ),
        );
    }
    meta("Source", r.source.clone());
    meta("Generated", rfc3339(r.generated_at));
    o.push_str("</dl>\n");
    match &r.chart {
        Chart::None => {}
        Chart::Bars { labels, values } => bars(&mut o, r, labels, values),
        Chart::Stacked {
            buckets,
            series,
            unit,
        } => stacked(&mut o, buckets, series, *unit),
    }
    table(&mut o, r);
    for n in &r.notes {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", escape(n));
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn table(o: &mut String, r: &Report) {
    if r.rows.is_empty() {
        o.push_str("<p class=\"empty\">No data in the range.</p>\n");
    }
    o.push_str("<table>\n<thead><tr>");
    for c in &r.columns {
        let cls = if is_num(c.unit) { " class=\"num\"" } else { "" };
        let _ = write!(o, "<th{cls}>{}</th>", escape(&c.title));
    }
    o.push_str("</tr></thead>\n<tbody>\n");
    for row in &r.rows {
        o.push_str(if row.other {
            "<tr class=\"other\">"
        } else {
            "<tr>"
        });
        for (v, c) in row.cells.iter().zip(&r.columns) {
            let cls = if is_num(c.unit) { " class=\"num\"" } else { "" };
            let _ = write!(
                o,
                "<td{cls} title=\"{}\">{}</td>",
                escape(&raw(v, c.unit)),
                escape(&human(v, c.unit))
            );
        }
        o.push_str("</tr>\n");
    }
    o.push_str("</tbody>\n</table>\n");
}

fn is_num(u: Unit) -> bool {
    !matches!(u, Unit::Text | Unit::Time)
}

/// Most bars in a chart.
const MAX_BARS: usize = 30;

fn bars(o: &mut String, r: &Report, labels: &[usize], values: &[usize]) {
    if values.is_empty() {
        return;
    }
    let unit = |c: usize| r.columns.get(c).map_or(Unit::Count, |c| c.unit);
    // (label, one value per bar column)
    let mut items: Vec<(String, Vec<f64>)> = r
        .rows
        .iter()
        .filter(|x| !x.other)
        .map(|x| {
            let label = labels
                .iter()
                .filter_map(|i| x.cells.get(*i))
                .map(|v| human(v, Unit::Text))
                .collect::<Vec<_>>()
                .join(" → ");
            let vs = values
                .iter()
                .map(|c| x.cells.get(*c).and_then(Value::as_f64).unwrap_or(0.0))
                .collect();
            (label, vs)
        })
        .collect();
    if items.is_empty() {
        return;
    }
    // A chart of the largest values only; the table keeps every row.
    if items.len() > MAX_BARS {
        let peak = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
        items.sort_by(|a, b| peak(&b.1).total_cmp(&peak(&a.1)));
        items.truncate(MAX_BARS);
    }
    let k = values.len() as f64;
    let (w, label_w, top) = (900.0, 300.0, if values.len() > 1 { 26.0 } else { 8.0 });
    let row_h = if values.len() > 1 {
        14.0 * k + 8.0
    } else {
        22.0
    };
    let h = top + 8.0 + row_h * items.len() as f64;
    let max = items
        .iter()
        .flat_map(|i| i.1.iter().copied())
        .fold(0.0, f64::max)
        .max(1e-9);
    let bar_w = w - label_w - 110.0;
    let what = values
        .iter()
        .filter_map(|c| r.columns.get(*c))
        .map(|c| c.title.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        o,
        "<figure><svg class=\"chart bars\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"{}\">",
        escape(&format!("{} by {what}", r.title))
    );
    if values.len() > 1 {
        let mut lx = label_w;
        for (j, c) in values.iter().enumerate() {
            let title = r.columns.get(*c).map_or("", |c| c.title.as_str());
            let _ = writeln!(
                o,
                "<rect class=\"legend\" x=\"{lx:.1}\" y=\"4\" width=\"12\" height=\"12\" fill=\"{}\"/>\
                 <text x=\"{:.1}\" y=\"14\">{}</text>",
                PALETTE[j % PALETTE.len()],
                lx + 16.0,
                escape(title)
            );
            lx += 16.0 + 8.0 * title.chars().count() as f64 + 18.0;
        }
    }
    for (i, (label, vs)) in items.iter().enumerate() {
        let y = top + row_h * i as f64;
        let short: String = if label.chars().count() > 44 {
            label.chars().take(43).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + row_h / 2.0 + 4.0,
            escape(&short),
        );
        let bh = (row_h - 6.0) / k;
        for (j, v) in vs.iter().enumerate() {
            let by = y + 3.0 + bh * j as f64;
            let bw = (v / max * bar_w).max(if *v > 0.0 { 1.0 } else { 0.0 });
            let text = human(&Value::Float(*v), unit(values[j]));
            let cls = if j == 0 { "bar" } else { "bar second" };
            let _ = writeln!(
                o,
                "<rect class=\"{cls}\" x=\"{label_w}\" y=\"{by:.1}\" width=\"{bw:.1}\" height=\"{:.1}\" fill=\"{}\">\
                 <title>{}: {}</title></rect>\
                 <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                (bh - 1.0).max(1.0),
                PALETTE[j % PALETTE.len()],
                escape(label),
                escape(&text),
                label_w + bw + 6.0,
                by + bh / 2.0 + 4.0,
                escape(&text),
            );
        }
    }
    o.push_str("</svg></figure>\n");
}

fn stacked(o: &mut String, buckets: &[i64], series: &[Series], unit: Unit) {
    let n = buckets.len();
    if n == 0 || series.is_empty() {
        return;
    }
    let (w, h) = (900.0, 340.0);
    let (left, right, top, bottom) = (80.0, 20.0, 12.0, 70.0);
    let pw = w - left - right;
    let ph = h - top - bottom;
    let mut cum = vec![vec![0.0f64; n]; series.len() + 1];
    for (i, s) in series.iter().enumerate() {
        let (below, above) = cum.split_at_mut(i + 1);
        for (j, slot) in above[0].iter_mut().enumerate() {
            *slot = below[i][j] + s.values.get(j).copied().unwrap_or(0.0).max(0.0);
        }
    }
    let max = cum[series.len()].iter().copied().fold(0.0, f64::max);
    let max = if max > 0.0 { nice_ceiling(max) } else { 1.0 };
    let x = |j: usize| {
        if n == 1 {
            left + pw / 2.0
        } else {
            left + pw * j as f64 / (n - 1) as f64
        }
    };
    let y = |v: f64| top + ph - v / max * ph;
    let _ = writeln!(
        o,
        "<figure><svg class=\"chart stacked\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
         viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"stacked time series\">"
    );
    for k in 0..=4 {
        let v = max * f64::from(k) / 4.0;
        let yy = y(v);
        let _ = writeln!(
            o,
            "<line class=\"grid\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{yy:.1}\" y2=\"{yy:.1}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left + pw,
            left - 6.0,
            yy + 4.0,
            escape(&human(&Value::Float(v), unit))
        );
    }
    for (i, s) in series.iter().enumerate() {
        let mut d = String::new();
        for (j, v) in cum[i + 1].iter().enumerate() {
            let _ = write!(
                d,
                "{}{:.1},{:.1} ",
                if j == 0 { "M" } else { "L" },
                x(j),
                y(*v)
            );
        }
        for j in (0..n).rev() {
            let _ = write!(d, "L{:.1},{:.1} ", x(j), y(cum[i][j]));
        }
        d.push('Z');
        let _ = writeln!(
            o,
            "<path class=\"series\" d=\"{d}\" fill=\"{}\" fill-opacity=\"0.85\" stroke=\"{}\" stroke-width=\"0.5\">\
             <title>{}</title></path>",
            PALETTE[i % PALETTE.len()],
            PALETTE[i % PALETTE.len()],
            escape(&s.name)
        );
    }
    let _ = writeln!(
        o,
        "<line class=\"axis\" x1=\"{left}\" x2=\"{:.1}\" y1=\"{:.1}\" y2=\"{:.1}\"/>\
         <line class=\"axis\" x1=\"{left}\" x2=\"{left}\" y1=\"{top}\" y2=\"{:.1}\"/>",
        left + pw,
        top + ph,
        top + ph,
        top + ph
    );
    let ticks = 6.min(n);
    for k in 0..ticks {
        let j = if ticks == 1 {
            0
        } else {
            k * (n - 1) / (ticks - 1)
        };
        let t = rfc3339(buckets[j]);
        let anchor = if ticks > 1 && k == 0 {
            "start"
        } else if ticks > 1 && k == ticks - 1 {
            "end"
        } else {
            "middle"
        };
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            x(j),
            top + ph + 16.0,
            escape(&t[5..16].replace('T', " "))
        );
    }
    let mut lx = left;
    for (i, s) in series.iter().enumerate() {
        let _ = writeln!(
            o,
            "<rect class=\"legend\" x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            h - 30.0,
            PALETTE[i % PALETTE.len()],
            lx + 16.0,
            h - 20.0,
            escape(&s.name)
        );
        lx += 16.0 + 8.0 * s.name.chars().count().min(24) as f64 + 18.0;
    }
    o.push_str("</svg></figure>\n");
}

/// 1, 2 or 5 times a power of ten, at least `v`.
fn nice_ceiling(v: f64) -> f64 {
    let p = 10f64.powf(v.log10().floor());
    for m in [1.0, 2.0, 5.0, 10.0] {
        if m * p >= v {
            return m * p;
        }
    }
    10.0 * p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x')</script>&\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"
        );
    }

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        assert_eq!(nice_ceiling(4e6), 5e6);
    }
}
