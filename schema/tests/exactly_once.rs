//! A batch whose insert committed but whose reply was lost is not stored twice when it is sent
//! again: on 18.16 the writer finds its rows by `batch_id` first (the same check it runs before
//! replaying any spooled batch), on modern servers the deduplication token drops the copy.

use schema::{Redrive, Tier};
use testkit::*;

async fn sent_twice_is_stored_once(var: &str, tier: Tier, test: &str) {
    let Some(url) = server_url(var, test) else {
        return;
    };
    let db = unique_db("once");
    let (client, got_tier) = setup(&url, &db).await;
    assert_eq!(got_tier, tier);
    let recs = gen_flows(0, 300, now_secs());
    let batch = schema::writer::flows_batch(0x5eed, 42, &recs);
    let timeout = std::time::Duration::from_secs(10);
    // The first send commits; pretend its reply was lost and send the same batch again.
    assert_eq!(
        schema::redrive(&client, tier, timeout, &batch).await,
        Redrive::Stored(300)
    );
    let again = schema::redrive(&client, tier, timeout, &batch).await;
    match tier {
        // 18.16: found by its batch id, not sent.
        Tier::Legacy => assert_eq!(again, Redrive::StoredAlready(300)),
        // Modern: sent, and the server drops the copy (same deduplication token).
        Tier::Modern => assert_eq!(again, Redrive::Stored(300)),
    }
    assert_eq!(flow_sums(&client).await, sums(&recs), "stored once");
    let rolled: u64 = client
        .query("SELECT sum(flow_count) FROM flows_5m")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, 300, "the rollup counts it once");
    let rolled: u64 = client
        .query("SELECT sum(flow_count) FROM flows_enrich_5m")
        .fetch_one()
        .await
        .unwrap();
    assert_eq!(rolled, 300, "the enrichment rollup counts it once");
    // Another batch with the same rows but its own id is new data, and is stored.
    let other = schema::writer::flows_batch(0x5eed, 43, &recs);
    assert_eq!(
        schema::redrive(&client, tier, timeout, &other).await,
        Redrive::Stored(300)
    );
    assert_eq!(flow_sums(&client).await.0, 600);
    drop_db(&url, &db).await;
}

#[tokio::test]
async fn legacy_batch_sent_twice_is_stored_once() {
    sent_twice_is_stored_once(
        LEGACY,
        Tier::Legacy,
        "legacy_batch_sent_twice_is_stored_once",
    )
    .await;
}

#[tokio::test]
async fn modern_batch_sent_twice_is_stored_once() {
    sent_twice_is_stored_once(
        MODERN,
        Tier::Modern,
        "modern_batch_sent_twice_is_stored_once",
    )
    .await;
}

/// Rollup totals: (sum flow_count, sum scaled_bytes) of `table`.
async fn rolled(client: &clickhouse::Client, table: &str) -> (u64, u64) {
    client
        .query(&format!(
            "SELECT sum(flow_count), sum(scaled_bytes) FROM {table}"
        ))
        .fetch_one()
        .await
        .unwrap()
}

/// 18.16 writes an insert into `flows` first and then through the rollup views: a server killed in
/// between leaves a batch in `flows` without its rollup rows. The writer, replaying that batch from
/// its spool, finds it stored already and fills in the missing rollup rows; a second replay of the
/// same batch changes nothing. Every row once in `flows` and each rollup (`flows_5m`, `flows_1h`,
/// `flows_enrich_5m`, `flows_enrich_1h`).
#[tokio::test]
async fn legacy_batch_cut_short_before_its_rollups_is_completed_on_replay() {
    let test = "legacy_batch_cut_short_before_its_rollups_is_completed_on_replay";
    let Some(url) = server_url(LEGACY, test) else {
        return;
    };
    let db = unique_db("cut");
    let (client, tier) = setup(&url, &db).await;
    assert_eq!(tier, Tier::Legacy);
    let now = now_secs();
    // Rows of an earlier batch, whole in every table, in the same buckets.
    let before = gen_flows(0, 200, now);
    let timeout = std::time::Duration::from_secs(10);
    let earlier = schema::writer::flows_batch(0xc0ffee, 1, &before);
    assert_eq!(
        schema::redrive(&client, tier, timeout, &earlier).await,
        Redrive::Stored(200)
    );
    // The batch cut short: in `flows` only (inserted while the views are away).
    let recs = gen_flows(200, 500, now);
    let batch = schema::writer::flows_batch(0xc0ffee, 2, &recs);
    for v in [
        "flows_5m_mv",
        "flows_1h_mv",
        "flows_enrich_5m_mv",
        "flows_enrich_1h_mv",
    ] {
        client
            .query(&format!("DROP TABLE {v}"))
            .execute()
            .await
            .unwrap();
    }
    let mut ins = client.insert_formatted_with(schema::writer::Table::Flows.insert_statement());
    ins.send(bytes::Bytes::copy_from_slice(
        schema::writer::batch_body(&batch).unwrap(),
    ))
    .await
    .unwrap();
    ins.end().await.unwrap();
    for m in schema::migrations::migrations(tier, &Default::default()) {
        m.apply(&client).await.unwrap();
    }
    let all: Vec<_> = before.iter().chain(&recs).cloned().collect();
    let s = sums(&all);
    assert_eq!(flow_sums(&client).await, s);
    for t in ["flows_5m", "flows_enrich_5m"] {
        assert_eq!(rolled(&client, t).await, (200, sums(&before).3), "{t}");
    }
    // Its insert failed as far as the writer knows: the batch is in its spool. Replay it, twice.
    let spool = tempfile::tempdir().unwrap();
    for round in 0..2 {
        let mut sp = schema::Spool::open(spool.path(), 1 << 30).unwrap();
        sp.append(&batch).unwrap();
        drop(sp);
        let cfg = test_config(&url, &db, spool.path());
        let mut w = schema::ClickhouseWriter::connect(&cfg).await.unwrap();
        aggregator::Sink::flush(&mut w).await.unwrap();
        let st = w.stats();
        w.close().await.unwrap();
        assert_eq!(st.already_stored_batches, 1, "round {round}: {st:?}");
        assert_eq!(
            (st.rows_written, st.spool_batches),
            (0, 0),
            "round {round}: {st:?}"
        );
        assert_eq!(flow_sums(&client).await, s, "round {round}: flows once");
        for t in ["flows_5m", "flows_1h", "flows_enrich_5m", "flows_enrich_1h"] {
            assert_eq!(
                rolled(&client, t).await,
                (s.0, s.3),
                "round {round}: {t} counts every row once"
            );
        }
    }
    drop_db(&url, &db).await;
}
