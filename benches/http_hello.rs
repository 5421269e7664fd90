//! HTTP hello world over loopback, driven by `wrk` at 16, 64 and 256 connections: weft's
//! `weft::http::serve` on io_uring and on epoll against hyper 1 (with hyper-util) on tokio,
//! each server on 2 worker threads, each answering `GET /` with `Hello, World!` (and a
//! `date` header, which both add).
//!
//! Each server runs in a process of its own (this binary, started again with `--server KIND`);
//! `wrk` (`apt-get install -y wrk`) loads it, with the same settings for every server.
//! Reported per server and connection count: requests per second, wrk's p50 and p99 latency,
//! and the server's CPU time (user + system, from `/proc/PID/stat`) per request.
//!
//! `cargo bench -p weft-benches --bench http_hello` (environment: `HTTP_SECS` per point,
//! default 5; `HTTP_SERVERS`, a comma-separated subset of `weft-uring,weft-epoll,hyper`;
//! `HTTP_CONNS`, e.g. `16,256`; `HTTP_WRK_THREADS`, default 2; `HTTP_WORKERS`, the server's
//! worker threads, default 2; `HTTP_PROTO=h2`: HTTP/2 by prior knowledge, loaded by `h2load`
//! (`apt-get install -y nghttp2-client`) with `HTTP_STREAMS` streams per connection, default
//! 10, against hyper's HTTP/2 server on tokio; h2load reports a mean latency, not percentiles,
//! so the p50 column holds the mean and p99 is left out).

use std::net::SocketAddr;
use std::process::Command;
use weft_benches::procs::{cpu_time, env_or, ServerProcess};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--server") {
        serve(&args[i + 1]);
        return;
    }
    let h2 = env_or("HTTP_PROTO", "h1") == "h2";
    if h2 && Command::new("h2load").arg("--version").output().is_err() {
        eprintln!(
            "HTTP_PROTO=h2 needs h2load (apt-get install -y nghttp2-client): nothing measured"
        );
        return;
    }
    if !h2 && Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("http_hello needs wrk (apt-get install -y wrk): nothing measured");
        return;
    }
    let streams: usize = env_or("HTTP_STREAMS", "10").parse().expect("HTTP_STREAMS");
    let secs: u64 = env_or("HTTP_SECS", "5").parse().expect("HTTP_SECS");
    let threads: usize = env_or("HTTP_WRK_THREADS", "2")
        .parse()
        .expect("HTTP_WRK_THREADS");
    let conns: Vec<usize> = env_or("HTTP_CONNS", "16,64,256")
        .split(',')
        .map(|c| c.trim().parse().expect("HTTP_CONNS"))
        .collect();
    let servers: Vec<String> = env_or("HTTP_SERVERS", "weft-uring,weft-epoll,hyper")
        .split(',')
        .map(str::to_owned)
        .collect();
    let tool = if h2 {
        format!("h2load -t{threads} -m{streams} (HTTP/2, prior knowledge)")
    } else {
        format!("wrk -t{threads}")
    };
    println!(
        "http_hello: {tool}, {secs} s per point, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<11} {:>6} {:>12} {:>9} {:>9} {:>12}",
        "server", "conns", "req/s", "p50 ms", "p99 ms", "cpu us/req"
    );
    for &n in &conns {
        for s in &servers {
            let mut server = ServerProcess::this_binary(s);
            // A short warm-up, then the measured run.
            let load = |secs| {
                if h2 {
                    h2load(server.addr, threads, n, streams, secs)
                } else {
                    wrk(server.addr, threads, n, secs)
                }
            };
            let _ = load(1);
            let cpu_start = cpu_time(server.pid());
            let r = load(secs);
            let cpu = cpu_time(server.pid()) - cpu_start;
            let cpu_per_req = if r.requests > 0 {
                cpu.as_secs_f64() * 1e6 / r.requests as f64
            } else {
                f64::NAN
            };
            println!(
                "{:<11} {:>6} {:>12.0} {:>9.3} {:>9.3} {:>12.2}",
                s, n, r.rate, r.p50_ms, r.p99_ms, cpu_per_req
            );
            weft_benches::record(
                "http_hello",
                &[
                    ("proto", if h2 { "h2" } else { "h1" }.into()),
                    ("server", s.into()),
                    ("conns", n.into()),
                    ("rate", r.rate.into()),
                    ("p50_ms", r.p50_ms.into()),
                    ("p99_ms", r.p99_ms.into()),
                    ("cpu_us_per_req", cpu_per_req.into()),
                ],
            );
            server.stop();
        }
    }
}

struct WrkResult {
    rate: f64,
    requests: u64,
    p50_ms: f64,
    p99_ms: f64,
}

/// Runs a load generator and reads its summary, line by line, into a `WrkResult`; prints
/// the whole output if `failed` says it reported errors.
fn run_load(
    cmd: &mut Command,
    parse: impl Fn(&[&str], &mut WrkResult),
    failed: impl Fn(&str) -> bool,
) -> WrkResult {
    let out = cmd.output().expect("the load generator runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut r = WrkResult {
        rate: 0.0,
        requests: 0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse(&words, &mut r);
    }
    if failed(&text) {
        eprintln!("the load generator reported errors:\n{text}");
    }
    r
}

/// Runs wrk against `addr` and reads its summary.
fn wrk(addr: SocketAddr, threads: usize, conns: usize, secs: u64) -> WrkResult {
    run_load(
        Command::new("wrk")
            .arg(format!("-t{}", threads.min(conns)))
            .arg(format!("-c{conns}"))
            .arg(format!("-d{secs}s"))
            .arg("--latency")
            .arg(format!("http://{addr}/")),
        |words, r| match words {
            ["Requests/sec:", rate] => r.rate = rate.parse().unwrap_or(0.0),
            ["50%", lat] => r.p50_ms = millis(lat),
            ["99%", lat] => r.p99_ms = millis(lat),
            [n, "requests", "in", ..] => r.requests = n.parse().unwrap_or(0),
            _ => {}
        },
        |text| text.contains("Non-2xx") || text.contains("Socket errors"),
    )
}

/// Runs h2load against `addr` (HTTP/2 by prior knowledge) and reads its summary; the mean
/// request time goes in `p50_ms`.
fn h2load(addr: SocketAddr, threads: usize, conns: usize, streams: usize, secs: u64) -> WrkResult {
    run_load(
        Command::new("h2load")
            .arg(format!("-t{}", threads.min(conns)))
            .arg(format!("-c{conns}"))
            .arg(format!("-m{streams}"))
            .arg(format!("-D{secs}"))
            .arg(format!("http://{addr}/")),
        |words, r| match words {
            ["finished", "in", _, rate, "req/s,", ..] => r.rate = rate.parse().unwrap_or(0.0),
            ["requests:", _, "total,", _, "started,", done, "done,", ..] => {
                r.requests = done.parse().unwrap_or(0)
            }
            ["time", "for", "request:", _, _, mean, ..] => r.p50_ms = millis(mean),
            _ => {}
        },
        |text| !text.contains(" 0 failed") || !text.contains(" 0 errored"),
    )
}

/// wrk's latency figure (`812.00us`, `1.23ms`, `2.01s`) in milliseconds.
fn millis(s: &str) -> f64 {
    let split = s.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// The server side, on `HTTP_WORKERS` worker threads (default 2).
fn serve(kind: &str) {
    let workers: usize = env_or("HTTP_WORKERS", "2").parse().expect("HTTP_WORKERS");
    let h2 = env_or("HTTP_PROTO", "h1") == "h2";
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    println!("port {}", listener.local_addr().unwrap().port());
    match kind {
        "weft-uring" | "weft-epoll" => {
            let io = if kind == "weft-uring" {
                weft::runtime::IoBackend::Uring
            } else {
                weft::runtime::IoBackend::Epoll
            };
            let ex = weft::Executor::builder()
                .workers(workers)
                .io(io)
                .build()
                .unwrap();
            ex.block_on(async move {
                use weft::http::{Body, Request, Response};
                let listener = weft::net::TcpListener::from_std(listener).unwrap();
                weft::http::serve(listener, |_: Request<Body>| async {
                    Response::new(Body::from("Hello, World!"))
                })
                .await
                .unwrap();
            });
        }
        "hyper" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use hyper::service::service_fn;
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let service = service_fn(|_req| async {
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"Hello, World!",
                                )),
                            ))
                        });
                        let io = hyper_util::rt::TokioIo::new(s);
                        if h2 {
                            let _ = hyper::server::conn::http2::Builder::new(
                                hyper_util::rt::TokioExecutor::new(),
                            )
                            .serve_connection(io, service)
                            .await;
                        } else {
                            let _ = hyper::server::conn::http1::Builder::new()
                                .serve_connection(io, service)
                                .await;
                        }
                    });
                }
            });
        }
        other => panic!("unknown server {other}"),
    }
}
