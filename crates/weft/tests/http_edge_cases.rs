//! Probes of `weft::http` as a user of other HTTP stacks would write them: request framing
//! and smuggling, keep-alive across odd responses, the client's pool against misbehaving
//! servers, limits, timeouts and graceful shutdown.
//!
//! Every socket is on 127.0.0.1 with read and write timeouts, every loop is bounded, and every
//! wait has a "did not hang" deadline of seconds; nothing is asserted about how long things take.
//! A probe of behaviour that is still open is `#[ignore]`d with the reason; run it with
//! `--ignored`.

#![cfg(feature = "http")]

mod common;

use common::{
    connect, exchange, kept_alive, read_reply_to, read_to_close, statuses, Server, DEADLINE,
};
use std::future::Future;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::http::{header, Body, Client, HeaderValue, Request, Response, StatusCode};

impl Server {
    /// A server of [`default_handler`], configured by `configure`.
    fn start(
        configure: impl FnOnce(weft::http::Serve<common::Handler>) -> weft::http::Serve<common::Handler>,
    ) -> Server {
        Server::with(configure, default_handler)
    }
}

async fn default_handler(req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/echo" => Response::new(req.into_body()),
        "/len" => {
            let n = req.into_body().bytes().await.map_or(0, |b| b.len());
            Response::new(Body::from(format!("{n}")))
        }
        _ => Response::new(Body::from("hello")),
    }
}

// ---------------------------------------------------------------------------------------------
// Server: framing and smuggling.

#[test]
fn probe_transfer_encoding_tricks_are_refused() {
    let server = Server::start(|s| s);
    for (what, raw) in [
        (
            "xchunked",
            &b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"[..],
        ),
        (
            "space before the colon",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding : chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        (
            "obs-fold",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: identity\r\n chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        (
            "chunked twice",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        (
            "CL and TE",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        ),
        (
            "a chunk size that overflows",
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n10000000000000003\r\nabc\r\n0\r\n\r\n",
        ),
    ] {
        let reply = exchange(server.addr, raw);
        assert_eq!(statuses(&reply), vec![400], "{what}: {reply}");
    }
}

#[test]
fn probe_chunk_sizes_with_leading_zeros_frame_exactly() {
    let server = Server::start(|s| s);
    let raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
        0003\r\nabc\r\n00\r\n\r\nGET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let reply = exchange(server.addr, raw);
    assert_eq!(statuses(&reply), vec![200, 200], "{reply}");
    assert!(reply.contains("\r\n\r\nabc"), "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
}

/// RFC 9112 7.1: after the chunk size only `;` extensions (with optional whitespace) may
/// follow. A size line such as `3 junk` or `3 4` is something a front end may read another
/// way, so it must be refused rather than read as 3.
#[test]
fn probe_junk_after_the_chunk_size_is_refused() {
    let server = Server::start(|s| s);
    for line in ["3 junk", "3 4", "3\tx"] {
        let raw = format!(
            "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{line}\r\nabc\r\n0\r\n\r\n"
        );
        let reply = exchange(server.addr, raw.as_bytes());
        assert_eq!(statuses(&reply), vec![400], "{line:?}: {reply}");
    }
    // Whitespace before an extension is allowed (BWS).
    let raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3 ;a=b\r\nabc\r\n0\r\n\r\n";
    let reply = exchange(server.addr, raw);
    assert_eq!(statuses(&reply), vec![200], "{reply}");
    assert!(reply.ends_with("\r\n\r\nabc"), "{reply}");
}

/// A bare LF inside a chunk line is where front ends and back ends disagree about where a
/// chunk starts (one reads `2;\nxx` as one extension line, the other as a size line and data):
/// chunk lines must end in CRLF.
#[test]
fn probe_a_bare_lf_in_chunk_framing_is_refused() {
    let server = Server::start(|s| s);
    for body in [
        "2;\nxx\r\n0\r\n\r\n",
        "3\nabc\r\n0\r\n\r\n",
        "3\r\nabc\n0\r\n\r\n",
        "3\r\nabc\r\n0\n\n",
    ] {
        let raw =
            format!("POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}");
        let mut conn = connect(server.addr);
        conn.write_all(raw.as_bytes()).unwrap();
        // Enough time to answer; then the end of input.
        let _ = conn.shutdown(Shutdown::Write);
        let reply = read_to_close(&mut conn);
        assert_eq!(statuses(&reply), vec![400], "{body:?}: {reply}");
    }
}

#[test]
fn probe_pipelined_requests_after_a_chunked_body_with_trailers() {
    let server = Server::start(|s| s);
    let raw = b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n\
        5;ext=1\r\nhello\r\n0\r\nX-Trailer: yes\r\nX-Other: 2\r\n\r\n\
        POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nworld\
        GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let reply = exchange(server.addr, raw);
    assert_eq!(statuses(&reply), vec![200, 200, 200], "{reply}");
    let bodies: Vec<&str> = reply
        .split("HTTP/1.1 ")
        .skip(1)
        .map(|r| r.split("\r\n\r\n").nth(1).unwrap_or(""))
        .collect();
    assert_eq!(bodies, ["hello", "world", "hello"], "{reply}");
}

/// Trailer fields are not part of the body, but they are bytes a client makes the server read:
/// an endless trailer section must be cut off, not read for as long as the client sends it.
#[test]
fn probe_an_endless_trailer_section_is_cut_off() {
    let server = Server::start(|s| s.max_body_size(1024).max_header_size(8192));
    let mut conn = connect(server.addr);
    conn.write_all(
        b"POST /len HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n",
    )
    .unwrap();
    let line = format!("X-T: {}\r\n", "t".repeat(1000));
    // 16 MiB of trailers at most; the server should have given up long before.
    let mut cut = false;
    for _ in 0..16_000 {
        if conn.write_all(line.as_bytes()).is_err() {
            cut = true;
            break;
        }
    }
    if !cut {
        let _ = conn.write_all(b"\r\n");
    }
    let reply = read_to_close(&mut conn);
    assert!(
        cut || statuses(&reply).first().is_some_and(|s| *s >= 400),
        "16 MiB of trailers were read: {reply}"
    );
}

// ---------------------------------------------------------------------------------------------
// Server: keep-alive around responses without bodies.

#[test]
fn probe_head_204_and_304_keep_the_connection_in_step() {
    let server = Server::with(
        |s| s,
        |req| {
            Box::pin(async move {
                let mut res = Response::new(Body::from("a body that must not be sent"));
                *res.status_mut() = match req.uri().path() {
                    "/204" => StatusCode::NO_CONTENT,
                    "/304" => StatusCode::NOT_MODIFIED,
                    _ => StatusCode::OK,
                };
                res
            })
        },
    );
    let (mut r, mut w) = kept_alive(server.addr);
    w.write_all(b"HEAD / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let head = read_reply_to(&mut r, true);
    assert_eq!(head.status, 200);
    assert!(
        head.head
            .to_ascii_lowercase()
            .contains("content-length: 28"),
        "{}",
        head.head
    );
    for path in ["/204", "/304"] {
        w.write_all(format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n").as_bytes())
            .unwrap();
        let reply = read_reply_to(&mut r, false);
        assert_eq!(reply.status.to_string(), path[1..]);
        let lower = reply.head.to_ascii_lowercase();
        assert!(!lower.contains("transfer-encoding"), "{lower}");
    }
    w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_reply_to(&mut r, false);
    assert_eq!(
        (last.status, &last.body[..]),
        (200, &b"a body that must not be sent"[..])
    );
    let mut rest = Vec::new();
    r.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

/// A HEAD handler that announces the size of what GET would send (as a static file server
/// does) with an empty body: the `content-length` it set is the answer, not 0.
#[test]
fn probe_a_head_response_keeps_the_content_length_the_handler_set() {
    let server = Server::with(
        |s| s,
        |_req| {
            Box::pin(async move {
                let mut res = Response::new(Body::empty());
                res.headers_mut()
                    .insert(header::CONTENT_LENGTH, HeaderValue::from_static("1234"));
                res
            })
        },
    );
    let (mut r, mut w) = kept_alive(server.addr);
    w.write_all(b"HEAD /file HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let reply = read_reply_to(&mut r, true);
    assert!(
        reply
            .head
            .to_ascii_lowercase()
            .contains("content-length: 1234"),
        "{}",
        reply.head
    );
    // And the connection is still in step.
    w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n").unwrap();
    let next = read_reply_to(&mut r, false);
    assert_eq!(next.status, 200);
}

#[test]
fn probe_http_1_0_keep_alive_serves_several_requests() {
    let server = Server::start(|s| s);
    let (mut r, mut w) = kept_alive(server.addr);
    for _ in 0..3 {
        w.write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let reply = read_reply_to(&mut r, false);
        assert_eq!((reply.status, &reply.body[..]), (200, &b"hello"[..]));
    }
}

/// A handler may only give a final response: a 1xx from it would leave the client waiting for
/// the final one forever.
#[test]
fn probe_a_handler_that_returns_1xx_does_not_hang_the_client() {
    let server = Server::with(
        |s| s,
        |_req| Box::pin(async { StatusCode::CONTINUE.into_response_body() }),
    );
    let mut conn = connect(server.addr);
    conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        .unwrap();
    let _ = conn.set_read_timeout(Some(Duration::from_secs(3)));
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    for _ in 0..100 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let got = String::from_utf8_lossy(&got);
    let finals: Vec<u16> = statuses(&got).into_iter().filter(|s| *s >= 200).collect();
    assert!(!finals.is_empty(), "no final response: {got:?}");
}

trait IntoBody {
    fn into_response_body(self) -> Response<Body>;
}

impl IntoBody for StatusCode {
    fn into_response_body(self) -> Response<Body> {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = self;
        res
    }
}

// ---------------------------------------------------------------------------------------------
// Server: timeouts, limits, shutdown.

#[test]
fn probe_a_head_sent_slowly_within_the_header_timeout_is_served() {
    let server = Server::start(|s| s.header_read_timeout(Duration::from_secs(8)));
    let mut conn = connect(server.addr);
    for piece in [
        "GET / HT",
        "TP/1.1\r\nHo",
        "st: t\r\nConnection: close",
        "\r\n\r\n",
    ] {
        conn.write_all(piece.as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = read_to_close(&mut conn);
    assert_eq!(statuses(&reply), vec![200], "{reply}");
}

#[test]
fn probe_silent_connections_do_not_hold_max_connections_forever() {
    let server = Server::start(|s| {
        s.max_connections(2)
            .header_read_timeout(Duration::from_millis(500))
    });
    let silent: Vec<TcpStream> = (0..2).map(|_| connect(server.addr)).collect();
    let reply = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&reply), vec![200], "{reply}");
    drop(silent);
}

#[test]
fn probe_graceful_shutdown_finishes_a_request_caught_mid_body() {
    let mut server = Server::start(|s| s);
    let mut conn = connect(server.addr);
    conn.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    server.stop.set();
    std::thread::sleep(Duration::from_millis(200));
    conn.write_all(b"world").unwrap();
    let reply = read_to_close(&mut conn);
    assert_eq!(statuses(&reply), vec![200], "{reply}");
    assert!(reply.ends_with("\r\n\r\nhelloworld"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("connection: close"));
    server.try_shutdown().unwrap().unwrap();
}

/// Clients may send an extra CRLF after a request (RFC 9112 2.2 lets servers ignore it). The
/// connection is idle after the response all the same, so graceful shutdown closes it at once
/// rather than waiting out the header timeout.
#[test]
fn probe_a_trailing_crlf_does_not_hold_up_graceful_shutdown() {
    let mut server = Server::start(|s| s.header_read_timeout(Duration::from_secs(3600)));
    let (mut r, mut w) = kept_alive(server.addr);
    w.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\nhi\r\n")
        .unwrap();
    let reply = read_reply_to(&mut r, false);
    assert_eq!((reply.status, &reply.body[..]), (200, &b"hi"[..]));
    std::thread::sleep(Duration::from_millis(100));
    server
        .try_shutdown()
        .expect("serve waited on a connection that was idle but for a CRLF")
        .unwrap();
}

#[test]
fn probe_concurrent_clients_during_shutdown_get_whole_answers_or_refusals() {
    let mut server = Server::start(|s| s);
    let addr = server.addr;
    let whole = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let whole = whole.clone();
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let Ok(mut conn) = TcpStream::connect(addr) else {
                        return;
                    };
                    conn.set_read_timeout(Some(DEADLINE)).unwrap();
                    if conn
                        .write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
                        .is_err()
                    {
                        return;
                    }
                    let reply = read_to_close(&mut conn);
                    if reply.is_empty() {
                        continue;
                    }
                    assert_eq!(statuses(&reply), vec![200], "{reply}");
                    assert!(reply.ends_with("\r\n\r\nhello"), "a cut answer: {reply:?}");
                    whole.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    server.try_shutdown().unwrap().unwrap();
    for t in threads {
        t.join().unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// Client against raw servers.

/// A raw server on 127.0.0.1: `handle` gets each accepted connection and its index.
struct Raw {
    addr: SocketAddr,
    accepted: Arc<AtomicUsize>,
}

fn raw_server(handle: impl Fn(TcpStream, usize) + Send + Sync + 'static) -> Raw {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let handle = Arc::new(handle);
    std::thread::spawn(move || {
        for _ in 0..100 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(DEADLINE)).unwrap();
            tcp.set_write_timeout(Some(DEADLINE)).unwrap();
            let nth = count.fetch_add(1, Ordering::SeqCst);
            let handle = handle.clone();
            std::thread::spawn(move || handle(tcp, nth));
        }
    });
    Raw { addr, accepted }
}

/// Reads one request head (and a Content-Length body) from `r`; false at the end.
fn read_request(r: &mut BufReader<TcpStream>) -> bool {
    let mut len = 0usize;
    for i in 0..200 {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return false,
            Ok(_) => {}
        }
        if line == "\r\n" && i > 0 {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).is_ok()
}

async fn bounded<T>(f: impl Future<Output = T>) -> T {
    weft::timeout(f, Duration::from_secs(20))
        .await
        .expect("the test hung")
}

/// A server that sends more than its Content-Length: the extra bytes (here a whole fake
/// response) must not be read as the answer to the next request.
#[weft::test]
async fn probe_client_a_body_longer_than_its_length_does_not_poison_the_pool() {
    let server = raw_server(|tcp, nth| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for i in 0..10 {
            if !read_request(&mut r) {
                return;
            }
            if nth == 0 && i == 0 {
                let _ = w.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst\
                      HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nPOISON",
                );
            } else {
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood");
            }
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        let first = client.get(&url).send().await.unwrap().text().await.unwrap();
        assert_eq!(first, "first");
        for _ in 0..3 {
            let next = client.get(&url).send().await.unwrap().text().await.unwrap();
            assert_eq!(next, "good");
        }
    })
    .await;
}

/// The same, with the extra bytes arriving after the response was read.
#[weft::test]
async fn probe_client_late_extra_bytes_do_not_poison_the_pool() {
    let server = raw_server(|tcp, nth| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for i in 0..10 {
            if !read_request(&mut r) {
                return;
            }
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood");
            if nth == 0 && i == 0 {
                std::thread::sleep(Duration::from_millis(50));
                let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nPOISON");
            }
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        assert_eq!(
            client.get(&url).send().await.unwrap().text().await.unwrap(),
            "good"
        );
        weft::sleep(Duration::from_millis(300)).await;
        for _ in 0..3 {
            let next = client.get(&url).send().await.unwrap().text().await.unwrap();
            assert_eq!(next, "good");
        }
    })
    .await;
}

#[weft::test]
async fn probe_client_chunked_extensions_and_trailers_then_reuse() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for _ in 0..10 {
            if !read_request(&mut r) {
                return;
            }
            let _ = w.write_all(
                b"HTTP/1.1 103 Early Hints\r\nlink: </a.css>\r\n\r\n\
                  HTTP/1.1 100 Continue\r\n\r\n\
                  HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n\
                  3;name=value\r\nabc\r\n4 ; x\r\ndefg\r\n0\r\nx-checksum: 1\r\nx-more: 2\r\n\r\n",
            );
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        for _ in 0..3 {
            let res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert_eq!(res.text().await.unwrap(), "abcdefg");
        }
    })
    .await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[weft::test]
async fn probe_client_connection_close_then_a_new_connection() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        for _ in 0..3 {
            assert_eq!(
                client.get(&url).send().await.unwrap().text().await.unwrap(),
                "ok"
            );
        }
    })
    .await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 3);
}

#[weft::test]
async fn probe_client_redirects_keep_relative_paths_and_queries() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let record = seen.clone();
    let server = raw_server(move |tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for _ in 0..10 {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let target = line.split(' ').nth(1).unwrap_or("").to_owned();
            for _ in 0..100 {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            record.lock().unwrap().push(target.clone());
            let reply = match target.as_str() {
                "/a/b/start?x=1" => "HTTP/1.1 302 Found\r\nlocation: ../c/next?y=2&z=%20\r\ncontent-length: 0\r\n\r\n".to_owned(),
                "/a/c/next?y=2&z=%20" => "HTTP/1.1 301 Moved\r\nlocation: ?q=3\r\ncontent-length: 0\r\n\r\n".to_owned(),
                _ => format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{target}", target.len()),
            };
            let _ = w.write_all(reply.as_bytes());
        }
    });
    let client = Client::new();
    let res = bounded(
        client
            .get(format!("http://{}/a/b/start?x=1", server.addr))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        res.url().path_and_query().unwrap().as_str(),
        "/a/c/next?q=3"
    );
    assert_eq!(bounded(res.text()).await.unwrap(), "/a/c/next?q=3");
    assert_eq!(
        *seen.lock().unwrap(),
        ["/a/b/start?x=1", "/a/c/next?y=2&z=%20", "/a/c/next?q=3"]
    );
}

#[weft::test]
async fn probe_client_a_location_that_is_not_utf8_is_a_redirect_error() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ = w.write_all(
                b"HTTP/1.1 302 Found\r\nlocation: /\xff\xfe\r\ncontent-length: 0\r\n\r\n",
            );
        }
    });
    let err = bounded(Client::new().get(format!("http://{}/", server.addr)).send())
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
}

#[weft::test]
async fn probe_client_a_very_long_header_line_is_a_clear_error() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nx-long: ");
            let chunk = vec![b'a'; 64 * 1024];
            for _ in 0..64 {
                if w.write_all(&chunk).is_err() {
                    return;
                }
            }
            let _ = w.write_all(b"\r\ncontent-length: 0\r\n\r\n");
        }
    });
    let err = bounded(Client::new().get(format!("http://{}/", server.addr)).send())
        .await
        .unwrap_err();
    assert!(!err.is_timeout(), "{err}");
}

#[weft::test]
async fn probe_client_a_reset_mid_body_is_an_error() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\npartial");
            let _ = w.flush();
            std::thread::sleep(Duration::from_millis(100));
            // SO_LINGER 0: the close is a reset.
            let sock = socket2::SockRef::from(&w);
            let _ = sock.set_linger(Some(Duration::ZERO));
        }
    });
    let res = bounded(Client::new().get(format!("http://{}/", server.addr)).send())
        .await
        .unwrap();
    let err = bounded(res.bytes()).await.unwrap_err();
    assert!(err.is_body() || err.to_string().contains("reset"), "{err}");
}

#[weft::test]
async fn probe_client_a_chunked_body_cut_by_a_close_is_an_error() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ =
                w.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n");
        }
    });
    let res = bounded(Client::new().get(format!("http://{}/", server.addr)).send())
        .await
        .unwrap();
    assert!(bounded(res.bytes()).await.is_err());
}

/// A weft server that refuses a large upload early (413) while the weft client still sends
/// it: the client should report the 413 the server answered (as hyper and Go's net/http do),
/// not a reset.
#[weft::test]
async fn probe_client_sees_an_early_413_during_a_large_upload() {
    let server = Server::start(|s| s.max_body_size(1024));
    let body = vec![b'u'; 32 << 20];
    let res = bounded(
        Client::new()
            .post(format!("http://{}/echo", server.addr))
            .body(body)
            .send(),
    )
    .await;
    match res {
        Ok(res) => assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE),
        Err(e) => panic!("the client lost the server's 413: {e}"),
    }
}

/// A weft server answering a streaming response that fails midway: the weft client sees an
/// error, never a short body that looks complete.
#[weft::test]
async fn probe_client_sees_a_failing_streaming_response_as_an_error() {
    let server = Server::with(
        |s| s,
        |_req| {
            Box::pin(async {
                let parts = futures_lite::stream::iter([
                    Ok("partial,"),
                    Err(std::io::Error::other("the source failed")),
                ]);
                Response::new(Body::from_stream(parts))
            })
        },
    );
    let client = Client::new();
    for _ in 0..2 {
        let res = bounded(client.get(format!("http://{}/", server.addr)).send())
            .await
            .unwrap();
        assert!(bounded(res.text()).await.is_err());
    }
}

#[weft::test]
async fn probe_client_a_dropped_response_then_another_request() {
    let server = Server::start(|s| s);
    let client = Client::new();
    let url = format!("http://{}/echo", server.addr);
    for i in 0..5 {
        let res = bounded(client.post(&url).body(vec![b'z'; 200_000]).send())
            .await
            .unwrap();
        if i % 2 == 0 {
            drop(res);
        } else {
            assert_eq!(bounded(res.bytes()).await.unwrap().len(), 200_000);
        }
    }
    let res = bounded(client.post(&url).body("last").send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "last");
}

#[weft::test]
async fn probe_client_body_limit_stops_a_large_response() {
    let server = Server::with(
        |s| s,
        |_req| Box::pin(async { Response::new(Body::from(vec![b'L'; 1 << 20])) }),
    );
    let res = bounded(Client::new().get(format!("http://{}/", server.addr)).send())
        .await
        .unwrap();
    let err = bounded(res.into_body().limit(1000).bytes())
        .await
        .unwrap_err();
    assert!(err.is_body(), "{err}");
}

#[test]
fn probe_expect_100_continue_over_the_limit_gets_413_without_100() {
    let server = Server::start(|s| s.max_body_size(10));
    let mut conn = connect(server.addr);
    conn.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\nExpect: 100-continue\r\n\r\n",
    )
    .unwrap();
    let reply = read_to_close(&mut conn);
    assert_eq!(statuses(&reply), vec![413], "{reply}");
}

#[test]
fn probe_a_client_that_half_closes_after_its_request_gets_the_answer() {
    let server = Server::start(|s| s);
    let mut conn = connect(server.addr);
    conn.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc")
        .unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let reply = read_to_close(&mut conn);
    assert_eq!(statuses(&reply), vec![200], "{reply}");
    assert!(reply.ends_with("\r\n\r\nabc"), "{reply}");
}

#[weft::test]
async fn probe_client_head_and_304_responses_with_framing_headers_then_reuse() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for i in 0..10 {
            if !read_request(&mut r) {
                return;
            }
            let reply: &[u8] = match i {
                0 => b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n",
                1 => b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n",
                2 => b"HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n",
                3 => b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n",
                _ => b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone",
            };
            let _ = w.write_all(reply);
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        for _ in 0..2 {
            let res = client.head(&url).send().await.unwrap();
            assert_eq!(res.status(), 200);
            assert!(res.bytes().await.unwrap().is_empty());
        }
        for status in [304, 204] {
            let res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status(), status);
            assert!(res.bytes().await.unwrap().is_empty());
        }
        let res = client.get(&url).send().await.unwrap();
        assert_eq!(res.text().await.unwrap(), "done");
    })
    .await;
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

#[weft::test]
async fn probe_client_max_connections_per_host_survives_redirects_and_drops() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for _ in 0..20 {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            for _ in 0..100 {
                let mut h = String::new();
                if r.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let reply: &[u8] = if line.starts_with("GET /start") {
                b"HTTP/1.1 302 Found\r\nlocation: /end\r\ncontent-length: 5\r\n\r\nmoved"
            } else {
                b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n"
            };
            let _ = w.write_all(reply);
            if !line.starts_with("GET /start") {
                let _ = w.write_all(&vec![b'e'; 100_000]);
            }
        }
    });
    let client = Client::builder()
        .max_connections_per_host(1)
        .build()
        .unwrap();
    bounded(async {
        for i in 0..4 {
            let res = client
                .get(format!("http://{}/start", server.addr))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 200);
            if i % 2 == 0 {
                drop(res);
            } else {
                assert_eq!(res.bytes().await.unwrap().len(), 100_000);
            }
        }
    })
    .await;
}

#[test]
fn probe_origin_form_targets_that_look_odd_are_served() {
    let server = Server::with(
        |s| s,
        |req| {
            Box::pin(async move {
                Response::new(Body::from(
                    req.uri()
                        .path_and_query()
                        .map_or(String::new(), |p| p.to_string()),
                ))
            })
        },
    );
    for target in [
        "//a/b",
        "/a//b?x=1",
        "/%2F..%2F",
        "/a?b=c?d",
        "/~user/!$&'()*+,;=:@",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
        let reply = exchange(server.addr, raw.as_bytes());
        assert_eq!(statuses(&reply), vec![200], "{target}: {reply}");
        assert!(
            reply.ends_with(&format!("\r\n\r\n{target}")),
            "{target}: {reply}"
        );
    }
}

/// 1,500 mutated responses (bytes flipped, inserted, removed, cut): the client returns a
/// response or an error for each, never panics or hangs, and still works afterwards.
#[weft::test]
async fn probe_client_mutated_responses_never_panic() {
    let seeds: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5;e=1\r\nhello\r\n0\r\nx: y\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 302 Found\r\nlocation: /x?y#z\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nconnection: keep-alive\r\n\r\nto the end",
    ];
    let wires: Vec<Vec<u8>> = {
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        (0..1500)
            .map(|i| {
                let mut w = seeds[i % seeds.len()].to_vec();
                for _ in 0..(1 + next() % 4) {
                    let at = (next() as usize) % w.len().max(1);
                    match next() % 5 {
                        0 => w[at] = next() as u8,
                        1 => w.insert(at, next() as u8),
                        2 if w.len() > 1 => {
                            w.remove(at);
                        }
                        3 => w.truncate(at),
                        _ => {
                            let b =
                                [b'\r', b'\n', b':', b' ', b'0', b'f', b';'][next() as usize % 7];
                            w.insert(at, b);
                        }
                    }
                }
                w
            })
            .collect()
    };
    let wires = Arc::new(wires);
    let served = wires.clone();
    let count = Arc::new(AtomicUsize::new(0));
    let n = count.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for _ in 0..10_000 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            tcp.set_read_timeout(Some(DEADLINE)).unwrap();
            let mut r = BufReader::new(tcp.try_clone().unwrap());
            let mut w = tcp;
            // One request per connection, answered with the next wire, then closed.
            if read_request(&mut r) {
                let i = n.fetch_add(1, Ordering::SeqCst);
                if let Some(wire) = served.get(i) {
                    let _ = w.write_all(wire);
                } else {
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                }
            }
            let _ = w.shutdown(Shutdown::Both);
        }
    });
    let client = Client::builder()
        .timeout(Duration::from_secs(5))
        .redirect(weft::http::client::Policy::none())
        .build()
        .unwrap();
    let url = format!("http://{addr}/");
    bounded(async {
        for _ in 0..wires.len() {
            if let Ok(res) = client.get(&url).send().await {
                let _ = res.bytes().await;
            }
            if count.load(Ordering::SeqCst) >= wires.len() {
                break;
            }
        }
    })
    .await;
    assert!(count.load(Ordering::SeqCst) >= wires.len());
    // And the client still works.
    let res = bounded(client.get(&url).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "ok");
}

/// A handler that passes on a body as it arrives (a proxy: the weft client's response body,
/// whose length is known) must send what it has, not hold it back until 16 KiB gather. The
/// upstream sends its second half only once the downstream client has seen the first.
#[test]
fn probe_a_proxied_body_of_known_length_is_sent_as_it_arrives() {
    let (seen_tx, seen_rx) = std::sync::mpsc::channel::<()>();
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let up_addr = upstream.local_addr().unwrap();
    std::thread::spawn(move || {
        let Ok((tcp, _)) = upstream.accept() else {
            return;
        };
        tcp.set_read_timeout(Some(DEADLINE)).unwrap();
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if read_request(&mut r) {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhello");
            let _ = seen_rx.recv_timeout(DEADLINE);
            let _ = w.write_all(b"world");
        }
    });
    let client = Client::new();
    let server = Server::with(
        |s| s,
        move |_req| {
            let client = client.clone();
            Box::pin(async move {
                let res = client
                    .get(format!("http://{up_addr}/"))
                    .send()
                    .await
                    .unwrap();
                Response::new(res.into_body())
            })
        },
    );
    let mut conn = connect(server.addr);
    conn.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    let start = Instant::now();
    while !got.ends_with(b"\r\n\r\nhello") && start.elapsed() < DEADLINE {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let first = String::from_utf8_lossy(&got).into_owned();
    let _ = seen_tx.send(());
    assert!(first.ends_with("\r\n\r\nhello"), "held back: {first:?}");
    let rest = read_to_close(&mut conn);
    assert_eq!(rest, "world");
}

#[weft::test]
async fn probe_client_status_lines_without_a_reason_or_with_odd_codes() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for i in 0..10 {
            if !read_request(&mut r) {
                return;
            }
            let reply: &[u8] = match i {
                0 => b"HTTP/1.1 200\r\ncontent-length: 1\r\n\r\na",
                1 => b"HTTP/1.1 299 Whatever It Says\r\ncontent-length: 1\r\n\r\nb",
                _ => b"HTTP/1.1 599 \r\ncontent-length: 1\r\n\r\nc",
            };
            let _ = w.write_all(reply);
        }
    });
    let client = Client::new();
    let url = format!("http://{}/", server.addr);
    bounded(async {
        for (status, body) in [(200, "a"), (299, "b"), (599, "c")] {
            let res = client.get(&url).send().await.unwrap();
            assert_eq!(res.status().as_u16(), status);
            assert_eq!(res.text().await.unwrap(), body);
        }
    })
    .await;
}

/// A target longer than the `http` crate's URI limit (64 KiB) on a server whose head limit was
/// raised: a clear refusal (414, or at least 400), never a panic.
#[test]
fn probe_a_target_longer_than_a_uri_may_be_is_refused_clearly() {
    let server = Server::start(|s| s.max_header_size(1 << 20));
    let raw = format!(
        "GET /{} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        "a".repeat(70_000)
    );
    let reply = exchange(server.addr, raw.as_bytes());
    let got = statuses(&reply);
    assert!(got == vec![414] || got == vec![400], "{reply}");
    let reply = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&reply), vec![200], "{reply}");
}

/// A redirect whose body runs to the connection's close (no length, not chunked) on a server
/// that keeps the connection open: its connection cannot be reused, so there is no point in
/// reading that body, and reading it waits for as long as the server holds the connection.
#[weft::test]
async fn probe_client_a_close_delimited_redirect_body_is_not_waited_for() {
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let done_rx = Arc::new(std::sync::Mutex::new(done_rx));
    let server = raw_server(move |tcp, nth| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        if !read_request(&mut r) {
            return;
        }
        if nth == 0 {
            let _ = w.write_all(b"HTTP/1.1 302 Found\r\nlocation: /next\r\n\r\nmoved");
            // Holds the connection open until the test ends.
            let _ = done_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        } else {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        }
    });
    let client = Client::new();
    let res = weft::timeout(
        client.get(format!("http://{}/start", server.addr)).send(),
        Duration::from_secs(10),
    )
    .await;
    let _ = done_tx.send(());
    let res = res
        .expect("the redirect's close-delimited body was waited for")
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(bounded(res.text()).await.unwrap(), "ok");
}

/// Serves requests on `tcp` as an echo that answers each piece of the body as it arrives (as
/// hyper's echo example does), with a length for a body with one and chunked for a chunked
/// one, until the client closes (at most 10 requests).
fn echo_as_it_reads(tcp: TcpStream) {
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut w = tcp;
    let mut buf = vec![0u8; 64 * 1024];
    for _ in 0..10 {
        let mut len = None;
        let mut chunked = false;
        for i in 0..100 {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if i == 99 {
                return;
            }
            let lower = line.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse::<usize>().ok();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
        }
        if !chunked {
            let len = len.unwrap_or(0);
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
            if w.write_all(head.as_bytes()).is_err() {
                return;
            }
            let mut left = len;
            while left > 0 {
                let n = match r.read(&mut buf[..left.min(64 * 1024)]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if w.write_all(&buf[..n]).is_err() {
                    return;
                }
                left -= n;
            }
            continue;
        }
        if w.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            .is_err()
        {
            return;
        }
        for _ in 0..1_000_000 {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let Ok(size) = usize::from_str_radix(line.trim_end(), 16) else {
                return;
            };
            if size == 0 {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || w.write_all(b"0\r\n\r\n").is_err() {
                    return;
                }
                break;
            }
            let mut left = size;
            while left > 0 {
                let n = match r.read(&mut buf[..left.min(64 * 1024)]) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                let mut out = format!("{n:x}\r\n").into_bytes();
                out.extend_from_slice(&buf[..n]);
                out.extend_from_slice(b"\r\n");
                if w.write_all(&out).is_err() {
                    return;
                }
                left -= n;
            }
            let mut crlf = [0u8; 2];
            if r.read_exact(&mut crlf).is_err() || &crlf != b"\r\n" {
                return;
            }
        }
    }
}

/// A server that streams its answer while it still reads the request: a client that writes
/// the whole body before it reads anything deadlocks with it once both directions' buffers
/// are full. The connection goes back to the pool once both are done.
#[weft::test]
async fn probe_client_a_full_duplex_echo_of_a_large_body_does_not_deadlock() {
    let server = raw_server(|tcp, _| echo_as_it_reads(tcp));
    let client = Client::new();
    for _ in 0..2 {
        let body = vec![b'd'; 32 << 20];
        let res = weft::timeout(
            async {
                let res = client
                    .post(format!("http://{}/echo", server.addr))
                    .body(body)
                    .send()
                    .await?;
                res.bytes().await
            },
            Duration::from_secs(20),
        )
        .await
        .expect("the client and the echo server deadlocked");
        let res = res.unwrap();
        assert_eq!(res.len(), 32 << 20);
        assert!(res.iter().all(|&b| b == b'd'));
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

/// The same with a streamed request body (sent chunked, echoed chunked).
#[weft::test]
async fn probe_client_a_full_duplex_echo_of_a_streamed_body_does_not_deadlock() {
    const CHUNKS: usize = 512;
    const CHUNK: usize = 64 << 10;
    let server = raw_server(|tcp, _| echo_as_it_reads(tcp));
    let client = Client::new();
    let chunk = |i: usize| vec![(i % 251) as u8; CHUNK];
    for _ in 0..2 {
        let parts =
            futures_lite::stream::iter((0..CHUNKS).map(move |i| Ok::<_, std::io::Error>(chunk(i))));
        let res = weft::timeout(
            async {
                let res = client
                    .post(format!("http://{}/echo", server.addr))
                    .body(Body::from_stream(parts))
                    .send()
                    .await?;
                res.bytes().await
            },
            Duration::from_secs(20),
        )
        .await
        .expect("the client and the echo server deadlocked");
        let res = res.unwrap();
        assert_eq!(res.len(), CHUNKS * CHUNK);
        for (i, piece) in res.chunks(CHUNK).enumerate() {
            assert!(piece.iter().all(|&b| b == (i % 251) as u8), "chunk {i}");
        }
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 1);
}

/// A request body stream that fails while the echo of its first part is being read: the
/// response body ends with the stream's error, and the connection is not reused.
#[weft::test]
async fn a_request_body_that_fails_during_the_response_ends_the_response_body() {
    let server = raw_server(|tcp, _| echo_as_it_reads(tcp));
    let client = Client::new();
    let parts = weft::Channel::<Result<Vec<u8>, std::io::Error>>::with_capacity(4);
    for _ in 0..4 {
        parts.send(Ok(vec![b'p'; 64 << 10])).await.unwrap();
    }
    let res = weft::timeout(
        client
            .post(format!("http://{}/echo", server.addr))
            .body(Body::from_stream(parts.receiver()))
            .send(),
        DEADLINE,
    )
    .await
    .expect("did not hang")
    .expect("the echo's head comes before the body fails");
    assert_eq!(res.status(), StatusCode::OK);
    weft::timeout(
        parts.send(Err(std::io::Error::other("the source failed"))),
        DEADLINE,
    )
    .await
    .expect("did not hang")
    .unwrap();
    let err = weft::timeout(res.bytes(), DEADLINE)
        .await
        .expect("did not hang")
        .unwrap_err();
    assert!(err.is_body(), "{err}");
    let res = weft::timeout(
        client
            .post(format!("http://{}/echo", server.addr))
            .body("again")
            .send(),
        DEADLINE,
    )
    .await
    .expect("did not hang")
    .unwrap();
    assert_eq!(res.text().await.unwrap(), "again");
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

/// A server that answers in full at once and reads the upload only afterwards: the response
/// is not held back until the upload is out, and its connection, whose request was not sent
/// whole when the response ended, is not reused.
#[weft::test]
async fn a_response_that_ends_before_the_upload_does_not_wait_for_it() {
    let server = raw_server(|tcp, _| {
        let mut r = BufReader::new(tcp.try_clone().unwrap());
        let mut w = tcp;
        for _ in 0..10 {
            let mut len = 0usize;
            for _ in 0..100 {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
            if w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nfast")
                .is_err()
            {
                return;
            }
            // Takes the body only once the client has had its answer for a while.
            std::thread::sleep(Duration::from_millis(200));
            let mut body = vec![0; len];
            if r.read_exact(&mut body).is_err() {
                return;
            }
        }
    });
    let client = Client::new();
    for _ in 0..2 {
        let res = weft::timeout(
            async {
                let res = client
                    .post(format!("http://{}/upload", server.addr))
                    .body(vec![b'u'; 32 << 20])
                    .send()
                    .await?;
                res.text().await
            },
            DEADLINE,
        )
        .await
        .expect("did not hang");
        assert_eq!(res.unwrap(), "fast");
    }
    assert_eq!(server.accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn probe_nothing_is_answered_after_a_request_with_connection_close() {
    let server = Server::start(|s| s);
    let reply = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /second HTTP/1.1\r\nHost: t\r\n\r\n",
    );
    assert_eq!(statuses(&reply), vec![200], "{reply}");
    assert!(reply.ends_with("\r\n\r\nhello"), "{reply}");
}

/// A body shorter than its Content-Length: the bytes after it are body, not a second request
/// (no desync), and when the client gives up the server is not left waiting.
#[test]
fn probe_a_body_shorter_than_its_length_takes_the_next_bytes_as_body() {
    let server = Server::start(|s| s.idle_timeout(Duration::from_secs(2)));
    let mut conn = connect(server.addr);
    conn.write_all(
        b"POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 40\r\n\r\nabc\
          GET /smuggled HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    conn.shutdown(Shutdown::Write).unwrap();
    let reply = read_to_close(&mut conn);
    // The cut body is refused; nothing was answered as a request of its own.
    assert!(statuses(&reply).iter().all(|s| *s == 400), "{reply}");
    let reply = exchange(
        server.addr,
        b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(statuses(&reply), vec![200], "{reply}");
}
