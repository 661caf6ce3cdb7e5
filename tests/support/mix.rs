//! A mix of clients for tests that run well-formed clients beside hostile ones. Each
//! well-formed exchange happens on a fresh connection and is checked byte for byte; each
//! hostile one refuses, overflows, resets, trickles or stalls in its own way. Shared by the
//! isolation and chaos tests and by `examples/chaos.rs` (which `ci/soak.sh` runs).
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// Every network wait of a mix client is bounded by this.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A well-formed client: its request bytes, and the answer it must get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polite {
    /// Three GETs in one write.
    Pipelined,
    /// A GET, then the write side shut down: the answer still comes, then the close.
    HalfClosed,
    /// `POST /greet` with a chunked form body.
    ChunkedPost,
    /// `POST /greet` with a `Content-Length` text body.
    LengthPost,
    /// A GET sent one byte per write.
    Trickled,
}

impl Polite {
    pub const ALL: [Polite; 5] = [
        Polite::Pipelined,
        Polite::HalfClosed,
        Polite::ChunkedPost,
        Polite::LengthPost,
        Polite::Trickled,
    ];

    fn request(self) -> String {
        let get = "GET / HTTP/1.1\r\nHost: t\r\n\r\n";
        match self {
            Polite::Pipelined => get.repeat(3),
            Polite::HalfClosed | Polite::Trickled => get.to_owned(),
            Polite::ChunkedPost => "POST /greet HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nname=\r\n3\r\nAda\r\n0\r\n\r\n".to_owned(),
            Polite::LengthPost => "POST /greet HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nGrace".to_owned(),
        }
    }

    /// The bodies of the answers, in order.
    fn bodies(self) -> Vec<&'static str> {
        match self {
            Polite::Pipelined => vec!["Hello, world!"; 3],
            Polite::HalfClosed | Polite::Trickled => vec!["Hello, world!"],
            Polite::ChunkedPost => vec!["Hello, Ada!"],
            Polite::LengthPost => vec!["Hello, Grace!"],
        }
    }
}

/// How a well-formed exchange went wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server closed (or refused, or reset) before sending a byte.
    Closed(String),
    /// Bytes came, but not the answer.
    Wrong { got: String, want: String },
}

/// The answers `bodies` must get, with `Date` values normalized; the last says
/// `Connection: close` if `closing`.
fn answers(bodies: &[&str], closing: bool) -> String {
    let last = bodies.len().saturating_sub(1);
    bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let close = if closing && i == last { "Connection: close\r\n" } else { "" };
            format!(
                "HTTP/1.1 200 OK\r\nServer: greeter\r\nDate: <date>\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n{close}\r\n{body}",
                body.len()
            )
        })
        .collect()
}

/// Runs one well-formed exchange on a fresh connection. While the server drains, the last
/// answer may say `Connection: close`.
pub fn polite(addr: SocketAddr, kind: Polite) -> Result<(), Failure> {
    let mut c = dial(addr).map_err(|e| Failure::Closed(format!("connect: {e}")))?;
    let request = kind.request();
    let sent = match kind {
        Polite::Trickled => request.bytes().try_for_each(|b| {
            thread::sleep(Duration::from_micros(200));
            c.write_all(&[b])
        }),
        _ => c.write_all(request.as_bytes()),
    };
    if let Err(e) = sent {
        return Err(Failure::Closed(format!("write: {e}")));
    }
    if kind == Polite::HalfClosed {
        let _ = c.shutdown(Shutdown::Write);
    }
    let bodies = kind.bodies();
    let wanted = [answers(&bodies, false), answers(&bodies, true)];
    let got = read_until(&mut c, &wanted)?;
    if wanted.contains(&got) {
        return Ok(());
    }
    // While draining, requests not yet received when the server closed go unanswered:
    // the answers before them, the last saying `Connection: close`, are a clean close.
    match (1..bodies.len()).find(|&k| got == answers(&bodies[..k], true)) {
        Some(k) => Err(Failure::Closed(format!(
            "closed after {k} of {} answers",
            bodies.len()
        ))),
        None => Err(Failure::Wrong {
            got,
            want: wanted[0].clone(),
        }),
    }
}

/// Reads until what arrived (dates normalized) is one of `wanted`, or is longer than all
/// of them, or the server closed; `Err` if nothing at all arrived.
fn read_until(c: &mut TcpStream, wanted: &[String]) -> Result<String, Failure> {
    let longest = wanted.iter().map(String::len).max().unwrap_or(0);
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if raw.is_empty() => return Err(Failure::Closed(format!("read: {e}"))),
            Err(_) => break,
        }
        let got = normalize_dates(&raw);
        if wanted.contains(&got) || got.len() > longest {
            return Ok(got);
        }
    }
    match raw.is_empty() {
        true => Err(Failure::Closed("closed with nothing sent".to_owned())),
        false => Ok(normalize_dates(&raw)),
    }
}

/// Replaces each 29-byte `Date:` value with `<date>`.
fn normalize_dates(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut rest = &*text;
    while let Some(i) = rest.find("\r\nDate: ") {
        let end = (i + 8 + 29).min(rest.len());
        out.push_str(&rest[..i + 8]);
        out.push_str("<date>");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// A hostile client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hostile {
    /// A header line without a colon: `400`, then the server lingers and closes.
    Malformed,
    /// A 100 KB header: `431` after the first 8 KiB, while the rest is still arriving.
    Oversized,
    /// Many pipelined GETs, then a reset once the answers start.
    ResetMidResponse,
    /// Half a head, a byte at a time, then silence until the server gives up (or we do).
    Slowloris,
    /// Many pipelined GETs and never a read; closed after a while.
    NeverReads,
}

impl Hostile {
    pub const ALL: [Hostile; 5] = [
        Hostile::Malformed,
        Hostile::Oversized,
        Hostile::ResetMidResponse,
        Hostile::Slowloris,
        Hostile::NeverReads,
    ];

    /// The refusals, whose answers are checked: the status line they must start with.
    pub fn refusal(self) -> Option<&'static str> {
        match self {
            Hostile::Malformed => Some("HTTP/1.1 400 Bad Request\r\n"),
            Hostile::Oversized => Some("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            _ => None,
        }
    }
}

/// Runs one hostile client. A refusal must be answered with its status (`Err` otherwise);
/// the others only need the server to survive them.
pub fn hostile(addr: SocketAddr, kind: Hostile, hold: Duration) -> Result<(), String> {
    let Ok(mut c) = dial(addr) else {
        return Ok(()); // refused while draining: nothing to check
    };
    match kind {
        Hostile::Malformed => refused(c, b"GET / HTTP/1.1\r\nHost: t\r\nBad Header\r\n\r\n", kind),
        Hostile::Oversized => {
            let big = format!(
                "GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n",
                "b".repeat(100_000)
            );
            refused(c, big.as_bytes(), kind)
        }
        Hostile::ResetMidResponse => {
            let _ = c.write_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(200).as_bytes());
            let _ = c.read(&mut [0u8; 1]);
            reset(c);
            Ok(())
        }
        Hostile::Slowloris => {
            let start = Instant::now();
            for b in b"GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ".iter() {
                if c.write_all(&[*b]).is_err() || start.elapsed() > hold {
                    break;
                }
                thread::sleep(hold / 40);
            }
            Ok(())
        }
        Hostile::NeverReads => {
            c.set_write_timeout(Some(hold)).ok();
            let _ = c.write_all("GET / HTTP/1.1\r\nHost: t\r\n\r\n".repeat(4000).as_bytes());
            thread::sleep(hold);
            Ok(())
        }
    }
}

/// Sends `request` (the server may close before it is all written), checks the answer
/// starts with the refusal's status line, and hangs up once the answer is complete (as a
/// client told `Connection: close` does), without waiting for the server's close.
fn refused(mut c: TcpStream, request: &[u8], kind: Hostile) -> Result<(), String> {
    let _ = c.write_all(request);
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    while !complete(&got) {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let want = kind.refusal().unwrap_or_default();
    match got.starts_with(want.as_bytes()) {
        true => Ok(()),
        false => Err(format!(
            "{kind:?}: want {want:?}, got {:?}",
            String::from_utf8_lossy(&got[..got.len().min(120)])
        )),
    }
}

/// Whether `raw` holds a whole response, framed by its `Content-Length`.
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&raw[..end]);
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|v| v.trim().parse::<usize>().ok())
        .unwrap_or(0);
    raw.len() >= end + 4 + length
}

/// Closes with SO_LINGER 0: the server sees a reset.
pub fn reset(c: TcpStream) {
    let _ = socket2::SockRef::from(&c).set_linger(Some(Duration::ZERO));
}

fn dial(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let c = TcpStream::connect_timeout(&addr, PATIENCE)?;
    c.set_read_timeout(Some(PATIENCE))?;
    c.set_write_timeout(Some(PATIENCE))?;
    Ok(c)
}

/// What a run of the mix saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Well-formed exchanges answered byte for byte.
    pub served: usize,
    /// Hostile clients run (refusals checked).
    pub hostile: usize,
    /// Exchanges that went wrong, and when the failure was seen.
    pub failures: Vec<(Instant, String, Failure)>,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.served += other.served;
        self.hostile += other.hostile;
        self.failures.extend(other.failures);
    }
}

/// Clients of every kind running in loops until stopped.
pub struct Mix {
    stop: Arc<AtomicBool>,
    threads: Vec<thread::JoinHandle<Tally>>,
}

impl Mix {
    /// Starts `per_kind` threads of each well-formed kind and one of each hostile kind,
    /// each pausing `pace` between exchanges; hostile clients that hold a connection hold
    /// it for `hold`.
    pub fn start(addr: SocketAddr, per_kind: usize, pace: Duration, hold: Duration) -> Mix {
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for kind in Polite::ALL
            .iter()
            .flat_map(|k| std::iter::repeat_n(*k, per_kind))
        {
            let stop = Arc::clone(&stop);
            threads.push(thread::spawn(move || {
                repeat(&stop, pace, |t| match polite(addr, kind) {
                    Ok(()) => t.served += 1,
                    Err(f) => t.failures.push((Instant::now(), format!("{kind:?}"), f)),
                })
            }));
        }
        for kind in Hostile::ALL {
            let stop = Arc::clone(&stop);
            threads.push(thread::spawn(move || {
                repeat(&stop, pace, |t| {
                    t.hostile += 1;
                    if let Err(e) = hostile(addr, kind, hold) {
                        t.failures
                            .push((Instant::now(), format!("{kind:?}"), Failure::Closed(e)));
                    }
                })
            }));
        }
        Mix { stop, threads }
    }

    /// Stops every client (each finishes its exchange) and sums what they saw.
    pub fn stop(self) -> Tally {
        self.stop.store(true, Ordering::Relaxed);
        let mut tally = Tally::default();
        for t in self.threads {
            tally.add(t.join().expect("a mix client panicked"));
        }
        tally
    }
}

/// Runs `once` until `stop`, pausing `pace` between runs.
fn repeat(stop: &AtomicBool, pace: Duration, mut once: impl FnMut(&mut Tally)) -> Tally {
    let mut tally = Tally::default();
    while !stop.load(Ordering::Relaxed) {
        once(&mut tally);
        thread::sleep(pace);
    }
    tally
}
