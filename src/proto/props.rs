//! Property tests of the protocol core. Arbitrary byte streams (chunked bodies, `POST
//! /greet` and `Expect` among them) in arbitrary splits never panic, always produce a
//! sequence of well-formed HTTP/1.1 responses, give the same output whatever the split,
//! and keep buffered input within the configured limits. And
//! a differential check: a head `proto` accepts, httparse parses the same way, and what
//! httparse rejects, `proto` rejects. The stream checks live in `check.rs`, shared with
//! the fuzz target.

use std::time::{Duration, UNIX_EPOCH};

use proptest::prelude::*;

use super::check::check_stream;
use super::head::{self, Parsed};
use super::{Greeter, ProtoConfig};

fn greeter() -> Greeter {
    let config = ProtoConfig {
        max_header_bytes: 1024,
        max_body_bytes: 512,
        max_pending_output: 2048,
        ..ProtoConfig::default()
    };
    Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

/// Bytes that look like HTTP often enough to reach every state, and sometimes do not.
fn stream() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        Just(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
        Just(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello".to_vec()),
        Just(b"GET /greet/%41b%C3%A9 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n".to_vec()),
        Just(b"GET /nope HTTP/1.1\r\nHost: x\r\n".to_vec()),
        Just(b"Transfer-Encoding: chunked\r\n".to_vec()),
        Just(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec()),
        Just(b"POST /greet HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n".to_vec()),
        Just(b"POST /greet HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nBob".to_vec()),
        Just(b"5\r\nhello\r\n".to_vec()),
        Just(b"8\r\nname=Bob\r\n".to_vec()),
        Just(b"3;x=\"y\"\r\nabc\r\n".to_vec()),
        Just(b"0\r\n\r\n".to_vec()),
        Just(b"0\r\nX-T: 1\r\n\r\n".to_vec()),
        Just(b"Expect: 100-continue\r\n".to_vec()),
        Just(b"Content-Type: text/plain\r\n".to_vec()),
        Just(b"Content-Length: 3\r\n".to_vec()),
        Just(b"Connection: close\r\n".to_vec()),
        Just(b"\r\n".to_vec()),
        prop::collection::vec(any::<u8>(), 0..48),
        "[ -~]{0,64}".prop_map(String::into_bytes),
    ];
    prop::collection::vec(piece, 0..16).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn any_stream_in_any_split(data in stream(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8)) {
        let points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        check_stream(&greeter(), &data, &points);
    }

    #[test]
    fn heads_agree_with_httparse(raw in head_bytes()) {
        let ours = head::parse(&raw, 8192);
        let mut headers = [httparse::EMPTY_HEADER; head::MAX_HEADERS];
        let mut request = httparse::Request::new(&mut headers);
        let theirs = request.parse(&raw);
        if theirs.is_err() {
            prop_assert!(matches!(ours, Parsed::Reject(_)), "httparse rejects, proto said {:?}", ours);
        }
        match ours {
            Parsed::Complete(h) => {
                prop_assert_eq!(theirs, Ok(httparse::Status::Complete(h.len)));
                prop_assert_eq!(h.method, head::method_of(request.method.unwrap()));
                prop_assert_eq!(h.target, request.path.unwrap().as_bytes());
                prop_assert_eq!(Some(h.minor), request.version);
                prop_assert_eq!(h.header_count, request.headers.len());
            }
            Parsed::Partial => prop_assert_eq!(theirs, Ok(httparse::Status::Partial)),
            Parsed::Reject(_) => {}
        }
    }
}

/// Request heads from parts that are valid, almost valid, or not at all.
fn head_bytes() -> impl Strategy<Value = Vec<u8>> {
    let one_of = |fixed: &'static [&'static str], pattern: &'static str| {
        prop_oneof![prop::sample::select(fixed).prop_map(str::to_owned), pattern]
    };
    let method = one_of(&["GET", "HEAD", "POST", "OPTIONS", "G T", ""], "[A-Z]{1,7}");
    let target = one_of(&["/", "/greet/x", "*", "http://h/p", "/a b"], "[!-~]{0,16}");
    let version = one_of(
        &[
            "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", "HTTP/1.2", "http/1.1", "",
        ],
        "HTTP/[0-9.]{1,3}",
    );
    let name = one_of(
        &["Host", "Content-Length", "X-A", "Bad Name", ""],
        "[!-~]{1,8}",
    );
    let value = one_of(&["x", "5", " 7 ", "a\tb"], "[\\x00-\\x7f]{0,8}");
    let header = (name, value).prop_map(|(n, v)| format!("{n}: {v}\r\n"));
    let ending = prop::sample::select(&["\r\n", "", "\n", "\r"][..]);
    (
        method,
        target,
        version,
        prop::collection::vec(header, 0..6),
        ending,
    )
        .prop_map(|(m, t, v, hs, end)| format!("{m} {t} {v}\r\n{}{end}", hs.concat()).into_bytes())
}

/// The fuzz target's committed seeds (the rejections conformance suites test, among
/// others) pass the same checks the fuzzer applies.
#[test]
fn the_fuzz_seeds_pass_the_stream_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds/proto");
    let mut seeds = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/seeds/proto exists") {
        let path = entry.unwrap().path();
        eprintln!("seed {}", path.display());
        super::check::check_fuzz_input(&std::fs::read(&path).unwrap());
        seeds += 1;
    }
    assert!(seeds >= 20, "{seeds} seeds in {}", dir.display());
}
