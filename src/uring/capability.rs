//! Whether io_uring can run here (what the kernel is capable of): ring setup, the
//! operations used, the kernel version.
//! Sorts failures into "unavailable" (fall back) and real errors (report).

use std::fmt;
use std::io;

use io_uring::{IoUring, Probe, opcode};

/// Operations the driver submits, by name for the log line.
const NEEDED: [(u8, &str); 9] = [
    (opcode::AcceptMulti::CODE, "ACCEPT"),
    (opcode::RecvMulti::CODE, "RECV"),
    (opcode::Send::CODE, "SEND"),
    (opcode::Connect::CODE, "CONNECT"),
    (opcode::Timeout::CODE, "TIMEOUT"),
    (opcode::Read::CODE, "READ"),
    (opcode::AsyncCancel::CODE, "ASYNC_CANCEL"),
    (opcode::Close::CODE, "CLOSE"),
    (opcode::Shutdown::CODE, "SHUTDOWN"),
];

/// io_uring cannot be used here, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// `io_uring_setup` returned EPERM; the sysctl's value, when readable.
    Blocked {
        sysctl: Option<String>,
    },
    /// `io_uring_setup` returned ENOSYS.
    NotImplemented,
    MissingOpcode(&'static str),
    OldKernel(String),
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::Blocked { sysctl: Some(v) } if v != "0" => {
                write!(f, "io_uring_setup failed with EPERM: kernel.io_uring_disabled = {v}")?;
                f.write_str(if v == "1" { " (only members of kernel.io_uring_group may use it)" } else { " (disabled for every process)" })
            }
            Unavailable::Blocked { sysctl } => write!(
                f,
                "io_uring_setup failed with EPERM although kernel.io_uring_disabled = {}: a seccomp filter blocks it (Docker's default profile does)",
                sysctl.as_deref().unwrap_or("unknown")
            ),
            Unavailable::NotImplemented => f.write_str("io_uring_setup failed with ENOSYS: this kernel or sandbox (gVisor, for one) has no io_uring"),
            Unavailable::MissingOpcode(name) => write!(f, "the kernel lacks the io_uring operation {name}"),
            Unavailable::OldKernel(release) => write!(f, "kernel {release} predates 6.0, which multishot receive needs"),
        }
    }
}

impl Unavailable {
    /// What the host's administrator can do about it (the caller adds how to do without).
    pub(crate) fn hint(&self) -> &'static str {
        match self {
            Unavailable::Blocked { .. } => {
                "allow io_uring: `sysctl kernel.io_uring_disabled=0`, or in Docker `--security-opt seccomp=unconfined` (or a profile that allows io_uring_setup, io_uring_enter, io_uring_register)"
            }
            _ => "upgrade to Linux 6.0 or later with io_uring enabled",
        }
    }
}

#[derive(Debug)]
pub(crate) enum CheckError {
    Unavailable(Unavailable),
    /// A real failure (ENOMEM, EMFILE, ...): reported, never a reason to fall back.
    Failed(io::Error),
}

/// Sorts an `io_uring_setup` error.
pub(crate) fn classify(err: io::Error, sysctl: Option<String>) -> CheckError {
    match err.raw_os_error() {
        Some(libc::EPERM | libc::EACCES) => {
            CheckError::Unavailable(Unavailable::Blocked { sysctl })
        }
        Some(libc::ENOSYS) => CheckError::Unavailable(Unavailable::NotImplemented),
        _ => CheckError::Failed(err),
    }
}

/// Checks that this process can set up a ring with every operation the driver submits.
///
/// Runs on a short-lived thread: tearing a ring down queues kernel task work on the thread
/// that created it, which interrupts that thread's next blocking socket call that has a
/// timeout (it returns EINTR). The caller's thread should not pay for a probe.
pub(crate) fn check() -> Result<(), CheckError> {
    std::thread::spawn(probe_here).join().unwrap_or_else(|_| {
        Err(CheckError::Failed(io::Error::other(
            "the io_uring probe panicked",
        )))
    })
}

fn probe_here() -> Result<(), CheckError> {
    if let Some(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .filter(|r| !at_least_6_0(r))
    {
        return Err(CheckError::Unavailable(Unavailable::OldKernel(
            release.trim().to_owned(),
        )));
    }
    let ring = IoUring::new(8).map_err(|e| classify(e, io_uring_disabled()))?;
    let mut probe = Probe::new();
    ring.submitter()
        .register_probe(&mut probe)
        .map_err(|e| classify(e, io_uring_disabled()))?;
    match NEEDED.iter().find(|(code, _)| !probe.is_supported(*code)) {
        Some((_, name)) => Err(CheckError::Unavailable(Unavailable::MissingOpcode(name))),
        None => Ok(()),
    }
}

fn io_uring_disabled() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
        .ok()
        .map(|v| v.trim().to_owned())
}

/// Whether a release string such as `6.18.44-fc` is 6.0 or later.
fn at_least_6_0(release: &str) -> bool {
    let major = release
        .trim()
        .split(['.', '-'])
        .next()
        .and_then(|m| m.parse::<u32>().ok());
    major.is_none_or(|m| m >= 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unavailable(errno: i32, sysctl: Option<&str>) -> Option<Unavailable> {
        match classify(
            io::Error::from_raw_os_error(errno),
            sysctl.map(str::to_owned),
        ) {
            CheckError::Unavailable(u) => Some(u),
            CheckError::Failed(_) => None,
        }
    }

    #[test]
    fn eperm_and_enosys_mean_unavailable() {
        assert_eq!(
            unavailable(libc::EPERM, Some("2")),
            Some(Unavailable::Blocked {
                sysctl: Some("2".into())
            })
        );
        assert_eq!(
            unavailable(libc::ENOSYS, None),
            Some(Unavailable::NotImplemented)
        );
    }

    #[test]
    fn resource_errors_are_never_a_reason_to_fall_back() {
        for errno in [
            libc::ENOMEM,
            libc::EMFILE,
            libc::ENFILE,
            libc::EINVAL,
            libc::EFAULT,
        ] {
            assert_eq!(unavailable(errno, Some("0")), None, "errno {errno}");
        }
    }

    #[test]
    fn messages_name_the_cause() {
        let seccomp = Unavailable::Blocked {
            sysctl: Some("0".into()),
        }
        .to_string();
        assert!(
            seccomp.contains("EPERM") && seccomp.contains("seccomp"),
            "{seccomp}"
        );
        let sysctl = Unavailable::Blocked {
            sysctl: Some("2".into()),
        }
        .to_string();
        assert!(sysctl.contains("kernel.io_uring_disabled = 2"), "{sysctl}");
        assert!(Unavailable::NotImplemented.to_string().contains("ENOSYS"));
        assert!(
            Unavailable::MissingOpcode("SEND")
                .to_string()
                .contains("SEND")
        );
        assert!(
            Unavailable::Blocked { sysctl: None }
                .hint()
                .contains("seccomp=unconfined")
        );
    }

    #[test]
    fn kernel_versions() {
        assert!(at_least_6_0("6.18.44-fc-v669\n"));
        assert!(at_least_6_0("6.0.0"));
        assert!(!at_least_6_0("5.15.0-91-generic"));
        assert!(at_least_6_0("weird"));
    }
}
