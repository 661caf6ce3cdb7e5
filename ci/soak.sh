#!/usr/bin/env bash
# ci/soak.sh MINUTES [BACKEND]: the chaos test's mix of clients against a release build
# for MINUTES (not in CI), on the same deliberately small ring. Every 10 s it prints the
# server's resident memory, open connections and receive buffers in use (from /metrics);
# at the end, the mix's tally. Fails if a well-formed exchange went wrong, if anything is
# still held once the clients stop, or if memory grew after the first minute's warm-up
# by more than 10 % (plus 1 MiB for allocator noise).
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=${1:?usage: ci/soak.sh MINUTES [uring|tokio]}
backend=${2:-uring}

cargo build --release --quiet --bin greeter --example chaos
log=$(mktemp)
./target/release/greeter --listen 127.0.0.1:0 --backend "$backend" \
  --sq-entries 8 --recv-buffers 8 --recv-buffer-size 256 \
  --header-timeout 2s --idle-timeout 2s 2>"$log" &
server=$!
trap 'kill "$server" 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -q 'greeter serving' "$log" && break; sleep 0.1; done
addr=$(grep -o 'http://[0-9.:]*' "$log" | head -1 | sed 's|http://||')
echo "soak: greeter $backend on $addr for $minutes min, pid $server"

# sum of a metric's samples (all label sets) in one /metrics scrape
sum() { awk -v m="$1" '$1 == m || index($1, m "{") == 1 { s += $NF } END { printf "%d", s }' <<<"$2"; }
sample() {
  local m; m=$(curl -s "http://$addr/metrics")
  rss=$(sum process_resident_memory_bytes "$m")
  open=$(( $(sum greeter_connections_open "$m") - 1 )) # not counting the scrape itself
  buffers=$(sum greeter_uring_buffers_in_use "$m")
}

./target/release/examples/chaos "$addr" $((minutes * 60)) > "${log}.chaos" &
clients=$!
start=$(date +%s)
warm=""
printf '%8s %10s %8s %8s\n' elapsed rss_mib open buffers
while kill -0 "$clients" 2>/dev/null; do
  sleep 10
  sample
  elapsed=$(( $(date +%s) - start ))
  printf '%7ss %10.1f %8d %8d\n' "$elapsed" "$(awk -v r="$rss" 'BEGIN { printf "%.1f", r / 1048576 }')" "$open" "$buffers"
  if [ -z "$warm" ] && [ "$elapsed" -ge 60 ]; then warm=$rss; fi
  last=$rss
done
wait "$clients" && mixed=ok || mixed=failed
cat "${log}.chaos"; rm -f "${log}.chaos"
sleep 3 # the last connections close at their deadlines
sample
echo "soak: after the clients stopped: $open connections open, $buffers buffers in use, rss $((rss / 1024)) KiB"
status=0
[ "$mixed" = ok ] || { echo "soak: a well-formed exchange went wrong" >&2; status=1; }
[ "$open" = 0 ] && [ "$buffers" = 0 ] || { echo "soak: something is still held" >&2; status=1; }
if [ -n "$warm" ]; then
  limit=$(( warm + warm / 10 + 1048576 ))
  echo "soak: rss after warm-up $((warm / 1024)) KiB, at the end $((last / 1024)) KiB (limit $((limit / 1024)) KiB)"
  [ "$last" -le "$limit" ] || { echo "soak: memory grew after warm-up" >&2; status=1; }
fi
exit $status
