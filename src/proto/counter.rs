//! A count with one writer and any number of readers: what the per-worker tallies and
//! histograms are made of.

use std::sync::atomic::{AtomicU64, Ordering};

/// A count with one writer (its worker's thread) and any number of readers.
///
/// INVARIANT: only one thread calls [`Counter::add`] / [`Counter::sub`]; readers see a
/// recent value. A second writer would lose counts, never corrupt memory.
#[derive(Debug, Default)]
pub(crate) struct Counter(AtomicU64);

impl Counter {
    /// Adds `n` (the owning thread only).
    pub(crate) fn add(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_add(n), Ordering::Relaxed);
    }

    /// Subtracts `n`, for a gauge (the owning thread only).
    pub(crate) fn sub(&self, n: u64) {
        let v = self.0.load(Ordering::Relaxed);
        self.0.store(v.wrapping_sub(n), Ordering::Relaxed);
    }

    /// Sets the value (the owning thread only).
    pub(crate) fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The value now.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}
