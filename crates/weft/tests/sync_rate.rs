//! RateLimiter: accuracy over a second, bursts, fairness in arrival order, try_acquire.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use weft::sync::RateLimiter;
use weft::Executor;

#[test]
fn rate_is_accurate_over_one_second() {
    let ex = Executor::new(2);
    // A burst of 10 lets the bucket absorb wake-ups that come late on a loaded machine.
    let limiter = RateLimiter::new(200.0).with_burst(10);
    let start = Instant::now();
    let deadline = start + Duration::from_secs(1);
    let mut n = 0u32;
    ex.block_on(async {
        while Instant::now() < deadline {
            limiter.acquire().await;
            n += 1;
        }
    });
    // 200 per second plus the 10 the bucket starts with: 210. Never more than that (+5 %); the
    // lower bound only catches a limiter far too slow, allowing for wake-ups that come late on
    // a loaded machine.
    assert!((160..=220).contains(&n), "{n} acquisitions in 1 s at 200/s");
}

#[test]
fn burst_allows_that_many_at_once_then_paces() {
    let limiter = RateLimiter::new(10.0).with_burst(5);
    for _ in 0..5 {
        assert!(limiter.try_acquire());
    }
    assert!(!limiter.try_acquire());
    let start = Instant::now();
    weft::block_on(limiter.acquire());
    assert!(
        start.elapsed() >= Duration::from_millis(90),
        "the next token takes 1/10 s"
    );
}

#[test]
fn waiters_are_served_in_arrival_order() {
    let ex = Executor::new(2);
    let limiter = Arc::new(RateLimiter::new(100.0));
    let order = Arc::new(Mutex::new(Vec::new()));
    assert!(limiter.try_acquire());
    let hs: Vec<_> = (0..5)
        .map(|i| {
            let (limiter, order) = (limiter.clone(), order.clone());
            let h = ex.spawn(async move {
                limiter.acquire().await;
                order.lock().unwrap().push(i);
            });
            // Let each task reserve its token before the next one arrives.
            std::thread::sleep(Duration::from_millis(2));
            h
        })
        .collect();
    for h in hs {
        h.join();
    }
    assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
}

#[test]
fn try_acquire_does_not_jump_the_queue() {
    let ex = Executor::new(1);
    let limiter = Arc::new(RateLimiter::new(20.0));
    assert!(limiter.try_acquire());
    let l2 = limiter.clone();
    let waiter = ex.spawn(async move { l2.acquire().await });
    std::thread::sleep(Duration::from_millis(10));
    assert!(!limiter.try_acquire(), "a waiter has the next token");
    waiter.join();
}

#[test]
#[should_panic(expected = "positive and finite")]
fn zero_rate_is_refused() {
    let _ = RateLimiter::new(0.0);
}

/// Waits for `limiter.acquire()` at most `within`; true if it got a token.
async fn acquire_within(limiter: &RateLimiter, within: Duration) -> bool {
    weft::timeout(limiter.acquire(), within).await.is_ok()
}

#[test]
fn cancelled_waiters_do_not_let_a_later_caller_overtake() {
    // 10 per second, burst 1, bucket emptied at 0. Two callers queue and give up at about
    // 50 ms; `first` queued behind them; `later` arrives at 80 ms. `first` must be served
    // before `later`, and a token apart.
    let ex = Executor::new(2);
    let limiter = Arc::new(RateLimiter::new(10.0));
    assert!(limiter.try_acquire());
    let start = Instant::now();
    let served = Arc::new(Mutex::new(Vec::new()));
    let mut handles = Vec::new();
    for gives_up_at in [50u64, 45] {
        let l = limiter.clone();
        handles.push(ex.spawn(async move {
            assert!(!acquire_within(&l, Duration::from_millis(gives_up_at)).await);
        }));
        std::thread::sleep(Duration::from_millis(3));
    }
    for (name, arrives_at) in [("first", 6u64), ("later", 80)] {
        let (l, served) = (limiter.clone(), served.clone());
        handles.push(ex.spawn(async move {
            weft::sleep_until(start + Duration::from_millis(arrives_at)).await;
            l.acquire().await;
            served.lock().unwrap().push((name, start.elapsed()));
        }));
    }
    for h in handles {
        h.join();
    }
    let served = served.lock().unwrap().clone();
    let names: Vec<_> = served.iter().map(|(n, _)| *n).collect();
    assert_eq!(names, ["first", "later"], "served: {served:?}");
    let gap = served[1].1 - served[0].1;
    assert!(
        gap >= Duration::from_millis(60),
        "two tokens {gap:?} apart at 10/s with burst 1: {served:?}"
    );
}

#[test]
fn a_cancelled_waiter_leaves_no_extra_token_behind() {
    // 10 per second, burst 1, bucket emptied at 0. One caller queues and gives up at 50 ms,
    // another stays queued. Meanwhile this thread polls `try_acquire` every 5 ms. Every token
    // handed out (to the waiter or to `try_acquire`) must be at least most of 100 ms from the
    // previous one, and `try_acquire` never succeeds while the waiter is queued.
    let ex = Executor::new(2);
    let limiter = Arc::new(RateLimiter::new(10.0));
    assert!(limiter.try_acquire());
    let start = Instant::now();
    let l = limiter.clone();
    let quitter = ex.spawn(async move {
        assert!(!acquire_within(&l, Duration::from_millis(50)).await);
    });
    std::thread::sleep(Duration::from_millis(3));
    let l = limiter.clone();
    let waiter = ex.spawn(async move {
        l.acquire().await;
        start.elapsed()
    });
    std::thread::sleep(Duration::from_millis(3));
    let mut grants = Vec::new();
    while start.elapsed() < Duration::from_millis(450) {
        if limiter.try_acquire() {
            grants.push(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    quitter.join();
    let waiter_at = waiter.join();
    assert!(
        grants.iter().all(|&g| g > waiter_at),
        "try_acquire got a token at {grants:?} while a waiter (served at {waiter_at:?}) was queued"
    );
    grants.push(waiter_at);
    grants.sort();
    for pair in grants.windows(2) {
        assert!(
            pair[1] - pair[0] >= Duration::from_millis(60),
            "two tokens {:?} apart at 10/s with burst 1: {grants:?}",
            pair[1] - pair[0]
        );
    }
}

#[test]
fn a_tiny_rate_waits_instead_of_panicking() {
    // The second token of 1e-20 per second is 1e20 s away: more than a `Duration` holds.
    let limiter = RateLimiter::new(1e-20);
    weft::block_on(async {
        assert!(acquire_within(&limiter, Duration::from_millis(50)).await);
        assert!(!acquire_within(&limiter, Duration::from_millis(50)).await);
    });
    assert!(!limiter.try_acquire());
}

#[test]
#[should_panic(expected = "positive and finite")]
fn nan_rate_is_refused() {
    let _ = RateLimiter::new(f64::NAN);
}

#[test]
#[should_panic(expected = "positive and finite")]
fn infinite_rate_is_refused() {
    let _ = RateLimiter::new(f64::INFINITY);
}

#[test]
#[should_panic(expected = "positive and finite")]
fn negative_rate_is_refused() {
    let _ = RateLimiter::new(-1.0);
}

#[test]
fn a_burst_of_zero_counts_as_one() {
    let limiter = RateLimiter::new(1.0).with_burst(0);
    assert!(limiter.try_acquire());
    assert!(!limiter.try_acquire());
}

#[test]
fn the_largest_rate_and_burst_do_not_overflow() {
    let limiter = RateLimiter::new(f64::MAX).with_burst(u32::MAX);
    weft::block_on(async {
        for _ in 0..10_000 {
            assert!(acquire_within(&limiter, Duration::from_secs(5)).await);
        }
    });
    assert!(limiter.try_acquire());
}
