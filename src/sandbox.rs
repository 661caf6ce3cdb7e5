//! `--sandbox`: greeter's own seccomp filter, built once at start (with seccompiler, the
//! library Firecracker confines its VMMs with) and installed on every thread the server
//! runs once that thread is set up: a worker after its ring is enabled and its listener
//! registered, the access log's writer, the metrics sampler, and (in the binary) the main
//! and signal threads. From then on a thread may make only the calls serving needs. It
//! may not set up an io_uring (no new ring, which would be unrestricted), register with
//! one, execute a program, make a thread or process, or open a network socket (a Unix
//! datagram socket stays allowed: systemd's notification socket).
//!
//! Filters are per thread, not process-wide (TSYNC): a library user's own threads (a test
//! harness's clients) are left alone; in the binary every thread is confined, the ones it
//! starts after inheriting its main thread's filter.

use std::collections::BTreeMap;
use std::io;
use std::sync::Arc;

use crate::config::Sandbox;
use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// A compiled filter, ready to install on a thread.
#[derive(Debug)]
pub(crate) struct Filter(BpfProgram);

impl Filter {
    /// Installs the filter on the calling thread (and the threads it starts later).
    pub(crate) fn confine(&self) -> io::Result<()> {
        seccompiler::apply_filter(&self.0).map_err(|e| io::Error::other(format!("seccomp: {e}")))
    }
}

/// The filter `mode` asks for, or `None` for `Off`; an error where it cannot be applied.
pub(crate) fn filter(mode: Sandbox) -> io::Result<Option<Arc<Filter>>> {
    let mismatch = match mode {
        Sandbox::Off => return Ok(None),
        Sandbox::Enforce => SeccompAction::Errno(libc::EPERM as u32),
        Sandbox::Log => SeccompAction::Log,
    };
    let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(|_| unsupported())?;
    let filter = SeccompFilter::new(rules()?, mismatch, SeccompAction::Allow, arch)
        .map_err(|e| io::Error::other(format!("--sandbox: {e}")))?;
    let program =
        BpfProgram::try_from(filter).map_err(|e| io::Error::other(format!("--sandbox: {e}")))?;
    Ok(Some(Arc::new(Filter(program))))
}

fn unsupported() -> io::Error {
    io::Error::new(
        io::ErrorKind::Unsupported,
        format!(
            "--sandbox has no filter for {} (x86_64 and aarch64 only); leave it off",
            std::env::consts::ARCH
        ),
    )
}

/// Every call allowed, some only with certain arguments.
fn rules() -> io::Result<BTreeMap<i64, Vec<SeccompRule>>> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        SERVING.iter().map(|&call| (call, Vec::new())).collect();
    let unix_socket = SeccompCondition::new(
        0,
        SeccompCmpArgLen::Dword,
        SeccompCmpOp::Eq,
        libc::AF_UNIX as u64,
    )
    .and_then(|c| SeccompRule::new(vec![c]))
    .map_err(|e| io::Error::other(format!("--sandbox: {e}")))?;
    rules.insert(libc::SYS_socket, vec![unix_socket]);
    Ok(rules)
}

/// What the server's threads call once serving, on both architectures: I/O on the
/// sockets they have (and the io_uring they set up), memory, locks, time, signals, the
/// metrics sampler's reads of `/proc/self` and limits, logging, thread exit. Not here:
/// `io_uring_setup`, `io_uring_register`, `execve`, `clone`, `clone3`, `fork`, `socket`
/// (but for Unix datagrams, above), `connect`, `bind`, `listen`, `ptrace`, `mount`,
/// `unshare`, `setns`, `kill` and all the rest.
const SERVING: &[i64] = &[
    libc::SYS_read,
    libc::SYS_write,
    libc::SYS_readv,
    libc::SYS_writev,
    libc::SYS_close,
    libc::SYS_openat,
    libc::SYS_newfstatat,
    libc::SYS_fstat,
    libc::SYS_statx,
    libc::SYS_lseek,
    libc::SYS_getdents64,
    libc::SYS_fcntl,
    libc::SYS_mmap,
    libc::SYS_munmap,
    libc::SYS_mremap,
    libc::SYS_mprotect,
    libc::SYS_madvise,
    libc::SYS_brk,
    libc::SYS_futex,
    libc::SYS_sched_yield,
    libc::SYS_nanosleep,
    libc::SYS_clock_nanosleep,
    libc::SYS_clock_gettime,
    libc::SYS_gettid,
    libc::SYS_getpid,
    libc::SYS_tgkill,
    libc::SYS_rt_sigprocmask,
    libc::SYS_rt_sigreturn,
    libc::SYS_sigaltstack,
    libc::SYS_restart_syscall,
    libc::SYS_exit,
    libc::SYS_exit_group,
    libc::SYS_epoll_pwait,
    libc::SYS_epoll_ctl,
    libc::SYS_io_uring_enter,
    libc::SYS_accept4,
    libc::SYS_recvfrom,
    libc::SYS_sendto,
    libc::SYS_recvmsg,
    libc::SYS_sendmsg,
    libc::SYS_shutdown,
    libc::SYS_getpeername,
    libc::SYS_getsockname,
    libc::SYS_getsockopt,
    libc::SYS_setsockopt,
    libc::SYS_prlimit64,
    libc::SYS_getrandom,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_epoll_wait,
    #[cfg(target_arch = "x86_64")]
    libc::SYS_poll,
    libc::SYS_ppoll,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sandbox;

    #[test]
    fn off_builds_nothing_and_the_others_build() {
        assert!(filter(Sandbox::Off).unwrap().is_none());
        assert!(filter(Sandbox::Enforce).unwrap().is_some());
        assert!(filter(Sandbox::Log).unwrap().is_some());
    }

    #[test]
    fn a_confined_thread_cannot_set_up_io_uring_execute_or_open_a_network_socket() {
        let filter = filter(Sandbox::Enforce).unwrap().unwrap();
        std::thread::spawn(move || {
            filter.confine().unwrap();
            let refused = |r: io::Result<_>| r.err().and_then(|e| e.raw_os_error());
            let ring = io_uring::IoUring::new(8).map(drop);
            assert_eq!(refused(ring), Some(libc::EPERM), "io_uring_setup");
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").map(drop);
            assert_eq!(refused(tcp), Some(libc::EPERM), "a network socket");
            let run = std::process::Command::new("/bin/true").status().map(drop);
            assert!(run.is_err(), "execve (or the clone before it)");
            let spawn = std::thread::Builder::new().spawn(|| ()).map(drop);
            assert_eq!(refused(spawn), Some(libc::EPERM), "a new thread");
            let unix = std::os::unix::net::UnixDatagram::unbound().map(drop);
            assert!(unix.is_ok(), "systemd's notification socket stays possible");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn log_mode_allows_what_enforce_refuses() {
        let filter = filter(Sandbox::Log).unwrap().unwrap();
        std::thread::spawn(move || {
            filter.confine().unwrap();
            // Allowed, and logged by the kernel (audit type=1326: socket, bind, listen).
            let tcp = std::net::TcpListener::bind("127.0.0.1:0");
            assert!(tcp.is_ok(), "a network socket under --sandbox log: {tcp:?}");
        })
        .join()
        .unwrap();
    }
}
