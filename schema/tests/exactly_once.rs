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
