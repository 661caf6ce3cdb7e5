//! Accepting on a worker's listener: multishot accept and its re-arming, the back-off when
//! descriptors run out, and the connection limit (idle keep-alive connections go first).

use std::os::fd::AsRawFd;
use std::sync::atomic::Ordering;

use super::ring::Completion;
use super::token::{Kind, Token};
use super::worker::{self, Worker, ms};

/// Why accepting is on or off.
#[derive(Debug, Default)]
pub struct AcceptState {
    /// A multishot accept is in flight (until its final completion).
    armed: bool,
    /// Out of descriptors: retry at this worker-clock millisecond.
    paused_until: Option<u64>,
    /// At the connection limit: resume when a connection ends.
    at_limit: bool,
    /// When descriptor exhaustion was last logged, to log at most once a second.
    last_logged: Option<u64>,
}

impl Worker {
    pub(super) fn arm_accept(&mut self) {
        let a = &self.accept;
        if a.armed || a.paused_until.is_some() || a.at_limit {
            return;
        }
        let Some(listener) = &self.listener else {
            return;
        };
        self.ring
            .accept_multi(listener.as_raw_fd(), Token::global(Kind::Accept));
        self.accept.armed = true;
    }

    pub(super) fn stop_accepting(&mut self) {
        if self.accept.armed {
            self.ring.cancel(Token::global(Kind::Accept));
        }
    }

    pub(super) fn on_accept(&mut self, c: &Completion<Vec<u8>>) {
        if !c.more() {
            self.accept.armed = false;
        }
        if c.result >= 0 {
            let fd = worker::adopt(c.result);
            if self.listener.is_some() {
                self.admit(fd);
                self.check_limit();
            }
        } else {
            self.accept_failed(-c.result);
        }
        self.arm_accept();
    }

    fn accept_failed(&mut self, errno: i32) {
        if !matches!(
            errno,
            libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM
        ) {
            // ECANCELED (our own cancel), ECONNABORTED and the like: nothing to do.
            return;
        }
        self.stats.accept_pauses.fetch_add(1, Ordering::Relaxed);
        self.accept.paused_until = Some(self.now + ms(worker::ACCEPT_BACKOFF));
        self.stop_accepting();
        if self.accept.last_logged.is_none_or(|t| self.now >= t + 1000) {
            self.accept.last_logged = Some(self.now);
            let cause = std::io::Error::from_raw_os_error(errno);
            tracing::warn!(
                connections = self.conns.len(),
                "accept failed ({cause}); pausing accepts, still serving open connections"
            );
        }
    }

    /// From the periodic timer: try accepting again after a descriptor back-off.
    pub(super) fn retry_accept(&mut self) {
        if self.accept.paused_until.is_some_and(|t| self.now >= t) {
            self.accept.paused_until = None;
            self.arm_accept();
        }
    }

    /// At the limit, close idle keep-alive connections first; pause accepting if none.
    fn check_limit(&mut self) {
        if self.conns.len() < self.max_connections || self.accept.at_limit {
            return;
        }
        let idle: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.is_reusable())
            .map(|(s, _)| s)
            .take(worker::SHED_BATCH)
            .collect();
        tracing::warn!(
            limit = self.max_connections,
            closing_idle = idle.len(),
            "connection limit reached; pausing accepts"
        );
        idle.into_iter().for_each(|slot| self.close(slot));
        self.accept.at_limit = true;
        self.stop_accepting();
    }

    /// A connection ended: resume accepting if the limit paused it.
    pub(super) fn below_limit(&mut self) {
        if self.accept.at_limit && self.conns.len() < self.max_connections {
            self.accept.at_limit = false;
            tracing::info!(
                limit = self.max_connections,
                "below the connection limit; accepting again"
            );
            self.arm_accept();
        }
    }
}
