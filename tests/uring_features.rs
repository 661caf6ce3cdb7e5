//! The io_uring features behind `--uring-features` (registered ring descriptor, no
//! submission array, direct descriptors, a minimum wait, bundle receives): each serves
//! byte for byte what the plain setup serves, shows in the setup flags, and drains on
//! shutdown.
#![cfg(uring)]

mod support;

use std::io::Write;

use greeter::{BackendChoice, UringFeatures};
use support::*;

fn serves_the_same_with(features: &str, flags: &[&str]) {
    serves_the_same_with_buffers(features, flags, 2048);
}

/// As above, with receive buffers of `buffer_size` bytes.
fn serves_the_same_with_buffers(features: &str, flags: &[&str], buffer_size: u32) {
    let features: UringFeatures = features.parse().unwrap();
    if greeter::resolve(BackendChoice::Uring, "--backend").is_err() {
        return eprintln!("skipped: io_uring is not available here");
    }
    let server = server_with(BackendChoice::Uring, |c| {
        c.uring.features = features;
        c.uring.recv_buffer_size = buffer_size;
    });
    let addr = server.local_addr();
    for flag in flags {
        assert!(
            server.setup().contains(flag),
            "{flag} in {}",
            server.setup()
        );
    }
    // Keep-alive, pipelined, then a fresh connection per request.
    let mut conn = connect(addr);
    conn.write_all(GET.repeat(16).as_bytes()).unwrap();
    assert_eq!(read_responses(&mut conn, 16), hello().repeat(16));
    for _ in 0..20 {
        let close = b"GET /greet/Ann HTTP/1.0\r\n\r\n";
        let want = expected("200 OK", "Connection: close\r\n", "Hello, Ann!");
        assert_eq!(exchange(addr, close), want);
    }
    conn.write_all(GET.as_bytes()).unwrap();
    assert_eq!(read_response(&mut conn), hello());
    // Shutdown closes the idle connection and ends.
    server.shutdown();
    assert_eq!(read_to_close(&mut conn), "");
    server.join().unwrap();
}

#[test]
fn registered_ring_descriptor() {
    serves_the_same_with("ring-fd", &["REGISTERED_RING_FD"]);
}

#[test]
fn no_submission_array() {
    serves_the_same_with("no-sqarray", &["NO_SQARRAY"]);
}

#[test]
fn direct_descriptors() {
    serves_the_same_with("direct", &["DIRECT_DESCRIPTORS"]);
}

#[test]
fn minimum_wait() {
    serves_the_same_with("min-wait=50", &["MIN_WAIT=50us"]);
}

/// Sixteen pipelined requests over 64-byte buffers: a bundle spans several, joined in
/// ring order.
#[test]
fn bundle_receives() {
    serves_the_same_with_buffers("bundle", &["RECV_BUNDLE"], 64);
}

/// Bundles are on unless turned off; the other features are off unless named.
#[test]
fn bundles_by_default_and_off_by_name() {
    let default: UringFeatures = "".parse().unwrap();
    assert_eq!(default, UringFeatures::default());
    assert!(default.bundle && !default.ring_fd && !default.direct && default.min_wait_us == 0);
    let off: UringFeatures = "off-bundle".parse().unwrap();
    assert!(!off.bundle);
    if greeter::resolve(BackendChoice::Uring, "--backend").is_err() {
        return eprintln!("skipped: io_uring is not available here");
    }
    let server = server_with(BackendChoice::Uring, |c| c.uring.features = off);
    assert!(
        !server.setup().contains("RECV_BUNDLE"),
        "{}",
        server.setup()
    );
    let mut conn = connect(server.local_addr());
    conn.write_all(GET.repeat(16).as_bytes()).unwrap();
    assert_eq!(read_responses(&mut conn, 16), hello().repeat(16));
}

#[test]
fn all_together() {
    let all = [
        "NO_SQARRAY",
        "REGISTERED_RING_FD",
        "MIN_WAIT=20us",
        "DIRECT_DESCRIPTORS",
        "RECV_BUNDLE",
    ];
    serves_the_same_with_buffers("ring-fd,no-sqarray,direct,bundle,min-wait=20", &all, 64);
}

#[test]
fn features_are_named_when_unknown() {
    let err = "ring-fd,turbo".parse::<UringFeatures>().unwrap_err();
    assert_eq!(
        err,
        "`turbo`: the features are ring-fd, no-sqarray, direct, bundle, restrict, min-wait=US"
    );
    let err = "min-wait=soon".parse::<UringFeatures>().unwrap_err();
    assert_eq!(err, "`min-wait=soon`: microseconds expected");
}
