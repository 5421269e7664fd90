//! Synchronisation for tasks: locks, semaphores, barriers, events, wait groups, one-shot
//! channels and a rate limiter.
//!
//! [`Mutex`], [`RwLock`], [`Semaphore`] and [`Barrier`] are `async-lock`'s (smol-rs) behind
//! thin wrappers that make every acquire and wait spend the task's cooperative budget, as
//! weft's other futures do (so a loop over an uncontended lock still yields to the other tasks
//! of its worker). async-lock's are well kept, cancel-safe (a dropped `lock()` or `acquire()`
//! future gives up its place, and a wake-up it had received passes to the next waiter, through
//! `event-listener`), and starvation-free (waiters are served in order once a waiter has
//! waited about half a millisecond; before that a new arrival may take the lock first, which
//! is what makes an uncontended lock cheap). [`Semaphore::acquire_arc`] gives owned permits;
//! the guards are async-lock's. The rest is weft's own: [`Event`] and [`WaitGroup`] for
//! shutdown and fan-in, [`oneshot`], and [`RateLimiter`].
//!
//! ```
//! use std::sync::Arc;
//! use weft::sync::Mutex;
//!
//! # weft::block_on(async {
//! let counter = Arc::new(Mutex::new(0));
//! let tasks: Vec<_> = (0..10)
//!     .map(|_| {
//!         let counter = counter.clone();
//!         weft::spawn(async move { *counter.lock().await += 1 })
//!     })
//!     .collect();
//! weft::join(tasks).await;
//! assert_eq!(*counter.lock().await, 10);
//! # });
//! ```

#![forbid(unsafe_code)]

mod budget;
mod event;
mod locks;
pub mod oneshot;
mod rate;
mod semaphore;

pub use async_lock::{
    BarrierWaitResult, MutexGuard, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard,
    SemaphoreGuard, SemaphoreGuardArc,
};
pub use event::{Event, WaitGroup};
pub use locks::{Lock, Mutex, Read, RwLock, UpgradableRead, Write};
pub use rate::RateLimiter;
pub use semaphore::{Acquire, AcquireArc, Barrier, BarrierWait, Semaphore};
