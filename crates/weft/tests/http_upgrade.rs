//! HTTP/1.1 upgrades on `weft::http::serve`: a `101 Switching Protocols` (or a `2xx` to
//! `CONNECT`) hands the raw connection to the handler's task through
//! `weft::http::upgrade::on`, with the bytes already read past the request first; any other
//! answer leaves the connection HTTP; graceful shutdown leaves upgraded connections alone.
//!
//! Every client is a `std` socket with read and write timeouts; every loop is bounded.

#![cfg(feature = "http")]

mod common;

use common::{connect, kept_alive, read_head, read_reply, status_of, Server, DEADLINE};
use std::io::{BufReader, Read, Write};
use std::net::Shutdown;
use weft::http::{header, upgrade, Body, HeaderValue, Method, Request, Response, StatusCode};
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::Channel;

/// Echoes what comes on an upgraded connection, after a line with the request's body in
/// brackets, until the client closes.
async fn echo(on_upgrade: upgrade::OnUpgrade, body: String) {
    let Ok(mut conn) = on_upgrade.await else {
        return;
    };
    if conn
        .write_all(format!("[{body}]").as_bytes())
        .await
        .is_err()
    {
        return;
    }
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `/echo` with `Upgrade: echo` switches to [`echo`]; `CONNECT` opens an echo tunnel;
/// `/decline` answers 200 and reports on `outcomes` whether its upgrade failed; `/rogue`
/// answers 101 whatever was asked.
fn start(outcomes: Channel<bool>) -> Server {
    start_with(|s| s, outcomes)
}

fn start_with(
    configure: impl FnOnce(weft::http::Serve<common::Handler>) -> weft::http::Serve<common::Handler>,
    outcomes: Channel<bool>,
) -> Server {
    Server::with(configure, move |mut req: Request<Body>| {
        let outcomes = outcomes.clone();
        async move {
            let on_upgrade = upgrade::on(&mut req);
            let body = std::mem::take(req.body_mut()).text().await.unwrap();
            if req.method() == Method::CONNECT {
                weft::spawn(echo(on_upgrade, body));
                return Response::new(Body::empty());
            }
            match req.uri().path() {
                "/echo"
                    if req
                        .headers()
                        .get(header::UPGRADE)
                        .is_some_and(|v| v == "echo") =>
                {
                    weft::spawn(echo(on_upgrade, body));
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    let headers = res.headers_mut();
                    headers.insert(header::UPGRADE, HeaderValue::from_static("echo"));
                    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                    res
                }
                "/rogue" => {
                    let mut res = Response::new(Body::from("ignored"));
                    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    res
                }
                _ => {
                    weft::spawn(async move {
                        let _ = outcomes.send(on_upgrade.await.is_err()).await;
                    });
                    Response::new(Body::from("declined"))
                }
            }
        }
    })
}

const UPGRADE: &str =
    "GET /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n";

/// Reads exactly `n` bytes.
fn read_n(r: &mut impl Read, n: usize) -> String {
    let mut buf = vec![0; n];
    r.read_exact(&mut buf).unwrap();
    String::from_utf8(buf).unwrap()
}

/// The client's side of an upgraded echo connection: sends `more`, reads it back, then
/// closes its side and sees the server's close.
fn echo_round(reader: &mut BufReader<std::net::TcpStream>, writer: &mut std::net::TcpStream) {
    writer.write_all(b"later").unwrap();
    assert_eq!(read_n(reader, 5), "later");
    writer.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, b"");
}

#[test]
fn a_101_hands_over_the_connection_with_the_bytes_read_past_the_request() {
    let server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    // The head and the first bytes of the new protocol in one write: the server reads them
    // together, and must give the early bytes to the upgraded stream, not parse them.
    writer
        .write_all(format!("{UPGRADE}early bytes|").as_bytes())
        .unwrap();
    let head = read_head(&mut reader);
    assert!(
        head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
        "{head}"
    );
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: echo\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(!lower.contains("content-length"), "{head}");
    assert!(!lower.contains("transfer-encoding"), "{head}");
    assert_eq!(read_n(&mut reader, 14), "[]early bytes|");
    echo_round(&mut reader, &mut writer);
}

#[test]
fn an_upgrade_request_with_a_body_gets_its_body_and_then_the_connection() {
    let server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\nContent-Length: 4\r\n\r\nbodyAFTER",
        )
        .unwrap();
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert_eq!(read_n(&mut reader, 11), "[body]AFTER");
    echo_round(&mut reader, &mut writer);
}

#[test]
fn expect_100_continue_on_an_upgrade_gets_100_before_the_101() {
    let server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(b"GET /echo HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    assert_eq!(read_head(&mut reader), "HTTP/1.1 100 Continue\r\n\r\n");
    assert!(read_head(&mut reader).starts_with("HTTP/1.1 101 "));
    assert_eq!(read_n(&mut reader, 2), "[]");
    echo_round(&mut reader, &mut writer);
}

#[test]
fn a_declined_upgrade_leaves_the_connection_http() {
    let outcomes = Channel::with_capacity(8);
    let server = start(outcomes.clone());
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(
            b"GET /decline HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n",
        )
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, &reply.body[..]), (200, &b"declined"[..]));
    // The handler's task learns there is no upgrade.
    let failed = weft::block_on(weft::timeout(outcomes.recv(), DEADLINE)).unwrap();
    assert_eq!(failed, Some(true));
    // A request that did not ask to upgrade has nothing to wait for either.
    writer
        .write_all(b"GET /decline HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 200);
    let failed = weft::block_on(weft::timeout(outcomes.recv(), DEADLINE)).unwrap();
    assert_eq!(failed, Some(true));
}

#[test]
fn a_101_without_an_upgrade_request_is_a_500() {
    let server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(b"GET /rogue HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 500);
    // HTTP/1.0 has no Upgrade: the field is ignored (RFC 9110 section 7.8).
    let mut conn = connect(server.addr);
    conn.write_all(b"GET /rogue HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .unwrap();
    let reply = common::read_to_close(&mut conn);
    assert_eq!(status_of(&reply), 500, "{reply}");
}

#[test]
fn a_2xx_to_connect_is_a_tunnel() {
    let server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\nhello")
        .unwrap();
    let head = read_head(&mut reader);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(!lower.contains("content-length"), "{head}");
    assert!(!lower.contains("transfer-encoding"), "{head}");
    assert_eq!(read_n(&mut reader, 7), "[]hello");
    echo_round(&mut reader, &mut writer);
}

#[test]
fn graceful_shutdown_leaves_an_upgraded_connection_alone() {
    let mut server = start(Channel::with_capacity(8));
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer.write_all(UPGRADE.as_bytes()).unwrap();
    assert!(read_head(&mut reader).starts_with("HTTP/1.1 101 "));
    assert_eq!(read_n(&mut reader, 2), "[]");
    // The server returns without waiting for it, and it still works afterwards.
    server.shutdown().unwrap();
    echo_round(&mut reader, &mut writer);
}

#[cfg(feature = "tls")]
#[test]
fn an_upgrade_over_tls() {
    use std::sync::Arc;
    use weft::http::rustls::{self, pki_types};
    let (config, cert) = common::tls_config();
    let server = start_with(|s| s.tls(Arc::new(config)), Channel::with_capacity(8));
    let client = common::tls_client_config(cert, &[b"http/1.1"]);
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(Arc::new(client), name).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, connect(server.addr));
    tls.write_all(format!("{UPGRADE}early").as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..100 {
        let n = tls.read(&mut buf).unwrap();
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        if got.ends_with(b"[]early") {
            break;
        }
    }
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("HTTP/1.1 101 "), "{got}");
    assert!(got.ends_with("\r\n\r\n[]early"), "{got}");
    tls.write_all(b"over tls").unwrap();
    let mut back = [0u8; 8];
    tls.read_exact(&mut back).unwrap();
    assert_eq!(&back, b"over tls");
}
