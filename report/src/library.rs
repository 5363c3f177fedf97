//! The SQL library: the `sql/*.sql` files of the repository, compiled in with `include_str!` so
//! the library in the repo is exactly what runs.
//!
//! Owns: splitting a file into named queries (`-- @query NAME` lines), the placeholder expansion for
//! the table a query reads ([`Source`]: raw `flows` or a rollup; the only text ever put into SQL,
//! chosen from a fixed set), and binding values in order with a check that the number of `?` marks
//! equals the number of values. Must never: put a caller's string into SQL text; every value is
//! bound with the `clickhouse` crate's `?` binding, which quotes and escapes it.

use clickhouse::Client;
use clickhouse::query::Query;

use crate::ReportError;
use crate::fields::{Field, FieldType};
use crate::filter::{AddrType, FilterExpr, addr_compare};

/// One file of the library.
#[derive(Clone, Copy, Debug)]
pub struct SqlFile {
    /// File name under `reports/`.
    pub file: &'static str,
    /// The whole file.
    pub text: &'static str,
}

/// Every file of the library, in the order of the report kinds.
pub const LIBRARY: &[SqlFile] = &[
    SqlFile {
        file: "top_talkers.sql",
        text: include_str!("../sql/top_talkers.sql"),
    },
    SqlFile {
        file: "top_apps.sql",
        text: include_str!("../sql/top_apps.sql"),
    },
    SqlFile {
        file: "protocols.sql",
        text: include_str!("../sql/protocols.sql"),
    },
    SqlFile {
        file: "traffic.sql",
        text: include_str!("../sql/traffic.sql"),
    },
    SqlFile {
        file: "interfaces.sql",
        text: include_str!("../sql/interfaces.sql"),
    },
    SqlFile {
        file: "matrix.sql",
        text: include_str!("../sql/matrix.sql"),
    },
    SqlFile {
        file: "exporters.sql",
        text: include_str!("../sql/exporters.sql"),
    },
    SqlFile {
        file: "enriched.sql",
        text: include_str!("../sql/enriched.sql"),
    },
    SqlFile {
        file: "live.sql",
        text: include_str!("../sql/live.sql"),
    },
    SqlFile {
        file: "explore.sql",
        text: include_str!("../sql/explore.sql"),
    },
];

/// The named queries of a file: (name, SQL text after the marker line, comments included).
pub fn queries(text: &str) -> Vec<(&str, &str)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("-- @query ") {
        let after = &rest[at + "-- @query ".len()..];
        let line_end = after.find('\n').unwrap_or(after.len());
        let name = after[..line_end].trim();
        let body_start = (line_end + 1).min(after.len());
        let body = &after[body_start..];
        let end = body.find("-- @query ").unwrap_or(body.len());
        out.push((name, body[..end].trim()));
        rest = &body[end..];
    }
    out
}

/// The query `name` of library file `file`.
pub fn query_text(file: &str, name: &str) -> Result<&'static str, ReportError> {
    let f = LIBRARY
        .iter()
        .find(|f| f.file == file)
        .ok_or_else(|| ReportError::Internal(format!("no SQL file {file}")))?;
    queries(f.text)
        .into_iter()
        .find(|(n, _)| *n == name)
        .map(|(_, q)| q)
        .ok_or_else(|| ReportError::Internal(format!("no query {name} in {file}")))
}

/// Which table a flow-totals query reads. Each variant fills the placeholders `{table}`, `{ts}`,
/// `{bytes}`, `{packets}` and `{flows}`, and `{enrich_table}`: the same grain among the
/// enrichment rollups (`flows_enrich_5m`, `flows_enrich_1h`: traffic by country, network name and
/// interface provider; raw `flows` for [`Source::Raw`]), whose value columns have the same names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    /// Raw `flows`.
    Raw,
    /// The 5-minute rollup `flows_5m`.
    Rollup5m,
    /// The 1-hour rollup `flows_1h`.
    Rollup1h,
    /// What `flows_5m` holds for `[from, to)`, read from both rollups: the whole hours
    /// `[hour_from, hour_to)` from `flows_1h` and only the partial hours at the edges,
    /// `[from, hour_from)` and `[hour_to, to)`, from `flows_5m`. Exact: a 5-minute bucket never
    /// straddles an hour, and an hour's row of `flows_1h` is the sum of its twelve `flows_5m`
    /// rows (both views are filled by the same insert into `flows`). Build it with
    /// [`Source::hour_split`]. `{table}` becomes a `UNION ALL` subquery with six bind marks of
    /// its own, whose values [`bound`] inserts; the queries' text does not change.
    HourSplit {
        /// Start of the range (Unix seconds).
        from: i64,
        /// End of the range, exclusive.
        to: i64,
    },
}

impl Source {
    /// The split of `[from, to)` when it holds at least one whole hour; `None` otherwise (read
    /// `flows_5m` alone).
    pub fn hour_split(from: i64, to: i64) -> Option<Source> {
        let (h0, h1) = whole_hours(from, to);
        (h0 < h1).then_some(Source::HourSplit { from, to })
    }

    /// Table name (for a split: both, as the report states it).
    pub fn table(self) -> &'static str {
        match self {
            Source::Raw => "flows",
            Source::Rollup5m => "flows_5m",
            Source::Rollup1h => "flows_1h",
            Source::HourSplit { .. } => "flows_1h (whole hours) + flows_5m (edges)",
        }
    }

    /// The table `{enrich_table}` reads, as a report states it.
    pub fn enrich_table(self) -> &'static str {
        match self {
            Source::Raw => "flows",
            Source::Rollup5m => "flows_enrich_5m",
            Source::Rollup1h => "flows_enrich_1h",
            Source::HourSplit { .. } => "flows_enrich_1h (whole hours) + flows_enrich_5m (edges)",
        }
    }

    /// Bucket length in seconds (1 for raw flows). A split answers as `flows_5m`.
    pub fn bucket_secs(self) -> u32 {
        match self {
            Source::Raw => 1,
            Source::Rollup5m | Source::HourSplit { .. } => 300,
            Source::Rollup1h => 3600,
        }
    }

    /// The text of a column placeholder, `None` for a name this source does not fill.
    fn column(self, name: &str) -> Option<&'static str> {
        let raw = self == Source::Raw;
        Some(match name {
            "ts" if raw => "time_received",
            "ts" => "ts",
            "bytes" if raw => "bytes_scaled",
            "bytes" => "scaled_bytes",
            "packets" if raw => "packets_scaled",
            "packets" => "scaled_packets",
            "flows" if raw => "1",
            "flows" => "flow_count",
            // The start of the row's bucket: a rollup's own; 5 minutes of raw flows.
            "bucket" if raw => "toDateTime(intDiv(toUInt32(time_received), 300) * 300)",
            "bucket" => "ts",
            _ => return None,
        })
    }

    /// `{table}` (or `{enrich_table}` when `enrich`): its text and the values of its bind marks.
    fn table_expr(self, enrich: bool) -> (&'static str, Vec<Arg>) {
        match self {
            Source::HourSplit { from, to } => {
                let (h0, h1) = whole_hours(from, to);
                (
                    if enrich {
                        ENRICH_SPLIT_TABLE
                    } else {
                        SPLIT_TABLE
                    },
                    vec![
                        h0.into(),
                        h1.into(),
                        from.into(),
                        h0.into(),
                        h1.into(),
                        to.into(),
                    ],
                )
            }
            s if enrich => (s.enrich_table(), Vec::new()),
            s => (s.table(), Vec::new()),
        }
    }
}

/// The whole hours `[h0, h1)` inside `[from, to)` (`h0 >= h1` when there is none).
fn whole_hours(from: i64, to: i64) -> (i64, i64) {
    let h0 = from.div_euclid(3600) * 3600 + if from.rem_euclid(3600) == 0 { 0 } else { 3600 };
    (h0, to.div_euclid(3600) * 3600)
}

/// `{table}` of [`Source::HourSplit`]. Binds: hour_from, hour_to, from, hour_from, hour_to, to.
/// The columns are named (not `*`) so that both sides have the same list whatever a later
/// migration adds to one table.
const SPLIT_TABLE: &str = "(SELECT ts, exporter, in_if, out_if, protocol, src_as, dst_as, app_port, \
scaled_bytes, scaled_packets, flow_count FROM flows_1h WHERE ts >= toDateTime(?) AND ts < toDateTime(?) \
UNION ALL SELECT ts, exporter, in_if, out_if, protocol, src_as, dst_as, app_port, \
scaled_bytes, scaled_packets, flow_count FROM flows_5m \
WHERE (ts >= toDateTime(?) AND ts < toDateTime(?)) OR (ts >= toDateTime(?) AND ts < toDateTime(?)))";

/// `{enrich_table}` of [`Source::HourSplit`]: [`SPLIT_TABLE`] over the enrichment rollups, with the
/// same binds.
const ENRICH_SPLIT_TABLE: &str = "(SELECT ts, exporter, src_country, dst_country, src_net_name, \
dst_net_name, in_if_provider, out_if_provider, scaled_bytes, scaled_packets, flow_count \
FROM flows_enrich_1h WHERE ts >= toDateTime(?) AND ts < toDateTime(?) \
UNION ALL SELECT ts, exporter, src_country, dst_country, src_net_name, dst_net_name, \
in_if_provider, out_if_provider, scaled_bytes, scaled_packets, flow_count FROM flows_enrich_5m \
WHERE (ts >= toDateTime(?) AND ts < toDateTime(?)) OR (ts >= toDateTime(?) AND ts < toDateTime(?)))";

/// The row filter of a query, the `{filter}` placeholder: which exporter and interface, and a
/// filter expression. Only the filters a request has are written (a fixed text per combination,
/// the expression's SQL from [`FilterExpr::to_sql`], the values bound), so a query without filters
/// does not compute `hex(exporter)` or compare interfaces on every row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    /// Exporter address as the hex of its 16 stored bytes.
    pub exporter_hex: Option<String>,
    /// Flows in or out of this interface.
    pub interface: Option<u32>,
    /// The `{key}` column of `enriched.sql` (countries, networks, providers).
    pub key: Option<EnrichKey>,
    /// A filter expression (`--filter`), ANDed to the rest. The caller picks a table that holds
    /// every field it names ([`FilterExpr::fields`]).
    pub expr: Option<FilterExpr>,
    /// `explore.sql`: the dimension (`{dim}`, `{dim_text}`, `{dim_in}`), the table family of
    /// `{dim_table}`, the ranking `{metric}` and the values of `{in_marks}` / `{dim_in}`.
    pub explore: Option<ExplorePlaceholders>,
    /// The server's address column type, when known ([`addr_type`]): addresses are then compared
    /// as the bare column (see [`crate::filter::addr_compare`]), else through `hex()`.
    pub addr: Option<AddrType>,
}

/// The placeholders of `explore.sql` (see its header): every text comes from [`Field`] or a fixed
/// list; the keys are bound values.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExplorePlaceholders {
    /// The grouped field.
    pub dim: Field,
    /// `{dim_table}` reads the enrichment rollups (`flows_enrich_*`) rather than `flows_5m/1h`.
    pub enrich_tables: bool,
    /// `{metric}`: `sbytes`, `spackets` or `nflows`.
    pub metric: &'static str,
    /// The values of `{in_marks}` and `{dim_in}`.
    pub keys: Vec<Arg>,
}

impl ExplorePlaceholders {
    fn expr(&self, name: &str, addr: Option<AddrType>) -> Option<(String, Vec<Arg>)> {
        let marks = || vec!["?"; self.keys.len()].join(", ");
        let col = self.dim.column();
        Some(match name {
            "dim" => (col.to_string(), Vec::new()),
            "dim_text" => match self.dim.ty() {
                FieldType::Addr => ("hex(d)".to_string(), Vec::new()),
                _ => ("toString(d)".to_string(), Vec::new()),
            },
            "dim_in" => {
                let (e, mark) = match self.dim.ty() {
                    FieldType::Addr => addr_compare(col, addr),
                    FieldType::Text => (format!("toString({col})"), "?"),
                    _ => (col.to_string(), "?"),
                };
                let marks = vec![mark; self.keys.len()].join(", ");
                (format!("{e} IN ({marks})"), self.keys.clone())
            }
            "in_marks" => (marks(), self.keys.clone()),
            "metric" => (self.metric.to_string(), Vec::new()),
            _ => return None,
        })
    }
}

/// The enrichment column a countries, networks or providers report groups by: a fixed list, so
/// `{key}` never carries a caller's text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrichKey {
    /// `src_country`.
    SrcCountry,
    /// `dst_country`.
    DstCountry,
    /// `src_net_name`.
    SrcNet,
    /// `dst_net_name`.
    DstNet,
    /// `in_if_provider`.
    InProvider,
    /// `out_if_provider`.
    OutProvider,
}

impl EnrichKey {
    /// The stored column.
    pub fn column(self) -> &'static str {
        match self {
            EnrichKey::SrcCountry => "src_country",
            EnrichKey::DstCountry => "dst_country",
            EnrichKey::SrcNet => "src_net_name",
            EnrichKey::DstNet => "dst_net_name",
            EnrichKey::InProvider => "in_if_provider",
            EnrichKey::OutProvider => "out_if_provider",
        }
    }
}

impl Filter {
    /// Whether the filter compares an address (an exporter, or an address field in its
    /// expression): only then does the server's address type ([`addr_type`]) matter.
    pub fn compares_addresses(&self) -> bool {
        self.exporter_hex.is_some()
            || self
                .expr
                .as_ref()
                .is_some_and(|e| e.fields().iter().any(|f| f.ty() == FieldType::Addr))
    }

    /// `{filter}` (flows in or out of the interface), `{filter_in}` (flows into it: `in_if`) or
    /// `{filter_out}` (`out_if`), each with the expression's condition ANDed: its text and the
    /// values of its bind marks.
    fn expr(&self, name: &str) -> Option<(String, Vec<Arg>)> {
        if let Some(e) = self.explore.as_ref().and_then(|e| e.expr(name, self.addr)) {
            return Some(e);
        }
        if name == "key" {
            return self.key.map(|k| (k.column().to_string(), Vec::new()));
        }
        let iface = match name {
            "filter" => "(in_if = ? OR out_if = ?)",
            "filter_in" => "in_if = ?",
            "filter_out" => "out_if = ?",
            _ => return None,
        };
        let mut parts = Vec::new();
        let mut args = Vec::new();
        if let Some(e) = &self.exporter_hex {
            let (col, mark) = addr_compare("exporter", self.addr);
            parts.push(format!("{col} = {mark}"));
            args.push(Arg::Str(e.clone()));
        }
        if let Some(i) = self.interface {
            parts.push(iface.to_string());
            args.extend(std::iter::repeat_n(Arg::from(i), bind_marks(iface)));
        }
        let mut text = if parts.is_empty() && self.expr.is_none() {
            "1".to_string()
        } else {
            parts.join(" AND ")
        };
        if let Some(e) = &self.expr {
            let (sql, values) = e.to_sql_for(self.addr);
            if !text.is_empty() {
                text.push_str(" AND ");
            }
            text.push('(');
            text.push_str(&sql);
            text.push(')');
            args.extend(values);
        }
        Some((text, args))
    }
}

/// The server's address column type, from `SELECT version()`; `None` when the server does not
/// answer or names no version we know (the queries then compare addresses through `hex()`).
pub async fn addr_type(client: &Client) -> Option<AddrType> {
    let v: String = client.query("SELECT version()").fetch_one().await.ok()?;
    schema::Tier::from_version(&v).ok().map(AddrType::of)
}

/// A value bound to one `?`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A string (quoted and escaped by the client).
    Str(String),
    /// An unsigned number.
    U64(u64),
}

impl From<&str> for Arg {
    fn from(s: &str) -> Arg {
        Arg::Str(s.to_string())
    }
}
impl From<String> for Arg {
    fn from(s: String) -> Arg {
        Arg::Str(s)
    }
}
impl From<u64> for Arg {
    fn from(v: u64) -> Arg {
        Arg::U64(v)
    }
}
impl From<u32> for Arg {
    fn from(v: u32) -> Arg {
        Arg::U64(u64::from(v))
    }
}
impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::U64(v.max(0) as u64)
    }
}

/// Number of bind marks in a query (`??` is a literal `?` and does not count).
pub fn bind_marks(sql: &str) -> usize {
    let b = sql.as_bytes();
    let (mut i, mut n) = (0, 0);
    while i < b.len() {
        if b[i] == b'?' {
            if b.get(i + 1) == Some(&b'?') {
                i += 2;
                continue;
            }
            n += 1;
        }
        i += 1;
    }
    n
}

/// The SQL that runs for `file`/`name` read from `source` without filters (placeholders filled).
pub fn expanded(file: &str, name: &str, source: Source) -> Result<String, ReportError> {
    Ok(assemble(file, name, source, &Filter::default(), None)?.0)
}

/// Fill the placeholders of query `file`/`name`: the text of each from [`Source`] or [`Filter`]
/// (a fixed set), and, when `args` is given (one value per bind mark of the file's text), the
/// values in the order of the marks of the result, each placeholder's own values where it stands.
fn assemble(
    file: &str,
    name: &str,
    source: Source,
    filter: &Filter,
    args: Option<&[Arg]>,
) -> Result<(String, Vec<Arg>), ReportError> {
    let text = query_text(file, name)?;
    let mut sql = String::with_capacity(text.len() + 256);
    let mut out: Vec<Arg> = Vec::new();
    let mut given = args.unwrap_or(&[]).iter();
    let mut own_marks = 0usize;
    let mut rest = text;
    loop {
        let at = rest.find('{').unwrap_or(rest.len());
        let plain = &rest[..at];
        let marks = bind_marks(plain);
        own_marks += marks;
        if args.is_some() {
            out.extend(given.by_ref().take(marks).cloned());
        }
        sql.push_str(plain);
        if at == rest.len() {
            break;
        }
        let close = rest[at..]
            .find('}')
            .map(|c| at + c)
            .ok_or_else(|| ReportError::Internal(format!("{file}/{name}: unclosed placeholder")))?;
        let key = &rest[at + 1..close];
        let (fill, values): (String, Vec<Arg>) = if key == "table" || key == "enrich_table" {
            let (t, v) = source.table_expr(key == "enrich_table");
            (t.to_string(), v)
        } else if key == "dim_table" {
            let enrich = filter.explore.as_ref().is_some_and(|e| e.enrich_tables);
            let (t, v) = source.table_expr(enrich);
            (t.to_string(), v)
        } else if let Some(c) = source.column(key) {
            (c.to_string(), Vec::new())
        } else if let Some(f) = filter.expr(key) {
            f
        } else {
            return Err(ReportError::Internal(format!(
                "{file}/{name}: unknown placeholder {{{key}}}"
            )));
        };
        sql.push_str(&fill);
        out.extend(values);
        rest = &rest[close + 1..];
    }
    if let Some(a) = args
        && a.len() != own_marks
    {
        return Err(ReportError::Internal(format!(
            "{file}/{name}: {own_marks} bind marks but {} values",
            a.len()
        )));
    }
    Ok((sql, out))
}

/// A query with every value bound; fails when the number of values does not match. For queries
/// whose text has a `{filter}` placeholder use [`bound_filtered`] (here it reads everything).
pub fn bound(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    args: &[Arg],
) -> Result<Query, ReportError> {
    bound_filtered(client, file, name, source, &Filter::default(), args)
}

/// [`bound`] with the row filter that fills `{filter}`, `{filter_in}` and `{filter_out}`. `args`
/// are the values of the file's own bind marks, in order; the placeholders' values are inserted.
pub fn bound_filtered(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    filter: &Filter,
    args: &[Arg],
) -> Result<Query, ReportError> {
    let (sql, values) = assemble(file, name, source, filter, Some(args))?;
    let marks = bind_marks(&sql);
    if marks != values.len() {
        return Err(ReportError::Internal(format!(
            "{file}/{name}: {marks} bind marks but {} values after expansion",
            values.len()
        )));
    }
    let mut q = client.query(&sql);
    for a in &values {
        q = match a {
            Arg::Str(s) => q.bind(s.as_str()),
            Arg::U64(v) => q.bind(*v),
        };
    }
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_documents_itself_and_has_queries() {
        for f in LIBRARY {
            assert!(
                f.text.starts_with("-- Report: "),
                "{} lacks its header",
                f.file
            );
            assert!(!queries(f.text).is_empty(), "{} has no queries", f.file);
        }
    }

    #[test]
    fn comments_hold_no_bind_marks() {
        for f in LIBRARY {
            for line in f.text.lines().filter(|l| l.trim_start().starts_with("--")) {
                assert!(!line.contains('?'), "{}: comment with ?: {line}", f.file);
            }
        }
    }

    #[test]
    fn placeholders_expand_for_every_source() {
        for f in LIBRARY {
            for (name, _) in queries(f.text) {
                for s in [
                    Source::Raw,
                    Source::Rollup5m,
                    Source::Rollup1h,
                    Source::hour_split(600, 12_000).unwrap(),
                ] {
                    // Every placeholder a request can fill, the enrichment key included.
                    let all = Filter {
                        key: Some(EnrichKey::SrcCountry),
                        explore: Some(ExplorePlaceholders {
                            dim: Field::SrcAddr,
                            enrich_tables: false,
                            metric: "sbytes",
                            keys: vec![Arg::U64(1)],
                        }),
                        ..Filter::default()
                    };
                    let sql = assemble(f.file, name, s, &all, None).unwrap().0;
                    assert!(!sql.contains('{'), "{}/{name}", f.file);
                }
            }
        }
    }

    fn nums(a: &[Arg]) -> Vec<String> {
        a.iter()
            .map(|a| match a {
                Arg::U64(v) => v.to_string(),
                Arg::Str(s) => format!("'{s}'"),
            })
            .collect()
    }

    #[test]
    fn split_and_filter_values_go_where_their_marks_are() {
        // 00:10 .. 03:20: whole hours 01:00 .. 03:00 from flows_1h, the edges from flows_5m.
        let s = Source::hour_split(600, 12_000).unwrap();
        let f = Filter {
            exporter_hex: Some("AB".into()),
            interface: Some(7),
            key: None,
            explore: None,
            expr: None,
            addr: None,
        };
        let own = [Arg::U64(1), Arg::U64(2), Arg::U64(3)];
        let (sql, a) = assemble("top_apps.sql", "rows", s, &f, Some(&own)).unwrap();
        assert_eq!(bind_marks(&sql), a.len());
        assert_eq!(
            nums(&a),
            [
                "3600", "10800", "600", "3600", "10800", "12000", "1", "2", "'AB'", "7", "7", "3"
            ]
        );
        assert!(sql.contains("FROM flows_1h WHERE") && sql.contains("FROM flows_5m"));
        assert!(sql.contains("hex(exporter) = ? AND (in_if = ? OR out_if = ?)"));
        // Aligned: no edges; the same hours.
        let (_, a) = assemble(
            "protocols.sql",
            "totals",
            Source::hour_split(3600, 10_800).unwrap(),
            &Filter::default(),
            Some(&own[..2]),
        )
        .unwrap();
        assert_eq!(
            nums(&a),
            ["3600", "10800", "3600", "3600", "10800", "10800", "1", "2"]
        );
        // No whole hour: no split.
        assert!(Source::hour_split(600, 4000).is_none());
        assert!(Source::hour_split(3600, 3600).is_none());
        // No filter: nothing per row, no values.
        let (sql, a) = assemble(
            "top_apps.sql",
            "totals",
            Source::Rollup5m,
            &Filter::default(),
            Some(&own[..2]),
        )
        .unwrap();
        assert!(!sql.contains("hex(exporter)") && !sql.contains("in_if"));
        assert_eq!(nums(&a), ["1", "2"]);
        // One direction only, for the interfaces report.
        let f = Filter {
            exporter_hex: None,
            interface: Some(9),
            key: None,
            explore: None,
            expr: None,
            addr: None,
        };
        assert_eq!(f.expr("filter_in").unwrap().0, "in_if = ?");
        assert_eq!(nums(&f.expr("filter").unwrap().1), ["9", "9"]);
        // A filter expression comes after the exporter and interface, with its values.
        let f = Filter {
            exporter_hex: Some("AB".into()),
            interface: None,
            key: None,
            explore: None,
            expr: Some(FilterExpr::parse("proto = tcp and src_net = 'x'").unwrap()),
            addr: None,
        };
        let (text, a) = f.expr("filter").unwrap();
        assert_eq!(
            text,
            "hex(exporter) = ? AND (((protocol = ?) AND (toString(src_net_name) = ?)))"
        );
        assert_eq!(nums(&a), ["'AB'", "6", "'x'"]);
        // With the server's address type known, the bare column and the same values.
        let typed = Filter {
            addr: Some(AddrType::FixedString),
            ..f.clone()
        };
        let (text, a2) = typed.expr("filter").unwrap();
        assert!(text.starts_with("exporter = toFixedString(unhex(?), 16) AND ("));
        assert_eq!(a2, a);
        let only = Filter {
            expr: Some(FilterExpr::parse("in_if = 3").unwrap()),
            ..Filter::default()
        };
        assert_eq!(only.expr("filter_out").unwrap().0, "((in_if = ?))");
        // The wrong number of the file's own values is refused.
        assert!(assemble("top_apps.sql", "rows", s, &f, Some(&own[..2])).is_err());
    }

    #[test]
    fn queries_split_on_markers() {
        let q = queries("-- head\n-- @query a\nSELECT 1\n\n-- @query b\nSELECT 2\n");
        assert_eq!(q, vec![("a", "SELECT 1"), ("b", "SELECT 2")]);
    }

    #[test]
    fn double_question_mark_is_not_a_bind() {
        assert_eq!(bind_marks("SELECT ? , '??' , ?"), 2);
    }
}
