//! The tokio floor: one current-thread runtime, a task per connection doing what a
//! hand-written tokio server does — one `read().await` into its buffer, then write the
//! canned answers. No parsing, no timeouts, no limits.

use greeter_floors::{Ends, answer, listen, port};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let listener = listen(port(), true);
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener.into()).expect("register the listener");
        loop {
            if let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream));
            }
        }
    });
}

async fn serve(mut stream: TcpStream) {
    let (mut buf, mut out, mut ends) = ([0u8; 4096], Vec::new(), Ends::default());
    while let Ok(n) = stream.read(&mut buf).await {
        if n == 0 {
            return;
        }
        answer(&mut out, ends.count(&buf[..n]));
        if stream.write_all(&out).await.is_err() {
            return;
        }
        out.clear();
    }
}
