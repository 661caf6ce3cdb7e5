//! The tokio-uring backend (feature `tokio-uring`): a tokio-uring runtime per worker
//! thread, each with its own listener, and a task per connection doing one owned-buffer
//! operation at a time (read, then the flow, then write), as tokio-uring's model is. It
//! runs the task-per-connection worker of `backend::tasks` (accept policy, tick, drain,
//! slots), as the tokio backend does, and the same flow; only the socket I/O differs.
//! tokio-uring 0.5 builds on io-uring 0.6 and drives its ring from tokio's epoll loop; it
//! has no multishot operations and no buffer rings, so every idle connection holds a read
//! in flight, with its buffer.
//!
//! Two things follow from tokio-uring 0.5 being unable to cancel an operation, and from
//! its driver freeing the memory of operations whose futures were dropped before it
//! cancels them when the runtime goes (a pending accept's address buffer, a read's
//! buffer: the kernel may still write into them):
//! - Connections are accepted through tokio's listener (epoll), whose accept is
//!   cancelled safely when the worker stops accepting; only the connections' reads and
//!   writes go through the ring.
//! - The drain ends every connection's operations before the runtime goes (see
//!   `tasks::accept::serve`); if a task did not end, the runtime is leaked rather than
//!   dropped, and the worker says so.

mod conn;

use std::io;
use std::mem;
use std::rc::Rc;

use tokio::net::TcpListener;

use super::tasks::{Parts, Taken, register};
use super::{WorkerHandle, WorkerSpec, doing, start_worker};

/// Serves on `listener` until stopped and drained; frees the runtime only if no
/// operation can be left in flight.
fn serve(
    (runtime, listener): (tokio_uring::Runtime, TcpListener),
    parts: Parts,
    buffer_size: usize,
) -> io::Result<()> {
    let buffers = Rc::new(conn::Buffers::new(buffer_size));
    let run = move |stream, peer, shared| conn::run(stream, peer, shared, Rc::clone(&buffers));
    let drained = runtime.block_on(parts.serve(listener, run));
    if drained.abandoned > 0 {
        // Operations of dropped tasks may still be in flight (see the module's doc).
        tracing::warn!("so their runtime is leaked: freeing it could free memory under the kernel");
        mem::forget(runtime);
    }
    drained.fault
}

/// Starts a worker in its own thread and tokio-uring runtime; returns once it can accept.
pub(crate) fn spawn(spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    let Taken {
        name,
        listener,
        parts,
        waker,
        oversight,
        config,
    } = Taken::from(spec);
    let entries = config.uring.sq_entries;
    let buffer_size = config.uring.recv_buffer_size as usize;
    let setup = move || {
        let runtime = tokio_uring::Runtime::new(tokio_uring::builder().entries(entries))
            .map_err(doing("creating the tokio-uring runtime"))?;
        // Registering the listener with the reactor needs the runtime's context.
        let listener = runtime.block_on(async { register(listener) })?;
        let flavour = "tokio-uring runtime, ring driven by epoll";
        Ok(((runtime, listener), flavour.to_owned()))
    };
    let run = move |ready| serve(ready, parts, buffer_size);
    let name = format!("greeter-tokio-uring-{name}");
    let (thread, setup) = start_worker(name, oversight, setup, run)?;
    Ok(WorkerHandle {
        thread,
        waker,
        setup,
    })
}
