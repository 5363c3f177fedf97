//! Every example config in the repository parses and validates (through `sluice config check`,
//! the same code `sluice run` uses), typos are reported with their field path, and the command's
//! exit status tells valid (0), invalid (1) and unreadable (2) apart.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

fn check(path: &Path) -> Output {
    Command::new(SLUICE)
        .args(["config", "check"])
        .arg(path)
        .output()
        .unwrap()
}

fn example_configs() -> Vec<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in ["examples", "dist"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir)) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "toml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sluice-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn every_example_config_in_the_repo_validates() {
    let files = example_configs();
    assert!(
        files.iter().any(|p| p.ends_with("examples/sluice.toml")),
        "examples/sluice.toml exists"
    );
    assert!(
        files.iter().any(|p| p.ends_with("dist/sluice.toml")),
        "dist/sluice.toml exists"
    );
    for f in files {
        let out = check(&f);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}: {}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn a_misspelled_field_is_named_with_its_section() {
    let p = temp_file(
        "typo.toml",
        "[listen]\nworkers = 2\n\n[aggregator]\nwindow_secs = 60\ntopn = 10\n",
    );
    let out = check(&p);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("aggregator.topn"), "{err}");
    assert!(err.contains("unknown field"), "{err}");
    assert!(err.contains("line 6"), "{err}");
}

#[test]
fn out_of_range_values_are_named_by_path() {
    let p = temp_file(
        "range.toml",
        "[listen]\nworkers = 0\n[output]\nsink = \"jsonl\"\n[metrics]\nlisten = \"localhost\"\n",
    );
    let out = check(&p);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    for path in ["listen.workers", "output.path", "metrics.listen"] {
        assert!(err.contains(path), "{path} missing in: {err}");
    }
}

#[test]
fn a_missing_file_exits_2_and_a_valid_one_0() {
    let out = check(Path::new("/nonexistent/sluice.toml"));
    assert_eq!(out.status.code(), Some(2));
    let p = temp_file("empty.toml", "");
    assert_eq!(check(&p).status.code(), Some(0));
}

#[test]
fn scheduled_reports_are_checked_with_the_config() {
    let bad_cron = temp_file(
        "bad-cron.toml",
        "[output]\nsink = \"null\"\n[clickhouse]\nurl = \"http://127.0.0.1:8123\"\n\
         [[reports]]\nname = \"x\"\nschedule = \"61 * * * *\"\nkind = \"top-talkers\"\noutput_dir = \"/tmp/x\"\n",
    );
    let out = check(&bad_cron);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("reports") && err.contains("61 * * * *"),
        "{err}"
    );

    let no_server = temp_file(
        "no-server.toml",
        "[output]\nsink = \"null\"\n[[reports]]\nname = \"x\"\nschedule = \"0 7 * * *\"\nkind = \"protocols\"\noutput_dir = \"/tmp/x\"\n",
    );
    let out = check(&no_server);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need a [clickhouse] section"));
}
