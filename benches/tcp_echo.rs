//! TCP echo over loopback: 1 KiB messages at 1, 16, 64 and 256 connections, against weft on
//! io_uring and on epoll, tokio (multi-thread, 2 workers), smol (async-executor on 2 threads
//! with async-io), and two minimal C servers (liburing and epoll, `benches/c/`) as the floor.
//!
//! Each server runs in a process of its own (this binary, started again with `--server KIND`);
//! one load generator, the same for every server (a tokio current-thread runtime in this
//! process, one task per connection, each sending a message and waiting for its echo), drives
//! it. Reported per server and connection count: round trips per second, p50/p99 latency, and
//! the server's CPU time (user + system, from `/proc/PID/stat`) per round trip, the figure that
//! separates servers when the load generator caps the throughput.
//!
//! `cargo bench -p weft-benches --bench tcp_echo` (environment: `ECHO_SECS` per point, default
//! 2; `ECHO_SERVERS`, a comma-separated subset; `ECHO_CONNS`, e.g. `1,64`; `ECHO_WORKERS`, the server's
//! workers or threads, default 2).

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};
use weft_benches::procs::{context_switches, cpu_time, env_or, ServerProcess};

const MSG: usize = 1024;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--server") {
        serve(&args[i + 1]);
        return;
    }
    let secs: f64 = env_or("ECHO_SECS", "2").parse().expect("ECHO_SECS");
    let conns: Vec<usize> = env_or("ECHO_CONNS", "1,16,64,256")
        .split(',')
        .map(|c| c.trim().parse().expect("ECHO_CONNS"))
        .collect();
    let mut servers: Vec<String> = env_or(
        "ECHO_SERVERS",
        "weft-uring,weft-epoll,tokio,smol,c-uring,c-epoll",
    )
    .split(',')
    .map(str::to_owned)
    .collect();
    if servers.iter().any(|s| s.starts_with("c-")) && !build_c_servers() {
        eprintln!("the C servers could not be built (cc and liburing-dev needed): left out");
        servers.retain(|s| !s.starts_with("c-"));
    }
    println!(
        "tcp_echo: {MSG}-byte messages, {secs} s per point, {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<11} {:>6} {:>12} {:>9} {:>9} {:>12} {:>8} {:>15}",
        "server", "conns", "rt/s", "p50 us", "p99 us", "cpu us/rt", "cs/krt", "min/max conn"
    );
    for &n in &conns {
        for s in &servers {
            let mut server = match s.as_str() {
                "c-uring" => ServerProcess::start(Command::new(c_bin("echo_uring")), s),
                "c-epoll" => ServerProcess::start(Command::new(c_bin("echo_epoll")), s),
                _ => ServerProcess::this_binary(s),
            };
            let r = drive(server.addr, n, Duration::from_secs_f64(secs), server.pid());
            println!(
                "{:<11} {:>6} {:>12.0} {:>9.1} {:>9.1} {:>12.2} {:>8.1} {:>15}",
                s,
                n,
                r.rate,
                r.p50_us,
                r.p99_us,
                r.cpu_us_per_rt,
                r.cs_per_krt,
                format!("{}/{}", r.min_conn, r.max_conn)
            );
            weft_benches::record(
                "tcp_echo",
                &[
                    ("server", s.into()),
                    ("conns", n.into()),
                    ("workers", env_or("ECHO_WORKERS", "2").as_str().into()),
                    ("rate", r.rate.into()),
                    ("p50_us", r.p50_us.into()),
                    ("p99_us", r.p99_us.into()),
                    ("cpu_us_per_rt", r.cpu_us_per_rt.into()),
                    ("cs_per_krt", r.cs_per_krt.into()),
                ],
            );
            server.stop();
        }
    }
}

fn c_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("c")
}

fn c_bin(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/c-echo")
        .join(name)
}

fn build_c_servers() -> bool {
    let out = c_bin("");
    let _ = std::fs::create_dir_all(&out);
    let build = |src: &str, bin: &str, libs: &[&str]| {
        Command::new("cc")
            .args(["-O2", "-o"])
            .arg(c_bin(bin))
            .arg(c_dir().join(src))
            .args(libs)
            .status()
            .is_ok_and(|s| s.success())
    };
    build("echo_uring.c", "echo_uring", &["-luring"]) && build("echo_epoll.c", "echo_epoll", &[])
}

struct Result {
    rate: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_rt: f64,
    /// The server's context switches per thousand round trips.
    cs_per_krt: f64,
    /// Round trips of the least and the most served connection: how evenly it serves.
    min_conn: usize,
    max_conn: usize,
}

/// `conns` connections, each echoing one message at a time for `time` (after a short warm-up).
fn drive(addr: SocketAddr, conns: usize, time: Duration, pid: u32) -> Result {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut streams = Vec::new();
        for _ in 0..conns {
            let s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            streams.push(s);
        }
        let warmup = Duration::from_millis(300);
        let start = Instant::now() + warmup;
        let end = start + time;
        let cpu_start = std::sync::Arc::new(std::sync::Mutex::new(None));
        let tasks: Vec<_> = streams
            .into_iter()
            .map(|mut s| {
                tokio::spawn(async move {
                    let msg = [7u8; MSG];
                    let mut buf = [0u8; MSG];
                    let mut lat = Vec::new();
                    loop {
                        let t = Instant::now();
                        if t >= end {
                            break;
                        }
                        s.write_all(&msg).await.unwrap();
                        s.read_exact(&mut buf).await.unwrap();
                        if t >= start {
                            lat.push(t.elapsed().as_nanos() as u64);
                        }
                    }
                    lat
                })
            })
            .collect();
        tokio::time::sleep_until((start).into()).await;
        *cpu_start.lock().unwrap() = Some((cpu_time(pid), context_switches(pid)));
        let mut lat = Vec::new();
        let (mut min_conn, mut max_conn) = (usize::MAX, 0);
        for t in tasks {
            let l = t.await.unwrap();
            min_conn = min_conn.min(l.len());
            max_conn = max_conn.max(l.len());
            lat.extend(l);
        }
        let (cpu0, cs0) = cpu_start.lock().unwrap().unwrap();
        let cpu = cpu_time(pid) - cpu0;
        let cs = context_switches(pid) - cs0;
        lat.sort_unstable();
        let n = lat.len().max(1);
        let pct = |p: f64| lat[((n as f64 * p) as usize).min(n - 1)] as f64 / 1000.0;
        Result {
            rate: lat.len() as f64 / time.as_secs_f64(),
            p50_us: pct(0.50),
            p99_us: pct(0.99),
            cpu_us_per_rt: cpu.as_secs_f64() * 1e6 / n as f64,
            cs_per_krt: cs as f64 * 1000.0 / n as f64,
            min_conn,
            max_conn,
        }
    })
}

/// `ECHO_METRICS=1`: every second, the weft server's scheduler figures for that second per
/// worker, on stderr (what a round trip costs in polls, steals, parks and driver events).
fn print_metrics(ex: std::sync::Arc<weft::Executor>) {
    std::thread::spawn(move || {
        let figures = |m: &weft::runtime::Metrics, w: usize| {
            let w = m.worker(w);
            [
                w.polls(),
                w.steals(),
                w.stolen_tasks(),
                w.parks(),
                w.lifo_hits(),
                w.io_events(),
            ]
        };
        let mut last = ex.metrics();
        loop {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let now = ex.metrics();
            for w in 0..now.workers() {
                let (a, b) = (figures(&last, w), figures(&now, w));
                let d: Vec<u64> = a.iter().zip(&b).map(|(a, b)| b - a).collect();
                eprintln!(
                    "worker {w}: polls {} steals {} stolen {} parks {} lifo {} io_events {}",
                    d[0], d[1], d[2], d[3], d[4], d[5]
                );
            }
            last = now;
        }
    });
}

/// The server side: an accept loop and one echo task per connection, on 2 workers.
fn serve(kind: &str) {
    let workers: usize = env_or("ECHO_WORKERS", "2").parse().expect("ECHO_WORKERS");
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
            let ex = std::sync::Arc::new(ex);
            if std::env::var_os("ECHO_METRICS").is_some() {
                print_metrics(ex.clone());
            }
            ex.block_on(async move {
                use weft::io::{AsyncReadExt, AsyncWriteExt};
                let listener = weft::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    weft::spawn(async move {
                        let mut buf = [0u8; MSG];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                listener.set_nonblocking(true).unwrap();
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    s.set_nodelay(true).unwrap();
                    tokio::spawn(async move {
                        let mut buf = [0u8; MSG];
                        loop {
                            match s.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => {
                                    if s.write_all(&buf[..n]).await.is_err() {
                                        return;
                                    }
                                }
                            }
                        }
                    });
                }
            });
        }
        "smol" => {
            use futures_lite::{AsyncReadExt, AsyncWriteExt};
            let ex = std::sync::Arc::new(async_executor::Executor::new());
            for _ in 0..workers {
                let ex = ex.clone();
                std::thread::spawn(move || {
                    async_io::block_on(ex.run(futures_lite::future::pending::<()>()))
                });
            }
            let listener = async_io::Async::new(listener).unwrap();
            let spawner = ex.clone();
            // The accept loop is a task on the two executor threads, as on the other servers;
            // this thread only waits (and drives async-io's reactor when nobody else does).
            let accept = ex.spawn(async move {
                loop {
                    let (mut s, _) = listener.accept().await.unwrap();
                    s.get_ref().set_nodelay(true).unwrap();
                    spawner
                        .spawn(async move {
                            let mut buf = [0u8; MSG];
                            loop {
                                match s.read(&mut buf).await {
                                    Ok(0) | Err(_) => return,
                                    Ok(n) => {
                                        if s.write_all(&buf[..n]).await.is_err() {
                                            return;
                                        }
                                    }
                                }
                            }
                        })
                        .detach();
                }
            });
            async_io::block_on(accept);
        }
        other => panic!("unknown server {other}"),
    }
}
