#!/usr/bin/env bash
# The comparative benchmark: `cargo bench --features tokio-uring --bench compare -- "$@"`,
# after installing the servers it compares against when it can (root with apt).
# Examples:  ci/bench.sh --quick        ci/bench.sh --wrk --duration 10s --rounds 5
set -euo pipefail
cd "$(dirname "$0")/.."
# The peers from Debian (nginx, h2o, Go for net/http, Node, python3-venv for uvloop from
# PyPI) and wrk for --wrk; the Rust peers and the venv are built by the bench itself.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  ci/tools.sh nginx h2o golang-go nodejs python3-venv wrk ||
    echo "could not install every peer: those missing are skipped, and the results say why" >&2
fi
# With the tokio-uring backend, so the comparison has all three I/O models.
exec cargo bench --features tokio-uring --bench compare -- "$@"
