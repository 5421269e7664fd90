//! Accept rate and file throughput, weft (io_uring and epoll) beside tokio, each in the same
//! run on the same machine.
//!
//! - accept: a server accepts connections and closes each at once; 4 client threads connect
//!   in a loop (blocking std sockets, each waiting for the close) for `IO_SECS` seconds.
//!   Reported: connections per second.
//! - files: write a 64 MiB file in 64 KiB `write_all`s plus `sync_all`, then read it back in
//!   64 KiB reads (page cache warm). Reported: MiB per second each way.
//!
//! `cargo bench -p weft-benches --bench io_rates` (`IO_SECS`, default 2).

use std::io::Read;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CLIENTS: usize = 4;
const FILE_BYTES: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

fn main() {
    let secs: f64 = std::env::var("IO_SECS")
        .unwrap_or_else(|_| "2".into())
        .parse()
        .expect("IO_SECS");
    println!(
        "io_rates: {} s per accept point, {} cores",
        secs,
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    println!(
        "{:<11} {:>14} {:>14} {:>14}",
        "runtime", "accepts/s", "write MiB/s", "read MiB/s"
    );
    for kind in ["weft-uring", "weft-epoll", "tokio"] {
        let accepts = accept_rate(kind, Duration::from_secs_f64(secs));
        let (w, r) = file_rates(kind);
        println!("{kind:<11} {accepts:>14.0} {w:>14.0} {r:>14.0}");
        weft_benches::record(
            "io_rates",
            &[
                ("runtime", kind.into()),
                ("accepts_per_s", accepts.into()),
                ("write_mib_s", w.into()),
                ("read_mib_s", r.into()),
            ],
        );
    }
}

fn weft_executor(kind: &str) -> weft::Executor {
    let io = if kind == "weft-uring" {
        weft::runtime::IoBackend::Uring
    } else {
        weft::runtime::IoBackend::Epoll
    };
    weft::Executor::builder().workers(2).io(io).build().unwrap()
}

fn tokio_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Connects in a loop from `CLIENTS` threads for `dur`; returns connections per second.
fn drive_connects(addr: SocketAddr, dur: Duration) -> f64 {
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (done, count) = (done.clone(), count.clone());
            std::thread::spawn(move || {
                let mut buf = [0u8; 1];
                while !done.load(Ordering::Relaxed) {
                    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
                        continue;
                    };
                    // The server closes at once: wait for it, so each connection is a full
                    // accept and close.
                    let _ = s.read(&mut buf);
                    count.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(dur);
    done.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().unwrap();
    }
    count.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

fn accept_rate(kind: &str, dur: Duration) -> f64 {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = std_listener.local_addr().unwrap();
    if kind == "tokio" {
        let rt = tokio_runtime();
        std_listener.set_nonblocking(true).unwrap();
        let server = rt.spawn(async move {
            let l = tokio::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                if let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }
        });
        let rate = drive_connects(addr, dur);
        server.abort();
        rate
    } else {
        let ex = weft_executor(kind);
        let server = ex.spawn(async move {
            let l = weft::net::TcpListener::from_std(std_listener).unwrap();
            loop {
                if let Ok((s, _)) = l.accept().await {
                    drop(s);
                }
            }
        });
        let rate = drive_connects(addr, dur);
        server.abort();
        ex.shutdown();
        rate
    }
}

/// Returns (write MiB/s, read MiB/s).
fn file_rates(kind: &str) -> (f64, f64) {
    let path = std::env::temp_dir().join(format!("weft-io-rates-{}-{kind}", std::process::id()));
    let chunk = vec![7u8; CHUNK];
    let mib = FILE_BYTES as f64 / (1 << 20) as f64;
    let (w, r) = if kind == "tokio" {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let rt = tokio_runtime();
        rt.block_on(async {
            let t = Instant::now();
            let mut f = tokio::fs::File::create(&path).await.unwrap();
            for _ in 0..FILE_BYTES / CHUNK {
                f.write_all(&chunk).await.unwrap();
            }
            f.sync_all().await.unwrap();
            let w = t.elapsed();
            let t = Instant::now();
            let mut f = tokio::fs::File::open(&path).await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0;
            loop {
                let n = f.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            assert_eq!(total, FILE_BYTES);
            (w, t.elapsed())
        })
    } else {
        use weft::io::{AsyncReadExt, AsyncWriteExt};
        let ex = weft_executor(kind);
        // On a worker, as a server's handler would be.
        ex.block_on(ex.spawn(async move {
            let t = Instant::now();
            let mut f = weft::fs::File::create(&path).await.unwrap();
            for _ in 0..FILE_BYTES / CHUNK {
                f.write_all(&chunk).await.unwrap();
            }
            f.sync_all().await.unwrap();
            let w = t.elapsed();
            let t = Instant::now();
            let mut f = weft::fs::File::open(&path).await.unwrap();
            let mut buf = vec![0u8; CHUNK];
            let mut total = 0;
            loop {
                let n = f.read(&mut buf).await.unwrap();
                if n == 0 {
                    break;
                }
                total += n;
            }
            assert_eq!(total, FILE_BYTES);
            (w, t.elapsed())
        }))
    };
    let path = std::env::temp_dir().join(format!("weft-io-rates-{}-{kind}", std::process::id()));
    let _ = std::fs::remove_file(path);
    (mib / w.as_secs_f64(), mib / r.as_secs_f64())
}
