//! The guide's Example 1, a hello world HTTP server, on `weft::http::serve`.
//!
//! `cargo run --example http_server` serves on 127.0.0.1:8080 (or a free port if that one is
//! taken), asks itself once with a plain TCP client, prints the answer and shuts down
//! gracefully, so it exits by itself. `cargo run --example http_server -- --serve` keeps
//! serving until Ctrl-C: try `curl -i http://127.0.0.1:8080/`.

use std::io;
use std::sync::Arc;
use weft::http::{Body, Request, Response};
use weft::io::{read_to_string, write_all};
use weft::net::{TcpListener, TcpStream};
use weft::sync::Event;

/// One request, as the simplest client: write it, read until the server closes.
async fn client(addr: std::net::SocketAddr) -> io::Result<String> {
    let mut conn = TcpStream::connect(addr).await?;
    write_all(
        &mut conn,
        "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
    )
    .await?;
    read_to_string(&mut conn).await
}

#[weft::main]
async fn main() -> io::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let listener =
        TcpListener::bind("127.0.0.1:8080").or_else(|_| TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    println!("Server listening on port {}", addr.port());

    // The shutdown signal: Ctrl-C, or the client part below when it is done.
    let stop = Arc::new(Event::new());
    let shutdown_signal = {
        let stop = stop.clone();
        async move {
            weft::select! {
                _ = stop.wait() => {},
                _ = weft::signal::ctrl_c() => {},
            }
        }
    };

    if !serve_forever {
        let stop = stop.clone();
        weft::spawn(async move {
            match client(addr).await {
                Ok(reply) => println!("client got:\n{reply}"),
                Err(e) => println!("client failed: {e}"),
            }
            stop.set();
        });
    }

    weft::http::serve(listener, |_req: Request<Body>| async move {
        Response::new(Body::from("Hello, World!"))
    })
    .with_graceful_shutdown(shutdown_signal)
    .await?;
    println!("Server stopped");
    Ok(())
}
