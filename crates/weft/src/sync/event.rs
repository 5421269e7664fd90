//! `Event` (a one-way flag tasks can wait for) and `WaitGroup` (Go's).

#![forbid(unsafe_code)]

use super::budget::Budgeted;
use event_listener::Event as Notifier;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// A flag that starts unset and, once [`set`](Event::set), stays set and releases every
/// waiter: the shutdown signal of the guide's graceful-shutdown pattern.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::Event;
///
/// # weft::block_on(async {
/// let shutdown = Arc::new(Event::new());
/// let worker = {
///     let shutdown = shutdown.clone();
///     weft::spawn(async move {
///         shutdown.wait().await;
///         "stopped"
///     })
/// };
/// shutdown.set();
/// assert_eq!(worker.await, "stopped");
/// assert!(shutdown.is_set());
/// # });
/// ```
#[derive(Default)]
pub struct Event {
    set: AtomicBool,
    notifier: Notifier,
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("set", &self.is_set())
            .finish()
    }
}

impl Event {
    /// An unset event.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the event and wakes every waiter. Setting it again does nothing.
    pub fn set(&self) {
        if !self.set.swap(true, Ordering::SeqCst) {
            self.notifier.notify(usize::MAX);
        }
    }

    /// True once set.
    pub fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Waits until the event is set (at once if it already is), spending one unit of the
    /// task's cooperative budget. Cancel-safe.
    pub async fn wait(&self) {
        Budgeted::new(self.wait_unbudgeted()).await;
    }

    async fn wait_unbudgeted(&self) {
        loop {
            if self.is_set() {
                return;
            }
            let listener = self.notifier.listen();
            // Re-check after registering: a `set` in between has notified the listener.
            if self.is_set() {
                return;
            }
            listener.await;
        }
    }
}

/// Go's `sync.WaitGroup`: [`add`](WaitGroup::add) work, [`done`](WaitGroup::done) as each
/// piece finishes, and [`wait`](WaitGroup::wait) until the count is back to zero: the fan-in
/// pattern's "close the channel when every producer is done".
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use weft::sync::WaitGroup;
///
/// # weft::block_on(async {
/// let wg = Arc::new(WaitGroup::new());
/// for _ in 0..3 {
///     wg.add(1);
///     let wg = wg.clone();
///     weft::spawn(async move {
///         weft::yield_now().await;
///         wg.done();
///     });
/// }
/// wg.wait().await;
/// assert_eq!(wg.count(), 0);
/// # });
/// ```
#[derive(Default)]
pub struct WaitGroup {
    count: AtomicUsize,
    notifier: Notifier,
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGroup")
            .field("count", &self.count())
            .finish()
    }
}

impl WaitGroup {
    /// A wait group with a count of zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `n` to the count.
    ///
    /// # Panics
    ///
    /// Panics if the count would pass `usize::MAX` (it would wrap, and release the waiters
    /// with work outstanding); the count is left as it was.
    pub fn add(&self, n: usize) {
        self.count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_add(n))
            .unwrap_or_else(|_| panic!("WaitGroup::add: the count overflowed usize"));
    }

    /// Subtracts one from the count, waking the waiters when it reaches zero.
    ///
    /// # Panics
    ///
    /// Panics if the count is already zero (more `done` than `add`), as Go's does.
    pub fn done(&self) {
        let prev = self
            .count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| c.checked_sub(1))
            .unwrap_or_else(|_| panic!("WaitGroup::done called more times than add"));
        if prev == 1 {
            self.notifier.notify(usize::MAX);
        }
    }

    /// The current count.
    pub fn count(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until the count is zero (at once if it is), spending one unit of the task's
    /// cooperative budget. Cancel-safe.
    pub async fn wait(&self) {
        Budgeted::new(self.wait_unbudgeted()).await;
    }

    async fn wait_unbudgeted(&self) {
        loop {
            if self.count() == 0 {
                return;
            }
            let listener = self.notifier.listen();
            if self.count() == 0 {
                return;
            }
            listener.await;
        }
    }
}
