//! Per-thread context: which executor `weft::spawn` targets, and the worker running on this
//! thread (if any), so a wake-up on a worker can go to its local queue.

#![forbid(unsafe_code)]

use super::shared::Shared;
use super::worker::WorkerCtx;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

#[derive(Default)]
struct Context {
    /// The executor that `weft::spawn` uses on this thread.
    handle: Option<Arc<Shared>>,
    /// Set on worker threads only.
    worker: Option<Rc<WorkerCtx>>,
}

thread_local! {
    static CONTEXT: RefCell<Context> = RefCell::new(Context::default());
}

/// Restores the previous context when dropped.
#[derive(Debug)]
pub(crate) struct EnterGuard {
    prev: Option<Arc<Shared>>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        let _ = CONTEXT.try_with(|c| c.borrow_mut().handle = prev);
    }
}

/// Makes `shared` the spawn target of this thread until the guard drops.
pub(crate) fn enter(shared: Arc<Shared>) -> EnterGuard {
    let prev = CONTEXT.with(|c| c.borrow_mut().handle.replace(shared));
    EnterGuard { prev }
}

/// Installs the worker context on this (worker) thread for the thread's lifetime.
pub(crate) fn set_worker(worker: Option<Rc<WorkerCtx>>) {
    CONTEXT.with(|c| c.borrow_mut().worker = worker);
}

/// The executor `weft::spawn` should use here, if the thread is inside one.
pub(crate) fn current() -> Option<Arc<Shared>> {
    CONTEXT
        .try_with(|c| c.borrow().handle.clone())
        .ok()
        .flatten()
}

/// Runs `f` with this thread's worker, if it is a worker thread.
pub(crate) fn with_worker<R>(f: impl FnOnce(Option<&WorkerCtx>) -> R) -> R {
    match CONTEXT.try_with(|c| {
        let c = c.borrow();
        c.worker.clone()
    }) {
        Ok(Some(w)) => f(Some(&w)),
        _ => f(None),
    }
}

/// True on a weft worker thread (any executor).
pub(crate) fn is_worker_thread() -> bool {
    CONTEXT
        .try_with(|c| c.borrow().worker.is_some())
        .unwrap_or(false)
}
