#!/usr/bin/env bash
# What the image holds, run by runc (Debian's; installed here if missing) in an OCI
# bundle: uid 65532, a read-only root, every capability dropped, no new privileges, the
# host's network, and deploy/seccomp/greeter.json as linux.seccomp. Twice: the release
# binary with the glibc it links (as distroless/cc holds it), and a static musl build
# alone (as a `FROM scratch` image would). Each must serve on io_uring, answer a pipelined
# batch, refuse a new user namespace to a process inside (ci/clone-probe.c: clone3 gets
# ENOSYS, clone and unshare EPERM), and exit 0 on SIGTERM; with the io_uring calls
# removed from the profile it must fall back to tokio with its warning and still serve.
# (crun refuses this machine's hybrid cgroups; runc runs once the bundle drops the cgroup
# and network namespaces, the cgroup mount and linux.resources.)
set -euo pipefail
cd "$(dirname "$0")/.."
command -v runc >/dev/null || {
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq runc >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get install -y -qq runc >/dev/null; }
}
cargo build --release --quiet --bin greeter
rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1
cargo build --release --quiet --bin greeter --target x86_64-unknown-linux-musl
work=$(mktemp -d)
id=greeter-ci-$$
trap 'runc delete --force "$id" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
gcc -static -O2 -o "$work/clone-probe" ci/clone-probe.c
rootfs=$work/bundle/rootfs
port=18620

fill() { # binary: a fresh rootfs holding it (and the libraries it links, if any)
  rm -rf "$rootfs"
  mkdir -p "$rootfs/usr/local/bin" "$rootfs/proc" "$rootfs/dev" "$rootfs/tmp" "$rootfs/etc"
  cp "$1" "$work/clone-probe" "$rootfs/usr/local/bin/"
  for lib in $(ldd "$1" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    mkdir -p "$rootfs$(dirname "$lib")" && cp -L "$lib" "$rootfs$lib"
  done
  echo 'nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin' >"$rootfs/etc/passwd"
}
(mkdir -p "$work/bundle" && cd "$work/bundle" && runc spec)

configure() { # profile (JSON file): writes the bundle's config.json
  python3 - "$work/bundle/config.json" "$1" "$port" <<'PY'
import json, sys
path, profile, port = sys.argv[1], sys.argv[2], sys.argv[3]
c = json.load(open(path))
p = c["process"]
p["terminal"] = False
p["args"] = ["/usr/local/bin/greeter", "--listen", f"127.0.0.1:{port}", "--workers", "2", "--sandbox"]
p["env"] = ["PATH=/usr/local/bin", "NO_COLOR=1"]
p["user"] = {"uid": 65532, "gid": 65532}
p["noNewPrivileges"] = True
p["capabilities"] = {k: [] for k in ("bounding", "effective", "inheritable", "permitted", "ambient")}
c["root"]["readonly"] = True
linux = c["linux"]
linux["namespaces"] = [n for n in linux["namespaces"] if n["type"] not in ("network", "cgroup")]
linux.pop("resources", None)
c["mounts"] = [m for m in c["mounts"] if m.get("type") != "cgroup"]
linux["seccomp"] = json.load(open(profile))
json.dump(c, open(path, "w"), indent=2)
PY
}

pipelined() { # 16 requests in one write; all 16 answers must come back
  python3 - "$port" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: ci\r\n\r\n" * 16)
got = b""
while got.count(b"Hello, world!") < 16:
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
assert got.count(b"HTTP/1.1 200 OK\r\n") == 16, got
print("a pipelined batch of 16: 16 answers")
PY
}

probe_namespaces() { # from inside the running container, under the same profile
  runc exec "$id" /usr/local/bin/clone-probe | sed 's/^/  inside: /' ||
    { echo "a process inside made a user namespace, or was not refused as it should be"; exit 1; }
}

run() { # profile, what the start-up line must say
  configure "$1"
  # Emptied here, not by the background job's redirection: that may run after the wait
  # below has already found the previous run's start-up line (CI failed on exactly that).
  : >"$work/out"
  : >"$work/err"
  runc run --bundle "$work/bundle" "$id" >"$work/out" 2>"$work/err" &
  local pid=$!
  for _ in $(seq 100); do grep -q "greeter serving" "$work/err" 2>/dev/null && break; sleep 0.05; done
  grep "greeter serving" "$work/err" | grep -q "$2" || { echo "expected '$2' at start-up:"; cat "$work/err"; exit 1; }
  pipelined
  probe_namespaces
  runc kill "$id" TERM
  local code=0
  wait "$pid" || code=$?
  [ "$code" = 0 ] || { echo "greeter exited with $code on SIGTERM"; cat "$work/err"; exit 1; }
  grep -m1 "greeter serving" "$work/err" | sed 's/.*greeter serving/  greeter serving/'
  runc delete --force "$id" >/dev/null 2>&1 || true
}

python3 -c '
import json, sys
p = json.load(open("deploy/seccomp/greeter.json"))
for rule in p["syscalls"]:
    rule["names"] = [n for n in rule["names"] if not n.startswith("io_uring_")]
json.dump(p, open(sys.argv[1], "w"))' "$work/no-uring.json"
echo "runc $(runc --version | head -1 | awk '{print $3}'), deploy/seccomp/greeter.json:"
for build in target/release/greeter target/x86_64-unknown-linux-musl/release/greeter; do
  fill "$build"
  echo "$build:"
  run deploy/seccomp/greeter.json "on io_uring"
  echo "the same profile without io_uring:"
  run "$work/no-uring.json" "on tokio"
  grep -q "serving on the tokio backend instead" "$work/err" || { echo "no fallback warning"; cat "$work/err"; exit 1; }
done
echo "container: glibc and musl builds serve on io_uring under the shipped profile, on tokio (with the warning) without it, and no process inside can make a user namespace"
