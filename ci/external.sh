#!/usr/bin/env bash
# External attack and load tools against a running greeter (installed from Debian by this
# script): slowhttptest (slow headers, slow body, slow read) while a probe checks the
# service stays up, and h2load --h1 with 16-deep pipelining. Every request must succeed.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v slowhttptest >/dev/null || need+=(slowhttptest)
command -v h2load >/dev/null || need+=(nghttp2-client)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${need[@]}" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq "${need[@]}" >/dev/null; }
fi
cargo build --release --quiet
work=$(mktemp -d)
port=18480
target/release/greeter --listen 127.0.0.1:$port --header-timeout 5s --idle-timeout 10s 2>"$work/server.log" &
server=$!
# KEEP=1 keeps the working directory (logs, slowhttptest CSV and HTML reports).
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done

# A probe: one request every 200 ms for as long as the attacks run; any failure is fatal.
probe() {
  while [ -e "$work/probing" ]; do
    curl -sf --max-time 2 "http://127.0.0.1:$port/healthz" >/dev/null || { echo "probe failed" >>"$work/probe.err"; }
    sleep 0.2
  done
}
touch "$work/probing"; probe & prober=$!

attack() { # name, slowhttptest flags
  local name=$1; shift
  slowhttptest "$@" -c 400 -i 10 -r 100 -l 12 -u "http://127.0.0.1:$port/" -g -o "$work/$name" >"$work/$name.out" 2>&1 || true
  local down
  down=$(awk -F, 'NR > 1 && $5 != "" && $5 + 0 == 0 {n++} END {print n + 0}' "$work/$name.csv")
  echo "slowhttptest $name: service unavailable in $down of $(($(wc -l <"$work/$name.csv") - 1)) samples"
  [ "$down" = 0 ]
}
attack slow-headers -H -t GET
attack slow-body -B -t POST -s 8192
attack slow-read -X -k 4 -n 2 -w 16 -y 32 -z 4

rm -f "$work/probing"; wait $prober
if [ -s "$work/probe.err" ]; then echo "the service went down during the attacks: $(wc -l <"$work/probe.err") failed probes"; exit 1; fi
echo "probe: the service answered throughout"

out=$(h2load --h1 -n 200000 -c 64 -m 16 "http://127.0.0.1:$port/")
echo "$out" | grep -E "^requests:|^status codes:|finished in"
echo "$out" | grep -q " 0 failed, 0 errored, 0 timeout" || { echo "h2load saw failures"; exit 1; }
echo "external tools: all requests succeeded"
