//! Unit tests for a flow under `--proxy-protocol`: the preface taken whole or in pieces,
//! the client it names, and every way a connection can fail to send one.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::proto::{Output, ProtoConfig, Protocol, Refusal};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
const V1: &[u8] = b"PROXY TCP4 192.0.2.7 10.0.0.1 41234 8888\r\n";

fn greeter(protocol: Protocol) -> Greeter {
    let config = ProtoConfig {
        proxy_protocol: true,
        protocol,
        ..ProtoConfig::default()
    };
    Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn refused(g: &Greeter, why: Refusal) -> u64 {
    g.tally.refused_prefaces(why)
}

#[test]
fn the_preface_and_pipelined_requests_in_one_receive() {
    let g = greeter(Protocol::Http);
    let (now, mut out) = (Instant::now(), Vec::new());
    let mut flow = Flow::new(&g, now);
    let input = [V1, GET, GET].concat();
    let action = flow.handle_input(&g, &input, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Read);
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{text}");
    assert_eq!(flow.client(), Some("192.0.2.7:41234".parse().unwrap()));
    assert_eq!(flow.refused_preface(), None);
}

#[test]
fn a_preface_a_byte_at_a_time_then_a_request() {
    let g = greeter(Protocol::Http);
    let t0 = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, t0), Vec::new());
    for byte in V1.chunks(1) {
        let action = flow.handle_input(&g, byte, &mut Output::bytes(&mut out), t0);
        assert_eq!(action, Action::Read);
    }
    assert!(out.is_empty());
    assert_eq!(
        flow.poll_timeout(),
        t0 + Duration::from_secs(10),
        "still the header deadline"
    );
    let later = t0 + Duration::from_secs(1);
    let action = flow.handle_input(&g, GET, &mut Output::bytes(&mut out), later);
    assert_eq!(action, Action::Read);
    assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
    assert_eq!(flow.client(), Some("192.0.2.7:41234".parse().unwrap()));
}

#[test]
fn a_connection_without_a_preface_is_aborted_unanswered() {
    let g = greeter(Protocol::Http);
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    let action = flow.handle_input(&g, GET, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Abort);
    assert!(out.is_empty(), "nothing is answered");
    assert_eq!(flow.refused_preface(), Some(Refusal::Missing));
    assert_eq!(flow.close_reason(), CloseReason::Error);
    assert_eq!(refused(&g, Refusal::Missing), 1);
}

#[test]
fn a_preface_cut_short_is_refused_a_bare_connect_is_not() {
    let g = greeter(Protocol::Http);
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    let _ = flow.handle_input(&g, &V1[..20], &mut Output::bytes(&mut out), now);
    let action = flow.handle_eof(&g, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Abort);
    assert_eq!(flow.refused_preface(), Some(Refusal::Unfinished));
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    let _ = flow.handle_input(&g, &V1[..20], &mut Output::bytes(&mut out), now);
    let late = flow.poll_timeout();
    let action = flow.handle_timeout(&g, &mut Output::bytes(&mut out), late);
    assert_eq!(action, Action::Abort);
    assert!(out.is_empty(), "no 408 for a balancer's half-sent preface");
    assert_eq!(refused(&g, Refusal::Unfinished), 2);
    let mut health_check = Flow::new(&g, now);
    let action = health_check.handle_eof(&g, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Close { linger: false });
    assert_eq!(health_check.refused_preface(), None);
    assert_eq!(
        refused(&g, Refusal::Unfinished),
        2,
        "a TCP health check is no refusal"
    );
}

#[test]
fn the_raw_protocol_greets_after_the_preface() {
    let g = greeter(Protocol::Raw);
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    let action = flow.handle_input(&g, V1, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Read);
    assert!(
        out.is_empty(),
        "the preface alone is not the client's input"
    );
    let action = flow.handle_eof(&g, &mut Output::bytes(&mut out), now);
    assert_eq!(action, Action::Close { linger: false });
    assert_eq!(out, b"Hello, world!\n");
}
