#!/usr/bin/env python3
"""Writes greeter's seccomp profile (Docker and OCI format) allowing exactly the system
calls named on the command line (ci/seccomp-calls.sh finds them), io_uring's three and a
few on rare paths (RARE), and what a container runtime calls before greeter runs (RUNTIME);
everything else fails with EPERM. Names seen on x86_64 that arm64 lacks get their arm64
equivalents, so the profile serves both (arm64 itself is not traced here)."""
import json
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

seen = sorted(set(sys.argv[1:]))
extra = {e for name in seen for e in ARM64_EQUIVALENTS.get(name, [])}
names = sorted(set(seen) | extra | set(IO_URING) | set(RARE) | set(RUNTIME))
profile = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"],
    "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
}
json.dump(profile, sys.stdout, indent=2)
print()
