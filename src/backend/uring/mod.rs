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
use std::sync::Arc;
use std::sync::mpsc;
use std::thread;

use super::{Stats, Waker, WorkerHandle};
use crate::config::Config;

/// Starts worker `index` on `listener`; returns once its ring is set up (or failed to).
pub fn spawn(
    index: usize,
    listener: socket2::Socket,
    config: &Config,
    stats: Arc<Stats>,
    max_connections: usize,
) -> io::Result<(WorkerHandle, &'static str)> {
    let wake = ring::eventfd()?;
    let waker = Waker::EventFd(std::fs::File::from(wake.try_clone()?));
    let (ready_tx, ready_rx) = mpsc::channel();
    let config = config.clone();
    let thread = thread::Builder::new()
        .name(format!("greeter-uring-{index}"))
        .spawn(move || {
            match worker::Worker::new(&config, listener, wake, stats, max_connections) {
                Ok(worker) => {
                    let _ = ready_tx.send(Ok(worker.setup()));
                    worker.run()
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(io::Error::new(e.kind(), e.to_string())));
                    Err(e)
                }
            }
        })?;
    let setup = ready_rx
        .recv()
        .map_err(|_| io::Error::other("io_uring worker exited during setup"))??;
    Ok((WorkerHandle { thread, waker }, setup))
}
