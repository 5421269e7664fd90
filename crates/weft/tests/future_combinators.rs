//! join, join!, try_join, try_join!, race and retry: order, concurrency, cancellation of the
//! losers, retry counts and timing with a fixed backoff.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use weft::{Backoff, Executor};

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn ex() -> Executor {
    Executor::new(2)
}

#[test]
fn join_keeps_input_order_and_runs_concurrently() {
    ex().block_on(async {
        let start = Instant::now();
        let futs: Vec<_> = [30u64, 10, 20]
            .into_iter()
            .map(|ms| async move {
                weft::sleep(Duration::from_millis(ms)).await;
                ms
            })
            .collect();
        assert_eq!(weft::join(futs).await, vec![30, 10, 20]);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(30));
        assert!(
            took < Duration::from_millis(60 + 200),
            "concurrent, not one after another: {took:?}"
        );
        let empty: Vec<std::future::Ready<u8>> = Vec::new();
        assert!(weft::join(empty).await.is_empty());
    });
}

#[test]
fn join_macro_mixes_types() {
    ex().block_on(async {
        let h = weft::spawn(async { 3u8 });
        let (a, b, c) = weft::join!(async { 1 }, async { "two" }, h);
        assert_eq!((a, b, c), (1, "two", 3));
    });
}

#[test]
fn try_join_first_error_wins_and_cancels_the_rest() {
    ex().block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        type Job = Pin<Box<dyn Future<Output = Result<u32, &'static str>> + Send>>;
        let jobs: Vec<Job> = vec![
            Box::pin(async move {
                let _flag = flag;
                weft::sleep(Duration::from_secs(60)).await;
                Ok(1)
            }),
            Box::pin(async {
                weft::sleep(Duration::from_millis(5)).await;
                Err("boom")
            }),
        ];
        assert_eq!(weft::try_join(jobs).await, Err("boom"));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the slow job was cancelled before returning"
        );

        let ok: Vec<Job> = vec![Box::pin(async { Ok(1) }), Box::pin(async { Ok(2) })];
        assert_eq!(weft::try_join(ok).await, Ok(vec![1, 2]));
    });
}

#[test]
fn try_join_macro_cancels_the_rest() {
    ex().block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        let res: Result<(u32, u32), String> = weft::try_join!(
            async move {
                let _flag = flag;
                weft::sleep(Duration::from_secs(60)).await;
                Ok(1)
            },
            async { Err("bad".to_owned()) },
        );
        assert_eq!(res, Err("bad".to_owned()));
        assert!(dropped.load(Ordering::SeqCst));
    });
}

#[test]
fn race_returns_the_first_and_drops_the_losers_first() {
    ex().block_on(async {
        let dropped = Arc::new(AtomicBool::new(false));
        let flag = DropFlag(dropped.clone());
        type Fut = Pin<Box<dyn Future<Output = &'static str> + Send>>;
        let futs: Vec<Fut> = vec![
            Box::pin(async move {
                let _flag = flag;
                weft::sleep(Duration::from_secs(60)).await;
                "primary"
            }),
            Box::pin(async {
                weft::sleep(Duration::from_millis(5)).await;
                "backup"
            }),
        ];
        let (i, v) = weft::race(futs).await;
        assert_eq!((i, v), (1, "backup"));
        assert!(
            dropped.load(Ordering::SeqCst),
            "the loser was dropped before race returned"
        );
    });
}

#[test]
fn retry_succeeds_after_failures_with_fixed_backoff() {
    ex().block_on(async {
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let out = weft::retry(5, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err("not yet")
            } else {
                Ok("done")
            }
        })
        .backoff(Backoff::fixed(Duration::from_millis(10)))
        .await;
        assert_eq!(out, Ok("done"));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // Three waits of 10 ms between four attempts: never shorter.
        assert!(start.elapsed() >= Duration::from_millis(30));
    });
}

#[test]
fn retry_gives_up_with_the_last_error() {
    ex().block_on(async {
        let calls = AtomicU32::new(0);
        let out: Result<(), u32> =
            weft::retry(3, || async { Err(calls.fetch_add(1, Ordering::SeqCst)) })
                .backoff(Backoff::fixed(Duration::from_millis(1)))
                .await;
        assert_eq!(out, Err(2), "the third attempt's error");
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // At least one attempt, even for 0.
        let once: Result<(), ()> = weft::retry(0, || async { Err(()) }).await;
        assert_eq!(once, Err(()));
    });
}

#[test]
fn retry_when_stops_on_non_retryable_errors() {
    ex().block_on(async {
        let calls = AtomicU32::new(0);
        let out: Result<(), &str> = weft::retry(10, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err("fatal")
        })
        .when(|e: &&str| *e != "fatal")
        .backoff(Backoff::fixed(Duration::from_millis(1)))
        .await;
        assert_eq!(out, Err("fatal"));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn exponential_backoff_grows_caps_and_jitters() {
    let b = Backoff::exponential(Duration::from_millis(100)).max_delay(Duration::from_millis(500));
    for attempt in 1..=10 {
        let ideal =
            Duration::from_millis(100 * 2u64.pow(attempt - 1)).min(Duration::from_millis(500));
        let d = b.delay(attempt);
        assert!(
            d >= ideal / 2 && d <= ideal,
            "attempt {attempt}: {d:?} outside [{:?}, {ideal:?}]",
            ideal / 2
        );
    }
    let plain = b.jitter(false);
    assert_eq!(plain.delay(1), Duration::from_millis(100));
    assert_eq!(plain.delay(3), Duration::from_millis(400));
    assert_eq!(plain.delay(4), Duration::from_millis(500));
    assert_eq!(
        Backoff::fixed(Duration::from_millis(7)).delay(9),
        Duration::from_millis(7)
    );
}

#[test]
fn backoff_of_huge_durations_and_attempts_saturates() {
    let b = Backoff::exponential(Duration::MAX).max_delay(Duration::MAX);
    for attempt in [0, 1, 2, 33, 64, u32::MAX] {
        let d = b.delay(attempt);
        assert!(d >= Duration::MAX / 2, "attempt {attempt}: {d:?}");
    }
    assert_eq!(b.jitter(false).delay(u32::MAX), Duration::MAX);
    let tiny = Backoff::exponential(Duration::from_nanos(1)).jitter(false);
    assert_eq!(
        tiny.delay(u32::MAX),
        Duration::from_secs(30),
        "capped by max_delay"
    );
    assert_eq!(
        Backoff::fixed(Duration::ZERO).delay(u32::MAX),
        Duration::ZERO
    );
}

#[test]
fn retry_with_a_backoff_of_duration_max_waits_instead_of_panicking() {
    ex().block_on(async {
        let calls = AtomicU32::new(0);
        let out = weft::timeout(
            weft::retry(u32::MAX, || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("busy")
            })
            .backoff(Backoff::fixed(Duration::MAX)),
            Duration::from_millis(50),
        )
        .await;
        assert!(out.is_err(), "the second attempt is centuries away");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    });
}

/// A retry that fails `fails` times (counting calls in `calls`) and then returns its attempt
/// number, 1 ms apart.
fn flaky(
    fails: u32,
    calls: Arc<AtomicU32>,
) -> impl Future<Output = Result<u32, &'static str>> + Send + 'static {
    weft::retry(10, move || {
        let calls = calls.clone();
        async move {
            let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
            if n <= fails {
                Err("not yet")
            } else {
                Ok(n)
            }
        }
    })
    .backoff(Backoff::fixed(Duration::from_millis(1)))
    .when(|e: &&str| *e == "not yet")
}

#[test]
fn retry_is_a_future_in_timeout_spawn_race_and_select() {
    ex().block_on(async {
        use weft::FutureExt;
        let calls = || Arc::new(AtomicU32::new(0));

        let out = weft::timeout(flaky(2, calls()), Duration::from_secs(5)).await;
        assert_eq!(out, Ok(Ok(3)), "in weft::timeout");

        let out = flaky(1, calls()).timeout(Duration::from_secs(5)).await;
        assert_eq!(out, Ok(Ok(2)), "with .timeout()");

        assert_eq!(weft::spawn(flaky(3, calls())).await, Ok(4), "spawned");

        let (slow, fast) = (calls(), calls());
        let (winner, out) = weft::race([flaky(50, slow), flaky(0, fast.clone())]).await;
        assert_eq!((winner, out), (1, Ok(1)), "in race");

        let never = weft::Channel::<u32>::unbounded();
        let got = weft::select! {
            r = flaky(2, calls()) => r,
            v = never.recv() => Ok(v.unwrap_or(0)),
        };
        assert_eq!(got, Ok(3), "as a select! arm");

        // Built directly in each position, with the builder methods before the first poll.
        let n = calls();
        let n2 = n.clone();
        let direct = weft::timeout(
            weft::retry(3, move || {
                let n = n2.clone();
                async move { Err::<(), u32>(n.fetch_add(1, Ordering::SeqCst)) }
            })
            .backoff(Backoff::fixed(Duration::from_millis(1)))
            .when(|e: &u32| *e < 10),
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(direct, Ok(Err(2)));
        assert_eq!(n.load(Ordering::SeqCst), 3);
    });
}

#[test]
fn retry_runs_nothing_until_first_polled() {
    let calls = Arc::new(AtomicU32::new(0));
    let r = flaky(0, calls.clone());
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(calls.load(Ordering::SeqCst), 0, "lazy");
    assert_eq!(weft::block_on(r), Ok(1));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
