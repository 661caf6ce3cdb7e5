#!/usr/bin/env bash
# Bundle receives, measured: server CPU per request with and without `--uring-features
# bundle`, paired per round (one worker pinned to core 0, `greeter load` on core 1), on
# workloads where one receive fits one buffer (pipelined 16) and where it spans several
# (pipelined 128, a 16 KiB body). Prints each round, then the median ratio per workload.
# Usage: ci/bundle-paired.sh [GREETER_BINARY] [ROUNDS]   (build with cargo build --release)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/greeter}
rounds=${2:-5}
log=$(mktemp)
json=$(mktemp)
taskset -c 0 "$bin" --listen 127.0.0.1:18981 --workers 1 --backend uring --uring-features off-bundle 2>/dev/null &
without=$!
taskset -c 0 "$bin" --listen 127.0.0.1:18982 --workers 1 --backend uring --uring-features bundle 2>/dev/null &
with=$!
trap 'kill -TERM $without $with 2>/dev/null; rm -f "$log" "$json"' EXIT
sleep 0.5
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
body=$(python3 -c "print('x' * 16384, end='')")
workloads=("pipelined-16|--pipeline 16" "pipelined-128|--pipeline 128" "body-16KiB|--body $body")
for round in $(seq "$rounds"); do
  for w in "${workloads[@]}"; do
    name=${w%%|*}
    read -ra args <<<"${w#*|}"
    for server in "without $without 18981" "with $with 18982"; do
      read -r label pid port <<<"$server"
      before=$(cpu_ticks "$pid")
      taskset -c 1 "$bin" load "http://127.0.0.1:$port/" -c 64 -d 3s "${args[@]}" --json "$json" >/dev/null
      after=$(cpu_ticks "$pid")
      python3 - "$json" "$round" "$name" "$label" "$before" "$after" <<'EOF' | tee -a "$log"
import json, os, sys
path, rnd, name, label, before, after = sys.argv[1:]
r = json.load(open(path))
tick = 1e6 / os.sysconf("SC_CLK_TCK")
us = (int(after) - int(before)) * tick / max(r["requests"], 1)
print(f"round {rnd} {name} {label}: {r['requests']} requests, {us:.3f} us/request")
EOF
    done
  done
done
python3 - "$log" <<'EOF'
import collections, re, statistics, sys
rounds = collections.defaultdict(dict)
for line in open(sys.argv[1]):
    m = re.match(r"round (\d+) (\S+) (with|without): \d+ requests, ([\d.]+)", line)
    rounds[(m[2], m[1])][m[3]] = float(m[4])
ratios = collections.defaultdict(list)
for (name, _), pair in rounds.items():
    ratios[name].append(pair["with"] / pair["without"])
for name, r in ratios.items():
    print(f"{name}: with bundle / without, median {statistics.median(r):.2f} "
          f"(rounds {' '.join(f'{x:.2f}' for x in r)})")
EOF
