//! A worker's provided buffer ring: the memory the kernel picks receive buffers from.
//!
//! Holds the buffer-ring half of the driver's `unsafe`. Every buffer is at any time
//! published to the kernel, reported filled by a completion (and not yet claimed), or
//! checked out to exactly one reader ([`Checkout`]), whose `Drop` hands it back exactly
//! once. A reported buffer nobody claims goes back at the next [`BufRing::reclaim`], so no
//! caller can leak one. `state` records which, and is checked.
//!
//! A bundle receive (`IORING_RECVSEND_BUNDLE`) fills several buffers with one completion,
//! which names only the first; the kernel takes buffers in the order they were published,
//! so the others are the ones published after it. Which those were is our own record, not
//! the shared ring's entries: `after[b]` is the buffer published right after `b`'s latest
//! publish. A bundle's links stay true until its own buffers are published again, which
//! only its claim (or the reclaim) does, so they hold whatever order completions are
//! reaped or handled in. The ids are read from the links once, when the completion is
//! reaped ([`BufRing::report`]), and travel in its [`Claim`]; the ring's entries are never
//! read back.
#![allow(unsafe_code)]

use std::io;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicU16, Ordering};

use io_uring::Submitter;
use io_uring::types::BufRingEntry;

/// One anonymous private mapping, unmapped on drop.
struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    fn new(len: usize) -> io::Result<Mapping> {
        // SAFETY: an anonymous private mapping at an address the kernel picks aliases nothing; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(ptr.cast()).ok_or_else(|| io::Error::other("mmap returned null"))?;
        Ok(Mapping { ptr, len })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` came from one successful mmap; the owner (`BufRing`, itself owned by `Ring`) is dropped only with no operation in flight (`Ring::drop` forgets it otherwise) and after the ring's descriptor is closed; the kernel pinned these pages when the buffer ring was registered and unpins them itself, so unmapping our view of them here leaves it nothing to touch.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub(super) struct BufRing {
    /// `count` ring entries shared with the kernel; entry 0's reserved field is the tail.
    entries: Mapping,
    /// `count` buffers of `size` bytes. INVARIANT: buffer `bid` is `[bid*size, (bid+1)*size)`.
    memory: Mapping,
    count: u16,
    size: u32,
    /// Our copy of the tail, published to the kernel after each entry is written.
    tail: u16,
    /// Where each buffer is.
    state: Vec<State>,
    /// `after[b]`: the buffer published right after `b` was last published.
    /// INVARIANT: true for every buffer the kernel holds or a completion reported, since
    /// neither has been published again.
    after: Vec<u16>,
    /// The buffer published last, whose successor the next publish records.
    last: Option<u16>,
    /// Buffers in `State::Kernel`.
    in_kernel: u16,
    /// The ids completions of this turn reported, in reaping order; a [`Claim`] is a range
    /// of it. Emptied (unclaimed ones published again) by [`BufRing::reclaim`].
    reaped: Vec<u16>,
    /// Counts reclaims, so a claim from an earlier turn is refused.
    turn: u32,
    group: u16,
}

/// Where a buffer is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Published: the kernel may fill it.
    Kernel,
    /// A completion said the kernel filled it; nobody has claimed it yet.
    Reported,
    /// Claimed by a [`Checkout`].
    CheckedOut,
}

/// The buffers one completion filled, recorded as it was reaped: claim them with
/// [`BufRing::checkout`] within the same turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Claim {
    turn: u32,
    /// INVARIANT: `reaped[at..at + count]` of the turn `turn` holds the ids, in order.
    at: u32,
    count: u16,
}

impl BufRing {
    /// Maps and registers `count` buffers of `size` bytes as buffer group `group`.
    pub(super) fn new(
        submitter: &Submitter<'_>,
        group: u16,
        count: u16,
        size: u32,
    ) -> io::Result<BufRing> {
        if !count.is_power_of_two() || count > 32768 || size == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "receive buffers: a power of two up to 32768, size above 0",
            ));
        }
        let entries = Mapping::new(usize::from(count) * size_of::<BufRingEntry>())?;
        let memory = Mapping::new(usize::from(count) * size as usize)?;
        let mut ring = BufRing {
            entries,
            memory,
            count,
            size,
            tail: 0,
            state: vec![State::CheckedOut; count.into()],
            after: vec![0; count.into()],
            last: None,
            in_kernel: 0,
            reaped: Vec::new(),
            turn: 0,
            group,
        };
        (0..count).for_each(|bid| ring.publish(bid));
        // SAFETY: the entries mapping is page-aligned, holds `count` entries, and lives as long as `self`, which `Ring` keeps until the ring is gone or unregisters it first.
        unsafe {
            submitter.register_buf_ring_with_flags(
                ring.entries.ptr.as_ptr() as u64,
                count,
                group,
                0,
            )?
        };
        Ok(ring)
    }

    pub(super) fn group(&self) -> u16 {
        self.group
    }

    /// Buffers not in the kernel's hands: reported, or checked out.
    pub(super) fn in_use(&self) -> u16 {
        self.count - self.in_kernel
    }

    /// A completion with result `result` reported buffer `bid`, the first of as many as
    /// the bytes fill (more than one only for a bundle): ours until claimed or reclaimed.
    /// Records which buffers they are, from our links, now.
    pub(super) fn report(&mut self, bid: u16, result: i32) -> Claim {
        assert!(
            bid < self.count,
            "kernel reported buffer {bid} of {}",
            self.count
        );
        let count = self.buffers_for(usize::try_from(result).unwrap_or(0));
        let at = u32::try_from(self.reaped.len()).expect("fewer than 2^32 buffers a turn");
        let mut next = bid;
        for _ in 0..count {
            let state = &mut self.state[usize::from(next)];
            assert_eq!(*state, State::Kernel, "buffer {next} reported twice");
            *state = State::Reported;
            self.in_kernel -= 1;
            self.reaped.push(next);
            next = self.after[usize::from(next)];
        }
        Claim {
            turn: self.turn,
            at,
            count,
        }
    }

    /// Claims the reported buffers of `claim`, which a completion filled with `len` bytes.
    pub(super) fn checkout(&mut self, claim: Claim, len: usize) -> Checkout<'_> {
        assert_eq!(claim.turn, self.turn, "a claim from an earlier turn");
        assert!(
            self.buffers_for(len) == claim.count,
            "{len} bytes in {} buffers",
            claim.count
        );
        for i in claim.range() {
            let bid = self.reaped[i];
            let state = &mut self.state[usize::from(bid)];
            assert_eq!(
                *state,
                State::Reported,
                "buffer {bid} claimed but not reported"
            );
            *state = State::CheckedOut;
        }
        Checkout {
            ring: self,
            claim,
            len,
        }
    }

    /// Buffers `len` received bytes fill: at least the one a completion names.
    fn buffers_for(&self, len: usize) -> u16 {
        let buffers = len.div_ceil(self.size as usize).max(1);
        u16::try_from(buffers).unwrap_or(u16::MAX)
    }

    /// Hands every reported, unclaimed buffer back to the kernel; claims of this turn end.
    pub(super) fn reclaim(&mut self) {
        for i in 0..self.reaped.len() {
            let bid = self.reaped[i];
            if self.state[usize::from(bid)] == State::Reported {
                self.state[usize::from(bid)] = State::CheckedOut;
                self.publish(bid);
            }
        }
        self.reaped.clear();
        self.turn = self.turn.wrapping_add(1);
    }

    /// Writes buffer `bid` into the next ring entry and publishes the new tail.
    fn publish(&mut self, bid: u16) {
        let state = std::mem::replace(&mut self.state[usize::from(bid)], State::Kernel);
        assert_eq!(state, State::CheckedOut, "buffer {bid} published twice");
        if let Some(last) = self.last.replace(bid) {
            self.after[usize::from(last)] = bid;
        }
        self.in_kernel += 1;
        let index = usize::from(self.tail & (self.count - 1));
        let addr = self.buffer_ptr(bid) as u64;
        // SAFETY: `index < count`, inside the entries mapping; the kernel reads entries only below the published tail, which does not cover `index` until the store below.
        let entry = unsafe { &mut *self.entries.ptr.as_ptr().cast::<BufRingEntry>().add(index) };
        entry.set_addr(addr);
        entry.set_len(self.size);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the reserved u16 of entry 0, inside the mapping and aligned; the kernel reads it with acquire ordering, so Release publishes the entry first.
        let tail = unsafe {
            AtomicU16::from_ptr(BufRingEntry::tail(self.entries.ptr.as_ptr().cast()).cast_mut())
        };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer_ptr(&self, bid: u16) -> *mut u8 {
        // SAFETY: `bid < count`, so the offset stays inside the buffer mapping.
        unsafe {
            self.memory
                .ptr
                .as_ptr()
                .add(usize::from(bid) * self.size as usize)
        }
    }
}

impl Claim {
    fn range(self) -> std::ops::Range<usize> {
        let at = self.at as usize;
        at..at + usize::from(self.count)
    }
}

/// A filled receive buffer, ours until dropped; dropping hands it back to the kernel.
pub(crate) struct Checkout<'a> {
    ring: &'a mut BufRing,
    claim: Claim,
    len: usize,
}

impl Checkout<'_> {
    /// The received bytes, buffer by buffer.
    pub(crate) fn pieces(&self) -> impl Iterator<Item = &[u8]> {
        let size = self.ring.size as usize;
        self.claim.range().enumerate().map(move |(i, at)| {
            let bid = self.ring.reaped[at];
            let len = (self.len - i * size).min(size);
            // SAFETY: the buffer is checked out (`State::CheckedOut`), so the kernel does not write it until `publish` in our `Drop`; `len` is at most the buffer size.
            unsafe { std::slice::from_raw_parts(self.ring.buffer_ptr(bid), len) }
        })
    }

    /// The received bytes in one slice: the buffer itself, or for a bundle, the buffers
    /// copied into `joined`.
    pub(crate) fn contiguous<'s>(&'s self, joined: &'s mut Vec<u8>) -> &'s [u8] {
        let mut pieces = self.pieces();
        let first = pieces.next().unwrap_or_default();
        if first.len() == self.len {
            return first;
        }
        joined.clear();
        joined.extend_from_slice(first);
        pieces.for_each(|piece| joined.extend_from_slice(piece));
        joined
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        for at in self.claim.range() {
            let bid = self.ring.reaped[at];
            self.ring.publish(bid);
        }
    }
}
