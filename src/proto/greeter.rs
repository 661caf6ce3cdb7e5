//! Per-worker protocol state shared by all its connections: settings, the Date cache,
//! whether the server is draining, the worker's counts, what renders `/metrics`, and the
//! journal of answered requests an access log drains.

use std::cell::RefCell;
use std::fmt;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::canned::Canned;
use super::date::DateCache;
use super::tally::Tally;
use super::{ProtoConfig, Timeouts};

/// Renders the body of `/metrics`: every worker's counters, gathered at scrape time.
pub trait Exposition: Send + Sync {
    /// Appends the exposition to `out`.
    fn render(&self, out: &mut Vec<u8>);
}

/// One answered request, for the access log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answered {
    /// The method, or `-` for a request refused before it was parsed.
    pub method: String,
    /// The request target, or `-`.
    pub target: String,
    /// The status answered.
    pub status: u16,
    /// Bytes of the answer, head and body.
    pub bytes: usize,
    /// When the request's first bytes arrived (as the flow was told).
    pub started: Instant,
}

/// Per-worker protocol state.
#[derive(Clone)]
pub struct Greeter {
    pub(super) config: ProtoConfig,
    /// What the raw protocol writes: the greeting and a newline.
    pub(super) raw_line: Box<[u8]>,
    pub(super) date: DateCache,
    /// The common answers, rendered for the current Date second.
    pub(super) canned: Canned,
    pub(super) draining: bool,
    pub(super) tally: Arc<Tally>,
    exposition: Option<Arc<dyn Exposition>>,
    /// Answered requests not yet taken; `None` when there is no access log.
    journal: Option<RefCell<Journal>>,
}

/// The access log's journal: answered requests, and when the requests being answered now
/// began (set by the flow before each step).
#[derive(Debug, Clone)]
struct Journal {
    answered: Vec<Answered>,
    started: Instant,
}

impl fmt::Debug for Greeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greeter")
            .field("config", &self.config)
            .field("draining", &self.draining)
            .field("metrics", &self.exposition.is_some())
            .finish_non_exhaustive()
    }
}

impl Greeter {
    /// Protocol state for `config`, with the Date header at `now`.
    pub fn new(config: ProtoConfig, now: SystemTime) -> Self {
        let raw_line = format!("{}\n", config.greeting)
            .into_bytes()
            .into_boxed_slice();
        let journal = config.access_log.then(|| {
            RefCell::new(Journal {
                answered: Vec::new(),
                started: Instant::now(),
            })
        });
        let mut g = Greeter {
            config,
            raw_line,
            date: DateCache::new(now),
            canned: Canned::default(),
            draining: false,
            tally: Arc::default(),
            exposition: None,
            journal,
        };
        g.canned = Canned::render(&g);
        g
    }

    /// Counts into `tally` (the worker's, shared with whatever scrapes it).
    pub fn with_tally(self, tally: Arc<Tally>) -> Self {
        Greeter { tally, ..self }
    }

    /// Serves `/metrics`, rendered by `exposition`.
    pub fn expose(self, exposition: Arc<dyn Exposition>) -> Self {
        Greeter {
            exposition: Some(exposition),
            ..self
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &ProtoConfig {
        &self.config
    }

    /// Per-connection deadlines.
    pub fn timeouts(&self) -> &Timeouts {
        &self.config.timeouts
    }

    /// Input a connection may hold while its reading is paused (a backend's read can
    /// still deliver bytes after it was asked to stop): an unfinished head, plus as much
    /// again as the output bound. A client that sends more before reading is cut off.
    pub(super) fn max_held_input(&self) -> usize {
        self.config.max_header_bytes + self.config.max_pending_output
    }

    /// Refreshes the Date header (and the answers that carry it) when the second has
    /// changed; the backend calls this from its periodic timer.
    pub fn set_time(&mut self, now: SystemTime) {
        if self.date.update(now) {
            self.canned = Canned::render(self);
        }
    }

    /// From now on `/healthz` answers `503` and the response that ends a connection's
    /// received input says `Connection: close`.
    pub fn start_draining(&mut self) {
        self.draining = true;
    }

    /// Whether [`Greeter::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether `/metrics` is served here.
    pub(super) fn serves_metrics(&self) -> bool {
        self.exposition.is_some()
    }

    pub(super) fn render_metrics(&self) -> Vec<u8> {
        let mut out = Vec::new();
        if let Some(e) = &self.exposition {
            e.render(&mut out);
        }
        out
    }

    /// Whether answered requests are journaled (an access log is on).
    pub(super) fn journals(&self) -> bool {
        self.journal.is_some()
    }

    /// The requests answered from here on began at `started`.
    pub(super) fn journal_from(&self, started: Instant) {
        if let Some(journal) = &self.journal {
            journal.borrow_mut().started = started;
        }
    }

    pub(super) fn journal(&self, method: &str, target: &[u8], status: u16, bytes: usize) {
        if let Some(journal) = &self.journal {
            let mut journal = journal.borrow_mut();
            let answered = Answered {
                method: method.to_owned(),
                target: String::from_utf8_lossy(target).into_owned(),
                status,
                bytes,
                started: journal.started,
            };
            journal.answered.push(answered);
        }
    }

    /// Takes the requests answered since the last call, oldest first (for the access
    /// log; empty when there is none).
    pub fn take_answered(&self) -> Vec<Answered> {
        let journal = self.journal.as_ref();
        journal.map_or_else(Vec::new, |j| std::mem::take(&mut j.borrow_mut().answered))
    }
}
