//! An HTTP/1.1 upgrade: the server answers `Upgrade: echo` with `101 Switching Protocols`
//! and then echoes raw bytes on the same connection (a WebSocket-like protocol without the
//! framing); the client, weft's, asks, switches (`Response::upgrade`) and talks.
//! `cargo run --example upgrade`.

use std::future::IntoFuture;
use std::io;
use std::sync::Arc;
use weft::http::{header, upgrade, Body, HeaderValue, Request, Response, StatusCode};
use weft::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use weft::net::TcpListener;
use weft::sync::Event;

async fn handle(mut req: Request<Body>) -> Response<Body> {
    let asks = req
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"echo"));
    if !asks {
        let mut res = Response::new(Body::from(
            "this server speaks echo: ask with Upgrade: echo\n",
        ));
        *res.status_mut() = StatusCode::UPGRADE_REQUIRED;
        res.headers_mut()
            .insert(header::UPGRADE, HeaderValue::from_static("echo"));
        return res;
    }
    // The connection is handed over once the 101 below is written: a task waits for it.
    let on_upgrade = upgrade::on(&mut req);
    weft::spawn(async move {
        let mut conn = match on_upgrade.await {
            Ok(conn) => conn,
            Err(e) => return eprintln!("server: no upgrade: {e}"),
        };
        let mut buf = [0u8; 1024];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if conn.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        println!("server: the upgraded connection closed");
    });
    let mut res = Response::new(Body::empty());
    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = res.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("echo"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    res
}

#[weft::main]
async fn main() -> io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let stop = Arc::new(Event::new());
    let signal = stop.clone();
    let server = weft::spawn(
        weft::http::serve(listener, handle)
            .with_graceful_shutdown(async move { signal.wait().await })
            .into_future(),
    );

    // The client asks to switch; the 101 hands it the connection.
    let response = weft::http::Client::new()
        .get(format!("http://{addr}/"))
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "echo")
        .send()
        .await
        .map_err(io::Error::other)?;
    println!("client: {} {:?}", response.status(), response.headers());
    let conn = response.upgrade().await.map_err(io::Error::other)?;
    let mut conn = BufReader::new(conn);
    for word in ["hello", "upgraded", "world"] {
        conn.get_mut()
            .write_all(format!("{word}\n").as_bytes())
            .await?;
        let mut echoed = String::new();
        conn.read_line(&mut echoed).await?;
        println!("client: echoed {}", echoed.trim_end());
    }
    conn.get_mut().close().await?;

    // The server stops without waiting for upgraded connections (they are no longer HTTP).
    stop.set();
    server.await
}
