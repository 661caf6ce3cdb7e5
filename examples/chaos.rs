//! `cargo run --release --example chaos -- ADDR SECONDS`: runs the chaos test's mix of
//! clients (well-formed ones checked byte for byte beside refused, oversized, reset,
//! slowloris and never-reading ones) against a running server at ADDR for SECONDS, at a
//! steady pace, then prints what it saw; exits 1 if a well-formed exchange went wrong.
//! `ci/soak.sh` runs it for minutes while it watches the server's memory.

#[path = "../tests/support/mix.rs"]
mod mix;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(addr), Some(seconds)) = (
        args.first().and_then(|a| a.parse::<SocketAddr>().ok()),
        args.get(1).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: chaos ADDR SECONDS (e.g. chaos 127.0.0.1:8888 600)");
        return ExitCode::from(2);
    };
    // A steady pace: each client pauses 10 ms between exchanges.
    let run = mix::Mix::start(addr, 2, Duration::from_millis(10), Duration::from_secs(1));
    std::thread::sleep(Duration::from_secs(seconds));
    let tally = run.stop();
    println!(
        "chaos: {} well-formed exchanges answered byte for byte, {} hostile clients, {} failures",
        tally.served,
        tally.hostile,
        tally.failures.len()
    );
    for (_, kind, failure) in tally.failures.iter().take(10) {
        println!("  {kind}: {failure:?}");
    }
    match tally.failures.is_empty() {
        true => ExitCode::SUCCESS,
        false => ExitCode::FAILURE,
    }
}
