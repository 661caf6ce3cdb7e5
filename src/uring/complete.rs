//! The completion side of [`Ring`]: draining completions (with the buffers a receive
//! filled, recorded as it is reaped, and the memory an operation owned), ending the
//! driver's own operations, and finishing a ring with nothing left in flight.
#![allow(unsafe_code)]

use std::io;
use std::os::fd::{FromRawFd, OwnedFd};

use io_uring::cqueue;
use slab::Slab;

use super::bufring::{BufRing, Claim};
use super::cursor::SendCursor;
use super::order::Order;
use super::ring::{Memory, Owned, Ring, SendBuf};
use super::target::Socket;
use super::token::{self, Class, OpKind, Token};

/// One drained completion.
#[derive(Debug)]
pub(crate) struct Completion<K, B> {
    /// The token the operation was submitted with.
    pub token: Token<K>,
    pub result: i32,
    flags: u32,
    /// The receive buffers it filled, recorded as it was reaped.
    buffers: Option<Claim>,
    /// A send's buffer, returned with the completion that ends the send.
    pub sent: Option<SendCursor<B>>,
    /// The connection a successful accept returned, owned from here on.
    pub accepted: Option<Socket>,
}

impl<K, B> Completion<K, B> {
    /// A multishot operation stays armed.
    pub(crate) fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffers the kernel filled, if any: claim them with [`Ring::checkout`]
    /// before the next [`Ring::submit_and_wait`], or they go back to the kernel unread.
    pub(crate) fn buffers(&self) -> Option<Claim> {
        self.buffers
    }
}

impl<K: OpKind, B: SendBuf> Ring<K, B> {
    /// Moves every available completion into `into`. The driver's own operations end
    /// here (a close that waited for one is submitted) and are not handed over.
    pub(crate) fn drain(&mut self, into: &mut Vec<Completion<K, B>>) {
        let mut freed = Vec::new();
        let Ring {
            uring,
            bufs,
            owned,
            in_flight,
            completions,
            direct,
            order,
            ..
        } = self;
        // SAFETY: no other completion queue handle exists: this is the only place one is made, and it ends with the loop.
        for cqe in unsafe { uring.completion_shared() } {
            *completions += 1;
            let user_data = cqe.user_data();
            if token::class_of(user_data) != Class::Ignore && !cqueue::more(cqe.flags()) {
                *in_flight -= 1;
            }
            let reaped = Reaped {
                cqe: &cqe,
                direct: *direct,
            };
            match reaped.into_completion(owned, bufs.as_mut(), order) {
                Outcome::User(c) => into.push(c),
                Outcome::Freed(socket) => freed.push(socket),
                Outcome::Nothing => {}
            }
        }
        freed
            .into_iter()
            .for_each(|socket| self.submit_close(socket));
    }

    /// Waits (a bounded number of turns) until nothing is in flight and nothing waits to
    /// be submitted. Timers and eventfd reads still
    /// armed are cancelled here; the caller has closed (or cancelled) everything else that
    /// would keep running.
    pub(crate) fn finish(&mut self) -> io::Result<()> {
        let waiting: Vec<usize> = self
            .owned
            .iter()
            .filter(|(_, op)| matches!(op.memory, Memory::Timespec(_) | Memory::Counter(_)))
            .map(|(key, _)| key)
            .collect();
        for key in waiting {
            self.cancel(token::owned(key));
        }
        let mut batch = Vec::new();
        for _ in 0..1000 {
            if self.in_flight == 0 {
                self.submit_waiting()?;
                if !self.order.is_waiting() {
                    return self.finished();
                }
                continue;
            }
            self.submit_and_wait()?;
            self.drain(&mut batch);
            batch.clear();
        }
        Err(io::Error::other(
            "operations still in flight at exit; their buffers are leaked",
        ))
    }

    /// Submits what waits for room (closes, cancels) without waiting for completions:
    /// fire-and-forget entries post none.
    fn submit_waiting(&mut self) -> io::Result<()> {
        if let Some(bufs) = self.bufs.as_mut() {
            bufs.reclaim();
        }
        self.queue_waiting();
        self.submit_calls += 1;
        self.submitter.submit().map(drop)
    }

    /// Nothing is in flight: the buffer ring goes with the ring (a restricted ring may
    /// not unregister it, and need not: see `Mapping`'s `Drop`).
    fn finished(&mut self) -> io::Result<()> {
        assert_eq!(self.in_flight, 0, "finished with operations in flight");
        debug_assert_eq!(self.order.held_closes(), 0, "a close still waits");
        Ok(())
    }
}

/// A completion as it is reaped.
struct Reaped<'a> {
    cqe: &'a cqueue::Entry,
    direct: bool,
}

/// What a reaped completion comes to.
enum Outcome<K, B> {
    /// The user's.
    User(Completion<K, B>),
    /// The driver's own operation ended, freeing a socket whose close waited for it.
    Freed(Socket),
    /// A fire-and-forget failure, or the driver's own operation: dropped.
    Nothing,
}

impl Reaped<'_> {
    fn into_completion<K: OpKind, B>(
        self,
        owned: &mut Slab<Owned<K, B>>,
        bufs: Option<&mut BufRing>,
        order: &mut Order,
    ) -> Outcome<K, B> {
        let (user_data, result, flags) =
            (self.cqe.user_data(), self.cqe.result(), self.cqe.flags());
        let buffers = match (cqueue::buffer_select(flags), bufs) {
            (Some(bid), Some(bufs)) => Some(bufs.report(bid, result)),
            _ => None,
        };
        let (token, sent, accepted) = match token::class_of(user_data) {
            Class::Ignore => return Outcome::Nothing,
            Class::Owned => match owned.remove(user_data as u32 as usize) {
                Owned {
                    token: Some(token),
                    memory,
                } => (Some(token), sent_of(memory), None),
                driver_own => return end_own(driver_own, order),
            },
            Class::Plain => (Token::decode(user_data), None, None),
            Class::Accept => (Token::decode(user_data), None, self.adopt(order)),
        };
        let Some(token) = token else {
            return Outcome::Nothing;
        };
        Outcome::User(Completion {
            token,
            result,
            flags,
            buffers,
            sent,
            accepted,
        })
    }

    /// Takes ownership of what a successful accept returned: a slot of the fixed-file
    /// table for a direct accept, else a descriptor.
    fn adopt(&self, order: &mut Order) -> Option<Socket> {
        let result = self.cqe.result();
        let n = u32::try_from(result).ok()?;
        if self.direct {
            order.slot_taken();
            return Some(Socket::Fixed(n));
        }
        // SAFETY: an accept completion's non-negative result is a fresh descriptor nothing else owns; it is adopted here once, as the completion is drained.
        Some(Socket::Fd(unsafe { OwnedFd::from_raw_fd(result) }))
    }
}

/// One of the driver's own operations ended: a late one may free a close that waited.
fn end_own<K, B>(op: Owned<K, B>, order: &mut Order) -> Outcome<K, B> {
    match op.memory {
        Memory::Late(target) => order
            .end_late(target)
            .map_or(Outcome::Nothing, Outcome::Freed),
        _ => Outcome::Nothing,
    }
}

/// A send's cursor, returned with its completion; other memory is freed here.
fn sent_of<B>(memory: Memory<B>) -> Option<SendCursor<B>> {
    match memory {
        Memory::Send(cursor) => Some(cursor),
        _ => None,
    }
}
