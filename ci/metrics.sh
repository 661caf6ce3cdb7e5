#!/usr/bin/env bash
# The /metrics exposition checked by Prometheus's own linter: promtool (Debian package
# `prometheus`, installed by this script) on the output of a server that has seen traffic
# of every kind, on each backend. Then the alert rules (deploy/prometheus/): promtool checks
# and unit-tests them, and each backend's real greeter_build_info must carry the labels
# the rules select on.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v promtool >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq prometheus >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq prometheus >/dev/null; }
fi
cargo build --release --quiet
for backend in uring tokio; do
  port=$((18580 + ${#backend}))
  target/release/greeter --listen 127.0.0.1:$port --backend $backend --workers 2 2>/dev/null &
  server=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  for path in / /greet/Ann /healthz /nope /greet/%00; do curl -s -o /dev/null "http://127.0.0.1:$port$path"; done
  curl -s -o /dev/null -d name=Bo "http://127.0.0.1:$port/greet"
  curl -s -o /dev/null -X DELETE "http://127.0.0.1:$port/"
  curl -s "http://127.0.0.1:$port/metrics" > target/metrics-$backend.txt
  kill -INT $server; wait $server || true
  promtool check metrics < target/metrics-$backend.txt
  echo "promtool check metrics: ok on $backend ($(grep -c '^greeter_' target/metrics-$backend.txt) greeter samples)"
done
promtool check rules deploy/prometheus/greeter-rules.yaml
promtool test rules deploy/prometheus/greeter-rules.test.yaml
# What GreeterNotOnIoUring and GreeterRingUnrestricted select on, as greeter exposes it.
grep -q '^greeter_build_info{.*backend="io_uring".*ring_restricted_opcodes="8"[,}].* 1$' target/metrics-uring.txt ||
  { grep greeter_build_info target/metrics-uring.txt; echo "io_uring's build info lacks the labels the rules use" >&2; exit 1; }
grep -q '^greeter_build_info{.*backend="tokio".*ring_restricted_opcodes=""[,}].* 1$' target/metrics-tokio.txt ||
  { grep greeter_build_info target/metrics-tokio.txt; echo "tokio's build info lacks the labels the rules use" >&2; exit 1; }
echo "alert rules: checked, unit-tested, and their labels are greeter's"
