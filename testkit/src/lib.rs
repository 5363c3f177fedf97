//! Test support shared by every crate's integration tests (a dev-dependency only).
//!
//! Owns: the one rule for tests that need something outside the repo (a server, a tool, the shared
//! corpus): [`missing`] fails the test, unless `SLUICE_TEST_ALLOW_SKIP=1` is set, in which case
//! it prints a `SKIPPED` line and the caller returns. `scripts/test.sh` installs and starts
//! everything, so a normal run skips nothing. Also the ClickHouse helpers ([`ch`]) and the
//! paths of the repository and the shared corpus.
//! Must never: be a dependency of production code.

pub mod ch;

pub use crate::ch::*;

use std::path::{Path, PathBuf};

/// The environment variable that lets tests skip when something they need is missing.
pub const ALLOW_SKIP: &str = "SLUICE_TEST_ALLOW_SKIP";

/// Whether `SLUICE_TEST_ALLOW_SKIP=1` is set.
pub fn skip_allowed() -> bool {
    std::env::var(ALLOW_SKIP).as_deref() == Ok("1")
}

/// `test` cannot run because `what` is missing: panics (the test fails), or, with
/// `SLUICE_TEST_ALLOW_SKIP=1`, prints `SKIPPED test: what` on stdout and stderr and returns so
/// that the caller can return. nextest shows the line with the test's output.
pub fn missing(test: &str, what: &str) {
    if !skip_allowed() {
        panic!("{test}: {what}; set {ALLOW_SKIP}=1 to skip instead of failing");
    }
    println!("SKIPPED {test}: {what}");
    eprintln!("SKIPPED {test}: {what}");
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
