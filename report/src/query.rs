//! Running the library: one builder per report kind turns a [`ReportRequest`] into bound queries,
//! runs them and shapes a [`Report`].
//!
//! Owns: the table choice per kind ([`choose_source`]), unit conversions (bytes per bucket to bits/s,
//! zero-filled time buckets), the "other" row and shares. Must never: format numbers for humans
//! (that is [`super::render`]) or read the clock.

use std::collections::{BTreeMap, HashMap};

use clickhouse::Client;
use serde::Deserialize;

use crate::fields::Field;
use crate::library::{Arg, EnrichKey, Filter, Source, bound_filtered};
use crate::names::{
    addr_display, addr_from_hex, addr_hex, hex_display, protocol_label, service_name,
};
use crate::{
    By, Chart, Column, Report, ReportError, ReportKind, ReportRequest, Row, Series, SourcePref,
    Step, Totals, Unit, Value, invalid,
};

/// Ranges shorter than this read raw `flows` (rollup buckets would stick out of the range).
const RAW_MAX_SECS: i64 = 3600;
/// Ranges up to this read `flows_5m`; longer ones `flows_1h`.
const FIVE_MIN_MAX_SECS: i64 = 2 * 86_400;
/// Interfaces: ranges up to this use 5-minute buckets.
const IF_FIVE_MIN_MAX_SECS: i64 = 14 * 86_400;
/// Most time buckets a traffic series may have.
const MAX_BUCKETS: i64 = 20_000;

/// One (source AS, destination AS) row of the matrix: the two ASes, bytes, packets, flows, and
/// the two AS names (empty when `as_names` has none).
type AsPairRow = (u32, u32, u64, u64, u64, String, String);

/// The rollups a report reads when it does not read raw `flows`: `flows_5m` / `flows_1h`, or the
/// enrichment rollups `flows_enrich_5m` / `flows_enrich_1h`. They hold different fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rollups {
    Flows,
    Enrich,
}

impl Rollups {
    fn holds(self, f: Field) -> bool {
        match self {
            Rollups::Flows => f.in_rollups(),
            Rollups::Enrich => f.in_enrich_rollups(),
        }
    }

    fn tables(self) -> &'static str {
        match self {
            Rollups::Flows => "flows_5m and flows_1h",
            Rollups::Enrich => "the enrichment rollups (flows_enrich_5m, flows_enrich_1h)",
        }
    }
}

/// The first field of the request's filter that `rollups` do not hold (then only raw `flows`
/// answers).
fn raw_only_field(req: &ReportRequest, rollups: Rollups) -> Option<Field> {
    req.filter
        .as_ref()
        .and_then(|f| f.fields().into_iter().find(|f| !rollups.holds(*f)))
}

/// Refuse a forced rollup that cannot answer the filter.
fn check_forced(req: &ReportRequest, rollups: Rollups) -> Result<(), ReportError> {
    match raw_only_field(req, rollups) {
        Some(f) => Err(invalid(
            "filter",
            format!(
                "{f} is not in {}: use --source raw (or auto, which reads raw flows for it)",
                rollups.tables()
            ),
        )),
        None => Ok(()),
    }
}

/// The flow table a rollup-capable report reads for this request.
pub fn choose_source(req: &ReportRequest) -> Result<Source, ReportError> {
    choose_source_in(req, Rollups::Flows)
}

/// [`choose_source`] for a report whose rollups are `rollups`: a filter naming a field they do not
/// hold reads raw `flows` (`--source auto`) or is refused (`--source 5m|1h`).
fn choose_source_in(req: &ReportRequest, rollups: Rollups) -> Result<Source, ReportError> {
    Ok(match req.source {
        SourcePref::Raw => Source::Raw,
        SourcePref::Rollup5m => {
            check_forced(req, rollups)?;
            Source::Rollup5m
        }
        SourcePref::Rollup1h => {
            check_forced(req, rollups)?;
            Source::Rollup1h
        }
        SourcePref::Windows => {
            return Err(invalid("source", "only top-talkers reads the windows"));
        }
        SourcePref::Auto => {
            let secs = req.range.secs();
            if secs < RAW_MAX_SECS || raw_only_field(req, rollups).is_some() {
                Source::Raw
            } else if secs <= FIVE_MIN_MAX_SECS {
                Source::Rollup5m
            } else {
                Source::Rollup1h
            }
        }
    })
}

/// Run a report. `generated_at` is the time stamped on it (Unix seconds).
pub async fn run_report(
    client: &Client,
    req: &ReportRequest,
    generated_at: i64,
) -> Result<Report, ReportError> {
    req.validate()?;
    let asked;
    let req = if req.addr.is_none() && filter(req).compares_addresses() {
        asked = ReportRequest {
            addr: crate::library::addr_type(client).await,
            ..req.clone()
        };
        &asked
    } else {
        req
    };
    let mut r = match req.kind {
        ReportKind::TopTalkers => top_talkers(client, req).await?,
        ReportKind::TopApps => top_apps(client, req).await?,
        ReportKind::Protocols => protocols(client, req).await?,
        ReportKind::Traffic => traffic(client, req).await?,
        ReportKind::Interfaces => interfaces(client, req).await?,
        ReportKind::Matrix => matrix(client, req).await?,
        ReportKind::Exporters => exporters(client, req).await?,
        ReportKind::Countries | ReportKind::Networks | ReportKind::Providers => {
            enrichment(client, req).await?
        }
    };
    if let Some(i) = req.interface {
        let names = interface_names(client, req, i).await?;
        if !names.is_empty()
            && let Some(f) = r.filters.iter_mut().find(|(k, _)| k == "interface")
        {
            f.1 = format!("{i} ({})", names.join(", "));
        }
    }
    let rollups = match req.kind {
        ReportKind::Countries | ReportKind::Networks | ReportKind::Providers => Rollups::Enrich,
        _ => Rollups::Flows,
    };
    if req.source == SourcePref::Auto
        && !matches!(req.kind, ReportKind::TopTalkers | ReportKind::Exporters)
        && let Some(f) = raw_only_field(req, rollups)
    {
        r.notes.push(format!(
            "Read from raw flows: the filter names {f}, which {} do not hold.",
            rollups.tables()
        ));
    }
    r.generated_at = generated_at;
    Ok(r)
}

/// The names the `interfaces` table gives ifIndex `i` (of the request's exporter, or of any), for
/// the report's header: `interface=2 (ge-0/0/2)`.
async fn interface_names(
    client: &Client,
    req: &ReportRequest,
    i: u32,
) -> Result<Vec<String>, ReportError> {
    let e = exporter_arg(req);
    fetch_all(
        client,
        "interfaces.sql",
        "names",
        Source::Raw,
        &[i.into(), e.clone(), e],
    )
    .await
}

/// An AS as a report shows it: `AS64500 Example Corp`, or `AS64500` when no name is known.
fn as_label(asn: u32, name: &str) -> String {
    if name.is_empty() {
        format!("AS{asn}")
    } else {
        format!("AS{asn} {name}")
    }
}

fn exporter_arg(req: &ReportRequest) -> Arg {
    Arg::Str(req.exporter.map(addr_hex).unwrap_or_default())
}

/// The row filter of a request, for the `{filter}` placeholders.
fn filter(req: &ReportRequest) -> Filter {
    Filter {
        exporter_hex: req.exporter.map(addr_hex),
        interface: req.interface,
        key: None,
        expr: req.filter.clone(),
        explore: None,
        addr: req.addr,
    }
}

/// from, to: the binds of the range (the filter's values come with `{filter}`).
fn range_args(req: &ReportRequest) -> Vec<Arg> {
    vec![req.range.from.into(), req.range.to.into()]
}

/// The source of a ranked rollup report (top-apps, protocols, the AS matrix): [`choose_source`],
/// except that a range it would read from `flows_5m` by itself (`--source auto`) and that holds a
/// whole hour reads those hours from `flows_1h` and only the edges from `flows_5m`
/// ([`Source::HourSplit`]: the same buckets, the same sums).
fn rollup_source(req: &ReportRequest) -> Result<Source, ReportError> {
    rollup_source_in(req, Rollups::Flows)
}

/// [`rollup_source`] over `rollups`.
fn rollup_source_in(req: &ReportRequest, rollups: Rollups) -> Result<Source, ReportError> {
    let s = choose_source_in(req, rollups)?;
    if s != Source::Rollup5m || req.source != SourcePref::Auto {
        return Ok(s);
    }
    Ok(Source::hour_split(req.range.from, req.range.to).unwrap_or(s))
}

fn err(query: &str) -> impl FnOnce(clickhouse::error::Error) -> ReportError + '_ {
    move |source| ReportError::Query {
        query: query.to_string(),
        source,
    }
}

async fn fetch_all<T>(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    args: &[Arg],
) -> Result<Vec<T>, ReportError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    fetch_filtered(client, file, name, source, &Filter::default(), args).await
}

async fn fetch_filtered<T>(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    filter: &Filter,
    args: &[Arg],
) -> Result<Vec<T>, ReportError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    bound_filtered(client, file, name, source, filter, args)?
        .fetch_all::<T>()
        .await
        .map_err(err(&format!("{file}/{name}")))
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TotalsRow {
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

async fn totals(
    client: &Client,
    file: &str,
    name: &str,
    source: Source,
    filter: &Filter,
    args: &[Arg],
) -> Result<Totals, ReportError> {
    let rows: Vec<TotalsRow> = fetch_filtered(client, file, name, source, filter, args).await?;
    Ok(rows.first().map_or_else(Totals::default, |t| Totals {
        bytes: t.sbytes,
        packets: t.spackets,
        flows: t.nflows,
    }))
}

fn pct(part: f64, whole: f64) -> Value {
    if whole > 0.0 {
        Value::Float(part * 100.0 / whole)
    } else {
        Value::Null
    }
}

/// Label cells with bytes, packets and flows.
type Ranked = (Vec<Value>, u64, u64, u64);

/// Label columns, then bytes, packets, flows, share; plus the "other" row (total minus the rows).
fn ranked(mut columns: Vec<Column>, items: Vec<Ranked>, t: Totals) -> (Vec<Column>, Vec<Row>) {
    let labels = columns.len();
    columns.extend([
        Column::new("bytes", "Bytes", Unit::Bytes),
        Column::new("packets", "Packets", Unit::Packets),
        Column::new("flows", "Flows", Unit::Count),
        Column::new("share_pct", "Share", Unit::Percent),
    ]);
    let (mut sb, mut sp, mut sf) = (0u64, 0u64, 0u64);
    let mut rows: Vec<Row> = items
        .into_iter()
        .map(|(mut cells, b, p, f)| {
            sb = sb.saturating_add(b);
            sp = sp.saturating_add(p);
            sf = sf.saturating_add(f);
            cells.extend([
                Value::UInt(b),
                Value::UInt(p),
                Value::UInt(f),
                pct(b as f64, t.bytes as f64),
            ]);
            Row {
                cells,
                other: false,
            }
        })
        .collect();
    let ob = t.bytes.saturating_sub(sb);
    let op = t.packets.saturating_sub(sp);
    let of = t.flows.saturating_sub(sf);
    if ob > 0 || op > 0 || of > 0 {
        let mut cells = vec![Value::Null; labels];
        // The first text column says "other".
        let at = columns[..labels]
            .iter()
            .position(|c| c.unit == Unit::Text)
            .unwrap_or(0);
        cells[at] = Value::Text("other".into());
        cells.extend([
            Value::UInt(ob),
            Value::UInt(op),
            Value::UInt(of),
            pct(ob as f64, t.bytes as f64),
        ]);
        rows.push(Row { cells, other: true });
    }
    (columns, rows)
}

fn base(req: &ReportRequest, title: String, source: String) -> Report {
    Report {
        kind: req.kind,
        title,
        range: req.range,
        filters: req.filter_text(),
        source,
        generated_at: 0,
        columns: Vec::new(),
        rows: Vec::new(),
        totals: None,
        chart: Chart::None,
        notes: Vec::new(),
    }
}

fn rollup_note(r: &mut Report, s: Source) {
    if s != Source::Raw {
        r.notes.push(format!(
            "Read from {}: whole {}-second buckets whose start is in the range.",
            s.table(),
            s.bucket_secs()
        ));
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct TalkerRow {
    a: String,
    b: String,
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

async fn top_talkers(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let by = req.by.unwrap_or(By::Src);
    let f = "top_talkers.sql";
    let needs_raw = req.exporter.is_some() || req.interface.is_some() || req.filter.is_some();
    let use_windows = match req.source {
        SourcePref::Windows if req.filter.is_some() => {
            return Err(invalid(
                "filter",
                "the windows hold only the top addresses per window, no flow fields to filter on; \
                 use --source raw",
            ));
        }
        SourcePref::Windows if needs_raw => {
            return Err(invalid(
                "source",
                "the windows have no exporter or interface for addresses; use raw",
            ));
        }
        SourcePref::Windows => true,
        SourcePref::Auto => !needs_raw && req.range.secs() > RAW_MAX_SECS,
        SourcePref::Raw => false,
        SourcePref::Rollup5m | SourcePref::Rollup1h => {
            return Err(invalid(
                "source",
                "the rollups have no addresses; use raw or windows",
            ));
        }
    };
    let mut window_secs = 0u32;
    let mut coverage = (0u32, 0u32);
    if use_windows {
        let w: Vec<(u32, u32, u32)> = fetch_all(
            client,
            f,
            "window_secs",
            Source::Raw,
            &[req.range.from.into(), req.range.to.into()],
        )
        .await?;
        if let Some(&(secs, first, last)) = w.first() {
            window_secs = secs;
            coverage = (first, last);
        }
        if window_secs == 0 && req.source == SourcePref::Windows {
            return Err(invalid("source", "no window rows in the range"));
        }
    }
    let (rows, t, source) = if window_secs > 0 {
        let dim = match by {
            By::Dst => "dst_addr",
            By::Pair => "conversation",
            _ => "src_addr",
        };
        let rows: Vec<TalkerRow> = fetch_all(
            client,
            f,
            "rows_windows",
            Source::Raw,
            &[
                window_secs.into(),
                dim.into(),
                req.range.from.into(),
                req.range.to.into(),
                req.limit.into(),
            ],
        )
        .await?;
        let t = totals(
            client,
            f,
            "totals_windows",
            Source::Raw,
            &Filter::default(),
            &[
                window_secs.into(),
                req.range.from.into(),
                req.range.to.into(),
            ],
        )
        .await?;
        (
            rows,
            t,
            format!("window_top, window_totals ({window_secs} s windows)"),
        )
    } else {
        let fl = filter(req);
        let mut args: Vec<Arg> = vec![by.as_str().into(), by.as_str().into()];
        args.extend(range_args(req));
        args.push(req.limit.into());
        let rows: Vec<TalkerRow> =
            fetch_filtered(client, f, "rows_flows", Source::Raw, &fl, &args).await?;
        let t = totals(
            client,
            f,
            "totals_flows",
            Source::Raw,
            &fl,
            &range_args(req),
        )
        .await?;
        (rows, t, "flows".to_string())
    };
    let mut labels = vec![Column::new("rank", "#", Unit::Id)];
    match by {
        By::Pair => {
            labels.push(Column::new("src", "Source", Unit::Text));
            labels.push(Column::new("dst", "Destination", Unit::Text));
        }
        By::Dst => labels.push(Column::new("dst", "Destination", Unit::Text)),
        _ => labels.push(Column::new("src", "Source", Unit::Text)),
    }
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let mut cells = vec![Value::UInt(i as u64 + 1), Value::Text(hex_display(&r.a))];
            if by == By::Pair {
                cells.push(Value::Text(hex_display(&r.b)));
            }
            (cells, r.sbytes, r.spackets, r.nflows)
        })
        .collect();
    let title = format!(
        "Top talkers by {}",
        match by {
            By::Dst => "destination",
            By::Pair => "source and destination",
            _ => "source",
        }
    );
    let mut rep = base(req, title, source);
    if window_secs > 0 {
        rep.notes.push(format!(
            "Window data covers {} to {}.",
            super::names::rfc3339(i64::from(coverage.0)),
            super::names::rfc3339(i64::from(coverage.1) + i64::from(window_secs))
        ));
        rep.notes.push(
            "Summed from per-window top N: a key counts only in the windows where it ranked; the \
             rest is in \"other\"."
                .into(),
        );
    }
    let (columns, rows) = ranked(labels, items, t);
    rep.chart = Chart::Bars {
        labels: if by == By::Pair { vec![1, 2] } else { vec![1] },
        values: vec![columns.iter().position(|c| c.key == "bytes").unwrap_or(0)],
    };
    rep.columns = columns;
    rep.rows = rows;
    rep.totals = Some(t);
    Ok(rep)
}

async fn top_apps(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let s = rollup_source(req)?;
    let f = "top_apps.sql";
    let fl = filter(req);
    let mut args = range_args(req);
    args.push(req.limit.into());
    let rows: Vec<(u8, u16, u64, u64, u64)> =
        fetch_filtered(client, f, "rows", s, &fl, &args).await?;
    let t = totals(client, f, "totals", s, &fl, &range_args(req)).await?;
    let labels = vec![
        Column::new("rank", "#", Unit::Id),
        Column::new("application", "Application", Unit::Text),
        Column::new("protocol", "Protocol", Unit::Text),
        Column::new("port", "Port", Unit::Id),
        Column::new("service", "Service", Unit::Text),
    ];
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, (proto, port, b, p, fl))| {
            let svc = service_name(proto, port);
            let app = match svc {
                Some(n) => format!("{n} ({}/{port})", protocol_label(proto).to_lowercase()),
                None => format!("{}/{port}", protocol_label(proto).to_lowercase()),
            };
            (
                vec![
                    Value::UInt(i as u64 + 1),
                    Value::Text(app),
                    Value::Text(protocol_label(proto)),
                    Value::UInt(u64::from(port)),
                    svc.map_or(Value::Null, |n| Value::Text(n.into())),
                ],
                b,
                p,
                fl,
            )
        })
        .collect();
    let mut rep = base(req, "Top applications".into(), s.table().into());
    rollup_note(&mut rep, s);
    let (columns, rows) = ranked(labels, items, t);
    rep.chart = Chart::Bars {
        labels: vec![1],
        values: vec![columns.iter().position(|c| c.key == "bytes").unwrap_or(0)],
    };
    rep.columns = columns;
    rep.rows = rows;
    rep.totals = Some(t);
    Ok(rep)
}

async fn protocols(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let s = rollup_source(req)?;
    let f = "protocols.sql";
    let fl = filter(req);
    let mut args = range_args(req);
    args.push(req.limit.into());
    let rows: Vec<(u8, u64, u64, u64)> = fetch_filtered(client, f, "rows", s, &fl, &args).await?;
    let t = totals(client, f, "totals", s, &fl, &range_args(req)).await?;
    let labels = vec![
        Column::new("protocol", "Protocol", Unit::Text),
        Column::new("number", "Number", Unit::Id),
    ];
    let items = rows
        .into_iter()
        .map(|(proto, b, p, fl)| {
            (
                vec![
                    Value::Text(protocol_label(proto)),
                    Value::UInt(u64::from(proto)),
                ],
                b,
                p,
                fl,
            )
        })
        .collect();
    let mut rep = base(req, "Protocol mix".into(), s.table().into());
    rollup_note(&mut rep, s);
    let (columns, rows) = ranked(labels, items, t);
    rep.chart = Chart::Bars {
        labels: vec![0],
        values: vec![columns.iter().position(|c| c.key == "bytes").unwrap_or(0)],
    };
    rep.columns = columns;
    rep.rows = rows;
    rep.totals = Some(t);
    Ok(rep)
}

/// The step and table of a traffic request.
fn traffic_plan(req: &ReportRequest) -> Result<(Step, Source), ReportError> {
    let secs = req.range.secs();
    let step = req.step.unwrap_or(if secs <= 2 * 3600 {
        Step::Minute
    } else if secs <= FIVE_MIN_MAX_SECS {
        Step::FiveMinutes
    } else {
        Step::Hour
    });
    let source = match req.source {
        SourcePref::Auto if raw_only_field(req, Rollups::Flows).is_some() => Source::Raw,
        SourcePref::Auto => match step {
            Step::Minute => Source::Raw,
            Step::FiveMinutes => Source::Rollup5m,
            Step::Hour => Source::Rollup1h,
        },
        _ => choose_source(req)?,
    };
    if !step.secs().is_multiple_of(source.bucket_secs()) {
        return Err(invalid(
            "step",
            format!(
                "{} buckets are too coarse for a {} step",
                source.table(),
                step.as_str()
            ),
        ));
    }
    let buckets = secs / i64::from(step.secs());
    if buckets > MAX_BUCKETS {
        return Err(invalid(
            "step",
            format!(
                "{} steps of {} in the range (at most {MAX_BUCKETS}); use a longer step",
                buckets,
                step.as_str()
            ),
        ));
    }
    Ok((step, source))
}

/// Bucket starts covering `[from, to)` for a step.
pub(crate) fn bucket_starts(from: i64, to: i64, step: i64) -> Vec<i64> {
    let mut b = from.div_euclid(step) * step;
    let mut out = Vec::new();
    while b < to {
        out.push(b);
        b += step;
    }
    out
}

/// Series kept by name in the chart; the rest is summed into "other".
const TOP_SERIES: usize = 6;

async fn traffic(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let (step, s) = traffic_plan(req)?;
    let by = req.by.unwrap_or(By::Protocol);
    let st = u64::from(step.secs());
    let mut args: Vec<Arg> = vec![st.into(), st.into()];
    args.extend(range_args(req));
    let name = if by == By::Exporter {
        "series_exporter"
    } else {
        "series_protocol"
    };
    let rows: Vec<(u32, String, u64, u64, u64)> =
        fetch_filtered(client, "traffic.sql", name, s, &filter(req), &args).await?;
    let buckets = bucket_starts(req.range.from, req.range.to, step.secs().into());
    let index: BTreeMap<i64, usize> = buckets.iter().enumerate().map(|(i, b)| (*b, i)).collect();
    let n = buckets.len();
    let (mut bytes, mut packets, mut flows) = (vec![0u64; n], vec![0u64; n], vec![0u64; n]);
    let mut per_series: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    let mut t = Totals::default();
    for (b, key, sb, sp, nf) in rows {
        let Some(&i) = index.get(&i64::from(b)) else {
            continue;
        };
        bytes[i] += sb;
        packets[i] += sp;
        flows[i] += nf;
        t.bytes += sb;
        t.packets += sp;
        t.flows += nf;
        per_series.entry(key).or_insert_with(|| vec![0; n])[i] += sb;
    }
    let label = |k: &str| match by {
        By::Exporter => hex_display(k),
        _ => k
            .parse::<u8>()
            .map_or_else(|_| k.to_string(), protocol_label),
    };
    let mut ranked_series: Vec<(String, Vec<u64>)> = per_series
        .into_iter()
        .map(|(k, v)| (label(&k), v))
        .collect();
    ranked_series.sort_by(|a, b| {
        b.1.iter()
            .sum::<u64>()
            .cmp(&a.1.iter().sum::<u64>())
            .then(a.0.cmp(&b.0))
    });
    let mut other = vec![0u64; n];
    let mut kept = Vec::new();
    for (i, (name, v)) in ranked_series.into_iter().enumerate() {
        if i < TOP_SERIES {
            kept.push((name, v));
        } else {
            for (o, x) in other.iter_mut().zip(v) {
                *o += x;
            }
        }
    }
    if other.iter().any(|x| *x > 0) {
        kept.push(("other".into(), other));
    }
    let stepf = f64::from(step.secs());
    let bps = |b: u64| b as f64 * 8.0 / stepf;
    let mut columns = vec![
        Column::new("time", "Time (UTC)", Unit::Time),
        Column::new("bps", "Bits/s", Unit::Bps),
        Column::new("pps", "Packets/s", Unit::Pps),
        Column::new("flows_per_s", "Flows/s", Unit::PerSec),
        Column::new("bytes", "Bytes", Unit::Bytes),
        Column::new("packets", "Packets", Unit::Packets),
        Column::new("flows", "Flows", Unit::Count),
    ];
    for (name, _) in &kept {
        columns.push(Column {
            key: format!("bps_{name}"),
            title: format!("{name} b/s"),
            unit: Unit::Bps,
        });
    }
    let table_rows = (0..n)
        .map(|i| {
            let mut cells = vec![
                Value::Int(buckets[i]),
                Value::Float(bps(bytes[i])),
                Value::Float(packets[i] as f64 / stepf),
                Value::Float(flows[i] as f64 / stepf),
                Value::UInt(bytes[i]),
                Value::UInt(packets[i]),
                Value::UInt(flows[i]),
            ];
            cells.extend(kept.iter().map(|(_, v)| Value::Float(bps(v[i]))));
            Row {
                cells,
                other: false,
            }
        })
        .collect();
    let mut rep = base(
        req,
        format!(
            "Traffic by {} ({} steps)",
            if by == By::Exporter {
                "exporter"
            } else {
                "protocol"
            },
            step.as_str()
        ),
        s.table().into(),
    );
    rollup_note(&mut rep, s);
    rep.chart = Chart::Stacked {
        buckets,
        series: kept
            .into_iter()
            .map(|(name, v)| Series {
                name,
                values: v.into_iter().map(bps).collect(),
            })
            .collect(),
        unit: Unit::Bps,
    };
    rep.columns = columns;
    rep.rows = table_rows;
    rep.totals = Some(t);
    Ok(rep)
}

#[derive(Debug, Default, Deserialize, clickhouse::Row)]
struct IfRow {
    e: String,
    ifindex: u32,
    in_total: u64,
    out_total: u64,
    in_max: u64,
    out_max: u64,
    in_p95: u64,
    out_p95: u64,
    name: String,
    speed: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct IfCountersRow {
    e: String,
    ifindex: u32,
    in_o: u64,
    out_o: u64,
    ms: u64,
    sp: u64,
}

async fn interfaces(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let s = match req.source {
        SourcePref::Auto if raw_only_field(req, Rollups::Flows).is_some() => Source::Raw,
        SourcePref::Auto if req.range.secs() > IF_FIVE_MIN_MAX_SECS => Source::Rollup1h,
        SourcePref::Auto => Source::Rollup5m,
        _ => choose_source(req)?,
    };
    let bucket = s.bucket_secs().max(300);
    let nb = bucket_starts(req.range.from, req.range.to, bucket.into()).len() as u64;
    let e = exporter_arg(req);
    let args: Vec<Arg> = vec![
        nb.into(),
        nb.into(),
        req.range.from.into(),
        req.range.to.into(),
        req.range.from.into(),
        req.range.to.into(),
        e.clone(),
        e,
    ];
    let rows: Vec<IfRow> =
        fetch_filtered(client, "interfaces.sql", "rows", s, &filter(req), &args).await?;
    let ifindex = u64::from(req.interface.unwrap_or(0));
    let counter_args: Vec<Arg> = vec![
        req.range.from.into(),
        req.range.to.into(),
        exporter_arg(req),
        exporter_arg(req),
        ifindex.into(),
        ifindex.into(),
    ];
    let mut counters: BTreeMap<(String, u32), IfCountersRow> = fetch_all::<IfCountersRow>(
        client,
        "interfaces.sql",
        "counters",
        Source::Raw,
        &counter_args,
    )
    .await?
    .into_iter()
    .map(|c| ((c.e.clone(), c.ifindex), c))
    .collect();
    // Interfaces with counters and no flows get a row of their own (flow columns empty).
    let with_flows: std::collections::BTreeSet<(String, u32)> =
        rows.iter().map(|r| (r.e.clone(), r.ifindex)).collect();
    let mut rows = rows;
    rows.extend(
        counters
            .keys()
            .filter(|k| !with_flows.contains(*k))
            .map(|(e, ifindex)| IfRow {
                e: e.clone(),
                ifindex: *ifindex,
                ..IfRow::default()
            }),
    );
    let bf = f64::from(bucket);
    let bps = |b: u64| b as f64 * 8.0 / bf;
    let avg = |total: u64| total as f64 * 8.0 / (nb.max(1) as f64 * bf);
    let util = |v: f64, speed: u64| {
        if speed > 0 {
            Value::Float(v * 100.0 / speed as f64)
        } else {
            Value::Null
        }
    };
    let columns = vec![
        Column::new("exporter", "Exporter", Unit::Text),
        Column::new("ifindex", "ifIndex", Unit::Id),
        Column::new("interface", "Interface", Unit::Text),
        Column::new("speed_bps", "Speed", Unit::Bps),
        Column::new("in_avg_bps", "In avg", Unit::Bps),
        Column::new("in_p95_bps", "In 95th", Unit::Bps),
        Column::new("in_max_bps", "In max", Unit::Bps),
        Column::new("out_avg_bps", "Out avg", Unit::Bps),
        Column::new("out_p95_bps", "Out 95th", Unit::Bps),
        Column::new("out_max_bps", "Out max", Unit::Bps),
        Column::new("in_util_pct", "In util (95th)", Unit::Percent),
        Column::new("out_util_pct", "Out util (95th)", Unit::Percent),
        Column::new("in_counters_bps", "In (counters)", Unit::Bps),
        Column::new("out_counters_bps", "Out (counters)", Unit::Bps),
        Column::new("in_counters_util_pct", "In util (counters)", Unit::Percent),
        Column::new(
            "out_counters_util_pct",
            "Out util (counters)",
            Unit::Percent,
        ),
    ];
    let mut t = Totals::default();
    let out_rows = rows
        .into_iter()
        .map(|r| {
            let c = counters.remove(&(r.e.clone(), r.ifindex));
            let flows = with_flows.contains(&(r.e.clone(), r.ifindex));
            let speed = if r.speed > 0 {
                r.speed
            } else {
                c.as_ref().map_or(0, |c| c.sp)
            };
            let counted = |octets: fn(&IfCountersRow) -> u64| {
                c.as_ref()
                    .filter(|c| c.ms > 0)
                    .map(|c| octets(c) as f64 * 8.0 * 1000.0 / c.ms as f64)
            };
            let (cin, cout) = (counted(|c| c.in_o), counted(|c| c.out_o));
            let flow_value = |v: Value| if flows { v } else { Value::Null };
            t.bytes += r.in_total;
            let exporter = hex_display(&r.e);
            let label = if r.name.is_empty() {
                format!("{exporter} if{}", r.ifindex)
            } else {
                r.name.clone()
            };
            Row {
                cells: vec![
                    Value::Text(exporter),
                    Value::UInt(u64::from(r.ifindex)),
                    Value::Text(label),
                    if speed > 0 {
                        Value::UInt(speed)
                    } else {
                        Value::Null
                    },
                    flow_value(Value::Float(avg(r.in_total))),
                    flow_value(Value::Float(bps(r.in_p95))),
                    flow_value(Value::Float(bps(r.in_max))),
                    flow_value(Value::Float(avg(r.out_total))),
                    flow_value(Value::Float(bps(r.out_p95))),
                    flow_value(Value::Float(bps(r.out_max))),
                    flow_value(util(bps(r.in_p95), speed)),
                    flow_value(util(bps(r.out_p95), speed)),
                    cin.map_or(Value::Null, Value::Float),
                    cout.map_or(Value::Null, Value::Float),
                    cin.map_or(Value::Null, |v| util(v, speed)),
                    cout.map_or(Value::Null, |v| util(v, speed)),
                ],
                other: false,
            }
        })
        .collect();
    let mut rep = base(
        req,
        format!("Interfaces ({}-second buckets)", bucket),
        format!("{}, interfaces", s.table()),
    );
    rollup_note(&mut rep, s);
    rep.notes.push(
        "95th percentile over all buckets in the range; buckets without traffic count as zero."
            .into(),
    );
    rep.notes.push(
        "Counters: the average over the range from the interfaces' own counters (sFlow counter \
         samples, the interface_counters table), unsampled; interfaces with counters and no \
         flows are listed too."
            .into(),
    );
    rep.chart = Chart::Bars {
        labels: vec![2],
        values: vec![5, 8],
    };
    rep.columns = columns;
    rep.rows = out_rows;
    Ok(rep)
}

/// (hi, lo) masks of a prefix over a 128-bit address.
pub(crate) fn mask128(bits: u32) -> (u64, u64) {
    let bits = bits.min(128);
    let hi = if bits >= 64 {
        u64::MAX
    } else if bits == 0 {
        0
    } else {
        u64::MAX << (64 - bits)
    };
    let lo = if bits <= 64 {
        0
    } else if bits == 128 {
        u64::MAX
    } else {
        u64::MAX << (128 - bits)
    };
    (hi, lo)
}

fn subnet_text(hi: u64, lo: u64, p4: u8, p6: u8) -> String {
    let a = std::net::Ipv6Addr::from((u128::from(hi) << 64) | u128::from(lo));
    match a.to_ipv4_mapped() {
        Some(v4) => format!("{v4}/{p4}"),
        None => format!("{}/{p6}", addr_display(a)),
    }
}

async fn matrix(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let f = "matrix.sql";
    let (items, t, s, title): (Vec<Ranked>, Totals, Source, String) = if let Some(p4) = req.prefix {
        if !matches!(req.source, SourcePref::Auto | SourcePref::Raw) {
            return Err(invalid(
                "source",
                "subnets need the addresses: only raw flows",
            ));
        }
        let (v4h, v4l) = mask128(96 + u32::from(p4));
        let (v6h, v6l) = mask128(u32::from(req.prefix6));
        let mut args: Vec<Arg> = Vec::new();
        for _ in 0..2 {
            args.extend([v4h.into(), v6h.into(), v4l.into(), v6l.into()]);
        }
        let fl = filter(req);
        args.extend(range_args(req));
        args.push(req.limit.into());
        let rows: Vec<(u64, u64, u64, u64, u64, u64, u64)> =
            fetch_filtered(client, f, "subnet_rows", Source::Raw, &fl, &args).await?;
        let t = totals(
            client,
            f,
            "subnet_totals",
            Source::Raw,
            &fl,
            &range_args(req),
        )
        .await?;
        let items = rows
            .into_iter()
            .map(|(sh, sl, dh, dl, b, p, fl)| {
                (
                    vec![
                        Value::Text(subnet_text(sh, sl, p4, req.prefix6)),
                        Value::Text(subnet_text(dh, dl, p4, req.prefix6)),
                    ],
                    b,
                    p,
                    fl,
                )
            })
            .collect();
        (
            items,
            t,
            Source::Raw,
            format!("Traffic matrix: source /{p4} x destination /{p4}"),
        )
    } else {
        let s = rollup_source(req)?;
        let fl = filter(req);
        let mut args = range_args(req);
        args.push(req.limit.into());
        let rows: Vec<AsPairRow> = fetch_filtered(client, f, "as_rows", s, &fl, &args).await?;
        let t = totals(client, f, "as_totals", s, &fl, &range_args(req)).await?;
        let items = rows
            .into_iter()
            .map(|(sa, da, b, p, fl, sn, dn)| {
                (
                    vec![
                        Value::Text(as_label(sa, &sn)),
                        Value::Text(as_label(da, &dn)),
                    ],
                    b,
                    p,
                    fl,
                )
            })
            .collect();
        (
            items,
            t,
            s,
            "Traffic matrix: source AS x destination AS".into(),
        )
    };
    let labels = vec![
        Column::new("src", "Source", Unit::Text),
        Column::new("dst", "Destination", Unit::Text),
    ];
    let mut rep = base(req, title, s.table().into());
    rollup_note(&mut rep, s);
    let (columns, rows) = ranked(labels, items, t);
    rep.chart = Chart::Bars {
        labels: vec![0, 1],
        values: vec![columns.iter().position(|c| c.key == "bytes").unwrap_or(0)],
    };
    rep.columns = columns;
    rep.rows = rows;
    rep.totals = Some(t);
    Ok(rep)
}

/// The source of an enrichment report (countries, networks, providers): [`rollup_source`], read
/// from the enrichment rollups (`{enrich_table}`), except that a request filtered by an interface
/// (or by a filter field they do not hold) reads raw `flows`: the enrichment rollups have no
/// interfaces.
fn enrich_source(req: &ReportRequest) -> Result<Source, ReportError> {
    if req.interface.is_none() {
        return rollup_source_in(req, Rollups::Enrich);
    }
    match req.source {
        SourcePref::Auto | SourcePref::Raw => Ok(Source::Raw),
        _ => Err(invalid(
            "source",
            "the enrichment rollups have no interfaces: --interface reads raw flows",
        )),
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct KeyRow {
    k: String,
    sbytes: u64,
    spackets: u64,
    nflows: u64,
}

/// Countries, networks and providers: one text key ranked by bytes.
async fn enrichment(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let s = enrich_source(req)?;
    // (grouped column, report column key, column title, what an empty key means, report title)
    let (col, key, title, empty, what) = match (req.kind, req.by) {
        (ReportKind::Countries, Some(By::Dst)) => (
            EnrichKey::DstCountry,
            "country",
            "Destination country",
            "(unknown)",
            "destination country",
        ),
        (ReportKind::Countries, _) => (
            EnrichKey::SrcCountry,
            "country",
            "Source country",
            "(unknown)",
            "source country",
        ),
        (ReportKind::Networks, Some(By::Dst)) => (
            EnrichKey::DstNet,
            "network",
            "Destination network",
            "(none)",
            "destination network",
        ),
        (ReportKind::Networks, _) => (
            EnrichKey::SrcNet,
            "network",
            "Source network",
            "(none)",
            "source network",
        ),
        (ReportKind::Providers, Some(By::Out)) => (
            EnrichKey::OutProvider,
            "provider",
            "Output provider",
            "(none)",
            "output interface provider",
        ),
        (ReportKind::Providers, _) => (
            EnrichKey::InProvider,
            "provider",
            "Input provider",
            "(none)",
            "input interface provider",
        ),
        (k, _) => {
            return Err(ReportError::Internal(format!(
                "{k} is not an enrichment report"
            )));
        }
    };
    let fl = Filter {
        key: Some(col),
        ..filter(req)
    };
    let mut args = range_args(req);
    args.push(req.limit.into());
    let rows: Vec<KeyRow> = fetch_filtered(client, "enriched.sql", "rows", s, &fl, &args).await?;
    let t = totals(client, "enriched.sql", "totals", s, &fl, &range_args(req)).await?;
    let labels = vec![
        Column::new("rank", "#", Unit::Id),
        Column::new(key, title, Unit::Text),
    ];
    let items = rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let label = if r.k.is_empty() {
                empty.to_string()
            } else {
                r.k
            };
            (
                vec![Value::UInt(i as u64 + 1), Value::Text(label)],
                r.sbytes,
                r.spackets,
                r.nflows,
            )
        })
        .collect();
    let mut rep = base(req, format!("Traffic by {what}"), s.enrich_table().into());
    if s != Source::Raw {
        rep.notes.push(format!(
            "Read from {}: whole {}-second buckets whose start is in the range, from the time the \
             enrichment rollups were created (migration 13).",
            s.enrich_table(),
            s.bucket_secs()
        ));
    } else if req.interface.is_some() {
        rep.notes
            .push("Read from raw flows: the enrichment rollups have no interfaces.".into());
    }
    let (columns, rows) = ranked(labels, items, t);
    rep.chart = Chart::Bars {
        labels: vec![1],
        values: vec![columns.iter().position(|c| c.key == "bytes").unwrap_or(0)],
    };
    rep.columns = columns;
    rep.rows = rows;
    rep.totals = Some(t);
    Ok(rep)
}

/// A collector counter of the inventory row; empty when no collector has written one (rows from
/// before the counters existed have `since` = 0).
fn counter(inv: &Option<InventoryRow>, f: impl Fn(&InventoryRow) -> u64) -> Value {
    inv.as_ref()
        .filter(|i| i.since > 0)
        .map_or(Value::Null, |i| Value::UInt(f(i)))
}

/// An sFlow agent's counter (agents have a UDP source on record; other exporters get none).
fn sflow_counter(inv: &Option<InventoryRow>, f: impl Fn(&InventoryRow) -> u64) -> Value {
    inv.as_ref()
        .filter(|i| i.since > 0 && i.udp.bytes().any(|b| b != b'0'))
        .map_or(Value::Null, |i| Value::UInt(f(i)))
}

/// `bad_length=4, truncated=3`, or `none`.
fn errors_by_kind(i: &InventoryRow) -> String {
    let parts: Vec<String> = i
        .error_kinds
        .iter()
        .zip(&i.error_counts)
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k}={n}"))
        .collect();
    if parts.is_empty() {
        "none".into()
    } else {
        parts.join(", ")
    }
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct InventoryRow {
    a: String,
    n: String,
    seen: u32,
    v: Vec<u16>,
    rate: u32,
    tpl: u32,
    otpl: u32,
    first: u32,
    rate_source: String,
    dgrams: u64,
    recs: u64,
    lost: u64,
    errors: u64,
    error_kinds: Vec<String>,
    error_counts: Vec<u64>,
    padding: u64,
    collector_skew_ms: i64,
    since: u32,
    udp: String,
    samples_lost: u64,
    agent_drops: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct ActivityRow {
    a: String,
    nflows: u64,
    last_flow: u32,
    rate: u32,
    rate_source: String,
    skew_ms: i64,
    with_end: u64,
}

#[derive(Debug, Deserialize, clickhouse::Row)]
struct AccuracyRow {
    a: String,
    sampled: u64,
    counted: u64,
}

async fn exporters(client: &Client, req: &ReportRequest) -> Result<Report, ReportError> {
    let f = "exporters.sql";
    let e = exporter_arg(req);
    let inv: Vec<InventoryRow> =
        fetch_all(client, f, "inventory", Source::Raw, &[e.clone(), e.clone()]).await?;
    let range = |e: &Arg| {
        [
            req.range.from.into(),
            req.range.to.into(),
            e.clone(),
            e.clone(),
        ]
    };
    let act: Vec<ActivityRow> = fetch_all(client, f, "activity", Source::Raw, &range(&e)).await?;
    let accuracy: HashMap<String, f64> =
        fetch_all::<AccuracyRow>(client, f, "accuracy", Source::Raw, &range(&e))
            .await?
            .into_iter()
            .filter(|r| r.counted > 0)
            .map(|r| (r.a, r.sampled as f64 / r.counted as f64 * 100.0))
            .collect();
    let mut by_addr: BTreeMap<String, (Option<InventoryRow>, Option<ActivityRow>)> =
        BTreeMap::new();
    for i in inv {
        let k = i.a.clone();
        by_addr.entry(k).or_default().0 = Some(i);
    }
    for a in act {
        let k = a.a.clone();
        by_addr.entry(k).or_default().1 = Some(a);
    }
    let secs = req.range.secs() as f64;
    let columns = vec![
        Column::new("exporter", "Exporter", Unit::Text),
        Column::new("name", "Name", Unit::Text),
        Column::new("last_seen", "Last seen (UTC)", Unit::Time),
        Column::new("versions", "Versions", Unit::Text),
        Column::new("flows", "Flows", Unit::Count),
        Column::new("flows_per_s", "Flows/s", Unit::PerSec),
        Column::new("templates", "Templates", Unit::Id),
        Column::new("options_templates", "Options tpl", Unit::Id),
        Column::new("sampling_rate", "Sampling 1:N", Unit::Id),
        Column::new("sampling_source", "Sampling from", Unit::Text),
        Column::new("clock_skew_ms", "Clock skew", Unit::Millis),
        Column::new("first_seen", "First seen (UTC)", Unit::Time),
        Column::new("datagrams", "Datagrams", Unit::Count),
        Column::new("records_decoded", "Records decoded", Unit::Count),
        Column::new("sequence_lost", "Seq. lost", Unit::Count),
        Column::new("decode_errors", "Decode errors", Unit::Count),
        Column::new("errors_by_kind", "Errors by kind", Unit::Text),
        Column::new("padding_bytes", "Padding", Unit::Bytes),
        Column::new("collector_clock_skew_s", "Export skew", Unit::Seconds),
        Column::new("sampling_accuracy_pct", "Sampled/counters", Unit::Percent),
        Column::new("udp_source", "UDP source", Unit::Text),
        Column::new("samples_lost", "Samples lost", Unit::Count),
        Column::new("agent_drops", "Agent drops", Unit::Count),
    ];
    let rows = by_addr
        .into_iter()
        .map(|(hex, (inv, act))| {
            let addr = addr_from_hex(&hex).map_or(hex.clone(), addr_display);
            let last_seen = inv
                .as_ref()
                .map(|i| i.seen)
                .max(act.as_ref().map(|a| a.last_flow))
                .map_or(Value::Null, |s| Value::Int(i64::from(s)));
            let flows = act.as_ref().map_or(0, |a| a.nflows);
            let rate = act
                .as_ref()
                .map(|a| a.rate)
                .or(inv.as_ref().map(|i| i.rate));
            Row {
                cells: vec![
                    Value::Text(addr),
                    inv.as_ref()
                        .filter(|i| !i.n.is_empty())
                        .map_or(Value::Null, |i| Value::Text(i.n.clone())),
                    last_seen,
                    inv.as_ref().map_or(Value::Null, |i| {
                        Value::Text(i.v.iter().map(u16::to_string).collect::<Vec<_>>().join(","))
                    }),
                    Value::UInt(flows),
                    Value::Float(flows as f64 / secs),
                    inv.as_ref()
                        .map_or(Value::Null, |i| Value::UInt(u64::from(i.tpl))),
                    inv.as_ref()
                        .map_or(Value::Null, |i| Value::UInt(u64::from(i.otpl))),
                    rate.map_or(Value::Null, |r| Value::UInt(u64::from(r))),
                    act.as_ref()
                        .map(|a| a.rate_source.clone())
                        .or(inv.as_ref().map(|i| i.rate_source.clone()))
                        .map_or(Value::Null, |s| {
                            Value::Text(if s.is_empty() { "unknown".into() } else { s })
                        }),
                    act.as_ref()
                        .filter(|a| a.with_end > 0)
                        .map_or(Value::Null, |a| Value::Int(a.skew_ms)),
                    inv.as_ref()
                        .filter(|i| i.first > 0)
                        .map_or(Value::Null, |i| Value::Int(i64::from(i.first))),
                    counter(&inv, |i| i.dgrams),
                    counter(&inv, |i| i.recs),
                    counter(&inv, |i| i.lost),
                    counter(&inv, |i| i.errors),
                    inv.as_ref()
                        .filter(|i| i.since > 0)
                        .map_or(Value::Null, |i| Value::Text(errors_by_kind(i))),
                    counter(&inv, |i| i.padding),
                    inv.as_ref()
                        .filter(|i| i.since > 0)
                        .map_or(Value::Null, |i| {
                            Value::Float(i.collector_skew_ms as f64 / 1000.0)
                        }),
                    accuracy.get(&hex).map_or(Value::Null, |p| Value::Float(*p)),
                    inv.as_ref()
                        .and_then(|i| addr_from_hex(&i.udp))
                        .filter(|a| !a.is_unspecified())
                        .map_or(Value::Null, |a| Value::Text(addr_display(a))),
                    sflow_counter(&inv, |i| i.samples_lost),
                    sflow_counter(&inv, |i| i.agent_drops),
                ],
                other: false,
            }
        })
        .collect();
    let mut rep = base(req, "Exporter health".into(), "exporters, flows".into());
    rep.notes.push(
        "Clock skew: median of (time received - flow end) in the range. Export skew: export \
         time minus receive time of the exporter's last datagram. Datagrams, sequence losses, \
         decode errors and padding count since the collector last started (the exporters table, \
         written by sluice run at every metrics interval). Sampled/counters (sFlow): the \
         traffic estimated from each interface's flow samples (frame length x rate) over the \
         traffic its counters saw in the same intervals; 100 % is exact with ingress sampling. \
         sFlow agents are known by the agent address inside their datagrams; UDP source is where \
         the last one came from."
            .into(),
    );
    rep.chart = Chart::Bars {
        labels: vec![0],
        values: vec![5],
    };
    rep.columns = columns;
    rep.rows = rows;
    Ok(rep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TimeRange;

    #[test]
    fn masks_cover_prefixes() {
        assert_eq!(mask128(0), (0, 0));
        assert_eq!(mask128(64), (u64::MAX, 0));
        assert_eq!(mask128(120), (u64::MAX, u64::MAX << 8));
        assert_eq!(mask128(128), (u64::MAX, u64::MAX));
        assert_eq!(mask128(48), (u64::MAX << 16, 0));
        assert_eq!(
            subnet_text(0, 0x0000_ffff_c000_0200, 24, 64),
            "192.0.2.0/24"
        );
    }

    #[test]
    fn ranked_rollups_split_ranges_that_flows_5m_answers() {
        // 00:10 .. 03:20 holds whole hours: the split.
        let mut q = ReportRequest::new(ReportKind::Matrix, TimeRange::new(600, 12000).unwrap());
        assert_eq!(
            rollup_source(&q).unwrap(),
            Source::HourSplit {
                from: 600,
                to: 12000
            }
        );
        // No whole hour: flows_5m alone.
        q.range = TimeRange::new(600, 4000).unwrap();
        assert_eq!(rollup_source(&q).unwrap(), Source::Raw);
        q.range = TimeRange::new(600, 7000).unwrap();
        assert_eq!(rollup_source(&q).unwrap(), Source::Rollup5m);
        // A forced table stays that table; long ranges read flows_1h.
        q.range = TimeRange::new(600, 12000).unwrap();
        q.source = SourcePref::Rollup5m;
        assert_eq!(rollup_source(&q).unwrap(), Source::Rollup5m);
        q.source = SourcePref::Auto;
        q.range = TimeRange::new(0, 7 * 86_400).unwrap();
        assert_eq!(rollup_source(&q).unwrap(), Source::Rollup1h);
    }

    #[test]
    fn enrichment_reports_read_raw_flows_for_an_interface() {
        let mut q = ReportRequest::new(ReportKind::Countries, TimeRange::new(0, 86_400).unwrap());
        assert_eq!(
            enrich_source(&q).unwrap(),
            Source::HourSplit {
                from: 0,
                to: 86_400
            }
        );
        q.interface = Some(3);
        assert_eq!(enrich_source(&q).unwrap(), Source::Raw);
        q.source = SourcePref::Rollup5m;
        assert!(enrich_source(&q).is_err());
        q.interface = None;
        assert_eq!(enrich_source(&q).unwrap(), Source::Rollup5m);
    }

    #[test]
    fn filters_on_fields_a_rollup_lacks_read_raw_flows_or_are_refused() {
        let day = TimeRange::new(0, 86_400).unwrap();
        let f = |s: &str| Some(crate::filter::FilterExpr::parse(s).unwrap());
        let mut q = ReportRequest::new(ReportKind::Protocols, day);
        q.filter = f("proto = tcp and src_as = AS13335 and exporter = 192.0.2.1");
        assert_eq!(
            rollup_source(&q).unwrap(),
            Source::HourSplit {
                from: 0,
                to: 86_400
            }
        );
        q.filter = f("proto = tcp and dst_port = 443");
        assert_eq!(rollup_source(&q).unwrap(), Source::Raw);
        q.kind = ReportKind::Traffic;
        assert_eq!(traffic_plan(&q).unwrap(), (Step::FiveMinutes, Source::Raw));
        q.source = SourcePref::Rollup5m;
        let e = choose_source(&q).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid filter: dst_port is not in flows_5m"),
            "{e}"
        );
        q.source = SourcePref::Raw;
        assert_eq!(choose_source(&q).unwrap(), Source::Raw);
        // The enrichment rollups hold countries but not protocols.
        let mut q = ReportRequest::new(ReportKind::Countries, day);
        q.filter = f("dst_country = FR and exporter = ::1");
        assert_eq!(
            enrich_source(&q).unwrap(),
            Source::HourSplit {
                from: 0,
                to: 86_400
            }
        );
        q.filter = f("dst_country = FR and proto = udp");
        assert_eq!(enrich_source(&q).unwrap(), Source::Raw);
        q.source = SourcePref::Rollup1h;
        assert!(enrich_source(&q).is_err());
        // And the flow rollups do not hold countries.
        let mut q = ReportRequest::new(ReportKind::TopApps, day);
        q.filter = f("src_country = US");
        assert_eq!(rollup_source(&q).unwrap(), Source::Raw);
        let mut q = ReportRequest::new(ReportKind::Exporters, day);
        q.filter = f("proto = tcp");
        assert!(q.validate().is_err());
    }

    #[test]
    fn ases_show_their_names_when_known() {
        assert_eq!(as_label(64500, "Example Corp"), "AS64500 Example Corp");
        assert_eq!(as_label(64501, ""), "AS64501");
    }

    #[test]
    fn source_follows_range_length() {
        let mut q = ReportRequest::new(ReportKind::TopApps, TimeRange::new(0, 1800).unwrap());
        assert_eq!(choose_source(&q).unwrap(), Source::Raw);
        q.range = TimeRange::new(0, 86_400).unwrap();
        assert_eq!(choose_source(&q).unwrap(), Source::Rollup5m);
        q.range = TimeRange::new(0, 7 * 86_400).unwrap();
        assert_eq!(choose_source(&q).unwrap(), Source::Rollup1h);
        q.source = SourcePref::Raw;
        assert_eq!(choose_source(&q).unwrap(), Source::Raw);
    }

    #[test]
    fn traffic_step_follows_range_and_refuses_too_fine_steps() {
        let mut q = ReportRequest::new(ReportKind::Traffic, TimeRange::new(0, 3600).unwrap());
        assert_eq!(traffic_plan(&q).unwrap(), (Step::Minute, Source::Raw));
        q.range = TimeRange::new(0, 86_400).unwrap();
        assert_eq!(
            traffic_plan(&q).unwrap(),
            (Step::FiveMinutes, Source::Rollup5m)
        );
        q.range = TimeRange::new(0, 30 * 86_400).unwrap();
        assert_eq!(traffic_plan(&q).unwrap(), (Step::Hour, Source::Rollup1h));
        q.step = Some(Step::Minute);
        assert!(traffic_plan(&q).is_err(), "43200 one-minute steps");
        q.range = TimeRange::new(0, 3600).unwrap();
        q.source = SourcePref::Rollup1h;
        assert!(traffic_plan(&q).is_err(), "1h buckets for a 1m step");
    }

    #[test]
    fn buckets_cover_the_range() {
        assert_eq!(bucket_starts(0, 900, 300), vec![0, 300, 600]);
        assert_eq!(bucket_starts(100, 700, 300), vec![0, 300, 600]);
    }

    #[test]
    fn other_row_is_total_minus_rows() {
        let t = Totals {
            bytes: 100,
            packets: 10,
            flows: 4,
        };
        let (cols, rows) = ranked(
            vec![Column::new("k", "K", Unit::Text)],
            vec![(vec![Value::Text("a".into())], 60, 6, 1)],
            t,
        );
        assert_eq!(cols.len(), 5);
        assert_eq!(rows.len(), 2);
        assert!(rows[1].other);
        assert_eq!(rows[1].cells[1], Value::UInt(40));
        assert_eq!(rows[1].cells[4], Value::Float(40.0));
    }
}
