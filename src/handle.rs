//! A running server as its owner sees it: the [`ServerHandle`] (addresses, counters,
//! shutdown, join) and the small handles it gives other threads (shutdown, confinement,
//! heartbeat, access-log reopening).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::access::Reopen;
use crate::backend::{StatsSnapshot, Waker};
use crate::choice::Backend;
use crate::metrics::Registry;
use crate::proto::Exposition;
use crate::sandbox;

/// A running server: its address, graceful shutdown, and join.
pub struct ServerHandle {
    pub(crate) addr: SocketAddr,
    pub(crate) metrics_addr: Option<SocketAddr>,
    pub(crate) backend: Backend,
    pub(crate) setup: String,
    pub(crate) threads: Vec<JoinHandle<io::Result<()>>>,
    pub(crate) trigger: Shutdown,
    pub(crate) registry: Arc<Registry>,
    /// The access log's writer, joined after the workers so their last lines are written.
    pub(crate) access_writer: Option<JoinHandle<()>>,
    /// Reopens the access log's file.
    pub(crate) reopen: Reopen,
    /// The seccomp filter the server's threads installed (`--sandbox`).
    pub(crate) sandbox: Option<Arc<sandbox::Filter>>,
}

/// The seccomp filter a server's threads run under (`--sandbox`); cheap to clone.
#[derive(Clone, Debug)]
pub struct Confinement(pub(crate) Option<Arc<sandbox::Filter>>);

impl Confinement {
    /// Confines the calling thread as the server's own threads are (and the threads it
    /// starts afterwards, which inherit the filter). Without `--sandbox`, does nothing.
    pub fn confine_caller(&self) -> io::Result<()> {
        match &self.0 {
            Some(filter) => filter.confine(),
            None => Ok(()),
        }
    }
}

/// Tells whether every worker's loop turned since it was last asked: each takes a tick
/// a second while it turns, so ask less often than that.
pub struct Heartbeat {
    registry: Arc<Registry>,
    last: Vec<u64>,
}

impl Heartbeat {
    /// The workers whose loops took no tick since the last call (at the first call,
    /// since they started): empty while all turn.
    pub fn stalled(&mut self) -> Vec<String> {
        let now = self.registry.ticks();
        let stalled = now
            .iter()
            .zip(self.last.iter().chain(std::iter::repeat(&0)));
        let stalled = stalled.filter(|((_, ticks), before)| ticks <= before);
        let names = stalled.map(|((name, _), _)| (*name).to_owned()).collect();
        self.last = now.into_iter().map(|(_, ticks)| ticks).collect();
        names
    }
}

/// Starts a graceful shutdown from anywhere (a signal thread, say); cheap to clone.
#[derive(Clone)]
pub struct Shutdown(pub(crate) Arc<Vec<Waker>>);

impl Shutdown {
    /// Stop accepting, finish what is in flight, close. Returns at once.
    pub fn shutdown(&self) {
        self.0.iter().for_each(Waker::wake);
    }
}

impl ServerHandle {
    /// The address the server listens on (the real port when bound to port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The backend it runs on.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The io_uring setup flags in effect, or the tokio runtime flavour.
    pub fn setup(&self) -> &str {
        &self.setup
    }

    /// The admin listener's address, with `Metrics::Listen`.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// A few counters summed over the workers.
    pub fn stats(&self) -> StatsSnapshot {
        let r = &self.registry;
        StatsSnapshot {
            accepted: r.sum(|w| w.accepted.get()),
            open: r.sum(|w| w.open.get()),
            recv_enobufs: r.sum(|w| w.uring_enobufs.get()),
            sq_waits: r.sum(|w| w.uring_sq_waits.get()),
            accept_pauses: r.sum(|w| w.paused_total()),
        }
    }

    /// The Prometheus exposition `/metrics` serves, as text.
    pub fn metrics(&self) -> String {
        let mut out = Vec::new();
        self.registry.render(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Starts a graceful shutdown: stop accepting, finish what is in flight, close.
    /// Returns at once; [`ServerHandle::join`] waits for the end.
    pub fn shutdown(&self) {
        self.trigger.shutdown();
    }

    /// The server's seccomp filter (`--sandbox`), for threads of the caller's to confine
    /// themselves with: the binary's main and signal threads do, once serving.
    pub fn confinement(&self) -> Confinement {
        Confinement(self.sandbox.clone())
    }

    /// Makes worker `index` fail as a broken worker would (its listener and connections
    /// dropped), to test what follows: the others drain and `join` reports the failure.
    #[doc(hidden)]
    pub fn inject_fault(&self, index: usize) {
        self.trigger.0[index].fail();
    }

    /// Makes worker `index`'s loop stop turning for an hour, as a stuck one would, to test
    /// that the watchdog notices.
    #[doc(hidden)]
    pub fn inject_stall(&self, index: usize) {
        self.trigger.0[index].stall();
    }

    /// Whether every worker's loop is turning, for a watchdog.
    pub fn heartbeat(&self) -> Heartbeat {
        Heartbeat {
            registry: Arc::clone(&self.registry),
            last: Vec::new(),
        }
    }

    /// A handle to start the shutdown from another thread.
    pub fn shutdown_trigger(&self) -> Shutdown {
        self.trigger.clone()
    }

    /// What reopens the access log's file (after logrotate moved it), from anywhere.
    pub fn access_log_reopener(&self) -> Reopen {
        self.reopen.clone()
    }

    /// Waits for every worker to stop; the first worker error, if any.
    pub fn join(mut self) -> io::Result<()> {
        self.join_workers()
    }

    fn join_workers(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for thread in self.threads.drain(..) {
            let outcome = thread
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a worker panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        if let Some(writer) = self.access_writer.take() {
            let _ = writer.join();
        }
        result
    }
}

impl Drop for ServerHandle {
    /// A dropped handle shuts its server down and waits for it.
    fn drop(&mut self) {
        self.shutdown();
        let _ = self.join_workers();
    }
}
