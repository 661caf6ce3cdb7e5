//! The io_uring load engine: one ring per thread (the driver the server uses), connects,
//! owned sends and multishot receives from a provided buffer ring. Moves bytes; `client`
//! decides.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::mem;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Job;
use super::client::{Client, Judge, Outcome};
use super::report::Stats;
use crate::uring::{
    Allow, Claim, Completion, Features, Generation, OpKind, Ring, SendCursor, Socket, Target, Token,
};

/// What the engine's submissions are for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Connect,
    Recv,
    Send,
    Timer,
}

impl OpKind for Op {
    fn code(self) -> u8 {
        self as u8
    }

    fn from_code(code: u8) -> Option<Op> {
        [Op::Connect, Op::Recv, Op::Send, Op::Timer]
            .into_iter()
            .find(|op| op.code() == code)
    }
}

/// How often timeouts and retries are checked when nothing else is due.
const TICK_NS: u64 = 100_000_000;
/// Wait before retrying a failed connect.
const RETRY_NS: u64 = 10_000_000;

struct Conn {
    fd: Option<OwnedFd>,
    /// Bumped on every reconnect: completions of the previous socket are ignored.
    generation: Generation,
    client: Client,
    out: Vec<u8>,
    sending: bool,
    receiving: bool,
    connected: bool,
    retry_at: Option<u64>,
    /// The due time this connection last put in the engine's queue.
    queued: Option<u64>,
}

struct Engine {
    ring: Ring<Op>,
    /// Never shrinks: a slot is reused by its reconnects, its generation telling them apart.
    conns: Vec<Conn>,
    job: Job,
    stats: Stats,
    now: u64,
    end: u64,
    reported: u64,
    /// Expiry times of the timers in flight, soonest first.
    timers: Vec<u64>,
    /// Connections whose next request falls due at a set time (a fixed rate), soonest first.
    due: BinaryHeap<Reverse<(u64, usize)>>,
    /// When timeouts and connect retries are next checked.
    housekeeping: u64,
    starved: Vec<usize>,
}

/// Drives `job.count` connections until `job.end`.
pub(super) fn run(job: Job) -> io::Result<Stats> {
    let features = Features {
        restrict: true,
        ..Features::default()
    };
    run_on(Ring::new(1024, features)?, job)
}

/// What a load ring submits; the driver adds its cancels and closes.
const LOADING: [Allow; 4] = [Allow::Connect, Allow::Recv, Allow::Send, Allow::Timeout];

/// Drives `job` on `ring` (a test may give a small one).
fn run_on(mut ring: Ring<Op>, job: Job) -> io::Result<Stats> {
    let buffers = (job.count.next_power_of_two() * 2).clamp(64, 4096) as u16;
    ring.register_buffers(0, buffers, 4096)?;
    ring.enable(&LOADING)?;
    let end = job.end.duration_since(job.start).as_nanos() as u64;
    let job_count = job.count;
    let mut engine = Engine {
        ring,
        conns: Vec::with_capacity(job_count),
        job,
        stats: Stats::default(),
        now: 0,
        end,
        reported: 0,
        timers: Vec::new(),
        due: BinaryHeap::new(),
        housekeeping: 0,
        starved: Vec::new(),
    };
    engine.now = engine.job.now_ns();
    for i in 0..engine.job.count {
        let client = Client::new(&engine.job.plan, engine.job.first + i, engine.now);
        let slot = engine.conns.len();
        engine.conns.push(Conn {
            fd: None,
            generation: Generation::default(),
            client,
            out: Vec::new(),
            sending: false,
            receiving: false,
            connected: false,
            retry_at: None,
            queued: None,
        });
        engine.connect(slot);
    }
    engine.run()?;
    Ok(engine.stats)
}

impl Engine {
    fn run(&mut self) -> io::Result<()> {
        let mut batch = Vec::with_capacity(256);
        while self.now < self.end {
            self.arm_timer();
            self.ring.submit_and_wait()?;
            self.now = self.job.now_ns();
            self.ring.drain(&mut batch);
            batch.drain(..).for_each(|c| self.on_completion(c));
            mem::take(&mut self.starved)
                .into_iter()
                .for_each(|slot| self.arm_recv(slot));
            self.report_progress();
        }
        self.wind_down()
    }

    fn on_completion(&mut self, c: Completion<Op, Vec<u8>>) {
        if c.token.kind() == Op::Timer {
            self.timers.remove(0);
            return self.on_tick();
        }
        let slot = c.token.slot();
        let current = self
            .conns
            .get(slot)
            .is_some_and(|conn| conn.generation == c.token.generation());
        // A previous socket's completion is dropped (its buffer goes back by itself).
        match (c.token.kind(), current) {
            (Op::Connect, true) => self.on_connect(slot, c.result),
            (Op::Recv, true) => self.on_recv(slot, &c),
            (Op::Send, true) => self.on_send(slot, c),
            _ => {}
        }
    }

    fn connect(&mut self, slot: usize) {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(self.job.addr),
            socket2::Type::STREAM,
            None,
        )
        .and_then(|s| s.set_tcp_nodelay(true).map(|()| s));
        let conn = &mut self.conns[slot];
        conn.generation = conn.generation.next();
        let token = Token::new(Op::Connect, slot, conn.generation);
        match socket {
            Ok(socket) => {
                let fd = OwnedFd::from(socket);
                self.ring.connect(fd.as_raw_fd(), self.job.addr, token);
                conn.fd = Some(fd);
            }
            Err(_) => {
                self.stats.errors.connect += 1;
                conn.retry_at = Some(self.now + RETRY_NS);
            }
        }
    }

    fn on_connect(&mut self, slot: usize, result: i32) {
        if result < 0 {
            self.stats.errors.connect += 1;
            self.drop_socket(slot);
            self.conns[slot].retry_at = Some(self.now + RETRY_NS);
            return;
        }
        self.conns[slot].connected = true;
        self.arm_recv(slot);
        self.fill(slot);
    }

    fn on_recv(&mut self, slot: usize, c: &Completion<Op, Vec<u8>>) {
        if !c.more() {
            self.conns[slot].receiving = false;
        }
        let outcome = match c.result {
            n if n > 0 => self.feed(slot, c.buffers(), n as usize),
            0 => {
                let Engine {
                    conns,
                    job,
                    stats,
                    now,
                    ..
                } = self;
                conns[slot].client.on_eof(&mut Judge {
                    plan: &job.plan,
                    now_ns: *now,
                    expect: &mut job.expect,
                    stats,
                })
            }
            e if -e == libc::ENOBUFS => return self.starved.push(slot),
            e if -e == libc::ECANCELED => return,
            _ => {
                self.conns[slot]
                    .client
                    .on_error(&self.job.plan, &mut self.stats);
                Outcome::Reconnect
            }
        };
        match outcome {
            Outcome::Reconnect => self.reconnect(slot),
            // The kernel may end a multishot receive with data in hand: receive again,
            // and send what the answers made due either way.
            Outcome::Keep => {
                self.arm_recv(slot);
                self.fill(slot);
            }
        }
    }

    fn feed(&mut self, slot: usize, claim: Option<Claim>, len: usize) -> Outcome {
        let Some(claim) = claim else {
            return Outcome::Keep;
        };
        let Engine {
            ring,
            conns,
            job,
            stats,
            now,
            ..
        } = self;
        let data = ring.checkout(claim, len);
        // The load's ring receives without bundles: one buffer, so nothing is joined.
        let mut joined = Vec::new();
        conns[slot].client.on_input(
            data.contiguous(&mut joined),
            &mut Judge {
                plan: &job.plan,
                now_ns: *now,
                expect: &mut job.expect,
                stats,
            },
        )
    }

    fn on_send(&mut self, slot: usize, c: Completion<Op, Vec<u8>>) {
        let mut cursor = c.sent.expect("a send completion returns its buffer");
        self.conns[slot].sending = false;
        if c.result < 0 {
            self.conns[slot]
                .client
                .on_error(&self.job.plan, &mut self.stats);
            return self.reconnect(slot);
        }
        if !cursor.advance(c.result as usize) {
            return self.send(slot, cursor);
        }
        let mut buf = cursor.into_inner();
        buf.clear();
        let conn = &mut self.conns[slot];
        if conn.out.is_empty() {
            conn.out = buf; // reuse the allocation
        }
        self.fill(slot);
    }

    /// Queues the requests due now and sends them if no send is in flight.
    fn fill(&mut self, slot: usize) {
        let Engine {
            conns, job, now, ..
        } = self;
        let conn = &mut conns[slot];
        if !conn.connected {
            return;
        }
        conn.client.fill(&job.plan, *now, &mut conn.out);
        let due = conn.client.next_due(&job.plan);
        if due.is_some() && due != conn.queued {
            conn.queued = due;
            self.due.extend(due.map(|at| Reverse((at, slot))));
        }
        if !conn.sending && !conn.out.is_empty() {
            let buf = mem::take(&mut conn.out);
            self.send(slot, SendCursor::new(buf));
        }
    }

    fn send(&mut self, slot: usize, cursor: SendCursor<Vec<u8>>) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.fd.as_ref().map(|fd| Target::Fd(fd.as_raw_fd())) else {
            return;
        };
        let token = Token::new(Op::Send, slot, conn.generation);
        self.ring.send(fd, cursor, token);
        conn.sending = true;
    }

    fn arm_recv(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        let Some(fd) = conn.fd.as_ref().map(|fd| Target::Fd(fd.as_raw_fd())) else {
            return;
        };
        if conn.connected && !conn.receiving {
            let token = Token::new(Op::Recv, slot, conn.generation);
            self.ring.recv_multi(fd, token);
            conn.receiving = true;
        }
    }

    fn reconnect(&mut self, slot: usize) {
        self.drop_socket(slot);
        self.conns[slot].client.reconnected();
        self.connect(slot);
    }

    /// Closes the socket; operations still on it end with completions that are ignored.
    fn drop_socket(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if let Some(fd) = conn.fd.take() {
            self.ring.cancel_fd(Target::Fd(fd.as_raw_fd()));
            self.ring.close(Socket::Fd(fd));
        }
        conn.out.clear();
        (conn.sending, conn.receiving, conn.connected) = (false, false, false);
    }

    /// Requests a fixed rate made due; every `TICK_NS`, timeouts and connect retries.
    fn on_tick(&mut self) {
        while let Some(&Reverse((_, slot))) =
            self.due.peek().filter(|Reverse((at, _))| *at <= self.now)
        {
            self.due.pop();
            self.fill(slot);
        }
        if self.now >= self.housekeeping {
            self.housekeeping = self.now + TICK_NS;
            (0..self.conns.len()).for_each(|slot| self.check(slot));
        }
    }

    fn check(&mut self, slot: usize) {
        let conn = &mut self.conns[slot];
        if conn.retry_at.is_some_and(|t| t <= self.now) {
            conn.retry_at = None;
            self.connect(slot);
        } else if conn.client.timed_out(&self.job.plan, self.now) {
            conn.client.on_timeout(&mut self.stats);
            self.reconnect(slot);
        }
    }

    /// Arms a timer if something falls due before every timer already in flight.
    fn arm_timer(&mut self) {
        let next_due = self.due.peek().map_or(u64::MAX, |Reverse((at, _))| *at);
        let wake = next_due.min(self.housekeeping).min(self.end);
        if self.timers.first().is_some_and(|&t| t <= wake) {
            return;
        }
        let after = Duration::from_nanos(wake.saturating_sub(self.now).max(1_000));
        self.ring.timeout(after, Token::global(Op::Timer));
        self.timers.insert(0, wake);
    }

    fn report_progress(&mut self) {
        if self.stats.ok > self.reported {
            self.job
                .progress
                .fetch_add(self.stats.ok - self.reported, Ordering::Relaxed);
            self.reported = self.stats.ok;
        }
    }

    /// Closes every socket and waits for the kernel to return every buffer.
    fn wind_down(&mut self) -> io::Result<()> {
        (0..self.conns.len()).for_each(|s| self.drop_socket(s));
        self.ring.finish()
    }
}

#[cfg(test)]
#[path = "uring_tests.rs"]
mod tests;
