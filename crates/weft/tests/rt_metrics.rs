//! `Executor::metrics`: task counts, polls, steals, the blocking pool, timers and I/O, as the
//! runtime sees them. Run once per I/O backend (`WEFT_IO=uring` and `WEFT_IO=epoll`); loopback
//! only, every wait bounded.

#![cfg(feature = "metrics")]

use std::time::{Duration, Instant};
use weft::io::{AsyncReadExt, AsyncWriteExt};
use weft::net::{TcpListener, TcpStream};
use weft::Executor;

/// Waits (at most 5 s) until `cond` holds for a fresh snapshot.
fn eventually(ex: &Executor, what: &str, cond: impl Fn(&weft::runtime::Metrics) -> bool) {
    let start = Instant::now();
    loop {
        let m = ex.metrics();
        if cond(&m) {
            return;
        }
        assert!(start.elapsed() < Duration::from_secs(5), "{what}: {m}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn spawned_tasks_are_counted_spawned_then_completed() {
    let ex = Executor::new(2);
    const N: u64 = 500;
    let handles: Vec<_> = (0..N).map(|i| ex.spawn(async move { i })).collect();
    let sum: u64 = handles.into_iter().map(|h| h.join()).sum();
    assert_eq!(sum, N * (N - 1) / 2);
    // A task's handle resolves as its future returns; it leaves the registry right before.
    eventually(&ex, "every task completed", |m| {
        m.tasks_completed() == N && m.tasks_alive() == 0
    });
    let m = ex.metrics();
    assert_eq!(m.workers(), 2);
    assert_eq!(m.tasks_spawned(), N);
    assert_eq!(m.tasks_panicked(), 0);
    assert_eq!(m.tasks_cancelled(), 0);
    assert!(m.polls() >= N, "{m}");
    assert_eq!(m.polls(), m.worker(0).polls() + m.worker(1).polls());
}

#[test]
fn panicked_and_cancelled_tasks_are_counted_apart() {
    let ex = Executor::new(1);
    let panicked = ex.spawn(async { panic!("counted") });
    assert!(ex.block_on(panicked.catch()).unwrap_err().is_panic());
    let pending = ex.spawn(std::future::pending::<()>());
    let alive = ex.spawn(std::future::pending::<()>());
    eventually(&ex, "both pending tasks alive", |m| m.tasks_alive() == 2);
    pending.abort();
    assert!(ex.block_on(pending.catch()).unwrap_err().is_cancelled());
    eventually(&ex, "one cancelled, one panicked", |m| {
        m.tasks_cancelled() == 1 && m.tasks_panicked() == 1 && m.tasks_alive() == 1
    });
    assert_eq!(ex.metrics().tasks_spawned(), 3);
    drop(alive);
}

#[test]
fn idle_workers_steal_from_a_busy_one() {
    let ex = Executor::new(2);
    // One task spawns many that each keep their worker busy for a while: they queue up on
    // the spawning worker, and the other one steals them.
    let root = ex.spawn(async {
        let handles: Vec<_> = (0..64)
            .map(|_| {
                weft::spawn(async {
                    let start = Instant::now();
                    while start.elapsed() < Duration::from_micros(300) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        for h in handles {
            h.await;
        }
    });
    ex.block_on(root);
    let m = ex.metrics();
    assert!(m.steals() > 0, "no steal: {m}");
    assert!(m.stolen_tasks() >= m.steals(), "{m}");
    assert!(m.parks() > 0, "{m}");
    assert!(m.busy_time() > Duration::ZERO, "{m}");
}

#[test]
fn a_task_that_never_waits_exhausts_its_budget() {
    let ex = Executor::new(1);
    ex.block_on(ex.spawn(async {
        let ch = weft::Channel::unbounded();
        for i in 0..1_000u32 {
            ch.send(i).await.unwrap();
        }
    }));
    assert!(ex.metrics().budget_exhaustions() >= 1, "{}", ex.metrics());
}

#[test]
fn lifo_hits_count_a_task_woken_by_the_running_one() {
    let ex = Executor::new(1);
    ex.block_on(ex.spawn(async {
        for _ in 0..100 {
            let (tx, rx) = weft::sync::oneshot::channel::<u32>();
            let h = weft::spawn(async move { rx.await.unwrap() });
            tx.send(1).unwrap();
            h.await;
        }
    }));
    let m = ex.metrics();
    assert!(m.lifo_hits() > 0, "{m}");
    assert_eq!(m.worker(0).lifo_hits(), m.lifo_hits());
}

#[test]
fn timers_and_blocking_pool_are_seen_while_busy() {
    let ex = Executor::new(1);
    let sleeper = ex.spawn(weft::sleep(Duration::from_secs(30)));
    eventually(&ex, "one timer armed", |m| m.timers_armed() == 1);
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let job = ex.spawn_blocking(move || release_rx.recv_timeout(Duration::from_secs(10)).ok());
    eventually(&ex, "a blocking thread runs the job", |m| {
        m.blocking_threads() >= 1 && m.blocking_queue_depth() == 0
    });
    release_tx.send(()).unwrap();
    assert_eq!(job.join(), Some(()));
    sleeper.abort();
    eventually(&ex, "the timer went with its task", |m| {
        m.timers_armed() == 0
    });
    eventually(&ex, "the pool thread went idle", |m| {
        m.blocking_idle_threads() >= 1
    });
}

#[test]
fn io_events_are_counted() {
    let ex = Executor::new(2);
    let before = ex.metrics().io_events();
    ex.block_on(ex.spawn(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = weft::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.unwrap();
            s.write_all(&buf).await.unwrap();
        });
        let mut c = TcpStream::connect(addr).await.unwrap();
        // Let the server park on its read, so the bytes arrive as an event.
        weft::sleep(Duration::from_millis(20)).await;
        c.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.await;
    }));
    let m = ex.metrics();
    assert!(m.io_events() > before, "{m}");
}

#[test]
fn the_global_runtime_has_metrics_too() {
    weft::spawn(async {}).join();
    let m = weft::runtime::metrics();
    assert!(m.workers() >= 1);
    assert!(m.tasks_spawned() >= 1);
}
