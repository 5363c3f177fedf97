//! Every example config in the repo that has a `[clickhouse]` section parses into
//! `ClickhouseConfig` (unknown keys are errors) and validates.

use std::path::Path;

#[test]
fn every_example_clickhouse_section_parses_and_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: toml::Table =
            toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let Some(section) = doc.get("clickhouse") else {
            continue;
        };
        let cfg: schema::ClickhouseConfig = section
            .clone()
            .try_into()
            .unwrap_or_else(|e| panic!("{}: [clickhouse]: {e}", path.display()));
        cfg.validate()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        seen += 1;
    }
    assert!(seen > 0, "no example config has a [clickhouse] section");
}

#[test]
fn typo_in_clickhouse_section_is_rejected() {
    let r: Result<schema::ClickhouseConfig, _> =
        toml::from_str("url = \"http://127.0.0.1:8123\"\nbatch_row = 5\n");
    assert!(r.unwrap_err().to_string().contains("batch_row"));
    let r: Result<schema::ClickhouseConfig, _> = toml::from_str("[retention]\nflows_day = 5\n");
    assert!(r.is_err());
    let c: schema::ClickhouseConfig =
        toml::from_str("spool_full_policy = \"block\"\n[retention]\nflows_days = 3\n").unwrap();
    assert_eq!(c.spool_full_policy, schema::SpoolFullPolicy::Block);
    assert_eq!(c.retention.flows_days, 3);
    assert_eq!(c.retention.flows_5m_days, 90);
}
