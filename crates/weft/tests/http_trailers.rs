//! HTTP/1.1 trailer fields: received after a chunked body (a request's on the server, a
//! response's in the client, after the body's end), checked and filtered (RFC 9110 section
//! 6.5.1), and sent after the last chunk (by the client always, by the server when the
//! request's `TE` lists `trailers`).
//!
//! Raw clients are `std` sockets with timeouts; every wait is bounded by [`DEADLINE`].

#![cfg(feature = "http")]

mod common;

use common::{kept_alive, read_head, read_reply, Server, DEADLINE};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use weft::http::{header, Body, Client, ConnectInfo, HeaderMap, HeaderValue, Request, Response};

async fn bounded<F: std::future::Future>(fut: F) -> F::Output {
    weft::timeout(fut, DEADLINE).await.expect("did not hang")
}

/// The length of `/big-memory` and `/big-stream`: past every HTTP/2 window's start (the
/// default 64 KiB, weft's 1 MiB stream windows).
const BIG: usize = 3 << 20;

fn checksum_trailers(value: &'static str) -> HeaderMap {
    let mut t = HeaderMap::new();
    t.insert("x-checksum", HeaderValue::from_static(value));
    // Never a trailer: dropped on the way out.
    t.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    t
}

/// `/echo-trailers` answers with the request's trailers (`name=value;` each, sorted) and
/// its `Trailer` field; `/known` answers `hello` with known trailers; `/later` streams
/// `a`, `b` and trailers produced after them; `/big-memory` and `/big-stream` are [`BIG`]
/// bytes with trailers (known, and produced after the stream); `/plain` answers `plain`. Every request's remote
/// address goes into `peers`.
fn start() -> (Server, Arc<Mutex<Vec<SocketAddr>>>) {
    let peers = Arc::new(Mutex::new(Vec::new()));
    let seen = peers.clone();
    let server = Server::with(
        |s| s.with_connect_info(),
        move |req: Request<Body>| {
            let seen = seen.clone();
            async move {
                let peer = req.extensions().get::<ConnectInfo>().unwrap().remote_addr();
                seen.lock().unwrap().push(peer);
                match req.uri().path() {
                    "/echo-trailers" => {
                        let announced = req
                            .headers()
                            .get(header::TRAILER)
                            .map(|v| v.to_str().unwrap().to_owned())
                            .unwrap_or_default();
                        let body = req.into_body();
                        let mut fields: Vec<String> = body
                            .trailers()
                            .map(|t| {
                                t.iter()
                                    .map(|(n, v)| format!("{n}={};", v.to_str().unwrap()))
                                    .collect()
                            })
                            .unwrap_or_default();
                        fields.sort();
                        let bytes = body.bytes().await.unwrap();
                        Response::new(Body::from(format!(
                            "{}|{}|{announced}",
                            String::from_utf8_lossy(&bytes),
                            fields.concat()
                        )))
                    }
                    "/known" => {
                        Response::new(Body::from("hello").with_trailers(checksum_trailers("k1")))
                    }
                    "/later" => {
                        let chunks =
                            futures_lite::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
                        let body = Body::from_stream(chunks).with_trailers_from(async {
                            weft::sleep(std::time::Duration::from_millis(5)).await;
                            Some(checksum_trailers("l2"))
                        });
                        let mut res = Response::new(body);
                        res.headers_mut()
                            .insert(header::TRAILER, HeaderValue::from_static("x-checksum"));
                        res
                    }
                    "/big-memory" => Response::new(
                        Body::from(vec![b'm'; BIG]).with_trailers(checksum_trailers("bm")),
                    ),
                    "/big-stream" => {
                        let chunks = futures_lite::stream::iter(
                            (0..BIG / 65536).map(|_| Ok::<_, std::io::Error>(vec![b's'; 65536])),
                        );
                        Response::new(Body::from_stream(chunks).with_trailers_from(async {
                            weft::sleep(std::time::Duration::from_millis(5)).await;
                            Some(checksum_trailers("bs"))
                        }))
                    }
                    _ => Response::new(Body::from("plain")),
                }
            }
        },
    );
    (server, peers)
}

/// A chunked body read from `r`: its data, and its trailer section as it came.
fn read_chunked(r: &mut BufReader<TcpStream>) -> (Vec<u8>, String) {
    let mut body = Vec::new();
    for _ in 0..1000 {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let n = usize::from_str_radix(line.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        let mut chunk = vec![0; n + 2];
        r.read_exact(&mut chunk).unwrap();
        body.extend_from_slice(&chunk[..n]);
    }
    let mut trailers = String::new();
    for _ in 0..200 {
        let before = trailers.len();
        r.read_line(&mut trailers).unwrap();
        assert!(
            trailers.len() > before,
            "closed in the trailers: {trailers:?}"
        );
        if trailers.ends_with("\r\n") && trailers[before..] == *"\r\n" {
            break;
        }
    }
    (body, trailers)
}

#[test]
fn a_chunked_requests_trailers_reach_the_handler_filtered() {
    let (server, _) = start();
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(
            b"POST /echo-trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\
              Trailer: x-checksum\r\n\r\n5\r\nhello\r\n0\r\nX-Checksum: abc\r\nX-Two: 1\r\n\
              Content-Length: 5\r\nAuthorization: secret\r\nHost: elsewhere\r\n\r\n",
        )
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!(reply.status, 200);
    assert_eq!(
        String::from_utf8(reply.body).unwrap(),
        "hello|x-checksum=abc;x-two=1;|x-checksum"
    );
    // The connection goes on; a request without trailers has none.
    writer
        .write_all(b"POST /echo-trailers HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi")
        .unwrap();
    assert_eq!(read_reply(&mut reader).body, b"hi||");
}

#[test]
fn malformed_request_trailers_are_a_400() {
    let (server, _) = start();
    for bad in [
        &b"X-A : 1\r\n\r\n"[..],
        b"no colon\r\n\r\n",
        b"X-A: 1\r\n folded\r\n\r\n",
        b"X-A: \x01\r\n\r\n",
    ] {
        let mut raw =
            b"POST /echo-trailers HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n"
                .to_vec();
        raw.extend_from_slice(bad);
        let reply = common::exchange(server.addr, &raw);
        assert_eq!(common::status_of(&reply), 400, "{reply}");
    }
}

#[test]
fn the_server_sends_trailers_when_the_request_says_te_trailers() {
    let (server, _) = start();
    let (mut reader, mut writer) = kept_alive(server.addr);
    writer
        .write_all(b"GET /known HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader).to_ascii_lowercase();
    assert!(
        head.contains("\r\ntransfer-encoding: chunked\r\n"),
        "{head}"
    );
    assert!(!head.contains("content-length"), "{head}");
    assert!(head.contains("\r\ntrailer: x-checksum\r\n"), "{head}");
    let (body, trailers) = read_chunked(&mut reader);
    assert_eq!(body, b"hello");
    assert_eq!(trailers, "x-checksum: k1\r\n\r\n");
    // Produced after the stream: the handler's own `Trailer` field goes as it is.
    writer
        .write_all(b"GET /later HTTP/1.1\r\nHost: t\r\nTE: trailers\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader).to_ascii_lowercase();
    assert!(head.contains("\r\ntrailer: x-checksum\r\n"), "{head}");
    let (body, trailers) = read_chunked(&mut reader);
    assert_eq!(body, b"ab");
    assert_eq!(trailers, "x-checksum: l2\r\n\r\n");
    // Without `TE: trailers`: none, and a body of known length keeps its Content-Length.
    writer
        .write_all(b"GET /known HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let reply = read_reply(&mut reader);
    let head = reply.head.to_ascii_lowercase();
    assert!(head.contains("\r\ncontent-length: 5\r\n"), "{head}");
    assert!(!head.contains("trailer"), "{head}");
    assert_eq!(reply.body, b"hello");
    writer
        .write_all(b"GET /later HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let head = read_head(&mut reader);
    let (body, trailers) = read_chunked(&mut reader);
    assert_eq!((&body[..], &trailers[..]), (&b"ab"[..], "\r\n"), "{head}");
    // The connection is still in step.
    writer
        .write_all(b"GET /plain HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).body, b"plain");
}

#[weft::test]
async fn the_client_sends_request_trailers() {
    let (server, _) = start();
    let client = Client::new();
    let url = format!("http://{}/echo-trailers", server.addr);
    // Known up front: the body goes chunked, with a `Trailer` field naming them.
    let body = Body::from("hello").with_trailers(checksum_trailers("c1"));
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(
        bounded(res.text()).await.unwrap(),
        "hello|x-checksum=c1;|x-checksum"
    );
    // Produced once the stream has ended.
    let (tx, rx) = weft::sync::oneshot::channel::<HeaderMap>();
    let chunks = futures_lite::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
    let body = Body::from_stream(chunks).with_trailers_from(async move { rx.await.ok() });
    tx.send(checksum_trailers("c2")).unwrap();
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "ab|x-checksum=c2;|");
    // A body in memory larger than one write, with trailers.
    let big = "z".repeat(100_000);
    let body = Body::from(big.clone()).with_trailers(checksum_trailers("c3"));
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(
        bounded(res.text()).await.unwrap(),
        format!("{big}|x-checksum=c3;|x-checksum")
    );
}

#[weft::test]
async fn the_client_reads_response_trailers_at_the_bodys_end() {
    let (server, peers) = start();
    let client = Client::new();
    let known = format!("http://{}/known", server.addr);
    let later = format!("http://{}/later", server.addr);
    let mut res = bounded(client.get(&known).header("te", "trailers").send())
        .await
        .unwrap();
    assert!(res.trailers().is_none(), "not before the body's end");
    let mut body = Vec::new();
    for _ in 0..100 {
        match bounded(res.chunk()).await {
            Some(chunk) => body.extend_from_slice(&chunk.unwrap()),
            None => break,
        }
    }
    assert_eq!(body, b"hello");
    let trailers = res.trailers().expect("trailers after the end");
    assert_eq!(trailers["x-checksum"], "k1");
    assert_eq!(trailers.len(), 1, "{trailers:?}");
    // In one go.
    let res = bounded(client.get(&later).header("te", "trailers").send())
        .await
        .unwrap();
    let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
    assert_eq!(bytes, "ab");
    assert_eq!(trailers.unwrap()["x-checksum"], "l2");
    // Without asking: none.
    let res = bounded(client.get(&known).send()).await.unwrap();
    let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
    assert_eq!((&bytes[..], trailers), (&b"hello"[..], None));
    // Every request went on the one pooled connection: trailers leave it in step.
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 3);
    assert!(peers.iter().all(|p| *p == peers[0]), "{peers:?}");
}

#[weft::test]
async fn malformed_response_trailers_are_a_body_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf).unwrap();
        conn.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\nX-A : 1\r\n\r\n",
        )
        .unwrap();
        let _ = conn.read(&mut buf);
    });
    let res = bounded(Client::new().get(format!("http://{addr}/")).send())
        .await
        .unwrap();
    let err = bounded(res.bytes()).await.unwrap_err();
    assert!(err.is_body(), "{err}");
    weft::spawn_blocking(move || server.join().unwrap()).await;
}

fn h2c() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

/// Reads `res` chunk by chunk to its end, checking that its trailers are not there before.
async fn read_to_end(res: &mut weft::http::client::Response) -> Vec<u8> {
    let mut body = Vec::new();
    for _ in 0..100_000 {
        assert!(res.trailers().is_none(), "not before the body's end");
        match bounded(res.chunk()).await {
            Some(chunk) => body.extend_from_slice(&chunk.unwrap()),
            None => return body,
        }
    }
    panic!("no end in 100,000 chunks");
}

#[weft::test]
async fn the_server_sends_trailers_over_http2_and_the_client_keeps_them() {
    let (server, peers) = start();
    let client = h2c();
    let url = |p: &str| format!("http://{}/{p}", server.addr);
    // Over HTTP/2 trailers go whether or not the request has `te: trailers`.
    let mut res = bounded(client.get(url("known")).send()).await.unwrap();
    assert_eq!(res.version(), weft::http::Version::HTTP_2);
    assert_eq!(read_to_end(&mut res).await, b"hello");
    let trailers = res.trailers().expect("trailers after the end");
    assert_eq!(trailers["x-checksum"], "k1");
    assert_eq!(
        trailers.len(),
        1,
        "content-type is no trailer: {trailers:?}"
    );
    // Produced after the stream's last chunk.
    let res = bounded(client.get(url("later")).send()).await.unwrap();
    let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
    assert_eq!(bytes, "ab");
    assert_eq!(trailers.unwrap()["x-checksum"], "l2");
    // Past the windows: the trailers come after every byte.
    for (path, byte, sum) in [("big-memory", b'm', "bm"), ("big-stream", b's', "bs")] {
        let mut res = bounded(client.get(url(path)).send()).await.unwrap();
        let body = read_to_end(&mut res).await;
        assert_eq!(body.len(), BIG, "{path}");
        assert!(body.iter().all(|&b| b == byte), "{path}");
        assert_eq!(res.trailers().unwrap()["x-checksum"], sum, "{path}");
    }
    // None: none.
    let res = bounded(client.get(url("plain")).send()).await.unwrap();
    let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
    assert_eq!((&bytes[..], trailers), (&b"plain"[..], None));
    let peers = peers.lock().unwrap().clone();
    assert_eq!(peers.len(), 5);
    assert!(
        peers.iter().all(|p| *p == peers[0]),
        "one connection: {peers:?}"
    );
}

#[weft::test]
async fn the_client_sends_request_trailers_over_http2() {
    let (server, _) = start();
    let client = h2c();
    let url = format!("http://{}/echo-trailers", server.addr);
    let body = Body::from("hello").with_trailers(checksum_trailers("c1"));
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(res.version(), weft::http::Version::HTTP_2);
    assert_eq!(bounded(res.text()).await.unwrap(), "hello|x-checksum=c1;|");
    // Produced once the stream has ended.
    let (tx, rx) = weft::sync::oneshot::channel::<HeaderMap>();
    let chunks = futures_lite::stream::iter(vec![Ok::<_, std::io::Error>("a"), Ok("b")]);
    let body = Body::from_stream(chunks).with_trailers_from(async move { rx.await.ok() });
    tx.send(checksum_trailers("c2")).unwrap();
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "ab|x-checksum=c2;|");
    // Larger than the server's stream window, in memory; and no body at all.
    let big = "z".repeat((1 << 20) + 100_000);
    let body = Body::from(big.clone()).with_trailers(checksum_trailers("c3"));
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(
        bounded(res.text()).await.unwrap(),
        format!("{big}|x-checksum=c3;|")
    );
    let body = Body::empty().with_trailers(checksum_trailers("c4"));
    let res = bounded(client.post(&url).body(body).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "|x-checksum=c4;|");
}

/// A body whose trailers never come holds only its own stream: the connection's other
/// streams go on.
#[weft::test]
async fn trailers_that_never_come_hold_only_their_stream() {
    let (server, _) = start();
    let client = h2c();
    let url = format!("http://{}/echo-trailers", server.addr);
    let (_tx, rx) = weft::sync::oneshot::channel::<HeaderMap>();
    let body = Body::from("stuck").with_trailers_from(async move { rx.await.ok() });
    let stuck = weft::spawn({
        let (client, url) = (client.clone(), url.clone());
        async move { client.post(&url).body(body).send().await }
    });
    for i in 0..5 {
        let body = Body::from(format!("n{i}")).with_trailers(checksum_trailers("ok"));
        let res = bounded(client.post(&url).body(body).send()).await.unwrap();
        assert_eq!(
            bounded(res.text()).await.unwrap(),
            format!("n{i}|x-checksum=ok;|")
        );
    }
    assert!(!stuck.is_finished(), "its request waits for its trailers");
}

/// A raw HTTP/2 client with the default 64 KiB windows: the trailers wait for the DATA
/// still held back by flow control, then end the stream.
#[test]
fn trailers_do_not_overtake_data_held_by_flow_control() {
    use common::h2::{Client as Raw, DATA, END_HEADERS, END_STREAM, HEADERS, WINDOW_UPDATE};
    let (server, _) = start();
    let mut c = Raw::connect(server.addr);
    c.get(1, "/big-memory");
    let mut data = 0usize;
    let mut opened = false;
    for _ in 0..10_000 {
        let f = c.read().expect("the stream's end");
        if f.stream != 1 {
            continue;
        }
        match f.kind {
            DATA => {
                data += f.payload.len();
                assert_eq!(f.flags & END_STREAM, 0, "END_STREAM went on DATA");
            }
            HEADERS if data == 0 => {}
            HEADERS => {
                assert_eq!(data, BIG, "the trailers came before all the DATA");
                assert_eq!(
                    f.flags & (END_STREAM | END_HEADERS),
                    END_STREAM | END_HEADERS
                );
                assert!(!f.payload.is_empty());
                assert!(f.payload[0] & 0x80 == 0, "no indexed (pseudo-)field first");
                return;
            }
            other => panic!("frame type {other} on the stream"),
        }
        if data == 65_535 && !opened {
            // The initial windows are spent: open them for the rest.
            opened = true;
            c.send(WINDOW_UPDATE, 0, 0, &(BIG as u32).to_be_bytes());
            c.send(WINDOW_UPDATE, 0, 1, &(BIG as u32).to_be_bytes());
        }
    }
    panic!("no trailers");
}

/// nghttp (nghttp2's client, packaged with h2load) as the outside peer: it prints the
/// trailers it receives and sends the ones it is given (curl 7.88's `-v` shows no HTTP/2
/// trailers).
#[test]
fn nghttp_gets_and_sends_http2_trailers() {
    let (server, _) = start();
    let nghttp = |args: &[&str]| std::process::Command::new("nghttp").args(args).output();
    let out = match nghttp(&["-v", "-t", "20", &format!("http://{}/known", server.addr)]) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            eprintln!("nghttp is not installed: not checked");
            return;
        }
        other => other.unwrap(),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let trailers = text.find("recv (stream_id=13) x-checksum: k1");
    let data = text.find("recv DATA frame");
    assert!(trailers.is_some() && data < trailers, "{text}");
    assert!(!text.contains("content-type"), "no trailer: {text}");
    // Request trailers: nghttp sends them after the data it posts.
    let dir = std::env::temp_dir().join(format!("weft-trailers-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("body");
    std::fs::write(&file, "posted").unwrap();
    let out = nghttp(&[
        "-t",
        "20",
        "-d",
        file.to_str().unwrap(),
        "--trailer",
        "x-checksum: n1",
        &format!("http://{}/echo-trailers", server.addr),
    ])
    .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "posted|x-checksum=n1;|x-checksum"
    );
}
