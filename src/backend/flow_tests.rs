//! Unit tests for the per-connection flow.

use std::time::{Duration, UNIX_EPOCH};

use super::*;
use crate::proto::{Greeter, ProtoConfig, Protocol};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

fn greeter(config: ProtoConfig) -> Greeter {
    Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn responses(out: &[u8]) -> usize {
    out.windows(8).filter(|w| w == b"HTTP/1.1").count()
}

#[test]
fn a_fresh_connection_is_under_the_header_deadline_then_idle() {
    let g = greeter(ProtoConfig::default());
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(flow.phase(false), Phase::Head);
    assert_eq!(flow.on_input(&g, &GET[..10], &mut out), Action::Read);
    assert_eq!(
        flow.phase(false),
        Phase::Head,
        "an unfinished head keeps the header deadline"
    );
    assert_eq!(flow.on_input(&g, &GET[10..], &mut out), Action::Read);
    assert_eq!(
        (responses(&out), flow.phase(true), flow.phase(false)),
        (1, Phase::Write, Phase::Idle)
    );
    assert!(flow.is_idle());
}

#[test]
fn backpressure_holds_input_until_flushed() {
    let g = greeter(ProtoConfig {
        max_pending_output: 200,
        ..ProtoConfig::default()
    });
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    let batch = GET.repeat(5);
    assert_eq!(flow.on_input(&g, &batch, &mut out), Action::Hold);
    assert_eq!(
        flow.on_input(&g, GET, &mut out),
        Action::Hold,
        "input arriving while held is kept"
    );
    let mut answered = responses(&out);
    while answered < 6 {
        out.clear();
        let action = flow.on_flushed(&g, &mut out);
        answered += responses(&out);
        assert!(matches!(action, Action::Hold | Action::Read), "{action:?}");
    }
    assert_eq!(answered, 6);
    assert!(flow.is_idle());
}

#[test]
fn half_close_still_answers_what_was_sent() {
    let g = greeter(ProtoConfig {
        max_pending_output: 100,
        ..ProtoConfig::default()
    });
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(flow.on_input(&g, &GET.repeat(3), &mut out), Action::Hold);
    assert_eq!(flow.on_eof(&g, &mut out), Action::Hold);
    let (mut actions, mut answered) = (Vec::new(), responses(&out));
    for _ in 0..3 {
        out.clear();
        actions.push(flow.on_flushed(&g, &mut out));
        answered += responses(&out);
    }
    assert_eq!(answered, 3);
    assert_eq!(actions.last(), Some(&Action::Close { linger: false }));
}

#[test]
fn eof_mid_request_closes_without_answer() {
    let g = greeter(ProtoConfig::default());
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(flow.on_input(&g, &GET[..5], &mut out), Action::Read);
    assert_eq!(flow.on_eof(&g, &mut out), Action::Close { linger: false });
    assert!(out.is_empty());
}

#[test]
fn timeout_answers_408_only_mid_request() {
    let g = greeter(ProtoConfig::default());
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(
        flow.on_timeout(&g, &mut out),
        Action::Close { linger: false }
    );
    assert!(out.is_empty(), "a silent client is closed without a word");
    let mut flow = Flow::default();
    let _ = flow.on_input(&g, b"GET / HT", &mut out);
    let _ = flow.on_timeout(&g, &mut out);
    assert!(out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn an_error_lingers_and_discards_what_follows() {
    let g = greeter(ProtoConfig::default());
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(
        flow.on_input(&g, b"BAD\0\r\n\r\n", &mut out),
        Action::Close { linger: true }
    );
    let before = out.len();
    assert_eq!(
        flow.on_input(&g, GET, &mut out),
        Action::Close { linger: true }
    );
    assert_eq!((out.len(), flow.phase(false)), (before, Phase::Linger));
}

#[test]
fn raw_protocol_greets_on_data_or_on_eof() {
    let g = greeter(ProtoConfig {
        protocol: Protocol::Raw,
        ..ProtoConfig::default()
    });
    let (mut flow, mut out) = (Flow::default(), Vec::new());
    assert_eq!(flow.on_eof(&g, &mut out), Action::Close { linger: false });
    assert_eq!(out, b"Hello, world!\n");
}
