//! What the protocol answered, counted per worker: requests by route and status, raw
//! greetings. Written only by the worker's own thread, read by a scrape from any thread,
//! so a count costs a plain load and store, never a locked instruction.

use std::sync::atomic::{AtomicU64, Ordering};

use std::time::Duration;

use super::durations::Durations;
use super::status::{Route, Status};

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

/// A worker's protocol counts. Cache-line aligned: another worker's counts never share
/// a line with these.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Tally {
    requests: [[Counter; Status::ALL.len()]; Route::ALL.len()],
    raw_greetings: Counter,
    /// Server-side request durations (kept while metrics are).
    pub(crate) durations: Durations,
    /// A gauge: requests whose head is read and whose answer is not yet queued (their
    /// bodies are arriving).
    in_flight: Counter,
    /// 1 once the worker drains.
    draining: Counter,
}

impl Tally {
    /// One request answered with `status`.
    pub(super) fn answered(&self, route: Route, status: Status) {
        self.requests[route as usize][status as usize].add(1);
    }

    /// One request answered with `status`, `elapsed` after its head was complete.
    pub(super) fn timed(&self, route: Route, status: Status, elapsed: Duration) {
        self.durations.observe(route, status, elapsed);
    }

    /// A request's body began to arrive (its answer waits for it).
    pub(super) fn body_began(&self) {
        self.in_flight.add(1);
    }

    /// A request whose body was arriving was answered, or its connection ended.
    pub(super) fn body_ended(&self) {
        self.in_flight.sub(1);
    }

    /// The worker began to drain.
    pub(super) fn set_draining(&self) {
        self.draining.set(1);
    }

    /// Whether the worker drains.
    pub(crate) fn draining(&self) -> bool {
        self.draining.get() == 1
    }

    /// Requests read whose answers are not queued yet.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.get()
    }

    /// One raw greet-and-close greeting written.
    pub(super) fn greeted(&self) {
        self.raw_greetings.add(1);
    }

    /// Requests answered on `route` with the status whose code is `code`, for every
    /// status; zero counts included.
    pub(crate) fn requests(&self) -> impl Iterator<Item = (Route, u16, u64)> + '_ {
        Route::ALL.into_iter().flat_map(move |route| {
            Status::ALL.into_iter().map(move |s| {
                (
                    route,
                    s.code(),
                    self.requests[route as usize][s as usize].get(),
                )
            })
        })
    }

    /// Raw greetings written.
    pub(crate) fn raw_greetings(&self) -> u64 {
        self.raw_greetings.get()
    }
}
