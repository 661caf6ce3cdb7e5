//! The ring setup ladder: the cheapest task-running mode the kernel accepts, falling back
//! on older kernels, and a name for what is in effect.

use std::fmt;
use std::io;

use io_uring::IoUring;

/// The setup flags a ring runs with, named as the kernel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup(&'static str);

impl fmt::Display for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// A plain ring, for tests that build their own.
#[cfg(test)]
pub(super) const PLAIN: Setup = Setup("plain");

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
/// with a completion queue four times the submission queue. Only `EINVAL` (a flag this
/// kernel lacks) moves down a rung; any other error is the answer.
pub fn build(sq_entries: u32) -> io::Result<(IoUring, Setup)> {
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for (name, configure) in LADDER {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(sq_entries.saturating_mul(4));
        configure(&mut builder);
        match builder.build(sq_entries) {
            Ok(ring) => return Ok((ring, Setup(name))),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}
