#!/usr/bin/env python3
"""greeter's seccomp profile (Docker and OCI format), from what strace saw it do.

  seccomp-profile.py --seen TRACE...        the calls greeter's processes made, and the
                                            arguments the profile filters on (JSON)
  seccomp-profile.py --write SEEN           the profile allowing exactly that
  seccomp-profile.py --check SEEN PROFILE   fail if PROFILE misses a call or an argument
  seccomp-profile.py --spo PROFILE          PROFILE as a Security Profiles Operator
                                            SeccompProfile (YAML), for Kubernetes

The profile allows the calls seen, io_uring's three, a few on rare paths (RARE), and what
a container runtime calls before greeter runs (RUNTIME). Four calls are allowed only with
the arguments seen: `socket` for the address families greeter uses, `ioctl` for its
requests, `prctl` for its options, `clone` without a namespace flag. `clone3` is answered
with ENOSYS, as Docker's default profile does: its flags sit in memory seccomp cannot
read, and ENOSYS makes the C library fall back to `clone`, whose flags it can. Anything
else fails with EPERM (see docs/deploy.md for why EPERM)."""
import json
import re
import sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]
# Calls on paths a trace rarely sees: std's locks yield under contention, a signal
# interrupting a call restarts it, a panic aborts through a signal to itself, a large
# buffer grows in place, a sleep or a clock read where the vDSO is not mapped.
RARE = [
    "sched_yield",
    "restart_syscall",
    "tgkill",
    "mremap",
    "nanosleep",
    "clock_nanosleep",
    "clock_gettime",
]
# x86_64 calls arm64 does not have, and what glibc and Rust's std use there instead.
ARM64_EQUIVALENTS = {
    "poll": ["ppoll"],
    "epoll_wait": ["epoll_pwait"],
    "epoll_create": ["epoll_create1"],
    "open": ["openat"],
    "stat": ["newfstatat"],
    "lstat": ["newfstatat"],
    "readlink": ["readlinkat"],
    "pipe": ["pipe2"],
    "dup2": ["dup3"],
    "arch_prctl": [],
    "access": ["faccessat"],
}
# What the container runtime itself calls between installing the filter and exec'ing
# greeter (runc's init, with noNewPrivileges: closing inherited descriptors after checking
# /proc/self/fd is procfs, then execve).
RUNTIME = ["fstatfs", "statfs", "close_range", "fcntl", "getdents64", "openat", "close", "execve"]

# The values of the symbols strace prints for the arguments the profile filters on.
SOCKET_FAMILIES = {"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16}
IOCTL_REQUESTS = {"TCGETS": 0x5401, "TIOCGWINSZ": 0x5413, "FIONBIO": 0x5421, "FIOCLEX": 0x5451}
PRCTL_OPTIONS = {
    "PR_SET_PDEATHSIG": 1,
    "PR_SET_SECCOMP": 22,
    "PR_SET_NAME": 15,
    "PR_GET_NAME": 16,
    "PR_SET_NO_NEW_PRIVS": 38,
    "PR_GET_NO_NEW_PRIVS": 39,
    "PR_SET_VMA": 0x53564D41,
}
# Address families greeter uses by design, whether a trace saw them or not: IPv4, IPv6
# (a dual-stack `[::]` listener), and Unix datagrams (systemd's notification socket).
FAMILIES = ["AF_INET", "AF_INET6", "AF_UNIX"]
# clone flags that make a new namespace (Docker's default profile refuses the same).
NAMESPACE_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET
FILTERED = {"socket", "ioctl", "prctl", "clone", "clone3"}


def seen(paths):
    """The calls of greeter's processes (from their execve of greeter on, and their
    threads'), with the filtered arguments."""
    calls, args = set(), {"socket": set(), "ioctl": set(), "prctl": set(), "clone": set()}
    for path in paths:
        ours = set()
        for line in open(path):
            m = re.match(r"(\d+) +(?:<\.\.\. )?([a-z0-9_]+)(\(| resumed>)(.*)", line)
            if not m:
                continue
            pid, name, opening, rest = m.groups()
            if name == "execve" and re.match(r'"[^"]*/greeter"', rest):
                ours.add(pid)
            if pid not in ours:
                continue
            calls.add(name)
            if opening == "(":  # a resumed call's arguments were on its first line
                argument(name, rest, args)
            child = re.search(r"= (\d+)$", rest.strip())
            if name in ("clone", "clone3", "fork", "vfork") and child:
                ours.add(child.group(1))
    return {"calls": sorted(calls), "args": {k: sorted(v) for k, v in args.items()}}


def argument(name, rest, args):
    """Records the filtered argument of one call, by its symbol."""
    first = rest.split(",")[0].strip()
    if name == "socket":
        args["socket"].add(first)
    elif name == "ioctl" and "," in rest:
        args["ioctl"].add(rest.split(",")[1].strip())
    elif name == "prctl":
        args["prctl"].add(first)
    elif name in ("clone", "clone3"):
        flags = re.search(r"flags=([A-Z_|0-9x]+)", rest)
        if flags:
            args["clone"].update(flags.group(1).split("|"))


def number(table, symbol):
    if symbol not in table:
        sys.exit(f"seccomp-profile.py: greeter now uses {symbol}: add its value to the table")
    return table[symbol]


def rule(names, action="SCMP_ACT_ALLOW", **extra):
    return {"names": names, "action": action, **extra}


def on(index, value, op="SCMP_CMP_EQ", value_two=0):
    return {"index": index, "value": value, "valueTwo": value_two, "op": op}


def profile(seen):
    names = set(seen["calls"]) - FILTERED
    names |= {e for n in seen["calls"] for e in ARM64_EQUIVALENTS.get(n, [])}
    names |= set(IO_URING) | set(RARE) | set(RUNTIME)
    rules = [rule(sorted(names))]
    # clone without a namespace flag; clone3 is refused so the C library uses clone.
    rules.append(rule(["clone"], args=[on(0, NAMESPACE_FLAGS, "SCMP_CMP_MASKED_EQ", 0)]))
    rules.append(rule(["clone3"], "SCMP_ACT_ERRNO", errnoRet=38))
    for family in sorted(set(seen["args"]["socket"]) | set(FAMILIES)):
        rules.append(rule(["socket"], args=[on(0, number(SOCKET_FAMILIES, family))]))
    for request in seen["args"]["ioctl"]:
        rules.append(rule(["ioctl"], args=[on(1, number(IOCTL_REQUESTS, request))]))
    for option in seen["args"]["prctl"]:
        rules.append(rule(["prctl"], args=[on(0, number(PRCTL_OPTIONS, option))]))
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
        "syscalls": rules,
    }


def check(seen, prof):
    allowed = {n for r in prof["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    missing = sorted(set(seen["calls"]) - allowed - {"clone3"})
    want = profile(seen)["syscalls"]
    missing += [json.dumps(r) for r in want if r.get("args") and r not in prof["syscalls"]]
    if missing:
        print("greeter makes calls deploy/seccomp/greeter.json does not allow:")
        print("\n".join(missing))
        sys.exit(1)
    flags = set(seen["args"]["clone"]) & {"CLONE_NEWUSER", "CLONE_NEWNS", "CLONE_NEWNET", "CLONE_NEWPID"}
    if flags:
        sys.exit(f"greeter itself makes namespaces ({flags}): the clone rule would refuse it")
    print(f"seccomp: the profile allows all {len(seen['calls'])} calls greeter was seen making, "
          f"with the arguments seen: socket {seen['args']['socket']}, ioctl {seen['args']['ioctl']}, "
          f"prctl {seen['args']['prctl']}")


SPO_HEADER = """\
# Generated from deploy/seccomp/greeter.json by `ci/seccomp-profile.py --spo` (ci/k8s.sh
# fails when they differ): the same profile, installed on every node by the Security
# Profiles Operator as operator/greeter.json (SPO >= 0.9, where profiles are
# cluster-scoped). SPO has no defaultErrnoRet: the runtime's default for SCMP_ACT_ERRNO
# is EPERM, which is what the profile says.
"""


def spo(prof):
    """The profile as an SPO SeccompProfile: the OCI fields keep their names."""
    if prof.get("defaultErrnoRet", 1) != 1:
        sys.exit("seccomp-profile.py: SPO cannot express a default errno other than EPERM")
    spec = {k: prof[k] for k in ("defaultAction", "architectures", "syscalls")}
    doc = {
        "apiVersion": "security-profiles-operator.x-k8s.io/v1beta1",
        "kind": "SeccompProfile",
        "metadata": {"name": "greeter", "labels": {"app.kubernetes.io/name": "greeter"}},
        "spec": spec,
    }
    return SPO_HEADER + "".join(yaml_lines(doc, 0))


def yaml_lines(value, indent):
    """Block-style YAML; a short list of scalars in flow style."""
    pad = " " * indent
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (dict, list)) and not short(item):
                yield f"{pad}{key}:\n"
                yield from yaml_lines(item, indent + 2)
            elif isinstance(item, list):
                yield f"{pad}{key}: [{', '.join(map(scalar, item))}]\n"
            else:
                yield f"{pad}{key}: {scalar(item)}\n"
    else:
        for item in value:
            lines = list(yaml_lines(item, indent + 2)) if isinstance(item, dict) else [scalar(item) + "\n"]
            yield f"{pad}- {lines[0].lstrip()}"
            yield from lines[1:]


def short(item):
    return isinstance(item, list) and len(item) <= 2 and all(not isinstance(i, (dict, list)) for i in item)


def scalar(item):
    """A string plain where YAML reads it back as the same string, quoted otherwise."""
    if isinstance(item, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", item):
        return item
    return json.dumps(item)


if __name__ == "__main__":
    mode, rest = sys.argv[1], sys.argv[2:]
    if mode == "--seen":
        json.dump(seen(rest), sys.stdout, indent=2)
    elif mode == "--write":
        json.dump(profile(json.load(open(rest[0]))), sys.stdout, indent=2)
        print()
    elif mode == "--spo":
        sys.stdout.write(spo(json.load(open(rest[0]))))
    elif mode == "--check":
        check(json.load(open(rest[0])), json.load(open(rest[1])))
    else:
        sys.exit(__doc__)
