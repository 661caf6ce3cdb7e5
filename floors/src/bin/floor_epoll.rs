//! The epoll floor: one thread, edge-triggered epoll, non-blocking sockets; each readable
//! connection is read until it would block and answered with as many canned answers as it
//! sent request ends. One shared read buffer, so an idle connection holds only its slot.
//! No parsing, no timeouts, no limits.

use std::os::fd::{AsRawFd, RawFd};

use greeter_floors::{Ends, answer, listen, port};

/// A connection's state, indexed by its descriptor.
#[derive(Default)]
struct Conn {
    open: bool,
    ends: Ends,
    /// Answers the socket would not take yet.
    pending: Vec<u8>,
}

fn main() {
    let listener = listen(port(), true);
    // SAFETY: epoll_create1 takes no pointers; the result is checked.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1 failed");
    watch(epoll, listener.as_raw_fd(), libc::EPOLLIN as u32);
    let (mut conns, mut buf) = (Vec::<Conn>::new(), vec![0u8; 64 * 1024]);
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    loop {
        // SAFETY: `events` holds `len` initialised entries the kernel fills in.
        let n = unsafe { libc::epoll_wait(epoll, events.as_mut_ptr(), events.len() as i32, -1) };
        for event in &events[..n.max(0) as usize] {
            let fd = event.u64 as RawFd;
            if fd == listener.as_raw_fd() {
                accept_all(epoll, fd, &mut conns);
            } else {
                serve(fd, event.events, &mut conns[fd as usize], &mut buf);
            }
        }
    }
}

fn watch(epoll: RawFd, fd: RawFd, events: u32) {
    let mut event = libc::epoll_event {
        events,
        u64: fd as u64,
    };
    // SAFETY: `event` is a valid epoll_event for the duration of the call.
    let r = unsafe { libc::epoll_ctl(epoll, libc::EPOLL_CTL_ADD, fd, &mut event) };
    assert_eq!(r, 0, "epoll_ctl failed");
}

fn accept_all(epoll: RawFd, listener: RawFd, conns: &mut Vec<Conn>) {
    loop {
        // SAFETY: no address is asked for; the result is checked.
        let fd = unsafe {
            libc::accept4(
                listener,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        if conns.len() <= fd as usize {
            conns.resize_with(fd as usize + 1, Conn::default);
        }
        conns[fd as usize] = Conn {
            open: true,
            ..Conn::default()
        };
        watch(
            epoll,
            fd,
            (libc::EPOLLIN | libc::EPOLLOUT | libc::EPOLLRDHUP | libc::EPOLLET) as u32,
        );
    }
}

/// Reads until the socket would block, answers, and writes what it takes.
fn serve(fd: RawFd, events: u32, conn: &mut Conn, buf: &mut [u8]) {
    if !conn.open {
        return;
    }
    if events & libc::EPOLLIN as u32 != 0 && !read_all(fd, conn, buf) {
        return close(fd, conn);
    }
    if !flush(fd, conn) {
        close(fd, conn);
    }
}

/// Whether the connection stays open.
fn read_all(fd: RawFd, conn: &mut Conn, buf: &mut [u8]) -> bool {
    loop {
        // SAFETY: `buf` is valid for `len` bytes the kernel may write.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            0 => return false,
            n if n > 0 => answer(&mut conn.pending, conn.ends.count(&buf[..n as usize])),
            _ => return std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock,
        }
    }
}

/// Writes pending answers until done or the socket would block; whether it stays open.
fn flush(fd: RawFd, conn: &mut Conn) -> bool {
    while !conn.pending.is_empty() {
        // SAFETY: `pending` is valid for `len` bytes the kernel reads.
        let n = unsafe {
            libc::send(
                fd,
                conn.pending.as_ptr().cast(),
                conn.pending.len(),
                libc::MSG_NOSIGNAL,
            )
        };
        if n < 0 {
            return std::io::Error::last_os_error().kind() == std::io::ErrorKind::WouldBlock;
        }
        conn.pending.drain(..n as usize);
    }
    true
}

fn close(fd: RawFd, conn: &mut Conn) {
    *conn = Conn::default();
    // SAFETY: the descriptor is ours (accepted here) and closed once: `open` is now false.
    unsafe { libc::close(fd) };
}
