//! The paused clock: sleeps, timeouts, intervals, retries and rate limits take no real time,
//! `advance` fires in deadline order, and auto-advance waits while anything can run.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use weft::time::Instant;

const HOUR: Duration = Duration::from_secs(3600);
const MINUTE: Duration = Duration::from_secs(60);
/// Real time any of these tests may take: the timers they wait on are hours long.
const REAL_LIMIT: Duration = Duration::from_secs(2);

#[weft::test(workers = 2, start_paused = true)]
async fn an_hour_of_sleep_takes_no_real_time() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    weft::sleep(HOUR).await;
    assert_eq!(
        start.elapsed(),
        HOUR,
        "the clock jumped exactly to the deadline"
    );
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[weft::test(workers = 2, start_paused = true)]
async fn advance_fires_due_timers_in_deadline_order() {
    let start = Instant::now();
    let fired = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for secs in [30u64, 10, 20] {
        let fired = fired.clone();
        tasks.push(weft::spawn(async move {
            weft::sleep(Duration::from_secs(secs)).await;
            fired.lock().unwrap().push((secs, Instant::now() - start));
        }));
    }
    weft::time::advance(Duration::from_secs(25)).await;
    assert_eq!(
        *fired.lock().unwrap(),
        vec![(10, Duration::from_secs(10)), (20, Duration::from_secs(20))],
        "each fired at its own deadline, in order; the 30 s one not yet"
    );
    assert_eq!(Instant::now() - start, Duration::from_secs(25));
    weft::time::advance(Duration::from_secs(10)).await;
    assert_eq!(fired.lock().unwrap().len(), 3);
    assert_eq!(fired.lock().unwrap()[2], (30, Duration::from_secs(30)));
    assert_eq!(Instant::now() - start, Duration::from_secs(35));
    for t in tasks {
        t.await;
    }
}

#[weft::test(workers = 2, start_paused = true)]
async fn timeout_of_a_future_that_never_completes_returns_at_the_paused_deadline() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    let out = weft::timeout(std::future::pending::<()>(), HOUR).await;
    assert_eq!(out, Err(weft::TimeoutError));
    assert_eq!(start.elapsed(), HOUR);
    // And with an absolute deadline.
    let at = Instant::now() + 2 * HOUR;
    let out = weft::time::timeout_at(std::future::pending::<()>(), at).await;
    assert_eq!(out, Err(weft::TimeoutError));
    assert_eq!(Instant::now(), at);
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[weft::test(workers = 2, start_paused = true)]
async fn interval_ticks_on_the_paused_clock() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    let mut every = weft::time::interval(MINUTE);
    for k in 0..5u32 {
        let tick = every.tick().await;
        assert_eq!(tick, start + MINUTE * k);
        assert_eq!(Instant::now(), tick, "ticks when due, not later");
    }
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[weft::test(workers = 2, start_paused = true)]
async fn retry_waits_out_a_long_backoff() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    let attempts = Arc::new(Mutex::new(Vec::new()));
    let seen = attempts.clone();
    let out: Result<u32, &str> = weft::retry(4, move || {
        let seen = seen.clone();
        async move {
            let mut seen = seen.lock().unwrap();
            seen.push(start.elapsed());
            if seen.len() < 4 {
                Err("not yet")
            } else {
                Ok(7)
            }
        }
    })
    .backoff(weft::Backoff::fixed(HOUR).jitter(false))
    .await;
    assert_eq!(out, Ok(7));
    assert_eq!(
        *attempts.lock().unwrap(),
        vec![Duration::ZERO, HOUR, 2 * HOUR, 3 * HOUR]
    );
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[weft::test(workers = 2, start_paused = true)]
async fn rate_limiter_at_one_per_minute() {
    let real = std::time::Instant::now();
    let start = Instant::now();
    let limiter = weft::sync::RateLimiter::new(1.0 / 60.0);
    let mut at = Vec::new();
    for _ in 0..5 {
        limiter.acquire().await;
        at.push(start.elapsed());
    }
    assert_eq!(at[0], Duration::ZERO, "the first token is there at once");
    for (k, &t) in at.iter().enumerate() {
        let expect = MINUTE * k as u32;
        assert!(
            t >= expect && t < expect + Duration::from_millis(10),
            "acquisition {k} at {t:?}"
        );
    }
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}

#[weft::test(workers = 2)]
async fn resume_continues_from_the_paused_time() {
    weft::time::pause();
    let start = Instant::now();
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(Instant::now(), start, "paused: the clock stands still");
    weft::time::advance(HOUR).await;
    weft::time::resume();
    let resumed = Instant::now();
    assert!(resumed >= start + HOUR);
    assert!(resumed < start + HOUR + Duration::from_secs(1));
    // Real time again: a short sleep takes its real time, from the paused time on.
    let real = std::time::Instant::now();
    weft::sleep(Duration::from_millis(30)).await;
    assert!(real.elapsed() >= Duration::from_millis(30));
    let elapsed = start.elapsed();
    assert!(elapsed >= HOUR + Duration::from_millis(30), "{elapsed:?}");
    assert!(elapsed < HOUR + Duration::from_secs(5), "{elapsed:?}");
}

/// A task that keeps yielding is always runnable: the clock must not jump under it, though
/// another task sleeps for an hour meanwhile.
#[weft::test(workers = 2, start_paused = true)]
async fn auto_advance_waits_while_a_task_is_runnable() {
    let start = Instant::now();
    let sleeper = weft::spawn(async move {
        weft::sleep(HOUR).await;
        Instant::now()
    });
    let busy = weft::spawn(async move {
        let real = std::time::Instant::now();
        let mut jumped = None;
        for _ in 0..1_000_000 {
            if real.elapsed() >= Duration::from_millis(150) {
                break;
            }
            if Instant::now() != start {
                jumped = Some(Instant::now() - start);
                break;
            }
            weft::yield_now().await;
        }
        jumped
    });
    assert_eq!(
        busy.await,
        None,
        "the clock moved while a task was runnable"
    );
    assert_eq!(
        sleeper.await - start,
        HOUR,
        "then it jumped to the deadline"
    );
}

/// The same with the busy loop in the test's own body, on the thread that drives `block_on`.
#[weft::test(workers = 2, start_paused = true)]
async fn auto_advance_waits_while_the_block_on_thread_runs() {
    let start = Instant::now();
    let woke = Arc::new(AtomicBool::new(false));
    let w = woke.clone();
    let sleeper = weft::spawn(async move {
        weft::sleep(HOUR).await;
        w.store(true, Ordering::SeqCst);
    });
    let real = std::time::Instant::now();
    for _ in 0..1_000_000 {
        if real.elapsed() >= Duration::from_millis(150) {
            break;
        }
        weft::yield_now().await;
    }
    assert!(
        !woke.load(Ordering::SeqCst),
        "the clock jumped while the body ran"
    );
    assert_eq!(Instant::now(), start);
    sleeper.await;
    assert_eq!(start.elapsed(), HOUR);
}

/// A blocking job in flight holds auto-advance back, as in tokio.
#[weft::test(workers = 2, start_paused = true)]
async fn a_blocking_job_holds_auto_advance_back() {
    let start = Instant::now();
    let sleeper = weft::spawn(async move {
        weft::sleep(HOUR).await;
        Instant::now()
    });
    let seen = weft::spawn_blocking(move || {
        std::thread::sleep(Duration::from_millis(100));
        Instant::now()
    })
    .await;
    assert_eq!(seen, start, "the clock jumped while the job ran");
    assert_eq!(sleeper.await - start, HOUR);
}

/// A `std::time::Instant` is the same point on the paused clock's timeline.
#[weft::test(workers = 1, start_paused = true)]
async fn std_instants_are_points_on_the_same_timeline() {
    let start = Instant::now();
    let deadline = std::time::Instant::now() + HOUR;
    weft::sleep_until(deadline).await;
    assert_eq!(Instant::now(), deadline);
    assert!(start.elapsed() >= HOUR);
    assert!(start.elapsed() < HOUR + Duration::from_secs(1));
}

/// Without a pause the clock is the real one.
#[weft::test(workers = 1)]
async fn an_unpaused_clock_is_the_real_one() {
    let a = std::time::Instant::now();
    let b = Instant::now();
    let c = std::time::Instant::now();
    assert!(a <= b && b <= c);
}

/// Waiting on I/O does not hold auto-advance back: a read under a timeout on a socket nobody
/// writes to times out at once.
#[weft::test(workers = 2, start_paused = true)]
async fn a_socket_read_under_a_timeout_jumps_to_the_timeout() {
    use weft::io::AsyncReadExt;
    let listener = weft::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let client = weft::spawn(async move { weft::net::TcpStream::connect(addr).await.unwrap() });
    let (mut conn, _) = listener.accept().await.unwrap();
    let _client = client.await;
    let real = std::time::Instant::now();
    let start = Instant::now();
    let mut buf = [0u8; 16];
    let out = weft::timeout(conn.read(&mut buf), HOUR).await;
    assert!(out.is_err(), "timed out");
    assert_eq!(start.elapsed(), HOUR);
    assert!(real.elapsed() < REAL_LIMIT, "took {:?}", real.elapsed());
}
