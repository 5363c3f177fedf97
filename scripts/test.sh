#!/usr/bin/env bash
# Runs the whole test suite on a clean Debian/Ubuntu machine: installs and starts what the tests need,
# then runs every test. The README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

# Real exporters, reference decoders and servers the end-to-end tests use.
./scripts/install-deps.sh

# Services: a local ClickHouse (Debian's 18.16) and, when ../shared is present, the modern-engine stand-in.
if [ -x ./scripts/clickhouse.sh ]; then
  eval "$(./scripts/clickhouse.sh start)"
  export SLUICE_TEST_CLICKHOUSE_URL
fi
if [ -x ../shared/tools/chdb-http/start.sh ] && [ -x ./scripts/chdb.sh ]; then
  eval "$(./scripts/chdb.sh start)"
  export SLUICE_TEST_CHDB_URL
fi

export SLUICE_SHARED_DIR="${SLUICE_SHARED_DIR:-$(cd .. && pwd)/shared}"
export RUST_BACKTRACE=1

# A test that needs something missing fails, unless SLUICE_TEST_ALLOW_SKIP=1 (testkit::missing). With
# it, the tests that skipped (libtest and nextest count them as passed and hide their output) are
# listed with their count just above the runner's summary, which stays the last thing printed.
if [ "${SLUICE_TEST_ALLOW_SKIP:-}" = 1 ]; then
  SLUICE_TEST_SKIP_LOG="$(mktemp)"
  export SLUICE_TEST_SKIP_LOG
  trap 'rm -f "$SLUICE_TEST_SKIP_LOG"' EXIT
fi
run_tests() {
  if [ "${SLUICE_TEST_ALLOW_SKIP:-}" = 1 ]; then
    "$@" 2>&1 | awk -v f="$SLUICE_TEST_SKIP_LOG" -f scripts/skips-above-summary.awk
  else
    exec "$@"
  fi
}

# Benchmarks are not tests: they are built (so they stay compilable) but run only by `cargo bench`.
if command -v cargo-nextest >/dev/null 2>&1; then
  cargo build --workspace --benches --quiet
  cargo test --workspace --doc --quiet
  run_tests cargo nextest run --workspace --lib --bins --tests --no-fail-fast
else
  run_tests cargo test --workspace --lib --bins --tests --doc --no-fail-fast
fi
