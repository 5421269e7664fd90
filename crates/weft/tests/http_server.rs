//! `weft::http::serve` against curl and against raw `std` TCP clients: requests, keep-alive,
//! pipelining, TLS, bad input, limits, slow clients, graceful shutdown and descriptor leaks.
//!
//! Every client has read and write timeouts, every loop is bounded, and every wait for the
//! server has a deadline of seconds; nothing is asserted about how long things take.

#![cfg(feature = "http")]

mod common;

#[cfg(feature = "tls")]
use common::tls_config;
use common::{
    connect, curl, exchange, read_reply, read_to_close, status_of, Seen, Server, DEADLINE,
};
use futures_lite::StreamExt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use weft::http::{Body, Method, Request, Response};
use weft::net::TcpListener;
use weft::sync::Event;

/// The descriptor-count test runs alone (write lock); the others run side by side (read lock).
static FDS: RwLock<()> = RwLock::new(());

fn shared_lock() -> RwLockReadGuard<'static, ()> {
    FDS.read().unwrap_or_else(|e| e.into_inner())
}

fn exclusive_lock() -> RwLockWriteGuard<'static, ()> {
    FDS.write().unwrap_or_else(|e| e.into_inner())
}

/// The size of `/big`'s body: more than loopback's socket buffers hold.
const BIG: usize = 64 << 20;

async fn handler(req: Request<Body>, seen: Arc<Seen>) -> Result<Response<Body>, weft::http::Error> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let res = match (req.method().clone(), req.uri().path()) {
        (Method::POST, "/echo") => Response::new(req.into_body()),
        (_, "/panic") => panic!("the handler panicked on purpose"),
        (_, "/err") => return Err(Body::from("x").limit(0).bytes().await.unwrap_err()),
        (_, "/slow") => {
            seen.slow_started.set();
            weft::sleep(Duration::from_millis(500)).await;
            Response::new(Body::from("slow done"))
        }
        (_, "/forever") => {
            seen.slow_started.set();
            weft::sleep(Duration::from_secs(3600)).await;
            Response::new(Body::from("never"))
        }
        (_, "/stream") => {
            let parts = futures_lite::stream::iter(["one,", "two,", "three"]);
            Response::new(Body::from_chunks(parts))
        }
        (_, "/broken") => {
            let parts = futures_lite::stream::iter([
                Ok("partial,"),
                Err(std::io::Error::other("the source failed")),
            ]);
            Response::new(Body::from_stream(parts))
        }
        (_, "/panicky-body") => {
            let parts = futures_lite::stream::iter(["a"])
                .map(|_: &str| -> &str { panic!("the body's stream panicked on purpose") });
            Response::new(Body::from_chunks(parts))
        }
        (_, "/big") => Response::new(Body::from(vec![b'x'; BIG])),
        (_, "/peer") => {
            let text = match req.extensions().get::<weft::http::ConnectInfo>() {
                Some(info) => format!(
                    "{} {} {}",
                    info.remote_addr(),
                    info.local_addr(),
                    info.is_tls()
                ),
                None => "no ConnectInfo".to_owned(),
            };
            Response::new(Body::from(text))
        }
        (_, "/method") => Response::new(Body::from(req.method().to_string())),
        (_, "/informational") => {
            // Not a final status: the server must not send it as the answer.
            let mut res = Response::new(Body::empty());
            *res.status_mut() = weft::http::StatusCode::CONTINUE;
            res
        }
        (_, "/announced") => {
            // What a file server answers HEAD with: the file's length, no body.
            let mut res = Response::new(Body::empty());
            res.headers_mut().insert(
                weft::http::header::CONTENT_LENGTH,
                weft::http::HeaderValue::from_static("1234"),
            );
            res
        }
        _ => Response::new(Body::from("hello")),
    };
    Ok(res)
}

impl Server {
    /// A server of [`handler`], configured by `configure`.
    fn start(
        configure: impl FnOnce(weft::http::Serve<common::Handler>) -> weft::http::Serve<common::Handler>,
    ) -> Server {
        Server::with_seen(configure, handler)
    }
}

/// A good request still gets its answer.
fn assert_serving(addr: SocketAddr) {
    let reply = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 200, "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
}

#[test]
fn curl_get_post_and_keep_alive() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let base = format!("http://{}", server.addr);
    assert_eq!(curl(&[&format!("{base}/")]), "hello");
    assert_eq!(
        curl(&["--data-binary", "ping pong", &format!("{base}/echo")]),
        "ping pong"
    );
    // Three URLs in one invocation: one connection, reused for the second and third.
    let connects = curl(&[
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{num_connects} ",
        &format!("{base}/a"),
        &format!("{base}/b"),
        &format!("{base}/c"),
    ]);
    assert_eq!(connects, "1 0 0 ", "curl did not reuse the connection");
    // A streaming body arrives whole (curl decodes the chunks); HEAD has no body.
    assert_eq!(curl(&[&format!("{base}/stream")]), "one,two,three");
    let head = curl(&["-I", &format!("{base}/")]);
    assert!(
        head.to_ascii_lowercase().contains("content-length: 5"),
        "{head}"
    );
    assert!(head.to_ascii_lowercase().contains("date: "), "{head}");
    // curl sends `Expect: 100-continue` for bodies over 1 MiB.
    let big = "x".repeat(1_100_000);
    let path = std::env::temp_dir().join(format!("weft-http-big-{}", std::process::id()));
    std::fs::write(&path, &big).unwrap();
    let echoed = curl(&[
        "--data-binary",
        &format!("@{}", path.display()),
        "-H",
        "Expect: 100-continue",
        &format!("{base}/echo"),
    ]);
    std::fs::remove_file(&path).unwrap();
    assert_eq!(echoed.len(), big.len());
}

#[cfg(feature = "tls")]
#[test]
fn curl_over_tls() {
    use weft::http::rustls::{self, pki_types};
    let _lock = shared_lock();
    let (config, cert_der) = tls_config();
    let server = Server::start(|s| s.tls(Arc::new(config)));
    // A client that offers only http/1.1 is given it by ALPN (one that offers h2 gets h2:
    // see http2_server.rs).
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki_types::CertificateDer::from(cert_der))
        .unwrap();
    let mut client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(client, connect(server.addr));
    tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    assert_eq!(tls.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");

    let base = format!("https://localhost:{}", server.addr.port());
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    assert_eq!(
        curl(&[
            "-k",
            "--http1.1",
            "--resolve",
            &resolve,
            &format!("{base}/")
        ]),
        "hello"
    );
    assert_eq!(
        curl(&[
            "-k",
            "--http1.1",
            "--resolve",
            &resolve,
            "--data-binary",
            "over tls",
            &format!("{base}/echo")
        ]),
        "over tls"
    );
    let alpn = curl(&[
        "-k",
        "--http1.1",
        "--resolve",
        &resolve,
        "-o",
        "/dev/null",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{num_connects} ",
        &format!("{base}/a"),
        &format!("{base}/b"),
    ]);
    assert_eq!(alpn, "1.1 1 1.1 0 ");
    // A client that does not speak TLS is dropped; the server goes on.
    let mut plain = connect(server.addr);
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let _ = read_to_close(&mut plain);
    assert_eq!(
        curl(&["-k", "--resolve", &resolve, &format!("{base}/")]),
        "hello"
    );
}

/// The handler learns the connection's addresses from the request's `ConnectInfo`.
#[test]
fn a_handler_learns_the_client_and_server_addresses() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.with_connect_info());
    let mut conn = connect(server.addr);
    let me = conn.local_addr().unwrap();
    conn.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut conn);
    assert!(
        reply.ends_with(&format!("\r\n\r\n{me} {} false", server.addr)),
        "{reply}"
    );
}

#[cfg(feature = "tls")]
#[test]
fn a_handler_learns_the_addresses_over_tls() {
    let _lock = shared_lock();
    let (config, _) = tls_config();
    let server = Server::start(|s| s.tls(Arc::new(config)).with_connect_info());
    let resolve = format!("localhost:{}:127.0.0.1", server.addr.port());
    let out = curl(&[
        "-k",
        "--http1.1",
        "--resolve",
        &resolve,
        "-w",
        " %{local_ip}:%{local_port}",
        &format!("https://localhost:{}/peer", server.addr.port()),
    ]);
    let (said, client) = out.rsplit_once(' ').unwrap();
    assert_eq!(said, format!("{client} {} true", server.addr));
}

/// Without `with_connect_info` no request carries a `ConnectInfo` (it costs allocations).
#[test]
fn connect_info_is_only_there_when_asked_for() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let mut conn = connect(server.addr);
    conn.write_all(b"GET /peer HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let reply = read_to_close(&mut conn);
    assert!(reply.ends_with("\r\n\r\nno ConnectInfo"), "{reply}");
}

/// Over TLS the first head's deadline still counts from the accept: a client that takes most
/// of `header_read_timeout` for its handshake does not get the whole limit again for its head.
#[test]
fn the_header_timeout_over_tls_counts_from_the_accept() {
    use weft::http::rustls::{self, pki_types};
    let _lock = shared_lock();
    let (config, cert_der) = tls_config();
    let server = Server::start(|s| {
        s.tls(Arc::new(config))
            .header_read_timeout(Duration::from_secs(3))
    });
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(pki_types::CertificateDer::from(cert_der))
        .unwrap();
    let client_config = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = pki_types::ServerName::try_from("localhost").unwrap();
    let client = rustls::ClientConnection::new(Arc::new(client_config), name).unwrap();
    let mut tls = rustls::StreamOwned::new(client, connect(server.addr));
    // Two of the three seconds go before the handshake, and one and a half after it before
    // the head: the head comes after the deadline (waits only ever run longer).
    std::thread::sleep(Duration::from_secs(2));
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock).unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    let _ = tls.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut reply = Vec::new();
    let _ = tls.read_to_end(&mut reply);
    let reply = String::from_utf8_lossy(&reply);
    assert!(
        reply.is_empty() || reply.starts_with("HTTP/1.1 408 "),
        "served past the header timeout: {reply}"
    );
    drop(server);
}

#[test]
fn bad_input_is_answered_and_the_server_goes_on() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.max_body_size(1024));
    let addr = server.addr;
    let many_headers: String = (0..10_000).map(|i| format!("X-{i}: v\r\n")).collect();
    let big_header = format!("X-Big: {}\r\n", "a".repeat(200_000));
    let chunked_big: String = (0..8)
        .map(|_| format!("200\r\n{}\r\n", "b".repeat(512)))
        .collect();
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        ("garbage request line", b"HELLO THERE\r\n\r\n".to_vec(), 400),
        ("garbage bytes", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\r\n\r\n".to_vec(), 400),
        (
            "Content-Length and Transfer-Encoding",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two different Content-Lengths",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd".to_vec(),
            400,
        ),
        (
            "a Content-Length that is not a number",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3x\r\n\r\nabc".to_vec(),
            400,
        ),
        (
            "transfer codings that do not end in chunked",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n3\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a malformed chunk",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a 200 KB header",
            format!("GET / HTTP/1.1\r\nHost: t\r\n{big_header}\r\n").into_bytes(),
            431,
        ),
        (
            "10,000 headers",
            format!("GET / HTTP/1.1\r\nHost: t\r\n{many_headers}\r\n").into_bytes(),
            431,
        ),
        ("no Host", b"GET / HTTP/1.1\r\n\r\n".to_vec(), 400),
        (
            "two Hosts",
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a request line that is not UTF-8",
            b"GET /\xff\xfe\xc3 HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a target that is not a URI",
            b"GET http://[::1/ HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            400,
        ),
        ("HTTP/2.0", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n".to_vec(), 505),
        (
            "a Content-Length over the limit",
            [
                &b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n"[..],
                &[b'c'; 5000][..],
            ]
            .concat(),
            413,
        ),
        (
            "bytes after a chunk size",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3 4\r\nabc\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a bare LF ending a chunk-size line with an extension",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n2;\nxx\r\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a bare LF after chunk data",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\n0\r\n\r\n".to_vec(),
            400,
        ),
        (
            "a trailer section of 100 KB",
            format!(
                "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n{}\r\n",
                format!("X-T: {}\r\n", "t".repeat(1000)).repeat(100)
            )
            .into_bytes(),
            400,
        ),
        (
            "a chunked body over the limit",
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunked_big}0\r\n\r\n")
                .into_bytes(),
            413,
        ),
        (
            "a handler that panics",
            b"GET /panic HTTP/1.1\r\nHost: t\r\n\r\n".to_vec(),
            500,
        ),
    ];
    for (what, raw, status) in cases {
        let reply = exchange(addr, &raw);
        assert_eq!(status_of(&reply), status, "{what}: {reply}");
        assert!(
            reply.to_ascii_lowercase().contains("connection: close"),
            "{what}: {reply}"
        );
        assert_serving(addr);
    }
}

#[test]
fn a_handler_error_is_a_500_and_the_connection_stays() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(b"GET /err HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 500);
    let ok = read_reply(&mut reader);
    assert_eq!((ok.status, &ok.body[..]), (200, &b"hello"[..]));
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(
            b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n\
              POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 6\r\n\r\nsecond\
              GET /method HTTP/1.1\r\nHost: t\r\n\r\n\
              HEAD / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let first = read_reply(&mut reader);
    assert_eq!((first.status, &first.body[..]), (200, &b"slow done"[..]));
    let second = read_reply(&mut reader);
    assert_eq!(&second.body[..], b"second");
    let third = read_reply(&mut reader);
    assert_eq!(&third.body[..], b"GET");
    // HEAD: the length a GET would have, no body, and the close the client asked for.
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    let lower = rest.to_ascii_lowercase();
    assert!(rest.starts_with("HTTP/1.1 200 OK\r\n"), "{rest}");
    assert!(lower.contains("content-length: 5\r\n"), "{rest}");
    assert!(lower.contains("connection: close\r\n"), "{rest}");
    assert!(rest.ends_with("\r\n\r\n"), "HEAD got a body: {rest}");
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_read() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "HTTP/1.1 100 Continue\r\n");
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "\r\n");
    writer.write_all(b"body").unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, &reply.body[..]), (200, &b"body"[..]));
}

/// RFC 9110 section 10.1.1: an expectation the server cannot meet (anything but
/// 100-continue) gets 417, before the body is read and without calling the handler.
#[test]
fn an_expectation_other_than_100_continue_gets_417() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    for expect in ["bogus", "100-continue, x-more", "100-continue=1"] {
        let request = format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: {expect}\r\n\r\nbody"
        );
        let reply = exchange(server.addr, request.as_bytes());
        assert_eq!(status_of(&reply), 417, "{expect}: {reply}");
        assert!(!reply.contains("100 Continue"), "{reply}");
        assert!(
            reply.to_ascii_lowercase().contains("connection: close"),
            "{reply}"
        );
    }
    assert_eq!(server.seen.requests.load(Ordering::SeqCst), 0);
    // An empty member means nothing; the case of 100-continue does not matter.
    let reply = exchange(
        server.addr,
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nConnection: close\r\nExpect: , 100-CONTINUE\r\n\r\nbody",
    );
    assert_eq!(status_of(&reply), 200, "{reply}");
    assert!(reply.ends_with("\r\n\r\nbody"), "{reply}");
    assert_serving(server.addr);
}

/// RFC 9110 section 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored.
#[test]
fn expect_100_continue_in_http_1_0_is_ignored() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let mut conn = connect(server.addr);
    conn.write_all(b"POST /echo HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
        .unwrap();
    // Give the server time to read the head alone (were it to answer 100, it would now).
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(b"body").unwrap();
    let reply = read_to_close(&mut conn);
    assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nbody"), "{reply}");
}

#[test]
fn http_1_0_is_served_and_closed() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let reply = exchange(server.addr, b"GET /stream HTTP/1.0\r\n\r\n");
    assert_eq!(status_of(&reply), 200, "{reply}");
    // No chunked coding for HTTP/1.0: the body runs to the close.
    assert!(
        !reply.to_ascii_lowercase().contains("transfer-encoding"),
        "{reply}"
    );
    assert!(reply.ends_with("\r\n\r\none,two,three"), "{reply}");
    // Keep-alive when asked for.
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        .unwrap();
    let first = read_reply(&mut reader);
    assert!(
        first
            .head
            .to_ascii_lowercase()
            .contains("connection: keep-alive"),
        "{}",
        first.head
    );
    writer.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let second = read_reply(&mut reader);
    assert_eq!(&second.body[..], b"hello");
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
}

#[test]
fn a_slow_head_is_cut_off_while_others_are_served() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.header_read_timeout(Duration::from_millis(500)));
    let addr = server.addr;
    let slow = std::thread::spawn(move || {
        let mut conn = connect(addr);
        // Reading with a 100 ms timeout paces the bytes and sees the answer when it comes.
        conn.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let head = b"GET / HTTP/1.1\r\nHost: t\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
        let mut got = Vec::new();
        let mut sent = 0;
        let started = Instant::now();
        while sent < head.len() && started.elapsed() < DEADLINE {
            if conn.write_all(&head[sent..sent + 1]).is_err() {
                break;
            }
            sent += 1;
            let mut buf = [0u8; 1024];
            match conn.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    break;
                }
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => break,
            }
        }
        conn.set_read_timeout(Some(DEADLINE)).unwrap();
        got.extend_from_slice(read_to_close(&mut conn).as_bytes());
        (sent, head.len(), String::from_utf8_lossy(&got).into_owned())
    });
    // Meanwhile other clients are served.
    for _ in 0..3 {
        assert_serving(addr);
    }
    let (sent, total, reply) = slow.join().unwrap();
    assert!(sent < total, "the slow client sent its whole head");
    assert_eq!(status_of(&reply), 408, "{reply}");
    assert_serving(addr);
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_idle_timeout() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.idle_timeout(Duration::from_millis(200)));
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut reader).status, 200);
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn graceful_shutdown_finishes_requests_and_closes_idle_connections() {
    let _lock = shared_lock();
    let mut server = Server::start(|s| s);
    let addr = server.addr;
    // An idle kept-alive connection.
    let idle = connect(addr);
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    let mut idle_writer = idle;
    idle_writer
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut idle_reader).status, 200);
    // A request in flight.
    let busy = connect(addr);
    let mut busy_reader = BufReader::new(busy.try_clone().unwrap());
    let mut busy_writer = busy;
    busy_writer
        .write_all(b"GET /slow HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let seen = server.seen.clone();
    weft::block_on(weft::timeout(
        async move { seen.slow_started.wait().await },
        DEADLINE,
    ))
    .expect("the slow request did not start");

    let stop = server.stop.clone();
    let task = server.task.take().unwrap();
    stop.set();
    // The idle connection is closed at once: its read sees the end of the stream.
    let mut rest = Vec::new();
    idle_reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
    // The request in flight completes, told that the connection closes.
    let reply = read_reply(&mut busy_reader);
    assert_eq!((reply.status, &reply.body[..]), (200, &b"slow done"[..]));
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("connection: close"),
        "{}",
        reply.head
    );
    let mut rest = Vec::new();
    busy_reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    // serve returns, and the port takes no more connections.
    weft::block_on(weft::timeout(task, DEADLINE))
        .expect("serve did not return")
        .unwrap();
    let refused = TcpStream::connect(addr).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::ConnectionRefused);
}

/// A handler that passes on a body as it arrives (a proxy: the weft client's response body,
/// whose length is known) sends each piece as it comes. The upstream sends its second half
/// only once the downstream client has seen the first, so a held-back first half would stall
/// the exchange until the upstream gives up.
#[test]
fn a_proxied_body_of_known_length_is_sent_as_it_arrives() {
    let _lock = shared_lock();
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = upstream.accept() else {
            return;
        };
        tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut line = String::new();
        for _ in 0..100 {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
        }
        let mut w = tcp;
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello");
        let _ = seen_rx.recv_timeout(DEADLINE);
        let _ = w.write_all(b"world");
    });
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Event::new());
    let signal = stop.clone();
    let client = weft::http::Client::new();
    let server = weft::spawn(std::future::IntoFuture::into_future(
        weft::http::serve(listener, move |_req: Request<Body>| {
            let client = client.clone();
            async move {
                let res = client.get(format!("http://{up_addr}/")).send().await?;
                Ok::<_, weft::http::Error>(Response::new(res.into_body()))
            }
        })
        .with_graceful_shutdown(async move { signal.wait().await }),
    ));
    let mut conn = connect(addr);
    conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..1000 {
        if got.ends_with(b"\r\n\r\nhello") {
            break;
        }
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let _ = seen_tx.send(());
    let first = String::from_utf8_lossy(&got).into_owned();
    assert!(first.ends_with("\r\n\r\nhello"), "held back: {first:?}");
    assert_eq!(read_to_close(&mut conn), "world");
    stop.set();
    weft::block_on(weft::timeout(server, DEADLINE))
        .expect("serve did not return")
        .unwrap();
}

#[test]
fn a_handler_response_with_a_1xx_status_is_sent_as_a_500() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(
            b"GET /informational HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
        )
        .unwrap();
    let first = read_reply(&mut reader);
    assert_eq!(first.status, 500, "{}", first.head);
    let next = read_reply(&mut reader);
    assert_eq!((next.status, &next.body[..]), (200, &b"hello"[..]));
}

#[test]
fn a_head_response_keeps_the_content_length_its_handler_set() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(b"HEAD /announced HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // A HEAD response has no body, whatever its content-length says.
    let mut head = String::new();
    for _ in 0..50 {
        if reader.read_line(&mut head).unwrap() == 0 || head.ends_with("\r\n\r\n") {
            break;
        }
    }
    let lower = head.to_ascii_lowercase();
    assert!(lower.starts_with("http/1.1 200"), "{head}");
    assert!(lower.contains("content-length: 1234\r\n"), "{head}");
    // The connection is in step: a GET of the same path has the body it has (none).
    writer
        .write_all(b"GET /announced HTTP/1.1\r\nHost: t\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let get = read_reply(&mut reader);
    assert_eq!((get.status, get.body.len()), (200, 0), "{}", get.head);
    let next = read_reply(&mut reader);
    assert_eq!(&next.body[..], b"hello");
}

#[test]
fn a_crlf_after_a_request_leaves_the_connection_idle_for_graceful_shutdown() {
    let _lock = shared_lock();
    // The header timeout is far beyond the test's deadline: only the idle close can end it.
    let mut server = Server::start(|s| s.header_read_timeout(Duration::from_secs(3600)));
    let conn = connect(server.addr);
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut writer = conn;
    writer
        .write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\r\n")
        .unwrap();
    let reply = read_reply(&mut reader);
    assert_eq!((reply.status, &reply.body[..]), (200, &b"hi"[..]));
    // The connection is idle: shutdown closes it, and serve returns.
    server.shutdown().unwrap();
    let mut rest = Vec::new();
    reader.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{rest:?}");
}

#[test]
fn shutdown_timeout_stops_connections_that_do_not_finish() {
    let _lock = shared_lock();
    let mut server = Server::start(|s| s.shutdown_timeout(Duration::from_millis(200)));
    let mut busy = connect(server.addr);
    busy.write_all(b"GET /forever HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let seen = server.seen.clone();
    weft::block_on(weft::timeout(
        async move { seen.slow_started.wait().await },
        DEADLINE,
    ))
    .expect("the request did not start");
    server.shutdown().unwrap();
    // Its connection was closed without an answer.
    assert_eq!(read_to_close(&mut busy), "");
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

#[test]
fn ten_thousand_requests_on_500_connections_leak_no_descriptors() {
    let _lock = exclusive_lock();
    let server = Server::start(|s| s);
    let addr = server.addr;
    assert_serving(addr);
    let before = open_fds();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut answered = 0;
                for _ in 0..125 {
                    let conn = connect(addr);
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    let mut writer = conn;
                    for i in 0..20 {
                        let close = if i == 19 { "Connection: close\r\n" } else { "" };
                        let req = format!("GET /{i} HTTP/1.1\r\nHost: t\r\n{close}\r\n");
                        writer.write_all(req.as_bytes()).unwrap();
                        let reply = read_reply(&mut reader);
                        assert_eq!((reply.status, &reply.body[..]), (200, &b"hello"[..]));
                        answered += 1;
                    }
                }
                answered
            })
        })
        .collect();
    let answered: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(answered, 10_000);
    assert!(server.seen.requests.load(Ordering::SeqCst) >= 10_000);
    // The server closes its ends as the clients close theirs; give it a moment to get there.
    let started = Instant::now();
    let mut now = open_fds();
    while now > before + 8 && started.elapsed() < DEADLINE {
        std::thread::sleep(Duration::from_millis(20));
        now = open_fds();
    }
    assert!(
        now <= before + 8,
        "descriptors: {before} before, {now} after 500 connections"
    );
}

#[test]
fn accepting_waits_while_max_connections_are_open() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.max_connections(1));
    let first = connect(server.addr);
    let mut first_reader = BufReader::new(first.try_clone().unwrap());
    let mut first_writer = first;
    first_writer
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    assert_eq!(read_reply(&mut first_reader).status, 200);
    // The second connection waits in the listen queue while the first is open: it is not
    // answered (however long it waited, a correct server could not answer it).
    let mut second = connect(server.addr);
    second
        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    second
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 64];
    let early = second.read(&mut buf);
    assert!(
        matches!(&early, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut)),
        "answered past max_connections: {early:?}"
    );
    // Once the first closes, the second is served.
    drop(first_writer);
    drop(first_reader);
    second.set_read_timeout(Some(DEADLINE)).unwrap();
    let reply = read_to_close(&mut second);
    assert_eq!(status_of(&reply), 200, "{reply}");
}

#[test]
fn a_body_stream_that_fails_cuts_the_response_short() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    for path in ["/broken", "/panicky-body"] {
        let raw = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
        let reply = exchange(server.addr, raw.as_bytes());
        assert_eq!(status_of(&reply), 200, "{reply}");
        assert!(
            reply
                .to_ascii_lowercase()
                .contains("transfer-encoding: chunked"),
            "{reply}"
        );
        // No last chunk: the client can tell the body is incomplete.
        assert!(!reply.ends_with("0\r\n\r\n"), "{path}: {reply}");
        assert_serving(server.addr);
    }
}

/// A response type whose conversion panics.
struct PanicsOnConversion;

impl weft::http::IntoResponse for PanicsOnConversion {
    fn into_response(self) -> Response<Body> {
        panic!("the conversion panicked on purpose")
    }
}

#[test]
fn a_panicking_into_response_is_a_500() {
    let _lock = shared_lock();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Event::new());
    let signal = stop.clone();
    let task = weft::spawn(async move {
        weft::http::serve(listener, |_: Request<Body>| async { PanicsOnConversion })
            .with_graceful_shutdown(async move { signal.wait().await })
            .await
    });
    let reply = exchange(addr, b"GET / HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(status_of(&reply), 500, "{reply}");
    stop.set();
    weft::block_on(weft::timeout(task, DEADLINE))
        .expect("serve did not return")
        .unwrap();
}

/// Set in the environment of a child run of this binary (see the next tests).
const CHILD: &str = "WEFT_HTTP_TEST_CHILD";

/// Runs test `name` alone in a child process (its shell command line starting with `prefix`)
/// and returns whether it passed and what it wrote to stderr.
fn run_child(name: &str, prefix: &str) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("{prefix}exec \"$0\" \"$@\""))
        .arg(exe)
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(CHILD, name)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the child run of {name} did not finish");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status.success(), reader.join().unwrap())
}

/// With the body limit lifted, a request that announces an enormous body and sends a few bytes
/// makes the server reserve memory for what arrives, not for what is announced (a failed
/// allocation would abort the process: the test runs in a child).
#[test]
fn an_enormous_content_length_reserves_no_memory_up_front() {
    const NAME: &str = "an_enormous_content_length_reserves_no_memory_up_front";
    if std::env::var(CHILD).as_deref() != Ok(NAME) {
        let _lock = shared_lock();
        let (ok, stderr) = run_child(NAME, "");
        assert!(ok, "the child run failed: {stderr}");
        return;
    }
    let server = Server::start(|s| s.max_body_size(u64::MAX));
    let mut conn = connect(server.addr);
    conn.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 9000000000000000000\r\n\r\na",
    )
    .unwrap();
    // Separate writes, read one at a time: the body is gathered from several pieces.
    for piece in [b"b", b"c"] {
        std::thread::sleep(Duration::from_millis(100));
        conn.write_all(piece).unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    drop(conn);
    assert_serving(server.addr);
}

#[test]
fn handler_errors_and_panics_are_reported_on_stderr() {
    const NAME: &str = "handler_errors_and_panics_are_reported_on_stderr";
    if std::env::var(CHILD).as_deref() != Ok(NAME) {
        let _lock = shared_lock();
        let (ok, stderr) = run_child(NAME, "");
        assert!(ok, "the child run failed: {stderr}");
        assert!(
            stderr.contains("weft::http: the handler failed on GET /err: body error"),
            "{stderr}"
        );
        assert!(
            stderr.contains(
                "weft::http: the handler panicked on POST /panic: the handler panicked on purpose"
            ),
            "{stderr}"
        );
        return;
    }
    let server = Server::start(|s| s);
    let reply = exchange(
        server.addr,
        b"GET /err HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 500, "{reply}");
    // The client is told nothing about the error.
    assert!(!reply.contains("body error"), "{reply}");
    let reply = exchange(
        server.addr,
        b"POST /panic HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 500, "{reply}");
}

#[test]
fn the_server_keeps_serving_when_descriptors_run_out() {
    const NAME: &str = "the_server_keeps_serving_when_descriptors_run_out";
    if std::env::var(CHILD).as_deref() != Ok(NAME) {
        // Run in a child process with a small descriptor limit, so that filling the table
        // touches no other test.
        let _lock = shared_lock();
        let (ok, stderr) = run_child(NAME, "ulimit -Sn 256 && ");
        assert!(ok, "the child run failed: {stderr}");
        return;
    }

    let server = Server::start(|s| s);
    assert_serving(server.addr);
    // Eight client sockets made now, connected once the table is full.
    let sockets: Vec<socket2::Socket> = (0..8)
        .map(|_| socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap())
        .collect();
    // Fill the descriptor table, then free three: the server can accept three connections
    // at a time, and its accept meets EMFILE for the others until those close.
    let mut filler = Vec::new();
    for _ in 0..10_000 {
        match std::fs::File::open("/dev/null") {
            Ok(f) => filler.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(24), "{e}"); // EMFILE
                break;
            }
        }
    }
    assert!(filler.len() > 3, "the descriptor table did not fill");
    filler.truncate(filler.len() - 3);
    let mut conns: Vec<TcpStream> = sockets
        .into_iter()
        .map(|s| {
            s.connect(&server.addr.into()).unwrap();
            let conn: TcpStream = s.into();
            conn.set_read_timeout(Some(DEADLINE)).unwrap();
            conn.set_write_timeout(Some(DEADLINE)).unwrap();
            conn
        })
        .collect();
    for conn in &mut conns {
        conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            .unwrap();
    }
    // Each answer read and its connection dropped frees a descriptor for the next accept.
    for mut conn in conns {
        let reply = read_to_close(&mut conn);
        assert_eq!(status_of(&reply), 200, "{reply}");
    }
    drop(filler);
    assert_serving(server.addr);
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_idle_timeout() {
    let _lock = shared_lock();
    let server = Server::start(|s| s.idle_timeout(Duration::from_millis(100)));
    let mut conn = connect(server.addr);
    conn.write_all(b"GET /big HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    // Read nothing for a while: the server's write stalls on full buffers and times out.
    std::thread::sleep(Duration::from_secs(2));
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    for _ in 0..100_000 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < BIG, "the whole body arrived: {got} bytes");
    assert_serving(server.addr);
}

/// xorshift64*: a small deterministic generator for the mutation test.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

#[test]
fn mutated_requests_never_panic_the_server() {
    let _lock = exclusive_lock();
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(Event::new());
    let signal = stop.clone();
    let task = weft::spawn(async move {
        weft::http::serve(listener, |req: Request<Body>| async move {
            let len = req.into_body().bytes().await.map_or(0, |b| b.len());
            Response::new(Body::from(format!("{len}")))
        })
        .max_body_size(4096)
        .with_graceful_shutdown(async move { signal.wait().await })
        .await
    });
    let templates: [&[u8]; 4] = [
        b"GET /a?b=c HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello",
        b"POST /p HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nT: v\r\n\r\n",
        b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\n\r\n",
    ];
    let alphabet = b"\r\n :;,0123456789abcdefABCDEF/?#%\x00\x7f\xff\tHTTP/1.1chunked";
    let mut rng = Rng(0x5eed_1234_abcd_9876);
    let mut answered = 0;
    for _ in 0..2000 {
        let mut raw = templates[rng.below(templates.len())].to_vec();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(raw.len() + 1);
            let byte = alphabet[rng.below(alphabet.len())];
            match rng.below(3) {
                0 if at < raw.len() => raw[at] = byte,
                1 if at < raw.len() => {
                    raw.remove(at);
                }
                _ => raw.insert(at, byte),
            }
        }
        let mut conn = connect(addr);
        let _ = conn.write_all(&raw);
        let _ = conn.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = conn.read_to_end(&mut out);
        if out.starts_with(b"HTTP/1.1 ") {
            answered += 1;
        }
    }
    let panics = PANICS.load(Ordering::SeqCst);
    std::panic::set_hook(previous);
    assert_eq!(panics, 0, "the server panicked on mutated input");
    assert!(answered > 0);
    let reply = exchange(
        addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status_of(&reply), 200, "{reply}");
    assert!(reply.ends_with("\r\n\r\n0"), "{reply}");
    stop.set();
    weft::block_on(weft::timeout(task, DEADLINE))
        .expect("serve did not return")
        .unwrap();
}

#[test]
fn weft_client_against_weft_server() {
    let _lock = shared_lock();
    let server = Server::start(|s| s);
    let base = format!("http://{}", server.addr);
    weft::block_on(async move {
        let client = weft::http::Client::new();
        for i in 0..20 {
            let res = client.get(format!("{base}/")).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.text().await.unwrap(), "hello");
            let body = format!("request {i}");
            let res = client
                .post(format!("{base}/echo"))
                .body(body.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(res.text().await.unwrap(), body);
        }
        let res = client.get(format!("{base}/stream")).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "one,two,three");
        let res = client.get(format!("{base}/err")).send().await.unwrap();
        assert_eq!(res.status(), 500);
    });
}
