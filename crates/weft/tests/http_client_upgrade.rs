//! Upgrades in `weft::http::Client`: a `101 Switching Protocols` (or a `2xx` to `CONNECT`)
//! hands the connection over through `Response::upgrade` / `upgrade::on`, with the bytes the
//! server sent after its head first; a declined upgrade fails clearly; an upgraded
//! connection never goes back to the pool; an upgrade over HTTP/2 is refused.
//!
//! Servers are weft's (and one raw `std` one); every wait is bounded by [`DEADLINE`].

#![cfg(feature = "http")]

mod common;

use common::{Server, DEADLINE};
use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use weft::http::upgrade::{self, Upgraded};
use weft::http::{
    header, Body, Client, ConnectInfo, HeaderValue, Method, Request, Response, StatusCode,
};
use weft::io::{AsyncReadExt, AsyncWriteExt};

async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    weft::timeout(fut, DEADLINE).await.expect("did not hang")
}

/// Echoes what comes on an upgraded connection, after a greeting, until the client closes.
async fn echo(on_upgrade: upgrade::OnUpgrade) {
    let Ok(mut conn) = on_upgrade.await else {
        return;
    };
    if conn.write_all(b"hello from the server|").await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    for _ in 0..10_000 {
        match conn.read(&mut buf).await {
            Ok(0) => {
                // Closed cleanly (a TLS stream sends its close_notify).
                let _ = conn.close().await;
                return;
            }
            Err(_) => return,
            Ok(n) => {
                if conn.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// `/echo` with `Upgrade: echo` switches to [`echo`]; `CONNECT` opens an echo tunnel;
/// anything else answers 200 `plain`. The remote address of every request goes into `peers`.
fn start(
    configure: impl FnOnce(weft::http::Serve<common::Handler>) -> weft::http::Serve<common::Handler>,
) -> (Server, Arc<Mutex<Vec<SocketAddr>>>) {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    let server = Server::with(
        |s| configure(s.with_connect_info()),
        move |mut req: Request<Body>| {
            let seen = seen.clone();
            async move {
                let peer = req.extensions().get::<ConnectInfo>().unwrap().remote_addr();
                seen.lock().unwrap().push(peer);
                let on_upgrade = upgrade::on(&mut req);
                if req.method() == Method::CONNECT {
                    weft::spawn(echo(on_upgrade));
                    return Response::new(Body::empty());
                }
                let asks = req
                    .headers()
                    .get(header::UPGRADE)
                    .is_some_and(|v| v == "echo");
                if req.uri().path() == "/echo" && asks {
                    weft::spawn(echo(on_upgrade));
                    let mut res = Response::new(Body::empty());
                    *res.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
                    let headers = res.headers_mut();
                    headers.insert(header::UPGRADE, HeaderValue::from_static("echo"));
                    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
                    return res;
                }
                Response::new(Body::from("plain"))
            }
        },
    );
    (server, peers)
}

/// Reads exactly `n` bytes from an upgraded connection.
async fn read_n(conn: &mut Upgraded, n: usize) -> String {
    let mut buf = vec![0; n];
    bounded(conn.read_exact(&mut buf)).await.unwrap();
    String::from_utf8(buf).unwrap()
}

/// Bytes both ways on an upgraded echo connection, then the server's close after ours.
async fn echo_round(conn: &mut Upgraded) {
    for msg in ["ping", "a longer message"] {
        bounded(conn.write_all(msg.as_bytes())).await.unwrap();
        assert_eq!(read_n(conn, msg.len()).await, msg);
    }
    bounded(conn.close()).await.unwrap();
    let mut rest = Vec::new();
    bounded(conn.read_to_end(&mut rest)).await.unwrap();
    assert_eq!(rest, b"");
}

fn asking(client: &Client, url: &str) -> weft::http::RequestBuilder {
    client
        .get(url)
        .header("connection", "upgrade")
        .header("upgrade", "echo")
}

#[weft::test]
async fn a_101_hands_the_connection_over_with_the_servers_early_bytes_first() {
    let (server, _) = start(|s| s);
    let client = Client::new();
    let url = format!("http://{}/echo", server.addr);
    let response = bounded(asking(&client, &url).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["upgrade"], "echo");
    let mut conn = bounded(response.upgrade()).await.unwrap();
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    echo_round(&mut conn).await;
}

#[weft::test]
async fn upgrade_on_a_response_is_the_same_as_its_upgrade_method() {
    let (server, _) = start(|s| s);
    let client = Client::new();
    let url = format!("http://{}/echo", server.addr);
    let mut response = bounded(asking(&client, &url).send()).await.unwrap();
    let mut conn = bounded(upgrade::on(&mut response)).await.unwrap();
    // Taken once: a second take fails.
    assert!(bounded(upgrade::on(&mut response)).await.is_err());
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    echo_round(&mut conn).await;
    // And through the `http` crate's response, as hyper users write it.
    let response = bounded(asking(&client, &url).send()).await.unwrap();
    let mut res = response.into_http();
    let mut conn = bounded(upgrade::on(&mut res)).await.unwrap();
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    echo_round(&mut conn).await;
}

#[weft::test]
async fn a_2xx_to_connect_is_a_tunnel() {
    let (server, _) = start(|s| s);
    let client = Client::new();
    let url = format!("http://{}", server.addr);
    let response = bounded(client.request(Method::CONNECT, &url).send())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mut conn = bounded(response.upgrade()).await.unwrap();
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    echo_round(&mut conn).await;
}

#[weft::test]
async fn a_declined_upgrade_is_an_ordinary_response_and_the_upgrade_fails() {
    let (server, _) = start(|s| s);
    let client = Client::new();
    // The server answers 200: the body is there to read, and the upgrade fails.
    let url = format!("http://{}/decline", server.addr);
    let mut response = bounded(asking(&client, &url).send()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let err = bounded(upgrade::on(&mut response)).await.unwrap_err();
    assert!(
        err.to_string().contains("did not switch protocols"),
        "{err}"
    );
    assert_eq!(bounded(response.text()).await.unwrap(), "plain");
    let response = bounded(client.get(&url).send()).await.unwrap();
    let err = bounded(response.upgrade()).await.unwrap_err();
    assert!(err.to_string().contains("200 OK"), "{err}");
}

#[weft::test]
async fn an_upgraded_connection_never_goes_back_to_the_pool() {
    let (server, peers) = start(|s| s);
    let client = Client::new();
    let plain = format!("http://{}/plain", server.addr);
    let echo = format!("http://{}/echo", server.addr);
    // A pooled connection, taken by the upgrade request.
    let first = bounded(client.get(&plain).send()).await.unwrap();
    assert_eq!(bounded(first.text()).await.unwrap(), "plain");
    let response = bounded(asking(&client, &echo).send()).await.unwrap();
    let mut conn = bounded(response.upgrade()).await.unwrap();
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    // While the upgraded connection is open, and after it closed, requests go on another.
    for _ in 0..2 {
        let res = bounded(client.get(&plain).send()).await.unwrap();
        assert_eq!(bounded(res.text()).await.unwrap(), "plain");
    }
    echo_round(&mut conn).await;
    let res = bounded(client.get(&plain).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "plain");
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 5);
    // The upgrade request reused the first connection; the later ones share a second one.
    assert_eq!(peers[0], peers[1], "{peers:?}");
    assert_ne!(peers[1], peers[2], "{peers:?}");
    assert_eq!(peers[2], peers[3], "{peers:?}");
    assert_eq!(peers[3], peers[4], "{peers:?}");
    assert_eq!(peers.iter().collect::<HashSet<_>>().len(), 2, "{peers:?}");
}

#[weft::test]
async fn the_bytes_sent_with_the_101_head_come_first() {
    // A raw server: the 101 head and the new protocol's first bytes in one write, so the
    // client reads them together and must hand the early ones to the upgraded stream.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
            conn.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        conn.write_all(
            b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: raw\r\n\r\nearly|",
        )
        .unwrap();
        let mut got = [0u8; 4];
        conn.read_exact(&mut got).unwrap();
        conn.write_all(&got).unwrap();
        String::from_utf8(head).unwrap()
    });
    let client = Client::new();
    let response = bounded(
        client
            .get(format!("http://{addr}/"))
            .header("connection", "upgrade")
            .header("upgrade", "raw")
            .send(),
    )
    .await
    .unwrap();
    let mut conn = bounded(response.upgrade()).await.unwrap();
    assert_eq!(read_n(&mut conn, 6).await, "early|");
    bounded(conn.write_all(b"back")).await.unwrap();
    assert_eq!(read_n(&mut conn, 4).await, "back");
    let head = weft::spawn_blocking(move || server.join().unwrap()).await;
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nupgrade: raw\r\n"), "{head}");
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
}

#[weft::test]
async fn an_upgrade_over_http2_is_refused() {
    let (server, peers) = start(|s| s);
    let client = Client::builder().http2_prior_knowledge().build().unwrap();
    let url = format!("http://{}/echo", server.addr);
    let err = bounded(asking(&client, &url).send()).await.unwrap_err();
    assert!(err.is_builder(), "{err}");
    assert!(err.to_string().contains("HTTP/1.1 only"), "{err}");
    let err = bounded(client.request(Method::CONNECT, &url).send())
        .await
        .unwrap_err();
    assert!(err.is_builder(), "{err}");
    // Nothing was sent; an ordinary request on the same client works.
    assert!(peers.lock().unwrap().is_empty());
    let res = bounded(client.get(&url).send()).await.unwrap();
    assert_eq!(res.version(), weft::http::Version::HTTP_2);
    let err = bounded(res.upgrade()).await.unwrap_err();
    assert!(err.to_string().contains("HTTP/1.1 only"), "{err}");
}

#[cfg(feature = "tls")]
#[weft::test]
async fn an_upgrade_over_tls() {
    let (config, cert) = common::tls_config();
    let (server, _) = start(|s| s.tls(Arc::new(config)));
    let client = Client::builder()
        .add_root_certificate(&cert)
        .http1_only()
        .build()
        .unwrap();
    let url = format!("https://localhost:{}/echo", server.addr.port());
    let response = bounded(asking(&client, &url).send()).await.unwrap();
    let mut conn = bounded(response.upgrade()).await.unwrap();
    assert_eq!(read_n(&mut conn, 22).await, "hello from the server|");
    echo_round(&mut conn).await;
}
