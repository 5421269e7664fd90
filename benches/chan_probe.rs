//! One producer and one consumer at capacity 0 and 1 on a weft executor of 2 workers, weft's
//! channel beside kanal's, with the scheduler's figures per message (polls, steals, parks,
//! LIFO hits): when both make the same scheduling, what is left between them is the channel's
//! own work, which `valgrind --tool=callgrind` on this binary counts (`WEFT_IO=epoll`;
//! `PROBE=weft|kanal` runs one of them, `PROBE_CAP=0|1` one capacity).
//!
//! `cargo bench -p weft-benches --bench chan_probe`
use std::time::Instant;

const N: u64 = 200_000;

fn figures(ex: &weft::Executor) -> [u64; 5] {
    let m = ex.metrics();
    let mut f = [0; 5];
    for w in 0..m.workers() {
        let w = m.worker(w);
        f[0] += w.polls();
        f[1] += w.steals();
        f[2] += w.parks();
        f[3] += w.lifo_hits();
        f[4] += w.stolen_tasks();
    }
    f
}

fn report(name: &str, ex: &weft::Executor, run: impl FnOnce()) {
    let a = figures(ex);
    let t = Instant::now();
    run();
    let el = t.elapsed();
    let b = figures(ex);
    let per = |i: usize| (b[i] - a[i]) as f64 / N as f64;
    println!(
        "{name:<14} {:>7.1} ns/msg  polls {:.3} steals {:.4} parks {:.4} lifo {:.3} stolen {:.4}",
        el.as_nanos() as f64 / N as f64,
        per(0),
        per(1),
        per(2),
        per(3),
        per(4)
    );
}

fn main() {
    let ex = weft::Executor::new(2);
    let only = std::env::var("PROBE").unwrap_or_default();
    let caps: Vec<usize> = match std::env::var("PROBE_CAP") {
        Ok(c) => vec![c.parse().unwrap()],
        Err(_) => vec![0, 1],
    };
    for cap in caps {
        for _ in 0..2 {
            if only != "kanal" {
                report(&format!("weft cap{cap}"), &ex, || {
                    let (tx, rx) = weft::channel::bounded::<u64>(cap);
                    let p = ex.spawn(async move {
                        for i in 0..N {
                            tx.send(i).await.unwrap();
                        }
                    });
                    let c = ex.spawn(async move { while rx.recv().await.is_some() {} });
                    ex.block_on(async {
                        p.await;
                        c.await;
                    });
                });
            }
            if only != "weft" {
                report(&format!("kanal cap{cap}"), &ex, || {
                    let (tx, rx) = kanal::bounded_async::<u64>(cap);
                    let p = ex.spawn(async move {
                        for i in 0..N {
                            tx.send(i).await.unwrap();
                        }
                    });
                    let c = ex.spawn(async move { while rx.recv().await.is_ok() {} });
                    ex.block_on(async {
                        p.await;
                        c.await;
                    });
                });
            }
        }
    }
}
