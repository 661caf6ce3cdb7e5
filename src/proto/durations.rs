//! How long greeter took over each request, server-side: from the moment it had the
//! request's complete head to the moment the answer was queued for sending (a body's
//! arrival counts; the client's trickling of the head and the network do not). Kept per
//! worker as a Prometheus histogram by route and status class, with fixed buckets.

use std::time::Duration;

use super::counter::Counter;
use super::status::{Route, Status};

/// Upper bounds of the buckets, in microseconds (`le` in seconds: 100 µs to 10 s).
pub(crate) const BOUNDS_MICROS: [u64; 16] = [
    100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 2_500_000, 5_000_000, 10_000_000,
];

/// Status classes, as the `class` label says them.
pub(crate) const CLASSES: [&str; 4] = ["2xx", "3xx", "4xx", "5xx"];

/// One route and class: a count per bucket (the last past every bound), and the sum.
#[derive(Debug, Default)]
struct Series {
    buckets: [Counter; BOUNDS_MICROS.len() + 1],
    sum_micros: Counter,
}

/// A worker's request durations (one writer: its thread).
#[derive(Debug, Default)]
pub(crate) struct Durations {
    series: [[Series; CLASSES.len()]; Route::ALL.len()],
}

/// One series as a scrape reads it: cumulative bucket counts, the count, the sum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Observed {
    pub cumulative: [u64; BOUNDS_MICROS.len()],
    pub count: u64,
    pub sum_micros: u64,
}

impl Durations {
    /// One request on `route`, answered with `status`, took `elapsed`.
    pub(super) fn observe(&self, route: Route, status: Status, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let series = &self.series[route as usize][class(status)];
        let bucket = BOUNDS_MICROS.partition_point(|&bound| bound < micros);
        series.buckets[bucket].add(1);
        series.sum_micros.add(micros);
    }

    /// The series of `route` and class index `class` (into [`CLASSES`]).
    pub(crate) fn observed(&self, route: Route, class: usize) -> Observed {
        let series = &self.series[route as usize][class];
        let mut cumulative = [0; BOUNDS_MICROS.len()];
        let mut running = 0;
        for (slot, bucket) in cumulative.iter_mut().zip(&series.buckets) {
            running += bucket.get();
            *slot = running;
        }
        Observed {
            cumulative,
            count: running + series.buckets[BOUNDS_MICROS.len()].get(),
            sum_micros: series.sum_micros.get(),
        }
    }
}

/// The index into [`CLASSES`] of `status` (every answer greeter gives is final).
fn class(status: Status) -> usize {
    usize::from(status.code() / 100).clamp(2, 5) - 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_lands_in_the_first_bucket_that_holds_it() {
        let d = Durations::default();
        d.observe(Route::Root, Status::Ok, Duration::from_micros(100));
        d.observe(Route::Root, Status::Ok, Duration::from_micros(101));
        d.observe(Route::Root, Status::Ok, Duration::from_secs(11));
        d.observe(Route::Other, Status::NotFound, Duration::from_micros(3));
        let root = d.observed(Route::Root, 0);
        assert_eq!(root.cumulative[0], 1, "le=0.0001 holds exactly 100 µs");
        assert_eq!(root.cumulative[1], 2);
        assert_eq!(root.cumulative[15], 2, "11 s is past the last bound");
        assert_eq!(root.count, 3);
        assert_eq!(root.sum_micros, 11_000_201);
        assert_eq!(d.observed(Route::Other, 2).count, 1, "404 is 4xx");
        assert_eq!(d.observed(Route::Root, 2).count, 0);
    }
}
