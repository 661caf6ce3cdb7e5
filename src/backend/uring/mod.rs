//! The io_uring backend: one ring and one `SO_REUSEPORT` listener per worker thread,
//! multishot accept, multishot receive from a provided buffer ring, owned send buffers,
//! one periodic timer, shutdown woken through an eventfd. It moves bytes; the connection
//! flow in `proto` decides. The ring itself is the driver in `crate::uring`.

mod accept;
mod conn;
mod worker;

use std::io;

use super::{Waker, WorkerHandle, WorkerSpec, doing, start_worker};
use crate::uring::{OpKind, eventfd};

/// What a worker's submissions are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Accept,
    Recv,
    Send,
    Tick,
    Wake,
}

impl OpKind for Op {
    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Op> {
        [Op::Accept, Op::Recv, Op::Send, Op::Tick, Op::Wake]
            .into_iter()
            .find(|op| op.code() == code)
    }
}

/// Starts a worker; returns once its ring is set up (or failed to).
pub(crate) fn spawn(spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    let wake = eventfd().map_err(doing("creating its wake-up eventfd"))?;
    let file = std::fs::File::from(wake.try_clone()?);
    let (waker, fault) = Waker::new(move || {
        let _ = std::io::Write::write(&mut &file, &1u64.to_ne_bytes());
    });
    let name = format!("greeter-uring-{}", spec.name);
    let oversight = spec.oversight.clone();
    let parts = worker::Parts::from(spec);
    let setup = move || {
        let worker = worker::Worker::new(parts, (wake, fault))?;
        let setup = worker.setup().to_string();
        Ok((worker, setup))
    };
    let (thread, setup) = start_worker(name, oversight, setup, worker::Worker::run)?;
    Ok(WorkerHandle {
        thread,
        waker,
        setup,
    })
}
