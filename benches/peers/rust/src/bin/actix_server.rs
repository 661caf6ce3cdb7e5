//! actix-web 4 with `--threads` workers.

use actix_web::{App, HttpResponse, HttpServer, http::header, web};

async fn hello() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::SERVER, "actix-web"))
        .content_type("text/plain; charset=utf-8")
        .body(greeter_peers::GREETING)
}

fn main() -> std::io::Result<()> {
    let (port, threads) = greeter_peers::args();
    actix_web::rt::System::new().block_on(async move {
        HttpServer::new(|| App::new().route("/", web::get().to(hello)))
            .workers(threads)
            .backlog(4096)
            .max_connections(100_000)
            .bind(("127.0.0.1", port))?
            .run()
            .await
    })
}
