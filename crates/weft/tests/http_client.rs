//! `weft::http::Client` against servers written with std sockets (a thread per connection on
//! 127.0.0.1), under both I/O backends (`WEFT_IO=uring` and `WEFT_IO=epoll`).

#![cfg(feature = "http")]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::http::client::Policy;
use weft::http::{Body, Client, HeaderMap, HeaderValue, Method, StatusCode};

/// A deadline for "did not hang": generous, never a measurement.
const HANG: Duration = Duration::from_secs(20);

/// A request as the test server read it.
#[derive(Debug, Clone)]
struct Req {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one request; `None` at the end of the stream (or on any error).
fn read_request(r: &mut impl BufRead) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let mut headers = Vec::new();
    for _ in 0..200 {
        line.clear();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let (n, v) = line.trim_end().split_once(':')?;
        headers.push((n.trim().to_owned(), v.trim().to_owned()));
    }
    let mut req = Req {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    if let Some(len) = req.header("content-length") {
        let mut body = vec![0; len.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        req.body = body;
    } else if req.header("transfer-encoding") == Some("chunked") {
        for _ in 0..10_000 {
            line.clear();
            r.read_line(&mut line).ok()?;
            let size = usize::from_str_radix(line.trim_end(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            if size == 0 {
                r.read_line(&mut line).ok()?;
                break;
            }
            r.read_exact(&mut chunk).ok()?;
            req.body.extend_from_slice(&chunk[..size]);
        }
    }
    Some(req)
}

/// What a handler does with the connection after its response.
#[derive(PartialEq)]
enum Then {
    KeepOpen,
    Close,
}

/// Runs for each request with the request's index on its connection (0 for the first).
type Handler = dyn Fn(&Req, usize, &mut dyn Write) -> Then + Send + Sync;

struct Server {
    addr: SocketAddr,
    /// Connections accepted.
    opened: Arc<AtomicUsize>,
    /// Connections whose handler thread ended (the client closed, or the handler did).
    closed: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Req>>>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn opened(&self) -> usize {
        self.opened.load(Ordering::SeqCst)
    }

    fn closed(&self) -> usize {
        self.closed.load(Ordering::SeqCst)
    }

    fn requests(&self) -> Vec<Req> {
        self.requests.lock().unwrap().clone()
    }

    /// Waits (a bounded time) until `cond` holds.
    fn wait_until(&self, what: &str, cond: impl Fn(&Server) -> bool) {
        let start = Instant::now();
        while !cond(self) {
            assert!(start.elapsed() < HANG, "hung waiting until {what}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// A server on 127.0.0.1 that runs `handler` for each request, a thread per connection.
fn serve(handler: impl Fn(&Req, &mut dyn Write) -> Then + Send + Sync + 'static) -> Server {
    serve_nth(move |req, _, w| handler(req, w))
}

/// As `serve`, telling the handler which request of its connection it answers.
fn serve_nth(
    handler: impl Fn(&Req, usize, &mut dyn Write) -> Then + Send + Sync + 'static,
) -> Server {
    serve_with(Arc::new(handler), |tcp| Some(Box::new(tcp)))
}

trait Stream: Read + Write + Send {}
impl<T: Read + Write + Send> Stream for T {}

/// As `serve`, with `wrap` turning each accepted connection into the stream to speak on (TLS).
fn serve_with(
    handler: Arc<Handler>,
    wrap: impl Fn(TcpStream) -> Option<Box<dyn Stream>> + Send + 'static,
) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = Server {
        addr: listener.local_addr().unwrap(),
        opened: Arc::default(),
        closed: Arc::default(),
        requests: Arc::default(),
    };
    let (opened, closed, requests) = (
        server.opened.clone(),
        server.closed.clone(),
        server.requests.clone(),
    );
    std::thread::spawn(move || {
        for _ in 0..1000 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            opened.fetch_add(1, Ordering::SeqCst);
            tcp.set_read_timeout(Some(HANG)).unwrap();
            let (handler, closed, requests) = (handler.clone(), closed.clone(), requests.clone());
            let Some(stream) = wrap(tcp) else {
                closed.fetch_add(1, Ordering::SeqCst);
                continue;
            };
            std::thread::spawn(move || {
                let mut conn = BufReader::new(stream);
                for nth in 0..10_000 {
                    let Some(req) = read_request(&mut conn) else {
                        break;
                    };
                    requests.lock().unwrap().push(req.clone());
                    let then = handler(&req, nth, conn.get_mut());
                    let _ = conn.get_mut().flush();
                    if then == Then::Close {
                        break;
                    }
                }
                drop(conn);
                closed.fetch_add(1, Ordering::SeqCst);
            });
        }
    });
    server
}

/// Writes a response with a `Content-Length`.
fn respond(w: &mut dyn Write, status: &str, headers: &[(&str, &str)], body: &str) {
    let mut out = format!("HTTP/1.1 {status}\r\ncontent-length: {}\r\n", body.len());
    for (n, v) in headers {
        out += &format!("{n}: {v}\r\n");
    }
    out += "\r\n";
    out += body;
    let _ = w.write_all(out.as_bytes());
}

fn ok(w: &mut dyn Write, body: &str) -> Then {
    respond(w, "200 OK", &[], body);
    Then::KeepOpen
}

/// Runs `f` on weft with a "did not hang" deadline.
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    weft::timeout(f, HANG).await.expect("the test hung")
}

#[weft::test]
async fn reads_a_content_length_body() {
    let server = serve(|_, w| ok(w, "hello"));
    let res = bounded(weft::http::get(server.url("/a?b=1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.version(), weft::http::Version::HTTP_11);
    assert_eq!(res.headers()["content-length"], "5");
    assert_eq!(res.content_length(), Some(5));
    assert_eq!(res.url().to_string(), server.url("/a?b=1"));
    assert_eq!(bounded(res.text()).await.unwrap(), "hello");
    let req = &server.requests()[0];
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("GET", "/a?b=1")
    );
    assert_eq!(req.header("host"), Some(server.addr.to_string().as_str()));
    assert_eq!(
        req.header("user-agent"),
        Some(concat!("weft/", env!("CARGO_PKG_VERSION")))
    );
    assert_eq!(req.header("content-length"), None, "a GET has no body");
}

#[weft::test]
async fn reads_a_chunked_body_chunk_by_chunk() {
    let server = serve(|_, w| {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
        let _ = w.flush();
        for part in [
            "5\r\nhello\r\n",
            "2\r\n, \r\n",
            "5;x=y\r\nworld\r\n",
            "0\r\n\r\n",
        ] {
            let _ = w.write_all(part.as_bytes());
            let _ = w.flush();
        }
        Then::KeepOpen
    });
    let client = Client::new();
    let mut res = bounded(client.get(server.url("/")).send()).await.unwrap();
    assert_eq!(res.content_length(), None);
    let mut all = Vec::new();
    for _ in 0..100 {
        match bounded(res.chunk()).await {
            Some(chunk) => all.extend_from_slice(&chunk.unwrap()),
            None => break,
        }
    }
    assert_eq!(all, b"hello, world");
    // Read to its end, the connection went back to the pool and carries the next request.
    let text = bounded(async { client.get(server.url("/")).send().await?.text().await })
        .await
        .unwrap();
    assert_eq!(text, "hello, world");
    assert_eq!(server.opened(), 1);
}

#[weft::test]
async fn sends_bodies_headers_and_queries() {
    let server = serve(|req, w| ok(w, &String::from_utf8_lossy(&req.body)));
    let mut defaults = HeaderMap::new();
    defaults.insert("x-default", HeaderValue::from_static("d"));
    defaults.insert("x-both", HeaderValue::from_static("from-client"));
    let client = Client::builder()
        .default_headers(defaults)
        .user_agent("tester/1")
        .build()
        .unwrap();

    let res = client
        .post(server.url("/in"))
        .header("x-both", "from-request")
        .query(&[("q", "a b&c"), ("n", "1")])
        .body("abc")
        .send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), "abc");

    let stream = futures_lite::stream::iter(vec![&b"str"[..], &b"eam"[..]]);
    let res = client
        .put(server.url("/stream"))
        .body(Body::from_chunks(stream))
        .send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), "stream");

    let res = client.post(server.url("/empty")).send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), "");

    // A large body in memory goes in a write of its own after the head.
    let big: String = (0..100_000)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect();
    let res = client.post(server.url("/big")).body(big.clone()).send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), big);

    let reqs = server.requests();
    assert_eq!(reqs[0].target, "/in?q=a%20b%26c&n=1");
    assert_eq!(reqs[0].header("content-length"), Some("3"));
    assert_eq!(reqs[0].header("x-default"), Some("d"));
    assert_eq!(reqs[0].header("x-both"), Some("from-request"));
    assert_eq!(
        reqs[0]
            .headers
            .iter()
            .filter(|(n, _)| n == "x-both")
            .count(),
        1
    );
    assert_eq!(reqs[0].header("user-agent"), Some("tester/1"));
    assert_eq!(reqs[1].method, "PUT");
    assert_eq!(reqs[1].header("transfer-encoding"), Some("chunked"));
    assert_eq!(reqs[1].body, b"stream");
    assert_eq!(reqs[2].header("content-length"), Some("0"));
}

#[weft::test]
async fn sends_and_parses_json() {
    let server = serve(|req, w| {
        let v: serde_json::Value = serde_json::from_slice(&req.body).unwrap_or_default();
        let reply = serde_json::json!({ "got": v, "type": req.header("content-type") });
        respond(
            w,
            "200 OK",
            &[("content-type", "application/json")],
            &reply.to_string(),
        );
        Then::KeepOpen
    });
    let client = Client::new();
    let res = client
        .post(server.url("/json"))
        .json(&serde_json::json!({ "n": 3, "name": "weft" }))
        .send();
    let v: serde_json::Value = bounded(async { res.await?.json().await }).await.unwrap();
    assert_eq!(v["got"]["n"], 3);
    assert_eq!(v["got"]["name"], "weft");
    assert_eq!(v["type"], "application/json");

    // Not JSON: a body error that names the URL.
    let plain = serve(|_, w| ok(w, "not json"));
    let res = bounded(weft::http::get(plain.url("/x"))).await.unwrap();
    let err = res.json::<serde_json::Value>().await.unwrap_err();
    assert!(err.is_body(), "{err}");
    assert!(err.to_string().contains(&plain.url("/x")), "{err}");
}

#[weft::test]
async fn a_server_that_closes_after_the_headers_is_a_body_error() {
    let server = serve(|_, w| {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nabc");
        Then::Close
    });
    let res = bounded(weft::http::get(server.url("/cut"))).await.unwrap();
    let err = bounded(res.bytes()).await.unwrap_err();
    assert!(err.is_body(), "{err}");
    assert!(err.to_string().contains(&server.url("/cut")), "{err}");
}

/// A server that answers 413 as soon as it has a head and closes without reading the body:
/// the client, still writing the body, gets the 413, not the reset that ends its write.
#[weft::test]
async fn an_answer_sent_before_the_body_was_taken_is_the_response() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    std::thread::spawn(move || {
        for _ in 0..4 {
            let Ok((tcp, _)) = listener.accept() else {
                return;
            };
            count.fetch_add(1, Ordering::SeqCst);
            tcp.set_read_timeout(Some(HANG)).unwrap();
            let mut r = BufReader::new(tcp.try_clone().unwrap());
            let mut w = tcp;
            let mut line = String::new();
            for _ in 0..100 {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            let _ = w.write_all(
                b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 8\r\nconnection: close\r\n\r\ntoo big\n",
            );
            // Closed with the body unread: the client's writes fail with a reset.
            drop((r, w));
        }
    });
    let client = Client::new();
    for _ in 0..2 {
        let res = bounded(
            client
                .post(format!("http://{addr}/upload"))
                .body(vec![b'u'; 32 << 20])
                .send(),
        )
        .await
        .expect("the server's early answer is the response");
        assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(bounded(res.text()).await.unwrap(), "too big\n");
    }
    // Each went on its own connection: one whose request was cut short is never reused.
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[weft::test]
async fn a_server_that_closes_without_answering_is_an_error() {
    let server = serve(|_, _| Then::Close);
    let err = bounded(weft::http::get(server.url("/"))).await.unwrap_err();
    assert!(
        err.to_string().contains("closed before the response"),
        "{err}"
    );
    assert!(err.url().is_some());
}

#[weft::test]
async fn a_server_that_never_answers_times_out() {
    // The handler holds the connection without answering, then closes it: long after the
    // client's timeout on /slow, soon on /late.
    let server = serve(|req, _| {
        let hold = if req.target == "/slow" { 3000 } else { 300 };
        std::thread::sleep(Duration::from_millis(hold));
        Then::Close
    });
    let client = Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let err = bounded(client.get(server.url("/slow")).send())
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains(&server.url("/slow")), "{err}");

    // A request's own timeout replaces the client's.
    let patient = client
        .get(server.url("/late"))
        .timeout(Duration::from_secs(15))
        .send();
    let err = bounded(patient).await.unwrap_err();
    assert!(!err.is_timeout(), "the server closed: {err}");
}

#[weft::test]
async fn the_timeout_covers_the_body() {
    let server = serve(|_, w| {
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc");
        let _ = w.flush();
        std::thread::sleep(Duration::from_millis(3000));
        Then::Close
    });
    let client = Client::new();
    let res = client
        .get(server.url("/stall"))
        .timeout(Duration::from_millis(200))
        .send();
    let res = bounded(res).await.unwrap();
    let err = bounded(res.bytes()).await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    assert!(err.to_string().contains(&server.url("/stall")), "{err}");
}

#[weft::test]
async fn a_refused_connection_is_a_connect_error() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    // The listener is closed: nothing listens there now.
    let url = format!("http://{addr}/x");
    let err = bounded(weft::http::get(&url)).await.unwrap_err();
    assert!(err.is_connect(), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[weft::test]
async fn urls_other_than_http_and_https_are_builder_errors() {
    for url in [
        "ftp://127.0.0.1/",
        "127.0.0.1:80",
        "no url at all",
        "http:///path",
    ] {
        let err = bounded(weft::http::get(url)).await.unwrap_err();
        assert!(err.is_builder(), "{url}: {err}");
    }
    let err = Client::builder()
        .user_agent("bad\nvalue")
        .build()
        .unwrap_err();
    assert!(err.is_builder(), "{err}");
    let res = Client::new()
        .get("http://127.0.0.1:1/")
        .header("bad name", "v")
        .send();
    assert!(bounded(res).await.unwrap_err().is_builder());
}

#[weft::test]
async fn follows_relative_and_absolute_redirects() {
    let addr = Arc::new(Mutex::new(String::new()));
    let a = addr.clone();
    let server = serve(move |req, w| {
        match req.target.as_str() {
            "/dir/start" => respond(w, "302 Found", &[("location", "next?k=v")], ""),
            "/dir/next?k=v" => {
                let abs = format!("http://{}/final", a.lock().unwrap());
                respond(w, "301 Moved Permanently", &[("location", &abs)], "moved")
            }
            "/final" => respond(w, "200 OK", &[], "arrived"),
            _ => respond(w, "404 Not Found", &[], ""),
        }
        Then::KeepOpen
    });
    *addr.lock().unwrap() = server.addr.to_string();
    let res = bounded(weft::http::get(server.url("/dir/start")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.url().to_string(), server.url("/final"));
    assert_eq!(res.text().await.unwrap(), "arrived");
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/dir/start", "/dir/next?k=v", "/final"]);
    // The redirect bodies were read, so one connection carried all three.
    assert_eq!(server.opened(), 1);
}

/// A redirect whose body runs to the close on a server that holds the connection open: that
/// connection cannot be reused, so the client goes on at once rather than read the body.
#[weft::test]
async fn a_close_delimited_redirect_body_is_not_waited_for() {
    let (release, held) = std::sync::mpsc::channel::<()>();
    let held = Mutex::new(held);
    let server = serve(move |req, w| {
        if req.target == "/start" {
            let _ = w.write_all(b"HTTP/1.1 302 Found\r\nlocation: /next\r\n\r\nmoved");
            let _ = w.flush();
            // The connection stays open until the test is done (or a minute has passed).
            let _ = held.lock().unwrap().recv_timeout(Duration::from_secs(60));
            return Then::Close;
        }
        ok(w, "arrived")
    });
    // Far less than the minute the server holds the first connection.
    let res = weft::timeout(
        weft::http::get(server.url("/start")),
        Duration::from_secs(10),
    )
    .await;
    let _ = release.send(());
    let res = res
        .expect("the client waited for the redirect's body")
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(bounded(res.text()).await.unwrap(), "arrived");
    assert_eq!(server.opened(), 2);
}

#[weft::test]
async fn see_other_turns_post_into_get_and_307_keeps_the_body() {
    let server = serve(|req, w| {
        match req.target.as_str() {
            "/form" => respond(w, "303 See Other", &[("location", "/done")], ""),
            "/keep" => respond(w, "307 Temporary Redirect", &[("location", "/echo")], ""),
            _ => {
                let reply = format!("{} {}", req.method, String::from_utf8_lossy(&req.body));
                respond(w, "200 OK", &[], &reply)
            }
        }
        Then::KeepOpen
    });
    let client = Client::new();
    let res = client.post(server.url("/form")).body("data").send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), "GET ");
    let done = &server.requests()[1];
    assert_eq!(done.method, "GET");
    assert_eq!(done.header("content-length"), None);

    let res = client.post(server.url("/keep")).body("data").send();
    assert_eq!(
        bounded(res).await.unwrap().text().await.unwrap(),
        "POST data"
    );

    // A streamed body cannot be sent again: the 307 itself is the answer.
    let stream = futures_lite::stream::iter(vec![&b"once"[..]]);
    let res = client
        .post(server.url("/keep"))
        .body(Body::from_chunks(stream))
        .send();
    let res = bounded(res).await.unwrap();
    assert_eq!(res.status(), StatusCode::TEMPORARY_REDIRECT);
}

#[weft::test]
async fn redirect_loops_and_too_many_redirects_are_redirect_errors() {
    let server = serve(|req, w| {
        let next = match req.target.as_str() {
            "/a" => "/b".to_owned(),
            "/b" => "/a".to_owned(),
            t => {
                let n: u32 = t.trim_start_matches("/n/").parse().unwrap_or(0);
                format!("/n/{}", n + 1)
            }
        };
        respond(w, "302 Found", &[("location", &next)], "");
        Then::KeepOpen
    });
    let err = bounded(weft::http::get(server.url("/a")))
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
    assert!(err.to_string().contains("loop"), "{err}");
    assert!(err.to_string().contains(&server.url("/b")), "{err}");

    let client = Client::builder()
        .redirect(Policy::limited(3))
        .build()
        .unwrap();
    let err = bounded(client.get(server.url("/n/0")).send())
        .await
        .unwrap_err();
    assert!(err.is_redirect(), "{err}");
    assert!(err.to_string().contains(&server.url("/n/3")), "{err}");

    let client = Client::builder().redirect(Policy::none()).build().unwrap();
    let res = bounded(client.get(server.url("/a")).send()).await.unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    assert_eq!(res.headers()["location"], "/b");
}

#[weft::test]
async fn credentials_are_not_sent_to_another_host() {
    let other = serve(|_, w| ok(w, "other"));
    let target = other.url("/landing");
    let server = serve(move |_, w| {
        respond(w, "302 Found", &[("location", &target)], "");
        Then::KeepOpen
    });
    let res = Client::new()
        .get(server.url("/"))
        .header("authorization", "Bearer secret")
        .header("cookie", "a=b")
        .header("x-other", "kept")
        .send();
    assert_eq!(bounded(res).await.unwrap().text().await.unwrap(), "other");
    let first = &server.requests()[0];
    assert_eq!(first.header("authorization"), Some("Bearer secret"));
    let landed = &other.requests()[0];
    assert_eq!(landed.header("authorization"), None);
    assert_eq!(landed.header("cookie"), None);
    assert_eq!(landed.header("x-other"), Some("kept"));
    assert_eq!(landed.header("host"), Some(other.addr.to_string().as_str()));
}

#[weft::test]
async fn sequential_requests_reuse_one_connection() {
    let server = serve(|req, w| {
        if req.method == "HEAD" {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n");
            return Then::KeepOpen;
        }
        ok(w, &req.target)
    });
    let client = Client::new();
    for i in 0..10 {
        let path = format!("/{i}");
        let text = bounded(async { client.get(server.url(&path)).send().await?.text().await })
            .await
            .unwrap();
        assert_eq!(text, path);
    }
    // A HEAD response has no body to wait for, whatever its Content-Length says.
    let res = bounded(client.head(server.url("/h")).send()).await.unwrap();
    assert_eq!(res.content_length(), Some(0));
    assert!(bounded(res.bytes()).await.unwrap().is_empty());
    let res = bounded(client.get(server.url("/after-head")).send())
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "/after-head");
    assert_eq!(server.opened(), 1);
}

#[weft::test]
async fn a_body_dropped_before_its_end_closes_the_connection() {
    let server = serve(|_, w| ok(w, &"x".repeat(200_000)));
    let client = Client::new();
    let mut res = bounded(client.get(server.url("/big")).send())
        .await
        .unwrap();
    let first = bounded(res.chunk()).await.unwrap().unwrap();
    assert!(!first.is_empty() && first.len() < 200_000);
    drop(res);
    server.wait_until("the server sees the connection closed", |s| s.closed() == 1);
    let res = bounded(client.get(server.url("/big")).send())
        .await
        .unwrap();
    assert_eq!(bounded(res.bytes()).await.unwrap().len(), 200_000);
    assert_eq!(server.opened(), 2);
}

#[weft::test]
async fn connection_close_and_http_1_0_are_not_reused() {
    let server = serve(|req, w| {
        if req.target == "/close" {
            respond(w, "200 OK", &[("connection", "close")], "bye");
            Then::Close
        } else if req.target == "/until-close" {
            // No length: the body runs to the end of the connection.
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\n\r\nall of it");
            Then::Close
        } else {
            let _ = w.write_all(b"HTTP/1.0 200 OK\r\ncontent-length: 3\r\n\r\nold");
            Then::Close
        }
    });
    let client = Client::new();
    for path in [
        "/close",
        "/close",
        "/old",
        "/old",
        "/until-close",
        "/until-close",
    ] {
        let res = bounded(client.get(server.url(path)).send()).await.unwrap();
        assert!(!bounded(res.text()).await.unwrap().is_empty());
    }
    assert_eq!(server.opened(), 6);
}

#[weft::test]
async fn informational_responses_are_skipped() {
    let server = serve(|_, w| {
        let _ = w.write_all(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: </s>\r\n\r\n",
        );
        ok(w, "final")
    });
    let res = bounded(weft::http::get(server.url("/"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.text().await.unwrap(), "final");
}

#[weft::test]
async fn oversized_or_malformed_response_heads_are_refused() {
    let server = serve(|req, w| {
        let head = match req.target.as_str() {
            "/big" => format!("HTTP/1.1 200 OK\r\nx: {}\r\n\r\n", "a".repeat(70 * 1024)),
            "/many" => {
                let mut h = String::from("HTTP/1.1 200 OK\r\n");
                for i in 0..101 {
                    h += &format!("x-{i}: v\r\n");
                }
                h + "\r\n"
            }
            "/smuggle" => {
                "HTTP/1.1 200 OK\r\ncontent-length: 3\r\ntransfer-encoding: chunked\r\n\r\n".into()
            }
            _ => "HTTP/9.9 200 OK\r\n\r\n".into(),
        };
        let _ = w.write_all(head.as_bytes());
        Then::Close
    });
    for path in ["/big", "/many", "/smuggle", "/version"] {
        let err = bounded(weft::http::get(server.url(path)))
            .await
            .unwrap_err();
        assert!(
            err.to_string().starts_with("protocol error"),
            "{path}: {err}"
        );
        assert!(err.to_string().contains(&server.url(path)), "{path}: {err}");
    }
}

#[weft::test]
async fn error_for_status_refuses_4xx_and_5xx() {
    let server = serve(|req, w| {
        let status = match req.target.as_str() {
            "/missing" => "404 Not Found",
            "/broken" => "503 Service Unavailable",
            _ => "204 No Content",
        };
        respond(w, status, &[], "");
        Then::KeepOpen
    });
    for (path, status) in [("/missing", 404), ("/broken", 503)] {
        let res = bounded(weft::http::get(server.url(path))).await.unwrap();
        assert_eq!(res.status(), status);
        let err = res.error_for_status().unwrap_err();
        assert!(err.is_status(), "{err}");
        assert_eq!(err.status(), Some(StatusCode::from_u16(status).unwrap()));
        assert!(err.to_string().contains(&server.url(path)), "{err}");
    }
    let res = bounded(weft::http::get(server.url("/fine"))).await.unwrap();
    assert_eq!(res.error_for_status().unwrap().status(), 204);
}

#[weft::test]
async fn max_connections_per_host_caps_connections_under_concurrency() {
    const N: usize = 4;
    let server = serve(|req, w| {
        // Slow enough that requests pile up behind the cap.
        std::thread::sleep(Duration::from_millis(2));
        ok(w, &req.target)
    });
    let client = Client::builder()
        .max_connections_per_host(N)
        .build()
        .unwrap();
    let tasks: Vec<_> = (0..10 * N)
        .map(|i| {
            let (client, url) = (client.clone(), server.url(&format!("/{i}")));
            weft::spawn(async move { client.get(url).send().await?.text().await })
        })
        .collect();
    let texts = bounded(weft::join(tasks)).await;
    for (i, text) in texts.into_iter().enumerate() {
        assert_eq!(text.unwrap(), format!("/{i}"));
    }
    assert!(server.opened() <= N, "{} connections", server.opened());
}

#[weft::test]
async fn pool_max_idle_per_host_bounds_the_idle_connections() {
    const N: usize = 3;
    let server = serve(|req, w| {
        std::thread::sleep(Duration::from_millis(2));
        ok(w, &req.target)
    });
    let client = Client::builder().pool_max_idle_per_host(N).build().unwrap();
    let tasks: Vec<_> = (0..10 * N)
        .map(|i| {
            let (client, url) = (client.clone(), server.url(&format!("/{i}")));
            weft::spawn(async move { client.get(url).send().await?.text().await })
        })
        .collect();
    for text in bounded(weft::join(tasks)).await {
        text.unwrap();
    }
    // Concurrent requests had connections of their own; past the burst, at most N stay open.
    let opened = server.opened();
    server.wait_until("the pool closes all but N connections", |s| {
        s.opened() - s.closed() <= N
    });
    // And the next requests reuse those.
    for _ in 0..N {
        let res = bounded(client.get(server.url("/again")).send())
            .await
            .unwrap();
        bounded(res.bytes()).await.unwrap();
    }
    assert_eq!(server.opened(), opened);

    // With no idle connections kept, each request opens one.
    let server = serve(|_, w| ok(w, "x"));
    let client = Client::builder().pool_max_idle_per_host(0).build().unwrap();
    for _ in 0..3 {
        let res = bounded(client.get(server.url("/")).send()).await.unwrap();
        bounded(res.bytes()).await.unwrap();
    }
    assert_eq!(server.opened(), 3);
}

#[weft::test]
async fn a_connection_idle_past_the_idle_timeout_is_not_used() {
    let server = serve(|_, w| ok(w, "x"));
    let client = Client::builder()
        .pool_idle_timeout(Duration::from_millis(1))
        .build()
        .unwrap();
    for _ in 0..2 {
        let res = bounded(client.get(server.url("/")).send()).await.unwrap();
        bounded(res.bytes()).await.unwrap();
        weft::sleep(Duration::from_millis(30)).await;
    }
    assert_eq!(server.opened(), 2);
    server.wait_until("the expired connection is closed", |s| s.closed() >= 1);
}

#[weft::test]
async fn a_pooled_connection_the_server_closed_is_not_used() {
    // Each connection answers one request as if it stayed open, then the server closes it.
    let server = serve(|req, w| {
        respond(w, "200 OK", &[], &req.method);
        Then::Close
    });
    let client = Client::new();
    let res = bounded(client.get(server.url("/1")).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "GET");
    server.wait_until("the server closed the first connection", |s| {
        s.closed() == 1
    });
    // The pooled connection has seen the server's close: even a POST, which is never sent
    // twice, goes on a new connection.
    let res = bounded(client.post(server.url("/2")).body("x").send())
        .await
        .unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "POST");
    assert_eq!(server.opened(), 2);
}

#[weft::test]
async fn a_request_dropped_on_a_pooled_connection_is_retried_once_if_idempotent() {
    // Each connection answers its first request, reads the second and closes unanswered (a
    // server closing an idle connection just as the request arrives).
    let server = serve_nth(|req, nth, w| {
        if nth > 0 {
            return Then::Close;
        }
        respond(w, "200 OK", &[], &req.target);
        Then::KeepOpen
    });
    let client = Client::new();
    let res = bounded(client.get(server.url("/1")).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "/1");
    // Dropped on the pooled connection, the GET goes again on a new one.
    let res = bounded(client.get(server.url("/2")).send()).await.unwrap();
    assert_eq!(bounded(res.text()).await.unwrap(), "/2");
    assert_eq!(server.opened(), 2);

    // A POST is not idempotent: it is not sent twice.
    let err = bounded(client.post(server.url("/3")).body("x").send())
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("closed before the response"),
        "{err}"
    );
    assert_eq!(server.opened(), 2);
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets, ["/1", "/2", "/2", "/3"]);
}

#[weft::test]
async fn the_request_method_and_url_forms_are_accepted() {
    let server = serve(|req, w| ok(w, &req.method));
    let client = Client::new();
    let uri: weft::http::Uri = server.url("/u").parse().unwrap();
    for (method, expect) in [
        (Method::DELETE, "DELETE"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PATCH, "PATCH"),
    ] {
        let res = bounded(client.request(method, &uri).send()).await.unwrap();
        assert_eq!(res.text().await.unwrap(), expect);
    }
    let res = bounded(client.delete(server.url("/d")).send())
        .await
        .unwrap();
    assert_eq!(res.text().await.unwrap(), "DELETE");
    let res = bounded(client.get(uri).send()).await.unwrap();
    let http = res.into_http();
    assert_eq!(http.status(), 200);
    assert_eq!(
        http.extensions().get::<weft::http::Uri>().unwrap().path(),
        "/u"
    );
    assert_eq!(http.into_body().text().await.unwrap(), "GET");
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use futures_rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use futures_rustls::rustls::{self, ServerConfig, ServerConnection, StreamOwned};

    /// A TLS server for `localhost`, and its certificate (DER) to trust.
    fn tls_server(sni: Arc<Mutex<Option<String>>>) -> (Server, Vec<u8>) {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let der = cert.cert.der().to_vec();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.cert.der().clone()], key)
            .unwrap();
        let config = Arc::new(config);
        let handler: Arc<Handler> = Arc::new(|req: &Req, _, w: &mut dyn Write| ok(w, &req.target));
        let server = serve_with(handler, move |tcp| {
            let mut conn = ServerConnection::new(config.clone()).ok()?;
            let mut tcp = tcp;
            // Finish the handshake here, to learn the name the client asked for.
            while conn.is_handshaking() {
                conn.complete_io(&mut tcp).ok()?;
            }
            *sni.lock().unwrap() = conn.server_name().map(str::to_owned);
            Some(Box::new(StreamOwned::new(conn, tcp)))
        });
        (server, der)
    }

    #[weft::test]
    async fn https_against_a_rustls_server_with_an_added_root() {
        let sni = Arc::new(Mutex::new(None));
        let (server, root) = tls_server(sni.clone());
        let url = format!("https://localhost:{}/secure", server.addr.port());
        let client = Client::builder()
            .add_root_certificate(&root)
            .build()
            .unwrap();
        for _ in 0..3 {
            let res = bounded(client.get(&url).send()).await.unwrap();
            assert_eq!(bounded(res.text()).await.unwrap(), "/secure");
        }
        assert_eq!(server.opened(), 1, "the TLS connection is pooled");
        assert_eq!(sni.lock().unwrap().as_deref(), Some("localhost"));
        let host = format!("localhost:{}", server.addr.port());
        assert_eq!(server.requests()[0].header("host"), Some(host.as_str()));

        // Without the root, the certificate is not trusted.
        let err = bounded(Client::new().get(&url).send()).await.unwrap_err();
        assert!(err.is_connect(), "{err}");
        assert!(err.to_string().contains(&url), "{err}");

        let err = Client::builder()
            .add_root_certificate(b"not a certificate")
            .build()
            .unwrap_err();
        assert!(err.is_builder(), "{err}");
    }

    #[weft::test]
    async fn the_connect_timeout_covers_the_tls_handshake() {
        // A server that accepts but never answers the ClientHello.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let holder = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            conn.set_read_timeout(Some(HANG)).unwrap();
            // Hold the connection until the client gives up and closes it.
            let _ = (&conn).read(&mut [0; 4096]);
            let _ = (&conn).read(&mut [0; 4096]);
        });
        let client = Client::builder()
            .connect_timeout(Duration::from_millis(200))
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/", addr.port());
        let err = bounded(client.get(&url).send()).await.unwrap_err();
        assert!(err.is_timeout(), "{err}");
        assert!(err.to_string().contains("connect timeout"), "{err}");
        assert!(err.to_string().contains(&url), "{err}");
        holder.join().unwrap();
    }

    /// Over TLS the request's records go out while the response's are read: a server that
    /// echoes the body as it reads it does not deadlock with the client, and the connection
    /// is reused after each exchange.
    #[weft::test]
    async fn a_full_duplex_echo_over_tls_does_not_deadlock() {
        const LEN: usize = 32 << 20;
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap(),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for _ in 0..4 {
                let Ok((tcp, _)) = listener.accept() else {
                    return;
                };
                count.fetch_add(1, Ordering::SeqCst);
                tcp.set_read_timeout(Some(HANG)).unwrap();
                tcp.set_write_timeout(Some(HANG)).unwrap();
                let Ok(conn) = ServerConnection::new(config.clone()) else {
                    return;
                };
                std::thread::spawn(move || {
                    let mut tls = StreamOwned::new(conn, tcp);
                    let mut buf = vec![0u8; 64 * 1024];
                    // Requests one after another, each echoed as its body arrives.
                    for _ in 0..4 {
                        let mut head = Vec::new();
                        while !head.ends_with(b"\r\n\r\n") {
                            let mut byte = [0u8; 1];
                            match tls.read(&mut byte) {
                                Ok(1) if head.len() < 64 * 1024 => head.push(byte[0]),
                                _ => return,
                            }
                        }
                        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: {len}\r\n\r\n");
                        if tls.write_all(answer.as_bytes()).is_err() {
                            return;
                        }
                        let mut left = len;
                        while left > 0 {
                            let n = match tls.read(&mut buf[..left.min(64 * 1024)]) {
                                Ok(0) | Err(_) => return,
                                Ok(n) => n,
                            };
                            if tls.write_all(&buf[..n]).and_then(|()| tls.flush()).is_err() {
                                return;
                            }
                            left -= n;
                        }
                    }
                });
            }
        });
        let client = Client::builder()
            .add_root_certificate(cert.cert.der())
            .build()
            .unwrap();
        let url = format!("https://localhost:{port}/echo");
        for _ in 0..2 {
            let res = bounded(async {
                let res = client.post(&url).body(vec![b'e'; LEN]).send().await?;
                res.bytes().await
            })
            .await
            .unwrap();
            assert_eq!(res.len(), LEN);
            assert!(res.iter().all(|&b| b == b'e'));
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[weft::test]
    async fn a_redirect_from_https_to_http_is_refused() {
        let plain = serve(|_, w| ok(w, "plain"));
        let target = plain.url("/");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = Arc::new(
            ServerConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(vec![cert.cert.der().clone()], key)
                .unwrap(),
        );
        let handler: Arc<Handler> = Arc::new(move |_: &Req, _, w: &mut dyn Write| {
            respond(w, "302 Found", &[("location", &target)], "");
            Then::KeepOpen
        });
        let server = serve_with(handler, move |tcp| {
            let conn = ServerConnection::new(config.clone()).ok()?;
            Some(Box::new(StreamOwned::new(conn, tcp)))
        });
        let client = Client::builder()
            .add_root_certificate(cert.cert.der())
            .build()
            .unwrap();
        let url = format!("https://localhost:{}/", server.addr.port());
        let err = bounded(client.get(&url).send()).await.unwrap_err();
        assert!(err.is_redirect(), "{err}");
        assert!(plain.requests().is_empty());
    }
}

/// A client outlives executors: a pooled connection of one that shut down is not used.
#[test]
fn a_connection_of_an_executor_that_shut_down_is_not_reused() {
    let server = serve(|req, w| ok(w, &String::from_utf8_lossy(&req.body)));
    let client = Client::new();
    let post = |body: &'static str| {
        let (client, url) = (client.clone(), server.url("/"));
        async move { client.post(url).body(body).send().await?.text().await }
    };
    let first = weft::Executor::new(1);
    assert_eq!(first.block_on(bounded(post("one"))).unwrap(), "one");
    first.shutdown();
    let second = weft::Executor::new(1);
    // A POST is not retried: it would fail on the dead executor's connection.
    assert_eq!(second.block_on(bounded(post("two"))).unwrap(), "two");
    assert_eq!(second.block_on(bounded(post("three"))).unwrap(), "three");
    assert_eq!(server.opened(), 2);
}
