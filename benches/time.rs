//! Timer costs, weft beside tokio (and smol's async-io timers where they apply), one process.
//!
//! - `timeout_ready`: `timeout(ready_future, 1s)`, the path of every timeout that does not
//!   fire; ns per call.
//! - `timer_register_cancel_remote`: a timer registered by a task on a worker and cancelled
//!   (dropped) on another thread; ns per timer, both steps.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion};
use std::future::Future;
use std::pin::Pin;
use std::task::Context;
use std::time::{Duration, Instant};

const TIMERS: usize = 1_000;

/// Polls a future once, to register its timer.
fn poll_once<F: Future + Unpin>(f: &mut F) {
    let waker = std::task::Waker::noop();
    let mut cx = Context::from_waker(waker);
    assert!(Pin::new(f).poll(&mut cx).is_pending());
}

fn bench(c: &mut Criterion) {
    let weft = weft::Executor::new(2);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .unwrap();

    let mut g = c.benchmark_group("timeout_ready");
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter_custom(|iters| {
            weft.block_on(async move {
                let start = Instant::now();
                for i in 0..iters {
                    let out = weft::timeout(async { black_box(i) }, Duration::from_secs(1)).await;
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter_custom(|iters| {
            tokio.block_on(async move {
                let start = Instant::now();
                for i in 0..iters {
                    let out =
                        tokio::time::timeout(Duration::from_secs(1), async { black_box(i) }).await;
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("timer_register_cancel_remote/timers={TIMERS}"));
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter(|| {
            let timers = weft
                .spawn(async {
                    (0..TIMERS)
                        .map(|_| {
                            let mut s = Box::pin(weft::sleep(Duration::from_secs(3600)));
                            poll_once(&mut s);
                            s
                        })
                        .collect::<Vec<_>>()
                })
                .join();
            drop(timers);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            let timers = tokio
                .block_on(tokio.spawn(async {
                    (0..TIMERS)
                        .map(|_| {
                            let mut s = Box::pin(tokio::time::sleep(Duration::from_secs(3600)));
                            poll_once(&mut s);
                            s
                        })
                        .collect::<Vec<_>>()
                }))
                .unwrap();
            drop(timers);
        })
    });
    g.bench_function(BenchmarkId::from_parameter("smol"), |b| {
        b.iter(|| {
            let timers = std::thread::scope(|s| {
                s.spawn(|| {
                    (0..TIMERS)
                        .map(|_| {
                            let mut t = async_io::Timer::after(Duration::from_secs(3600));
                            poll_once(&mut t);
                            t
                        })
                        .collect::<Vec<_>>()
                })
                .join()
                .unwrap()
            });
            drop(timers);
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
