//! compio (io_uring completion-based runtime, one thread per `--threads`): no HTTP server
//! layer fits, so a minimal responder like greeter's floors: each complete request head
//! gets the canned answer, pipelined ones in one write.

use compio::buf::BufResult;
use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};

async fn serve(mut stream: TcpStream) {
    let mut pending = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        let BufResult(read, back) = stream.read(buf).await;
        buf = back;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => pending.extend_from_slice(&buf),
        }
        buf.clear();
        let (count, end) = greeter_peers::complete_heads(&pending);
        pending.drain(..end);
        if count > 0 {
            let answers = greeter_peers::ANSWER.repeat(count);
            if stream.write_all(answers).await.0.is_err() {
                return;
            }
        }
    }
}

fn main() {
    let (port, threads) = greeter_peers::args();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                compio::runtime::Runtime::new().expect("a runtime").block_on(async move {
                    let listener = listen(port);
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            compio::runtime::spawn(serve(stream)).detach();
                        }
                    }
                })
            })
        })
        .collect();
    workers.into_iter().for_each(|w| drop(w.join()));
}

/// A listener on `port` with SO_REUSEPORT, one per thread.
fn listen(port: u16) -> TcpListener {
    TcpListener::from_std(greeter_peers::reuseport_listener(port)).expect("a compio listener")
}
