#!/usr/bin/env bash
# The io_uring backend's tests under AddressSanitizer: the unit tests (ring buffer
# ownership, buffer ring) and every integration test case on io_uring. Sanitizers are a
# nightly feature; RUSTC_BOOTSTRAP=1 unlocks it on the stable toolchain this machine has
# (no nightly can be fetched here). --target keeps build scripts and proc macros
# uninstrumented.
set -euo pipefail
cd "$(dirname "$0")/.."
target=$(rustc -vV | sed -n 's/^host: //p')
export RUSTC_BOOTSTRAP=1 RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address"
# A small quarantine keeps RSS comparable, for the test that bounds server memory.
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:quarantine_size_mb=4"
run() { cargo test --quiet --target "$target" --target-dir target/asan "$@"; }
run --lib -- backend:: proto:: uring:: load::uring
# An RSS bound measures the allocator, and ASan's quarantine keeps freed memory on purpose:
# the idle-buffer test's bound is checked in the normal runs, not here.
run --test http --test connections --test hardening --test load --test bodies --test metrics -- uring:: --skip idle_connections_hold_no_output_buffer
echo "AddressSanitizer: no errors in the io_uring tests"
