//! The io_uring backend: one ring and one `SO_REUSEPORT` listener per worker thread,
//! multishot accept, multishot receive from a provided buffer ring, owned send buffers,
//! one periodic timer, shutdown woken through an eventfd. It moves bytes; `proto` decides.
//!
//! `unsafe` lives only in `ring.rs` (submissions) and `bufring.rs` (the buffer ring).

mod accept;
mod bufring;
mod conn;
pub(crate) mod cursor;
pub mod probe;
pub(crate) mod ring;
pub(crate) mod token;
mod worker;

use std::io;

use super::{Waker, WorkerHandle, WorkerSpec, start_worker};

/// Starts a worker; returns once its ring is set up (or failed to).
pub fn spawn(spec: WorkerSpec<'_>) -> io::Result<(WorkerHandle, &'static str)> {
    let wake = ring::eventfd()?;
    let waker = Waker::EventFd(std::fs::File::from(wake.try_clone()?));
    let WorkerSpec {
        index,
        listener,
        config,
        stats,
        max_connections,
    } = spec;
    let config = config.clone();
    let setup = move || {
        let worker = worker::Worker::new(&config, listener, wake, stats, max_connections)?;
        let setup = worker.setup();
        Ok((worker, setup))
    };
    let (thread, setup) =
        start_worker(format!("greeter-uring-{index}"), setup, worker::Worker::run)?;
    Ok((WorkerHandle { thread, waker }, setup))
}
