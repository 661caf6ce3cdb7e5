//! Tests against a real ring: buffer ownership across completions and the buffer ring.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::*;

/// A ring, or `None` (with the reason printed) where io_uring is blocked or missing.
fn ring<B: SendBuf>() -> Option<Ring<B>> {
    match Ring::new(8) {
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
    ring: &mut Ring<B>,
    kind: Kind,
    enough: impl Fn(&[Completion<B>]) -> bool,
) -> Vec<Completion<B>> {
    let (mut batch, mut found) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        ring.timeout(Duration::from_millis(50), Token::global(Kind::Timer));
        ring.submit_and_wait().unwrap();
        ring.drain(&mut batch);
        found.extend(batch.drain(..).filter(|c| c.token.kind == kind));
        if enough(&found) {
            return found;
        }
    }
    panic!("{kind:?} completions did not arrive within 5 s");
}

fn wait_for<B: SendBuf>(ring: &mut Ring<B>, kind: Kind) -> Completion<B> {
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
        writer.as_raw_fd(),
        SendCursor::new(buf),
        Token::new(Kind::Send, 3, 1),
    );
    ring.timeout(Duration::from_millis(20), Token::global(Kind::Timer));
    ring.submit_and_wait().unwrap();
    drop(writer); // the connection closes while the send is in flight
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the kernel still owns the buffer"
    );
    drain_all(&mut reader);
    let done = wait_for(&mut ring, Kind::Send);
    assert_eq!(
        (done.result, done.token.slot),
        (1000, 3),
        "the token names the connection"
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
    ring.send(
        writer.as_raw_fd(),
        SendCursor::new(Counted(vec![1; 100], Arc::clone(&drops))),
        Token::new(Kind::Send, 0, 1),
    );
    ring.timeout(Duration::from_millis(10), Token::global(Kind::Timer));
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
    ring.recv_multi(local.as_raw_fd(), Token::new(Kind::Recv, 0, 1));
    peer.write_all(b"hello, ring").unwrap();
    let c = wait_for(&mut ring, Kind::Recv);
    assert!(c.more(), "multishot stays armed");
    let data = ring.checkout(c.buffer().unwrap(), c.result as usize);
    assert_eq!(&*data, b"hello, ring");
}

#[test]
fn more_data_than_buffers_ends_the_receive_with_enobufs() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    ring.register_buffers(0, 2, 16).unwrap();
    let (mut peer, local) = UnixStream::pair().unwrap();
    peer.write_all(&[b'x'; 100]).unwrap();
    ring.recv_multi(local.as_raw_fd(), Token::new(Kind::Recv, 0, 1));
    let found = collect(&mut ring, Kind::Recv, |f| f.iter().any(|c| !c.more()));
    let results: Vec<i32> = found.iter().map(|c| c.result).collect();
    assert_eq!(results, [16, 16, -libc::ENOBUFS], "two buffers, then none");
    for bid in found.iter().filter_map(Completion::buffer) {
        drop(ring.checkout(bid, 16));
    }
    ring.recv_multi(local.as_raw_fd(), Token::new(Kind::Recv, 0, 1));
    assert_eq!(
        wait_for(&mut ring, Kind::Recv).result,
        16,
        "re-armed once buffers returned"
    );
}

#[test]
fn timeouts_pushed_together_keep_their_own_durations() {
    let Some(mut ring) = ring::<Vec<u8>>() else {
        return;
    };
    ring.timeout(Duration::from_secs(5), Token::new(Kind::Timer, 1, 0));
    ring.timeout(Duration::from_millis(10), Token::new(Kind::Timer, 2, 0));
    let first = wait_for(&mut ring, Kind::Timer);
    assert_eq!(
        first.token.slot, 2,
        "the 10 ms timer fires first; the 5 s one was not shortened"
    );
    let mut batch = Vec::new();
    ring.timeout(Duration::from_millis(200), Token::new(Kind::Timer, 3, 0));
    while !batch
        .iter()
        .any(|c: &Completion<Vec<u8>>| c.token.slot == 3)
    {
        ring.submit_and_wait().unwrap();
        ring.drain(&mut batch);
    }
    assert!(
        !batch.iter().any(|c| c.token.slot == 1),
        "the 5 s timer is still pending"
    );
}
