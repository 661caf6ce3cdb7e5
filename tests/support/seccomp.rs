//! Runs a command with io_uring blocked the way Docker's default seccomp profile blocks it
//! (`io_uring_setup`, `io_uring_enter` and `io_uring_register` fail with EPERM), or with
//! other system calls blocked the same way.
//!
//! The filter is installed on a short-lived thread that then spawns the command: a seccomp
//! filter is per thread and is inherited across fork and exec, so the child runs under it
//! and the caller's own threads do not.

use std::collections::BTreeMap;
use std::io;
use std::process::{Child, Command};

use seccompiler::{BpfProgram, SeccompAction, SeccompFilter};

/// The io_uring calls, as Docker's default profile blocks them.
const IO_URING: [i64; 3] = [
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn blocking(blocked: &[i64]) -> io::Result<BpfProgram> {
    let rules = blocked
        .iter()
        .map(|&nr| (nr, Vec::new()))
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
pub fn spawn_without_io_uring(command: Command) -> io::Result<Child> {
    spawn_with_blocked(command, &IO_URING)
}

/// Spawns `command` with the system calls numbered `blocked` failing with EPERM.
pub fn spawn_with_blocked(mut command: Command, blocked: &[i64]) -> io::Result<Child> {
    let filter = blocking(blocked)?;
    std::thread::spawn(move || {
        seccompiler::apply_filter(&filter).map_err(io::Error::other)?;
        command.spawn()
    })
    .join()
    .map_err(|_| io::Error::other("the seccomp thread panicked"))?
}
