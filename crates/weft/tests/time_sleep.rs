//! sleep and sleep_until: never early, ordering, every context, reset, many at once.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::Executor;

#[test]
fn never_early_on_workers() {
    let ex = Executor::new(2);
    let hs: Vec<_> = (0..200u64)
        .map(|i| {
            ex.spawn(async move {
                let d = Duration::from_micros(i * 137 % 20_000);
                let start = Instant::now();
                weft::sleep(d).await;
                start.elapsed() >= d
            })
        })
        .collect();
    for h in hs {
        assert!(h.join(), "a sleep completed before its duration");
    }
}

#[test]
fn completes_in_deadline_order() {
    let ex = Executor::new(2);
    let order = Arc::new(Mutex::new(Vec::new()));
    let base = Instant::now() + Duration::from_millis(20);
    let hs: Vec<_> = [5u64, 1, 4, 2, 3]
        .into_iter()
        .map(|k| {
            let order = order.clone();
            ex.spawn(async move {
                weft::sleep_until(base + Duration::from_millis(k * 30)).await;
                order.lock().unwrap().push(k);
            })
        })
        .collect();
    for h in hs {
        h.join();
    }
    assert_eq!(*order.lock().unwrap(), vec![1, 2, 3, 4, 5]);
}

#[test]
fn sleep_in_block_on_on_a_plain_thread() {
    let d = Duration::from_millis(15);
    let start = Instant::now();
    weft::block_on(weft::sleep(d));
    assert!(start.elapsed() >= d);
}

#[test]
fn sleep_in_executor_block_on() {
    let ex = Executor::new(1);
    let d = Duration::from_millis(15);
    let start = Instant::now();
    ex.block_on(async { weft::sleep(d).await });
    assert!(start.elapsed() >= d);
}

#[test]
fn sleep_on_global_runtime_task() {
    let d = Duration::from_millis(10);
    let h = weft::spawn(async move {
        let start = Instant::now();
        weft::sleep(d).await;
        start.elapsed()
    });
    assert!(h.join() >= d);
}

#[test]
fn zero_and_past_deadlines_are_ready_at_once() {
    weft::block_on(async {
        weft::sleep(Duration::ZERO).await;
        weft::sleep_until(Instant::now() - Duration::from_millis(5)).await;
    });
}

#[test]
fn huge_duration_does_not_overflow() {
    let out = weft::block_on(weft::timeout(
        weft::sleep(Duration::MAX),
        Duration::from_millis(10),
    ));
    assert_eq!(out, Err(weft::TimeoutError));
}

#[test]
fn reset_moves_the_deadline_both_ways() {
    let ex = Executor::new(1);
    ex.block_on(async {
        let mut s = weft::sleep(Duration::from_secs(3600));
        let start = Instant::now();
        // Poll once so the timer registers, then move it earlier.
        assert!(weft::timeout(&mut s, Duration::from_millis(5))
            .await
            .is_err());
        s.reset(Instant::now() + Duration::from_millis(10));
        (&mut s).await;
        assert!(start.elapsed() < Duration::from_secs(60));

        let target = Instant::now() + Duration::from_millis(30);
        s.reset(Instant::now() + Duration::from_millis(1));
        s.reset(target);
        (&mut s).await;
        assert!(Instant::now() >= target);
        assert!(s.is_elapsed());
    });
}

#[test]
fn dropped_sleeps_are_cancelled() {
    let ex = Executor::new(2);
    ex.block_on(async {
        for _ in 0..1_000 {
            let mut s = weft::sleep(Duration::from_secs(3600));
            // Register, then drop: the timer must be cancelled, not left to fire in an hour.
            let _ = weft::timeout(&mut s, Duration::ZERO).await;
        }
    });
    // Shut down promptly: nothing is left waiting on the wheels.
    assert!(ex.shutdown_timeout(Duration::from_secs(10)));
}

#[test]
fn hundred_thousand_concurrent_sleeps_finish() {
    let ex = Executor::new(2);
    let start = Instant::now();
    let late = ex.block_on(async {
        let hs: Vec<_> = (0..100_000u64)
            .map(|i| {
                weft::spawn(async move {
                    let d = Duration::from_millis(1 + i % 50);
                    let t = Instant::now();
                    weft::sleep(d).await;
                    t.elapsed() >= d
                })
            })
            .collect();
        let mut ok = 0;
        for h in hs {
            ok += usize::from(h.await);
        }
        ok
    });
    assert_eq!(late, 100_000, "every sleep lasted at least its duration");
    assert!(start.elapsed() < Duration::from_secs(60));
}

#[test]
fn sleeping_task_migrates_and_is_cancelled_elsewhere() {
    // Register on one worker, then move the sleep into a task that may run on another and drop
    // it there: the cancel goes to the first worker's wheel.
    let ex = Executor::new(2);
    for _ in 0..200 {
        let mut s = Box::pin(weft::sleep(Duration::from_secs(3600)));
        ex.block_on(async {
            let _ = weft::timeout(&mut s, Duration::ZERO).await;
        });
        ex.spawn(async move {
            weft::yield_now().await;
            drop(s);
        })
        .join();
    }
    assert!(ex.shutdown_timeout(Duration::from_secs(10)));
}

/// Runs `job` on `ex`'s blocking pool, shuts `ex` down once the job has started (after
/// `before` more), and returns what the job sends back within 5 s.
fn run_across_shutdown<T: Send + 'static>(
    ex: Executor,
    before: Duration,
    job: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    drop(ex.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        let _ = done_tx.send(job());
    }));
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::sleep(before);
    ex.shutdown();
    done_rx.recv_timeout(Duration::from_secs(5)).ok()
}

#[test]
fn sleep_in_a_blocking_job_after_shutdown_completes() {
    let slept = run_across_shutdown(Executor::new(1), Duration::ZERO, || {
        // Wait until the executor is gone, then sleep.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        weft::block_on(weft::sleep(Duration::from_millis(10)));
        start.elapsed()
    });
    let slept = slept.expect("the sleep never completed");
    assert!(slept >= Duration::from_millis(10), "never early");
    assert!(slept < Duration::from_secs(2), "{slept:?}");
}

#[test]
fn sleep_pending_in_a_blocking_job_at_shutdown_completes() {
    let slept = run_across_shutdown(Executor::new(1), Duration::from_millis(50), || {
        let start = Instant::now();
        weft::block_on(weft::sleep(Duration::from_millis(300)));
        start.elapsed()
    });
    let slept = slept.expect("the sleep never completed");
    assert!(slept >= Duration::from_millis(300), "never early");
    assert!(slept < Duration::from_secs(3), "{slept:?}");
}

#[test]
fn sleep_polled_under_an_executor_completes_after_it_is_dropped() {
    let ex = Executor::new(1);
    let start = Instant::now();
    let (pending, sleep) = ex.block_on(async {
        let mut sleep = Box::pin(weft::sleep(Duration::from_millis(100)));
        let pending =
            std::future::poll_fn(|cx| std::task::Poll::Ready(sleep.as_mut().poll(cx).is_pending()))
                .await;
        (pending, sleep)
    });
    assert!(pending, "pending at first");
    drop(ex);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        weft::block_on(sleep);
        let _ = tx.send(start.elapsed());
    });
    let slept = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the sleep never completed");
    assert!(slept >= Duration::from_millis(100), "never early");
}

#[test]
fn cancelling_timers_that_share_the_earliest_millisecond_is_linear() {
    // Each cancel used to rescan every timer left in the earliest millisecond, so cancelling
    // 20,000 of them took seconds (quadratic), against milliseconds now.
    const N: u32 = 20_000;
    let ex = Executor::new(1);
    let (registered, took) = ex
        .spawn(async {
            // Within the wheel's first 64 ms (its finest level, where deadlines are exact):
            // the executor started a moment ago.
            let deadline = Instant::now() + Duration::from_millis(40);
            let mut sleeps: Vec<_> = (0..N)
                .map(|_| Box::pin(weft::sleep_until(deadline)))
                .collect();
            // Unconstrained: the budget would stop registering after 128 polls.
            let registered = weft::task::unconstrained(std::future::poll_fn(|cx| {
                let mut n = 0;
                for s in &mut sleeps {
                    n += usize::from(s.as_mut().poll(cx).is_pending());
                }
                std::task::Poll::Ready(n)
            }))
            .await;
            let start = Instant::now();
            drop(sleeps);
            (registered, start.elapsed())
        })
        .join();
    assert!(registered > N as usize / 2, "registered {registered}");
    assert!(took < Duration::from_millis(500), "{took:?}");
}

#[test]
fn an_idle_worker_fires_the_timers_of_a_blocked_one() {
    let ex = Executor::new(2);
    let (tx, rx) = std::sync::mpsc::channel();
    drop(ex.spawn(async move {
        // Registered on this worker's wheel, then awaited on the test's thread.
        let start = Instant::now();
        let mut sleeps: Vec<_> = (0..64)
            .map(|_| Box::pin(weft::sleep(Duration::from_millis(100))))
            .collect();
        std::future::poll_fn(|cx| {
            for s in &mut sleeps {
                assert!(s.as_mut().poll(cx).is_pending());
            }
            std::task::Poll::Ready(())
        })
        .await;
        tx.send((start, sleeps)).unwrap();
        // Blocks this worker; the other one is idle.
        std::thread::sleep(Duration::from_millis(1_500));
    }));
    let (start, sleeps) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    for s in sleeps {
        weft::block_on(s);
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(100), "never early");
    assert!(took < Duration::from_millis(800), "{took:?}");
}
