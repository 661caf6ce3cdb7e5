//! What an operation runs on ([`Target`]) and what an accept hands over ([`Socket`]): a
//! descriptor, or a slot of the ring's fixed-file table.

use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// What an operation runs on: a descriptor, or a slot of the ring's fixed-file table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Target {
    Fd(RawFd),
    /// A direct descriptor: the kernel skips the descriptor lookup.
    Fixed(u32),
}

/// An accepted connection, owned: a descriptor, or a slot of the fixed-file table (which
/// only the ring's [`Ring::close`] releases; dropped otherwise, the slot stays taken).
#[derive(Debug)]
pub(crate) enum Socket {
    Fd(OwnedFd),
    Fixed(u32),
}

impl Socket {
    pub(crate) fn target(&self) -> Target {
        match self {
            Socket::Fd(fd) => Target::Fd(fd.as_raw_fd()),
            Socket::Fixed(slot) => Target::Fixed(*slot),
        }
    }
}
