//! TaskSet and scope: joining as tasks finish, abort_all, drop cancels, scope waits for every
//! child and propagates a child's panic after cancelling the others.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use weft::task::TaskSet;
use weft::{Executor, JoinError};

struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn join_next_in_completion_order() {
    // On a paused clock the timers fire in deadline order however loaded the machine is (on
    // the real clock, a worker descheduled for 10 ms reordered them).
    let ex = Executor::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .unwrap();
    ex.block_on(async {
        let mut set = TaskSet::new();
        for ms in [30u64, 10, 20] {
            set.spawn(async move {
                weft::sleep(Duration::from_millis(ms)).await;
                ms
            });
        }
        assert_eq!(set.len(), 3);
        let mut got = Vec::new();
        while let Some(r) = set.join_next().await {
            got.push(r.unwrap());
        }
        assert_eq!(got, vec![10, 20, 30]);
        assert!(set.is_empty());
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn abort_all_and_panics_are_reported() {
    Executor::new(2).block_on(async {
        let mut set = TaskSet::new();
        set.spawn(async { panic!("bad task") });
        let res = set.join_next().await.unwrap();
        assert_eq!(res, Err(JoinError::Panicked("bad task".into())));
        for _ in 0..3 {
            set.spawn(std::future::pending::<()>());
        }
        set.abort_all();
        let mut cancelled = 0;
        while let Some(r) = set.join_next().await {
            assert!(r.unwrap_err().is_cancelled());
            cancelled += 1;
        }
        assert_eq!(cancelled, 3);
    });
}

#[test]
fn dropping_the_set_cancels_its_tasks() {
    let ex = Executor::new(2);
    let dropped = Arc::new(AtomicBool::new(false));
    {
        let mut set = TaskSet::new();
        let flag = DropFlag(dropped.clone());
        ex.block_on(async {
            set.spawn(async move {
                let _flag = flag;
                std::future::pending::<()>().await;
            });
        });
    }
    let start = std::time::Instant::now();
    while !dropped.load(Ordering::SeqCst) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "task not cancelled"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn scope_waits_for_every_child_even_nested() {
    let done = Arc::new(AtomicU32::new(0));
    Executor::new(2).block_on(async {
        weft::scope(|s| {
            let done = done.clone();
            async move {
                for i in 0..4u64 {
                    let (done, s2) = (done.clone(), s.clone());
                    s.spawn(async move {
                        weft::sleep(Duration::from_millis(i * 3)).await;
                        let done2 = done.clone();
                        s2.spawn(async move {
                            weft::sleep(Duration::from_millis(5)).await;
                            done2.fetch_add(1, Ordering::SeqCst);
                        });
                        done.fetch_add(1, Ordering::SeqCst);
                    });
                }
            }
        })
        .await;
    });
    assert_eq!(
        done.load(Ordering::SeqCst),
        8,
        "children and grandchildren all finished"
    );
}

/// Runs a scope with two children on a 2-worker executor: the one `sibling` makes (given the
/// scope) and one that panics after 5 ms; checks that the scope reports that panic, promptly.
fn scope_where_a_child_panics<F>(sibling: impl FnOnce(&weft::task::Scope) -> F + Send + 'static)
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let ex = Executor::new(2);
    let h = ex.spawn(async move {
        weft::scope(|s| async move {
            s.spawn(sibling(&s));
            s.spawn(async {
                weft::sleep(Duration::from_millis(5)).await;
                panic!("child failed");
            });
        })
        .await
    });
    let err = ex
        .block_on(weft::timeout(h.catch(), Duration::from_secs(10)))
        .expect("scope returned promptly");
    assert_eq!(err, Err(JoinError::Panicked("child failed".into())));
}

#[test]
fn scope_cancels_the_rest_and_propagates_a_panic() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    scope_where_a_child_panics(|_| async move {
        let _flag = flag;
        weft::sleep(Duration::from_secs(60)).await;
    });
    assert!(
        dropped.load(Ordering::SeqCst),
        "the sibling was cancelled first"
    );
}

#[test]
fn scope_returns_the_body_value() {
    let v = weft::block_on(weft::scope(|s| async move {
        s.spawn(async {});
        7
    }));
    assert_eq!(v, 7);
}

#[test]
fn join_next_finds_the_finished_task_among_many_pending() {
    // More pending handles than the cooperative budget: waiting handles must not use it up.
    let ex = Executor::new(2);
    let out = ex.block_on(async {
        let h = weft::spawn(async {
            let mut set = TaskSet::new();
            for _ in 0..199 {
                set.spawn(std::future::pending::<u32>());
            }
            set.spawn(async { 7 });
            set.join_next().await
        });
        weft::timeout(h, Duration::from_secs(10)).await
    });
    assert_eq!(
        out.expect("join_next returned").map(|r| r.unwrap()),
        Some(7)
    );
}

/// Spawns a task on the scope when dropped: from inside a task that is being cancelled.
struct SpawnOnDrop(weft::task::Scope, Arc<AtomicBool>);

impl Drop for SpawnOnDrop {
    fn drop(&mut self) {
        let ran = self.1.clone();
        self.0
            .spawn(async move { ran.store(true, Ordering::SeqCst) });
    }
}

#[test]
fn scope_does_not_run_tasks_spawned_after_a_panic() {
    // The sibling is cancelled because its neighbour panicked; while it is dropped it spawns
    // one more task on the scope. That task must not run: the scope is already failing.
    let ran = Arc::new(AtomicBool::new(false));
    let seen = ran.clone();
    scope_where_a_child_panics(move |s| {
        let guard = SpawnOnDrop(s.clone(), seen);
        async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        }
    });
    assert!(
        !ran.load(Ordering::SeqCst),
        "a task spawned after the panic ran"
    );
}

#[test]
fn join_next_in_a_large_set_returns_exactly_the_task_that_finished() {
    // 2,000 tasks each wait on their own channel; they are released one at a time in reverse
    // order, and each join returns exactly the task just released. The first join polls every
    // task (more than one budget's worth), so tasks cut off by the budget must be looked at
    // again, not forgotten.
    let ex = Executor::new(2);
    ex.block_on(async {
        let n = 2_000;
        let mut set = TaskSet::new();
        let mut gates = Vec::new();
        for i in 0..n {
            let (tx, rx) = weft::channel::bounded::<()>(1);
            gates.push(tx);
            set.spawn(async move {
                rx.recv().await;
                i
            });
        }
        for i in (0..n).rev() {
            gates[i].send(()).await.unwrap();
            assert_eq!(set.join_next().await.unwrap().unwrap(), i);
            assert_eq!(set.len(), i);
        }
        assert!(set.join_next().await.is_none());
    });
}

#[test]
fn scope_propagates_a_panic_while_the_body_waits_on_the_failed_child() {
    // The body waits for an event the child would have set after its panic: the panic must
    // end the wait (by cancelling the body) instead of leaving the scope hung.
    let ex = Executor::new(2);
    let h = ex.spawn(async {
        weft::scope(|s| async move {
            let ready = Arc::new(weft::sync::Event::new());
            let set_by_child = ready.clone();
            s.spawn(async move {
                weft::sleep(Duration::from_millis(5)).await;
                if std::hint::black_box(true) {
                    panic!("child failed");
                }
                set_by_child.set();
            });
            ready.wait().await;
        })
        .await
    });
    let out = ex.block_on(weft::timeout(h.catch(), Duration::from_secs(10)));
    assert_eq!(
        out.expect("the scope returned instead of hanging"),
        Err(JoinError::Panicked("child failed".into()))
    );
}

#[test]
fn scope_cancels_siblings_and_body_as_soon_as_a_child_panics() {
    // The child panics at 5 ms; a sibling would record itself at 300 ms and the body at
    // 2 s. Neither may get there, and the panic must reach the caller well before 2 s. On a
    // paused clock, so a loaded machine cannot stretch 5 ms past 300 ms.
    let ex = Executor::builder()
        .workers(2)
        .start_paused(true)
        .build()
        .unwrap();
    let sibling_ran = Arc::new(AtomicBool::new(false));
    let body_ran = Arc::new(AtomicBool::new(false));
    let body_dropped = Arc::new(AtomicBool::new(false));
    let (sib, body, dropped) = (sibling_ran.clone(), body_ran.clone(), body_dropped.clone());
    let start = std::time::Instant::now();
    let h = ex.spawn(async move {
        weft::scope(|s| async move {
            let _flag = DropFlag(dropped);
            s.spawn(async move {
                weft::sleep(Duration::from_millis(300)).await;
                sib.store(true, Ordering::SeqCst);
            });
            s.spawn(async {
                weft::sleep(Duration::from_millis(5)).await;
                panic!("child failed");
            });
            weft::sleep(Duration::from_secs(2)).await;
            body.store(true, Ordering::SeqCst);
        })
        .await
    });
    let out = ex.block_on(weft::timeout(h.catch(), Duration::from_secs(10)));
    let elapsed = start.elapsed();
    assert_eq!(
        out.expect("scope returned"),
        Err(JoinError::Panicked("child failed".into()))
    );
    assert!(
        elapsed < Duration::from_millis(1_000),
        "the panic waited for the body: {elapsed:?}"
    );
    // Give a sibling that was not cancelled the time to record itself.
    std::thread::sleep(Duration::from_millis(400));
    assert!(
        !sibling_ran.load(Ordering::SeqCst),
        "the sibling kept running"
    );
    assert!(!body_ran.load(Ordering::SeqCst), "the body kept running");
    assert!(body_dropped.load(Ordering::SeqCst), "the body was dropped");
}

#[test]
fn scope_does_not_run_a_task_spawned_after_a_panic_while_the_body_runs() {
    // A task outside the scope holds a `Scope` and spawns on it 100 ms after a child has
    // panicked, while the body would still be running: that task must not run.
    let ex = Executor::new(2);
    let ran = Arc::new(AtomicBool::new(false));
    let seen = ran.clone();
    let h = ex.spawn(async move {
        weft::scope(|s| async move {
            let s2 = s.clone();
            weft::spawn(async move {
                weft::sleep(Duration::from_millis(100)).await;
                s2.spawn(async move { seen.store(true, Ordering::SeqCst) });
            });
            s.spawn(async {
                weft::sleep(Duration::from_millis(5)).await;
                panic!("child failed");
            });
            weft::sleep(Duration::from_millis(600)).await;
        })
        .await
    });
    let out = ex.block_on(weft::timeout(h.catch(), Duration::from_secs(10)));
    assert_eq!(
        out.expect("scope returned"),
        Err(JoinError::Panicked("child failed".into()))
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        !ran.load(Ordering::SeqCst),
        "a task spawned after the panic ran"
    );
}

#[test]
fn scope_watches_a_task_spawned_from_outside_while_the_body_waits() {
    // A task spawned on the scope by an outside task (not by the body or a child) panics; the
    // scope must notice it while the body is still waiting, not when the body returns.
    let ex = Executor::new(2);
    let start = std::time::Instant::now();
    let h = ex.spawn(async move {
        weft::scope(|s| async move {
            let s2 = s.clone();
            weft::spawn(async move {
                weft::sleep(Duration::from_millis(10)).await;
                s2.spawn(async { panic!("late child failed") });
            });
            weft::sleep(Duration::from_secs(2)).await;
        })
        .await
    });
    let out = ex.block_on(weft::timeout(h.catch(), Duration::from_secs(10)));
    assert_eq!(
        out.expect("scope returned"),
        Err(JoinError::Panicked("late child failed".into()))
    );
    let elapsed = start.elapsed();
    assert!(
        elapsed < Duration::from_millis(1_000),
        "the panic waited for the body: {elapsed:?}"
    );
}
