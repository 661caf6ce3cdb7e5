#!/usr/bin/env bash
# The .deb: built with cargo-deb (installed if missing) from the release binary, the man
# page and completions `greeter generate` writes, the systemd units (ExecStart pointed at
# /usr/bin/greeter) and the logrotate snippet. Then, on this Debian machine: dpkg -i, the
# installed units pass `systemd-analyze verify`, /usr/bin/greeter names this commit and
# serves, the man page and bash completion load, and dpkg -r / dpkg -P leave nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked --quiet
ci/tools.sh systemd logrotate
fail() { echo "deb: $*" >&2; exit 1; }

cargo build --release --quiet
assets=target/deb
rm -rf "$assets" && mkdir -p "$assets"
bin=target/release/greeter
"$bin" generate man | gzip -9n > "$assets/greeter.1.gz"
"$bin" generate completions bash > "$assets/greeter.bash"
"$bin" generate completions zsh > "$assets/_greeter"
"$bin" generate completions fish > "$assets/greeter.fish"
cp deploy/systemd/greeter.socket deploy/systemd/greeter-metrics.socket "$assets/"
sed 's#/usr/local/bin/greeter#/usr/bin/greeter#' deploy/systemd/greeter.service > "$assets/greeter.service"
grep -q '^ExecStart=/usr/bin/greeter ' "$assets/greeter.service" || fail "ExecStart not rewritten"
deb=$(cargo deb --no-build --no-strip --output target/debian/ 2>&1 | tail -1)
[ -f "$deb" ] || fail "cargo deb wrote no package: $deb"
echo "deb: built $deb ($(du -k "$deb" | cut -f1) KiB)"

if dpkg-query -W greeter >/dev/null 2>&1; then dpkg -P greeter >/dev/null; fi
files=$(dpkg-deb --contents "$deb" | awk '{print $6}' | sed 's#^\./#/#' | grep -v '/$')
for want in /usr/bin/greeter /lib/systemd/system/greeter.service /lib/systemd/system/greeter.socket \
    /lib/systemd/system/greeter-metrics.socket /usr/share/man/man1/greeter.1.gz \
    /usr/share/bash-completion/completions/greeter /usr/share/zsh/vendor-completions/_greeter \
    /usr/share/fish/vendor_completions.d/greeter.fish /etc/logrotate.d/greeter; do
  grep -qx "$want" <<<"$files" || fail "the package lacks $want"
done

dpkg -i "$deb" >/dev/null
trap 'dpkg -P greeter >/dev/null 2>&1 || true' EXIT
out=$(systemd-analyze verify /lib/systemd/system/greeter.socket /lib/systemd/system/greeter-metrics.socket \
  /lib/systemd/system/greeter.service 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
echo "deb: installed; systemd-analyze verify: the installed units are clean"

commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
version=$(/usr/bin/greeter --version)
[ "$version" = "greeter $(cargo pkgid | sed 's/.*[#@]//') (commit $commit)" ] || fail "--version says: $version"
echo "deb: $version"

log=$(mktemp)
/usr/bin/greeter --listen 127.0.0.1:0 --workers 1 2>"$log" &
pid=$!
for _ in $(seq 100); do grep -q 'greeter serving' "$log" && break; sleep 0.1; done
port=$(grep -o 'http://127.0.0.1:[0-9]*' "$log" | head -1 | sed 's/.*://')
answer=$(curl -sS --max-time 5 "http://127.0.0.1:$port/")
kill -TERM "$pid"; wait "$pid" || fail "greeter exited with $?"
[ "$answer" = "Hello, world!" ] || fail "/usr/bin/greeter answered: $answer"
rm -f "$log"
echo "deb: /usr/bin/greeter served: $answer"

zcat /usr/share/man/man1/greeter.1.gz | grep -q -- 'proxy\\-protocol' || fail "the man page lacks --proxy-protocol"
bash -c 'source /usr/share/bash-completion/completions/greeter && complete -p greeter' >/dev/null \
  || fail "the bash completion does not load"
logrotate --debug --state /dev/null /etc/logrotate.d/greeter 2>&1 | grep -qi '^error' && fail "logrotate rejects its snippet"
echo "deb: the man page, bash completion and logrotate snippet load"

dpkg -r greeter >/dev/null
[ ! -e /usr/bin/greeter ] && [ ! -e /lib/systemd/system/greeter.service ] || fail "dpkg -r left files"
[ -e /etc/logrotate.d/greeter ] || fail "dpkg -r removed a conffile (only purge should)"
dpkg -P greeter >/dev/null
trap - EXIT
for f in $files; do [ ! -e "$f" ] || fail "dpkg -P left $f"; done
! dpkg-query -W greeter >/dev/null 2>&1 || fail "dpkg still knows greeter"
echo "deb: removed and purged: nothing left"
