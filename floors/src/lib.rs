//! What the three floors share: the canned answer (the same bytes greeter sends for `GET
//! /`, with a fixed date), the listening socket, and counting requests without parsing them.
//! The floors are the yardstick of `cargo bench --bench compare`: the least a server on
//! each I/O model can do per request, so greeter's distance from it is what greeter costs.

use std::net::{Ipv4Addr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};

/// Byte for byte as long as greeter's answer to `GET /` (its `Date` is fixed here).
pub const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nServer: greeter\r\nDate: Mon, 23 Nov 2026 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, world!";

/// The port from `--port N` (or the first argument).
pub fn port() -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let value = match args.first().map(String::as_str) {
        Some("--port") => args.get(1),
        _ => args.first(),
    };
    value
        .and_then(|v| v.parse().ok())
        .expect("usage: floor --port N")
}

/// A listener on 127.0.0.1:`port`, non-blocking if asked.
pub fn listen(port: u16, nonblocking: bool) -> Socket {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP)).expect("socket");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    socket.set_tcp_nodelay(true).expect("TCP_NODELAY"); // inherited by accepted sockets
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.set_nonblocking(nonblocking).expect("O_NONBLOCK");
    socket
}

/// Counts request ends (`\r\n\r\n`) in a stream, across reads: no parsing beyond that.
#[derive(Debug, Default, Clone, Copy)]
pub struct Ends {
    /// How much of `\r\n\r\n` the previous bytes ended with.
    matched: u8,
}

impl Ends {
    /// Request ends in `data`.
    pub fn count(&mut self, data: &[u8]) -> usize {
        let mut ends = 0;
        for &b in data {
            self.matched = match (self.matched, b) {
                (0 | 2, b'\r') => self.matched + 1,
                (1 | 3, b'\n') => self.matched + 1,
                (_, b'\r') => 1,
                _ => 0,
            };
            if self.matched == 4 {
                ends += 1;
                self.matched = 0;
            }
        }
        ends
    }
}

/// `n` answers, appended to `out`.
pub fn answer(out: &mut Vec<u8>, n: usize) {
    for _ in 0..n {
        out.extend_from_slice(ANSWER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_counted_across_splits() {
        let stream = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n";
        for cut in 0..stream.len() {
            let mut ends = Ends::default();
            let n = ends.count(&stream[..cut]) + ends.count(&stream[cut..]);
            assert_eq!(n, 2, "cut at {cut}");
        }
        assert_eq!(Ends::default().count(b"a\r\r\n\r\n"), 1);
    }
}
