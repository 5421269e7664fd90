//! sleep and sleep_until: never early, ordering, every context, reset, many at once.

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
