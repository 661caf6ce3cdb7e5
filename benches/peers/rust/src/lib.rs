//! What every peer shares: its command line (`--port P [--threads N]`) and the answer a
//! minimal responder writes, byte for byte what greeter sends for `GET /` (its own name in
//! `Server`; `Date` fixed, as the floors do).

/// The port and thread count from `--port P --threads N` (threads default to 1).
pub fn args() -> (u16, usize) {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| {
        args.windows(2).find(|w| w[0] == flag).map(|w| {
            w[1].parse()
                .unwrap_or_else(|_| panic!("{flag} takes a number"))
        })
    };
    let port = value("--port").expect("--port P") as u16;
    (port, value("--threads").unwrap_or(1) as usize)
}

/// The whole answer to a `GET /`, for the minimal responders.
pub const ANSWER: &[u8] = b"HTTP/1.1 200 OK\r\nServer: peer\r\nDate: Mon, 30 Nov 2026 00:00:00 GMT\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 13\r\n\r\nHello, world!";

/// The greeting.
pub const GREETING: &str = "Hello, world!";

/// Takes `received` after what `pending` holds and returns the answers to every request
/// head now complete (empty when none is); the unfinished rest stays in `pending`.
pub fn answers(pending: &mut Vec<u8>, received: &[u8]) -> Vec<u8> {
    pending.extend_from_slice(received);
    let (count, end) = complete_heads(pending);
    pending.drain(..end);
    ANSWER.repeat(count)
}

/// Runs `serve(port)` on `threads` threads of its own (a runtime and a listener each),
/// until they end.
pub fn on_threads(port: u16, threads: usize, serve: fn(u16)) {
    let workers: Vec<_> = (0..threads)
        .map(|_| std::thread::spawn(move || serve(port)))
        .collect();
    workers.into_iter().for_each(|w| drop(w.join()));
}

/// How many complete request heads `pending` holds, and where the last one ends: a
/// minimal responder answers each (GET only, no bodies), and keeps the rest.
pub fn complete_heads(pending: &[u8]) -> (usize, usize) {
    let (mut count, mut end, mut at) = (0, 0, 0);
    while let Some(i) = pending[at..].windows(4).position(|w| w == b"\r\n\r\n") {
        at += i + 4;
        count += 1;
        end = at;
    }
    (count, end)
}

/// A loopback listener on `port` with `SO_REUSEPORT`, so each thread can have its own.
pub fn reuseport_listener(port: u16) -> std::net::TcpListener {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).expect("socket");
    socket.set_reuse_port(true).expect("SO_REUSEPORT");
    socket.set_reuse_address(true).expect("SO_REUSEADDR");
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    socket.bind(&addr.into()).expect("bind");
    socket.listen(4096).expect("listen");
    socket.into()
}
