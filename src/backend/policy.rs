//! Accept and connection-limit policy every backend shares, sans-IO: which accept errors
//! pause accepting and for how long, which retry at once, when a pause is logged, and when
//! the connection limit sheds idle keep-alive connections and pauses accepting. The
//! backend says what happened (with the time); [`Gate::is_open`] says whether to accept.

use std::time::{Duration, Instant};

pub(crate) use crate::metrics::PauseCause as Pause;

/// How long accepting pauses when descriptors or kernel memory run out.
pub(crate) const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(100);
/// How long accepting pauses after any other error that ends accepting (never a spin).
pub(crate) const ERROR_BACKOFF: Duration = Duration::from_secs(1);
/// Idle keep-alive connections closed at once when the connection limit is reached.
pub(crate) const SHED_BATCH: usize = 32;
/// A pause of the same cause is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(1);

/// What to do after an accept error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AfterError {
    /// A passing condition of one connection (`ECONNABORTED`, `EINTR`, ...): accept again.
    Retry,
    /// Accepting pauses until [`Gate::resume_at`].
    Paused(Pause),
}

/// Whether a worker accepts, and why not.
#[derive(Debug)]
pub(crate) struct Gate {
    limit: usize,
    /// A back-off in progress: accepting resumes at this time.
    paused_until: Option<Instant>,
    /// At the connection limit: resume when a connection ends.
    at_limit: bool,
    /// When a back-off was last logged.
    last_logged: Option<Instant>,
}

impl Gate {
    /// A gate for a worker that may hold `limit` connections.
    pub(crate) fn new(limit: usize) -> Gate {
        Gate {
            limit,
            paused_until: None,
            at_limit: false,
            last_logged: None,
        }
    }

    /// Whether accepting should be armed.
    pub(crate) fn is_open(&self) -> bool {
        self.paused_until.is_none() && !self.at_limit
    }

    /// When a back-off ends, if one is in progress (for a backend that sleeps until then;
    /// the io_uring worker polls from its timer instead).
    #[cfg(any(test, feature = "tokio"))]
    pub(crate) fn resume_at(&self) -> Option<Instant> {
        self.paused_until
    }

    /// An accept failed with `errno` at `now`. `open` is the worker's connection count,
    /// for the log line.
    pub(crate) fn on_error(&mut self, errno: i32, now: Instant, open: usize) -> AfterError {
        let (pause, backoff) = match classify(errno) {
            None => return AfterError::Retry,
            Some(pause) if pause == Pause::Error => (pause, ERROR_BACKOFF),
            Some(pause) => (pause, EXHAUSTED_BACKOFF),
        };
        self.paused_until = Some(now + backoff);
        if self.last_logged.is_none_or(|t| now >= t + LOG_EVERY) {
            self.last_logged = Some(now);
            let cause = std::io::Error::from_raw_os_error(errno);
            tracing::warn!(
                connections = open,
                "accept failed ({cause}); pausing accepts for {backoff:?}, still serving open connections"
            );
        }
        AfterError::Paused(pause)
    }

    /// From the backend's timer: whether a back-off just ended (accept again).
    pub(crate) fn poll_resume(&mut self, now: Instant) -> bool {
        if self.paused_until.is_some_and(|t| now >= t) {
            self.paused_until = None;
            return self.is_open();
        }
        false
    }

    /// A connection was admitted; the worker now holds `open`. At the limit, accepting
    /// pauses and the answer is how many idle keep-alive connections to close.
    pub(crate) fn on_admitted(&mut self, open: usize) -> Option<usize> {
        if open < self.limit || self.at_limit {
            return None;
        }
        self.at_limit = true;
        tracing::warn!(
            limit = self.limit,
            "connection limit reached; closing idle keep-alive connections, pausing accepts"
        );
        Some(SHED_BATCH)
    }

    /// A connection ended; the worker now holds `open`. Whether accepting resumes.
    pub(crate) fn on_closed(&mut self, open: usize) -> bool {
        if !self.at_limit || open >= self.limit {
            return false;
        }
        self.at_limit = false;
        tracing::info!(
            limit = self.limit,
            "below the connection limit; accepting again"
        );
        self.is_open()
    }
}

/// Errors of one pending connection, which accept(2) says to retry like `EAGAIN`. `ENONET`
/// exists only on Linux.
const ONE_CONNECTION: &[i32] = &[
    libc::ECONNABORTED,
    libc::EINTR,
    libc::EAGAIN,
    libc::ECANCELED,
    libc::EPROTO,
    libc::ENETDOWN,
    libc::ENOPROTOOPT,
    libc::EHOSTDOWN,
    #[cfg(any(target_os = "linux", target_os = "android"))]
    libc::ENONET,
    libc::EHOSTUNREACH,
    libc::EOPNOTSUPP,
    libc::ENETUNREACH,
    libc::ETIMEDOUT,
];

/// `None` for errors of one pending connection; otherwise why accepting must pause.
fn classify(errno: i32) -> Option<Pause> {
    match errno {
        libc::EMFILE | libc::ENFILE => Some(Pause::Descriptors),
        libc::ENOMEM | libc::ENOBUFS => Some(Pause::Memory),
        e if ONE_CONNECTION.contains(&e) => None,
        _ => Some(Pause::Error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exhaustion_pauses_briefly_and_resumes_on_time() {
        let t0 = Instant::now();
        for (errno, cause) in [
            (libc::EMFILE, Pause::Descriptors),
            (libc::ENFILE, Pause::Descriptors),
            (libc::ENOMEM, Pause::Memory),
            (libc::ENOBUFS, Pause::Memory),
        ] {
            let mut gate = Gate::new(10);
            assert_eq!(gate.on_error(errno, t0, 3), AfterError::Paused(cause));
            assert!(!gate.is_open());
            assert_eq!(gate.resume_at(), Some(t0 + EXHAUSTED_BACKOFF));
            assert!(!gate.poll_resume(t0 + EXHAUSTED_BACKOFF / 2), "not yet");
            assert!(gate.poll_resume(t0 + EXHAUSTED_BACKOFF));
            assert!(gate.is_open());
        }
    }

    #[test]
    fn errors_of_one_connection_retry_at_once() {
        let mut gate = Gate::new(10);
        for errno in [
            libc::ECONNABORTED,
            libc::EINTR,
            libc::EPROTO,
            libc::ECANCELED,
        ] {
            assert_eq!(gate.on_error(errno, Instant::now(), 0), AfterError::Retry);
            assert!(gate.is_open(), "errno {errno}");
        }
    }

    #[test]
    fn any_other_error_backs_off_instead_of_spinning() {
        let t0 = Instant::now();
        for errno in [libc::EINVAL, libc::EBADF, libc::ENOTSOCK, libc::EPERM] {
            let mut gate = Gate::new(10);
            assert_eq!(
                gate.on_error(errno, t0, 0),
                AfterError::Paused(Pause::Error)
            );
            assert_eq!(gate.resume_at(), Some(t0 + ERROR_BACKOFF), "errno {errno}");
        }
    }

    #[test]
    fn the_limit_sheds_once_per_episode_and_resumes_below_it() {
        let mut gate = Gate::new(3);
        assert_eq!(gate.on_admitted(2), None);
        assert_eq!(gate.on_admitted(3), Some(SHED_BATCH));
        assert!(!gate.is_open());
        assert_eq!(gate.on_admitted(3), None, "one shedding per episode");
        assert!(!gate.on_closed(3), "still at the limit");
        assert!(gate.on_closed(2));
        assert!(gate.is_open());
    }

    #[test]
    fn a_back_off_and_the_limit_both_hold_accepting() {
        let t0 = Instant::now();
        let mut gate = Gate::new(1);
        let _ = gate.on_admitted(1);
        let _ = gate.on_error(libc::EMFILE, t0, 1);
        assert!(!gate.poll_resume(t0 + ERROR_BACKOFF), "still at the limit");
        assert!(gate.on_closed(0), "the back-off ended and room appeared");
    }
}
