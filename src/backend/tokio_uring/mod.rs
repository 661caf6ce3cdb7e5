//! The tokio-uring backend (feature `tokio-uring`): a tokio-uring runtime per worker
//! thread, each with its own listener, and a task per connection doing one owned-buffer
//! operation at a time (read, then the flow, then write), as tokio-uring's model is. It
//! runs the task-per-connection worker of `backend::tasks` (accept policy, tick, drain,
//! slots), as the tokio backend does, and the same flow; only the socket I/O differs. tokio-uring 0.5 builds on io-uring 0.6 and drives
//! its ring from tokio's epoll loop; it has no multishot operations and no buffer rings,
//! so every idle connection holds a read in flight, with its buffer.

mod conn;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use super::tasks::Taken;
use super::tasks::accept::Listen;
use super::{WorkerHandle, WorkerSpec, doing, start_worker};

impl Listen for tokio_uring::net::TcpListener {
    type Stream = tokio_uring::net::TcpStream;
    const ACCEPT_RUNS_ON: bool = true;

    fn accept(&self) -> impl Future<Output = io::Result<(Self::Stream, SocketAddr)>> {
        tokio_uring::net::TcpListener::accept(self)
    }
}

/// Starts a worker in its own thread and tokio-uring runtime; returns once it can accept.
pub(crate) fn spawn(spec: WorkerSpec<'_>) -> io::Result<WorkerHandle> {
    // Its accepts are one at a time: workers on a shared listener take turns.
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
        let flavour = "tokio-uring runtime, ring driven by epoll";
        Ok((runtime, flavour.to_owned()))
    };
    let run = move |runtime: tokio_uring::Runtime| {
        let buffers = Rc::new(conn::Buffers::new(buffer_size));
        let run = move |stream, peer, shared| conn::run(stream, peer, shared, Rc::clone(&buffers));
        runtime.block_on(async move {
            // Registering the listener needs the runtime's context.
            let listener = tokio_uring::net::TcpListener::from_std(listener.into());
            parts.serve(listener, run).await
        })
    };
    let name = format!("greeter-tokio-uring-{name}");
    let (thread, setup) = start_worker(name, oversight, setup, run)?;
    Ok(WorkerHandle {
        thread,
        waker,
        setup,
    })
}
