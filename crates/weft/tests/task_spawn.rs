//! Spawning: inside and outside a runtime, the global runtime, spawn_blocking, many tasks.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use weft::Executor;

#[test]
fn spawn_outside_any_runtime_uses_global() {
    let h = weft::spawn(async { thread::current().name().map(str::to_owned) });
    let name = h.join().unwrap_or_default();
    assert!(name.starts_with("weft-global"), "ran on {name}");
}

#[test]
fn spawn_inside_task_stays_on_its_executor() {
    let ex = Executor::builder()
        .workers(2)
        .thread_name("mine")
        .build()
        .unwrap();
    let name = ex
        .spawn(async { weft::spawn(async { thread::current().name().map(str::to_owned) }).await })
        .join()
        .unwrap_or_default();
    assert!(name.starts_with("mine-"), "ran on {name}");
}

#[test]
fn spawn_inside_executor_block_on_goes_to_that_executor() {
    let ex = Executor::builder()
        .workers(1)
        .thread_name("blk")
        .build()
        .unwrap();
    let name = ex.block_on(async {
        weft::spawn(async { thread::current().name().map(str::to_owned) }).await
    });
    assert_eq!(name.as_deref(), Some("blk-0"));
}

#[test]
fn weft_block_on_spawns_to_global() {
    let name = weft::block_on(async {
        weft::spawn(async { thread::current().name().map(str::to_owned) }).await
    });
    assert!(name.unwrap_or_default().starts_with("weft-global"));
}

#[test]
fn hundred_thousand_tasks() {
    let ex = Executor::new(2);
    let count = Arc::new(AtomicUsize::new(0));
    let total = ex.block_on({
        let count = count.clone();
        async move {
            let handles: Vec<_> = (0..100_000u64)
                .map(|i| {
                    let count = count.clone();
                    weft::spawn(async move {
                        if i % 3 == 0 {
                            weft::yield_now().await;
                        }
                        count.fetch_add(1, Ordering::Relaxed);
                        i
                    })
                })
                .collect();
            let mut total = 0;
            for h in handles {
                total += h.await;
            }
            total
        }
    });
    assert_eq!(total, (0..100_000u64).sum::<u64>());
    assert_eq!(count.load(Ordering::Relaxed), 100_000);
}

#[test]
fn spawn_from_many_threads_at_once() {
    let ex = Arc::new(Executor::new(2));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let ex = ex.clone();
            thread::spawn(move || {
                let hs: Vec<_> = (0..2_000u64)
                    .map(|i| ex.spawn(async move { i + t }))
                    .collect();
                hs.into_iter().map(|h| h.join()).sum::<u64>()
            })
        })
        .collect();
    let sum: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let expect: u64 = (0..4u64)
        .map(|t| (0..2_000u64).map(|i| i + t).sum::<u64>())
        .sum();
    assert_eq!(sum, expect);
}

#[test]
fn chained_spawn_depth() {
    fn chain(n: u32) -> weft::JoinHandle<u32> {
        weft::spawn(async move {
            if n == 0 {
                0
            } else {
                chain(n - 1).await + 1
            }
        })
    }
    let ex = Executor::new(2);
    assert_eq!(ex.block_on(async { chain(2_000).await }), 2_000);
}

#[test]
fn spawn_blocking_runs_off_the_workers() {
    let ex = Executor::builder()
        .workers(1)
        .thread_name("w")
        .build()
        .unwrap();
    let name = ex
        .block_on(async {
            weft::spawn_blocking(|| thread::current().name().map(str::to_owned)).await
        })
        .unwrap_or_default();
    assert!(name.starts_with("w-blocking-"), "ran on {name}");
}

#[test]
fn spawn_blocking_grows_for_concurrent_jobs() {
    // Eight jobs that each wait for all the others: finishes only if they run at the same time.
    let ex = Executor::new(1);
    let barrier = Arc::new(std::sync::Barrier::new(8));
    let hs: Vec<_> = (0..8)
        .map(|i| {
            let b = barrier.clone();
            ex.spawn_blocking(move || {
                b.wait();
                i
            })
        })
        .collect();
    let sum: i32 = hs.into_iter().map(|h| h.join()).sum();
    assert_eq!(sum, 28);
}

#[test]
fn spawn_blocking_shrinks_when_idle() {
    let ex = Executor::builder()
        .workers(1)
        .blocking_keep_alive(std::time::Duration::from_millis(20))
        .build()
        .unwrap();
    let first = ex.spawn_blocking(|| thread::current().id()).join();
    thread::sleep(std::time::Duration::from_millis(200));
    let second = ex.spawn_blocking(|| thread::current().id()).join();
    assert_ne!(
        first, second,
        "the idle thread should have exited and a new one started"
    );
}

#[test]
fn spawn_blocking_panic_is_caught() {
    let ex = Executor::new(1);
    let err = ex.spawn_blocking(|| panic!("blocking boom")).catch();
    assert!(ex.block_on(err).unwrap_err().is_panic());
}

#[test]
fn nested_spawn_from_blocking_uses_its_executor() {
    let ex = Executor::builder()
        .workers(1)
        .thread_name("nb")
        .build()
        .unwrap();
    let name = ex
        .spawn_blocking(|| {
            weft::spawn(async { thread::current().name().map(str::to_owned) }).join()
        })
        .join()
        .unwrap_or_default();
    assert_eq!(name, "nb-0");
}

#[weft::test(workers = 2)]
async fn weft_test_macro_runs_on_its_own_executor() {
    let name = weft::spawn(async { thread::current().name().map(str::to_owned) })
        .await
        .unwrap_or_default();
    assert!(
        name.starts_with("weft_test_macro_runs_on_its_own_executor-"),
        "{name}"
    );
}

#[weft::test]
async fn weft_test_macro_default_workers() {
    assert_eq!(weft::spawn(async { 3 }).await, 3);
}
