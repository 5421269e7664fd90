//! A small channel workload for counting instructions (`valgrind --tool=callgrind`) or
//! system calls and context switches (`perf stat`, `perf trace -s`) rather than timing it.
//!
//! `channel_count CRATE CAPACITY MESSAGES [PRODUCERS CONSUMERS WORKERS RUNTIME]`:
//! - `CRATE`: `weft`, `weft-unc` (each operation inside `weft::task::unconstrained`) or `kanal`;
//! - `CAPACITY`: a number, or `unbounded`;
//! - `PRODUCERS` / `CONSUMERS`: tasks (1 and 1 by default), `MESSAGES` in all;
//! - `WORKERS`: worker threads (1 by default);
//! - `RUNTIME`: `weft` (default) or `tokio`.
//!
//! The cost of one message is the difference between two runs with different `MESSAGES`,
//! divided by the difference in messages, which cancels the runtime's start and stop.

#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

fn tasks(krate: &str, cap: Option<usize>, msgs: u64, producers: u64, consumers: u64) -> Vec<Task> {
    let per = msgs / producers;
    let mut out: Vec<Task> = Vec::new();
    match krate {
        "weft" | "weft-unc" => {
            let unc = krate == "weft-unc";
            let (tx, rx) = match cap {
                Some(n) => weft::channel::bounded::<u64>(n),
                None => weft::channel::unbounded(),
            };
            for _ in 0..producers {
                let tx = tx.clone();
                out.push(Box::pin(async move {
                    for i in 0..per {
                        if unc {
                            weft::task::unconstrained(tx.send(i)).await.unwrap();
                        } else {
                            tx.send(i).await.unwrap();
                        }
                    }
                }));
            }
            for _ in 0..consumers {
                let rx = rx.clone();
                out.push(Box::pin(async move {
                    loop {
                        let v = if unc {
                            weft::task::unconstrained(rx.recv()).await
                        } else {
                            rx.recv().await
                        };
                        if v.is_none() {
                            break;
                        }
                    }
                }));
            }
        }
        "kanal" => {
            let (tx, rx) = match cap {
                Some(n) => kanal::bounded_async::<u64>(n),
                None => kanal::unbounded_async(),
            };
            for _ in 0..producers {
                let tx = tx.clone();
                out.push(Box::pin(async move {
                    for i in 0..per {
                        tx.send(i).await.unwrap();
                    }
                }));
            }
            let rx = Arc::new(rx);
            for _ in 0..consumers {
                let rx = rx.clone();
                out.push(Box::pin(async move { while rx.recv().await.is_ok() {} }));
            }
        }
        other => panic!("unknown crate {other}"),
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let krate = arg(0, "weft");
    let cap = match arg(1, "1024").as_str() {
        "unbounded" => None,
        n => Some(n.parse().expect("capacity")),
    };
    let msgs: u64 = arg(2, "100000").parse().expect("messages");
    let producers: u64 = arg(3, "1").parse().expect("producers");
    let consumers: u64 = arg(4, "1").parse().expect("consumers");
    let workers: usize = arg(5, "1").parse().expect("workers");
    let runtime = arg(6, "weft");
    let ts = tasks(&krate, cap, msgs, producers, consumers);
    let start = std::time::Instant::now();
    match runtime.as_str() {
        "weft" => {
            let rt = weft::Executor::new(workers);
            let hs: Vec<_> = ts.into_iter().map(|t| rt.spawn(t)).collect();
            rt.block_on(async {
                for h in hs {
                    h.await;
                }
            });
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .unwrap();
            let hs: Vec<_> = ts.into_iter().map(|t| rt.spawn(t)).collect();
            rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
        }
        other => panic!("unknown runtime {other}"),
    }
    let ns = start.elapsed().as_nanos() as f64 / msgs as f64;
    eprintln!("{krate} cap={cap:?} {msgs} msgs {producers}p{consumers}c {workers}w on {runtime}: {ns:.1} ns/msg");
}
