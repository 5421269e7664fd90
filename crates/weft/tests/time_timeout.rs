//! timeout: ready futures, expiry, the inner future dropped before returning.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::{Executor, FutureExt, TimeoutError};

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn ready_future_is_ok() {
    let ex = Executor::new(1);
    assert_eq!(
        ex.block_on(weft::timeout(async { 3 }, Duration::from_secs(1))),
        Ok(3)
    );
    assert_eq!(
        ex.block_on(weft::timeout(async { 3 }, Duration::ZERO)),
        Ok(3)
    );
}

#[test]
fn slow_future_times_out_after_the_limit() {
    let ex = Executor::new(1);
    let start = Instant::now();
    let out = ex.block_on(weft::timeout(
        weft::sleep(Duration::from_secs(60)),
        Duration::from_millis(20),
    ));
    assert_eq!(out, Err(TimeoutError));
    assert!(start.elapsed() >= Duration::from_millis(20), "never early");
}

#[test]
fn timed_out_future_is_dropped_before_timeout_returns() {
    let ex = Executor::new(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let seen = ex.block_on(async move {
        let inner = async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        };
        let mut t = std::pin::pin!(weft::timeout(inner, Duration::from_millis(10)));
        let out = std::future::poll_fn(|cx| t.as_mut().poll(cx)).await;
        assert_eq!(out, Err(TimeoutError));
        // The Timeout itself is still alive here, yet the inner future is gone.
        dropped.load(Ordering::SeqCst)
    });
    assert!(seen);
}

#[test]
fn finishing_just_in_time_is_ok() {
    let ex = Executor::new(2);
    let out = ex.block_on(weft::timeout(
        async {
            weft::sleep(Duration::from_millis(5)).await;
            "done"
        },
        Duration::from_secs(10),
    ));
    assert_eq!(out, Ok("done"));
}

#[test]
fn method_form() {
    let out =
        weft::block_on(weft::sleep(Duration::from_secs(60)).timeout(Duration::from_millis(5)));
    assert!(out.is_err());
    assert_eq!(
        weft::block_on(async { 1 }.timeout(Duration::from_secs(1))),
        Ok(1)
    );
}

#[test]
fn timeout_at_deadline() {
    let deadline = Instant::now() + Duration::from_millis(10);
    let out = weft::block_on(weft::time::timeout_at(
        std::future::pending::<()>(),
        deadline,
    ));
    assert_eq!(out, Err(TimeoutError));
    assert!(Instant::now() >= deadline);
}

#[test]
fn error_displays() {
    assert_eq!(TimeoutError.to_string(), "deadline has elapsed");
}

#[test]
fn million_ready_timeouts_register_no_timer() {
    let ex = Executor::new(1);
    let sum = ex.block_on(async {
        let mut sum = 0u64;
        for i in 0..1_000_000u64 {
            sum += weft::timeout(async move { i }, Duration::from_secs(1))
                .await
                .unwrap();
        }
        sum
    });
    assert_eq!(sum, (0..1_000_000u64).sum::<u64>());
}

#[test]
fn timeout_fires_even_when_the_inner_future_spends_the_whole_budget() {
    let ex = Executor::new(1);
    let h = ex.spawn(async {
        weft::timeout(
            async {
                loop {
                    weft::task::consume_budget().await;
                }
            },
            Duration::from_millis(20),
        )
        .await
    });
    let out = ex.block_on(weft::timeout(h, Duration::from_secs(10)));
    assert_eq!(out, Ok(Err(TimeoutError)), "the busy future was timed out");
}

#[test]
fn timeout_in_a_blocking_job_after_shutdown_fires() {
    let ex = Executor::new(1);
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    drop(ex.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        // Wait until the executor is gone, then time out.
        std::thread::sleep(Duration::from_millis(100));
        let start = Instant::now();
        let out = weft::block_on(weft::timeout(
            std::future::pending::<()>(),
            Duration::from_millis(20),
        ));
        let _ = done_tx.send((out, start.elapsed()));
    }));
    started_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    ex.shutdown();
    let (out, took) = done_rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the timeout never fired");
    assert_eq!(out, Err(TimeoutError));
    assert!(took >= Duration::from_millis(20), "never early");
}
