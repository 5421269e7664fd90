//! `interval`: periodic ticks.

#![forbid(unsafe_code)]

use super::sleep::{far_future, sleep_until, Sleep};
use super::Instant;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

/// What an [`Interval`] does when ticks were missed (the task was busy past one or more
/// periods). The names and meanings are tokio's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MissedTickBehavior {
    /// Fire the missed ticks back to back until caught up, keeping the original schedule.
    #[default]
    Burst,
    /// Fire once now, then every period from now (the schedule shifts).
    Delay,
    /// Fire once now, then at the next tick of the original schedule (missed ones are skipped).
    Skip,
}

/// Ticks every `period`; the first tick completes at once. A period too long for an
/// `Instant` (such as `Duration::MAX`) makes every later tick wait forever, in practice.
///
/// # Panics
///
/// Panics if `period` is zero.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
/// # weft::block_on(async {
/// let start = Instant::now();
/// let mut every = weft::time::interval(Duration::from_millis(10));
/// for _ in 0..3 {
///     every.tick().await; // at 0, 10 and 20 ms
/// }
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
pub fn interval(period: Duration) -> Interval {
    interval_at(Instant::now(), period)
}

/// Ticks every `period`, the first tick at `start` (a [`weft::time::Instant`](Instant) or a
/// `std::time::Instant`).
///
/// # Panics
///
/// Panics if `period` is zero.
pub fn interval_at(start: impl Into<Instant>, period: Duration) -> Interval {
    assert!(
        !period.is_zero(),
        "weft::time::interval: the period must be non-zero"
    );
    Interval {
        sleep: sleep_until(start.into()),
        period,
        missed: MissedTickBehavior::default(),
    }
}

/// Periodic ticks; see [`interval`].
#[derive(Debug)]
pub struct Interval {
    sleep: Sleep,
    period: Duration,
    missed: MissedTickBehavior,
}

impl Interval {
    /// Waits for the next tick and returns the instant it was scheduled for.
    ///
    /// Cancel-safe: dropping the returned future before it completes loses no tick.
    pub async fn tick(&mut self) -> Instant {
        poll_fn(|cx| self.poll_tick(cx)).await
    }

    /// Polls for the next tick.
    pub fn poll_tick(&mut self, cx: &mut Context<'_>) -> Poll<Instant> {
        ready!(Pin::new(&mut self.sleep).poll(cx));
        let scheduled = self.sleep.deadline();
        let now = Instant::now();
        let next = later(scheduled, self.period);
        let next = if next > now {
            next
        } else {
            match self.missed {
                MissedTickBehavior::Burst => next,
                MissedTickBehavior::Delay => later(now, self.period),
                MissedTickBehavior::Skip => {
                    // The first tick of the original schedule that is still ahead.
                    let period = self.period.as_nanos();
                    let behind = now.duration_since(scheduled).as_nanos();
                    let ahead = (behind / period + 1).saturating_mul(period);
                    later(scheduled, duration_from_nanos(ahead))
                }
            }
        };
        self.sleep.reset(next);
        Poll::Ready(scheduled)
    }

    /// Sets what happens after missed ticks.
    pub fn set_missed_tick_behavior(&mut self, behavior: MissedTickBehavior) {
        self.missed = behavior;
    }

    /// The current missed-tick behaviour.
    pub fn missed_tick_behavior(&self) -> MissedTickBehavior {
        self.missed
    }

    /// The period.
    pub fn period(&self) -> Duration {
        self.period
    }

    /// Restarts the schedule: the next tick is one period from now.
    pub fn reset(&mut self) {
        self.sleep.reset(later(Instant::now(), self.period));
    }
}

/// `d` after `t`; a tick too far ahead for an `Instant` (a period near `Duration::MAX`) is
/// taken as never, as `sleep` does.
fn later(t: Instant, d: Duration) -> Instant {
    t.checked_add(d).unwrap_or_else(far_future)
}

/// A `Duration` of `nanos`, saturating at `Duration::MAX`.
fn duration_from_nanos(nanos: u128) -> Duration {
    const PER_SEC: u128 = 1_000_000_000;
    match u64::try_from(nanos / PER_SEC) {
        // The remainder is below a second, so it fits in a u32.
        Ok(secs) => Duration::new(secs, (nanos % PER_SEC) as u32),
        Err(_) => Duration::MAX,
    }
}
