//! One load-generator connection, sans-IO: which requests are due, and what the received
//! bytes complete. Both engines drive it; it never touches a socket or a clock.

use std::collections::VecDeque;

use super::report::Stats;
use super::schedule::Schedule;
use super::validate::{Expect, Failure, Frame, frame};

/// What every connection of a run does.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    /// One request, encoded.
    pub request: Vec<u8>,
    /// Requests in flight per connection.
    pub pipeline: usize,
    /// One request per connection (HTTP with `Connection: close`, or the raw protocol).
    pub one_shot: bool,
    /// Requests per connection before it is closed (HttpArena's "limited-conn"): the
    /// last one is `last_request`, which asks the server to close.
    pub per_connection: Option<usize>,
    /// The request that ends a connection of `per_connection` requests.
    pub last_request: Vec<u8>,
    /// The raw protocol: the answer is every byte until the server closes.
    pub raw: bool,
    /// Requests per second over all connections; `None` sends as fast as answers come.
    pub rate: Option<u64>,
    pub connections: usize,
    /// A request unanswered this long is an error.
    pub timeout_ns: u64,
    /// Requests the server closed the connection on before any answer came are re-sent
    /// on a new one: the method is idempotent (RFC 9112 §9.3.1).
    pub retry: bool,
}

/// How often a request may be sent before a connection closing unanswered is an error.
const MAX_ATTEMPTS: u8 = 3;

/// A request sent and not yet answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    /// When it was first sent (or was due, under a fixed rate).
    start: u64,
    attempt: u8,
}

/// What received answers are judged against, and where the verdicts go.
pub(super) struct Judge<'a> {
    pub plan: &'a Plan,
    pub now_ns: u64,
    pub expect: &'a mut Expect,
    pub stats: &'a mut Stats,
}

impl Judge<'_> {
    fn record(&mut self, verdict: Result<(), Failure>, start: u64) {
        match verdict {
            Ok(()) => self.stats.record(self.now_ns.saturating_sub(start)),
            Err(failure) => self.stats.errors.count(failure),
        }
    }
}

/// What the engine does with the connection next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Outcome {
    Keep,
    /// Close it and open a new one.
    Reconnect,
}

#[derive(Debug)]
pub(super) struct Client {
    /// The requests in flight, oldest first.
    in_flight: VecDeque<Pending>,
    /// Requests to send again on the next connection, oldest first.
    retry: Vec<Pending>,
    /// Received bytes of an unfinished response.
    input: Vec<u8>,
    /// Survives reconnects, so a fixed rate stays fixed across them.
    schedule: Option<Schedule>,
    /// Requests sent on the current connection.
    sent: usize,
    /// Requests answered on the current connection.
    answered: usize,
}

impl Client {
    /// Connection `index` of the run, starting at `start_ns`.
    pub(super) fn new(plan: &Plan, index: usize, start_ns: u64) -> Client {
        let schedule = plan
            .rate
            .map(|rate| Schedule::fixed(rate, plan.connections, index, start_ns));
        Client {
            in_flight: VecDeque::new(),
            retry: Vec::new(),
            input: Vec::new(),
            schedule,
            sent: 0,
            answered: 0,
        }
    }

    /// A new connection replaces the old one; requests still in flight were counted lost
    /// (or are to be retried).
    pub(super) fn reconnected(&mut self) {
        self.in_flight.clear();
        self.input.clear();
        self.sent = 0;
        self.answered = 0;
    }

    /// Requests the current connection may still carry.
    fn room(&self, plan: &Plan) -> usize {
        match (plan.one_shot, plan.per_connection) {
            (true, _) => 1usize.saturating_sub(self.sent),
            (false, Some(n)) => n.saturating_sub(self.sent),
            (false, None) => usize::MAX,
        }
    }

    /// Appends the requests due at `now_ns` to `out`; returns how many.
    pub(super) fn fill(&mut self, plan: &Plan, now_ns: u64, out: &mut Vec<u8>) -> usize {
        let depth = plan.pipeline.max(1).min(self.room(plan));
        if depth == 0 {
            return 0;
        }
        let before = self.in_flight.len();
        let first = |start| Pending { start, attempt: 1 };
        match &mut self.schedule {
            _ if !self.retry.is_empty() => self.in_flight.extend(self.retry.drain(..)),
            // Closed loop, as wrk does: a whole batch once the previous one is answered.
            None if self.in_flight.is_empty() => self
                .in_flight
                .extend(std::iter::repeat_n(first(now_ns), depth)),
            None => {}
            Some(schedule) => {
                while self.in_flight.len() < depth {
                    let Some(due) = schedule.take_due(now_ns) else {
                        break;
                    };
                    self.in_flight.push_back(first(due));
                }
            }
        }
        let added = self.in_flight.len() - before;
        for nth in self.sent + 1..=self.sent + added {
            match plan.per_connection == Some(nth) {
                true => out.extend_from_slice(&plan.last_request),
                false => out.extend_from_slice(&plan.request),
            }
        }
        self.sent += added;
        added
    }

    /// When the next request is due under a fixed rate, if the pipeline will have room
    /// for it; a full pipeline waits for an answer, not for the clock.
    pub(super) fn next_due(&self, plan: &Plan) -> Option<u64> {
        let room = self.in_flight.len() < plan.pipeline.max(1) && self.room(plan) > 0;
        self.schedule
            .as_ref()
            .filter(|_| room)
            .map(Schedule::next_due)
    }

    /// Received bytes: each completed response is checked and its latency recorded.
    pub(super) fn on_input(&mut self, data: &[u8], j: &mut Judge<'_>) -> Outcome {
        j.stats.bytes += data.len() as u64;
        if j.plan.raw || !self.input.is_empty() {
            self.input.extend_from_slice(data);
            return if j.plan.raw {
                Outcome::Keep
            } else {
                self.drain_input(j)
            };
        }
        let (used, outcome) = self.complete(data, false, j);
        if outcome == Outcome::Keep {
            self.input.extend_from_slice(&data[used..]);
        }
        outcome
    }

    /// The server closed the connection: a close-delimited answer ends here; anything
    /// still in flight is lost.
    pub(super) fn on_eof(&mut self, j: &mut Judge<'_>) -> Outcome {
        let input = std::mem::take(&mut self.input);
        if j.plan.raw {
            if let Some(p) = self.in_flight.pop_front() {
                let verdict = j.expect.check(j.expect.status, &input);
                j.record(verdict, p.start);
            }
        } else if !input.is_empty() {
            self.complete(&input, true, j); // a response cut short is an error
        }
        self.lose(j.plan, j.stats);
        Outcome::Reconnect
    }

    /// A read or write failed (a reset, say): a response that had started is an error,
    /// the requests not yet answered at all are retried or lost.
    pub(super) fn on_error(&mut self, plan: &Plan, stats: &mut Stats) {
        if !std::mem::take(&mut self.input).is_empty() && self.in_flight.pop_front().is_some() {
            stats.errors.reset += 1;
        }
        self.lose(plan, stats);
    }

    /// Whether the oldest request in flight has waited longer than the plan allows.
    pub(super) fn timed_out(&self, plan: &Plan, now_ns: u64) -> bool {
        self.in_flight
            .front()
            .is_some_and(|p| now_ns.saturating_sub(p.start) > plan.timeout_ns)
    }

    /// Counts one timeout for the connection and forgets what was in flight.
    pub(super) fn on_timeout(&mut self, stats: &mut Stats) {
        stats.errors.timeout += 1;
        self.in_flight.clear();
    }

    fn drain_input(&mut self, j: &mut Judge<'_>) -> Outcome {
        let input = std::mem::take(&mut self.input);
        let (used, outcome) = self.complete(&input, false, j);
        if outcome == Outcome::Keep {
            self.input = input;
            self.input.drain(..used);
        }
        outcome
    }

    /// Consumes every complete response at the front of `buf`.
    fn complete(&mut self, buf: &[u8], eof: bool, j: &mut Judge<'_>) -> (usize, Outcome) {
        let mut at = 0;
        while at < buf.len() {
            let (len, status, body, close) = match frame(&buf[at..], eof) {
                Frame::Complete {
                    len,
                    status,
                    body,
                    close,
                } => (len, status, body, close),
                Frame::Partial => return (at, Outcome::Keep),
                Frame::Invalid => {
                    j.stats.errors.framing += 1;
                    self.in_flight.pop_front();
                    return (buf.len(), Outcome::Reconnect);
                }
            };
            let Some(p) = self.in_flight.pop_front() else {
                j.stats.errors.framing += 1; // an answer nobody asked for
                return (buf.len(), Outcome::Reconnect);
            };
            let verdict = j.expect.check(status, &buf[at..][body]);
            j.record(verdict, p.start);
            at += len;
            self.answered += 1;
            let spent = j.plan.per_connection.is_some_and(|n| self.answered >= n);
            if close || j.plan.one_shot || spent {
                return (buf.len(), Outcome::Reconnect);
            }
        }
        (at, Outcome::Keep)
    }

    /// The connection closed with requests unanswered: those an idempotent plan may
    /// re-send (RFC 9112 §9.3.1) wait for the next connection; the others are errors.
    fn lose(&mut self, plan: &Plan, stats: &mut Stats) {
        for p in self.in_flight.drain(..) {
            if plan.retry && p.attempt < MAX_ATTEMPTS {
                stats.retries += 1;
                self.retry.push(Pending {
                    attempt: p.attempt + 1,
                    ..p
                });
            } else {
                stats.errors.reset += 1;
            }
        }
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
