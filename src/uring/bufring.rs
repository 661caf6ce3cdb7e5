//! A worker's provided buffer ring: the memory the kernel picks receive buffers from.
//!
//! Holds the buffer-ring half of the driver's `unsafe`. Every buffer is at any time
//! published to the kernel, reported filled by a completion (and not yet claimed), or
//! checked out to exactly one reader ([`Checkout`]), whose `Drop` hands it back exactly
//! once. A reported buffer nobody claims goes back at the next [`BufRing::reclaim`], so no
//! caller can leak one. `state` records which, and is checked.
#![allow(unsafe_code)]

use std::io;
use std::ops::Deref;
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
        // SAFETY: `ptr`/`len` came from one successful mmap; the owner (`BufRing`, itself owned by `Ring`) is dropped only after the kernel can no longer touch the memory: `Ring::drop` forgets it instead while operations are in flight.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

pub struct BufRing {
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
    /// Buffers in `State::Reported`, to reclaim.
    reported: Vec<u16>,
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

impl BufRing {
    /// Maps and registers `count` buffers of `size` bytes as buffer group `group`.
    pub fn new(
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
            reported: Vec::new(),
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

    pub fn group(&self) -> u16 {
        self.group
    }

    /// A completion reported buffer `bid` filled: it is ours until claimed or reclaimed.
    pub fn report(&mut self, bid: u16) {
        assert!(
            bid < self.count,
            "kernel reported buffer {bid} of {}",
            self.count
        );
        let state = &mut self.state[usize::from(bid)];
        assert_eq!(*state, State::Kernel, "buffer {bid} reported twice");
        *state = State::Reported;
        self.reported.push(bid);
    }

    /// Claims reported buffer `bid`, filled with `len` bytes.
    pub fn checkout(&mut self, bid: u16, len: usize) -> Checkout<'_> {
        assert!(len <= self.size as usize, "buffer {bid} with {len} bytes");
        let state = &mut self.state[usize::from(bid)];
        assert_eq!(
            *state,
            State::Reported,
            "buffer {bid} claimed but not reported"
        );
        *state = State::CheckedOut;
        Checkout {
            ring: self,
            bid,
            len,
        }
    }

    /// Hands every reported, unclaimed buffer back to the kernel.
    pub fn reclaim(&mut self) {
        while let Some(bid) = self.reported.pop() {
            if self.state[usize::from(bid)] == State::Reported {
                self.state[usize::from(bid)] = State::CheckedOut;
                self.publish(bid);
            }
        }
    }

    /// Writes buffer `bid` into the next ring entry and publishes the new tail.
    fn publish(&mut self, bid: u16) {
        let state = std::mem::replace(&mut self.state[usize::from(bid)], State::Kernel);
        assert_eq!(state, State::CheckedOut, "buffer {bid} published twice");
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

/// A filled receive buffer, ours until dropped; dropping hands it back to the kernel.
pub struct Checkout<'a> {
    ring: &'a mut BufRing,
    bid: u16,
    len: usize,
}

impl Deref for Checkout<'_> {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: the buffer is checked out (`State::CheckedOut`), so the kernel does not write it until `publish` in our `Drop`; `len` was checked against the buffer size.
        unsafe { std::slice::from_raw_parts(self.ring.buffer_ptr(self.bid), self.len) }
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        self.ring.publish(self.bid);
    }
}
