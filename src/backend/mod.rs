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

/// What a backend needs to start one worker.
pub struct WorkerSpec<'a> {
    pub index: usize,
    pub listener: socket2::Socket,
    pub config: &'a crate::config::Config,
    pub stats: std::sync::Arc<Stats>,
    pub max_connections: usize,
}

/// Runs `setup` and then `run` on a new thread named `name`, returning once `setup` is
/// done: its error, or the thread and the description `setup` gave (for the log line).
/// Set-up failures are thereby reported by `start`, not later by `join`.
pub(crate) fn start_worker<T>(
    name: String,
    setup: impl FnOnce() -> io::Result<(T, &'static str)> + Send + 'static,
    run: impl FnOnce(T) -> io::Result<()> + Send + 'static,
) -> io::Result<(JoinHandle<io::Result<()>>, &'static str)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || match setup() {
            Ok((state, description)) => {
                let _ = ready_tx.send(Ok(description));
                run(state)
            }
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        })?;
    let description = ready_rx
        .recv()
        .map_err(|_| io::Error::other("a worker exited during set-up"))??;
    Ok((thread, description))
}

/// Why the requested backend cannot run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    pub reason: String,
    /// What the user can do about it.
    pub hint: Option<&'static str>,
    /// io_uring is unavailable here (a reason to fall back), not a real failure.
    pub unavailable: bool,
}

impl Unsupported {
    fn error(reason: String) -> Self {
        Unsupported {
            reason,
            hint: None,
            unavailable: false,
        }
    }
}

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)?;
        match self.hint {
            Some(hint) => write!(f, "; hint: {hint}"),
            None => Ok(()),
        }
    }
}

/// Picks the backend; `Ok((kind, Some(why)))` means `auto` fell back to tokio.
pub fn resolve(choice: BackendChoice) -> Result<(BackendKind, Option<Unsupported>), Unsupported> {
    match choice {
        BackendChoice::Uring => uring_usable().map(|()| (BackendKind::Uring, None)),
        BackendChoice::Tokio => tokio_built().map(|()| (BackendKind::Tokio, None)),
        BackendChoice::Auto => match uring_usable() {
            Ok(()) => Ok((BackendKind::Uring, None)),
            Err(why) if why.unavailable => tokio_built().map(|()| (BackendKind::Tokio, Some(why))),
            Err(e) => Err(e),
        },
    }
}

#[cfg(uring)]
fn uring_usable() -> Result<(), Unsupported> {
    use uring::probe::{ProbeError, probe};
    match probe() {
        Ok(()) => Ok(()),
        Err(ProbeError::Unavailable(u)) => Err(Unsupported {
            reason: format!("io_uring is unavailable: {u}"),
            hint: Some(u.hint()),
            unavailable: true,
        }),
        Err(ProbeError::Failed(e)) => {
            Err(Unsupported::error(format!("io_uring setup failed: {e}")))
        }
    }
}

#[cfg(not(uring))]
fn uring_usable() -> Result<(), Unsupported> {
    Err(Unsupported {
        reason:
            "io_uring is unavailable: this build has no io_uring backend (it exists only on Linux)"
                .into(),
        hint: None,
        unavailable: true,
    })
}

fn tokio_built() -> Result<(), Unsupported> {
    if cfg!(feature = "tokio") {
        Ok(())
    } else {
        Err(Unsupported::error(
            "the tokio backend is not built in: build with the `tokio` feature (on by default)"
                .into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forcing_tokio_never_probes_io_uring() {
        let resolved = resolve(BackendChoice::Tokio);
        if cfg!(feature = "tokio") {
            assert_eq!(resolved, Ok((BackendKind::Tokio, None)));
        } else {
            assert!(resolved.unwrap_err().reason.contains("tokio"));
        }
    }

    #[test]
    fn the_hint_follows_the_reason() {
        let why = Unsupported {
            reason: "io_uring is unavailable: x".into(),
            hint: Some("do y"),
            unavailable: true,
        };
        assert_eq!(why.to_string(), "io_uring is unavailable: x; hint: do y");
    }
}
