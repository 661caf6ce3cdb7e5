#!/usr/bin/env bash
# The system calls greeter makes, found with `strace -f` while the release binary (glibc)
# and its static musl build serve every kind of request on each backend (keep-alive,
# pipelined, a connection per request, POST bodies, the raw protocol, /metrics, the access
# log, socket activation, shutdown on SIGTERM, --sandbox), fall back from a blocked
# io_uring, and run `greeter probe` and `greeter load`; with the arguments the profile
# filters on (socket families, ioctl requests, prctl options, clone flags).
#   ci/seccomp-calls.sh           print them (JSON)
#   ci/seccomp-calls.sh --check   fail if deploy/seccomp/greeter.json misses a call or an
#                                 argument seen
#   ci/seccomp-calls.sh --write   rewrite deploy/seccomp/greeter.json from them
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
command -v strace >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq strace >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq strace >/dev/null; }
}
cargo build --release --quiet --bin greeter --example without_io_uring
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1
cargo build --release --quiet --bin greeter --target x86_64-unknown-linux-musl
glibc=$PWD/target/release/greeter
musl=$PWD/target/x86_64-unknown-linux-musl/release/greeter
work=$(mktemp -d)
# On any failure, stop what is still traced (strace ends with its child).
trap 'for t in "$work"/*.pid; do [ -e "$t" ] && { kill -KILL "$(cat "$t")" 2>/dev/null || true; }; done; rm -rf "$work"' EXIT
port=18590

wait_port() { for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$1) 2>/dev/null && return; sleep 0.05; done; echo "nothing listens on $1" >&2; exit 1; }

exercise() { # port: every kind of request
  local p=$1 url=http://127.0.0.1:$1
  "$bin" load "$url/" -c 8 -d 300ms >/dev/null
  "$bin" load "$url/" -c 8 -d 300ms --pipeline 16 >/dev/null
  "$bin" load "$url/" -c 8 -d 300ms --close >/dev/null
  "$bin" load "$url/greet" -c 4 -d 300ms --method POST --body name=ci --content-type application/x-www-form-urlencoded --chunked >/dev/null
  "$bin" probe "$url/healthz" >/dev/null
  "$bin" probe "$url/metrics" >/dev/null 2>&1 || true # 404 where --metrics-listen moved it
  # A malformed request: 400, then the half-close and linger of an error answer.
  printf 'BAD\r\n\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; cat >&3; timeout 1 cat <&3" >/dev/null || true
  printf 'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' | timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$p; cat >&3; timeout 1 cat <&3" >/dev/null || true
}

greeter_under() { # pid: the greeter process among its descendants
  local child
  for child in $(pgrep -P "$1"); do
    if [ "$(cat "/proc/$child/comm")" = greeter ]; then echo "$child"; return; fi
    greeter_under "$child" && return
  done
  return 1
}

# serve NAME EXERCISE COMMAND...: runs COMMAND under strace -f (the calls go to
# $work/NAME.trace), waits for the port, runs EXERCISE, then SIGTERMs the greeter and
# waits for strace to end.
serve() {
  local name=$1 exercise=$2; shift 2
  strace -f -qq -o "$work/$name.trace" "$@" >/dev/null 2>"$work/$name.err" &
  local tracer=$!
  echo $tracer >"$work/$name.pid"
  wait_port $port
  $exercise $port
  kill -TERM "$(greeter_under "$tracer")"
  wait $tracer || { echo "$name: greeter did not exit cleanly"; cat "$work/$name.err"; exit 1; }
}

raw() { "$bin" load "tcp://127.0.0.1:$1" -c 8 -d 300ms >/dev/null; }

for bin in "$glibc" "$musl"; do
  libc=$(basename "$(dirname "$(dirname "$bin")")") # release's parent: target, or the musl triple
  serve "$libc-uring" exercise "$bin" --listen 127.0.0.1:$port --backend uring --workers 2 --access-log
  serve "$libc-uring-features" exercise "$bin" --listen 127.0.0.1:$port --backend uring --workers 2 --uring-features ring-fd,no-sqarray,direct,bundle,min-wait=20
  serve "$libc-tokio" exercise "$bin" --listen 127.0.0.1:$port --backend tokio --workers 2 --access-log --metrics-listen 127.0.0.1:$((port + 1))
  serve "$libc-raw" raw "$bin" --listen 127.0.0.1:$port --backend uring --workers 2 --protocol raw
  serve "$libc-sandboxed" exercise "$bin" --listen 127.0.0.1:$port --workers 2 --sandbox
  # io_uring blocked (as Docker's default profile does): the probe, the warning, tokio.
  serve "$libc-fallback" exercise target/release/examples/without_io_uring "$bin" --listen 127.0.0.1:$port --workers 1
done
bin=$glibc
# Socket activation and a notification socket (the shell that sets LISTEN_PID is traced
# too; only what runs after it execs greeter counts).
python3 - "$bin" "$port" "$work" <<'PY'
import os, socket, subprocess, sys
bin, port, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
listener = socket.socket(); listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", port)); listener.listen(64)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); notify.bind(f"{work}/notify")
fd = listener.fileno(); os.set_inheritable(fd, True)
script = f'export LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=web; exec "$0" "$@" 3<&{fd}'
proc = subprocess.Popen(["strace", "-f", "-qq", "-o", f"{work}/activated.trace", "sh", "-c", script, bin, "--workers", "2"],
                        pass_fds=[fd], env={**os.environ, "NOTIFY_SOCKET": f"{work}/notify"}, stderr=subprocess.DEVNULL)
notify.settimeout(10); notify.recv(64)
subprocess.run([bin, "probe", f"http://127.0.0.1:{port}/"], check=True, stdout=subprocess.DEVNULL)
os.kill(int(open(f"/proc/{proc.pid}/task/{proc.pid}/children").read().split()[0]), 15)
proc.wait(10)
PY
# The health check's own calls: `greeter probe`, as a container's HEALTHCHECK runs it.
strace -f -qq -o "$work/probe.trace" "$bin" probe "http://127.0.0.1:1/" >/dev/null 2>&1 || true

# The calls of greeter's processes: from their execve of greeter on, and their threads.
python3 ci/seccomp-profile.py --seen "$work"/*.trace >"$work/seen.json"
case "$mode" in
  "") cat "$work/seen.json" ;;
  --check) python3 ci/seccomp-profile.py --check "$work/seen.json" deploy/seccomp/greeter.json ;;
  --write)
    python3 ci/seccomp-profile.py --write "$work/seen.json" >deploy/seccomp/greeter.json
    python3 ci/seccomp-profile.py --spo deploy/seccomp/greeter.json \
      >deploy/k8s/components/seccomp-operator/seccompprofile.yaml
    echo "wrote deploy/seccomp/greeter.json and its SeccompProfile copy" ;;
  *) echo "usage: $0 [--check|--write]" >&2; exit 2 ;;
esac
