//! The server's I/O backends and what they share: how a worker is started, woken and
//! counted, the accept policy, and the pool of output buffers. Backends move bytes; the
//! connection flow in `proto` decides. Backends never import each other.

pub(crate) mod policy;
mod refused;
#[cfg(feature = "tokio")]
pub(crate) mod tasks;
#[cfg(feature = "tokio")]
pub(crate) mod tokio;
#[cfg(tokio_uring)]
pub(crate) mod tokio_uring;
#[cfg(uring)]
pub(crate) mod uring;

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::access::AccessLog;
use crate::config::Config;
use crate::metrics::WorkerMetrics;
use crate::proto::{Greeter, Timeouts};
use crate::sandbox::Filter;

/// A few counters summed over workers, for tests and library users; the full set is
/// the `/metrics` exposition.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections accepted and not yet fully closed.
    pub open: u64,
    /// io_uring receives that found the buffer ring empty and were re-armed.
    pub recv_enobufs: u64,
    /// io_uring submissions that found the submission queue full and waited for room.
    pub sq_waits: u64,
    /// Times accepting paused, for any cause.
    pub accept_pauses: u64,
}

/// Tells one worker to shut down gracefully (or, for a test, to fail or to stall).
pub(crate) struct Waker {
    /// How the backend wakes its worker (an eventfd write, a channel send).
    wake: Box<dyn Fn() + Send + Sync>,
    /// Set before waking: the worker fails (or stalls) instead of draining.
    fault: Arc<AtomicU8>,
}

/// What a test injected: nothing, a failure, a stall.
const NO_FAULT: u8 = 0;
const FAIL: u8 = 1;
const STALL: u8 = 2;

impl Waker {
    /// A waker that calls `wake`, and the fault flag the worker checks when woken.
    pub(crate) fn new(wake: impl Fn() + Send + Sync + 'static) -> (Waker, Fault) {
        let fault = Arc::new(AtomicU8::new(NO_FAULT));
        let flag = Fault(Arc::clone(&fault));
        let wake = Box::new(wake);
        (Waker { wake, fault }, flag)
    }

    pub(crate) fn wake(&self) {
        (self.wake)();
    }

    /// Makes the worker fail as a broken one would (for tests of what follows).
    pub(crate) fn fail(&self) {
        self.fault.store(FAIL, Ordering::SeqCst);
        self.wake();
    }

    /// Makes the worker's loop stop turning, as a stuck one would (for the watchdog's
    /// tests): it sleeps for an hour where it would have drained.
    pub(crate) fn stall(&self) {
        self.fault.store(STALL, Ordering::SeqCst);
        self.wake();
    }
}

/// A worker's side of [`Waker::fail`] and [`Waker::stall`].
pub(crate) struct Fault(Arc<AtomicU8>);

impl Fault {
    /// When woken: `Err` if the wake was a failure injected by a test; a stall blocks.
    pub(crate) fn check(&self) -> io::Result<()> {
        match self.0.load(Ordering::SeqCst) {
            FAIL => Err(io::Error::other("a fault injected for a test")),
            STALL => {
                std::thread::sleep(std::time::Duration::from_secs(3600));
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Raised by a worker that fails: every worker drains (so `/healthz` turns `503`
/// everywhere) and the server's `join` reports the failure, which exits non-zero.
#[derive(Default)]
pub(crate) struct Alarm {
    raised: AtomicBool,
    wakers: OnceLock<Arc<Vec<Waker>>>,
}

impl Alarm {
    /// Once every worker started: whom to wake. A worker that failed meanwhile wakes
    /// them now.
    pub(crate) fn arm(&self, wakers: Arc<Vec<Waker>>) {
        let _ = self.wakers.set(wakers);
        if self.raised.load(Ordering::SeqCst) {
            self.wake_all();
        }
    }

    fn raise(&self) {
        self.raised.store(true, Ordering::SeqCst);
        self.wake_all();
    }

    fn wake_all(&self) {
        if let Some(wakers) = self.wakers.get() {
            wakers.iter().for_each(Waker::wake);
        }
    }
}

/// A started worker: its thread, how to wake it, and what it runs on (for the log line).
pub(crate) struct WorkerHandle {
    pub thread: JoinHandle<io::Result<()>>,
    pub waker: Waker,
    pub setup: String,
}

/// What a backend needs to start one worker.
pub(crate) struct WorkerSpec<'a> {
    /// Names the thread (`greeter-uring-0`, ..., or `-admin`).
    pub name: String,
    pub listener: socket2::Socket,
    /// Other workers accept from the same listener (one inherited, or one shared where
    /// there is no `SO_REUSEPORT` balancing). Only io_uring needs to know.
    #[cfg_attr(not(uring), allow(dead_code))]
    pub shared_listener: bool,
    /// Timeouts and io_uring knobs.
    pub config: &'a Config,
    /// The worker's protocol state: its routes, counts and `/metrics` rendering.
    pub greeter: Greeter,
    pub metrics: Arc<WorkerMetrics>,
    pub access_log: Option<AccessLog>,
    pub max_connections: usize,
    /// Raises the alarm if the worker fails; confines it once set up.
    pub oversight: Oversight,
}

/// What watches over a server thread: the alarm it raises if it fails, and the seccomp
/// filter it installs on itself once set up (with `--sandbox`).
#[derive(Clone, Default)]
pub(crate) struct Oversight {
    pub alarm: Arc<Alarm>,
    pub sandbox: Option<Arc<Filter>>,
}

impl Oversight {
    /// Oversight for threads that install `sandbox` once set up.
    pub(crate) fn confined_by(sandbox: Option<Arc<Filter>>) -> Self {
        Oversight {
            sandbox,
            ..Oversight::default()
        }
    }

    /// Confines the calling thread, if there is a sandbox.
    pub(crate) fn confine(&self) -> io::Result<()> {
        match &self.sandbox {
            Some(filter) => filter.confine().map_err(doing("confining it (--sandbox)")),
            None => Ok(()),
        }
    }
}

/// Runs `setup` and then `run` on a new thread named `name`, returning once `setup` is
/// done: its error, or the thread and the description `setup` gave (for the log line).
/// Set-up failures are thereby reported by `start`, not later by `join`. Between the two
/// the thread confines itself (its ring is enabled, its listener registered by then). A
/// worker that fails once serving (an error or a panic) says why at ERROR and raises the
/// alarm.
pub(crate) fn start_worker<T>(
    name: String,
    oversight: Oversight,
    setup: impl FnOnce() -> io::Result<(T, String)> + Send + 'static,
    run: impl FnOnce(T) -> io::Result<()> + Send + 'static,
) -> io::Result<(JoinHandle<io::Result<()>>, String)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let thread_name = name.clone();
    let setup = move || {
        let ready = setup()?;
        oversight.confine().map(|()| (ready, oversight.alarm))
    };
    let thread = std::thread::Builder::new()
        .name(thread_name)
        .spawn(move || match setup() {
            Ok(((state, description), alarm)) => {
                let _ = ready_tx.send(Ok(description));
                serve_or_alarm(&name, &alarm, || run(state))
            }
            Err(e) => {
                let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                Err(e)
            }
        })
        .map_err(doing("starting its thread"))?;
    let description = ready_rx
        .recv()
        .map_err(|_| io::Error::other("a worker exited during set-up"))??;
    Ok((thread, description))
}

/// Runs a worker's loop; if it fails or panics, logs the cause at ERROR and raises the
/// alarm, so the failure stops the whole server instead of one worker going quiet.
fn serve_or_alarm(
    name: &str,
    alarm: &Alarm,
    run: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let result = outcome.unwrap_or_else(|panic| {
        let why = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        Err(io::Error::other(format!("panicked: {why}")))
    });
    if let Err(e) = &result {
        tracing::error!(
            worker = name,
            "worker {name} failed: {e}; stopping the server"
        );
        alarm.raise();
    }
    result
}

/// Prefixes an error with what was being done, so a start-up failure (a seccomp profile
/// refusing a call, say) names the operation: `creating its wake-up eventfd: Operation not
/// permitted`.
pub(crate) fn doing(what: &'static str) -> impl FnOnce(io::Error) -> io::Error {
    move |e| io::Error::new(e.kind(), format!("{what}: {e}"))
}

/// A worker's timer period: fine enough for the shortest timeout, at most 100 ms (a
/// deadline is noticed up to one period late, never early).
pub(crate) fn tick_for(t: &Timeouts) -> Duration {
    let shortest = t.header.min(t.idle).min(t.linger);
    (shortest / 4).clamp(Duration::from_millis(5), Duration::from_millis(100))
}

/// A worker's spare output buffers: a connection borrows one while it has output and
/// gives it back once written, so an idle connection holds none.
#[derive(Debug, Default)]
pub(crate) struct Spares {
    pool: Vec<Vec<u8>>,
}

impl Spares {
    /// Buffers kept for reuse; more are freed.
    const KEEP: usize = 64;
    /// Larger buffers (a burst of pipelined answers) are freed rather than kept.
    const LARGEST: usize = 16 * 1024;

    /// Gives `out` a buffer if it has none.
    pub(crate) fn lend<'a>(&mut self, out: &'a mut Vec<u8>) -> &'a mut Vec<u8> {
        if out.capacity() == 0 {
            *out = self.pool.pop().unwrap_or_default();
        }
        out
    }

    /// Takes back a buffer whose bytes were all written.
    pub(crate) fn recycle(&mut self, mut buf: Vec<u8>) {
        let keep = (1..=Self::LARGEST).contains(&buf.capacity());
        if keep && self.pool.len() < Self::KEEP {
            buf.clear();
            self.pool.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spares_are_reused_and_large_ones_freed() {
        let mut spares = Spares::default();
        let mut out = Vec::new();
        spares.lend(&mut out).extend_from_slice(b"answer");
        let address = out.as_ptr();
        spares.recycle(std::mem::take(&mut out));
        assert_eq!(out.capacity(), 0, "the connection holds nothing");
        assert_eq!(
            spares.lend(&mut out).as_ptr(),
            address,
            "the same buffer again"
        );
        assert!(out.is_empty(), "and empty");
        spares.recycle(vec![0; Spares::LARGEST + 1]);
        spares.recycle(std::mem::take(&mut out));
        assert_eq!(spares.pool.len(), 1, "the large one was freed");
    }
}
