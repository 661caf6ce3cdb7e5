//! Tests against a real ring: buffer ownership across completions, the buffer ring (bundles
//! handled in any order), the bounded push, closes and cancels that wait for room or for a
//! late shutdown, accepted descriptors.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::token::Class;
use super::*;
use crate::uring::{Allow, Completion, Features, Generation};
use io_uring::{opcode, types};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Send,
    Recv,
    Timer,
    Accept,
}

impl OpKind for Op {
    fn code(self) -> u8 {
        self as u8
    }
    fn from_code(code: u8) -> Option<Op> {
        [Op::Send, Op::Recv, Op::Timer, Op::Accept]
            .into_iter()
            .find(|op| *op as u8 == code)
    }
}

fn token(kind: Op, slot: usize) -> Token<Op> {
    Token::new(kind, slot, Generation::default().next())
}

/// A ring, or `None` (with the reason printed) where io_uring is blocked or missing.
fn ring<B: SendBuf>() -> Option<Ring<Op, B>> {
    match Ring::new(8, Features::default()) {
        Ok(ring) => Some(ring),
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) => {
            eprintln!("skipped: io_uring is unavailable here ({e})");
            None
        }
        Err(e) => panic!("io_uring setup failed: {e}"),
    }
}

/// A send buffer that counts its drops.
struct Counted(Vec<u8>, Arc<AtomicUsize>);

impl AsRef<[u8]> for Counted {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

// SAFETY: the bytes are the inner `Vec`'s heap buffer, never written after construction.
unsafe impl SendBuf for Counted {}

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

/// A stream pair whose writer's buffer is full, so a send on it waits for the reader.
fn clogged_pair() -> (UnixStream, UnixStream) {
    let (writer, reader) = UnixStream::pair().unwrap();
    writer.set_nonblocking(true).unwrap();
    while (&writer).write(&[0; 4096]).is_ok() {}
    writer.set_nonblocking(false).unwrap();
    (writer, reader)
}

fn drain_all(reader: &mut UnixStream) {
    reader.set_nonblocking(true).unwrap();
    let mut buf = [0; 65536];
    while reader.read(&mut buf).is_ok_and(|n| n > 0) {}
}

/// Collects completions of `kind` (boundedly) until `enough` says so.
fn collect<B: SendBuf>(
    ring: &mut Ring<Op, B>,
    kind: Op,
    enough: impl Fn(&[Completion<Op, B>]) -> bool,
) -> Vec<Completion<Op, B>> {
    let (mut batch, mut found) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        ring.timeout(Duration::from_millis(50), Token::global(Op::Timer));
        ring.submit_and_wait().unwrap();
        ring.drain(&mut batch);
        found.extend(batch.drain(..).filter(|c| c.token.kind() == kind));
        if enough(&found) {
            return found;
        }
    }
    panic!("{kind:?} completions did not arrive within 5 s");
}

fn wait_for<B: SendBuf>(ring: &mut Ring<Op, B>, kind: Op) -> Completion<Op, B> {
    collect(ring, kind, |found| !found.is_empty()).remove(0)
}

#[test]
fn a_send_buffer_outlives_its_connection_until_the_completion() {
    let drops = Arc::new(AtomicUsize::new(0));
    let Some(mut ring) = ring::<Counted>() else {
        return;
    };
    let (writer, mut reader) = clogged_pair();
    let buf = Counted(vec![7; 1000], Arc::clone(&drops));
    ring.send(
        Target::Fd(writer.as_raw_fd()),
        SendCursor::new(buf),
        token(Op::Send, 3),
    );
    ring.timeout(Duration::from_millis(20), Token::global(Op::Timer));
    ring.submit_and_wait().unwrap();
    drop(writer); // the connection closes while the send is in flight
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the kernel still owns the buffer"
    );
    drain_all(&mut reader);
    let done = wait_for(&mut ring, Op::Send);
    assert_eq!(
        (done.result, done.token),
        (1000, token(Op::Send, 3)),
        "the completion carries the token the send was submitted with"
    );
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "returned with the completion, not before"
    );
    drop(done);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
}

#[test]
fn dropping_a_ring_with_a_send_in_flight_leaks_rather_than_frees() {
    let drops = Arc::new(AtomicUsize::new(0));
    let (writer, _reader) = clogged_pair();
    let Some(mut ring) = ring::<Counted>() else {
        return;
    };
    let buf = Counted(vec![1; 100], Arc::clone(&drops));
    ring.send(
        Target::Fd(writer.as_raw_fd()),
        SendCursor::new(buf),
        token(Op::Send, 0),
    );
    ring.timeout(Duration::from_millis(10), Token::global(Op::Timer));
    ring.submit_and_wait().unwrap();
    drop(ring);
    assert_eq!(drops.load(Ordering::SeqCst), 0);
}

#[test]
fn multishot_receive_fills_provided_buffers_in_order() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    ring.register_buffers(0, 4, 16).unwrap();
    let (mut peer, local) = UnixStream::pair().unwrap();
    ring.recv_multi(Target::Fd(local.as_raw_fd()), token(Op::Recv, 0));
    peer.write_all(b"hello, ring").unwrap();
    let c = wait_for(&mut ring, Op::Recv);
    assert!(c.more(), "multishot stays armed");
    let data = ring.checkout(c.buffers().unwrap(), c.result as usize);
    assert_eq!(data.pieces().collect::<Vec<_>>(), [b"hello, ring"]);
}

/// Bundle receives: rounds of 40 bytes over four 16-byte buffers, so each round's bundle
/// starts further along the ring and wraps past its end; every byte arrives in order, and
/// every buffer comes back.
#[test]
fn bundle_receives_span_buffers_in_ring_order() {
    let features = Features {
        recv_bundle: true,
        ..Features::default()
    };
    let mut ring = match Ring::<Op>::new(8, features) {
        Ok(ring) if ring.setup().is_recv_bundle() => ring,
        Ok(_) => return eprintln!("skipped: this kernel has no bundle receives"),
        Err(e) => return eprintln!("skipped: io_uring is unavailable here ({e})"),
    };
    ring.register_buffers(0, 4, 16).unwrap();
    let (mut peer, local) = UnixStream::pair().unwrap();
    let recv = token(Op::Recv, 0);
    ring.recv_multi(Target::Fd(local.as_raw_fd()), recv);
    let (mut batch, mut joined, mut widest) = (Vec::new(), Vec::new(), 0);
    for round in 0..6u8 {
        let sent: Vec<u8> = (0..40).map(|i| round * 40 + i).collect();
        peer.write_all(&sent).unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            ring.timeout(Duration::from_millis(50), Token::global(Op::Timer));
            ring.submit_and_wait().unwrap();
            ring.drain(&mut batch);
            // Claimed within the turn: the next wait hands unclaimed buffers back.
            for c in batch.drain(..).filter(|c| c.token.kind() == Op::Recv) {
                assert!(c.result > 0, "round {round}: {}", c.result);
                widest = widest.max(c.result);
                let data = ring.checkout(c.buffers().unwrap(), c.result as usize);
                got.extend_from_slice(data.contiguous(&mut joined));
                drop(data);
                if !c.more() {
                    ring.recv_multi(Target::Fd(local.as_raw_fd()), recv);
                }
            }
            if got.len() >= sent.len() {
                break;
            }
        }
        assert_eq!(got, sent, "round {round}");
    }
    assert!(
        widest > 16,
        "no completion spanned two buffers (widest {widest})"
    );
}

#[test]
fn unclaimed_buffers_go_back_to_the_kernel_and_receiving_resumes() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    ring.register_buffers(0, 2, 16).unwrap();
    let (mut peer, local) = UnixStream::pair().unwrap();
    peer.write_all(&[b'x'; 100]).unwrap();
    ring.recv_multi(Target::Fd(local.as_raw_fd()), token(Op::Recv, 0));
    let found = collect(&mut ring, Op::Recv, |f| f.iter().any(|c| !c.more()));
    let results: Vec<i32> = found.iter().map(|c| c.result).collect();
    assert_eq!(results, [16, 16, -libc::ENOBUFS], "two buffers, then none");
    // Neither buffer was claimed: the next turn hands both back.
    ring.recv_multi(Target::Fd(local.as_raw_fd()), token(Op::Recv, 0));
    let again = collect(&mut ring, Op::Recv, |f| f.len() >= 2);
    assert_eq!(again[0].result, 16, "re-armed once buffers returned");
}

#[test]
fn timeouts_pushed_together_keep_their_own_durations() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    ring.timeout(Duration::from_secs(5), token(Op::Timer, 1));
    ring.timeout(Duration::from_millis(10), token(Op::Timer, 2));
    let first = wait_for(&mut ring, Op::Timer);
    assert_eq!(
        first.token.slot(),
        2,
        "the 10 ms timer fires first; the 5 s one was not shortened"
    );
    let mut batch = Vec::new();
    ring.timeout(Duration::from_millis(200), token(Op::Timer, 3));
    while !batch
        .iter()
        .any(|c: &Completion<Op, Vec<u8>>| c.token.slot() == 3)
    {
        ring.submit_and_wait().unwrap();
        ring.drain(&mut batch);
    }
    assert!(
        !batch.iter().any(|c| c.token.slot() == 1),
        "the 5 s timer is still pending"
    );
    ring.finish().unwrap(); // cancels the 5 s timer rather than waiting for it
}

#[test]
fn a_full_queue_the_kernel_refuses_makes_entries_wait_not_spin() {
    // A ring created disabled refuses every submission (EBADFD) until enabled.
    let Some(mut ring) = disabled_ring() else {
        return;
    };
    for i in 0..12 {
        ring.timeout(Duration::from_millis(1), token(Op::Timer, i)); // returns at once
    }
    assert!(ring.order.is_waiting(), "four wait for room");
    enable(&ring);
    let fired = collect(&mut ring, Op::Timer, |found| {
        (0..12).all(|i| found.iter().any(|c| c.token.slot() == i))
    });
    assert!(fired.len() >= 12, "all twelve ran, in the end");
    assert!(!ring.order.is_waiting());
}

#[test]
fn an_accept_completion_owns_the_new_descriptor() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    ring.accept_multi(listener.as_raw_fd(), Token::global(Op::Accept));
    let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let accepted = wait_for(&mut ring, Op::Accept);
    assert!(accepted.more() && accepted.result >= 0);
    let Some(Socket::Fd(fd)) = accepted.accepted else {
        panic!("a successful accept carries its descriptor");
    };
    let mut server = TcpStream::from(fd);
    server.write_all(b"hi").unwrap();
    let mut got = [0; 2];
    client.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"hi");
}

/// A ring with bundle receives, or `None` where the kernel lacks them.
fn bundle_ring() -> Option<Ring<Op>> {
    let features = Features {
        recv_bundle: true,
        ..Features::default()
    };
    match Ring::<Op>::new(8, features) {
        Ok(ring) if ring.setup().is_recv_bundle() => Some(ring),
        Ok(_) => {
            eprintln!("skipped: this kernel has no bundle receives");
            None
        }
        Err(e) => {
            eprintln!("skipped: io_uring is unavailable here ({e})");
            None
        }
    }
}

/// Two bundles reaped in one turn and handled in reverse order: the second one handled
/// hands its buffers back first, which rewrites the ring entries the first one's bundle
/// came from; each connection still gets exactly its own bytes.
#[test]
fn bundles_of_one_turn_handled_in_reverse_order_keep_their_own_bytes() {
    let Some(mut ring) = bundle_ring() else {
        return;
    };
    ring.register_buffers(0, 4, 16).unwrap();
    let (mut peer_a, local_a) = UnixStream::pair().unwrap();
    let (mut peer_b, local_b) = UnixStream::pair().unwrap();
    let (a, b) = ([b'a'; 32], [b'b'; 32]);
    peer_a.write_all(&a).unwrap();
    peer_b.write_all(&b).unwrap();
    ring.recv_multi(Target::Fd(local_a.as_raw_fd()), token(Op::Recv, 1));
    ring.recv_multi(Target::Fd(local_b.as_raw_fd()), token(Op::Recv, 2));
    let mut found = collect(&mut ring, Op::Recv, |f| f.len() >= 2);
    assert!(
        found.iter().all(|c| c.result == 32),
        "one 32-byte bundle each: {:?}",
        found.iter().map(|c| c.result).collect::<Vec<_>>()
    );
    found.sort_by_key(|c| std::cmp::Reverse(c.token.slot()));
    let mut joined = Vec::new();
    for c in found {
        let data = ring.checkout(c.buffers().unwrap(), c.result as usize);
        let want: &[u8] = if c.token.slot() == 1 { &a } else { &b };
        assert_eq!(
            data.contiguous(&mut joined),
            want,
            "slot {}",
            c.token.slot()
        );
    }
    assert_eq!(ring.in_use(), (0, 0), "every buffer is back");
}

/// A ring set up disabled, so nothing it queues runs until [`enable`]; with 8 entries.
/// Until then every submission fails (`EBADFD`): a full queue stays full.
fn disabled_ring() -> Option<Ring<Op>> {
    match IoUring::builder().setup_r_disabled().build(8) {
        Ok(uring) => Some(Ring::from_parts(uring, crate::uring::setup::PLAIN)),
        Err(e) => {
            eprintln!("skipped: io_uring is unavailable here ({e})");
            None
        }
    }
}

fn enable(ring: &Ring<Op>) {
    ring.submitter.register_enable_rings().unwrap();
}

/// Fills what is left of the queue with 1 ms timers.
fn fill(ring: &mut Ring<Op>, from: usize) {
    for i in from..8 {
        ring.timeout(Duration::from_millis(1), token(Op::Timer, i));
    }
}

/// Whether `reader` sees end of stream within a second.
fn sees_eof(reader: &mut UnixStream) -> bool {
    reader
        .set_read_timeout(Some(Duration::from_secs(1)))
        .unwrap();
    matches!(reader.read(&mut [0u8; 16]), Ok(0))
}

#[test]
fn a_close_the_queue_cannot_take_is_submitted_next_turn_not_leaked() {
    let Some(mut ring) = disabled_ring() else {
        return;
    };
    let (closing, mut peer) = UnixStream::pair().unwrap();
    ring.submitter
        .register_files(&[closing.as_raw_fd()])
        .unwrap();
    drop(closing); // the fixed-file slot holds the only reference now
    ring.direct = true;
    ring.order.slot_taken();
    fill(&mut ring, 0);
    ring.close(Socket::Fixed(0));
    ring.cancel_fd(Target::Fixed(0));
    assert_eq!(ring.in_use(), (0, 0), "the slot is handed to its close");
    assert!(!sees_eof(&mut peer), "nothing ran yet");
    enable(&ring);
    ring.timeout(Duration::from_millis(1), Token::global(Op::Timer));
    let _ = wait_for(&mut ring, Op::Timer);
    assert!(sees_eof(&mut peer), "the close waited for room, then ran");
}

#[test]
fn a_cancel_the_queue_cannot_take_still_ends_the_receive() {
    let Some(mut ring) = disabled_ring() else {
        return;
    };
    ring.register_buffers(0, 2, 16).unwrap();
    let (_peer, local) = UnixStream::pair().unwrap();
    let recv = token(Op::Recv, 5);
    ring.recv_multi(Target::Fd(local.as_raw_fd()), recv);
    fill(&mut ring, 1);
    ring.cancel_recv(recv);
    enable(&ring);
    let ended = wait_for(&mut ring, Op::Recv);
    assert_eq!((ended.result, ended.more()), (-libc::ECANCELED, false));
    ring.finish().unwrap();
}

#[test]
fn a_close_waits_for_the_shutdown_the_kernel_runs_late() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    let (local, mut peer) = UnixStream::pair().unwrap();
    let target = Target::Fd(local.as_raw_fd());
    ring.shutdown_write(target);
    ring.close(Socket::Fd(local.into()));
    assert_eq!(ring.order.held_closes(), 1, "held until the shutdown ends");
    ring.timeout(Duration::from_millis(1), Token::global(Op::Timer));
    let _ = wait_for(&mut ring, Op::Timer);
    for _ in 0..100 {
        if ring.order.held_closes() == 0 {
            break;
        }
        ring.timeout(Duration::from_millis(10), Token::global(Op::Timer));
        let _ = wait_for(&mut ring, Op::Timer);
    }
    assert_eq!(
        ring.order.held_closes(),
        0,
        "the shutdown ended; the close went"
    );
    assert!(sees_eof(&mut peer));
    ring.finish().unwrap();
}

/// A ring restricted to timers (plus the driver's cancels and closes), or `None` where
/// the kernel cannot restrict.
fn timer_only_ring() -> Option<Ring<Op>> {
    let features = Features {
        restrict: true,
        ..Features::default()
    };
    let Some(mut ring) = Ring::<Op>::new(8, features).ok() else {
        eprintln!("skipped: io_uring is unavailable here");
        return None;
    };
    ring.enable(&[Allow::Timeout]).unwrap();
    match ring.setup().to_string().contains("|RESTRICTED(3 opcodes)") {
        true => Some(ring),
        false => {
            eprintln!(
                "skipped: this kernel cannot restrict a ring ({})",
                ring.setup()
            );
            None
        }
    }
}

#[test]
fn a_restricted_ring_refuses_an_opcode_outside_its_list() {
    let Some(mut ring) = timer_only_ring() else {
        return;
    };
    let path = c"/etc/hostname";
    let open = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr()).build();
    // SAFETY: the path is a static C string; the kernel refuses the entry unread anyway.
    unsafe { ring.push_counted(open.user_data(token(Op::Timer, 9).encode(Class::Plain))) };
    let refused = collect(&mut ring, Op::Timer, |f| {
        f.iter().any(|c| c.token.slot() == 9)
    });
    let refused = refused.iter().find(|c| c.token.slot() == 9).unwrap();
    assert_eq!(refused.result, -libc::EACCES, "OPENAT through the ring");
    ring.timeout(Duration::from_millis(1), token(Op::Timer, 1));
    let allowed = wait_for(&mut ring, Op::Timer);
    assert_eq!(
        allowed.result,
        -libc::ETIME,
        "a timer, which is allowed, runs"
    );
}

#[test]
fn a_restricted_ring_refuses_every_register_operation() {
    let Some(mut ring) = timer_only_ring() else {
        return;
    };
    let refused = ring.submitter.register_files_sparse(4).unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EACCES));
    let refused = ring.submitter.register_ring_fd().unwrap_err();
    assert_eq!(refused.raw_os_error(), Some(libc::EACCES));
}

#[test]
fn an_unrestricted_ring_says_so() {
    let Some(ring) = ring::<Vec<u8>>() else {
        return;
    };
    assert!(
        ring.setup().to_string().ends_with("|UNRESTRICTED"),
        "{}",
        ring.setup()
    );
}
