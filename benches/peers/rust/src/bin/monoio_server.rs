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

/// One thread's io_uring runtime, accepting on its own SO_REUSEPORT listener.
fn run(port: u16) {
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
}
