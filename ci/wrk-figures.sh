#!/usr/bin/env bash
# Server CPU time per request and requests/s under wrk, as DESIGN.md's yardstick measures
# them: one greeter worker pinned to core 0, wrk pinned to core 1, three workloads.
# Usage: ci/wrk-figures.sh [seconds] [extra greeter flags...]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}; shift || true
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet
port=18080
taskset -c 0 target/release/greeter --workers 1 --listen 127.0.0.1:$port "$@" 2>/dev/null &
pid=$!
trap 'kill -INT $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
hz=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
measure() {
  local name=$1; shift
  local before after out reqs rps
  before=$(ticks)
  out=$(taskset -c 1 wrk -t1 -d"${secs}s" --latency "$@" "http://127.0.0.1:$port/")
  after=$(ticks)
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  awk -v n="$name" -v t=$((after - before)) -v hz="$hz" -v r="$reqs" -v rps="$rps" \
    'BEGIN { printf "%-22s %12.0f req/s %8.2f us CPU/request\n", n, rps, t / hz * 1e6 / r }'
}
measure "keep-alive c64" -c64
measure "pipelined 16 c64" -c64 -s benches/wrk/pipeline16.lua
measure "connection/request c64" -c64 -H "Connection: close"
