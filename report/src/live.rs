//! The windows the collector stored, read back for the live feed of `sluice web` (which has no
//! aggregator of its own): the newest window's length, then every window of that length in a
//! range, as the collector wrote them to `window_totals` and `window_top` (`sql/live.sql`).
//!
//! Owns: those queries and their rows. Must never: turn the rows into the feed's shape (that is
//! `web::live`), or take a caller's text (every bound value is a number).

use serde::Deserialize;

use crate::{Client, ReportError};

/// The newest stored window: its length and start (Unix seconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct Newest {
    /// Window length, seconds.
    pub window_secs: u32,
    /// Start of the newest window, Unix seconds.
    pub newest: u32,
}

/// One window's totals for one exporter.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct StoredTotals {
    /// Window start, Unix seconds.
    pub start: u32,
    /// The exporter, hex of the 16 stored bytes.
    pub exporter: String,
    /// Scaled bytes.
    pub bytes: u64,
    /// Scaled packets.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
}

/// One ranked key (or "other" row) of one dimension in one window.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, clickhouse::Row)]
pub struct StoredTop {
    /// Window start, Unix seconds.
    pub start: u32,
    /// The aggregator dimension's name (`src_addr`, `app`, ...).
    pub dimension: String,
    /// First address, hex of the 16 stored bytes.
    pub addr_a: String,
    /// Second address (conversations), hex.
    pub addr_b: String,
    /// Exporter (interface dimensions), hex.
    pub exporter: String,
    /// Port, ifIndex, AS number or enrichment id.
    pub num: u32,
    /// IP protocol.
    pub proto: u8,
    /// 1 for the "other" row.
    pub is_other: u8,
    /// Rank by scaled bytes.
    pub rank_bytes: u32,
    /// Scaled bytes.
    pub bytes: u64,
    /// Scaled packets.
    pub packets: u64,
    /// Flow records.
    pub flows: u64,
    /// The key's text for enrichment dimensions, the AS name for AS dimensions, else empty.
    pub label: String,
}

fn query_err(name: &'static str) -> impl FnOnce(clickhouse::error::Error) -> ReportError {
    move |source| ReportError::Query {
        query: format!("live.sql/{name}"),
        source,
    }
}

/// The newest stored window, or `None` when no window was stored.
pub async fn newest(client: &Client) -> Result<Option<Newest>, ReportError> {
    let q = crate::library::query_text("live.sql", "newest")?;
    let rows: Vec<Newest> = client
        .query(q)
        .fetch_all()
        .await
        .map_err(query_err("newest"))?;
    Ok(rows.into_iter().next())
}

/// The windows of length `window_secs` that start in `(after, upto]`: totals per exporter and the
/// ranked rows, ordered by window start (every row is of that length).
pub async fn windows(
    client: &Client,
    window_secs: u32,
    after: u32,
    upto: u32,
) -> Result<(Vec<StoredTotals>, Vec<StoredTop>), ReportError> {
    let totals = in_range(client, "totals", window_secs, after, upto).await?;
    let top = in_range(client, "top", window_secs, after, upto).await?;
    Ok((totals, top))
}

/// The rows of one query of `live.sql` over `(after, upto]`.
async fn in_range<T>(
    client: &Client,
    name: &'static str,
    window_secs: u32,
    after: u32,
    upto: u32,
) -> Result<Vec<T>, ReportError>
where
    T: clickhouse::RowOwned + clickhouse::RowRead,
{
    client
        .query(crate::library::query_text("live.sql", name)?)
        .bind(window_secs)
        .bind(after)
        .bind(upto)
        .fetch_all()
        .await
        .map_err(query_err(name))
}
