//! `/metrics` against real servers on every backend: after known traffic the exposition,
//! parsed by a real Prometheus text-format parser, shows exactly those counts; the admin
//! listener of `--metrics-listen` and `--no-metrics` behave as documented.

mod support;

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use greeter::{BackendChoice, Metrics};
use prometheus_parse::{Scrape, Value};
use support::*;

/// Scrapes `addr` and parses the answer; the scrape itself is not yet counted in it.
fn scrape(addr: SocketAddr) -> Scrape {
    let request = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let answer = exchange(addr, request.as_bytes());
    let (head, body) = answer.split_once("\r\n\r\n").expect("a head");
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(
        head.contains("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{head}"
    );
    let lines = body.lines().map(|l| Ok(l.to_owned()));
    Scrape::parse(lines).expect("a valid exposition")
}

/// The value of `name` with exactly `labels`, if the scrape has it.
fn value(s: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let sample = s.samples.iter().find(|x| {
        x.metric == name
            && x.labels.len() == labels.len()
            && labels.iter().all(|(k, v)| x.labels.get(k) == Some(v))
    })?;
    match sample.value {
        Value::Counter(v) | Value::Gauge(v) => Some(v),
        ref other => panic!("{name} is not a counter or gauge: {other:?}"),
    }
}

/// Every `greeter_requests_total` series: (route, code) → count.
fn requests(s: &Scrape) -> HashMap<(String, String), f64> {
    let series = s
        .samples
        .iter()
        .filter(|x| x.metric == "greeter_requests_total");
    series
        .map(|x| {
            let Value::Counter(v) = x.value else {
                panic!("greeter_requests_total is typed a counter: {:?}", x.value)
            };
            let label = |k: &str| x.labels.get(k).unwrap().to_owned();
            ((label("route"), label("code")), v)
        })
        .collect()
}

fn known_traffic_shows_exactly_those_counts(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.workers = std::num::NonZeroUsize::new(1);
        c.proto.timeouts.header = Duration::from_millis(300);
    });
    let addr = server.local_addr();
    let mut sent = 0;
    let mut c = connect(addr);
    let traffic = [GET.repeat(5), get("/greet/Ann").repeat(2), delete_root()].concat();
    c.write_all(traffic.as_bytes()).unwrap();
    sent += traffic.len();
    read_responses(&mut c, 8);
    drop(c);
    let bad = "GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n";
    assert!(exchange(addr, bad.as_bytes()).starts_with("HTTP/1.1 400 "));
    let cut = "GET / HTTP/1.1\r\nHo"; // cut off: 408 at the header deadline
    assert!(exchange(addr, cut.as_bytes()).starts_with("HTTP/1.1 408 "));
    sent += bad.len() + cut.len();
    eventually("the three connections are closed", || {
        server.stats().open == 0
    });
    let s = scrape(addr);
    let want: HashMap<(String, String), f64> = [
        (("/", "200"), 5.0),
        (("/greet", "200"), 2.0),
        (("/", "405"), 1.0),
        (("other", "400"), 1.0),
        (("other", "408"), 1.0),
    ]
    .into_iter()
    .map(|((r, c), n)| ((r.to_owned(), c.to_owned()), n))
    .collect();
    assert_eq!(requests(&s), want, "exactly the traffic sent");
    let scrape_request = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".len();
    let received = value(&s, "greeter_bytes_received_total", &[]);
    assert_eq!(
        received,
        Some((sent + scrape_request) as f64),
        "every byte sent"
    );
    assert_connection_counts(&s);
    let backend_label = server.backend().to_string();
    let uring = server.backend().is_uring();
    let (flags_end, restricted) = match support::unrestricted() {
        false => ("|RESTRICTED(8 opcodes)", "8"),
        true => ("|UNRESTRICTED", "0"),
    };
    if uring {
        assert!(server.setup().ends_with(flags_end), "{}", server.setup());
    }
    let build = [
        ("version", env!("CARGO_PKG_VERSION")),
        ("commit", env!("GREETER_COMMIT")),
        ("backend", backend_label.as_str()),
        ("ring_flags", if uring { server.setup() } else { "" }),
        (
            "ring_restricted_opcodes",
            if uring { restricted } else { "" },
        ),
        ("sandbox", "enforce"), // every in-process test server runs sandboxed
    ];
    assert_eq!(value(&s, "greeter_build_info", &build), Some(1.0));
    assert_eq!(value(&s, "greeter_workers", &[]), Some(1.0));
    assert!(value(&s, "process_resident_memory_bytes", &[]).is_some_and(|v| v > 0.0));
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

/// A method `/` does not allow: `405`.
fn delete_root() -> String {
    "DELETE / HTTP/1.1\r\nHost: t\r\n\r\n".to_owned()
}

fn assert_connection_counts(s: &Scrape) {
    // Three connections closed, and the scrape's own is open.
    assert_eq!(
        value(s, "greeter_connections_accepted_total", &[("worker", "0")]),
        Some(4.0)
    );
    assert_eq!(
        value(s, "greeter_connections_open", &[("worker", "0")]),
        Some(1.0)
    );
    for (reason, n) in [
        ("client", 1.0),
        ("error", 1.0),
        ("header_timeout", 1.0),
        ("idle_timeout", 0.0),
        ("shed", 0.0),
        ("shutdown", 0.0),
    ] {
        let closed = value(s, "greeter_connections_closed_total", &[("reason", reason)]);
        assert_eq!(closed, Some(n), "closed for {reason}");
    }
}

fn a_metrics_listener_serves_metrics_and_the_main_port_does_not(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.metrics = Metrics::Listen("127.0.0.1:0".parse().unwrap())
    });
    let admin = server.metrics_addr().expect("an admin address");
    assert_ne!(admin, server.local_addr());
    let s = scrape(admin);
    assert!(value(&s, "greeter_workers", &[]).is_some());
    let admin_worker = value(
        &s,
        "greeter_connections_accepted_total",
        &[("worker", "admin")],
    );
    assert_eq!(
        admin_worker,
        Some(1.0),
        "the admin worker counts its own connection"
    );
    let not_found = expected("404 Not Found", "", "Not Found");
    let mut main = connect(server.local_addr());
    main.write_all(get("/metrics").as_bytes()).unwrap();
    assert_eq!(
        read_response(&mut main),
        not_found,
        "the main port keeps metrics private"
    );
    let mut c = connect(admin);
    c.write_all([get("/"), get("/healthz")].concat().as_bytes())
        .unwrap();
    assert_eq!(
        read_responses(&mut c, 2),
        not_found + &expected("200 OK", "", "ok")
    );
}

fn no_metrics_means_not_found(backend: BackendChoice) {
    let server = server_with(backend, |c| c.metrics = Metrics::Off);
    assert_eq!(server.metrics_addr(), None);
    let mut c = connect(server.local_addr());
    c.write_all(get("/metrics").as_bytes()).unwrap();
    assert_eq!(
        read_response(&mut c),
        expected("404 Not Found", "", "Not Found")
    );
}

fn raw_greetings_are_counted(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.proto.protocol = greeter::proto::Protocol::Raw
    });
    for _ in 0..3 {
        assert_eq!(exchange(server.local_addr(), b"hi"), "Hello, world!\n");
    }
    eventually("three greetings are counted", || {
        server.metrics().contains("greeter_raw_greetings_total 3\n")
    });
    assert!(
        server
            .metrics()
            .contains("greeter_connections_closed_total{reason=\"client\"} 3\n")
    );
}

/// The line of `exposition` for `series` (name and labels as written), as a number.
fn line_value(exposition: &str, series: &str) -> Option<f64> {
    let line = exposition
        .lines()
        .find(|l| l.starts_with(&format!("{series} ")))?;
    line.rsplit(' ').next()?.parse().ok()
}

const SLOW_BODY_HEAD: &str =
    "POST /greet HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n";

fn a_body_s_arrival_counts_in_flight_and_in_the_duration(backend: BackendChoice) {
    let server = server_with(backend, |c| c.workers = std::num::NonZeroUsize::new(1));
    let in_flight = || line_value(&server.metrics(), "greeter_requests_in_flight");
    let mut c = connect(server.local_addr());
    c.write_all(SLOW_BODY_HEAD.as_bytes()).unwrap();
    eventually("the request is in flight", || in_flight() == Some(1.0));
    std::thread::sleep(Duration::from_millis(300));
    c.write_all(b"Alice").unwrap();
    assert_eq!(
        read_response(&mut c),
        expected("200 OK", "", "Hello, Alice!")
    );
    let m = server.metrics();
    assert_eq!(in_flight(), Some(0.0));
    let greet = r#"{route="/greet",class="2xx""#;
    let series = |suffix: &str, le: &str| {
        let labels = match le {
            "" => format!("{greet}}}"),
            le => format!("{greet},le=\"{le}\"}}"),
        };
        line_value(
            &m,
            &format!("greeter_request_duration_seconds{suffix}{labels}"),
        )
    };
    assert_eq!(series("_count", ""), Some(1.0), "{m}");
    assert_eq!(
        series("_bucket", "0.25"),
        Some(0.0),
        "300 ms of waiting for the body: {m}"
    );
    assert_eq!(series("_bucket", "+Inf"), Some(1.0));
    assert!(series("_sum", "").is_some_and(|s| s >= 0.3), "{m}");
    // A connection that ends with its body still arriving leaves nothing in flight.
    let mut gone = connect(server.local_addr());
    gone.write_all(SLOW_BODY_HEAD.as_bytes()).unwrap();
    eventually("the second request is in flight", || {
        in_flight() == Some(1.0)
    });
    drop(gone);
    eventually("nothing is in flight once it closed", || {
        in_flight() == Some(0.0)
    });
}

fn requests_answered_at_once_fall_in_the_first_bucket(backend: BackendChoice) {
    let server = server(backend);
    let mut c = connect(server.local_addr());
    c.write_all([get("/"), get("/"), get("/nope")].concat().as_bytes())
        .unwrap();
    read_responses(&mut c, 3);
    eventually("the three are counted", || {
        let m = server.metrics();
        let first = r#"greeter_request_duration_seconds_bucket{route="/",class="2xx",le="0.0001"}"#;
        let other = r#"greeter_request_duration_seconds_count{route="other",class="4xx"}"#;
        line_value(&m, first) == Some(2.0) && line_value(&m, other) == Some(1.0)
    });
}

fn the_limit_in_force_and_draining_are_gauges(backend: BackendChoice) {
    let server = server_with(backend, |c| {
        c.max_connections = std::num::NonZeroUsize::new(123);
    });
    let m = server.metrics();
    for worker in ["0", "1"] {
        let limit = format!("greeter_connection_limit{{worker=\"{worker}\"}}");
        assert_eq!(line_value(&m, &limit), Some(123.0), "{m}");
    }
    assert_eq!(line_value(&m, "greeter_draining"), Some(0.0));
    let mut c = connect(server.local_addr());
    c.write_all(get("/").as_bytes()).unwrap();
    read_response(&mut c);
    server.shutdown();
    eventually("draining shows", || {
        line_value(&server.metrics(), "greeter_draining") == Some(1.0)
    });
}

per_backend!(
    a_body_s_arrival_counts_in_flight_and_in_the_duration,
    requests_answered_at_once_fall_in_the_first_bucket,
    the_limit_in_force_and_draining_are_gauges,
    known_traffic_shows_exactly_those_counts,
    a_metrics_listener_serves_metrics_and_the_main_port_does_not,
    no_metrics_means_not_found,
    raw_greetings_are_counted,
);
