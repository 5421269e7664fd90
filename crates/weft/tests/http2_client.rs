//! `weft::http::Client` over HTTP/2: against weft's own server (prior knowledge, and TLS with
//! ALPN), through a counting TCP relay to see its connections, and against raw-frame servers
//! on `std` sockets for GOAWAY, resets, PING, flow control and garbage. Run under both I/O
//! backends (`WEFT_IO=uring` and `WEFT_IO=epoll`).
//!
//! Every wait has a deadline of seconds and every loop is bounded; nothing is asserted about
//! how long things take.

#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::http::{Body, Client, Method, Request, Response, StatusCode, Version};
use weft::sync::Event;

/// A deadline for "did not hang": generous, never a measurement.
const HANG: Duration = Duration::from_secs(20);

async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    weft::timeout(f, HANG).await.expect("the test hung")
}

/// Waits (a bounded time, on the real clock) until `cond` holds.
async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < HANG, "never happened: {what}");
        weft::sleep(Duration::from_millis(5)).await;
    }
}

/// `n` bytes of a pattern that shows misplaced pieces.
fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

async fn handler(req: Request<Body>) -> Response<Body> {
    let query = req.uri().query().unwrap_or("").to_owned();
    match (req.method().clone(), req.uri().path()) {
        (Method::POST, "/echo") => Response::new(req.into_body()),
        (Method::POST, "/trailers") => {
            // The body back, with the request's trailers and one more.
            let body = req.into_body();
            let mut trailers = body.trailers().cloned().unwrap_or_default();
            trailers.insert("x-done", weft::http::HeaderValue::from_static("yes"));
            let bytes = body.bytes().await.unwrap_or_default();
            Response::new(Body::from(bytes).with_trailers(trailers))
        }
        (_, "/big") => {
            let n: usize = query.parse().unwrap_or(1 << 20);
            Response::new(Body::from(pattern(n)))
        }
        (_, "/forever") => {
            weft::sleep(Duration::from_secs(3600)).await;
            Response::new(Body::from("never"))
        }
        (_, "/drip") => {
            // A piece every 20 ms, for up to 20 s.
            let (tx, rx) = weft::channel::bounded::<Vec<u8>>(1);
            drop(weft::spawn(async move {
                for _ in 0..1000 {
                    weft::sleep(Duration::from_millis(20)).await;
                    if tx.send(vec![b'd'; 1024]).await.is_err() {
                        break;
                    }
                }
            }));
            Response::new(Body::from_chunks(rx))
        }
        (_, "/slow") => {
            weft::sleep(Duration::from_millis(50)).await;
            Response::new(Body::from("slow"))
        }
        (_, "/status") => {
            let mut res = Response::new(Body::from("teapot"));
            *res.status_mut() = StatusCode::IM_A_TEAPOT;
            res
        }
        _ => Response::new(Body::from(format!(
            "{} {} {:?}",
            req.method(),
            req.uri().path(),
            req.version()
        ))),
    }
}

/// weft's server on 127.0.0.1 (on the global runtime), behind a relay that counts the
/// connections made to it.
struct Server {
    relay: Relay,
    stop: Arc<Event>,
}

impl Server {
    fn start() -> Server {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = Arc::new(Event::new());
        let signal = stop.clone();
        let serve = weft::http::serve(listener, handler)
            .with_graceful_shutdown(async move { signal.wait().await });
        drop(weft::spawn(std::future::IntoFuture::into_future(serve)));
        Server {
            relay: Relay::start(addr),
            stop,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.relay.addr.port())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.set();
    }
}

/// A TCP relay to `to` that counts the connections it takes and the ones whose client end
/// closed.
struct Relay {
    addr: SocketAddr,
    opened: Arc<AtomicUsize>,
    client_closed: Arc<AtomicUsize>,
}

impl Relay {
    fn start(to: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let relay = Relay {
            addr: listener.local_addr().unwrap(),
            opened: Arc::default(),
            client_closed: Arc::default(),
        };
        let (opened, closed) = (relay.opened.clone(), relay.client_closed.clone());
        std::thread::spawn(move || {
            for _ in 0..1000 {
                let Ok((client, _)) = listener.accept() else {
                    return;
                };
                opened.fetch_add(1, Ordering::SeqCst);
                let Ok(server) = TcpStream::connect(to) else {
                    continue;
                };
                let closed = closed.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || {
                    copy(client, server);
                    closed.fetch_add(1, Ordering::SeqCst);
                });
                std::thread::spawn(move || copy(s2, c2));
            }
        });
        relay
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    fn client_closed(&self) -> usize {
        self.client_closed.load(Ordering::SeqCst)
    }
}

/// Copies `from` to `to` until EOF or an error, then shuts `to`'s write side.
fn copy(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}

fn h2c_client() -> Client {
    Client::builder().http2_prior_knowledge().build().unwrap()
}

#[weft::test]
async fn get_by_prior_knowledge_reuses_one_connection() {
    let server = Server::start();
    let client = h2c_client();
    for i in 0..5 {
        let res = bounded(client.get(server.url(&format!("/info{i}"))).send())
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.version(), Version::HTTP_2);
        assert_eq!(
            bounded(res.text()).await.unwrap(),
            format!("GET /info{i} HTTP/2.0")
        );
    }
    let res = bounded(client.get(server.url("/status")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(res.content_length(), Some(6));
    assert_eq!(bounded(res.text()).await.unwrap(), "teapot");
    let res = bounded(client.head(server.url("/big")).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(bounded(res.bytes()).await.unwrap().is_empty());
    assert_eq!(server.relay.opened(), 1, "one HTTP/2 connection for all");
}

#[weft::test]
async fn plain_http_is_http1_without_prior_knowledge() {
    let server = Server::start();
    let res = bounded(Client::new().get(server.url("/v")).send())
        .await
        .unwrap();
    assert_eq!(res.version(), Version::HTTP_11);
    assert_eq!(bounded(res.text()).await.unwrap(), "GET /v HTTP/1.1");
}

#[weft::test]
async fn post_echoes_a_mebibyte_both_ways() {
    let server = Server::start();
    let client = h2c_client();
    let body = pattern(1 << 20);
    let res = bounded(client.post(server.url("/echo")).body(body.clone()).send())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.content_length(), Some(1 << 20));
    let got = bounded(res.bytes()).await.unwrap();
    assert!(got == body, "the echo differs");
    // A streamed body (no length) of 1 MiB in 4 KiB pieces.
    let pieces: Vec<Result<Vec<u8>, std::io::Error>> =
        body.chunks(4096).map(|c| Ok(c.to_vec())).collect();
    let res = bounded(
        client
            .post(server.url("/echo"))
            .body(Body::from_stream(futures_lite::stream::iter(pieces)))
            .send(),
    )
    .await
    .unwrap();
    let got = bounded(res.bytes()).await.unwrap();
    assert!(got == body, "the streamed echo differs");
    assert_eq!(server.relay.opened(), 1);
}

#[weft::test]
async fn two_hundred_concurrent_requests_share_one_connection() {
    let server = Server::start();
    let client = h2c_client();
    let mut tasks = Vec::new();
    for i in 0..200 {
        let client = client.clone();
        let url = server.url(&format!("/slow{i}"));
        tasks.push(weft::spawn(async move {
            let res = client.get(url).send().await?;
            res.text().await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let text = bounded(task).await.unwrap();
        assert_eq!(text, format!("GET /slow{i} HTTP/2.0"));
    }
    // The server takes 100 streams at once: the others waited for one, on this connection.
    assert_eq!(server.relay.opened(), 1, "all 200 on one connection");
}

#[weft::test]
async fn a_slow_reader_gets_a_large_body_whole() {
    let server = Server::start();
    let client = h2c_client();
    let n = 8 << 20;
    let mut res = bounded(client.get(server.url(&format!("/big?{n}"))).send())
        .await
        .unwrap();
    let mut got = Vec::with_capacity(n);
    for i in 0..100_000 {
        let Some(chunk) = bounded(res.chunk()).await else {
            break;
        };
        got.extend_from_slice(&chunk.unwrap());
        if i % 16 == 0 {
            weft::sleep(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(got.len(), n);
    assert!(got == pattern(n), "the body differs");
    // Meanwhile the connection serves others.
    let res = bounded(client.get(server.url("/x")).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "GET /x HTTP/2.0");
}

#[weft::test]
async fn a_dropped_response_leaves_the_others_alone() {
    let server = Server::start();
    let client = h2c_client();
    let n = 4 << 20;
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        let url = server.url(&format!("/big?{n}"));
        tasks.push(weft::spawn(async move {
            let res = client.get(url).send().await.unwrap();
            res.bytes().await.unwrap().len()
        }));
    }
    // One response dropped in the middle of its body.
    let mut res = bounded(client.get(server.url(&format!("/big?{n}"))).send())
        .await
        .unwrap();
    let first = bounded(res.chunk()).await.unwrap().unwrap();
    assert!(!first.is_empty() && first.len() < n);
    drop(res);
    // And one dropped before its head.
    let gone = weft::timeout(
        client.get(server.url("/forever")).send(),
        Duration::from_millis(50),
    )
    .await;
    assert!(gone.is_err());
    for task in tasks {
        assert_eq!(bounded(task).await, n);
    }
    let res = bounded(client.get(server.url("/after")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "GET /after HTTP/2.0");
    assert_eq!(server.relay.opened(), 1);
}

#[weft::test]
async fn timeouts_work_as_on_http1() {
    let server = Server::start();
    let client = h2c_client();
    let err = bounded(
        client
            .get(server.url("/forever"))
            .timeout(Duration::from_millis(100))
            .send(),
    )
    .await
    .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // The body read is under the request's deadline too.
    let mut res = bounded(
        client
            .get(server.url("/drip"))
            .timeout(Duration::from_millis(300))
            .send(),
    )
    .await
    .unwrap();
    let mut timed_out = false;
    for _ in 0..10_000 {
        match bounded(res.chunk()).await {
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                assert!(e.is_timeout(), "{e}");
                timed_out = true;
                break;
            }
            None => break,
        }
    }
    assert!(timed_out, "the body outlived the deadline");
    let res = bounded(client.get(server.url("/ok")).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "GET /ok HTTP/2.0");
    assert_eq!(server.relay.opened(), 1);
}

#[weft::test]
async fn the_idle_sweep_closes_idle_connections() {
    let server = Server::start();
    for client in [
        Client::builder()
            .pool_idle_timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
        Client::builder()
            .http2_prior_knowledge()
            .pool_idle_timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    ] {
        let before = server.relay.client_closed();
        let res = bounded(client.get(server.url("/idle")).send())
            .await
            .unwrap();
        bounded(res.text()).await.unwrap();
        // The client stays alive: only the sweep can close the connection.
        eventually("the idle connection is closed", || {
            server.relay.client_closed() > before
        })
        .await;
        drop(client);
    }
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use futures_rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use futures_rustls::rustls::{self, ServerConfig, ServerConnection, StreamOwned};

    /// A config for `localhost` offering `alpn`, and its certificate (DER) to trust.
    pub(super) fn server_config(alpn: &[&[u8]]) -> (ServerConfig, Vec<u8>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        (config, der)
    }

    /// weft's TLS server (ALPN `h2`, `http/1.1`) behind a counting relay, and its root.
    fn tls_server() -> (Relay, Vec<u8>, Arc<Event>) {
        let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (config, der) = server_config(&[]);
        let stop = Arc::new(Event::new());
        let signal = stop.clone();
        let serve = weft::http::serve(listener, handler)
            .tls(Arc::new(config))
            .with_graceful_shutdown(async move { signal.wait().await });
        drop(weft::spawn(std::future::IntoFuture::into_future(serve)));
        (Relay::start(addr), der, stop)
    }

    #[weft::test]
    async fn alpn_picks_http2_over_tls() {
        let (relay, root, stop) = tls_server();
        let client = Client::builder()
            .add_root_certificate(&root)
            .build()
            .unwrap();
        let url = |p: &str| format!("https://localhost:{}{p}", relay.addr.port());
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (client, url) = (client.clone(), url(&format!("/t{i}")));
            tasks.push(weft::spawn(async move {
                client.get(url).send().await.unwrap().text().await.unwrap()
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(bounded(t).await, format!("GET /t{i} HTTP/2.0"));
        }
        let body = pattern(1 << 20);
        let res = bounded(client.post(url("/echo")).body(body.clone()).send())
            .await
            .unwrap();
        assert_eq!(res.version(), Version::HTTP_2);
        assert!(bounded(res.bytes()).await.unwrap() == body);
        assert_eq!(
            relay.opened(),
            1,
            "the concurrent requests waited for one connection"
        );
        // http1_only keeps HTTP/1.1 with the same server.
        let h1 = Client::builder()
            .add_root_certificate(&root)
            .http1_only()
            .build()
            .unwrap();
        let res = bounded(h1.get(url("/one")).send()).await.unwrap();
        assert_eq!(res.version(), Version::HTTP_11);
        assert_eq!(bounded(res.text()).await.unwrap(), "GET /one HTTP/1.1");
        stop.set();
    }

    #[weft::test]
    async fn trailers_go_both_ways_over_tls() {
        let (relay, root, stop) = tls_server();
        let client = Client::builder()
            .add_root_certificate(&root)
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/trailers", relay.addr.port());
        let mut trailers = weft::http::HeaderMap::new();
        trailers.insert("x-sum", weft::http::HeaderValue::from_static("7"));
        let body = pattern(200_000);
        let res = bounded(
            client
                .post(&url)
                .body(Body::from(body.clone()).with_trailers(trailers))
                .send(),
        )
        .await
        .unwrap();
        assert_eq!(res.version(), Version::HTTP_2);
        let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
        assert!(bytes == body);
        let trailers = trailers.expect("the response's trailers");
        assert_eq!(trailers["x-sum"], "7");
        assert_eq!(trailers["x-done"], "yes");
        stop.set();
    }

    #[weft::test]
    async fn a_server_refusing_h2_in_alpn_gets_http1() {
        let (config, root) = server_config(&[b"http/1.1"]);
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let offered = Arc::new(Mutex::new(Vec::new()));
        let seen = offered.clone();
        std::thread::spawn(move || {
            for _ in 0..10 {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                tcp.set_read_timeout(Some(HANG)).unwrap();
                let Ok(conn) = ServerConnection::new(config.clone()) else {
                    continue;
                };
                let mut tls = StreamOwned::new(conn, tcp);
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") && head.len() < 65536 {
                    if tls.read(&mut byte).unwrap_or(0) == 0 {
                        break;
                    }
                    head.push(byte[0]);
                }
                seen.lock()
                    .unwrap()
                    .push(tls.conn.alpn_protocol().map(|p| p.to_vec()));
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nh1",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        });
        let client = Client::builder()
            .add_root_certificate(&root)
            .build()
            .unwrap();
        let res = bounded(client.get(format!("https://localhost:{port}/")).send())
            .await
            .unwrap();
        assert_eq!(res.version(), Version::HTTP_11);
        assert_eq!(bounded(res.text()).await.unwrap(), "h1");
        assert_eq!(
            offered.lock().unwrap().as_slice(),
            &[Some(b"http/1.1".to_vec())]
        );
    }
}

/// Raw HTTP/2 frames on a std socket, for the server side of the tests below.
mod raw {
    use super::*;

    pub(super) const DATA: u8 = 0x0;
    pub(super) const HEADERS: u8 = 0x1;
    pub(super) const RST_STREAM: u8 = 0x3;
    pub(super) const SETTINGS: u8 = 0x4;
    pub(super) const PING: u8 = 0x6;
    pub(super) const GOAWAY: u8 = 0x7;
    pub(super) const WINDOW_UPDATE: u8 = 0x8;
    pub(super) const END_STREAM: u8 = 0x1;
    pub(super) const END_HEADERS: u8 = 0x4;
    pub(super) const ACK: u8 = 0x1;

    #[derive(Debug)]
    pub(super) struct Frame {
        pub(super) kind: u8,
        pub(super) flags: u8,
        pub(super) stream: u32,
        pub(super) payload: Vec<u8>,
    }

    pub(super) struct Conn {
        pub(super) tcp: TcpStream,
    }

    impl Conn {
        /// Reads the client's preface and sends an empty SETTINGS (the server's preface).
        pub(super) fn accept(tcp: TcpStream) -> Option<Conn> {
            tcp.set_read_timeout(Some(HANG)).unwrap();
            tcp.set_write_timeout(Some(HANG)).unwrap();
            let mut c = Conn { tcp };
            let mut preface = [0u8; 24];
            c.tcp.read_exact(&mut preface).ok()?;
            assert_eq!(&preface, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
            c.send(SETTINGS, 0, 0, &[]);
            Some(c)
        }

        pub(super) fn send(&mut self, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
            let len = payload.len();
            let mut out = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
            out.extend_from_slice(&stream.to_be_bytes());
            out.extend_from_slice(payload);
            let _ = self.tcp.write_all(&out);
        }

        /// The next frame; `None` once the client closed (or the read timed out).
        pub(super) fn read(&mut self) -> Option<Frame> {
            let mut head = [0u8; 9];
            self.tcp.read_exact(&mut head).ok()?;
            let len =
                (usize::from(head[0]) << 16) | (usize::from(head[1]) << 8) | usize::from(head[2]);
            let mut payload = vec![0; len];
            self.tcp.read_exact(&mut payload).ok()?;
            Some(Frame {
                kind: head[3],
                flags: head[4],
                stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]]) & 0x7fff_ffff,
                payload,
            })
        }

        /// Reads until a frame `pick` wants (answering SETTINGS with an ack on the way).
        pub(super) fn until(&mut self, mut pick: impl FnMut(&Frame) -> bool) -> Option<Frame> {
            for _ in 0..100_000 {
                let f = self.read()?;
                if f.kind == SETTINGS && f.flags & ACK == 0 {
                    self.send(SETTINGS, ACK, 0, &[]);
                }
                if pick(&f) {
                    return Some(f);
                }
            }
            None
        }

        /// A 200 with `body` on `stream` (the HPACK static index of `:status: 200`).
        pub(super) fn ok(&mut self, stream: u32, body: &[u8]) {
            self.send(HEADERS, END_HEADERS, stream, &[0x88]);
            self.send(DATA, END_STREAM, stream, body);
        }
    }

    /// A server that hands each connection it accepts (up to `max`) and its index to
    /// `script`, on a thread of its own.
    pub(super) fn serve(
        max: usize,
        script: impl Fn(Conn, usize) + Send + Sync + 'static,
    ) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let script = Arc::new(script);
        std::thread::spawn(move || {
            for i in 0..max {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                let script = script.clone();
                std::thread::spawn(move || {
                    if let Some(c) = Conn::accept(tcp) {
                        script(c, i);
                    }
                });
            }
        });
        addr
    }

    pub(super) fn u32_at(p: &[u8], at: usize) -> u32 {
        u32::from_be_bytes([p[at], p[at + 1], p[at + 2], p[at + 3]])
    }
}

use raw::*;

#[weft::test]
async fn streams_past_a_goaway_go_again_on_a_new_connection() {
    let served: Arc<Mutex<Vec<(usize, u32)>>> = Arc::default();
    let log = served.clone();
    let addr = raw::serve(4, move |mut c, index| {
        if index == 0 {
            // Take five streams, answer the first two, and go away saying so.
            let mut streams = Vec::new();
            while streams.len() < 5 {
                let Some(f) = c.until(|f| f.kind == HEADERS) else {
                    return;
                };
                streams.push(f.stream);
            }
            streams.sort();
            for &id in &streams[..2] {
                c.ok(id, b"first");
                log.lock().unwrap().push((index, id));
            }
            let mut goaway = streams[1].to_be_bytes().to_vec();
            goaway.extend_from_slice(&0u32.to_be_bytes());
            c.send(GOAWAY, 0, 0, &goaway);
            // The client closes once its answered streams are done.
            let _ = c.until(|_| false);
            return;
        }
        for _ in 0..100 {
            let Some(f) = c.until(|f| f.kind == HEADERS) else {
                return;
            };
            c.ok(f.stream, b"second");
            log.lock().unwrap().push((index, f.stream));
        }
    });
    let client = h2c_client();
    let mut tasks = Vec::new();
    for _ in 0..5 {
        let client = client.clone();
        let url = format!("http://{addr}/");
        tasks.push(weft::spawn(async move {
            client.get(url).send().await?.text().await
        }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(bounded(t).await.unwrap());
    }
    answers.sort();
    assert_eq!(
        answers,
        ["first", "first", "second", "second", "second"],
        "the three unprocessed streams went again"
    );
    let served = served.lock().unwrap().clone();
    assert_eq!(served.iter().filter(|(i, _)| *i == 0).count(), 2);
    assert!(served.iter().all(|(i, _)| *i <= 1), "{served:?}");
}

#[weft::test]
async fn a_reset_stream_fails_its_request_only() {
    let addr = raw::serve(2, |mut c, _| {
        let mut seen = 0;
        for _ in 0..10 {
            let Some(f) = c.until(|f| f.kind == HEADERS) else {
                return;
            };
            seen += 1;
            if seen == 1 {
                // INTERNAL_ERROR
                c.send(RST_STREAM, 0, f.stream, &2u32.to_be_bytes());
            } else {
                c.ok(f.stream, b"fine");
            }
        }
    });
    let client = h2c_client();
    let err = bounded(client.get(format!("http://{addr}/a")).send())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("INTERNAL_ERROR"), "{err}");
    let res = bounded(client.get(format!("http://{addr}/b")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "fine");
}

/// A literal field without indexing, for hand-made header blocks.
fn literal(name: &str, value: &str) -> Vec<u8> {
    let mut out = vec![0x00, name.len() as u8];
    out.extend_from_slice(name.as_bytes());
    out.push(value.len() as u8);
    out.extend_from_slice(value.as_bytes());
    out
}

#[weft::test]
async fn malformed_response_trailers_fail_their_request_only() {
    let resets: Arc<Mutex<Vec<(u32, u32)>>> = Arc::default();
    let log = resets.clone();
    let addr = raw::serve(1, move |mut c, _| {
        for i in 0..3 {
            let Some(f) = c.until(|f| f.kind == HEADERS) else {
                return;
            };
            let id = f.stream;
            c.send(HEADERS, END_HEADERS, id, &[0x88]);
            c.send(DATA, 0, id, b"ab");
            match i {
                // A pseudo-header (`:status: 200`) in trailers.
                0 => c.send(HEADERS, END_HEADERS | END_STREAM, id, &[0x88]),
                // Trailers that do not end the stream.
                1 => c.send(HEADERS, END_HEADERS, id, &literal("x-a", "1")),
                // Fine: one kept, `content-type` dropped (no trailer).
                _ => {
                    let mut block = literal("x-ok", "1");
                    block.extend(literal("content-type", "text/plain"));
                    c.send(HEADERS, END_HEADERS | END_STREAM, id, &block);
                }
            }
            if i < 2 {
                let Some(rst) = c.until(|f| f.kind == RST_STREAM) else {
                    return;
                };
                log.lock()
                    .unwrap()
                    .push((rst.stream, u32_at(&rst.payload, 0)));
            }
        }
        let _ = c.until(|_| false);
    });
    let client = h2c_client();
    for (path, why) in [
        ("/pseudo", "a pseudo-header in trailers"),
        ("/open", "trailers without END_STREAM"),
    ] {
        let res = bounded(client.get(format!("http://{addr}{path}")).send())
            .await
            .unwrap();
        let err = bounded(res.into_body().bytes_and_trailers())
            .await
            .unwrap_err();
        assert!(err.to_string().contains(why), "{err}");
    }
    let res = bounded(client.get(format!("http://{addr}/fine")).send())
        .await
        .unwrap();
    let (bytes, trailers) = bounded(res.into_body().bytes_and_trailers()).await.unwrap();
    assert_eq!(bytes, "ab");
    let trailers = trailers.unwrap();
    assert_eq!(trailers.len(), 1, "{trailers:?}");
    assert_eq!(trailers["x-ok"], "1");
    // Both malformed streams were reset with PROTOCOL_ERROR.
    assert_eq!(*resets.lock().unwrap(), [(1, 1), (3, 1)]);
}

#[weft::test]
async fn ping_is_answered_and_cancel_is_sent() {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let addr = raw::serve(1, move |mut c, _| {
        let Some(f) = c.until(|f| f.kind == HEADERS) else {
            return;
        };
        c.send(PING, 0, 0, b"12345678");
        let ack = c.until(|f| f.kind == PING);
        let ok = ack.is_some_and(|a| a.flags & ACK != 0 && a.payload == b"12345678");
        let _ = tx.send(format!("ping {ok}"));
        // A head and some data; the client drops the response.
        c.send(HEADERS, END_HEADERS, f.stream, &[0x88]);
        c.send(DATA, 0, f.stream, b"part");
        let rst = c.until(|f| f.kind == RST_STREAM);
        let code = rst.map(|r| u32_at(&r.payload, 0));
        let _ = tx.send(format!("rst {code:?}"));
    });
    let client = h2c_client();
    let mut res = bounded(client.get(format!("http://{addr}/")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.chunk()).await.unwrap().unwrap(), "part");
    drop(res);
    let rx = Arc::new(Mutex::new(rx));
    let got = weft::spawn_blocking(move || {
        let rx = rx.lock().unwrap();
        [rx.recv_timeout(HANG), rx.recv_timeout(HANG)]
    })
    .await;
    assert_eq!(got[0].as_deref(), Ok("ping true"));
    assert_eq!(got[1].as_deref(), Ok("rst Some(8)"), "RST_STREAM CANCEL");
}

#[weft::test]
async fn the_window_opens_only_as_the_body_is_read() {
    // The client's stream window is 1 MiB: the server fills it, and must then see no
    // WINDOW_UPDATE for the stream until the client reads.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let read_now = Arc::new(Event::new());
    let go = read_now.clone();
    let addr = raw::serve(1, move |mut c, _| {
        let Some(f) = c.until(|f| f.kind == HEADERS) else {
            return;
        };
        let id = f.stream;
        c.send(HEADERS, END_HEADERS, id, &[0x88]);
        let piece = vec![7u8; 16384];
        for _ in 0..64 {
            c.send(DATA, 0, id, &piece);
        }
        // Nothing for the stream while the client does not read.
        c.tcp
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let early = c.until(|f| f.kind == WINDOW_UPDATE && f.stream == id);
        let _ = tx.send(format!("early {}", early.is_some()));
        go.set();
        c.tcp.set_read_timeout(Some(HANG)).unwrap();
        let late = c.until(|f| f.kind == WINDOW_UPDATE && f.stream == id);
        let _ = tx.send(format!("late {}", late.is_some()));
        c.send(DATA, END_STREAM, id, b"end");
        let _ = c.until(|_| false);
    });
    let client = h2c_client();
    let mut res = bounded(client.get(format!("http://{addr}/")).send())
        .await
        .unwrap();
    bounded(read_now.wait()).await;
    let mut total = 0;
    for _ in 0..10_000 {
        match bounded(res.chunk()).await {
            Some(chunk) => total += chunk.unwrap().len(),
            None => break,
        }
    }
    assert_eq!(total, (1 << 20) + 3);
    let rx = Arc::new(Mutex::new(rx));
    let got = weft::spawn_blocking(move || {
        let rx = rx.lock().unwrap();
        [rx.recv_timeout(HANG), rx.recv_timeout(HANG)]
    })
    .await;
    assert_eq!(got[0].as_deref(), Ok("early false"));
    assert_eq!(got[1].as_deref(), Ok("late true"));
}

#[weft::test]
async fn garbage_from_the_server_is_an_error_not_a_hang() {
    // Not HTTP/2 at all.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..4 {
            let Ok((mut tcp, _)) = listener.accept() else {
                return;
            };
            let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    let client = h2c_client();
    let err = bounded(client.get(format!("http://{addr}/")).send())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("protocol"), "{err}");

    // Valid frames, then malformed ones: each is a connection error with a GOAWAY.
    let bad: Vec<(u8, u8, u32, Vec<u8>)> = vec![
        (DATA, 0, 0, b"on stream zero".to_vec()),
        (WINDOW_UPDATE, 0, 0, vec![0, 0, 0]),
        (
            HEADERS,
            END_HEADERS,
            1,
            vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (SETTINGS, 0, 0, vec![0; 5]),
        (0x5, END_HEADERS, 1, vec![0, 0, 0, 2]),
        (DATA, 0, 1, vec![0; 20_000]),
    ];
    for (kind, flags, stream, payload) in bad {
        let (tx, rx) = std::sync::mpsc::channel::<Option<u32>>();
        let payload2 = payload.clone();
        let addr = raw::serve(1, move |mut c, _| {
            if c.until(|f| f.kind == HEADERS).is_none() {
                return;
            }
            if kind == DATA && stream == 1 {
                c.send(HEADERS, END_HEADERS, 1, &[0x88]);
            }
            c.send(kind, flags, stream, &payload2);
            let goaway = c.until(|f| f.kind == GOAWAY);
            let _ = tx.send(goaway.map(|g| u32_at(&g.payload, 4)));
        });
        let res = bounded(client.get(format!("http://{addr}/")).send()).await;
        let err = match res {
            Err(e) => e,
            Ok(res) => bounded(res.bytes()).await.unwrap_err(),
        };
        assert!(err.to_string().contains("protocol"), "{kind}: {err}");
        let rx = Arc::new(Mutex::new(rx));
        let code = weft::spawn_blocking(move || rx.lock().unwrap().recv_timeout(HANG)).await;
        let code = code.unwrap_or_else(|_| panic!("frame type {kind}: no answer"));
        assert!(
            code.is_some_and(|c| c != 0),
            "frame type {kind}: GOAWAY {code:?}"
        );
    }
}

#[weft::test]
async fn unread_streams_do_not_hold_up_a_reader_of_another() {
    // Five responses of nearly 1 MiB each sit unread (over half of the connection's 8 MiB
    // window); a sixth is read: its bytes must go back to the connection's window at once,
    // or the server could not send it more.
    let (tx, rx) = std::sync::mpsc::channel::<bool>();
    let addr = raw::serve(1, move |mut c, _| {
        let mut streams = Vec::new();
        while streams.len() < 6 {
            let Some(f) = c.until(|f| f.kind == HEADERS) else {
                return;
            };
            streams.push(f.stream);
        }
        streams.sort();
        let piece = vec![1u8; 16384];
        for &id in &streams[..5] {
            c.send(HEADERS, END_HEADERS, id, &[0x88]);
        }
        // The one to read is marked `x: y` (a literal field, new name, no Huffman).
        c.send(
            HEADERS,
            END_HEADERS,
            streams[5],
            &[0x88, 0x00, 1, b'x', 1, b'y'],
        );
        for &id in &streams[..5] {
            for _ in 0..63 {
                c.send(DATA, 0, id, &piece);
            }
        }
        for _ in 0..4 {
            c.send(DATA, 0, streams[5], &piece);
        }
        let update = c.until(|f| f.kind == WINDOW_UPDATE && f.stream == 0);
        let _ = tx.send(update.is_some());
        for &id in &streams {
            c.send(DATA, END_STREAM, id, b"");
        }
        let _ = c.until(|_| false);
    });
    let client = h2c_client();
    let mut tasks = Vec::new();
    for _ in 0..6 {
        let (client, url) = (client.clone(), format!("http://{addr}/"));
        tasks.push(weft::spawn(
            async move { client.get(url).send().await.unwrap() },
        ));
    }
    let mut responses = Vec::new();
    for t in tasks {
        responses.push(bounded(t).await);
    }
    let marked = responses
        .iter()
        .position(|r| r.headers().contains_key("x"))
        .unwrap();
    let mut last = responses.remove(marked);
    let mut read = 0;
    while read < 4 * 16384 {
        read += bounded(last.chunk()).await.unwrap().unwrap().len();
    }
    let rx = Arc::new(Mutex::new(rx));
    let got = weft::spawn_blocking(move || rx.lock().unwrap().recv_timeout(HANG)).await;
    assert_eq!(got, Ok(true), "no WINDOW_UPDATE for the connection");
    for res in responses {
        assert_eq!(bounded(res.bytes()).await.unwrap().len(), 63 * 16384);
    }
}

#[weft::test]
async fn a_settings_change_resizes_the_windows_of_open_streams() {
    // The server's SETTINGS shrink the initial stream window to 10 bytes before a request
    // with a body opens its stream; once 10 bytes came, a second SETTINGS grows it to 1 MiB
    // while the stream is open, which must let the rest of the body go at once.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let addr = raw::serve(1, move |mut c, _| {
        c.send(SETTINGS, 0, 0, &[0, 4, 0, 0, 0, 10]);
        let mut acks = 0;
        let mut count_acks = |f: &Frame| {
            if f.kind == SETTINGS && f.flags & ACK != 0 {
                acks += 1;
            }
        };
        // A first exchange: its response comes after our SETTINGS, so the client has them
        // when it opens the next stream.
        let Some(f) = c.until(|f| {
            count_acks(f);
            f.kind == HEADERS
        }) else {
            return;
        };
        c.ok(f.stream, b"warm");
        let Some(f) = c.until(|f| {
            count_acks(f);
            f.kind == HEADERS
        }) else {
            return;
        };
        let id = f.stream;
        let mut got = 0;
        while got < 10 {
            let Some(d) = c.until(|f| {
                count_acks(f);
                f.kind == DATA && f.stream == id
            }) else {
                return;
            };
            got += d.payload.len();
        }
        // Nothing past the window: the PING is answered before any more DATA.
        c.send(PING, 0, 0, b"abcdefgh");
        let mut early = 0;
        let pong = c.until(|f| {
            count_acks(f);
            if f.kind == DATA {
                early += f.payload.len();
            }
            f.kind == PING
        });
        let _ = tx.send(format!(
            "first {got}, then {early} before the ping's answer"
        ));
        if pong.is_none() {
            return;
        }
        // INITIAL_WINDOW_SIZE 1 MiB.
        c.send(SETTINGS, 0, 0, &[0, 4, 0, 0x10, 0, 0]);
        c.tcp
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let last = c.until(|f| {
            count_acks(f);
            if f.kind == DATA && f.stream == id {
                got += f.payload.len();
            }
            f.kind == DATA && f.flags & END_STREAM != 0
        });
        let _ = tx.send(format!("whole {} of {got} bytes", last.is_some()));
        c.ok(id, b"done");
        let _ = tx.send(format!("{acks} acks"));
        let _ = c.until(|_| false);
    });
    let client = h2c_client();
    let res = bounded(client.get(format!("http://{addr}/warm")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "warm");
    let body = pattern(50_000);
    let res = bounded(client.post(format!("http://{addr}/up")).body(body).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "done");
    let rx = Arc::new(Mutex::new(rx));
    let got = weft::spawn_blocking(move || {
        let rx = rx.lock().unwrap();
        [
            rx.recv_timeout(HANG),
            rx.recv_timeout(HANG),
            rx.recv_timeout(HANG),
        ]
    })
    .await;
    assert_eq!(
        got[0].as_deref(),
        Ok("first 10, then 0 before the ping's answer")
    );
    assert_eq!(got[1].as_deref(), Ok("whole true of 50000 bytes"));
    assert_eq!(
        got[2].as_deref(),
        Ok("3 acks"),
        "every SETTINGS acknowledged"
    );
}

#[weft::test]
async fn window_overflows_from_the_server_are_flow_control_errors() {
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let addr = raw::serve(1, move |mut c, _| {
        // A stream's window past 2^31-1: that stream is reset, the connection goes on.
        let Some(f) = c.until(|f| f.kind == HEADERS) else {
            return;
        };
        c.send(WINDOW_UPDATE, 0, f.stream, &0x7fff_ffffu32.to_be_bytes());
        let rst = c.until(|g| g.kind == RST_STREAM);
        let rst = rst.map(|r| (r.stream == f.stream, u32_at(&r.payload, 0)));
        let _ = tx.send(format!("rst {rst:?}"));
        let Some(f) = c.until(|f| f.kind == HEADERS) else {
            return;
        };
        c.ok(f.stream, b"still open");
        // The connection's window past 2^31-1: GOAWAY.
        if c.until(|f| f.kind == HEADERS).is_none() {
            return;
        }
        c.send(WINDOW_UPDATE, 0, 0, &0x7fff_ffffu32.to_be_bytes());
        let goaway = c.until(|g| g.kind == GOAWAY);
        let _ = tx.send(format!(
            "goaway {:?}",
            goaway.map(|g| u32_at(&g.payload, 4))
        ));
    });
    let client = h2c_client();
    let err = bounded(client.get(format!("http://{addr}/a")).send())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("stream window"), "{err}");
    let res = bounded(client.get(format!("http://{addr}/b")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "still open");
    let err = bounded(client.get(format!("http://{addr}/c")).send())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("connection window"), "{err}");
    let rx = Arc::new(Mutex::new(rx));
    let got = weft::spawn_blocking(move || {
        let rx = rx.lock().unwrap();
        [rx.recv_timeout(HANG), rx.recv_timeout(HANG)]
    })
    .await;
    // FLOW_CONTROL_ERROR is 0x3.
    assert_eq!(got[0].as_deref(), Ok("rst Some((true, 3))"));
    assert_eq!(got[1].as_deref(), Ok("goaway Some(3)"));
}
