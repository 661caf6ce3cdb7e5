//! Runs a command with io_uring blocked the way Docker's default seccomp profile blocks it:
//! `io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with EPERM.
//!
//! The filter is installed on a short-lived thread that then spawns the command: a seccomp
//! filter is per thread and is inherited across fork and exec, so the child runs under it
//! and the caller's own threads do not.

use std::collections::BTreeMap;
use std::io;
use std::process::{Child, Command};

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

fn io_uring_blocked() -> io::Result<BpfProgram> {
    let blocked = [
        libc::SYS_io_uring_setup,
        libc::SYS_io_uring_enter,
        libc::SYS_io_uring_register,
    ];
    let rules = blocked
        .into_iter()
        .map(|nr| (nr, Vec::new()))
        .collect::<BTreeMap<_, _>>();
    let arch = std::env::consts::ARCH
        .try_into()
        .map_err(io::Error::other)?;
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(io::Error::other)?;
    filter.try_into().map_err(io::Error::other)
}

/// Spawns `command` with io_uring blocked.
pub fn spawn_without_io_uring(mut command: Command) -> io::Result<Child> {
    std::thread::spawn(move || {
        seccompiler::apply_filter(&io_uring_blocked()?).map_err(io::Error::other)?;
        command.spawn()
    })
    .join()
    .map_err(|_| io::Error::other("the seccomp thread panicked"))?
}
