//! Executor: sizing, block_on, shutdown, shutdown_timeout, drop, fairness.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use weft::{Executor, JoinError};

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn sizes_and_names_workers() {
    let ex = Executor::builder()
        .workers(3)
        .thread_name("pool")
        .build()
        .unwrap();
    assert_eq!(ex.workers(), 3);
    let mut names: Vec<String> = (0..200)
        .map(|_| {
            ex.spawn(async {
                std::thread::sleep(Duration::from_micros(200));
                std::thread::current().name().unwrap().to_owned()
            })
        })
        .collect::<Vec<_>>()
        .into_iter()
        .map(|h| h.join())
        .collect();
    names.sort();
    names.dedup();
    assert!(names.iter().all(|n| n.starts_with("pool-")), "{names:?}");
    assert!(names.len() >= 2, "work spread over workers: {names:?}");
}

#[test]
fn workers_zero_means_one() {
    let ex = Executor::new(0);
    assert_eq!(ex.workers(), 1);
    assert_eq!(ex.spawn(async { 1 }).join(), 1);
}

#[test]
fn block_on_drives_future_on_this_thread() {
    let ex = Executor::new(1);
    let me = std::thread::current().id();
    let id = ex.block_on(async { std::thread::current().id() });
    assert_eq!(id, me);
}

#[test]
fn shutdown_cancels_pending_tasks() {
    let ex = Executor::new(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let pending = ex.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    let queued: Vec<_> = (0..100)
        .map(|_| ex.spawn(std::future::pending::<()>()))
        .collect();
    ex.shutdown();
    assert!(
        dropped.load(Ordering::SeqCst),
        "shutdown dropped the pending future"
    );
    assert_eq!(weft::block_on(pending.catch()), Err(JoinError::Cancelled));
    for h in queued {
        assert!(weft::block_on(h.catch()).unwrap_err().is_cancelled());
    }
}

#[test]
fn spawn_after_shutdown_is_cancelled() {
    let ex = Arc::new(Executor::new(1));
    let ex2 = ex.clone();
    // Keep a second reference so we can spawn after the first one shut down; shutdown needs
    // the value, so go through a handle captured inside a task spawned before.
    let (tx, rx) = mpsc::channel();
    ex2.spawn(async move {
        tx.send(()).unwrap();
    });
    rx.recv().unwrap();
    drop(ex2);
    let ex = Arc::try_unwrap(ex).unwrap();
    let h = std::thread::scope(|s| {
        s.spawn(|| {
            let h = ex.spawn(std::future::pending::<()>());
            ex.shutdown();
            h
        })
        .join()
        .unwrap()
    });
    assert!(weft::block_on(h.catch()).unwrap_err().is_cancelled());
}

#[test]
fn drop_is_shutdown() {
    let dropped = Arc::new(AtomicBool::new(false));
    let h = {
        let ex = Executor::new(2);
        let flag = DropFlag(dropped.clone());
        ex.spawn(async move {
            let _flag = flag;
            std::future::pending::<()>().await;
        })
    };
    assert!(dropped.load(Ordering::SeqCst));
    assert!(weft::block_on(h.catch()).unwrap_err().is_cancelled());
}

#[test]
fn shutdown_timeout_reports_stuck_worker() {
    let ex = Executor::new(1);
    let (tx, rx) = mpsc::channel();
    ex.spawn(async move {
        tx.send(()).unwrap();
        // Blocks the worker (deliberately bad): shutdown cannot join it in time.
        std::thread::sleep(Duration::from_millis(500));
    });
    rx.recv().unwrap();
    let start = Instant::now();
    assert!(!ex.shutdown_timeout(Duration::from_millis(50)));
    assert!(start.elapsed() < Duration::from_millis(400));
}

#[test]
fn shutdown_timeout_in_time() {
    let ex = Executor::new(2);
    ex.spawn(async {});
    assert!(ex.shutdown_timeout(Duration::from_secs(10)));
}

/// A future that is always ready to make progress but spends the cooperative budget, like a
/// loop over a channel that always has a value.
struct AlwaysReady {
    polls: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Future for AlwaysReady {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        loop {
            if this.stop.load(Ordering::Relaxed) {
                return Poll::Ready(());
            }
            let budget = std::pin::pin!(weft::task::consume_budget());
            match budget.poll(cx) {
                Poll::Ready(()) => {
                    this.polls.fetch_add(1, Ordering::Relaxed);
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[test]
fn always_ready_task_does_not_starve_others_on_one_worker() {
    let ex = Executor::new(1);
    let polls = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let hog = ex.spawn(AlwaysReady {
        polls: polls.clone(),
        stop: stop.clone(),
    });
    // Spawned after the hog, on the same single worker: it still gets to run.
    let other = ex.spawn(async { 5 });
    assert_eq!(other.join(), 5);
    stop.store(true, Ordering::Relaxed);
    hog.join();
    assert!(polls.load(Ordering::Relaxed) > 0);
}

#[test]
fn yield_now_interleaves_tasks_on_one_worker() {
    let ex = Executor::new(1);
    let log = Arc::new(std::sync::Mutex::new(Vec::new()));
    // Both tasks are spawned from a task on the worker, so both are queued before either
    // runs (spawned from this thread, the worker could finish the first before the second
    // existed).
    let parent = {
        let log = log.clone();
        ex.spawn(async move {
            let hs: Vec<_> = (0..2)
                .map(|id| {
                    let log = log.clone();
                    weft::spawn(async move {
                        for step in 0..3 {
                            log.lock().unwrap().push((id, step));
                            weft::yield_now().await;
                        }
                    })
                })
                .collect();
            for h in hs {
                h.await;
            }
        })
    };
    parent.join();
    let log = log.lock().unwrap();
    // Each task yields after every step, so neither runs all three steps back to back.
    let first_three: Vec<_> = log.iter().take(3).map(|(id, _)| *id).collect();
    assert!(
        first_three.contains(&0) && first_three.contains(&1),
        "{log:?}"
    );
}

#[test]
fn remote_spawns_wake_a_parked_worker() {
    let ex = Executor::new(2);
    for _ in 0..200 {
        // Workers park between these; each spawn must wake one.
        std::thread::sleep(Duration::from_micros(50));
        assert_eq!(ex.spawn(async { 1 }).join(), 1);
    }
}

#[test]
fn wake_from_foreign_thread() {
    let ex = Executor::new(2);
    let h = ex.spawn(async {
        let (tx, rx) = std::sync::mpsc::channel::<u32>();
        let waker_slot = Arc::new(std::sync::Mutex::new(None::<std::task::Waker>));
        let slot = waker_slot.clone();
        std::thread::spawn(move || loop {
            if let Some(w) = slot.lock().unwrap().take() {
                tx.send(11).unwrap();
                w.wake();
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        });
        std::future::poll_fn(move |cx| match rx.try_recv() {
            Ok(v) => Poll::Ready(v),
            Err(_) => {
                *waker_slot.lock().unwrap() = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    });
    assert_eq!(h.join(), 11);
}

/// Recurses `depth` levels through boxed futures: each level's poll calls the next one's, so
/// polling the outermost needs stack in proportion to `depth`.
fn recurse(depth: u32) -> Pin<Box<dyn Future<Output = u32> + Send>> {
    Box::pin(async move {
        if depth == 0 {
            0
        } else {
            recurse(depth - 1).await + 1
        }
    })
}

#[test]
fn thread_stack_size_lets_deep_recursion_run_on_workers_and_blocking_threads() {
    // Far more than a default 2 MiB stack holds (it overflows near 30,000 levels).
    const DEPTH: u32 = 300_000;
    let ex = Executor::builder()
        .workers(1)
        .thread_stack_size(1 << 30)
        .build()
        .unwrap();
    assert_eq!(ex.spawn(recurse(DEPTH)).join(), DEPTH);
    let on_pool = ex.spawn_blocking(|| weft::block_on(recurse(DEPTH)));
    assert_eq!(on_pool.join(), DEPTH);
}

/// Spawns a task when dropped and hands over its handle.
struct SpawnOnDrop {
    handles: mpsc::Sender<weft::JoinHandle<()>>,
    ran: Arc<AtomicUsize>,
}

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let ran = self.ran.clone();
        let h = weft::spawn(async move {
            ran.fetch_add(1, Ordering::SeqCst);
        });
        let _ = self.handles.send(h);
    }
}

#[test]
fn spawns_from_destructors_at_shutdown_go_to_the_shut_down_executor() {
    let ex = Executor::builder()
        .workers(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let ran = Arc::new(AtomicUsize::new(0));
    let guard = || SpawnOnDrop {
        handles: tx.clone(),
        ran: ran.clone(),
    };
    // Parked tasks, cancelled by shutdown.
    let (polled_tx, polled_rx) = mpsc::channel();
    for _ in 0..4 {
        let g = guard();
        let polled = polled_tx.clone();
        drop(ex.spawn(async move {
            let _g = g;
            polled.send(()).unwrap();
            std::future::pending::<()>().await;
        }));
    }
    for _ in 0..4 {
        polled_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    }
    // A blocking job still queued behind the only pool thread, cancelled by shutdown.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (busy_tx, busy_rx) = mpsc::channel();
    drop(ex.spawn_blocking(move || {
        busy_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(5));
    }));
    busy_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let g = guard();
    drop(ex.spawn_blocking(move || drop(g)));
    ex.shutdown();
    drop(release_tx);
    drop(tx);
    let handles: Vec<_> = rx.iter().collect();
    assert_eq!(handles.len(), 5, "every destructor ran");
    for h in handles {
        assert_eq!(weft::block_on(h.catch()), Err(JoinError::Cancelled));
    }
    assert_eq!(ran.load(Ordering::SeqCst), 0, "no spawn ran anywhere");
}

#[test]
fn a_task_woken_by_a_worker_that_then_blocks_runs_elsewhere() {
    let ex = Executor::new(2);
    let (tx, rx) = weft::channel::bounded::<Instant>(0);
    let (got_tx, got_rx) = mpsc::channel();
    drop(ex.spawn(async move {
        let sent = rx.recv().await.unwrap();
        got_tx.send(sent.elapsed()).unwrap();
    }));
    // The receiver parks on the rendezvous channel.
    std::thread::sleep(Duration::from_millis(100));
    drop(ex.spawn(async move {
        // Hands the value to the parked receiver, which is woken on this worker...
        tx.send(Instant::now()).await.unwrap();
        // ...and then blocks it, while the other worker is idle.
        std::thread::sleep(Duration::from_millis(1_500));
    }));
    let waited = got_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(waited < Duration::from_millis(800), "{waited:?}");
}
