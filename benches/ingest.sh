#!/usr/bin/env bash
# Ingest benchmark: the highest rate each collector sustains with zero loss, measured end to end
# (records stored or counted by the collector versus records sent), from one `sluice blast` sender
# on the same machine, all on 127.0.0.1.
#
# Collectors:
#   sink-udp      bare recvmmsg-and-discard loop (`sluice dev sink-udp`): the physical limit
#   sluice-null   `sluice run`, null sink, one cheap dimension (protocol): the decode path
#   sluice-agg    `sluice run`, aggregation over all 9 dimensions, JSON-lines sink (windows only)
#   sluice-enrich sluice-agg with [enrich] on: 1,000 networks, country and ASN databases of
#                 285,000 networks each, 1,008 interfaces (written by the enrich crate's
#                 `synth_mmdb` example; the databases cover the traffic's addresses)
#   nfcapd        nfdump's collector (apt: nfdump), records counted with nfdump
#   nfacctd       pmacct's collector (apt: pmacct), print plugin to a CSV file, packets summed
# With --proto sflow (sFlow v5: each record is one flow sample of one packet, about 6 to a
# 1,400-byte datagram, sampling rate 1) the peers are sFlow's own, and the default list is
# sink-udp sluice-null sluice-agg sfcapd sfacctd:
#   sfcapd        nfdump's sFlow collector (apt: nfdump-sflow), one stored record per flow
#                 sample, counted with nfdump like nfcapd's
#   sfacctd       pmacct's sFlow collector (apt: pmacct), print plugin like nfacctd's: it counts
#                 sampled packets (one per flow sample, not scaled by the sampling rate unless
#                 sfacctd_renormalize is on), summed and compared with the samples sent
# sluice counts flow records (one per flow sample) for sFlow too.
#
# Usage: benches/ingest.sh [--budget SECS] [--rates "25000 50000 ..."] [--step-secs S]
#                          [--proto v5|v9|ipfix|sflow] [--exporters N]
#                          [--only "sluice-null nfcapd"]
# Needs a release build (cargo build --release); builds it when missing. As root, raises
# net.core.rmem_max to 32 MiB for the run (so every collector can get a 32 MiB socket buffer)
# and restores it at exit.
set -euo pipefail

BUDGET=900
RATES="10000 25000 50000 75000 100000 150000 200000 300000"
STEP=5
PROTO=v9
EXPORTERS=16
ONLY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --budget) BUDGET=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --step-secs) STEP=$2; shift 2 ;;
    --proto) PROTO=$2; shift 2 ;;
    --exporters) EXPORTERS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ -z "$ONLY" ]; then
  if [ "$PROTO" = sflow ]; then
    ONLY="sink-udp sluice-null sluice-agg sfcapd sfacctd"
  else
    ONLY="sink-udp sluice-null sluice-agg sluice-enrich nfcapd nfacctd"
  fi
fi

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SLUICE=${SLUICE:-$ROOT/target/release/sluice}
if [ ! -x "$SLUICE" ]; then
  (cd "$ROOT" && cargo build --release -p sluice)
fi
WORK=$(mktemp -d /tmp/sluice-ingest.XXXXXX)
PORT=${PORT:-29955}
RCVBUF=33554432
START=$(date +%s)
PIDS=()

OLD_RMEM=$(cat /proc/sys/net/core/rmem_max)
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  if [ "$(id -u)" = 0 ]; then sysctl -qw net.core.rmem_max="$OLD_RMEM" || true; fi
}
trap cleanup EXIT
if [ "$(id -u)" = 0 ]; then sysctl -qw net.core.rmem_max=$RCVBUF || true; fi

have() { command -v "$1" >/dev/null 2>&1; }
elapsed() { echo $(( $(date +%s) - START )); }
kv() { tr ' ' '\n' | sed -n "s/^$1=\([0-9]*\)$/\1/p" | head -1; }

wait_port() { # wait until something listens on UDP $PORT
  for _ in $(seq 1 100); do
    if ss -Hlun "sport = :$PORT" | grep -q .; then return 0; fi
    sleep 0.05
  done
  return 1
}

# start_<collector> DIR: start it in the background, set PID. stop_<collector> DIR: stop it and
# print "received_records received_packets" (whichever the collector can count; - when not).
start_sink-udp() { "$SLUICE" dev sink-udp --listen 127.0.0.1:$PORT --workers 2 --recv-buffer $RCVBUF --idle-exit 3600 >"$1/out" 2>"$1/log" & PID=$!; }
stop_sink-udp() { kill -TERM "$PID"; wait "$PID" || true; echo "dgrams:$(kv datagrams <"$1/out") -"; }

sluice_conf() { # DIR SINK
  # null: decode and hand over, with the cheapest aggregation (one dimension, protocol);
  # agg: all nine dimensions, closed windows written as JSON lines.
  local extra=""
  if [ "$2" = agg ]; then
    extra=$'[output]\nsink = "jsonl"\npath = "'"$1"$'/out.jsonl"\nraw_flows = false\n'
  else
    extra=$'[output]\nsink = "null"\nraw_flows = false\n'
  fi
  local dims='["src_addr", "dst_addr", "conversation", "app", "protocol", "in_if", "out_if", "src_as", "dst_as"]'
  [ "$2" = agg ] || dims='["protocol"]'
  cat >"$1/sluice.toml" <<EOF
[listen]
listeners = [{ address = "127.0.0.1:$PORT" }]
workers = 2
recv_buffer_bytes = $RCVBUF
allowed_exporters = ["127.0.0.0/8"]
[aggregator]
window_secs = 60
top_n = 100
dimensions = $dims
$extra
[metrics]
enabled = false
EOF
}
start_sluice-null() { sluice_conf "$1" null; "$SLUICE" run -c "$1/sluice.toml" 2>"$1/log" & PID=$!; }
stop_sluice-null() { kill -TERM "$PID"; wait "$PID" || true; echo "$(grep 'stopped cleanly' "$1/log" | kv records) -"; }
start_sluice-agg() { sluice_conf "$1" agg; "$SLUICE" run -c "$1/sluice.toml" 2>"$1/log" & PID=$!; }
stop_sluice-agg() { kill -TERM "$PID"; wait "$PID" || true; echo "$(grep 'stopped cleanly' "$1/log" | kv flows_recorded) -"; }
SYNTH=""
start_sluice-enrich() {
  if [ -z "$SYNTH" ]; then
    SYNTH="$WORK/synth"
    (cd "$ROOT" && cargo run --release -q -p enrich --example synth_mmdb -- "$SYNTH") >&2
  fi
  sluice_conf "$1" agg
  cat "$SYNTH/enrich.toml" >>"$1/sluice.toml"
  "$SLUICE" run -c "$1/sluice.toml" 2>"$1/log" & PID=$!
}
stop_sluice-enrich() { stop_sluice-agg "$1"; }

# nfcapd and sfcapd (NetFlow/IPFIX and sFlow) share their options, file format and counting.
start_nfdump() { # BINARY DIR
  mkdir -p "$2/flows"; "$1" -w "$2/flows" -b 127.0.0.1 -p $PORT -B $RCVBUF -t 3600 >"$2/log" 2>&1 & PID=$!
}
start_nfcapd() { start_nfdump nfcapd "$1"; }
start_sfcapd() { start_nfdump sfcapd "$1"; }
stop_sfcapd() { stop_nfcapd "$1"; }
stop_nfcapd() {
  kill -TERM "$PID"; wait "$PID" || true
  # The stored records, from the statistics nfcapd writes into each file (`nfdump -I`, summed over
  # the files of the directory): the same count as one line per record of `-o csv` (checked on a
  # 3.75 M record step: equal), in milliseconds instead of minutes for a long step.
  local n; n=$(nfdump -R "$1/flows" -I 2>/dev/null | sed -n 's/^Flows: *\([0-9]*\)$/\1/p' | head -1)
  n=${n:-0}
  # nfcapd stores about 120 bytes per record uncompressed (18 GB for a 65 s step at 75 k
  # datagrams/s): drop the files once counted, so that long steps cannot fill the disk.
  rm -rf "$1/flows"
  echo "$n -"
}

# nfacctd and sfacctd (NetFlow/IPFIX and sFlow) take the same configuration under their own
# prefix. sfacctd leaves sfacctd_renormalize off: one packet per flow sample.
start_pmacct() { # DAEMON DIR
  cat >"$2/$1.conf" <<EOF
daemonize: false
${1}_ip: 127.0.0.1
${1}_port: $PORT
${1}_pipe_size: $RCVBUF
plugin_pipe_size: 102400000
plugin_buffer_size: 102400
plugins: print
aggregate: src_host
print_output: csv
print_output_file: $2/out.csv
print_output_file_append: true
print_refresh_time: 1
print_cache_entries: 65537
EOF
  "$1" -f "$2/$1.conf" >"$2/log" 2>&1 & PID=$!
}
start_nfacctd() { start_pmacct nfacctd "$1"; }
start_sfacctd() { start_pmacct sfacctd "$1"; }
stop_sfacctd() { stop_nfacctd "$1"; }
stop_nfacctd() {
  sleep 2 # one refresh after the last datagram
  kill -INT "$PID"; wait "$PID" || true
  # pmacct aggregates: count packets (sum of the PACKETS column) instead of records.
  local p; p=$(awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="PACKETS") c=i; next} c && $1!="SRC_IP"{s+=$c} END{print s+0}' "$1/out.csv" 2>/dev/null || echo 0)
  echo "- $p"
}

available() {
  case "$1" in
    nfcapd) have nfcapd && have nfdump ;;
    nfacctd) have nfacctd ;;
    sfcapd) have sfcapd && have nfdump ;;
    sfacctd) have sfacctd ;;
    *) return 0 ;;
  esac
}

# CPU seconds (user + system) the collector uses while the traffic runs: read before and after,
# so start-up work (opening databases, say) is left out. Also sluice's receive threads alone
# (sluice-rx-N: receive, decode, enrich), whose work per record is steadier than the process's.
HZ=$(getconf CLK_TCK)
cpu_at() { awk -v hz="$HZ" '{printf "%.2f", ($14 + $15) / hz}' "/proc/$PID/stat" 2>/dev/null || echo -; }
rx_at() { cat /proc/$PID/task/*/stat 2>/dev/null | awk -v hz="$HZ" '$2 ~ /^\(sluice-rx/ {t += $14 + $15} END {printf "%.2f", t / hz}'; }

declare -A BEST BEST_RPS NOTE CPU SENT_REC
SENT_DG_ALL=0; SENT_REC_ALL=0
printf '%-13s %8s %10s %10s %10s %10s %7s %7s %s\n' collector rate sent_dg recv sent lost cpu_s rx_cpu_s result | tee "$WORK/steps.txt"
for c in $ONLY; do
  BEST[$c]=0; BEST_RPS[$c]=0; NOTE[$c]=""
  if ! available "$c"; then NOTE[$c]="not installed"; continue; fi
  for r in $RATES; do
    if [ "$(elapsed)" -ge "$BUDGET" ]; then NOTE[$c]="budget reached"; break; fi
    d="$WORK/$c-$r"; mkdir -p "$d"
    "start_$c" "$d"
    PIDS+=("$PID")
    if ! wait_port; then echo "$c did not start (see $d/log)" >&2; kill "$PID" 2>/dev/null || true; NOTE[$c]="failed to start"; break; fi
    sleep 0.3
    cpu0=$(cpu_at); rx0=$(rx_at)
    line=$("$SLUICE" blast --to 127.0.0.1:$PORT --proto "$PROTO" --rate "$r" --duration "$STEP" --exporters "$EXPORTERS" 2>"$d/blast.log")
    sent_dg=$(echo "$line" | kv datagrams)
    sent_rec=$(echo "$line" | kv records)
    sent_pkt=$(echo "$line" | kv packets)
    achieved=$(echo "$line" | kv datagrams_per_sec)
    sleep 0.5
    cpu1=$(cpu_at); rx1=$(rx_at)
    cpu=-; rx=-
    if [ "$cpu0" != - ] && [ "$cpu1" != - ]; then cpu=$(awk -v a="$cpu0" -v b="$cpu1" 'BEGIN{printf "%.2f", b-a}'); fi
    case "$c" in sluice-*) rx=$(awk -v a="$rx0" -v b="$rx1" 'BEGIN{printf "%.2f", b-a}') ;; esac
    "stop_$c" "$d" >"$d/result" # not in a subshell: stop_* must be able to wait for its child
    read -r got_rec got_pkt <"$d/result"
    if [[ "$got_rec" == dgrams:* ]]; then
      got=${got_rec#dgrams:}; sent=$sent_dg
    elif [ "$got_rec" != "-" ]; then
      got=$got_rec; sent=$sent_rec
    else
      got=$got_pkt; sent=$sent_pkt
    fi
    got=${got:-0}
    lost=$(( sent - got ))
    ok=LOSS
    # More counted than sent is no loss but no clean count either (seen once from sfacctd at
    # 100 k datagrams/s: 312 packets over 3.07 M): marked as such, and the step counts as failed.
    [ "$lost" -ge 0 ] || ok=OVERCOUNT
    # What counts is the rate the sender reached (it may fall short of the target on a busy
    # machine); a step below 95% of its target is marked sender-limited.
    if [ "$lost" -eq 0 ]; then
      ok=clean
      [ "$achieved" -ge $(( r * 95 / 100 )) ] || ok="clean(sender-limited)"
    fi
    printf '%-13s %8s %10s %10s %10s %10s %7s %7s %s\n' "$c" "$r" "$sent_dg" "$got" "$sent" "$lost" "$cpu" "$rx" "$ok ${achieved}/s" | tee -a "$WORK/steps.txt"
    CPU["$c-$r"]=$cpu; SENT_REC["$c-$r"]=$sent_rec
    SENT_DG_ALL=$(( SENT_DG_ALL + ${sent_dg:-0} )); SENT_REC_ALL=$(( SENT_REC_ALL + ${sent_rec:-0} ))
    if [ "$lost" -eq 0 ]; then
      if [ "$achieved" -gt "${BEST[$c]}" ]; then
        BEST[$c]=$achieved; BEST_RPS[$c]=$(echo "$line" | kv records_per_sec)
      fi
    else
      if [ "$lost" -gt 0 ]; then
        NOTE[$c]="first loss at target $r/s (sent ${achieved}/s, lost $lost of $sent)"
      else
        NOTE[$c]="first miscount at target $r/s (sent ${achieved}/s, counted $(( -lost )) more than the $sent sent)"
      fi
      break
    fi
  done
done

echo
PER_DG=$(awk -v r="$SENT_REC_ALL" -v d="$SENT_DG_ALL" 'BEGIN{if (d > 0) printf "%.1f", r/d; else print "?"}')
echo "Highest rate reached with zero loss, as achieved by the sender ($PROTO, $EXPORTERS exporters, $PER_DG records/datagram, ${STEP}s steps, $(nproc) cores; $(uname -r))"
printf '%-12s %14s %14s %10s %s\n' collector datagrams/s records/s vs_limit note
limit=${BEST[sink-udp]:-0}
for c in $ONLY; do
  ratio="-"
  if [ "${limit:-0}" -gt 0 ] && [ "${BEST[$c]}" -gt 0 ]; then ratio=$(awk -v a="${BEST[$c]}" -v b="$limit" 'BEGIN{printf "%.2f", a/b}'); fi
  printf '%-12s %14s %14s %10s %s\n' "$c" "${BEST[$c]}" "${BEST_RPS[$c]}" "$ratio" "${NOTE[$c]}"
done
# The ratios issue 11 asks for: every collector against the bare loop (above), and sluice with
# the null sink and with every dimension against both peers.
for ours in sluice-null sluice-agg; do
  for peer in nfcapd nfacctd sfcapd sfacctd; do
    if [ "${BEST[$peer]:-0}" -gt 0 ] && [ "${BEST[$ours]:-0}" -gt 0 ]; then
      awk -v a="${BEST[$ours]}" -v b="${BEST[$peer]}" -v o="$ours" -v p="$peer" 'BEGIN{printf "%s / %s: %.2f\n", o, p, a/b}'
    fi
  done
done
# What enrichment costs: the lossless rate with it against without it, and the CPU per million
# records at each rate both ran.
if [ "${BEST[sluice-agg]:-0}" -gt 0 ] && [ "${BEST[sluice-enrich]:-0}" -gt 0 ]; then
  awk -v a="${BEST[sluice-enrich]}" -v b="${BEST[sluice-agg]}" 'BEGIN{printf "sluice-enrich / sluice-agg (lossless rate): %.2f\n", a/b}'
fi
for r in $RATES; do
  a=${CPU[sluice-enrich-$r]:-}; b=${CPU[sluice-agg-$r]:-}
  if [ -n "$a" ] && [ -n "$b" ] && [ "$a" != - ] && [ "$b" != - ]; then
    awk -v a="$a" -v b="$b" -v n="${SENT_REC[sluice-agg-$r]}" -v m="${SENT_REC[sluice-enrich-$r]}" -v r="$r" \
      'BEGIN{printf "at %s datagrams/s: CPU s per million records, enrich %.2f / agg %.2f = %.2f\n", r, a*1e6/m, b*1e6/n, (a/m)/(b/n)}'
  fi
done
echo "(0: not clean even at the lowest step; a collector that never lost was limited by the sender; work files in $WORK)"
