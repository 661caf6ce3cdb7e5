//! The tokio backend: one current-thread runtime per worker (epoll on Linux, kqueue on
//! macOS), a listener per worker where `SO_REUSEPORT` balances, else a shared one. Each
//! connection is a task that waits for readiness and reads into the worker's one scratch
//! buffer, so an idle connection holds no receive buffer, and borrows an output buffer
//! only while it has output. The worker itself (accept loop, tick, drain) is the
//! task-per-connection one in `backend::tasks`; it moves bytes, the flow in `proto`
//! decides.

mod conn;

use std::io;

use tokio::net::TcpListener;

use super::tasks::{Taken, register};
use super::{WorkerHandle, WorkerSpec, doing, start_worker};

/// Starts a worker in its own thread and runtime; returns once it can accept.
pub(crate) fn spawn(spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    // epoll wakes every worker waiting on a shared listener; the first to accept wins.
    let Taken {
        name,
        listener,
        parts,
        waker,
        oversight,
        ..
    } = Taken::from(spec);
    let setup = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(doing("creating the tokio runtime (epoll)"))?;
        // Registering the listener with the reactor needs the runtime's context.
        let listener = runtime.block_on(async { register(listener) })?;
        Ok(((runtime, listener), "current-thread runtime".to_owned()))
    };
    let run = move |(runtime, listener): (tokio::runtime::Runtime, TcpListener)| {
        let serve = parts.serve(listener, conn::run);
        tokio::task::LocalSet::new().block_on(&runtime, serve).fault // a task dropped while running cancels its I/O safely
    };
    let (thread, setup) = start_worker(format!("greeter-tokio-{name}"), oversight, setup, run)?;
    Ok(WorkerHandle {
        thread,
        waker,
        setup,
    })
}
