//! An executor's clock, which tests can pause, advance and resume.
//!
//! Wheel time is nanoseconds since the executor started. Until the clock is first paused it is
//! the real time elapsed since then, read with one relaxed load of [`Clock::touched`] and
//! `Instant::elapsed` (no lock): the hot paths (`Clock::now`, timer registration) pay nothing
//! more for the feature. Once paused, the clock's state sits behind a mutex: paused, the time
//! stands still at `base` and moves only when advanced; resumed, it runs on from `base` at the
//! real pace (`base + real - anchor`), so it never goes back.
//!
//! Instants are points on the std timeline: the instant of wheel time `t` is `start + t`, so
//! an unpaused clock's `now` is `std::time::Instant::now()`, and a `std::time::Instant` is the
//! same point for every executor. A paused clock falls behind the real time (and runs ahead of
//! it once advanced past it).
//!
//! Auto-advance (see `Shared::try_auto_advance`): while the clock is paused and nothing in the
//! executor can run, the clock jumps to the next timer deadline. What "nothing can run" means
//! is counted here: the threads driving a `block_on` of this executor that are not parked
//! (`outside_busy`) and the blocking jobs queued or running (`blocking_active`).

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::task::Waker;
use std::time::{Duration, Instant};

/// Set once any clock in the process was paused: until then `weft::time::Instant::now()` is
/// `std::time::Instant::now()` without looking up the executor.
static ANY_TOUCHED: AtomicBool = AtomicBool::new(false);

/// True once some executor's clock was paused.
pub(crate) fn any_touched() -> bool {
    ANY_TOUCHED.load(Ordering::Relaxed)
}

#[derive(Debug, Clone, Copy)]
struct ClockState {
    paused: bool,
    /// Wheel time at `anchor`.
    base: u64,
    /// Real time (ns since `start`) when `base` was set.
    anchor: u64,
}

/// An executor's clock.
#[derive(Debug)]
pub(crate) struct Clock {
    start: Instant,
    /// False until the clock is first paused: then its time is the real one.
    touched: AtomicBool,
    state: Mutex<ClockState>,
    /// Threads inside this executor's `block_on` that are not parked.
    pub(crate) outside_busy: AtomicUsize,
    /// Blocking jobs queued or running.
    pub(crate) blocking_active: AtomicUsize,
    /// Serialises the jumps of auto-advance and the steps of `advance`.
    pub(crate) advance_lock: Mutex<()>,
    /// Futures of `advance` waiting for the executor to have nothing left to run.
    pub(crate) settle_waiters: Mutex<Vec<Waker>>,
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            touched: AtomicBool::new(false),
            state: Mutex::new(ClockState {
                paused: false,
                base: 0,
                anchor: 0,
            }),
            outside_busy: AtomicUsize::new(0),
            blocking_active: AtomicUsize::new(0),
            advance_lock: Mutex::new(()),
            settle_waiters: Mutex::new(Vec::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ClockState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Nanoseconds since the clock started, by the real clock, paused or not (for the
    /// scheduler's own timing, which a paused test clock must not stop).
    pub(crate) fn real(&self) -> u64 {
        nanos(self.start.elapsed())
    }

    /// True once the clock was paused (it may have been resumed since). One relaxed load.
    #[inline]
    pub(crate) fn touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    /// The current wheel time: timers due by then have truly expired.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        if !self.touched() {
            return self.real();
        }
        self.now_slow()
    }

    #[cold]
    fn now_slow(&self) -> u64 {
        let s = self.lock();
        if s.paused {
            s.base
        } else {
            s.base.saturating_add(self.real().saturating_sub(s.anchor))
        }
    }

    /// The current time as an instant.
    pub(crate) fn now_instant(&self) -> Instant {
        if !self.touched() {
            return Instant::now();
        }
        self.instant_of(self.now_slow())
    }

    /// The wheel time of `deadline`.
    pub(crate) fn deadline(&self, deadline: Instant) -> u64 {
        nanos(deadline.saturating_duration_since(self.start))
    }

    /// The instant of wheel time `t`.
    pub(crate) fn instant_of(&self, t: u64) -> Instant {
        self.start + Duration::from_nanos(t)
    }

    /// True while the clock is paused.
    pub(crate) fn is_paused(&self) -> bool {
        self.touched() && self.lock().paused
    }

    /// Stops the clock at the current time. False if it was paused already.
    pub(crate) fn pause(&self) -> bool {
        let mut s = self.lock();
        if s.paused {
            return false;
        }
        let now = if self.touched() {
            s.base.saturating_add(self.real().saturating_sub(s.anchor))
        } else {
            self.real()
        };
        *s = ClockState {
            paused: true,
            base: now,
            anchor: 0,
        };
        self.touched.store(true, Ordering::Release);
        ANY_TOUCHED.store(true, Ordering::Release);
        true
    }

    /// Lets the clock run again from where it stands. False if it was not paused.
    pub(crate) fn resume(&self) -> bool {
        let mut s = self.lock();
        if !s.paused {
            return false;
        }
        s.paused = false;
        s.anchor = self.real();
        true
    }

    /// Moves a paused clock forward to wheel time `t` (never back). False if not paused.
    pub(crate) fn advance_to(&self, t: u64) -> bool {
        let mut s = self.lock();
        if !s.paused {
            return false;
        }
        s.base = s.base.max(t);
        true
    }
}

/// Nanoseconds in `d`, saturating (u64 nanoseconds last 584 years).
pub(crate) fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

#[cfg(all(test, not(weft_loom)))]
mod tests {
    use super::*;

    #[test]
    fn paused_clock_stands_still_and_resumes_from_there() {
        let c = Clock::new();
        assert!(!c.touched());
        assert!(c.pause());
        let t = c.now();
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.now(), t, "paused: time stands still");
        assert!(c.advance_to(t + 3_600_000_000_000));
        assert_eq!(c.now(), t + 3_600_000_000_000);
        assert!(
            !c.advance_to(0) || c.now() == t + 3_600_000_000_000,
            "never back"
        );
        assert!(c.resume());
        std::thread::sleep(Duration::from_millis(2));
        let after = c.now();
        assert!(after >= t + 3_600_000_000_000 + 2_000_000);
        assert!(
            after < t + 3_601_000_000_000,
            "resumed from the paused time"
        );
        assert!(!c.advance_to(u64::MAX), "advancing needs a paused clock");
    }
}

use super::shared::Shared;
use std::sync::atomic::fence;

impl Shared {
    /// True if nothing in this executor can run: every worker parked, no `block_on` thread of
    /// it running, no blocking job queued or running, and no task queued anywhere. Read twice
    /// around the queues, so a task moving from a queue to a worker that unparks is seen in
    /// one place or the other.
    fn quiescent(&self) -> bool {
        let c = &self.clock;
        let nobody_runs = || {
            self.idle.all_parked()
                && c.outside_busy.load(Ordering::SeqCst) == 0
                && c.blocking_active.load(Ordering::SeqCst) == 0
        };
        fence(Ordering::SeqCst);
        nobody_runs()
            && !self.has_visible_work()
            && self
                .lifos
                .iter()
                .all(|l| l.slot.is_empty() && l.deferred().is_empty())
            && nobody_runs()
    }

    /// The earliest exact deadline of every wheel (`u64::MAX` if none).
    fn next_deadline(&self) -> u64 {
        self.timers
            .iter()
            .map(|d| d.refresh_next())
            .min()
            .unwrap_or(u64::MAX)
    }

    /// Fires what is due at the clock's time on every wheel and wakes it, from this thread.
    /// Returns how many fired.
    fn fire_all_due(&self) -> usize {
        let now = self.clock.now();
        let mut fired = Vec::new();
        for d in self.timers.iter() {
            d.advance(now, &mut fired);
        }
        let n = fired.len();
        for w in fired {
            w.wake();
        }
        n
    }

    fn lock_advance(&self) -> MutexGuard<'_, ()> {
        self.clock
            .advance_lock
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Called by a thread of this executor about to go idle (a parking worker, a parking
    /// `block_on` thread, a blocking thread that finished the last job): if the clock is
    /// paused and nothing can run, wakes the `advance` calls waiting for that, or else moves
    /// the clock to the next timer deadline and fires it. Returns true if it woke something.
    pub(crate) fn try_auto_advance(&self) -> bool {
        if !self.clock.touched() || self.is_shutdown() {
            return false;
        }
        let _advancing = self.lock_advance();
        if !self.clock.is_paused() || !self.quiescent() {
            return false;
        }
        let waiters = std::mem::take(
            &mut *self
                .clock
                .settle_waiters
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if !waiters.is_empty() {
            for w in waiters {
                w.wake();
            }
            return true;
        }
        // The wheels' next expiration is exact for the timers of the coming millisecond and a
        // slot's start for later ones (they cascade down as it comes): step until some fire.
        loop {
            let next = self.next_deadline();
            if next == u64::MAX {
                return false;
            }
            self.clock.advance_to(next);
            if self.fire_all_due() > 0 {
                return true;
            }
        }
    }

    /// One step of `advance` towards wheel time `target`: moves a paused clock to the next
    /// deadline if it is at most `target` and fires what is due then (true), or else to
    /// `target` (false).
    pub(crate) fn advance_step(&self, target: u64) -> bool {
        let _advancing = self.lock_advance();
        loop {
            let next = self.next_deadline();
            if next > target {
                self.clock.advance_to(target);
                return false;
            }
            self.clock.advance_to(next);
            if self.fire_all_due() > 0 {
                return true;
            }
        }
    }

    /// Registers `waker` to be woken once nothing in the executor can run.
    pub(crate) fn wait_settled(&self, waker: &Waker) {
        self.clock
            .settle_waiters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(waker.clone());
    }

    /// Pauses the clock. False if it was paused already.
    pub(crate) fn pause_clock(&self) -> bool {
        self.clock.pause()
    }

    /// Resumes the clock and wakes every worker, so each parks again with a real timeout.
    pub(crate) fn resume_clock(&self) -> bool {
        let resumed = self.clock.resume();
        if resumed {
            for worker in 0..self.num_workers() {
                self.unpark(worker);
            }
        }
        resumed
    }

    /// Counts a blocking job in (before it is queued).
    pub(crate) fn blocking_started(&self) {
        self.clock.blocking_active.fetch_add(1, Ordering::SeqCst);
    }

    /// Counts a blocking job out once it ran (and woke whoever awaits it); the last one out
    /// lets a paused clock move on.
    pub(crate) fn blocking_finished(&self) {
        if self.clock.blocking_active.fetch_sub(1, Ordering::SeqCst) == 1 && self.clock.touched() {
            self.try_auto_advance();
        }
    }
}
