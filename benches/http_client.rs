//! HTTP/1.1 client throughput: 10,000 keep-alive GETs from 64 concurrent tasks against one
//! local server, weft's `Client` (an executor of 2 workers) beside reqwest (tokio,
//! multi-thread, 2 workers).
//!
//! The server is hyper on a tokio current-thread runtime in a process of its own (this binary,
//! started again with `--server`), answering every request with a 13-byte body. Each client
//! runs `HTTP_ROUNDS` rounds (default 3) after one warm-up round; reported per client: requests
//! per second of each round and of the best, connections the server accepted, and the ratio
//! of the best rates.
//!
//! With `HTTP_BODY=json` the server answers with a 1 KiB JSON document instead, and each client
//! parses every body into a `serde_json::Value` (the guide's Example 5, `fetch_json`, end to
//! end).
//!
//! With `HTTP_PROTO=h2` the exchange is HTTP/2 by prior knowledge: the server is hyper's
//! HTTP/2 server (its streams spawned on the same current-thread runtime), and both clients
//! are built with `http2_prior_knowledge()`, so the 64 tasks share one connection each.
//!
//! `cargo bench -p weft-benches --bench http_client` (environment: `HTTP_REQUESTS`, default
//! 10000; `HTTP_TASKS`, default 64; `HTTP_ROUNDS`; `HTTP_BODY`, `hello` or `json`;
//! `HTTP_PROTO`, `h1` or `h2`).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BODY: &str = "Hello, World!";

/// True when the bodies are JSON documents to parse (`HTTP_BODY=json`).
fn json_mode() -> bool {
    env_or("HTTP_BODY", "hello") == "json"
}

/// True for HTTP/2 by prior knowledge (`HTTP_PROTO=h2`).
fn h2_mode() -> bool {
    env_or("HTTP_PROTO", "h1") == "h2"
}

/// The body the server sends: `BODY`, or a JSON document of about 1 KiB.
fn body() -> String {
    if !json_mode() {
        return BODY.to_owned();
    }
    let users: Vec<String> = (0..16)
        .map(|i| {
            format!(r#"{{"id":{i},"name":"user {i}","email":"user{i}@example.com","active":true}}"#)
        })
        .collect();
    format!(r#"{{"page":1,"users":[{}]}}"#, users.join(","))
}

/// Checks one response body as the mode says: its length, or that it parsed as the document.
fn check_json(value: &serde_json::Value) {
    assert_eq!(value["users"].as_array().map(Vec::len), Some(16));
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--server") {
        serve();
        return;
    }
    let requests: usize = env_or("HTTP_REQUESTS", "10000")
        .parse()
        .expect("HTTP_REQUESTS");
    let tasks: usize = env_or("HTTP_TASKS", "64").parse().expect("HTTP_TASKS");
    let rounds: usize = env_or("HTTP_ROUNDS", "3").parse().expect("HTTP_ROUNDS");
    println!(
        "http_client: {requests} {} GETs from {tasks} tasks, {rounds} rounds, {}-byte {} bodies, {} cores",
        if h2_mode() { "HTTP/2" } else { "HTTP/1.1" },
        body().len(),
        if json_mode() { "JSON (parsed)" } else { "text" },
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let mut best = Vec::new();
    for name in ["weft", "reqwest"] {
        let mut server = Server::start();
        let url = format!("http://{}/", server.addr);
        let run: Box<dyn Fn() -> Duration> = match name {
            "weft" => Box::new(weft_client(url, requests, tasks)),
            _ => Box::new(reqwest_client(url, requests, tasks)),
        };
        run(); // warm-up: connections opened, pools filled
        let rates: Vec<f64> = (0..rounds)
            .map(|_| requests as f64 / run().as_secs_f64())
            .collect();
        let top = rates.iter().cloned().fold(0.0, f64::max);
        let shown: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        println!(
            "{name:<8} req/s {:<32} best {top:>8.0}  connections {}",
            shown.join(" / "),
            server.connections()
        );
        weft_benches::record(
            "http_client",
            &[
                ("client", name.into()),
                ("body", if json_mode() { "json" } else { "text" }.into()),
                ("best", top.into()),
                (
                    "worst",
                    rates.iter().cloned().fold(f64::INFINITY, f64::min).into(),
                ),
            ],
        );
        best.push(top);
        server.stop();
    }
    println!("weft / reqwest: {:.2}", best[0] / best[1]);
}

/// A closure that runs one round on weft and returns how long it took.
fn weft_client(url: String, requests: usize, tasks: usize) -> impl Fn() -> Duration {
    let ex = weft::Executor::new(2);
    let client = match h2_mode() {
        true => weft::http::Client::builder().http2_prior_knowledge(),
        false => weft::http::Client::builder(),
    }
    .build()
    .expect("weft client");
    let json = json_mode();
    move || {
        let left = Arc::new(AtomicUsize::new(requests));
        let start = Instant::now();
        ex.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (client, url, left) = (client.clone(), url.clone(), left.clone());
                    weft::spawn(async move {
                        while take(&left) {
                            let res = client.get(&url).send().await.expect("weft: send");
                            if json {
                                let value: serde_json::Value =
                                    res.json().await.expect("weft: JSON body");
                                check_json(&value);
                            } else {
                                let body = res.bytes().await.expect("weft: body");
                                assert_eq!(body.len(), BODY.len());
                            }
                        }
                    })
                })
                .collect();
            weft::join(handles).await;
        });
        start.elapsed()
    }
}

/// The same round on reqwest.
fn reqwest_client(url: String, requests: usize, tasks: usize) -> impl Fn() -> Duration {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let client = match h2_mode() {
        true => reqwest::Client::builder().http2_prior_knowledge(),
        false => reqwest::Client::builder(),
    }
    .build()
    .expect("reqwest client");
    let json = json_mode();
    move || {
        let left = Arc::new(AtomicUsize::new(requests));
        let start = Instant::now();
        rt.block_on(async {
            let handles: Vec<_> = (0..tasks)
                .map(|_| {
                    let (client, url, left) = (client.clone(), url.clone(), left.clone());
                    tokio::spawn(async move {
                        while take(&left) {
                            let res = client.get(&url).send().await.expect("reqwest: send");
                            if json {
                                let value: serde_json::Value =
                                    res.json().await.expect("reqwest: JSON body");
                                check_json(&value);
                            } else {
                                let body = res.bytes().await.expect("reqwest: body");
                                assert_eq!(body.len(), BODY.len());
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                h.await.expect("reqwest task");
            }
        });
        start.elapsed()
    }
}

/// Takes one request off the count; false once none are left.
fn take(left: &AtomicUsize) -> bool {
    left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

/// The server process: hyper, HTTP/1.1 keep-alive (or HTTP/2 with `HTTP_PROTO=h2`), on a
/// tokio current-thread runtime. It
/// prints its address, then the connection count for each line read from stdin, and exits at
/// the end of stdin.
fn serve() {
    use http_body_util::Full;
    use hyper::body::Bytes;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let connections = Arc::new(AtomicUsize::new(0));
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    println!("{}", listener.local_addr().expect("local_addr"));
    let body = Bytes::from(body());
    let h2 = h2_mode();
    let counted = connections.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            if line.is_err() {
                break;
            }
            println!("{}", counted.load(Ordering::Relaxed));
        }
        std::process::exit(0);
    });
    rt.block_on(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let _ = tcp.set_nodelay(true);
            connections.fetch_add(1, Ordering::Relaxed);
            let body = body.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let body = body.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(body)))
                    }
                });
                if h2 {
                    let _ = hyper::server::conn::http2::Builder::new(
                        hyper_util::rt::TokioExecutor::new(),
                    )
                    .serve_connection(TokioIo::new(tcp), service)
                    .await;
                } else {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                }
            });
        }
    });
}

struct Server {
    child: Child,
    addr: SocketAddr,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Server {
    fn start() -> Self {
        let exe = std::env::current_exe().expect("current_exe");
        let mut child = Command::new(exe)
            .arg("--server")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = lines
            .next()
            .expect("the server's address")
            .expect("read")
            .parse()
            .expect("an address");
        Self { child, addr, lines }
    }

    fn connections(&mut self) -> usize {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin");
        writeln!(stdin).expect("ask the server");
        self.lines
            .next()
            .expect("the count")
            .expect("read")
            .parse()
            .expect("a number")
    }

    fn stop(mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}
