//! Webhooks: a JSON POST over HTTP or HTTPS (rustls, webpki roots), with a timeout.
//!
//! Owns: the HTTP client the scheduler (and, later, alerts) post summaries with.
//! Must never: retry in a loop or block its caller past [`WEBHOOK_TIMEOUT`].

use std::time::Duration;

/// A webhook POST that failed: what was posted where, and why.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct WebhookError(String);

macro_rules! err {
    ($($t:tt)*) => { WebhookError(format!($($t)*)) };
}

/// Longest a webhook POST may take.
pub const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

fn http_client<B>() -> hyper_util::client::legacy::Client<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
    B,
>
where
    B: hyper::body::Body + Send,
    B::Data: Send,
{
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build(https)
}

/// POST a JSON body; a non-2xx answer is an error.
pub async fn post_json(url: &hyper::Uri, body: &serde_json::Value) -> Result<(), WebhookError> {
    use http_body_util::{BodyExt, Full};
    let client = http_client::<Full<bytes::Bytes>>();
    let req = hyper::Request::post(url.clone())
        .header("content-type", "application/json")
        .header("user-agent", concat!("sluice/", env!("CARGO_PKG_VERSION")))
        .body(Full::new(bytes::Bytes::from(
            serde_json::to_vec(body).map_err(|e| err!("webhook body: {e}"))?,
        )))
        .map_err(|e| err!("webhook {url}: {e}"))?;
    let resp = tokio::time::timeout(WEBHOOK_TIMEOUT, client.request(req))
        .await
        .map_err(|_| err!("webhook {url}: no answer in {WEBHOOK_TIMEOUT:?}"))?
        .map_err(|e| err!("webhook {url}: {e}"))?;
    let status = resp.status();
    // Read (and drop) the body so the connection closes cleanly.
    let _ = tokio::time::timeout(WEBHOOK_TIMEOUT, resp.into_body().collect()).await;
    if !status.is_success() {
        return Err(err!("webhook {url} answered {status}"));
    }
    Ok(())
}
