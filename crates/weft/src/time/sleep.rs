//! `sleep`, `sleep_until` and the `Sleep` future.

#![forbid(unsafe_code)]

use super::Instant;
use crate::runtime::scheduler::coop;
use crate::runtime::shared::Shared;
use crate::runtime::{context, global};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll, Waker};
use std::time::Duration;

/// Waits until `duration` has passed.
///
/// The deadline is taken when `sleep` is called, from the executor's clock, which a test may
/// [pause](crate::time::pause). Cancel-safe: dropping the future cancels the
/// timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
/// # weft::block_on(async {
/// let start = Instant::now();
/// weft::sleep(Duration::from_millis(20)).await;
/// assert!(start.elapsed() >= Duration::from_millis(20));
/// # });
/// ```
pub fn sleep(duration: Duration) -> Sleep {
    let now = Instant::now();
    sleep_until(now.checked_add(duration).unwrap_or_else(far_future))
}

/// Waits until `deadline`, a [`weft::time::Instant`](Instant) or a `std::time::Instant` (the
/// same point in time: see [`Instant`] for what that means on a paused clock).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weft::time::Instant;
/// # weft::block_on(async {
/// let deadline = Instant::now() + Duration::from_millis(5);
/// weft::sleep_until(deadline).await;
/// assert!(Instant::now() >= deadline);
/// # });
/// ```
pub fn sleep_until(deadline: impl Into<Instant>) -> Sleep {
    Sleep {
        deadline: deadline.into(),
        entry: None,
    }
}

/// About thirty years from now: what an overflowing deadline means.
pub(crate) fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400 * 365 * 30)
}

/// A future that completes at a deadline. Created by [`sleep`] and [`sleep_until`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: Instant,
    entry: Option<TimerEntry>,
}

/// A timer registered on one worker's wheel.
#[derive(Debug)]
struct TimerEntry {
    shared: Arc<Shared>,
    wheel: u32,
    key: u32,
}

impl Drop for TimerEntry {
    fn drop(&mut self) {
        self.shared.timers[self.wheel as usize].cancel(self.key as usize);
    }
}

static NEXT_REMOTE_WHEEL: AtomicUsize = AtomicUsize::new(0);

impl TimerEntry {
    /// Registers a timer for `deadline` on the wheel of the current worker or, off the workers,
    /// on a worker of the executor this thread is inside (else the global runtime). An
    /// executor that has shut down takes no timers: they go to the global runtime, which
    /// never shuts down.
    fn register(deadline: Instant, waker: Waker) -> TimerEntry {
        let local = context::with_worker(|w| w.map(|w| (w.shared().clone(), w.index)));
        let (shared, wheel) = match local {
            Some((shared, index)) => (shared, Some(index)),
            None => (
                context::current().unwrap_or_else(|| global().shared().clone()),
                None,
            ),
        };
        match Self::register_on(shared, wheel, deadline, waker) {
            Ok(entry) => entry,
            Err(waker) => Self::register_on(global().shared().clone(), None, deadline, waker)
                .unwrap_or_else(|_| unreachable!("the global runtime never shuts down")),
        }
    }

    /// Registers on wheel `wheel` of `shared` (the caller's own), or on one picked round-robin
    /// from outside the workers; gives the waker back if the executor has shut down.
    fn register_on(
        shared: Arc<Shared>,
        wheel: Option<usize>,
        deadline: Instant,
        waker: Waker,
    ) -> Result<TimerEntry, Waker> {
        let wheel = wheel.unwrap_or_else(|| {
            NEXT_REMOTE_WHEEL.fetch_add(1, Ordering::Relaxed) % shared.timers.len()
        });
        let when = shared.clock.deadline(deadline.into_std());
        let (key, unpark) = shared.timers.register(wheel, when, waker)?;
        if let Some(worker) = unpark {
            shared.unpark(worker);
        }
        Ok(TimerEntry {
            shared,
            wheel: wheel as u32,
            key: key as u32,
        })
    }

    /// Points the timer at `waker`; false if its executor has shut down (the timer is dead).
    fn update_waker(&self, waker: &Waker) -> bool {
        self.shared.timers[self.wheel as usize].update_waker(self.key as usize, waker)
    }
}

impl Sleep {
    /// The instant this sleep completes at.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// True once the deadline has passed.
    pub fn is_elapsed(&self) -> bool {
        Instant::now() >= self.deadline
    }

    /// Moves the deadline (earlier or later); the sleep can be awaited again afterwards.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use weft::time::Instant;
    /// # weft::block_on(async {
    /// let mut s = weft::sleep(Duration::from_secs(3600));
    /// s.reset(Instant::now() + Duration::from_millis(5));
    /// (&mut s).await;
    /// # });
    /// ```
    pub fn reset(&mut self, deadline: impl Into<Instant>) {
        self.deadline = deadline.into();
        // Re-registered at the next poll, with the new deadline.
        self.entry = None;
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let coop = ready!(coop::poll_proceed(cx));
        if Instant::now() >= this.deadline {
            this.entry = None;
            coop.made_progress();
            return Poll::Ready(());
        }
        match &this.entry {
            Some(e) if e.update_waker(cx.waker()) => {}
            // Not registered yet, or on an executor that has shut down since.
            _ => {
                this.entry = None;
                let entry = TimerEntry::register(this.deadline, cx.waker().clone());
                // A paused clock may have been advanced past the deadline between the check
                // above and the registration, with the wheels fired before it got there.
                if entry.shared.clock.touched() && Instant::now() >= this.deadline {
                    drop(entry);
                    coop.made_progress();
                    return Poll::Ready(());
                }
                this.entry = Some(entry);
            }
        }
        Poll::Pending
    }
}
