//! The guide's Example 1: a hand-written HTTP server on `TcpListener`, `read_to_string`,
//! `write_all` and `conn.close()`.
//!
//! `cargo run --example http_server` serves on 127.0.0.1:8080 (or the next free port) and, so
//! that it runs to the end on its own, also plays three clients and then stops;
//! `cargo run --example http_server -- --serve` keeps serving until interrupted. As in the
//! guide, the server reads the whole request with `read_to_string`, that is until the client
//! shuts down its side: `printf 'GET / HTTP/1.1\r\n\r\n' | nc -N 127.0.0.1 8080` does;
//! a browser or curl, which keep the connection open, would wait.

use std::io;
use weft::io::{read_to_string, write_all};
use weft::net::{TcpListener, TcpStream};
use weft::spawn;

async fn handle_client(mut conn: TcpStream) -> io::Result<()> {
    let _request = read_to_string(&mut conn).await?;

    let response = "HTTP/1.1 200 OK\r\n\r\nHello, World!";
    write_all(&mut conn, response).await?;

    conn.close().await
}

/// One request as a client that sends it and shuts down its write side.
async fn client(addr: std::net::SocketAddr) -> io::Result<String> {
    let mut conn = TcpStream::connect(&addr).await?;
    write_all(&mut conn, "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n").await?;
    conn.shutdown(std::net::Shutdown::Write)?;
    read_to_string(&mut conn).await
}

#[weft::main]
async fn main() -> io::Result<()> {
    let serve_forever = std::env::args().any(|a| a == "--serve");
    let listener =
        TcpListener::bind("127.0.0.1:8080").or_else(|_| TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    println!("Server listening on port {}", addr.port());

    if !serve_forever {
        spawn(async move {
            for _ in 0..3 {
                match client(addr).await {
                    Ok(reply) => println!("client got: {:?}", reply),
                    Err(e) => println!("client failed: {e}"),
                }
            }
        });
    }

    let mut served = 0;
    while serve_forever || served < 3 {
        let (conn, addr) = listener.accept().await?;
        println!("Connection from {addr}");
        spawn(handle_client(conn));
        served += 1;
    }
    // Give the last connection time to be answered before main returns.
    weft::sleep(std::time::Duration::from_millis(50)).await;
    Ok(())
}
