//! monoio (io_uring, thread-per-core, one per `--threads`): its HTTP crates are not meant
//! for servers, so a minimal responder like greeter's floors.

use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

async fn serve(mut stream: TcpStream) {
    let mut pending = Vec::new();
    let mut buf = Vec::with_capacity(4096);
    loop {
        let (read, back) = stream.read(buf).await;
        buf = back;
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => pending.extend_from_slice(&buf),
        }
        buf.clear();
        let (count, end) = greeter_peers::complete_heads(&pending);
        pending.drain(..end);
        if count > 0 {
            let (written, _) = stream.write_all(greeter_peers::ANSWER.repeat(count)).await;
            if written.is_err() {
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
                let mut runtime = monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
                    .with_entries(4096)
                    .enable_timer()
                    .build()
                    .expect("an io_uring runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(greeter_peers::reuseport_listener(port))
                        .expect("a monoio listener");
                    loop {
                        if let Ok((stream, _)) = listener.accept().await {
                            monoio::spawn(serve(stream));
                        }
                    }
                })
            })
        })
        .collect();
    workers.into_iter().for_each(|w| drop(w.join()));
}
