//! `Semaphore` and `Barrier`: async-lock's, behind thin wrappers whose acquires and waits
//! spend the cooperative budget.

#![forbid(unsafe_code)]

use super::budget::budgeted_future;
use async_lock::{BarrierWaitResult, SemaphoreGuard, SemaphoreGuardArc};
use std::fmt;
use std::sync::Arc;

/// A counting semaphore: async-lock's `Semaphore`, each acquire spending one unit of the
/// task's cooperative budget. [`acquire_arc`](Semaphore::acquire_arc) gives owned permits.
///
/// Cancel-safe: a dropped `acquire()` future gives up its place, and a wake-up it had received
/// passes to the next waiter.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Semaphore;
///
/// # weft::block_on(async {
/// let sem = Arc::new(Semaphore::new(2));
/// let a = sem.acquire().await;
/// let b = sem.acquire_arc().await; // owned: can move into a task
/// assert!(sem.try_acquire().is_none());
/// drop((a, b));
/// assert_eq!(sem.available_permits(), 2);
/// # });
/// ```
pub struct Semaphore {
    /// Shared so that owned permits ([`SemaphoreGuardArc`]) can keep it alive.
    inner: Arc<async_lock::Semaphore>,
}

budgeted_future! {
    /// The future of [`Semaphore::acquire`].
    Acquire['a]['a](async_lock::futures::Acquire<'a>) -> SemaphoreGuard<'a>
}

budgeted_future! {
    /// The future of [`Semaphore::acquire_arc`].
    AcquireArc[][](async_lock::futures::AcquireArc) -> SemaphoreGuardArc
}

impl Semaphore {
    /// A semaphore with `permits` permits.
    pub fn new(permits: usize) -> Self {
        Self {
            inner: Arc::new(async_lock::Semaphore::new(permits)),
        }
    }

    /// Waits for a permit, given back when the guard drops.
    pub fn acquire(&self) -> Acquire<'_> {
        Acquire::new(self.inner.acquire())
    }

    /// Takes a permit if one is free.
    pub fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.inner.try_acquire()
    }

    /// Blocks the thread until a permit is taken: for synchronous code, not on a worker.
    pub fn acquire_blocking(&self) -> SemaphoreGuard<'_> {
        self.inner.acquire_blocking()
    }

    /// Waits for an owned permit, which keeps the semaphore alive.
    pub fn acquire_arc(self: &Arc<Self>) -> AcquireArc {
        AcquireArc::new(self.inner.acquire_arc())
    }

    /// Takes an owned permit if one is free.
    pub fn try_acquire_arc(self: &Arc<Self>) -> Option<SemaphoreGuardArc> {
        self.inner.try_acquire_arc()
    }

    /// Blocks the thread until an owned permit is taken: not on a worker.
    pub fn acquire_arc_blocking(self: &Arc<Self>) -> SemaphoreGuardArc {
        self.inner.acquire_arc_blocking()
    }

    /// Adds `n` permits, waking as many waiters.
    pub fn add_permits(&self, n: usize) {
        self.inner.add_permits(n);
    }

    /// The permits free now.
    pub fn available_permits(&self) -> usize {
        self.inner.available_permits()
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("available_permits", &self.available_permits())
            .finish()
    }
}

/// A barrier for a fixed number of tasks: async-lock's `Barrier`, each
/// [`wait`](Barrier::wait) spending one unit of the task's cooperative budget. Every
/// `n`-th `wait` releases the `n` waiters, one of whom is told it is the leader.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Barrier;
///
/// # weft::block_on(async {
/// let barrier = Arc::new(Barrier::new(3));
/// let tasks: Vec<_> = (0..3)
///     .map(|_| {
///         let barrier = barrier.clone();
///         weft::spawn(async move { barrier.wait().await.is_leader() })
///     })
///     .collect();
/// let leaders = weft::join(tasks).await.into_iter().filter(|&l| l).count();
/// assert_eq!(leaders, 1);
/// # });
/// ```
pub struct Barrier {
    inner: async_lock::Barrier,
}

budgeted_future! {
    /// The future of [`Barrier::wait`].
    BarrierWait['a]['a](async_lock::futures::BarrierWait<'a>) -> BarrierWaitResult
}

impl Barrier {
    /// A barrier for `n` tasks (0 behaves as 1).
    pub const fn new(n: usize) -> Self {
        Self {
            inner: async_lock::Barrier::new(n),
        }
    }

    /// Waits until `n` tasks are waiting here.
    pub fn wait(&self) -> BarrierWait<'_> {
        BarrierWait::new(self.inner.wait())
    }

    /// Blocks the thread until `n` are waiting: for synchronous code, not on a worker.
    pub fn wait_blocking(&self) -> BarrierWaitResult {
        self.inner.wait_blocking()
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
