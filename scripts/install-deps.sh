#!/usr/bin/env bash
# Installs, from Debian's packages, what the tests and the quickstart need when it is missing.
# Idempotent: installs nothing when everything is present.
set -euo pipefail
want=()
need() { command -v "$1" >/dev/null 2>&1 || want+=("$2"); }
need softflowd softflowd
need pmacctd pmacct
need nfcapd nfdump
need sfcapd nfdump-sflow
need tshark tshark
need tcpdump tcpdump
need clickhouse-server clickhouse-server
need clickhouse-client clickhouse-client
need curl curl
need snmpd snmpd
need python3 python3
if [ "${SLUICE_WANT_BROWSER:-1}" = 1 ]; then need chromium chromium; fi
if ((${#want[@]})); then
  echo "install-deps: installing ${want[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${want[@]}" >&2
fi
