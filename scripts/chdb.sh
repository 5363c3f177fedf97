#!/usr/bin/env bash
# Starts or stops the modern-ClickHouse stand-in (chdb behind an imitation of the HTTP interface, see
# ../shared/tools/chdb-http/start.sh) for the tests of the modern schema tier. 127.0.0.1 only.
#
# usage: scripts/chdb.sh start|stop
#   env SLUICE_CHDB_PORT   port (default 8124)
#       SLUICE_CHDB_DIR    data directory (default: a new temp dir; the same dir can be reused after a
#                          stop to keep the data)
#       SLUICE_SHARED_DIR  where tools/chdb-http lives (default ../shared next to the repo)
#
# `start` prints ONLY shell assignments on stdout:
#   SLUICE_TEST_CHDB_URL=http://127.0.0.1:PORT SLUICE_CHDB_PID=PID
# Idempotent: if the stand-in this script started on that port still answers /ping, it only prints them.
# The first run creates a ~1 GB Python venv from PyPI (30 s or more); its output goes to stderr.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SLUICE_SHARED_DIR:-$root/../shared}
cmd=${1:-start}
port=${SLUICE_CHDB_PORT:-8124}
state=${TMPDIR:-/tmp}/sluice-chdb-$port.pid
url="http://127.0.0.1:$port"

log() { echo "chdb.sh: $*" >&2; }
ping_ok() { [ "$(curl -fsS --max-time 2 "$url/ping" 2>/dev/null)" = "Ok." ]; }
running_pid() {
  [ -s "$state" ] || return 1
  local pid
  pid=$(cat "$state")
  kill -0 "$pid" 2>/dev/null && echo "$pid"
}

case "$cmd" in
  start)
    if pid=$(running_pid) && ping_ok; then
      log "already running (pid $pid) at $url"
      echo "SLUICE_TEST_CHDB_URL=$url SLUICE_CHDB_PID=$pid"
      exit 0
    fi
    if ping_ok; then log "something else answers on $url; choose another SLUICE_CHDB_PORT"; exit 1; fi
    start_sh="$shared/tools/chdb-http/start.sh"
    [ -x "$start_sh" ] || { log "$start_sh not found"; exit 1; }
    data=${SLUICE_CHDB_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/sluice-chdb.XXXXXX")}
    mkdir -p "$data"
    log "starting chdb stand-in on $url (data $data); the first run installs a venv (~1 GB)"
    out=$("$start_sh" "$port" "$data") || { log "start.sh failed"; echo "$out" >&2; exit 1; }
    last=$(printf '%s\n' "$out" | tail -n 1)
    printf '%s\n' "$out" | head -n -1 >&2
    pid=$(printf '%s\n' "$last" | sed -n 's/.*CHDB_PID=\([0-9]*\).*/\1/p')
    [ -n "$pid" ] || { log "unexpected start.sh output: $last"; exit 1; }
    echo "$pid" >"$state"
    log "up (pid $pid)"
    echo "SLUICE_TEST_CHDB_URL=$url SLUICE_CHDB_PID=$pid"
    ;;
  stop)
    if pid=$(running_pid); then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      rm -f "$state"
      log "stopped pid $pid"
    else
      log "not running on port $port"
    fi
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
