//! `Mutex` and `RwLock`: async-lock's, behind thin wrappers whose acquires spend the
//! cooperative budget.

#![forbid(unsafe_code)]

use super::budget::budgeted_future;
use async_lock::{MutexGuard, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
use std::fmt;

/// An async mutual-exclusion lock: async-lock's `Mutex`, each [`lock`](Mutex::lock) spending
/// one unit of the task's cooperative budget.
///
/// Cancel-safe: a dropped `lock()` future gives up its place, and a wake-up it had received
/// passes to the next waiter. Starvation-free, though not strictly FIFO (see the
/// [module docs](super)).
///
/// # Examples
///
/// ```
/// use weft::sync::Mutex;
///
/// # weft::block_on(async {
/// let m = Mutex::new(1);
/// *m.lock().await += 1;
/// assert_eq!(*m.lock().await, 2);
/// assert_eq!(m.into_inner(), 2);
/// # });
/// ```
#[derive(Default)]
pub struct Mutex<T: ?Sized> {
    inner: async_lock::Mutex<T>,
}

budgeted_future! {
    /// The future of [`Mutex::lock`].
    Lock['a, T: ?Sized]['a, T](async_lock::futures::Lock<'a, T>) -> MutexGuard<'a, T>
}

impl<T> Mutex<T> {
    /// An unlocked mutex holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            inner: async_lock::Mutex::new(value),
        }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock.
    pub fn lock(&self) -> Lock<'_, T> {
        Lock::new(self.inner.lock())
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// Blocks the thread until the lock is taken: for synchronous code, not on a worker.
    pub fn lock_blocking(&self) -> MutexGuard<'_, T> {
        self.inner.lock_blocking()
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// An async reader-writer lock: async-lock's `RwLock`, each acquire spending one unit of the
/// task's cooperative budget. Writers are preferred: once one waits, new readers wait too.
///
/// # Examples
///
/// ```
/// use weft::sync::RwLock;
///
/// # weft::block_on(async {
/// let l = RwLock::new(1);
/// {
///     let (a, b) = (l.read().await, l.read().await);
///     assert_eq!(*a + *b, 2);
/// }
/// *l.write().await = 5;
/// assert_eq!(*l.read().await, 5);
/// # });
/// ```
#[derive(Default)]
pub struct RwLock<T: ?Sized> {
    inner: async_lock::RwLock<T>,
}

budgeted_future! {
    /// The future of [`RwLock::read`].
    Read['a, T: ?Sized]['a, T](async_lock::futures::Read<'a, T>) -> RwLockReadGuard<'a, T>
}

budgeted_future! {
    /// The future of [`RwLock::upgradable_read`].
    UpgradableRead['a, T: ?Sized]['a, T](async_lock::futures::UpgradableRead<'a, T>)
        -> RwLockUpgradableReadGuard<'a, T>
}

budgeted_future! {
    /// The future of [`RwLock::write`].
    Write['a, T: ?Sized]['a, T](async_lock::futures::Write<'a, T>) -> RwLockWriteGuard<'a, T>
}

impl<T> RwLock<T> {
    /// An unlocked lock holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            inner: async_lock::RwLock::new(value),
        }
    }

    /// The value, consuming the lock.
    pub fn into_inner(self) -> T {
        self.inner.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// Waits for a shared read lock.
    pub fn read(&self) -> Read<'_, T> {
        Read::new(self.inner.read())
    }

    /// Takes a read lock if no writer holds or waits for the lock.
    pub fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.inner.try_read()
    }

    /// Blocks the thread until a read lock is taken: for synchronous code, not on a worker.
    pub fn read_blocking(&self) -> RwLockReadGuard<'_, T> {
        self.inner.read_blocking()
    }

    /// Waits for a read lock that can later be upgraded to a write lock (one at a time).
    pub fn upgradable_read(&self) -> UpgradableRead<'_, T> {
        UpgradableRead::new(self.inner.upgradable_read())
    }

    /// Takes an upgradable read lock if one is available now.
    pub fn try_upgradable_read(&self) -> Option<RwLockUpgradableReadGuard<'_, T>> {
        self.inner.try_upgradable_read()
    }

    /// Blocks the thread until an upgradable read lock is taken: not on a worker.
    pub fn upgradable_read_blocking(&self) -> RwLockUpgradableReadGuard<'_, T> {
        self.inner.upgradable_read_blocking()
    }

    /// Waits for the exclusive write lock.
    pub fn write(&self) -> Write<'_, T> {
        Write::new(self.inner.write())
    }

    /// Takes the write lock if it is free.
    pub fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.inner.try_write()
    }

    /// Blocks the thread until the write lock is taken: not on a worker.
    pub fn write_blocking(&self) -> RwLockWriteGuard<'_, T> {
        self.inner.write_blocking()
    }

    /// The value, through exclusive access (no locking needed).
    pub fn get_mut(&mut self) -> &mut T {
        self.inner.get_mut()
    }
}

impl<T> From<T> for RwLock<T> {
    fn from(value: T) -> Self {
        Self::new(value)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}
