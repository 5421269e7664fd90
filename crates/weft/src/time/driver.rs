//! The per-worker timer driver: a [`TimerWheel`] of wakers behind a lock that only its own
//! worker takes on the hot path, plus the clock that maps `Instant`s to wheel milliseconds.
//!
//! Each worker owns one driver and is the only one to advance it (from its loop every 61 ticks
//! and around parking), so the lock is uncontended except when a timer registered on one
//! worker is cancelled or re-polled on another, or registered from a thread outside the
//! workers. Those paths lock just that worker's wheel: there is no global timer lock.
//!
//! When its executor shuts down, a driver is closed: its pending timers fire at once (their
//! owners poll again) and it refuses new ones, so `Sleep` moves them to the global runtime's
//! wheels and a timer outliving its executor still fires.
//!
//! A worker about to park records, under the lock, the wheel time it will wake at by itself
//! (`parked_until`); a thread that registers an earlier timer on that wheel unparks it.

use super::wheel::TimerWheel;
use crate::loom::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::Mutex;
use std::task::Waker;
use std::time::{Duration, Instant};

/// Maps instants to nanoseconds since the executor started (the wheel's time).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
        }
    }

    /// The current wheel time: timers due by then have truly expired.
    pub(crate) fn now(&self) -> u64 {
        nanos(self.start.elapsed())
    }

    /// The wheel time of `deadline`.
    pub(crate) fn deadline(&self, deadline: Instant) -> u64 {
        nanos(deadline.saturating_duration_since(self.start))
    }

    /// The instant of wheel time `t`.
    pub(crate) fn instant_of(&self, t: u64) -> Instant {
        self.start + Duration::from_nanos(t)
    }
}

/// Nanoseconds in `d`, saturating (u64 nanoseconds last 584 years).
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// `parked_until` value of a worker that is running (it will look at its timers soon).
const RUNNING: u64 = 0;

#[derive(Debug)]
pub(crate) struct TimerDriver {
    wheel: Mutex<TimerWheel<Waker>>,
    parked_until: AtomicU64,
    /// A lower bound of the wheel's next expiration (`u64::MAX` if none), readable without the
    /// lock. Kept in O(1): a registration lowers it to its deadline if earlier, a cancel leaves
    /// it (which can only make it early), and advancing or parking sets it exactly. Finding
    /// the exact value scans the earliest millisecond's timers, so doing it on every cancel
    /// made cancelling many timers of one millisecond quadratic. An early bound costs at most
    /// one advance that fires nothing.
    next: AtomicU64,
    /// Set (under the lock) once the executor has shut down: the wheel takes no more timers.
    closed: AtomicBool,
}

impl Default for TimerDriver {
    fn default() -> Self {
        Self::new()
    }
}

impl TimerDriver {
    pub(crate) fn new() -> Self {
        Self {
            wheel: Mutex::new(TimerWheel::new()),
            parked_until: AtomicU64::new(RUNNING),
            next: AtomicU64::new(u64::MAX),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> crate::loom::sync::MutexGuard<'_, TimerWheel<Waker>> {
        self.wheel.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish_next(&self, wheel: &TimerWheel<Waker>) {
        self.next.store(
            wheel.next_expiration().unwrap_or(u64::MAX),
            Ordering::Release,
        );
    }

    /// Registers a timer at wheel time `when`. Returns its key, and whether the owning worker
    /// is parked past `when` and must be unparked; or gives the waker back if the driver is
    /// closed.
    pub(crate) fn register(&self, when: u64, waker: Waker) -> Result<(usize, bool), Waker> {
        let mut wheel = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Err(waker);
        }
        let key = wheel.insert(when, waker);
        if when < self.next.load(Ordering::Relaxed) {
            self.next.store(when, Ordering::Release);
        }
        let parked_until = self.parked_until.load(Ordering::Acquire);
        Ok((key, parked_until != RUNNING && when < parked_until))
    }

    /// Replaces the waker of a pending timer if it would not wake the same task. False if the
    /// driver is closed: the timer will never fire here.
    pub(crate) fn update_waker(&self, key: usize, waker: &Waker) -> bool {
        let mut wheel = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(w) = wheel.get_mut(key) {
            if !w.will_wake(waker) {
                w.clone_from(waker);
            }
        }
        true
    }

    /// Closes the driver (its executor shut down): hands every pending timer's waker to
    /// `fired` and refuses timers from now on.
    pub(crate) fn close(&self, fired: &mut Vec<Waker>) {
        let mut wheel = self.lock();
        self.closed.store(true, Ordering::Relaxed);
        wheel.fire_all(|w| fired.push(w));
        self.publish_next(&wheel);
    }

    /// Removes a timer, fired or not, in O(1): the published next expiration stays as it is
    /// (a lower bound still).
    pub(crate) fn cancel(&self, key: usize) {
        let removed = self.lock().remove(key);
        // Drop the waker outside the lock: dropping a task's last waker may free the task.
        drop(removed);
    }

    /// True if the earliest timer may be due at wheel time `now`, without taking the lock.
    pub(crate) fn is_due(&self, now: u64) -> bool {
        self.next.load(Ordering::Acquire) <= now
    }

    /// Fires every timer due at `now`, pushing their wakers to `fired` (the caller wakes them
    /// after this returns, outside the lock).
    pub(crate) fn advance(&self, now: u64, fired: &mut Vec<Waker>) {
        let mut wheel = self.lock();
        wheel.advance(now, |w| fired.push(w));
        self.publish_next(&wheel);
    }

    /// Called by the owning worker before it parks: records and returns the wheel time of the
    /// next timer, which bounds the park.
    pub(crate) fn prepare_park(&self) -> Option<u64> {
        let wheel = self.lock();
        let next = wheel.next_expiration();
        // Exact again, after any cancels.
        self.next.store(next.unwrap_or(u64::MAX), Ordering::Release);
        self.parked_until
            .store(next.unwrap_or(u64::MAX), Ordering::Release);
        next
    }

    /// Called by the owning worker after it wakes.
    pub(crate) fn unparked(&self) {
        self.parked_until.store(RUNNING, Ordering::Release);
    }

    /// Number of timers held (fired or not), for the loom models.
    #[cfg(all(test, weft_loom))]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(all(test, weft_loom))]
mod loom_tests {
    //! A timer registered by one worker, fired by its owner while another worker cancels it
    //! (the task moved and its `Sleep` was dropped there): the waker is handed out at most
    //! once, never after a completed cancel, and the entry is freed exactly once.
    use super::*;
    use crate::loom::sync::atomic::{AtomicUsize, Ordering::SeqCst};
    use crate::loom::sync::Arc;
    use loom::thread;
    use std::task::Wake;

    struct CountWake(AtomicUsize);

    impl Wake for CountWake {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn loom_cancel_from_another_worker_races_fire() {
        loom::model(|| {
            let driver = Arc::new(TimerDriver::new());
            let count = std::sync::Arc::new(CountWake(AtomicUsize::new(0)));
            let (key, _) = driver.register(5, Waker::from(count.clone())).unwrap();
            let cancelled = Arc::new(loom::sync::atomic::AtomicBool::new(false));

            let canceller = {
                let driver = driver.clone();
                let cancelled = cancelled.clone();
                thread::spawn(move || {
                    driver.cancel(key);
                    cancelled.store(true, SeqCst);
                })
            };
            let cancelled_before_fire = cancelled.load(SeqCst);
            let mut fired = Vec::new();
            driver.advance(5, &mut fired);
            let n = fired.len();
            for w in fired {
                w.wake();
            }
            canceller.join().unwrap();
            assert!(n <= 1);
            if cancelled_before_fire {
                assert_eq!(n, 0, "a completed cancel means the timer never fires");
            }
            assert_eq!(count.0.load(SeqCst), n);
            assert_eq!(driver.len(), 0, "entry freed exactly once");
        });
    }

    #[test]
    fn loom_remote_register_unparks_owner() {
        loom::model(|| {
            let driver = Arc::new(TimerDriver::new());
            let owner_deadline = Arc::new(AtomicU64::new(0));
            let d2 = driver.clone();
            let od = owner_deadline.clone();
            // The owner prepares to park with no timers: it would sleep forever.
            let owner = thread::spawn(move || {
                let next = d2.prepare_park();
                od.store(next.unwrap_or(u64::MAX), SeqCst);
            });
            let count = std::sync::Arc::new(CountWake(AtomicUsize::new(0)));
            let (_key, must_unpark) = driver.register(10, Waker::from(count)).unwrap();
            owner.join().unwrap();
            // Either the owner saw the timer when it prepared to park, or the registrant was
            // told to unpark it.
            assert!(owner_deadline.load(SeqCst) == 10 || must_unpark);
        });
    }
}
