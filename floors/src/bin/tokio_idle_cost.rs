//! What tokio itself costs per idle connection, with no buffer and no state: the resident
//! memory a current-thread runtime adds per accepted connection that is only registered
//! (`registered`), or also has a task waiting for it to become readable (`task`).
//! `cargo run --release --manifest-path floors/Cargo.toml --bin tokio_idle_cost -- 8000`
//! The yardstick for greeter tokio's memory per idle connection.

use std::net::TcpStream as StdStream;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

fn main() {
    let count: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(8000);
    for mode in ["registered", "task"] {
        println!(
            "{mode}: {} B per idle connection ({count})",
            measure(mode, count)
        );
    }
}

fn measure(mode: &'static str, count: usize) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .expect("a runtime");
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("an address");
        let clients = std::thread::spawn(move || {
            let held: Vec<StdStream> = (0..count)
                .map(|_| StdStream::connect(addr).expect("connect"))
                .collect();
            std::thread::sleep(Duration::from_secs(2));
            drop(held);
        });
        let mut kept = Vec::new();
        let before = rss();
        for _ in 0..count {
            let (stream, _) = listener.accept().await.expect("accept");
            match mode {
                "registered" => kept.push(stream),
                _ => drop(tokio::task::spawn_local(wait(stream))),
            }
        }
        tokio::task::yield_now().await;
        let after = rss();
        clients.join().expect("the clients");
        (after - before) / count as u64
    })
}

/// A task that holds its connection and waits for input, nothing else.
async fn wait(stream: TcpStream) {
    while stream.readable().await.is_ok() {
        let mut byte = [0u8; 1];
        match stream.try_read(&mut byte) {
            Ok(0) => return,
            Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => return,
            _ => {}
        }
    }
}

fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .expect("VmRSS");
    kib * 1024
}
