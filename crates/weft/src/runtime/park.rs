//! Parking a thread until another thread wakes it, with an optional deadline.
//!
//! One `Parker` per worker (and one per `block_on` call). The state word makes an `unpark`
//! that comes before the `park` a no-op for the parker (it returns at once), and keeps the
//! mutex off the path when the parker is not asleep. When the I/O driver lands, a worker parks
//! in the driver instead; the interface (park with a deadline, unpark from any thread) stays.

#![forbid(unsafe_code)]

use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use crate::loom::sync::{Condvar, Mutex};
use std::task::Wake;
use std::time::Duration;

const EMPTY: usize = 0;
const PARKED: usize = 1;
const UNPARK_PENDING: usize = 2;

#[derive(Debug)]
pub(crate) struct Parker {
    state: AtomicUsize,
    lock: Mutex<()>,
    cvar: Condvar,
}

impl Parker {
    pub(crate) fn new() -> Self {
        Self {
            state: AtomicUsize::new(EMPTY),
            lock: Mutex::new(()),
            cvar: Condvar::new(),
        }
    }

    /// Blocks until [`Parker::unpark`] is called or `timeout` passes (spurious returns are
    /// possible; callers re-check their condition).
    pub(crate) fn park(&self, timeout: Option<Duration>) {
        if self
            .state
            .compare_exchange(UNPARK_PENDING, EMPTY, SeqCst, SeqCst)
            .is_ok()
        {
            return;
        }
        let mut guard = self.lock.lock().unwrap_or_else(|e| e.into_inner());
        match self.state.compare_exchange(EMPTY, PARKED, SeqCst, SeqCst) {
            Ok(_) => {}
            Err(_) => {
                // Notified between the first check and taking the lock.
                self.state.store(EMPTY, SeqCst);
                return;
            }
        }
        let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
        loop {
            guard = match deadline {
                None => self.cvar.wait(guard).unwrap_or_else(|e| e.into_inner()),
                Some(deadline) => {
                    // After a spurious wake-up, wait only for what is left.
                    let left = deadline.saturating_duration_since(std::time::Instant::now());
                    let (g, res) = self
                        .cvar
                        .wait_timeout(guard, left)
                        .unwrap_or_else(|e| e.into_inner());
                    if res.timed_out() || left.is_zero() {
                        self.state.store(EMPTY, SeqCst);
                        return;
                    }
                    g
                }
            };
            if self
                .state
                .compare_exchange(UNPARK_PENDING, EMPTY, SeqCst, SeqCst)
                .is_ok()
            {
                return;
            }
        }
    }

    /// Wakes the parked thread, or makes its next `park` return at once.
    pub(crate) fn unpark(&self) {
        match self.state.swap(UNPARK_PENDING, SeqCst) {
            EMPTY | UNPARK_PENDING => {}
            _ => {
                // Take the lock so the parker is either before its wait (and will see UNPARK_PENDING)
                // or inside it (and gets the signal).
                drop(self.lock.lock().unwrap_or_else(|e| e.into_inner()));
                self.cvar.notify_one();
            }
        }
    }
}

impl Wake for Parker {
    fn wake(self: std::sync::Arc<Self>) {
        self.unpark();
    }

    fn wake_by_ref(self: &std::sync::Arc<Self>) {
        self.unpark();
    }
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn unpark_before_park_returns_at_once() {
        let p = Parker::new();
        p.unpark();
        p.park(None);
    }

    #[test]
    fn timeout_expires() {
        let p = Parker::new();
        let start = Instant::now();
        p.park(Some(Duration::from_millis(20)));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn unpark_from_another_thread() {
        let p = Arc::new(Parker::new());
        let p2 = p.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(10));
            p2.unpark();
        });
        p.park(None);
        t.join().unwrap();
    }
}
