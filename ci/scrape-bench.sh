#!/usr/bin/env bash
# Can /metrics stall a worker? One worker (pinned to core 0) holding IDLE idle keep-alive
# connections; a client sending GET / at a fixed rate (core 1) measures its latency,
# alone, then beside a scraper pipelining GET /metrics 100 at a time on the same worker as
# fast as it is answered, in alternating rounds. Prints the median p99s and their ratio
# for each backend, and fails if the ratio passes 2 (issue #21's bar). Not part of CI: it is a benchmark (figures in
# docs/operating.md).
#   ci/scrape-bench.sh [IDLE=15000] [SECONDS=5] [ROUNDS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
idle=${1:-15000}
secs=${2:-5}
rounds=${3:-5}
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
median() { python3 -c 'import statistics,sys; print(int(statistics.median(map(int, sys.argv[1:]))))' "$@"; }

run() {
  local backend=$1 port=$2
  taskset -c 0 "$bin" --listen 127.0.0.1:$port --backend "$backend" --workers 1 2>"$work/server.log" &
  local server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  : >"$work/hold.out" # here, not by the background redirection, which may come after the wait below
  taskset -c 1 python3 "$work/hold.py" $port "$idle" >"$work/hold.out" &
  local holder=$!
  for _ in $(seq 600); do grep -q holding "$work/hold.out" 2>/dev/null && break; sleep 0.1; done
  grep -q holding "$work/hold.out" || { echo "could not hold $idle connections"; exit 1; }
  local load=(taskset -c 1 "$bin" load "http://127.0.0.1:$port/" -c 8 --rate 2000 -d "${secs}s")
  "${load[@]}" >/dev/null # warm-up
  local alone=() beside=() scrapes=() errors=0 n e
  for round in $(seq "$rounds"); do
    "${load[@]}" --json "$work/alone.json" >/dev/null
    taskset -c 1 "$bin" load "http://127.0.0.1:$port/metrics" --any-body -c 1 --pipeline 100 -d "${secs}s" \
      --json "$work/scrapes.json" >/dev/null &
    local scraper=$!
    "${load[@]}" --json "$work/beside.json" >/dev/null
    wait $scraper
    read -r p n e < <(p99 "$work/alone.json"); alone+=("$p"); errors=$((errors + e))
    read -r p n e < <(p99 "$work/beside.json"); beside+=("$p"); errors=$((errors + e))
    read -r p n e < <(p99 "$work/scrapes.json"); scrapes+=("$n"); errors=$((errors + e))
    echo "  $backend round $round: GET / p99 alone ${alone[-1]} us, beside the scraper ${beside[-1]} us ($n scrapes)"
  done
  kill $holder $server 2>/dev/null; wait $server 2>/dev/null || true
  local a b
  a=$(median "${alone[@]}"); b=$(median "${beside[@]}")
  local ratio
  ratio=$(python3 -c "print(f'{$b / max($a, 1):.2f}')")
  printf '%-6s %s idle: GET / p99 alone %s us, beside a scraper pipelining 100 x /metrics %s us: %sx (medians of %s rounds; %s scrapes a round; %s errors)\n' \
    "$backend" "$idle" "$a" "$b" "$ratio" "$rounds" "$(median "${scrapes[@]}")" "$errors"
  [ "$errors" = 0 ] || { echo "errors"; exit 1; }
  python3 -c "import sys; sys.exit($b > 2 * max($a, 1))" || { echo "p99 more than doubled"; exit 1; }
}

run uring 18771
run tokio 18772
