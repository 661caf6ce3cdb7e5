//! What the protocol answered, counted per worker: requests by route and status, raw
//! greetings. Written only by the worker's own thread, read by a scrape from any thread,
//! so a count costs a plain load and store, never a locked instruction.

use std::time::Duration;

use super::counter::Counter;
use super::durations::Durations;
use super::preface::Refusal;
use super::status::{Route, Status};

/// A worker's protocol counts. Cache-line aligned: another worker's counts never share
/// a line with these.
#[derive(Debug, Default)]
#[repr(align(64))]
pub(crate) struct Tally {
    requests: [[Counter; Status::ALL.len()]; Route::ALL.len()],
    raw_greetings: Counter,
    /// Connections closed for their PROXY protocol preface, by [`Refusal`].
    refused_prefaces: [Counter; Refusal::ALL.len()],
    /// Server-side request durations (kept while metrics are).
    pub(crate) durations: Durations,
    /// A gauge: requests whose head is read and whose answer is not yet queued (their
    /// bodies are arriving).
    in_flight: Counter,
    /// 1 once the worker drains.
    draining: Counter,
    /// Ticks the worker's loop has taken (one a second while it turns).
    ticks: Counter,
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

    /// The worker's loop took its periodic tick.
    pub(super) fn ticked(&self) {
        self.ticks.add(1);
    }

    /// Ticks taken so far: a number that stops growing when the loop stops turning.
    pub(crate) fn ticks(&self) -> u64 {
        self.ticks.get()
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

    /// A connection closed for its PROXY protocol preface.
    pub(super) fn refused_preface(&self, why: Refusal) {
        self.refused_prefaces[why as usize].add(1);
    }

    /// Connections closed for their PROXY protocol preface, for `why`.
    pub(crate) fn refused_prefaces(&self, why: Refusal) -> u64 {
        self.refused_prefaces[why as usize].get()
    }
}
