//! The tokio shell and the local sinks.

mod common;

use std::time::Duration;

use aggregator::{
    AggregatorConfig, AggregatorStats, JsonLinesSink, NullSink, Output, ShellOptions, Sink,
    SinkError, run_with_clock,
};
use collector::FlowRecord;
use common::*;
use tokio::sync::{mpsc, watch};

/// Keeps every batch, and records whether `flush` came after the last one.
#[derive(Default)]
struct CollectSink {
    outputs: Vec<Output>,
    flushed_after_last_send: bool,
}

impl Sink for CollectSink {
    async fn send(&mut self, batch: Output) -> Result<(), SinkError> {
        self.outputs.push(batch);
        self.flushed_after_last_send = false;
        Ok(())
    }
    async fn flush(&mut self) -> Result<(), SinkError> {
        self.flushed_after_last_send = true;
        Ok(())
    }
}

#[derive(Debug)]
struct FailingSink;

impl Sink for FailingSink {
    async fn send(&mut self, _batch: Output) -> Result<(), SinkError> {
        Err(SinkError::Closed("test sink refuses everything"))
    }
    async fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

fn batch(minute: i64) -> Vec<FlowRecord> {
    (1..=20u8)
        .map(|src| {
            let t = T0 + minute * MIN + i64::from(src) * 1000;
            flow(1 + src % 3, src, t - 500, t, 1000 * u64::from(src))
        })
        .collect()
}

fn options() -> ShellOptions {
    ShellOptions {
        flush_every: Duration::from_millis(100),
        stats: None,
    }
}

#[tokio::test]
async fn shell_flushes_every_open_window_and_the_sink_when_input_closes() {
    let (tx, rx) = mpsc::channel(4);
    let a = agg(AggregatorConfig::default());
    // A clock stuck before the data: no window can close on a tick, only on close.
    let task = tokio::spawn(run_with_clock(
        a,
        rx,
        CollectSink::default(),
        options(),
        || T0,
    ));
    let mut sent = Vec::new();
    for minute in 0..5 {
        let b = batch(minute);
        sent.extend_from_slice(&b);
        tx.send(b.into()).await.unwrap();
    }
    drop(tx);
    let outcome = task.await.unwrap().unwrap();
    let sink = outcome.sink;
    assert!(sink.flushed_after_last_send);
    assert!(
        sink.outputs
            .iter()
            .all(|o| matches!(o, Output::Windows { .. }))
    );
    assert_eq!(
        window_starts(&sink.outputs),
        (0..5).map(|m| T0 + m * MIN).collect::<Vec<_>>()
    );
    let (_, totals) = rows(&sink.outputs);
    assert_eq!(totals_sum(&totals, None), flows_sum(&sent));
    assert_eq!(outcome.stats.windows_open, 0);
    assert_eq!(outcome.stats.flows_recorded, 100);
}

#[tokio::test]
async fn shell_sends_only_windows_raw_flows_go_beside_it() {
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(run_with_clock(
        agg(AggregatorConfig::default()),
        rx,
        NullSink::default(),
        options(),
        || T0,
    ));
    tx.send(batch(0).into()).await.unwrap();
    tx.send(batch(1).into()).await.unwrap();
    drop(tx);
    let sink = task.await.unwrap().unwrap().sink;
    assert_eq!(sink.flows, 0, "the shell never forwards raw flows");
    assert_eq!(sink.totals_rows, 6, "two windows, three exporters each");
    assert_eq!(sink.flushes, 1);
}

#[tokio::test(start_paused = true)]
async fn shell_closes_due_windows_on_its_timer_with_the_clock_it_is_given() {
    let (tx, rx) = mpsc::channel(4);
    let (stats_tx, mut stats_rx) = watch::channel(AggregatorStats::default());
    let opts = ShellOptions {
        stats: Some(stats_tx),
        ..options()
    };
    let task = tokio::spawn(run_with_clock(
        agg(AggregatorConfig::default()),
        rx,
        NullSink::default(),
        opts,
        // A clock one minute further on at every tick.
        {
            let mut now = T0;
            move || {
                now += MIN;
                now
            }
        },
    ));
    tx.send(batch(0).into()).await.unwrap();
    // Paused time: the runtime jumps from tick to tick until "now" is past the window's end plus
    // lateness, and the window closes while the input is still open.
    stats_rx
        .wait_for(|s| s.flows_recorded == 20 && s.windows_open == 0)
        .await
        .unwrap();
    assert_eq!(stats_rx.borrow().windows_closed, 1);
    drop(tx);
    let outcome = task.await.unwrap().unwrap();
    assert_eq!(outcome.stats.windows_closed, 1);
    assert_eq!(outcome.sink.totals_rows, 3);
}

/// A shell with `threads` shard threads, whose sink fails, ends with the sink's error.
async fn ends_with_the_sink_error(threads: u32) {
    let (tx, rx) = mpsc::channel(4);
    let task = tokio::spawn(run_with_clock(
        agg(AggregatorConfig {
            threads,
            ..AggregatorConfig::default()
        }),
        rx,
        FailingSink,
        options(),
        || T0,
    ));
    tx.send(batch(0).into()).await.unwrap();
    drop(tx);
    let err = task.await.unwrap().unwrap_err();
    assert!(matches!(err, SinkError::Closed(_)), "{err}");
}

#[tokio::test]
async fn shell_ends_with_the_sink_error() {
    ends_with_the_sink_error(AggregatorConfig::default().threads).await;
}

#[tokio::test]
async fn json_lines_sink_writes_one_parseable_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.jsonl");
    let mut a = agg(AggregatorConfig {
        top_n: 3,
        ..Default::default()
    });
    let flows = batch(0);
    for f in &flows {
        a.record(f);
    }
    let mut out = vec![Output::Flows(flows.clone().into())];
    a.flush_all(&mut out);
    let (top, totals) = rows(&out);

    let mut sink = JsonLinesSink::create(&path).await.unwrap();
    for o in out {
        sink.send(o).await.unwrap();
    }
    sink.flush().await.unwrap();
    assert_eq!(
        sink.lines() as usize,
        flows.len() + top.len() + totals.len()
    );

    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect();
    assert_eq!(lines.len(), flows.len() + top.len() + totals.len());
    let of_type = |t: &str| lines.iter().filter(|l| l["type"] == t).count();
    assert_eq!(of_type("flow"), flows.len());
    assert_eq!(of_type("window_top"), top.len());
    assert_eq!(of_type("window_totals"), totals.len());

    let first = &lines[0];
    assert_eq!(first["src_addr"], "10.0.0.1");
    assert_eq!(first["bytes"], 1000);
    let top_line = lines.iter().find(|l| l["type"] == "window_top").unwrap();
    assert_eq!(top_line["dimension"], "src_addr");
    assert_eq!(top_line["window_start"], T0);
    assert_eq!(top_line["rank_bytes"], 1);
    // Window rows round-trip into the contract types.
    let back: Vec<aggregator::WindowTotalsRow> = lines
        .iter()
        .filter(|l| l["type"] == "window_totals")
        .map(|l| {
            let mut l = l.clone();
            l.as_object_mut().unwrap().remove("type");
            serde_json::from_value(l).unwrap()
        })
        .collect();
    assert_eq!(back, totals);
}

/// Flows with varied keys in every dimension, some late, some spanning windows.
fn varied(n: u64) -> Vec<FlowRecord> {
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Mostly in order over six minutes, every 16th flow a few minutes late.
            let mut end = T0 + (i as i64 * 6 * MIN / n as i64);
            if i % 16 == 0 {
                end -= 3 * MIN;
            }
            let mut f = flow(
                (x % 4) as u8,
                (x >> 8) as u8 % 50,
                end - (x >> 20) as i64 % 150_000,
                end,
                40 + (x >> 30) % 9000,
            );
            f.time_received = T0 + (i as i64 * 6 * MIN / n as i64) + 500;
            f.dst_addr = Some(v4(198, 51, 100, (x >> 40) as u8 % 30));
            f.protocol = Some([6, 17, 1][(x >> 44) as usize % 3]);
            f.dst_port = Some([443, 53, 80, 0][(x >> 46) as usize % 4]);
            f.src_port = Some(1024 + (x >> 48) as u16 % 3000);
            f.in_if = Some((x >> 52) as u32 % 7);
            f.out_if = Some((x >> 55) as u32 % 5);
            f.src_as = Some(64_500 + (x >> 58) as u32 % 11);
            f.dst_as = Some(64_600 + (x >> 33) as u32 % 13);
            f
        })
        .collect()
}

/// Runs the shell over `flows` in batches of 50 with flush ticks every 2 ms, so windows close on
/// ticks while the input is open, and returns what it emitted. The clock stays before the data:
/// the flows' own times move the watermark, so where a flow lands does not depend on when the
/// ticks happen and two runs must agree.
async fn emitted_with_threads(
    flows: &[FlowRecord],
    cfg: AggregatorConfig,
) -> (Vec<Output>, AggregatorStats) {
    let (tx, rx) = mpsc::channel(2);
    let (stats_tx, stats_rx) = watch::channel(AggregatorStats::default());
    let task = tokio::spawn(run_with_clock(
        agg(cfg),
        rx,
        CollectSink::default(),
        ShellOptions {
            flush_every: Duration::from_millis(2),
            stats: Some(stats_tx),
        },
        || T0,
    ));
    for (i, chunk) in flows.chunks(50).enumerate() {
        tx.send(chunk.to_vec().into()).await.unwrap();
        if i % 40 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    drop(tx);
    let outcome = task.await.unwrap().unwrap();
    assert_eq!(*stats_rx.borrow(), outcome.stats);
    (outcome.sink.outputs, outcome.stats)
}

/// Every window's rows in one list, sorted, so that outputs split differently across batches
/// (ticks land at different moments in two runs) compare equal when they hold the same windows.
fn canonical(out: &[Output]) -> (Vec<String>, Vec<String>) {
    let (top, totals) = rows(out);
    let mut top: Vec<String> = top.iter().map(|r| format!("{r:?}")).collect();
    let mut totals: Vec<String> = totals.iter().map(|r| format!("{r:?}")).collect();
    top.sort();
    totals.sort();
    (top, totals)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_by_dimension_emit_exactly_what_one_thread_emits() {
    let flows = varied(20_000);
    let base = AggregatorConfig {
        top_n: 7,
        threads: 1,
        ..AggregatorConfig::default()
    };
    let (one, one_stats) = emitted_with_threads(&flows, base.clone()).await;
    let want = canonical(&one);
    assert!(
        one.len() > 1,
        "windows closed on ticks, not only at the end"
    );
    assert!(
        want.0.len() > 9 * 8 * 5,
        "several windows of nine dimensions"
    );
    assert!(one_stats.late_flows > 0 && one_stats.parts_moved > 0);
    for threads in [2, 3, 9, 64] {
        let (many, stats) = emitted_with_threads(
            &flows,
            AggregatorConfig {
                threads,
                ..base.clone()
            },
        )
        .await;
        let got = canonical(&many);
        if got != want {
            let a: std::collections::BTreeSet<_> = got.0.iter().chain(&got.1).collect();
            let b: std::collections::BTreeSet<_> = want.0.iter().chain(&want.1).collect();
            let extra: Vec<_> = a.difference(&b).take(4).collect();
            let missing: Vec<_> = b.difference(&a).take(4).collect();
            panic!("threads = {threads}: extra {extra:#?} missing {missing:#?}");
        }
        // Within one window, rows come in configuration order of the dimensions.
        for o in &many {
            if let Output::Windows { top, .. } = o {
                let pos: Vec<usize> = top
                    .iter()
                    .map(|r| {
                        base.dimensions
                            .iter()
                            .position(|d| *d == r.dimension)
                            .unwrap()
                    })
                    .collect();
                assert!(pos.windows(2).all(|w| w[0] <= w[1]), "threads = {threads}");
            }
        }
        assert_eq!(
            (stats.flows_recorded, stats.late_flows, stats.windows_closed),
            (
                one_stats.flows_recorded,
                one_stats.late_flows,
                one_stats.windows_closed
            )
        );
        assert_eq!(stats.keys_per_dimension, one_stats.keys_per_dimension);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_shell_ends_with_the_sink_error_too() {
    ends_with_the_sink_error(3).await;
}
