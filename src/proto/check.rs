//! Conformance checks shared by the property tests and the fuzz target (`fuzz/`): drive
//! a byte stream through a connection's flow as a backend would, and check what comes out.
//! Compiled only for tests and for the fuzz target (`--cfg fuzzing`), never in the server.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::{Action, Flow, Greeter, Output, ProtoConfig, Protocol};

/// The fuzz target's input, checked: its first byte picks the protocol (high bit: raw)
/// and how many split points follow (low three bits, two bytes each); the rest is the
/// stream. The committed seeds (`fuzz/seeds/proto/`) are run through this by
/// `cargo test` too.
pub fn check_fuzz_input(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let cuts = usize::from(selector & 0x7) * 2;
    if rest.len() < cuts {
        return;
    }
    let (splits, stream) = rest.split_at(cuts);
    let points: Vec<usize> = splits
        .chunks(2)
        .map(|p| usize::from(u16::from_le_bytes([p[0], p[1]])))
        .collect();
    let protocol = match selector & 0x80 {
        0 => Protocol::Http,
        _ => Protocol::Raw,
    };
    let config = ProtoConfig {
        protocol,
        max_header_bytes: 1024,
        max_body_bytes: 512,
        max_pending_output: 2048,
        ..ProtoConfig::default()
    };
    let greeter = Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000));
    check_stream(&greeter, stream, &points);
}

/// Longest single response `proto` writes (a 64-character name and every header).
pub const MAX_RESPONSE: usize = 512;

/// Feeds `chunks` through a [`Flow`] as a backend does, writing output at once, and checks
/// the memory bounds after every step. Returns what was written and whether it closed.
pub fn run_stream(g: &Greeter, chunks: &[&[u8]]) -> (Vec<u8>, bool) {
    let now = Instant::now();
    let (mut flow, mut out, mut written) = (Flow::new(g, now), Vec::new(), Vec::new());
    for chunk in chunks {
        let mut action = flow.handle_input(g, chunk, &mut Output::bytes(&mut out), now);
        loop {
            assert!(
                out.len() <= g.config().max_pending_output + MAX_RESPONSE,
                "{} bytes pending",
                out.len()
            );
            written.append(&mut out);
            match action {
                Action::Hold => action = flow.handle_flushed(g, &mut Output::bytes(&mut out), now),
                Action::Read => break,
                Action::Close { .. } | Action::Abort => return (written, true),
            }
        }
        // An unfinished head, plus a `POST /greet` body held for its answer.
        let bound = g.config().max_header_bytes as u64 + g.config().max_body_bytes;
        assert!(
            flow.buffered() as u64 <= bound,
            "{} bytes buffered",
            flow.buffered()
        );
    }
    (written, false)
}

/// Asserts `out` is a sequence of complete HTTP/1.1 responses with greeter's headers
/// (each possibly after an interim `100 Continue`).
pub fn assert_well_formed(out: &[u8]) {
    let mut at = 0;
    while at < out.len() {
        if out[at..].starts_with(super::response::CONTINUE) {
            at += super::response::CONTINUE.len();
            continue;
        }
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = response.parse(&out[at..]) else {
            panic!(
                "not a response head at {at}: {:?}",
                String::from_utf8_lossy(&out[at..])
            );
        };
        let length = checked_length(&response);
        let rest = &out[at + head..];
        // A HEAD answer has a length but no body: the next response follows at once.
        let body = if rest.is_empty() || rest.starts_with(b"HTTP/1.1 ") {
            0
        } else {
            length
        };
        assert!(rest.len() >= body, "body cut short");
        at += head + body;
    }
}

/// Checks a response head has greeter's headers; its `Content-Length`.
fn checked_length(response: &httparse::Response<'_, '_>) -> usize {
    assert_eq!(response.version, Some(1));
    let value = |name: &str| {
        response
            .headers
            .iter()
            .find(|h| h.name == name)
            .map(|h| h.value)
    };
    assert_eq!(value("Server"), Some(b"greeter".as_slice()));
    assert!(
        value("Date").is_some_and(|d| d.len() == 29),
        "a Date header"
    );
    let length =
        value("Content-Length").and_then(|v| std::str::from_utf8(v).ok()?.parse::<usize>().ok());
    length.expect("a numeric Content-Length")
}

/// Splits `data` at `points` (sorted or not, possibly repeated, clamped to the length).
pub fn split_at<'a>(data: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = points.iter().map(|&p| p.min(data.len())).collect();
    points.sort_unstable();
    points.dedup();
    let mut chunks = Vec::with_capacity(points.len() + 1);
    let mut last = 0;
    for p in points.into_iter().chain([data.len()]) {
        chunks.push(&data[last..p]);
        last = p;
    }
    chunks
}

/// The whole check on one stream: well-formed output, and the same output for the
/// whole stream and for the given split.
pub fn check_stream(g: &Greeter, data: &[u8], points: &[usize]) {
    let whole = run_stream(g, &[data]);
    match g.config().protocol {
        Protocol::Http => assert_well_formed(&whole.0),
        Protocol::Raw => {
            let line = format!("{}\n", g.config().greeting);
            assert!(
                whole.0.is_empty() || whole.0 == line.as_bytes(),
                "the raw protocol writes its line once"
            );
        }
    }
    assert_eq!(
        run_stream(g, &split_at(data, points)),
        whole,
        "a different split gave a different answer"
    );
}
