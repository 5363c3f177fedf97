//! Test support shared by every crate's integration tests (a dev-dependency only).
//!
//! Owns: the one rule for tests that need something outside the repo (a server, a tool, the shared
//! corpus): [`missing`] fails the test, unless `SLUICE_TEST_ALLOW_SKIP=1` is set, in which case
//! it prints a `SKIPPED` line and the caller returns. `scripts/test.sh` installs and starts
//! everything, so a normal run skips nothing; with `SLUICE_TEST_ALLOW_SKIP=1` it lists the
//! skipped tests and their count just above nextest's summary. `SLUICE_TEST_ALLOW_SKIP` is the
//! only way a test skips: the `CI` variable plays no part. Also the ClickHouse helpers ([`ch`])
//! and the paths of the repository and the shared corpus.
//! Must never: be a dependency of production code.

pub mod ch;
pub mod snmpd;

pub use crate::ch::*;

use std::path::{Path, PathBuf};

/// The environment variable that lets tests skip when something they need is missing.
pub const ALLOW_SKIP: &str = "SLUICE_TEST_ALLOW_SKIP";

/// Whether `SLUICE_TEST_ALLOW_SKIP=1` is set.
pub fn skip_allowed() -> bool {
    allows_skip(std::env::var(ALLOW_SKIP).ok().as_deref())
}

/// Whether a value of `SLUICE_TEST_ALLOW_SKIP` allows skipping: only `1` does.
pub fn allows_skip(value: Option<&str>) -> bool {
    value == Some("1")
}

/// The first word of the line a skipped test prints.
pub const SKIPPED: &str = "SKIPPED";

/// A file that skipped tests append their `SKIPPED` line to (set by `scripts/test.sh`, which
/// prints the lines and their count above nextest's summary: nextest hides the output of tests
/// that pass, and to libtest and nextest a skipped test is one that passed).
pub const SKIP_LOG: &str = "SLUICE_TEST_SKIP_LOG";

/// `test` cannot run because `what` is missing: panics (the test fails), or, with
/// `SLUICE_TEST_ALLOW_SKIP=1`, prints `SKIPPED test: what` on stderr, appends it to the file
/// named by `SLUICE_TEST_SKIP_LOG` (when set) and returns so that the caller can return.
#[track_caller]
pub fn missing(test: &str, what: &str) {
    skip_or_fail(
        skip_allowed(),
        std::env::var_os(SKIP_LOG).as_deref().map(Path::new),
        test,
        what,
    );
}

/// [`missing`] with the environment passed in: `allow` is `SLUICE_TEST_ALLOW_SKIP=1`, `log` is
/// `SLUICE_TEST_SKIP_LOG`.
#[track_caller]
fn skip_or_fail(allow: bool, log: Option<&Path>, test: &str, what: &str) {
    let line = match decide(allow, test, what) {
        Ok(line) => line,
        Err(message) => panic!("{message}"),
    };
    eprintln!("{line}");
    if let Some(log) = log {
        use std::io::Write;
        // One short write with O_APPEND: lines from tests running in parallel do not interleave.
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .and_then(|mut f| f.write_all(format!("{line}\n").as_bytes()))
            .unwrap_or_else(|e| panic!("{SKIP_LOG}={}: {e}", log.display()));
    }
}

/// The rule behind [`missing`], without the environment: `Ok` is the line to print when skipping
/// is `allow`ed, `Err` the failure message otherwise.
pub fn decide(allow: bool, test: &str, what: &str) -> Result<String, String> {
    if allow {
        Ok(format!("{SKIPPED} {test}: {what} ({ALLOW_SKIP}=1)"))
    } else {
        Err(format!(
            "{test}: {what}; set {ALLOW_SKIP}=1 to skip instead of failing"
        ))
    }
}

/// The repository root (the workspace directory).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("testkit lives one level below the workspace root")
        .to_path_buf()
}

/// The read-only `shared/` directory beside the repo (or `SLUICE_SHARED_DIR`), or None after
/// [`missing`] allowed a skip.
#[track_caller]
pub fn shared_dir(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("SLUICE_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("../shared"));
    if dir.join("corpus").is_dir() {
        return Some(dir);
    }
    missing(
        test,
        &format!("the shared corpus is missing at {}", dir.display()),
    );
    None
}

/// Whether `tool` is on the PATH; when it is not, [`missing`] decides (fail or skip).
#[track_caller]
pub fn tool(test: &str, tool: &str) -> bool {
    let found = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p).any(|d| {
            let f = d.join(tool);
            f.is_file()
                && std::fs::metadata(&f)
                    .map(|m| std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0)
                    .unwrap_or(false)
        })
    });
    if !found {
        missing(
            test,
            &format!("{tool} is not installed (scripts/install-deps.sh installs it)"),
        );
    }
    found
}

/// Debian's `chromium` (or `chromium-browser`); when neither is installed, [`missing`] decides.
#[track_caller]
pub fn chromium(test: &str) -> Option<PathBuf> {
    for c in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if std::path::Path::new(c).exists() {
            return Some(c.into());
        }
    }
    missing(
        test,
        "chromium is not installed (scripts/install-deps.sh installs it)",
    );
    None
}

/// The flags every headless Chromium of the tests starts with (no sandbox, GPU, first-run page,
/// background network or updates); each test adds its window size, profile directory and action.
pub const CHROMIUM_HEADLESS: [&str; 7] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

/// A TCP port on 127.0.0.1 that was free a moment ago (bound, read, released), for a test that
/// needs a port nothing answers on, or one to start a server on.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_dependency_fails_unless_skipping_is_allowed() {
        let err = decide(false, "t", "X is not set").unwrap_err();
        assert!(err.starts_with("t: X is not set;"), "{err}");
        assert!(err.contains("SLUICE_TEST_ALLOW_SKIP=1"), "{err}");
    }

    #[test]
    fn an_allowed_skip_prints_one_line_that_says_so() {
        let line = decide(true, "t", "X is not set").unwrap();
        assert_eq!(line, "SKIPPED t: X is not set (SLUICE_TEST_ALLOW_SKIP=1)");
        assert!(!line.contains('\n'));
    }

    #[test]
    fn without_the_variable_a_missing_dependency_panics_and_logs_nothing() {
        let log = std::env::temp_dir().join(format!("testkit-nolog-{}", std::process::id()));
        let r = std::panic::catch_unwind(|| skip_or_fail(false, Some(&log), "t", "X is not set"));
        let message = r.unwrap_err();
        let message = message.downcast_ref::<String>().unwrap();
        assert!(message.starts_with("t: X is not set;"), "{message}");
        assert!(!log.exists());
    }

    #[test]
    fn an_allowed_skip_appends_its_line_to_the_skip_log() {
        let log = std::env::temp_dir().join(format!("testkit-log-{}", std::process::id()));
        let _ = std::fs::remove_file(&log);
        skip_or_fail(true, Some(&log), "a", "X is not set");
        skip_or_fail(true, Some(&log), "b", "Y is not installed");
        skip_or_fail(true, None, "c", "not logged");
        let text = std::fs::read_to_string(&log).unwrap();
        std::fs::remove_file(&log).unwrap();
        assert_eq!(
            text,
            "SKIPPED a: X is not set (SLUICE_TEST_ALLOW_SKIP=1)\n\
             SKIPPED b: Y is not installed (SLUICE_TEST_ALLOW_SKIP=1)\n"
        );
    }

    #[test]
    fn only_exactly_1_allows_skipping() {
        assert!(allows_skip(Some("1")));
        for v in [None, Some(""), Some("0"), Some("true"), Some("yes")] {
            assert!(!allows_skip(v), "{v:?}");
        }
    }
}
