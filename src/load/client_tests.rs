//! Unit tests for the sans-IO load client.

use super::*;

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi";

fn plan() -> Plan {
    Plan {
        request: b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        pipeline: 1,
        one_shot: false,
        per_connection: None,
        last_request: b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec(),
        raw: false,
        rate: None,
        connections: 1,
        timeout_ns: 1_000_000_000,
        retry: false,
    }
}

fn judge<'a>(
    plan: &'a Plan,
    now_ns: u64,
    expect: &'a mut Expect,
    stats: &'a mut Stats,
) -> Judge<'a> {
    Judge {
        plan,
        now_ns,
        expect,
        stats,
    }
}

fn expect() -> Expect {
    Expect {
        status: 200,
        body: Some(b"hi".to_vec()),
        any_body: false,
    }
}

#[test]
fn closed_loop_sends_a_batch_after_the_last_answer() {
    let p = Plan {
        pipeline: 3,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    assert_eq!(c.fill(&p, 10, &mut out), 3);
    assert_eq!(out, p.request.repeat(3));
    assert_eq!(c.fill(&p, 20, &mut out), 0, "the batch is still in flight");
    assert_eq!(
        c.on_input(&OK.repeat(2), &mut judge(&p, 5_010, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert_eq!(c.fill(&p, 30, &mut out), 0);
    assert_eq!(
        c.on_input(&OK[..7], &mut judge(&p, 6_010, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert_eq!(
        c.on_input(&OK[7..], &mut judge(&p, 7_010, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert_eq!((s.ok, s.errors.total()), (3, 0));
    assert_eq!(
        s.latency.max(),
        7,
        "microseconds from send to the last byte"
    );
    assert_eq!(c.fill(&p, 40, &mut out), 3);
}

#[test]
fn fixed_rate_measures_from_the_intended_time() {
    let p = Plan {
        rate: Some(1000),
        pipeline: 1,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    assert_eq!(c.fill(&p, 0, &mut out), 1);
    // The answer takes 5 ms; meanwhile four more requests fell due and waited.
    assert_eq!(
        c.on_input(OK, &mut judge(&p, 5_000_000, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert_eq!(c.fill(&p, 5_000_000, &mut out), 1);
    assert_eq!(
        c.on_input(OK, &mut judge(&p, 5_100_000, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert!(
        s.latency.max() >= 4_090,
        "the second request was due at 1 ms: {}",
        s.latency.max()
    );
}

#[test]
fn connection_close_and_one_shot_reconnect() {
    let p = Plan {
        one_shot: true,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    assert_eq!(c.fill(&p, 0, &mut out), 1);
    assert_eq!(c.fill(&p, 1, &mut out), 0, "one request per connection");
    assert_eq!(
        c.on_input(OK, &mut judge(&p, 10, &mut expect(), &mut s)),
        Outcome::Reconnect
    );
    c.reconnected();
    assert_eq!(c.fill(&p, 20, &mut out), 1);
    let closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nhi";
    let (mut k, mut s2) = (Client::new(&plan(), 0, 0), Stats::default());
    k.fill(&plan(), 0, &mut out);
    assert_eq!(
        k.on_input(closing, &mut judge(&plan(), 1, &mut expect(), &mut s2)),
        Outcome::Reconnect
    );
    assert_eq!(s2.ok, 1);
}

#[test]
fn bad_answers_and_lost_requests_are_errors() {
    let p = Plan {
        pipeline: 2,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    c.fill(&p, 0, &mut out);
    let wrong = b"HTTP/1.1 500 Oops\r\nContent-Length: 2\r\n\r\nhi";
    assert_eq!(
        c.on_input(wrong, &mut judge(&p, 1, &mut expect(), &mut s)),
        Outcome::Keep
    );
    assert_eq!(
        c.on_eof(&mut judge(&p, 2, &mut expect(), &mut s)),
        Outcome::Reconnect
    );
    assert_eq!((s.ok, s.errors.status, s.errors.reset), (0, 1, 1));
    c.reconnected();
    c.fill(&p, 3, &mut out);
    assert_eq!(
        c.on_input(
            b"nonsense\r\n\r\n",
            &mut judge(&p, 4, &mut expect(), &mut s)
        ),
        Outcome::Reconnect
    );
    assert_eq!(s.errors.framing, 1);
}

#[test]
fn timeouts_count_once_per_connection() {
    let p = Plan {
        pipeline: 4,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    c.fill(&p, 0, &mut out);
    assert!(!c.timed_out(&p, 1_000_000_000));
    assert!(c.timed_out(&p, 1_000_000_001));
    c.on_timeout(&mut s);
    assert_eq!(s.errors.timeout, 1);
}

#[test]
fn raw_answers_run_to_the_close() {
    let p = Plan {
        raw: true,
        one_shot: true,
        request: b"hi\n".to_vec(),
        ..plan()
    };
    let mut e = Expect {
        status: 0,
        body: Some(b"Hello, world!\n".to_vec()),
        any_body: false,
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    c.fill(&p, 0, &mut out);
    assert_eq!(
        c.on_input(b"Hello, ", &mut judge(&p, 1, &mut e, &mut s)),
        Outcome::Keep
    );
    assert_eq!(
        c.on_input(b"world!\n", &mut judge(&p, 2, &mut e, &mut s)),
        Outcome::Keep
    );
    assert_eq!(
        c.on_eof(&mut judge(&p, 3, &mut e, &mut s)),
        Outcome::Reconnect
    );
    assert_eq!((s.ok, s.errors.total()), (1, 0));
}

#[test]
fn requests_closed_unanswered_are_resent_once_reconnected() {
    let p = Plan {
        pipeline: 2,
        retry: true,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    assert_eq!(c.fill(&p, 100, &mut out), 2);
    c.on_input(OK, &mut judge(&p, 200, &mut expect(), &mut s));
    assert_eq!(
        c.on_eof(&mut judge(&p, 300, &mut expect(), &mut s)),
        Outcome::Reconnect
    );
    assert_eq!((s.ok, s.retries, s.errors.total()), (1, 1, 0));
    c.reconnected();
    out.clear();
    assert_eq!(
        c.fill(&p, 400, &mut out),
        1,
        "only the unanswered one again"
    );
    assert_eq!(out, p.request);
    c.on_input(OK, &mut judge(&p, 7_000_100, &mut expect(), &mut s));
    assert_eq!((s.ok, s.errors.total()), (2, 0));
    let max_us = s.latency.max();
    assert!(
        (6_990..=7_010).contains(&max_us),
        "latency runs from the first send: {max_us} µs"
    );
}

#[test]
fn a_request_is_sent_at_most_three_times() {
    let p = Plan {
        retry: true,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    for attempt in 1..=3 {
        assert_eq!(c.fill(&p, attempt, &mut out), 1);
        c.on_eof(&mut judge(&p, attempt, &mut expect(), &mut s));
        c.reconnected();
    }
    assert_eq!((s.retries, s.errors.reset), (2, 1));
}

#[test]
fn a_reset_mid_answer_is_an_error_and_the_rest_are_retried() {
    let p = Plan {
        pipeline: 3,
        retry: true,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    c.fill(&p, 0, &mut out);
    c.on_input(&OK[..5], &mut judge(&p, 1, &mut expect(), &mut s));
    c.on_error(&p, &mut s);
    assert_eq!((s.errors.reset, s.retries), (1, 2));
}

#[test]
fn without_retry_every_unanswered_request_is_lost() {
    let p = Plan {
        pipeline: 2,
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    c.fill(&p, 0, &mut out);
    c.on_error(&p, &mut s);
    c.reconnected();
    out.clear();
    assert_eq!(c.fill(&p, 1, &mut out), 2, "a fresh batch, nothing re-sent");
    assert_eq!((s.errors.reset, s.retries), (2, 0));
}

#[test]
fn limited_connections_close_after_n_requests() {
    let p = Plan {
        pipeline: 2,
        per_connection: Some(3),
        ..plan()
    };
    let (mut c, mut out, mut s) = (Client::new(&p, 0, 0), Vec::new(), Stats::default());
    assert_eq!(c.fill(&p, 10, &mut out), 2);
    assert_eq!(out, p.request.repeat(2));
    let outcome = c.on_input(&OK.repeat(2), &mut judge(&p, 20, &mut expect(), &mut s));
    assert_eq!(outcome, Outcome::Keep);
    out.clear();
    assert_eq!(
        c.fill(&p, 30, &mut out),
        1,
        "only the third fits on this connection"
    );
    assert_eq!(out, p.last_request, "and it asks the server to close");
    let outcome = c.on_input(OK, &mut judge(&p, 40, &mut expect(), &mut s));
    assert_eq!(
        outcome,
        Outcome::Reconnect,
        "three answered: a new connection"
    );
    c.reconnected();
    out.clear();
    assert_eq!(c.fill(&p, 50, &mut out), 2);
    assert_eq!(s.errors.total(), 0);
}
