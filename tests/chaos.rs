//! The chaos test, on every backend: every kind of client at once (pipelined, trickled a
//! byte at a time, half-closed, chunked and `Content-Length` bodies, beside refused,
//! oversized, reset mid-response, slowloris and never-reading ones) on a deliberately
//! small ring, submission queue and buffer ring, so that `ENOBUFS`, multishot ends and a
//! full queue all happen; a graceful shutdown begins in the middle. Then: every
//! well-formed exchange got its answer byte for byte (or, once the shutdown began, a
//! clean close), every connection is released, every provided buffer is back in the
//! ring, the fixed-file table is empty, and no worker failed or panicked.

mod support;

use std::thread;
use std::time::{Duration, Instant};

use greeter::{BackendChoice, ServerHandle, UringFeatures};
use support::mix::{Failure, Mix};
use support::*;

/// The mix runs this long before the shutdown begins.
const BEFORE_SHUTDOWN: Duration = Duration::from_secs(12);

fn chaos_leaves_nothing_behind(backend: BackendChoice) {
    chaos(backend, UringFeatures::default());
}

/// The same with direct descriptors: every fixed-file slot must come back.
#[cfg(uring)]
#[test]
fn chaos_on_direct_descriptors_leaves_nothing_behind() {
    run(BackendChoice::Uring, |backend| {
        chaos(backend, "direct".parse().unwrap())
    });
}

fn chaos(backend: BackendChoice, features: UringFeatures) {
    let server = server_with(backend, |c| {
        c.uring.sq_entries = 8;
        c.uring.recv_buffers = 8;
        c.uring.recv_buffer_size = 256;
        c.uring.features = features;
        c.proto.timeouts.header = Duration::from_secs(2);
        c.proto.timeouts.idle = Duration::from_secs(2);
        c.shutdown_timeout = Duration::from_secs(10);
    });
    let addr = server.local_addr();
    let mix = Mix::start(addr, 2, Duration::from_millis(2), Duration::from_secs(1));
    thread::sleep(BEFORE_SHUTDOWN);
    let before = server.stats();
    let shutdown_at = Instant::now();
    server.shutdown();
    eventually("every connection is released", || server.stats().open == 0);
    let tally = mix.stop();
    let in_use = held(&server);
    println!(
        "{backend:?}: {} served, {} hostile, {} clean closes once the shutdown began; {} receives found no buffer, {} submissions waited for room; held after: {in_use:?}",
        tally.served,
        tally.hostile,
        tally.failures.len(),
        before.recv_enobufs,
        before.sq_waits,
    );
    let unclean: Vec<_> = tally
        .failures
        .iter()
        .filter(|(at, _, f)| *at < shutdown_at || matches!(f, Failure::Wrong { .. }))
        .map(|(at, kind, f)| (shutdown_at.saturating_duration_since(*at), kind, f))
        .collect();
    assert!(
        unclean.is_empty(),
        "{} exchanges failed before the shutdown or got wrong bytes, first: {:#?}",
        unclean.len(),
        &unclean[..unclean.len().min(5)]
    );
    assert!(tally.served > 500 && tally.hostile > 50, "the mix ran");
    if backend == BackendChoice::Uring {
        assert!(before.recv_enobufs > 0, "the buffer ring ran dry at times");
        assert!(
            before.sq_waits > 0,
            "the submission queue was full at times"
        );
    }
    assert!(in_use.iter().all(|(_, n)| *n == 0), "{in_use:?}");
    assert!(server.join().is_ok(), "no worker failed or panicked");
}

/// What `/metrics` says the io_uring workers still hold: buffers out of the ring and
/// fixed-file slots, per worker (nothing on other backends).
fn held(server: &ServerHandle) -> Vec<(String, u64)> {
    let metrics = server.metrics();
    let gauges = [
        "greeter_uring_buffers_in_use{",
        "greeter_uring_direct_slots_in_use{",
    ];
    metrics
        .lines()
        .filter(|l| gauges.iter().any(|g| l.starts_with(g)))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').unwrap();
            (series.to_owned(), value.parse().unwrap())
        })
        .collect()
}

per_backend!(chaos_leaves_nothing_behind);
