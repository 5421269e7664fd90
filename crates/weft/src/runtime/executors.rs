//! Executors by number, so a task names its executor in 16 bits of a word it needs anyway
//! instead of in a pointer of its own.
//!
//! Each executor's `Shared` takes a number when it is built and gives it back when it is
//! dropped; while it lives, the table maps the number to it. A task still holds a strong count
//! of its executor's `Arc<Shared>` (taken when it is made, given back when its metadata is
//! dropped), so the number it keeps names a live executor for as long as the task exists.

use super::shared::Shared;
use std::ptr;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::{Arc, Mutex};

/// How many executors can be alive at once (an executor stays alive while any of its tasks
/// does).
pub(crate) const MAX_EXECUTORS: usize = 1 << 16;

static TABLE: [AtomicPtr<Shared>; MAX_EXECUTORS] =
    [const { AtomicPtr::new(ptr::null_mut()) }; MAX_EXECUTORS];

/// Numbers given back, and the first never taken.
static FREE: Mutex<(Vec<u16>, usize)> = Mutex::new((Vec::new(), 0));

/// An executor's number, given back when dropped.
#[derive(Debug)]
pub(crate) struct ExecutorNumber(u16);

impl ExecutorNumber {
    /// A free number, or `None` if `MAX_EXECUTORS` executors are alive.
    pub(crate) fn take() -> Option<Self> {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = free.0.pop() {
            return Some(Self(n));
        }
        let n = u16::try_from(free.1).ok()?;
        free.1 += 1;
        Some(Self(n))
    }

    pub(crate) fn get(&self) -> u16 {
        self.0
    }

    /// Maps the number to `shared`, whose number it is, before any task of it exists.
    pub(crate) fn publish(shared: &Arc<Shared>) {
        TABLE[usize::from(shared.number.0)]
            .store(Arc::as_ptr(shared).cast_mut(), Ordering::Release);
    }
}

impl Drop for ExecutorNumber {
    fn drop(&mut self) {
        TABLE[usize::from(self.0)].store(ptr::null_mut(), Ordering::Release);
        FREE.lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .push(self.0);
    }
}

/// The executor numbered `n`, as `Arc::as_ptr` gives it; only meaningful while the caller
/// holds (or borrows from a holder of) a strong count of that executor's `Arc`.
#[inline]
pub(crate) fn lookup(n: u16) -> *const Shared {
    TABLE[usize::from(n)].load(Ordering::Acquire)
}
