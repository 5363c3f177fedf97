//! README stays true: its configuration reference is exactly `sluice config reference`, its test
//! command is what `.ci/run` runs, and both commands near the top exist.

use std::process::Command;

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");
const README: &str = include_str!("../README.md");

#[test]
fn readme_config_reference_is_generated_from_the_config_types() {
    let out = Command::new(SLUICE)
        .args(["config", "reference"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let generated = String::from_utf8(out.stdout).unwrap();
    let start = "<!-- config-reference:start -->\n";
    let end = "<!-- config-reference:end -->";
    let a = README.find(start).expect("start marker") + start.len();
    let b = README.find(end).expect("end marker");
    assert!(
        README[a..b] == generated,
        "README's configuration reference is stale: replace it with `sluice config reference`"
    );
}

#[test]
fn the_two_commands_near_the_top_exist_and_ci_runs_the_test_command() {
    let head: Vec<&str> = README.lines().take(15).collect();
    assert!(head.contains(&"./scripts/quickstart.sh   # the main job: local ClickHouse, sluice run, a 30 s demo stream, a report, the console"));
    assert!(head.iter().any(|l| l.starts_with("./scripts/test.sh ")));
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for script in ["scripts/quickstart.sh", "scripts/test.sh"] {
        assert!(root.join(script).is_file(), "{script}");
    }
    // The quickstart ends by printing the console's URL, which examples/sluice.toml serves.
    let qs = std::fs::read_to_string(root.join("scripts/quickstart.sh")).unwrap();
    assert!(qs.contains("console=http://127.0.0.1:8080/") && qs.contains("Console:      $console"));
    let example = std::fs::read_to_string(root.join("examples/sluice.toml")).unwrap();
    assert!(example.contains("[web]\nlisten = \"127.0.0.1:8080\""));
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|l| l.trim() == "./scripts/test.sh"),
        ".ci/run runs the README's test command"
    );
}
