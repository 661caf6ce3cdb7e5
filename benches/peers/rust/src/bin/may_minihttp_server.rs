//! may_minihttp (stackful coroutines on epoll), the Rust leader of TechEmpower's
//! plaintext test, with `--threads` workers.

use may_minihttp::{HttpServer, HttpService, Request, Response};

#[derive(Clone)]
struct Hello;

impl HttpService for Hello {
    fn call(&mut self, _request: Request, response: &mut Response) -> std::io::Result<()> {
        response.header("Content-Type: text/plain; charset=utf-8");
        response.body(greeter_peers::GREETING);
        Ok(())
    }
}

fn main() {
    let (port, threads) = greeter_peers::args();
    may::config().set_workers(threads).set_stack_size(0x4000);
    let server = HttpServer(Hello).start(("127.0.0.1", port)).expect("bind");
    server.wait();
}
