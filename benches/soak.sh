#!/usr/bin/env bash
# Soak: `sluice run` with every dimension on (JSON-lines sink, windows only, as in benches/ingest.sh)
# under a steady `sluice blast` load for a while, its resident memory sampled every 10 s. Prints
# the samples, then the loss and the RSS of the first full window against the last (issue 11: RSS
# must stay flat at the lossless rate).
#
# Usage: benches/soak.sh [--rate DATAGRAMS_PER_S] [--secs S] [--exporters N] [--proto v5|v9|ipfix]
# Defaults: 25000 datagrams/s (about 750 k records/s) for 600 s, 16 exporters, v9.
set -euo pipefail
RATE=25000
SECS=600
EXPORTERS=16
PROTO=v9
while [ $# -gt 0 ]; do
  case "$1" in
    --rate) RATE=$2; shift 2 ;;
    --secs) SECS=$2; shift 2 ;;
    --exporters) EXPORTERS=$2; shift 2 ;;
    --proto) PROTO=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$ROOT/target/release/sluice}
[ -x "$SLUICE" ] || (cd "$ROOT" && cargo build --release -p sluice)
WORK=$(mktemp -d /tmp/sluice-soak.XXXXXX)
PORT=${PORT:-29956}
cat >"$WORK/sluice.toml" <<EOC
[listen]
listeners = [{ address = "127.0.0.1:$PORT" }]
workers = 2
recv_buffer_bytes = 33554432
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 60
top_n = 100
dimensions = ["src_addr", "dst_addr", "conversation", "app", "protocol", "in_if", "out_if", "src_as", "dst_as"]
[output]
sink = "jsonl"
path = "$WORK/out.jsonl"
raw_flows = false
[metrics]
enabled = false
EOC
"$SLUICE" run -c "$WORK/sluice.toml" 2>"$WORK/log" &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do ss -Hlun "sport = :$PORT" | grep -q . && break; sleep 0.05; done
"$SLUICE" blast --to 127.0.0.1:$PORT --proto "$PROTO" --rate "$RATE" --duration "$SECS" --exporters "$EXPORTERS" >"$WORK/blast.out" 2>"$WORK/blast.log" &
BLAST=$!
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$PID/status"; }
echo "t_s rss_mib"
samples=()
t=0
while kill -0 "$BLAST" 2>/dev/null; do
  sleep 10; t=$((t + 10))
  r=$(rss); samples+=("$r")
  awk -v t="$t" -v r="$r" 'BEGIN{printf "%4d %8.1f\n", t, r/1024}'
done
wait "$BLAST" || true
sleep 1
kill -TERM "$PID"; wait "$PID" || true
trap - EXIT
sent=$(tr ' ' '\n' <"$WORK/blast.out" | sed -n 's/^records=\([0-9]*\)$/\1/p')
got=$(grep 'stopped cleanly' "$WORK/log" | tr ' ' '\n' | sed -n 's/^flows_recorded=\([0-9]*\)$/\1/p')
n=${#samples[@]}
# The first window closes after window + lateness (3 minutes): compare from then on.
first_i=$(( n > 18 ? 18 : 0 ))
first=${samples[$first_i]:-0}; last=${samples[$((n - 1))]:-0}
max=0; for s in "${samples[@]}"; do [ "$s" -gt "$max" ] && max=$s; done
awk -v f="$first" -v l="$last" -v m="$max" -v s="${sent:-0}" -v g="${got:-0}" -v fi="$first_i" -v rate="$RATE" -v secs="$SECS" 'BEGIN{
  printf "rate %d datagrams/s for %d s: sent %d records, recorded %d, lost %d\n", rate, secs, s, g, s-g;
  printf "RSS at %d s: %.1f MiB, at the end: %.1f MiB (%+.1f%%), peak %.1f MiB\n", (fi+1)*10, f/1024, l/1024, (l-f)*100/(f>0?f:1), m/1024 }'
echo "(work files in $WORK)"
