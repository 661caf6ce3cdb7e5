#!/usr/bin/env bash
# What `--proxy-protocol` costs, measured: server CPU per request with a connection per
# request, plain against a second server that reads a PROXY v1 or v2 header first on each
# connection, paired per round (one worker each, pinned to core 0; wrk on core 1; the
# servers take turns). Prints each round, then the median ratio to plain per header.
# Usage: ci/proxy-paired.sh [BACKEND] [ROUNDS] [SECONDS]   (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
backend=${1:-uring}; rounds=${2:-5}; secs=${3:-4}
command -v wrk >/dev/null || { echo "wrk not found: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --quiet --bin greeter
bin=target/release/greeter
log=$(mktemp)
taskset -c 0 "$bin" --listen 127.0.0.1:18991 --workers 1 --backend "$backend" 2>/dev/null &
plain=$!
taskset -c 0 "$bin" --listen 127.0.0.1:18992 --workers 1 --backend "$backend" --proxy-protocol 2>/dev/null &
proxied=$!
trap 'kill -TERM $plain $proxied 2>/dev/null; rm -f "$log"' EXIT
for port in 18991 18992; do
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() { # label pid port script [script args]: one line, µs of server CPU per request
  local before after out reqs errors
  before=$(ticks "$2")
  out=$(taskset -c 1 wrk -t1 -c64 -d"${secs}s" -s "benches/wrk/$4" "http://127.0.0.1:$3/" -- ${5:-})
  after=$(ticks "$2")
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  errors=$(echo "$out" | awk '/Non-2xx/ {print $NF}')
  [ -z "$errors" ] || { echo "$1: $errors answers were not 2xx: the header was refused" >&2; exit 1; }
  awk -v l="$1" -v t=$((after - before)) -v hz="$(getconf CLK_TCK)" -v r="$reqs" -v rnd="$round" \
    'BEGIN { printf "round %d %-9s %8d requests %8.2f us/request\n", rnd, l, r, t / hz * 1e6 / r }'
}
for round in $(seq "$rounds"); do
  for run in "plain $plain 18991 close.lua" "proxy-v1 $proxied 18992 proxy.lua v1" "proxy-v2 $proxied 18992 proxy.lua v2"; do
    read -r label pid port script version <<<"$run"
    measure "$label" "$pid" "$port" "$script" "$version" | tee -a "$log"
  done
done
python3 - "$log" <<'PY'
import statistics, sys
rounds = {}
for line in open(sys.argv[1]):
    _, rnd, label, _, _, us, _ = line.split()
    rounds.setdefault(rnd, {})[label] = float(us)
for label in ("proxy-v1", "proxy-v2"):
    ratios = [r[label] / r["plain"] for r in rounds.values()]
    plain = statistics.median(r["plain"] for r in rounds.values())
    mine = statistics.median(r[label] for r in rounds.values())
    print(f"{label}: {mine:.2f} us/request against plain {plain:.2f}; paired ratio median "
          f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f})")
PY
