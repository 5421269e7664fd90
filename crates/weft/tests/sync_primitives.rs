//! weft::sync: Mutex (cancel-safe), RwLock, Semaphore with owned permits, Barrier, Event,
//! WaitGroup, oneshot.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use weft::sync::{oneshot, Barrier, Event, Mutex, RwLock, Semaphore, WaitGroup};
use weft::Executor;

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    f.poll(&mut cx)
}

#[test]
fn mutex_counts_under_contention() {
    let ex = Executor::new(2);
    let m = Arc::new(Mutex::new(0u64));
    let hs: Vec<_> = (0..8)
        .map(|_| {
            let m = m.clone();
            ex.spawn(async move {
                for _ in 0..1_000 {
                    let mut g = m.lock().await;
                    *g += 1;
                    if *g % 100 == 0 {
                        weft::yield_now().await;
                    }
                }
            })
        })
        .collect();
    for h in hs {
        h.join();
    }
    assert_eq!(*weft::block_on(m.lock()), 8_000);
}

#[test]
fn dropped_lock_future_passes_its_turn_on() {
    let m = Arc::new(Mutex::new(()));
    let held = weft::block_on(m.lock());
    let mut a = Box::pin(m.lock());
    let mut b = Box::pin(m.lock());
    assert!(poll_once(a.as_mut()).is_pending());
    assert!(poll_once(b.as_mut()).is_pending());
    drop(held); // wakes `a`...
    drop(a); // ...which is dropped without taking the lock: `b` must still get it
    let ex = Executor::new(1);
    let got = ex.block_on(weft::timeout(b, Duration::from_secs(5)));
    assert!(got.is_ok(), "the wake-up was passed on");
}

#[test]
fn rwlock_readers_share_writers_exclude() {
    weft::block_on(async {
        let l = RwLock::new(1);
        let r1 = l.read().await;
        let r2 = l.read().await;
        assert_eq!(*r1 + *r2, 2);
        assert!(l.try_write().is_none());
        drop((r1, r2));
        *l.write().await = 5;
        assert_eq!(*l.read().await, 5);
    });
}

#[test]
fn semaphore_limits_concurrency_with_owned_permits() {
    let ex = Executor::new(2);
    let sem = Arc::new(Semaphore::new(3));
    let running = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let hs: Vec<_> = (0..20)
        .map(|_| {
            let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
            ex.spawn(async move {
                let _permit = sem.acquire_arc().await;
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                weft::sleep(Duration::from_millis(2)).await;
                running.fetch_sub(1, Ordering::SeqCst);
            })
        })
        .collect();
    for h in hs {
        h.join();
    }
    assert!(peak.load(Ordering::SeqCst) <= 3);
    assert!(
        peak.load(Ordering::SeqCst) >= 2,
        "permits were used concurrently"
    );
}

#[test]
fn barrier_releases_all_and_elects_one_leader() {
    let ex = Executor::new(2);
    let b = Arc::new(Barrier::new(4));
    let hs: Vec<_> = (0..4)
        .map(|_| {
            let b = b.clone();
            ex.spawn(async move { b.wait().await.is_leader() })
        })
        .collect();
    let leaders = hs.into_iter().map(|h| h.join()).filter(|&l| l).count();
    assert_eq!(leaders, 1);
}

#[test]
fn event_releases_every_waiter_and_stays_set() {
    let ex = Executor::new(2);
    let ev = Arc::new(Event::new());
    let hs: Vec<_> = (0..10)
        .map(|_| {
            let ev = ev.clone();
            ex.spawn(async move { ev.wait().await })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(10));
    assert!(!ev.is_set());
    ev.set();
    ev.set();
    for h in hs {
        h.join();
    }
    weft::block_on(ev.wait()); // already set: at once
}

#[test]
fn waitgroup_waits_for_every_done() {
    let ex = Executor::new(2);
    let wg = Arc::new(WaitGroup::new());
    let count = Arc::new(AtomicU32::new(0));
    for i in 0..5u64 {
        wg.add(1);
        let (wg, count) = (wg.clone(), count.clone());
        ex.spawn(async move {
            weft::sleep(Duration::from_millis(i * 2)).await;
            count.fetch_add(1, Ordering::SeqCst);
            wg.done();
        });
    }
    ex.block_on(wg.wait());
    assert_eq!(count.load(Ordering::SeqCst), 5);
    assert_eq!(wg.count(), 0);
}

#[test]
#[should_panic(expected = "more times than add")]
fn waitgroup_done_without_add_panics() {
    WaitGroup::new().done();
}

#[test]
fn oneshot_delivers_once_and_reports_a_dropped_sender() {
    let ex = Executor::new(2);
    let (tx, rx) = oneshot::channel();
    ex.spawn(async move { tx.send("hi").unwrap() });
    assert_eq!(ex.block_on(rx), Ok("hi"));

    let (tx, rx) = oneshot::channel::<u8>();
    drop(tx);
    assert_eq!(weft::block_on(rx), Err(oneshot::RecvError));

    let (tx, rx) = oneshot::channel::<u8>();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(3), Err(3), "the value comes back");
}

/// Runs `op` over and over in a task on a one-worker executor; that task first spawns another
/// one that sets a flag the loop waits for. True if that other task got to run within 2 s,
/// which it can only do if `op` spends the cooperative budget and so makes the loop yield.
fn loop_lets_others_run<F, Fut>(mut op: F) -> bool
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future + Send,
{
    let ex = Executor::new(1);
    let looper = ex.spawn(async move {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let setter = stop.clone();
        weft::spawn(async move { setter.store(true, Ordering::SeqCst) });
        let start = std::time::Instant::now();
        for i in 0..50_000_000u64 {
            if stop.load(Ordering::SeqCst) {
                return true;
            }
            if i % 1_024 == 0 && start.elapsed() > Duration::from_secs(2) {
                return false;
            }
            op().await;
        }
        false
    });
    looper.join()
}

#[test]
fn waiting_on_a_set_event_in_a_loop_lets_other_tasks_run() {
    let ev = Arc::new(Event::new());
    ev.set();
    assert!(loop_lets_others_run(move || {
        let ev = ev.clone();
        async move { ev.wait().await }
    }));
}

#[test]
fn waiting_on_an_empty_wait_group_in_a_loop_lets_other_tasks_run() {
    let wg = Arc::new(WaitGroup::new());
    assert!(loop_lets_others_run(move || {
        let wg = wg.clone();
        async move { wg.wait().await }
    }));
}

#[test]
fn locking_an_uncontended_mutex_in_a_loop_lets_other_tasks_run() {
    let m = Arc::new(Mutex::new(0u64));
    assert!(loop_lets_others_run(move || {
        let m = m.clone();
        async move { *m.lock().await += 1 }
    }));
}

#[test]
fn taking_an_uncontended_rwlock_in_a_loop_lets_other_tasks_run() {
    for kind in 0..3 {
        let l = Arc::new(RwLock::new(0u64));
        assert!(
            loop_lets_others_run(move || {
                let l = l.clone();
                async move {
                    match kind {
                        0 => drop(l.read().await),
                        1 => drop(l.upgradable_read().await),
                        _ => *l.write().await += 1,
                    }
                }
            }),
            "lock kind {kind}"
        );
    }
}

#[test]
fn acquiring_a_free_semaphore_in_a_loop_lets_other_tasks_run() {
    for owned in [false, true] {
        let sem = Arc::new(Semaphore::new(1));
        assert!(
            loop_lets_others_run(move || {
                let sem = sem.clone();
                async move {
                    if owned {
                        drop(sem.acquire_arc().await);
                    } else {
                        drop(sem.acquire().await);
                    }
                }
            }),
            "owned permits: {owned}"
        );
    }
}

#[test]
fn waiting_on_a_barrier_of_one_in_a_loop_lets_other_tasks_run() {
    let b = Arc::new(Barrier::new(1));
    assert!(loop_lets_others_run(move || {
        let b = b.clone();
        async move {
            assert!(b.wait().await.is_leader());
        }
    }));
}

#[test]
#[should_panic(expected = "overflowed")]
fn waitgroup_add_past_usize_max_panics_instead_of_wrapping() {
    let wg = WaitGroup::new();
    wg.add(usize::MAX);
    // Wrapping would bring the count to 0 and release waiters with all that work pending.
    wg.add(1);
}

#[test]
fn waitgroup_count_survives_a_refused_add() {
    let wg = Arc::new(WaitGroup::new());
    wg.add(usize::MAX);
    let w = wg.clone();
    assert!(std::panic::catch_unwind(move || w.add(2)).is_err());
    assert_eq!(wg.count(), usize::MAX);
    let waited = weft::block_on(weft::timeout(wg.wait(), Duration::from_millis(20)));
    assert!(waited.is_err(), "still waiting for all that work");
}
