//! The ring setup ladder: the cheapest task-running mode the kernel accepts, falling back
//! on older kernels, plus the optional features a measurement kept, each dropped where the
//! kernel lacks it; and a name for what is in effect.

use std::fmt;
use std::io;

use io_uring::IoUring;

/// Newer kernel features a ring may use; each falls back where the kernel lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Features {
    /// Register the ring's own descriptor (`IORING_REGISTER_RING_FDS`, 5.18): every
    /// `io_uring_enter` skips a descriptor lookup.
    pub ring_fd: bool,
    /// `IORING_SETUP_NO_SQARRAY` (6.6): no submission index array to fill.
    pub no_sqarray: bool,
    /// Wait this many microseconds for a batch of completions before returning with
    /// fewer (`min_wait_usec`, 6.12); 0 returns as soon as one is there.
    pub min_wait_us: u32,
    /// Bundle receives (`IORING_RECVSEND_BUNDLE`, 6.10): one completion for as many
    /// provided buffers as the bytes waiting fill.
    pub recv_bundle: bool,
    /// Set the ring up disabled, to be restricted to its user's operations before it is
    /// enabled (`IORING_SETUP_R_DISABLED` and `IORING_REGISTER_RESTRICTIONS`, 5.10); see
    /// [`super::Ring::enable`].
    pub restrict: bool,
}

/// The setup flags and features a ring runs with, named as the kernel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Setup {
    rung: &'static str,
    no_sqarray: bool,
    ring_fd: bool,
    min_wait_us: u32,
    direct: bool,
    recv_bundle: bool,
    /// Set up disabled: [`super::Ring::enable`] is still to come.
    disabled: bool,
    /// Restricted to this many opcodes (and no register operation), once enabled.
    restricted: Option<usize>,
}

impl Setup {
    pub(super) fn registered_ring_fd(self) -> Setup {
        Setup {
            ring_fd: true,
            ..self
        }
    }

    pub(super) fn min_wait(self, us: u32) -> Setup {
        Setup {
            min_wait_us: us,
            ..self
        }
    }

    pub(super) fn direct_descriptors(self) -> Setup {
        Setup {
            direct: true,
            ..self
        }
    }

    pub(super) fn recv_bundle(self) -> Setup {
        Setup {
            recv_bundle: true,
            ..self
        }
    }

    pub(super) fn is_recv_bundle(self) -> bool {
        self.recv_bundle
    }

    pub(super) fn is_disabled(self) -> bool {
        self.disabled
    }

    /// Enabled, restricted to `opcodes` opcodes (or not restricted).
    pub(super) fn enabled(self, opcodes: Option<usize>) -> Setup {
        Setup {
            disabled: false,
            restricted: opcodes,
            ..self
        }
    }

    /// Microseconds a wait for completions may take to gather a batch.
    pub(super) fn min_wait_us(self) -> u32 {
        self.min_wait_us
    }
}

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.rung)?;
        if self.no_sqarray {
            f.write_str("|NO_SQARRAY")?;
        }
        if self.ring_fd {
            f.write_str("|REGISTERED_RING_FD")?;
        }
        if self.min_wait_us > 0 {
            write!(f, "|MIN_WAIT={}us", self.min_wait_us)?;
        }
        if self.direct {
            f.write_str("|DIRECT_DESCRIPTORS")?;
        }
        if self.recv_bundle {
            f.write_str("|RECV_BUNDLE")?;
        }
        match self.restricted {
            Some(n) => write!(f, "|RESTRICTED({n} opcodes)"),
            None => f.write_str("|UNRESTRICTED"),
        }
    }
}

/// A plain ring, for tests that build their own.
#[cfg(test)]
pub(super) const PLAIN: Setup = Setup {
    rung: "plain",
    no_sqarray: false,
    ring_fd: false,
    min_wait_us: 0,
    direct: false,
    recv_bundle: false,
    disabled: false,
    restricted: None,
};

type Configure = fn(&mut io_uring::Builder);

/// Rungs of the ladder, best first.
const LADDER: [(&str, Configure); 3] = [
    ("SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL", |b| {
        b.setup_single_issuer()
            .setup_defer_taskrun()
            .setup_submit_all();
    }),
    ("COOP_TASKRUN|SUBMIT_ALL", |b| {
        b.setup_coop_taskrun().setup_submit_all();
    }),
    ("plain", |_| {}),
];

/// `SINGLE_ISSUER|DEFER_TASKRUN` (6.1+), then `COOP_TASKRUN` (5.19+), then plain; each
/// with a completion queue four times the submission queue, set up disabled (to be
/// restricted) and with `NO_SQARRAY` first when asked for. Only `EINVAL` (a flag this
/// kernel lacks) moves down; any other error is the answer.
pub(super) fn build(sq_entries: u32, features: Features) -> io::Result<(IoUring, Setup)> {
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for ((name, configure), no_sqarray, disabled) in tries(features) {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(sq_entries.saturating_mul(4));
        configure(&mut builder);
        if no_sqarray {
            builder.setup_no_sqarray();
        }
        if disabled {
            builder.setup_r_disabled();
        }
        match builder.build(sq_entries) {
            Ok(ring) => return Ok((ring, Setup::new(name, no_sqarray, disabled))),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// The ladder's rungs, each with the optional flags asked for first, then without.
fn tries(features: Features) -> Vec<((&'static str, Configure), bool, bool)> {
    let with = |wanted: bool| [true, false].into_iter().filter(move |&on| on <= wanted);
    let mut all = Vec::new();
    for rung in LADDER {
        for no_sqarray in with(features.no_sqarray) {
            for disabled in with(features.restrict) {
                all.push((rung, no_sqarray, disabled));
            }
        }
    }
    all
}

impl Setup {
    fn new(rung: &'static str, no_sqarray: bool, disabled: bool) -> Setup {
        Setup {
            rung,
            no_sqarray,
            ring_fd: false,
            min_wait_us: 0,
            direct: false,
            recv_bundle: false,
            disabled,
            restricted: None,
        }
    }
}
