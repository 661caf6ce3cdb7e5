//! One io_uring instance: the setup ladder, every submission, and the completion drain.
//!
//! Holds the submission half of the driver's `unsafe`. Memory handed to the kernel (a
//! send's buffer, a connect's address, a timeout's timespec, an eventfd's counter) is owned
//! by [`Ring`] in one table until the completion that ends its operation is drained; a send's
//! buffer then comes back in [`Completion::sent`]. If the ring is dropped with operations
//! in flight, their memory is leaked rather than freed under the kernel.
//!
//! Submissions never fail: what the queue cannot take now waits, in order, for the next
//! turn, and a close waits for the late operations on its target ([`super::order`]).
#![allow(unsafe_code)]

use std::io;
use std::mem::{self, ManuallyDrop};
use std::net::SocketAddr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::time::Duration;

use io_uring::{IoUring, Submitter, opcode, squeue, types};
use slab::Slab;
use socket2::SockAddr;

use super::bufring::{BufRing, Checkout, Claim};
use super::cursor::SendCursor;
use super::order::Order;
use super::restrict::{self, Allow};
use super::setup::{self, Features, Setup};
use super::target::{Socket, Target};
use super::token::{self, Class, OpKind, Token};

/// An output buffer the kernel may read while the buffer itself is moved around (into
/// and out of the in-flight table): its bytes live at a fixed heap address.
///
/// # Safety
/// `as_ref()` must return the same bytes at the same address for as long as the value
/// lives, however often the value moves, and they must not change.
pub(crate) unsafe trait SendBuf: AsRef<[u8]> {}

// SAFETY: a `Vec`'s bytes are on the heap; moving the `Vec` moves only its pointer, and nothing reallocates or writes it while a send is in flight.
unsafe impl SendBuf for Vec<u8> {}

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

/// An operation whose memory the ring holds until its final completion.
pub(super) struct Owned<K, B> {
    /// The user's token; `None` for the driver's own operations, whose completions it
    /// keeps.
    pub token: Option<Token<K>>,
    pub memory: Memory<B>,
}

/// Held, not read: the kernel reads (or writes) it until the completion. Boxed: a slab
/// entry moves when the slab grows; what the kernel points to must not.
pub(super) enum Memory<B> {
    Send(SendCursor<B>),
    Address(#[allow(dead_code)] Box<SockAddr>),
    Timespec(#[allow(dead_code)] Box<types::Timespec>),
    Counter(#[allow(dead_code)] Box<[u8; 8]>),
    /// No memory: an operation that resolves its target late, which a close waits for.
    Late(Target),
}

/// Completions a wait asks for when it may gather a batch (`Features::min_wait_us`).
const BATCH_WANT: usize = 32;

/// A ring, generic over the user's operation kinds `K` and send buffers `B`.
pub(crate) struct Ring<K, B: SendBuf = Vec<u8>> {
    /// Submits for the ring below, through its registered descriptor where that is on.
    /// INVARIANT: borrows `uring`, which is boxed (it never moves) and dropped after it;
    /// while it exists the ring is reached only through shared references.
    pub(super) submitter: ManuallyDrop<Submitter<'static>>,
    pub(super) uring: ManuallyDrop<Box<IoUring>>,
    setup: Setup,
    pub(super) bufs: Option<BufRing>,
    /// Operations that own memory, keyed per operation: the table follows operations in
    /// flight, not connections open.
    pub(super) owned: Slab<Owned<K, B>>,
    /// Operations whose final completion has not been drained.
    pub(super) in_flight: usize,
    /// `io_uring_enter` calls made to submit, and completions drained, so far.
    pub(super) submit_calls: u64,
    pub(super) completions: u64,
    /// Accepts put connections into the fixed-file table (see [`Ring::register_files`]).
    pub(super) direct: bool,
    /// Entries waiting for room, closes waiting for late operations.
    pub(super) order: Order,
}

impl<K: OpKind, B: SendBuf> Ring<K, B> {
    /// Builds a ring, trying the cheapest task-running mode the kernel accepts, with the
    /// `features` the kernel supports.
    pub(crate) fn new(sq_entries: u32, features: Features) -> io::Result<Self> {
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

    pub(super) fn from_parts(uring: IoUring, setup: Setup) -> Self {
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
            order: Order::default(),
        }
    }

    /// Enables a ring set up disabled, restricted first (where the kernel can) to the
    /// operations `allowed` and the driver's own, with no register operation after this:
    /// everything is registered by now. A ring set up enabled (the kernel had no
    /// `R_DISABLED`) stays unrestricted, and says so in [`Ring::setup`].
    pub(crate) fn enable(&mut self, allowed: &[Allow]) -> io::Result<()> {
        if !self.setup.is_disabled() {
            return Ok(());
        }
        let opcodes = restrict::opcodes(allowed).len();
        let restricted = match self
            .submitter
            .register_restrictions(&mut restrict::restrictions(allowed))
        {
            Ok(()) => Some(opcodes),
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => None,
            Err(e) => return Err(e),
        };
        self.submitter.register_enable_rings()?;
        self.setup = self.setup.enabled(restricted);
        Ok(())
    }

    /// Registers a sparse fixed-file table of `slots`; from then on accepts return slots
    /// of it (direct descriptors) rather than descriptors.
    pub(crate) fn register_files(&mut self, slots: u32) -> io::Result<()> {
        self.submitter.register_files_sparse(slots)?;
        self.direct = true;
        self.setup = self.setup.direct_descriptors();
        Ok(())
    }

    /// `io_uring_enter` calls made to submit, completions drained, and submissions that
    /// found the queue full (and waited for room), so far.
    pub(crate) fn counts(&self) -> (u64, u64, u64) {
        (self.submit_calls, self.completions, self.order.waited())
    }

    /// Receive buffers not in the kernel's hands (reported or checked out), and fixed-file
    /// slots held by connections: both 0 on an idle ring.
    pub(crate) fn in_use(&self) -> (usize, usize) {
        let buffers = self.bufs.as_ref().map_or(0, |b| usize::from(b.in_use()));
        (buffers, self.order.direct_slots())
    }

    /// The setup flags in effect, for the start-up log line.
    pub(crate) fn setup(&self) -> Setup {
        self.setup
    }

    /// Registers the provided buffer ring receives pick from.
    pub(crate) fn register_buffers(&mut self, group: u16, count: u16, size: u32) -> io::Result<()> {
        self.bufs = Some(BufRing::new(&self.submitter, group, count, size)?);
        Ok(())
    }

    /// Claims the receive buffers a completion of this turn filled (`len` bytes, several
    /// buffers for a bundle); dropping the guard returns them to the kernel.
    pub(crate) fn checkout(&mut self, claim: Claim, len: usize) -> Checkout<'_> {
        self.buffers().checkout(claim, len)
    }

    fn buffers(&mut self) -> &mut BufRing {
        self.bufs
            .as_mut()
            .expect("buffers registered before receiving")
    }

    /// Accepts connections on `listener` until cancelled; each completion carries one.
    pub(crate) fn accept_multi(&mut self, listener: RawFd, token: Token<K>) {
        let entry = opcode::AcceptMulti::new(types::Fd(listener))
            .flags(self.accept_flags())
            .allocate_file_index(self.direct)
            .build();
        // SAFETY: accept without an address buffer passes no memory to the kernel.
        unsafe { self.push_counted(entry.user_data(token.encode(Class::Accept))) }
    }

    /// Accepts one connection. On a listener several rings share, re-arming one accept at
    /// a time takes turns: the kernel wakes one exclusive waiter, the oldest, and a
    /// multishot accept stays the oldest for good.
    pub(crate) fn accept_once(&mut self, listener: RawFd, token: Token<K>) {
        let slot = self.direct.then(types::DestinationSlot::auto_target);
        let entry = opcode::Accept::new(types::Fd(listener), ptr::null_mut(), ptr::null_mut())
            .flags(self.accept_flags())
            .file_index(slot)
            .build();
        // SAFETY: no address buffer (both pointers null): no memory passes to the kernel.
        unsafe { self.push_counted(entry.user_data(token.encode(Class::Accept))) }
    }

    /// A direct descriptor has no close-on-exec flag: the kernel refuses the flag for it.
    fn accept_flags(&self) -> i32 {
        if self.direct { 0 } else { libc::SOCK_CLOEXEC }
    }

    /// Receives into the registered buffer ring until cancelled or out of buffers; with
    /// bundles on, a completion may fill several buffers (see [`Ring::checkout`]).
    pub(crate) fn recv_multi(&mut self, on: Target, token: Token<K>) {
        let group = self.buffers().group();
        let entry = if self.setup.is_recv_bundle() {
            on!(on, |t| opcode::RecvMultiBundle::new(t, group).build())
        } else {
            on!(on, |t| opcode::RecvMulti::new(t, group).build())
        };
        let entry = entry.user_data(token.encode(Class::Plain));
        // SAFETY: the kernel writes only into buffers of the registered group, which `self` owns and keeps mapped while any operation is in flight (see `Drop`).
        unsafe { self.push_counted(entry) }
    }

    /// Sends the cursor's remaining bytes; the cursor comes back with the completion.
    pub(crate) fn send(&mut self, on: Target, cursor: SendCursor<B>, token: Token<K>) {
        let rest = cursor.remaining();
        let (ptr, len) = (rest.as_ptr(), u32::try_from(rest.len()).unwrap_or(u32::MAX));
        let entry = on!(on, |t| opcode::Send::new(t, ptr, len)
            .flags(libc::MSG_NOSIGNAL)
            .build());
        // SAFETY: the bytes belong to the cursor, which `push_owned` stores in `self.owned` until the completion ending this send is drained (or leaks in `Drop`); `B: SendBuf` keeps them at one address however the cursor moves.
        unsafe { self.push_owned(entry, Some(token), Memory::Send(cursor)) }
    }

    /// Connects `fd` to `addr`.
    pub(crate) fn connect(&mut self, fd: RawFd, addr: SocketAddr, token: Token<K>) {
        let addr = Box::new(SockAddr::from(addr));
        let entry = opcode::Connect::new(types::Fd(fd), addr.as_ptr().cast(), addr.len()).build();
        // SAFETY: the address is boxed; the box moves into `self.owned` and stays there (at the same heap address) until the completion ending this connect is drained.
        unsafe { self.push_owned(entry, Some(token), Memory::Address(addr)) }
    }

    /// A timer that completes after `after`. Several may be in flight.
    pub(crate) fn timeout(&mut self, after: Duration, token: Token<K>) {
        let timespec = Box::new(types::Timespec::from(after));
        let entry = opcode::Timeout::new(&*timespec).build();
        // SAFETY: the timespec is boxed and kept in `self.owned` until the timeout completes.
        unsafe { self.push_owned(entry, Some(token), Memory::Timespec(timespec)) }
    }

    /// Reads an eventfd's counter; completes when someone writes to it.
    pub(crate) fn read_eventfd(&mut self, eventfd: RawFd, token: Token<K>) {
        let mut counter = Box::new([0u8; 8]);
        let entry = opcode::Read::new(types::Fd(eventfd), counter.as_mut_ptr(), 8).build();
        // SAFETY: the counter is boxed and kept in `self.owned` until the read completes.
        unsafe { self.push_owned(entry, Some(token), Memory::Counter(counter)) }
    }

    /// Cancels the multishot receive submitted with `token`; its own completion reports
    /// the end. Never refused: a full queue submits it at the next turn.
    pub(crate) fn cancel_recv(&mut self, token: Token<K>) {
        self.cancel(token.encode(Class::Plain));
    }

    /// Cancels the multishot accept submitted with `token`; its own completion reports
    /// the end. Never refused.
    pub(crate) fn cancel_accept(&mut self, token: Token<K>) {
        self.cancel(token.encode(Class::Accept));
    }

    pub(super) fn cancel(&mut self, user_data: u64) {
        let entry = opcode::AsyncCancel::new(user_data).build();
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Cancels every operation on `on`; their own completions report the end. Never
    /// refused; it is submitted before any close queued after it.
    pub(crate) fn cancel_fd(&mut self, on: Target) {
        let entry = on!(on, |t| opcode::AsyncCancel2::new(
            types::CancelBuilder::fd(t).all()
        )
        .build());
        // SAFETY: a cancellation passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Shuts down the writing side: the peer sees end of stream after our last byte. The
    /// kernel runs it in io-wq and looks `on` up only then, so a close of `on` waits for
    /// its completion (see [`super::order`]). Never refused.
    pub(crate) fn shutdown_write(&mut self, on: Target) {
        let entry = on!(on, |t| opcode::Shutdown::new(t, libc::SHUT_WR).build());
        let key = self.owned.insert(Owned {
            token: None,
            memory: Memory::Late(on),
        });
        self.order.begin_late(on);
        self.in_flight += 1;
        // SAFETY: shutdown passes no memory to the kernel.
        unsafe { self.push_in_order(entry.user_data(token::owned(key))) }
    }

    /// Closes `socket` asynchronously, once no late operation on it is in flight;
    /// operations still running on it keep their own reference. Never refused.
    pub(crate) fn close(&mut self, socket: Socket) {
        if let Some(socket) = self.order.close_when_free(socket) {
            self.submit_close(socket);
        }
    }

    pub(super) fn submit_close(&mut self, socket: Socket) {
        let entry = on!(socket.target(), |t| opcode::Close::new(t).build());
        match socket {
            Socket::Fixed(_) => self.order.slot_closing(),
            Socket::Fd(fd) => mem::forget(fd), // its ownership moves into the operation
        }
        // SAFETY: close passes no memory to the kernel.
        unsafe { self.push_ignored(entry) }
    }

    /// Submits everything queued and waits for at least one completion. Receive buffers
    /// reported by the previous turn and left unclaimed go back to the kernel first, and
    /// entries that waited for room are queued before anything else.
    pub(crate) fn submit_and_wait(&mut self) -> io::Result<()> {
        if let Some(bufs) = self.bufs.as_mut() {
            bufs.reclaim();
        }
        self.queue_waiting();
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

    /// Moves entries that waited for room into the queue, oldest first; if some still do
    /// not fit, submits once to make room and tries again (what still does not fit waits
    /// for the next turn).
    pub(super) fn queue_waiting(&mut self) {
        if self.queue_backlog() {
            return;
        }
        self.submit_calls += 1;
        let _ = self.submitter.submit();
        self.queue_backlog();
    }

    /// Queues waiting entries while there is room; whether none waits any more.
    fn queue_backlog(&mut self) -> bool {
        while let Some(entry) = self.order.oldest() {
            let entry = entry.clone();
            // SAFETY: a waiting entry's memory stays valid until its completion (see `push_in_order`).
            if unsafe { self.queue(&entry) }.is_err() {
                return false;
            }
            self.order.queued_oldest();
        }
        true
    }

    /// # Safety
    /// Memory `entry` points to is inside `memory`, at an address that stays put when
    /// `memory` moves.
    unsafe fn push_owned(
        &mut self,
        entry: squeue::Entry,
        token: Option<Token<K>>,
        memory: Memory<B>,
    ) {
        let key = self.owned.insert(Owned { token, memory });
        // SAFETY: the memory now lives in `self.owned[key]` until the completion is drained, whether the entry is queued now or waits for room.
        unsafe { self.push_counted(entry.user_data(token::owned(key))) }
    }

    /// # Safety
    /// Memory the entry points to must stay valid until its final completion is drained.
    unsafe fn push_counted(&mut self, entry: squeue::Entry) {
        self.in_flight += 1;
        // SAFETY: forwarded to the caller.
        unsafe { self.push_in_order(entry) }
    }

    /// # Safety
    /// The entry passes no memory to the kernel; its success posts no completion.
    unsafe fn push_ignored(&mut self, entry: squeue::Entry) {
        let entry = entry
            .flags(squeue::Flags::SKIP_SUCCESS)
            .user_data(token::IGNORE);
        // SAFETY: forwarded to the caller.
        unsafe { self.push_in_order(entry) }
    }

    /// Queues `entry` behind any that wait for room; if the queue is full it waits too,
    /// and one submission makes room for what waits. Never refused, never ahead of an
    /// older entry: the order of submission is the order of calls.
    ///
    /// # Safety
    /// Memory the entry points to must stay valid until its final completion is drained
    /// (entries that wait keep pointing into `self.owned`, which does not move them).
    unsafe fn push_in_order(&mut self, entry: squeue::Entry) {
        // SAFETY: forwarded to the caller.
        if !self.order.is_waiting() && unsafe { self.queue(&entry) }.is_ok() {
            return;
        }
        self.order.wait(entry);
        self.queue_waiting();
    }
}

impl<K, B: SendBuf> Ring<K, B> {
    /// Writes `entry` into the submission queue, if it has room.
    ///
    /// # Safety
    /// As [`Ring::push_in_order`].
    unsafe fn queue(&mut self, entry: &squeue::Entry) -> Result<(), QueueFull> {
        // SAFETY: no other submission queue handle exists: each lives only within this call; the entry's memory is the caller's promise.
        unsafe { self.uring.submission_shared().push(entry) }.map_err(|_| QueueFull)
    }
}

/// The submission queue has no room.
#[derive(Debug)]
struct QueueFull;

pub(super) fn transient(e: &io::Error) -> bool {
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
pub(crate) fn eventfd() -> io::Result<OwnedFd> {
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
