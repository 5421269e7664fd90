//! `weft::http::serve` over HTTP/2: curl by prior knowledge and over TLS (ALPN), and a raw
//! frame client on `std` sockets for bad input, floods, flow control, panics and graceful
//! shutdown.
//!
//! Every client has read and write timeouts, every loop is bounded, and every wait for the
//! server has a deadline of seconds; nothing is asserted about how long things take.

#![cfg(feature = "http")]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weft::http::{Body, Method, Request, Response, Serve, StatusCode};
use weft::net::TcpListener;
use weft::sync::Event;

const DEADLINE: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Seen {
    slow_started: Event,
    requests: AtomicUsize,
}

async fn handler(req: Request<Body>, seen: Arc<Seen>) -> Result<Response<Body>, weft::http::Error> {
    seen.requests.fetch_add(1, Ordering::SeqCst);
    let res = match (req.method().clone(), req.uri().path()) {
        (Method::POST, "/echo") => Response::new(req.into_body()),
        (_, "/panic") => panic!("the handler panicked on purpose"),
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
        (_, "/big") => Response::new(Body::from(vec![b'x'; 1 << 20])),
        (_, "/info") => {
            let host = req
                .headers()
                .get("host")
                .map(|h| h.to_str().unwrap_or("?").to_owned())
                .unwrap_or_default();
            let text = format!(
                "{} {} {:?} {}",
                req.method(),
                req.uri().path(),
                req.version(),
                host
            );
            Response::new(Body::from(text))
        }
        (_, "/teapot") => {
            let mut res = Response::new(Body::from("short and stout"));
            *res.status_mut() = StatusCode::IM_A_TEAPOT;
            res
        }
        _ => Response::new(Body::from(format!("hello {}", req.uri().path()))),
    };
    Ok(res)
}

type Handler = Box<
    dyn Fn(
            Request<Body>,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<Response<Body>, weft::http::Error>> + Send>,
        > + Send
        + Sync,
>;

/// A server on 127.0.0.1 on the global runtime, stopped gracefully by `stop`.
struct Server {
    addr: SocketAddr,
    stop: Arc<Event>,
    seen: Arc<Seen>,
    task: Option<weft::JoinHandle<std::io::Result<()>>>,
}

impl Server {
    fn start(configure: impl FnOnce(Serve<Handler>) -> Serve<Handler>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Seen::default());
        let stop = Arc::new(Event::new());
        let h = seen.clone();
        let handler: Handler = Box::new(move |req| Box::pin(handler(req, h.clone())));
        let signal = stop.clone();
        let serve = configure(weft::http::serve(listener, handler))
            .with_graceful_shutdown(async move { signal.wait().await });
        let task = weft::spawn(std::future::IntoFuture::into_future(serve));
        Server {
            addr,
            stop,
            seen,
            task: Some(task),
        }
    }

    fn shutdown(&mut self) -> std::io::Result<()> {
        self.stop.set();
        let task = self.task.take().expect("shut down once");
        weft::block_on(weft::timeout(task, DEADLINE)).expect("serve did not return in time")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.task.is_some() && !std::thread::panicking() {
            self.shutdown().unwrap();
        } else {
            self.stop.set();
        }
    }
}

fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs (install it: apt-get install -y curl)");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn curl_speaks_http2() {
    let version = Command::new("curl").arg("--version").output().unwrap();
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.contains("HTTP2"),
        "this curl has no HTTP/2: {version}"
    );
}

#[test]
fn curl_prior_knowledge_get_and_post() {
    let server = Server::start(|s| s);
    let base = format!("http://{}", server.addr);
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("{base}/info")]),
        format!("GET /info HTTP/2.0 {}", server.addr)
    );
    assert_eq!(
        curl(&[
            "--http2-prior-knowledge",
            "--data-binary",
            "echo over h2",
            &format!("{base}/echo")
        ]),
        "echo over h2"
    );
    let version = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version} %{http_code}",
        &format!("{base}/teapot"),
    ]);
    assert_eq!(version, "2 418");
    // A body larger than the windows and a streaming one.
    let big = curl(&["--http2-prior-knowledge", &format!("{base}/big")]);
    assert_eq!(big.len(), 1 << 20);
    assert_eq!(
        curl(&["--http2-prior-knowledge", &format!("{base}/stream")]),
        "one,two,three"
    );
    // HTTP/1.1 still works on the same port.
    assert_eq!(curl(&["--http1.1", &format!("{base}/x")]), "hello /x");
}
