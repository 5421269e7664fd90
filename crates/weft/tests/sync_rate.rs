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
    // 200 per second plus the 10 the bucket starts with: 210, within 5 %.
    assert!((200..=220).contains(&n), "{n} acquisitions in 1 s at 200/s");
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
