//! Fuzzes the protocol core through a connection's flow: the first bytes choose where
//! the stream is split, the rest is the stream. Panics on a crash, on output that is not
//! a sequence of well-formed responses, on a split that changes the answer, and on
//! buffered memory beyond the limits.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use greeter::proto::check::check_stream;
use greeter::proto::{Greeter, ProtoConfig, Protocol};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else { return };
    let cuts = usize::from(selector & 0x7) * 2;
    if rest.len() < cuts {
        return;
    }
    let (splits, stream) = rest.split_at(cuts);
    let points: Vec<usize> = splits.chunks(2).map(|p| usize::from(u16::from_le_bytes([p[0], p[1]]))).collect();
    let protocol = if selector & 0x80 == 0 { Protocol::Http } else { Protocol::Raw };
    let mut config = ProtoConfig::default();
    (config.protocol, config.max_header_bytes, config.max_body_bytes, config.max_pending_output) = (protocol, 1024, 512, 2048);
    let greeter = Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    check_stream(&greeter, stream, &points);
});
