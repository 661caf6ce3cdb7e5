#!/usr/bin/env bash
# The comparative benchmark: `cargo bench --features tokio-uring --bench compare -- "$@"`,
# after installing the tools it compares against when it can (root with apt: nginx, and
# wrk for --wrk).
# Examples:  ci/bench.sh --quick        ci/bench.sh --wrk --duration 10s --rounds 5
set -euo pipefail
cd "$(dirname "$0")/.."
want=()
command -v nginx >/dev/null || want+=(nginx)
command -v wrk >/dev/null || want+=(wrk)
if [ ${#want[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing ${want[*]} for the comparison" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${want[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${want[@]}" >/dev/null 2>&1; } ||
    echo "could not install ${want[*]}: those peers are skipped" >&2
fi
# With the tokio-uring backend, so the comparison has all three I/O models.
exec cargo bench --features tokio-uring --bench compare -- "$@"
