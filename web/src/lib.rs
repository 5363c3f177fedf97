//! The web stage: the JSON API under `/api/v1` and the console (static pages in `assets/`,
//! compiled in), served by `sluice run` when `[web]` is configured and by `sluice web`, which
//! serves from ClickHouse alone.
//!
//! Owns: the routes ([`router`]), request parsing and checking (every parameter typed before any
//! query; bad input is a 400 naming the parameter, and for filters the position and what was
//! expected), the live feed ([`live`]), auth ([`auth`]) and security headers.
//! Must never: write anything (no table, no file: "run now" returns the report without saving
//! it), put a caller's text into SQL (queries are `report`'s, with bound values), or serve beyond
//! loopback without auth (refused at validation, [`config`]).

pub mod api;
pub mod auth;
pub mod config;
pub mod live;
mod pages;

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use config::{AuthConfig, AuthKind, ValidatedWebConfig, WebConfig, WebConfigError};
pub use live::LiveHub;

/// What the collector knows of its exporters, for `/api/v1/exporters` inside `sluice run`.
pub trait ExporterFeed: Send + Sync {
    /// One row per exporter, counters since the collector started.
    fn exporters(&self) -> Vec<schema::rows::ExporterRow>;
}

/// Everything the handlers share.
pub struct AppState {
    /// ClickHouse (reports, top, series), when configured.
    pub client: Option<report::Client>,
    /// The live feed (inside `sluice run`).
    pub live: Option<Arc<LiveHub>>,
    /// Exporter counters from the collector (inside `sluice run`).
    pub exporters: Option<Arc<dyn ExporterFeed>>,
    /// Scheduled reports (`[[reports]]`).
    pub reports: Vec<report::schedule::ValidReport>,
    /// Auth, when configured.
    pub auth: Option<auth::Auth>,
    /// `run` or `web`.
    pub mode: &'static str,
    /// Previous counter samples per exporter, for rates: (when, datagrams, records).
    samples: Mutex<HashMap<Ipv6Addr, (Instant, u64, u64)>>,
}

impl AppState {
    /// State for the server. `query_timeout_secs` bounds every ClickHouse query of the API.
    pub fn new(
        cfg: &ValidatedWebConfig,
        client: Option<report::Client>,
        mode: &'static str,
    ) -> Result<AppState, auth::AuthError> {
        let auth = cfg.auth.as_ref().map(auth::Auth::load).transpose()?;
        Ok(AppState {
            client: client.map(|c| {
                c.with_setting("max_execution_time", cfg.query_timeout_secs.to_string())
                    .with_setting("readonly", "2")
            }),
            live: None,
            exporters: None,
            reports: Vec::new(),
            auth,
            mode,
            samples: Mutex::new(HashMap::new()),
        })
    }
}

/// The whole application.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/api/v1/dimensions", get(api::dimensions))
        .route("/api/v1/top", get(api::top))
        .route("/api/v1/series", get(api::series))
        .route("/api/v1/live", get(api::live))
        .route("/api/v1/exporters", get(api::exporters))
        .route("/api/v1/reports", get(api::reports))
        .route("/api/v1/reports/{name}/run", get(api::run_report))
        .route("/reports/files/{name}/{file}", get(api::report_file))
        .merge(pages::routes())
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Auth (except `/healthz`, which says nothing secret) and security headers on every response.
async fn guard(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    if let Some(a) = &state.auth
        && path != "/healthz"
    {
        let h = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if !a.check(h) {
            let body =
                axum::Json(serde_json::json!({"error": {"message": "authentication required"}}));
            let mut r = (StatusCode::UNAUTHORIZED, body).into_response();
            if let Ok(v) = HeaderValue::from_str(a.challenge()) {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
            }
            security_headers(&mut r, &path);
            return r;
        }
    }
    let mut r = next.run(req).await;
    security_headers(&mut r, &path);
    r
}

fn security_headers(r: &mut Response, path: &str) {
    let h = r.headers_mut();
    let csp = if path.starts_with("/reports/files/") || path.starts_with("/api/v1/reports/") {
        // Report pages are self-contained (inline style and script): sandboxed, no network.
        "sandbox allow-scripts; default-src 'none'; style-src 'unsafe-inline'; \
         script-src 'unsafe-inline'; img-src data:"
    } else {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    };
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    if path.starts_with("/api/") || path == "/healthz" {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
