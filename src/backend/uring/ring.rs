//! A worker's io_uring instance: the setup ladder and every submission.
//!
//! Holds the submission half of the backend's `unsafe`. A buffer handed to the kernel is
//! owned by [`Ring`] until the completion that ends its operation is drained; only then
//! does it come back (in [`Completion::sent`]). If the ring is dropped with operations in
//! flight, their memory is leaked rather than freed under the kernel.
#![allow(unsafe_code)]

use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use io_uring::{IoUring, cqueue, opcode, squeue, types};
use slab::Slab;
use socket2::SockAddr;

use super::bufring::{BufRing, Checkout};
use super::cursor::SendCursor;
use super::token::{Kind, Token};

/// An output buffer the kernel may read while the buffer itself is moved around (into
/// and out of the in-flight table): its bytes live at a fixed heap address.
///
/// # Safety
/// `as_ref()` must return the same bytes at the same address for as long as the value
/// lives, however often the value moves, and they must not change.
pub unsafe trait SendBuf: AsRef<[u8]> {}

// SAFETY: a `Vec`'s bytes are on the heap; moving the `Vec` moves only its pointer, and nothing reallocates or writes it while a send is in flight.
unsafe impl SendBuf for Vec<u8> {}

/// One drained completion.
#[derive(Debug)]
pub struct Completion<B> {
    pub token: Token,
    pub result: i32,
    pub flags: u32,
    /// A send's buffer, returned with the completion that ends the send.
    pub sent: Option<SendCursor<B>>,
}

impl<B> Completion<B> {
    /// A multishot operation stays armed.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer the kernel filled, if any.
    pub fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

pub struct Ring<B: SendBuf = Vec<u8>> {
    uring: ManuallyDrop<IoUring>,
    setup: &'static str,
    bufs: Option<BufRing>,
    /// In-flight sends: the connection slot and the buffer. Keyed per send, so its size
    /// follows sends in flight, not connections open.
    sends: Slab<(u32, SendCursor<B>)>,
    /// Addresses of connects in flight, keyed per connect, with the connection slot.
    /// Boxed: a slab entry moves when the slab grows; the kernel's pointer must not.
    addrs: Slab<(u32, Box<SockAddr>)>,
    /// Read (copied) by the kernel when a timeout's entry is submitted, not when pushed.
    timespec: Box<types::Timespec>,
    /// A pushed timeout still points at `timespec`: it must be submitted before the
    /// timespec is rewritten.
    timespec_pending: bool,
    /// The eventfd counter lands here. INVARIANT: unused while a wake read is in flight.
    wake_buf: Box<[u8; 8]>,
    /// Operations whose final completion has not been drained.
    in_flight: usize,
}

impl<B: SendBuf> Ring<B> {
    /// Builds a ring, trying the cheapest task-running mode the kernel accepts.
    pub fn new(sq_entries: u32) -> io::Result<Self> {
        let (uring, setup) = build(sq_entries)?;
        let wake_buf = Box::new([0; 8]);
        let timespec = Box::new(types::Timespec::new());
        Ok(Ring {
            uring: ManuallyDrop::new(uring),
            setup,
            bufs: None,
            sends: Slab::new(),
            addrs: Slab::new(),
            timespec,
            timespec_pending: false,
            wake_buf,
            in_flight: 0,
        })
    }

    /// The setup flags in effect, for the start-up log line.
    pub fn setup(&self) -> &'static str {
        self.setup
    }

    /// Registers the worker's provided buffer ring.
    pub fn register_buffers(&mut self, group: u16, count: u16, size: u32) -> io::Result<()> {
        self.bufs = Some(BufRing::new(&self.uring.submitter(), group, count, size)?);
        Ok(())
    }

    /// Waits (a bounded number of turns) until no operation is in flight, handing back
    /// the receive buffers the last completions carry, then unregisters the buffer ring.
    /// The caller has cancelled or closed everything that would keep running.
    pub fn finish(&mut self) -> io::Result<()> {
        let mut batch = Vec::new();
        for _ in 0..1000 {
            if self.in_flight == 0 {
                return self.unregister_buffers();
            }
            self.submit_and_wait()?;
            self.drain(&mut batch);
            for bid in batch.drain(..).filter_map(|c| c.buffer()) {
                drop(self.checkout(bid, 0));
            }
        }
        Err(io::Error::other(
            "operations still in flight at exit; their buffers are leaked",
        ))
    }

    /// Unregisters and frees the buffer ring; only with nothing in flight.
    fn unregister_buffers(&mut self) -> io::Result<()> {
        assert_eq!(
            self.in_flight, 0,
            "buffers stay registered while operations run"
        );
        match self.bufs.take() {
            Some(bufs) => self.uring.submitter().unregister_buf_ring(bufs.group()),
            None => Ok(()),
        }
    }

    /// Takes a filled receive buffer; dropping the guard returns it to the kernel.
    pub fn checkout(&mut self, bid: u16, len: usize) -> Checkout<'_> {
        self.bufs
            .as_mut()
            .expect("buffers registered before receiving")
            .checkout(bid, len)
    }

    pub fn accept_multi(&mut self, listener: RawFd, token: Token) {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(libc::SOCK_CLOEXEC)
            .build();
        // SAFETY: accept without an address buffer passes no memory to the kernel.
        unsafe { self.push(entry, token) };
    }

    pub fn recv_multi(&mut self, fd: RawFd, token: Token) {
        let group = self
            .bufs
            .as_ref()
            .expect("buffers registered before receiving")
            .group();
        let entry = opcode::RecvMulti::new(types::Fd(fd), group).build();
        // SAFETY: the kernel writes only into buffers of the registered group, which `self` owns and keeps mapped while any operation is in flight (see `Drop`).
        unsafe { self.push(entry, token) };
    }

    /// Sends the cursor's remaining bytes for the connection `token` names; the cursor
    /// comes back with the completion, whose token names the connection again.
    pub fn send(&mut self, fd: RawFd, cursor: SendCursor<B>, token: Token) {
        let rest = cursor.remaining();
        let (ptr, len) = (rest.as_ptr(), u32::try_from(rest.len()).unwrap_or(u32::MAX));
        let key = self.sends.insert((token.slot, cursor));
        let entry = opcode::Send::new(types::Fd(fd), ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build();
        // SAFETY: the bytes belong to the cursor now stored in `self.sends[key]`; `B: SendBuf` keeps them at one address however the cursor moves, and the cursor leaves `sends` only when the completion ending this send is drained (or is leaked by `Drop`).
        unsafe { self.push(entry, Token::new(Kind::Send, key, token.generation)) };
    }

    /// Arms a timer that completes after `after`. Several may be in flight.
    pub fn timeout(&mut self, after: Duration, token: Token) {
        if self.timespec_pending {
            // The kernel copies the timespec at submission: hand the earlier entry over first.
            self.submit();
        }
        *self.timespec = types::Timespec::from(after);
        let entry = opcode::Timeout::new(&*self.timespec).build();
        // SAFETY: the timespec is boxed in `self`, and `timespec_pending` keeps it unchanged until this entry is submitted, when the kernel copies it.
        unsafe { self.push(entry, token) };
        self.timespec_pending = true;
    }

    /// Reads the shutdown eventfd; completes when someone writes to it.
    pub fn read_wake(&mut self, eventfd: RawFd, token: Token) {
        let entry = opcode::Read::new(types::Fd(eventfd), self.wake_buf.as_mut_ptr(), 8).build();
        // SAFETY: `wake_buf` is boxed in `self`, lives until the completion (or is leaked by `Drop`), and only one wake read is in flight at a time.
        unsafe { self.push(entry, token) };
    }

    /// Connects `fd` to `addr` for the connection `token` names; the completion's token
    /// names the connection again.
    pub fn connect(&mut self, fd: RawFd, addr: SocketAddr, token: Token) {
        let key = self
            .addrs
            .insert((token.slot, Box::new(SockAddr::from(addr))));
        let addr = &self.addrs[key].1;
        let entry = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len()).build();
        // SAFETY: the address is boxed in `self.addrs[key]`, so it stays put when the slab grows, and it leaves the slab only when the completion ending this connect is drained (or is leaked by `Drop`).
        unsafe { self.push(entry, Token::new(Kind::Connect, key, token.generation)) };
    }

    /// Cancels every operation on `fd`; their own completions report the end.
    pub fn cancel_fd(&mut self, fd: RawFd) {
        let entry =
            opcode::AsyncCancel2::new(types::CancelBuilder::fd(types::Fd(fd)).all()).build();
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_forget(entry) };
    }

    /// Cancels the operation `target`; its own completion reports the end.
    pub fn cancel(&mut self, target: Token) {
        let entry = opcode::AsyncCancel::new(target.encode()).build();
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_forget(entry) };
    }

    /// Shuts down the writing side: the peer sees end of stream after our last byte.
    pub fn shutdown_write(&mut self, fd: RawFd) {
        let entry = opcode::Shutdown::new(types::Fd(fd), libc::SHUT_WR).build();
        // SAFETY: shutdown passes no memory to the kernel.
        unsafe { self.push_forget(entry) };
    }

    /// Closes `fd` asynchronously; operations still running on it keep their own reference.
    pub fn close(&mut self, fd: OwnedFd) {
        let entry = opcode::Close::new(types::Fd(fd.as_raw_fd())).build();
        mem::forget(fd);
        // SAFETY: close passes no memory; the descriptor's ownership moved into this op.
        unsafe { self.push_forget(entry) };
    }

    /// Submits everything queued and waits for at least one completion.
    pub fn submit_and_wait(&mut self) -> io::Result<()> {
        match self.uring.submit_and_wait(1) {
            Ok(_) => {
                self.timespec_pending = false;
                Ok(())
            }
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `into`, attaching returned send buffers.
    pub fn drain(&mut self, into: &mut Vec<Completion<B>>) {
        for cqe in self.uring.completion() {
            let Some(token) = Token::decode(cqe.user_data()) else {
                continue;
            };
            let flags = cqe.flags();
            let ends = !cqueue::more(flags) && token.kind != Kind::Ignore;
            self.in_flight -= usize::from(ends);
            let (token, sent) = match token.kind {
                Kind::Send => {
                    let (slot, cursor) = self.sends.remove(token.slot as usize);
                    (Token { slot, ..token }, Some(cursor))
                }
                Kind::Connect => {
                    let (slot, _addr) = self.addrs.remove(token.slot as usize);
                    (Token { slot, ..token }, None)
                }
                _ => (token, None),
            };
            into.push(Completion {
                token,
                result: cqe.result(),
                flags,
                sent,
            });
        }
    }

    /// # Safety
    /// Memory the entry points to must stay valid until its final completion is drained.
    unsafe fn push(&mut self, entry: squeue::Entry, token: Token) {
        // SAFETY: forwarded to the caller.
        unsafe { self.push_raw(entry.user_data(token.encode())) };
        self.in_flight += 1;
    }

    /// # Safety
    /// As [`Ring::push`]; the operation's success posts no completion.
    unsafe fn push_forget(&mut self, entry: squeue::Entry) {
        let entry = entry
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(Token::global(Kind::Ignore).encode());
        // SAFETY: forwarded to the caller.
        unsafe { self.push_raw(entry) };
    }

    /// # Safety
    /// As [`Ring::push`].
    unsafe fn push_raw(&mut self, entry: squeue::Entry) {
        loop {
            // SAFETY: forwarded to the caller.
            if unsafe { self.uring.submission().push(&entry) }.is_ok() {
                return;
            }
            // A full submission queue is handed to the kernel to make room.
            self.submit();
        }
    }

    /// Hands the queued entries to the kernel without waiting.
    fn submit(&mut self) {
        match self.uring.submit() {
            Ok(_) => self.timespec_pending = false,
            Err(e) => tracing::warn!("io_uring submit failed: {e}"),
        }
    }
}

impl<B: SendBuf> Drop for Ring<B> {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            // The kernel may still touch these; leaking is the only safe release.
            mem::forget(self.bufs.take());
            mem::forget(mem::take(&mut self.sends));
            mem::forget(mem::take(&mut self.addrs));
            mem::forget(mem::replace(&mut self.wake_buf, Box::new([0; 8])));
        }
        // SAFETY: dropped exactly once, here; the buffer ring (if any) is dropped after the ring, when no operation can reach it.
        unsafe { ManuallyDrop::drop(&mut self.uring) };
    }
}

/// The setup ladder: `SINGLE_ISSUER|DEFER_TASKRUN` (6.1+), then `COOP_TASKRUN` (5.19+),
/// then plain; each with `SUBMIT_ALL` and a completion queue four times the submission queue.
fn build(sq_entries: u32) -> io::Result<(IoUring, &'static str)> {
    let cq = sq_entries.saturating_mul(4);
    type Configure = fn(&mut io_uring::Builder);
    let attempts: [(&'static str, Configure); 3] = [
        ("SINGLE_ISSUER|DEFER_TASKRUN|SUBMIT_ALL", |b| {
            b.setup_single_issuer()
                .setup_defer_taskrun()
                .setup_submit_all();
        }),
        ("COOP_TASKRUN|SUBMIT_ALL", |b| {
            b.setup_coop_taskrun().setup_submit_all();
        }),
        ("plain", |_| {}),
    ];
    let mut last = io::Error::from_raw_os_error(libc::EINVAL);
    for (name, configure) in attempts {
        let mut builder = IoUring::builder();
        builder.setup_cqsize(cq);
        configure(&mut builder);
        match builder.build(sq_entries) {
            Ok(ring) => return Ok((ring, name)),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Takes ownership of a descriptor the kernel just returned from an accept.
pub fn adopt_fd(fd: i32) -> OwnedFd {
    assert!(fd >= 0, "only successful accepts carry a descriptor");
    // SAFETY: a successful accept completion hands us a fresh descriptor nothing else owns.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// An eventfd the shutdown path writes to and the worker's ring reads.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; the result is checked before use.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the descriptor was just created and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(test)]
#[path = "ring_tests.rs"]
mod tests;
