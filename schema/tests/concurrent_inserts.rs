//! Concurrent inserts (`max_concurrent_inserts` > 1): a batch refused for good among batches in
//! flight is dead-lettered and every other row is stored once; `flush` waits for every insert in
//! flight; batches whose inserts fail in flight reach the spool in the order they were sealed.

use std::time::Duration;

use aggregator::{Output, Sink};
use schema::{ClickhouseWriter, Spool};
use testkit::*;

/// The record whose batch the server refuses for good (in the 11th of 20 batches of 500 rows).
const POISON: u32 = 5_123;
const ROWS: u32 = 10_000;

/// A column computed on insert that cannot be computed for the row `POISON`: the server refuses
/// that row's whole batch (Code 41, cannot parse DateTime, a permanent error) and takes every other.
async fn poison_one_record(client: &clickhouse::Client) {
    client
        .query(&format!(
            "ALTER TABLE flows ADD COLUMN poison DateTime MATERIALIZED \
             toDateTime(if(observation_domain = {POISON}, 'garbage', '2020-01-01 00:00:00'))"
        ))
        .execute()
        .await
        .unwrap();
}

async fn refused_batch_among_concurrent_inserts(var: &str, test: &str) {
    let Some(url) = server_url(var, test) else {
        return;
    };
    let db = unique_db("conc_refuse");
    let (client, _) = setup(&url, &db).await;
    poison_one_record(&client).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = schema::ValidatedClickhouseConfig {
        max_concurrent_inserts: 3,
        // Only size seals batches: every batch is exactly 500 rows.
        batch_age: Duration::from_secs(3600),
        ..test_config(&url, &db, spool.path())
    };
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    let recs = gen_flows(0, ROWS, now_secs());
    for c in recs.chunks(1_250) {
        w.send(Output::Flows(c.to_vec().into())).await.unwrap();
    }
    w.flush().await.unwrap();
    let st = w.stats();
    w.close().await.unwrap();

    let refused = 500 * (POISON / 500)..500 * (POISON / 500 + 1);
    assert_eq!(st.dead_letter_batches, 1, "{st:?}");
    assert_eq!(st.dead_letter_rows, 500, "{st:?}");
    assert_eq!(st.permanent_errors, 1, "{st:?}");
    assert_eq!(st.failed, 0, "one refusal is not a broken schema: {st:?}");
    assert_eq!(st.rows_written, u64::from(ROWS) - 500, "{st:?}");
    assert_eq!((st.spool_batches, st.dropped_rows), (0, 0), "{st:?}");
    // Every other row once, none of the refused batch.
    let stored: Vec<(u32, u64)> = client
        .query("SELECT observation_domain, count() FROM flows GROUP BY observation_domain")
        .fetch_all()
        .await
        .unwrap();
    assert!(stored.iter().all(|&(_, n)| n == 1), "a row stored twice");
    let mut ids: Vec<u32> = stored.iter().map(|&(id, _)| id).collect();
    ids.sort_unstable();
    let want: Vec<u32> = (0..ROWS).filter(|i| !refused.contains(i)).collect();
    assert_eq!(ids, want, "exactly the rows outside the refused batch");
    let kept: Vec<_> = recs
        .iter()
        .filter(|r| !refused.contains(&r.observation_domain))
        .cloned()
        .collect();
    assert_eq!(flow_sums(&client).await, sums(&kept));
    let rolled: u64 = client
        .query("SELECT sum(flow_count) FROM flows_5m")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(
        rolled,
        u64::from(ROWS) - 500,
        "the rollup counts every row once"
    );
    // The refused batch is in the dead-letter directory, whole, with the server's error.
    let letters = schema::deadletter::DeadLetters::new(spool.path(), 1 << 30)
        .list()
        .unwrap();
    assert_eq!(letters.len(), 1);
    let text = std::fs::read_to_string(letters[0].text()).unwrap();
    assert!(text.contains("Code: 41"), "{text}");
    assert!(text.contains("500 rows"), "{text}");
    drop_db(&url, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_refused_batch_among_concurrent_inserts_is_dead_lettered_the_rest_stored_once() {
    refused_batch_among_concurrent_inserts(
        LEGACY,
        "legacy_refused_batch_among_concurrent_inserts_is_dead_lettered_the_rest_stored_once",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_refused_batch_among_concurrent_inserts_is_dead_lettered_the_rest_stored_once() {
    refused_batch_among_concurrent_inserts(
        MODERN,
        "modern_refused_batch_among_concurrent_inserts_is_dead_lettered_the_rest_stored_once",
    )
    .await;
}

async fn flush_waits_for_inserts_in_flight(var: &str, test: &str) {
    let Some(url) = server_url(var, test) else {
        return;
    };
    let db = unique_db("conc_flush");
    let (client, _) = setup(&url, &db).await;
    let spool = tempfile::tempdir().unwrap();
    let cfg = schema::ValidatedClickhouseConfig {
        max_concurrent_inserts: 4,
        batch_age: Duration::from_secs(3600),
        ..test_config(&url, &db, spool.path())
    };
    let mut w = ClickhouseWriter::connect(&cfg).await.unwrap();
    let recs = gen_flows(0, ROWS, now_secs());
    for c in recs.chunks(2_000) {
        w.send(Output::Flows(c.to_vec().into())).await.unwrap();
    }
    // The last batches were handed to insert tasks just now: flush returns once they are stored.
    w.flush().await.unwrap();
    let st = w.stats();
    assert_eq!(st.rows_written, u64::from(ROWS), "{st:?}");
    assert_eq!(st.batches_written, u64::from(ROWS / 500), "{st:?}");
    assert_eq!(flow_sums(&client).await, sums(&recs));
    w.close().await.unwrap();
    drop_db(&url, &db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_flush_waits_for_inserts_in_flight() {
    flush_waits_for_inserts_in_flight(LEGACY, "legacy_flush_waits_for_inserts_in_flight").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_flush_waits_for_inserts_in_flight() {
    flush_waits_for_inserts_in_flight(MODERN, "modern_flush_waits_for_inserts_in_flight").await;
}

/// The sequence number in a spooled payload's header (see the writer's module docs).
fn seq_of(payload: &[u8]) -> u64 {
    u64::from_le_bytes(payload[10..18].try_into().unwrap())
}

/// No server at all: every insert in flight fails. The batches reach the spool in the order they
/// were sealed, whatever order their inserts failed in, and none is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inserts_failing_in_flight_are_spooled_in_seal_order() {
    for round in 0..5 {
        let spool = tempfile::tempdir().unwrap();
        let dead = format!("http://127.0.0.1:{}", free_port());
        let cfg = schema::ValidatedClickhouseConfig {
            max_concurrent_inserts: 8,
            batch_age: Duration::from_secs(3600),
            flush_timeout: Duration::from_millis(100),
            ..test_config(&dead, "sluice_unused", spool.path())
        };
        let client = schema::build_client(&cfg).unwrap();
        // Modern: the legacy tier runs one insert at a time.
        let mut w = ClickhouseWriter::start(&cfg, client, schema::Tier::Modern).unwrap();
        // One Output of 16 batches: the first eight are in flight together.
        let recs = gen_flows(0, 16 * 500, now_secs());
        w.send(Output::Flows(recs.into())).await.unwrap();
        w.flush().await.unwrap();
        let st = w.stats();
        w.close().await.unwrap();
        assert_eq!(st.rows_spooled, 16 * 500, "round {round}: {st:?}");
        assert_eq!(
            st.rows_written + st.dropped_rows,
            0,
            "round {round}: {st:?}"
        );
        let mut s = Spool::open(spool.path(), 1 << 30).unwrap();
        let mut seqs = Vec::new();
        while let Some(p) = s.peek().unwrap() {
            seqs.push(seq_of(p));
            s.ack().unwrap();
        }
        assert_eq!(seqs, (1..=16).collect::<Vec<u64>>(), "round {round}");
    }
}
