#!/usr/bin/env bash
# AWS's http-desync-guardian request vectors (its tests/*.yaml: 159 requests in four tiers)
# against a release build, scored by ci/desync.py. The suite stays out of this repository:
# cargo fetches the published crate (which carries the vectors) into its own cache.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c 'import yaml' 2>/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq python3-yaml >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq python3-yaml >/dev/null; }
}
cargo build --release --quiet --bin greeter
work=$(mktemp -d)
port=18490
mkdir -p "$work/fetch/src"
cat >"$work/fetch/Cargo.toml" <<'TOML'
[package]
name = "fetch-desync-suite"
version = "0.0.0"
edition = "2021"
[dependencies]
http_desync_guardian = "=0.1.3"
TOML
touch "$work/fetch/src/lib.rs"
(cd "$work/fetch" && cargo fetch --quiet)
suite=$(cd "$work/fetch" && cargo metadata --format-version 1 | python3 -c '
import json, os, sys
m = json.load(sys.stdin)
p = next(p for p in m["packages"] if p["name"] == "http_desync_guardian")
print(os.path.join(os.path.dirname(p["manifest_path"]), "tests"))')
target/release/greeter --listen 127.0.0.1:$port --workers 1 --idle-timeout 10s 2>"$work/server.log" &
server=$!
trap 'kill -INT $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
echo "http-desync-guardian 0.1.3 vectors ($suite):"
python3 ci/desync.py $port "$suite"
