//! One tokio-uring connection task: an owned-buffer read in flight, the flow, an
//! owned-buffer write; the worker's tick signals deadlines, shutdown and shedding.
//!
//! tokio-uring cannot cancel an operation in flight (dropping its future leaves it to the
//! kernel, buffer and all). So a signal never drops a read: when the flow still wants to
//! read (a busy connection told of shutdown) the same read stays in flight; when it wants
//! the connection closed, the socket's read side is shut down (`SHUT_RD`), which ends the
//! read at once, and the buffer comes back. The one difference this makes: an answer
//! written after such a signal (a `408`) cannot be followed by lingering to read what the
//! client still sends, since the read side is shut; the close may then reset.

use std::cell::RefCell;
use std::future::{Future, poll_fn};
use std::mem;
use std::net::{Shutdown, SocketAddr};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use tokio_uring::buf::BoundedBuf;
use tokio_uring::net::TcpStream;

use crate::backend::tasks::Shared;
use crate::backend::tasks::slots::Signal;
use crate::backend::tasks::state::{Io, State, serve};
use crate::proto::{Action, CloseReason};

/// A worker's read buffers: each connection holds one while it lives (a read is in flight
/// whenever it waits for input) and returns it when it closes. At most [`Buffers::KEEP`]
/// wait for reuse: a burst of connections does not pin its buffers after it ends.
pub(super) struct Buffers {
    size: usize,
    free: RefCell<Vec<Vec<u8>>>,
}

impl Buffers {
    /// Returned buffers kept for the next connections; more are freed.
    const KEEP: usize = 64;

    pub(super) fn new(size: usize) -> Buffers {
        Buffers {
            size,
            free: RefCell::default(),
        }
    }

    fn take(&self) -> Vec<u8> {
        let reused = self.free.borrow_mut().pop();
        reused.unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    fn give(&self, mut buf: Vec<u8>) {
        let mut free = self.free.borrow_mut();
        if free.len() < Self::KEEP {
            buf.clear();
            free.push(buf);
        }
    }
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// The read buffer, while no read has it.
    buf: Option<Vec<u8>>,
    /// The write side is shut down; draining the peer's input.
    lingering: bool,
}

/// Serves one connection until it closes; dropping the stream closes the socket. It was
/// accepted through epoll, and leaves epoll for the ring here.
pub(super) async fn run(
    accepted: tokio::net::TcpStream,
    peer: SocketAddr,
    shared: Rc<Shared>,
    buffers: Rc<Buffers>,
) {
    let mut state = State::enter(shared, peer);
    let Ok(stream) = accepted.into_std() else {
        let _closing = state.end(CloseReason::Error); // epoll would not let go of it
        return state.finish();
    };
    let mut conn = Conn {
        stream: TcpStream::from_std(stream),
        state,
        buf: Some(buffers.take()),
        lingering: false,
    };
    serve(&mut conn).await;
    conn.state.finish();
    if let Some(buf) = conn.buf.take() {
        buffers.give(buf);
    }
}

/// What a wait ended with.
enum Woke<T> {
    Done(T),
    Signal(Signal),
}

impl Io for Conn {
    fn state(&mut self) -> &mut State {
        &mut self.state
    }

    /// One read (kept in flight across signals the flow reads on through), and what the
    /// flow makes of it.
    async fn read(&mut self) -> Action {
        let mut buf = self.buf.take().unwrap_or_default();
        buf.clear();
        let mut read = pin!(self.stream.read(buf));
        loop {
            let state = &self.state;
            let woke = until_signal(state, |_| true, read.as_mut()).await;
            let signal = match woke {
                Woke::Done((result, buf)) => {
                    let action = match result {
                        Ok(n) => self.state.input(&buf[..n]),
                        Err(_) => self.state.end(CloseReason::Error),
                    };
                    self.buf = Some(buf);
                    return action;
                }
                Woke::Signal(signal) => signal,
            };
            let action = self.state.on_signal(signal);
            if action == Action::Read {
                continue; // the same read stays in flight
            }
            // It cannot be cancelled: ending the read side ends it, and the buffer returns.
            let _ = self.stream.shutdown(Shutdown::Read);
            self.buf = Some(read.await.1);
            return action;
        }
    }

    /// Shuts down writing once, then reads (and discards) until the peer is done.
    async fn linger(&mut self) -> Action {
        if !self.lingering {
            self.lingering = true;
            if self.stream.shutdown(Shutdown::Write).is_err() {
                return self.state.end(CloseReason::Error);
            }
        }
        self.read().await
    }

    /// Writes all pending output, a write at a time, telling the flow of progress; `false`
    /// if a write failed or the deadline passed without progress (the socket is then
    /// shut down, which ends the write in flight).
    async fn write_out(&mut self) -> bool {
        let mut out = mem::take(&mut self.state.out);
        let mut written = 0;
        while written < out.len() {
            let mut write = pin!(self.stream.write(out.slice(written..)).submit());
            let woke = until_signal(&self.state, Signal::stops_a_write, write.as_mut()).await;
            let (result, slice) = match woke {
                Woke::Done(done) => done,
                Woke::Signal(signal) => {
                    let _ = self.stream.shutdown(Shutdown::Both);
                    drop(write.await);
                    return signal == Signal::Deadline && self.state.ended_by_deadline();
                }
            };
            out = slice.into_inner();
            match result {
                Ok(0) | Err(_) => return false,
                Ok(n) => {
                    written += n;
                    self.state.sent(n);
                }
            }
        }
        self.state.out = out;
        self.state.written();
        true
    }
}

/// Polls `op` until it is done or the worker raises a signal `wanted` accepts; the
/// operation is left in flight in the second case.
async fn until_signal<T>(
    state: &State,
    wanted: impl Fn(Signal) -> bool,
    mut op: std::pin::Pin<&mut impl Future<Output = T>>,
) -> Woke<T> {
    poll_fn(|cx| {
        if let Poll::Ready(done) = op.as_mut().poll(cx) {
            return Poll::Ready(Woke::Done(done));
        }
        state.poll_signal(cx, &wanted).map(Woke::Signal)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returned_buffers_beyond_the_few_kept_are_freed() {
        let buffers = Buffers::new(2048);
        let taken: Vec<Vec<u8>> = (0..1000).map(|_| buffers.take()).collect();
        taken.into_iter().for_each(|b| buffers.give(b));
        assert_eq!(buffers.free.borrow().len(), Buffers::KEEP);
        assert_eq!(buffers.take().capacity(), 2048, "a kept one is reused");
    }
}
