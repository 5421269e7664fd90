//! The per-worker timer driver: a [`TimerWheel`] of wakers behind a lock that only its own
//! worker takes on the hot path (the clock that maps `Instant`s to wheel time is in
//! `runtime/clock.rs`).
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
//! A worker busy in one long poll (or blocked in it) cannot serve its wheel, so the wheels are
//! not only their owners': a parking worker sleeps until the earliest deadline of *every*
//! wheel ([`Timers::prepare_park`]), and on waking fires whatever is due on any of them,
//! taking other workers' wheels only with `try_lock` and once their timers are
//! [`FOREIGN_GRACE`] overdue, so that it does not race a healthy owner ([`Timers::fire_due`]). A parking worker
//! records the wheel time it will wake at (`parked_until`); a registration that makes a wheel's
//! next expiration earlier checks that some parked worker wakes by then, and otherwise has one
//! unparked to look again. Both sides publish, fence and then read, so either the parking
//! worker sees the new timer or the registrant sees the parked worker.

#![forbid(unsafe_code)]

mod wheel;

use crate::loom::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use crate::loom::sync::Mutex;
use std::task::Waker;
use wheel::TimerWheel;

/// How overdue (ns) a timer on another worker's wheel must be before a worker fires it: its
/// owner normally gets there first, and two workers advancing one wheel would fight over its
/// lock and cache lines. So a worker stuck in one poll delays its timers by at most this.
pub(crate) const FOREIGN_GRACE: u64 = 1_000_000;

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

    /// Registers a timer at wheel time `when`. Returns its key, and whether it made the wheel's
    /// next expiration earlier; or gives the waker back if the driver is closed.
    fn register(&self, when: u64, waker: Waker) -> Result<(usize, bool), Waker> {
        let mut wheel = self.lock();
        if self.closed.load(Ordering::Relaxed) {
            return Err(waker);
        }
        let key = wheel.insert(when, waker);
        let earlier = when < self.next.load(Ordering::Relaxed);
        if earlier {
            self.next.store(when, Ordering::SeqCst);
        }
        Ok((key, earlier))
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

    /// `advance`, unless another thread holds the wheel (its owner, which is serving it).
    fn try_advance(&self, now: u64, fired: &mut Vec<Waker>) {
        if let Ok(mut wheel) = self.wheel.try_lock() {
            wheel.advance(now, |w| fired.push(w));
            self.publish_next(&wheel);
        }
    }

    /// The exact next expiration (`u64::MAX` if none), published again.
    pub(crate) fn refresh_next(&self) -> u64 {
        let wheel = self.lock();
        let next = wheel.next_expiration().unwrap_or(u64::MAX);
        self.next.store(next, Ordering::SeqCst);
        next
    }

    /// Number of timers held (fired or not), for the loom models.
    /// Timers registered here that have not fired yet.
    pub(crate) fn armed(&self) -> usize {
        self.lock().armed()
    }

    #[cfg(all(test, weft_loom))]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

/// The timer drivers of an executor's workers, one per worker, indexed like them.
#[derive(Debug)]
pub(crate) struct Timers {
    drivers: Box<[TimerDriver]>,
}

impl std::ops::Deref for Timers {
    type Target = [TimerDriver];

    fn deref(&self) -> &[TimerDriver] {
        &self.drivers
    }
}

impl Timers {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            drivers: (0..workers).map(|_| TimerDriver::new()).collect(),
        }
    }

    /// Registers a timer at wheel time `when` on wheel `wheel`. Returns its key and, if no
    /// parked worker wakes by `when` though some are parked, one of them to unpark (it then
    /// parks again with the new timer in view); or gives the waker back if the drivers are
    /// closed.
    pub(crate) fn register(
        &self,
        wheel: usize,
        when: u64,
        waker: Waker,
    ) -> Result<(usize, Option<usize>), Waker> {
        let (key, earlier) = self.drivers[wheel].register(when, waker)?;
        if !earlier {
            // Whoever covered the previous next expiration covers this timer too.
            return Ok((key, None));
        }
        // Pairs with the fence in `prepare_park`: either that worker sees the new `next`, or
        // we see its `parked_until`.
        fence(Ordering::SeqCst);
        let mut late = None;
        for (worker, d) in self.drivers.iter().enumerate() {
            let needed = if worker == wheel {
                when
            } else {
                when.saturating_add(FOREIGN_GRACE)
            };
            match d.parked_until.load(Ordering::SeqCst) {
                RUNNING => {}
                until if until <= needed => return Ok((key, None)),
                _ => {
                    late.get_or_insert(worker);
                }
            }
        }
        Ok((key, late))
    }

    /// Called by worker `me` before it parks: records and returns the wheel time to wake at,
    /// the earliest next expiration of every wheel (its own made exact first; the others'
    /// [`FOREIGN_GRACE`] later).
    pub(crate) fn prepare_park(&self, me: usize) -> Option<u64> {
        let own = &self.drivers[me];
        // Parking, with no deadline yet: a registrant that sees this unparks us.
        own.parked_until.store(u64::MAX, Ordering::SeqCst);
        fence(Ordering::SeqCst);
        let mut next = own.refresh_next();
        for (i, d) in self.drivers.iter().enumerate() {
            if i != me {
                next = next.min(d.next.load(Ordering::SeqCst).saturating_add(FOREIGN_GRACE));
            }
        }
        own.parked_until.store(next, Ordering::SeqCst);
        (next != u64::MAX).then_some(next)
    }

    /// Called by worker `me` after it wakes.
    pub(crate) fn awake(&self, me: usize) {
        self.drivers[me]
            .parked_until
            .store(RUNNING, Ordering::SeqCst);
    }

    /// Fires what is due at `now` on worker `me`'s wheel, and on the others' wheels if they
    /// hold a timer overdue by [`FOREIGN_GRACE`] and their owner does not hold the lock (it is
    /// serving them). Returns false if nothing was due.
    pub(crate) fn fire_due(&self, me: usize, now: u64, fired: &mut Vec<Waker>) -> bool {
        let mut any = false;
        for (i, d) in self.drivers.iter().enumerate() {
            if i == me {
                if d.is_due(now) {
                    any = true;
                    d.advance(now, fired);
                }
            } else if d.is_due(now.saturating_sub(FOREIGN_GRACE)) {
                any = true;
                d.try_advance(now, fired);
            }
        }
        any
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

    /// Worker `parker` prepares to park with no timers (it would sleep forever) while a timer
    /// is registered on wheel `wheel`: either the parking worker saw the timer, or the
    /// registrant is told to unpark it.
    fn register_races_park(wheel: usize, parker: usize) {
        loom::model(move || {
            let timers = Arc::new(Timers::new(2));
            let deadline = Arc::new(AtomicU64::new(0));
            let t2 = timers.clone();
            let d2 = deadline.clone();
            let parking = thread::spawn(move || {
                let next = t2.prepare_park(parker);
                d2.store(next.unwrap_or(u64::MAX), SeqCst);
            });
            let count = std::sync::Arc::new(CountWake(AtomicUsize::new(0)));
            let (_key, unpark) = timers.register(wheel, 10, Waker::from(count)).unwrap();
            parking.join().unwrap();
            let in_time = if wheel == parker {
                10
            } else {
                10 + FOREIGN_GRACE
            };
            assert!(deadline.load(SeqCst) == in_time || unpark == Some(parker));
        });
    }

    #[test]
    fn loom_remote_register_unparks_owner() {
        register_races_park(0, 0);
    }

    /// The timer goes to the wheel of a worker that is running (busy, perhaps blocked): the
    /// worker that parks must still wake for it.
    #[test]
    fn loom_register_on_a_busy_wheel_unparks_an_idle_worker() {
        register_races_park(1, 0);
    }
}
