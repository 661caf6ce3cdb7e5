#!/usr/bin/env bash
# The system calls greeter makes, found with `strace -f` while the release binary serves
# every kind of request on each backend (keep-alive, pipelined, a connection per request,
# POST bodies, the raw protocol, /metrics, the access log, socket activation, shutdown on
# SIGTERM), falls back from a blocked io_uring, and runs `greeter probe` and `greeter load`.
#   ci/seccomp-calls.sh           print them, one per line
#   ci/seccomp-calls.sh --check   fail if deploy/seccomp/greeter.json misses one
#   ci/seccomp-calls.sh --write   rewrite deploy/seccomp/greeter.json from them
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
command -v strace >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq strace >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq strace >/dev/null; }
}
cargo build --release --quiet --bin greeter --example without_io_uring
bin=$PWD/target/release/greeter
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
port=18590

traced() { # name, command...: runs it under strace -f, the calls into $work/name.calls
  local name=$1; shift
  strace -f -qq -o "$work/$name.trace" "$@" 2>>"$work/$name.err" &
  echo $!
}

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "nothing listens on $1" >&2; exit 1; }

exercise() { # port: every kind of request, then SIGTERM
  local p=$1 url=http://127.0.0.1:$1
  "$bin" load "$url/" -c 8 -d 300ms >/dev/null
  "$bin" load "$url/" -c 8 -d 300ms --pipeline 16 >/dev/null
  "$bin" load "$url/" -c 8 -d 300ms --close >/dev/null
  "$bin" load "$url/greet" -c 4 -d 300ms --method POST --body name=ci --content-type application/x-www-form-urlencoded --chunked >/dev/null
  "$bin" probe "$url/healthz" >/dev/null
  "$bin" probe "$url/metrics" >/dev/null
  printf 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; cat >&3; timeout 1 cat <&3" >/dev/null || true
}

serve() { # name, backend, extra flags...
  local name=$1 backend=$2; shift 2
  local pid
  pid=$(traced "$name" "$bin" --listen 127.0.0.1:$port --backend "$backend" --workers 2 "$@")
  wait_port $port
  exercise $port
  kill -TERM "$(pgrep -P "$pid")"
  wait "$pid" || true
}

serve uring uring --access-log >/dev/null
serve uring-features uring --uring-features ring-fd,no-sqarray,direct,min-wait=20
serve tokio tokio --access-log --metrics-listen 127.0.0.1:$((port + 1)) >/dev/null
serve raw uring --protocol raw
# io_uring blocked (as Docker's default profile does): the probe, the warning, tokio.
pid=$(traced fallback target/release/examples/without_io_uring "$bin" --listen 127.0.0.1:$port --workers 1)
wait_port $port; exercise $port
kill -TERM "$(pgrep -P "$(pgrep -P "$pid")")" # strace > without_io_uring > greeter
wait "$pid" || true
# Socket activation and a notification socket.
python3 - "$bin" "$port" "$work" <<'PY'
import os, socket, subprocess, sys, time
bin, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen(64)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); notify.bind(f"{work}/notify")
fd = listener.fileno(); os.set_inheritable(fd, True)
script = f'export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web; exec strace -f -qq -o {work}/activated.trace "$0" "$@" 3<&{fd}'
proc = subprocess.Popen(["sh", "-c", script, bin, "--workers", "2"], pass_fds=[fd],
                        env={**os.environ, "NOTIFY_SOCKET": f"{work}/notify"}, stderr=subprocess.DEVNULL)
notify.settimeout(10); notify.recv(64)
subprocess.run([bin, "probe", f"http://127.0.0.1:{port}/"], check=True, stdout=subprocess.DEVNULL)
proc.terminate(); proc.wait(10)
PY

calls=$(cat "$work"/*.trace | sed -nE 's/^[0-9]+ +([a-z0-9_]+)\(.*/\1/p; s/^[0-9]+ +<\.\.\. ([a-z0-9_]+) resumed>.*/\1/p' | sort -u)
# strace's own fork-and-exec of the binary shows as execve; a container runtime execs it too.
calls=$(printf '%s\n' $calls execve | sort -u)
case "$mode" in
  "") printf '%s\n' $calls ;;
  --check)
    missing=$(comm -23 <(printf '%s\n' $calls) <(python3 -c 'import json; [print(n) for r in json.load(open("deploy/seccomp/greeter.json"))["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]]' | sort -u))
    if [ -n "$missing" ]; then echo "greeter makes calls deploy/seccomp/greeter.json does not allow:"; echo "$missing"; exit 1; fi
    echo "seccomp: deploy/seccomp/greeter.json allows all $(wc -w <<<"$calls") calls greeter was seen making" ;;
  --write) python3 ci/seccomp-profile.py $calls >deploy/seccomp/greeter.json; echo "wrote deploy/seccomp/greeter.json ($(wc -w <<<"$calls") calls seen)" ;;
  *) echo "usage: $0 [--check|--write]" >&2; exit 2 ;;
esac
