//! A worker's connections as its timer sees them: each connection's deadline, whether it
//! is idle, its task's waker, and the signals the worker raised for it (its deadline
//! passed, shutdown, shedding). Signals are a set, each taken on its own: a pending
//! shutdown never hides a deadline from a wait that only wants the deadline. One periodic tick per worker checks every deadline, as the io_uring
//! worker does, instead of a timer entry armed and disarmed on every read.

use std::cell::RefCell;
use std::task::Waker;
use std::time::Instant;

use slab::Slab;

/// What the worker tells a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Its deadline passed.
    Timeout,
    /// Graceful shutdown began.
    Shutdown,
    /// Closed to make room at the connection limit (it was idle).
    Shed,
    /// The shutdown deadline passed (or the worker failed): end now, whatever it was
    /// doing.
    Deadline,
}

impl Signal {
    /// The order a wait that accepts several takes them in.
    const BY_PRIORITY: [Signal; 4] = [
        Signal::Deadline,
        Signal::Shed,
        Signal::Timeout,
        Signal::Shutdown,
    ];

    /// Whether a connection waiting for its output to be written must stop: its own
    /// deadline passed, or the worker's.
    pub(crate) fn stops_a_write(self) -> bool {
        matches!(self, Signal::Timeout | Signal::Deadline)
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

#[derive(Debug)]
struct Slot {
    deadline: Instant,
    idle: bool,
    waker: Option<Waker>,
    /// Signals raised and not yet taken, one bit each ([`Signal::bit`]).
    raised: u8,
}

/// The connections of one worker, by the index `register` gave.
#[derive(Debug, Default)]
pub(crate) struct Slots(RefCell<Slab<Slot>>);

impl Slots {
    /// A new connection's slot, under `deadline`.
    pub(crate) fn register(&self, deadline: Instant) -> usize {
        self.0.borrow_mut().insert(Slot {
            deadline,
            idle: false,
            waker: None,
            raised: 0,
        })
    }

    pub(crate) fn remove(&self, id: usize) {
        self.0.borrow_mut().remove(id);
    }

    /// The connection's deadline and idleness as its flow now says.
    pub(crate) fn update(&self, id: usize, deadline: Instant, idle: bool) {
        let mut slots = self.0.borrow_mut();
        let slot = &mut slots[id];
        (slot.deadline, slot.idle) = (deadline, idle);
    }

    /// Takes a raised signal that `wanted` accepts (the others stay raised); else
    /// remembers `waker` to be woken when one is raised.
    pub(crate) fn poll(
        &self,
        id: usize,
        waker: &Waker,
        wanted: impl Fn(Signal) -> bool,
    ) -> Option<Signal> {
        let mut slots = self.0.borrow_mut();
        let slot = &mut slots[id];
        let raised = slot.raised;
        let taken = Signal::BY_PRIORITY
            .into_iter()
            .find(|s| raised & s.bit() != 0 && wanted(*s));
        if let Some(signal) = taken {
            slot.raised &= !signal.bit();
            return Some(signal);
        }
        if !slot.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            slot.waker = Some(waker.clone());
        }
        None
    }

    /// From the worker's tick: signals every connection whose deadline has passed.
    pub(crate) fn expire(&self, now: Instant) {
        self.raise(Signal::Timeout, usize::MAX, |slot| slot.deadline <= now);
    }

    /// Signals every connection that shutdown began.
    pub(crate) fn shutdown(&self) {
        self.raise(Signal::Shutdown, usize::MAX, |_| true);
    }

    /// Signals up to `count` idle connections to close.
    pub(crate) fn shed(&self, count: usize) {
        self.raise(Signal::Shed, count, |slot| slot.idle);
    }

    /// Signals every connection that the shutdown deadline passed.
    pub(crate) fn deadline(&self) {
        self.raise(Signal::Deadline, usize::MAX, |_| true);
    }

    fn raise(&self, signal: Signal, count: usize, which: impl Fn(&Slot) -> bool) {
        let mut slots = self.0.borrow_mut();
        let chosen = slots
            .iter_mut()
            .map(|(_, s)| s)
            .filter(|s| s.raised & signal.bit() == 0 && which(s));
        for slot in chosen.take(count) {
            slot.raised |= signal.bit();
            if let Some(waker) = slot.waker.take() {
                waker.wake();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    use super::*;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn the_tick_wakes_only_what_expired_and_shedding_only_the_idle() {
        let t0 = Instant::now();
        let slots = Slots::default();
        let (early, late) = (
            slots.register(t0),
            slots.register(t0 + Duration::from_secs(9)),
        );
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        assert_eq!(slots.poll(early, &waker, |_| true), None);
        assert_eq!(slots.poll(late, &waker, |_| true), None);
        slots.expire(t0 + Duration::from_secs(1));
        assert_eq!(
            count.0.load(Ordering::SeqCst),
            1,
            "only the expired one is woken"
        );
        assert_eq!(
            slots.poll(early, &waker, |s| s != Signal::Timeout),
            None,
            "left for a wait that wants it"
        );
        assert_eq!(slots.poll(early, &waker, |_| true), Some(Signal::Timeout));
        slots.update(late, t0 + Duration::from_secs(9), true);
        slots.shed(5);
        assert_eq!(slots.poll(late, &waker, |_| true), Some(Signal::Shed));
        assert_eq!(slots.poll(early, &waker, |_| true), None, "busy: not shed");
    }

    #[test]
    fn the_drain_deadline_reaches_every_connection_and_stops_a_write() {
        let t0 = Instant::now();
        let slots = Slots::default();
        let (reader, writer) = (slots.register(t0), slots.register(t0));
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        slots.shutdown();
        slots.deadline();
        assert_eq!(
            slots.poll(writer, &waker, Signal::stops_a_write),
            Some(Signal::Deadline),
            "a write waiting on a client that does not read stops"
        );
        assert_eq!(
            slots.poll(reader, &waker, |_| true),
            Some(Signal::Deadline),
            "taken before the shutdown that came first"
        );
        assert_eq!(
            slots.poll(writer, &waker, Signal::stops_a_write),
            None,
            "shutdown alone does not stop a write"
        );
    }

    #[test]
    fn a_pending_shutdown_never_hides_a_deadline() {
        let t0 = Instant::now();
        let slots = Slots::default();
        let writer = slots.register(t0 + Duration::from_secs(9));
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        slots.shutdown(); // not taken: the connection is busy writing
        slots.expire(t0 + Duration::from_secs(10));
        let timeout_only = |s: Signal| s == Signal::Timeout;
        assert_eq!(
            slots.poll(writer, &waker, timeout_only),
            Some(Signal::Timeout),
            "a stalled writer still learns its deadline passed"
        );
        assert_eq!(
            slots.poll(writer, &waker, |_| true),
            Some(Signal::Shutdown),
            "and the shutdown is still there for the next read"
        );
        assert_eq!(slots.poll(writer, &waker, |_| true), None);
    }
}
