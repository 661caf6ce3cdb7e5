//! One tokio connection task: wait until the socket is readable (or the worker signals its
//! slot), read into the worker's scratch buffer, let the flow decide, write. The deadline
//! the flow names is checked by the worker's tick, not by a timer per read.

use std::future::poll_fn;
use std::io::{self, ErrorKind};
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;

use tokio::io::{AsyncRead, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;

use crate::backend::tasks::Shared;
use crate::backend::tasks::slots::Signal;
use crate::backend::tasks::state::{Io, State, serve};
use crate::proto::{Action, CloseReason};

struct Conn {
    stream: TcpStream,
    state: State,
    /// The write side is shut down; draining the peer's input.
    lingering: bool,
}

/// What a wait ended with.
enum Woke {
    /// Bytes read into the worker's scratch buffer (0 at end of stream).
    Read(io::Result<usize>),
    /// The socket is writable.
    Writable(io::Result<()>),
    Signal(Signal),
}

/// Serves one connection until it closes; dropping the stream closes the socket.
pub(super) async fn run(stream: TcpStream, peer: SocketAddr, shared: Rc<Shared>) {
    let mut conn = Conn {
        stream,
        state: State::enter(shared, peer),
        lingering: false,
    };
    serve(&mut conn).await;
    conn.state.finish();
}

impl Io for Conn {
    fn state(&mut self) -> &mut State {
        &mut self.state
    }

    /// Waits for input or a signal, and tells the flow.
    async fn read(&mut self) -> Action {
        let shared = Rc::clone(&self.state.shared);
        let woke = poll_fn(|cx| {
            if let Poll::Ready(signal) = self.state.poll_signal(cx, |_| true) {
                return Poll::Ready(Woke::Signal(signal));
            }
            // `poll_read`, not readiness then `try_read`: a read that leaves the buffer
            // part empty tells tokio the socket is drained, which saves the `recv` that
            // would only say `EAGAIN` on the next turn (one system call per request).
            let mut scratch = shared.scratch.borrow_mut();
            let mut buf = ReadBuf::new(&mut scratch[..]);
            let read = Pin::new(&mut self.stream).poll_read(cx, &mut buf);
            read.map(|r| Woke::Read(r.map(|()| buf.filled().len())))
        })
        .await;
        match woke {
            Woke::Read(Ok(n)) => self.state.input(&shared.scratch.borrow()[..n]),
            Woke::Read(Err(_)) | Woke::Writable(Err(_)) => self.state.end(CloseReason::Error),
            Woke::Writable(Ok(())) => Action::Read, // a read never waits for this
            Woke::Signal(signal) => self.state.on_signal(signal),
        }
    }

    /// Shuts down writing once, then reads (and discards) until the peer is done.
    async fn linger(&mut self) -> Action {
        if !self.lingering {
            self.lingering = true;
            if self.stream.shutdown().await.is_err() {
                return self.state.end(CloseReason::Error);
            }
        }
        self.read().await
    }

    /// Writes all pending output, telling the flow of progress; `false` if the write
    /// failed or stalled past the flow's deadline.
    async fn write_out(&mut self) -> bool {
        let mut written = 0;
        while written < self.state.out.len() {
            match self.stream.try_write(&self.state.out[written..]) {
                Ok(n) => {
                    written += n;
                    self.state.sent(n);
                    continue;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                Err(_) => return false,
            }
            match self.wait_writable().await {
                Woke::Writable(Ok(())) => {}
                Woke::Signal(Signal::Deadline) => return self.state.ended_by_deadline(),
                _ => return false, // an error, or the deadline passed with no progress
            }
        }
        self.state.written();
        true
    }
}

impl Conn {
    /// Until the socket is ready to write or its deadline (or the worker's) passes (other
    /// signals wait for the next read).
    async fn wait_writable(&self) -> Woke {
        poll_fn(|cx| {
            if let Poll::Ready(signal) = self.state.poll_signal(cx, Signal::stops_a_write) {
                return Poll::Ready(Woke::Signal(signal));
            }
            self.stream.poll_write_ready(cx).map(Woke::Writable)
        })
        .await
    }
}
