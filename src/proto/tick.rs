//! What changes once a tick and is the same for every request meanwhile: the `Date`
//! header, the answers rendered with it ([`Canned`]), and the `/metrics` body, rendered at
//! most once per tick however many scrapes come. The backend's timer refreshes it; the
//! time comes in as an argument.

use std::cell::OnceCell;
use std::time::SystemTime;

use super::canned::Canned;
use super::date::DateCache;
use super::settings::Settings;

/// A worker's per-tick cache.
#[derive(Debug, Clone)]
pub(super) struct Tick {
    date: DateCache,
    /// The common answers, rendered for `date`.
    canned: Canned,
    /// The `/metrics` body of this tick, once a scrape asked for it.
    metrics: OnceCell<Vec<u8>>,
}

impl Tick {
    /// The cache at `now` for `settings`.
    pub(super) fn new(settings: &Settings, now: SystemTime) -> Tick {
        let date = DateCache::new(now);
        let canned = Canned::render(settings, &date);
        Tick {
            date,
            canned,
            metrics: OnceCell::new(),
        }
    }

    /// A new tick at `now`: the next scrape renders afresh, and the `Date` (with the
    /// answers that carry it) moves when the second has changed.
    pub(super) fn refresh(&mut self, settings: &Settings, now: SystemTime) {
        self.metrics = OnceCell::new();
        if self.date.update(now) {
            self.canned = Canned::render(settings, &self.date);
        }
    }

    pub(super) fn date(&self) -> &DateCache {
        &self.date
    }

    pub(super) fn canned(&self) -> &Canned {
        &self.canned
    }

    /// This tick's `/metrics` body: `render`ed by the first scrape of the tick.
    pub(super) fn metrics(&self, render: impl FnOnce() -> Vec<u8>) -> &[u8] {
        self.metrics.get_or_init(render)
    }
}
