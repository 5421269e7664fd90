//! Sync primitives and task sets, weft beside tokio's equivalents, in one process, each on its
//! own runtime with 2 workers.
//!
//! - `mutex_contended`: 8 tasks each lock a shared counter 1,000 times (yielding every 50).
//! - `semaphore_contended`: 8 tasks each take one of 2 permits 1,000 times.
//! - `taskset`: spawn 1,000 tasks into a `TaskSet` / `JoinSet` and join them all.
//! - `taskset_reverse`: 1,000 tasks each wait on their own oneshot; they are released one at a
//!   time, last spawned first, and each is joined before the next is released (the set is
//!   large and only one task in it is ready at a time).

#![allow(missing_docs)] // criterion_group! generates undocumented items.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use std::sync::Arc;
use std::time::Duration;

const TASKS: usize = 8;
const OPS: usize = 1_000;
const SET: usize = 1_000;

// `TaskSet` and `JoinSet` have the same shape but no common trait: each task-set body is
// written once here and expanded for both.

/// Spawns `SET` ready tasks into a set of type `$set` and joins them all.
macro_rules! join_all {
    ($set:ty) => {
        async {
            let mut set = <$set>::new();
            for i in 0..SET {
                set.spawn(async move { i });
            }
            let mut n = 0;
            while let Some(r) = set.join_next().await {
                n += r.unwrap();
            }
            n
        }
    };
}

/// Spawns `SET` tasks that each wait on their own oneshot (made by calling `$oneshot`), then releases
/// and joins them one at a time, last spawned first.
macro_rules! join_in_reverse {
    ($set:ty, $oneshot:expr) => {
        async {
            let mut set = <$set>::new();
            let mut gates = Vec::with_capacity(SET);
            for i in 0..SET {
                let (tx, rx) = ($oneshot)();
                gates.push(tx);
                set.spawn(async move {
                    let _ = rx.await;
                    i
                });
            }
            let mut n = 0;
            while let Some(gate) = gates.pop() {
                let _ = gate.send(());
                n += set.join_next().await.unwrap().unwrap();
            }
            n
        }
    };
}

fn bench(c: &mut Criterion) {
    let weft_rt = weft::Executor::new(2);
    let tokio_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();

    let mut g = c.benchmark_group(format!("mutex_contended/tasks={TASKS}/ops={OPS}"));
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter(|| {
            let m = Arc::new(weft::sync::Mutex::new(0u64));
            let hs: Vec<_> = (0..TASKS)
                .map(|_| {
                    let m = m.clone();
                    weft_rt.spawn(async move {
                        for i in 0..OPS {
                            *m.lock().await += 1;
                            if i % 50 == 0 {
                                weft::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            weft_rt.block_on(weft::join(hs));
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            let m = Arc::new(tokio::sync::Mutex::new(0u64));
            let hs: Vec<_> = (0..TASKS)
                .map(|_| {
                    let m = m.clone();
                    tokio_rt.spawn(async move {
                        for i in 0..OPS {
                            *m.lock().await += 1;
                            if i % 50 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                    })
                })
                .collect();
            tokio_rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("semaphore_contended/tasks={TASKS}/ops={OPS}"));
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter(|| {
            let s = Arc::new(weft::sync::Semaphore::new(2));
            let hs: Vec<_> = (0..TASKS)
                .map(|_| {
                    let s = s.clone();
                    weft_rt.spawn(async move {
                        for _ in 0..OPS {
                            let _p = s.acquire().await;
                        }
                    })
                })
                .collect();
            weft_rt.block_on(weft::join(hs));
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            let s = Arc::new(tokio::sync::Semaphore::new(2));
            let hs: Vec<_> = (0..TASKS)
                .map(|_| {
                    let s = s.clone();
                    tokio_rt.spawn(async move {
                        for _ in 0..OPS {
                            let _p = s.acquire().await.unwrap();
                        }
                    })
                })
                .collect();
            tokio_rt.block_on(async {
                for h in hs {
                    h.await.unwrap();
                }
            });
        })
    });
    g.finish();

    let mut g = c.benchmark_group(format!("taskset/tasks={SET}"));
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter(|| weft_rt.block_on(join_all!(weft::task::TaskSet<usize>)))
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| tokio_rt.block_on(join_all!(tokio::task::JoinSet<usize>)))
    });
    g.finish();

    let mut g = c.benchmark_group(format!("taskset_reverse/tasks={SET}"));
    // On a worker on both sides: the wake-ups stay between workers.
    g.bench_function(BenchmarkId::from_parameter("weft"), |b| {
        b.iter(|| {
            weft_rt.block_on(weft_rt.spawn(join_in_reverse!(
                weft::task::TaskSet<usize>,
                weft::sync::oneshot::channel::<()>
            )))
        })
    });
    g.bench_function(BenchmarkId::from_parameter("tokio"), |b| {
        b.iter(|| {
            tokio_rt.block_on(tokio_rt.spawn(join_in_reverse!(
                tokio::task::JoinSet<usize>,
                tokio::sync::oneshot::channel::<()>
            )))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
