//! A small channel workload for counting instructions (`valgrind --tool=callgrind`) or
//! system calls and context switches (`perf stat`, `perf trace -s`) rather than timing it.
//!
//! `channel_count CRATE CAPACITY MESSAGES [PRODUCERS CONSUMERS WORKERS RUNTIME ROUNDS]`:
//! - `CRATE`: `weft`, `weft-unc` (each operation inside `weft::task::unconstrained`) or `kanal`;
//! - `CAPACITY`: a number, or `unbounded`;
//! - `PRODUCERS` / `CONSUMERS`: tasks (1 and 1 by default), `MESSAGES` in all;
//! - `WORKERS`: worker threads (1 by default);
//! - `RUNTIME`: `weft` (default) or `tokio`;
//! - `ROUNDS`: the messages are sent in this many rounds (1 by default) on one runtime, each
//!   with fresh tasks, as the criterion bench does.
//!
//! The cost of one message is the difference between two runs with different `MESSAGES`,
//! divided by the difference in messages, which cancels the runtime's start and stop.

#![allow(missing_docs)]

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Where the first producer and the consumers last ran, sampled every 256 messages: how often a
/// consumer ran on the thread the producer last ran on shows whether the pair shares a worker.
static PRODUCER_THREAD: AtomicU64 = AtomicU64::new(0);
static SAME: AtomicU64 = AtomicU64::new(0);
static APART: AtomicU64 = AtomicU64::new(0);

fn thread_tag() -> u64 {
    thread_local! { static TAG: u64 = NEXT.fetch_add(1, Relaxed); }
    static NEXT: AtomicU64 = AtomicU64::new(1);
    TAG.with(|t| *t)
}

fn sample(producer: bool, i: u64) {
    if !i.is_multiple_of(256) {
        return;
    }
    if producer {
        PRODUCER_THREAD.store(thread_tag(), Relaxed);
    } else if PRODUCER_THREAD.load(Relaxed) == thread_tag() {
        SAME.fetch_add(1, Relaxed);
    } else {
        APART.fetch_add(1, Relaxed);
    }
}

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
            for p in 0..producers {
                let tx = tx.clone();
                out.push(Box::pin(async move {
                    for i in 0..per {
                        if p == 0 {
                            sample(true, i);
                        }
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
                    let mut n = 0u64;
                    loop {
                        sample(false, n);
                        n += 1;
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
            for p in 0..producers {
                let tx = tx.clone();
                out.push(Box::pin(async move {
                    for i in 0..per {
                        if p == 0 {
                            sample(true, i);
                        }
                        tx.send(i).await.unwrap();
                    }
                }));
            }
            let rx = Arc::new(rx);
            for _ in 0..consumers {
                let rx = rx.clone();
                out.push(Box::pin(async move {
                    let mut n = 0u64;
                    loop {
                        sample(false, n);
                        n += 1;
                        if rx.recv().await.is_err() {
                            break;
                        }
                    }
                }));
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
    let rounds: u64 = arg(7, "1").parse().expect("rounds");
    let per_round = msgs / rounds;
    let start = std::time::Instant::now();
    match runtime.as_str() {
        "weft" => {
            let rt = weft::Executor::new(workers);
            for _ in 0..rounds {
                let ts = tasks(&krate, cap, per_round, producers, consumers);
                let hs: Vec<_> = ts.into_iter().map(|t| rt.spawn(t)).collect();
                rt.block_on(async {
                    for h in hs {
                        h.await;
                    }
                });
            }
        }
        "tokio" => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .build()
                .unwrap();
            for _ in 0..rounds {
                let ts = tasks(&krate, cap, per_round, producers, consumers);
                let hs: Vec<_> = ts.into_iter().map(|t| rt.spawn(t)).collect();
                rt.block_on(async {
                    for h in hs {
                        h.await.unwrap();
                    }
                });
            }
        }
        other => panic!("unknown runtime {other}"),
    }
    let ns = start.elapsed().as_nanos() as f64 / msgs as f64;
    let (same, apart) = (SAME.load(Relaxed), APART.load(Relaxed));
    let shared = 100.0 * same as f64 / (same + apart).max(1) as f64;
    eprintln!(
        "{krate} cap={cap:?} {msgs} msgs {producers}p{consumers}c {workers}w on {runtime}: \
         {ns:.1} ns/msg, consumer on the producer's thread {shared:.0} %"
    );
}
