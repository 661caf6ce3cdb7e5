#!/usr/bin/env bash
# Installs the Debian packages named (e.g. `ci/tools.sh haproxy`) that are not installed
# yet: the tests that need a tool call this when it is missing, and CI calls it up front.
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null 2>&1 \
  || { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
# A package may start its own service: greeter's tests run their own instances.
for package in "${missing[@]}"; do
  systemctl disable --now "$package" >/dev/null 2>&1 || true
done
echo "installed: ${missing[*]}"
