#!/usr/bin/env bash
# The platforms greeter must build on but CI cannot run: macOS (x86_64, aarch64) and
# FreeBSD. Only the real target's libc shows what is missing there (`--cfg
# greeter_portable` compiles the same code against Linux's libc), so each target is
# installed here and linted for real: clippy on every target (tests, benches, examples),
# warnings as errors, with the default features and with tokio-uring asked for (a
# Linux-only backend that must switch itself off elsewhere); and without tokio, where
# the build must stop with the message that says to enable it.
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(x86_64-apple-darwin aarch64-apple-darwin x86_64-unknown-freebsd)
rustup target add "${TARGETS[@]}"

for target in "${TARGETS[@]}"; do
  echo "-- $target: clippy, default features"
  cargo clippy --quiet --all-targets --target "$target" -- -D warnings
  echo "-- $target: clippy, --features tokio-uring"
  cargo clippy --quiet --all-targets --target "$target" --features tokio-uring -- -D warnings
  echo "-- $target: without tokio the build stops with a clear message"
  if out=$(cargo check --quiet --lib --target "$target" --no-default-features 2>&1); then
    echo "expected a compile_error! without the tokio feature on $target" >&2
    exit 1
  fi
  grep -q 'enable the `tokio` feature' <<<"$out" || { echo "$out" >&2; exit 1; }
done
echo "ok: ${TARGETS[*]} lint clean"
