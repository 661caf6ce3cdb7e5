//! Unit tests for the per-connection flow: actions, deadlines, backpressure, draining.

use std::time::{Duration, Instant, UNIX_EPOCH};

use super::*;
use crate::proto::{Output, ProtoConfig, Protocol};

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

fn greeter(config: ProtoConfig) -> Greeter {
    Greeter::new(config, UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn responses(out: &[u8]) -> usize {
    out.windows(8).filter(|w| w == b"HTTP/1.1").count()
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn a_fresh_connection_is_under_the_header_deadline_then_idle() {
    let g = greeter(ProtoConfig::default());
    let t0 = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, t0), Vec::new());
    assert_eq!(
        flow.poll_timeout(),
        t0 + secs(10),
        "header deadline from accept"
    );
    let later = t0 + secs(3);
    assert_eq!(
        flow.handle_input(&g, &GET[..10], &mut Output::bytes(&mut out), later),
        Action::Read
    );
    assert_eq!(
        flow.poll_timeout(),
        t0 + secs(10),
        "bytes of an unfinished head do not extend the deadline"
    );
    assert_eq!(
        flow.handle_input(&g, &GET[10..], &mut Output::bytes(&mut out), later),
        Action::Read
    );
    assert_eq!(responses(&out), 1);
    assert_eq!(
        flow.poll_timeout(),
        later + secs(60),
        "writing: the idle timeout"
    );
    assert!(!flow.is_idle(), "output is pending");
    let flushed = later + secs(1);
    out.clear(); // written
    assert_eq!(
        flow.handle_flushed(&g, &mut Output::bytes(&mut out), flushed),
        Action::Read
    );
    assert!(flow.is_idle());
    assert_eq!(
        flow.poll_timeout(),
        flushed + secs(60),
        "keep-alive: the idle timeout"
    );
}

#[test]
fn write_progress_keeps_a_slow_reader_alive_and_a_stall_is_aborted() {
    let g = greeter(ProtoConfig::default());
    let t0 = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, t0), Vec::new());
    let _ = flow.handle_input(&g, GET, &mut Output::bytes(&mut out), t0);
    flow.handle_progress(&g, t0 + secs(50));
    assert_eq!(flow.poll_timeout(), t0 + secs(110));
    assert_eq!(
        flow.handle_timeout(&g, &mut Output::bytes(&mut out), t0 + secs(111)),
        Action::Abort
    );
    assert_eq!(flow.poll_action(), Action::Abort);
}

#[test]
fn backpressure_holds_input_until_flushed() {
    let g = greeter(ProtoConfig {
        max_pending_output: 200,
        ..ProtoConfig::default()
    });
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_input(&g, &GET.repeat(5), &mut Output::bytes(&mut out), now),
        Action::Hold
    );
    assert_eq!(
        flow.handle_input(&g, GET, &mut Output::bytes(&mut out), now),
        Action::Hold,
        "input arriving while held is kept"
    );
    let mut answered = responses(&out);
    while answered < 6 {
        out.clear();
        let action = flow.handle_flushed(&g, &mut Output::bytes(&mut out), now);
        answered += responses(&out);
        assert!(matches!(action, Action::Hold | Action::Read), "{action:?}");
    }
    assert_eq!(answered, 6);
    out.clear();
    let _ = flow.handle_flushed(&g, &mut Output::bytes(&mut out), now);
    assert!(flow.is_idle());
}

#[test]
fn input_held_without_a_flush_is_bounded() {
    // A backend whose read cancellation lags keeps delivering; nothing is flushed.
    let config = ProtoConfig {
        max_pending_output: 200,
        max_header_bytes: 100,
        ..ProtoConfig::default()
    };
    let g = greeter(config);
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_input(&g, &GET.repeat(5), &mut Output::bytes(&mut out), now),
        Action::Hold
    );
    let mut delivered = 0;
    let action = loop {
        let action = flow.handle_input(&g, GET, &mut Output::bytes(&mut out), now);
        delivered += 1;
        assert!(flow.buffered() <= 300, "{} bytes held", flow.buffered());
        if action != Action::Hold || delivered > 100 {
            break action;
        }
    };
    assert_eq!(
        action,
        Action::Abort,
        "a client that overruns the bound is cut off"
    );
    assert_eq!(flow.buffered(), 0, "and its input is dropped");
}

#[test]
fn one_receive_far_past_the_bound_while_output_pauses_is_never_held_whole() {
    // A bundle receive can carry hundreds of KiB at once: what is left when output pauses
    // is held input too, under the same bound.
    let config = ProtoConfig {
        max_pending_output: 200,
        max_header_bytes: 100,
        ..ProtoConfig::default()
    };
    let g = greeter(config);
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    let action = flow.handle_input(&g, &GET.repeat(1000), &mut Output::bytes(&mut out), now);
    assert!(flow.buffered() <= 300, "{} bytes held", flow.buffered());
    assert_eq!(
        action,
        Action::Abort,
        "more than the bound at once is cut off"
    );
    // Within the bound, the rest waits for the output, and every request is answered.
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_input(&g, &GET.repeat(10), &mut Output::bytes(&mut out), now),
        Action::Hold
    );
    assert!(flow.buffered() <= 300, "{} bytes held", flow.buffered());
    let mut answered = responses(&out);
    while answered < 10 {
        out.clear();
        let _ = flow.handle_flushed(&g, &mut Output::bytes(&mut out), now);
        answered += responses(&out);
    }
}

#[test]
fn half_close_still_answers_what_was_sent() {
    let g = greeter(ProtoConfig {
        max_pending_output: 100,
        ..ProtoConfig::default()
    });
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_input(&g, &GET.repeat(3), &mut Output::bytes(&mut out), now),
        Action::Hold
    );
    assert_eq!(
        flow.handle_eof(&g, &mut Output::bytes(&mut out), now),
        Action::Hold
    );
    let (mut actions, mut answered) = (Vec::new(), responses(&out));
    for _ in 0..3 {
        out.clear();
        actions.push(flow.handle_flushed(&g, &mut Output::bytes(&mut out), now));
        answered += responses(&out);
    }
    assert_eq!(answered, 3);
    assert_eq!(actions.last(), Some(&Action::Close { linger: false }));
}

#[test]
fn eof_mid_request_closes_without_answer() {
    let g = greeter(ProtoConfig::default());
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_input(&g, &GET[..5], &mut Output::bytes(&mut out), now),
        Action::Read
    );
    assert_eq!(
        flow.handle_eof(&g, &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert!(out.is_empty());
}

#[test]
fn timeout_answers_408_only_mid_request() {
    let g = greeter(ProtoConfig::default());
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_timeout(&g, &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert!(out.is_empty(), "a silent client is closed without a word");
    let mut flow = Flow::new(&g, now);
    let _ = flow.handle_input(&g, b"GET / HT", &mut Output::bytes(&mut out), now);
    assert_eq!(
        flow.handle_timeout(&g, &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert!(out.starts_with(b"HTTP/1.1 408 Request Timeout\r\n"));
}

#[test]
fn an_error_lingers_discards_what_follows_and_the_linger_expires() {
    let g = greeter(ProtoConfig::default());
    let t0 = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, t0), Vec::new());
    let bad = flow.handle_input(&g, b"BAD\0\r\n\r\n", &mut Output::bytes(&mut out), t0);
    assert_eq!(bad, Action::Close { linger: true });
    assert!(bad.reads(), "lingering reads the client's leftovers");
    let before = out.len();
    assert_eq!(
        flow.handle_input(&g, GET, &mut Output::bytes(&mut out), t0),
        Action::Close { linger: true }
    );
    assert_eq!(out.len(), before);
    let flushed = t0 + secs(1);
    out.clear();
    assert_eq!(
        flow.handle_flushed(&g, &mut Output::bytes(&mut out), flushed),
        Action::Close { linger: true }
    );
    assert_eq!(
        flow.poll_timeout(),
        flushed + secs(2),
        "the linger deadline"
    );
    assert_eq!(
        flow.handle_timeout(&g, &mut Output::bytes(&mut out), flushed + secs(3)),
        Action::Abort
    );
}

#[test]
fn shutdown_closes_idle_connections_and_lets_busy_ones_finish() {
    let mut g = greeter(ProtoConfig::default());
    let now = Instant::now();
    let (mut idle, mut busy, mut out) = (Flow::new(&g, now), Flow::new(&g, now), Vec::new());
    let _ = idle.handle_input(&g, GET, &mut Output::bytes(&mut out), now);
    out.clear();
    let _ = idle.handle_flushed(&g, &mut Output::bytes(&mut out), now);
    let _ = busy.handle_input(&g, &GET[..10], &mut Output::bytes(&mut out), now);
    out.clear();
    g.start_draining();
    assert_eq!(
        idle.handle_shutdown(&g, now),
        Action::Close { linger: false }
    );
    assert_eq!(
        busy.handle_shutdown(&g, now),
        Action::Read,
        "mid-request: it finishes"
    );
    assert_eq!(
        busy.handle_input(&g, &GET[10..], &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert!(
        out.windows(19).any(|w| w == b"Connection: close\r\n"),
        "the last answer says so"
    );
}

#[test]
fn while_draining_a_fresh_connection_gets_a_grace_for_its_first_request() {
    let mut g = greeter(ProtoConfig::default());
    let now = Instant::now();
    let (mut fresh, mut silent, mut out) = (Flow::new(&g, now), Flow::new(&g, now), Vec::new());
    g.start_draining();
    assert_eq!(
        fresh.handle_shutdown(&g, now),
        Action::Read,
        "not idle: served"
    );
    assert_eq!(silent.handle_shutdown(&g, now), Action::Read);
    assert_eq!(fresh.poll_timeout(), now + FIRST_REQUEST_GRACE);
    let born_draining = Flow::new(&g, now);
    assert_eq!(born_draining.poll_timeout(), now + FIRST_REQUEST_GRACE);
    assert_eq!(
        fresh.handle_input(&g, GET, &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert_eq!(responses(&out), 1);
    assert!(out.windows(19).any(|w| w == b"Connection: close\r\n"));
    out.clear();
    let later = now + FIRST_REQUEST_GRACE;
    assert_eq!(
        silent.handle_timeout(&g, &mut Output::bytes(&mut out), later),
        Action::Close { linger: false }
    );
    assert!(out.is_empty(), "nothing was asked: no 408");
    assert_eq!(silent.close_reason(), CloseReason::Shutdown);
}

#[test]
fn raw_protocol_greets_on_data_or_on_eof() {
    let g = greeter(ProtoConfig {
        protocol: Protocol::Raw,
        ..ProtoConfig::default()
    });
    let now = Instant::now();
    let (mut flow, mut out) = (Flow::new(&g, now), Vec::new());
    assert_eq!(
        flow.handle_eof(&g, &mut Output::bytes(&mut out), now),
        Action::Close { linger: false }
    );
    assert_eq!(out, b"Hello, world!\n");
}

#[test]
fn each_access_record_carries_its_own_requests_start() {
    let g = greeter(ProtoConfig {
        max_pending_output: 100,
        ..ProtoConfig::default()
    });
    let t0 = Instant::now();
    let at = |s: u64| t0 + secs(s);
    let (mut bytes, mut records) = (Vec::new(), Vec::new());
    // Each step starts with its output written: the flows share one output buffer here.
    let mut step = |f: &mut dyn FnMut(&mut Output<'_>) -> Action| {
        bytes.clear();
        f(&mut Output::new(&mut bytes, Some(&mut records)))
    };
    let (mut a, mut b, mut c) = (Flow::new(&g, t0), Flow::new(&g, t0), Flow::new(&g, t0));
    // A's request begins at 1 s and ends at 3 s; B's arrives whole at 2 s, in between.
    let _ = step(&mut |out| a.handle_input(&g, &GET[..10], out, at(1)));
    let _ = step(&mut |out| b.handle_input(&g, GET, out, at(2)));
    let _ = step(&mut |out| a.handle_input(&g, &GET[10..], out, at(3)));
    // C pipelines four at 4 s: past the output bound, the rest is held and answered
    // once the output is written, at 6 s; they still began at 4 s.
    let held = step(&mut |out| c.handle_input(&g, &GET.repeat(4), out, at(4)));
    assert_eq!(held, Action::Hold);
    while step(&mut |out| c.handle_flushed(&g, out, at(6))) == Action::Hold {}
    // D begins a request at 7 s and never finishes it: its 408 began at 7 s too.
    let mut d = Flow::new(&g, t0);
    let _ = step(&mut |out| d.handle_input(&g, &GET[..5], out, at(7)));
    let _ = step(&mut |out| d.handle_timeout(&g, out, at(30)));
    let started: Vec<(u16, Instant)> = records.iter().map(|r| (r.status, r.started)).collect();
    assert_eq!(
        started,
        [
            (200, at(2)),
            (200, at(1)),
            (200, at(4)),
            (200, at(4)),
            (200, at(4)),
            (200, at(4)),
            (408, at(7)),
        ]
    );
}
