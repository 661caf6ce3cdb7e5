//! Restricted rings: a ring set up disabled (`IORING_SETUP_R_DISABLED`), given what must
//! be registered (the buffer ring, the fixed-file table), then restricted
//! (`IORING_REGISTER_RESTRICTIONS`) to the opcodes and SQE flags its user submits and no
//! register operation at all, and only then enabled. An io_uring operation does not pass
//! through seccomp, so this is what keeps the ring from doing what the seccomp profile
//! forbids: an `OPENAT`, a `CONNECT` or a `SOCKET` through it completes with `-EACCES`.

use io_uring::{opcode, register::Restriction, squeue};

/// An operation a ring's user submits, for its allowlist. The driver adds what it
/// submits itself: cancels and closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Allow {
    /// Accept, one at a time or multishot.
    Accept,
    /// Receive into the provided buffer ring, multishot (and bundles).
    Recv,
    Send,
    Connect,
    Timeout,
    /// Read an eventfd's counter.
    ReadEventfd,
    /// Shut down a socket's writing side.
    Shutdown,
}

impl Allow {
    fn opcode(self) -> u8 {
        match self {
            Allow::Accept => opcode::Accept::CODE,
            Allow::Recv => opcode::Recv::CODE,
            Allow::Send => opcode::Send::CODE,
            Allow::Connect => opcode::Connect::CODE,
            Allow::Timeout => opcode::Timeout::CODE,
            Allow::ReadEventfd => opcode::Read::CODE,
            Allow::Shutdown => opcode::Shutdown::CODE,
        }
    }
}

/// What the driver submits on its own, whoever its user: cancels (of a connection's
/// operations, of timers at the end) and closes.
const DRIVER: [u8; 2] = [opcode::AsyncCancel::CODE, opcode::Close::CODE];

/// The opcodes a ring for `allowed` may submit, each once.
pub(super) fn opcodes(allowed: &[Allow]) -> Vec<u8> {
    let mut codes: Vec<u8> = allowed.iter().map(|a| a.opcode()).chain(DRIVER).collect();
    codes.sort_unstable();
    codes.dedup();
    codes
}

/// The SQE flags the driver sets: buffer selection (receives), skip-on-success (cancels,
/// closes), fixed files (direct descriptors). Linking, draining and forced async
/// execution are refused.
fn sqe_flags() -> u8 {
    (squeue::Flags::BUFFER_SELECT | squeue::Flags::SKIP_SUCCESS | squeue::Flags::FIXED_FILE).bits()
}

/// The restrictions for `allowed`: its opcodes, the driver's flags, and no register
/// operation (everything is registered before the ring is enabled).
pub(super) fn restrictions(allowed: &[Allow]) -> Vec<Restriction> {
    let mut all: Vec<Restriction> = opcodes(allowed)
        .into_iter()
        .map(Restriction::sqe_op)
        .collect();
    all.push(Restriction::sqe_flags_allowed(sqe_flags()));
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_driver_always_may_cancel_and_close() {
        let codes = opcodes(&[Allow::Recv, Allow::Recv]);
        assert_eq!(codes.len(), 3, "RECV once, ASYNC_CANCEL, CLOSE: {codes:?}");
        assert!(codes.contains(&opcode::AsyncCancel::CODE));
        assert!(!codes.contains(&opcode::OpenAt::CODE));
    }
}
