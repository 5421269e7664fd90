//! Driving a future to completion on the calling thread.

#![forbid(unsafe_code)]

use super::context;
use super::park::Parker;
use super::shared::Shared;
use std::future::Future;
use std::pin::pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// Panics with a clear message if called on a worker thread.
pub(crate) fn assert_not_worker(what: &str) {
    if context::is_worker_thread() {
        panic!(
            "{what} called on a weft worker thread: blocking here would stall the worker \
             (and can deadlock it); use `.await` inside async code instead"
        );
    }
}

/// What a `block_on` thread is doing, for a paused clock's auto-advance (see
/// `runtime/clock.rs`): counted in its executor's `outside_busy` while `BUSY`.
const BUSY: u8 = 0;
const IDLE: u8 = 1;
const DONE: u8 = 2;
/// Busy, and woken while polling: it polls again instead of parking.
const WOKEN: u8 = 3;

/// The waker of a `block_on` call: wakes its thread, and counts it busy again first, so that
/// between the wake-up and the thread running, the executor does not look idle.
struct Waiter {
    parker: Parker,
    shared: Option<Arc<Shared>>,
    state: AtomicU8,
}

impl Waiter {
    /// Counts the thread busy again if it was idle (or notes the wake-up if it is polling).
    fn busy(&self) {
        if let Some(shared) = &self.shared {
            match self
                .state
                .compare_exchange(IDLE, BUSY, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => {
                    shared.clock.outside_busy.fetch_add(1, Ordering::SeqCst);
                }
                Err(BUSY) => {
                    let _ = self.state.compare_exchange(
                        BUSY,
                        WOKEN,
                        Ordering::SeqCst,
                        Ordering::SeqCst,
                    );
                }
                Err(_) => {}
            }
        }
    }
}

impl Wake for Waiter {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.busy();
        self.parker.unpark();
    }
}

/// Counts the thread out when `block_on` returns or unwinds.
struct Done<'a>(&'a Waiter);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        if let Some(shared) = &self.0.shared {
            if matches!(self.0.state.swap(DONE, Ordering::SeqCst), BUSY | WOKEN) {
                shared.clock.outside_busy.fetch_sub(1, Ordering::SeqCst);
            }
        }
    }
}

/// Polls `future` on this thread, parking between polls until its waker fires. `shared` is
/// the executor this thread drives the future for: while the thread is not parked, that
/// executor's paused clock does not auto-advance.
pub(crate) fn block_on<F: Future>(future: F, shared: Option<Arc<Shared>>) -> F::Output {
    if let Some(shared) = &shared {
        shared.clock.outside_busy.fetch_add(1, Ordering::SeqCst);
    }
    let waiter = Arc::new(Waiter {
        parker: Parker::new(),
        shared,
        state: AtomicU8::new(BUSY),
    });
    let _done = Done(&waiter);
    let waker = Waker::from(waiter.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if waiter.shared.is_some() {
            // About to poll: a wake-up noted before this poll is seen by it.
            waiter.state.store(BUSY, Ordering::SeqCst);
        }
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        if let Some(shared) = &waiter.shared {
            if waiter
                .state
                .compare_exchange(BUSY, IDLE, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                // Woken while polling (a `yield_now`): still busy, poll again.
                continue;
            }
            shared.clock.outside_busy.fetch_sub(1, Ordering::SeqCst);
            if shared.clock.touched() {
                shared.try_auto_advance();
            }
        }
        waiter.parker.park(None);
        waiter.busy();
    }
}
