//! Top N and time series by any dimension, for the API (`/api/v1/top`, `/api/v1/series`) and the
//! console's Explore page. The queries are `sql/explore.sql`.
//!
//! Owns: the [`ExploreRequest`] (a [`Field`] as dimension, a range, a metric, the filter), the
//! table choice (the coarsest table that holds the dimension and every filter field at a grain
//! that divides the range's ends and the step, [`plan`]), the range alignment it implies (stated in
//! the answer), the "other" rows and series (total minus the top N, exact), zero-filled buckets,
//! per-series statistics, and labels (AS names, interface names, exporter names, services).
//! Must never: put a caller's text into SQL (the dimension is a [`Field`]; keys and filter values
//! are bound), or read the clock.

use std::collections::HashMap;

use clickhouse::Client;
use serde::{Deserialize, Serialize};

use crate::fields::{Field, FieldType, Tables};
use crate::library::{Arg, ExplorePlaceholders, Filter, Source, bound_filtered};
use crate::names::{addr_display, addr_from_hex, protocol_name, service_name};
use crate::{ReportError, TimeRange, invalid};

/// What rows are ranked by, and what series values count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Metric {
    /// Scaled bytes (the default).
    #[default]
    Bytes,
    /// Scaled packets.
    Packets,
    /// Flow records.
    Flows,
}

impl Metric {
    /// The API name.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Bytes => "bytes",
            Metric::Packets => "packets",
            Metric::Flows => "flows",
        }
    }

    /// Parse the API name.
    pub fn parse(s: &str) -> Result<Metric, ReportError> {
        match s {
            "bytes" => Ok(Metric::Bytes),
            "packets" => Ok(Metric::Packets),
            "flows" => Ok(Metric::Flows),
            _ => Err(invalid("metric", "must be bytes, packets or flows")),
        }
    }

    fn column(self) -> &'static str {
        match self {
            Metric::Bytes => "sbytes",
            Metric::Packets => "spackets",
            Metric::Flows => "nflows",
        }
    }

    fn of(self, a: &Amounts) -> u64 {
        match self {
            Metric::Bytes => a.bytes,
            Metric::Packets => a.packets,
            Metric::Flows => a.flows,
        }
    }
}

/// Largest `limit` of a top or series request.
pub const MAX_EXPLORE_LIMIT: u32 = 1000;
/// Most buckets a series may have.
pub const MAX_SERIES_BUCKETS: i64 = 5000;
/// Smallest step of a series, seconds.
pub const MIN_STEP: i64 = 10;

/// A checked top or series request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExploreRequest {
    /// The grouped field.
    pub dimension: Field,
    /// The range asked for (the answer states the aligned range it covers).
    pub range: TimeRange,
    /// Rows (top) or series (series).
    pub limit: u32,
    /// Ranking and series values.
    pub metric: Metric,
    /// The row filter (its `expr`, from the filter language), and the fields it names.
    pub filter: Filter,
    /// The fields the filter names (table choice).
    pub filter_fields: Vec<Field>,
    /// Series step in seconds; chosen from the range when `None`. Ignored by top.
    pub step: Option<i64>,
}

impl ExploreRequest {
    /// A request without filter, limit 10, bytes.
    pub fn new(dimension: Field, range: TimeRange) -> ExploreRequest {
        ExploreRequest {
            dimension,
            range,
            limit: 10,
            metric: Metric::Bytes,
            filter: Filter::default(),
            filter_fields: Vec::new(),
            step: None,
        }
    }

    fn validate(&self) -> Result<(), ReportError> {
        TimeRange::new(self.range.from, self.range.to)?;
        if self.limit == 0 || self.limit > MAX_EXPLORE_LIMIT {
            return Err(invalid(
                "limit",
                format!("must be in 1..={MAX_EXPLORE_LIMIT}"),
            ));
        }
        Ok(())
    }
}

/// Scaled bytes, scaled packets and flow records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Amounts {
    /// Bytes scaled by the sampling rate.
    pub bytes: u64,
    /// Packets scaled by the sampling rate.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
}

impl Amounts {
    /// `self - o`, each amount floored at zero.
    pub fn minus(self, o: Amounts) -> Amounts {
        Amounts {
            bytes: self.bytes.saturating_sub(o.bytes),
            packets: self.packets.saturating_sub(o.packets),
            flows: self.flows.saturating_sub(o.flows),
        }
    }
    /// `self + o`.
    pub fn plus(self, o: Amounts) -> Amounts {
        Amounts {
            bytes: self.bytes + o.bytes,
            packets: self.packets + o.packets,
            flows: self.flows + o.flows,
        }
    }
}

/// One ranked key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopRow {
    /// The dimension's value as text (an address, a port, a protocol name, a country code...),
    /// in a form the filter language accepts.
    pub key: String,
    /// A human name where one is known (AS name, interface name, exporter name, service).
    pub label: Option<String>,
    /// Its amounts.
    #[serde(flatten)]
    pub amounts: Amounts,
}

/// A top N answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Top {
    /// The rows, ranked.
    pub rows: Vec<TopRow>,
    /// Everything else: total minus the rows.
    pub other: Amounts,
    /// The whole range.
    pub total: Amounts,
    /// The table read.
    pub source: String,
    /// The range covered (aligned to the table's grain), Unix seconds.
    pub from: i64,
    /// End, exclusive.
    pub to: i64,
}

/// One series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesLine {
    /// The key (as [`TopRow::key`]).
    pub key: String,
    /// Its label.
    pub label: Option<String>,
    /// Rate per second of the metric, per bucket.
    pub values: Vec<f64>,
    /// Mean of `values`.
    pub avg: f64,
    /// Largest of `values`.
    pub max: f64,
    /// 95th percentile of `values` (nearest rank).
    pub p95: f64,
    /// The metric summed over the range (not a rate).
    pub total: u64,
}

/// A series answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesAnswer {
    /// Bucket starts, Unix seconds.
    pub time: Vec<i64>,
    /// Bucket length, seconds.
    pub step: i64,
    /// The top N keys of the whole range, in rank order.
    pub series: Vec<SeriesLine>,
    /// Everything else per bucket (total minus the series).
    pub other: SeriesLine,
    /// The total per bucket.
    pub total: SeriesLine,
    /// The table read.
    pub source: String,
    /// The range covered (aligned to the step), Unix seconds.
    pub from: i64,
    /// End, exclusive.
    pub to: i64,
}

/// The table family that holds a set of fields.
fn family(fields: &[Field]) -> Option<bool> {
    // Some(false): flows_5m/1h; Some(true): flows_enrich_*; None: raw flows only.
    let rollups = fields.iter().all(|f| f.in_rollups());
    let enrich = fields.iter().all(|f| f.in_enrich_rollups());
    if rollups {
        Some(false)
    } else if enrich {
        Some(true)
    } else {
        None
    }
}

/// The table a request reads and the range it covers: the coarsest table holding the dimension
/// and every filter field whose grain divides `step` (series) or, for top (`step` = `None`), both
/// ends of the range. Top ranges of an hour or more are first widened to whole 5 minutes, so the
/// rollups can answer; the answer states the range it covers.
pub fn plan(
    dimension: Field,
    filter_fields: &[Field],
    range: TimeRange,
    step: Option<i64>,
) -> (Source, bool, TimeRange) {
    let mut fields = filter_fields.to_vec();
    fields.push(dimension);
    let fam = family(&fields);
    let align = |g: i64| TimeRange {
        from: range.from.div_euclid(g) * g,
        to: (range.to + g - 1).div_euclid(g) * g,
    };
    let enrich = fam == Some(true);
    match step {
        Some(step) => {
            let r = align(step);
            let s = match fam {
                Some(_) if step % 3600 == 0 => Source::Rollup1h,
                Some(_) if step % 300 == 0 => Source::Rollup5m,
                _ => Source::Raw,
            };
            (s, enrich, r)
        }
        None => {
            let r = if range.secs() >= 3600 {
                align(300)
            } else {
                range
            };
            let s = match fam {
                None => Source::Raw,
                Some(_) if r.from % 3600 == 0 && r.to % 3600 == 0 => Source::Rollup1h,
                Some(_) if r.from % 300 == 0 && r.to % 300 == 0 => {
                    Source::hour_split(r.from, r.to).unwrap_or(Source::Rollup5m)
                }
                Some(_) => Source::Raw,
            };
            (s, enrich, r)
        }
    }
}

/// The series step for a range when none is given: up to 2 h 1 minute, up to 2 days 5 minutes,
/// longer 1 hour.
pub fn default_step(range: TimeRange) -> i64 {
    match range.secs() {
        s if s <= 7200 => 60,
        s if s <= 2 * 86_400 => 300,
        s if s <= 90 * 86_400 => 3600,
        // Whole days past 90 days, so a range up to the longest allowed stays within
        // MAX_SERIES_BUCKETS (and reads the hourly rollup).
        _ => 86_400,
    }
}

fn source_text(s: Source, enrich: bool) -> String {
    if enrich {
        s.enrich_table().to_string()
    } else {
        s.table().to_string()
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct KeyRow {
    k: String,
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TotalsRow {
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct BucketSplitRow {
    bucket: u32,
    top: u8,
    k: String,
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

fn query_err(name: &'static str) -> impl FnOnce(clickhouse::error::Error) -> ReportError {
    move |source| ReportError::Query {
        query: format!("explore.sql/{name}"),
        source,
    }
}

fn placeholders(req: &ExploreRequest, enrich: bool, keys: Vec<Arg>) -> Filter {
    Filter {
        explore: Some(ExplorePlaceholders {
            dim: req.dimension,
            enrich_tables: enrich,
            metric: req.metric.column(),
            keys,
        }),
        ..req.filter.clone()
    }
}

/// The ranked keys of a range (grouped text as the query returns it).
async fn top_keys(
    client: &Client,
    req: &ExploreRequest,
    source: Source,
    enrich: bool,
    range: TimeRange,
) -> Result<Vec<KeyRow>, ReportError> {
    let f = placeholders(req, enrich, Vec::new());
    let args = [range.from.into(), range.to.into(), req.limit.into()];
    bound_filtered(client, "explore.sql", "top_rows", source, &f, &args)?
        .fetch_all()
        .await
        .map_err(query_err("top_rows"))
}

/// The ranked keys of a range (grouped text as the query returns it) and the total.
async fn ranked(
    client: &Client,
    req: &ExploreRequest,
    source: Source,
    enrich: bool,
    range: TimeRange,
) -> Result<(Vec<KeyRow>, Amounts), ReportError> {
    let rows = top_keys(client, req, source, enrich, range).await?;
    let f = placeholders(req, enrich, Vec::new());
    let args = [range.from.into(), range.to.into()];
    let t: Vec<TotalsRow> = bound_filtered(client, "explore.sql", "totals", source, &f, &args)?
        .fetch_all()
        .await
        .map_err(query_err("totals"))?;
    let total = t.first().map_or_else(Amounts::default, |t| Amounts {
        bytes: t.sbytes,
        packets: t.spackets,
        flows: t.nflows,
    });
    Ok((rows, total))
}

/// The request with the server's address type ([`crate::library::addr_type`]) when it compares
/// addresses (an address dimension, or an address in the filter) and does not know the type yet.
async fn with_addr_type(client: &Client, req: &ExploreRequest) -> Option<ExploreRequest> {
    let compares_addresses =
        req.dimension.ty() == FieldType::Addr || req.filter.compares_addresses();
    if !compares_addresses || req.filter.addr.is_some() {
        return None;
    }
    let mut r = req.clone();
    r.filter.addr = crate::library::addr_type(client).await;
    Some(r)
}

/// Top N keys of a dimension.
pub async fn top(client: &Client, req: &ExploreRequest) -> Result<Top, ReportError> {
    req.validate()?;
    let asked = with_addr_type(client, req).await;
    let req = asked.as_ref().unwrap_or(req);
    let (source, enrich, range) = plan(req.dimension, &req.filter_fields, req.range, None);
    let (rows, total) = ranked(client, req, source, enrich, range).await?;
    let labels = Labels::fetch(client, req.dimension, rows.iter().map(|r| r.k.as_str())).await;
    let rows: Vec<TopRow> = rows
        .into_iter()
        .map(|r| {
            let key = key_text(req.dimension, &r.k);
            TopRow {
                label: labels.get(req.dimension, &r.k),
                key,
                amounts: Amounts {
                    bytes: r.sbytes,
                    packets: r.spackets,
                    flows: r.nflows,
                },
            }
        })
        .collect();
    let shown = rows
        .iter()
        .fold(Amounts::default(), |a, r| a.plus(r.amounts));
    Ok(Top {
        rows,
        other: total.minus(shown),
        total,
        source: source_text(source, enrich),
        from: range.from,
        to: range.to,
    })
}

/// A time series of the top N keys of the whole range, plus other and total.
pub async fn series(client: &Client, req: &ExploreRequest) -> Result<SeriesAnswer, ReportError> {
    req.validate()?;
    let asked = with_addr_type(client, req).await;
    let req = asked.as_ref().unwrap_or(req);
    let step = req.step.unwrap_or_else(|| default_step(req.range));
    if !(MIN_STEP..=crate::MAX_RANGE_SECS).contains(&step) {
        return Err(invalid(
            "step",
            format!(
                "must be from {MIN_STEP} to {} seconds",
                crate::MAX_RANGE_SECS
            ),
        ));
    }
    let (source, enrich, range) = plan(req.dimension, &req.filter_fields, req.range, Some(step));
    let n = (range.to - range.from) / step;
    if n > MAX_SERIES_BUCKETS {
        return Err(invalid(
            "step",
            format!("{n} buckets; at most {MAX_SERIES_BUCKETS} (use a longer step)"),
        ));
    }
    // A series on a rollup ranks its keys the way top does (whole hours from flows_1h, which
    // holds the same sums as flows_5m) when that covers the same range; raw flows rank
    // themselves (their retention is not the rollups').
    let top = match plan(req.dimension, &req.filter_fields, range, None) {
        (s, e, covered) if source != Source::Raw && s != Source::Raw && covered == range => {
            top_keys(client, req, s, e, range).await?
        }
        _ => top_keys(client, req, source, enrich, range).await?,
    };
    let time: Vec<i64> = (0..n).map(|i| range.from + i * step).collect();
    let index = |b: u32| {
        let b = i64::from(b);
        ((b - range.from) / step) as usize
    };
    let args = [step.into(), step.into(), range.from.into(), range.to.into()];
    let mut total = vec![Amounts::default(); n as usize];
    let mut per_key: HashMap<String, Vec<Amounts>> = top
        .iter()
        .map(|r| (r.k.clone(), vec![Amounts::default(); n as usize]))
        .collect();
    // No key means no row in the range: every bucket is 0. Otherwise the top keys and the
    // total per bucket come from one pass.
    if !top.is_empty() {
        let keys = top.iter().map(|r| key_arg(req.dimension, &r.k)).collect();
        let f = placeholders(req, enrich, keys);
        let rows: Vec<BucketSplitRow> =
            bound_filtered(client, "explore.sql", "series_split", source, &f, &args)?
                .fetch_all()
                .await
                .map_err(query_err("series_split"))?;
        for r in rows {
            let i = index(r.bucket);
            let a = Amounts {
                bytes: r.sbytes,
                packets: r.spackets,
                flows: r.nflows,
            };
            if let Some(t) = total.get_mut(i) {
                *t = t.plus(a);
            }
            if r.top == 1
                && let Some(slot) = per_key.get_mut(&r.k).and_then(|v| v.get_mut(i))
            {
                *slot = a;
            }
        }
    }
    let labels = Labels::fetch(client, req.dimension, top.iter().map(|r| r.k.as_str())).await;
    let m = req.metric;
    let mut other: Vec<Amounts> = total.clone();
    let series: Vec<SeriesLine> = top
        .iter()
        .map(|r| {
            let v = per_key.remove(&r.k).unwrap_or_default();
            for (o, a) in other.iter_mut().zip(&v) {
                *o = o.minus(*a);
            }
            line(
                key_text(req.dimension, &r.k),
                labels.get(req.dimension, &r.k),
                &v,
                m,
                step,
            )
        })
        .collect();
    Ok(SeriesAnswer {
        time,
        step,
        series,
        other: line("other".into(), None, &other, m, step),
        total: line("total".into(), None, &total, m, step),
        source: source_text(source, enrich),
        from: range.from,
        to: range.to,
    })
}

fn line(key: String, label: Option<String>, v: &[Amounts], m: Metric, step: i64) -> SeriesLine {
    let values: Vec<f64> = v.iter().map(|a| m.of(a) as f64 / step as f64).collect();
    let total: u64 = v.iter().map(|a| m.of(a)).sum();
    let (avg, max, p95) = stats(&values);
    SeriesLine {
        key,
        label,
        values,
        avg,
        max,
        p95,
        total,
    }
}

/// Mean, maximum and nearest-rank 95th percentile.
pub fn stats(values: &[f64]) -> (f64, f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    let avg = values.iter().sum::<f64>() / values.len() as f64;
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let max = sorted[sorted.len() - 1];
    let rank = (0.95 * sorted.len() as f64).ceil() as usize;
    let p95 = sorted[rank.clamp(1, sorted.len()) - 1];
    (avg, max, p95)
}

/// The key as the API shows it (a form the filter language accepts).
fn key_text(dim: Field, k: &str) -> String {
    match dim.ty() {
        FieldType::Addr => addr_from_hex(k).map_or_else(|| k.to_string(), addr_display),
        FieldType::Proto => k
            .parse::<u8>()
            .ok()
            .and_then(protocol_name)
            .map_or_else(|| k.to_string(), str::to_ascii_lowercase),
        _ => k.to_string(),
    }
}

/// The grouped text as a value for `{dim_in}`.
fn key_arg(dim: Field, k: &str) -> Arg {
    match dim.ty() {
        FieldType::Addr | FieldType::Text => Arg::Str(k.to_string()),
        _ => Arg::U64(k.parse().unwrap_or(0)),
    }
}

/// Human names of the keys of one answer.
#[derive(Default)]
struct Labels {
    by_key: HashMap<String, String>,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct AsName {
    asn: u32,
    n: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct IfName {
    ifindex: u32,
    n: String,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ExporterName {
    a: String,
    n: String,
}

impl Labels {
    /// Names from the inventory tables; a table that is missing or fails gives no names (labels
    /// are optional, the answer is not).
    async fn fetch<'a>(client: &Client, dim: Field, keys: impl Iterator<Item = &'a str>) -> Labels {
        let keys: Vec<&str> = keys.collect();
        let nums: Vec<Arg> = keys
            .iter()
            .filter_map(|k| k.parse::<u32>().ok())
            .map(Arg::from)
            .collect();
        let mut by_key = HashMap::new();
        let f = |keys: Vec<Arg>| Filter {
            explore: Some(ExplorePlaceholders {
                dim,
                enrich_tables: false,
                metric: "sbytes",
                keys,
            }),
            ..Filter::default()
        };
        match dim {
            Field::SrcAs | Field::DstAs if !nums.is_empty() => {
                if let Ok(q) = bound_filtered(
                    client,
                    "explore.sql",
                    "as_names",
                    Source::Raw,
                    &f(nums),
                    &[],
                ) && let Ok(rows) = q.fetch_all::<AsName>().await
                {
                    for r in rows.into_iter().filter(|r| !r.n.is_empty()) {
                        by_key.insert(r.asn.to_string(), r.n);
                    }
                }
            }
            Field::InIf | Field::OutIf if !nums.is_empty() => {
                if let Ok(q) = bound_filtered(
                    client,
                    "explore.sql",
                    "if_names",
                    Source::Raw,
                    &f(nums),
                    &[],
                ) && let Ok(rows) = q.fetch_all::<IfName>().await
                {
                    for r in rows {
                        by_key.insert(r.ifindex.to_string(), r.n);
                    }
                }
            }
            Field::Exporter => {
                if let Ok(q) = bound_filtered(
                    client,
                    "explore.sql",
                    "exporter_names",
                    Source::Raw,
                    &Filter::default(),
                    &[],
                ) && let Ok(rows) = q.fetch_all::<ExporterName>().await
                {
                    for r in rows.into_iter().filter(|r| !r.n.is_empty()) {
                        by_key.insert(r.a, r.n);
                    }
                }
            }
            Field::SrcPort | Field::DstPort | Field::AppPort => {
                for k in keys {
                    if let Some(s) = k
                        .parse::<u16>()
                        .ok()
                        .and_then(|p| service_name(6, p).or_else(|| service_name(17, p)))
                    {
                        by_key.insert(k.to_string(), s.to_string());
                    }
                }
            }
            Field::Proto => {
                for k in keys {
                    if let Some(s) = k.parse::<u8>().ok().and_then(protocol_name) {
                        by_key.insert(k.to_string(), s.to_string());
                    }
                }
            }
            _ => {}
        }
        Labels { by_key }
    }

    fn get(&self, _dim: Field, k: &str) -> Option<String> {
        self.by_key.get(k).cloned()
    }
}

/// The tables a field's queries can read, as `/api/v1/dimensions` states them (every field can be
/// a dimension: raw flows hold them all).
pub fn dimension_tables(f: Field) -> &'static str {
    match f.tables() {
        Tables::Raw => "flows",
        Tables::Rollups => "flows, flows_5m, flows_1h",
        Tables::EnrichRollups => "flows, flows_enrich_5m, flows_enrich_1h",
        Tables::All => "flows and every rollup",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(from: i64, to: i64) -> TimeRange {
        TimeRange::new(from, to).unwrap()
    }

    #[test]
    fn plan_picks_the_coarsest_table_that_holds_every_field() {
        let day = r(86_400, 2 * 86_400);
        assert_eq!(
            plan(Field::Proto, &[], day, Some(300)),
            (Source::Rollup5m, false, day)
        );
        assert_eq!(
            plan(Field::Proto, &[], day, Some(3600)),
            (Source::Rollup1h, false, day)
        );
        assert_eq!(plan(Field::Proto, &[], day, Some(60)).0, Source::Raw);
        // A filter on a raw-only field sends everything to raw flows.
        assert_eq!(
            plan(Field::Proto, &[Field::SrcAddr], day, Some(300)).0,
            Source::Raw
        );
        // Enrichment fields read the enrichment rollups, unless mixed with rollup fields.
        assert_eq!(
            plan(Field::SrcCountry, &[Field::Exporter], day, Some(300)),
            (Source::Rollup5m, true, day)
        );
        assert_eq!(
            plan(Field::SrcCountry, &[Field::Proto], day, Some(300)).0,
            Source::Raw
        );
        // Top: whole hours read flows_1h; 5-minute ends the hour split; odd ends are widened.
        assert_eq!(plan(Field::SrcAs, &[], day, None).0, Source::Rollup1h);
        let odd = r(86_400 + 17, 2 * 86_400 - 17);
        let (s, _, covered) = plan(Field::SrcAs, &[], odd, None);
        assert_eq!(covered, r(86_400, 2 * 86_400));
        assert_eq!(s, Source::Rollup1h);
        let short = r(1000, 1600);
        assert_eq!(
            plan(Field::SrcAs, &[], short, None),
            (Source::Raw, false, short)
        );
        // Series ranges align to the step.
        assert_eq!(plan(Field::Proto, &[], odd, Some(300)).2, day);
    }

    #[test]
    fn the_default_step_keeps_every_allowed_range_within_the_bucket_limit() {
        for days in [1, 2, 3, 30, 90, 91, 208, 209, 400] {
            let range = r(1_000_000_000, 1_000_000_000 + days * 86_400);
            let step = default_step(range);
            let (_, _, covered) = plan(Field::Proto, &[], range, Some(step));
            assert!(
                (covered.to - covered.from) / step <= MAX_SERIES_BUCKETS,
                "{days} days at {step} s"
            );
        }
        assert_eq!(default_step(r(0, 3600)), 60);
        assert_eq!(default_step(r(0, 86_400)), 300);
        assert_eq!(default_step(r(0, 7 * 86_400)), 3600);
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(stats(&v), (50.5, 100.0, 95.0));
        assert_eq!(stats(&[]), (0.0, 0.0, 0.0));
        assert_eq!(stats(&[3.0]), (3.0, 3.0, 3.0));
    }

    #[test]
    fn keys_read_as_the_filter_language_writes_them() {
        assert_eq!(
            key_text(Field::SrcAddr, "00000000000000000000FFFF0A000001"),
            "10.0.0.1"
        );
        assert_eq!(key_text(Field::Proto, "6"), "tcp");
        assert_eq!(key_text(Field::Proto, "253"), "253");
        assert_eq!(key_text(Field::DstPort, "443"), "443");
    }
}
