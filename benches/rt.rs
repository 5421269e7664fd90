//! tokio's scheduler workloads (`benches/rt_multi_threaded.rs` in tokio), run on weft, tokio's
//! multi-thread runtime and smol's async-executor, each with the same number of workers
//! (`BENCH_WORKERS`, default 2), in one process.
//!
//! - `spawn_many_local`: 10,000 no-op tasks spawned from inside a task, all awaited through a
//!   countdown.
//! - `spawn_many_remote`: 10,000 tasks spawned from a non-worker thread, each handle awaited.
//! - `yield_many`: 200 tasks each yielding 1,000 times.
//! - `ping_pong`: 1,000 request/reply pairs over oneshot channels between freshly spawned tasks.
//! - `chained_spawn`: a chain of 1,000 tasks, each spawning the next.
//!
//! Oneshots are `futures-channel`'s for every runtime, so only the schedulers differ.

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use futures_channel::oneshot;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};
use std::time::Duration;

const NUM_SPAWN: usize = 10_000;
const NUM_YIELD: usize = 1_000;
const YIELD_TASKS: usize = 200;
const NUM_PINGS: usize = 1_000;
const CHAIN: usize = 1_000;

fn workers() -> usize {
    std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

/// The operations each runtime must offer for these workloads.
trait Rt: Sync + 'static {
    const NAME: &'static str;
    fn spawn_detached(&'static self, f: impl Future<Output = ()> + Send + 'static);
    /// Spawns a detached task from a thread outside the runtime.
    fn spawn_outside(&'static self, f: impl Future<Output = ()> + Send + 'static);
    fn block_on<T>(&'static self, f: impl Future<Output = T>) -> T;
    /// Spawns from the current thread and returns something to await for completion.
    fn spawn_awaitable(
        &'static self,
        f: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send;
    fn yield_now() -> impl Future<Output = ()> + Send;
}

struct Weft(weft::Executor);

impl Rt for Weft {
    const NAME: &'static str = "weft";
    fn spawn_detached(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        drop(weft::spawn(f));
    }
    fn spawn_outside(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        drop(self.0.spawn(f));
    }
    fn block_on<T>(&'static self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }
    fn spawn_awaitable(
        &'static self,
        f: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send {
        self.0.spawn(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        weft::yield_now()
    }
}

struct Tokio(tokio::runtime::Runtime);

impl Rt for Tokio {
    const NAME: &'static str = "tokio";
    fn spawn_detached(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        drop(tokio::spawn(f));
    }
    fn spawn_outside(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        drop(self.0.spawn(f));
    }
    fn block_on<T>(&'static self, f: impl Future<Output = T>) -> T {
        self.0.block_on(f)
    }
    fn spawn_awaitable(
        &'static self,
        f: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send {
        let h = self.0.spawn(f);
        async move { h.await.unwrap() }
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        tokio::task::yield_now()
    }
}

struct Smol(async_executor::Executor<'static>);

impl Rt for Smol {
    const NAME: &'static str = "smol";
    fn spawn_detached(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(f).detach();
    }
    fn spawn_outside(&'static self, f: impl Future<Output = ()> + Send + 'static) {
        self.0.spawn(f).detach();
    }
    fn block_on<T>(&'static self, f: impl Future<Output = T>) -> T {
        futures_lite::future::block_on(f)
    }
    fn spawn_awaitable(
        &'static self,
        f: impl Future<Output = ()> + Send + 'static,
    ) -> impl Future<Output = ()> + Send {
        self.0.spawn(f)
    }
    fn yield_now() -> impl Future<Output = ()> + Send {
        futures_lite::future::yield_now()
    }
}

fn weft_rt() -> &'static Weft {
    Box::leak(Box::new(Weft(weft::Executor::new(workers()))))
}

fn tokio_rt() -> &'static Tokio {
    Box::leak(Box::new(Tokio(
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers())
            .build()
            .unwrap(),
    )))
}

fn smol_rt() -> &'static Smol {
    let ex: &'static Smol = Box::leak(Box::new(Smol(async_executor::Executor::new())));
    for _ in 0..workers() {
        std::thread::spawn(move || {
            futures_lite::future::block_on(ex.0.run(std::future::pending::<()>()));
        });
    }
    ex
}

fn spawn_many_local<R: Rt>(rt: &'static R) {
    let (tx, rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(NUM_SPAWN));
    rt.spawn_outside(async move {
        for _ in 0..NUM_SPAWN {
            let tx = tx.clone();
            let rem = rem.clone();
            rt.spawn_detached(async move {
                if rem.fetch_sub(1, Relaxed) == 1 {
                    tx.send(()).unwrap();
                }
            });
        }
    });
    rx.recv().unwrap();
}

fn spawn_many_remote<R: Rt>(rt: &'static R) {
    let handles: Vec<_> = (0..NUM_SPAWN)
        .map(|_| rt.spawn_awaitable(async {}))
        .collect();
    rt.block_on(async move {
        for h in handles {
            h.await;
        }
    });
}

fn yield_many<R: Rt>(rt: &'static R) {
    let (tx, rx) = mpsc::sync_channel(YIELD_TASKS);
    for _ in 0..YIELD_TASKS {
        let tx = tx.clone();
        rt.spawn_outside(async move {
            for _ in 0..NUM_YIELD {
                R::yield_now().await;
            }
            tx.send(()).unwrap();
        });
    }
    for _ in 0..YIELD_TASKS {
        rx.recv().unwrap();
    }
}

fn ping_pong<R: Rt>(rt: &'static R) {
    let (done_tx, done_rx) = mpsc::sync_channel(1);
    let rem = Arc::new(AtomicUsize::new(NUM_PINGS));
    rt.spawn_outside(async move {
        for _ in 0..NUM_PINGS {
            let rem = rem.clone();
            let done_tx = done_tx.clone();
            rt.spawn_detached(async move {
                let (tx1, rx1) = oneshot::channel::<()>();
                let (tx2, rx2) = oneshot::channel::<()>();
                rt.spawn_detached(async move {
                    rx1.await.unwrap();
                    tx2.send(()).unwrap();
                });
                tx1.send(()).unwrap();
                rx2.await.unwrap();
                if rem.fetch_sub(1, Relaxed) == 1 {
                    done_tx.send(()).unwrap();
                }
            });
        }
    });
    done_rx.recv().unwrap();
}

fn chain<R: Rt>(rt: &'static R, done: mpsc::SyncSender<()>, n: usize) {
    if n == 0 {
        done.send(()).unwrap();
    } else {
        rt.spawn_detached(async move { chain(rt, done, n - 1) });
    }
}

fn chained_spawn<R: Rt>(rt: &'static R) {
    let (tx, rx) = mpsc::sync_channel(1);
    rt.spawn_outside(async move { chain(rt, tx, CHAIN) });
    rx.recv().unwrap();
}

fn bench_all(c: &mut Criterion) {
    let weft = weft_rt();
    let tokio = tokio_rt();
    let smol = smol_rt();
    type Workload = (
        &'static str,
        usize,
        fn(&'static Weft),
        fn(&'static Tokio),
        fn(&'static Smol),
    );
    let workloads: [Workload; 5] = [
        (
            "spawn_many_local",
            NUM_SPAWN,
            spawn_many_local::<Weft>,
            spawn_many_local::<Tokio>,
            spawn_many_local::<Smol>,
        ),
        (
            "spawn_many_remote",
            NUM_SPAWN,
            spawn_many_remote::<Weft>,
            spawn_many_remote::<Tokio>,
            spawn_many_remote::<Smol>,
        ),
        (
            "yield_many",
            NUM_YIELD * YIELD_TASKS,
            yield_many::<Weft>,
            yield_many::<Tokio>,
            yield_many::<Smol>,
        ),
        (
            "ping_pong",
            NUM_PINGS,
            ping_pong::<Weft>,
            ping_pong::<Tokio>,
            ping_pong::<Smol>,
        ),
        (
            "chained_spawn",
            CHAIN,
            chained_spawn::<Weft>,
            chained_spawn::<Tokio>,
            chained_spawn::<Smol>,
        ),
    ];
    for (name, ops, w, t, s) in workloads {
        let mut g = c.benchmark_group(format!("{name}/ops={ops}/workers={}", workers()));
        g.bench_function(BenchmarkId::from_parameter(Weft::NAME), |b| {
            b.iter(|| w(weft))
        });
        g.bench_function(BenchmarkId::from_parameter(Tokio::NAME), |b| {
            b.iter(|| t(tokio))
        });
        g.bench_function(BenchmarkId::from_parameter(Smol::NAME), |b| {
            b.iter(|| s(smol))
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bench_all
}
criterion_main!(benches);
