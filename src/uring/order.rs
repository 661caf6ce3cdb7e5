//! The order rules that keep one connection's operations off another's descriptor: a
//! close waits for the operations on its target that the kernel resolves late, and
//! entries the submission queue could not take wait, in order, for room (later entries
//! queue behind them). Pure bookkeeping; [`super::Ring`] submits.
//!
//! Why: a descriptor number (or a fixed-file slot) is free for the next accept as soon as
//! its close runs. An operation the kernel punts to io-wq before looking its descriptor up
//! (`IORING_OP_SHUTDOWN` always is) resolves the number only when a worker thread runs it,
//! by which time a close submitted after it may have run inline and the number may name
//! another client's connection. Every other operation greeter submits looks its target up
//! when it is issued, in submission order, so a close queued after it is safe.

use std::collections::{HashMap, VecDeque};

use io_uring::squeue;

use super::target::{Socket, Target};

/// What waits to be submitted, and which closes wait for late operations.
#[derive(Debug, Default)]
pub(super) struct Order {
    /// Entries the queue could not take, oldest first.
    /// INVARIANT: while it is not empty, no entry skips ahead of it.
    backlog: VecDeque<squeue::Entry>,
    /// Targets with operations in flight that resolve their descriptor late.
    late: HashMap<Target, Late>,
    /// Fixed-file slots accepted and not yet handed to a close.
    direct_slots: usize,
    /// Entries that found the queue full and waited, so far.
    waited: u64,
}

/// Late operations on one target, and the close that waits for them.
#[derive(Debug, Default)]
struct Late {
    in_flight: u32,
    close: Option<Socket>,
}

impl Order {
    /// A late operation on `target` is submitted.
    pub(super) fn begin_late(&mut self, target: Target) {
        self.late.entry(target).or_default().in_flight += 1;
    }

    /// A late operation on `target` completed: the close that waited, if it was the last.
    pub(super) fn end_late(&mut self, target: Target) -> Option<Socket> {
        let late = self.late.get_mut(&target)?;
        late.in_flight -= 1;
        match late.in_flight {
            0 => self.late.remove(&target)?.close,
            _ => None,
        }
    }

    /// `socket` is to be closed: handed back if it can be now, else held until the late
    /// operations on it complete.
    pub(super) fn close_when_free(&mut self, socket: Socket) -> Option<Socket> {
        match self.late.get_mut(&socket.target()) {
            Some(late) => {
                late.close = Some(socket);
                None
            }
            None => Some(socket),
        }
    }

    /// Whether entries wait: a new one must queue behind them.
    pub(super) fn is_waiting(&self) -> bool {
        !self.backlog.is_empty()
    }

    pub(super) fn wait(&mut self, entry: squeue::Entry) {
        self.waited += 1;
        self.backlog.push_back(entry);
    }

    /// Entries that found the queue full and waited for room, so far.
    pub(super) fn waited(&self) -> u64 {
        self.waited
    }

    /// The oldest waiting entry, to try first.
    pub(super) fn oldest(&self) -> Option<&squeue::Entry> {
        self.backlog.front()
    }

    /// The oldest waiting entry was queued.
    pub(super) fn queued_oldest(&mut self) {
        self.backlog.pop_front();
    }

    /// A fixed-file slot was accepted.
    pub(super) fn slot_taken(&mut self) {
        self.direct_slots += 1;
    }

    /// A fixed-file slot was handed to its close.
    pub(super) fn slot_closing(&mut self) {
        self.direct_slots -= 1;
    }

    /// Fixed-file slots held by connections (their close not yet handed over).
    pub(super) fn direct_slots(&self) -> usize {
        self.direct_slots
    }

    /// Closes still held for late operations (nothing else holds them), for `finish`.
    pub(super) fn held_closes(&self) -> usize {
        self.late.values().filter(|l| l.close.is_some()).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_waits_for_every_late_operation_on_its_target() {
        let mut order = Order::default();
        let (a, b) = (Target::Fixed(3), Target::Fixed(4));
        order.begin_late(a);
        order.begin_late(a);
        assert!(
            order.close_when_free(Socket::Fixed(4)).is_some(),
            "another target closes at once"
        );
        assert!(order.close_when_free(Socket::Fixed(3)).is_none());
        assert_eq!(order.held_closes(), 1);
        assert!(order.end_late(a).is_none(), "one still in flight");
        assert!(matches!(order.end_late(a), Some(Socket::Fixed(3))));
        assert!(order.end_late(b).is_none(), "nothing was late on it");
        assert_eq!(order.held_closes(), 0);
    }
}
