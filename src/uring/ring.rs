//! One io_uring instance: the setup ladder, every submission, and the completion drain.
//!
//! Holds the submission half of the driver's `unsafe`. Memory handed to the kernel (a
//! send's buffer, a connect's address, a timeout's timespec, an eventfd's counter) is owned
//! by [`Ring`] in one table until the completion that ends its operation is drained; a send's
//! buffer then comes back in [`Completion::sent`]. If the ring is dropped with operations
//! in flight, their memory is leaked rather than freed under the kernel.
#![allow(unsafe_code)]

use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

use io_uring::{IoUring, Submitter, cqueue, opcode, squeue, types};
use slab::Slab;
use socket2::SockAddr;

use super::bufring::{BufRing, Checkout};
use super::cursor::SendCursor;
use super::setup::{self, Features, Setup};
use super::token::{self, Class, OpKind, Token};

/// An output buffer the kernel may read while the buffer itself is moved around (into
/// and out of the in-flight table): its bytes live at a fixed heap address.
///
/// # Safety
/// `as_ref()` must return the same bytes at the same address for as long as the value
/// lives, however often the value moves, and they must not change.
pub unsafe trait SendBuf: AsRef<[u8]> {}

// SAFETY: a `Vec`'s bytes are on the heap; moving the `Vec` moves only its pointer, and nothing reallocates or writes it while a send is in flight.
unsafe impl SendBuf for Vec<u8> {}

/// What an operation runs on: a descriptor, or a slot of the ring's fixed-file table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Fd(RawFd),
    /// A direct descriptor: the kernel skips the descriptor lookup.
    Fixed(u32),
}

/// An accepted connection, owned: a descriptor, or a slot of the fixed-file table (which
/// only the ring's [`Ring::close`] releases; dropped otherwise, the slot stays taken).
#[derive(Debug)]
pub enum Socket {
    Fd(OwnedFd),
    Fixed(u32),
}

impl Socket {
    pub fn target(&self) -> Target {
        match self {
            Socket::Fd(fd) => Target::Fd(fd.as_raw_fd()),
            Socket::Fixed(slot) => Target::Fixed(*slot),
        }
    }
}

/// Builds an opcode on `target`, as a descriptor or as a fixed-file slot.
macro_rules! on {
    ($target:expr, |$t:ident| $build:expr) => {
        match $target {
            Target::Fd(fd) => {
                let $t = types::Fd(fd);
                $build
            }
            Target::Fixed(slot) => {
                let $t = types::Fixed(slot);
                $build
            }
        }
    };
}

/// One drained completion.
#[derive(Debug)]
pub struct Completion<K, B> {
    /// The token the operation was submitted with.
    pub token: Token<K>,
    pub result: i32,
    flags: u32,
    /// A send's buffer, returned with the completion that ends the send.
    pub sent: Option<SendCursor<B>>,
    /// The connection a successful accept returned, owned from here on.
    pub accepted: Option<Socket>,
}

impl<K, B> Completion<K, B> {
    /// A multishot operation stays armed.
    pub fn more(&self) -> bool {
        cqueue::more(self.flags)
    }

    /// The provided buffer the kernel filled, if any: claim it with [`Ring::checkout`]
    /// before the next [`Ring::submit_and_wait`], or it goes back to the kernel unread.
    pub fn buffer(&self) -> Option<u16> {
        cqueue::buffer_select(self.flags)
    }
}

/// An operation whose memory the ring holds until its final completion.
struct Owned<K, B> {
    token: Token<K>,
    memory: Memory<B>,
}

/// Held, not read: the kernel reads (or writes) it until the completion. Boxed: a slab
/// entry moves when the slab grows; what the kernel points to must not.
enum Memory<B> {
    Send(SendCursor<B>),
    Address(#[allow(dead_code)] Box<SockAddr>),
    Timespec(#[allow(dead_code)] Box<types::Timespec>),
    Counter(#[allow(dead_code)] Box<[u8; 8]>),
}

/// Completions a wait asks for when it may gather a batch (`Features::min_wait_us`).
const BATCH_WANT: usize = 32;

/// A ring, generic over the user's operation kinds `K` and send buffers `B`.
pub struct Ring<K, B: SendBuf = Vec<u8>> {
    /// Submits for the ring below, through its registered descriptor where that is on.
    /// INVARIANT: borrows `uring`, which is boxed (it never moves) and dropped after it;
    /// while it exists the ring is reached only through shared references.
    submitter: ManuallyDrop<Submitter<'static>>,
    uring: ManuallyDrop<Box<IoUring>>,
    setup: Setup,
    bufs: Option<BufRing>,
    /// Operations that own memory, keyed per operation: the table follows operations in
    /// flight, not connections open.
    owned: Slab<Owned<K, B>>,
    /// Operations whose final completion has not been drained.
    in_flight: usize,
    /// `io_uring_enter` calls made to submit, and completions drained, so far.
    submit_calls: u64,
    completions: u64,
    /// Accepts put connections into the fixed-file table (see [`Ring::register_files`]).
    direct: bool,
}

impl<K: OpKind, B: SendBuf> Ring<K, B> {
    /// Builds a ring, trying the cheapest task-running mode the kernel accepts, with the
    /// `features` the kernel supports.
    pub fn new(sq_entries: u32, features: Features) -> io::Result<Self> {
        let (uring, setup) = setup::build(sq_entries, features)?;
        let mut ring = Ring::from_parts(uring, setup);
        if features.ring_fd && ring.submitter.register_ring_fd().is_ok() {
            ring.setup = ring.setup.registered_ring_fd();
        }
        if features.min_wait_us > 0 && ring.uring.params().is_feature_min_timeout() {
            ring.setup = ring.setup.min_wait(features.min_wait_us);
        }
        if features.recv_bundle && ring.uring.params().is_feature_recvsend_bundle() {
            ring.setup = ring.setup.recv_bundle();
        }
        Ok(ring)
    }

    fn from_parts(uring: IoUring, setup: Setup) -> Self {
        let uring = Box::new(uring);
        let borrowed = uring.submitter();
        // SAFETY: the submitter borrows the boxed ring, which stays at its address, is reached only through shared references from here on, and is dropped after the submitter (see `Drop`).
        let submitter = unsafe { mem::transmute::<Submitter<'_>, Submitter<'static>>(borrowed) };
        Ring {
            submitter: ManuallyDrop::new(submitter),
            uring: ManuallyDrop::new(uring),
            setup,
            bufs: None,
            owned: Slab::new(),
            in_flight: 0,
            submit_calls: 0,
            completions: 0,
            direct: false,
        }
    }

    /// Registers a sparse fixed-file table of `slots`; from then on accepts return slots
    /// of it (direct descriptors) rather than descriptors.
    pub fn register_files(&mut self, slots: u32) -> io::Result<()> {
        self.submitter.register_files_sparse(slots)?;
        self.direct = true;
        self.setup = self.setup.direct_descriptors();
        Ok(())
    }

    /// `io_uring_enter` calls made to submit, and completions drained, so far.
    pub fn counts(&self) -> (u64, u64) {
        (self.submit_calls, self.completions)
    }

    /// The setup flags in effect, for the start-up log line.
    pub fn setup(&self) -> Setup {
        self.setup
    }

    /// Registers the provided buffer ring receives pick from.
    pub fn register_buffers(&mut self, group: u16, count: u16, size: u32) -> io::Result<()> {
        self.bufs = Some(BufRing::new(&self.submitter, group, count, size)?);
        Ok(())
    }

    /// Claims the receive buffers a completion of this turn reported (`len` bytes from
    /// buffer `bid` on: several for a bundle); dropping the guard returns them to the
    /// kernel.
    pub fn checkout(&mut self, bid: u16, len: usize) -> Checkout<'_> {
        self.buffers().checkout(bid, len)
    }

    fn buffers(&mut self) -> &mut BufRing {
        self.bufs
            .as_mut()
            .expect("buffers registered before receiving")
    }

    /// Accepts connections on `listener` until cancelled; each completion carries one.
    pub fn accept_multi(&mut self, listener: RawFd, token: Token<K>) -> io::Result<()> {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(self.accept_flags())
            .allocate_file_index(self.direct)
            .build();
        // SAFETY: accept without an address buffer passes no memory to the kernel.
        unsafe { self.push_counted(&entry.user_data(token.encode(Class::Accept))) }
    }

    /// Accepts one connection. On a listener several rings share, re-arming one accept at
    /// a time takes turns: the kernel wakes one exclusive waiter, the oldest, and a
    /// multishot accept stays the oldest for good.
    pub fn accept_once(&mut self, listener: RawFd, token: Token<K>) -> io::Result<()> {
        let slot = self.direct.then(types::DestinationSlot::auto_target);
        let entry = opcode::Accept::new(types::Fd(listener), ptr::null_mut(), ptr::null_mut())
            .flags(self.accept_flags())
            .file_index(slot)
            .build();
        // SAFETY: no address buffer (both pointers null): no memory passes to the kernel.
        unsafe { self.push_counted(&entry.user_data(token.encode(Class::Accept))) }
    }

    /// A direct descriptor has no close-on-exec flag: the kernel refuses the flag for it.
    fn accept_flags(&self) -> i32 {
        if self.direct { 0 } else { libc::SOCK_CLOEXEC }
    }

    /// Receives into the registered buffer ring until cancelled or out of buffers; with
    /// bundles on, a completion may fill several buffers (see [`Ring::checkout`]).
    pub fn recv_multi(&mut self, on: Target, token: Token<K>) -> io::Result<()> {
        let group = self.buffers().group();
        let entry = if self.setup.is_recv_bundle() {
            on!(on, |t| opcode::RecvMultiBundle::new(t, group).build())
        } else {
            on!(on, |t| opcode::RecvMulti::new(t, group).build())
        };
        let entry = entry.user_data(token.encode(Class::Plain));
        // SAFETY: the kernel writes only into buffers of the registered group, which `self` owns and keeps mapped while any operation is in flight (see `Drop`).
        unsafe { self.push_counted(&entry) }
    }

    /// Sends the cursor's remaining bytes; the cursor comes back with the completion.
    pub fn send(&mut self, on: Target, cursor: SendCursor<B>, token: Token<K>) -> io::Result<()> {
        let rest = cursor.remaining();
        let (ptr, len) = (rest.as_ptr(), u32::try_from(rest.len()).unwrap_or(u32::MAX));
        let entry = on!(on, |t| opcode::Send::new(t, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build());
        // SAFETY: the bytes belong to the cursor, which `push_owned` stores in `self.owned` until the completion ending this send is drained (or leaks in `Drop`); `B: SendBuf` keeps them at one address however the cursor moves.
        unsafe { self.push_owned(entry, token, Memory::Send(cursor)) }
    }

    /// Connects `fd` to `addr`.
    pub fn connect(&mut self, fd: RawFd, addr: SocketAddr, token: Token<K>) -> io::Result<()> {
        let addr = Box::new(SockAddr::from(addr));
        let entry = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len()).build();
        // SAFETY: the address is boxed; the box moves into `self.owned` and stays there (at the same heap address) until the completion ending this connect is drained.
        unsafe { self.push_owned(entry, token, Memory::Address(addr)) }
    }

    /// A timer that completes after `after`. Several may be in flight.
    pub fn timeout(&mut self, after: Duration, token: Token<K>) -> io::Result<()> {
        let timespec = Box::new(types::Timespec::from(after));
        let entry = opcode::Timeout::new(&*timespec).build();
        // SAFETY: the timespec is boxed and kept in `self.owned` until the timeout completes.
        unsafe { self.push_owned(entry, token, Memory::Timespec(timespec)) }
    }

    /// Reads an eventfd's counter; completes when someone writes to it.
    pub fn read_eventfd(&mut self, eventfd: RawFd, token: Token<K>) -> io::Result<()> {
        let mut counter = Box::new([0u8; 8]);
        let entry = opcode::Read::new(types::Fd(eventfd), counter.as_mut_ptr(), 8).build();
        // SAFETY: the counter is boxed and kept in `self.owned` until the read completes.
        unsafe { self.push_owned(entry, token, Memory::Counter(counter)) }
    }

    /// Cancels the multishot receive submitted with `token`; its own completion reports
    /// the end.
    pub fn cancel_recv(&mut self, token: Token<K>) -> io::Result<()> {
        self.cancel(token.encode(Class::Plain))
    }

    /// Cancels the multishot accept submitted with `token`; its own completion reports
    /// the end.
    pub fn cancel_accept(&mut self, token: Token<K>) -> io::Result<()> {
        self.cancel(token.encode(Class::Accept))
    }

    fn cancel(&mut self, user_data: u64) -> io::Result<()> {
        let entry = opcode::AsyncCancel::new(user_data).build();
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Cancels every operation on `fd`; their own completions report the end.
    pub fn cancel_fd(&mut self, on: Target) -> io::Result<()> {
        let entry = on!(on, |t| opcode::AsyncCancel2::new(
            types::CancelBuilder::fd(t).all()
        )
        .build());
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Shuts down the writing side: the peer sees end of stream after our last byte.
    pub fn shutdown_write(&mut self, on: Target) -> io::Result<()> {
        let entry = on!(on, |t| opcode::Shutdown::new(t, libc::SHUT_WR).build());
        // SAFETY: shutdown passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Closes `socket` asynchronously (a descriptor synchronously if the queue cannot take
    /// it); operations still running on it keep their own reference.
    pub fn close(&mut self, socket: Socket) {
        let entry = on!(socket.target(), |t| opcode::Close::new(t).build());
        // SAFETY: close passes no memory to the kernel.
        if unsafe { self.push_ignored(entry) }.is_ok() {
            mem::forget(socket); // its ownership moved into the operation
        }
    }

    /// Submits everything queued and waits for at least one completion. Receive buffers
    /// reported by the previous turn and left unclaimed go back to the kernel first.
    pub fn submit_and_wait(&mut self) -> io::Result<()> {
        if let Some(bufs) = self.bufs.as_mut() {
            bufs.reclaim();
        }
        self.submit_calls += 1;
        let submitted = match self.setup.min_wait_us() {
            0 => self.submitter.submit_and_wait(1),
            us => {
                let args = types::SubmitArgs::new().min_wait_usec(us);
                self.submitter.submit_with_args(BATCH_WANT, &args)
            }
        };
        match submitted {
            Ok(_) => Ok(()),
            Err(e) if transient(&e) || e.raw_os_error() == Some(libc::ETIME) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Moves every available completion into `into`.
    pub fn drain(&mut self, into: &mut Vec<Completion<K, B>>) {
        let Ring {
            uring,
            bufs,
            owned,
            in_flight,
            completions,
            direct,
            ..
        } = self;
        // SAFETY: no other completion queue handle exists: this is the only place one is made, and it ends with the loop.
        for cqe in unsafe { uring.completion_shared() } {
            *completions += 1;
            let flags = cqe.flags();
            if let (Some(bid), Some(bufs)) = (cqueue::buffer_select(flags), bufs.as_mut()) {
                bufs.report(bid, cqe.result());
            }
            let user_data = cqe.user_data();
            if token::class_of(user_data) != Class::Ignore && !cqueue::more(flags) {
                *in_flight -= 1;
            }
            into.extend(completion(owned, &cqe, *direct));
        }
    }

    /// Waits (a bounded number of turns) until nothing is in flight, then unregisters the
    /// buffer ring. Timers and eventfd reads still armed are cancelled here; the caller
    /// has closed (or cancelled) everything else that would keep running.
    pub fn finish(&mut self) -> io::Result<()> {
        let waiting: Vec<usize> = self
            .owned
            .iter()
            .filter(|(_, op)| matches!(op.memory, Memory::Timespec(_) | Memory::Counter(_)))
            .map(|(key, _)| key)
            .collect();
        for key in waiting {
            self.cancel(token::owned(key))?;
        }
        let mut batch = Vec::new();
        for _ in 0..1000 {
            if self.in_flight == 0 {
                return self.unregister_buffers();
            }
            self.submit_and_wait()?;
            self.drain(&mut batch);
            batch.clear();
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
            Some(bufs) => self.submitter.unregister_buf_ring(bufs.group()),
            None => Ok(()),
        }
    }

    /// # Safety
    /// Memory `entry` points to is inside `memory`, at an address that stays put when
    /// `memory` moves.
    unsafe fn push_owned(
        &mut self,
        entry: squeue::Entry,
        token: Token<K>,
        memory: Memory<B>,
    ) -> io::Result<()> {
        let key = self.owned.insert(Owned { token, memory });
        let entry = entry.user_data(token::owned(key));
        // SAFETY: the memory now lives in `self.owned[key]` until the completion is drained.
        let pushed = unsafe { self.push_counted(&entry) };
        if pushed.is_err() {
            self.owned.remove(key); // never reached the kernel
        }
        pushed
    }

    /// # Safety
    /// Memory the entry points to must stay valid until its final completion is drained.
    unsafe fn push_counted(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: forwarded to the caller.
        unsafe { self.push(entry) }?;
        self.in_flight += 1;
        Ok(())
    }

    /// # Safety
    /// As [`Ring::push_counted`]; the operation's success posts no completion.
    unsafe fn push_ignored(&mut self, entry: squeue::Entry) -> io::Result<()> {
        let entry = entry
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(token::IGNORE);
        // SAFETY: forwarded to the caller.
        unsafe { self.push(&entry) }
    }

    /// Queues `entry`; a full queue is handed to the kernel once to make room. If it is
    /// still full (the kernel refused the submission), the error says so: a bounded
    /// attempt, never a spin.
    ///
    /// # Safety
    /// As [`Ring::push_counted`].
    unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: forwarded to the caller.
        if unsafe { self.queue(entry) }.is_ok() {
            return Ok(());
        }
        self.submit_calls += 1;
        let submitted = self.submitter.submit();
        // SAFETY: forwarded to the caller.
        if unsafe { self.queue(entry) }.is_ok() {
            return Ok(());
        }
        Err(match submitted {
            Err(e) => io::Error::new(e.kind(), format!("io_uring submission failed: {e}")),
            Ok(_) => io::Error::other("the io_uring submission queue stays full"),
        })
    }
}

impl<K, B: SendBuf> Ring<K, B> {
    /// Writes `entry` into the submission queue, if it has room.
    ///
    /// # Safety
    /// As [`Ring::push_counted`].
    unsafe fn queue(&mut self, entry: &squeue::Entry) -> Result<(), squeue::PushError> {
        // SAFETY: no other submission queue handle exists: each lives only within this call; the entry's memory is the caller's promise.
        unsafe { self.uring.submission_shared().push(entry) }
    }
}

/// The completion for `user_data`, or `None` for a dropped fire-and-forget failure.
fn completion<K: OpKind, B>(
    owned: &mut Slab<Owned<K, B>>,
    cqe: &cqueue::Entry,
    direct: bool,
) -> Option<Completion<K, B>> {
    let (user_data, result, flags) = (cqe.user_data(), cqe.result(), cqe.flags());
    let (token, sent, accepted) = match token::class_of(user_data) {
        Class::Ignore => return None,
        Class::Owned => {
            let op = owned.remove(user_data as u32 as usize);
            let sent = match op.memory {
                Memory::Send(cursor) => Some(cursor),
                _ => None,
            };
            (op.token, sent, None)
        }
        Class::Plain => (Token::decode(user_data)?, None, None),
        Class::Accept => (Token::decode(user_data)?, None, adopt(result, direct)),
    };
    Some(Completion {
        token,
        result,
        flags,
        sent,
        accepted,
    })
}

/// Takes ownership of what a successful accept returned: a slot of the fixed-file table
/// for a direct accept, else a descriptor.
fn adopt(result: i32, direct: bool) -> Option<Socket> {
    let n = u32::try_from(result).ok()?;
    if direct {
        return Some(Socket::Fixed(n));
    }
    // SAFETY: an accept completion's non-negative result is a fresh descriptor nothing else owns; it is adopted here once, as the completion is drained.
    Some(Socket::Fd(unsafe { OwnedFd::from_raw_fd(result) }))
}

fn transient(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EINTR | libc::EBUSY | libc::EAGAIN)
    )
}

impl<K, B: SendBuf> Drop for Ring<K, B> {
    fn drop(&mut self) {
        if self.in_flight > 0 {
            // The kernel may still touch these; leaking is the only safe release.
            mem::forget(self.bufs.take());
            mem::forget(mem::take(&mut self.owned));
        }
        // SAFETY: dropped exactly once, here, before the ring it borrows.
        unsafe { ManuallyDrop::drop(&mut self.submitter) };
        // SAFETY: dropped exactly once, here, after the submitter; the buffer ring (if any) is dropped after the ring, when no operation can reach it.
        unsafe { ManuallyDrop::drop(&mut self.uring) };
    }
}

/// An eventfd another thread writes to and a ring reads, to wake that ring.
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
