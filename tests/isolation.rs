//! One client's refused request never touches another client's connection, on every
//! backend: well-formed clients (pipelined, half-closed, chunked and `Content-Length` `POST
//! /greet`, trickled) on fresh connections, beside clients refused with `400` (a malformed
//! header line) and `431` (a 100 KB header), on a deliberately small ring. Every
//! well-formed exchange must get its answer, byte for byte.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use greeter::BackendChoice;
use support::mix::{self, Hostile, Polite};
use support::*;

/// How long the mix runs on each backend.
const RUN: Duration = Duration::from_secs(4);

fn refused_requests_never_close_other_clients(backend: BackendChoice) {
    mix_beside_refusals(backend, greeter::UringFeatures::default());
}

/// The same with direct descriptors, whose fixed-file slots are reused as numbers are.
#[cfg(uring)]
#[test]
fn refused_requests_never_close_other_clients_on_direct_descriptors() {
    run(BackendChoice::Uring, |backend| {
        mix_beside_refusals(backend, "direct".parse().unwrap())
    });
}

fn mix_beside_refusals(backend: BackendChoice, features: greeter::UringFeatures) {
    let server = server_with(backend, |c| {
        c.workers = std::num::NonZeroUsize::new(1);
        c.uring.sq_entries = 32;
        c.uring.features = features;
    });
    let addr = server.local_addr();
    let stop = Arc::new(AtomicBool::new(false));
    let refused = Arc::new(AtomicUsize::new(0));
    let attackers: Vec<_> = [Hostile::Malformed, Hostile::Oversized]
        .into_iter()
        .map(|kind| {
            let (stop, refused) = (Arc::clone(&stop), Arc::clone(&refused));
            thread::spawn(move || {
                let mut unanswered = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    if let Err(e) = mix::hostile(addr, kind, Duration::ZERO) {
                        unanswered.push(e);
                    }
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                unanswered
            })
        })
        .collect();
    let clients: Vec<_> = Polite::ALL
        .into_iter()
        .map(|kind| {
            let stop = Arc::clone(&stop);
            thread::spawn(move || {
                let (mut served, mut lost) = (0usize, Vec::new());
                while !stop.load(Ordering::Relaxed) {
                    match mix::polite(addr, kind) {
                        Ok(()) => served += 1,
                        Err(failure) => lost.push(failure),
                    }
                }
                (kind, served, lost)
            })
        })
        .collect();
    thread::sleep(RUN);
    stop.store(true, Ordering::Relaxed);
    let unanswered: Vec<String> = attackers
        .into_iter()
        .flat_map(|a| a.join().unwrap())
        .collect();
    let mut failures = Vec::new();
    for client in clients {
        let (kind, served, lost) = client.join().unwrap();
        println!("{backend:?} {kind:?}: {served} served, {} lost", lost.len());
        assert!(served > 0, "{kind:?} was never served");
        failures.extend(lost.into_iter().map(|l| (kind, l)));
    }
    let refused = refused.load(Ordering::Relaxed);
    println!("{backend:?}: {refused} refused requests");
    assert!(refused > 100, "the attackers ran: {refused}");
    assert!(
        unanswered.is_empty(),
        "{} refused clients not told why, first: {:?}",
        unanswered.len(),
        &unanswered[..unanswered.len().min(5)]
    );
    assert!(
        failures.is_empty(),
        "{} well-formed exchanges lost beside {refused} refused ones, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(5)]
    );
}

per_backend!(refused_requests_never_close_other_clients);
