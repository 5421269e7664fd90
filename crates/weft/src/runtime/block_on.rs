//! Driving a future to completion on the calling thread.

#![forbid(unsafe_code)]

use super::context;
use super::park::Parker;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// Panics with a clear message if called on a worker thread.
pub(crate) fn assert_not_worker(what: &str) {
    if context::is_worker_thread() {
        panic!(
            "{what} called on a weft worker thread: blocking here would stall the worker \
             (and can deadlock it); use `.await` inside async code instead"
        );
    }
}

/// Polls `future` on this thread, parking between polls until its waker fires.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let parker = Arc::new(Parker::new());
    let waker = Waker::from(parker.clone());
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        parker.park(None);
    }
}
