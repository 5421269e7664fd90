//! JoinHandle: await, catch, join, abort, is_finished, detach, panics.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use weft::{Executor, JoinError};

/// Sets a flag when dropped, to observe that a future was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn await_gives_output() {
    let ex = Executor::new(2);
    let v = ex.block_on(async { weft::spawn(async { 7 * 6 }).await });
    assert_eq!(v, 42);
}

#[test]
fn join_blocks_until_done() {
    let ex = Executor::new(2);
    let h = ex.spawn(async {
        for _ in 0..100 {
            weft::yield_now().await;
        }
        "done"
    });
    assert_eq!(h.join(), "done");
}

#[test]
fn panic_is_caught_with_message() {
    let ex = Executor::new(2);
    let err = ex
        .block_on(async { weft::spawn(async { panic!("boom {}", 7) }).catch().await })
        .unwrap_err();
    assert_eq!(err, JoinError::Panicked("boom 7".to_owned()));
    assert!(err.is_panic());
    assert_eq!(err.to_string(), "task panicked: boom 7");

    let err = ex
        .block_on(async {
            weft::spawn(async { std::panic::panic_any(5u8) })
                .catch()
                .await
        })
        .unwrap_err();
    assert!(err.is_panic());
}

#[test]
fn panic_propagates_to_awaiter() {
    let ex = Executor::new(2);
    let outer = ex.spawn(async {
        let inner = weft::spawn(async { panic!("inner failed") });
        inner.await;
    });
    // The panic resumed in the outer task, which is itself caught by its own handle.
    let err = ex.block_on(outer.catch()).unwrap_err();
    assert_eq!(err, JoinError::Panicked("inner failed".to_owned()));
}

#[test]
fn join_resumes_panic_in_caller() {
    let ex = Executor::new(1);
    let h = ex.spawn(async { panic!("resumed") });
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| h.join())).unwrap_err();
    assert_eq!(caught.downcast_ref::<&str>(), Some(&"resumed"));
}

#[test]
fn worker_survives_panics() {
    let ex = Executor::new(1);
    for _ in 0..50 {
        assert!(ex
            .block_on(ex.spawn(async { panic!("x") }).catch())
            .is_err());
    }
    assert_eq!(ex.spawn(async { 1 }).join(), 1);
}

#[test]
fn abort_drops_the_future() {
    let ex = Executor::new(2);
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let h = ex.spawn(async move {
        let _flag = flag;
        std::future::pending::<()>().await;
    });
    h.abort();
    let res = ex.block_on(h.catch());
    assert_eq!(res, Err(JoinError::Cancelled));
    assert!(
        dropped.load(Ordering::SeqCst),
        "future dropped before the handle resolved"
    );
}

#[test]
fn abort_running_task() {
    let ex = Executor::new(2);
    let (started_tx, started_rx) = mpsc::channel();
    let h = ex.spawn(async move {
        started_tx.send(()).unwrap();
        loop {
            weft::yield_now().await;
        }
    });
    started_rx.recv().unwrap();
    h.abort();
    assert!(ex.block_on(h.catch()).unwrap_err().is_cancelled());
}

#[test]
fn abort_after_completion_keeps_output() {
    let ex = Executor::new(1);
    let h = ex.spawn(async { 9 });
    while !h.is_finished() {
        std::thread::yield_now();
    }
    h.abort();
    assert_eq!(ex.block_on(h.catch()), Ok(9));
}

#[test]
fn is_finished_tracks_completion() {
    let ex = Executor::new(1);
    let (tx, rx) = mpsc::channel::<()>();
    let h = ex.spawn_blocking(move || rx.recv().unwrap());
    assert!(!h.is_finished());
    tx.send(()).unwrap();
    h.join();
    let h = ex.spawn(async {});
    let start = std::time::Instant::now();
    while !h.is_finished() {
        assert!(start.elapsed() < Duration::from_secs(10));
        std::thread::yield_now();
    }
}

#[test]
fn dropped_handle_detaches() {
    let ex = Executor::new(2);
    let ran = Arc::new(AtomicUsize::new(0));
    let (tx, rx) = mpsc::channel();
    {
        let ran = ran.clone();
        drop(ex.spawn(async move {
            for _ in 0..10 {
                weft::yield_now().await;
            }
            ran.fetch_add(1, Ordering::SeqCst);
            tx.send(()).unwrap();
        }));
    }
    rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 1);
}

#[test]
fn await_of_cancelled_task_panics_with_hint() {
    let ex = Executor::new(1);
    let h = ex.spawn(std::future::pending::<()>());
    h.abort();
    let outer = ex.spawn(h);
    let err = ex.block_on(outer.catch()).unwrap_err();
    match err {
        JoinError::Panicked(msg) => assert!(msg.contains("JoinHandle::catch"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn join_on_worker_thread_panics_clearly() {
    let ex = Executor::new(1);
    let outer = ex.spawn(async {
        let inner = weft::spawn(async { 1 });
        inner.join()
    });
    match ex.block_on(outer.catch()).unwrap_err() {
        JoinError::Panicked(msg) => {
            assert!(
                msg.contains("worker thread") && msg.contains(".await"),
                "{msg}"
            )
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn block_on_on_worker_thread_panics_clearly() {
    let ex = Executor::new(1);
    let outer = ex.spawn(async { weft::block_on(async { 1 }) });
    match ex.block_on(outer.catch()).unwrap_err() {
        JoinError::Panicked(msg) => assert!(msg.contains("weft::block_on"), "{msg}"),
        other => panic!("unexpected {other:?}"),
    }
}

/// Panics when dropped.
struct PanicOnDrop;

impl Drop for PanicOnDrop {
    fn drop(&mut self) {
        panic!("destructor panicked");
    }
}

#[test]
fn a_panicking_destructor_of_a_cancelled_task_is_contained() {
    let ex = Executor::new(1);
    let h = ex.spawn(async {
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    h.abort();
    // The process is still here, and the worker too.
    assert!(ex.block_on(h.catch()).unwrap_err().is_cancelled());
    assert_eq!(ex.spawn(async { 1 }).join(), 1);
    // Shutdown cancels such a task as well.
    let _left = ex.spawn(async {
        let _bomb = PanicOnDrop;
        std::future::pending::<()>().await;
    });
    ex.shutdown();
}
