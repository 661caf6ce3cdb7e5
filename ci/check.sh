#!/usr/bin/env bash
# The whole CI: formatting, then for each feature set clippy (warnings are errors) and the
# test suite. Feature sets: default (io_uring + tokio), with tokio-uring, io_uring only, and
# the crate built as a non-Linux target would be (tokio only, one shared listener).
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's heading says how long the one before it took, so a slow step shows.
step() {
  [ -n "${step_name:-}" ] && printf '(%s: %d s)\n' "$step_name" "$((SECONDS - step_began))"
  step_name=$1 step_began=$SECONDS
  printf '\n== %s\n' "$*"
}

step "cargo fmt --check"
cargo fmt --check

step "the systemd units verify (and systemd's tools, which the tests use, are installed)"
ci/systemd.sh
ci/tools.sh haproxy # tests/proxy_protocol.rs puts HAProxy in front of greeter
# A test whose tool is missing fails here instead of skipping.
export GREETER_REQUIRE_TOOLS=1

step "default features (io_uring + tokio)"
cargo clippy --all-targets -- -D warnings
cargo test

step "the binary's tests again with --sandbox on (GREETER_SANDBOX; in-process servers always run sandboxed)"
GREETER_SANDBOX=enforce cargo test --test operate --test hardening --test deploy --test systemd \
  --test cli --test failure --test fallback --test load --test confinement

step "default features with io_uring blocked by seccomp, as Docker's default profile does"
cargo run --quiet --example without_io_uring -- cargo test

step "--features tokio-uring (the third backend: every per-backend test runs on it too)"
cargo clippy --all-targets --features tokio-uring -- -D warnings
# The other backends' cases are the default run's, built the same: only the third runs here.
cargo test --features tokio-uring -- tokio_uring

step "--no-default-features (io_uring only)"
cargo clippy --all-targets --no-default-features -- -D warnings
# What differs without tokio: the unit tests, start-up without a fallback, the CLI, the
# deploy checks; the io_uring cases of the other suites are the default run's.
cargo test --no-default-features --lib --test fallback --test cli --test deploy --test http

step "portable: as a non-Linux target (--cfg greeter_portable)"
export_portable() { RUSTFLAGS="--cfg greeter_portable" CARGO_TARGET_DIR=target/portable "$@"; }
export_portable cargo clippy --all-targets -- -D warnings
export_portable cargo test

step "portable without tokio: the build must stop with a clear message"
if out=$(export_portable cargo build --no-default-features 2>&1); then
  echo "expected a compile_error! without the tokio feature" >&2; exit 1
fi
grep -q 'enable the `tokio` feature' <<<"$out" || { echo "$out" >&2; exit 1; }
echo "ok: $(grep -m1 'error: greeter has no backend' <<<"$out")"


step "macOS (x86_64, aarch64) and FreeBSD: clippy on the real targets"
ci/platforms.sh

step "documentation builds without warnings; the fuzz target compiles (as cargo-fuzz builds it)"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --quiet
(cd fuzz && RUSTFLAGS="--cfg fuzzing" cargo check --quiet)

step "deploy/: Kubernetes manifests (kubernetes-validate, kustomize), the seccomp profile against the calls greeter makes (strace), the image's contents under runc"
ci/k8s.sh
ci/seccomp-calls.sh --check
ci/container.sh

step "the .deb: built with cargo-deb, installed with dpkg -i, its units verified, /usr/bin/greeter serving, removed and purged clean"
ci/deb.sh

step "the /metrics exposition passes promtool check metrics"
ci/metrics.sh

step "io_uring tests under AddressSanitizer"
ci/sanitize.sh

step "slowhttptest and h2load against a running server"
ci/external.sh

step "AWS http-desync-guardian's request vectors, each held to its tier"
ci/desync.sh

step "the comparative benchmark, quick mode, every peer built or installed (so none rots)"
ci/bench.sh --quick --out target/bench-results > target/bench-quick.md
grep -q '^| greeter io_uring |' target/bench-quick.md || { echo "no greeter io_uring row" >&2; exit 1; }

step "all checks passed"
