//! The io_uring floor: one ring (`SINGLE_ISSUER|DEFER_TASKRUN`, as greeter sets up), a
//! multishot accept, multishot receives from one provided buffer ring, and a send per
//! batch of canned answers, one send in flight per connection; one `submit_and_wait` per
//! loop turn. What greeter asks of the kernel, with nothing of greeter's in user space: no
//! parsing, no timers, no limits, no shutdown.

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU16, Ordering};

use greeter_floors::{Ends, answer, listen, port};
use io_uring::types::{BufRingEntry, Fd};
use io_uring::{IoUring, cqueue, opcode, squeue};

const BUFFERS: u16 = 512;
const BUFFER_SIZE: usize = 2048;
const GROUP: u16 = 0;
/// `user_data`: the operation in the top byte, the connection's descriptor below.
const ACCEPT: u64 = 1 << 56;
const RECV: u64 = 2 << 56;
const SEND: u64 = 3 << 56;

#[derive(Default)]
struct Conn {
    ends: Ends,
    /// Answers produced while a send was in flight.
    pending: Vec<u8>,
    /// The buffer of the send in flight: the kernel reads it until its completion.
    sending: Option<Vec<u8>>,
    /// The peer is gone: close once no operation is in flight.
    closing: bool,
    receiving: bool,
}

/// The provided buffer ring: entries shared with the kernel, and the buffers.
struct Buffers {
    entries: *mut BufRingEntry,
    memory: Vec<u8>,
    tail: u16,
}

fn main() {
    let listener = listen(port(), false);
    let mut ring: IoUring = IoUring::builder()
        .setup_single_issuer()
        .setup_defer_taskrun()
        .setup_cqsize(4096)
        .build(1024)
        .expect("an io_uring");
    let mut bufs = Buffers::register(&ring);
    let mut conns: Vec<Conn> = Vec::new();
    push(
        &mut ring,
        opcode::AcceptMulti::new(Fd(listener.as_raw_fd()))
            .build()
            .user_data(ACCEPT),
    );
    let mut cqes: Vec<cqueue::Entry> = Vec::with_capacity(4096);
    loop {
        ring.submit_and_wait(1).expect("io_uring_enter");
        cqes.extend(ring.completion());
        for cqe in cqes.drain(..) {
            on_completion(&mut ring, &mut bufs, &mut conns, &cqe, listener.as_raw_fd());
        }
    }
}

fn on_completion(
    ring: &mut IoUring,
    bufs: &mut Buffers,
    conns: &mut Vec<Conn>,
    cqe: &cqueue::Entry,
    listener: i32,
) {
    let fd = (cqe.user_data() & 0xFFFF_FFFF) as i32;
    match cqe.user_data() & !0xFFFF_FFFF {
        ACCEPT => accepted(ring, conns, cqe, listener),
        RECV => received(ring, bufs, &mut conns[fd as usize], fd, cqe),
        SEND => sent(ring, &mut conns[fd as usize], fd, cqe.result()),
        _ => {}
    }
}

fn accepted(ring: &mut IoUring, conns: &mut Vec<Conn>, cqe: &cqueue::Entry, listener: i32) {
    if !cqueue::more(cqe.flags()) {
        push(
            ring,
            opcode::AcceptMulti::new(Fd(listener))
                .build()
                .user_data(ACCEPT),
        );
    }
    let fd = cqe.result();
    if fd < 0 {
        return;
    }
    if conns.len() <= fd as usize {
        conns.resize_with(fd as usize + 1, Conn::default);
    }
    conns[fd as usize] = Conn::default();
    recv(ring, &mut conns[fd as usize], fd);
}

fn recv(ring: &mut IoUring, conn: &mut Conn, fd: i32) {
    conn.receiving = true;
    push(
        ring,
        opcode::RecvMulti::new(Fd(fd), GROUP)
            .build()
            .user_data(RECV | fd as u64),
    );
}

fn received(ring: &mut IoUring, bufs: &mut Buffers, conn: &mut Conn, fd: i32, cqe: &cqueue::Entry) {
    conn.receiving = cqueue::more(cqe.flags());
    if let Some(bid) = cqueue::buffer_select(cqe.flags()) {
        let len = cqe.result().max(0) as usize;
        let n = conn.ends.count(bufs.data(bid, len));
        answer(&mut conn.pending, n);
        bufs.publish(bid);
    }
    match cqe.result() {
        n if n > 0 => {
            if !conn.receiving {
                recv(ring, conn, fd);
            }
            send(ring, conn, fd);
        }
        n if n == -libc::ENOBUFS => recv(ring, conn, fd),
        _ => close(conn, fd),
    }
}

fn send(ring: &mut IoUring, conn: &mut Conn, fd: i32) {
    if conn.sending.is_some() || conn.pending.is_empty() {
        return;
    }
    let buf = std::mem::take(&mut conn.pending);
    let entry = opcode::Send::new(Fd(fd), buf.as_ptr(), buf.len() as u32)
        .flags(libc::MSG_NOSIGNAL)
        .build()
        .user_data(SEND | fd as u64);
    conn.sending = Some(buf); // the heap bytes stay put while the Vec moves
    push(ring, entry);
}

fn sent(ring: &mut IoUring, conn: &mut Conn, fd: i32, result: i32) {
    let mut buf = conn.sending.take().expect("a send was in flight");
    if result < 0 {
        return close(conn, fd);
    }
    buf.drain(..result as usize);
    if !buf.is_empty() {
        buf.extend_from_slice(&conn.pending); // a short send: the rest goes first
        conn.pending = buf;
    } else if conn.pending.capacity() == 0 {
        buf.clear();
        conn.pending = buf; // keep the allocation
    }
    if conn.closing {
        return close(conn, fd);
    }
    send(ring, conn, fd);
}

/// Closes once nothing is in flight on the descriptor.
fn close(conn: &mut Conn, fd: i32) {
    conn.closing = true;
    if conn.sending.is_none() && !conn.receiving {
        *conn = Conn::default();
        // SAFETY: the descriptor came from our accept and nothing is in flight on it.
        unsafe { libc::close(fd) };
    }
}

fn push(ring: &mut IoUring, entry: squeue::Entry) {
    // SAFETY: a send's buffer is held in its connection's `sending` until its completion,
    // receives write only into the registered buffer ring, accepts pass no memory.
    while unsafe { ring.submission().push(&entry) }.is_err() {
        ring.submit().expect("io_uring_enter");
    }
}

impl Buffers {
    fn register(ring: &IoUring) -> Buffers {
        let size = usize::from(BUFFERS) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping aliases nothing; the result is checked.
        let entries = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(entries, libc::MAP_FAILED, "mmap");
        let mut bufs = Buffers {
            entries: entries.cast(),
            memory: vec![0; usize::from(BUFFERS) * BUFFER_SIZE],
            tail: 0,
        };
        (0..BUFFERS).for_each(|bid| bufs.publish(bid));
        // SAFETY: the mapping holds `BUFFERS` entries and lives for the whole process.
        unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(entries as u64, BUFFERS, GROUP, 0)
        }
        .expect("register the buffer ring");
        bufs
    }

    fn data(&self, bid: u16, len: usize) -> &[u8] {
        let start = usize::from(bid) * BUFFER_SIZE;
        &self.memory[start..start + len.min(BUFFER_SIZE)]
    }

    /// Hands buffer `bid` back to the kernel.
    fn publish(&mut self, bid: u16) {
        let index = usize::from(self.tail & (BUFFERS - 1));
        let addr = self.memory[usize::from(bid) * BUFFER_SIZE..].as_ptr() as u64;
        // SAFETY: `index < BUFFERS`, inside the mapping; the kernel reads entries only below the published tail.
        let entry = unsafe { &mut *self.entries.add(index) };
        entry.set_addr(addr);
        entry.set_len(BUFFER_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the reserved u16 of entry 0, aligned, inside the mapping.
        let tail = unsafe { AtomicU16::from_ptr(BufRingEntry::tail(self.entries).cast_mut()) };
        tail.store(self.tail, Ordering::Release);
    }
}
