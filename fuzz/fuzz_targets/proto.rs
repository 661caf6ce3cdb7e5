//! Fuzzes the protocol core through a connection's flow: the first bytes choose the
//! protocol and where the stream is split, the rest is the stream (see
//! `greeter::proto::check::check_fuzz_input`). Panics on a crash, on output that is not a
//! sequence of well-formed responses, on a split that changes the answer, and on buffered
//! memory beyond the limits. Seeds: `fuzz/seeds/proto/`.
#![no_main]

use greeter::proto::check::check_fuzz_input;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check_fuzz_input(data));
