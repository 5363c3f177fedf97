//! `sluice migrate`: prints each tier's DDL without a server, and applies migrations idempotently on
//! the real server.

use std::process::Command;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn config(dir: &std::path::Path, url: &str, db: &str) -> std::path::PathBuf {
    let p = dir.join("sluice.toml");
    std::fs::write(
        &p,
        format!("[output]\nsink = \"clickhouse\"\n[clickhouse]\nurl = \"{url}\"\ndatabase = \"{db}\"\nspool_dir = \"{}\"\n", dir.join("spool").display()),
    )
    .unwrap();
    p
}

fn tmp(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("sluice-migrate-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn prints_each_tiers_ddl_without_a_server() {
    let dir = tmp("print");
    let cfg = config(&dir, "http://127.0.0.1:9", "sluice");
    for (tier, must, must_not) in [
        ("legacy", "FixedString(16)", "LowCardinality"),
        ("modern", "IPv6", "FixedString(16)"),
    ] {
        let out = Command::new(SLUICE)
            .args(["migrate", "--print", "--tier", tier, "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let ddl = String::from_utf8(out.stdout).unwrap();
        for table in [
            "flows",
            "window_top",
            "window_totals",
            "flows_5m",
            "flows_1h",
            "flows_enrich_5m",
            "flows_enrich_1h",
            "exporters",
            "interfaces",
        ] {
            assert!(
                ddl.contains(&format!("CREATE TABLE IF NOT EXISTS {table} (")),
                "{tier}: {table}"
            );
        }
        assert!(ddl.contains(must), "{tier} uses {must}");
        assert!(!ddl.contains(must_not), "{tier} has no {must_not}");
    }
    // Without --tier it must reach the server: port 9 is closed, so it fails with a clear message.
    let out = Command::new(SLUICE)
        .args(["migrate", "--print", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach ClickHouse"));
}

#[test]
fn applies_migrations_once_on_the_real_server() {
    let Some(url) = testkit::server_url(
        testkit::LEGACY,
        "applies_migrations_once_on_the_real_server",
    ) else {
        return;
    };
    let dir = tmp("apply");
    let db = format!("migrate_cli_{}", std::process::id());
    let cfg = config(&dir, &url, &db);
    let run = || {
        let out = Command::new(SLUICE)
            .args(["migrate", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let all: Vec<u32> = schema::migrations::migrations(schema::Tier::Legacy, &Default::default())
        .iter()
        .map(|m| m.version)
        .collect();
    assert!(all.len() >= 12, "{all:?}");
    let first = run();
    assert!(
        first.contains(&format!("applied migrations {all:?}")),
        "{first}"
    );
    assert!(run().contains("schema is current"));
}
