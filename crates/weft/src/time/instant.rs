//! `weft::time::Instant`: an instant read from the executor's clock, which tests can pause.

#![forbid(unsafe_code)]

use crate::runtime::clock;
use crate::runtime::shared::Shared;
use crate::runtime::{context, try_global};
use std::ops::{Add, AddAssign, Sub, SubAssign};
use std::sync::Arc;
use std::time::Duration;

/// A point in time, read from the current executor's clock (the global runtime's outside
/// any): `std::time::Instant::now()` unless that clock was [paused](crate::time::pause).
///
/// It is a `std::time::Instant` underneath, on the same timeline, and converts to and from
/// one for free: a std instant is the same point here. While a clock is paused its time falls
/// behind the real time, and runs ahead of it once advanced further, so a deadline computed
/// as `std::time::Instant::now() + d` in a paused test is `d` after the moment of pausing plus
/// the real time spent since, not `d` from the paused now: compute deadlines from
/// `weft::time::Instant::now()` to have them follow the paused clock.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
///
/// # weft::block_on(async {
/// let start = Instant::now();
/// weft::sleep(Duration::from_millis(5)).await;
/// assert!(start.elapsed() >= Duration::from_millis(5));
/// let std: std::time::Instant = start.into();
/// assert_eq!(Instant::from(std), start);
/// # });
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(std::time::Instant);

/// The executor whose clock this thread reads, if it may be paused.
pub(crate) fn clock_owner() -> Option<Arc<Shared>> {
    context::current().or_else(|| try_global().map(|g| g.shared().clone()))
}

impl Instant {
    /// The current time of the current executor's clock.
    #[inline]
    pub fn now() -> Instant {
        if !clock::any_touched() {
            return Instant(std::time::Instant::now());
        }
        Self::now_slow()
    }

    #[cold]
    fn now_slow() -> Instant {
        match clock_owner() {
            Some(shared) => Instant(shared.clock.now_instant()),
            None => Instant(std::time::Instant::now()),
        }
    }

    /// The same point in time as `instant` (no conversion happens).
    pub fn from_std(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }

    /// This instant as a `std::time::Instant`.
    pub fn into_std(self) -> std::time::Instant {
        self.0
    }

    /// The time from `earlier` to this instant; zero if `earlier` is later.
    pub fn duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time from `earlier` to this instant, or `None` if `earlier` is later.
    pub fn checked_duration_since(&self, earlier: Instant) -> Option<Duration> {
        self.0.checked_duration_since(earlier.0)
    }

    /// The time from `earlier` to this instant; zero if `earlier` is later.
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        self.0.saturating_duration_since(earlier.0)
    }

    /// The time passed on the current clock since this instant (zero if it is ahead).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// `self + duration`, or `None` if that overflows.
    pub fn checked_add(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_add(duration).map(Instant)
    }

    /// `self - duration`, or `None` if that underflows.
    pub fn checked_sub(&self, duration: Duration) -> Option<Instant> {
        self.0.checked_sub(duration).map(Instant)
    }
}

impl From<std::time::Instant> for Instant {
    fn from(instant: std::time::Instant) -> Instant {
        Instant(instant)
    }
}

impl From<Instant> for std::time::Instant {
    fn from(instant: Instant) -> std::time::Instant {
        instant.0
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;

    /// # Panics
    ///
    /// Panics on overflow, as `std::time::Instant` does.
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0 + rhs)
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 += rhs;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;

    fn sub(self, rhs: Duration) -> Instant {
        Instant(self.0 - rhs)
    }
}

impl SubAssign<Duration> for Instant {
    fn sub_assign(&mut self, rhs: Duration) {
        self.0 -= rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;

    /// Saturates at zero, as `std::time::Instant` does.
    fn sub(self, rhs: Instant) -> Duration {
        self.0.saturating_duration_since(rhs.0)
    }
}

impl Sub<std::time::Instant> for Instant {
    type Output = Duration;

    fn sub(self, rhs: std::time::Instant) -> Duration {
        self.0.saturating_duration_since(rhs)
    }
}

impl Sub<Instant> for std::time::Instant {
    type Output = Duration;

    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs.0)
    }
}

impl PartialEq<std::time::Instant> for Instant {
    fn eq(&self, other: &std::time::Instant) -> bool {
        self.0 == *other
    }
}

impl PartialEq<Instant> for std::time::Instant {
    fn eq(&self, other: &Instant) -> bool {
        *self == other.0
    }
}

impl PartialOrd<std::time::Instant> for Instant {
    fn partial_cmp(&self, other: &std::time::Instant) -> Option<std::cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

impl PartialOrd<Instant> for std::time::Instant {
    fn partial_cmp(&self, other: &Instant) -> Option<std::cmp::Ordering> {
        self.partial_cmp(&other.0)
    }
}
