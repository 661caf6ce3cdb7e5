//! Listening sockets: one per worker with `SO_REUSEPORT` where the kernel balances
//! connections across them (Linux); elsewhere one listener the workers share.

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Accept backlog; the kernel caps it at `net.core.somaxconn`.
const BACKLOG: i32 = 4096;

/// Whether each worker gets its own `SO_REUSEPORT` listener.
pub(crate) const LISTENER_PER_WORKER: bool = cfg!(uring);

/// Binds `count` listeners on `addr`; with port 0 the first picks the port and the rest
/// join it. Returns the listeners and the address they share.
pub(crate) fn listeners(addr: SocketAddr, count: usize) -> io::Result<(Vec<Socket>, SocketAddr)> {
    if count > 1 && addr.port() != 0 {
        // SO_REUSEPORT would let us share a port another server (of the same user) holds;
        // a plain bind first makes "address in use" an error, as users expect.
        drop(listen(addr, false)?);
    }
    let first = listen(addr, count > 1)?;
    let bound = first
        .local_addr()?
        .as_socket()
        .ok_or_else(|| io::Error::other("listener has no IP address"))?;
    let mut all = vec![first];
    for _ in 1..count {
        all.push(listen(bound, true)?);
    }
    Ok((all, bound))
}

fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `[::]` takes IPv4 connections too, whatever `net.ipv6.bindv6only` says.
        socket.set_only_v6(false)?;
    }
    #[cfg(unix)]
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // Linux copies TCP_NODELAY to accepted sockets: no setsockopt per connection.
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket)
}
