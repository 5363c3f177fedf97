#!/usr/bin/env bash
# The main job, on one machine: a local ClickHouse, the collector, a demo stream, a report.
#
#   ./scripts/quickstart.sh
#
# - installs what is missing (ClickHouse from the distribution's packages; the Rust toolchain is
#   assumed), or uses an already running server when SLUICE_CLICKHOUSE_URL is set;
# - starts ClickHouse on 127.0.0.1 with its data under ./data/clickhouse;
# - builds sluice in release mode and starts `sluice run` with examples/sluice.toml;
# - sends a demo stream with `sluice blast` for about 30 s (DEMO_SECS);
# - prints a top-talkers report and writes an HTML report;
# - prints the console's URL (the `[web]` of examples/sluice.toml);
# - leaves the collector and ClickHouse running.
# Running it again is safe: running services are reused.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mkdir -p data/reports
demo_secs=${DEMO_SECS:-30}
say() { printf '\n==> %s\n' "$*"; }

say "Checking dependencies"
command -v cargo >/dev/null || { echo "quickstart: cargo is needed (https://rustup.rs)" >&2; exit 1; }
# scripts/clickhouse.sh installs clickhouse-server (and curl) itself when they are missing; with an
# external server only curl is needed here.
if ! command -v curl >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends curl
fi

if [ -n "${SLUICE_CLICKHOUSE_URL:-}" ]; then
  url=$SLUICE_CLICKHOUSE_URL
  say "Using the ClickHouse server at $url"
else
  say "Starting ClickHouse on 127.0.0.1 (data in ./data/clickhouse)"
  eval "$(SLUICE_CLICKHOUSE_DIR=./data/clickhouse ./scripts/clickhouse.sh start)"
  url=$SLUICE_TEST_CLICKHOUSE_URL
fi
curl -fsS "$url/ping" >/dev/null || { echo "quickstart: ClickHouse at $url does not answer /ping" >&2; exit 1; }

say "Building sluice (release)"
cargo build --release --quiet --bin sluice
sluice=$root/target/release/sluice

# The example config, pointed at the server in use.
config=data/quickstart.toml
sed "s#^url = .*#url = \"$url\"#" examples/sluice.toml > "$config"
"$sluice" config check "$config" >/dev/null

pidfile=data/sluice.pid
if [ -s "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  say "sluice run is already running (pid $(cat "$pidfile"))"
else
  say "Starting sluice run --config $config (log in data/sluice.log)"
  nohup "$sluice" run --config "$config" >>data/sluice.log 2>&1 &
  echo $! >"$pidfile"
  for _ in $(seq 1 100); do
    curl -fsS http://127.0.0.1:9102/metrics >/dev/null 2>&1 && break
    kill -0 "$(cat "$pidfile")" 2>/dev/null || { tail -20 data/sluice.log >&2; exit 1; }
    sleep 0.2
  done
fi

say "Sending a demo stream for ${demo_secs}s: IPFIX from 4 exporters on 127.0.0.x, Zipf talkers"
"$sluice" blast --to 127.0.0.1:4739 --proto ipfix --rate 2000 --duration "$demo_secs" --exporters 4 --hosts 5000
sleep 3 # the writer's batch age is 1 s

say "Top talkers over the last hour"
"$sluice" report top-talkers --last 1h --by src --limit 10 --config "$config"
html=$root/data/reports/top-talkers.html
"$sluice" report top-talkers --last 1h --by src --limit 10 --config "$config" --format html --out "$html"
"$sluice" report traffic --last 1h --config "$config" --format html --out "$root/data/reports/traffic.html"

console=http://127.0.0.1:8080/
# A collector started before its config had [web] serves no console: say so (restart it to get one).
curl -fsS "${console}healthz" >/dev/null ||
  echo "quickstart: the console at $console does not answer (a sluice run started from an older config? kill it and run this again)" >&2

cat <<EOF

Console:      $console  (live top talkers, explore, exporters, reports; API under ${console}api/v1/)
              the live view shows each 60 s window once it closes (its end plus 2 windows of
              allowed lateness, about 3 minutes after the demo); Explore shows the demo at once
HTML reports: $html
              $root/data/reports/traffic.html
Metrics:      http://127.0.0.1:9102/metrics
Collector:    pid $(cat "$pidfile"), log $root/data/sluice.log, config $root/$config
ClickHouse:   $url, database sluice (try: clickhouse-client -q 'SELECT count() FROM sluice.flows')

Point a router at this machine: NetFlow v5/v9 to UDP 2055, IPFIX to UDP 4739, and add its address to
listen.allowed_exporters in $config (then restart sluice). Examples in README.md, "Pointing a router
at sluice".

Stop everything:
  kill \$(cat $root/$pidfile)
  SLUICE_CLICKHOUSE_DIR=./data/clickhouse ./scripts/clickhouse.sh stop
EOF
