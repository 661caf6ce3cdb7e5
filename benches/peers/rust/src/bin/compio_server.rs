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
        if matches!(read, Ok(0) | Err(_)) {
            return;
        }
        let answers = greeter_peers::answers(&mut pending, &buf);
        buf.clear();
        if !answers.is_empty() && stream.write_all(answers).await.0.is_err() {
            return;
        }
    }
}

fn main() {
    let (port, threads) = greeter_peers::args();
    greeter_peers::on_threads(port, threads, run);
}

/// One thread's runtime, accepting on its own SO_REUSEPORT listener.
fn run(port: u16) {
    compio::runtime::Runtime::new()
        .expect("a runtime")
        .block_on(async move {
            let listener = TcpListener::from_std(greeter_peers::reuseport_listener(port))
                .expect("a compio listener");
            loop {
                if let Ok((stream, _)) = listener.accept().await {
                    compio::runtime::spawn(serve(stream)).detach();
                }
            }
        })
}
