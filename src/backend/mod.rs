//! The I/O backends and the choice between them. Backends move bytes; `proto` decides.

pub mod flow;
#[cfg(feature = "tokio")]
pub mod tokio;
#[cfg(uring)]
pub mod uring;

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use crate::config::BackendChoice;

/// The backend a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    Uring,
    Tokio,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Uring => "io_uring",
            BackendKind::Tokio => "tokio",
        })
    }
}

/// Counters a worker keeps; read through `ServerHandle::stats`.
#[derive(Debug, Default)]
pub struct Stats {
    pub accepted: AtomicU64,
    /// Connections accepted and not yet fully closed.
    pub open: AtomicU64,
    /// Receives that found the buffer ring empty and were re-armed.
    pub recv_enobufs: AtomicU64,
    /// Times accepting paused because descriptors ran out.
    pub accept_pauses: AtomicU64,
}

/// A copy of the counters, summed over workers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    pub accepted: u64,
    pub open: u64,
    pub recv_enobufs: u64,
    pub accept_pauses: u64,
}

impl StatsSnapshot {
    pub fn add(&mut self, s: &Stats) {
        self.accepted += s.accepted.load(Ordering::Relaxed);
        self.open += s.open.load(Ordering::Relaxed);
        self.recv_enobufs += s.recv_enobufs.load(Ordering::Relaxed);
        self.accept_pauses += s.accept_pauses.load(Ordering::Relaxed);
    }
}

/// Tells one worker to shut down gracefully.
pub enum Waker {
    #[cfg(uring)]
    EventFd(std::fs::File),
    #[cfg(feature = "tokio")]
    Tokio(::tokio::sync::watch::Sender<bool>),
}

impl Waker {
    pub fn wake(&self) {
        match self {
            #[cfg(uring)]
            Waker::EventFd(file) => {
                let _ = std::io::Write::write(&mut &*file, &1u64.to_ne_bytes());
            }
            #[cfg(feature = "tokio")]
            Waker::Tokio(tx) => {
                let _ = tx.send(true);
            }
        }
    }
}

pub struct WorkerHandle {
    pub thread: JoinHandle<io::Result<()>>,
    pub waker: Waker,
}

/// Why the requested backend cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported(pub String);

/// Picks the backend; `Ok((kind, Some(reason)))` means `auto` fell back to tokio.
pub fn resolve(choice: BackendChoice) -> Result<(BackendKind, Option<String>), Unsupported> {
    match choice {
        BackendChoice::Uring => uring_usable().map(|()| (BackendKind::Uring, None)),
        BackendChoice::Tokio => tokio_built().map(|()| (BackendKind::Tokio, None)),
        BackendChoice::Auto => match uring_usable() {
            Ok(()) => Ok((BackendKind::Uring, None)),
            Err(Unsupported(why)) if uring_fallback_allowed(&why) => {
                tokio_built().map(|()| (BackendKind::Tokio, Some(why)))
            }
            Err(e) => Err(e),
        },
    }
}

/// Prefix of every "io_uring unavailable" reason; anything else is a real error.
const UNAVAILABLE: &str = "io_uring is unavailable: ";

fn uring_fallback_allowed(why: &str) -> bool {
    why.starts_with(UNAVAILABLE)
}

#[cfg(uring)]
fn uring_usable() -> Result<(), Unsupported> {
    use uring::probe::{ProbeError, probe};
    match probe() {
        Ok(()) => Ok(()),
        Err(ProbeError::Unavailable(u)) => {
            Err(Unsupported(format!("{UNAVAILABLE}{u}; hint: {}", u.hint())))
        }
        Err(ProbeError::Failed(e)) => Err(Unsupported(format!("io_uring setup failed: {e}"))),
    }
}

#[cfg(not(uring))]
fn uring_usable() -> Result<(), Unsupported> {
    Err(Unsupported(format!(
        "{UNAVAILABLE}this build has no io_uring backend (it exists only on Linux)"
    )))
}

fn tokio_built() -> Result<(), Unsupported> {
    if cfg!(feature = "tokio") {
        Ok(())
    } else {
        Err(Unsupported(
            "the tokio backend is not built in: build with the `tokio` feature (on by default)"
                .into(),
        ))
    }
}
