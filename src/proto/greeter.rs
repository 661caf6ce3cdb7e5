//! What one worker's connections share, in four parts that change at different times:
//! the [`Settings`] (never), the per-tick cache [`Tick`] (each tick), the worker's counts
//! [`Tally`] (each answer), and whether it drains (once). The backend owns it and lends
//! it to every flow step; each piece of the protocol takes the part it uses.

use std::fmt;
use std::sync::Arc;
use std::time::SystemTime;

use super::settings::Settings;
use super::tally::Tally;
use super::tick::Tick;
use super::{ProtoConfig, Timeouts};

/// Renders the body of `/metrics` from counters already kept: no I/O, no clock (the
/// process figures it shows were sampled elsewhere).
pub(crate) trait Exposition: Send + Sync {
    /// Appends the exposition to `out`.
    fn render(&self, out: &mut Vec<u8>);
}

/// A worker's protocol state.
#[derive(Clone)]
pub struct Greeter {
    pub(super) settings: Settings,
    pub(super) tick: Tick,
    pub(super) tally: Arc<Tally>,
    draining: bool,
    exposition: Option<Arc<dyn Exposition>>,
}

impl fmt::Debug for Greeter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Greeter")
            .field("settings", &self.settings)
            .field("draining", &self.draining)
            .field("metrics", &self.exposition.is_some())
            .finish_non_exhaustive()
    }
}

impl Greeter {
    /// Protocol state for `config`, with the `Date` header at `now`.
    pub fn new(config: ProtoConfig, now: SystemTime) -> Self {
        let settings = Settings::new(config);
        Greeter {
            tick: Tick::new(&settings, now),
            settings,
            tally: Arc::default(),
            draining: false,
            exposition: None,
        }
    }

    /// Counts into `tally` (the worker's, shared with whatever scrapes it).
    pub(crate) fn with_tally(self, tally: Arc<Tally>) -> Self {
        Greeter { tally, ..self }
    }

    /// Serves `/metrics`, rendered by `exposition` (at most once per tick).
    pub(crate) fn expose(self, exposition: Arc<dyn Exposition>) -> Self {
        Greeter {
            exposition: Some(exposition),
            ..self
        }
    }

    /// The settings it was made with.
    pub fn config(&self) -> &ProtoConfig {
        self.settings.config()
    }

    /// Per-connection deadlines.
    pub fn timeouts(&self) -> &Timeouts {
        self.settings.timeouts()
    }

    /// A new tick at `now`: the `Date` header (and the answers that carry it) follow the
    /// second, and the next scrape renders afresh. The backend calls this from its timer.
    pub fn set_time(&mut self, now: SystemTime) {
        self.tick.refresh(&self.settings, now);
        self.tally.ticked();
    }

    /// From now on `/healthz` answers `503` and the response that ends a connection's
    /// received input says `Connection: close`.
    pub fn start_draining(&mut self) {
        self.draining = true;
        self.tally.set_draining();
    }

    /// Whether connections begin with a PROXY protocol preface (`--proxy-protocol`): the
    /// backend then keeps each peer's address, to name it if the preface is refused.
    pub fn expects_preface(&self) -> bool {
        self.settings.proxy_protocol()
    }

    /// Whether [`Greeter::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Whether `/metrics` is served here.
    pub(super) fn serves_metrics(&self) -> bool {
        self.exposition.is_some()
    }

    /// This tick's `/metrics` body.
    pub(super) fn metrics(&self) -> &[u8] {
        self.tick.metrics(|| {
            let mut out = Vec::new();
            if let Some(e) = &self.exposition {
                e.render(&mut out);
            }
            out
        })
    }
}
