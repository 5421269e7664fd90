//! Races on one task from several threads, repeated many times: the task-state transitions
//! (complete vs join, abort vs run, wake while running, handle dropped while running) must
//! never lose a wake-up, run a future twice, or leak or double-drop an output.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use weft::{Executor, JoinError};

const ROUNDS: usize = 2_000;

/// Counts drops of its value, to catch double drops and leaks of outputs.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

#[test]
fn complete_races_join() {
    let ex = Executor::new(2);
    for i in 0..ROUNDS {
        let h = ex.spawn(async move { i });
        assert_eq!(h.join(), i);
    }
}

#[test]
fn abort_races_running_task() {
    let ex = Executor::new(2);
    let drops = Arc::new(AtomicUsize::new(0));
    for i in 0..ROUNDS {
        let out = Counted(drops.clone());
        let h = ex.spawn(async move {
            if i % 2 == 0 {
                weft::yield_now().await;
            }
            out
        });
        h.abort();
        match ex.block_on(h.catch()) {
            Ok(out) => drop(out),
            Err(e) => assert_eq!(e, JoinError::Cancelled),
        }
    }
    // Every output (or the future holding it) was dropped exactly once.
    assert_eq!(drops.load(SeqCst), ROUNDS);
}

/// A future that is woken from another thread while it is being polled.
struct WokenWhilePolled {
    waker_out: Arc<std::sync::Mutex<Option<Waker>>>,
    entered: Arc<Barrier>,
    polls: usize,
}

impl Future for WokenWhilePolled {
    type Output = usize;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<usize> {
        self.polls += 1;
        if self.polls == 1 {
            *self.waker_out.lock().unwrap() = Some(cx.waker().clone());
            // Let the other thread wake us while this poll is still running.
            self.entered.wait();
            self.entered.wait();
            return Poll::Pending;
        }
        Poll::Ready(self.polls)
    }
}

#[test]
fn wake_while_running_is_not_lost() {
    let ex = Executor::new(2);
    for _ in 0..200 {
        let slot = Arc::new(std::sync::Mutex::new(None));
        let entered = Arc::new(Barrier::new(2));
        let h = ex.spawn(WokenWhilePolled {
            waker_out: slot.clone(),
            entered: entered.clone(),
            polls: 0,
        });
        entered.wait();
        slot.lock().unwrap().take().unwrap().wake();
        entered.wait();
        // The wake-up arrived during the first poll: the task must be polled again.
        assert_eq!(h.join(), 2);
    }
}

#[test]
fn handle_dropped_while_running() {
    let ex = Executor::new(2);
    let drops = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    for _ in 0..ROUNDS {
        let out = Counted(drops.clone());
        let finished = finished.clone();
        let h = ex.spawn(async move {
            weft::yield_now().await;
            finished.fetch_add(1, SeqCst);
            out
        });
        drop(h);
    }
    let start = std::time::Instant::now();
    while finished.load(SeqCst) < ROUNDS || drops.load(SeqCst) < ROUNDS {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "detached tasks stalled"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(
        drops.load(SeqCst),
        ROUNDS,
        "each detached output dropped once"
    );
}

#[test]
fn abort_from_another_thread_while_task_keeps_waking() {
    let ex = Executor::new(2);
    for _ in 0..500 {
        let h = Arc::new(ex.spawn(async {
            loop {
                weft::yield_now().await;
            }
        }));
        let h2 = h.clone();
        std::thread::spawn(move || h2.abort()).join().unwrap();
        let h = Arc::try_unwrap(h).unwrap();
        assert_eq!(ex.block_on(h.catch()), Err(JoinError::Cancelled));
    }
}
