#!/usr/bin/env bash
# Can /metrics stall a worker? One worker (pinned to core 0) holding IDLE idle keep-alive
# connections; a client sending GET / at a fixed rate (core 1) measures its latency, first
# alone, then beside a scraper pipelining GET /metrics 100 at a time on the same worker,
# as fast as it is answered. Prints both p99s and their ratio for each backend, and fails
# if the ratio passes 2 (issue #21's bar). Not part of CI: it is a benchmark (figures in
# docs/operating.md).
#   ci/scrape-bench.sh [IDLE=15000] [SECONDS=10]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-15000}
secs=${2:-10}
cargo build --release --quiet
bin=$PWD/target/release/greeter
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

# Holds $2 keep-alive connections to 127.0.0.1:$1, each answered once, until killed.
cat >"$work/hold.py" <<'PY'
import resource, socket, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
for _ in range(count):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET / HTTP/1.1\r\nHost: idle\r\n\r\n")
    got = b""
    while b"Hello, world!" not in got:
        got += s.recv(1024)
    held.append(s)
print(f"holding {len(held)}", flush=True)
time.sleep(10**6)
PY

p99() { python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(r["latency_us"]["p99"], r["requests"], r["error_total"])' "$1"; }

run() {
  local backend=$1 port=$2
  taskset -c 0 "$bin" --listen 127.0.0.1:$port --backend "$backend" --workers 1 2>"$work/server.log" &
  local server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  taskset -c 1 python3 "$work/hold.py" $port "$idle" >"$work/hold.out" &
  local holder=$!
  for _ in $(seq 600); do grep -q holding "$work/hold.out" 2>/dev/null && break; sleep 0.1; done
  grep -q holding "$work/hold.out" || { echo "could not hold $idle connections"; exit 1; }
  local load=(taskset -c 1 "$bin" load "http://127.0.0.1:$port/" -c 8 --rate 2000 -d "${secs}s")
  "${load[@]}" --json "$work/alone.json" >/dev/null
  taskset -c 1 "$bin" load "http://127.0.0.1:$port/metrics" -c 1 --pipeline 100 -d "${secs}s" \
    --json "$work/scrapes.json" >/dev/null &
  local scraper=$!
  "${load[@]}" --json "$work/beside.json" >/dev/null
  wait $scraper
  read -r alone n1 e1 < <(p99 "$work/alone.json")
  read -r beside n2 e2 < <(p99 "$work/beside.json")
  read -r scrape_p99 scrapes e3 < <(p99 "$work/scrapes.json")
  kill $holder $server 2>/dev/null; wait $server 2>/dev/null || true
  local ratio
  ratio=$(python3 -c "print(f'{$beside / max($alone, 1):.2f}')")
  printf '%-8s idle %s: GET / p99 alone %s us (%s requests, %s errors), beside the scraper %s us (%s, %s errors): %sx; %s scrapes answered, p99 %s us each\n' \
    "$backend" "$idle" "$alone" "$n1" "$e1" "$beside" "$n2" "$e2" "$ratio" "$scrapes" "$scrape_p99"
  python3 -c "import sys; sys.exit($beside > 2 * max($alone, 1))" || { echo "p99 more than doubled"; exit 1; }
}

run uring 18771
run tokio 18772
