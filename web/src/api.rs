//! The handlers of `/api/v1` and `/healthz`.
//!
//! Owns: parsing and checking every parameter (times as RFC 3339 or Unix seconds, a dimension
//! from [`Field`], a metric, a limit, a step, a filter of the filter language) into a typed
//! request before any query; the error body (`{"error":{"param","message","position",
//! "expected"}}`, status 400 for the caller's mistakes, 502 when ClickHouse fails, 503 when a
//! part is not configured); the JSON shapes the README documents.
//! Must never: pass a caller's string to ClickHouse other than as a bound value.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use report::explore::{self, ExploreRequest, Metric};
use report::fields::Field;
use report::filter::FilterExpr;
use report::library::Filter;
use report::{Format, ReportError, TimeRange};
use serde::Serialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::AppState;

/// Longest a parameter may be (a filter included), bytes.
pub const MAX_PARAM_BYTES: usize = 4096;

/// An API error: status and body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: Value,
}

impl ApiError {
    fn bad(param: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            body: json!({"error": {"param": param, "message": message.into()}}),
        }
    }

    fn unavailable(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({"error": {"message": message}}),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> ApiError {
        match e {
            ReportError::Invalid { param, reason } => ApiError::bad(param, reason),
            ReportError::Query { query, source } => {
                tracing::warn!(query, error = %source, "API query failed");
                ApiError {
                    status: StatusCode::BAD_GATEWAY,
                    body: json!({"error": {"message": format!("ClickHouse failed the query ({query})")}}),
                }
            }
            ReportError::Internal(m) => ApiError {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                body: json!({"error": {"message": m}}),
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

type Params = Query<HashMap<String, String>>;

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// A parameter, at most [`MAX_PARAM_BYTES`].
fn param<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<Option<&'a str>, ApiError> {
    match p.get(name) {
        Some(v) if v.len() > MAX_PARAM_BYTES => Err(ApiError::bad(
            name,
            format!("longer than {MAX_PARAM_BYTES} bytes"),
        )),
        Some(v) if v.trim().is_empty() => Ok(None),
        Some(v) => Ok(Some(v.as_str())),
        None => Ok(None),
    }
}

/// RFC 3339 (`2026-12-01T10:00:00Z`) or Unix seconds.
pub fn parse_time(name: &str, s: &str) -> Result<i64, ApiError> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s
            .parse::<i64>()
            .ok()
            .filter(|v| *v <= i64::from(u32::MAX))
            .ok_or_else(|| ApiError::bad(name, "Unix seconds out of range (1970-2106)"));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| t.timestamp())
        .map_err(|_| {
            ApiError::bad(
                name,
                "not a time: use RFC 3339 (2026-12-01T10:00:00Z) or Unix seconds",
            )
        })
}

fn range(p: &HashMap<String, String>) -> Result<TimeRange, ApiError> {
    let to = match param(p, "to")? {
        Some(t) => parse_time("to", t)?,
        None => now(),
    };
    let from = match param(p, "from")? {
        Some(t) => parse_time("from", t)?,
        None => to - 3600,
    };
    Ok(TimeRange::new(from, to)?)
}

fn filter_of(
    p: &HashMap<String, String>,
) -> Result<(Filter, Vec<Field>, Option<String>), ApiError> {
    let Some(text) = param(p, "filter")? else {
        return Ok((Filter::default(), Vec::new(), None));
    };
    let expr = FilterExpr::parse(text).map_err(|e| ApiError {
        status: StatusCode::BAD_REQUEST,
        body: json!({"error": {
            "param": "filter",
            "message": e.to_string(),
            "position": e.position,
            "expected": e.expected,
        }}),
    })?;
    let fields = expr.fields();
    let canonical = expr.to_text();
    Ok((
        Filter {
            expr: Some(expr),
            ..Filter::default()
        },
        fields,
        Some(canonical),
    ))
}

fn explore_request(
    p: &HashMap<String, String>,
) -> Result<(ExploreRequest, Option<String>), ApiError> {
    for k in p.keys() {
        if !matches!(
            k.as_str(),
            "dimension" | "from" | "to" | "limit" | "filter" | "metric" | "step"
        ) {
            return Err(ApiError::bad(
                "query",
                format!("unknown parameter {:?}", trunc(k)),
            ));
        }
    }
    let dimension: Field = param(p, "dimension")?
        .ok_or_else(|| ApiError::bad("dimension", "required (see /api/v1/dimensions)"))?
        .parse()
        .map_err(|e: report::fields::UnknownField| {
            ApiError::bad("dimension", format!("{e} (see /api/v1/dimensions)"))
        })?;
    let range = range(p)?;
    let limit = match param(p, "limit")? {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|v| (1..=explore::MAX_EXPLORE_LIMIT).contains(v))
            .ok_or_else(|| {
                ApiError::bad(
                    "limit",
                    format!("a number in 1..={}", explore::MAX_EXPLORE_LIMIT),
                )
            })?,
        None => 10,
    };
    let metric = match param(p, "metric")? {
        Some(m) => Metric::parse(m)?,
        None => Metric::Bytes,
    };
    let step = match param(p, "step")? {
        Some(s) if s.bytes().all(|b| b.is_ascii_digit()) => Some(
            s.parse::<i64>()
                .map_err(|_| ApiError::bad("step", "seconds out of range"))?,
        ),
        Some(s) => Some(
            report::parse_duration(s)
                .map_err(|_| ApiError::bad("step", "seconds, or a duration like 1m, 5m, 1h"))?,
        ),
        None => None,
    };
    let (filter, filter_fields, canonical) = filter_of(p)?;
    Ok((
        ExploreRequest {
            dimension,
            range,
            limit,
            metric,
            filter,
            filter_fields,
            step,
        },
        canonical,
    ))
}

fn trunc(s: &str) -> String {
    s.chars().take(40).collect()
}

fn client(state: &AppState) -> Result<&report::Client, ApiError> {
    state.client.as_ref().ok_or_else(|| {
        ApiError::unavailable(
            "no ClickHouse configured ([clickhouse] with output.sink = \"clickhouse\")",
        )
    })
}

/// `GET /api/v1/top`.
pub async fn top(
    State(state): State<Arc<AppState>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let (req, filter) = explore_request(&p)?;
    let t = explore::top(client(&state)?, &req).await?;
    Ok(Json(json!({
        "dimension": req.dimension.name(),
        "metric": req.metric.as_str(),
        "filter": filter,
        "from": t.from,
        "to": t.to,
        "rows": t.rows,
        "other": t.other,
        "total": t.total,
        "source": t.source,
    }))
    .into_response())
}

/// `GET /api/v1/series`.
pub async fn series(
    State(state): State<Arc<AppState>>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let (req, filter) = explore_request(&p)?;
    let s = explore::series(client(&state)?, &req).await?;
    Ok(Json(json!({
        "dimension": req.dimension.name(),
        "metric": req.metric.as_str(),
        "filter": filter,
        "from": s.from,
        "to": s.to,
        "step": s.step,
        "time": s.time,
        "series": s.series,
        "other": s.other.values,
        "other_stats": line_stats(&s.other),
        "total": s.total.values,
        "total_stats": line_stats(&s.total),
        "source": s.source,
    }))
    .into_response())
}

/// The summary of a series beside its values: `other` and `total` are plain arrays of values (the
/// issue's shape), their statistics go in `other_stats` and `total_stats`.
fn line_stats(l: &explore::SeriesLine) -> Value {
    json!({"avg": l.avg, "max": l.max, "p95": l.p95, "total": l.total})
}

/// `GET /api/v1/dimensions`.
pub async fn dimensions(State(state): State<Arc<AppState>>) -> Json<Value> {
    let dims: Vec<Value> = Field::ALL
        .iter()
        .map(|f| {
            json!({
                "name": f.name(),
                "title": f.title(),
                "type": f.ty().as_str(),
                "tables": explore::dimension_tables(*f),
            })
        })
        .collect();
    let live: Vec<&str> = state
        .live
        .as_ref()
        .map(|h| h.dimensions().iter().map(|d| d.as_str()).collect())
        .unwrap_or_default();
    Json(json!({
        "dimensions": dims,
        "metrics": ["bytes", "packets", "flows"],
        "live_dimensions": live,
    }))
}

/// `GET /healthz`: 200 when every configured part answers, 503 otherwise.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let clickhouse = match &state.client {
        None => "not configured",
        Some(c) => match tokio::time::timeout(
            Duration::from_secs(3),
            c.query("SELECT 1").fetch_one::<u8>(),
        )
        .await
        {
            Ok(Ok(_)) => "ok",
            _ => "unreachable",
        },
    };
    // In `sluice web` ClickHouse is everything; in `sluice run` the collector keeps collecting
    // (into its spool) while ClickHouse is down.
    let ok = clickhouse != "unreachable" || state.mode == "run";
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(json!({
            "status": if ok { "ok" } else { "degraded" },
            "mode": state.mode,
            "clickhouse": clickhouse,
            "live": state.live.is_some(),
        })),
    )
        .into_response()
}

/// `GET /api/v1/live`: Server-Sent Events, one `window` event per closed window (the kept ones
/// first).
pub async fn live(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let hub = state.live.as_ref().ok_or_else(|| {
        ApiError::unavailable("no live feed: neither the collector's windows nor ClickHouse")
    })?;
    let (recent, rx) = hub.subscribe();
    let first = tokio_stream::iter(
        recent
            .into_iter()
            .map(|w| Ok::<_, Infallible>(window_event(&w))),
    );
    let next = BroadcastStream::new(rx).filter_map(|m| match m {
        Ok(w) => Some(Ok(window_event(&w))),
        // A client too slow for the feed skips windows rather than holding it.
        Err(_) => None,
    });
    Ok(Sse::new(first.chain(next))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn window_event(w: &str) -> Event {
    Event::default().event("window").data(w)
}

/// One exporter as `/api/v1/exporters` shows it.
#[derive(Serialize)]
struct ExporterJson {
    address: String,
    name: String,
    versions: Vec<u16>,
    datagrams_per_sec: Option<f64>,
    records_per_sec: Option<f64>,
    templates: u32,
    options_templates: u32,
    sampling_rate: u32,
    sampling_source: String,
    sequence_lost: u64,
    errors: HashMap<String, u64>,
    datagrams: u64,
    records: u64,
    clock_skew_ms: i64,
    first_seen: u32,
    last_seen: u32,
    /// sFlow: the UDP source of the agent's last datagram (null for NetFlow and IPFIX).
    udp_source: Option<String>,
    /// sFlow: samples lost in transit and samples the agent dropped.
    samples_lost: u64,
    agent_drops: u64,
}

/// `GET /api/v1/exporters`: from the collector inside `sluice run`, else from the `exporters`
/// table (rates from the flows of the last 5 minutes).
pub async fn exporters(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    if let Some(feed) = &state.exporters {
        let rows = feed.exporters();
        let at = Instant::now();
        let mut samples = state
            .samples
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let out: Vec<ExporterJson> = rows
            .into_iter()
            .map(|r| {
                let (dps, rps) = match samples.get(&r.address) {
                    Some((t, d, n)) if at.duration_since(*t) >= Duration::from_millis(500) => {
                        let s = at.duration_since(*t).as_secs_f64();
                        (
                            Some(r.datagrams.saturating_sub(*d) as f64 / s),
                            Some(r.records.saturating_sub(*n) as f64 / s),
                        )
                    }
                    _ => (None, None),
                };
                if dps.is_some() || !samples.contains_key(&r.address) {
                    samples.insert(r.address, (at, r.datagrams, r.records));
                }
                ExporterJson {
                    address: report::names::addr_display(r.address),
                    name: r.name,
                    versions: r.versions,
                    datagrams_per_sec: dps,
                    records_per_sec: rps,
                    templates: r.templates,
                    options_templates: r.options_templates,
                    sampling_rate: r.sampling_rate,
                    sampling_source: r.sampling_source,
                    sequence_lost: r.sequence_lost,
                    errors: r.error_kinds.into_iter().zip(r.error_counts).collect(),
                    datagrams: r.datagrams,
                    records: r.records,
                    clock_skew_ms: r.clock_skew_ms,
                    first_seen: r.first_seen,
                    last_seen: r.last_seen,
                    udp_source: (!r.udp_source.is_unspecified())
                        .then(|| report::names::addr_display(r.udp_source)),
                    samples_lost: r.samples_lost,
                    agent_drops: r.agent_drops,
                }
            })
            .collect();
        return Ok(Json(json!({"source": "collector", "exporters": out})).into_response());
    }
    let c = client(&state)?;
    let t = now();
    let req =
        report::ReportRequest::new(report::ReportKind::Exporters, TimeRange::new(t - 300, t)?);
    let r = report::run_report(c, &req, t).await?;
    Ok(Json(json!({
        "source": "exporters table (rates: flows of the last 5 minutes)",
        "exporters": report_rows(&r),
    }))
    .into_response())
}

/// A report's rows as objects keyed by column.
fn report_rows(r: &report::Report) -> Vec<Value> {
    r.rows
        .iter()
        .filter(|row| !row.other)
        .map(|row| {
            let m: serde_json::Map<String, Value> = r
                .columns
                .iter()
                .zip(&row.cells)
                .map(|(c, v)| {
                    let v = match v {
                        report::Value::Null => Value::Null,
                        report::Value::Text(s) => json!(s),
                        report::Value::UInt(u) => json!(u),
                        report::Value::Int(i) => json!(i),
                        report::Value::Float(f) => json!(f),
                    };
                    (c.key.clone(), v)
                })
                .collect();
            Value::Object(m)
        })
        .collect()
}

/// `GET /api/v1/reports`: the scheduled reports and their last runs.
pub async fn reports(State(state): State<Arc<AppState>>) -> Json<Value> {
    let list: Vec<Value> = state
        .reports
        .iter()
        .map(|r| {
            let runs: Vec<Value> = report::schedule::read_index(&r.output_dir)
                .into_iter()
                .filter(|e| e.name == r.name)
                .take(10)
                .map(|e| {
                    let files: Vec<String> = e
                        .files
                        .iter()
                        .map(|f| format!("/reports/files/{}/{f}", r.name))
                        .collect();
                    json!({"from": e.from, "to": e.to, "generated_at": e.generated_at, "files": files})
                })
                .collect();
            json!({
                "name": r.name,
                "kind": r.request.kind.as_str(),
                "schedule": r.schedule,
                "timezone": r.tz.name(),
                "last": r.last_secs,
                "filters": r.request.filter_text(),
                "runs": runs,
            })
        })
        .collect();
    Json(json!({"reports": list}))
}

/// `GET /api/v1/reports/{name}/run?format=html|json|csv|table`: run a scheduled report now over its
/// period ending now, and return it (nothing is written).
pub async fn run_report(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(p): Params,
) -> Result<Response, ApiError> {
    let r = state
        .reports
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(|| ApiError {
            status: StatusCode::NOT_FOUND,
            body: json!({"error": {"message": "no scheduled report of that name"}}),
        })?;
    let format: Format = match param(&p, "format")? {
        Some(f) => f
            .parse()
            .map_err(|_| ApiError::bad("format", "html, json, csv or table"))?,
        None => Format::Html,
    };
    let t = now();
    let mut req = r.request.clone();
    req.range = TimeRange::last(t, r.last_secs)?;
    let out = report::run_report(client(&state)?, &req, t).await?;
    let ct = match format {
        Format::Html => "text/html; charset=utf-8",
        Format::Json => "application/json",
        Format::Csv => "text/csv; charset=utf-8",
        Format::Table => "text/plain; charset=utf-8",
    };
    Ok((
        [(header::CONTENT_TYPE, HeaderValue::from_static(ct))],
        format.render(&out),
    )
        .into_response())
}

/// `GET /reports/files/{name}/{file}`: a file a scheduled run wrote, only when `index.json` lists
/// it for that report.
pub async fn report_file(
    State(state): State<Arc<AppState>>,
    Path((name, file)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let missing = || ApiError {
        status: StatusCode::NOT_FOUND,
        body: json!({"error": {"message": "no such report file"}}),
    };
    let r = state
        .reports
        .iter()
        .find(|r| r.name == name)
        .ok_or_else(missing)?;
    let listed = report::schedule::read_index(&r.output_dir)
        .iter()
        .any(|e| e.name == name && e.files.contains(&file));
    if !listed || file.contains('/') || file.contains("..") {
        return Err(missing());
    }
    let body = tokio::fs::read(r.output_dir.join(&file))
        .await
        .map_err(|_| missing())?;
    let ct = match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("csv") => "text/csv; charset=utf-8",
        _ => "text/plain; charset=utf-8",
    };
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static(ct))], body).into_response())
}

/// Anything else: 404.
pub async fn not_found() -> ApiError {
    ApiError {
        status: StatusCode::NOT_FOUND,
        body: json!({"error": {"message": "not found"}}),
    }
}
