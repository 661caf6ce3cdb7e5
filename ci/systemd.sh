#!/usr/bin/env bash
# The systemd units in deploy/systemd/ pass `systemd-analyze verify` with nothing to say
# (it exits 0 even on unknown keys, so any output fails), and the service's exposure score
# is printed. Installs Debian's systemd if its tools are missing (the tests use
# systemd-socket-activate too).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v systemd-analyze >/dev/null || ! command -v systemd-socket-activate >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq systemd >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq systemd >/dev/null; }
fi
cargo build --release --quiet
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp deploy/systemd/*.socket deploy/systemd/*.service "$work/"
# verify checks that ExecStart= exists: point it at the binary just built.
sed -i "s#/usr/local/bin/greeter#$PWD/target/release/greeter#" "$work/greeter.service"
out=$(cd "$work" && systemd-analyze verify greeter.socket greeter-metrics.socket greeter.service 2>&1) || { echo "$out"; exit 1; }
if [ -n "$out" ]; then echo "systemd-analyze verify:"; echo "$out"; exit 1; fi
echo "systemd-analyze verify: the units are clean"
(cd "$work" && systemd-analyze security --offline=yes greeter.service 2>&1 | tail -1)
# The logrotate snippet parses (a dry run: nothing is rotated or signalled).
if ! command -v logrotate >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq logrotate >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq logrotate >/dev/null; }
fi
out=$(logrotate --debug --state "$work/logrotate.state" deploy/logrotate/greeter 2>&1) || { echo "$out"; exit 1; }
if grep -qi '^error' <<<"$out"; then echo "$out"; exit 1; fi
echo "logrotate --debug: deploy/logrotate/greeter parses"
