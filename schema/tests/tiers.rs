//! Both tiers' DDL applies on real servers, migrations are idempotent, the writer's round trip keeps
//! sums exact, and the same queries give the same answers on both tiers.

use aggregator::{Dimension, Key, Output, Sink, WindowTopRow, WindowTotalsRow};
use schema::{ClickhouseWriter, Tier};
use testkit::*;

async fn migrations_apply_once_and_are_idempotent(var: &str, want: Tier) {
    let Some(url) = server_url(var, "migrations_apply_once_and_are_idempotent") else {
        return;
    };
    let db = unique_db("mig");
    let (client, tier) = setup(&url, &db).await;
    assert_eq!(tier, want);
    // setup() ran them once; a second run applies nothing and changes nothing.
    let again = schema::migrate(&client, tier, &Default::default())
        .await
        .unwrap();
    assert!(again.is_empty(), "second migrate applied {again:?}");
    let versions: Vec<u32> = client
        .query("SELECT version FROM sluice_migrations ORDER BY version")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(versions, all_versions(tier));
    let tables: Vec<String> = client
        .query("SELECT name FROM system.tables WHERE database = ? ORDER BY name")
        .bind(db.as_str())
        .fetch_all()
        .await
        .unwrap();
    for t in [
        "exporters",
        "flows",
        "flows_1h",
        "flows_1h_mv",
        "flows_5m",
        "flows_5m_mv",
        "flows_enrich_1h",
        "flows_enrich_1h_mv",
        "flows_enrich_5m",
        "flows_enrich_5m_mv",
        "interfaces",
        "sluice_migrations",
        "window_top",
        "window_totals",
    ] {
        assert!(tables.iter().any(|x| x == t), "{t} missing in {tables:?}");
    }
    // Every statement is idempotent on its own, too (a migration that died halfway can rerun);
    // an ALTER through its guard, since 18.16 has no ADD COLUMN IF NOT EXISTS.
    for m in schema::migrations::migrations(tier, &Default::default()) {
        m.apply(&client).await.unwrap();
    }
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_migrations_apply_once_and_are_idempotent() {
    migrations_apply_once_and_are_idempotent(LEGACY, Tier::Legacy).await;
}

#[tokio::test]
async fn modern_migrations_apply_once_and_are_idempotent() {
    migrations_apply_once_and_are_idempotent(MODERN, Tier::Modern).await;
}

/// Every migration number, as `migrate` applies them on a fresh database.
fn all_versions(tier: Tier) -> Vec<u32> {
    schema::migrations::migrations(tier, &Default::default())
        .iter()
        .map(|m| m.version)
        .collect()
}

fn window_rows(now_secs: i64) -> (Vec<WindowTopRow>, Vec<WindowTotalsRow>) {
    let start = (now_secs - now_secs % 60 - 120) * 1000;
    let top = (0..5u32)
        .map(|i| WindowTopRow {
            window_start: start,
            window_secs: 60,
            dimension: if i < 3 {
                Dimension::SrcAddr
            } else {
                Dimension::InIf
            },
            key: Key {
                addr_a: std::net::Ipv4Addr::new(10, 0, 0, i as u8).to_ipv6_mapped(),
                exporter: std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
                num: i,
                ..Default::default()
            },
            is_other: i == 2,
            rank_bytes: if i == 2 { 0 } else { i + 1 },
            rank_packets: i + 1,
            rank_flows: i + 1,
            bytes: 1000 * u64::from(5 - i),
            packets: 10,
            flows: 2,
            bytes_unscaled: 100,
            packets_unscaled: 1,
            max_error: 0,
        })
        .collect();
    let totals = vec![WindowTotalsRow {
        window_start: start,
        window_secs: 60,
        exporter: std::net::Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped(),
        bytes: 15_000,
        packets: 50,
        flows: 10,
        bytes_unscaled: 500,
        packets_unscaled: 5,
        late_flows: 1,
    }];
    (top, totals)
}

/// Write the same data through the writer; return the client and the expected flow sums.
async fn write_corpus(url: &str, db: &str, now: i64) -> clickhouse::Client {
    let (client, tier) = setup(url, db).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = test_config(url, db, spool.path());
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    assert_eq!(w.tier(), Some(tier));
    let recs = gen_flows(0, 5_000, now);
    for chunk in recs.chunks(777) {
        w.send(Output::Flows(chunk.to_vec().into())).await.unwrap();
    }
    let (top, totals) = window_rows(now);
    w.send(Output::Windows { top, totals }).await.unwrap();
    w.flush().await.unwrap();
    let st = w.stats();
    assert_eq!(st.rows_written, 5_000 + 5 + 1);
    assert_eq!(st.spool_batches, 0);
    assert_eq!(st.permanent_errors, 0);
    w.close().await.unwrap();

    assert_eq!(flow_sums(&client).await, sums(&recs));
    // Rollups: re-aggregate (SummingMergeTree parts may not be merged yet).
    for t in ["flows_5m", "flows_1h"] {
        let got: (u64, u64, u64, u64, u64) = client
            .query(&format!(
                "SELECT sum(flow_count), sum(exported_bytes), sum(exported_packets), \
                 sum(scaled_bytes), sum(scaled_packets) FROM {t}"
            ))
            .fetch_one()
            .await
            .unwrap();
        assert_eq!(got, sums(&recs), "{t}");
    }
    let wt: (u64, u64) = client
        .query("SELECT count(), sum(bytes) FROM window_top")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(wt, (5, 15_000));
    let tot: (u64, u64) = client
        .query("SELECT sum(flows), sum(late_flows) FROM window_totals")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(tot, (10, 1));
    client
}

async fn round_trip(var: &str) {
    let Some(url) = server_url(var, "round_trip_keeps_sums_exact") else {
        return;
    };
    let db = unique_db("rt");
    let client = write_corpus(&url, &db, now_secs()).await;
    // Addresses come back as written: IPv4-mapped 16 bytes.
    let exporters: Vec<String> = client
        .query("SELECT DISTINCT lower(hex(exporter)) AS e FROM flows ORDER BY e")
        .fetch_all()
        .await
        .unwrap();
    assert_eq!(
        exporters,
        vec![
            "00000000000000000000ffffc0000201",
            "00000000000000000000ffffc0000202",
            "00000000000000000000ffffc0000203"
        ]
    );
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_round_trip_keeps_sums_exact() {
    round_trip(LEGACY).await;
}

#[tokio::test]
async fn modern_round_trip_keeps_sums_exact() {
    round_trip(MODERN).await;
}

const SAME_QUERIES: &[&str] = &[
    "SELECT protocol, app_port, sum(scaled_bytes), sum(scaled_packets), sum(flow_count) \
     FROM flows_5m GROUP BY protocol, app_port ORDER BY protocol, app_port",
    "SELECT lower(hex(exporter)) AS e, in_if, sum(scaled_bytes) FROM flows_1h \
     GROUP BY e, in_if ORDER BY e, in_if",
    "SELECT src_as, dst_as, sum(exported_bytes) FROM flows_5m GROUP BY src_as, dst_as ORDER BY src_as",
    "SELECT toStartOfFiveMinute(time_received) AS t, count(), sum(bytes_scaled) FROM flows \
     GROUP BY t ORDER BY t",
    "SELECT sampling_source, sampling_rate, count(), sum(bytes) FROM flows \
     GROUP BY sampling_source, sampling_rate ORDER BY sampling_source",
    "SELECT lower(hex(src_addr)) AS s, sum(bytes_scaled) AS b FROM flows GROUP BY s \
     ORDER BY b DESC, s LIMIT 10",
    "SELECT direction, version, count() FROM flows GROUP BY direction, version ORDER BY direction, version",
    "SELECT dimension, rank_bytes, is_other, bytes, lower(hex(addr_a)) FROM window_top \
     ORDER BY dimension, rank_bytes",
    "SELECT window_start, lower(hex(exporter)), bytes, late_flows FROM window_totals",
];

#[tokio::test]
async fn same_queries_give_same_results_on_both_tiers() {
    let Some(legacy) = server_url(LEGACY, "same_queries_give_same_results_on_both_tiers") else {
        return;
    };
    let Some(modern) = server_url(MODERN, "same_queries_give_same_results_on_both_tiers") else {
        return;
    };
    let now = now_secs();
    let (dl, dm) = (unique_db("same"), unique_db("same"));
    let cl = write_corpus(&legacy, &dl, now).await;
    let cm = write_corpus(&modern, &dm, now).await;
    for q in SAME_QUERIES {
        let a = tsv(&cl, q).await;
        let b = tsv(&cm, q).await;
        assert!(!a.is_empty(), "{q} returned nothing");
        assert_eq!(a, b, "results differ between tiers for {q}");
    }
    drop_db(&legacy, &dl).await;
    drop_db(&modern, &dm).await;
}

#[tokio::test]
async fn legacy_retention_drops_only_partitions_past_retention() {
    let Some(url) = server_url(
        LEGACY,
        "legacy_retention_drops_only_partitions_past_retention",
    ) else {
        return;
    };
    let db = unique_db("ret");
    let (client, _) = setup(&url, &db).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = test_config(&url, &db, spool.path());
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    let now = now_secs();
    // 10 days ago (past the 7-day flows retention, inside the 90-day 5m retention) and recent.
    let old = gen_flows(0, 100, now - 10 * 86_400);
    let new = gen_flows(100, 100, now);
    w.send(Output::Flows(old.into())).await.unwrap();
    w.send(Output::Flows(new.clone().into())).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(flow_sums(&client).await.0, 200);
    let dropped = schema::drop_expired_partitions(&client, &db, &cfg.retention, now)
        .await
        .unwrap();
    assert!(!dropped.is_empty());
    assert!(dropped.iter().all(|(t, _)| t == "flows"), "{dropped:?}");
    assert_eq!(flow_sums(&client).await, sums(&new));
    let rolled: u64 = client
        .query("SELECT sum(flow_count) FROM flows_5m")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, 200, "the 5-minute rollup keeps 90 days");
    // Running it again drops nothing more.
    let again = schema::drop_expired_partitions(&client, &db, &cfg.retention, now)
        .await
        .unwrap();
    assert!(again.is_empty());
    // Five days of 5-minute rollups: the old day goes from both of them, the rest stays.
    let short = schema::RetentionConfig {
        flows_5m_days: 5,
        ..cfg.retention
    };
    let dropped = schema::drop_expired_partitions(&client, &db, &short, now)
        .await
        .unwrap();
    let mut tables: Vec<&str> = dropped.iter().map(|(t, _)| t.as_str()).collect();
    tables.dedup();
    assert_eq!(tables, ["flows_5m", "flows_enrich_5m"], "{dropped:?}");
    for t in ["flows_5m", "flows_enrich_5m", "flows_1h", "flows_enrich_1h"] {
        let rolled: u64 = client
            .query(&format!("SELECT sum(flow_count) FROM {t}"))
            .fetch_one()
            .await
            .unwrap();
        let want = if t.ends_with("5m") { 100 } else { 200 };
        assert_eq!(rolled, want, "{t}");
    }
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn permanent_errors_dead_letter_then_spool_loudly_and_resume_once_fixed() {
    let Some(url) = server_url(LEGACY, "permanent_errors_dead_letter_then_spool") else {
        return;
    };
    // A database without the tables: every insert gets "unknown table" (60).
    let db = unique_db("perm");
    let cfg0 = test_config(&url, &db, std::path::Path::new("/nonexistent"));
    let server = schema::server_client(&cfg0).unwrap();
    schema::create_database(&server, &db).await.unwrap();
    let spool = tempfile::tempdir().unwrap();
    let cfg = test_config(&url, &db, spool.path());
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    // Five batches of 10 rows: sending never fails, whatever the server says.
    for i in 0..5 {
        w.send(Output::Flows(gen_flows(i * 10, 10, now_secs()).into()))
            .await
            .unwrap();
        w.flush().await.unwrap();
    }
    let st = w.stats();
    // The first three refused batches are dead letters, readable, with the server's error...
    assert_eq!(st.dead_letter_batches, 3, "{st:?}");
    assert_eq!(st.dead_letter_rows, 30);
    let dead = schema::deadletter::DeadLetters::new(spool.path(), 1 << 30);
    let letters = dead.list().unwrap();
    assert_eq!(letters.len(), 3);
    let text = std::fs::read_to_string(letters[0].text()).unwrap();
    assert!(text.contains("Code: 60"), "{text}");
    // ...then the writer sees a broken schema: unhealthy, loudly, and the rest waits in the spool.
    assert_eq!(st.failed, 1);
    let why = w.unhealthy().unwrap();
    assert!(
        why.contains("retrying cannot fix") && why.contains("Code: 60"),
        "{why}"
    );
    assert_eq!(
        st.retryable_errors, 0,
        "a permanent error is not a retryable one"
    );
    assert_eq!(st.spool_batches, 2);
    assert_eq!(st.dropped_rows, 0);
    // The operator fixes the schema: the writer finds out by itself and replays the spool.
    let client = schema::build_client(&cfg).unwrap();
    schema::migrate(&client, Tier::Legacy, &cfg.retention)
        .await
        .unwrap();
    for _ in 0..100 {
        if w.stats().spool_batches == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let st = w.stats();
    assert_eq!(st.spool_batches, 0, "{st:?}");
    assert_eq!(st.failed, 0);
    assert!(w.unhealthy().is_none());
    assert_eq!(flow_sums(&client).await.0, 20);
    // And the dead letters are re-driven: every row once.
    for d in &letters {
        let payload = std::fs::read(&d.payload).unwrap();
        let r = schema::redrive(&client, Tier::Legacy, cfg.request_timeout, &payload).await;
        assert_eq!(r, schema::Redrive::Stored(10));
        dead.remove(d).unwrap();
    }
    assert_eq!(
        flow_sums(&client).await,
        sums(&gen_flows(0, 50, now_secs()))
    );
    w.close().await.unwrap();
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn modern_retry_with_same_token_is_stored_once() {
    let Some(url) = server_url(MODERN, "modern_retry_with_same_token_is_stored_once") else {
        return;
    };
    let db = unique_db("dedup");
    let (client, _) = setup(&url, &db).await;
    let mut body = Vec::new();
    for r in gen_flows(0, 100, now_secs()) {
        schema::rows::encode_flow_row(&mut body, &r, 1, None);
    }
    let sql = format!(
        "INSERT INTO flows ({}) FORMAT RowBinary",
        schema::rows::FLOWS_COLUMNS.join(", ")
    );
    // The same batch twice with one token: what a retry after a lost reply does.
    let token = format!("sluice-test-{db}");
    for _ in 0..2 {
        let mut ins = client
            .insert_formatted_with(sql.clone())
            .with_setting("insert_deduplication_token", token.as_str())
            .with_setting("deduplicate_blocks_in_dependent_materialized_views", "1");
        ins.send(bytes::Bytes::from(body.clone())).await.unwrap();
        ins.end().await.unwrap();
    }
    assert_eq!(flow_sums(&client).await.0, 100);
    let rolled: u64 = client
        .query("SELECT sum(flow_count) FROM flows_5m")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, 100, "the rollup is not fed twice either");
    // The stand-in keeps SET values between requests: clear the token for whoever comes next.
    client
        .query("SELECT 1")
        .with_setting("insert_deduplication_token", "")
        .execute()
        .await
        .unwrap();
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_writer_sweeps_expired_partitions_at_start() {
    let Some(url) = server_url(LEGACY, "legacy_writer_sweeps_expired_partitions_at_start") else {
        return;
    };
    let db = unique_db("sweep");
    let spool = tempfile::tempdir().unwrap();
    let base = test_config(&url, &db, spool.path());
    let prepared = schema::prepare(&base).await.unwrap();
    assert_eq!(prepared.tier, Tier::Legacy);
    assert_eq!(prepared.applied, all_versions(Tier::Legacy));
    assert!(schema::prepare(&base).await.unwrap().applied.is_empty());
    let client = prepared.client;
    let now = now_secs();
    // Writer without the sweep stores old and new rows.
    let cfg = schema::ValidatedClickhouseConfig {
        retention_sweep: None,
        ..base.clone()
    };
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    w.send(Output::Flows(gen_flows(0, 50, now - 20 * 86_400).into()))
        .await
        .unwrap();
    let new = gen_flows(50, 50, now);
    w.send(Output::Flows(new.clone().into())).await.unwrap();
    w.close().await.unwrap();
    assert_eq!(flow_sums(&client).await.0, 100);
    // A writer with the sweep on drops the old day at start.
    let cfg = schema::ValidatedClickhouseConfig {
        retention_sweep: Some(std::time::Duration::from_secs(3600)),
        ..base
    };
    let w = ClickhouseWriter::connect(&cfg).await.unwrap();
    let mut n = 0;
    for _ in 0..200 {
        n = flow_sums(&client).await.0;
        if n == 50 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(n, 50, "expired partition dropped by the writer's sweep");
    assert_eq!(flow_sums(&client).await, sums(&new));
    w.close().await.unwrap();
    drop_db(&url, &db).await;
}
