//! When a connection's next request is due under a fixed rate. Latency is measured from
//! the intended send time, so a stalled server cannot hide its stall by slowing the
//! client down (coordinated omission, as wrk2 corrects it).

/// One connection's share of a fixed request rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Schedule {
    interval_ns: u64,
    next_ns: u64,
}

impl Schedule {
    /// `rate` requests per second over `connections`; connection `index` starts a fraction
    /// of an interval later than the previous one, so sends are spread evenly.
    pub(super) fn fixed(rate: u64, connections: usize, index: usize, start_ns: u64) -> Schedule {
        let per_connection = (rate as f64 / connections.max(1) as f64).max(1e-9);
        let interval_ns = (1e9 / per_connection).round().max(1.0) as u64;
        let offset = interval_ns * index as u64 / connections.max(1) as u64;
        Schedule {
            interval_ns,
            next_ns: start_ns + offset,
        }
    }

    /// The intended send time of the next request if it is due by `now_ns`, advancing
    /// the schedule by one interval.
    pub(super) fn take_due(&mut self, now_ns: u64) -> Option<u64> {
        if self.next_ns > now_ns {
            return None;
        }
        let due = self.next_ns;
        self.next_ns += self.interval_ns;
        Some(due)
    }

    pub(super) fn next_due(&self) -> u64 {
        self.next_ns
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_the_rate_over_connections() {
        let s: Vec<Schedule> = (0..4).map(|i| Schedule::fixed(1000, 4, i, 0)).collect();
        assert!(s.iter().all(|s| s.interval_ns == 4_000_000), "250/s each");
        let starts: Vec<u64> = s.iter().map(Schedule::next_due).collect();
        assert_eq!(starts, [0, 1_000_000, 2_000_000, 3_000_000]);
    }

    #[test]
    fn due_times_are_intended_not_actual() {
        let mut s = Schedule::fixed(1000, 1, 0, 5_000);
        assert_eq!(s.take_due(0), None, "not yet");
        // The client was stalled for 3.5 ms: three sends are overdue, each keeps its time.
        let due: Vec<u64> = std::iter::from_fn(|| s.take_due(3_505_000)).collect();
        assert_eq!(due, [5_000, 1_005_000, 2_005_000, 3_005_000]);
        assert_eq!(s.next_due(), 4_005_000);
    }

    #[test]
    fn over_a_second_the_rate_is_exact() {
        let mut total = 0;
        for i in 0..7 {
            let mut s = Schedule::fixed(7000, 7, i, 0);
            total += std::iter::from_fn(|| s.take_due(999_999_999)).count();
        }
        assert_eq!(total, 7000);
    }
}
